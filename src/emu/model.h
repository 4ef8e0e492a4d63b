/* model — the GPU models the emulator knows, with their GPU-instance profiles
 * and placements, parsed by the emulator's own code (jansson) from its embedded
 * copy of data/mig-profiles.json (= shared/reference/mig-profiles.json).
 * Deliberately independent of src/core's catalog: each checks the other. */
#ifndef SLICER_EMU_MODEL_H
#define SLICER_EMU_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "emu/msg.h"

#define EMU_MAX_MODELS       32
#define EMU_MAX_PROFILES     24
#define EMU_MAX_PLACEMENTS   16
#define EMU_MAX_ALIASES      8
#define EMU_MAX_GRID         16 /* memory slices per GPU (bits of the occupancy mask) */
#define EMU_MAX_COMPUTE      8  /* compute slices per GPU */
#define EMU_MAX_GI           8  /* GPU instances per GPU (max_instances) */
#define EMU_NAME_LEN         96 /* NVML_DEVICE_NAME_V2_BUFFER_SIZE */
#define EMU_PROFILE_NAME_LEN 32

/* NVML_GPU_INSTANCE_PROFILE_* indices with a rule of their own (nvml-abi.md §2.3). */
#define EMU_GI_1_SLICE_REV2   0x09
#define EMU_GI_1_SLICE_NO_ME  0x0D
#define EMU_GI_2_SLICE_NO_ME  0x0E
#define EMU_GI_1_SLICE_ALL_ME 0x0F
#define EMU_GI_2_SLICE_ALL_ME 0x10

struct emu_profile {
    char name[EMU_PROFILE_NAME_LEN]; /* "1g.5gb", "1g.24gb+me.all" */
    unsigned index;                  /* NVML_GPU_INSTANCE_PROFILE_* ("nvml_profile_id") */
    unsigned id;                     /* nvmlGpuInstanceProfileInfo_t.id ("nvml_info_id") */
    unsigned slices;                 /* compute slices ("slices") */
    unsigned size;                   /* memory slices per instance */
    unsigned max_count;              /* instanceCount */
    unsigned long long memory_mib;   /* "memory_mib", else its memory_gb_nominal * 1024 */
    unsigned sm_count;               /* 0 when the JSON has null */
    unsigned copy_engines, decoders, encoders, jpeg, ofa; /* "media"; 0 when null */
    unsigned nplacements;
    unsigned starts[EMU_MAX_PLACEMENTS]; /* in the JSON's (NVML's) order */
};

struct emu_model {
    char name[EMU_NAME_LEN]; /* NVML name: "NVIDIA A100-SXM4-40GB" */
    unsigned naliases;
    char aliases[EMU_MAX_ALIASES][EMU_NAME_LEN]; /* without " (...)" notes */
    unsigned arch;                               /* nvmlDeviceArchitecture_t */
    unsigned pci_device_id;                      /* 16-bit device id, e.g. 0x20B0 */
    unsigned long long memory_mib;               /* total; derived when the JSON has null */
    unsigned grid;                               /* "memory_slices": 8, 4 or 12 */
    unsigned compute_slices;
    unsigned max_instances;
    unsigned nprofiles;
    struct emu_profile profiles[EMU_MAX_PROFILES];
};

struct emu_catalog {
    unsigned nmodels;
    struct emu_model models[EMU_MAX_MODELS];
    /* ci_sizes[G] bit C: a C-slice compute instance exists in a G-slice GI
     * ("valid_ci_slice_counts_per_gi_slice_count"). */
    unsigned ci_sizes[EMU_MAX_COMPUTE + 1];
};

/* Parses the embedded JSON into cat. 0, or -1 with a message. */
int emu_catalog_load(struct emu_catalog *cat, struct emu_msg *m);

/* Finds a model by name or alias, ignoring case, spaces, '-', '_' and a
 * leading "NVIDIA": an exact match first, else the one model of which `name`
 * is a prefix. NULL when none or several match (*ambiguous tells which). */
const struct emu_model *emu_model_find(const struct emu_catalog *cat, const char *name,
                                       bool *ambiguous);

/* "NVIDIA A100-SXM4-40GB, NVIDIA A30, ..." into buf (truncated safely). */
void emu_model_list(const struct emu_catalog *cat, char *buf, size_t cap);

/* The model's profile with that NVML index / info id, or NULL. */
const struct emu_profile *emu_profile_by_index(const struct emu_model *m, unsigned index);
const struct emu_profile *emu_profile_by_id(const struct emu_model *m, unsigned id);

/* True when NVIDIA lists a placement of p starting at `start`. */
bool emu_profile_has_start(const struct emu_profile *p, unsigned start);

#endif
