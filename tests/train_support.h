/* Shared support of the whole-training-run tests (tests/test_train_run*.c): the tiny run of a
 * model family (a config file plus KEY=VALUE overrides) as a library config and as CLI --set
 * flags, training and dataset generation in forked children, bit-exact comparison of weight
 * files, the JSONL step log, and the checks every family shares (damaged training-state file,
 * corrupt dataset entries). Linked into every test program with the harness (Makefile
 * TEST_SUPPORT); checks made here count in the calling test's RESULT line. */
#ifndef SELSA_TEST_TRAIN_SUPPORT_H
#define SELSA_TEST_TRAIN_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "selsa/config.h"
#include "selsa/status.h"

/* One family's tiny run. */
typedef struct ts_family {
    const char *cfg_file;    /* config YAML, e.g. "configs/tiny_synth.yaml" */
    const char *const *sets; /* [n_sets] "KEY=VALUE" overrides (selsa_config_set_arg / --set) */
    int n_sets;
    const char *prefix;      /* checkpoint file prefix, e.g. "tiny_selsa" */
} ts_family;

/* The selsa tool (set it with th_tool_path) and the output of the last ts_run_cli. */
extern char ts_tool[4096];
extern char ts_out[65536];
/* th_run_cli(ts_tool, args) into ts_out; the exit code. */
int ts_run_cli(const char *args);

/* Start of a whole-run test: ts_tool (th_tool_path), a fresh folder made from dir_template
 * (mkdtemp, in place) and the synthetic dataset (ts_gen_in_child) in data = "<dir>/data" (cap
 * bytes); each failure is a failed check. 0: ready; 1: the dataset failed (the folder exists,
 * remove it); -1: no folder was made. */
int ts_setup(char *dir_template, char *data, size_t cap);
/* Whether ts_tool is executable; a failed check naming it when not. */
bool ts_have_tool(void);

/* Default config + cfg_file + sets + dataset.dataset_path = root, validated. */
selsa_status ts_tiny_config(const ts_family *f, selsa_config *c, const char *root);
/* ` --set "KEY=VALUE"` for each override (static buffer, valid until the next call). */
const char *ts_cli_sets(const ts_family *f);

/* One training run in a forked child (selsa_train_run, 1 thread, 2 workers). */
typedef struct ts_child_run {
    const char *root, *out; /* dataset root, output folder */
    bool resume;
    int64_t kill_at;        /* raise SIGKILL in the progress callback at this update (0: never) */
    int64_t every;          /* checkpoint_every */
} ts_child_run;
/* Fork, train, return the child's wait status (exit 10: bad config, 11: training failed or did
 * not finish). */
int ts_train_in_child(const ts_family *f, const ts_child_run *c);

/* The tiny synthetic dataset (seed 5, 160×96, 2 train videos of 8..10 frames, 1 val video, 4 DET
 * images) generated into root in a forked child; its exit code (0: ok). */
int ts_gen_in_child(const char *root);

/* Checks: both weight files load, same tensor count (> 0), every tensor bit-identical. */
bool ts_same_weights(const char *a, const char *b, const char *what);

/* Count the "type":"step" records of a JSONL training log; *in_order is set when their step
 * numbers are 1, 2, ..., n (no duplicates). -1 (and *in_order false) when unreadable. */
int64_t ts_log_steps(const char *path, bool *in_order);
/* Numeric field `key` of the "type":"step" record of update `step` in a JSONL training log; NaN
 * when the file, the record or the field is missing. */
double ts_log_value(const char *path, int64_t step, const char *key);

/* Through the CLI on copies run_c / run_d of dir/run_a (a finished 2-epoch run): a corrupted byte
 * in <prefix>-0002.state gives exit 4 naming the checksum, a truncated one exit 4 "truncated". */
void ts_check_damaged_state(const ts_family *f, const char *dir, const char *data);

/* Through the CLI: a one-epoch run over a copy of data with a missing key image and a broken XML
 * finishes, names both, and its log counts them. */
void ts_check_corrupt_entries(const ts_family *f, const char *dir, const char *data);

#endif
