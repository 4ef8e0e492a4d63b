/* ctl_act — the controller's reconcile pass, its batch and its writes
 * (docs/internals/controller.md). Everything here runs inside the kube
 * client's dispatch; every write is asynchronous (kube_send) and is issued
 * only while ctl_active(). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "controller/ctl_int.h"
#include "objects/resourceclaim.h"
#include "objects/resourceslice.h"

#define UNGATE_TRIES 5

/* ---- slices by pod ------------------------------------------------------------------ */

static void index_add(void *arg, const char *key, const void *item)
{
    (void)key;
    struct ctl_index *ix = arg;
    if (ix->n == ix->cap) {
        ix->cap = ix->cap ? ix->cap * 2 : 64;
        ix->v = xreallocarray(ix->v, ix->cap, sizeof *ix->v);
    }
    ix->v[ix->n++] = item;
}

static int cmp_uid(const void *a, const void *b)
{
    const struct ctl_slice *x = *(const struct ctl_slice *const *)a;
    const struct ctl_slice *y = *(const struct ctl_slice *const *)b;
    int c = strcmp(x->pod_uid, y->pod_uid);
    return c ? c : (x->ordinal > y->ordinal) - (x->ordinal < y->ordinal);
}

static void index_build(struct ctl *ctl, struct ctl_index *ix)
{
    memset(ix, 0, sizeof *ix);
    kube_cache_foreach(ctl->slices, index_add, ix);
    if (ix->n > 1)
        qsort(ix->v, ix->n, sizeof *ix->v, cmp_uid);
}

/* The pod's slices: *first and the count. */
size_t ctl_index_of(const struct ctl_index *ix, const char *uid,
                    const struct ctl_slice *const **first)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(ix->v[mid]->pod_uid, uid) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < ix->n && strcmp(ix->v[end]->pod_uid, uid) == 0)
        end++;
    *first = ix->v + lo;
    return end - lo;
}

static unsigned assumed_for(const struct ctl *ctl, const char *uid)
{
    unsigned n = 0;
    for (size_t i = 0; i < ctl->nassumed; i++)
        n += strcmp(ctl->assumed[i].pod_uid, uid) == 0;
    return n;
}

/* ---- events ----------------------------------------------------------------------- */

static struct kube_event_ref pod_ref(const char *ns, const char *name, const char *uid)
{
    return (struct kube_event_ref){
        .api_version = "v1", .kind = "Pod", .ns = ns, .name = name, .uid = uid};
}

/* ---- timers ----------------------------------------------------------------------- */

static void retry_fired(void *arg)
{
    struct ctl *ctl = arg;
    ctl->retry_timer = NULL;
    ctl_kick(ctl);
}

void ctl_arm_retry(struct ctl *ctl, uint64_t at)
{
    if (ctl->retry_timer && ctl->retry_timer_at <= at)
        return;
    if (ctl->retry_timer)
        kube_timer_cancel(ctl->c, ctl->retry_timer);
    uint64_t now = kube_now_ms();
    ctl->retry_timer = kube_timer_add(ctl->c, at > now ? at - now : 0, retry_fired, ctl);
    ctl->retry_timer_at = at;
}

static void run_batch(struct ctl *ctl);

static void batch_fired(void *arg)
{
    struct ctl *ctl = arg;
    ctl->batch_timer = NULL;
    if (ctl_active(ctl))
        run_batch(ctl);
}

void ctl_arm_batch(struct ctl *ctl)
{
    if (ctl->batch_timer == NULL)
        ctl->batch_timer =
            kube_timer_add(ctl->c, (uint64_t)ctl->cfg.batch_window_ms, batch_fired, ctl);
}

/* ---- release ---------------------------------------------------------------------- */

struct release_req {
    struct ctl *ctl;
    char *ns, *name, *key;
};

static void release_end(struct release_req *r, bool forget)
{
    ctl_pend_done(&r->ctl->releases, r->key, forget);
    free(r->ns);
    free(r->name);
    free(r->key);
    free(r);
}

static void deleted(void *arg, json_t *obj, const struct err *e)
{
    struct release_req *r = arg;
    json_decref(obj);
    if (e && e->code != ENOENT)
        log_warn("controller: deleting GPUSlice %s: %s", r->key, err_msg(e));
    release_end(r, e && e->code != ENOENT);
}

static void send_delete(struct release_req *r)
{
    struct err *e = NULL;
    struct kube_call call = {.gvr = &CTL_GPUSLICES, .ns = r->ns, .name = r->name};
    if (!ctl_active(r->ctl)) {
        release_end(r, true);
        return;
    }
    if (kube_send(r->ctl->c, KUBE_DELETE, &call, NULL, deleted, r, &e) == NULL) {
        log_warn("controller: deleting GPUSlice %s: %s", r->key, err_msg(e));
        err_free(&e);
        release_end(r, true);
    }
}

static void marked_releasing(void *arg, json_t *obj, const struct err *e)
{
    struct release_req *r = arg;
    json_decref(obj);
    if (e && e->code == ENOENT) {
        release_end(r, false);
        return;
    }
    if (e)
        log_warn("controller: marking GPUSlice %s Releasing: %s (deleting it anyway)", r->key,
                 err_msg(e));
    send_delete(r);
}

/* Status Releasing (merge patch on status), then DELETE; the agent's
 * finalizer keeps the object until the MIG instance is gone. */
static void start_release(struct ctl *ctl, const struct ctl_slice *s)
{
    struct release_req *r = xcalloc(1, sizeof *r);
    size_t len = strlen(s->ns) + strlen(s->name) + 2;
    r->ctl = ctl;
    r->ns = xstrdup(s->ns);
    r->name = xstrdup(s->name);
    r->key = xmalloc(len);
    snprintf(r->key, len, "%s/%s", s->ns, s->name);
    ctl_pend_add(&ctl->releases, r->key);
    if (s->phase == CTL_PHASE_RELEASING) {
        send_delete(r);
        return;
    }
    json_t *patch = json_pack("{s:{s:s}}", "status", "phase", "Releasing");
    struct kube_call call = {
        .gvr = &CTL_GPUSLICES, .ns = s->ns, .name = s->name, .subresource = "status"};
    struct err *e = NULL;
    if (kube_send(ctl->c, KUBE_PATCH_MERGE, &call, patch, marked_releasing, r, &e) == NULL) {
        log_warn("controller: marking GPUSlice %s Releasing: %s", r->key, err_msg(e));
        err_free(&e);
        release_end(r, true);
    }
    json_decref(patch);
}

/* Releases every slice not yet being released; returns how many it started. */
static unsigned release_slices(struct ctl *ctl, const struct ctl_slice *const *slices, size_t n)
{
    unsigned issued = 0;
    for (size_t i = 0; i < n; i++) {
        char key[512];
        snprintf(key, sizeof key, "%s/%s", slices[i]->ns, slices[i]->name);
        if (slices[i]->deleting || ctl_pend_has(&ctl->releases, key))
            continue;
        start_release(ctl, slices[i]);
        issued++;
    }
    return issued;
}

static const struct ctl_slice *failed_slice(const struct ctl_slice *const *slices, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (slices[i]->phase == CTL_PHASE_FAILED)
            return slices[i];
    return NULL;
}

static void release_pod(struct ctl *ctl, struct mpod *m, const struct ctl_slice *const *slices,
                        size_t n, enum ctl_release_why why)
{
    struct kube_event_ref ref = pod_ref(m->pod.ns, m->pod.name, m->pod.uid);
    unsigned issued = release_slices(ctl, slices, n);
    if (why == CTL_REL_GATE_REMOVED && !(m->flags & MP_REPORTED_GATE)) {
        m->flags |= MP_REPORTED_GATE;
        kube_event_emit(ctl->rec, &ref, KUBE_EVENT_WARNING, "GateRemoved", "Release",
                        "the scheduling gate %s was removed by someone else before slicer "
                        "placed the pod: no MIG slice is allocated for it%s",
                        CTL_GATE, n ? " (its slices are released)" : "");
        return;
    }
    if (issued == 0 || why == CTL_REL_CONTINUE)
        return;
    uint64_t backoff = (uint64_t)ctl->cfg.retry_backoff_ms;
    if (why == CTL_REL_FAILED) {
        const struct ctl_slice *f = failed_slice(slices, n);
        m->retry_at = kube_now_ms() + backoff;
        ctl_arm_retry(ctl, m->retry_at);
        kube_event_emit(ctl->rec, &ref, KUBE_EVENT_WARNING, "NVMLError", "Release",
                        "slice %s (%s on %s, GPU %s, start %u) failed: %s; releasing the pod's "
                        "%zu slices and placing it again in %llu ms",
                        f->name, f->profile, f->node, f->gpu_uuid, f->start,
                        f->message[0] ? f->message : "no message", n, (unsigned long long)backoff);
        return;
    }
    if (why == CTL_REL_PARTIAL) {
        m->retry_at = kube_now_ms() + backoff;
        ctl_arm_retry(ctl, m->retry_at);
    }
    kube_event_emit(ctl->rec, &ref, KUBE_EVENT_NORMAL, "SliceReleased", "Release",
                    "%s: releasing %u MIG slice(s)%s", ctl_release_why_str(why), issued,
                    why == CTL_REL_PARTIAL ? "; the pod is placed again" : "");
}

/* ---- SliceScheduled, only for a wait ---------------------------------------------- */

/* A pod placed whose slices are not Ready after CTL_SCHEDULED_NOTE_MS gets SliceScheduled
 * (where it was placed: what it waits on); one ungated sooner gets only SliceReady, which
 * names the same placement. One Event, not two, on the usual path. */
static void note_drop(struct ctl *ctl, size_t i)
{
    free(ctl->notes[i].uid);
    free(ctl->notes[i].ns);
    free(ctl->notes[i].name);
    free(ctl->notes[i].text);
    ctl->notes[i] = ctl->notes[--ctl->nnotes];
}

static void note_forget(struct ctl *ctl, const char *uid)
{
    for (size_t i = 0; i < ctl->nnotes; i++)
        if (strcmp(ctl->notes[i].uid, uid) == 0) {
            note_drop(ctl, i);
            return;
        }
}

static void arm_notes(struct ctl *ctl);

static void notes_fired(void *arg)
{
    struct ctl *ctl = arg;
    ctl->note_timer = NULL;
    uint64_t now = kube_now_ms();
    for (size_t i = 0; i < ctl->nnotes;) {
        struct sched_note *n = &ctl->notes[i];
        if (n->due > now) {
            i++;
            continue;
        }
        if (ctl_pend_has(&ctl->ungates, n->uid)) { /* being ungated: SliceReady will say it */
            n->due = now + 200;
            i++;
            continue;
        }
        const struct mpod *m = kube_cache_get(ctl->pods, n->ns, n->name);
        if (m && strcmp(m->pod.uid, n->uid) == 0 && !(m->flags & MP_UNGATE_SENT) &&
            ctl_active(ctl)) {
            struct kube_event_ref ref = pod_ref(n->ns, n->name, n->uid);
            kube_event_emit(ctl->rec, &ref, KUBE_EVENT_NORMAL, "SliceScheduled", "Place",
                            "%s; waiting for the node's agent to create them", n->text);
        }
        note_drop(ctl, i);
    }
    arm_notes(ctl);
}

static void arm_notes(struct ctl *ctl)
{
    if (ctl->note_timer || ctl->nnotes == 0)
        return;
    uint64_t due = ctl->notes[0].due, now = kube_now_ms();
    for (size_t i = 1; i < ctl->nnotes; i++)
        if (ctl->notes[i].due < due)
            due = ctl->notes[i].due;
    ctl->note_timer = kube_timer_add(ctl->c, due > now ? due - now : 0, notes_fired, ctl);
}

void ctl_note_placed(struct ctl *ctl, const struct mpod *m, const char *text)
{
    note_forget(ctl, m->pod.uid);
    if (ctl->nnotes == ctl->cap_notes) {
        ctl->cap_notes = ctl->cap_notes ? ctl->cap_notes * 2 : 16;
        ctl->notes = xreallocarray(ctl->notes, ctl->cap_notes, sizeof *ctl->notes);
    }
    ctl->notes[ctl->nnotes++] =
        (struct sched_note){xstrdup(m->pod.uid), xstrdup(m->pod.ns), xstrdup(m->pod.name),
                            xstrdup(text), kube_now_ms() + CTL_SCHEDULED_NOTE_MS};
    arm_notes(ctl);
}

void ctl_notes_free(struct ctl *ctl)
{
    while (ctl->nnotes)
        note_drop(ctl, 0);
    free(ctl->notes);
    ctl->notes = NULL;
    ctl->cap_notes = 0;
}

/* "node n1: 1g.5gb on GPU-x at start 3, ...": where a pod's slices are (in slice order). */
void ctl_placement_text(const struct ctl_slice *const *v, size_t n, char *buf, size_t cap)
{
    size_t len = (size_t)snprintf(buf, cap, "node %s:", n ? v[0]->node : "?");
    for (unsigned ord = 0; ord < CTL_MAX_SLICES && len < cap; ord++)
        for (size_t k = 0; k < n && len < cap; k++)
            if (v[k]->ordinal == ord)
                len += (size_t)snprintf(buf + len, cap - len, "%s %s on %s at start %u",
                                        ord ? "," : "", v[k]->profile, v[k]->gpu_uuid, v[k]->start);
}

/* ---- ungate ------------------------------------------------------------------------ */

struct ungate_req {
    struct ctl *ctl;
    char *ns, *name, *uid;
    int tries;
    char *placed; /* placement_text of its slices, for SliceReady; the why of SCHED */
    enum ctl_ungate_mode mode;
};

static void ungate_end(struct ungate_req *u)
{
    ctl_pend_done(&u->ctl->ungates, u->uid, true);
    free(u->ns);
    free(u->name);
    free(u->uid);
    free(u->placed);
    free(u);
}

struct collect {
    const char *uid;
    const struct ctl_slice *v[CTL_MAX_SLICES];
    size_t n;
    bool overflow;
};

static void collect_uid(void *arg, const char *key, const void *item)
{
    (void)key;
    struct collect *c = arg;
    const struct ctl_slice *s = item;
    if (strcmp(s->pod_uid, c->uid) != 0)
        return;
    if (c->n < CTL_MAX_SLICES)
        c->v[c->n++] = s;
    else
        c->overflow = true;
}

static void ungate_get(struct ungate_req *u);

static void ungated(void *arg, json_t *obj, const struct err *e)
{
    struct ungate_req *u = arg;
    json_decref(obj);
    if (e && e->code == KUBE_ECONFLICT && u->mode == CTL_UNGATE_ENV && ++u->tries < UNGATE_TRIES) {
        ungate_get(u); /* the pod changed meanwhile: read it again */
        return;
    }
    if (e) {
        /* DRA: a pod changed meanwhile is ungated by the pass its update starts. */
        if (e->code == KUBE_ECONFLICT)
            log_debug("controller: ungating pod %s/%s: %s", u->ns, u->name, err_msg(e));
        else
            log_warn("controller: ungating pod %s/%s: %s", u->ns, u->name, err_msg(e));
        ungate_end(u);
        return;
    }
    /* Until the watch shows the pod ungated, the cache still has it gated: note that the
     * update is done, so that the passes meanwhile do not send it again. */
    struct mpod *m = (struct mpod *)kube_cache_get(u->ctl->pods, u->ns, u->name);
    if (m && strcmp(m->pod.uid, u->uid) == 0)
        m->flags |= MP_UNGATE_SENT;
    note_forget(u->ctl, u->uid);
    struct kube_event_ref ref = pod_ref(u->ns, u->name, u->uid);
    if (u->mode == CTL_UNGATE_ENV)
        kube_event_emit(u->ctl->rec, &ref, KUBE_EVENT_NORMAL, "SliceReady", "Ungate",
                        "every MIG slice is Ready (%s): devices annotated, pinned to its node, "
                        "gate %s removed",
                        u->placed, CTL_GATE);
    else if (u->mode == CTL_UNGATE_DRA)
        kube_event_emit(u->ctl->rec, &ref, KUBE_EVENT_NORMAL, "ClaimsAllocated", "Ungate",
                        "its ResourceClaims are allocated (%s); gate %s removed: the kubelet "
                        "starts it once the node's agent has made its MIG slices",
                        u->placed, CTL_GATE);
    else
        kube_event_emit(u->ctl->rec, &ref, KUBE_EVENT_NORMAL, "SchedulerAllocates", "Ungate",
                        "%s; gate %s removed: kube-scheduler allocates its claims", u->placed,
                        CTL_GATE);
    log_info("controller: pod %s/%s ungated", u->ns, u->name);
    ungate_end(u);
}

/* The pod as read, turned into the ungate update and PUT (with its resourceVersion). */
static void got_pod(void *arg, json_t *obj, const struct err *e)
{
    struct ungate_req *u = arg;
    struct collect c = {.uid = u->uid};
    const struct mpod *m = kube_cache_get(u->ctl->pods, u->ns, u->name);
    struct err *ae = NULL;
    if (e || !ctl_active(u->ctl) || m == NULL || m->invalid) {
        if (e && e->code != ENOENT)
            log_warn("controller: reading pod %s/%s: %s", u->ns, u->name, err_msg(e));
        goto out;
    }
    kube_cache_foreach(u->ctl->slices, collect_uid, &c);
    if (c.overflow || c.n != ctl_pod_slices(&m->pod) || ctl_ungate_apply(obj, c.v, c.n, &ae) < 0) {
        log_debug("controller: pod %s/%s not ungated now: %s", u->ns, u->name,
                  ae ? err_msg(ae) : "its slices changed");
        err_free(&ae);
        goto out;
    }
    struct kube_call call = {.gvr = &KUBE_PODS, .ns = u->ns, .name = u->name};
    if (kube_send(u->ctl->c, KUBE_UPDATE, &call, obj, ungated, u, &ae) != NULL) {
        json_decref(obj);
        return;
    }
    log_warn("controller: ungating pod %s/%s: %s", u->ns, u->name, err_msg(ae));
    err_free(&ae);
out:
    json_decref(obj);
    ungate_end(u);
}

static void ungate_get(struct ungate_req *u)
{
    struct kube_call call = {.gvr = &KUBE_PODS, .ns = u->ns, .name = u->name};
    struct err *e = NULL;
    if (kube_send(u->ctl->c, KUBE_GET, &call, NULL, got_pod, u, &e) == NULL) {
        log_warn("controller: reading pod %s/%s: %s", u->ns, u->name, err_msg(e));
        err_free(&e);
        ungate_end(u);
    }
}

/* The ungate as one merge patch built from the cache, conditional on the resourceVersion the
 * cache saw; a pod changed since (409) is read and updated (ungate_get) in the env handoff,
 * and left to the pass its update starts under DRA (there only the gate goes). */
void ctl_start_ungate(struct ctl *ctl, const struct mpod *m, const struct ctl_slice *const *sl,
                      size_t n, enum ctl_ungate_mode mode, const char *why)
{
    if (ctl_pend_has(&ctl->ungates, m->pod.uid) || (m->flags & MP_UNGATE_SENT))
        return;
    struct err *e = NULL;
    const char *rv = kube_cache_rv(ctl->pods, m->pod.ns, m->pod.name);
    json_t *patch = NULL;
    if (mode == CTL_UNGATE_ENV)
        patch = ctl_ungate_patch(m->pod.uid, rv, sl, n, &e);
    else if (rv)
        patch = json_pack("{s:{s:s, s:s}, s:{s:n}}", "metadata", "uid", m->pod.uid,
                          "resourceVersion", rv, "spec", "schedulingGates");
    if (patch == NULL) {
        log_debug("controller: pod %s/%s not ungated now: %s", m->pod.ns, m->pod.name,
                  e ? err_msg(e) : "no resourceVersion");
        err_free(&e);
        return;
    }
    ctl_pend_add(&ctl->ungates, m->pod.uid);
    char text[KUBE_EVENT_NOTE_MAX / 2];
    if (mode != CTL_UNGATE_ENV && why)
        snprintf(text, sizeof text, "%s", why);
    else
        ctl_placement_text(sl, n, text, sizeof text);
    struct ungate_req *u = xcalloc(1, sizeof *u);
    *u = (struct ungate_req){
        ctl, xstrdup(m->pod.ns), xstrdup(m->pod.name), xstrdup(m->pod.uid), 0, xstrdup(text), mode};
    struct kube_call call = {.gvr = &KUBE_PODS, .ns = u->ns, .name = u->name};
    if (kube_send(ctl->c, KUBE_PATCH_MERGE, &call, patch, ungated, u, &e) == NULL) {
        log_warn("controller: ungating pod %s/%s: %s", u->ns, u->name, err_msg(e));
        err_free(&e);
        ungate_end(u);
    }
    json_decref(patch);
}

/* ---- a slice lost under a running pod -------------------------------------------------- */

struct lost_req {
    struct ctl *ctl;
    char *ns, *name, *uid;
};

static void lost_written(void *arg, json_t *obj, const struct err *e)
{
    struct lost_req *r = arg;
    json_decref(obj);
    if (e) {
        log_warn("controller: failing pod %s/%s: %s", r->ns, r->name, err_msg(e));
        struct mpod *m = (struct mpod *)kube_cache_get(r->ctl->pods, r->ns, r->name);
        if (m && strcmp(m->pod.uid, r->uid) == 0)
            m->flags &= (uint8_t)~MP_LOST_SENT; /* the next pass tries again */
    }
    free(r->ns);
    free(r->name);
    free(r->uid);
    free(r);
}

/* The pod was ungated with a slice that is Failed now (its node rebooted: MIG instances do not
 * survive that, or the instance vanished). A pod cannot be gated again, and its devices are
 * gone: it is failed, as the kubelet fails a pod whose device plugin lost its device, so that
 * its owner (Deployment, Job) makes a new one, which gets new slices. Then released. */
void ctl_fail_lost_pod(struct ctl *ctl, struct mpod *m, const struct ctl_slice *const *sl, size_t n)
{
    if (m->flags & MP_LOST_SENT)
        return;
    const struct ctl_slice *lost = NULL;
    for (size_t i = 0; i < n && !lost; i++)
        if (sl[i]->phase == CTL_PHASE_FAILED)
            lost = sl[i];
    if (lost == NULL)
        return;
    char msg[KUBE_EVENT_NOTE_MAX / 2];
    snprintf(msg, sizeof msg,
             "MIG slice %s (%s on %s, node %s) is lost: %.300s; the pod is failed so that its "
             "owner makes a new one",
             lost->name, lost->profile, lost->gpu_uuid, lost->node,
             lost->message[0] ? lost->message : "Failed");
    json_t *patch = json_pack("{s:{s:s}, s:{s:s, s:s, s:s}}", "metadata", "uid", m->pod.uid,
                              "status", "phase", "Failed", "reason", "SliceLost", "message", msg);
    struct lost_req *r = xcalloc(1, sizeof *r);
    *r = (struct lost_req){ctl, xstrdup(m->pod.ns), xstrdup(m->pod.name), xstrdup(m->pod.uid)};
    struct kube_call call = {
        .gvr = &KUBE_PODS, .ns = m->pod.ns, .name = m->pod.name, .subresource = "status"};
    struct err *e = NULL;
    m->flags |= MP_LOST_SENT;
    if (kube_send(ctl->c, KUBE_PATCH_MERGE, &call, patch, lost_written, r, &e) == NULL) {
        lost_written(r, NULL, e);
        err_free(&e);
    } else {
        struct kube_event_ref ref = pod_ref(m->pod.ns, m->pod.name, m->pod.uid);
        kube_event_emit(ctl->rec, &ref, KUBE_EVENT_WARNING, "SliceLost", "Fail", "%s", msg);
        log_warn("controller: pod %s/%s: %s", m->pod.ns, m->pod.name, msg);
    }
    json_decref(patch);
}

/* ---- the pass ------------------------------------------------------------------------ */

static enum ctl_action decide(struct walk *w, struct mpod *m, const struct ctl_slice *const **sl,
                              size_t *n, enum ctl_release_why *why)
{
    *n = ctl_index_of(w->ix, m->pod.uid, sl);
    struct ctl_pod_facts f = {.pod = &m->pod,
                              .invalid = m->invalid != NULL || m->pod.nasks == 0,
                              .devices_set = m->devices_set,
                              .slices = *sl,
                              .nslices = *n,
                              .assumed = assumed_for(w->ctl, m->pod.uid)};
    return ctl_decide(&f, why);
}

bool ctl_may_place_now(struct walk *w, struct mpod *m)
{
    if (m->retry_at > w->now) {
        ctl_arm_retry(w->ctl, m->retry_at);
        return false;
    }
    return m->nocap_gen != w->ctl->cap_gen; /* NoCapacity: only after capacity changed */
}

static void reconcile_pod(void *arg, const char *key, const void *item)
{
    (void)key;
    struct walk *w = arg;
    struct mpod *m = (struct mpod *)item; /* the controller's own item; its notes are ours */
    const struct ctl_slice *const *sl;
    size_t n;
    enum ctl_release_why why;
    if (m->dra && !m->invalid) {
        ctl_dra_reconcile(w, m);
        return;
    }
    switch (decide(w, m, &sl, &n, &why)) {
    case CTL_ACT_INVALID:
        if (!(m->flags & MP_REPORTED_INVALID)) {
            struct kube_event_ref ref = pod_ref(m->pod.ns, m->pod.name, m->pod.uid);
            m->flags |= MP_REPORTED_INVALID;
            kube_event_emit(w->ctl->rec, &ref, KUBE_EVENT_WARNING, "InvalidRequest", "Place",
                            "the pod's MIG asks cannot be read: %s; nothing is allocated",
                            m->invalid ? m->invalid : "it asks for no mig.slicer.dev resource");
        }
        break;
    case CTL_ACT_RELEASE:
        release_pod(w->ctl, m, sl, n, why);
        break;
    case CTL_ACT_UNGATE:
        ctl_start_ungate(w->ctl, m, sl, n, CTL_UNGATE_ENV, NULL); /* the pass's index has them */
        break;
    case CTL_ACT_LOST:
        ctl_fail_lost_pod(w->ctl, m, sl, n);
        break;
    case CTL_ACT_PLACE:
        if (ctl_may_place_now(w, m))
            ctl_arm_batch(w->ctl);
        break;
    default:
        break;
    }
}

/* The claim a DRA slice serves, when it is still allocated and holds that device. */
static const struct rclaim *claim_of(struct ctl *ctl, const struct ctl_slice *s)
{
    const struct rclaim *c =
        ctl->claims && s->claim_name[0] ? kube_cache_get(ctl->claims, s->ns, s->claim_name) : NULL;
    return c && strcmp(c->uid, s->claim_uid) == 0 && !c->deleting && s->ordinal < c->nres ? c
                                                                                          : NULL;
}

static void reconcile_orphan(void *arg, const char *key, const void *item)
{
    (void)key;
    struct walk *w = arg;
    const struct ctl_slice *s = item;
    if (s->claim_uid[0]) { /* DRA: it lives as long as its claim's allocation */
        if (claim_of(w->ctl, s))
            return;
        const struct ctl_slice *one[] = {s};
        if (release_slices(w->ctl, one, 1) > 0)
            log_info("controller: GPUSlice %s/%s: its claim is deallocated or gone; releasing",
                     s->ns, s->name);
        return;
    }
    const struct mpod *m = kube_cache_get(w->ctl->pods, s->ns, s->pod_name);
    if (m && strcmp(m->pod.uid, s->pod_uid) == 0)
        return;
    const struct ctl_slice *one[] = {s};
    if (release_slices(w->ctl, one, 1) == 0)
        return;
    struct kube_event_ref ref = pod_ref(s->ns, s->pod_name, s->pod_uid);
    kube_event_emit(w->ctl->rec, &ref, KUBE_EVENT_NORMAL, "SliceReleased", "Release",
                    "%s: releasing its MIG slices", ctl_release_why_str(CTL_REL_POD_GONE));
}

/* The cached GPUSlice of key "ns/name", or NULL. */
const struct ctl_slice *ctl_cached_slice(struct ctl *ctl, const char *key)
{
    char ns[256];
    const char *slash = strchr(key, '/');
    if (slash == NULL || (size_t)(slash - key) >= sizeof ns)
        return NULL;
    memcpy(ns, key, (size_t)(slash - key));
    ns[slash - key] = '\0';
    return kube_cache_get(ctl->slices, ns, slash + 1);
}

/* A finished release is forgotten once the cache shows the object deleted or gone. */
static bool release_seen(struct ctl *ctl, const char *key)
{
    const struct ctl_slice *s = ctl_cached_slice(ctl, key);
    return s == NULL || s->deleting;
}

/* Forgets what the caches show by now: assumed creations, finished releases. */
static void prune(struct ctl *ctl)
{
    for (size_t i = 0; i < ctl->nassumed;) {
        if (ctl_cached_slice(ctl, ctl->assumed[i].key) != NULL)
            ctl_assumed_seen(ctl, ctl->assumed[i].key);
        else
            i++;
    }
    ctl_pend_prune(&ctl->releases, release_seen, ctl);
    if (ctl->claims)
        ctl_dra_prune(ctl);
}

static void reconcile_claim(void *arg, const char *key, const void *item);

void ctl_pass(void *arg)
{
    struct ctl *ctl = arg;
    if (!ctl_active(ctl))
        return;
    prune(ctl);
    struct ctl_index ix;
    index_build(ctl, &ix);
    struct walk w = {.ctl = ctl, .ix = &ix, .now = kube_now_ms()};
    kube_cache_foreach(ctl->pods, reconcile_pod, &w);
    if (ctl->claims)
        kube_cache_foreach(ctl->claims, reconcile_claim, &w);
    kube_cache_foreach(ctl->slices, reconcile_orphan, &w);
    free(ix.v);
}

/* ---- the batch ------------------------------------------------------------------------ */

static void collect_candidate(void *arg, const char *key, const void *item)
{
    (void)key;
    struct walk *w = arg;
    struct mpod *m = (struct mpod *)item;
    const struct ctl_slice *const *sl;
    size_t n;
    enum ctl_release_why why;
    if (m->dra && !m->invalid
            ? !ctl_dra_candidate(w, m)
            : decide(w, m, &sl, &n, &why) != CTL_ACT_PLACE || !ctl_may_place_now(w, m))
        return;
    if (w->ncand == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 16;
        w->cand = xreallocarray(w->cand, w->cap, sizeof *w->cand);
    }
    w->cand[w->ncand++] = m;
}

/* The view's input, gathered from the caches. */
struct gather {
    struct ctl *ctl;
    struct ctl_index *ix;
    const struct ctl_node **nodes;
    const struct ctl_gpunode **gpunodes;
    size_t nnodes, capn;
    struct ctl_taken *taken;
    size_t ntaken, capt;
    struct ctl_usage *usage;
    size_t nusage, capu;
};

static void gather_node(void *arg, const char *key, const void *item)
{
    (void)key;
    struct gather *g = arg;
    const struct ctl_node *n = item;
    if (g->nnodes == g->capn) {
        g->capn = g->capn ? g->capn * 2 : 16;
        g->nodes = xreallocarray(g->nodes, g->capn, sizeof *g->nodes);
        g->gpunodes = xreallocarray(g->gpunodes, g->capn, sizeof *g->gpunodes);
    }
    g->nodes[g->nnodes] = n;
    g->gpunodes[g->nnodes++] = kube_cache_get(g->ctl->gpunodes, NULL, n->name);
}

static void add_taken(struct gather *g, struct ctl_taken t)
{
    if (g->ntaken == g->capt) {
        g->capt = g->capt ? g->capt * 2 : 64;
        g->taken = xreallocarray(g->taken, g->capt, sizeof *g->taken);
    }
    g->taken[g->ntaken++] = t;
}

static void add_usage(struct gather *g, struct ctl_usage u)
{
    if (g->nusage == g->capu) {
        g->capu = g->capu ? g->capu * 2 : 64;
        g->usage = xreallocarray(g->usage, g->capu, sizeof *g->usage);
    }
    g->usage[g->nusage++] = u;
}

static void gather_bound(void *arg, const char *key, const void *item)
{
    (void)key;
    const struct upod *u = item;
    add_usage(arg, (struct ctl_usage){u->node, u->cpu_milli, u->memory_bytes});
}

/* A managed pod that is placed but not bound yet uses room on its slices' node. */
static void gather_placed(void *arg, const char *key, const void *item)
{
    (void)key;
    struct gather *g = arg;
    const struct mpod *m = item;
    const struct ctl_slice *const *sl;
    if (m->bound || m->invalid)
        return;
    if (ctl_index_of(g->ix, m->pod.uid, &sl) > 0) {
        add_usage(g, (struct ctl_usage){sl[0]->node, m->pod.cpu_milli, m->pod.memory_bytes});
        return;
    }
    for (size_t i = 0; i < g->ctl->nassumed; i++)
        if (strcmp(g->ctl->assumed[i].pod_uid, m->pod.uid) == 0) {
            add_usage(g, (struct ctl_usage){g->ctl->assumed[i].node, m->pod.cpu_milli,
                                            m->pod.memory_bytes});
            return;
        }
}

static void gather(struct ctl *ctl, struct ctl_index *ix, struct gather *g)
{
    *g = (struct gather){.ctl = ctl, .ix = ix};
    kube_cache_foreach(ctl->nodes, gather_node, g);
    for (size_t i = 0; i < ix->n; i++) {
        const struct ctl_slice *s = ix->v[i];
        if (s->phase != CTL_PHASE_FAILED)
            add_taken(g, (struct ctl_taken){s->node, s->gpu_uuid, s->profile, s->start, s->size});
    }
    for (size_t i = 0; i < ctl->nassumed; i++) {
        const struct assumed *a = &ctl->assumed[i];
        add_taken(g, (struct ctl_taken){a->node, a->gpu_uuid, a->profile, a->start, a->size});
    }
    kube_cache_foreach(ctl->bound, gather_bound, g);
    kube_cache_foreach(ctl->pods, gather_placed, g);
}

static void gather_free(struct gather *g)
{
    free(g->nodes);
    free(g->gpunodes);
    free(g->taken);
    free(g->usage);
}

void ctl_assume(struct ctl *ctl, const char *key, const char *pod_uid, const char *node,
                const char *gpu, const char *profile, uint8_t start, uint8_t size,
                const char *alloc_claim)
{
    for (size_t i = 0; i < ctl->nassumed; i++)
        if (strcmp(ctl->assumed[i].key, key) == 0) { /* its allocation is written: now made */
            ctl->assumed[i].alloc &= alloc_claim != NULL;
            return;
        }
    if (ctl->nassumed == ctl->cap_assumed) {
        ctl->cap_assumed = ctl->cap_assumed ? ctl->cap_assumed * 2 : 16;
        ctl->assumed = xreallocarray(ctl->assumed, ctl->cap_assumed, sizeof *ctl->assumed);
    }
    ctl->assumed[ctl->nassumed++] = (struct assumed){
        xstrdup(key), xstrdup(pod_uid),    xstrdup(node),
        xstrdup(gpu), xstrdup(profile),    start,
        size,         alloc_claim != NULL, alloc_claim ? xstrdup(alloc_claim) : NULL};
}

struct create_req {
    struct ctl *ctl;
    char *key, *ns, *pod_name;
};

static void created(void *arg, json_t *obj, const struct err *e)
{
    struct create_req *r = arg;
    json_decref(obj);
    if (e && e->code != EEXIST) {
        log_warn("controller: creating GPUSlice %s: %s", r->key, err_msg(e));
        ctl_assumed_seen(r->ctl, r->key); /* never made: not taken */
        struct mpod *m = (struct mpod *)kube_cache_get(r->ctl->pods, r->ns, r->pod_name);
        if (m) {
            m->retry_at = kube_now_ms() + (uint64_t)r->ctl->cfg.retry_backoff_ms;
            ctl_arm_retry(r->ctl, m->retry_at);
        }
        ctl_kick(r->ctl);
    }
    free(r->key);
    free(r->ns);
    free(r->pod_name);
    free(r);
}

static void create_slice(struct ctl *ctl, const struct mpod *m, unsigned k,
                         const struct ctl_choice *ch, const char *node, const char *gpu)
{
    json_t *obj = ctl_slice_build(&m->pod, k, ch, node, gpu);
    char name[CTL_SLICE_NAME_MAX], key[512];
    ctl_slice_name(m->pod.name, m->pod.uid, k, name, sizeof name);
    snprintf(key, sizeof key, "%s/%s", m->pod.ns, name);
    ctl_assume(ctl, key, m->pod.uid, node, gpu, m->pod.asks[ch->ask].profile, ch->start, ch->size,
               NULL);
    struct create_req *r = xcalloc(1, sizeof *r);
    *r = (struct create_req){ctl, xstrdup(key), xstrdup(m->pod.ns), xstrdup(m->pod.name)};
    struct kube_call call = {.gvr = &CTL_GPUSLICES, .ns = m->pod.ns};
    struct err *e = NULL;
    if (kube_send(ctl->c, KUBE_CREATE, &call, obj, created, r, &e) == NULL) {
        created(r, NULL, e);
        err_free(&e);
    }
    json_decref(obj);
}

/* ---- DRA: GPUSlices for allocated claims ------------------------------------------------ */

/* GPU `index` of a GPUNode, or NULL. */
static const struct ctl_gpunode_gpu *gpu_by_index(const struct ctl_gpunode *g, uint32_t index)
{
    for (size_t i = 0; g && i < g->ngpus; i++)
        if (g->gpus[i].index == index)
            return &g->gpus[i];
    return NULL;
}

/* A creation of `key` is under way (an allocation being written is not one). */
static bool creating(const struct ctl *ctl, const char *key)
{
    for (size_t i = 0; i < ctl->nassumed; i++)
        if (strcmp(ctl->assumed[i].key, key) == 0)
            return !ctl->assumed[i].alloc;
    return false;
}

/* Makes the GPUSlice of result i of claim c, unless it exists or is being made. */
static void ensure_claim_slice(struct ctl *ctl, const struct rclaim *c, unsigned i)
{
    const struct rclaim_result *r = &c->res[i];
    char name[CTL_SLICE_NAME_MAX], key[512];
    ctl_slice_name(c->name, c->uid, i, name, sizeof name);
    snprintf(key, sizeof key, "%s/%s", c->ns, name);
    if (kube_cache_get(ctl->slices, c->ns, name) || creating(ctl, key))
        return;
    const struct ctl_gpunode *gn = kube_cache_get(ctl->gpunodes, NULL, r->pool);
    unsigned long idx = 0;
    char *end = NULL;
    if (strncmp(r->device, "gpu", 3) == 0)
        idx = strtoul(r->device + 3, &end, 10);
    const struct ctl_gpunode_gpu *gpu = end && *end == '-' ? gpu_by_index(gn, (uint32_t)idx) : NULL;
    unsigned prof = 0, start = 0;
    if (gpu == NULL || !rslice_device_parse(gpu->model, gpu->index, r->device, &prof, &start)) {
        log_warn("controller: claim %s/%s: device %s is not a MIG placement of GPUNode %s", c->ns,
                 c->name, r->device, r->pool);
        return;
    }
    const struct cat_profile *p = &gpu->model->profiles[prof];
    json_t *obj = ctl_slice_build_claim(c, i, p->name, start, p->mem_slices, gpu->uuid);
    ctl_assume(ctl, key, c->pod_uid[0] ? c->pod_uid : c->uid, r->pool, gpu->uuid, p->name,
               (uint8_t)start, p->mem_slices, NULL);
    struct create_req *cr = xcalloc(1, sizeof *cr);
    *cr = (struct create_req){ctl, xstrdup(key), xstrdup(c->ns), xstrdup(c->name)};
    struct kube_call call = {.gvr = &CTL_GPUSLICES, .ns = c->ns};
    struct err *e = NULL;
    log_info("controller: claim %s/%s: GPUSlice %s for %s on %s", c->ns, c->name, name, r->device,
             r->pool);
    if (kube_send(ctl->c, KUBE_CREATE, &call, obj, created, cr, &e) == NULL) {
        created(cr, NULL, e);
        err_free(&e);
    }
    json_decref(obj);
}

static void reconcile_claim(void *arg, const char *key, const void *item)
{
    (void)key;
    struct walk *w = arg;
    const struct rclaim *c = item;
    if (c->deleting)
        return;
    for (unsigned i = 0; i < c->nres; i++)
        ensure_claim_slice(w->ctl, c, i);
}

static void placed(struct ctl *ctl, const struct ctl_view *v, const struct mpod *m,
                   const struct ctl_decision *d)
{
    const struct ctl_gpu_node *n = &v->nodes[d->node];
    char note[KUBE_EVENT_NOTE_MAX];
    size_t len = (size_t)snprintf(note, sizeof note, "node %s:", n->node->name);
    for (unsigned k = 0; k < d->nslices; k++) {
        const struct ctl_choice *ch = &d->slices[k];
        const char *gpu = v->uuids[d->node][ch->gpu];
        create_slice(ctl, m, k, ch, n->node->name, gpu);
        if (len < sizeof note)
            len += (size_t)snprintf(note + len, sizeof note - len, "%s %s on %s at start %u",
                                    k ? "," : "", m->pod.asks[ch->ask].profile, gpu, ch->start);
    }
    ctl_note_placed(ctl, m, note);
    log_info("controller: pod %s/%s placed: %s", m->pod.ns, m->pod.name, note);
}

/* "2 x 1g.5gb, 1 x 3g.20gb": what the pod asks for, for its NoCapacity note. */
static void asks_summary(const struct ctl_pod *p, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (unsigned k = 0; k < p->nasks && len < cap; k++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%u x %s", k ? ", " : "", p->asks[k].count,
                                p->asks[k].profile);
}

static void schedule(struct ctl *ctl, struct ctl_index *ix, struct mpod **cand, size_t ncand)
{
    struct gather g;
    gather(ctl, ix, &g);
    struct ctl_view v;
    ctl_view_build(
        &(struct ctl_view_in){g.nodes, g.nnodes, g.gpunodes, g.taken, g.ntaken, g.usage, g.nusage},
        &v);
    const struct ctl_pod **pods = xcalloc(ncand, sizeof *pods);
    struct ctl_decision *d = xcalloc(ncand, sizeof *d);
    for (size_t i = 0; i < ncand; i++)
        pods[i] = &cand[i]->pod;
    ctl_schedule(v.nodes, v.n, pods, ncand, ctl->cfg.policy, d);
    for (size_t i = 0; i < ncand; i++) {
        if (d[i].node >= 0) {
            if (cand[i]->dra)
                ctl_dra_placed(ctl, &v, cand[i], &d[i]);
            else
                placed(ctl, &v, cand[i], &d[i]);
            continue;
        }
        struct kube_event_ref ref = pod_ref(cand[i]->pod.ns, cand[i]->pod.name, cand[i]->pod.uid);
        cand[i]->nocap_gen = ctl->cap_gen;
        char asks[256];
        asks_summary(&cand[i]->pod, asks, sizeof asks);
        kube_event_emit(ctl->rec, &ref, KUBE_EVENT_WARNING, "NoCapacity", "Place",
                        "no node can take %s now: %s; waiting until capacity frees", asks,
                        d[i].why);
        log_info("controller: pod %s/%s waits: %s", cand[i]->pod.ns, cand[i]->pod.name, d[i].why);
    }
    free(d);
    free(pods);
    ctl_view_free(&v);
    gather_free(&g);
}

static void run_batch(struct ctl *ctl)
{
    prune(ctl);
    struct ctl_index ix;
    index_build(ctl, &ix);
    struct walk w = {.ctl = ctl, .ix = &ix, .now = kube_now_ms()};
    kube_cache_foreach(ctl->pods, collect_candidate, &w);
    if (w.ncand > 0)
        schedule(ctl, &ix, w.cand, w.ncand);
    if (w.ncand >= 16)
        ctl_trim_soon(ctl);
    free(w.cand);
    free(ix.v);
}
