/* handoff — `--handoff auto` resolved from the cluster (handoff.h). */
#include "cli/handoff.h"

#include <errno.h>
#include <string.h>

#include "base/log.h"
#include "kube/kube_config.h"
#include "kube/kube_http.h"
#include "kube/kube_req.h"

#define DEVICE_CLASS "mig.slicer.dev"

static const struct kube_gvr DEVICECLASSES = {"resource.k8s.io", "v1", "deviceclasses", false};

bool cli_handoff_parse(const char *s, enum cli_handoff *out)
{
    static const char *const names[] = {"auto", "env", "dra"};
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum cli_handoff)i;
            return true;
        }
    return false;
}

int cli_handoff_resolve(enum cli_handoff h, const char *kubeconfig, const char *who, bool *dra,
                        struct err **err)
{
    if (h != CLI_HANDOFF_AUTO) {
        *dra = h == CLI_HANDOFF_DRA;
        return 0;
    }
    struct kube_config *kc = NULL;
    struct kube_client *c = NULL;
    int rc = kube_config_load(kubeconfig, NULL, &kc, err);
    if (rc < 0)
        return err_wrap(err, "--handoff auto");
    struct kube_client_opts co = {.user_agent = "slicer-handoff"};
    rc = kube_client_new(kc, &co, &c, err);
    kube_config_free(kc);
    if (rc < 0)
        return err_wrap(err, "--handoff auto");
    struct kube_call call = {.gvr = &DEVICECLASSES, .name = DEVICE_CLASS};
    struct err *e = NULL;
    rc = kube_get(c, &call, NULL, &e);
    kube_client_free(c);
    if (rc == 0) {
        *dra = true;
        log_info("%s: --handoff auto: DRA (DeviceClass %s is installed)", who, DEVICE_CLASS);
        return 0;
    }
    if (e->code == ENOENT) {
        *dra = false;
        log_info("%s: --handoff auto: env (no DeviceClass %s: %s)", who, DEVICE_CLASS, err_msg(e));
        err_free(&e);
        return 0;
    }
    rc = err_set(err, e->code,
                 "--handoff auto: cannot read DeviceClass %s to choose the handoff: %s (give "
                 "--handoff env or dra)",
                 DEVICE_CLASS, err_msg(e));
    err_free(&e);
    return rc;
}
