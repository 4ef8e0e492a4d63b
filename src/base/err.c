#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static char *vformat(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return xstrdup("(unformattable error message)");
    char *s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

int err_set(struct err **err, int code, const char *fmt, ...)
{
    if (code <= 0)
        code = EIO;
    if (err == NULL)
        return -code;
    err_free(err);
    struct err *e = xmalloc(sizeof *e);
    va_list ap;
    va_start(ap, fmt);
    e->msg = vformat(fmt, ap);
    va_end(ap);
    e->code = code;
    *err = e;
    return -code;
}

int err_wrap(struct err **err, const char *fmt, ...)
{
    if (err == NULL || *err == NULL)
        return -EIO;
    va_list ap;
    va_start(ap, fmt);
    char *ctx = vformat(fmt, ap);
    va_end(ap);
    size_t a = strlen(ctx), b = strlen((*err)->msg);
    char *msg = xmalloc(a + 2 + b + 1);
    memcpy(msg, ctx, a);
    memcpy(msg + a, ": ", 2);
    memcpy(msg + a + 2, (*err)->msg, b + 1);
    free(ctx);
    free((*err)->msg);
    (*err)->msg = msg;
    return -(*err)->code;
}

void err_free(struct err **err)
{
    if (err == NULL || *err == NULL)
        return;
    free((*err)->msg);
    free(*err);
    *err = NULL;
}

const char *err_msg(const struct err *err)
{
    return err ? err->msg : "no error";
}

void err_cleanup(struct err **err)
{
    err_free(err);
}
