#include "nvml/nvml.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

struct symbol {
    const char *name;
    size_t offset; /* of the pointer in struct nvml_fns */
    bool required;
};

static const struct symbol symbols[] = {
#define NVML_SYMBOL(name, required, ret, params) {#name, offsetof(struct nvml_fns, name), required},
    NVML_FUNCTIONS(NVML_SYMBOL)
#undef NVML_SYMBOL
};

static const char *const rc_names[] = {
    [NVML_SUCCESS] = "NVML_SUCCESS",
    [NVML_ERROR_UNINITIALIZED] = "NVML_ERROR_UNINITIALIZED",
    [NVML_ERROR_INVALID_ARGUMENT] = "NVML_ERROR_INVALID_ARGUMENT",
    [NVML_ERROR_NOT_SUPPORTED] = "NVML_ERROR_NOT_SUPPORTED",
    [NVML_ERROR_NO_PERMISSION] = "NVML_ERROR_NO_PERMISSION",
    [NVML_ERROR_ALREADY_INITIALIZED] = "NVML_ERROR_ALREADY_INITIALIZED",
    [NVML_ERROR_NOT_FOUND] = "NVML_ERROR_NOT_FOUND",
    [NVML_ERROR_INSUFFICIENT_SIZE] = "NVML_ERROR_INSUFFICIENT_SIZE",
    [NVML_ERROR_INSUFFICIENT_POWER] = "NVML_ERROR_INSUFFICIENT_POWER",
    [NVML_ERROR_DRIVER_NOT_LOADED] = "NVML_ERROR_DRIVER_NOT_LOADED",
    [NVML_ERROR_TIMEOUT] = "NVML_ERROR_TIMEOUT",
    [NVML_ERROR_IRQ_ISSUE] = "NVML_ERROR_IRQ_ISSUE",
    [NVML_ERROR_LIBRARY_NOT_FOUND] = "NVML_ERROR_LIBRARY_NOT_FOUND",
    [NVML_ERROR_FUNCTION_NOT_FOUND] = "NVML_ERROR_FUNCTION_NOT_FOUND",
    [NVML_ERROR_CORRUPTED_INFOROM] = "NVML_ERROR_CORRUPTED_INFOROM",
    [NVML_ERROR_GPU_IS_LOST] = "NVML_ERROR_GPU_IS_LOST",
    [NVML_ERROR_RESET_REQUIRED] = "NVML_ERROR_RESET_REQUIRED",
    [NVML_ERROR_OPERATING_SYSTEM] = "NVML_ERROR_OPERATING_SYSTEM",
    [NVML_ERROR_LIB_RM_VERSION_MISMATCH] = "NVML_ERROR_LIB_RM_VERSION_MISMATCH",
    [NVML_ERROR_IN_USE] = "NVML_ERROR_IN_USE",
    [NVML_ERROR_MEMORY] = "NVML_ERROR_MEMORY",
    [NVML_ERROR_NO_DATA] = "NVML_ERROR_NO_DATA",
    [NVML_ERROR_VGPU_ECC_NOT_SUPPORTED] = "NVML_ERROR_VGPU_ECC_NOT_SUPPORTED",
    [NVML_ERROR_INSUFFICIENT_RESOURCES] = "NVML_ERROR_INSUFFICIENT_RESOURCES",
    [NVML_ERROR_FREQ_NOT_SUPPORTED] = "NVML_ERROR_FREQ_NOT_SUPPORTED",
    [NVML_ERROR_ARGUMENT_VERSION_MISMATCH] = "NVML_ERROR_ARGUMENT_VERSION_MISMATCH",
    [NVML_ERROR_DEPRECATED] = "NVML_ERROR_DEPRECATED",
    [NVML_ERROR_NOT_READY] = "NVML_ERROR_NOT_READY",
    [NVML_ERROR_GPU_NOT_FOUND] = "NVML_ERROR_GPU_NOT_FOUND",
    [NVML_ERROR_INVALID_STATE] = "NVML_ERROR_INVALID_STATE",
    [NVML_ERROR_RESET_TYPE_NOT_SUPPORTED] = "NVML_ERROR_RESET_TYPE_NOT_SUPPORTED",
};

const char *nvml_rc_name(nvmlReturn_t rc)
{
    static _Thread_local char buf[32];
    if (rc == NVML_ERROR_UNKNOWN)
        return "NVML_ERROR_UNKNOWN";
    if (rc >= 0 && (size_t)rc < sizeof rc_names / sizeof rc_names[0] && rc_names[rc])
        return rc_names[rc];
    snprintf(buf, sizeof buf, "NVML_ERROR_%d", rc);
    return buf;
}

static int rc_errno(nvmlReturn_t rc)
{
    switch (rc) {
    case NVML_ERROR_IN_USE:
        return EBUSY;
    case NVML_ERROR_INSUFFICIENT_RESOURCES:
        return ENOSPC;
    case NVML_ERROR_NOT_FOUND:
    case NVML_ERROR_GPU_NOT_FOUND:
        return ENOENT;
    case NVML_ERROR_NOT_SUPPORTED:
    case NVML_ERROR_FUNCTION_NOT_FOUND:
        return ENOTSUP;
    case NVML_ERROR_INVALID_ARGUMENT:
        return EINVAL;
    case NVML_ERROR_NO_PERMISSION:
        return EACCES;
    case NVML_ERROR_TIMEOUT:
        return ETIMEDOUT;
    default:
        return EIO;
    }
}

int nvml_fail(const struct nvml *n, nvmlReturn_t rc, struct err **err, const char *fmt, ...)
{
    char ctx[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    const char *text = n && n->fn.nvmlErrorString ? n->fn.nvmlErrorString(rc) : NULL;
    return err_set(err, rc_errno(rc), "%s: %s (%s)", ctx, text ? text : "no description",
                   nvml_rc_name(rc));
}

static int resolve(struct nvml *n, struct err **err)
{
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        dlerror();
        void *sym = dlsym(n->dl, symbols[i].name);
        if (sym == NULL && symbols[i].required)
            return err_set(err, ENOTSUP,
                           "%s does not export %s: the driver is too old for MIG management, or "
                           "this is not an NVML library",
                           n->path, symbols[i].name);
        /* POSIX guarantees that a data pointer from dlsym converts to a function pointer. */
        memcpy((char *)&n->fn + symbols[i].offset, &sym, sizeof sym);
    }
    return 0;
}

int nvml_open(const char *path, struct nvml **out, struct err **err)
{
    if (path == NULL || *path == '\0')
        path = getenv("SLICER_NVML_LIBRARY");
    if (path == NULL || *path == '\0')
        path = NVML_DEFAULT_LIBRARY;
    struct nvml *n = xcalloc(1, sizeof *n);
    n->path = xstrdup(path);
    n->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (n->dl == NULL) {
        const char *why = dlerror();
        err_set(err, ENOENT,
                "cannot load NVML from %s: %s (is the NVIDIA driver installed? set "
                "SLICER_NVML_LIBRARY or --nvml-library to use another library, e.g. the emulated "
                "one in build/emu/libnvidia-ml.so.1)",
                path, why ? why : "unknown error");
        nvml_close(n);
        return -ENOENT;
    }
    int rc = resolve(n, err);
    if (rc < 0) {
        nvml_close(n);
        return rc;
    }
    nvmlReturn_t r = n->fn.nvmlInit_v2();
    if (r != NVML_SUCCESS) {
        rc = nvml_fail(n, r, err, "initialising NVML from %s", path);
        dlclose(n->dl);
        n->dl = NULL;
        nvml_close(n);
        return rc;
    }
    r = n->fn.nvmlDeviceGetCount_v2(&n->ngpus);
    if (r != NVML_SUCCESS) {
        rc = nvml_fail(n, r, err, "counting GPUs");
        nvml_close(n);
        return rc;
    }
    for (unsigned i = 0; i < NVML_MAX_GPUS; i++)
        pthread_mutex_init(&n->gpu_lock[i], NULL);
    *out = n;
    return 0;
}

void nvml_close(struct nvml *n)
{
    if (n == NULL)
        return;
    if (n->dl) {
        if (n->fn.nvmlShutdown)
            n->fn.nvmlShutdown();
        dlclose(n->dl);
    }
    free(n->path);
    free(n);
}

void nvml_lock_gpu(struct nvml *n, unsigned index)
{
    pthread_mutex_lock(&n->gpu_lock[index < NVML_MAX_GPUS ? index : NVML_MAX_GPUS - 1]);
}

void nvml_unlock_gpu(struct nvml *n, unsigned index)
{
    pthread_mutex_unlock(&n->gpu_lock[index < NVML_MAX_GPUS ? index : NVML_MAX_GPUS - 1]);
}
