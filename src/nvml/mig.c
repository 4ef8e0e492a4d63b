#include "nvml/mig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

#define MAX_PROFILE_INDEX 64 /* profile indices are probed until INVALID_ARGUMENT, at most this */

/* ---- reading ------------------------------------------------------------------ */

static int read_identity(struct nvml *n, nvmlDevice_t dev, struct mig_gpu *g, struct err **err)
{
    nvmlReturn_t r = n->fn.nvmlDeviceGetName(dev, g->name, sizeof g->name);
    if (r != NVML_SUCCESS)
        return nvml_fail(n, r, err, "reading the name of GPU %u", g->index);
    r = n->fn.nvmlDeviceGetUUID(dev, g->uuid, sizeof g->uuid);
    if (r != NVML_SUCCESS)
        return nvml_fail(n, r, err, "reading the UUID of GPU %u", g->index);
    nvmlPciInfo_t pci;
    r = n->fn.nvmlDeviceGetPciInfo_v3(dev, &pci);
    if (r != NVML_SUCCESS)
        return nvml_fail(n, r, err, "reading the PCI info of GPU %u", g->index);
    g->pci_device_id = pci.pciDeviceId;
    unsigned minor;
    g->minor = n->fn.nvmlDeviceGetMinorNumber &&
                       n->fn.nvmlDeviceGetMinorNumber(dev, &minor) == NVML_SUCCESS
                   ? minor
                   : MIG_NO_MINOR;
    nvmlMemory_t mem;
    r = n->fn.nvmlDeviceGetMemoryInfo(dev, &mem);
    g->memory_mib = r == NVML_SUCCESS ? mem.total / (1024 * 1024) : 0;
    g->model = cat_gpu_find(g->name);
    if (g->model == NULL)
        g->model = cat_gpu_find_pci(pci.pciDeviceId);
    unsigned cur = 0, pending = 0;
    r = n->fn.nvmlDeviceGetMigMode(dev, &cur, &pending);
    if (r != NVML_SUCCESS && r != NVML_ERROR_NOT_SUPPORTED)
        return nvml_fail(n, r, err, "reading the MIG mode of GPU %u", g->index);
    g->mig_enabled = r == NVML_SUCCESS && cur == NVML_DEVICE_MIG_ENABLE;
    return 0;
}

static int read_placements(struct nvml *n, nvmlDevice_t dev, struct mig_gpu *g,
                           struct mig_profile *p, struct err **err)
{
    if (n->fn.nvmlDeviceGetGpuInstancePossiblePlacements_v2 == NULL)
        return 0; /* NVML < 11.4: placements unknown, the catalog's apply */
    unsigned count = 0;
    nvmlReturn_t r = n->fn.nvmlDeviceGetGpuInstancePossiblePlacements_v2(dev, p->id, NULL, &count);
    if (r == NVML_ERROR_NOT_SUPPORTED)
        return 0;
    if (r != NVML_SUCCESS)
        return nvml_fail(n, r, err, "counting placements of GI profile %u on GPU %u", p->id,
                         g->index);
    if (count > CAT_MAX_PLACEMENTS)
        return err_set(err, ERANGE, "GPU %u lists %u placements for GI profile %u (at most %d)",
                       g->index, count, p->id, CAT_MAX_PLACEMENTS);
    r = n->fn.nvmlDeviceGetGpuInstancePossiblePlacements_v2(dev, p->id, p->placements, &count);
    if (r != NVML_SUCCESS)
        return nvml_fail(n, r, err, "reading placements of GI profile %u on GPU %u", p->id,
                         g->index);
    p->nplacements = count;
    return 0;
}

static int read_profiles(struct nvml *n, nvmlDevice_t dev, struct mig_gpu *g, struct err **err)
{
    for (unsigned i = 0; i < MAX_PROFILE_INDEX; i++) {
        nvmlGpuInstanceProfileInfo_t info;
        nvmlReturn_t r = n->fn.nvmlDeviceGetGpuInstanceProfileInfo(dev, i, &info);
        if (r == NVML_ERROR_INVALID_ARGUMENT)
            break; /* past the last profile index this driver knows */
        if (r == NVML_ERROR_NOT_SUPPORTED)
            continue;
        if (r != NVML_SUCCESS)
            return nvml_fail(n, r, err, "reading GI profile index %u on GPU %u", i, g->index);
        if (g->nprofiles == CAT_MAX_PROFILES)
            return err_set(err, ERANGE, "GPU %u offers more than %d GI profiles", g->index,
                           CAT_MAX_PROFILES);
        struct mig_profile *p = &g->profiles[g->nprofiles++];
        *p = (struct mig_profile){.index = i,
                                  .id = info.id,
                                  .slices = info.sliceCount,
                                  .instance_count = info.instanceCount,
                                  .memory_mib = info.memorySizeMB};
        p->profile = g->model ? cat_profile_by_info_id(g->model, info.id) : -1;
        int rc = read_placements(n, dev, g, p, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The full-size CI profile of a GI of `slices` compute slices: its info. */
static int full_ci_profile(struct nvml *n, nvmlGpuInstance_t gi, unsigned slices,
                           nvmlComputeInstanceProfileInfo_t *out, struct err **err)
{
    for (unsigned j = 0; j < MAX_PROFILE_INDEX; j++) {
        nvmlComputeInstanceProfileInfo_t info;
        nvmlReturn_t r = n->fn.nvmlGpuInstanceGetComputeInstanceProfileInfo(
            gi, j, NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED, &info);
        if (r == NVML_ERROR_INVALID_ARGUMENT)
            break;
        if (r == NVML_ERROR_NOT_SUPPORTED)
            continue;
        if (r != NVML_SUCCESS)
            return nvml_fail(n, r, err, "reading CI profile index %u", j);
        if (info.sliceCount == slices) {
            *out = info;
            return 0;
        }
    }
    return err_set(err, ENOTSUP, "no compute-instance profile spans the GI's %u slices", slices);
}

/* The first CI of `gi` (any profile): fills ci_id, ci_slices and uuid; ci_id
 * stays MIG_NO_CI when there is none. */
static int read_ci(struct nvml *n, nvmlGpuInstance_t gi, struct mig_instance *mi, struct err **err)
{
    mi->ci_id = MIG_NO_CI;
    for (unsigned j = 0; j < MAX_PROFILE_INDEX; j++) {
        nvmlComputeInstanceProfileInfo_t info;
        nvmlReturn_t r = n->fn.nvmlGpuInstanceGetComputeInstanceProfileInfo(
            gi, j, NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED, &info);
        if (r == NVML_ERROR_INVALID_ARGUMENT)
            break;
        if (r == NVML_ERROR_NOT_SUPPORTED)
            continue;
        if (r != NVML_SUCCESS)
            return nvml_fail(n, r, err, "reading CI profile index %u", j);
        nvmlComputeInstance_t cis[8];
        unsigned count = 8;
        r = n->fn.nvmlGpuInstanceGetComputeInstances(gi, info.id, cis, &count);
        if (r != NVML_SUCCESS)
            return nvml_fail(n, r, err, "listing compute instances of profile %u", info.id);
        if (count == 0)
            continue;
        nvmlComputeInstanceInfo_t ci;
        r = n->fn.nvmlComputeInstanceGetInfo_v2(cis[0], &ci);
        if (r != NVML_SUCCESS)
            return nvml_fail(n, r, err, "reading a compute instance");
        r = n->fn.nvmlDeviceGetUUID(ci.device, mi->uuid, sizeof mi->uuid);
        if (r != NVML_SUCCESS)
            return nvml_fail(n, r, err, "reading the UUID of compute instance %u", ci.id);
        mi->ci_id = ci.id;
        mi->ci_slices = info.sliceCount;
        return 0;
    }
    return 0;
}

static int cmp_start(const void *a, const void *b)
{
    const struct mig_instance *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

static int read_instances(struct nvml *n, nvmlDevice_t dev, struct mig_gpu *g, struct err **err)
{
    for (unsigned k = 0; k < g->nprofiles; k++) {
        nvmlGpuInstance_t gis[MIG_MAX_INST];
        unsigned count = MIG_MAX_INST;
        nvmlReturn_t r = n->fn.nvmlDeviceGetGpuInstances(dev, g->profiles[k].id, gis, &count);
        if (r != NVML_SUCCESS)
            return nvml_fail(n, r, err, "listing GPU instances of profile %u on GPU %u",
                             g->profiles[k].id, g->index);
        for (unsigned i = 0; i < count && g->ninst < MIG_MAX_INST; i++) {
            nvmlGpuInstanceInfo_t info;
            r = n->fn.nvmlGpuInstanceGetInfo(gis[i], &info);
            if (r != NVML_SUCCESS)
                return nvml_fail(n, r, err, "reading a GPU instance on GPU %u", g->index);
            struct mig_instance *mi = &g->inst[g->ninst++];
            *mi = (struct mig_instance){.gi_id = info.id,
                                        .profile_id = info.profileId,
                                        .profile = g->profiles[k].profile,
                                        .start = info.placement.start,
                                        .size = info.placement.size};
            int rc = read_ci(n, gis[i], mi, err);
            if (rc < 0)
                return err_wrap(err, "GPU %u GI %u", g->index, info.id);
        }
    }
    qsort(g->inst, g->ninst, sizeof g->inst[0], cmp_start);
    return 0;
}

int mig_read_gpu(struct nvml *n, unsigned index, struct mig_gpu *out, struct err **err)
{
    memset(out, 0, sizeof *out);
    out->index = index;
    nvmlDevice_t dev;
    nvmlReturn_t r = n->fn.nvmlDeviceGetHandleByIndex_v2(index, &dev);
    if (r != NVML_SUCCESS)
        return nvml_fail(n, r, err, "opening GPU %u", index);
    int rc = read_identity(n, dev, out, err);
    if (rc == 0)
        rc = read_profiles(n, dev, out, err);
    if (rc == 0 && out->mig_enabled)
        rc = read_instances(n, dev, out, err);
    return rc;
}

int mig_discover(struct nvml *n, struct mig_gpu **gpus, size_t *ngpus, struct err **err)
{
    struct mig_gpu *g = xcalloc(n->ngpus ? n->ngpus : 1, sizeof *g);
    for (unsigned i = 0; i < n->ngpus; i++) {
        int rc = mig_read_gpu(n, i, &g[i], err);
        if (rc < 0) {
            free(g);
            return rc;
        }
    }
    *gpus = g;
    *ngpus = n->ngpus;
    return 0;
}

/* ---- changing ------------------------------------------------------------------ */

/* What a create or destroy works on: the device, the catalog profile and the
 * NVML GI profile info it maps to on this GPU. */
struct target {
    nvmlDevice_t dev;
    unsigned index, start;
    const struct cat_gpu *model;
    const struct cat_profile *prof;
    nvmlGpuInstanceProfileInfo_t info;
};

static int open_target(struct nvml *n, unsigned index, unsigned profile, unsigned start,
                       struct target *t, struct err **err)
{
    struct mig_gpu g = {.index = index};
    t->index = index;
    t->start = start;
    nvmlReturn_t r = n->fn.nvmlDeviceGetHandleByIndex_v2(index, &t->dev);
    if (r != NVML_SUCCESS)
        return nvml_fail(n, r, err, "opening GPU %u", index);
    int rc = read_identity(n, t->dev, &g, err);
    if (rc < 0)
        return rc;
    if (g.model == NULL)
        return err_set(err, ENOTSUP, "GPU %u (%s) is not a MIG-capable model slicer knows", index,
                       g.name);
    if (!g.mig_enabled)
        return err_set(err, ENOTSUP, "GPU %u (%s) does not have MIG mode enabled", index, g.name);
    if (profile >= g.model->nprofiles)
        return err_set(err, EINVAL, "GPU %u (%s) has no profile #%u", index, g.name, profile);
    t->model = g.model;
    t->prof = &g.model->profiles[profile];
    r = n->fn.nvmlDeviceGetGpuInstanceProfileInfo(t->dev, t->prof->nvml_index, &t->info);
    if (r != NVML_SUCCESS)
        return nvml_fail(n, r, err, "reading profile %s (index %u) on GPU %u", t->prof->name,
                         t->prof->nvml_index, index);
    if (t->info.id != t->prof->info_id)
        return err_set(err, EPROTO,
                       "GPU %u reports id %u for profile %s (index %u); the catalog says %u", index,
                       t->info.id, t->prof->name, t->prof->nvml_index, t->prof->info_id);
    return 0;
}

/* Finds the GI of the target's profile at the target's start; *gi = NULL if none. */
static int find_gi(struct nvml *n, const struct target *t, nvmlGpuInstance_t *gi, struct err **err)
{
    nvmlGpuInstance_t gis[MIG_MAX_INST];
    unsigned count = MIG_MAX_INST;
    *gi = NULL;
    nvmlReturn_t r = n->fn.nvmlDeviceGetGpuInstances(t->dev, t->info.id, gis, &count);
    if (r != NVML_SUCCESS)
        return nvml_fail(n, r, err, "listing %s instances on GPU %u", t->prof->name, t->index);
    for (unsigned i = 0; i < count; i++) {
        nvmlGpuInstanceInfo_t info;
        r = n->fn.nvmlGpuInstanceGetInfo(gis[i], &info);
        if (r != NVML_SUCCESS)
            return nvml_fail(n, r, err, "reading a GPU instance on GPU %u", t->index);
        if (info.placement.start == t->start) {
            *gi = gis[i];
            return 0;
        }
    }
    return 0;
}

/* Explains an INSUFFICIENT_RESOURCES: which instances are in the way. */
static int explain_refusal(struct nvml *n, const struct target *t, nvmlReturn_t r, struct err **err)
{
    struct mig_gpu g;
    char who[512] = "";
    size_t len = 0;
    if (mig_read_gpu(n, t->index, &g, NULL) == 0) {
        uint16_t want = cat_mask(t->start, t->prof->mem_slices);
        for (unsigned i = 0; i < g.ninst && len < sizeof who - 64; i++) {
            if ((cat_mask(g.inst[i].start, g.inst[i].size) & want) == 0)
                continue;
            const char *name = g.inst[i].profile >= 0 && g.model
                                   ? g.model->profiles[g.inst[i].profile].name
                                   : "unknown profile";
            len += (size_t)snprintf(who + len, sizeof who - len, "%sGI %u (%s at %u:%u)",
                                    len ? ", " : "; in the way: ", g.inst[i].gi_id, name,
                                    g.inst[i].start, g.inst[i].size);
        }
    }
    return nvml_fail(n, r, err, "creating %s at %u:%u on GPU %u%s", t->prof->name, t->start,
                     t->prof->mem_slices, t->index, who);
}

static int destroy_cis(struct nvml *n, nvmlGpuInstance_t gi, struct err **err)
{
    for (unsigned j = 0; j < MAX_PROFILE_INDEX; j++) {
        nvmlComputeInstanceProfileInfo_t info;
        nvmlReturn_t r = n->fn.nvmlGpuInstanceGetComputeInstanceProfileInfo(
            gi, j, NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED, &info);
        if (r == NVML_ERROR_INVALID_ARGUMENT)
            break;
        if (r == NVML_ERROR_NOT_SUPPORTED)
            continue;
        if (r != NVML_SUCCESS)
            return nvml_fail(n, r, err, "reading CI profile index %u", j);
        nvmlComputeInstance_t cis[8];
        unsigned count = 8;
        r = n->fn.nvmlGpuInstanceGetComputeInstances(gi, info.id, cis, &count);
        if (r != NVML_SUCCESS)
            return nvml_fail(n, r, err, "listing compute instances");
        for (unsigned i = 0; i < count; i++) {
            r = n->fn.nvmlComputeInstanceDestroy(cis[i]);
            if (r != NVML_SUCCESS && r != NVML_ERROR_NOT_FOUND)
                return nvml_fail(n, r, err, "destroying a compute instance");
        }
    }
    return 0;
}

static int destroy_gi(struct nvml *n, nvmlGpuInstance_t gi, struct err **err)
{
    int rc = destroy_cis(n, gi, err);
    if (rc < 0)
        return rc;
    nvmlReturn_t r = n->fn.nvmlGpuInstanceDestroy(gi);
    if (r == NVML_ERROR_IN_USE)
        return nvml_fail(n, r, err, "destroying the GPU instance (processes still use it)");
    if (r != NVML_SUCCESS && r != NVML_ERROR_NOT_FOUND)
        return nvml_fail(n, r, err, "destroying the GPU instance");
    return 0;
}

/* Gives `gi` its full-size CI unless it has one; fills the instance record. */
static int ensure_ci(struct nvml *n, const struct target *t, nvmlGpuInstance_t gi,
                     struct mig_instance *out, struct err **err)
{
    int rc = read_ci(n, gi, out, err);
    if (rc < 0 || out->ci_id != MIG_NO_CI)
        return rc;
    nvmlComputeInstanceProfileInfo_t ci_info = {0};
    rc = full_ci_profile(n, gi, t->info.sliceCount, &ci_info, err);
    if (rc < 0)
        return rc;
    nvmlComputeInstance_t ci;
    nvmlReturn_t r = n->fn.nvmlGpuInstanceCreateComputeInstance(gi, ci_info.id, &ci);
    if (r != NVML_SUCCESS)
        return nvml_fail(n, r, err, "creating the compute instance (CI profile %u)", ci_info.id);
    return read_ci(n, gi, out, err);
}

/* Reads the GI's record and gives it its full CI. */
static int finish_gi(struct nvml *n, const struct target *t, nvmlGpuInstance_t gi,
                     struct mig_instance *out, struct err **err)
{
    nvmlGpuInstanceInfo_t info;
    nvmlReturn_t r = n->fn.nvmlGpuInstanceGetInfo(gi, &info);
    if (r != NVML_SUCCESS)
        return nvml_fail(n, r, err, "reading the GPU instance");
    *out = (struct mig_instance){.gi_id = info.id,
                                 .profile_id = info.profileId,
                                 .profile = (int)(t->prof - t->model->profiles),
                                 .start = info.placement.start,
                                 .size = info.placement.size};
    int rc = ensure_ci(n, t, gi, out, err);
    return rc < 0 ? err_wrap(err, "GI %u", info.id) : 0;
}

static int create_locked(struct nvml *n, const struct target *t, struct mig_instance *out,
                         struct err **err)
{
    nvmlGpuInstance_t gi;
    int rc = find_gi(n, t, &gi, err);
    if (rc < 0)
        return rc;
    if (gi == NULL) {
        if (n->fn.nvmlDeviceCreateGpuInstanceWithPlacement == NULL)
            return err_set(err, ENOTSUP,
                           "the NVML library lacks "
                           "nvmlDeviceCreateGpuInstanceWithPlacement (driver older "
                           "than R450 / NVML 11.2.2)");
        nvmlGpuInstancePlacement_t pl = {.start = t->start, .size = t->prof->mem_slices};
        nvmlReturn_t r =
            n->fn.nvmlDeviceCreateGpuInstanceWithPlacement(t->dev, t->info.id, &pl, &gi);
        if (r != NVML_SUCCESS)
            return explain_refusal(n, t, r, err);
    }
    rc = finish_gi(n, t, gi, out, err);
    if (rc < 0) {
        /* Leave nothing half made: a GI without its CI is removed again. */
        struct err *undo = NULL;
        if (destroy_gi(n, gi, &undo) < 0) {
            err_wrap(err, "(removing the GPU instance again failed too: %s)", err_msg(undo));
            err_free(&undo);
        }
        return err_wrap(err, "creating %s at %u on GPU %u", t->prof->name, t->start, t->index);
    }
    return 0;
}

int mig_create(struct nvml *n, unsigned index, unsigned profile, unsigned start,
               struct mig_instance *out, struct err **err)
{
    struct target t = {0};
    nvml_lock_gpu(n, index);
    int rc = open_target(n, index, profile, start, &t, err);
    if (rc == 0)
        rc = create_locked(n, &t, out, err);
    nvml_unlock_gpu(n, index);
    return rc;
}

/* Is some GI of another profile at exactly this start? */
static int foreign_at(struct nvml *n, const struct target *t, struct err **err)
{
    struct mig_gpu g;
    int rc = mig_read_gpu(n, t->index, &g, err);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < g.ninst; i++)
        if (g.inst[i].start == t->start && g.inst[i].profile_id != t->info.id)
            return err_set(err, EEXIST,
                           "GPU %u holds GI %u of another profile (id %u) at %u, not a %s: left "
                           "untouched",
                           t->index, g.inst[i].gi_id, g.inst[i].profile_id, t->start,
                           t->prof->name);
    return 0;
}

int mig_destroy(struct nvml *n, unsigned index, unsigned profile, unsigned start, struct err **err)
{
    struct target t = {0};
    nvmlGpuInstance_t gi = NULL;
    nvml_lock_gpu(n, index);
    int rc = open_target(n, index, profile, start, &t, err);
    if (rc == 0)
        rc = find_gi(n, &t, &gi, err);
    if (rc == 0 && gi == NULL)
        rc = foreign_at(n, &t, err);
    else if (rc == 0)
        rc = destroy_gi(n, gi, err);
    nvml_unlock_gpu(n, index);
    if (rc < 0 && rc != -EEXIST && t.prof)
        return err_wrap(err, "destroying %s at %u on GPU %u", t.prof->name, start, index);
    return rc;
}

unsigned mig_to_place(const struct mig_gpu *m, struct place_gpu *g)
{
    if (m->model == NULL) {
        memset(g, 0, sizeof *g);
        return m->ninst;
    }
    place_gpu_init(g, m->model);
    unsigned missing = 0;
    for (unsigned i = 0; i < m->ninst; i++) {
        const struct mig_instance *mi = &m->inst[i];
        if (mi->profile < 0 || place_add(g, (unsigned)mi->profile, mi->start, 0) != PLACE_OK)
            missing++;
    }
    return missing;
}
