/* The webhook's admission decision (src/webhook/mutate.c, review.c), the set
 * of users' claims of class mig.slicer.dev it gates pods for (claims.c), and the
 * resource names of MIG profiles (src/core/resname.c). Each mutation is checked
 * by applying the patch the webhook returns to the pod and looking at the pod
 * that results, as the apiserver would. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdbool.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/catalog.h"
#include "core/resname.h"
#include "webhook/claims.h"
#include "webhook/mutate.h"
#include "webhook/review.h"

/* ---- a small JSON Patch applier ("add" and "remove", RFC 6902 §4.1-2) ------------------ */

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

/* Applies one "add" (value != NULL) or "remove" (value == NULL) at `path`. */
static void apply_op(json_t *doc, const char *path, json_t *value)
{
    cr_assert_eq(path[0], '/', "path %s", path);
    json_t *parent = doc;
    const char *p = path + 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        char tok[256];
        unescape(p, slash ? (size_t)(slash - p) : strlen(p), tok);
        if (slash == NULL && value == NULL) {
            int rc = json_is_array(parent) ? json_array_remove(parent, strtoul(tok, NULL, 10))
                                           : json_object_del(parent, tok);
            cr_assert_eq(rc, 0, "remove %s: no such member", path);
        } else if (slash == NULL && json_is_array(parent)) {
            if (strcmp(tok, "-") == 0)
                cr_assert_eq(json_array_append(parent, value), 0);
            else
                cr_assert_eq(json_array_insert(parent, strtoul(tok, NULL, 10), value), 0);
        } else if (slash == NULL) {
            cr_assert(json_is_object(parent), "parent of %s is not an object", path);
            json_object_set(parent, tok, value);
        }
        if (slash == NULL)
            return;
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
        const char *kind = json_string_value(json_object_get(op, "op"));
        const char *path = json_string_value(json_object_get(op, "path"));
        cr_assert(strcmp(kind, "add") == 0 || strcmp(kind, "remove") == 0, "op %s", kind);
        if (strcmp(kind, "remove") == 0)
            cr_assert_null(json_object_get(op, "value"), "remove %s carries a value", path);
        apply_op(doc, path, strcmp(kind, "add") == 0 ? json_object_get(op, "value") : NULL);
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

/* Refused under `handoff` with a message holding `words`; *msg gets the message. */
static void expect_deny_as(const char *text, const struct mutate_offer *offer,
                           enum mutate_handoff handoff, const char *words, char *msg)
{
    json_t *pod = pod_of(text);
    struct mutate_result r;
    mutate_pod_handoff(pod, offer, handoff, &r);
    cr_expect_eq(r.verdict, MUTATE_DENY, "expected a denial (handoff %d) for %s", handoff, text);
    cr_expect_null(r.patch);
    cr_expect(strstr(r.message, words) != NULL, "message '%s' lacks '%s'", r.message, words);
    snprintf(msg, MUTATE_MSG_MAX, "%s", r.message);
    mutate_result_free(&r);
    json_decref(pod);
}

/* Refused under both handoffs, with the same message. */
static void expect_deny(const char *text, const struct mutate_offer *offer, const char *words)
{
    char env[MUTATE_MSG_MAX], dra[MUTATE_MSG_MAX];
    expect_deny_as(text, offer, MUTATE_ENV, words, env);
    expect_deny_as(text, offer, MUTATE_DRA, words, dra);
    cr_expect_str_eq(dra, env, "the DRA handoff refuses as the env handoff does");
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

/* ---- the DRA handoff ------------------------------------------------------------------------ */

static bool is_dns_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
            return false;
    return true;
}

/* What the apiserver's pod validation asks of claims (pkg/apis/core/validation,
 * validatePodResourceClaims and the containers' resources.claims), and what
 * the DRA handoff promises: no MIG extended resource is left anywhere. */
static void check_claims_as_the_apiserver_would(const json_t *pod)
{
    const json_t *spec = json_object_get(pod, "spec");
    const json_t *claims = json_object_get(spec, "resourceClaims");
    size_t i, j;
    json_t *e, *f;
    json_array_foreach((json_t *)claims, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "name"));
        cr_assert_not_null(name, "resourceClaims[%zu] has a name", i);
        cr_expect(is_dns_label(name), "resourceClaims[%zu].name '%s' is a DNS label", i, name);
        cr_expect((json_object_get(e, "resourceClaimName") != NULL) !=
                      (json_object_get(e, "resourceClaimTemplateName") != NULL),
                  "resourceClaims[%zu]: exactly one of resourceClaimName and "
                  "resourceClaimTemplateName",
                  i);
        json_array_foreach((json_t *)claims, j, f)
        {
            if (j > i)
                cr_expect_str_neq(name, json_string_value(json_object_get(f, "name")),
                                  "duplicate resourceClaims name");
        }
    }
    const char *lists[] = {"initContainers", "containers"};
    for (int l = 0; l < 2; l++) {
        json_array_foreach(json_object_get(spec, lists[l]), i, e)
        {
            const json_t *res = json_object_get(e, "resources");
            json_array_foreach(json_object_get(res, "claims"), j, f)
            {
                const char *ref = json_string_value(json_object_get(f, "name"));
                bool found = false;
                size_t k;
                json_t *g;
                json_array_foreach((json_t *)claims, k, g)
                {
                    found |= strcmp(json_string_value(json_object_get(g, "name")), ref) == 0;
                }
                cr_expect(found, "%s[%zu] claims '%s', which the pod does not have", lists[l], i,
                          ref);
            }
            const char *fields[] = {"limits", "requests"};
            for (int fi = 0; fi < 2; fi++) {
                const char *key;
                json_t *v;
                json_object_foreach(json_object_get(res, fields[fi]), key, v)
                {
                    cr_expect(strncmp(key, RES_NVIDIA_PREFIX, strlen(RES_NVIDIA_PREFIX)) != 0 &&
                                  strncmp(key, RES_SLICER_PREFIX, strlen(RES_SLICER_PREFIX)) != 0,
                              "%s[%zu] still has %s %s", lists[l], i, fields[fi], key);
                }
            }
        }
    }
}

/* Mutates `text` under the DRA handoff (must be MUTATE_PATCH), checks the pod
 * as the apiserver would and returns it; *slices gets the result's count. */
static json_t *mutated_dra(const char *text, const struct mutate_offer *offer, unsigned *slices)
{
    json_t *pod = pod_of(text);
    struct mutate_result r;
    mutate_pod_handoff(pod, offer, MUTATE_DRA, &r);
    cr_assert_eq(r.verdict, MUTATE_PATCH, "expected a patch, got %d: %s", r.verdict, r.message);
    size_t i;
    json_t *op;
    json_array_foreach(r.patch, i, op)
    {
        const char *path = json_string_value(json_object_get(op, "path"));
        cr_expect(strstr(path, "/env") == NULL && strstr(path, "/annotations") == NULL,
                  "the DRA handoff touches no env and no annotation: %s", path);
    }
    json_t *out = apply(pod, r.patch);
    if (slices)
        *slices = r.slices;
    mutate_result_free(&r);
    json_decref(pod);
    check_claims_as_the_apiserver_would(out);
    return out;
}

static const json_t *container_at(const json_t *pod, const char *list, size_t i)
{
    return json_array_get(json_object_get(json_object_get(pod, "spec"), list), i);
}

/* The template of the pod claim `name`, or NULL when the pod has none of that name. */
static const char *template_of(const json_t *pod, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(json_object_get(pod, "spec"), "resourceClaims"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
            return json_string_value(json_object_get(e, "resourceClaimTemplateName"));
    }
    return NULL;
}

Test(dra, one_1g5gb_gets_a_claim_the_gate_and_the_label_and_nothing_else)
{
    unsigned slices = 0;
    json_t *pod = mutated_dra(
        "{\"metadata\":{\"name\":\"p\",\"labels\":{\"app\":\"tiny\"}},\"spec\":{\"containers\":["
        "{\"name\":\"a\",\"env\":[{\"name\":\"KEEP\",\"value\":\"1\"},{\"name\":"
        "\"NVIDIA_VISIBLE_DEVICES\",\"value\":\"all\"}],\"resources\":{\"limits\":"
        "{\"cpu\":\"2\",\"nvidia.com/mig-1g.5gb\":\"1\"},\"requests\":{\"cpu\":\"1\","
        "\"nvidia.com/mig-1g.5gb\":\"1\"}}}]}}",
        NULL, &slices);
    cr_expect_eq(slices, 1);
    const json_t *c = container_at(pod, "containers", 0);
    const json_t *res = json_object_get(c, "resources");
    cr_expect_eq(json_object_size(json_object_get(res, "limits")), 1, "only cpu is left");
    cr_expect_str_eq(str_at(res, "limits|cpu"), "2");
    cr_expect_eq(json_object_size(json_object_get(res, "requests")), 1, "only cpu is left");
    cr_expect_str_eq(str_at(res, "requests|cpu"), "1");
    cr_expect_eq(json_array_size(json_object_get(res, "claims")), 1);
    cr_expect_str_eq(str_at(res, "claims|0|name"), "slicer-c0-1g-5gb");
    const json_t *claims = json_object_get(json_object_get(pod, "spec"), "resourceClaims");
    cr_expect_eq(json_array_size(claims), 1);
    cr_expect_str_eq(str_at(claims, "0|name"), "slicer-c0-1g-5gb");
    cr_expect_str_eq(str_at(claims, "0|resourceClaimTemplateName"), "slicer-mig-1g-5gb-x1");
    cr_expect_eq(json_object_size(json_array_get(claims, 0)), 2, "name and template only");
    cr_expect_str_eq(str_at(pod, "spec|schedulingGates|0|name"), "slicer.dev/gpu-slice");
    cr_expect_str_eq(str_at(pod, "metadata|labels|slicer.dev/managed"), "true");
    cr_expect_str_eq(str_at(pod, "metadata|labels|app"), "tiny");
    cr_expect_null(json_object_get(json_object_get(pod, "metadata"), "annotations"));
    /* The pod's env is as it was, NVIDIA_VISIBLE_DEVICES included (a policy handles that). */
    cr_expect_eq(json_array_size(json_object_get(c, "env")), 2);
    cr_expect_str_eq(str_at(env_named(c, "NVIDIA_VISIBLE_DEVICES"), "value"), "all");
    cr_expect_null(env_named(c, "CUDA_VISIBLE_DEVICES"));
    json_decref(pod);
}

Test(dra, containers_and_init_containers_get_distinct_claims_from_the_right_templates)
{
    unsigned slices = 0;
    json_t *pod = mutated_dra(
        "{\"metadata\":{},\"spec\":{\"initContainers\":[{\"name\":\"warm\",\"resources\":"
        "{\"limits\":{\"nvidia.com/mig-1g.10gb\":\"2\"}}}],\"containers\":["
        "{\"name\":\"a\",\"resources\":{\"limits\":{\"nvidia.com/mig-1g.5gb\":\"1\","
        "\"nvidia.com/mig-2g.10gb\":3},\"requests\":{\"nvidia.com/mig-2g.10gb\":\"3\"}}},"
        "{\"name\":\"b\",\"resources\":{\"limits\":{\"cpu\":\"1\"}}},"
        "{\"name\":\"c\",\"resources\":{\"limits\":{\"nvidia.com/mig-1g.5gb\":\"2\"}}}]}}",
        NULL, &slices);
    cr_expect_eq(slices, 2 + 1 + 3 + 2, "all slices asked, init containers included");
    cr_expect_eq(json_array_size(json_object_get(json_object_get(pod, "spec"), "resourceClaims")),
                 4);
    cr_expect_str_eq(template_of(pod, "slicer-i0-1g-10gb"), "slicer-mig-1g-10gb-x2");
    cr_expect_str_eq(template_of(pod, "slicer-c0-1g-5gb"), "slicer-mig-1g-5gb-x1");
    cr_expect_str_eq(template_of(pod, "slicer-c0-2g-10gb"), "slicer-mig-2g-10gb-x3");
    cr_expect_str_eq(template_of(pod, "slicer-c2-1g-5gb"), "slicer-mig-1g-5gb-x2");
    const json_t *ic = container_at(pod, "initContainers", 0);
    cr_expect_str_eq(str_at(ic, "resources|claims|0|name"), "slicer-i0-1g-10gb");
    const json_t *a = container_at(pod, "containers", 0);
    cr_expect_eq(json_array_size(json_object_get(json_object_get(a, "resources"), "claims")), 2);
    cr_expect_str_eq(str_at(a, "resources|claims|0|name"), "slicer-c0-1g-5gb");
    cr_expect_str_eq(str_at(a, "resources|claims|1|name"), "slicer-c0-2g-10gb");
    cr_expect_eq(json_object_size(json_object_get(json_object_get(a, "resources"), "requests")), 0);
    const json_t *b = container_at(pod, "containers", 1);
    cr_expect_null(json_object_get(json_object_get(b, "resources"), "claims"),
                   "a container without MIG is left alone");
    cr_expect_str_eq(str_at(container_at(pod, "containers", 2), "resources|claims|0|name"),
                     "slicer-c2-1g-5gb");
    json_decref(pod);
}

Test(dra, plus_and_dash_me_profiles_get_their_dns_spelling)
{
    json_t *pod = mutated_dra(
        "{\"metadata\":{},\"spec\":{\"initContainers\":[{\"name\":\"i0\"},{\"name\":\"i1\","
        "\"resources\":{\"limits\":{\"nvidia.com/mig-1g.5gb.me\":\"1\"}}}],\"containers\":["
        "{\"name\":\"a\",\"resources\":{\"limits\":{\"nvidia.com/mig-2g.48gb-me\":\"1\"}}}]}}",
        NULL, NULL);
    cr_expect_str_eq(template_of(pod, "slicer-i1-1g-5gb-plus-me"), "slicer-mig-1g-5gb-plus-me-x1");
    cr_expect_str_eq(template_of(pod, "slicer-c0-2g-48gb-me"), "slicer-mig-2g-48gb-me-x1");
    cr_expect_str_eq(str_at(container_at(pod, "initContainers", 1), "resources|claims|0|name"),
                     "slicer-i1-1g-5gb-plus-me");
    json_decref(pod);
}

Test(dra, the_pods_own_claims_are_kept)
{
    json_t *pod = mutated_dra(
        "{\"metadata\":{},\"spec\":{\"resourceClaims\":[{\"name\":\"nic\",\"resourceClaimName\":"
        "\"rdma\"}],\"containers\":[{\"name\":\"a\",\"resources\":{\"claims\":[{\"name\":"
        "\"nic\"}],\"limits\":{\"nvidia.com/mig-3g.20gb\":\"1\"}}}]}}",
        NULL, NULL);
    const json_t *claims = json_object_get(json_object_get(pod, "spec"), "resourceClaims");
    cr_expect_eq(json_array_size(claims), 2);
    cr_expect_str_eq(str_at(claims, "0|name"), "nic");
    cr_expect_str_eq(str_at(claims, "0|resourceClaimName"), "rdma");
    cr_expect_str_eq(str_at(claims, "1|name"), "slicer-c0-3g-20gb");
    const json_t *c = container_at(pod, "containers", 0);
    cr_expect_eq(json_array_size(json_object_get(json_object_get(c, "resources"), "claims")), 2);
    cr_expect_str_eq(str_at(c, "resources|claims|0|name"), "nic");
    cr_expect_str_eq(str_at(c, "resources|claims|1|name"), "slicer-c0-3g-20gb");
    cr_expect_eq(json_object_size(json_object_get(json_object_get(c, "resources"), "limits")), 0);
    json_decref(pod);
}

Test(dra, a_pod_claim_with_slicers_name_is_refused)
{
    const char *pod = "{\"metadata\":{},\"spec\":{\"resourceClaims\":[{\"name\":"
                      "\"slicer-c0-1g-5gb\",\"resourceClaimTemplateName\":\"mine\"}],"
                      "\"containers\":[" CONTAINER("a", "\"nvidia.com/mig-1g.5gb\":\"1\"") "]}}";
    char msg[MUTATE_MSG_MAX];
    expect_deny_as(pod, NULL, MUTATE_DRA,
                   "container 'a': the pod already has a spec.resourceClaims entry named "
                   "'slicer-c0-1g-5gb'",
                   msg);
    /* The env handoff adds no claim, so the name is no clash there. */
    json_t *p = mutated(pod, NULL);
    json_decref(p);
}

Test(dra, every_catalog_profile_gives_a_valid_claim_for_a_high_container_index)
{
    for (size_t m = 0; m < cat_gpu_count(); m++) {
        const struct cat_gpu *g = cat_gpu_at(m);
        for (unsigned p = 0; p < g->nprofiles; p++) {
            char key[RES_NAME_MAX], text[4096];
            cr_assert(res_name(RES_NVIDIA_PREFIX, g->profiles[p].name, key, sizeof key));
            int n = snprintf(text, sizeof text, "{\"metadata\":{},\"spec\":{\"initContainers\":[");
            for (int i = 0; i < 11; i++)
                n += snprintf(text + n, sizeof text - (size_t)n, "{\"name\":\"i%d\"},", i);
            snprintf(text + n, sizeof text - (size_t)n,
                     "{\"name\":\"last\",\"resources\":{\"limits\":{\"%s\":\"64\"}}}],"
                     "\"containers\":[{\"name\":\"a\"}]}}",
                     key);
            json_t *pod = mutated_dra(text, NULL, NULL); /* checks the names are DNS labels */
            const char *name = str_at(pod, "spec|resourceClaims|0|name");
            cr_expect(strncmp(name, "slicer-i11-", 11) == 0, "%s", name);
            json_decref(pod);
        }
    }
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

Test(review, the_dra_handoff_answers_with_claims)
{
    const char *body =
        REVIEW("CREATE", "Pod", POD(CONTAINER("a", "\"nvidia.com/mig-1g.5gb\":\"2\"")));
    struct review_outcome oc;
    struct err *e = NULL;
    char *out = NULL;
    int rc = review_answer_handoff(body, strlen(body), NULL, MUTATE_DRA, &out, &oc, &e);
    cr_assert_eq(rc, 0, "%s", err_msg(e));
    cr_expect_eq(oc.verdict, MUTATE_PATCH);
    cr_expect_eq(oc.slices, 2);
    json_t *r = json_loads(out, 0, NULL);
    size_t n;
    unsigned char *text = b64dec(str_at(r, "response|patch"), &n);
    json_t *ops = json_loadb((const char *)text, n, 0, NULL);
    cr_assert(json_is_array(ops), "the patch decodes to a JSON array");
    json_t *pod = pod_of(POD(CONTAINER("a", "\"nvidia.com/mig-1g.5gb\":\"2\"")));
    json_t *patched = apply(pod, ops);
    check_claims_as_the_apiserver_would(patched);
    cr_expect_str_eq(str_at(patched, "spec|resourceClaims|0|resourceClaimTemplateName"),
                     "slicer-mig-1g-5gb-x2");
    json_decref(patched);
    json_decref(pod);
    json_decref(ops);
    free(text);
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

/* ---- the users' own claims of class mig.slicer.dev ---------------------------------------- */

/* A set holding the claim ns/mine and the template ns/mine-t (and, in another
 * namespace, other/theirs). */
static struct webhook_claims *known_claims(void)
{
    struct webhook_claims *s = webhook_claims_new();
    webhook_claims_add(s, MUTATE_CLAIM, "ns/mine");
    webhook_claims_add(s, MUTATE_TEMPLATE, "ns/mine-t");
    webhook_claims_add(s, MUTATE_CLAIM, "other/theirs");
    return s;
}

/* Decides on `text` under the DRA handoff knowing `set`, with request namespace `ns`. */
static void decide_own(const char *text, struct webhook_claims *set, const char *ns,
                       struct mutate_result *r, json_t **pod)
{
    struct mutate_claims lookup = {.known = webhook_claims_known, .arg = set};
    struct mutate_input in = {.handoff = MUTATE_DRA, .ns = ns, .claims = &lookup};
    *pod = pod_of(text);
    mutate_pod_with(*pod, &in, r);
}

/* Gated and labelled, and nothing else changed: returns the patched pod. */
static json_t *gated_only(const char *text, struct webhook_claims *set, const char *ns,
                          unsigned own)
{
    struct mutate_result r;
    json_t *pod;
    decide_own(text, set, ns, &r, &pod);
    cr_assert_eq(r.verdict, MUTATE_PATCH, "expected a patch, got %d: %s", r.verdict, r.message);
    cr_expect_eq(r.slices, 0);
    cr_expect_eq(r.own_claims, own);
    json_t *out = apply(pod, r.patch);
    cr_expect_str_eq(str_at(out, "metadata|labels|slicer.dev/managed"), "true");
    const json_t *gates = json_object_get(json_object_get(out, "spec"), "schedulingGates");
    size_t ours = 0, i;
    json_t *g;
    json_array_foreach(gates, i, g)
    {
        ours += strcmp(json_string_value(json_object_get(g, "name")), MUTATE_GATE) == 0;
    }
    cr_expect_eq(ours, 1, "the gate once");
    /* Only the gate and the label differ from the pod as it came. */
    json_t *back = json_deep_copy(out);
    json_t *meta = json_object_get(back, "metadata"), *spec = json_object_get(back, "spec");
    json_t *before = json_deep_copy(pod);
    json_object_del(json_object_get(meta, "labels"), MUTATE_LABEL);
    json_object_del(json_object_get(json_object_get(before, "metadata"), "labels"), MUTATE_LABEL);
    if (json_object_get(json_object_get(before, "metadata"), "labels") == NULL)
        json_object_del(meta, "labels");
    json_object_del(spec, "schedulingGates");
    json_object_del(json_object_get(before, "spec"), "schedulingGates");
    cr_expect(json_equal(back, before), "nothing but the gate and the label changed");
    json_decref(before);
    json_decref(back);
    mutate_result_free(&r);
    json_decref(pod);
    return out;
}

static void expect_pass_own(const char *text, struct webhook_claims *set, const char *ns)
{
    struct mutate_result r;
    json_t *pod;
    decide_own(text, set, ns, &r, &pod);
    cr_expect_eq(r.verdict, MUTATE_PASS, "expected a pass for %s: %s", text, r.message);
    cr_expect_null(r.patch);
    cr_expect_eq(r.own_claims, 0);
    mutate_result_free(&r);
    json_decref(pod);
}

#define OWN_POD(ns, claims)                                                                        \
    "{\"metadata\":{\"name\":\"p\"" ns "},\"spec\":{\"resourceClaims\":[" claims "],"              \
    "\"containers\":[{\"name\":\"a\",\"resources\":{\"claims\":[{\"name\":\"g\"}]}}]}}"
#define IN_NS ",\"namespace\":\"ns\""

Test(own_claims, a_pod_naming_a_known_claim_is_gated_and_labelled_only)
{
    struct webhook_claims *set = known_claims();
    json_t *pod =
        gated_only(OWN_POD(IN_NS, "{\"name\":\"g\",\"resourceClaimName\":\"mine\"}"), set, "ns", 1);
    cr_expect_str_eq(str_at(pod, "spec|resourceClaims|0|resourceClaimName"), "mine");
    json_decref(pod);
    webhook_claims_free(set);
}

Test(own_claims, a_pod_naming_a_known_template_is_gated_and_labelled_only)
{
    struct webhook_claims *set = known_claims();
    json_t *pod = gated_only(
        "{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"labels\":{\"app\":\"x\"}},"
        "\"spec\":{\"schedulingGates\":[{\"name\":\"kueue.x-k8s.io/admission\"}],"
        "\"resourceClaims\":[{\"name\":\"other\",\"resourceClaimName\":\"unrelated\"},"
        "{\"name\":\"g\",\"resourceClaimTemplateName\":\"mine-t\"}],\"containers\":[{\"name\":"
        "\"a\",\"resources\":{\"claims\":[{\"name\":\"g\"},{\"name\":\"other\"}]}}]}}",
        set, "ns", 1);
    cr_expect_str_eq(str_at(pod, "metadata|labels|app"), "x");
    cr_expect_str_eq(str_at(pod, "spec|schedulingGates|0|name"), "kueue.x-k8s.io/admission");
    cr_expect_str_eq(str_at(pod, "spec|schedulingGates|1|name"), MUTATE_GATE);
    json_decref(pod);
    webhook_claims_free(set);
}

Test(own_claims, the_request_namespace_serves_a_pod_without_one)
{
    struct webhook_claims *set = known_claims();
    json_t *pod =
        gated_only(OWN_POD("", "{\"name\":\"g\",\"resourceClaimName\":\"mine\"}"), set, "ns", 1);
    json_decref(pod);
    expect_pass_own(OWN_POD("", "{\"name\":\"g\",\"resourceClaimName\":\"mine\"}"), set, NULL);
    expect_pass_own(OWN_POD("", "{\"name\":\"g\",\"resourceClaimName\":\"mine\"}"), set, "");
    webhook_claims_free(set);
}

Test(own_claims, unknown_names_and_kinds_pass_untouched)
{
    struct webhook_claims *set = known_claims();
    expect_pass_own(OWN_POD(IN_NS, "{\"name\":\"g\",\"resourceClaimName\":\"nope\"}"), set, "ns");
    /* A template of the claim's name is not the claim, and the other way round. */
    expect_pass_own(OWN_POD(IN_NS, "{\"name\":\"g\",\"resourceClaimTemplateName\":\"mine\"}"), set,
                    "ns");
    expect_pass_own(OWN_POD(IN_NS, "{\"name\":\"g\",\"resourceClaimName\":\"mine-t\"}"), set, "ns");
    expect_pass_own(OWN_POD(IN_NS, "{\"name\":\"g\"}"), set, "ns");
    expect_pass_own("{\"metadata\":{\"namespace\":\"ns\"},\"spec\":{\"containers\":[{\"name\":"
                    "\"a\"}]}}",
                    set, "ns");
    webhook_claims_free(set);
}

Test(own_claims, a_claim_of_another_namespace_does_not_count)
{
    struct webhook_claims *set = known_claims();
    expect_pass_own(OWN_POD(IN_NS, "{\"name\":\"g\",\"resourceClaimName\":\"theirs\"}"), set, "ns");
    /* The pod's own namespace wins over the request's. */
    expect_pass_own(OWN_POD(IN_NS, "{\"name\":\"g\",\"resourceClaimName\":\"theirs\"}"), set,
                    "other");
    json_t *pod = gated_only(
        OWN_POD(",\"namespace\":\"other\"", "{\"name\":\"g\",\"resourceClaimName\":\"theirs\"}"),
        set, "other", 1);
    json_decref(pod);
    webhook_claims_free(set);
}

Test(own_claims, a_pod_already_gated_is_not_gated_twice)
{
    struct webhook_claims *set = known_claims();
    json_t *pod = gated_only(
        "{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\"},\"spec\":{\"schedulingGates\":"
        "[{\"name\":\"slicer.dev/gpu-slice\"}],\"resourceClaims\":[{\"name\":\"g\","
        "\"resourceClaimName\":\"mine\"},{\"name\":\"h\",\"resourceClaimTemplateName\":"
        "\"mine-t\"}],\"containers\":[{\"name\":\"a\"}]}}",
        set, "ns", 2);
    json_decref(pod);
    /* Gated and labelled already (as draplace.sh's pods are): nothing to do. */
    expect_pass_own("{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"labels\":"
                    "{\"slicer.dev/managed\":\"true\"}},\"spec\":{\"schedulingGates\":"
                    "[{\"name\":\"slicer.dev/gpu-slice\"}],\"resourceClaims\":[{\"name\":\"g\","
                    "\"resourceClaimName\":\"mine\"}],\"containers\":[{\"name\":\"a\"}]}}",
                    set, "ns");
    webhook_claims_free(set);
}

Test(own_claims, a_pod_with_nvidia_asks_and_own_claims_gets_both)
{
    struct webhook_claims *set = known_claims();
    struct mutate_result r;
    json_t *pod;
    decide_own("{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\"},\"spec\":{\"resourceClaims\":"
               "[{\"name\":\"g\",\"resourceClaimTemplateName\":\"mine-t\"}],\"containers\":["
               "{\"name\":\"a\",\"resources\":{\"claims\":[{\"name\":\"g\"}],\"limits\":"
               "{\"nvidia.com/mig-1g.5gb\":\"2\"}}}]}}",
               set, "ns", &r, &pod);
    cr_assert_eq(r.verdict, MUTATE_PATCH, "%s", r.message);
    cr_expect_eq(r.slices, 2);
    cr_expect_eq(r.own_claims, 1);
    json_t *out = apply(pod, r.patch);
    check_claims_as_the_apiserver_would(out);
    const json_t *claims = json_object_get(json_object_get(out, "spec"), "resourceClaims");
    cr_expect_eq(json_array_size(claims), 2);
    cr_expect_str_eq(str_at(claims, "0|resourceClaimTemplateName"), "mine-t");
    cr_expect_str_eq(str_at(claims, "1|resourceClaimTemplateName"), "slicer-mig-1g-5gb-x2");
    cr_expect_str_eq(str_at(out, "spec|containers|0|resources|claims|0|name"), "g");
    cr_expect_str_eq(str_at(out, "spec|containers|0|resources|claims|1|name"), "slicer-c0-1g-5gb");
    cr_expect_eq(json_array_size(json_object_get(json_object_get(out, "spec"), "schedulingGates")),
                 1);
    cr_expect_str_eq(str_at(out, "metadata|labels|slicer.dev/managed"), "true");
    json_decref(out);
    mutate_result_free(&r);
    json_decref(pod);
    webhook_claims_free(set);
}

Test(own_claims, the_env_handoff_and_no_set_leave_such_pods_alone)
{
    struct webhook_claims *set = known_claims();
    struct mutate_claims lookup = {.known = webhook_claims_known, .arg = set};
    const char *text = OWN_POD(IN_NS, "{\"name\":\"g\",\"resourceClaimName\":\"mine\"}");
    json_t *pod = pod_of(text);
    struct mutate_input env = {.handoff = MUTATE_ENV, .ns = "ns", .claims = &lookup};
    struct mutate_input none = {.handoff = MUTATE_DRA, .ns = "ns"};
    struct mutate_result r;
    mutate_pod_with(pod, &env, &r);
    cr_expect_eq(r.verdict, MUTATE_PASS);
    mutate_result_free(&r);
    mutate_pod_with(pod, &none, &r);
    cr_expect_eq(r.verdict, MUTATE_PASS);
    mutate_result_free(&r);
    json_decref(pod);
    webhook_claims_free(set);
}

Test(own_claims, a_review_looks_names_up_in_the_requests_namespace)
{
    struct webhook_claims *set = known_claims();
    struct mutate_claims lookup = {.known = webhook_claims_known, .arg = set};
    struct mutate_input in = {.handoff = MUTATE_DRA, .ns = "ignored", .claims = &lookup};
    const char *body =
        REVIEW("CREATE", "Pod", OWN_POD("", "{\"name\":\"g\",\"resourceClaimName\":\"mine\"}"));
    struct review_outcome oc;
    struct err *e = NULL;
    char *out = NULL;
    int rc = review_answer_with(body, strlen(body), &in, &out, &oc, &e);
    cr_assert_eq(rc, 0, "%s", err_msg(e));
    cr_expect_eq(oc.verdict, MUTATE_PATCH);
    cr_expect_eq(oc.slices, 0);
    cr_expect_eq(oc.own_claims, 1);
    free(out);
    webhook_claims_free(set);
}

Test(own_claims, objects_of_class_mig_slicer_dev_are_recognised)
{
    json_t *o = pod_of("{\"spec\":{\"devices\":{\"requests\":[{\"name\":\"a\",\"exactly\":"
                       "{\"deviceClassName\":\"gpu.nvidia.com\"}},{\"name\":\"b\",\"exactly\":"
                       "{\"deviceClassName\":\"mig.slicer.dev\",\"count\":2}}]}}}");
    cr_expect(webhook_claims_ours(o, MUTATE_CLAIM));
    cr_expect_not(webhook_claims_ours(o, MUTATE_TEMPLATE), "a template's is spec.spec");
    json_decref(o);
    o = pod_of("{\"spec\":{\"spec\":{\"devices\":{\"requests\":[{\"name\":\"a\","
               "\"firstAvailable\":[{\"name\":\"x\",\"deviceClassName\":\"gpu.nvidia.com\"},"
               "{\"name\":\"y\",\"deviceClassName\":\"mig.slicer.dev\"}]}]}}}}");
    cr_expect(webhook_claims_ours(o, MUTATE_TEMPLATE));
    cr_expect_not(webhook_claims_ours(o, MUTATE_CLAIM));
    json_decref(o);
    const char *not_ours[] = {
        "{}",
        "{\"spec\":7}",
        "{\"spec\":{\"devices\":{\"requests\":{}}}}",
        "{\"spec\":{\"devices\":{\"requests\":[7,{\"exactly\":{\"deviceClassName\":3}}]}}}",
        "{\"spec\":{\"devices\":{\"requests\":[{\"exactly\":{\"deviceClassName\":"
        "\"mig.slicer.dev.evil\"},\"firstAvailable\":{}}]}}}",
    };
    for (size_t i = 0; i < sizeof not_ours / sizeof not_ours[0]; i++) {
        o = pod_of(not_ours[i]);
        cr_expect_not(webhook_claims_ours(o, MUTATE_CLAIM), "%s", not_ours[i]);
        json_decref(o);
    }
}

Test(own_claims, the_set_adds_and_removes_idempotently_by_kind)
{
    struct webhook_claims *s = webhook_claims_new();
    const char *keys[] = {"b/x", "a/y", "c/z", "a/a", "b/x"};
    for (size_t i = 0; i < 5; i++)
        webhook_claims_add(s, MUTATE_CLAIM, keys[i]);
    cr_expect_eq(webhook_claims_len(s, MUTATE_CLAIM), 4);
    cr_expect_eq(webhook_claims_len(s, MUTATE_TEMPLATE), 0);
    cr_expect(webhook_claims_known(s, MUTATE_CLAIM, "a", "a"));
    cr_expect(webhook_claims_known(s, MUTATE_CLAIM, "c", "z"));
    cr_expect_not(webhook_claims_known(s, MUTATE_TEMPLATE, "c", "z"));
    cr_expect_not(webhook_claims_known(s, MUTATE_CLAIM, "a", "x"));
    webhook_claims_remove(s, MUTATE_CLAIM, "a/y");
    webhook_claims_remove(s, MUTATE_CLAIM, "a/y");
    webhook_claims_remove(s, MUTATE_TEMPLATE, "b/x");
    cr_expect_eq(webhook_claims_len(s, MUTATE_CLAIM), 3);
    cr_expect_not(webhook_claims_known(s, MUTATE_CLAIM, "a", "y"));
    cr_expect(webhook_claims_known(s, MUTATE_CLAIM, "b", "x"));
    /* Many keys, in and out of order, stay findable. */
    char key[32];
    for (unsigned i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "ns/c%u", (i * 7919u) % 500u);
        webhook_claims_add(s, MUTATE_TEMPLATE, key);
    }
    cr_expect_eq(webhook_claims_len(s, MUTATE_TEMPLATE), 500);
    for (unsigned i = 0; i < 500; i += 2) {
        snprintf(key, sizeof key, "ns/c%u", i);
        webhook_claims_remove(s, MUTATE_TEMPLATE, key);
    }
    for (unsigned i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "c%u", i);
        cr_expect_eq(webhook_claims_known(s, MUTATE_TEMPLATE, "ns", key), i % 2 == 1, "%s", key);
    }
    webhook_claims_free(s);
}
