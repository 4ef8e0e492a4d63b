/* cluster_model — the pure parts of the cluster-mode agent
 * (docs/internals/agent.md, contract: docs/internals/cluster.md).
 *
 * GPUSlice objects parsed into small fixed-size structs, the GPUNode status
 * and the Node capacity patch built from NVML discovery, and the reconcile
 * decision: what to do with one slice given the API object, the journal
 * entry and what NVML has at its placement. No I/O, no logging, no NVML
 * calls; everything here is a function of its arguments (unit tested in
 * test/unit/test_agent_cluster.c).
 */
#ifndef SLICER_AGENT_CLUSTER_MODEL_H
#define SLICER_AGENT_CLUSTER_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/journal.h"
#include "base/err.h"
#include "nvml/mig.h"
#include "objects/resourceslice.h"

#define CL_GROUP_VERSION "slicer.dev/v1alpha1"
#define CL_FINALIZER     "slicer.dev/teardown"
#define CL_NODE_LABEL    "slicer.dev/node"
#define CL_CLAIM_LABEL   "slicer.dev/claim-uid" /* DRA: the ResourceClaim the slice serves */
#define CL_KEY_MAX       320                    /* "namespace/name" */
#define CL_MSG_MAX       1000                   /* status.message is capped at 1024 by the CRD */

/* status.phase; CL_PENDING stands for both "Pending" and no phase. */
enum cl_phase { CL_PENDING = 0, CL_CREATING, CL_READY, CL_RELEASING, CL_FAILED };

const char *cl_phase_name(enum cl_phase p);

/* One GPUSlice as the agent needs it. */
struct cl_slice {
    char ns[64], name[254], uid[64];
    char key[CL_KEY_MAX];  /* "ns/name" */
    char claim_uid[64];    /* label CL_CLAIM_LABEL ("" without): the claim it serves */
    bool deleting;         /* metadata.deletionTimestamp is set */
    bool finalizer;        /* metadata.finalizers holds CL_FINALIZER */
    char finalizers[1024]; /* metadata.finalizers as compact JSON ("[]" when absent) */
    char profile[32], node[254], gpu_uuid[96];
    uint32_t start, size;
    enum cl_phase phase;
    char mig_uuid[96];
    char invalid[512]; /* non-empty: the spec cannot be realised, and why */
};

/* Parses a GPUSlice. Fails (EINVAL) only when the metadata cannot be read
 * (no namespace/name/uid) or a field is over its bound; a spec that is
 * missing or wrong gives *out with `invalid` set instead, so that the agent
 * can say so in the slice's status. */
int cl_slice_parse(const json_t *obj, struct cl_slice *out, struct err **err) WARN_UNUSED;

/* The finalizer JSON patch: tests the list is `s->finalizers`, then
 * replaces it with the list without CL_FINALIZER. New reference. */
json_t *cl_finalizer_patch(const struct cl_slice *s);

/* What NVML has at a slice's placement (GPU, start). */
enum cl_inst {
    CL_INST_NONE,    /* no GI starts there */
    CL_INST_GI_ONLY, /* a GI of the slice's profile, without its CI */
    CL_INST_FULL,    /* a GI of the slice's profile with its CI */
    CL_INST_OTHER,   /* a GI of another profile starts there */
};

/* Classifies what `g` holds at `start` for catalog profile `profile`;
 * *uuid (may be NULL) gets the instance's MIG UUID ("" without CI). */
enum cl_inst cl_inst_at(const struct mig_gpu *g, int profile, uint32_t start, const char **uuid);

/* Everything the decision looks at for one slice key. */
struct cl_view {
    const struct cl_slice *slice;      /* NULL: no such object in the API */
    const struct journal_slice *entry; /* NULL: not in the journal */
    enum cl_inst inst;                 /* at the slice's (or entry's) placement */
    const char *inst_uuid;             /* the instance's MIG UUID, or NULL */
    bool rebooted;                     /* the boot ID changed since the last run */
};

enum cl_action {
    CL_NOTHING,
    CL_CREATE,   /* journal (creating), status Creating, mig_create; the placement was free */
    CL_RESUME,   /* journaled already: mig_create again (adopts or finishes), then Ready */
    CL_TEARDOWN, /* status Releasing, mig_destroy, drop the entry, remove the finalizer */
    CL_FINALIZE, /* nothing left to destroy: remove the finalizer */
    CL_DROP,     /* mig_destroy and drop the entry; no status write (no or Failed slice) */
    CL_FAIL,     /* status Failed (why); an entry's instance is destroyed first */
    CL_ADOPT,    /* a Ready slice whose instance (same MIG UUID) is not journaled: journal it */
};

const char *cl_action_name(enum cl_action a);

/* The reconcile decision for one slice (the table in docs/internals/agent.md).
 * *why (may be NULL) gets a sentence for CL_FAIL, else NULL; static text. */
enum cl_action cl_decide(const struct cl_view *v, const char **why);

/* What the GPUNode status says besides the GPUs. */
struct cl_node_info {
    const char *boot_id, *version, *now; /* now: RFC 3339 */
    bool ready;
    const char *reason, *message, *transition; /* Ready condition */
};

/* The GPUNode `status` object: gpus[] (with profiles and instances, each
 * instance's `slice` taken from the journal entry at that GPU and start),
 * gpuCount, bootID, agentVersion, heartbeatTime, conditions. New reference. */
json_t *cl_gpunode_status(const struct mig_gpu *gpus, size_t n, const struct journal *j,
                          const struct cl_node_info *info);

/* The nodes/status merge patch: capacity and allocatable
 * mig.slicer.dev/<suffix> = sum over MIG-enabled GPUs of the most slices of
 * that profile an empty GPU holds; names with that prefix in `current` (the
 * Node's status.capacity, may be NULL) that are no longer offered are set to
 * null (removed). New reference. */
json_t *cl_capacity_patch(const struct mig_gpu *gpus, size_t n, const json_t *current);
/* True when the Node's `status` (capacity and allocatable) already has
 * everything `patch` (from cl_capacity_patch) would write: no write needed. */
bool cl_capacity_is_current(const json_t *patch, const json_t *status);

/* The node's GPUs as objects/resourceslice.h takes them (out has room for n):
 * every instance NVML reports is taken capacity, since no DRA allocation
 * accounts for it yet. Strings point into `gpus`. Returns n. */
size_t cl_rslice_gpus(const struct mig_gpu *gpus, size_t n, struct rslice_gpu *out);

/* A journal entry (no id yet) for slice `s` on GPU index `gpu`, created now. */
void cl_journal_entry(const struct cl_slice *s, uint32_t gpu, enum slice_phase phase,
                      const char *mig_uuid, struct journal_slice *out);

/* The journal entry of slice `key`, or NULL. */
struct journal_slice *cl_journal_find(struct journal *j, const char *key);

#endif
