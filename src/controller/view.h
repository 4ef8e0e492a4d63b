/* view — the controller's two pure decisions between the caches and the
 * writes (docs/internals/controller.md):
 *
 *  - ctl_view_build: the cluster as ctl_schedule sees it, from the Nodes, the
 *    GPUNodes, every placement that is taken (cluster.md "Who decides what is
 *    free": GPUSlices not Failed, creations not yet seen, GPUNode instances)
 *    and the CPU/memory/pod count the pods on each node use;
 *  - ctl_decide: what to do next for one pod, given the pod (or its absence)
 *    and all of its GPUSlices: place it, ungate it, release its slices (and
 *    why), or wait.
 */
#ifndef SLICER_CONTROLLER_VIEW_H
#define SLICER_CONTROLLER_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controller/podspec.h"
#include "controller/sched.h"
#include "controller/slice.h"

/* A placement that is taken: by a GPUSlice (any phase but Failed) or by a
 * creation the caches have not shown yet. Strings borrowed. */
struct ctl_taken {
    const char *node, *gpu_uuid, *profile;
    uint8_t start, size;
};

/* CPU, memory and one pod slot a pod uses on a node. */
struct ctl_usage {
    const char *node;
    int64_t cpu_milli, memory_bytes;
};

struct ctl_view_in {
    const struct ctl_node *const *nodes; /* every Node */
    size_t nnodes;
    /* The GPUNode of the same name, or NULL, for each node (parallel to nodes). */
    const struct ctl_gpunode *const *gpunodes;
    const struct ctl_taken *taken;
    size_t ntaken;
    const struct ctl_usage *usage;
    size_t nusage;
};

/* The scheduler's input. Only nodes with a Ready GPUNode and at least one
 * GPU in MIG mode of a model the catalog knows are in it. */
struct ctl_view {
    size_t n;
    struct ctl_gpu_node *nodes; /* n entries; ->node borrowed from the input */
    const char ***uuids;        /* uuids[i][g]: the UUID of nodes[i].gpus[g] (borrowed) */
    struct place_gpu *gpus;     /* storage of every node's gpus */
};

/* Builds *out (release with ctl_view_free). Taken placements that the
 * engine's rules refuse (a foreign instance overlapping a slice, say) still
 * mark their memory slices used: the view errs on the side of "taken". */
void ctl_view_build(const struct ctl_view_in *in, struct ctl_view *out);
void ctl_view_free(struct ctl_view *v);

/* ---- one pod's next step ----------------------------------------------------------- */

enum ctl_action {
    CTL_ACT_NONE,    /* nothing to do (not ours to place now, or running with its slices) */
    CTL_ACT_WAIT,    /* slices being made or released: the next change brings news */
    CTL_ACT_PLACE,   /* gated, ours last, no slices: goes into the next batch */
    CTL_ACT_UNGATE,  /* every slice Ready: the one pod update */
    CTL_ACT_RELEASE, /* release every slice of the pod; `why` says why */
    CTL_ACT_INVALID, /* the pod's asks cannot be read: InvalidRequest, nothing allocated */
    CTL_ACT_LOST,    /* ungated, and a slice it was given is Failed now (the node rebooted, or
                      * the instance vanished): the pod is failed so that its owner makes a
                      * new one, which gets new slices (a pod cannot be gated again) */
};

enum ctl_release_why {
    CTL_REL_NONE,
    CTL_REL_POD_GONE,     /* the pod was deleted (or is another pod of that name) */
    CTL_REL_POD_DONE,     /* Succeeded or Failed */
    CTL_REL_TERMINATING,  /* being deleted while still gated */
    CTL_REL_GATE_REMOVED, /* our gate was removed by someone else before ungate */
    CTL_REL_FAILED,       /* a slice is Failed: release all, place again later */
    CTL_REL_PARTIAL,      /* not the slices the pod needs (crash mid-batch): release, re-place */
    CTL_REL_INVALID,      /* slices of a pod whose asks cannot be read */
    CTL_REL_CONTINUE,     /* a release already began (a slice is Releasing or deleted) */
};

struct ctl_pod_facts {
    const struct ctl_pod *pod; /* NULL: no such pod (caches synced) */
    bool invalid;              /* ctl_pod_parse refused it */
    bool devices_set; /* the pod carries slicer.dev/devices-* for its asks: we ungated it */
    const struct ctl_slice *const *slices; /* every GPUSlice of this pod (by uid) */
    size_t nslices;
    unsigned assumed; /* creations sent for this pod that the cache has not shown yet */
};

enum ctl_action ctl_decide(const struct ctl_pod_facts *f, enum ctl_release_why *why);
const char *ctl_release_why_str(enum ctl_release_why why);

/* Slices of all of the pod's asks. */
unsigned ctl_pod_slices(const struct ctl_pod *p);

#endif
