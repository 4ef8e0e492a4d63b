/* server — the HTTPS side of `slicer webhook` (libmicrohttpd + GnuTLS).
 *
 *   POST /mutate-pods  an AdmissionReview in, the answer out (review.c); a body
 *                      that is not one gets 400 with the reason, one over
 *                      REVIEW_MAX_BODY gets 413: never a dropped connection
 *   GET  /healthz      200 while the server runs
 *   GET  /readyz       200 (the server starts only once a certificate is loaded)
 *   GET  /metrics      Prometheus text: requests by outcome, latency, reloads
 *
 * TLS 1.2 and 1.3 only. The certificate and key are read from files and read
 * again when either file changes (checked at most once a second, at a
 * handshake), so a rotated certificate (cert-manager, a Secret update) is
 * served without a restart; a broken new pair is logged and the old one kept.
 *
 * Threads: libmicrohttpd's one internal epoll thread serves every connection;
 * webhook_serve blocks the calling thread until *stop is set.
 */
#ifndef SLICER_WEBHOOK_SERVER_H
#define SLICER_WEBHOOK_SERVER_H

#include <signal.h>
#include <stdint.h>

#include "base/err.h"
#include "webhook/mutate.h"
#include "webhook/offer.h"

struct webhook_config {
    const char *cert_file, *key_file;   /* PEM */
    const char *address;                /* IPv4 or IPv6 literal; NULL: all addresses */
    uint16_t port;                      /* 0: any free port (logged) */
    const struct mutate_offer *offer;   /* NULL: every profile of the catalog */
    struct webhook_offer *live_offer;   /* when set, used instead of `offer` (offer.h) */
    enum mutate_handoff handoff;        /* MUTATE_ENV (the zero value) or MUTATE_DRA */
    const struct mutate_claims *claims; /* MUTATE_DRA: the users' claims of class
                                           mig.slicer.dev (claims.h); NULL: none known */
};

/* Serves until *stop becomes non-zero. Returns 0, or a negative code with an
 * error (certificate unreadable, address in use, ...). */
int webhook_serve(const struct webhook_config *cfg, volatile sig_atomic_t *stop,
                  struct err **err) WARN_UNUSED;

#endif
