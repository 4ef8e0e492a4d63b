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

/* Adds the profiles of `model` that are not there yet. */
static void add_model(struct ctl_offer *o, const struct cat_gpu *model)
{
    for (unsigned p = 0; p < model->nprofiles; p++) {
        const char *name = model->profiles[p].name;
        if (o->n < CTL_OFFER_MAX && strlen(name) < sizeof o->names[0] && !has(o, name))
            memcpy(o->names[o->n++], name, strlen(name) + 1);
    }
}

static bool offers_model(const struct ctl_gpunode *g, const struct cat_gpu *model)
{
    for (size_t i = 0; i < g->ngpus; i++)
        if (g->gpus[i].mig && g->gpus[i].model == model)
            return true;
    return false;
}

void ctl_offer_of_gpunode(const struct ctl_gpunode *g, struct ctl_offer *out)
{
    out->n = 0;
    for (size_t m = 0; m < cat_gpu_count(); m++)
        if (offers_model(g, cat_gpu_at(m)))
            add_model(out, cat_gpu_at(m));
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
    struct ctl_gpunode *g = xmalloc(sizeof *g);
    if (ctl_gpunode_parse(obj, g, NULL) < 0) {
        free(g);
        return NULL;
    }
    return g;
}

static void free_item(void *item)
{
    ctl_gpunode_free(item);
    free(item);
}

struct gather {
    const struct cat_gpu *model;
    bool found;
};

static void find_model(void *arg, const char *key, const void *item)
{
    (void)key;
    struct gather *g = arg;
    g->found = g->found || offers_model(item, g->model);
}

/* Recomputes the union (catalog order) and reports it when it changed. */
static void recompute(struct ctl_offer_watch *w)
{
    if (!kube_cache_synced(w->cache))
        return;
    struct ctl_offer *all = xcalloc(1, sizeof *all);
    for (size_t m = 0; m < cat_gpu_count(); m++) {
        struct gather g = {cat_gpu_at(m), false};
        kube_cache_foreach(w->cache, find_model, &g);
        if (g.found)
            add_model(all, g.model);
    }
    if (!w->reported || all->n != w->last.n ||
        memcmp(all->names, w->last.names, sizeof all->names[0] * all->n) != 0) {
        const char *names[CTL_OFFER_MAX];
        for (size_t i = 0; i < all->n; i++)
            names[i] = all->names[i];
        w->last = *all;
        w->reported = true;
        w->changed(w->arg, names, all->n);
    }
    free(all);
}

static void on_add(void *arg, const char *key, const void *item)
{
    (void)key, (void)item;
    recompute(arg);
}

static void on_update(void *arg, const char *key, const void *old, const void *item)
{
    (void)key;
    if (!ctl_gpunode_equal(old, item)) /* not for a heartbeat alone */
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
        .free_item = free_item,
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
