/* slice — the controller's side of the cluster-mode objects
 * (docs/internals/cluster.md): GPUSlices (names, the object it creates, what
 * it keeps of one it reads), GPUNodes (what it keeps of the agent's report),
 * and the pod's one update at ungate. Pure: JSON in, JSON or small structs
 * out, no I/O.
 */
#ifndef SLICER_CONTROLLER_SLICE_H
#define SLICER_CONTROLLER_SLICE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "controller/podspec.h"
#include "controller/sched.h"
#include "core/catalog.h"

#define CTL_GROUP          "slicer.dev"
#define CTL_VERSION        "v1alpha1"
#define CTL_FINALIZER      "slicer.dev/teardown"
#define CTL_LABEL_NODE     "slicer.dev/node"
#define CTL_LABEL_POD_UID  "slicer.dev/pod-uid"
#define CTL_LABEL_CLAIM    "slicer.dev/claim-uid"
#define CTL_DEVICES_ANNOT  "slicer.dev/devices-"
#define CTL_HOSTNAME       "kubernetes.io/hostname"
#define CTL_SLICE_NAME_MAX 64 /* 40 + '-' + 8 + '-' + up to 2 digits, with room */

enum ctl_phase {
    CTL_PHASE_PENDING, /* no status yet, or Pending */
    CTL_PHASE_CREATING,
    CTL_PHASE_READY,
    CTL_PHASE_RELEASING,
    CTL_PHASE_FAILED,
};

/* What the controller keeps of one GPUSlice. Strings owned. */
struct ctl_slice {
    char *ns, *name;
    char *pod_name, *pod_uid, *container, *profile, *node, *gpu_uuid;
    char *mig_uuid; /* "" until Ready */
    char *message;  /* "" when none */
    uint8_t start, size;
    uint8_t ordinal;  /* the trailing <n> of the name: the slice's place in the pod */
    char *claim_uid;  /* label slicer.dev/claim-uid: the ResourceClaim it serves ("" for a pod's) */
    char *claim_name; /* that claim's name, from the owner reference ("" for a pod's) */
    bool deleting;    /* metadata.deletionTimestamp is set */
    enum ctl_phase phase;
};

/* Writes the slice's deterministic name, `<pod name cut to 40, trailing '-'
 * and '.' dropped>-<first 8 chars of uid>-<n>`, into buf (at least
 * CTL_SLICE_NAME_MAX bytes). A valid pod name gives a valid DNS subdomain. */
void ctl_slice_name(const char *pod_name, const char *pod_uid, unsigned n, char *buf, size_t cap);

/* The GPUSlice for slice `n` (the ordinal) of `pod`, as decided by `choice`,
 * on `node` (GPU `gpu_uuid`): name, labels, owner reference (controller:
 * true), finalizer and spec as the contract says. Returns a new object. */
json_t *ctl_slice_build(const struct ctl_pod *pod, unsigned n, const struct ctl_choice *choice,
                        const char *node, const char *gpu_uuid);

/* The GPUSlice for result `i` of an allocated ResourceClaim (DRA): named
 * like a pod's slice after the claim (name, uid, i), labelled with the node,
 * the claim's uid and its pod's, owned by the claim (so that deleting the
 * claim deletes it), with the finalizer; spec.podName/podUID are the pod the
 * claim is reserved for (the claim's own name and uid while none is), the
 * container is the claim's request. Returns a new object. */
struct rclaim;
json_t *ctl_slice_build_claim(const struct rclaim *c, unsigned i, const char *profile,
                              unsigned start, unsigned size, const char *gpu_uuid);

/* Reads a GPUSlice object into *out (release with ctl_slice_free). Fails
 * (EINVAL) when a field the controller needs is absent. */
int ctl_slice_parse(const json_t *obj, struct ctl_slice *out, struct err **err) WARN_UNUSED;
void ctl_slice_free(struct ctl_slice *s);
const char *ctl_phase_name(enum ctl_phase p);

/* ---- GPUNode ------------------------------------------------------------- */

struct ctl_instance {
    uint8_t start, size;
    int8_t profile; /* index into the model's profiles, -1 when the catalog lacks it */
};

struct ctl_gpunode_gpu {
    char *uuid;                  /* owned */
    uint32_t index;              /* NVML index (status.gpus[].index): DRA device names use it */
    const struct cat_gpu *model; /* NULL: a model the catalog does not know (never used) */
    bool mig;                    /* MIG mode on */
    uint8_t ninst;
    struct ctl_instance inst[16];
};

/* What the controller keeps of one GPUNode (heartbeat and versions dropped). */
struct ctl_gpunode {
    char *name; /* owned */
    bool ready; /* condition Ready is True */
    size_t ngpus;
    struct ctl_gpunode_gpu *gpus; /* owned, ngpus entries (at most CTL_MAX_GPUS) */
};

int ctl_gpunode_parse(const json_t *obj, struct ctl_gpunode *out, struct err **err) WARN_UNUSED;
void ctl_gpunode_free(struct ctl_gpunode *g);
/* Same GPUs, models, MIG modes, instances and readiness: a change here may
 * change capacity; a new heartbeat alone does not. */
bool ctl_gpunode_equal(const struct ctl_gpunode *a, const struct ctl_gpunode *b);

/* ---- the pod's ungate ------------------------------------------------------ */

/* Turns `pod` (a full Pod as read from the API, modified in place) into the
 * object of the one ungate update: annotations slicer.dev/devices-<i> = the
 * MIG UUIDs of that container's slices, comma-joined in ordinal order;
 * spec.nodeSelector["kubernetes.io/hostname"] = the slices' node; our gate
 * removed from spec.schedulingGates (others kept). `slices` are all of the
 * pod's slices, each Ready. Fails with ESTALE when the pod is not the one
 * the slices belong to (uid), ENOENT when our gate is gone already, EINVAL
 * when the slices are not all Ready on one node. */
int ctl_ungate_apply(json_t *pod, const struct ctl_slice *const *slices, size_t n,
                     struct err **err) WARN_UNUSED;

/* The same update as a JSON merge patch, for a pod whose gate is known (from
 * the cache) to be ours alone: the annotations, the pin, and
 * spec.schedulingGates removed, with metadata.resourceVersion = rv so that
 * the apiserver applies it only to the pod the cache saw (409 Conflict
 * otherwise: then read the pod and use ctl_ungate_apply). One write and no
 * read. NULL (with why) when the slices are not all Ready on one node of the
 * pod `uid` or rv is missing. The patch names the uid too (immutable: a
 * pod made again under that name fails it). */
json_t *ctl_ungate_patch(const char *uid, const char *rv, const struct ctl_slice *const *slices,
                         size_t n, struct err **err);

#endif
