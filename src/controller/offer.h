/* offer — the MIG profiles the cluster offers: the union, over every
 * GPUNode, of the profiles of its GPUs that have MIG mode on. The webhook
 * names these when it refuses a pod, and accepts only these.
 *
 * ctl_offer_of_gpunode is the pure part (one GPUNode object -> its profile
 * names); ctl_offer_watch keeps a GPUNode cache on a kube client and calls
 * `changed` with the union, in catalog order, whenever it changes (and once
 * after the first list). Callbacks run in the client's dispatch. */
#ifndef SLICER_CONTROLLER_OFFER_H
#define SLICER_CONTROLLER_OFFER_H

#include <jansson.h>
#include <stddef.h>

#include "kube/kube_http.h"
#include "kube/kube_req.h"

#define CTL_OFFER_MAX 128 /* distinct profile names */

extern const struct kube_gvr CTL_GPUNODES; /* slicer.dev/v1alpha1 gpunodes (controller.c) */

struct ctl_offer {
    size_t n;
    char names[CTL_OFFER_MAX][32]; /* catalog names, "1g.5gb+me" */
};

/* The distinct profile names of `gpunode`'s MIG-enabled GPUs (status.gpus[]
 * with migMode true), in the order they appear; names the catalog does not
 * know are skipped. */
void ctl_offer_of_gpunode(const json_t *gpunode, struct ctl_offer *out);

/* Called with the union (names[0..n), catalog order); n == 0 means no GPUNode
 * offers anything (yet). */
typedef void (*ctl_offer_fn)(void *arg, const char *const *names, size_t n);

struct ctl_offer_watch;
struct ctl_offer_watch *ctl_offer_watch_start(struct kube_client *c, ctl_offer_fn changed,
                                              void *arg);
void ctl_offer_watch_stop(struct ctl_offer_watch *w);

#endif
