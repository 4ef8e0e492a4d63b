/* Exported: MIG device handles (one per compute instance). */
#include "emu/emu.h"
#include "emu/lookup.h"

EMU_EXPORT nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *isMigDevice)
{
    struct emu_call c;
    const struct emu_handle *h;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceIsMigDeviceHandle);
    if (r == NVML_SUCCESS)
        r = emu_any_dev(device, &h);
    if (r == NVML_SUCCESS && isMigDevice == NULL)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS)
        *isMigDevice = h->kind == EMU_KIND_MIG;
    return emu_call_end(&c, r);
}

/* The GI and CI behind a MIG device handle: their ids (either may be NULL). */
static nvmlReturn_t mig_ids(nvmlDevice_t device, unsigned *gi_id, unsigned *ci_id)
{
    const struct emu_handle *h;
    struct emu_state *st;
    struct emu_gi *gi;
    struct emu_ci *ci;
    nvmlReturn_t r = emu_mig_dev(device, &h);
    if (r == NVML_SUCCESS && gi_id == NULL && ci_id == NULL)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS)
        r = emu_txn_begin(&st);
    if (r != NVML_SUCCESS)
        return r;
    r = emu_find(st, h, &gi, &ci);
    if (r == NVML_SUCCESS && gi_id != NULL)
        *gi_id = gi->id;
    if (r == NVML_SUCCESS && ci_id != NULL)
        *ci_id = ci->id;
    return emu_txn_end(false, r);
}

EMU_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceGetGpuInstanceId);
    if (r == NVML_SUCCESS)
        r = mig_ids(device, id, NULL);
    return emu_call_end(&c, r);
}

EMU_EXPORT nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t device, unsigned int *id)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceGetComputeInstanceId);
    if (r == NVML_SUCCESS)
        r = mig_ids(device, NULL, id);
    return emu_call_end(&c, r);
}

/* "Returns zero if MIG is not supported or enabled." */
EMU_EXPORT nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count)
{
    struct emu_call c;
    unsigned gpu;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceGetMaxMigDeviceCount);
    if (r == NVML_SUCCESS)
        r = emu_gpu_dev(device, &gpu);
    if (r == NVML_SUCCESS && count == NULL)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS)
        *count = emu_mig_on(gpu) ? emu_rt.cfg->gpus[gpu]->max_instances : 0;
    return emu_call_end(&c, r);
}

/* MIG devices in order of GI id, then CI id. */
static nvmlReturn_t mig_by_index(nvmlDevice_t device, unsigned index, nvmlDevice_t *out)
{
    unsigned gpu;
    struct emu_state *st;
    nvmlReturn_t r = emu_gpu_dev(device, &gpu);
    if (r != NVML_SUCCESS)
        return r;
    if (out == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (!emu_mig_on(gpu))
        return NVML_ERROR_NOT_SUPPORTED;
    if (index >= emu_rt.cfg->gpus[gpu]->max_instances)
        return NVML_ERROR_INVALID_ARGUMENT;
    r = emu_txn_begin(&st);
    if (r != NVML_SUCCESS)
        return r;
    const struct emu_gpu *g = &st->gpu[gpu];
    r = NVML_ERROR_NOT_FOUND;
    for (unsigned i = 0, n = 0; i < g->ngi && r != NVML_SUCCESS; i++) {
        for (unsigned j = 0; j < g->gi[i].nci && r != NVML_SUCCESS; j++, n++) {
            if (n == index) {
                *out = emu_out_mig(gpu, &g->gi[i], &g->gi[i].ci[j]);
                r = NVML_SUCCESS;
            }
        }
    }
    return emu_txn_end(false, r);
}

EMU_EXPORT nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                            nvmlDevice_t *migDevice)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceGetMigDeviceHandleByIndex);
    if (r == NVML_SUCCESS)
        r = mig_by_index(device, index, migDevice);
    return emu_call_end(&c, r);
}

static nvmlReturn_t parent_of(nvmlDevice_t mig, nvmlDevice_t *out)
{
    const struct emu_handle *h;
    nvmlReturn_t r = emu_mig_dev(mig, &h);
    if (r == NVML_SUCCESS && out == NULL)
        r = NVML_ERROR_INVALID_ARGUMENT;
    unsigned id;
    if (r == NVML_SUCCESS)
        r = mig_ids(mig, &id, NULL); /* NOT_FOUND once the CI is gone */
    if (r == NVML_SUCCESS)
        *out = emu_out_gpu(h->gpu);
    return r;
}

EMU_EXPORT nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t migDevice,
                                                                     nvmlDevice_t *device)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceGetDeviceHandleFromMigDeviceHandle);
    if (r == NVML_SUCCESS)
        r = parent_of(migDevice, device);
    return emu_call_end(&c, r);
}
