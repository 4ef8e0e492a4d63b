/* One candidate of the leader-election test:
 *   kube_lease_helper KUBECONFIG NS NAME IDENTITY LEASE_MS RENEW_MS RETRY_MS
 * Prints (stdout, line-buffered, wall-clock microseconds):
 *   GAIN t     on gaining leadership
 *   L t        every 50 ms while kube_lease_is_leader() is true
 *   LOSS t     on losing it, then exits 3 (a process that lost must stop acting) */
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

#include "kube/kube_config.h"
#include "kube/kube_lease.h"

static long long wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void gain(void *arg)
{
    (void)arg;
    printf("GAIN %lld\n", wall_us());
}

static void loss(void *arg)
{
    (void)arg;
    printf("LOSS %lld\n", wall_us());
    fflush(stdout);
    _Exit(3);
}

static int num(const char *s)
{
    return (int)strtol(s, NULL, 10);
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: %s KUBECONFIG NS NAME ID LEASE_MS RENEW_MS RETRY_MS\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct kube_config *cfg = NULL;
    struct kube_client *c = NULL;
    struct kube_lease *l = NULL;
    struct err *e = NULL;
    struct kube_client_opts o = {.timeout_ms = num(argv[6]) / 2};
    if (kube_config_load_file(argv[1], NULL, &cfg, &e) < 0 ||
        kube_client_new(cfg, &o, &c, &e) < 0 ||
        kube_lease_start(c,
                         &(struct kube_lease_opts){.ns = argv[2],
                                                   .name = argv[3],
                                                   .identity = argv[4],
                                                   .lease_duration_ms = num(argv[5]),
                                                   .renew_deadline_ms = num(argv[6]),
                                                   .retry_period_ms = num(argv[7]),
                                                   .on_gain = gain,
                                                   .on_loss = loss},
                         &l, &e) < 0) {
        fprintf(stderr, "lease helper: %s\n", err_msg(e));
        return 1;
    }
    kube_config_free(cfg);
    long long next = 0;
    for (;;) {
        if (kube_client_step(c, 50, &e) < 0) {
            fprintf(stderr, "lease helper: %s\n", err_msg(e));
            return 1;
        }
        long long now = wall_us();
        if (now >= next && kube_lease_is_leader(l)) {
            printf("L %lld\n", now);
            next = now + 50000;
        }
    }
}
