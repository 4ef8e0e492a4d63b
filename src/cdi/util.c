/* Small helpers shared by the cdi files: path joining and growable lists. */
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "cdi/cdi_int.h"

const char *cdi_or(const char *value, const char *dflt)
{
    return value && value[0] ? value : dflt;
}

char *cdi_path_join(const char *root, const char *path)
{
    size_t rlen = root ? strlen(root) : 0;
    while (rlen > 0 && root[rlen - 1] == '/')
        rlen--;
    size_t plen = strlen(path);
    char *out = xmalloc(rlen + plen + 2);
    if (rlen)
        memcpy(out, root, rlen);
    size_t at = rlen;
    if (path[0] != '/')
        out[at++] = '/';
    memcpy(out + at, path, plen + 1);
    return out;
}

int cdi_strs_has(const struct cdi_strs *s, const char *str)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], str) == 0)
            return 1;
    return 0;
}

int cdi_strs_add(struct cdi_strs *s, const char *str)
{
    if (cdi_strs_has(s, str))
        return 0;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 8;
        s->v = xreallocarray(s->v, s->cap, sizeof *s->v);
    }
    s->v[s->n++] = xstrdup(str);
    return 1;
}

void cdi_strs_free(struct cdi_strs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    *s = (struct cdi_strs){0};
}

int cdi_files_has(const struct cdi_files *f, const char *container)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].container, container) == 0)
            return 1;
    return 0;
}

void cdi_files_add(struct cdi_files *f, const char *host, const char *container)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 16;
        f->v = xreallocarray(f->v, f->cap, sizeof *f->v);
    }
    f->v[f->n++] = (struct cdi_file){xstrdup(host), xstrdup(container)};
}

void cdi_files_free(struct cdi_files *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].host);
        free(f->v[i].container);
    }
    free(f->v);
    *f = (struct cdi_files){0};
}
