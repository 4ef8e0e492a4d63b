/* claims — the users' ResourceClaims and ResourceClaimTemplates of class
 * mig.slicer.dev, by "namespace/name", so that the webhook gates the pods that
 * name them (mutate.h, docs/internals/webhook.md "Users' own claims").
 *
 * webhook_claims_ours is the pure part: whether one object asks for that
 * class. The set holds only the keys of those (no objects), changed by
 * whoever watches the cluster (`slicer webhook --handoff dra` watches both
 * resources) while the server's thread looks names up for every review.
 * Thread-safe: a reader-writer lock, held for one look-up or one change. */
#ifndef SLICER_WEBHOOK_CLAIMS_H
#define SLICER_WEBHOOK_CLAIMS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "webhook/mutate.h"

#define WEBHOOK_CLAIMS_CLASS "mig.slicer.dev" /* slicer's DeviceClass */

/* True when `obj` (a resource.k8s.io/v1 ResourceClaim, or with `kind`
 * MUTATE_TEMPLATE a ResourceClaimTemplate: its spec.spec) has a request whose
 * exactly.deviceClassName, or one of whose firstAvailable[].deviceClassName,
 * is WEBHOOK_CLAIMS_CLASS. False for anything else, malformed objects included. */
bool webhook_claims_ours(const json_t *obj, enum mutate_claim_kind kind);

struct webhook_claims;

struct webhook_claims *webhook_claims_new(void);
void webhook_claims_free(struct webhook_claims *s);

/* Adds or removes "namespace/name" (copied) of `kind`; idempotent. */
void webhook_claims_add(struct webhook_claims *s, enum mutate_claim_kind kind, const char *key);
void webhook_claims_remove(struct webhook_claims *s, enum mutate_claim_kind kind, const char *key);

/* Whether ns/name of `kind` is in the set. `arg` is the set: this is the
 * mutate_claims.known of mutate_input. */
bool webhook_claims_known(void *arg, enum mutate_claim_kind kind, const char *ns, const char *name);

/* How many keys of `kind` the set holds. */
size_t webhook_claims_len(struct webhook_claims *s, enum mutate_claim_kind kind);

#endif
