/* kube_http against a scripted local HTTP server (a unit-level fixture for
 * the transport only): retries on 5xx, 429 with Retry-After and dropped
 * connections, giving up, timeouts, token-file rotation, rate limiting. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kube/kube_req.h"

enum act { OK200, S503, S500, S429, DROP, HANG };

struct server {
    int lfd, port;
    enum act script[16];
    int n, served;
    char last_auth[256];
    pthread_t th;
};

static struct server srv;

static void respond(int c, enum act a)
{
    char buf[512];
    const char *body = "{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"}}";
    int status = a == OK200 ? 200 : a == S503 ? 503 : a == S500 ? 500 : 429;
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n%sContent-Length: "
                     "%zu\r\nConnection: close\r\n\r\n%s",
                     status, a == S429 ? "Retry-After: 1\r\n" : "", strlen(body), body);
    (void)!write(c, buf, (size_t)n);
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept4(srv.lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            return NULL;
        char req[4096];
        size_t len = 0;
        ssize_t r;
        while (len < sizeof req - 1 && (r = read(c, req + len, sizeof req - 1 - len)) > 0) {
            len += (size_t)r;
            req[len] = '\0';
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        req[len] = '\0';
        char *auth = strcasestr(req, "Authorization: ");
        if (auth)
            sscanf(auth + 15, "%255[^\r]", srv.last_auth);
        enum act a = srv.served < srv.n ? srv.script[srv.served] : OK200;
        srv.served++;
        if (a == HANG) {
            sleep(2);
        } else if (a != DROP) {
            respond(c, a);
        }
        close(c);
    }
}

static void start(const enum act *script, int n)
{
    memset(&srv, 0, sizeof srv);
    if (n)
        memcpy(srv.script, script, (size_t)n * sizeof *script);
    srv.n = n;
    srv.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof a;
    cr_assert_eq(bind(srv.lfd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(srv.lfd, 16), 0);
    getsockname(srv.lfd, (struct sockaddr *)&a, &sl);
    srv.port = ntohs(a.sin_port);
    pthread_create(&srv.th, NULL, serve, NULL);
}

static void stop(void)
{
    shutdown(srv.lfd, SHUT_RDWR);
    close(srv.lfd);
    pthread_join(srv.th, NULL);
}

static struct kube_client *client(const struct kube_client_opts *o, const char *token_file)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", srv.port);
    struct kube_config cfg = {.server = url, .ns = (char *)"default"};
    cfg.token_file = (char *)token_file;
    struct kube_client *c = NULL;
    struct err *e = NULL;
    cr_assert_eq(kube_client_new(&cfg, o, &c, &e), 0, "%s", err_msg(e));
    return c;
}

static const struct kube_call cm = {.gvr = &KUBE_CONFIGMAPS, .ns = "default", .name = "x"};

static int get(struct kube_client *c, struct err **e)
{
    json_t *o = NULL;
    int rc = kube_get(c, &cm, &o, e);
    json_decref(o);
    return rc;
}

Test(kube_http, server_errors_and_dropped_connections_are_retried)
{
    enum act s[] = {S503, DROP, S500, OK200};
    start(s, 4);
    struct kube_client_opts o = {.backoff_base_ms = 10, .backoff_max_ms = 40};
    struct kube_client *c = client(&o, NULL);
    struct err *e = NULL;
    cr_assert_eq(get(c, &e), 0, "%s", err_msg(e));
    struct kube_client_stats st;
    kube_client_stats(c, &st);
    cr_assert_eq(st.retries, 3);
    cr_assert_eq(srv.served, 4);
    kube_client_free(c);
    stop();
}

Test(kube_http, retries_give_up_with_the_last_status)
{
    enum act s[] = {S503, S503, S503, S503};
    start(s, 4);
    struct kube_client_opts o = {.retries = 2, .backoff_base_ms = 10, .backoff_max_ms = 20};
    struct kube_client *c = client(&o, NULL);
    struct err *e = NULL;
    cr_assert_eq(get(c, &e), -EIO);
    cr_assert(strstr(err_msg(e), "HTTP 503"), "%s", err_msg(e));
    cr_assert_eq(srv.served, 3, "one attempt and two retries");
    err_free(&e);
    kube_client_free(c);
    stop();
}

Test(kube_http, too_many_requests_waits_for_retry_after)
{
    enum act s[] = {S429, OK200};
    start(s, 2);
    struct kube_client_opts o = {.backoff_base_ms = 10, .backoff_max_ms = 20};
    struct kube_client *c = client(&o, NULL);
    struct err *e = NULL;
    uint64_t t0 = kube_now_ms();
    cr_assert_eq(get(c, &e), 0, "%s", err_msg(e));
    cr_assert_geq(kube_now_ms() - t0, 1000, "Retry-After: 1 was not honoured");
    kube_client_free(c);
    stop();
}

Test(kube_http, every_request_has_a_timeout)
{
    enum act s[] = {HANG};
    start(s, 1);
    struct kube_client_opts o = {.timeout_ms = 200, .retries = -1};
    struct kube_client *c = client(&o, NULL);
    struct err *e = NULL;
    cr_assert_eq(get(c, &e), -ETIMEDOUT, "%s", err_msg(e));
    err_free(&e);
    kube_client_free(c);
    stop();
}

Test(kube_http, a_rotated_token_file_is_used_from_the_next_request)
{
    start(NULL, 0);
    char path[] = "/tmp/slicer-token.XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "first\n", 6), 6);
    close(fd);
    struct kube_client *c = client(NULL, path);
    struct err *e = NULL;
    cr_assert_eq(get(c, &e), 0, "%s", err_msg(e));
    cr_assert_str_eq(srv.last_auth, "Bearer first");
    FILE *f = fopen(path, "w");
    fputs("second-token", f);
    fclose(f);
    cr_assert_eq(get(c, &e), 0, "%s", err_msg(e));
    cr_assert_str_eq(srv.last_auth, "Bearer second-token");
    unlink(path);
    kube_client_free(c);
    stop();
}

Test(kube_http, the_rate_limiter_paces_requests)
{
    start(NULL, 0);
    struct kube_client_opts o = {.qps = 20, .burst = 1};
    struct kube_client *c = client(&o, NULL);
    struct err *e = NULL;
    uint64_t t0 = kube_now_ms();
    for (int i = 0; i < 5; i++)
        cr_assert_eq(get(c, &e), 0, "%s", err_msg(e));
    cr_assert_geq(kube_now_ms() - t0, 195, "5 requests at 20 QPS, burst 1, need >= 200 ms");
    kube_client_free(c);
    stop();
}

static void counted_done(void *arg, json_t *obj, const struct err *e)
{
    int *left = arg;
    json_decref(obj);
    cr_expect_null(e, "%s", err_msg(e));
    (*left)--;
}

/* n GETs sent at once through a client with max_inflight `max` (0: the default); returns the
 * most that were in flight together. */
static unsigned burst_of_gets(int n, int max)
{
    start(NULL, 0);
    struct kube_client_opts o = {.qps = -1, .max_inflight = max};
    struct kube_client *c = client(&o, NULL);
    int left = n;
    for (int i = 0; i < n; i++) {
        struct err *e = NULL;
        cr_assert_not_null(kube_send(c, KUBE_GET, &cm, NULL, counted_done, &left, &e), "%s",
                           err_msg(e));
    }
    uint64_t t0 = kube_now_ms();
    while (left > 0 && kube_now_ms() - t0 < 10000) {
        struct err *e = NULL;
        cr_assert_geq(kube_client_step(c, 100, &e), 0, "%s", err_msg(e));
    }
    cr_assert_eq(left, 0, "every request is answered, the queued ones too");
    struct kube_client_stats st;
    kube_client_stats(c, &st);
    kube_client_free(c);
    stop();
    return st.max_active;
}

Test(kube_http, at_most_max_inflight_requests_are_in_flight_and_the_rest_wait_their_turn)
{
    cr_expect_eq(burst_of_gets(12, 3), 3, "a limit of 3");
    cr_expect_gt(burst_of_gets(12, 64), 3, "without the limit in the way they overlap");
}
