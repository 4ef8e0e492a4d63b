/* offer — the live profile offer (see offer.h). */
#include "webhook/offer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

struct webhook_offer {
    pthread_rwlock_t lock;
    char **names; /* owned copies */
    struct mutate_offer view;
};

struct webhook_offer *webhook_offer_new(void)
{
    struct webhook_offer *o = xcalloc(1, sizeof *o);
    pthread_rwlock_init(&o->lock, NULL);
    return o;
}

static void clear(struct webhook_offer *o)
{
    for (size_t i = 0; i < o->view.n; i++)
        free(o->names[i]);
    free(o->names);
    o->names = NULL;
    o->view = (struct mutate_offer){0};
}

void webhook_offer_free(struct webhook_offer *o)
{
    if (o == NULL)
        return;
    clear(o);
    pthread_rwlock_destroy(&o->lock);
    free(o);
}

void webhook_offer_set(struct webhook_offer *o, const char *const *names, size_t n, bool known)
{
    char **copy = NULL;
    if (known) {
        copy = xcalloc(n ? n : 1, sizeof *copy);
        for (size_t i = 0; i < n; i++)
            copy[i] = xstrdup(names[i]);
    }
    pthread_rwlock_wrlock(&o->lock);
    clear(o);
    if (known) {
        o->names = copy;
        o->view = (struct mutate_offer){(const char *const *)copy, n};
    }
    pthread_rwlock_unlock(&o->lock);
}

const struct mutate_offer *webhook_offer_lock(struct webhook_offer *o)
{
    pthread_rwlock_rdlock(&o->lock);
    return &o->view;
}

void webhook_offer_unlock(struct webhook_offer *o)
{
    pthread_rwlock_unlock(&o->lock);
}
