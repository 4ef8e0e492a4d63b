/* libFuzzer target: kubeconfig text through the YAML reader and the
 * kubeconfig interpretation. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kube/kube_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kube_config *c = NULL;
    struct err *e = NULL;
    if (kube_config_parse((const char *)data, size, "/nonexistent", NULL, &c, &e) == 0) {
        if (!c || !c->server || !c->ns || strncmp(c->server, "http", 4) != 0)
            __builtin_trap();
        kube_config_free(c);
    } else if (!e) {
        __builtin_trap(); /* every failure carries a message */
    }
    err_free(&e);
    return 0;
}
