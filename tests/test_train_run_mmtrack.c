/* Whole MMTracking-family training runs at tiny size (include/selsa/train_run.h, `selsa train`
 * with network.family mmtrack, configs/tiny_synth_mmtrack.yaml):
 *  - kill-and-resume: a run killed with SIGKILL mid-epoch and resumed from its last checkpoint
 *    ends with exactly the weights of an uninterrupted run (2 key images per update, so the
 *    averaged accumulation and its resume point are exercised), and its log has each update once;
 *  - checkpoints: PyTorch .pth with the exact MMTracking state-dict keys and meta.CLASSES, frozen
 *    stages untouched, loadable by the MMTracking test model; the MMTracking LR schedule (linear
 *    warm-up from lr/3, the lr_step epoch converted to updates) as logged;
 *  - the training-state file rejects corruption and truncation (exit 4);
 *  - corrupt dataset entries (missing image, broken XML) are skipped, warned and counted;
 *  - the CLI: a few updates then `selsa test` on the checkpoint prints an mAP table; settings the
 *    MMTracking pipeline lacks are configuration errors (exit 2).
 * Every training runs in a forked child so the parent never starts OpenMP/BLAS threads (a
 * child forked after that could not use them). The family-independent helpers are shared with
 * test_train_run.c (tests/train_support.h). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "selsa/config.h"
#include "selsa/image.h"
#include "selsa/model_mmtrack.h"
#include "selsa/weights.h"
#include "train_support.h"

static char dir[] = "/tmp/selsa_trainrun_mmt_XXXXXX";
static char data[4200];

#define CFG "configs/tiny_synth_mmtrack.yaml"
#define PREFIX "tiny_mmtrack_selsa"

/* The tiny run: 96×160, few RoIs, 2 key images per update (gpus '0,1'), 2 epochs, LR drop after
 * the first, 3 warm-up updates, fewer sampled anchors than inside anchors (seeded sampler). */
static const char *const SETS[] = {
    "SCALES=[96, 160]", "gpus='0,1'", "TRAIN.RPN_PRE_NMS_TOP_N=300", "TEST.RPN_PRE_NMS_TOP_N=300",
    "TRAIN.RPN_POST_NMS_TOP_N=32", "TEST.RPN_POST_NMS_TOP_N=16", "TRAIN.BATCH_ROIS=32",
    "TRAIN.RPN_BATCH_SIZE=32", "TRAIN.end_epoch=2", "TRAIN.lr_step='1'", "TRAIN.warmup_step=3", "threads=1"};
static const ts_family FAM = {CFG, SETS, (int)(sizeof SETS / sizeof SETS[0]), PREFIX};

/* "positions" of the first epoch_start record */
static int64_t log_positions(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[4096];
    int64_t n = -1;
    while (n < 0 && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "\"positions\":");
        if (strstr(line, "\"type\":\"epoch_start\"") && p) n = atoll(p + 12);
    }
    fclose(f);
    return n;
}

static void test_kill_and_resume(void) {
    char a[4300], b[4300], pa[4400], pb[4400];
    snprintf(a, sizeof a, "%s/run_a", dir);
    snprintf(b, sizeof b, "%s/run_b", dir);
    ts_child_run ra = {data, a, false, 0, 4};
    int st = ts_train_in_child(&FAM, &ra);
    if (!TH_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "uninterrupted run finished (status %d)", st)) return;
    bool ordered;
    snprintf(pa, sizeof pa, "%s/train_log.jsonl", a);
    int64_t total = ts_log_steps(pa, &ordered);
    int64_t positions = log_positions(pa), upe = (positions + 1) / 2;
    /* aspect grouping keeps whole batches: positions / 2 updates per epoch */
    TH_CHECK(total >= 12 && ordered && positions > 0 && total == 2 * upe,
             "log of the uninterrupted run: %lld step records for 2 epochs of %lld positions, in order",
             (long long)total, (long long)positions);
    /* MMTracking schedule: linear warm-up from lr/3 over 3 updates, ×0.1 after epoch 1 */
    double lr1 = ts_log_value(pa, 1, "lr"), lr2 = ts_log_value(pa, 2, "lr"), lrd = ts_log_value(pa, upe + 1, "lr"),
           lrb = ts_log_value(pa, upe, "lr");
    TH_CHECK(fabs(lr1 - 0.01 / 3) < 1e-9 && fabs(lr2 - 0.01 * (1 - (1 - 1.0 / 3) * (1 - 1.0 / 3))) < 1e-9,
             "warm-up: lr %.9g, %.9g (want 0.01/3, 0.01·(1 − (2/3)·(2/3)))", lr1, lr2);
    TH_CHECK(fabs(lrb - 0.01) < 1e-9 && fabs(lrd - 0.001) < 1e-9,
             "lr_step '1' = update %lld: lr %.9g before, %.9g after (want 0.01, 0.001)", (long long)upe, lrb, lrd);
    double gn = ts_log_value(pa, 1, "grad_norm"), pos = ts_log_value(pa, 1, "pos_rois"), cls = ts_log_value(pa, 1, "cls");
    TH_CHECK(gn > 0 && isfinite(gn) && pos >= 0 && cls > 0, "step records carry grad_norm %g, pos_rois %g, cls %g", gn,
             pos, cls);
    /* the same run killed with SIGKILL in the second epoch, 2 updates after a checkpoint */
    int64_t kill_at = upe + 4 + 2;
    if (kill_at >= total) kill_at = total - 1;
    ts_child_run rb = {data, b, false, kill_at, 4};
    st = ts_train_in_child(&FAM, &rb);
    TH_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "run B was killed by SIGKILL at update %lld",
             (long long)kill_at);
    snprintf(pb, sizeof pb, "%s/" PREFIX "-0002.pth", b);
    TH_CHECK(access(pb, F_OK) != 0, "killed run had not finished");
    snprintf(pb, sizeof pb, "%s/" PREFIX "-last.state", b);
    TH_CHECK(access(pb, F_OK) == 0, "killed run left a mid-epoch checkpoint");
    ts_child_run rc = {data, b, true, 0, 4};
    st = ts_train_in_child(&FAM, &rc);
    if (!TH_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "resumed run finished (status %d)", st)) return;
    snprintf(pa, sizeof pa, "%s/" PREFIX "-0002.pth", a);
    snprintf(pb, sizeof pb, "%s/" PREFIX "-0002.pth", b);
    ts_same_weights(pa, pb, "final weights, resumed vs uninterrupted");
    snprintf(pa, sizeof pa, "%s/" PREFIX "-0001.pth", a);
    snprintf(pb, sizeof pb, "%s/" PREFIX "-0001.pth", b);
    ts_same_weights(pa, pb, "epoch-1 weights");
    snprintf(pb, sizeof pb, "%s/train_log.jsonl", b);
    int64_t nb = ts_log_steps(pb, &ordered);
    TH_CHECK(nb == total && ordered, "resumed log: %lld step records (want %lld), each update once, in order",
             (long long)nb, (long long)total);
    selsa_image im = {0};
    snprintf(pa, sizeof pa, "%s/loss.png", a);
    if (TH_OK(selsa_image_read(pa, &im))) TH_CHECK(im.w == 800 && im.h == 500, "loss.png is 800x500");
    selsa_image_free(&im);
    snprintf(pa, sizeof pa, "%s/config.yaml", a);
    TH_CHECK(access(pa, F_OK) == 0, "config.yaml written");
}

static void test_checkpoint_content(void) {
    char p[4400];
    snprintf(p, sizeof p, "%s/run_a/" PREFIX "-0002.pth", dir);
    static selsa_config cfg;
    selsa_mmtrack_config mc;
    if (!TH_OK(ts_tiny_config(&FAM, &cfg, data)) || !TH_OK(selsa_config_to_mmtrack(&cfg, &mc))) return;
    selsa_weights w, w0;
    selsa_weights_init(&w);
    selsa_weights_init(&w0);
    if (TH_OK(selsa_weights_load(p, &w)) && TH_OK(selsa_mmtrack_init_weights(&mc, cfg.seed, NULL, &w0))) {
        selsa_weights_format fmt = SELSA_WEIGHTS_UNKNOWN;
        TH_CHECK(selsa_weights_detect(p, &fmt) == SELSA_OK && fmt == SELSA_WEIGHTS_PTH_ZIP, "checkpoint is a zip .pth");
        TH_CHECK(w.count == w0.count, "checkpoint has every state-dict key (%lld, init %lld)", (long long)w.count,
                 (long long)w0.count);
        int64_t missing = 0;
        for (int64_t i = 0; i < w0.count; i++) missing += selsa_weights_find(&w, w0.items[i].name) == NULL;
        TH_CHECK(missing == 0, "%lld init keys missing from the checkpoint", (long long)missing);
        TH_CHECK(w.n_classes == 30 && w.class_names && !strcmp(w.class_names[0], "airplane"),
                 "meta.CLASSES: 30 VID names (%d)", w.n_classes);
        /* frozen_stages=1: stem and layer1 untouched; BN statistics frozen; heads trained */
        static const char *const same[] = {"detector.backbone.conv1.weight", "detector.backbone.bn1.weight",
                                           "detector.backbone.layer1.0.conv1.weight",
                                           "detector.backbone.layer2.0.bn1.running_mean"};
        static const char *const diff[] = {"detector.backbone.layer2.0.conv1.weight",
                                           "detector.backbone.layer2.0.bn1.weight", "detector.neck.convs.0.conv.weight",
                                           "detector.rpn_head.rpn_cls.weight",
                                           "detector.roi_head.bbox_head.fc_cls.weight"};
        for (int k = 0; k < 4 + 5; k++) {
            const char *nm = k < 4 ? same[k] : diff[k - 4];
            const selsa_weight *x = selsa_weights_find(&w, nm), *y = selsa_weights_find(&w0, nm);
            if (!TH_CHECK(x && y && x->numel == y->numel, "tensor %s in checkpoint and init", nm)) continue;
            bool eq = memcmp(x->data, y->data, (size_t)x->numel * sizeof(float)) == 0;
            TH_CHECK(eq == (k < 4), "%s %s", nm, k < 4 ? "unchanged (frozen)" : "trained");
        }
    }
    selsa_weights_free(&w);
    selsa_weights_free(&w0);
    selsa_mmtrack_model *m = NULL;
    TH_OK(selsa_mmtrack_model_load_file(&m, &mc, p));
    selsa_mmtrack_model_free(m);
    /* state file: corrupt byte -> checksum error; truncated -> truncation error (through the CLI,
     * which also maps them to the model exit code) */
    ts_check_damaged_state(&FAM, dir, data);
}

static void test_cli(void) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "train --cfg %s%s --root %s --out %s/cli --max-steps 3 -q", CFG, ts_cli_sets(&FAM), data, dir);
    TH_CHECK(ts_run_cli(cmd) == 0 && strstr(ts_out, "stopped: 3 updates") && strstr(ts_out, PREFIX "-last.pth"),
             "train --max-steps 3: %s", ts_out);
    snprintf(cmd, sizeof cmd, "test --cfg %s%s --root %s --test-pretrained %s/cli/" PREFIX "-last.pth --out %s/cli/test -q",
             CFG, ts_cli_sets(&FAM), data, dir, dir);
    TH_CHECK(ts_run_cli(cmd) == 0 && strstr(ts_out, "mAP"), "test on the checkpoint: %s", ts_out);
    snprintf(cmd, sizeof cmd, "train --cfg %s%s --set TRAIN.ENABLE_OHEM=true --root %s --out %s/ohem -q", CFG,
             ts_cli_sets(&FAM), data, dir);
    TH_CHECK(ts_run_cli(cmd) == 2 && strstr(ts_out, "ENABLE_OHEM"), "OHEM with the MMTracking family: exit 2: %s",
             ts_out);
    snprintf(cmd, sizeof cmd, "train --cfg %s%s --root %s --out %s/x --pretrained %s/none.pth -q", CFG, ts_cli_sets(&FAM),
             data, dir, dir);
    TH_CHECK(ts_run_cli(cmd) == 4 && strstr(ts_out, "none.pth"), "missing ImageNet model: exit 4 naming it: %s",
             ts_out);
}

int main(int argc, char **argv) {
    th_init(argc, argv, "train_run_mmtrack");
    int ready = ts_setup(dir, data, sizeof data);
    if (ready < 0) return th_finish();
    if (ready == 0) {
        test_kill_and_resume();
        if (ts_have_tool()) {
            test_checkpoint_content();
            ts_check_corrupt_entries(&FAM, dir, data);
            test_cli();
        }
    }
    th_remove_tree(dir);
    return th_finish();
}
