/* place — the placement engine (docs/internals/placement.md).
 *
 * A GPU's MIG occupancy is a bitmap over its memory slices plus the compute
 * slices in use, the instance count per profile and the instances themselves.
 * The engine decides where slices go; it never talks to a GPU. A placement is
 * valid only if NVIDIA's table lists it for the profile (catalog.h), it
 * overlaps nothing, enough compute slices are free, neither the profile's nor
 * the GPU's instance limit is reached, and media engines allow it (a +me.all
 * instance shares the GPU only with -me ones) — the same rules NVML enforces.
 *
 * Pure C over plain data: no I/O, no logging. Per-model lookup tables are
 * built once, on first use (thread-safe); after that single-GPU decisions are
 * a few table reads. place_batch allocates scratch proportional to the batch.
 */
#ifndef SLICER_CORE_PLACE_H
#define SLICER_CORE_PLACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"

#define PLACE_MAX_INST 16 /* more than any model's max_instances */

enum place_policy {
    PLACE_BEST_FIT = 0, /* default: keep the most future capacity, pack used GPUs first */
    PLACE_FIRST_FIT,    /* baseline: GPUs in order, placements in NVML's order, no look-ahead */
};

/* Why a placement was refused (PLACE_OK when it was not). */
enum place_why {
    PLACE_OK = 0,
    PLACE_NO_PROFILE,    /* the GPU model has no profile of that name / index */
    PLACE_BAD_START,     /* NVIDIA lists no placement of this profile at that start */
    PLACE_OVERLAP,       /* the placement's memory slices are taken */
    PLACE_NO_MEMORY,     /* every listed placement of the profile is taken */
    PLACE_NO_COMPUTE,    /* not enough free compute slices */
    PLACE_MAX_COUNT,     /* the profile's own instance limit is reached */
    PLACE_MAX_INSTANCES, /* the GPU's instance limit is reached */
    PLACE_NOT_FOUND,     /* release: no instance starts there / has that owner */
    PLACE_TOO_MANY,      /* batch: more slices than the GPUs have free instances */
    PLACE_MEDIA,         /* a +me.all instance excludes all but -me profiles, and vice versa */
};

/* A short human phrase for `why` ("every placement is taken", ...). */
const char *place_why_str(enum place_why why);

/* Parses "best-fit" / "first-fit". Returns false for anything else. */
bool place_policy_parse(const char *name, enum place_policy *out);
const char *place_policy_name(enum place_policy policy);

struct place_inst {
    uint64_t owner;  /* the caller's id for whoever holds the slice */
    uint8_t profile; /* index into model->profiles */
    uint8_t start;   /* first memory slice */
    uint8_t flags;   /* internal to place_batch; 0 outside it */
};

/* Plain data: copy it freely. Instances are kept sorted by start. */
struct place_gpu {
    const struct cat_gpu *model;
    uint16_t used;        /* bit i set: memory slice i belongs to an instance */
    uint8_t compute_used; /* compute slices held by instances */
    uint8_t ninst;
    uint8_t count[CAT_MAX_PROFILES]; /* instances per profile */
    struct place_inst inst[PLACE_MAX_INST];
};

/* An empty GPU of `model` (MIG on, no instances). */
void place_gpu_init(struct place_gpu *g, const struct cat_gpu *model);

/* Would an instance of `profile` at `start` be accepted now? */
enum place_why place_check(const struct place_gpu *g, unsigned profile, unsigned start);

/* Records an instance at an exact placement (adopting what NVML reports, or
 * applying a decision). Refuses anything place_check refuses. */
enum place_why place_add(struct place_gpu *g, unsigned profile, unsigned start, uint64_t owner);

/* Chooses a start for one `profile` instance on this GPU under `policy`,
 * without changing the GPU. */
enum place_why place_choose(const struct place_gpu *g, unsigned profile, enum place_policy policy,
                            unsigned *start);

/* place_choose then place_add. */
enum place_why place_one(struct place_gpu *g, unsigned profile, enum place_policy policy,
                         uint64_t owner, unsigned *start);

/* Removes the instance that starts at `start`. PLACE_NOT_FOUND if none. */
enum place_why place_release(struct place_gpu *g, unsigned start);

/* Removes every instance of `owner`; returns how many. */
unsigned place_release_owner(struct place_gpu *g, uint64_t owner);

/* How many more instances of `profile` alone could still be added (exact:
 * memory layout, compute, profile and GPU limits). */
unsigned place_fits_more(const struct place_gpu *g, unsigned profile);

/* The best-fit "future capacity" score of the GPU's free memory layout (higher
 * keeps more options open). Exposed for tests and the planner's output. */
unsigned place_score(const struct place_gpu *g);

/* ---- batches across many GPUs ------------------------------------------ */

/* `count` slices of the profile called `profile` for one owner (e.g. a pod):
 * all of them are placed, or none. GPUs whose model lacks the profile are
 * skipped. */
struct place_req {
    const char *profile;
    unsigned count;
    uint64_t owner;
};

/* One placed slice: GPU index into the array given to place_batch, profile
 * index in that GPU's model, start. */
struct place_slice {
    uint32_t gpu;
    uint8_t profile;
    uint8_t start;
};

struct place_outcome {
    enum place_why why; /* PLACE_OK, or why the request did not fit */
    size_t first;       /* when placed: its slices are slices[first .. first+count) */
};

/* Places a batch of requests across `gpus` (any mix of models) and updates
 * them. `outcome` has nreqs entries; `slices` has room for the sum of all
 * counts. Under best-fit, larger slices are placed first, used GPUs are
 * filled before empty ones, and slices placed earlier in the same batch are
 * re-arranged when that lets a later one fit; under first-fit, requests go
 * in the given order to the first GPU and NVML-order placement with room.
 * Returns the number of requests placed. */
size_t place_batch(struct place_gpu *gpus, size_t ngpus, const struct place_req *reqs, size_t nreqs,
                   enum place_policy policy, struct place_outcome *outcome,
                   struct place_slice *slices);

#endif
