/* journal — the agent's durable record of the slices it made (host mode and
 * cluster mode, each in its own file).
 *
 * The whole journal is one small JSON file, rewritten on every change the
 * way redis writes its files: temp file in the same folder, fsync, rename
 * over the old one, fsync the folder. A crash at any instant leaves either
 * the old or the new journal, never a torn one. Entries are written before
 * NVML is touched (phase "creating" / "releasing"), so after a crash the
 * agent knows what it was doing and can finish or roll it back.
 *
 * Size-bounded: a journal over JOURNAL_MAX_BYTES is refused as corrupt.
 * Not thread-safe: one owner (the agent's loop).
 */
#ifndef SLICER_AGENT_JOURNAL_H
#define SLICER_AGENT_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define JOURNAL_MAX_BYTES  (4u << 20)
#define JOURNAL_MAX_SLICES 4096

enum slice_phase { SLICE_CREATING = 0, SLICE_READY, SLICE_RELEASING };

struct journal_slice {
    uint64_t id;        /* the agent's slice id, never reused */
    char owner[128];    /* who asked: free text from the client */
    int32_t pid;        /* owner process to watch, 0 for none */
    uint64_t pid_start; /* the process's start time (/proc/PID/stat field 22), against pid reuse */
    char profile[32];   /* "1g.5gb" */
    char gpu_uuid[96];  /* "GPU-..." */
    uint32_t gpu_index; /* NVML index when it was made (may change across reboots) */
    uint32_t start;     /* memory-slice placement start */
    uint32_t gi_id, ci_id; /* from NVML, once ready */
    char mig_uuid[96];     /* "MIG-...", once ready */
    enum slice_phase phase;
    int64_t created; /* unix seconds */
    int64_t expires; /* unix seconds, 0 for no TTL */
    /* Cluster mode: the GPUSlice this entry realises ("namespace/name") and
     * its metadata.uid; "" in host mode (and then not written). */
    char slice[320];
    char uid[64];
};

struct journal {
    char *path;
    uint64_t next_id;
    size_t n, cap;
    struct journal_slice *slices;
};

/* Opens the journal at `path`, creating an empty one if it does not exist.
 * A file that is not a valid journal is an error (never silently reset). */
int journal_open(const char *path, struct journal **out, struct err **err) WARN_UNUSED;
void journal_free(struct journal *j);

/* Writes the journal durably (temp, fsync, rename, fsync folder). */
int journal_save(struct journal *j, struct err **err) WARN_UNUSED;

/* Appends a copy of *s with a fresh id (returned in s->id); not saved yet. */
struct journal_slice *journal_add(struct journal *j, struct journal_slice *s);

/* The entry with that id, or NULL. */
struct journal_slice *journal_find(struct journal *j, uint64_t id);

/* Removes the entry with that id (no-op if absent); not saved yet. */
void journal_remove(struct journal *j, uint64_t id);

const char *journal_phase_name(enum slice_phase phase);

/* Creates folder `path` and its parents (mode 0755) where missing. */
int journal_mkdirs(const char *path, struct err **err) WARN_UNUSED;

#endif
