#include "emu/model.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvml/nvml_abi.h"

/* Generated from data/mig-profiles.json by tools/embed.c (NUL-terminated). */
extern const unsigned char emu_profiles_json[];
extern const unsigned long emu_profiles_json_len;

/* ---- JSON field readers: each fails with the key's name ---------------------------- */

static int get_uint(const json_t *o, const char *key, unsigned max, unsigned *out,
                    struct emu_msg *m)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return emu_fail(m, "\"%s\" must be an integer in 0..%u", key, max);
    *out = (unsigned)json_integer_value(v);
    return 0;
}

/* 1 and *out when the key holds an integer in 0..max; 0 (and *out = 0) when
 * it is null or absent; -1 otherwise. */
static int get_opt_uint(const json_t *o, const char *key, unsigned max, unsigned *out,
                        struct emu_msg *m)
{
    const json_t *v = json_object_get(o, key);
    *out = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    return get_uint(o, key, max, out, m) < 0 ? -1 : 1;
}

static int get_str(const json_t *o, const char *key, char *buf, size_t cap, struct emu_msg *m)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (s == NULL || s[0] == '\0' || strlen(s) >= cap)
        return emu_fail(m, "\"%s\" must be a string of 1..%zu characters", key, cap - 1);
    memcpy(buf, s, strlen(s) + 1);
    return 0;
}

static int get_hex16(const json_t *o, const char *key, unsigned *out, struct emu_msg *m)
{
    const char *s = json_string_value(json_object_get(o, key));
    char *end;
    if (s == NULL || strncmp(s, "0x", 2) != 0 || !isxdigit((unsigned char)s[2]))
        return emu_fail(m, "\"%s\" must be a hex string like \"0x20B0\"", key);
    errno = 0;
    unsigned long v = strtoul(s + 2, &end, 16);
    if (errno != 0 || *end != '\0' || v > 0xFFFF)
        return emu_fail(m, "\"%s\" must be a 16-bit hex number, not \"%s\"", key, s);
    *out = (unsigned)v;
    return 0;
}

/* ---- one profile --------------------------------------------------------------------- */

static int load_media(const json_t *media, struct emu_profile *p, struct emu_msg *m)
{
    if (media == NULL || json_is_null(media))
        return 0;
    if (!json_is_object(media))
        return emu_fail(m, "\"media\" must be an object or null");
    if (get_opt_uint(media, "copy_engines", 1000, &p->copy_engines, m) < 0 ||
        get_opt_uint(media, "decoders", 1000, &p->decoders, m) < 0 ||
        get_opt_uint(media, "encoders", 1000, &p->encoders, m) < 0 ||
        get_opt_uint(media, "jpeg", 1000, &p->jpeg, m) < 0 ||
        get_opt_uint(media, "ofa", 1000, &p->ofa, m) < 0)
        return emu_wrap(m, "media");
    return 0;
}

static int load_placements(const json_t *arr, const struct emu_model *model, struct emu_profile *p,
                           struct emu_msg *m)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > EMU_MAX_PLACEMENTS)
        return emu_fail(m, "\"placements\" must be an array of 1..%d", EMU_MAX_PLACEMENTS);
    size_t i;
    const json_t *pl;
    json_array_foreach(arr, i, pl)
    {
        unsigned start = 0, size = 0;
        if (get_uint(pl, "start", EMU_MAX_GRID, &start, m) < 0 ||
            get_uint(pl, "size", EMU_MAX_GRID, &size, m) < 0)
            return emu_wrap(m, "placement %zu", i);
        if (size != p->size || start + size > model->grid)
            return emu_fail(m, "placement %u:%u does not fit size %u in a grid of %u", start, size,
                            p->size, model->grid);
        if (emu_profile_has_start(p, start))
            return emu_fail(m, "placement start %u is listed twice", start);
        p->starts[p->nplacements++] = start;
    }
    return 0;
}

static int load_profile(const json_t *o, const struct emu_model *model, struct emu_profile *p,
                        struct emu_msg *m)
{
    memset(p, 0, sizeof *p);
    unsigned nominal_gb = 0;
    if (get_str(o, "name", p->name, sizeof p->name, m) < 0 ||
        get_uint(o, "nvml_profile_id", NVML_GPU_INSTANCE_PROFILE_COUNT - 1, &p->index, m) < 0 ||
        get_uint(o, "nvml_info_id", 1000, &p->id, m) < 0 ||
        get_uint(o, "slices", model->compute_slices, &p->slices, m) < 0 ||
        get_uint(o, "memory_slices_per_instance", model->grid, &p->size, m) < 0 ||
        get_uint(o, "max_count", EMU_MAX_GI, &p->max_count, m) < 0 ||
        get_uint(o, "memory_gb_nominal", 100000, &nominal_gb, m) < 0 ||
        get_opt_uint(o, "sm_count", 100000, &p->sm_count, m) < 0)
        return -1;
    if (p->slices == 0 || p->size == 0 || p->max_count == 0)
        return emu_fail(m, "slices, memory_slices_per_instance and max_count must be positive");
    unsigned mib;
    int known = get_opt_uint(o, "memory_mib", 100u << 20, &mib, m);
    if (known < 0)
        return -1;
    p->memory_mib = known ? mib : (unsigned long long)nominal_gb * 1024;
    if (load_media(json_object_get(o, "media"), p, m) < 0)
        return -1;
    return load_placements(json_object_get(o, "placements"), model, p, m);
}

/* ---- one GPU model ------------------------------------------------------------------- */

static int load_aliases(const json_t *arr, struct emu_model *model, struct emu_msg *m)
{
    if (!json_is_array(arr) || json_array_size(arr) > EMU_MAX_ALIASES)
        return emu_fail(m, "\"aliases\" must be an array of at most %d", EMU_MAX_ALIASES);
    size_t i;
    const json_t *a;
    json_array_foreach(arr, i, a)
    {
        const char *s = json_string_value(a);
        if (s == NULL || s[0] == '\0')
            return emu_fail(m, "alias %zu must be a non-empty string", i);
        const char *note = strstr(s, " (");
        size_t len = note ? (size_t)(note - s) : strlen(s);
        if (len == 0 || len >= EMU_NAME_LEN)
            return emu_fail(m, "alias \"%s\" is empty or too long", s);
        memcpy(model->aliases[model->naliases], s, len);
        model->aliases[model->naliases++][len] = '\0';
    }
    return 0;
}

static int check_profiles_unique(const struct emu_model *model, struct emu_msg *m)
{
    for (unsigned i = 0; i < model->nprofiles; i++) {
        for (unsigned j = 0; j < i; j++) {
            const struct emu_profile *a = &model->profiles[i], *b = &model->profiles[j];
            if (a->index == b->index || a->id == b->id || strcmp(a->name, b->name) == 0)
                return emu_fail(m, "profiles %s and %s share a name, index or id", a->name,
                                b->name);
        }
    }
    return 0;
}

static int load_profiles(const json_t *arr, struct emu_model *model, const unsigned *ci_sizes,
                         struct emu_msg *m)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > EMU_MAX_PROFILES)
        return emu_fail(m, "\"profiles\" must be an array of 1..%d", EMU_MAX_PROFILES);
    size_t i;
    const json_t *po;
    json_array_foreach(arr, i, po)
    {
        struct emu_profile *p = &model->profiles[model->nprofiles];
        if (load_profile(po, model, p, m) < 0)
            return emu_wrap(m, "profile %zu", i);
        if (ci_sizes[p->slices] == 0)
            return emu_fail(m, "profile %s: no compute-instance sizes for %u-slice GPU instances",
                            p->name, p->slices);
        model->nprofiles++;
    }
    return check_profiles_unique(model, m);
}

/* Total memory: the JSON's, else the larger of the nominal size and the
 * largest profile (a whole-GPU profile never exceeds the GPU). */
static int load_memory(const json_t *o, struct emu_model *model, struct emu_msg *m)
{
    unsigned mib = 0, nominal_gb = 0;
    int known = get_opt_uint(o, "memory_mib", 100u << 20, &mib, m);
    if (known < 0 || get_uint(o, "memory_gb_nominal", 100000, &nominal_gb, m) < 0)
        return -1;
    if (known) {
        model->memory_mib = mib;
        return 0;
    }
    model->memory_mib = (unsigned long long)nominal_gb * 1024;
    for (unsigned i = 0; i < model->nprofiles; i++)
        if (model->profiles[i].memory_mib > model->memory_mib)
            model->memory_mib = model->profiles[i].memory_mib;
    return 0;
}

static int load_model(const json_t *o, struct emu_model *model, const unsigned *ci_sizes,
                      struct emu_msg *m)
{
    memset(model, 0, sizeof *model);
    if (get_str(o, "name", model->name, sizeof model->name, m) < 0 ||
        load_aliases(json_object_get(o, "aliases"), model, m) < 0 ||
        get_uint(o, "nvml_arch", 1000, &model->arch, m) < 0 ||
        get_hex16(o, "pci_device_id", &model->pci_device_id, m) < 0 ||
        get_uint(o, "memory_slices", EMU_MAX_GRID, &model->grid, m) < 0 ||
        get_uint(o, "compute_slices", EMU_MAX_COMPUTE, &model->compute_slices, m) < 0 ||
        get_uint(o, "max_instances", EMU_MAX_GI, &model->max_instances, m) < 0)
        return -1;
    if (model->grid == 0 || model->compute_slices == 0 || model->max_instances == 0)
        return emu_fail(m, "memory_slices, compute_slices and max_instances must be positive");
    if (load_profiles(json_object_get(o, "profiles"), model, ci_sizes, m) < 0)
        return -1;
    return load_memory(o, model, m);
}

/* "valid_ci_slice_counts_per_gi_slice_count": {"1": [1], "2": [1, 2], ...} */
static int load_ci_sizes(const json_t *root, unsigned *ci_sizes, struct emu_msg *m)
{
    const json_t *ci = json_object_get(root, "compute_instances");
    const json_t *map = json_object_get(ci, "valid_ci_slice_counts_per_gi_slice_count");
    if (!json_is_object(map))
        return emu_fail(m, "compute_instances.valid_ci_slice_counts_per_gi_slice_count missing");
    const char *key;
    const json_t *arr;
    json_object_foreach((json_t *)map, key, arr)
    {
        char *end;
        errno = 0;
        long g = strtol(key, &end, 10);
        if (errno != 0 || *end != '\0' || g < 1 || g > EMU_MAX_COMPUTE || !json_is_array(arr))
            return emu_fail(m, "valid CI sizes: bad GI slice count \"%s\"", key);
        size_t i;
        const json_t *c;
        json_array_foreach(arr, i, c)
        {
            if (!json_is_integer(c) || json_integer_value(c) < 1 || json_integer_value(c) > g)
                return emu_fail(m, "valid CI sizes for %ld-slice GIs: bad entry %zu", g, i);
            ci_sizes[g] |= 1u << json_integer_value(c);
        }
    }
    return 0;
}

int emu_catalog_load(struct emu_catalog *cat, struct emu_msg *m)
{
    memset(cat, 0, sizeof *cat);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)emu_profiles_json, emu_profiles_json_len, 0, &jerr);
    if (root == NULL)
        return emu_fail(m, "embedded mig-profiles.json, line %d: %s", jerr.line, jerr.text);
    int rc = load_ci_sizes(root, cat->ci_sizes, m);
    const json_t *gpus = json_object_get(root, "gpus");
    if (rc == 0 && (!json_is_array(gpus) || json_array_size(gpus) == 0 ||
                    json_array_size(gpus) > EMU_MAX_MODELS))
        rc = emu_fail(m, "\"gpus\" must be an array of 1..%d", EMU_MAX_MODELS);
    for (size_t i = 0; rc == 0 && i < json_array_size(gpus); i++) {
        rc = load_model(json_array_get(gpus, i), &cat->models[i], cat->ci_sizes, m);
        const char *name = json_string_value(json_object_get(json_array_get(gpus, i), "name"));
        if (rc < 0)
            emu_wrap(m, "gpus[%zu] (%s)", i, name ? name : "?");
        else
            cat->nmodels++;
    }
    json_decref(root);
    return rc < 0 ? emu_wrap(m, "embedded mig-profiles.json") : 0;
}

/* ---- lookups ------------------------------------------------------------------------- */

/* Lowercase, without spaces, '-', '_' and a leading "nvidia". */
static void normalize(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (; *in && n + 1 < cap; in++) {
        if (*in == ' ' || *in == '-' || *in == '_')
            continue;
        out[n++] = (char)tolower((unsigned char)*in);
    }
    out[n] = '\0';
    if (strncmp(out, "nvidia", 6) == 0)
        memmove(out, out + 6, n - 6 + 1);
}

/* Does the normalised model name or an alias equal (prefix=false) or start
 * with (prefix=true) the normalised query q? */
static bool model_matches(const struct emu_model *model, const char *q, bool prefix)
{
    char norm[EMU_NAME_LEN];
    size_t qlen = strlen(q);
    for (unsigned a = 0; a <= model->naliases; a++) {
        normalize(a == 0 ? model->name : model->aliases[a - 1], norm, sizeof norm);
        if (prefix ? strncmp(norm, q, qlen) == 0 : strcmp(norm, q) == 0)
            return true;
    }
    return false;
}

const struct emu_model *emu_model_find(const struct emu_catalog *cat, const char *name,
                                       bool *ambiguous)
{
    char q[EMU_NAME_LEN * 2];
    normalize(name, q, sizeof q);
    *ambiguous = false;
    if (q[0] == '\0')
        return NULL;
    for (int prefix = 0; prefix <= 1; prefix++) {
        const struct emu_model *found = NULL;
        unsigned nfound = 0;
        for (unsigned i = 0; i < cat->nmodels; i++) {
            if (model_matches(&cat->models[i], q, prefix)) {
                found = &cat->models[i];
                nfound++;
            }
        }
        if (nfound == 1)
            return found;
        if (nfound > 1) {
            *ambiguous = true;
            return NULL;
        }
    }
    return NULL;
}

void emu_model_list(const struct emu_catalog *cat, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < cat->nmodels && n < cap; i++) {
        int w = snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", cat->models[i].name);
        if (w < 0)
            break;
        n += (size_t)w;
    }
}

const struct emu_profile *emu_profile_by_index(const struct emu_model *m, unsigned index)
{
    for (unsigned i = 0; i < m->nprofiles; i++)
        if (m->profiles[i].index == index)
            return &m->profiles[i];
    return NULL;
}

const struct emu_profile *emu_profile_by_id(const struct emu_model *m, unsigned id)
{
    for (unsigned i = 0; i < m->nprofiles; i++)
        if (m->profiles[i].id == id)
            return &m->profiles[i];
    return NULL;
}

bool emu_profile_has_start(const struct emu_profile *p, unsigned start)
{
    for (unsigned i = 0; i < p->nplacements; i++)
        if (p->starts[i] == start)
            return true;
    return false;
}
