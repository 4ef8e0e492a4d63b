/* durable — files that survive a crash whole or not at all (STYLE.md: temp
 * file, fsync, rename, fsync the directory), for the journals and the CDI
 * specs.
 *
 * durable_write writes `len` bytes of `text` to a new temp file beside `path`
 * (".<name>.XXXXXX": a dot-name, which the CDI loader and most globbing
 * readers skip), gives it `mode`, syncs it, renames it over `path` and syncs
 * the directory. On failure `path` is untouched (the old file, or none) and no
 * temp file is left; the message names the file and the errno.
 * durable_remove unlinks `path` and syncs its directory; a missing file is
 * success (returns 1 then, 0 when it removed one). */
#ifndef SLICER_BASE_DURABLE_H
#define SLICER_BASE_DURABLE_H

#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"

int durable_write(const char *path, const char *text, size_t len, mode_t mode,
                  struct err **err) WARN_UNUSED;
int durable_remove(const char *path, struct err **err) WARN_UNUSED;

#endif
