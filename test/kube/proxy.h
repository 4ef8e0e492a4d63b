/* A TCP relay for the integration tests: clients connect to 127.0.0.1:port
 * and are relayed to the upstream; the test can drop every connection or
 * refuse new ones, to cut the client off from the API server as a network
 * failure would (TLS passes through untouched). */
#ifndef SLICER_TEST_PROXY_H
#define SLICER_TEST_PROXY_H

#include <stdbool.h>

struct proxy;

struct proxy *proxy_start(const char *upstream_host, int upstream_port, int *port);
/* Closes every relayed connection now. */
void proxy_drop_all(struct proxy *p);
/* While blocked, new connections are closed at once. */
void proxy_block(struct proxy *p, bool blocked);
int proxy_connections(struct proxy *p); /* accepted so far */
void proxy_stop(struct proxy *p);

#endif
