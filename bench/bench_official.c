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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "selsa/context.h"
#include "selsa/model_official.h"
#include "selsa/status.h"

/* ------------------------------------------------------------------ per key frame ---------- */

enum { PH_DECODE, PH_BACKBONE, PH_RES5, PH_RPN, PH_HEAD, PH_AGG, PH_POST, PH_N };
static const char *PH_NAME[PH_N] = {"decode", "backbone", "res5", "rpn", "head", "aggregation", "post"};

static void stats_vec(const selsa_official_stats *s, double *v) {
    v[PH_DECODE] = s->decode, v[PH_BACKBONE] = s->backbone, v[PH_RES5] = s->res5;
    v[PH_RPN] = s->rpn, v[PH_HEAD] = s->head, v[PH_AGG] = s->aggregation, v[PH_POST] = s->post;
}

typedef struct driver {
    selsa_official_runner *runner;
    int64_t max_keys;     /* stop after this many detections (0: all) */
    bench_log log;        /* one record per key frame */
    FILE *dump;
    FILE *raw;            /* per key frame: i32 frame, R, C, then f32 rois (R,5), cls_prob (R,C), bbox_pred (R,8) */
    int progress;
} driver;

static selsa_status on_det(void *user, int64_t index, const int64_t *window, int T,
                           const selsa_official_result *res) {
    driver *d = user;
    double t = selsa_monotonic_seconds();
    const selsa_official_stats *st = selsa_official_runner_stats(d->runner);
    double ph[PH_N];
    stats_vec(st, ph);
    const bench_rec *k = bench_log_push(&d->log, index, t, ph, st->frames, res->n_dets);
    if (!k) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "bench: out of memory");
    if (d->dump) {
        fprintf(d->dump, "# frame %lld window", (long long)index);
        for (int i = 0; i < T; i++) fprintf(d->dump, " %lld", (long long)window[i]);
        fprintf(d->dump, " n %lld im_info %.9g %.9g %.9g\n", (long long)res->n_dets, res->im_info[0],
                res->im_info[1], res->im_info[2]);
        bench_dump_dets(d->dump, index, res->dets, res->n_dets);
    }
    if (d->raw) bench_dump_raw(d->raw, index, res->rois, res->cls_prob, res->bbox_pred);
    if (d->progress > 0 && d->log.n % d->progress == 0)
        fprintf(stderr, "[%lld key frames] last %.2f s/key frame, VmRSS %ld kB, VmHWM (loop) %ld kB\n",
                (long long)d->log.n, k->wall, selsa_proc_status_kb("VmRSS"), selsa_proc_status_kb("VmHWM"));
    d->log.t_last = selsa_monotonic_seconds(); /* excludes this callback's own I/O */
    if (d->max_keys > 0 && d->log.n >= d->max_keys)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "bench: stop after %lld key frames", (long long)d->log.n);
    return SELSA_OK;
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
    const bench_opt options[] = {
        {"--params", BENCH_STR, &params},         {"--frames", BENCH_STR, &dir},
        {"--preset", BENCH_STR, &preset},         {"--dump", BENCH_STR, &dump_path},
        {"--tsv", BENCH_STR, &tsv_path},          {"--dump-raw", BENCH_STR, &raw_path},
        {"--key-interval", BENCH_INT, &key_interval}, {"--key-frames", BENCH_LL, &max_keys},
        {"--length", BENCH_LL, &length},          {"--threads", BENCH_INT, &threads},
        {"--progress", BENCH_INT, &progress},     {"--seed", BENCH_ULL, &seed},
        {"--temporal-order", BENCH_FLAG, &temporal}};
    if (!bench_parse_args(argc, argv, options, (int)(sizeof options / sizeof options[0])) || !params || !dir) {
        usage();
        return 2;
    }
    selsa_official_config cfg;
    if (!bench_official_preset("bench_official", preset, &cfg)) return 2;
    if (key_interval >= 0) cfg.key_interval = key_interval;

    char **real = NULL;
    int64_t n_real = 0;
    if (bench_list_frames("bench_official", dir, &real, &n_real)) return 3;
    int64_t n = length > 0 ? length : n_real;
    const char **paths = calloc((size_t)n, sizeof *paths);
    for (int64_t i = 0; i < n; i++) paths[i] = real[i % n_real];

    selsa_ctx ctx;
    selsa_official_model *model = NULL;
    selsa_official_runner *runner = NULL;
    selsa_status s = selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, 0, threads);
    double t_load = selsa_monotonic_seconds();
    if (s == SELSA_OK) s = selsa_official_model_load_file(&model, &cfg, params);
    t_load = selsa_monotonic_seconds() - t_load;
    if (s == SELSA_OK) s = selsa_official_runner_create(&runner, model, &ctx);
    selsa_image first = {0};
    if (s == SELSA_OK) s = selsa_image_read(paths[0], &first);
    if (s == SELSA_OK) s = selsa_official_runner_reserve(runner, first.h, first.w, false);
    if (s != SELSA_OK) {
        fprintf(stderr, "bench_official: %s: %s\n", selsa_status_name(s), selsa_last_error());
        return 4;
    }
    long rss_load_peak = bench_maxrss_kb(), rss_after_load = selsa_proc_status_kb("VmRSS");
    /* reset the peak-RSS counter: from here on VmHWM is the peak of the video loop alone */
    bool reset_ok = bench_reset_peak_rss();

    driver d = {0};
    d.runner = runner;
    d.max_keys = max_keys;
    d.progress = progress;
    d.log.n_ph = PH_N;
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
    double t0 = selsa_monotonic_seconds();
    d.log.t_last = t0;
    s = selsa_official_run_video(runner, n, &opts, selsa_official_read_paths, (void *)paths, on_det, &d);
    double total = selsa_monotonic_seconds() - t0;
    if (s != SELSA_OK && !(max_keys > 0 && d.log.n >= max_keys)) {
        fprintf(stderr, "bench_official: %s: %s\n", selsa_status_name(s), selsa_last_error());
        return 5;
    }
    if (d.dump) fclose(d.dump);
    if (d.raw) fclose(d.raw);
    long hwm_loop = selsa_proc_status_kb("VmHWM"), rss_end = selsa_proc_status_kb("VmRSS");

    const selsa_official_stats *st = selsa_official_runner_stats(runner);
    printf("bench_official: preset %s, K %d (window %d), %lld frames in video (%lld distinct files), "
           "%s, threads %d\n",
           preset, cfg.key_interval, 2 * cfg.key_interval + 1, (long long)n, (long long)n_real,
           temporal ? "temporal order" : "seeded permutation", ctx.n_threads);
    printf("model load %.2f s, params %.1f MiB, runner %.1f MiB\n", t_load,
           selsa_official_model_param_bytes(model) / 1048576.0, selsa_official_runner_bytes(runner) / 1048576.0);
    printf("schedule: %lld key frames detected, %lld per-frame stages, %lld window stages, %.2f s total "
           "(%.3f s per detected frame)\n",
           (long long)d.log.n, (long long)st->frames, (long long)st->windows, total,
           d.log.n ? total / (double)d.log.n : 0.0);
    printf("\n| phase | median s/key frame (all %lld) | mean | median (key frames 2..) | mean (2..) |\n"
           "|---|---:|---:|---:|---:|\n",
           (long long)d.log.n);
    double med, med2;
    bench_print_phase_table(&d.log, PH_NAME, "wall per key frame", &med, &med2);
    bench_print_memory(rss_after_load, reset_ok, hwm_loop, rss_end);
    (void)rss_load_peak;
    printf("RESULT wall_median_all=%.4f wall_median_steady=%.4f key_frames=%lld frames=%lld maxrss_kb=%ld "
           "loop_hwm_kb=%ld\n",
           med, med2, (long long)d.log.n, (long long)n, bench_maxrss_kb(), hwm_loop);
    bench_write_tsv(tsv_path, "key", "new_frames", &d.log, PH_NAME);
    free(d.log.recs);
    selsa_image_free(&first);
    selsa_official_runner_free(runner);
    selsa_official_model_free(model);
    selsa_ctx_free(&ctx);
    for (int64_t i = 0; i < n_real; i++) free(real[i]);
    free(real);
    free(paths);
    return 0;
}
