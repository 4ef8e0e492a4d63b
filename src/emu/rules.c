#include "emu/rules.h"

/* NVML_COMPUTE_INSTANCE_PROFILE_* (nvml-abi.md §2.3) and their slice counts. */
#define CI_1_SLICE_REV1 0x7
#define CI_7_SLICE_NVL  0x8

static const unsigned ci_index_slices[NVML_COMPUTE_INSTANCE_PROFILE_COUNT] = {
    [NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE] = 1,
    [NVML_COMPUTE_INSTANCE_PROFILE_2_SLICE] = 2,
    [NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE] = 3,
    [NVML_COMPUTE_INSTANCE_PROFILE_4_SLICE] = 4,
    [NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE] = 7,
    [NVML_COMPUTE_INSTANCE_PROFILE_8_SLICE] = 8,
    [NVML_COMPUTE_INSTANCE_PROFILE_6_SLICE] = 6,
    [CI_1_SLICE_REV1] = 1,
    [CI_7_SLICE_NVL] = 7,
};

static unsigned mask(unsigned start, unsigned size)
{
    return ((1u << size) - 1u) << start;
}

static unsigned used_memory(const struct emu_gpu *g)
{
    unsigned used = 0;
    for (unsigned i = 0; i < g->ngi; i++)
        used |= mask(g->gi[i].start, g->gi[i].prof->size);
    return used;
}

static unsigned used_compute(const struct emu_gpu *g)
{
    unsigned n = 0;
    for (unsigned i = 0; i < g->ngi; i++)
        n += g->gi[i].prof->slices;
    return n;
}

static unsigned count_of(const struct emu_gpu *g, const struct emu_profile *p)
{
    unsigned n = 0;
    for (unsigned i = 0; i < g->ngi; i++)
        n += g->gi[i].prof == p;
    return n;
}

static bool all_me(const struct emu_profile *p)
{
    return p->index == EMU_GI_1_SLICE_ALL_ME || p->index == EMU_GI_2_SLICE_ALL_ME;
}

static bool no_me(const struct emu_profile *p)
{
    return p->index == EMU_GI_1_SLICE_NO_ME || p->index == EMU_GI_2_SLICE_NO_ME;
}

/* "Allocation of [an _ALL_ME] instance prevents allocation of all but _NO_ME
 * profiles" — both ways: an _ALL_ME GI cannot join anything but _NO_ME GIs. */
static bool media_conflict(const struct emu_gpu *g, const struct emu_profile *p)
{
    for (unsigned i = 0; i < g->ngi; i++) {
        const struct emu_profile *q = g->gi[i].prof;
        if ((all_me(q) && !no_me(p)) || (all_me(p) && !no_me(q)))
            return true;
    }
    return false;
}

/* Limits other than memory: compute, instance counts, media. */
static bool limits_allow(const struct emu_model *m, const struct emu_gpu *g,
                         const struct emu_profile *p)
{
    return used_compute(g) + p->slices <= m->compute_slices && g->ngi < m->max_instances &&
           count_of(g, p) < p->max_count && !media_conflict(g, p);
}

nvmlReturn_t emu_gi_check(const struct emu_model *m, const struct emu_gpu *g,
                          const struct emu_profile *p, unsigned start, unsigned size)
{
    if (size != p->size || !emu_profile_has_start(p, start))
        return NVML_ERROR_INVALID_ARGUMENT;
    if ((used_memory(g) & mask(start, size)) != 0 || !limits_allow(m, g, p))
        return NVML_ERROR_INSUFFICIENT_RESOURCES;
    return NVML_SUCCESS;
}

unsigned emu_gi_capacity(const struct emu_model *m, const struct emu_gpu *g,
                         const struct emu_profile *p)
{
    if (media_conflict(g, p))
        return 0;
    /* Placements of one profile all have the same size: taking free ones in
     * order of start is a maximum set of disjoint ones. */
    unsigned used = used_memory(g), n = 0;
    for (unsigned s = 0; s < m->grid; s++) {
        if (emu_profile_has_start(p, s) && (used & mask(s, p->size)) == 0) {
            used |= mask(s, p->size);
            n++;
        }
    }
    unsigned compute_left = (m->compute_slices - used_compute(g)) / p->slices;
    unsigned count = count_of(g, p);
    unsigned count_left = count < p->max_count ? p->max_count - count : 0;
    unsigned inst_left = g->ngi < m->max_instances ? m->max_instances - g->ngi : 0;
    if (compute_left < n)
        n = compute_left;
    if (count_left < n)
        n = count_left;
    return inst_left < n ? inst_left : n;
}

unsigned emu_gi_new_id(const struct emu_gpu *g)
{
    for (unsigned id = 1;; id++) {
        bool taken = false;
        for (unsigned i = 0; i < g->ngi && !taken; i++)
            taken = g->gi[i].id == id;
        if (!taken)
            return id;
    }
}

unsigned emu_ci_slices(const struct emu_catalog *cat, const struct emu_profile *gi_prof,
                       unsigned index)
{
    if (index >= NVML_COMPUTE_INSTANCE_PROFILE_COUNT || index == CI_7_SLICE_NVL)
        return 0;
    bool rev2 = gi_prof->index == EMU_GI_1_SLICE_REV2;
    if (index == CI_1_SLICE_REV1 ? !rev2 : rev2)
        return 0; /* assumption (docs/emulator.md): REV1 CIs exactly on REV2 GIs */
    unsigned c = ci_index_slices[index];
    unsigned g = gi_prof->slices;
    return g <= EMU_MAX_COMPUTE && (cat->ci_sizes[g] >> c & 1u) ? c : 0;
}

bool emu_ci_fits(const struct emu_gi *gi, unsigned c, unsigned start)
{
    if (c == 0 || start % c != 0 || start + c > gi->prof->slices)
        return false;
    for (unsigned i = 0; i < gi->nci; i++)
        if ((mask(gi->ci[i].start, gi->ci[i].size) & mask(start, c)) != 0)
            return false;
    return true;
}

bool emu_ci_first_fit(const struct emu_gi *gi, unsigned c, unsigned *start)
{
    for (unsigned s = 0; c > 0 && s + c <= gi->prof->slices; s += c) {
        if (emu_ci_fits(gi, c, s)) {
            *start = s;
            return true;
        }
    }
    return false;
}

unsigned emu_ci_new_id(const struct emu_gi *gi)
{
    for (unsigned id = 0;; id++) {
        bool taken = false;
        for (unsigned i = 0; i < gi->nci && !taken; i++)
            taken = gi->ci[i].id == id;
        if (!taken)
            return id;
    }
}
