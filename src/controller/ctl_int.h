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

/* A GPUSlice the controller created and its cache has not shown yet. */
struct assumed {
    char *key; /* "ns/name" */
    char *pod_uid, *node, *gpu_uuid, *profile;
    uint8_t start, size;
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
    struct kube_cache *claims; /* --handoff dra: allocated ResourceClaims of our driver */
    unsigned ncaches;          /* started so far (they start in turn) */
    struct kube_timer *pass_timer, *batch_timer, *retry_timer, *trim_timer;
    uint64_t retry_timer_at;
    uint32_t cap_gen; /* bumped whenever capacity may have grown */
    bool lost;
    bool stopping; /* shutting down: act no more */
    struct assumed *assumed;
    size_t nassumed, cap_assumed;
    struct pendset releases;  /* slice keys being released */
    struct pendset ungates;   /* pod uids being ungated */
    struct sched_note *notes; /* SliceScheduled Events that wait */
    size_t nnotes, cap_notes;
    struct kube_timer *note_timer;
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

#endif
