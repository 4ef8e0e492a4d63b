/* `slicer plan`: the placement engine offline, over GPUs named on the command
 * line. Parses the arguments into GPUs and requests, places them with one
 * place_batch, and prints pictures (or JSON). Usage: plan_usage below and
 * docs/cli.md. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "cli/cli.h"
#include "cli/picture.h"
#include "core/place.h"

#define PLAN_MAX_GPUS   100000  /* all --gpu counts together */
#define PLAN_MAX_COUNT  10000   /* COUNT of one PROFILE=COUNT, and its K */
#define PLAN_MAX_REQS   100000  /* all requests together */
#define PLAN_MAX_SLICES 1000000 /* all slices of all requests together */
#define LIST_CAP        4096

static const char plan_usage[] =
    "usage: slicer plan --gpu MODEL[:N] [--gpus N] [options] [PROFILE[:K]=COUNT ...]\n"
    "\n"
    "Plans MIG slices offline: places the requests on the GPUs you name, with the same\n"
    "engine and rules the agent uses, and draws each GPU's memory slices with the\n"
    "instances in them. Nothing touches a real GPU.\n"
    "\n"
    "GPUs:\n"
    "  --gpu MODEL[:N]        N GPUs (default 1) of MODEL, as NVML names it (\"NVIDIA\n"
    "                         A100-SXM4-40GB\") or any alias (\"A100-SXM4-40GB\", \"A100 SXM4\n"
    "                         40GB\"); repeat for more models. GPUs are numbered from 0 in\n"
    "                         the order given. At most 100000 GPUs in all.\n"
    "  --gpus N               how many GPUs of the preceding --gpu (or of the next one)\n"
    "  --used GPU:PROFILE@START\n"
    "                         an instance that already exists on GPU (its number) at\n"
    "                         memory slice START, before planning; repeatable\n"
    "\n"
    "requests (placed together, in one batch):\n"
    "  PROFILE=COUNT          COUNT requests of one PROFILE slice each (like COUNT pods\n"
    "                         asking for one slice), e.g. 1g.5gb=3; COUNT is 1..10000\n"
    "  PROFILE:K=COUNT        COUNT requests that each need K slices, all or nothing\n"
    "                         (a pod asking for K), e.g. 1g.5gb:2=1\n"
    "  Requests are numbered #1, #2, ... in the order given.\n"
    "\n"
    "options:\n"
    "  --policy NAME          best-fit (default: keeps the largest future options open,\n"
    "                         places large slices first) or first-fit (NVML's order,\n"
    "                         requests in the order given: the baseline)\n"
    "  --json                 print one JSON object instead of pictures\n"
    "  -h, --help             this text\n"
    "\n"
    "output: for each GPU, a header (compute, memory slices and instances in use), a\n"
    "picture of its memory slices (one box per instance, with its profile and request\n"
    "number, or \"used\" for --used ones; free slices show a dot) and what it can still\n"
    "take; then how many requests were placed and why the others were not.\n"
    "\n"
    "examples:\n"
    "  slicer plan --gpu A100-SXM4-40GB 1g.5gb=7            # seven 1g.5gb fit\n"
    "  slicer plan --gpu A100-SXM4-40GB 1g.5gb=8            # the eighth does not\n"
    "  slicer plan --gpu A100-SXM4-40GB 3g.20gb=2\n"
    "  slicer plan --gpu A100-SXM4-40GB 4g.20gb=1 3g.20gb=1\n"
    "  slicer plan --gpu A100-SXM4-40GB --gpus 2 1g.5gb=14 --json\n"
    "  slicer plan --gpu A100-SXM4-40GB --policy first-fit 1g.5gb=1 4g.20gb=1\n"
    "  slicer plan --gpu A100-SXM4-40GB --used 0:1g.5gb@0 4g.20gb=1\n"
    "  slicer plan --gpu H100-80GB:2 --gpu A30 2g.20gb:2=1 1g.6gb=4\n"
    "\n"
    "exit codes: 0 every request placed, 1 at least one not placed, 2 usage error\n"
    "(unknown GPU, profile, policy or option; bad count), 3 output could not be written\n";

struct gpu_spec {
    const struct cat_gpu *model;
    long n;
    bool n_set; /* by MODEL:N or --gpus */
};

struct used_spec {
    const char *arg;
    long gpu, start;
    char *profile; /* owned */
};

struct req_spec {
    const char *arg;
    char *profile; /* owned; place_req.profile points here */
    long k, count;
};

struct plan {
    enum place_policy policy;
    bool json;
    long pending; /* --gpus before any --gpu: for the next --gpu */
    struct gpu_spec *specs;
    size_t nspecs;
    struct used_spec *used;
    size_t nused;
    struct req_spec *rspecs;
    size_t nrspecs;
    struct place_gpu *gpus;
    size_t ngpus;
    struct place_req *reqs; /* owner = request number, from 1 */
    size_t nreqs;
    struct place_outcome *outcome;
    struct place_slice *slices;
    size_t nslices, placed;
};

/* ---- arguments ------------------------------------------------------------------------ */

static int unknown_gpu(const char *name, struct err **err)
{
    char list[LIST_CAP];
    return err_set(err, EINVAL,
                   "no GPU model matches '%s' (or more than one does); known models: %s", name,
                   cat_gpu_list(list, sizeof list));
}

static int add_gpu(struct plan *pl, const char *arg, struct err **err)
{
    const char *colon = strrchr(arg, ':');
    struct gpu_spec s = {.n = 1};
    if (colon && !cli_parse_long(colon + 1, 1, PLAN_MAX_GPUS, &s.n))
        return err_set(err, EINVAL, "--gpu %s: N must be a whole number from 1 to %d", arg,
                       PLAN_MAX_GPUS);
    _cleanup_free_ char *name = xstrndup(arg, colon ? (size_t)(colon - arg) : strlen(arg));
    s.model = cat_gpu_find(name);
    if (s.model == NULL)
        return unknown_gpu(name, err);
    s.n_set = colon != NULL;
    if (pl->pending) {
        if (s.n_set)
            return err_set(err, EINVAL, "--gpus and --gpu %s both give its count", arg);
        s.n = pl->pending;
        s.n_set = true;
        pl->pending = 0;
    }
    pl->specs = xreallocarray(pl->specs, pl->nspecs + 1, sizeof *pl->specs);
    pl->specs[pl->nspecs++] = s;
    return 0;
}

static int set_gpus(struct plan *pl, const char *arg, struct err **err)
{
    long n;
    if (!cli_parse_long(arg, 1, PLAN_MAX_GPUS, &n))
        return err_set(err, EINVAL, "--gpus %s: N must be a whole number from 1 to %d", arg,
                       PLAN_MAX_GPUS);
    struct gpu_spec *last = pl->nspecs ? &pl->specs[pl->nspecs - 1] : NULL;
    if ((last && last->n_set) || (!last && pl->pending))
        return err_set(err, EINVAL, "--gpus %s: that GPU's count is already given", arg);
    if (last) {
        last->n = n;
        last->n_set = true;
    } else {
        pl->pending = n;
    }
    return 0;
}

/* "GPU:PROFILE@START" */
static int add_used(struct plan *pl, const char *arg, struct err **err)
{
    const char *colon = strchr(arg, ':'), *at = strrchr(arg, '@');
    struct used_spec u = {.arg = arg};
    if (colon == NULL || at == NULL || at < colon || at == colon + 1)
        return err_set(err, EINVAL, "--used %s: expected GPU:PROFILE@START, e.g. 0:1g.5gb@6", arg);
    _cleanup_free_ char *gpu = xstrndup(arg, (size_t)(colon - arg));
    if (!cli_parse_long(gpu, 0, PLAN_MAX_GPUS - 1, &u.gpu) ||
        !cli_parse_long(at + 1, 0, CAT_MAX_MEM_SLICES - 1, &u.start))
        return err_set(err, EINVAL,
                       "--used %s: GPU and START must be whole numbers (GPU from 0, START 0..%d)",
                       arg, CAT_MAX_MEM_SLICES - 1);
    u.profile = xstrndup(colon + 1, (size_t)(at - colon - 1));
    pl->used = xreallocarray(pl->used, pl->nused + 1, sizeof *pl->used);
    pl->used[pl->nused++] = u;
    return 0;
}

/* "PROFILE=COUNT" or "PROFILE:K=COUNT" */
static int add_request(struct plan *pl, const char *arg, struct err **err)
{
    const char *eq = strrchr(arg, '=');
    struct req_spec r = {.arg = arg, .k = 1};
    if (eq == NULL || eq == arg)
        return err_set(err, EINVAL, "'%s': expected PROFILE=COUNT or PROFILE:K=COUNT", arg);
    if (!cli_parse_long(eq + 1, 1, PLAN_MAX_COUNT, &r.count))
        return err_set(err, EINVAL, "'%s': COUNT must be a whole number from 1 to %d", arg,
                       PLAN_MAX_COUNT);
    const char *colon = memchr(arg, ':', (size_t)(eq - arg));
    if (colon) {
        _cleanup_free_ char *k = xstrndup(colon + 1, (size_t)(eq - colon - 1));
        if (!cli_parse_long(k, 1, PLAN_MAX_COUNT, &r.k))
            return err_set(err, EINVAL, "'%s': K must be a whole number from 1 to %d", arg,
                           PLAN_MAX_COUNT);
    }
    if ((colon ? colon : eq) == arg)
        return err_set(err, EINVAL, "'%s': no PROFILE before '%c'", arg, colon ? ':' : '=');
    r.profile = xstrndup(arg, (size_t)((colon ? colon : eq) - arg));
    pl->rspecs = xreallocarray(pl->rspecs, pl->nrspecs + 1, sizeof *pl->rspecs);
    pl->rspecs[pl->nrspecs++] = r;
    return 0;
}

static int set_policy(struct plan *pl, const char *arg, struct err **err)
{
    if (!place_policy_parse(arg, &pl->policy))
        return err_set(err, EINVAL, "unknown policy '%s'; valid policies: %s, %s", arg,
                       place_policy_name(PLACE_BEST_FIT), place_policy_name(PLACE_FIRST_FIT));
    return 0;
}

static int bad_option(int c, char **argv, struct err **err)
{
    const char *opt = argv[optind - 1];
    if (c == ':')
        return err_set(err, EINVAL, "option '%s' needs a value", opt);
    if (optopt != 0)
        return err_set(err, EINVAL, "unknown option '-%c'", optopt);
    return err_set(err, EINVAL, "unknown option '%s'", opt);
}

static int plan_option(struct plan *pl, int c, char **argv, struct err **err)
{
    switch (c) {
    case 'g':
        return add_gpu(pl, optarg, err);
    case 'n':
        return set_gpus(pl, optarg, err);
    case 'u':
        return add_used(pl, optarg, err);
    case 'p':
        return set_policy(pl, optarg, err);
    case 'j':
        pl->json = true;
        return 0;
    default:
        return bad_option(c, argv, err);
    }
}

/* Returns 1 when --help was printed, 0 to go on, or -EINVAL. */
static int plan_options(int argc, char **argv, struct plan *pl, struct err **err)
{
    static const struct option opts[] = {{"gpu", required_argument, NULL, 'g'},
                                         {"gpus", required_argument, NULL, 'n'},
                                         {"used", required_argument, NULL, 'u'},
                                         {"policy", required_argument, NULL, 'p'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    optind = 0; /* GNU getopt: 0 re-initialises (permuting again) */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(plan_usage, stdout);
            return 1;
        }
        int rc = plan_option(pl, c, argv, err);
        if (rc < 0)
            return rc;
    }
    for (int i = optind; i < argc; i++) {
        int rc = add_request(pl, argv[i], err);
        if (rc < 0)
            return rc;
    }
    if (pl->pending)
        return err_set(err, EINVAL, "--gpus %ld: which GPU? add --gpu MODEL", pl->pending);
    if (pl->nspecs == 0)
        return err_set(err, EINVAL, "--gpu MODEL is required (e.g. --gpu A100-SXM4-40GB)");
    return 0;
}

/* ---- GPUs, existing instances, requests ------------------------------------------------ */

static int build_gpus(struct plan *pl, struct err **err)
{
    long total = 0;
    for (size_t i = 0; i < pl->nspecs; i++) {
        total += pl->specs[i].n;
        if (total > PLAN_MAX_GPUS)
            return err_set(err, EINVAL, "more than %d GPUs in all", PLAN_MAX_GPUS);
    }
    pl->ngpus = (size_t)total;
    pl->gpus = xcalloc(pl->ngpus, sizeof *pl->gpus);
    size_t g = 0;
    for (size_t i = 0; i < pl->nspecs; i++)
        for (long k = 0; k < pl->specs[i].n; k++)
            place_gpu_init(&pl->gpus[g++], pl->specs[i].model);
    return 0;
}

/* Appends "; starts: 0, 4" for a refused --used start. */
static void list_starts(const struct cat_profile *p, char *buf, size_t cap)
{
    size_t len = (size_t)snprintf(buf, cap, "; %s may start at", p->name);
    for (unsigned i = 0; i < p->nplacements && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s %u", i ? "," : "",
                                (unsigned)p->placements[i].start);
}

static int apply_used(struct plan *pl, const struct used_spec *u, struct err **err)
{
    char list[LIST_CAP] = "";
    if ((size_t)u->gpu >= pl->ngpus)
        return err_set(err, EINVAL, "--used %s: there is no GPU %ld (GPUs are 0..%zu)", u->arg,
                       u->gpu, pl->ngpus - 1);
    struct place_gpu *g = &pl->gpus[u->gpu];
    int p = cat_profile_index(g->model, u->profile);
    if (p < 0)
        return err_set(err, EINVAL, "--used %s: %s has no profile '%s'; its profiles: %s", u->arg,
                       g->model->name, u->profile, cat_profile_list(g->model, list, sizeof list));
    enum place_why why = place_add(g, (unsigned)p, (unsigned)u->start, 0);
    if (why == PLACE_OK)
        return 0;
    if (why == PLACE_BAD_START)
        list_starts(&g->model->profiles[p], list, sizeof list);
    return err_set(err, EINVAL, "--used %s: refused: %s%s", u->arg, place_why_str(why), list);
}

static bool offered(const struct plan *pl, const char *profile)
{
    for (size_t i = 0; i < pl->nspecs; i++)
        if (cat_profile_index(pl->specs[i].model, profile) >= 0)
            return true;
    return false;
}

static int unknown_profile(const struct plan *pl, const struct req_spec *r, struct err **err)
{
    char *msg = NULL, list[LIST_CAP];
    size_t len = 0;
    FILE *f = open_memstream(&msg, &len);
    if (f == NULL)
        return err_set(err, ENOMEM, "'%s': no selected GPU offers '%s'", r->arg, r->profile);
    fprintf(f, "'%s': no selected GPU offers the profile '%s'", r->arg, r->profile);
    for (size_t i = 0; i < pl->nspecs; i++) {
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen = seen || pl->specs[j].model == pl->specs[i].model;
        if (!seen)
            fprintf(f, "; %s offers: %s", pl->specs[i].model->name,
                    cat_profile_list(pl->specs[i].model, list, sizeof list));
    }
    fclose(f);
    int rc = err_set(err, EINVAL, "%s", msg);
    free(msg);
    return rc;
}

static int build_requests(struct plan *pl, struct err **err)
{
    size_t nreqs = 0, nslices = 0;
    for (size_t i = 0; i < pl->nrspecs; i++) {
        const struct req_spec *r = &pl->rspecs[i];
        if (!offered(pl, r->profile))
            return unknown_profile(pl, r, err);
        nreqs += (size_t)r->count;
        nslices += (size_t)(r->count * r->k);
        if (nreqs > PLAN_MAX_REQS || nslices > PLAN_MAX_SLICES)
            return err_set(err, EINVAL, "too many requests: at most %d requests and %d slices",
                           PLAN_MAX_REQS, PLAN_MAX_SLICES);
    }
    pl->reqs = xcalloc(nreqs ? nreqs : 1, sizeof *pl->reqs);
    for (size_t i = 0; i < pl->nrspecs; i++)
        for (long c = 0; c < pl->rspecs[i].count; c++, pl->nreqs++)
            pl->reqs[pl->nreqs] = (struct place_req){.profile = pl->rspecs[i].profile,
                                                     .count = (unsigned)pl->rspecs[i].k,
                                                     .owner = pl->nreqs + 1};
    pl->nslices = nslices;
    return 0;
}

static int plan_prepare(struct plan *pl, struct err **err)
{
    int rc = build_gpus(pl, err);
    for (size_t i = 0; rc == 0 && i < pl->nused; i++)
        rc = apply_used(pl, &pl->used[i], err);
    return rc < 0 ? rc : build_requests(pl, err);
}

static void plan_place(struct plan *pl)
{
    pl->outcome = xcalloc(pl->nreqs ? pl->nreqs : 1, sizeof *pl->outcome);
    pl->slices = xcalloc(pl->nslices ? pl->nslices : 1, sizeof *pl->slices);
    log_debug("placing %zu requests (%zu slices) on %zu GPUs, policy %s", pl->nreqs, pl->nslices,
              pl->ngpus, place_policy_name(pl->policy));
    pl->placed =
        place_batch(pl->gpus, pl->ngpus, pl->reqs, pl->nreqs, pl->policy, pl->outcome, pl->slices);
}

static void plan_free(struct plan *pl)
{
    for (size_t i = 0; i < pl->nused; i++)
        free(pl->used[i].profile);
    for (size_t i = 0; i < pl->nrspecs; i++)
        free(pl->rspecs[i].profile);
    free(pl->specs);
    free(pl->used);
    free(pl->rspecs);
    free(pl->gpus);
    free(pl->reqs);
    free(pl->outcome);
    free(pl->slices);
}

/* ---- output ------------------------------------------------------------------------------ */

static void label_request(const struct place_inst *inst, char *buf, size_t cap, void *ctx)
{
    (void)ctx;
    if (inst->owner == 0)
        snprintf(buf, cap, "used");
    else
        snprintf(buf, cap, "#%llu", (unsigned long long)inst->owner);
}

static void print_text(const struct plan *pl, FILE *out)
{
    for (size_t i = 0; i < pl->ngpus; i++) {
        picture_gpu(out, &pl->gpus[i], (unsigned)i, label_request, NULL);
        fputc('\n', out);
    }
    fprintf(out, "placed %zu of %zu requests (policy %s)\n", pl->placed, pl->nreqs,
            place_policy_name(pl->policy));
    for (size_t r = 0; r < pl->nreqs; r++) {
        if (pl->outcome[r].why == PLACE_OK)
            continue;
        fprintf(out, "not placed: %s", pl->reqs[r].profile);
        if (pl->reqs[r].count > 1)
            fprintf(out, ":%u", pl->reqs[r].count);
        fprintf(out, " #%zu: %s\n", r + 1, place_why_str(pl->outcome[r].why));
    }
}

static json_t *json_gpu(const struct place_gpu *g, size_t index)
{
    const struct cat_gpu *m = g->model;
    json_t *insts = json_array(), *can = json_object();
    for (unsigned k = 0; k < g->ninst; k++) {
        const struct cat_profile *p = &m->profiles[g->inst[k].profile];
        json_t *req = g->inst[k].owner ? json_integer((json_int_t)g->inst[k].owner) : json_null();
        json_array_append_new(insts, json_pack("{s:s, s:i, s:i, s:o}", "profile", p->name, "start",
                                               (int)g->inst[k].start, "size", (int)p->mem_slices,
                                               "request", req));
    }
    for (unsigned p = 0; p < m->nprofiles; p++)
        json_object_set_new(can, m->profiles[p].name, json_integer(place_fits_more(g, p)));
    return json_pack("{s:I, s:s, s:i, s:i, s:i, s:o, s:o}", "index", (json_int_t)index, "model",
                     m->name, "memSlices", (int)m->mem_slices, "computeSlices",
                     (int)m->compute_slices, "computeUsed", (int)g->compute_used, "instances",
                     insts, "canAdd", can);
}

static json_t *json_request(const struct plan *pl, size_t r)
{
    const struct place_outcome *o = &pl->outcome[r];
    json_t *slices = json_array();
    json_t *req =
        json_pack("{s:I, s:s, s:I, s:b}", "id", (json_int_t)(r + 1), "profile", pl->reqs[r].profile,
                  "count", (json_int_t)pl->reqs[r].count, "placed", o->why == PLACE_OK);
    if (o->why != PLACE_OK)
        json_object_set_new(req, "reason", json_string(place_why_str(o->why)));
    for (size_t i = 0; o->why == PLACE_OK && i < pl->reqs[r].count; i++) {
        const struct place_slice *s = &pl->slices[o->first + i];
        json_array_append_new(
            slices, json_pack("{s:I, s:i}", "gpu", (json_int_t)s->gpu, "start", (int)s->start));
    }
    json_object_set_new(req, "slices", slices);
    return req;
}

static void print_json(const struct plan *pl, FILE *out)
{
    json_t *gpus = json_array(), *reqs = json_array();
    for (size_t i = 0; i < pl->ngpus; i++)
        json_array_append_new(gpus, json_gpu(&pl->gpus[i], i));
    for (size_t r = 0; r < pl->nreqs; r++)
        json_array_append_new(reqs, json_request(pl, r));
    json_t *root = json_pack("{s:s, s:I, s:I, s:o, s:o}", "policy", place_policy_name(pl->policy),
                             "placed", (json_int_t)pl->placed, "requested", (json_int_t)pl->nreqs,
                             "gpus", gpus, "requests", reqs);
    json_dumpf(root, out, JSON_INDENT(2));
    fputc('\n', out);
    json_decref(root);
}

/* ---- the command ------------------------------------------------------------------------ */

static int plan_output(struct plan *pl)
{
    plan_place(pl);
    if (pl->json)
        print_json(pl, stdout);
    else
        print_text(pl, stdout);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        log_error("slicer plan: writing the plan: %s", strerror(errno));
        return CLI_FAILURE;
    }
    return pl->placed == pl->nreqs ? CLI_OK : CLI_UNPLACED;
}

int cmd_plan(int argc, char **argv)
{
    struct plan pl = {.policy = PLACE_BEST_FIT};
    struct err *e = NULL;
    int rc = plan_options(argc, argv, &pl, &e);
    if (rc == 0)
        rc = plan_prepare(&pl, &e);
    int code = CLI_OK;
    if (rc < 0) {
        fprintf(stderr, "slicer plan: %s\n(`slicer plan --help` shows the usage)\n", err_msg(e));
        code = CLI_USAGE;
    } else if (rc == 0) {
        code = plan_output(&pl);
    }
    err_free(&e);
    plan_free(&pl);
    return code;
}
