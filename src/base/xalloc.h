/* xalloc — allocation that never returns NULL: out of memory aborts with a
 * message on stderr (STYLE.md). Sizes are checked for overflow. */
#ifndef SLICER_BASE_XALLOC_H
#define SLICER_BASE_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* xreallocarray: p resized to nmemb*size bytes, overflow aborts. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* free() for __attribute__((cleanup)): `_cleanup_free_ char *s = ...;` */
void xfree_cleanup(void *pp);
#define _cleanup_free_ __attribute__((cleanup(xfree_cleanup)))

#endif
