/* Whole training runs at tiny size (include/selsa/train_run.h, `selsa train`):
 *  - kill-and-resume: a run killed with SIGKILL mid-epoch and resumed from its last checkpoint
 *    ends with exactly the weights of an uninterrupted run, and its log has each update once;
 *  - checkpoints: official layout with the *_test bbox keys (= W·stds), loadable by the test
 *    model; the training-state file rejects corruption and truncation;
 *  - corrupt dataset entries (missing image, broken XML) are skipped, warned and counted;
 *  - the CLI's happy path and documented errors with their exit codes;
 *  - network.attention_qk_identity / attention_out_identity initialise the attention as s·I.
 * Every training runs in a forked child so the parent never starts OpenMP/BLAS threads (a
 * child forked after that could not use them). */
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
#include "selsa/model_official.h"
#include "selsa/train_run.h"
#include "selsa/weights.h"
#include "train_support.h"

static char dir[] = "/tmp/selsa_trainrun_XXXXXX";
static char data[4200];

/* The tiny run every test uses: tiny_synth.yaml at 96×160 with few RoIs, augmentation on,
 * 2 epochs, LR drop after the first, 3 warm-up updates. */
static const char *const SETS[] = {
    "SCALES=[96, 160]", "TRAIN.RPN_PRE_NMS_TOP_N=300", "TRAIN.RPN_POST_NMS_TOP_N=32",
    "TRAIN.BATCH_ROIS_OHEM=16", "TRAIN.data_aug=true", "TRAIN.end_epoch=2", "TRAIN.lr_step='1'",
    "TRAIN.warmup_step=3", "TEST.RPN_POST_NMS_TOP_N=32", "threads=1",
    "TRAIN.RPN_BATCH_SIZE=32" /* < the inside anchors: the seeded anchor sampler is exercised */};
static const ts_family FAM = {"configs/tiny_synth.yaml", SETS, (int)(sizeof SETS / sizeof SETS[0]), "tiny_selsa"};

static void test_kill_and_resume(void) {
    char a[4300], b[4300], pa[4400], pb[4400];
    snprintf(a, sizeof a, "%s/run_a", dir);
    snprintf(b, sizeof b, "%s/run_b", dir);
    ts_child_run ra = {data, a, false, 0, 5};
    int st = ts_train_in_child(&FAM, &ra);
    if (!TH_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "uninterrupted run finished (status %d)", st)) return;
    /* the same run killed with SIGKILL in the second epoch, 3 updates after a checkpoint */
    bool ordered;
    snprintf(pa, sizeof pa, "%s/train_log.jsonl", a);
    int64_t total = ts_log_steps(pa, &ordered);
    TH_CHECK(total > 20 && ordered, "log of the uninterrupted run: %lld step records, in order", (long long)total);
    double gn = ts_log_value(pa, 1, "grad_norm"), gn2 = ts_log_value(pa, 2, "grad_norm");
    TH_CHECK(gn > 0 && isfinite(gn) && gn2 > 0 && isfinite(gn2), "step records carry the pre-clip grad_norm (%g, %g)",
             gn, gn2);
    int64_t kill_at = (total / 2 + 5) / 5 * 5 + 3; /* second epoch, mid-epoch */
    ts_child_run rb = {data, b, false, kill_at, 5};
    st = ts_train_in_child(&FAM, &rb);
    TH_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "run B was killed by SIGKILL at update %lld",
             (long long)kill_at);
    snprintf(pb, sizeof pb, "%s/tiny_selsa-0002.params", b);
    TH_CHECK(access(pb, F_OK) != 0, "killed run had not finished");
    snprintf(pb, sizeof pb, "%s/tiny_selsa-last.state", b);
    TH_CHECK(access(pb, F_OK) == 0, "killed run left a mid-epoch checkpoint");
    ts_child_run rc = {data, b, true, 0, 5};
    st = ts_train_in_child(&FAM, &rc);
    if (!TH_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "resumed run finished (status %d)", st)) return;
    snprintf(pa, sizeof pa, "%s/tiny_selsa-0002.params", a);
    snprintf(pb, sizeof pb, "%s/tiny_selsa-0002.params", b);
    ts_same_weights(pa, pb, "final weights, resumed vs uninterrupted");
    snprintf(pa, sizeof pa, "%s/tiny_selsa-0001.params", a);
    snprintf(pb, sizeof pb, "%s/tiny_selsa-0001.params", b);
    ts_same_weights(pa, pb, "epoch-1 weights");
    snprintf(pb, sizeof pb, "%s/train_log.jsonl", b);
    int64_t nb = ts_log_steps(pb, &ordered);
    TH_CHECK(nb == total && ordered, "resumed log: %lld step records (want %lld), each update once, in order",
             (long long)nb, (long long)total);
    /* the loss plot is a PNG */
    selsa_image im = {0};
    snprintf(pa, sizeof pa, "%s/loss.png", a);
    if (TH_OK(selsa_image_read(pa, &im))) TH_CHECK(im.w == 800 && im.h == 500, "loss.png is 800x500");
    selsa_image_free(&im);
}

static void test_checkpoint_content(void) {
    char p[4400];
    snprintf(p, sizeof p, "%s/run_a/tiny_selsa-0002.params", dir);
    selsa_weights w;
    selsa_weights_init(&w);
    if (!TH_OK(selsa_weights_load(p, &w))) return;
    const selsa_weight *bw = selsa_weights_find(&w, "bbox_pred_weight"),
                       *tw = selsa_weights_find(&w, "bbox_pred_weight_test"),
                       *bb = selsa_weights_find(&w, "bbox_pred_bias"),
                       *tb = selsa_weights_find(&w, "bbox_pred_bias_test"),
                       *mv = selsa_weights_find(&w, "bn_conv1_moving_var");
    if (TH_CHECK(bw && tw && bb && tb && mv, "checkpoint has bbox_pred(_test) and the frozen BN")) {
        TH_CHECK(tw->kind == SELSA_WEIGHT_ARG && mv->kind == SELSA_WEIGHT_AUX, "arg:/aux: kinds kept");
        const double stds[4] = {0.1, 0.1, 0.2, 0.2};
        int64_t cols = bw->dims[1], bad = 0;
        for (int64_t r = 0; r < bw->dims[0]; r++) {
            float sd = (float)stds[r % 4];
            for (int64_t c = 0; c < cols; c++) bad += tw->data[r * cols + c] != bw->data[r * cols + c] * sd;
            bad += tb->data[r] != bb->data[r] * sd;
        }
        TH_CHECK(bad == 0, "*_test = raw * (0.1, 0.1, 0.2, 0.2) (%lld mismatches)", (long long)bad);
    }
    selsa_weights_free(&w);
    /* the test-time model loads it (the _test rename applies) */
    static selsa_config cfg;
    if (TH_OK(ts_tiny_config(&FAM, &cfg, data))) {
        selsa_official_config oc;
        selsa_official_model *m = NULL;
        if (TH_OK(selsa_config_to_official(&cfg, &oc))) TH_OK(selsa_official_model_load_file(&m, &oc, p));
        selsa_official_model_free(m);
    }
    /* state file: corrupt byte -> checksum error; truncated -> truncation error (through the CLI,
     * which also maps them to the model exit code) */
    ts_check_damaged_state(&FAM, dir, data);
}

static void test_cli(void) {
    char cmd[16384];
    TH_CHECK(ts_run_cli("train --help") == 0 && strstr(ts_out, "usage: selsa train"), "train --help");
    TH_CHECK(ts_run_cli("train") == 2 && strstr(ts_out, "--cfg"), "missing --cfg: exit 2");
    TH_CHECK(ts_run_cli("train --cfg /nonexistent.yaml") == 2 && strstr(ts_out, "nonexistent.yaml"),
             "unreadable config: exit 2 naming it: %s", ts_out);
    TH_CHECK(ts_run_cli("train --cfg configs/tiny_synth.yaml --set TRAIN.nosuch=1") == 2 && strstr(ts_out, "TRAIN.nosuch"),
             "unknown key: exit 2 naming it: %s", ts_out);
    snprintf(cmd, sizeof cmd, "train --cfg configs/tiny_synth.yaml --root %s/nodata --out %s/x -q", dir, dir);
    TH_CHECK(ts_run_cli(cmd) == 3 && strstr(ts_out, "nodata"), "missing dataset: exit 3 naming it: %s", ts_out);
    snprintf(cmd, sizeof cmd, "train --cfg configs/tiny_synth.yaml%s --root %s --out %s/x --pretrained %s/none.params -q",
             ts_cli_sets(&FAM), data, dir, dir);
    TH_CHECK(ts_run_cli(cmd) == 4 && strstr(ts_out, "none.params"), "missing ImageNet model: exit 4 naming it: %s",
             ts_out);
    snprintf(cmd, sizeof cmd, "train --cfg configs/tiny_synth.yaml%s --root %s --out %s/empty --resume -q", ts_cli_sets(&FAM),
             data, dir);
    TH_CHECK(ts_run_cli(cmd) == 4 && strstr(ts_out, "no checkpoint"), "--resume without checkpoint: exit 4: %s",
             ts_out);
    /* happy path: a few updates with a checkpoint, then `selsa test` on the checkpoint */
    snprintf(cmd, sizeof cmd, "train --cfg configs/tiny_synth.yaml%s --root %s --out %s/cli --max-steps 4 -q",
             ts_cli_sets(&FAM), data, dir);
    TH_CHECK(ts_run_cli(cmd) == 0 && strstr(ts_out, "stopped: 4 updates") && strstr(ts_out, "tiny_selsa-last.params"),
             "train --max-steps 4: %s", ts_out);
    snprintf(cmd, sizeof cmd, "test --cfg configs/tiny_synth.yaml%s --root %s --test-pretrained %s/cli/tiny_selsa-last.params --out %s/cli/test -q",
             ts_cli_sets(&FAM), data, dir, dir);
    TH_CHECK(ts_run_cli(cmd) == 0 && strstr(ts_out, "mAP"), "test on the checkpoint: %s", ts_out);
    /* a diverging run stops with a numeric error naming a tensor (internal-error exit) */
    snprintf(cmd, sizeof cmd, "train --cfg configs/tiny_synth.yaml%s --set TRAIN.lr=1e12 --set TRAIN.warmup=false --root %s --out %s/nan -q",
             ts_cli_sets(&FAM), data, dir);
    TH_CHECK(ts_run_cli(cmd) == 5 && strstr(ts_out, "not finite"), "diverging run: exit 5, names the tensor: %.1000s",
             ts_out);
}

/* network.attention_qk_identity / attention_out_identity: query/key and linear_out start as s·I
 * (zero off the diagonal), the other new layers as the spec; out-of-range values are refused. */
static void test_attention_identity_init(void) {
    selsa_config c;
    selsa_config_default(&c);
    if (!TH_OK(selsa_config_load(&c, "configs/tiny_synth.yaml"))) return;
    TH_OK(selsa_config_set_arg(&c, "network.attention_qk_identity=2"));
    TH_OK(selsa_config_set_arg(&c, "network.attention_out_identity=0.5"));
    if (!TH_OK(selsa_config_validate(&c))) return;
    selsa_official_config mc;
    selsa_official_train_config tc;
    if (!TH_OK(selsa_train_official_configs(&c, 100, &mc, &tc))) return;
    selsa_weights w;
    selsa_weights_init(&w);
    if (TH_OK(selsa_train_initial_weights(&c, &mc, &w))) {
        static const char *const names[] = {"query_1_weight", "key_2_weight", "linear_out_1_weight",
                                            "linear_out_2_weight"};
        static const float want_diag[] = {2.0f, 2.0f, 0.5f, 0.5f};
        for (int k = 0; k < 4; k++) {
            const selsa_weight *e = selsa_weights_find(&w, names[k]);
            if (!TH_CHECK(e && e->numel == (int64_t)mc.fc_dim * mc.fc_dim, "%s present, %d x %d", names[k],
                          mc.fc_dim, mc.fc_dim))
                continue;
            int64_t bad = 0, d = mc.fc_dim;
            for (int64_t i = 0; i < d * d; i++) bad += e->data[i] != ((i % (d + 1) == 0) ? want_diag[k] : 0.0f);
            TH_CHECK(bad == 0, "%s = %g * I (%lld entries differ)", names[k], (double)want_diag[k], (long long)bad);
        }
        const selsa_weight *f = selsa_weights_find(&w, "fc_new_2_weight");
        double ss = 0;
        for (int64_t i = 0; f && i < f->numel; i++) ss += (double)f->data[i] * f->data[i];
        double sd = f ? sqrt(ss / (double)f->numel) : 0;
        /* N(0, 0.01) over 16,384 values: the sample std is within 3 % of 0.01 */
        TH_CHECK(f && fabs(sd - 0.01) < 3e-4, "fc_new_2 keeps the spec init N(0, 0.01): std %g", sd);
    }
    selsa_weights_free(&w);
    TH_OK(selsa_config_set_arg(&c, "network.attention_out_identity=-1"));
    TH_FAILS(selsa_config_validate(&c), SELSA_ERR_INVALID_ARG);
}

int main(int argc, char **argv) {
    th_init(argc, argv, "train_run");
    int ready = ts_setup(dir, data, sizeof data);
    if (ready < 0) return th_finish();
    if (ready == 0) {
        test_kill_and_resume();
        test_checkpoint_content();
        if (ts_have_tool()) {
            ts_check_corrupt_entries(&FAM, dir, data);
            test_cli();
        }
    }
    test_attention_identity_init(); /* after the forks: the parent may start threads from here on */
    th_remove_tree(dir);
    return th_finish();
}
