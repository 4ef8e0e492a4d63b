/* kube_yaml — YAML text to a jansson tree, for kubeconfig files only.
 *
 * Every scalar becomes a JSON string (kubeconfig readers compare "true"
 * themselves); mappings become objects, sequences arrays. Aliases, anchors
 * and multi-document streams are refused. Nesting is capped at
 * KUBE_YAML_MAX_DEPTH and input size at KUBE_YAML_MAX_BYTES, so untrusted
 * input cannot exhaust the stack or memory. */
#ifndef SLICER_KUBE_YAML_H
#define SLICER_KUBE_YAML_H

#include <jansson.h>
#include <stddef.h>

#include "base/err.h"

#define KUBE_YAML_MAX_DEPTH 64
#define KUBE_YAML_MAX_BYTES (4u << 20)

/* Parses `len` bytes of YAML. On success *out owns a new reference (an
 * empty document gives an empty object). */
int kube_yaml_parse(const char *text, size_t len, json_t **out, struct err **err) WARN_UNUSED;

#endif
