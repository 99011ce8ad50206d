/* selsa — helpers shared by the benchmark drivers (bench/bench_*.c): wall clock, memory counters
 * (ru_maxrss, /proc/self/status, resetting the peak RSS), a table-driven command-line parser,
 * the numerically sorted frame list of a folder, medians, the official-family presets, and the
 * per-detection record of the video drivers (phase deltas, text / raw dumps, phase table, TSV).
 * Clock and /proc/self/status values come from the library (selsa_monotonic_seconds,
 * selsa_proc_status_kb). Header-only (static inline): the Makefile builds each bench/bench_*.c into its own program. */
#ifndef SELSA_BENCH_UTIL_H
#define SELSA_BENCH_UTIL_H

#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#include "selsa/boxes.h"
#include "selsa/context.h"
#include "selsa/model_official.h"
#include "selsa/tensor.h"

/* Peak RSS of the whole process (getrusage), kB. */
static inline long bench_maxrss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Reset the peak-RSS counter (`echo 5 > /proc/self/clear_refs`): from here on VmHWM is the peak
 * of what follows alone. false when the reset failed (VmHWM stays the whole-process peak). */
static inline bool bench_reset_peak_rss(void) {
    FILE *cr = fopen("/proc/self/clear_refs", "w");
    bool reset_ok = cr && fputs("5", cr) >= 0;
    if (cr) reset_ok = (fclose(cr) == 0) && reset_ok;
    return reset_ok;
}

/* ------------------------------------------------------------------ command line ----------- */

/* One option: "--name VALUE" stored into dst by kind, or a flag "--name" setting *(int *)dst = 1. */
typedef enum {
    BENCH_STR,   /* const char * */
    BENCH_INT,   /* int (atoi) */
    BENCH_LL,    /* long long (atoll) */
    BENCH_ULL,   /* unsigned long long (strtoull, base 10) */
    BENCH_DBL,   /* double (atof) */
    BENCH_FLAG   /* int set to 1, no value */
} bench_opt_kind;

typedef struct bench_opt {
    const char *name;
    bench_opt_kind kind;
    void *dst;
} bench_opt;

/* Parse argv[1..argc) against opts[0..n). false on an unknown option or a missing value (the caller
 * prints its usage). */
static inline bool bench_parse_args(int argc, char **argv, const bench_opt *opts, int n) {
    for (int i = 1; i < argc; i++) {
        const bench_opt *o = NULL;
        for (int k = 0; k < n && !o; k++)
            if (!strcmp(argv[i], opts[k].name)) o = &opts[k];
        if (!o) return false;
        if (o->kind == BENCH_FLAG) {
            *(int *)o->dst = 1;
            continue;
        }
        if (i + 1 >= argc) return false;
        const char *v = argv[++i];
        switch (o->kind) {
        case BENCH_STR: *(const char **)o->dst = v; break;
        case BENCH_INT: *(int *)o->dst = atoi(v); break;
        case BENCH_LL: *(long long *)o->dst = atoll(v); break;
        case BENCH_ULL: *(unsigned long long *)o->dst = strtoull(v, NULL, 10); break;
        case BENCH_DBL: *(double *)o->dst = atof(v); break;
        case BENCH_FLAG: break;
        }
    }
    return true;
}

/* The official-family presets r101 / r50 / tiny; false (with a message naming prog) otherwise. */
static inline bool bench_official_preset(const char *prog, const char *preset, selsa_official_config *cfg) {
    if (!strcmp(preset, "r101")) selsa_official_config_r101(cfg);
    else if (!strcmp(preset, "r50")) selsa_official_config_r50(cfg);
    else if (!strcmp(preset, "tiny")) selsa_official_config_tiny(cfg);
    else {
        fprintf(stderr, "%s: unknown preset %s\n", prog, preset);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ frame list ------------- */

typedef struct bench_named {
    char *name;
    long long num; /* digits of the name, -1 if none */
} bench_named;

static inline int bench_cmp_named(const void *a, const void *b) {
    const bench_named *x = a, *y = b;
    if (x->num != y->num) return x->num < y->num ? -1 : 1;
    return strcmp(x->name, y->name);
}

static inline bool bench_is_image_name(const char *s) {
    const char *dot = strrchr(s, '.');
    return dot && (!strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".png"));
}

/* Sorted image paths (.JPEG/.jpg/.png) of dir, in numeric order of the first digits in the name
 * (ties by name). Returns 1 with a message naming prog when the folder cannot be read or has no
 * frames; the caller frees each path and the array. */
static inline int bench_list_frames(const char *prog, const char *dir, char ***out, int64_t *n_out) {
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "%s: cannot open frame folder %s\n", prog, dir);
        return 1;
    }
    bench_named *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!bench_is_image_name(e->d_name)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            v = realloc(v, cap * sizeof *v);
            if (!v) abort();
        }
        long long num = -1;
        for (const char *p = e->d_name; *p; p++)
            if (isdigit((unsigned char)*p)) {
                num = strtoll(p, NULL, 10);
                break;
            }
        v[n].name = strdup(e->d_name);
        v[n].num = num;
        n++;
    }
    closedir(d);
    if (n == 0) {
        fprintf(stderr, "%s: no .JPEG/.jpg/.png frames in %s\n", prog, dir);
        free(v);
        return 1;
    }
    qsort(v, n, sizeof *v, bench_cmp_named);
    char **paths = calloc(n, sizeof *paths);
    for (size_t i = 0; i < n; i++) {
        if (asprintf(&paths[i], "%s/%s", dir, v[i].name) < 0) abort();
        free(v[i].name);
    }
    free(v);
    *out = paths;
    *n_out = (int64_t)n;
    return 0;
}

/* ------------------------------------------------------------------ statistics ------------- */

static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median and mean of v[0..m) (both 0 when m <= 0); v is sorted in place. The mean sums in the
 * given order, before sorting. */
static inline void bench_median_mean(double *v, int64_t m, double *med, double *mean) {
    if (m <= 0) {
        *med = *mean = 0;
        return;
    }
    double s = 0;
    for (int64_t i = 0; i < m; i++) s += v[i];
    qsort(v, (size_t)m, sizeof *v, bench_cmp_double);
    *med = m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
    *mean = s / (double)m;
}

/* Median of v[from..n) (0 when empty); v is not modified. */
static inline double bench_median(const double *v, int from, int n) {
    int m = n - from;
    if (m <= 0) return 0;
    double *c = malloc((size_t)m * sizeof *c);
    if (!c) abort();
    memcpy(c, v + from, (size_t)m * sizeof *c);
    double med, mean;
    bench_median_mean(c, m, &med, &mean);
    free(c);
    return med;
}

/* ------------------------------------------------------------------ video drivers --------- */

enum { BENCH_MAX_PHASES = 8 };

/* One detection of a video benchmark (bench_official: a key frame; bench_mmtrack: a frame). */
typedef struct bench_rec {
    int64_t frame;                 /* detected frame index */
    double wall;                   /* seconds since the previous detection (first: since the run started) */
    double ph[BENCH_MAX_PHASES];   /* [n_ph] phase seconds in that interval */
    int64_t new_frames;            /* per-frame stages (slots) computed in that interval */
    int64_t n_dets;
} bench_rec;

/* The records of a run and the runner's cumulative counters at the previous detection. */
typedef struct bench_log {
    int n_ph;                      /* phases per record (<= BENCH_MAX_PHASES) */
    bench_rec *recs;               /* [n] */
    int64_t n, cap;
    double t_last;                 /* wall clock at the previous detection (or the run's start) */
    double ph_last[BENCH_MAX_PHASES];
    int64_t frames_last;
} bench_log;

/* Append the interval ending at time t: phase deltas of the cumulative ph[n_ph], new frames from
 * the cumulative count `frames`. NULL when out of memory. */
static inline bench_rec *bench_log_push(bench_log *l, int64_t index, double t, const double *ph, int64_t frames,
                                        int64_t n_dets) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->recs = realloc(l->recs, (size_t)l->cap * sizeof *l->recs);
        if (!l->recs) return NULL;
    }
    bench_rec *k = &l->recs[l->n++];
    k->frame = index;
    k->wall = t - l->t_last;
    for (int i = 0; i < l->n_ph; i++) k->ph[i] = ph[i] - l->ph_last[i], l->ph_last[i] = ph[i];
    k->new_frames = frames - l->frames_last;
    l->frames_last = frames;
    k->n_dets = n_dets;
    return k;
}

/* Median and mean of records [from..n) of phase f (f < 0: wall). */
static inline void bench_summarize(const bench_log *l, int64_t from, int f, double *med, double *mean) {
    int64_t m = l->n - from > 0 ? l->n - from : 0;
    double *v = malloc((size_t)(m > 0 ? m : 1) * sizeof *v);
    if (!v) abort();
    for (int64_t i = 0; i < m; i++) v[i] = f < 0 ? l->recs[from + i].wall : l->recs[from + i].ph[f];
    bench_median_mean(v, m, med, mean);
    free(v);
}

/* The rows of the phase table (labels[n_ph]; median / mean over all records and over 2..) and the
 * wall row labelled wall_label; *med_all / *med_steady: the wall medians. */
static inline void bench_print_phase_table(const bench_log *l, const char *const *labels, const char *wall_label,
                                           double *med_all, double *med_steady) {
    double med, mean, med2, mean2;
    for (int f = 0; f < l->n_ph; f++) {
        bench_summarize(l, 0, f, &med, &mean);
        bench_summarize(l, 1, f, &med2, &mean2);
        printf("| %s | %.4f | %.4f | %.4f | %.4f |\n", labels[f], med, mean, med2, mean2);
    }
    bench_summarize(l, 0, -1, &med, &mean);
    bench_summarize(l, 1, -1, &med2, &mean2);
    printf("| **%s** | **%.4f** | %.4f | **%.4f** | %.4f |\n", wall_label, med, mean, med2, mean2);
    *med_all = med;
    *med_steady = med2;
}

/* Text dump of one detected frame: "F cls score x1 y1 x2 y2" per detection. */
static inline void bench_dump_dets(FILE *f, int64_t index, const selsa_detection *dets, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const selsa_detection *q = &dets[i];
        fprintf(f, "%lld %d %.9g %.17g %.17g %.17g %.17g\n", (long long)index, q->cls, q->score, q->x1, q->y1,
                q->x2, q->y2);
    }
}

/* Raw dump of one detected frame: i32 index, a->n, b->c; then the f32 data of a, b and c. */
static inline void bench_dump_raw(FILE *f, int64_t index, const selsa_tensor *a, const selsa_tensor *b,
                                  const selsa_tensor *c) {
    int32_t hdr[3] = {(int32_t)index, (int32_t)a->n, (int32_t)b->c};
    fwrite(hdr, sizeof hdr, 1, f);
    fwrite(a->data, sizeof(float), (size_t)selsa_tensor_numel(a), f);
    fwrite(b->data, sizeof(float), (size_t)selsa_tensor_numel(b), f);
    fwrite(c->data, sizeof(float), (size_t)selsa_tensor_numel(c), f);
}

/* The memory line of the video drivers. */
static inline void bench_print_memory(long rss_after_load, bool reset_ok, long hwm_loop, long rss_end) {
    printf("\nmemory: ru_maxrss %ld kB (%.1f MiB; includes loading), RSS after load+reserve %ld kB, "
           "peak RSS of the video loop (VmHWM after reset%s) %ld kB (%.1f MiB), RSS at end %ld kB\n",
           bench_maxrss_kb(), bench_maxrss_kb() / 1024.0, rss_after_load, reset_ok ? "" : " FAILED: whole-process peak",
           hwm_loop, hwm_loop / 1024.0, rss_end);
}

/* Per-record TSV (columns: idx_col, frame, wall, new_col, n_dets, the phases by names[n_ph]);
 * nothing when path is NULL or cannot be written. */
static inline void bench_write_tsv(const char *path, const char *idx_col, const char *new_col, const bench_log *l,
                                   const char *const *names) {
    if (!path) return;
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "%s\tframe\twall\t%s\tn_dets", idx_col, new_col);
    for (int p = 0; p < l->n_ph; p++) fprintf(f, "\t%s", names[p]);
    fprintf(f, "\n");
    for (int64_t i = 0; i < l->n; i++) {
        const bench_rec *k = &l->recs[i];
        fprintf(f, "%lld\t%lld\t%.5f\t%lld\t%lld", (long long)i, (long long)k->frame, k->wall,
                (long long)k->new_frames, (long long)k->n_dets);
        for (int p = 0; p < l->n_ph; p++) fprintf(f, "\t%.5f", k->ph[p]);
        fprintf(f, "\n");
    }
    fclose(f);
}

#endif
