/* Durable spec files (base/durable.h: temp file, fsync, rename, fsync the
 * folder, as the agent's journal), so the runtime never reads half a spec and
 * a crash leaves either the old file or the new one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/durable.h"
#include "base/xalloc.h"
#include "cdi/cdi_int.h"

int cdi_base_check(const char *base, struct err **err)
{
    size_t n = base ? strlen(base) : 0;
    if (n == 0 || n >= CDI_BASE_MAX)
        return err_set(err, EINVAL, "CDI spec name '%.40s' must have 1 to %d characters",
                       base ? base : "", CDI_BASE_MAX - 1);
    if (base[0] == '.' || strstr(base, ".."))
        return err_set(err, EINVAL, "CDI spec name '%s' may not start with '.' or hold '..'", base);
    for (size_t i = 0; i < n; i++) {
        char c = base[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return err_set(err, EINVAL,
                           "CDI spec name '%s': character '%c' is not allowed (only letters, "
                           "digits, '-', '_', '.')",
                           base, c);
    }
    return 0;
}

static char *spec_path(const char *dir, const char *base)
{
    size_t len = strlen(dir) + strlen(base) + sizeof "/.json";
    char *p = xmalloc(len);
    snprintf(p, len, "%s/%s.json", dir, base);
    return p;
}

int cdi_spec_write(const char *dir, const char *base, const json_t *spec, struct err **err)
{
    int rc = cdi_base_check(base, err);
    if (rc < 0)
        return rc;
    char *text = json_dumps(spec, JSON_INDENT(2));
    if (text == NULL)
        return err_set(err, EINVAL, "CDI spec %s: not serialisable JSON", base);
    char *path = spec_path(dir, base);
    rc = durable_write(path, text, strlen(text), 0644, err);
    free(path);
    free(text);
    return rc;
}

int cdi_spec_remove(const char *dir, const char *base, struct err **err)
{
    int rc = cdi_base_check(base, err);
    if (rc < 0)
        return rc;
    char *path = spec_path(dir, base);
    rc = durable_remove(path, err);
    free(path);
    return rc < 0 ? rc : 0;
}
