/* place — the placement engine. Design and scoring: docs/internals/placement.md. */
#include "place.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

/* place_inst.flags: placed by the running place_batch and not yet realised
 * anywhere, so it may still be moved to another start on the same GPU. */
#define INST_MOVABLE 1u

/* ---- per-model lookup tables ----------------------------------------------
 * For every occupancy bitmap b of a model (at most 2^12 of them):
 *   cap[b][p]   most instances of profile p that fit in the free slices
 *   score[b]    future-capacity score of the free slices (see placement.md)
 *   best[b][p]  start the best-fit policy picks for p, or -1 if none is free
 *   first[b][p] first free start in NVML's order, or -1
 */
struct tables {
    uint8_t nprof;
    uint8_t *cap;
    uint16_t *score;
    int8_t *best;
    int8_t *first;
};

static struct tables *model_tables;
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* Most pairwise-disjoint placements of `prof`, from index i on, that avoid `used`. */
static unsigned max_disjoint(const struct cat_profile *prof, unsigned i, uint16_t used)
{
    unsigned best = 0;
    for (; i < prof->nplacements && i < CAT_MAX_PLACEMENTS; i++) {
        uint16_t m = cat_mask(prof->placements[i].start, prof->placements[i].size);
        if ((used & m) == 0) {
            unsigned n = 1 + max_disjoint(prof, i + 1, (uint16_t)(used | m));
            if (n > best)
                best = n;
        }
    }
    return best;
}

static bool same_shape(const struct cat_profile *a, const struct cat_profile *b)
{
    return a->nplacements == b->nplacements &&
           memcmp(a->placements, b->placements, a->nplacements * sizeof a->placements[0]) == 0;
}

/* Score of bitmap b: each distinct placement shape counts once, weighted by
 * the square of its size, times how many of it still fit (capped by the
 * largest instance limit among profiles of that shape). */
static uint16_t score_of(const struct cat_gpu *model, const uint8_t *cap_row)
{
    unsigned score = 0;
    for (unsigned p = 0; p < model->nprofiles; p++) {
        const struct cat_profile *prof = &model->profiles[p];
        bool seen = false;
        unsigned limit = prof->max_count;
        for (unsigned q = 0; q < model->nprofiles; q++) {
            if (q != p && same_shape(prof, &model->profiles[q])) {
                seen = seen || q < p;
                if (model->profiles[q].max_count > limit)
                    limit = model->profiles[q].max_count;
            }
        }
        if (seen)
            continue;
        unsigned n = cap_row[p] < limit ? cap_row[p] : limit;
        score += n * prof->mem_slices * prof->mem_slices;
    }
    return (uint16_t)score;
}

static void choose_starts(const struct cat_gpu *model, struct tables *t, unsigned b)
{
    for (unsigned p = 0; p < model->nprofiles; p++) {
        const struct cat_profile *prof = &model->profiles[p];
        int first = -1, best = -1, best_score = -1;
        for (unsigned i = 0; i < prof->nplacements; i++) {
            uint16_t m = cat_mask(prof->placements[i].start, prof->placements[i].size);
            if (b & m)
                continue;
            if (first < 0)
                first = prof->placements[i].start;
            int s = t->score[b | m];
            if (s > best_score) {
                best_score = s;
                best = prof->placements[i].start;
            }
        }
        t->first[b * t->nprof + p] = (int8_t)first;
        t->best[b * t->nprof + p] = (int8_t)best;
    }
}

static void build_model_tables(const struct cat_gpu *model, struct tables *t)
{
    size_t nb = (size_t)1 << model->mem_slices;
    t->nprof = model->nprofiles;
    t->cap = xcalloc(nb, t->nprof);
    t->score = xcalloc(nb, sizeof *t->score);
    t->best = xcalloc(nb, t->nprof);
    t->first = xcalloc(nb, t->nprof);
    for (size_t b = 0; b < nb; b++) {
        uint8_t *row = &t->cap[b * t->nprof];
        for (unsigned p = 0; p < t->nprof; p++)
            row[p] = (uint8_t)max_disjoint(&model->profiles[p], 0, (uint16_t)b);
        t->score[b] = score_of(model, row);
    }
    /* Choosing needs the score of every successor bitmap: a second pass. */
    for (size_t b = 0; b < nb; b++)
        choose_starts(model, t, (unsigned)b);
}

static void build_all_tables(void)
{
    size_t n = cat_gpu_count();
    model_tables = xcalloc(n, sizeof *model_tables);
    for (size_t i = 0; i < n; i++)
        build_model_tables(cat_gpu_at(i), &model_tables[i]);
}

/* Models are stored contiguously in the catalog: the index is the offset. */
static size_t model_index(const struct cat_gpu *model)
{
    return (size_t)(model - cat_gpu_at(0));
}

static const struct tables *tables_for(const struct cat_gpu *model)
{
    pthread_once(&tables_once, build_all_tables);
    return &model_tables[model_index(model)];
}

/* ---- names -------------------------------------------------------------- */

const char *place_why_str(enum place_why why)
{
    switch (why) {
    case PLACE_OK:
        return "placed";
    case PLACE_NO_PROFILE:
        return "the GPU model has no such profile";
    case PLACE_BAD_START:
        return "NVIDIA lists no placement of this profile at that start";
    case PLACE_OVERLAP:
        return "the placement's memory slices are already taken";
    case PLACE_NO_MEMORY:
        return "every placement of this profile is taken";
    case PLACE_NO_COMPUTE:
        return "not enough free compute slices";
    case PLACE_MAX_COUNT:
        return "the profile's instance limit is reached";
    case PLACE_MAX_INSTANCES:
        return "the GPU's instance limit is reached";
    case PLACE_NOT_FOUND:
        return "no such instance";
    case PLACE_TOO_MANY:
        return "more slices than the GPUs have free instances for";
    case PLACE_MEDIA:
        return "a +me.all instance holds every media engine (only -me profiles may join it)";
    }
    return "unknown reason";
}

bool place_policy_parse(const char *name, enum place_policy *out)
{
    if (strcmp(name, "best-fit") == 0)
        *out = PLACE_BEST_FIT;
    else if (strcmp(name, "first-fit") == 0)
        *out = PLACE_FIRST_FIT;
    else
        return false;
    return true;
}

const char *place_policy_name(enum place_policy policy)
{
    return policy == PLACE_FIRST_FIT ? "first-fit" : "best-fit";
}

/* ---- one GPU --------------------------------------------------------------- */

void place_gpu_init(struct place_gpu *g, const struct cat_gpu *model)
{
    memset(g, 0, sizeof *g);
    g->model = model;
}

static bool is_listed(const struct cat_profile *prof, unsigned start)
{
    for (unsigned i = 0; i < prof->nplacements; i++)
        if (prof->placements[i].start == start)
            return true;
    return false;
}

/* Whether `prof` may share the GPU with the instances already on it, as far
 * as media engines go. */
static bool media_compatible(const struct place_gpu *g, const struct cat_profile *prof)
{
    for (unsigned i = 0; i < g->ninst; i++) {
        const struct cat_profile *other = &g->model->profiles[g->inst[i].profile];
        if ((cat_profile_all_me(prof) && !cat_profile_no_me(other)) ||
            (cat_profile_all_me(other) && !cat_profile_no_me(prof)))
            return false;
    }
    return true;
}

/* The start-independent rules: profile exists, limits, compute, media engines. */
static enum place_why check_limits(const struct place_gpu *g, unsigned profile)
{
    if (profile >= g->model->nprofiles)
        return PLACE_NO_PROFILE;
    const struct cat_profile *prof = &g->model->profiles[profile];
    if (g->ninst >= g->model->max_instances)
        return PLACE_MAX_INSTANCES;
    if (g->count[profile] >= prof->max_count)
        return PLACE_MAX_COUNT;
    if (g->compute_used + prof->compute_slices > g->model->compute_slices)
        return PLACE_NO_COMPUTE;
    if (!media_compatible(g, prof))
        return PLACE_MEDIA;
    return PLACE_OK;
}

enum place_why place_check(const struct place_gpu *g, unsigned profile, unsigned start)
{
    if (profile >= g->model->nprofiles)
        return PLACE_NO_PROFILE;
    const struct cat_profile *prof = &g->model->profiles[profile];
    if (!is_listed(prof, start))
        return PLACE_BAD_START;
    enum place_why why = check_limits(g, profile);
    if (why != PLACE_OK)
        return why;
    if (g->used & cat_mask(start, prof->mem_slices))
        return PLACE_OVERLAP;
    return PLACE_OK;
}

static void insert_inst(struct place_gpu *g, unsigned profile, unsigned start, uint64_t owner,
                        unsigned flags)
{
    const struct cat_profile *prof = &g->model->profiles[profile];
    unsigned i = g->ninst;
    while (i > 0 && g->inst[i - 1].start > start) {
        g->inst[i] = g->inst[i - 1];
        i--;
    }
    g->inst[i] = (struct place_inst){.owner = owner,
                                     .profile = (uint8_t)profile,
                                     .start = (uint8_t)start,
                                     .flags = (uint8_t)flags};
    g->ninst++;
    g->count[profile]++;
    g->compute_used = (uint8_t)(g->compute_used + prof->compute_slices);
    g->used = (uint16_t)(g->used | cat_mask(start, prof->mem_slices));
}

enum place_why place_add(struct place_gpu *g, unsigned profile, unsigned start, uint64_t owner)
{
    enum place_why why = place_check(g, profile, start);
    if (why == PLACE_OK)
        insert_inst(g, profile, start, owner, 0);
    return why;
}

enum place_why place_choose(const struct place_gpu *g, unsigned profile, enum place_policy policy,
                            unsigned *start)
{
    enum place_why why = check_limits(g, profile);
    if (why != PLACE_OK)
        return why;
    const struct tables *t = tables_for(g->model);
    const int8_t *row = policy == PLACE_FIRST_FIT ? t->first : t->best;
    int s = row[(size_t)g->used * t->nprof + profile];
    if (s < 0)
        return PLACE_NO_MEMORY;
    *start = (unsigned)s;
    return PLACE_OK;
}

enum place_why place_one(struct place_gpu *g, unsigned profile, enum place_policy policy,
                         uint64_t owner, unsigned *start)
{
    enum place_why why = place_choose(g, profile, policy, start);
    if (why == PLACE_OK)
        insert_inst(g, profile, *start, owner, 0);
    return why;
}

static void remove_at(struct place_gpu *g, unsigned i)
{
    const struct cat_profile *prof = &g->model->profiles[g->inst[i].profile];
    g->count[g->inst[i].profile]--;
    g->compute_used = (uint8_t)(g->compute_used - prof->compute_slices);
    g->used = (uint16_t)(g->used & ~cat_mask(g->inst[i].start, prof->mem_slices));
    memmove(&g->inst[i], &g->inst[i + 1], (g->ninst - i - 1) * sizeof g->inst[0]);
    g->ninst--;
}

enum place_why place_release(struct place_gpu *g, unsigned start)
{
    for (unsigned i = 0; i < g->ninst; i++) {
        if (g->inst[i].start == start) {
            remove_at(g, i);
            return PLACE_OK;
        }
    }
    return PLACE_NOT_FOUND;
}

unsigned place_release_owner(struct place_gpu *g, uint64_t owner)
{
    unsigned n = 0;
    for (unsigned i = g->ninst; i-- > 0;) {
        if (g->inst[i].owner == owner) {
            remove_at(g, i);
            n++;
        }
    }
    return n;
}

static unsigned min_u(unsigned a, unsigned b)
{
    return a < b ? a : b;
}

unsigned place_fits_more(const struct place_gpu *g, unsigned profile)
{
    if (profile >= g->model->nprofiles)
        return 0;
    const struct cat_profile *prof = &g->model->profiles[profile];
    const struct tables *t = tables_for(g->model);
    unsigned n = t->cap[(size_t)g->used * t->nprof + profile];
    n = min_u(n, (unsigned)(g->model->compute_slices - g->compute_used) / prof->compute_slices);
    n = min_u(n, g->count[profile] < prof->max_count ? prof->max_count - g->count[profile] : 0);
    n = min_u(n, g->ninst < g->model->max_instances ? g->model->max_instances - g->ninst : 0);
    return media_compatible(g, prof) ? n : 0;
}

unsigned place_score(const struct place_gpu *g)
{
    return tables_for(g->model)->score[g->used];
}

/* ---- re-arranging one GPU ------------------------------------------------------
 * Exhaustive search for a layout of `n` items (profile indices) on top of
 * `base`, keeping the one with the highest final score. Items of the same
 * profile are placed at increasing starts, which removes equivalent orders. */
struct layout_search {
    struct place_gpu work;
    const uint8_t *items;
    unsigned n;
    uint8_t starts[PLACE_MAX_INST];
    uint8_t best_starts[PLACE_MAX_INST];
    int best_score;
};

static void search_layout(struct layout_search *ls, unsigned k)
{
    if (k == ls->n) {
        int s = (int)place_score(&ls->work);
        if (s > ls->best_score) {
            ls->best_score = s;
            memcpy(ls->best_starts, ls->starts, ls->n);
        }
        return;
    }
    unsigned p = ls->items[k];
    const struct cat_profile *prof = &ls->work.model->profiles[p];
    unsigned min_start = (k > 0 && ls->items[k - 1] == p) ? ls->starts[k - 1] + 1u : 0;
    for (unsigned i = 0; i < prof->nplacements; i++) {
        unsigned s = prof->placements[i].start;
        if (s < min_start || place_check(&ls->work, p, s) != PLACE_OK)
            continue;
        ls->starts[k] = (uint8_t)s;
        insert_inst(&ls->work, p, s, 0, 0);
        search_layout(ls, k + 1);
        place_release(&ls->work, s);
    }
}

/* Sorts items so that larger ones come first (the search prunes sooner) and
 * equal profiles are adjacent (for the increasing-start rule). */
static void sort_items(const struct cat_gpu *model, uint8_t *items, unsigned n)
{
    for (unsigned i = 1; i < n; i++) {
        uint8_t it = items[i];
        unsigned j = i;
        while (j > 0 &&
               (model->profiles[items[j - 1]].mem_slices < model->profiles[it].mem_slices ||
                (model->profiles[items[j - 1]].mem_slices == model->profiles[it].mem_slices &&
                 items[j - 1] > it))) {
            items[j] = items[j - 1];
            j--;
        }
        items[j] = it;
    }
}

/* ---- batches ------------------------------------------------------------------- */

struct batch {
    struct place_gpu *gpus;
    size_t ngpus;
    enum place_policy policy;
    const struct place_req *reqs;
    struct place_slice *slices;
    size_t nslices; /* slices written so far */
    int8_t *prof;   /* [req][model]: profile index of the request on each model, or -1 */
    size_t nmodels;
    size_t free_inst;    /* instances all GPUs could still take: a bound on any request */
    int32_t *head;       /* [gpu]: last slice placed on it in this batch, or -1 */
    int32_t *next;       /* [slice]: previous slice on the same GPU, or -1 */
    uint32_t *slice_req; /* [slice]: request index */
    uint32_t *touched;   /* GPUs with a movable instance, in first-touch order */
    size_t ntouched;
    /* Undo log of the request being placed. */
    struct undo_gpu {
        uint32_t gpu;
        int32_t head;
        struct place_gpu copy;
    } * undo;
    size_t nundo;
    struct undo_slice {
        uint32_t slice;
        uint8_t start;
    } * undo_slices;
    size_t nundo_slices, cap_undo_slices;
    uint8_t *undo_seen; /* [gpu]: saved in the current request's undo log */
};

static int request_profile(const struct batch *bt, size_t r, const struct place_gpu *g)
{
    return bt->prof[r * bt->nmodels + model_index(g->model)];
}

static void save_gpu(struct batch *bt, uint32_t gi)
{
    if (bt->undo_seen[gi])
        return;
    bt->undo_seen[gi] = 1;
    struct undo_gpu *u = &bt->undo[bt->nundo++];
    u->gpu = gi;
    u->head = bt->head[gi];
    u->copy = bt->gpus[gi];
}

static void record(struct batch *bt, uint32_t gi, size_t r, unsigned profile, unsigned start)
{
    size_t si = bt->nslices++;
    bt->slices[si] =
        (struct place_slice){.gpu = gi, .profile = (uint8_t)profile, .start = (uint8_t)start};
    bt->slice_req[si] = (uint32_t)r;
    bt->next[si] = bt->head[gi];
    if (bt->head[gi] < 0)
        bt->touched[bt->ntouched++] = gi;
    bt->head[gi] = (int32_t)si;
}

/* Ordering key of a candidate GPU for best-fit: used GPUs before empty ones,
 * then the least capacity lost, then the fullest, then the lowest index. */
struct cand {
    unsigned empty, loss, free_slices;
};

static bool cand_better(const struct cand *a, const struct cand *b)
{
    if (a->empty != b->empty)
        return a->empty < b->empty;
    if (a->loss != b->loss)
        return a->loss < b->loss;
    return a->free_slices < b->free_slices;
}

/* The most common refusal reason among eligible GPUs. */
static enum place_why common_why(const unsigned *why_count)
{
    enum place_why best = PLACE_NO_PROFILE;
    unsigned n = 0;
    for (int w = PLACE_NO_MEMORY; w <= PLACE_MEDIA; w++) {
        if (why_count[w] > n) {
            n = why_count[w];
            best = (enum place_why)w;
        }
    }
    return best;
}

/* Greedy step: the best GPU and start for one slice of request r. */
static enum place_why greedy_unit(struct batch *bt, size_t r, uint32_t *gpu_out,
                                  unsigned *start_out)
{
    unsigned why_count[PLACE_MEDIA + 1] = {0};
    bool found = false;
    struct cand best = {0};
    for (size_t gi = 0; gi < bt->ngpus; gi++) {
        const struct place_gpu *g = &bt->gpus[gi];
        int p = request_profile(bt, r, g);
        if (p < 0)
            continue;
        unsigned start;
        enum place_why why = place_choose(g, (unsigned)p, bt->policy, &start);
        if (why != PLACE_OK) {
            why_count[why]++;
            continue;
        }
        if (bt->policy == PLACE_FIRST_FIT) {
            *gpu_out = (uint32_t)gi;
            *start_out = start;
            return PLACE_OK;
        }
        const struct tables *t = tables_for(g->model);
        uint16_t after = (uint16_t)(g->used | cat_mask(start, g->model->profiles[p].mem_slices));
        struct cand c = {
            .empty = g->ninst == 0,
            .loss = (unsigned)(t->score[g->used] - t->score[after]),
            .free_slices = (unsigned)(g->model->mem_slices - __builtin_popcount(after)),
        };
        if (!found || cand_better(&c, &best)) {
            found = true;
            best = c;
            *gpu_out = (uint32_t)gi;
            *start_out = start;
        }
    }
    return found ? PLACE_OK : common_why(why_count);
}

/* Tries to fit one more slice of request r on GPU gi by re-arranging the
 * slices this batch already put there. On success applies the new layout
 * (updating their slice records) and returns the new slice's start. */
static bool repair_gpu(struct batch *bt, uint32_t gi, size_t r, unsigned *start_out)
{
    struct place_gpu *g = &bt->gpus[gi];
    int p = request_profile(bt, r, g);
    if (p < 0 || check_limits(g, (unsigned)p) != PLACE_OK)
        return false;
    struct layout_search ls = {.work = *g, .best_score = -1};
    uint8_t items[PLACE_MAX_INST];
    unsigned n = 0;
    for (int32_t si = bt->head[gi]; si >= 0; si = bt->next[si]) {
        items[n++] = bt->slices[si].profile;
        place_release(&ls.work, bt->slices[si].start);
    }
    items[n++] = (uint8_t)p;
    sort_items(g->model, items, n);
    ls.items = items;
    ls.n = n;
    search_layout(&ls, 0);
    if (ls.best_score < 0)
        return false;

    save_gpu(bt, gi);
    /* Hand out the new starts: each moved slice takes a start of its profile. */
    bool used_start[PLACE_MAX_INST] = {false};
    for (int32_t si = bt->head[gi]; si >= 0; si = bt->next[si]) {
        struct place_slice *sl = &bt->slices[si];
        for (unsigned k = 0; k < n; k++) {
            if (!used_start[k] && items[k] == sl->profile) {
                used_start[k] = true;
                if (bt->nundo_slices == bt->cap_undo_slices) {
                    bt->cap_undo_slices = bt->cap_undo_slices ? 2 * bt->cap_undo_slices : 64;
                    bt->undo_slices = xreallocarray(bt->undo_slices, bt->cap_undo_slices,
                                                    sizeof *bt->undo_slices);
                }
                bt->undo_slices[bt->nundo_slices++] =
                    (struct undo_slice){.slice = (uint32_t)si, .start = sl->start};
                sl->start = ls.best_starts[k];
                insert_inst(&ls.work, sl->profile, sl->start, bt->reqs[bt->slice_req[si]].owner,
                            INST_MOVABLE);
                break;
            }
        }
    }
    for (unsigned k = 0; k < n; k++) {
        if (!used_start[k]) { /* the new slice's item */
            *start_out = ls.best_starts[k];
            break;
        }
    }
    *g = ls.work;
    return true;
}

static enum place_why place_unit(struct batch *bt, size_t r)
{
    uint32_t gi = 0;
    unsigned start = 0;
    enum place_why why = greedy_unit(bt, r, &gi, &start);
    if (why != PLACE_OK && bt->policy == PLACE_BEST_FIT) {
        for (size_t t = 0; t < bt->ntouched; t++) {
            if (repair_gpu(bt, bt->touched[t], r, &start)) {
                gi = bt->touched[t];
                why = PLACE_OK;
                break;
            }
        }
        if (why == PLACE_OK) {
            int p = request_profile(bt, r, &bt->gpus[gi]);
            insert_inst(&bt->gpus[gi], (unsigned)p, start, bt->reqs[r].owner, INST_MOVABLE);
            record(bt, gi, r, (unsigned)p, start);
        }
        return why;
    }
    if (why != PLACE_OK)
        return why;
    save_gpu(bt, gi);
    int p = request_profile(bt, r, &bt->gpus[gi]);
    insert_inst(&bt->gpus[gi], (unsigned)p, start, bt->reqs[r].owner, INST_MOVABLE);
    record(bt, gi, r, (unsigned)p, start);
    return PLACE_OK;
}

/* Undoes everything the current request did. */
static void rollback(struct batch *bt, size_t first_slice)
{
    for (size_t i = bt->nundo_slices; i-- > 0;)
        bt->slices[bt->undo_slices[i].slice].start = bt->undo_slices[i].start;
    for (size_t i = bt->nundo; i-- > 0;) {
        struct undo_gpu *u = &bt->undo[i];
        bt->gpus[u->gpu] = u->copy;
        bt->head[u->gpu] = u->head;
    }
    /* GPUs first touched by this request are no longer touched. */
    while (bt->ntouched > 0 && bt->head[bt->touched[bt->ntouched - 1]] < 0)
        bt->ntouched--;
    bt->nslices = first_slice;
}

static void clear_undo(struct batch *bt)
{
    for (size_t i = 0; i < bt->nundo; i++)
        bt->undo_seen[bt->undo[i].gpu] = 0;
    bt->nundo = 0;
    bt->nundo_slices = 0;
}

static enum place_why place_request(struct batch *bt, size_t r, struct place_outcome *out)
{
    const struct place_req *req = &bt->reqs[r];
    size_t first = bt->nslices;
    enum place_why why = PLACE_OK;
    for (unsigned k = 0; k < req->count && why == PLACE_OK; k++)
        why = place_unit(bt, r);
    if (why != PLACE_OK)
        rollback(bt, first);
    clear_undo(bt);
    out->why = why;
    out->first = first;
    return why;
}

/* Resolves each request's profile name on every model; returns false (and
 * sets the outcome) when no GPU in the batch offers it or it can never fit. */
static bool resolve_request(struct batch *bt, size_t r, const uint8_t *present,
                            struct place_outcome *out)
{
    bool any = false;
    for (size_t m = 0; m < bt->nmodels; m++) {
        int p = present[m] ? cat_profile_index(cat_gpu_at(m), bt->reqs[r].profile) : -1;
        bt->prof[r * bt->nmodels + m] = (int8_t)p;
        any = any || p >= 0;
    }
    out->first = bt->nslices;
    if (!any)
        out->why = PLACE_NO_PROFILE;
    else if (bt->reqs[r].count > bt->free_inst)
        out->why = PLACE_TOO_MANY;
    else
        return true;
    return false;
}

/* Best-fit order: larger slices first (memory, then compute), then larger
 * requests, then input order. */
struct order_key {
    uint32_t req;
    uint16_t mem, compute;
    unsigned count;
};

static int cmp_order(const void *a, const void *b)
{
    const struct order_key *x = a, *y = b;
    if (x->mem != y->mem)
        return x->mem > y->mem ? -1 : 1;
    if (x->compute != y->compute)
        return x->compute > y->compute ? -1 : 1;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->req < y->req ? -1 : (x->req > y->req);
}

static struct order_key key_of(const struct batch *bt, size_t r)
{
    struct order_key k = {.req = (uint32_t)r, .count = bt->reqs[r].count};
    for (size_t m = 0; m < bt->nmodels; m++) {
        int p = bt->prof[r * bt->nmodels + m];
        if (p >= 0) {
            const struct cat_profile *prof = &cat_gpu_at(m)->profiles[p];
            k.mem = (uint16_t)(prof->mem_slices * 12 / cat_gpu_at(m)->mem_slices);
            k.compute = prof->compute_slices;
            break;
        }
    }
    return k;
}

static void batch_free(struct batch *bt)
{
    free(bt->prof);
    free(bt->head);
    free(bt->next);
    free(bt->slice_req);
    free(bt->touched);
    free(bt->undo);
    free(bt->undo_slices);
    free(bt->undo_seen);
}

static size_t total_count(const struct place_req *reqs, size_t nreqs, size_t cap)
{
    size_t n = 0;
    for (size_t r = 0; r < nreqs; r++)
        n += reqs[r].count < cap ? reqs[r].count : cap;
    return n;
}

size_t place_batch(struct place_gpu *gpus, size_t ngpus, const struct place_req *reqs, size_t nreqs,
                   enum place_policy policy, struct place_outcome *outcome,
                   struct place_slice *slices)
{
    struct batch bt = {.gpus = gpus,
                       .ngpus = ngpus,
                       .policy = policy,
                       .reqs = reqs,
                       .slices = slices,
                       .nmodels = cat_gpu_count()};
    uint8_t *present = xcalloc(bt.nmodels, 1);
    for (size_t gi = 0; gi < ngpus; gi++) {
        present[model_index(gpus[gi].model)] = 1;
        if (gpus[gi].ninst < gpus[gi].model->max_instances)
            bt.free_inst += gpus[gi].model->max_instances - gpus[gi].ninst;
    }
    size_t maxslices = total_count(reqs, nreqs, bt.free_inst) + 1;
    bt.prof = xcalloc(nreqs ? nreqs : 1, bt.nmodels);
    bt.head = xmalloc((ngpus ? ngpus : 1) * sizeof *bt.head);
    memset(bt.head, 0xff, (ngpus ? ngpus : 1) * sizeof *bt.head);
    bt.next = xcalloc(maxslices, sizeof *bt.next);
    bt.slice_req = xcalloc(maxslices, sizeof *bt.slice_req);
    bt.touched = xcalloc(ngpus ? ngpus : 1, sizeof *bt.touched);
    bt.undo = xcalloc(ngpus ? ngpus : 1, sizeof *bt.undo);
    bt.undo_seen = xcalloc(ngpus ? ngpus : 1, 1);

    struct order_key *order = xcalloc(nreqs ? nreqs : 1, sizeof *order);
    size_t norder = 0;
    for (size_t r = 0; r < nreqs; r++)
        if (resolve_request(&bt, r, present, &outcome[r]))
            order[norder++] = key_of(&bt, r);
    if (policy == PLACE_BEST_FIT)
        qsort(order, norder, sizeof *order, cmp_order);

    size_t placed = 0;
    for (size_t i = 0; i < norder; i++)
        placed += place_request(&bt, order[i].req, &outcome[order[i].req]) == PLACE_OK;

    /* The batch is decided: nothing is movable any more. */
    for (size_t t = 0; t < bt.ntouched; t++)
        for (unsigned k = 0; k < gpus[bt.touched[t]].ninst; k++)
            gpus[bt.touched[t]].inst[k].flags = 0;
    free(order);
    free(present);
    batch_free(&bt);
    return placed;
}
