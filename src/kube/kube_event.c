#include "kube/kube_event.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "kube/kube_lease.h"
#include "kube/kube_req.h"

/* One remembered event: what identifies it, and where it lives. */
struct tracked {
    char *key; /* the identity of the event (NULL: slot free) */
    char *ns, *name;
    int count;
    uint64_t last_ms;
    char last_micro[40];
    struct kube_http *req;
    bool created, dirty;
    struct kube_recorder *r;
};

struct kube_recorder {
    struct kube_client *c;
    char *controller, *instance;
    struct tracked slots[KUBE_EVENT_TRACKED];
    struct kube_recorder_stats stats;
};

struct kube_recorder *kube_recorder_new(struct kube_client *c, const char *controller,
                                        const char *instance)
{
    struct kube_recorder *r = xcalloc(1, sizeof *r);
    r->c = c;
    r->controller = xstrndup(controller, 128);
    r->instance = xstrndup(instance, 128);
    for (size_t i = 0; i < KUBE_EVENT_TRACKED; i++)
        r->slots[i].r = r;
    return r;
}

static void clear_slot(struct tracked *t)
{
    if (t->req)
        kube_http_cancel(t->r->c, t->req);
    free(t->key);
    free(t->ns);
    free(t->name);
    struct kube_recorder *r = t->r;
    memset(t, 0, sizeof *t);
    t->r = r;
}

void kube_recorder_free(struct kube_recorder *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < KUBE_EVENT_TRACKED; i++)
        clear_slot(&r->slots[i]);
    free(r->controller);
    free(r->instance);
    free(r);
}

static void send_series(struct tracked *t);

static void on_written(void *arg, json_t *obj, const struct err *e)
{
    struct tracked *t = arg;
    json_decref(obj);
    t->req = NULL;
    if (e) {
        t->r->stats.failed++;
        log_warn("event %s/%s: %s", t->ns, t->name, err_msg(e));
    } else if (!t->created) {
        t->created = true;
        t->r->stats.created++;
    } else {
        t->r->stats.patched++;
    }
    if (t->created && t->dirty)
        send_series(t);
}

static void send_series(struct tracked *t)
{
    t->dirty = false;
    json_t *patch =
        json_pack("{s:{s:i, s:s}}", "series", "count", t->count, "lastObservedTime", t->last_micro);
    struct kube_call k = {.gvr = &KUBE_EVENTS, .ns = t->ns, .name = t->name};
    t->req = kube_send(t->r->c, KUBE_PATCH_MERGE, &k, patch, on_written, t, NULL);
    json_decref(patch);
}

static json_t *ref_json(const struct kube_event_ref *ref)
{
    json_t *o = json_object();
    const char *keys[] = {"apiVersion", "kind", "namespace", "name", "uid"};
    const char *vals[] = {ref->api_version, ref->kind, ref->ns, ref->name, ref->uid};
    for (size_t i = 0; i < 5; i++)
        if (vals[i])
            json_object_set_new(o, keys[i], json_string(vals[i]));
    return o;
}

static void send_create(struct kube_recorder *r, struct tracked *t,
                        const struct kube_event_ref *ref, enum kube_event_type type,
                        const char *reason, const char *action, const char *note)
{
    json_t *ev = json_pack(
        "{s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "apiVersion",
        "events.k8s.io/v1", "kind", "Event", "metadata", "name", t->name, "namespace", t->ns,
        "eventTime", t->last_micro, "reportingController", r->controller, "reportingInstance",
        r->instance, "action", action, "reason", reason, "note", note, "type",
        type == KUBE_EVENT_WARNING ? "Warning" : "Normal", "regarding", ref_json(ref));
    struct kube_call k = {.gvr = &KUBE_EVENTS, .ns = t->ns};
    t->req = kube_send(r->c, KUBE_CREATE, &k, ev, on_written, t, NULL);
    json_decref(ev);
}

/* The slot remembering `key`, or a free / least recently used one. */
static struct tracked *slot_for(struct kube_recorder *r, const char *key, uint64_t now)
{
    struct tracked *lru = &r->slots[0];
    for (size_t i = 0; i < KUBE_EVENT_TRACKED; i++) {
        struct tracked *t = &r->slots[i];
        if (t->key && strcmp(t->key, key) == 0) {
            if (now - t->last_ms <= KUBE_EVENT_SERIES_WINDOW_MS)
                return t;
            clear_slot(t);
            return t;
        }
        if (!t->key || (lru->key && t->last_ms < lru->last_ms))
            lru = t;
    }
    if (lru->key)
        clear_slot(lru);
    return lru;
}

void kube_event_emit(struct kube_recorder *r, const struct kube_event_ref *ref,
                     enum kube_event_type type, const char *reason, const char *action,
                     const char *fmt, ...)
{
    char note[KUBE_EVENT_NOTE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(note, sizeof note, fmt, ap);
    va_end(ap);
    char key[2048];
    snprintf(key, sizeof key, "%s\n%s\n%s\n%s\n%d\n%s\n%s\n%s", ref->kind ? ref->kind : "",
             ref->ns ? ref->ns : "", ref->name ? ref->name : "", ref->uid ? ref->uid : "", type,
             reason, action, note);
    uint64_t now = kube_now_ms();
    struct tracked *t = slot_for(r, key, now);
    t->last_ms = now;
    kube_micro_time(t->last_micro, sizeof t->last_micro);
    if (t->key) { /* a repeat: fold into the series */
        t->count++;
        r->stats.folded++;
        t->dirty = true;
        if (t->created && !t->req)
            send_series(t);
        return;
    }
    t->key = xstrdup(key);
    t->ns = xstrdup(ref->ns ? ref->ns : "default");
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char name[300];
    snprintf(name, sizeof name, "%.200s.%llx", ref->name ? ref->name : "object",
             (unsigned long long)tv.tv_sec * 1000000000ull + (unsigned long long)tv.tv_usec * 1000);
    t->name = xstrdup(name);
    t->count = 1;
    send_create(r, t, ref, type, reason, action, note);
}

void kube_recorder_stats(const struct kube_recorder *r, struct kube_recorder_stats *out)
{
    *out = r->stats;
}

bool kube_recorder_busy(const struct kube_recorder *r)
{
    for (size_t i = 0; i < KUBE_EVENT_TRACKED; i++)
        if (r->slots[i].req || (r->slots[i].dirty && r->slots[i].created))
            return true;
    return false;
}
