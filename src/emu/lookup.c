#include "emu/lookup.h"

#include <string.h>

#include "emu/emu.h"

nvmlReturn_t emu_any_dev(nvmlDevice_t dev, const struct emu_handle **h)
{
    *h = emu_handle_find(dev, emu_rt.cfg->ngpus);
    if (*h == NULL || ((*h)->kind != EMU_KIND_DEV && (*h)->kind != EMU_KIND_MIG))
        return NVML_ERROR_INVALID_ARGUMENT;
    return NVML_SUCCESS;
}

nvmlReturn_t emu_gpu_dev(nvmlDevice_t dev, unsigned *gpu)
{
    const struct emu_handle *h;
    nvmlReturn_t r = emu_any_dev(dev, &h);
    if (r != NVML_SUCCESS)
        return r;
    if (h->kind != EMU_KIND_DEV)
        return NVML_ERROR_NOT_SUPPORTED;
    *gpu = h->gpu;
    return NVML_SUCCESS;
}

nvmlReturn_t emu_mig_dev(nvmlDevice_t dev, const struct emu_handle **h)
{
    nvmlReturn_t r = emu_any_dev(dev, h);
    if (r == NVML_SUCCESS && (*h)->kind != EMU_KIND_MIG)
        return NVML_ERROR_NOT_SUPPORTED;
    return r;
}

static nvmlReturn_t handle_of(const void *p, enum emu_kind kind, const struct emu_handle **h)
{
    *h = emu_handle_find(p, emu_rt.cfg->ngpus);
    return *h != NULL && (*h)->kind == kind ? NVML_SUCCESS : NVML_ERROR_INVALID_ARGUMENT;
}

nvmlReturn_t emu_gi_handle(nvmlGpuInstance_t gi, const struct emu_handle **h)
{
    return handle_of(gi, EMU_KIND_GI, h);
}

nvmlReturn_t emu_ci_handle(nvmlComputeInstance_t ci, const struct emu_handle **h)
{
    return handle_of(ci, EMU_KIND_CI, h);
}

nvmlReturn_t emu_find(struct emu_state *st, const struct emu_handle *h, struct emu_gi **gi,
                      struct emu_ci **ci)
{
    *gi = emu_state_gi(st, h->gpu, h->gi_serial);
    if (*gi == NULL)
        return NVML_ERROR_NOT_FOUND;
    if (ci == NULL)
        return NVML_SUCCESS;
    *ci = h->kind == EMU_KIND_GI ? NULL : emu_state_ci(*gi, h->ci_serial);
    return *ci != NULL ? NVML_SUCCESS : NVML_ERROR_NOT_FOUND;
}

nvmlDevice_t emu_out_gpu(unsigned gpu)
{
    return (nvmlDevice_t)(void *)emu_handle_dev(gpu);
}

nvmlGpuInstance_t emu_out_gi(unsigned gpu, const struct emu_gi *gi)
{
    return (nvmlGpuInstance_t)(void *)emu_handle_get(EMU_KIND_GI, gpu, gi->serial, 0);
}

nvmlComputeInstance_t emu_out_ci(unsigned gpu, const struct emu_gi *gi, const struct emu_ci *ci)
{
    return (nvmlComputeInstance_t)(void *)emu_handle_get(EMU_KIND_CI, gpu, gi->serial, ci->serial);
}

nvmlDevice_t emu_out_mig(unsigned gpu, const struct emu_gi *gi, const struct emu_ci *ci)
{
    return (nvmlDevice_t)(void *)emu_handle_get(EMU_KIND_MIG, gpu, gi->serial, ci->serial);
}

bool emu_mig_on(unsigned gpu)
{
    return !emu_rt.cfg->mig_disabled[gpu];
}

nvmlReturn_t emu_copy_out(char *buf, unsigned length, const char *s)
{
    size_t len = strlen(s);
    if (buf == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if ((size_t)length < len + 1)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(buf, s, len + 1);
    return NVML_SUCCESS;
}
