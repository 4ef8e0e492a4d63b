/* kube_cache — an informer-like cache of one resource, fed by kube_watch.
 *
 * The cache never holds API objects: for every object it calls the caller's
 * `extract`, which returns the caller's own small struct (or NULL: "not
 * interesting", and an entry already cached under that key is deleted), and
 * keeps only that, the key ("namespace/name", or "name" when cluster-scoped)
 * and the object's resourceVersion. Handlers fire on add, update (the
 * resourceVersion changed) and delete; `on_synced` fires once, after the
 * first complete list. After a re-list (410 Gone) the cache's state is
 * replaced: objects that vanished meanwhile fire on_delete.
 *
 * Handlers and extract run inside the client's dispatch. Items passed to
 * handlers are borrowed and valid until the handler returns (old items are
 * freed right after on_update/on_delete). A cache must not be stopped from
 * inside its own handlers. */
#ifndef SLICER_KUBE_CACHE_H
#define SLICER_KUBE_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "kube/kube_watch.h"

struct kube_cache;

struct kube_cache_opts {
    struct kube_watch_spec spec;
    void *(*extract)(void *arg, json_t *obj); /* obj borrowed; returns an owned item or NULL */
    void (*free_item)(void *item);            /* default free() */
    void (*on_add)(void *arg, const char *key, const void *item);
    void (*on_update)(void *arg, const char *key, const void *old, const void *item);
    void (*on_delete)(void *arg, const char *key, const void *item);
    void (*on_synced)(void *arg);
    /* A failure the watch recovers from by itself (optional; for logs). */
    void (*on_problem)(void *arg, const struct err *e);
    void *arg;
};

struct kube_cache *kube_cache_start(struct kube_client *c, const struct kube_cache_opts *opts);
void kube_cache_stop(struct kube_cache *cache);

bool kube_cache_synced(const struct kube_cache *cache);
size_t kube_cache_len(const struct kube_cache *cache);
/* The cached item, or NULL. ns is ignored for cluster-scoped resources. */
const void *kube_cache_get(const struct kube_cache *cache, const char *ns, const char *name);
/* The resourceVersion the item was extracted from, or NULL. */
const char *kube_cache_rv(const struct kube_cache *cache, const char *ns, const char *name);
void kube_cache_foreach(const struct kube_cache *cache,
                        void (*fn)(void *arg, const char *key, const void *item), void *arg);
/* The watch under the cache (for its resourceVersion and counters). */
const struct kube_watch *kube_cache_watch(const struct kube_cache *cache);
/* Bytes the cache itself holds (table and entries, excluding items). */
size_t kube_cache_overhead(const struct kube_cache *cache);

/* The pure core, exposed for tests and the benchmark: apply one object to
 * the cache as the watch would (`listing` = part of a relist). */
void kube_cache_apply(struct kube_cache *cache, enum kube_ev type, json_t *obj);
/* A cache that is not connected to any server (for kube_cache_apply). */
struct kube_cache *kube_cache_new_detached(const struct kube_cache_opts *opts);
void kube_cache_relist_begin(struct kube_cache *cache);
void kube_cache_relist_end(struct kube_cache *cache);

#endif
