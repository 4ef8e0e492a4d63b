/* mig — MIG slice operations on one node, built on the NVML shim
 * (docs/internals/nvml.md).
 *
 * A slice is a GPU instance (GI) at an exact placement plus its full-size
 * compute instance (CI); its identity is (GPU, GI profile, placement start),
 * which survives restarts (GI ids do too, but NVML chooses them). Both
 * operations are idempotent and leave nothing half made:
 *   mig_create  adopts a GI of that profile already at that placement (and
 *               creates its CI if a crash left it without one); if it created
 *               the GI itself and the CI then fails, it destroys the GI again.
 *   mig_destroy destroys the CIs, then the GI; a slice already gone is success.
 * Every call that changes a GPU holds that GPU's lock (nvml_lock_gpu).
 * Blocking: call from a worker thread, never from an event loop.
 */
#ifndef SLICER_NVML_MIG_H
#define SLICER_NVML_MIG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/catalog.h"
#include "core/place.h"
#include "nvml/nvml.h"

#define MIG_NO_CI     UINT32_MAX /* mig_instance.ci_id of a GI without a compute instance */
#define MIG_NO_MINOR  UINT32_MAX
#define MIG_MAX_INST  PLACE_MAX_INST
#define MIG_UUID_SIZE NVML_DEVICE_UUID_V2_BUFFER_SIZE
#define MIG_NAME_SIZE NVML_DEVICE_NAME_V2_BUFFER_SIZE

/* One GI (and its CI, if any) as NVML reports it. */
struct mig_instance {
    uint32_t gi_id;
    uint32_t ci_id;           /* MIG_NO_CI: the GI has no compute instance */
    uint32_t profile_id;      /* NVML GI profile id (info.id) */
    int profile;              /* index in the catalog model's profiles; -1 if unknown */
    uint32_t start, size;     /* memory-slice placement */
    uint32_t ci_slices;       /* compute slices of the CI (0 without CI) */
    char uuid[MIG_UUID_SIZE]; /* "MIG-..." of the CI; "" without CI */
};

/* A GI profile as NVML reports it on this GPU. */
struct mig_profile {
    int profile; /* catalog index, -1 when the catalog does not know the id */
    uint32_t index, id, slices, instance_count;
    unsigned long long memory_mib;
    uint32_t nplacements;
    nvmlGpuInstancePlacement_t placements[CAT_MAX_PLACEMENTS];
};

struct mig_gpu {
    uint32_t index;
    char uuid[MIG_UUID_SIZE];
    char name[MIG_NAME_SIZE];
    uint32_t pci_device_id; /* device << 16 | vendor */
    uint32_t minor;         /* /dev/nvidia<minor>; MIG_NO_MINOR when NVML does not say */
    unsigned long long memory_mib;
    const struct cat_gpu *model; /* NULL: not a GPU model the catalog knows */
    bool mig_enabled;
    uint32_t nprofiles;
    struct mig_profile profiles[CAT_MAX_PROFILES];
    uint32_t ninst;
    struct mig_instance inst[MIG_MAX_INST]; /* sorted by start */
};

/* Reads GPU `index`: identity, MIG mode, profiles and placements, instances. */
int mig_read_gpu(struct nvml *n, unsigned index, struct mig_gpu *out, struct err **err) WARN_UNUSED;

/* Reads every GPU. *gpus (xmalloc'd, *ngpus entries) is the caller's to free(). */
int mig_discover(struct nvml *n, struct mig_gpu **gpus, size_t *ngpus,
                 struct err **err) WARN_UNUSED;

/* Creates (or adopts, or finishes) the slice of catalog profile `profile` at
 * memory slice `start` on GPU `index`; fills *out. Errors name the GPU, the
 * profile, the placement and the NVML step that failed. */
int mig_create(struct nvml *n, unsigned index, unsigned profile, unsigned start,
               struct mig_instance *out, struct err **err) WARN_UNUSED;

/* Destroys the slice of catalog profile `profile` at `start` on GPU `index`
 * (CIs first, then the GI). Success when nothing is there. Fails with EBUSY
 * (NVML_ERROR_IN_USE) while processes use it, and with EEXIST when a GI of
 * another profile sits at that start (not ours: untouched). */
int mig_destroy(struct nvml *n, unsigned index, unsigned profile, unsigned start,
                struct err **err) WARN_UNUSED;

/* Fills `g` (place_gpu_init + place_add) with the instances of `m`, owner 0.
 * Returns how many instances could not be represented (unknown profile or a
 * layout the catalog refuses); 0 when the picture is exact. */
unsigned mig_to_place(const struct mig_gpu *m, struct place_gpu *g);

#endif
