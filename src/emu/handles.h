/* handles — the opaque NVML handles the emulator gives out: pointers to small
 * records that name what they stand for (GPU index, GI and CI serials), never
 * into the state, so a handle stays valid memory for as long as the library
 * is initialised even when another process destroys its GI or CI (calls on it
 * then return NOT_FOUND). Device handles are static, so they survive
 * shutdown and re-initialisation; the others are freed at the last
 * nvmlShutdown. The caller holds the process-wide mutex. */
#ifndef SLICER_EMU_HANDLES_H
#define SLICER_EMU_HANDLES_H

#include <stdint.h>

enum emu_kind {
    EMU_KIND_DEV = 1, /* nvmlDevice_t of a physical GPU */
    EMU_KIND_GI,      /* nvmlGpuInstance_t */
    EMU_KIND_CI,      /* nvmlComputeInstance_t */
    EMU_KIND_MIG,     /* nvmlDevice_t of a MIG device (one per CI) */
};

struct emu_handle {
    uint32_t magic;
    enum emu_kind kind;
    unsigned gpu;
    uint64_t gi_serial; /* GI, CI, MIG */
    uint64_t ci_serial; /* CI, MIG */
};

/* The handle of physical GPU `gpu` (< EMU_MAX_GPUS). */
struct emu_handle *emu_handle_dev(unsigned gpu);

/* The one handle of that kind for that GI (ci_serial 0) or CI. */
struct emu_handle *emu_handle_get(enum emu_kind kind, unsigned gpu, uint64_t gi_serial,
                                  uint64_t ci_serial);

/* The record behind `p` if the emulator gave it out (and, for a device
 * handle, its GPU is below ngpus), else NULL. */
const struct emu_handle *emu_handle_find(const void *p, unsigned ngpus);

/* Frees every non-device handle. */
void emu_handles_free(void);

#endif
