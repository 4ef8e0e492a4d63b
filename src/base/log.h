/* log — the one logging module. Levels are filtered before any formatting;
 * output is a human line ("2026-11-24T09:30:00Z info  message") or a JSON
 * line ({"ts":...,"level":"info","msg":"..."}) on stderr.
 * Thread-safe: each record is written with one write(2). */
#ifndef SLICER_BASE_LOG_H
#define SLICER_BASE_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_TEXT = 0, LOG_JSON };

extern enum log_level log_threshold;

/* Parses "error|warn|info|debug"; returns false on an unknown name. */
bool log_level_parse(const char *name, enum log_level *out);
/* Parses "text|json"; returns false on an unknown name. */
bool log_format_parse(const char *name, enum log_format *out);

void log_set_level(enum log_level level);
void log_set_format(enum log_format format);
/* Redirects output to fd (default 2). For tests. */
void log_set_fd(int fd);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_AT(lvl, ...)                                                                           \
    do {                                                                                           \
        if ((lvl) <= log_threshold)                                                                \
            log_write((lvl), __VA_ARGS__);                                                         \
    } while (0)
#define log_error(...) LOG_AT(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  LOG_AT(LOG_WARN, __VA_ARGS__)
#define log_info(...)  LOG_AT(LOG_INFO, __VA_ARGS__)
#define log_debug(...) LOG_AT(LOG_DEBUG, __VA_ARGS__)

#endif
