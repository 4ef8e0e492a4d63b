/* kube_lease — leader election on a coordination.k8s.io/v1 Lease, with
 * client-go's algorithm (tools/leaderelection: tryAcquireOrRenew) and
 * fields (holderIdentity, leaseDurationSeconds, acquireTime, renewTime in
 * MicroTime, leaseTransitions).
 *
 * A lease held by someone else is valid until the local monotonic time at
 * which this process last saw the record change plus its
 * leaseDurationSeconds (never the remote renewTime: clock skew). The leader
 * renews every retry period and steps down when it has not renewed for
 * renew_deadline: on_loss then runs at once (from a timer, even if a request
 * hangs), and kube_lease_is_leader() turns false the moment the deadline
 * passes, even before the timer runs (e.g. in a process resumed after
 * SIGSTOP). After a loss the elector is stopped; a process that loses
 * leadership should stop acting and exit, as client-go's users do. */
#ifndef SLICER_KUBE_LEASE_H
#define SLICER_KUBE_LEASE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "kube/kube_http.h"

#define KUBE_LEASE_HOLDER_MAX 256

/* The election record, as read from / written to the Lease's spec. */
struct kube_lease_record {
    char holder[KUBE_LEASE_HOLDER_MAX];
    int duration_s;
    char acquire[40], renew[40]; /* MicroTime strings, "" when absent */
    int transitions;
};

/* What this process has seen (client-go: observedRecord, observedTime). */
struct kube_lease_observed {
    bool have;
    struct kube_lease_record rec;
    uint64_t at_ms; /* local monotonic time the record was last seen to change */
};

enum kube_lease_decision {
    KUBE_LEASE_CREATE, /* no Lease: create it with us as holder */
    KUBE_LEASE_TAKE,   /* write us as the new holder (transitions + 1) */
    KUBE_LEASE_RENEW,  /* we hold it: write a new renewTime */
    KUBE_LEASE_FOLLOW, /* someone else holds a valid lease */
};

/* The pure decision of one tryAcquireOrRenew. `cur` is the record read
 * from the API (NULL when the Lease does not exist). Updates *obs as
 * client-go does and, unless FOLLOW, fills *next with the record to write
 * (holder = self, duration_s = our lease duration, renew = now_micro,
 * acquire = now_micro unless renewing). */
enum kube_lease_decision kube_lease_decide(const struct kube_lease_record *cur,
                                           struct kube_lease_observed *obs, const char *self,
                                           int duration_s, uint64_t now_ms, const char *now_micro,
                                           struct kube_lease_record *next);

/* Formats the current wall-clock time as a MicroTime
 * ("2026-12-01T20:30:00.123456Z") into buf (at least 32 bytes). */
void kube_micro_time(char *buf, size_t cap);

/* Record <-> Lease JSON. from_json reads obj.spec; to_json writes it into
 * obj.spec (other fields kept). */
void kube_lease_from_json(const json_t *lease, struct kube_lease_record *rec);
void kube_lease_to_json(json_t *lease, const struct kube_lease_record *rec);

struct kube_lease;

struct kube_lease_opts {
    const char *ns, *name, *identity;
    int lease_duration_ms; /* default 15000 */
    int renew_deadline_ms; /* default 10000; must be > 1.2 * retry period */
    int retry_period_ms;   /* default 2000 */
    void (*on_gain)(void *arg);
    void (*on_loss)(void *arg);
    void *arg;
};

/* Starts campaigning at once. Errors: EINVAL on bad options. */
int kube_lease_start(struct kube_client *c, const struct kube_lease_opts *opts,
                     struct kube_lease **out, struct err **err) WARN_UNUSED;
/* Stops campaigning (no callback). Does not release the lease. */
void kube_lease_stop(struct kube_lease *l);
bool kube_lease_is_leader(const struct kube_lease *l);
/* Blocking graceful release (holder "", leaseDurationSeconds 1) when we
 * lead; for shutdown, outside the loop. Stops the elector too. */
int kube_lease_release(struct kube_lease *l, struct err **err) WARN_UNUSED;

#endif
