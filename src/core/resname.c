/* resname — profile names in Kubernetes resource names (resname.h). */
#include "resname.h"

#include <stdio.h>
#include <string.h>

#include "catalog.h"

bool res_profile_suffix(const char *profile, char *buf, size_t cap)
{
    size_t n = strlen(profile);
    if (cap == 0)
        return false;
    if (n >= cap) {
        buf[0] = '\0';
        return false;
    }
    for (size_t i = 0; i < n; i++)
        buf[i] = profile[i] == '+' ? '.' : profile[i];
    buf[n] = '\0';
    return true;
}

bool res_name(const char *prefix, const char *profile, char *buf, size_t cap)
{
    size_t p = strlen(prefix);
    if (p >= cap || !res_profile_suffix(profile, buf + p, cap - p)) {
        if (cap > 0)
            buf[0] = '\0';
        return false;
    }
    memcpy(buf, prefix, p);
    return true;
}

bool res_suffix_is(const char *suffix, const char *profile)
{
    size_t i = 0;
    for (; suffix[i] != '\0' && profile[i] != '\0'; i++) {
        char want = profile[i] == '+' ? '.' : profile[i];
        if (suffix[i] != want)
            return false;
    }
    return suffix[i] == '\0' && profile[i] == '\0';
}

const char *res_catalog_profile(const char *suffix)
{
    for (size_t m = 0; m < cat_gpu_count(); m++) {
        const struct cat_gpu *g = cat_gpu_at(m);
        for (unsigned p = 0; p < g->nprofiles; p++)
            if (res_suffix_is(suffix, g->profiles[p].name))
                return g->profiles[p].name;
    }
    return NULL;
}

bool res_profile_label(const char *profile, char *buf, size_t cap)
{
    size_t n = 0;
    if (cap == 0)
        return false;
    for (const char *c = profile; *c; c++) {
        const char *w = *c == '+' ? "-plus-" : NULL;
        char one[2] = {*c == '.' || *c == '_' ? '-' : *c, '\0'};
        if (*c >= 'A' && *c <= 'Z')
            one[0] = (char)(*c - 'A' + 'a');
        if (w == NULL)
            w = one;
        size_t k = strlen(w);
        if (n + k >= cap) {
            buf[0] = '\0';
            return false;
        }
        memcpy(buf + n, w, k);
        n += k;
    }
    buf[n] = '\0';
    return true;
}

bool res_template_name(const char *profile, unsigned count, char *buf, size_t cap)
{
    char label[48];
    if (!res_profile_label(profile, label, sizeof label) || count == 0) {
        if (cap > 0)
            buf[0] = '\0';
        return false;
    }
    int n = snprintf(buf, cap, RES_TEMPLATE_PREFIX "%s-x%u", label, count);
    if (n < 0 || (size_t)n >= cap) {
        if (cap > 0)
            buf[0] = '\0';
        return false;
    }
    return true;
}

bool res_template_parse(const char *name, const char **profile, unsigned *count)
{
    const char *x = strrchr(name, 'x');
    if (strncmp(name, RES_TEMPLATE_PREFIX, strlen(RES_TEMPLATE_PREFIX)) != 0 || x == NULL ||
        x == name || x[-1] != '-' || x[1] < '1' || x[1] > '9' || strlen(x + 1) > 3)
        return false;
    unsigned n = 0;
    for (const char *d = x + 1; *d; d++) {
        if (*d < '0' || *d > '9')
            return false;
        n = n * 10 + (unsigned)(*d - '0');
    }
    for (size_t m = 0; m < cat_gpu_count(); m++) {
        const struct cat_gpu *g = cat_gpu_at(m);
        for (unsigned p = 0; p < g->nprofiles; p++) {
            char want[96];
            if (res_template_name(g->profiles[p].name, n, want, sizeof want) &&
                strcmp(want, name) == 0) {
                *profile = g->profiles[p].name;
                *count = n;
                return true;
            }
        }
    }
    return false;
}
