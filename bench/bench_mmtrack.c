/* selsa — benchmark / parity driver for the MMTracking SELSA detector (mmtracking-selsa.md §1–§3,
 * schedule test_with_adaptive_stride §1.6).
 *
 * Loads a .pth state dict (either torch.save layout), runs selsa_mmtrack_run_video in ADAPTIVE
 * mode over a folder of frames — the n_ref (14) reference frames are spread over the WHOLE video
 * (all files of the folder, or --length entries), as the schedule's rule says — and stops after
 * the first --detect N detected frames (0: all). Reports
 *   - seconds per detected frame: wall time between consecutive detections (det callbacks); the
 *     first frame also pays for the n_ref reference frames computed before it (MMTracking pays the
 *     same at frame 0: its memo of the reference frames), so medians are given over all detected
 *     frames and over frames 2.. ("steady state": one new frame per detection);
 *   - the runner's phases (selsa_mmtrack_stats deltas per detected frame): decode, backbone,
 *     neck+RPN (+ proposals), head (RoIAlign, shared_fcs, reference projections), aggregation,
 *     post;
 *   - memory: ru_maxrss, and the peak RSS of the video loop alone (VmHWM of /proc/self/status
 *     after `echo 5 > /proc/self/clear_refs` once the model is loaded and the runner reserved).
 *
 * What is timed: only the schedule (selsa_mmtrack_run_video); model loading and the runner's
 * reserve are excluded; frames are decoded inside the timed loop when the schedule reads them.
 *
 * Frames: --frames DIR (files .JPEG/.jpg/.png sorted numerically by the digits of the name);
 * --length N uses N entries, repeating the folder's frames cyclically.
 *
 * Usage: bench_mmtrack --pth FILE --frames DIR [--preset r50|r101|x101|tiny|auto] [--detect N]
 *          [--n-ref n] [--length N] [--threads T] [--uncached] [--dump FILE] [--dump-raw FILE]
 *          [--tsv FILE] [--progress N]
 *   --dump      detections per frame as text (tests/full/compare_mmtrack_dets.py):
 *                 # frame F window r0 .. r13 F n N im_info h w sx sy   (resized size, scale factors)
 *                 F cls score x1 y1 x2 y2     (cls = VID class 1..30 = mmdet label + 1,
 *                                              original-image pixels, multiclass_nms order)
 *   --dump-raw  per frame: i32 frame, P, C+1; f32 proposals (P,5), cls_score (P,C+1) logits,
 *               bbox_pred (P,4C) raw deltas */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#include "selsa/context.h"
#include "selsa/image.h"
#include "selsa/model_mmtrack.h"
#include "selsa/model_official.h"
#include "selsa/status.h"
#include "selsa/weights.h"

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
        fprintf(stderr, "bench_mmtrack: cannot open frame folder %s\n", dir);
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
        fprintf(stderr, "bench_mmtrack: no .JPEG/.jpg/.png frames in %s\n", dir);
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

/* ------------------------------------------------------------------ per detected frame ----- */

enum { PH_DECODE, PH_BACKBONE, PH_NECK_RPN, PH_HEAD, PH_AGG, PH_POST, PH_N };
static const char *PH_NAME[PH_N] = {"decode", "backbone", "neck_rpn", "head", "aggregation", "post"};
static const char *PH_DESC[PH_N] = {
    "decode (JPEG decode + resize + normalise/pad)", "backbone (stem .. layer4, DC5)",
    "neck + RPN (ChannelMapper, rpn convs, proposals)",
    "head (RoIAlign, shared_fcs, reference projections)",
    "aggregation (key path: attention over the support rows, fcs, cls/reg)",
    "post (softmax, decode, rescale, multiclass NMS)"};

static void stats_vec(const selsa_mmtrack_stats *s, double *v) {
    v[PH_DECODE] = s->decode, v[PH_BACKBONE] = s->backbone, v[PH_NECK_RPN] = s->neck_rpn;
    v[PH_HEAD] = s->head, v[PH_AGG] = s->aggregation, v[PH_POST] = s->post;
}

typedef struct rec {
    int64_t frame;   /* detected frame index */
    double wall;     /* seconds since the previous detection (first: since the run started) */
    double ph[PH_N]; /* phase seconds in that interval */
    int64_t new_slots; /* slots computed in that interval (first: n_ref distinct refs + 1) */
    int64_t n_dets;
} rec;

typedef struct driver {
    selsa_mmtrack_runner *runner;
    int64_t max_det; /* stop after this many detections (0: all) */
    int64_t n;
    rec *recs;
    int64_t cap;
    double t_last;
    double ph_last[PH_N];
    int64_t slots_last;
    FILE *dump;
    FILE *raw;
    int progress;
} driver;

static selsa_status on_det(void *user, int64_t index, const selsa_mmtrack_result *res) {
    driver *d = user;
    double t = now();
    const selsa_mmtrack_stats *st = selsa_mmtrack_runner_stats(d->runner);
    double ph[PH_N];
    stats_vec(st, ph);
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 256;
        d->recs = realloc(d->recs, (size_t)d->cap * sizeof *d->recs);
        if (!d->recs) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "bench: out of memory");
    }
    rec *k = &d->recs[d->n++];
    k->frame = index;
    k->wall = t - d->t_last;
    for (int i = 0; i < PH_N; i++) k->ph[i] = ph[i] - d->ph_last[i], d->ph_last[i] = ph[i];
    k->new_slots = st->frames - d->slots_last;
    d->slots_last = st->frames;
    k->n_dets = res->n_dets;
    if (d->dump) {
        fprintf(d->dump, "# frame %lld window", (long long)index);
        for (int i = 0; i < res->n_support; i++) fprintf(d->dump, " %lld", (long long)res->support[i]);
        fprintf(d->dump, " %lld n %lld im_info %d %d %.9g %.9g\n", (long long)index, (long long)res->n_dets,
                res->img_h, res->img_w, res->scale_factor[0], res->scale_factor[1]);
        for (int64_t i = 0; i < res->n_dets; i++) {
            const selsa_detection *q = &res->dets[i];
            fprintf(d->dump, "%lld %d %.9g %.17g %.17g %.17g %.17g\n", (long long)index, q->cls,
                    q->score, q->x1, q->y1, q->x2, q->y2);
        }
    }
    if (d->raw) {
        int32_t hdr[3] = {(int32_t)index, (int32_t)res->proposals->n, (int32_t)res->cls_score->c};
        fwrite(hdr, sizeof hdr, 1, d->raw);
        fwrite(res->proposals->data, sizeof(float), (size_t)selsa_tensor_numel(res->proposals), d->raw);
        fwrite(res->cls_score->data, sizeof(float), (size_t)selsa_tensor_numel(res->cls_score), d->raw);
        fwrite(res->bbox_pred->data, sizeof(float), (size_t)selsa_tensor_numel(res->bbox_pred), d->raw);
    }
    if (d->progress > 0 && d->n % d->progress == 0)
        fprintf(stderr, "[%lld frames] last %.2f s/frame, VmRSS %ld kB, VmHWM (loop) %ld kB\n",
                (long long)d->n, k->wall, proc_status_kb("VmRSS"), proc_status_kb("VmHWM"));
    d->t_last = now(); /* excludes this callback's own I/O */
    if (d->max_det > 0 && d->n >= d->max_det)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "bench: stop after %lld frames", (long long)d->n);
    return SELSA_OK;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* median and mean of recs[from..n) field f (f < 0: wall) */
static void summarize(const rec *r, int64_t from, int64_t n, int f, double *med, double *mean) {
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
            "usage: bench_mmtrack --pth FILE --frames DIR [--preset r50|r101|x101|tiny|auto]\n"
            "         [--detect N] [--n-ref n] [--length N] [--threads T] [--uncached]\n"
            "         [--dump FILE] [--dump-raw FILE] [--tsv FILE] [--progress N]\n");
}

int main(int argc, char **argv) {
    const char *pth = NULL, *dir = NULL, *preset = "auto", *dump_path = NULL, *tsv_path = NULL,
               *raw_path = NULL;
    int threads = 2, progress = 0, n_ref = 0, uncached = 0;
    long long max_det = 0, length = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--pth") && has) pth = argv[++i];
        else if (!strcmp(a, "--frames") && has) dir = argv[++i];
        else if (!strcmp(a, "--preset") && has) preset = argv[++i];
        else if (!strcmp(a, "--dump") && has) dump_path = argv[++i];
        else if (!strcmp(a, "--tsv") && has) tsv_path = argv[++i];
        else if (!strcmp(a, "--dump-raw") && has) raw_path = argv[++i];
        else if (!strcmp(a, "--detect") && has) max_det = atoll(argv[++i]);
        else if (!strcmp(a, "--n-ref") && has) n_ref = atoi(argv[++i]);
        else if (!strcmp(a, "--length") && has) length = atoll(argv[++i]);
        else if (!strcmp(a, "--threads") && has) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--progress") && has) progress = atoi(argv[++i]);
        else if (!strcmp(a, "--uncached")) uncached = 1;
        else {
            usage();
            return 2;
        }
    }
    if (!pth || !dir) {
        usage();
        return 2;
    }

    char **real = NULL;
    int64_t n_real = 0;
    if (list_frames(dir, &real, &n_real)) return 3;
    int64_t n = length > 0 ? length : n_real;
    const char **paths = calloc((size_t)n, sizeof *paths);
    for (int64_t i = 0; i < n; i++) paths[i] = real[i % n_real];

    int rc = 0;
    selsa_ctx ctx = {0};
    selsa_mmtrack_config cfg;
    selsa_mmtrack_model *model = NULL;
    selsa_mmtrack_runner *runner = NULL;
    selsa_weights w;
    selsa_weights_init(&w);
    selsa_status s = selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, 0, threads);
    double t_load = now();
    if (s == SELSA_OK) s = selsa_weights_load(pth, &w);
    if (s == SELSA_OK) {
        if (!strcmp(preset, "auto")) s = selsa_mmtrack_config_from_weights(&cfg, &w);
        else s = selsa_mmtrack_config_preset(&cfg, preset);
    }
    if (s == SELSA_OK) s = selsa_mmtrack_model_load(&model, &cfg, &w, pth);
    selsa_weights_free(&w);
    t_load = now() - t_load;
    if (s == SELSA_OK) s = selsa_mmtrack_runner_create(&runner, model, &ctx, n_ref > cfg.n_ref ? n_ref : 0);
    selsa_image first = {0};
    if (s == SELSA_OK) s = selsa_image_read(paths[0], &first);
    if (s == SELSA_OK) s = selsa_mmtrack_runner_reserve(runner, first.h, first.w, uncached);
    driver d = {0};
    if (s != SELSA_OK) {
        fprintf(stderr, "bench_mmtrack: %s: %s\n", selsa_status_name(s), selsa_last_error());
        rc = 4;
        goto out;
    }
    long rss_after_load = proc_status_kb("VmRSS");
    /* reset the peak-RSS counter: from here on VmHWM is the peak of the video loop alone */
    FILE *cr = fopen("/proc/self/clear_refs", "w");
    bool reset_ok = cr && fputs("5", cr) >= 0;
    if (cr) reset_ok = (fclose(cr) == 0) && reset_ok;

    d.runner = runner;
    d.max_det = max_det;
    d.progress = progress;
    if (dump_path && !(d.dump = fopen(dump_path, "w"))) {
        fprintf(stderr, "bench_mmtrack: cannot write %s\n", dump_path);
        rc = 3;
        goto out;
    }
    if (raw_path && !(d.raw = fopen(raw_path, "wb"))) {
        fprintf(stderr, "bench_mmtrack: cannot write %s\n", raw_path);
        rc = 3;
        goto out;
    }
    selsa_mmtrack_runner_reset_stats(runner);
    selsa_mmtrack_schedule_opts opts = {.mode = SELSA_MMTRACK_ADAPTIVE, .n_ref = n_ref, .uncached = uncached};
    double t0 = now();
    d.t_last = t0;
    s = selsa_mmtrack_run_video(runner, n, &opts, selsa_official_read_paths, (void *)paths, on_det, &d);
    double total = now() - t0;
    if (d.dump) fclose(d.dump);
    if (d.raw) fclose(d.raw);
    d.dump = d.raw = NULL;
    if (s != SELSA_OK && !(max_det > 0 && d.n >= max_det)) {
        fprintf(stderr, "bench_mmtrack: %s: %s\n", selsa_status_name(s), selsa_last_error());
        rc = 5;
        goto out;
    }
    long hwm_loop = proc_status_kb("VmHWM"), rss_end = proc_status_kb("VmRSS");

    const selsa_mmtrack_stats *st = selsa_mmtrack_runner_stats(runner);
    int nr = n_ref > 0 ? n_ref : cfg.n_ref;
    int64_t *refs = calloc((size_t)nr, sizeof *refs);
    selsa_mmtrack_adaptive_refs(n, nr, refs);
    printf("bench_mmtrack: %s (depth %d, groups %d), adaptive schedule, %d reference frames over %lld "
           "frames (%lld distinct files): refs", preset, cfg.depth, cfg.groups, nr, (long long)n,
           (long long)n_real);
    for (int i = 0; i < nr; i++) printf(" %lld", (long long)refs[i]);
    printf("; %s path; threads %d\n", uncached ? "UNCACHED" : "cached", ctx.n_threads);
    free(refs);
    printf("model load %.2f s, params %.1f MiB, runner %.1f MiB\n", t_load,
           selsa_mmtrack_model_param_bytes(model) / 1048576.0, selsa_mmtrack_runner_bytes(runner) / 1048576.0);
    printf("schedule: %lld frames detected, %lld slots computed, %.2f s total (%.3f s per detected frame)\n",
           (long long)d.n, (long long)st->frames, total, d.n ? total / (double)d.n : 0.0);
    printf("\n| phase | median s/frame (all %lld) | mean | median (frames 2..) | mean (2..) |\n"
           "|---|---:|---:|---:|---:|\n",
           (long long)d.n);
    double med, mean, med2, mean2;
    for (int f = 0; f < PH_N; f++) {
        summarize(d.recs, 0, d.n, f, &med, &mean);
        summarize(d.recs, 1, d.n, f, &med2, &mean2);
        printf("| %s | %.4f | %.4f | %.4f | %.4f |\n", PH_DESC[f], med, mean, med2, mean2);
    }
    summarize(d.recs, 0, d.n, -1, &med, &mean);
    summarize(d.recs, 1, d.n, -1, &med2, &mean2);
    printf("| **wall per frame** | **%.4f** | %.4f | **%.4f** | %.4f |\n", med, mean, med2, mean2);
    if (d.n > 0) printf("first frame (incl. the %d reference frames): %.3f s\n", nr, d.recs[0].wall);
    printf("\nmemory: ru_maxrss %ld kB (%.1f MiB; includes loading), RSS after load+reserve %ld kB, "
           "peak RSS of the video loop (VmHWM after reset%s) %ld kB (%.1f MiB), RSS at end %ld kB\n",
           maxrss_kb(), maxrss_kb() / 1024.0, rss_after_load, reset_ok ? "" : " FAILED: whole-process peak",
           hwm_loop, hwm_loop / 1024.0, rss_end);
    printf("RESULT wall_median_all=%.4f wall_median_steady=%.4f first=%.4f detected=%lld frames=%lld "
           "maxrss_kb=%ld loop_hwm_kb=%ld\n",
           med, med2, d.n > 0 ? d.recs[0].wall : 0.0, (long long)d.n, (long long)n, maxrss_kb(), hwm_loop);
    if (tsv_path) {
        FILE *f = fopen(tsv_path, "w");
        if (f) {
            fprintf(f, "i\tframe\twall\tnew_slots\tn_dets");
            for (int p = 0; p < PH_N; p++) fprintf(f, "\t%s", PH_NAME[p]);
            fprintf(f, "\n");
            for (int64_t i = 0; i < d.n; i++) {
                const rec *k = &d.recs[i];
                fprintf(f, "%lld\t%lld\t%.5f\t%lld\t%lld", (long long)i, (long long)k->frame, k->wall,
                        (long long)k->new_slots, (long long)k->n_dets);
                for (int p = 0; p < PH_N; p++) fprintf(f, "\t%.5f", k->ph[p]);
                fprintf(f, "\n");
            }
            fclose(f);
        }
    }
out:
    if (d.dump) fclose(d.dump);
    if (d.raw) fclose(d.raw);
    free(d.recs);
    selsa_image_free(&first);
    selsa_mmtrack_runner_free(runner);
    selsa_mmtrack_model_free(model);
    selsa_ctx_free(&ctx);
    for (int64_t i = 0; i < n_real; i++) free(real[i]);
    free(real);
    free(paths);
    return rc;
}
