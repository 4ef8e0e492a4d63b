/* claims — the users' claims of class mig.slicer.dev (see claims.h). */
#include "webhook/claims.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

/* ---- the pure part -------------------------------------------------------------------- */

static bool is_class(const json_t *o)
{
    const char *c = json_string_value(json_object_get(o, "deviceClassName"));
    return c != NULL && strcmp(c, WEBHOOK_CLAIMS_CLASS) == 0;
}

static bool request_ours(const json_t *r)
{
    if (is_class(json_object_get(r, "exactly")))
        return true;
    size_t i;
    json_t *sub;
    json_array_foreach(json_object_get(r, "firstAvailable"), i, sub)
    {
        if (is_class(sub))
            return true;
    }
    return false;
}

bool webhook_claims_ours(const json_t *obj, enum mutate_claim_kind kind)
{
    const json_t *spec = json_object_get(obj, "spec");
    if (kind == MUTATE_TEMPLATE)
        spec = json_object_get(spec, "spec");
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(json_object_get(spec, "devices"), "requests"), i, r)
    {
        if (request_ours(r))
            return true;
    }
    return false;
}

/* ---- the set -------------------------------------------------------------------------- */

/* One kind's keys, sorted (strcmp) for binary search. */
struct keys {
    char **v;
    size_t n, cap;
};

struct webhook_claims {
    pthread_rwlock_t lock;
    struct keys kinds[2]; /* by enum mutate_claim_kind */
};

struct webhook_claims *webhook_claims_new(void)
{
    struct webhook_claims *s = xcalloc(1, sizeof *s);
    pthread_rwlock_init(&s->lock, NULL);
    return s;
}

void webhook_claims_free(struct webhook_claims *s)
{
    if (s == NULL)
        return;
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < s->kinds[k].n; i++)
            free(s->kinds[k].v[i]);
        free(s->kinds[k].v);
    }
    pthread_rwlock_destroy(&s->lock);
    free(s);
}

/* The index of `key` in ks, or where it would go; *found says which. */
static size_t search(const struct keys *ks, const char *key, bool *found)
{
    size_t lo = 0, hi = ks->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ks->v[mid], key);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static struct keys *keys_of(struct webhook_claims *s, enum mutate_claim_kind kind)
{
    return &s->kinds[kind == MUTATE_TEMPLATE ? 1 : 0];
}

void webhook_claims_add(struct webhook_claims *s, enum mutate_claim_kind kind, const char *key)
{
    char *copy = xstrdup(key);
    pthread_rwlock_wrlock(&s->lock);
    struct keys *ks = keys_of(s, kind);
    bool found;
    size_t at = search(ks, key, &found);
    if (!found) {
        if (ks->n == ks->cap) {
            ks->cap = ks->cap ? 2 * ks->cap : 16;
            ks->v = xrealloc(ks->v, ks->cap * sizeof *ks->v);
        }
        memmove(ks->v + at + 1, ks->v + at, (ks->n - at) * sizeof *ks->v);
        ks->v[at] = copy;
        ks->n++;
        copy = NULL;
    }
    pthread_rwlock_unlock(&s->lock);
    free(copy);
}

void webhook_claims_remove(struct webhook_claims *s, enum mutate_claim_kind kind, const char *key)
{
    char *gone = NULL;
    pthread_rwlock_wrlock(&s->lock);
    struct keys *ks = keys_of(s, kind);
    bool found;
    size_t at = search(ks, key, &found);
    if (found) {
        gone = ks->v[at];
        memmove(ks->v + at, ks->v + at + 1, (ks->n - at - 1) * sizeof *ks->v);
        ks->n--;
    }
    pthread_rwlock_unlock(&s->lock);
    free(gone);
}

bool webhook_claims_known(void *arg, enum mutate_claim_kind kind, const char *ns, const char *name)
{
    struct webhook_claims *s = arg;
    size_t nl = strlen(ns), ml = strlen(name);
    char *key = xmalloc(nl + 1 + ml + 1);
    memcpy(key, ns, nl);
    key[nl] = '/';
    memcpy(key + nl + 1, name, ml + 1);
    pthread_rwlock_rdlock(&s->lock);
    bool found;
    search(keys_of(s, kind), key, &found);
    pthread_rwlock_unlock(&s->lock);
    free(key);
    return found;
}

size_t webhook_claims_len(struct webhook_claims *s, enum mutate_claim_kind kind)
{
    pthread_rwlock_rdlock(&s->lock);
    size_t n = keys_of(s, kind)->n;
    pthread_rwlock_unlock(&s->lock);
    return n;
}
