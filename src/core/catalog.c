/* catalog — lookups over the generated GPU tables (docs/internals/catalog.md).
 *
 * The tables themselves are in the build directory's gen/catalog_data.c, written by
 * tools/gencatalog.c from data/mig-profiles.json, which has already checked them (placements
 * inside the grid, unique names and ids, counts within the CAT_MAX_* limits). Here: no I/O, no
 * allocation, no state.
 */
#include <stdbool.h>
#include <string.h>

#include "catalog.h"

/* Defined in the generated gen/catalog_data.c. The models are one array, in the JSON's order,
 * so cat_gpu_at(i) == &cat_gpu_table[i]: place.c relies on models being contiguous (it finds a
 * model's index as `model - cat_gpu_at(0)`). */
extern const struct cat_gpu cat_gpu_table[];
extern const size_t cat_gpu_table_len;

size_t cat_gpu_count(void)
{
    return cat_gpu_table_len;
}

const struct cat_gpu *cat_gpu_at(size_t i)
{
    return i < cat_gpu_table_len ? &cat_gpu_table[i] : NULL;
}

/* ---- names ------------------------------------------------------------------------------- */

/* A cursor over a name in normalised form: lowercase ASCII, without ' ', '-' and '_', and
 * without a leading "nvidia". Works in place, so names of any length compare. */
struct norm {
    const char *p;
};

static char norm_next(struct norm *n)
{
    for (;;) {
        char ch = *n->p;
        if (ch == '\0')
            return '\0';
        n->p++;
        if (ch == ' ' || ch == '-' || ch == '_')
            continue;
        return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
    }
}

static struct norm norm_start(const char *s)
{
    struct norm n = {s}, t = n;
    for (const char *k = "nvidia"; *k; k++)
        if (norm_next(&t) != *k)
            return n;
    return t;
}

enum match { MATCH_NONE, MATCH_PREFIX, MATCH_EXACT };

/* How the normalised `query` matches the normalised `name`. */
static enum match match_name(const char *query, const char *name)
{
    struct norm q = norm_start(query), n = norm_start(name);
    for (char qc; (qc = norm_next(&q)) != '\0';)
        if (norm_next(&n) != qc)
            return MATCH_NONE;
    return norm_next(&n) == '\0' ? MATCH_EXACT : MATCH_PREFIX;
}

/* The best match of `query` over the model's NVML name and aliases. */
static enum match match_model(const char *query, const struct cat_gpu *gpu)
{
    enum match best = match_name(query, gpu->name);
    for (const char *const *a = gpu->aliases; best != MATCH_EXACT && *a; a++) {
        enum match m = match_name(query, *a);
        if (m > best)
            best = m;
    }
    return best;
}

const struct cat_gpu *cat_gpu_find(const char *name)
{
    const struct cat_gpu *exact = NULL, *prefix = NULL;
    size_t nexact = 0, nprefix = 0;
    if (!name)
        return NULL;
    for (size_t i = 0; i < cat_gpu_table_len; i++) {
        switch (match_model(name, &cat_gpu_table[i])) {
        case MATCH_EXACT:
            exact = &cat_gpu_table[i];
            nexact++;
            break;
        case MATCH_PREFIX:
            prefix = &cat_gpu_table[i];
            nprefix++;
            break;
        case MATCH_NONE:
            break;
        }
    }
    /* The generator refuses two models with the same normalised name, so nexact <= 1. */
    if (nexact > 0)
        return nexact == 1 ? exact : NULL;
    return nprefix == 1 ? prefix : NULL;
}

/* ---- PCI ids ----------------------------------------------------------------------------- */

const struct cat_gpu *cat_gpu_find_pci(uint32_t pci_id)
{
    uint16_t dev;
    if (pci_id <= 0xFFFFu)
        dev = (uint16_t)pci_id;
    else if ((pci_id & 0xFFFFu) == 0x10DEu) /* NVML's device << 16 | NVIDIA's vendor id */
        dev = (uint16_t)(pci_id >> 16);
    else
        return NULL;
    if (dev == 0)
        return NULL;
    for (size_t i = 0; i < cat_gpu_table_len; i++)
        if (cat_gpu_table[i].pci_device_id == dev)
            return &cat_gpu_table[i];
    /* A related id may be listed by more than one model (the reference gives GH200 480GB and
     * H20 the same list): the first such model in table order answers. */
    for (size_t i = 0; i < cat_gpu_table_len; i++)
        for (size_t k = 0; k < cat_gpu_table[i].npci_ids; k++)
            if (cat_gpu_table[i].pci_ids[k] == dev)
                return &cat_gpu_table[i];
    return NULL;
}

/* ---- profiles ---------------------------------------------------------------------------- */

int cat_profile_index(const struct cat_gpu *gpu, const char *name)
{
    if (!gpu || !name)
        return -1;
    for (int i = 0; i < gpu->nprofiles; i++)
        if (strcmp(gpu->profiles[i].name, name) == 0)
            return i;
    return -1;
}

int cat_profile_by_info_id(const struct cat_gpu *gpu, unsigned info_id)
{
    if (!gpu)
        return -1;
    for (int i = 0; i < gpu->nprofiles; i++)
        if (gpu->profiles[i].info_id == info_id)
            return i;
    return -1;
}

/* ---- lists for messages ------------------------------------------------------------------ */

/* Appends `s` to the NUL-terminated buf[0..*len), as much as fits in `cap`. */
static void append(char *buf, size_t cap, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + 1 >= cap)
        return;
    if (n > cap - 1 - *len)
        n = cap - 1 - *len;
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = '\0';
}

char *cat_profile_list(const struct cat_gpu *gpu, char *buf, size_t cap)
{
    size_t len = 0;
    if (!buf || cap == 0)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; gpu && i < gpu->nprofiles; i++) {
        if (i > 0)
            append(buf, cap, &len, ", ");
        append(buf, cap, &len, gpu->profiles[i].name);
    }
    return buf;
}

char *cat_gpu_list(char *buf, size_t cap)
{
    size_t len = 0;
    if (!buf || cap == 0)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; i < cat_gpu_table_len; i++) {
        if (i > 0)
            append(buf, cap, &len, ", ");
        append(buf, cap, &len, cat_gpu_table[i].name);
    }
    return buf;
}
