/* uuid — NVML-style identifiers: "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
 * and "MIG-..." (lowercase hex), derived by hashing so that the same input
 * gives the same UUID in every process. */
#ifndef SLICER_EMU_UUID_H
#define SLICER_EMU_UUID_H

#include <stdbool.h>
#include <stdint.h>

#define EMU_UUID_LEN 41 /* "GPU-" + 36 + NUL */

/* The UUID of GPU `index` of `model` (its NVML name). */
void emu_uuid_gpu(char out[EMU_UUID_LEN], const char *model, unsigned index);

/* The UUID of the MIG device of the compute instance created with `serial` in
 * a state whose random `nonce` is given, on the GPU `gpu_uuid`. */
void emu_uuid_mig(char out[EMU_UUID_LEN], uint64_t nonce, uint64_t serial, const char *gpu_uuid);

/* True when s is exactly `prefix` ("GPU-" / "MIG-") + a lowercase 8-4-4-4-12 UUID. */
bool emu_uuid_valid(const char *s, const char *prefix);

/* 64 random bits (getrandom, else time and pid mixed). */
uint64_t emu_random64(void);

#endif
