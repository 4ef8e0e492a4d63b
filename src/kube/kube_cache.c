#include "kube/kube_cache.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

/* One cached object: key "\0" rv "\0" stored inline. */
struct entry {
    struct entry *next;
    void *item;
    uint32_t hash, gen;
    uint16_t klen, rvcap;
    char text[];
};

struct kube_cache {
    struct kube_cache_opts o;
    bool namespaced;
    struct kube_watch *watch;
    struct entry **tab;
    size_t nbuckets, n, bytes;
    uint32_t gen;
    bool listing, synced;
};

static uint32_t fnv(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static const char *entry_rv(const struct entry *e)
{
    return e->text + e->klen + 1;
}

static void grow(struct kube_cache *c)
{
    size_t nb = c->nbuckets ? c->nbuckets * 2 : 64;
    struct entry **t = xcalloc(nb, sizeof *t);
    for (size_t i = 0; i < c->nbuckets; i++)
        for (struct entry *e = c->tab[i], *next; e; e = next) {
            next = e->next;
            e->next = t[e->hash & (nb - 1)];
            t[e->hash & (nb - 1)] = e;
        }
    free(c->tab);
    c->bytes += (nb - c->nbuckets) * sizeof *t;
    c->tab = t;
    c->nbuckets = nb;
}

static struct entry **find(const struct kube_cache *c, const char *key, size_t klen, uint32_t h)
{
    if (!c->nbuckets)
        return NULL;
    struct entry **p = &c->tab[h & (c->nbuckets - 1)];
    for (; *p; p = &(*p)->next)
        if ((*p)->hash == h && (*p)->klen == klen && memcmp((*p)->text, key, klen) == 0)
            return p;
    return p;
}

static void free_item(struct kube_cache *c, void *item)
{
    if (c->o.free_item)
        c->o.free_item(item);
    else
        free(item);
}

static struct entry *new_entry(const char *key, size_t klen, const char *rv, uint32_t h)
{
    size_t rl = strlen(rv), cap = rl < 20 ? 20 : rl;
    struct entry *e = xmalloc(sizeof *e + klen + 1 + cap + 1);
    e->next = NULL;
    e->hash = h;
    e->klen = (uint16_t)klen;
    e->rvcap = (uint16_t)cap;
    memcpy(e->text, key, klen);
    e->text[klen] = '\0';
    memcpy(e->text + klen + 1, rv, rl + 1);
    return e;
}

static void remove_at(struct kube_cache *c, struct entry **p)
{
    struct entry *e = *p;
    *p = e->next;
    c->n--;
    c->bytes -= sizeof *e + e->klen + 1 + e->rvcap + 1;
    if (c->o.on_delete)
        c->o.on_delete(c->o.arg, e->text, e->item);
    free_item(c, e->item);
    free(e);
}

/* key = "ns/name" or "name" into buf; returns its length or 0 when absent. */
static size_t make_key(const struct kube_cache *c, const char *ns, const char *name, char *buf,
                       size_t cap)
{
    if (!name || !*name)
        return 0;
    int n = c->namespaced && ns ? snprintf(buf, cap, "%s/%s", ns, name)
                                : snprintf(buf, cap, "%s", name);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void upsert(struct kube_cache *c, const char *key, size_t klen, const char *rv, json_t *obj)
{
    uint32_t h = fnv(key, klen);
    struct entry **p = find(c, key, klen, h);
    struct entry *e = p ? *p : NULL;
    if (e && strcmp(entry_rv(e), rv) == 0) {
        e->gen = c->gen; /* seen again, unchanged (e.g. in a relist) */
        return;
    }
    void *item = c->o.extract(c->o.arg, obj);
    if (!item) {
        if (e)
            remove_at(c, p);
        return;
    }
    if (!e) {
        if (c->n >= c->nbuckets)
            grow(c);
        e = new_entry(key, klen, rv, h);
        e->item = item;
        e->gen = c->gen;
        struct entry **head = &c->tab[h & (c->nbuckets - 1)];
        e->next = *head;
        *head = e;
        c->n++;
        c->bytes += sizeof *e + klen + 1 + e->rvcap + 1;
        if (c->o.on_add)
            c->o.on_add(c->o.arg, e->text, item);
        return;
    }
    size_t rl = strlen(rv);
    if (rl > e->rvcap) {
        struct entry *ne = new_entry(key, klen, rv, h);
        ne->next = e->next;
        ne->item = e->item;
        c->bytes += (size_t)ne->rvcap - e->rvcap;
        *p = ne;
        free(e);
        e = ne;
    } else {
        memcpy(e->text + klen + 1, rv, rl + 1);
    }
    void *old = e->item;
    e->item = item;
    e->gen = c->gen;
    if (c->o.on_update)
        c->o.on_update(c->o.arg, e->text, old, item);
    free_item(c, old);
}

void kube_cache_apply(struct kube_cache *c, enum kube_ev type, json_t *obj)
{
    json_t *meta = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *rv = json_string_value(json_object_get(meta, "resourceVersion"));
    char key[512];
    size_t klen = make_key(c, ns, name, key, sizeof key);
    if (!klen || !rv)
        return;
    if (type == KUBE_EV_DELETED) {
        struct entry **p = find(c, key, klen, fnv(key, klen));
        if (p && *p)
            remove_at(c, p);
        return;
    }
    if (type == KUBE_EV_ADDED || type == KUBE_EV_MODIFIED)
        upsert(c, key, klen, rv, obj);
}

void kube_cache_relist_begin(struct kube_cache *c)
{
    c->gen++;
    c->listing = true;
}

void kube_cache_relist_end(struct kube_cache *c)
{
    c->listing = false;
    for (size_t i = 0; i < c->nbuckets; i++)
        for (struct entry **p = &c->tab[i]; *p;) {
            if ((*p)->gen != c->gen)
                remove_at(c, p); /* gone while we were not watching */
            else
                p = &(*p)->next;
        }
    if (!c->synced) {
        c->synced = true;
        if (c->o.on_synced)
            c->o.on_synced(c->o.arg);
    }
}

static void h_relist(void *arg)
{
    kube_cache_relist_begin(arg);
}

static void h_object(void *arg, enum kube_ev type, json_t *obj)
{
    kube_cache_apply(arg, type, obj);
}

static void h_relisted(void *arg)
{
    kube_cache_relist_end(arg);
}

static void h_problem(void *arg, const struct err *e)
{
    struct kube_cache *c = arg;
    if (c->o.on_problem)
        c->o.on_problem(c->o.arg, e);
}

struct kube_cache *kube_cache_new_detached(const struct kube_cache_opts *opts)
{
    struct kube_cache *c = xcalloc(1, sizeof *c);
    c->o = *opts;
    c->namespaced = opts->spec.gvr ? opts->spec.gvr->namespaced : true;
    c->bytes = sizeof *c;
    return c;
}

struct kube_cache *kube_cache_start(struct kube_client *cl, const struct kube_cache_opts *opts)
{
    struct kube_cache *c = kube_cache_new_detached(opts);
    static const struct kube_watch_handlers h = {
        .relist = h_relist, .object = h_object, .relisted = h_relisted, .problem = h_problem};
    c->watch = kube_watch_start(cl, &opts->spec, &h, c);
    return c;
}

void kube_cache_stop(struct kube_cache *c)
{
    if (!c)
        return;
    kube_watch_stop(c->watch);
    for (size_t i = 0; i < c->nbuckets; i++)
        for (struct entry *e = c->tab[i], *next; e; e = next) {
            next = e->next;
            free_item(c, e->item);
            free(e);
        }
    free(c->tab);
    free(c);
}

bool kube_cache_synced(const struct kube_cache *c)
{
    return c->synced;
}

size_t kube_cache_len(const struct kube_cache *c)
{
    return c->n;
}

static const struct entry *lookup(const struct kube_cache *c, const char *ns, const char *name)
{
    char key[512];
    size_t klen = make_key(c, ns, name, key, sizeof key);
    if (!klen)
        return NULL;
    struct entry **p = find(c, key, klen, fnv(key, klen));
    return p ? *p : NULL;
}

const void *kube_cache_get(const struct kube_cache *c, const char *ns, const char *name)
{
    const struct entry *e = lookup(c, ns, name);
    return e ? e->item : NULL;
}

const char *kube_cache_rv(const struct kube_cache *c, const char *ns, const char *name)
{
    const struct entry *e = lookup(c, ns, name);
    return e ? entry_rv(e) : NULL;
}

void kube_cache_foreach(const struct kube_cache *c,
                        void (*fn)(void *arg, const char *key, const void *item), void *arg)
{
    for (size_t i = 0; i < c->nbuckets; i++)
        for (const struct entry *e = c->tab[i]; e; e = e->next)
            fn(arg, e->text, e->item);
}

const struct kube_watch *kube_cache_watch(const struct kube_cache *c)
{
    return c->watch;
}

size_t kube_cache_overhead(const struct kube_cache *c)
{
    return c->bytes;
}
