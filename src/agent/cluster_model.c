/* The pure parts of the cluster agent: parsing, status building, decisions. */
#include "agent/cluster_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/place.h"
#include "core/resname.h"
#include "kube/kube_req.h"

static const char *const phase_names[] = {"Pending", "Creating", "Ready", "Releasing", "Failed"};

const char *cl_phase_name(enum cl_phase p)
{
    return (unsigned)p < 5 ? phase_names[p] : "Unknown";
}

const char *cl_action_name(enum cl_action a)
{
    static const char *const names[] = {"nothing",  "create", "resume", "teardown",
                                        "finalize", "drop",   "fail",   "adopt"};
    return (unsigned)a < sizeof names / sizeof names[0] ? names[a] : "unknown";
}

/* ---- GPUSlice ------------------------------------------------------------------- */

/* Copies `src` into dst[cap]; false when it does not fit. */
static bool put(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        return false;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
    return true;
}

static const char *str_at(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(o, a);
    return json_string_value(b ? json_object_get(v, b) : v);
}

static int parse_meta(const json_t *obj, struct cl_slice *s, struct err **err)
{
    const json_t *md = json_object_get(obj, "metadata");
    const char *ns = str_at(md, "namespace", NULL), *name = str_at(md, "name", NULL);
    const char *uid = str_at(md, "uid", NULL);
    if (!ns || !name || !uid)
        return err_set(err, EINVAL, "GPUSlice without metadata.namespace, name or uid");
    if (!put(s->ns, sizeof s->ns, ns) || !put(s->name, sizeof s->name, name) ||
        !put(s->uid, sizeof s->uid, uid))
        return err_set(err, EINVAL, "GPUSlice %s/%s: metadata too long", ns, name);
    snprintf(s->key, sizeof s->key, "%s/%s", ns, name);
    const char *claim = str_at(json_object_get(md, "labels"), CL_CLAIM_LABEL, NULL);
    if (!put(s->claim_uid, sizeof s->claim_uid, claim))
        s->claim_uid[0] = '\0';
    s->deleting = json_object_get(md, "deletionTimestamp") != NULL &&
                  !json_is_null(json_object_get(md, "deletionTimestamp"));
    const json_t *fin = json_object_get(md, "finalizers");
    size_t i;
    const json_t *f;
    json_array_foreach(fin, i,
                       f) if (json_is_string(f) && strcmp(json_string_value(f), CL_FINALIZER) == 0)
        s->finalizer = true;
    char *text = json_is_array(fin) ? json_dumps(fin, JSON_COMPACT) : NULL;
    bool fits = put(s->finalizers, sizeof s->finalizers, text ? text : "[]");
    free(text);
    if (!fits)
        return err_set(err, EINVAL, "GPUSlice %s: too many finalizers", s->key);
    return 0;
}

static void parse_status(const json_t *obj, struct cl_slice *s)
{
    const char *phase = str_at(obj, "status", "phase");
    s->phase = CL_PENDING;
    for (int p = 0; phase && p < 5; p++)
        if (strcmp(phase, phase_names[p]) == 0)
            s->phase = (enum cl_phase)p;
    const char *mig = str_at(obj, "status", "migUUID");
    if (!put(s->mig_uuid, sizeof s->mig_uuid, mig))
        s->mig_uuid[0] = '\0';
}

static void parse_spec(const json_t *obj, struct cl_slice *s)
{
    const json_t *spec = json_object_get(obj, "spec");
    const char *profile = str_at(spec, "profile", NULL), *node = str_at(spec, "nodeName", NULL);
    const char *gpu = str_at(spec, "gpuUUID", NULL);
    const json_t *pl = json_object_get(spec, "placement");
    json_int_t start = json_integer_value(json_object_get(pl, "start"));
    json_int_t size = json_integer_value(json_object_get(pl, "size"));
    if (!profile || !node || !gpu || !json_is_integer(json_object_get(pl, "start")) ||
        !json_is_integer(json_object_get(pl, "size")))
        snprintf(s->invalid, sizeof s->invalid,
                 "spec needs profile, nodeName, gpuUUID and placement {start, size}");
    else if (!put(s->profile, sizeof s->profile, profile) || !put(s->node, sizeof s->node, node) ||
             !put(s->gpu_uuid, sizeof s->gpu_uuid, gpu))
        snprintf(s->invalid, sizeof s->invalid, "spec.profile, nodeName or gpuUUID is too long");
    else if (start < 0 || start > 15 || size < 1 || size > 16)
        snprintf(s->invalid, sizeof s->invalid, "spec.placement %lld:%lld is out of range",
                 (long long)start, (long long)size);
    s->start = start >= 0 && start <= 15 ? (uint32_t)start : 0;
    s->size = size >= 1 && size <= 16 ? (uint32_t)size : 0;
}

int cl_slice_parse(const json_t *obj, struct cl_slice *out, struct err **err)
{
    memset(out, 0, sizeof *out);
    int rc = parse_meta(obj, out, err);
    if (rc < 0)
        return rc;
    parse_status(obj, out);
    parse_spec(obj, out);
    return 0;
}

json_t *cl_finalizer_patch(const struct cl_slice *s)
{
    json_t *was = json_loads(s->finalizers, 0, NULL);
    if (!json_is_array(was)) {
        json_decref(was);
        was = json_array();
    }
    json_t *now = json_array();
    size_t i;
    json_t *f;
    json_array_foreach(was, i,
                       f) if (!json_is_string(f) || strcmp(json_string_value(f), CL_FINALIZER) != 0)
        json_array_append(now, f);
    json_t *patch = json_array();
    static const char *const path[] = {"metadata", "finalizers"};
    kube_jpatch_add(patch, "test", path, 2, was);
    kube_jpatch_add(patch, "replace", path, 2, now);
    return patch;
}

/* ---- NVML -> decisions ---------------------------------------------------------- */

enum cl_inst cl_inst_at(const struct mig_gpu *g, int profile, uint32_t start, const char **uuid)
{
    if (uuid)
        *uuid = NULL;
    for (unsigned i = 0; g && i < g->ninst; i++) {
        const struct mig_instance *mi = &g->inst[i];
        if (mi->start != start)
            continue;
        if (uuid)
            *uuid = mi->uuid;
        if (profile < 0 || mi->profile != profile)
            return CL_INST_OTHER;
        return mi->ci_id == MIG_NO_CI ? CL_INST_GI_ONLY : CL_INST_FULL;
    }
    return CL_INST_NONE;
}

/* Decisions for a slice that is Ready in the API. */
static enum cl_action decide_ready(const struct cl_view *v, const char **why)
{
    const struct journal_slice *e = v->entry;
    bool same =
        v->inst == CL_INST_FULL && v->inst_uuid && strcmp(v->inst_uuid, v->slice->mig_uuid) == 0;
    if (e && e->phase != SLICE_RELEASING && same)
        return e->phase == SLICE_READY ? CL_NOTHING : CL_RESUME;
    if (!e && same)
        return CL_ADOPT;
    if (v->rebooted)
        *why = "the node rebooted and its MIG instances are gone (they do not survive a reboot); "
               "the pod must get a new slice";
    else if (!e && v->inst == CL_INST_NONE)
        *why = "the MIG instance is gone and this agent has no record of it";
    else
        *why = "the MIG instance vanished or changed outside slicer; the pod must get a new slice";
    return CL_FAIL;
}

/* Decisions for a slice that is Pending or Creating in the API. */
static enum cl_action decide_create(const struct cl_view *v, const char **why)
{
    const struct journal_slice *e = v->entry;
    if (e && e->phase == SLICE_RELEASING) {
        *why = "creating the slice failed and it was rolled back";
        return CL_FAIL;
    }
    if (e)
        return CL_RESUME;
    if (v->inst == CL_INST_NONE || v->inst == CL_INST_OTHER)
        return CL_CREATE; /* NVML refuses an overlap itself, in its words */
    *why = "a MIG instance of this profile already sits at this placement and this agent did "
           "not make it for this slice (a foreign one, or another slice's): left untouched";
    return CL_FAIL;
}

enum cl_action cl_decide(const struct cl_view *v, const char **why)
{
    const char *dummy;
    if (why == NULL)
        why = &dummy;
    *why = NULL;
    const struct cl_slice *s = v->slice;
    if (s == NULL)
        return v->entry ? CL_DROP : CL_NOTHING;
    if (s->deleting || s->phase == CL_RELEASING) {
        if (v->entry)
            return CL_TEARDOWN;
        return s->deleting && s->finalizer ? CL_FINALIZE : CL_NOTHING;
    }
    if (s->phase == CL_FAILED)
        return v->entry ? CL_DROP : CL_NOTHING;
    if (s->invalid[0]) {
        if (v->entry)
            return CL_DROP;
        *why = s->invalid;
        return CL_FAIL;
    }
    if (s->phase == CL_READY)
        return decide_ready(v, why);
    return decide_create(v, why);
}

/* ---- GPUNode status and Node capacity --------------------------------------------- */

/* NVML_COMPUTE_INSTANCE_PROFILE_* index of the full CI of a GI with `slices`. */
static int full_ci_profile(unsigned slices)
{
    static const int by_slices[9] = {-1, 0, 1, 2, 3, -1, 6, 4, 5};
    return slices < 9 ? by_slices[slices] : -1;
}

static json_t *profile_json(const struct mig_gpu *g, const struct mig_profile *p)
{
    const char *name = g->model->profiles[p->profile].name;
    json_t *pls = json_array();
    for (uint32_t k = 0; k < p->nplacements; k++)
        json_array_append_new(pls, json_pack("{s:i, s:i}", "start", (int)p->placements[k].start,
                                             "size", (int)p->placements[k].size));
    json_t *o = json_pack("{s:s, s:i, s:i, s:I, s:o}", "name", name, "giProfileId", (int)p->id,
                          "sliceCount", (int)p->slices, "memoryMiB", (json_int_t)p->memory_mib,
                          "placements", pls);
    int ci = full_ci_profile(p->slices);
    if (ci >= 0)
        json_object_set_new(o, "ciProfileId", json_integer(ci));
    return o;
}

static const char *owner_of(const struct journal *j, const struct mig_gpu *g,
                            const struct mig_instance *mi)
{
    for (size_t k = 0; j && k < j->n; k++) {
        const struct journal_slice *e = &j->slices[k];
        if (e->slice[0] && e->start == mi->start && strcmp(e->gpu_uuid, g->uuid) == 0 && g->model &&
            mi->profile >= 0 && strcmp(g->model->profiles[mi->profile].name, e->profile) == 0)
            return e->slice;
    }
    return "";
}

static json_t *instance_json(const struct journal *j, const struct mig_gpu *g,
                             const struct mig_instance *mi)
{
    char unknown[32];
    snprintf(unknown, sizeof unknown, "unknown-id-%u", mi->profile_id);
    const char *name =
        g->model && mi->profile >= 0 ? g->model->profiles[mi->profile].name : unknown;
    json_t *o =
        json_pack("{s:s, s:i, s:i, s:i, s:s}", "profile", name, "start", (int)mi->start, "size",
                  (int)mi->size, "giId", (int)mi->gi_id, "slice", owner_of(j, g, mi));
    if (mi->ci_id != MIG_NO_CI)
        json_object_set_new(o, "ciId", json_integer(mi->ci_id));
    if (mi->uuid[0])
        json_object_set_new(o, "migUUID", json_string(mi->uuid));
    return o;
}

static json_t *gpu_json(const struct mig_gpu *g, const struct journal *j)
{
    json_t *profiles = json_array(), *inst = json_array();
    for (uint32_t p = 0; g->model && p < g->nprofiles; p++)
        if (g->profiles[p].profile >= 0)
            json_array_append_new(profiles, profile_json(g, &g->profiles[p]));
    for (uint32_t i = 0; i < g->ninst; i++)
        json_array_append_new(inst, instance_json(j, g, &g->inst[i]));
    return json_pack("{s:i, s:s, s:s, s:I, s:b, s:o, s:o}", "index", (int)g->index, "uuid", g->uuid,
                     "model", g->name, "memoryMiB", (json_int_t)g->memory_mib, "migMode",
                     g->mig_enabled, "profiles", profiles, "instances", inst);
}

json_t *cl_gpunode_status(const struct mig_gpu *gpus, size_t n, const struct journal *j,
                          const struct cl_node_info *info)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, gpu_json(&gpus[i], j));
    json_t *cond = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "Ready", "status",
                             info->ready ? "True" : "False", "reason", info->reason, "message",
                             info->message, "lastTransitionTime", info->transition);
    return json_pack("{s:o, s:i, s:s, s:s, s:s, s:[o]}", "gpus", arr, "gpuCount", (int)n, "bootID",
                     info->boot_id, "agentVersion", info->version, "heartbeatTime", info->now,
                     "conditions", cond);
}

/* Adds, per profile the GPU offers, the most slices an empty GPU holds. */
static void add_capacity(json_t *counts, const struct mig_gpu *g)
{
    if (!g->mig_enabled || g->model == NULL)
        return;
    struct place_gpu empty;
    place_gpu_init(&empty, g->model);
    for (uint32_t p = 0; p < g->nprofiles; p++) {
        int prof = g->profiles[p].profile;
        char res[RES_NAME_MAX];
        if (prof < 0 ||
            !res_name(RES_SLICER_PREFIX, g->model->profiles[prof].name, res, sizeof res))
            continue;
        json_int_t have = json_integer_value(json_object_get(counts, res));
        json_object_set_new(counts, res,
                            json_integer(have + place_fits_more(&empty, (unsigned)prof)));
    }
}

json_t *cl_capacity_patch(const struct mig_gpu *gpus, size_t n, const json_t *current)
{
    json_t *counts = json_object();
    for (size_t i = 0; i < n; i++)
        add_capacity(counts, &gpus[i]);
    json_t *cap = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(counts, k, v)
    {
        char text[24];
        snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v));
        json_object_set_new(cap, k, json_string(text));
    }
    json_object_foreach((json_t *)current, k,
                        v) if (strncmp(k, RES_SLICER_PREFIX, strlen(RES_SLICER_PREFIX)) == 0 &&
                               !json_object_get(counts, k))
        json_object_set_new(cap, k, json_null());
    json_decref(counts);
    return json_pack("{s:{s:O, s:o}}", "status", "capacity", cap, "allocatable", cap);
}

static bool section_current(const json_t *want, const json_t *have)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v)
    {
        const json_t *h = json_object_get(have, k);
        if (json_is_null(v) ? h != NULL : !json_equal(v, h))
            return false;
    }
    return true;
}

bool cl_capacity_is_current(const json_t *patch, const json_t *status)
{
    const json_t *want = json_object_get(patch, "status");
    return section_current(json_object_get(want, "capacity"),
                           json_object_get(status, "capacity")) &&
           section_current(json_object_get(want, "allocatable"),
                           json_object_get(status, "allocatable"));
}

struct journal_slice *cl_journal_find(struct journal *j, const char *key)
{
    for (size_t i = 0; i < j->n; i++)
        if (strcmp(j->slices[i].slice, key) == 0)
            return &j->slices[i];
    return NULL;
}

void cl_journal_entry(const struct cl_slice *s, uint32_t gpu, enum slice_phase phase,
                      const char *mig_uuid, struct journal_slice *out)
{
    *out = (struct journal_slice){
        .gpu_index = gpu, .start = s->start, .phase = phase, .created = (int64_t)time(NULL)};
    snprintf(out->owner, sizeof out->owner, "gpuslice");
    put(out->profile, sizeof out->profile, s->profile);
    put(out->gpu_uuid, sizeof out->gpu_uuid, s->gpu_uuid);
    put(out->slice, sizeof out->slice, s->key);
    put(out->uid, sizeof out->uid, s->uid);
    put(out->mig_uuid, sizeof out->mig_uuid, mig_uuid);
}

size_t cl_rslice_gpus(const struct mig_gpu *gpus, size_t n, struct rslice_gpu *out)
{
    for (size_t i = 0; i < n; i++) {
        const struct mig_gpu *g = &gpus[i];
        out[i] = (struct rslice_gpu){.index = g->index,
                                     .uuid = g->uuid,
                                     .name = g->name,
                                     .model = g->model,
                                     .mig_enabled = g->mig_enabled};
        for (uint32_t k = 0; k < g->ninst && out[i].ntaken < RSLICE_MAX_TAKEN; k++)
            out[i].taken[out[i].ntaken++] =
                (struct rslice_taken){.profile = g->inst[k].profile,
                                      .start = (uint8_t)g->inst[k].start,
                                      .size = (uint8_t)g->inst[k].size,
                                      .compute = (uint8_t)g->inst[k].ci_slices};
    }
    return n;
}
