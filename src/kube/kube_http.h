/* kube_http — the transport: one client per API server, all requests and
 * watches multiplexed over shared HTTP/2 connections by one curl multi
 * handle, driven by the caller's event loop.
 *
 * Loop integration: kube_client_fd() is an epoll fd that becomes readable
 * whenever the client has work (socket I/O or a due timer). Add it to the
 * process's loop (EPOLLIN) and call kube_client_dispatch() when it fires;
 * dispatch never blocks. Simple tools use kube_client_step() instead, which
 * waits on that fd itself. All callbacks run inside dispatch/step, on the
 * caller's thread; a client is not thread-safe.
 *
 * Every request passes the token bucket (QPS/burst) before it is sent, has a
 * timeout, and is retried with jittered exponential backoff on 429, 5xx and
 * connection errors (honouring Retry-After). A retried create may therefore
 * report 409 AlreadyExists for an object its earlier attempt created.
 * Streams (watches) are never retried here: their owner resumes them.
 * Callbacks may start and cancel requests and timers (the work is deferred
 * when that is needed); they must not call kube_client_step(). */
#ifndef SLICER_KUBE_HTTP_H
#define SLICER_KUBE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "kube/kube_config.h"

#define KUBE_HTTP_MAX_BODY (256u << 20) /* cap on one buffered response body */

struct kube_client;
struct kube_http;
struct kube_timer;

struct kube_client_opts {
    double qps;          /* default 50; negative disables rate limiting */
    int burst;           /* default 100 */
    int timeout_ms;      /* default per-request timeout, 30000 */
    int retries;         /* retries after the first attempt, default 5; negative: none */
    int backoff_base_ms; /* default 250 */
    int backoff_max_ms;  /* default 8000 */
    int max_inflight;    /* unary requests in flight at once, default 64 (watches not counted);
                          * more wait in order, after the rate limiter */
    const char *user_agent;
};

/* Creates a client for `cfg` (copied: cfg may be freed afterwards). `opts`
 * may be NULL; zero fields take the defaults. */
int kube_client_new(const struct kube_config *cfg, const struct kube_client_opts *opts,
                    struct kube_client **out, struct err **err) WARN_UNUSED;
/* Cancels everything in flight (no callbacks run) and frees the client. */
void kube_client_free(struct kube_client *c);

/* The configuration's default namespace. Borrowed. */
const char *kube_client_namespace(const struct kube_client *c);

int kube_client_fd(const struct kube_client *c);
/* Does all work that is ready now. Returns 0, or negative on an internal
 * failure of epoll/timerfd (err set). */
int kube_client_dispatch(struct kube_client *c, struct err **err) WARN_UNUSED;
/* Waits up to timeout_ms (-1 = forever) for work, then dispatches. */
int kube_client_step(struct kube_client *c, int timeout_ms, struct err **err) WARN_UNUSED;

/* Monotonic milliseconds. */
uint64_t kube_now_ms(void);

/* One-shot timers on the client's clock; the callback runs in dispatch.
 * The handle is valid until the callback starts or kube_timer_cancel. */
typedef void (*kube_timer_fn)(void *arg);
struct kube_timer *kube_timer_add(struct kube_client *c, uint64_t delay_ms, kube_timer_fn fn,
                                  void *arg);
void kube_timer_cancel(struct kube_client *c, struct kube_timer *t);

struct kube_http_req {
    const char *method;       /* "GET", "POST", ... */
    const char *path;         /* path and query, starting with '/' */
    const char *content_type; /* of the body; NULL when there is none */
    const char *body;
    size_t body_len;
    int timeout_ms; /* 0: the client's default; negative: none (streams) */
    /* Streaming: when set and the status is 2xx, body bytes are handed here
     * as they arrive instead of being buffered; return < 0 to abort (the
     * request then completes with err code ECANCELED). Not retried. */
    int (*on_data)(void *arg, const char *data, size_t n);
};

/* Completion. err != NULL (borrowed) means no HTTP response was obtained
 * after the retries (status 0). Otherwise status is the HTTP status and
 * body/len the buffered body (NUL-terminated; for a 2xx stream, empty). */
typedef void (*kube_http_done_fn)(void *arg, long status, const char *body, size_t len,
                                  const struct err *err);

/* Queues a request; everything in req is copied. The handle is valid until
 * `done` returns or kube_http_cancel is called; `done` is always called
 * exactly once unless the request is cancelled. */
struct kube_http *kube_http_start(struct kube_client *c, const struct kube_http_req *req,
                                  kube_http_done_fn done, void *arg);
/* Cancels a request; its `done` is not called. */
void kube_http_cancel(struct kube_client *c, struct kube_http *h);

/* Counters, for tests and metrics. */
struct kube_client_stats {
    uint64_t requests;    /* attempts handed to curl */
    uint64_t retries;     /* attempts that were retries */
    uint64_t connections; /* TCP connections opened */
    unsigned max_active;  /* the most unary requests in flight at once so far */
};
void kube_client_stats(const struct kube_client *c, struct kube_client_stats *out);

#endif
