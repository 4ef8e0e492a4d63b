/* cdi_gen — a test tool over the cdi module, for test/cdi/cdi.sh.
 *
 *   cdi_gen [--driver-root R] [--dev-root D] [--proc-root P] [--hook PATH]
 *           --dir DIR --base NAME  DEVICE:GPU_MINOR:GI:CI ...
 *       writes DIR/NAME.json with one device per argument and prints each
 *       device's fully qualified CDI name, one a line;
 *   cdi_gen --dir DIR --base NAME --remove
 *       removes DIR/NAME.json.
 * Exit status: 0 done, 1 an error (message on stderr), 2 usage. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdi/cdi.h"

static int usage(void)
{
    fprintf(stderr, "usage: cdi_gen [--driver-root R] [--dev-root D] [--proc-root P] [--hook H] "
                    "--dir DIR --base NAME (--remove | DEVICE:GPU_MINOR:GI:CI ...)\n");
    return 2;
}

static int parse_mig(const char *arg, struct cdi_mig *m)
{
    char name[CDI_NAME_MAX];
    unsigned gpu, gi, ci;
    const char *colon = strchr(arg, ':');
    if (colon == NULL || (size_t)(colon - arg) >= sizeof name)
        return -1;
    memcpy(name, arg, (size_t)(colon - arg));
    name[colon - arg] = '\0';
    char extra;
    if (sscanf(colon + 1, "%u:%u:%u%c", &gpu, &gi, &ci, &extra) != 3)
        return -1;
    *m = (struct cdi_mig){.gpu_minor = gpu, .gi_id = gi, .ci_id = ci};
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->mig_uuid, sizeof m->mig_uuid, "MIG-test-%.80s", name);
    return 0;
}

static int fail(struct err **e)
{
    fprintf(stderr, "cdi_gen: %s\n", err_msg(*e));
    err_free(e);
    return 1;
}

static int generate(const struct cdi_host *host, const char *dir, const char *base,
                    struct cdi_mig *migs, size_t n)
{
    struct err *e = NULL;
    struct cdi_minors *minors = NULL;
    struct cdi_driver *drv = NULL;
    json_t *spec = NULL;
    if (cdi_minors_load(host, &minors, &e) < 0 || cdi_driver_discover(host, &drv, &e) < 0 ||
        cdi_spec_build(host, drv, minors, migs, n, &spec, &e) < 0 ||
        cdi_spec_write(dir, base, spec, &e) < 0) {
        cdi_minors_free(minors);
        cdi_driver_free(drv);
        json_decref(spec);
        return fail(&e);
    }
    for (size_t i = 0; i < n; i++) {
        char q[256];
        if (cdi_qualified_name(migs[i].name, q, sizeof q, &e) < 0)
            return fail(&e);
        printf("%s\n", q);
    }
    cdi_minors_free(minors);
    cdi_driver_free(drv);
    json_decref(spec);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"driver-root", required_argument, NULL, 'r'},
                                         {"dev-root", required_argument, NULL, 'd'},
                                         {"proc-root", required_argument, NULL, 'p'},
                                         {"hook", required_argument, NULL, 'k'},
                                         {"dir", required_argument, NULL, 'o'},
                                         {"base", required_argument, NULL, 'b'},
                                         {"remove", no_argument, NULL, 'x'},
                                         {NULL, 0, NULL, 0}};
    struct cdi_host host = {0};
    const char *dir = NULL, *base = NULL;
    int remove = 0, c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            host.driver_root = optarg;
            break;
        case 'd':
            host.dev_root = optarg;
            break;
        case 'p':
            host.proc_root = optarg;
            break;
        case 'k':
            host.hook_path = optarg;
            break;
        case 'o':
            dir = optarg;
            break;
        case 'b':
            base = optarg;
            break;
        case 'x':
            remove = 1;
            break;
        default:
            return usage();
        }
    }
    if (dir == NULL || base == NULL || (remove ? optind != argc : optind >= argc))
        return usage();
    if (remove) {
        struct err *e = NULL;
        return cdi_spec_remove(dir, base, &e) < 0 ? fail(&e) : 0;
    }
    size_t n = (size_t)(argc - optind);
    struct cdi_mig *migs = calloc(n, sizeof *migs);
    if (migs == NULL)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (parse_mig(argv[optind + (int)i], &migs[i]) < 0) {
            free(migs);
            return usage();
        }
    int rc = generate(&host, dir, base, migs, n);
    free(migs);
    return rc;
}
