/* cli — the `slicer` binary's command table, global options and the helpers
 * its commands share (docs/cli.md).
 *
 * main() is cli_main(): it reads the global options, finds the command in the
 * table and runs it with argv[0] set to the command's name. A new command is
 * one row in cli.c's table. */
#ifndef SLICER_CLI_CLI_H
#define SLICER_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/err.h"

/* Process exit codes of slicer's own commands (`slicer run` passes its
 * command's code through instead; see its --help). */
enum cli_exit {
    CLI_OK = 0,       /* success */
    CLI_UNPLACED = 1, /* slicer plan: at least one request could not be placed */
    CLI_USAGE = 2,    /* unknown command, option or value */
    CLI_FAILURE = 3,  /* the command failed (NVML, journal, socket, ...) */
};

/* A command: argv[0] is its name; returns the process exit code. */
typedef int (*cli_fn)(int argc, char **argv);

/* The command takes a command line of its own (`slicer run ... -- CMD ARGS`):
 * global options are read only before the command's name, never after it. */
#define CLI_ARGV_COMMAND 1u

struct cli_command {
    const char *name;
    const char *summary; /* one line for `slicer --help` */
    cli_fn run;
    unsigned flags; /* CLI_ARGV_COMMAND */
};

/* The whole binary: `slicer [global options] COMMAND [options]`. Returns the
 * exit code. */
int cli_main(int argc, char **argv);

/* The command called `name`, or NULL. */
const struct cli_command *cli_find(const char *name);

/* Writes the top-level usage (commands, global options, exit codes). */
void cli_usage(FILE *out);

/* Applies --log-level (`option` "log-level") or --log-format ("log-format").
 * Returns 0, or -EINVAL with an error naming the valid values. */
int cli_global_option(const char *option, const char *value, struct err **err) WARN_UNUSED;

/* Removes --log-level X, --log-level=X, --log-format X and --log-format=X
 * from argv[1..*argc) up to a "--", applying them, so that global options
 * also work after the command's name. Keeps argv[*argc] == NULL. Returns 0,
 * or -EINVAL with an error (bad value, missing value). */
int cli_take_globals(int *argc, char **argv, struct err **err) WARN_UNUSED;

/* Parses a whole decimal number in [lo, hi]: digits only (no sign, no
 * spaces, no suffix, not empty). Returns false when `s` is anything else. */
bool cli_parse_long(const char *s, long lo, long hi, long *out);

/* `slicer plan` (plan.c). */
int cmd_plan(int argc, char **argv);

/* `slicer status` (status.c). */
int cmd_status(int argc, char **argv);

/* `slicer webhook` (webhookcmd.c). */
int cmd_webhook(int argc, char **argv);

/* `slicer controller` (controllercmd.c). */
int cmd_controller(int argc, char **argv);

#endif
