/* nvml — the loaded NVML library (docs/internals/nvml.md).
 *
 * slicer reaches NVML only through the function table of a `struct nvml`,
 * filled by dlsym from `libnvidia-ml.so.1` (or $SLICER_NVML_LIBRARY, e.g. the
 * emulated library build/emu/libnvidia-ml.so.1). Calls are type-checked at the
 * call site: `n->fn.nvmlDeviceGetCount_v2(&count)`. A missing optional symbol
 * leaves its pointer NULL ("old driver, feature absent"); a missing required
 * one makes nvml_open fail with the symbol's name.
 *
 * Threads: the table is read-only after nvml_open. MIG changes on one GPU
 * must be serialised: take nvml_lock_gpu() around them (mig.c does).
 */
#ifndef SLICER_NVML_NVML_H
#define SLICER_NVML_NVML_H

#include <pthread.h>
#include <stdbool.h>

#include "base/err.h"
#include "nvml/nvml_abi.h"

#define NVML_DEFAULT_LIBRARY "libnvidia-ml.so.1"
#define NVML_MAX_GPUS        64

struct nvml_fns {
#define NVML_FN_FIELD(name, required, ret, params) nvml_fn_##name name;
    NVML_FUNCTIONS(NVML_FN_FIELD)
#undef NVML_FN_FIELD
};

struct nvml {
    void *dl;           /* dlopen handle */
    char *path;         /* what was loaded */
    struct nvml_fns fn; /* NULL entries: optional symbols the library lacks */
    unsigned ngpus;     /* nvmlDeviceGetCount_v2 at open */
    pthread_mutex_t gpu_lock[NVML_MAX_GPUS];
};

/* Loads the library at `path` (NULL: $SLICER_NVML_LIBRARY, else
 * "libnvidia-ml.so.1"), resolves the symbols and calls nvmlInit_v2.
 * On success *out owns the library; release it with nvml_close. */
int nvml_open(const char *path, struct nvml **out, struct err **err) WARN_UNUSED;

/* nvmlShutdown, dlclose, free. Safe on NULL. */
void nvml_close(struct nvml *n);

/* "NVML_ERROR_INSUFFICIENT_RESOURCES" for 23, "NVML_ERROR_<n>" for unknown values. */
const char *nvml_rc_name(nvmlReturn_t rc);

/* Turns a failed NVML call into an error: "<context>: <nvmlErrorString> (NVML_ERROR_X)".
 * The errno-style code reflects the failure (EBUSY for IN_USE, ENOSPC for
 * INSUFFICIENT_RESOURCES, ENOENT for NOT_FOUND, ENOTSUP, EINVAL, EACCES, EIO). */
int nvml_fail(const struct nvml *n, nvmlReturn_t rc, struct err **err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Serialises MIG changes on GPU `index` (indices >= NVML_MAX_GPUS share the last lock). */
void nvml_lock_gpu(struct nvml *n, unsigned index);
void nvml_unlock_gpu(struct nvml *n, unsigned index);

#endif
