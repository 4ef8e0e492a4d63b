/* sched — where a batch of gated pods goes: which node, which GPUs, which
 * starts (ARCHITECTURE §3.2). Pure: no I/O; the caller builds the view of the
 * cluster (nodes with their GPUs as place_gpu, what each node has left) and
 * acts on the decisions.
 *
 * Per pod, every node is checked against the hard constraints (fit.h); on the
 * nodes that pass, the placement engine places all of the pod's asks on that
 * node's GPUs, all or nothing (a pod's slices are on one node). Under best-fit
 * the pods go largest first, and each to the node where its slices cost the
 * least future capacity (place_score), nodes already in use before empty ones;
 * under first-fit, in the given order to the first node that takes them. Each
 * placement is applied to the view before the next pod is decided, so a batch
 * never hands one placement to two pods.
 */
#ifndef SLICER_CONTROLLER_SCHED_H
#define SLICER_CONTROLLER_SCHED_H

#include <stddef.h>

#include "controller/fit.h"
#include "controller/podspec.h"
#include "core/place.h"

#define CTL_MAX_SLICES 64 /* slices of one pod */
#define CTL_MAX_GPUS   64 /* GPUs of one node */
#define CTL_WHY_MAX    512

/* A node as the scheduler sees it; `gpus` and `room` are updated as pods are placed. */
struct ctl_gpu_node {
    const struct ctl_node *node;
    struct ctl_room room;
    struct place_gpu *gpus;
    size_t ngpus; /* at most CTL_MAX_GPUS */
};

struct ctl_choice {
    unsigned ask;  /* index into the pod's asks */
    uint32_t gpu;  /* index into the node's gpus */
    uint8_t start; /* first memory slice */
    uint8_t size;  /* memory slices */
};

struct ctl_decision {
    int node; /* index into the nodes; -1: not placed */
    unsigned nslices;
    struct ctl_choice slices[CTL_MAX_SLICES];
    char why[CTL_WHY_MAX]; /* not placed: why, per node, like kube-scheduler says it */
};

/* Decides every pod of the batch; out[i] is pods[i]'s decision. */
void ctl_schedule(struct ctl_gpu_node *nodes, size_t nnodes, const struct ctl_pod *const *pods,
                  size_t npods, enum place_policy policy, struct ctl_decision *out);

#endif
