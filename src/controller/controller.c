/* controller — setup, the caches and the loop of `slicer controller` (controller.h). */
#include "controller/controller.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "controller/ctl_int.h"
#include "objects/resourceclaim.h"

const struct kube_gvr CTL_GPUNODES = {CTL_GROUP, CTL_VERSION, "gpunodes", false};
const struct kube_gvr CTL_GPUSLICES = {CTL_GROUP, CTL_VERSION, "gpuslices", true};
const struct kube_gvr CTL_RESOURCECLAIMS = {"resource.k8s.io", "v1", "resourceclaims", true};

/* ---- small sets ------------------------------------------------------------------------- */

static struct pending *pend_find(const struct pendset *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].key, key) == 0)
            return &s->v[i];
    return NULL;
}

bool ctl_pend_has(const struct pendset *s, const char *key)
{
    return pend_find(s, key) != NULL;
}

void ctl_pend_add(struct pendset *s, const char *key)
{
    struct pending *p = pend_find(s, key);
    if (p) {
        p->done = false;
        return;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = xreallocarray(s->v, s->cap, sizeof *s->v);
    }
    s->v[s->n++] = (struct pending){xstrdup(key), false};
}

static void pend_remove(struct pendset *s, struct pending *p)
{
    free(p->key);
    *p = s->v[--s->n];
}

void ctl_pend_done(struct pendset *s, const char *key, bool forget)
{
    struct pending *p = pend_find(s, key);
    if (p && forget)
        pend_remove(s, p);
    else if (p)
        p->done = true;
}

void ctl_pend_prune(struct pendset *s, bool (*seen)(struct ctl *, const char *), struct ctl *ctl)
{
    for (size_t i = 0; i < s->n;) {
        if (s->v[i].done && seen(ctl, s->v[i].key))
            pend_remove(s, &s->v[i]);
        else
            i++;
    }
}

void ctl_pend_free(struct pendset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].key);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static void assumed_free(struct assumed *a)
{
    free(a->key);
    free(a->pod_uid);
    free(a->node);
    free(a->gpu_uuid);
    free(a->profile);
    free(a->claim);
}

void ctl_assumed_seen(struct ctl *ctl, const char *key)
{
    for (size_t i = 0; i < ctl->nassumed; i++)
        if (strcmp(ctl->assumed[i].key, key) == 0) {
            assumed_free(&ctl->assumed[i]);
            ctl->assumed[i] = ctl->assumed[--ctl->nassumed];
            return;
        }
}

void ctl_assumed_free_all(struct ctl *ctl)
{
    for (size_t i = 0; i < ctl->nassumed; i++)
        assumed_free(&ctl->assumed[i]);
    free(ctl->assumed);
    ctl->assumed = NULL;
    ctl->nassumed = ctl->cap_assumed = 0;
}

/* ---- state and triggers ------------------------------------------------------------- */

unsigned ctl_ncaches(const struct ctl *ctl)
{
    return ctl->cfg.dra ? 6 : 5;
}

bool ctl_active(const struct ctl *ctl)
{
    if (ctl->cfg.dra && (ctl->ncaches < 6 || !kube_cache_synced(ctl->claims)))
        return false;
    if (ctl->lost || ctl->stopping || ctl->ncaches < 5 || !kube_cache_synced(ctl->pods) ||
        !kube_cache_synced(ctl->bound) || !kube_cache_synced(ctl->nodes) ||
        !kube_cache_synced(ctl->gpunodes) || !kube_cache_synced(ctl->slices))
        return false;
    return !ctl->cfg.leader_elect || kube_lease_is_leader(ctl->lease);
}

static void pass_fired(void *arg)
{
    struct ctl *ctl = arg;
    ctl->pass_timer = NULL;
    ctl_pass(ctl);
}

void ctl_kick(struct ctl *ctl)
{
    if (ctl->pass_timer == NULL)
        ctl->pass_timer = kube_timer_add(ctl->c, 0, pass_fired, ctl);
}

static void trim_fired(void *arg)
{
    struct ctl *ctl = arg;
    ctl->trim_timer = NULL;
    malloc_trim(0);
}

void ctl_trim_soon(struct ctl *ctl)
{
    if (ctl->trim_timer == NULL)
        ctl->trim_timer = kube_timer_add(ctl->c, 1000, trim_fired, ctl);
}

void ctl_capacity_changed(struct ctl *ctl)
{
    if (++ctl->cap_gen == 0)
        ctl->cap_gen = 1;
    ctl_kick(ctl);
}

/* ---- managed pods ---------------------------------------------------------------------- */

static bool devices_set(const json_t *pod, const struct ctl_pod *p)
{
    const json_t *ann = json_object_get(json_object_get(pod, "metadata"), "annotations");
    if (p->nasks == 0)
        return false;
    for (unsigned a = 0; a < p->nasks; a++) {
        char key[96];
        snprintf(key, sizeof key, "slicer.dev/%s", p->asks[a].container);
        if (json_object_get(ann, key) == NULL)
            return false;
    }
    return true;
}

/* The minimal pod of one ctl_pod_parse refused: enough for Events. */
static void invalid_pod(const json_t *obj, struct mpod *m, const struct err *e)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *uid = json_string_value(json_object_get(meta, "uid"));
    const char *phase = json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
    m->pod.ns = xstrdup(ns ? ns : "");
    m->pod.name = xstrdup(name ? name : "");
    m->pod.uid = xstrdup(uid ? uid : "");
    snprintf(m->pod.phase, sizeof m->pod.phase, "%s", phase ? phase : "Pending");
    m->invalid = xstrdup(err_msg(e));
}

static void *pod_extract(void *arg, json_t *obj)
{
    struct ctl *ctl = arg;
    struct mpod *m = xcalloc(1, sizeof *m);
    struct err *e = NULL;
    if (ctl_pod_parse(obj, &m->pod, &e) < 0) {
        invalid_pod(obj, m, e);
        err_free(&e);
    } else {
        m->devices_set = devices_set(obj, &m->pod);
        /* Under --handoff dra a pod asks through its ResourceClaims (the webhook's, or its
         * own of class mig.slicer.dev); one that asks mig.slicer.dev/ is the env handoff's. */
        m->dra = ctl->cfg.dra && m->pod.nasks == 0 && m->pod.nclaims > 0;
    }
    m->bound = json_string_value(json_object_get(json_object_get(obj, "spec"), "nodeName")) != NULL;
    /* The controller's own notes about this pod carry over its updates. */
    const struct mpod *old = kube_cache_get(ctl->pods, m->pod.ns, m->pod.name);
    if (old && strcmp(old->pod.uid, m->pod.uid) == 0) {
        m->flags = old->flags;
        m->nocap_gen = old->nocap_gen;
        m->retry_at = old->retry_at;
    }
    return m;
}

static void pod_free(void *item)
{
    struct mpod *m = item;
    ctl_pod_free(&m->pod);
    free(m->invalid);
    free(m);
}

static bool pod_ended(const struct mpod *m)
{
    return strcmp(m->pod.phase, "Succeeded") == 0 || strcmp(m->pod.phase, "Failed") == 0;
}

static void pod_add(void *arg, const char *key, const void *item)
{
    (void)key;
    (void)item;
    ctl_kick(arg);
}

static void pod_update(void *arg, const char *key, const void *old, const void *item)
{
    (void)key;
    if (!pod_ended(old) && pod_ended(item))
        ctl_capacity_changed(arg);
    ctl_kick(arg);
}

static void any_delete(void *arg, const char *key, const void *item)
{
    (void)key;
    (void)item;
    ctl_capacity_changed(arg);
}

static void start_next_cache(struct ctl *ctl);

static void synced(void *arg)
{
    start_next_cache(arg);
    ctl_kick(arg);
    ctl_trim_soon(arg);
}

static void problem(void *arg, const struct err *e)
{
    (void)arg;
    log_warn("controller: watch: %s (resuming)", err_msg(e));
}

/* ---- bound pods ---------------------------------------------------------------------- */

static void *bound_extract(void *arg, json_t *obj)
{
    (void)arg;
    const json_t *spec = json_object_get(obj, "spec");
    const char *node = json_string_value(json_object_get(spec, "nodeName"));
    const char *phase = json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
    if (node == NULL ||
        (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)))
        return NULL; /* uses nothing on a node */
    struct ctl_pod p;
    struct upod *u = xcalloc(1, sizeof *u);
    u->node = xstrdup(node);
    /* Only the requests are wanted; a pod the parser refuses still uses a slot. */
    if (ctl_pod_parse(obj, &p, NULL) == 0) {
        u->cpu_milli = p.cpu_milli;
        u->memory_bytes = p.memory_bytes;
        ctl_pod_free(&p);
    }
    return u;
}

static void upod_free(void *item)
{
    struct upod *u = item;
    free(u->node);
    free(u);
}

/* ---- nodes and GPUNodes ---------------------------------------------------------------- */

static void *node_extract(void *arg, json_t *obj)
{
    (void)arg;
    struct ctl_node *n = xmalloc(sizeof *n);
    if (ctl_node_parse(obj, n, NULL) < 0) {
        free(n);
        return NULL;
    }
    return n;
}

static void node_free(void *item)
{
    ctl_node_free(item);
    free(item);
}

static void node_update(void *arg, const char *key, const void *old, const void *item)
{
    (void)key;
    if (!ctl_node_equal(old, item))
        ctl_capacity_changed(arg);
}

static void cap_add(void *arg, const char *key, const void *item)
{
    (void)key;
    (void)item;
    ctl_capacity_changed(arg);
}

static void *gpunode_extract(void *arg, json_t *obj)
{
    (void)arg;
    struct ctl_gpunode *g = xmalloc(sizeof *g);
    if (ctl_gpunode_parse(obj, g, NULL) < 0) {
        free(g);
        return NULL;
    }
    return g;
}

static void gpunode_free(void *item)
{
    ctl_gpunode_free(item);
    free(item);
}

static void gpunode_update(void *arg, const char *key, const void *old, const void *item)
{
    (void)key;
    if (!ctl_gpunode_equal(old, item))
        ctl_capacity_changed(arg); /* GPUs or instances changed, not just the heartbeat */
}

/* ---- GPUSlices ------------------------------------------------------------------------- */

static void *slice_extract(void *arg, json_t *obj)
{
    (void)arg;
    struct ctl_slice *s = xmalloc(sizeof *s);
    struct err *e = NULL;
    if (ctl_slice_parse(obj, s, &e) < 0) {
        log_warn("controller: ignoring a GPUSlice: %s", err_msg(e));
        err_free(&e);
        free(s);
        return NULL;
    }
    return s;
}

static void slice_free(void *item)
{
    ctl_slice_free(item);
    free(item);
}

static void slice_add(void *arg, const char *key, const void *item)
{
    (void)item;
    ctl_assumed_seen(arg, key);
    ctl_kick(arg);
}

static void slice_update(void *arg, const char *key, const void *old, const void *item)
{
    (void)key;
    (void)old;
    (void)item;
    ctl_kick(arg);
}

/* ---- ResourceClaims (--handoff dra) ------------------------------------------------------- */

/* Every claim is kept: ours whole, others by their identity only, so that a pod's claim
 * missing from the cache is one not seen yet, not one of another driver. */
static void *claim_extract(void *arg, json_t *obj)
{
    (void)arg;
    struct rclaim *c = xmalloc(sizeof *c);
    struct err *e = NULL;
    if (rclaim_parse(obj, c, &e) < 0) {
        log_warn("controller: ignoring a ResourceClaim: %s", err_msg(e));
        err_free(&e);
        free(c);
        return NULL;
    }
    return c;
}

static void claim_free(void *item)
{
    rclaim_free(item);
    free(item);
}

static void claim_add(void *arg, const char *key, const void *item)
{
    (void)key;
    (void)item;
    ctl_kick(arg);
}

static void claim_update(void *arg, const char *key, const void *old, const void *item)
{
    (void)key;
    (void)old;
    (void)item;
    ctl_kick(arg);
}

/* ---- setup ------------------------------------------------------------------------------ */

static struct kube_cache *cache(struct ctl *ctl, const struct kube_gvr *gvr, const char *labels,
                                const char *fields, struct kube_cache_opts o)
{
    /* A list page is buffered and parsed whole, so the page size bounds the peak
     * heap: 100 objects, 10 GPUNodes (each lists every GPU's profiles). */
    o.spec = (struct kube_watch_spec){.gvr = gvr,
                                      .label_selector = labels,
                                      .field_selector = fields,
                                      .page_size = gvr == &CTL_GPUNODES ? 10 : 100};
    o.on_synced = synced;
    o.on_problem = problem;
    o.arg = ctl;
    return kube_cache_start(ctl->c, &o);
}

/* The caches start one after another, each when the one before has synced:
 * only one list is being parsed at a time, which bounds the start-up peak. */
static void start_next_cache(struct ctl *ctl)
{
    switch (ctl->ncaches++) {
    case 0:
        ctl->nodes = cache(ctl, &KUBE_NODES, NULL, NULL,
                           (struct kube_cache_opts){.extract = node_extract,
                                                    .free_item = node_free,
                                                    .on_add = cap_add,
                                                    .on_update = node_update,
                                                    .on_delete = any_delete});
        break;
    case 1:
        ctl->gpunodes = cache(ctl, &CTL_GPUNODES, NULL, NULL,
                              (struct kube_cache_opts){.extract = gpunode_extract,
                                                       .free_item = gpunode_free,
                                                       .on_add = cap_add,
                                                       .on_update = gpunode_update,
                                                       .on_delete = any_delete});
        break;
    case 2:
        ctl->slices = cache(ctl, &CTL_GPUSLICES, NULL, NULL,
                            (struct kube_cache_opts){.extract = slice_extract,
                                                     .free_item = slice_free,
                                                     .on_add = slice_add,
                                                     .on_update = slice_update,
                                                     .on_delete = any_delete});
        break;
    case 3:
        ctl->bound = cache(
            ctl, &KUBE_PODS, NULL, "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed",
            (struct kube_cache_opts){
                .extract = bound_extract, .free_item = upod_free, .on_delete = any_delete});
        break;
    case 4:
        ctl->pods = cache(ctl, &KUBE_PODS, CTL_MANAGED "=true", NULL,
                          (struct kube_cache_opts){.extract = pod_extract,
                                                   .free_item = pod_free,
                                                   .on_add = pod_add,
                                                   .on_update = pod_update,
                                                   .on_delete = any_delete});
        break;
    case 5:
        if (ctl->cfg.dra) {
            ctl->claims = cache(ctl, &CTL_RESOURCECLAIMS, NULL, NULL,
                                (struct kube_cache_opts){.extract = claim_extract,
                                                         .free_item = claim_free,
                                                         .on_add = claim_add,
                                                         .on_update = claim_update,
                                                         .on_delete = any_delete});
            break;
        }
        /* fall through */
    default:
        ctl->ncaches = ctl_ncaches(ctl);
        break;
    }
}

static void on_gain(void *arg)
{
    struct ctl *ctl = arg;
    log_info("controller: leading as %s (acting once the caches are synced)", ctl->cfg.identity);
    ctl_kick(ctl);
}

static void on_loss(void *arg)
{
    struct ctl *ctl = arg;
    log_error("controller: lost the leadership of %s/%s; stopping", ctl->cfg.lease_ns,
              ctl->cfg.lease_name);
    ctl->lost = true;
}

static int start(struct ctl *ctl, struct err **err)
{
    struct kube_config *kc = NULL;
    int rc = kube_config_load(ctl->cfg.kubeconfig, NULL, &kc, err);
    if (rc < 0)
        return err_wrap(err, "loading the kubeconfig");
    struct kube_client_opts o = {
        .user_agent = "slicer-controller", .qps = ctl->cfg.qps, .burst = ctl->cfg.burst};
    rc = kube_client_new(kc, &o, &ctl->c, err);
    struct kube_client_opts lo_opts = {.user_agent = "slicer-controller/leader-election"};
    if (rc == 0 && ctl->cfg.leader_elect)
        rc = kube_client_new(kc, &lo_opts, &ctl->lc, err);
    /* Events in their own lane, a few at a time: under a burst they wait behind each other,
     * not in front of the slice creates and ungates that pods wait on. */
    struct kube_client_opts eo = {.user_agent = "slicer-controller/events",
                                  .qps = ctl->cfg.qps,
                                  .burst = ctl->cfg.burst,
                                  .max_inflight = 16};
    if (rc == 0)
        rc = kube_client_new(kc, &eo, &ctl->ec, err);
    kube_config_free(kc);
    if (rc < 0)
        return err_wrap(err, "kube client");
    ctl->rec = kube_recorder_new(ctl->ec, "slicer.dev/controller", ctl->cfg.identity);
    start_next_cache(ctl);
    if (!ctl->cfg.leader_elect)
        return 0;
    struct kube_lease_opts lo = {.ns = ctl->cfg.lease_ns,
                                 .name = ctl->cfg.lease_name,
                                 .identity = ctl->cfg.identity,
                                 .lease_duration_ms = ctl->cfg.lease_ms,
                                 .renew_deadline_ms = ctl->cfg.renew_ms,
                                 .retry_period_ms = ctl->cfg.retry_ms,
                                 .on_gain = on_gain,
                                 .on_loss = on_loss,
                                 .arg = ctl};
    rc = kube_lease_start(ctl->lc, &lo, &ctl->lease, err);
    return rc < 0 ? err_wrap(err, "leader election") : 0;
}

static void stop(struct ctl *ctl, bool release)
{
    struct err *e = NULL;
    ctl->stopping = true;
    /* Hand the Lease back (holder "", 1 s) so that a standby takes over at once. */
    if (ctl->lease && release) {
        struct kube_lease *l = ctl->lease;
        ctl->lease = NULL;
        if (kube_lease_release(l, &e) < 0) {
            log_warn("controller: releasing the lease: %s", err_msg(e));
            err_free(&e);
        }
    }
    kube_lease_stop(ctl->lease);
    kube_cache_stop(ctl->pods);
    kube_cache_stop(ctl->bound);
    kube_cache_stop(ctl->nodes);
    kube_cache_stop(ctl->gpunodes);
    kube_cache_stop(ctl->slices);
    kube_cache_stop(ctl->claims);
    if (ctl->rec)
        kube_recorder_free(ctl->rec);
    if (ctl->c)
        kube_client_free(ctl->c);
    if (ctl->lc)
        kube_client_free(ctl->lc);
    if (ctl->ec)
        kube_client_free(ctl->ec);
    ctl_assumed_free_all(ctl);
    ctl_pend_free(&ctl->releases);
    ctl_pend_free(&ctl->ungates);
    ctl_pend_free(&ctl->allocs);
    ctl_pend_free(&ctl->deallocs);
    ctl_pend_free(&ctl->finalizing);
    ctl_pend_free(&ctl->templates);
    ctl_dra_free(ctl);
    ctl_notes_free(ctl);
}

/* ---- the loop -------------------------------------------------------------------------- */

static int signal_fd(struct err **err)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return err_set(err, errno, "sigprocmask: %s", strerror(errno));
    int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    return fd < 0 ? err_set(err, errno, "signalfd: %s", strerror(errno)) : fd;
}

/* Runs until a signal (returns 0) or a lost lease (1). */
static int loop(struct ctl *ctl, int ep, int sfd, struct err **err)
{
    while (!ctl->lost) {
        struct epoll_event ev[4];
        int n = epoll_wait(ep, ev, 4, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_set(err, errno, "epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            if (ev[i].data.fd == sfd) {
                struct signalfd_siginfo si;
                if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                    log_info("controller: signal %u: stopping", si.ssi_signo);
                    return CTL_STOPPED;
                }
                continue;
            }
            struct kube_client *c = ctl->lc && ev[i].data.fd == kube_client_fd(ctl->lc)   ? ctl->lc
                                    : ctl->ec && ev[i].data.fd == kube_client_fd(ctl->ec) ? ctl->ec
                                                                                          : ctl->c;
            if (kube_client_dispatch(c, err) < 0)
                return err_wrap(err, "kube client");
        }
    }
    return CTL_LOST;
}

static int add_fd(int ep, int fd, struct err **err)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        return err_set(err, errno, "epoll_ctl: %s", strerror(errno));
    return 0;
}

int ctl_run(const struct ctl_config *cfg, struct err **err)
{
    struct ctl *ctl = xcalloc(1, sizeof *ctl);
    ctl->cfg = *cfg;
    ctl->cap_gen = 1;
    int ep = -1, sfd = -1, rc = start(ctl, err);
    if (rc == 0 && (sfd = signal_fd(err)) < 0)
        rc = sfd;
    if (rc == 0 && (ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
        rc = err_set(err, errno, "epoll_create1: %s", strerror(errno));
    if (rc == 0 && (rc = add_fd(ep, kube_client_fd(ctl->c), err)) == 0)
        rc = add_fd(ep, sfd, err);
    if (rc == 0 && ctl->lc)
        rc = add_fd(ep, kube_client_fd(ctl->lc), err);
    if (rc == 0 && ctl->ec)
        rc = add_fd(ep, kube_client_fd(ctl->ec), err);
    if (rc == 0) {
        log_info("controller: started as %s (%s, batch window %d ms%s)", cfg->identity,
                 place_policy_name(cfg->policy), cfg->batch_window_ms,
                 cfg->leader_elect ? ", leader election on" : ", no leader election");
        rc = loop(ctl, ep, sfd, err);
    }
    if (ep >= 0)
        close(ep);
    if (sfd >= 0)
        close(sfd);
    stop(ctl, rc == CTL_STOPPED);
    free(ctl);
    return rc;
}
