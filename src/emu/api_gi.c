/* Exported: GPU-instance profiles, placements, capacity, and GPU instances.
 * nvmlDeviceGetGpuInstanceProfileInfo takes the NVML_GPU_INSTANCE_PROFILE_*
 * index; every other call takes the profile id it reports (nvml-abi.md §4.1). */
#include <string.h>

#include "emu/emu.h"
#include "emu/lookup.h"
#include "emu/rules.h"

/* The physical GPU `dev` and, when profile_id is not NULL, its profile with
 * that id (INVALID_ARGUMENT when it has none). With need_mig, NOT_SUPPORTED
 * when MIG is off (checked before the profile, as NVML documents). */
static nvmlReturn_t gpu_profile(nvmlDevice_t dev, const unsigned *profile_id, bool need_mig,
                                unsigned *gpu, const struct emu_profile **p)
{
    nvmlReturn_t r = emu_gpu_dev(dev, gpu);
    if (r != NVML_SUCCESS)
        return r;
    if (need_mig && !emu_mig_on(*gpu))
        return NVML_ERROR_NOT_SUPPORTED;
    if (profile_id == NULL)
        return NVML_SUCCESS;
    *p = emu_profile_by_id(emu_rt.cfg->gpus[*gpu], *profile_id);
    return *p != NULL ? NVML_SUCCESS : NVML_ERROR_INVALID_ARGUMENT;
}

static nvmlReturn_t profile_info(nvmlDevice_t dev, unsigned index,
                                 nvmlGpuInstanceProfileInfo_t *info)
{
    unsigned gpu;
    nvmlReturn_t r = emu_gpu_dev(dev, &gpu);
    if (r != NVML_SUCCESS)
        return r;
    if (info == NULL || index >= NVML_GPU_INSTANCE_PROFILE_COUNT)
        return NVML_ERROR_INVALID_ARGUMENT;
    const struct emu_profile *p = emu_profile_by_index(emu_rt.cfg->gpus[gpu], index);
    if (p == NULL)
        return NVML_ERROR_NOT_SUPPORTED;
    *info = (nvmlGpuInstanceProfileInfo_t){
        .id = p->id,
        .isP2pSupported = 0,
        .sliceCount = p->slices,
        .instanceCount = p->max_count,
        .multiprocessorCount = p->sm_count,
        .copyEngineCount = p->copy_engines,
        .decoderCount = p->decoders,
        .encoderCount = p->encoders,
        .jpegCount = p->jpeg,
        .ofaCount = p->ofa,
        .memorySizeMB = p->memory_mib,
    };
    return NVML_SUCCESS;
}

EMU_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfo(nvmlDevice_t device,
                                                            unsigned int profile,
                                                            nvmlGpuInstanceProfileInfo_t *info)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceGetGpuInstanceProfileInfo);
    if (r == NVML_SUCCESS)
        r = profile_info(device, profile, info);
    return emu_call_end(&c, r);
}

/* Works with MIG off (nvml-abi.md §4.2). */
static nvmlReturn_t placements(nvmlDevice_t dev, unsigned profile_id,
                               nvmlGpuInstancePlacement_t *out, unsigned *count)
{
    unsigned gpu;
    const struct emu_profile *p;
    nvmlReturn_t r = gpu_profile(dev, &profile_id, false, &gpu, &p);
    if (r != NVML_SUCCESS)
        return r;
    if (count == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (out == NULL) {
        *count = p->nplacements;
        return NVML_SUCCESS;
    }
    if (*count < p->nplacements) {
        *count = p->nplacements;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    for (unsigned i = 0; i < p->nplacements; i++)
        out[i] = (nvmlGpuInstancePlacement_t){.start = p->starts[i], .size = p->size};
    *count = p->nplacements;
    return NVML_SUCCESS;
}

EMU_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstancePossiblePlacements_v2(
    nvmlDevice_t device, unsigned int profileId, nvmlGpuInstancePlacement_t *placements_out,
    unsigned int *count)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceGetGpuInstancePossiblePlacements_v2);
    if (r == NVML_SUCCESS)
        r = placements(device, profileId, placements_out, count);
    return emu_call_end(&c, r);
}

static nvmlReturn_t capacity(nvmlDevice_t dev, unsigned profile_id, unsigned *count)
{
    unsigned gpu;
    const struct emu_profile *p;
    struct emu_state *st;
    nvmlReturn_t r = gpu_profile(dev, &profile_id, true, &gpu, &p);
    if (r == NVML_SUCCESS && count == NULL)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS)
        r = emu_txn_begin(&st);
    if (r != NVML_SUCCESS)
        return r;
    *count = emu_gi_capacity(emu_rt.cfg->gpus[gpu], &st->gpu[gpu], p);
    return emu_txn_end(false, NVML_SUCCESS);
}

EMU_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceRemainingCapacity(nvmlDevice_t device,
                                                                  unsigned int profileId,
                                                                  unsigned int *count)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceGetGpuInstanceRemainingCapacity);
    if (r == NVML_SUCCESS)
        r = capacity(device, profileId, count);
    return emu_call_end(&c, r);
}

/* GI ids: the lowest id >= 1 free on the GPU (docs/emulator.md). */
static nvmlReturn_t create_gi(nvmlDevice_t dev, unsigned profile_id,
                              const nvmlGpuInstancePlacement_t *placement, nvmlGpuInstance_t *out)
{
    unsigned gpu;
    const struct emu_profile *p;
    struct emu_state *st;
    if (placement == NULL || out == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t r = gpu_profile(dev, &profile_id, true, &gpu, &p);
    if (r == NVML_SUCCESS)
        r = emu_txn_begin(&st);
    if (r != NVML_SUCCESS)
        return r;
    struct emu_gpu *g = &st->gpu[gpu];
    r = emu_gi_check(emu_rt.cfg->gpus[gpu], g, p, placement->start, placement->size);
    if (r != NVML_SUCCESS)
        return emu_txn_end(false, r);
    struct emu_gi gi = {
        .id = emu_gi_new_id(g), .prof = p, .start = placement->start, .serial = st->next_serial++};
    const struct emu_gi *made = emu_state_add_gi(g, &gi);
    nvmlGpuInstance_t h = emu_out_gi(gpu, made);
    r = emu_txn_end(true, NVML_SUCCESS);
    if (r == NVML_SUCCESS)
        *out = h;
    return r;
}

EMU_EXPORT nvmlReturn_t nvmlDeviceCreateGpuInstanceWithPlacement(
    nvmlDevice_t device, unsigned int profileId, const nvmlGpuInstancePlacement_t *placement,
    nvmlGpuInstance_t *gpuInstance)
{
    emu_call_latency();
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceCreateGpuInstanceWithPlacement);
    if (r == NVML_SUCCESS)
        r = create_gi(device, profileId, placement, gpuInstance);
    return emu_call_end(&c, r);
}

static nvmlReturn_t destroy_gi(nvmlGpuInstance_t handle)
{
    const struct emu_handle *h;
    struct emu_state *st;
    struct emu_gi *gi;
    nvmlReturn_t r = emu_gi_handle(handle, &h);
    if (r == NVML_SUCCESS)
        r = emu_txn_begin(&st);
    if (r != NVML_SUCCESS)
        return r;
    r = emu_find(st, h, &gi, NULL);
    if (r == NVML_SUCCESS && gi->nci > 0)
        r = NVML_ERROR_IN_USE;
    if (r == NVML_SUCCESS)
        emu_state_remove_gi(&st->gpu[h->gpu], gi);
    return emu_txn_end(r == NVML_SUCCESS, r);
}

EMU_EXPORT nvmlReturn_t nvmlGpuInstanceDestroy(nvmlGpuInstance_t gpuInstance)
{
    emu_call_latency();
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlGpuInstanceDestroy);
    if (r == NVML_SUCCESS)
        r = destroy_gi(gpuInstance);
    return emu_call_end(&c, r);
}

/* `count` in: room in `out`; out: how many there are (also when too small). */
static nvmlReturn_t list_gis(nvmlDevice_t dev, unsigned profile_id, nvmlGpuInstance_t *out,
                             unsigned *count)
{
    unsigned gpu;
    const struct emu_profile *p;
    struct emu_state *st;
    if (out == NULL || count == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t r = gpu_profile(dev, &profile_id, true, &gpu, &p);
    if (r == NVML_SUCCESS)
        r = emu_txn_begin(&st);
    if (r != NVML_SUCCESS)
        return r;
    const struct emu_gpu *g = &st->gpu[gpu];
    unsigned n = 0;
    for (unsigned i = 0; i < g->ngi; i++)
        n += g->gi[i].prof == p;
    if (n > *count) {
        *count = n;
        return emu_txn_end(false, NVML_ERROR_INSUFFICIENT_SIZE);
    }
    n = 0;
    for (unsigned i = 0; i < g->ngi; i++)
        if (g->gi[i].prof == p)
            out[n++] = emu_out_gi(gpu, &g->gi[i]);
    *count = n;
    return emu_txn_end(false, NVML_SUCCESS);
}

EMU_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstances(nvmlDevice_t device, unsigned int profileId,
                                                  nvmlGpuInstance_t *gpuInstances,
                                                  unsigned int *count)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceGetGpuInstances);
    if (r == NVML_SUCCESS)
        r = list_gis(device, profileId, gpuInstances, count);
    return emu_call_end(&c, r);
}

static nvmlReturn_t gi_by_id(nvmlDevice_t dev, unsigned id, nvmlGpuInstance_t *out)
{
    unsigned gpu;
    struct emu_state *st;
    if (out == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t r = gpu_profile(dev, NULL, true, &gpu, NULL);
    if (r == NVML_SUCCESS)
        r = emu_txn_begin(&st);
    if (r != NVML_SUCCESS)
        return r;
    const struct emu_gi *gi = emu_state_gi_by_id(st, gpu, id);
    if (gi == NULL)
        return emu_txn_end(false, NVML_ERROR_NOT_FOUND);
    *out = emu_out_gi(gpu, gi);
    return emu_txn_end(false, NVML_SUCCESS);
}

EMU_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceById(nvmlDevice_t device, unsigned int id,
                                                     nvmlGpuInstance_t *gpuInstance)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceGetGpuInstanceById);
    if (r == NVML_SUCCESS)
        r = gi_by_id(device, id, gpuInstance);
    return emu_call_end(&c, r);
}

static nvmlReturn_t gi_info(nvmlGpuInstance_t handle, nvmlGpuInstanceInfo_t *info)
{
    const struct emu_handle *h;
    struct emu_state *st;
    struct emu_gi *gi;
    nvmlReturn_t r = emu_gi_handle(handle, &h);
    if (r == NVML_SUCCESS && info == NULL)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS)
        r = emu_txn_begin(&st);
    if (r != NVML_SUCCESS)
        return r;
    r = emu_find(st, h, &gi, NULL);
    if (r == NVML_SUCCESS)
        *info = (nvmlGpuInstanceInfo_t){
            .device = emu_out_gpu(h->gpu),
            .id = gi->id,
            .profileId = gi->prof->id,
            .placement = {.start = gi->start, .size = gi->prof->size},
        };
    return emu_txn_end(false, r);
}

EMU_EXPORT nvmlReturn_t nvmlGpuInstanceGetInfo(nvmlGpuInstance_t gpuInstance,
                                               nvmlGpuInstanceInfo_t *info)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlGpuInstanceGetInfo);
    if (r == NVML_SUCCESS)
        r = gi_info(gpuInstance, info);
    return emu_call_end(&c, r);
}
