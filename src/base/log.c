#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum log_level log_threshold = LOG_INFO;
static enum log_format log_fmt = LOG_TEXT;
static int log_fd = 2;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

bool log_level_parse(const char *name, enum log_level *out)
{
    for (int i = 0; i <= LOG_DEBUG; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

bool log_format_parse(const char *name, enum log_format *out)
{
    if (strcmp(name, "text") == 0)
        *out = LOG_TEXT;
    else if (strcmp(name, "json") == 0)
        *out = LOG_JSON;
    else
        return false;
    return true;
}

void log_set_level(enum log_level level)
{
    log_threshold = level;
}

void log_set_format(enum log_format format)
{
    log_fmt = format;
}

void log_set_fd(int fd)
{
    log_fd = fd;
}

/* Appends s to buf[*len..cap) as JSON string content (without quotes). */
static void json_escape(char *buf, size_t cap, size_t *len, const char *s)
{
    for (; *s && *len + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[(*len)++] = '\\';
            buf[(*len)++] = (char)c;
        } else if (c < 0x20) {
            *len += (size_t)snprintf(buf + *len, cap - *len, "\\u%04x", c);
        } else {
            buf[(*len)++] = (char)c;
        }
    }
}

void log_write(enum log_level level, const char *fmt, ...)
{
    char msg[2048], line[4608], ts[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);

    size_t len;
    if (log_fmt == LOG_JSON) {
        len = (size_t)snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts,
                               level_names[level]);
        json_escape(line, sizeof line - 4, &len, msg);
        memcpy(line + len, "\"}\n", 3);
        len += 3;
    } else {
        int n = snprintf(line, sizeof line, "%s %-5s %s\n", ts, level_names[level], msg);
        len = n < 0 ? 0 : ((size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    }
    ssize_t w = write(log_fd, line, len);
    (void)w;
}
