#include "kube/kube_config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "kube/kube_yaml.h"

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int kube_base64_decode(const char *in, size_t n, char **out, size_t *len)
{
    char *buf = xmalloc(n / 4 * 3 + 4);
    size_t o = 0;
    unsigned acc = 0, bits = 0;
    bool pad = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            pad = true;
            continue;
        }
        int v = b64val(c);
        if (v < 0 || pad) {
            free(buf);
            return -EINVAL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    if (bits >= 6) { /* a lone trailing sextet cannot encode a byte */
        free(buf);
        return -EINVAL;
    }
    buf[o] = '\0';
    *out = buf;
    *len = o;
    return 0;
}

static int read_bounded(const char *path, size_t cap, char **out, size_t *len, struct err **err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, errno, "%s: %s", path, strerror(errno));
    char *buf = xmalloc(cap + 1);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return err_set(err, e, "%s: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > cap) {
            close(fd);
            free(buf);
            return err_set(err, EFBIG, "%s: larger than %zu bytes", path, cap);
        }
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

void kube_config_free(struct kube_config *c)
{
    if (!c)
        return;
    struct kube_pem *p[] = {&c->ca, &c->cert, &c->key};
    for (size_t i = 0; i < 3; i++) {
        free(p[i]->file);
        free(p[i]->data);
    }
    free(c->server);
    free(c->ns);
    free(c->context);
    free(c->token);
    free(c->token_file);
    free(c);
}

/* The entry named `name` in the kubeconfig list `list` ("clusters", ...),
 * returning its inner object under `field`. Borrowed reference. */
static json_t *named(json_t *root, const char *list, const char *field, const char *name)
{
    json_t *arr = json_object_get(root, list), *it;
    size_t i;
    json_array_foreach(arr, i, it)
    {
        const char *n = json_string_value(json_object_get(it, "name"));
        if (n && strcmp(n, name) == 0) {
            json_t *inner = json_object_get(it, field);
            return json_is_object(inner) ? inner : NULL;
        }
    }
    return NULL;
}

static const char *str(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s && *s ? s : NULL;
}

static char *resolve(const char *base_dir, const char *path)
{
    if (path[0] == '/' || !base_dir)
        return xstrdup(path);
    size_t a = strlen(base_dir), b = strlen(path);
    char *s = xmalloc(a + b + 2);
    memcpy(s, base_dir, a);
    s[a] = '/';
    memcpy(s + a + 1, path, b + 1);
    return s;
}

/* Fills a PEM slot from `<file_key>` or `<data_key>` (base64). */
static int pem(json_t *obj, const char *file_key, const char *data_key, const char *base_dir,
               struct kube_pem *out, struct err **err)
{
    const char *data = str(obj, data_key), *file = str(obj, file_key);
    if (data) {
        if (kube_base64_decode(data, strlen(data), &out->data, &out->len) < 0)
            return err_set(err, EINVAL, "%s is not valid base64", data_key);
    } else if (file) {
        out->file = resolve(base_dir, file);
    }
    return 0;
}

static int check_auth_method(json_t *user, const char *name, struct err **err)
{
    static const char *const unsupported[] = {"exec", "auth-provider", "username", "password"};
    for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++)
        if (json_object_get(user, unsupported[i]))
            return err_set(err, ENOTSUP,
                           "user %s: auth method '%s' is not supported (use a "
                           "client certificate or a bearer token)",
                           name, unsupported[i]);
    return 0;
}

static int fill_user(struct kube_config *c, json_t *user, const char *name, const char *base_dir,
                     struct err **err)
{
    if (check_auth_method(user, name, err) < 0)
        return -ENOTSUP;
    if (pem(user, "client-certificate", "client-certificate-data", base_dir, &c->cert, err) < 0 ||
        pem(user, "client-key", "client-key-data", base_dir, &c->key, err) < 0)
        return err_wrap(err, "user %s", name);
    bool has_cert = c->cert.file || c->cert.data, has_key = c->key.file || c->key.data;
    if (has_cert != has_key)
        return err_set(err, EINVAL, "user %s: a client certificate needs its key and vice versa",
                       name);
    const char *tok = str(user, "token"), *tf = str(user, "tokenFile");
    if (tok)
        c->token = xstrdup(tok);
    else if (tf)
        c->token_file = resolve(base_dir, tf);
    return 0;
}

static int fill_cluster(struct kube_config *c, json_t *cl, const char *name, const char *base_dir,
                        struct err **err)
{
    const char *server = str(cl, "server");
    if (!server)
        return err_set(err, EINVAL, "cluster %s has no server", name);
    if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
        return err_set(err, EINVAL, "cluster %s: server '%s' is not an http(s) URL", name, server);
    size_t n = strlen(server);
    while (n > 0 && server[n - 1] == '/')
        n--;
    c->server = xstrndup(server, n);
    const char *insecure = str(cl, "insecure-skip-tls-verify");
    c->insecure = insecure && strcmp(insecure, "true") == 0;
    if (pem(cl, "certificate-authority", "certificate-authority-data", base_dir, &c->ca, err) < 0)
        return err_wrap(err, "cluster %s", name);
    return 0;
}

static int from_tree(json_t *root, const char *base_dir, const char *context, struct kube_config *c,
                     struct err **err)
{
    const char *ctx_name = context ? context : str(root, "current-context");
    if (!ctx_name)
        return err_set(err, EINVAL, "no context given and no current-context set");
    json_t *ctx = named(root, "contexts", "context", ctx_name);
    if (!ctx)
        return err_set(err, ENOENT, "context %s not found", ctx_name);
    c->context = xstrdup(ctx_name);
    const char *cl_name = str(ctx, "cluster"), *user_name = str(ctx, "user");
    if (!cl_name)
        return err_set(err, EINVAL, "context %s names no cluster", ctx_name);
    json_t *cl = named(root, "clusters", "cluster", cl_name);
    if (!cl)
        return err_set(err, ENOENT, "cluster %s (of context %s) not found", cl_name, ctx_name);
    if (fill_cluster(c, cl, cl_name, base_dir, err) < 0)
        return -EINVAL;
    if (user_name) {
        json_t *user = named(root, "users", "user", user_name);
        if (!user)
            return err_set(err, ENOENT, "user %s (of context %s) not found", user_name, ctx_name);
        int rc = fill_user(c, user, user_name, base_dir, err);
        if (rc < 0)
            return rc;
    }
    const char *ns = str(ctx, "namespace");
    c->ns = xstrdup(ns ? ns : "default");
    return 0;
}

int kube_config_parse(const char *text, size_t len, const char *base_dir, const char *context,
                      struct kube_config **out, struct err **err)
{
    json_t *root = NULL;
    if (kube_yaml_parse(text, len, &root, err) < 0)
        return err_wrap(err, "kubeconfig");
    struct kube_config *c = xcalloc(1, sizeof *c);
    int rc = from_tree(root, base_dir, context, c, err);
    json_decref(root);
    if (rc < 0) {
        kube_config_free(c);
        return err_wrap(err, "kubeconfig");
    }
    *out = c;
    return 0;
}

int kube_config_load_file(const char *path, const char *context, struct kube_config **out,
                          struct err **err)
{
    char *text = NULL;
    size_t len = 0;
    if (read_bounded(path, KUBE_CONFIG_MAX_BYTES, &text, &len, err) < 0)
        return err_wrap(err, "reading kubeconfig");
    char *dir = xstrdup(path), *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int rc = kube_config_parse(text, len, slash ? dir : NULL, context, out, err);
    free(dir);
    free(text);
    if (rc < 0)
        return err_wrap(err, "%s", path);
    return 0;
}

int kube_config_incluster(const char *dir, struct kube_config **out, struct err **err)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host || !port || !*port)
        return err_set(err, ENOENT, "in-cluster: KUBERNETES_SERVICE_HOST/PORT are not set");
    if (!dir)
        dir = KUBE_INCLUSTER_DIR;
    struct kube_config *c = xcalloc(1, sizeof *c);
    size_t n = strlen(host) + strlen(port) + 16;
    c->server = xmalloc(n);
    bool v6 = strchr(host, ':') != NULL;
    snprintf(c->server, n, "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port);
    c->token_file = resolve(dir, "token");
    c->ca.file = resolve(dir, "ca.crt");
    if (access(c->token_file, R_OK) != 0) {
        int e = errno;
        err_set(err, e, "in-cluster: %s: %s", c->token_file, strerror(e));
        kube_config_free(c);
        return -e;
    }
    char *nsfile = resolve(dir, "namespace"), *ns = NULL;
    size_t len = 0;
    if (read_bounded(nsfile, 256, &ns, &len, NULL) == 0) {
        while (len > 0 && (ns[len - 1] == '\n' || ns[len - 1] == ' '))
            ns[--len] = '\0';
    }
    free(nsfile);
    c->ns = ns && *ns ? ns : xstrdup("default");
    if (c->ns != ns)
        free(ns);
    *out = c;
    return 0;
}

static char *first_existing(const char *list)
{
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 0) {
            char *cand = xstrndup(p, n);
            if (access(cand, F_OK) == 0)
                return cand;
            free(cand);
        }
        if (!end)
            break;
        p = end + 1;
    }
    return NULL;
}

int kube_config_load(const char *path, const char *context, struct kube_config **out,
                     struct err **err)
{
    if (path)
        return kube_config_load_file(path, context, out, err);
    const char *env = getenv("KUBECONFIG");
    if (env && *env) {
        char *found = first_existing(env);
        if (!found)
            return err_set(err, ENOENT, "no file of KUBECONFIG=%s exists", env);
        int rc = kube_config_load_file(found, context, out, err);
        free(found);
        return rc;
    }
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    if (host && *host)
        return kube_config_incluster(NULL, out, err);
    const char *home = getenv("HOME");
    if (!home)
        return err_set(err, ENOENT, "no kubeconfig: KUBECONFIG and HOME are unset, not in a pod");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s/.kube/config", home);
    return kube_config_load_file(buf, context, out, err);
}
