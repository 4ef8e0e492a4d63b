/* `slicer webhook`: the mutating admission webhook's HTTPS server, and the
 * GPUNode watch (on a thread of its own) that tells it what the cluster offers;
 * under --handoff dra the same thread watches the users' ResourceClaims and
 * ResourceClaimTemplates of class mig.slicer.dev, whose pods it gates too. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "cli/cli.h"
#include "cli/handoff.h"
#include "controller/offer.h"
#include "kube/kube_cache.h"
#include "kube/kube_config.h"
#include "webhook/claims.h"
#include "webhook/offer.h"
#include "webhook/server.h"

static const char webhook_usage[] =
    "usage: slicer webhook --tls-cert FILE --tls-key FILE [--address ADDR] [--port PORT]\n"
    "                      [--kubeconfig FILE | --no-cluster-offer] [--handoff auto|env|dra]\n"
    "\n"
    "Serves the mutating admission webhook for pods over HTTPS (TLS 1.2 and 1.3). A pod\n"
    "whose containers limit nvidia.com/mig-<profile>: N gets the scheduling gate\n"
    "slicer.dev/gpu-slice and the label slicer.dev/managed=true, and is rewritten as\n"
    "--handoff says: 'env' asks for mig.slicer.dev/<profile> instead and adds\n"
    "NVIDIA_VISIBLE_DEVICES (from the annotation slicer.dev/devices-<i> the controller\n"
    "fills) and CUDA_VISIBLE_DEVICES; 'dra' removes the nvidia.com/mig-<profile> ask and\n"
    "gives the container a ResourceClaim slicer-c<i>-<profile> (slicer-i<i>-... for init\n"
    "containers) from the ResourceClaimTemplate slicer-mig-<profile>-x<N>. Unknown\n"
    "profiles, bad counts, requests that differ from limits and direct mig.slicer.dev\n"
    "asks are refused with a message naming the container (docs/internals/webhook.md).\n"
    "\n"
    "The profiles it accepts are those the cluster's GPUs offer: it watches the GPUNodes\n"
    "the agents publish (through --kubeconfig, else $KUBECONFIG, else the in-cluster\n"
    "ServiceAccount) and refuses a profile no GPU offers, listing those that are. Until a\n"
    "GPUNode offers any, or without a Kubernetes configuration, every profile of the\n"
    "catalog is accepted.\n"
    "\n"
    "Under --handoff dra it also watches the ResourceClaims and ResourceClaimTemplates\n"
    "that ask for the DeviceClass mig.slicer.dev, and gives a pod that names one of them\n"
    "in spec.resourceClaims the same gate and label (nothing else), so that slicer's\n"
    "placement allocates those claims rather than kube-scheduler.\n"
    "\n"
    "options:\n"
    "  --tls-cert FILE   PEM certificate chain; read again when it changes (rotation\n"
    "                    without restart; a broken new pair is logged, the old one kept)\n"
    "  --tls-key FILE    PEM private key of that certificate\n"
    "  --address ADDR    IPv4 or IPv6 address to listen on (default 0.0.0.0)\n"
    "  --port PORT       TCP port (default 8443; 0 picks a free one, logged)\n"
    "  --kubeconfig FILE the API server to watch GPUNodes on (default: $KUBECONFIG,\n"
    "                    else in-cluster; none found: accept the whole catalog)\n"
    "  --no-cluster-offer do not watch GPUNodes: accept every profile of the catalog\n"
    "  --handoff MODE    how a pod gets its slices: auto (default: dra when the\n"
    "                    DeviceClass mig.slicer.dev is installed, else env; env without\n"
    "                    a Kubernetes configuration or with --no-cluster-offer), or:\n"
    "                    dra: the pod gets a ResourceClaim per (container, profile) from\n"
    "                    slicer's per-profile ResourceClaimTemplate; the kubelet hands the\n"
    "                    device over through DRA and CDI (Kubernetes 1.34+, with the\n"
    "                    controller's and agents' --handoff dra);\n"
    "                    env: legacy, NVIDIA_VISIBLE_DEVICES from an annotation, trusts the\n"
    "                    node's runtime\n"
    "  -h, --help        this text\n"
    "\n"
    "endpoints: POST /mutate-pods (AdmissionReview admission.k8s.io/v1), GET /healthz,\n"
    "GET /readyz, GET /metrics (Prometheus text).\n"
    "Stops on SIGINT or SIGTERM.\n"
    "exit codes: 0 stopped cleanly, 2 usage error, 3 failure (certificate, address,\n"
    "an unreadable --kubeconfig)\n";

struct webhook_cmd {
    struct webhook_config cfg;
    const char *kubeconfig;
    bool no_offer;
    enum cli_handoff handoff;
};

static volatile sig_atomic_t webhook_stop;

static void on_stop(int sig)
{
    (void)sig;
    webhook_stop = 1;
}

static int webhook_options(int argc, char **argv, struct webhook_cmd *w)
{
    static const struct option opts[] = {{"tls-cert", required_argument, NULL, 'c'},
                                         {"tls-key", required_argument, NULL, 'k'},
                                         {"address", required_argument, NULL, 'a'},
                                         {"port", required_argument, NULL, 'p'},
                                         {"kubeconfig", required_argument, NULL, 'K'},
                                         {"no-cluster-offer", no_argument, NULL, 'N'},
                                         {"handoff", required_argument, NULL, 'H'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    struct webhook_config *cfg = &w->cfg;
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
        } else if (c == 'K') {
            w->kubeconfig = optarg;
        } else if (c == 'N') {
            w->no_offer = true;
        } else if (c == 'H') {
            if (!cli_handoff_parse(optarg, &w->handoff)) {
                fprintf(stderr, "slicer webhook: --handoff is 'auto', 'env' or 'dra', not '%s'\n",
                        optarg);
                return CLI_USAGE;
            }
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
    if (w->kubeconfig && w->no_offer) {
        fprintf(stderr, "slicer webhook: --kubeconfig and --no-cluster-offer exclude each other\n");
        return CLI_USAGE;
    }
    if (cfg->cert_file == NULL || cfg->key_file == NULL) {
        fprintf(stderr, "slicer webhook: --tls-cert and --tls-key are required (the apiserver "
                        "calls webhooks over HTTPS only)\n");
        return CLI_USAGE;
    }
    return -1;
}

/* ---- the GPUNode watch, and the users' claims under --handoff dra ------------------------ */

static const struct kube_gvr WH_RESOURCECLAIMS = {"resource.k8s.io", "v1", "resourceclaims", true};
static const struct kube_gvr WH_TEMPLATES = {"resource.k8s.io", "v1", "resourceclaimtemplates",
                                             true};

/* One cache of claims or templates feeding the set: it keeps only those of
 * class mig.slicer.dev, each as a marker item (the set holds the names). */
struct claims_watch {
    struct webhook_claims *set;
    enum mutate_claim_kind kind;
    const char *what; /* for logs */
    struct kube_cache *cache;
};

struct offer_thread {
    struct kube_client *client;
    struct webhook_offer *offer;
    struct webhook_claims *claims; /* NULL unless --handoff dra */
    struct mutate_claims lookup;   /* over `claims`, for the server */
    struct claims_watch watches[2];
    pthread_t thread;
};

static void offer_changed(void *arg, const char *const *names, size_t n)
{
    struct offer_thread *t = arg;
    webhook_offer_set(t->offer, names, n, n > 0);
    if (n == 0) {
        log_info("webhook: no GPUNode offers a MIG profile yet: accepting the whole catalog");
        return;
    }
    char list[1024] = "";
    size_t len = 0;
    for (size_t i = 0; i < n && len < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", names[i]);
    log_info("webhook: the cluster offers %zu MIG profile(s): %s", n, list);
}

static char claim_marker; /* the item of every cached claim of ours */

static void *claim_extract(void *arg, json_t *obj)
{
    struct claims_watch *cw = arg;
    return webhook_claims_ours(obj, cw->kind) ? &claim_marker : NULL;
}

static void claim_free(void *item)
{
    (void)item;
}

static void claim_added(void *arg, const char *key, const void *item)
{
    (void)item;
    struct claims_watch *cw = arg;
    webhook_claims_add(cw->set, cw->kind, key);
    log_debug("webhook: %s %s asks for mig.slicer.dev: its pods are gated", cw->what, key);
}

static void claim_deleted(void *arg, const char *key, const void *item)
{
    (void)item;
    struct claims_watch *cw = arg;
    webhook_claims_remove(cw->set, cw->kind, key);
    log_debug("webhook: %s %s is gone", cw->what, key);
}

static void claims_synced(void *arg)
{
    struct claims_watch *cw = arg;
    log_info("webhook: watching %ss: %zu of class mig.slicer.dev", cw->what,
             webhook_claims_len(cw->set, cw->kind));
}

static void claims_problem(void *arg, const struct err *e)
{
    struct claims_watch *cw = arg;
    log_warn("webhook: %s watch: %s (retrying)", cw->what, err_msg(e));
}

static void claims_start(struct offer_thread *t)
{
    static const char *const what[2] = {"ResourceClaim", "ResourceClaimTemplate"};
    for (size_t i = 0; i < 2; i++) {
        struct claims_watch *cw = &t->watches[i];
        *cw = (struct claims_watch){
            .set = t->claims, .kind = i == 0 ? MUTATE_CLAIM : MUTATE_TEMPLATE, .what = what[i]};
        struct kube_cache_opts o = {
            .spec = {.gvr = i == 0 ? &WH_RESOURCECLAIMS : &WH_TEMPLATES},
            .extract = claim_extract,
            .free_item = claim_free,
            .on_add = claim_added,
            .on_delete = claim_deleted,
            .on_synced = claims_synced,
            .on_problem = claims_problem,
            .arg = cw,
        };
        cw->cache = kube_cache_start(t->client, &o);
    }
}

static void *offer_loop(void *arg)
{
    struct offer_thread *t = arg;
    struct ctl_offer_watch *w = ctl_offer_watch_start(t->client, offer_changed, t);
    if (t->claims != NULL)
        claims_start(t);
    struct err *e = NULL;
    while (!webhook_stop) {
        if (kube_client_step(t->client, 250, &e) < 0) {
            log_error("webhook: GPUNode watch: %s", err_msg(e));
            err_free(&e);
            break;
        }
    }
    for (size_t i = 0; i < 2; i++)
        if (t->watches[i].cache != NULL)
            kube_cache_stop(t->watches[i].cache);
    ctl_offer_watch_stop(w);
    return NULL;
}

/* Starts the watch when a Kubernetes configuration is found. Returns 0 (t->client
 * NULL when there is none and none was asked for), or -1 when --kubeconfig
 * cannot be used. */
static int offer_start(struct webhook_cmd *w, struct offer_thread *t)
{
    struct kube_config *kc = NULL;
    struct err *e = NULL;
    if (kube_config_load(w->kubeconfig, NULL, &kc, &e) < 0) {
        if (w->kubeconfig) {
            log_error("slicer webhook: --kubeconfig %s: %s", w->kubeconfig, err_msg(e));
            err_free(&e);
            return -1;
        }
        log_info("webhook: no Kubernetes configuration (%s): accepting the whole catalog%s",
                 err_msg(e), w->handoff == CLI_HANDOFF_AUTO ? ", --handoff env" : "");
        err_free(&e);
        return 0;
    }
    bool dra = false;
    if (cli_handoff_resolve(w->handoff, w->kubeconfig, "webhook", &dra, &e) < 0) {
        kube_config_free(kc);
        log_error("slicer webhook: %s", err_msg(e));
        err_free(&e);
        return -1;
    }
    w->cfg.handoff = dra ? MUTATE_DRA : MUTATE_ENV;
    struct kube_client_opts co = {.user_agent = "slicer-webhook"};
    int rc = kube_client_new(kc, &co, &t->client, &e);
    kube_config_free(kc);
    if (rc < 0) {
        log_error("slicer webhook: %s", err_msg(e));
        err_free(&e);
        return -1;
    }
    t->offer = webhook_offer_new();
    if (dra) {
        t->claims = webhook_claims_new();
        t->lookup = (struct mutate_claims){.known = webhook_claims_known, .arg = t->claims};
        w->cfg.claims = &t->lookup;
    }
    pthread_create(&t->thread, NULL, offer_loop, t);
    return 0;
}

static void offer_stop(struct offer_thread *t)
{
    if (t->client == NULL)
        return;
    pthread_join(t->thread, NULL);
    kube_client_free(t->client);
    webhook_offer_free(t->offer);
    webhook_claims_free(t->claims);
}

int cmd_webhook(int argc, char **argv)
{
    struct webhook_cmd w = {.cfg = {.port = 8443}};
    int rc = webhook_options(argc, argv, &w);
    if (rc >= 0)
        return rc;
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct offer_thread t = {0};
    if (w.handoff != CLI_HANDOFF_AUTO)
        w.cfg.handoff = w.handoff == CLI_HANDOFF_DRA ? MUTATE_DRA : MUTATE_ENV;
    if (!w.no_offer && offer_start(&w, &t) < 0)
        return CLI_FAILURE;
    w.cfg.live_offer = t.offer;
    struct err *e = NULL;
    rc = webhook_serve(&w.cfg, &webhook_stop, &e);
    webhook_stop = 1;
    offer_stop(&t);
    if (rc < 0) {
        log_error("slicer webhook: %s", err_msg(e));
        err_free(&e);
        return CLI_FAILURE;
    }
    return CLI_OK;
}
