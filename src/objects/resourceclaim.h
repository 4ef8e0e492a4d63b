/* resourceclaim — what slicer reads of a ResourceClaim (resource.k8s.io/v1):
 * its identity, the pod it is reserved for, and the devices of driver
 * mig.slicer.dev its allocation holds (docs/design/dra.md). Pure. */
#ifndef SLICER_OBJECTS_RESOURCECLAIM_H
#define SLICER_OBJECTS_RESOURCECLAIM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define RCLAIM_MAX_RESULTS 32 /* AllocationResultsMaxSize */

/* One allocated device of our driver. Strings owned by the claim. */
struct rclaim_result {
    char *request; /* the claim's request it serves */
    char *pool;    /* our pools are named after their node */
    char *device;  /* "gpu0-1g-5gb-at3" (rslice_device_name) */
};

struct rclaim {
    char *ns, *name, *uid;
    bool deleting;             /* metadata.deletionTimestamp is set */
    char *pod_name, *pod_uid;  /* the first pod in status.reservedFor, "" when none */
    size_t nres;               /* results of driver mig.slicer.dev, in the allocation's order */
    struct rclaim_result *res; /* nres entries */
};

/* Reads a ResourceClaim. Returns 1 when its allocation holds devices of our
 * driver (*out filled; release with rclaim_free), 0 when it holds none or is
 * not allocated (*out empty), or negative (EINVAL) when the object is not a
 * claim or a field is over its bound. */
int rclaim_parse(const json_t *obj, struct rclaim *out, struct err **err) WARN_UNUSED;
void rclaim_free(struct rclaim *c);

#endif
