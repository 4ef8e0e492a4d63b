/* resourceclaim — what slicer reads of a ResourceClaim (resource.k8s.io/v1)
 * and the writes it makes to one (docs/design/dra.md): its identity, what it
 * asks of class mig.slicer.dev, the pod it is reserved for, and the devices of
 * driver mig.slicer.dev its allocation holds; the allocation slicer's
 * placement writes and the ResourceClaimTemplate the webhook points pods at.
 * Pure. */
#ifndef SLICER_OBJECTS_RESOURCECLAIM_H
#define SLICER_OBJECTS_RESOURCECLAIM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define RCLAIM_MAX_RESULTS  32 /* AllocationResultsMaxSize */
#define RCLAIM_MAX_REQUESTS 32 /* DeviceRequestsMaxSize */
#define RCLAIM_CLASS        "mig.slicer.dev"
/* kube-scheduler's finalizer on claims it allocates: kube-controller-manager's
 * claim controller deallocates such a claim once no pod is reserved, then
 * removes it (k8s.io/dynamic-resource-allocation/resourceclaim). */
#define RCLAIM_FINALIZER "resource.kubernetes.io/delete-protection"

/* One allocated device of our driver. Strings owned by the claim. */
struct rclaim_result {
    char *request; /* the claim's request it serves */
    char *pool;    /* our pools are named after their node */
    char *device;  /* "gpu0-1g-5gb-at3" (rslice_device_name) */
};

/* One request of class mig.slicer.dev. slicer's placement serves it when it is
 * `plain`: exactly `count` devices (allocationMode ExactCount) of one
 * profile, named by a selector of the form
 *     device.attributes["mig.slicer.dev"].profile == "1g.5gb"
 * Anything else (no selector, other expressions, allocationMode All,
 * firstAvailable) is left to kube-scheduler's allocator. */
struct rclaim_request {
    char *name;
    char *profile; /* "" when not plain */
    unsigned count;
    bool plain;
};

struct rclaim {
    char *ns, *name, *uid;
    bool deleting;            /* metadata.deletionTimestamp is set */
    bool finalizer;           /* metadata.finalizers has RCLAIM_FINALIZER */
    bool has_finalizers;      /* metadata.finalizers is a non-empty array */
    bool allocated;           /* status.allocation is set (by anyone, any driver) */
    bool constrained;         /* a constraint slicer's placement does not honour */
    bool same_gpu;            /* matchAttribute mig.slicer.dev/parentUUID over all its requests:
                                 every device on one GPU */
    bool foreign;             /* it also asks for devices of other classes */
    char *pod_name, *pod_uid; /* the first pod in status.reservedFor, "" when none */
    size_t nreserved;         /* entries of status.reservedFor */
    size_t nreq;              /* requests of class mig.slicer.dev */
    struct rclaim_request *req;
    size_t nres;               /* results of driver mig.slicer.dev, in the allocation's order */
    struct rclaim_result *res; /* nres entries */
};

/* Reads a ResourceClaim into *out (release with rclaim_free, whatever the
 * result). Returns 1 when it is ours: it asks for devices of class
 * mig.slicer.dev or its allocation holds devices of our driver; 0 when it is
 * not (*out has its identity only: ns, name, uid, deleting; no requests and
 * no results); negative (EINVAL) when the object is not a claim or a field is
 * over its bound (*out empty). */
int rclaim_parse(const json_t *obj, struct rclaim *out, struct err **err) WARN_UNUSED;
void rclaim_free(struct rclaim *c);

/* True when slicer's placement can serve the claim: every request plain, no
 * constraint but same_gpu, no other classes, not allocated, not being deleted. */
bool rclaim_placeable(const struct rclaim *c);

/* The profile of a selector expression of the plain form, into buf; false
 * for any other expression. */
bool rclaim_selector_profile(const char *expr, char *buf, size_t cap);

/* One device slicer's placement chose for a request. */
struct rclaim_pick {
    const char *request, *device; /* device: rslice_device_name */
};

/* The status merge patch that allocates `claim` (uid, resourceVersion as
 * cached: the apiserver refuses it with 409 when the claim changed since,
 * e.g. kube-scheduler allocated it meanwhile) as kube-scheduler would: the
 * devices in pool `node` of our driver, the node selector of that node
 * (metadata.name), and the pod in reservedFor. */
json_t *rclaim_allocation_patch(const char *uid, const char *rv, const char *node,
                                const struct rclaim_pick *picks, size_t n, const char *pod_name,
                                const char *pod_uid);

/* The status merge patch that undoes slicer's allocation (allocation and
 * reservedFor cleared), conditional on uid and resourceVersion. */
json_t *rclaim_deallocation_patch(const char *uid, const char *rv);

/* The JSON patch that adds RCLAIM_FINALIZER to a claim (`has_finalizers`:
 * it has some already), tested against its uid and resourceVersion. */
json_t *rclaim_finalizer_patch(const char *uid, const char *rv, bool has_finalizers);

/* The ResourceClaimTemplate `name` (res_template_name) in `ns`: one request
 * "mig" of class mig.slicer.dev, exactly `count` devices of `profile`. */
json_t *rclaim_template_build(const char *ns, const char *name, const char *profile,
                              unsigned count);

#endif
