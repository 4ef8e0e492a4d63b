/* rules — what NVML accepts on a MIG GPU, enforced by the emulator on its own
 * (independently of src/core/place.c, so the two check each other):
 *   - a GI occupies memory slices [start, start+size) of the model's grid, at
 *     a start NVIDIA lists for the profile, overlapping no other GI;
 *   - it holds `slices` of the model's compute slices;
 *   - at most max_instances GIs per GPU and max_count per profile;
 *   - a +me.all GI (index 15/16) shares the GPU only with -me GIs (13/14), and
 *     the other way round (nvml-abi.md §4.8);
 *   - a CI of C compute slices starts at a multiple of C inside its GI.
 */
#ifndef SLICER_EMU_RULES_H
#define SLICER_EMU_RULES_H

#include <stdbool.h>

#include "emu/model.h"
#include "emu/state.h"
#include "nvml/nvml_abi.h"

/* NVML_SUCCESS when a GI of p at [start, start+size) may be created now;
 * INVALID_ARGUMENT when NVIDIA lists no such placement for p;
 * INSUFFICIENT_RESOURCES when it overlaps or a limit or the media rule stops it. */
nvmlReturn_t emu_gi_check(const struct emu_model *m, const struct emu_gpu *g,
                          const struct emu_profile *p, unsigned start, unsigned size);

/* How many more GIs of p alone could be created now (exact). */
unsigned emu_gi_capacity(const struct emu_model *m, const struct emu_gpu *g,
                         const struct emu_profile *p);

/* The lowest GI id >= 1 not in use on g. */
unsigned emu_gi_new_id(const struct emu_gpu *g);

/* Compute slices of the CI profile `index` in a GI of `gi_prof`, or 0 when the
 * GI does not offer that profile (nvml-abi.md §4.1: C-slice CI = index of
 * NVML_COMPUTE_INSTANCE_PROFILE_{C}_SLICE; on a 1_SLICE_REV2 GI the one CI is
 * 1_SLICE_REV1). */
unsigned emu_ci_slices(const struct emu_catalog *cat, const struct emu_profile *gi_prof,
                       unsigned index);

/* True when a CI of c slices may start at `start` in gi: aligned, inside,
 * overlapping no CI. */
bool emu_ci_fits(const struct emu_gi *gi, unsigned c, unsigned start);

/* The first start where a CI of c slices fits in gi, or false. */
bool emu_ci_first_fit(const struct emu_gi *gi, unsigned c, unsigned *start);

/* The lowest CI id >= 0 not in use in gi. */
unsigned emu_ci_new_id(const struct emu_gi *gi);

#endif
