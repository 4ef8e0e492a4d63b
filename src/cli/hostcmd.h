/* hostcmd — the host-mode commands of the `slicer` binary:
 * `slicer agent --host`, `slicer run`, and the agent client they share. */
#ifndef SLICER_CLI_HOSTCMD_H
#define SLICER_CLI_HOSTCMD_H

#include <jansson.h>

#include "base/err.h"

/* `slicer agent`: argv[0] is "agent". Returns the process exit code. */
int cmd_agent(int argc, char **argv);

/* `slicer run`: argv[0] is "run". Returns the command's exit code, or 125
 * when slicer run itself fails (no agent, no room, bad usage is 2). */
int cmd_run(int argc, char **argv);

/* A whole number in [lo, hi] (all of s); 0, or -1 when it is not one. */
int hostcmd_parse_long(const char *s, long lo, long hi, long *out);

/* The agent's socket: --socket, else $SLICER_SOCKET, else the default. */
const char *hostcmd_socket(const char *flag);

/* Connects to the agent at `path`. Returns the fd or a negative code with
 * an error that says how to start an agent. */
int agent_connect(const char *path, struct err **err) WARN_UNUSED;

/* Sends one request and reads one reply line (at most 4 MiB). *reply is
 * the parsed object (caller decrefs). A reply {"ok":false} becomes an error
 * carrying the agent's message. */
int agent_call(int fd, json_t *request, json_t **reply, struct err **err) WARN_UNUSED;

#endif
