/* host — the agent in host mode: owns this machine's GPUs through NVML and
 * serves a small JSON API on a unix socket (docs/host-mode.md).
 *
 * Protocol: one JSON object per line each way, requests at most
 * HOST_MAX_REQUEST bytes.
 *   {"op":"create","profile":"1g.5gb","count":1,"owner":"me","pid":123,"ttl":600,"hold":true}
 *   {"op":"list"}
 *   {"op":"release","id":7}            or {"op":"release","owner":"me"}
 * Replies: {"ok":true,...} or {"ok":false,"error":"a sentence for a person"}.
 * A create with "hold":true ties the slices to the connection: they are
 * released when it closes, however the client ends. "pid" is watched too,
 * and "ttl" (seconds) releases them when it expires.
 *
 * Threads: one event loop (epoll) for sockets and timers; NVML and the
 * journal's NVML-side transitions run on one worker thread.
 */
#ifndef SLICER_AGENT_HOST_H
#define SLICER_AGENT_HOST_H

#include <signal.h>

#include "base/err.h"
#include "core/place.h"

#define HOST_DEFAULT_SOCKET "/run/slicer/agent.sock"
#define HOST_DEFAULT_STATE  "/var/lib/slicer"
#define HOST_MAX_REQUEST    65536
#define HOST_MAX_COUNT      64 /* slices in one create */

struct host_config {
    const char *socket_path;  /* NULL: HOST_DEFAULT_SOCKET */
    const char *state_dir;    /* journal folder; NULL: HOST_DEFAULT_STATE */
    const char *nvml_library; /* NULL: $SLICER_NVML_LIBRARY or libnvidia-ml.so.1 */
    enum place_policy policy;
    unsigned check_ms; /* how often TTLs and owner pids are checked; 0: 1000 */
};

/* Runs the agent until *stop becomes non-zero (set it from a signal
 * handler) or a fatal error. Reconciles the journal with NVML before
 * serving. Returns 0 on a clean stop. */
int host_run(const struct host_config *cfg, volatile sig_atomic_t *stop,
             struct err **err) WARN_UNUSED;

#endif
