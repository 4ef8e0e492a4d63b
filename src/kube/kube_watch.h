/* kube_watch — the list+watch loop of one resource (client-go's reflector)
 * and the pieces it is made of: a bounded line splitter and the decoder of
 * one watch-event line.
 *
 * The loop lists (paginated), then watches from the list's resourceVersion
 * with bookmarks; every event advances the last seen version. A watch that
 * ends (server timeout, dropped connection, apiserver restart) is resumed
 * from that version after a jittered backoff (none after a clean end); a
 * 410 Gone (HTTP status or ERROR event) or an expired version re-lists.
 * Handlers run inside the client's dispatch; a watch must not be stopped
 * from inside its own handlers. */
#ifndef SLICER_KUBE_WATCH_H
#define SLICER_KUBE_WATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "kube/kube_req.h"

#define KUBE_WATCH_MAX_LINE (16u << 20)

/* ---- line splitting ---------------------------------------------------- */

struct kube_lines {
    char *buf;
    size_t len, cap, max;
};

void kube_lines_init(struct kube_lines *l, size_t max_line);
void kube_lines_free(struct kube_lines *l);
/* Forgets a partial line (after a reconnect). */
void kube_lines_reset(struct kube_lines *l);

/* Called for each complete line, without its '\n' (and without a trailing
 * '\r'); empty lines are skipped. Return < 0 to stop feeding. */
typedef int (*kube_line_fn)(void *arg, const char *line, size_t n);

/* Feeds n bytes; returns 0, the callback's negative value, or -EFBIG with
 * err set when a line grows beyond max_line (the stream must be dropped). */
int kube_lines_feed(struct kube_lines *l, const char *data, size_t n, kube_line_fn fn, void *arg,
                    struct err **err) WARN_UNUSED;

/* ---- one event --------------------------------------------------------- */

enum kube_ev {
    KUBE_EV_ADDED,
    KUBE_EV_MODIFIED,
    KUBE_EV_DELETED,
    KUBE_EV_BOOKMARK,
    KUBE_EV_ERROR,
};

const char *kube_ev_name(enum kube_ev t);

/* Decodes {"type":..., "object":{...}}. On success *obj owns a new
 * reference to the object. The object must be a JSON object; for all but
 * ERROR it must carry metadata.resourceVersion. */
int kube_watch_decode(const char *line, size_t n, enum kube_ev *type, json_t **obj,
                      struct err **err) WARN_UNUSED;

/* ---- the list+watch loop ----------------------------------------------- */

struct kube_watch;

struct kube_watch_spec {
    const struct kube_gvr *gvr;
    const char *ns; /* NULL: all namespaces (or cluster-scoped) */
    const char *label_selector, *field_selector;
    int page_size;       /* list page size, default 500 */
    int min_timeout_s;   /* watch timeoutSeconds is random in [min, 2*min], default 300 */
    int backoff_base_ms; /* default 250 */
    int backoff_max_ms;  /* default 10000 */
};

struct kube_watch_handlers {
    /* A full list starts: the objects that follow, up to relisted(), are
     * the complete state (delivered as KUBE_EV_ADDED). */
    void (*relist)(void *arg);
    /* One object (borrowed). Never BOOKMARK or ERROR. */
    void (*object)(void *arg, enum kube_ev type, json_t *obj);
    /* The list is complete; watching starts. */
    void (*relisted)(void *arg);
    /* A failure that the loop recovers from by itself (optional). */
    void (*problem)(void *arg, const struct err *e);
};

struct kube_watch_stats {
    uint64_t lists;   /* full lists done */
    uint64_t watches; /* watch requests started */
    uint64_t events;  /* events delivered, bookmarks included */
    uint64_t gone;    /* 410s seen */
};

/* Starts listing now. Everything in spec is copied. */
struct kube_watch *kube_watch_start(struct kube_client *c, const struct kube_watch_spec *spec,
                                    const struct kube_watch_handlers *h, void *arg);
void kube_watch_stop(struct kube_watch *w);
/* The last resourceVersion seen ("" before the first list). Borrowed. */
const char *kube_watch_rv(const struct kube_watch *w);
void kube_watch_stats(const struct kube_watch *w, struct kube_watch_stats *out);

#endif
