/* The host agent's NVML worker: turns journal entries into real slices and
 * back, one job at a time, never holding the state lock during NVML calls. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/host_state.h"
#include "base/log.h"
#include "base/xalloc.h"

char *host_error_json(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:b, s:s}", "ok", 0, "error", msg);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

void host_reply(struct host *h, uint64_t cid, char *text)
{
    if (cid == 0) {
        free(text);
        return;
    }
    struct reply *r = xcalloc(1, sizeof *r);
    r->cid = cid;
    r->text = text;
    pthread_mutex_lock(&h->mu);
    r->next = h->replies;
    h->replies = r;
    pthread_mutex_unlock(&h->mu);
    uint64_t one = 1;
    if (write(h->wake_fd, &one, sizeof one) < 0)
        log_warn("waking the event loop: %s", strerror(errno));
}

bool host_inflight_locked(const struct host *h, uint64_t id)
{
    for (size_t i = 0; i < h->ninflight; i++)
        if (h->inflight[i] == id)
            return true;
    return false;
}

static void inflight_remove_locked(struct host *h, uint64_t id)
{
    for (size_t i = 0; i < h->ninflight; i++)
        if (h->inflight[i] == id) {
            h->inflight[i] = h->inflight[--h->ninflight];
            return;
        }
}

void host_queue_locked(struct host *h, struct job *job)
{
    for (unsigned k = 0; k < job->n; k++) {
        if (h->ninflight == h->capinflight) {
            h->capinflight = h->capinflight ? 2 * h->capinflight : 32;
            h->inflight = xreallocarray(h->inflight, h->capinflight, sizeof *h->inflight);
        }
        h->inflight[h->ninflight++] = job->ids[k];
    }
    job->next = NULL;
    if (h->jobs_tail)
        h->jobs_tail->next = job;
    else
        h->jobs = job;
    h->jobs_tail = job;
    pthread_cond_signal(&h->cv);
}

void host_save_locked(struct host *h)
{
    struct err *e = NULL;
    if (journal_save(h->j, &e) < 0) {
        log_error("%s", err_msg(e));
        err_free(&e);
    }
}

int host_gpu_of(const struct host *h, const struct journal_slice *s)
{
    for (size_t i = 0; i < h->ngpus; i++)
        if (strcmp(h->mg[i].uuid, s->gpu_uuid) == 0)
            return (int)i;
    return -1;
}

int host_profile_of(const struct host *h, size_t gi, const char *name)
{
    return h->mg[gi].model ? cat_profile_index(h->mg[gi].model, name) : -1;
}

/* Removes the entry and frees its place in the engine. Locked by caller. */
static void forget_locked(struct host *h, uint64_t id)
{
    struct journal_slice *s = journal_find(h->j, id);
    if (s == NULL)
        return;
    int gi = host_gpu_of(h, s);
    if (gi >= 0)
        place_release(&h->pg[gi], s->start);
    journal_remove(h->j, id);
}

/* Destroys slice `id` for real. Returns 0 when it is gone. */
static int destroy_one(struct host *h, uint64_t id, struct err **err)
{
    pthread_mutex_lock(&h->mu);
    struct journal_slice *s = journal_find(h->j, id);
    if (s == NULL) {
        pthread_mutex_unlock(&h->mu);
        return 0;
    }
    s->phase = SLICE_RELEASING;
    host_save_locked(h);
    struct journal_slice copy = *s;
    int gi = host_gpu_of(h, s);
    int prof = gi >= 0 ? host_profile_of(h, (size_t)gi, s->profile) : -1;
    pthread_mutex_unlock(&h->mu);

    int rc = 0;
    if (gi >= 0 && prof >= 0)
        rc = mig_destroy(h->nvml, (unsigned)gi, (unsigned)prof, copy.start, err);
    if (rc < 0)
        return err_wrap(err, "releasing slice %llu (%s)", (unsigned long long)id, copy.owner);
    pthread_mutex_lock(&h->mu);
    forget_locked(h, id);
    host_save_locked(h);
    pthread_mutex_unlock(&h->mu);
    log_info("released slice %llu (%s %s at %u on GPU %d, owner %s)", (unsigned long long)id,
             copy.profile, copy.mig_uuid, copy.start, gi, copy.owner);
    return 0;
}

/* Makes slice `id` real; fills its journal entry. */
static int create_one(struct host *h, uint64_t id, struct err **err)
{
    pthread_mutex_lock(&h->mu);
    struct journal_slice copy = *journal_find(h->j, id);
    int gi = host_gpu_of(h, &copy);
    int prof = gi >= 0 ? host_profile_of(h, (size_t)gi, copy.profile) : -1;
    pthread_mutex_unlock(&h->mu);
    if (prof < 0)
        return err_set(err, EINVAL, "slice %llu: GPU or profile vanished", (unsigned long long)id);
    struct mig_instance mi;
    int rc = mig_create(h->nvml, (unsigned)gi, (unsigned)prof, copy.start, &mi, err);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&h->mu);
    struct journal_slice *s = journal_find(h->j, id);
    s->phase = SLICE_READY;
    s->gi_id = mi.gi_id;
    s->ci_id = mi.ci_id;
    snprintf(s->mig_uuid, sizeof s->mig_uuid, "%s", mi.uuid);
    host_save_locked(h);
    pthread_mutex_unlock(&h->mu);
    log_info("created slice %llu: %s at %u on GPU %d, GI %u CI %u, %s, owner %s",
             (unsigned long long)id, copy.profile, copy.start, gi, mi.gi_id, mi.ci_id, mi.uuid,
             copy.owner);
    return 0;
}

static json_t *slice_json_locked(struct host *h, uint64_t id)
{
    const struct journal_slice *s = journal_find(h->j, id);
    return json_pack("{s:I, s:s, s:i, s:s, s:i, s:s, s:s}", "id", (json_int_t)id, "profile",
                     s->profile, "gpu", host_gpu_of(h, s), "gpuUuid", s->gpu_uuid, "start",
                     (int)s->start, "uuid", s->mig_uuid, "owner", s->owner);
}

static void run_create(struct host *h, const struct job *job)
{
    struct err *e = NULL;
    unsigned made = 0;
    for (; made < job->n; made++)
        if (create_one(h, job->ids[made], &e) < 0)
            break;
    if (made == job->n) {
        pthread_mutex_lock(&h->mu);
        json_t *arr = json_array();
        for (unsigned k = 0; k < job->n; k++)
            json_array_append_new(arr, slice_json_locked(h, job->ids[k]));
        pthread_mutex_unlock(&h->mu);
        json_t *o = json_pack("{s:b, s:o}", "ok", 1, "slices", arr);
        host_reply(h, job->cid, json_dumps(o, JSON_COMPACT));
        json_decref(o);
        return;
    }
    /* All or nothing: undo the slices already made, forget the rest. */
    log_error("%s", err_msg(e));
    char *msg = host_error_json("%s", err_msg(e));
    err_free(&e);
    for (unsigned k = 0; k < job->n; k++) {
        if (destroy_one(h, job->ids[k], &e) < 0) {
            log_error("rolling back: %s (kept in the journal, retried later)", err_msg(e));
            err_free(&e);
        }
    }
    host_reply(h, job->cid, msg);
}

static void run_release(struct host *h, const struct job *job)
{
    struct err *e = NULL;
    unsigned done = 0;
    char *failure = NULL;
    for (unsigned k = 0; k < job->n; k++) {
        if (destroy_one(h, job->ids[k], &e) == 0) {
            done++;
            continue;
        }
        log_warn("%s (will retry)", err_msg(e));
        if (failure == NULL)
            failure = host_error_json("%s", err_msg(e));
        err_free(&e);
    }
    if (failure) {
        host_reply(h, job->cid, failure);
        return;
    }
    json_t *o = json_pack("{s:b, s:i}", "ok", 1, "released", (int)done);
    host_reply(h, job->cid, json_dumps(o, JSON_COMPACT));
    json_decref(o);
}

void *host_worker(void *arg)
{
    struct host *h = arg;
    for (;;) {
        pthread_mutex_lock(&h->mu);
        while (h->jobs == NULL && !h->quit)
            pthread_cond_wait(&h->cv, &h->mu);
        struct job *job = h->jobs;
        if (job == NULL) {
            pthread_mutex_unlock(&h->mu);
            return NULL;
        }
        h->jobs = job->next;
        if (h->jobs == NULL)
            h->jobs_tail = NULL;
        pthread_mutex_unlock(&h->mu);

        if (job->kind == JOB_CREATE)
            run_create(h, job);
        else
            run_release(h, job);

        pthread_mutex_lock(&h->mu);
        for (unsigned k = 0; k < job->n; k++)
            inflight_remove_locked(h, job->ids[k]);
        pthread_mutex_unlock(&h->mu);
        free(job);
    }
}

/* ---- start-up reconciliation ---------------------------------------------------- */

/* Is the instance of entry s present with its CI? */
static bool present_with_ci(const struct host *h, int gi, const struct journal_slice *s,
                            bool *gi_only)
{
    const struct mig_gpu *g = &h->mg[gi];
    *gi_only = false;
    for (unsigned i = 0; i < g->ninst; i++) {
        if (g->inst[i].start != s->start)
            continue;
        if (g->inst[i].profile >= 0 && g->model &&
            strcmp(g->model->profiles[g->inst[i].profile].name, s->profile) == 0) {
            *gi_only = g->inst[i].ci_id == MIG_NO_CI;
            return !*gi_only;
        }
    }
    return false;
}

static int reconcile_one(struct host *h, struct journal_slice *s, struct err **err)
{
    int gi = host_gpu_of(h, s);
    if (gi < 0) {
        log_warn("slice %llu: GPU %s is gone; forgetting the slice", (unsigned long long)s->id,
                 s->gpu_uuid);
        journal_remove(h->j, s->id);
        return 0;
    }
    bool gi_only;
    bool ok = present_with_ci(h, gi, s, &gi_only);
    uint64_t id = s->id;
    if (s->phase == SLICE_READY && ok)
        return 0;
    if (s->phase == SLICE_READY && gi_only) {
        log_warn("slice %llu lost its compute instance: recreating it", (unsigned long long)id);
        return create_one(h, id, err);
    }
    if (s->phase == SLICE_READY) {
        log_warn("slice %llu (%s) is no longer on GPU %d (reboot or reset?): forgetting it",
                 (unsigned long long)id, s->mig_uuid, gi);
        journal_remove(h->j, id);
        return 0;
    }
    log_info("slice %llu was %s when the agent stopped: rolling it back", (unsigned long long)id,
             journal_phase_name(s->phase));
    return destroy_one(h, id, err);
}

/* Marks the journal's slices and foreign instances in the engine. */
static void build_engine(struct host *h)
{
    for (size_t gi = 0; gi < h->ngpus; gi++) {
        const struct mig_gpu *g = &h->mg[gi];
        if (g->model == NULL)
            continue;
        place_gpu_init(&h->pg[gi], g->model);
        for (unsigned i = 0; i < g->ninst; i++) {
            uint64_t owner = 0;
            for (size_t k = 0; k < h->j->n; k++)
                if (host_gpu_of(h, &h->j->slices[k]) == (int)gi &&
                    h->j->slices[k].start == g->inst[i].start)
                    owner = h->j->slices[k].id;
            if (owner == 0)
                log_warn("GPU %zu: GI %u at %u:%u was not made by slicer: leaving it alone", gi,
                         g->inst[i].gi_id, g->inst[i].start, g->inst[i].size);
            if (g->inst[i].profile < 0 ||
                place_add(&h->pg[gi], (unsigned)g->inst[i].profile, g->inst[i].start, owner))
                log_warn("GPU %zu: GI %u is outside the catalog's rules", gi, g->inst[i].gi_id);
        }
    }
}

int host_reconcile(struct host *h, struct err **err)
{
    build_engine(h);
    /* Iterate over a copy of the ids: entries are removed on the way. */
    size_t n = h->j->n;
    uint64_t *ids = xcalloc(n ? n : 1, sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = h->j->slices[i].id;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct journal_slice *s = journal_find(h->j, ids[i]);
        if (s)
            rc = reconcile_one(h, s, err);
    }
    free(ids);
    if (rc == 0)
        rc = journal_save(h->j, err);
    return rc;
}
