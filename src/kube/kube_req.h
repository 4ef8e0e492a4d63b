/* kube_req — typed requests on any group/version/resource (core or CRD,
 * namespaced or cluster-scoped): get, list (selectors, pagination), create,
 * update (resourceVersion), delete (preconditions, propagation), JSON merge
 * patch, JSON patch, strategic merge patch, server-side apply, and the same
 * on a subresource such as "status".
 *
 * Each verb exists asynchronously (kube_send: the callback runs in the
 * client's dispatch) and blocking (kube_send_sync and the kube_get...
 * wrappers, which drive the client themselves: for tools and tests, never
 * from inside a callback or a loop that drives the client).
 *
 * Errors: an HTTP error's `Status` body is decoded into the message
 * ("PUT /api/v1/...: 409 Conflict: Operation cannot be fulfilled ...") and
 * the code tells the cases apart: ENOENT (404), EEXIST (409 AlreadyExists),
 * KUBE_ECONFLICT (409 Conflict: stale resourceVersion, SSA field conflict),
 * KUBE_EGONE (410 Gone/Expired), EPERM (403), EACCES (401), EINVAL (400, 422),
 * EBUSY (429 after retries), EIO (5xx after retries), ETIMEDOUT, or a
 * transport code (ECONNREFUSED, ECONNRESET, EPROTO). */
#ifndef SLICER_KUBE_REQ_H
#define SLICER_KUBE_REQ_H

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>

#include "base/err.h"
#include "kube/kube_http.h"

#define KUBE_ECONFLICT ESTALE
#define KUBE_EGONE     EKEYEXPIRED

/* A resource type. group "" is the core group (/api/v1). */
struct kube_gvr {
    const char *group;
    const char *version;
    const char *resource; /* plural, lower case: "pods", "gpuslices" */
    bool namespaced;
};

extern const struct kube_gvr KUBE_PODS, KUBE_NAMESPACES, KUBE_CONFIGMAPS, KUBE_NODES, KUBE_LEASES,
    KUBE_EVENTS;

/* What to act on and how; zero fields are absent. */
struct kube_call {
    const struct kube_gvr *gvr;
    const char *ns;          /* namespaced: required except for lists (NULL = all) */
    const char *name;        /* get/update/delete/patch/apply */
    const char *subresource; /* "status", "scale", ... */
    /* list */
    const char *label_selector, *field_selector, *resource_version, *cont;
    int limit;
    /* writes */
    const char *field_manager; /* required by apply */
    bool force;                /* apply: take over conflicting fields */
    bool dry_run;
    /* delete */
    const char *propagation; /* "Foreground", "Background", "Orphan" */
    const char *pre_uid, *pre_rv;
};

enum kube_verb {
    KUBE_GET,
    KUBE_LIST,
    KUBE_CREATE,
    KUBE_UPDATE,
    KUBE_DELETE,
    KUBE_PATCH_MERGE,     /* application/merge-patch+json */
    KUBE_PATCH_JSON,      /* application/json-patch+json */
    KUBE_PATCH_STRATEGIC, /* application/strategic-merge-patch+json (built-in types) */
    KUBE_APPLY,           /* application/apply-patch+yaml (body: the full intended object) */
};

/* Completion: obj is the decoded response (a new reference the callee
 * owns, may be NULL) when err is NULL; err is borrowed. */
typedef void (*kube_done_fn)(void *arg, json_t *obj, const struct err *err);

/* Builds the URL path+query of a call into a new string. */
int kube_call_path(enum kube_verb verb, const struct kube_call *call, char **out,
                   struct err **err) WARN_UNUSED;

/* Starts a request; `body` (borrowed, may be NULL) is serialised now.
 * Returns the transport handle (for kube_http_cancel) or NULL with err set
 * when the call is malformed (done is then not called). */
struct kube_http *kube_send(struct kube_client *c, enum kube_verb verb,
                            const struct kube_call *call, const json_t *body, kube_done_fn done,
                            void *arg, struct err **err);

/* Blocking form. *out (may be NULL when not wanted) receives the response. */
int kube_send_sync(struct kube_client *c, enum kube_verb verb, const struct kube_call *call,
                   const json_t *body, json_t **out, struct err **err) WARN_UNUSED;

/* Convenience wrappers over kube_send_sync; `out` may be NULL. */
int kube_get(struct kube_client *c, const struct kube_call *call, json_t **out,
             struct err **err) WARN_UNUSED;
int kube_create(struct kube_client *c, const struct kube_call *call, const json_t *obj,
                json_t **out, struct err **err) WARN_UNUSED;
int kube_update(struct kube_client *c, const struct kube_call *call, const json_t *obj,
                json_t **out, struct err **err) WARN_UNUSED;
int kube_delete(struct kube_client *c, const struct kube_call *call, struct err **err) WARN_UNUSED;
int kube_patch(struct kube_client *c, enum kube_verb type, const struct kube_call *call,
               const json_t *patch, json_t **out, struct err **err) WARN_UNUSED;

/* Lists every page (call->limit per page, default 500), following
 * `continue`. *items receives a new array of the objects, *rv (may be NULL)
 * the list's resourceVersion (caller frees). An expired continue token
 * (410) restarts the listing once from the beginning. */
int kube_list(struct kube_client *c, const struct kube_call *call, json_t **items, char **rv,
              struct err **err) WARN_UNUSED;

/* Turns an HTTP error response into *err (message from its Status body).
 * Returns the negative code. Exposed for tests. */
int kube_status_error(long status, const char *body, size_t len, const char *what,
                      struct err **err);

/* Appends one JSON-patch operation {"op","path"[,"value"]} to the array
 * `patch`; `path` is built from `n` raw segments, each escaped. `value` is
 * stolen (may be NULL for remove). */
void kube_jpatch_add(json_t *patch, const char *op, const char *const *segments, size_t n,
                     json_t *value);

#endif
