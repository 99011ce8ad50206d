/* selsa — benchmark driver for one full-size official SELSA training step (issue 6, item 6;
 * official-selsa.md §8): ResNet-101, 1 key + 2 reference frames resized by the §1 rule
 * (600/1000; a 1280×720 frame becomes 562×1000), forward with saved activations, RPN anchor
 * targets, proposal targets on the 300 key-frame RoIs, OHEM (128), the four losses, backward
 * through res3..cls/bbox (conv1, res2 and every BN frozen) and the MXNet SGD update.
 *
 * What is timed, per step: zero_grad + forward_backward (forward, targets, losses, backward)
 * and sgd_step (update + re-folding the frozen BN into the trained convs), separately and
 * together. The same sample (same frames and gt boxes) is used at every step; the RPN anchor
 * sampler is the trainer's seeded one, so decisions differ between steps (cost does not).
 * Reported: every step, the median over all steps and over steps 2.. (step 1 pays first-touch
 * page faults of the activation arena), the activation arena size, ru_maxrss (whole process
 * incl. loading) and the peak RSS of the step loop alone (VmHWM after resetting it with
 * `echo 5 > /proc/self/clear_refs` once the trainer is created and reserved).
 *
 * gt boxes: no annotations ship with the demo video, so --gt gives boxes in ORIGINAL-image
 * pixels (scaled by the §1 scale here), default two boxes on the 1280×720 frame.
 *
 * Usage: bench_train --params FILE --frames DIR [--key N] [--refs A,B] [--steps S]
 *          [--threads T] [--preset r101|r50|tiny] [--lr LR] [--seed S] [--tsv FILE]
 *          [--gt x1,y1,x2,y2,cls[;...]] [--forward-only N]
 *   --forward-only N  after the steps, N passes without backward (default 1): the forward share
 *   --frames DIR  folder of NNNNNN.JPEG frames; --key/--refs are frame numbers in it
 *                 (default key 50, refs 40,60: a key and two references as official training
 *                 draws them, within ±9 of the key) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "selsa/context.h"
#include "selsa/image.h"
#include "selsa/model_official.h"
#include "selsa/status.h"
#include "selsa/train_official.h"
#include "selsa/weights.h"

static void usage(void) {
    fprintf(stderr, "usage: bench_train --params FILE --frames DIR [--key N] [--refs A,B] [--steps S]\n"
                    "         [--threads T] [--preset r101|r50|tiny] [--lr LR] [--seed S] [--tsv FILE]\n"
                    "         [--gt x1,y1,x2,y2,cls[;...]] (gt in original-image pixels) [--forward-only N]\n");
}

enum { MAX_GT = 16, MAX_STEPS = 64 };

int main(int argc, char **argv) {
    const char *params = NULL, *dir = NULL, *preset = "r101", *tsv_path = NULL, *refs_arg = "40,60",
               *gt_arg = "400,150,900,600,7;100,300,380,560,19";
    int key = 50, steps = 4, threads = 2, fwd_only = 1;
    double lr = -1;
    unsigned long long seed = 0;
    const bench_opt options[] = {
        {"--params", BENCH_STR, &params},        {"--frames", BENCH_STR, &dir},
        {"--preset", BENCH_STR, &preset},        {"--tsv", BENCH_STR, &tsv_path},
        {"--key", BENCH_INT, &key},              {"--refs", BENCH_STR, &refs_arg},
        {"--gt", BENCH_STR, &gt_arg},            {"--steps", BENCH_INT, &steps},
        {"--forward-only", BENCH_INT, &fwd_only}, {"--threads", BENCH_INT, &threads},
        {"--lr", BENCH_DBL, &lr},                {"--seed", BENCH_ULL, &seed}};
    if (!bench_parse_args(argc, argv, options, (int)(sizeof options / sizeof options[0])) || !params || !dir ||
        steps < 1 || steps > MAX_STEPS || fwd_only < 0 || fwd_only > MAX_STEPS) {
        usage();
        return 2;
    }
    int frame_ids[3] = {key, 0, 0};
    if (sscanf(refs_arg, "%d,%d", &frame_ids[1], &frame_ids[2]) != 2) {
        fprintf(stderr, "bench_train: --refs wants two frame numbers A,B\n");
        return 2;
    }
    float gt_orig[MAX_GT][4];
    int32_t gt_cls[MAX_GT];
    int n_gt = 0;
    for (const char *p = gt_arg; *p && n_gt < MAX_GT;) {
        int c, used = 0;
        if (sscanf(p, "%f,%f,%f,%f,%d%n", &gt_orig[n_gt][0], &gt_orig[n_gt][1], &gt_orig[n_gt][2],
                   &gt_orig[n_gt][3], &c, &used) != 5) {
            fprintf(stderr, "bench_train: bad --gt near \"%s\"\n", p);
            return 2;
        }
        gt_cls[n_gt++] = c;
        p += used;
        if (*p == ';') p++;
    }

    selsa_official_config cfg;
    if (!bench_official_preset("bench_train", preset, &cfg)) return 2;
    selsa_official_train_config tc;
    selsa_official_train_config_default(&tc);
    if (lr >= 0) tc.lr = (float)lr;
    tc.seed = seed;

    selsa_ctx ctx;
    selsa_weights w;
    selsa_weights_init(&w);
    selsa_official_trainer *t = NULL;
    selsa_image imgs[3] = {{0}};
    selsa_status s = selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, 0, threads);
    for (int f = 0; f < 3 && s == SELSA_OK; f++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%06d.JPEG", dir, frame_ids[f]);
        s = selsa_image_read(path, &imgs[f]);
    }
    double t_load = selsa_monotonic_seconds();
    if (s == SELSA_OK) s = selsa_weights_load(params, &w);
    if (s == SELSA_OK) s = selsa_official_trainer_create(&t, &cfg, &tc, &w, &ctx);
    t_load = selsa_monotonic_seconds() - t_load;
    selsa_weights_free(&w);
    double scale = 0;
    int H = 0, W = 0;
    if (s == SELSA_OK)
        s = selsa_resize_rule_official(imgs[0].h, imgs[0].w, cfg.scale_short, cfg.scale_long, &scale, &H, &W);
    double t_reserve = selsa_monotonic_seconds();
    if (s == SELSA_OK) s = selsa_official_trainer_reserve(t, H, W, 3, n_gt);
    t_reserve = selsa_monotonic_seconds() - t_reserve;
    if (s != SELSA_OK) {
        fprintf(stderr, "bench_train: %s: %s\n", selsa_status_name(s), selsa_last_error());
        return 4;
    }
    float gt[MAX_GT * 4];
    for (int i = 0; i < n_gt; i++)
        for (int k = 0; k < 4; k++) gt[i * 4 + k] = (float)(gt_orig[i][k] * scale);

    long rss_after_setup = selsa_proc_status_kb("VmRSS"), maxrss_setup = bench_maxrss_kb();
    /* reset the peak-RSS counter: from here on VmHWM is the peak of the step loop alone */
    bool reset_ok = bench_reset_peak_rss();

    selsa_official_train_sample sm;
    memset(&sm, 0, sizeof sm);
    sm.n_frames = 3;
    for (int f = 0; f < 3; f++) sm.frames[f] = &imgs[f];
    sm.gt_boxes = gt;
    sm.gt_classes = gt_cls;
    sm.n_gt = n_gt;

    printf("bench_train: preset %s, frames %s/{%06d (key), %06d, %06d} %dx%d -> %dx%d (scale %.6g), "
           "%d gt boxes, threads %d, lr %g\n",
           preset, dir, frame_ids[0], frame_ids[1], frame_ids[2], imgs[0].w, imgs[0].h, W, H, scale, n_gt,
           ctx.n_threads, (double)tc.lr);
    printf("setup: weights load + trainer create %.2f s, reserve %.2f s, %d trainable tensors, activation "
           "arena %.1f MiB\n",
           t_load, t_reserve, selsa_official_trainer_n_params(t),
           selsa_official_trainer_act_bytes(t) / 1048576.0);
    double fb[MAX_STEPS], sgd[MAX_STEPS], tot[MAX_STEPS];
    selsa_official_losses L[MAX_STEPS];
    for (int i = 0; i < steps; i++) {
        double t0 = selsa_monotonic_seconds();
        selsa_official_trainer_zero_grad(t);
        s = selsa_official_trainer_forward_backward(t, &sm, true, &L[i]);
        double t1 = selsa_monotonic_seconds();
        if (s == SELSA_OK) s = selsa_official_trainer_sgd_step(t, NULL);
        double t2 = selsa_monotonic_seconds();
        if (s != SELSA_OK) {
            fprintf(stderr, "bench_train: step %d: %s: %s\n", i + 1, selsa_status_name(s), selsa_last_error());
            return 5;
        }
        fb[i] = t1 - t0, sgd[i] = t2 - t1, tot[i] = t2 - t0;
        printf("step %d: %.2f s (forward+backward %.2f s, sgd %.3f s) | losses rpn_cls %.5f rpn_bbox %.5f "
               "rcnn_cls %.5f rcnn_bbox %.5f | rpn +%d/-%d, fg RoIs %d | VmHWM (loop) %ld kB\n",
               i + 1, tot[i], fb[i], sgd[i], L[i].rpn_cls, L[i].rpn_bbox, L[i].rcnn_cls, L[i].rcnn_bbox,
               L[i].n_rpn_pos, L[i].n_rpn_neg, L[i].n_fg_rois, selsa_proc_status_kb("VmHWM"));
        fflush(stdout);
    }
    long hwm_loop = selsa_proc_status_kb("VmHWM");
    /* forward-only passes (forward + targets + losses, no backward): the forward share of a step */
    double fo[MAX_STEPS];
    for (int i = 0; i < fwd_only; i++) {
        selsa_official_losses lf;
        double t0 = selsa_monotonic_seconds();
        s = selsa_official_trainer_forward_backward(t, &sm, false, &lf);
        fo[i] = selsa_monotonic_seconds() - t0;
        if (s != SELSA_OK) {
            fprintf(stderr, "bench_train: forward-only pass: %s: %s\n", selsa_status_name(s), selsa_last_error());
            return 5;
        }
        printf("forward-only pass %d: %.2f s\n", i + 1, fo[i]);
    }
    printf("\n| seconds per training step | median (all %d) | median (steps 2..) |\n|---|---:|---:|\n", steps);
    printf("| forward + targets + losses + backward | %.3f | %.3f |\n", bench_median(fb, 0, steps), bench_median(fb, 1, steps));
    printf("| SGD update (+ BN re-fold) | %.3f | %.3f |\n", bench_median(sgd, 0, steps), bench_median(sgd, 1, steps));
    if (fwd_only > 0)
        printf("| forward + targets + losses alone (%d forward-only passes after the steps) | %.3f | - |\n",
               fwd_only, bench_median(fo, 0, fwd_only));
    printf("| **step** | **%.3f** | **%.3f** |\n", bench_median(tot, 0, steps), bench_median(tot, 1, steps));
    printf("\nmemory: ru_maxrss %ld kB (%.1f MiB; includes weight loading), RSS after setup %ld kB (peak during "
           "setup %ld kB), peak RSS of the step loop (VmHWM after reset%s) %ld kB (%.1f MiB), activation "
           "arena %zu bytes, high-water %zu\n",
           bench_maxrss_kb(), bench_maxrss_kb() / 1024.0, rss_after_setup, maxrss_setup,
           reset_ok ? "" : " FAILED: whole-process peak", hwm_loop, hwm_loop / 1024.0,
           selsa_official_trainer_act_bytes(t), selsa_official_trainer_act_peak(t));
    printf("RESULT step_median_all=%.4f step_median_steady=%.4f fb_median_all=%.4f sgd_median_all=%.4f "
           "fwd_median=%.4f steps=%d maxrss_kb=%ld loop_hwm_kb=%ld\n",
           bench_median(tot, 0, steps), bench_median(tot, 1, steps), bench_median(fb, 0, steps), bench_median(sgd, 0, steps),
           fwd_only > 0 ? bench_median(fo, 0, fwd_only) : 0.0, steps, bench_maxrss_kb(), hwm_loop);
    if (tsv_path) {
        FILE *f = fopen(tsv_path, "w");
        if (f) {
            fprintf(f, "step\tstep_s\tfb_s\tsgd_s\trpn_cls\trpn_bbox\trcnn_cls\trcnn_bbox\n");
            for (int i = 0; i < steps; i++)
                fprintf(f, "%d\t%.5f\t%.5f\t%.5f\t%.6f\t%.6f\t%.6f\t%.6f\n", i + 1, tot[i], fb[i], sgd[i],
                        L[i].rpn_cls, L[i].rpn_bbox, L[i].rcnn_cls, L[i].rcnn_bbox);
            fclose(f);
        }
    }
    for (int f = 0; f < 3; f++) selsa_image_free(&imgs[f]);
    selsa_official_trainer_free(t);
    selsa_ctx_free(&ctx);
    return 0;
}
