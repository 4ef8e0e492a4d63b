/* sched — placing a batch of pods across nodes (sched.h). */
#include "controller/sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

/* A node that could take the pod, and what it would become. */
struct candidate {
    struct place_gpu gpus[CTL_MAX_GPUS];
    struct place_slice slices[CTL_MAX_SLICES];
    struct place_outcome outcome[CTL_MAX_ASKS];
    unsigned loss;      /* future capacity the pod's slices cost there */
    unsigned free_mem;  /* free memory slices before: fewer means already in use */
    enum place_why why; /* when it could not */
};

static unsigned total_slices(const struct ctl_pod *p)
{
    unsigned n = 0;
    for (unsigned a = 0; a < p->nasks; a++)
        n += p->asks[a].count;
    return n;
}

static unsigned free_mem_slices(const struct place_gpu *g, size_t n)
{
    unsigned free = 0;
    for (size_t i = 0; i < n; i++)
        free += (unsigned)g[i].model->mem_slices - (unsigned)__builtin_popcount(g[i].used);
    return free;
}

static unsigned score_of(const struct place_gpu *g, size_t n)
{
    unsigned s = 0;
    for (size_t i = 0; i < n; i++)
        s += place_score(&g[i]);
    return s;
}

/* Places the asks of `group` (all of them, on one GPU: the one they cost least, or under
 * first-fit the first that takes them) into c->gpus, their slices at c->slices[*used...].
 * False (c->why) when no single GPU takes them all. */
static bool place_group(const struct ctl_gpu_node *n, const struct ctl_pod *p, uint8_t group,
                        enum place_policy policy, struct candidate *c, size_t *used)
{
    struct place_req reqs[CTL_MAX_ASKS];
    unsigned ask[CTL_MAX_ASKS], nr = 0;
    for (unsigned a = 0; a < p->nasks; a++)
        if (p->asks[a].group == group) {
            reqs[nr] = (struct place_req){
                .profile = p->asks[a].profile, .count = p->asks[a].count, .owner = a + 1};
            ask[nr++] = a;
        }
    struct place_gpu best_gpu, one;
    struct place_outcome out[CTL_MAX_ASKS], best_out[CTL_MAX_ASKS];
    struct place_slice sl[CTL_MAX_SLICES], best_sl[CTL_MAX_SLICES];
    int best = -1;
    unsigned best_loss = 0;
    for (size_t g = 0; g < n->ngpus; g++) {
        one = c->gpus[g];
        if (place_batch(&one, 1, reqs, nr, policy, out, sl) < nr) {
            for (unsigned k = 0; k < nr; k++)
                if (out[k].why != PLACE_OK)
                    c->why = out[k].why;
            continue;
        }
        unsigned before = place_score(&c->gpus[g]), after = place_score(&one);
        unsigned loss = before > after ? before - after : 0;
        if (best < 0 || loss < best_loss) {
            best = (int)g;
            best_loss = loss;
            best_gpu = one;
            memcpy(best_out, out, nr * sizeof *out);
            memcpy(best_sl, sl, sizeof sl);
        }
        if (policy == PLACE_FIRST_FIT)
            break;
    }
    if (best < 0)
        return false;
    c->gpus[best] = best_gpu;
    size_t total = 0;
    for (unsigned k = 0; k < nr; k++) {
        c->outcome[ask[k]] = (struct place_outcome){PLACE_OK, *used + best_out[k].first};
        total += reqs[k].count;
    }
    for (size_t x = 0; x < total; x++) {
        c->slices[*used + x] = best_sl[x];
        c->slices[*used + x].gpu = (uint32_t)best;
    }
    *used += total;
    return true;
}

/* Places all of the pod's asks on one node's GPUs (a copy): same-GPU groups first, each on
 * one GPU, then the others across all of them. False when not all fit. */
static bool try_node(const struct ctl_gpu_node *n, const struct ctl_pod *p,
                     enum place_policy policy, struct candidate *c)
{
    struct place_req reqs[CTL_MAX_ASKS];
    unsigned ask[CTL_MAX_ASKS], nr = 0;
    size_t used = 0;
    if (n->ngpus > CTL_MAX_GPUS) { /* the view is built with at most that many */
        c->why = PLACE_TOO_MANY;
        return false;
    }
    memcpy(c->gpus, n->gpus, n->ngpus * sizeof *c->gpus);
    c->why = PLACE_NO_MEMORY;
    uint32_t done = 0; /* groups placed (bit g) */
    for (unsigned a = 0; a < p->nasks; a++) {
        uint8_t g = p->asks[a].group;
        if (g == 0) {
            reqs[nr] = (struct place_req){
                .profile = p->asks[a].profile, .count = p->asks[a].count, .owner = a + 1};
            ask[nr++] = a;
        } else if (!(done & (1u << (g % 32)))) {
            if (!place_group(n, p, g, policy, c, &used))
                return false;
            done |= 1u << (g % 32);
        }
    }
    struct place_outcome out[CTL_MAX_ASKS];
    size_t placed =
        nr ? place_batch(c->gpus, n->ngpus, reqs, nr, policy, out, c->slices + used) : 0;
    for (unsigned k = 0; k < nr; k++)
        c->outcome[ask[k]] = (struct place_outcome){out[k].why, used + out[k].first};
    if (placed < nr) {
        for (unsigned k = 0; k < nr; k++)
            if (out[k].why != PLACE_OK)
                c->why = out[k].why;
        return false;
    }
    c->free_mem = free_mem_slices(n->gpus, n->ngpus);
    unsigned before = score_of(n->gpus, n->ngpus), after = score_of(c->gpus, n->ngpus);
    c->loss = before > after ? before - after : 0;
    return true;
}

static bool better(const struct candidate *a, const struct candidate *b)
{
    if (a->loss != b->loss)
        return a->loss < b->loss;
    return a->free_mem < b->free_mem;
}

/* Applies the chosen candidate to the node and writes the decision. */
static void commit(struct ctl_gpu_node *n, int index, const struct ctl_pod *p,
                   const struct candidate *c, struct ctl_decision *d)
{
    memcpy(n->gpus, c->gpus, n->ngpus * sizeof *n->gpus);
    n->room.cpu_milli -= p->cpu_milli;
    n->room.memory_bytes -= p->memory_bytes;
    n->room.pods -= 1;
    d->node = index;
    d->nslices = 0;
    for (unsigned a = 0; a < p->nasks; a++) {
        for (unsigned k = 0; k < p->asks[a].count; k++) {
            const struct place_slice *s = &c->slices[c->outcome[a].first + k];
            const struct cat_gpu *m = n->gpus[s->gpu].model;
            d->slices[d->nslices++] =
                (struct ctl_choice){.ask = a,
                                    .gpu = s->gpu,
                                    .start = s->start,
                                    .size = m->profiles[s->profile].mem_slices};
        }
    }
}

/* "0/3 nodes can take it: 1 cordoned, 2 without room on their GPUs (...)" */
static void explain(struct ctl_decision *d, size_t nnodes, const unsigned *misfits,
                    unsigned no_room, enum place_why why)
{
    size_t len = (size_t)snprintf(d->why, sizeof d->why, "0/%zu nodes can take it", nnodes);
    const char *sep = ": ";
    for (int m = 1; m < CTL_MISFIT_COUNT && len < sizeof d->why; m++) {
        if (misfits[m] == 0)
            continue;
        len += (size_t)snprintf(d->why + len, sizeof d->why - len, "%s%u %s", sep, misfits[m],
                                ctl_misfit_str((enum ctl_misfit)m));
        sep = ", ";
    }
    if (no_room > 0 && len < sizeof d->why)
        snprintf(d->why + len, sizeof d->why - len, "%s%u without room on their GPUs (%s)", sep,
                 no_room, place_why_str(why));
}

static void decide_pod(struct ctl_gpu_node *nodes, size_t nnodes, const struct ctl_pod *p,
                       enum place_policy policy, struct ctl_decision *d)
{
    struct candidate cur, best;
    unsigned misfits[CTL_MISFIT_COUNT] = {0}, no_room = 0;
    enum place_why why = PLACE_NO_MEMORY;
    int chosen = -1;
    d->node = -1;
    d->why[0] = '\0';
    if (total_slices(p) > CTL_MAX_SLICES || p->nasks == 0) {
        snprintf(d->why, sizeof d->why, "asks for %u slices; one pod may have 1 to %d",
                 total_slices(p), CTL_MAX_SLICES);
        return;
    }
    for (size_t i = 0; i < nnodes; i++) {
        enum ctl_misfit m = ctl_fit(p, nodes[i].node, &nodes[i].room);
        if (m != CTL_FITS) {
            misfits[m]++;
            continue;
        }
        if (!try_node(&nodes[i], p, policy, &cur)) {
            no_room++;
            why = cur.why;
            continue;
        }
        if (chosen < 0 || better(&cur, &best)) {
            best = cur;
            chosen = (int)i;
        }
        if (policy == PLACE_FIRST_FIT)
            break;
    }
    if (chosen >= 0)
        commit(&nodes[chosen], chosen, p, &best, d);
    else
        explain(d, nnodes, misfits, no_room, why);
}

/* Compute slices a pod asks for ("3g.20gb" counts 3), for the best-fit order. */
static unsigned weight(const struct ctl_pod *p)
{
    unsigned w = 0;
    for (unsigned a = 0; a < p->nasks; a++)
        w += (unsigned)strtoul(p->asks[a].profile, NULL, 10) * p->asks[a].count;
    return w;
}

struct order {
    size_t i;
    unsigned w;
};

static int cmp_order(const void *a, const void *b)
{
    const struct order *x = a, *y = b;
    if (x->w != y->w)
        return x->w > y->w ? -1 : 1;
    return x->i < y->i ? -1 : (x->i > y->i);
}

void ctl_schedule(struct ctl_gpu_node *nodes, size_t nnodes, const struct ctl_pod *const *pods,
                  size_t npods, enum place_policy policy, struct ctl_decision *out)
{
    struct order *ord = xcalloc(npods ? npods : 1, sizeof *ord);
    for (size_t i = 0; i < npods; i++)
        ord[i] = (struct order){i, policy == PLACE_BEST_FIT ? weight(pods[i]) : 0};
    qsort(ord, npods, sizeof *ord, cmp_order);
    for (size_t k = 0; k < npods; k++)
        decide_pod(nodes, nnodes, pods[ord[k].i], policy, &out[ord[k].i]);
    free(ord);
}
