/* The host agent's event loop: the unix socket, clients, requests, and the
 * periodic owner/TTL checks. NVML work goes to the worker (host_worker.c). */
#define _GNU_SOURCE /* accept4 */
#include "agent/host.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent/host_state.h"
#include "base/log.h"
#include "base/xalloc.h"

struct client {
    int fd;
    uint64_t cid;
    char *in;
    size_t inlen;
    char *out;
    size_t outlen, outoff;
    uint64_t *held; /* slice ids released when the connection closes */
    size_t nheld;
    unsigned pending; /* requests the worker has still to answer */
    size_t discard;   /* after an oversized request: bytes still swallowed unread */
    bool eof;         /* the peer shut its side: answer what was asked, then close */
    bool dead;        /* the peer is gone: drop replies, close when nothing is pending */
    bool in_epoll;
    struct client *next;
};

struct loop {
    struct host *h;
    int epfd, lfd;
    struct client *clients;
    uint64_t next_cid;
};

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* ---- owners --------------------------------------------------------------------- */

/* Start time of process pid (field 22 of /proc/PID/stat), 0 if it does not exist. */
static uint64_t pid_start_time(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return 0;
    /* After ") " come fields 3..; the start time is field 22. */
    unsigned long long v = 0;
    int field = 2;
    for (char *q = p + 1; *q && field < 22; q++)
        if (*q == ' ' && ++field == 22)
            v = strtoull(q + 1, NULL, 10);
    return v;
}

static bool owner_alive(const struct journal_slice *s)
{
    return s->pid == 0 || (s->pid_start != 0 && pid_start_time(s->pid) == s->pid_start);
}

/* ---- requests ------------------------------------------------------------------- */

struct create_req {
    const char *profile, *owner;
    json_int_t count, pid, ttl;
    int hold;
};

static char *profiles_offered(const struct host *h, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t gi = 0; gi < h->ngpus && len < cap; gi++) {
        char list[512];
        if (h->mg[gi].model == NULL)
            continue;
        cat_profile_list(h->mg[gi].model, list, sizeof list);
        len += (size_t)snprintf(buf + len, cap - len, "%sGPU %zu (%s): %s", len ? "; " : "", gi,
                                h->mg[gi].name, list);
    }
    return buf;
}

static bool profile_known(const struct host *h, const char *name)
{
    for (size_t gi = 0; gi < h->ngpus; gi++)
        if (host_profile_of(h, gi, name) >= 0)
            return true;
    return false;
}

/* Journals the placed slices (phase creating) and queues their creation. Locked. */
static void start_create_locked(struct loop *lp, struct client *c, const struct create_req *rq,
                                const struct place_outcome *out, const struct place_slice *sl)
{
    struct host *h = lp->h;
    struct job *job = xcalloc(1, sizeof *job);
    job->kind = JOB_CREATE;
    job->cid = c->cid;
    uint64_t start_time = rq->pid ? pid_start_time((int)rq->pid) : 0;
    for (json_int_t k = 0; k < rq->count; k++) {
        const struct place_slice *p = &sl[out->first + (size_t)k];
        struct journal_slice s = {.pid = (int32_t)rq->pid,
                                  .pid_start = start_time,
                                  .gpu_index = p->gpu,
                                  .start = p->start,
                                  .phase = SLICE_CREATING,
                                  .created = now_s(),
                                  .expires = rq->ttl ? now_s() + rq->ttl : 0};
        snprintf(s.owner, sizeof s.owner, "%s", rq->owner);
        snprintf(s.profile, sizeof s.profile, "%s", rq->profile);
        snprintf(s.gpu_uuid, sizeof s.gpu_uuid, "%s", h->mg[p->gpu].uuid);
        uint64_t id = journal_add(h->j, &s)->id;
        for (unsigned i = 0; i < h->pg[p->gpu].ninst; i++)
            if (h->pg[p->gpu].inst[i].start == p->start)
                h->pg[p->gpu].inst[i].owner = id;
        job->ids[job->n++] = id;
        if (rq->hold) {
            c->held = xreallocarray(c->held, c->nheld + 1, sizeof *c->held);
            c->held[c->nheld++] = id;
        }
    }
    host_save_locked(h);
    host_queue_locked(h, job);
}

static char *handle_create(struct loop *lp, struct client *c, json_t *req)
{
    struct host *h = lp->h;
    struct create_req rq = {.owner = "anonymous", .count = 1};
    json_error_t je;
    if (json_unpack_ex(req, &je, JSON_STRICT, "{s:s, s:s, s?I, s?s, s?I, s?I, s?b}", "op",
                       &(const char *){NULL}, "profile", &rq.profile, "count", &rq.count, "owner",
                       &rq.owner, "pid", &rq.pid, "ttl", &rq.ttl, "hold", &rq.hold) < 0)
        return host_error_json("bad create request: %s", je.text);
    if (rq.count < 1 || rq.count > HOST_MAX_COUNT)
        return host_error_json("count must be between 1 and %d, not %lld", HOST_MAX_COUNT,
                               (long long)rq.count);
    if (rq.pid < 0 || rq.ttl < 0 || strlen(rq.owner) >= 128 || strlen(rq.profile) >= 32)
        return host_error_json("pid and ttl must not be negative; owner and profile must be "
                               "short");
    char offered[2048];
    if (!profile_known(h, rq.profile))
        return host_error_json("unknown profile '%s'. This host offers: %s", rq.profile,
                               profiles_offered(h, offered, sizeof offered));
    struct place_req preq = {.profile = rq.profile, .count = (unsigned)rq.count, .owner = 0};
    struct place_outcome out;
    struct place_slice sl[HOST_MAX_COUNT];
    pthread_mutex_lock(&h->mu);
    size_t placed = place_batch(h->pg, h->ngpus, &preq, 1, h->cfg->policy, &out, sl);
    if (placed == 1)
        start_create_locked(lp, c, &rq, &out, sl);
    pthread_mutex_unlock(&h->mu);
    if (placed == 1)
        return NULL; /* the worker replies */
    return host_error_json("no room for %lld x %s: %s (see `slicer status`)", (long long)rq.count,
                           rq.profile, place_why_str(out.why));
}

/* Queues the release of `ids` (those not already in flight). Locked. */
static unsigned release_ids_locked(struct host *h, uint64_t cid, const uint64_t *ids, size_t n)
{
    struct job *job = xcalloc(1, sizeof *job);
    job->kind = JOB_RELEASE;
    job->cid = cid;
    for (size_t i = 0; i < n && job->n < HOST_MAX_COUNT; i++)
        if (journal_find(h->j, ids[i]) && !host_inflight_locked(h, ids[i]))
            job->ids[job->n++] = ids[i];
    unsigned count = job->n;
    if (count == 0) {
        free(job);
        return 0;
    }
    host_queue_locked(h, job);
    return count;
}

static char *handle_release(struct loop *lp, struct client *c, json_t *req)
{
    struct host *h = lp->h;
    json_int_t id = 0;
    const char *owner = NULL;
    json_error_t je;
    if (json_unpack_ex(req, &je, JSON_STRICT, "{s:s, s?I, s?s}", "op", &(const char *){NULL}, "id",
                       &id, "owner", &owner) < 0 ||
        (id == 0) == (owner == NULL))
        return host_error_json("bad release request: give exactly one of \"id\" or \"owner\"%s%s",
                               je.text[0] ? ": " : "", je.text);
    uint64_t ids[HOST_MAX_COUNT];
    size_t n = 0;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->j->n && n < HOST_MAX_COUNT; i++) {
        const struct journal_slice *s = &h->j->slices[i];
        if ((owner && strcmp(s->owner, owner) == 0) || (uint64_t)id == s->id)
            ids[n++] = s->id;
    }
    unsigned queued = release_ids_locked(h, c->cid, ids, n);
    pthread_mutex_unlock(&h->mu);
    if (queued > 0)
        return NULL;
    if (n > 0)
        return xstrdup("{\"ok\":true,\"released\":0,\"note\":\"already being released\"}");
    return host_error_json("no slice %s %s", owner ? "of owner" : "with id",
                           owner ? owner : "given");
}

static json_t *gpu_json_locked(const struct host *h, size_t gi)
{
    const struct mig_gpu *g = &h->mg[gi];
    const struct place_gpu *pg = &h->pg[gi];
    json_t *inst = json_array(), *can = json_object();
    for (unsigned i = 0; g->model && i < pg->ninst; i++)
        json_array_append_new(inst, json_pack("{s:s, s:i, s:i, s:I}", "profile",
                                              g->model->profiles[pg->inst[i].profile].name, "start",
                                              pg->inst[i].start, "size",
                                              g->model->profiles[pg->inst[i].profile].mem_slices,
                                              "slice", (json_int_t)pg->inst[i].owner));
    for (unsigned p = 0; g->model && p < g->model->nprofiles; p++)
        json_object_set_new(can, g->model->profiles[p].name, json_integer(place_fits_more(pg, p)));
    return json_pack("{s:i, s:s, s:s, s:b, s:i, s:o, s:o}", "index", (int)gi, "uuid", g->uuid,
                     "name", g->name, "migEnabled", g->mig_enabled, "memSlices",
                     g->model ? g->model->mem_slices : 0, "instances", inst, "canAdd", can);
}

static char *handle_list(struct loop *lp)
{
    struct host *h = lp->h;
    json_t *gpus = json_array(), *slices = json_array();
    pthread_mutex_lock(&h->mu);
    for (size_t gi = 0; gi < h->ngpus; gi++)
        json_array_append_new(gpus, gpu_json_locked(h, gi));
    for (size_t i = 0; i < h->j->n; i++) {
        const struct journal_slice *s = &h->j->slices[i];
        json_array_append_new(slices,
                              json_pack("{s:I, s:s, s:s, s:i, s:i, s:s, s:s, s:i, s:I}", "id",
                                        (json_int_t)s->id, "owner", s->owner, "profile", s->profile,
                                        "gpu", host_gpu_of(h, s), "start", (int)s->start, "uuid",
                                        s->mig_uuid, "phase", journal_phase_name(s->phase), "pid",
                                        s->pid, "expires", (json_int_t)s->expires));
    }
    pthread_mutex_unlock(&h->mu);
    json_t *o = json_pack("{s:b, s:s, s:o, s:o}", "ok", 1, "policy",
                          place_policy_name(h->cfg->policy), "gpus", gpus, "slices", slices);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static char *handle_line(struct loop *lp, struct client *c, const char *line, size_t len)
{
    json_error_t je;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (req == NULL)
        return host_error_json("malformed JSON: %s", je.text);
    const char *op = json_string_value(json_object_get(req, "op"));
    char *reply;
    if (!json_is_object(req) || op == NULL)
        reply = host_error_json("a request is a JSON object with \"op\": create, list or release");
    else if (strcmp(op, "create") == 0)
        reply = handle_create(lp, c, req);
    else if (strcmp(op, "release") == 0)
        reply = handle_release(lp, c, req);
    else if (strcmp(op, "list") == 0)
        reply = handle_list(lp);
    else
        reply = host_error_json("unknown op '%s' (create, list, release)", op);
    json_decref(req);
    return reply;
}

/* ---- clients ---------------------------------------------------------------------- */

/* Registers for what the client can still do: read until EOF, write while output is
 * queued. A client that can do neither leaves the epoll set, so that a hung-up
 * peer does not wake the loop while the worker finishes its request. */
static void update_events(struct loop *lp, struct client *c)
{
    uint32_t events = 0;
    if (!c->eof && !c->dead)
        events |= EPOLLIN;
    if (!c->dead && c->outoff < c->outlen)
        events |= EPOLLOUT;
    if (events == 0) {
        if (c->in_epoll)
            epoll_ctl(lp->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        c->in_epoll = false;
        return;
    }
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(lp->epfd, c->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev);
    c->in_epoll = true;
}

static void send_line(struct loop *lp, struct client *c, char *text)
{
    if (c->dead) {
        free(text);
        return;
    }
    size_t n = strlen(text);
    c->out = xrealloc(c->out, c->outlen + n + 1);
    memcpy(c->out + c->outlen, text, n);
    c->out[c->outlen + n] = '\n';
    c->outlen += n + 1;
    free(text);
    update_events(lp, c);
}

static void close_client(struct loop *lp, struct client *c)
{
    if (c->nheld > 0) {
        pthread_mutex_lock(&lp->h->mu);
        unsigned n = release_ids_locked(lp->h, 0, c->held, c->nheld);
        pthread_mutex_unlock(&lp->h->mu);
        if (n > 0)
            log_info("client %llu went away: releasing the %u slice(s) it held",
                     (unsigned long long)c->cid, n);
    }
    if (c->in_epoll)
        epoll_ctl(lp->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    for (struct client **pp = &lp->clients; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    free(c->in);
    free(c->out);
    free(c->held);
    free(c);
}

/* Bytes of the rest of an oversized request that are read and dropped, so
 * that a client still sending it gets to read the error instead of EPIPE. */
#define DISCARD_MAX (4 * HOST_MAX_REQUEST)

/* Handles every complete line in the input buffer. An oversized request is
 * answered and ends the conversation. */
static void process_input(struct loop *lp, struct client *c)
{
    char *nl;
    while ((nl = memchr(c->in, '\n', c->inlen)) != NULL) {
        size_t len = (size_t)(nl - c->in);
        char *reply = handle_line(lp, c, c->in, len);
        if (reply)
            send_line(lp, c, reply);
        else
            c->pending++; /* the worker answers */
        memmove(c->in, nl + 1, c->inlen - len - 1);
        c->inlen -= len + 1;
    }
    if (c->inlen >= HOST_MAX_REQUEST) {
        /* Answer, swallow what is still coming, close at EOF or past DISCARD_MAX. */
        send_line(lp, c, host_error_json("request larger than %d bytes", HOST_MAX_REQUEST));
        c->inlen = 0;
        c->discard = DISCARD_MAX;
    }
}

static bool on_readable(struct loop *lp, struct client *c)
{
    if (c->in == NULL)
        c->in = xmalloc(HOST_MAX_REQUEST + 1);
    ssize_t n = read(c->fd, c->in + c->inlen, HOST_MAX_REQUEST - c->inlen);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return true;
    if (n < 0)
        return false;
    if (n == 0) { /* a half-close (`socat`, `nc -N`) still wants its answers */
        c->eof = true;
        return true;
    }
    if (c->discard > 0) {
        c->discard = (size_t)n < c->discard ? c->discard - (size_t)n : 0;
        c->eof = c->discard == 0;
        return true;
    }
    c->inlen += (size_t)n;
    process_input(lp, c);
    return true;
}

static bool on_writable(struct loop *lp, struct client *c)
{
    while (c->outoff < c->outlen) {
        ssize_t n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return true;
        if (n <= 0)
            return false;
        c->outoff += (size_t)n;
    }
    c->outoff = c->outlen = 0;
    update_events(lp, c);
    return true;
}

/* Closes the client once nothing more can happen on it; else keeps its
 * registration in step with what it still waits for. */
static void settle(struct loop *lp, struct client *c)
{
    bool flushed = c->outoff >= c->outlen;
    if (c->pending == 0 && (c->dead || (c->eof && flushed)))
        close_client(lp, c);
    else
        update_events(lp, c);
}

static void accept_clients(struct loop *lp)
{
    for (;;) {
        int fd = accept4(lp->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct client *c = xcalloc(1, sizeof *c);
        c->fd = fd;
        c->cid = ++lp->next_cid;
        c->next = lp->clients;
        lp->clients = c;
        update_events(lp, c);
    }
}

static struct client *client_by_id(struct loop *lp, uint64_t cid)
{
    for (struct client *c = lp->clients; c; c = c->next)
        if (c->cid == cid)
            return c;
    return NULL;
}

static void deliver_replies(struct loop *lp)
{
    uint64_t v;
    if (read(lp->h->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
        log_warn("reading the wake-up counter: %s", strerror(errno));
    pthread_mutex_lock(&lp->h->mu);
    struct reply *r = lp->h->replies;
    lp->h->replies = NULL;
    pthread_mutex_unlock(&lp->h->mu);
    while (r) {
        struct reply *next = r->next;
        struct client *c = client_by_id(lp, r->cid);
        if (c) {
            c->pending--;
            send_line(lp, c, r->text);
            settle(lp, c);
        } else {
            free(r->text);
        }
        free(r);
        r = next;
    }
}

/* Releases slices whose TTL expired or whose owner process is gone, and
 * retries releases that failed. */
static void check_owners(struct loop *lp)
{
    struct host *h = lp->h;
    uint64_t ids[HOST_MAX_COUNT];
    size_t n = 0;
    int64_t now = now_s();
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->j->n && n < HOST_MAX_COUNT; i++) {
        const struct journal_slice *s = &h->j->slices[i];
        if (host_inflight_locked(h, s->id))
            continue;
        bool expired = s->expires != 0 && now >= s->expires;
        if (s->phase == SLICE_RELEASING || expired || !owner_alive(s)) {
            log_info("slice %llu: %s", (unsigned long long)s->id,
                     s->phase == SLICE_RELEASING ? "retrying its release"
                     : expired                   ? "TTL expired"
                                                 : "owner process is gone");
            ids[n++] = s->id;
        }
    }
    if (n > 0)
        release_ids_locked(h, 0, ids, n);
    pthread_mutex_unlock(&h->mu);
}

/* ---- set-up ------------------------------------------------------------------------ */

static int listen_on(const char *path, struct err **err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path)
        return err_set(err, ENAMETOOLONG, "socket path %s is too long", path);
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_set(err, errno, "socket: %s", strerror(errno));
    /* A socket file nobody answers on is left over from a crash: replace it. */
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
        close(fd);
        return err_set(err, EADDRINUSE, "another agent is already serving %s", path);
    }
    unlink(path);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || chmod(path, 0660) < 0 ||
        listen(fd, 64) < 0) {
        int e = errno;
        close(fd);
        return err_set(err, e, "listening on %s: %s", path, strerror(e));
    }
    return fd;
}

static int open_host(struct host *h, struct err **err)
{
    int rc = nvml_open(h->cfg->nvml_library, &h->nvml, err);
    if (rc == 0)
        rc = mig_discover(h->nvml, &h->mg, &h->ngpus, err);
    if (rc < 0)
        return rc;
    h->pg = xcalloc(h->ngpus ? h->ngpus : 1, sizeof *h->pg);
    const char *dir = h->cfg->state_dir ? h->cfg->state_dir : HOST_DEFAULT_STATE;
    char path[4096];
    snprintf(path, sizeof path, "%s/journal.json", dir);
    rc = journal_mkdirs(dir, err);
    if (rc == 0)
        rc = journal_open(path, &h->j, err);
    if (rc == 0)
        rc = host_reconcile(h, err);
    for (size_t gi = 0; rc == 0 && gi < h->ngpus; gi++)
        log_info("GPU %zu: %s %s, MIG %s, %u instance(s)", gi, h->mg[gi].name, h->mg[gi].uuid,
                 h->mg[gi].mig_enabled ? "on" : "off", h->pg[gi].ninst);
    return rc;
}

static void close_host(struct host *h)
{
    journal_free(h->j);
    free(h->pg);
    free(h->mg);
    free(h->inflight);
    nvml_close(h->nvml);
}

static int serve(struct loop *lp, volatile sig_atomic_t *stop)
{
    unsigned check_ms = lp->h->cfg->check_ms ? lp->h->cfg->check_ms : 1000;
    struct timespec last = {0};
    while (!*stop) {
        struct epoll_event evs[32];
        int n = epoll_wait(lp->epfd, evs, 32, (int)check_ms);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &lp->lfd) {
                accept_clients(lp);
                continue;
            }
            if (evs[i].data.ptr == &lp->h->wake_fd) {
                deliver_replies(lp);
                continue;
            }
            struct client *c = evs[i].data.ptr;
            bool ok = true;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                ok = on_readable(lp, c);
            if (ok && (evs[i].events & EPOLLOUT))
                ok = on_writable(lp, c);
            if (!ok || (evs[i].events & EPOLLERR))
                c->dead = true;
            settle(lp, c);
        }
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - last.tv_sec) * 1000 + (t.tv_nsec - last.tv_nsec) / 1000000 >= check_ms) {
            check_owners(lp);
            last = t;
        }
    }
    return 0;
}

int host_run(const struct host_config *cfg, volatile sig_atomic_t *stop, struct err **err)
{
    struct host h = {.cfg = cfg, .wake_fd = -1};
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.cv, NULL);
    struct loop lp = {.h = &h, .epfd = -1, .lfd = -1};
    const char *sock = cfg->socket_path ? cfg->socket_path : HOST_DEFAULT_SOCKET;
    char *sockdir = xstrdup(sock);
    char *slash = strrchr(sockdir, '/');
    if (slash && slash != sockdir)
        *slash = '\0';
    int rc = open_host(&h, err);
    if (rc == 0 && slash && slash != sockdir)
        rc = journal_mkdirs(sockdir, err);
    free(sockdir);
    if (rc == 0 && (lp.lfd = listen_on(sock, err)) < 0)
        rc = lp.lfd;
    if (rc < 0) {
        close_host(&h);
        return rc;
    }
    h.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    lp.epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &lp.lfd};
    epoll_ctl(lp.epfd, EPOLL_CTL_ADD, lp.lfd, &ev);
    ev.data.ptr = &h.wake_fd;
    epoll_ctl(lp.epfd, EPOLL_CTL_ADD, h.wake_fd, &ev);
    pthread_t worker;
    pthread_create(&worker, NULL, host_worker, &h);
    log_info("serving %s (policy %s)", sock, place_policy_name(cfg->policy));

    rc = serve(&lp, stop);

    log_info("stopping: finishing queued work");
    pthread_mutex_lock(&h.mu);
    h.quit = true;
    pthread_cond_signal(&h.cv);
    pthread_mutex_unlock(&h.mu);
    pthread_join(worker, NULL);
    while (lp.clients) {
        lp.clients->nheld = 0; /* stopping the agent does not take slices from running work */
        close_client(&lp, lp.clients);
    }
    for (struct reply *r = h.replies, *next; r; r = next) {
        next = r->next;
        free(r->text);
        free(r);
    }
    close(lp.lfd);
    unlink(sock);
    close(lp.epfd);
    close(h.wake_fd);
    close_host(&h);
    return rc;
}
