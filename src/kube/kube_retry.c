#include "kube/kube_retry.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

void kube_bucket_init(struct kube_bucket *b, double qps, int burst, uint64_t now_ms)
{
    b->qps = qps;
    b->burst = burst < 1 ? 1 : burst;
    b->tokens = b->burst;
    b->last_ms = now_ms;
}

uint64_t kube_bucket_reserve(struct kube_bucket *b, uint64_t now_ms)
{
    if (b->qps <= 0)
        return 0;
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * b->qps / 1000.0;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
        b->last_ms = now_ms;
    }
    b->tokens -= 1.0;
    if (b->tokens >= 0)
        return 0;
    double wait = -b->tokens * 1000.0 / b->qps;
    uint64_t ms = (uint64_t)wait;
    return (double)ms < wait ? ms + 1 : ms;
}

uint64_t kube_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t max_ms, uint32_t rnd)
{
    uint64_t d = base_ms;
    for (unsigned i = 0; i < attempt && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    uint64_t half = d / 2;
    return half + (uint64_t)rnd % (d - half + 1);
}

uint32_t kube_rand32(void)
{
    static __thread uint64_t s;
    if (s == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^ 1;
    }
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return (uint32_t)(s >> 16);
}
