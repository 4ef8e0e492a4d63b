#include "emu/state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu/rules.h"

#define FORMAT_NAME "slicer-emu-state"
#define FORMAT_VER  1
#define MAX_ID      1000 /* GI and CI ids in a file */

void emu_state_reset(struct emu_state *st, const struct emu_config *cfg)
{
    st->nonce = emu_random64();
    st->next_serial = 1;
    st->ngpus = cfg->ngpus;
    memset(st->gpu, 0, sizeof st->gpu[0] * cfg->ngpus);
}

/* ---- writing --------------------------------------------------------------------------- */

static json_t *ci_to_json(const struct emu_ci *ci)
{
    return json_pack("{s:i, s:i, s:i, s:i, s:I, s:s}", "id", (int)ci->id, "profile_id",
                     (int)ci->profile, "start", (int)ci->start, "size", (int)ci->size, "serial",
                     (json_int_t)ci->serial, "uuid", ci->uuid);
}

static json_t *gi_to_json(const struct emu_gi *gi)
{
    json_t *cis = json_array();
    for (unsigned i = 0; i < gi->nci; i++)
        json_array_append_new(cis, ci_to_json(&gi->ci[i]));
    return json_pack("{s:i, s:i, s:s, s:i, s:i, s:I, s:o}", "id", (int)gi->id, "profile_id",
                     (int)gi->prof->id, "profile", gi->prof->name, "start", (int)gi->start, "size",
                     (int)gi->prof->size, "serial", (json_int_t)gi->serial, "compute_instances",
                     cis);
}

json_t *emu_state_to_json(const struct emu_state *st, const struct emu_config *cfg)
{
    json_t *gpus = json_array();
    for (unsigned i = 0; i < st->ngpus; i++) {
        json_t *gis = json_array();
        for (unsigned k = 0; k < st->gpu[i].ngi; k++)
            json_array_append_new(gis, gi_to_json(&st->gpu[i].gi[k]));
        json_array_append_new(gpus, json_pack("{s:i, s:s, s:s, s:o}", "index", (int)i, "model",
                                              cfg->gpus[i]->name, "uuid", cfg->uuids[i],
                                              "gpu_instances", gis));
    }
    char nonce[17];
    snprintf(nonce, sizeof nonce, "%016llx", (unsigned long long)st->nonce);
    return json_pack("{s:s, s:i, s:s, s:I, s:o}", "format", FORMAT_NAME, "version", FORMAT_VER,
                     "nonce", nonce, "next_serial", (json_int_t)st->next_serial, "gpus", gpus);
}

/* ---- reading --------------------------------------------------------------------------- */

/* Serials and MIG UUIDs seen so far, to refuse duplicates. */
struct seen {
    uint64_t next_serial;
    unsigned nserials, nuuids;
    uint64_t serials[EMU_MAX_GPUS * EMU_MAX_GI * (EMU_MAX_CI + 1)];
    const char *uuids[EMU_MAX_GPUS * EMU_MAX_GI * EMU_MAX_CI];
};

static int take_serial(struct seen *seen, json_int_t serial, uint64_t *out, struct emu_msg *m)
{
    if (serial < 1 || (uint64_t)serial >= seen->next_serial)
        return emu_fail(m, "serial %lld is not in 1..next_serial-1 (%llu)", (long long)serial,
                        (unsigned long long)seen->next_serial - 1);
    for (unsigned i = 0; i < seen->nserials; i++)
        if (seen->serials[i] == (uint64_t)serial)
            return emu_fail(m, "serial %lld is used twice", (long long)serial);
    seen->serials[seen->nserials++] = (uint64_t)serial;
    *out = (uint64_t)serial;
    return 0;
}

static bool in_range(json_int_t v, json_int_t max)
{
    return v >= 0 && v <= max;
}

static int ci_from_json(const json_t *o, struct emu_gi *gi, const struct emu_catalog *cat,
                        struct seen *seen, struct emu_msg *m)
{
    json_int_t id, profile, start, size, serial;
    const char *uuid;
    json_error_t jerr;
    if (json_unpack_ex((json_t *)o, &jerr, JSON_STRICT, "{s:I, s:I, s:I, s:I, s:I, s:s}", "id", &id,
                       "profile_id", &profile, "start", &start, "size", &size, "serial", &serial,
                       "uuid", &uuid) < 0)
        return emu_fail(m, "%s", jerr.text);
    if (gi->nci == EMU_MAX_CI)
        return emu_fail(m, "more than %d compute instances", EMU_MAX_CI);
    struct emu_ci ci = {0};
    if (!in_range(id, MAX_ID) || !in_range(profile, NVML_COMPUTE_INSTANCE_PROFILE_COUNT) ||
        !in_range(start, EMU_MAX_COMPUTE) || !in_range(size, EMU_MAX_COMPUTE))
        return emu_fail(m, "id, profile_id, start or size out of range");
    ci.id = (unsigned)id;
    ci.profile = (unsigned)profile;
    ci.start = (unsigned)start;
    ci.size = (unsigned)size;
    unsigned c = emu_ci_slices(cat, gi->prof, ci.profile);
    if (c == 0 || c != ci.size || !emu_ci_fits(gi, c, ci.start))
        return emu_fail(m, "CI %u: profile %u at %u:%u is not valid in this %s GI", ci.id,
                        ci.profile, ci.start, ci.size, gi->prof->name);
    for (unsigned i = 0; i < gi->nci; i++)
        if (gi->ci[i].id == ci.id)
            return emu_fail(m, "CI id %u is used twice", ci.id);
    if (take_serial(seen, serial, &ci.serial, m) < 0)
        return -1;
    if (!emu_uuid_valid(uuid, "MIG-"))
        return emu_fail(m, "\"%s\" is not a MIG-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx UUID", uuid);
    for (unsigned i = 0; i < seen->nuuids; i++)
        if (strcmp(seen->uuids[i], uuid) == 0)
            return emu_fail(m, "MIG UUID %s is used twice", uuid);
    seen->uuids[seen->nuuids++] = uuid;
    memcpy(ci.uuid, uuid, EMU_UUID_LEN);
    emu_state_add_ci(gi, &ci);
    return 0;
}

static int gi_from_json(const json_t *o, struct emu_gpu *g, const struct emu_model *model,
                        const struct emu_catalog *cat, struct seen *seen, struct emu_msg *m)
{
    json_int_t id, profile_id, start, size, serial;
    const char *name;
    const json_t *cis;
    json_error_t jerr;
    if (json_unpack_ex((json_t *)o, &jerr, JSON_STRICT, "{s:I, s:I, s:s, s:I, s:I, s:I, s:o}", "id",
                       &id, "profile_id", &profile_id, "profile", &name, "start", &start, "size",
                       &size, "serial", &serial, "compute_instances", &cis) < 0)
        return emu_fail(m, "%s", jerr.text);
    if (!in_range(id, MAX_ID) || id == 0 || !in_range(profile_id, MAX_ID) ||
        !in_range(start, EMU_MAX_GRID) || !in_range(size, EMU_MAX_GRID))
        return emu_fail(m, "id, profile_id, start or size out of range");
    struct emu_gi gi = {.id = (unsigned)id, .start = (unsigned)start};
    gi.prof = emu_profile_by_id(model, (unsigned)profile_id);
    if (gi.prof == NULL || strcmp(gi.prof->name, name) != 0)
        return emu_fail(m, "GI %u: %s has no profile id %lld called \"%s\"", gi.id, model->name,
                        (long long)profile_id, name);
    for (unsigned i = 0; i < g->ngi; i++)
        if (g->gi[i].id == gi.id)
            return emu_fail(m, "GI id %u is used twice", gi.id);
    nvmlReturn_t r = emu_gi_check(model, g, gi.prof, gi.start, (unsigned)size);
    if (r != NVML_SUCCESS)
        return emu_fail(m, "GI %u: %s at %u:%u is %s", gi.id, name, gi.start, (unsigned)size,
                        r == NVML_ERROR_INVALID_ARGUMENT ? "not a listed placement"
                                                         : "refused by the placement rules");
    if (take_serial(seen, serial, &gi.serial, m) < 0)
        return -1;
    if (!json_is_array(cis))
        return emu_fail(m, "GI %u: \"compute_instances\" must be an array", gi.id);
    size_t i;
    const json_t *c;
    json_array_foreach(cis, i, c)
    {
        if (ci_from_json(c, &gi, cat, seen, m) < 0)
            return emu_wrap(m, "GI %u compute_instances[%zu]", gi.id, i);
    }
    emu_state_add_gi(g, &gi);
    return 0;
}

static int gpu_from_json(const json_t *o, unsigned i, struct emu_state *st,
                         const struct emu_config *cfg, const struct emu_catalog *cat,
                         struct seen *seen, struct emu_msg *m)
{
    json_int_t index;
    const char *model, *uuid;
    const json_t *gis;
    json_error_t jerr;
    if (json_unpack_ex((json_t *)o, &jerr, JSON_STRICT, "{s:I, s:s, s:s, s:o}", "index", &index,
                       "model", &model, "uuid", &uuid, "gpu_instances", &gis) < 0)
        return emu_fail(m, "%s", jerr.text);
    if (index != (json_int_t)i || strcmp(model, cfg->gpus[i]->name) != 0 ||
        strcmp(uuid, cfg->uuids[i]) != 0)
        return emu_fail(m, "describes GPU %lld as %s %s, but SLICER_EMU_GPUS makes GPU %u a %s %s",
                        (long long)index, model, uuid, i, cfg->gpus[i]->name, cfg->uuids[i]);
    if (!json_is_array(gis) || json_array_size(gis) > cfg->gpus[i]->max_instances)
        return emu_fail(m, "\"gpu_instances\" must be an array of at most %u",
                        cfg->gpus[i]->max_instances);
    if (json_array_size(gis) > 0 && cfg->mig_disabled[i])
        return emu_fail(m, "has GPU instances but SLICER_EMU_MIG_DISABLED turns MIG off on it");
    size_t k;
    const json_t *gi;
    json_array_foreach(gis, k, gi)
    {
        if (gi_from_json(gi, &st->gpu[i], cfg->gpus[i], cat, seen, m) < 0)
            return emu_wrap(m, "gpu_instances[%zu]", k);
    }
    return 0;
}

static int check_gpu_list(const json_t *gpus, const struct emu_config *cfg, struct emu_msg *m)
{
    if (!json_is_array(gpus))
        return emu_fail(m, "\"gpus\" must be an array");
    if (json_array_size(gpus) == cfg->ngpus)
        return 0;
    char have[EMU_MSG_LEN / 2] = "";
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(gpus) && n < sizeof have; i++) {
        const char *model = json_string_value(json_object_get(json_array_get(gpus, i), "model"));
        int w = snprintf(have + n, sizeof have - n, "%s%s", i ? ", " : "", model ? model : "?");
        n += w > 0 ? (size_t)w : 0;
    }
    return emu_fail(m,
                    "describes %zu GPUs (%s) but SLICER_EMU_GPUS gives %u: remove the file "
                    "or use the same SLICER_EMU_GPUS",
                    json_array_size(gpus), have, cfg->ngpus);
}

static int parse_nonce(const char *s, uint64_t *out)
{
    char *end;
    if (strlen(s) != 16 || s[0] == '-' || s[0] == '+' || s[0] == ' ')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 16);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

int emu_state_from_json(struct emu_state *st, const json_t *root, const struct emu_config *cfg,
                        const struct emu_catalog *cat, struct emu_msg *m)
{
    const char *format, *nonce;
    json_int_t version, next_serial;
    const json_t *gpus;
    json_error_t jerr;
    if (json_unpack_ex((json_t *)root, &jerr, JSON_STRICT, "{s:s, s:I, s:s, s:I, s:o}", "format",
                       &format, "version", &version, "nonce", &nonce, "next_serial", &next_serial,
                       "gpus", &gpus) < 0)
        return emu_fail(m, "%s", jerr.text);
    if (strcmp(format, FORMAT_NAME) != 0 || version != FORMAT_VER)
        return emu_fail(m, "not a %s version %d file", FORMAT_NAME, FORMAT_VER);
    if (parse_nonce(nonce, &st->nonce) < 0)
        return emu_fail(m, "\"nonce\" must be 16 hex digits");
    if (next_serial < 1 || (uint64_t)next_serial > EMU_MAX_SERIAL)
        return emu_fail(m, "\"next_serial\" out of range");
    if (check_gpu_list(gpus, cfg, m) < 0)
        return -1;
    st->next_serial = (uint64_t)next_serial;
    st->ngpus = cfg->ngpus;
    memset(st->gpu, 0, sizeof st->gpu[0] * cfg->ngpus);
    struct seen *seen = calloc(1, sizeof *seen);
    if (seen == NULL)
        abort();
    seen->next_serial = st->next_serial;
    int rc = 0;
    for (unsigned i = 0; rc == 0 && i < cfg->ngpus; i++) {
        rc = gpu_from_json(json_array_get(gpus, i), i, st, cfg, cat, seen, m);
        if (rc < 0)
            emu_wrap(m, "gpus[%u]", i);
    }
    free(seen);
    return rc;
}

/* ---- lookups and changes ---------------------------------------------------------------- */

struct emu_gi *emu_state_gi(struct emu_state *st, unsigned gpu, uint64_t serial)
{
    struct emu_gpu *g = &st->gpu[gpu];
    for (unsigned i = 0; i < g->ngi; i++)
        if (g->gi[i].serial == serial)
            return &g->gi[i];
    return NULL;
}

struct emu_ci *emu_state_ci(struct emu_gi *gi, uint64_t serial)
{
    for (unsigned i = 0; i < gi->nci; i++)
        if (gi->ci[i].serial == serial)
            return &gi->ci[i];
    return NULL;
}

struct emu_gi *emu_state_gi_by_id(struct emu_state *st, unsigned gpu, unsigned id)
{
    struct emu_gpu *g = &st->gpu[gpu];
    for (unsigned i = 0; i < g->ngi; i++)
        if (g->gi[i].id == id)
            return &g->gi[i];
    return NULL;
}

struct emu_gi *emu_state_add_gi(struct emu_gpu *g, const struct emu_gi *gi)
{
    unsigned at = 0;
    while (at < g->ngi && g->gi[at].id < gi->id)
        at++;
    memmove(&g->gi[at + 1], &g->gi[at], sizeof g->gi[0] * (g->ngi - at));
    g->gi[at] = *gi;
    g->ngi++;
    return &g->gi[at];
}

struct emu_ci *emu_state_add_ci(struct emu_gi *gi, const struct emu_ci *ci)
{
    unsigned at = 0;
    while (at < gi->nci && gi->ci[at].id < ci->id)
        at++;
    memmove(&gi->ci[at + 1], &gi->ci[at], sizeof gi->ci[0] * (gi->nci - at));
    gi->ci[at] = *ci;
    gi->nci++;
    return &gi->ci[at];
}

void emu_state_remove_gi(struct emu_gpu *g, struct emu_gi *gi)
{
    unsigned at = (unsigned)(gi - g->gi);
    memmove(&g->gi[at], &g->gi[at + 1], sizeof g->gi[0] * (g->ngi - at - 1));
    g->ngi--;
}

void emu_state_remove_ci(struct emu_gi *gi, struct emu_ci *ci)
{
    unsigned at = (unsigned)(ci - gi->ci);
    memmove(&gi->ci[at], &gi->ci[at + 1], sizeof gi->ci[0] * (gi->nci - at - 1));
    gi->nci--;
}
