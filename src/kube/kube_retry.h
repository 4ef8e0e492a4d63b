/* kube_retry — the pure arithmetic behind client-side rate limiting and
 * retries: a token bucket (QPS + burst, like client-go's flowcontrol) and a
 * jittered exponential backoff. No clocks or randomness inside: callers pass
 * the time and the random number, so both are exact to test. */
#ifndef SLICER_KUBE_RETRY_H
#define SLICER_KUBE_RETRY_H

#include <stdint.h>

struct kube_bucket {
    double qps;       /* tokens added per second; <= 0 disables limiting */
    double burst;     /* capacity, >= 1 */
    double tokens;    /* may go negative: reservations already handed out */
    uint64_t last_ms; /* time of the last update */
};

/* A full bucket at time now_ms. */
void kube_bucket_init(struct kube_bucket *b, double qps, int burst, uint64_t now_ms);

/* Reserves one token at now_ms and returns how many milliseconds the caller
 * must wait before using it (0 = go now). Reservations queue: n callers at
 * the same instant past the burst wait 1/qps, 2/qps, ... seconds. */
uint64_t kube_bucket_reserve(struct kube_bucket *b, uint64_t now_ms);

/* Delay before retry number `attempt` (0 = first retry): the exponential
 * step d = min(max_ms, base_ms * 2^attempt), jittered uniformly in
 * [d/2, d] by `rnd` (any 32-bit random value). */
uint64_t kube_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t max_ms, uint32_t rnd);

/* A random 32-bit value for jitter (not for cryptography). */
uint32_t kube_rand32(void);

#endif
