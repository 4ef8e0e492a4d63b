/* grpc — unary gRPC over h2c on unix sockets, on libnghttp2 (see grpc.h).
 *
 * One `struct stream` per HTTP/2 request, created when its HEADERS begin and
 * freed in nghttp2's on_stream_close (or when its connection goes). A stream
 * goes READING (headers and DATA arrive, the message is reassembled) ->
 * HANDLED (the handler owns a call) -> ANSWERED (a response is queued). The
 * call and the stream point at each other until one of them goes: a call
 * whose stream is gone, or whose stream was answered by the deadline timer,
 * is dead. Connections closed during a dispatch are freed at its end, so an
 * epoll event later in the same batch never sees freed memory. */
#define _GNU_SOURCE /* accept4 */
#include "kubelet/grpc.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "kubelet/frame.h"

#define DEF_MAX_MSG      (4u << 20)
#define DEF_MAX_BUFFERED (64u << 20)
#define DEF_MAX_CONNS    32u
#define DEF_MAX_STREAMS  64u
#define MAX_GRPC_MESSAGE 1024 /* bytes of an error text sent in grpc-message */
#define READ_CHUNK       16384
#define READS_PER_EVENT  16 /* then yield to other fds; level-triggered epoll comes back */

enum ent_kind { ENT_LISTENER, ENT_CONN, ENT_TIMER };

/* The head of everything registered in the epoll set (epoll_event.data.ptr). */
struct ent {
    enum ent_kind kind;
};

struct listener {
    struct ent e;
    struct kl_grpc_server *s;
    int fd;
    const struct kl_grpc_method *methods;
    size_t nmethods;
    void *arg;
};

enum st_state { ST_READING, ST_HANDLED, ST_ANSWERED };

struct stream {
    struct conn *c;
    struct stream *prev, *next;
    int32_t id;
    enum st_state state;
    bool post, grpc_ct; /* :method POST; content-type application/grpc[+...|;...] */
    const struct kl_grpc_method *m;
    char path[128];    /* for logs, cut */
    uint64_t deadline; /* CLOCK_MONOTONIC ns, 0 = none */
    struct kl_frame_rx rx;
    size_t counted; /* bytes of rx counted in the server's `buffered` */
    struct kl_grpc_call *call;
    uint8_t *resp; /* prefixed answer message */
    size_t resp_len, resp_off;
};

struct kl_grpc_call {
    struct stream *st; /* NULL once the stream is gone */
};

struct conn {
    struct ent e;
    struct kl_grpc_server *s;
    struct listener *l;
    struct conn *prev, *next;
    int fd;
    nghttp2_session *h2;
    uint8_t *out; /* bytes nghttp2 produced that the socket did not take yet */
    size_t nout, off;
    bool pollout, broken, closed;
    struct stream *streams;
};

struct kl_grpc_server {
    struct kl_grpc_limits lim;
    int epfd, tfd;
    struct ent timer;
    struct listener **ls;
    size_t nls;
    struct conn *conns, *grave; /* open; closed during this dispatch */
    unsigned nconns;
    size_t buffered;
    bool in_dispatch;
    bool warned_conns;
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- streams ------------------------------------------------------------------------ */

static void rx_release(struct stream *st)
{
    st->c->s->buffered -= st->counted;
    st->counted = 0;
    kl_frame_rx_free(&st->rx);
}

static void stream_free(struct stream *st)
{
    if (st->call != NULL)
        st->call->st = NULL;
    rx_release(st);
    struct conn *c = st->c;
    if (st->prev != NULL)
        st->prev->next = st->next;
    else
        c->streams = st->next;
    if (st->next != NULL)
        st->next->prev = st->prev;
    free(st->resp);
    free(st);
}

static nghttp2_nv nv(const char *name, const char *value)
{
    return (nghttp2_nv){(uint8_t *)(uintptr_t)name, (uint8_t *)(uintptr_t)value, strlen(name),
                        strlen(value), NGHTTP2_NV_FLAG_NONE};
}

static void submit(struct stream *st, const nghttp2_nv *nva, size_t n,
                   const nghttp2_data_provider *dp)
{
    st->state = ST_ANSWERED;
    rx_release(st);
    int rv = nghttp2_submit_response(st->c->h2, st->id, nva, n, dp);
    if (rv != 0) { /* not expected: the state machine above rules it out; reset the stream */
        log_warn("grpc: stream %d: cannot answer: %s", st->id, nghttp2_strerror(rv));
        if (nghttp2_submit_rst_stream(st->c->h2, NGHTTP2_FLAG_NONE, st->id,
                                      NGHTTP2_INTERNAL_ERROR) != 0)
            st->c->broken = true;
    }
}

/* A "Trailers-Only" answer: one HEADERS frame carrying the status. */
static void answer_status(struct stream *st, enum kl_grpc_status status, const char *msg)
{
    char code[12];
    snprintf(code, sizeof code, "%d", (int)status);
    _cleanup_free_ char *enc = kl_pct_encode(msg != NULL ? msg : "", MAX_GRPC_MESSAGE);
    nghttp2_nv nva[] = {nv(":status", "200"), nv("content-type", "application/grpc"),
                        nv("grpc-status", code), nv("grpc-message", enc)};
    if (status != KL_GRPC_OK)
        log_debug("grpc: %s: status %d: %s", st->path, (int)status, msg != NULL ? msg : "");
    submit(st, nva, msg != NULL && msg[0] != '\0' ? 4 : 3, NULL);
}

/* A plain HTTP refusal (415 for a non-gRPC content-type, 405 for a non-POST). */
static void answer_http(struct stream *st, const char *code)
{
    nghttp2_nv nva[] = {nv(":status", code)};
    log_debug("grpc: %s: HTTP %s", st->path, code);
    submit(st, nva, 1, NULL);
}

static ssize_t read_resp(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *user)
{
    (void)user;
    struct stream *st = src->ptr;
    size_t k = st->resp_len - st->resp_off;
    if (k > len)
        k = len;
    memcpy(buf, st->resp + st->resp_off, k);
    st->resp_off += k;
    if (st->resp_off == st->resp_len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        nghttp2_nv tr[] = {nv("grpc-status", "0")};
        int rv = nghttp2_submit_trailer(h2, id, tr, 1);
        if (rv != 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return (ssize_t)k;
}

static void answer_message(struct stream *st, const uint8_t *msg, size_t len)
{
    st->resp = xmalloc(KL_FRAME_PREFIX + len);
    kl_frame_prefix(st->resp, len);
    if (len > 0)
        memcpy(st->resp + KL_FRAME_PREFIX, msg, len);
    st->resp_len = KL_FRAME_PREFIX + len;
    nghttp2_nv nva[] = {nv(":status", "200"), nv("content-type", "application/grpc")};
    nghttp2_data_provider dp = {.source.ptr = st, .read_callback = read_resp};
    submit(st, nva, 2, &dp);
}

/* ---- calls -------------------------------------------------------------------------- */

bool kl_grpc_call_alive(const struct kl_grpc_call *c)
{
    return c->st != NULL && c->st->state == ST_HANDLED;
}

static void conn_flush(struct conn *c);
static void conn_close(struct conn *c);
static void bury(struct kl_grpc_server *s);

/* Detaches and frees the call, then pushes the answer out unless a dispatch
 * is running (it flushes at its end). */
static void call_done(struct kl_grpc_call *call, struct conn *c)
{
    if (call->st != NULL)
        call->st->call = NULL;
    free(call);
    if (c == NULL || c->s->in_dispatch)
        return;
    conn_flush(c);
    if (c->broken) {
        struct kl_grpc_server *s = c->s;
        conn_close(c);
        bury(s);
    }
}

void kl_grpc_reply(struct kl_grpc_call *call, const uint8_t *msg, size_t len)
{
    struct conn *c = NULL;
    if (kl_grpc_call_alive(call)) {
        c = call->st->c;
        answer_message(call->st, msg, len);
    }
    call_done(call, c);
}

void kl_grpc_fail(struct kl_grpc_call *call, enum kl_grpc_status status, const char *msg)
{
    struct conn *c = NULL;
    if (kl_grpc_call_alive(call)) {
        c = call->st->c;
        answer_status(call->st, status == KL_GRPC_OK ? KL_GRPC_UNKNOWN : status, msg);
    }
    call_done(call, c);
}

/* ---- nghttp2 callbacks -------------------------------------------------------------- */

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *f, void *user)
{
    struct conn *c = user;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct stream *st = xcalloc(1, sizeof *st);
    st->c = c;
    st->id = f->hd.stream_id;
    st->rx.cap = c->s->lim.max_msg;
    st->next = c->streams;
    if (c->streams != NULL)
        c->streams->prev = st;
    c->streams = st;
    nghttp2_session_set_stream_user_data(h2, st->id, st);
    return 0;
}

static bool grpc_content_type(const uint8_t *v, size_t n)
{
    static const char ct[] = "application/grpc";
    size_t k = sizeof ct - 1;
    return n >= k && memcmp(v, ct, k) == 0 && (n == k || v[k] == '+' || v[k] == ';');
}

static bool header_is(const uint8_t *name, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(name, want, n) == 0;
}

static void header_path(struct stream *st, const uint8_t *v, size_t n)
{
    snprintf(st->path, sizeof st->path, "%.*s", (int)(n < 120 ? n : 120), (const char *)v);
    const struct listener *l = st->c->l;
    for (size_t i = 0; i < l->nmethods; i++)
        if (header_is(v, n, l->methods[i].path))
            st->m = &l->methods[i];
}

static void header_timeout(struct stream *st, const uint8_t *v, size_t n)
{
    uint64_t ns;
    if (kl_grpc_timeout_parse((const char *)v, n, &ns) < 0)
        return; /* grpc-go never sends a bad one; ignoring it is the lenient choice */
    uint64_t cap = st->c->s->lim.max_timeout_ms;
    if (cap != 0 && ns / 1000000u > cap)
        ns = cap * 1000000u;
    uint64_t now = mono_ns();
    st->deadline = ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
    (void)flags;
    (void)user;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct stream *st = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
    if (st == NULL)
        return 0;
    if (header_is(name, nlen, ":method"))
        st->post = header_is(value, vlen, "POST");
    else if (header_is(name, nlen, ":path"))
        header_path(st, value, vlen);
    else if (header_is(name, nlen, "content-type"))
        st->grpc_ct = grpc_content_type(value, vlen);
    else if (header_is(name, nlen, "grpc-timeout"))
        header_timeout(st, value, vlen);
    return 0;
}

/* The request headers are complete: refuse what we cannot serve at once. */
static void request_headers(struct stream *st)
{
    if (!st->post)
        answer_http(st, "405");
    else if (!st->grpc_ct)
        answer_http(st, "415");
    else if (st->m == NULL) {
        char msg[200];
        snprintf(msg, sizeof msg, "unknown method %s", st->path);
        answer_status(st, KL_GRPC_UNIMPLEMENTED, msg);
    }
}

/* The client half-closed: hand the message to the handler. */
static void request_end(struct stream *st)
{
    if (st->state != ST_READING)
        return;
    if (!kl_frame_complete(&st->rx)) {
        answer_status(st, KL_GRPC_INTERNAL, "unary call without a request message");
        return;
    }
    st->state = ST_HANDLED;
    st->call = xcalloc(1, sizeof *st->call);
    st->call->st = st;
    const struct listener *l = st->c->l;
    struct kl_frame_rx rx = st->rx; /* the handler may answer (and release rx) at once */
    size_t counted = st->counted;
    st->rx = (struct kl_frame_rx){0};
    st->counted = 0;
    st->m->fn(l->arg, st->call, rx.buf, rx.len);
    l->s->buffered -= counted;
    kl_frame_rx_free(&rx);
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *f, void *user)
{
    (void)user;
    struct stream *st = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
    if (st == NULL)
        return 0;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST)
        request_headers(st);
    if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        request_end(st);
    return 0;
}

static void data_refused(struct stream *st, enum kl_frame_rc rc)
{
    char msg[128];
    switch (rc) {
    case KL_FRAME_TOO_BIG:
        snprintf(msg, sizeof msg, "request message of %zu bytes exceeds the limit of %zu",
                 st->rx.len, st->rx.cap);
        answer_status(st, KL_GRPC_RESOURCE_EXHAUSTED, msg);
        break;
    case KL_FRAME_COMPRESSED:
        answer_status(st, KL_GRPC_UNIMPLEMENTED, "compressed messages are not supported");
        break;
    default:
        answer_status(st, KL_GRPC_INTERNAL, "unary call with more than one request message");
    }
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user)
{
    (void)flags;
    struct conn *c = user;
    struct stream *st = nghttp2_session_get_stream_user_data(h2, id);
    if (st == NULL || st->state != ST_READING)
        return 0; /* answered already: nghttp2 still credits the window */
    if (c->s->buffered + len > c->s->lim.max_buffered) {
        answer_status(st, KL_GRPC_RESOURCE_EXHAUSTED, "server busy: too many request bytes held");
        return 0;
    }
    enum kl_frame_rc rc = kl_frame_feed(&st->rx, data, len);
    if (rc != KL_FRAME_OK) {
        data_refused(st, rc);
        return 0;
    }
    st->counted += len;
    c->s->buffered += len;
    return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t code, void *user)
{
    (void)code;
    (void)user;
    struct stream *st = nghttp2_session_get_stream_user_data(h2, id);
    if (st != NULL) {
        nghttp2_session_set_stream_user_data(h2, id, NULL);
        stream_free(st);
    }
    return 0;
}

static nghttp2_session_callbacks *callbacks(void)
{
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0)
        abort(); /* only fails on out-of-memory */
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    return cb;
}

/* ---- connections -------------------------------------------------------------------- */

static void set_pollout(struct conn *c, bool on)
{
    if (c->pollout == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0u), .data.ptr = &c->e};
    if (epoll_ctl(c->s->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->pollout = on;
    else
        c->broken = true;
}

/* Sends bytes: returns how many the socket took, or -1 when it is broken. */
static ssize_t send_some(struct conn *c, const uint8_t *p, size_t n)
{
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
    if (w >= 0)
        return w;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
    c->broken = true;
    return -1;
}

/* Writes what is pending, then what nghttp2 has to send, until the socket is
 * full (EPOLLOUT then brings us back) or nothing is left. Never frees c. */
static void conn_flush(struct conn *c)
{
    while (!c->broken) {
        if (c->off < c->nout) {
            ssize_t w = send_some(c, c->out + c->off, c->nout - c->off);
            if (w <= 0)
                break;
            c->off += (size_t)w;
            continue;
        }
        c->off = c->nout = 0;
        const uint8_t *d;
        ssize_t k = nghttp2_session_mem_send(c->h2, &d);
        if (k < 0) {
            c->broken = true;
            break;
        }
        if (k == 0)
            break;
        ssize_t w = send_some(c, d, (size_t)k);
        if (w < 0)
            break;
        if (w < k) { /* keep the rest: d is nghttp2's and valid only until the next call */
            c->out = xrealloc(c->out, (size_t)(k - w));
            memcpy(c->out, d + w, (size_t)(k - w));
            c->nout = (size_t)(k - w);
        }
    }
    if (!c->broken)
        set_pollout(c, c->off < c->nout);
}

/* Unlinks c, kills its calls and closes its socket; the memory goes at the
 * end of the dispatch (bury), as an event for c may still be in the batch. */
static void conn_close(struct conn *c)
{
    struct kl_grpc_server *s = c->s;
    while (c->streams != NULL)
        stream_free(c->streams);
    nghttp2_session_del(c->h2);
    c->h2 = NULL;
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->closed = true;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = NULL;
    c->next = s->grave;
    s->grave = c;
    s->nconns--;
}

static void bury(struct kl_grpc_server *s)
{
    while (s->grave != NULL) {
        struct conn *c = s->grave;
        s->grave = c->next;
        free(c->out);
        free(c);
    }
}

static void conn_read(struct conn *c)
{
    uint8_t buf[READ_CHUNK];
    for (int i = 0; i < READS_PER_EVENT && !c->broken; i++) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n == 0) {
            c->broken = true; /* the client closed: nothing can reach it any more */
            return;
        }
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                c->broken = true;
            return;
        }
        ssize_t rv = nghttp2_session_mem_recv(c->h2, buf, (size_t)n);
        if (rv < 0) {
            log_debug("grpc: closing a connection: %s", nghttp2_strerror((int)rv));
            conn_flush(c); /* a GOAWAY may be queued */
            c->broken = true;
        }
    }
}

static void conn_event(struct conn *c, uint32_t events)
{
    if (events & EPOLLIN)
        conn_read(c);
    else if (events & (EPOLLERR | EPOLLHUP))
        c->broken = true;
    conn_flush(c);
    if (c->broken || (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2) &&
                      c->off == c->nout))
        conn_close(c);
}

static void conn_new(struct listener *l, int fd)
{
    struct kl_grpc_server *s = l->s;
    struct conn *c = xcalloc(1, sizeof *c);
    c->e.kind = ENT_CONN;
    c->s = s;
    c->l = l;
    c->fd = fd;
    nghttp2_session_callbacks *cb = callbacks();
    int rv = nghttp2_session_server_new(&c->h2, cb, c);
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry set[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, s->lim.max_streams},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 16384},
    };
    if (rv == 0)
        rv = nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, set, 2);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c->e};
    if (rv != 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        log_warn("grpc: cannot serve a new connection: %s",
                 rv != 0 ? nghttp2_strerror(rv) : strerror(errno));
        if (c->h2 != NULL)
            nghttp2_session_del(c->h2);
        close(fd);
        free(c);
        return;
    }
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    conn_flush(c); /* our SETTINGS: the server preface */
}

static void accept_all(struct listener *l)
{
    struct kl_grpc_server *s = l->s;
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                log_warn("grpc: accept: %s", strerror(errno));
            return;
        }
        if (s->nconns >= s->lim.max_conns) {
            if (!s->warned_conns)
                log_warn("grpc: %u connections open, refusing more", s->nconns);
            s->warned_conns = true;
            close(fd);
            continue;
        }
        s->warned_conns = false;
        conn_new(l, fd);
    }
}

/* ---- deadlines ---------------------------------------------------------------------- */

/* Answers DEADLINE_EXCEEDED to every pending stream whose grpc-timeout has
 * passed (its call, if any, becomes dead) and returns the next deadline. */
static uint64_t expire(struct kl_grpc_server *s, uint64_t now)
{
    uint64_t next = 0;
    for (struct conn *c = s->conns; c != NULL; c = c->next)
        for (struct stream *st = c->streams; st != NULL; st = st->next) {
            if (st->deadline == 0 || st->state == ST_ANSWERED)
                continue;
            if (st->deadline <= now)
                answer_status(st, KL_GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
            else if (next == 0 || st->deadline < next)
                next = st->deadline;
        }
    return next;
}

static void arm_timer(struct kl_grpc_server *s, uint64_t at)
{
    struct itimerspec its = {0};
    if (at != 0) {
        its.it_value.tv_sec = (time_t)(at / 1000000000u);
        its.it_value.tv_nsec = (long)(at % 1000000000u);
    }
    if (timerfd_settime(s->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        log_warn("grpc: timerfd_settime: %s", strerror(errno));
}

/* ---- the server --------------------------------------------------------------------- */

struct kl_grpc_server *kl_grpc_server_new(const struct kl_grpc_limits *limits, struct err **err)
{
    struct kl_grpc_server *s = xcalloc(1, sizeof *s);
    if (limits != NULL)
        s->lim = *limits;
    if (s->lim.max_msg == 0)
        s->lim.max_msg = DEF_MAX_MSG;
    if (s->lim.max_buffered == 0)
        s->lim.max_buffered = DEF_MAX_BUFFERED;
    if (s->lim.max_conns == 0)
        s->lim.max_conns = DEF_MAX_CONNS;
    if (s->lim.max_streams == 0)
        s->lim.max_streams = DEF_MAX_STREAMS;
    s->timer.kind = ENT_TIMER;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->timer};
    if (s->epfd < 0 || s->tfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->tfd, &ev) < 0) {
        err_set(err, errno, "grpc server: %s", strerror(errno));
        kl_grpc_server_free(s);
        return NULL;
    }
    return s;
}

static int listen_unix(const char *path, struct err **err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return err_set(err, ENAMETOOLONG, "socket path %s is too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_set(err, errno, "socket: %s", strerror(errno));
    /* 0600: only the socket's owner (root, like the kubelet) may connect. Whoever can call
     * Prepare and Unprepare can have CDI specs written and removed, so no one else may. */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || chmod(path, 0600) < 0 ||
        listen(fd, 64) < 0) {
        int e = errno;
        close(fd);
        return err_set(err, e, "listening on %s: %s", path, strerror(e));
    }
    return fd;
}

int kl_grpc_listen(struct kl_grpc_server *s, const char *path, const struct kl_grpc_method *methods,
                   size_t n, void *arg, struct err **err)
{
    int fd = listen_unix(path, err);
    if (fd < 0)
        return fd;
    struct listener *l = xcalloc(1, sizeof *l);
    *l = (struct listener){{ENT_LISTENER}, s, fd, methods, n, arg};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &l->e};
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int e = errno;
        close(fd);
        free(l);
        return err_set(err, e, "epoll: %s", strerror(e));
    }
    s->ls = xreallocarray(s->ls, s->nls + 1, sizeof *s->ls);
    s->ls[s->nls++] = l;
    return 0;
}

int kl_grpc_fd(const struct kl_grpc_server *s)
{
    return s->epfd;
}

unsigned kl_grpc_conns(const struct kl_grpc_server *s)
{
    return s->nconns;
}

static void on_event(struct kl_grpc_server *s, struct ent *e, uint32_t events)
{
    switch (e->kind) {
    case ENT_LISTENER:
        accept_all((struct listener *)e);
        break;
    case ENT_CONN: {
        struct conn *c = (struct conn *)e;
        if (!c->closed)
            conn_event(c, events);
        break;
    }
    case ENT_TIMER: {
        uint64_t ticks;
        if (read(s->tfd, &ticks, sizeof ticks) < 0 && errno != EAGAIN)
            log_warn("grpc: timerfd: %s", strerror(errno));
        break;
    }
    }
}

void kl_grpc_dispatch(struct kl_grpc_server *s)
{
    struct epoll_event evs[32];
    s->in_dispatch = true;
    int n = epoll_wait(s->epfd, evs, 32, 0);
    for (int i = 0; i < n; i++)
        on_event(s, evs[i].data.ptr, evs[i].events);
    uint64_t next = expire(s, mono_ns());
    /* Answers given by handlers, or by the expiry above, go out now. */
    for (struct conn *c = s->conns, *nx; c != NULL; c = nx) {
        nx = c->next;
        conn_flush(c);
        if (c->broken)
            conn_close(c);
    }
    bury(s);
    arm_timer(s, next);
    s->in_dispatch = false;
}

void kl_grpc_server_free(struct kl_grpc_server *s)
{
    if (s == NULL)
        return;
    while (s->conns != NULL) {
        struct conn *c = s->conns;
        /* GOAWAY first, best effort: a client then knows to go elsewhere. */
        if (nghttp2_session_terminate_session(c->h2, NGHTTP2_NO_ERROR) == 0)
            conn_flush(c);
        conn_close(c);
    }
    bury(s);
    for (size_t i = 0; i < s->nls; i++) {
        close(s->ls[i]->fd);
        free(s->ls[i]);
    }
    free(s->ls);
    if (s->tfd >= 0)
        close(s->tfd);
    if (s->epfd >= 0)
        close(s->epfd);
    free(s);
}
