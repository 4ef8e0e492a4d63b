/* `slicer agent --host` and `slicer run`. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/host.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "cli/agentcmd.h"
#include "cli/hostcmd.h"

#define EXIT_RUN_FAILED 125 /* slicer run itself failed (like env(1) and docker run) */

/* ---- slicer agent ----------------------------------------------------------------- */

static const char agent_usage[] =
    "usage: slicer agent --host [options]\n"
    "\n"
    "Runs the node agent. With --host (no Kubernetes; without it, cluster mode: see\n"
    "`slicer agent --help`) it owns this machine's MIG\n"
    "GPUs through NVML and serves a JSON API on a unix socket for `slicer run` and\n"
    "`slicer status`: slices are created on demand, placed by the placement engine, and\n"
    "destroyed when their owner is done. Its journal survives crashes and reboots: on start\n"
    "it finishes or rolls back whatever a crash left half done, and leaves MIG instances it\n"
    "did not create alone.\n"
    "\n"
    "options:\n"
    "  --host                 host mode (no Kubernetes)\n"
    "  --socket PATH          unix socket to serve (default $SLICER_SOCKET or\n"
    "                         " HOST_DEFAULT_SOCKET "; created with mode 0660)\n"
    "  --state-dir DIR        where the journal lives (default " HOST_DEFAULT_STATE ")\n"
    "  --policy NAME          best-fit (default) or first-fit\n"
    "  --nvml-library PATH    NVML library to load (default $SLICER_NVML_LIBRARY or\n"
    "                         libnvidia-ml.so.1; build/emu/libnvidia-ml.so.1 is the emulator)\n"
    "  --check-interval MS    how often owner processes and TTLs are checked (default 1000)\n"
    "  -h, --help             this text\n"
    "\n"
    "API: one JSON object per line on the socket, one JSON reply per line:\n"
    "  {\"op\":\"create\",\"profile\":\"1g.5gb\",\"count\":1,\"owner\":\"me\",\"pid\":123,\n"
    "   \"ttl\":600,\"hold\":true}     -> "
    "{\"ok\":true,\"slices\":[{\"id\":1,\"uuid\":\"MIG-...\",...}]}\n"
    "  {\"op\":\"list\"}                -> {\"ok\":true,\"gpus\":[...],\"slices\":[...]}\n"
    "  {\"op\":\"release\",\"id\":1}      or {\"op\":\"release\",\"owner\":\"me\"}\n"
    "  Errors: {\"ok\":false,\"error\":\"...\"}. \"hold\" releases the slices when the\n"
    "  connection closes; \"pid\" when that process exits; \"ttl\" after that many seconds.\n"
    "\n"
    "Stops on SIGINT or SIGTERM; slices of running work are kept (and found again on start).\n"
    "exit codes: 0 stopped cleanly, 2 usage error, 3 failure (NVML, journal, socket)\n";

static volatile sig_atomic_t agent_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    agent_stop = 1;
}

static int parse_ms(const char *s, unsigned *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < 1 || v > 3600000)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int agent_options(int argc, char **argv, struct host_config *cfg, bool *host)
{
    static const struct option opts[] = {{"host", no_argument, NULL, 'H'},
                                         {"socket", required_argument, NULL, 's'},
                                         {"state-dir", required_argument, NULL, 'd'},
                                         {"policy", required_argument, NULL, 'p'},
                                         {"nvml-library", required_argument, NULL, 'l'},
                                         {"check-interval", required_argument, NULL, 'i'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'H':
            *host = true;
            break;
        case 's':
            cfg->socket_path = optarg;
            break;
        case 'd':
            cfg->state_dir = optarg;
            break;
        case 'l':
            cfg->nvml_library = optarg;
            break;
        case 'p':
            if (!place_policy_parse(optarg, &cfg->policy)) {
                fprintf(stderr, "slicer agent: unknown policy '%s' (best-fit, first-fit)\n",
                        optarg);
                return 2;
            }
            break;
        case 'i':
            if (parse_ms(optarg, &cfg->check_ms) < 0) {
                fprintf(stderr, "slicer agent: --check-interval wants 1..3600000 ms\n");
                return 2;
            }
            break;
        case 'h':
            fputs(agent_usage, stdout);
            return 0;
        default:
            fputs(agent_usage, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "slicer agent: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return -1;
}

int cmd_agent(int argc, char **argv)
{
    bool host = false;
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        host = host || strcmp(argv[i], "--host") == 0;
    if (!host)
        return cmd_agent_cluster(argc, argv);
    struct host_config cfg = {.policy = PLACE_BEST_FIT};
    int rc = agent_options(argc, argv, &cfg, &host);
    if (rc >= 0)
        return rc;
    cfg.socket_path = hostcmd_socket(cfg.socket_path);
    struct sigaction sa = {.sa_handler = on_stop_signal}; /* no SA_RESTART: epoll wakes up */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct err *e = NULL;
    if (host_run(&cfg, &agent_stop, &e) < 0) {
        log_error("%s", err_msg(e));
        err_free(&e);
        return 3;
    }
    return 0;
}

/* ---- slicer run -------------------------------------------------------------------- */

static const char run_usage[] =
    "usage: slicer run -p PROFILE [-n N] [options] -- COMMAND [ARG...]\n"
    "\n"
    "Asks the host agent for N MIG slices of PROFILE, runs COMMAND with\n"
    "NVIDIA_VISIBLE_DEVICES set to their MIG UUIDs and CUDA_VISIBLE_DEVICES=0..N-1,\n"
    "forwards signals to it, and releases the slices when it ends, whichever way it ends:\n"
    "if slicer run itself is killed, the agent sees its connection close and releases them.\n"
    "\n"
    "options:\n"
    "  -p, --profile NAME   MIG profile, e.g. 1g.5gb, 3g.20gb, 7g.40gb (`slicer status`\n"
    "                       lists what this host offers)\n"
    "  -n, --count N        number of slices (default 1, at most 64)\n"
    "  --ttl SECONDS        release the slices after this long even if COMMAND still runs\n"
    "  --owner NAME         how the slices are labelled (default run:PID:COMMAND)\n"
    "  --socket PATH        the agent's socket (default $SLICER_SOCKET or " HOST_DEFAULT_SOCKET
    ")\n"
    "  -h, --help           this text\n"
    "\n"
    "example: slicer run -p 3g.20gb -- python serve.py --port 8080\n"
    "exit codes: COMMAND's exit code (128+N if killed by signal N); 2 usage error;\n"
    "125 slicer run failed (no agent, no room, unknown profile); 126 COMMAND cannot be\n"
    "executed; 127 COMMAND not found\n";

struct run_opts {
    const char *profile, *owner, *socket;
    long count, ttl;
};

int hostcmd_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int run_options(int argc, char **argv, struct run_opts *o)
{
    static const struct option opts[] = {{"profile", required_argument, NULL, 'p'},
                                         {"count", required_argument, NULL, 'n'},
                                         {"ttl", required_argument, NULL, 't'},
                                         {"owner", required_argument, NULL, 'o'},
                                         {"socket", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    int c;
    /* '+': stop at the first non-option, so COMMAND's own flags are left alone. */
    while ((c = getopt_long(argc, argv, "+p:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            o->profile = optarg;
            break;
        case 'o':
            o->owner = optarg;
            break;
        case 's':
            o->socket = optarg;
            break;
        case 'n':
            if (hostcmd_parse_long(optarg, 1, HOST_MAX_COUNT, &o->count) < 0) {
                fprintf(stderr, "slicer run: -n wants a whole number from 1 to %d, not '%s'\n",
                        HOST_MAX_COUNT, optarg);
                return 2;
            }
            break;
        case 't':
            if (hostcmd_parse_long(optarg, 1, 365L * 24 * 3600, &o->ttl) < 0) {
                fprintf(stderr, "slicer run: --ttl wants seconds (1..31536000), not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'h':
            fputs(run_usage, stdout);
            return 0;
        default:
            fputs(run_usage, stderr);
            return 2;
        }
    }
    if (o->profile == NULL || optind >= argc) {
        fprintf(stderr, "slicer run: %s\n%s",
                o->profile == NULL ? "-p PROFILE is required" : "no COMMAND given", run_usage);
        return 2;
    }
    return -1;
}

/* Sets NVIDIA_VISIBLE_DEVICES and CUDA_VISIBLE_DEVICES from the reply's slices. */
static int export_devices(json_t *slices, struct err **err)
{
    size_t n = json_array_size(slices), len = 0;
    char *uuids = xcalloc(n + 1, 100), *cuda = xcalloc(n + 1, 12);
    size_t clen = 0;
    for (size_t i = 0; i < n; i++) {
        const char *u = json_string_value(json_object_get(json_array_get(slices, i), "uuid"));
        if (u == NULL || strncmp(u, "MIG-", 4) != 0 || strlen(u) > 96) {
            free(uuids);
            free(cuda);
            return err_set(err, EPROTO, "the agent returned a slice without a MIG UUID");
        }
        len += (size_t)snprintf(uuids + len, 100, "%s%s", i ? "," : "", u);
        clen += (size_t)snprintf(cuda + clen, 12, "%s%zu", i ? "," : "", i);
    }
    setenv("NVIDIA_VISIBLE_DEVICES", uuids, 1);
    setenv("CUDA_VISIBLE_DEVICES", cuda, 1);
    free(uuids);
    free(cuda);
    return 0;
}

static int request_slices(int fd, const struct run_opts *o, const char *owner, struct err **err)
{
    json_t *req =
        json_pack("{s:s, s:s, s:I, s:s, s:I, s:b}", "op", "create", "profile", o->profile, "count",
                  (json_int_t)o->count, "owner", owner, "pid", (json_int_t)getpid(), "hold", 1);
    if (o->ttl)
        json_object_set_new(req, "ttl", json_integer(o->ttl));
    json_t *reply = NULL;
    int rc = agent_call(fd, req, &reply, err);
    json_decref(req);
    if (rc < 0)
        return rc;
    json_t *slices = json_object_get(reply, "slices");
    rc = export_devices(slices, err);
    for (size_t i = 0; rc == 0 && i < json_array_size(slices); i++)
        log_info("slice %lld: %s on GPU %lld at %lld (%s)",
                 (long long)json_integer_value(json_object_get(json_array_get(slices, i), "id")),
                 o->profile,
                 (long long)json_integer_value(json_object_get(json_array_get(slices, i), "gpu")),
                 (long long)json_integer_value(json_object_get(json_array_get(slices, i), "start")),
                 json_string_value(json_object_get(json_array_get(slices, i), "uuid")));
    json_decref(reply);
    return rc;
}

static volatile sig_atomic_t child_pid;

static void forward_signal(int sig)
{
    if (child_pid > 0)
        kill((pid_t)child_pid, sig);
}

/* Runs argv as a child with signals forwarded; returns its exit code. */
static int run_child(char **argv)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork: %s", strerror(errno));
        return EXIT_RUN_FAILED;
    }
    if (pid == 0) {
        execvp(argv[0], argv);
        int e = errno;
        fprintf(stderr, "slicer run: cannot run %s: %s\n", argv[0], strerror(e));
        _exit(e == ENOENT ? 127 : 126);
    }
    child_pid = pid;
    struct sigaction sa = {.sa_handler = forward_signal, .sa_flags = SA_RESTART};
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    child_pid = 0;
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static void release_slices(int fd, const char *owner)
{
    json_t *req = json_pack("{s:s, s:s}", "op", "release", "owner", owner);
    json_t *reply = NULL;
    struct err *e = NULL;
    if (agent_call(fd, req, &reply, &e) < 0) {
        /* Closing the connection releases them anyway (they are held by it). */
        log_warn("releasing the slices: %s (closing the connection releases them)", err_msg(e));
        err_free(&e);
    }
    json_decref(req);
    json_decref(reply);
}

int cmd_run(int argc, char **argv)
{
    struct run_opts o = {.count = 1};
    int rc = run_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    char owner[128];
    if (o.owner)
        snprintf(owner, sizeof owner, "%s", o.owner);
    else
        snprintf(owner, sizeof owner, "run:%d:%s", (int)getpid(), argv[optind]);
    signal(SIGPIPE, SIG_IGN);
    struct err *e = NULL;
    int fd = agent_connect(hostcmd_socket(o.socket), &e);
    if (fd < 0 || request_slices(fd, &o, owner, &e) < 0) {
        fprintf(stderr, "slicer run: %s\n", err_msg(e));
        err_free(&e);
        if (fd >= 0)
            close(fd);
        return EXIT_RUN_FAILED;
    }
    rc = run_child(&argv[optind]);
    release_slices(fd, owner);
    close(fd);
    return rc;
}
