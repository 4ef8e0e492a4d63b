/* resourceslice — a node's MIG-capable GPUs as DRA ResourceSlices
 * (resource.k8s.io/v1, partitionable devices; docs/design/dra.md).
 *
 * Every (GPU, profile, placement) that NVIDIA's table lists is one device.
 * Each GPU is one counter set, and each device consumes from it what the
 * instance would take on the GPU: its memory slices (one counter per slice),
 * its compute slices, one of the GPU's instances, one of its profile's
 * instances where the profile has a limit below its placement count, and the
 * media engines where the model has "+me.all" profiles. The counters are
 * built so that a set of devices fits the counters exactly when the
 * placement engine (core/place.h) accepts those instances together, so that
 * the API server's allocator itself refuses two overlapping slices
 * (test/unit/test_objects.c checks the equivalence on every model).
 * Instances already on a GPU that no allocation accounts for (made outside
 * DRA) are taken capacity: their consumption is subtracted from the counters.
 *
 * The API's limits (k8s.io/api resource/v1 types.go) shape the objects: at
 * most RSLICE_MAX_SETS counter sets per slice and, since 1.35, counters and
 * devices in separate slices of one pool; at most RSLICE_MAX_DEVICES devices
 * per slice when devices consume counters. A node publishes one pool (named
 * after the node) of ceil(gpus / 8) counter slices and as many device slices
 * as its devices need, all with one generation.
 *
 * Pure: no I/O, no logging. */
#ifndef SLICER_OBJECTS_RESOURCESLICE_H
#define SLICER_OBJECTS_RESOURCESLICE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/catalog.h"

#define RSLICE_DRIVER       "mig.slicer.dev"
#define RSLICE_API_VERSION  "resource.k8s.io/v1"
#define RSLICE_MAX_DEVICES  64 /* ResourceSliceMaxDevicesWithAdvancedFeatures */
#define RSLICE_MAX_SETS     8  /* ResourceSliceMaxCounterSets */
#define RSLICE_MAX_COUNTERS 32 /* ResourceSliceMaxCountersPerCounterSet */
#define RSLICE_MAX_TAKEN    16
#define RSLICE_NAME_MAX     64 /* DNS label + NUL */

/* An instance on the GPU that no DRA allocation accounts for. `profile` is
 * the catalog index, or -1 when NVML reports a profile the catalog does not
 * know (then only its memory slices, one instance and `compute` count). */
struct rslice_taken {
    int profile;
    uint8_t start, size, compute;
};

/* One GPU of the node, as the agent read it through NVML. GPUs whose model is
 * unknown or whose MIG mode is off publish nothing. */
struct rslice_gpu {
    uint32_t index;
    const char *uuid; /* "GPU-..." */
    const char *name; /* NVML name, for the model attribute */
    const struct cat_gpu *model;
    bool mig_enabled;
    size_t ntaken;
    struct rslice_taken taken[RSLICE_MAX_TAKEN];
};

/* The counters one instance of catalog profile `p` at `start` consumes from
 * its GPU's counter set, as {name: value} pairs in a fixed order. Returns how
 * many were written (at most RSLICE_MAX_COUNTERS). */
struct rslice_counter {
    char name[RSLICE_NAME_MAX];
    unsigned value;
};
size_t rslice_consumes(const struct cat_gpu *m, unsigned p, unsigned start,
                       struct rslice_counter *out);

/* The counter set of an empty GPU of model `m`: every counter and its
 * capacity, in the same naming as rslice_consumes. */
size_t rslice_capacity(const struct cat_gpu *m, struct rslice_counter *out);

/* The device name of (GPU index, profile, start): "gpu0-1g-5gb-at3"; "+" in
 * a profile name is written "-plus-" and "." "-", so that "1g.5gb+me" and a
 * Blackwell "1g.5gb-me" stay apart. A DNS label. */
void rslice_device_name(uint32_t gpu, const char *profile, unsigned start, char *buf, size_t cap);

/* The inverse of rslice_device_name for a GPU of model `m`: true when `name`
 * is the name of one of its placements on GPU `gpu`, with *profile (catalog
 * index) and *start set. */
bool rslice_device_parse(const struct cat_gpu *m, uint32_t gpu, const char *name, unsigned *profile,
                         unsigned *start);

/* The counter set name of a GPU: "gpu0". */
void rslice_set_name(uint32_t gpu, char *buf, size_t cap);

/* The name of the node's i-th ResourceSlice: "<node>-mig.slicer.dev-<i>",
 * with the node name shortened and hashed when the result would pass 253. */
void rslice_object_name(const char *node, size_t i, char *buf, size_t cap);

/* The node's ResourceSlices: a new JSON array of complete objects (apiVersion,
 * kind, metadata.name, an ownerReference to the Node when node_uid is not
 * NULL/empty, spec with driver, pool {name: node, generation,
 * resourceSliceCount}, nodeName, and either sharedCounters or devices).
 * An empty array when no GPU has MIG on. */
json_t *rslice_build(const char *node, const char *node_uid, int64_t generation,
                     const struct rslice_gpu *gpus, size_t n);

#endif
