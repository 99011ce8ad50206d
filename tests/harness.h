/* Minimal test harness shared by every tests/test_*.c program.
 *
 * Each program calls th_init(), makes checks, and returns th_finish(). th_finish prints one
 * machine-readable line "RESULT <suite> passed=P failed=F skipped=S" that tests/run_tests.sh
 * sums into the final "N passed, N failed" line. Reference fixtures (written by the Python
 * scripts in tests/ref/) are found with th_fixture_path(). */
#ifndef SELSA_TEST_HARNESS_H
#define SELSA_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "selsa/rng.h"
#include "selsa/status.h"

void th_init(int argc, char **argv, const char *suite);
int th_finish(void);

/* Record one check. The message is printed only on failure. */
bool th_check(bool ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define TH_CHECK(cond, ...) th_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
/* A library call must return SELSA_OK; on failure prints the status and selsa_last_error(). */
#define TH_OK(expr) th_check_status((expr), SELSA_OK, #expr, __FILE__, __LINE__)
/* A library call must fail with exactly `want`, and set a non-empty message. */
#define TH_FAILS(expr, want) th_check_status((expr), (want), #expr, __FILE__, __LINE__)
bool th_check_status(selsa_status got, selsa_status want, const char *expr, const char *file,
                     int line);

/* One check: |got - want| <= atol + rtol*|want| elementwise (NaN never matches). Prints the
 * first mismatches and the max abs/rel differences on failure. */
bool th_allclose(const char *what, const float *got, const float *want, int64_t n, double atol,
                 double rtol);
bool th_allclose_f64(const char *what, const double *got, const double *want, int64_t n,
                     double atol, double rtol);
/* Count a skipped case (e.g. optional data absent); prints the reason. */
void th_skip(const char *why);

/* Fixture directory: argv[1] if given, else $SELSA_FIXTURES, else "build/fixtures". */
const char *th_fixture_dir(void);
/* "<fixture dir>/<name>" in a static buffer (valid until the next call). */
const char *th_fixture_path(const char *name);

/* Uniform random fill in [lo, hi). */
void th_fill_uniform(float *x, int64_t n, float lo, float hi, selsa_rng *rng);

/* Central finite difference of a scalar function of x[i], 4-point stencil
 * (8 f(x+e/2) + f(x-e) - 8 f(x-e/2) - f(x+e)) / (6e). f is evaluated with x[i] perturbed
 * in place and x[i] is restored afterwards. */
typedef double (*th_scalar_fn)(void *user);
double th_fd_derivative(th_scalar_fn f, void *user, float *x, double eps);

/* Run "<tool> <args> 2>&1" through the shell (tool NULL: "<args> 2>&1"), stdout and stderr
 * captured into out (at most cap-1 bytes, NUL-terminated). Returns the exit code, -1 when the
 * command could not be started or did not exit normally. */
int th_run_cli(const char *tool, const char *args, char *out, size_t cap);

/* The selsa tool next to the tests directory: "<folder of this executable>/../selsa" (BUILD/selsa
 * for BUILD/tests/test_x), written into buf; returns buf. */
char *th_tool_path(char *buf, size_t cap);

/* The whole file, with a NUL byte after its end (malloc'd; free it); *len (when not NULL) its size.
 * NULL when it cannot be opened or read completely. */
void *th_read_file(const char *path, size_t *len);
/* Both files readable and byte-identical. */
bool th_files_equal(const char *a, const char *b);

/* `rm -rf path`; prints a warning when it fails. */
void th_remove_tree(const char *path);

#endif
