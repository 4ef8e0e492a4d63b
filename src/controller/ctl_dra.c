/* ctl_dra — pods whose ResourceClaims slicer places, under --handoff dra
 * (docs/design/dra.md, docs/internals/controller.md).
 *
 * A gated managed pod that asks through spec.resourceClaims is resolved
 * against the claims cache: the claims of class mig.slicer.dev it uses. When
 * every one is plain (one profile, a count) and none is allocated, the pod
 * goes into the batch like any other, the placement engine decides, and the
 * decision is written as each claim's allocation, as kube-scheduler would:
 * the delete-protection finalizer, then status.allocation (the devices of this
 * node's pool, the node's selector) with the pod in reservedFor. The claims
 * path of ctl_act.c then makes one GPUSlice per device; when they are all
 * Ready the gate goes, and kube-scheduler binds the pod where its claims are.
 * Claims slicer cannot read (other selectors, constraints, other classes) are
 * left to kube-scheduler's allocator: the pod is ungated at once, saying so.
 * Everything here runs inside the kube client's dispatch. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "controller/ctl_int.h"
#include "core/resname.h"
#include "objects/resourceclaim.h"
#include "objects/resourceslice.h"

static const struct kube_gvr TEMPLATES = {"resource.k8s.io", "v1", "resourceclaimtemplates", true};

/* The pod's claims of class mig.slicer.dev, as cached now. */
struct resolved {
    const struct rclaim *c[CTL_MAX_POD_CLAIMS];
    unsigned n;
    bool waiting;     /* a claim is not made or not cached yet */
    bool writing;     /* an allocation (or its undoing) is being written */
    unsigned nalloc;  /* allocated, by anyone */
    unsigned nmine;   /* allocated and reserved for this pod */
    unsigned nslices; /* devices of the claims reserved for this pod */
    char leave[256];  /* not "": kube-scheduler allocates, and why */
};

static void claim_key(const char *ns, const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", ns, name);
}

/* ---- templates ---------------------------------------------------------------------- */

struct tmpl_req {
    struct ctl *ctl;
    char *key;
};

static void tmpl_made(void *arg, json_t *obj, const struct err *e)
{
    struct tmpl_req *r = arg;
    json_decref(obj);
    if (e && e->code != EEXIST)
        log_warn("controller: making ResourceClaimTemplate %s: %s", r->key, err_msg(e));
    else
        log_info("controller: ResourceClaimTemplate %s %s", r->key, e ? "exists" : "made");
    ctl_pend_done(&r->ctl->templates, r->key, e && e->code != EEXIST);
    free(r->key);
    free(r);
}

/* The webhook points pods at slicer's per-profile templates; kube-controller-manager makes
 * each pod's claim from its template once the template exists (it retries meanwhile). */
static void ensure_template(struct ctl *ctl, const char *ns, const char *name)
{
    const char *profile;
    unsigned count;
    char key[512];
    claim_key(ns, name, key, sizeof key);
    if (ctl_pend_has(&ctl->templates, key) || !res_template_parse(name, &profile, &count))
        return;
    ctl_pend_add(&ctl->templates, key);
    json_t *obj = rclaim_template_build(ns, name, profile, count);
    struct tmpl_req *r = xcalloc(1, sizeof *r);
    *r = (struct tmpl_req){ctl, xstrdup(key)};
    struct kube_call call = {.gvr = &TEMPLATES, .ns = ns};
    struct err *e = NULL;
    if (kube_send(ctl->c, KUBE_CREATE, &call, obj, tmpl_made, r, &e) == NULL) {
        tmpl_made(r, NULL, e);
        err_free(&e);
    }
    json_decref(obj);
}

/* ---- resolving a pod's claims ---------------------------------------------------------- */

static bool slicer_template(const char *tmpl)
{
    return strncmp(tmpl, RES_TEMPLATE_PREFIX, strlen(RES_TEMPLATE_PREFIX)) == 0;
}

/* Fills *r, and the pod's asks (one per request) when its claims are placeable. */
static void resolve(struct ctl *ctl, struct mpod *m, struct resolved *r)
{
    const struct ctl_pod *p = &m->pod;
    memset(r, 0, sizeof *r);
    for (unsigned i = 0; i < p->nclaims; i++) {
        const struct ctl_pod_claim *pc = &p->claims[i];
        char key[512];
        if (pc->claim[0] == '\0') { /* kube-controller-manager has not made it yet */
            if (slicer_template(pc->tmpl))
                ensure_template(ctl, p->ns, pc->tmpl);
            r->waiting = true;
            continue;
        }
        const struct rclaim *c = kube_cache_get(ctl->claims, p->ns, pc->claim);
        if (c == NULL) { /* not in the cache yet (it holds every claim) */
            r->waiting = true;
            continue;
        }
        if (c->nreq == 0 && c->nres == 0)
            continue; /* another driver's */
        r->c[r->n++] = c;
        claim_key(c->ns, c->name, key, sizeof key);
        r->writing |= ctl_pend_has(&ctl->allocs, key) || ctl_pend_has(&ctl->deallocs, key);
        if (c->allocated) {
            r->nalloc++;
            if (strcmp(c->pod_uid, p->uid) == 0) {
                r->nmine++;
                r->nslices += (unsigned)c->nres;
            }
        } else if (!rclaim_placeable(c) && r->leave[0] == '\0') {
            snprintf(r->leave, sizeof r->leave,
                     "ResourceClaim %s asks in a form slicer's placement does not read (only "
                     "requests of one profile by `device.attributes[\"%s\"].profile == \"...\"`, "
                     "ExactCount, no constraint but matchAttribute parentUUID, no other classes)",
                     c->name, RSLICE_DRIVER);
        }
    }
    if (r->waiting || r->leave[0] || r->n == 0 || r->nalloc > 0)
        return;
    unsigned k = 0, slices = 0;
    m->pod.asks = xreallocarray(m->pod.asks, CTL_MAX_ASKS, sizeof *m->pod.asks);
    for (unsigned j = 0; j < r->n; j++)
        for (size_t q = 0; q < r->c[j]->nreq; q++) {
            const struct rclaim_request *rq = &r->c[j]->req[q];
            if (k == CTL_MAX_ASKS || slices + rq->count > CTL_MAX_SLICES ||
                strlen(rq->profile) >= CTL_PROFILE_MAX) {
                snprintf(r->leave, sizeof r->leave,
                         "its claims ask more than slicer places for one pod (%d requests, %d "
                         "slices)",
                         CTL_MAX_ASKS, CTL_MAX_SLICES);
                m->pod.nasks = 0;
                return;
            }
            struct ctl_ask *a = &m->pod.asks[k];
            snprintf(a->container, sizeof a->container, "%s", rq->name);
            snprintf(a->profile, sizeof a->profile, "%s", rq->profile);
            a->count = rq->count;
            a->group = r->c[j]->same_gpu ? (uint8_t)(j + 1) : 0;
            m->ask_claim[k] = (uint8_t)j;
            m->ask_req[k] = (uint8_t)q;
            slices += rq->count;
            k++;
        }
    m->pod.nasks = k;
}

/* ---- undoing an allocation ------------------------------------------------------------- */

struct dealloc_req {
    struct ctl *ctl;
    char *key;
};

static void deallocated(void *arg, json_t *obj, const struct err *e)
{
    struct dealloc_req *r = arg;
    json_decref(obj);
    if (e)
        log_warn("controller: deallocating ResourceClaim %s: %s", r->key, err_msg(e));
    ctl_pend_done(&r->ctl->deallocs, r->key, e != NULL);
    ctl_kick(r->ctl);
    free(r->key);
    free(r);
}

/* Clears the allocation of the pod's claims reserved for it (their GPUSlices are released
 * once the cache shows it), so that the pod is placed again. */
static void deallocate_mine(struct ctl *ctl, const struct mpod *m, const struct resolved *r)
{
    for (unsigned j = 0; j < r->n; j++) {
        const struct rclaim *c = r->c[j];
        char key[512];
        const char *rv = kube_cache_rv(ctl->claims, c->ns, c->name);
        if (!c->allocated || strcmp(c->pod_uid, m->pod.uid) != 0 || rv == NULL)
            continue;
        claim_key(c->ns, c->name, key, sizeof key);
        ctl_pend_add(&ctl->deallocs, key);
        json_t *patch = rclaim_deallocation_patch(c->uid, rv);
        struct dealloc_req *d = xcalloc(1, sizeof *d);
        *d = (struct dealloc_req){ctl, xstrdup(key)};
        struct kube_call call = {
            .gvr = &CTL_RESOURCECLAIMS, .ns = c->ns, .name = c->name, .subresource = "status"};
        struct err *e = NULL;
        log_info("controller: deallocating ResourceClaim %s of pod %s/%s", key, m->pod.ns,
                 m->pod.name);
        if (kube_send(ctl->c, KUBE_PATCH_MERGE, &call, patch, deallocated, d, &e) == NULL) {
            deallocated(d, NULL, e);
            err_free(&e);
        }
        json_decref(patch);
    }
}

static const struct ctl_slice *failed_of(const struct ctl_slice *const *sl, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (sl[i]->phase == CTL_PHASE_FAILED)
            return sl[i];
    return NULL;
}

static bool ended(const struct ctl_pod *p)
{
    return strcmp(p->phase, "Succeeded") == 0 || strcmp(p->phase, "Failed") == 0;
}

/* ---- the finalizer, ahead of the allocation ---------------------------------------------- */

struct fin_req {
    struct ctl *ctl;
    char *key;
};

static void fin_added(void *arg, json_t *obj, const struct err *e)
{
    struct fin_req *f = arg;
    json_decref(obj);
    if (e)
        log_debug("controller: ResourceClaim %s: adding the finalizer: %s", f->key, err_msg(e));
    ctl_pend_done(&f->ctl->finalizing, f->key, e != NULL);
    if (e)
        ctl_kick(f->ctl);
    free(f->key);
    free(f);
}

/* kube-scheduler adds the delete-protection finalizer before it writes an allocation; slicer
 * adds it while the pod waits for its batch, so that the allocation is one write when the batch
 * decides. On a claim never allocated it is harmless: kube-controller-manager removes it when
 * the claim is deleted. */
static void add_finalizers(struct ctl *ctl, const struct resolved *r)
{
    for (unsigned j = 0; j < r->n; j++) {
        const struct rclaim *c = r->c[j];
        char key[512];
        const char *rv = kube_cache_rv(ctl->claims, c->ns, c->name);
        claim_key(c->ns, c->name, key, sizeof key);
        if (c->finalizer || rv == NULL || ctl_pend_has(&ctl->finalizing, key))
            continue;
        ctl_pend_add(&ctl->finalizing, key);
        json_t *patch = rclaim_finalizer_patch(c->uid, rv, c->has_finalizers);
        struct fin_req *f = xcalloc(1, sizeof *f);
        *f = (struct fin_req){ctl, xstrdup(key)};
        struct kube_call call = {.gvr = &CTL_RESOURCECLAIMS, .ns = c->ns, .name = c->name};
        struct err *e = NULL;
        if (kube_send(ctl->c, KUBE_PATCH_JSON, &call, patch, fin_added, f, &e) == NULL) {
            fin_added(f, NULL, e);
            err_free(&e);
        }
        json_decref(patch);
    }
}

/* A claim whose finalizer is being added (or added and not cached yet) waits for it. */
static bool finalizing(struct ctl *ctl, const struct resolved *r)
{
    for (unsigned j = 0; j < r->n; j++) {
        char key[512];
        claim_key(r->c[j]->ns, r->c[j]->name, key, sizeof key);
        if (!r->c[j]->finalizer && ctl_pend_has(&ctl->finalizing, key))
            return true;
    }
    return false;
}

/* ---- the pass ------------------------------------------------------------------------- */

void ctl_dra_reconcile(struct walk *w, struct mpod *m)
{
    struct ctl *ctl = w->ctl;
    const struct ctl_pod *p = &m->pod;
    const struct ctl_slice *const *sl;
    size_t n = ctl_index_of(w->ix, p->uid, &sl);
    /* Its claims follow the pod: kube-controller-manager deallocates or deletes them when
     * it ends or goes, and their GPUSlices go with them (ctl_act.c, reconcile_orphan). */
    if (ended(p) || p->terminating || p->gate == CTL_GATE_WAITING)
        return;
    if (p->gate == CTL_GATE_NONE) { /* a slice that failed or was lost fails the pod */
        if (failed_of(sl, n))
            ctl_fail_lost_pod(ctl, m, sl, n);
        return;
    }
    struct resolved r;
    resolve(ctl, m, &r);
    if (r.waiting || r.writing)
        return;
    if (r.n == 0) {
        ctl_start_ungate(ctl, m, NULL, 0, CTL_UNGATE_SCHED,
                         "none of its ResourceClaims asks for class " RCLAIM_CLASS);
        return;
    }
    if (r.nalloc == 0) {
        if (r.leave[0]) {
            ctl_start_ungate(ctl, m, NULL, 0, CTL_UNGATE_SCHED, r.leave);
            return;
        }
        add_finalizers(ctl, &r);
        if (ctl_may_place_now(w, m))
            ctl_arm_batch(ctl);
        return;
    }
    if (r.nmine < r.n) {
        /* Some claims allocated for it and some not (a write failed, or slicer stopped
         * between two): undo ours and place it again. Claims allocated by someone else
         * (a claim shared with another pod) are kube-scheduler's to reserve. */
        if (r.nmine > 0) {
            deallocate_mine(ctl, m, &r);
            return;
        }
        ctl_start_ungate(ctl, m, NULL, 0, CTL_UNGATE_SCHED,
                         "its ResourceClaims are allocated already");
        return;
    }
    const struct ctl_slice *f = failed_of(sl, n);
    if (f) {
        struct kube_event_ref ref = {
            .api_version = "v1", .kind = "Pod", .ns = p->ns, .name = p->name, .uid = p->uid};
        uint64_t backoff = (uint64_t)ctl->cfg.retry_backoff_ms;
        m->retry_at = kube_now_ms() + backoff;
        ctl_arm_retry(ctl, m->retry_at);
        kube_event_emit(ctl->rec, &ref, KUBE_EVENT_WARNING, "NVMLError", "Release",
                        "slice %s (%s on %s, GPU %s, start %u) failed: %s; deallocating the "
                        "pod's claims and placing it again in %llu ms",
                        f->name, f->profile, f->node, f->gpu_uuid, f->start,
                        f->message[0] ? f->message : "no message", (unsigned long long)backoff);
        deallocate_mine(ctl, m, &r);
        return;
    }
    /* Every claim is allocated for it: the gate goes now, not once the instances are made.
     * kube-scheduler binds the pod meanwhile and the kubelet's NodePrepareResources waits
     * for the GPUSlices to be Ready (agent/prepare.c), so that making the MIG instances
     * (seconds on a real GPU) overlaps binding, image pulls and the pod's sandbox. A slice
     * that fails after this fails the pod (above), whose owner makes a new one. */
    char text[KUBE_EVENT_NOTE_MAX / 2];
    size_t len = 0;
    text[0] = '\0';
    for (unsigned j = 0; j < r.n && len < sizeof text; j++)
        for (size_t i = 0; i < r.c[j]->nres && len < sizeof text; i++) {
            const struct rclaim_result *res = &r.c[j]->res[i];
            if (len == 0)
                len = (size_t)snprintf(text, sizeof text, "node %s: ", res->pool);
            else
                len += (size_t)snprintf(text + len, sizeof text - len, ", ");
            if (len < sizeof text)
                len += (size_t)snprintf(text + len, sizeof text - len, "%s (claim %s)", res->device,
                                        r.c[j]->name);
        }
    ctl_start_ungate(ctl, m, sl, n, CTL_UNGATE_DRA, text);
}

bool ctl_dra_candidate(struct walk *w, struct mpod *m)
{
    const struct ctl_pod *p = &m->pod;
    if (ended(p) || p->terminating || p->gate != CTL_GATE_LAST)
        return false;
    struct resolved r;
    resolve(w->ctl, m, &r);
    return !r.waiting && !r.writing && !r.leave[0] && r.n > 0 && r.nalloc == 0 &&
           m->pod.nasks > 0 && !finalizing(w->ctl, &r) && ctl_may_place_now(w, m);
}

/* ---- writing the allocation ------------------------------------------------------------- */

static struct dra_inflight *inflight_of(struct ctl *ctl, const char *uid)
{
    for (size_t i = 0; i < ctl->ninflight; i++)
        if (strcmp(ctl->inflight[i].uid, uid) == 0)
            return &ctl->inflight[i];
    return NULL;
}

static void inflight_drop(struct ctl *ctl, struct dra_inflight *f)
{
    free(f->uid);
    free(f->ns);
    free(f->name);
    free(f->text);
    *f = ctl->inflight[--ctl->ninflight];
}

void ctl_dra_free(struct ctl *ctl)
{
    while (ctl->ninflight)
        inflight_drop(ctl, &ctl->inflight[0]);
    free(ctl->inflight);
    ctl->inflight = NULL;
    ctl->cap_inflight = 0;
}

/* One of the pod's allocation writes ended: after the last, if all succeeded, the gate goes at
 * once, without waiting for the claims cache to show them (kube-scheduler reads the claims;
 * one it has not seen allocated yet it would allocate itself, and its write fails on the
 * resourceVersion: it retries with ours). */
static void inflight_done(struct ctl *ctl, const char *uid, bool ok)
{
    struct dra_inflight *f = inflight_of(ctl, uid);
    if (f == NULL)
        return;
    f->failed |= !ok;
    if (--f->left > 0)
        return;
    const struct mpod *m = f->failed ? NULL : kube_cache_get(ctl->pods, f->ns, f->name);
    if (m && strcmp(m->pod.uid, f->uid) == 0 && m->pod.gate == CTL_GATE_LAST && ctl_active(ctl))
        ctl_start_ungate(ctl, m, NULL, 0, CTL_UNGATE_DRA, f->text);
    inflight_drop(ctl, f);
}

struct alloc_req {
    struct ctl *ctl;
    char *ns, *name, *uid, *key; /* the claim */
    char *pod_ns, *pod_name, *pod_uid, *node;
    size_t n;
    char *req[CTL_MAX_SLICES], *dev[CTL_MAX_SLICES];
};

static void alloc_end(struct alloc_req *a, const struct err *e)
{
    struct ctl *ctl = a->ctl;
    if (e) {
        if (e->code == KUBE_ECONFLICT)
            log_info("controller: ResourceClaim %s changed meanwhile; the pod is placed again",
                     a->key);
        else
            log_warn("controller: allocating ResourceClaim %s: %s", a->key, err_msg(e));
        for (size_t i = 0; i < a->n; i++) { /* never allocated: not taken */
            char name[CTL_SLICE_NAME_MAX], key[512];
            ctl_slice_name(a->name, a->uid, (unsigned)i, name, sizeof name);
            snprintf(key, sizeof key, "%s/%s", a->ns, name);
            ctl_assumed_seen(ctl, key);
        }
        struct mpod *m = (struct mpod *)kube_cache_get(ctl->pods, a->pod_ns, a->pod_name);
        if (m && strcmp(m->pod.uid, a->pod_uid) == 0 && e->code != KUBE_ECONFLICT) {
            m->retry_at = kube_now_ms() + (uint64_t)ctl->cfg.retry_backoff_ms;
            ctl_arm_retry(ctl, m->retry_at);
        }
        ctl_kick(ctl);
    } else {
        log_info("controller: ResourceClaim %s allocated on %s for pod %s/%s", a->key, a->node,
                 a->pod_ns, a->pod_name);
    }
    ctl_pend_done(&ctl->allocs, a->key, e != NULL);
    inflight_done(ctl, a->pod_uid, e == NULL);
    for (size_t i = 0; i < a->n; i++) {
        free(a->req[i]);
        free(a->dev[i]);
    }
    free(a->ns);
    free(a->name);
    free(a->uid);
    free(a->key);
    free(a->pod_ns);
    free(a->pod_name);
    free(a->pod_uid);
    free(a->node);
    free(a);
}

static void status_written(void *arg, json_t *obj, const struct err *e)
{
    json_decref(obj);
    alloc_end(arg, e);
}

static void send_status(struct alloc_req *a, const char *rv)
{
    struct rclaim_pick picks[CTL_MAX_SLICES];
    for (size_t i = 0; i < a->n; i++)
        picks[i] = (struct rclaim_pick){a->req[i], a->dev[i]};
    json_t *patch =
        rclaim_allocation_patch(a->uid, rv, a->node, picks, a->n, a->pod_name, a->pod_uid);
    struct kube_call call = {
        .gvr = &CTL_RESOURCECLAIMS, .ns = a->ns, .name = a->name, .subresource = "status"};
    struct err *e = NULL;
    if (!ctl_active(a->ctl))
        err_set(&e, ECANCELED, "not leading");
    else if (kube_send(a->ctl->c, KUBE_PATCH_MERGE, &call, patch, status_written, a, &e) != NULL)
        e = NULL;
    json_decref(patch);
    if (e) {
        alloc_end(a, e);
        err_free(&e);
    }
}

static void finalizer_added(void *arg, json_t *obj, const struct err *e)
{
    struct alloc_req *a = arg;
    const char *rv =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    if (e || rv == NULL) {
        struct err *own = NULL;
        if (e == NULL)
            err_set(&own, EPROTO, "the finalizer's answer has no resourceVersion");
        alloc_end(a, e ? e : own);
        err_free(&own);
    } else {
        send_status(a, rv);
    }
    json_decref(obj);
}

/* The GPU index (DRA device names use it) of `uuid` on GPUNode `node`. */
static bool gpu_index(struct ctl *ctl, const char *node, const char *uuid, uint32_t *index)
{
    const struct ctl_gpunode *g = kube_cache_get(ctl->gpunodes, NULL, node);
    for (size_t i = 0; g && i < g->ngpus; i++)
        if (strcmp(g->gpus[i].uuid, uuid) == 0) {
            *index = g->gpus[i].index;
            return true;
        }
    return false;
}

/* One claim's share of the decision, written: finalizer (unless there), then status. */
static void allocate_claim(struct ctl *ctl, const struct ctl_view *v, const struct mpod *m,
                           const struct ctl_decision *d, const struct rclaim *c, unsigned j,
                           char *note, size_t *len, size_t cap)
{
    const struct ctl_gpu_node *nd = &v->nodes[d->node];
    const char *node = nd->node->name;
    char key[512];
    claim_key(c->ns, c->name, key, sizeof key);
    struct alloc_req *a = xcalloc(1, sizeof *a);
    *a = (struct alloc_req){.ctl = ctl,
                            .ns = xstrdup(c->ns),
                            .name = xstrdup(c->name),
                            .uid = xstrdup(c->uid),
                            .key = xstrdup(key),
                            .pod_ns = xstrdup(m->pod.ns),
                            .pod_name = xstrdup(m->pod.name),
                            .pod_uid = xstrdup(m->pod.uid),
                            .node = xstrdup(node)};
    ctl_pend_add(&ctl->allocs, key);
    for (unsigned k = 0; k < d->nslices; k++) {
        const struct ctl_choice *ch = &d->slices[k];
        if (m->ask_claim[ch->ask] != j)
            continue;
        const char *uuid = v->uuids[d->node][ch->gpu];
        const char *profile = m->pod.asks[ch->ask].profile;
        uint32_t index;
        char dev[RSLICE_NAME_MAX], sname[CTL_SLICE_NAME_MAX], skey[512];
        if (!gpu_index(ctl, node, uuid, &index)) {
            struct err *e = NULL;
            err_set(&e, ENOENT, "GPU %s is not on GPUNode %s any more", uuid, node);
            alloc_end(a, e);
            err_free(&e);
            return;
        }
        rslice_device_name(index, profile, ch->start, dev, sizeof dev);
        ctl_slice_name(c->name, c->uid, (unsigned)a->n, sname, sizeof sname);
        snprintf(skey, sizeof skey, "%s/%s", c->ns, sname);
        ctl_assume(ctl, skey, m->pod.uid, node, uuid, profile, ch->start, ch->size, key);
        a->req[a->n] = xstrdup(c->req[m->ask_req[ch->ask]].name);
        a->dev[a->n++] = xstrdup(dev);
        if (*len < cap)
            *len += (size_t)snprintf(note + *len, cap - *len, "%s %s (claim %s)",
                                     *len > strlen(node) + 6 ? "," : "", dev, c->name);
    }
    const char *rv = kube_cache_rv(ctl->claims, c->ns, c->name);
    if (rv == NULL) {
        struct err *e = NULL;
        err_set(&e, ENOENT, "not in the cache any more");
        alloc_end(a, e);
        err_free(&e);
        return;
    }
    if (c->finalizer) {
        send_status(a, rv);
        return;
    }
    json_t *patch = rclaim_finalizer_patch(c->uid, rv, c->has_finalizers);
    struct kube_call call = {.gvr = &CTL_RESOURCECLAIMS, .ns = c->ns, .name = c->name};
    struct err *e = NULL;
    if (kube_send(ctl->c, KUBE_PATCH_JSON, &call, patch, finalizer_added, a, &e) == NULL) {
        alloc_end(a, e);
        err_free(&e);
    }
    json_decref(patch);
}

void ctl_dra_placed(struct ctl *ctl, const struct ctl_view *v, struct mpod *m,
                    const struct ctl_decision *d)
{
    struct resolved r;
    uint8_t claim[CTL_MAX_ASKS], req[CTL_MAX_ASKS];
    memcpy(claim, m->ask_claim, sizeof claim);
    memcpy(req, m->ask_req, sizeof req);
    resolve(ctl, m, &r); /* the same caches as when it was collected: the same asks */
    if (r.waiting || r.writing || r.leave[0] || r.nalloc > 0 ||
        memcmp(claim, m->ask_claim, sizeof claim) != 0 || memcmp(req, m->ask_req, sizeof req) != 0)
        return;
    const char *node = v->nodes[d->node].node->name;
    char note[KUBE_EVENT_NOTE_MAX];
    size_t len = (size_t)snprintf(note, sizeof note, "node %s:", node);
    struct dra_inflight *old = inflight_of(ctl, m->pod.uid);
    if (old)
        inflight_drop(ctl, old);
    if (ctl->ninflight == ctl->cap_inflight) {
        ctl->cap_inflight = ctl->cap_inflight ? ctl->cap_inflight * 2 : 16;
        ctl->inflight = xreallocarray(ctl->inflight, ctl->cap_inflight, sizeof *ctl->inflight);
    }
    ctl->inflight[ctl->ninflight++] = (struct dra_inflight){
        xstrdup(m->pod.uid), xstrdup(m->pod.ns), xstrdup(m->pod.name), NULL, r.n + 1, false};
    for (unsigned j = 0; j < r.n; j++)
        allocate_claim(ctl, v, m, d, r.c[j], j, note, &len, sizeof note);
    struct dra_inflight *f = inflight_of(ctl, m->pod.uid);
    if (f) { /* the extra count kept it until the note was whole */
        f->text = xstrdup(note);
        inflight_done(ctl, m->pod.uid, true);
    }
    ctl_note_placed(ctl, m, note);
    log_info("controller: pod %s/%s placed: %s", m->pod.ns, m->pod.name, note);
}

/* ---- forgetting --------------------------------------------------------------------------- */

static const struct rclaim *claim_at(struct ctl *ctl, const char *key)
{
    char ns[256];
    const char *slash = strchr(key, '/');
    if (slash == NULL || (size_t)(slash - key) >= sizeof ns)
        return NULL;
    memcpy(ns, key, (size_t)(slash - key));
    ns[slash - key] = '\0';
    return kube_cache_get(ctl->claims, ns, slash + 1);
}

static bool alloc_seen(struct ctl *ctl, const char *key)
{
    const struct rclaim *c = claim_at(ctl, key);
    return c == NULL || c->allocated;
}

static bool dealloc_seen(struct ctl *ctl, const char *key)
{
    const struct rclaim *c = claim_at(ctl, key);
    return c == NULL || !c->allocated;
}

static bool finalizer_seen(struct ctl *ctl, const char *key)
{
    const struct rclaim *c = claim_at(ctl, key);
    return c == NULL || c->finalizer;
}

void ctl_dra_prune(struct ctl *ctl)
{
    ctl_pend_prune(&ctl->finalizing, finalizer_seen, ctl);
    ctl_pend_prune(&ctl->allocs, alloc_seen, ctl);
    ctl_pend_prune(&ctl->deallocs, dealloc_seen, ctl);
    /* A placement assumed for an allocation that is written and seen, whose claim is gone or
     * deallocated before its GPUSlice was made, is not taken any more. */
    for (size_t i = 0; i < ctl->nassumed;) {
        const struct assumed *a = &ctl->assumed[i];
        const struct rclaim *c = a->alloc ? claim_at(ctl, a->claim) : NULL;
        if (a->alloc && !ctl_pend_has(&ctl->allocs, a->claim) && (c == NULL || !c->allocated))
            ctl_assumed_seen(ctl, a->key);
        else
            i++;
    }
}
