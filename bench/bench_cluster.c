/* bench_cluster — slicer end to end on a live test cluster: how long a pod that
 * asks for a MIG slice waits for its gate to be removed and for Running, and
 * how many such pods per second the whole system (apiserver, webhook,
 * controller, agents, scheduler, kwok) sustains.
 *
 * It creates N pods asking `nvidia.com/mig-<profile>: 1` (through the real
 * webhook) at RATE pods/s (at most CONCURRENCY requests in flight), while a
 * watch records when each is
 * first seen without slicer's gate and first seen Running. Times run from the
 * moment the create request is handed to the client. Needs a cluster that
 * scripts/bench-cluster.sh set up (nodes, agents, webhook, controller).
 *
 * usage: bench_cluster [--quick]   with SLICER_BENCH_CLUSTER_KUBECONFIG set
 *        (skipped otherwise); SLICER_BENCH_PODS, SLICER_BENCH_PROFILE and
 *        SLICER_BENCH_RATE override the defaults (1000 pods, 100 with --quick;
 *        1g.5gb; 100 pods/s, the rate slicer is meant to sustain). */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube/kube_cache.h"
#include "kube/kube_config.h"
#include "kube/kube_req.h"

#define NS          "bench"
#define GATE        "slicer.dev/gpu-slice"
#define CONCURRENCY 64
#define TIMEOUT_S   600.0

struct pod_seen {
    long idx;
    bool slice; /* a GPUSlice of pod idx (else the pod) */
    bool gated; /* pod: slicer's gate is on */
    bool done;  /* pod: Running; GPUSlice: Ready */
};

struct run {
    long n, sent, done_create, failed, ungated, running;
    double *t_create, *t_gate, *t_run;
    double *t_slice, *t_ready; /* first seen: the pod's GPUSlice, and it Ready */
    double t_first, t_last;
    const char *profile;
    double rate; /* pods/s offered */
    struct kube_client *c;
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The bench pod's index in "bench-<i>", or -1. */
static long bench_index(const char *name)
{
    return name && strncmp(name, "bench-", 6) == 0 ? strtol(name + 6, NULL, 10) : -1;
}

static void *extract(void *arg, json_t *pod)
{
    (void)arg;
    long idx =
        bench_index(json_string_value(json_object_get(json_object_get(pod, "metadata"), "name")));
    if (idx < 0)
        return NULL;
    struct pod_seen *p = calloc(1, sizeof *p);
    p->idx = idx;
    json_t *gates = json_object_get(json_object_get(pod, "spec"), "schedulingGates"), *g;
    size_t i;
    json_array_foreach(gates, i, g) if (strcmp(json_string_value(json_object_get(g, "name")) ?: "",
                                               GATE) == 0) p->gated = true;
    const char *phase = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
    p->done = phase && strcmp(phase, "Running") == 0;
    return p;
}

/* A GPUSlice of a bench pod: its pod's index, and whether it is Ready. */
static const struct kube_gvr GPUSLICES = {"slicer.dev", "v1alpha1", "gpuslices", true};

static void *slice_extract(void *arg, json_t *gs)
{
    (void)arg;
    long idx =
        bench_index(json_string_value(json_object_get(json_object_get(gs, "spec"), "podName")));
    if (idx < 0)
        return NULL;
    struct pod_seen *p = calloc(1, sizeof *p);
    p->idx = idx;
    p->slice = true;
    const char *phase = json_string_value(json_object_get(json_object_get(gs, "status"), "phase"));
    p->done = phase && strcmp(phase, "Ready") == 0;
    return p;
}

/* First sightings, for pods (gate removed, Running) and their GPUSlices (seen, Ready). */
static void seen(void *arg, const char *key, const void *item)
{
    (void)key;
    struct run *r = arg;
    const struct pod_seen *p = item;
    if (p->idx < 0 || p->idx >= r->n)
        return;
    double t = now();
    if (p->slice) {
        if (r->t_slice[p->idx] == 0)
            r->t_slice[p->idx] = t;
        if (p->done && r->t_ready[p->idx] == 0)
            r->t_ready[p->idx] = t;
        return;
    }
    if (!p->gated && r->t_gate[p->idx] == 0) {
        r->t_gate[p->idx] = t;
        r->ungated++;
    }
    if (p->done && r->t_run[p->idx] == 0) {
        r->t_run[p->idx] = t;
        r->running++;
        r->t_last = t;
    }
}

static void seen_update(void *arg, const char *key, const void *old, const void *item)
{
    (void)old;
    seen(arg, key, item);
}

static void created(void *arg, json_t *obj, const struct err *e)
{
    struct run *r = arg;
    json_decref(obj);
    r->done_create++;
    if (e) {
        if (r->failed++ < 5)
            fprintf(stderr, "bench_cluster: create: %s\n", err_msg(e));
    }
}

static void send_one(struct run *r)
{
    long i = r->sent++;
    json_t *pod =
        json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:[{s:s, s:s, s:{s:{s+:s}}}]}}", "apiVersion",
                  "v1", "kind", "Pod", "metadata", "name", "bench", "labels", "app", "bench",
                  "spec", "containers", "name", "model", "image", "registry.invalid/model:1",
                  "resources", "limits", "nvidia.com/mig-", r->profile, "1");
    char name[32];
    snprintf(name, sizeof name, "bench-%ld", i);
    json_object_set_new(json_object_get(pod, "metadata"), "name", json_string(name));
    struct err *e = NULL;
    r->t_create[i] = now();
    if (r->t_first == 0)
        r->t_first = r->t_create[i];
    if (!kube_send(r->c, KUBE_CREATE, &(struct kube_call){.gvr = &KUBE_PODS, .ns = NS}, pod,
                   created, r, &e)) {
        fprintf(stderr, "bench_cluster: %s\n", err_msg(e));
        err_free(&e);
        r->done_create++;
        r->failed++;
    }
    json_decref(pod);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Prints p50/p99/max of (to[i] - from[i]) in ms over the pods that got there. */
static void row(const char *what, const double *from, const double *to, long n)
{
    double *d = malloc(sizeof *d * (size_t)(n ? n : 1));
    long m = 0;
    for (long i = 0; i < n; i++)
        if (to[i] > 0 && from[i] > 0)
            d[m++] = (to[i] - from[i]) * 1000.0;
    qsort(d, (size_t)m, sizeof *d, cmp_double);
    if (m == 0)
        printf("%-24s %10s %10s %10s %8s\n", what, "-", "-", "-", "0");
    else
        printf("%-24s %10.1f %10.1f %10.1f %8ld\n", what, d[m / 2],
               d[(size_t)((double)(m - 1) * 0.99)], d[m - 1], m);
    free(d);
}

static int drive(struct run *r)
{
    struct err *e = NULL;
    double t0 = now();
    while (r->running < r->n - r->failed && now() - t0 < TIMEOUT_S) {
        long due = (long)((now() - t0) * r->rate) + 1;
        while (r->sent < r->n && r->sent < due && r->sent - r->done_create < CONCURRENCY)
            send_one(r);
        if (kube_client_step(r->c, r->sent < r->n ? 5 : 100, &e) < 0) {
            fprintf(stderr, "bench_cluster: %s\n", err_msg(e));
            err_free(&e);
            return -1;
        }
    }
    return 0;
}

static void report(const struct run *r)
{
    printf("\ncluster: %ld pods asking nvidia.com/mig-%s: 1, created at %.0f pods/s (at most %d "
           "in flight)\n",
           r->n, r->profile, r->rate, CONCURRENCY);
    printf("%-24s %10s %10s %10s %8s\n", "ms from create", "p50", "p99", "max", "pods");
    row("to GPUSlice created", r->t_create, r->t_slice, r->n);
    row("to GPUSlice Ready", r->t_create, r->t_ready, r->n);
    row("to gate removed", r->t_create, r->t_gate, r->n);
    row("to Running", r->t_create, r->t_run, r->n);
    printf("%-24s %10s %10s %10s %8s\n", "ms between stages", "p50", "p99", "max", "pods");
    row("slice created -> Ready", r->t_slice, r->t_ready, r->n);
    row("slice Ready -> ungated", r->t_ready, r->t_gate, r->n);
    row("ungated -> Running", r->t_gate, r->t_run, r->n);
    double span = r->t_last - r->t_first;
    printf("sustained: %.1f pods/s Running (%ld in %.1f s); %ld creates failed, %ld not Running\n",
           span > 0 ? (double)r->running / span : 0.0, r->running, span, r->failed,
           r->n - r->running);
}

int main(int argc, char **argv)
{
    bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    const char *kc = getenv("SLICER_BENCH_CLUSTER_KUBECONFIG");
    if (!kc || !*kc) {
        printf("cluster: skipped (scripts/bench-cluster.sh sets up a cluster and runs this)\n");
        return 0;
    }
    struct run r = {.n = quick ? 100 : 1000, .profile = "1g.5gb", .rate = 100};
    if (getenv("SLICER_BENCH_RATE"))
        r.rate = strtod(getenv("SLICER_BENCH_RATE"), NULL);
    if (!(r.rate >= 1 && r.rate <= 100000))
        r.rate = 100;
    if (getenv("SLICER_BENCH_PODS"))
        r.n = strtol(getenv("SLICER_BENCH_PODS"), NULL, 10);
    if (getenv("SLICER_BENCH_PROFILE"))
        r.profile = getenv("SLICER_BENCH_PROFILE");
    if (r.n < 1 || r.n > 100000)
        r.n = 1000;
    r.t_create = calloc((size_t)r.n, sizeof(double));
    r.t_gate = calloc((size_t)r.n, sizeof(double));
    r.t_run = calloc((size_t)r.n, sizeof(double));
    r.t_slice = calloc((size_t)r.n, sizeof(double));
    r.t_ready = calloc((size_t)r.n, sizeof(double));

    struct err *e = NULL;
    struct kube_config *cfg = NULL;
    struct kube_client_opts co = {.qps = -1, .timeout_ms = 60000};
    if (kube_config_load_file(kc, NULL, &cfg, &e) < 0 || kube_client_new(cfg, &co, &r.c, &e) < 0) {
        fprintf(stderr, "bench_cluster: %s\n", err_msg(e));
        return 1;
    }
    kube_config_free(cfg);
    struct kube_cache_opts o = {
        .spec = {.gvr = &KUBE_PODS, .ns = NS, .label_selector = "app=bench"},
        .extract = extract,
        .on_add = seen,
        .on_update = seen_update,
        .arg = &r,
    };
    struct kube_cache_opts so = {
        .spec = {.gvr = &GPUSLICES, .ns = NS},
        .extract = slice_extract,
        .on_add = seen,
        .on_update = seen_update,
        .arg = &r,
    };
    struct kube_cache *cache = kube_cache_start(r.c, &o), *slices = kube_cache_start(r.c, &so);
    while (!kube_cache_synced(cache) || !kube_cache_synced(slices))
        if (kube_client_step(r.c, 100, &e) < 0) {
            fprintf(stderr, "bench_cluster: %s\n", err_msg(e));
            return 1;
        }
    int rc = drive(&r);
    report(&r);
    kube_cache_stop(cache);
    kube_cache_stop(slices);
    kube_client_free(r.c);
    free(r.t_create);
    free(r.t_gate);
    free(r.t_run);
    free(r.t_slice);
    free(r.t_ready);
    return rc < 0 || r.running < r.n ? 1 : 0;
}
