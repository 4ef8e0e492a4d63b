/* The cdi module: the mig-minors parser, driver-root discovery on a fixture
 * tree, spec content (device nodes made with mknod when run as root), names,
 * durable write and remove, and every error path. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cdi/cdi.h"

#define V "550.54.15"

static char tmp[64];

static void setup(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/slicer-cdi-unit.XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
}

/* tmp + "/" + rel, in a static rotating buffer (a few live at once). */
static const char *at(const char *rel)
{
    static char bufs[8][512];
    static int i;
    char *b = bufs[i++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", tmp, rel);
    return b;
}

static void mkdirs(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmp, rel);
    for (char *s = p + strlen(tmp) + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    cr_assert(mkdir(p, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", p, strerror(errno));
}

static void mkfile(const char *rel, const char *text, mode_t mode)
{
    int fd = open(at(rel), O_WRONLY | O_CREAT | O_TRUNC, mode);
    cr_assert_geq(fd, 0, "creating %s: %s", at(rel), strerror(errno));
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    chmod(at(rel), mode);
}

static void mklink(const char *target, const char *rel)
{
    cr_assert_eq(symlink(target, at(rel)), 0, "symlink %s: %s", at(rel), strerror(errno));
}

/* Takes &e: the callee's *err is read only after the call has run. */
static void expect_err(int rc, struct err **ep, int code, const char *needle)
{
    struct err *e = *ep;
    cr_assert_eq(rc, -code, "rc %d, want %d (%s)", rc, -code, err_msg(e));
    cr_assert_not_null(e);
    cr_assert_not_null(strstr(e->msg, needle), "message '%s' lacks '%s'", e->msg, needle);
}

TestSuite(cdi_minors, .init = setup, .fini = teardown);

static const char minors_text[] = "config 1\n"
                                  "monitor 2\n"
                                  "gpu0/gi1/access 21\n"
                                  "gpu0/gi1/ci0/access 22\n"
                                  "gpu0/gi1/ci1/access 23\n"
                                  "gpu3/gi13/access 166\n"
                                  "gpu3/gi13/ci7/access 174\n";

static struct cdi_minors *parse_ok(const char *text)
{
    struct cdi_minors *m = NULL;
    struct err *e = NULL;
    cr_assert_eq(cdi_minors_parse(text, strlen(text), "mig-minors", &m, &e), 0, "%s", err_msg(e));
    return m;
}

static void parse_fails(const char *text, const char *needle)
{
    struct cdi_minors *m = NULL;
    struct err *e = NULL;
    int rc = cdi_minors_parse(text, strlen(text), "/proc/x/mig-minors", &m, &e);
    expect_err(rc, &e, EINVAL, needle);
    cr_assert_null(m);
    err_free(&e);
}

Test(cdi_minors, parses_gi_and_ci_access_lines)
{
    struct cdi_minors *m = parse_ok(minors_text);
    cr_assert_eq(cdi_minors_count(m), 7);
    cr_assert_eq(cdi_minors_gi(m, 0, 1), 21);
    cr_assert_eq(cdi_minors_ci(m, 0, 1, 0), 22);
    cr_assert_eq(cdi_minors_ci(m, 0, 1, 1), 23);
    cr_assert_eq(cdi_minors_gi(m, 3, 13), 166);
    cr_assert_eq(cdi_minors_ci(m, 3, 13, 7), 174);
    cr_assert_eq(cdi_minors_gi(m, 1, 1), -1, "no such GPU");
    cr_assert_eq(cdi_minors_gi(m, 0, 2), -1, "no such GI");
    cr_assert_eq(cdi_minors_ci(m, 0, 1, 2), -1, "no such CI");
    cr_assert_eq(cdi_minors_ci(m, 3, 0, 7), -1);
    cdi_minors_free(m);
}

Test(cdi_minors, tolerates_blank_lines_crlf_no_final_newline_and_other_keys)
{
    struct cdi_minors *m = parse_ok("\nconfig 1\r\nfabric-mgmt 9\n  \ngpu0/gi1/access 21 \n"
                                    "gpu0/gi1/ci0/access 22");
    cr_assert_eq(cdi_minors_count(m), 3, "fabric-mgmt is skipped");
    cr_assert_eq(cdi_minors_ci(m, 0, 1, 0), 22);
    cdi_minors_free(m);
    m = parse_ok("");
    cr_assert_eq(cdi_minors_count(m), 0);
    cr_assert_eq(cdi_minors_gi(m, 0, 0), -1);
    cdi_minors_free(m);
    cr_assert_eq(cdi_minors_gi(NULL, 0, 0), -1);
}

Test(cdi_minors, a_real_sized_file_parses)
{
    /* The driver lists every possible GI and CI of 32 GPUs: ~4300 lines. */
    size_t cap = 256 * 1024, len = 0;
    char *text = malloc(cap);
    unsigned minor = 3;
    for (unsigned g = 0; g < 32; g++)
        for (unsigned gi = 0; gi < 15; gi++) {
            len +=
                (size_t)snprintf(text + len, cap - len, "gpu%u/gi%u/access %u\n", g, gi, minor++);
            for (unsigned ci = 0; ci < 8; ci++)
                len += (size_t)snprintf(text + len, cap - len, "gpu%u/gi%u/ci%u/access %u\n", g, gi,
                                        ci, minor++);
        }
    struct cdi_minors *m = parse_ok(text);
    cr_assert_eq(cdi_minors_count(m), 32 * 15 * 9);
    cr_assert_eq(cdi_minors_gi(m, 0, 0), 3);
    cr_assert_eq(cdi_minors_ci(m, 31, 14, 7), 3 + 32 * 15 * 9 - 1);
    cdi_minors_free(m);
    free(text);
}

Test(cdi_minors, malformed_lines_name_the_file_and_line)
{
    parse_fails("config 1\ngpu0/gi1/access\n",
                "/proc/x/mig-minors:2: expected '<capability> <minor>'");
    parse_fails("gpu0/gi1/access x\n", "mig-minors:1: the minor is not a number");
    parse_fails("gpu0/gi1/access -1\n", ":1: the minor is not a number");
    parse_fails("gpu0/gi1/access 12a\n", ":1: the minor is not a number");
    parse_fails("gpu0/gi1/access 1048576\n", ":1: the minor is not a number from 0 to 1048575");
    parse_fails("config 1\n\ngpu0/gi1/acc 3\n", ":3: expected gpu<G>/gi<I>/access");
    parse_fails("gpux/gi1/access 3\n", ":1: expected gpu<G>/gi<I>/access");
    parse_fails("gpu0/gi1/ci0/access/x 3\n", ":1: expected gpu<G>/gi<I>/access");
    parse_fails("gpu0/gi1/ci/access 3\n", ":1: expected gpu<G>/gi<I>/access");
    parse_fails("gpu99999/gi1/access 3\n", ":1: expected gpu<G>/gi<I>/access");
    parse_fails("gpu0/gi1/access  3\n", ":1: the minor is not a number");
}

Test(cdi_minors, duplicates_long_lines_nul_and_size_are_refused)
{
    parse_fails("gpu0/gi1/access 21\nconfig 1\ngpu0/gi1/access 22\n",
                ":3: the capability of line 1 is listed again");
    parse_fails("config 1\nconfig 2\n", ":2: the capability of line 1 is listed again");
    char line[400];
    memset(line, 'a', sizeof line - 1);
    line[sizeof line - 1] = '\0';
    parse_fails(line, ":1: line longer than 256 bytes");
    struct cdi_minors *m = NULL;
    struct err *e = NULL;
    expect_err(cdi_minors_parse("config 1\nconf\0ig 2\n", 19, "f", &m, &e), &e, EINVAL,
               "f:2: NUL byte");
    err_free(&e);
    expect_err(cdi_minors_parse("", CDI_MINORS_MAX_LEN + 1, "f", &m, &e), &e, EFBIG, "f: ");
    err_free(&e);
}

Test(cdi_minors, loads_from_the_proc_root)
{
    mkdirs("proc/driver/nvidia-caps");
    mkfile("proc/driver/nvidia-caps/mig-minors", minors_text, 0644);
    struct cdi_host host = {.proc_root = at("proc")};
    struct cdi_minors *m = NULL;
    struct err *e = NULL;
    cr_assert_eq(cdi_minors_load(&host, &m, &e), 0, "%s", err_msg(e));
    cr_assert_eq(cdi_minors_gi(m, 0, 1), 21);
    cdi_minors_free(m);
}

Test(cdi_minors, load_errors_name_the_path)
{
    struct cdi_host host = {.proc_root = at("proc")};
    struct cdi_minors *m = NULL;
    struct err *e = NULL;
    expect_err(cdi_minors_load(&host, &m, &e), &e, ENOENT,
               "no MIG capability minors (is the nvidia-caps module loaded?): opening ");
    cr_assert_not_null(strstr(e->msg, "proc/driver/nvidia-caps/mig-minors"), "%s", e->msg);
    err_free(&e);

    mkdirs("proc/driver/nvidia-caps");
    char *big = malloc(CDI_MINORS_MAX_LEN + 2);
    memset(big, '\n', CDI_MINORS_MAX_LEN + 1);
    big[CDI_MINORS_MAX_LEN + 1] = '\0';
    mkfile("proc/driver/nvidia-caps/mig-minors", big, 0644);
    free(big);
    expect_err(cdi_minors_load(&host, &m, &e), &e, EFBIG, "is larger than 1048576 bytes");
    err_free(&e);

    mkfile("proc/driver/nvidia-caps/mig-minors", "config 1\nbad\n", 0644);
    expect_err(cdi_minors_load(&host, &m, &e), &e, EINVAL, "nvidia-caps/mig-minors:2: ");
    err_free(&e);
    cr_assert_null(m);
}

/* ---- driver discovery ---------------------------------------------------------- */

TestSuite(cdi_driver, .init = setup, .fini = teardown);

#define LIB "driver/usr/lib/x86_64-linux-gnu"

/* A driver root like a GPU Operator driver container's: merged /usr. */
static void make_driver(void)
{
    mkdirs(LIB "/vdpau");
    mkdirs("driver/usr/bin");
    mklink("usr/lib", "driver/lib");
    mkdirs("driver/usr/lib/firmware/nvidia/" V);
    mkfile(LIB "/libcuda.so." V, "cuda", 0644);
    mklink("libcuda.so." V, LIB "/libcuda.so.1");
    mklink("libcuda.so.1", LIB "/libcuda.so");
    mkfile(LIB "/libnvidia-ml.so." V, "nvml", 0644);
    mklink("libnvidia-ml.so." V, LIB "/libnvidia-ml.so.1");
    mkfile(LIB "/libnvidia-opticalflow.so." V, "of", 0644);
    mkfile(LIB "/libnvidia-nvvm70.so.4", "nvvm", 0644);
    mkfile(LIB "/vdpau/libvdpau_nvidia.so." V, "vdpau", 0644);
    mkfile(LIB "/libcuda.so.470.1.2", "old", 0644);
    mkfile(LIB "/libfoo.so.1.2", "foo", 0644);
    mklink("/etc/hostname", LIB "/libescape.so." V);
    mkfile("driver/usr/bin/nvidia-smi", "#!/bin/sh\n", 0755);
    mkfile("driver/usr/bin/nvidia-debugdump", "not executable", 0644);
    mkfile("driver/lib/firmware/nvidia/" V "/gsp_ga10x.bin", "fw", 0644);
    mkfile("driver/lib/firmware/nvidia/" V "/README", "no", 0644);
    mkdirs("driver/tmp/nvidia-mps");
}

static struct cdi_driver *discover_ok(const char *root)
{
    struct cdi_host host = {.driver_root = root};
    struct cdi_driver *d = NULL;
    struct err *e = NULL;
    cr_assert_eq(cdi_driver_discover(&host, &d, &e), 0, "%s", err_msg(e));
    return d;
}

Test(cdi_driver, finds_the_newest_version_from_libcuda)
{
    make_driver();
    struct cdi_driver *d = discover_ok(at("driver"));
    cr_assert_str_eq(cdi_driver_version(d), V);
    cdi_driver_free(d);
}

Test(cdi_driver, falls_back_to_libnvidia_ml_for_the_version)
{
    mkdirs("driver/usr/lib64");
    mkfile("driver/usr/lib64/libnvidia-ml.so.535.1.2", "x", 0644);
    mkfile("driver/usr/lib64/libcuda.so.1", "not versioned", 0644);
    struct cdi_driver *d = discover_ok(at("driver/"));
    cr_assert_str_eq(cdi_driver_version(d), "535.1.2");
    cdi_driver_free(d);
}

Test(cdi_driver, errors_name_the_root)
{
    struct cdi_host host = {.driver_root = at("nowhere")};
    struct cdi_driver *d = NULL;
    struct err *e = NULL;
    expect_err(cdi_driver_discover(&host, &d, &e), &e, ENOENT, "driver root ");
    cr_assert_not_null(strstr(e->msg, "nowhere"));
    err_free(&e);

    mkfile("file", "x", 0644);
    host.driver_root = at("file");
    expect_err(cdi_driver_discover(&host, &d, &e), &e, ENOTDIR, "is not a folder");
    err_free(&e);

    mkdirs("empty/usr/lib64");
    host.driver_root = at("empty");
    expect_err(cdi_driver_discover(&host, &d, &e), &e, ENOENT,
               "no NVIDIA driver library (libcuda.so.<version> or libnvidia-ml.so.<version>) "
               "under driver root /tmp/slicer-cdi-unit.");
    err_free(&e);
    cr_assert_null(d);
}

/* ---- specs ------------------------------------------------------------------------ */

TestSuite(cdi_spec, .init = setup, .fini = teardown);

static int mknode(const char *rel, unsigned maj, unsigned min)
{
    return mknod(at(rel), S_IFCHR | 0666, makedev(maj, min));
}

/* dev root with GPUs 0 and 1, ctl, uvm, caps 21/22 (GPU 0 GI 1 CI 0) and
 * 57/58 (GPU 1 GI 2 CI 0); mig-minors to match. Skips unless root. */
static void make_devices(void)
{
    if (geteuid() != 0)
        cr_skip_test("mknod needs root");
    mkdirs("dev/dev/nvidia-caps");
    cr_assert_eq(mknode("dev/dev/nvidia0", 195, 0), 0, "mknod: %s", strerror(errno));
    mknode("dev/dev/nvidia1", 195, 1);
    mknode("dev/dev/nvidiactl", 195, 255);
    mknode("dev/dev/nvidia-uvm", 510, 0);
    mknode("dev/dev/nvidia-caps/nvidia-cap21", 237, 21);
    mknode("dev/dev/nvidia-caps/nvidia-cap22", 237, 22);
    mknode("dev/dev/nvidia-caps/nvidia-cap57", 237, 57);
    mknode("dev/dev/nvidia-caps/nvidia-cap58", 237, 58);
}

static struct cdi_minors *minors(void)
{
    return parse_ok("gpu0/gi1/access 21\ngpu0/gi1/ci0/access 22\ngpu0/gi2/access 30\n"
                    "gpu1/gi2/access 57\ngpu1/gi2/ci0/access 58\n");
}

static const struct cdi_mig mig_a = {
    .name = "mig-a", .mig_uuid = "MIG-aaaa", .gpu_minor = 0, .gi_id = 1, .ci_id = 0};
static const struct cdi_mig mig_b = {.name = "0b", .gpu_minor = 1, .gi_id = 2, .ci_id = 0};

struct fixture {
    struct cdi_host host;
    struct cdi_driver *drv;
    struct cdi_minors *minors;
};

static struct fixture fixture(void)
{
    make_devices();
    make_driver();
    static char driver_root[512], dev_root[512]; /* at()'s buffers are reused */
    snprintf(driver_root, sizeof driver_root, "%s", at("driver"));
    snprintf(dev_root, sizeof dev_root, "%s", at("dev"));
    struct fixture f = {.host = {.driver_root = driver_root, .dev_root = dev_root}};
    f.drv = discover_ok(f.host.driver_root);
    f.minors = minors();
    return f;
}

static void fixture_free(struct fixture *f)
{
    cdi_driver_free(f->drv);
    cdi_minors_free(f->minors);
}

static json_t *build_ok(struct fixture *f, const struct cdi_mig *migs, size_t n)
{
    json_t *spec = NULL;
    struct err *e = NULL;
    cr_assert_eq(cdi_spec_build(&f->host, f->drv, f->minors, migs, n, &spec, &e), 0, "%s",
                 err_msg(e));
    return spec;
}

/* The strings of an array of strings, joined by ' '. */
static char *joined(json_t *arr)
{
    static char buf[4096];
    size_t len = 0, i;
    json_t *v;
    buf[0] = '\0';
    json_array_foreach(arr, i, v)
    {
        const char *s = json_is_string(v) ? json_string_value(v) : "?";
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", i ? " " : "", s);
    }
    return buf;
}

/* "path<-hostPath" of each node, relative to tmp, joined by ' '. */
static char *nodes_of(json_t *edits)
{
    static char buf[2048];
    size_t len = 0, i;
    json_t *n;
    buf[0] = '\0';
    json_array_foreach(json_object_get(edits, "deviceNodes"), i, n)
    {
        const char *host = json_string_value(json_object_get(n, "hostPath"));
        cr_assert_eq(strncmp(host, tmp, strlen(tmp)), 0, "%s is outside the dev root", host);
        len +=
            (size_t)snprintf(buf + len, sizeof buf - len, "%s%s<-%s", i ? " " : "",
                             json_string_value(json_object_get(n, "path")), host + strlen(tmp) + 1);
    }
    return buf;
}

Test(cdi_spec, devices_hold_exactly_their_gpu_and_caps)
{
    struct fixture f = fixture();
    struct cdi_mig migs[] = {mig_a, mig_b};
    json_t *spec = build_ok(&f, migs, 2);
    cr_assert_str_eq(json_string_value(json_object_get(spec, "cdiVersion")), "0.5.0");
    cr_assert_str_eq(json_string_value(json_object_get(spec, "kind")), "mig.slicer.dev/mig");
    json_t *devs = json_object_get(spec, "devices");
    cr_assert_eq(json_array_size(devs), 2);
    json_t *a = json_array_get(devs, 0), *b = json_array_get(devs, 1);
    cr_assert_str_eq(json_string_value(json_object_get(a, "name")), "mig-a");
    cr_assert_str_eq(nodes_of(json_object_get(a, "containerEdits")),
                     "/dev/nvidia0<-dev/dev/nvidia0 "
                     "/dev/nvidia-caps/nvidia-cap21<-dev/dev/nvidia-caps/nvidia-cap21 "
                     "/dev/nvidia-caps/nvidia-cap22<-dev/dev/nvidia-caps/nvidia-cap22");
    cr_assert_str_eq(json_string_value(json_object_get(b, "name")), "0b");
    cr_assert_str_eq(nodes_of(json_object_get(b, "containerEdits")),
                     "/dev/nvidia1<-dev/dev/nvidia1 "
                     "/dev/nvidia-caps/nvidia-cap57<-dev/dev/nvidia-caps/nvidia-cap57 "
                     "/dev/nvidia-caps/nvidia-cap58<-dev/dev/nvidia-caps/nvidia-cap58");
    cr_assert_eq(json_object_size(json_object_get(a, "containerEdits")), 1, "nodes only");
    json_decref(spec);
    fixture_free(&f);
}

Test(cdi_spec, common_edits_hold_control_nodes_env_hooks_and_driver_files)
{
    struct fixture f = fixture();
    json_t *spec = build_ok(&f, &mig_a, 1);
    json_t *ce = json_object_get(spec, "containerEdits");
    cr_assert_str_eq(nodes_of(ce),
                     "/dev/nvidiactl<-dev/dev/nvidiactl "
                     "/dev/nvidia-uvm<-dev/dev/nvidia-uvm",
                     "uvm-tools and modeset are absent, so left out");
    cr_assert_str_eq(
        joined(json_object_get(ce, "env")),
        "NVIDIA_CTK_LIBCUDA_DIR=/usr/lib/x86_64-linux-gnu NVIDIA_VISIBLE_DEVICES=void");

    json_t *hooks = json_object_get(ce, "hooks");
    cr_assert_eq(json_array_size(hooks), 4);
    const char *want[] = {
        "nvidia-cdi-hook create-symlinks"
        " --link libcuda.so.1::/usr/lib/x86_64-linux-gnu/libcuda.so"
        " --link libcuda.so." V "::/usr/lib/x86_64-linux-gnu/libcuda.so.1"
        " --link libnvidia-ml.so." V "::/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"
        " --link libnvidia-opticalflow.so.1::/usr/lib/x86_64-linux-gnu/libnvidia-opticalflow.so",
        "nvidia-cdi-hook enable-cuda-compat --host-driver-version=" V,
        "nvidia-cdi-hook update-ldcache --folder /usr/lib/x86_64-linux-gnu"
        " --folder /usr/lib/x86_64-linux-gnu/vdpau",
        "nvidia-cdi-hook disable-device-node-modification"};
    for (size_t i = 0; i < 4; i++) {
        json_t *h = json_array_get(hooks, i);
        cr_assert_str_eq(json_string_value(json_object_get(h, "hookName")), "createContainer");
        cr_assert_str_eq(json_string_value(json_object_get(h, "path")), CDI_DEFAULT_HOOK);
        cr_assert_str_eq(joined(json_object_get(h, "args")), want[i]);
        cr_assert_str_eq(joined(json_object_get(h, "env")), "NVIDIA_CTK_DEBUG=false");
    }

    char want_mounts[2048];
    snprintf(want_mounts, sizeof want_mounts,
             "/usr/lib/x86_64-linux-gnu/libcuda.so." V " "
             "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so." V " "
             "/usr/lib/x86_64-linux-gnu/libnvidia-opticalflow.so." V " "
             "/usr/lib/x86_64-linux-gnu/vdpau/libvdpau_nvidia.so." V " "
             "/usr/lib/x86_64-linux-gnu/libnvidia-nvvm70.so.4 "
             "/usr/bin/nvidia-smi "
             "/lib/firmware/nvidia/" V "/gsp_ga10x.bin "
             "/tmp/nvidia-mps");
    json_t *mounts = json_object_get(ce, "mounts"), *m, *dests = json_array();
    size_t i;
    json_array_foreach(mounts, i, m)
    {
        const char *c = json_string_value(json_object_get(m, "containerPath"));
        const char *h = json_string_value(json_object_get(m, "hostPath"));
        json_array_append_new(dests, json_string(c));
        const char *root = at("driver");
        cr_assert_eq(strncmp(h, root, strlen(root)), 0, "%s", h);
        h += strlen(root);
        if (strncmp(c, "/lib/", 5) == 0 && strncmp(h, "/usr/", 5) == 0)
            h += 4; /* resolved through the root's lib -> usr/lib */
        cr_assert_str_eq(h, c, "host path = driver root + path");
        cr_assert_str_eq(joined(json_object_get(m, "options")),
                         strcmp(c, "/tmp/nvidia-mps") == 0 ? "nosuid nodev rbind rprivate noexec"
                                                           : "ro nosuid nodev rbind rprivate");
    }
    cr_assert_str_eq(joined(dests), want_mounts,
                     "no stale 470 library, no libfoo, no escaping symlink, no non-executable");
    json_decref(dests);
    json_decref(spec);
    fixture_free(&f);
}

Test(cdi_spec, mounts_name_the_hosts_driver_root_when_the_agent_sees_it_elsewhere)
{
    /* The DaemonSet mounts the host's / at /driver-root: files are found there, and the spec,
     * read by the runtime on the host, names them from the host's /. */
    struct fixture f = fixture();
    cdi_driver_free(f.drv);
    struct cdi_host host = {.driver_root = f.host.driver_root, .host_driver_root = "/host/root"};
    struct err *e = NULL;
    cr_assert_eq(cdi_driver_discover(&host, &f.drv, &e), 0, "%s", err_msg(e));
    json_t *spec = build_ok(&f, &mig_a, 1);
    json_t *m;
    size_t i, n = 0;
    json_array_foreach(json_object_get(json_object_get(spec, "containerEdits"), "mounts"), i, m)
    {
        const char *c = json_string_value(json_object_get(m, "containerPath"));
        const char *h = json_string_value(json_object_get(m, "hostPath"));
        cr_assert_eq(strncmp(h, "/host/root/", 11), 0, "%s: not under the host's root", h);
        if (strncmp(c, "/lib/", 5) == 0 && strncmp(h + 10, "/usr/", 5) == 0)
            h += 4; /* resolved through the root's lib -> usr/lib */
        cr_assert_str_eq(h + 10, c, "host path = host driver root + path");
        n++;
    }
    cr_assert_eq(n, 8);
    json_decref(spec);
    host.host_driver_root = "relative";
    struct cdi_driver *d = NULL;
    cr_assert_lt(cdi_driver_discover(&host, &d, &e), 0);
    cr_assert(strstr(err_msg(e), "host driver root relative is not an absolute path"), "%s",
              err_msg(e));
    err_free(&e);
    fixture_free(&f);
}

Test(cdi_spec, hook_path_choices_and_no_driver)
{
    struct fixture f = fixture();
    f.host.hook_path = "/usr/local/nvidia/toolkit/nvidia-ctk";
    json_t *spec = build_ok(&f, &mig_a, 1);
    json_t *h =
        json_array_get(json_object_get(json_object_get(spec, "containerEdits"), "hooks"), 3);
    cr_assert_str_eq(joined(json_object_get(h, "args")),
                     "nvidia-ctk hook disable-device-node-modification");
    cr_assert_str_eq(json_string_value(json_object_get(h, "path")),
                     "/usr/local/nvidia/toolkit/nvidia-ctk");
    json_decref(spec);

    f.host.hook_path = "none";
    spec = build_ok(&f, &mig_a, 1);
    cr_assert_null(json_object_get(json_object_get(spec, "containerEdits"), "hooks"));
    cr_assert_not_null(json_object_get(json_object_get(spec, "containerEdits"), "mounts"));
    json_decref(spec);

    cdi_driver_free(f.drv);
    f.drv = NULL;
    f.host.hook_path = NULL;
    spec = build_ok(&f, &mig_a, 1);
    json_t *ce = json_object_get(spec, "containerEdits");
    cr_assert_null(json_object_get(ce, "hooks"));
    cr_assert_null(json_object_get(ce, "mounts"));
    cr_assert_str_eq(joined(json_object_get(ce, "env")), "NVIDIA_VISIBLE_DEVICES=void");
    json_decref(spec);
    fixture_free(&f);
}

Test(cdi_spec, optional_control_nodes_are_added_when_present)
{
    struct fixture f = fixture();
    mknode("dev/dev/nvidia-uvm-tools", 510, 1);
    mknode("dev/dev/nvidia-modeset", 195, 254);
    json_t *spec = build_ok(&f, &mig_a, 1);
    cr_assert_str_eq(nodes_of(json_object_get(spec, "containerEdits")),
                     "/dev/nvidiactl<-dev/dev/nvidiactl /dev/nvidia-uvm<-dev/dev/nvidia-uvm "
                     "/dev/nvidia-uvm-tools<-dev/dev/nvidia-uvm-tools "
                     "/dev/nvidia-modeset<-dev/dev/nvidia-modeset");
    json_decref(spec);
    fixture_free(&f);
}

static void build_fails(struct fixture *f, const struct cdi_mig *migs, size_t n, int code,
                        const char *needle)
{
    json_t *spec = NULL;
    struct err *e = NULL;
    expect_err(cdi_spec_build(&f->host, f->drv, f->minors, migs, n, &spec, &e), &e, code, needle);
    cr_assert_null(spec);
    err_free(&e);
}

Test(cdi_spec, bad_requests_are_refused)
{
    struct fixture f = fixture();
    build_fails(&f, &mig_a, 0, EINVAL, "at least one device");
    struct cdi_mig m = mig_a;
    snprintf(m.name, sizeof m.name, "-bad");
    build_fails(&f, &m, 1, EINVAL, "CDI device name '-bad' must start and end");
    snprintf(m.name, sizeof m.name, "a/b");
    build_fails(&f, &m, 1, EINVAL, "character '/' is not allowed");
    struct cdi_mig two[] = {mig_a, mig_a};
    build_fails(&f, two, 2, EINVAL, "CDI device name 'mig-a' is used twice");
    m = mig_a;
    memset(m.name, 'x', sizeof m.name);
    build_fails(&f, &m, 1, EINVAL, "not terminated");
    fixture_free(&f);
}

Test(cdi_spec, missing_minors_lines_are_named)
{
    struct fixture f = fixture();
    struct cdi_mig m = mig_a;
    m.gi_id = 7;
    build_fails(&f, &m, 1, EINVAL,
                "MIG device mig-a MIG-aaaa (GPU minor 0, GI 7, CI 0): mig-minors has no line "
                "gpu0/gi7/access");
    m = mig_a;
    m.gi_id = 2;
    build_fails(&f, &m, 1, EINVAL, "mig-minors has no line gpu0/gi2/ci0/access");
    m = mig_b;
    m.gpu_minor = 2;
    build_fails(&f, &m, 1, EINVAL, "MIG device 0b (GPU minor 2, GI 2, CI 0): mig-minors has no");
    fixture_free(&f);
}

Test(cdi_spec, bad_device_nodes_are_named)
{
    struct fixture f = fixture();
    cr_assert_eq(unlink(at("dev/dev/nvidia-caps/nvidia-cap22")), 0);
    build_fails(&f, &mig_a, 1, ENOENT, "/dev/dev/nvidia-caps/nvidia-cap22: No such file");
    mkfile("dev/dev/nvidia-caps/nvidia-cap22", "", 0644);
    build_fails(&f, &mig_a, 1, ENODEV, "nvidia-cap22 is not a character device");
    unlink(at("dev/dev/nvidia-caps/nvidia-cap22"));
    mknode("dev/dev/nvidia-caps/nvidia-cap22", 237, 99);
    build_fails(&f, &mig_a, 1, ENODEV, "nvidia-cap22 has minor 99, expected 22");
    unlink(at("dev/dev/nvidia-caps/nvidia-cap22"));
    mknode("dev/dev/nvidia-caps/nvidia-cap22", 237, 22);
    unlink(at("dev/dev/nvidia0"));
    build_fails(&f, &mig_a, 1, ENOENT, "device node ");
    mknode("dev/dev/nvidia0", 195, 0);
    unlink(at("dev/dev/nvidiactl"));
    build_fails(&f, &mig_a, 1, ENOENT, "/dev/dev/nvidiactl: No such file");
    mknode("dev/dev/nvidiactl", 195, 255);
    unlink(at("dev/dev/nvidia-uvm"));
    build_fails(&f, &mig_a, 1, ENOENT, "/dev/dev/nvidia-uvm: No such file");
    fixture_free(&f);
}

/* ---- names -------------------------------------------------------------------------- */

Test(cdi_names, device_names_follow_the_cdi_parser)
{
    const char *good[] = {"a", "0", "mig-a", "MIG-4f2c.x_y:z", "claim-1234_0"};
    const char *bad[] = {"", "-a", "a-", "a/b", "a=b", "a b", "é", "a..b!"};
    struct err *e = NULL;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_assert_eq(cdi_name_check(good[i], &e), 0, "%s: %s", good[i], err_msg(e));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(cdi_name_check(bad[i], &e), -EINVAL, "%s was accepted", bad[i]);
        err_free(&e);
    }
    char longname[CDI_NAME_MAX + 1];
    memset(longname, 'a', CDI_NAME_MAX);
    longname[CDI_NAME_MAX] = '\0';
    expect_err(cdi_name_check(longname, &e), &e, EINVAL, "longer than 127");
    err_free(&e);
    cr_assert_eq(cdi_name_check(NULL, NULL), -EINVAL);
}

Test(cdi_names, qualified_names)
{
    char buf[64];
    struct err *e = NULL;
    cr_assert_eq(cdi_qualified_name("mig-a", buf, sizeof buf, &e), 0);
    cr_assert_str_eq(buf, "mig.slicer.dev/mig=mig-a");
    expect_err(cdi_qualified_name("mig-a", buf, 24, &e), &e, ENAMETOOLONG,
               "does not fit in 24 bytes");
    err_free(&e);
    cr_assert_eq(cdi_qualified_name("mig-a", buf, 25, &e), 0, "exactly fits");
    expect_err(cdi_qualified_name("a b", buf, sizeof buf, &e), &e, EINVAL, "' ' is not allowed");
    err_free(&e);
}

Test(cdi_names, spec_file_names_are_safe)
{
    const char *good[] = {"claim-a", "mig.slicer.dev-mig_1234", "a"};
    const char *bad[] = {"", ".hidden", "a/b", "..", "a..b", "a b", "../x", "a\nb"};
    struct err *e = NULL;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_assert_eq(cdi_base_check(good[i], &e), 0, "%s: %s", good[i], err_msg(e));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(cdi_base_check(bad[i], &e), -EINVAL, "%s was accepted", bad[i]);
        err_free(&e);
    }
    char longname[CDI_BASE_MAX + 1];
    memset(longname, 'a', CDI_BASE_MAX);
    longname[CDI_BASE_MAX] = '\0';
    cr_assert_eq(cdi_base_check(longname, NULL), -EINVAL);
    longname[CDI_BASE_MAX - 1] = '\0';
    cr_assert_eq(cdi_base_check(longname, NULL), 0);
}

/* ---- write and remove ------------------------------------------------------------------ */

TestSuite(cdi_write, .init = setup, .fini = teardown);

static int dot_files(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test -z \"$(find '%s' -name '.*' -type f)\"", dir);
    return system(cmd) != 0;
}

Test(cdi_write, writes_durably_with_mode_0644_and_replaces)
{
    mkdirs("cdi");
    json_t *spec = json_pack("{s:s, s:i}", "kind", CDI_KIND, "n", 1);
    struct err *e = NULL;
    cr_assert_eq(cdi_spec_write(at("cdi"), "claim-a", spec, &e), 0, "%s", err_msg(e));
    struct stat st;
    cr_assert_eq(stat(at("cdi/claim-a.json"), &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0644);
    json_error_t je;
    json_t *back = json_load_file(at("cdi/claim-a.json"), 0, &je);
    cr_assert(json_equal(back, spec), "%s", je.text);
    json_decref(back);

    json_object_set_new(spec, "n", json_integer(2));
    cr_assert_eq(cdi_spec_write(at("cdi"), "claim-a", spec, &e), 0, "%s", err_msg(e));
    back = json_load_file(at("cdi/claim-a.json"), 0, &je);
    cr_assert_eq(json_integer_value(json_object_get(back, "n")), 2);
    json_decref(back);
    cr_assert_not(dot_files(at("cdi")), "a temp file was left");
    json_decref(spec);
}

Test(cdi_write, errors_name_the_path_and_leave_nothing)
{
    json_t *spec = json_pack("{s:s}", "kind", CDI_KIND);
    struct err *e = NULL;
    expect_err(cdi_spec_write(at("missing"), "claim-a", spec, &e), &e, ENOENT,
               "creating a temp file in /tmp/slicer-cdi-unit.");
    cr_assert_not_null(strstr(e->msg, "/missing: No such file or directory"), "%s", e->msg);
    err_free(&e);

    mkfile("plain", "", 0644);
    expect_err(cdi_spec_write(at("plain"), "claim-a", spec, &e), &e, ENOTDIR, "/plain: Not a");
    err_free(&e);

    mkdirs("cdi/claim-b.json/inside");
    expect_err(cdi_spec_write(at("cdi"), "claim-b", spec, &e), &e, EISDIR, "renaming ");
    cr_assert_not_null(strstr(e->msg, "/cdi/claim-b.json: Is a directory"), "%s", e->msg);
    err_free(&e);
    cr_assert_not(dot_files(at("cdi")), "the temp file was left after a failed rename");

    expect_err(cdi_spec_write(at("cdi"), "../escape", spec, &e), &e, EINVAL,
               "may not start with '.' or hold '..'");
    err_free(&e);
    expect_err(cdi_spec_write(at("cdi"), "a/b", spec, &e), &e, EINVAL, "'/' is not allowed");
    err_free(&e);
    json_decref(spec);
}

Test(cdi_write, remove_is_idempotent)
{
    mkdirs("cdi");
    json_t *spec = json_pack("{s:s}", "kind", CDI_KIND);
    struct err *e = NULL;
    cr_assert_eq(cdi_spec_write(at("cdi"), "claim-a", spec, &e), 0, "%s", err_msg(e));
    cr_assert_eq(cdi_spec_remove(at("cdi"), "claim-a", &e), 0, "%s", err_msg(e));
    cr_assert_neq(access(at("cdi/claim-a.json"), F_OK), 0, "still there");
    cr_assert_eq(cdi_spec_remove(at("cdi"), "claim-a", &e), 0, "absent is success");
    cr_assert_eq(cdi_spec_remove(at("gone"), "claim-a", &e), 0, "absent folder too");
    expect_err(cdi_spec_remove(at("cdi"), "..", &e), &e, EINVAL, "'..'");
    err_free(&e);
    mkdirs("cdi/claim-c.json/inside");
    expect_err(cdi_spec_remove(at("cdi"), "claim-c", &e), &e, EISDIR, "removing ");
    cr_assert_not_null(strstr(e->msg, "/cdi/claim-c.json: Is a directory"), "%s", e->msg);
    err_free(&e);
    json_decref(spec);
}
