/* gencatalog — build-time generator of core's GPU catalog (docs/internals/catalog.md).
 *
 *   gencatalog <in.json> <out.c>
 *
 * Reads data/mig-profiles.json with jansson, validates it strictly, and writes a C file that
 * defines `cat_gpu_table[]` and `cat_gpu_table_len` (src/core/catalog.h). On any problem it
 * prints one message naming the GPU, profile and field to stderr and exits 1; the output is
 * written to "<out.c>.tmp" and renamed into place only when complete, so a failed run never
 * leaves a partial or stale-but-new output file.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../src/core/catalog.h" /* the CAT_MAX_* limits the tables must respect */

#define MAX_INPUT_BYTES (4u << 20) /* the reference is ~150 KiB */
#define MAX_GPUS        64
#define MAX_ALIASES     16
#define MAX_PCI_IDS     32
#define MAX_NAME_LEN    96 /* bytes, for names and aliases */
#define MAX_ID          255u

struct gen_profile {
    const char *name;
    unsigned nvml_index, info_id, compute_slices, mem_slices, max_count, sm_count;
    uint32_t memory_mib;
    unsigned nplacements;
    unsigned start[CAT_MAX_PLACEMENTS];
};

struct gen_gpu {
    const char *name;
    const char *alias[MAX_ALIASES];
    size_t alias_len[MAX_ALIASES]; /* without any " (...)" note */
    unsigned naliases;
    unsigned pci;
    unsigned pci_ids[MAX_PCI_IDS];
    unsigned npci_ids;
    unsigned nvml_arch, mem_slices, compute_slices, max_instances;
    uint32_t memory_mib;
    unsigned nprofiles;
    struct gen_profile prof[CAT_MAX_PROFILES];
};

/* Where in the input a check is: "gpus[3] (NVIDIA H100 80GB HBM3): profiles[2] (1g.10gb)". */
struct ctx {
    const char *file;
    char where[512];
};

__attribute__((format(printf, 2, 3))) static int fail(const struct ctx *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "gencatalog: %s: %s%s", c->file, c->where, c->where[0] ? ": " : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

/* ---- typed field access --------------------------------------------------------------- */

static int get_field(const struct ctx *c, const json_t *obj, const char *key, json_t **out)
{
    *out = json_object_get(obj, key);
    if (!*out)
        return fail(c, "field \"%s\" is missing", key);
    return 0;
}

/* An integer in [lo, hi]; with `nullable`, null reads as 0. */
static int get_uint(const struct ctx *c, const json_t *obj, const char *key, bool nullable,
                    unsigned long long lo, unsigned long long hi, unsigned long long *out)
{
    json_t *v;
    if (get_field(c, obj, key, &v) < 0)
        return -1;
    if (nullable && json_is_null(v)) {
        *out = 0;
        return 0;
    }
    if (!json_is_integer(v))
        return fail(c, "field \"%s\" must be an integer%s, not %s", key, nullable ? " or null" : "",
                    type_name(v));
    json_int_t n = json_integer_value(v);
    if (n < 0 || (unsigned long long)n < lo || (unsigned long long)n > hi)
        return fail(c, "field \"%s\" is %lld, outside %llu..%llu", key, (long long)n, lo, hi);
    *out = (unsigned long long)n;
    return 0;
}

static int get_u(const struct ctx *c, const json_t *obj, const char *key, unsigned lo, unsigned hi,
                 unsigned *out)
{
    unsigned long long v;
    if (get_uint(c, obj, key, false, lo, hi, &v) < 0)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* A non-empty string of at most MAX_NAME_LEN bytes. */
static int check_name(const struct ctx *c, const char *what, const json_t *v)
{
    if (!json_is_string(v))
        return fail(c, "%s must be a string, not %s", what, type_name(v));
    size_t len = json_string_length(v);
    if (len == 0)
        return fail(c, "%s is empty", what);
    if (len > MAX_NAME_LEN)
        return fail(c, "%s is longer than %d bytes", what, MAX_NAME_LEN);
    return 0;
}

static int get_name(const struct ctx *c, const json_t *obj, const char *key, const char **out)
{
    json_t *v;
    char what[64];
    snprintf(what, sizeof what, "field \"%s\"", key);
    if (get_field(c, obj, key, &v) < 0 || check_name(c, what, v) < 0)
        return -1;
    *out = json_string_value(v);
    return 0;
}

static int get_array(const struct ctx *c, const json_t *obj, const char *key, size_t min,
                     size_t max, json_t **out)
{
    if (get_field(c, obj, key, out) < 0)
        return -1;
    if (!json_is_array(*out))
        return fail(c, "field \"%s\" must be an array, not %s", key, type_name(*out));
    size_t n = json_array_size(*out);
    if (n < min || n > max)
        return fail(c, "field \"%s\" has %zu entries, must have %zu..%zu", key, n, min, max);
    return 0;
}

/* "0x20B0": 0x followed by 1 to 4 hex digits, not zero. */
static int parse_pci(const struct ctx *c, const char *what, const json_t *v, unsigned *out)
{
    if (!json_is_string(v))
        return fail(c, "%s must be a string like \"0x20B0\", not %s", what, type_name(v));
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    unsigned id = 0;
    bool ok = len >= 3 && len <= 6 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    for (size_t i = 2; ok && i < len; i++) {
        char ch = s[i];
        unsigned d = ch >= '0' && ch <= '9'   ? (unsigned)(ch - '0')
                     : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                     : ch >= 'A' && ch <= 'F' ? (unsigned)(ch - 'A' + 10)
                                              : 16u;
        ok = d < 16;
        id = id * 16 + d;
    }
    if (!ok || id == 0)
        return fail(c, "%s \"%s\" is not a 16-bit PCI device id like \"0x20B0\"", what, s);
    *out = id;
    return 0;
}

/* ---- names as the lookups compare them (src/core/catalog.c) ---------------------------- */

/* Lowercase, without ' ', '-', '_' and without a leading "nvidia". */
static void normalise(const char *s, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < cap; i++) {
        char ch = s[i];
        if (ch == ' ' || ch == '-' || ch == '_')
            continue;
        out[n++] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
    }
    out[n] = '\0';
    if (strncmp(out, "nvidia", 6) == 0)
        memmove(out, out + 6, n - 6 + 1);
}

/* Alias length without a trailing " (...)" note; 0 when parentheses appear anywhere else. */
static size_t alias_length(const char *s, size_t len)
{
    size_t plain = strcspn(s, "()");
    if (plain == len)
        return len;
    if (plain < 2 || s[plain] != '(' || s[plain - 1] != ' ' || s[len - 1] != ')' ||
        strcspn(s + plain + 1, "()") != len - plain - 2)
        return 0;
    size_t n = plain - 1;
    while (n > 0 && s[n - 1] == ' ')
        n--;
    return n;
}

/* ---- one profile ------------------------------------------------------------------------ */

static int parse_placements(const struct ctx *c, const json_t *jp, const struct gen_gpu *g,
                            struct gen_profile *p)
{
    json_t *arr, *pl;
    size_t i;
    if (get_array(c, jp, "placements", 1, CAT_MAX_PLACEMENTS, &arr) < 0)
        return -1;
    struct ctx pc = *c;
    size_t base = strlen(pc.where);
    json_array_foreach(arr, i, pl)
    {
        unsigned start, size;
        snprintf(pc.where + base, sizeof pc.where - base, ": placements[%zu]", i);
        if (!json_is_object(pl))
            return fail(&pc, "must be an object {start, size}, not %s", type_name(pl));
        if (get_u(&pc, pl, "start", 0, CAT_MAX_MEM_SLICES - 1, &start) < 0 ||
            get_u(&pc, pl, "size", 1, CAT_MAX_MEM_SLICES, &size) < 0)
            return -1;
        if (size != p->mem_slices)
            return fail(&pc, "size %u differs from memory_slices_per_instance %u", size,
                        p->mem_slices);
        if (start + size > g->mem_slices)
            return fail(&pc, "start %u + size %u lies outside the GPU's %u-slice grid", start, size,
                        g->mem_slices);
        for (size_t k = 0; k < i; k++)
            if (p->start[k] == start)
                return fail(&pc, "placement %u:%u is listed twice", start, size);
        p->start[i] = start;
    }
    p->nplacements = (unsigned)json_array_size(arr);
    return 0;
}

static int parse_profile(const struct ctx *c, const json_t *jp, const struct gen_gpu *g,
                         struct gen_profile *p)
{
    unsigned long long mib, sm;
    if (!json_is_object(jp))
        return fail(c, "must be an object, not %s", type_name(jp));
    if (get_name(c, jp, "name", &p->name) < 0 ||
        get_u(c, jp, "nvml_profile_id", 0, MAX_ID, &p->nvml_index) < 0 ||
        get_u(c, jp, "nvml_info_id", 0, MAX_ID, &p->info_id) < 0 ||
        get_u(c, jp, "slices", 1, g->compute_slices, &p->compute_slices) < 0 ||
        get_u(c, jp, "memory_slices_per_instance", 1, g->mem_slices, &p->mem_slices) < 0 ||
        get_uint(c, jp, "memory_mib", true, 0, UINT32_MAX, &mib) < 0 ||
        get_uint(c, jp, "sm_count", true, 0, UINT16_MAX, &sm) < 0 ||
        get_u(c, jp, "max_count", 1, g->max_instances, &p->max_count) < 0 ||
        parse_placements(c, jp, g, p) < 0)
        return -1;
    p->memory_mib = (uint32_t)mib;
    p->sm_count = (unsigned)sm;
    if (p->max_count > p->nplacements)
        return fail(c, "max_count %u exceeds the %u placements listed", p->max_count,
                    p->nplacements);
    return 0;
}

/* Names, NVML profile indices and info ids are unique within a GPU. */
static int check_profile_unique(const struct ctx *c, const struct gen_gpu *g, unsigned i)
{
    const struct gen_profile *p = &g->prof[i];
    for (unsigned k = 0; k < i; k++) {
        const struct gen_profile *q = &g->prof[k];
        if (strcmp(p->name, q->name) == 0)
            return fail(c, "profile name \"%s\" is used twice", p->name);
        if (p->nvml_index == q->nvml_index)
            return fail(c, "nvml_profile_id %u is also used by \"%s\"", p->nvml_index, q->name);
        if (p->info_id == q->info_id)
            return fail(c, "nvml_info_id %u is also used by \"%s\"", p->info_id, q->name);
    }
    return 0;
}

static int parse_profiles(const struct ctx *c, const json_t *jg, struct gen_gpu *g)
{
    json_t *arr, *jp;
    size_t i;
    unsigned width = 0;
    if (get_array(c, jg, "profiles", 1, CAT_MAX_PROFILES, &arr) < 0)
        return -1;
    struct ctx pc = *c;
    size_t base = strlen(pc.where);
    json_array_foreach(arr, i, jp)
    {
        const json_t *nm = json_is_object(jp) ? json_object_get(jp, "name") : NULL;
        snprintf(pc.where + base, sizeof pc.where - base, ": profiles[%zu] (%s)", i,
                 json_is_string(nm) ? json_string_value(nm) : "?");
        struct gen_profile *p = &g->prof[i];
        if (parse_profile(&pc, jp, g, p) < 0 || check_profile_unique(&pc, g, (unsigned)i) < 0)
            return -1;
        for (unsigned k = 0; k < p->nplacements; k++)
            if (p->start[k] + p->mem_slices > width)
                width = p->start[k] + p->mem_slices;
    }
    g->nprofiles = (unsigned)json_array_size(arr);
    /* The reference defines memory_slices as max(start + size) over all placements. */
    if (width != g->mem_slices)
        return fail(c, "memory_slices is %u but the placements span %u slices", g->mem_slices,
                    width);
    return 0;
}

/* ---- one GPU ------------------------------------------------------------------------------ */

static int parse_aliases(const struct ctx *c, const json_t *jg, struct gen_gpu *g)
{
    json_t *arr, *v;
    size_t i;
    if (get_array(c, jg, "aliases", 0, MAX_ALIASES, &arr) < 0)
        return -1;
    json_array_foreach(arr, i, v)
    {
        char what[64];
        snprintf(what, sizeof what, "aliases[%zu]", i);
        if (check_name(c, what, v) < 0)
            return -1;
        const char *s = json_string_value(v);
        size_t len = alias_length(s, json_string_length(v));
        if (len == 0)
            return fail(c, "%s \"%s\": only a trailing \" (...)\" note may use parentheses", what,
                        s);
        g->alias[i] = s;
        g->alias_len[i] = len;
    }
    g->naliases = (unsigned)json_array_size(arr);
    return 0;
}

/* The related ids, with the primary id first when the list lacks it. */
static int parse_pci_ids(const struct ctx *c, const json_t *jg, struct gen_gpu *g)
{
    json_t *v, *arr;
    size_t i;
    if (get_field(c, jg, "pci_device_id", &v) < 0 ||
        parse_pci(c, "field \"pci_device_id\"", v, &g->pci) < 0 ||
        get_array(c, jg, "related_pci_device_ids_same_profiles", 0, MAX_PCI_IDS - 1, &arr) < 0)
        return -1;
    bool has_primary = false;
    json_array_foreach(arr, i, v)
    {
        char what[80];
        unsigned id;
        snprintf(what, sizeof what, "related_pci_device_ids_same_profiles[%zu]", i);
        if (parse_pci(c, what, v, &id) < 0)
            return -1;
        if (id == g->pci)
            has_primary = true;
        for (unsigned k = 0; k < i; k++)
            if (g->pci_ids[k] == id)
                return fail(c, "%s 0x%04X is listed twice", what, id);
        g->pci_ids[i] = id;
    }
    g->npci_ids = (unsigned)json_array_size(arr);
    if (!has_primary) {
        memmove(&g->pci_ids[1], &g->pci_ids[0], g->npci_ids * sizeof g->pci_ids[0]);
        g->pci_ids[0] = g->pci;
        g->npci_ids++;
    }
    return 0;
}

static int parse_gpu(const struct ctx *c, const json_t *jg, struct gen_gpu *g)
{
    unsigned long long mib;
    if (!json_is_object(jg))
        return fail(c, "must be an object, not %s", type_name(jg));
    if (get_name(c, jg, "name", &g->name) < 0 || parse_aliases(c, jg, g) < 0 ||
        parse_pci_ids(c, jg, g) < 0 || get_u(c, jg, "nvml_arch", 0, MAX_ID, &g->nvml_arch) < 0 ||
        get_u(c, jg, "memory_slices", 1, CAT_MAX_MEM_SLICES, &g->mem_slices) < 0 ||
        get_u(c, jg, "compute_slices", 1, MAX_ID, &g->compute_slices) < 0 ||
        get_u(c, jg, "max_instances", 1, g->compute_slices, &g->max_instances) < 0 ||
        get_uint(c, jg, "memory_mib", true, 0, UINT32_MAX, &mib) < 0)
        return -1;
    g->memory_mib = (uint32_t)mib;
    return parse_profiles(c, jg, g);
}

/* Across models: primary PCI ids differ, and no name or alias of one model equals (normalised)
 * one of another, so an exact lookup never has two answers. */
static int check_models_distinct(const struct ctx *c, const struct gen_gpu *g, size_t n)
{
    char a[MAX_NAME_LEN + 1], b[MAX_NAME_LEN + 1];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (g[i].pci == g[j].pci)
                return fail(c, "\"%s\" and \"%s\" have the same pci_device_id 0x%04X", g[j].name,
                            g[i].name, g[i].pci);
            for (unsigned x = 0; x <= g[i].naliases; x++) {
                const char *sx = x == 0 ? g[i].name : g[i].alias[x - 1];
                normalise(sx, x == 0 ? strlen(sx) : g[i].alias_len[x - 1], a, sizeof a);
                if (a[0] == '\0')
                    return fail(c, "\"%s\": name or alias \"%s\" is empty once normalised",
                                g[i].name, sx);
                for (unsigned y = 0; y <= g[j].naliases; y++) {
                    const char *sy = y == 0 ? g[j].name : g[j].alias[y - 1];
                    normalise(sy, y == 0 ? strlen(sy) : g[j].alias_len[y - 1], b, sizeof b);
                    if (strcmp(a, b) == 0)
                        return fail(c,
                                    "\"%s\" (of \"%s\") and \"%s\" (of \"%s\") name the same "
                                    "model once normalised",
                                    sx, g[i].name, sy, g[j].name);
                }
            }
        }
    }
    return 0;
}

/* Reads and validates the whole file; 0 or -1 after a message. `*root` keeps the strings. */
static int parse_file(const char *file, json_t **root, struct gen_gpu **gpus, size_t *ngpus)
{
    struct ctx c = {.file = file};
    json_error_t jerr;
    *root = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
    if (!*root)
        return fail(&c, "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
    if (!json_is_object(*root))
        return fail(&c, "the top level must be an object, not %s", type_name(*root));
    json_t *arr, *jg;
    size_t i;
    if (get_array(&c, *root, "gpus", 1, MAX_GPUS, &arr) < 0)
        return -1;
    *ngpus = json_array_size(arr);
    *gpus = calloc(*ngpus, sizeof **gpus);
    if (!*gpus)
        return fail(&c, "out of memory");
    json_array_foreach(arr, i, jg)
    {
        const json_t *nm = json_is_object(jg) ? json_object_get(jg, "name") : NULL;
        snprintf(c.where, sizeof c.where, "gpus[%zu] (%s)", i,
                 json_is_string(nm) ? json_string_value(nm) : "?");
        if (parse_gpu(&c, jg, &(*gpus)[i]) < 0)
            return -1;
    }
    c.where[0] = '\0';
    return check_models_distinct(&c, *gpus, *ngpus);
}

/* ---- output --------------------------------------------------------------------------------- */

/* A C string literal: printable ASCII as is, '"' '\\' '?' (trigraphs) escaped, other bytes as
 * three-digit octal escapes (which, unlike \x, cannot swallow a following digit). */
static void emit_str(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\' || ch == '?')
            fprintf(f, "\\%c", ch);
        else if (ch >= 0x20 && ch < 0x7f)
            fputc(ch, f);
        else
            fprintf(f, "\\%03o", ch);
    }
    fputc('"', f);
}

/* Text inside a comment: printable ASCII except '*' (no early end) and '?' (no trigraph). */
static void emit_comment(FILE *f, const char *s)
{
    for (; *s; s++)
        fputc(*s >= 0x20 && *s < 0x7f && *s != '*' && *s != '?' ? *s : '.', f);
}

static void emit_gpu_arrays(FILE *f, const struct gen_gpu *g, size_t i)
{
    fprintf(f, "/* ---- gpus[%zu]: ", i);
    emit_comment(f, g->name);
    fprintf(f, " */\n\nstatic const char *const gpu%zu_aliases[] = {\n", i);
    for (unsigned a = 0; a < g->naliases; a++) {
        fprintf(f, "    ");
        emit_str(f, g->alias[a], g->alias_len[a]);
        fprintf(f, ",\n");
    }
    fprintf(f, "    NULL,\n};\n\nstatic const uint16_t gpu%zu_pci_ids[] = {", i);
    for (unsigned k = 0; k < g->npci_ids; k++)
        fprintf(f, "%s0x%04X", k ? ", " : "", g->pci_ids[k]);
    fprintf(f, "};\n\nstatic const struct cat_profile gpu%zu_profiles[] = {\n", i);
    for (unsigned k = 0; k < g->nprofiles; k++) {
        const struct gen_profile *p = &g->prof[k];
        fprintf(f, "    {.name = ");
        emit_str(f, p->name, strlen(p->name));
        fprintf(f,
                ",\n     .nvml_index = %u, .info_id = %u, .compute_slices = %u, .mem_slices = %u,"
                "\n     .max_count = %u, .nplacements = %u, .sm_count = %u, .memory_mib = %luu,"
                "\n     .placements = {",
                p->nvml_index, p->info_id, p->compute_slices, p->mem_slices, p->max_count,
                p->nplacements, p->sm_count, (unsigned long)p->memory_mib);
        for (unsigned n = 0; n < p->nplacements; n++)
            fprintf(f, "%s{%u, %u}", n ? ", " : "", p->start[n], p->mem_slices);
        fprintf(f, "}},\n");
    }
    fprintf(f, "};\n\n");
}

static void emit_table(FILE *f, const struct gen_gpu *g, size_t n)
{
    fprintf(f, "const struct cat_gpu cat_gpu_table[] = {\n");
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "    {.name = ");
        emit_str(f, g[i].name, strlen(g[i].name));
        fprintf(f,
                ",\n     .aliases = gpu%zu_aliases, .pci_device_id = 0x%04X, .npci_ids = %u,"
                "\n     .pci_ids = gpu%zu_pci_ids, .nvml_arch = %u, .mem_slices = %u,"
                "\n     .compute_slices = %u, .max_instances = %u, .memory_mib = %luu,"
                "\n     .nprofiles = %u, .profiles = gpu%zu_profiles},\n",
                i, g[i].pci, g[i].npci_ids, i, g[i].nvml_arch, g[i].mem_slices, g[i].compute_slices,
                g[i].max_instances, (unsigned long)g[i].memory_mib, g[i].nprofiles, i);
    }
    fprintf(f, "};\n\nconst size_t cat_gpu_table_len = sizeof cat_gpu_table / sizeof "
               "cat_gpu_table[0];\n");
}

static void emit(FILE *f, const char *in, const struct gen_gpu *g, size_t n)
{
    const char *base = strrchr(in, '/');
    fprintf(f, "/* Generated by tools/gencatalog.c from ");
    emit_comment(f, base ? base + 1 : in); /* the base name, so the output is reproducible */
    fprintf(f, ". Do not edit. */\n#include <stddef.h>\n#include <stdint.h>\n\n"
               "#include \"catalog.h\"\n\n"
               "extern const struct cat_gpu cat_gpu_table[];\n"
               "extern const size_t cat_gpu_table_len;\n\n");
    for (size_t i = 0; i < n; i++)
        emit_gpu_arrays(f, &g[i], i);
    emit_table(f, g, n);
}

/* Writes `out` atomically: "<out>.tmp", then rename. */
static int write_output(const char *in, const char *out, const struct gen_gpu *g, size_t n)
{
    struct ctx c = {.file = out};
    size_t len = strlen(out) + sizeof ".tmp";
    char *tmp = malloc(len);
    if (!tmp)
        return fail(&c, "out of memory");
    snprintf(tmp, len, "%s.tmp", out);
    int rc = 0;
    FILE *f = fopen(tmp, "w");
    if (!f) {
        rc = fail(&c, "cannot create %s: %s", tmp, strerror(errno));
    } else {
        emit(f, in, g, n);
        bool bad = ferror(f) != 0;
        if (fclose(f) != 0 || bad)
            rc = fail(&c, "cannot write %s: %s", tmp, strerror(errno));
        else if (rename(tmp, out) != 0)
            rc = fail(&c, "cannot rename %s into place: %s", tmp, strerror(errno));
        if (rc < 0)
            remove(tmp);
    }
    free(tmp);
    return rc;
}

/* Refuses inputs larger than MAX_INPUT_BYTES before parsing them. */
static int check_size(const char *file)
{
    struct ctx c = {.file = file};
    FILE *f = fopen(file, "rb");
    if (!f)
        return fail(&c, "cannot open: %s", strerror(errno));
    int rc = 0;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (size < 0)
        rc = fail(&c, "cannot find its size: %s", strerror(errno));
    else if ((unsigned long)size > MAX_INPUT_BYTES)
        rc = fail(&c, "larger than %u bytes", MAX_INPUT_BYTES);
    fclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: gencatalog <in.json> <out.c>\n");
        return 1;
    }
    json_t *root = NULL;
    struct gen_gpu *gpus = NULL;
    size_t n = 0;
    int rc = check_size(argv[1]);
    if (rc == 0)
        rc = parse_file(argv[1], &root, &gpus, &n);
    if (rc == 0)
        rc = write_output(argv[1], argv[2], gpus, n);
    free(gpus);
    json_decref(root);
    return rc == 0 ? 0 : 1;
}
