/* The cluster agent's NVML worker: one thread, one job at a time. */
#include "agent/cluster_worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xalloc.h"

struct cw {
    struct nvml *nvml;
    int wake_fd;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct cw_job *queue, *queue_tail; /* guarded by mu */
    struct cw_job *done, *done_tail;   /* guarded by mu */
    bool quit;                         /* guarded by mu */
};

static void fail(struct cw_job *j, struct err **e)
{
    j->rc = (*e && (*e)->code) ? -(*e)->code : -EIO;
    snprintf(j->msg, sizeof j->msg, "%s", err_msg(*e));
    err_free(e);
}

/* Refuses a fresh create when a GI of the profile already starts at the
 * placement: mig_create would adopt it, and it is not ours. (A GI of another
 * profile there is left to NVML, which refuses the overlap in its words.) */
static int check_empty(struct cw *w, struct cw_job *j, struct err **e)
{
    struct mig_gpu g;
    int rc = mig_read_gpu(w->nvml, j->gpu, &g, e);
    if (rc < 0)
        return rc;
    for (uint32_t i = 0; i < g.ninst; i++)
        if (g.inst[i].start == j->start && g.inst[i].profile == (int)j->profile)
            return err_set(e, EEXIST,
                           "GPU %u already has GI %u at start %u, which this agent did not make: "
                           "left untouched",
                           j->gpu, g.inst[i].gi_id, j->start);
    return 0;
}

static void run_create(struct cw *w, struct cw_job *j)
{
    struct err *e = NULL;
    if (j->fresh && check_empty(w, j, &e) < 0) {
        fail(j, &e);
        return;
    }
    if (mig_create(w->nvml, j->gpu, j->profile, j->start, &j->mi, &e) == 0)
        return;
    fail(j, &e);
    /* mig_create leaves nothing half made unless its own undo failed: make sure. The
     * placement was empty before (fresh) or journaled as ours, so what is there is ours. */
    if (mig_destroy(w->nvml, j->gpu, j->profile, j->start, &e) < 0 && e->code != EEXIST) {
        log_warn("%s: cleaning up after a failed create: %s", j->key, err_msg(e));
        j->left = true;
    }
    err_free(&e);
}

static void run_destroy(struct cw *w, struct cw_job *j)
{
    struct err *e = NULL;
    int rc = mig_destroy(w->nvml, j->gpu, j->profile, j->start, &e);
    if (rc == -EEXIST) { /* another profile sits there: not ours, nothing of ours left */
        log_warn("%s: %s", j->key, err_msg(e));
        err_free(&e);
        rc = 0;
    }
    if (rc < 0)
        fail(j, &e);
}

static void run(struct cw *w, struct cw_job *j)
{
    struct err *e = NULL;
    if (j->kind == CW_DISCOVER) {
        if (mig_discover(w->nvml, &j->gpus, &j->ngpus, &e) < 0)
            fail(j, &e);
        return;
    }
    if (j->kind == CW_CREATE)
        run_create(w, j);
    else
        run_destroy(w, j);
    j->have_gpu = mig_read_gpu(w->nvml, j->gpu, &j->after, &e) == 0;
    err_free(&e);
}

static void *worker(void *arg)
{
    struct cw *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (w->queue == NULL && !w->quit)
            pthread_cond_wait(&w->cv, &w->mu);
        struct cw_job *j = w->quit ? NULL : w->queue;
        if (j == NULL) {
            pthread_mutex_unlock(&w->mu);
            return NULL;
        }
        w->queue = j->next;
        if (w->queue == NULL)
            w->queue_tail = NULL;
        pthread_mutex_unlock(&w->mu);

        run(w, j);

        j->next = NULL;
        pthread_mutex_lock(&w->mu);
        if (w->done_tail)
            w->done_tail->next = j;
        else
            w->done = j;
        w->done_tail = j;
        pthread_mutex_unlock(&w->mu);
        uint64_t one = 1;
        if (write(w->wake_fd, &one, sizeof one) < 0)
            log_warn("waking the event loop: %s", strerror(errno));
    }
}

struct cw *cw_start(struct nvml *nvml, int wake_fd)
{
    struct cw *w = xcalloc(1, sizeof *w);
    w->nvml = nvml;
    w->wake_fd = wake_fd;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, worker, w) != 0) {
        fprintf(stderr, "slicer: cannot start the NVML worker thread\n");
        abort();
    }
    return w;
}

void cw_queue(struct cw *w, struct cw_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->queue_tail)
        w->queue_tail->next = job;
    else
        w->queue = job;
    w->queue_tail = job;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

struct cw_job *cw_collect(struct cw *w)
{
    pthread_mutex_lock(&w->mu);
    struct cw_job *j = w->done;
    w->done = w->done_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    return j;
}

struct cw_job *cw_stop(struct cw *w)
{
    pthread_mutex_lock(&w->mu);
    w->quit = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    for (struct cw_job *j = w->queue, *next; j; j = next) {
        next = j->next;
        cw_job_free(j);
    }
    struct cw_job *done = w->done;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    return done;
}

void cw_job_free(struct cw_job *job)
{
    if (job == NULL)
        return;
    free(job->gpus);
    free(job);
}
