/* grpc — a small unary gRPC server: HTTP/2 cleartext with prior knowledge on
 * unix sockets (libnghttp2), one request message per call, answers that may
 * come long after the request (docs/internals/kubelet.md).
 *
 * The server owns one epoll fd that holds its listening sockets, its
 * connections and a timerfd for grpc-timeout deadlines; the caller adds
 * kl_grpc_fd() to its own loop and calls kl_grpc_dispatch() when it is
 * readable. Every socket is non-blocking; nothing here ever waits.
 *
 * Threads: none. Every function, the handlers included, runs on the thread
 * of the caller's event loop.
 *
 * Call lifetime: a handler receives a call and owns it until it answers with
 * exactly one of kl_grpc_reply() or kl_grpc_fail(), which may happen inside
 * the handler or any time later. A call whose stream is gone (RST_STREAM from
 * the client, connection closed, its deadline passed) is dead: its answer is
 * dropped, but it must still be given, because that is what frees the call.
 * kl_grpc_server_free() requires every call to have been answered. */
#ifndef SLICER_KUBELET_GRPC_H
#define SLICER_KUBELET_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* gRPC status codes we send (grpc/grpc doc/statuscodes.md). */
enum kl_grpc_status {
    KL_GRPC_OK = 0,
    KL_GRPC_CANCELLED = 1,
    KL_GRPC_UNKNOWN = 2,
    KL_GRPC_INVALID_ARGUMENT = 3,
    KL_GRPC_DEADLINE_EXCEEDED = 4,
    KL_GRPC_RESOURCE_EXHAUSTED = 8,
    KL_GRPC_UNIMPLEMENTED = 12,
    KL_GRPC_INTERNAL = 13,
    KL_GRPC_UNAVAILABLE = 14,
};

struct kl_grpc_server;
struct kl_grpc_call;

/* Called once the whole request message has arrived. `msg` (len bytes, the
 * protobuf without its prefix) is valid only during the call. The handler
 * owns `call` from here on (see the lifetime contract above). */
typedef void (*kl_grpc_handler)(void *arg, struct kl_grpc_call *call, const uint8_t *msg,
                                size_t len);

/* One method of a listener: the exact :path ("/package.Service/Method"). */
struct kl_grpc_method {
    const char *path;
    kl_grpc_handler fn;
};

/* Limits; a zero field takes the default in brackets. */
struct kl_grpc_limits {
    size_t max_msg;          /* largest request message [4 MiB] */
    size_t max_buffered;     /* request bytes held over all streams [64 MiB] */
    unsigned max_conns;      /* open connections over all listeners [32] */
    unsigned max_streams;    /* SETTINGS_MAX_CONCURRENT_STREAMS per connection [64] */
    uint64_t max_timeout_ms; /* cap on a grpc-timeout deadline, 0 = none [0] */
};

/* Creates a server with no listener yet. Returns NULL and fills *err on
 * failure (epoll or timerfd creation). */
struct kl_grpc_server *kl_grpc_server_new(const struct kl_grpc_limits *limits, struct err **err);

/* Listens on the unix socket `path` (which must not exist: the caller
 * removes stale files) and serves `methods` (n entries, kept by pointer:
 * they must outlive the server) there, handlers called with `arg`.
 * Returns 0 or a negative errno with *err filled. */
int kl_grpc_listen(struct kl_grpc_server *s, const char *path, const struct kl_grpc_method *methods,
                   size_t n, void *arg, struct err **err) WARN_UNUSED;

/* The epoll fd to watch for EPOLLIN in the caller's loop. */
int kl_grpc_fd(const struct kl_grpc_server *s);

/* Accepts, reads, writes and expires whatever is ready, without blocking;
 * handlers run from here. Call when kl_grpc_fd() is readable (calling it
 * spuriously is harmless). */
void kl_grpc_dispatch(struct kl_grpc_server *s);

/* True while the client still waits for this call's answer. */
bool kl_grpc_call_alive(const struct kl_grpc_call *c);

/* Answers with one message (len bytes of protobuf; the prefix is added) and
 * status OK, then frees the call. On a dead call only frees it. */
void kl_grpc_reply(struct kl_grpc_call *c, const uint8_t *msg, size_t len);

/* Answers with a non-OK status and a message (percent-encoded here; NULL
 * for none), then frees the call. On a dead call only frees it. */
void kl_grpc_fail(struct kl_grpc_call *c, enum kl_grpc_status status, const char *msg);

/* Number of connections open now (for tests and metrics). */
unsigned kl_grpc_conns(const struct kl_grpc_server *s);

/* Sends GOAWAY on every connection (best effort), closes them and the
 * listeners (unlinking nothing: socket files are the caller's) and frees the
 * server. Every call must have been answered. */
void kl_grpc_server_free(struct kl_grpc_server *s);

#endif
