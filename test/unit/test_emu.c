/* The emulated libnvidia-ml.so.1 (src/emu, docs/emulator.md), through dlopen
 * and dlsym of the versioned symbols — as a GPU node's agent loads the real
 * one. Table facts are checked against shared/reference/mig-profiles.json
 * (read here with jansson: data/mig-profiles.json is a verbatim copy), for
 * every GPU model it lists, and against core's catalog and placement engine
 * (src/core), so a wrong row in any of the three shows up. Each Criterion
 * test runs in its own process with a fresh state directory. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/catalog.h"
#include "core/place.h"
#include "nvml/nvml_abi.h"

#define REFERENCE_JSON SLICER_SOURCE_DIR "/data/mig-profiles.json"
#define PROFILE_COUNT  NVML_GPU_INSTANCE_PROFILE_COUNT

/* ---- loading the library and setting the environment ------------------------------ */

static struct {
#define NV_FIELD(name, required, ret, params) nvml_fn_##name name;
    NVML_FUNCTIONS(NV_FIELD)
#undef NV_FIELD
} nv;

static char dir[64];
static char state_path[128];
static unsigned state_seq;

static void load_library(void)
{
    void *lib = dlopen(SLICER_EMU_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(lib, "dlopen %s: %s", SLICER_EMU_LIBRARY, dlerror());
#define NV_LOAD(name, required, ret, params)                                                       \
    nv.name = (nvml_fn_##name)dlsym(lib, #name);                                                   \
    cr_assert_not_null(nv.name, "the emulator does not export %s", #name);
    NVML_FUNCTIONS(NV_LOAD)
#undef NV_LOAD
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/slicer-emu-test.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    unsetenv("SLICER_EMU_GPUS");
    unsetenv("SLICER_EMU_STATE");
    unsetenv("SLICER_EMU_FAULTS");
    unsetenv("SLICER_EMU_MIG_DISABLED");
    unsetenv("SLICER_EMU_LATENCY_MS");
    load_library();
}

static void teardown(void)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

TestSuite(emu, .init = setup, .fini = teardown, .timeout = 120);

/* GPUs `gpus` (NULL: the default) with a new, empty state file. */
static void use_gpus(const char *gpus)
{
    snprintf(state_path, sizeof state_path, "%s/state-%u.json", dir, state_seq++);
    setenv("SLICER_EMU_STATE", state_path, 1);
    if (gpus)
        setenv("SLICER_EMU_GPUS", gpus, 1);
    else
        unsetenv("SLICER_EMU_GPUS");
    unsetenv("SLICER_EMU_FAULTS");
    unsetenv("SLICER_EMU_MIG_DISABLED");
    unsetenv("SLICER_EMU_LATENCY_MS");
}

static void init_ok(void)
{
    nvmlReturn_t r = nv.nvmlInit_v2();
    cr_assert_eq(r, NVML_SUCCESS, "nvmlInit_v2: %d", r);
}

static void shutdown_ok(void)
{
    cr_assert_eq(nv.nvmlShutdown(), NVML_SUCCESS);
}

static nvmlDevice_t dev_at(unsigned i)
{
    nvmlDevice_t d = NULL;
    cr_assert_eq(nv.nvmlDeviceGetHandleByIndex_v2(i, &d), NVML_SUCCESS, "GPU %u", i);
    return d;
}

static nvmlReturn_t create_gi(nvmlDevice_t d, unsigned id, unsigned start, unsigned size,
                              nvmlGpuInstance_t *gi)
{
    nvmlGpuInstancePlacement_t pl = {.start = start, .size = size};
    return nv.nvmlDeviceCreateGpuInstanceWithPlacement(d, id, &pl, gi);
}

static nvmlGpuInstance_t gi_ok(nvmlDevice_t d, unsigned id, unsigned start, unsigned size)
{
    nvmlGpuInstance_t gi = NULL;
    nvmlReturn_t r = create_gi(d, id, start, size, &gi);
    cr_assert_eq(r, NVML_SUCCESS, "create GI profile %u at %u:%u: %s", id, start, size,
                 nv.nvmlErrorString(r));
    return gi;
}

static unsigned capacity(nvmlDevice_t d, unsigned id)
{
    unsigned n = 99;
    cr_assert_eq(nv.nvmlDeviceGetGpuInstanceRemainingCapacity(d, id, &n), NVML_SUCCESS);
    return n;
}

static unsigned count_gis(nvmlDevice_t d, unsigned id)
{
    nvmlGpuInstance_t gis[16];
    unsigned n = 16;
    cr_assert_eq(nv.nvmlDeviceGetGpuInstances(d, id, gis, &n), NVML_SUCCESS);
    return n;
}

/* The CI profile of a GI that spans all its `slices`: its index (= its id). */
static unsigned full_ci_index(nvmlGpuInstance_t gi, unsigned slices)
{
    for (unsigned j = 0; j < NVML_COMPUTE_INSTANCE_PROFILE_COUNT; j++) {
        nvmlComputeInstanceProfileInfo_t info;
        nvmlReturn_t r = nv.nvmlGpuInstanceGetComputeInstanceProfileInfo(gi, j, 0, &info);
        if (r == NVML_ERROR_NOT_SUPPORTED)
            continue;
        cr_assert_eq(r, NVML_SUCCESS, "CI profile %u: %d", j, r);
        cr_assert_eq(info.id, j, "CI profile ids equal their index (nvml-abi.md §4.1)");
        if (info.sliceCount == slices)
            return j;
    }
    cr_assert_fail("no full-size compute-instance profile for a %u-slice GI", slices);
    return 0;
}

static nvmlComputeInstance_t ci_ok(nvmlGpuInstance_t gi, unsigned profile)
{
    nvmlComputeInstance_t ci = NULL;
    nvmlReturn_t r = nv.nvmlGpuInstanceCreateComputeInstance(gi, profile, &ci);
    cr_assert_eq(r, NVML_SUCCESS, "create CI profile %u: %s", profile, nv.nvmlErrorString(r));
    return ci;
}

static bool uuid_ok(const char *s, const char *prefix)
{
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    if (strncmp(s, prefix, 4) != 0 || strlen(s) != 4 + sizeof shape - 1)
        return false;
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        char c = s[4 + i];
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        if (shape[i] == '-' ? c != '-' : !hex)
            return false;
    }
    return true;
}

static void mig_uuid_of(nvmlComputeInstance_t ci, char *uuid, size_t cap)
{
    nvmlComputeInstanceInfo_t info;
    cr_assert_eq(nv.nvmlComputeInstanceGetInfo_v2(ci, &info), NVML_SUCCESS);
    cr_assert_eq(nv.nvmlDeviceGetUUID(info.device, uuid, (unsigned)cap), NVML_SUCCESS);
}

/* Runs fn in a forked child (which exits with fn's value); returns the wait status. */
static int in_child(int (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(fn(arg));
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return status;
}

/* Captures what the process writes to stderr between capture_begin and capture_end. */
static int capture_fd = -1, saved_stderr = -1;

static void capture_begin(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    fflush(stderr);
    saved_stderr = dup(2);
    capture_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    cr_assert(saved_stderr >= 0 && capture_fd >= 0);
    dup2(capture_fd, 2);
}

static void capture_end(char *out, size_t cap)
{
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    lseek(capture_fd, 0, SEEK_SET);
    ssize_t n = read(capture_fd, out, cap - 1);
    out[n > 0 ? n : 0] = '\0';
    close(capture_fd);
}

/* nvmlInit_v2 with stderr captured into out. */
static nvmlReturn_t init_capturing(char *out, size_t cap)
{
    capture_begin();
    nvmlReturn_t r = nv.nvmlInit_v2();
    capture_end(out, cap);
    return r;
}

/* ---- the reference JSON (shared/reference/mig-profiles.json) ------------------------- */

static json_t *reference(void)
{
    json_error_t e;
    json_t *root = json_load_file(REFERENCE_JSON, 0, &e);
    cr_assert_not_null(root, "%s: %s", REFERENCE_JSON, e.text);
    return root;
}

static json_t *ref_gpus(json_t *root)
{
    json_t *gpus = json_object_get(root, "gpus");
    cr_assert(json_is_array(gpus) && json_array_size(gpus) > 0);
    return gpus;
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    cr_assert_not_null(s, "\"%s\" missing", key);
    return s;
}

/* An integer field; `if_null` when it is null. */
static long long jint(const json_t *o, const char *key, long long if_null)
{
    const json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v))
        return if_null;
    cr_assert(json_is_integer(v), "\"%s\" is not an integer", key);
    return json_integer_value(v);
}

static json_t *ref_profile_by_index(const json_t *gpu, unsigned index)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(gpu, "profiles"), i, p)
    {
        if (jint(p, "nvml_profile_id", -1) == (long long)index)
            return p;
    }
    return NULL;
}

/* Sum over profiles of their placements: one GPU each in the per-placement test. */
static unsigned ref_placement_total(const json_t *gpu)
{
    unsigned n = 0;
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(gpu, "profiles"), i, p)
    {
        n += (unsigned)json_array_size(json_object_get(p, "placements"));
    }
    return n;
}

/* ---- symbols and lifecycle ------------------------------------------------------------ */

Test(emu, every_nvml_function_is_exported_under_its_versioned_name)
{
    /* load_library() asserted every dlsym; the versioned names are what it resolved. */
    cr_assert_not_null(nv.nvmlInit_v2);
    cr_assert_not_null(nv.nvmlDeviceGetCount_v2);
    cr_assert_not_null(nv.nvmlDeviceGetPciInfo_v3);
    cr_assert_not_null(nv.nvmlComputeInstanceGetInfo_v2);
    cr_assert_not_null(nv.nvmlDeviceGetGpuInstancePossiblePlacements_v2);
}

Test(emu, uninitialized_before_init_and_after_the_last_shutdown)
{
    use_gpus(NULL);
    unsigned n = 0;
    nvmlDevice_t d;
    char buf[96];
    cr_assert_eq(nv.nvmlDeviceGetCount_v2(&n), NVML_ERROR_UNINITIALIZED);
    cr_assert_eq(nv.nvmlDeviceGetHandleByIndex_v2(0, &d), NVML_ERROR_UNINITIALIZED);
    cr_assert_eq(nv.nvmlSystemGetDriverVersion(buf, sizeof buf), NVML_ERROR_UNINITIALIZED);
    cr_assert_eq(nv.nvmlShutdown(), NVML_ERROR_UNINITIALIZED);
    cr_assert_str_eq(nv.nvmlErrorString(NVML_ERROR_UNINITIALIZED), "Uninitialized");

    init_ok();
    init_ok(); /* reference counted */
    cr_assert_eq(nv.nvmlDeviceGetCount_v2(&n), NVML_SUCCESS);
    cr_assert_eq(n, 1, "default: one A100-SXM4-40GB");
    d = dev_at(0);
    cr_assert_eq(nv.nvmlDeviceGetName(d, buf, sizeof buf), NVML_SUCCESS);
    cr_assert_str_eq(buf, "NVIDIA A100-SXM4-40GB");
    shutdown_ok();
    cr_assert_eq(nv.nvmlDeviceGetCount_v2(&n), NVML_SUCCESS, "one init is still open");
    shutdown_ok();
    cr_assert_eq(nv.nvmlDeviceGetCount_v2(&n), NVML_ERROR_UNINITIALIZED);
    cr_assert_eq(nv.nvmlDeviceGetName(d, buf, sizeof buf), NVML_ERROR_UNINITIALIZED);
    cr_assert_eq(nv.nvmlShutdown(), NVML_ERROR_UNINITIALIZED);

    init_ok(); /* and again: device handles stay the same */
    cr_assert_eq(dev_at(0), d);
    cr_assert_eq(nv.nvmlSystemGetDriverVersion(buf, sizeof buf), NVML_SUCCESS);
    cr_assert_str_eq(buf, "999.99-slicer-emu");
    shutdown_ok();
}

Test(emu, error_strings_read_like_nvml_and_are_never_null)
{
    cr_assert_str_eq(nv.nvmlErrorString(NVML_SUCCESS), "Success");
    cr_assert_str_eq(nv.nvmlErrorString(NVML_ERROR_INVALID_ARGUMENT), "Invalid Argument");
    cr_assert_str_eq(nv.nvmlErrorString(NVML_ERROR_NOT_SUPPORTED), "Not Supported");
    cr_assert_str_eq(nv.nvmlErrorString(NVML_ERROR_NOT_FOUND), "Not Found");
    cr_assert_str_eq(nv.nvmlErrorString(NVML_ERROR_INSUFFICIENT_SIZE), "Insufficient Size");
    cr_assert_str_eq(nv.nvmlErrorString(NVML_ERROR_INSUFFICIENT_RESOURCES),
                     "Insufficient Resources");
    cr_assert_str_eq(nv.nvmlErrorString(NVML_ERROR_IN_USE), "In use by another client");
    cr_assert_str_eq(nv.nvmlErrorString(NVML_ERROR_UNKNOWN), "Unknown Error");
    for (int r = -5; r < 1100; r++)
        cr_assert_not_null(nv.nvmlErrorString(r));
}

/* ---- tables: every model of shared/reference/mig-profiles.json --------------------------- */

static void check_identity(nvmlDevice_t d, const json_t *g)
{
    char name[96];
    cr_assert_eq(nv.nvmlDeviceGetName(d, name, sizeof name), NVML_SUCCESS);
    cr_assert_str_eq(name, jstr(g, "name"));
    nvmlDeviceArchitecture_t arch;
    cr_assert_eq(nv.nvmlDeviceGetArchitecture(d, &arch), NVML_SUCCESS);
    cr_assert_eq(arch, (unsigned)jint(g, "nvml_arch", -1), "%s arch", name);
    nvmlPciInfo_t pci;
    cr_assert_eq(nv.nvmlDeviceGetPciInfo_v3(d, &pci), NVML_SUCCESS);
    unsigned long dev_id = strtoul(jstr(g, "pci_device_id"), NULL, 16);
    cr_assert_eq(pci.pciDeviceId, (unsigned)(dev_id << 16 | 0x10DE), "%s: %08x", name,
                 pci.pciDeviceId);
    cr_assert(strlen(pci.busId) > 0);
    nvmlMemory_t mem;
    cr_assert_eq(nv.nvmlDeviceGetMemoryInfo(d, &mem), NVML_SUCCESS);
    long long mib = jint(g, "memory_mib", -1);
    if (mib >= 0)
        cr_assert_eq(mem.total, (unsigned long long)mib << 20, "%s memory", name);
    else
        cr_assert_geq(mem.total, (unsigned long long)jint(g, "memory_gb_nominal", 0) << 30);
    unsigned cur, pending;
    cr_assert_eq(nv.nvmlDeviceGetMigMode(d, &cur, &pending), NVML_SUCCESS);
    cr_assert(cur == 1 && pending == 1);
    unsigned max;
    cr_assert_eq(nv.nvmlDeviceGetMaxMigDeviceCount(d, &max), NVML_SUCCESS);
    cr_assert_eq(max, (unsigned)jint(g, "max_instances", -1));
}

static void check_profile_info(const nvmlGpuInstanceProfileInfo_t *info, const json_t *p,
                               const char *model)
{
    const char *name = jstr(p, "name");
    cr_assert_eq(info->id, (unsigned)jint(p, "nvml_info_id", -1), "%s %s id", model, name);
    cr_assert_eq(info->sliceCount, (unsigned)jint(p, "slices", -1), "%s %s", model, name);
    cr_assert_eq(info->instanceCount, (unsigned)jint(p, "max_count", -1), "%s %s", model, name);
    cr_assert_eq(info->multiprocessorCount, (unsigned)jint(p, "sm_count", 0), "%s %s", model, name);
    cr_assert_eq(info->isP2pSupported, 0);
    /* Unknown memory (null) is reported as the nominal size (docs/emulator.md). */
    long long mib = jint(p, "memory_mib", jint(p, "memory_gb_nominal", -1) * 1024);
    cr_assert_eq(info->memorySizeMB, (unsigned long long)mib, "%s %s memory", model, name);
    const json_t *media = json_object_get(p, "media");
    cr_assert_eq(info->copyEngineCount, (unsigned)jint(media, "copy_engines", 0));
    cr_assert_eq(info->decoderCount, (unsigned)jint(media, "decoders", 0));
    cr_assert_eq(info->encoderCount, (unsigned)jint(media, "encoders", 0));
    cr_assert_eq(info->jpegCount, (unsigned)jint(media, "jpeg", 0));
    cr_assert_eq(info->ofaCount, (unsigned)jint(media, "ofa", 0), "%s %s ofa", model, name);
}

Test(emu, profile_info_by_index_matches_the_reference_for_every_model)
{
    json_t *root = reference();
    size_t i;
    json_t *g;
    json_array_foreach(ref_gpus(root), i, g)
    {
        const char *model = jstr(g, "name");
        use_gpus(model);
        init_ok();
        nvmlDevice_t d = dev_at(0);
        check_identity(d, g);
        for (unsigned idx = 0; idx < PROFILE_COUNT + 3; idx++) {
            nvmlGpuInstanceProfileInfo_t info;
            nvmlReturn_t r = nv.nvmlDeviceGetGpuInstanceProfileInfo(d, idx, &info);
            const json_t *p = ref_profile_by_index(g, idx);
            if (idx >= PROFILE_COUNT)
                cr_assert_eq(r, NVML_ERROR_INVALID_ARGUMENT, "%s index %u", model, idx);
            else if (p == NULL)
                cr_assert_eq(r, NVML_ERROR_NOT_SUPPORTED, "%s index %u", model, idx);
            else
                check_profile_info(&info, p, model);
        }
        shutdown_ok();
    }
    json_decref(root);
}

static void check_placements(nvmlDevice_t d, const json_t *p, const char *model)
{
    unsigned id = (unsigned)jint(p, "nvml_info_id", -1);
    const json_t *want = json_object_get(p, "placements");
    unsigned n = 0;
    cr_assert_eq(nv.nvmlDeviceGetGpuInstancePossiblePlacements_v2(d, id, NULL, &n), NVML_SUCCESS);
    cr_assert_eq(n, json_array_size(want), "%s %s: %u placements", model, jstr(p, "name"), n);
    nvmlGpuInstancePlacement_t pl[16];
    unsigned small = n - 1;
    cr_assert_eq(nv.nvmlDeviceGetGpuInstancePossiblePlacements_v2(d, id, pl, &small),
                 NVML_ERROR_INSUFFICIENT_SIZE);
    unsigned room = 16;
    cr_assert_eq(nv.nvmlDeviceGetGpuInstancePossiblePlacements_v2(d, id, pl, &room), NVML_SUCCESS);
    cr_assert_eq(room, n);
    for (unsigned k = 0; k < n; k++) {
        const json_t *w = json_array_get(want, k);
        cr_assert_eq(pl[k].start, (unsigned)jint(w, "start", -1), "%s %s placement %u", model,
                     jstr(p, "name"), k);
        cr_assert_eq(pl[k].size, (unsigned)jint(w, "size", -1));
        cr_assert_eq(pl[k].size, (unsigned)jint(p, "memory_slices_per_instance", -1));
    }
}

Test(emu, possible_placements_match_the_reference_for_every_model)
{
    json_t *root = reference();
    size_t i, k;
    json_t *g, *p;
    json_array_foreach(ref_gpus(root), i, g)
    {
        use_gpus(jstr(g, "name"));
        init_ok();
        json_array_foreach(json_object_get(g, "profiles"), k, p)
        {
            check_placements(dev_at(0), p, jstr(g, "name"));
        }
        shutdown_ok();
    }
    json_decref(root);
}

/* ---- every placement of every profile of every model --------------------------------- */

static bool overlaps(unsigned a, unsigned asz, unsigned b, unsigned bsz)
{
    return a < b + bsz && b < a + asz;
}

/* Every placement of every profile overlapping [start, start+size) is refused. */
static void check_overlaps_refused(nvmlDevice_t d, const json_t *g, unsigned start, unsigned size)
{
    size_t k, j;
    json_t *q, *qp;
    json_array_foreach(json_object_get(g, "profiles"), k, q)
    {
        unsigned qsize = (unsigned)jint(q, "memory_slices_per_instance", -1);
        json_array_foreach(json_object_get(q, "placements"), j, qp)
        {
            unsigned qstart = (unsigned)jint(qp, "start", -1);
            if (!overlaps(start, size, qstart, qsize))
                continue;
            nvmlGpuInstance_t gi;
            nvmlReturn_t r =
                create_gi(d, (unsigned)jint(q, "nvml_info_id", -1), qstart, qsize, &gi);
            cr_assert_eq(r, NVML_ERROR_INSUFFICIENT_RESOURCES, "%s over %u:%u: %d", jstr(q, "name"),
                         start, size, r);
        }
    }
}

/* A GI at the placement, its full CI, the overlaps refused, then destroy order. */
static void check_one_placement(nvmlDevice_t d, const json_t *g, const json_t *p, unsigned start)
{
    unsigned id = (unsigned)jint(p, "nvml_info_id", -1);
    unsigned size = (unsigned)jint(p, "memory_slices_per_instance", -1);
    unsigned slices = (unsigned)jint(p, "slices", -1);
    nvmlGpuInstance_t gi = gi_ok(d, id, start, size);
    nvmlGpuInstanceInfo_t info;
    cr_assert_eq(nv.nvmlGpuInstanceGetInfo(gi, &info), NVML_SUCCESS);
    cr_assert_eq(info.device, d);
    cr_assert_eq(info.profileId, id, "GI info carries the profile id, not the index");
    cr_assert(info.placement.start == start && info.placement.size == size);
    cr_assert_geq(info.id, 1);

    nvmlComputeInstance_t ci = ci_ok(gi, full_ci_index(gi, slices));
    nvmlComputeInstanceInfo_t ci_info;
    cr_assert_eq(nv.nvmlComputeInstanceGetInfo_v2(ci, &ci_info), NVML_SUCCESS);
    cr_assert_eq(ci_info.gpuInstance, gi);
    cr_assert(ci_info.placement.start == 0 && ci_info.placement.size == slices);
    char uuid[96];
    mig_uuid_of(ci, uuid, sizeof uuid);
    cr_assert(uuid_ok(uuid, "MIG-"), "%s", uuid);

    check_overlaps_refused(d, g, start, size);
    cr_assert_eq(nv.nvmlGpuInstanceDestroy(gi), NVML_ERROR_IN_USE, "a GI with a CI is in use");
    cr_assert_eq(nv.nvmlComputeInstanceDestroy(ci), NVML_SUCCESS);
    cr_assert_eq(nv.nvmlComputeInstanceDestroy(ci), NVML_ERROR_NOT_FOUND);
    cr_assert_eq(nv.nvmlGpuInstanceDestroy(gi), NVML_SUCCESS);
    cr_assert_eq(nv.nvmlGpuInstanceDestroy(gi), NVML_ERROR_NOT_FOUND);
    cr_assert_eq(count_gis(d, id), 0);
}

Test(emu, every_listed_placement_takes_a_gi_and_its_full_ci_and_refuses_overlaps)
{
    json_t *root = reference();
    size_t i, k, j;
    json_t *g, *p, *pl;
    json_array_foreach(ref_gpus(root), i, g)
    {
        char gpus[160];
        snprintf(gpus, sizeof gpus, "%s:%u", jstr(g, "name"), ref_placement_total(g));
        use_gpus(gpus);
        init_ok();
        unsigned next = 0; /* each placement on a fresh GPU */
        json_array_foreach(json_object_get(g, "profiles"), k, p)
        {
            json_array_foreach(json_object_get(p, "placements"), j, pl)
            {
                check_one_placement(dev_at(next++), g, p, (unsigned)jint(pl, "start", -1));
            }
        }
        shutdown_ok();
    }
    json_decref(root);
}

/* ---- the A100-40GB facts (shared/reference/mig-profiles.json, nvml-abi.md §4.1, §5.2) --- */

Test(emu, a100_40gb_seven_1g5gb_fit_an_eighth_does_not)
{
    use_gpus("A100-SXM4-40GB");
    init_ok();
    nvmlDevice_t d = dev_at(0);
    nvmlGpuInstanceProfileInfo_t info;
    cr_assert_eq(nv.nvmlDeviceGetGpuInstanceProfileInfo(d, 0, &info), NVML_SUCCESS);
    cr_assert_eq(info.id, 19, "1g.5gb: index 0, id 19");
    cr_assert_eq(info.memorySizeMB, 4864);
    cr_assert_eq(capacity(d, 19), 7);
    for (unsigned s = 0; s < 7; s++) {
        gi_ok(d, 19, 6 - s, 1); /* from the top: ids do not follow placements */
        cr_assert_eq(capacity(d, 19), 6 - s, "after %u", s + 1);
        unsigned two = (6 - s) / 2; /* 2g.10gb: free pairs below the 1g's, compute */
        cr_assert_eq(capacity(d, 14), two > 3 ? 3 : two, "2g.10gb after %u", s + 1);
    }
    nvmlGpuInstance_t gi;
    for (unsigned s = 0; s < 7; s++)
        cr_assert_eq(create_gi(d, 19, s, 1, &gi), NVML_ERROR_INSUFFICIENT_RESOURCES);
    /* Slice 7 is free, but no 1g.5gb placement covers it and the compute is gone. */
    cr_assert_eq(capacity(d, 15), 0);
    cr_assert_eq(create_gi(d, 15, 6, 2, &gi), NVML_ERROR_INSUFFICIENT_RESOURCES);
    cr_assert_eq(count_gis(d, 19), 7);
    nvmlGpuInstance_t first;
    nvmlGpuInstanceInfo_t fi;
    cr_assert_eq(nv.nvmlDeviceGetGpuInstanceById(d, 1, &first), NVML_SUCCESS);
    cr_assert_eq(nv.nvmlGpuInstanceGetInfo(first, &fi), NVML_SUCCESS);
    cr_assert_eq(fi.placement.start, 6, "GI 1 was the first created, at 6:1");
    cr_assert_eq(nv.nvmlDeviceGetGpuInstanceById(d, 8, &gi), NVML_ERROR_NOT_FOUND);
    shutdown_ok();
}

Test(emu, a100_40gb_capacity_counts_compute_and_memory_exactly)
{
    use_gpus("A100-SXM4-40GB");
    init_ok();
    nvmlDevice_t d = dev_at(0);
    gi_ok(d, 9, 4, 4); /* 3g.20gb at 4:4 */
    cr_assert_eq(capacity(d, 9), 1);
    cr_assert_eq(capacity(d, 5), 1);  /* 4g.20gb at 0:4 */
    cr_assert_eq(capacity(d, 14), 2); /* 2g.10gb at 0 and 2 */
    cr_assert_eq(capacity(d, 19), 4); /* memory 0..3, compute 4 */
    cr_assert_eq(capacity(d, 0), 0);
    gi_ok(d, 5, 0, 4); /* 4g + 3g = 7 compute slices (R510+) */
    for (unsigned k = 0; k < 3; k++) {
        static const unsigned ids[] = {19, 14, 9};
        cr_assert_eq(capacity(d, ids[k]), 0);
    }
    shutdown_ok();
}

/* ---- invalid arguments and sizes ----------------------------------------------------- */

Test(emu, bad_ids_placements_handles_and_pointers_are_invalid_arguments)
{
    use_gpus("A100-SXM4-40GB");
    init_ok();
    nvmlDevice_t d = dev_at(0), other;
    nvmlGpuInstance_t gi;
    nvmlGpuInstancePlacement_t pl[8];
    unsigned n = 8;
    cr_assert_eq(nv.nvmlDeviceGetHandleByIndex_v2(1, &other), NVML_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(nv.nvmlDeviceGetHandleByIndex_v2(0, NULL), NVML_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(nv.nvmlDeviceGetCount_v2(NULL), NVML_ERROR_INVALID_ARGUMENT);
    /* profile ids: 1 is no A100-40GB profile's id (it is 2g.10gb's index) */
    cr_assert_eq(nv.nvmlDeviceGetGpuInstancePossiblePlacements_v2(d, 1, pl, &n),
                 NVML_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(nv.nvmlDeviceGetGpuInstanceRemainingCapacity(d, 1, &n),
                 NVML_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(create_gi(d, 1, 0, 2, &gi), NVML_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(nv.nvmlDeviceGetGpuInstances(d, 1, &gi, &n), NVML_ERROR_INVALID_ARGUMENT);
    /* placements NVIDIA does not list, or of the wrong size */
    cr_assert_eq(create_gi(d, 9, 2, 4, &gi), NVML_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(create_gi(d, 9, 0, 3, &gi), NVML_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(create_gi(d, 15, 1, 2, &gi), NVML_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(create_gi(d, 19, 7, 1, &gi), NVML_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(nv.nvmlDeviceCreateGpuInstanceWithPlacement(d, 19, NULL, &gi),
                 NVML_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(create_gi(d, 19, 0, 1, NULL), NVML_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(count_gis(d, 19), 0, "nothing was created");
    /* NULL outputs */
    cr_assert_eq(nv.nvmlDeviceGetGpuInstanceProfileInfo(d, 0, NULL), NVML_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(nv.nvmlDeviceGetGpuInstancePossiblePlacements_v2(d, 19, pl, NULL),
                 NVML_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(nv.nvmlDeviceGetMigMode(d, &n, NULL), NVML_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(nv.nvmlDeviceGetUUID(d, NULL, 96), NVML_ERROR_INVALID_ARGUMENT);
    /* handles the emulator never gave out, or of the wrong kind */
    int junk[16] = {0};
    nvmlDevice_t bad = (nvmlDevice_t)(void *)junk;
    cr_assert_eq(nv.nvmlDeviceGetName(bad, (char[96]){0}, 96), NVML_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(
        nv.nvmlDeviceGetGpuInstanceProfileInfo(NULL, 0, &(nvmlGpuInstanceProfileInfo_t){0}),
        NVML_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(nv.nvmlGpuInstanceDestroy((nvmlGpuInstance_t)(void *)junk),
                 NVML_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(nv.nvmlGpuInstanceDestroy((nvmlGpuInstance_t)(void *)d),
                 NVML_ERROR_INVALID_ARGUMENT, "a device handle is no GI handle");
    cr_assert_eq(nv.nvmlComputeInstanceDestroy((nvmlComputeInstance_t)(void *)junk),
                 NVML_ERROR_INVALID_ARGUMENT);
    /* CI profiles: index past the last, engine profile other than SHARED */
    gi = gi_ok(d, 0, 0, 8);
    nvmlComputeInstanceProfileInfo_t ci_info;
    nvmlComputeInstance_t ci;
    cr_assert_eq(nv.nvmlGpuInstanceGetComputeInstanceProfileInfo(gi, 9, 0, &ci_info),
                 NVML_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(nv.nvmlGpuInstanceGetComputeInstanceProfileInfo(gi, 0, 1, &ci_info),
                 NVML_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(nv.nvmlGpuInstanceGetComputeInstanceProfileInfo(gi, 0, 0, NULL),
                 NVML_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(nv.nvmlGpuInstanceCreateComputeInstance(gi, 9, &ci), NVML_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(nv.nvmlGpuInstanceCreateComputeInstance(gi, 5, &ci), NVML_ERROR_INVALID_ARGUMENT,
                 "no 8-slice CI in a 7g GI");
    cr_assert_eq(nv.nvmlGpuInstanceGetComputeInstanceById(gi, 0, &ci), NVML_ERROR_NOT_FOUND);
    cr_assert_eq(nv.nvmlGpuInstanceDestroy(gi), NVML_SUCCESS);
    shutdown_ok();
}

Test(emu, buffers_too_small_are_insufficient_size)
{
    use_gpus("A100-SXM4-40GB");
    init_ok();
    nvmlDevice_t d = dev_at(0);
    char buf[96];
    cr_assert_eq(nv.nvmlDeviceGetName(d, buf, 5), NVML_ERROR_INSUFFICIENT_SIZE);
    cr_assert_eq(nv.nvmlDeviceGetName(d, buf, 21), NVML_ERROR_INSUFFICIENT_SIZE);
    cr_assert_eq(nv.nvmlDeviceGetName(d, buf, 22), NVML_SUCCESS, "21 characters and a NUL");
    cr_assert_eq(nv.nvmlDeviceGetUUID(d, buf, 40), NVML_ERROR_INSUFFICIENT_SIZE);
    cr_assert_eq(nv.nvmlDeviceGetUUID(d, buf, 41), NVML_SUCCESS);
    cr_assert_eq(nv.nvmlSystemGetDriverVersion(buf, 4), NVML_ERROR_INSUFFICIENT_SIZE);
    nvmlGpuInstance_t gis[4];
    for (unsigned s = 0; s < 3; s++)
        gis[s] = gi_ok(d, 19, s, 1);
    unsigned n = 2;
    cr_assert_eq(nv.nvmlDeviceGetGpuInstances(d, 19, gis, &n), NVML_ERROR_INSUFFICIENT_SIZE);
    cr_assert_eq(n, 3, "the count says how many there are");
    n = 3;
    cr_assert_eq(nv.nvmlDeviceGetGpuInstances(d, 19, gis, &n), NVML_SUCCESS);
    cr_assert_eq(n, 3);
    nvmlGpuInstancePlacement_t pl[8];
    n = 6;
    cr_assert_eq(nv.nvmlDeviceGetGpuInstancePossiblePlacements_v2(d, 19, pl, &n),
                 NVML_ERROR_INSUFFICIENT_SIZE);
    nvmlGpuInstance_t big = gi_ok(d, 9, 4, 4);
    nvmlComputeInstance_t cis[3];
    for (unsigned k = 0; k < 3; k++)
        cis[k] = ci_ok(big, 0);
    n = 2;
    cr_assert_eq(nv.nvmlGpuInstanceGetComputeInstances(big, 0, cis, &n),
                 NVML_ERROR_INSUFFICIENT_SIZE);
    cr_assert_eq(n, 3);
    nvmlComputeInstanceInfo_t info;
    cr_assert_eq(nv.nvmlComputeInstanceGetInfo_v2(cis[0], &info), NVML_SUCCESS);
    cr_assert_eq(nv.nvmlDeviceGetUUID(info.device, buf, 40), NVML_ERROR_INSUFFICIENT_SIZE);
    cr_assert_eq(nv.nvmlDeviceGetName(info.device, buf, 30), NVML_ERROR_INSUFFICIENT_SIZE);
    shutdown_ok();
}

/* ---- MIG disabled (nvml-abi.md §4.2) --------------------------------------------------- */

Test(emu, a_mig_disabled_gpu_lists_profiles_but_refuses_instances)
{
    use_gpus("A100-SXM4-40GB,A100-SXM4-40GB");
    setenv("SLICER_EMU_MIG_DISABLED", "1", 1);
    init_ok();
    nvmlDevice_t off = dev_at(1);
    unsigned cur = 9, pending = 9, n = 0;
    cr_assert_eq(nv.nvmlDeviceGetMigMode(off, &cur, &pending), NVML_SUCCESS);
    cr_assert(cur == 0 && pending == 0);
    nvmlGpuInstanceProfileInfo_t info;
    cr_assert_eq(nv.nvmlDeviceGetGpuInstanceProfileInfo(off, 0, &info), NVML_SUCCESS);
    cr_assert_eq(nv.nvmlDeviceGetGpuInstancePossiblePlacements_v2(off, 19, NULL, &n), NVML_SUCCESS);
    cr_assert_eq(n, 7);
    nvmlGpuInstance_t gi;
    cr_assert_eq(nv.nvmlDeviceGetGpuInstanceRemainingCapacity(off, 19, &n),
                 NVML_ERROR_NOT_SUPPORTED);
    cr_assert_eq(create_gi(off, 19, 0, 1, &gi), NVML_ERROR_NOT_SUPPORTED);
    n = 1;
    cr_assert_eq(nv.nvmlDeviceGetGpuInstances(off, 19, &gi, &n), NVML_ERROR_NOT_SUPPORTED);
    cr_assert_eq(nv.nvmlDeviceGetGpuInstanceById(off, 1, &gi), NVML_ERROR_NOT_SUPPORTED);
    cr_assert_eq(nv.nvmlDeviceGetMaxMigDeviceCount(off, &n), NVML_SUCCESS);
    cr_assert_eq(n, 0);
    nvmlDevice_t mig;
    cr_assert_eq(nv.nvmlDeviceGetMigDeviceHandleByIndex(off, 0, &mig), NVML_ERROR_NOT_SUPPORTED);
    /* GPU 0 is unaffected */
    cr_assert_eq(nv.nvmlDeviceGetMigMode(dev_at(0), &cur, &pending), NVML_SUCCESS);
    cr_assert(cur == 1 && pending == 1);
    gi_ok(dev_at(0), 19, 0, 1);
    shutdown_ok();
}

/* ---- UUIDs and MIG devices ----------------------------------------------------------- */

Test(emu, gpu_uuids_are_nvml_shaped_unique_and_stable)
{
    use_gpus("H100-80GB:4,A30:2,RTX PRO 6000:2");
    init_ok();
    char uuids[8][96];
    for (unsigned i = 0; i < 8; i++) {
        nvmlDevice_t d = dev_at(i), back;
        cr_assert_eq(nv.nvmlDeviceGetUUID(d, uuids[i], 96), NVML_SUCCESS);
        cr_assert(uuid_ok(uuids[i], "GPU-"), "%s", uuids[i]);
        for (unsigned j = 0; j < i; j++)
            cr_assert_str_neq(uuids[i], uuids[j]);
        cr_assert_eq(nv.nvmlDeviceGetHandleByUUID(uuids[i], &back), NVML_SUCCESS);
        cr_assert_eq(back, d);
        unsigned idx;
        cr_assert_eq(nv.nvmlDeviceGetIndex(d, &idx), NVML_SUCCESS);
        cr_assert_eq(idx, i);
    }
    nvmlDevice_t none;
    cr_assert_eq(nv.nvmlDeviceGetHandleByUUID("GPU-00000000-0000-0000-0000-000000000000", &none),
                 NVML_ERROR_NOT_FOUND);
    shutdown_ok();
    /* The same configuration gives the same UUIDs, in any process and state file. */
    use_gpus("H100-80GB:4,A30:2,RTX PRO 6000:2");
    init_ok();
    for (unsigned i = 0; i < 8; i++) {
        char again[96];
        cr_assert_eq(nv.nvmlDeviceGetUUID(dev_at(i), again, 96), NVML_SUCCESS);
        cr_assert_str_eq(again, uuids[i]);
    }
    shutdown_ok();
}

Test(emu, every_ci_is_a_mig_device_with_its_own_uuid)
{
    use_gpus("A100-SXM4-40GB");
    init_ok();
    nvmlDevice_t d = dev_at(0);
    nvmlGpuInstance_t gi = gi_ok(d, 9, 0, 4); /* 3g.20gb */
    nvmlComputeInstance_t full = ci_ok(gi, full_ci_index(gi, 3));
    nvmlComputeInstanceInfo_t info;
    cr_assert_eq(nv.nvmlComputeInstanceGetInfo_v2(full, &info), NVML_SUCCESS);
    nvmlDevice_t mig = info.device, parent, back;
    unsigned is_mig = 9, id = 99, max = 0;
    cr_assert_eq(nv.nvmlDeviceIsMigDeviceHandle(mig, &is_mig), NVML_SUCCESS);
    cr_assert_eq(is_mig, 1);
    cr_assert_eq(nv.nvmlDeviceIsMigDeviceHandle(d, &is_mig), NVML_SUCCESS);
    cr_assert_eq(is_mig, 0);
    nvmlGpuInstanceInfo_t gi_info;
    nv.nvmlGpuInstanceGetInfo(gi, &gi_info);
    cr_assert_eq(nv.nvmlDeviceGetGpuInstanceId(mig, &id), NVML_SUCCESS);
    cr_assert_eq(id, gi_info.id);
    cr_assert_eq(nv.nvmlDeviceGetComputeInstanceId(mig, &id), NVML_SUCCESS);
    cr_assert_eq(id, info.id);
    cr_assert_eq(nv.nvmlDeviceGetGpuInstanceId(d, &id), NVML_ERROR_NOT_SUPPORTED);
    cr_assert_eq(nv.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(mig, &parent), NVML_SUCCESS);
    cr_assert_eq(parent, d);
    char name[96], uuid[96];
    cr_assert_eq(nv.nvmlDeviceGetName(mig, name, sizeof name), NVML_SUCCESS);
    cr_assert_str_eq(name, "NVIDIA A100-SXM4-40GB MIG 3g.20gb");
    nvmlMemory_t mem;
    cr_assert_eq(nv.nvmlDeviceGetMemoryInfo(mig, &mem), NVML_SUCCESS);
    cr_assert_eq(mem.total, 19968ULL << 20);
    cr_assert_eq(nv.nvmlDeviceGetUUID(mig, uuid, sizeof uuid), NVML_SUCCESS);
    cr_assert(uuid_ok(uuid, "MIG-"), "%s", uuid);
    cr_assert_eq(nv.nvmlDeviceGetHandleByUUID(uuid, &back), NVML_SUCCESS);
    cr_assert_eq(back, mig);
    cr_assert_eq(nv.nvmlDeviceGetMaxMigDeviceCount(d, &max), NVML_SUCCESS);
    cr_assert_eq(max, 7);
    cr_assert_eq(nv.nvmlDeviceGetMigDeviceHandleByIndex(d, 0, &back), NVML_SUCCESS);
    cr_assert_eq(back, mig);
    cr_assert_eq(nv.nvmlDeviceGetMigDeviceHandleByIndex(d, 1, &back), NVML_ERROR_NOT_FOUND);
    cr_assert_eq(nv.nvmlDeviceGetMigDeviceHandleByIndex(d, 7, &back), NVML_ERROR_INVALID_ARGUMENT);

    /* Re-created, the CI is a new MIG device with a new UUID. */
    cr_assert_eq(nv.nvmlComputeInstanceDestroy(full), NVML_SUCCESS);
    char gone[96];
    cr_assert_eq(nv.nvmlDeviceGetUUID(mig, gone, sizeof gone), NVML_ERROR_NOT_FOUND);
    cr_assert_eq(nv.nvmlDeviceGetHandleByUUID(uuid, &back), NVML_ERROR_NOT_FOUND);
    nvmlComputeInstance_t again = ci_ok(gi, full_ci_index(gi, 3));
    char uuid2[96];
    mig_uuid_of(again, uuid2, sizeof uuid2);
    cr_assert_str_neq(uuid2, uuid);

    /* Partial CIs: names say so; ids from 0, each CI its own MIG device. */
    cr_assert_eq(nv.nvmlComputeInstanceDestroy(again), NVML_SUCCESS);
    nvmlComputeInstance_t c1 = ci_ok(gi, 0), c2 = ci_ok(gi, 0);
    cr_assert_eq(nv.nvmlComputeInstanceGetInfo_v2(c2, &info), NVML_SUCCESS);
    cr_assert_eq(info.id, 1);
    cr_assert_eq(info.placement.start, 1);
    cr_assert_eq(nv.nvmlDeviceGetName(info.device, name, sizeof name), NVML_SUCCESS);
    cr_assert_str_eq(name, "NVIDIA A100-SXM4-40GB MIG 1c.3g.20gb");
    mig_uuid_of(c1, uuid, sizeof uuid);
    mig_uuid_of(c2, uuid2, sizeof uuid2);
    cr_assert_str_neq(uuid, uuid2);
    cr_assert_eq(nv.nvmlDeviceGetMigDeviceHandleByIndex(d, 1, &back), NVML_SUCCESS);
    cr_assert_eq(back, info.device);
    shutdown_ok();
}

Test(emu, compute_instance_profiles_follow_the_gi_size)
{
    use_gpus("A100-SXM4-40GB");
    init_ok();
    nvmlDevice_t d = dev_at(0);
    nvmlGpuInstance_t whole = gi_ok(d, 0, 0, 8); /* 7g.40gb */
    /* valid C for G=7: 1, 2, 3, 4, 7 (compute_instances in the reference JSON) */
    static const unsigned want_slices[] = {1, 2, 3, 4, 7, 0, 0, 0, 0};
    for (unsigned j = 0; j < NVML_COMPUTE_INSTANCE_PROFILE_COUNT; j++) {
        nvmlComputeInstanceProfileInfo_t info;
        nvmlReturn_t r = nv.nvmlGpuInstanceGetComputeInstanceProfileInfo(whole, j, 0, &info);
        if (want_slices[j] == 0) {
            cr_assert_eq(r, NVML_ERROR_NOT_SUPPORTED, "CI index %u", j);
            continue;
        }
        cr_assert_eq(r, NVML_SUCCESS);
        cr_assert_eq(info.sliceCount, want_slices[j]);
        cr_assert_eq(info.instanceCount, 7 / want_slices[j]);
        cr_assert_eq(info.multiprocessorCount, 14 * want_slices[j]);
    }
    nvmlComputeInstance_t cis[8];
    for (unsigned k = 0; k < 7; k++)
        cis[k] = ci_ok(whole, 0);
    cr_assert_eq(nv.nvmlGpuInstanceCreateComputeInstance(whole, 0, &cis[7]),
                 NVML_ERROR_INSUFFICIENT_RESOURCES);
    unsigned n = 8;
    cr_assert_eq(nv.nvmlGpuInstanceGetComputeInstances(whole, 0, cis, &n), NVML_SUCCESS);
    cr_assert_eq(n, 7);
    cr_assert_eq(nv.nvmlComputeInstanceDestroy(cis[3]), NVML_SUCCESS);
    nvmlComputeInstance_t again = ci_ok(whole, 0), byid;
    nvmlComputeInstanceInfo_t info;
    nv.nvmlComputeInstanceGetInfo_v2(again, &info);
    cr_assert(info.id == 3 && info.placement.start == 3, "the freed id and slice are reused");
    cr_assert_eq(nv.nvmlGpuInstanceGetComputeInstanceById(whole, 3, &byid), NVML_SUCCESS);
    cr_assert_eq(byid, again);
    for (unsigned k = 0; k < 7; k++) {
        cr_assert_eq(nv.nvmlGpuInstanceGetComputeInstanceById(whole, k, &byid), NVML_SUCCESS);
        cr_assert_eq(nv.nvmlComputeInstanceDestroy(byid), NVML_SUCCESS);
    }
    cr_assert_eq(nv.nvmlGpuInstanceDestroy(whole), NVML_SUCCESS);

    /* 1g.10gb (1_SLICE_REV2, index 9, id 15): its one CI is 1_SLICE_REV1 (7), not 1_SLICE (0). */
    nvmlGpuInstance_t rev2 = gi_ok(d, 15, 0, 2);
    nvmlComputeInstanceProfileInfo_t pi;
    cr_assert_eq(nv.nvmlGpuInstanceGetComputeInstanceProfileInfo(rev2, 0, 0, &pi),
                 NVML_ERROR_NOT_SUPPORTED);
    cr_assert_eq(nv.nvmlGpuInstanceGetComputeInstanceProfileInfo(rev2, 7, 0, &pi), NVML_SUCCESS);
    cr_assert(pi.id == 7 && pi.sliceCount == 1 && pi.instanceCount == 1);
    ci_ok(rev2, 7);
    shutdown_ok();
}

/* ---- the +me.all rule on RTX PRO 6000 (nvml-abi.md §4.8, §5.14) -------------------------- */

Test(emu, rtx_pro_6000_me_all_shares_the_gpu_only_with_no_me_profiles)
{
    /* ids: 1g.24gb 14, 1g.24gb+me 21, +gfx 47, +me.all 65, -me 67; 2g.48gb 5, +me.all 64, -me 66 */
    use_gpus("RTX PRO 6000:3");
    init_ok();
    nvmlDevice_t a = dev_at(0), b = dev_at(1), c = dev_at(2);
    nvmlGpuInstance_t gi;
    gi_ok(a, 65, 0, 3); /* 1g.24gb+me.all */
    cr_assert_eq(capacity(a, 14), 0);
    cr_assert_eq(capacity(a, 67), 3);
    cr_assert_eq(capacity(a, 66), 1);
    cr_assert_eq(create_gi(a, 14, 3, 3, &gi), NVML_ERROR_INSUFFICIENT_RESOURCES);
    cr_assert_eq(create_gi(a, 21, 3, 3, &gi), NVML_ERROR_INSUFFICIENT_RESOURCES);
    cr_assert_eq(create_gi(a, 47, 3, 3, &gi), NVML_ERROR_INSUFFICIENT_RESOURCES);
    cr_assert_eq(create_gi(a, 64, 6, 6, &gi), NVML_ERROR_INSUFFICIENT_RESOURCES);
    cr_assert_eq(create_gi(a, 5, 6, 6, &gi), NVML_ERROR_INSUFFICIENT_RESOURCES);
    gi_ok(a, 67, 3, 3); /* 1g.24gb-me */
    gi_ok(a, 66, 6, 6); /* 2g.48gb-me */

    gi_ok(b, 14, 0, 3); /* a plain 1g first: +me.all is refused */
    cr_assert_eq(capacity(b, 65), 0);
    cr_assert_eq(capacity(b, 64), 0);
    cr_assert_eq(create_gi(b, 65, 3, 3, &gi), NVML_ERROR_INSUFFICIENT_RESOURCES);
    cr_assert_eq(create_gi(b, 64, 6, 6, &gi), NVML_ERROR_INSUFFICIENT_RESOURCES);

    gi_ok(c, 66, 0, 6); /* -me first: +me.all joins it */
    cr_assert_eq(capacity(c, 64), 1);
    gi_ok(c, 64, 6, 6);
    shutdown_ok();
}

/* ---- processes sharing the state file -------------------------------------------------- */

struct child_op {
    unsigned id, start, size;
    bool with_ci;
    int pipe_fd; /* the child writes its MIG UUID there, or -1 */
};

static int child_create(void *arg)
{
    const struct child_op *op = arg;
    if (nv.nvmlInit_v2() != NVML_SUCCESS)
        return 10;
    nvmlDevice_t d;
    nvmlGpuInstance_t gi;
    nvmlGpuInstancePlacement_t pl = {op->start, op->size};
    if (nv.nvmlDeviceGetHandleByIndex_v2(0, &d) != NVML_SUCCESS)
        return 11;
    nvmlReturn_t r = nv.nvmlDeviceCreateGpuInstanceWithPlacement(d, op->id, &pl, &gi);
    if (r != NVML_SUCCESS)
        return 12;
    if (op->with_ci) {
        nvmlComputeInstance_t ci;
        nvmlComputeInstanceInfo_t info;
        char uuid[96];
        if (nv.nvmlGpuInstanceCreateComputeInstance(gi, 0, &ci) != NVML_SUCCESS ||
            nv.nvmlComputeInstanceGetInfo_v2(ci, &info) != NVML_SUCCESS ||
            nv.nvmlDeviceGetUUID(info.device, uuid, sizeof uuid) != NVML_SUCCESS)
            return 13;
        if (op->pipe_fd >= 0 && write(op->pipe_fd, uuid, strlen(uuid) + 1) < 0)
            return 14;
    }
    return nv.nvmlShutdown() == NVML_SUCCESS ? 0 : 15;
}

Test(emu, a_gi_made_by_another_process_is_seen_with_the_same_mig_uuid)
{
    use_gpus("A100-SXM4-40GB");
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    struct child_op op = {19, 3, 1, true, fds[1]};
    int status = in_child(child_create, &op);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %d", status);
    char child_uuid[96] = "";
    cr_assert_gt(read(fds[0], child_uuid, sizeof child_uuid), 0);
    close(fds[0]);
    close(fds[1]);

    init_ok();
    nvmlDevice_t d = dev_at(0);
    nvmlGpuInstance_t gi;
    unsigned n = 1;
    cr_assert_eq(nv.nvmlDeviceGetGpuInstances(d, 19, &gi, &n), NVML_SUCCESS);
    cr_assert_eq(n, 1);
    nvmlGpuInstanceInfo_t info;
    cr_assert_eq(nv.nvmlGpuInstanceGetInfo(gi, &info), NVML_SUCCESS);
    cr_assert_eq(info.placement.start, 3);
    nvmlComputeInstance_t ci;
    n = 1;
    cr_assert_eq(nv.nvmlGpuInstanceGetComputeInstances(gi, 0, &ci, &n), NVML_SUCCESS);
    cr_assert_eq(n, 1);
    char uuid[96];
    mig_uuid_of(ci, uuid, sizeof uuid);
    cr_assert_str_eq(uuid, child_uuid, "every process sees the same MIG UUID");
    cr_assert_eq(capacity(d, 19), 6);

    /* A child's create after our init is visible to our next call. */
    struct child_op more = {19, 5, 1, false, -1};
    status = in_child(child_create, &more);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(capacity(d, 19), 5);
    cr_assert_eq(count_gis(d, 19), 2);
    shutdown_ok();
}

static int child_destroy_all(void *arg)
{
    (void)arg;
    if (nv.nvmlInit_v2() != NVML_SUCCESS)
        return 10;
    nvmlDevice_t d;
    nv.nvmlDeviceGetHandleByIndex_v2(0, &d);
    nvmlGpuInstance_t gis[8];
    unsigned n = 8;
    if (nv.nvmlDeviceGetGpuInstances(d, 9, gis, &n) != NVML_SUCCESS)
        return 11;
    for (unsigned i = 0; i < n; i++) {
        nvmlComputeInstance_t cis[8];
        unsigned m = 8;
        nv.nvmlGpuInstanceGetComputeInstances(gis[i], 2, cis, &m);
        for (unsigned k = 0; k < m; k++)
            if (nv.nvmlComputeInstanceDestroy(cis[k]) != NVML_SUCCESS)
                return 12;
        if (nv.nvmlGpuInstanceDestroy(gis[i]) != NVML_SUCCESS)
            return 13;
    }
    return nv.nvmlShutdown() == NVML_SUCCESS ? 0 : 15;
}

Test(emu, handles_to_instances_another_process_destroyed_fail_cleanly)
{
    use_gpus("A100-SXM4-40GB");
    init_ok();
    nvmlDevice_t d = dev_at(0);
    nvmlGpuInstance_t gi = gi_ok(d, 9, 0, 4);
    nvmlComputeInstance_t ci = ci_ok(gi, 2);
    nvmlComputeInstanceInfo_t info;
    cr_assert_eq(nv.nvmlComputeInstanceGetInfo_v2(ci, &info), NVML_SUCCESS);
    int status = in_child(child_destroy_all, NULL);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %d", status);
    char buf[96];
    unsigned id;
    cr_assert_eq(nv.nvmlGpuInstanceGetInfo(gi, &(nvmlGpuInstanceInfo_t){0}), NVML_ERROR_NOT_FOUND);
    cr_assert_eq(nv.nvmlComputeInstanceGetInfo_v2(ci, &info), NVML_ERROR_NOT_FOUND);
    cr_assert_eq(nv.nvmlDeviceGetUUID(info.device, buf, sizeof buf), NVML_ERROR_NOT_FOUND);
    cr_assert_eq(nv.nvmlDeviceGetGpuInstanceId(info.device, &id), NVML_ERROR_NOT_FOUND);
    cr_assert_eq(nv.nvmlGpuInstanceDestroy(gi), NVML_ERROR_NOT_FOUND);
    cr_assert_eq(nv.nvmlComputeInstanceDestroy(ci), NVML_ERROR_NOT_FOUND);
    nvmlComputeInstance_t c2;
    cr_assert_eq(nv.nvmlGpuInstanceCreateComputeInstance(gi, 2, &c2), NVML_ERROR_NOT_FOUND);
    /* A new GI with the same id and placement is a different GI: the old handle stays dead. */
    nvmlGpuInstance_t fresh = gi_ok(d, 9, 0, 4);
    cr_assert_neq(fresh, gi);
    cr_assert_eq(nv.nvmlGpuInstanceGetInfo(gi, &(nvmlGpuInstanceInfo_t){0}), NVML_ERROR_NOT_FOUND);
    shutdown_ok();
}

Test(emu, concurrent_processes_lose_no_update)
{
    use_gpus("A100-SXM4-40GB");
    setenv("SLICER_EMU_LATENCY_MS", "20", 1);
    pid_t pids[7];
    fflush(NULL);
    for (unsigned s = 0; s < 7; s++) {
        pids[s] = fork();
        cr_assert_geq(pids[s], 0);
        if (pids[s] == 0) {
            struct child_op op = {19, s, 1, true, -1};
            _exit(child_create(&op));
        }
    }
    for (unsigned s = 0; s < 7; s++) {
        int status;
        cr_assert_eq(waitpid(pids[s], &status, 0), pids[s]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %u: %d", s, status);
    }
    unsetenv("SLICER_EMU_LATENCY_MS");
    init_ok();
    cr_assert_eq(count_gis(dev_at(0), 19), 7);
    nvmlDevice_t mig;
    for (unsigned i = 0; i < 7; i++)
        cr_assert_eq(nv.nvmlDeviceGetMigDeviceHandleByIndex(dev_at(0), i, &mig), NVML_SUCCESS);
    shutdown_ok();
}

struct thread_arg {
    unsigned gpu;
    int failures;
};

static void *thread_body(void *p)
{
    struct thread_arg *a = p;
    nvmlDevice_t d;
    if (nv.nvmlDeviceGetHandleByIndex_v2(a->gpu, &d) != NVML_SUCCESS)
        a->failures++;
    for (unsigned round = 0; round < 3; round++) {
        for (unsigned s = 0; s < 7; s++) {
            nvmlGpuInstance_t gi;
            nvmlComputeInstance_t ci;
            if (create_gi(d, 19, s, 1, &gi) != NVML_SUCCESS ||
                nv.nvmlGpuInstanceCreateComputeInstance(gi, 0, &ci) != NVML_SUCCESS ||
                nv.nvmlComputeInstanceDestroy(ci) != NVML_SUCCESS ||
                nv.nvmlGpuInstanceDestroy(gi) != NVML_SUCCESS)
                a->failures++;
        }
    }
    return NULL;
}

Test(emu, threads_share_one_library_safely)
{
    use_gpus("A100-SXM4-40GB:4");
    init_ok();
    pthread_t t[4];
    struct thread_arg args[4];
    for (unsigned i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){i, 0};
        cr_assert_eq(pthread_create(&t[i], NULL, thread_body, &args[i]), 0);
    }
    for (unsigned i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(args[i].failures, 0, "thread %u", i);
    }
    shutdown_ok();
}

/* ---- fault injection ----------------------------------------------------------------- */

Test(emu, injected_errors_by_name_prefix_or_number_hit_exactly_the_nth_call)
{
    use_gpus(NULL);
    setenv(
        "SLICER_EMU_FAULTS",
        "nvmlDeviceGetCount_v2:2:INSUFFICIENT_RESOURCES,nvmlDeviceGetCount_v2:3:NVML_ERROR_IN_USE,"
        "nvmlDeviceGetCount_v2:4:999,nvmlDeviceGetCount_v2:5:unknown,"
        "nvmlDeviceCreateGpuInstanceWithPlacement:1:23",
        1);
    init_ok();
    unsigned n;
    cr_assert_eq(nv.nvmlDeviceGetCount_v2(&n), NVML_SUCCESS);
    cr_assert_eq(nv.nvmlDeviceGetCount_v2(&n), NVML_ERROR_INSUFFICIENT_RESOURCES);
    cr_assert_eq(nv.nvmlDeviceGetCount_v2(&n), NVML_ERROR_IN_USE);
    cr_assert_eq(nv.nvmlDeviceGetCount_v2(&n), NVML_ERROR_UNKNOWN);
    cr_assert_eq(nv.nvmlDeviceGetCount_v2(&n), NVML_ERROR_UNKNOWN);
    cr_assert_eq(nv.nvmlDeviceGetCount_v2(&n), NVML_SUCCESS);
    nvmlDevice_t d = dev_at(0);
    nvmlGpuInstance_t gi;
    cr_assert_eq(create_gi(d, 19, 0, 1, &gi), NVML_ERROR_INSUFFICIENT_RESOURCES);
    cr_assert_eq(count_gis(d, 19), 0, "an injected error does nothing");
    gi_ok(d, 19, 0, 1);
    shutdown_ok();
}

Test(emu, an_injected_error_on_init_fails_that_init_only)
{
    use_gpus(NULL);
    setenv("SLICER_EMU_FAULTS", "nvmlInit_v2:1:DRIVER_NOT_LOADED,nvmlShutdown:1:IN_USE", 1);
    cr_assert_eq(nv.nvmlInit_v2(), NVML_ERROR_DRIVER_NOT_LOADED);
    unsigned n;
    cr_assert_eq(nv.nvmlDeviceGetCount_v2(&n), NVML_ERROR_UNINITIALIZED);
    init_ok();
    cr_assert_eq(nv.nvmlShutdown(), NVML_ERROR_IN_USE);
    cr_assert_eq(nv.nvmlDeviceGetCount_v2(&n), NVML_SUCCESS, "still initialised");
    shutdown_ok();
}

struct crash_op {
    const char *faults;
    bool destroy; /* destroy GI 1 instead of creating 3g.20gb at 4:4 */
};

static int child_crash(void *arg)
{
    const struct crash_op *op = arg;
    setenv("SLICER_EMU_FAULTS", op->faults, 1);
    if (nv.nvmlInit_v2() != NVML_SUCCESS)
        return 10;
    nvmlDevice_t d;
    nvmlGpuInstance_t gi;
    nv.nvmlDeviceGetHandleByIndex_v2(0, &d);
    if (op->destroy) {
        if (nv.nvmlDeviceGetGpuInstanceById(d, 1, &gi) != NVML_SUCCESS)
            return 11;
        nv.nvmlGpuInstanceDestroy(gi);
    } else {
        create_gi(d, 9, 4, 4, &gi);
    }
    return 20; /* not reached when the fault kills */
}

static unsigned gis_in_a_fresh_process_view(void)
{
    unsetenv("SLICER_EMU_FAULTS");
    init_ok();
    unsigned n = count_gis(dev_at(0), 9);
    shutdown_ok();
    return n;
}

Test(emu, crash_kills_before_the_call_and_crash_after_once_it_is_persisted)
{
    use_gpus(NULL);
    struct crash_op before = {"nvmlDeviceCreateGpuInstanceWithPlacement:1:CRASH", false};
    int status = in_child(child_crash, &before);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %d", status);
    cr_assert_eq(gis_in_a_fresh_process_view(), 0, "CRASH: nothing was done");

    struct crash_op after = {"nvmlDeviceCreateGpuInstanceWithPlacement:1:CRASH_AFTER", false};
    status = in_child(child_crash, &after);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %d", status);
    cr_assert_eq(gis_in_a_fresh_process_view(), 1, "CRASH_AFTER: the GI is there");

    struct crash_op destroy_before = {"nvmlGpuInstanceDestroy:1:CRASH", true};
    status = in_child(child_crash, &destroy_before);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    cr_assert_eq(gis_in_a_fresh_process_view(), 1);

    struct crash_op destroy_after = {"nvmlGpuInstanceDestroy:1:CRASH_AFTER", true};
    status = in_child(child_crash, &destroy_after);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    cr_assert_eq(gis_in_a_fresh_process_view(), 0);

    /* Only the Nth call: the child makes one handle call, so ":2:" never fires. */
    struct crash_op second = {"nvmlDeviceGetHandleByIndex_v2:2:CRASH", false};
    status = in_child(child_crash, &second);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 20, "one handle call only: %d", status);
    cr_assert_eq(gis_in_a_fresh_process_view(), 1);
}

Test(emu, latency_is_added_to_creates_and_destroys)
{
    use_gpus(NULL);
    setenv("SLICER_EMU_LATENCY_MS", "60", 1);
    init_ok();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    nvmlGpuInstance_t gi = gi_ok(dev_at(0), 19, 0, 1);
    cr_assert_eq(nv.nvmlGpuInstanceDestroy(gi), NVML_SUCCESS);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    cr_assert_geq(ms, 120.0, "two calls took %.1f ms", ms);
    shutdown_ok();
}

/* ---- bad configuration: init fails with one clear line --------------------------------- */

static void expect_init_failure(const char *var, const char *value, const char *needle)
{
    use_gpus(NULL);
    setenv(var, value, 1);
    char err[4096];
    nvmlReturn_t r = init_capturing(err, sizeof err);
    cr_assert_eq(r, NVML_ERROR_UNKNOWN, "%s=%s: init returned %d", var, value, r);
    cr_assert(strstr(err, needle) != NULL, "%s=%s: message \"%s\" lacks \"%s\"", var, value, err,
              needle);
    cr_assert(strchr(err, '\n') == err + strlen(err) - 1, "one line: \"%s\"", err);
    unsigned n;
    cr_assert_eq(nv.nvmlDeviceGetCount_v2(&n), NVML_ERROR_UNINITIALIZED);
}

Test(emu, bad_environment_values_fail_init_with_a_clear_message)
{
    expect_init_failure("SLICER_EMU_GPUS", "Z100", "\"Z100\"");
    expect_init_failure("SLICER_EMU_GPUS", "Z100", "NVIDIA A100-SXM4-40GB, NVIDIA A100-SXM4-80GB");
    expect_init_failure("SLICER_EMU_GPUS", "A100", "ambiguous");
    expect_init_failure("SLICER_EMU_GPUS", "A100-SXM4-40GB:0", "bad count");
    expect_init_failure("SLICER_EMU_GPUS", "A100-SXM4-40GB:x", "bad count");
    expect_init_failure("SLICER_EMU_GPUS", "A100-SXM4-40GB:65", "bad count");
    expect_init_failure("SLICER_EMU_GPUS", "H100-80GB:40,H100-80GB:40", "more than 64");
    expect_init_failure("SLICER_EMU_GPUS", "A30,,A30", "empty entry");
    expect_init_failure("SLICER_EMU_GPUS", "", "empty entry");
    expect_init_failure("SLICER_EMU_MIG_DISABLED", "1", "SLICER_EMU_MIG_DISABLED");
    expect_init_failure("SLICER_EMU_MIG_DISABLED", "zero", "\"zero\"");
    expect_init_failure("SLICER_EMU_LATENCY_MS", "-1", "SLICER_EMU_LATENCY_MS");
    expect_init_failure("SLICER_EMU_LATENCY_MS", "5ms", "\"5ms\"");
    expect_init_failure("SLICER_EMU_FAULTS", "garbage", "FUNCTION:N:ACTION");
    expect_init_failure("SLICER_EMU_FAULTS", "nvmlNope:1:UNKNOWN", "\"nvmlNope\"");
    expect_init_failure("SLICER_EMU_FAULTS", "nvmlInit_v2:0:UNKNOWN", "call number");
    expect_init_failure("SLICER_EMU_FAULTS", "nvmlInit_v2:1:BOGUS", "\"BOGUS\"");
    expect_init_failure("SLICER_EMU_FAULTS", "nvmlInit_v2:1:0", "\"0\"");
    expect_init_failure("SLICER_EMU_FAULTS", "nvmlErrorString:1:UNKNOWN", "nvmlErrorString");
    expect_init_failure("SLICER_EMU_FAULTS", "nvmlInit_v2:1:CRASH:x", "bad entry");
}

Test(emu, model_names_match_loosely_but_uniquely)
{
    static const char *const ok[][2] = {
        {"A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB"},
        {"nvidia a100 sxm4 40gb", "NVIDIA A100-SXM4-40GB"},
        {"A100_PCIE_40GB", "NVIDIA A100-SXM4-40GB"},
        {"H100-80GB", "NVIDIA H100 80GB HBM3"},
        {"H800-80GB", "NVIDIA H100 80GB HBM3"}, /* alias with its " (...)" note dropped */
        {"a30", "NVIDIA A30"},
        {"RTX PRO 6000", "NVIDIA RTX PRO 6000 Blackwell Server Edition"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        use_gpus(ok[i][0]);
        init_ok();
        char name[96];
        cr_assert_eq(nv.nvmlDeviceGetName(dev_at(0), name, sizeof name), NVML_SUCCESS);
        cr_assert_str_eq(name, ok[i][1], "%s", ok[i][0]);
        shutdown_ok();
    }
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    fclose(f);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

Test(emu, a_state_file_for_other_gpus_or_corrupt_is_refused)
{
    char err[4096];
    /* other GPUs */
    use_gpus("A100-SXM4-40GB");
    init_ok();
    shutdown_ok();
    setenv("SLICER_EMU_GPUS", "H100-80GB", 1);
    cr_assert_eq(init_capturing(err, sizeof err), NVML_ERROR_UNKNOWN);
    cr_assert(strstr(err, "SLICER_EMU_GPUS") && strstr(err, state_path), "%s", err);
    setenv("SLICER_EMU_GPUS", "A100-SXM4-40GB:2", 1);
    cr_assert_eq(init_capturing(err, sizeof err), NVML_ERROR_UNKNOWN);
    cr_assert(strstr(err, "describes 1 GPUs"), "%s", err);

    /* not JSON */
    use_gpus(NULL);
    write_file(state_path, "{\"format\": ", 11);
    cr_assert_eq(init_capturing(err, sizeof err), NVML_ERROR_UNKNOWN);
    cr_assert(strstr(err, "corrupt"), "%s", err);

    /* too big */
    use_gpus(NULL);
    static char big[(1 << 20) + 2];
    memset(big, ' ', sizeof big);
    write_file(state_path, big, sizeof big);
    cr_assert_eq(init_capturing(err, sizeof err), NVML_ERROR_UNKNOWN);
    cr_assert(strstr(err, "1048576 bytes"), "%s", err);

    /* hand-edited into two overlapping GIs */
    use_gpus(NULL);
    init_ok();
    gi_ok(dev_at(0), 9, 0, 4);
    gi_ok(dev_at(0), 9, 4, 4);
    shutdown_ok();
    char *text = read_text(state_path);
    char *at = strstr(text, "\"start\": 4");
    cr_assert_not_null(at);
    at[9] = '0';
    write_file(state_path, text, strlen(text));
    cr_assert_eq(init_capturing(err, sizeof err), NVML_ERROR_UNKNOWN);
    cr_assert(strstr(err, "placement rules"), "%s", err);

    /* an unknown key */
    use_gpus(NULL);
    init_ok();
    shutdown_ok();
    text = read_text(state_path);
    at = strstr(text, "\"nonce\"");
    cr_assert_not_null(at);
    memcpy(at, "\"nonse\"", 7);
    write_file(state_path, text, strlen(text));
    cr_assert_eq(init_capturing(err, sizeof err), NVML_ERROR_UNKNOWN);
    cr_assert(strstr(err, "state file"), "%s", err);
}

/* child_create in a child that first drops the NVML it inherited, like a new process. */
static int child_fresh_create(void *arg)
{
    while (nv.nvmlShutdown() == NVML_SUCCESS)
        continue;
    return child_create(arg);
}

Test(emu, a_state_file_removed_or_replaced_under_a_running_process_is_an_error)
{
    use_gpus(NULL);
    init_ok();
    nvmlDevice_t d = dev_at(0);
    gi_ok(d, 19, 0, 1);
    cr_assert_eq(unlink(state_path), 0);
    unsigned n;
    char err[4096];
    capture_begin();
    nvmlReturn_t r = nv.nvmlDeviceGetGpuInstanceRemainingCapacity(d, 19, &n);
    capture_end(err, sizeof err);
    cr_assert_eq(r, NVML_ERROR_UNKNOWN);
    cr_assert(strstr(err, "disappeared"), "%s", err);
    struct child_op op = {19, 2, 1, false, -1}; /* another process starts afresh */
    int status = in_child(child_fresh_create, &op);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %d", status);
    capture_begin();
    r = nv.nvmlDeviceGetGpuInstanceRemainingCapacity(d, 19, &n);
    capture_end(err, sizeof err);
    cr_assert_eq(r, NVML_ERROR_UNKNOWN, "handles of the old file must not name the new one's");
    cr_assert(strstr(err, "replaced"), "%s", err);
    shutdown_ok();
    cr_assert_eq(init_capturing(err, sizeof err), NVML_SUCCESS, "%s", err);
    cr_assert_eq(capacity(dev_at(0), 19), 6);
    shutdown_ok();
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    char *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

/* The emulator keeps the state it last read or wrote while the file is the same file; one
 * rewritten in place (same inode, as an editor or `>` would) is read again. */
Test(emu, a_state_file_rewritten_in_place_is_read_again)
{
    use_gpus("A100-SXM4-40GB");
    init_ok();
    nvmlDevice_t d = dev_at(0);
    size_t empty_len;
    char *empty = slurp(state_path, &empty_len);
    gi_ok(d, 19, 0, 1);
    gi_ok(d, 19, 1, 1);
    cr_assert_eq(count_gis(d, 19), 2);
    struct stat before, after;
    cr_assert_eq(stat(state_path, &before), 0);
    int fd = open(state_path, O_WRONLY | O_TRUNC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, empty, empty_len), (ssize_t)empty_len);
    close(fd);
    cr_assert_eq(stat(state_path, &after), 0);
    cr_assert_eq(before.st_ino, after.st_ino, "the same file, rewritten");
    cr_expect_eq(count_gis(d, 19), 0, "the file's state, not the remembered one");
    cr_expect_eq(capacity(d, 19), 7);
    free(empty);
    shutdown_ok();
}

Test(emu, without_a_state_file_the_state_is_per_process)
{
    use_gpus(NULL);
    unsetenv("SLICER_EMU_STATE");
    init_ok();
    gi_ok(dev_at(0), 19, 0, 1);
    cr_assert_eq(count_gis(dev_at(0), 19), 1);
    shutdown_ok();
    init_ok();
    cr_assert_eq(count_gis(dev_at(0), 19), 0, "a new init, a fresh GPU");
    shutdown_ok();
}

/* ---- cross-check against core (src/core/catalog.c, src/core/place.c) ---------------------- */

Test(emu, placements_equal_the_catalogs_for_every_model_and_profile)
{
    json_t *root = reference();
    cr_assert_eq(cat_gpu_count(), json_array_size(ref_gpus(root)), "catalog and JSON models");
    json_decref(root);
    for (size_t i = 0; i < cat_gpu_count(); i++) {
        const struct cat_gpu *m = cat_gpu_at(i);
        use_gpus(m->name);
        init_ok();
        nvmlDevice_t d = dev_at(0);
        unsigned offered = 0;
        for (unsigned idx = 0; idx < PROFILE_COUNT; idx++) {
            nvmlGpuInstanceProfileInfo_t info;
            offered += nv.nvmlDeviceGetGpuInstanceProfileInfo(d, idx, &info) == NVML_SUCCESS;
        }
        cr_assert_eq(offered, m->nprofiles, "%s: emulator %u profiles, catalog %u", m->name,
                     offered, m->nprofiles);
        for (unsigned k = 0; k < m->nprofiles; k++) {
            const struct cat_profile *p = &m->profiles[k];
            nvmlGpuInstanceProfileInfo_t info;
            cr_assert_eq(nv.nvmlDeviceGetGpuInstanceProfileInfo(d, p->nvml_index, &info),
                         NVML_SUCCESS, "%s %s", m->name, p->name);
            cr_assert_eq(info.id, p->info_id, "%s %s", m->name, p->name);
            cr_assert_eq(info.sliceCount, p->compute_slices);
            cr_assert_eq(info.instanceCount, p->max_count);
            cr_assert_eq(info.multiprocessorCount, p->sm_count, "%s %s", m->name, p->name);
            if (p->memory_mib != 0) /* 0: the reference does not know it */
                cr_assert_eq(info.memorySizeMB, p->memory_mib, "%s %s", m->name, p->name);
            nvmlGpuInstancePlacement_t pl[16];
            unsigned n = 16;
            cr_assert_eq(nv.nvmlDeviceGetGpuInstancePossiblePlacements_v2(d, p->info_id, pl, &n),
                         NVML_SUCCESS);
            cr_assert_eq(n, p->nplacements, "%s %s", m->name, p->name);
            for (unsigned j = 0; j < n; j++)
                cr_assert(pl[j].start == p->placements[j].start &&
                              pl[j].size == p->placements[j].size,
                          "%s %s placement %u: emulator %u:%u, catalog %u:%u", m->name, p->name, j,
                          pl[j].start, pl[j].size, p->placements[j].start, p->placements[j].size);
        }
        shutdown_ok();
    }
}

/* One random step on both sides: a create at a listed placement or a destroy. */
static void random_step(nvmlDevice_t d, struct place_gpu *pg, nvmlGpuInstance_t *gi_at,
                        unsigned *created)
{
    const struct cat_gpu *m = pg->model;
    if (pg->ninst > 0 && rand() % 3 == 0) {
        const struct place_inst *in = &pg->inst[(unsigned)rand() % pg->ninst];
        unsigned start = in->start;
        cr_assert_eq(nv.nvmlGpuInstanceDestroy(gi_at[start]), NVML_SUCCESS);
        cr_assert_eq(place_release(pg, start), PLACE_OK);
        return;
    }
    unsigned k = (unsigned)rand() % m->nprofiles;
    const struct cat_profile *p = &m->profiles[k];
    struct cat_placement pl = p->placements[(unsigned)rand() % p->nplacements];
    enum place_why why = place_check(pg, k, pl.start);
    nvmlGpuInstance_t gi;
    nvmlReturn_t r = create_gi(d, p->info_id, pl.start, pl.size, &gi);
    cr_assert_eq(r == NVML_SUCCESS, why == PLACE_OK, "%s %s at %u: emulator says %s, core says %s",
                 m->name, p->name, pl.start, nv.nvmlErrorString(r), place_why_str(why));
    if (r != NVML_SUCCESS) {
        cr_assert_eq(r, NVML_ERROR_INSUFFICIENT_RESOURCES);
        return;
    }
    cr_assert_eq(place_add(pg, k, pl.start, 1), PLACE_OK);
    gi_at[pl.start] = gi;
    (*created)++;
}

Test(emu, random_creates_and_destroys_agree_with_core_place_check, .timeout = 300)
{
    srand(20240611);
    for (size_t i = 0; i < cat_gpu_count(); i++) {
        const struct cat_gpu *m = cat_gpu_at(i);
        use_gpus(m->name);
        unsetenv("SLICER_EMU_STATE"); /* in memory: fast; the file path is tested above */
        init_ok();
        nvmlDevice_t d = dev_at(0);
        struct place_gpu pg;
        place_gpu_init(&pg, m);
        nvmlGpuInstance_t gi_at[CAT_MAX_MEM_SLICES] = {0};
        unsigned created = 0;
        for (unsigned step = 0; step < 1000; step++) {
            random_step(d, &pg, gi_at, &created);
            for (unsigned k = 0; k < m->nprofiles; k++)
                cr_assert_eq(capacity(d, m->profiles[k].info_id), place_fits_more(&pg, k),
                             "%s %s: remaining capacity", m->name, m->profiles[k].name);
        }
        cr_assert_geq(created, 100, "%s: only %u creates", m->name, created);
        shutdown_ok();
    }
}
