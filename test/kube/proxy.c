#define _GNU_SOURCE
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXPAIRS 64

struct proxy {
    int lfd, wake[2];
    struct sockaddr_in up;
    int pairs[MAXPAIRS][2];
    int npairs, accepted;
    bool blocked, drop, stop;
    pthread_mutex_t mu;
    pthread_t th;
};

static void close_pair(struct proxy *p, int i)
{
    close(p->pairs[i][0]);
    close(p->pairs[i][1]);
    memmove(&p->pairs[i], &p->pairs[i + 1], (size_t)(p->npairs - i - 1) * sizeof p->pairs[0]);
    p->npairs--;
}

static void accept_one(struct proxy *p)
{
    int c = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return;
    pthread_mutex_lock(&p->mu);
    bool blocked = p->blocked;
    p->accepted++;
    pthread_mutex_unlock(&p->mu);
    int u = blocked ? -1 : socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (u < 0 || connect(u, (struct sockaddr *)&p->up, sizeof p->up) < 0 || p->npairs == MAXPAIRS) {
        if (u >= 0)
            close(u);
        close(c);
        return;
    }
    p->pairs[p->npairs][0] = c;
    p->pairs[p->npairs][1] = u;
    p->npairs++;
}

/* Copies what is readable from one side to the other; false on EOF/error. */
static bool relay(int from, int to)
{
    char buf[65536];
    ssize_t n = read(from, buf, sizeof buf);
    if (n <= 0)
        return false;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(to, buf + off, (size_t)(n - off));
        if (w <= 0)
            return false;
        off += w;
    }
    return true;
}

static void *run(void *arg)
{
    struct proxy *p = arg;
    for (;;) {
        struct pollfd fds[2 + 2 * MAXPAIRS];
        fds[0] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
        fds[1] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
        for (int i = 0; i < p->npairs; i++) {
            fds[2 + 2 * i] = (struct pollfd){.fd = p->pairs[i][0], .events = POLLIN};
            fds[3 + 2 * i] = (struct pollfd){.fd = p->pairs[i][1], .events = POLLIN};
        }
        int np = p->npairs;
        if (poll(fds, (nfds_t)(2 + 2 * np), -1) < 0 && errno != EINTR)
            break;
        if (fds[1].revents) {
            char x[16];
            (void)!read(p->wake[0], x, sizeof x);
            pthread_mutex_lock(&p->mu);
            bool drop = p->drop, stop = p->stop;
            p->drop = false;
            pthread_mutex_unlock(&p->mu);
            if (drop || stop)
                while (p->npairs)
                    close_pair(p, 0);
            if (stop)
                break;
            continue;
        }
        for (int i = np - 1; i >= 0; i--) {
            short a = fds[2 + 2 * i].revents, b = fds[3 + 2 * i].revents;
            if ((a && !relay(p->pairs[i][0], p->pairs[i][1])) ||
                (b && !relay(p->pairs[i][1], p->pairs[i][0])))
                close_pair(p, i);
        }
        if (fds[0].revents)
            accept_one(p);
    }
    return NULL;
}

struct proxy *proxy_start(const char *host, int port, int *out_port)
{
    struct proxy *p = calloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    p->up.sin_family = AF_INET;
    p->up.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &p->up.sin_addr);
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(p->lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(p->lfd, 64) < 0 ||
        getsockname(p->lfd, (struct sockaddr *)&a, &len) < 0 || pipe2(p->wake, O_CLOEXEC) < 0) {
        close(p->lfd);
        free(p);
        return NULL;
    }
    *out_port = ntohs(a.sin_port);
    pthread_create(&p->th, NULL, run, p);
    return p;
}

static void poke(struct proxy *p)
{
    (void)!write(p->wake[1], "x", 1);
}

void proxy_drop_all(struct proxy *p)
{
    pthread_mutex_lock(&p->mu);
    p->drop = true;
    pthread_mutex_unlock(&p->mu);
    poke(p);
}

void proxy_block(struct proxy *p, bool blocked)
{
    pthread_mutex_lock(&p->mu);
    p->blocked = blocked;
    pthread_mutex_unlock(&p->mu);
}

int proxy_connections(struct proxy *p)
{
    pthread_mutex_lock(&p->mu);
    int n = p->accepted;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void proxy_stop(struct proxy *p)
{
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_mutex_unlock(&p->mu);
    poke(p);
    pthread_join(p->th, NULL);
    close(p->lfd);
    close(p->wake[0]);
    close(p->wake[1]);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
