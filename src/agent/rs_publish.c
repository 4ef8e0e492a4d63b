/* The node's ResourceSlices in the API server: list, then write one new
 * generation, then delete what is no longer wanted (rs_publish.h). */
#include "agent/rs_publish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "kube/kube_req.h"
#include "objects/resourceslice.h"

static const struct kube_gvr RESOURCESLICES = {"resource.k8s.io", "v1", "resourceslices", false};

#define BACKOFF_MIN 1000
#define BACKOFF_MAX 30000

struct rs_pub {
    struct kube_client *c;
    char *node;
    bool required;
    json_t *want;         /* the last set given (generation 0) */
    json_t *published;    /* what the API server holds, as far as we know (generation 0) */
    json_t *running_want; /* the set the run in flight writes */
    bool running, again, failed, failed_write, stopped;
    unsigned outstanding; /* writes of the current run */
    uint64_t retry_at, backoff;
    int64_t generation;
};

static void start_run(struct rs_pub *p);
static void on_write_done(struct rs_pub *p);

struct rs_pub *rs_pub_new(struct kube_client *c, const char *node, bool required)
{
    struct rs_pub *p = xcalloc(1, sizeof *p);
    p->c = c;
    p->node = xstrdup(node);
    p->required = required;
    p->backoff = BACKOFF_MIN;
    return p;
}

void rs_pub_free(struct rs_pub *p)
{
    if (!p)
        return;
    json_decref(p->want);
    json_decref(p->published);
    free(p->node);
    free(p);
}

bool rs_pub_busy(const struct rs_pub *p)
{
    return p && p->running;
}

/* True when the last set given is what the API server holds. */
static bool rs_pub_current(const struct rs_pub *p)
{
    return p && p->want && p->published && json_equal(p->want, p->published);
}

void rs_pub_set(struct rs_pub *p, json_t *slices)
{
    if (p->want && json_equal(p->want, slices)) {
        json_decref(slices);
        return;
    }
    json_decref(p->want);
    p->want = slices;
    if (p->stopped)
        return;
    if (p->running)
        p->again = true;
    else if (!p->failed) /* a failed run waits for its backoff: rs_pub_tick */
        start_run(p);
}

void rs_pub_tick(struct rs_pub *p)
{
    if (p->failed && !p->running && !p->stopped && kube_now_ms() >= p->retry_at) {
        p->failed = false;
        start_run(p);
    }
}

/* Ends a run: on failure, retry after the backoff; else publish a change that came in. */
static void end_run(struct rs_pub *p, bool ok)
{
    p->running = false;
    if (!ok) {
        p->failed = true;
        p->retry_at = kube_now_ms() + p->backoff;
        p->backoff = p->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : p->backoff * 2;
        return;
    }
    p->backoff = BACKOFF_MIN;
    if (p->again) {
        p->again = false;
        if (!rs_pub_current(p))
            start_run(p);
    }
}

/* ---- writes ---------------------------------------------------------------------------- */

struct write {
    struct rs_pub *p;
    bool del;
    char name[300];
    const char *verb;
};

static void on_write(void *arg, json_t *obj, const struct err *e)
{
    struct write *w = arg;
    struct rs_pub *p = w->p;
    json_decref(obj);
    if (e && !(w->del && e->code == ENOENT)) { /* a slice already gone is deleted */
        log_warn("ResourceSlice %s: %s: %s (retried)", w->name, w->verb, err_msg(e));
        p->failed_write = true;
    }
    free(w);
    on_write_done(p);
}

/* One write of the run ended (or, from write_all, every write was sent). */
static void on_write_done(struct rs_pub *p)
{
    if (--p->outstanding == 0) {
        bool ok = !p->failed_write;
        p->failed_write = false;
        if (ok) {
            json_decref(p->published);
            p->published = json_incref(p->running_want);
            log_info("ResourceSlices of node %s: generation %lld, %zu slice(s)", p->node,
                     (long long)p->generation, json_array_size(p->published));
        }
        json_decref(p->running_want);
        p->running_want = NULL;
        end_run(p, ok);
    }
}

/* Sends one write of the run; `body` is stolen. */
static void send(struct rs_pub *p, enum kube_verb verb, const char *name, json_t *body)
{
    static const char *const verbs[] = {
        [KUBE_CREATE] = "create", [KUBE_UPDATE] = "update", [KUBE_DELETE] = "delete"};
    struct write *w = xcalloc(1, sizeof *w);
    w->p = p;
    w->del = verb == KUBE_DELETE;
    w->verb = verbs[verb];
    snprintf(w->name, sizeof w->name, "%s", name);
    struct kube_call k = {.gvr = &RESOURCESLICES, .name = verb == KUBE_CREATE ? NULL : name};
    struct err *e = NULL;
    p->outstanding++;
    if (kube_send(p->c, verb, &k, body, on_write, w, &e) == NULL) {
        log_warn("ResourceSlice %s: %s: %s", name, w->verb, err_msg(e));
        err_free(&e);
        p->failed_write = true;
        free(w);
        p->outstanding--;
    }
    json_decref(body);
}

/* ---- the list, and what to write after it ----------------------------------------------- */

static int64_t generation_of(const json_t *obj)
{
    return json_integer_value(
        json_object_get(json_object_get(json_object_get(obj, "spec"), "pool"), "generation"));
}

/* `s` (borrowed) with its pool at generation `g`: a new object. */
static json_t *at_generation(const json_t *s, int64_t g)
{
    json_t *copy = json_deep_copy(s);
    json_object_set_new(json_object_get(json_object_get(copy, "spec"), "pool"), "generation",
                        json_integer(g));
    return copy;
}

static const char *name_of(const json_t *obj)
{
    const char *n = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    return n ? n : "";
}

static json_t *find(json_t *items, const char *name)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) if (strcmp(name_of(it), name) == 0) return it;
    return NULL;
}

/* The listed slices say exactly what `want` says, at one generation: nothing to write.
 * Compares spec and owner, not server-side metadata. */
static bool listed_current(json_t *items, const json_t *want, int64_t *gen)
{
    if (json_array_size(items) != json_array_size(want))
        return false;
    if (json_array_size(items) == 0) {
        *gen = 0;
        return true;
    }
    int64_t g = generation_of(json_array_get(items, 0));
    size_t i;
    json_t *w;
    json_array_foreach(want, i, w)
    {
        json_t *have = find(items, name_of(w));
        if (!have || generation_of(have) != g)
            return false;
        json_t *expect = at_generation(w, g);
        json_t *meta = json_object_get(have, "metadata");
        bool same =
            json_equal(json_object_get(expect, "spec"), json_object_get(have, "spec")) &&
            json_equal(json_object_get(json_object_get(expect, "metadata"), "ownerReferences"),
                       json_object_get(meta, "ownerReferences"));
        json_decref(expect);
        if (!same)
            return false;
    }
    *gen = g;
    return true;
}

static void write_all(struct rs_pub *p, json_t *items)
{
    int64_t g = p->generation;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) if (generation_of(it) > g) g = generation_of(it);
    p->generation = g + 1;
    p->outstanding = 1; /* held until every write is sent */
    json_t *w;
    json_array_foreach(p->running_want, i, w)
    {
        json_t *body = at_generation(w, p->generation);
        json_t *have = find(items, name_of(w));
        if (have) {
            const char *rv = json_string_value(
                json_object_get(json_object_get(have, "metadata"), "resourceVersion"));
            json_object_set_new(json_object_get(body, "metadata"), "resourceVersion",
                                json_string(rv ? rv : ""));
        }
        send(p, have ? KUBE_UPDATE : KUBE_CREATE, name_of(w), body);
    }
    json_array_foreach(items, i, it) if (!find(p->running_want, name_of(it)))
        send(p, KUBE_DELETE, name_of(it), NULL);
    on_write_done(p);
}

static void on_list(void *arg, json_t *obj, const struct err *e)
{
    struct rs_pub *p = arg;
    if (e && (e->code == ENOENT || e->code == EPERM) && !p->required) {
        /* No resource.k8s.io/v1 here (or no right to it): nothing of ours to clean up. */
        log_debug("ResourceSlices: the API server does not serve resource.k8s.io/v1");
        p->stopped = true;
        p->running = false;
        json_decref(p->running_want);
        p->running_want = NULL;
        json_decref(obj);
        return;
    }
    if (e) {
        log_warn("listing the ResourceSlices of node %s: %s%s (retried)", p->node, err_msg(e),
                 e->code == ENOENT ? " (the DRA handoff needs Kubernetes 1.34+, which serves "
                                     "resource.k8s.io/v1)"
                                   : "");
        json_decref(p->running_want);
        p->running_want = NULL;
        json_decref(obj);
        end_run(p, false);
        return;
    }
    json_t *items = json_object_get(obj, "items");
    int64_t g;
    if (listed_current(items, p->running_want, &g)) {
        p->generation = g;
        json_decref(p->published);
        p->published = p->running_want;
        p->running_want = NULL;
        log_info("ResourceSlices of node %s are current (generation %lld)", p->node, (long long)g);
        json_decref(obj);
        end_run(p, true);
        return;
    }
    write_all(p, items);
    json_decref(obj);
}

static void start_run(struct rs_pub *p)
{
    p->running = true;
    p->again = false;
    p->failed_write = false;
    p->running_want = json_incref(p->want);
    char fs[400];
    snprintf(fs, sizeof fs, "spec.nodeName=%s,spec.driver=%s", p->node, RSLICE_DRIVER);
    struct kube_call k = {.gvr = &RESOURCESLICES, .field_selector = fs};
    struct err *e = NULL;
    if (kube_send(p->c, KUBE_LIST, &k, NULL, on_list, p, &e) == NULL) {
        log_warn("listing the ResourceSlices of node %s: %s", p->node, err_msg(e));
        err_free(&e);
        json_decref(p->running_want);
        p->running_want = NULL;
        end_run(p, false);
    }
}
