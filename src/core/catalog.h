/* catalog — every MIG-capable GPU model slicer knows, with its GPU-instance
 * profiles and their exact placements (docs/internals/catalog.md).
 *
 * The tables are generated at build time from data/mig-profiles.json (a copy
 * of shared/reference/mig-profiles.json) by tools/gencatalog.c: the JSON is
 * the reference; nothing here is typed in by hand. Pure data and lookups: no
 * I/O, no allocation. All returned pointers are to static storage.
 */
#ifndef SLICER_CORE_CATALOG_H
#define SLICER_CORE_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAT_MAX_PROFILES   16 /* per GPU model (RTX PRO 6000 has 11) */
#define CAT_MAX_PLACEMENTS 8  /* per profile (1g on 8-slice GPUs has 7) */
#define CAT_MAX_MEM_SLICES 16 /* width of the occupancy bitmap (uint16_t) */

/* One GPU-instance placement: memory slices [start, start+size). */
struct cat_placement {
    uint8_t start;
    uint8_t size;
};

struct cat_profile {
    const char *name;   /* "1g.5gb", "1g.5gb+me", "2g.48gb-me", "1g.24gb+me.all" */
    uint8_t nvml_index; /* NVML_GPU_INSTANCE_PROFILE_* value, for ...GetGpuInstanceProfileInfo */
    uint8_t info_id;    /* nvmlGpuInstanceProfileInfo_t.id: every other GI call takes this */
    uint8_t compute_slices; /* sliceCount: the "Ng" of the name */
    uint8_t mem_slices;     /* placement size in memory slices */
    uint8_t max_count;      /* instanceCount: most instances of this profile at once */
    uint8_t nplacements;
    uint16_t sm_count;   /* multiprocessorCount; 0 when the reference does not know it */
    uint32_t memory_mib; /* memorySizeMB; 0 when the reference does not know it */
    /* Every placement NVML lists, in NVML's order (nvmlDeviceGetGpuInstancePossiblePlacements_v2).
     */
    struct cat_placement placements[CAT_MAX_PLACEMENTS];
};

struct cat_gpu {
    const char *name;           /* as nvmlDeviceGetName reports it: "NVIDIA A100-SXM4-40GB" */
    const char *const *aliases; /* NULL-terminated; reference aliases without "(...)" notes */
    uint16_t pci_device_id;     /* primary PCI device id, e.g. 0x20B0 */
    uint8_t npci_ids;
    const uint16_t *pci_ids; /* related ids with the same profiles (includes the primary) */
    uint8_t nvml_arch;       /* nvmlDeviceArchitecture_t: 7 Ampere, 9 Hopper, 10 Blackwell */
    uint8_t mem_slices;      /* width of the placement grid: 8, 4 (A30) or 12 (RTX PRO 6000) */
    uint8_t compute_slices;  /* compute slices to share: 7 or 4 */
    uint8_t max_instances;   /* most GPU instances at once */
    uint32_t memory_mib;     /* total memory; 0 when the reference does not know it */
    uint8_t nprofiles;
    const struct cat_profile *profiles; /* in the reference's order */
};

/* Number of GPU models and the i-th one (i < cat_gpu_count()). */
size_t cat_gpu_count(void);
const struct cat_gpu *cat_gpu_at(size_t i);

/* Finds a model by name, in this order: exact NVML name or alias, ignoring
 * case, spaces, '-' and '_' and a leading "NVIDIA" (so "nvidia a100-sxm4-40gb",
 * "A100-SXM4-40GB" and "A100 SXM4 40GB" all match); then a unique prefix in
 * that normalised form ("H100-80GB" finds "NVIDIA H100 80GB HBM3"). NULL when
 * nothing or more than one model matches. */
const struct cat_gpu *cat_gpu_find(const char *name);

/* Finds a model by PCI device id, either the 16-bit device id (0x20B0) or
 * NVML's combined device<<16|vendor value (0x20B010DE). A primary id wins
 * over a related one. NULL when unknown. A related id that several models list
 * (the reference gives GH200 480GB and H20 one list) finds the first in table order. */
const struct cat_gpu *cat_gpu_find_pci(uint32_t pci_id);

/* Index of the profile called `name` (exact, case-sensitive) in gpu->profiles,
 * or -1. */
int cat_profile_index(const struct cat_gpu *gpu, const char *name);

/* Index of the profile whose NVML info id is `info_id`, or -1. */
int cat_profile_by_info_id(const struct cat_gpu *gpu, unsigned info_id);

/* Bit mask of memory slices [start, start+size). */
static inline uint16_t cat_mask(unsigned start, unsigned size)
{
    return (uint16_t)(((1u << size) - 1u) << start);
}

/* NVML_GPU_INSTANCE_PROFILE_{1,2}_SLICE_ALL_ME (0xF, 0x10) take every media
 * engine: "Allocation of instance of this profile prevents allocation of all
 * but _NO_ME profiles" ({1,2}_SLICE_NO_ME, 0xD and 0xE). nvml-abi.md §2.3, §4.8.
 * So an all-ME instance shares its GPU only with no-ME ones, and vice versa. */
static inline bool cat_profile_all_me(const struct cat_profile *p)
{
    return p->nvml_index == 0xF || p->nvml_index == 0x10;
}

static inline bool cat_profile_no_me(const struct cat_profile *p)
{
    return p->nvml_index == 0xD || p->nvml_index == 0xE;
}

/* Writes "1g.5gb, 1g.5gb+me, ..." (the model's profile names) into buf;
 * truncates safely. Returns buf. For error messages. */
char *cat_profile_list(const struct cat_gpu *gpu, char *buf, size_t cap);

/* Writes every model's NVML name, comma-separated, into buf. Returns buf. */
char *cat_gpu_list(char *buf, size_t cap);

#endif
