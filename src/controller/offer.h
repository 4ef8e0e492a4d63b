/* offer — the MIG profiles the cluster offers: every profile of the catalog
 * model of each MIG-enabled GPU that some GPUNode lists, i.e. exactly what the
 * controller can place (it places by catalog model, see view.c). The webhook
 * names these when it refuses a pod, and accepts only these.
 *
 * ctl_offer_of_gpunode is the pure part (one parsed GPUNode -> its profile
 * names); ctl_offer_watch keeps a GPUNode cache (ctl_gpunode_parse) on a kube
 * client and calls `changed` with the union, in catalog order, after the first
 * list and whenever it changes (a heartbeat alone does not). Callbacks run in
 * the client's dispatch. */
#ifndef SLICER_CONTROLLER_OFFER_H
#define SLICER_CONTROLLER_OFFER_H

#include <stddef.h>

#include "controller/slice.h"
#include "kube/kube_http.h"
#include "kube/kube_req.h"

#define CTL_OFFER_MAX 128 /* distinct profile names */

extern const struct kube_gvr CTL_GPUNODES; /* slicer.dev/v1alpha1 gpunodes (controller.c) */

struct ctl_offer {
    size_t n;
    char names[CTL_OFFER_MAX][32]; /* catalog names, "1g.5gb+me" */
};

/* The distinct profile names of `g`'s MIG-enabled GPUs whose model the
 * catalog knows, in catalog order. */
void ctl_offer_of_gpunode(const struct ctl_gpunode *g, struct ctl_offer *out);

/* Called with the union (names[0..n), catalog order); n == 0 means no GPUNode
 * offers anything (yet). */
typedef void (*ctl_offer_fn)(void *arg, const char *const *names, size_t n);

struct ctl_offer_watch;
struct ctl_offer_watch *ctl_offer_watch_start(struct kube_client *c, ctl_offer_fn changed,
                                              void *arg);
void ctl_offer_watch_stop(struct ctl_offer_watch *w);

#endif
