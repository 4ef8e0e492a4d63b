/* review — one AdmissionReview exchange of `slicer webhook`: the body the
 * apiserver POSTs in, the body to answer with out (shared/reference
 * kubernetes-interfaces.md §5). Pure: no I/O, no logging.
 *
 * Pods being created are decided by mutate_pod_handoff; anything else (another
 * kind, another operation) is allowed unchanged. A denial answers allowed=false with
 * status {code 400, reason BadRequest, message}; a mutation answers
 * patchType JSONPatch with the patch base64-encoded.
 */
#ifndef SLICER_WEBHOOK_REVIEW_H
#define SLICER_WEBHOOK_REVIEW_H

#include <stddef.h>

#include "base/err.h"
#include "webhook/mutate.h"

#define REVIEW_MAX_BODY (4u << 20) /* bytes; the apiserver sends at most ~3 MiB */

/* What one review decided, for logs and metrics. */
struct review_outcome {
    enum mutate_verdict verdict;
    unsigned slices;
    unsigned own_claims; /* mutate_result.own_claims */
    char uid[128];
    char pod[320];                /* "namespace/name" (or generateName...) */
    char message[MUTATE_MSG_MAX]; /* the denial, or "" */
};

/* Answers the AdmissionReview in body[0..len), deciding on pods with `in`
 * (its `ns` is ignored: request.namespace is used). On success *response is the JSON reply
 * (malloc'd, the caller frees it) and *outcome says what was decided. Returns -EINVAL (with an
 * error naming what is wrong) when the body is not an admission.k8s.io/v1 AdmissionReview with a
 * request.uid — the caller answers HTTP 400 with that message — and -EMSGSIZE when it is larger
 * than REVIEW_MAX_BODY. */
int review_answer_with(const char *body, size_t len, const struct mutate_input *in, char **response,
                       struct review_outcome *outcome, struct err **err) WARN_UNUSED;

/* review_answer_with knowing no user claims. */
int review_answer_handoff(const char *body, size_t len, const struct mutate_offer *offer,
                          enum mutate_handoff handoff, char **response,
                          struct review_outcome *outcome, struct err **err) WARN_UNUSED;

/* review_answer_handoff under MUTATE_ENV. */
int review_answer(const char *body, size_t len, const struct mutate_offer *offer, char **response,
                  struct review_outcome *outcome, struct err **err) WARN_UNUSED;

/* Standard base64 (with padding) of in[0..n): a new NUL-terminated string. */
char *review_base64(const unsigned char *in, size_t n);

#endif
