/* dra_fixture — a DRA plugin on src/kubelet that answers claims by rule, for
 * test/kubelet/kubelet.sh (the kubelet's Go client packages as the client).
 *
 *   dra_fixture --registry DIR --plugin-dir DIR [--driver NAME] [--slow-ms N]
 *
 * Prepare, per claim, by name:
 *   bad-*   error "claim <ns>/<name> refused"
 *   slow-*  answered like the others, but after --slow-ms (default 1500) from a timer
 *   probe   error "dead=<answers given to dead calls> registered=<0|1|-1> regerr=<text>"
 *   other   one device: request "gpu", pool "node-a", device "mig-<name>",
 *           CDI id "mig.slicer.dev/mig=<uid>"
 * Unprepare: bad-* error "claim <ns>/<name> refused", slow-* delayed, others success.
 * SIGTERM or SIGINT: frees everything and exits 0 (for the ASan leak check). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "kubelet/kubelet.h"

struct pending {
    struct pending *next;
    struct kl_call *call;
    size_t i;
    bool prepare;
    uint64_t due_ms;
};

struct fixture {
    struct pending *pending;
    unsigned slow_ms;
    unsigned dead_answers;
    int registered; /* -1 never told */
    char regerr[256];
    int tfd;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void registered(void *arg, bool ok, const char *error)
{
    struct fixture *f = arg;
    f->registered = ok ? 1 : 0;
    snprintf(f->regerr, sizeof f->regerr, "%s", error);
    fprintf(stderr, "fixture: registration status: %s %s\n", ok ? "registered" : "refused", error);
}

static void answer(struct fixture *f, struct kl_call *call, size_t i, bool prepare)
{
    const struct kl_claim *cl = kl_call_claim(call, i);
    char err[512] = "";
    if (kl_call_dead(call))
        f->dead_answers++;
    if (starts(cl->name, "bad-"))
        snprintf(err, sizeof err, "claim %s/%s refused", cl->namespace_, cl->name);
    else if (prepare && strcmp(cl->name, "probe") == 0)
        snprintf(err, sizeof err, "dead=%u registered=%d regerr=%s", f->dead_answers, f->registered,
                 f->regerr);
    if (!prepare) {
        if (kl_call_unprepared(call, i, err) != 0)
            abort();
        return;
    }
    char dev[300], cdi[300];
    snprintf(dev, sizeof dev, "mig-%s", cl->name);
    snprintf(cdi, sizeof cdi, "mig.slicer.dev/mig=%s", cl->uid);
    const char *reqs[] = {"gpu"}, *cdis[] = {cdi};
    struct kl_device d = {reqs, 1, "node-a", dev, cdis, 1};
    if (kl_call_prepared(call, i, &d, 1, err) != 0)
        abort();
}

static void arm(struct fixture *f)
{
    uint64_t next = 0;
    for (struct pending *p = f->pending; p != NULL; p = p->next)
        if (next == 0 || p->due_ms < next)
            next = p->due_ms;
    struct itimerspec its = {0};
    if (next != 0) {
        uint64_t now = now_ms(), d = next > now ? next - now : 1;
        its.it_value.tv_sec = (time_t)(d / 1000);
        its.it_value.tv_nsec = (long)(d % 1000) * 1000000;
    }
    timerfd_settime(f->tfd, 0, &its, NULL);
}

static void take(struct fixture *f, struct kl_call *call, bool prepare)
{
    /* Count first: answering the last claim frees the call. */
    size_t n = kl_call_nclaims(call);
    struct pending *later = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!starts(kl_call_claim(call, i)->name, "slow-"))
            continue;
        struct pending *p = xcalloc(1, sizeof *p);
        *p = (struct pending){later, call, i, prepare, now_ms() + f->slow_ms};
        later = p;
    }
    bool any_slow = later != NULL;
    while (later != NULL) {
        struct pending *p = later;
        later = p->next;
        p->next = f->pending;
        f->pending = p;
    }
    for (size_t i = 0; i < n; i++) {
        if (any_slow && starts(kl_call_claim(call, i)->name, "slow-"))
            continue;
        answer(f, call, i, prepare); /* the last of these may free the call if no slow one */
    }
    arm(f);
}

static void prepare(void *arg, struct kl_call *call)
{
    take(arg, call, true);
}

static void unprepare(void *arg, struct kl_call *call)
{
    take(arg, call, false);
}

static void fire(struct fixture *f)
{
    uint64_t ticks, now = now_ms();
    if (read(f->tfd, &ticks, sizeof ticks) < 0 && errno != EAGAIN)
        perror("timerfd");
    struct pending **pp = &f->pending;
    while (*pp != NULL) {
        struct pending *p = *pp;
        if (p->due_ms > now) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        answer(f, p->call, p->i, p->prepare);
        free(p);
    }
    arm(f);
}

static int loop(struct kl_plugin *pl, struct fixture *f)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int fds[] = {kl_plugin_fd(pl), f->tfd, sfd};
    for (int i = 0; i < 3; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fds[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0)
            return 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        struct epoll_event evs[4];
        int n = epoll_wait(ep, evs, 4, -1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == sfd) {
                close(sfd);
                close(ep);
                return 0;
            }
            if (evs[i].data.fd == f->tfd)
                fire(f);
            else
                kl_plugin_dispatch(pl);
        }
    }
}

int main(int argc, char **argv)
{
    struct kl_plugin_config cfg = {.driver = "mig.slicer.dev"};
    struct fixture f = {.slow_ms = 1500, .registered = -1};
    static const struct option opts[] = {{"registry", required_argument, NULL, 'r'},
                                         {"plugin-dir", required_argument, NULL, 'p'},
                                         {"driver", required_argument, NULL, 'd'},
                                         {"slow-ms", required_argument, NULL, 's'},
                                         {NULL, 0, NULL, 0}};
    for (int o; (o = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (o == 'r')
            cfg.registry_dir = optarg;
        else if (o == 'p')
            cfg.plugin_dir = optarg;
        else if (o == 'd')
            cfg.driver = optarg;
        else if (o == 's')
            f.slow_ms = (unsigned)strtoul(optarg, NULL, 10);
        else
            return 2;
    }
    log_set_level(LOG_DEBUG);
    f.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    static const struct kl_plugin_ops ops = {registered, prepare, unprepare};
    struct err *e = NULL;
    struct kl_plugin *pl = kl_plugin_new(&cfg, &ops, &f, &e);
    if (pl == NULL) {
        fprintf(stderr, "fixture: %s\n", err_msg(e));
        err_free(&e);
        return 1;
    }
    int rc = loop(pl, &f);
    while (f.pending != NULL) { /* kl_plugin_free frees their calls */
        struct pending *p = f.pending;
        f.pending = p->next;
        free(p);
    }
    kl_plugin_free(pl);
    close(f.tfd);
    fprintf(stderr, "fixture: exiting, %u answers to dead calls\n", f.dead_answers);
    return rc;
}
