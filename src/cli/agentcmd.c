/* `slicer agent` in cluster mode: flags, then cluster_run. */
#include "cli/agentcmd.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/cluster.h"
#include "base/log.h"
#include "cli/handoff.h"
#include "cli/hostcmd.h"

static const char usage[] =
    "usage: slicer agent [options]            (cluster mode: one per GPU node)\n"
    "       slicer agent --host [options]     (host mode, no Kubernetes: see --host --help)\n"
    "\n"
    "Runs the node agent of a Kubernetes GPU node. It publishes the node's GPUs, their MIG\n"
    "profiles and instances in the GPUNode named after the node (and creates it), writes\n"
    "mig.slicer.dev/<profile> capacity on the Node, and makes the node's GPUSlices real\n"
    "through NVML: a Pending slice gets its MIG instance at exactly the spec's GPU, profile\n"
    "and placement (Ready with its MIG UUID, or Failed with NVML's words and nothing left);\n"
    "a Releasing or deleted slice has its instance destroyed and then loses the finalizer\n"
    "slicer.dev/teardown. Everything is journaled before NVML is touched, so after a crash,\n"
    "a restart or a reboot it finishes or rolls back what was half done. MIG instances it\n"
    "did not make are reported (GPUNode, ForeignInstance Event) and never touched.\n"
    "\n"
    "options:\n"
    "  --kubeconfig PATH      kubeconfig to use (default $KUBECONFIG, else the in-cluster\n"
    "                         service account, else ~/.kube/config)\n"
    "  --node-name NAME       this node's name (default $NODE_NAME, else the hostname)\n"
    "  --state-dir DIR        where the journal lives (default " CLUSTER_DEFAULT_STATE "; file\n"
    "                         " CLUSTER_JOURNAL_FILE ", apart from host mode's journal.json)\n"
    "  --heartbeat SECONDS    how often NVML is re-read and the GPUNode rewritten (default "
    "30)\n"
    "  --events KIND          which Events it writes: 'warnings' (default: NVMLError,\n"
    "                         ForeignInstance, NodeRebooted) or 'all' (also SliceCreated and\n"
    "                         SliceDestroyed for every slice: two more API writes each)\n"
    "  --handoff MODE         how containers get their slices: 'auto' (default: 'dra' when\n"
    "                         the DeviceClass mig.slicer.dev is installed, which needs\n"
    "                         Kubernetes 1.34+, else 'env'), 'dra' or 'env'. dra: the\n"
    "                         agent is the DRA driver mig.slicer.dev: it publishes each GPU\n"
    "                         as ResourceSlices of partitionable devices (one per profile\n"
    "                         and placement), serves the kubelet's plugin sockets and\n"
    "                         answers NodePrepareResources with CDI devices that hold\n"
    "                         exactly the claim's MIG slices. env (legacy, trusts the node's\n"
    "                         runtime): mig.slicer.dev/<profile> capacity on the Node, and\n"
    "                         any ResourceSlices a DRA-mode run published are removed\n"
    "  --kubelet-dir DIR      the kubelet's root (default /var/lib/kubelet): sockets in\n"
    "                         DIR/plugins_registry and DIR/plugins/mig.slicer.dev\n"
    "  --cdi-dir DIR          where CDI specs are written (default /var/run/cdi)\n"
    "  --driver-root DIR      where the NVIDIA driver's files are (default /; GPU Operator\n"
    "                         nodes: /run/nvidia/driver)\n"
    "  --host-driver-root DIR that folder as the host sees it, written in the CDI specs\n"
    "                         (default: --driver-root; the DaemonSet mounts the host's / at\n"
    "                         /driver-root and passes --driver-root /driver-root\n"
    "                         --host-driver-root /)\n"
    "  --dev-root DIR         where the host's /dev is (default /)\n"
    "  --proc-root DIR        where the host's /proc is (default /proc): the MIG capability\n"
    "                         minors are in DIR/driver/nvidia-caps/mig-minors\n"
    "  --cdi-hook PATH        NVIDIA's CDI hook in the specs (default /usr/bin/nvidia-cdi-hook;\n"
    "                         'none': no hooks)\n"
    "  --prepare-timeout S    how long a NodePrepareResources waits for its slices to be\n"
    "                         Ready before it fails (the kubelet retries; default 120)\n"
    "  --boot-id-file PATH    where the boot ID is read (default " CLUSTER_DEFAULT_BOOT_ID ")\n"
    "  --nvml-library PATH    NVML library to load (default $SLICER_NVML_LIBRARY or\n"
    "                         libnvidia-ml.so.1; build/emu/libnvidia-ml.so.1 is the emulator)\n"
    "  -h, --help             this text\n"
    "  (and the global --log-level, --log-format)\n"
    "\n"
    "example (the DaemonSet): slicer agent --node-name $(NODE_NAME) --state-dir /var/lib/slicer\n"
    "Stops on SIGINT or SIGTERM: the NVML call in progress is finished and journaled, the\n"
    "GPUNode says Ready=False; MIG instances stay (a restart finds them again).\n"
    "exit codes: 0 stopped cleanly, 2 usage error, 3 failure (API, NVML, journal)\n";

static enum cli_handoff agent_handoff;

static int options(int argc, char **argv, struct cluster_config *cfg)
{
    agent_handoff = CLI_HANDOFF_AUTO;
    static const struct option opts[] = {{"kubeconfig", required_argument, NULL, 'k'},
                                         {"node-name", required_argument, NULL, 'n'},
                                         {"state-dir", required_argument, NULL, 'd'},
                                         {"heartbeat", required_argument, NULL, 'b'},
                                         {"boot-id-file", required_argument, NULL, 'B'},
                                         {"events", required_argument, NULL, 'e'},
                                         {"handoff", required_argument, NULL, 'H'},
                                         {"kubelet-dir", required_argument, NULL, 'K'},
                                         {"cdi-dir", required_argument, NULL, 'C'},
                                         {"driver-root", required_argument, NULL, 'R'},
                                         {"host-driver-root", required_argument, NULL, 'Q'},
                                         {"dev-root", required_argument, NULL, 'D'},
                                         {"proc-root", required_argument, NULL, 'P'},
                                         {"cdi-hook", required_argument, NULL, 'O'},
                                         {"prepare-timeout", required_argument, NULL, 'T'},
                                         {"nvml-library", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    int c;
    long secs;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            cfg->kubeconfig = optarg;
            break;
        case 'n':
            cfg->node = optarg;
            break;
        case 'd':
            cfg->state_dir = optarg;
            break;
        case 'B':
            cfg->boot_id_file = optarg;
            break;
        case 'e':
            if (strcmp(optarg, "all") != 0 && strcmp(optarg, "warnings") != 0) {
                fprintf(stderr, "slicer agent: --events is 'warnings' or 'all', not '%s'\n",
                        optarg);
                return 2;
            }
            cfg->normal_events = strcmp(optarg, "all") == 0;
            break;
        case 'H':
            if (!cli_handoff_parse(optarg, &agent_handoff)) {
                fprintf(stderr, "slicer agent: --handoff is 'auto', 'env' or 'dra', not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'K':
            cfg->kubelet_dir = optarg;
            break;
        case 'C':
            cfg->cdi_dir = optarg;
            break;
        case 'R':
            cfg->driver_root = optarg;
            break;
        case 'Q':
            cfg->host_driver_root = optarg;
            break;
        case 'D':
            cfg->dev_root = optarg;
            break;
        case 'P':
            cfg->proc_root = optarg;
            break;
        case 'O':
            cfg->cdi_hook = optarg;
            break;
        case 'T':
            if (hostcmd_parse_long(optarg, 1, 3600, &secs) < 0) {
                fprintf(stderr, "slicer agent: --prepare-timeout wants 1..3600 seconds, not '%s'\n",
                        optarg);
                return 2;
            }
            cfg->prepare_wait_s = (unsigned)secs;
            break;
        case 'l':
            cfg->nvml_library = optarg;
            break;
        case 'b':
            if (hostcmd_parse_long(optarg, 1, 3600, &secs) < 0) {
                fprintf(stderr, "slicer agent: --heartbeat wants 1..3600 seconds, not '%s'\n",
                        optarg);
                return 2;
            }
            cfg->heartbeat_s = (unsigned)secs;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "slicer agent: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return -1;
}

/* --node-name, else $NODE_NAME, else the hostname (into buf). */
static const char *node_name(const char *flag, char *buf, size_t cap)
{
    if (flag && *flag)
        return flag;
    const char *env = getenv("NODE_NAME");
    if (env && *env)
        return env;
    if (gethostname(buf, cap - 1) < 0)
        return NULL;
    buf[cap - 1] = '\0';
    return buf[0] ? buf : NULL;
}

int cmd_agent_cluster(int argc, char **argv)
{
    struct cluster_config cfg = {.version = SLICER_VERSION};
    int rc = options(argc, argv, &cfg);
    if (rc >= 0)
        return rc;
    char host[256];
    cfg.node = node_name(cfg.node, host, sizeof host);
    if (cfg.node == NULL || strlen(cfg.node) > 253 || strchr(cfg.node, '/')) {
        fprintf(stderr, "slicer agent: no usable node name: give --node-name or set NODE_NAME\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct err *e = NULL;
    if (cli_handoff_resolve(agent_handoff, cfg.kubeconfig, "agent", &cfg.dra, &e) < 0 ||
        cluster_run(&cfg, &e) < 0) {
        log_error("%s", err_msg(e));
        err_free(&e);
        return 3;
    }
    return 0;
}
