/* podspec — what the controller keeps of a pod and of a node: the small
 * structs its decisions run on, extracted from the API's JSON at the edge
 * (STYLE: parse at the edge, decide on our own structs). Pure: no I/O.
 *
 * A pod's MIG asks are read back from what the webhook wrote: each container's
 * limits mig.slicer.dev/<profile>: N, keyed by the annotation suffix that will
 * carry its MIG UUIDs ("devices-0", "devices-init-1"). Scheduling constraints
 * (nodeSelector, required node affinity, tolerations) are kept as copies of
 * just those JSON fields; CPU, memory and pod-count demands as integers.
 */
#ifndef SLICER_CONTROLLER_PODSPEC_H
#define SLICER_CONTROLLER_PODSPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

#define CTL_MAX_ASKS    32 /* (container, profile) pairs of one pod */
#define CTL_GATE        "slicer.dev/gpu-slice"
#define CTL_MANAGED     "slicer.dev/managed"
#define CTL_PROFILE_MAX 32

struct ctl_ask {
    char container[32];            /* "devices-<i>" or "devices-init-<i>": the annotation suffix */
    char profile[CTL_PROFILE_MAX]; /* the catalog's name: "1g.5gb+me" */
    unsigned count;
    uint8_t group; /* 0, or asks of one group k > 0 all go on one GPU (DRA: a claim's
                      matchAttribute mig.slicer.dev/parentUUID) */
};

enum ctl_gate_state {
    CTL_GATE_NONE,   /* our gate is gone: released already, or removed by hand */
    CTL_GATE_LAST,   /* ours is the only gate left: the pod may be placed */
    CTL_GATE_WAITING /* others (e.g. Kueue's) are still there: wait for them */
};

/* An entry of the pod's spec.resourceClaims (DRA): the claim it names, or,
 * for a template, the claim kube-controller-manager made from it
 * (status.resourceClaimStatuses; "" until then). */
#define CTL_MAX_POD_CLAIMS 32
struct ctl_pod_claim {
    char *name;     /* the entry's name in the pod */
    char *claim;    /* the ResourceClaim's name, "" while not made yet */
    char *tmpl;     /* resourceClaimTemplateName, "" when it names a claim */
    bool generated; /* from a template (status.resourceClaimStatuses) */
};

struct ctl_pod {
    char *ns, *name, *uid; /* owned */
    enum ctl_gate_state gate;
    bool terminating; /* deletionTimestamp set */
    char phase[16];   /* Pending, Running, Succeeded, Failed, Unknown */
    unsigned nasks;
    struct ctl_ask *asks;            /* owned, nasks entries (at most CTL_MAX_ASKS) */
    int64_t cpu_milli, memory_bytes; /* the pod's effective requests */
    json_t *node_selector;           /* object or NULL */
    json_t *affinity_terms;          /* required nodeSelectorTerms (array) or NULL */
    json_t *tolerations;             /* array or NULL */
    unsigned nclaims;                /* spec.resourceClaims (at most CTL_MAX_POD_CLAIMS) */
    struct ctl_pod_claim *claims;    /* owned, nclaims entries */
};

struct ctl_node {
    char *name; /* owned */
    bool unschedulable;
    json_t *labels;                        /* object (never NULL) */
    json_t *taints;                        /* array or NULL */
    int64_t cpu_milli, memory_bytes, pods; /* allocatable */
};

/* Parses a Kubernetes quantity ("100m", "2", "1.5", "128Mi", "1G", "1e3")
 * into thousandths of a unit (so "100m" is 100, "1Ki" is 1024000). Returns
 * false for anything else or a value that does not fit. */
bool ctl_quantity_milli(const char *q, int64_t *milli);

/* Fills *out from a pod object. Fails (with why) when the pod has no
 * metadata.name/namespace/uid or an ask the controller cannot read (unknown
 * profile, bad count): the webhook refuses such pods, so one that gets here was
 * changed behind its back. Release with ctl_pod_free. */
int ctl_pod_parse(const json_t *pod, struct ctl_pod *out, struct err **err) WARN_UNUSED;
void ctl_pod_free(struct ctl_pod *p);

/* Fills *out from a Node object. Release with ctl_node_free. */
int ctl_node_parse(const json_t *node, struct ctl_node *out, struct err **err) WARN_UNUSED;
void ctl_node_free(struct ctl_node *n);
/* Same schedulability, labels, taints and allocatable: a change may change
 * where pods fit; a status heartbeat alone does not. */
bool ctl_node_equal(const struct ctl_node *a, const struct ctl_node *b);

#endif
