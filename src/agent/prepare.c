/* The kubelet's DRA calls, answered from the API server, the GPUSlices, NVML
 * and the journal of prepared claims (prepare.h). */
#include "agent/prepare.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/journal.h"
#include "base/durable.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "kube/kube_req.h"
#include "kubelet/kubelet.h"
#include "objects/resourceslice.h"

static const struct kube_gvr RESOURCECLAIMS = {"resource.k8s.io", "v1", "resourceclaims", true};

#define MAX_DEV     32 /* AllocationResultsMaxSize */
#define MSG_MAX     1024
#define JOURNAL_MAX (8u << 20)

/* One device of a claim, as allocated and (once prepared) as handed out. */
struct pdev {
    char request[64], device[RSLICE_NAME_MAX], gpu_uuid[MIG_UUID_SIZE];
    unsigned start;
    int gpu, profile;       /* index into the GPUs and the model's profiles (while waiting) */
    char cdi[CDI_NAME_MAX]; /* the device name in the claim's spec */
};

/* A prepared claim (journaled). */
struct pclaim {
    char uid[64], ns[64], name[254];
    size_t ndev;
    struct pdev dev[MAX_DEV];
};

/* A Prepare answer still owed to the kubelet. */
struct wait {
    struct wait *next;
    struct prep *p;
    struct kl_call *call;
    size_t i;
    char uid[64], ns[64], name[254];
    bool fetched; /* the claim was read; dev[] holds its devices */
    uint64_t deadline;
    size_t ndev;
    struct pdev dev[MAX_DEV];
};

struct prep {
    struct prep_config cfg;
    struct prep_env env;
    char *journal_path, *cdi_dir;
    struct kl_plugin *kl;
    struct kl_plugin_ops ops;
    struct cdi_driver *drv;
    struct cdi_minors *minors;
    char cdi_problem[MSG_MAX]; /* why CDI specs cannot be written now ("" when they can) */
    struct pclaim *claims;
    size_t nclaims;
    struct wait *waits;
};

/* ---- the journal ------------------------------------------------------------------------ */

static json_t *claim_json(const struct pclaim *c)
{
    json_t *devs = json_array();
    for (size_t k = 0; k < c->ndev; k++)
        json_array_append_new(devs,
                              json_pack("{s:s, s:s, s:s, s:i, s:s}", "request", c->dev[k].request,
                                        "device", c->dev[k].device, "gpuUUID", c->dev[k].gpu_uuid,
                                        "start", (int)c->dev[k].start, "cdi", c->dev[k].cdi));
    return json_pack("{s:s, s:s, s:s, s:o}", "uid", c->uid, "namespace", c->ns, "name", c->name,
                     "devices", devs);
}

static int save(struct prep *p, struct err **err)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < p->nclaims; i++)
        json_array_append_new(arr, claim_json(&p->claims[i]));
    json_t *root = json_pack("{s:i, s:o}", "version", 1, "claims", arr);
    char *text = json_dumps(root, JSON_INDENT(1));
    json_decref(root);
    int rc = durable_write(p->journal_path, text, strlen(text), 0600, err);
    free(text);
    return rc;
}

static int copy_str(char *dst, size_t cap, const json_t *v, const char *what, struct err **err)
{
    const char *s = json_string_value(v);
    if (s == NULL || strlen(s) >= cap)
        return err_set(err, EINVAL, "%s is missing or longer than %zu", what, cap - 1);
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

static int parse_claim(const json_t *o, struct pclaim *c, struct err **err)
{
    memset(c, 0, sizeof *c);
    int rc = copy_str(c->uid, sizeof c->uid, json_object_get(o, "uid"), "uid", err);
    if (rc == 0)
        rc = copy_str(c->ns, sizeof c->ns, json_object_get(o, "namespace"), "namespace", err);
    if (rc == 0)
        rc = copy_str(c->name, sizeof c->name, json_object_get(o, "name"), "name", err);
    const json_t *devs = json_object_get(o, "devices");
    if (rc == 0 && (!json_is_array(devs) || json_array_size(devs) > MAX_DEV))
        rc = err_set(err, EINVAL, "claim %s: devices is not a list of at most %d", c->uid, MAX_DEV);
    for (size_t k = 0; rc == 0 && k < json_array_size(devs); k++) {
        const json_t *d = json_array_get(devs, k);
        struct pdev *pd = &c->dev[c->ndev++];
        rc = copy_str(pd->request, sizeof pd->request, json_object_get(d, "request"), "request",
                      err);
        if (rc == 0)
            rc = copy_str(pd->device, sizeof pd->device, json_object_get(d, "device"), "device",
                          err);
        if (rc == 0)
            rc = copy_str(pd->gpu_uuid, sizeof pd->gpu_uuid, json_object_get(d, "gpuUUID"),
                          "gpuUUID", err);
        if (rc == 0)
            rc = copy_str(pd->cdi, sizeof pd->cdi, json_object_get(d, "cdi"), "cdi", err);
        pd->start = (unsigned)json_integer_value(json_object_get(d, "start"));
    }
    return rc;
}

static int load(struct prep *p, struct err **err)
{
    json_error_t je;
    json_t *root = json_load_file(p->journal_path, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        FILE *f = fopen(p->journal_path, "r");
        if (f == NULL && errno == ENOENT)
            return 0; /* first start */
        if (f)
            fclose(f);
        return err_set(err, EINVAL, "reading %s: line %d: %s", p->journal_path, je.line, je.text);
    }
    const json_t *arr = json_object_get(root, "claims");
    int rc = json_is_array(arr) ? 0 : err_set(err, EINVAL, "%s: no claims list", p->journal_path);
    for (size_t i = 0; rc == 0 && i < json_array_size(arr); i++) {
        p->claims = xreallocarray(p->claims, p->nclaims + 1, sizeof *p->claims);
        rc = parse_claim(json_array_get(arr, i), &p->claims[p->nclaims], err);
        if (rc == 0)
            p->nclaims++;
        else
            err_wrap(err, "%s: claim %zu", p->journal_path, i);
    }
    json_decref(root);
    return rc;
}

static struct pclaim *find_claim(struct prep *p, const char *uid)
{
    for (size_t i = 0; i < p->nclaims; i++)
        if (strcmp(p->claims[i].uid, uid) == 0)
            return &p->claims[i];
    return NULL;
}

/* ---- answers ------------------------------------------------------------------------------ */

static void spec_base(const char *uid, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s-%s", CDI_VENDOR, uid);
}

/* Answers claim i of `call` with the prepared claim's devices (pool: this node). */
static void answer_devices(struct prep *p, struct kl_call *call, size_t i, const struct pclaim *c)
{
    struct kl_device kd[MAX_DEV];
    const char *req[MAX_DEV];
    char ids[MAX_DEV][CDI_NAME_MAX + sizeof CDI_KIND + 1];
    const char *idp[MAX_DEV];
    for (size_t k = 0; k < c->ndev; k++) {
        req[k] = c->dev[k].request;
        snprintf(ids[k], sizeof ids[k], "%s=%s", CDI_KIND, c->dev[k].cdi);
        idp[k] = ids[k];
        kd[k] = (struct kl_device){.request_names = &req[k],
                                   .n_request_names = 1,
                                   .pool_name = p->cfg.node,
                                   .device_name = c->dev[k].device,
                                   .cdi_device_ids = &idp[k],
                                   .n_cdi_device_ids = 1};
    }
    if (kl_call_prepared(call, i, kd, c->ndev, NULL) < 0)
        log_warn("kubelet Prepare: claim %s answered twice", c->uid);
}

static void answer_error(struct kl_call *call, size_t i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void answer_error(struct kl_call *call, size_t i, const char *fmt, ...)
{
    char msg[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_warn("kubelet Prepare: %s", msg);
    kl_call_prepared(call, i, NULL, 0, msg);
}

/* ---- waiting Prepares -------------------------------------------------------------------- */

/* Finds (GPU, profile, start) of device `name` among the node's GPUs. */
static bool resolve(struct prep *p, const char *name, struct pdev *d)
{
    size_t n = 0;
    const struct mig_gpu *g = p->env.gpus(p->env.arg, &n);
    for (size_t i = 0; i < n; i++) {
        unsigned prof, start;
        if (!g[i].mig_enabled || !rslice_device_parse(g[i].model, g[i].index, name, &prof, &start))
            continue;
        d->gpu = (int)i;
        d->profile = (int)prof;
        d->start = start;
        snprintf(d->gpu_uuid, sizeof d->gpu_uuid, "%s", g[i].uuid);
        return true;
    }
    return false;
}

static void drop_wait(struct prep *p, struct wait *w)
{
    for (struct wait **pp = &p->waits; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    free(w);
}

/* The instance at the device's placement, when NVML shows one with its CI. */
static const struct mig_instance *instance_of(struct prep *p, const struct pdev *d,
                                              const struct mig_gpu **gpu)
{
    size_t n = 0;
    const struct mig_gpu *g = p->env.gpus(p->env.arg, &n);
    if (d->gpu < 0 || (size_t)d->gpu >= n)
        return NULL;
    *gpu = &g[d->gpu];
    for (uint32_t k = 0; k < g[d->gpu].ninst; k++) {
        const struct mig_instance *in = &g[d->gpu].inst[k];
        if (in->start == d->start && in->profile == d->profile && in->ci_id != MIG_NO_CI)
            return in;
    }
    return NULL;
}

/* Writes the claim's spec and journals it; *why on failure. */
static int commit(struct prep *p, struct wait *w, struct err **err)
{
    if (p->cdi_problem[0])
        return err_set(err, EIO, "%s", p->cdi_problem);
    struct cdi_mig migs[MAX_DEV];
    struct pclaim c = {.ndev = w->ndev};
    snprintf(c.uid, sizeof c.uid, "%s", w->uid);
    snprintf(c.ns, sizeof c.ns, "%s", w->ns);
    snprintf(c.name, sizeof c.name, "%s", w->name);
    for (size_t k = 0; k < w->ndev; k++) {
        const struct mig_gpu *g = NULL;
        const struct mig_instance *in = instance_of(p, &w->dev[k], &g);
        if (in == NULL)
            return err_set(err, ENOENT, "device %s: NVML shows no instance there",
                           w->dev[k].device);
        if (g->minor == MIG_NO_MINOR)
            return err_set(err, ENOTSUP, "GPU %s: NVML does not give its device minor", g->uuid);
        c.dev[k] = w->dev[k];
        snprintf(c.dev[k].cdi, sizeof c.dev[k].cdi, "%s-%s", w->uid, w->dev[k].device);
        memset(&migs[k], 0, sizeof migs[k]);
        snprintf(migs[k].name, sizeof migs[k].name, "%s", c.dev[k].cdi);
        snprintf(migs[k].mig_uuid, sizeof migs[k].mig_uuid, "%s", in->uuid);
        migs[k].gpu_minor = g->minor;
        migs[k].gi_id = in->gi_id;
        migs[k].ci_id = in->ci_id;
    }
    json_t *spec = NULL;
    char base[CDI_BASE_MAX];
    spec_base(w->uid, base, sizeof base);
    int rc = cdi_spec_build(&p->cfg.host, p->drv, p->minors, migs, w->ndev, &spec, err);
    if (rc == 0)
        rc = cdi_spec_write(p->cdi_dir, base, spec, err);
    json_decref(spec);
    if (rc < 0)
        return rc;
    p->claims = xreallocarray(p->claims, p->nclaims + 1, sizeof *p->claims);
    p->claims[p->nclaims++] = c;
    rc = save(p, err);
    if (rc < 0) { /* not journaled: not prepared (the spec goes again) */
        p->nclaims--;
        struct err *e2 = NULL;
        if (cdi_spec_remove(p->cdi_dir, base, &e2) < 0)
            err_free(&e2);
    }
    return rc;
}

/* Looks at one fetched wait: answers it when every slice is Ready (or one Failed). */
static void check(struct prep *p, struct wait *w)
{
    char pending[MSG_MAX] = "";
    for (size_t k = 0; k < w->ndev; k++) {
        const struct cl_slice *s =
            p->env.slice(p->env.arg, w->uid, w->dev[k].gpu_uuid, w->dev[k].start);
        if (s && s->phase == CL_FAILED) {
            answer_error(w->call, w->i, "claim %s/%s: the slice %s for device %s failed", w->ns,
                         w->name, s->key, w->dev[k].device);
            drop_wait(p, w);
            return;
        }
        const struct mig_gpu *g = NULL;
        if (s == NULL || s->phase != CL_READY || instance_of(p, &w->dev[k], &g) == NULL) {
            size_t len = strlen(pending);
            snprintf(pending + len, sizeof pending - len, "%s%s (%s)", len ? ", " : "",
                     w->dev[k].device, s ? cl_phase_name(s->phase) : "no GPUSlice yet");
        }
    }
    if (pending[0]) {
        log_debug("kubelet Prepare of claim %s/%s waits for %s", w->ns, w->name, pending);
        return;
    }
    struct err *e = NULL;
    if (commit(p, w, &e) < 0) {
        answer_error(w->call, w->i, "claim %s/%s: writing its CDI spec: %s", w->ns, w->name,
                     err_msg(e));
        err_free(&e);
    } else {
        log_info("claim %s/%s prepared: %zu device(s), CDI spec in %s", w->ns, w->name, w->ndev,
                 p->cdi_dir);
        answer_devices(p, w->call, w->i, find_claim(p, w->uid));
    }
    drop_wait(p, w);
}

void prep_recheck(struct prep *p)
{
    for (struct wait *w = p->waits, *next; w; w = next) {
        next = w->next;
        if (w->fetched)
            check(p, w);
    }
}

void prep_tick(struct prep *p)
{
    uint64_t now = kube_now_ms();
    for (struct wait *w = p->waits, *next; w; w = next) {
        next = w->next;
        if (!w->fetched) /* its GET is in flight: on_claim ends it */
            continue;
        if (kl_call_dead(w->call)) { /* the kubelet gave up; it will ask again */
            kl_call_prepared(w->call, w->i, NULL, 0, "cancelled");
            drop_wait(p, w);
        } else if (now >= w->deadline) {
            answer_error(w->call, w->i,
                         "claim %s/%s: its MIG slices were not ready within %u s (see kubectl "
                         "get gslice -l " PREP_CLAIM_LABEL "=%s)",
                         w->ns, w->name, p->cfg.wait_s, w->uid);
            drop_wait(p, w);
        }
    }
}

/* The claim as the API server has it: its uid must be the one the kubelet names, and its
 * allocation must give it devices of our driver in this node's pool. */
static int take_allocation(struct prep *p, struct wait *w, const json_t *obj, struct err **err)
{
    const char *uid = json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
    if (uid == NULL || strcmp(uid, w->uid) != 0)
        return err_set(err, ESTALE, "it has uid %s, not %s (deleted and made again?)",
                       uid ? uid : "(none)", w->uid);
    const json_t *results = json_object_get(
        json_object_get(json_object_get(json_object_get(obj, "status"), "allocation"), "devices"),
        "results");
    if (!json_is_array(results))
        return err_set(err, ENOENT, "it is not allocated");
    size_t i;
    const json_t *r;
    json_array_foreach(results, i, r)
    {
        const char *drv = json_string_value(json_object_get(r, "driver"));
        const char *pool = json_string_value(json_object_get(r, "pool"));
        const char *dev = json_string_value(json_object_get(r, "device"));
        const char *req = json_string_value(json_object_get(r, "request"));
        if (!drv || strcmp(drv, RSLICE_DRIVER) != 0 || !pool || strcmp(pool, p->cfg.node) != 0)
            continue;
        if (w->ndev == MAX_DEV || !dev || !req)
            return err_set(err, EINVAL, "its allocation result %zu is malformed", i);
        struct pdev *d = &w->dev[w->ndev];
        memset(d, 0, sizeof *d);
        snprintf(d->device, sizeof d->device, "%s", dev);
        snprintf(d->request, sizeof d->request, "%s", req);
        if (!resolve(p, dev, d))
            return err_set(err, ENODEV, "device %s is not one of this node's MIG placements", dev);
        w->ndev++;
    }
    if (w->ndev == 0)
        return err_set(err, ENOENT, "it has no device of driver %s on node %s", RSLICE_DRIVER,
                       p->cfg.node);
    return 0;
}

static void on_claim(void *arg, json_t *obj, const struct err *e)
{
    struct wait *w = arg;
    struct prep *p = w->p;
    struct err *why = NULL;
    if (e)
        err_set(&why, e->code, "%s", err_msg(e));
    else
        take_allocation(p, w, obj, &why);
    json_decref(obj);
    if (why) {
        answer_error(w->call, w->i, "claim %s/%s (uid %s): %s", w->ns, w->name, w->uid,
                     err_msg(why));
        err_free(&why);
        drop_wait(p, w);
        return;
    }
    w->fetched = true;
    check(p, w);
}

/* ---- the kubelet's calls ------------------------------------------------------------------ */

static void prepare_one(struct prep *p, struct kl_call *call, size_t i)
{
    const struct kl_claim *kc = kl_call_claim(call, i);
    const struct pclaim *done = find_claim(p, kc->uid);
    if (done) { /* repeated: the same answer */
        answer_devices(p, call, i, done);
        return;
    }
    struct wait *w = xcalloc(1, sizeof *w);
    w->p = p;
    w->call = call;
    w->i = i;
    snprintf(w->uid, sizeof w->uid, "%s", kc->uid ? kc->uid : "");
    snprintf(w->ns, sizeof w->ns, "%s", kc->namespace_ ? kc->namespace_ : "");
    snprintf(w->name, sizeof w->name, "%s", kc->name ? kc->name : "");
    w->deadline = kube_now_ms() + 1000ull * p->cfg.wait_s;
    if (!w->uid[0] || !w->ns[0] || !w->name[0]) {
        answer_error(call, i, "a claim without namespace, name or uid");
        free(w);
        return;
    }
    w->next = p->waits;
    p->waits = w;
    struct kube_call k = {.gvr = &RESOURCECLAIMS, .ns = w->ns, .name = w->name};
    struct err *e = NULL;
    if (kube_send(p->env.c, KUBE_GET, &k, NULL, on_claim, w, &e) == NULL) {
        answer_error(call, i, "claim %s/%s: %s", w->ns, w->name, err_msg(e));
        err_free(&e);
        drop_wait(p, w);
    }
}

static void on_prepare(void *arg, struct kl_call *call)
{
    struct prep *p = arg;
    size_t n = kl_call_nclaims(call);
    log_debug("kubelet (%s): NodePrepareResources for %zu claim(s)", kl_call_version(call), n);
    for (size_t i = 0; i < n; i++)
        prepare_one(p, call, i);
}

static void on_unprepare(void *arg, struct kl_call *call)
{
    struct prep *p = arg;
    size_t n = kl_call_nclaims(call);
    for (size_t i = 0; i < n; i++) {
        const struct kl_claim *kc = kl_call_claim(call, i);
        const char *uid = kc->uid ? kc->uid : "";
        char base[CDI_BASE_MAX];
        spec_base(uid, base, sizeof base);
        struct err *e = NULL;
        int rc = uid[0] ? cdi_spec_remove(p->cdi_dir, base, &e) : 0;
        struct pclaim *c = rc < 0 ? NULL : find_claim(p, uid);
        if (c) {
            struct pclaim keep = *c;
            *c = p->claims[--p->nclaims];
            rc = save(p, &e);
            if (rc < 0) /* still journaled: the kubelet asks again */
                p->claims[p->nclaims++] = keep;
        }
        if (rc < 0) {
            log_warn("kubelet Unprepare of claim %s: %s", uid, err_msg(e));
            kl_call_unprepared(call, i, err_msg(e));
        } else {
            log_info("claim %s/%s unprepared", kc->namespace_ ? kc->namespace_ : "",
                     kc->name ? kc->name : uid);
            kl_call_unprepared(call, i, NULL);
        }
        err_free(&e);
    }
}

static void on_registered(void *arg, bool ok, const char *error)
{
    (void)arg;
    if (ok)
        log_info("the kubelet registered DRA driver %s", RSLICE_DRIVER);
    else
        log_error("the kubelet refused DRA driver %s: %s", RSLICE_DRIVER, error ? error : "");
}

/* The driver's files and the capability minors; a failure is kept for Prepare to report. */
static void load_cdi(struct prep *p)
{
    struct err *e = NULL;
    int rc = p->drv ? 0 : cdi_driver_discover(&p->cfg.host, &p->drv, &e);
    if (rc == 0 && p->minors == NULL)
        rc = cdi_minors_load(&p->cfg.host, &p->minors, &e);
    if (rc < 0) {
        snprintf(p->cdi_problem, sizeof p->cdi_problem, "%s", err_msg(e));
        log_error("CDI specs cannot be written: %s", err_msg(e));
    } else {
        p->cdi_problem[0] = '\0';
    }
    err_free(&e);
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = xmalloc(n);
    snprintf(s, n, "%s/%s", a, b);
    return s;
}

int prep_new(const struct prep_config *cfg, const struct prep_env *env, struct prep **out,
             struct err **err)
{
    struct prep *p = xcalloc(1, sizeof *p);
    p->cfg = *cfg;
    if (p->cfg.wait_s == 0)
        p->cfg.wait_s = PREP_DEFAULT_WAIT_S;
    p->env = *env;
    p->journal_path = join(cfg->state_dir, PREP_JOURNAL_FILE);
    p->cdi_dir = xstrdup(cfg->cdi_dir ? cfg->cdi_dir : CDI_DEFAULT_DIR);
    int rc = load(p, err);
    if (rc < 0) {
        prep_free(p);
        return rc;
    }
    load_cdi(p);
    struct err *e = NULL;
    if (journal_mkdirs(p->cdi_dir, &e) < 0) { /* reported again by each Prepare that needs it */
        log_warn("CDI folder %s: %s", p->cdi_dir, err_msg(e));
        err_free(&e);
    }
    const char *kdir = cfg->kubelet_dir ? cfg->kubelet_dir : PREP_DEFAULT_KUBELET;
    char *reg = join(kdir, "plugins_registry");
    char *plugins = join(kdir, "plugins/" RSLICE_DRIVER);
    struct kl_plugin_config kc = {
        .driver = RSLICE_DRIVER, .registry_dir = reg, .plugin_dir = plugins};
    p->ops = (struct kl_plugin_ops){
        .registered = on_registered, .prepare = on_prepare, .unprepare = on_unprepare};
    p->kl = kl_plugin_new(&kc, &p->ops, p, err);
    free(reg);
    free(plugins);
    if (p->kl == NULL) {
        prep_free(p);
        return err_wrap(err, "serving the kubelet");
    }
    log_info("DRA driver %s: kubelet sockets %s and %s, %zu prepared claim(s) journaled",
             RSLICE_DRIVER, kl_plugin_registration_socket(p->kl), kl_plugin_dra_socket(p->kl),
             p->nclaims);
    *out = p;
    return 0;
}

int prep_fd(const struct prep *p)
{
    return kl_plugin_fd(p->kl);
}

void prep_dispatch(struct prep *p)
{
    if (p->cdi_problem[0] && p->waits == NULL)
        load_cdi(p); /* the driver may have been installed meanwhile */
    kl_plugin_dispatch(p->kl);
}

bool prep_uses(const struct prep *p, const char *gpu_uuid, unsigned start)
{
    for (size_t i = 0; p && i < p->nclaims; i++)
        for (size_t k = 0; k < p->claims[i].ndev; k++)
            if (p->claims[i].dev[k].start == start &&
                strcmp(p->claims[i].dev[k].gpu_uuid, gpu_uuid) == 0)
                return true;
    return false;
}

void prep_free(struct prep *p)
{
    if (!p)
        return;
    while (p->waits) {
        kl_call_prepared(p->waits->call, p->waits->i, NULL, 0, "the agent is stopping");
        drop_wait(p, p->waits);
    }
    kl_plugin_free(p->kl);
    cdi_driver_free(p->drv);
    cdi_minors_free(p->minors);
    free(p->claims);
    free(p->journal_path);
    free(p->cdi_dir);
    free(p);
}
