/* offer — the profiles the webhook accepts, as the cluster's GPUs offer them,
 * changed at run time by whoever watches the cluster (`slicer webhook` runs a
 * GPUNode watch) while the server's thread reads it for every review.
 *
 * Until the first webhook_offer_set with known = true the offer is the whole
 * catalog (a cluster whose agents have not published yet must not refuse
 * every pod). Thread-safe: a reader-writer lock; readers hold it only for the
 * duration of one decision. */
#ifndef SLICER_WEBHOOK_OFFER_H
#define SLICER_WEBHOOK_OFFER_H

#include <stdbool.h>
#include <stddef.h>

#include "webhook/mutate.h"

struct webhook_offer;

struct webhook_offer *webhook_offer_new(void);
void webhook_offer_free(struct webhook_offer *o);

/* Replaces the offer with a copy of names[0..n) (catalog names, "1g.5gb+me").
 * known = false goes back to the whole catalog. */
void webhook_offer_set(struct webhook_offer *o, const char *const *names, size_t n, bool known);

/* Takes the read lock and returns the current offer, valid until
 * webhook_offer_unlock. */
const struct mutate_offer *webhook_offer_lock(struct webhook_offer *o);
void webhook_offer_unlock(struct webhook_offer *o);

#endif
