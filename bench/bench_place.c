/* bench_place — the placement engine's speed and packing quality
 * (docs/benchmarks.md).
 *
 *   1. single-GPU decisions per second (place_choose, place_one+place_release)
 *      over a few thousand random occupancy states, on an A100-SXM4-40GB and
 *      on the 12-slice RTX PRO 6000;
 *   2. place_batch latency over 10,000 partly occupied A100/H100 GPUs, for
 *      one request and for a batch of 64 mixed requests;
 *   3. packing quality on arrival/departure traces over 1,000 GPUs (500
 *      A100-SXM4-40GB, 500 H100 80GB HBM3), best-fit against first-fit;
 *   4. best-fit and first-fit against the exact optimum on small instances:
 *      static batches (exhaustive) and short online traces (clairvoyant
 *      offline optimum, exhaustive).
 *
 * Every decision of the engine is checked against place_check on a copy of
 * the GPU it changed; violations are counted and reported. Fixed seeds: the
 * quality numbers are reproducible.
 * usage: bench_place [--quick] [--only N]   (--only: section N alone) */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/xalloc.h"
#include "core/catalog.h"
#include "core/place.h"

static bool quick;
static long only;                /* --only N: run section N alone (0: all) */
static unsigned long violations; /* engine decisions that place_check refuses */
static volatile unsigned sink;   /* keeps the timed loops' results alive */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ---- summary table ------------------------------------------------------------ */

struct row {
    char metric[72];
    char value[24];
    char target[16];
};

static struct row rows[32];
static size_t nrows;

static void add_row(const char *metric, const char *value, const char *target)
{
    if (nrows == sizeof rows / sizeof rows[0])
        return;
    struct row *r = &rows[nrows++];
    snprintf(r->metric, sizeof r->metric, "%s", metric);
    snprintf(r->value, sizeof r->value, "%s", value);
    snprintf(r->target, sizeof r->target, "%s", target);
}

static void print_summary(void)
{
    printf("\nSummary\n");
    printf("%-66s | %-17s | %s\n", "metric", "value", "target");
    char dashes[65];
    memset(dashes, '-', sizeof dashes - 1);
    dashes[64] = 0;
    printf("%s--+-%.17s-+-%.8s\n", dashes, dashes, dashes);
    for (size_t i = 0; i < nrows; i++)
        printf("%-66s | %-17s | %s\n", rows[i].metric, rows[i].value, rows[i].target);
}

/* ---- random numbers (splitmix64) ---------------------------------------------- */

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static unsigned rng_below(struct rng *r, unsigned n)
{
    return (unsigned)(((rng_next(r) >> 32) * n) >> 32);
}

/* Uniform in (0, 1]. */
static double rng_unit(struct rng *r)
{
    return (double)((rng_next(r) >> 11) + 1) * 0x1p-53;
}

/* Natural logarithm of x in (0, 1] without libm: x = m * 2^e with m in
 * [1, 2), ln m = 2 atanh((m-1)/(m+1)), a fast series since |z| <= 1/3. */
static double ln01(double x)
{
    int e = 0;
    while (x < 1.0) {
        x *= 2.0;
        e--;
    }
    double z = (x - 1.0) / (x + 1.0), z2 = z * z, term = z, sum = 0;
    for (int k = 1; k < 40; k += 2) {
        sum += term / k;
        term *= z2;
    }
    return 2.0 * sum + e * 0.69314718055994530942;
}

/* Exponentially distributed with the given mean. */
static double rng_exp(struct rng *r, double mean)
{
    return -mean * ln01(rng_unit(r));
}

/* Index into weights[n] drawn proportionally to the weights. */
static unsigned rng_weighted(struct rng *r, const double *weights, unsigned n)
{
    double total = 0;
    for (unsigned i = 0; i < n; i++)
        total += weights[i];
    double x = rng_unit(r) * total;
    for (unsigned i = 0; i < n; i++) {
        if (x <= weights[i] && weights[i] > 0)
            return i;
        x -= weights[i];
    }
    return n - 1;
}

/* ---- helpers ------------------------------------------------------------------ */

static const struct cat_gpu *model(const char *name)
{
    const struct cat_gpu *m = cat_gpu_find(name);
    if (m == NULL) {
        fprintf(stderr, "bench_place: GPU model %s not in the catalog\n", name);
        exit(1);
    }
    return m;
}

static unsigned profile(const struct cat_gpu *m, const char *name)
{
    int p = cat_profile_index(m, name);
    if (p < 0) {
        fprintf(stderr, "bench_place: %s has no profile %s\n", m->name, name);
        exit(1);
    }
    return (unsigned)p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* p-th percentile (0..100) of v[n]; sorts v. */
static double percentile(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(p / 100.0 * (double)n + 0.999999);
    return v[i == 0 ? 0 : i - 1];
}

/* A random occupancy: instances of random profiles at random listed starts
 * (what churn leaves behind), up to a random number of used memory slices.
 * About one GPU in five is empty. */
static void random_state(struct place_gpu *g, const struct cat_gpu *m, struct rng *r,
                         uint64_t *owner)
{
    place_gpu_init(g, m);
    if (rng_below(r, 5) == 0)
        return;
    unsigned target = 1 + rng_below(r, m->mem_slices);
    for (unsigned step = 0; step < 40 && (unsigned)__builtin_popcount(g->used) < target; step++) {
        unsigned p = rng_below(r, m->nprofiles);
        const struct cat_profile *prof = &m->profiles[p];
        unsigned s = prof->placements[rng_below(r, prof->nplacements)].start;
        (void)place_add(g, p, s, ++*owner);
    }
}

/* Checks the slices place_batch wrote against copies of the GPUs as they
 * were before the call: on each GPU the call changed, place_add must accept
 * every slice placed there, and the result must be the GPU the call left. */
static void check_batch(const struct place_gpu *before, const struct place_slice *slices,
                        size_t nslices, const struct place_gpu *after)
{
    for (size_t i = 0; i < nslices; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = slices[j].gpu == slices[i].gpu;
        if (seen)
            continue;
        struct place_gpu g = before[slices[i].gpu];
        for (size_t j = i; j < nslices; j++)
            if (slices[j].gpu == slices[i].gpu &&
                place_add(&g, slices[j].profile, slices[j].start, 0) != PLACE_OK)
                violations++;
        if (g.used != after[slices[i].gpu].used || g.ninst != after[slices[i].gpu].ninst)
            violations++;
    }
}

/* ---- 1. single-GPU decisions per second ----------------------------------------- */

#define NSTATES 4096u /* a power of two */
#define NPSEQ   8191u /* coprime with NSTATES: every state meets every profile */

struct dec_bench {
    struct place_gpu *states;
    uint8_t pseq[NPSEQ];
};

static void dec_setup(struct dec_bench *d, const struct cat_gpu *m, uint64_t seed)
{
    struct rng r = {seed};
    uint64_t owner = 0;
    d->states = xcalloc(NSTATES, sizeof *d->states);
    for (unsigned i = 0; i < NSTATES; i++)
        random_state(&d->states[i], m, &r, &owner);
    for (unsigned i = 0; i < NPSEQ; i++)
        d->pseq[i] = (uint8_t)rng_below(&r, m->nprofiles);
}

/* place_choose decisions per second; *ok_frac gets the share that found a start. */
static double rate_choose(const struct dec_bench *d, unsigned long n, enum place_policy pol,
                          double *ok_frac)
{
    unsigned long ok = 0;
    unsigned acc = 0, j = 0;
    double t0 = now();
    for (unsigned long i = 0; i < n; i++) {
        unsigned s = 0;
        enum place_why w = place_choose(&d->states[i & (NSTATES - 1)], d->pseq[j], pol, &s);
        ok += w == PLACE_OK;
        acc += s;
        if (++j == NPSEQ)
            j = 0;
    }
    double dt = now() - t0;
    sink += acc;
    *ok_frac = (double)ok / (double)n;
    return (double)n / dt;
}

/* place_one + place_release pairs per second (a pair counts one decision;
 * a refused place_one counts too). The states come back unchanged. */
static double rate_one(struct dec_bench *d, unsigned long n, enum place_policy pol)
{
    unsigned j = 0;
    double t0 = now();
    for (unsigned long i = 0; i < n; i++) {
        struct place_gpu *g = &d->states[i & (NSTATES - 1)];
        unsigned s = 0;
        if (place_one(g, d->pseq[j], pol, 1, &s) == PLACE_OK)
            (void)place_release(g, s);
        if (++j == NPSEQ)
            j = 0;
    }
    return (double)n / (now() - t0);
}

static void bench_decisions(void)
{
    static const char *const models[] = {"A100-SXM4-40GB", "RTX PRO 6000 Blackwell Server Edition"};
    static const char *const short_names[] = {"A100-SXM4-40GB", "RTX PRO 6000 (12 slices)"};
    unsigned long n = quick ? 2000000ul : 20000000ul;
    printf("\n1. Single-GPU decisions, one core (%u random occupancy states, uniform profile "
           "mix, %lu decisions each)\n",
           NSTATES, n);
    printf("%-26s %-26s %14s %10s\n", "GPU", "operation", "decisions/s", "ns each");
    for (unsigned mi = 0; mi < 2; mi++) {
        struct dec_bench *d = xmalloc(sizeof *d);
        dec_setup(d, model(models[mi]), 1000 + mi);
        double ok = 0, bf = rate_choose(d, n / 10, PLACE_BEST_FIT, &ok); /* warm up */
        bf = rate_choose(d, n, PLACE_BEST_FIT, &ok);
        double okff = 0, ff = rate_choose(d, n, PLACE_FIRST_FIT, &okff);
        double one = rate_one(d, n, PLACE_BEST_FIT);
        printf("%-26s %-26s %14.0f %10.1f\n", short_names[mi], "place_choose best-fit", bf,
               1e9 / bf);
        printf("%-26s %-26s %14.0f %10.1f\n", short_names[mi], "place_choose first-fit", ff,
               1e9 / ff);
        printf("%-26s %-26s %14.0f %10.1f\n", short_names[mi], "place_one+release best-fit", one,
               1e9 / one);
        printf("%-26s %-26s %13.0f%%\n", short_names[mi], "requests that fit", 100 * ok);
        char metric[72], value[24];
        snprintf(metric, sizeof metric, "decisions/s, place_choose best-fit, %s", short_names[mi]);
        snprintf(value, sizeof value, "%.1f M", bf / 1e6);
        add_row(metric, value, ">= 5 M");
        snprintf(metric, sizeof metric, "decisions/s, place_one+release best-fit, %s",
                 short_names[mi]);
        snprintf(value, sizeof value, "%.1f M", one / 1e6);
        add_row(metric, value, ">= 5 M");
        free(d->states);
        free(d);
    }
}

/* ---- 2. a decision over 10,000 GPUs --------------------------------------------- */

#define FLEET 10000u

/* Names valid on the A100-40GB, on the H100-80GB, or (1g.10gb) on both. */
static const char *const fleet_names[] = {"1g.10gb", "2g.10gb", "3g.40gb", "1g.5gb",
                                          "4g.40gb", "2g.20gb", "3g.20gb", "1g.20gb"};
#define NFLEET_NAMES (sizeof fleet_names / sizeof fleet_names[0])

struct timing {
    double mean, p99, max;
};

/* Times `reps` calls of place_batch with `nreq` requests; the GPU array is
 * restored from `base` before each call, outside the timed region. Returns
 * microseconds per call. */
static struct timing time_batch(const struct place_gpu *base, struct place_gpu *work,
                                const struct place_req *reqs, size_t nreq, size_t reqs_total,
                                unsigned reps, enum place_policy pol, double *placed_frac)
{
    double *us = xcalloc(reps, sizeof *us);
    struct place_outcome *out = xcalloc(nreq, sizeof *out);
    struct place_slice *slices = xcalloc(4 * nreq, sizeof *slices);
    size_t placed = 0;
    for (unsigned k = 0; k < reps; k++) {
        memcpy(work, base, FLEET * sizeof *work);
        const struct place_req *rq = &reqs[(k * nreq) % reqs_total];
        double t0 = now();
        placed += place_batch(work, FLEET, rq, nreq, pol, out, slices);
        us[k] = (now() - t0) * 1e6;
        if (k < 20) { /* spot-check the decisions (outside the timing) */
            size_t ns = 0;
            for (size_t i = 0; i < nreq; i++)
                if (out[i].why == PLACE_OK)
                    ns += rq[i].count;
            check_batch(base, slices, ns, work);
        }
    }
    struct timing t = {0};
    for (unsigned k = 0; k < reps; k++)
        t.mean += us[k] / reps;
    t.p99 = percentile(us, reps, 99);
    t.max = us[reps - 1];
    *placed_frac = (double)placed / ((double)reps * (double)nreq);
    free(us);
    free(out);
    free(slices);
    return t;
}

static void bench_fleet(void)
{
    struct rng r = {2000};
    uint64_t owner = 0;
    struct place_gpu *base = xcalloc(FLEET, sizeof *base);
    struct place_gpu *work = xcalloc(FLEET, sizeof *work);
    const struct cat_gpu *a100 = model("A100-SXM4-40GB"), *h100 = model("H100 80GB HBM3");
    unsigned used = 0, empty = 0;
    for (unsigned i = 0; i < FLEET; i++) {
        random_state(&base[i], i % 2 ? h100 : a100, &r, &owner);
        used += (unsigned)__builtin_popcount(base[i].used);
        empty += base[i].ninst == 0;
    }
    /* Request streams: singles cycle over the names; batches are 64 random
     * requests of 1 or 2 slices. */
    size_t nstream = 64 * 64;
    struct place_req *singles = xcalloc(NFLEET_NAMES, sizeof *singles);
    for (size_t i = 0; i < NFLEET_NAMES; i++)
        singles[i] = (struct place_req){fleet_names[i], 1, 1u << 30 | i};
    struct place_req *batches = xcalloc(nstream, sizeof *batches);
    for (size_t i = 0; i < nstream; i++)
        batches[i] = (struct place_req){fleet_names[rng_below(&r, NFLEET_NAMES)],
                                        1 + (rng_below(&r, 4) == 0), 1u << 31 | i};
    printf("\n2. place_batch over %u GPUs (A100-40GB and H100-80GB alternating, %.0f%% of memory "
           "slices used, %u empty), restored between repetitions\n",
           FLEET, 100.0 * used / (FLEET * 8.0), empty);
    printf("%-10s %-22s %6s %12s %12s %12s %8s\n", "policy", "batch", "reps", "mean us", "p99 us",
           "max us", "placed");
    unsigned reps1 = quick ? 200 : 1500, reps64 = quick ? 20 : 150;
    for (int pi = 0; pi < 2; pi++) {
        enum place_policy pol = pi == 0 ? PLACE_BEST_FIT : PLACE_FIRST_FIT;
        double pf1 = 0, pf64 = 0;
        struct timing t1 = time_batch(base, work, singles, 1, NFLEET_NAMES, reps1, pol, &pf1);
        struct timing t64 = time_batch(base, work, batches, 64, nstream, reps64, pol, &pf64);
        printf("%-10s %-22s %6u %12.1f %12.1f %12.1f %7.0f%%\n", place_policy_name(pol),
               "1 request", reps1, t1.mean, t1.p99, t1.max, 100 * pf1);
        printf("%-10s %-22s %6u %12.1f %12.1f %12.1f %7.0f%%\n", place_policy_name(pol),
               "64 requests (per call)", reps64, t64.mean, t64.p99, t64.max, 100 * pf64);
        printf("%-10s %-22s %6u %12.1f %12.1f %12s\n", place_policy_name(pol),
               "64 requests (per req.)", reps64, t64.mean / 64, t64.p99 / 64, "");
        if (pol == PLACE_BEST_FIT) {
            char value[24];
            snprintf(value, sizeof value, "%.0f / %.0f", t1.mean, t1.p99);
            add_row("10k GPUs, 1 request, best-fit: mean / p99 us per decision", value, "< 1000");
            snprintf(value, sizeof value, "%.0f / %.0f", t64.mean / 64, t64.p99 / 64);
            add_row("10k GPUs, 64-request batch, best-fit: mean / p99 us per request", value,
                    "< 1000");
            snprintf(value, sizeof value, "%.1f / %.1f", t64.mean / 1000, t64.p99 / 1000);
            add_row("10k GPUs, 64-request batch, best-fit: mean / p99 ms per batch", value, "-");
        }
    }
    free(singles);
    free(batches);
    free(base);
    free(work);
}

/* ---- 3. packing quality on arrival/departure traces ------------------------------- */

enum { C1G, C1G2, C2G, C3G, C4G, C7G, NCLASS };
static const char *const class_names[NCLASS] = {"1g", "1g-double", "2g", "3g", "4g", "7g"};
static const char *const a100_names[NCLASS] = {"1g.5gb",  "1g.10gb", "2g.10gb",
                                               "3g.20gb", "4g.20gb", "7g.40gb"};
static const char *const h100_names[NCLASS] = {"1g.10gb", "1g.20gb", "2g.20gb",
                                               "3g.40gb", "4g.40gb", "7g.80gb"};
static const unsigned class_mem[NCLASS] = {1, 2, 2, 4, 4, 8}; /* memory slices, both models */

struct mix {
    const char *name;
    const char *what;
    double weight[NCLASS];
    double life[NCLASS]; /* mean lifetime, in units of the mean inter-arrival time */
    double load;         /* offered memory slices / memory slices of the fleet */
};

static const struct mix mixes[] = {
    {"uniform",
     "every class equally likely, equal lifetimes",
     {1, 1, 1, 1, 1, 1},
     {1, 1, 1, 1, 1, 1},
     1.0},
    {"small-heavy",
     "1g 40%, 1g-double 10%, 2g 20%, 3g 15%, 4g 10%, 7g 5%, equal lifetimes",
     {40, 10, 20, 15, 10, 5},
     {1, 1, 1, 1, 1, 1},
     1.0},
    {"frag-4g",
     "30% 1g living 10x longer, 70% 4g (a 1g at slice 0 blocks the only 4g start)",
     {30, 0, 0, 0, 70, 0},
     {10, 1, 1, 1, 1, 1},
     0.9},
    {"frag-mixed",
     "40% 1g and 20% 2g living 10x longer, 20% 4g, 20% 7g",
     {40, 0, 20, 0, 20, 20},
     {10, 1, 10, 1, 1, 1},
     0.9},
};
#define NMIX (sizeof mixes / sizeof mixes[0])

struct arrival {
    double t, end;
    uint8_t cls;
};

struct dep {
    double end;
    uint32_t owner, gpu;
};

struct heap {
    struct dep *v;
    size_t n;
};

static void heap_push(struct heap *h, struct dep d)
{
    size_t i = h->n++;
    while (i > 0 && h->v[(i - 1) / 2].end > d.end) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = d;
}

static struct dep heap_pop(struct heap *h)
{
    struct dep top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1].end < h->v[c].end)
            c++;
        if (h->v[c].end >= last.end)
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0)
        h->v[i] = last;
    return top;
}

static void make_trace(struct arrival *a, size_t n, const struct mix *mx, unsigned ngpus,
                       uint64_t seed)
{
    struct rng r = {seed};
    double mean_work = 0, wsum = 0;
    for (unsigned c = 0; c < NCLASS; c++) {
        mean_work += mx->weight[c] * class_mem[c] * mx->life[c];
        wsum += mx->weight[c];
    }
    mean_work /= wsum;
    /* Little's law: arrival rate * mean (slices x lifetime) = load * capacity. */
    double rate = mx->load * ngpus * 8.0 / mean_work, t = 0;
    for (size_t i = 0; i < n; i++) {
        t += rng_exp(&r, 1.0 / rate);
        a[i].cls = (uint8_t)rng_weighted(&r, mx->weight, NCLASS);
        a[i].t = t;
        a[i].end = t + rng_exp(&r, mx->life[a[i].cls]);
    }
}

struct trace_stats {
    unsigned long arrivals, admitted, mem_offered, mem_admitted;
    unsigned long cls_arr[NCLASS], cls_adm[NCLASS];
};

/* Replays `a` on `gpus` (all of one model): each arrival is a place_batch of
 * one single-slice request over the whole fleet; departures release the
 * owner on the GPU that holds it. Arrivals before `warm` are simulated but
 * not counted. */
static void run_trace(struct place_gpu *gpus, unsigned ngpus, const char *const *names,
                      const struct arrival *a, size_t n, size_t warm, enum place_policy pol,
                      struct trace_stats *st)
{
    struct heap h = {xcalloc(n, sizeof(struct dep)), 0};
    for (size_t i = 0; i < n; i++) {
        while (h.n > 0 && h.v[0].end <= a[i].t) {
            struct dep d = heap_pop(&h);
            if (place_release_owner(&gpus[d.gpu], d.owner) != 1)
                violations++;
        }
        struct place_req req = {names[a[i].cls], 1, (uint64_t)i + 1};
        struct place_outcome out;
        struct place_slice sl;
        bool ok = place_batch(gpus, ngpus, &req, 1, pol, &out, &sl) == 1;
        if (ok) {
            heap_push(&h, (struct dep){a[i].end, (uint32_t)i + 1, sl.gpu});
            /* The slice must be exactly what NVML would accept on the GPU as it was. */
            struct place_gpu before = gpus[sl.gpu];
            if (place_release_owner(&before, i + 1) != 1 ||
                place_add(&before, sl.profile, sl.start, i + 1) != PLACE_OK ||
                before.used != gpus[sl.gpu].used)
                violations++;
        }
        if (i < warm)
            continue;
        st->arrivals++;
        st->cls_arr[a[i].cls]++;
        st->mem_offered += class_mem[a[i].cls];
        if (ok) {
            st->admitted++;
            st->cls_adm[a[i].cls]++;
            st->mem_admitted += class_mem[a[i].cls];
        }
    }
    free(h.v);
}

static double gain(unsigned long bf, unsigned long ff)
{
    return ff ? 100.0 * ((double)bf - (double)ff) / (double)ff : 0;
}

static void bench_traces(void)
{
    const unsigned half = 500;
    const size_t n = quick ? 6000 : 60000, warm = n / 8;
    const struct cat_gpu *models[2] = {model("A100-SXM4-40GB"), model("H100 80GB HBM3")};
    const char *const *names[2] = {a100_names, h100_names};
    struct place_gpu *fleet = xcalloc(2 * half, sizeof *fleet);
    struct arrival *a = xcalloc(n, sizeof *a);
    printf("\n3. Packing on arrival/departure traces: 1,000 GPUs = 500 A100-SXM4-40GB + 500 H100 "
           "80GB HBM3,\n   %zu single-slice arrivals per half (first %zu not counted), Poisson "
           "arrivals, exponential lifetimes;\n   a request that does not fit on arrival is "
           "rejected. load = offered memory slices / the fleet's.\n",
           n, warm);
    for (size_t mi = 0; mi < NMIX; mi++)
        printf("   %-12s load %.1f: %s\n", mixes[mi].name, mixes[mi].load, mixes[mi].what);
    printf("%-12s %-10s %9s %9s %8s %11s %8s %10s\n", "trace", "policy", "arrivals", "admitted",
           "adm %", "mem admit.", "mem %", "large adm%");
    for (size_t mi = 0; mi < NMIX; mi++) {
        struct trace_stats st[2];
        memset(st, 0, sizeof st);
        for (int pi = 0; pi < 2; pi++) {
            enum place_policy pol = pi == 0 ? PLACE_BEST_FIT : PLACE_FIRST_FIT;
            for (unsigned half_i = 0; half_i < 2; half_i++) {
                struct place_gpu *g = &fleet[half_i * half];
                for (unsigned i = 0; i < half; i++)
                    place_gpu_init(&g[i], models[half_i]);
                make_trace(a, n, &mixes[mi], half, 3000 + 10 * mi + half_i);
                run_trace(g, half, names[half_i], a, n, warm, pol, &st[pi]);
            }
            unsigned long large_arr = 0, large_adm = 0;
            for (unsigned c = C3G; c < NCLASS; c++) {
                large_arr += st[pi].cls_arr[c];
                large_adm += st[pi].cls_adm[c];
            }
            printf("%-12s %-10s %9lu %9lu %7.1f%% %11lu %7.1f%% %9.1f%%\n", mixes[mi].name,
                   place_policy_name(pol), st[pi].arrivals, st[pi].admitted,
                   100.0 * st[pi].admitted / st[pi].arrivals, st[pi].mem_admitted,
                   100.0 * st[pi].mem_admitted / st[pi].mem_offered,
                   large_arr ? 100.0 * large_adm / large_arr : 0);
        }
        printf("%-12s %-10s admitted slices %+.2f%%, admitted memory slices %+.2f%%\n",
               mixes[mi].name, "gain", gain(st[0].admitted, st[1].admitted),
               gain(st[0].mem_admitted, st[1].mem_admitted));
        printf("%-12s %-10s", "", "by class");
        for (unsigned c = 0; c < NCLASS; c++)
            if (st[0].cls_arr[c])
                printf(" %s %.0f%%/%.0f%%", class_names[c],
                       100.0 * st[0].cls_adm[c] / st[0].cls_arr[c],
                       100.0 * st[1].cls_adm[c] / st[1].cls_arr[c]);
        printf("  (best-fit/first-fit admitted)\n");
        char metric[72], value[24];
        snprintf(metric, sizeof metric, "trace %s: best-fit gain, admitted slices / memory",
                 mixes[mi].name);
        snprintf(value, sizeof value, "%+.1f%% / %+.1f%%", gain(st[0].admitted, st[1].admitted),
                 gain(st[0].mem_admitted, st[1].mem_admitted));
        add_row(metric, value, "> 0");
    }
    free(a);
    free(fleet);
}

/* ---- 4. against the optimum on small instances ------------------------------------ */

/* A100-40GB profiles drawn for small instances, with weights. */
static const char *const small_names[] = {"1g.5gb",  "1g.5gb+me", "1g.10gb", "2g.10gb",
                                          "3g.20gb", "4g.20gb",   "7g.40gb"};
static const double small_weight[] = {30, 5, 15, 20, 15, 10, 5};
/* Half the static batches draw from smaller slices only, so that everything
 * fits more often (on two GPUs) and the packing, not the overload, decides. */
static const double tiny_weight[] = {50, 5, 25, 15, 5, 0, 0};
#define NSMALL (sizeof small_names / sizeof small_names[0])

/* Count vectors of profiles (4 bits each, up to 8 profiles) that fit together
 * on one GPU on top of what it holds. */
struct vecset {
    uint32_t *v;
    size_t n, cap;
};

static void vec_add(struct vecset *s, uint32_t v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->v = xreallocarray(s->v, s->cap, sizeof *s->v);
    }
    s->v[s->n++] = v;
}

static unsigned vget(uint32_t v, unsigned p)
{
    return (v >> (4 * p)) & 15u;
}

/* Every set of new instances (profiles with cnt < lim) that fits on g, each
 * set visited once: instances in (profile, placement index) order. */
static void enum_sets(struct place_gpu *g, unsigned q0, unsigned i0, uint32_t cnt,
                      const unsigned *lim, struct vecset *out)
{
    vec_add(out, cnt);
    const struct cat_gpu *m = g->model;
    for (unsigned q = q0; q < m->nprofiles; q++) {
        if (vget(cnt, q) >= lim[q])
            continue;
        const struct cat_profile *prof = &m->profiles[q];
        for (unsigned i = q == q0 ? i0 : 0; i < prof->nplacements; i++) {
            unsigned s = prof->placements[i].start;
            if (place_check(g, q, s) != PLACE_OK)
                continue;
            struct place_gpu save = *g;
            (void)place_add(g, q, s, 0);
            enum_sets(g, q, i + 1, cnt + (1u << (4 * q)), lim, out);
            *g = save;
        }
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Sorts, removes duplicates and vectors dominated by another. */
static void vec_reduce(struct vecset *s, unsigned nprof)
{
    qsort(s->v, s->n, sizeof *s->v, cmp_u32);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        if (k == 0 || s->v[k - 1] != s->v[i])
            s->v[k++] = s->v[i];
    s->n = k;
    k = 0;
    for (size_t i = 0; i < s->n; i++) {
        bool dominated = false;
        for (size_t j = 0; j < s->n && !dominated; j++) {
            if (j == i || s->v[j] == s->v[i])
                continue;
            bool ge = true;
            for (unsigned p = 0; p < nprof && ge; p++)
                ge = vget(s->v[j], p) >= vget(s->v[i], p);
            dominated = ge;
        }
        if (!dominated)
            s->v[k++] = s->v[i];
    }
    s->n = k;
}

/* The most requests (and, separately, memory slices) that fit: over every
 * combination of per-GPU feasible sets. `c[p]` requests of profile p. */
static void optimum_static(struct place_gpu *gpus, unsigned ngpus, const unsigned *c,
                           unsigned *best_n, unsigned *best_mem)
{
    const struct cat_gpu *m = gpus[0].model;
    struct vecset s[2] = {{0}};
    for (unsigned gi = 0; gi < ngpus; gi++) {
        enum_sets(&gpus[gi], 0, 0, 0, c, &s[gi]);
        vec_reduce(&s[gi], m->nprofiles);
    }
    *best_n = *best_mem = 0;
    size_t n1 = ngpus == 2 ? s[1].n : 1;
    for (size_t i = 0; i < s[0].n; i++) {
        for (size_t j = 0; j < n1; j++) {
            unsigned n = 0, mem = 0;
            for (unsigned p = 0; p < m->nprofiles; p++) {
                unsigned k = vget(s[0].v[i], p) + (ngpus == 2 ? vget(s[1].v[j], p) : 0);
                k = k < c[p] ? k : c[p];
                n += k;
                mem += k * m->profiles[p].mem_slices;
            }
            *best_n = n > *best_n ? n : *best_n;
            *best_mem = mem > *best_mem ? mem : *best_mem;
        }
    }
    free(s[0].v);
    free(s[1].v);
}

struct ratio {
    double sum_n, sum_mem;
    unsigned hit_n, hit_mem, count;
};

static void ratio_add(struct ratio *r, unsigned got_n, unsigned opt_n, unsigned got_mem,
                      unsigned opt_mem)
{
    r->sum_n += opt_n ? (double)got_n / opt_n : 1;
    r->sum_mem += opt_mem ? (double)got_mem / opt_mem : 1;
    r->hit_n += got_n == opt_n;
    r->hit_mem += got_mem == opt_mem;
    r->count++;
}

static void print_ratio(const char *what, const char *pol, const struct ratio *r)
{
    if (r->count == 0)
        return;
    printf("%-24s %-10s %6u %12.2f%% %9.1f%% %12.2f%% %9.1f%%\n", what, pol, r->count,
           100 * r->sum_n / r->count, 100.0 * r->hit_n / r->count, 100 * r->sum_mem / r->count,
           100.0 * r->hit_mem / r->count);
}

/* Runs place_batch on a copy; returns requests and memory slices placed. */
static void run_static(const struct place_gpu *gpus, unsigned ngpus, const struct place_req *reqs,
                       unsigned nreq, enum place_policy pol, unsigned *n, unsigned *mem)
{
    struct place_gpu work[2];
    memcpy(work, gpus, ngpus * sizeof *work);
    struct place_outcome out[16];
    struct place_slice sl[16];
    *n = (unsigned)place_batch(work, ngpus, reqs, nreq, pol, out, sl);
    *mem = 0;
    size_t ns = 0;
    for (unsigned i = 0; i < nreq; i++) {
        if (out[i].why == PLACE_OK) {
            *mem += gpus[0].model->profiles[sl[out[i].first].profile].mem_slices;
            ns++;
        }
    }
    check_batch(gpus, sl, ns, work);
}

/* bf[0], ff[0]: every batch; [1]: batches that fit entirely; [2]: the others. */
static void bench_static(struct ratio *bf, struct ratio *ff)
{
    struct rng r = {4000};
    const struct cat_gpu *m = model("A100-SXM4-40GB");
    unsigned prof[NSMALL];
    for (unsigned i = 0; i < NSMALL; i++)
        prof[i] = profile(m, small_names[i]);
    unsigned ninst = quick ? 200 : 1000, fits[3] = {0}, bf_all[3] = {0}, ff_all[3] = {0};
    uint64_t owner = 0;
    for (unsigned it = 0; it < ninst; it++) {
        unsigned ngpus = 1 + rng_below(&r, 2), nreq = 6 + rng_below(&r, 5);
        const double *w = it % 2 ? tiny_weight : small_weight;
        struct place_gpu gpus[2];
        for (unsigned gi = 0; gi < ngpus; gi++) {
            place_gpu_init(&gpus[gi], m);
            unsigned pre = rng_below(&r, 2) ? rng_below(&r, 3) + 1 : 0;
            for (unsigned k = 0; k < pre; k++) {
                unsigned p = prof[rng_weighted(&r, small_weight, NSMALL)];
                const struct cat_profile *pp = &m->profiles[p];
                (void)place_add(&gpus[gi], p, pp->placements[rng_below(&r, pp->nplacements)].start,
                                ++owner);
            }
        }
        struct place_req reqs[16];
        unsigned c[CAT_MAX_PROFILES] = {0};
        for (unsigned i = 0; i < nreq; i++) {
            unsigned k = rng_weighted(&r, w, NSMALL);
            reqs[i] = (struct place_req){small_names[k], 1, 100 + i};
            c[prof[k]]++;
        }
        unsigned opt_n, opt_mem, n, mem;
        optimum_static(gpus, ngpus, c, &opt_n, &opt_mem);
        unsigned regime = opt_n == nreq ? 1 : 2;
        fits[ngpus] += regime == 1;
        run_static(gpus, ngpus, reqs, nreq, PLACE_BEST_FIT, &n, &mem);
        bf_all[ngpus] += regime == 1 && n == nreq;
        if (n > opt_n || mem > opt_mem)
            violations++;
        ratio_add(&bf[0], n, opt_n, mem, opt_mem);
        ratio_add(&bf[regime], n, opt_n, mem, opt_mem);
        run_static(gpus, ngpus, reqs, nreq, PLACE_FIRST_FIT, &n, &mem);
        ff_all[ngpus] += regime == 1 && n == nreq;
        if (n > opt_n || mem > opt_mem)
            violations++;
        ratio_add(&ff[0], n, opt_n, mem, opt_mem);
        ratio_add(&ff[regime], n, opt_n, mem, opt_mem);
    }
    printf("   static batches: %u instances; where everything fits, best-fit / first-fit place all "
           "in\n   %u / %u of %u on 1 GPU and %u / %u of %u on 2 GPUs\n",
           ninst, bf_all[1], ff_all[1], fits[1], bf_all[2], ff_all[2], fits[2]);
}

/* Online traces: a handful of arrivals on 1-2 GPUs, each with a lifetime. */
#define OMAX 12u

struct otrace {
    unsigned n, ngpus;
    double t[OMAX], end[OMAX];
    uint8_t prof[OMAX];  /* profile index on the model */
    uint8_t sname[OMAX]; /* index into small_names */
};

/* Memo of the clairvoyant optimum: state = (next arrival, which arrival
 * holds each memory slice of each GPU, up to symmetry) -> the best total
 * from there on. */
#define MEMO_BITS   21u
#define NODE_BUDGET 20000000ul /* per search; beyond it the instance is dropped */

struct memo {
    uint64_t *key;
    uint32_t *gen;
    uint8_t *k, *val;
    uint32_t cur;
    size_t used;
};

struct opt_search {
    const struct otrace *tr;
    struct place_gpu gpus[2];
    uint8_t where[OMAX]; /* 0: not present; else gpu * 8 + start + 1 */
    bool by_mem;         /* maximise memory slices instead of requests */
    bool sym;            /* the A100 slice symmetries below hold for the model */
    unsigned long nodes;
    struct memo *memo;
};

/* On the A100-40GB's placement grid, swapping slices 0<->1, 2<->3, 4<->5, or
 * the pairs {0,1}<->{2,3}, maps every listed placement to a listed placement
 * (sym_holds checks it against the catalog), so such states are equivalent. */
static const uint8_t sym_perm[4][8] = {{1, 0, 2, 3, 4, 5, 6, 7},
                                       {0, 1, 3, 2, 4, 5, 6, 7},
                                       {0, 1, 2, 3, 5, 4, 6, 7},
                                       {2, 3, 0, 1, 4, 5, 6, 7}};

static bool sym_holds(const struct cat_gpu *m)
{
    if (m->mem_slices != 8)
        return false;
    for (unsigned k = 0; k < 4; k++) {
        for (unsigned p = 0; p < m->nprofiles; p++) {
            const struct cat_profile *prof = &m->profiles[p];
            for (unsigned i = 0; i < prof->nplacements; i++) {
                uint16_t mask = cat_mask(prof->placements[i].start, prof->placements[i].size),
                         img = 0;
                for (unsigned b = 0; b < 8; b++)
                    if (mask & (1u << b))
                        img = (uint16_t)(img | 1u << sym_perm[k][b]);
                bool listed = false;
                for (unsigned j = 0; j < prof->nplacements; j++)
                    listed = listed ||
                             img == cat_mask(prof->placements[j].start, prof->placements[j].size);
                if (!listed)
                    return false;
            }
        }
    }
    return true;
}

/* The labels (arrival + 1) of GPU gi's slices, 4 bits each, in canonical form. */
static uint32_t gpu_labels(const struct opt_search *o, unsigned gi)
{
    uint8_t lab[8] = {0};
    for (unsigned j = 0; j < o->tr->n; j++) {
        if (o->where[j] == 0 || (o->where[j] - 1u) / 8 != gi)
            continue;
        unsigned start = (o->where[j] - 1u) % 8;
        unsigned size = o->gpus[0].model->profiles[o->tr->prof[j]].mem_slices;
        for (unsigned b = start; b < start + size; b++)
            lab[b] = (uint8_t)(j + 1);
    }
    if (o->sym) {
        for (unsigned b = 0; b < 6; b += 2) {
            if (lab[b] > lab[b + 1]) {
                uint8_t t = lab[b];
                lab[b] = lab[b + 1];
                lab[b + 1] = t;
            }
        }
        if (lab[0] > lab[2] || (lab[0] == lab[2] && lab[1] > lab[3])) {
            uint8_t t0 = lab[0], t1 = lab[1];
            lab[0] = lab[2];
            lab[1] = lab[3];
            lab[2] = t0;
            lab[3] = t1;
        }
    }
    uint32_t v = 0;
    for (unsigned b = 0; b < 8; b++)
        v |= (uint32_t)lab[b] << (4 * b);
    return v;
}

static uint64_t state_key(const struct opt_search *o)
{
    uint64_t a = gpu_labels(o, 0), b = o->tr->ngpus == 2 ? gpu_labels(o, 1) : 0;
    /* Two GPUs of one model, both empty at the start, are interchangeable. */
    return a < b ? a << 32 | b : b << 32 | a;
}

static size_t memo_slot(uint64_t key, unsigned k)
{
    return (size_t)(((key ^ k) * 0x9e3779b97f4a7c15u) >> (64 - MEMO_BITS));
}

static bool memo_get(const struct memo *m, uint64_t key, unsigned k, unsigned *val)
{
    for (size_t i = memo_slot(key, k);; i = (i + 1) & ((1u << MEMO_BITS) - 1)) {
        if (m->gen[i] != m->cur)
            return false;
        if (m->key[i] == key && m->k[i] == k) {
            *val = m->val[i];
            return true;
        }
    }
}

static void memo_put(struct memo *m, uint64_t key, unsigned k, unsigned val)
{
    if (m->used > (3u << MEMO_BITS) / 4) /* full enough: stop memoising */
        return;
    size_t i = memo_slot(key, k);
    while (m->gen[i] == m->cur)
        i = (i + 1) & ((1u << MEMO_BITS) - 1);
    m->gen[i] = m->cur;
    m->key[i] = key;
    m->k[i] = (uint8_t)k;
    m->val[i] = (uint8_t)val;
    m->used++;
}

static unsigned opt_value(const struct opt_search *o, unsigned k)
{
    return o->by_mem ? o->gpus[0].model->profiles[o->tr->prof[k]].mem_slices : 1;
}

/* The best total from arrival k on, every admit/reject and placement tried. */
static unsigned opt_dfs(struct opt_search *o, unsigned k)
{
    const struct otrace *tr = o->tr;
    if (k == tr->n || ++o->nodes > NODE_BUDGET)
        return 0;
    struct place_gpu save[2];
    uint8_t save_where[OMAX];
    memcpy(save, o->gpus, sizeof save);
    memcpy(save_where, o->where, sizeof save_where);
    for (unsigned j = 0; j < k; j++) {
        if (o->where[j] && tr->end[j] <= tr->t[k]) {
            (void)place_release(&o->gpus[(o->where[j] - 1) / 8], (o->where[j] - 1) % 8u);
            o->where[j] = 0;
        }
    }
    uint64_t key = state_key(o);
    unsigned best = 0;
    if (!memo_get(o->memo, key, k, &best)) {
        best = opt_dfs(o, k + 1); /* reject */
        const struct cat_profile *prof = &o->gpus[0].model->profiles[tr->prof[k]];
        for (unsigned gi = 0; gi < tr->ngpus; gi++) {
            for (unsigned i = 0; i < prof->nplacements; i++) {
                unsigned s = prof->placements[i].start;
                if (place_add(&o->gpus[gi], tr->prof[k], s, k + 1) != PLACE_OK)
                    continue;
                o->where[k] = (uint8_t)(gi * 8 + s + 1);
                unsigned v = opt_value(o, k) + opt_dfs(o, k + 1);
                best = v > best ? v : best;
                o->where[k] = 0;
                (void)place_release(&o->gpus[gi], s);
            }
        }
        memo_put(o->memo, key, k, best);
    }
    memcpy(o->gpus, save, sizeof save);
    memcpy(o->where, save_where, sizeof save_where);
    return best;
}

/* The clairvoyant optimum of the trace; false when the search ran out of
 * its node budget (the instance is then left out). */
static bool optimum_online(const struct otrace *tr, const struct cat_gpu *m, bool by_mem,
                           struct memo *memo, unsigned *value, unsigned long *nodes)
{
    struct opt_search o = {.tr = tr, .by_mem = by_mem, .sym = sym_holds(m), .memo = memo};
    for (unsigned gi = 0; gi < 2; gi++)
        place_gpu_init(&o.gpus[gi], m);
    memo->cur++;
    memo->used = 0;
    *value = opt_dfs(&o, 0);
    *nodes += o.nodes;
    return o.nodes <= NODE_BUDGET;
}

/* The online policy on the trace: admits what fits on arrival. */
static void run_online(const struct otrace *tr, const struct cat_gpu *m, enum place_policy pol,
                       unsigned *n, unsigned *mem)
{
    struct place_gpu gpus[2];
    uint32_t gpu_of[OMAX];
    bool live[OMAX] = {false};
    for (unsigned gi = 0; gi < 2; gi++)
        place_gpu_init(&gpus[gi], m);
    *n = *mem = 0;
    for (unsigned k = 0; k < tr->n; k++) {
        for (unsigned j = 0; j < k; j++) {
            if (live[j] && tr->end[j] <= tr->t[k]) {
                (void)place_release_owner(&gpus[gpu_of[j]], j + 1);
                live[j] = false;
            }
        }
        struct place_req req = {small_names[tr->sname[k]], 1, k + 1};
        struct place_outcome out;
        struct place_slice sl;
        struct place_gpu before[2];
        memcpy(before, gpus, sizeof before);
        if (place_batch(gpus, tr->ngpus, &req, 1, pol, &out, &sl) == 1) {
            check_batch(before, &sl, 1, gpus);
            live[k] = true;
            gpu_of[k] = sl.gpu;
            (*n)++;
            *mem += m->profiles[sl.profile].mem_slices;
        }
    }
}

static void bench_online(struct ratio *bf, struct ratio *ff)
{
    struct rng r = {5000};
    const struct cat_gpu *m = model("A100-SXM4-40GB");
    size_t msize = (size_t)1 << MEMO_BITS;
    struct memo memo = {.key = xcalloc(msize, sizeof(uint64_t)),
                        .gen = xcalloc(msize, sizeof(uint32_t)),
                        .k = xcalloc(msize, 1),
                        .val = xcalloc(msize, 1)};
    unsigned ninst = quick ? 100 : 500, all_fit = 0, dropped = 0;
    unsigned long nodes = 0;
    double t0 = now();
    for (unsigned it = 0; it < ninst; it++) {
        struct otrace tr = {.n = OMAX, .ngpus = 1 + rng_below(&r, 2)};
        double t = 0;
        for (unsigned k = 0; k < tr.n; k++) {
            unsigned s = rng_weighted(&r, small_weight, NSMALL);
            tr.sname[k] = (uint8_t)s;
            tr.prof[k] = (uint8_t)profile(m, small_names[s]);
            t += rng_exp(&r, 1.0);
            tr.t[k] = t;
            /* On average about 90% of the GPUs' memory slices are asked for. */
            tr.end[k] = t + rng_exp(&r, 3.0 * tr.ngpus);
        }
        unsigned opt_n, opt_mem;
        if (!optimum_online(&tr, m, false, &memo, &opt_n, &nodes) ||
            !optimum_online(&tr, m, true, &memo, &opt_mem, &nodes)) {
            dropped++;
            continue;
        }
        all_fit += opt_n == tr.n;
        unsigned n, mem;
        run_online(&tr, m, PLACE_BEST_FIT, &n, &mem);
        if (n > opt_n || mem > opt_mem)
            violations++;
        ratio_add(bf, n, opt_n, mem, opt_mem);
        run_online(&tr, m, PLACE_FIRST_FIT, &n, &mem);
        if (n > opt_n || mem > opt_mem)
            violations++;
        ratio_add(ff, n, opt_n, mem, opt_mem);
    }
    printf("   online traces: %u instances of %u arrivals (%u dropped: search too large), the "
           "optimum admits everything in %u; %.1f M search nodes, %.1f s\n",
           ninst, OMAX, dropped, all_fit, (double)nodes / 1e6, now() - t0);
    free(memo.key);
    free(memo.gen);
    free(memo.k);
    free(memo.val);
}

static void bench_optimum(void)
{
    printf("\n4. Against the exact optimum, A100-SXM4-40GB, 1-2 GPUs (ratio = placed / optimum, "
           "averaged over instances)\n");
    struct ratio sbf[3] = {{0}}, sff[3] = {{0}}, obf = {0}, off = {0};
    bench_static(sbf, sff);
    bench_online(&obf, &off);
    printf("%-24s %-10s %6s %13s %10s %13s %10s\n", "case", "policy", "cases", "ratio (reqs)",
           "hits opt", "ratio (mem)", "hits opt");
    static const char *const regime[3] = {"static, all", "static, all fit", "static, overloaded"};
    for (unsigned k = 0; k < 3; k++) {
        print_ratio(regime[k], "best-fit", &sbf[k]);
        print_ratio(regime[k], "first-fit", &sff[k]);
    }
    print_ratio("online, clairvoyant opt", "best-fit", &obf);
    print_ratio("online, clairvoyant opt", "first-fit", &off);
    printf("   static: optimum = most requests (reqs) or most memory slices (mem) that fit "
           "together, by\n"
           "           exhaustive search; each column is against its own optimum.\n"
           "   online: optimum = clairvoyant offline (knows every arrival and departure in "
           "advance),\n"
           "           a bound no online policy can be expected to reach.\n");
    char value[24];
    snprintf(value, sizeof value, "%.2f%% (hit %.0f%%)", 100 * sbf[0].sum_n / sbf[0].count,
             100.0 * sbf[0].hit_n / sbf[0].count);
    add_row("static batches: best-fit requests placed / exact optimum", value, ">= 99%");
    snprintf(value, sizeof value, "%.2f%% (hit %.0f%%)", 100 * sff[0].sum_n / sff[0].count,
             100.0 * sff[0].hit_n / sff[0].count);
    add_row("static batches: first-fit requests placed / exact optimum", value, "-");
    snprintf(value, sizeof value, "%.2f%% (hit %.0f%%)", 100 * sbf[1].sum_n / sbf[1].count,
             100.0 * sbf[1].hit_n / sbf[1].count);
    add_row("static batches that fit: best-fit requests placed / all", value, ">= 99%");
    snprintf(value, sizeof value, "%.2f%% (hit %.0f%%)", 100 * sbf[0].sum_mem / sbf[0].count,
             100.0 * sbf[0].hit_mem / sbf[0].count);
    add_row("static batches: best-fit memory placed / exact optimum", value, ">= 99%");
    snprintf(value, sizeof value, "%.2f%% (hit %.0f%%)", 100 * sff[0].sum_mem / sff[0].count,
             100.0 * sff[0].hit_mem / sff[0].count);
    add_row("static batches: first-fit memory placed / exact optimum", value, "-");
    snprintf(value, sizeof value, "%.2f%% (hit %.0f%%)", 100 * obf.sum_n / obf.count,
             100.0 * obf.hit_n / obf.count);
    add_row("online traces: best-fit admitted / clairvoyant optimum", value, "(bound)");
    snprintf(value, sizeof value, "%.2f%% (hit %.0f%%)", 100 * off.sum_n / off.count,
             100.0 * off.hit_n / off.count);
    add_row("online traces: first-fit admitted / clairvoyant optimum", value, "(bound)");
    snprintf(value, sizeof value, "%.2f%% / %.2f%%", 100 * obf.sum_mem / obf.count,
             100 * off.sum_mem / off.count);
    add_row("online traces: memory admitted / clairvoyant opt, best / first", value, "(bound)");
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--quick") == 0) {
            quick = true;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc &&
                   (only = strtol(argv[i + 1], &end, 10)) >= 1 && only <= 4 && *end == 0) {
            i++;
        } else {
            fprintf(stderr, "usage: bench_place [--quick] [--only 1|2|3|4]\n");
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    double t0 = now();
    if (only == 0 || only == 1)
        bench_decisions();
    if (only == 0 || only == 2)
        bench_fleet();
    if (only == 0 || only == 3)
        bench_traces();
    if (only == 0 || only == 4)
        bench_optimum();
    char value[24];
    snprintf(value, sizeof value, "%lu", violations);
    add_row("engine decisions refused by place_check (all sections)", value, "0");
    print_summary();
    printf("\nbench_place: %.1f s%s\n", now() - t0, quick ? " (--quick)" : "");
    return violations == 0 ? 0 : 1;
}
