/* kubelet — slicer's node agent as a kubelet DRA plugin (docs/internals/kubelet.md).
 *
 * Serves, on two unix sockets:
 *   <registry_dir>/<driver>-reg.sock   pluginregistration.Registration
 *                                      (GetInfo, NotifyRegistrationStatus)
 *   <plugin_dir>/dra.sock              k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin and
 *                                      k8s.io.kubelet.pkg.apis.dra.v1beta1.DRAPlugin
 *                                      (NodePrepareResources, NodeUnprepareResources)
 * The kubelet's plugin watcher finds the registration socket, calls GetInfo,
 * picks the first of our supported_versions it knows ("v1.DRAPlugin", then
 * "v1beta1.DRAPlugin") and tells us the outcome with NotifyRegistrationStatus.
 *
 * Event loop: the plugin owns one epoll fd (kl_plugin_fd); add it to the
 * agent's loop for EPOLLIN and call kl_plugin_dispatch when it is readable.
 * Nothing here blocks.
 *
 * Answers are asynchronous. A Prepare or Unprepare request becomes a call
 * handed to ops->prepare / ops->unprepare; the agent answers each claim of it,
 * in any order, whenever it knows the answer (after reading the claim from the
 * API server, after NVML...). The response goes to the kubelet when the last
 * claim is answered.
 *
 * Call lifetime: a call stays valid until each of its claims has been answered
 * exactly once: the answer to its last claim frees it. A call whose request
 * the kubelet gave up on (cancelled stream, closed connection, grpc-timeout
 * passed) is dead: kl_call_dead() says so, its answers are accepted and
 * dropped, and they must still be given, since the last one frees it.
 * kl_plugin_free() frees calls that are still unanswered; after it no call
 * may be touched.
 *
 * Threads: none. Every function, and every callback, runs on the thread of
 * the agent's event loop. Callbacks may answer calls (this one or others),
 * but must not free the plugin. */
#ifndef SLICER_KUBELET_KUBELET_H
#define SLICER_KUBELET_KUBELET_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define KL_DEFAULT_REGISTRY_DIR "/var/lib/kubelet/plugins_registry"
#define KL_DEFAULT_PLUGINS_DIR  "/var/lib/kubelet/plugins" /* + /<driver>/dra.sock */

struct kl_plugin_config {
    const char *driver;       /* DRA driver name, e.g. "mig.slicer.dev" (required) */
    const char *registry_dir; /* NULL: KL_DEFAULT_REGISTRY_DIR */
    const char *plugin_dir;   /* NULL: KL_DEFAULT_PLUGINS_DIR/<driver> */
    size_t max_msg;           /* largest request message; 0: 4 MiB */
    unsigned max_conns;       /* open connections; 0: 32 */
    unsigned max_streams;     /* concurrent calls per connection; 0: 64 */
};

/* One claim of a call, as the kubelet names it. Strings are owned by the call. */
struct kl_claim {
    const char *namespace_;
    const char *uid;
    const char *name;
};

/* One prepared device (NodePrepareResources' Device message). The plugin
 * copies what it needs; the caller keeps ownership of its arrays. */
struct kl_device {
    const char *const *request_names; /* the claim requests this device serves */
    size_t n_request_names;
    const char *pool_name;
    const char *device_name;
    const char *const *cdi_device_ids; /* fully qualified, "mig.slicer.dev/mig=<id>" */
    size_t n_cdi_device_ids;
};

struct kl_call;

struct kl_plugin_ops {
    /* NotifyRegistrationStatus: the kubelet registered us (ok) or refused us
     * (error says why). Optional. `error` is valid during the callback only. */
    void (*registered)(void *arg, bool ok, const char *error);
    /* NodePrepareResources with at least one claim: the agent now owns `call`
     * and answers every claim with kl_call_prepared(). Required. */
    void (*prepare)(void *arg, struct kl_call *call);
    /* NodeUnprepareResources with at least one claim: answer every claim with
     * kl_call_unprepared(). Required. */
    void (*unprepare)(void *arg, struct kl_call *call);
};

/* Creates the two socket directories (mode 0750, parents too), removes stale
 * socket files, listens on the DRA socket, then on the registration socket
 * (so the endpoint GetInfo names is served before the kubelet can ask).
 * `cfg` strings are copied; `ops` is kept by pointer and must outlive the
 * plugin. Returns NULL and fills *err on failure. */
struct kl_plugin *kl_plugin_new(const struct kl_plugin_config *cfg, const struct kl_plugin_ops *ops,
                                void *arg, struct err **err);

/* The epoll fd to watch for EPOLLIN. */
int kl_plugin_fd(const struct kl_plugin *p);

/* Serves whatever is ready without blocking; callbacks run from here. */
void kl_plugin_dispatch(struct kl_plugin *p);

/* Absolute paths of the two sockets (valid for the plugin's life). */
const char *kl_plugin_registration_socket(const struct kl_plugin *p);
const char *kl_plugin_dra_socket(const struct kl_plugin *p);

/* Removes both socket files, closes every connection (pending calls die and
 * are freed) and frees the plugin. NULL is a no-op. */
void kl_plugin_free(struct kl_plugin *p);

/* The claims of a call: nclaims >= 1; claim(i) for i < nclaims. */
size_t kl_call_nclaims(const struct kl_call *c);
const struct kl_claim *kl_call_claim(const struct kl_call *c, size_t i);

/* The gRPC service version the kubelet used: "v1" or "v1beta1". */
const char *kl_call_version(const struct kl_call *c);

/* True once the kubelet no longer waits for this call's answer. */
bool kl_call_dead(const struct kl_call *c);

/* Answers claim i of a Prepare call: its devices (n of them, may be 0) when
 * error is NULL or "", else the error text the kubelet reports. Answering the
 * last unanswered claim sends the response and frees the call. Returns 0, or
 * -EINVAL (i out of range, an Unprepare call) or -EALREADY (claim i answered
 * before; the call is still valid since that answer was not the last). */
int kl_call_prepared(struct kl_call *c, size_t i, const struct kl_device *devices, size_t n,
                     const char *error);

/* Answers claim i of an Unprepare call: success (error NULL or "") or an
 * error text. Same rules and returns as kl_call_prepared(). */
int kl_call_unprepared(struct kl_call *c, size_t i, const char *error);

#endif
