/* cdi — Container Device Interface specs that give a container exactly its
 * MIG slice (docs/internals/cdi.md).
 *
 * The node agent, when the kubelet prepares a claim, writes one CDI spec file
 * into the runtime's dynamic spec directory (/var/run/cdi) and returns the
 * fully qualified device names (`mig.slicer.dev/mig=<name>`); the container
 * runtime (containerd, CRI-O) reads the spec and edits the container: the MIG
 * slice's parent GPU node and GI/CI capability nodes, the driver's control
 * nodes, libraries, binaries, firmware and IPC sockets, the NVIDIA CDI hooks.
 *
 * Three inputs, each read once or cheaply:
 *   - `struct cdi_host`: where the host's files are as the agent sees them;
 *   - `struct cdi_driver`: the driver's files under the driver root, found
 *     once by cdi_driver_discover() and kept by the agent;
 *   - `struct cdi_minors`: /proc/driver/nvidia-caps/mig-minors, parsed once
 *     (the driver fixes every possible GI/CI minor when it loads).
 * cdi_spec_build() then turns a list of MIG slices into a jansson spec, and
 * cdi_spec_write()/cdi_spec_remove() put it on disk durably.
 *
 * Threads: no global state; a driver or minors object may be shared between
 * threads for reading. Errors follow docs/internals/errors.md.
 */
#ifndef SLICER_CDI_CDI_H
#define SLICER_CDI_CDI_H

#include <jansson.h>
#include <stddef.h>

#include "base/err.h"

/* The spec's kind (vendor/class) and the version its fields need: 0.5.0 is
 * the first that admits `hostPath` on device nodes (and device names that
 * start with a digit); nothing newer is used (no annotations, no GIDs). */
#define CDI_VENDOR      "mig.slicer.dev"
#define CDI_CLASS       "mig"
#define CDI_KIND        CDI_VENDOR "/" CDI_CLASS
#define CDI_VERSION     "0.5.0"
#define CDI_DEFAULT_DIR "/var/run/cdi"
/* NVIDIA's hook binary, as nvidia-ctk writes it into its specs. */
#define CDI_DEFAULT_HOOK "/usr/bin/nvidia-cdi-hook"

/* Bounds of what we accept and produce. */
#define CDI_NAME_MAX       128       /* a device name, with its NUL */
#define CDI_UUID_MAX       96        /* NVML's UUID buffer size */
#define CDI_BASE_MAX       200       /* a spec file name without ".json" */
#define CDI_MINORS_MAX_LEN (1 << 20) /* bytes of mig-minors we read */

/* Where the host's files are, as the agent sees them. NULL or "" fields take
 * the default. Device node host paths are dev_root + path (container path
 * unchanged); driver files are found at driver_root + path and written in the
 * spec as host_driver_root + path (the same unless the agent's container
 * sees the host's driver root elsewhere, e.g. the host's / mounted at
 * /driver-root). */
struct cdi_host {
    const char *driver_root;      /* "/"; GPU Operator nodes: "/run/nvidia/driver" */
    const char *host_driver_root; /* driver_root: that folder as the host (and runtime) sees it */
    const char *dev_root;         /* "/" */
    const char *proc_root; /* "/proc": mig-minors is <proc_root>/driver/nvidia-caps/mig-minors */
    const char *hook_path; /* CDI_DEFAULT_HOOK; "none" writes no hooks at all */
};

/* One MIG slice to expose as one CDI device. Plain data. */
struct cdi_mig {
    char name[CDI_NAME_MAX];     /* CDI device name: [A-Za-z0-9] at both ends, [-_.:] inside */
    char mig_uuid[CDI_UUID_MAX]; /* MIG-<uuid>, for messages only; may be empty */
    unsigned gpu_minor;    /* the parent's /dev/nvidia<minor> (NVML minor number, not index) */
    unsigned gi_id, ci_id; /* NVML GPU instance and compute instance ids */
};

/* ---- mig-minors ------------------------------------------------------------- */

struct cdi_minors;

/* Parses the text of a mig-minors file: lines `config N`, `monitor N`,
 * `gpu<G>/gi<I>/access N`, `gpu<G>/gi<I>/ci<C>/access N`, where G is the GPU's
 * minor number (as NVIDIA's nvcaps package reads it). `origin` names the input
 * in messages ("<origin>:<line>: ..."). Malformed lines, duplicate keys and
 * minors above 2^20-1 are errors (EINVAL); keys that are not about a GPU
 * (neither config/monitor nor gpu...) are skipped, for newer drivers.
 * On success *out is owned by the caller (cdi_minors_free). */
int cdi_minors_parse(const char *text, size_t len, const char *origin, struct cdi_minors **out,
                     struct err **err) WARN_UNUSED;

/* Reads <proc_root>/driver/nvidia-caps/mig-minors (at most
 * CDI_MINORS_MAX_LEN bytes, else EFBIG) and parses it. A missing file is
 * ENOENT with a message saying MIG capabilities are absent. */
int cdi_minors_load(const struct cdi_host *host, struct cdi_minors **out,
                    struct err **err) WARN_UNUSED;

/* The minor of gpu<G>/gi<I>/access, or -1 when there is no such line. */
long cdi_minors_gi(const struct cdi_minors *m, unsigned gpu_minor, unsigned gi);
/* The minor of gpu<G>/gi<I>/ci<C>/access, or -1 when there is no such line. */
long cdi_minors_ci(const struct cdi_minors *m, unsigned gpu_minor, unsigned gi, unsigned ci);
/* Number of entries parsed (config and monitor included). */
size_t cdi_minors_count(const struct cdi_minors *m);
void cdi_minors_free(struct cdi_minors *m);

/* ---- the driver's files ----------------------------------------------------- */

struct cdi_driver;

/* Finds, under host->driver_root, what NVIDIA's CDI generation mounts for a
 * compute container: the driver version (from libcuda.so.<v> or
 * libnvidia-ml.so.<v>), every lib*.so.<v> in the directories holding them
 * (and their vdpau/ subfolders), the nvidia-smi family of binaries, the GSP
 * firmware of that version and the persistenced/fabricmanager/MPS IPC paths,
 * plus the symlinks the container needs (libcuda.so, SONAME links). Missing
 * optional files are left out; no driver library is ENOENT, naming the root
 * and the folders searched. On success *out is owned by the caller. */
int cdi_driver_discover(const struct cdi_host *host, struct cdi_driver **out,
                        struct err **err) WARN_UNUSED;

/* The driver version found ("550.54.15"). */
const char *cdi_driver_version(const struct cdi_driver *d);
void cdi_driver_free(struct cdi_driver *d);

/* ---- specs ------------------------------------------------------------------ */

/* Checks a CDI device name as the CDI parser does (EINVAL with the reason). */
int cdi_name_check(const char *name, struct err **err) WARN_UNUSED;

/* Writes "mig.slicer.dev/mig=<name>" into buf (cap bytes). EINVAL on a bad
 * name, ENAMETOOLONG when cap is too small. */
int cdi_qualified_name(const char *name, char *buf, size_t cap, struct err **err) WARN_UNUSED;

/* Builds a CDI spec with one device per slice of migs[0..n): each device
 * holds its parent GPU's /dev/nvidia<minor> and its GI and CI access nodes
 * /dev/nvidia-caps/nvidia-cap<N>; the spec's common edits hold nvidiactl and
 * nvidia-uvm (and nvidia-uvm-tools, nvidia-modeset when present), the
 * driver's files from `drv`, the NVIDIA hooks and NVIDIA_VISIBLE_DEVICES=void.
 * Device nodes are checked on the host (dev_root + path): each must be a
 * character device whose minor matches its name. Errors: n == 0, a bad or
 * repeated name, a GI/CI with no mig-minors line (EINVAL, naming the key), a
 * missing device node (its errno, naming the host path). On success *out is
 * a new reference owned by the caller. */
int cdi_spec_build(const struct cdi_host *host, const struct cdi_driver *drv,
                   const struct cdi_minors *minors, const struct cdi_mig *migs, size_t n,
                   json_t **out, struct err **err) WARN_UNUSED;

/* Checks a spec file's base name: 1..CDI_BASE_MAX-1 characters of
 * [A-Za-z0-9._-], not starting with '.', no "..". EINVAL otherwise. */
int cdi_base_check(const char *base, struct err **err) WARN_UNUSED;

/* Writes spec as <dir>/<base>.json, mode 0644, durably: a temp file in dir
 * (a dot-name the CDI loader ignores), fsync, rename over the old file,
 * fsync of dir. A failure leaves any previous file intact and no temp file;
 * the message names the path and the errno. */
int cdi_spec_write(const char *dir, const char *base, const json_t *spec,
                   struct err **err) WARN_UNUSED;

/* Removes <dir>/<base>.json and syncs dir. Absent is success. */
int cdi_spec_remove(const char *dir, const char *base, struct err **err) WARN_UNUSED;

#endif
