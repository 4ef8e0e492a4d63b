/* cli — the command table and the global options of `slicer`. */
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "cli/hostcmd.h"

static const struct cli_command commands[] = {
    {"plan", "plan MIG slices for a set of GPUs offline and draw where they go", cmd_plan, 0},
    {"agent", "run the node agent: a Kubernetes GPU node's, or --host for one machine alone",
     cmd_agent, 0},
    {"run", "run a command on MIG slices from the host agent, release them after", cmd_run,
     CLI_ARGV_COMMAND},
    {"status", "show this node's GPUs, their MIG slices and who holds them", cmd_status, 0},
    {"webhook", "serve the mutating admission webhook for pods (HTTPS)", cmd_webhook, 0},
    {"controller", "place MIG pods across the cluster: GPUSlices, ungate, release", cmd_controller,
     0},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

const struct cli_command *cli_find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

void cli_usage(FILE *out)
{
    fputs("usage: slicer [--log-level LEVEL] [--log-format FORMAT] COMMAND [options]\n"
          "       slicer --help | --version\n"
          "\n"
          "MIG slices on demand: slicer places and creates NVIDIA MIG slices when work asks\n"
          "for them, and destroys them when it is done.\n"
          "\n"
          "commands:\n",
          out);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\n"
          "global options (before COMMAND; also after it, except for `slicer run`):\n"
          "  --log-level LEVEL    error, warn, info (default) or debug; logs go to stderr\n"
          "  --log-format FORMAT  text (default) or json (one JSON object per line)\n"
          "  -h, --help           this text; `slicer COMMAND --help` describes a command\n"
          "  -V, --version        print the version\n"
          "\n"
          "exit codes:\n"
          "  0  success\n"
          "  1  slicer plan: at least one request could not be placed\n"
          "  2  usage error: unknown command, option or value\n"
          "  3  failure (NVML, journal, socket, API server configuration, ...)\n"
          "  4  slicer controller: leadership lost (it stops acting and exits)\n"
          "  slicer run exits with its command's code (125 when slicer run itself fails)\n",
          out);
}

int cli_global_option(const char *option, const char *value, struct err **err)
{
    if (strcmp(option, "log-level") == 0) {
        enum log_level level;
        if (!log_level_parse(value, &level))
            return err_set(err, EINVAL, "--log-level wants error, warn, info or debug, not '%s'",
                           value);
        log_set_level(level);
        return 0;
    }
    enum log_format format;
    if (strcmp(option, "log-format") != 0 || !log_format_parse(value, &format))
        return err_set(err, EINVAL, "--log-format wants text or json, not '%s'", value);
    log_set_format(format);
    return 0;
}

/* If argv[i] is a global option, applies it and returns how many arguments
 * it took (1 or 2); returns 0 when it is not one. */
static int take_global(int argc, char **argv, int i, struct err **err)
{
    static const char *const names[] = {"log-level", "log-format"};
    if (strncmp(argv[i], "--", 2) != 0)
        return 0;
    for (size_t k = 0; k < 2; k++) {
        size_t len = strlen(names[k]);
        const char *rest = argv[i] + 2;
        if (strncmp(rest, names[k], len) != 0 || (rest[len] != '\0' && rest[len] != '='))
            continue;
        if (rest[len] == '=')
            return cli_global_option(names[k], rest + len + 1, err) < 0 ? -EINVAL : 1;
        if (i + 1 >= argc)
            return err_set(err, EINVAL, "--%s needs a value", names[k]);
        return cli_global_option(names[k], argv[i + 1], err) < 0 ? -EINVAL : 2;
    }
    return 0;
}

int cli_take_globals(int *argc, char **argv, struct err **err)
{
    int i = 1;
    while (i < *argc && strcmp(argv[i], "--") != 0) {
        int n = take_global(*argc, argv, i, err);
        if (n < 0)
            return n;
        if (n == 0) {
            i++;
            continue;
        }
        memmove(&argv[i], &argv[i + n], (size_t)(*argc - i - n + 1) * sizeof *argv);
        *argc -= n;
    }
    return 0;
}

bool cli_parse_long(const char *s, long lo, long hi, long *out)
{
    if (!isdigit((unsigned char)s[0]))
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Reads the global options in front of the command. Returns -1 to go on,
 * or the exit code (--help, --version, a usage error). */
static int main_options(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"log-format", required_argument, NULL, 'f'},
                                         {0, 0, 0, 0}};
    struct err *e = NULL;
    int c;
    optind = 0;
    /* '+': stop at the command's name; its options are its own. */
    while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
        if (c == 'h') {
            cli_usage(stdout);
            return CLI_OK;
        }
        if (c == 'V') {
            printf("slicer %s\n", SLICER_VERSION);
            return CLI_OK;
        }
        if (c != 'l' && c != 'f') {
            cli_usage(stderr);
            return CLI_USAGE;
        }
        if (cli_global_option(c == 'l' ? "log-level" : "log-format", optarg, &e) < 0) {
            fprintf(stderr, "slicer: %s\n", err_msg(e));
            err_free(&e);
            return CLI_USAGE;
        }
    }
    return -1;
}

int cli_main(int argc, char **argv)
{
    int rc = main_options(argc, argv);
    if (rc >= 0)
        return rc;
    if (optind >= argc) {
        fputs("slicer: no command given\n\n", stderr);
        cli_usage(stderr);
        return CLI_USAGE;
    }
    const struct cli_command *cmd = cli_find(argv[optind]);
    if (cmd == NULL) {
        fprintf(stderr, "slicer: unknown command '%s'\n\n", argv[optind]);
        cli_usage(stderr);
        return CLI_USAGE;
    }
    int cargc = argc - optind;
    char **cargv = argv + optind;
    struct err *e = NULL;
    if (!(cmd->flags & CLI_ARGV_COMMAND) && cli_take_globals(&cargc, cargv, &e) < 0) {
        fprintf(stderr, "slicer %s: %s\n", cmd->name, err_msg(e));
        err_free(&e);
        return CLI_USAGE;
    }
    optind = 0; /* the command's getopt starts afresh (GNU: 0 re-initialises) */
    return cmd->run(cargc, cargv);
}
