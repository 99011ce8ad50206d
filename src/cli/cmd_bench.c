/* selsa bench: inference speed of a detector on this machine, as an honest, reproducible report.
 *
 * What runs: the model's real test schedule over a short clip —
 *   official family   the §9 window schedule (window 2K+1, every frame's per-frame stage computed
 *                     once, one window stage per key frame), frames visited in temporal order
 *                     (`selsa detect`'s order; `selsa test`'s shuffled order costs the same:
 *                     one per-frame stage and one window stage per key frame either way);
 *   MMTracking family test_with_adaptive_stride (n_ref reference frames spread over the clip,
 *                     computed at the start of every run), or the online ring with --online.
 * The clip is --frames frames of --input (a video file, frame folder or image list) or of a
 * synthetic clip made with the selsa synth generator (seeded) at the model's test scale. All
 * frames are decoded into memory before timing, so file decoding is excluded; the resize and
 * normalisation every frame goes through are included (phase "decode").
 *
 * Timing: the whole schedule is run --warmup times untimed, then --runs times, each run timed
 * with CLOCK_MONOTONIC. Per run: seconds per key frame = run time / key frames detected (all the
 * schedule's work included, e.g. the adaptive reference frames), frames/s = key frames / run
 * time, latency to the first detection, CPU use = (user + system CPU time) / wall time, and the
 * runner's per-phase seconds. The report gives median, min and max over the runs.
 * Memory: ru_maxrss (whole process: weight loading included) and the peak RSS of the timed runs
 * alone (VmHWM after resetting it through /proc/self/clear_refs; omitted where that fails).
 *
 * Without -m the weights are freshly initialised (seeded, as `selsa init-weights`): the
 * computation is the same as with trained weights except the post-processing, whose cost
 * depends on how many boxes pass the score threshold; the report says so. */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "selsa/context.h"
#include "cli.h"
#include "selsa/fileio.h"
#include "selsa/frames.h"
#include "selsa/json.h"
#include "selsa/rng.h"
#include "selsa/selsa.h"
#include "selsa/synth.h"

enum { DEFAULT_FRAMES = 12, DEFAULT_WARMUP = 1, DEFAULT_RUNS = 3, MAX_RUNS = 10000, MAX_PHASES = 8 };

static void usage(void) {
    printf("usage: selsa bench [--preset NAME | --cfg FILE.yaml [--set K=V]...] [-m WEIGHTS]\n"
           "                   [--input VIDEO|FOLDER|LIST] [--size WxH] [--frames N] [--warmup N]\n"
           "                   [--runs N] [--threads N] [--json FILE] [--quiet]\n\n"
           "Measures the inference speed of a detector on this machine: runs the model's test\n"
           "schedule (official: the 2K+1-frame window, one window per key frame; MMTracking: the\n"
           "adaptive-stride references) over a clip --warmup times untimed, then --runs times timed,\n"
           "and reports seconds per key frame and frames/s (median, min, max over the runs), latency\n"
           "to the first detection, CPU use, a per-phase breakdown, peak memory, the machine (CPU,\n"
           "cores, BLAS, threads, load) and the model (family, depth, parameters).\n\n"
           "options (defaults in brackets):\n"
           "  --preset NAME         architecture: r101, r50, tiny, *-baseline (official family);\n"
           "                        mmtrack-r50, mmtrack-r101, mmtrack-x101, mmtrack-tiny[-x]\n"
           "                        [r101, or from the weights' content with -m]\n"
           "  --cfg FILE.yaml       architecture and test parameters from a configuration file\n"
           "  --set KEY=VALUE       override a configuration key (repeatable; needs --cfg)\n"
           "  -m, --model FILE      weights (.params or .pth, by content) [freshly initialised,\n"
           "                        seeded: same computation, untrained detections]\n"
           "  --input PATH          a video file, frame folder or image list; its first N frames\n"
           "                        [a synthetic clip from the selsa synth generator]\n"
           "  --size WxH            size of the synthetic clip [the model's test scale, e.g.\n"
           "                        1000x600 for r101]\n"
           "  --frames N            key frames per run [%d]; all frames are decoded into memory\n"
           "                        first, so file decoding is not timed\n"
           "  --warmup N            untimed runs first [%d]\n"
           "  --runs N              timed runs [%d]\n"
           "  --key-interval K      official family: window 2K+1 [the preset's]\n"
           "  --online              MMTracking family: the online schedule (past frames only)\n"
           "  --seed N              seed of the fresh weights and the synthetic clip [0]\n"
           "  --threads N           compute threads [all cores]\n"
           "  --json FILE           also write the numbers as JSON (written atomically)\n"
           "  -q, --quiet           no progress line and no informational messages (the report\n"
           "                        is still printed)\n\n"
           "Seconds per key frame = run time / frames detected: everything the schedule does is\n"
           "included (MMTracking's adaptive schedule computes its reference frames at the start of\n"
           "each run, so short clips pay more per frame than long videos).\n"
           "Timings are honest only on an otherwise idle machine: the CPU time other processes used\n"
           "during the timed runs is reported (from /proc/stat), with the load average.\n\n"
           "exit codes: 0 ok, 2 usage, 3 input unreadable or JSON not writable, 4 weights\n"
           "unreadable or mismatched, 5 internal\n",
           DEFAULT_FRAMES, DEFAULT_WARMUP, DEFAULT_RUNS);
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

static long maxrss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Reset the kernel's peak-RSS counter (VmHWM) to the current RSS. 1 on success. */
static int reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return 0;
    int ok = fputs("5", f) >= 0;
    return (fclose(f) == 0) && ok;
}

/* "model name" of /proc/cpuinfo (first CPU), or "unknown CPU". */
static void cpu_model(char *out, size_t n) {
    snprintf(out, n, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10)) continue;
        const char *c = strchr(line, ':');
        if (!c) continue;
        c++;
        while (*c == ' ' || *c == '\t') c++;
        size_t len = strcspn(c, "\n");
        while (len > 0 && c[len - 1] == ' ') len--;
        snprintf(out, n, "%.*s", (int)len, c);
        break;
    }
    fclose(f);
}

/* Busy CPU seconds of the whole machine so far (all CPUs, /proc/stat: user, nice, system, irq,
 * softirq, steal), or -1 if unreadable. */
static double machine_busy_s(void) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7]);
    fclose(f);
    long tck = sysconf(_SC_CLK_TCK);
    if (n < 8 || tck <= 0) return -1;
    /* v: user nice system idle iowait irq softirq steal */
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)tck;
}

static double loadavg1(void) {
    double l[1];
    return getloadavg(l, 1) == 1 ? l[0] : -1.0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct stat3 {
    double median, min, max;
} stat3;

/* Median (mean of the middle two for an even count), min and max of v[0..n) (n >= 1). */
static stat3 stats_of(const double *v, int n) {
    double *s = malloc((size_t)n * sizeof *s);
    stat3 r = {0, 0, 0};
    if (!s) return r;
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    r.median = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    r.min = s[0], r.max = s[n - 1];
    free(s);
    return r;
}

/* ------------------------------------------------------------------ the clip --------------- */

typedef struct clip {
    selsa_image *frames; /* [n] decoded BGR frames, held for the whole benchmark */
    int64_t n;
    int max_h, max_w;    /* largest frame, for the runners' reserve */
    size_t bytes;
} clip;

static void clip_free(clip *c) {
    for (int64_t i = 0; i < c->n; i++) selsa_image_free(&c->frames[i]);
    free(c->frames);
    memset(c, 0, sizeof *c);
}

/* Decode the first `want` frames of `path` into memory (fewer if it has fewer). */
static selsa_status clip_load(clip *c, const char *path, int64_t want) {
    selsa_frame_source *fs;
    SELSA_TRY(selsa_frames_open(path, &fs));
    selsa_status s = SELSA_OK;
    c->frames = calloc((size_t)want, sizeof *c->frames);
    if (!c->frames) s = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "frames of '%s'", path);
    while (s == SELSA_OK && c->n < want) {
        int64_t idx = -1;
        s = selsa_frames_next(fs, &c->frames[c->n], &idx);
        if (s != SELSA_OK || idx < 0) break;
        const selsa_image *im = &c->frames[c->n];
        if (im->h > c->max_h) c->max_h = im->h;
        if (im->w > c->max_w) c->max_w = im->w;
        c->bytes += (size_t)im->h * (size_t)im->w * 3;
        c->n++;
    }
    selsa_frames_close(fs);
    if (s == SELSA_OK && c->n == 0) s = selsa_error(SELSA_ERR_FORMAT, "'%s' holds no frames", path);
    return s;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path) != 0 ? -1 : 0;
}

/* A synthetic clip of n frames w×h: one val video of the selsa synth generator written to a
 * temporary folder, decoded into memory, the folder removed. */
static selsa_status clip_synth(clip *c, int w, int h, int64_t n, uint64_t seed, char *tmp_used, size_t tmp_n) {
    const char *base = getenv("TMPDIR");
    char root[4096];
    snprintf(root, sizeof root, "%s/selsa_bench_XXXXXX", base && base[0] ? base : "/tmp");
    if (!mkdtemp(root))
        return selsa_error(SELSA_ERR_IO, "cannot create a temporary folder '%s' for the synthetic clip: %s "
                                         "(set TMPDIR to a writable folder)", root, strerror(errno));
    snprintf(tmp_used, tmp_n, "%s", root);
    selsa_synth_config sc = selsa_synth_config_default();
    sc.seed = seed;
    sc.root = root;
    sc.width = w, sc.height = h;
    sc.n_train_videos = 0, sc.n_val_videos = 1;
    sc.min_frames = sc.max_frames = (int)n;
    sc.n_det_images = 0;
    selsa_status s = selsa_synth_config_check(&sc);
    if (s == SELSA_OK) s = selsa_synth_generate(&sc, NULL);
    if (s == SELSA_OK) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/Data/VID/val/ILSVRC2015_val_00000000", root);
        s = clip_load(c, dir, n);
    }
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS); /* our own temporary folder */
    return s;
}

/* ------------------------------------------------------------------ fresh weights --------- */

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* MMTracking state dict with fresh weights: the library's mmdet-style initialisation. */
static selsa_status mmtrack_fresh_weights(const selsa_mmtrack_config *c, uint64_t seed, selsa_weights *w) {
    return selsa_mmtrack_init_weights(c, seed, NULL, w);
}

/* Learnable parameters (BN running statistics and counters excluded). */
static void count_official(void *user, const char *name, selsa_weight_kind kind, int ndim, const int64_t *dims) {
    (void)name;
    if (kind == SELSA_WEIGHT_AUX) return;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= dims[i];
    *(int64_t *)user += n;
}

static void count_mmtrack(void *user, const char *name, int ndim, const int64_t *dims) {
    if (ndim == 0 || ends_with(name, ".running_mean") || ends_with(name, ".running_var")) return;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= dims[i];
    *(int64_t *)user += n;
}

/* ------------------------------------------------------------------ the runs --------------- */

typedef struct bench_run {
    const clip *clip;
    double t0, t_first;  /* run start; first detection (-1: none yet) */
    int64_t detected;
    int64_t boxes;       /* detections output over the run */
} bench_run;

static selsa_status read_clip(void *user, int64_t index, selsa_image *img) {
    const bench_run *b = user;
    if (index < 0 || index >= b->clip->n)
        return selsa_error(SELSA_ERR_INTERNAL, "bench: frame %lld asked for (the clip has %lld)", (long long)index,
                           (long long)b->clip->n);
    const selsa_image *src = &b->clip->frames[index];
    SELSA_TRY(selsa_image_alloc(img, src->h, src->w));
    memcpy(img->data, src->data, (size_t)src->h * (size_t)src->w * 3);
    return SELSA_OK;
}

static void on_any(bench_run *b, int64_t n_dets) {
    if (b->detected++ == 0) b->t_first = selsa_monotonic_seconds();
    b->boxes += n_dets;
}

static selsa_status on_official(void *user, int64_t index, const int64_t *window, int T,
                                const selsa_official_result *res) {
    (void)index, (void)window, (void)T;
    on_any(user, res->n_dets);
    return SELSA_OK;
}

static selsa_status on_mmtrack(void *user, int64_t index, const selsa_mmtrack_result *res) {
    (void)index;
    on_any(user, res->n_dets);
    return SELSA_OK;
}

/* What one timed run measured. */
typedef struct run_rec {
    double wall, cpu, first;
    double phase[MAX_PHASES];
    int64_t detected, stages, boxes;
} run_rec;

typedef struct bench_model {
    selsa_model_family family;
    selsa_official_runner *orun;
    selsa_mmtrack_runner *mrun;
    int online;
    int n_phases;
    const char *phase_names[MAX_PHASES];
} bench_model;

static selsa_status run_once(bench_model *bm, const clip *c, run_rec *rec) {
    bench_run b = {.clip = c, .t_first = -1};
    selsa_status s;
    double cpu0 = cpu_s();
    if (bm->family == SELSA_FAMILY_OFFICIAL) {
        selsa_official_runner_reset_stats(bm->orun);
        selsa_official_schedule_opts o = {.perm = NULL, .temporal_order = true, .seed = 0, .uncached = false};
        b.t0 = selsa_monotonic_seconds();
        s = selsa_official_run_video(bm->orun, c->n, &o, read_clip, &b, on_official, &b);
    } else {
        selsa_mmtrack_runner_reset_stats(bm->mrun);
        selsa_mmtrack_schedule_opts o = {.mode = bm->online ? SELSA_MMTRACK_ONLINE : SELSA_MMTRACK_ADAPTIVE};
        b.t0 = selsa_monotonic_seconds();
        s = selsa_mmtrack_run_video(bm->mrun, c->n, &o, read_clip, &b, on_mmtrack, &b);
    }
    double t1 = selsa_monotonic_seconds();
    rec->cpu = cpu_s() - cpu0;
    SELSA_TRY(s);
    if (b.detected != c->n)
        return selsa_error(SELSA_ERR_INTERNAL, "bench: the schedule detected %lld of %lld frames", (long long)b.detected,
                           (long long)c->n);
    rec->wall = t1 - b.t0;
    rec->first = b.t_first - b.t0;
    rec->detected = b.detected;
    rec->boxes = b.boxes;
    memset(rec->phase, 0, sizeof rec->phase);
    if (bm->family == SELSA_FAMILY_OFFICIAL) {
        const selsa_official_stats *st = selsa_official_runner_stats(bm->orun);
        const double v[7] = {st->decode, st->backbone, st->res5, st->rpn, st->head, st->aggregation, st->post};
        memcpy(rec->phase, v, sizeof v);
        rec->stages = st->frames;
    } else {
        const selsa_mmtrack_stats *st = selsa_mmtrack_runner_stats(bm->mrun);
        const double v[6] = {st->decode, st->backbone, st->neck_rpn, st->head, st->aggregation, st->post};
        memcpy(rec->phase, v, sizeof v);
        rec->stages = st->frames;
    }
    double sum = 0;
    for (int p = 0; p < bm->n_phases - 1; p++) sum += rec->phase[p];
    rec->phase[bm->n_phases - 1] = rec->wall - sum > 0 ? rec->wall - sum : 0; /* "other" */
    return SELSA_OK;
}

/* ------------------------------------------------------------------ report ----------------- */

typedef struct report {
    /* context */
    char when[32], cpu[256], command[2048];
    int cores, threads, threads_asked;
    double load_start, load_end;
    double other_cpu;              /* cores used by other processes during the timed runs (< 0: unknown) */
    const char *blas;
    /* model */
    const char *family, *arch;     /* "official" / "mmtracking"; preset name or cfg path */
    int depth, groups, selsa;
    int64_t params;
    size_t param_bytes, runner_bytes;
    const char *weights;           /* path, or NULL = fresh */
    unsigned long long seed;
    double load_s;
    /* input */
    const char *input;             /* path or NULL = synthetic */
    int64_t frames, frames_asked;
    int width, height, mixed_sizes;
    size_t clip_bytes;
    /* schedule */
    char schedule[256];
    int warmup, runs;
    /* results */
    stat3 per_key, fps, first, cpu_use;
    double phase_med[MAX_PHASES];
    int n_phases;
    const char *const *phase_names;
    int64_t stages, boxes;
    const run_rec *recs;
    long maxrss_kb, runs_peak_kb;  /* runs_peak_kb < 0: not measured */
} report;

static int jnum(FILE *f, double v) {
    char b[SELSA_JSON_DOUBLE_BUF];
    selsa_json_format_double(b, v);
    return fputs(b, f);
}

static int jstr(FILE *f, const char *s) {
    if (!s) return fputs("null", f);
    return selsa_json_write_string(f, s, strlen(s));
}

static void jstat(FILE *f, const char *key, stat3 s) {
    fprintf(f, "    \"%s\": {\"median\": ", key);
    jnum(f, s.median);
    fputs(", \"min\": ", f);
    jnum(f, s.min);
    fputs(", \"max\": ", f);
    jnum(f, s.max);
    fputs("}", f);
}

static int write_json(FILE *f, const void *user) {
    const report *r = user;
    fputs("{\n  \"selsa_version\": ", f);
    jstr(f, SELSA_VERSION_STRING);
    fputs(",\n  \"command\": ", f);
    jstr(f, r->command);
    fputs(",\n  \"timestamp_utc\": ", f);
    jstr(f, r->when);
    fputs(",\n  \"machine\": {\"cpu\": ", f);
    jstr(f, r->cpu);
    fprintf(f, ", \"cores\": %d, \"threads\": %d, \"blas\": ", r->cores, r->threads);
    jstr(f, r->blas);
    fputs(", \"load_average_start\": ", f);
    jnum(f, r->load_start);
    fputs(", \"load_average_end\": ", f);
    jnum(f, r->load_end);
    fputs(", \"other_processes_cpu_use\": ", f);
    if (r->other_cpu >= 0) jnum(f, r->other_cpu);
    else fputs("null", f);
    fputs("},\n  \"model\": {\"family\": ", f);
    jstr(f, r->family);
    fputs(", \"architecture\": ", f);
    jstr(f, r->arch);
    fprintf(f, ", \"depth\": %d, \"groups\": %d, \"selsa\": %s, \"params\": %lld, \"param_bytes\": %zu, \"weights\": ",
            r->depth, r->groups, r->selsa ? "true" : "false", (long long)r->params, r->param_bytes);
    jstr(f, r->weights ? r->weights : "fresh");
    fprintf(f, ", \"seed\": %llu, \"load_s\": ", r->seed);
    jnum(f, r->load_s);
    fputs("},\n  \"input\": {\"source\": ", f);
    jstr(f, r->input ? r->input : "synthetic");
    fprintf(f, ", \"frames\": %lld, \"width\": %d, \"height\": %d, \"same_size\": %s, \"bytes\": %zu},\n",
            (long long)r->frames, r->width, r->height, r->mixed_sizes ? "false" : "true", r->clip_bytes);
    fputs("  \"schedule\": ", f);
    jstr(f, r->schedule);
    fprintf(f, ",\n  \"warmup\": %d,\n  \"runs\": %d,\n  \"key_frames_per_run\": %lld,\n"
               "  \"frame_stages_per_run\": %lld,\n  \"detections_per_run\": %lld,\n  \"results\": {\n",
            r->warmup, r->runs, (long long)r->frames, (long long)r->stages, (long long)r->boxes);
    jstat(f, "seconds_per_key_frame", r->per_key);
    fputs(",\n", f);
    jstat(f, "frames_per_second", r->fps);
    fputs(",\n", f);
    jstat(f, "first_detection_seconds", r->first);
    fputs(",\n", f);
    jstat(f, "cpu_use", r->cpu_use);
    fputs(",\n    \"run_seconds\": [", f);
    for (int i = 0; i < r->runs; i++) {
        if (i) fputs(", ", f);
        jnum(f, r->recs[i].wall);
    }
    fputs("],\n    \"phase_seconds_per_key_frame\": {", f);
    for (int p = 0; p < r->n_phases; p++) {
        fprintf(f, "%s\"%s\": ", p ? ", " : "", r->phase_names[p]);
        jnum(f, r->phase_med[p]);
    }
    fprintf(f, "}\n  },\n  \"memory\": {\"peak_rss_bytes\": %lld, \"peak_rss_runs_bytes\": ", (long long)r->maxrss_kb * 1024);
    if (r->runs_peak_kb >= 0) fprintf(f, "%lld", (long long)r->runs_peak_kb * 1024);
    else fputs("null", f);
    fprintf(f, ", \"model_bytes\": %zu, \"runner_bytes\": %zu, \"clip_bytes\": %zu}\n}\n", r->param_bytes,
            r->runner_bytes, r->clip_bytes);
    return ferror(f) ? -1 : 0;
}

static void print_report(const report *r) {
    const double MiB = 1048576.0;
    printf("selsa bench (selsa %s, %s)\n", SELSA_VERSION_STRING, r->when);
    printf("machine:   %s, %d cores, %d thread%s", r->cpu, r->cores, r->threads, r->threads == 1 ? "" : "s");
    if (r->threads_asked > r->cores) printf(" (asked for %d: clamped to the cores)", r->threads_asked);
    printf("\nblas:      %s\n", r->blas);
    if (r->load_start >= 0)
        printf("load:      %.2f before the runs, %.2f after (1-minute load average, this process included)\n",
               r->load_start, r->load_end);
    if (r->other_cpu >= 0)
        printf("others:    %.2f cores used by other processes during the timed runs\n", r->other_cpu);
    printf("model:     %s %s, depth %d%s%s, %.2f M parameters (%.1f MiB loaded, BN folded)\n", r->family, r->arch,
           r->depth, r->groups > 1 ? ", ResNeXt" : "", r->selsa ? "" : ", single-frame baseline", r->params / 1e6,
           r->param_bytes / MiB);
    if (r->weights) printf("weights:   %s (loaded in %.2f s)\n", r->weights, r->load_s);
    else
        printf("weights:   freshly initialised (seed %llu), not trained: the same computation as a trained\n"
               "           model except the post-processing, whose cost depends on the boxes kept\n", r->seed);
    if (r->input)
        printf("input:     %s: %lld frames%s, %dx%d%s\n", r->input, (long long)r->frames,
               r->frames < r->frames_asked ? " (all it has)" : "", r->width, r->height,
               r->mixed_sizes ? " (largest; sizes differ)" : "");
    else
        printf("input:     synthetic clip (selsa synth generator, seed %llu): %lld frames, %dx%d\n", r->seed,
               (long long)r->frames, r->width, r->height);
    printf("           decoded into memory before timing (%.1f MiB); resize + normalisation are timed\n",
           r->clip_bytes / MiB);
    printf("schedule:  %s\n", r->schedule);
    printf("runs:      %d timed after %d warm-up; %lld key frames, %lld frame stages, %.1f detections/frame per run\n\n",
           r->runs, r->warmup, (long long)r->frames, (long long)r->stages, (double)r->boxes / (double)r->frames);
    printf("                              median        min        max   (over %d run%s)\n", r->runs, r->runs == 1 ? "" : "s");
    printf("  seconds per key frame   %10.4f %10.4f %10.4f\n", r->per_key.median, r->per_key.min, r->per_key.max);
    printf("  frames per second       %10.3f %10.3f %10.3f\n", r->fps.median, r->fps.min, r->fps.max);
    printf("  first detection, s      %10.4f %10.4f %10.4f\n", r->first.median, r->first.min, r->first.max);
    printf("  CPU use (cores busy)    %10.2f %10.2f %10.2f\n\n", r->cpu_use.median, r->cpu_use.min, r->cpu_use.max);
    printf("per key frame by phase (median over runs, s):");
    for (int p = 0; p < r->n_phases; p++) printf(" %s %.4f", r->phase_names[p], r->phase_med[p]);
    printf("\nmemory:    peak RSS %.1f MiB (whole process, loading included)", r->maxrss_kb / 1024.0);
    if (r->runs_peak_kb >= 0) printf(", %.1f MiB during the timed runs", r->runs_peak_kb / 1024.0);
    printf("\n           model %.1f MiB, runner arenas %.1f MiB, clip %.1f MiB\n", r->param_bytes / MiB,
           r->runner_bytes / MiB, r->clip_bytes / MiB);
    /* honesty notes */
    if (r->per_key.median > 0 && r->runs > 1 && (r->per_key.max - r->per_key.min) / r->per_key.median > 0.10)
        printf("note: the runs differ by %.0f%% (max - min over median): the machine is noisy; use more --runs\n",
               100.0 * (r->per_key.max - r->per_key.min) / r->per_key.median);
    if (r->other_cpu > 0.1 * r->cores)
        printf("note: other processes used %.2f of %d cores during the timed runs: timings are pessimistic;\n"
               "      run on an idle machine for reference numbers\n", r->other_cpu, r->cores);
    if (r->cpu_use.median < 0.75 * r->threads && r->threads > 1 && (r->other_cpu < 0 || r->other_cpu <= 0.1 * r->cores))
        printf("note: %.2f cores busy on average of %d threads: parts of the pipeline are serial or waiting\n",
               r->cpu_use.median, r->threads);
}

/* ------------------------------------------------------------------ command ---------------- */

static int parse_long(const char *s, long lo, long hi, long *v) {
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (!*s || *end || errno || x < lo || x > hi) return 0;
    *v = x;
    return 1;
}

/* Can `path` be created (its folder exists and is writable)? */
static selsa_status check_writable(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return selsa_error(SELSA_ERR_IO, "cannot write --json '%s': folder '%s' does not exist", path, dir);
    if (access(dir, W_OK) != 0)
        return selsa_error(SELSA_ERR_IO, "cannot write --json '%s': folder '%s' is not writable", path, dir);
    return SELSA_OK;
}

int selsa_cmd_bench(int argc, char **argv) {
    if (selsa_cli_wants_help(argc, argv)) {
        usage();
        return SELSA_EXIT_OK;
    }
    const char *C = "bench";
    const char *model_path = NULL, *preset = NULL, *cfg_path = NULL, *input = NULL, *json_path = NULL;
    const char *sets[64];
    int n_sets = 0, quiet = 0, online = 0, size_w = 0, size_h = 0;
    long frames = DEFAULT_FRAMES, warmup = DEFAULT_WARMUP, runs = DEFAULT_RUNS, threads = -1, key_interval = -1;
    unsigned long long seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **target = !strcmp(a, "-m") || !strcmp(a, "--model") ? &model_path
                            : !strcmp(a, "--preset") ? &preset : !strcmp(a, "--cfg") ? &cfg_path
                            : !strcmp(a, "--input") || !strcmp(a, "-i") ? &input
                            : !strcmp(a, "--json") ? &json_path : NULL;
        long *num = !strcmp(a, "--frames") ? &frames : !strcmp(a, "--warmup") ? &warmup
                  : !strcmp(a, "--runs") ? &runs : !strcmp(a, "--threads") ? &threads
                  : !strcmp(a, "--key-interval") ? &key_interval : NULL;
        if (target || num || !strcmp(a, "--set") || !strcmp(a, "--size") || !strcmp(a, "--seed")) {
            if (i + 1 >= argc) return selsa_cli_usage_error(C, "%s needs a value", a);
        }
        if (target) {
            *target = argv[++i];
        } else if (num) {
            const char *v = argv[++i];
            long lo = num == &frames || num == &runs ? 1 : 0;
            long hi = num == &frames ? 100000 : num == &runs || num == &warmup ? MAX_RUNS : 4096;
            if (!parse_long(v, lo, hi, num))
                return selsa_cli_usage_error(C, "bad value '%s' for %s (an integer in %ld..%ld)", v, a, lo, hi);
        } else if (!strcmp(a, "--set")) {
            if (n_sets == 64) return selsa_cli_usage_error(C, "too many --set options (64 at most)");
            sets[n_sets++] = argv[++i];
        } else if (!strcmp(a, "--size")) {
            const char *v = argv[++i];
            char *x = strchr(v, 'x');
            long w, h;
            char wb[32];
            if (!x || x - v >= (long)sizeof wb) return selsa_cli_usage_error(C, "bad --size '%s' (want WxH, e.g. 1000x600)", v);
            snprintf(wb, sizeof wb, "%.*s", (int)(x - v), v);
            if (!parse_long(wb, 64, 4096, &w) || !parse_long(x + 1, 64, 4096, &h))
                return selsa_cli_usage_error(C, "bad --size '%s' (want WxH, each side 64..4096)", v);
            size_w = (int)w, size_h = (int)h;
        } else if (!strcmp(a, "--seed")) {
            const char *v = argv[++i];
            char *end;
            errno = 0;
            seed = strtoull(v, &end, 10);
            if (!*v || *end || errno || v[0] == '-') return selsa_cli_usage_error(C, "bad --seed '%s'", v);
        } else if (!strcmp(a, "--online")) online = 1;
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) quiet = 1;
        else if (a[0] == '-') return selsa_cli_usage_error(C, "unknown option '%s'", a);
        else return selsa_cli_usage_error(C, "unexpected argument '%s' (the input is given with --input)", a);
    }
    if (input && size_w) return selsa_cli_usage_error(C, "--size sets the synthetic clip's size; with --input the frames keep "
                                                         "their own size (the model resizes them to its test scale)");
    if (json_path) {
        selsa_status js = check_writable(json_path);
        if (js != SELSA_OK) return selsa_cli_fail(C, js, SELSA_EXIT_INPUT);
    }
    selsa_cli_install_logger(quiet);

    report r;
    memset(&r, 0, sizeof r);
    {
        size_t off = 0;
        for (int i = -1; i < argc && off < sizeof r.command; i++)
            off += (size_t)snprintf(r.command + off, sizeof r.command - off, "%s%s", i < 0 ? "selsa" : " ",
                                    i < 0 ? "" : argv[i]);
    }
    selsa_cli_model m;
    memset(&m, 0, sizeof m);
    int rc = selsa_cli_model_arch(C, &m, cfg_path, sets, n_sets, preset);
    if (rc != SELSA_EXIT_OK) return rc;
    if (!m.family_known && !model_path) { /* the default architecture: the paper's R101 */
        selsa_cli_official_preset("r101", &m.ocfg);
        m.family = SELSA_FAMILY_OFFICIAL;
        m.family_known = 1;
        preset = "r101";
    }
    if (threads < 0) threads = m.cfg_threads;
    if (m.cfg_online) online = 1;
    if (key_interval >= 0) m.set_key_interval = 1, m.key_interval = (int)key_interval;

    clip cl;
    memset(&cl, 0, sizeof cl);
    selsa_ctx ctx;
    int have_ctx = 0;
    bench_model bm;
    memset(&bm, 0, sizeof bm);
    run_rec *recs = NULL;
    selsa_status s;

    /* the input first: a wrong path is reported before the (possibly long) model load */
    if (input) {
        s = clip_load(&cl, input, frames);
        if (s != SELSA_OK) {
            rc = selsa_cli_fail(C, s, SELSA_EXIT_INPUT);
            goto done;
        }
    }

    s = selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, 0, (int)threads);
    if (s != SELSA_OK) {
        rc = selsa_cli_fail(C, s, SELSA_EXIT_INTERNAL);
        goto done;
    }
    have_ctx = 1;

    /* the model: the given weights, or fresh ones */
    double t_load = selsa_monotonic_seconds();
    if (model_path) {
        rc = selsa_cli_model_load(C, &m, model_path);
        if (rc != SELSA_EXIT_OK) goto done;
    } else {
        selsa_weights w;
        selsa_weights_init(&w);
        if (m.family == SELSA_FAMILY_OFFICIAL) {
            if (m.set_key_interval) m.ocfg.key_interval = m.key_interval;
            s = selsa_official_init_weights(&m.ocfg, seed, &w);
            if (s == SELSA_OK) s = selsa_official_model_load(&m.om, &m.ocfg, &w, "fresh weights");
        } else {
            s = mmtrack_fresh_weights(&m.mcfg, seed, &w);
            if (s == SELSA_OK) s = selsa_mmtrack_model_load(&m.mm, &m.mcfg, &w, "fresh weights");
        }
        selsa_weights_free(&w);
        if (s != SELSA_OK) {
            rc = selsa_cli_fail(C, s, SELSA_EXIT_INTERNAL);
            goto done;
        }
    }
    r.load_s = selsa_monotonic_seconds() - t_load;
    if (m.family == SELSA_FAMILY_OFFICIAL && online) {
        rc = selsa_cli_usage_error(C, "--online applies to the MMTracking family only");
        goto done;
    }
    if (m.family == SELSA_FAMILY_MMTRACK && key_interval >= 0) {
        rc = selsa_cli_usage_error(C, "--key-interval applies to the official family only");
        goto done;
    }

    /* the model's description and its test scale */
    int scale_long, scale_short;
    if (m.family == SELSA_FAMILY_OFFICIAL) {
        const selsa_official_config *oc = selsa_official_model_config(m.om);
        r.family = "official";
        r.depth = oc->depth, r.groups = 1, r.selsa = oc->selsa;
        if (r.depth <= 0) r.depth = 3 * (oc->units[0] + oc->units[1] + oc->units[2] + oc->units[3]) + 2;
        selsa_official_enum_params(oc, count_official, &r.params);
        r.param_bytes = selsa_official_model_param_bytes(m.om);
        scale_long = oc->scale_long, scale_short = oc->scale_short;
        snprintf(r.schedule, sizeof r.schedule,
                 "official %s test schedule, K = %d (%d-frame window), temporal order: one per-frame stage and "
                 "one window stage per key frame",
                 oc->selsa ? "SELSA" : "single-frame baseline", oc->key_interval, 2 * oc->key_interval + 1);
        bm.n_phases = 8;
        const char *names[8] = {"decode", "backbone", "res5", "rpn", "head", "aggregation", "post", "other"};
        memcpy(bm.phase_names, names, sizeof names);
    } else {
        const selsa_mmtrack_config *mc = selsa_mmtrack_model_config(m.mm);
        r.family = "mmtracking";
        r.depth = mc->depth, r.groups = mc->groups, r.selsa = 1;
        if (r.depth <= 0) r.depth = 3 * (mc->blocks[0] + mc->blocks[1] + mc->blocks[2] + mc->blocks[3]) + 2;
        selsa_mmtrack_enum_params(mc, count_mmtrack, &r.params);
        r.param_bytes = selsa_mmtrack_model_param_bytes(m.mm);
        scale_long = mc->scale_long, scale_short = mc->scale_short;
        if (online)
            snprintf(r.schedule, sizeof r.schedule,
                     "MMTracking online: a ring of the %d most recent frames sampled every %d (past frames only)",
                     mc->online_ring, mc->online_stride);
        else
            snprintf(r.schedule, sizeof r.schedule,
                     "MMTracking test_with_adaptive_stride: %d reference frames spread over the clip, computed at "
                     "the start of each run",
                     mc->n_ref);
        bm.n_phases = 7;
        const char *names[7] = {"decode", "backbone", "neck_rpn", "head", "aggregation", "post", "other"};
        memcpy(bm.phase_names, names, sizeof names);
    }
    r.arch = preset ? preset : cfg_path ? cfg_path : "(from the weights)";
    bm.family = m.family;
    bm.online = online;

    /* the synthetic clip, at the model's test scale unless --size */
    if (!input) {
        int w = size_w ? size_w : scale_long, h = size_w ? size_h : scale_short;
        if (w < 64) w = 64; /* the generator's minimum */
        if (h < 64) h = 64;
        char tmp[4096] = "";
        if (!quiet && isatty(fileno(stderr))) fprintf(stderr, "generating a %ldx%dx%d synthetic clip ...", frames, w, h);
        s = clip_synth(&cl, w, h, frames, seed, tmp, sizeof tmp);
        if (!quiet && isatty(fileno(stderr))) fprintf(stderr, "\r\033[K");
        if (s != SELSA_OK) {
            rc = selsa_cli_fail(C, s, SELSA_EXIT_INPUT);
            goto done;
        }
    }
    r.frames = cl.n, r.frames_asked = frames, r.width = cl.max_w, r.height = cl.max_h, r.clip_bytes = cl.bytes;
    for (int64_t i = 0; i < cl.n; i++)
        if (cl.frames[i].h != cl.max_h || cl.frames[i].w != cl.max_w) r.mixed_sizes = 1;

    /* the runner, sized for the largest frame before anything is timed */
    if (m.family == SELSA_FAMILY_OFFICIAL) {
        s = selsa_official_runner_create(&bm.orun, m.om, &ctx);
        if (s == SELSA_OK) s = selsa_official_runner_reserve(bm.orun, cl.max_h, cl.max_w, false);
    } else {
        s = selsa_mmtrack_runner_create(&bm.mrun, m.mm, &ctx, 0);
        if (s == SELSA_OK) s = selsa_mmtrack_runner_reserve(bm.mrun, cl.max_h, cl.max_w, false);
    }
    if (s != SELSA_OK) {
        rc = selsa_cli_fail(C, s, SELSA_EXIT_INTERNAL);
        goto done;
    }
    r.runner_bytes = m.family == SELSA_FAMILY_OFFICIAL ? selsa_official_runner_bytes(bm.orun)
                                                       : selsa_mmtrack_runner_bytes(bm.mrun);

    /* warm-up and timed runs */
    recs = calloc((size_t)runs, sizeof *recs);
    if (!recs) {
        rc = selsa_cli_fail(C, selsa_error(SELSA_ERR_OUT_OF_MEMORY, "bench: %ld run records", runs), SELSA_EXIT_INTERNAL);
        goto done;
    }
    r.load_start = loadavg1();
    const int progress = !quiet && isatty(fileno(stderr));
    run_rec scratch;
    for (long i = 0; i < warmup; i++) {
        if (progress) fprintf(stderr, "\r\033[Kwarm-up %ld/%ld ...", i + 1, warmup);
        s = run_once(&bm, &cl, &scratch);
        if (s != SELSA_OK) break;
    }
    int peak_ok = s == SELSA_OK && reset_peak_rss();
    const double busy0 = machine_busy_s(), own0 = cpu_s(), wall0 = selsa_monotonic_seconds();
    for (long i = 0; s == SELSA_OK && i < runs; i++) {
        if (progress) {
            fprintf(stderr, "\r\033[Krun %ld/%ld", i + 1, runs);
            if (i > 0) {
                double left = recs[i - 1].wall * (double)(runs - i);
                fprintf(stderr, " (last %.2f s/key frame, ETA %.0f s)", recs[i - 1].wall / (double)cl.n, left);
            }
            fprintf(stderr, " ...");
        }
        s = run_once(&bm, &cl, &recs[i]);
    }
    if (progress) fprintf(stderr, "\r\033[K");
    if (s != SELSA_OK) {
        rc = selsa_cli_fail(C, s, SELSA_EXIT_INTERNAL);
        goto done;
    }
    {
        const double busy1 = machine_busy_s(), own1 = cpu_s(), wall1 = selsa_monotonic_seconds();
        r.other_cpu = busy0 >= 0 && busy1 >= 0 && wall1 > wall0 ? ((busy1 - busy0) - (own1 - own0)) / (wall1 - wall0) : -1;
        if (busy0 >= 0 && busy1 >= 0 && r.other_cpu < 0) r.other_cpu = 0; /* clock-tick rounding */
    }
    r.runs_peak_kb = peak_ok ? selsa_proc_status_kb("VmHWM") : -1;
    r.maxrss_kb = maxrss_kb();
    if (r.runs_peak_kb > r.maxrss_kb) r.maxrss_kb = r.runs_peak_kb; /* the two counters round differently */
    r.load_end = loadavg1();

    /* statistics over the runs */
    {
        double *v = malloc((size_t)runs * sizeof *v);
        if (!v) {
            rc = selsa_cli_fail(C, selsa_error(SELSA_ERR_OUT_OF_MEMORY, "bench statistics"), SELSA_EXIT_INTERNAL);
            goto done;
        }
        const int n = (int)runs;
        for (int i = 0; i < n; i++) v[i] = recs[i].wall / (double)recs[i].detected;
        r.per_key = stats_of(v, n);
        for (int i = 0; i < n; i++) v[i] = recs[i].wall > 0 ? (double)recs[i].detected / recs[i].wall : 0;
        r.fps = stats_of(v, n);
        for (int i = 0; i < n; i++) v[i] = recs[i].first;
        r.first = stats_of(v, n);
        for (int i = 0; i < n; i++) v[i] = recs[i].wall > 0 ? recs[i].cpu / recs[i].wall : 0;
        r.cpu_use = stats_of(v, n);
        for (int p = 0; p < bm.n_phases; p++) {
            for (int i = 0; i < n; i++) v[i] = recs[i].phase[p] / (double)recs[i].detected;
            r.phase_med[p] = stats_of(v, n).median;
        }
        free(v);
    }
    time_t tt = time(NULL);
    struct tm tmv;
    gmtime_r(&tt, &tmv);
    strftime(r.when, sizeof r.when, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    cpu_model(r.cpu, sizeof r.cpu);
    r.cores = selsa_cpu_cores();
    r.threads = ctx.n_threads;
    r.threads_asked = (int)threads;
    r.blas = selsa_blas_config();
    r.weights = model_path;
    r.seed = seed;
    r.input = input;
    r.warmup = (int)warmup, r.runs = (int)runs;
    r.n_phases = bm.n_phases;
    r.phase_names = bm.phase_names;
    r.stages = recs[0].stages;
    r.boxes = recs[0].boxes;
    r.recs = recs;

    print_report(&r);
    if (json_path) {
        s = selsa_file_write_stream_atomic(json_path, write_json, &r);
        if (s != SELSA_OK) {
            rc = selsa_cli_fail(C, s, SELSA_EXIT_INPUT);
            goto done;
        }
        if (!quiet) printf("json:      %s\n", json_path);
    }
    rc = SELSA_EXIT_OK;
done:
    free(recs);
    if (bm.orun) selsa_official_runner_free(bm.orun);
    if (bm.mrun) selsa_mmtrack_runner_free(bm.mrun);
    selsa_cli_model_free(&m);
    clip_free(&cl);
    if (have_ctx) selsa_ctx_free(&ctx);
    return rc;
}
