#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/host.h"
#include "base/xalloc.h"
#include "cli/hostcmd.h"

#define MAX_REPLY (4u << 20)

const char *hostcmd_socket(const char *flag)
{
    if (flag && *flag)
        return flag;
    const char *env = getenv("SLICER_SOCKET");
    return env && *env ? env : HOST_DEFAULT_SOCKET;
}

int agent_connect(const char *path, struct err **err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path)
        return err_set(err, ENAMETOOLONG, "socket path %s is too long", path);
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_set(err, errno, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        int e = errno;
        close(fd);
        return err_set(err, e,
                       "cannot reach the slicer agent at %s (%s). Start one with "
                       "`slicer agent --host` (add --socket PATH, or set SLICER_SOCKET, to use "
                       "another socket)",
                       path, strerror(e));
    }
    return fd;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads up to and without the first newline into a fresh buffer. */
static int read_line(int fd, char **out, struct err **err)
{
    size_t len = 0, cap = 4096;
    char *buf = xmalloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= MAX_REPLY) {
                free(buf);
                return err_set(err, EMSGSIZE, "the agent's reply exceeds %u bytes", MAX_REPLY);
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t n = read(fd, buf + len, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(buf);
            return err_set(err, EPIPE, "the agent closed the connection without replying");
        }
        if (buf[len] == '\n')
            break;
        len++;
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}

int agent_call(int fd, json_t *request, json_t **reply, struct err **err)
{
    char *text = json_dumps(request, JSON_COMPACT);
    size_t len = strlen(text);
    text = xrealloc(text, len + 2);
    text[len] = '\n';
    int w = write_all(fd, text, len + 1);
    free(text);
    if (w < 0)
        return err_set(err, EPIPE, "sending to the agent: %s", strerror(errno));
    char *line = NULL;
    int rc = read_line(fd, &line, err);
    if (rc < 0)
        return rc;
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    free(line);
    if (!json_is_object(o)) {
        json_decref(o);
        return err_set(err, EPROTO, "the agent's reply is not a JSON object");
    }
    if (!json_is_true(json_object_get(o, "ok"))) {
        const char *msg = json_string_value(json_object_get(o, "error"));
        rc = err_set(err, EREMOTEIO, "%s", msg ? msg : "the agent refused without a reason");
        json_decref(o);
        return rc;
    }
    *reply = o;
    return 0;
}
