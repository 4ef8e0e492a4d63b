/* state — the MIG state of every emulated GPU (GPU instances, their compute
 * instances, MIG UUIDs) and its JSON form, the content of SLICER_EMU_STATE.
 * Reading validates everything: identity (the same GPUs as the
 * configuration), formats, ranges, and every placement rule (rules.h), so a
 * corrupt or hand-edited file is refused with a message, never trusted. */
#ifndef SLICER_EMU_STATE_H
#define SLICER_EMU_STATE_H

#include <jansson.h>
#include <stdint.h>

#include "emu/config.h"
#include "emu/model.h"
#include "emu/msg.h"
#include "emu/uuid.h"

#define EMU_MAX_CI        EMU_MAX_COMPUTE /* each CI holds at least one compute slice */
#define EMU_MAX_SERIAL    (1ULL << 48)
#define EMU_STATE_MAX_LEN (1 << 20) /* bytes of the state file */

struct emu_ci {
    unsigned id;      /* unique in its GI, from 0 */
    unsigned profile; /* NVML_COMPUTE_INSTANCE_PROFILE_* = its profile id */
    unsigned start;   /* compute slices [start, start+size) of the GI */
    unsigned size;
    uint64_t serial; /* unique in the state, never reused: tells handles apart */
    char uuid[EMU_UUID_LEN];
};

struct emu_gi {
    unsigned id; /* unique on its GPU, from 1 */
    const struct emu_profile *prof;
    unsigned start; /* memory slices [start, start+prof->size) */
    uint64_t serial;
    unsigned nci;
    struct emu_ci ci[EMU_MAX_CI]; /* sorted by id */
};

struct emu_gpu {
    unsigned ngi;
    struct emu_gi gi[EMU_MAX_GI]; /* sorted by id */
};

struct emu_state {
    uint64_t nonce;       /* random per state: MIG UUIDs differ between state files */
    uint64_t next_serial; /* the next GI/CI creation's serial */
    unsigned ngpus;
    struct emu_gpu gpu[EMU_MAX_GPUS];
};

/* An empty state (no instances) for cfg's GPUs, with a fresh nonce. */
void emu_state_reset(struct emu_state *st, const struct emu_config *cfg);

/* The state as JSON (new reference). */
json_t *emu_state_to_json(const struct emu_state *st, const struct emu_config *cfg);

/* Parses and validates `root` into st. 0, or -1 with a message. */
int emu_state_from_json(struct emu_state *st, const json_t *root, const struct emu_config *cfg,
                        const struct emu_catalog *cat, struct emu_msg *m);

/* Lookups by serial (handles) and id. NULL when absent. */
struct emu_gi *emu_state_gi(struct emu_state *st, unsigned gpu, uint64_t serial);
struct emu_ci *emu_state_ci(struct emu_gi *gi, uint64_t serial);
struct emu_gi *emu_state_gi_by_id(struct emu_state *st, unsigned gpu, unsigned id);

/* Inserts a GI / CI keeping the arrays sorted by id; the caller checked the
 * rules and the room. Returns the stored copy. */
struct emu_gi *emu_state_add_gi(struct emu_gpu *g, const struct emu_gi *gi);
struct emu_ci *emu_state_add_ci(struct emu_gi *gi, const struct emu_ci *ci);

/* Removes a GI / CI (pointers into the state). */
void emu_state_remove_gi(struct emu_gpu *g, struct emu_gi *gi);
void emu_state_remove_ci(struct emu_gi *gi, struct emu_ci *ci);

#endif
