#include "kube/kube_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "kube/kube_retry.h"

#define TOKEN_MAX 65536

struct kube_timer {
    uint64_t due;
    kube_timer_fn fn;
    void *arg;
    struct kube_timer *next;
};

enum hstate { H_WAITING, H_ACTIVE, H_DONE };

struct kube_http {
    struct kube_client *c;
    struct kube_http *prev, *next;
    CURL *easy;
    struct curl_slist *hdrs;
    char *method, *path, *ctype, *body;
    size_t body_len;
    int timeout_ms;
    int (*on_data)(void *, const char *, size_t);
    kube_http_done_fn done;
    void *arg;
    char *buf;
    size_t len, cap;
    unsigned attempt;
    uint64_t retry_after_ms;
    enum hstate state;
    struct kube_timer *timer;
    bool cancelled, aborted, overflow;
    bool counted;            /* one of the client's active unary requests */
    bool queued;             /* waiting for a free slot (c->queue) */
    struct kube_http *qnext; /* next in c->queue */
    char errbuf[CURL_ERROR_SIZE];
};

struct kube_client {
    CURLM *multi;
    int ep, tfd;
    uint64_t curl_due; /* 0: curl wants no timeout */
    struct kube_timer *timers;
    struct kube_http *reqs;
    struct kube_bucket bucket;
    struct kube_client_opts o;
    char *user_agent;
    struct kube_config cfg; /* deep copy */
    char *token;            /* current bearer token (from cfg.token or the file) */
    struct stat token_st;
    int in_curl;
    struct kube_client_stats stats;
    /* Unary requests handed to curl now (watches are not counted), and those past the rate
     * limiter waiting for one of max_inflight slots, oldest first: a burst of thousands of
     * writes then holds a few bytes each here, not curl's buffers for every one of them. */
    unsigned active;
    struct kube_http *queue, *queue_tail;
};

uint64_t kube_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- timers ------------------------------------------------------------ */

static void rearm(struct kube_client *c)
{
    uint64_t due = c->curl_due;
    if (c->timers && (due == 0 || c->timers->due < due))
        due = c->timers->due;
    struct itimerspec its = {{0, 0}, {0, 0}};
    if (due) {
        its.it_value.tv_sec = (time_t)(due / 1000);
        its.it_value.tv_nsec = (long)(due % 1000) * 1000000 + 1;
    }
    timerfd_settime(c->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

struct kube_timer *kube_timer_add(struct kube_client *c, uint64_t delay_ms, kube_timer_fn fn,
                                  void *arg)
{
    struct kube_timer *t = xcalloc(1, sizeof *t);
    t->due = kube_now_ms() + delay_ms;
    t->fn = fn;
    t->arg = arg;
    struct kube_timer **p = &c->timers;
    while (*p && (*p)->due <= t->due)
        p = &(*p)->next;
    t->next = *p;
    *p = t;
    rearm(c);
    return t;
}

void kube_timer_cancel(struct kube_client *c, struct kube_timer *t)
{
    for (struct kube_timer **p = &c->timers; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            free(t);
            return;
        }
}

static void run_timers(struct kube_client *c)
{
    uint64_t now = kube_now_ms();
    while (c->timers && c->timers->due <= now) {
        struct kube_timer *t = c->timers;
        c->timers = t->next;
        kube_timer_fn fn = t->fn;
        void *arg = t->arg;
        free(t);
        fn(arg);
    }
}

/* ---- curl callbacks ---------------------------------------------------- */

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)e;
    (void)socketp;
    struct kube_client *c = userp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(c->ep, EPOLL_CTL_DEL, s, NULL);
        return 0;
    }
    struct epoll_event ev = {.events = 0, .data.fd = s};
    if (what & CURL_POLL_IN)
        ev.events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        ev.events |= EPOLLOUT;
    if (epoll_ctl(c->ep, EPOLL_CTL_MOD, s, &ev) < 0 && errno == ENOENT)
        epoll_ctl(c->ep, EPOLL_CTL_ADD, s, &ev);
    return 0;
}

static int on_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    struct kube_client *c = userp;
    c->curl_due = timeout_ms < 0 ? 0 : kube_now_ms() + (uint64_t)timeout_ms;
    rearm(c);
    return 0;
}

/* Sockets are close-on-exec: a child the process starts must not keep the
 * API server connections (and their streams) alive. */
static curl_socket_t on_open_socket(void *userp, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct kube_client *c = userp;
    (void)purpose;
    c->stats.connections++;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static long http_status(struct kube_http *h)
{
    long code = 0;
    curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
    struct kube_http *h = userp;
    size_t n = size * nmemb;
    if (h->cancelled)
        return 0;
    long st = http_status(h);
    if (h->on_data && st >= 200 && st < 300) {
        if (h->on_data(h->arg, data, n) < 0) {
            h->aborted = true;
            return 0;
        }
        return n;
    }
    if (h->len + n > KUBE_HTTP_MAX_BODY) {
        h->overflow = true;
        return 0;
    }
    if (h->len + n + 1 > h->cap) {
        h->cap = (h->len + n + 1) * 2;
        h->buf = xrealloc(h->buf, h->cap);
    }
    memcpy(h->buf + h->len, data, n);
    h->len += n;
    h->buf[h->len] = '\0';
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    struct kube_http *h = userp;
    size_t n = size * nmemb;
    static const char ra[] = "retry-after:";
    if (n > sizeof ra && strncasecmp(data, ra, sizeof ra - 1) == 0) {
        char tmp[32];
        size_t k = n - (sizeof ra - 1) < sizeof tmp - 1 ? n - (sizeof ra - 1) : sizeof tmp - 1;
        memcpy(tmp, data + sizeof ra - 1, k);
        tmp[k] = '\0';
        char *end;
        long s = strtol(tmp, &end, 10);
        if (end != tmp && s > 0 && s < 3600)
            h->retry_after_ms = (uint64_t)s * 1000;
    }
    return n;
}

/* ---- configuration copy and auth --------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void pem_copy(struct kube_pem *dst, const struct kube_pem *src)
{
    dst->file = dup_or_null(src->file);
    dst->data = NULL;
    dst->len = src->len;
    if (src->data) {
        dst->data = xmalloc(src->len + 1);
        memcpy(dst->data, src->data, src->len);
        dst->data[src->len] = '\0';
    }
}

static void config_copy(struct kube_config *d, const struct kube_config *s)
{
    d->server = xstrdup(s->server);
    d->ns = xstrdup(s->ns ? s->ns : "default");
    d->context = dup_or_null(s->context);
    pem_copy(&d->ca, &s->ca);
    pem_copy(&d->cert, &s->cert);
    pem_copy(&d->key, &s->key);
    d->token = dup_or_null(s->token);
    d->token_file = dup_or_null(s->token_file);
    d->insecure = s->insecure;
}

/* Re-reads the token file when its identity, size or mtime changed, so that
 * rotated service-account tokens are used from the next request on. */
static void refresh_token(struct kube_client *c)
{
    struct stat st;
    if (!c->cfg.token_file || stat(c->cfg.token_file, &st) < 0)
        return;
    if (c->token && st.st_ino == c->token_st.st_ino && st.st_size == c->token_st.st_size &&
        st.st_mtim.tv_sec == c->token_st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == c->token_st.st_mtim.tv_nsec)
        return;
    int fd = open(c->cfg.token_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char *buf = xmalloc(TOKEN_MAX);
    ssize_t n = read(fd, buf, TOKEN_MAX - 1);
    close(fd);
    if (n <= 0) {
        free(buf);
        return;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = '\0';
    free(c->token);
    c->token = buf;
    c->token_st = st;
}

static void set_tls(struct kube_client *c, CURL *e)
{
    const struct kube_config *k = &c->cfg;
    struct curl_blob b;
    if (k->ca.data) {
        b = (struct curl_blob){k->ca.data, k->ca.len, CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
    } else if (k->ca.file) {
        curl_easy_setopt(e, CURLOPT_CAINFO, k->ca.file);
    }
    if (k->cert.data) {
        b = (struct curl_blob){k->cert.data, k->cert.len, CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    } else if (k->cert.file) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, k->cert.file);
    }
    if (k->key.data) {
        b = (struct curl_blob){k->key.data, k->key.len, CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    } else if (k->key.file) {
        curl_easy_setopt(e, CURLOPT_SSLKEY, k->key.file);
    }
    if (k->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

/* ---- requests ---------------------------------------------------------- */

static void build_headers(struct kube_http *h)
{
    struct kube_client *c = h->c;
    char line[TOKEN_MAX + 64];
    curl_slist_free_all(h->hdrs);
    h->hdrs = curl_slist_append(NULL, "Accept: application/json");
    if (h->ctype) {
        snprintf(line, sizeof line, "Content-Type: %s", h->ctype);
        h->hdrs = curl_slist_append(h->hdrs, line);
    }
    refresh_token(c);
    if (c->token) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", c->token);
        h->hdrs = curl_slist_append(h->hdrs, line);
    }
    h->hdrs = curl_slist_append(h->hdrs, "Expect:");
}

static CURL *make_easy(struct kube_http *h)
{
    struct kube_client *c = h->c;
    CURL *e = curl_easy_init();
    if (!e) {
        fprintf(stderr, "fatal: curl_easy_init failed\n");
        abort();
    }
    size_t n = strlen(c->cfg.server) + strlen(h->path) + 1;
    char *url = xmalloc(n);
    snprintf(url, n, "%s%s", c->cfg.server, h->path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    free(url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, h);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, h->method);
    if (strcmp(h->method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    if (h->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, h->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)h->body_len);
    }
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, c);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    /* A unary answer is one object of a few KiB: a small receive buffer per request (curl's
     * default is 16 KiB) keeps hundreds in flight cheap; a watch keeps the default. */
    if (!h->on_data)
        curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 4096L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
    long tmo = h->timeout_ms < 0 ? 0 : h->timeout_ms ? h->timeout_ms : c->o.timeout_ms;
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, tmo);
    set_tls(c, e);
    return e;
}

static void unlink_req(struct kube_http *h)
{
    struct kube_client *c = h->c;
    if (h->prev)
        h->prev->next = h->next;
    else
        c->reqs = h->next;
    if (h->next)
        h->next->prev = h->prev;
}

static void dequeue(struct kube_http *h)
{
    struct kube_client *c = h->c;
    struct kube_http **pp = &c->queue, *prev = NULL;
    while (*pp && *pp != h) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    if (*pp) {
        *pp = h->qnext;
        if (c->queue_tail == h)
            c->queue_tail = prev;
    }
    h->queued = false;
    h->qnext = NULL;
}

static void uncount(struct kube_http *h)
{
    if (h->counted) {
        h->c->active--;
        h->counted = false;
    }
}

static void free_req(struct kube_http *h)
{
    unlink_req(h);
    if (h->queued)
        dequeue(h);
    uncount(h);
    if (h->timer)
        kube_timer_cancel(h->c, h->timer);
    if (h->easy) {
        if (h->state == H_ACTIVE)
            curl_multi_remove_handle(h->c->multi, h->easy);
        curl_easy_cleanup(h->easy);
    }
    curl_slist_free_all(h->hdrs);
    free(h->method);
    free(h->path);
    free(h->ctype);
    free(h->body);
    free(h->buf);
    free(h);
}

static void pump(struct kube_client *c);

static void launch(void *arg)
{
    struct kube_http *h = arg;
    struct kube_client *c = h->c;
    h->timer = NULL;
    if (!h->on_data && c->active >= (unsigned)c->o.max_inflight) {
        h->queued = true; /* pump() launches it when a slot frees */
        h->qnext = NULL;
        if (c->queue_tail)
            c->queue_tail->qnext = h;
        else
            c->queue = h;
        c->queue_tail = h;
        return;
    }
    if (!h->on_data) {
        h->counted = true;
        if (++c->active > c->stats.max_active)
            c->stats.max_active = c->active;
    }
    if (!h->easy)
        h->easy = make_easy(h);
    build_headers(h);
    curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, h->hdrs);
    h->len = 0;
    h->retry_after_ms = 0;
    h->aborted = h->overflow = false;
    h->errbuf[0] = '\0';
    h->state = H_ACTIVE;
    h->c->stats.requests++;
    if (h->attempt > 0)
        h->c->stats.retries++;
    curl_multi_add_handle(h->c->multi, h->easy);
}

/* Waits for the rate limiter, then launches. */
static void schedule(struct kube_http *h, uint64_t extra_ms)
{
    uint64_t wait = kube_bucket_reserve(&h->c->bucket, kube_now_ms());
    h->state = H_WAITING;
    h->timer = kube_timer_add(h->c, wait + extra_ms, launch, h);
}

struct kube_http *kube_http_start(struct kube_client *c, const struct kube_http_req *req,
                                  kube_http_done_fn done, void *arg)
{
    struct kube_http *h = xcalloc(1, sizeof *h);
    h->c = c;
    h->method = xstrdup(req->method);
    h->path = xstrdup(req->path);
    h->ctype = dup_or_null(req->content_type);
    if (req->body) {
        h->body = xmalloc(req->body_len + 1);
        memcpy(h->body, req->body, req->body_len);
        h->body[req->body_len] = '\0';
        h->body_len = req->body_len;
    }
    h->timeout_ms = req->timeout_ms;
    h->on_data = req->on_data;
    h->done = done;
    h->arg = arg;
    h->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = h;
    c->reqs = h;
    schedule(h, 0);
    return h;
}

void kube_http_cancel(struct kube_client *c, struct kube_http *h)
{
    (void)c;
    if (!h || h->state == H_DONE)
        return;
    if (h->state == H_ACTIVE && h->c->in_curl) {
        h->cancelled = true; /* removed from curl once curl returns */
        return;
    }
    struct kube_client *cl = h->c;
    free_req(h);
    pump(cl);
}

static int curl_errno(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        return ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return ETIMEDOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
        return EHOSTUNREACH;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
        return EPROTO;
    default:
        return ECONNRESET;
    }
}

static bool retriable(struct kube_http *h, CURLcode rc, long status)
{
    if (h->on_data || h->c->o.retries < 0 || h->attempt >= (unsigned)h->c->o.retries)
        return false;
    if (rc == CURLE_OK)
        return status == 429 || status >= 500;
    return rc != CURLE_OPERATION_TIMEDOUT && !h->aborted && !h->overflow &&
           curl_errno(rc) != EPROTO;
}

static void finish(struct kube_http *h, long status, const struct err *e)
{
    h->state = H_DONE;
    h->done(h->arg, status, h->buf ? h->buf : "", h->len, e);
    free_req(h);
}

/* Launches queued requests while slots are free. */
static void pump(struct kube_client *c)
{
    while (c->queue && c->active < (unsigned)c->o.max_inflight) {
        struct kube_http *h = c->queue;
        dequeue(h);
        launch(h);
    }
}

static void completed(struct kube_http *h, CURLcode rc)
{
    struct kube_client *c = h->c;
    curl_multi_remove_handle(c->multi, h->easy);
    uncount(h);
    h->state = H_WAITING;
    if (h->cancelled) {
        free_req(h);
        return;
    }
    long status = rc == CURLE_OK ? http_status(h) : 0;
    if (retriable(h, rc, status)) {
        uint64_t d = kube_backoff_ms(h->attempt, (uint64_t)c->o.backoff_base_ms,
                                     (uint64_t)c->o.backoff_max_ms, kube_rand32());
        if (h->retry_after_ms > d)
            d = h->retry_after_ms;
        h->attempt++;
        schedule(h, d);
        return;
    }
    if (rc == CURLE_OK) {
        finish(h, status, NULL);
        return;
    }
    struct err *e = NULL;
    int code = h->aborted ? ECANCELED : h->overflow ? EFBIG : curl_errno(rc);
    err_set(&e, code, "%s %s: %s%s%s", h->method, h->path, curl_easy_strerror(rc),
            h->errbuf[0] ? ": " : "", h->errbuf);
    finish(h, 0, e);
    err_free(&e);
}

static void reap(struct kube_client *c)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct kube_http *h = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&h);
        completed(h, m->data.result);
    }
    for (struct kube_http *h = c->reqs, *next; h; h = next) {
        next = h->next;
        if (h->cancelled)
            free_req(h);
    }
    pump(c);
}

static void socket_action(struct kube_client *c, curl_socket_t fd, int flags)
{
    int running;
    c->in_curl++;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    c->in_curl--;
}

int kube_client_dispatch(struct kube_client *c, struct err **err)
{
    for (int round = 0; round < 8; round++) {
        struct epoll_event evs[64];
        int n = epoll_wait(c->ep, evs, 64, 0);
        if (n < 0 && errno != EINTR)
            return err_set(err, errno, "kube client: epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == c->tfd) {
                uint64_t x;
                if (read(c->tfd, &x, sizeof x) < 0 && errno != EAGAIN)
                    return err_set(err, errno, "kube client: timerfd: %s", strerror(errno));
                continue;
            }
            int f = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                    (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                    (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            socket_action(c, evs[i].data.fd, f);
        }
        if (c->curl_due && kube_now_ms() >= c->curl_due) {
            c->curl_due = 0;
            socket_action(c, CURL_SOCKET_TIMEOUT, 0);
        }
        reap(c);
        run_timers(c);
        if (n <= 0)
            break;
    }
    rearm(c);
    return 0;
}

int kube_client_step(struct kube_client *c, int timeout_ms, struct err **err)
{
    struct pollfd p = {.fd = c->ep, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) < 0 && errno != EINTR)
        return err_set(err, errno, "kube client: poll: %s", strerror(errno));
    return kube_client_dispatch(c, err);
}

int kube_client_fd(const struct kube_client *c)
{
    return c->ep;
}

const char *kube_client_namespace(const struct kube_client *c)
{
    return c->cfg.ns;
}

void kube_client_stats(const struct kube_client *c, struct kube_client_stats *out)
{
    *out = c->stats;
}

static void defaults(struct kube_client_opts *o)
{
    if (o->qps == 0)
        o->qps = 50;
    if (o->burst <= 0)
        o->burst = 100;
    if (o->timeout_ms <= 0)
        o->timeout_ms = 30000;
    if (o->retries == 0)
        o->retries = 5;
    if (o->backoff_base_ms <= 0)
        o->backoff_base_ms = 250;
    if (o->backoff_max_ms <= 0)
        o->backoff_max_ms = 8000;
    if (o->max_inflight <= 0)
        o->max_inflight = 64;
}

int kube_client_new(const struct kube_config *cfg, const struct kube_client_opts *opts,
                    struct kube_client **out, struct err **err)
{
    static int global_init;
    if (!global_init++)
        curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!cfg->server)
        return err_set(err, EINVAL, "kube client: the configuration has no server");
    struct kube_client *c = xcalloc(1, sizeof *c);
    c->ep = epoll_create1(EPOLL_CLOEXEC);
    c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (c->ep < 0 || c->tfd < 0) {
        int e = errno;
        if (c->ep >= 0)
            close(c->ep);
        if (c->tfd >= 0)
            close(c->tfd);
        free(c);
        return err_set(err, e, "kube client: epoll/timerfd: %s", strerror(e));
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = c->tfd};
    epoll_ctl(c->ep, EPOLL_CTL_ADD, c->tfd, &ev);
    if (opts)
        c->o = *opts;
    defaults(&c->o);
    c->user_agent = xstrdup(c->o.user_agent ? c->o.user_agent : "slicer/" SLICER_VERSION);
    config_copy(&c->cfg, cfg);
    c->token = dup_or_null(cfg->token);
    kube_bucket_init(&c->bucket, c->o.qps, c->o.burst, kube_now_ms());
    c->multi = curl_multi_init();
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    *out = c;
    return 0;
}

void kube_client_free(struct kube_client *c)
{
    if (!c)
        return;
    while (c->reqs)
        free_req(c->reqs);
    while (c->timers)
        kube_timer_cancel(c, c->timers);
    curl_multi_cleanup(c->multi);
    close(c->ep);
    close(c->tfd);
    struct kube_pem *p[] = {&c->cfg.ca, &c->cfg.cert, &c->cfg.key};
    for (size_t i = 0; i < 3; i++) {
        free(p[i]->file);
        free(p[i]->data);
    }
    free(c->cfg.server);
    free(c->cfg.ns);
    free(c->cfg.context);
    free(c->cfg.token);
    free(c->cfg.token_file);
    free(c->token);
    free(c->user_agent);
    free(c);
}
