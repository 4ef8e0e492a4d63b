/* mutate — the admission decision for one pod (mutate.h). */
#include "webhook/mutate.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/jsonptr.h"
#include "core/catalog.h"
#include "core/resname.h"

/* One container's MIG asks, found while checking it. */
struct asks {
    unsigned slices;
    json_t *limits, *requests; /* rewritten copies; NULL when the container had none */
};

/* The walk over the pod: where we are and what we found. */
struct walk {
    const struct mutate_offer *offer;
    struct mutate_result *out;
    const char *kind; /* "container" or "init container" */
    const char *name; /* the container's name */
};

__attribute__((format(printf, 2, 3))) static bool deny(struct walk *w, const char *fmt, ...)
{
    char *msg = w->out->message;
    int n = snprintf(msg, MUTATE_MSG_MAX, "%s '%s': ", w->kind, w->name);
    if (n >= 0 && n < MUTATE_MSG_MAX) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg + n, MUTATE_MSG_MAX - (size_t)n, fmt, ap);
        va_end(ap);
    }
    w->out->verdict = MUTATE_DENY;
    return false;
}

/* ---- profiles ------------------------------------------------------------------------ */

/* The offered profile whose resource suffix is `suffix`, or NULL. */
static const char *offered_profile(const struct mutate_offer *offer, const char *suffix)
{
    if (offer == NULL || offer->names == NULL)
        return res_catalog_profile(suffix);
    for (size_t i = 0; i < offer->n; i++)
        if (res_suffix_is(suffix, offer->names[i]))
            return offer->names[i];
    return NULL;
}

static bool listed(const char *buf, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = buf; (p = strstr(p, name)) != NULL; p += n)
        if ((p == buf || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

static void append_name(char *buf, size_t cap, const char *name)
{
    size_t len = strlen(buf);
    if (listed(buf, name) || len + strlen(name) + 3 >= cap)
        return;
    snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", name);
}

/* "1g.5gb, 1g.10gb, ..." of the offer (distinct names, in order), as resource suffixes. */
static void offer_list(const struct mutate_offer *offer, char *buf, size_t cap)
{
    char suffix[RES_NAME_MAX];
    buf[0] = '\0';
    if (offer != NULL && offer->names != NULL) {
        for (size_t i = 0; i < offer->n; i++)
            if (res_profile_suffix(offer->names[i], suffix, sizeof suffix))
                append_name(buf, cap, suffix);
        return;
    }
    for (size_t m = 0; m < cat_gpu_count(); m++)
        for (unsigned p = 0; p < cat_gpu_at(m)->nprofiles; p++)
            if (res_profile_suffix(cat_gpu_at(m)->profiles[p].name, suffix, sizeof suffix))
                append_name(buf, cap, suffix);
}

/* ---- one container --------------------------------------------------------------------- */

/* A quantity that is a whole number 1..MUTATE_MAX_COUNT: digits only ("2"), or a
 * JSON integer. Returns 0 for anything else. */
static unsigned parse_count(const json_t *q)
{
    if (json_is_integer(q)) {
        json_int_t v = json_integer_value(q);
        return v >= 1 && v <= MUTATE_MAX_COUNT ? (unsigned)v : 0;
    }
    const char *s = json_string_value(q);
    if (s == NULL || s[0] == '\0' || strlen(s) > 4)
        return 0;
    unsigned v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        v = v * 10 + (unsigned)(*p - '0');
    }
    return v >= 1 && v <= MUTATE_MAX_COUNT ? v : 0;
}

static bool is_prefixed(const char *key, const char *prefix)
{
    return strncmp(key, prefix, strlen(prefix)) == 0;
}

/* Refuses slicer's own resource in limits or requests. */
static bool no_slicer_resource(struct walk *w, const json_t *obj, const char *where)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        if (is_prefixed(key, RES_SLICER_PREFIX))
            return deny(w,
                        "%s asks for %s itself: slicer hands out those; ask for "
                        "nvidia.com/mig-<profile> instead",
                        where, key);
    }
    return true;
}

/* Checks one nvidia.com/mig-<p> limit and counts its slices in a->slices. */
static bool take_limit(struct walk *w, struct asks *a, const char *key, const json_t *value,
                       const json_t *requests)
{
    const char *suffix = key + strlen(RES_NVIDIA_PREFIX);
    const char *profile = offered_profile(w->offer, suffix);
    if (profile == NULL) {
        char list[MUTATE_MSG_MAX / 2];
        offer_list(w->offer, list, sizeof list);
        if (res_catalog_profile(suffix) != NULL)
            return deny(w, "no GPU in this cluster offers MIG profile '%s' (%s); it offers: %s",
                        suffix, key, list);
        return deny(w, "unknown MIG profile '%s' (%s); this cluster offers: %s", suffix, key, list);
    }
    unsigned n = parse_count(value);
    if (n == 0) {
        const char *s = json_string_value(value);
        return deny(w, "%s must be a whole number from 1 to %d, not '%s'", key, MUTATE_MAX_COUNT,
                    s ? s : "(not a string)");
    }
    const json_t *req = requests ? json_object_get(requests, key) : NULL;
    if (req != NULL && parse_count(req) != n)
        return deny(w,
                    "requests and limits of %s differ: MIG slices cannot be overcommitted, "
                    "give the same count in both (or only in limits)",
                    key);
    a->slices += n;
    return true;
}

/* Copies `from` into a new object with nvidia.com/mig-* keys renamed. */
static json_t *renamed(const json_t *from, const struct mutate_offer *offer)
{
    json_t *to = json_object();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)from, key, v)
    {
        char name[RES_NAME_MAX];
        const char *profile = is_prefixed(key, RES_NVIDIA_PREFIX)
                                  ? offered_profile(offer, key + strlen(RES_NVIDIA_PREFIX))
                                  : NULL;
        if (profile && res_name(RES_SLICER_PREFIX, profile, name, sizeof name))
            json_object_set(to, name, v);
        else
            json_object_set(to, key, v);
    }
    return to;
}

/* Validates the container's resources and fills *a. False: denied. */
static bool check_container(struct walk *w, const json_t *c, struct asks *a)
{
    const json_t *res = json_object_get(c, "resources");
    const json_t *limits = json_object_get(res, "limits");
    const json_t *requests = json_object_get(res, "requests");
    if ((limits && !no_slicer_resource(w, limits, "limits")) ||
        (requests && !no_slicer_resource(w, requests, "requests")))
        return false;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)requests, key, v)
    {
        if (is_prefixed(key, RES_NVIDIA_PREFIX) && json_object_get(limits, key) == NULL)
            return deny(w,
                        "%s is in requests but not in limits: extended resources go in "
                        "limits (requests may repeat the same count)",
                        key);
    }
    json_object_foreach((json_t *)limits, key, v)
    {
        if (is_prefixed(key, RES_NVIDIA_PREFIX) && !take_limit(w, a, key, v, requests))
            return false;
    }
    if (a->slices == 0)
        return true;
    a->limits = renamed(limits, w->offer);
    a->requests = requests ? renamed(requests, w->offer) : NULL;
    return true;
}

/* ---- the patch ----------------------------------------------------------------------- */

static void op_add(json_t *patch, const char *path, json_t *value)
{
    json_array_append_new(patch,
                          json_pack("{s:s, s:s, s:o}", "op", "add", "path", path, "value", value));
}

static json_t *env_with_devices(const json_t *env, const char *annotation, unsigned slices)
{
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach((json_t *)env, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "name"));
        if (name && (strcmp(name, "NVIDIA_VISIBLE_DEVICES") == 0 ||
                     strcmp(name, "CUDA_VISIBLE_DEVICES") == 0))
            continue;
        json_array_append(out, e);
    }
    char path[128], cuda[4 * MUTATE_MAX_COUNT]; /* "0,1,...,63" */
    snprintf(path, sizeof path, "metadata.annotations['%s']", annotation);
    size_t len = 0;
    for (unsigned k = 0; k < slices && len < sizeof cuda; k++)
        len += (size_t)snprintf(cuda + len, sizeof cuda - len, "%s%u", k ? "," : "", k);
    json_array_append_new(out, json_pack("{s:s, s:{s:{s:s}}}", "name", "NVIDIA_VISIBLE_DEVICES",
                                         "valueFrom", "fieldRef", "fieldPath", path));
    json_array_append_new(out,
                          json_pack("{s:s, s:s}", "name", "CUDA_VISIBLE_DEVICES", "value", cuda));
    return out;
}

/* Adds the container's ops to the patch. `list` is "containers" or "initContainers". */
static void patch_container(json_t *patch, const char *list, size_t i, const json_t *c,
                            struct asks *a)
{
    char path[128], annotation[96];
    /* A container with MIG asks has resources.limits: replace the whole object. */
    snprintf(path, sizeof path, "/spec/%s/%zu/resources/limits", list, i);
    op_add(patch, path, json_incref(a->limits));
    if (a->requests) {
        snprintf(path, sizeof path, "/spec/%s/%zu/resources/requests", list, i);
        op_add(patch, path, json_incref(a->requests));
    }
    snprintf(annotation, sizeof annotation, "%s%zu",
             strcmp(list, "containers") == 0 ? MUTATE_ANNOTATION : MUTATE_ANNOTATION_INIT, i);
    snprintf(path, sizeof path, "/spec/%s/%zu/env", list, i);
    op_add(patch, path, env_with_devices(json_object_get(c, "env"), annotation, a->slices));
}

static bool has_gate(const json_t *gates)
{
    size_t i;
    json_t *g;
    json_array_foreach((json_t *)gates, i, g)
    {
        const char *name = json_string_value(json_object_get(g, "name"));
        if (name && strcmp(name, MUTATE_GATE) == 0)
            return true;
    }
    return false;
}

/* The gate and the label. */
static void patch_pod(json_t *patch, const json_t *pod)
{
    const json_t *gates = json_object_get(json_object_get(pod, "spec"), "schedulingGates");
    if (!json_is_array(gates))
        op_add(patch, "/spec/schedulingGates", json_pack("[{s:s}]", "name", MUTATE_GATE));
    else if (!has_gate(gates))
        op_add(patch, "/spec/schedulingGates/-", json_pack("{s:s}", "name", MUTATE_GATE));
    const json_t *meta = json_object_get(pod, "metadata");
    char path[128], key[64];
    if (!json_is_object(json_object_get(meta, "labels"))) {
        op_add(patch, "/metadata/labels", json_pack("{s:s}", MUTATE_LABEL, "true"));
        return;
    }
    jsonptr_escape(key, sizeof key, MUTATE_LABEL);
    snprintf(path, sizeof path, "/metadata/labels/%s", key);
    op_add(patch, path, json_string("true"));
}

/* ---- the pod ------------------------------------------------------------------------- */

static bool walk_list(struct walk *w, const json_t *pod, const char *list, json_t *patch)
{
    const json_t *arr = json_object_get(json_object_get(pod, "spec"), list);
    size_t i;
    json_t *c;
    w->kind = strcmp(list, "containers") == 0 ? "container" : "init container";
    json_array_foreach((json_t *)arr, i, c)
    {
        struct asks a = {0};
        w->name = json_string_value(json_object_get(c, "name"));
        if (w->name == NULL)
            w->name = "";
        bool ok = check_container(w, c, &a);
        if (ok && a.slices > 0) {
            patch_container(patch, list, i, c, &a);
            w->out->slices += a.slices;
        }
        json_decref(a.limits);
        json_decref(a.requests);
        if (!ok)
            return false;
    }
    return true;
}

void mutate_pod(const json_t *pod, const struct mutate_offer *offer, struct mutate_result *out)
{
    memset(out, 0, sizeof *out);
    struct walk w = {.offer = offer, .out = out};
    json_t *patch = json_array();
    if (!json_is_object(pod) || !json_is_object(json_object_get(pod, "spec"))) {
        snprintf(out->message, sizeof out->message, "the request holds no pod with a spec");
        out->verdict = MUTATE_DENY;
    } else if (walk_list(&w, pod, "initContainers", patch) &&
               walk_list(&w, pod, "containers", patch) && out->slices > 0) {
        patch_pod(patch, pod);
        out->verdict = MUTATE_PATCH;
        out->patch = patch;
        return;
    }
    json_decref(patch);
    if (out->verdict != MUTATE_DENY)
        out->verdict = MUTATE_PASS;
}

void mutate_result_free(struct mutate_result *r)
{
    json_decref(r->patch);
    r->patch = NULL;
}
