/* objects/resourceslice: the DRA ResourceSlices of a node. The counters are
 * checked against the placement engine on every reachable layout of every
 * model in the catalog (generated from shared/reference/mig-profiles.json):
 * a device fits the counters left exactly when place_check accepts it, so the
 * API server's allocator refuses what NVML would refuse. Then the objects'
 * shape against the API's limits (k8s.io/api resource/v1 types.go). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/catalog.h"
#include "core/place.h"
#include "objects/resourceclaim.h"
#include "objects/resourceslice.h"

static const struct cat_gpu *model(const char *name)
{
    const struct cat_gpu *m = cat_gpu_find(name);
    cr_assert_not_null(m, "model %s missing from the catalog", name);
    return m;
}

/* ---- counters against the placement engine ---------------------------------------------- */

struct dev {
    unsigned profile, start;
};

struct walk {
    const struct cat_gpu *m;
    struct dev devs[128];
    size_t ndev;
    struct rslice_counter cap[RSLICE_MAX_COUNTERS];
    size_t ncap;
    uint64_t *seen; /* open addressing over device bitmasks */
    size_t seen_cap, nseen;
    size_t checks;
};

static bool seen_add(struct walk *w, uint64_t set)
{
    size_t i = (size_t)((set * 0x9E3779B97F4A7C15ull) >> 40) % w->seen_cap;
    while (w->seen[i]) {
        if (w->seen[i] == set + 1)
            return false;
        i = (i + 1) % w->seen_cap;
    }
    w->seen[i] = set + 1;
    w->nseen++;
    cr_assert_lt(w->nseen * 2, w->seen_cap, "too many layouts on %s", w->m->name);
    return true;
}

static size_t counter_index(const struct walk *w, const char *name)
{
    for (size_t j = 0; j < w->ncap; j++)
        if (strcmp(w->cap[j].name, name) == 0)
            return j;
    cr_assert_fail("device counter %s is not in the set of %s", name, w->m->name);
    return 0;
}

/* Whether device d fits in `left` (counters remaining). */
static bool fits(const struct walk *w, const unsigned *left, size_t d)
{
    struct rslice_counter c[RSLICE_MAX_COUNTERS];
    size_t n = rslice_consumes(w->m, w->devs[d].profile, w->devs[d].start, c);
    for (size_t i = 0; i < n; i++)
        if (c[i].value > left[counter_index(w, c[i].name)])
            return false;
    return true;
}

static void consume(const struct walk *w, unsigned *left, size_t d)
{
    struct rslice_counter c[RSLICE_MAX_COUNTERS];
    size_t n = rslice_consumes(w->m, w->devs[d].profile, w->devs[d].start, c);
    for (size_t i = 0; i < n; i++)
        left[counter_index(w, c[i].name)] -= c[i].value;
}

static void walk(struct walk *w, const struct place_gpu *g, uint64_t set, const unsigned *left)
{
    for (size_t d = 0; d < w->ndev; d++) {
        if (set & (1ull << d))
            continue;
        bool engine = place_check(g, w->devs[d].profile, w->devs[d].start) == PLACE_OK;
        bool counters = fits(w, left, d);
        w->checks++;
        cr_assert_eq(counters, engine,
                     "%s: %s at %u with %u instances on the GPU: counters say %s, the "
                     "placement engine %s",
                     w->m->name, w->m->profiles[w->devs[d].profile].name, w->devs[d].start,
                     g->ninst, counters ? "fits" : "no", engine ? "fits" : "no");
        if (!engine || !seen_add(w, set | (1ull << d)))
            continue;
        struct place_gpu next = *g;
        cr_assert_eq(place_add(&next, w->devs[d].profile, w->devs[d].start, 1), PLACE_OK);
        unsigned l2[RSLICE_MAX_COUNTERS];
        memcpy(l2, left, sizeof l2);
        consume(w, l2, d);
        walk(w, &next, set | (1ull << d), l2);
    }
}

Test(counters, match_the_placement_engine_on_every_layout_of_every_model)
{
    size_t total_layouts = 0;
    for (size_t i = 0; i < cat_gpu_count(); i++) {
        struct walk w = {.m = cat_gpu_at(i)};
        for (unsigned p = 0; p < w.m->nprofiles; p++)
            for (unsigned k = 0; k < w.m->profiles[p].nplacements; k++)
                w.devs[w.ndev++] = (struct dev){p, w.m->profiles[p].placements[k].start};
        cr_assert_leq(w.ndev, 64, "%s has %zu placements: the walk's bitmask holds 64", w.m->name,
                      w.ndev);
        w.ncap = rslice_capacity(w.m, w.cap);
        cr_assert_leq(w.ncap, RSLICE_MAX_COUNTERS, "%s: %zu counters", w.m->name, w.ncap);
        w.seen_cap = 1u << 20;
        w.seen = calloc(w.seen_cap, sizeof *w.seen);
        unsigned left[RSLICE_MAX_COUNTERS] = {0};
        for (size_t j = 0; j < w.ncap; j++)
            left[j] = w.cap[j].value;
        struct place_gpu g;
        place_gpu_init(&g, w.m);
        walk(&w, &g, 0, left);
        cr_assert_gt(w.nseen, w.ndev, "%s: the walk saw only %zu layouts", w.m->name, w.nseen);
        total_layouts += w.nseen;
        free(w.seen);
    }
    cr_log_info("%zu layouts over %zu models", total_layouts, cat_gpu_count());
}

/* ---- names ------------------------------------------------------------------------------ */

static bool dns_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && i > 0 && i + 1 < n))
            return false;
    }
    return true;
}

Test(names, device_and_counter_names_are_dns_labels_and_unique_per_gpu)
{
    for (size_t i = 0; i < cat_gpu_count(); i++) {
        const struct cat_gpu *m = cat_gpu_at(i);
        char names[128][RSLICE_NAME_MAX];
        size_t n = 0;
        for (unsigned p = 0; p < m->nprofiles; p++)
            for (unsigned k = 0; k < m->profiles[p].nplacements; k++) {
                rslice_device_name(15, m->profiles[p].name, m->profiles[p].placements[k].start,
                                   names[n], sizeof names[n]);
                cr_assert(dns_label(names[n]), "%s: device name %s", m->name, names[n]);
                for (size_t j = 0; j < n; j++)
                    cr_assert_str_neq(names[j], names[n], "%s: two devices named %s", m->name,
                                      names[n]);
                n++;
            }
        struct rslice_counter c[RSLICE_MAX_COUNTERS];
        size_t nc = rslice_capacity(m, c);
        for (size_t j = 0; j < nc; j++) {
            cr_assert(dns_label(c[j].name), "%s: counter %s", m->name, c[j].name);
            for (size_t k = 0; k < j; k++)
                cr_assert_str_neq(c[j].name, c[k].name);
        }
    }
    char buf[RSLICE_NAME_MAX];
    rslice_device_name(0, "1g.5gb+me", 3, buf, sizeof buf);
    cr_assert_str_eq(buf, "gpu0-1g-5gb-plus-me-at3");
    rslice_device_name(2, "1g.24gb-me", 1, buf, sizeof buf);
    cr_assert_str_eq(buf, "gpu2-1g-24gb-me-at1");
}

Test(names, object_names_fit_a_dns_subdomain_even_for_the_longest_node_name)
{
    char buf[300];
    rslice_object_name("gpu-node-0", 3, buf, sizeof buf);
    cr_assert_str_eq(buf, "gpu-node-0-mig.slicer.dev-3");
    char longnode[254];
    memset(longnode, 'a', 253);
    longnode[253] = '\0';
    rslice_object_name(longnode, 12, buf, sizeof buf);
    cr_assert_leq(strlen(buf), 253, "%zu characters", strlen(buf));
    char other[254];
    memcpy(other, longnode, sizeof other);
    other[252] = 'b';
    char buf2[300];
    rslice_object_name(other, 12, buf2, sizeof buf2);
    cr_assert_str_neq(buf, buf2, "two long node names share a slice name");
}

/* ---- the objects ------------------------------------------------------------------------- */

static struct rslice_gpu gpu(uint32_t index, const char *model_name)
{
    static char uuids[32][48];
    snprintf(uuids[index], sizeof uuids[index], "GPU-0000000%u-aaaa-bbbb-cccc-dddddddddddd", index);
    const struct cat_gpu *m = model(model_name);
    return (struct rslice_gpu){
        .index = index, .uuid = uuids[index], .name = m->name, .model = m, .mig_enabled = true};
}

static json_t *spec(json_t *slices, size_t i)
{
    return json_object_get(json_array_get(slices, i), "spec");
}

static size_t count_devices(json_t *slices)
{
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(slices); i++)
        n += json_array_size(json_object_get(spec(slices, i), "devices"));
    return n;
}

static size_t placements(const struct cat_gpu *m)
{
    size_t n = 0;
    for (unsigned p = 0; p < m->nprofiles; p++)
        n += m->profiles[p].nplacements;
    return n;
}

/* Every slice within the API's limits, one pool, references resolved. */
static void check_shape(json_t *slices, const char *node, int64_t gen)
{
    size_t n = json_array_size(slices);
    json_t *sets = json_object(); /* counter set name -> counters */
    for (size_t i = 0; i < n; i++) {
        json_t *s = spec(slices, i);
        cr_assert_str_eq(json_string_value(json_object_get(s, "driver")), RSLICE_DRIVER);
        cr_assert_str_eq(json_string_value(json_object_get(s, "nodeName")), node);
        json_t *pool = json_object_get(s, "pool");
        cr_assert_str_eq(json_string_value(json_object_get(pool, "name")), node);
        cr_assert_eq(json_integer_value(json_object_get(pool, "generation")), gen);
        cr_assert_eq(json_integer_value(json_object_get(pool, "resourceSliceCount")),
                     (json_int_t)n);
        json_t *sc = json_object_get(s, "sharedCounters"), *dv = json_object_get(s, "devices");
        cr_assert((sc == NULL) != (dv == NULL), "slice %zu: exactly one of counters, devices", i);
        cr_assert_leq(json_array_size(sc), RSLICE_MAX_SETS);
        cr_assert_leq(json_array_size(dv), RSLICE_MAX_DEVICES);
        size_t k;
        json_t *v;
        json_array_foreach(sc, k, v)
        {
            cr_assert_leq(json_object_size(json_object_get(v, "counters")), RSLICE_MAX_COUNTERS);
            json_object_set(sets, json_string_value(json_object_get(v, "name")),
                            json_object_get(v, "counters"));
        }
    }
    for (size_t i = 0; i < n; i++) {
        size_t k;
        json_t *d;
        json_array_foreach(json_object_get(spec(slices, i), "devices"), k, d)
        {
            cr_assert(dns_label(json_string_value(json_object_get(d, "name"))));
            cr_assert_leq(json_object_size(json_object_get(d, "attributes")) +
                              json_object_size(json_object_get(d, "capacity")),
                          32);
            json_t *cc = json_object_get(d, "consumesCounters");
            cr_assert_eq(json_array_size(cc), 1);
            json_t *set = json_object_get(
                sets, json_string_value(json_object_get(json_array_get(cc, 0), "counterSet")));
            cr_assert_not_null(set, "a device consumes from a counter set that is not there");
            const char *key;
            json_t *val;
            json_object_foreach(json_object_get(json_array_get(cc, 0), "counters"), key, val)
                cr_assert_not_null(json_object_get(set, key), "counter %s is not in its set", key);
        }
    }
    json_decref(sets);
}

Test(build, two_a100s_are_one_counter_slice_and_one_device_slice)
{
    struct rslice_gpu g[2] = {gpu(0, "A100-SXM4-40GB"), gpu(1, "A100-SXM4-40GB")};
    json_t *s = rslice_build("node-a", "uid-1", 7, g, 2);
    cr_assert_eq(json_array_size(s), 2);
    check_shape(s, "node-a", 7);
    cr_assert_eq(json_array_size(json_object_get(spec(s, 0), "sharedCounters")), 2);
    cr_assert_eq(count_devices(s), 2 * placements(g[0].model));
    /* The first device: the A100's first profile at its first placement. */
    json_t *d = json_array_get(json_object_get(spec(s, 1), "devices"), 0);
    json_t *a = json_object_get(d, "attributes");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(a, "profile"), "string")),
                     g[0].model->profiles[0].name);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(a, "parentUUID"), "string")),
                     g[0].uuid);
    cr_assert_not_null(json_object_get(json_object_get(a, "placementStart"), "int"));
    cr_assert_not_null(json_object_get(json_object_get(a, "placementSize"), "int"));
    cr_assert_not_null(json_object_get(json_object_get(a, "model"), "string"));
    cr_assert_not_null(json_object_get(json_object_get(d, "capacity"), "memory"));
    json_t *owner = json_array_get(
        json_object_get(json_object_get(json_array_get(s, 0), "metadata"), "ownerReferences"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(owner, "kind")), "Node");
    cr_assert_str_eq(json_string_value(json_object_get(owner, "uid")), "uid-1");
    json_decref(s);
}

Test(build, eight_and_nine_gpus_split_within_the_limits)
{
    struct rslice_gpu g[9];
    for (uint32_t i = 0; i < 9; i++)
        g[i] = gpu(i, "H100-SXM5-80GB");
    json_t *s = rslice_build("n8", NULL, 1, g, 8);
    check_shape(s, "n8", 1);
    cr_assert_eq(json_array_size(json_object_get(spec(s, 0), "sharedCounters")), 8);
    cr_assert_eq(count_devices(s), 8 * placements(g[0].model));
    cr_assert_null(
        json_object_get(json_object_get(json_array_get(s, 0), "metadata"), "ownerReferences"));
    json_decref(s);
    s = rslice_build("n9", "u", 2, g, 9);
    check_shape(s, "n9", 2);
    cr_assert_eq(json_array_size(json_object_get(spec(s, 0), "sharedCounters")), 8);
    cr_assert_eq(json_array_size(json_object_get(spec(s, 1), "sharedCounters")), 1);
    cr_assert_eq(count_devices(s), 9 * placements(g[0].model));
    json_decref(s);
}

Test(build, every_model_builds_within_the_limits)
{
    for (size_t i = 0; i < cat_gpu_count(); i++) {
        const struct cat_gpu *m = cat_gpu_at(i);
        struct rslice_gpu g[8];
        for (uint32_t k = 0; k < 8; k++) {
            g[k] = gpu(k, "A100-SXM4-40GB");
            g[k].model = m;
            g[k].name = m->name;
        }
        json_t *s = rslice_build("node", "u", 3, g, 8);
        check_shape(s, "node", 3);
        cr_assert_eq(count_devices(s), 8 * placements(m), "%s", m->name);
        json_decref(s);
    }
}

static const char *counter(json_t *slices, const char *set, const char *name)
{
    json_t *sc = json_object_get(spec(slices, 0), "sharedCounters");
    size_t i;
    json_t *v;
    json_array_foreach(sc, i, v) if (
        strcmp(json_string_value(json_object_get(v, "name")), set) ==
        0) return json_string_value(json_object_get(json_object_get(json_object_get(v, "counters"),
                                                                    name),
                                                    "value"));
    return NULL;
}

Test(build, taken_instances_are_subtracted_from_their_gpu_only)
{
    struct rslice_gpu g[2] = {gpu(0, "A100-SXM4-40GB"), gpu(1, "A100-SXM4-40GB")};
    int p3 = cat_profile_index(g[0].model, "3g.20gb");
    cr_assert_geq(p3, 0);
    g[0].taken[g[0].ntaken++] = (struct rslice_taken){.profile = p3, .start = 4, .size = 4};
    /* An instance of a profile the catalog does not know: its slices, one instance. */
    g[0].taken[g[0].ntaken++] =
        (struct rslice_taken){.profile = -1, .start = 0, .size = 1, .compute = 1};
    json_t *s = rslice_build("n", "u", 1, g, 2);
    check_shape(s, "n", 1);
    cr_assert_str_eq(counter(s, "gpu0", "memory-slice-0"), "0");
    cr_assert_str_eq(counter(s, "gpu0", "memory-slice-1"), "1");
    cr_assert_str_eq(counter(s, "gpu0", "memory-slice-4"), "0");
    cr_assert_str_eq(counter(s, "gpu0", "memory-slice-7"), "0");
    cr_assert_str_eq(counter(s, "gpu0", "compute-slices"), "3");
    cr_assert_str_eq(counter(s, "gpu0", "instances"), "5");
    cr_assert_str_eq(counter(s, "gpu1", "memory-slice-4"), "1");
    cr_assert_str_eq(counter(s, "gpu1", "compute-slices"), "7");
    /* The devices stay listed: the counters, not the device list, say what is free. */
    cr_assert_eq(count_devices(s), 2 * placements(g[0].model));
    json_decref(s);
}

Test(build, gpus_without_mig_or_of_unknown_models_publish_nothing)
{
    struct rslice_gpu g[3] = {gpu(0, "A100-SXM4-40GB"), gpu(1, "A100-SXM4-40GB"),
                              gpu(2, "A100-SXM4-40GB")};
    g[0].mig_enabled = false;
    g[2].model = NULL;
    json_t *s = rslice_build("n", "u", 1, g, 3);
    check_shape(s, "n", 1);
    cr_assert_eq(json_array_size(json_object_get(spec(s, 0), "sharedCounters")), 1);
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(spec(s, 0), "sharedCounters"), 0), "name")),
                     "gpu1");
    cr_assert_eq(count_devices(s), placements(g[1].model));
    json_decref(s);
    g[1].mig_enabled = false;
    s = rslice_build("n", "u", 1, g, 3);
    cr_assert_eq(json_array_size(s), 0);
    json_decref(s);
}

/* ---- ResourceClaims and device names back to placements --------------------------------- */

Test(names, a_device_name_parses_back_to_its_placement_on_every_model)
{
    for (size_t i = 0; i < cat_gpu_count(); i++) {
        const struct cat_gpu *m = cat_gpu_at(i);
        for (unsigned p = 0; p < m->nprofiles; p++)
            for (unsigned k = 0; k < m->profiles[p].nplacements; k++) {
                char dn[RSLICE_NAME_MAX];
                unsigned start = m->profiles[p].placements[k].start, pp = 99, ss = 99;
                rslice_device_name(3, m->profiles[p].name, start, dn, sizeof dn);
                cr_assert(rslice_device_parse(m, 3, dn, &pp, &ss), "%s: %s", m->name, dn);
                cr_assert(pp == p && ss == start, "%s: %s parsed as %u@%u", m->name, dn, pp, ss);
                cr_assert_not(rslice_device_parse(m, 2, dn, &pp, &ss), "another GPU's name");
            }
    }
    unsigned p, s;
    cr_assert_not(rslice_device_parse(model("A100-SXM4-40GB"), 0, "gpu0-1g-5gb-at7", &p, &s),
                  "no 1g.5gb starts at 7 on an A100-40GB");
    cr_assert_not(rslice_device_parse(NULL, 0, "gpu0-1g-5gb-at0", &p, &s));
}

static json_t *claim_json(const char *results)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"c\",\"uid\":\"u-1\"},"
             "\"status\":{\"reservedFor\":[{\"resource\":\"pods\",\"name\":\"p\",\"uid\":\"pu\"}],"
             "\"allocation\":{\"devices\":{\"results\":%s}}}}",
             results);
    json_t *o = json_loads(text, 0, NULL);
    cr_assert_not_null(o, "%s", text);
    return o;
}

Test(claims, only_our_drivers_results_are_taken_with_the_pod_it_is_reserved_for)
{
    json_t *o = claim_json(
        "[{\"request\":\"a\",\"driver\":\"gpu.nvidia.com\",\"pool\":\"n\",\"device\":\"x\"},"
        "{\"request\":\"b\",\"driver\":\"mig.slicer.dev\",\"pool\":\"node-1\","
        "\"device\":\"gpu0-1g-5gb-at3\"}]");
    struct rclaim c;
    struct err *e = NULL;
    cr_assert_eq(rclaim_parse(o, &c, &e), 1, "%s", err_msg(e));
    cr_assert_eq(c.nres, 1);
    cr_assert_str_eq(c.res[0].request, "b");
    cr_assert_str_eq(c.res[0].pool, "node-1");
    cr_assert_str_eq(c.res[0].device, "gpu0-1g-5gb-at3");
    cr_assert_str_eq(c.pod_name, "p");
    cr_assert_str_eq(c.pod_uid, "pu");
    cr_assert_str_eq(c.uid, "u-1");
    cr_assert_not(c.deleting);
    rclaim_free(&c);
    json_decref(o);
}

Test(claims, unallocated_or_foreign_claims_are_not_ours_and_bad_ones_are_refused)
{
    struct rclaim c;
    struct err *e = NULL;
    json_t *o =
        json_loads("{\"metadata\":{\"namespace\":\"ns\",\"name\":\"c\",\"uid\":\"u\"}}", 0, NULL);
    cr_assert_eq(rclaim_parse(o, &c, &e), 0, "no requests of our class, not allocated: not ours");
    cr_assert_str_eq(c.name, "c", "its identity is kept");
    cr_assert(c.foreign);
    cr_assert_eq(c.nreq + c.nres, 0);
    rclaim_free(&c);
    json_decref(o);
    o = claim_json("[{\"request\":\"a\",\"driver\":\"gpu.nvidia.com\",\"pool\":\"n\","
                   "\"device\":\"x\"}]");
    cr_assert_eq(rclaim_parse(o, &c, &e), 0, "another driver's devices only");
    rclaim_free(&c);
    json_decref(o);
    o = claim_json("[{\"driver\":\"mig.slicer.dev\",\"pool\":\"n\",\"device\":\"x\"}]");
    cr_assert_lt(rclaim_parse(o, &c, &e), 0, "a result without its request");
    cr_assert(strstr(err_msg(e), "ns/c: allocation result 0 is malformed"), "%s", err_msg(e));
    err_free(&e);
    json_decref(o);
    o = json_loads("{\"metadata\":{\"name\":\"c\"}}", 0, NULL);
    cr_assert_lt(rclaim_parse(o, &c, &e), 0);
    err_free(&e);
    json_decref(o);
}

/* ---- claims slicer places: requests, selectors, the allocation it writes ----------------- */

static json_t *spec_claim(const char *requests, const char *extra)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"c\",\"uid\":\"u-1\"%s},"
             "\"spec\":{\"devices\":{\"requests\":%s}}}",
             extra, requests);
    json_t *o = json_loads(text, 0, NULL);
    cr_assert_not_null(o, "%s", text);
    return o;
}

Test(claims, a_plain_request_of_our_class_is_ours_and_placeable_before_allocation)
{
    json_t *o =
        spec_claim("[{\"name\":\"mig\",\"exactly\":{\"deviceClassName\":\"mig.slicer.dev\","
                   "\"selectors\":[{\"cel\":{\"expression\":"
                   "\"device.attributes[\\\"mig.slicer.dev\\\"].profile == \\\"1g.5gb\\\"\"}}],"
                   "\"allocationMode\":\"ExactCount\",\"count\":3}}]",
                   ",\"finalizers\":[\"x\"]");
    struct rclaim c;
    struct err *e = NULL;
    cr_assert_eq(rclaim_parse(o, &c, &e), 1, "%s", err_msg(e));
    cr_assert_eq(c.nreq, 1);
    cr_assert(c.req[0].plain);
    cr_assert_str_eq(c.req[0].name, "mig");
    cr_assert_str_eq(c.req[0].profile, "1g.5gb");
    cr_assert_eq(c.req[0].count, 3);
    cr_assert_not(c.allocated);
    cr_assert(c.has_finalizers);
    cr_assert_not(c.finalizer);
    cr_assert_eq(c.nres, 0);
    cr_assert(rclaim_placeable(&c));
    rclaim_free(&c);
    json_decref(o);
}

Test(claims, other_forms_are_ours_but_left_to_the_scheduler_and_foreign_classes_are_not_ours)
{
    const char *leave[] = {
        /* no selector: any profile */
        "[{\"name\":\"a\",\"exactly\":{\"deviceClassName\":\"mig.slicer.dev\"}}]",
        /* All devices */
        "[{\"name\":\"a\",\"exactly\":{\"deviceClassName\":\"mig.slicer.dev\",\"allocationMode\":"
        "\"All\",\"selectors\":[{\"cel\":{\"expression\":"
        "\"device.attributes['mig.slicer.dev'].profile == '1g.5gb'\"}}]}}]",
        /* an expression of another form */
        "[{\"name\":\"a\",\"exactly\":{\"deviceClassName\":\"mig.slicer.dev\",\"selectors\":[{"
        "\"cel\":"
        "{\"expression\":\"device.capacity[\\\"mig.slicer.dev\\\"].memory.compareTo(quantity("
        "\\\"5Gi\\\")) >= 0\"}}]}}]",
        /* firstAvailable with one of ours */
        "[{\"name\":\"a\",\"firstAvailable\":[{\"name\":\"x\",\"deviceClassName\":\"mig.slicer."
        "dev\"}]}]",
        /* ours and another class's */
        "[{\"name\":\"a\",\"exactly\":{\"deviceClassName\":\"mig.slicer.dev\",\"selectors\":[{"
        "\"cel\":"
        "{\"expression\":\"device.attributes[\\\"mig.slicer.dev\\\"].profile == "
        "\\\"1g.5gb\\\"\"}}]}},"
        "{\"name\":\"b\",\"exactly\":{\"deviceClassName\":\"gpu.nvidia.com\"}}]",
    };
    for (size_t i = 0; i < sizeof leave / sizeof leave[0]; i++) {
        json_t *o = spec_claim(leave[i], "");
        struct rclaim c;
        struct err *e = NULL;
        cr_assert_eq(rclaim_parse(o, &c, &e), 1, "case %zu: %s", i, err_msg(e));
        cr_expect_not(rclaim_placeable(&c), "case %zu", i);
        rclaim_free(&c);
        json_decref(o);
    }
    json_t *o =
        spec_claim("[{\"name\":\"a\",\"exactly\":{\"deviceClassName\":\"gpu.nvidia.com\"}}]", "");
    struct rclaim c;
    struct err *e = NULL;
    cr_assert_eq(rclaim_parse(o, &c, &e), 0, "another class only");
    rclaim_free(&c);
    json_decref(o);
    /* matchAttribute parentUUID (every device on one GPU) is honoured by slicer's placement;
     * any other constraint leaves the claim to the scheduler's allocator. */
    const char *cons[] = {"{\"matchAttribute\":\"mig.slicer.dev/parentUUID\"}",
                          "{\"matchAttribute\":\"mig.slicer.dev/parentUUID\",\"requests\":[\"a\"]}",
                          "{\"matchAttribute\":\"mig.slicer.dev/model\"}",
                          "{\"distinctAttribute\":\"mig.slicer.dev/parentUUID\"}"};
    for (size_t i = 0; i < 4; i++) {
        char text[1024];
        snprintf(text, sizeof text,
                 "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"c\",\"uid\":\"u\"},\"spec\":{"
                 "\"devices\":{\"requests\":[{\"name\":\"a\",\"exactly\":{\"deviceClassName\":"
                 "\"mig.slicer.dev\",\"selectors\":[{\"cel\":{\"expression\":\"device.attributes["
                 "\\\"mig.slicer.dev\\\"].profile == \\\"1g.5gb\\\"\"}}],\"count\":2}}],"
                 "\"constraints\":[%s]}}}",
                 cons[i]);
        o = json_loads(text, 0, NULL);
        cr_assert_not_null(o, "%s", text);
        cr_assert_eq(rclaim_parse(o, &c, &e), 1);
        cr_expect_eq(c.same_gpu, i < 2, "case %zu", i);
        cr_expect_eq(rclaim_placeable(&c), i < 2, "case %zu", i);
        rclaim_free(&c);
        json_decref(o);
    }
}

Test(claims, selectors_of_the_plain_form_name_their_profile_and_nothing_else_does)
{
    char p[64];
    cr_assert(rclaim_selector_profile("device.attributes[\"mig.slicer.dev\"].profile == \"1g.5gb\"",
                                      p, sizeof p));
    cr_assert_str_eq(p, "1g.5gb");
    cr_assert(rclaim_selector_profile(
        "  device.attributes[\"mig.slicer.dev\"][\"profile\"]=='1g.10gb+me' ", p, sizeof p));
    cr_assert_str_eq(p, "1g.10gb+me");
    cr_assert(rclaim_selector_profile("device.attributes['mig.slicer.dev'].profile == '3g.20gb'", p,
                                      sizeof p),
              "single quotes, as YAML users write it");
    cr_assert_str_eq(p, "3g.20gb");
    const char *no[] = {
        "device.attributes[\"mig.slicer.dev\"].profile == \"1g.5gb\" || true",
        "device.attributes[\"mig.slicer.dev\"].profile != \"1g.5gb\"",
        "device.attributes[\"gpu.nvidia.com\"].profile == \"1g.5gb\"",
        "device.attributes[\"mig.slicer.dev\"].model == \"A100\"",
        "device.attributes[\"mig.slicer.dev\"].profile == \"\"",
        "device.attributes[\"mig.slicer.dev\"].profile == \"1g.5gb",
        "device.attributes[\"mig.slicer.dev\"].profile == \"a\\\"b\"",
        "",
    };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        cr_expect_not(rclaim_selector_profile(no[i], p, sizeof p), "%s", no[i]);
    cr_expect_not(rclaim_selector_profile(
                      "device.attributes[\"mig.slicer.dev\"].profile == \"1g.5gb\"", p, 6),
                  "too long for buf");
}

Test(claims, the_allocation_written_reads_back_as_ours_on_that_node_for_that_pod)
{
    struct rclaim_pick picks[] = {{"mig", "gpu0-1g-5gb-at3"}, {"mig", "gpu1-1g-5gb-at0"}};
    json_t *patch = rclaim_allocation_patch("u-1", "42", "node-1", picks, 2, "p", "pu");
    cr_assert_not_null(patch);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(patch, "metadata"), "resourceVersion")),
        "42");
    const json_t *term = json_array_get(
        json_object_get(
            json_object_get(json_object_get(json_object_get(patch, "status"), "allocation"),
                            "nodeSelector"),
            "nodeSelectorTerms"),
        0);
    const json_t *mf = json_array_get(json_object_get(term, "matchFields"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(mf, "key")), "metadata.name");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(mf, "values"), 0)), "node-1");
    /* Merged into a claim, as the apiserver would, it parses back as allocated for the pod. */
    json_t *o =
        spec_claim("[{\"name\":\"mig\",\"exactly\":{\"deviceClassName\":\"mig.slicer.dev\"}}]", "");
    json_object_update_recursive(o, patch);
    struct rclaim c;
    struct err *e = NULL;
    cr_assert_eq(rclaim_parse(o, &c, &e), 1, "%s", err_msg(e));
    cr_assert(c.allocated);
    cr_assert_eq(c.nres, 2);
    cr_assert_str_eq(c.res[1].device, "gpu1-1g-5gb-at0");
    cr_assert_str_eq(c.res[1].pool, "node-1");
    cr_assert_str_eq(c.pod_uid, "pu");
    cr_assert_not(rclaim_placeable(&c), "allocated already");
    rclaim_free(&c);
    json_decref(o);
    json_decref(patch);
    patch = rclaim_deallocation_patch("u-1", "43");
    cr_assert(json_is_null(json_object_get(json_object_get(patch, "status"), "allocation")));
    cr_assert(json_is_null(json_object_get(json_object_get(patch, "status"), "reservedFor")));
    json_decref(patch);
}

Test(claims, the_finalizer_patch_tests_uid_and_version_and_appends_or_creates)
{
    json_t *p = rclaim_finalizer_patch("u", "7", true);
    cr_assert_eq(json_array_size(p), 3);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(p, 1), "value")), "7");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(p, 2), "path")),
                     "/metadata/finalizers/-");
    json_decref(p);
    p = rclaim_finalizer_patch("u", "7", false);
    const json_t *v = json_object_get(json_array_get(p, 2), "value");
    cr_assert_str_eq(json_string_value(json_array_get(v, 0)), RCLAIM_FINALIZER);
    json_decref(p);
}

Test(claims, the_template_is_a_plain_claim_of_its_profile_and_count)
{
    json_t *t = rclaim_template_build("ns", "slicer-mig-1g-5gb-plus-me-x2", "1g.5gb+me", 2);
    /* Its inner spec is a claim spec: read as a claim it is placeable, 2 x 1g.5gb+me. */
    json_t *o = json_pack("{s:{s:s, s:s, s:s}, s:O}", "metadata", "namespace", "ns", "name", "c",
                          "uid", "u", "spec", json_object_get(json_object_get(t, "spec"), "spec"));
    struct rclaim c;
    struct err *e = NULL;
    cr_assert_eq(rclaim_parse(o, &c, &e), 1, "%s", err_msg(e));
    cr_assert(rclaim_placeable(&c));
    cr_assert_str_eq(c.req[0].profile, "1g.5gb+me");
    cr_assert_eq(c.req[0].count, 2);
    rclaim_free(&c);
    json_decref(o);
    json_decref(t);
}
