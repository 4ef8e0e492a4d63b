#include "kube/kube_lease.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "base/xalloc.h"
#include "kube/kube_req.h"
#include "kube/kube_retry.h"

static void copy(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strnlen(src, cap - 1) : 0;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static bool same_record(const struct kube_lease_record *a, const struct kube_lease_record *b)
{
    return strcmp(a->holder, b->holder) == 0 && a->duration_s == b->duration_s &&
           strcmp(a->acquire, b->acquire) == 0 && strcmp(a->renew, b->renew) == 0 &&
           a->transitions == b->transitions;
}

enum kube_lease_decision kube_lease_decide(const struct kube_lease_record *cur,
                                           struct kube_lease_observed *obs, const char *self,
                                           int duration_s, uint64_t now_ms, const char *now_micro,
                                           struct kube_lease_record *next)
{
    memset(next, 0, sizeof *next);
    copy(next->holder, sizeof next->holder, self);
    next->duration_s = duration_s;
    copy(next->acquire, sizeof next->acquire, now_micro);
    copy(next->renew, sizeof next->renew, now_micro);
    if (!cur)
        return KUBE_LEASE_CREATE;
    if (!obs->have || !same_record(&obs->rec, cur)) {
        obs->rec = *cur;
        obs->at_ms = now_ms;
        obs->have = true;
    }
    bool valid = obs->at_ms + (uint64_t)obs->rec.duration_s * 1000 > now_ms;
    bool leader = strcmp(obs->rec.holder, self) == 0;
    if (cur->holder[0] && valid && !leader)
        return KUBE_LEASE_FOLLOW;
    if (leader) {
        copy(next->acquire, sizeof next->acquire, cur->acquire);
        next->transitions = cur->transitions;
        return KUBE_LEASE_RENEW;
    }
    next->transitions = cur->transitions + 1;
    return KUBE_LEASE_TAKE;
}

void kube_micro_time(char *buf, size_t cap)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, cap, "%s.%06ldZ", base, (long)tv.tv_usec);
}

void kube_lease_from_json(const json_t *lease, struct kube_lease_record *rec)
{
    memset(rec, 0, sizeof *rec);
    json_t *spec = json_object_get(lease, "spec");
    copy(rec->holder, sizeof rec->holder,
         json_string_value(json_object_get(spec, "holderIdentity")));
    rec->duration_s = (int)json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
    copy(rec->acquire, sizeof rec->acquire,
         json_string_value(json_object_get(spec, "acquireTime")));
    copy(rec->renew, sizeof rec->renew, json_string_value(json_object_get(spec, "renewTime")));
    rec->transitions = (int)json_integer_value(json_object_get(spec, "leaseTransitions"));
}

static void set_time(json_t *spec, const char *key, const char *v)
{
    if (v[0])
        json_object_set_new(spec, key, json_string(v));
    else
        json_object_del(spec, key);
}

void kube_lease_to_json(json_t *lease, const struct kube_lease_record *rec)
{
    json_t *spec = json_object_get(lease, "spec");
    if (!json_is_object(spec)) {
        spec = json_object();
        json_object_set_new(lease, "spec", spec);
    }
    json_object_set_new(spec, "holderIdentity", json_string(rec->holder));
    json_object_set_new(spec, "leaseDurationSeconds", json_integer(rec->duration_s));
    set_time(spec, "acquireTime", rec->acquire);
    set_time(spec, "renewTime", rec->renew);
    json_object_set_new(spec, "leaseTransitions", json_integer(rec->transitions));
}

/* ---- the elector ---------------------------------------------------- */

enum lstate { L_CAMPAIGN, L_LEADING, L_STOPPED };

struct kube_lease {
    struct kube_client *c;
    struct kube_lease_opts o;
    char *ns, *name, *identity;
    enum lstate state;
    struct kube_lease_observed obs;
    uint64_t last_renew_ms, attempt_ms;
    struct kube_http *req;
    struct kube_timer *tick, *deadline;
    struct kube_lease_record next;
};

static void attempt(void *arg);

static void schedule_tick(struct kube_lease *l)
{
    uint64_t rp = (uint64_t)l->o.retry_period_ms;
    uint64_t jitter = l->state == L_CAMPAIGN ? kube_rand32() % (rp / 10 + 1) : 0;
    l->tick = kube_timer_add(l->c, rp + jitter, attempt, l);
}

static void lose(struct kube_lease *l)
{
    l->state = L_STOPPED;
    if (l->req)
        kube_http_cancel(l->c, l->req);
    l->req = NULL;
    if (l->tick)
        kube_timer_cancel(l->c, l->tick);
    if (l->deadline)
        kube_timer_cancel(l->c, l->deadline);
    l->tick = l->deadline = NULL;
    if (l->o.on_loss)
        l->o.on_loss(l->o.arg);
}

static void on_deadline(void *arg)
{
    struct kube_lease *l = arg;
    l->deadline = NULL;
    lose(l);
}

static void renewed(struct kube_lease *l)
{
    bool gained = l->state == L_CAMPAIGN;
    l->state = L_LEADING;
    l->last_renew_ms = l->attempt_ms;
    if (l->deadline)
        kube_timer_cancel(l->c, l->deadline);
    uint64_t now = kube_now_ms(), end = l->last_renew_ms + (uint64_t)l->o.renew_deadline_ms;
    l->deadline = kube_timer_add(l->c, end > now ? end - now : 0, on_deadline, l);
    if (gained && l->o.on_gain)
        l->o.on_gain(l->o.arg);
}

/* The outcome of one attempt: written (ok) or not. */
static void outcome(struct kube_lease *l, bool ok)
{
    if (ok) {
        l->obs.rec = l->next; /* client-go: setObservedRecord after a write */
        l->obs.at_ms = kube_now_ms();
        l->obs.have = true;
        renewed(l);
    } else if (l->state == L_LEADING &&
               kube_now_ms() - l->last_renew_ms > (uint64_t)l->o.renew_deadline_ms) {
        lose(l);
        return;
    }
    if (l->state != L_STOPPED)
        schedule_tick(l);
}

static void on_write(void *arg, json_t *obj, const struct err *e)
{
    struct kube_lease *l = arg;
    l->req = NULL;
    json_decref(obj);
    outcome(l, e == NULL);
}

static void write_record(struct kube_lease *l, enum kube_verb verb, json_t *lease)
{
    kube_lease_to_json(lease, &l->next);
    struct kube_call k = {.gvr = &KUBE_LEASES, .ns = l->ns, .name = l->name};
    l->req = kube_send(l->c, verb, &k, lease, on_write, l, NULL);
    if (!l->req)
        outcome(l, false);
}

static void on_get(void *arg, json_t *obj, const struct err *e)
{
    struct kube_lease *l = arg;
    l->req = NULL;
    if (e && e->code != ENOENT) {
        outcome(l, false);
        return;
    }
    struct kube_lease_record cur;
    if (obj)
        kube_lease_from_json(obj, &cur);
    char now[40];
    kube_micro_time(now, sizeof now);
    int dur = (l->o.lease_duration_ms + 999) / 1000;
    enum kube_lease_decision d = kube_lease_decide(obj ? &cur : NULL, &l->obs, l->identity, dur,
                                                   kube_now_ms(), now, &l->next);
    if (d == KUBE_LEASE_FOLLOW) {
        json_decref(obj);
        if (l->state == L_LEADING) { /* someone took it over: we are no longer leader */
            lose(l);
            return;
        }
        outcome(l, false);
        return;
    }
    if (d == KUBE_LEASE_CREATE) {
        json_t *lease =
            json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "coordination.k8s.io/v1", "kind",
                      "Lease", "metadata", "name", l->name, "namespace", l->ns);
        write_record(l, KUBE_CREATE, lease);
        json_decref(lease);
        return;
    }
    write_record(l, KUBE_UPDATE, obj); /* PUT with the GET's resourceVersion: 409 on races */
    json_decref(obj);
}

static void attempt(void *arg)
{
    struct kube_lease *l = arg;
    l->tick = NULL;
    l->attempt_ms = kube_now_ms();
    if (l->state == L_LEADING &&
        l->attempt_ms - l->last_renew_ms > (uint64_t)l->o.renew_deadline_ms) {
        lose(l);
        return;
    }
    struct kube_call k = {.gvr = &KUBE_LEASES, .ns = l->ns, .name = l->name};
    l->req = kube_send(l->c, KUBE_GET, &k, NULL, on_get, l, NULL);
    if (!l->req)
        outcome(l, false);
}

int kube_lease_start(struct kube_client *c, const struct kube_lease_opts *opts,
                     struct kube_lease **out, struct err **err)
{
    struct kube_lease_opts o = *opts;
    if (!o.ns || !o.name || !o.identity || !*o.identity ||
        strlen(o.identity) >= KUBE_LEASE_HOLDER_MAX)
        return err_set(err, EINVAL, "lease: namespace, name and identity are required");
    if (o.lease_duration_ms <= 0)
        o.lease_duration_ms = 15000;
    if (o.renew_deadline_ms <= 0)
        o.renew_deadline_ms = 10000;
    if (o.retry_period_ms <= 0)
        o.retry_period_ms = 2000;
    if (o.lease_duration_ms <= o.renew_deadline_ms ||
        o.renew_deadline_ms * 10 <= o.retry_period_ms * 12)
        return err_set(err, EINVAL,
                       "lease: need lease duration > renew deadline > 1.2 * retry "
                       "period");
    struct kube_lease *l = xcalloc(1, sizeof *l);
    l->c = c;
    l->o = o;
    l->ns = xstrdup(o.ns);
    l->name = xstrdup(o.name);
    l->identity = xstrdup(o.identity);
    l->o.ns = l->ns;
    l->o.name = l->name;
    l->o.identity = l->identity;
    l->tick = kube_timer_add(c, 0, attempt, l);
    *out = l;
    return 0;
}

void kube_lease_stop(struct kube_lease *l)
{
    if (!l)
        return;
    if (l->req)
        kube_http_cancel(l->c, l->req);
    if (l->tick)
        kube_timer_cancel(l->c, l->tick);
    if (l->deadline)
        kube_timer_cancel(l->c, l->deadline);
    free(l->ns);
    free(l->name);
    free(l->identity);
    free(l);
}

bool kube_lease_is_leader(const struct kube_lease *l)
{
    return l->state == L_LEADING &&
           kube_now_ms() - l->last_renew_ms <= (uint64_t)l->o.renew_deadline_ms;
}

int kube_lease_release(struct kube_lease *l, struct err **err)
{
    bool leading = kube_lease_is_leader(l);
    struct kube_client *c = l->c;
    /* kube_lease_stop frees l and its strings: keep copies for the calls below. */
    char *ns = xstrdup(l->ns), *name = xstrdup(l->name), *identity = xstrdup(l->identity);
    struct kube_call k = {.gvr = &KUBE_LEASES, .ns = ns, .name = name};
    kube_lease_stop(l);
    int rc = 0;
    json_t *obj = NULL;
    if (leading && (rc = kube_get(c, &k, &obj, err)) == 0) {
        struct kube_lease_record rec;
        kube_lease_from_json(obj, &rec);
        if (strcmp(rec.holder, identity) == 0) {
            rec.holder[0] = '\0';
            rec.duration_s = 1;
            kube_micro_time(rec.renew, sizeof rec.renew);
            kube_lease_to_json(obj, &rec);
            rc = kube_update(c, &k, obj, NULL, err);
        }
        json_decref(obj);
    }
    free(identity);
    free(name);
    free(ns);
    return rc;
}
