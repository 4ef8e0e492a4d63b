/* The controller's pure parts between the caches and the writes
 * (src/controller/slice.c, view.c): GPUSlice names and objects, reading
 * GPUSlices and GPUNodes, the pod's ungate update, the scheduler's view with
 * every taken placement, and each pod's next step (place, ungate, release). */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <regex.h>
#include <string.h>

#include "ctl_objects.h"
#include "controller/podspec.h"
#include "controller/sched.h"
#include "controller/slice.h"
#include "controller/view.h"
#include "objects/resourceclaim.h"

#define UID "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define GATED_POD(limits)                                                                          \
    "{\"metadata\":{\"name\":\"train\",\"namespace\":\"ml\",\"uid\":\"" UID "\"},"                 \
    "\"spec\":{\"schedulingGates\":[{\"name\":\"example.com/x\"},{\"name\":"                       \
    "\"slicer.dev/"                                                                                \
    "gpu-slice\"}],\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":{" limits             \
    "}}},{\"name\":\"b\",\"resources\":{\"limits\":{\"mig.slicer.dev/1g.5gb\":\"1\"}}}]}}"

/* ---- names ---------------------------------------------------------------------------- */

static bool dns_subdomain(const char *s)
{
    regex_t re;
    cr_assert_eq(regcomp(&re, "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
                         REG_EXTENDED | REG_NOSUB),
                 0);
    bool ok = regexec(&re, s, 0, NULL, 0) == 0 && strlen(s) <= 253;
    regfree(&re);
    return ok;
}

Test(slice_name, deterministic_cut_and_dns_valid)
{
    char a[CTL_SLICE_NAME_MAX], b[CTL_SLICE_NAME_MAX];
    ctl_slice_name("train", UID, 0, a, sizeof a);
    cr_expect_str_eq(a, "train-0a1b2c3d-0");
    ctl_slice_name("train", UID, 0, b, sizeof b);
    cr_expect_str_eq(a, b, "the same slice always has the same name");
    ctl_slice_name("train", UID, 12, a, sizeof a);
    cr_expect_str_eq(a, "train-0a1b2c3d-12");

    /* 39 chars then '-' then more: cut at 40 leaves a trailing '-', which goes. */
    const char *name = "abcdefghij-abcdefghij-abcdefghij-abcdef-.x.y";
    ctl_slice_name(name, UID, 3, a, sizeof a);
    cr_expect_str_eq(a, "abcdefghij-abcdefghij-abcdefghij-abcdef-0a1b2c3d-3", "%s", a);
    cr_expect(dns_subdomain(a), "%s", a);

    const char *dotted = "abcdefghij.abcdefghij.abcdefghij.abcdefg.hijk";
    ctl_slice_name(dotted, UID, 0, a, sizeof a);
    cr_expect_str_eq(a, "abcdefghij.abcdefghij.abcdefghij.abcdefg-0a1b2c3d-0");
    cr_expect(dns_subdomain(a), "%s", a);

    char longest[254];
    memset(longest, 'z', 253);
    longest[253] = '\0';
    ctl_slice_name(longest, UID, 63, a, sizeof a);
    cr_expect_eq(strlen(a), 40 + 1 + 8 + 1 + 2, "%s", a);
    cr_expect_lt(strlen(a), 64, "fits a label value and any name limit");
    cr_expect(dns_subdomain(a));
}

/* ---- the GPUSlice the controller creates, read back ----------------------------------- */

Test(slice_build, the_contracts_metadata_and_spec)
{
    struct ctl_pod p = pod_of(GATED_POD("\"mig.slicer.dev/3g.20gb\":\"2\""));
    struct ctl_choice ch = {.ask = 1, .gpu = 0, .start = 4, .size = 4};
    json_t *o = ctl_slice_build(&p, 2, &ch, "gpu-node-7", "GPU-aaaa");
    json_t *want = js("{\"apiVersion\":\"slicer.dev/v1alpha1\",\"kind\":\"GPUSlice\","
                      "\"metadata\":{\"name\":\"train-0a1b2c3d-2\",\"namespace\":\"ml\","
                      "\"labels\":{\"slicer.dev/node\":\"gpu-node-7\",\"slicer.dev/pod-uid\":\"" UID
                      "\"},\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"name\":"
                      "\"train\",\"uid\":\"" UID
                      "\",\"controller\":true}],\"finalizers\":[\"slicer.dev/teardown\"]},"
                      "\"spec\":{\"podName\":\"train\",\"podUID\":\"" UID "\",\"container\":"
                      "\"devices-1\",\"profile\":\"1g.5gb\",\"nodeName\":\"gpu-node-7\","
                      "\"gpuUUID\":\"GPU-aaaa\",\"placement\":{\"start\":4,\"size\":4}}}");
    char *got = json_dumps(o, JSON_SORT_KEYS);
    cr_expect(json_equal(o, want), "%s", got);
    free(got);

    struct ctl_slice s;
    struct err *e = NULL;
    json_object_set_new(o, "status", json_pack("{s:s, s:s}", "phase", "Ready", "migUUID", "MIG-1"));
    cr_assert_eq(ctl_slice_parse(o, &s, &e), 0, "%s", err_msg(e));
    cr_expect_str_eq(s.name, "train-0a1b2c3d-2");
    cr_expect_eq(s.ordinal, 2);
    cr_expect_str_eq(s.pod_uid, UID);
    cr_expect_str_eq(s.container, "devices-1");
    cr_expect_eq(s.start, 4);
    cr_expect_eq(s.size, 4);
    cr_expect_eq(s.phase, CTL_PHASE_READY);
    cr_expect_str_eq(s.mig_uuid, "MIG-1");
    cr_expect_not(s.deleting);
    ctl_slice_free(&s);
    json_decref(o);
    json_decref(want);
    ctl_pod_free(&p);
}

Test(slice_parse, refuses_what_it_cannot_use)
{
    const char *bad[] = {
        "{}",
        "{\"metadata\":{\"name\":\"s\",\"namespace\":\"n\"},\"spec\":{\"podName\":\"p\"}}",
        "{\"metadata\":{\"name\":\"s\",\"namespace\":\"n\"},\"spec\":{\"podName\":\"p\",\"podUID\":"
        "\"u\",\"container\":\"devices-0\",\"profile\":\"1g.5gb\",\"nodeName\":\"n\",\"gpuUUID\":"
        "\"GPU-x\",\"placement\":{\"start\":16,\"size\":1}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = js(bad[i]);
        struct ctl_slice s;
        struct err *e = NULL;
        cr_expect_lt(ctl_slice_parse(j, &s, &e), 0, "case %zu", i);
        err_free(&e);
        json_decref(j);
    }
}

/* ---- GPUNodes -------------------------------------------------------------------------- */

#define GPUNODE(hb, inst)                                                                          \
    "{\"metadata\":{\"name\":\"n1\"},\"status\":{\"heartbeatTime\":\"" hb "\","                    \
    "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],\"gpus\":[{\"index\":0,\"uuid\":"   \
    "\"GPU-0\",\"model\":\"NVIDIA A100-SXM4-40GB\",\"migMode\":true,\"instances\":[" inst "]},"    \
    "{\"index\":1,\"uuid\":\"GPU-1\",\"model\":\"NVIDIA A100-SXM4-40GB\",\"migMode\":false}]}}"

static struct ctl_gpunode gpunode_of(const char *text)
{
    json_t *j = js(text);
    struct ctl_gpunode g;
    struct err *e = NULL;
    cr_assert_eq(ctl_gpunode_parse(j, &g, &e), 0, "%s", err_msg(e));
    json_decref(j);
    return g;
}

Test(gpunode, heartbeats_are_not_changes_instances_are)
{
    struct ctl_gpunode a = gpunode_of(GPUNODE("2026-12-01T00:00:00Z", ""));
    struct ctl_gpunode b = gpunode_of(GPUNODE("2026-12-01T00:00:30Z", ""));
    struct ctl_gpunode c = gpunode_of(
        GPUNODE("2026-12-01T00:01:00Z", "{\"profile\":\"1g.5gb\",\"start\":6,\"size\":1}"));
    cr_expect(a.ready);
    cr_expect_eq(a.ngpus, 2);
    cr_expect_not_null(a.gpus[0].model);
    cr_expect(a.gpus[0].mig);
    cr_expect_not(a.gpus[1].mig);
    cr_expect(ctl_gpunode_equal(&a, &b), "only the heartbeat moved");
    cr_expect_not(ctl_gpunode_equal(&a, &c), "an instance appeared");
    cr_expect_eq(c.gpus[0].ninst, 1);
    cr_expect_eq(c.gpus[0].inst[0].start, 6);
    ctl_gpunode_free(&a);
    ctl_gpunode_free(&b);
    ctl_gpunode_free(&c);
}

/* ---- ungate ----------------------------------------------------------------------------- */

static struct ctl_slice mk(const char *name, const char *container, const char *mig,
                           enum ctl_phase phase, const char *node)
{
    json_t *o = json_pack("{s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:i, s:i}},"
                          " s:{s:s, s:s}}",
                          "metadata", "name", name, "namespace", "ml", "spec", "podName", "train",
                          "podUID", UID, "container", container, "profile", "1g.5gb", "nodeName",
                          node, "gpuUUID", "GPU-0", "placement", "start", 0, "size", 1, "status",
                          "phase", ctl_phase_name(phase), "migUUID", mig);
    struct ctl_slice s;
    cr_assert_eq(ctl_slice_parse(o, &s, NULL), 0);
    json_decref(o);
    return s;
}

Test(ungate, annotations_in_slice_order_pin_and_only_our_gate_removed)
{
    json_t *pod = js(GATED_POD("\"mig.slicer.dev/1g.5gb\":\"2\"") "");
    json_object_set_new(json_object_get(pod, "metadata"), "annotations",
                        json_pack("{s:s}", "keep", "me"));
    struct ctl_slice s[3] = {mk("train-0a1b2c3d-1", "devices-0", "MIG-b", CTL_PHASE_READY, "n1"),
                             mk("train-0a1b2c3d-2", "devices-1", "MIG-c", CTL_PHASE_READY, "n1"),
                             mk("train-0a1b2c3d-0", "devices-0", "MIG-a", CTL_PHASE_READY, "n1")};
    const struct ctl_slice *sp[] = {&s[0], &s[1], &s[2]};
    struct err *e = NULL;
    cr_assert_eq(ctl_ungate_apply(pod, sp, 3, &e), 0, "%s", err_msg(e));
    json_t *want = js("{\"keep\":\"me\",\"slicer.dev/devices-0\":\"MIG-a,MIG-b\","
                      "\"slicer.dev/devices-1\":\"MIG-c\"}");
    json_t *ann = json_object_get(json_object_get(pod, "metadata"), "annotations");
    char *got = json_dumps(ann, JSON_SORT_KEYS);
    cr_expect(json_equal(ann, want), "%s", got);
    free(got);
    json_t *spec = json_object_get(pod, "spec");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(spec, "nodeSelector"),
                                                       "kubernetes.io/hostname")),
                     "n1");
    json_t *gates = json_object_get(spec, "schedulingGates");
    cr_expect_eq(json_array_size(gates), 1, "the other gate stays");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(gates, 0), "name")),
                     "example.com/x");
    cr_expect_eq(ctl_ungate_apply(pod, sp, 3, &e), -ENOENT, "a second time: our gate is gone");
    err_free(&e);
    for (int i = 0; i < 3; i++)
        ctl_slice_free(&s[i]);
    json_decref(want);
    json_decref(pod);
}

Test(ungate, refuses_slices_that_are_not_ready_on_one_node_of_this_pod)
{
    struct ctl_slice ready = mk("t-0", "devices-0", "MIG-a", CTL_PHASE_READY, "n1");
    struct ctl_slice pending = mk("t-1", "devices-0", "", CTL_PHASE_PENDING, "n1");
    struct ctl_slice other = mk("t-2", "devices-0", "MIG-c", CTL_PHASE_READY, "n2");
    const struct ctl_slice *not_ready[] = {&ready, &pending}, *two_nodes[] = {&ready, &other};
    json_t *pod = js(GATED_POD("\"mig.slicer.dev/1g.5gb\":\"1\""));
    struct err *e = NULL;
    cr_expect_eq(ctl_ungate_apply(pod, not_ready, 2, &e), -EINVAL);
    err_free(&e);
    cr_expect_eq(ctl_ungate_apply(pod, two_nodes, 2, &e), -EINVAL);
    err_free(&e);
    json_object_set_new(json_object_get(pod, "metadata"), "uid", json_string("another"));
    const struct ctl_slice *one[] = {&ready};
    cr_expect_eq(ctl_ungate_apply(pod, one, 1, &e), -ESTALE, "a new pod of the same name");
    err_free(&e);
    json_t *untouched = js(GATED_POD("\"mig.slicer.dev/1g.5gb\":\"1\""));
    json_object_set_new(json_object_get(untouched, "metadata"), "uid", json_string("another"));
    cr_expect(json_equal(pod, untouched), "a refused ungate changes nothing");
    json_decref(untouched);
    json_decref(pod);
    ctl_slice_free(&ready);
    ctl_slice_free(&pending);
    ctl_slice_free(&other);
}

/* RFC 7386 JSON merge patch, as the apiserver applies one (for checking ours). */
static void merge_patch(json_t *target, json_t *patch)
{
    const char *k;
    json_t *v;
    json_object_foreach(patch, k, v)
    {
        json_t *t = json_object_get(target, k);
        if (json_is_null(v))
            json_object_del(target, k);
        else if (json_is_object(v) && json_is_object(t))
            merge_patch(t, v);
        else
            json_object_set(target, k, v);
    }
}

Test(ungate, the_patch_is_the_update_from_the_cache_with_its_resource_version)
{
    /* A pod whose only gate is ours (the controller patches only then). */
    json_t *pod = js("{\"metadata\":{\"name\":\"train\",\"namespace\":\"ml\",\"uid\":\"" UID "\","
                     "\"resourceVersion\":\"41\",\"annotations\":{\"keep\":\"me\"}},"
                     "\"spec\":{\"nodeSelector\":{\"zone\":\"a\"},\"schedulingGates\":[{\"name\":"
                     "\"slicer.dev/gpu-slice\"}],\"containers\":[{\"name\":\"a\"}]}}");
    struct ctl_slice s[3] = {mk("train-0a1b2c3d-1", "devices-0", "MIG-b", CTL_PHASE_READY, "n1"),
                             mk("train-0a1b2c3d-2", "devices-1", "MIG-c", CTL_PHASE_READY, "n1"),
                             mk("train-0a1b2c3d-0", "devices-0", "MIG-a", CTL_PHASE_READY, "n1")};
    const struct ctl_slice *sp[] = {&s[0], &s[1], &s[2]};
    struct err *e = NULL;
    json_t *patch = ctl_ungate_patch(UID, "41", sp, 3, &e);
    cr_assert_not_null(patch, "%s", err_msg(e));
    json_t *want =
        js("{\"metadata\":{\"resourceVersion\":\"41\",\"uid\":\"" UID "\",\"annotations\":{"
           "\"slicer.dev/devices-0\":\"MIG-a,MIG-b\",\"slicer.dev/devices-1\":\"MIG-c\"}},"
           "\"spec\":{\"nodeSelector\":{\"kubernetes.io/hostname\":\"n1\"},"
           "\"schedulingGates\":null}}");
    char *got = json_dumps(patch, JSON_SORT_KEYS);
    cr_expect(json_equal(patch, want), "%s", got);
    free(got);

    /* Applied as the apiserver would, it makes what the read-and-update path makes. */
    json_t *put = json_deep_copy(pod);
    cr_assert_eq(ctl_ungate_apply(put, sp, 3, &e), 0, "%s", err_msg(e));
    merge_patch(pod, patch);
    char *a = json_dumps(pod, JSON_SORT_KEYS), *b = json_dumps(put, JSON_SORT_KEYS);
    cr_expect(json_equal(pod, put), "patched %s\nupdated %s", a, b);
    free(a);
    free(b);

    struct ctl_slice pending = mk("train-0a1b2c3d-3", "devices-1", "", CTL_PHASE_PENDING, "n1");
    const struct ctl_slice *not_ready[] = {&s[0], &pending};
    cr_expect_null(ctl_ungate_patch(UID, "41", not_ready, 2, &e), "a slice is not Ready");
    cr_expect_eq(e ? e->code : 0, EINVAL);
    err_free(&e);
    cr_expect_null(ctl_ungate_patch("another", "41", sp, 3, &e), "not this pod's slices");
    cr_expect_eq(e ? e->code : 0, ESTALE);
    err_free(&e);
    cr_expect_null(ctl_ungate_patch(UID, NULL, sp, 3, &e), "no resourceVersion: no condition");
    err_free(&e);
    for (int i = 0; i < 3; i++)
        ctl_slice_free(&s[i]);
    ctl_slice_free(&pending);
    json_decref(patch);
    json_decref(want);
    json_decref(put);
    json_decref(pod);
}

/* ---- the view ---------------------------------------------------------------------------- */

#define NODE(name)                                                                                 \
    "{\"metadata\":{\"name\":\"" name "\",\"labels\":{}},\"status\":{\"allocatable\":{"            \
    "\"cpu\":\"4\",\"memory\":\"8Gi\",\"pods\":\"10\"}}}"

Test(view, every_taken_placement_counts_once)
{
    struct ctl_node n1 = node_of(NODE("n1")), n2 = node_of(NODE("n2")), n3 = node_of(NODE("n3"));
    /* n1: GPU-0 has an instance at 6 (the agent's report of slice s6, also a GPUSlice) and a
     * foreign 2g at 0; GPU-1 is not in MIG mode. n2: no GPUNode. n3: GPUNode not Ready. */
    struct ctl_gpunode g1 = gpunode_of(GPUNODE("t", "{\"profile\":\"1g.5gb\",\"start\":6,\"size\":"
                                                    "1},{\"profile\":\"2g.10gb\",\"start\":0,"
                                                    "\"size\":2}"));
    struct ctl_gpunode g3 = gpunode_of(GPUNODE("t", ""));
    g3.ready = false;
    free(g3.name);
    g3.name = strdup("n3");
    const struct ctl_node *nodes[] = {&n1, &n2, &n3};
    const struct ctl_gpunode *gns[] = {&g1, NULL, &g3};
    struct ctl_taken taken[] = {
        {"n1", "GPU-0", "1g.5gb", 6, 1}, /* the slice that instance realises */
        {"n1", "GPU-0", "1g.5gb", 5, 1}, /* a slice Pending, or an assumed creation */
        {"n2", "GPU-9", "1g.5gb", 0, 1}, /* on a node not in the view: ignored */
    };
    struct ctl_usage usage[] = {{"n1", 1500, 1LL << 30}, {"n1", 500, 0}, {"n3", 1, 1}};
    struct ctl_view v;
    ctl_view_build(&(struct ctl_view_in){nodes, 3, gns, taken, 3, usage, 3}, &v);
    cr_assert_eq(v.n, 1, "only n1 has a Ready GPUNode with a usable GPU");
    cr_assert_eq(v.nodes[0].ngpus, 1, "GPU-1 (MIG off) is left out");
    cr_expect_str_eq(v.uuids[0][0], "GPU-0");
    const struct place_gpu *g = &v.nodes[0].gpus[0];
    cr_expect_eq(g->used, 0x63, "memory slices 0,1 (2g), 5 and 6 taken: %#x", g->used);
    cr_expect_eq(g->ninst, 3, "the slice and its instance count once");
    cr_expect_eq(v.nodes[0].room.cpu_milli, 4000 - 2000);
    cr_expect_eq(v.nodes[0].room.memory_bytes, (8LL << 30) - (1LL << 30));
    cr_expect_eq(v.nodes[0].room.pods, 8);

    /* The scheduler on this view: 1g.5gb has 7 starts (0..6); 0,1,5,6 are taken. */
    struct ctl_pod p[4];
    const struct ctl_pod *pp[4];
    for (int i = 0; i < 4; i++) {
        char text[400];
        snprintf(text, sizeof text,
                 "{\"metadata\":{\"name\":\"p%d\",\"namespace\":\"ns\",\"uid\":\"u%d\"},\"spec\":{"
                 "\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":{\"mig.slicer.dev/"
                 "1g.5gb\":\"1\"}}}]}}",
                 i, i);
        p[i] = pod_of(text);
        pp[i] = &p[i];
    }
    struct ctl_decision d[4];
    ctl_schedule(v.nodes, v.n, pp, 4, PLACE_FIRST_FIT, d);
    unsigned starts = 0;
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(d[i].node, 0);
        starts |= 1u << d[i].slices[0].start;
    }
    cr_expect_eq(starts, 0x1c, "the free starts 2, 3 and 4: %#x", starts);
    cr_expect_eq(d[3].node, -1, "nothing else is free");
    for (int i = 0; i < 4; i++)
        ctl_pod_free(&p[i]);
    ctl_view_free(&v);
    ctl_gpunode_free(&g1);
    ctl_gpunode_free(&g3);
    ctl_node_free(&n1);
    ctl_node_free(&n2);
    ctl_node_free(&n3);
}

Test(view, nodes_compare_without_their_heartbeat)
{
    struct ctl_node a = node_of(NODE("n1")), b = node_of(NODE("n1"));
    cr_expect(ctl_node_equal(&a, &b));
    b.unschedulable = true;
    cr_expect_not(ctl_node_equal(&a, &b), "cordoned");
    ctl_node_free(&a);
    ctl_node_free(&b);
}

/* ---- each pod's next step ----------------------------------------------------------------- */

struct decide_case {
    const char *what;
    const char *phase;
    enum ctl_gate_state gate;
    bool terminating, invalid, devices_set, gone;
    int nslices; /* of the 2 the pod asks */
    enum ctl_phase slice_phase;
    bool slice_deleting;
    unsigned assumed;
    enum ctl_action act;
    enum ctl_release_why why;
};

static void run_case(const struct decide_case *c, struct ctl_pod *p, struct ctl_slice *s)
{
    snprintf(p->phase, sizeof p->phase, "%s", c->phase);
    p->gate = c->gate;
    p->terminating = c->terminating;
    const struct ctl_slice *sp[2] = {&s[0], &s[1]};
    for (int i = 0; i < 2; i++) {
        s[i].phase = c->slice_phase;
        s[i].deleting = c->slice_deleting;
    }
    struct ctl_pod_facts f = {.pod = c->gone ? NULL : p,
                              .invalid = c->invalid,
                              .devices_set = c->devices_set,
                              .slices = sp,
                              .nslices = (size_t)c->nslices,
                              .assumed = c->assumed};
    enum ctl_release_why why;
    enum ctl_action a = ctl_decide(&f, &why);
    cr_expect_eq(a, c->act, "%s: action %d, want %d", c->what, a, c->act);
    if (c->act == CTL_ACT_RELEASE)
        cr_expect_eq(why, c->why, "%s: why %d (%s), want %d", c->what, why,
                     ctl_release_why_str(why), c->why);
}

Test(decide, place_ungate_release_or_wait)
{
    const enum ctl_gate_state L = CTL_GATE_LAST, W = CTL_GATE_WAITING, N = CTL_GATE_NONE;
    const enum ctl_phase P = CTL_PHASE_PENDING, R = CTL_PHASE_READY, F = CTL_PHASE_FAILED,
                         X = CTL_PHASE_RELEASING;
    const struct decide_case cases[] = {
        {"gated, nothing yet", "Pending", L, 0, 0, 0, 0, 0, P, 0, 0, CTL_ACT_PLACE, 0},
        {"creations in flight", "Pending", L, 0, 0, 0, 0, 0, P, 0, 2, CTL_ACT_WAIT, 0},
        {"one seen, one in flight", "Pending", L, 0, 0, 0, 0, 1, P, 0, 1, CTL_ACT_WAIT, 0},
        {"being made", "Pending", L, 0, 0, 0, 0, 2, P, 0, 0, CTL_ACT_WAIT, 0},
        {"all Ready", "Pending", L, 0, 0, 0, 0, 2, R, 0, 0, CTL_ACT_UNGATE, 0},
        {"half a set after a crash", "Pending", L, 0, 0, 0, 0, 1, R, 0, 0, CTL_ACT_RELEASE,
         CTL_REL_PARTIAL},
        {"a Failed slice", "Pending", L, 0, 0, 0, 0, 2, F, 0, 0, CTL_ACT_RELEASE, CTL_REL_FAILED},
        {"a release under way", "Pending", L, 0, 0, 0, 0, 2, X, 0, 0, CTL_ACT_RELEASE,
         CTL_REL_CONTINUE},
        {"Kueue's gate first", "Pending", W, 0, 0, 0, 0, 0, P, 0, 0, CTL_ACT_NONE, 0},
        {"ungated by us, running", "Running", N, 0, 0, 1, 0, 2, R, 0, 0, CTL_ACT_NONE, 0},
        {"ungated by us, being deleted", "Running", N, 1, 0, 1, 0, 2, R, 0, 0, CTL_ACT_NONE, 0},
        {"ungated by us, its slice lost (a reboot)", "Running", N, 0, 0, 1, 0, 2, F, 0, 0,
         CTL_ACT_LOST, 0},
        {"ungated, slice lost, being deleted", "Running", N, 1, 0, 1, 0, 2, F, 0, 0, CTL_ACT_NONE,
         0},
        {"failed by us after the loss: released", "Failed", N, 0, 0, 1, 0, 2, F, 0, 0,
         CTL_ACT_RELEASE, CTL_REL_POD_DONE},
        {"succeeded", "Succeeded", N, 0, 0, 1, 0, 2, R, 0, 0, CTL_ACT_RELEASE, CTL_REL_POD_DONE},
        {"failed, slices being deleted", "Failed", N, 0, 0, 1, 0, 2, X, 1, 0, CTL_ACT_RELEASE,
         CTL_REL_POD_DONE},
        {"ended, nothing left", "Succeeded", N, 0, 0, 1, 0, 0, P, 0, 0, CTL_ACT_NONE, 0},
        {"gone", "Running", N, 0, 0, 1, 1, 2, R, 0, 0, CTL_ACT_RELEASE, CTL_REL_POD_GONE},
        {"gone, nothing left", "Running", N, 0, 0, 1, 1, 0, P, 0, 0, CTL_ACT_NONE, 0},
        {"deleted while gated", "Pending", L, 1, 0, 0, 0, 2, P, 0, 0, CTL_ACT_RELEASE,
         CTL_REL_TERMINATING},
        {"gate removed by hand", "Pending", N, 0, 0, 0, 0, 2, P, 0, 0, CTL_ACT_RELEASE,
         CTL_REL_GATE_REMOVED},
        {"gate removed by hand, no slices", "Pending", N, 0, 0, 0, 0, 0, P, 0, 0, CTL_ACT_RELEASE,
         CTL_REL_GATE_REMOVED},
        {"unreadable asks", "Pending", L, 0, 1, 0, 0, 0, P, 0, 0, CTL_ACT_INVALID, 0},
    };
    struct ctl_pod p = pod_of(
        "{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"uid\":\"" UID "\"},\"spec\":{"
        "\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":{\"mig.slicer.dev/1g.5gb\":"
        "\"2\"}}}]}}");
    struct ctl_slice s[2] = {mk("p-0a1b2c3d-0", "devices-0", "MIG-a", R, "n1"),
                             mk("p-0a1b2c3d-1", "devices-0", "MIG-b", R, "n1")};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], &p, s);
    ctl_slice_free(&s[0]);
    ctl_slice_free(&s[1]);
    ctl_pod_free(&p);
}

Test(slice_build, a_claims_slice_is_owned_by_the_claim_and_parses_back)
{
    json_t *cj =
        json_loads("{\"metadata\":{\"namespace\":\"team\",\"name\":\"held-mig-x7\",\"uid\":"
                   "\"0123456789ab\"},\"status\":{\"reservedFor\":[{\"resource\":\"pods\",\"name\":"
                   "\"held\",\"uid\":\"pod-uid\"}],\"allocation\":{\"devices\":{\"results\":[{"
                   "\"request\":\"mig\",\"driver\":\"mig.slicer.dev\",\"pool\":\"node-1\","
                   "\"device\":\"gpu0-3g-20gb-at4\"}]}}}}",
                   0, NULL);
    struct rclaim c;
    struct err *e = NULL;
    cr_assert_eq(rclaim_parse(cj, &c, &e), 1, "%s", err_msg(e));
    json_t *obj = ctl_slice_build_claim(&c, 0, "3g.20gb", 4, 4, "GPU-aaaa");
    const char *owner_kind = json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(obj, "metadata"), "ownerReferences"), 0),
        "kind"));
    cr_assert_str_eq(owner_kind, "ResourceClaim");
    struct ctl_slice s;
    cr_assert_eq(ctl_slice_parse(obj, &s, &e), 0, "%s", err_msg(e));
    cr_assert_str_eq(s.name, "held-mig-x7-01234567-0");
    cr_assert_str_eq(s.claim_uid, "0123456789ab");
    cr_assert_str_eq(s.claim_name, "held-mig-x7", "the claim is found by name, not by a scan");
    cr_assert_str_eq(s.pod_name, "held");
    cr_assert_str_eq(s.pod_uid, "pod-uid");
    cr_assert_str_eq(s.node, "node-1");
    cr_assert_str_eq(s.container, "mig");
    cr_assert_eq(s.start, 4);
    cr_assert_eq(s.size, 4);
    ctl_slice_free(&s);
    json_decref(obj);
    rclaim_free(&c);
    json_decref(cj);
}
