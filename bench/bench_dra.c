/* bench_dra — one churning trace of MIG requests on a live test cluster whose
 * GPUs are published as DRA ResourceSlices (driver mig.slicer.dev), placed
 * either by slicer (the webhook turns `nvidia.com/mig-<p>: 1` into a claim,
 * the controller's placement engine allocates it) or by kube-scheduler's own
 * DRA allocator (the pod references a ResourceClaimTemplate of class
 * mig.slicer.dev selecting the profile; the scheduler allocates it).
 *
 * The trace is generated from a fixed seed, so both modes get the same
 * arrivals: Poisson arrivals at RATE pods/s for SECONDS, profiles of an
 * A100-SXM4-40GB drawn with fixed weights, exponential lifetimes (the small
 * profiles live 4x longer: the fragmenting case). A pod that is Running is
 * deleted when its lifetime (counted from Running) ends; a pod that is not
 * Running PATIENCE seconds after its create is deleted and counted as refused.
 * Once per second the allocated claims of the namespace give each GPU's used
 * memory slices, from which the free memory that cannot hold a 7g.40gb (or a
 * 3g.20gb) is counted (docs/benchmarks.md, "DRA side by side").
 *
 * usage: bench_dra --mode slicer|scheduler [--quick]
 *        with SLICER_BENCH_CLUSTER_KUBECONFIG set (skipped otherwise) and
 *        SLICER_BENCH_DRA_NODES / SLICER_BENCH_DRA_GPUS the cluster's nodes
 *        (named dra-0 ...) and A100-SXM4-40GB per node.
 *        SLICER_BENCH_DRA_RATE (6), SLICER_BENCH_DRA_SECONDS (40, 15 with
 *        --quick), SLICER_BENCH_DRA_LOAD (offered memory / fleet memory, 1.2)
 *        and SLICER_BENCH_DRA_PATIENCE (5 s) override the defaults.
 * Prints a block for humans and one tab-separated line starting "ROW". */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube/kube_cache.h"
#include "kube/kube_config.h"
#include "kube/kube_req.h"

#define NS          "bench-dra"
#define CONCURRENCY 64
#define SEED        0x5eed12u
#define SLICES      8 /* memory slices of an A100-SXM4-40GB */
#define WARMUP_S    10.0
#define MAX_GPUS    4096

/* The mix: profile, its DNS label, memory slices, weight, lifetime factor. */
static const struct prof {
    const char *name, *label;
    int size;
    double weight, life;
} MIX[] = {
    {"1g.5gb", "1g-5gb", 1, 0.35, 4},   {"1g.10gb", "1g-10gb", 2, 0.10, 4},
    {"2g.10gb", "2g-10gb", 2, 0.15, 4}, {"3g.20gb", "3g-20gb", 4, 0.15, 1},
    {"4g.20gb", "4g-20gb", 4, 0.10, 1}, {"7g.40gb", "7g-40gb", 8, 0.15, 1},
};
#define NPROF (sizeof MIX / sizeof MIX[0])

enum state { UNSENT, WAITING, RUNNING, REFUSED, ENDED };

struct pod {
    double t_at; /* offset of its arrival in the trace */
    double life; /* seconds Running before it is deleted */
    int prof;    /* index in MIX */
    enum state st;
    double t_create, t_run, t_del;    /* monotonic; t_del: when to delete */
    double t_claim, t_alloc, t_bound; /* first seen: its claim, the claim allocated, nodeName */
};

struct sample {
    double t;
    int used, empty, halves, stranded7, stranded3;
};

struct run {
    bool slicer;
    long n, sent, inflight, failed;
    struct pod *pods;
    double t0, rate, seconds, patience, load;
    int nodes, gpus;
    uint8_t *occ; /* per GPU: bit s = memory slice s is allocated */
    struct sample *samples;
    long nsamples;
    struct kube_client *c;
    struct kube_cache *claims;
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rng_state = SEED;
static double rnd(void) /* splitmix64, uniform in (0, 1) */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

/* ln(u) for u > 0, without libm (the bench binaries link none): u = m 2^e with
 * m in [0.5, 1), ln m = 2 atanh((m - 1) / (m + 1)) by its series. */
static double ln(double u)
{
    uint64_t b;
    memcpy(&b, &u, sizeof b);
    int e = (int)((b >> 52) & 0x7ff) - 1022;
    b = (b & ~(0x7ffull << 52)) | (1022ull << 52);
    double m;
    memcpy(&m, &b, sizeof m);
    double z = (m - 1) / (m + 1), z2 = z * z, term = z, sum = 0;
    for (int k = 1; k < 60; k += 2, term *= z2)
        sum += term / k;
    return e * 0.69314718055994530942 + 2 * sum;
}

/* The trace: arrivals until r->seconds, lifetimes scaled so that the offered
 * memory (rate x mean slices x mean lifetime) is r->load x the fleet's. */
static void trace(struct run *r)
{
    double mem_life = 0; /* sum of weight x size x life factor */
    for (size_t i = 0; i < NPROF; i++)
        mem_life += MIX[i].weight * MIX[i].size * MIX[i].life;
    double base = r->load * r->nodes * r->gpus * SLICES / (r->rate * mem_life);
    long cap = (long)(r->rate * r->seconds * 2) + 16;
    r->pods = calloc((size_t)cap, sizeof *r->pods);
    double t = 0;
    for (r->n = 0; r->n < cap; r->n++) {
        t += -ln(rnd()) / r->rate;
        if (t >= r->seconds)
            break;
        double u = rnd(), acc = 0;
        int p = (int)NPROF - 1;
        for (size_t i = 0; i < NPROF; i++)
            if (u < (acc += MIX[i].weight)) {
                p = (int)i;
                break;
            }
        r->pods[r->n] = (struct pod){.t_at = t, .prof = p, .life = -ln(rnd()) * base * MIX[p].life};
    }
}

static long pod_index(const char *name)
{
    return name && strncmp(name, "dra-", 4) == 0 ? strtol(name + 4, NULL, 10) : -1;
}

struct seen {
    long idx;
    bool running, bound;
};

static void *pod_extract(void *arg, json_t *pod)
{
    (void)arg;
    long idx =
        pod_index(json_string_value(json_object_get(json_object_get(pod, "metadata"), "name")));
    if (idx < 0)
        return NULL;
    struct seen *s = calloc(1, sizeof *s);
    s->idx = idx;
    const char *phase = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
    s->running = phase && strcmp(phase, "Running") == 0;
    s->bound = json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName")) != NULL;
    return s;
}

static void pod_seen(void *arg, const char *key, const void *item)
{
    (void)key;
    struct run *r = arg;
    const struct seen *s = item;
    if (s->idx < 0 || s->idx >= r->n)
        return;
    struct pod *p = &r->pods[s->idx];
    if (s->bound && p->t_bound == 0)
        p->t_bound = now();
    if (!s->running)
        return;
    if (p->st != WAITING)
        return; /* already counted, or given up on */
    p->st = RUNNING;
    p->t_run = now();
    p->t_del = p->t_run + p->life;
}

static void pod_update(void *arg, const char *key, const void *old, const void *item)
{
    (void)old;
    pod_seen(arg, key, item);
}

/* A claim of a bench pod (its owner), and when allocated by our driver, the GPU
 * (index into occ) and memory slices it holds. */
struct held {
    long idx;
    bool alloc;
    int gpu, start, size;
};

/* "gpu<G>-<n>g-<m>gb-at<S>" of pool "dra-<N>": the GPU and slices it takes (A100-40GB: 5 GB a
 * slice). */
static bool parse_device(const struct run *r, const char *pool, const char *dev, struct held *h)
{
    char *end;
    if (!pool || !dev || strncmp(pool, "dra-", 4) != 0 || strncmp(dev, "gpu", 3) != 0)
        return false;
    long node = strtol(pool + 4, &end, 10), gpu = strtol(dev + 3, &end, 10);
    const char *gb = strchr(end, 'g') ? strstr(end, "g-") : NULL, *at = strstr(dev, "-at");
    if (!gb || !at || node < 0 || node >= r->nodes || gpu < 0 || gpu >= r->gpus)
        return false;
    long mem = strtol(gb + 2, NULL, 10), start = strtol(at + 3, NULL, 10);
    if (mem < 5 || start < 0 || start >= SLICES)
        return false;
    h->gpu = (int)(node * r->gpus + gpu);
    h->start = (int)start;
    h->size = (int)(mem / 5);
    return true;
}

static void *claim_extract(void *arg, json_t *claim)
{
    json_t *res = json_object_get(
        json_object_get(json_object_get(json_object_get(claim, "status"), "allocation"), "devices"),
        "results");
    json_t *d = json_array_get(res, 0);
    json_t *owner =
        json_array_get(json_object_get(json_object_get(claim, "metadata"), "ownerReferences"), 0);
    struct held h = {.idx = pod_index(json_string_value(json_object_get(owner, "name")))};
    h.alloc =
        d && strcmp(json_string_value(json_object_get(d, "driver")) ?: "", "mig.slicer.dev") == 0 &&
        parse_device(arg, json_string_value(json_object_get(d, "pool")),
                     json_string_value(json_object_get(d, "device")), &h);
    if (h.idx < 0 && !h.alloc)
        return NULL;
    struct held *out = malloc(sizeof *out);
    *out = h;
    return out;
}

static void occupy(void *arg, const char *key, const void *item)
{
    (void)key;
    struct run *r = arg;
    const struct held *h = item;
    if (!h->alloc)
        return;
    for (int s = h->start; s < h->start + h->size && s < SLICES; s++)
        r->occ[h->gpu] |= (uint8_t)(1u << s);
}

/* The fleet as the allocated claims leave it. stranded7: 7g.40gb that the free
 * memory would hold if gathered on whole GPUs, less the empty GPUs (those that
 * can take one); stranded3 the same for the aligned halves a 3g.20gb takes. */
static void sample(struct run *r, double t)
{
    int ngpu = r->nodes * r->gpus;
    memset(r->occ, 0, (size_t)ngpu);
    kube_cache_foreach(r->claims, occupy, r);
    struct sample s = {.t = t};
    for (int g = 0; g < ngpu; g++) {
        s.used += __builtin_popcount(r->occ[g]);
        s.empty += r->occ[g] == 0;
        s.halves += (r->occ[g] & 0x0f) == 0;
        s.halves += (r->occ[g] & 0xf0) == 0;
    }
    int free_ = ngpu * SLICES - s.used;
    s.stranded7 = free_ / 8 - s.empty;
    s.stranded3 = free_ / 4 - s.halves;
    r->samples[r->nsamples++] = s;
}

static void claim_seen(void *arg, const char *key, const void *item)
{
    (void)key;
    struct run *r = arg;
    const struct held *h = item;
    if (h->idx < 0 || h->idx >= r->n)
        return;
    struct pod *p = &r->pods[h->idx];
    double t = now();
    if (p->t_claim == 0)
        p->t_claim = t;
    if (h->alloc && p->t_alloc == 0)
        p->t_alloc = t;
}

static void claim_update(void *arg, const char *key, const void *old, const void *item)
{
    (void)old;
    claim_seen(arg, key, item);
}

static void sent_done(void *arg, json_t *obj, const struct err *e)
{
    struct run *r = arg;
    json_decref(obj);
    r->inflight--;
    if (e && r->failed++ < 5)
        fprintf(stderr, "bench_dra: %s\n", err_msg(e));
}

static json_t *pod_json(const struct run *r, long i)
{
    const struct prof *p = &MIX[r->pods[i].prof];
    char name[32];
    snprintf(name, sizeof name, "dra-%ld", i);
    json_t *c = json_pack("{s:s, s:s}", "name", "model", "image", "registry.invalid/model:1");
    json_t *spec = json_pack("{s:[o]}", "containers", c);
    if (r->slicer) {
        json_object_set_new(c, "resources",
                            json_pack("{s:{s+:s}}", "limits", "nvidia.com/mig-", p->name, "1"));
    } else {
        char tmpl[64];
        snprintf(tmpl, sizeof tmpl, "bench-%s", p->label);
        json_object_set_new(c, "resources", json_pack("{s:[{s:s}]}", "claims", "name", "mig"));
        json_object_set_new(
            spec, "resourceClaims",
            json_pack("[{s:s, s:s}]", "name", "mig", "resourceClaimTemplateName", tmpl));
    }
    return json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s}}, s:o}", "apiVersion", "v1", "kind", "Pod",
                     "metadata", "name", name, "labels", "app", "bench-dra", "profile", p->label,
                     "spec", spec);
}

static void send(struct run *r, enum kube_verb verb, long i)
{
    char name[32];
    snprintf(name, sizeof name, "dra-%ld", i);
    json_t *body = verb == KUBE_CREATE ? pod_json(r, i) : NULL;
    struct kube_call call = {
        .gvr = &KUBE_PODS, .ns = NS, .name = verb == KUBE_CREATE ? NULL : name};
    struct err *e = NULL;
    if (kube_send(r->c, verb, &call, body, sent_done, r, &e)) {
        r->inflight++;
    } else {
        fprintf(stderr, "bench_dra: %s\n", err_msg(e));
        err_free(&e);
        r->failed++;
    }
    json_decref(body);
}

/* One pass: create what is due, delete what has lived or waited long enough. */
static void tick(struct run *r, double t)
{
    while (r->sent < r->n && r->pods[r->sent].t_at <= t - r->t0 && r->inflight < CONCURRENCY) {
        struct pod *p = &r->pods[r->sent];
        p->st = WAITING;
        p->t_create = now();
        send(r, KUBE_CREATE, r->sent++);
    }
    for (long i = 0; i < r->sent && r->inflight < CONCURRENCY; i++) {
        struct pod *p = &r->pods[i];
        if (p->st == WAITING && t - p->t_create >= r->patience) {
            p->st = REFUSED;
            send(r, KUBE_DELETE, i);
        } else if (p->st == RUNNING && t >= p->t_del) {
            p->st = ENDED;
            send(r, KUBE_DELETE, i);
        }
    }
}

static int drive(struct run *r)
{
    struct err *e = NULL;
    double next_sample = 0;
    r->t0 = now();
    for (;;) {
        double t = now();
        tick(r, t);
        if (t - r->t0 >= next_sample && next_sample <= r->seconds) {
            sample(r, next_sample);
            next_sample += 1;
        }
        bool waiting = r->sent < r->n;
        for (long i = 0; i < r->n && !waiting; i++)
            waiting = r->pods[i].st == WAITING;
        if (!waiting && next_sample > r->seconds)
            return 0;
        if (kube_client_step(r->c, 5, &e) < 0) {
            fprintf(stderr, "bench_dra: %s\n", err_msg(e));
            err_free(&e);
            return -1;
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* p50 of (to - from) in ms over the admitted pods that have both. */
static double stage(const struct run *r, size_t from, size_t to)
{
    double *d = calloc((size_t)r->n + 1, sizeof *d);
    long m = 0;
    for (long i = 0; i < r->n; i++) {
        const char *p = (const char *)&r->pods[i];
        double a, b;
        memcpy(&a, p + from, sizeof a);
        memcpy(&b, p + to, sizeof b);
        if (r->pods[i].t_run > 0 && a > 0 && b > 0)
            d[m++] = (b - a) * 1000.0;
    }
    qsort(d, (size_t)m, sizeof *d, cmp_double);
    double v = m ? d[m / 2] : 0;
    free(d);
    return v;
}

static void report(const struct run *r)
{
    long adm[NPROF] = {0}, off[NPROF] = {0}, m = 0, admitted = 0, mem = 0, mem_off = 0;
    double *lat = calloc((size_t)r->n + 1, sizeof *lat);
    for (long i = 0; i < r->n; i++) {
        const struct pod *p = &r->pods[i];
        int size = MIX[p->prof].size;
        off[p->prof]++;
        mem_off += size;
        if (p->t_run > 0) {
            adm[p->prof]++;
            admitted++;
            mem += size;
            lat[m++] = (p->t_run - p->t_create) * 1000.0;
        }
    }
    qsort(lat, (size_t)m, sizeof *lat, cmp_double);
    double p50 = m ? lat[m / 2] : 0, p99 = m ? lat[(size_t)((double)(m - 1) * 0.99)] : 0;
    double su = 0, s7 = 0, s3 = 0, se = 0;
    long ns = 0;
    for (long i = 0; i < r->nsamples; i++)
        if (r->samples[i].t >= WARMUP_S) {
            su += r->samples[i].used;
            s7 += r->samples[i].stranded7;
            s3 += r->samples[i].stranded3;
            se += r->samples[i].empty;
            ns++;
        }
    const struct sample *end = r->nsamples ? &r->samples[r->nsamples - 1] : &(struct sample){0};
    int ngpu = r->nodes * r->gpus;
    printf("\ndra %s: %ld pods offered over %.0f s (%.0f/s, load %.2f), patience %.0f s, %d x %d "
           "A100-SXM4-40GB\n",
           r->slicer ? "slicer" : "scheduler", r->n, r->seconds, r->rate, r->load, r->patience,
           r->nodes, r->gpus);
    printf("  admitted by profile:");
    for (size_t i = 0; i < NPROF; i++)
        printf(" %s %ld/%ld", MIX[i].name, adm[i], off[i]);
    printf("\n  end of arrivals: %d of %d memory slices allocated, %d GPUs empty, %d free halves\n",
           end->used, ngpu * SLICES, end->empty, end->halves);
    if (ns)
        printf("  mean after %.0f s (%ld samples): %.1f slices allocated, %.1f GPUs empty, "
               "stranded 7g %.2f, stranded 3g %.2f\n",
               WARMUP_S, ns, su / ns, se / ns, s7 / ns, s3 / ns);
    printf("  create -> Running: p50 %.0f ms, p99 %.0f ms, max %.0f ms over %ld pods; %ld requests "
           "failed\n",
           p50, p99, m ? lat[m - 1] : 0, m, r->failed);
    printf(
        "  stages, p50 ms: create -> claim %.0f, claim -> allocated %.0f, allocated -> bound %.0f, "
        "bound -> Running %.0f\n",
        stage(r, offsetof(struct pod, t_create), offsetof(struct pod, t_claim)),
        stage(r, offsetof(struct pod, t_claim), offsetof(struct pod, t_alloc)),
        stage(r, offsetof(struct pod, t_alloc), offsetof(struct pod, t_bound)),
        stage(r, offsetof(struct pod, t_bound), offsetof(struct pod, t_run)));
    long large = adm[3] + adm[4] + adm[5], large_off = off[3] + off[4] + off[5];
    printf("ROW\t%s\t%ld\t%ld\t%.1f\t%ld\t%.1f\t%.1f\t%d\t%d\t%.2f\t%.2f\t%.0f\t%.0f\n",
           r->slicer ? "slicer" : "kube-scheduler", r->n, admitted,
           r->n ? 100.0 * (double)admitted / (double)r->n : 0, mem,
           mem_off ? 100.0 * (double)mem / (double)mem_off : 0,
           large_off ? 100.0 * (double)large / (double)large_off : 0, end->stranded7,
           end->stranded3, ns ? s7 / ns : 0, ns ? s3 / ns : 0, p50, p99);
    free(lat);
}

static double env_num(const char *name, double def, double lo, double hi)
{
    const char *v = getenv(name);
    double x = v && *v ? strtod(v, NULL) : def;
    return x >= lo && x <= hi ? x : def;
}

int main(int argc, char **argv)
{
    struct run r = {0};
    bool quick = false, mode = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = true;
        else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
            mode = true;
            r.slicer = strcmp(argv[++i], "slicer") == 0;
        }
    }
    const char *kc = getenv("SLICER_BENCH_CLUSTER_KUBECONFIG");
    if (!kc || !*kc || !mode) {
        printf("dra: skipped (scripts/bench-dra.sh sets up a cluster and runs this)\n");
        return 0;
    }
    r.nodes = (int)env_num("SLICER_BENCH_DRA_NODES", 4, 1, 512);
    r.gpus = (int)env_num("SLICER_BENCH_DRA_GPUS", 4, 1, 8);
    if (r.nodes * r.gpus > MAX_GPUS)
        r.nodes = MAX_GPUS / r.gpus;
    r.rate = env_num("SLICER_BENCH_DRA_RATE", 6, 0.1, 1000);
    r.seconds = env_num("SLICER_BENCH_DRA_SECONDS", quick ? 15 : 40, 1, 3600);
    r.load = env_num("SLICER_BENCH_DRA_LOAD", 1.2, 0.01, 100);
    r.patience = env_num("SLICER_BENCH_DRA_PATIENCE", 5, 0.1, 600);
    trace(&r);
    r.occ = calloc((size_t)(r.nodes * r.gpus), 1);
    r.samples = calloc((size_t)r.seconds + 2, sizeof *r.samples);

    struct err *e = NULL;
    struct kube_config *cfg = NULL;
    struct kube_client_opts co = {.qps = -1, .timeout_ms = 60000};
    if (kube_config_load_file(kc, NULL, &cfg, &e) < 0 || kube_client_new(cfg, &co, &r.c, &e) < 0) {
        fprintf(stderr, "bench_dra: %s\n", err_msg(e));
        return 1;
    }
    kube_config_free(cfg);
    static const struct kube_gvr claims = {"resource.k8s.io", "v1", "resourceclaims", true};
    struct kube_cache_opts po = {
        .spec = {.gvr = &KUBE_PODS, .ns = NS, .label_selector = "app=bench-dra"},
        .extract = pod_extract,
        .on_add = pod_seen,
        .on_update = pod_update,
        .arg = &r,
    };
    struct kube_cache_opts co2 = {
        .spec = {.gvr = &claims, .ns = NS},
        .extract = claim_extract,
        .on_add = claim_seen,
        .on_update = claim_update,
        .arg = &r,
    };
    struct kube_cache *pods = kube_cache_start(r.c, &po);
    r.claims = kube_cache_start(r.c, &co2);
    while (!kube_cache_synced(pods) || !kube_cache_synced(r.claims))
        if (kube_client_step(r.c, 100, &e) < 0) {
            fprintf(stderr, "bench_dra: %s\n", err_msg(e));
            return 1;
        }
    int rc = drive(&r);
    report(&r);
    kube_cache_stop(pods);
    kube_cache_stop(r.claims);
    kube_client_free(r.c);
    free(r.pods);
    free(r.occ);
    free(r.samples);
    return rc < 0 ? 1 : 0;
}
