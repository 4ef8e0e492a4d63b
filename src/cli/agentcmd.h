/* agentcmd — `slicer agent` in cluster mode (without --host). */
#ifndef SLICER_CLI_AGENTCMD_H
#define SLICER_CLI_AGENTCMD_H

/* argv[0] is "agent". Returns the exit code: 0 clean stop, 2 usage, 3 failure. */
int cmd_agent_cluster(int argc, char **argv);

#endif
