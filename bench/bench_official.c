/* selsa — benchmark driver for the official SELSA detector (official-selsa.md §0–§6, schedule §9).
 *
 * Loads a .params file, runs the official test schedule (selsa_official_run_video: cached
 * per-frame stage, window stage per key frame) over a folder of frames and reports
 *   - seconds per key frame: the wall time between consecutive detections (det callbacks); the
 *     first key frame also pays for the K+1 frames pushed before it, so medians are reported over
 *     all key frames and over key frames 2.. ("steady state": one new frame per key frame);
 *   - the same split into the runner's phases (selsa_official_stats deltas per key frame):
 *     decode, backbone (conv1..res4), res5, RPN (+ proposals), head (conv_new_1, ROIPooling,
 *     fc_new_1, Q1/K1), aggregation (window stage), post (softmax, decode, NMS);
 *   - memory: ru_maxrss, and the peak RSS of the video loop alone (VmHWM of /proc/self/status
 *     after resetting it with `echo 5 > /proc/self/clear_refs` once the model is loaded and the
 *     runner reserved), sampled every --progress frames.
 *
 * What is timed: only the schedule (selsa_official_run_video) — model loading and the runner's
 * reserve are excluded. With --key-frames n the run stops after the n-th detection (the schedule
 * itself is the full §9 schedule over the chosen frames, so windows are those of the whole
 * video); frames are decoded when first pushed, inside the timed loop.
 *
 * Frames: --frames DIR (files named .JPEG, .jpg or .png, sorted numerically by the digits of the name)
 * and --length N (use N entries, repeating the folder's frames cyclically: a long video made of
 * real frames, for the memory check).
 *
 * Usage: bench_official --params FILE --frames DIR [--preset r101|r50|tiny] [--key-interval K]
 *          [--key-frames n] [--length N] [--temporal-order | --seed S] [--threads T]
 *          [--dump FILE] [--dump-raw FILE] [--tsv FILE] [--progress N]
 *   --dump      detections per key frame as text (tests/full/compare_official_dets.py)
 *   --dump-raw  per key frame: i32 frame, R, C; f32 rois (R,5), cls_prob (R,C), bbox_pred (R,8) */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#include "selsa/context.h"
#include "selsa/model_official.h"
#include "selsa/status.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* kB value of a "Key:   123 kB" line of /proc/self/status, -1 if absent. */
static long proc_status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

static long maxrss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* ------------------------------------------------------------------ frame list ------------- */

typedef struct named {
    char *name;
    long long num; /* digits of the name, -1 if none */
} named;

static int cmp_named(const void *a, const void *b) {
    const named *x = a, *y = b;
    if (x->num != y->num) return x->num < y->num ? -1 : 1;
    return strcmp(x->name, y->name);
}

static bool is_image_name(const char *s) {
    const char *dot = strrchr(s, '.');
    return dot && (!strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".png"));
}

/* Sorted image paths of dir (numeric order of the digits in the name). */
static int list_frames(const char *dir, char ***out, int64_t *n_out) {
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "bench_official: cannot open frame folder %s\n", dir);
        return 1;
    }
    named *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_image_name(e->d_name)) continue;
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
        fprintf(stderr, "bench_official: no .JPEG/.jpg/.png frames in %s\n", dir);
        free(v);
        return 1;
    }
    qsort(v, n, sizeof *v, cmp_named);
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

/* ------------------------------------------------------------------ per key frame ---------- */

enum { PH_DECODE, PH_BACKBONE, PH_RES5, PH_RPN, PH_HEAD, PH_AGG, PH_POST, PH_N };
static const char *PH_NAME[PH_N] = {"decode", "backbone", "res5", "rpn", "head", "aggregation", "post"};

static void stats_vec(const selsa_official_stats *s, double *v) {
    v[PH_DECODE] = s->decode, v[PH_BACKBONE] = s->backbone, v[PH_RES5] = s->res5;
    v[PH_RPN] = s->rpn, v[PH_HEAD] = s->head, v[PH_AGG] = s->aggregation, v[PH_POST] = s->post;
}

typedef struct keyrec {
    int64_t frame;   /* key frame index */
    double wall;     /* seconds since the previous detection (first: since the run started) */
    double ph[PH_N]; /* phase seconds in that interval */
    int64_t new_frames;
    int64_t n_dets;
} keyrec;

typedef struct driver {
    selsa_official_runner *runner;
    int64_t max_keys;     /* stop after this many detections (0: all) */
    int64_t n_keys;
    keyrec *recs;         /* [max(n_keys)] */
    int64_t cap;
    double t_last;
    double ph_last[PH_N];
    int64_t frames_last;
    FILE *dump;
    FILE *raw;            /* per key frame: i32 frame, R, C, then f32 rois (R,5), cls_prob (R,C), bbox_pred (R,8) */
    const char *const *paths;
    int progress;
    int T;
} driver;

static selsa_status on_det(void *user, int64_t index, const int64_t *window, int T,
                           const selsa_official_result *res) {
    driver *d = user;
    double t = now();
    const selsa_official_stats *st = selsa_official_runner_stats(d->runner);
    double ph[PH_N];
    stats_vec(st, ph);
    if (d->n_keys == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 256;
        d->recs = realloc(d->recs, (size_t)d->cap * sizeof *d->recs);
        if (!d->recs) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "bench: out of memory");
    }
    keyrec *k = &d->recs[d->n_keys++];
    k->frame = index;
    k->wall = t - d->t_last;
    for (int i = 0; i < PH_N; i++) k->ph[i] = ph[i] - d->ph_last[i], d->ph_last[i] = ph[i];
    k->new_frames = st->frames - d->frames_last;
    d->frames_last = st->frames;
    k->n_dets = res->n_dets;
    d->T = T;
    if (d->dump) {
        fprintf(d->dump, "# frame %lld window", (long long)index);
        for (int i = 0; i < T; i++) fprintf(d->dump, " %lld", (long long)window[i]);
        fprintf(d->dump, " n %lld im_info %.9g %.9g %.9g\n", (long long)res->n_dets, res->im_info[0],
                res->im_info[1], res->im_info[2]);
        for (int64_t i = 0; i < res->n_dets; i++) {
            const selsa_detection *q = &res->dets[i];
            fprintf(d->dump, "%lld %d %.9g %.17g %.17g %.17g %.17g\n", (long long)index, q->cls,
                    q->score, q->x1, q->y1, q->x2, q->y2);
        }
    }
    if (d->raw) {
        int32_t hdr[3] = {(int32_t)index, (int32_t)res->rois->n, (int32_t)res->cls_prob->c};
        fwrite(hdr, sizeof hdr, 1, d->raw);
        fwrite(res->rois->data, sizeof(float), (size_t)selsa_tensor_numel(res->rois), d->raw);
        fwrite(res->cls_prob->data, sizeof(float), (size_t)selsa_tensor_numel(res->cls_prob), d->raw);
        fwrite(res->bbox_pred->data, sizeof(float), (size_t)selsa_tensor_numel(res->bbox_pred), d->raw);
    }
    if (d->progress > 0 && d->n_keys % d->progress == 0)
        fprintf(stderr, "[%lld key frames] last %.2f s/key frame, VmRSS %ld kB, VmHWM (loop) %ld kB\n",
                (long long)d->n_keys, k->wall, proc_status_kb("VmRSS"), proc_status_kb("VmHWM"));
    d->t_last = now(); /* excludes this callback's own I/O */
    if (d->max_keys > 0 && d->n_keys >= d->max_keys)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "bench: stop after %lld key frames", (long long)d->n_keys);
    return SELSA_OK;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* median and mean of recs[from..n) field f (f < 0: wall) */
static void summarize(const keyrec *r, int64_t from, int64_t n, int f, double *med, double *mean) {
    int64_t m = n - from;
    if (m <= 0) {
        *med = *mean = 0;
        return;
    }
    double *v = malloc((size_t)m * sizeof *v), s = 0;
    for (int64_t i = 0; i < m; i++) {
        v[i] = f < 0 ? r[from + i].wall : r[from + i].ph[f];
        s += v[i];
    }
    qsort(v, (size_t)m, sizeof *v, cmp_double);
    *med = m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
    *mean = s / (double)m;
    free(v);
}

static void usage(void) {
    fprintf(stderr,
            "usage: bench_official --params FILE --frames DIR [--preset r101|r50|tiny]\n"
            "         [--key-interval K] [--key-frames n] [--length N] [--temporal-order | --seed S]\n"
            "         [--threads T] [--dump FILE] [--dump-raw FILE] [--tsv FILE] [--progress N]\n");
}

int main(int argc, char **argv) {
    const char *params = NULL, *dir = NULL, *preset = "r101", *dump_path = NULL, *tsv_path = NULL,
               *raw_path = NULL;
    int key_interval = -1, threads = 2, temporal = 0, progress = 0;
    long long max_keys = 0, length = 0;
    unsigned long long seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--params") && has) params = argv[++i];
        else if (!strcmp(a, "--frames") && has) dir = argv[++i];
        else if (!strcmp(a, "--preset") && has) preset = argv[++i];
        else if (!strcmp(a, "--dump") && has) dump_path = argv[++i];
        else if (!strcmp(a, "--tsv") && has) tsv_path = argv[++i];
        else if (!strcmp(a, "--dump-raw") && has) raw_path = argv[++i];
        else if (!strcmp(a, "--key-interval") && has) key_interval = atoi(argv[++i]);
        else if (!strcmp(a, "--key-frames") && has) max_keys = atoll(argv[++i]);
        else if (!strcmp(a, "--length") && has) length = atoll(argv[++i]);
        else if (!strcmp(a, "--threads") && has) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--progress") && has) progress = atoi(argv[++i]);
        else if (!strcmp(a, "--seed") && has) seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--temporal-order")) temporal = 1;
        else {
            usage();
            return 2;
        }
    }
    if (!params || !dir) {
        usage();
        return 2;
    }
    selsa_official_config cfg;
    if (!strcmp(preset, "r101")) selsa_official_config_r101(&cfg);
    else if (!strcmp(preset, "r50")) selsa_official_config_r50(&cfg);
    else if (!strcmp(preset, "tiny")) selsa_official_config_tiny(&cfg);
    else {
        fprintf(stderr, "bench_official: unknown preset %s\n", preset);
        return 2;
    }
    if (key_interval >= 0) cfg.key_interval = key_interval;

    char **real = NULL;
    int64_t n_real = 0;
    if (list_frames(dir, &real, &n_real)) return 3;
    int64_t n = length > 0 ? length : n_real;
    const char **paths = calloc((size_t)n, sizeof *paths);
    for (int64_t i = 0; i < n; i++) paths[i] = real[i % n_real];

    selsa_ctx ctx;
    selsa_official_model *model = NULL;
    selsa_official_runner *runner = NULL;
    selsa_status s = selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, 0, threads);
    double t_load = now();
    if (s == SELSA_OK) s = selsa_official_model_load_file(&model, &cfg, params);
    t_load = now() - t_load;
    if (s == SELSA_OK) s = selsa_official_runner_create(&runner, model, &ctx);
    selsa_image first = {0};
    if (s == SELSA_OK) s = selsa_image_read(paths[0], &first);
    if (s == SELSA_OK) s = selsa_official_runner_reserve(runner, first.h, first.w, false);
    if (s != SELSA_OK) {
        fprintf(stderr, "bench_official: %s: %s\n", selsa_status_name(s), selsa_last_error());
        return 4;
    }
    long rss_load_peak = maxrss_kb(), rss_after_load = proc_status_kb("VmRSS");
    /* reset the peak-RSS counter: from here on VmHWM is the peak of the video loop alone */
    FILE *cr = fopen("/proc/self/clear_refs", "w");
    bool reset_ok = cr && fputs("5", cr) >= 0;
    if (cr) reset_ok = (fclose(cr) == 0) && reset_ok;

    driver d = {0};
    d.runner = runner;
    d.max_keys = max_keys;
    d.progress = progress;
    d.paths = paths;
    if (dump_path && !(d.dump = fopen(dump_path, "w"))) {
        fprintf(stderr, "bench_official: cannot write %s\n", dump_path);
        return 3;
    }
    if (raw_path && !(d.raw = fopen(raw_path, "wb"))) {
        fprintf(stderr, "bench_official: cannot write %s\n", raw_path);
        return 3;
    }
    selsa_official_runner_reset_stats(runner);
    selsa_official_schedule_opts opts = {.perm = NULL, .temporal_order = temporal, .seed = seed, .uncached = false};
    double t0 = now();
    d.t_last = t0;
    s = selsa_official_run_video(runner, n, &opts, selsa_official_read_paths, (void *)paths, on_det, &d);
    double total = now() - t0;
    if (s != SELSA_OK && !(max_keys > 0 && d.n_keys >= max_keys)) {
        fprintf(stderr, "bench_official: %s: %s\n", selsa_status_name(s), selsa_last_error());
        return 5;
    }
    if (d.dump) fclose(d.dump);
    if (d.raw) fclose(d.raw);
    long hwm_loop = proc_status_kb("VmHWM"), rss_end = proc_status_kb("VmRSS");

    const selsa_official_stats *st = selsa_official_runner_stats(runner);
    printf("bench_official: preset %s, K %d (window %d), %lld frames in video (%lld distinct files), "
           "%s, threads %d\n",
           preset, cfg.key_interval, 2 * cfg.key_interval + 1, (long long)n, (long long)n_real,
           temporal ? "temporal order" : "seeded permutation", ctx.n_threads);
    printf("model load %.2f s, params %.1f MiB, runner %.1f MiB\n", t_load,
           selsa_official_model_param_bytes(model) / 1048576.0, selsa_official_runner_bytes(runner) / 1048576.0);
    printf("schedule: %lld key frames detected, %lld per-frame stages, %lld window stages, %.2f s total "
           "(%.3f s per detected frame)\n",
           (long long)d.n_keys, (long long)st->frames, (long long)st->windows, total,
           d.n_keys ? total / (double)d.n_keys : 0.0);
    printf("\n| phase | median s/key frame (all %lld) | mean | median (key frames 2..) | mean (2..) |\n"
           "|---|---:|---:|---:|---:|\n",
           (long long)d.n_keys);
    double med, mean, med2, mean2, sum_med2 = 0;
    for (int f = 0; f < PH_N; f++) {
        summarize(d.recs, 0, d.n_keys, f, &med, &mean);
        summarize(d.recs, 1, d.n_keys, f, &med2, &mean2);
        sum_med2 += med2;
        printf("| %s | %.4f | %.4f | %.4f | %.4f |\n", PH_NAME[f], med, mean, med2, mean2);
    }
    summarize(d.recs, 0, d.n_keys, -1, &med, &mean);
    summarize(d.recs, 1, d.n_keys, -1, &med2, &mean2);
    printf("| **wall per key frame** | **%.4f** | %.4f | **%.4f** | %.4f |\n", med, mean, med2, mean2);
    printf("\nmemory: ru_maxrss %ld kB (%.1f MiB; includes loading), RSS after load+reserve %ld kB, "
           "peak RSS of the video loop (VmHWM after reset%s) %ld kB (%.1f MiB), RSS at end %ld kB\n",
           maxrss_kb(), maxrss_kb() / 1024.0, rss_after_load, reset_ok ? "" : " FAILED: whole-process peak",
           hwm_loop, hwm_loop / 1024.0, rss_end);
    (void)rss_load_peak;
    printf("RESULT wall_median_all=%.4f wall_median_steady=%.4f key_frames=%lld frames=%lld maxrss_kb=%ld "
           "loop_hwm_kb=%ld\n",
           med, med2, (long long)d.n_keys, (long long)n, maxrss_kb(), hwm_loop);
    if (tsv_path) {
        FILE *f = fopen(tsv_path, "w");
        if (f) {
            fprintf(f, "key\tframe\twall\tnew_frames\tn_dets");
            for (int p = 0; p < PH_N; p++) fprintf(f, "\t%s", PH_NAME[p]);
            fprintf(f, "\n");
            for (int64_t i = 0; i < d.n_keys; i++) {
                const keyrec *k = &d.recs[i];
                fprintf(f, "%lld\t%lld\t%.5f\t%lld\t%lld", (long long)i, (long long)k->frame, k->wall,
                        (long long)k->new_frames, (long long)k->n_dets);
                for (int p = 0; p < PH_N; p++) fprintf(f, "\t%.5f", k->ph[p]);
                fprintf(f, "\n");
            }
            fclose(f);
        }
    }
    free(d.recs);
    selsa_image_free(&first);
    selsa_official_runner_free(runner);
    selsa_official_model_free(model);
    selsa_ctx_free(&ctx);
    for (int64_t i = 0; i < n_real; i++) free(real[i]);
    free(real);
    free(paths);
    return 0;
}
