/* ctl_int — the controller process's state, shared by controller.c (setup,
 * caches, loop) and ctl_act.c (the reconcile pass, the batch, the writes).
 * Internal: not for other modules. */
#ifndef SLICER_CONTROLLER_CTL_INT_H
#define SLICER_CONTROLLER_CTL_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "controller/controller.h"
#include "controller/podspec.h"
#include "controller/slice.h"
#include "controller/view.h"
#include "kube/kube_cache.h"
#include "kube/kube_event.h"
#include "kube/kube_lease.h"

extern const struct kube_gvr CTL_GPUNODES, CTL_GPUSLICES, CTL_RESOURCECLAIMS;

/* Flags of a managed pod that survive its updates (same uid). */
#define MP_REPORTED_INVALID 1u
#define MP_REPORTED_GATE    2u
#define MP_UNGATE_SENT      4u /* our ungate succeeded; the watch has not shown it yet */
#define MP_LOST_SENT        8u /* its slice was lost: the Failed status is sent */

/* A managed pod (label slicer.dev/managed=true) as cached. */
struct mpod {
    bool dra; /* it asks through ResourceClaims (spec.resourceClaims), not mig.slicer.dev/ */
    /* dra: ask k of pod.asks is request ask_req[k] of its ask_claim[k]-th claim of ours */
    uint8_t ask_claim[CTL_MAX_ASKS], ask_req[CTL_MAX_ASKS];
    struct ctl_pod pod; /* when invalid: only ns, name, uid, phase, gate are set */
    char *invalid;      /* why ctl_pod_parse refused it, or NULL */
    bool devices_set;   /* has slicer.dev/devices-<c> for each ask: we ungated it */
    bool bound;         /* spec.nodeName is set */
    uint8_t flags;      /* MP_* */
    uint32_t nocap_gen; /* capacity generation of its last NoCapacity (0: none) */
    uint64_t retry_at;  /* monotonic ms before which it is not placed again */
};

/* A pod bound to a node (any pod, not only managed): what it uses there. */
struct upod {
    char *node;
    int64_t cpu_milli, memory_bytes;
};

/* A GPUSlice the controller created and its cache has not shown yet; or, under
 * --handoff dra, the GPUSlice of a claim whose allocation slicer is writing
 * (alloc: not being created yet; the claim's cache entry will bring it). */
struct assumed {
    char *key; /* "ns/name" */
    char *pod_uid, *node, *gpu_uuid, *profile;
    uint8_t start, size;
    bool alloc;
    char *claim; /* alloc: the claim's "ns/name" */
};

/* A write in flight (or done and not yet seen in the cache), by key. */
struct pending {
    char *key;
    bool done;
};

struct pendset {
    struct pending *v;
    size_t n, cap;
};

/* A placement whose SliceScheduled Event waits: sent at `due` unless the pod is ungated first. */
struct sched_note {
    char *uid, *ns, *name, *text;
    uint64_t due; /* monotonic ms */
};

/* How long a placed pod waits for its slices before SliceScheduled says where it waits. */
#define CTL_SCHEDULED_NOTE_MS 1000

/* --handoff dra: a pod whose claims' allocation slicer is writing; its gate goes when the
 * last write succeeds (ctl_dra.c). */
struct dra_inflight {
    char *uid, *ns, *name;
    char *text; /* where, for the Event */
    unsigned left;
    bool failed;
};

struct ctl {
    struct ctl_config cfg;
    struct kube_client *c;
    /* The Lease's own client (own connection and rate limit), so that a renewal never
     * waits behind a burst of slice writes: client-go's controllers do the same. */
    struct kube_client *lc;
    struct kube_client *ec; /* Events' own client (kube_recorder), so they queue apart */
    struct kube_recorder *rec;
    struct kube_lease *lease;
    struct kube_cache *pods, *bound, *nodes, *gpunodes, *slices;
    struct kube_cache *claims; /* --handoff dra: every ResourceClaim (others by identity only) */
    unsigned ncaches;          /* started so far (they start in turn) */
    struct kube_timer *pass_timer, *batch_timer, *retry_timer, *trim_timer;
    uint64_t retry_timer_at;
    uint32_t cap_gen; /* bumped whenever capacity may have grown */
    bool lost;
    bool stopping; /* shutting down: act no more */
    struct assumed *assumed;
    size_t nassumed, cap_assumed;
    struct pendset releases; /* slice keys being released */
    struct pendset ungates;  /* pod uids being ungated */
    struct pendset allocs; /* --handoff dra: claims ("ns/name") whose allocation is being written */
    struct pendset deallocs;   /* --handoff dra: claims whose allocation slicer is undoing */
    struct pendset finalizing; /* --handoff dra: claims getting the delete-protection finalizer */
    struct pendset templates;  /* --handoff dra: templates ("ns/name") made (or being made) */
    struct dra_inflight *inflight; /* --handoff dra: pods whose allocation is being written */
    size_t ninflight, cap_inflight;
    struct sched_note *notes; /* SliceScheduled Events that wait */
    size_t nnotes, cap_notes;
    struct kube_timer *note_timer;
};

/* The GPUSlices of the cache by pod uid (the pass's and the batch's index). */
struct ctl_index {
    const struct ctl_slice **v;
    size_t n, cap;
};

/* One pass over the pods, or one batch. */
struct walk {
    struct ctl *ctl;
    struct ctl_index *ix;
    uint64_t now;
    /* batch only: pods to place */
    struct mpod **cand;
    size_t ncand, cap;
};

/* True when this process may act: every cache synced and (without
 * election, or) leading now. */
bool ctl_active(const struct ctl *ctl);
/* Schedules a reconcile pass soon (once, however often it is called). */
void ctl_kick(struct ctl *ctl);
/* Hands freed heap back to the system in a second (glibc malloc_trim): after
 * a list or a large batch, whose JSON and scratch are freed by then. */
void ctl_trim_soon(struct ctl *ctl);
/* Capacity may have grown: pods that got NoCapacity are tried again. */
void ctl_capacity_changed(struct ctl *ctl);
/* Forgets the assumed creation of `key` (the cache shows it now). */
void ctl_assumed_seen(struct ctl *ctl, const char *key);
/* Drops pending entries of `set` whose write is done and whose effect the
 * caches show (`seen` says so). */
void ctl_pend_prune(struct pendset *set, bool (*seen)(struct ctl *, const char *), struct ctl *ctl);
bool ctl_pend_has(const struct pendset *set, const char *key);
void ctl_pend_add(struct pendset *set, const char *key);
void ctl_pend_done(struct pendset *set, const char *key, bool forget);
void ctl_pend_free(struct pendset *set);
void ctl_assumed_free_all(struct ctl *ctl);
void ctl_notes_free(struct ctl *ctl);

/* The caches this controller starts (5, and the claims' under --handoff dra). */
unsigned ctl_ncaches(const struct ctl *ctl);

/* The reconcile pass (ctl_act.c): every pod and every slice once. */
void ctl_pass(void *arg);

/* ---- shared by ctl_act.c and ctl_dra.c ---- */
/* The pod's slices: *first and the count. */
size_t ctl_index_of(const struct ctl_index *ix, const char *uid,
                    const struct ctl_slice *const **first);
void ctl_arm_retry(struct ctl *ctl, uint64_t at);
void ctl_arm_batch(struct ctl *ctl);
bool ctl_may_place_now(struct walk *w, struct mpod *m);
const struct ctl_slice *ctl_cached_slice(struct ctl *ctl, const char *key);
/* Counts a placement as taken until the GPUSlice cache shows `key` (alloc: see struct assumed). */
void ctl_assume(struct ctl *ctl, const char *key, const char *pod_uid, const char *node,
                const char *gpu, const char *profile, uint8_t start, uint8_t size,
                const char *alloc_claim);
void ctl_note_placed(struct ctl *ctl, const struct mpod *m, const char *text);
void ctl_placement_text(const struct ctl_slice *const *v, size_t n, char *buf, size_t cap);
void ctl_fail_lost_pod(struct ctl *ctl, struct mpod *m, const struct ctl_slice *const *sl,
                       size_t n);
/* How an ungate hands the pod on. */
enum ctl_ungate_mode {
    CTL_UNGATE_ENV,   /* devices annotated and pinned (env handoff) */
    CTL_UNGATE_DRA,   /* its claims are allocated by slicer: only the gate goes (`why`: where) */
    CTL_UNGATE_SCHED, /* slicer does not place its claims: kube-scheduler allocates them */
};
/* Starts the pod's ungate unless one is under way; `sl` (n) are its slices, `why` the
 * Event's text for CTL_UNGATE_SCHED. */
void ctl_start_ungate(struct ctl *ctl, const struct mpod *m, const struct ctl_slice *const *sl,
                      size_t n, enum ctl_ungate_mode mode, const char *why);

/* ---- ctl_dra.c: pods whose claims slicer places (--handoff dra) ---- */
/* The pod's next step, acted on (the pass). */
void ctl_dra_reconcile(struct walk *w, struct mpod *m);
/* True when the pod goes into the batch now; fills m->pod.asks from its claims. */
bool ctl_dra_candidate(struct walk *w, struct mpod *m);
/* Writes the allocation of the pod's claims as decided (the batch). */
void ctl_dra_placed(struct ctl *ctl, const struct ctl_view *v, struct mpod *m,
                    const struct ctl_decision *d);
/* Forgets allocation writes the claims cache shows by now. */
void ctl_dra_prune(struct ctl *ctl);
void ctl_dra_free(struct ctl *ctl);

#endif
