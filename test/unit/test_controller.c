/* The controller's pure decisions (src/controller): reading pods and nodes,
 * the hard node constraints kube-scheduler also applies, and the placement of a
 * batch of pods across nodes' GPUs. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "ctl_objects.h"
#include "controller/fit.h"
#include "controller/podspec.h"
#include "controller/sched.h"
#include "core/catalog.h"

#define META(name)                                                                                 \
    "\"metadata\":{\"name\":\"" name "\",\"namespace\":\"ns\",\"uid\":\"u-" name "\"}"
#define MIG_POD(name, limits, extra)                                                               \
    "{" META(name) ",\"spec\":{\"schedulingGates\":[{\"name\":\"slicer.dev/gpu-slice\"}],"         \
                   "\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":{" limits            \
                   "}}}]" extra "}}"
#define NODE(name, labels, extra)                                                                  \
    "{\"metadata\":{\"name\":\"" name "\",\"labels\":{" labels "}},\"spec\":{" extra               \
    "},\"status\":{\"allocatable\":{\"cpu\":\"8\",\"memory\":\"32Gi\",\"pods\":\"110\"}}}"

/* ---- quantities ------------------------------------------------------------------------ */

Test(quantity, kubernetes_quantities_in_thousandths)
{
    struct {
        const char *q;
        int64_t milli;
    } ok[] = {{"100m", 100},           {"1", 1000},
              {"2.5", 2500},           {"0.1", 100},
              {"1Ki", 1024000},        {"128Mi", 128LL * 1048576 * 1000},
              {"1G", 1000000000000LL}, {"1e3", 1000000},
              {"1Ti", 1000LL << 40},   {"1M", 1000000000LL}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t v = -1;
        cr_expect(ctl_quantity_milli(ok[i].q, &v), "%s", ok[i].q);
        cr_expect_eq(v, ok[i].milli, "%s: %lld", ok[i].q, (long long)v);
    }
    const char *bad[] = {"", "m", "-1", "1x", "1.5.5", "Ki", "1e99", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v;
        cr_expect_not(ctl_quantity_milli(bad[i], &v), "'%s' accepted", bad[i]);
    }
}

/* ---- pods ------------------------------------------------------------------------------ */

Test(podspec, asks_are_read_back_from_slicers_resources)
{
    struct ctl_pod p = pod_of("{" META(
        "p") ",\"spec\":{\"schedulingGates\":[{\"name\":\"slicer.dev/gpu-slice\"}],"
             "\"initContainers\":[{\"name\":\"i\",\"resources\":{\"limits\":{\"mig.slicer.dev/"
             "1g.10gb\":"
             "\"1\",\"cpu\":\"2\"}}}],\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":{"
             "\"mig."
             "slicer.dev/1g.5gb.me\":\"1\",\"mig.slicer.dev/3g.20gb\":\"2\",\"cpu\":\"500m\"},"
             "\"requests\":{\"cpu\":\"250m\",\"memory\":\"1Gi\"}}},{\"name\":\"b\",\"resources\":{"
             "\"requests\":{\"cpu\":\"1\"}}}]}}");
    cr_assert_eq(p.nasks, 3);
    cr_expect_str_eq(p.asks[0].container, "devices-init-0");
    cr_expect_str_eq(p.asks[0].profile, "1g.10gb");
    cr_expect_str_eq(p.asks[1].container, "devices-0");
    cr_expect(strcmp(p.asks[1].profile, "1g.5gb+me") == 0 ||
                  strcmp(p.asks[2].profile, "1g.5gb+me") == 0,
              "1g.5gb.me is read as the profile 1g.5gb+me");
    cr_expect_eq(p.asks[1].count + p.asks[2].count, 3);
    cr_expect_eq(p.gate, CTL_GATE_LAST);
    cr_expect_eq(p.cpu_milli, 2000, "the init container's 2 CPUs outweigh 0.25 + 1");
    cr_expect_eq(p.memory_bytes, 1LL << 30);
    cr_expect_str_eq(p.phase, "Pending");
    ctl_pod_free(&p);
}

Test(podspec, gates_other_than_ours_make_the_pod_wait)
{
    struct ctl_pod p =
        pod_of("{" META("p") ",\"spec\":{\"schedulingGates\":[{\"name\":\"kueue.x-k8s.io/"
                             "admission\"},{\"name\":\"slicer.dev/gpu-slice\"}],"
                             "\"containers\":[]}}");
    cr_expect_eq(p.gate, CTL_GATE_WAITING);
    ctl_pod_free(&p);
    p = pod_of("{" META("p") ",\"spec\":{\"containers\":[]}}");
    cr_expect_eq(p.gate, CTL_GATE_NONE, "no gate: released, or removed by hand");
    ctl_pod_free(&p);
}

Test(podspec, a_pod_changed_behind_the_webhooks_back_is_an_error)
{
    const char *bad[] = {
        MIG_POD("p", "\"mig.slicer.dev/9g.99gb\":\"1\"", ""),
        MIG_POD("p", "\"mig.slicer.dev/1g.5gb\":\"0\"", ""),
        MIG_POD("p", "\"mig.slicer.dev/1g.5gb\":\"1.5\"", ""),
        "{\"metadata\":{\"name\":\"p\"},\"spec\":{}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = js(bad[i]);
        struct ctl_pod p;
        struct err *e = NULL;
        cr_expect_lt(ctl_pod_parse(j, &p, &e), 0, "case %zu accepted", i);
        cr_expect_not_null(e);
        err_free(&e);
        json_decref(j);
    }
}

/* ---- fit ------------------------------------------------------------------------------- */

static enum ctl_misfit fit(const char *pod, const char *node)
{
    struct ctl_pod p = pod_of(pod);
    struct ctl_node n = node_of(node);
    struct ctl_room room = {n.cpu_milli, n.memory_bytes, n.pods};
    enum ctl_misfit m = ctl_fit(&p, &n, &room);
    ctl_pod_free(&p);
    ctl_node_free(&n);
    return m;
}

#define ONE_1G "\"mig.slicer.dev/1g.5gb\":\"1\""

Test(fit, selector_affinity_taints_cordon_and_resources)
{
    const char *plain = NODE("n1", "\"zone\":\"a\",\"gpu\":\"a100\",\"rank\":\"5\"", "");
    cr_expect_eq(fit(MIG_POD("p", ONE_1G, ""), plain), CTL_FITS);
    cr_expect_eq(fit(MIG_POD("p", ONE_1G, ",\"nodeSelector\":{\"zone\":\"a\"}"), plain), CTL_FITS);
    cr_expect_eq(fit(MIG_POD("p", ONE_1G, ",\"nodeSelector\":{\"zone\":\"b\"}"), plain),
                 CTL_SELECTOR);
    cr_expect_eq(fit(MIG_POD("p", ONE_1G, ",\"nodeSelector\":{\"missing\":\"x\"}"), plain),
                 CTL_SELECTOR);
#define AFF(terms)                                                                                 \
    ",\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{"        \
    "\"nodeSelectorTerms\":[" terms "]}}}"
    cr_expect_eq(fit(MIG_POD("p", ONE_1G,
                             AFF("{\"matchExpressions\":[{\"key\":\"gpu\",\"operator\":"
                                 "\"In\",\"values\":[\"h100\",\"a100\"]}]}")),
                     plain),
                 CTL_FITS);
    cr_expect_eq(fit(MIG_POD("p", ONE_1G,
                             AFF("{\"matchExpressions\":[{\"key\":\"gpu\",\"operator\":"
                                 "\"NotIn\",\"values\":[\"a100\"]}]}")),
                     plain),
                 CTL_AFFINITY);
    cr_expect_eq(fit(MIG_POD("p", ONE_1G,
                             AFF("{\"matchExpressions\":[{\"key\":\"x\",\"operator\":\"Exists\"}]},"
                                 "{\"matchExpressions\":[{\"key\":\"rank\",\"operator\":\"Gt\","
                                 "\"values\":[\"3\"]}]}")),
                     plain),
                 CTL_FITS, "terms are ORed: the second matches");
    cr_expect_eq(fit(MIG_POD("p", ONE_1G,
                             AFF("{\"matchExpressions\":[{\"key\":\"rank\",\"operator\":\"Lt\","
                                 "\"values\":[\"3\"]},{\"key\":\"zone\",\"operator\":\"In\","
                                 "\"values\":[\"a\"]}]}")),
                     plain),
                 CTL_AFFINITY, "expressions are ANDed");
    cr_expect_eq(fit(MIG_POD("p", ONE_1G,
                             AFF("{\"matchFields\":[{\"key\":\"metadata.name\","
                                 "\"operator\":\"In\",\"values\":[\"n2\"]}]}")),
                     plain),
                 CTL_AFFINITY, "pinned to another node by name");
    cr_expect_eq(fit(MIG_POD("p", ONE_1G,
                             AFF("{\"matchExpressions\":[{\"key\":\"x\",\"operator\":"
                                 "\"DoesNotExist\"}]}")),
                     plain),
                 CTL_FITS);

    const char *tainted =
        NODE("n1", "",
             "\"taints\":[{\"key\":\"gpu\",\"value\":\"mig\",\"effect\":\"NoSchedule\"},"
             "{\"key\":\"soft\",\"effect\":\"PreferNoSchedule\"}]");
    cr_expect_eq(fit(MIG_POD("p", ONE_1G, ""), tainted), CTL_TAINT);
    cr_expect_eq(fit(MIG_POD("p", ONE_1G,
                             ",\"tolerations\":[{\"key\":\"gpu\",\"operator\":\"Equal\","
                             "\"value\":\"mig\",\"effect\":\"NoSchedule\"}]"),
                     tainted),
                 CTL_FITS, "PreferNoSchedule does not bar");
    cr_expect_eq(fit(MIG_POD("p", ONE_1G,
                             ",\"tolerations\":[{\"key\":\"gpu\",\"operator\":\"Equal\","
                             "\"value\":\"other\"}]"),
                     tainted),
                 CTL_TAINT, "another value does not tolerate");
    cr_expect_eq(fit(MIG_POD("p", ONE_1G,
                             ",\"tolerations\":[{\"key\":\"gpu\",\"operator\":"
                             "\"Exists\",\"effect\":\"NoExecute\"}]"),
                     tainted),
                 CTL_TAINT, "another effect does not tolerate");
    cr_expect_eq(fit(MIG_POD("p", ONE_1G, ",\"tolerations\":[{\"operator\":\"Exists\"}]"), tainted),
                 CTL_FITS, "an empty key with Exists tolerates everything");

    cr_expect_eq(fit(MIG_POD("p", ONE_1G, ""), NODE("n1", "", "\"unschedulable\":true")),
                 CTL_CORDONED);
    cr_expect_eq(fit("{" META("p") ",\"spec\":{\"containers\":[{\"name\":\"c\",\"resources\":{"
                                   "\"requests\":{\"cpu\":\"9\"},\"limits\":{" ONE_1G "}}}]}}",
                     plain),
                 CTL_CPU);
    cr_expect_eq(fit("{" META("p") ",\"spec\":{\"containers\":[{\"name\":\"c\",\"resources\":{"
                                   "\"limits\":{\"memory\":\"64Gi\"," ONE_1G "}}}]}}",
                     plain),
                 CTL_MEMORY, "limits stand in for absent requests");
}

/* ---- sched ------------------------------------------------------------------------------ */

struct cluster {
    struct ctl_node nodes[4];
    struct place_gpu gpus[4][8];
    struct ctl_gpu_node view[4];
    size_t n;
};

static void add_node(struct cluster *c, const char *json, const char *model, size_t ngpus)
{
    size_t i = c->n++;
    c->nodes[i] = node_of(json);
    const struct cat_gpu *m = cat_gpu_find(model);
    cr_assert_not_null(m, "%s", model);
    for (size_t g = 0; g < ngpus; g++)
        place_gpu_init(&c->gpus[i][g], m);
    c->view[i] =
        (struct ctl_gpu_node){&c->nodes[i],
                              {c->nodes[i].cpu_milli, c->nodes[i].memory_bytes, c->nodes[i].pods},
                              c->gpus[i],
                              ngpus};
}

static void free_cluster(struct cluster *c)
{
    for (size_t i = 0; i < c->n; i++)
        ctl_node_free(&c->nodes[i]);
}

/* Every placement the scheduler made must be accepted by the engine's own rules
 * on the GPU as it was, and no two slices may overlap. */
static void check_exact(const struct cluster *before, const struct ctl_decision *d, size_t n,
                        const struct ctl_pod *const *pods)
{
    struct place_gpu g[4][8];
    memcpy(g, before->gpus, sizeof g);
    for (size_t i = 0; i < n; i++) {
        if (d[i].node < 0)
            continue;
        for (unsigned k = 0; k < d[i].nslices; k++) {
            const struct ctl_choice *s = &d[i].slices[k];
            struct place_gpu *gpu = &g[d[i].node][s->gpu];
            int prof = cat_profile_index(gpu->model, pods[i]->asks[s->ask].profile);
            cr_assert_geq(prof, 0);
            cr_assert_eq(place_add(gpu, (unsigned)prof, s->start, i + 1), PLACE_OK,
                         "pod %zu slice %u at %u refused by the engine's rules", i, k, s->start);
        }
    }
}

Test(sched, seven_1g_pods_fill_one_a100_and_the_eighth_says_why)
{
    struct cluster c = {0};
    add_node(&c, NODE("gpu-0", "", ""), "A100-SXM4-40GB", 1);
    struct cluster before = c;
    struct ctl_pod p[8];
    const struct ctl_pod *pp[8];
    for (int i = 0; i < 8; i++) {
        char name[16], text[512];
        snprintf(name, sizeof name, "p%d", i);
        snprintf(text, sizeof text,
                 "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"ns\",\"uid\":\"u%d\"},\"spec\":{"
                 "\"schedulingGates\":[{\"name\":\"slicer.dev/gpu-slice\"}],\"containers\":[{"
                 "\"name\":\"c\",\"resources\":{\"limits\":{" ONE_1G "}}}]}}",
                 name, i);
        p[i] = pod_of(text);
        pp[i] = &p[i];
    }
    struct ctl_decision d[8];
    ctl_schedule(c.view, c.n, pp, 8, PLACE_BEST_FIT, d);
    int placed = 0;
    for (int i = 0; i < 8; i++)
        placed += d[i].node == 0;
    cr_expect_eq(placed, 7);
    cr_expect_eq(d[7].node, -1, "the last in order is the one left out");
    cr_expect(strstr(d[7].why, "0/1 nodes can take it: 1 without room on their GPUs") != NULL, "%s",
              d[7].why);
    check_exact(&before, d, 8, pp);
    for (int i = 0; i < 8; i++)
        ctl_pod_free(&p[i]);
    free_cluster(&c);
}

Test(sched, constraints_route_pods_and_misfits_are_counted)
{
    struct cluster c = {0};
    add_node(&c, NODE("cordoned", "\"zone\":\"a\"", "\"unschedulable\":true"), "A100-SXM4-40GB", 2);
    add_node(&c, NODE("zone-b", "\"zone\":\"b\"", ""), "H100-80GB", 2);
    add_node(&c, NODE("zone-a", "\"zone\":\"a\"", ""), "A100-SXM4-40GB", 2);
    struct ctl_pod a = pod_of(MIG_POD("a", ONE_1G, ",\"nodeSelector\":{\"zone\":\"a\"}"));
    struct ctl_pod h = pod_of(MIG_POD("h", "\"mig.slicer.dev/1g.10gb\":\"2\"", ""));
    struct ctl_pod x = pod_of(MIG_POD("x", ONE_1G, ",\"nodeSelector\":{\"zone\":\"c\"}"));
    const struct ctl_pod *pp[] = {&a, &h, &x};
    struct ctl_decision d[3];
    ctl_schedule(c.view, c.n, pp, 3, PLACE_BEST_FIT, d);
    cr_expect_eq(d[0].node, 2, "zone a, not cordoned: zone-a");
    cr_expect_eq(d[0].nslices, 1);
    cr_expect_geq(d[1].node, 1, "1g.10gb exists on both models; a free node that fits");
    cr_expect_eq(d[1].nslices, 2);
    cr_expect_eq(d[2].node, -1);
    cr_expect(strstr(d[2].why, "0/3 nodes can take it: 1 cordoned, 2 not matching the pod's node "
                               "selector") != NULL,
              "%s", d[2].why);
    ctl_pod_free(&a);
    ctl_pod_free(&h);
    ctl_pod_free(&x);
    free_cluster(&c);
}

Test(sched, a_pods_slices_are_all_on_one_node_or_none)
{
    struct cluster c = {0};
    add_node(&c, NODE("n0", "", ""), "A100-SXM4-40GB", 1);
    add_node(&c, NODE("n1", "", ""), "A100-SXM4-40GB", 1);
    /* 2 x 4g.20gb cannot be on one A100 (one 4g start), even though two nodes each have one. */
    struct ctl_pod p = pod_of(MIG_POD("p", "\"mig.slicer.dev/4g.20gb\":\"2\"", ""));
    const struct ctl_pod *pp[] = {&p};
    struct ctl_decision d[1];
    ctl_schedule(c.view, c.n, pp, 1, PLACE_BEST_FIT, d);
    cr_expect_eq(d[0].node, -1, "not split across nodes");
    cr_expect_eq(c.gpus[0][0].ninst + c.gpus[1][0].ninst, 0, "nothing is left half placed");
    ctl_pod_free(&p);
    free_cluster(&c);
}

Test(sched, best_fit_packs_a_used_node_before_an_empty_one)
{
    struct cluster c = {0};
    add_node(&c, NODE("empty", "", ""), "A100-SXM4-40GB", 1);
    add_node(&c, NODE("used", "", ""), "A100-SXM4-40GB", 1);
    cr_assert_eq(
        place_add(&c.gpus[1][0], (unsigned)cat_profile_index(c.gpus[1][0].model, "1g.5gb"), 6, 99),
        PLACE_OK);
    struct ctl_pod p = pod_of(MIG_POD("p", ONE_1G, ""));
    const struct ctl_pod *pp[] = {&p};
    struct ctl_decision d[1];
    ctl_schedule(c.view, c.n, pp, 1, PLACE_BEST_FIT, d);
    cr_expect_eq(d[0].node, 1, "the node already in use takes it");
    ctl_pod_free(&p);
    free_cluster(&c);
}

Test(sched, room_is_spent_as_pods_are_placed)
{
    struct cluster c = {0};
    add_node(&c,
             "{\"metadata\":{\"name\":\"small\"},\"status\":{\"allocatable\":{\"cpu\":\"1\","
             "\"memory\":\"1Gi\",\"pods\":\"2\"}}}",
             "A100-SXM4-40GB", 1);
    struct ctl_pod p[3];
    const struct ctl_pod *pp[3];
    for (int i = 0; i < 3; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "{\"metadata\":{\"name\":\"p%d\",\"namespace\":\"ns\",\"uid\":\"u%d\"},\"spec\":{"
                 "\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":\"400m\"},"
                 "\"limits\":{" ONE_1G "}}}]}}",
                 i, i);
        p[i] = pod_of(text);
        pp[i] = &p[i];
    }
    struct ctl_decision d[3];
    ctl_schedule(c.view, c.n, pp, 3, PLACE_FIRST_FIT, d);
    cr_expect_eq(d[0].node, 0);
    cr_expect_eq(d[1].node, 0);
    cr_expect_eq(d[2].node, -1, "CPU 1 = 400m + 400m + ... the third does not fit");
    cr_expect(strstr(d[2].why, "without enough CPU") != NULL, "%s", d[2].why);
    cr_expect_eq(c.view[0].room.pods, 0);
    for (int i = 0; i < 3; i++)
        ctl_pod_free(&p[i]);
    free_cluster(&c);
}

Test(sched, a_same_gpu_group_lands_whole_on_one_gpu_or_not_at_all)
{
    struct cluster c = {0};
    add_node(&c, NODE("n0", "", ""), "A100-SXM4-40GB", 2);
    const struct cat_gpu *m = c.gpus[0][0].model;
    /* GPU 0 keeps one free memory slice (a 1g.5gb at 6), GPU 1 is empty. */
    cr_assert_eq(place_add(&c.gpus[0][0], (unsigned)cat_profile_index(m, "4g.20gb"), 0, 99),
                 PLACE_OK);
    cr_assert_eq(place_add(&c.gpus[0][0], (unsigned)cat_profile_index(m, "2g.10gb"), 4, 99),
                 PLACE_OK);
    struct cluster before = c;
    struct ctl_pod p = pod_of(MIG_POD("p", "\"mig.slicer.dev/1g.5gb\":\"2\"", ""));
    const struct ctl_pod *pp[] = {&p};
    struct ctl_decision d[1];
    ctl_schedule(c.view, c.n, pp, 1, PLACE_BEST_FIT, d);
    cr_assert_eq(d[0].node, 0);
    cr_expect_neq(d[0].slices[0].gpu, d[0].slices[1].gpu,
                  "ungrouped, best-fit fills GPU 0's last slice with one of them");
    c = before;
    p.asks[0].group = 1; /* a claim's matchAttribute mig.slicer.dev/parentUUID */
    ctl_schedule(c.view, c.n, pp, 1, PLACE_BEST_FIT, d);
    cr_assert_eq(d[0].node, 0);
    cr_expect_eq(d[0].slices[0].gpu, 1);
    cr_expect_eq(d[0].slices[1].gpu, 1, "grouped: both on the one GPU that takes both");
    check_exact(&before, d, 1, pp);
    /* 8 x 1g.5gb on one GPU cannot be (7 at most): the group is refused, nothing placed. */
    c = before;
    p.asks[0].count = 8;
    ctl_schedule(c.view, c.n, pp, 1, PLACE_BEST_FIT, d);
    cr_expect_eq(d[0].node, -1);
    cr_expect_eq(c.gpus[0][1].ninst, 0, "nothing is left half placed");
    ctl_pod_free(&p);
    free_cluster(&before);
}
