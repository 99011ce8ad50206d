#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int selsa_cli_fail(const char *cmd, selsa_status s, int io_exit_code) {
    fprintf(stderr, "selsa %s: error: %s\n", cmd, selsa_last_error()[0] ? selsa_last_error() : selsa_status_name(s));
    switch (s) {
    case SELSA_OK: return SELSA_EXIT_OK;
    case SELSA_ERR_INVALID_ARG:
    case SELSA_ERR_UNSUPPORTED: return SELSA_EXIT_USAGE;
    case SELSA_ERR_IO:
    case SELSA_ERR_FORMAT:
    case SELSA_ERR_SHAPE: return io_exit_code;
    default: return SELSA_EXIT_INTERNAL;
    }
}

int selsa_cli_usage_error(const char *cmd, const char *fmt, ...) {
    fprintf(stderr, "selsa %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see `selsa %s --help`)\n", cmd);
    return SELSA_EXIT_USAGE;
}

int selsa_cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return 1;
    return 0;
}

static void log_to_stderr(selsa_log_level level, const char *message, void *user) {
    int quiet = user != NULL;
    if (level < SELSA_LOG_WARN && quiet) return;
    if (level == SELSA_LOG_DEBUG) return;
    static const char *tags[] = {"debug", "info", "warning", "error"};
    fprintf(stderr, "selsa: %s: %s\n", tags[level], message);
}

void selsa_cli_install_logger(int quiet) { selsa_log_set(log_to_stderr, quiet ? (void *)1 : NULL); }
