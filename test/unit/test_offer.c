/* The cluster's MIG offer: controller/offer (GPUNode -> profile names) and
 * webhook/offer (the live holder the webhook decides with). The GPUNode shape
 * is the one docs/internals/cluster.md gives and deploy/base/crd-gpunodes.yaml
 * validates; the profile tables are ../shared/reference/mig-profiles.json's. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "controller/offer.h"
#include "webhook/mutate.h"
#include "webhook/offer.h"

/* ctl_offer_of_gpunode over a GPUNode parsed as the controller parses it. */
static void offer_of(const char *gpus, struct ctl_offer *o)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"apiVersion\":\"slicer.dev/v1alpha1\",\"kind\":\"GPUNode\","
             "\"metadata\":{\"name\":\"n\",\"resourceVersion\":\"1\"},\"status\":{\"gpus\":%s}}",
             gpus);
    json_error_t je;
    json_t *obj = json_loads(text, 0, &je);
    cr_assert_not_null(obj, "%s", je.text);
    struct ctl_gpunode g;
    cr_assert_eq(ctl_gpunode_parse(obj, &g, NULL), 0);
    ctl_offer_of_gpunode(&g, o);
    ctl_gpunode_free(&g);
    json_decref(obj);
}

#define GPU(uuid, model, mig)                                                                      \
    "{\"index\":0,\"uuid\":\"" uuid "\",\"model\":\"" model "\",\"migMode\":" mig "}"

/* The A100-SXM4-40GB's profiles, as ../shared/reference/mig-profiles.json lists them. */
static const char *const a100[] = {"1g.5gb",  "1g.5gb+me", "1g.10gb", "2g.10gb",
                                   "3g.20gb", "4g.20gb",   "7g.40gb"};

Test(offer, every_profile_of_each_mig_enabled_model_once_in_catalog_order)
{
    struct ctl_offer o;
    offer_of("[" GPU("GPU-1", "NVIDIA H100 80GB HBM3",
                     "false") "," GPU("GPU-2", "NVIDIA A100-SXM4-40GB",
                                      "true") "," GPU("GPU-3", "NVIDIA A100-SXM4-40GB", "true") "]",
             &o);
    cr_assert_eq(o.n, 7, "the A100's 7 profiles once; the H100 has MIG off: none of its own");
    for (size_t i = 0; i < 7; i++)
        cr_assert_str_eq(o.names[i], a100[i]);
}

Test(offer, a_second_model_adds_only_its_new_profiles)
{
    struct ctl_offer o;
    offer_of("[" GPU("GPU-1", "NVIDIA H100 80GB HBM3",
                     "true") "," GPU("GPU-2", "NVIDIA A100-SXM4-40GB", "true") "]",
             &o);
    cr_assert_eq(o.n, 7 + 6, "H100 adds 7 profiles, of which 1g.10gb is the A100's already");
    cr_assert_str_eq(o.names[0], "1g.5gb", "catalog order: the A100-40GB comes first");
    cr_assert_str_eq(o.names[7], "1g.10gb+me");
}

Test(offer, unknown_models_and_malformed_status_offer_nothing)
{
    struct ctl_offer o;
    offer_of("[" GPU("GPU-1", "NVIDIA Z900", "true") ",{\"uuid\":\"GPU-2\",\"migMode\":true},3]",
             &o);
    cr_assert_eq(o.n, 0);
    offer_of("[]", &o);
    cr_assert_eq(o.n, 0, "no GPUs: nothing offered");
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
