#include "emu/handles.h"

#include <stdbool.h>
#include <stdlib.h>

#include "emu/config.h"

#define MAGIC 0x4e564d4cu /* "NVML" */

static struct emu_handle devs[EMU_MAX_GPUS];

/* Open addressing, linear probing: key (never 0) → handle. */
struct map {
    size_t cap, n;
    uint64_t *keys;
    struct emu_handle **vals;
};

static struct map by_identity, by_address;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static struct emu_handle *map_get(const struct map *mp, uint64_t key)
{
    if (mp->cap == 0)
        return NULL;
    for (size_t i = mix(key) & (mp->cap - 1);; i = (i + 1) & (mp->cap - 1)) {
        if (mp->keys[i] == key)
            return mp->vals[i];
        if (mp->keys[i] == 0)
            return NULL;
    }
}

static void map_put(struct map *mp, uint64_t key, struct emu_handle *val);

static void map_grow(struct map *mp)
{
    struct map old = *mp;
    mp->cap = old.cap ? old.cap * 2 : 64;
    mp->n = 0;
    mp->keys = calloc(mp->cap, sizeof *mp->keys);
    mp->vals = calloc(mp->cap, sizeof *mp->vals);
    if (mp->keys == NULL || mp->vals == NULL)
        abort();
    for (size_t i = 0; i < old.cap; i++)
        if (old.keys[i] != 0)
            map_put(mp, old.keys[i], old.vals[i]);
    free(old.keys);
    free(old.vals);
}

static void map_put(struct map *mp, uint64_t key, struct emu_handle *val)
{
    if ((mp->n + 1) * 2 > mp->cap)
        map_grow(mp);
    size_t i = mix(key) & (mp->cap - 1);
    while (mp->keys[i] != 0)
        i = (i + 1) & (mp->cap - 1);
    mp->keys[i] = key;
    mp->vals[i] = val;
    mp->n++;
}

static void map_free(struct map *mp)
{
    free(mp->keys);
    free(mp->vals);
    *mp = (struct map){0};
}

struct emu_handle *emu_handle_dev(unsigned gpu)
{
    devs[gpu] = (struct emu_handle){.magic = MAGIC, .kind = EMU_KIND_DEV, .gpu = gpu};
    return &devs[gpu];
}

static uint64_t identity(enum emu_kind kind, unsigned gpu, uint64_t serial)
{
    return (uint64_t)kind << 60 | (uint64_t)gpu << 48 | serial;
}

struct emu_handle *emu_handle_get(enum emu_kind kind, unsigned gpu, uint64_t gi_serial,
                                  uint64_t ci_serial)
{
    uint64_t key = identity(kind, gpu, kind == EMU_KIND_GI ? gi_serial : ci_serial);
    struct emu_handle *h = map_get(&by_identity, key);
    if (h != NULL)
        return h;
    h = malloc(sizeof *h);
    if (h == NULL)
        abort();
    *h = (struct emu_handle){
        .magic = MAGIC, .kind = kind, .gpu = gpu, .gi_serial = gi_serial, .ci_serial = ci_serial};
    map_put(&by_identity, key, h);
    map_put(&by_address, (uint64_t)(uintptr_t)h, h);
    return h;
}

const struct emu_handle *emu_handle_find(const void *p, unsigned ngpus)
{
    if (p == NULL)
        return NULL;
    for (unsigned i = 0; i < ngpus; i++)
        if (p == (const void *)&devs[i])
            return devs[i].magic == MAGIC ? &devs[i] : NULL;
    return map_get(&by_address, (uint64_t)(uintptr_t)p);
}

void emu_handles_free(void)
{
    for (size_t i = 0; i < by_address.cap; i++)
        if (by_address.keys[i] != 0)
            free(by_address.vals[i]);
    map_free(&by_address);
    map_free(&by_identity);
}
