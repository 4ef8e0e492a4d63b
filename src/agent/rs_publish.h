/* rs_publish — keeps this node's DRA ResourceSlices (driver mig.slicer.dev)
 * in the API server equal to what the agent last computed
 * (objects/resourceslice.h; docs/design/dra.md).
 *
 * The agent hands over the slices it wants (built with generation 0); when
 * they differ from what was last published, the publisher lists the node's
 * slices of the driver, and, unless they already say the same, writes every
 * wanted slice under one new pool generation (above any it listed, so that
 * consumers take the new pool whole) and deletes the slices no longer wanted.
 * A failed write or list is retried from the list, with a backoff of 1 s
 * doubling to 30 s; a change arriving meanwhile is published after the run
 * in flight. An empty set removes every slice of the driver on the node.
 *
 * Threads: the agent's event loop only (callbacks run in the kube client's
 * dispatch). */
#ifndef SLICER_AGENT_RS_PUBLISH_H
#define SLICER_AGENT_RS_PUBLISH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "kube/kube_http.h"

struct rs_pub;

/* `node` is copied. `required`: the cluster must serve resource.k8s.io/v1
 * (DRA handoff): a 404 there is an error, logged and retried; otherwise a 404
 * means there is nothing to clean up, and the publisher stops quietly. */
struct rs_pub *rs_pub_new(struct kube_client *c, const char *node, bool required);

/* The slices this node should publish: a JSON array (stolen) from
 * rslice_build with generation 0. Starts publishing when it differs from the
 * last set given. */
void rs_pub_set(struct rs_pub *p, json_t *slices);

/* Retries a failed run once its backoff has passed; call from a periodic timer. */
void rs_pub_tick(struct rs_pub *p);

/* True while requests are in flight (the agent drains them before exiting). */
bool rs_pub_busy(const struct rs_pub *p);

/* Frees the publisher; requests still in flight finish against a detached
 * context and are ignored. */
void rs_pub_free(struct rs_pub *p);

#endif
