/* fit — the hard constraints a node must meet before slicer looks at its
 * GPUs for a pod, the same rules kube-scheduler applies (so that the pin the
 * controller sets never lands a pod on a node the scheduler then refuses):
 * cordon, nodeSelector, required node affinity (matchExpressions In, NotIn,
 * Exists, DoesNotExist, Gt, Lt; matchFields metadata.name), NoSchedule and
 * NoExecute taints against tolerations, and CPU, memory and pod count against
 * what the node has left. Pure functions over podspec.h's structs.
 */
#ifndef SLICER_CONTROLLER_FIT_H
#define SLICER_CONTROLLER_FIT_H

#include <stdint.h>

#include "controller/podspec.h"

enum ctl_misfit {
    CTL_FITS = 0,
    CTL_CORDONED, /* spec.unschedulable */
    CTL_SELECTOR, /* nodeSelector does not match */
    CTL_AFFINITY, /* no required nodeSelectorTerm matches */
    CTL_TAINT,    /* a NoSchedule/NoExecute taint is not tolerated */
    CTL_CPU,      /* not enough CPU left */
    CTL_MEMORY,   /* not enough memory left */
    CTL_PODS,     /* the node's pod count is reached */
    CTL_MISFIT_COUNT
};

/* What a node still has, after the pods already on it. */
struct ctl_room {
    int64_t cpu_milli, memory_bytes, pods;
};

/* Whether `pod` may go to `node` with `room` left, or the first reason it may not. */
enum ctl_misfit ctl_fit(const struct ctl_pod *pod, const struct ctl_node *node,
                        const struct ctl_room *room);

/* "node(s) are cordoned", "didn't match the pod's node selector", ... */
const char *ctl_misfit_str(enum ctl_misfit m);

#endif
