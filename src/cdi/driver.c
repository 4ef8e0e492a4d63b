/* The driver's files under a driver root, found once, as NVIDIA's CDI
 * generation finds them for a compute container (nvidia-container-toolkit
 * pkg/nvcdi/driver-nvml.go, internal/lookup/root/root.go, pkg/lookup/library.go,
 * internal/discover/{ipc,symlinks}.go). What we match and what we leave out
 * is written down in docs/internals/cdi.md. */
#define _GNU_SOURCE /* strverscmp */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "cdi/cdi_int.h"

/* NVIDIA's library search folders (pkg/lookup/library.go), relative to the root. */
static const char *const lib_search[] = {
    "/usr/lib64",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu/nvidia/current",
    "/usr/lib/aarch64-linux-gnu/nvidia/current",
    "/lib64",
    "/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/lib/x86_64-linux-gnu/nvidia/current",
    "/lib/aarch64-linux-gnu/nvidia/current",
};

/* pkg/nvcdi/driver-nvml.go: newDriverBinariesDiscoverer. */
static const char *const binaries[] = {
    "nvidia-smi",
    "nvidia-debugdump",
    "nvidia-persistenced",
    "nvidia-cuda-mps-control",
    "nvidia-cuda-mps-server",
    "nvidia-imex",
    "nvidia-imex-ctl",
};

/* pkg/lookup/path.go: the default PATH, searched under the root. */
static const char *const bin_search[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                                         "/usr/bin",        "/sbin",          "/bin"};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The part of a resolved host path inside the root ("/usr/lib/x"), or NULL
 * when the path is outside it (a symlink that escapes the root). */
static const char *inside(const struct cdi_driver *d, const char *real)
{
    if (strcmp(d->root, "/") == 0)
        return real;
    size_t n = strlen(d->root);
    if (strncmp(real, d->root, n) != 0 || (real[n] != '/' && real[n] != '\0'))
        return NULL;
    return real[n] ? real + n : "/";
}

/* Resolves root + cpath (symlinks followed, as NVIDIA's symlink locator
 * does). Returns the host path and sets *container, or NULL when the path is
 * absent or leaves the root. Both are new strings. */
static char *resolve(const struct cdi_driver *d, const char *cpath, char **container)
{
    char *joined = cdi_path_join(d->root, cpath);
    char *real = realpath(joined, NULL);
    free(joined);
    const char *c = real ? inside(d, real) : NULL;
    if (c == NULL) {
        free(real);
        return NULL;
    }
    *container = xstrdup(c);
    return real;
}

static int version_like(const char *s)
{
    int dots = 0;
    if (*s < '0' || *s > '9')
        return 0;
    for (; *s; s++) {
        if (*s == '.')
            dots++;
        else if (*s < '0' || *s > '9')
            return 0;
    }
    return dots > 0;
}

/* Sorted names of a folder (container path cdir), or 0 when it cannot be read. */
static int list_dir(const struct cdi_driver *d, const char *cdir, struct dirent ***names)
{
    char *host = cdi_path_join(d->root, cdir);
    int n = scandir(host, names, NULL, alphasort);
    free(host);
    return n < 0 ? 0 : n;
}

static void free_names(struct dirent **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The search folders that exist, resolved inside the root, without repeats. */
static void search_dirs(const struct cdi_driver *d, struct cdi_strs *dirs)
{
    for (size_t i = 0; i < N(lib_search); i++) {
        char *c = NULL;
        char *real = resolve(d, lib_search[i], &c);
        struct stat st;
        if (real && stat(real, &st) == 0 && S_ISDIR(st.st_mode))
            cdi_strs_add(dirs, c);
        free(real);
        free(c);
    }
}

/* The highest version <v> of `prefix`<v> in dirs, into d->version. */
static int find_version(struct cdi_driver *d, const struct cdi_strs *dirs, const char *prefix)
{
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < dirs->n; i++) {
        struct dirent **names = NULL;
        int n = list_dir(d, dirs->v[i], &names);
        for (int k = 0; k < n; k++) {
            const char *v = names[k]->d_name + plen;
            if (strncmp(names[k]->d_name, prefix, plen) == 0 && version_like(v) &&
                strlen(v) < sizeof d->version && (!d->version[0] || strverscmp(v, d->version) > 0))
                snprintf(d->version, sizeof d->version, "%s", v);
        }
        free_names(names, n);
    }
    return d->version[0] ? 0 : -1;
}

/* Adds root + cdir/name if it resolves to a regular file inside the root. */
static void add_resolved(struct cdi_driver *d, struct cdi_files *f, const char *cdir,
                         const char *name)
{
    size_t len = strlen(cdir) + strlen(name) + 2;
    char *cpath = xmalloc(len);
    snprintf(cpath, len, "%s/%s", strcmp(cdir, "/") == 0 ? "" : cdir, name);
    char *c = NULL;
    char *real = resolve(d, cpath, &c);
    struct stat st;
    if (real && stat(real, &st) == 0 && S_ISREG(st.st_mode) && !cdi_files_has(f, c))
        cdi_files_add(f, real, c);
    free(real);
    free(c);
    free(cpath);
}

/* Adds every name in cdir matching pattern; returns how many matched. */
static int add_matching(struct cdi_driver *d, struct cdi_files *f, const char *cdir,
                        const char *pattern)
{
    struct dirent **names = NULL;
    int n = list_dir(d, cdir, &names), matched = 0;
    for (int k = 0; k < n; k++)
        if (fnmatch(pattern, names[k]->d_name, 0) == 0) {
            add_resolved(d, f, cdir, names[k]->d_name);
            matched++;
        }
    free_names(names, n);
    return matched;
}

/* Libraries: every *.so.<version> in the folders holding lib*.so.<version>
 * and in their vdpau/ subfolders, plus the legacy libnvidia-nvvm70.so.*. */
static void find_libs(struct cdi_driver *d, const struct cdi_strs *dirs)
{
    char pattern[96];
    snprintf(pattern, sizeof pattern, "lib*.so.%s", d->version);
    for (size_t i = 0; i < dirs->n; i++) {
        struct cdi_files probe = {0}; /* only counts: the mounts are added below */
        if (add_matching(d, &probe, dirs->v[i], pattern) > 0)
            cdi_strs_add(&d->lib_dirs, dirs->v[i]);
        cdi_files_free(&probe);
    }
    snprintf(pattern, sizeof pattern, "*.so.%s", d->version);
    for (size_t i = 0; i < d->lib_dirs.n; i++) {
        add_matching(d, &d->libs, d->lib_dirs.v[i], pattern);
        char *vdpau = cdi_path_join(d->lib_dirs.v[i], "vdpau");
        add_matching(d, &d->libs, vdpau, pattern);
        free(vdpau);
    }
    for (size_t i = 0; i < d->lib_dirs.n; i++)
        add_matching(d, &d->libs, d->lib_dirs.v[i], "libnvidia-nvvm70.so.*");
}

static void add_link(struct cdi_driver *d, const char *target, const char *cdir, const char *link)
{
    size_t len = strlen(target) + strlen(cdir) + strlen(link) + 4;
    char *s = xmalloc(len);
    snprintf(s, len, "%s::%s/%s", target, cdir, link);
    cdi_strs_add(&d->links, s);
    free(s);
}

/* Links in host folder hdir whose target is `target`: recreated in the
 * container folder cdir, and one level more (libX.so -> libX.so.1 ->
 * libX.so.<v>). This is what NVIDIA's SONAME and .so links give on a normal
 * install, read from the host's own links instead of the ELF headers. */
static void host_links(struct cdi_driver *d, const char *hdir, const char *cdir, const char *target,
                       int depth)
{
    struct dirent **names = NULL;
    int n = scandir(hdir, &names, NULL, alphasort);
    char buf[PATH_MAX];
    for (int k = 0; k < n; k++) {
        const char *name = names[k]->d_name;
        size_t plen = strlen(hdir) + strlen(name) + 2;
        char *path = xmalloc(plen);
        snprintf(path, plen, "%s/%s", hdir, name);
        ssize_t len = strncmp(name, "lib", 3) == 0 ? readlink(path, buf, sizeof buf - 1) : -1;
        free(path);
        if (len <= 0)
            continue;
        buf[len] = '\0';
        const char *base = strrchr(buf, '/') ? strrchr(buf, '/') + 1 : buf;
        if (strcmp(base, target) != 0 || strcmp(name, target) == 0)
            continue;
        add_link(d, target, cdir, name);
        if (depth < 2)
            host_links(d, hdir, cdir, name, depth + 1);
    }
    free_names(names, n < 0 ? 0 : n);
}

/* internal/discover/symlinks.go: getLinksForMount's fixed links, then the
 * SONAME/.so links. */
/* Whether file is <stem>.so.<version>. */
static int is_driver_lib(const struct cdi_driver *d, const char *file, const char *stem)
{
    size_t n = strlen(stem);
    return strncmp(file, stem, n) == 0 && strncmp(file + n, ".so.", 4) == 0 &&
           strcmp(file + n + 4, d->version) == 0;
}

static void find_links(struct cdi_driver *d)
{
    for (size_t i = 0; i < d->libs.n; i++) {
        const struct cdi_file *f = &d->libs.v[i];
        char *cdir = xstrdup(f->container), *hdir = xstrdup(f->host);
        *strrchr(cdir, '/') = '\0';
        *strrchr(hdir, '/') = '\0';
        const char *file = strrchr(f->container, '/') + 1;
        if (is_driver_lib(d, file, "libcuda")) /* many programs dlopen libcuda.so */
            add_link(d, "libcuda.so.1", cdir, "libcuda.so");
        if (is_driver_lib(d, file, "libGLX_nvidia")) /* GLVND's indirect GLX */
            add_link(d, file, cdir, "libGLX_indirect.so.0");
        if (is_driver_lib(d, file, "libnvidia-opticalflow"))
            add_link(d, "libnvidia-opticalflow.so.1", cdir, "libnvidia-opticalflow.so");
        host_links(d, hdir, cdir, file, 1);
        free(cdir);
        free(hdir);
    }
}

/* The first executable of each name in the default PATH under the root. */
static void find_bins(struct cdi_driver *d)
{
    for (size_t b = 0; b < N(binaries); b++)
        for (size_t i = 0; i < N(bin_search); i++) {
            size_t len = strlen(bin_search[i]) + strlen(binaries[b]) + 2;
            char *cpath = xmalloc(len);
            snprintf(cpath, len, "%s/%s", bin_search[i], binaries[b]);
            char *c = NULL;
            char *host = resolve(d, cpath, &c);
            struct stat st;
            int found = host && stat(host, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
            if (found)
                cdi_files_add(&d->bins, host, cpath);
            free(host);
            free(c);
            free(cpath);
            if (found)
                break;
        }
}

/* GSP firmware: nvidia/<version>/gsp*.bin in the kernel's firmware folders. */
static void find_firmware(struct cdi_driver *d)
{
    struct utsname u;
    const char *rel = uname(&u) == 0 ? u.release : "unknown";
    const char *const roots[][2] = {{"/lib/firmware/updates/", rel},
                                    {"/lib/firmware/updates", ""},
                                    {"/lib/firmware/", rel},
                                    {"/lib/firmware", ""}};
    char cdir[512];
    for (size_t i = 0; i < N(roots); i++) {
        if (snprintf(cdir, sizeof cdir, "%s%s/nvidia/%s", roots[i][0], roots[i][1], d->version) >=
            (int)sizeof cdir)
            continue;
        struct dirent **names = NULL;
        int n = list_dir(d, cdir, &names);
        for (int k = 0; k < n; k++) {
            if (fnmatch("gsp*.bin", names[k]->d_name, 0) != 0)
                continue;
            size_t len = strlen(cdir) + strlen(names[k]->d_name) + 2;
            char *cpath = xmalloc(len);
            snprintf(cpath, len, "%s/%s", cdir, names[k]->d_name);
            char *c = NULL;
            char *host = resolve(d, cpath, &c);
            struct stat st;
            if (host && stat(host, &st) == 0 && S_ISREG(st.st_mode) &&
                !cdi_files_has(&d->firmware, cpath))
                cdi_files_add(&d->firmware, host, cpath);
            free(host);
            free(c);
            free(cpath);
        }
        free_names(names, n);
    }
}

/* internal/discover/ipc.go: the first of each socket in /run or /var/run,
 * and the MPS pipe folder. */
static void find_ipc(struct cdi_driver *d)
{
    const char *const paths[][2] = {
        {"/run/nvidia-persistenced/socket", "/var/run/nvidia-persistenced/socket"},
        {"/run/nvidia-fabricmanager/socket", "/var/run/nvidia-fabricmanager/socket"},
        {"/tmp/nvidia-mps", NULL},
    };
    for (size_t i = 0; i < N(paths); i++)
        for (size_t k = 0; k < 2 && paths[i][k]; k++) {
            char *host = cdi_path_join(d->root, paths[i][k]);
            struct stat st;
            int ok = stat(host, &st) == 0 && (S_ISSOCK(st.st_mode) || S_ISDIR(st.st_mode));
            if (ok)
                cdi_files_add(&d->ipc, host, paths[i][k]);
            free(host);
            if (ok)
                break;
        }
}

static int open_root(struct cdi_driver *d, const struct cdi_host *host, struct err **err)
{
    const char *root = cdi_or(host ? host->driver_root : NULL, "/");
    d->root = realpath(root, NULL);
    if (d->root == NULL)
        return err_set(err, errno, "driver root %s: %s", root, strerror(errno));
    struct stat st;
    if (stat(d->root, &st) < 0 || !S_ISDIR(st.st_mode))
        return err_set(err, ENOTDIR, "driver root %s is not a folder", root);
    const char *hr = cdi_or(host ? host->host_driver_root : NULL, d->root);
    if (hr[0] != '/')
        return err_set(err, EINVAL, "host driver root %s is not an absolute path", hr);
    d->host_root = xstrdup(hr);
    return 0;
}

int cdi_driver_discover(const struct cdi_host *host, struct cdi_driver **out, struct err **err)
{
    struct cdi_driver *d = xcalloc(1, sizeof *d);
    int rc = open_root(d, host, err);
    if (rc < 0) {
        cdi_driver_free(d);
        return rc;
    }
    struct cdi_strs dirs = {0};
    search_dirs(d, &dirs);
    if (find_version(d, &dirs, "libcuda.so.") < 0 &&
        find_version(d, &dirs, "libnvidia-ml.so.") < 0) {
        rc = err_set(err, ENOENT,
                     "no NVIDIA driver library (libcuda.so.<version> or "
                     "libnvidia-ml.so.<version>) under driver root %s in %s, %s, ... (%zu "
                     "folders)",
                     d->root, lib_search[0], lib_search[1], N(lib_search));
        cdi_strs_free(&dirs);
        cdi_driver_free(d);
        return rc;
    }
    find_libs(d, &dirs);
    cdi_strs_free(&dirs);
    find_links(d);
    find_bins(d);
    find_firmware(d);
    find_ipc(d);
    *out = d;
    return 0;
}

const char *cdi_driver_version(const struct cdi_driver *d)
{
    return d->version;
}

void cdi_driver_free(struct cdi_driver *d)
{
    if (d == NULL)
        return;
    free(d->root);
    free(d->host_root);
    cdi_strs_free(&d->lib_dirs);
    cdi_files_free(&d->libs);
    cdi_files_free(&d->bins);
    cdi_files_free(&d->firmware);
    cdi_files_free(&d->ipc);
    cdi_strs_free(&d->links);
    free(d);
}
