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
/* ---- model selection shared by the subcommands that run a model (src/cli/cli_model.c) ---- */
#include "selsa/config.h"
#include "selsa/model_mmtrack.h"
#include "selsa/model_official.h"

/* The architecture to run and, after selsa_cli_model_load, the loaded model. Zero-initialise. */
typedef struct selsa_cli_model {
    selsa_model_family family;
    int family_known;            /* 1: from --preset or --cfg; 0: decided by the weights' content */
    selsa_official_config ocfg;  /* official family (filled in place: its pointers are internal) */
    selsa_mmtrack_config mcfg;   /* MMTracking family */
    int cfg_online;              /* --cfg asked for the online schedule (TEST schedule ONLINE) */
    int cfg_threads;             /* --cfg threads (0 = all cores) */
    int set_key_interval;        /* 1: load the official model with key_interval below */
    int key_interval;            /* official window K (window 2K+1) when set_key_interval */
    selsa_official_model *om;    /* loaded official model, or NULL */
    selsa_mmtrack_model *mm;     /* loaded MMTracking model, or NULL */
} selsa_cli_model;

/* Architecture from --cfg FILE.yaml (+ --set KEY=VALUE overrides), then --preset NAME (which
 * overrides the configuration's architecture): official r101, r50, tiny [-baseline];
 * MMTracking mmtrack-r50, mmtrack-r101, mmtrack-x101, mmtrack-tiny[-x]. Neither: family_known
 * stays 0. Prints the error and returns the exit code (SELSA_EXIT_OK on success). */
int selsa_cli_model_arch(const char *cmd, selsa_cli_model *m, const char *cfg_path,
                         const char *const *sets, int n_sets, const char *preset);
/* Family of a weight file by content: .pth (zip or legacy pickle) -> MMTracking, MXNet .params
 * -> official. */
selsa_status selsa_cli_family_from_weights(const char *path, selsa_model_family *family);
/* Load the weights at `path` for the architecture chosen above; without one, the family comes
 * from the content (official: the r101 preset; MMTracking: the architecture read from the state
 * dict). Prints the error (naming the file, with a hint) and returns the exit code. */
int selsa_cli_model_load(const char *cmd, selsa_cli_model *m, const char *path);
void selsa_cli_model_free(selsa_cli_model *m);

/* True if argv contains -h or --help. */
int selsa_cli_wants_help(int argc, char **argv);
/* Log sink printing warnings/errors to stderr (and info unless quiet). */
void selsa_cli_install_logger(int quiet);

#endif
