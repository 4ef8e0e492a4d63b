/* dra — the registration and DRA services of the kubelet plugin, on top of
 * the gRPC server (grpc.c) and the messages protoc-c generates from
 * the files in proto/ (see kubelet.h for the contract).
 *
 * Both DRA versions are served. Requests are decoded with their own
 * version's descriptors; answers are built with v1's types for both, since
 * v1 and v1beta1 encode identically as long as Device.share_id (field 5,
 * v1 only) is unset, which slicer never sets (test_kubelet checks the
 * equivalence). */
#include "kubelet/kubelet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "dra_v1.pb-c.h"
#include "dra_v1beta1.pb-c.h"
#include "kubelet/grpc.h"
#include "pluginregistration.pb-c.h"

typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__Claim V1Claim;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__Device V1Device;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourcesRequest V1PrepReq;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodeUnprepareResourcesRequest V1UnprepReq;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourcesResponse V1PrepResp;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourcesResponse__ClaimsEntry V1PrepEntry;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourceResponse V1PrepOne;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodeUnprepareResourcesResponse V1UnprepResp;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodeUnprepareResourcesResponse__ClaimsEntry
    V1UnprepEntry;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodeUnprepareResourceResponse V1UnprepOne;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1beta1__Claim B1Claim;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1beta1__NodePrepareResourcesRequest B1PrepReq;
typedef K8s__Io__Kubelet__Pkg__Apis__Dra__V1beta1__NodeUnprepareResourcesRequest B1UnprepReq;

#define DRA_V1      "/k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin/"
#define DRA_V1BETA1 "/k8s.io.kubelet.pkg.apis.dra.v1beta1.DRAPlugin/"

/* One claim's answer, deep-copied from the agent's. */
struct answer {
    bool done;
    char *error; /* NULL: success */
    V1Device **devs;
    size_t ndev;
};

struct kl_call {
    struct kl_plugin *p;
    struct kl_call *prev, *next;
    struct kl_grpc_call *g;
    bool prepare;
    const char *version; /* "v1" or "v1beta1" */
    size_t n, left;
    struct kl_claim *claims;
    struct answer *ans;
};

struct kl_plugin {
    const struct kl_plugin_ops *ops;
    void *arg;
    char *driver, *reg_path, *dra_path;
    struct kl_grpc_server *srv;
    struct kl_call *calls;     /* unanswered */
    bool reg_bound, dra_bound; /* we made these socket files */
    struct kl_grpc_method reg_methods[2], dra_methods[4];
};

/* ---- calls -------------------------------------------------------------------------- */

static void device_free(V1Device *d)
{
    for (size_t i = 0; i < d->n_request_names; i++)
        free(d->request_names[i]);
    for (size_t i = 0; i < d->n_cdi_device_ids; i++)
        free(d->cdi_device_ids[i]);
    free(d->request_names);
    free(d->cdi_device_ids);
    free(d->pool_name);
    free(d->device_name);
    free(d);
}

static void call_free(struct kl_call *c)
{
    struct kl_plugin *p = c->p;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        p->calls = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    for (size_t i = 0; i < c->n; i++) {
        free((char *)c->claims[i].namespace_);
        free((char *)c->claims[i].uid);
        free((char *)c->claims[i].name);
        free(c->ans[i].error);
        for (size_t k = 0; k < c->ans[i].ndev; k++)
            device_free(c->ans[i].devs[k]);
        free(c->ans[i].devs);
    }
    free(c->claims);
    free(c->ans);
    free(c);
}

static struct kl_call *call_new(struct kl_plugin *p, struct kl_grpc_call *g, bool prepare,
                                const char *version, size_t n)
{
    struct kl_call *c = xcalloc(1, sizeof *c);
    *c =
        (struct kl_call){.p = p, .g = g, .prepare = prepare, .version = version, .n = n, .left = n};
    c->claims = xcalloc(n, sizeof *c->claims);
    c->ans = xcalloc(n, sizeof *c->ans);
    c->next = p->calls;
    if (p->calls != NULL)
        p->calls->prev = c;
    p->calls = c;
    return c;
}

static void call_set_claim(struct kl_call *c, size_t i, const char *ns, const char *uid,
                           const char *name)
{
    c->claims[i].namespace_ = xstrdup(ns != NULL ? ns : "");
    c->claims[i].uid = xstrdup(uid != NULL ? uid : "");
    c->claims[i].name = xstrdup(name != NULL ? name : "");
}

size_t kl_call_nclaims(const struct kl_call *c)
{
    return c->n;
}

const struct kl_claim *kl_call_claim(const struct kl_call *c, size_t i)
{
    return i < c->n ? &c->claims[i] : NULL;
}

const char *kl_call_version(const struct kl_call *c)
{
    return c->version;
}

bool kl_call_dead(const struct kl_call *c)
{
    return !kl_grpc_call_alive(c->g);
}

/* Packs `msg` and answers the gRPC call with it. */
static void reply_packed(struct kl_grpc_call *g, const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    _cleanup_free_ uint8_t *buf = xmalloc(len);
    protobuf_c_message_pack(msg, buf);
    kl_grpc_reply(g, buf, len);
}

static void send_prepared(struct kl_call *c)
{
    V1PrepEntry *entries = xcalloc(c->n, sizeof *entries);
    V1PrepEntry **ep = xcalloc(c->n, sizeof *ep);
    V1PrepOne *ones = xcalloc(c->n, sizeof *ones);
    for (size_t i = 0; i < c->n; i++) {
        k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resource_response__init(&ones[i]);
        ones[i].n_devices = c->ans[i].ndev;
        ones[i].devices = c->ans[i].devs;
        if (c->ans[i].error != NULL)
            ones[i].error = c->ans[i].error;
        k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resources_response__claims_entry__init(
            &entries[i]);
        entries[i].key = (char *)c->claims[i].uid;
        entries[i].value = &ones[i];
        ep[i] = &entries[i];
    }
    V1PrepResp resp = K8S__IO__KUBELET__PKG__APIS__DRA__V1__NODE_PREPARE_RESOURCES_RESPONSE__INIT;
    resp.n_claims = c->n;
    resp.claims = ep;
    reply_packed(c->g, &resp.base);
    free(ones);
    free(ep);
    free(entries);
}

static void send_unprepared(struct kl_call *c)
{
    V1UnprepEntry *entries = xcalloc(c->n, sizeof *entries);
    V1UnprepEntry **ep = xcalloc(c->n, sizeof *ep);
    V1UnprepOne *ones = xcalloc(c->n, sizeof *ones);
    for (size_t i = 0; i < c->n; i++) {
        k8s__io__kubelet__pkg__apis__dra__v1__node_unprepare_resource_response__init(&ones[i]);
        if (c->ans[i].error != NULL)
            ones[i].error = c->ans[i].error;
        k8s__io__kubelet__pkg__apis__dra__v1__node_unprepare_resources_response__claims_entry__init(
            &entries[i]);
        entries[i].key = (char *)c->claims[i].uid;
        entries[i].value = &ones[i];
        ep[i] = &entries[i];
    }
    V1UnprepResp resp =
        K8S__IO__KUBELET__PKG__APIS__DRA__V1__NODE_UNPREPARE_RESOURCES_RESPONSE__INIT;
    resp.n_claims = c->n;
    resp.claims = ep;
    reply_packed(c->g, &resp.base);
    free(ones);
    free(ep);
    free(entries);
}

/* Sends the response when nothing is left to answer; frees the call then. */
static void call_maybe_done(struct kl_call *c)
{
    if (c->left > 0)
        return;
    if (c->prepare)
        send_prepared(c);
    else
        send_unprepared(c);
    call_free(c);
}

static char **strv_dup(const char *const *v, size_t n)
{
    char **out = xcalloc(n > 0 ? n : 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(v[i] != NULL ? v[i] : "");
    return out;
}

static V1Device *device_dup(const struct kl_device *d)
{
    V1Device *o = xmalloc(sizeof *o);
    k8s__io__kubelet__pkg__apis__dra__v1__device__init(o);
    o->request_names = strv_dup(d->request_names, d->n_request_names);
    o->n_request_names = d->n_request_names;
    o->cdi_device_ids = strv_dup(d->cdi_device_ids, d->n_cdi_device_ids);
    o->n_cdi_device_ids = d->n_cdi_device_ids;
    o->pool_name = xstrdup(d->pool_name != NULL ? d->pool_name : "");
    o->device_name = xstrdup(d->device_name != NULL ? d->device_name : "");
    return o;
}

static int answer_check(const struct kl_call *c, size_t i, bool prepare)
{
    if (i >= c->n || c->prepare != prepare)
        return -EINVAL;
    return c->ans[i].done ? -EALREADY : 0;
}

int kl_call_prepared(struct kl_call *c, size_t i, const struct kl_device *devices, size_t n,
                     const char *error)
{
    int rc = answer_check(c, i, true);
    if (rc < 0)
        return rc;
    struct answer *a = &c->ans[i];
    a->done = true;
    c->left--;
    if (error != NULL && error[0] != '\0') {
        a->error = xstrdup(error);
    } else if (!kl_call_dead(c)) {
        a->devs = xcalloc(n > 0 ? n : 1, sizeof *a->devs);
        for (size_t k = 0; k < n; k++)
            a->devs[k] = device_dup(&devices[k]);
        a->ndev = n;
    }
    call_maybe_done(c);
    return 0;
}

int kl_call_unprepared(struct kl_call *c, size_t i, const char *error)
{
    int rc = answer_check(c, i, false);
    if (rc < 0)
        return rc;
    c->ans[i].done = true;
    c->left--;
    if (error != NULL && error[0] != '\0')
        c->ans[i].error = xstrdup(error);
    call_maybe_done(c);
    return 0;
}

/* ---- handlers ----------------------------------------------------------------------- */

static void h_get_info(void *arg, struct kl_grpc_call *g, const uint8_t *msg, size_t len)
{
    struct kl_plugin *p = arg;
    Pluginregistration__InfoRequest *req = pluginregistration__info_request__unpack(NULL, len, msg);
    if (req == NULL) {
        kl_grpc_fail(g, KL_GRPC_INVALID_ARGUMENT, "cannot decode InfoRequest");
        return;
    }
    pluginregistration__info_request__free_unpacked(req, NULL);
    /* Most recent first: the kubelet takes the first one it supports. */
    char *versions[] = {(char *)"v1.DRAPlugin", (char *)"v1beta1.DRAPlugin"};
    Pluginregistration__PluginInfo info = PLUGINREGISTRATION__PLUGIN_INFO__INIT;
    info.type = (char *)"DRAPlugin";
    info.name = p->driver;
    info.endpoint = p->dra_path;
    info.n_supported_versions = 2;
    info.supported_versions = versions;
    reply_packed(g, &info.base);
}

static void h_notify(void *arg, struct kl_grpc_call *g, const uint8_t *msg, size_t len)
{
    struct kl_plugin *p = arg;
    Pluginregistration__RegistrationStatus *st =
        pluginregistration__registration_status__unpack(NULL, len, msg);
    if (st == NULL) {
        kl_grpc_fail(g, KL_GRPC_INVALID_ARGUMENT, "cannot decode RegistrationStatus");
        return;
    }
    if (p->ops->registered != NULL)
        p->ops->registered(p->arg, st->plugin_registered, st->error != NULL ? st->error : "");
    pluginregistration__registration_status__free_unpacked(st, NULL);
    Pluginregistration__RegistrationStatusResponse resp =
        PLUGINREGISTRATION__REGISTRATION_STATUS_RESPONSE__INIT;
    reply_packed(g, &resp.base);
}

/* Hands a decoded call to the agent, or answers an empty one at once. */
static void start_call(struct kl_call *c)
{
    struct kl_plugin *p = c->p;
    if (c->n == 0)
        call_maybe_done(c);
    else if (c->prepare)
        p->ops->prepare(p->arg, c);
    else
        p->ops->unprepare(p->arg, c);
}

static void from_v1(struct kl_plugin *p, struct kl_grpc_call *g, bool prepare, size_t n,
                    V1Claim **claims)
{
    struct kl_call *c = call_new(p, g, prepare, "v1", n);
    for (size_t i = 0; i < n; i++)
        call_set_claim(c, i, claims[i]->namespace_, claims[i]->uid, claims[i]->name);
    start_call(c);
}

static void from_v1beta1(struct kl_plugin *p, struct kl_grpc_call *g, bool prepare, size_t n,
                         B1Claim **claims)
{
    struct kl_call *c = call_new(p, g, prepare, "v1beta1", n);
    for (size_t i = 0; i < n; i++)
        call_set_claim(c, i, claims[i]->namespace_, claims[i]->uid, claims[i]->name);
    start_call(c);
}

static void bad_request(struct kl_grpc_call *g, const char *what)
{
    char msg[96];
    snprintf(msg, sizeof msg, "cannot decode %s", what);
    kl_grpc_fail(g, KL_GRPC_INVALID_ARGUMENT, msg);
}

static void h_prepare_v1(void *arg, struct kl_grpc_call *g, const uint8_t *msg, size_t len)
{
    V1PrepReq *r = k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resources_request__unpack(
        NULL, len, msg);
    if (r == NULL) {
        bad_request(g, "NodePrepareResourcesRequest");
        return;
    }
    from_v1(arg, g, true, r->n_claims, r->claims);
    k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resources_request__free_unpacked(r, NULL);
}

static void h_unprepare_v1(void *arg, struct kl_grpc_call *g, const uint8_t *msg, size_t len)
{
    V1UnprepReq *r = k8s__io__kubelet__pkg__apis__dra__v1__node_unprepare_resources_request__unpack(
        NULL, len, msg);
    if (r == NULL) {
        bad_request(g, "NodeUnprepareResourcesRequest");
        return;
    }
    from_v1(arg, g, false, r->n_claims, r->claims);
    k8s__io__kubelet__pkg__apis__dra__v1__node_unprepare_resources_request__free_unpacked(r, NULL);
}

static void h_prepare_v1beta1(void *arg, struct kl_grpc_call *g, const uint8_t *msg, size_t len)
{
    B1PrepReq *r =
        k8s__io__kubelet__pkg__apis__dra__v1beta1__node_prepare_resources_request__unpack(NULL, len,
                                                                                          msg);
    if (r == NULL) {
        bad_request(g, "NodePrepareResourcesRequest");
        return;
    }
    from_v1beta1(arg, g, true, r->n_claims, r->claims);
    k8s__io__kubelet__pkg__apis__dra__v1beta1__node_prepare_resources_request__free_unpacked(r,
                                                                                             NULL);
}

static void h_unprepare_v1beta1(void *arg, struct kl_grpc_call *g, const uint8_t *msg, size_t len)
{
    B1UnprepReq *r =
        k8s__io__kubelet__pkg__apis__dra__v1beta1__node_unprepare_resources_request__unpack(
            NULL, len, msg);
    if (r == NULL) {
        bad_request(g, "NodeUnprepareResourcesRequest");
        return;
    }
    from_v1beta1(arg, g, false, r->n_claims, r->claims);
    k8s__io__kubelet__pkg__apis__dra__v1beta1__node_unprepare_resources_request__free_unpacked(
        r, NULL);
}

/* ---- the plugin --------------------------------------------------------------------- */

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = xmalloc(n);
    snprintf(s, n, "%s/%s", a, b);
    return s;
}

/* mkdir -p with `mode` for the folders it creates. */
static int mkdir_p(const char *path, mode_t mode, struct err **err)
{
    _cleanup_free_ char *tmp = xstrdup(path);
    for (char *q = tmp + 1;; q++) {
        if (*q != '/' && *q != '\0')
            continue;
        char was = *q;
        *q = '\0';
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
            return err_set(err, errno, "creating %s: %s", tmp, strerror(errno));
        if (was == '\0')
            return 0;
        *q = was;
    }
}

/* Removes a socket file left by an earlier run; refuses to remove anything else. */
static int remove_stale(const char *path, struct err **err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : err_set(err, errno, "%s: %s", path, strerror(errno));
    if (!S_ISSOCK(st.st_mode))
        return err_set(err, EEXIST, "%s exists and is not a socket", path);
    if (unlink(path) < 0)
        return err_set(err, errno, "removing stale socket %s: %s", path, strerror(errno));
    return 0;
}

/* Creates the folder of `path`, removes a stale socket and listens there. */
static int serve_at(struct kl_plugin *p, const char *dir, const char *path,
                    const struct kl_grpc_method *m, size_t n, struct err **err)
{
    int rc = mkdir_p(dir, 0750, err);
    if (rc == 0)
        rc = remove_stale(path, err);
    if (rc == 0)
        rc = kl_grpc_listen(p->srv, path, m, n, p, err);
    return rc;
}

static void set_methods(struct kl_plugin *p)
{
    p->reg_methods[0] =
        (struct kl_grpc_method){"/pluginregistration.Registration/GetInfo", h_get_info};
    p->reg_methods[1] = (struct kl_grpc_method){
        "/pluginregistration.Registration/NotifyRegistrationStatus", h_notify};
    p->dra_methods[0] = (struct kl_grpc_method){DRA_V1 "NodePrepareResources", h_prepare_v1};
    p->dra_methods[1] = (struct kl_grpc_method){DRA_V1 "NodeUnprepareResources", h_unprepare_v1};
    p->dra_methods[2] =
        (struct kl_grpc_method){DRA_V1BETA1 "NodePrepareResources", h_prepare_v1beta1};
    p->dra_methods[3] =
        (struct kl_grpc_method){DRA_V1BETA1 "NodeUnprepareResources", h_unprepare_v1beta1};
}

static int plugin_start(struct kl_plugin *p, const struct kl_plugin_config *cfg, struct err **err)
{
    const char *regdir = cfg->registry_dir != NULL ? cfg->registry_dir : KL_DEFAULT_REGISTRY_DIR;
    _cleanup_free_ char *plugdir = cfg->plugin_dir != NULL
                                       ? xstrdup(cfg->plugin_dir)
                                       : join(KL_DEFAULT_PLUGINS_DIR, cfg->driver);
    if (regdir[0] != '/' || plugdir[0] != '/')
        return err_set(err, EINVAL, "socket folders must be absolute paths");
    _cleanup_free_ char *regname = xmalloc(strlen(cfg->driver) + 10);
    snprintf(regname, strlen(cfg->driver) + 10, "%s-reg.sock", cfg->driver);
    p->reg_path = join(regdir, regname);
    p->dra_path = join(plugdir, "dra.sock");
    struct kl_grpc_limits lim = {
        .max_msg = cfg->max_msg, .max_conns = cfg->max_conns, .max_streams = cfg->max_streams};
    p->srv = kl_grpc_server_new(&lim, err);
    if (p->srv == NULL)
        return -EIO;
    set_methods(p);
    int rc = serve_at(p, plugdir, p->dra_path, p->dra_methods, 4, err);
    if (rc < 0)
        return rc;
    p->dra_bound = true;
    rc = serve_at(p, regdir, p->reg_path, p->reg_methods, 2, err);
    p->reg_bound = rc == 0;
    return rc;
}

struct kl_plugin *kl_plugin_new(const struct kl_plugin_config *cfg, const struct kl_plugin_ops *ops,
                                void *arg, struct err **err)
{
    if (cfg->driver == NULL || cfg->driver[0] == '\0' || strchr(cfg->driver, '/') != NULL ||
        ops->prepare == NULL || ops->unprepare == NULL) {
        err_set(err, EINVAL, "kubelet plugin: a driver name and prepare/unprepare are required");
        return NULL;
    }
    struct kl_plugin *p = xcalloc(1, sizeof *p);
    p->ops = ops;
    p->arg = arg;
    p->driver = xstrdup(cfg->driver);
    if (plugin_start(p, cfg, err) < 0) {
        err_wrap(err, "kubelet plugin %s", cfg->driver);
        kl_plugin_free(p);
        return NULL;
    }
    log_info("kubelet plugin %s: registration %s, DRA %s", p->driver, p->reg_path, p->dra_path);
    return p;
}

int kl_plugin_fd(const struct kl_plugin *p)
{
    return kl_grpc_fd(p->srv);
}

void kl_plugin_dispatch(struct kl_plugin *p)
{
    kl_grpc_dispatch(p->srv);
}

const char *kl_plugin_registration_socket(const struct kl_plugin *p)
{
    return p->reg_path;
}

const char *kl_plugin_dra_socket(const struct kl_plugin *p)
{
    return p->dra_path;
}

void kl_plugin_free(struct kl_plugin *p)
{
    if (p == NULL)
        return;
    /* The registration socket goes first: the kubelet's watcher then
     * deregisters us instead of calling a DRA socket that is gone. */
    if (p->reg_bound)
        unlink(p->reg_path);
    while (p->calls != NULL) {
        struct kl_call *c = p->calls;
        kl_grpc_fail(c->g, KL_GRPC_UNAVAILABLE, "the DRA plugin is shutting down");
        call_free(c);
    }
    if (p->dra_bound)
        unlink(p->dra_path);
    kl_grpc_server_free(p->srv);
    free(p->reg_path);
    free(p->dra_path);
    free(p->driver);
    free(p);
}
