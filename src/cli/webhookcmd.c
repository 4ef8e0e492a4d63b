/* `slicer webhook`: the mutating admission webhook's HTTPS server. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "cli/cli.h"
#include "webhook/server.h"

static const char webhook_usage[] =
    "usage: slicer webhook --tls-cert FILE --tls-key FILE [--address ADDR] [--port PORT]\n"
    "\n"
    "Serves the mutating admission webhook for pods over HTTPS (TLS 1.2 and 1.3). A pod\n"
    "whose containers limit nvidia.com/mig-<profile>: N is rewritten to ask for\n"
    "mig.slicer.dev/<profile> instead, gets NVIDIA_VISIBLE_DEVICES (from the annotation\n"
    "slicer.dev/devices-<i> the controller fills) and CUDA_VISIBLE_DEVICES, the scheduling\n"
    "gate slicer.dev/gpu-slice and the label slicer.dev/managed=true. Unknown profiles, bad\n"
    "counts, requests that differ from limits and direct mig.slicer.dev asks are refused\n"
    "with a message naming the container (docs/internals/webhook.md).\n"
    "\n"
    "options:\n"
    "  --tls-cert FILE   PEM certificate chain; read again when it changes (rotation\n"
    "                    without restart; a broken new pair is logged, the old one kept)\n"
    "  --tls-key FILE    PEM private key of that certificate\n"
    "  --address ADDR    IPv4 or IPv6 address to listen on (default 0.0.0.0)\n"
    "  --port PORT       TCP port (default 8443; 0 picks a free one, logged)\n"
    "  -h, --help        this text\n"
    "\n"
    "endpoints: POST /mutate-pods (AdmissionReview admission.k8s.io/v1), GET /healthz,\n"
    "GET /readyz, GET /metrics (Prometheus text).\n"
    "Stops on SIGINT or SIGTERM.\n"
    "exit codes: 0 stopped cleanly, 2 usage error, 3 failure (certificate, address)\n";

static volatile sig_atomic_t webhook_stop;

static void on_stop(int sig)
{
    (void)sig;
    webhook_stop = 1;
}

static int webhook_options(int argc, char **argv, struct webhook_config *cfg)
{
    static const struct option opts[] = {
        {"tls-cert", required_argument, NULL, 'c'}, {"tls-key", required_argument, NULL, 'k'},
        {"address", required_argument, NULL, 'a'},  {"port", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},           {0, 0, 0, 0}};
    optind = 1;
    int c;
    long port;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'c') {
            cfg->cert_file = optarg;
        } else if (c == 'k') {
            cfg->key_file = optarg;
        } else if (c == 'a') {
            cfg->address = optarg;
        } else if (c == 'p') {
            if (!cli_parse_long(optarg, 0, 65535, &port)) {
                fprintf(stderr, "slicer webhook: --port wants 0..65535, not '%s'\n", optarg);
                return CLI_USAGE;
            }
            cfg->port = (uint16_t)port;
        } else if (c == 'h') {
            fputs(webhook_usage, stdout);
            return CLI_OK;
        } else {
            fputs(webhook_usage, stderr);
            return CLI_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "slicer webhook: unexpected argument '%s'\n", argv[optind]);
        return CLI_USAGE;
    }
    if (cfg->cert_file == NULL || cfg->key_file == NULL) {
        fprintf(stderr, "slicer webhook: --tls-cert and --tls-key are required (the apiserver "
                        "calls webhooks over HTTPS only)\n");
        return CLI_USAGE;
    }
    return -1;
}

int cmd_webhook(int argc, char **argv)
{
    struct webhook_config cfg = {.port = 8443};
    int rc = webhook_options(argc, argv, &cfg);
    if (rc >= 0)
        return rc;
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct err *e = NULL;
    if (webhook_serve(&cfg, &webhook_stop, &e) < 0) {
        log_error("slicer webhook: %s", err_msg(e));
        err_free(&e);
        return CLI_FAILURE;
    }
    return CLI_OK;
}
