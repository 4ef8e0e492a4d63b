/* kube_event — events.k8s.io/v1 Events about objects, with repeats folded
 * into a series as client-go's event recorder does: the first occurrence
 * creates an Event; an identical one (same object, type, reason, action,
 * note) within KUBE_EVENT_SERIES_WINDOW_MS patches that Event's
 * series {count, lastObservedTime} instead of creating another.
 *
 * Fire and forget: emitting never blocks and never fails; a failed write
 * is logged (warn) and counted. Strings are copied. */
#ifndef SLICER_KUBE_EVENT_H
#define SLICER_KUBE_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "kube/kube_http.h"

#define KUBE_EVENT_SERIES_WINDOW_MS (6 * 60 * 1000)
#define KUBE_EVENT_NOTE_MAX         1024
#define KUBE_EVENT_TRACKED          256 /* distinct recent events remembered */

struct kube_recorder;

/* The object an event is about (ObjectReference). ns NULL: cluster-scoped
 * (the Event then goes to "default"). */
struct kube_event_ref {
    const char *api_version, *kind, *ns, *name, *uid;
};

enum kube_event_type { KUBE_EVENT_NORMAL, KUBE_EVENT_WARNING };

/* controller: reportingController ("slicer.dev/controller"); instance:
 * reportingInstance (e.g. the pod name). Both at most 128 bytes. */
struct kube_recorder *kube_recorder_new(struct kube_client *c, const char *controller,
                                        const char *instance);
/* Cancels writes still in flight and frees the recorder. */
void kube_recorder_free(struct kube_recorder *r);

void kube_event_emit(struct kube_recorder *r, const struct kube_event_ref *regarding,
                     enum kube_event_type type, const char *reason, const char *action,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));

struct kube_recorder_stats {
    uint64_t created, patched, folded, failed;
};
void kube_recorder_stats(const struct kube_recorder *r, struct kube_recorder_stats *out);
/* True while a write is in flight (for tools that want to wait). */
bool kube_recorder_busy(const struct kube_recorder *r);

#endif
