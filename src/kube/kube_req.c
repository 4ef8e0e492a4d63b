#include "kube/kube_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonptr.h"
#include "base/xalloc.h"

const struct kube_gvr KUBE_PODS = {"", "v1", "pods", true};
const struct kube_gvr KUBE_NAMESPACES = {"", "v1", "namespaces", false};
const struct kube_gvr KUBE_CONFIGMAPS = {"", "v1", "configmaps", true};
const struct kube_gvr KUBE_NODES = {"", "v1", "nodes", false};
const struct kube_gvr KUBE_LEASES = {"coordination.k8s.io", "v1", "leases", true};
const struct kube_gvr KUBE_EVENTS = {"events.k8s.io", "v1", "events", true};

/* ---- a growing string ----------------------------------------------- */

struct sbuf {
    char *s;
    size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* Percent-encodes everything but RFC 3986 unreserved characters. */
static void sb_escaped(struct sbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            sb_add(b, (const char *)&ch, 1);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            sb_add(b, e, 3);
        }
    }
}

static void sb_query(struct sbuf *b, bool *first, const char *key, const char *val)
{
    if (!val)
        return;
    sb_str(b, *first ? "?" : "&");
    *first = false;
    sb_str(b, key);
    sb_str(b, "=");
    sb_escaped(b, val);
}

/* A path segment: names never contain '/', but refuse them to be sure. */
static int seg_ok(const char *s)
{
    return s && *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int base_path(struct sbuf *b, enum kube_verb verb, const struct kube_call *k,
                     struct err **err)
{
    const struct kube_gvr *r = k->gvr;
    if (!r || !seg_ok(r->version) || !seg_ok(r->resource))
        return err_set(err, EINVAL, "request without a valid group/version/resource");
    bool need_name = verb != KUBE_LIST && verb != KUBE_CREATE;
    if (need_name && !seg_ok(k->name))
        return err_set(err, EINVAL, "%s: a request on one object needs its name", r->resource);
    if (r->namespaced && !k->ns && verb != KUBE_LIST)
        return err_set(err, EINVAL, "%s is namespaced: the request needs a namespace", r->resource);
    if (r->group && *r->group) {
        sb_str(b, "/apis/");
        sb_str(b, r->group);
        sb_str(b, "/");
    } else {
        sb_str(b, "/api/");
    }
    sb_str(b, r->version);
    if (r->namespaced && k->ns) {
        if (!seg_ok(k->ns))
            return err_set(err, EINVAL, "bad namespace '%s'", k->ns);
        sb_str(b, "/namespaces/");
        sb_str(b, k->ns);
    }
    sb_str(b, "/");
    sb_str(b, r->resource);
    if (need_name) {
        sb_str(b, "/");
        sb_escaped(b, k->name);
        if (k->subresource) {
            if (!seg_ok(k->subresource))
                return err_set(err, EINVAL, "bad subresource '%s'", k->subresource);
            sb_str(b, "/");
            sb_str(b, k->subresource);
        }
    }
    return 0;
}

int kube_call_path(enum kube_verb verb, const struct kube_call *k, char **out, struct err **err)
{
    struct sbuf b = {0};
    if (base_path(&b, verb, k, err) < 0) {
        free(b.s);
        return -EINVAL;
    }
    bool first = true;
    char num[24];
    if (verb == KUBE_LIST) {
        sb_query(&b, &first, "labelSelector", k->label_selector);
        sb_query(&b, &first, "fieldSelector", k->field_selector);
        sb_query(&b, &first, "resourceVersion", k->resource_version);
        sb_query(&b, &first, "continue", k->cont);
        if (k->limit > 0) {
            snprintf(num, sizeof num, "%d", k->limit);
            sb_query(&b, &first, "limit", num);
        }
    }
    if (verb == KUBE_APPLY && !k->field_manager) {
        free(b.s);
        return err_set(err, EINVAL, "server-side apply needs a field manager");
    }
    if (verb != KUBE_GET && verb != KUBE_LIST) {
        sb_query(&b, &first, "fieldManager", k->field_manager);
        if (k->dry_run)
            sb_query(&b, &first, "dryRun", "All");
    }
    if (verb == KUBE_APPLY && k->force)
        sb_query(&b, &first, "force", "true");
    *out = b.s;
    return 0;
}

/* ---- status errors -------------------------------------------------- */

static int code_for(long status, const char *reason)
{
    switch (status) {
    case 400:
    case 422:
        return EINVAL;
    case 401:
        return EACCES;
    case 403:
        return EPERM;
    case 404:
        return ENOENT;
    case 409:
        return reason && strcmp(reason, "AlreadyExists") == 0 ? EEXIST : KUBE_ECONFLICT;
    case 410:
        return KUBE_EGONE;
    case 429:
        return EBUSY;
    case 504:
        return ETIMEDOUT;
    default:
        return status >= 500 ? EIO : EPROTO;
    }
}

int kube_status_error(long status, const char *body, size_t len, const char *what, struct err **err)
{
    json_t *st = len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *reason = json_string_value(json_object_get(st, "reason"));
    const char *msg = json_string_value(json_object_get(st, "message"));
    int code = code_for(status, reason);
    if (msg)
        err_set(err, code, "%s: %ld %s: %s", what, status, reason ? reason : "Error", msg);
    else
        err_set(err, code, "%s: HTTP %ld%s%.*s", what, status, len ? ": " : "",
                (int)(len > 200 ? 200 : len), body ? body : "");
    json_decref(st);
    return -code;
}

/* ---- sending -------------------------------------------------------- */

struct pending {
    kube_done_fn done;
    void *arg;
    char *what;
};

static void on_done(void *arg, long status, const char *body, size_t len, const struct err *e)
{
    struct pending *p = arg;
    struct err *mine = NULL;
    json_t *obj = NULL;
    if (e) {
        p->done(p->arg, NULL, e);
    } else if (status < 200 || status >= 300) {
        kube_status_error(status, body, len, p->what, &mine);
        p->done(p->arg, NULL, mine);
    } else {
        json_error_t je;
        obj = len ? json_loadb(body, len, 0, &je) : json_object();
        if (!obj) {
            err_set(&mine, EPROTO, "%s: response is not JSON: %s", p->what, je.text);
            p->done(p->arg, NULL, mine);
        } else {
            p->done(p->arg, obj, NULL);
        }
    }
    err_free(&mine);
    free(p->what);
    free(p);
}

static const char *method_of(enum kube_verb v)
{
    switch (v) {
    case KUBE_GET:
    case KUBE_LIST:
        return "GET";
    case KUBE_CREATE:
        return "POST";
    case KUBE_UPDATE:
        return "PUT";
    case KUBE_DELETE:
        return "DELETE";
    default:
        return "PATCH";
    }
}

static const char *ctype_of(enum kube_verb v)
{
    switch (v) {
    case KUBE_PATCH_MERGE:
        return "application/merge-patch+json";
    case KUBE_PATCH_JSON:
        return "application/json-patch+json";
    case KUBE_PATCH_STRATEGIC:
        return "application/strategic-merge-patch+json";
    case KUBE_APPLY:
        return "application/apply-patch+yaml";
    default:
        return "application/json";
    }
}

/* DELETE options go in the body (DeleteOptions). */
static json_t *delete_options(const struct kube_call *k)
{
    json_t *o = json_pack("{s:s, s:s}", "apiVersion", "v1", "kind", "DeleteOptions");
    if (k->propagation)
        json_object_set_new(o, "propagationPolicy", json_string(k->propagation));
    if (k->pre_uid || k->pre_rv) {
        json_t *pre = json_object();
        if (k->pre_uid)
            json_object_set_new(pre, "uid", json_string(k->pre_uid));
        if (k->pre_rv)
            json_object_set_new(pre, "resourceVersion", json_string(k->pre_rv));
        json_object_set_new(o, "preconditions", pre);
    }
    if (k->dry_run)
        json_object_set_new(o, "dryRun", json_pack("[s]", "All"));
    return o;
}

struct kube_http *kube_send(struct kube_client *c, enum kube_verb verb, const struct kube_call *k,
                            const json_t *body, kube_done_fn done, void *arg, struct err **err)
{
    char *path = NULL;
    if (kube_call_path(verb, k, &path, err) < 0)
        return NULL;
    json_t *opts = verb == KUBE_DELETE ? delete_options(k) : NULL;
    const json_t *payload = opts ? opts : body;
    bool needs_body = verb != KUBE_GET && verb != KUBE_LIST && verb != KUBE_DELETE;
    if (needs_body && !payload) {
        free(path);
        return err_set(err, EINVAL, "%s %s needs a body", method_of(verb), k->gvr->resource), NULL;
    }
    char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    json_decref(opts);
    struct pending *p = xmalloc(sizeof *p);
    p->done = done;
    p->arg = arg;
    size_t n = strlen(path) + 16;
    p->what = xmalloc(n);
    snprintf(p->what, n, "%s %s", method_of(verb), path);
    struct kube_http_req req = {
        .method = method_of(verb),
        .path = path,
        .content_type = text ? ctype_of(verb) : NULL,
        .body = text,
        .body_len = text ? strlen(text) : 0,
    };
    struct kube_http *h = kube_http_start(c, &req, on_done, p);
    free(text);
    free(path);
    return h;
}

struct sync_slot {
    bool done;
    json_t *obj;
    struct err *err;
};

static void sync_done(void *arg, json_t *obj, const struct err *e)
{
    struct sync_slot *s = arg;
    s->done = true;
    s->obj = obj;
    if (e)
        err_set(&s->err, e->code, "%s", e->msg);
}

int kube_send_sync(struct kube_client *c, enum kube_verb verb, const struct kube_call *call,
                   const json_t *body, json_t **out, struct err **err)
{
    struct sync_slot s = {0};
    if (!kube_send(c, verb, call, body, sync_done, &s, err))
        return -EINVAL;
    while (!s.done)
        if (kube_client_step(c, 200, err) < 0)
            return -EIO; /* the request stays owned by the client */
    if (s.err) {
        int code = s.err->code;
        if (err) {
            err_free(err);
            *err = s.err;
        } else {
            err_free(&s.err);
        }
        return -code;
    }
    if (out)
        *out = s.obj;
    else
        json_decref(s.obj);
    return 0;
}

int kube_get(struct kube_client *c, const struct kube_call *call, json_t **out, struct err **err)
{
    return kube_send_sync(c, KUBE_GET, call, NULL, out, err);
}

int kube_create(struct kube_client *c, const struct kube_call *call, const json_t *obj,
                json_t **out, struct err **err)
{
    return kube_send_sync(c, KUBE_CREATE, call, obj, out, err);
}

int kube_update(struct kube_client *c, const struct kube_call *call, const json_t *obj,
                json_t **out, struct err **err)
{
    return kube_send_sync(c, KUBE_UPDATE, call, obj, out, err);
}

int kube_delete(struct kube_client *c, const struct kube_call *call, struct err **err)
{
    return kube_send_sync(c, KUBE_DELETE, call, NULL, NULL, err);
}

int kube_patch(struct kube_client *c, enum kube_verb type, const struct kube_call *call,
               const json_t *patch, json_t **out, struct err **err)
{
    if (type < KUBE_PATCH_MERGE)
        return err_set(err, EINVAL, "kube_patch: not a patch type");
    return kube_send_sync(c, type, call, patch, out, err);
}

static int list_pages(struct kube_client *c, const struct kube_call *call, json_t *items, char **rv,
                      struct err **err)
{
    struct kube_call k = *call;
    if (k.limit <= 0)
        k.limit = 500;
    char *cont = NULL;
    for (;;) {
        json_t *page = NULL;
        k.cont = cont;
        int rc = kube_send_sync(c, KUBE_LIST, &k, NULL, &page, err);
        free(cont);
        cont = NULL;
        if (rc < 0)
            return rc;
        json_array_extend(items, json_object_get(page, "items"));
        json_t *meta = json_object_get(page, "metadata");
        const char *next = json_string_value(json_object_get(meta, "continue"));
        if (next && *next) {
            cont = xstrdup(next);
        } else {
            const char *v = json_string_value(json_object_get(meta, "resourceVersion"));
            if (rv)
                *rv = xstrdup(v ? v : "");
            json_decref(page);
            return 0;
        }
        json_decref(page);
    }
}

int kube_list(struct kube_client *c, const struct kube_call *call, json_t **items, char **rv,
              struct err **err)
{
    json_t *all = json_array();
    int rc = list_pages(c, call, all, rv, err);
    if (rc == -KUBE_EGONE) { /* continue token expired: start over once */
        json_array_clear(all);
        err_free(err);
        rc = list_pages(c, call, all, rv, err);
    }
    if (rc < 0) {
        json_decref(all);
        return rc;
    }
    *items = all;
    return 0;
}

/* ---- JSON patch helpers --------------------------------------------- */

void kube_jpatch_add(json_t *patch, const char *op, const char *const *segs, size_t n,
                     json_t *value)
{
    struct sbuf b = {0};
    sb_add(&b, "", 0);
    for (size_t i = 0; i < n; i++) {
        size_t need = jsonptr_escape(NULL, 0, segs[i]);
        char *tmp = xmalloc(need + 1);
        jsonptr_escape(tmp, need + 1, segs[i]);
        sb_str(&b, "/");
        sb_str(&b, tmp);
        free(tmp);
    }
    json_t *o = json_pack("{s:s, s:s}", "op", op, "path", b.s);
    if (value)
        json_object_set_new(o, "value", value);
    json_array_append_new(patch, o);
    free(b.s);
}
