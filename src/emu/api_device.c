/* Exported: device enumeration and identity (physical GPUs and MIG devices). */
#include <stdio.h>
#include <string.h>

#include "emu/emu.h"
#include "emu/lookup.h"

#define PCI_VENDOR_NVIDIA 0x10DEu
#define PCI_FIRST_BUS     0x10u /* GPU i sits on bus 0x10 + i */

/* What a MIG device reports about itself, read in one transaction. */
struct mig_facts {
    char name[EMU_NAME_LEN + EMU_PROFILE_NAME_LEN + 16];
    char uuid[EMU_UUID_LEN];
    unsigned long long memory_mib;
};

static nvmlReturn_t mig_facts(const struct emu_handle *h, struct mig_facts *f)
{
    struct emu_state *st;
    struct emu_gi *gi;
    struct emu_ci *ci;
    nvmlReturn_t r = emu_txn_begin(&st);
    if (r != NVML_SUCCESS)
        return r;
    r = emu_find(st, h, &gi, &ci);
    if (r == NVML_SUCCESS) {
        const char *gpu = emu_rt.cfg->gpus[h->gpu]->name;
        /* "NVIDIA A100-SXM4-40GB MIG 3g.20gb", or "... MIG 1c.3g.20gb" for a partial CI */
        if (ci->size == gi->prof->slices)
            snprintf(f->name, sizeof f->name, "%s MIG %s", gpu, gi->prof->name);
        else
            snprintf(f->name, sizeof f->name, "%s MIG %uc.%s", gpu, ci->size, gi->prof->name);
        memcpy(f->uuid, ci->uuid, sizeof f->uuid);
        f->memory_mib = gi->prof->memory_mib;
    }
    return emu_txn_end(false, r);
}

/* Resolves any device handle; for a MIG device also reads its facts. */
static nvmlReturn_t resolve(nvmlDevice_t dev, const struct emu_handle **h, struct mig_facts *f)
{
    nvmlReturn_t r = emu_any_dev(dev, h);
    if (r != NVML_SUCCESS || (*h)->kind == EMU_KIND_DEV)
        return r;
    return mig_facts(*h, f);
}

EMU_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceGetCount_v2);
    if (r == NVML_SUCCESS && deviceCount == NULL)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS)
        *deviceCount = emu_rt.cfg->ngpus;
    return emu_call_end(&c, r);
}

EMU_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceGetHandleByIndex_v2);
    if (r == NVML_SUCCESS && (device == NULL || index >= emu_rt.cfg->ngpus))
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS)
        *device = emu_out_gpu(index);
    return emu_call_end(&c, r);
}

static nvmlReturn_t mig_by_uuid(const char *uuid, nvmlDevice_t *device)
{
    struct emu_state *st;
    nvmlReturn_t r = emu_txn_begin(&st);
    if (r != NVML_SUCCESS)
        return r;
    r = NVML_ERROR_NOT_FOUND;
    for (unsigned i = 0; i < st->ngpus && r != NVML_SUCCESS; i++) {
        for (unsigned k = 0; k < st->gpu[i].ngi && r != NVML_SUCCESS; k++) {
            const struct emu_gi *gi = &st->gpu[i].gi[k];
            for (unsigned j = 0; j < gi->nci && r != NVML_SUCCESS; j++) {
                if (strcmp(gi->ci[j].uuid, uuid) == 0) {
                    *device = emu_out_mig(i, gi, &gi->ci[j]);
                    r = NVML_SUCCESS;
                }
            }
        }
    }
    return emu_txn_end(false, r);
}

static nvmlReturn_t by_uuid(const char *uuid, nvmlDevice_t *device)
{
    if (uuid == NULL || device == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (unsigned i = 0; i < emu_rt.cfg->ngpus; i++) {
        if (strcmp(emu_rt.cfg->uuids[i], uuid) == 0) {
            *device = emu_out_gpu(i);
            return NVML_SUCCESS;
        }
    }
    if (strncmp(uuid, "MIG-", 4) == 0)
        return mig_by_uuid(uuid, device);
    return NVML_ERROR_NOT_FOUND;
}

EMU_EXPORT nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceGetHandleByUUID);
    if (r == NVML_SUCCESS)
        r = by_uuid(uuid, device);
    return emu_call_end(&c, r);
}

static nvmlReturn_t get_name(nvmlDevice_t device, char *name, unsigned length)
{
    const struct emu_handle *h;
    struct mig_facts f;
    nvmlReturn_t r = resolve(device, &h, &f);
    if (r != NVML_SUCCESS)
        return r;
    return emu_copy_out(name, length,
                        h->kind == EMU_KIND_MIG ? f.name : emu_rt.cfg->gpus[h->gpu]->name);
}

EMU_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceGetName);
    if (r == NVML_SUCCESS)
        r = get_name(device, name, length);
    return emu_call_end(&c, r);
}

static nvmlReturn_t get_uuid(nvmlDevice_t device, char *uuid, unsigned length)
{
    const struct emu_handle *h;
    struct mig_facts f;
    nvmlReturn_t r = resolve(device, &h, &f);
    if (r != NVML_SUCCESS)
        return r;
    return emu_copy_out(uuid, length, h->kind == EMU_KIND_MIG ? f.uuid : emu_rt.cfg->uuids[h->gpu]);
}

EMU_EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceGetUUID);
    if (r == NVML_SUCCESS)
        r = get_uuid(device, uuid, length);
    return emu_call_end(&c, r);
}

/* The GPU's /dev/nvidia<minor>: the emulated GPUs have minor = index (a MIG device
 * handle has no device node of its own: NOT_SUPPORTED, as the driver answers). */
EMU_EXPORT nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minorNumber)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceGetMinorNumber);
    unsigned gpu;
    if (r == NVML_SUCCESS)
        r = emu_gpu_dev(device, &gpu);
    if (r == NVML_SUCCESS && minorNumber == NULL)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS)
        *minorNumber = gpu;
    return emu_call_end(&c, r);
}

EMU_EXPORT nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceGetIndex);
    unsigned gpu;
    if (r == NVML_SUCCESS)
        r = emu_gpu_dev(device, &gpu);
    if (r == NVML_SUCCESS && index == NULL)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS)
        *index = gpu;
    return emu_call_end(&c, r);
}

/* A MIG device reports its parent's PCI identity. */
static nvmlReturn_t get_pci(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    const struct emu_handle *h;
    struct mig_facts f;
    if (pci == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t r = resolve(device, &h, &f);
    if (r != NVML_SUCCESS)
        return r;
    memset(pci, 0, sizeof *pci);
    pci->domain = 0;
    pci->bus = PCI_FIRST_BUS + h->gpu;
    pci->device = 0;
    pci->pciDeviceId = emu_rt.cfg->gpus[h->gpu]->pci_device_id << 16 | PCI_VENDOR_NVIDIA;
    pci->pciSubSystemId = pci->pciDeviceId;
    snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "0000:%02X:00.0", pci->bus);
    snprintf(pci->busId, sizeof pci->busId, "00000000:%02X:00.0", pci->bus);
    return NVML_SUCCESS;
}

EMU_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceGetPciInfo_v3);
    if (r == NVML_SUCCESS)
        r = get_pci(device, pci);
    return emu_call_end(&c, r);
}

/* A GPU: its total memory; a MIG device: its GPU instance's. Nothing is ever
 * allocated, so used = 0 and free = total. */
static nvmlReturn_t get_memory(nvmlDevice_t device, nvmlMemory_t *memory)
{
    const struct emu_handle *h;
    struct mig_facts f;
    if (memory == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t r = resolve(device, &h, &f);
    if (r != NVML_SUCCESS)
        return r;
    unsigned long long mib =
        h->kind == EMU_KIND_MIG ? f.memory_mib : emu_rt.cfg->gpus[h->gpu]->memory_mib;
    memory->total = mib << 20;
    memory->free = memory->total;
    memory->used = 0;
    return NVML_SUCCESS;
}

EMU_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceGetMemoryInfo);
    if (r == NVML_SUCCESS)
        r = get_memory(device, memory);
    return emu_call_end(&c, r);
}

static nvmlReturn_t get_arch(nvmlDevice_t device, nvmlDeviceArchitecture_t *arch)
{
    const struct emu_handle *h;
    struct mig_facts f;
    if (arch == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t r = resolve(device, &h, &f);
    if (r == NVML_SUCCESS)
        *arch = emu_rt.cfg->gpus[h->gpu]->arch;
    return r;
}

EMU_EXPORT nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t device,
                                                  nvmlDeviceArchitecture_t *arch)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceGetArchitecture);
    if (r == NVML_SUCCESS)
        r = get_arch(device, arch);
    return emu_call_end(&c, r);
}

EMU_EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode,
                                             unsigned int *pendingMode)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlDeviceGetMigMode);
    unsigned gpu;
    if (r == NVML_SUCCESS)
        r = emu_gpu_dev(device, &gpu);
    if (r == NVML_SUCCESS && (currentMode == NULL || pendingMode == NULL))
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS)
        *currentMode = *pendingMode =
            emu_mig_on(gpu) ? NVML_DEVICE_MIG_ENABLE : NVML_DEVICE_MIG_DISABLE;
    return emu_call_end(&c, r);
}
