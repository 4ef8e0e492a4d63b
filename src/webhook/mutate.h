/* mutate — the admission decision for one pod, as a pure function over JSON
 * (ARCHITECTURE §3.1, docs/internals/webhook.md).
 *
 * For every container and init container that limits nvidia.com/mig-<profile>: N
 * the pod is rewritten to ask for slicer's own extended resource instead, and
 * to wait for its slices:
 *   - limits and requests: nvidia.com/mig-<p> -> mig.slicer.dev/<p>, same count;
 *   - env NVIDIA_VISIBLE_DEVICES from the downward API annotation
 *     slicer.dev/devices-<i> (containers) or slicer.dev/devices-init-<i> (init
 *     containers), which the controller fills with the MIG UUIDs before it lets
 *     the pod be scheduled; CUDA_VISIBLE_DEVICES=0,...,N-1 (N = the container's
 *     slices). Values the pod set for these two are replaced;
 *   - the scheduling gate slicer.dev/gpu-slice and the label slicer.dev/managed=true.
 * A pod that asks for no MIG profile passes untouched. A pod is refused, with a
 * message that names the container and what is wrong, when it names a profile the
 * cluster does not offer (the message lists those it does), a count that is not a
 * whole number from 1 to MUTATE_MAX_COUNT, requests that differ from its limits, a
 * MIG request only in requests, or asks for mig.slicer.dev/... itself.
 *
 * No I/O, no logging; the result owns what it holds.
 */
#ifndef SLICER_WEBHOOK_MUTATE_H
#define SLICER_WEBHOOK_MUTATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define MUTATE_GATE            "slicer.dev/gpu-slice"
#define MUTATE_LABEL           "slicer.dev/managed"
#define MUTATE_ANNOTATION      "slicer.dev/devices-"      /* + container index */
#define MUTATE_ANNOTATION_INIT "slicer.dev/devices-init-" /* + init container index */
#define MUTATE_MAX_COUNT       64                         /* slices per container and profile */
#define MUTATE_MSG_MAX         2048

/* The profiles the cluster offers, by their catalog names ("1g.5gb+me").
 * names == NULL: every profile of the catalog. */
struct mutate_offer {
    const char *const *names;
    size_t n;
};

enum mutate_verdict {
    MUTATE_PASS,  /* nothing to do: allow unchanged */
    MUTATE_PATCH, /* allow with `patch` */
    MUTATE_DENY,  /* refuse with `message` */
};

struct mutate_result {
    enum mutate_verdict verdict;
    json_t *patch;                /* MUTATE_PATCH: a JSON Patch (RFC 6902) array; owned */
    unsigned slices;              /* MUTATE_PATCH: slices the pod asks for in all */
    char message[MUTATE_MSG_MAX]; /* MUTATE_DENY: why, for a person; else "" */
};

/* Decides on `pod` (a core/v1 Pod object, as in AdmissionReview.request.object).
 * Always fills *out; release it with mutate_result_free. */
void mutate_pod(const json_t *pod, const struct mutate_offer *offer, struct mutate_result *out);

void mutate_result_free(struct mutate_result *r);

#endif
