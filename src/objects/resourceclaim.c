/* The ResourceClaim fields slicer uses (resourceclaim.h). */
#include "objects/resourceclaim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "objects/resourceslice.h"

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static char *dup_or_empty(const char *s)
{
    return xstrdup(s ? s : "");
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

int rclaim_parse(const json_t *obj, struct rclaim *out, struct err **err)
{
    memset(out, 0, sizeof *out);
    const json_t *md = json_object_get(obj, "metadata");
    const char *ns = str(md, "namespace"), *name = str(md, "name"), *uid = str(md, "uid");
    if (!ns || !name || !uid || strlen(ns) > 63 || strlen(name) > 253 || strlen(uid) > 63)
        return err_set(err, EINVAL, "not a ResourceClaim: metadata.namespace, name or uid");
    const json_t *status = json_object_get(obj, "status");
    const json_t *results = json_object_get(
        json_object_get(json_object_get(status, "allocation"), "devices"), "results");
    if (!json_is_array(results))
        return 0;
    out->ns = xstrdup(ns);
    out->name = xstrdup(name);
    out->uid = xstrdup(uid);
    out->deleting = json_object_get(md, "deletionTimestamp") != NULL &&
                    !json_is_null(json_object_get(md, "deletionTimestamp"));
    const json_t *reserved = json_object_get(status, "reservedFor");
    size_t i;
    const json_t *r;
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
    int rc = parse_results(results, out, err);
    if (rc < 0 || out->nres == 0) {
        rclaim_free(out);
        return rc;
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
    free(c->res);
    free(c->ns);
    free(c->name);
    free(c->uid);
    free(c->pod_name);
    free(c->pod_uid);
    memset(c, 0, sizeof *c);
}
