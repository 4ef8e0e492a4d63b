/* mutate — the admission decision for one pod, as a pure function over JSON
 * (ARCHITECTURE §3.1, docs/internals/webhook.md).
 *
 * For every container and init container that limits nvidia.com/mig-<profile>: N
 * the pod is rewritten to wait for its slices and to receive them. Under the
 * env handoff (MUTATE_ENV) it asks for slicer's own extended resource instead:
 *   - limits and requests: nvidia.com/mig-<p> -> mig.slicer.dev/<p>, same count;
 *   - env NVIDIA_VISIBLE_DEVICES from the downward API annotation
 *     slicer.dev/devices-<i> (containers) or slicer.dev/devices-init-<i> (init
 *     containers), which the controller fills with the MIG UUIDs before it lets
 *     the pod be scheduled; CUDA_VISIBLE_DEVICES=0,...,N-1 (N = the container's
 *     slices). Values the pod set for these two are replaced;
 *   - the scheduling gate slicer.dev/gpu-slice and the label slicer.dev/managed=true.
 * Under the DRA handoff (MUTATE_DRA) it asks for a ResourceClaim instead:
 *   - limits and requests: the nvidia.com/mig-<p> key is removed;
 *   - spec.resourceClaims: one entry per (container, profile), named
 *     slicer-c<i>-<label> (containers) or slicer-i<i>-<label> (init containers),
 *     <label> = res_profile_label(profile), from the ResourceClaimTemplate
 *     res_template_name(profile, N) ("slicer-mig-1g-5gb-x2"); entries the pod
 *     has are kept, and a pod that already has an entry of that name is refused;
 *   - resources.claims of the container: {name: <that claim>} appended;
 *   - the same gate and label; no env, no annotation (the kubelet hands the
 *     devices over through DRA and CDI; the pod's own env is left as it is).
 * Under MUTATE_DRA a pod may also name, in spec.resourceClaims, the user's own
 * ResourceClaims or ResourceClaimTemplates of class mig.slicer.dev (those
 * `mutate_claims.known` says are, in the pod's namespace): it gets the same gate
 * and label, and nothing else, so that slicer's placement serves those claims
 * too; a pod that also asks for nvidia.com/mig-<p> gets both treatments.
 * A pod that asks for no MIG profile and names no such claim passes untouched
 * (so does one whose gate and label are there already). A pod is refused, with
 * a message that names the container and what is wrong, when it names a profile the
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

/* How a pod that asks for MIG gets its devices (`slicer webhook --handoff`). */
enum mutate_handoff {
    MUTATE_ENV = 0, /* legacy: NVIDIA_VISIBLE_DEVICES from an annotation, the runtime trusted */
    MUTATE_DRA,     /* a ResourceClaim per (container, profile) from slicer's templates */
};

#define MUTATE_CLAIM_PREFIX  "slicer-" /* + "c<i>-" or "i<i>-" + profile label */
#define MUTATE_DNS_LABEL_MAX 63        /* a claim name is a DNS label */

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

/* Which object a spec.resourceClaims entry names. */
enum mutate_claim_kind {
    MUTATE_CLAIM,    /* resourceClaimName: a ResourceClaim */
    MUTATE_TEMPLATE, /* resourceClaimTemplateName: a ResourceClaimTemplate */
};

/* The users' ResourceClaims and ResourceClaimTemplates of class mig.slicer.dev:
 * known(arg, kind, ns, name) is true for one of those. Called during the
 * decision only; it must not block for long (claims.h is such a set). */
struct mutate_claims {
    bool (*known)(void *arg, enum mutate_claim_kind kind, const char *ns, const char *name);
    void *arg;
};

/* What one decision depends on besides the pod. */
struct mutate_input {
    const struct mutate_offer *offer;   /* NULL: every profile of the catalog */
    enum mutate_handoff handoff;        /* MUTATE_ENV (the zero value) or MUTATE_DRA */
    const char *ns;                     /* the request's namespace: used when the pod's
                                           metadata.namespace is absent or ""; may be NULL */
    const struct mutate_claims *claims; /* MUTATE_DRA only; NULL: none known */
};

struct mutate_result {
    enum mutate_verdict verdict;
    json_t *patch;                /* MUTATE_PATCH: a JSON Patch (RFC 6902) array; owned */
    unsigned slices;              /* MUTATE_PATCH: slices the pod asks for in all */
    unsigned own_claims;          /* MUTATE_PATCH: spec.resourceClaims entries that name a
                                     known claim or template (mutate_input.claims) */
    char message[MUTATE_MSG_MAX]; /* MUTATE_DENY: why, for a person; else "" */
};

/* Decides on `pod` (a core/v1 Pod object, as in AdmissionReview.request.object)
 * with `in`. Always fills *out; release it with mutate_result_free. */
void mutate_pod_with(const json_t *pod, const struct mutate_input *in, struct mutate_result *out);

/* mutate_pod_with knowing no user claims. */
void mutate_pod_handoff(const json_t *pod, const struct mutate_offer *offer,
                        enum mutate_handoff handoff, struct mutate_result *out);

/* mutate_pod_handoff under MUTATE_ENV. */
void mutate_pod(const json_t *pod, const struct mutate_offer *offer, struct mutate_result *out);

void mutate_result_free(struct mutate_result *r);

#endif
