/* Placement engine: the seed's scenarios, policy behaviour, batches, and
 * property tests that check every decision against NVIDIA's tables
 * (shared/reference/mig-profiles.json, through the generated catalog) by
 * brute force. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/catalog.h"
#include "core/place.h"

static const struct cat_gpu *model(const char *name)
{
    const struct cat_gpu *m = cat_gpu_find(name);
    cr_assert_not_null(m, "model %s missing from the catalog", name);
    return m;
}

static unsigned prof(const struct cat_gpu *m, const char *name)
{
    int p = cat_profile_index(m, name);
    cr_assert_geq(p, 0, "profile %s missing on %s", name, m->name);
    return (unsigned)p;
}

/* Places `n` slices of `name`, each its own request, in one batch; returns how many fit. */
static size_t batch_n(struct place_gpu *g, size_t ngpus, const char *name, unsigned n,
                      enum place_policy pol)
{
    struct place_req *reqs = calloc(n, sizeof *reqs);
    struct place_outcome *out = calloc(n, sizeof *out);
    struct place_slice *sl = calloc(n, sizeof *sl);
    for (unsigned i = 0; i < n; i++)
        reqs[i] = (struct place_req){.profile = name, .count = 1, .owner = i + 1};
    size_t placed = place_batch(g, ngpus, reqs, n, pol, out, sl);
    free(reqs);
    free(out);
    free(sl);
    return placed;
}

/* ---- the seed's scenarios on one A100-SXM4-40GB ------------------------------- */

Test(seed, seven_1g5gb_fit_an_eighth_does_not)
{
    struct place_gpu g;
    place_gpu_init(&g, model("A100-SXM4-40GB"));
    cr_assert_eq(batch_n(&g, 1, "1g.5gb", 7, PLACE_BEST_FIT), 7);
    cr_assert_eq(g.ninst, 7);
    cr_assert_eq(g.compute_used, 7);
    unsigned start;
    cr_assert_neq(place_one(&g, prof(g.model, "1g.5gb"), PLACE_BEST_FIT, 99, &start), PLACE_OK);
    cr_assert_eq(place_fits_more(&g, prof(g.model, "1g.5gb")), 0);
}

Test(seed, eight_in_one_batch_places_seven)
{
    struct place_gpu g;
    place_gpu_init(&g, model("A100-SXM4-40GB"));
    cr_assert_eq(batch_n(&g, 1, "1g.5gb", 8, PLACE_BEST_FIT), 7);
}

Test(seed, two_3g20gb_fit_a_third_does_not)
{
    struct place_gpu g;
    place_gpu_init(&g, model("A100-SXM4-40GB"));
    cr_assert_eq(batch_n(&g, 1, "3g.20gb", 3, PLACE_BEST_FIT), 2);
    cr_assert_eq(g.used, 0xff);
}

Test(seed, one_7g40gb_fits)
{
    struct place_gpu g;
    place_gpu_init(&g, model("A100-SXM4-40GB"));
    cr_assert_eq(batch_n(&g, 1, "7g.40gb", 2, PLACE_BEST_FIT), 1);
    cr_assert_eq(g.inst[0].start, 0);
}

Test(seed, release_seven_1g_then_two_3g_fit)
{
    struct place_gpu g;
    place_gpu_init(&g, model("A100-SXM4-40GB"));
    cr_assert_eq(batch_n(&g, 1, "1g.5gb", 7, PLACE_BEST_FIT), 7);
    cr_assert_eq(batch_n(&g, 1, "3g.20gb", 1, PLACE_BEST_FIT), 0);
    for (uint64_t owner = 1; owner <= 7; owner++)
        cr_assert_eq(place_release_owner(&g, owner), 1);
    cr_assert_eq(g.ninst, 0);
    cr_assert_eq(g.used, 0);
    cr_assert_eq(g.compute_used, 0);
    cr_assert_eq(batch_n(&g, 1, "3g.20gb", 2, PLACE_BEST_FIT), 2);
}

static size_t mixed(struct place_gpu *g, const struct place_req *reqs, size_t n,
                    enum place_policy pol)
{
    struct place_outcome out[16];
    struct place_slice sl[32];
    return place_batch(g, 1, reqs, n, pol, out, sl);
}

Test(seed, mixes_that_fill_an_a100)
{
    const struct place_req mixes[][5] = {
        {{"4g.20gb", 1, 1}, {"3g.20gb", 1, 2}},
        {{"3g.20gb", 1, 1}, {"1g.5gb", 4, 2}},
        {{"2g.10gb", 3, 1}, {"1g.10gb", 1, 2}},
        {{"1g.10gb", 4, 1}},
    };
    const size_t n[] = {2, 2, 2, 1};
    for (size_t i = 0; i < 4; i++) {
        /* Best-fit fits every mix in one batch, in the given order... */
        struct place_gpu g;
        place_gpu_init(&g, model("A100-SXM4-40GB"));
        cr_assert_eq(mixed(&g, mixes[i], n[i], PLACE_BEST_FIT), n[i], "mix %zu", i);
        cr_assert_eq(g.used, 0xff, "mix %zu leaves memory slices unused", i);
        /* ...and in the reverse order. */
        struct place_req rev[5];
        for (size_t k = 0; k < n[i]; k++)
            rev[k] = mixes[i][n[i] - 1 - k];
        place_gpu_init(&g, model("A100-SXM4-40GB"));
        cr_assert_eq(mixed(&g, rev, n[i], PLACE_BEST_FIT), n[i], "reversed mix %zu", i);
    }
}

/* ---- policies ----------------------------------------------------------------- */

Test(policy, names_round_trip)
{
    enum place_policy p;
    cr_assert(place_policy_parse("best-fit", &p) && p == PLACE_BEST_FIT);
    cr_assert(place_policy_parse("first-fit", &p) && p == PLACE_FIRST_FIT);
    cr_assert_not(place_policy_parse("worst-fit", &p));
    cr_assert_str_eq(place_policy_name(PLACE_FIRST_FIT), "first-fit");
    cr_assert_str_eq(place_policy_name(PLACE_BEST_FIT), "best-fit");
}

Test(policy, lone_1g_does_not_block_the_only_4g_start)
{
    struct place_gpu g;
    place_gpu_init(&g, model("A100-SXM4-40GB"));
    unsigned start;
    cr_assert_eq(place_one(&g, prof(g.model, "1g.5gb"), PLACE_BEST_FIT, 1, &start), PLACE_OK);
    cr_assert_geq(start, 4, "best-fit put the 1g at %u, inside the only 4g.20gb placement", start);
    cr_assert_eq(place_fits_more(&g, prof(g.model, "4g.20gb")), 1);
    cr_assert_eq(place_one(&g, prof(g.model, "4g.20gb"), PLACE_BEST_FIT, 2, &start), PLACE_OK);
    cr_assert_eq(start, 0);
}

Test(policy, first_fit_takes_nvml_order_and_strands_the_4g)
{
    struct place_gpu g;
    place_gpu_init(&g, model("A100-SXM4-40GB"));
    unsigned start;
    cr_assert_eq(place_one(&g, prof(g.model, "1g.5gb"), PLACE_FIRST_FIT, 1, &start), PLACE_OK);
    cr_assert_eq(start, 0);
    cr_assert_eq(place_fits_more(&g, prof(g.model, "4g.20gb")), 0);
    cr_assert_eq(place_one(&g, prof(g.model, "4g.20gb"), PLACE_FIRST_FIT, 2, &start),
                 PLACE_NO_MEMORY);
}

Test(policy, best_fit_packs_used_gpus_before_empty_ones)
{
    struct place_gpu g[3];
    for (int i = 0; i < 3; i++)
        place_gpu_init(&g[i], model("A100-SXM4-40GB"));
    unsigned start;
    cr_assert_eq(place_add(&g[2], prof(g[2].model, "3g.20gb"), 4, 7), PLACE_OK);
    (void)start;
    cr_assert_eq(batch_n(g, 3, "1g.5gb", 4, PLACE_BEST_FIT), 4);
    cr_assert_eq(g[0].ninst, 0);
    cr_assert_eq(g[1].ninst, 0);
    cr_assert_eq(g[2].ninst, 5);
}

Test(policy, best_fit_fills_the_tightest_hole)
{
    /* GPU 0 has only a 2-slice hole left; GPU 1 has half the GPU free. A
     * 2g.10gb belongs in the hole. */
    struct place_gpu g[2];
    place_gpu_init(&g[0], model("A100-SXM4-40GB"));
    place_gpu_init(&g[1], model("A100-SXM4-40GB"));
    cr_assert_eq(place_add(&g[0], prof(g[0].model, "4g.20gb"), 0, 1), PLACE_OK);
    cr_assert_eq(place_add(&g[0], prof(g[0].model, "1g.10gb"), 6, 1), PLACE_OK);
    cr_assert_eq(place_add(&g[1], prof(g[1].model, "3g.20gb"), 4, 2), PLACE_OK);
    cr_assert_eq(batch_n(g, 2, "2g.10gb", 1, PLACE_BEST_FIT), 1);
    cr_assert_eq(g[0].ninst, 3, "the 2g.10gb went to GPU 1, leaving GPU 0's hole empty");
}

/* ---- batches -------------------------------------------------------------------- */

Test(batch, best_fit_fits_what_first_fit_strands)
{
    const struct place_req reqs[] = {{"1g.5gb", 1, 1}, {"2g.10gb", 1, 2}, {"4g.20gb", 1, 3}};
    struct place_gpu g;
    place_gpu_init(&g, model("A100-SXM4-40GB"));
    cr_assert_eq(mixed(&g, reqs, 3, PLACE_FIRST_FIT), 2);
    place_gpu_init(&g, model("A100-SXM4-40GB"));
    cr_assert_eq(mixed(&g, reqs, 3, PLACE_BEST_FIT), 3);
}

Test(batch, outcome_lists_each_requests_slices)
{
    const struct place_req reqs[] = {{"1g.5gb", 2, 10}, {"3g.20gb", 1, 20}, {"7g.40gb", 1, 30}};
    struct place_gpu g[2];
    place_gpu_init(&g[0], model("A100-SXM4-40GB"));
    place_gpu_init(&g[1], model("A100-SXM4-40GB"));
    struct place_outcome out[3];
    struct place_slice sl[4];
    cr_assert_eq(place_batch(g, 2, reqs, 3, PLACE_BEST_FIT, out, sl), 3);
    for (int r = 0; r < 3; r++) {
        cr_assert_eq(out[r].why, PLACE_OK);
        for (unsigned k = 0; k < reqs[r].count; k++) {
            const struct place_slice *s = &sl[out[r].first + k];
            const struct place_gpu *gg = &g[s->gpu];
            cr_assert_str_eq(gg->model->profiles[s->profile].name, reqs[r].profile);
            bool found = false;
            for (unsigned i = 0; i < gg->ninst; i++)
                found |= gg->inst[i].start == s->start && gg->inst[i].owner == reqs[r].owner &&
                         gg->inst[i].profile == s->profile && gg->inst[i].flags == 0;
            cr_assert(found, "request %d slice %u not on GPU %u at %u", r, k, s->gpu, s->start);
        }
    }
}

Test(batch, a_request_is_all_or_nothing)
{
    const struct place_req reqs[] = {{"3g.20gb", 1, 1}, {"4g.20gb", 2, 2}, {"1g.5gb", 3, 3}};
    struct place_gpu g, before;
    place_gpu_init(&g, model("A100-SXM4-40GB"));
    struct place_outcome out[3];
    struct place_slice sl[8];
    cr_assert_eq(place_batch(&g, 1, reqs, 3, PLACE_BEST_FIT, out, sl), 2);
    cr_assert_eq(out[1].why, PLACE_MAX_COUNT, "an A100 holds one 4g.20gb");
    cr_assert_eq(g.ninst, 4, "a refused request left slices behind");
    cr_assert_eq(g.count[prof(g.model, "4g.20gb")], 0);
    /* Nothing changes when the only request cannot fit whole. */
    before = g;
    const struct place_req big = {"1g.5gb", 2, 9};
    cr_assert_eq(place_batch(&g, 1, &big, 1, PLACE_BEST_FIT, out, sl), 0);
    cr_assert_eq(memcmp(&g, &before, sizeof g), 0);
}

Test(batch, refusals_say_why)
{
    const struct place_req reqs[] = {
        {"9g.99gb", 1, 1}, {"1g.5gb", 100000, 2}, {"7g.40gb", 1, 3}, {"1g.5gb+me", 2, 4}};
    struct place_gpu g;
    place_gpu_init(&g, model("A100-SXM4-40GB"));
    struct place_outcome out[4];
    struct place_slice sl[8];
    cr_assert_eq(place_batch(&g, 1, reqs, 4, PLACE_BEST_FIT, out, sl), 1);
    cr_assert_eq(out[0].why, PLACE_NO_PROFILE);
    cr_assert_eq(out[1].why, PLACE_TOO_MANY);
    cr_assert_eq(out[2].why, PLACE_OK);
    cr_assert_neq(out[3].why, PLACE_OK);
    cr_assert_str_neq(place_why_str(out[3].why), "");
}

Test(batch, mixed_models_route_profiles_to_the_model_that_has_them)
{
    const struct place_req reqs[] = {{"2g.12gb", 1, 1}, {"3g.20gb", 1, 2}, {"1g.6gb", 2, 3}};
    struct place_gpu g[2];
    place_gpu_init(&g[0], model("A100-SXM4-40GB"));
    place_gpu_init(&g[1], model("A30"));
    struct place_outcome out[3];
    struct place_slice sl[4];
    cr_assert_eq(place_batch(g, 2, reqs, 3, PLACE_BEST_FIT, out, sl), 3);
    cr_assert_eq(sl[out[0].first].gpu, 1);
    cr_assert_eq(sl[out[1].first].gpu, 0);
    cr_assert_eq(g[1].used, 0xf);
}

Test(batch, me_profile_limit_is_one_per_gpu)
{
    struct place_gpu g[2];
    place_gpu_init(&g[0], model("A100-SXM4-40GB"));
    place_gpu_init(&g[1], model("A100-SXM4-40GB"));
    cr_assert_eq(batch_n(g, 2, "1g.5gb+me", 3, PLACE_BEST_FIT), 2);
    cr_assert_eq(g[0].ninst, 1);
    cr_assert_eq(g[1].ninst, 1);
}

/* ---- exact placement rules ------------------------------------------------------- */

Test(rules, check_refuses_what_nvml_refuses)
{
    struct place_gpu g;
    place_gpu_init(&g, model("A100-SXM4-40GB"));
    unsigned p3 = prof(g.model, "3g.20gb"), p1 = prof(g.model, "1g.5gb");
    cr_assert_eq(place_check(&g, p3, 2), PLACE_BAD_START);
    cr_assert_eq(place_check(&g, p1, 7), PLACE_BAD_START, "1g.5gb never starts at slice 7");
    cr_assert_eq(place_check(&g, 99, 0), PLACE_NO_PROFILE);
    cr_assert_eq(place_add(&g, p3, 4, 1), PLACE_OK);
    cr_assert_eq(place_check(&g, p1, 5), PLACE_OVERLAP);
    /* 4g.20gb + 3g.20gb share an A100 (since R510): 7 of 7 compute slices. */
    cr_assert_eq(place_add(&g, prof(g.model, "4g.20gb"), 0, 2), PLACE_OK);
    cr_assert_eq(g.compute_used, 7);
    cr_assert_eq(place_check(&g, p1, 0), PLACE_NO_COMPUTE);
    cr_assert_eq(place_release(&g, 0), PLACE_OK);
    cr_assert_eq(place_add(&g, prof(g.model, "1g.5gb+me"), 0, 2), PLACE_OK);
    cr_assert_eq(place_add(&g, prof(g.model, "1g.5gb+me"), 1, 2), PLACE_MAX_COUNT);
    cr_assert_eq(place_release(&g, 3), PLACE_NOT_FOUND);
    cr_assert_eq(place_release(&g, 4), PLACE_OK);
    cr_assert_eq(g.used, 0x01);
}

Test(rules, rtx_pro_6000_uses_a_12_slice_grid)
{
    struct place_gpu g;
    place_gpu_init(&g, model("NVIDIA RTX PRO 6000 Blackwell Server Edition"));
    cr_assert_eq(batch_n(&g, 1, "1g.24gb", 5, PLACE_BEST_FIT), 4);
    cr_assert_eq(g.used, 0xfff);
    place_gpu_init(&g, g.model);
    cr_assert_eq(batch_n(&g, 1, "2g.48gb", 1, PLACE_BEST_FIT), 1);
    cr_assert_eq(place_fits_more(&g, prof(g.model, "1g.24gb")), 2);
    cr_assert_eq(place_fits_more(&g, prof(g.model, "4g.96gb")), 0);
}

Test(rules, me_all_shares_the_gpu_only_with_no_me_profiles)
{
    struct place_gpu g;
    place_gpu_init(&g, model("NVIDIA RTX PRO 6000 Blackwell Server Edition"));
    unsigned all = prof(g.model, "1g.24gb+me.all");
    cr_assert_eq(place_add(&g, prof(g.model, "1g.24gb"), 0, 1), PLACE_OK);
    cr_assert_eq(place_check(&g, all, 3), PLACE_MEDIA);
    cr_assert_eq(place_fits_more(&g, all), 0);
    cr_assert_eq(place_release(&g, 0), PLACE_OK);
    cr_assert_eq(place_add(&g, all, 0, 1), PLACE_OK);
    cr_assert_eq(place_check(&g, prof(g.model, "1g.24gb"), 3), PLACE_MEDIA);
    cr_assert_eq(place_check(&g, prof(g.model, "2g.48gb+gfx"), 6), PLACE_MEDIA);
    cr_assert_eq(place_add(&g, prof(g.model, "1g.24gb-me"), 3, 2), PLACE_OK);
    cr_assert_eq(place_add(&g, prof(g.model, "2g.48gb-me"), 6, 3), PLACE_OK);
}

/* ---- property tests against brute force ---------------------------------------- */

/* Brute force, from the instance list alone: can one more `p` go at `start`? */
static bool brute_ok(const struct place_gpu *g, unsigned p, unsigned start)
{
    const struct cat_gpu *m = g->model;
    const struct cat_profile *pr = &m->profiles[p];
    bool listed = false;
    for (unsigned i = 0; i < pr->nplacements; i++)
        listed |= pr->placements[i].start == start;
    if (!listed || g->ninst >= m->max_instances)
        return false;
    unsigned compute = 0, same = 0;
    bool all_me = pr->nvml_index == 15 || pr->nvml_index == 16; /* NVML ..._ALL_ME */
    bool no_me = pr->nvml_index == 13 || pr->nvml_index == 14;  /* NVML ..._NO_ME */
    for (unsigned i = 0; i < g->ninst; i++) {
        const struct cat_profile *q = &m->profiles[g->inst[i].profile];
        bool q_all = q->nvml_index == 15 || q->nvml_index == 16;
        bool q_no = q->nvml_index == 13 || q->nvml_index == 14;
        if ((all_me && !q_no) || (q_all && !no_me))
            return false;
        unsigned a = g->inst[i].start, b = a + q->mem_slices;
        if (start < b && a < start + pr->mem_slices)
            return false;
        compute += q->compute_slices;
        same += g->inst[i].profile == p;
    }
    return compute + pr->compute_slices <= m->compute_slices && same < pr->max_count;
}

/* Brute force: the most instances of `p` that could be added one after another. */
static unsigned brute_max(struct place_gpu *g, unsigned p)
{
    unsigned best = 0;
    const struct cat_profile *pr = &g->model->profiles[p];
    for (unsigned i = 0; i < pr->nplacements; i++) {
        unsigned s = pr->placements[i].start;
        if (!brute_ok(g, p, s))
            continue;
        struct place_gpu h = *g;
        cr_assert_eq(place_add(&h, p, s, 0), PLACE_OK);
        unsigned n = 1 + brute_max(&h, p);
        if (n > best)
            best = n;
    }
    return best;
}

static void check_invariants(const struct place_gpu *g)
{
    const struct cat_gpu *m = g->model;
    uint16_t used = 0;
    unsigned compute = 0, count[CAT_MAX_PROFILES] = {0};
    cr_assert_leq(g->ninst, m->max_instances);
    for (unsigned i = 0; i < g->ninst; i++) {
        const struct place_inst *in = &g->inst[i];
        const struct cat_profile *pr = &m->profiles[in->profile];
        bool listed = false;
        for (unsigned k = 0; k < pr->nplacements; k++)
            listed |=
                pr->placements[k].start == in->start && pr->placements[k].size == pr->mem_slices;
        cr_assert(listed, "%s: %s at %u is not a listed placement", m->name, pr->name, in->start);
        uint16_t mask = cat_mask(in->start, pr->mem_slices);
        cr_assert_eq(used & mask, 0, "%s: %s at %u overlaps", m->name, pr->name, in->start);
        used |= mask;
        compute += pr->compute_slices;
        count[in->profile]++;
        if (i > 0)
            cr_assert_lt(g->inst[i - 1].start, in->start);
    }
    cr_assert_eq(used, g->used);
    cr_assert_eq(compute, g->compute_used);
    cr_assert_leq(compute, m->compute_slices);
    for (unsigned p = 0; p < m->nprofiles; p++) {
        cr_assert_eq(count[p], g->count[p]);
        cr_assert_leq(count[p], m->profiles[p].max_count);
    }
}

static void check_decisions(struct place_gpu *g)
{
    for (unsigned p = 0; p < g->model->nprofiles; p++) {
        bool any = false;
        for (unsigned i = 0; i < g->model->profiles[p].nplacements; i++) {
            unsigned s = g->model->profiles[p].placements[i].start;
            bool ok = brute_ok(g, p, s);
            any |= ok;
            cr_assert_eq(place_check(g, p, s) == PLACE_OK, ok, "%s %s@%u: check disagrees",
                         g->model->name, g->model->profiles[p].name, s);
        }
        for (int pol = PLACE_BEST_FIT; pol <= PLACE_FIRST_FIT; pol++) {
            unsigned start = 99;
            enum place_why why = place_choose(g, p, (enum place_policy)pol, &start);
            cr_assert_eq(why == PLACE_OK, any, "%s %s: %s %s a place brute force %s",
                         g->model->name, g->model->profiles[p].name,
                         place_policy_name((enum place_policy)pol),
                         why == PLACE_OK ? "found" : "missed", any ? "finds" : "does not find");
            if (why == PLACE_OK)
                cr_assert(brute_ok(g, p, start), "chose an invalid start %u", start);
        }
        cr_assert_eq(place_fits_more(g, p), brute_max(g, p), "%s %s: fits_more", g->model->name,
                     g->model->profiles[p].name);
    }
}

Test(property, random_place_release_on_every_model)
{
    srand(12345);
    for (size_t mi = 0; mi < cat_gpu_count(); mi++) {
        const struct cat_gpu *m = cat_gpu_at(mi);
        for (int run = 0; run < 40; run++) {
            struct place_gpu g;
            place_gpu_init(&g, m);
            for (int step = 0; step < 30; step++) {
                if (g.ninst > 0 && rand() % 3 == 0) {
                    unsigned i = (unsigned)rand() % g.ninst;
                    cr_assert_eq(place_release(&g, g.inst[i].start), PLACE_OK);
                } else {
                    unsigned p = (unsigned)rand() % m->nprofiles, start;
                    enum place_policy pol = rand() % 2 ? PLACE_BEST_FIT : PLACE_FIRST_FIT;
                    (void)place_one(&g, p, pol, (uint64_t)step, &start);
                }
                check_invariants(&g);
                if (step % 3 == 0)
                    check_decisions(&g);
            }
        }
    }
}

/* Brute force: does the whole multiset `items` fit on g? */
static bool brute_fits_all(struct place_gpu *g, const unsigned *items, unsigned n)
{
    if (n == 0)
        return true;
    const struct cat_profile *pr = &g->model->profiles[items[0]];
    for (unsigned i = 0; i < pr->nplacements; i++) {
        unsigned s = pr->placements[i].start;
        if (!brute_ok(g, items[0], s))
            continue;
        struct place_gpu h = *g;
        cr_assert_eq(place_add(&h, items[0], s, 0), PLACE_OK);
        if (brute_fits_all(&h, items + 1, n - 1))
            return true;
    }
    return false;
}

Test(property, best_fit_batch_on_one_gpu_is_exact)
{
    /* Whenever a set of single-slice requests fits on one GPU together
     * (however arranged), a best-fit batch places all of them. */
    srand(777);
    for (size_t mi = 0; mi < cat_gpu_count(); mi++) {
        const struct cat_gpu *m = cat_gpu_at(mi);
        for (int run = 0; run < 150; run++) {
            struct place_gpu g;
            place_gpu_init(&g, m);
            if (rand() % 2) { /* start from a random existing layout */
                unsigned p = (unsigned)rand() % m->nprofiles, start;
                (void)place_one(&g, p, PLACE_FIRST_FIT, 0, &start);
            }
            unsigned n = 1 + (unsigned)rand() % 6, items[8];
            struct place_req reqs[8];
            for (unsigned i = 0; i < n; i++) {
                items[i] = (unsigned)rand() % m->nprofiles;
                reqs[i] = (struct place_req){m->profiles[items[i]].name, 1, i + 1};
            }
            bool fits = brute_fits_all(&g, items, n);
            struct place_outcome out[8];
            struct place_slice sl[8];
            size_t placed = place_batch(&g, 1, reqs, n, PLACE_BEST_FIT, out, sl);
            check_invariants(&g);
            if (fits)
                cr_assert_eq(placed, n, "%s run %d: %u requests fit together, placed %zu", m->name,
                             run, n, placed);
        }
    }
}
