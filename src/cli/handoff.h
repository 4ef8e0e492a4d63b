/* handoff — which device handoff a cluster component uses when told
 * `--handoff auto` (the default of the webhook, the controller and the agent;
 * docs/design/dra.md "Modes").
 *
 * DRA when the apiserver serves resource.k8s.io/v1 and slicer's DeviceClass
 * mig.slicer.dev is installed (deploy/base/deviceclass.yaml: it needs 1.34+),
 * env otherwise. All three components read the same object, so they agree. */
#ifndef SLICER_CLI_HANDOFF_H
#define SLICER_CLI_HANDOFF_H

#include <stdbool.h>

#include "base/err.h"

enum cli_handoff {
    CLI_HANDOFF_AUTO,
    CLI_HANDOFF_ENV,
    CLI_HANDOFF_DRA,
};

/* Parses "auto", "env" or "dra"; false for anything else. */
bool cli_handoff_parse(const char *s, enum cli_handoff *out);

/* Resolves AUTO (the others are returned as they are) with one GET of the
 * DeviceClass through `kubeconfig` (NULL: $KUBECONFIG, in-cluster,
 * ~/.kube/config), logging the choice and why as `who`. 404 (the API or the
 * class absent) is env; any other failure after the client's retries (the
 * apiserver unreachable, 403) is an error that names it: the component cannot
 * know which handoff the others use. */
int cli_handoff_resolve(enum cli_handoff h, const char *kubeconfig, const char *who, bool *dra,
                        struct err **err) WARN_UNUSED;

#endif
