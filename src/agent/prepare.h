/* prepare — the agent's answers to the kubelet's DRA calls (--handoff dra;
 * docs/design/dra.md).
 *
 * NodePrepareResources for a claim: the agent reads the ResourceClaim (its
 * uid must match what the kubelet names), takes the devices allocated to it
 * from driver mig.slicer.dev in this node's pool, and waits until each one's
 * GPUSlice (label slicer.dev/claim-uid, same GPU and placement) is Ready and
 * NVML shows its instance; then it writes one CDI spec for the claim
 * (<cdi dir>/mig.slicer.dev-<claim uid>.json) that gives the container those
 * MIG devices and nothing else, records the claim in its journal of prepared
 * claims, and answers with the CDI device IDs. A claim already prepared is
 * answered from the journal (the kubelet repeats calls). A claim that is not
 * allocated here, a device this node does not have, a slice that Failed, or a
 * wait past the deadline is an error the kubelet shows on the pod and retries.
 *
 * NodeUnprepareResources: removes the claim's CDI spec and its journal entry;
 * an unknown claim is success (idempotent, also after a restart).
 *
 * The journal (durable, base/durable.h) survives agent restarts between the
 * kubelet's calls; prep_uses() tells the agent that an instance must not be
 * destroyed yet because a prepared claim holds it.
 *
 * Threads: the agent's event loop only. */
#ifndef SLICER_AGENT_PREPARE_H
#define SLICER_AGENT_PREPARE_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/cluster_model.h"
#include "base/err.h"
#include "cdi/cdi.h"
#include "kube/kube_http.h"
#include "nvml/mig.h"

#define PREP_JOURNAL_FILE    "dra-prepared.json"
#define PREP_DEFAULT_KUBELET "/var/lib/kubelet"
#define PREP_DEFAULT_WAIT_S  120
#define PREP_CLAIM_LABEL     CL_CLAIM_LABEL

struct prep_config {
    const char *node;        /* this node's name = the pool's name */
    const char *state_dir;   /* the journal's folder */
    const char *kubelet_dir; /* NULL: PREP_DEFAULT_KUBELET (plugins_registry/, plugins/) */
    const char *cdi_dir;     /* NULL: CDI_DEFAULT_DIR */
    struct cdi_host host;    /* driver root, dev root, proc root, hook */
    unsigned wait_s;         /* how long a Prepare waits for its slices; 0: the default */
};

/* What the agent lends to the preparer; every callback runs on the loop. */
struct prep_env {
    struct kube_client *c;
    void *arg;
    /* The node's GPUs as NVML showed them last. */
    const struct mig_gpu *(*gpus)(void *arg, size_t *n);
    /* The GPUSlice realising the device at (GPU, start) for claim `uid`, or NULL. */
    const struct cl_slice *(*slice)(void *arg, const char *uid, const char *gpu_uuid,
                                    unsigned start);
};

struct prep;

/* Loads the journal, finds the driver's files and the MIG capability minors
 * (a failure there is kept and reported to each Prepare, not fatal), and
 * starts serving the kubelet's sockets. */
int prep_new(const struct prep_config *cfg, const struct prep_env *env, struct prep **out,
             struct err **err) WARN_UNUSED;

/* The fd for the agent's epoll (EPOLLIN); then call prep_dispatch. */
int prep_fd(const struct prep *p);
void prep_dispatch(struct prep *p);

/* A GPUSlice or the NVML picture changed: waiting Prepares look again. */
void prep_recheck(struct prep *p);

/* Ends the Prepares that waited past their deadline; call from a timer. */
void prep_tick(struct prep *p);

/* True while a prepared claim holds the instance at (GPU, start). */
bool prep_uses(const struct prep *p, const char *gpu_uuid, unsigned start);

/* Answers what is still waiting with an error ("the agent is stopping"),
 * closes the sockets, frees. NULL is a no-op. */
void prep_free(struct prep *p);

#endif
