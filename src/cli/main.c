/* slicer — one binary, one subcommand per job (docs/cli.md). The command
 * table and the global options live in cli.c. */
#include "cli/cli.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
