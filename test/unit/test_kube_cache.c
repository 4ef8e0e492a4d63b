/* kube_cache: the store fed by the watch — extract-only storage, add/update/
 * delete callbacks, unchanged objects ignored, and replace-on-relist. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube_cache.h"

struct item {
    int replicas;
};

struct log {
    int adds, updates, deletes, synced;
    char last[64];
};

static void *extract(void *arg, json_t *obj)
{
    (void)arg;
    json_t *r = json_object_get(json_object_get(obj, "spec"), "replicas");
    if (!r)
        return NULL;
    struct item *it = malloc(sizeof *it);
    it->replicas = (int)json_integer_value(r);
    return it;
}

static void on_add(void *arg, const char *key, const void *item)
{
    struct log *l = arg;
    (void)item;
    l->adds++;
    snprintf(l->last, sizeof l->last, "add %s", key);
}

static void on_update(void *arg, const char *key, const void *old, const void *item)
{
    struct log *l = arg;
    l->updates++;
    snprintf(l->last, sizeof l->last, "update %s %d->%d", key, ((const struct item *)old)->replicas,
             ((const struct item *)item)->replicas);
}

static void on_delete(void *arg, const char *key, const void *item)
{
    struct log *l = arg;
    l->deletes++;
    snprintf(l->last, sizeof l->last, "delete %s %d", key, ((const struct item *)item)->replicas);
}

static void on_synced(void *arg)
{
    ((struct log *)arg)->synced++;
}

static const struct kube_gvr deployments = {"apps", "v1", "deployments", true};

static struct kube_cache *new_cache(struct log *l)
{
    struct kube_cache_opts o = {.spec = {.gvr = &deployments},
                                .extract = extract,
                                .on_add = on_add,
                                .on_update = on_update,
                                .on_delete = on_delete,
                                .on_synced = on_synced,
                                .arg = l};
    return kube_cache_new_detached(&o);
}

static void apply(struct kube_cache *c, enum kube_ev t, const char *ns, const char *name,
                  const char *rv, int replicas)
{
    json_t *o = replicas >= 0
                    ? json_pack("{s:{s:s, s:s, s:s}, s:{s:i}}", "metadata", "namespace", ns, "name",
                                name, "resourceVersion", rv, "spec", "replicas", replicas)
                    : json_pack("{s:{s:s, s:s, s:s}}", "metadata", "namespace", ns, "name", name,
                                "resourceVersion", rv);
    kube_cache_apply(c, t, o);
    json_decref(o);
}

static int replicas(struct kube_cache *c, const char *ns, const char *name)
{
    const struct item *it = kube_cache_get(c, ns, name);
    return it ? it->replicas : -1;
}

Test(kube_cache, events_drive_the_callbacks)
{
    struct log l = {0};
    struct kube_cache *c = new_cache(&l);
    apply(c, KUBE_EV_ADDED, "a", "web", "1", 3);
    cr_assert_str_eq(l.last, "add a/web");
    apply(c, KUBE_EV_MODIFIED, "a", "web", "2", 5);
    cr_assert_str_eq(l.last, "update a/web 3->5");
    apply(c, KUBE_EV_MODIFIED, "a", "web", "2", 5); /* same version: nothing */
    cr_assert_eq(l.updates, 1);
    apply(c, KUBE_EV_MODIFIED, "a", "web", "123456789012345678901234567890", 6); /* long rv */
    cr_assert_str_eq(kube_cache_rv(c, "a", "web"), "123456789012345678901234567890");
    cr_assert_eq(replicas(c, "a", "web"), 6);
    apply(c, KUBE_EV_ADDED, "b", "web", "3", 1);
    cr_assert_eq(kube_cache_len(c), 2);
    apply(c, KUBE_EV_DELETED, "a", "web", "4", 6);
    cr_assert_str_eq(l.last, "delete a/web 6");
    cr_assert_eq(replicas(c, "a", "web"), -1);
    cr_assert_eq(replicas(c, "b", "web"), 1);
    apply(c, KUBE_EV_DELETED, "zz", "none", "5", 1); /* unknown: ignored */
    cr_assert_eq(l.deletes, 1);
    kube_cache_stop(c);
}

Test(kube_cache, an_object_the_extractor_rejects_is_not_kept)
{
    struct log l = {0};
    struct kube_cache *c = new_cache(&l);
    apply(c, KUBE_EV_ADDED, "a", "x", "1", -1);
    cr_assert_eq(kube_cache_len(c), 0);
    cr_assert_eq(l.adds, 0);
    apply(c, KUBE_EV_MODIFIED, "a", "x", "2", 2);
    cr_assert_eq(l.adds, 1);
    apply(c, KUBE_EV_MODIFIED, "a", "x", "3", -1); /* no longer interesting: deleted */
    cr_assert_eq(l.deletes, 1);
    cr_assert_eq(kube_cache_len(c), 0);
    kube_cache_stop(c);
}

Test(kube_cache, a_relist_replaces_the_state)
{
    struct log l = {0};
    struct kube_cache *c = new_cache(&l);
    kube_cache_relist_begin(c);
    for (int i = 0; i < 1000; i++) {
        char name[16];
        snprintf(name, sizeof name, "d%d", i);
        apply(c, KUBE_EV_ADDED, "ns", name, "1", i);
    }
    cr_assert_eq(l.synced, 0);
    kube_cache_relist_end(c);
    cr_assert_eq(l.synced, 1);
    cr_assert(kube_cache_synced(c));
    cr_assert_eq(kube_cache_len(c), 1000);
    cr_assert_eq(replicas(c, "ns", "d999"), 999);
    /* A relist after a 410: d0 changed, d1 vanished, d1000 is new. */
    kube_cache_relist_begin(c);
    for (int i = 0; i <= 1000; i++) {
        char name[16];
        snprintf(name, sizeof name, "d%d", i);
        if (i != 1)
            apply(c, KUBE_EV_ADDED, "ns", name, i == 0 || i == 1000 ? "9" : "1", i + 1);
    }
    kube_cache_relist_end(c);
    cr_assert_eq(l.synced, 1, "synced fires once");
    cr_assert_eq(kube_cache_len(c), 1000);
    cr_assert_eq(l.deletes, 1);
    cr_assert_eq(l.updates, 1);
    cr_assert_eq(l.adds, 1001);
    cr_assert_eq(replicas(c, "ns", "d1"), -1);
    cr_assert_eq(replicas(c, "ns", "d0"), 1);
    cr_assert_eq(replicas(c, "ns", "d5"), 5, "unchanged objects keep their item");
    cr_assert_gt(kube_cache_overhead(c), 1000 * 16);
    kube_cache_stop(c);
}

static void count(void *arg, const char *key, const void *item)
{
    (void)key;
    (void)item;
    ++*(int *)arg;
}

Test(kube_cache, cluster_scoped_keys_have_no_namespace)
{
    struct log l = {0};
    static const struct kube_gvr nodes = {"", "v1", "nodes", false};
    struct kube_cache_opts o = {
        .spec = {.gvr = &nodes}, .extract = extract, .on_add = on_add, .arg = &l};
    struct kube_cache *c = kube_cache_new_detached(&o);
    json_t *n = json_pack("{s:{s:s, s:s}, s:{s:i}}", "metadata", "name", "node-1",
                          "resourceVersion", "5", "spec", "replicas", 8);
    kube_cache_apply(c, KUBE_EV_ADDED, n);
    json_decref(n);
    cr_assert_str_eq(l.last, "add node-1");
    cr_assert_eq(replicas(c, "ignored", "node-1"), 8);
    int k = 0;
    kube_cache_foreach(c, count, &k);
    cr_assert_eq(k, 1);
    kube_cache_stop(c);
}
