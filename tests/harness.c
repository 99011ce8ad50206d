#include "harness.h"

#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *suite_name = "tests";
static const char *fixture_dir;
static int n_pass, n_fail, n_skip;

void th_init(int argc, char **argv, const char *suite) {
    suite_name = suite;
    if (argc > 1) fixture_dir = argv[1];
    else if (getenv("SELSA_FIXTURES")) fixture_dir = getenv("SELSA_FIXTURES");
    else fixture_dir = "build/fixtures";
    setvbuf(stdout, NULL, _IOLBF, 0);
}

int th_finish(void) {
    printf("RESULT %s passed=%d failed=%d skipped=%d\n", suite_name, n_pass, n_fail, n_skip);
    return n_fail ? 1 : 0;
}

bool th_check(bool ok, const char *file, int line, const char *fmt, ...) {
    if (ok) {
        n_pass++;
        return true;
    }
    n_fail++;
    printf("FAIL %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    return false;
}

bool th_check_status(selsa_status got, selsa_status want, const char *expr, const char *file,
                     int line) {
    if (got == want && (want == SELSA_OK || selsa_last_error()[0] != '\0')) {
        n_pass++;
        return true;
    }
    n_fail++;
    printf("FAIL %s:%d: %s returned %s (want %s): %s\n", file, line, expr, selsa_status_name(got),
           selsa_status_name(want), selsa_last_error()[0] ? selsa_last_error() : "(no message)");
    return false;
}

static bool allclose_impl(const char *what, int64_t n, double atol, double rtol,
                          double (*get)(const void *, int64_t), const void *got, const void *want) {
    int64_t bad = 0;
    double max_abs = 0, max_rel = 0;
    for (int64_t i = 0; i < n; i++) {
        double g = get(got, i), w = get(want, i);
        double d = fabs(g - w);
        bool ok = d <= atol + rtol * fabs(w);
        if (isnan(g) || isnan(w)) ok = false, d = INFINITY;
        if (d > max_abs) max_abs = d;
        if (fabs(w) > 0 && d / fabs(w) > max_rel) max_rel = d / fabs(w);
        if (!ok) {
            if (bad < 5) printf("  %s[%lld]: got %.9g want %.9g (diff %.3g)\n", what, (long long)i, g, w, d);
            bad++;
        }
    }
    if (bad) {
        n_fail++;
        printf("FAIL %s: %lld of %lld elements outside atol=%g rtol=%g (max abs %.3g, max rel %.3g)\n",
               what, (long long)bad, (long long)n, atol, rtol, max_abs, max_rel);
        return false;
    }
    n_pass++;
    return true;
}

static double get_f32(const void *p, int64_t i) { return ((const float *)p)[i]; }
static double get_f64(const void *p, int64_t i) { return ((const double *)p)[i]; }

bool th_allclose(const char *what, const float *got, const float *want, int64_t n, double atol,
                 double rtol) {
    return allclose_impl(what, n, atol, rtol, get_f32, got, want);
}

bool th_allclose_f64(const char *what, const double *got, const double *want, int64_t n,
                     double atol, double rtol) {
    return allclose_impl(what, n, atol, rtol, get_f64, got, want);
}

void th_skip(const char *why) {
    n_skip++;
    printf("SKIP %s: %s\n", suite_name, why);
}

const char *th_fixture_dir(void) { return fixture_dir ? fixture_dir : "build/fixtures"; }

const char *th_fixture_path(const char *name) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", th_fixture_dir(), name);
    return buf;
}

void th_fill_uniform(float *x, int64_t n, float lo, float hi, selsa_rng *rng) {
    for (int64_t i = 0; i < n; i++) x[i] = selsa_rng_uniform_range(rng, lo, hi);
}

double th_fd_derivative(th_scalar_fn f, void *user, float *x, double eps) {
    float x0 = *x;
    *x = (float)(x0 + eps / 2); double fp2 = f(user);
    *x = (float)(x0 - eps / 2); double fm2 = f(user);
    *x = (float)(x0 + eps);     double fp1 = f(user);
    *x = (float)(x0 - eps);     double fm1 = f(user);
    *x = x0;
    return (8.0 * fp2 + fm1 - 8.0 * fm2 - fp1) / (6.0 * eps);
}

int th_run_cli(const char *tool, const char *args, char *out, size_t cap) {
    size_t len = (tool ? strlen(tool) + 1 : 0) + strlen(args) + sizeof " 2>&1";
    char *cmd = malloc(len);
    if (!cmd) return -1;
    if (tool) snprintf(cmd, len, "%s %s 2>&1", tool, args);
    else snprintf(cmd, len, "%s 2>&1", args);
    FILE *p = popen(cmd, "r");
    free(cmd);
    if (!p) return -1;
    size_t n = cap ? fread(out, 1, cap - 1, p) : 0;
    if (cap) out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

char *th_tool_path(char *buf, size_t cap) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    snprintf(buf, cap, "%s/../selsa", dirname(self));
    return buf;
}

void th_remove_tree(const char *path) {
    size_t len = strlen(path) + sizeof "rm -rf ";
    char *cmd = malloc(len);
    if (!cmd) return;
    snprintf(cmd, len, "rm -rf %s", path);
    if (system(cmd) != 0) printf("warning: could not remove %s\n", path);
    free(cmd);
}

void *th_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[n] = '\0';
        if (len) *len = (size_t)n;
    }
    return b;
}

bool th_files_equal(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = th_read_file(a, &na), *y = th_read_file(b, &nb);
    bool same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}
