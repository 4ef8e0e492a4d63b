#include "emu/msg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int emu_fail(struct emu_msg *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->text, sizeof m->text, fmt, ap);
    va_end(ap);
    return -1;
}

int emu_wrap(struct emu_msg *m, const char *fmt, ...)
{
    char prefix[EMU_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix - 2, fmt, ap);
    va_end(ap);
    size_t plen = n < 0 ? 0 : strlen(prefix);
    memcpy(prefix + plen, ": ", 3);
    plen += 2;
    size_t old = strnlen(m->text, sizeof m->text - 1);
    if (plen + old >= sizeof m->text)
        old = sizeof m->text - 1 - plen;
    memmove(m->text + plen, m->text, old);
    memcpy(m->text, prefix, plen);
    m->text[plen + old] = '\0';
    return -1;
}

void emu_report(const struct emu_msg *m)
{
    fprintf(stderr, "slicer-emu: %s\n", m->text);
}
