/* The cluster's MIG offer: controller/offer (GPUNode -> profile names) and
 * webhook/offer (the live holder the webhook decides with). The GPUNode shape
 * is the one docs/internals/cluster.md gives and deploy/base/crd-gpunodes.yaml
 * validates. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "controller/offer.h"
#include "webhook/mutate.h"
#include "webhook/offer.h"

static json_t *gpunode(const char *gpus)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"apiVersion\":\"slicer.dev/v1alpha1\",\"kind\":\"GPUNode\","
             "\"metadata\":{\"name\":\"n\",\"resourceVersion\":\"1\"},\"status\":{\"gpus\":%s}}",
             gpus);
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    cr_assert_not_null(o, "%s", je.text);
    return o;
}

#define GPU(mig, profiles)                                                                         \
    "{\"index\":0,\"uuid\":\"GPU-1\",\"model\":\"NVIDIA A100-SXM4-40GB\",\"migMode\":" mig         \
    ",\"profiles\":[" profiles "]}"
#define P(name) "{\"name\":\"" name "\"}"

Test(offer, names_of_mig_enabled_gpus_once_each_in_order)
{
    json_t *n = gpunode("[" GPU("true", P("1g.5gb") "," P("3g.20gb")) "," GPU(
        "true", P("3g.20gb") "," P("1g.5gb+me")) "," GPU("false", P("7g.40gb")) "]");
    struct ctl_offer o;
    ctl_offer_of_gpunode(n, &o);
    cr_assert_eq(o.n, 3);
    cr_assert_str_eq(o.names[0], "1g.5gb");
    cr_assert_str_eq(o.names[1], "3g.20gb");
    cr_assert_str_eq(o.names[2], "1g.5gb+me", "a GPU with MIG off offers nothing: 7g.40gb absent");
    json_decref(n);
}

Test(offer, unknown_names_and_malformed_status_are_skipped)
{
    json_t *n = gpunode("[" GPU("true", P("9g.99gb") ",{\"name\":7},{}," P("2g.10gb")) ",3,\"x\"]");
    struct ctl_offer o;
    ctl_offer_of_gpunode(n, &o);
    cr_assert_eq(o.n, 1);
    cr_assert_str_eq(o.names[0], "2g.10gb");
    json_decref(n);
    json_t *empty = json_pack("{s:{s:s}}", "metadata", "name", "n");
    ctl_offer_of_gpunode(empty, &o);
    cr_assert_eq(o.n, 0, "no status: nothing offered");
    json_decref(empty);
}

static enum mutate_verdict decide(struct webhook_offer *w, const char *profile, char *msg)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"c\","
             "\"resources\":{\"limits\":{\"nvidia.com/mig-%s\":\"1\"}}}]}}",
             profile);
    json_t *pod = json_loads(text, 0, NULL);
    struct mutate_result r;
    mutate_pod(pod, webhook_offer_lock(w), &r);
    webhook_offer_unlock(w);
    snprintf(msg, MUTATE_MSG_MAX, "%s", r.message);
    enum mutate_verdict v = r.verdict;
    mutate_result_free(&r);
    json_decref(pod);
    return v;
}

Test(offer, live_offer_starts_as_the_catalog_then_follows_the_cluster)
{
    struct webhook_offer *w = webhook_offer_new();
    char msg[MUTATE_MSG_MAX];
    cr_assert_eq(decide(w, "1g.18gb", msg), MUTATE_PATCH, "before the cluster is known: catalog");
    const char *names[] = {"1g.5gb", "3g.20gb"};
    webhook_offer_set(w, names, 2, true);
    names[0] = "changed"; /* the offer holds its own copy */
    cr_assert_eq(decide(w, "1g.5gb", msg), MUTATE_PATCH);
    cr_assert_eq(decide(w, "1g.18gb", msg), MUTATE_DENY);
    cr_assert(strstr(msg, "no GPU in this cluster offers MIG profile '1g.18gb'") != NULL, "%s",
              msg);
    cr_assert(strstr(msg, "it offers: 1g.5gb, 3g.20gb") != NULL, "%s", msg);
    webhook_offer_set(w, NULL, 0, false);
    cr_assert_eq(decide(w, "1g.18gb", msg), MUTATE_PATCH, "back to the catalog");
    webhook_offer_free(w);
}
