/* The ResourceClaim fields slicer uses and the writes it makes (resourceclaim.h). */
#include "objects/resourceclaim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "objects/resourceslice.h"

#define SELECTOR_HEAD   "device.attributes[\"" RSLICE_DRIVER "\"]"
#define SELECTOR_HEAD_1 "device.attributes['" RSLICE_DRIVER "']"

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static char *dup_or_empty(const char *s)
{
    return xstrdup(s ? s : "");
}

static bool is_set(const json_t *v)
{
    return v != NULL && !json_is_null(v);
}

/* Results of our driver; EINVAL when one is malformed or there are too many. */
static int parse_results(const json_t *results, struct rclaim *c, struct err **err)
{
    size_t n = json_array_size(results);
    if (n > RCLAIM_MAX_RESULTS)
        return err_set(err, EINVAL, "ResourceClaim %s/%s: %zu allocation results (at most %d)",
                       c->ns, c->name, n, RCLAIM_MAX_RESULTS);
    c->res = xcalloc(n ? n : 1, sizeof *c->res);
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(results, i);
        const char *drv = str(r, "driver");
        if (drv == NULL || strcmp(drv, RSLICE_DRIVER) != 0)
            continue;
        const char *req = str(r, "request"), *pool = str(r, "pool"), *dev = str(r, "device");
        if (!req || !pool || !dev || strlen(dev) >= RSLICE_NAME_MAX || strlen(pool) > 253 ||
            strlen(req) > 253)
            return err_set(err, EINVAL, "ResourceClaim %s/%s: allocation result %zu is malformed",
                           c->ns, c->name, i);
        c->res[c->nres++] = (struct rclaim_result){
            .request = xstrdup(req), .pool = xstrdup(pool), .device = xstrdup(dev)};
    }
    return 0;
}

static const char *skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n')
        s++;
    return s;
}

bool rclaim_selector_profile(const char *expr, char *buf, size_t cap)
{
    static const char *const heads[] = {SELECTOR_HEAD, SELECTOR_HEAD_1};
    static const char *const keys[] = {".profile", "[\"profile\"]", "['profile']"};
    const char *s = skip_space(expr);
    size_t h = 0, k = 0;
    while (h < 2 && strncmp(s, heads[h], strlen(heads[h])) != 0)
        h++;
    if (h == 2)
        return false;
    s += strlen(heads[h]);
    while (k < 3 && strncmp(s, keys[k], strlen(keys[k])) != 0)
        k++;
    if (k == 3)
        return false;
    s += strlen(keys[k]);
    s = skip_space(s);
    if (strncmp(s, "==", 2) != 0)
        return false;
    s = skip_space(s + 2);
    char q = *s;
    if (q != '"' && q != '\'')
        return false;
    const char *end = strchr(s + 1, q);
    size_t n = end ? (size_t)(end - s - 1) : 0;
    if (end == NULL || n == 0 || n >= cap || *skip_space(end + 1) != '\0')
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[1 + i] == '\\' || s[1 + i] == '"' || s[1 + i] == '\'')
            return false;
    memcpy(buf, s + 1, n);
    buf[n] = '\0';
    return true;
}

/* A request of our class, read into *r: plain when slicer's placement can serve it. */
static void parse_request(const char *name, const json_t *exactly, struct rclaim_request *r)
{
    r->name = xstrdup(name);
    r->profile = xstrdup("");
    const char *mode = str(exactly, "allocationMode");
    const json_t *count = json_object_get(exactly, "count");
    const json_t *sels = json_object_get(exactly, "selectors");
    json_int_t n = json_is_integer(count) ? json_integer_value(count) : 1;
    if ((mode && strcmp(mode, "ExactCount") != 0) || n < 1 || n > RCLAIM_MAX_RESULTS ||
        json_array_size(sels) != 1 || is_set(json_object_get(exactly, "adminAccess")))
        return;
    char profile[64];
    const char *expr = str(json_object_get(json_array_get(sels, 0), "cel"), "expression");
    if (expr == NULL || !rclaim_selector_profile(expr, profile, sizeof profile))
        return;
    free(r->profile);
    r->profile = xstrdup(profile);
    r->count = (unsigned)n;
    r->plain = true;
}

/* spec.devices.constraints: the one slicer's placement honours is every device on one
 * GPU (matchAttribute parentUUID over all `nreqs` requests); any other is `constrained`. */
static void parse_constraints(const json_t *list, size_t nreqs, struct rclaim *c)
{
    size_t i;
    const json_t *k;
    json_array_foreach(list, i, k)
    {
        const char *ma = str(k, "matchAttribute");
        size_t nr = json_array_size(json_object_get(k, "requests"));
        bool same = ma && strcmp(ma, RSLICE_DRIVER "/parentUUID") == 0 &&
                    (nr == 0 || nr == nreqs) && json_object_size(k) <= 2;
        if (same)
            c->same_gpu = true;
        else
            c->constrained = true;
    }
}

/* spec.devices.requests: ours kept, others noted as foreign. */
static int parse_requests(const json_t *devices, struct rclaim *c, struct err **err)
{
    const json_t *reqs = json_object_get(devices, "requests");
    size_t n = json_array_size(reqs);
    if (n > RCLAIM_MAX_REQUESTS)
        return err_set(err, EINVAL, "ResourceClaim %s/%s: %zu requests (at most %d)", c->ns,
                       c->name, n, RCLAIM_MAX_REQUESTS);
    c->req = xcalloc(n ? n : 1, sizeof *c->req);
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(reqs, i);
        const char *name = str(r, "name");
        const json_t *exactly = json_object_get(r, "exactly");
        const json_t *first = json_object_get(r, "firstAvailable");
        if (name == NULL || strlen(name) > 63)
            return err_set(err, EINVAL, "ResourceClaim %s/%s: request %zu has no valid name", c->ns,
                           c->name, i);
        if (is_set(first)) { /* ours when any alternative is of our class */
            bool ours = false;
            size_t k;
            const json_t *alt;
            json_array_foreach(first, k, alt)
            {
                const char *cls = str(alt, "deviceClassName");
                ours |= cls && strcmp(cls, RCLAIM_CLASS) == 0;
            }
            if (ours) {
                c->req[c->nreq] = (struct rclaim_request){xstrdup(name), xstrdup(""), 0, false};
                c->nreq++;
            } else {
                c->foreign = true;
            }
            continue;
        }
        const char *cls = str(exactly, "deviceClassName");
        if (cls == NULL || strcmp(cls, RCLAIM_CLASS) != 0) {
            c->foreign = true;
            continue;
        }
        parse_request(name, exactly, &c->req[c->nreq++]);
    }
    parse_constraints(json_object_get(devices, "constraints"), n, c);
    return 0;
}

int rclaim_parse(const json_t *obj, struct rclaim *out, struct err **err)
{
    memset(out, 0, sizeof *out);
    const json_t *md = json_object_get(obj, "metadata");
    const char *ns = str(md, "namespace"), *name = str(md, "name"), *uid = str(md, "uid");
    if (!ns || !name || !uid || strlen(ns) > 63 || strlen(name) > 253 || strlen(uid) > 63)
        return err_set(err, EINVAL, "not a ResourceClaim: metadata.namespace, name or uid");
    const json_t *status = json_object_get(obj, "status");
    const json_t *alloc = json_object_get(status, "allocation");
    const json_t *results = json_object_get(json_object_get(alloc, "devices"), "results");
    out->ns = xstrdup(ns);
    out->name = xstrdup(name);
    out->uid = xstrdup(uid);
    out->deleting = is_set(json_object_get(md, "deletionTimestamp"));
    out->allocated = is_set(alloc);
    const json_t *fins = json_object_get(md, "finalizers");
    size_t i;
    const json_t *r;
    out->has_finalizers = json_array_size(fins) > 0;
    json_array_foreach(fins, i, r)
    {
        out->finalizer |= json_is_string(r) && strcmp(json_string_value(r), RCLAIM_FINALIZER) == 0;
    }
    const json_t *reserved = json_object_get(status, "reservedFor");
    out->nreserved = json_array_size(reserved);
    json_array_foreach(reserved, i, r)
    {
        const char *res = str(r, "resource");
        if (res && strcmp(res, "pods") == 0 && out->pod_name == NULL) {
            out->pod_name = dup_or_empty(str(r, "name"));
            out->pod_uid = dup_or_empty(str(r, "uid"));
        }
    }
    if (out->pod_name == NULL) {
        out->pod_name = xstrdup("");
        out->pod_uid = xstrdup("");
    }
    int rc = parse_requests(json_object_get(json_object_get(obj, "spec"), "devices"), out, err);
    if (rc == 0)
        rc = parse_results(results, out, err);
    if (rc < 0) {
        rclaim_free(out);
        return rc;
    }
    if (out->nres == 0 && out->nreq == 0) { /* another driver's: its identity only */
        char *ns_ = out->ns, *name_ = out->name, *uid_ = out->uid;
        bool deleting = out->deleting;
        out->ns = out->name = out->uid = NULL;
        rclaim_free(out);
        *out = (struct rclaim){.ns = ns_,
                               .name = name_,
                               .uid = uid_,
                               .deleting = deleting,
                               .pod_name = xstrdup(""),
                               .pod_uid = xstrdup(""),
                               .foreign = true};
        return 0;
    }
    return 1;
}

void rclaim_free(struct rclaim *c)
{
    for (size_t i = 0; i < c->nres; i++) {
        free(c->res[i].request);
        free(c->res[i].pool);
        free(c->res[i].device);
    }
    for (size_t i = 0; i < c->nreq; i++) {
        free(c->req[i].name);
        free(c->req[i].profile);
    }
    free(c->req);
    free(c->res);
    free(c->ns);
    free(c->name);
    free(c->uid);
    free(c->pod_name);
    free(c->pod_uid);
    memset(c, 0, sizeof *c);
}

bool rclaim_placeable(const struct rclaim *c)
{
    if (c->allocated || c->deleting || c->constrained || c->foreign || c->nreq == 0)
        return false;
    for (size_t i = 0; i < c->nreq; i++)
        if (!c->req[i].plain)
            return false;
    return true;
}

/* ---- writes --------------------------------------------------------------------------- */

json_t *rclaim_allocation_patch(const char *uid, const char *rv, const char *node,
                                const struct rclaim_pick *picks, size_t n, const char *pod_name,
                                const char *pod_uid)
{
    json_t *results = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(results, json_pack("{s:s, s:s, s:s, s:s}", "request",
                                                 picks[i].request, "driver", RSLICE_DRIVER, "pool",
                                                 node, "device", picks[i].device));
    return json_pack("{s:{s:s, s:s}, s:{s:{s:{s:o}, s:{s:[{s:[{s:s, s:s, s:[s]}]}]}},"
                     " s:[{s:s, s:s, s:s}]}}",
                     "metadata", "uid", uid, "resourceVersion", rv, "status", "allocation",
                     "devices", "results", results, "nodeSelector", "nodeSelectorTerms",
                     "matchFields", "key", "metadata.name", "operator", "In", "values", node,
                     "reservedFor", "resource", "pods", "name", pod_name, "uid", pod_uid);
}

json_t *rclaim_deallocation_patch(const char *uid, const char *rv)
{
    return json_pack("{s:{s:s, s:s}, s:{s:n, s:n}}", "metadata", "uid", uid, "resourceVersion", rv,
                     "status", "allocation", "reservedFor");
}

json_t *rclaim_finalizer_patch(const char *uid, const char *rv, bool has_finalizers)
{
    json_t *add = has_finalizers ? json_pack("{s:s, s:s, s:s}", "op", "add", "path",
                                             "/metadata/finalizers/-", "value", RCLAIM_FINALIZER)
                                 : json_pack("{s:s, s:s, s:[s]}", "op", "add", "path",
                                             "/metadata/finalizers", "value", RCLAIM_FINALIZER);
    return json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}, o]", "op", "test", "path", "/metadata/uid",
                     "value", uid, "op", "test", "path", "/metadata/resourceVersion", "value", rv,
                     add);
}

json_t *rclaim_template_build(const char *ns, const char *name, const char *profile, unsigned count)
{
    char expr[128];
    snprintf(expr, sizeof expr, SELECTOR_HEAD ".profile == \"%s\"", profile);
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:{s:{s:[{s:s, s:{s:s, s:[{s:{s:s}}],"
                     " s:s, s:i}}]}}}}",
                     "apiVersion", "resource.k8s.io/v1", "kind", "ResourceClaimTemplate",
                     "metadata", "name", name, "namespace", ns, "labels", "slicer.dev/managed",
                     "true", "spec", "spec", "devices", "requests", "name", "mig", "exactly",
                     "deviceClassName", RCLAIM_CLASS, "selectors", "cel", "expression", expr,
                     "allocationMode", "ExactCount", "count", (int)count);
}
