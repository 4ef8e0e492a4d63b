/* mig-minors: the device minors of the MIG capability nodes
 * (/dev/nvidia-caps/nvidia-cap<N>), one line per capability, as the
 * nvidia-caps kernel module lists them in /proc/driver/nvidia-caps/mig-minors.
 * The GPU number in `gpu<G>/...` is the GPU's minor number, as NVIDIA's own
 * readers use it (nvidia-container-toolkit internal/nvcaps,
 * internal/platform-support/dgpu: NewGPUInstanceCap(parent minor, gi)). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "cdi/cdi_int.h"

#define LINE_MAX_LEN 256
#define MINOR_MAX    ((1UL << 20) - 1) /* Linux minors are 20 bits */
#define ID_MAX       1023UL            /* GPU minors, GI and CI ids */
#define KIND_CONFIG  0
#define KIND_MONITOR 1
#define KIND_GI      2
#define KIND_CI      3
#define NO_ID        UINT_MAX

struct entry {
    unsigned kind, gpu, gi, ci;
    unsigned long minor;
    size_t line;
};

struct cdi_minors {
    struct entry *v;
    size_t n, cap;
};

/* Reads an unsigned decimal at *p (no sign, no leading '+'), moves *p past it. */
static int read_uint(const char **p, const char *end, unsigned long max, unsigned long *out)
{
    const char *s = *p;
    unsigned long v = 0;
    if (s >= end || *s < '0' || *s > '9')
        return -1;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > max)
            return -1;
    }
    *p = s;
    *out = v;
    return 0;
}

static int expect(const char **p, const char *end, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(end - *p) < n || memcmp(*p, word, n) != 0)
        return -1;
    *p += n;
    return 0;
}

/* Parses "gpu<G>/gi<I>/access" or "gpu<G>/gi<I>/ci<C>/access" (the whole key). */
static int parse_gpu_key(const char *p, const char *end, struct entry *e)
{
    unsigned long gpu, gi, ci;
    if (expect(&p, end, "gpu") < 0 || read_uint(&p, end, ID_MAX, &gpu) < 0 ||
        expect(&p, end, "/gi") < 0 || read_uint(&p, end, ID_MAX, &gi) < 0)
        return -1;
    e->gpu = (unsigned)gpu;
    e->gi = (unsigned)gi;
    e->ci = NO_ID;
    e->kind = KIND_GI;
    if (expect(&p, end, "/ci") == 0) {
        if (read_uint(&p, end, ID_MAX, &ci) < 0)
            return -1;
        e->ci = (unsigned)ci;
        e->kind = KIND_CI;
    }
    if (expect(&p, end, "/access") < 0 || p != end)
        return -1;
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    unsigned kx[4] = {x->kind, x->gpu, x->gi, x->ci}, ky[4] = {y->kind, y->gpu, y->gi, y->ci};
    for (int i = 0; i < 4; i++)
        if (kx[i] != ky[i])
            return kx[i] < ky[i] ? -1 : 1;
    return 0;
}

/* One line without its newline. Returns 1 when it holds an entry, 0 when it
 * is skipped (blank, or a key not about GPUs), -1 on a malformed line. */
static int parse_line(const char *s, const char *end, struct entry *e, const char **why)
{
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    if (s == end)
        return 0;
    const char *sp = memchr(s, ' ', (size_t)(end - s));
    if (sp == NULL) {
        *why = "expected '<capability> <minor>'";
        return -1;
    }
    const char *num = sp + 1;
    unsigned long minor;
    if (read_uint(&num, end, MINOR_MAX, &minor) < 0 || num != end) {
        *why = "the minor is not a number from 0 to 1048575";
        return -1;
    }
    *e = (struct entry){.gpu = NO_ID, .gi = NO_ID, .ci = NO_ID, .minor = minor};
    size_t klen = (size_t)(sp - s);
    if (klen == 6 && memcmp(s, "config", 6) == 0) {
        e->kind = KIND_CONFIG;
    } else if (klen == 7 && memcmp(s, "monitor", 7) == 0) {
        e->kind = KIND_MONITOR;
    } else if (klen >= 3 && memcmp(s, "gpu", 3) == 0) {
        if (parse_gpu_key(s, sp, e) < 0) {
            *why = "expected gpu<G>/gi<I>/access or gpu<G>/gi<I>/ci<C>/access";
            return -1;
        }
    } else {
        return 0;
    }
    return 1;
}

static int add_line(struct cdi_minors *m, const char *s, const char *end, const char *origin,
                    size_t lineno, struct err **err)
{
    struct entry e = {0};
    const char *why = "";
    int r = parse_line(s, end, &e, &why);
    if (r < 0)
        return err_set(err, EINVAL, "%s:%zu: %s: '%.*s'", origin, lineno, why,
                       (int)(end - s > 80 ? 80 : end - s), s);
    if (r == 0)
        return 0;
    e.line = lineno;
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->v = xreallocarray(m->v, m->cap, sizeof *m->v);
    }
    m->v[m->n++] = e;
    return 0;
}

/* Sorts the entries for lookups; a key listed twice is an error. */
static int index_entries(struct cdi_minors *m, const char *origin, struct err **err)
{
    if (m->n > 0)
        qsort(m->v, m->n, sizeof *m->v, cmp_entry);
    for (size_t i = 1; i < m->n; i++)
        if (cmp_entry(&m->v[i - 1], &m->v[i]) == 0) {
            size_t a = m->v[i - 1].line, b = m->v[i].line;
            return err_set(err, EINVAL, "%s:%zu: the capability of line %zu is listed again",
                           origin, a > b ? a : b, a < b ? a : b);
        }
    return 0;
}

int cdi_minors_parse(const char *text, size_t len, const char *origin, struct cdi_minors **out,
                     struct err **err)
{
    if (len > CDI_MINORS_MAX_LEN)
        return err_set(err, EFBIG, "%s: %zu bytes, more than the %d accepted", origin, len,
                       CDI_MINORS_MAX_LEN);
    struct cdi_minors *m = xcalloc(1, sizeof *m);
    const char *p = text, *end = text + len;
    for (size_t lineno = 1; p < end; lineno++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        int rc = eol - p > LINE_MAX_LEN ? err_set(err, EINVAL, "%s:%zu: line longer than %d bytes",
                                                  origin, lineno, LINE_MAX_LEN)
                 : memchr(p, '\0', (size_t)(eol - p))
                     ? err_set(err, EINVAL, "%s:%zu: NUL byte in the line", origin, lineno)
                     : add_line(m, p, eol, origin, lineno, err);
        if (rc < 0) {
            cdi_minors_free(m);
            return rc;
        }
        p = nl ? nl + 1 : end;
    }
    int rc = index_entries(m, origin, err);
    if (rc < 0) {
        cdi_minors_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* Reads at most max bytes of path into a new buffer; EFBIG past max. */
static int read_bounded(const char *path, size_t max, char **out, size_t *len, struct err **err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, errno, "opening %s: %s", path, strerror(errno));
    char *buf = xmalloc(max + 1);
    size_t n = 0;
    int rc = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, max + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = err_set(err, errno, "reading %s: %s", path, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            rc = err_set(err, EFBIG, "%s is larger than %zu bytes: refusing it", path, max);
            break;
        }
    }
    close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = n;
    return 0;
}

int cdi_minors_load(const struct cdi_host *host, struct cdi_minors **out, struct err **err)
{
    const char *proc = cdi_or(host ? host->proc_root : NULL, "/proc");
    char *path = cdi_path_join(proc, "/driver/nvidia-caps/mig-minors");
    char *text = NULL;
    size_t len = 0;
    int rc = read_bounded(path, CDI_MINORS_MAX_LEN, &text, &len, err);
    if (rc == -ENOENT)
        rc = err_wrap(err, "no MIG capability minors (is the nvidia-caps module loaded?)");
    if (rc == 0) {
        rc = cdi_minors_parse(text, len, path, out, err);
        free(text);
    }
    free(path);
    return rc;
}

static long lookup(const struct cdi_minors *m, unsigned kind, unsigned gpu, unsigned gi,
                   unsigned ci)
{
    struct entry k = {.kind = kind, .gpu = gpu, .gi = gi, .ci = ci};
    const struct entry *e = m && m->n ? bsearch(&k, m->v, m->n, sizeof *m->v, cmp_entry) : NULL;
    return e ? (long)e->minor : -1;
}

long cdi_minors_gi(const struct cdi_minors *m, unsigned gpu_minor, unsigned gi)
{
    return lookup(m, KIND_GI, gpu_minor, gi, NO_ID);
}

long cdi_minors_ci(const struct cdi_minors *m, unsigned gpu_minor, unsigned gi, unsigned ci)
{
    return lookup(m, KIND_CI, gpu_minor, gi, ci);
}

size_t cdi_minors_count(const struct cdi_minors *m)
{
    return m ? m->n : 0;
}

void cdi_minors_free(struct cdi_minors *m)
{
    if (m == NULL)
        return;
    free(m->v);
    free(m);
}
