/* CDI spec building: one device per MIG slice, the driver in the common
 * edits. What goes in matches NVIDIA's generation for a MIG device
 * (nvidia-container-toolkit pkg/nvcdi/{mig-device-nvml,common-nvml,wrapper}.go,
 * internal/platform-support/dgpu/nvml.go, internal/discover/{hooks,ldconfig,
 * mounts,ipc}.go); docs/internals/cdi.md says what and why. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "base/xalloc.h"
#include "cdi/cdi_int.h"

static int alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int cdi_name_check(const char *name, struct err **err)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0)
        return err_set(err, EINVAL, "empty CDI device name");
    if (n >= CDI_NAME_MAX)
        return err_set(err, EINVAL, "CDI device name '%.40s...' is longer than %d characters", name,
                       CDI_NAME_MAX - 1);
    if (!alnum(name[0]) || !alnum(name[n - 1]))
        return err_set(err, EINVAL,
                       "CDI device name '%s' must start and end with a letter or a digit", name);
    for (size_t i = 1; i + 1 < n; i++)
        if (!alnum(name[i]) && !strchr("-_.:", name[i]))
            return err_set(err, EINVAL, "CDI device name '%s': character '%c' is not allowed", name,
                           name[i]);
    return 0;
}

int cdi_qualified_name(const char *name, char *buf, size_t cap, struct err **err)
{
    int rc = cdi_name_check(name, err);
    if (rc < 0)
        return rc;
    int len = snprintf(buf, cap, "%s=%s", CDI_KIND, name);
    if (len < 0 || (size_t)len >= cap)
        return err_set(err, ENAMETOOLONG, "%s=%s does not fit in %zu bytes", CDI_KIND, name, cap);
    return 0;
}

/* ---- device nodes ----------------------------------------------------------- */

enum { REQUIRED = 0, OPTIONAL = 1 };

/* Appends {path, hostPath} to nodes after checking the host node: a character
 * device with minor want_minor (when >= 0). Returns 0, or 1 when an optional
 * node is absent (nothing appended), or a negative error naming the host path. */
static int add_node(const struct cdi_host *host, json_t *nodes, const char *path, long want_minor,
                    int optional, struct err **err)
{
    char *hpath = cdi_path_join(host ? host->dev_root : NULL, path);
    struct stat st;
    int rc = 0;
    if (stat(hpath, &st) < 0)
        rc = errno == ENOENT && optional
                 ? 1
                 : err_set(err, errno, "device node %s: %s", hpath, strerror(errno));
    else if (!S_ISCHR(st.st_mode))
        rc = err_set(err, ENODEV, "device node %s is not a character device", hpath);
    else if (want_minor >= 0 && minor(st.st_rdev) != (unsigned long)want_minor)
        rc = err_set(err, ENODEV, "device node %s has minor %u, expected %ld", hpath,
                     minor(st.st_rdev), want_minor);
    if (rc == 0)
        json_array_append_new(nodes, json_pack("{s:s, s:s}", "path", path, "hostPath", hpath));
    free(hpath);
    return rc;
}

/* The edits of one slice: its parent GPU and its GI and CI access nodes
 * (dgpu/nvml.go: newNvmlMigDiscoverer). */
static int mig_nodes(const struct cdi_host *host, const struct cdi_minors *m,
                     const struct cdi_mig *g, json_t *nodes, struct err **err)
{
    long gi = cdi_minors_gi(m, g->gpu_minor, g->gi_id);
    long ci = cdi_minors_ci(m, g->gpu_minor, g->gi_id, g->ci_id);
    if (gi < 0)
        return err_set(err, EINVAL, "mig-minors has no line gpu%u/gi%u/access", g->gpu_minor,
                       g->gi_id);
    if (ci < 0)
        return err_set(err, EINVAL, "mig-minors has no line gpu%u/gi%u/ci%u/access", g->gpu_minor,
                       g->gi_id, g->ci_id);
    char path[64];
    snprintf(path, sizeof path, "/dev/nvidia%u", g->gpu_minor);
    int rc = add_node(host, nodes, path, (long)g->gpu_minor, REQUIRED, err);
    snprintf(path, sizeof path, "/dev/nvidia-caps/nvidia-cap%ld", gi);
    if (rc == 0)
        rc = add_node(host, nodes, path, gi, REQUIRED, err);
    snprintf(path, sizeof path, "/dev/nvidia-caps/nvidia-cap%ld", ci);
    if (rc == 0)
        rc = add_node(host, nodes, path, ci, REQUIRED, err);
    return rc;
}

static int mig_device(const struct cdi_host *host, const struct cdi_minors *m,
                      const struct cdi_mig *g, json_t *devices, struct err **err)
{
    json_t *nodes = json_array();
    int rc = mig_nodes(host, m, g, nodes, err);
    if (rc < 0) {
        json_decref(nodes);
        return err_wrap(err, "MIG device %s%s%s (GPU minor %u, GI %u, CI %u)", g->name,
                        g->mig_uuid[0] ? " " : "", g->mig_uuid, g->gpu_minor, g->gi_id, g->ci_id);
    }
    json_array_append_new(devices, json_pack("{s:s, s:{s:o}}", "name", g->name, "containerEdits",
                                             "deviceNodes", nodes));
    return 0;
}

/* ---- common edits ------------------------------------------------------------ */

/* nvidiactl and nvidia-uvm are required (no CUDA without them); the other two
 * are added when present, as NVIDIA's char-device discoverer does for all. */
static int control_nodes(const struct cdi_host *host, json_t *nodes, struct err **err)
{
    static const struct {
        const char *path;
        int optional;
    } ctl[] = {{"/dev/nvidiactl", REQUIRED},
               {"/dev/nvidia-uvm", REQUIRED},
               {"/dev/nvidia-uvm-tools", OPTIONAL},
               {"/dev/nvidia-modeset", OPTIONAL}};
    for (size_t i = 0; i < sizeof ctl / sizeof ctl[0]; i++) {
        int rc = add_node(host, nodes, ctl[i].path, -1, ctl[i].optional, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* internal/discover/hooks.go: createContainer hooks of nvidia-cdi-hook, whose
 * argv[0] is the binary's name ("nvidia-ctk hook" for nvidia-ctk). */
static json_t *hook(const char *path, const char *name)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    json_t *args = json_array();
    json_array_append_new(args, json_string(base));
    if (strcmp(base, "nvidia-ctk") == 0)
        json_array_append_new(args, json_string("hook"));
    json_array_append_new(args, json_string(name));
    return json_pack("{s:s, s:s, s:o, s:[s]}", "hookName", "createContainer", "path", path, "args",
                     args, "env", "NVIDIA_CTK_DEBUG=false");
}

static void add_args(json_t *h, const char *flag, const struct cdi_strs *values)
{
    json_t *args = json_object_get(h, "args");
    for (size_t i = 0; i < values->n; i++) {
        json_array_append_new(args, json_string(flag));
        json_array_append_new(args, json_string(values->v[i]));
    }
}

/* The hooks in NVIDIA's order: create-symlinks, enable-cuda-compat,
 * update-ldcache (the folders of the mounted libraries),
 * disable-device-node-modification. */
static json_t *hooks(const char *path, const struct cdi_driver *d)
{
    json_t *out = json_array();
    if (d->links.n > 0) {
        json_t *h = hook(path, "create-symlinks");
        add_args(h, "--link", &d->links);
        json_array_append_new(out, h);
    }
    json_t *compat = hook(path, "enable-cuda-compat");
    json_array_append_new(json_object_get(compat, "args"),
                          json_sprintf("--host-driver-version=%s", d->version));
    json_array_append_new(out, compat);
    struct cdi_strs folders = {0};
    for (size_t i = 0; i < d->libs.n; i++) {
        char *dir = xstrdup(d->libs.v[i].container);
        *strrchr(dir, '/') = '\0';
        cdi_strs_add(&folders, dir[0] ? dir : "/");
        free(dir);
    }
    if (folders.n > 0) {
        json_t *h = hook(path, "update-ldcache");
        add_args(h, "--folder", &folders);
        json_array_append_new(out, h);
    }
    cdi_strs_free(&folders);
    json_array_append_new(out, hook(path, "disable-device-node-modification"));
    return out;
}

/* internal/discover/mounts.go and ipc.go: read-only bind mounts for driver
 * files; sockets writable but noexec. */
static void add_mounts(json_t *mounts, const struct cdi_driver *d, const struct cdi_files *f,
                       int ipc)
{
    for (size_t i = 0; i < f->n; i++) {
        json_t *opts =
            ipc ? json_pack("[s,s,s,s,s]", "nosuid", "nodev", "rbind", "rprivate", "noexec")
                : json_pack("[s,s,s,s,s]", "ro", "nosuid", "nodev", "rbind", "rprivate");
        /* Found under the root as the agent sees it; mounted from the root as the host does. */
        const char *h = f->v[i].host;
        size_t rl = strcmp(d->root, "/") == 0 ? 0 : strlen(d->root);
        bool under = strncmp(h, d->root, rl) == 0 && (h[rl] == '/' || h[rl] == '\0');
        char *host =
            under && d->host_root ? cdi_path_join(d->host_root, h[rl] ? h + rl : "/") : xstrdup(h);
        json_array_append_new(mounts,
                              json_pack("{s:s, s:s, s:o}", "hostPath", host, "containerPath",
                                        f->v[i].container, "options", opts));
        free(host);
    }
}

static json_t *env(const struct cdi_driver *d)
{
    json_t *out = json_array();
    if (d && d->lib_dirs.n > 0) {
        size_t len = sizeof "NVIDIA_CTK_LIBCUDA_DIR=";
        for (size_t i = 0; i < d->lib_dirs.n; i++)
            len += strlen(d->lib_dirs.v[i]) + 1;
        char *s = xmalloc(len);
        size_t at = (size_t)snprintf(s, len, "NVIDIA_CTK_LIBCUDA_DIR=");
        for (size_t i = 0; i < d->lib_dirs.n; i++)
            at += (size_t)snprintf(s + at, len - at, "%s%s", i ? ":" : "", d->lib_dirs.v[i]);
        json_array_append_new(out, json_string(s));
        free(s);
    }
    /* pkg/nvcdi/wrapper.go: the legacy runtime hook must not add devices again. */
    json_array_append_new(out, json_string("NVIDIA_VISIBLE_DEVICES=void"));
    return out;
}

static int common_edits(const struct cdi_host *host, const struct cdi_driver *d, json_t **out,
                        struct err **err)
{
    json_t *nodes = json_array();
    int rc = control_nodes(host, nodes, err);
    if (rc < 0) {
        json_decref(nodes);
        return rc;
    }
    json_t *edits = json_pack("{s:o, s:o}", "env", env(d), "deviceNodes", nodes);
    const char *hook_path = cdi_or(host ? host->hook_path : NULL, CDI_DEFAULT_HOOK);
    if (d && strcmp(hook_path, "none") != 0)
        json_object_set_new(edits, "hooks", hooks(hook_path, d));
    if (d) {
        json_t *mounts = json_array();
        add_mounts(mounts, d, &d->libs, 0);
        add_mounts(mounts, d, &d->bins, 0);
        add_mounts(mounts, d, &d->firmware, 0);
        add_mounts(mounts, d, &d->ipc, 1);
        json_object_set_new(edits, "mounts", mounts);
    }
    *out = edits;
    return 0;
}

/* ---- the spec ---------------------------------------------------------------- */

static int check_names(const struct cdi_mig *migs, size_t n, struct err **err)
{
    if (n == 0)
        return err_set(err, EINVAL, "a CDI spec needs at least one device");
    for (size_t i = 0; i < n; i++) {
        if (memchr(migs[i].name, '\0', sizeof migs[i].name) == NULL ||
            memchr(migs[i].mig_uuid, '\0', sizeof migs[i].mig_uuid) == NULL)
            return err_set(err, EINVAL, "MIG device %zu: name or UUID is not terminated", i);
        int rc = cdi_name_check(migs[i].name, err);
        if (rc < 0)
            return rc;
        for (size_t k = 0; k < i; k++)
            if (strcmp(migs[k].name, migs[i].name) == 0)
                return err_set(err, EINVAL, "CDI device name '%s' is used twice", migs[i].name);
    }
    return 0;
}

int cdi_spec_build(const struct cdi_host *host, const struct cdi_driver *drv,
                   const struct cdi_minors *minors, const struct cdi_mig *migs, size_t n,
                   json_t **out, struct err **err)
{
    int rc = check_names(migs, n, err);
    if (rc < 0)
        return rc;
    json_t *devices = json_array();
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = mig_device(host, minors, &migs[i], devices, err);
    json_t *edits = NULL;
    if (rc == 0)
        rc = common_edits(host, drv, &edits, err);
    if (rc < 0) {
        json_decref(devices);
        return rc;
    }
    *out = json_pack("{s:s, s:s, s:o, s:o}", "cdiVersion", CDI_VERSION, "kind", CDI_KIND, "devices",
                     devices, "containerEdits", edits);
    return 0;
}
