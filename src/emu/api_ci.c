/* Exported: compute-instance profiles and compute instances. A CI profile's
 * id is its NVML_COMPUTE_INSTANCE_PROFILE_* index (nvml-abi.md §4.1). */
#include "emu/emu.h"
#include "emu/lookup.h"
#include "emu/rules.h"

/* The GI behind `handle`, inside a transaction the caller ends (on success). */
static nvmlReturn_t gi_txn(nvmlGpuInstance_t handle, const struct emu_handle **h,
                           struct emu_state **st, struct emu_gi **gi)
{
    nvmlReturn_t r = emu_gi_handle(handle, h);
    if (r == NVML_SUCCESS)
        r = emu_txn_begin(st);
    if (r != NVML_SUCCESS)
        return r;
    r = emu_find(*st, *h, gi, NULL);
    return r == NVML_SUCCESS ? r : emu_txn_end(false, r);
}

static nvmlReturn_t ci_profile_info(nvmlGpuInstance_t handle, unsigned index, unsigned eng,
                                    nvmlComputeInstanceProfileInfo_t *info)
{
    const struct emu_handle *h;
    struct emu_state *st;
    struct emu_gi *gi;
    nvmlReturn_t r = emu_gi_handle(handle, &h);
    if (r != NVML_SUCCESS)
        return r;
    if (info == NULL || index >= NVML_COMPUTE_INSTANCE_PROFILE_COUNT ||
        eng != NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED)
        return NVML_ERROR_INVALID_ARGUMENT;
    r = gi_txn(handle, &h, &st, &gi);
    if (r != NVML_SUCCESS)
        return r;
    const struct emu_profile *p = gi->prof;
    unsigned c = emu_ci_slices(emu_rt.cat, p, index);
    if (c == 0)
        return emu_txn_end(false, NVML_ERROR_NOT_SUPPORTED);
    *info = (nvmlComputeInstanceProfileInfo_t){
        .id = index,
        .sliceCount = c,
        .instanceCount = p->slices / c,
        .multiprocessorCount = p->sm_count * c / p->slices,
        .sharedCopyEngineCount = p->copy_engines,
        .sharedDecoderCount = p->decoders,
        .sharedEncoderCount = p->encoders,
        .sharedJpegCount = p->jpeg,
        .sharedOfaCount = p->ofa,
    };
    return emu_txn_end(false, NVML_SUCCESS);
}

EMU_EXPORT nvmlReturn_t nvmlGpuInstanceGetComputeInstanceProfileInfo(
    nvmlGpuInstance_t gpuInstance, unsigned int profile, unsigned int engProfile,
    nvmlComputeInstanceProfileInfo_t *info)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlGpuInstanceGetComputeInstanceProfileInfo);
    if (r == NVML_SUCCESS)
        r = ci_profile_info(gpuInstance, profile, engProfile, info);
    return emu_call_end(&c, r);
}

/* CI ids: the lowest id >= 0 free in the GI; placement: the first free
 * multiple of the CI's slice count (docs/emulator.md). */
static nvmlReturn_t create_ci(nvmlGpuInstance_t handle, unsigned profile_id,
                              nvmlComputeInstance_t *out)
{
    const struct emu_handle *h;
    struct emu_state *st;
    struct emu_gi *gi;
    if (out == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t r = gi_txn(handle, &h, &st, &gi);
    if (r != NVML_SUCCESS)
        return r;
    unsigned c = emu_ci_slices(emu_rt.cat, gi->prof, profile_id), start;
    if (c == 0)
        return emu_txn_end(false, NVML_ERROR_INVALID_ARGUMENT);
    if (!emu_ci_first_fit(gi, c, &start))
        return emu_txn_end(false, NVML_ERROR_INSUFFICIENT_RESOURCES);
    struct emu_ci ci = {.id = emu_ci_new_id(gi),
                        .profile = profile_id,
                        .start = start,
                        .size = c,
                        .serial = st->next_serial++};
    emu_uuid_mig(ci.uuid, st->nonce, ci.serial, emu_rt.cfg->uuids[h->gpu]);
    const struct emu_ci *made = emu_state_add_ci(gi, &ci);
    nvmlComputeInstance_t ch = emu_out_ci(h->gpu, gi, made);
    r = emu_txn_end(true, NVML_SUCCESS);
    if (r == NVML_SUCCESS)
        *out = ch;
    return r;
}

EMU_EXPORT nvmlReturn_t nvmlGpuInstanceCreateComputeInstance(nvmlGpuInstance_t gpuInstance,
                                                             unsigned int profileId,
                                                             nvmlComputeInstance_t *computeInstance)
{
    emu_call_latency();
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlGpuInstanceCreateComputeInstance);
    if (r == NVML_SUCCESS)
        r = create_ci(gpuInstance, profileId, computeInstance);
    return emu_call_end(&c, r);
}

static nvmlReturn_t destroy_ci(nvmlComputeInstance_t handle)
{
    const struct emu_handle *h;
    struct emu_state *st;
    struct emu_gi *gi;
    struct emu_ci *ci;
    nvmlReturn_t r = emu_ci_handle(handle, &h);
    if (r == NVML_SUCCESS)
        r = emu_txn_begin(&st);
    if (r != NVML_SUCCESS)
        return r;
    r = emu_find(st, h, &gi, &ci);
    if (r == NVML_SUCCESS)
        emu_state_remove_ci(gi, ci);
    return emu_txn_end(r == NVML_SUCCESS, r);
}

EMU_EXPORT nvmlReturn_t nvmlComputeInstanceDestroy(nvmlComputeInstance_t computeInstance)
{
    emu_call_latency();
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlComputeInstanceDestroy);
    if (r == NVML_SUCCESS)
        r = destroy_ci(computeInstance);
    return emu_call_end(&c, r);
}

static nvmlReturn_t list_cis(nvmlGpuInstance_t handle, unsigned profile_id,
                             nvmlComputeInstance_t *out, unsigned *count)
{
    const struct emu_handle *h;
    struct emu_state *st;
    struct emu_gi *gi;
    if (out == NULL || count == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t r = gi_txn(handle, &h, &st, &gi);
    if (r != NVML_SUCCESS)
        return r;
    if (emu_ci_slices(emu_rt.cat, gi->prof, profile_id) == 0)
        return emu_txn_end(false, NVML_ERROR_INVALID_ARGUMENT);
    unsigned n = 0;
    for (unsigned i = 0; i < gi->nci; i++)
        n += gi->ci[i].profile == profile_id;
    if (n > *count) {
        *count = n;
        return emu_txn_end(false, NVML_ERROR_INSUFFICIENT_SIZE);
    }
    n = 0;
    for (unsigned i = 0; i < gi->nci; i++)
        if (gi->ci[i].profile == profile_id)
            out[n++] = emu_out_ci(h->gpu, gi, &gi->ci[i]);
    *count = n;
    return emu_txn_end(false, NVML_SUCCESS);
}

EMU_EXPORT nvmlReturn_t nvmlGpuInstanceGetComputeInstances(nvmlGpuInstance_t gpuInstance,
                                                           unsigned int profileId,
                                                           nvmlComputeInstance_t *computeInstances,
                                                           unsigned int *count)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlGpuInstanceGetComputeInstances);
    if (r == NVML_SUCCESS)
        r = list_cis(gpuInstance, profileId, computeInstances, count);
    return emu_call_end(&c, r);
}

static nvmlReturn_t ci_by_id(nvmlGpuInstance_t handle, unsigned id, nvmlComputeInstance_t *out)
{
    const struct emu_handle *h;
    struct emu_state *st;
    struct emu_gi *gi;
    if (out == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t r = gi_txn(handle, &h, &st, &gi);
    if (r != NVML_SUCCESS)
        return r;
    r = NVML_ERROR_NOT_FOUND;
    for (unsigned i = 0; i < gi->nci && r != NVML_SUCCESS; i++) {
        if (gi->ci[i].id == id) {
            *out = emu_out_ci(h->gpu, gi, &gi->ci[i]);
            r = NVML_SUCCESS;
        }
    }
    return emu_txn_end(false, r);
}

EMU_EXPORT nvmlReturn_t nvmlGpuInstanceGetComputeInstanceById(
    nvmlGpuInstance_t gpuInstance, unsigned int id, nvmlComputeInstance_t *computeInstance)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlGpuInstanceGetComputeInstanceById);
    if (r == NVML_SUCCESS)
        r = ci_by_id(gpuInstance, id, computeInstance);
    return emu_call_end(&c, r);
}

static nvmlReturn_t ci_info(nvmlComputeInstance_t handle, nvmlComputeInstanceInfo_t *info)
{
    const struct emu_handle *h;
    struct emu_state *st;
    struct emu_gi *gi;
    struct emu_ci *ci;
    nvmlReturn_t r = emu_ci_handle(handle, &h);
    if (r == NVML_SUCCESS && info == NULL)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS)
        r = emu_txn_begin(&st);
    if (r != NVML_SUCCESS)
        return r;
    r = emu_find(st, h, &gi, &ci);
    if (r == NVML_SUCCESS)
        *info = (nvmlComputeInstanceInfo_t){
            .device = emu_out_mig(h->gpu, gi, ci),
            .gpuInstance = emu_out_gi(h->gpu, gi),
            .id = ci->id,
            .profileId = ci->profile,
            .placement = {.start = ci->start, .size = ci->size},
        };
    return emu_txn_end(false, r);
}

EMU_EXPORT nvmlReturn_t nvmlComputeInstanceGetInfo_v2(nvmlComputeInstance_t computeInstance,
                                                      nvmlComputeInstanceInfo_t *info)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlComputeInstanceGetInfo_v2);
    if (r == NVML_SUCCESS)
        r = ci_info(computeInstance, info);
    return emu_call_end(&c, r);
}
