#include "emu/store.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIBLING_MAX (PATH_MAX + 16) /* the state path + ".lock" / ".tmp" */

static int lock_fd = -1;
static uint64_t opened_nonce; /* the state's nonce at nvmlInit_v2 */

/* The state as this process last read or wrote the file, with the file's text then. A call
 * still reads the file, but when the text is the same it copies this state instead of
 * parsing and checking the text again (parsing was most of an agent's CPU under load). The
 * copy also drops whatever a call that did not save left changed in memory, as a re-parse
 * did. Equal text, not file times: two saves in one clock tick can leave the same times. */
static struct emu_state cached;
static char *cached_text;
static size_t cached_len;

static size_t state_bytes(const struct emu_state *st)
{
    return offsetof(struct emu_state, gpu) + (size_t)st->ngpus * sizeof st->gpu[0];
}

/* Remembers st as the state of the file whose text is `text` (taken, or NULL to forget). */
static void remember(const struct emu_state *st, char *text, size_t len)
{
    free(cached_text);
    cached_text = text;
    cached_len = len;
    if (text)
        memcpy(&cached, st, state_bytes(st));
}

static void sibling(char *out, size_t cap, const struct emu_config *cfg, const char *suffix)
{
    snprintf(out, cap, "%s%s", cfg->state_path, suffix);
}

static int lock(const struct emu_config *cfg, struct emu_msg *m)
{
    char path[SIBLING_MAX];
    sibling(path, sizeof path, cfg, ".lock");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
        return emu_fail(m, "opening %s: %s", path, strerror(errno));
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            return emu_fail(m, "locking %s: %s", path, strerror(e));
        }
    }
    lock_fd = fd;
    return 0;
}

static void unlock(void)
{
    if (lock_fd >= 0)
        close(lock_fd); /* releases the flock */
    lock_fd = -1;
}

/* Reads the whole file (at most EMU_STATE_MAX_LEN bytes) into a new buffer.
 * Returns the length, -1 + message, or -2 when the file does not exist. */
static long read_file(const char *path, char **out, struct emu_msg *m)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -2 : emu_fail(m, "opening %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > EMU_STATE_MAX_LEN) {
        close(fd);
        return emu_fail(m, "%s is not a regular file of at most %d bytes", path, EMU_STATE_MAX_LEN);
    }
    char *buf = malloc((size_t)sb.st_size + 1);
    if (buf == NULL)
        abort();
    size_t n = 0;
    while (n < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)sb.st_size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n != (size_t)sb.st_size) {
        free(buf);
        return emu_fail(m, "reading %s: short read", path);
    }
    *out = buf;
    return (long)n;
}

/* 0 loaded, 1 no file, -1 error. */
static int load(struct emu_state *st, const struct emu_config *cfg, const struct emu_catalog *cat,
                struct emu_msg *m)
{
    char *buf = NULL;
    long len = read_file(cfg->state_path, &buf, m);
    if (len == -2)
        return 1;
    if (len < 0)
        return -1;
    if (cached_text && (size_t)len == cached_len && memcmp(buf, cached_text, cached_len) == 0) {
        free(buf);
        memcpy(st, &cached, state_bytes(&cached));
        return 0;
    }
    json_error_t jerr;
    json_t *root = json_loadb(buf, (size_t)len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        free(buf);
        remember(st, NULL, 0);
        return emu_fail(m, "state file %s is corrupt: line %d: %s (remove it to start afresh)",
                        cfg->state_path, jerr.line, jerr.text);
    }
    int rc = emu_state_from_json(st, root, cfg, cat, m);
    json_decref(root);
    if (rc < 0) {
        free(buf);
        remember(st, NULL, 0);
        return emu_wrap(m, "state file %s is not usable (remove it to start afresh)",
                        cfg->state_path);
    }
    remember(st, buf, (size_t)len);
    return 0;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

static int sync_dir(const char *path)
{
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int save(const struct emu_state *st, const struct emu_config *cfg, struct emu_msg *m)
{
    json_t *root = emu_state_to_json(st, cfg);
    char *json = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    if (json == NULL)
        abort();
    size_t len = strlen(json) + 1; /* and a newline */
    char *text = malloc(len + 1);
    if (text == NULL)
        abort();
    memcpy(text, json, len - 1);
    text[len - 1] = '\n';
    text[len] = '\0';
    free(json);
    char tmp[SIBLING_MAX];
    sibling(tmp, sizeof tmp, cfg, ".tmp");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = fd < 0 ? -1 : 0;
    if (rc == 0 && (write_all(fd, text, len) < 0 || fsync(fd) < 0))
        rc = -1;
    int e = errno;
    if (fd >= 0 && close(fd) < 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    if (rc == 0 && rename(tmp, cfg->state_path) < 0) {
        rc = -1;
        e = errno;
    }
    if (rc < 0) {
        free(text);
        unlink(tmp);
        remember(st, NULL, 0);
        return emu_fail(m, "writing %s: %s", cfg->state_path, strerror(e));
    }
    sync_dir(cfg->state_path); /* best effort: the rename is done */
    remember(st, text, len);
    return 0;
}

int emu_store_open(struct emu_state *st, const struct emu_config *cfg,
                   const struct emu_catalog *cat, struct emu_msg *m)
{
    if (!cfg->has_state) {
        emu_state_reset(st, cfg);
        return 0;
    }
    if (lock(cfg, m) < 0)
        return -1;
    remember(st, NULL, 0); /* a new init may have a new configuration: check the file afresh */
    int rc = load(st, cfg, cat, m);
    if (rc == 1) {
        emu_state_reset(st, cfg);
        rc = save(st, cfg, m);
    }
    unlock();
    opened_nonce = st->nonce;
    return rc;
}

int emu_store_begin(struct emu_state *st, const struct emu_config *cfg,
                    const struct emu_catalog *cat, struct emu_msg *m)
{
    if (!cfg->has_state)
        return 0;
    if (lock(cfg, m) < 0)
        return -1;
    int rc = load(st, cfg, cat, m);
    if (rc == 1)
        rc = emu_fail(m, "state file %s has disappeared since nvmlInit_v2", cfg->state_path);
    /* Handles name instances by serial: a new file would reuse serials. */
    if (rc == 0 && st->nonce != opened_nonce)
        rc = emu_fail(m,
                      "state file %s was replaced since nvmlInit_v2 (like a GPU reset): "
                      "shut NVML down and initialise it again",
                      cfg->state_path);
    if (rc < 0)
        unlock();
    return rc;
}

int emu_store_end(const struct emu_state *st, const struct emu_config *cfg, bool changed,
                  struct emu_msg *m)
{
    if (!cfg->has_state)
        return 0;
    int rc = changed ? save(st, cfg, m) : 0;
    unlock();
    return rc;
}

void emu_store_close(void)
{
    remember(NULL, NULL, 0);
}
