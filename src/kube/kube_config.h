/* kube_config — where the API server is and how to authenticate to it.
 *
 * Sources: a kubeconfig file (YAML; `--kubeconfig`, then $KUBECONFIG, then
 * ~/.kube/config) or the in-cluster service account. The result is plain
 * data owned by the caller (kube_config_free). PEM material given inline
 * (`*-data`, base64) is decoded into memory; material given as files keeps
 * the (absolute) path so that rotated files are picked up by the transport.
 * Supported user auth: client certificate + key, bearer token, token file.
 * Anything else (exec, auth-provider, username/password) is refused with an
 * error naming the method. */
#ifndef SLICER_KUBE_CONFIG_H
#define SLICER_KUBE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define KUBE_CONFIG_MAX_BYTES (1u << 20)
#define KUBE_INCLUSTER_DIR    "/var/run/secrets/kubernetes.io/serviceaccount"

/* A PEM blob in memory, or a file path; at most one of the two is set. */
struct kube_pem {
    char *file;
    char *data;
    size_t len;
};

struct kube_config {
    char *server;  /* "https://host:port", no trailing slash */
    char *ns;      /* the context's namespace, "default" when unset */
    char *context; /* name of the context used, NULL in-cluster */
    struct kube_pem ca, cert, key;
    char *token;      /* static bearer token, or NULL */
    char *token_file; /* re-read by the transport when it changes, or NULL */
    bool insecure;    /* insecure-skip-tls-verify */
};

/* Parses kubeconfig text. `context` NULL means current-context. Relative
 * file paths are resolved against `base_dir` (the file's directory; NULL =
 * the working directory). */
int kube_config_parse(const char *text, size_t len, const char *base_dir, const char *context,
                      struct kube_config **out, struct err **err) WARN_UNUSED;

/* Reads and parses one kubeconfig file (at most KUBE_CONFIG_MAX_BYTES). */
int kube_config_load_file(const char *path, const char *context, struct kube_config **out,
                          struct err **err) WARN_UNUSED;

/* In-cluster configuration: $KUBERNETES_SERVICE_HOST/PORT, `dir`/token
 * (as a token file, re-read on rotation), `dir`/ca.crt, `dir`/namespace.
 * `dir` NULL means KUBE_INCLUSTER_DIR. */
int kube_config_incluster(const char *dir, struct kube_config **out, struct err **err) WARN_UNUSED;

/* The usual search: `path` when non-NULL, else the first file of the
 * colon-separated $KUBECONFIG that exists, else in-cluster when
 * $KUBERNETES_SERVICE_HOST is set, else ~/.kube/config. */
int kube_config_load(const char *path, const char *context, struct kube_config **out,
                     struct err **err) WARN_UNUSED;

void kube_config_free(struct kube_config *cfg);

/* Decodes standard base64 (padding optional, whitespace ignored) into a new
 * NUL-terminated buffer; *len excludes the NUL. Exposed for tests. */
int kube_base64_decode(const char *in, size_t n, char **out, size_t *len) WARN_UNUSED;

#endif
