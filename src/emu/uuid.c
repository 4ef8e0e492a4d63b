#include "emu/uuid.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* FNV-1a over a string, then a splitmix64 finaliser so that close inputs
 * ("...|0", "...|1") give unrelated bits. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t hash(const char *s, uint64_t seed)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return mix(h);
}

static void format(char out[EMU_UUID_LEN], const char *prefix, const char *key)
{
    uint64_t hi = hash(key, 0x736c69636572ULL); /* "slicer" */
    uint64_t lo = hash(key, 0x656d756c61746fULL);
    snprintf(out, EMU_UUID_LEN, "%s%08x-%04x-%04x-%04x-%012llx", prefix, (unsigned)(hi >> 32),
             (unsigned)(hi >> 16) & 0xffffu, (unsigned)hi & 0xffffu, (unsigned)(lo >> 48),
             (unsigned long long)(lo & 0xffffffffffffULL));
}

void emu_uuid_gpu(char out[EMU_UUID_LEN], const char *model, unsigned index)
{
    char key[256];
    snprintf(key, sizeof key, "gpu|%s|%u", model, index);
    format(out, "GPU-", key);
}

void emu_uuid_mig(char out[EMU_UUID_LEN], uint64_t nonce, uint64_t serial, const char *gpu_uuid)
{
    char key[256];
    snprintf(key, sizeof key, "mig|%016llx|%llu|%s", (unsigned long long)nonce,
             (unsigned long long)serial, gpu_uuid);
    format(out, "MIG-", key);
}

bool emu_uuid_valid(const char *s, const char *prefix)
{
    size_t plen = strlen(prefix);
    if (strncmp(s, prefix, plen) != 0)
        return false;
    s += plen;
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        char c = s[i];
        if (shape[i] == '-' ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return s[sizeof shape - 1] == '\0';
}

uint64_t emu_random64(void)
{
    uint64_t v;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v)
        return v;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40));
}
