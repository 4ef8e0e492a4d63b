/* libFuzzer target: a watch stream, cut into chunks at fuzzer-chosen
 * places, through the bounded line splitter and the event decoder. */
#include <stddef.h>
#include <stdint.h>

#include "kube/kube_watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_line(void *arg, const char *line, size_t n)
{
    (void)arg;
    enum kube_ev t;
    json_t *o = NULL;
    struct err *e = NULL;
    if (kube_watch_decode(line, n, &t, &o, &e) == 0) {
        if (!o || (unsigned)t > KUBE_EV_ERROR)
            __builtin_trap();
        json_decref(o);
    }
    err_free(&e);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct kube_lines l;
    kube_lines_init(&l, 4096);
    size_t step = (size_t)data[0] % 64 + 1, off = 1;
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        struct err *e = NULL;
        (void)!kube_lines_feed(&l, (const char *)data + off, n, on_line, NULL, &e);
        err_free(&e);
        off += n;
    }
    kube_lines_free(&l);
    return 0;
}
