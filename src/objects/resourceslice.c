/* A node's GPUs as DRA ResourceSlices: counters that say what an instance
 * takes, one device per listed placement (resourceslice.h). */
#include "objects/resourceslice.h"

#include <stdio.h>
#include <string.h>

#include "core/resname.h"

#define NODE_NAME_MAX 253 /* a DNS subdomain */
#define SUFFIX        "-" RSLICE_DRIVER "-"

/* "1g.5gb+me.all" -> "1g-5gb-plus-me-all": a DNS-label fragment, one to one. */
void rslice_device_name(uint32_t gpu, const char *profile, unsigned start, char *buf, size_t cap)
{
    char p[48];
    res_profile_label(profile, p, sizeof p);
    snprintf(buf, cap, "gpu%u-%s-at%u", gpu, p, start);
}

bool rslice_device_parse(const struct cat_gpu *m, uint32_t gpu, const char *name, unsigned *profile,
                         unsigned *start)
{
    for (unsigned p = 0; m && p < m->nprofiles; p++)
        for (unsigned k = 0; k < m->profiles[p].nplacements; k++) {
            char dn[RSLICE_NAME_MAX];
            rslice_device_name(gpu, m->profiles[p].name, m->profiles[p].placements[k].start, dn,
                               sizeof dn);
            if (strcmp(dn, name) == 0) {
                *profile = p;
                *start = m->profiles[p].placements[k].start;
                return true;
            }
        }
    return false;
}

void rslice_set_name(uint32_t gpu, char *buf, size_t cap)
{
    snprintf(buf, cap, "gpu%u", gpu);
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

void rslice_object_name(const char *node, size_t i, char *buf, size_t cap)
{
    size_t room = NODE_NAME_MAX - strlen(SUFFIX) - 4; /* up to 9999 slices */
    if (strlen(node) <= room) {
        snprintf(buf, cap, "%s" SUFFIX "%zu", node, i);
        return;
    }
    /* Shortened, with a hash of the whole name so that two long names stay apart; the cut
     * end is made alphanumeric-safe by the hash that follows it. */
    snprintf(buf, cap, "%.*s-%08x" SUFFIX "%zu", (int)(room - 9), node, fnv1a(node), i);
}

/* ---- counters -------------------------------------------------------------------------- */

static bool has_all_me(const struct cat_gpu *m)
{
    for (unsigned p = 0; p < m->nprofiles; p++)
        if (cat_profile_all_me(&m->profiles[p]))
            return true;
    return false;
}

/* A profile whose own instance limit is below its placement count needs a counter of its
 * own; otherwise distinct devices can never pass the limit. */
static bool limited(const struct cat_profile *p)
{
    return p->max_count < p->nplacements;
}

static void limit_name(const struct cat_profile *p, char *buf, size_t cap)
{
    char s[48];
    res_profile_label(p->name, s, sizeof s);
    snprintf(buf, cap, "max-%s", s);
}

static size_t put(struct rslice_counter *out, size_t n, const char *name, unsigned value)
{
    snprintf(out[n].name, sizeof out[n].name, "%s", name);
    out[n].value = value;
    return n + 1;
}

size_t rslice_capacity(const struct cat_gpu *m, struct rslice_counter *out)
{
    size_t n = 0;
    char name[RSLICE_NAME_MAX];
    for (unsigned i = 0; i < m->mem_slices; i++) {
        snprintf(name, sizeof name, "memory-slice-%u", i);
        n = put(out, n, name, 1);
    }
    n = put(out, n, "compute-slices", m->compute_slices);
    n = put(out, n, "instances", m->max_instances);
    for (unsigned p = 0; p < m->nprofiles; p++) {
        if (!limited(&m->profiles[p]))
            continue;
        limit_name(&m->profiles[p], name, sizeof name);
        n = put(out, n, name, m->profiles[p].max_count);
    }
    /* Media engines: an all-ME instance consumes all of them, any instance that is not
     * no-ME one; so an all-ME instance shares the GPU only with no-ME ones (and there is
     * at most one), as place.c's media rule says. */
    if (has_all_me(m))
        n = put(out, n, "media", m->max_instances);
    return n;
}

size_t rslice_consumes(const struct cat_gpu *m, unsigned p, unsigned start,
                       struct rslice_counter *out)
{
    const struct cat_profile *prof = &m->profiles[p];
    size_t n = 0;
    char name[RSLICE_NAME_MAX];
    for (unsigned i = start; i < start + prof->mem_slices && i < m->mem_slices; i++) {
        snprintf(name, sizeof name, "memory-slice-%u", i);
        n = put(out, n, name, 1);
    }
    n = put(out, n, "compute-slices", prof->compute_slices);
    n = put(out, n, "instances", 1);
    if (limited(prof)) {
        limit_name(prof, name, sizeof name);
        n = put(out, n, name, 1);
    }
    if (has_all_me(m) && !cat_profile_no_me(prof))
        n = put(out, n, "media", cat_profile_all_me(prof) ? m->max_instances : 1);
    return n;
}

/* What a taken instance consumes (an unknown profile: its slices, one instance, its
 * compute slices, and media as any instance that is not no-ME). */
static size_t taken_consumes(const struct cat_gpu *m, const struct rslice_taken *t,
                             struct rslice_counter *out)
{
    if (t->profile >= 0 && (unsigned)t->profile < m->nprofiles)
        return rslice_consumes(m, (unsigned)t->profile, t->start, out);
    size_t n = 0;
    char name[RSLICE_NAME_MAX];
    for (unsigned i = t->start; i < (unsigned)t->start + t->size && i < m->mem_slices; i++) {
        snprintf(name, sizeof name, "memory-slice-%u", i);
        n = put(out, n, name, 1);
    }
    n = put(out, n, "compute-slices", t->compute);
    n = put(out, n, "instances", 1);
    if (has_all_me(m))
        n = put(out, n, "media", 1);
    return n;
}

/* {name: {value: "N"}} for the counters given. */
static json_t *counters_json(const struct rslice_counter *c, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++) {
        char v[16];
        snprintf(v, sizeof v, "%u", c[i].value);
        json_object_set_new(o, c[i].name, json_pack("{s:s}", "value", v));
    }
    return o;
}

/* The GPU's counter set, less what its taken instances consume. */
static json_t *counter_set(const struct rslice_gpu *g)
{
    struct rslice_counter cap[RSLICE_MAX_COUNTERS], use[RSLICE_MAX_COUNTERS];
    size_t n = rslice_capacity(g->model, cap);
    for (size_t t = 0; t < g->ntaken; t++) {
        size_t k = taken_consumes(g->model, &g->taken[t], use);
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < n; j++)
                if (strcmp(cap[j].name, use[i].name) == 0)
                    cap[j].value = cap[j].value > use[i].value ? cap[j].value - use[i].value : 0;
    }
    char name[RSLICE_NAME_MAX];
    rslice_set_name(g->index, name, sizeof name);
    return json_pack("{s:s, s:o}", "name", name, "counters", counters_json(cap, n));
}

/* ---- devices --------------------------------------------------------------------------- */

static json_t *attr_s(const char *s)
{
    return json_pack("{s:s}", "string", s);
}

static json_t *attr_i(long long v)
{
    return json_pack("{s:I}", "int", (json_int_t)v);
}

static json_t *device(const struct rslice_gpu *g, unsigned p, unsigned start)
{
    const struct cat_profile *prof = &g->model->profiles[p];
    char name[RSLICE_NAME_MAX], set[RSLICE_NAME_MAX], model[65];
    rslice_device_name(g->index, prof->name, start, name, sizeof name);
    rslice_set_name(g->index, set, sizeof set);
    snprintf(model, sizeof model, "%s", g->name && g->name[0] ? g->name : g->model->name);
    json_t *attrs = json_object();
    json_object_set_new(attrs, "profile", attr_s(prof->name));
    json_object_set_new(attrs, "model", attr_s(model));
    json_object_set_new(attrs, "parentUUID", attr_s(g->uuid ? g->uuid : ""));
    json_object_set_new(attrs, "parentIndex", attr_i(g->index));
    json_object_set_new(attrs, "placementStart", attr_i(start));
    json_object_set_new(attrs, "placementSize", attr_i(prof->mem_slices));
    json_object_set_new(attrs, "computeSlices", attr_i(prof->compute_slices));
    json_t *capacity = json_object();
    if (prof->memory_mib) {
        char v[24];
        snprintf(v, sizeof v, "%uMi", prof->memory_mib);
        json_object_set_new(capacity, "memory", json_pack("{s:s}", "value", v));
    }
    if (prof->sm_count) {
        char v[16];
        snprintf(v, sizeof v, "%u", prof->sm_count);
        json_object_set_new(capacity, "multiprocessors", json_pack("{s:s}", "value", v));
    }
    struct rslice_counter c[RSLICE_MAX_COUNTERS];
    size_t n = rslice_consumes(g->model, p, start, c);
    return json_pack("{s:s, s:o, s:o, s:[{s:s, s:o}]}", "name", name, "attributes", attrs,
                     "capacity", capacity, "consumesCounters", "counterSet", set, "counters",
                     counters_json(c, n));
}

static bool published(const struct rslice_gpu *g)
{
    return g->model && g->mig_enabled;
}

/* ---- objects --------------------------------------------------------------------------- */

static json_t *object(const char *node, const char *node_uid, size_t i)
{
    char name[NODE_NAME_MAX + 1];
    rslice_object_name(node, i, name, sizeof name);
    json_t *meta = json_pack("{s:s}", "name", name);
    if (node_uid && node_uid[0])
        json_object_set_new(meta, "ownerReferences",
                            json_pack("[{s:s, s:s, s:s, s:s}]", "apiVersion", "v1", "kind", "Node",
                                      "name", node, "uid", node_uid));
    return json_pack("{s:s, s:s, s:o, s:{s:s, s:s}}", "apiVersion", RSLICE_API_VERSION, "kind",
                     "ResourceSlice", "metadata", meta, "spec", "driver", RSLICE_DRIVER, "nodeName",
                     node);
}

static json_t *spec_of(json_t *obj)
{
    return json_object_get(obj, "spec");
}

json_t *rslice_build(const char *node, const char *node_uid, int64_t generation,
                     const struct rslice_gpu *gpus, size_t n)
{
    json_t *out = json_array();
    json_t *cur = NULL;
    /* Counter slices: RSLICE_MAX_SETS GPUs each. */
    for (size_t i = 0; i < n; i++) {
        if (!published(&gpus[i]))
            continue;
        if (cur == NULL ||
            json_array_size(json_object_get(spec_of(cur), "sharedCounters")) >= RSLICE_MAX_SETS) {
            cur = object(node, node_uid, json_array_size(out));
            json_object_set_new(spec_of(cur), "sharedCounters", json_array());
            json_array_append_new(out, cur);
        }
        json_array_append_new(json_object_get(spec_of(cur), "sharedCounters"),
                              counter_set(&gpus[i]));
    }
    /* Device slices: RSLICE_MAX_DEVICES devices each, GPU by GPU in NVML's order. */
    cur = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!published(&gpus[i]))
            continue;
        const struct cat_gpu *m = gpus[i].model;
        for (unsigned p = 0; p < m->nprofiles; p++)
            for (unsigned k = 0; k < m->profiles[p].nplacements; k++) {
                if (cur == NULL || json_array_size(json_object_get(spec_of(cur), "devices")) >=
                                       RSLICE_MAX_DEVICES) {
                    cur = object(node, node_uid, json_array_size(out));
                    json_object_set_new(spec_of(cur), "devices", json_array());
                    json_array_append_new(out, cur);
                }
                json_array_append_new(json_object_get(spec_of(cur), "devices"),
                                      device(&gpus[i], p, m->profiles[p].placements[k].start));
            }
    }
    size_t count = json_array_size(out);
    for (size_t i = 0; i < count; i++)
        json_object_set_new(spec_of(json_array_get(out, i)), "pool",
                            json_pack("{s:s, s:I, s:I}", "name", node, "generation",
                                      (json_int_t)generation, "resourceSliceCount",
                                      (json_int_t)count));
    return out;
}
