/* cluster_worker — the cluster agent's one NVML thread.
 *
 * The event loop queues jobs (discover, create, destroy); the worker runs
 * them one at a time, in order, and hands each finished job back through a
 * done list, writing to an eventfd that the loop polls. The worker never
 * touches the journal or the API: the loop journals before it queues and
 * after it collects, so the order "journal, then NVML" holds.
 *
 * Ownership: a queued job belongs to the worker until it is collected with
 * cw_collect; the loop then frees it with cw_job_free.
 */
#ifndef SLICER_AGENT_CLUSTER_WORKER_H
#define SLICER_AGENT_CLUSTER_WORKER_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/cluster_model.h"
#include "nvml/mig.h"

enum cw_kind { CW_DISCOVER, CW_CREATE, CW_DESTROY };

struct cw_job {
    enum cw_kind kind;
    char key[CL_KEY_MAX]; /* the slice, for create/destroy */
    unsigned gpu, profile, start;
    bool fresh; /* create: the placement must be empty now (else refuse, touch nothing) */
    /* results, filled by the worker */
    int rc;
    char msg[CL_MSG_MAX];   /* the error's words when rc < 0 */
    bool left;              /* create failed and something may be left at the placement */
    struct mig_instance mi; /* create: the slice */
    bool have_gpu;          /* create/destroy: `after` is the GPU as NVML shows it now */
    struct mig_gpu after;
    struct mig_gpu *gpus; /* discover: every GPU (owned by the job) */
    size_t ngpus;
    struct cw_job *next;
};

struct cw;

/* Starts the thread. `nvml` is borrowed and used only by the worker from now
 * on; `wake_fd` (an eventfd, borrowed) is written when a job is done. */
struct cw *cw_start(struct nvml *nvml, int wake_fd);
/* Queues a job (takes ownership). */
void cw_queue(struct cw *w, struct cw_job *job);
/* Takes every finished job, oldest first (a list linked by `next`). */
struct cw_job *cw_collect(struct cw *w);
/* Lets the running job finish, drops the queued ones, joins the thread and
 * frees the worker; finished jobs not collected yet are returned. */
struct cw_job *cw_stop(struct cw *w);
void cw_job_free(struct cw_job *job);

#endif
