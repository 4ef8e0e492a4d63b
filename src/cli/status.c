/* `slicer status`: what this node's NVML reports (real or emulated GPUs), drawn
 * as pictures of memory slices with the MIG instances in them, what could still
 * be created, and, when a host agent runs, which of its slices each instance is
 * and who owns it. Usage: status_usage below and docs/cli.md. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "cli/cli.h"
#include "cli/hostcmd.h"
#include "cli/picture.h"
#include "nvml/mig.h"

static const char status_usage[] =
    "usage: slicer status [--json] [--nvml-library PATH] [--socket PATH | --no-agent]\n"
    "\n"
    "Shows every GPU that this node's NVML reports (real or emulated): a picture of its\n"
    "memory slices with the MIG instances in them (profile, GPU instance and compute\n"
    "instance ids, MIG device UUID), and how many more slices of each profile it could\n"
    "still take. When a host agent (`slicer agent --host`) serves the socket, each\n"
    "instance also shows the agent's slice number, phase and owner; instances nobody\n"
    "created through slicer are marked \"not slicer's\". Only reads; changes nothing.\n"
    "\n"
    "options:\n"
    "  --json                 print one JSON object instead of pictures\n"
    "  --nvml-library PATH    NVML library to load (default $SLICER_NVML_LIBRARY or\n"
    "                         libnvidia-ml.so.1; build/emu/libnvidia-ml.so.1 is the emulator)\n"
    "  --socket PATH          the host agent's socket (default $SLICER_SOCKET or\n"
    "                         /run/slicer/agent.sock)\n"
    "  --no-agent             do not ask a host agent, show NVML's view only\n"
    "  -h, --help             this text\n"
    "\n"
    "exit codes: 0 shown, 2 usage error, 3 NVML could not be loaded or read\n";

struct status_opts {
    bool json, no_agent;
    const char *nvml_library, *socket;
};

/* What the host agent says about one of its slices. */
struct agent_slice {
    const char *gpu_uuid, *owner, *phase;
    json_int_t id, pid, expires;
    int start;
};

struct status {
    struct status_opts o;
    struct mig_gpu *gpus;
    size_t ngpus;
    json_t *agent;          /* the agent's list reply, or NULL when none answered */
    const char *agent_note; /* why there is no agent view */
    struct agent_slice *slices;
    size_t nslices;
};

static int status_options(int argc, char **argv, struct status_opts *o)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},         {"nvml-library", required_argument, NULL, 'l'},
        {"socket", required_argument, NULL, 's'}, {"no-agent", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},         {0, 0, 0, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'j')
            o->json = true;
        else if (c == 'l')
            o->nvml_library = optarg;
        else if (c == 's')
            o->socket = optarg;
        else if (c == 'n')
            o->no_agent = true;
        else if (c == 'h') {
            fputs(status_usage, stdout);
            return CLI_OK;
        } else {
            fputs(status_usage, stderr);
            return CLI_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "slicer status: unexpected argument '%s'\n", argv[optind]);
        return CLI_USAGE;
    }
    return -1;
}

/* ---- the agent's view ----------------------------------------------------------------- */

static void parse_agent_slices(struct status *st)
{
    json_t *arr = json_object_get(st->agent, "slices");
    st->slices = xcalloc(json_array_size(arr) + 1, sizeof *st->slices);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        struct agent_slice s = {.owner = "?", .phase = "?", .gpu_uuid = ""};
        json_int_t gpu = -1;
        if (json_unpack(v, "{s:I, s?s, s?s, s:I, s:i, s?I, s?I}", "id", &s.id, "owner", &s.owner,
                        "phase", &s.phase, "gpu", &gpu, "start", &s.start, "pid", &s.pid, "expires",
                        &s.expires) < 0)
            continue;
        if (gpu >= 0 && (size_t)gpu < st->ngpus)
            s.gpu_uuid = st->gpus[gpu].uuid;
        st->slices[st->nslices++] = s;
    }
}

/* Asks the host agent for its slices. No agent is not an error: the note says so. */
static void read_agent(struct status *st)
{
    if (st->o.no_agent) {
        st->agent_note = "not asked (--no-agent)";
        return;
    }
    const char *path = hostcmd_socket(st->o.socket);
    struct err *e = NULL;
    int fd = agent_connect(path, &e);
    if (fd < 0) {
        log_debug("slicer status: no host agent: %s", err_msg(e));
        err_free(&e);
        st->agent_note = "no host agent answers on its socket";
        return;
    }
    json_t *req = json_pack("{s:s}", "op", "list");
    if (agent_call(fd, req, &st->agent, &e) < 0) {
        log_warn("slicer status: asking the host agent: %s", err_msg(e));
        err_free(&e);
        st->agent = NULL;
        st->agent_note = "the host agent did not answer";
    }
    json_decref(req);
    close(fd);
    if (st->agent)
        parse_agent_slices(st);
}

static const struct agent_slice *slice_at(const struct status *st, const struct mig_gpu *g,
                                          unsigned start)
{
    for (size_t i = 0; i < st->nslices; i++)
        if (st->slices[i].start == (int)start && strcmp(st->slices[i].gpu_uuid, g->uuid) == 0)
            return &st->slices[i];
    return NULL;
}

/* ---- text ---------------------------------------------------------------------------- */

struct label_ctx {
    const struct status *st;
    const struct mig_gpu *g;
};

static const struct mig_instance *inst_at(const struct mig_gpu *g, unsigned start)
{
    for (unsigned i = 0; i < g->ninst; i++)
        if (g->inst[i].start == start)
            return &g->inst[i];
    return NULL;
}

static void label_instance(const struct place_inst *inst, char *buf, size_t cap, void *ctx)
{
    const struct label_ctx *lc = ctx;
    const struct agent_slice *s = slice_at(lc->st, lc->g, inst->start);
    const struct mig_instance *mi = inst_at(lc->g, inst->start);
    if (s)
        snprintf(buf, cap, "#%lld", (long long)s->id);
    else if (mi)
        snprintf(buf, cap, "GI %u", mi->gi_id);
    else
        buf[0] = '\0';
}

static void describe_owner(const struct status *st, const struct mig_gpu *g,
                           const struct mig_instance *mi, char *buf, size_t cap)
{
    const struct agent_slice *s = slice_at(st, g, mi->start);
    if (s)
        snprintf(buf, cap, "slice #%lld %s, owner %s", (long long)s->id, s->phase, s->owner);
    else if (st->agent)
        snprintf(buf, cap, "not slicer's (left alone)");
    else
        buf[0] = '\0';
}

static void print_instances(FILE *out, const struct status *st, const struct mig_gpu *g)
{
    if (g->ninst == 0)
        return;
    fprintf(out, "      %-7s %-12s %4s %4s  %-40s %s\n", "slices", "profile", "GI", "CI",
            "MIG device", st->agent ? "slicer" : "");
    for (unsigned i = 0; i < g->ninst; i++) {
        const struct mig_instance *mi = &g->inst[i];
        const char *pname =
            g->model && mi->profile >= 0 ? g->model->profiles[mi->profile].name : "unknown";
        char where[16], ci[12], owner[256];
        snprintf(where, sizeof where, "%u-%u", mi->start, mi->start + mi->size - 1);
        if (mi->ci_id == MIG_NO_CI)
            snprintf(ci, sizeof ci, "-");
        else
            snprintf(ci, sizeof ci, "%u", mi->ci_id);
        describe_owner(st, g, mi, owner, sizeof owner);
        fprintf(out, "      %-7s %-12s %4u %4s  %-40s %s\n", where, pname, mi->gi_id, ci,
                mi->ci_id == MIG_NO_CI ? "(no compute instance)" : mi->uuid, owner);
    }
}

static void print_gpu_text(FILE *out, const struct status *st, size_t gi)
{
    const struct mig_gpu *g = &st->gpus[gi];
    if (g->model == NULL) {
        fprintf(out, "GPU %zu: %s %s\n  not a MIG GPU slicer knows (PCI id 0x%08x): not shown\n",
                gi, g->name, g->uuid, g->pci_device_id);
        return;
    }
    if (!g->mig_enabled) {
        fprintf(out,
                "GPU %zu: %s %s\n  MIG mode is off: no slices can be made until it is "
                "enabled (nvidia-smi -i %u -mig 1)\n",
                gi, g->name, g->uuid, g->index);
        return;
    }
    struct place_gpu pg;
    unsigned odd = mig_to_place(g, &pg);
    struct label_ctx lc = {st, g};
    picture_header(out, &pg, (unsigned)gi);
    fprintf(out, "  %s\n", g->uuid);
    picture_grid(out, &pg, label_instance, &lc);
    print_instances(out, st, g);
    picture_can_add(out, &pg);
    if (odd > 0)
        fprintf(out, "  warning: %u instance(s) outside the catalog's rules are not drawn\n", odd);
}

static void print_text(FILE *out, const struct status *st)
{
    if (st->ngpus == 0)
        fputs("NVML reports no GPUs on this node\n", out);
    for (size_t gi = 0; gi < st->ngpus; gi++) {
        print_gpu_text(out, st, gi);
        fputc('\n', out);
    }
    if (st->agent == NULL) {
        fprintf(out, "host agent: %s\n", st->agent_note);
        return;
    }
    fprintf(out, "host agent: %zu slice(s), policy %s\n", st->nslices,
            json_string_value(json_object_get(st->agent, "policy")));
    for (size_t i = 0; i < st->nslices; i++) {
        const struct agent_slice *s = &st->slices[i];
        fprintf(out, "  #%-4lld %-10s owner %s", (long long)s->id, s->phase, s->owner);
        if (s->pid)
            fprintf(out, " (pid %lld)", (long long)s->pid);
        if (s->expires)
            fprintf(out, ", expires in %llds", (long long)(s->expires - (json_int_t)time(NULL)));
        fputc('\n', out);
    }
}

/* ---- JSON ---------------------------------------------------------------------------- */

static json_t *json_instance(const struct status *st, const struct mig_gpu *g,
                             const struct mig_instance *mi)
{
    const char *pname = g->model && mi->profile >= 0 ? g->model->profiles[mi->profile].name : NULL;
    json_t *o = json_pack("{s:s?, s:I, s:I, s:I, s:I}", "profile", pname, "profileId",
                          (json_int_t)mi->profile_id, "start", (json_int_t)mi->start, "size",
                          (json_int_t)mi->size, "giId", (json_int_t)mi->gi_id);
    json_object_set_new(o, "ciId",
                        mi->ci_id == MIG_NO_CI ? json_null() : json_integer((json_int_t)mi->ci_id));
    json_object_set_new(o, "uuid", mi->ci_id == MIG_NO_CI ? json_null() : json_string(mi->uuid));
    const struct agent_slice *s = slice_at(st, g, mi->start);
    if (s)
        json_object_set_new(
            o, "slice",
            json_pack("{s:I, s:s, s:s}", "id", s->id, "phase", s->phase, "owner", s->owner));
    else
        json_object_set_new(o, "slice", json_null());
    return o;
}

static json_t *json_gpu(const struct status *st, size_t gi)
{
    const struct mig_gpu *g = &st->gpus[gi];
    json_t *insts = json_array(), *can = json_object();
    for (unsigned i = 0; i < g->ninst; i++)
        json_array_append_new(insts, json_instance(st, g, &g->inst[i]));
    if (g->model && g->mig_enabled) {
        struct place_gpu pg;
        (void)mig_to_place(g, &pg);
        for (unsigned p = 0; p < g->model->nprofiles; p++)
            json_object_set_new(can, g->model->profiles[p].name,
                                json_integer(place_fits_more(&pg, p)));
    }
    return json_pack("{s:I, s:s, s:s, s:s?, s:b, s:I, s:i, s:o, s:o}", "index", (json_int_t)gi,
                     "uuid", g->uuid, "name", g->name, "model", g->model ? g->model->name : NULL,
                     "migEnabled", g->mig_enabled, "memoryMiB", (json_int_t)g->memory_mib,
                     "memSlices", g->model ? (int)g->model->mem_slices : 0, "instances", insts,
                     "canAdd", can);
}

static void print_json(FILE *out, const struct status *st)
{
    json_t *gpus = json_array();
    for (size_t gi = 0; gi < st->ngpus; gi++)
        json_array_append_new(gpus, json_gpu(st, gi));
    json_t *root = json_pack("{s:o}", "gpus", gpus);
    if (st->agent)
        json_object_set(root, "agent", st->agent);
    else
        json_object_set_new(root, "agent", json_null());
    json_dumpf(root, out, JSON_INDENT(2));
    fputc('\n', out);
    json_decref(root);
}

/* ---- the command --------------------------------------------------------------------- */

static int status_read(struct status *st)
{
    struct nvml *n = NULL;
    struct err *e = NULL;
    int rc = nvml_open(st->o.nvml_library, &n, &e);
    if (rc == 0)
        rc = mig_discover(n, &st->gpus, &st->ngpus, &e);
    nvml_close(n);
    if (rc < 0) {
        fprintf(stderr, "slicer status: %s\n", err_msg(e));
        err_free(&e);
        return CLI_FAILURE;
    }
    read_agent(st);
    return CLI_OK;
}

int cmd_status(int argc, char **argv)
{
    struct status st = {0};
    int rc = status_options(argc, argv, &st.o);
    if (rc >= 0)
        return rc;
    rc = status_read(&st);
    if (rc == CLI_OK) {
        if (st.o.json)
            print_json(stdout, &st);
        else
            print_text(stdout, &st);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            log_error("slicer status: writing: %s", strerror(errno));
            rc = CLI_FAILURE;
        }
    }
    json_decref(st.agent);
    free(st.slices);
    free(st.gpus);
    return rc;
}
