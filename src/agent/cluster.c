/* The cluster agent's event loop: GPUSlice watch, reconcile, status writes,
 * GPUNode and Node capacity, heartbeat. NVML runs on the worker
 * (cluster_worker.c); the decisions are cluster_model.c's. */
#include "agent/cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/cluster_model.h"
#include "agent/cluster_worker.h"
#include "agent/prepare.h"
#include "agent/rs_publish.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "kube/kube_cache.h"
#include "kube/kube_config.h"
#include "kube/kube_event.h"
#include "kube/kube_req.h"

static const struct kube_gvr GPUNODES = {"slicer.dev", "v1alpha1", "gpunodes", false};
static const struct kube_gvr GPUSLICES = {"slicer.dev", "v1alpha1", "gpuslices", true};

#define TICK_MS 500
/* A creation still running after this long is written Creating (a quick one goes
 * Pending -> Ready in one write: the journal, not the API, is what a restart trusts). */
#define CREATING_NOTE_MS 500
#define BACKOFF_MIN      1000
#define BACKOFF_MAX      30000
#define STOP_DRAIN_MS    3000

/* What the loop remembers about one slice key between events. */
struct track {
    char key[CL_KEY_MAX];
    bool busy;           /* a worker job for it is queued or running */
    bool finalizing;     /* the finalizer patch is in flight */
    uint64_t not_before; /* retry no earlier (monotonic ms) */
    unsigned attempts;
    uint64_t creating_at; /* a fresh creation started (monotonic ms); Creating not written */
    /* The phase this agent wrote last, until the watch shows it (uid-bound). */
    bool wrote_set;
    enum cl_phase wrote;
    char wrote_uid[64], wrote_uuid[96];
    char fail_msg[CL_MSG_MAX]; /* Failed message to write once the teardown is done */
    bool fail_nvml;            /* ...and it is NVML's (an NVMLError Event goes with it) */
};

struct agent {
    const struct cluster_config *cfg;
    struct kube_client *c;
    struct kube_cache *cache;
    struct kube_recorder *rec;
    struct rs_pub *rs; /* the node's ResourceSlices (an empty set outside --handoff dra) */
    struct prep *prep; /* the kubelet's DRA calls (--handoff dra only) */
    struct journal *j;
    struct cw *w;
    int epfd, wake_fd, sig_fd;
    struct mig_gpu *gpus; /* the latest NVML picture */
    size_t ngpus;
    bool have_inventory, synced, discovering, rebooted, stopping;
    bool nvml_ok;
    bool node_dirty; /* instances changed since the GPUNode was last written */
    char nvml_msg[CL_MSG_MAX];
    char ready_since[40];
    bool ready_published, ready_last;
    char boot_id[64], node_uid[64];
    char node_uid_k8s[64]; /* the Node's uid: ResourceSlices are owned by it */
    struct track **tracks;
    size_t ntracks;
    char (*foreign)[160]; /* foreign instances already reported */
    size_t nforeign;
    unsigned outstanding; /* API writes in flight */
};

static void sync_key(struct agent *a, const char *key);
static void publish_node(struct agent *a);

/* ---- small helpers ---------------------------------------------------------------- */

static void rfc3339(char *buf, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static struct track *track_get(struct agent *a, const char *key, bool create)
{
    for (size_t i = 0; i < a->ntracks; i++)
        if (strcmp(a->tracks[i]->key, key) == 0)
            return a->tracks[i];
    if (!create)
        return NULL;
    a->tracks = xreallocarray(a->tracks, a->ntracks + 1, sizeof *a->tracks);
    struct track *t = xcalloc(1, sizeof *t);
    snprintf(t->key, sizeof t->key, "%s", key);
    a->tracks[a->ntracks++] = t;
    return t;
}

static void track_drop(struct agent *a, struct track *t)
{
    for (size_t i = 0; i < a->ntracks; i++)
        if (a->tracks[i] == t) {
            a->tracks[i] = a->tracks[--a->ntracks];
            free(t);
            return;
        }
}

static int gpu_of(const struct agent *a, const char *uuid)
{
    for (size_t i = 0; i < a->ngpus; i++)
        if (strcmp(a->gpus[i].uuid, uuid) == 0)
            return (int)i;
    return -1;
}

static int profile_of(const struct agent *a, int gi, const char *name)
{
    return gi >= 0 && a->gpus[gi].model ? cat_profile_index(a->gpus[gi].model, name) : -1;
}

/* Saves the journal, logging a failure; false when it is not on disk. */
static bool save_journal(struct agent *a)
{
    struct err *e = NULL;
    if (journal_save(a->j, &e) < 0) {
        log_error("%s", err_msg(e));
        err_free(&e);
        return false;
    }
    return true;
}

static struct kube_event_ref slice_ref(const struct cl_slice *s)
{
    return (struct kube_event_ref){CL_GROUP_VERSION, "GPUSlice", s->ns, s->name, s->uid};
}

static struct kube_event_ref node_ref(const struct agent *a)
{
    return (struct kube_event_ref){CL_GROUP_VERSION, "GPUNode", NULL, a->cfg->node,
                                   a->node_uid[0] ? a->node_uid : NULL};
}

/* ---- API writes -------------------------------------------------------------------- */

enum write_kind { W_STATUS, W_MESSAGE, W_FINALIZER, W_GPUNODE, W_NODE, W_CREATE, W_NOTE };

static const char *const write_what[] = {
    "writing the status of",        "writing a message on",
    "removing the finalizer of",    "writing the status of GPUNode",
    "writing the capacity of Node", "creating GPUNode",
    "writing Creating on"};

struct write_ctx {
    struct agent *a;
    enum write_kind kind;
    char key[CL_KEY_MAX];
};

static void create_gpunode(struct agent *a);

static void on_written(void *arg, json_t *obj, const struct err *e)
{
    struct write_ctx *w = arg;
    const char *uid = json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
    if (w->kind == W_CREATE && uid) /* Events about the GPUNode name its new uid */
        snprintf(w->a->node_uid, sizeof w->a->node_uid, "%s", uid);
    json_decref(obj);
    w->a->outstanding--;
    struct track *t = track_get(w->a, w->key, false);
    if (e && w->kind == W_NOTE) { /* the slice changed meanwhile (409): Ready came first */
        log_debug("%s %s: %s", write_what[w->kind], w->key, err_msg(e));
        free(w);
        return;
    }
    if (e && !(e->code == ENOENT &&
               (w->kind == W_STATUS || w->kind == W_MESSAGE || w->kind == W_FINALIZER)))
        log_warn("%s %s: %s", write_what[w->kind], w->key, err_msg(e));
    if (t && w->kind == W_FINALIZER) {
        /* Let the watch show the result before this key is looked at again. */
        t->finalizing = false;
        t->not_before = kube_now_ms() + 2 * BACKOFF_MIN;
    }
    if (e && t && w->kind == W_STATUS) {
        t->wrote_set = false;
        t->not_before = kube_now_ms() + BACKOFF_MIN;
    }
    if (e && e->code == ENOENT && w->kind == W_GPUNODE && !w->a->stopping)
        create_gpunode(w->a); /* someone deleted it: the next heartbeat fills it again */
    free(w);
}

static void send_write(struct agent *a, enum kube_verb verb, const struct kube_call *k,
                       json_t *body, const char *key, enum write_kind kind)
{
    struct write_ctx *w = xcalloc(1, sizeof *w);
    w->a = a;
    w->kind = kind;
    snprintf(w->key, sizeof w->key, "%s", key);
    struct err *e = NULL;
    if (kube_send(a->c, verb, k, body, on_written, w, &e) == NULL) {
        log_warn("%s %s: %s", write_what[kind], key, err_msg(e));
        err_free(&e);
        free(w);
    } else {
        a->outstanding++;
    }
    json_decref(body);
}

static json_t *gpunode_object(const struct agent *a)
{
    return json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", CL_GROUP_VERSION, "kind",
                     "GPUNode", "metadata", "name", a->cfg->node, "spec", "nodeName", a->cfg->node);
}

static void create_gpunode(struct agent *a)
{
    struct kube_call k = {.gvr = &GPUNODES};
    send_write(a, KUBE_CREATE, &k, gpunode_object(a), a->cfg->node, W_CREATE);
}

/* Merge-patches the slice's status with `status` (stolen) and remembers the phase. */
static void write_status(struct agent *a, const struct cl_slice *s, enum cl_phase phase,
                         json_t *status)
{
    json_object_set_new(status, "phase", json_string(cl_phase_name(phase)));
    struct track *t = track_get(a, s->key, true);
    t->wrote_set = true;
    t->wrote = phase;
    snprintf(t->wrote_uid, sizeof t->wrote_uid, "%s", s->uid);
    const char *mig = json_string_value(json_object_get(status, "migUUID"));
    snprintf(t->wrote_uuid, sizeof t->wrote_uuid, "%s", mig ? mig : "");
    struct kube_call k = {.gvr = &GPUSLICES, .ns = s->ns, .name = s->name, .subresource = "status"};
    send_write(a, KUBE_PATCH_MERGE, &k, json_pack("{s:o}", "status", status), s->key, W_STATUS);
}

/* Writes Failed; `nvml`: the failure is NVML's (an NVMLError Event too). */
static void write_failed(struct agent *a, const struct cl_slice *s, const char *msg, bool nvml)
{
    char m[CL_MSG_MAX];
    snprintf(m, sizeof m, "%s", msg);
    log_warn("slice %s failed: %s", s->key, m);
    write_status(a, s, CL_FAILED, json_pack("{s:s, s:n}", "message", m, "migUUID"));
    struct kube_event_ref ref = slice_ref(s);
    if (nvml)
        kube_event_emit(a->rec, &ref, KUBE_EVENT_WARNING, "NVMLError", "Create", "%s", m);
}

static void remove_finalizer(struct agent *a, const struct cl_slice *s)
{
    struct track *t = track_get(a, s->key, true);
    t->finalizing = true;
    struct kube_call k = {.gvr = &GPUSLICES, .ns = s->ns, .name = s->name};
    send_write(a, KUBE_PATCH_JSON, &k, cl_finalizer_patch(s), s->key, W_FINALIZER);
}

/* ---- actions ----------------------------------------------------------------------- */

static void queue_job(struct agent *a, enum cw_kind kind, const char *key, int gi, int prof,
                      uint32_t start, bool fresh)
{
    struct cw_job *job = xcalloc(1, sizeof *job);
    job->kind = kind;
    snprintf(job->key, sizeof job->key, "%s", key);
    job->gpu = (unsigned)gi;
    job->profile = (unsigned)prof;
    job->start = start;
    job->fresh = fresh;
    track_get(a, key, true)->busy = true;
    cw_queue(a->w, job);
}

static void do_create(struct agent *a, const struct cl_slice *s, int gi, int prof)
{
    struct journal_slice e;
    cl_journal_entry(s, (uint32_t)gi, SLICE_CREATING, "", &e);
    uint64_t id = journal_add(a->j, &e)->id;
    if (!save_journal(a)) { /* never NVML before the journal: try again later */
        journal_remove(a->j, id);
        track_get(a, s->key, true)->not_before = kube_now_ms() + BACKOFF_MAX;
        return;
    }
    track_get(a, s->key, true)->creating_at = kube_now_ms(); /* on_tick writes Creating */
    log_info("slice %s: creating %s at %u on GPU %d (%s)", s->key, s->profile, s->start, gi,
             s->gpu_uuid);
    queue_job(a, CW_CREATE, s->key, gi, prof, s->start, true);
}

/* Destroys the entry's instance (teardown, drop or fail). */
static void queue_destroy(struct agent *a, struct journal_slice *e)
{
    int gi = gpu_of(a, e->gpu_uuid);
    int prof = profile_of(a, gi, e->profile);
    if (e->phase != SLICE_RELEASING) {
        e->phase = SLICE_RELEASING;
        save_journal(a);
    }
    if (prof < 0) { /* the GPU is gone (or not MIG any more): nothing of it can be left */
        log_warn("slice %s: GPU %s is not on this node any more; forgetting its entry", e->slice,
                 e->gpu_uuid);
        track_get(a, e->slice, true)->not_before = kube_now_ms() + 1; /* next tick goes on */
        journal_remove(a->j, e->id);
        save_journal(a);
        return;
    }
    queue_job(a, CW_DESTROY, e->slice, gi, prof, e->start, false);
}

/* Is what NVML has at the entry's placement the entry's? A Ready entry's
 * instance must still carry its MIG UUID (else someone replaced it). */
static bool remains_ours(const struct journal_slice *e, const struct cl_view *v)
{
    if (v->inst == CL_INST_GI_ONLY)
        return true;
    return v->inst == CL_INST_FULL &&
           (e->phase != SLICE_READY || (v->inst_uuid && strcmp(v->inst_uuid, e->mig_uuid) == 0));
}

static void do_fail(struct agent *a, const struct cl_slice *s, struct journal_slice *e,
                    const struct cl_view *v, const char *why)
{
    struct track *t = track_get(a, s->key, true);
    if (t->fail_msg[0] == '\0')
        snprintf(t->fail_msg, sizeof t->fail_msg, "%s", why);
    if (e && remains_ours(e, v)) { /* destroyed() writes Failed */
        queue_destroy(a, e);
        return;
    }
    if (e) {
        journal_remove(a->j, e->id);
        save_journal(a);
    }
    write_failed(a, s, t->fail_msg, false);
    t->fail_msg[0] = '\0';
}

static void do_adopt(struct agent *a, const struct cl_slice *s, int gi)
{
    const char *uuid = NULL;
    cl_inst_at(&a->gpus[gi], profile_of(a, gi, s->profile), s->start, &uuid);
    struct journal_slice e;
    cl_journal_entry(s, (uint32_t)gi, SLICE_READY, uuid ? uuid : "", &e);
    journal_add(a->j, &e);
    save_journal(a);
    log_warn("slice %s: Ready with %s but not in the journal: adopted it", s->key, e.mig_uuid);
}

static void act(struct agent *a, const struct cl_slice *s, struct journal_slice *e,
                const struct cl_view *v, enum cl_action act, const char *why)
{
    int gi = s ? gpu_of(a, s->gpu_uuid) : -1;
    int prof = s ? profile_of(a, gi, s->profile) : -1;
    switch (act) {
    case CL_NOTHING:
        break;
    case CL_CREATE:
        do_create(a, s, gi, prof);
        break;
    case CL_RESUME:
        log_info("slice %s: resuming its creation (journal: %s)", s->key,
                 journal_phase_name(e->phase));
        queue_job(a, CW_CREATE, s->key, gi, prof, s->start, false);
        break;
    case CL_TEARDOWN:
    case CL_DROP:
        if (prep_uses(a->prep, e->gpu_uuid, e->start)) { /* the kubelet has not unprepared */
            log_info("slice %s: a prepared claim still holds its instance; its teardown waits "
                     "for the kubelet's NodeUnprepareResources",
                     e->slice);
            track_get(a, e->slice, true)->not_before = kube_now_ms() + 2 * BACKOFF_MIN;
            break;
        }
        if (act == CL_DROP) {
            log_info("slice %s: %s; destroying its instance", e->slice,
                     s ? "not to be realised" : "no GPUSlice any more");
            queue_destroy(a, e);
            break;
        }
        if (s->phase != CL_RELEASING)
            write_status(a, s, CL_RELEASING, json_object());
        log_info("slice %s: tearing it down", s->key);
        queue_destroy(a, e);
        break;
    case CL_FINALIZE:
        remove_finalizer(a, s);
        break;
    case CL_FAIL:
        do_fail(a, s, e, v, why);
        break;
    case CL_ADOPT:
        do_adopt(a, s, gi);
        break;
    }
}

/* Fills the view of `key`: the cached slice (with the phase this agent wrote
 * and the watch has not shown yet), the journal entry, NVML at the placement. */
static void view_of(struct agent *a, const char *key, struct track *t, struct cl_slice *copy,
                    struct cl_view *v)
{
    char ns[64] = "", *slash = strchr(key, '/');
    if (slash && (size_t)(slash - key) < sizeof ns)
        memcpy(ns, key, (size_t)(slash - key));
    const struct cl_slice *s = slash ? kube_cache_get(a->cache, ns, slash + 1) : NULL;
    struct journal_slice *e = cl_journal_find(a->j, key);
    *v = (struct cl_view){.rebooted = a->rebooted};
    if (s) {
        *copy = *s;
        if (t->wrote_set && strcmp(t->wrote_uid, s->uid) == 0 && s->phase != t->wrote &&
            s->phase != CL_RELEASING && !s->deleting) {
            copy->phase = t->wrote;
            snprintf(copy->mig_uuid, sizeof copy->mig_uuid, "%s", t->wrote_uuid);
        } else {
            t->wrote_set = false;
        }
        int gi = gpu_of(a, s->gpu_uuid);
        if (!copy->invalid[0] && strcmp(copy->node, a->cfg->node) != 0)
            snprintf(copy->invalid, sizeof copy->invalid, "spec.nodeName is %.300s, not this node",
                     copy->node);
        else if (!copy->invalid[0] && gi < 0)
            snprintf(copy->invalid, sizeof copy->invalid, "GPU %s is not on node %s",
                     copy->gpu_uuid, a->cfg->node);
        else if (!copy->invalid[0] && profile_of(a, gi, s->profile) < 0)
            snprintf(copy->invalid, sizeof copy->invalid, "GPU %s (%s) has no MIG profile %s",
                     copy->gpu_uuid, a->gpus[gi].name, copy->profile);
        else if (!copy->invalid[0] && !a->gpus[gi].mig_enabled)
            snprintf(copy->invalid, sizeof copy->invalid, "GPU %s has MIG mode off",
                     copy->gpu_uuid);
        v->slice = copy;
    }
    if (e && s && strcmp(e->uid, s->uid) != 0)
        v->slice = NULL; /* the entry is of an older object of that name: an orphan */
    v->entry = e;
    const char *uuid = e ? e->gpu_uuid : s ? s->gpu_uuid : "";
    const char *profile = e ? e->profile : s ? s->profile : "";
    uint32_t start = e ? e->start : s ? s->start : 0;
    int gi = gpu_of(a, uuid);
    if (gi >= 0)
        v->inst = cl_inst_at(&a->gpus[gi], profile_of(a, gi, profile), start, &v->inst_uuid);
}

static void sync_key(struct agent *a, const char *key)
{
    if (!a->have_inventory || !a->synced || a->stopping)
        return;
    struct track *t = track_get(a, key, true);
    if (t->busy || t->finalizing || kube_now_ms() < t->not_before)
        return;
    struct cl_slice copy;
    struct cl_view v;
    view_of(a, key, t, &copy, &v);
    const char *why = NULL;
    enum cl_action action = cl_decide(&v, &why);
    log_debug("slice %s: %s", key, cl_action_name(action));
    act(a, v.slice, (struct journal_slice *)v.entry, &v, action, why);
    if (action == CL_NOTHING && v.slice == NULL && v.entry == NULL && !t->busy && !t->finalizing)
        track_drop(a, t);
}

static void add_key(void *arg, const char *key, const void *item)
{
    (void)item;
    char ***keys = arg;
    size_t n = 0;
    while ((*keys)[n])
        n++;
    *keys = xreallocarray(*keys, n + 2, sizeof **keys);
    (*keys)[n] = xstrdup(key);
    (*keys)[n + 1] = NULL;
}

/* Reconciles every key the API or the journal knows. */
static void sync_all(struct agent *a)
{
    if (!a->have_inventory || !a->synced)
        return;
    char **keys = xcalloc(1, sizeof *keys);
    kube_cache_foreach(a->cache, add_key, &keys);
    for (size_t i = 0; i < a->j->n; i++)
        if (a->j->slices[i].slice[0])
            add_key(&keys, a->j->slices[i].slice, NULL);
    for (size_t i = 0; keys[i]; i++) {
        sync_key(a, keys[i]);
        free(keys[i]);
    }
    free(keys);
}

/* ---- worker results ---------------------------------------------------------------- */

static void set_gpu(struct agent *a, const struct cw_job *job)
{
    if (job->have_gpu && job->gpu < a->ngpus &&
        strcmp(a->gpus[job->gpu].uuid, job->after.uuid) == 0)
        a->gpus[job->gpu] = job->after;
}

static const struct cl_slice *cached(struct agent *a, const char *key, char *ns, size_t cap)
{
    const char *slash = strchr(key, '/');
    if (!slash || (size_t)(slash - key) >= cap)
        return NULL;
    memcpy(ns, key, (size_t)(slash - key));
    ns[slash - key] = '\0';
    return kube_cache_get(a->cache, ns, slash + 1);
}

static void created(struct agent *a, struct cw_job *job, struct track *t)
{
    char ns[64];
    const struct cl_slice *s = cached(a, job->key, ns, sizeof ns);
    struct journal_slice *e = cl_journal_find(a->j, job->key);
    if (e == NULL)
        return;
    e->phase = SLICE_READY;
    e->gi_id = job->mi.gi_id;
    e->ci_id = job->mi.ci_id;
    snprintf(e->mig_uuid, sizeof e->mig_uuid, "%s", job->mi.uuid);
    save_journal(a);
    log_info("slice %s: Ready, GI %u CI %u, %s", job->key, job->mi.gi_id, job->mi.ci_id,
             job->mi.uuid);
    if (s == NULL || strcmp(s->uid, e->uid) != 0 || s->deleting || s->phase == CL_RELEASING)
        return; /* the next sync tears it down */
    char now[40];
    rfc3339(now, sizeof now);
    write_status(a, s, CL_READY,
                 json_pack("{s:s, s:i, s:i, s:s, s:s, s:n}", "migUUID", job->mi.uuid, "giId",
                           (int)job->mi.gi_id, "ciId", (int)job->mi.ci_id, "createdTime", now,
                           "readyTime", now, "message"));
    if (!a->cfg->normal_events)
        return;
    struct kube_event_ref ref = slice_ref(s);
    kube_event_emit(a->rec, &ref, KUBE_EVENT_NORMAL, "SliceCreated", "Create",
                    "created %s at %u on GPU %u (%s): GI %u, CI %u, %s", s->profile, s->start,
                    job->gpu, s->gpu_uuid, job->mi.gi_id, job->mi.ci_id, job->mi.uuid);
    (void)t;
}

static void create_failed(struct agent *a, struct cw_job *job, struct track *t)
{
    char ns[64];
    const struct cl_slice *s = cached(a, job->key, ns, sizeof ns);
    struct journal_slice *e = cl_journal_find(a->j, job->key);
    if (job->left && e) { /* something may be left: destroy it, then Failed */
        snprintf(t->fail_msg, sizeof t->fail_msg, "%s", job->msg);
        t->fail_nvml = true;
        e->phase = SLICE_RELEASING;
        save_journal(a);
        return;
    }
    bool ours = s && e && strcmp(s->uid, e->uid) == 0;
    if (e) {
        journal_remove(a->j, e->id);
        save_journal(a);
    }
    if (ours && !s->deleting && s->phase != CL_RELEASING)
        write_failed(a, s, job->msg, true);
}

static void destroyed(struct agent *a, struct cw_job *job, struct track *t)
{
    char ns[64];
    const struct cl_slice *s = cached(a, job->key, ns, sizeof ns);
    struct journal_slice *e = cl_journal_find(a->j, job->key);
    if (job->rc < 0) {
        unsigned delay = BACKOFF_MIN << (t->attempts < 5 ? t->attempts : 5);
        t->not_before = kube_now_ms() + (delay < BACKOFF_MAX ? delay : BACKOFF_MAX);
        t->attempts++;
        log_warn("slice %s: %s (retrying in %u ms)", job->key, job->msg, delay);
        if (s && e && strcmp(e->uid, s->uid) == 0) {
            char m[CL_MSG_MAX];
            snprintf(m, sizeof m, "teardown waits: %.960s", job->msg);
            struct kube_call k = {
                .gvr = &GPUSLICES, .ns = s->ns, .name = s->name, .subresource = "status"};
            send_write(a, KUBE_PATCH_MERGE, &k, json_pack("{s:{s:s}}", "status", "message", m),
                       s->key, W_MESSAGE);
            struct kube_event_ref ref = slice_ref(s);
            kube_event_emit(a->rec, &ref, KUBE_EVENT_WARNING, "NVMLError", "Destroy", "%s",
                            job->msg);
        }
        return;
    }
    t->attempts = 0;
    bool ours = s && e && strcmp(e->uid, s->uid) == 0;
    if (e) {
        journal_remove(a->j, e->id);
        save_journal(a);
    }
    log_info("slice %s: MIG instance destroyed", job->key);
    if (!ours)
        return;
    struct kube_event_ref ref = slice_ref(s);
    if (a->cfg->normal_events)
        kube_event_emit(a->rec, &ref, KUBE_EVENT_NORMAL, "SliceDestroyed", "Destroy",
                        "destroyed %s at %u on GPU %s", s->profile, s->start, s->gpu_uuid);
    if (t->fail_msg[0] && !s->deleting && s->phase != CL_RELEASING)
        write_failed(a, s, t->fail_msg, t->fail_nvml);
    t->fail_msg[0] = '\0';
    t->fail_nvml = false;
    if (s->deleting && s->finalizer)
        remove_finalizer(a, s);
}

static void report_foreign(struct agent *a)
{
    for (size_t gi = 0; gi < a->ngpus; gi++) {
        const struct mig_gpu *g = &a->gpus[gi];
        for (uint32_t i = 0; i < g->ninst; i++) {
            bool ours = false;
            for (size_t k = 0; k < a->j->n && !ours; k++)
                ours = a->j->slices[k].start == g->inst[i].start &&
                       strcmp(a->j->slices[k].gpu_uuid, g->uuid) == 0;
            char id[160];
            snprintf(id, sizeof id, "%s@%u#%u", g->uuid, g->inst[i].start, g->inst[i].gi_id);
            bool seen = false;
            for (size_t k = 0; k < a->nforeign && !seen; k++)
                seen = strcmp(a->foreign[k], id) == 0;
            if (ours || seen)
                continue;
            a->foreign = xreallocarray(a->foreign, a->nforeign + 1, sizeof *a->foreign);
            snprintf(a->foreign[a->nforeign++], sizeof *a->foreign, "%s", id);
            struct kube_event_ref ref = node_ref(a);
            kube_event_emit(a->rec, &ref, KUBE_EVENT_WARNING, "ForeignInstance", "Discover",
                            "GPU %zu (%s) has GI %u at %u:%u that slicer did not make: left "
                            "alone",
                            gi, g->uuid, g->inst[i].gi_id, g->inst[i].start, g->inst[i].size);
            log_warn("GPU %zu: GI %u at %u:%u is not slicer's: leaving it alone", gi,
                     g->inst[i].gi_id, g->inst[i].start, g->inst[i].size);
        }
    }
}

static void discovered(struct agent *a, struct cw_job *job)
{
    a->discovering = false;
    bool ok = job->rc == 0;
    if (ok) {
        free(a->gpus);
        a->gpus = job->gpus;
        a->ngpus = job->ngpus;
        job->gpus = NULL;
        a->have_inventory = true;
    } else {
        log_error("reading NVML: %s", job->msg);
    }
    a->nvml_ok = ok;
    snprintf(a->nvml_msg, sizeof a->nvml_msg, "%s", ok ? "" : job->msg);
    if (ok && a->synced)
        report_foreign(a);
    publish_node(a);
    sync_all(a);
}

static void on_job(struct agent *a, struct cw_job *job)
{
    if (job->kind == CW_DISCOVER) {
        discovered(a, job);
        return;
    }
    struct track *t = track_get(a, job->key, true);
    t->busy = false;
    t->creating_at = 0;
    set_gpu(a, job);
    if (job->kind == CW_CREATE && job->rc == 0)
        created(a, job, t);
    else if (job->kind == CW_CREATE)
        create_failed(a, job, t);
    else
        destroyed(a, job, t);
    a->node_dirty = true; /* the next tick rewrites the GPUNode's instances */
    sync_key(a, job->key);
    if (a->prep)
        prep_recheck(a->prep); /* an instance a waiting Prepare needs may be there now */
}

static void collect(struct agent *a)
{
    uint64_t v;
    if (read(a->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
        log_warn("reading the worker's counter: %s", strerror(errno));
    for (struct cw_job *j = cw_collect(a->w), *next; j; j = next) {
        next = j->next;
        on_job(a, j);
        cw_job_free(j);
    }
}

/* ---- GPUNode and Node ---------------------------------------------------------------- */

static void on_node_read(void *arg, json_t *obj, const struct err *e)
{
    struct agent *a = arg;
    a->outstanding--;
    if (e) {
        log_warn("reading Node %s: %s", a->cfg->node, err_msg(e));
        json_decref(obj);
        return;
    }
    const json_t *status = json_object_get(obj, "status");
    json_t *patch = cl_capacity_patch(a->gpus, a->ngpus, json_object_get(status, "capacity"));
    bool current = cl_capacity_is_current(patch, status);
    json_decref(obj);
    if (current) { /* the usual heartbeat: nothing changed, nothing to write */
        json_decref(patch);
        return;
    }
    struct kube_call k = {.gvr = &KUBE_NODES, .name = a->cfg->node, .subresource = "status"};
    send_write(a, KUBE_PATCH_MERGE, &k, patch, a->cfg->node, W_NODE);
}

static void publish_capacity(struct agent *a)
{
    struct kube_call k = {.gvr = &KUBE_NODES, .name = a->cfg->node};
    struct err *e = NULL;
    if (kube_send(a->c, KUBE_GET, &k, NULL, on_node_read, a, &e) == NULL) {
        log_warn("reading Node %s: %s", a->cfg->node, err_msg(e));
        err_free(&e);
        return;
    }
    a->outstanding++;
}

static json_t *node_status(struct agent *a, bool ready, const char *reason, const char *msg)
{
    char now[40];
    rfc3339(now, sizeof now);
    if (!a->ready_published || a->ready_last != ready) {
        snprintf(a->ready_since, sizeof a->ready_since, "%s", now);
        a->ready_published = true;
        a->ready_last = ready;
    }
    struct cl_node_info info = {.boot_id = a->boot_id,
                                .version = a->cfg->version ? a->cfg->version : "unknown",
                                .now = now,
                                .ready = ready,
                                .reason = reason,
                                .message = msg,
                                .transition = a->ready_since};
    return cl_gpunode_status(a->gpus, a->ngpus, a->j, &info);
}

struct untake {
    struct agent *a;
    struct rslice_gpu *g;
};

/* A GPUSlice made for a DRA claim: its instance is the claim's allocated device, which the
 * scheduler already counts against the counters; it is not taken capacity. */
static void untake_claimed(void *arg, const char *key, const void *item)
{
    struct untake *u = arg;
    const struct cl_slice *s = item;
    (void)key;
    int gi = s && s->claim_uid[0] ? gpu_of(u->a, s->gpu_uuid) : -1;
    if (gi < 0)
        return;
    struct rslice_gpu *g = &u->g[gi];
    for (size_t k = 0; k < g->ntaken; k++)
        if (g->taken[k].start == s->start) {
            g->taken[k] = g->taken[--g->ntaken];
            return;
        }
}

/* The ResourceSlices the node should have: its GPUs under --handoff dra, none otherwise
 * (so that switching back to the env handoff removes what DRA mode published). */
static void publish_slices(struct agent *a)
{
    if (!a->cfg->dra) {
        rs_pub_set(a->rs, json_array());
        return;
    }
    struct rslice_gpu *g = xcalloc(a->ngpus ? a->ngpus : 1, sizeof *g);
    cl_rslice_gpus(a->gpus, a->ngpus, g);
    struct untake u = {.a = a, .g = g};
    if (a->cache) /* instances that serve a claim are counted by its allocation */
        kube_cache_foreach(a->cache, untake_claimed, &u);
    rs_pub_set(a->rs, rslice_build(a->cfg->node, a->node_uid_k8s, 0, g, a->ngpus));
    free(g);
}

/* Rewrites the GPUNode's status; `capacity`: the Node's capacity too (which
 * depends only on the GPUs, not on their instances: at start and heartbeats). */
static void publish(struct agent *a, bool capacity)
{
    bool ready = a->nvml_ok && a->have_inventory;
    json_t *st = ready ? node_status(a, true, "AgentRunning", "the agent runs and reads NVML")
                       : node_status(a, false, "NVMLError", a->nvml_msg);
    struct kube_call k = {.gvr = &GPUNODES, .name = a->cfg->node, .subresource = "status"};
    a->node_dirty = false;
    send_write(a, KUBE_PATCH_MERGE, &k, json_pack("{s:o}", "status", st), a->cfg->node, W_GPUNODE);
    if (ready && capacity)
        publish_capacity(a);
    if (ready)
        publish_slices(a);
}

static void publish_node(struct agent *a)
{
    publish(a, true);
}

static void discover(struct agent *a)
{
    if (a->discovering)
        return;
    a->discovering = true;
    struct cw_job *job = xcalloc(1, sizeof *job);
    job->kind = CW_DISCOVER;
    cw_queue(a->w, job);
}

/* ---- timers and the cache ---------------------------------------------------------- */

struct timers {
    struct agent *a;
    uint64_t hb_ms;
};

static void on_heartbeat(void *arg)
{
    struct timers *tm = arg;
    discover(tm->a); /* publishes when it returns */
    kube_timer_add(tm->a->c, tm->hb_ms, on_heartbeat, tm);
}

/* Creations that take a while (real MIG creates can take seconds) show as Creating. */
static void note_creating(struct agent *a, uint64_t now)
{
    for (size_t i = 0; i < a->ntracks; i++) {
        struct track *t = a->tracks[i];
        if (!t->busy || t->creating_at == 0 || now - t->creating_at < CREATING_NOTE_MS)
            continue;
        t->creating_at = 0;
        char ns[64];
        const struct cl_slice *s = cached(a, t->key, ns, sizeof ns);
        const char *rv = s ? kube_cache_rv(a->cache, s->ns, s->name) : NULL;
        if (s == NULL || rv == NULL || s->deleting || s->phase != CL_PENDING)
            continue;
        /* Conditional on the version the cache has, so that it never lands over the Ready
         * written when the creation ends (two patches in flight may be applied in any order). */
        struct kube_call k = {
            .gvr = &GPUSLICES, .ns = s->ns, .name = s->name, .subresource = "status"};
        send_write(a, KUBE_PATCH_MERGE, &k,
                   json_pack("{s:{s:s}, s:{s:s, s:n}}", "metadata", "resourceVersion", rv, "status",
                             "phase", cl_phase_name(CL_CREATING), "message"),
                   s->key, W_NOTE);
    }
}

static void on_tick(void *arg)
{
    struct timers *tm = arg;
    struct agent *a = tm->a;
    uint64_t now = kube_now_ms();
    char **keys = xcalloc(1, sizeof *keys);
    for (size_t i = 0; i < a->ntracks; i++)
        if (a->tracks[i]->not_before && a->tracks[i]->not_before <= now && !a->tracks[i]->busy)
            add_key(&keys, a->tracks[i]->key, NULL);
    for (size_t i = 0; keys[i]; i++) {
        struct track *t = track_get(a, keys[i], false);
        if (t)
            t->not_before = 0;
        sync_key(a, keys[i]);
        free(keys[i]);
    }
    free(keys);
    note_creating(a, now);
    rs_pub_tick(a->rs);
    if (a->prep)
        prep_tick(a->prep);
    /* Instances changed since the last GPUNode write: one write per tick at most, however
     * many slices a burst made (each write is the whole status of every GPU). */
    if (a->node_dirty && !a->stopping)
        publish(a, false);
    kube_timer_add(a->c, TICK_MS, on_tick, tm);
}

static void *extract(void *arg, json_t *obj)
{
    (void)arg;
    struct cl_slice *s = xmalloc(sizeof *s);
    struct err *e = NULL;
    if (cl_slice_parse(obj, s, &e) < 0) {
        log_warn("ignoring a GPUSlice: %s", err_msg(e));
        err_free(&e);
        free(s);
        return NULL;
    }
    return s;
}

static void on_add(void *arg, const char *key, const void *item)
{
    struct agent *a = arg;
    (void)item;
    sync_key(a, key);
    if (a->prep)
        prep_recheck(a->prep);
}

static void on_update(void *arg, const char *key, const void *old, const void *item)
{
    (void)old;
    on_add(arg, key, item);
}

static void on_synced(void *arg)
{
    struct agent *a = arg;
    a->synced = true;
    log_info("GPUSlices of node %s listed (%zu): reconciling", a->cfg->node,
             kube_cache_len(a->cache));
    if (a->have_inventory)
        report_foreign(a);
    sync_all(a);
}

static void on_problem(void *arg, const struct err *e)
{
    (void)arg;
    log_warn("GPUSlice watch: %s (it recovers by itself)", err_msg(e));
}

/* ---- the kubelet's side (--handoff dra) ----------------------------------------------------- */

static const struct mig_gpu *env_gpus(void *arg, size_t *n)
{
    struct agent *a = arg;
    *n = a->ngpus;
    return a->gpus;
}

struct slice_find {
    const char *uid, *gpu;
    unsigned start;
    const struct cl_slice *found;
};

static void find_slice(void *arg, const char *key, const void *item)
{
    struct slice_find *f = arg;
    const struct cl_slice *s = item;
    (void)key;
    if (!f->found && s && !s->deleting && s->start == f->start &&
        strcmp(s->claim_uid, f->uid) == 0 && strcmp(s->gpu_uuid, f->gpu) == 0)
        f->found = s;
}

static const struct cl_slice *env_slice(void *arg, const char *uid, const char *gpu_uuid,
                                        unsigned start)
{
    struct agent *a = arg;
    struct slice_find f = {.uid = uid, .gpu = gpu_uuid, .start = start};
    if (a->cache && uid[0])
        kube_cache_foreach(a->cache, find_slice, &f);
    return f.found;
}

static int start_kubelet_side(struct agent *a, struct err **err)
{
    const struct cluster_config *c = a->cfg;
    struct prep_config pc = {
        .node = c->node,
        .state_dir = c->state_dir ? c->state_dir : CLUSTER_DEFAULT_STATE,
        .kubelet_dir = c->kubelet_dir,
        .cdi_dir = c->cdi_dir,
        .host = {.driver_root = c->driver_root,
                 .host_driver_root = c->host_driver_root,
                 .dev_root = c->dev_root,
                 .proc_root = c->proc_root,
                 .hook_path = c->cdi_hook},
        .wait_s = c->prepare_wait_s,
    };
    struct prep_env env = {.c = a->c, .arg = a, .gpus = env_gpus, .slice = env_slice};
    int rc = prep_new(&pc, &env, &a->prep, err);
    if (rc < 0)
        return rc;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = prep_fd(a->prep)};
    if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0)
        return err_set(err, errno, "epoll: %s", strerror(errno));
    return 0;
}

/* ---- set-up ---------------------------------------------------------------------------- */

static int read_boot_id(const char *path, char *buf, size_t cap, struct err **err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return err_set(err, errno, "reading the boot ID from %s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, " \t\r\n")] = '\0';
    if (buf[0] == '\0')
        return err_set(err, EINVAL, "%s holds no boot ID", path);
    return 0;
}

/* Creates the GPUNode when missing; reads the boot ID it recorded last time. */
static int ensure_gpunode(struct agent *a, char *prev_boot, size_t cap, struct err **err)
{
    struct kube_call k = {.gvr = &GPUNODES, .name = a->cfg->node};
    json_t *obj = NULL;
    int rc = kube_get(a->c, &k, &obj, err);
    if (rc == -ENOENT) {
        err_free(err);
        json_t *body = json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", CL_GROUP_VERSION,
                                 "kind", "GPUNode", "metadata", "name", a->cfg->node, "spec",
                                 "nodeName", a->cfg->node);
        struct kube_call ck = {.gvr = &GPUNODES};
        rc = kube_create(a->c, &ck, body, &obj, err);
        json_decref(body);
        if (rc == -EEXIST) {
            err_free(err);
            rc = kube_get(a->c, &k, &obj, err);
        }
    }
    if (rc < 0)
        return err_wrap(err, "GPUNode %s", a->cfg->node);
    const char *uid = json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
    const char *boot = json_string_value(json_object_get(json_object_get(obj, "status"), "bootID"));
    snprintf(a->node_uid, sizeof a->node_uid, "%s", uid ? uid : "");
    snprintf(prev_boot, cap, "%s", boot ? boot : "");
    json_decref(obj);
    return 0;
}

/* The Node's uid, for the ResourceSlices' owner reference (so that deleting the Node
 * deletes them). Without it they are published unowned. */
static void read_node_uid(struct agent *a)
{
    struct kube_call k = {.gvr = &KUBE_NODES, .name = a->cfg->node};
    json_t *obj = NULL;
    struct err *e = NULL;
    if (kube_get(a->c, &k, &obj, &e) < 0) {
        log_warn("reading Node %s: %s (its ResourceSlices are published without an owner)",
                 a->cfg->node, err_msg(e));
        err_free(&e);
        return;
    }
    const char *uid = json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
    snprintf(a->node_uid_k8s, sizeof a->node_uid_k8s, "%s", uid ? uid : "");
    json_decref(obj);
}

static int open_journal(struct agent *a, struct err **err)
{
    const char *dir = a->cfg->state_dir ? a->cfg->state_dir : CLUSTER_DEFAULT_STATE;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, CLUSTER_JOURNAL_FILE) >= (int)sizeof path)
        return err_set(err, ENAMETOOLONG, "--state-dir is too long");
    int rc = journal_mkdirs(dir, err);
    return rc < 0 ? rc : journal_open(path, &a->j, err);
}

static int connect_api(struct agent *a, struct err **err)
{
    struct kube_config *cfg = NULL;
    int rc = kube_config_load(a->cfg->kubeconfig, NULL, &cfg, err);
    if (rc < 0)
        return err_wrap(err, "finding the API server");
    rc = kube_client_new(cfg, NULL, &a->c, err);
    kube_config_free(cfg);
    return rc;
}

static int setup_fds(struct agent *a, struct err **err)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &mask, NULL); /* before the worker starts: it inherits it */
    a->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    a->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    a->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (a->sig_fd < 0 || a->wake_fd < 0 || a->epfd < 0)
        return err_set(err, errno, "setting up the event loop: %s", strerror(errno));
    int fds[3] = {kube_client_fd(a->c), a->sig_fd, a->wake_fd};
    for (int i = 0; i < 3; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fds[i]};
        if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, fds[i], &ev) < 0)
            return err_set(err, errno, "epoll: %s", strerror(errno));
    }
    return 0;
}

static int loop(struct agent *a, struct err **err)
{
    while (!a->stopping) {
        struct epoll_event evs[8];
        int n = epoll_wait(a->epfd, evs, 8, -1);
        if (n < 0 && errno != EINTR)
            return err_set(err, errno, "epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == a->sig_fd) {
                struct signalfd_siginfo si;
                if (read(a->sig_fd, &si, sizeof si) == (ssize_t)sizeof si)
                    log_info("signal %u: stopping", si.ssi_signo);
                a->stopping = true;
            } else if (fd == a->wake_fd) {
                collect(a);
            } else if (a->prep && fd == prep_fd(a->prep)) {
                prep_dispatch(a->prep);
            } else if (kube_client_dispatch(a->c, err) < 0) {
                return err_wrap(err, "the API client");
            }
        }
    }
    return 0;
}

static void drain(struct agent *a);

/* Lets the running NVML call finish and be journaled, says Ready=False, and
 * gives the last writes a moment. */
static void shut_down(struct agent *a)
{
    for (struct cw_job *j = cw_stop(a->w), *next; j; j = next) {
        next = j->next;
        on_job(a, j);
        cw_job_free(j);
    }
    a->w = NULL;
    kube_cache_stop(a->cache);
    a->cache = NULL;
    json_t *st = node_status(a, false, "AgentStopped", "the agent was stopped");
    struct kube_call k = {.gvr = &GPUNODES, .name = a->cfg->node, .subresource = "status"};
    send_write(a, KUBE_PATCH_MERGE, &k, json_pack("{s:o}", "status", st), a->cfg->node, W_GPUNODE);
    drain(a);
}

/* Drives the client until this agent's writes and events are done (bounded). */
static void drain(struct agent *a)
{
    uint64_t until = kube_now_ms() + STOP_DRAIN_MS;
    struct err *e = NULL;
    while ((a->outstanding > 0 || kube_recorder_busy(a->rec) || rs_pub_busy(a->rs)) &&
           kube_now_ms() < until)
        if (kube_client_step(a->c, 100, &e) < 0)
            break;
    err_free(&e);
}

static int start(struct agent *a, struct err **err)
{
    const char *boot_file = a->cfg->boot_id_file ? a->cfg->boot_id_file : CLUSTER_DEFAULT_BOOT_ID;
    char prev[64];
    int rc = read_boot_id(boot_file, a->boot_id, sizeof a->boot_id, err);
    if (rc == 0)
        rc = open_journal(a, err);
    if (rc == 0)
        rc = connect_api(a, err);
    if (rc == 0)
        rc = ensure_gpunode(a, prev, sizeof prev, err);
    if (rc < 0)
        return rc;
    a->rec = kube_recorder_new(a->c, "slicer.dev/agent", a->cfg->node);
    a->rs = rs_pub_new(a->c, a->cfg->node, a->cfg->dra);
    if (a->cfg->dra)
        read_node_uid(a);
    a->rebooted = prev[0] && strcmp(prev, a->boot_id) != 0;
    if (a->rebooted) {
        struct kube_event_ref ref = node_ref(a);
        kube_event_emit(a->rec, &ref, KUBE_EVENT_WARNING, "NodeRebooted", "Start",
                        "boot ID %s, was %s: MIG instances of before the reboot are gone",
                        a->boot_id, prev);
        log_warn("the node rebooted (boot ID %s, was %s)", a->boot_id, prev);
    }
    rc = setup_fds(a, err);
    if (rc == 0 && a->cfg->dra)
        rc = start_kubelet_side(a, err);
    return rc;
}

static void free_agent(struct agent *a)
{
    if (a->w)
        for (struct cw_job *j = cw_stop(a->w), *next; j; j = next) {
            next = j->next;
            cw_job_free(j);
        }
    kube_cache_stop(a->cache);
    kube_recorder_free(a->rec);
    kube_client_free(a->c);
    rs_pub_free(a->rs); /* after the client: its requests are gone, none calls back */
    prep_free(a->prep);
    journal_free(a->j);
    for (size_t i = 0; i < a->ntracks; i++)
        free(a->tracks[i]);
    free(a->tracks);
    free(a->foreign);
    free(a->gpus);
    if (a->sig_fd >= 0)
        close(a->sig_fd);
    if (a->wake_fd >= 0)
        close(a->wake_fd);
    if (a->epfd >= 0)
        close(a->epfd);
}

int cluster_run(const struct cluster_config *cfg, struct err **err)
{
    struct agent a = {.cfg = cfg, .epfd = -1, .wake_fd = -1, .sig_fd = -1};
    struct nvml *nvml = NULL;
    int rc = start(&a, err);
    if (rc == 0)
        rc = nvml_open(cfg->nvml_library, &nvml, err);
    if (rc < 0) {
        if (a.rec) { /* the GPUNode is there: say why before giving up */
            snprintf(a.nvml_msg, sizeof a.nvml_msg, "%s", err && *err ? err_msg(*err) : "");
            publish_node(&a);
            drain(&a);
        }
        free_agent(&a);
        return rc;
    }
    a.w = cw_start(nvml, a.wake_fd);
    struct timers tm = {.a = &a, .hb_ms = (cfg->heartbeat_s ? cfg->heartbeat_s : 30) * 1000ull};
    struct kube_cache_opts co = {.extract = extract,
                                 .on_add = on_add,
                                 .on_update = on_update,
                                 .on_delete = on_add,
                                 .on_synced = on_synced,
                                 .on_problem = on_problem,
                                 .arg = &a};
    char selector[300];
    snprintf(selector, sizeof selector, "%s=%s", CL_NODE_LABEL, cfg->node);
    co.spec = (struct kube_watch_spec){.gvr = &GPUSLICES, .label_selector = selector};
    a.cache = kube_cache_start(a.c, &co);
    discover(&a);
    kube_timer_add(a.c, tm.hb_ms, on_heartbeat, &tm);
    kube_timer_add(a.c, TICK_MS, on_tick, &tm);
    log_info("agent of node %s: journal %s, boot ID %s, heartbeat %llu s", cfg->node, a.j->path,
             a.boot_id, (unsigned long long)(tm.hb_ms / 1000));
    rc = loop(&a, err);
    shut_down(&a);
    free_agent(&a);
    nvml_close(nvml);
    return rc;
}
