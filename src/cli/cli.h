/* selsa command-line tool: shared definitions for the subcommands (src/cli/cmd_*.c).
 * Only the CLI prints and exits; it maps library statuses to documented exit codes. */
#ifndef SELSA_CLI_H
#define SELSA_CLI_H

#include "selsa/status.h"

/* Exit codes (README, "Exit codes"). */
enum {
    SELSA_EXIT_OK = 0,
    SELSA_EXIT_USAGE = 2,    /* bad command line or configuration */
    SELSA_EXIT_INPUT = 3,    /* unreadable/corrupt input data (images, videos, lists, annotations) */
    SELSA_EXIT_MODEL = 4,    /* unreadable/corrupt/mismatched weight file */
    SELSA_EXIT_INTERNAL = 5  /* a bug or resource exhaustion */
};

typedef struct selsa_cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} selsa_cli_command;

/* Print "selsa <cmd>: error: <selsa_last_error()>" and return the exit code for status `s`
 * in the given input class (SELSA_EXIT_INPUT or SELSA_EXIT_MODEL for I/O/format errors). */
int selsa_cli_fail(const char *cmd, selsa_status s, int io_exit_code);
/* Print a usage error and return SELSA_EXIT_USAGE. */
int selsa_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Official-family model presets by name (cmd_test.c): r101, r50, tiny [-baseline]. Returns 0 if
 * the name is unknown. */
struct selsa_official_config;
int selsa_cli_official_preset(const char *name, struct selsa_official_config *c);
/* True if argv contains -h or --help. */
int selsa_cli_wants_help(int argc, char **argv);
/* Log sink printing warnings/errors to stderr (and info unless quiet). */
void selsa_cli_install_logger(int quiet);

#endif
