/* kube_config: kubeconfig parsing (inline and file PEM material from a
 * freshly generated certificate, tokens, contexts, refusals) and the
 * in-cluster configuration. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube/kube_config.h"
#include "kube/kube_yaml.h"

static char dir[64];

static void sh(const char *cmd)
{
    cr_assert_eq(system(cmd), 0, "command failed: %s", cmd);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/slicer-kubecfg.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout key.pem -out cert.pem -subj /CN=tester -days 1 2>/dev/null && "
             "base64 -w0 cert.pem > cert.b64 && base64 -w0 key.pem > key.b64",
             dir);
    sh(cmd);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(kube_config, .init = setup, .fini = teardown);

static char *slurp(const char *name, size_t *len)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return strdup(buf);
}

static void write_file(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static struct kube_config *parse(const char *text, const char *ctx)
{
    struct kube_config *c = NULL;
    struct err *e = NULL;
    int rc = kube_config_parse(text, strlen(text), dir, ctx, &c, &e);
    cr_assert_eq(rc, 0, "%s", err_msg(e));
    return c;
}

static int parse_fails(const char *text, char *msg, size_t cap)
{
    struct kube_config *c = NULL;
    struct err *e = NULL;
    int rc = kube_config_parse(text, strlen(text), dir, NULL, &c, &e);
    cr_assert_lt(rc, 0, "parsed but should not have: %s", text);
    cr_assert_null(c);
    snprintf(msg, cap, "%s", err_msg(e));
    err_free(&e);
    return rc;
}

Test(kube_config, inline_certificate_and_key_are_decoded_exactly)
{
    size_t clen, klen;
    char *cert = slurp("cert.pem", &clen), *key = slurp("key.pem", &klen);
    char *cb = slurp("cert.b64", NULL), *kb = slurp("key.b64", NULL);
    char text[16384];
    snprintf(text, sizeof text,
             "apiVersion: v1\nkind: Config\ncurrent-context: admin\n"
             "clusters:\n- name: c1\n  cluster:\n    server: https://127.0.0.1:6443/\n"
             "    certificate-authority-data: %s\n"
             "contexts:\n- name: admin\n  context: {cluster: c1, user: u1, namespace: team}\n"
             "users:\n- name: u1\n  user:\n    client-certificate-data: %s\n"
             "    client-key-data: %s\n",
             cb, cb, kb);
    struct kube_config *c = parse(text, NULL);
    cr_assert_str_eq(c->server, "https://127.0.0.1:6443");
    cr_assert_str_eq(c->ns, "team");
    cr_assert_str_eq(c->context, "admin");
    cr_assert_eq(c->cert.len, clen);
    cr_assert_eq(memcmp(c->cert.data, cert, clen), 0);
    cr_assert_eq(c->key.len, klen);
    cr_assert_eq(memcmp(c->key.data, key, klen), 0);
    cr_assert_eq(c->ca.len, clen);
    cr_assert_not(c->insecure);
    cr_assert_null(c->token);
    kube_config_free(c);
    free(cert);
    free(key);
    free(cb);
    free(kb);
}

Test(kube_config, files_are_resolved_against_the_kubeconfig_directory)
{
    const char *text = "current-context: x\n"
                       "clusters:\n- name: c\n  cluster:\n    server: https://h:1\n"
                       "    certificate-authority: ca.pem\n    insecure-skip-tls-verify: true\n"
                       "contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n"
                       "users:\n- name: u\n  user:\n    client-certificate: cert.pem\n"
                       "    client-key: /abs/key.pem\n";
    struct kube_config *c = parse(text, NULL);
    char want[128];
    snprintf(want, sizeof want, "%s/ca.pem", dir);
    cr_assert_str_eq(c->ca.file, want);
    snprintf(want, sizeof want, "%s/cert.pem", dir);
    cr_assert_str_eq(c->cert.file, want);
    cr_assert_str_eq(c->key.file, "/abs/key.pem");
    cr_assert(c->insecure);
    cr_assert_str_eq(c->ns, "default");
    kube_config_free(c);
}

static const char *two_contexts =
    "current-context: a\n"
    "clusters:\n- name: ca\n  cluster: {server: 'https://a:1'}\n"
    "- name: cb\n  cluster: {server: \"https://b:2\"}\n"
    "contexts:\n- name: a\n  context: {cluster: ca, user: ua}\n"
    "- name: b\n  context: {cluster: cb, user: ub}\n"
    "users:\n- name: ua\n  user: {token: tok-a}\n- name: ub\n  user: {tokenFile: t.txt}\n";

Test(kube_config, the_current_context_or_the_named_one_is_used)
{
    struct kube_config *c = parse(two_contexts, NULL);
    cr_assert_str_eq(c->server, "https://a:1");
    cr_assert_str_eq(c->token, "tok-a");
    kube_config_free(c);
    c = parse(two_contexts, "b");
    cr_assert_str_eq(c->server, "https://b:2");
    cr_assert_null(c->token);
    char want[128];
    snprintf(want, sizeof want, "%s/t.txt", dir);
    cr_assert_str_eq(c->token_file, want);
    kube_config_free(c);
}

Test(kube_config, unsupported_auth_methods_are_named)
{
    const char *methods[] = {"exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}",
                             "auth-provider: {name: oidc}", "username: admin"};
    const char *names[] = {"'exec'", "'auth-provider'", "'username'"};
    for (int i = 0; i < 3; i++) {
        char text[1024], msg[512];
        snprintf(text, sizeof text,
                 "current-context: x\nclusters:\n- name: c\n  cluster: {server: 'https://h:1'}\n"
                 "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                 "users:\n- name: u\n  user:\n    %s\n",
                 methods[i]);
        cr_assert_eq(parse_fails(text, msg, sizeof msg), -ENOTSUP);
        cr_assert(strstr(msg, names[i]), "message does not name %s: %s", names[i], msg);
        cr_assert(strstr(msg, "not supported"), "%s", msg);
    }
}

Test(kube_config, broken_files_are_refused_with_a_reason)
{
    char msg[512];
    parse_fails("current-context: nope\ncontexts: []\n", msg, sizeof msg);
    cr_assert(strstr(msg, "context nope not found"), "%s", msg);
    parse_fails("contexts: []\n", msg, sizeof msg);
    cr_assert(strstr(msg, "no current-context"), "%s", msg);
    parse_fails("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                "clusters:\n- name: c\n  cluster: {server: ftp://h}\n",
                msg, sizeof msg);
    cr_assert(strstr(msg, "not an http(s) URL"), "%s", msg);
    parse_fails("a: [1, 2\n", msg, sizeof msg);
    cr_assert(strstr(msg, "yaml"), "%s", msg);
    parse_fails("a: &x 1\nb: *x\n", msg, sizeof msg);
    cr_assert(strstr(msg, "aliases"), "%s", msg);
    parse_fails("- 1\n- 2\n", msg, sizeof msg);
    parse_fails("a: 1\n---\nb: 2\n", msg, sizeof msg);
    cr_assert(strstr(msg, "one document"), "%s", msg);
    parse_fails("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                "clusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
                "users:\n- name: u\n  user: {client-certificate-data: '!!!'}\n",
                msg, sizeof msg);
    cr_assert(strstr(msg, "base64"), "%s", msg);
    parse_fails("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                "clusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
                "users:\n- name: u\n  user: {client-certificate: c.pem}\n",
                msg, sizeof msg);
    cr_assert(strstr(msg, "needs its key"), "%s", msg);
}

Test(kube_config, deep_nesting_is_bounded)
{
    char text[4096];
    size_t n = 0;
    for (int i = 0; i < 200; i++)
        text[n++] = '[';
    text[n] = '\0';
    json_t *j = NULL;
    struct err *e = NULL;
    cr_assert_lt(kube_yaml_parse(text, n, &j, &e), 0);
    cr_assert_null(j);
    err_free(&e);
}

Test(kube_config, base64_round_trips_and_refuses_garbage)
{
    char *out;
    size_t len;
    cr_assert_eq(kube_base64_decode("aGVsbG8gd29ybGQ=", 16, &out, &len), 0);
    cr_assert_eq(len, 11);
    cr_assert_str_eq(out, "hello world");
    free(out);
    cr_assert_eq(kube_base64_decode("aGVs\nbG8", 8, &out, &len), 0);
    cr_assert_str_eq(out, "hello");
    free(out);
    cr_assert_lt(kube_base64_decode("a", 1, &out, &len), 0);
    cr_assert_lt(kube_base64_decode("ab=c", 4, &out, &len), 0);
    cr_assert_lt(kube_base64_decode("a$bc", 4, &out, &len), 0);
}

Test(kube_config, load_follows_KUBECONFIG_then_in_cluster)
{
    write_file("k1", two_contexts);
    char list[256];
    snprintf(list, sizeof list, "%s/missing:%s/k1", dir, dir);
    setenv("KUBECONFIG", list, 1);
    struct kube_config *c = NULL;
    struct err *e = NULL;
    cr_assert_eq(kube_config_load(NULL, "b", &c, &e), 0, "%s", err_msg(e));
    cr_assert_str_eq(c->server, "https://b:2");
    kube_config_free(c);
    unsetenv("KUBECONFIG");

    write_file("token", "abc\n");
    write_file("namespace", "slicer-system\n");
    setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    cr_assert_eq(kube_config_incluster(dir, &c, &e), 0, "%s", err_msg(e));
    cr_assert_str_eq(c->server, "https://10.0.0.1:443");
    cr_assert_str_eq(c->ns, "slicer-system");
    char want[128];
    snprintf(want, sizeof want, "%s/token", dir);
    cr_assert_str_eq(c->token_file, want);
    snprintf(want, sizeof want, "%s/ca.crt", dir);
    cr_assert_str_eq(c->ca.file, want);
    kube_config_free(c);
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    cr_assert_eq(kube_config_incluster(dir, &c, &e), 0, "%s", err_msg(e));
    cr_assert_str_eq(c->server, "https://[fd00::1]:443");
    kube_config_free(c);
    unsetenv("KUBERNETES_SERVICE_HOST");
    cr_assert_lt(kube_config_incluster(dir, &c, &e), 0);
    err_free(&e);
}
