/* nvml_abi — our own declarations of the subset of the NVML C ABI that slicer
 * uses (types, constants, struct layouts, function types). Written from
 * shared/reference/nvml-abi.md (which cites nvml.h of NVML 13.3.29), not
 * copied from nvml.h. Used by the shim (src/nvml, which dlopens the real
 * library) and by the emulated library (src/emu, which exports the same
 * symbols). Layouts are pinned by static assertions below, so a mistake here
 * cannot hide behind the two sides agreeing with each other.
 */
#ifndef SLICER_NVML_ABI_H
#define SLICER_NVML_ABI_H

#include <assert.h>
#include <stddef.h>

typedef int nvmlReturn_t; /* an enum in nvml.h: int-sized */
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlGpuInstance_st *nvmlGpuInstance_t;
typedef struct nvmlComputeInstance_st *nvmlComputeInstance_t;
typedef unsigned int nvmlDeviceArchitecture_t;

/* nvmlReturn_t values (nvml-abi.md §2.4) */
enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NO_PERMISSION = 4,
    NVML_ERROR_ALREADY_INITIALIZED = 5,
    NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_INSUFFICIENT_POWER = 8,
    NVML_ERROR_DRIVER_NOT_LOADED = 9,
    NVML_ERROR_TIMEOUT = 10,
    NVML_ERROR_IRQ_ISSUE = 11,
    NVML_ERROR_LIBRARY_NOT_FOUND = 12,
    NVML_ERROR_FUNCTION_NOT_FOUND = 13,
    NVML_ERROR_CORRUPTED_INFOROM = 14,
    NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_RESET_REQUIRED = 16,
    NVML_ERROR_OPERATING_SYSTEM = 17,
    NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18,
    NVML_ERROR_IN_USE = 19,
    NVML_ERROR_MEMORY = 20,
    NVML_ERROR_NO_DATA = 21,
    NVML_ERROR_VGPU_ECC_NOT_SUPPORTED = 22,
    NVML_ERROR_INSUFFICIENT_RESOURCES = 23,
    NVML_ERROR_FREQ_NOT_SUPPORTED = 24,
    NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
    NVML_ERROR_DEPRECATED = 26,
    NVML_ERROR_NOT_READY = 27,
    NVML_ERROR_GPU_NOT_FOUND = 28,
    NVML_ERROR_INVALID_STATE = 29,
    NVML_ERROR_RESET_TYPE_NOT_SUPPORTED = 30,
    NVML_ERROR_UNKNOWN = 999,
};

/* Buffer sizes (§2.1) */
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE    32
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE 16
#define NVML_DEVICE_UUID_BUFFER_SIZE          80
#define NVML_DEVICE_UUID_V2_BUFFER_SIZE       96
#define NVML_DEVICE_NAME_BUFFER_SIZE          64
#define NVML_DEVICE_NAME_V2_BUFFER_SIZE       96

/* MIG mode and profiles (§2.3) */
#define NVML_DEVICE_MIG_DISABLE 0x0
#define NVML_DEVICE_MIG_ENABLE  0x1
#define NVML_GPU_INSTANCE_PROFILE_COUNT                                                            \
    0x12 /* grows between releases: iterate to INVALID_ARGUMENT */
#define NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE       0x0
#define NVML_COMPUTE_INSTANCE_PROFILE_2_SLICE       0x1
#define NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE       0x2
#define NVML_COMPUTE_INSTANCE_PROFILE_4_SLICE       0x3
#define NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE       0x4
#define NVML_COMPUTE_INSTANCE_PROFILE_8_SLICE       0x5
#define NVML_COMPUTE_INSTANCE_PROFILE_6_SLICE       0x6
#define NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE_REV1  0x7
#define NVML_COMPUTE_INSTANCE_PROFILE_COUNT         0x9
#define NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED 0x0

/* Architectures (§2.1) */
#define NVML_DEVICE_ARCH_AMPERE    7
#define NVML_DEVICE_ARCH_ADA       8
#define NVML_DEVICE_ARCH_HOPPER    9
#define NVML_DEVICE_ARCH_BLACKWELL 10

/* Struct layouts (§2.2), field order as in nvml.h */
typedef struct {
    unsigned int start;
    unsigned int size;
} nvmlGpuInstancePlacement_t;

typedef struct {
    unsigned int id;
    unsigned int isP2pSupported;
    unsigned int sliceCount;
    unsigned int instanceCount;
    unsigned int multiprocessorCount;
    unsigned int copyEngineCount;
    unsigned int decoderCount;
    unsigned int encoderCount;
    unsigned int jpegCount;
    unsigned int ofaCount;
    unsigned long long memorySizeMB;
} nvmlGpuInstanceProfileInfo_t;

typedef struct {
    nvmlDevice_t device;
    unsigned int id;
    unsigned int profileId;
    nvmlGpuInstancePlacement_t placement;
} nvmlGpuInstanceInfo_t;

typedef struct {
    unsigned int start;
    unsigned int size;
} nvmlComputeInstancePlacement_t;

typedef struct {
    unsigned int id;
    unsigned int sliceCount;
    unsigned int instanceCount;
    unsigned int multiprocessorCount;
    unsigned int sharedCopyEngineCount;
    unsigned int sharedDecoderCount;
    unsigned int sharedEncoderCount;
    unsigned int sharedJpegCount;
    unsigned int sharedOfaCount;
} nvmlComputeInstanceProfileInfo_t;

typedef struct {
    nvmlDevice_t device;
    nvmlGpuInstance_t gpuInstance;
    unsigned int id;
    unsigned int profileId;
    nvmlComputeInstancePlacement_t placement;
} nvmlComputeInstanceInfo_t;

typedef struct {
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_t;

typedef struct {
    char busIdLegacy[NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE];
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pciDeviceId; /* device << 16 | vendor, e.g. 0x20B010DE */
    unsigned int pciSubSystemId;
    char busId[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];
} nvmlPciInfo_t;

/* Sizes and offsets from nvml-abi.md §2.2 (LP64). */
static_assert(sizeof(nvmlGpuInstancePlacement_t) == 8, "nvmlGpuInstancePlacement_t");
static_assert(sizeof(nvmlGpuInstanceProfileInfo_t) == 48, "nvmlGpuInstanceProfileInfo_t");
static_assert(offsetof(nvmlGpuInstanceProfileInfo_t, memorySizeMB) == 40, "memorySizeMB");
static_assert(sizeof(nvmlGpuInstanceInfo_t) == 24, "nvmlGpuInstanceInfo_t");
static_assert(offsetof(nvmlGpuInstanceInfo_t, placement) == 16, "GI placement");
static_assert(sizeof(nvmlComputeInstancePlacement_t) == 8, "nvmlComputeInstancePlacement_t");
static_assert(sizeof(nvmlComputeInstanceProfileInfo_t) == 36, "nvmlComputeInstanceProfileInfo_t");
static_assert(sizeof(nvmlComputeInstanceInfo_t) == 32, "nvmlComputeInstanceInfo_t");
static_assert(offsetof(nvmlComputeInstanceInfo_t, id) == 16, "CI id");
static_assert(offsetof(nvmlComputeInstanceInfo_t, placement) == 24, "CI placement");
static_assert(sizeof(nvmlMemory_t) == 24, "nvmlMemory_t");
static_assert(sizeof(nvmlPciInfo_t) == 68, "nvmlPciInfo_t");
static_assert(offsetof(nvmlPciInfo_t, pciDeviceId) == 28, "pciDeviceId");
static_assert(offsetof(nvmlPciInfo_t, busId) == 36, "busId");

/* The functions, by the symbol name the library exports (§1: versioned
 * names where nvml.h maps the plain name to one). One X-macro list keeps the
 * shim's dlsym table, its types and the emulator's exports in step:
 *   X(symbol, required, return type, parameter list)
 * `required` 0 marks a symbol whose absence means "old driver, feature absent". */
#define NVML_FUNCTIONS(X)                                                                          \
    X(nvmlInit_v2, 1, nvmlReturn_t, (void))                                                        \
    X(nvmlShutdown, 1, nvmlReturn_t, (void))                                                       \
    X(nvmlErrorString, 1, const char *, (nvmlReturn_t result))                                     \
    X(nvmlSystemGetDriverVersion, 0, nvmlReturn_t, (char *version, unsigned int length))           \
    X(nvmlDeviceGetCount_v2, 1, nvmlReturn_t, (unsigned int *deviceCount))                         \
    X(nvmlDeviceGetHandleByIndex_v2, 1, nvmlReturn_t, (unsigned int index, nvmlDevice_t *device))  \
    X(nvmlDeviceGetHandleByUUID, 1, nvmlReturn_t, (const char *uuid, nvmlDevice_t *device))        \
    X(nvmlDeviceGetName, 1, nvmlReturn_t, (nvmlDevice_t device, char *name, unsigned int length))  \
    X(nvmlDeviceGetUUID, 1, nvmlReturn_t, (nvmlDevice_t device, char *uuid, unsigned int length))  \
    X(nvmlDeviceGetIndex, 0, nvmlReturn_t, (nvmlDevice_t device, unsigned int *index))             \
    X(nvmlDeviceGetMinorNumber, 0, nvmlReturn_t, (nvmlDevice_t device, unsigned int *minorNumber)) \
    X(nvmlDeviceGetPciInfo_v3, 1, nvmlReturn_t, (nvmlDevice_t device, nvmlPciInfo_t * pci))        \
    X(nvmlDeviceGetMemoryInfo, 1, nvmlReturn_t, (nvmlDevice_t device, nvmlMemory_t * memory))      \
    X(nvmlDeviceGetArchitecture, 0, nvmlReturn_t,                                                  \
      (nvmlDevice_t device, nvmlDeviceArchitecture_t * arch))                                      \
    X(nvmlDeviceGetMigMode, 1, nvmlReturn_t,                                                       \
      (nvmlDevice_t device, unsigned int *currentMode, unsigned int *pendingMode))                 \
    X(nvmlDeviceGetGpuInstanceProfileInfo, 1, nvmlReturn_t,                                        \
      (nvmlDevice_t device, unsigned int profile, nvmlGpuInstanceProfileInfo_t *info))             \
    X(nvmlDeviceGetGpuInstancePossiblePlacements_v2, 0, nvmlReturn_t,                              \
      (nvmlDevice_t device, unsigned int profileId, nvmlGpuInstancePlacement_t *placements,        \
       unsigned int *count))                                                                       \
    X(nvmlDeviceGetGpuInstanceRemainingCapacity, 1, nvmlReturn_t,                                  \
      (nvmlDevice_t device, unsigned int profileId, unsigned int *count))                          \
    X(nvmlDeviceCreateGpuInstanceWithPlacement, 0, nvmlReturn_t,                                   \
      (nvmlDevice_t device, unsigned int profileId, const nvmlGpuInstancePlacement_t *placement,   \
       nvmlGpuInstance_t *gpuInstance))                                                            \
    X(nvmlGpuInstanceDestroy, 1, nvmlReturn_t, (nvmlGpuInstance_t gpuInstance))                    \
    X(nvmlDeviceGetGpuInstances, 1, nvmlReturn_t,                                                  \
      (nvmlDevice_t device, unsigned int profileId, nvmlGpuInstance_t *gpuInstances,               \
       unsigned int *count))                                                                       \
    X(nvmlDeviceGetGpuInstanceById, 1, nvmlReturn_t,                                               \
      (nvmlDevice_t device, unsigned int id, nvmlGpuInstance_t *gpuInstance))                      \
    X(nvmlGpuInstanceGetInfo, 1, nvmlReturn_t,                                                     \
      (nvmlGpuInstance_t gpuInstance, nvmlGpuInstanceInfo_t * info))                               \
    X(nvmlGpuInstanceGetComputeInstanceProfileInfo, 1, nvmlReturn_t,                               \
      (nvmlGpuInstance_t gpuInstance, unsigned int profile, unsigned int engProfile,               \
       nvmlComputeInstanceProfileInfo_t *info))                                                    \
    X(nvmlGpuInstanceCreateComputeInstance, 1, nvmlReturn_t,                                       \
      (nvmlGpuInstance_t gpuInstance, unsigned int profileId,                                      \
       nvmlComputeInstance_t *computeInstance))                                                    \
    X(nvmlComputeInstanceDestroy, 1, nvmlReturn_t, (nvmlComputeInstance_t computeInstance))        \
    X(nvmlGpuInstanceGetComputeInstances, 1, nvmlReturn_t,                                         \
      (nvmlGpuInstance_t gpuInstance, unsigned int profileId,                                      \
       nvmlComputeInstance_t *computeInstances, unsigned int *count))                              \
    X(nvmlGpuInstanceGetComputeInstanceById, 1, nvmlReturn_t,                                      \
      (nvmlGpuInstance_t gpuInstance, unsigned int id, nvmlComputeInstance_t *computeInstance))    \
    X(nvmlComputeInstanceGetInfo_v2, 1, nvmlReturn_t,                                              \
      (nvmlComputeInstance_t computeInstance, nvmlComputeInstanceInfo_t * info))                   \
    X(nvmlDeviceIsMigDeviceHandle, 1, nvmlReturn_t,                                                \
      (nvmlDevice_t device, unsigned int *isMigDevice))                                            \
    X(nvmlDeviceGetGpuInstanceId, 1, nvmlReturn_t, (nvmlDevice_t device, unsigned int *id))        \
    X(nvmlDeviceGetComputeInstanceId, 1, nvmlReturn_t, (nvmlDevice_t device, unsigned int *id))    \
    X(nvmlDeviceGetMaxMigDeviceCount, 1, nvmlReturn_t, (nvmlDevice_t device, unsigned int *count)) \
    X(nvmlDeviceGetMigDeviceHandleByIndex, 1, nvmlReturn_t,                                        \
      (nvmlDevice_t device, unsigned int index, nvmlDevice_t *migDevice))                          \
    X(nvmlDeviceGetDeviceHandleFromMigDeviceHandle, 1, nvmlReturn_t,                               \
      (nvmlDevice_t migDevice, nvmlDevice_t * device))

/* Function-pointer types: nvml_fn_<symbol>. */
#define NVML_DECLARE_TYPE(name, required, ret, params) typedef ret(*nvml_fn_##name) params;
NVML_FUNCTIONS(NVML_DECLARE_TYPE)
#undef NVML_DECLARE_TYPE

#endif
