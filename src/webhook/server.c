/* server — the HTTPS side of `slicer webhook` (server.h). */
#define _GNU_SOURCE
#include "webhook/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "webhook/review.h"

#define MAX_PEM     (1u << 20) /* a certificate chain or key file */
#define MAX_CHAIN   8
#define PRIORITIES  "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define CHECK_EVERY 1 /* seconds between looks at the certificate files */

/* ---- certificates --------------------------------------------------------------------- */

/* One loaded certificate chain and key. */
struct pair {
    gnutls_pcert_st chain[MAX_CHAIN];
    unsigned n;
    gnutls_privkey_t key;
};

/* The served pair and the one before it: a handshake that got the old pair
 * may still be using it when a reload happens, so it is freed one reload later. */
static struct {
    pthread_mutex_t mu;
    const char *cert_file, *key_file;
    struct pair *cur, *old;
    struct timespec cert_mtime, key_mtime;
    time_t last_check;
    uint64_t reloads, reload_failures;
} certs = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void pair_free(struct pair *p)
{
    if (p == NULL)
        return;
    for (unsigned i = 0; i < p->n; i++)
        gnutls_pcert_deinit(&p->chain[i]);
    gnutls_privkey_deinit(p->key);
    free(p);
}

static int read_file(const char *path, gnutls_datum_t *out, struct err **err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return err_set(err, errno, "opening %s: %s", path, strerror(errno));
    unsigned char *buf = xmalloc(MAX_PEM + 1);
    size_t n = fread(buf, 1, MAX_PEM + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > MAX_PEM || n == 0) {
        free(buf);
        return err_set(err, EINVAL, "reading %s: %s", path,
                       bad      ? "read error"
                       : n == 0 ? "empty file"
                                : "larger than 1 MiB");
    }
    out->data = buf;
    out->size = (unsigned)n;
    return 0;
}

/* Signs a probe with the key and verifies it with the certificate: catches a
 * certificate rotated before its key. */
static int key_matches(struct pair *p, struct err **err)
{
    static unsigned char probe[] = "slicer webhook key check";
    gnutls_datum_t data = {probe, sizeof probe}, sig = {NULL, 0};
    int rc = gnutls_privkey_sign_data(p->key, GNUTLS_DIG_SHA256, 0, &data, &sig);
    if (rc == 0) {
        gnutls_sign_algorithm_t algo = gnutls_pk_to_sign(
            gnutls_pubkey_get_pk_algorithm(p->chain[0].pubkey, NULL), GNUTLS_DIG_SHA256);
        rc = gnutls_pubkey_verify_data2(p->chain[0].pubkey, algo, 0, &data, &sig);
    }
    gnutls_free(sig.data);
    if (rc < 0)
        return err_set(err, EINVAL, "the key does not belong to the certificate (%s)",
                       gnutls_strerror(rc));
    return 0;
}

static int load_pair(const char *cert_file, const char *key_file, struct pair **out,
                     struct err **err)
{
    gnutls_datum_t cert = {NULL, 0}, key = {NULL, 0};
    struct pair *p = xcalloc(1, sizeof *p);
    int rc = read_file(cert_file, &cert, err);
    if (rc == 0)
        rc = read_file(key_file, &key, err);
    if (rc == 0) {
        p->n = MAX_CHAIN;
        int g = gnutls_pcert_list_import_x509_raw(p->chain, &p->n, &cert, GNUTLS_X509_FMT_PEM, 0);
        if (g < 0) {
            p->n = 0;
            rc = err_set(err, EINVAL, "%s: not a PEM certificate chain (%s)", cert_file,
                         gnutls_strerror(g));
        }
    }
    if (rc == 0) {
        gnutls_privkey_init(&p->key);
        int g = gnutls_privkey_import_x509_raw(p->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
        if (g < 0)
            rc = err_set(err, EINVAL, "%s: not a PEM private key (%s)", key_file,
                         gnutls_strerror(g));
    }
    if (rc == 0)
        rc = key_matches(p, err);
    free(cert.data);
    free(key.data);
    if (rc < 0) {
        pair_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

static struct timespec mtime_of(const char *path)
{
    struct stat st;
    struct timespec none = {0, 0};
    return stat(path, &st) == 0 ? st.st_mtim : none;
}

static bool same_time(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* Reloads the pair when a file changed. Locked by the caller. */
static void maybe_reload_locked(void)
{
    time_t now = time(NULL);
    if (now - certs.last_check < CHECK_EVERY)
        return;
    certs.last_check = now;
    struct timespec cm = mtime_of(certs.cert_file), km = mtime_of(certs.key_file);
    if (same_time(cm, certs.cert_mtime) && same_time(km, certs.key_mtime))
        return;
    struct pair *p = NULL;
    struct err *e = NULL;
    if (load_pair(certs.cert_file, certs.key_file, &p, &e) < 0) {
        log_warn("webhook: new certificate not loaded, serving the previous one: %s", err_msg(e));
        err_free(&e);
        certs.reload_failures++;
        return; /* files are looked at again in a second: a half-written pair heals */
    }
    pair_free(certs.old);
    certs.old = certs.cur;
    certs.cur = p;
    certs.cert_mtime = cm;
    certs.key_mtime = km;
    certs.reloads++;
    log_info("webhook: serving the new certificate from %s", certs.cert_file);
}

static int cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                         const gnutls_pk_algorithm_t *algos, int nalgos, gnutls_pcert_st **pcert,
                         unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
    (void)session, (void)req_ca_dn, (void)nreqs, (void)algos, (void)nalgos;
    pthread_mutex_lock(&certs.mu);
    maybe_reload_locked();
    *pcert = certs.cur->chain;
    *pcert_length = certs.cur->n;
    *pkey = certs.cur->key;
    pthread_mutex_unlock(&certs.mu);
    return 0;
}

/* ---- metrics -------------------------------------------------------------------------- */

static struct {
    uint64_t by_verdict[3]; /* MUTATE_PASS, MUTATE_PATCH, MUTATE_DENY */
    uint64_t bad_request, too_large;
    uint64_t slices;
    double seconds_sum;
    uint64_t seconds_count;
} metrics;

static char *metrics_text(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fputs("# HELP slicer_webhook_reviews_total AdmissionReviews answered, by outcome.\n"
          "# TYPE slicer_webhook_reviews_total counter\n",
          f);
    static const char *const names[] = {"pass", "patch", "deny"};
    for (int i = 0; i < 3; i++)
        fprintf(f, "slicer_webhook_reviews_total{outcome=\"%s\"} %llu\n", names[i],
                (unsigned long long)metrics.by_verdict[i]);
    fprintf(f,
            "slicer_webhook_reviews_total{outcome=\"bad_request\"} %llu\n"
            "slicer_webhook_reviews_total{outcome=\"too_large\"} %llu\n"
            "# HELP slicer_webhook_slices_requested_total MIG slices in admitted pods.\n"
            "# TYPE slicer_webhook_slices_requested_total counter\n"
            "slicer_webhook_slices_requested_total %llu\n"
            "# HELP slicer_webhook_review_seconds Time to decide one review.\n"
            "# TYPE slicer_webhook_review_seconds summary\n"
            "slicer_webhook_review_seconds_sum %.9f\n"
            "slicer_webhook_review_seconds_count %llu\n"
            "# HELP slicer_webhook_certificate_reloads_total Certificate reloads, by result.\n"
            "# TYPE slicer_webhook_certificate_reloads_total counter\n"
            "slicer_webhook_certificate_reloads_total{result=\"ok\"} %llu\n"
            "slicer_webhook_certificate_reloads_total{result=\"failed\"} %llu\n",
            (unsigned long long)metrics.bad_request, (unsigned long long)metrics.too_large,
            (unsigned long long)metrics.slices, metrics.seconds_sum,
            (unsigned long long)metrics.seconds_count, (unsigned long long)certs.reloads,
            (unsigned long long)certs.reload_failures);
    fclose(f);
    return buf;
}

/* ---- requests ------------------------------------------------------------------------- */

/* The body of one POST, gathered across calls of the handler. */
struct upload {
    char *data;
    size_t len;
    bool too_large;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    json_t *o = json_pack("{s:s}", "error", msg);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return reply(c, status, "application/json", text);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static enum MHD_Result answer_review(struct MHD_Connection *c, const struct webhook_config *cfg,
                                     struct upload *up)
{
    if (up->too_large) {
        metrics.too_large++;
        log_warn("webhook: refused a review larger than %u bytes", REVIEW_MAX_BODY);
        return reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct review_outcome oc;
    struct err *e = NULL;
    char *out = NULL;
    const struct mutate_offer *offer =
        cfg->live_offer ? webhook_offer_lock(cfg->live_offer) : cfg->offer;
    struct mutate_input in = {.offer = offer, .handoff = cfg->handoff, .claims = cfg->claims};
    int rc = review_answer_with(up->data ? up->data : "", up->len, &in, &out, &oc, &e);
    if (cfg->live_offer)
        webhook_offer_unlock(cfg->live_offer);
    if (rc < 0) {
        metrics.bad_request++;
        log_warn("webhook: bad review: %s", err_msg(e));
        enum MHD_Result r = reply_error(c, MHD_HTTP_BAD_REQUEST, err_msg(e));
        err_free(&e);
        return r;
    }
    metrics.by_verdict[oc.verdict]++;
    metrics.seconds_sum += seconds_since(&t0);
    metrics.seconds_count++;
    if (oc.verdict == MUTATE_PATCH) {
        metrics.slices += oc.slices;
        if (oc.slices > 0)
            log_info("webhook: pod %s: asks for %u MIG slice(s): %s and gated", oc.pod, oc.slices,
                     cfg->handoff == MUTATE_DRA ? "given ResourceClaims" : "rewritten");
        if (oc.own_claims > 0)
            log_info("webhook: pod %s: names %u ResourceClaim(s) of class mig.slicer.dev of its "
                     "own: gated for slicer's placement",
                     oc.pod, oc.own_claims);
    } else if (oc.verdict == MUTATE_DENY) {
        log_info("webhook: pod %s refused: %s", oc.pod, oc.message);
    } else {
        log_debug("webhook: review %s (%s) passed unchanged", oc.uid, oc.pod);
    }
    return reply(c, MHD_HTTP_OK, "application/json", out);
}

static enum MHD_Result route(struct MHD_Connection *c, const struct webhook_config *cfg,
                             const char *url, const char *method, struct upload *up)
{
    bool get = strcmp(method, "GET") == 0;
    if (strcmp(url, "/mutate-pods") == 0) {
        if (strcmp(method, "POST") != 0)
            return reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "POST an AdmissionReview here");
        return answer_review(c, cfg, up);
    }
    if (get && strcmp(url, "/healthz") == 0)
        return reply(c, MHD_HTTP_OK, "text/plain", xstrdup("ok\n"));
    if (get && strcmp(url, "/readyz") == 0) /* serving at all means a pair is loaded */
        return reply(c, MHD_HTTP_OK, "text/plain", xstrdup("ok\n"));
    if (get && strcmp(url, "/metrics") == 0)
        return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4", metrics_text());
    return reply_error(c, MHD_HTTP_NOT_FOUND,
                       "not found: /mutate-pods, /healthz, /readyz, /metrics");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
    (void)version;
    struct upload *up = *con_cls;
    if (up == NULL) { /* headers only: the body (if any) comes in the next calls */
        *con_cls = xcalloc(1, sizeof *up);
        return MHD_YES;
    }
    if (*data_size > 0) {
        if (!up->too_large && up->len + *data_size <= REVIEW_MAX_BODY) {
            up->data = xrealloc(up->data, up->len + *data_size + 1);
            memcpy(up->data + up->len, data, *data_size);
            up->len += *data_size;
        } else {
            up->too_large = true; /* keep reading, drop the rest, answer 413 */
        }
        *data_size = 0;
        return MHD_YES;
    }
    return route(c, cls, url, method, up);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)c, (void)code;
    struct upload *up = *con_cls;
    if (up) {
        free(up->data);
        free(up);
    }
    *con_cls = NULL;
}

/* ---- the daemon ----------------------------------------------------------------------- */

static int bind_addr(const struct webhook_config *cfg, struct sockaddr_storage *ss,
                     struct err **err)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    const char *a = cfg->address ? cfg->address : "0.0.0.0";
    if (inet_pton(AF_INET, a, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(cfg->port);
        return 0;
    }
    if (inet_pton(AF_INET6, a, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(cfg->port);
        return 0;
    }
    return err_set(err, EINVAL, "--address wants an IPv4 or IPv6 address, not '%s'", a);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_debug("webhook: libmicrohttpd: %s", msg);
}

static struct MHD_Daemon *start(const struct webhook_config *cfg, struct sockaddr_storage *ss)
{
    unsigned flags = MHD_USE_TLS | MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (ss->ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    return MHD_start_daemon(flags, cfg->port, NULL, NULL, on_request, (void *)cfg,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, /* first: all messages */
                            MHD_OPTION_SOCK_ADDR, ss, MHD_OPTION_HTTPS_CERT_CALLBACK, cert_callback,
                            MHD_OPTION_HTTPS_PRIORITIES, PRIORITIES, MHD_OPTION_NOTIFY_COMPLETED,
                            on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_END);
}

int webhook_serve(const struct webhook_config *cfg, volatile sig_atomic_t *stop, struct err **err)
{
    struct sockaddr_storage ss;
    int rc = bind_addr(cfg, &ss, err);
    struct pair *p = NULL;
    if (rc == 0)
        rc = load_pair(cfg->cert_file, cfg->key_file, &p, err);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&certs.mu);
    certs.cert_file = cfg->cert_file;
    certs.key_file = cfg->key_file;
    certs.cur = p;
    certs.cert_mtime = mtime_of(cfg->cert_file);
    certs.key_mtime = mtime_of(cfg->key_file);
    certs.last_check = time(NULL);
    pthread_mutex_unlock(&certs.mu);
    struct MHD_Daemon *d = start(cfg, &ss);
    if (d == NULL) {
        rc = err_set(err, EADDRINUSE, "cannot listen on %s port %u (in use, or not allowed)",
                     cfg->address ? cfg->address : "0.0.0.0", cfg->port);
    } else {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        log_info("webhook: serving https://%s:%u/mutate-pods (--handoff %s)",
                 cfg->address ? cfg->address : "0.0.0.0", info ? info->port : cfg->port,
                 cfg->handoff == MUTATE_DRA ? "dra" : "env");
        struct timespec tick = {0, 100 * 1000 * 1000};
        while (!*stop)
            nanosleep(&tick, NULL); /* the daemon's thread does the work */
        log_info("webhook: stopping");
        MHD_stop_daemon(d);
    }
    pthread_mutex_lock(&certs.mu);
    pair_free(certs.cur);
    pair_free(certs.old);
    certs.cur = certs.old = NULL;
    pthread_mutex_unlock(&certs.mu);
    return rc;
}
