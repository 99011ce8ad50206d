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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "selsa/context.h"
#include "selsa/image.h"
#include "selsa/model_mmtrack.h"
#include "selsa/model_official.h"
#include "selsa/status.h"
#include "selsa/weights.h"

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

typedef struct driver {
    selsa_mmtrack_runner *runner;
    int64_t max_det; /* stop after this many detections (0: all) */
    bench_log log;   /* one record per detected frame; new_frames: slots computed in the interval
                        (first: n_ref distinct refs + 1) */
    FILE *dump;
    FILE *raw;
    int progress;
} driver;

static selsa_status on_det(void *user, int64_t index, const selsa_mmtrack_result *res) {
    driver *d = user;
    double t = selsa_monotonic_seconds();
    const selsa_mmtrack_stats *st = selsa_mmtrack_runner_stats(d->runner);
    double ph[PH_N];
    stats_vec(st, ph);
    const bench_rec *k = bench_log_push(&d->log, index, t, ph, st->frames, res->n_dets);
    if (!k) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "bench: out of memory");
    if (d->dump) {
        fprintf(d->dump, "# frame %lld window", (long long)index);
        for (int i = 0; i < res->n_support; i++) fprintf(d->dump, " %lld", (long long)res->support[i]);
        fprintf(d->dump, " %lld n %lld im_info %d %d %.9g %.9g\n", (long long)index, (long long)res->n_dets,
                res->img_h, res->img_w, res->scale_factor[0], res->scale_factor[1]);
        bench_dump_dets(d->dump, index, res->dets, res->n_dets);
    }
    if (d->raw) bench_dump_raw(d->raw, index, res->proposals, res->cls_score, res->bbox_pred);
    if (d->progress > 0 && d->log.n % d->progress == 0)
        fprintf(stderr, "[%lld frames] last %.2f s/frame, VmRSS %ld kB, VmHWM (loop) %ld kB\n",
                (long long)d->log.n, k->wall, selsa_proc_status_kb("VmRSS"), selsa_proc_status_kb("VmHWM"));
    d->log.t_last = selsa_monotonic_seconds(); /* excludes this callback's own I/O */
    if (d->max_det > 0 && d->log.n >= d->max_det)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "bench: stop after %lld frames", (long long)d->log.n);
    return SELSA_OK;
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
    const bench_opt options[] = {
        {"--pth", BENCH_STR, &pth},           {"--frames", BENCH_STR, &dir},
        {"--preset", BENCH_STR, &preset},     {"--dump", BENCH_STR, &dump_path},
        {"--tsv", BENCH_STR, &tsv_path},      {"--dump-raw", BENCH_STR, &raw_path},
        {"--detect", BENCH_LL, &max_det},     {"--n-ref", BENCH_INT, &n_ref},
        {"--length", BENCH_LL, &length},      {"--threads", BENCH_INT, &threads},
        {"--progress", BENCH_INT, &progress}, {"--uncached", BENCH_FLAG, &uncached}};
    if (!bench_parse_args(argc, argv, options, (int)(sizeof options / sizeof options[0])) || !pth || !dir) {
        usage();
        return 2;
    }

    char **real = NULL;
    int64_t n_real = 0;
    if (bench_list_frames("bench_mmtrack", dir, &real, &n_real)) return 3;
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
    double t_load = selsa_monotonic_seconds();
    if (s == SELSA_OK) s = selsa_weights_load(pth, &w);
    if (s == SELSA_OK) {
        if (!strcmp(preset, "auto")) s = selsa_mmtrack_config_from_weights(&cfg, &w);
        else s = selsa_mmtrack_config_preset(&cfg, preset);
    }
    if (s == SELSA_OK) s = selsa_mmtrack_model_load(&model, &cfg, &w, pth);
    selsa_weights_free(&w);
    t_load = selsa_monotonic_seconds() - t_load;
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
    long rss_after_load = selsa_proc_status_kb("VmRSS");
    /* reset the peak-RSS counter: from here on VmHWM is the peak of the video loop alone */
    bool reset_ok = bench_reset_peak_rss();

    d.runner = runner;
    d.max_det = max_det;
    d.progress = progress;
    d.log.n_ph = PH_N;
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
    double t0 = selsa_monotonic_seconds();
    d.log.t_last = t0;
    s = selsa_mmtrack_run_video(runner, n, &opts, selsa_official_read_paths, (void *)paths, on_det, &d);
    double total = selsa_monotonic_seconds() - t0;
    if (d.dump) fclose(d.dump);
    if (d.raw) fclose(d.raw);
    d.dump = d.raw = NULL;
    if (s != SELSA_OK && !(max_det > 0 && d.log.n >= max_det)) {
        fprintf(stderr, "bench_mmtrack: %s: %s\n", selsa_status_name(s), selsa_last_error());
        rc = 5;
        goto out;
    }
    long hwm_loop = selsa_proc_status_kb("VmHWM"), rss_end = selsa_proc_status_kb("VmRSS");

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
           (long long)d.log.n, (long long)st->frames, total, d.log.n ? total / (double)d.log.n : 0.0);
    printf("\n| phase | median s/frame (all %lld) | mean | median (frames 2..) | mean (2..) |\n"
           "|---|---:|---:|---:|---:|\n",
           (long long)d.log.n);
    double med, med2;
    bench_print_phase_table(&d.log, PH_DESC, "wall per frame", &med, &med2);
    if (d.log.n > 0) printf("first frame (incl. the %d reference frames): %.3f s\n", nr, d.log.recs[0].wall);
    bench_print_memory(rss_after_load, reset_ok, hwm_loop, rss_end);
    printf("RESULT wall_median_all=%.4f wall_median_steady=%.4f first=%.4f detected=%lld frames=%lld "
           "maxrss_kb=%ld loop_hwm_kb=%ld\n",
           med, med2, d.log.n > 0 ? d.log.recs[0].wall : 0.0, (long long)d.log.n, (long long)n, bench_maxrss_kb(),
           hwm_loop);
    bench_write_tsv(tsv_path, "i", "new_slots", &d.log, PH_NAME);
out:
    if (d.dump) fclose(d.dump);
    if (d.raw) fclose(d.raw);
    free(d.log.recs);
    selsa_image_free(&first);
    selsa_mmtrack_runner_free(runner);
    selsa_mmtrack_model_free(model);
    selsa_ctx_free(&ctx);
    for (int64_t i = 0; i < n_real; i++) free(real[i]);
    free(real);
    free(paths);
    return rc;
}
