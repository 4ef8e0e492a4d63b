#include "kube/kube_watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "kube/kube_retry.h"

/* ---- lines ------------------------------------------------------------ */

void kube_lines_init(struct kube_lines *l, size_t max_line)
{
    memset(l, 0, sizeof *l);
    l->max = max_line ? max_line : KUBE_WATCH_MAX_LINE;
}

void kube_lines_free(struct kube_lines *l)
{
    free(l->buf);
    memset(l, 0, sizeof *l);
}

void kube_lines_reset(struct kube_lines *l)
{
    l->len = 0;
}

static int emit(const char *s, size_t n, kube_line_fn fn, void *arg)
{
    if (n > 0 && s[n - 1] == '\r')
        n--;
    return n ? fn(arg, s, n) : 0;
}

static int append(struct kube_lines *l, const char *data, size_t n, struct err **err)
{
    if (l->len + n > l->max) {
        l->len = 0;
        return err_set(err, EFBIG, "watch: a line is longer than %zu bytes", l->max);
    }
    if (l->len + n > l->cap) {
        l->cap = l->len + n < 4096 ? 4096 : (l->len + n) * 2;
        if (l->cap > l->max)
            l->cap = l->max;
        l->buf = xrealloc(l->buf, l->cap);
    }
    memcpy(l->buf + l->len, data, n);
    l->len += n;
    return 0;
}

int kube_lines_feed(struct kube_lines *l, const char *data, size_t n, kube_line_fn fn, void *arg,
                    struct err **err)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        if (!nl)
            return append(l, data, n, err);
        size_t k = (size_t)(nl - data);
        int rc;
        if (l->len) {
            if (append(l, data, k, err) < 0)
                return -EFBIG;
            rc = emit(l->buf, l->len, fn, arg);
            l->len = 0;
        } else {
            rc = emit(data, k, fn, arg);
        }
        if (rc < 0)
            return rc;
        data += k + 1;
        n -= k + 1;
    }
    return 0;
}

/* ---- decoding --------------------------------------------------------- */

static const char *const ev_names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};

const char *kube_ev_name(enum kube_ev t)
{
    return (unsigned)t < 5 ? ev_names[t] : "UNKNOWN";
}

int kube_watch_decode(const char *line, size_t n, enum kube_ev *type, json_t **obj,
                      struct err **err)
{
    json_error_t je;
    json_t *root = json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return err_set(err, EPROTO, "watch event: %s", je.text);
    const char *t = json_string_value(json_object_get(root, "type"));
    json_t *o = json_object_get(root, "object");
    int rc = 0;
    int i = 0;
    for (; t && i < 5; i++)
        if (strcmp(t, ev_names[i]) == 0)
            break;
    if (!t || i == 5)
        rc = err_set(err, EPROTO, "watch event: unknown type '%s'", t ? t : "(none)");
    else if (!json_is_object(o))
        rc = err_set(err, EPROTO, "watch event %s: no object", t);
    else if (i != KUBE_EV_ERROR &&
             !json_is_string(json_object_get(json_object_get(o, "metadata"), "resourceVersion")))
        rc = err_set(err, EPROTO, "watch event %s: object without metadata.resourceVersion", t);
    if (rc == 0) {
        *type = (enum kube_ev)i;
        *obj = json_incref(o);
    }
    json_decref(root);
    return rc;
}

/* ---- the loop --------------------------------------------------------- */

enum wstate { W_IDLE, W_LISTING, W_WATCHING };

struct kube_watch {
    struct kube_client *c;
    struct kube_gvr gvr;
    char *group, *version, *resource, *ns, *labels, *fields;
    struct kube_watch_spec spec;
    struct kube_watch_handlers h;
    void *arg;
    enum wstate state;
    char *rv;
    char *cont;
    struct kube_http *req;
    struct kube_timer *timer;
    struct kube_lines lines;
    unsigned failures;
    bool want_relist;
    struct err *stream_err;
    struct kube_watch_stats stats;
};

static void list_page(struct kube_watch *w);
static void watch_now(struct kube_watch *w);

static void problem(struct kube_watch *w, const struct err *e)
{
    if (w->h.problem && e)
        w->h.problem(w->arg, e);
}

static void set_rv(struct kube_watch *w, const char *rv)
{
    if (!rv || (w->rv && strcmp(w->rv, rv) == 0))
        return;
    free(w->rv);
    w->rv = xstrdup(rv);
}

static void relist_timer(void *arg)
{
    struct kube_watch *w = arg;
    w->timer = NULL;
    free(w->cont);
    w->cont = NULL;
    w->state = W_LISTING;
    if (w->h.relist)
        w->h.relist(w->arg);
    list_page(w);
}

static void watch_timer(void *arg)
{
    struct kube_watch *w = arg;
    w->timer = NULL;
    watch_now(w);
}

static uint64_t next_backoff(struct kube_watch *w)
{
    return kube_backoff_ms(w->failures++, (uint64_t)w->spec.backoff_base_ms,
                           (uint64_t)w->spec.backoff_max_ms, kube_rand32());
}

/* Schedules a relist (now, or after a backoff when `failed`). */
static void relist_later(struct kube_watch *w, bool failed)
{
    w->state = W_IDLE;
    w->timer = kube_timer_add(w->c, failed ? next_backoff(w) : 0, relist_timer, w);
}

static void on_page(void *arg, json_t *page, const struct err *e)
{
    struct kube_watch *w = arg;
    w->req = NULL;
    if (e) {
        problem(w, e);
        if (e->code == KUBE_EGONE)
            w->stats.gone++;
        relist_later(w, e->code != KUBE_EGONE || !w->cont);
        return;
    }
    json_t *items = json_object_get(page, "items"), *it;
    size_t i;
    json_array_foreach(items, i, it)
    {
        if (json_is_object(it))
            w->h.object(w->arg, KUBE_EV_ADDED, it);
    }
    json_t *meta = json_object_get(page, "metadata");
    const char *next = json_string_value(json_object_get(meta, "continue"));
    free(w->cont);
    w->cont = next && *next ? xstrdup(next) : NULL;
    if (!w->cont)
        set_rv(w, json_string_value(json_object_get(meta, "resourceVersion")));
    json_decref(page);
    if (w->cont) {
        list_page(w);
        return;
    }
    w->stats.lists++;
    w->failures = 0;
    if (w->h.relisted)
        w->h.relisted(w->arg);
    watch_now(w);
}

static void list_page(struct kube_watch *w)
{
    struct kube_call k = {
        .gvr = &w->gvr,
        .ns = w->ns,
        .label_selector = w->labels,
        .field_selector = w->fields,
        .limit = w->spec.page_size,
        .cont = w->cont,
    };
    struct err *e = NULL;
    w->req = kube_send(w->c, KUBE_LIST, &k, NULL, on_page, w, &e);
    if (!w->req) { /* a malformed spec cannot heal: report and stay idle */
        problem(w, e);
        err_free(&e);
        w->state = W_IDLE;
    }
}

static int on_line(void *arg, const char *line, size_t n)
{
    struct kube_watch *w = arg;
    enum kube_ev t;
    json_t *o = NULL;
    if (kube_watch_decode(line, n, &t, &o, &w->stream_err) < 0)
        return -1;
    w->stats.events++;
    if (t == KUBE_EV_ERROR) {
        json_t *code = json_object_get(o, "code");
        if (json_integer_value(code) == 410) {
            w->stats.gone++;
            w->want_relist = true;
        }
        const char *msg = json_string_value(json_object_get(o, "message"));
        err_set(&w->stream_err, json_integer_value(code) == 410 ? KUBE_EGONE : EPROTO,
                "watch %s: ERROR event: %s", w->resource, msg ? msg : "(no message)");
        json_decref(o);
        return -1;
    }
    set_rv(w,
           json_string_value(json_object_get(json_object_get(o, "metadata"), "resourceVersion")));
    if (t != KUBE_EV_BOOKMARK)
        w->h.object(w->arg, t, o);
    w->failures = 0;
    json_decref(o);
    return 0;
}

static int on_data(void *arg, const char *data, size_t n)
{
    struct kube_watch *w = arg;
    return kube_lines_feed(&w->lines, data, n, on_line, w, &w->stream_err) < 0 ? -1 : 0;
}

static void on_watch_done(void *arg, long status, const char *body, size_t len, const struct err *e)
{
    struct kube_watch *w = arg;
    w->req = NULL;
    w->state = W_IDLE;
    struct err *mine = NULL;
    if (w->stream_err) {
        problem(w, w->stream_err);
        err_free(&w->stream_err);
    } else if (e) {
        problem(w, e);
    } else if (status >= 200 && status < 300) {
        w->timer = kube_timer_add(w->c, 0, watch_timer, w); /* clean end: resume at once */
        return;
    } else {
        kube_status_error(status, body, len, "watch", &mine);
        problem(w, mine);
        if (status == 410) {
            w->stats.gone++;
            w->want_relist = true;
        }
        err_free(&mine);
    }
    if (w->want_relist) {
        w->want_relist = false;
        relist_later(w, false);
        return;
    }
    w->timer = kube_timer_add(w->c, next_backoff(w), watch_timer, w);
}

static void watch_now(struct kube_watch *w)
{
    struct kube_call k = {.gvr = &w->gvr,
                          .ns = w->ns,
                          .label_selector = w->labels,
                          .field_selector = w->fields,
                          .resource_version = w->rv};
    char *base = NULL;
    struct err *e = NULL;
    if (kube_call_path(KUBE_LIST, &k, &base, &e) < 0) { /* cannot heal: report, stay idle */
        problem(w, e);
        err_free(&e);
        w->state = W_IDLE;
        return;
    }
    int min = w->spec.min_timeout_s;
    int tmo = min + (int)(kube_rand32() % (unsigned)(min + 1));
    size_t n = strlen(base) + 80;
    char *path = xmalloc(n);
    snprintf(path, n, "%s%cwatch=1&allowWatchBookmarks=true&timeoutSeconds=%d", base,
             strchr(base, '?') ? '&' : '?', tmo);
    free(base);
    kube_lines_reset(&w->lines);
    struct kube_http_req req = {
        .method = "GET", .path = path, .timeout_ms = -1, .on_data = on_data};
    w->state = W_WATCHING;
    w->stats.watches++;
    w->req = kube_http_start(w->c, &req, on_watch_done, w);
    free(path);
}

static char *dup0(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

struct kube_watch *kube_watch_start(struct kube_client *c, const struct kube_watch_spec *spec,
                                    const struct kube_watch_handlers *h, void *arg)
{
    struct kube_watch *w = xcalloc(1, sizeof *w);
    w->c = c;
    w->spec = *spec;
    w->group = dup0(spec->gvr->group);
    w->version = dup0(spec->gvr->version);
    w->resource = dup0(spec->gvr->resource);
    w->gvr = (struct kube_gvr){w->group, w->version, w->resource, spec->gvr->namespaced};
    w->ns = dup0(spec->ns);
    w->labels = dup0(spec->label_selector);
    w->fields = dup0(spec->field_selector);
    if (w->spec.page_size <= 0)
        w->spec.page_size = 500;
    if (w->spec.min_timeout_s <= 0)
        w->spec.min_timeout_s = 300;
    if (w->spec.backoff_base_ms <= 0)
        w->spec.backoff_base_ms = 250;
    if (w->spec.backoff_max_ms <= 0)
        w->spec.backoff_max_ms = 10000;
    w->h = *h;
    w->arg = arg;
    kube_lines_init(&w->lines, KUBE_WATCH_MAX_LINE);
    relist_later(w, false);
    return w;
}

void kube_watch_stop(struct kube_watch *w)
{
    if (!w)
        return;
    if (w->req)
        kube_http_cancel(w->c, w->req);
    if (w->timer)
        kube_timer_cancel(w->c, w->timer);
    kube_lines_free(&w->lines);
    err_free(&w->stream_err);
    free(w->group);
    free(w->version);
    free(w->resource);
    free(w->ns);
    free(w->labels);
    free(w->fields);
    free(w->rv);
    free(w->cont);
    free(w);
}

const char *kube_watch_rv(const struct kube_watch *w)
{
    return w->rv ? w->rv : "";
}

void kube_watch_stats(const struct kube_watch *w, struct kube_watch_stats *out)
{
    *out = w->stats;
}
