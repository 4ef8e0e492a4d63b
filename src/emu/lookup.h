/* lookup — from the handles a caller passes to what they stand for, and
 * back. Wrong kind of device handle (a MIG device where a GPU is expected or
 * the other way round) → NOT_SUPPORTED; anything the emulator did not give
 * out → INVALID_ARGUMENT; a GI or CI that no longer exists → NOT_FOUND. Run
 * inside an emu_call (and, for the state lookups, an emu_txn). */
#ifndef SLICER_EMU_LOOKUP_H
#define SLICER_EMU_LOOKUP_H

#include <stdbool.h>

#include "emu/handles.h"
#include "emu/state.h"
#include "nvml/nvml_abi.h"

/* A device handle of either kind. */
nvmlReturn_t emu_any_dev(nvmlDevice_t dev, const struct emu_handle **h);

/* A physical GPU's handle: its index. */
nvmlReturn_t emu_gpu_dev(nvmlDevice_t dev, unsigned *gpu);

/* A MIG device's handle. */
nvmlReturn_t emu_mig_dev(nvmlDevice_t dev, const struct emu_handle **h);

/* A GI / CI handle. */
nvmlReturn_t emu_gi_handle(nvmlGpuInstance_t gi, const struct emu_handle **h);
nvmlReturn_t emu_ci_handle(nvmlComputeInstance_t ci, const struct emu_handle **h);

/* The GI (and CI, for CI and MIG handles; ci may be NULL for GI handles) in st. */
nvmlReturn_t emu_find(struct emu_state *st, const struct emu_handle *h, struct emu_gi **gi,
                      struct emu_ci **ci);

/* Handles to give out. */
nvmlDevice_t emu_out_gpu(unsigned gpu);
nvmlGpuInstance_t emu_out_gi(unsigned gpu, const struct emu_gi *gi);
nvmlComputeInstance_t emu_out_ci(unsigned gpu, const struct emu_gi *gi, const struct emu_ci *ci);
nvmlDevice_t emu_out_mig(unsigned gpu, const struct emu_gi *gi, const struct emu_ci *ci);

/* MIG mode of GPU `gpu`. */
bool emu_mig_on(unsigned gpu);

/* Copies s into buf of `length` bytes: INSUFFICIENT_SIZE when it does not fit
 * with its NUL. */
nvmlReturn_t emu_copy_out(char *buf, unsigned length, const char *s);

#endif
