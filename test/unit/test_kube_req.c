/* kube_req and kube_retry: URL paths for any resource, JSON Pointer
 * escaping and patch building, Status error decoding, the token bucket and
 * the jittered backoff. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonptr.h"
#include "kube/kube_req.h"
#include "kube/kube_retry.h"

static const struct kube_gvr slices = {"slicer.dev", "v1alpha1", "gpuslices", true};
static const struct kube_gvr gpunodes = {"slicer.dev", "v1alpha1", "gpunodes", false};

static void path_is(enum kube_verb v, const struct kube_call *k, const char *want)
{
    char *p = NULL;
    struct err *e = NULL;
    cr_assert_eq(kube_call_path(v, k, &p, &e), 0, "%s", err_msg(e));
    cr_assert_str_eq(p, want);
    free(p);
}

Test(kube_req, paths_cover_core_groups_scopes_and_subresources)
{
    path_is(KUBE_GET, &(struct kube_call){.gvr = &KUBE_PODS, .ns = "default", .name = "p1"},
            "/api/v1/namespaces/default/pods/p1");
    path_is(KUBE_LIST, &(struct kube_call){.gvr = &KUBE_PODS}, "/api/v1/pods");
    path_is(KUBE_LIST,
            &(struct kube_call){.gvr = &slices,
                                .ns = "ml",
                                .label_selector = "slicer.dev/managed=true,tier in (a,b)",
                                .field_selector = "spec.nodeName=n1",
                                .limit = 100,
                                .cont = "tok/+="},
            "/apis/slicer.dev/v1alpha1/namespaces/ml/gpuslices?labelSelector=slicer.dev%2Fmanaged"
            "%3Dtrue%2Ctier%20in%20%28a%2Cb%29&fieldSelector=spec.nodeName%3Dn1&continue=tok%2F%2B"
            "%3D&limit=100");
    path_is(KUBE_UPDATE,
            &(struct kube_call){.gvr = &gpunodes, .name = "n1", .subresource = "status"},
            "/apis/slicer.dev/v1alpha1/gpunodes/n1/status");
    path_is(KUBE_APPLY,
            &(struct kube_call){.gvr = &KUBE_CONFIGMAPS,
                                .ns = "a",
                                .name = "c",
                                .field_manager = "slicer",
                                .force = true},
            "/api/v1/namespaces/a/configmaps/c?fieldManager=slicer&force=true");
    path_is(KUBE_CREATE, &(struct kube_call){.gvr = &KUBE_NAMESPACES, .dry_run = true},
            "/api/v1/namespaces?dryRun=All");
}

Test(kube_req, malformed_calls_are_refused)
{
    char *p = NULL;
    struct err *e = NULL;
    cr_assert_lt(
        kube_call_path(KUBE_GET, &(struct kube_call){.gvr = &KUBE_PODS, .name = "x"}, &p, &e), 0);
    cr_assert(strstr(err_msg(e), "namespaced"), "%s", err_msg(e));
    cr_assert_lt(kube_call_path(KUBE_GET, &(struct kube_call){.gvr = &KUBE_NODES}, &p, &e), 0);
    cr_assert_lt(
        kube_call_path(KUBE_GET, &(struct kube_call){.gvr = &KUBE_NODES, .name = "a/b"}, &p, &e),
        0);
    cr_assert_lt(
        kube_call_path(KUBE_APPLY, &(struct kube_call){.gvr = &KUBE_NODES, .name = "n"}, &p, &e),
        0);
    cr_assert(strstr(err_msg(e), "field manager"), "%s", err_msg(e));
    err_free(&e);
    cr_assert_null(p);
}

Test(kube_req, json_pointer_segments_are_escaped)
{
    char buf[64];
    cr_assert_eq(jsonptr_escape(buf, sizeof buf, "nvidia.com/mig-1g.5gb"), 22);
    cr_assert_str_eq(buf, "nvidia.com~1mig-1g.5gb");
    cr_assert_eq(jsonptr_escape(buf, sizeof buf, "a~b/c"), 7);
    cr_assert_str_eq(buf, "a~0b~1c");
    cr_assert_eq(jsonptr_escape(buf, 4, "~~~"), 6, "reports the needed length");
    cr_assert_str_eq(buf, "~0~");
    json_t *patch = json_array();
    const char *segs[] = {"status", "capacity", "mig.slicer.dev/1g.5gb"};
    kube_jpatch_add(patch, "add", segs, 3, json_string("4"));
    kube_jpatch_add(patch, "remove", segs, 1, NULL);
    char *s = json_dumps(patch, JSON_COMPACT);
    cr_assert_str_eq(s, "[{\"op\":\"add\",\"path\":\"/status/capacity/mig.slicer.dev~11g.5gb\","
                        "\"value\":\"4\"},{\"op\":\"remove\",\"path\":\"/status\"}]");
    free(s);
    json_decref(patch);
}

Test(kube_req, status_bodies_become_messages_and_codes)
{
    struct err *e = NULL;
    const char *conflict = "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"Operation "
                           "cannot be fulfilled on pods \\\"p\\\": the object has been modified\","
                           "\"reason\":\"Conflict\",\"code\":409}";
    cr_assert_eq(kube_status_error(409, conflict, strlen(conflict), "PUT /x", &e), -KUBE_ECONFLICT);
    cr_assert_str_eq(err_msg(e), "PUT /x: 409 Conflict: Operation cannot be fulfilled on pods "
                                 "\"p\": the object has been modified");
    const char *exists = "{\"reason\":\"AlreadyExists\",\"message\":\"exists\"}";
    cr_assert_eq(kube_status_error(409, exists, strlen(exists), "POST /x", &e), -EEXIST);
    cr_assert_eq(kube_status_error(404, "", 0, "GET /x", &e), -ENOENT);
    cr_assert_str_eq(err_msg(e), "GET /x: HTTP 404");
    cr_assert_eq(kube_status_error(410, "", 0, "GET", &e), -KUBE_EGONE);
    cr_assert_eq(kube_status_error(503, "down", 4, "GET", &e), -EIO);
    cr_assert_str_eq(err_msg(e), "GET: HTTP 503: down");
    cr_assert_eq(kube_status_error(403, "", 0, "GET", &e), -EPERM);
    cr_assert_eq(kube_status_error(422, "", 0, "GET", &e), -EINVAL);
    err_free(&e);
}

Test(kube_retry, the_bucket_allows_a_burst_then_paces_at_qps)
{
    struct kube_bucket b;
    kube_bucket_init(&b, 10, 3, 1000);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(kube_bucket_reserve(&b, 1000), 0);
    cr_assert_eq(kube_bucket_reserve(&b, 1000), 100);
    cr_assert_eq(kube_bucket_reserve(&b, 1000), 200, "reservations queue up");
    cr_assert_eq(kube_bucket_reserve(&b, 1300), 0 + 0, "three tokens refilled, two were owed");
    cr_assert_eq(kube_bucket_reserve(&b, 1300), 100);
    /* A long idle period refills only up to the burst. */
    for (int i = 0; i < 3; i++)
        cr_assert_eq(kube_bucket_reserve(&b, 100000), 0);
    cr_assert_eq(kube_bucket_reserve(&b, 100000), 100);
    struct kube_bucket off;
    kube_bucket_init(&off, -1, 1, 0);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(kube_bucket_reserve(&off, 0), 0);
}

Test(kube_retry, backoff_doubles_is_capped_and_jitters_in_the_upper_half)
{
    cr_assert_eq(kube_backoff_ms(0, 100, 5000, 0), 50);
    cr_assert_eq(kube_backoff_ms(0, 100, 5000, 50), 100);
    cr_assert_eq(kube_backoff_ms(3, 100, 5000, 0), 400);
    cr_assert_eq(kube_backoff_ms(3, 100, 5000, 400), 800);
    cr_assert_eq(kube_backoff_ms(10, 100, 5000, 0), 2500);
    cr_assert_eq(kube_backoff_ms(60, 100, 5000, 2500), 5000, "no overflow for huge attempts");
    for (uint32_t r = 0; r < 10000; r += 7) {
        uint64_t d = kube_backoff_ms(2, 100, 5000, kube_rand32());
        cr_assert(d >= 200 && d <= 400, "%llu", (unsigned long long)d);
    }
}
