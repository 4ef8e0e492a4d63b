/* err — the one error convention of the tree (docs/internals/errors.md).
 *
 * A fallible function returns 0 on success or a negative errno-style code,
 * and fills `*err` with a heap-allocated error describing what went wrong:
 *
 *     int rc = parse_thing(buf, &thing, err);
 *     if (rc < 0)
 *         return err_wrap(err, "reading %s", path);
 *
 * Context is prepended on the way up ("reading x: line 3: bad number"); the
 * error is logged and freed once, at the top of the handler. `err` may be
 * NULL when the caller does not want the message (the code is still
 * returned). Out-of-memory while formatting aborts, like every allocation.
 */
#ifndef SLICER_BASE_ERR_H
#define SLICER_BASE_ERR_H

#include <stdarg.h>

#define WARN_UNUSED __attribute__((warn_unused_result))

struct err {
    int code;  /* positive errno-style value: EINVAL, ENOENT, ... */
    char *msg; /* NUL-terminated, owned by the struct */
};

/* Creates an error with `code` (positive errno value) and a message.
 * Replaces (and frees) any error already in *err. Returns -code. */
int err_set(struct err **err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prepends "context: " to the message of *err. Returns -(*err)->code, or
 * -EIO when *err is empty (a caller bug, kept non-fatal). */
int err_wrap(struct err **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Frees *err and sets it to NULL; safe on NULL and on an empty slot. */
void err_free(struct err **err);

/* The message, or "no error" when err is NULL. */
const char *err_msg(const struct err *err);

/* For __attribute__((cleanup(err_cleanup))) on a local `struct err *`. */
void err_cleanup(struct err **err);

#endif
