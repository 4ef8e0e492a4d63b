/* The webhook's admission decision (src/webhook/mutate.c, review.c) and the
 * resource names of MIG profiles (src/core/resname.c). Each mutation is checked
 * by applying the patch the webhook returns to the pod and looking at the pod
 * that results, as the apiserver would. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/catalog.h"
#include "core/resname.h"
#include "webhook/mutate.h"
#include "webhook/review.h"

/* ---- a small JSON Patch "add" applier (RFC 6902 §4.1), enough for our patches -------- */

static void unescape(const char *tok, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (tok[i] == '~' && i + 1 < n) {
            out[o++] = tok[i + 1] == '1' ? '/' : '~';
            i++;
        } else {
            out[o++] = tok[i];
        }
    }
    out[o] = '\0';
}

static void apply_add(json_t *doc, const char *path, json_t *value)
{
    cr_assert_eq(path[0], '/', "path %s", path);
    json_t *parent = doc;
    const char *p = path + 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        char tok[256];
        unescape(p, slash ? (size_t)(slash - p) : strlen(p), tok);
        if (slash == NULL) {
            if (json_is_array(parent)) {
                if (strcmp(tok, "-") == 0)
                    cr_assert_eq(json_array_append(parent, value), 0);
                else
                    cr_assert_eq(json_array_insert(parent, strtoul(tok, NULL, 10), value), 0);
            } else {
                cr_assert(json_is_object(parent), "parent of %s is not an object", path);
                json_object_set(parent, tok, value);
            }
            return;
        }
        parent = json_is_array(parent) ? json_array_get(parent, strtoul(tok, NULL, 10))
                                       : json_object_get(parent, tok);
        cr_assert_not_null(parent, "path %s does not exist in the pod", path);
        p = slash + 1;
    }
}

static json_t *apply(const json_t *pod, const json_t *patch)
{
    json_t *doc = json_deep_copy(pod);
    size_t i;
    json_t *op;
    json_array_foreach((json_t *)patch, i, op)
    {
        cr_assert_str_eq(json_string_value(json_object_get(op, "op")), "add");
        apply_add(doc, json_string_value(json_object_get(op, "path")),
                  json_object_get(op, "value"));
    }
    return doc;
}

/* ---- helpers -------------------------------------------------------------------------- */

static json_t *pod_of(const char *text)
{
    json_error_t je;
    json_t *pod = json_loads(text, 0, &je);
    cr_assert_not_null(pod, "bad test JSON: %s", je.text);
    return pod;
}

/* (str_at paths are "a|b|0|c": keys may hold dots.) */

/* Mutates `text` (must be MUTATE_PATCH) and returns the patched pod. */
static json_t *mutated(const char *text, const struct mutate_offer *offer)
{
    json_t *pod = pod_of(text);
    struct mutate_result r;
    mutate_pod(pod, offer, &r);
    cr_assert_eq(r.verdict, MUTATE_PATCH, "expected a patch, got %d: %s", r.verdict, r.message);
    json_t *out = apply(pod, r.patch);
    mutate_result_free(&r);
    json_decref(pod);
    return out;
}

static void expect_deny(const char *text, const struct mutate_offer *offer, const char *words)
{
    json_t *pod = pod_of(text);
    struct mutate_result r;
    mutate_pod(pod, offer, &r);
    cr_expect_eq(r.verdict, MUTATE_DENY, "expected a denial for %s", text);
    cr_expect_null(r.patch);
    cr_expect(strstr(r.message, words) != NULL, "message '%s' lacks '%s'", r.message, words);
    mutate_result_free(&r);
    json_decref(pod);
}

static const char *str_at(const json_t *doc, const char *path)
{
    const json_t *v = doc;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *tok = strtok_r(buf, "|", &save); tok; tok = strtok_r(NULL, "|", &save))
        v = json_is_array(v) ? json_array_get(v, strtoul(tok, NULL, 10)) : json_object_get(v, tok);
    return json_string_value(v);
}

static const json_t *env_named(const json_t *container, const char *name)
{
    size_t i;
    json_t *e;
    const json_t *found = NULL;
    json_array_foreach(json_object_get(container, "env"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0) {
            cr_assert_null(found, "env %s appears twice", name);
            found = e;
        }
    }
    return found;
}

#define POD(containers)                                                                            \
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\"},"  \
    "\"spec\":{\"containers\":[" containers "]}}"
#define CONTAINER(name, limits)                                                                    \
    "{\"name\":\"" name "\",\"image\":\"x\",\"resources\":{\"limits\":{" limits "}}}"

/* ---- pods that pass untouched ---------------------------------------------------------- */

Test(mutate, a_pod_without_mig_passes_untouched)
{
    json_t *pod = pod_of(POD(CONTAINER("a", "\"cpu\":\"1\",\"nvidia.com/gpu\":\"1\"") ","
                                                                                      "{\"name\":"
                                                                                      "\"b\"}"));
    struct mutate_result r;
    mutate_pod(pod, NULL, &r);
    cr_assert_eq(r.verdict, MUTATE_PASS);
    cr_assert_null(r.patch);
    mutate_result_free(&r);
    json_decref(pod);
}

/* ---- the rewrite ------------------------------------------------------------------------ */

Test(mutate, one_1g5gb_is_rewritten_with_env_gate_and_label)
{
    json_t *pod = mutated(
        "{\"metadata\":{\"name\":\"p\",\"labels\":{\"app\":\"tiny\"}},\"spec\":{\"containers\":["
        "{\"name\":\"a\",\"env\":[{\"name\":\"KEEP\",\"value\":\"1\"}],\"resources\":{\"limits\":"
        "{\"cpu\":\"2\",\"nvidia.com/mig-1g.5gb\":\"1\"},\"requests\":{\"cpu\":\"1\"}}}]}}",
        NULL);
    const json_t *c =
        json_array_get(json_object_get(json_object_get(pod, "spec"), "containers"), 0);
    const json_t *limits = json_object_get(json_object_get(c, "resources"), "limits");
    cr_expect_str_eq(json_string_value(json_object_get(limits, "mig.slicer.dev/1g.5gb")), "1");
    cr_expect_null(json_object_get(limits, "nvidia.com/mig-1g.5gb"));
    cr_expect_str_eq(json_string_value(json_object_get(limits, "cpu")), "2", "other limits kept");
    cr_expect_str_eq(str_at(c, "resources|requests|cpu"), "1", "requests kept");
    cr_expect_not_null(env_named(c, "KEEP"), "the pod's own env is kept");
    cr_expect_str_eq(str_at(env_named(c, "NVIDIA_VISIBLE_DEVICES"), "valueFrom|fieldRef|fieldPath"),
                     "metadata.annotations['slicer.dev/devices-0']");
    cr_expect_str_eq(str_at(env_named(c, "CUDA_VISIBLE_DEVICES"), "value"), "0");
    cr_expect_str_eq(str_at(pod, "spec|schedulingGates|0|name"), "slicer.dev/gpu-slice");
    cr_expect_str_eq(str_at(pod, "metadata|labels|slicer.dev/managed"), "true");
    cr_expect_str_eq(str_at(pod, "metadata|labels|app"), "tiny", "the pod's labels are kept");
    json_decref(pod);
}

Test(mutate, three_slices_give_cuda_0_1_2_and_requests_are_renamed_too)
{
    json_t *pod =
        mutated("{\"metadata\":{},\"spec\":{\"containers\":[{\"name\":\"a\",\"resources\":"
                "{\"limits\":{\"nvidia.com/mig-3g.20gb\":\"3\"},\"requests\":"
                "{\"nvidia.com/mig-3g.20gb\":\"3\"}}}]}}",
                NULL);
    const json_t *c =
        json_array_get(json_object_get(json_object_get(pod, "spec"), "containers"), 0);
    const json_t *req = json_object_get(json_object_get(c, "resources"), "requests");
    cr_expect_str_eq(json_string_value(json_object_get(req, "mig.slicer.dev/3g.20gb")), "3");
    cr_expect_null(json_object_get(req, "nvidia.com/mig-3g.20gb"));
    cr_expect_str_eq(str_at(env_named(c, "CUDA_VISIBLE_DEVICES"), "value"), "0,1,2");
    cr_expect_str_eq(str_at(pod, "metadata|labels|slicer.dev/managed"), "true",
                     "labels are created when the pod has none");
    json_decref(pod);
}

Test(mutate, plus_profiles_are_spelled_with_a_dot_and_dash_me_keeps_its_dash)
{
    json_t *pod = mutated(POD(CONTAINER("a", "\"nvidia.com/mig-1g.5gb.me\":\"1\"") "," CONTAINER(
                              "b", "\"nvidia.com/mig-2g.48gb-me\":\"1\"")),
                          NULL);
    const json_t *cs = json_object_get(json_object_get(pod, "spec"), "containers");
    const json_t *l0 =
        json_object_get(json_object_get(json_array_get(cs, 0), "resources"), "limits");
    const json_t *l1 =
        json_object_get(json_object_get(json_array_get(cs, 1), "resources"), "limits");
    cr_expect_str_eq(json_string_value(json_object_get(l0, "mig.slicer.dev/1g.5gb.me")), "1");
    cr_expect_str_eq(json_string_value(json_object_get(l1, "mig.slicer.dev/2g.48gb-me")), "1");
    cr_expect_str_eq(str_at(env_named(json_array_get(cs, 1), "NVIDIA_VISIBLE_DEVICES"),
                            "valueFrom|fieldRef|fieldPath"),
                     "metadata.annotations['slicer.dev/devices-1']",
                     "the second container reads devices-1");
    json_decref(pod);
}

Test(mutate, init_containers_read_their_own_annotation)
{
    json_t *pod = mutated("{\"metadata\":{},\"spec\":{\"initContainers\":[{\"name\":\"warm\","
                          "\"resources\":{\"limits\":{\"nvidia.com/mig-1g.10gb\":\"2\"}}}],"
                          "\"containers\":[{\"name\":\"main\"}]}}",
                          NULL);
    const json_t *ic =
        json_array_get(json_object_get(json_object_get(pod, "spec"), "initContainers"), 0);
    cr_expect_str_eq(
        str_at(env_named(ic, "NVIDIA_VISIBLE_DEVICES"), "valueFrom|fieldRef|fieldPath"),
        "metadata.annotations['slicer.dev/devices-init-0']");
    cr_expect_str_eq(str_at(env_named(ic, "CUDA_VISIBLE_DEVICES"), "value"), "0,1");
    const json_t *main_c =
        json_array_get(json_object_get(json_object_get(pod, "spec"), "containers"), 0);
    cr_expect_null(json_object_get(main_c, "env"), "a container without MIG is left alone");
    json_decref(pod);
}

Test(mutate, a_container_with_several_profiles_counts_all_its_slices)
{
    json_t *pod = mutated(
        POD(CONTAINER("a", "\"nvidia.com/mig-1g.5gb\":\"2\",\"nvidia.com/mig-2g.10gb\":\"1\"")),
        NULL);
    const json_t *c =
        json_array_get(json_object_get(json_object_get(pod, "spec"), "containers"), 0);
    cr_expect_str_eq(str_at(env_named(c, "CUDA_VISIBLE_DEVICES"), "value"), "0,1,2");
    json_decref(pod);
}

Test(mutate, the_pods_own_visible_devices_are_replaced_not_doubled)
{
    json_t *pod = mutated("{\"metadata\":{},\"spec\":{\"containers\":[{\"name\":\"a\",\"env\":["
                          "{\"name\":\"NVIDIA_VISIBLE_DEVICES\",\"value\":\"all\"},"
                          "{\"name\":\"CUDA_VISIBLE_DEVICES\",\"value\":\"7\"}],\"resources\":"
                          "{\"limits\":{\"nvidia.com/mig-1g.5gb\":\"1\"}}}]}}",
                          NULL);
    const json_t *c =
        json_array_get(json_object_get(json_object_get(pod, "spec"), "containers"), 0);
    const json_t *nv = env_named(c, "NVIDIA_VISIBLE_DEVICES"); /* asserts it is there once */
    cr_expect_null(json_object_get(nv, "value"), "'all' is gone");
    cr_expect_str_eq(str_at(env_named(c, "CUDA_VISIBLE_DEVICES"), "value"), "0");
    cr_expect_eq(json_array_size(json_object_get(c, "env")), 2);
    json_decref(pod);
}

Test(mutate, another_gate_stays_and_ours_is_appended_once)
{
    json_t *pod = mutated("{\"metadata\":{},\"spec\":{\"schedulingGates\":[{\"name\":"
                          "\"kueue.x-k8s.io/admission\"}],\"containers\":[" CONTAINER(
                              "a", "\"nvidia.com/mig-1g.5gb\":\"1\"") "]}}",
                          NULL);
    cr_expect_str_eq(str_at(pod, "spec|schedulingGates|0|name"), "kueue.x-k8s.io/admission");
    cr_expect_str_eq(str_at(pod, "spec|schedulingGates|1|name"), "slicer.dev/gpu-slice");
    json_decref(pod);
    /* Already gated by us (a re-invocation): not added twice. */
    pod = mutated("{\"metadata\":{},\"spec\":{\"schedulingGates\":[{\"name\":"
                  "\"slicer.dev/gpu-slice\"}],\"containers\":[" CONTAINER(
                      "a", "\"nvidia.com/mig-1g.5gb\":\"1\"") "]}}",
                  NULL);
    cr_expect_eq(json_array_size(json_object_get(json_object_get(pod, "spec"), "schedulingGates")),
                 1);
    json_decref(pod);
}

/* ---- refusals ----------------------------------------------------------------------------- */

Test(mutate, an_unknown_profile_is_refused_naming_the_valid_ones)
{
    expect_deny(POD(CONTAINER("a", "\"nvidia.com/mig-9g.99gb\":\"1\"")), NULL,
                "container 'a': unknown MIG profile '9g.99gb'");
    expect_deny(POD(CONTAINER("a", "\"nvidia.com/mig-9g.99gb\":\"1\"")), NULL, "1g.5gb, ");
    /* With the cluster's offer: only what it offers is valid, and listed. */
    static const char *const names[] = {"1g.10gb", "3g.40gb", "1g.10gb+me"};
    struct mutate_offer offer = {names, 3};
    expect_deny(POD(CONTAINER("a", "\"nvidia.com/mig-1g.5gb\":\"1\"")), &offer,
                "no GPU in this cluster offers MIG profile '1g.5gb' (nvidia.com/mig-1g.5gb); it "
                "offers: 1g.10gb, 3g.40gb, 1g.10gb.me");
    expect_deny(POD(CONTAINER("a", "\"nvidia.com/mig-9g.99gb\":\"1\"")), &offer,
                "unknown MIG profile '9g.99gb' (nvidia.com/mig-9g.99gb); this cluster offers: "
                "1g.10gb, 3g.40gb, 1g.10gb.me");
    json_t *pod = mutated(POD(CONTAINER("a", "\"nvidia.com/mig-1g.10gb.me\":\"1\"")), &offer);
    json_decref(pod);
}

Test(mutate, counts_must_be_whole_numbers_from_1_to_the_limit)
{
    const char *bad[] = {"\"0\"",   "\"1.5\"", "\"500m\"", "\"-1\"", "\"\"",
                         "\"abc\"", "\"65\"",  "\"1k\"",   "\" 1\"", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "{\"spec\":{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":"
                 "{\"nvidia.com/mig-1g.5gb\":%s}}}]}}",
                 bad[i]);
        expect_deny(text, NULL, "nvidia.com/mig-1g.5gb must be a whole number from 1 to 64");
    }
    json_t *pod = mutated(POD(CONTAINER("a", "\"nvidia.com/mig-1g.5gb\":\"64\"")), NULL);
    json_decref(pod);
}

Test(mutate, requests_must_equal_limits_and_need_them)
{
    expect_deny(
        "{\"spec\":{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":{\"nvidia.com/"
        "mig-1g.5gb\":\"2\"},\"requests\":{\"nvidia.com/mig-1g.5gb\":\"1\"}}}]}}",
        NULL, "requests and limits of nvidia.com/mig-1g.5gb differ");
    expect_deny(
        "{\"spec\":{\"containers\":[{\"name\":\"a\",\"resources\":{\"requests\":{\"nvidia.com/"
        "mig-1g.5gb\":\"1\"}}}]}}",
        NULL, "is in requests but not in limits");
}

Test(mutate, asking_for_slicers_own_resource_is_refused)
{
    expect_deny(POD(CONTAINER("a", "\"mig.slicer.dev/1g.5gb\":\"1\"")), NULL,
                "asks for mig.slicer.dev/1g.5gb itself");
    expect_deny("{\"spec\":{\"containers\":[{\"name\":\"a\",\"resources\":{\"requests\":{\"mig."
                "slicer.dev/1g.5gb\":\"1\"}}}]}}",
                NULL, "requests asks for mig.slicer.dev/1g.5gb itself");
}

Test(mutate, the_refusal_names_the_init_container)
{
    expect_deny("{\"spec\":{\"initContainers\":[{\"name\":\"warm\",\"resources\":{\"limits\":"
                "{\"nvidia.com/mig-1g.5gb\":\"0\"}}}],\"containers\":[]}}",
                NULL, "init container 'warm': ");
}

Test(mutate, not_a_pod_is_refused)
{
    expect_deny("[1,2]", NULL, "no pod");
    expect_deny("{\"metadata\":{}}", NULL, "no pod");
}

/* ---- AdmissionReview ---------------------------------------------------------------------- */

static char *review(const char *body, struct review_outcome *oc, int *rc, struct err **e)
{
    char *out = NULL;
    *rc = review_answer(body, strlen(body), NULL, &out, oc, e);
    return out;
}

#define REVIEW(op, kind, object)                                                                   \
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":"   \
    "\"u-1\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"" kind "\"},\"namespace\":"    \
    "\"ns\",\"operation\":\"" op "\",\"object\":" object "}}"

static unsigned char *b64dec(const char *s, size_t *n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t len = strlen(s);
    unsigned char *out = malloc(len);
    size_t o = 0;
    for (size_t i = 0; i + 3 < len; i += 4) {
        uint32_t v = 0;
        for (int k = 0; k < 4; k++)
            v = v << 6 | (s[i + k] == '=' ? 0 : (uint32_t)(strchr(tab, s[i + k]) - tab));
        out[o++] = (unsigned char)(v >> 16);
        if (s[i + 2] != '=')
            out[o++] = (unsigned char)(v >> 8);
        if (s[i + 3] != '=')
            out[o++] = (unsigned char)v;
    }
    *n = o;
    return out;
}

Test(review, base64_matches_rfc4648_vectors)
{
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *got = review_base64((const unsigned char *)in[i], strlen(in[i]));
        cr_expect_str_eq(got, want[i]);
        free(got);
    }
}

Test(review, a_pod_create_gets_a_base64_json_patch_with_its_uid)
{
    struct review_outcome oc;
    struct err *e = NULL;
    int rc;
    char *out =
        review(REVIEW("CREATE", "Pod",
                      "{\"metadata\":{\"generateName\":\"tiny-\"},\"spec\":{\"containers\":["
                      "{\"name\":\"a\",\"resources\":{\"limits\":{\"nvidia.com/mig-1g.5gb\":"
                      "\"1\"}}}]}}"),
               &oc, &rc, &e);
    cr_assert_eq(rc, 0, "%s", err_msg(e));
    cr_expect_eq(oc.verdict, MUTATE_PATCH);
    cr_expect_eq(oc.slices, 1);
    cr_expect_str_eq(oc.pod, "ns/tiny-*");
    json_t *r = json_loads(out, 0, NULL);
    cr_expect_str_eq(str_at(r, "apiVersion"), "admission.k8s.io/v1");
    cr_expect_str_eq(str_at(r, "kind"), "AdmissionReview");
    cr_expect_str_eq(str_at(r, "response|uid"), "u-1");
    cr_expect(json_is_true(json_object_get(json_object_get(r, "response"), "allowed")));
    cr_expect_str_eq(str_at(r, "response|patchType"), "JSONPatch");
    size_t n;
    unsigned char *patch = b64dec(str_at(r, "response|patch"), &n);
    json_t *ops = json_loadb((const char *)patch, n, 0, NULL);
    cr_assert(json_is_array(ops), "the patch decodes to a JSON array");
    cr_expect_gt(json_array_size(ops), 3);
    json_decref(ops);
    free(patch);
    json_decref(r);
    free(out);
}

Test(review, a_denial_says_why_with_status_400)
{
    struct review_outcome oc;
    struct err *e = NULL;
    int rc;
    char *out =
        review(REVIEW("CREATE", "Pod", POD(CONTAINER("a", "\"nvidia.com/mig-1g.5gb\":\"0\""))), &oc,
               &rc, &e);
    cr_assert_eq(rc, 0);
    cr_expect_eq(oc.verdict, MUTATE_DENY);
    json_t *r = json_loads(out, 0, NULL);
    cr_expect(json_is_false(json_object_get(json_object_get(r, "response"), "allowed")));
    cr_expect_eq(json_integer_value(json_object_get(
                     json_object_get(json_object_get(r, "response"), "status"), "code")),
                 400);
    cr_expect(strstr(str_at(r, "response|status|message"), "must be a whole number") != NULL);
    cr_expect_null(json_object_get(json_object_get(r, "response"), "patch"));
    json_decref(r);
    free(out);
}

Test(review, updates_and_other_kinds_pass_untouched)
{
    const char *bodies[] = {
        REVIEW("UPDATE", "Pod", POD(CONTAINER("a", "\"nvidia.com/mig-1g.5gb\":\"1\""))),
        REVIEW("CREATE", "ConfigMap", "{\"data\":{}}"),
    };
    for (int i = 0; i < 2; i++) {
        struct review_outcome oc;
        struct err *e = NULL;
        int rc;
        char *out = review(bodies[i], &oc, &rc, &e);
        cr_assert_eq(rc, 0);
        cr_expect_eq(oc.verdict, MUTATE_PASS);
        json_t *r = json_loads(out, 0, NULL);
        cr_expect(json_is_true(json_object_get(json_object_get(r, "response"), "allowed")));
        cr_expect_null(json_object_get(json_object_get(r, "response"), "patch"));
        json_decref(r);
        free(out);
    }
}

Test(review, bodies_it_cannot_answer_are_errors_with_a_reason)
{
    struct {
        const char *body, *words;
    } cases[] = {
        {"", "not JSON"},
        {"{\"apiVersion\":", "not JSON"},
        {"[]", "not an AdmissionReview"},
        {"{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\"}", "v1beta1"},
        {"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{}}",
         "no request.uid"},
        {"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"a\":1,\"a\":2}",
         "not JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct review_outcome oc;
        struct err *e = NULL;
        char *out = NULL;
        int rc = review_answer(cases[i].body, strlen(cases[i].body), NULL, &out, &oc, &e);
        cr_expect_eq(rc, -EINVAL, "case %zu", i);
        cr_expect_null(out);
        cr_expect(strstr(err_msg(e), cases[i].words) != NULL, "case %zu: '%s' lacks '%s'", i,
                  err_msg(e), cases[i].words);
        err_free(&e);
    }
    struct review_outcome oc;
    struct err *e = NULL;
    char *out = NULL;
    cr_expect_eq(review_answer("{}", REVIEW_MAX_BODY + 1, NULL, &out, &oc, &e), -EMSGSIZE);
    err_free(&e);
}

/* ---- resource names (core/resname) ---------------------------------------------------------- */

Test(resname, every_catalog_profile_round_trips_and_no_two_collide)
{
    /* ../shared/reference/mig-profiles.json (data/mig-profiles.json) is the source of the names. */
    for (size_t m = 0; m < cat_gpu_count(); m++) {
        const struct cat_gpu *g = cat_gpu_at(m);
        for (unsigned p = 0; p < g->nprofiles; p++) {
            char suffix[RES_NAME_MAX];
            cr_assert(res_profile_suffix(g->profiles[p].name, suffix, sizeof suffix));
            cr_expect_null(strchr(suffix, '+'), "%s", suffix);
            cr_expect(res_suffix_is(suffix, g->profiles[p].name));
            const char *back = res_catalog_profile(suffix);
            cr_assert_not_null(back, "%s", suffix);
            cr_expect_str_eq(back, g->profiles[p].name, "suffix %s", suffix);
        }
    }
    cr_expect_not(res_suffix_is("1g.5gb", "1g.5gb+me"));
    cr_expect_not(res_suffix_is("1g.5gb.me", "1g.5gb"));
    cr_expect_not(res_suffix_is("2g.48gb.me", "2g.48gb-me"), "-me keeps its dash");
    char name[RES_NAME_MAX];
    cr_expect(res_name(RES_SLICER_PREFIX, "1g.24gb+me.all", name, sizeof name));
    cr_expect_str_eq(name, "mig.slicer.dev/1g.24gb.me.all");
    cr_expect_not(res_name(RES_SLICER_PREFIX, "1g.5gb", name, 10));
    cr_expect_str_eq(name, "");
}

Test(resname, template_names_are_dns_labels_distinct_for_every_profile_and_count)
{
    char a[RES_NAME_MAX], b[RES_NAME_MAX];
    cr_expect(res_template_name("1g.5gb", 2, a, sizeof a));
    cr_expect_str_eq(a, "slicer-mig-1g-5gb-x2");
    cr_expect(res_template_name("1g.5gb+me", 1, a, sizeof a));
    cr_expect(res_template_name("1g.5gb-me", 1, b, sizeof b));
    cr_expect_str_eq(a, "slicer-mig-1g-5gb-plus-me-x1");
    cr_expect_str_neq(a, b, "+me and -me stay apart");
    const char *prof = NULL;
    unsigned cnt = 0;
    cr_expect(res_template_parse(a, &prof, &cnt));
    cr_expect_str_eq(prof, "1g.5gb+me");
    cr_expect_eq(cnt, 1);
    cr_expect_not(res_template_parse("slicer-mig-1g-5gb-x0", &prof, &cnt));
    cr_expect_not(res_template_parse("slicer-mig-9g-99gb-x1", &prof, &cnt));
    cr_expect_not(res_template_parse("mine-1g-5gb-x1", &prof, &cnt));
    cr_expect_not(res_template_name("1g.5gb", 0, a, sizeof a));
    cr_expect_not(res_template_name("1g.5gb", 2, a, 12));
    cr_expect_str_eq(a, "");
    /* Every catalog profile with the largest count gives a DNS label (at most 63, [a-z0-9-]). */
    for (size_t m = 0; m < cat_gpu_count(); m++) {
        const struct cat_gpu *g = cat_gpu_at(m);
        for (unsigned p = 0; p < g->nprofiles; p++) {
            cr_assert(res_template_name(g->profiles[p].name, MUTATE_MAX_COUNT, a, sizeof a));
            cr_expect(res_template_parse(a, &prof, &cnt), "%s", a);
            cr_expect_str_eq(prof, g->profiles[p].name);
            cr_expect_eq(cnt, MUTATE_MAX_COUNT);
            cr_expect_leq(strlen(a), 63);
            for (const char *c = a; *c; c++)
                cr_expect((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-', "%s",
                          a);
        }
    }
}
