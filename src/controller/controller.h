/* controller — the `slicer controller` process (docs/internals/controller.md):
 * caches of managed pods, bound pods, Nodes, GPUNodes and GPUSlices on one
 * kube client, leader election on a Lease, batched placement of gated pods,
 * GPUSlice creation, the pod's ungate update and the release of slices.
 * One thread, one epoll loop; SIGINT/SIGTERM stop it cleanly. */
#ifndef SLICER_CONTROLLER_CONTROLLER_H
#define SLICER_CONTROLLER_CONTROLLER_H

#include <stdbool.h>

#include "base/err.h"
#include "core/place.h"

struct ctl_config {
    const char *kubeconfig; /* NULL: $KUBECONFIG, in-cluster, ~/.kube/config */
    int batch_window_ms;    /* default 50 */
    enum place_policy policy;
    bool leader_elect;
    const char *lease_ns, *lease_name, *identity;
    int lease_ms, renew_ms, retry_ms; /* leader election */
    int retry_backoff_ms;             /* before placing again after a Failed slice */
    int qps, burst;                   /* the kube client's rate limit */
    bool dra; /* --handoff dra: GPUSlices for ResourceClaims allocated devices of mig.slicer.dev */
};

enum ctl_outcome {
    CTL_STOPPED = 0, /* a signal asked to stop; the lease was released */
    CTL_LOST = 1,    /* leadership was lost: stop acting and exit */
};

/* Runs the controller until a signal or a lost leadership. Returns a
 * ctl_outcome, or negative with err set when it cannot start or its loop
 * fails (configuration, epoll). */
int ctl_run(const struct ctl_config *cfg, struct err **err) WARN_UNUSED;

#endif
