/* Durable spec files: temp file, fsync, rename, fsync the folder (as the
 * agent's journal does), so the runtime never reads half a spec and a crash
 * leaves either the old file or the new one. */
#define _GNU_SOURCE /* mkostemp */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "cdi/cdi_int.h"

int cdi_base_check(const char *base, struct err **err)
{
    size_t n = base ? strlen(base) : 0;
    if (n == 0 || n >= CDI_BASE_MAX)
        return err_set(err, EINVAL, "CDI spec name '%.40s' must have 1 to %d characters",
                       base ? base : "", CDI_BASE_MAX - 1);
    if (base[0] == '.' || strstr(base, ".."))
        return err_set(err, EINVAL, "CDI spec name '%s' may not start with '.' or hold '..'", base);
    for (size_t i = 0; i < n; i++) {
        char c = base[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return err_set(err, EINVAL,
                           "CDI spec name '%s': character '%c' is not allowed (only letters, "
                           "digits, '-', '_', '.')",
                           base, c);
    }
    return 0;
}

static char *spec_path(const char *dir, const char *base)
{
    size_t len = strlen(dir) + strlen(base) + sizeof "/.json";
    char *p = xmalloc(len);
    snprintf(p, len, "%s/%s.json", dir, base);
    return p;
}

static int sync_dir(const char *dir, struct err **err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return err_set(err, e, "syncing folder %s: %s", dir, strerror(e));
    }
    close(fd);
    return 0;
}

static int write_all(int fd, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, text, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        text += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Writes text into a new temp file of dir, mode 0644, synced; *tmp names it. */
static int write_temp(const char *dir, const char *base, const char *text, char **tmp,
                      struct err **err)
{
    size_t len = strlen(dir) + strlen(base) + sizeof "/..XXXXXX";
    *tmp = xmalloc(len);
    snprintf(*tmp, len, "%s/.%s.XXXXXX", dir, base);
    int fd = mkostemp(*tmp, O_CLOEXEC);
    if (fd < 0)
        return err_set(err, errno, "creating a temp file in %s: %s", dir, strerror(errno));
    int rc = 0;
    if (fchmod(fd, 0644) < 0 || write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0)
        rc = err_set(err, errno ? errno : EIO, "writing %s: %s", *tmp, strerror(errno));
    if (close(fd) < 0 && rc == 0)
        rc = err_set(err, errno, "closing %s: %s", *tmp, strerror(errno));
    if (rc < 0)
        unlink(*tmp);
    return rc;
}

int cdi_spec_write(const char *dir, const char *base, const json_t *spec, struct err **err)
{
    int rc = cdi_base_check(base, err);
    if (rc < 0)
        return rc;
    char *text = json_dumps(spec, JSON_INDENT(2));
    if (text == NULL)
        return err_set(err, EINVAL, "CDI spec %s: not serialisable JSON", base);
    char *tmp = NULL, *path = spec_path(dir, base);
    rc = write_temp(dir, base, text, &tmp, err);
    if (rc == 0 && rename(tmp, path) < 0) {
        rc = err_set(err, errno, "renaming %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
    }
    if (rc == 0)
        rc = sync_dir(dir, err);
    free(tmp);
    free(path);
    free(text);
    return rc;
}

int cdi_spec_remove(const char *dir, const char *base, struct err **err)
{
    int rc = cdi_base_check(base, err);
    if (rc < 0)
        return rc;
    char *path = spec_path(dir, base);
    if (unlink(path) < 0)
        rc = errno == ENOENT ? 1 : err_set(err, errno, "removing %s: %s", path, strerror(errno));
    free(path);
    if (rc == 1)
        return 0;
    return rc < 0 ? rc : sync_dir(dir, err);
}
