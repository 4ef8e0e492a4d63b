/* jsonptr — JSON Pointer (RFC 6901) reference tokens, for JSON Patch paths
 * built by the kube client and the webhook. Pure; no allocation. */
#ifndef SLICER_BASE_JSONPTR_H
#define SLICER_BASE_JSONPTR_H

#include <stddef.h>

/* Writes `segment` with '~' as "~0" and '/' as "~1" into dst[0..cap), always
 * NUL-terminated when cap > 0 (cut short when it does not fit; dst may be
 * NULL when cap is 0). Returns the escaped length, so that a result >= cap
 * means it did not fit. */
size_t jsonptr_escape(char *dst, size_t cap, const char *segment);

#endif
