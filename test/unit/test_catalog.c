/* The GPU catalog: every row equals the reference JSON (parsed here independently), named facts
 * from shared/reference/mig-profiles.json, the lookups, and the generator's refusal of broken
 * input (tools/gencatalog.c, run as a child process). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/catalog.h"

#define REPO_JSON   SLICER_SOURCE_DIR "/data/mig-profiles.json"
#define SHARED_JSON SLICER_SOURCE_DIR "/../shared/reference/mig-profiles.json"

/* ---- helpers ------------------------------------------------------------------------------ */

static json_t *load_reference(void)
{
    json_error_t jerr;
    json_t *root = json_load_file(REPO_JSON, 0, &jerr);
    cr_assert_not_null(root, "%s: line %d: %s", REPO_JSON, jerr.line, jerr.text);
    return root;
}

static json_t *ref_gpus(json_t *root)
{
    json_t *gpus = json_object_get(root, "gpus");
    cr_assert(json_is_array(gpus), "reference has no \"gpus\" array");
    return gpus;
}

static long long int_field(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    cr_assert(json_is_integer(v), "field %s is not an integer", key);
    return json_integer_value(v);
}

/* null (unknown) reads as 0, as the catalog stores it. */
static long long int_or_null(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    cr_assert(json_is_integer(v) || json_is_null(v), "field %s is neither integer nor null", key);
    return json_is_null(v) ? 0 : json_integer_value(v);
}

static const char *str_field(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    cr_assert_not_null(s, "field %s is not a string", key);
    return s;
}

static unsigned pci_value(const json_t *v)
{
    const char *s = json_string_value(v);
    cr_assert_not_null(s);
    char *end;
    unsigned long id = strtoul(s, &end, 16);
    cr_assert(*end == '\0' && id > 0 && id <= 0xFFFF, "bad pci id %s", s);
    return (unsigned)id;
}

static bool has_pci(const struct cat_gpu *g, unsigned id)
{
    for (unsigned k = 0; k < g->npci_ids; k++)
        if (g->pci_ids[k] == id)
            return true;
    return false;
}

static const struct cat_gpu *model(const char *name)
{
    const struct cat_gpu *g = cat_gpu_find(name);
    cr_assert_not_null(g, "model %s not found", name);
    return g;
}

static const struct cat_profile *profile(const struct cat_gpu *g, const char *name)
{
    int i = cat_profile_index(g, name);
    cr_assert_geq(i, 0, "%s has no profile %s", g->name, name);
    return &g->profiles[i];
}

/* Reads a whole file; NULL when it cannot be opened. Caller frees. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    for (size_t r; (r = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += r;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* ---- the catalog is the reference, row by row ------------------------------------------- */

static void check_aliases(const struct cat_gpu *g, const json_t *jg)
{
    const json_t *aliases = json_object_get(jg, "aliases");
    size_t i;
    const json_t *a;
    json_array_foreach(aliases, i, a)
    {
        /* "H800-80GB (same profile group in gpu-operator)" is stored as "H800-80GB". */
        const char *s = json_string_value(a);
        const char *note = strstr(s, " (");
        size_t len = note ? (size_t)(note - s) : strlen(s);
        cr_assert_not_null(g->aliases[i], "%s: alias %zu missing", g->name, i);
        cr_assert_eq(strlen(g->aliases[i]), len, "%s: alias %s stored as %s", g->name, s,
                     g->aliases[i]);
        cr_assert_eq(strncmp(g->aliases[i], s, len), 0, "%s: alias %s stored as %s", g->name, s,
                     g->aliases[i]);
    }
    cr_assert_null(g->aliases[json_array_size(aliases)], "%s: extra aliases", g->name);
}

static void check_pci(const struct cat_gpu *g, const json_t *jg)
{
    unsigned primary = pci_value(json_object_get(jg, "pci_device_id"));
    cr_assert_eq(g->pci_device_id, primary, "%s: pci_device_id", g->name);
    cr_assert(has_pci(g, primary), "%s: pci_ids lacks the primary id", g->name);
    const json_t *rel = json_object_get(jg, "related_pci_device_ids_same_profiles");
    size_t i, expect = json_array_size(rel);
    const json_t *v;
    bool primary_listed = false;
    json_array_foreach(rel, i, v)
    {
        cr_assert(has_pci(g, pci_value(v)), "%s: pci_ids lacks %s", g->name, json_string_value(v));
        primary_listed |= pci_value(v) == primary;
    }
    cr_assert_eq(g->npci_ids, expect + (primary_listed ? 0 : 1), "%s: npci_ids", g->name);
}

static void check_profile(const struct cat_gpu *g, const struct cat_profile *p, const json_t *jp)
{
    const char *name = str_field(jp, "name");
    cr_assert_str_eq(p->name, name, "%s: profile order", g->name);
    cr_assert_eq(p->nvml_index, int_field(jp, "nvml_profile_id"), "%s %s: index", g->name, name);
    cr_assert_eq(p->info_id, int_field(jp, "nvml_info_id"), "%s %s: info id", g->name, name);
    cr_assert_eq(p->compute_slices, int_field(jp, "slices"), "%s %s: slices", g->name, name);
    cr_assert_eq(p->mem_slices, int_field(jp, "memory_slices_per_instance"), "%s %s: mem", g->name,
                 name);
    cr_assert_eq(p->max_count, int_field(jp, "max_count"), "%s %s: max_count", g->name, name);
    cr_assert_eq(p->sm_count, int_or_null(jp, "sm_count"), "%s %s: sm_count", g->name, name);
    cr_assert_eq(p->memory_mib, int_or_null(jp, "memory_mib"), "%s %s: MiB", g->name, name);
    const json_t *pls = json_object_get(jp, "placements");
    cr_assert_eq(p->nplacements, json_array_size(pls), "%s %s: placements", g->name, name);
    size_t i;
    const json_t *pl;
    json_array_foreach(pls, i, pl)
    {
        cr_assert_eq(p->placements[i].start, int_field(pl, "start"), "%s %s: placement %zu",
                     g->name, name, i);
        cr_assert_eq(p->placements[i].size, int_field(pl, "size"), "%s %s: placement %zu", g->name,
                     name, i);
    }
}

Test(catalog, every_row_equals_the_reference_json)
{
    json_t *root = load_reference();
    json_t *gpus = ref_gpus(root);
    cr_assert_eq(cat_gpu_count(), json_array_size(gpus));
    cr_assert_eq(cat_gpu_count(), 13);
    size_t i;
    const json_t *jg;
    json_array_foreach(gpus, i, jg)
    {
        const struct cat_gpu *g = cat_gpu_at(i);
        cr_assert_not_null(g);
        cr_assert_str_eq(g->name, str_field(jg, "name"), "model %zu out of order", i);
        check_aliases(g, jg);
        check_pci(g, jg);
        cr_assert_eq(g->nvml_arch, int_field(jg, "nvml_arch"), "%s: arch", g->name);
        cr_assert_eq(g->mem_slices, int_field(jg, "memory_slices"), "%s: grid", g->name);
        cr_assert_eq(g->compute_slices, int_field(jg, "compute_slices"), "%s: compute", g->name);
        cr_assert_eq(g->max_instances, int_field(jg, "max_instances"), "%s: max", g->name);
        cr_assert_eq(g->memory_mib, int_or_null(jg, "memory_mib"), "%s: MiB", g->name);
        const json_t *profs = json_object_get(jg, "profiles");
        cr_assert_eq(g->nprofiles, json_array_size(profs), "%s: profile count", g->name);
        size_t k;
        const json_t *jp;
        json_array_foreach(profs, k, jp)
        {
            check_profile(g, &g->profiles[k], jp);
        }
    }
    json_decref(root);
}

/* place.c finds a model's index as `model - cat_gpu_at(0)`. */
Test(catalog, models_are_contiguous)
{
    for (size_t i = 0; i < cat_gpu_count(); i++)
        cr_assert_eq(cat_gpu_at(i), cat_gpu_at(0) + i);
    cr_assert_null(cat_gpu_at(cat_gpu_count()));
}

Test(catalog, every_model_finds_itself)
{
    for (size_t i = 0; i < cat_gpu_count(); i++) {
        const struct cat_gpu *g = cat_gpu_at(i);
        cr_assert_eq(cat_gpu_find(g->name), g, "%s", g->name);
        for (const char *const *a = g->aliases; *a; a++)
            cr_assert_eq(cat_gpu_find(*a), g, "alias %s of %s", *a, g->name);
        cr_assert_eq(cat_gpu_find_pci(g->pci_device_id), g, "%s by pci id", g->name);
        for (unsigned k = 0; k < g->npci_ids; k++) {
            const struct cat_gpu *h = cat_gpu_find_pci(g->pci_ids[k]);
            cr_assert(h && has_pci(h, g->pci_ids[k]), "0x%04X of %s", g->pci_ids[k], g->name);
        }
        for (int p = 0; p < g->nprofiles; p++) {
            cr_assert_eq(cat_profile_index(g, g->profiles[p].name), p);
            cr_assert_eq(cat_profile_by_info_id(g, g->profiles[p].info_id), p);
        }
    }
}

/* The repository's copy must not drift from the shared reference. */
Test(catalog, repository_json_is_the_shared_reference)
{
    size_t la, lb;
    char *shared = slurp(SHARED_JSON, &lb);
    if (!shared)
        cr_skip("%s is absent", SHARED_JSON);
    char *repo = slurp(REPO_JSON, &la);
    cr_assert_not_null(repo, "%s is missing", REPO_JSON);
    cr_assert_eq(la, lb, "data/mig-profiles.json differs in size from the shared reference");
    cr_assert_eq(memcmp(repo, shared, la), 0,
                 "data/mig-profiles.json differs from shared/reference/mig-profiles.json");
    free(repo);
    free(shared);
}

/* ---- named facts (shared/reference/mig-profiles.json) ---------------------------------- */

/* shared/reference/mig-profiles.json, "NVIDIA A100-SXM4-40GB": profile index vs info id. */
Test(facts, a100_40gb)
{
    const struct cat_gpu *g = model("NVIDIA A100-SXM4-40GB");
    cr_assert_eq(g->pci_device_id, 0x20B0);
    cr_assert_eq(g->nvml_arch, 7);
    cr_assert_eq(g->mem_slices, 8);
    cr_assert_eq(g->compute_slices, 7);
    const struct cat_profile *p = profile(g, "1g.5gb");
    cr_assert_eq(p->nvml_index, 0);
    cr_assert_eq(p->info_id, 19);
    cr_assert_eq(p->nplacements, 7);
    cr_assert_eq(profile(g, "1g.5gb+me")->max_count, 1);
    p = profile(g, "1g.10gb"); /* NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV2 */
    cr_assert_eq(p->nvml_index, 9);
    cr_assert_eq(p->info_id, 15);
    cr_assert_eq(p->mem_slices, 2);
    cr_assert_eq(p->placements[3].start, 6);
    p = profile(g, "7g.40gb");
    cr_assert_eq(p->info_id, 0);
    cr_assert_eq(p->nplacements, 1);
    cr_assert_eq(p->placements[0].start, 0);
    cr_assert_eq(p->placements[0].size, 8);
}

/* shared/reference/mig-profiles.json, "NVIDIA A30": a 4-slice grid. */
Test(facts, a30)
{
    const struct cat_gpu *g = model("A30");
    cr_assert_str_eq(g->name, "NVIDIA A30");
    cr_assert_eq(g->mem_slices, 4);
    cr_assert_eq(g->compute_slices, 4);
    cr_assert_eq(profile(g, "4g.24gb")->placements[0].size, 4);
}

/* shared/reference/mig-profiles.json, "NVIDIA RTX PRO 6000 Blackwell Server Edition": a 12-unit
 * grid (1g: {0,3,6,9}:3), and the media-engine and graphics variants. */
Test(facts, rtx_pro_6000)
{
    const struct cat_gpu *g = model("NVIDIA RTX PRO 6000 Blackwell Server Edition");
    cr_assert_eq(g->mem_slices, 12);
    cr_assert_eq(g->compute_slices, 4);
    cr_assert_eq(g->nvml_arch, 10);
    const struct cat_profile *p = profile(g, "1g.24gb");
    cr_assert_eq(p->nplacements, 4);
    for (unsigned i = 0; i < 4; i++) {
        cr_assert_eq(p->placements[i].start, 3 * i);
        cr_assert_eq(p->placements[i].size, 3);
    }
    profile(g, "1g.24gb-me");
    profile(g, "1g.24gb+me.all");
    profile(g, "2g.48gb+gfx");
    cr_assert_eq(g->nprofiles, 11);
}

/* ---- lookups ------------------------------------------------------------------------------ */

Test(lookup, by_name)
{
    const struct cat_gpu *a100 = cat_gpu_at(0);
    cr_assert_str_eq(a100->name, "NVIDIA A100-SXM4-40GB");
    cr_assert_eq(cat_gpu_find("NVIDIA A100-SXM4-40GB"), a100);
    cr_assert_eq(cat_gpu_find("A100-SXM4-40GB"), a100);
    cr_assert_eq(cat_gpu_find("a100 sxm4 40gb"), a100);
    cr_assert_eq(cat_gpu_find("nvidia_a100_sxm4_40gb"), a100);
    cr_assert_eq(cat_gpu_find("A100-PCIE-40GB"), a100);
    cr_assert_str_eq(model("H100-80GB")->name, "NVIDIA H100 80GB HBM3"); /* unique prefix */
    cr_assert_str_eq(model("H20")->name, "NVIDIA H20"); /* exact beats H200's prefix */
    cr_assert_str_eq(model("H800-80GB")->name, "NVIDIA H100 80GB HBM3"); /* note stripped */
}

Test(lookup, by_name_unhappy)
{
    cr_assert_null(cat_gpu_find("A100"));      /* 40GB and 80GB: ambiguous */
    cr_assert_null(cat_gpu_find("A100-SXM4")); /* ambiguous */
    cr_assert_null(cat_gpu_find("nonsense"));
    cr_assert_null(cat_gpu_find("A100-SXM4-40GBX"));
    cr_assert_null(cat_gpu_find(""));
    cr_assert_null(cat_gpu_find("NVIDIA"));
    cr_assert_null(cat_gpu_find(NULL));
}

Test(lookup, by_pci_id)
{
    const struct cat_gpu *a100 = model("A100-SXM4-40GB");
    cr_assert_eq(cat_gpu_find_pci(0x20B0), a100);
    cr_assert_eq(cat_gpu_find_pci(0x20B010DEu), a100);
    cr_assert_eq(cat_gpu_find_pci(0x20B1), a100); /* related */
    cr_assert_eq(cat_gpu_find_pci(0x20B110DEu), a100);
    /* 0x2342 is GH200 480GB's primary id and in H20's related list; 0x2329 is H20's primary id
     * and in GH200 480GB's list, which comes first: the primary id wins both times. */
    cr_assert_str_eq(cat_gpu_find_pci(0x2342)->name, "NVIDIA GH200 480GB");
    cr_assert_str_eq(cat_gpu_find_pci(0x2329)->name, "NVIDIA H20");
    cr_assert_str_eq(cat_gpu_find_pci(0x2331)->name, "NVIDIA H100 PCIe");
    cr_assert_null(cat_gpu_find_pci(0x1234));
    cr_assert_null(cat_gpu_find_pci(0));
    cr_assert_null(cat_gpu_find_pci(0x20B01234u)); /* not NVIDIA's vendor id */
    cr_assert_null(cat_gpu_find_pci(0x000010DEu));
}

Test(lookup, profiles)
{
    const struct cat_gpu *g = model("A100-SXM4-40GB");
    cr_assert_eq(cat_profile_index(g, "1g.5gb"), 0);
    cr_assert_eq(cat_profile_index(g, "1g.10gb"), 2);
    cr_assert_eq(cat_profile_index(g, "7g.40gb"), 6);
    cr_assert_eq(cat_profile_index(g, "1G.5GB"), -1); /* case-sensitive */
    cr_assert_eq(cat_profile_index(g, "9g.1gb"), -1);
    cr_assert_eq(cat_profile_index(g, ""), -1);
    cr_assert_eq(cat_profile_index(g, NULL), -1);
    cr_assert_eq(cat_profile_index(NULL, "1g.5gb"), -1);
    cr_assert_eq(cat_profile_by_info_id(g, 19), 0);
    cr_assert_eq(cat_profile_by_info_id(g, 15), 2);
    cr_assert_eq(cat_profile_by_info_id(g, 0), 6);
    cr_assert_eq(cat_profile_by_info_id(g, 1), -1);
    cr_assert_eq(cat_profile_by_info_id(g, 256 + 19), -1); /* no truncation to 8 bits */
    cr_assert_eq(cat_profile_by_info_id(NULL, 19), -1);
}

Test(lookup, lists_truncate_safely)
{
    const struct cat_gpu *g = model("A100-SXM4-40GB");
    char big[512], tiny[16];
    cr_assert_str_eq(cat_profile_list(g, big, sizeof big),
                     "1g.5gb, 1g.5gb+me, 1g.10gb, 2g.10gb, 3g.20gb, 4g.20gb, 7g.40gb");
    memset(tiny, 'X', sizeof tiny);
    cr_assert_eq(cat_profile_list(g, tiny, 8), tiny);
    cr_assert_str_eq(tiny, "1g.5gb,");
    for (size_t i = 8; i < sizeof tiny; i++)
        cr_assert_eq(tiny[i], 'X', "wrote past the buffer at %zu", i);
    cr_assert_str_eq(cat_profile_list(g, tiny, 1), "");
    memset(tiny, 'X', sizeof tiny);
    cat_profile_list(g, tiny, 0);
    cr_assert_eq(tiny[0], 'X');

    /* Every model's name, in order. */
    json_t *root = load_reference();
    char expect[1024] = "";
    size_t i, len = 0;
    const json_t *jg;
    json_array_foreach(ref_gpus(root), i, jg)
    {
        len += (size_t)snprintf(expect + len, sizeof expect - len, "%s%s", i ? ", " : "",
                                str_field(jg, "name"));
    }
    json_decref(root);
    cr_assert_str_eq(cat_gpu_list(big, sizeof big), expect);
    memset(tiny, 'X', sizeof tiny);
    cr_assert_eq(cat_gpu_list(tiny, 10), tiny);
    cr_assert_str_eq(tiny, "NVIDIA A1");
    for (size_t k = 10; k < sizeof tiny; k++)
        cr_assert_eq(tiny[k], 'X', "wrote past the buffer at %zu", k);
}

/* ---- the generator refuses broken input ------------------------------------------------- */

static char tmpdir[64];

static void gen_setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/slicer-catalog.XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void gen_teardown(void)
{
    const char *names[] = {"in.json", "out.c", "out.c.tmp", "stderr.txt"};
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

TestSuite(gencatalog, .init = gen_setup, .fini = gen_teardown);

static void tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tmpdir, name);
}

/* dirname(SLICER_BINARY)/gencatalog: both are built in the build directory. */
static void gencatalog_path(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", SLICER_BINARY);
    char *slash = strrchr(buf, '/');
    cr_assert_not_null(slash);
    snprintf(slash + 1, cap - (size_t)(slash + 1 - buf), "gencatalog");
    cr_assert_eq(access(buf, X_OK), 0, "%s is not built", buf);
}

/* Runs gencatalog on in.json; returns its exit status (-1 when killed) and its stderr. */
static int run_gencatalog(char **err)
{
    char exe[4096], in[128], out[128], errpath[128];
    gencatalog_path(exe, sizeof exe);
    tmp_path(in, sizeof in, "in.json");
    tmp_path(out, sizeof out, "out.c");
    tmp_path(errpath, sizeof errpath, "stderr.txt");
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int null = open("/dev/null", O_WRONLY);
        if (fd < 0 || null < 0 || dup2(fd, 2) < 0 || dup2(null, 1) < 0)
            _exit(126);
        execl(exe, "gencatalog", in, out, (char *)NULL);
        _exit(127);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    *err = slurp(errpath, NULL);
    cr_assert_not_null(*err);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool exists(const char *name)
{
    char path[128];
    struct stat st;
    tmp_path(path, sizeof path, name);
    return stat(path, &st) == 0;
}

/* A valid one-model document; single quotes stand for double quotes. */
static const char base_doc[] =
    "{'gpus': [{'name': 'NVIDIA Test GPU', 'aliases': ['TG-1 (a note)', 'Test GPU'],"
    " 'pci_device_id': '0x1234', 'related_pci_device_ids_same_profiles': ['0x1235'],"
    " 'nvml_arch': 7, 'memory_slices': 8, 'compute_slices': 7, 'max_instances': 7,"
    " 'memory_mib': null, 'profiles': ["
    "  {'name': '1g.5gb', 'nvml_profile_id': 0, 'nvml_info_id': 19, 'slices': 1,"
    "   'memory_slices_per_instance': 1, 'memory_mib': 4864, 'sm_count': null, 'max_count': 7,"
    "   'placements': [{'start': 0, 'size': 1}, {'start': 1, 'size': 1}, {'start': 2, 'size': 1},"
    "    {'start': 3, 'size': 1}, {'start': 4, 'size': 1}, {'start': 5, 'size': 1},"
    "    {'start': 6, 'size': 1}]},"
    "  {'name': '7g.40gb', 'nvml_profile_id': 4, 'nvml_info_id': 0, 'slices': 7,"
    "   'memory_slices_per_instance': 8, 'memory_mib': 40192, 'sm_count': 98, 'max_count': 1,"
    "   'placements': [{'start': 0, 'size': 8}]}]}]}";

static json_t *doc(void)
{
    char text[sizeof base_doc];
    memcpy(text, base_doc, sizeof text);
    for (char *p = text; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    cr_assert_not_null(root, "base document: %s", jerr.text);
    return root;
}

static json_t *gpu0(json_t *d)
{
    return json_array_get(json_object_get(d, "gpus"), 0);
}

static json_t *prof(json_t *d, size_t k)
{
    return json_array_get(json_object_get(gpu0(d), "profiles"), k);
}

static json_t *placement(json_t *d, size_t k, size_t i)
{
    return json_array_get(json_object_get(prof(d, k), "placements"), i);
}

static void write_doc(json_t *d)
{
    char in[128];
    tmp_path(in, sizeof in, "in.json");
    cr_assert_eq(json_dump_file(d, in, JSON_INDENT(1)), 0);
    json_decref(d);
}

static void write_text(const char *text)
{
    char in[128];
    tmp_path(in, sizeof in, "in.json");
    FILE *f = fopen(in, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/* gencatalog exits 1, says `what` (and `also`, when given) on stderr, writes no output. */
static void expect_refused(const char *what, const char *also)
{
    char *err;
    int rc = run_gencatalog(&err);
    cr_assert_eq(rc, 1, "exit status %d, expected 1; stderr: %s", rc, err);
    cr_assert_not_null(strstr(err, what), "stderr lacks \"%s\": %s", what, err);
    if (also)
        cr_assert_not_null(strstr(err, also), "stderr lacks \"%s\": %s", also, err);
    cr_assert(!exists("out.c"), "an output file was left behind");
    cr_assert(!exists("out.c.tmp"), "a temporary file was left behind");
    free(err);
}

Test(gencatalog, accepts_the_reference)
{
    char *text = slurp(REPO_JSON, NULL);
    cr_assert_not_null(text);
    write_text(text);
    free(text);
    char *err;
    cr_assert_eq(run_gencatalog(&err), 0, "stderr: %s", err);
    cr_assert_str_eq(err, "");
    free(err);
    cr_assert(exists("out.c"));
    cr_assert(!exists("out.c.tmp"));
}

Test(gencatalog, writes_the_base_document)
{
    write_doc(doc());
    char *err, out[128];
    cr_assert_eq(run_gencatalog(&err), 0, "stderr: %s", err);
    free(err);
    tmp_path(out, sizeof out, "out.c");
    char *c = slurp(out, NULL);
    cr_assert_not_null(c);
    cr_assert_not_null(strstr(c, "#include \"catalog.h\""));
    cr_assert_not_null(strstr(c, "\"TG-1\","), "the alias note is not stripped:\n%s", c);
    cr_assert_not_null(strstr(c, "{0x1234, 0x1235}"), "the primary pci id is not added:\n%s", c);
    cr_assert_not_null(strstr(c, "const size_t cat_gpu_table_len"));
    free(c);
}

Test(gencatalog, escapes_strings)
{
    json_t *d = doc();
    json_object_set_new(gpu0(d), "name", json_string("Odd \"GPU\" \\ ?\?/ \xc3\xa9 */"));
    write_doc(d);
    char *err, out[128];
    cr_assert_eq(run_gencatalog(&err), 0, "stderr: %s", err);
    free(err);
    tmp_path(out, sizeof out, "out.c");
    char *c = slurp(out, NULL);
    cr_assert_not_null(c);
    cr_assert_not_null(strstr(c, "\"Odd \\\"GPU\\\" \\\\ \\?\\?/ \\303\\251 */\""),
                       "badly escaped:\n%s", c);
    /* The only "*" "/" pairs close comments: one per comment opened. */
    size_t opened = 0, closed = 0;
    for (const char *p = c; (p = strstr(p, "/*")); p += 2)
        opened++;
    for (const char *p = c; (p = strstr(p, "*/")); p += 2)
        closed++;
    cr_assert_eq(closed, opened + 1, "a comment is closed early:\n%s", c); /* +1: the name */
    free(c);
}

Test(gencatalog, refuses_malformed_json)
{
    write_text("{\"gpus\": [");
    expect_refused("line 1", NULL);
}

Test(gencatalog, refuses_duplicate_keys)
{
    write_text("{\"gpus\": [], \"gpus\": []}");
    expect_refused("duplicate", NULL);
}

Test(gencatalog, refuses_a_missing_file)
{
    expect_refused("in.json", "cannot open");
}

Test(gencatalog, refuses_no_gpus)
{
    write_text("{\"description\": \"nothing\"}");
    expect_refused("\"gpus\" is missing", NULL);
}

Test(gencatalog, refuses_a_placement_outside_the_grid)
{
    json_t *d = doc();
    json_object_set_new(placement(d, 0, 6), "start", json_integer(8));
    write_doc(d);
    expect_refused("outside the GPU's 8-slice grid", "NVIDIA Test GPU");
}

Test(gencatalog, refuses_missing_placements)
{
    json_t *d = doc();
    json_object_del(prof(d, 1), "placements");
    write_doc(d);
    expect_refused("\"placements\" is missing", "7g.40gb");
}

Test(gencatalog, refuses_a_placement_of_the_wrong_size)
{
    json_t *d = doc();
    json_object_set_new(placement(d, 0, 2), "size", json_integer(2));
    write_doc(d);
    expect_refused("differs from memory_slices_per_instance", "placements[2]");
}

Test(gencatalog, refuses_a_duplicate_placement)
{
    json_t *d = doc();
    json_object_set_new(placement(d, 0, 3), "start", json_integer(1));
    write_doc(d);
    expect_refused("listed twice", "1g.5gb");
}

Test(gencatalog, refuses_too_many_placements)
{
    json_t *d = doc();
    json_t *pls = json_object_get(prof(d, 0), "placements");
    json_array_append_new(pls, json_pack("{s:i, s:i}", "start", 7, "size", 1));
    json_array_append_new(pls, json_pack("{s:i, s:i}", "start", 7, "size", 1));
    write_doc(d);
    expect_refused("\"placements\" has 9 entries", "1g.5gb");
}

Test(gencatalog, refuses_more_slices_than_the_gpu)
{
    json_t *d = doc();
    json_object_set_new(prof(d, 0), "slices", json_integer(8));
    write_doc(d);
    expect_refused("\"slices\" is 8", "1g.5gb");
}

Test(gencatalog, refuses_a_duplicate_profile_name)
{
    json_t *d = doc();
    json_object_set_new(prof(d, 1), "name", json_string("1g.5gb"));
    write_doc(d);
    expect_refused("used twice", "1g.5gb");
}

Test(gencatalog, refuses_an_id_over_255)
{
    json_t *d = doc();
    json_object_set_new(prof(d, 1), "nvml_info_id", json_integer(256));
    write_doc(d);
    expect_refused("\"nvml_info_id\" is 256", "7g.40gb");
}

Test(gencatalog, refuses_a_wrong_type)
{
    json_t *d = doc();
    json_object_set_new(gpu0(d), "memory_slices", json_string("8"));
    write_doc(d);
    expect_refused("\"memory_slices\" must be an integer", "NVIDIA Test GPU");
}

Test(gencatalog, refuses_a_grid_wider_than_the_bitmap)
{
    json_t *d = doc();
    json_object_set_new(gpu0(d), "memory_slices", json_integer(CAT_MAX_MEM_SLICES + 1));
    write_doc(d);
    expect_refused("\"memory_slices\" is 17", NULL);
}

Test(gencatalog, refuses_a_grid_the_placements_do_not_span)
{
    json_t *d = doc();
    json_object_set_new(gpu0(d), "memory_slices", json_integer(12));
    write_doc(d);
    expect_refused("placements span 8", NULL);
}

Test(gencatalog, refuses_too_many_profiles)
{
    json_t *d = doc();
    json_t *profs = json_object_get(gpu0(d), "profiles");
    for (int i = 0; i < CAT_MAX_PROFILES - 1; i++)
        json_array_append_new(profs, json_deep_copy(prof(d, 1)));
    write_doc(d);
    expect_refused("\"profiles\" has 17 entries", NULL);
}

Test(gencatalog, refuses_a_bad_pci_id)
{
    json_t *d = doc();
    json_object_set_new(gpu0(d), "pci_device_id", json_string("20B0"));
    write_doc(d);
    expect_refused("not a 16-bit PCI device id", "NVIDIA Test GPU");
}

Test(gencatalog, refuses_a_broken_alias_note)
{
    json_t *d = doc();
    json_array_set_new(json_object_get(gpu0(d), "aliases"), 1, json_string("Test (GPU"));
    write_doc(d);
    expect_refused("aliases[1]", "parentheses");
}

Test(gencatalog, refuses_two_models_with_one_name)
{
    json_t *d = doc();
    json_t *other = json_deep_copy(gpu0(d));
    json_object_set_new(other, "name", json_string("NVIDIA Other GPU"));
    json_object_set_new(other, "pci_device_id", json_string("0x4321"));
    json_object_set_new(other, "aliases", json_pack("[s]", "test_gpu"));
    json_array_append_new(json_object_get(d, "gpus"), other);
    write_doc(d);
    expect_refused("name the same model", "test_gpu");
}

Test(gencatalog, refuses_two_models_with_one_pci_id)
{
    json_t *d = doc();
    json_t *other = json_deep_copy(gpu0(d));
    json_object_set_new(other, "name", json_string("NVIDIA Other GPU"));
    json_object_set_new(other, "aliases", json_array());
    json_array_append_new(json_object_get(d, "gpus"), other);
    write_doc(d);
    expect_refused("same pci_device_id 0x1234", "NVIDIA Other GPU");
}

Test(gencatalog, refuses_max_count_above_the_placements)
{
    json_t *d = doc();
    json_object_set_new(prof(d, 1), "max_count", json_integer(2));
    write_doc(d);
    expect_refused("max_count 2 exceeds the 1 placements", "7g.40gb");
}
