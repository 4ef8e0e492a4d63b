/* mutate — the admission decision for one pod (mutate.h). */
#include "webhook/mutate.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/jsonptr.h"
#include "core/catalog.h"
#include "core/resname.h"

/* The walk over the pod: where we are and what we found. */
struct walk {
    const struct mutate_offer *offer;
    enum mutate_handoff handoff;
    struct mutate_result *out;
    const json_t *pod_claims; /* the pod's own spec.resourceClaims, or NULL */
    json_t *claims;           /* MUTATE_DRA: the entries to add to spec.resourceClaims */
    const char *kind;         /* "container" or "init container" */
    const char *name;         /* the container's name */
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

/* Checks one nvidia.com/mig-<p> limit and adds its slices to *slices. */
static bool take_limit(struct walk *w, unsigned *slices, const char *key, const json_t *value,
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
    *slices += n;
    return true;
}

/* Validates the container's resources and counts its slices in *slices (0: no
 * MIG asks). False: denied. */
static bool check_container(struct walk *w, const json_t *c, unsigned *slices)
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
        if (is_prefixed(key, RES_NVIDIA_PREFIX) && !take_limit(w, slices, key, v, requests))
            return false;
    }
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

/* MUTATE_ENV: the container's ops. `list` is "containers" or "initContainers". */
static void patch_env(struct walk *w, json_t *patch, const char *list, size_t i, const json_t *c,
                      unsigned slices)
{
    char path[128], annotation[96];
    const json_t *res = json_object_get(c, "resources");
    const json_t *requests = json_object_get(res, "requests");
    /* A container with MIG asks has resources.limits: replace the whole object. */
    snprintf(path, sizeof path, "/spec/%s/%zu/resources/limits", list, i);
    op_add(patch, path, renamed(json_object_get(res, "limits"), w->offer));
    if (requests) {
        snprintf(path, sizeof path, "/spec/%s/%zu/resources/requests", list, i);
        op_add(patch, path, renamed(requests, w->offer));
    }
    snprintf(annotation, sizeof annotation, "%s%zu",
             strcmp(list, "containers") == 0 ? MUTATE_ANNOTATION : MUTATE_ANNOTATION_INIT, i);
    snprintf(path, sizeof path, "/spec/%s/%zu/env", list, i);
    op_add(patch, path, env_with_devices(json_object_get(c, "env"), annotation, slices));
}

/* ---- the DRA handoff ------------------------------------------------------------------ */

static void op_remove(json_t *patch, const char *path)
{
    json_array_append_new(patch, json_pack("{s:s, s:s}", "op", "remove", "path", path));
}

/* "/spec/<list>/<i>/resources/<field>/<key, escaped>" into buf[0..cap). */
static bool resource_path(char *buf, size_t cap, const char *list, size_t i, const char *field,
                          const char *key)
{
    char esc[RES_NAME_MAX * 2];
    if (jsonptr_escape(esc, sizeof esc, key) >= sizeof esc)
        return false;
    int n = snprintf(buf, cap, "/spec/%s/%zu/resources/%s/%s", list, i, field, esc);
    return n >= 0 && (size_t)n < cap;
}

static bool is_dns_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MUTATE_DNS_LABEL_MAX || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
            return false;
    return true;
}

/* "slicer-c0-1g-5gb", "slicer-i1-1g-5gb-plus-me": unique in the pod, since the
 * index names the container and the label (res_profile_label) the profile. */
static bool claim_name(const char *list, size_t i, const char *profile, char *buf, size_t cap)
{
    char label[RES_NAME_MAX];
    if (!res_profile_label(profile, label, sizeof label))
        return false;
    int n = snprintf(buf, cap, MUTATE_CLAIM_PREFIX "%c%zu-%s",
                     strcmp(list, "containers") == 0 ? 'c' : 'i', i, label);
    return n >= 0 && (size_t)n < cap && is_dns_label(buf);
}

static bool named_in(const json_t *arr, const char *name)
{
    size_t k;
    json_t *e;
    json_array_foreach((json_t *)arr, k, e)
    {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (n && strcmp(n, name) == 0)
            return true;
    }
    return false;
}

/* Adds the pod claim for `key` (an offered nvidia.com/mig-<p> with count n) to
 * w->claims and its name to `refs`. False: denied. */
static bool add_claim(struct walk *w, json_t *refs, const char *list, size_t i, const char *key,
                      unsigned n)
{
    const char *profile = offered_profile(w->offer, key + strlen(RES_NVIDIA_PREFIX));
    char name[MUTATE_DNS_LABEL_MAX + 1], tmpl[RES_NAME_MAX * 2];
    if (!claim_name(list, i, profile, name, sizeof name) ||
        !res_template_name(profile, n, tmpl, sizeof tmpl))
        return deny(w, "%s: no ResourceClaim name fits a DNS label for profile '%s'", key, profile);
    if (named_in(w->pod_claims, name) || named_in(w->claims, name))
        return deny(w,
                    "the pod already has a spec.resourceClaims entry named '%s', the name "
                    "slicer gives the claim for %s: rename that entry",
                    name, key);
    json_array_append_new(w->claims,
                          json_pack("{s:s, s:s}", "name", name, "resourceClaimTemplateName", tmpl));
    json_array_append_new(refs, json_pack("{s:s}", "name", name));
    return true;
}

/* MUTATE_DRA: the container's ops; its pod claims go to w->claims. False: denied. */
static bool patch_dra(struct walk *w, json_t *patch, const char *list, size_t i, const json_t *c)
{
    const json_t *res = json_object_get(c, "resources");
    const json_t *requests = json_object_get(res, "requests");
    json_t *refs = json_array();
    const char *key;
    json_t *v;
    char path[256];
    json_object_foreach(json_object_get(res, "limits"), key, v)
    {
        if (!is_prefixed(key, RES_NVIDIA_PREFIX))
            continue;
        if (!resource_path(path, sizeof path, list, i, "limits", key)) {
            json_decref(refs);
            return deny(w, "%s: the JSON Patch path does not fit", key);
        }
        if (!add_claim(w, refs, list, i, key, parse_count(v))) {
            json_decref(refs);
            return false;
        }
        op_remove(patch, path);
        if (json_object_get(requests, key) &&
            resource_path(path, sizeof path, list, i, "requests", key))
            op_remove(patch, path);
    }
    const json_t *mine = json_object_get(res, "claims");
    if (!json_is_array(mine)) {
        snprintf(path, sizeof path, "/spec/%s/%zu/resources/claims", list, i);
        op_add(patch, path, json_incref(refs));
    } else {
        size_t k;
        json_array_foreach(refs, k, v)
        {
            snprintf(path, sizeof path, "/spec/%s/%zu/resources/claims/-", list, i);
            op_add(patch, path, json_incref(v));
        }
    }
    json_decref(refs);
    return true;
}

/* MUTATE_DRA: the pod's resourceClaims, created or appended to. */
static void patch_pod_claims(json_t *patch, const json_t *pod_claims, json_t *claims)
{
    if (!json_is_array(pod_claims)) {
        op_add(patch, "/spec/resourceClaims", json_incref(claims));
        return;
    }
    size_t k;
    json_t *e;
    json_array_foreach(claims, k, e)
    {
        op_add(patch, "/spec/resourceClaims/-", json_incref(e));
    }
}

/* ---- the gate and the label ----------------------------------------------------------- */

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
    const json_t *labels = json_object_get(meta, "labels");
    const char *have = json_string_value(json_object_get(labels, MUTATE_LABEL));
    char path[128], key[64];
    if (have != NULL && strcmp(have, "true") == 0)
        return;
    if (!json_is_object(labels)) {
        op_add(patch, "/metadata/labels", json_pack("{s:s}", MUTATE_LABEL, "true"));
        return;
    }
    jsonptr_escape(key, sizeof key, MUTATE_LABEL);
    snprintf(path, sizeof path, "/metadata/labels/%s", key);
    op_add(patch, path, json_string("true"));
}

/* ---- the containers ------------------------------------------------------------------ */

static bool walk_list(struct walk *w, const json_t *pod, const char *list, json_t *patch)
{
    const json_t *arr = json_object_get(json_object_get(pod, "spec"), list);
    size_t i;
    json_t *c;
    w->kind = strcmp(list, "containers") == 0 ? "container" : "init container";
    json_array_foreach((json_t *)arr, i, c)
    {
        unsigned slices = 0;
        w->name = json_string_value(json_object_get(c, "name"));
        if (w->name == NULL)
            w->name = "";
        if (!check_container(w, c, &slices))
            return false;
        if (slices == 0)
            continue;
        if (w->handoff == MUTATE_DRA) {
            if (!patch_dra(w, patch, list, i, c))
                return false;
        } else {
            patch_env(w, patch, list, i, c, slices);
        }
        w->out->slices += slices;
    }
    return true;
}

/* ---- the users' own claims ------------------------------------------------------------ */

/* The pod's namespace: metadata.namespace, else the request's; NULL when neither. */
static const char *pod_namespace(const json_t *pod, const char *request_ns)
{
    const char *ns =
        json_string_value(json_object_get(json_object_get(pod, "metadata"), "namespace"));
    if (ns != NULL && ns[0] != '\0')
        return ns;
    return request_ns != NULL && request_ns[0] != '\0' ? request_ns : NULL;
}

/* The spec.resourceClaims entries that name a known claim or template. */
static unsigned count_own_claims(const json_t *pod, const json_t *pod_claims,
                                 const struct mutate_input *in)
{
    const char *ns = pod_namespace(pod, in->ns);
    if (in->handoff != MUTATE_DRA || in->claims == NULL || in->claims->known == NULL || ns == NULL)
        return 0;
    unsigned n = 0;
    size_t k;
    json_t *e;
    json_array_foreach((json_t *)pod_claims, k, e)
    {
        const char *claim = json_string_value(json_object_get(e, "resourceClaimName"));
        const char *tmpl = json_string_value(json_object_get(e, "resourceClaimTemplateName"));
        if ((claim && in->claims->known(in->claims->arg, MUTATE_CLAIM, ns, claim)) ||
            (tmpl && in->claims->known(in->claims->arg, MUTATE_TEMPLATE, ns, tmpl)))
            n++;
    }
    return n;
}

/* ---- the pod ------------------------------------------------------------------------- */

void mutate_pod_with(const json_t *pod, const struct mutate_input *in, struct mutate_result *out)
{
    memset(out, 0, sizeof *out);
    const json_t *spec = json_object_get(pod, "spec");
    struct walk w = {.offer = in->offer,
                     .handoff = in->handoff,
                     .out = out,
                     .pod_claims = json_object_get(spec, "resourceClaims"),
                     .claims = json_array()};
    json_t *patch = json_array();
    if (!json_is_object(pod) || !json_is_object(spec)) {
        snprintf(out->message, sizeof out->message, "the request holds no pod with a spec");
        out->verdict = MUTATE_DENY;
    } else if (walk_list(&w, pod, "initContainers", patch) &&
               walk_list(&w, pod, "containers", patch)) {
        out->own_claims = count_own_claims(pod, w.pod_claims, in);
        if (out->slices > 0 && in->handoff == MUTATE_DRA)
            patch_pod_claims(patch, w.pod_claims, w.claims);
        if (out->slices > 0 || out->own_claims > 0)
            patch_pod(patch, pod);
        if (json_array_size(patch) > 0) { /* empty: already gated and labelled */
            out->verdict = MUTATE_PATCH;
            out->patch = patch;
            json_decref(w.claims);
            return;
        }
    }
    json_decref(w.claims);
    json_decref(patch);
    if (out->verdict != MUTATE_DENY) {
        out->verdict = MUTATE_PASS;
        out->own_claims = 0;
    }
}

void mutate_pod_handoff(const json_t *pod, const struct mutate_offer *offer,
                        enum mutate_handoff handoff, struct mutate_result *out)
{
    struct mutate_input in = {.offer = offer, .handoff = handoff};
    mutate_pod_with(pod, &in, out);
}

void mutate_pod(const json_t *pod, const struct mutate_offer *offer, struct mutate_result *out)
{
    mutate_pod_handoff(pod, offer, MUTATE_ENV, out);
}

void mutate_result_free(struct mutate_result *r)
{
    json_decref(r->patch);
    r->patch = NULL;
}
