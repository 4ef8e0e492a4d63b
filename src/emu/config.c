#include "emu/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu/errors.h"
#include "emu/syms.h"

#define ENV_MAX 8192 /* longest value of one variable */

/* Copies the comma-separated item starting at *pos into buf, trimmed of
 * spaces, and advances *pos past its comma. False at the end of the list. */
static bool next_item(const char **pos, char *buf, size_t cap)
{
    const char *s = *pos;
    if (s == NULL)
        return false;
    const char *comma = strchr(s, ',');
    size_t len = comma ? (size_t)(comma - s) : strlen(s);
    *pos = comma ? comma + 1 : NULL;
    while (len > 0 && *s == ' ') {
        s++;
        len--;
    }
    while (len > 0 && s[len - 1] == ' ')
        len--;
    if (len >= cap)
        len = cap - 1; /* callers bound the whole value first, so this cannot cut */
    memcpy(buf, s, len);
    buf[len] = '\0';
    return true;
}

/* A decimal number in [min, max], nothing else. */
static bool parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    if (s[0] < '0' || s[0] > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static const char *env(const char *name, struct emu_msg *m, int *bad)
{
    const char *v = getenv(name);
    *bad = 0;
    if (v != NULL && strlen(v) >= ENV_MAX)
        *bad = emu_fail(m, "%s is longer than %d characters", name, ENV_MAX - 1);
    return v;
}

/* ---- SLICER_EMU_GPUS ------------------------------------------------------------------ */

static int bad_model(const struct emu_catalog *cat, const char *entry, bool ambiguous,
                     struct emu_msg *m)
{
    char list[EMU_MSG_LEN / 2];
    emu_model_list(cat, list, sizeof list);
    return emu_fail(m, "SLICER_EMU_GPUS: %s \"%s\"; valid models: %s",
                    ambiguous ? "ambiguous GPU model" : "unknown GPU model", entry, list);
}

static int add_gpus(struct emu_config *cfg, const struct emu_catalog *cat, char *entry,
                    struct emu_msg *m)
{
    unsigned long copies = 1;
    char *colon = strrchr(entry, ':');
    if (colon != NULL) {
        *colon = '\0';
        if (!parse_ulong(colon + 1, 1, EMU_MAX_GPUS, &copies))
            return emu_fail(m, "SLICER_EMU_GPUS: bad count \"%s\" in \"%s:%s\" (1..%d)", colon + 1,
                            entry, colon + 1, EMU_MAX_GPUS);
    }
    bool ambiguous;
    const struct emu_model *model = emu_model_find(cat, entry, &ambiguous);
    if (model == NULL)
        return bad_model(cat, entry, ambiguous, m);
    if (cfg->ngpus + copies > EMU_MAX_GPUS)
        return emu_fail(m, "SLICER_EMU_GPUS: more than %d GPUs", EMU_MAX_GPUS);
    for (unsigned long i = 0; i < copies; i++)
        cfg->gpus[cfg->ngpus++] = model;
    return 0;
}

static int load_gpus(struct emu_config *cfg, const struct emu_catalog *cat, struct emu_msg *m)
{
    int bad;
    const char *v = env("SLICER_EMU_GPUS", m, &bad);
    if (bad)
        return -1;
    if (v == NULL)
        v = "A100-SXM4-40GB";
    char entry[ENV_MAX];
    while (next_item(&v, entry, sizeof entry)) {
        if (entry[0] == '\0')
            return emu_fail(m, "SLICER_EMU_GPUS: empty entry (expected MODEL[:N],...)");
        if (add_gpus(cfg, cat, entry, m) < 0)
            return -1;
    }
    for (unsigned i = 0; i < cfg->ngpus; i++)
        emu_uuid_gpu(cfg->uuids[i], cfg->gpus[i]->name, i);
    return 0;
}

/* ---- SLICER_EMU_MIG_DISABLED, SLICER_EMU_LATENCY_MS, SLICER_EMU_STATE ----------------- */

static int load_mig_disabled(struct emu_config *cfg, struct emu_msg *m)
{
    int bad;
    const char *v = env("SLICER_EMU_MIG_DISABLED", m, &bad);
    if (bad || v == NULL || v[0] == '\0')
        return bad;
    char entry[ENV_MAX];
    while (next_item(&v, entry, sizeof entry)) {
        unsigned long idx;
        if (!parse_ulong(entry, 0, EMU_MAX_GPUS - 1, &idx) || idx >= cfg->ngpus)
            return emu_fail(m,
                            "SLICER_EMU_MIG_DISABLED: \"%s\" is not a GPU index (0..%u), "
                            "expected a list like \"0,2\"",
                            entry, cfg->ngpus - 1);
        cfg->mig_disabled[idx] = true;
    }
    return 0;
}

static int load_latency(struct emu_config *cfg, struct emu_msg *m)
{
    int bad;
    const char *v = env("SLICER_EMU_LATENCY_MS", m, &bad);
    if (bad || v == NULL)
        return bad;
    unsigned long ms;
    if (!parse_ulong(v, 0, EMU_MAX_LATENCY_MS, &ms))
        return emu_fail(m, "SLICER_EMU_LATENCY_MS: \"%s\" is not a number of milliseconds (0..%d)",
                        v, EMU_MAX_LATENCY_MS);
    cfg->latency_ms = (unsigned)ms;
    return 0;
}

static int load_state_path(struct emu_config *cfg, struct emu_msg *m)
{
    const char *v = getenv("SLICER_EMU_STATE");
    if (v == NULL)
        return 0;
    /* Room for the ".lock" and ".tmp" files beside it. */
    if (v[0] == '\0' || strlen(v) + 8 > sizeof cfg->state_path)
        return emu_fail(m, "SLICER_EMU_STATE: expected a file path of 1..%zu characters",
                        sizeof cfg->state_path - 8);
    memcpy(cfg->state_path, v, strlen(v) + 1);
    cfg->has_state = true;
    return 0;
}

/* ---- SLICER_EMU_FAULTS ---------------------------------------------------------------- */

static int parse_action(char *action, struct emu_fault *f)
{
    if (strcasecmp(action, "CRASH") == 0) {
        f->action = EMU_FAULT_CRASH;
        return 0;
    }
    if (strcasecmp(action, "CRASH_AFTER") == 0) {
        f->action = EMU_FAULT_CRASH_AFTER;
        return 0;
    }
    f->action = EMU_FAULT_ERROR;
    return emu_error_parse(action, &f->code);
}

static int add_fault(struct emu_config *cfg, char *entry, struct emu_msg *m)
{
    static const char usage[] = "expected FUNCTION:N:ACTION, ACTION = an NVML error name or "
                                "number, CRASH or CRASH_AFTER";
    char *c1 = strchr(entry, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (c2 == NULL || strchr(c2 + 1, ':') != NULL)
        return emu_fail(m, "SLICER_EMU_FAULTS: bad entry \"%s\" (%s)", entry, usage);
    *c1 = *c2 = '\0';
    if (cfg->nfaults == EMU_MAX_FAULTS)
        return emu_fail(m, "SLICER_EMU_FAULTS: more than %d entries", EMU_MAX_FAULTS);
    struct emu_fault *f = &cfg->faults[cfg->nfaults];
    f->sym = emu_sym_find(entry);
    if (f->sym < 0)
        return emu_fail(m,
                        "SLICER_EMU_FAULTS: \"%s\" is not an NVML function the emulator "
                        "exports (e.g. nvmlDeviceCreateGpuInstanceWithPlacement)",
                        entry);
    if (!parse_ulong(c1 + 1, 1, 1000000000, &f->nth))
        return emu_fail(m, "SLICER_EMU_FAULTS: %s: call number \"%s\" must be 1 or more", entry,
                        c1 + 1);
    if (parse_action(c2 + 1, f) < 0)
        return emu_fail(m, "SLICER_EMU_FAULTS: %s:%s: unknown action \"%s\" (%s)", entry, c1 + 1,
                        c2 + 1, usage);
    if (f->action == EMU_FAULT_ERROR && f->sym == EMU_SYM_nvmlErrorString)
        return emu_fail(m, "SLICER_EMU_FAULTS: nvmlErrorString returns no error code: "
                           "only CRASH and CRASH_AFTER apply to it");
    cfg->nfaults++;
    return 0;
}

static int load_faults(struct emu_config *cfg, struct emu_msg *m)
{
    int bad;
    const char *v = env("SLICER_EMU_FAULTS", m, &bad);
    if (bad || v == NULL || v[0] == '\0')
        return bad;
    char entry[ENV_MAX];
    while (next_item(&v, entry, sizeof entry))
        if (add_fault(cfg, entry, m) < 0)
            return -1;
    return 0;
}

int emu_config_load(struct emu_config *cfg, const struct emu_catalog *cat, struct emu_msg *m)
{
    memset(cfg, 0, sizeof *cfg);
    if (load_gpus(cfg, cat, m) < 0 || load_mig_disabled(cfg, m) < 0 || load_latency(cfg, m) < 0 ||
        load_state_path(cfg, m) < 0 || load_faults(cfg, m) < 0)
        return -1;
    return 0;
}
