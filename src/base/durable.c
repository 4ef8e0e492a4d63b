/* Durable writes: temp, fsync, rename, fsync the directory (durable.h). */
#define _GNU_SOURCE /* mkostemp */
#include "base/durable.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/xalloc.h"

/* The directory part of path ("." when it has none), in a new string. */
static char *dir_of(const char *path)
{
    char *copy = xstrdup(path);
    char *d = xstrdup(dirname(copy));
    free(copy);
    return d;
}

static int sync_dir(const char *path, struct err **err)
{
    char *dir = dir_of(path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;
    if (fd < 0 || fsync(fd) < 0)
        rc = err_set(err, errno, "syncing folder %s: %s", dir, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(dir);
    return rc;
}

static int write_all(int fd, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, text, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO; /* a write that makes no progress: never a stale errno */
            return -1;
        }
        text += w;
        len -= (size_t)w;
    }
    return 0;
}

int durable_write(const char *path, const char *text, size_t len, mode_t mode, struct err **err)
{
    char *dir = dir_of(path);
    char *copy = xstrdup(path);
    size_t n = strlen(dir) + strlen(path) + sizeof "/..XXXXXX";
    char *tmp = xmalloc(n);
    snprintf(tmp, n, "%s/.%s.XXXXXX", dir, basename(copy));
    free(copy);
    int rc = 0;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = err_set(err, errno, "creating a temp file in %s: %s", dir, strerror(errno));
        free(dir);
        free(tmp);
        return rc;
    }
    free(dir);
    if (fchmod(fd, mode) < 0 || write_all(fd, text, len) < 0 || fsync(fd) < 0)
        rc = err_set(err, errno, "writing %s: %s", tmp, strerror(errno));
    if (close(fd) < 0 && rc == 0)
        rc = err_set(err, errno, "closing %s: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) < 0)
        rc = err_set(err, errno, "renaming %s to %s: %s", tmp, path, strerror(errno));
    if (rc < 0)
        unlink(tmp);
    else
        rc = sync_dir(path, err);
    free(tmp);
    return rc;
}

int durable_remove(const char *path, struct err **err)
{
    if (unlink(path) < 0) {
        if (errno == ENOENT)
            return 1;
        return err_set(err, errno, "removing %s: %s", path, strerror(errno));
    }
    return sync_dir(path, err);
}
