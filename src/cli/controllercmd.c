/* `slicer controller`: cluster-wide placement of MIG pods (src/controller). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "cli/cli.h"
#include "cli/handoff.h"
#include "controller/controller.h"

#define CTL_EXIT_LOST 4 /* leadership lost: the process stops acting and exits */

static const char controller_usage[] =
    "usage: slicer controller [--kubeconfig PATH] [--batch-window MS] [--policy NAME]\n"
    "                         [--leader-elect | --no-leader-elect] [--lease-namespace NS]\n"
    "                         [--lease-name NAME] [--identity ID] [--lease-duration S]\n"
    "                         [--renew-deadline S] [--retry-period S] [--retry-backoff MS]\n"
    "                         [--kube-qps N] [--kube-burst N] [--handoff auto|env|dra]\n"
    "\n"
    "Places pods that ask for MIG slices across the cluster. It watches pods labelled\n"
    "slicer.dev/managed=true (the webhook labels and gates them), collects those whose\n"
    "last scheduling gate is slicer.dev/gpu-slice for a short batch window, places the\n"
    "batch on the nodes' GPUs (node selector, required node affinity, taints, cordon,\n"
    "CPU/memory/pods first; then the placement engine), and writes one GPUSlice per slice\n"
    "for the node's agent to make. When every slice of a pod is Ready it annotates the pod\n"
    "with the MIG UUIDs (slicer.dev/devices-<i>), pins it to the node and removes its gate;\n"
    "when the pod ends or is deleted it releases the slices; a running pod whose slice is\n"
    "lost (its node rebooted) is set Failed so that its owner makes a new one. A pod that\n"
    "does not fit now gets a NoCapacity event and is tried again when capacity frees (a\n"
    "slice, pod, Node or GPUNode changes), never on a timer. Events: SliceScheduled,\n"
    "SliceReady, NoCapacity, NVMLError, SliceReleased, GateRemoved, InvalidRequest,\n"
    "SliceLost (docs/internals/controller.md).\n"
    "\n"
    "options:\n"
    "  --kubeconfig PATH     kubeconfig file (default: $KUBECONFIG, else the in-cluster\n"
    "                        service account, else ~/.kube/config)\n"
    "  --batch-window MS     how long to gather gated pods before placing them together\n"
    "                        (default 50; 0..60000)\n"
    "  --policy NAME         best-fit (default: keeps the most future capacity, packs used\n"
    "                        GPUs and nodes first) or first-fit (NVML's order, the baseline)\n"
    "  --leader-elect        only the holder of a Lease acts (default); others stand by\n"
    "  --no-leader-elect     act at once, alone (one replica only!)\n"
    "  --lease-namespace NS  namespace of the Lease (default slicer-system)\n"
    "  --lease-name NAME     name of the Lease (default slicer-controller)\n"
    "  --identity ID         this replica's name in the Lease and in Events (default\n"
    "                        $POD_NAME, else <hostname>_<pid>)\n"
    "  --lease-duration S    seconds a standby waits before taking over (default 15)\n"
    "  --renew-deadline S    seconds the leader may fail to renew before it steps down\n"
    "                        (default 10; must be < lease duration, > 1.2 x retry period)\n"
    "  --retry-period S      seconds between tries to take or renew the Lease (default 2)\n"
    "  --retry-backoff MS    wait before placing a pod again after NVML refused one of its\n"
    "                        slices (default 5000)\n"
    "  --kube-qps N          API requests per second this client may send (default 500;\n"
    "                        each placed pod costs about 4: slice, ungate, 2 Events)\n"
    "  --kube-burst N        requests it may send at once above that rate (default 1000)\n"
    "  --handoff MODE        'auto' (default: 'dra' when the DeviceClass mig.slicer.dev is\n"
    "                        installed, which needs Kubernetes 1.34+, else 'env'), 'dra' or\n"
    "                        'env'. dra: place the ResourceClaims of gated pods and write\n"
    "                        their allocation (devices, node, the pod reserved) as\n"
    "                        kube-scheduler would, make slicer's per-profile claim templates,\n"
    "                        and write a GPUSlice for every device of driver mig.slicer.dev a\n"
    "                        claim is allocated (whoever allocated it), so that the node's\n"
    "                        agent makes it before the kubelet prepares the claim. env\n"
    "                        (legacy, trusts the node's runtime): the pod's MIG UUIDs in\n"
    "                        annotations for NVIDIA_VISIBLE_DEVICES\n"
    "  -h, --help            this text\n"
    "\n"
    "Stops on SIGINT or SIGTERM (releasing the Lease so a standby takes over at once).\n"
    "An unreachable API server is retried with backoff, never fatal; nothing is written\n"
    "until every watch has listed once and (with election) this replica leads.\n"
    "exit codes: 0 stopped cleanly, 2 usage error, 3 failure (kubeconfig unreadable,\n"
    "leader election options refused, event loop), 4 leadership lost (stop acting and exit,\n"
    "as client-go's controllers do; the Deployment restarts the process as a standby)\n";

enum {
    OPT_KUBECONFIG = 256,
    OPT_BATCH,
    OPT_POLICY,
    OPT_ELECT,
    OPT_NO_ELECT,
    OPT_LEASE_NS,
    OPT_LEASE_NAME,
    OPT_IDENTITY,
    OPT_LEASE_DURATION,
    OPT_RENEW,
    OPT_RETRY,
    OPT_BACKOFF,
    OPT_QPS,
    OPT_HANDOFF,
    OPT_BURST,
};

static int bad_number(const char *opt, const char *v, long lo, long hi)
{
    fprintf(stderr, "slicer controller: %s wants a whole number from %ld to %ld, not '%s'\n", opt,
            lo, hi, v);
    return CLI_USAGE;
}

/* A numeric option into *out (scaled by `scale`); returns -1 or CLI_USAGE. */
static int number(const char *opt, const char *v, long lo, long hi, int scale, int *out)
{
    long n;
    if (!cli_parse_long(v, lo, hi, &n))
        return bad_number(opt, v, lo, hi);
    *out = (int)n * scale;
    return -1;
}

static enum cli_handoff controller_handoff;

static int one_option(int c, struct ctl_config *cfg)
{
    switch (c) {
    case OPT_KUBECONFIG:
        cfg->kubeconfig = optarg;
        return -1;
    case OPT_BATCH:
        return number("--batch-window", optarg, 0, 60000, 1, &cfg->batch_window_ms);
    case OPT_POLICY:
        if (place_policy_parse(optarg, &cfg->policy))
            return -1;
        fprintf(stderr, "slicer controller: --policy wants best-fit or first-fit, not '%s'\n",
                optarg);
        return CLI_USAGE;
    case OPT_ELECT:
    case OPT_NO_ELECT:
        cfg->leader_elect = c == OPT_ELECT;
        return -1;
    case OPT_LEASE_NS:
        cfg->lease_ns = optarg;
        return -1;
    case OPT_LEASE_NAME:
        cfg->lease_name = optarg;
        return -1;
    case OPT_IDENTITY:
        cfg->identity = optarg;
        return -1;
    case OPT_LEASE_DURATION:
        return number("--lease-duration", optarg, 1, 3600, 1000, &cfg->lease_ms);
    case OPT_RENEW:
        return number("--renew-deadline", optarg, 1, 3600, 1000, &cfg->renew_ms);
    case OPT_RETRY:
        return number("--retry-period", optarg, 1, 3600, 1000, &cfg->retry_ms);
    case OPT_BACKOFF:
        return number("--retry-backoff", optarg, 0, 3600000, 1, &cfg->retry_backoff_ms);
    case OPT_QPS:
        return number("--kube-qps", optarg, 1, 100000, 1, &cfg->qps);
    case OPT_BURST:
        return number("--kube-burst", optarg, 1, 100000, 1, &cfg->burst);
    case OPT_HANDOFF:
        if (cli_handoff_parse(optarg, &controller_handoff))
            return -1;
        fprintf(stderr, "slicer controller: --handoff is 'auto', 'env' or 'dra', not '%s'\n",
                optarg);
        return CLI_USAGE;
    case 'h':
        fputs(controller_usage, stdout);
        return CLI_OK;
    default:
        fputs(controller_usage, stderr);
        return CLI_USAGE;
    }
}

static int check_config(const struct ctl_config *cfg)
{
    if (cfg->identity[0] == '\0' || strlen(cfg->identity) >= 128) {
        fputs("slicer controller: --identity must be 1 to 127 characters\n", stderr);
        return CLI_USAGE;
    }
    if (cfg->leader_elect &&
        !(cfg->lease_ms > cfg->renew_ms && (long)cfg->renew_ms * 10 > (long)cfg->retry_ms * 12)) {
        fputs("slicer controller: leader election needs --lease-duration > --renew-deadline > "
              "1.2 x --retry-period\n",
              stderr);
        return CLI_USAGE;
    }
    return -1;
}

static int controller_options(int argc, char **argv, struct ctl_config *cfg)
{
    static const struct option opts[] = {
        {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
        {"batch-window", required_argument, NULL, OPT_BATCH},
        {"policy", required_argument, NULL, OPT_POLICY},
        {"leader-elect", no_argument, NULL, OPT_ELECT},
        {"no-leader-elect", no_argument, NULL, OPT_NO_ELECT},
        {"lease-namespace", required_argument, NULL, OPT_LEASE_NS},
        {"lease-name", required_argument, NULL, OPT_LEASE_NAME},
        {"identity", required_argument, NULL, OPT_IDENTITY},
        {"lease-duration", required_argument, NULL, OPT_LEASE_DURATION},
        {"renew-deadline", required_argument, NULL, OPT_RENEW},
        {"retry-period", required_argument, NULL, OPT_RETRY},
        {"retry-backoff", required_argument, NULL, OPT_BACKOFF},
        {"kube-qps", required_argument, NULL, OPT_QPS},
        {"kube-burst", required_argument, NULL, OPT_BURST},
        {"handoff", required_argument, NULL, OPT_HANDOFF},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0}};
    optind = 1;
    int c, rc;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
        if ((rc = one_option(c, cfg)) >= 0)
            return rc;
    if (optind < argc) {
        fprintf(stderr, "slicer controller: unexpected argument '%s'\n", argv[optind]);
        return CLI_USAGE;
    }
    return check_config(cfg);
}

int cmd_controller(int argc, char **argv)
{
    static char identity[192];
    const char *pod = getenv("POD_NAME");
    if (pod && pod[0]) {
        snprintf(identity, sizeof identity, "%s", pod);
    } else {
        char host[128] = "slicer";
        gethostname(host, sizeof host - 1);
        snprintf(identity, sizeof identity, "%s_%ld", host, (long)getpid());
    }
    struct ctl_config cfg = {.batch_window_ms = 50,
                             .policy = PLACE_BEST_FIT,
                             .leader_elect = true,
                             .lease_ns = "slicer-system",
                             .lease_name = "slicer-controller",
                             .identity = identity,
                             .lease_ms = 15000,
                             .renew_ms = 10000,
                             .retry_ms = 2000,
                             .retry_backoff_ms = 5000,
                             .qps = 500,
                             .burst = 1000};
    controller_handoff = CLI_HANDOFF_AUTO;
    int rc = controller_options(argc, argv, &cfg);
    if (rc >= 0)
        return rc;
    struct err *e = NULL;
    if (cli_handoff_resolve(controller_handoff, cfg.kubeconfig, "controller", &cfg.dra, &e) < 0) {
        log_error("slicer controller: %s", err_msg(e));
        err_free(&e);
        return CLI_FAILURE;
    }
    rc = ctl_run(&cfg, &e);
    if (rc < 0) {
        log_error("slicer controller: %s", err_msg(e));
        err_free(&e);
        return CLI_FAILURE;
    }
    return rc == CTL_LOST ? CTL_EXIT_LOST : CLI_OK;
}
