/* kubelet/: the gRPC framing helpers, and the plugin driven in-process by a C
 * HTTP/2 client on nghttp2 (the same thread pumps both ends): registration,
 * HTTP and gRPC refusals, message caps, reassembly across 1-byte DATA frames,
 * per-claim answers, and the life of calls that the client abandons. The
 * kubelet's own Go client is test/kubelet's job. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "dra_v1.pb-c.h"
#include "dra_v1beta1.pb-c.h"
#include "kubelet/frame.h"
#include "kubelet/kubelet.h"
#include "pluginregistration.pb-c.h"

typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__Claim Claim;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourcesRequest PrepReq;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourcesResponse PrepResp;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodeUnprepareResourcesResponse UnprepResp;

#define V1      "/k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin/"
#define V1BETA1 "/k8s.io.kubelet.pkg.apis.dra.v1beta1.DRAPlugin/"
#define REG     "/pluginregistration.Registration/"

/* ---- frame.c ------------------------------------------------------------------------ */

static size_t prefixed(uint8_t *out, const char *msg)
{
    size_t n = strlen(msg);
    kl_frame_prefix(out, n);
    memcpy(out + KL_FRAME_PREFIX, msg, n);
    return KL_FRAME_PREFIX + n;
}

Test(frame, reassembles_one_byte_at_a_time)
{
    uint8_t wire[64];
    size_t n = prefixed(wire, "hello, kubelet");
    struct kl_frame_rx rx = {.cap = 100};
    for (size_t i = 0; i < n; i++) {
        cr_assert(!kl_frame_complete(&rx));
        cr_assert_eq(kl_frame_feed(&rx, wire + i, 1), KL_FRAME_OK);
    }
    cr_assert(kl_frame_complete(&rx));
    cr_assert_eq(rx.len, 14);
    cr_assert_eq(memcmp(rx.buf, "hello, kubelet", 14), 0);
    kl_frame_rx_free(&rx);
}

Test(frame, reassembles_at_every_split)
{
    uint8_t wire[64];
    size_t n = prefixed(wire, "0123456789abcdef");
    for (size_t cut = 0; cut <= n; cut++) {
        struct kl_frame_rx rx = {.cap = 16};
        cr_assert_eq(kl_frame_feed(&rx, wire, cut), KL_FRAME_OK);
        cr_assert_eq(kl_frame_feed(&rx, wire + cut, n - cut), KL_FRAME_OK);
        cr_assert(kl_frame_complete(&rx), "cut %zu", cut);
        cr_assert_eq(memcmp(rx.buf, "0123456789abcdef", 16), 0);
        kl_frame_rx_free(&rx);
    }
}

Test(frame, empty_message_is_complete)
{
    uint8_t wire[8];
    size_t n = prefixed(wire, "");
    struct kl_frame_rx rx = {.cap = 0};
    cr_assert_eq(kl_frame_feed(&rx, wire, n), KL_FRAME_OK);
    cr_assert(kl_frame_complete(&rx));
    kl_frame_rx_free(&rx);
}

Test(frame, refuses_over_cap_compressed_and_extra)
{
    uint8_t wire[64];
    size_t n = prefixed(wire, "12345678");
    struct kl_frame_rx rx = {.cap = 7};
    cr_assert_eq(kl_frame_feed(&rx, wire, 3), KL_FRAME_OK);
    cr_assert_eq(kl_frame_feed(&rx, wire + 3, 2), KL_FRAME_TOO_BIG, "refused on the prefix alone");
    kl_frame_rx_free(&rx);

    rx = (struct kl_frame_rx){.cap = 8};
    cr_assert_eq(kl_frame_feed(&rx, wire, n), KL_FRAME_OK, "exactly the cap is fine");
    cr_assert_eq(kl_frame_feed(&rx, wire, 1), KL_FRAME_EXTRA);
    kl_frame_rx_free(&rx);

    rx = (struct kl_frame_rx){.cap = 8};
    uint8_t two[128];
    memcpy(two, wire, n);
    memcpy(two + n, wire, n);
    cr_assert_eq(kl_frame_feed(&rx, two, 2 * n), KL_FRAME_EXTRA, "two messages in one chunk");
    kl_frame_rx_free(&rx);

    wire[0] = 1;
    rx = (struct kl_frame_rx){.cap = 8};
    cr_assert_eq(kl_frame_feed(&rx, wire, n), KL_FRAME_COMPRESSED);
    kl_frame_rx_free(&rx);
}

Test(frame, prefix_is_big_endian)
{
    uint8_t p[5];
    kl_frame_prefix(p, 0x01020304);
    cr_assert_eq(memcmp(p, "\0\1\2\3\4", 5), 0);
}

Test(frame, percent_encoding)
{
    char *e = kl_pct_encode("a b%c\n\xc3\xa9~", 100);
    cr_assert_str_eq(e, "a b%25c%0A%C3%A9~");
    char *d = kl_pct_decode(e, strlen(e));
    cr_assert_str_eq(d, "a b%c\n\xc3\xa9~");
    free(e);
    free(d);
    e = kl_pct_encode("abcdef", 3);
    cr_assert_str_eq(e, "abc", "cut at max_in");
    free(e);
    d = kl_pct_decode("%zz%4", 5);
    cr_assert_str_eq(d, "%zz%4", "bad escapes kept as they are");
    free(d);
}

Test(frame, grpc_timeout)
{
    uint64_t ns = 0;
    cr_assert_eq(kl_grpc_timeout_parse("100m", 4, &ns), 0);
    cr_assert_eq(ns, 100000000u);
    cr_assert_eq(kl_grpc_timeout_parse("2S", 2, &ns), 0);
    cr_assert_eq(ns, 2000000000u);
    cr_assert_eq(kl_grpc_timeout_parse("7n", 2, &ns), 0);
    cr_assert_eq(ns, 7);
    cr_assert_eq(kl_grpc_timeout_parse("99999999H", 9, &ns), 0);
    cr_assert_eq(ns, UINT64_MAX, "saturates");
    const char *bad[] = {"", "m", "123456789S", "12x", "1.5S", "-1S", " 1S"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(kl_grpc_timeout_parse(bad[i], strlen(bad[i]), &ns), -EINVAL, "%s", bad[i]);
}

/* v1 and v1beta1 encode our answers identically (dra.c builds both from v1). */
Test(frame, v1_answers_decode_as_v1beta1)
{
    char *reqs[] = {(char *)"gpu"}, *cdi[] = {(char *)"mig.slicer.dev/mig=u1"};
    K8s__Io__Kubelet__Pkg__Apis__Dra__V1__Device dev =
        K8S__IO__KUBELET__PKG__APIS__DRA__V1__DEVICE__INIT;
    dev.n_request_names = 1;
    dev.request_names = reqs;
    dev.pool_name = (char *)"pool";
    dev.device_name = (char *)"dev";
    dev.n_cdi_device_ids = 1;
    dev.cdi_device_ids = cdi;
    K8s__Io__Kubelet__Pkg__Apis__Dra__V1__Device *devs[] = {&dev};
    K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourceResponse one =
        K8S__IO__KUBELET__PKG__APIS__DRA__V1__NODE_PREPARE_RESOURCE_RESPONSE__INIT;
    one.n_devices = 1;
    one.devices = devs;
    K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourcesResponse__ClaimsEntry e =
        K8S__IO__KUBELET__PKG__APIS__DRA__V1__NODE_PREPARE_RESOURCES_RESPONSE__CLAIMS_ENTRY__INIT;
    e.key = (char *)"u1";
    e.value = &one;
    K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourcesResponse__ClaimsEntry *es[] = {&e};
    PrepResp r = K8S__IO__KUBELET__PKG__APIS__DRA__V1__NODE_PREPARE_RESOURCES_RESPONSE__INIT;
    r.n_claims = 1;
    r.claims = es;
    uint8_t a[512], b[512];
    size_t na = protobuf_c_message_pack(&r.base, a);
    K8s__Io__Kubelet__Pkg__Apis__Dra__V1beta1__NodePrepareResourcesResponse *beta =
        k8s__io__kubelet__pkg__apis__dra__v1beta1__node_prepare_resources_response__unpack(NULL, na,
                                                                                           a);
    cr_assert_not_null(beta);
    cr_assert_str_eq(beta->claims[0]->value->devices[0]->cdi_device_ids[0],
                     "mig.slicer.dev/mig=u1");
    size_t nb = protobuf_c_message_pack(&beta->base, b);
    cr_assert_eq(na, nb);
    cr_assert_eq(memcmp(a, b, na), 0);
    protobuf_c_message_free_unpacked(&beta->base, NULL);
}

/* ---- an HTTP/2 client on nghttp2, pumped together with the plugin -------------------- */

struct resp {
    int http, grpc; /* -1 until seen */
    char *gmsg;     /* decoded grpc-message */
    uint8_t *body;  /* DATA payload, prefixes included */
    size_t nbody;
    int data_frames;
    bool closed;
    uint32_t rst; /* error code of the close */
};

struct req_body {
    const uint8_t *p;
    size_t n, off, chunk; /* at most `chunk` bytes per DATA frame */
};

struct cli {
    int fd;
    nghttp2_session *h2;
};

static bool hdr(const uint8_t *n, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(n, want, len) == 0;
}

static int c_header(nghttp2_session *h2, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                    const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
    (void)flags;
    (void)user;
    struct resp *r = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
    if (r == NULL)
        return 0;
    char v[2048];
    snprintf(v, sizeof v, "%.*s", (int)vlen, (const char *)value);
    if (hdr(name, nlen, ":status"))
        r->http = (int)strtol(v, NULL, 10);
    else if (hdr(name, nlen, "grpc-status"))
        r->grpc = (int)strtol(v, NULL, 10);
    else if (hdr(name, nlen, "grpc-message")) {
        free(r->gmsg);
        r->gmsg = kl_pct_decode(v, strlen(v));
    }
    return 0;
}

static int c_data(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *d, size_t n,
                  void *user)
{
    (void)flags;
    (void)user;
    struct resp *r = nghttp2_session_get_stream_user_data(h2, id);
    if (r == NULL)
        return 0;
    r->body = xrealloc(r->body, r->nbody + n);
    memcpy(r->body + r->nbody, d, n);
    r->nbody += n;
    return 0;
}

static int c_frame(nghttp2_session *h2, const nghttp2_frame *f, void *user)
{
    (void)user;
    struct resp *r = nghttp2_session_get_stream_user_data(h2, f->hd.stream_id);
    if (r != NULL && f->hd.type == NGHTTP2_DATA)
        r->data_frames++;
    return 0;
}

static int c_close(nghttp2_session *h2, int32_t id, uint32_t code, void *user)
{
    (void)user;
    struct resp *r = nghttp2_session_get_stream_user_data(h2, id);
    if (r != NULL) {
        r->closed = true;
        r->rst = code;
    }
    return 0;
}

static ssize_t c_read_body(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len,
                           uint32_t *flags, nghttp2_data_source *src, void *user)
{
    (void)h2;
    (void)id;
    (void)user;
    struct req_body *b = src->ptr;
    size_t k = b->n - b->off;
    if (k > len)
        k = len;
    if (b->chunk != 0 && k > b->chunk)
        k = b->chunk;
    memcpy(buf, b->p + b->off, k);
    b->off += k;
    if (b->off == b->n)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)k;
}

static struct cli *cli_new(const char *path)
{
    struct cli *c = xcalloc(1, sizeof *c);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    cr_assert_lt(strlen(path), sizeof sa.sun_path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    cr_assert_eq(connect(c->fd, (struct sockaddr *)&sa, sizeof sa), 0, "%s", strerror(errno));
    fcntl(c->fd, F_SETFL, O_NONBLOCK);
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, c_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, c_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, c_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, c_close);
    cr_assert_eq(nghttp2_session_client_new(&c->h2, cb, c), 0);
    nghttp2_session_callbacks_del(cb);
    cr_assert_eq(nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, NULL, 0), 0);
    return c;
}

static void cli_free(struct cli *c)
{
    nghttp2_session_del(c->h2);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

/* Moves bytes both ways once; returns false when the server closed. */
static bool cli_io(struct cli *c)
{
    for (;;) {
        const uint8_t *d;
        ssize_t n = nghttp2_session_mem_send(c->h2, &d);
        cr_assert_geq(n, 0);
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) { /* the server drains it as we pump */
            ssize_t w = send(c->fd, d + off, (size_t)(n - off), MSG_NOSIGNAL);
            if (w < 0 && errno == EAGAIN)
                return true; /* test messages never fill the socket; good enough */
            if (w < 0)
                return false;
            off += w;
        }
    }
    uint8_t buf[65536];
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n == 0)
        return false;
    if (n > 0)
        cr_assert_geq(nghttp2_session_mem_recv(c->h2, buf, (size_t)n), 0);
    return true;
}

static struct kl_plugin *plug; /* the plugin of the running test */

/* Pumps plugin and client until *flag or `ms` passed; returns *flag. */
static bool pump(struct cli *c, const bool *flag, int ms)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        kl_plugin_dispatch(plug);
        bool alive = c == NULL || cli_io(c);
        kl_plugin_dispatch(plug);
        if ((flag != NULL && *flag) || !alive)
            return flag != NULL && *flag;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > ms)
            return flag != NULL && *flag;
        usleep(500);
    }
}

/* Opens a request stream. `ct` NULL: application/grpc. */
static int32_t cli_start(struct cli *c, const char *method, const char *path, const char *ct,
                         const char *timeout, struct req_body *body, struct resp *r)
{
    *r = (struct resp){.http = -1, .grpc = -1};
    nghttp2_nv nva[8];
    size_t n = 0;
#define NV(k, v)                                                                                   \
    nva[n++] =                                                                                     \
        (nghttp2_nv){(uint8_t *)(k), (uint8_t *)(v), strlen(k), strlen(v), NGHTTP2_NV_FLAG_NONE}
    NV(":method", method);
    NV(":scheme", "http");
    NV(":path", path);
    NV(":authority", "localhost");
    NV("content-type", ct != NULL ? ct : "application/grpc");
    NV("te", "trailers");
    if (timeout != NULL)
        NV("grpc-timeout", timeout);
#undef NV
    nghttp2_data_provider dp = {.source.ptr = body, .read_callback = c_read_body};
    int32_t id = nghttp2_submit_request(c->h2, NULL, nva, n, body != NULL ? &dp : NULL, r);
    cr_assert_gt(id, 0);
    return id;
}

/* One unary call: msg (protobuf, the prefix added here) in DATA frames of at
 * most `chunk` bytes (0: as nghttp2 likes); waits for the close. */
static void cli_call(struct cli *c, const char *path, const ProtobufCMessage *msg, size_t chunk,
                     struct resp *r)
{
    size_t len = msg != NULL ? protobuf_c_message_get_packed_size(msg) : 0;
    uint8_t *wire = xmalloc(KL_FRAME_PREFIX + len);
    kl_frame_prefix(wire, len);
    if (msg != NULL)
        protobuf_c_message_pack(msg, wire + KL_FRAME_PREFIX);
    struct req_body b = {wire, KL_FRAME_PREFIX + len, 0, chunk};
    cli_start(c, "POST", path, NULL, NULL, &b, r);
    cr_assert(pump(c, &r->closed, 5000), "%s: no answer", path);
    free(wire);
}

static void resp_free(struct resp *r)
{
    free(r->gmsg);
    free(r->body);
}

/* The one message of an OK answer, unpacked with `desc`. */
static ProtobufCMessage *resp_msg(const struct resp *r, const ProtobufCMessageDescriptor *desc)
{
    cr_assert_eq(r->http, 200);
    cr_assert_eq(r->grpc, 0, "grpc-status %d: %s", r->grpc, r->gmsg ? r->gmsg : "");
    cr_assert_geq(r->nbody, KL_FRAME_PREFIX);
    struct kl_frame_rx rx = {.cap = 1u << 24};
    cr_assert_eq(kl_frame_feed(&rx, r->body, r->nbody), KL_FRAME_OK);
    cr_assert(kl_frame_complete(&rx));
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, rx.len, rx.buf);
    kl_frame_rx_free(&rx);
    cr_assert_not_null(m);
    return m;
}

/* ---- the plugin under test ---------------------------------------------------------- */

static char dir[64], regdir[96], plugdir[96];
static unsigned max_streams; /* 0: the default */

static struct {
    bool manual; /* keep calls instead of answering at once */
    struct kl_call *calls[16];
    size_t ncalls;
    int registered;
    char regerr[128];
} seen;

static void on_registered(void *arg, bool ok, const char *error)
{
    (void)arg;
    seen.registered = ok;
    snprintf(seen.regerr, sizeof seen.regerr, "%s", error);
}

static void answer_all(struct kl_call *c, bool prepare)
{
    size_t n = kl_call_nclaims(c);
    for (size_t i = 0; i < n; i++) {
        const struct kl_claim *cl = kl_call_claim(c, i);
        char cdi[300];
        snprintf(cdi, sizeof cdi, "mig.slicer.dev/mig=%s", cl->uid);
        const char *reqs[] = {"gpu"}, *cdis[] = {cdi};
        struct kl_device d = {reqs, 1, "pool", cl->name, cdis, 1};
        int rc = prepare ? kl_call_prepared(c, i, &d, 1, NULL) : kl_call_unprepared(c, i, NULL);
        cr_assert_eq(rc, 0);
    }
}

static void on_prepare(void *arg, struct kl_call *c)
{
    (void)arg;
    if (seen.manual) {
        cr_assert_lt(seen.ncalls, 16);
        seen.calls[seen.ncalls++] = c;
        return;
    }
    answer_all(c, true);
}

static void on_unprepare(void *arg, struct kl_call *c)
{
    (void)arg;
    if (seen.manual) {
        seen.calls[seen.ncalls++] = c;
        return;
    }
    answer_all(c, false);
}

static const struct kl_plugin_ops ops = {on_registered, on_prepare, on_unprepare};

static void start(size_t max_msg, unsigned max_conns)
{
    struct kl_plugin_config cfg = {.driver = "mig.slicer.dev",
                                   .registry_dir = regdir,
                                   .plugin_dir = plugdir,
                                   .max_msg = max_msg,
                                   .max_conns = max_conns,
                                   .max_streams = max_streams};
    struct err *e = NULL;
    plug = kl_plugin_new(&cfg, &ops, NULL, &e);
    cr_assert_not_null(plug, "%s", err_msg(e));
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/slicer-kl.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(regdir, sizeof regdir, "%s/registry", dir);
    snprintf(plugdir, sizeof plugdir, "%s/plugins/mig.slicer.dev", dir);
    log_set_level(LOG_WARN);
    memset(&seen, 0, sizeof seen);
    seen.registered = -1;
    plug = NULL;
    max_streams = 0;
}

static void teardown(void)
{
    kl_plugin_free(plug); /* frees calls still unanswered */
    plug = NULL;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(plugin, .init = setup, .fini = teardown);

static PrepReq *prep_req(size_t n, const char *prefix, const char *name_fill)
{
    PrepReq *r = xmalloc(sizeof *r);
    k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resources_request__init(r);
    r->n_claims = n;
    r->claims = xcalloc(n, sizeof *r->claims);
    for (size_t i = 0; i < n; i++) {
        Claim *c = xmalloc(sizeof *c);
        k8s__io__kubelet__pkg__apis__dra__v1__claim__init(c);
        char buf[64];
        snprintf(buf, sizeof buf, "%s-uid-%zu", prefix, i);
        c->uid = xstrdup(buf);
        c->namespace_ = xstrdup("ns");
        snprintf(buf, sizeof buf, "%s-%zu", prefix, i);
        c->name = xstrdup(name_fill != NULL ? name_fill : buf);
        r->claims[i] = c;
    }
    return r;
}

static void prep_req_free(PrepReq *r)
{
    for (size_t i = 0; i < r->n_claims; i++) {
        free(r->claims[i]->uid);
        free(r->claims[i]->namespace_);
        free(r->claims[i]->name);
        free(r->claims[i]);
    }
    free(r->claims);
    free(r);
}

static const ProtobufCMessageDescriptor *PREP_RESP =
    &k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resources_response__descriptor;

/* The answer for claim `uid` in a Prepare response. */
static const K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourceResponse *
entry(const PrepResp *r, const char *uid)
{
    for (size_t i = 0; i < r->n_claims; i++)
        if (strcmp(r->claims[i]->key, uid) == 0)
            return r->claims[i]->value;
    cr_assert_fail("no answer for %s", uid);
    return NULL;
}

Test(plugin, registration)
{
    start(0, 0);
    char path[160];
    snprintf(path, sizeof path, "%s/mig.slicer.dev-reg.sock", regdir);
    cr_assert_str_eq(kl_plugin_registration_socket(plug), path);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert(S_ISSOCK(st.st_mode));
    cr_assert_eq(st.st_mode & 0777, 0600, "registration socket mode %o: only its owner may connect",
                 st.st_mode & 0777);
    cr_assert_eq(stat(kl_plugin_dra_socket(plug), &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "DRA socket mode %o: only its owner may call Prepare",
                 st.st_mode & 0777);
    struct cli *c = cli_new(path);
    Pluginregistration__InfoRequest ir = PLUGINREGISTRATION__INFO_REQUEST__INIT;
    struct resp r;
    cli_call(c, REG "GetInfo", &ir.base, 0, &r);
    Pluginregistration__PluginInfo *info =
        (void *)resp_msg(&r, &pluginregistration__plugin_info__descriptor);
    cr_assert_str_eq(info->type, "DRAPlugin");
    cr_assert_str_eq(info->name, "mig.slicer.dev");
    char dra[160];
    snprintf(dra, sizeof dra, "%s/dra.sock", plugdir);
    cr_assert_str_eq(info->endpoint, dra);
    cr_assert_eq(info->n_supported_versions, 2);
    cr_assert_str_eq(info->supported_versions[0], "v1.DRAPlugin");
    cr_assert_str_eq(info->supported_versions[1], "v1beta1.DRAPlugin");
    protobuf_c_message_free_unpacked(&info->base, NULL);
    resp_free(&r);

    Pluginregistration__RegistrationStatus rs = PLUGINREGISTRATION__REGISTRATION_STATUS__INIT;
    rs.error = (char *)"no such driver";
    cli_call(c, REG "NotifyRegistrationStatus", &rs.base, 0, &r);
    cr_assert_eq(r.grpc, 0);
    cr_assert_eq(seen.registered, 0);
    cr_assert_str_eq(seen.regerr, "no such driver");
    resp_free(&r);
    rs.plugin_registered = true;
    rs.error = (char *)"";
    cli_call(c, REG "NotifyRegistrationStatus", &rs.base, 0, &r);
    cr_assert_eq(seen.registered, 1);
    resp_free(&r);
    cli_free(c);
}

Test(plugin, http_refusals_and_unknown_methods)
{
    start(0, 0);
    struct cli *c = cli_new(kl_plugin_dra_socket(plug));
    struct resp r;
    uint8_t empty[5] = {0};
    struct req_body b = {empty, 5, 0, 0};
    cli_start(c, "POST", V1 "NodePrepareResources", "application/json", NULL, &b, &r);
    cr_assert(pump(c, &r.closed, 5000));
    cr_assert_eq(r.http, 415);
    cr_assert_eq(r.grpc, -1);
    resp_free(&r);

    cli_start(c, "GET", V1 "NodePrepareResources", NULL, NULL, NULL, &r);
    cr_assert(pump(c, &r.closed, 5000));
    cr_assert_eq(r.http, 405);
    resp_free(&r);

    Pluginregistration__InfoRequest ir = PLUGINREGISTRATION__INFO_REQUEST__INIT;
    cli_call(c, REG "GetInfo", &ir.base, 0, &r); /* registration, but on the DRA socket */
    cr_assert_eq(r.http, 200);
    cr_assert_eq(r.grpc, 12);
    cr_assert_eq(r.data_frames, 0, "Trailers-Only");
    cr_assert_not_null(strstr(r.gmsg, REG "GetInfo"));
    resp_free(&r);

    cli_call(c, "/x.Y/\xc3\xa9t\xc3\xa9", &ir.base, 0, &r); /* grpc-message percent-encoded */
    cr_assert_eq(r.grpc, 12);
    cr_assert_not_null(strstr(r.gmsg, "/x.Y/\xc3\xa9t\xc3\xa9"));
    resp_free(&r);
    cli_free(c);
}

Test(plugin, prepare_in_one_byte_data_frames)
{
    start(0, 0);
    struct cli *c = cli_new(kl_plugin_dra_socket(plug));
    PrepReq *req = prep_req(3, "tiny", NULL);
    struct resp r;
    cli_call(c, V1 "NodePrepareResources", &req->base, 1, &r);
    PrepResp *pr = (void *)resp_msg(&r, PREP_RESP);
    cr_assert_eq(pr->n_claims, 3);
    for (size_t i = 0; i < 3; i++) {
        const K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourceResponse *e =
            entry(pr, req->claims[i]->uid);
        cr_assert_str_eq(e->error, "");
        cr_assert_eq(e->n_devices, 1);
        cr_assert_str_eq(e->devices[0]->device_name, req->claims[i]->name);
        cr_assert_str_eq(e->devices[0]->pool_name, "pool");
        cr_assert_eq(e->devices[0]->n_request_names, 1);
        char cdi[100];
        snprintf(cdi, sizeof cdi, "mig.slicer.dev/mig=%s", req->claims[i]->uid);
        cr_assert_str_eq(e->devices[0]->cdi_device_ids[0], cdi);
    }
    protobuf_c_message_free_unpacked(&pr->base, NULL);
    resp_free(&r);
    prep_req_free(req);
    cli_free(c);
}

Test(plugin, message_cap)
{
    start(1024, 0);
    struct cli *c = cli_new(kl_plugin_dra_socket(plug));
    char big[2000];
    memset(big, 'n', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    PrepReq *req = prep_req(1, "big", big);
    struct resp r;
    cli_call(c, V1BETA1 "NodePrepareResources", &req->base, 0, &r);
    cr_assert_eq(r.grpc, 8, "RESOURCE_EXHAUSTED");
    cr_assert_not_null(strstr(r.gmsg, "exceeds the limit of 1024"), "%s", r.gmsg);
    resp_free(&r);
    prep_req_free(req);

    big[900] = '\0';
    req = prep_req(1, "fits", big);
    cli_call(c, V1BETA1 "NodePrepareResources", &req->base, 0, &r);
    cr_assert_eq(r.grpc, 0, "under the cap; the connection goes on after a refusal");
    resp_free(&r);
    prep_req_free(req);
    cli_free(c);
}

Test(plugin, malformed_unary_bodies)
{
    start(0, 0);
    struct cli *c = cli_new(kl_plugin_dra_socket(plug));
    struct resp r;
    uint8_t comp[5] = {1, 0, 0, 0, 0};
    struct req_body b = {comp, 5, 0, 0};
    cli_start(c, "POST", V1 "NodePrepareResources", NULL, NULL, &b, &r);
    cr_assert(pump(c, &r.closed, 5000));
    cr_assert_eq(r.grpc, 12, "compressed");
    resp_free(&r);

    uint8_t two[10] = {0};
    b = (struct req_body){two, 10, 0, 0};
    cli_start(c, "POST", V1 "NodePrepareResources", NULL, NULL, &b, &r);
    cr_assert(pump(c, &r.closed, 5000));
    cr_assert_eq(r.grpc, 13, "two messages");
    resp_free(&r);

    cli_start(c, "POST", V1 "NodePrepareResources", NULL, NULL, NULL, &r);
    cr_assert(pump(c, &r.closed, 5000));
    cr_assert_eq(r.grpc, 13, "no message");
    resp_free(&r);

    uint8_t junk[8] = {0, 0, 0, 0, 3, 0xff, 0xff, 0xff};
    b = (struct req_body){junk, 8, 0, 0};
    cli_start(c, "POST", V1 "NodePrepareResources", NULL, NULL, &b, &r);
    cr_assert(pump(c, &r.closed, 5000));
    cr_assert_eq(r.grpc, 3, "undecodable protobuf");
    resp_free(&r);
    cli_free(c);
}

Test(plugin, answers_per_claim_in_any_order)
{
    seen.manual = true;
    start(0, 0);
    struct cli *c = cli_new(kl_plugin_dra_socket(plug));
    PrepReq *req = prep_req(3, "order", NULL);
    size_t len = protobuf_c_message_get_packed_size(&req->base);
    uint8_t *wire = xmalloc(len + 5);
    kl_frame_prefix(wire, len);
    protobuf_c_message_pack(&req->base, wire + 5);
    struct req_body b = {wire, len + 5, 0, 0};
    struct resp r;
    cli_start(c, "POST", V1 "NodePrepareResources", NULL, NULL, &b, &r);
    bool got = false;
    for (int i = 0; i < 200 && seen.ncalls == 0; i++)
        pump(c, &got, 5);
    cr_assert_eq(seen.ncalls, 1);
    struct kl_call *call = seen.calls[0];
    cr_assert_eq(kl_call_nclaims(call), 3);
    cr_assert_str_eq(kl_call_version(call), "v1");
    cr_assert_str_eq(kl_call_claim(call, 1)->uid, "order-uid-1");
    cr_assert_str_eq(kl_call_claim(call, 1)->namespace_, "ns");
    cr_assert_str_eq(kl_call_claim(call, 1)->name, "order-1");
    cr_assert_null(kl_call_claim(call, 3));
    cr_assert(!kl_call_dead(call));

    const char *reqs[] = {"gpu"}, *cdis[] = {"mig.slicer.dev/mig=x"};
    struct kl_device d = {reqs, 1, "pool", "dev", cdis, 1};
    cr_assert_eq(kl_call_prepared(call, 2, &d, 1, NULL), 0);
    cr_assert_eq(kl_call_prepared(call, 2, &d, 1, NULL), -EALREADY);
    cr_assert_eq(kl_call_prepared(call, 3, &d, 1, NULL), -EINVAL);
    cr_assert_eq(kl_call_unprepared(call, 0, NULL), -EINVAL, "not an unprepare call");
    cr_assert(!pump(c, &r.closed, 50), "no answer before the last claim");
    cr_assert_eq(kl_call_prepared(call, 0, NULL, 0, "no such claim"), 0);
    cr_assert_eq(kl_call_prepared(call, 1, &d, 1, ""), 0); /* frees the call */
    cr_assert(pump(c, &r.closed, 5000));
    PrepResp *pr = (void *)resp_msg(&r, PREP_RESP);
    cr_assert_eq(pr->n_claims, 3);
    cr_assert_str_eq(entry(pr, "order-uid-0")->error, "no such claim");
    cr_assert_eq(entry(pr, "order-uid-0")->n_devices, 0);
    cr_assert_eq(entry(pr, "order-uid-1")->n_devices, 1);
    cr_assert_eq(entry(pr, "order-uid-2")->n_devices, 1);
    cr_assert_str_eq(entry(pr, "order-uid-2")->devices[0]->cdi_device_ids[0],
                     "mig.slicer.dev/mig=x");
    protobuf_c_message_free_unpacked(&pr->base, NULL);
    resp_free(&r);
    free(wire);
    prep_req_free(req);
    cli_free(c);
}

/* Sends a manual-mode Prepare of n claims and pumps until the agent holds it. */
static struct kl_call *held_call(struct cli *c, size_t n, const char *timeout, uint8_t **wire,
                                 struct req_body *b, struct resp *r)
{
    PrepReq *req = prep_req(n, "held", NULL);
    size_t len = protobuf_c_message_get_packed_size(&req->base);
    *wire = xmalloc(len + 5);
    kl_frame_prefix(*wire, len);
    protobuf_c_message_pack(&req->base, *wire + 5);
    prep_req_free(req);
    *b = (struct req_body){*wire, len + 5, 0, 0};
    size_t before = seen.ncalls;
    cli_start(c, "POST", V1 "NodePrepareResources", NULL, timeout, b, r);
    bool never = false;
    for (int i = 0; i < 400 && seen.ncalls == before; i++)
        pump(c, &never, 5);
    cr_assert_eq(seen.ncalls, before + 1);
    return seen.calls[before];
}

Test(plugin, call_cancelled_by_rst_stream)
{
    seen.manual = true;
    start(0, 0);
    struct cli *c = cli_new(kl_plugin_dra_socket(plug));
    uint8_t *wire;
    struct req_body b;
    struct resp r;
    struct kl_call *call = held_call(c, 2, NULL, &wire, &b, &r);
    int32_t id = 1;
    cr_assert_eq(nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL), 0);
    bool never = false;
    pump(c, &never, 50);
    cr_assert(kl_call_dead(call));
    cr_assert_eq(kl_call_prepared(call, 0, NULL, 0, NULL), 0, "answering a dead call is fine");
    cr_assert_eq(kl_call_prepared(call, 1, NULL, 0, "late"), 0);
    /* The connection goes on. */
    seen.manual = false;
    struct resp r2;
    PrepReq *req = prep_req(1, "after", NULL);
    cli_call(c, V1 "NodePrepareResources", &req->base, 0, &r2);
    cr_assert_eq(r2.grpc, 0);
    prep_req_free(req);
    resp_free(&r2);
    resp_free(&r);
    free(wire);
    cli_free(c);
}

Test(plugin, call_dead_when_connection_closes)
{
    seen.manual = true;
    start(0, 0);
    struct cli *c = cli_new(kl_plugin_dra_socket(plug));
    uint8_t *wire;
    struct req_body b;
    struct resp r;
    struct kl_call *call = held_call(c, 1, NULL, &wire, &b, &r);
    close(c->fd);
    c->fd = -1;
    bool never = false;
    pump(NULL, &never, 20);
    cr_assert(kl_call_dead(call));
    cr_assert_eq(kl_call_prepared(call, 0, NULL, 0, NULL), 0);
    resp_free(&r);
    free(wire);
    cli_free(c);
}

Test(plugin, call_dead_after_grpc_timeout)
{
    seen.manual = true;
    start(0, 0);
    struct cli *c = cli_new(kl_plugin_dra_socket(plug));
    uint8_t *wire;
    struct req_body b;
    struct resp r;
    struct kl_call *call = held_call(c, 1, "30m", &wire, &b, &r);
    cr_assert(!kl_call_dead(call));
    cr_assert(pump(c, &r.closed, 2000), "the server ends the call at its deadline");
    cr_assert_eq(r.grpc, 4, "DEADLINE_EXCEEDED");
    cr_assert(kl_call_dead(call));
    cr_assert_eq(kl_call_prepared(call, 0, NULL, 0, NULL), 0);
    resp_free(&r);
    free(wire);
    cli_free(c);
}

Test(plugin, free_with_calls_pending)
{
    seen.manual = true;
    start(0, 0);
    struct cli *c = cli_new(kl_plugin_dra_socket(plug));
    uint8_t *w1, *w2;
    struct req_body b1, b2;
    struct resp r1, r2;
    held_call(c, 3, NULL, &w1, &b1, &r1);
    held_call(c, 1, NULL, &w2, &b2, &r2);
    kl_plugin_free(plug); /* answers UNAVAILABLE where it can, frees both calls */
    plug = NULL;
    for (int i = 0; i < 100 && cli_io(c); i++) /* until the server's close */
        usleep(1000);
    cr_assert(r1.closed && r2.closed);
    cr_assert_eq(r1.grpc, 14, "UNAVAILABLE");
    cr_assert_eq(r2.grpc, 14, "UNAVAILABLE");
    resp_free(&r1);
    resp_free(&r2);
    free(w1);
    free(w2);
    cli_free(c);
}

Test(plugin, unprepare_v1beta1)
{
    seen.manual = true;
    start(0, 0);
    struct cli *c = cli_new(kl_plugin_dra_socket(plug));
    K8s__Io__Kubelet__Pkg__Apis__Dra__V1beta1__Claim c0 =
        K8S__IO__KUBELET__PKG__APIS__DRA__V1BETA1__CLAIM__INIT;
    K8s__Io__Kubelet__Pkg__Apis__Dra__V1beta1__Claim c1 = c0;
    c0.uid = (char *)"u0";
    c0.name = (char *)"a";
    c1.uid = (char *)"u1";
    c1.name = (char *)"b";
    K8s__Io__Kubelet__Pkg__Apis__Dra__V1beta1__Claim *cs[] = {&c0, &c1};
    K8s__Io__Kubelet__Pkg__Apis__Dra__V1beta1__NodeUnprepareResourcesRequest req =
        K8S__IO__KUBELET__PKG__APIS__DRA__V1BETA1__NODE_UNPREPARE_RESOURCES_REQUEST__INIT;
    req.n_claims = 2;
    req.claims = cs;
    size_t len = protobuf_c_message_get_packed_size(&req.base);
    uint8_t wire[256];
    kl_frame_prefix(wire, len);
    protobuf_c_message_pack(&req.base, wire + 5);
    struct req_body b = {wire, len + 5, 0, 0};
    struct resp r;
    cli_start(c, "POST", V1BETA1 "NodeUnprepareResources", NULL, NULL, &b, &r);
    bool never = false;
    for (int i = 0; i < 400 && seen.ncalls == 0; i++)
        pump(c, &never, 5);
    struct kl_call *call = seen.calls[0];
    cr_assert_str_eq(kl_call_version(call), "v1beta1");
    cr_assert_eq(kl_call_prepared(call, 0, NULL, 0, NULL), -EINVAL, "not a prepare call");
    cr_assert_eq(kl_call_unprepared(call, 1, "busy"), 0);
    cr_assert_eq(kl_call_unprepared(call, 0, NULL), 0);
    cr_assert(pump(c, &r.closed, 5000));
    UnprepResp *ur = (void *)resp_msg(
        &r, &k8s__io__kubelet__pkg__apis__dra__v1__node_unprepare_resources_response__descriptor);
    cr_assert_eq(ur->n_claims, 2);
    for (size_t i = 0; i < 2; i++)
        cr_assert_str_eq(ur->claims[i]->value->error,
                         strcmp(ur->claims[i]->key, "u1") == 0 ? "busy" : "");
    protobuf_c_message_free_unpacked(&ur->base, NULL);
    resp_free(&r);
    cli_free(c);
}

Test(plugin, connection_cap)
{
    start(0, 2);
    struct cli *a = cli_new(kl_plugin_dra_socket(plug));
    struct cli *b = cli_new(kl_plugin_dra_socket(plug));
    bool never = false;
    pump(NULL, &never, 20);
    struct cli *x = cli_new(kl_plugin_dra_socket(plug));
    pump(NULL, &never, 20);
    uint8_t buf[256];
    ssize_t n;
    while ((n = recv(x->fd, buf, sizeof buf, 0)) > 0)
        ;
    cr_assert_eq(n, 0, "the third connection is closed");
    PrepReq *req = prep_req(1, "cap", NULL);
    struct resp r;
    cli_call(b, V1 "NodePrepareResources", &req->base, 0, &r);
    cr_assert_eq(r.grpc, 0, "the others still serve");
    resp_free(&r);
    prep_req_free(req);
    cli_free(x);
    cli_free(b);
    cli_free(a);
}

Test(plugin, sockets_stale_foreign_and_removed)
{
    char reg[160];
    snprintf(reg, sizeof reg, "%s/mig.slicer.dev-reg.sock", regdir);
    /* A stale socket file (its server is gone) is replaced. */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", regdir);
    cr_assert_eq(system(cmd), 0);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    cr_assert_lt(strlen(reg), sizeof sa.sun_path);
    memcpy(sa.sun_path, reg, strlen(reg) + 1);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
    start(0, 0);
    struct cli *c = cli_new(reg);
    cli_free(c);
    kl_plugin_free(plug);
    plug = NULL;
    struct stat st;
    cr_assert_neq(stat(reg, &st), 0, "removed at free");

    /* Anything else at the path is not ours to remove. */
    FILE *f = fopen(reg, "w");
    cr_assert_not_null(f);
    fclose(f);
    struct kl_plugin_config cfg = {
        .driver = "mig.slicer.dev", .registry_dir = regdir, .plugin_dir = plugdir};
    struct err *e = NULL;
    cr_assert_null(kl_plugin_new(&cfg, &ops, NULL, &e));
    cr_assert_not_null(strstr(err_msg(e), "not a socket"), "%s", err_msg(e));
    err_free(&e);
    cr_assert_eq(stat(reg, &st), 0);
    cr_assert(S_ISREG(st.st_mode), "left alone");
    char dra[160];
    snprintf(dra, sizeof dra, "%s/dra.sock", plugdir);
    cr_assert_neq(stat(dra, &st), 0, "nothing left listening after a failed start");

    cfg.registry_dir = "relative/dir";
    cr_assert_null(kl_plugin_new(&cfg, &ops, NULL, &e));
    err_free(&e);
}

Test(plugin, stream_cap_holds_calls_back)
{
    seen.manual = true;
    max_streams = 2;
    start(0, 0);
    struct cli *c = cli_new(kl_plugin_dra_socket(plug));
    bool never = false;
    pump(c, &never, 20); /* the client learns SETTINGS_MAX_CONCURRENT_STREAMS */
    uint8_t *w[3];
    struct req_body b[3];
    struct resp r[3];
    held_call(c, 1, NULL, &w[0], &b[0], &r[0]);
    held_call(c, 1, NULL, &w[1], &b[1], &r[1]);
    PrepReq *req = prep_req(1, "third", NULL);
    size_t len = protobuf_c_message_get_packed_size(&req->base);
    w[2] = xmalloc(len + 5);
    kl_frame_prefix(w[2], len);
    protobuf_c_message_pack(&req->base, w[2] + 5);
    b[2] = (struct req_body){w[2], len + 5, 0, 0};
    cli_start(c, "POST", V1 "NodePrepareResources", NULL, NULL, &b[2], &r[2]);
    pump(c, &never, 50);
    cr_assert_eq(seen.ncalls, 2, "a third concurrent call waits for a free stream");
    cr_assert_eq(kl_call_prepared(seen.calls[0], 0, NULL, 0, "done"), 0);
    for (int i = 0; i < 400 && seen.ncalls < 3; i++)
        pump(c, &never, 5);
    cr_assert_eq(seen.ncalls, 3, "and goes through once one ends");
    cr_assert_str_eq(kl_call_claim(seen.calls[2], 0)->name, "third-0");
    cr_assert_eq(kl_call_prepared(seen.calls[1], 0, NULL, 0, "done"), 0);
    cr_assert_eq(kl_call_prepared(seen.calls[2], 0, NULL, 0, "done"), 0);
    for (int i = 0; i < 3; i++) {
        cr_assert(pump(c, &r[i].closed, 5000));
        cr_assert_eq(r[i].grpc, 0);
        resp_free(&r[i]);
        free(w[i]);
    }
    prep_req_free(req);
    cli_free(c);
}

/* A client that sends before it has read our SETTINGS gets the stream over
 * the cap refused by the server itself (RST_STREAM REFUSED_STREAM). */
Test(plugin, stream_cap_refuses_an_eager_client)
{
    seen.manual = true;
    max_streams = 2;
    start(0, 0);
    struct cli *c = cli_new(kl_plugin_dra_socket(plug));
    PrepReq *req = prep_req(1, "eager", NULL);
    size_t len = protobuf_c_message_get_packed_size(&req->base);
    uint8_t *wire = xmalloc(len + 5);
    kl_frame_prefix(wire, len);
    protobuf_c_message_pack(&req->base, wire + 5);
    struct req_body b[3];
    struct resp r[3];
    for (int i = 0; i < 3; i++) {
        b[i] = (struct req_body){wire, len + 5, 0, 0};
        cli_start(c, "POST", V1 "NodePrepareResources", NULL, NULL, &b[i], &r[i]);
    }
    cr_assert(pump(c, &r[2].closed, 2000));
    cr_assert_eq(r[2].rst, NGHTTP2_REFUSED_STREAM);
    cr_assert_eq(seen.ncalls, 2);
    for (size_t i = 0; i < 2; i++)
        cr_assert_eq(kl_call_prepared(seen.calls[i], 0, NULL, 0, NULL), 0);
    for (int i = 0; i < 3; i++) {
        if (i < 2) {
            cr_assert(pump(c, &r[i].closed, 5000));
            cr_assert_eq(r[i].grpc, 0);
        }
        resp_free(&r[i]);
    }
    free(wire);
    prep_req_free(req);
    cli_free(c);
}
