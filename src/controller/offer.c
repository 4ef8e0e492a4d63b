/* offer — the profiles the cluster's GPUNodes offer (see offer.h). */
#include "controller/offer.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "core/catalog.h"
#include "kube/kube_cache.h"

static bool has(const struct ctl_offer *o, const char *name)
{
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->names[i], name) == 0)
            return true;
    return false;
}

static bool known(const char *name)
{
    for (size_t m = 0; m < cat_gpu_count(); m++)
        if (cat_profile_index(cat_gpu_at(m), name) >= 0)
            return true;
    return false;
}

static void add(struct ctl_offer *o, const char *name)
{
    if (name == NULL || o->n >= CTL_OFFER_MAX || strlen(name) >= sizeof o->names[0] ||
        has(o, name) || !known(name))
        return;
    memcpy(o->names[o->n++], name, strlen(name) + 1);
}

void ctl_offer_of_gpunode(const json_t *gpunode, struct ctl_offer *out)
{
    out->n = 0;
    json_t *gpus = json_object_get(json_object_get(gpunode, "status"), "gpus"), *gpu, *prof;
    size_t i, j;
    json_array_foreach(gpus, i, gpu)
    {
        if (!json_is_true(json_object_get(gpu, "migMode")))
            continue;
        json_array_foreach(json_object_get(gpu, "profiles"), j, prof)
            add(out, json_string_value(json_object_get(prof, "name")));
    }
}

struct ctl_offer_watch {
    struct kube_cache *cache;
    ctl_offer_fn changed;
    void *arg;
    bool reported;
    struct ctl_offer last; /* the union last reported */
};

static void *extract(void *arg, json_t *obj)
{
    (void)arg;
    struct ctl_offer *o = xmalloc(sizeof *o);
    ctl_offer_of_gpunode(obj, o);
    return o;
}

static void gather(void *arg, const char *key, const void *item)
{
    (void)key;
    struct ctl_offer *all = arg;
    const struct ctl_offer *o = item;
    for (size_t i = 0; i < o->n; i++)
        add(all, o->names[i]);
}

/* Recomputes the union in catalog order and reports it when it changed. */
static void recompute(struct ctl_offer_watch *w)
{
    if (!kube_cache_synced(w->cache))
        return;
    struct ctl_offer *all = xcalloc(1, sizeof *all), *ordered = xcalloc(1, sizeof *ordered);
    kube_cache_foreach(w->cache, gather, all);
    for (size_t m = 0; m < cat_gpu_count(); m++)
        for (unsigned p = 0; p < cat_gpu_at(m)->nprofiles; p++)
            if (has(all, cat_gpu_at(m)->profiles[p].name))
                add(ordered, cat_gpu_at(m)->profiles[p].name);
    if (!w->reported || ordered->n != w->last.n ||
        memcmp(ordered->names, w->last.names, sizeof ordered->names[0] * ordered->n) != 0) {
        const char *names[CTL_OFFER_MAX];
        for (size_t i = 0; i < ordered->n; i++)
            names[i] = ordered->names[i];
        w->last = *ordered;
        w->reported = true;
        w->changed(w->arg, names, ordered->n);
    }
    free(all);
    free(ordered);
}

static void on_add(void *arg, const char *key, const void *item)
{
    (void)key, (void)item;
    recompute(arg);
}

static void on_update(void *arg, const char *key, const void *old, const void *item)
{
    (void)key, (void)old, (void)item;
    recompute(arg);
}

static void on_synced(void *arg)
{
    recompute(arg);
}

struct ctl_offer_watch *ctl_offer_watch_start(struct kube_client *c, ctl_offer_fn changed,
                                              void *arg)
{
    struct ctl_offer_watch *w = xcalloc(1, sizeof *w);
    w->changed = changed;
    w->arg = arg;
    struct kube_cache_opts o = {
        .spec = {.gvr = &CTL_GPUNODES},
        .extract = extract,
        .on_add = on_add,
        .on_update = on_update,
        .on_delete = on_add,
        .on_synced = on_synced,
        .arg = w,
    };
    w->cache = kube_cache_start(c, &o);
    return w;
}

void ctl_offer_watch_stop(struct ctl_offer_watch *w)
{
    if (w == NULL)
        return;
    kube_cache_stop(w->cache);
    free(w);
}
