/* The pure parts of the cluster agent (src/agent/cluster_model.c): GPUSlice
 * parsing, the finalizer patch, the reconcile decision table, the GPUNode
 * status and the Node capacity patch built from mig_gpu structs, and the
 * journal's cluster fields. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/cluster_model.h"
#include "core/catalog.h"

/* ---- GPUSlice parsing ------------------------------------------------------------ */

static const char *const SLICE_JSON =
    "{\"apiVersion\":\"slicer.dev/v1alpha1\",\"kind\":\"GPUSlice\","
    "\"metadata\":{\"name\":\"tiny-0a1b2c3d-0\",\"namespace\":\"ml\",\"uid\":\"u-1\","
    "\"labels\":{\"slicer.dev/node\":\"n1\"},\"finalizers\":[\"other/x\",\"slicer.dev/teardown\"]},"
    "\"spec\":{\"podName\":\"tiny\",\"podUID\":\"0a1b2c3d\",\"container\":\"devices-0\","
    "\"profile\":\"1g.5gb\",\"nodeName\":\"n1\",\"gpuUUID\":\"GPU-a\","
    "\"placement\":{\"start\":6,\"size\":1}},"
    "\"status\":{\"phase\":\"Ready\",\"migUUID\":\"MIG-1\"}}";

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    cr_assert_not_null(o, "%s", je.text);
    return o;
}

static struct cl_slice parse_ok(json_t *o)
{
    struct cl_slice s;
    struct err *e = NULL;
    cr_assert_eq(cl_slice_parse(o, &s, &e), 0, "%s", err_msg(e));
    return s;
}

Test(cluster_slice, parses_metadata_spec_and_status)
{
    json_t *o = load(SLICE_JSON);
    struct cl_slice s = parse_ok(o);
    cr_assert_str_eq(s.key, "ml/tiny-0a1b2c3d-0");
    cr_assert_str_eq(s.uid, "u-1");
    cr_assert(s.finalizer);
    cr_assert_not(s.deleting);
    cr_assert_str_eq(s.finalizers, "[\"other/x\",\"slicer.dev/teardown\"]");
    cr_assert_str_eq(s.profile, "1g.5gb");
    cr_assert_str_eq(s.node, "n1");
    cr_assert_str_eq(s.gpu_uuid, "GPU-a");
    cr_assert_eq(s.start, 6);
    cr_assert_eq(s.size, 1);
    cr_assert_eq(s.phase, CL_READY);
    cr_assert_str_eq(s.mig_uuid, "MIG-1");
    cr_assert_str_eq(s.invalid, "");
    json_decref(o);
}

Test(cluster_slice, no_phase_is_pending_and_deletion_is_seen)
{
    json_t *o = load(SLICE_JSON);
    json_object_del(o, "status");
    json_object_set_new(json_object_get(o, "metadata"), "deletionTimestamp",
                        json_string("2026-12-01T00:00:00Z"));
    json_object_del(json_object_get(o, "metadata"), "finalizers");
    struct cl_slice s = parse_ok(o);
    cr_assert_eq(s.phase, CL_PENDING);
    cr_assert(s.deleting);
    cr_assert_not(s.finalizer);
    cr_assert_str_eq(s.finalizers, "[]");
    cr_assert_str_eq(s.mig_uuid, "");
    json_decref(o);
}

Test(cluster_slice, a_bad_spec_is_reported_not_refused)
{
    json_t *o = load(SLICE_JSON);
    json_object_del(json_object_get(o, "spec"), "gpuUUID");
    struct cl_slice s = parse_ok(o);
    cr_assert(strstr(s.invalid, "gpuUUID") != NULL, "%s", s.invalid);
    json_decref(o);

    o = load(SLICE_JSON);
    json_object_set_new(json_object_get(json_object_get(o, "spec"), "placement"), "start",
                        json_integer(99));
    s = parse_ok(o);
    cr_assert(strstr(s.invalid, "out of range") != NULL, "%s", s.invalid);
    json_decref(o);
}

Test(cluster_slice, unreadable_metadata_is_an_error)
{
    json_t *o = load(SLICE_JSON);
    json_object_del(json_object_get(o, "metadata"), "uid");
    struct cl_slice s;
    struct err *e = NULL;
    cr_assert_eq(cl_slice_parse(o, &s, &e), -EINVAL);
    cr_assert(strstr(err_msg(e), "uid") != NULL);
    err_free(&e);
    char big[400];
    memset(big, 'n', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    json_object_set_new(json_object_get(o, "metadata"), "uid", json_string("u"));
    json_object_set_new(json_object_get(o, "metadata"), "name", json_string(big));
    cr_assert_eq(cl_slice_parse(o, &s, &e), -EINVAL);
    cr_assert(strstr(err_msg(e), "too long") != NULL, "%s", err_msg(e));
    err_free(&e);
    cr_assert_eq(cl_slice_parse(json_object_get(o, "nothing"), &s, NULL), -EINVAL);
    json_decref(o);
}

Test(cluster_slice, the_finalizer_patch_tests_then_replaces)
{
    json_t *o = load(SLICE_JSON);
    struct cl_slice s = parse_ok(o);
    json_t *p = cl_finalizer_patch(&s);
    char *text = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_str_eq(text, "[{\"op\":\"test\",\"path\":\"/metadata/finalizers\",\"value\":[\"other/"
                           "x\",\"slicer.dev/teardown\"]},{\"op\":\"replace\",\"path\":\"/"
                           "metadata/finalizers\",\"value\":[\"other/x\"]}]");
    free(text);
    json_decref(p);
    json_decref(o);
}

/* ---- the decision table ----------------------------------------------------------- */

static struct cl_slice mk(enum cl_phase phase, bool deleting, const char *mig)
{
    struct cl_slice s = {.phase = phase, .deleting = deleting, .finalizer = true, .start = 0};
    snprintf(s.key, sizeof s.key, "ns/s");
    snprintf(s.uid, sizeof s.uid, "u");
    snprintf(s.mig_uuid, sizeof s.mig_uuid, "%s", mig);
    return s;
}

static struct journal_slice entry(enum slice_phase phase)
{
    struct journal_slice e = {.phase = phase};
    snprintf(e.slice, sizeof e.slice, "ns/s");
    return e;
}

static enum cl_action decide(const struct cl_slice *s, const struct journal_slice *e,
                             enum cl_inst inst, const char *uuid, bool rebooted, const char **why)
{
    struct cl_view v = {
        .slice = s, .entry = e, .inst = inst, .inst_uuid = uuid, .rebooted = rebooted};
    return cl_decide(&v, why);
}

Test(cluster_decide, nothing_anywhere_is_nothing_and_an_orphan_entry_is_dropped)
{
    struct journal_slice e = entry(SLICE_READY);
    cr_assert_eq(decide(NULL, NULL, CL_INST_NONE, NULL, false, NULL), CL_NOTHING);
    cr_assert_eq(decide(NULL, &e, CL_INST_FULL, "MIG-1", false, NULL), CL_DROP);
    e.phase = SLICE_CREATING;
    cr_assert_eq(decide(NULL, &e, CL_INST_GI_ONLY, NULL, false, NULL), CL_DROP);
}

Test(cluster_decide, a_new_slice_is_created_only_on_a_free_start)
{
    struct cl_slice s = mk(CL_PENDING, false, "");
    const char *why;
    cr_assert_eq(decide(&s, NULL, CL_INST_NONE, NULL, false, &why), CL_CREATE);
    cr_assert_null(why);
    /* another profile at that start: NVML refuses it, in its words */
    cr_assert_eq(decide(&s, NULL, CL_INST_OTHER, "MIG-x", false, NULL), CL_CREATE);
    /* one of this profile that is not journaled: never adopted */
    cr_assert_eq(decide(&s, NULL, CL_INST_FULL, "MIG-x", false, &why), CL_FAIL);
    cr_assert(strstr(why, "left untouched") != NULL);
    cr_assert_eq(decide(&s, NULL, CL_INST_GI_ONLY, NULL, false, NULL), CL_FAIL);
    s.phase = CL_CREATING; /* Creating, no entry, no instance: create it again */
    cr_assert_eq(decide(&s, NULL, CL_INST_NONE, NULL, false, NULL), CL_CREATE);
}

Test(cluster_decide, a_journaled_creation_is_resumed_or_adopted)
{
    struct cl_slice s = mk(CL_CREATING, false, "");
    struct journal_slice e = entry(SLICE_CREATING);
    cr_assert_eq(decide(&s, &e, CL_INST_NONE, NULL, false, NULL), CL_RESUME);
    cr_assert_eq(decide(&s, &e, CL_INST_GI_ONLY, NULL, false, NULL), CL_RESUME);
    e.phase = SLICE_READY; /* made and journaled, status not written yet */
    cr_assert_eq(decide(&s, &e, CL_INST_FULL, "MIG-1", false, NULL), CL_RESUME);
    s.phase = CL_PENDING;
    cr_assert_eq(decide(&s, &e, CL_INST_FULL, "MIG-1", false, NULL), CL_RESUME);
    e.phase = SLICE_RELEASING; /* a failed creation's clean-up */
    const char *why;
    cr_assert_eq(decide(&s, &e, CL_INST_GI_ONLY, NULL, false, &why), CL_FAIL);
    cr_assert(strstr(why, "rolled back") != NULL);
}

Test(cluster_decide, ready_slices)
{
    struct cl_slice s = mk(CL_READY, false, "MIG-1");
    struct journal_slice e = entry(SLICE_READY);
    const char *why;
    cr_assert_eq(decide(&s, &e, CL_INST_FULL, "MIG-1", false, NULL), CL_NOTHING);
    e.phase = SLICE_CREATING;
    cr_assert_eq(decide(&s, &e, CL_INST_FULL, "MIG-1", false, NULL), CL_RESUME);
    cr_assert_eq(decide(&s, NULL, CL_INST_FULL, "MIG-1", false, NULL), CL_ADOPT);
    cr_assert_eq(decide(&s, NULL, CL_INST_FULL, "MIG-2", false, NULL), CL_FAIL);
    e.phase = SLICE_READY;
    cr_assert_eq(decide(&s, &e, CL_INST_NONE, NULL, true, &why), CL_FAIL);
    cr_assert(strstr(why, "rebooted") != NULL, "%s", why);
    cr_assert_eq(decide(&s, &e, CL_INST_NONE, NULL, false, &why), CL_FAIL);
    cr_assert(strstr(why, "vanished") != NULL, "%s", why);
    cr_assert_eq(decide(&s, &e, CL_INST_GI_ONLY, NULL, false, NULL), CL_FAIL);
    cr_assert_eq(decide(&s, &e, CL_INST_FULL, "MIG-other", false, NULL), CL_FAIL);
}

Test(cluster_decide, teardown_finalize_and_failed)
{
    struct cl_slice s = mk(CL_RELEASING, false, "MIG-1");
    struct journal_slice e = entry(SLICE_READY);
    cr_assert_eq(decide(&s, &e, CL_INST_FULL, "MIG-1", false, NULL), CL_TEARDOWN);
    /* Releasing but not deleted, nothing left: keeps its finalizer */
    cr_assert_eq(decide(&s, NULL, CL_INST_NONE, NULL, false, NULL), CL_NOTHING);
    s = mk(CL_READY, true, "MIG-1");
    cr_assert_eq(decide(&s, &e, CL_INST_FULL, "MIG-1", false, NULL), CL_TEARDOWN);
    e.phase = SLICE_RELEASING;
    cr_assert_eq(decide(&s, &e, CL_INST_GI_ONLY, NULL, false, NULL), CL_TEARDOWN);
    cr_assert_eq(decide(&s, NULL, CL_INST_NONE, NULL, false, NULL), CL_FINALIZE);
    s.finalizer = false;
    cr_assert_eq(decide(&s, NULL, CL_INST_NONE, NULL, false, NULL), CL_NOTHING);
    s = mk(CL_FAILED, false, "");
    cr_assert_eq(decide(&s, NULL, CL_INST_NONE, NULL, false, NULL), CL_NOTHING);
    cr_assert_eq(decide(&s, &e, CL_INST_GI_ONLY, NULL, false, NULL), CL_DROP);
    s.deleting = true;
    cr_assert_eq(decide(&s, NULL, CL_INST_FULL, "MIG-foreign", false, NULL), CL_FINALIZE);
}

Test(cluster_decide, an_invalid_slice_fails_with_its_reason)
{
    struct cl_slice s = mk(CL_PENDING, false, "");
    snprintf(s.invalid, sizeof s.invalid, "GPU GPU-x is not on node n1");
    const char *why;
    cr_assert_eq(decide(&s, NULL, CL_INST_NONE, NULL, false, &why), CL_FAIL);
    cr_assert_str_eq(why, "GPU GPU-x is not on node n1");
    struct journal_slice e = entry(SLICE_CREATING);
    cr_assert_eq(decide(&s, &e, CL_INST_NONE, NULL, false, NULL), CL_DROP);
    cr_assert_str_eq(cl_action_name(CL_ADOPT), "adopt");
    cr_assert_str_eq(cl_phase_name(CL_RELEASING), "Releasing");
}

/* ---- GPUNode status and capacity -------------------------------------------------- */

/* A MIG GPU of `model` as mig_read_gpu would report it (profiles from the catalog). */
static void fake_gpu(struct mig_gpu *g, unsigned index, const char *model, bool mig)
{
    memset(g, 0, sizeof *g);
    g->index = index;
    g->model = cat_gpu_find(model);
    cr_assert_not_null(g->model);
    snprintf(g->uuid, sizeof g->uuid, "GPU-%u", index);
    snprintf(g->name, sizeof g->name, "%s", g->model->name);
    g->memory_mib = g->model->memory_mib;
    g->mig_enabled = mig;
    for (unsigned p = 0; p < g->model->nprofiles; p++) {
        const struct cat_profile *cp = &g->model->profiles[p];
        struct mig_profile *mp = &g->profiles[g->nprofiles++];
        mp->profile = (int)p;
        mp->index = cp->nvml_index;
        mp->id = cp->info_id;
        mp->slices = cp->compute_slices;
        mp->memory_mib = cp->memory_mib;
        mp->nplacements = cp->nplacements;
        for (unsigned k = 0; k < cp->nplacements; k++)
            mp->placements[k] =
                (nvmlGpuInstancePlacement_t){cp->placements[k].start, cp->placements[k].size};
    }
}

static void add_inst(struct mig_gpu *g, const char *profile, unsigned start, unsigned gi,
                     unsigned ci, const char *uuid)
{
    int p = cat_profile_index(g->model, profile);
    cr_assert_geq(p, 0);
    g->inst[g->ninst++] = (struct mig_instance){.gi_id = gi,
                                                .ci_id = ci,
                                                .profile_id = g->model->profiles[p].info_id,
                                                .profile = p,
                                                .start = start,
                                                .size = g->model->profiles[p].mem_slices};
    snprintf(g->inst[g->ninst - 1].uuid, MIG_UUID_SIZE, "%s", uuid);
}

static char *dump(const json_t *o)
{
    return json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
}

Test(cluster_node, the_status_lists_gpus_profiles_and_owned_or_foreign_instances)
{
    struct mig_gpu g[2];
    fake_gpu(&g[0], 0, "A100-SXM4-40GB", true);
    fake_gpu(&g[1], 1, "A100-SXM4-40GB", true);
    add_inst(&g[0], "1g.5gb", 6, 1, 0, "MIG-a");
    add_inst(&g[0], "3g.20gb", 0, 2, MIG_NO_CI, "");
    add_inst(&g[1], "1g.5gb", 0, 1, 0, "MIG-b");
    struct journal j = {0};
    struct journal_slice e = {.start = 6, .phase = SLICE_READY};
    snprintf(e.gpu_uuid, sizeof e.gpu_uuid, "GPU-0");
    snprintf(e.profile, sizeof e.profile, "1g.5gb");
    snprintf(e.slice, sizeof e.slice, "ml/tiny-0");
    j.slices = &e;
    j.n = 1;
    struct cl_node_info info = {.boot_id = "b-1",
                                .version = "0.1.0",
                                .now = "2026-12-01T10:00:00Z",
                                .ready = true,
                                .reason = "AgentRunning",
                                .message = "ok",
                                .transition = "2026-12-01T09:00:00Z"};
    json_t *st = cl_gpunode_status(g, 2, &j, &info);
    cr_assert_eq(json_integer_value(json_object_get(st, "gpuCount")), 2);
    cr_assert_str_eq(json_string_value(json_object_get(st, "bootID")), "b-1");
    cr_assert_str_eq(json_string_value(json_object_get(st, "heartbeatTime")),
                     "2026-12-01T10:00:00Z");
    char *cond = dump(json_object_get(st, "conditions"));
    cr_assert_str_eq(cond, "[{\"lastTransitionTime\":\"2026-12-01T09:00:00Z\",\"message\":\"ok\","
                           "\"reason\":\"AgentRunning\",\"status\":\"True\",\"type\":\"Ready\"}]");
    free(cond);
    json_t *g0 = json_array_get(json_object_get(st, "gpus"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(g0, "model")), "NVIDIA A100-SXM4-40GB");
    cr_assert(json_is_true(json_object_get(g0, "migMode")));
    char *p0 = dump(json_array_get(json_object_get(g0, "profiles"), 0));
    cr_assert(strstr(p0, "\"ciProfileId\":0,\"giProfileId\":19,") != NULL, "%s", p0);
    cr_assert(strstr(p0, "\"name\":\"1g.5gb\"") != NULL, "%s", p0);
    cr_assert(strstr(p0, "{\"size\":1,\"start\":6}],\"sliceCount\":1}") != NULL, "%s", p0);
    free(p0);
    char *inst = dump(json_object_get(g0, "instances"));
    cr_assert_str_eq(inst, "[{\"ciId\":0,\"giId\":1,\"migUUID\":\"MIG-a\",\"profile\":\"1g.5gb\","
                           "\"size\":1,\"slice\":\"ml/tiny-0\",\"start\":6},{\"giId\":2,"
                           "\"profile\":\"3g.20gb\",\"size\":4,\"slice\":\"\",\"start\":0}]");
    free(inst);
    inst = dump(json_object_get(json_array_get(json_object_get(st, "gpus"), 1), "instances"));
    cr_assert(strstr(inst, "\"slice\":\"\"") != NULL,
              "a same-start instance on another GPU is "
              "foreign: %s",
              inst);
    free(inst);
    json_decref(st);
}

Test(cluster_node, capacity_sums_empty_gpus_and_removes_what_is_not_offered)
{
    struct mig_gpu g[3];
    fake_gpu(&g[0], 0, "A100-SXM4-40GB", true);
    fake_gpu(&g[1], 1, "A100-SXM4-40GB", true);
    fake_gpu(&g[2], 2, "A100-SXM4-40GB", false);  /* MIG off: offers nothing */
    add_inst(&g[0], "7g.40gb", 0, 1, 0, "MIG-a"); /* instances do not change capacity */
    json_t *cur = json_pack("{s:s, s:s, s:s}", "cpu", "1k", "mig.slicer.dev/9g.99gb", "3",
                            "mig.slicer.dev/1g.5gb", "1");
    json_t *patch = cl_capacity_patch(g, 3, cur);
    char *text = dump(patch);
    cr_assert_str_eq(text, "{\"status\":{\"allocatable\":{\"mig.slicer.dev/1g.10gb\":\"8\","
                           "\"mig.slicer.dev/1g.5gb\":\"14\",\"mig.slicer.dev/1g.5gb.me\":\"2\","
                           "\"mig.slicer.dev/2g.10gb\":\"6\",\"mig.slicer.dev/3g.20gb\":\"4\","
                           "\"mig.slicer.dev/4g.20gb\":\"2\",\"mig.slicer.dev/7g.40gb\":\"2\","
                           "\"mig.slicer.dev/9g.99gb\":null},\"capacity\":{\"mig.slicer.dev/"
                           "1g.10gb\":\"8\",\"mig.slicer.dev/1g.5gb\":\"14\",\"mig.slicer.dev/"
                           "1g.5gb.me\":\"2\",\"mig.slicer.dev/2g.10gb\":\"6\",\"mig.slicer.dev/"
                           "3g.20gb\":\"4\",\"mig.slicer.dev/4g.20gb\":\"2\",\"mig.slicer.dev/"
                           "7g.40gb\":\"2\",\"mig.slicer.dev/9g.99gb\":null}}}");
    free(text);
    json_decref(patch);
    /* A Node that has it all already needs no write (the usual heartbeat); one that
     * differs in any slicer resource, or still has one that goes, does. */
    patch = cl_capacity_patch(g, 3, cur);
    json_t *cap = json_deep_copy(json_object_get(json_object_get(patch, "status"), "capacity"));
    json_object_del(cap, "mig.slicer.dev/9g.99gb");
    json_object_set_new(cap, "cpu", json_string("1k"));
    json_t *status = json_pack("{s:o, s:o}", "capacity", json_deep_copy(cap), "allocatable",
                               json_deep_copy(cap));
    cr_expect(cl_capacity_is_current(patch, status), "the Node has it all");
    json_object_set_new(json_object_get(status, "allocatable"), "mig.slicer.dev/1g.5gb",
                        json_string("13"));
    cr_expect_not(cl_capacity_is_current(patch, status), "allocatable differs");
    json_object_set_new(json_object_get(status, "allocatable"), "mig.slicer.dev/1g.5gb",
                        json_string("14"));
    cr_expect(cl_capacity_is_current(patch, status));
    json_object_set_new(json_object_get(status, "capacity"), "mig.slicer.dev/9g.99gb",
                        json_string("3"));
    cr_expect_not(cl_capacity_is_current(patch, status), "a profile to remove is still there");
    json_object_del(json_object_get(status, "capacity"), "mig.slicer.dev/9g.99gb");
    json_object_del(json_object_get(status, "capacity"), "mig.slicer.dev/7g.40gb");
    cr_expect_not(cl_capacity_is_current(patch, status), "a profile to add is missing");
    cr_expect_not(cl_capacity_is_current(patch, NULL), "a Node without status");
    json_decref(status);
    json_decref(cap);
    json_decref(patch);
    /* No MIG GPU at all: every mig.slicer.dev/ resource goes. */
    patch = cl_capacity_patch(&g[2], 1, cur);
    text = dump(json_object_get(json_object_get(patch, "status"), "capacity"));
    cr_assert_str_eq(text, "{\"mig.slicer.dev/1g.5gb\":null,\"mig.slicer.dev/9g.99gb\":null}");
    free(text);
    json_decref(patch);
    json_decref(cur);
}

Test(cluster_node, inst_at_tells_full_gi_only_other_and_none)
{
    struct mig_gpu g;
    fake_gpu(&g, 0, "A100-SXM4-40GB", true);
    add_inst(&g, "1g.5gb", 6, 1, 0, "MIG-a");
    add_inst(&g, "3g.20gb", 0, 2, MIG_NO_CI, "");
    int p1 = cat_profile_index(g.model, "1g.5gb"), p3 = cat_profile_index(g.model, "3g.20gb");
    const char *uuid;
    cr_assert_eq(cl_inst_at(&g, p1, 6, &uuid), CL_INST_FULL);
    cr_assert_str_eq(uuid, "MIG-a");
    cr_assert_eq(cl_inst_at(&g, p3, 0, &uuid), CL_INST_GI_ONLY);
    cr_assert_eq(cl_inst_at(&g, p1, 0, NULL), CL_INST_OTHER);
    cr_assert_eq(cl_inst_at(&g, p1, 5, &uuid), CL_INST_NONE);
    cr_assert_null(uuid);
    cr_assert_eq(cl_inst_at(NULL, p1, 5, NULL), CL_INST_NONE);
}

/* ---- the journal's cluster fields -------------------------------------------------- */

Test(cluster_journal, slice_and_uid_round_trip_and_are_found_by_key)
{
    char dir[] = "/tmp/slicer-cl-journal.XXXXXX", path[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/cluster-journal.json", dir);
    struct journal *j = NULL;
    struct err *e = NULL;
    cr_assert_eq(journal_open(path, &j, &e), 0, "%s", err_msg(e));
    struct journal_slice s = {.start = 2, .phase = SLICE_CREATING};
    snprintf(s.owner, sizeof s.owner, "gpuslice");
    snprintf(s.profile, sizeof s.profile, "2g.10gb");
    snprintf(s.gpu_uuid, sizeof s.gpu_uuid, "GPU-1");
    snprintf(s.slice, sizeof s.slice, "ml/tiny-0");
    snprintf(s.uid, sizeof s.uid, "u-1");
    journal_add(j, &s);
    cr_assert_eq(journal_save(j, &e), 0, "%s", err_msg(e));
    journal_free(j);
    cr_assert_eq(journal_open(path, &j, &e), 0, "%s", err_msg(e));
    struct journal_slice *f = cl_journal_find(j, "ml/tiny-0");
    cr_assert_not_null(f);
    cr_assert_str_eq(f->uid, "u-1");
    cr_assert_str_eq(f->profile, "2g.10gb");
    cr_assert_null(cl_journal_find(j, "ml/other"));
    journal_free(j);
    unlink(path);
    rmdir(dir);
}
