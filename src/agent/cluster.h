/* cluster — the agent in cluster mode (docs/internals/agent.md; the contract
 * with the controller is docs/internals/cluster.md).
 *
 * Publishes this node's GPUs in its GPUNode and its MIG capacity on the Node
 * (with --handoff dra, also as DRA ResourceSlices: rs_publish.h),
 * watches the GPUSlices labelled slicer.dev/node=<node> and makes them real
 * through NVML (journal first), tears them down and removes their finalizer,
 * and reconciles NVML, the journal and the API at start-up and after every
 * re-list.
 *
 * Threads: one event loop (epoll: the kube client's fd, a signalfd for
 * SIGINT/SIGTERM, the worker's eventfd); every NVML call runs on one worker
 * thread (cluster_worker.h).
 */
#ifndef SLICER_AGENT_CLUSTER_H
#define SLICER_AGENT_CLUSTER_H

#include <stdbool.h>

#include "base/err.h"

#define CLUSTER_DEFAULT_STATE   "/var/lib/slicer"
#define CLUSTER_JOURNAL_FILE    "cluster-journal.json" /* host mode's is journal.json */
#define CLUSTER_DEFAULT_BOOT_ID "/proc/sys/kernel/random/boot_id"
#define CLUSTER_DEFAULT_HB_S    30

struct cluster_config {
    const char *kubeconfig;   /* NULL: $KUBECONFIG, in-cluster, ~/.kube/config */
    const char *node;         /* the Node's name (required) */
    const char *state_dir;    /* NULL: CLUSTER_DEFAULT_STATE */
    const char *boot_id_file; /* NULL: CLUSTER_DEFAULT_BOOT_ID */
    const char *nvml_library; /* NULL: $SLICER_NVML_LIBRARY or libnvidia-ml.so.1 */
    unsigned heartbeat_s;     /* 0: CLUSTER_DEFAULT_HB_S */
    const char *version;      /* status.agentVersion */
    bool normal_events;       /* also SliceCreated/SliceDestroyed (--events all) */
    bool dra;                 /* --handoff dra: the DRA driver mig.slicer.dev (ResourceSlices,
                                 the kubelet's sockets, CDI specs) */
    const char *kubelet_dir;  /* NULL: /var/lib/kubelet */
    const char *cdi_dir;      /* NULL: /var/run/cdi */
    const char *driver_root, *dev_root, *proc_root,
        *cdi_hook;                /* NULL: "/", "/", "/proc", NVIDIA's */
    const char *host_driver_root; /* NULL: driver_root (cdi_host) */
    unsigned prepare_wait_s;      /* 0: the default */
};

/* Runs until SIGINT or SIGTERM (blocked in the calling thread and read from a
 * signalfd) or a fatal error. On a clean stop the running NVML call is let
 * finish and journaled, and the GPUNode's Ready condition set False.
 * Returns 0 on a clean stop. */
int cluster_run(const struct cluster_config *cfg, struct err **err) WARN_UNUSED;

#endif
