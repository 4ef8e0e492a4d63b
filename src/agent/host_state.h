/* host_state — what the host-mode agent knows and the operations on it,
 * shared by its event loop (host.c) and its NVML worker (host_worker.c).
 * Internal to src/agent. Everything below `mu` is guarded by it. */
#ifndef SLICER_AGENT_HOST_STATE_H
#define SLICER_AGENT_HOST_STATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/host.h"
#include "agent/journal.h"
#include "core/place.h"
#include "nvml/mig.h"

enum job_kind { JOB_CREATE, JOB_RELEASE };

struct job {
    enum job_kind kind;
    uint64_t cid; /* client waiting for the reply; 0 for none */
    unsigned n;
    uint64_t ids[HOST_MAX_COUNT];
    struct job *next;
};

struct reply {
    uint64_t cid;
    char *text; /* one JSON line without the newline; owned */
    struct reply *next;
};

struct host {
    const struct host_config *cfg;
    struct nvml *nvml;
    size_t ngpus;
    struct mig_gpu *mg; /* identity and profiles, from discovery */

    pthread_mutex_t mu;
    struct place_gpu *pg; /* the engine's view: owner = slice id, 0 = not ours */
    struct journal *j;
    uint64_t *inflight; /* slice ids with a queued or running job */
    size_t ninflight, capinflight;
    struct job *jobs, *jobs_tail;
    struct reply *replies;
    bool quit;
    pthread_cond_t cv;
    int wake_fd; /* eventfd: the worker has replies for the loop */
};

/* Worker thread body: runs jobs until h->quit and no job is left. */
void *host_worker(void *arg);

/* Queues a job (takes ownership) and marks its ids in flight. Locked by caller. */
void host_queue_locked(struct host *h, struct job *job);
bool host_inflight_locked(const struct host *h, uint64_t id);

/* Queues a reply for client cid (takes ownership of text) and wakes the loop. */
void host_reply(struct host *h, uint64_t cid, char *text);

/* {"ok":false,"error":msg} as an allocated string. */
char *host_error_json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The GPU index of the journal entry's GPU (by UUID), or -1. */
int host_gpu_of(const struct host *h, const struct journal_slice *s);

/* Catalog profile index of `name` on GPU gi, or -1. */
int host_profile_of(const struct host *h, size_t gi, const char *name);

/* Saves the journal, logging (not returning) a failure. Locked by caller. */
void host_save_locked(struct host *h);

/* Reconciles the journal with NVML at start-up (no loop or worker yet). */
int host_reconcile(struct host *h, struct err **err) WARN_UNUSED;

#endif
