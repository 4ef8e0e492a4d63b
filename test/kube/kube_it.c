/* Integration tests of src/kube against a real kube-apiserver (the control
 * plane of test/cluster, started by test/kube/run-it.sh, which exports
 * KUBECONFIG, SLICER_CLUSTER_STATE, APISERVER_URL and ETCD_URL).
 * Every wait is bounded; every process started here is stopped here. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kube/kube_cache.h"
#include "kube/kube_config.h"
#include "kube/kube_event.h"
#include "kube/kube_lease.h"
#include "kube/kube_req.h"
#include "proxy.h"

/* ---- helpers ---------------------------------------------------------- */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v && *v, "%s is not set: run this through test/kube/run-it.sh", name);
    return v;
}

static int client_retries = 0; /* 0: the default */

static struct kube_client *client_at(const char *server, double qps)
{
    struct kube_config *cfg = NULL;
    struct kube_client *c = NULL;
    struct err *e = NULL;
    cr_assert_eq(kube_config_load(env("KUBECONFIG"), NULL, &cfg, &e), 0, "%s", err_msg(e));
    if (server) {
        free(cfg->server);
        cfg->server = strdup(server);
    }
    struct kube_client_opts o = {
        .qps = qps, .burst = 200, .timeout_ms = 20000, .retries = client_retries};
    cr_assert_eq(kube_client_new(cfg, &o, &c, &e), 0, "%s", err_msg(e));
    kube_config_free(cfg);
    return c;
}

static struct kube_client *client(void)
{
    return client_at(NULL, -1);
}

static void ok(int rc, struct err *e, const char *what)
{
    cr_assert_eq(rc, 0, "%s: %s", what, err_msg(e));
}

static char *make_ns(struct kube_client *c, const char *prefix)
{
    static int n;
    char *name = malloc(64);
    snprintf(name, 64, "%s-%d-%d", prefix, (int)getpid(), n++);
    json_t *ns = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
                           "metadata", "name", name);
    struct err *e = NULL;
    ok(kube_create(c, &(struct kube_call){.gvr = &KUBE_NAMESPACES}, ns, NULL, &e), e,
       "creating a namespace");
    json_decref(ns);
    return name;
}

static json_t *configmap(const char *ns, const char *name, const char *key, const char *val)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
                     "metadata", "name", name, "namespace", ns, "data", key, val);
}

static const char *str_at(json_t *o, const char *a, const char *b)
{
    return json_string_value(json_object_get(json_object_get(o, a), b));
}

static long long now_ms(void)
{
    return (long long)kube_now_ms();
}

/* ---- CRUD, patches, conflicts ---------------------------------------- */

Test(kube_it, crud_patches_and_conflicts)
{
    struct kube_client *c = client();
    char *ns = make_ns(c, "kit-crud");
    struct err *e = NULL;
    struct kube_call k = {.gvr = &KUBE_CONFIGMAPS, .ns = ns, .name = "cm"};
    json_t *cm = configmap(ns, "cm", "a", "1"), *got = NULL, *created = NULL;
    ok(kube_create(c, &k, cm, &created, &e), e, "create");
    cr_assert_eq(kube_create(c, &k, cm, NULL, &e), -EEXIST, "%s", err_msg(e));
    cr_assert(strstr(err_msg(e), "AlreadyExists"), "%s", err_msg(e));
    ok(kube_get(c, &k, &got, &e), e, "get");
    cr_assert_str_eq(str_at(got, "data", "a"), "1");

    /* update with the current resourceVersion, then with the stale one */
    json_object_set_new(json_object_get(got, "data"), "a", json_string("2"));
    ok(kube_update(c, &k, got, NULL, &e), e, "update");
    json_object_set_new(json_object_get(got, "data"), "a", json_string("3"));
    cr_assert_eq(kube_update(c, &k, got, NULL, &e), -KUBE_ECONFLICT, "%s", err_msg(e));
    cr_assert(strstr(err_msg(e), "409 Conflict"), "%s", err_msg(e));
    json_decref(got);

    /* merge patch, JSON patch with an escaped key, strategic merge patch */
    json_t *mp = json_pack("{s:{s:s}}", "data", "b", "merge");
    ok(kube_patch(c, KUBE_PATCH_MERGE, &k, mp, NULL, &e), e, "merge patch");
    json_decref(mp);
    json_t *jp = json_array();
    const char *seg[] = {"metadata", "annotations"};
    kube_jpatch_add(jp, "add", seg, 2, json_object());
    const char *seg2[] = {"metadata", "annotations", "slicer.dev/devices-0"};
    kube_jpatch_add(jp, "add", seg2, 3, json_string("MIG-1"));
    const char *seg3[] = {"data", "a"};
    kube_jpatch_add(jp, "test", seg3, 2, json_string("2"));
    ok(kube_patch(c, KUBE_PATCH_JSON, &k, jp, NULL, &e), e, "json patch");
    json_decref(jp);
    json_t *bad = json_array();
    kube_jpatch_add(bad, "test", seg3, 2, json_string("nope"));
    cr_assert_lt(kube_patch(c, KUBE_PATCH_JSON, &k, bad, NULL, &e), 0, "a failed test op");
    json_decref(bad);
    json_t *sp = json_pack("{s:{s:s}}", "data", "c", "strategic");
    ok(kube_patch(c, KUBE_PATCH_STRATEGIC, &k, sp, &got, &e), e, "strategic patch");
    json_decref(sp);
    cr_assert_str_eq(str_at(got, "data", "a"), "2");
    cr_assert_str_eq(str_at(got, "data", "b"), "merge");
    cr_assert_str_eq(str_at(got, "data", "c"), "strategic");
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(got, "metadata"), "annotations"),
                         "slicer.dev/devices-0")),
                     "MIG-1");
    const char *uid = str_at(got, "metadata", "uid");

    /* delete: a wrong uid precondition is refused, the right one works */
    struct kube_call d = k;
    d.pre_uid = "00000000-0000-0000-0000-000000000000";
    cr_assert_eq(kube_delete(c, &d, &e), -KUBE_ECONFLICT, "%s", err_msg(e));
    d.pre_uid = uid;
    d.propagation = "Foreground";
    ok(kube_delete(c, &d, &e), e, "delete");
    json_decref(got);
    for (int i = 0; i < 300; i++) { /* foreground deletion waits for the garbage collector */
        if (kube_get(c, &k, NULL, &e) == -ENOENT)
            break;
        usleep(100000);
    }
    cr_assert_eq(kube_get(c, &k, NULL, &e), -ENOENT, "%s", err_msg(e));
    cr_assert(strstr(err_msg(e), "NotFound"), "%s", err_msg(e));
    /* cluster-scoped get */
    ok(kube_get(c, &(struct kube_call){.gvr = &KUBE_NAMESPACES, .name = ns}, &got, &e), e,
       "get namespace");
    cr_assert_str_eq(str_at(got, "metadata", "name"), ns);
    json_decref(got);
    json_decref(cm);
    json_decref(created);
    err_free(&e);
    free(ns);
    kube_client_free(c);
}

Test(kube_it, server_side_apply_conflicts_and_force)
{
    struct kube_client *c = client();
    char *ns = make_ns(c, "kit-ssa");
    struct err *e = NULL;
    json_t *cm = configmap(ns, "applied", "owner", "alice"), *got = NULL;
    struct kube_call a = {
        .gvr = &KUBE_CONFIGMAPS, .ns = ns, .name = "applied", .field_manager = "alice"};
    ok(kube_patch(c, KUBE_APPLY, &a, cm, NULL, &e), e, "apply (alice)");
    json_object_set_new(json_object_get(cm, "data"), "owner", json_string("bob"));
    struct kube_call b = a;
    b.field_manager = "bob";
    cr_assert_eq(kube_patch(c, KUBE_APPLY, &b, cm, NULL, &e), -KUBE_ECONFLICT, "%s", err_msg(e));
    cr_assert(strstr(err_msg(e), "conflict"), "%s", err_msg(e));
    b.force = true;
    ok(kube_patch(c, KUBE_APPLY, &b, cm, &got, &e), e, "apply --force (bob)");
    cr_assert_str_eq(str_at(got, "data", "owner"), "bob");
    json_t *mf = json_object_get(json_object_get(got, "metadata"), "managedFields");
    cr_assert(json_array_size(mf) >= 1);
    json_decref(got);
    json_decref(cm);
    err_free(&e);
    free(ns);
    kube_client_free(c);
}

/* ---- CRD, status subresource, cluster scope ---------------------------- */

static const struct kube_gvr CRDS = {"apiextensions.k8s.io", "v1", "customresourcedefinitions",
                                     false};
static const struct kube_gvr WIDGETS = {"it.slicer.dev", "v1", "widgets", true};

static void ensure_widget_crd(struct kube_client *c)
{
    const char *crd_text =
        "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
        "\"metadata\":{\"name\":\"widgets.it.slicer.dev\"},\"spec\":{\"group\":\"it.slicer.dev\","
        "\"scope\":\"Namespaced\",\"names\":{\"plural\":\"widgets\",\"singular\":\"widget\","
        "\"kind\":\"Widget\"},\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,"
        "\"subresources\":{\"status\":{}},\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\","
        "\"x-kubernetes-preserve-unknown-fields\":true}}}]}}";
    json_t *crd = json_loads(crd_text, 0, NULL);
    struct err *e = NULL;
    struct kube_call k = {
        .gvr = &CRDS, .name = "widgets.it.slicer.dev", .field_manager = "it", .force = true};
    ok(kube_patch(c, KUBE_APPLY, &k, crd, NULL, &e), e, "applying the CRD");
    json_decref(crd);
    for (int i = 0; i < 100; i++) { /* wait until Established */
        json_t *got = NULL;
        ok(kube_get(c, &k, &got, &e), e, "get CRD");
        json_t *conds = json_object_get(json_object_get(got, "status"), "conditions"), *it;
        size_t j;
        bool est = false;
        json_array_foreach(conds, j, it) est |=
            strcmp(json_string_value(json_object_get(it, "type")), "Established") == 0 &&
            strcmp(json_string_value(json_object_get(it, "status")), "True") == 0;
        json_decref(got);
        if (est && kube_send_sync(c, KUBE_LIST, &(struct kube_call){.gvr = &WIDGETS}, NULL, NULL,
                                  NULL) == 0)
            return;
        usleep(100000);
    }
    cr_assert_fail("the CRD did not become established in 10 s");
}

Test(kube_it, custom_resources_and_the_status_subresource)
{
    struct kube_client *c = client();
    ensure_widget_crd(c);
    char *ns = make_ns(c, "kit-crd");
    struct err *e = NULL;
    json_t *w = json_pack("{s:s, s:s, s:{s:s}, s:{s:i}, s:{s:s}}", "apiVersion", "it.slicer.dev/v1",
                          "kind", "Widget", "metadata", "name", "w1", "spec", "size", 3, "status",
                          "phase", "Ignored");
    struct kube_call k = {.gvr = &WIDGETS, .ns = ns, .name = "w1"};
    json_t *got = NULL;
    ok(kube_create(c, &k, w, &got, &e), e, "create widget");
    cr_assert_null(json_object_get(json_object_get(got, "status"), "phase"),
                   "status is ignored on the main resource");
    json_object_set_new(got, "status", json_pack("{s:s}", "phase", "Ready"));
    k.subresource = "status";
    json_t *after = NULL;
    ok(kube_update(c, &k, got, &after, &e), e, "update status");
    cr_assert_str_eq(str_at(after, "status", "phase"), "Ready");
    json_decref(after);
    json_t *mp = json_pack("{s:{s:s}}", "status", "phase", "Releasing");
    ok(kube_patch(c, KUBE_PATCH_MERGE, &k, mp, &after, &e), e, "patch status");
    cr_assert_str_eq(str_at(after, "status", "phase"), "Releasing");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(after, "spec"), "size")), 3);
    json_decref(after);
    json_decref(mp);
    json_decref(got);
    json_decref(w);
    free(ns);
    kube_client_free(c);
}

/* ---- pagination -------------------------------------------------------- */

struct bulk {
    int pending, failed;
    char first_err[256];
};

static void bulk_done(void *arg, json_t *obj, const struct err *e)
{
    struct bulk *b = arg;
    b->pending--;
    json_decref(obj);
    if (e && !b->failed++)
        snprintf(b->first_err, sizeof b->first_err, "%s", e->msg);
}

/* Creates n configmaps "cm-<i>" with label set=<label>, 32 in flight. */
static void create_many(struct kube_client *c, const char *ns, int n, const char *label)
{
    struct bulk b = {0};
    struct err *e = NULL;
    for (int i = 0; i < n || b.pending;) {
        while (i < n && b.pending < 32) {
            char name[32], val[16];
            snprintf(name, sizeof name, "cm-%d", i);
            snprintf(val, sizeof val, "%d", i);
            json_t *cm = configmap(ns, name, "gen", "0");
            json_object_set_new(json_object_get(cm, "metadata"), "labels",
                                json_pack("{s:s, s:s}", "set", label, "i", val));
            struct kube_call k = {.gvr = &KUBE_CONFIGMAPS, .ns = ns};
            cr_assert_not_null(kube_send(c, KUBE_CREATE, &k, cm, bulk_done, &b, &e));
            json_decref(cm);
            b.pending++;
            i++;
        }
        ok(kube_client_step(c, 200, &e), e, "step");
    }
    cr_assert_eq(b.failed, 0, "%d creates failed, first: %s", b.failed, b.first_err);
}

Test(kube_it, pagination_over_more_than_1000_objects, .timeout = 300)
{
    struct kube_client *c = client();
    char *ns = make_ns(c, "kit-page");
    create_many(c, ns, 1050, "page");
    struct err *e = NULL;
    json_t *items = NULL;
    char *rv = NULL;
    ok(kube_list(c,
                 &(struct kube_call){
                     .gvr = &KUBE_CONFIGMAPS, .ns = ns, .label_selector = "set=page", .limit = 100},
                 &items, &rv, &e),
       e, "list");
    cr_assert_eq(json_array_size(items), 1050);
    cr_assert(rv && *rv);
    bool seen[1050] = {false};
    json_t *it;
    size_t i;
    json_array_foreach(items, i, it)
    {
        const char *name = str_at(it, "metadata", "name");
        int k = (int)strtol(name + 3, NULL, 10);
        cr_assert(k >= 0 && k < 1050 && !seen[k], "duplicate or unknown %s", name);
        seen[k] = true;
    }
    json_decref(items);
    free(rv);
    /* one page by hand: a continue token is handed out */
    json_t *page = NULL;
    ok(kube_send_sync(c, KUBE_LIST,
                      &(struct kube_call){.gvr = &KUBE_CONFIGMAPS, .ns = ns, .limit = 100}, NULL,
                      &page, &e),
       e, "one page");
    cr_assert_eq(json_array_size(json_object_get(page, "items")), 100);
    cr_assert(str_at(page, "metadata", "continue"));
    json_decref(page);
    /* field selector */
    ok(kube_list(c,
                 &(struct kube_call){
                     .gvr = &KUBE_CONFIGMAPS, .ns = ns, .field_selector = "metadata.name=cm-7"},
                 &items, NULL, &e),
       e, "field selector");
    cr_assert_eq(json_array_size(items), 1);
    json_decref(items);
    free(ns);
    kube_client_free(c);
}

/* ---- watches and the cache --------------------------------------------- */

struct cmitem {
    int gen;
};

struct watch_log {
    int adds, updates, deletes, regressions, synced;
};

static void *cm_extract(void *arg, json_t *obj)
{
    (void)arg;
    const char *g = str_at(obj, "data", "gen");
    if (!g)
        return NULL;
    struct cmitem *it = malloc(sizeof *it);
    it->gen = (int)strtol(g, NULL, 10);
    return it;
}

static void cm_add(void *arg, const char *key, const void *item)
{
    (void)key;
    (void)item;
    ((struct watch_log *)arg)->adds++;
}

static void cm_update(void *arg, const char *key, const void *old, const void *item)
{
    struct watch_log *l = arg;
    (void)key;
    l->updates++;
    if (((const struct cmitem *)item)->gen < ((const struct cmitem *)old)->gen)
        l->regressions++; /* an old event replayed over a newer state */
}

static void cm_delete(void *arg, const char *key, const void *item)
{
    (void)key;
    (void)item;
    ((struct watch_log *)arg)->deletes++;
}

static void cm_synced(void *arg)
{
    ((struct watch_log *)arg)->synced++;
}

static void cm_problem(void *arg, const struct err *e)
{
    (void)arg;
    fprintf(stderr, "watch problem (recovered): %s\n", err_msg(e));
}

struct missing {
    json_t *names;
    char *first;
};

static void find_extra(void *arg, const char *key, const void *item)
{
    struct missing *m = arg;
    (void)item;
    const char *slash = strchr(key, '/');
    if (!m->first && !json_object_get(m->names, slash ? slash + 1 : key))
        m->first = strdup(key);
}

static int watch_timeout_s; /* 0: the default */

static struct kube_cache *cm_cache(struct kube_client *c, const char *ns, const char *labels,
                                   struct watch_log *log)
{
    struct kube_cache_opts o = {
        .spec = {.gvr = &KUBE_CONFIGMAPS,
                 .min_timeout_s = watch_timeout_s,
                 .ns = ns,
                 .label_selector = labels,
                 .page_size = 100,
                 .backoff_base_ms = 100,
                 .backoff_max_ms = 1000},
        .extract = cm_extract,
        .on_add = cm_add,
        .on_update = cm_update,
        .on_delete = cm_delete,
        .on_synced = cm_synced,
        .on_problem = cm_problem,
        .arg = log,
    };
    return kube_cache_start(c, &o);
}

/* Drives client c until done(arg) or timeout; returns done(arg). */
static bool drive_until(struct kube_client *c, bool (*done)(void *), void *arg, int timeout_ms)
{
    long long end = now_ms() + timeout_ms;
    struct err *e = NULL;
    while (!done(arg) && now_ms() < end)
        ok(kube_client_step(c, 100, &e), e, "step");
    return done(arg);
}

static bool is_synced(void *arg)
{
    return kube_cache_synced(arg);
}

struct compare {
    struct kube_cache *cache;
    struct kube_client *direct;
    const char *ns, *labels;
    char why[256];
};

/* True when the cache holds exactly the objects of a fresh list, at the
 * same resourceVersions and generations. */
static bool cache_matches(void *arg)
{
    struct compare *m = arg;
    json_t *items = NULL;
    struct err *e = NULL;
    if (kube_list(
            m->direct,
            &(struct kube_call){.gvr = &KUBE_CONFIGMAPS, .ns = m->ns, .label_selector = m->labels},
            &items, NULL, &e) < 0) {
        snprintf(m->why, sizeof m->why, "list: %s", err_msg(e));
        err_free(&e);
        return false;
    }
    bool same = json_array_size(items) == kube_cache_len(m->cache);
    snprintf(m->why, sizeof m->why, "cache has %zu objects, the server %zu",
             kube_cache_len(m->cache), json_array_size(items));
    json_t *it;
    size_t i;
    if (!same) {
        struct missing x = {.names = json_object()};
        json_array_foreach(items, i, it)
            json_object_set_new(x.names, str_at(it, "metadata", "name"), json_true());
        kube_cache_foreach(m->cache, find_extra, &x);
        if (x.first)
            snprintf(m->why + strlen(m->why), sizeof m->why - strlen(m->why),
                     "; %s (rv %s) is cached but not on the server", x.first,
                     kube_cache_rv(m->cache, m->ns, strchr(x.first, '/') + 1));
        free(x.first);
        json_decref(x.names);
    }
    json_array_foreach(items, i, it)
    {
        if (!same)
            break;
        const char *name = str_at(it, "metadata", "name"),
                   *rv = str_at(it, "metadata", "resourceVersion");
        const char *crv = kube_cache_rv(m->cache, m->ns, name);
        const struct cmitem *ci = kube_cache_get(m->cache, m->ns, name);
        if (!crv || strcmp(crv, rv) != 0 || !ci ||
            ci->gen != (int)strtol(str_at(it, "data", "gen"), NULL, 10)) {
            snprintf(m->why, sizeof m->why, "%s: cache rv %s, server rv %s", name,
                     crv ? crv : "(absent)", rv);
            same = false;
        }
    }
    json_decref(items);
    return same;
}

/* The mutation script run on its own thread and client while the cache's
 * client is driven by the test: rounds of updates, deletes and creates. */
struct mutator {
    const char *ns;
    int n, first_round, rounds;
    volatile int done;
    int errors;
    char first_err[256];
};

static void *mutate(void *arg)
{
    struct mutator *m = arg;
    struct kube_client *c = client_at(NULL, -1);
    struct err *e = NULL;
    if (m->first_round == 0)
        m->first_round = 1;
    for (int r = m->first_round; r < m->first_round + m->rounds; r++) {
        for (int i = 0; i < m->n; i++) {
            char name[32], gen[16];
            snprintf(name, sizeof name, "cm-%d", i);
            snprintf(gen, sizeof gen, "%d", r);
            struct kube_call k = {.gvr = &KUBE_CONFIGMAPS, .ns = m->ns, .name = name};
            int rc;
            if (i % 10 == r % 10) {
                rc = kube_delete(c, &k, &e);
                if (rc == -ENOENT)
                    rc = 0;
            } else {
                json_t *p = json_pack("{s:{s:s}}", "data", "gen", gen);
                rc = kube_patch(c, KUBE_PATCH_MERGE, &k, p, NULL, &e);
                json_decref(p);
                if (rc == -ENOENT) { /* deleted in an earlier round: re-create */
                    json_t *cm = configmap(m->ns, name, "gen", gen);
                    json_object_set_new(json_object_get(cm, "metadata"), "labels",
                                        json_pack("{s:s}", "set", "watch"));
                    rc = kube_create(c, &k, cm, NULL, &e);
                    json_decref(cm);
                }
            }
            if (rc < 0 && !m->errors++)
                snprintf(m->first_err, sizeof m->first_err, "%s", err_msg(e));
            err_free(&e);
        }
    }
    kube_client_free(c);
    m->done = 1;
    return NULL;
}

static bool mutator_done(void *arg)
{
    return ((struct mutator *)arg)->done;
}

static int port_of(const char *url)
{
    const char *colon = strrchr(url, ':');
    return colon ? (int)strtol(colon + 1, NULL, 10) : 443;
}

struct watch_fixture {
    struct proxy *proxy;
    struct kube_client *cached, *direct;
    struct kube_cache *cache;
    struct watch_log log;
    char *ns;
};

static void watch_setup(struct watch_fixture *f, int n)
{
    memset(f, 0, sizeof *f);
    int pport = 0;
    f->proxy = proxy_start("127.0.0.1", port_of(env("APISERVER_URL")), &pport);
    cr_assert_not_null(f->proxy);
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%d", pport);
    f->direct = client();
    f->cached = client_at(url, -1);
    f->ns = make_ns(f->direct, "kit-watch");
    create_many(f->direct, f->ns, n, "watch");
    f->cache = cm_cache(f->cached, f->ns, "set=watch", &f->log);
    cr_assert(drive_until(f->cached, is_synced, f->cache, 30000), "the cache did not sync");
    cr_assert_eq(kube_cache_len(f->cache), (size_t)n);
}

static void watch_converges(struct watch_fixture *f)
{
    struct compare m = {.cache = f->cache, .direct = f->direct, .ns = f->ns, .labels = "set=watch"};
    long long end = now_ms() + 60000;
    bool same = false;
    while (!(same = cache_matches(&m)) && now_ms() < end) {
        long long until = now_ms() + 500;
        struct err *e = NULL;
        while (now_ms() < until)
            ok(kube_client_step(f->cached, 100, &e), e, "step");
    }
    cr_assert(same, "the cache did not converge to the server's state in 60 s: %s", m.why);
    cr_assert_eq(f->log.regressions, 0, "an old event was applied over a newer one");
    cr_assert_eq(f->log.synced, 1);
    cr_assert_eq((size_t)(f->log.adds - f->log.deletes), kube_cache_len(f->cache),
                 "adds - deletes = size (no duplicate add or delete)");
}

static void watch_teardown(struct watch_fixture *f)
{
    kube_cache_stop(f->cache);
    kube_client_free(f->cached);
    kube_client_free(f->direct);
    proxy_stop(f->proxy);
    free(f->ns);
}

static void run_mutator(struct watch_fixture *f, struct mutator *m, pthread_t *th)
{
    m->ns = f->ns;
    m->n = 100;
    if (!m->rounds)
        m->rounds = 3;
    pthread_create(th, NULL, mutate, m);
}

static void join_mutator(struct watch_fixture *f, struct mutator *m, pthread_t th)
{
    cr_assert(drive_until(f->cached, mutator_done, m, 120000), "mutations did not finish");
    pthread_join(th, NULL);
    cr_assert_eq(m->errors, 0, "%d mutations failed, first: %s", m->errors, m->first_err);
}

Test(kube_it, many_watches_and_requests_share_one_http2_connection, .timeout = 120)
{
    struct watch_fixture f;
    watch_setup(&f, 20);
    struct watch_log logs[15] = {{0}};
    struct kube_cache *more[15];
    for (int i = 0; i < 15; i++)
        more[i] = cm_cache(f.cached, f.ns, i % 2 ? "set=watch" : "set=other", &logs[i]);
    for (int i = 0; i < 15; i++)
        cr_assert(drive_until(f.cached, is_synced, more[i], 30000));
    struct kube_client_stats st;
    kube_client_stats(f.cached, &st);
    fprintf(stderr, "http2: %d TCP connection(s) for 16 watches, %llu requests\n",
            proxy_connections(f.proxy), (unsigned long long)st.requests);
    cr_assert_leq(proxy_connections(f.proxy), 2,
                  "%d TCP connections for 16 watches and their lists (HTTP/2 multiplexing)",
                  proxy_connections(f.proxy));
    cr_assert_geq(st.requests, 32);
    for (int i = 0; i < 15; i++)
        kube_cache_stop(more[i]);
    watch_teardown(&f);
}

Test(kube_it, a_watch_survives_dropped_connections, .timeout = 300)
{
    struct watch_fixture f;
    watch_setup(&f, 100);
    struct mutator m = {0};
    pthread_t th;
    run_mutator(&f, &m, &th);
    for (int i = 0; i < 5; i++) { /* drop every connection, five times, mid-stream */
        long long until = now_ms() + 700;
        struct err *e = NULL;
        while (now_ms() < until)
            ok(kube_client_step(f.cached, 50, &e), e, "step");
        proxy_drop_all(f.proxy);
    }
    join_mutator(&f, &m, th);
    watch_converges(&f);
    struct kube_watch_stats ws;
    kube_watch_stats(kube_cache_watch(f.cache), &ws);
    cr_assert_geq(ws.watches, 2, "the watch was resumed");
    cr_assert_eq(ws.gone, 0, "resumed from the last version, no relist needed");
    cr_assert_eq(ws.lists, 1);
    watch_teardown(&f);
}

Test(kube_it, a_watch_resumes_when_the_server_ends_it, .timeout = 300)
{
    watch_timeout_s = 1; /* the server closes each watch after 1-2 s */
    struct watch_fixture f;
    watch_setup(&f, 100);
    watch_timeout_s = 0;
    struct mutator m = {.rounds = 4};
    pthread_t th;
    run_mutator(&f, &m, &th);
    join_mutator(&f, &m, th);
    long long until = now_ms() + 3000;
    struct err *e = NULL;
    while (now_ms() < until)
        ok(kube_client_step(f.cached, 100, &e), e, "step");
    watch_converges(&f);
    struct kube_watch_stats ws;
    kube_watch_stats(kube_cache_watch(f.cache), &ws);
    cr_assert_geq(ws.watches, 3, "the watch was not resumed after the server ended it");
    cr_assert_eq(ws.lists, 1, "a clean end resumes from the last version, without a relist");
    watch_teardown(&f);
}

/* Restarts the apiserver (same flags, ports, data) with test/cluster/restart,
 * after compacting etcd at its current revision when asked. */
static void restart_apiserver(bool compact_first)
{
    const char *state = env("SLICER_CLUSTER_STATE");
    char cmd[4096];
    if (compact_first) {
        snprintf(cmd, sizeof cmd,
                 "rev=$(curl -fsS -m 5 -X POST %s/v3/kv/range -d '{\"key\":\"AA==\"}' | "
                 "sed -n 's/.*\"revision\":\"\\([0-9]*\\)\".*/\\1/p') && [ -n \"$rev\" ] && "
                 "curl -fsS -m 10 -X POST %s/v3/kv/compaction "
                 "-d \"{\\\"revision\\\":\\\"$rev\\\",\\\"physical\\\":true}\" >/dev/null",
                 env("ETCD_URL"), env("ETCD_URL"));
        cr_assert_eq(system(cmd), 0, "etcd compaction failed");
    }
    snprintf(cmd, sizeof cmd,
             "%s/test/cluster/restart kube-apiserver --state %s --timeout 60 >/dev/null 2>&1",
             SLICER_SOURCE_DIR, state);
    cr_assert_eq(system(cmd), 0, "the apiserver did not come back within 60 s");
}

static void *restart_thread(void *arg)
{
    restart_apiserver(false);
    *(volatile int *)arg = 1;
    return NULL;
}

static bool flag_set(void *arg)
{
    return *(volatile int *)arg;
}

Test(kube_it, a_watch_survives_an_apiserver_restart, .timeout = 300)
{
    struct watch_fixture f;
    watch_setup(&f, 100);
    client_retries = 12; /* the mutators' requests retry through the outage */
    struct mutator m = {0};
    pthread_t th, rt;
    run_mutator(&f, &m, &th);
    long long until = now_ms() + 300;
    struct err *e = NULL;
    while (now_ms() < until)
        ok(kube_client_step(f.cached, 50, &e), e, "step");
    volatile int restarted = 0;
    pthread_create(&rt, NULL, restart_thread, (void *)&restarted);
    cr_assert(drive_until(f.cached, flag_set, (void *)&restarted, 120000));
    pthread_join(rt, NULL);
    join_mutator(&f, &m, th);
    struct mutator after = {.first_round = 10}; /* changes made after the restart */
    run_mutator(&f, &after, &th);
    join_mutator(&f, &after, th);
    client_retries = 0;
    watch_converges(&f);
    struct kube_watch_stats ws;
    kube_watch_stats(kube_cache_watch(f.cache), &ws);
    fprintf(stderr, "apiserver restart: lists %llu, watches %llu, events %llu, 410s %llu\n",
            (unsigned long long)ws.lists, (unsigned long long)ws.watches,
            (unsigned long long)ws.events, (unsigned long long)ws.gone);
    cr_assert_geq(ws.watches, 2, "the watch was resumed");
    watch_teardown(&f);
}

Test(kube_it, a_watch_relists_after_410_gone_from_compaction, .timeout = 300)
{
    struct watch_fixture f;
    watch_setup(&f, 100);
    /* Cut the cache off, change everything, compact etcd past the cache's
     * version and restart the apiserver (fresh watch cache): resuming from
     * the old version can only get 410 Gone. */
    proxy_block(f.proxy, true);
    proxy_drop_all(f.proxy);
    struct mutator m = {0};
    m.ns = f.ns;
    m.n = 100;
    m.rounds = 2;
    mutate(&m);
    cr_assert_eq(m.errors, 0, "%s", m.first_err);
    restart_apiserver(true);
    proxy_block(f.proxy, false);
    watch_converges(&f);
    struct kube_watch_stats ws;
    kube_watch_stats(kube_cache_watch(f.cache), &ws);
    cr_assert_geq(ws.gone, 1, "no 410 was seen");
    cr_assert_geq(ws.lists, 2, "no relist happened");
    cr_assert_gt(f.log.deletes, 0, "objects deleted while cut off fire on_delete");
    watch_teardown(&f);
}

/* ---- events ------------------------------------------------------------ */

static bool recorder_idle(void *arg)
{
    return !kube_recorder_busy(arg);
}

Test(kube_it, repeated_events_fold_into_a_series)
{
    struct kube_client *c = client();
    char *ns = make_ns(c, "kit-ev");
    struct err *e = NULL;
    json_t *cm = configmap(ns, "subject", "a", "b"), *got = NULL;
    ok(kube_create(c, &(struct kube_call){.gvr = &KUBE_CONFIGMAPS, .ns = ns}, cm, &got, &e), e,
       "create");
    struct kube_event_ref ref = {"v1", "ConfigMap", ns, "subject", str_at(got, "metadata", "uid")};
    struct kube_recorder *r = kube_recorder_new(c, "slicer.dev/it", "it-0");
    for (int i = 0; i < 3; i++) {
        kube_event_emit(r, &ref, KUBE_EVENT_WARNING, "NoCapacity", "Place", "no GPU can hold %s",
                        "3g.20gb");
        cr_assert(drive_until(c, recorder_idle, r, 10000));
    }
    kube_event_emit(r, &ref, KUBE_EVENT_NORMAL, "SliceReady", "Realise", "ready");
    cr_assert(drive_until(c, recorder_idle, r, 10000));
    struct kube_recorder_stats st;
    kube_recorder_stats(r, &st);
    cr_assert_eq(st.failed, 0);
    cr_assert_eq(st.created, 2);
    cr_assert_eq(st.patched, 2);
    json_t *items = NULL;
    ok(kube_list(c, &(struct kube_call){.gvr = &KUBE_EVENTS, .ns = ns}, &items, NULL, &e), e,
       "list events");
    cr_assert_eq(json_array_size(items), 2);
    json_t *it;
    size_t i;
    int found = 0;
    json_array_foreach(items, i, it)
    {
        const char *reason = json_string_value(json_object_get(it, "reason"));
        cr_assert_str_eq(str_at(it, "regarding", "name"), "subject");
        cr_assert_str_eq(json_string_value(json_object_get(it, "reportingController")),
                         "slicer.dev/it");
        if (strcmp(reason, "NoCapacity") == 0) {
            found++;
            cr_assert_str_eq(json_string_value(json_object_get(it, "note")),
                             "no GPU can hold 3g.20gb");
            cr_assert_str_eq(json_string_value(json_object_get(it, "type")), "Warning");
            cr_assert_eq(
                json_integer_value(json_object_get(json_object_get(it, "series"), "count")), 3);
        }
    }
    cr_assert_eq(found, 1);
    json_decref(items);
    json_decref(got);
    json_decref(cm);
    kube_recorder_free(r);
    free(ns);
    kube_client_free(c);
}

/* ---- leader election ----------------------------------------------------- */

#define LD 4000
#define RD 3000
#define RP 1000

struct cand {
    pid_t pid;
    FILE *out;
    char path[128];
};

static void spawn(struct cand *c, const char *ns, int i)
{
    snprintf(c->path, sizeof c->path, "/tmp/slicer-lease-%d-%d.log", (int)getpid(), i);
    char id[32], ld[16], rd[16], rp[16];
    snprintf(id, sizeof id, "cand-%d", i);
    snprintf(ld, sizeof ld, "%d", LD);
    snprintf(rd, sizeof rd, "%d", RD);
    snprintf(rp, sizeof rp, "%d", RP);
    c->pid = fork();
    cr_assert_geq(c->pid, 0);
    if (c->pid == 0) {
        FILE *f = freopen(c->path, "w", stdout);
        (void)f;
        execl(KUBE_LEASE_HELPER, KUBE_LEASE_HELPER, env("KUBECONFIG"), ns, "it-lease", id, ld, rd,
              rp, (char *)NULL);
        _exit(127);
    }
}

struct claim {
    int who;
    long long t;
};

/* Reads every candidate's log: GAIN/L/LOSS lines. */
static int read_claims(struct cand *c, int n, struct claim *out, int cap, long long *gain_after,
                       int *gainer, long long after)
{
    int k = 0;
    *gain_after = 0;
    for (int i = 0; i < n; i++) {
        FILE *f = fopen(c[i].path, "r");
        if (!f)
            continue;
        char line[128];
        while (fgets(line, sizeof line, f)) {
            long long t = 0;
            if (sscanf(line, "L %lld", &t) == 1 && k < cap)
                out[k++] = (struct claim){i, t};
            if (sscanf(line, "GAIN %lld", &t) == 1 && t > after && !*gain_after) {
                *gain_after = t;
                *gainer = i;
            }
        }
        fclose(f);
    }
    return k;
}

static long long wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

static int leader_now(struct cand *c, int n, long long since)
{
    static struct claim cl[200000];
    long long g;
    int who = -1, k = read_claims(c, n, cl, 200000, &g, &who, 0);
    int leader = -1;
    for (int i = 0; i < k; i++)
        if (cl[i].t > since)
            leader = cl[i].who;
    return leader;
}

Test(kube_it, leader_election_with_three_processes, .timeout = 180)
{
    struct kube_client *k = client();
    char *ns = make_ns(k, "kit-lease");
    struct cand c[3];
    for (int i = 0; i < 3; i++)
        spawn(&c[i], ns, i);
    int leader = -1;
    for (int i = 0; i < 300 && leader < 0; i++) {
        usleep(100000);
        leader = leader_now(c, 3, wall_us() - 300000);
    }
    cr_assert_geq(leader, 0, "nobody became leader in 30 s");
    sleep(3); /* steady state: renewals go on, nobody else claims */
    long long stop_at = wall_us();
    kill(c[leader].pid, SIGSTOP);
    long long gain = 0;
    int next = -1;
    static struct claim cl[200000];
    for (int i = 0; i < 200 && !gain; i++) {
        usleep(100000);
        read_claims(c, 3, cl, 200000, &gain, &next, stop_at);
    }
    cr_assert_gt(gain, 0, "no failover within 20 s of stopping the leader");
    cr_assert_neq(next, leader);
    long long failover_ms = (gain - stop_at) / 1000;
    fprintf(stderr, "leader election: failover %lld ms after SIGSTOP (lease %d ms, retry %d ms)\n",
            failover_ms, LD, RP);
    /* client-go's bound: the follower sees the last renewal up to one retry
     * period late and checks once per retry period after expiry. */
    cr_assert_leq(failover_ms, LD + 2 * RP + 1500, "failover took %lld ms", failover_ms);
    kill(c[leader].pid, SIGCONT); /* the old leader must notice at once and stop */
    int status = 0;
    for (int i = 0; i < 50; i++) {
        if (waitpid(c[leader].pid, &status, WNOHANG) == c[leader].pid)
            break;
        usleep(100000);
    }
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 3,
              "the resumed old leader did not step down and exit");
    sleep(2);
    for (int i = 0; i < 3; i++)
        if (i != leader) {
            kill(c[i].pid, SIGKILL);
            waitpid(c[i].pid, NULL, 0);
        }
    /* Exactly one leader at any time: claims of different processes never
     * interleave closer than 100 ms, and the old leader's last claim comes
     * before the new leader's first. */
    long long g;
    int w;
    int n = read_claims(c, 3, cl, 200000, &g, &w, 0);
    cr_assert_gt(n, 20);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (cl[i].who != cl[j].who) {
                long long d = cl[i].t - cl[j].t;
                cr_assert(d > 100000 || d < -100000,
                          "candidates %d and %d both claimed leadership %lld us apart", cl[i].who,
                          cl[j].who, d);
            }
    for (int i = 0; i < n; i++)
        if (cl[i].who == leader)
            cr_assert_lt(cl[i].t, gain, "the old leader claimed after the failover");
    json_t *lease = NULL;
    struct err *e = NULL;
    ok(kube_get(k, &(struct kube_call){.gvr = &KUBE_LEASES, .ns = ns, .name = "it-lease"}, &lease,
                &e),
       e, "get lease");
    struct kube_lease_record rec;
    kube_lease_from_json(lease, &rec);
    char want[32];
    snprintf(want, sizeof want, "cand-%d", next);
    cr_assert_str_eq(rec.holder, want);
    cr_assert_eq(rec.transitions, 1);
    cr_assert_eq(rec.duration_s, LD / 1000);
    cr_assert_eq(strlen(rec.renew), 27, "MicroTime: %s", rec.renew);
    json_decref(lease);
    for (int i = 0; i < 3; i++)
        unlink(c[i].path);
    free(ns);
    kube_client_free(k);
}
