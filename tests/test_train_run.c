/* Whole training runs at tiny size (include/selsa/train_run.h, `selsa train`):
 *  - kill-and-resume: a run killed with SIGKILL mid-epoch and resumed from its last checkpoint
 *    ends with exactly the weights of an uninterrupted run, and its log has each update once;
 *  - checkpoints: official layout with the *_test bbox keys (= W·stds), loadable by the test
 *    model; the training-state file rejects corruption and truncation;
 *  - corrupt dataset entries (missing image, broken XML) are skipped, warned and counted;
 *  - the CLI's happy path and documented errors with their exit codes.
 * Every training runs in a forked child so the parent never starts OpenMP/BLAS threads (a
 * child forked after that could not use them). */
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "selsa/config.h"
#include "selsa/image.h"
#include "selsa/model_official.h"
#include "selsa/synth.h"
#include "selsa/train_run.h"
#include "selsa/weights.h"

static char tool[4096];
static char out_buf[65536];
static char dir[] = "/tmp/selsa_trainrun_XXXXXX";
static char data[4200];

static int run_cli(const char *args) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", tool, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out_buf, 1, sizeof out_buf - 1, p);
    out_buf[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The tiny run every test uses: tiny_synth.yaml at 96×160 with few RoIs, augmentation on,
 * 2 epochs, LR drop after the first, 3 warm-up updates. */
static const char *const SETS[] = {
    "SCALES=[96, 160]", "TRAIN.RPN_PRE_NMS_TOP_N=300", "TRAIN.RPN_POST_NMS_TOP_N=32",
    "TRAIN.BATCH_ROIS_OHEM=16", "TRAIN.data_aug=true", "TRAIN.end_epoch=2", "TRAIN.lr_step='1'",
    "TRAIN.warmup_step=3", "TEST.RPN_POST_NMS_TOP_N=32", "threads=1",
    "TRAIN.RPN_BATCH_SIZE=32" /* < the inside anchors: the seeded anchor sampler is exercised */};
enum { N_SETS = sizeof SETS / sizeof SETS[0] };

static selsa_status tiny_config(selsa_config *c, const char *root) {
    selsa_config_default(c);
    SELSA_TRY(selsa_config_load(c, "configs/tiny_synth.yaml"));
    for (int i = 0; i < N_SETS; i++) SELSA_TRY(selsa_config_set_arg(c, SETS[i]));
    SELSA_TRY(selsa_config_set(c, "dataset.dataset_path", root));
    return selsa_config_validate(c);
}

static const char *cli_sets(void) {
    static char b[2048];
    b[0] = 0;
    for (int i = 0; i < N_SETS; i++) {
        strcat(b, " --set \"");
        strcat(b, SETS[i]);
        strcat(b, "\"");
    }
    return b;
}

typedef struct child_run {
    const char *root, *out;
    bool resume;
    int64_t kill_at;      /* raise SIGKILL in the progress callback at this update (0: never) */
    int64_t every;        /* checkpoint_every */
} child_run;

static int kill_cb(void *user, const selsa_train_progress *p) {
    const child_run *c = user;
    if (c->kill_at && p->step == c->kill_at) raise(SIGKILL);
    return 0;
}

/* Fork, train, return the child's wait status. */
static int train_in_child(const child_run *c) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        static selsa_config cfg;
        if (tiny_config(&cfg, c->root) != SELSA_OK) {
            fprintf(stderr, "config: %s\n", selsa_last_error());
            _exit(10);
        }
        selsa_train_run_opts o;
        memset(&o, 0, sizeof o);
        o.cfg = &cfg;
        o.out_dir = c->out;
        o.resume = c->resume;
        o.checkpoint_every = c->every;
        o.n_threads = 1;
        o.n_workers = 2;
        o.progress = kill_cb;
        o.progress_user = (void *)c;
        selsa_train_run_result r;
        selsa_status s = selsa_train_run(&o, &r);
        if (s != SELSA_OK) fprintf(stderr, "train: %s\n", selsa_last_error());
        _exit(s == SELSA_OK && r.finished ? 0 : 11);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
}

static int gen_in_child(const char *root) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        selsa_synth_config sc = selsa_synth_config_default();
        sc.root = root;
        sc.seed = 5;
        sc.width = 160;
        sc.height = 96;
        sc.n_train_videos = 2;
        sc.n_val_videos = 1;
        sc.min_frames = 8;
        sc.max_frames = 10;
        sc.n_det_images = 4;
        sc.min_box = 10;
        _exit(selsa_synth_generate(&sc, NULL) == SELSA_OK ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool same_weights(const char *a, const char *b, const char *what) {
    selsa_weights wa, wb;
    selsa_weights_init(&wa);
    selsa_weights_init(&wb);
    bool ok = TH_OK(selsa_weights_load(a, &wa)) && TH_OK(selsa_weights_load(b, &wb));
    if (ok) ok = TH_CHECK(wa.count == wb.count && wa.count > 0, "%s: tensor counts %lld vs %lld", what,
                          (long long)wa.count, (long long)wb.count);
    int64_t bad = 0;
    for (int64_t i = 0; ok && i < wa.count; i++) {
        const selsa_weight *x = &wa.items[i], *y = selsa_weights_find(&wb, x->name);
        if (!y || y->numel != x->numel || memcmp(x->data, y->data, (size_t)x->numel * sizeof(float)) != 0) {
            if (bad++ < 3) printf("  %s: tensor %s differs\n", what, x->name);
        }
    }
    if (ok) ok = TH_CHECK(bad == 0, "%s: %lld tensors differ (bit-exact resume expected)", what, (long long)bad);
    selsa_weights_free(&wa);
    selsa_weights_free(&wb);
    return ok;
}

/* Count "type":"step" records and check their step numbers are 1, 2, ..., n (no duplicates). */
static int64_t log_steps(const char *path, bool *in_order) {
    FILE *f = fopen(path, "r");
    *in_order = f != NULL;
    if (!f) return -1;
    char line[4096];
    int64_t n = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strstr(line, "\"type\":\"step\"")) continue;
        long long s = -1;
        const char *p = strstr(line, "\"step\":");
        if (p) s = atoll(p + 7);
        if (s != n + 1) *in_order = false;
        n++;
    }
    fclose(f);
    return n;
}

static void test_kill_and_resume(void) {
    char a[4300], b[4300], pa[4400], pb[4400];
    snprintf(a, sizeof a, "%s/run_a", dir);
    snprintf(b, sizeof b, "%s/run_b", dir);
    child_run ra = {data, a, false, 0, 5};
    int st = train_in_child(&ra);
    if (!TH_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "uninterrupted run finished (status %d)", st)) return;
    /* the same run killed with SIGKILL in the second epoch, 3 updates after a checkpoint */
    bool ordered;
    snprintf(pa, sizeof pa, "%s/train_log.jsonl", a);
    int64_t total = log_steps(pa, &ordered);
    TH_CHECK(total > 20 && ordered, "log of the uninterrupted run: %lld step records, in order", (long long)total);
    int64_t kill_at = (total / 2 + 5) / 5 * 5 + 3; /* second epoch, mid-epoch */
    child_run rb = {data, b, false, kill_at, 5};
    st = train_in_child(&rb);
    TH_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "run B was killed by SIGKILL at update %lld",
             (long long)kill_at);
    snprintf(pb, sizeof pb, "%s/tiny_selsa-0002.params", b);
    TH_CHECK(access(pb, F_OK) != 0, "killed run had not finished");
    snprintf(pb, sizeof pb, "%s/tiny_selsa-last.state", b);
    TH_CHECK(access(pb, F_OK) == 0, "killed run left a mid-epoch checkpoint");
    child_run rc = {data, b, true, 0, 5};
    st = train_in_child(&rc);
    if (!TH_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "resumed run finished (status %d)", st)) return;
    snprintf(pa, sizeof pa, "%s/tiny_selsa-0002.params", a);
    snprintf(pb, sizeof pb, "%s/tiny_selsa-0002.params", b);
    same_weights(pa, pb, "final weights, resumed vs uninterrupted");
    snprintf(pa, sizeof pa, "%s/tiny_selsa-0001.params", a);
    snprintf(pb, sizeof pb, "%s/tiny_selsa-0001.params", b);
    same_weights(pa, pb, "epoch-1 weights");
    snprintf(pb, sizeof pb, "%s/train_log.jsonl", b);
    int64_t nb = log_steps(pb, &ordered);
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
    if (TH_OK(tiny_config(&cfg, data))) {
        selsa_official_config oc;
        selsa_official_model *m = NULL;
        if (TH_OK(selsa_config_to_official(&cfg, &oc))) TH_OK(selsa_official_model_load_file(&m, &oc, p));
        selsa_official_model_free(m);
    }
    /* state file: corrupt byte -> checksum error; truncated -> truncation error (through the CLI,
     * which also maps them to the model exit code) */
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "cp -r %s/run_a %s/run_c && cp -r %s/run_a %s/run_d", dir, dir, dir, dir);
    if (!TH_CHECK(system(cmd) == 0, "copy run folder")) return;
    snprintf(p, sizeof p, "%s/run_c/tiny_selsa-0002.state", dir);
    FILE *f = fopen(p, "r+b");
    if (TH_CHECK(f != NULL, "open state")) {
        fseek(f, 2000, SEEK_SET);
        int c = fgetc(f);
        fseek(f, 2000, SEEK_SET);
        fputc(c ^ 0x5a, f);
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "train --cfg configs/tiny_synth.yaml%s --root %s --out %s/run_c --resume -q",
             cli_sets(), data, dir);
    int rc = run_cli(cmd);
    TH_CHECK(rc == 4 && strstr(out_buf, "checksum"), "corrupt state: exit 4 naming the checksum (%d): %s", rc,
             out_buf);
    snprintf(p, sizeof p, "%s/run_d/tiny_selsa-0002.state", dir);
    TH_CHECK(truncate(p, 3000) == 0, "truncate state");
    snprintf(cmd, sizeof cmd, "train --cfg configs/tiny_synth.yaml%s --root %s --out %s/run_d --resume -q",
             cli_sets(), data, dir);
    rc = run_cli(cmd);
    TH_CHECK(rc == 4 && strstr(out_buf, "truncated"), "truncated state: exit 4 (%d): %s", rc, out_buf);
}

static void test_corrupt_entries(void) {
    char bad[4300], cmd[16384];
    snprintf(bad, sizeof bad, "%s/data_bad", dir);
    snprintf(cmd, sizeof cmd, "cp -r %s %s", data, bad);
    if (!TH_CHECK(system(cmd) == 0, "copy dataset")) return;
    /* a missing key image, a broken annotation */
    snprintf(cmd, sizeof cmd,
             "rm %s/Data/VID/train/ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000/000002.JPEG && "
             "printf '<annotation><size><width>1' > "
             "%s/Annotations/VID/train/ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000001/000003.xml",
             bad, bad);
    if (!TH_CHECK(system(cmd) == 0, "damage dataset")) return;
    snprintf(cmd, sizeof cmd,
             "train --cfg configs/tiny_synth.yaml%s --set TRAIN.end_epoch=1 --root %s --out %s/run_bad --workers 2",
             cli_sets(), bad, dir);
    int rc = run_cli(cmd);
    TH_CHECK(rc == 0, "training over corrupt entries finishes (%d): %.2000s", rc, out_buf);
    TH_CHECK(strstr(out_buf, "000002.JPEG") && strstr(out_buf, "000003.xml"),
             "warnings name the missing image and the broken XML: %.2000s", out_buf);
    char p[4400];
    snprintf(p, sizeof p, "%s/run_bad/train_log.jsonl", dir);
    FILE *f = fopen(p, "r");
    bool corrupt = false, skipped = false;
    char line[4096];
    while (f && fgets(line, sizeof line, f)) {
        if (strstr(line, "\"type\":\"start\"") && !strstr(line, "\"corrupt\":0,")) corrupt = true;
        if (strstr(line, "\"type\":\"finish\"") && !strstr(line, "\"skipped\":0,")) skipped = true;
    }
    if (f) fclose(f);
    TH_CHECK(corrupt && skipped, "log counts the broken XML (start record) and the skipped samples (finish)");
}

static void test_cli(void) {
    char cmd[16384];
    TH_CHECK(run_cli("train --help") == 0 && strstr(out_buf, "usage: selsa train"), "train --help");
    TH_CHECK(run_cli("train") == 2 && strstr(out_buf, "--cfg"), "missing --cfg: exit 2");
    TH_CHECK(run_cli("train --cfg /nonexistent.yaml") == 2 && strstr(out_buf, "nonexistent.yaml"),
             "unreadable config: exit 2 naming it: %s", out_buf);
    TH_CHECK(run_cli("train --cfg configs/tiny_synth.yaml --set TRAIN.nosuch=1") == 2 && strstr(out_buf, "TRAIN.nosuch"),
             "unknown key: exit 2 naming it: %s", out_buf);
    snprintf(cmd, sizeof cmd, "train --cfg configs/tiny_synth.yaml --root %s/nodata --out %s/x -q", dir, dir);
    TH_CHECK(run_cli(cmd) == 3 && strstr(out_buf, "nodata"), "missing dataset: exit 3 naming it: %s", out_buf);
    snprintf(cmd, sizeof cmd, "train --cfg configs/tiny_synth.yaml%s --root %s --out %s/x --pretrained %s/none.params -q",
             cli_sets(), data, dir, dir);
    TH_CHECK(run_cli(cmd) == 4 && strstr(out_buf, "none.params"), "missing ImageNet model: exit 4 naming it: %s",
             out_buf);
    snprintf(cmd, sizeof cmd, "train --cfg configs/tiny_synth.yaml%s --root %s --out %s/empty --resume -q", cli_sets(),
             data, dir);
    TH_CHECK(run_cli(cmd) == 4 && strstr(out_buf, "no checkpoint"), "--resume without checkpoint: exit 4: %s",
             out_buf);
    /* happy path: a few updates with a checkpoint, then `selsa test` on the checkpoint */
    snprintf(cmd, sizeof cmd, "train --cfg configs/tiny_synth.yaml%s --root %s --out %s/cli --max-steps 4 -q",
             cli_sets(), data, dir);
    TH_CHECK(run_cli(cmd) == 0 && strstr(out_buf, "stopped: 4 updates") && strstr(out_buf, "tiny_selsa-last.params"),
             "train --max-steps 4: %s", out_buf);
    snprintf(cmd, sizeof cmd, "test --cfg configs/tiny_synth.yaml%s --root %s --test-pretrained %s/cli/tiny_selsa-last.params --out %s/cli/test -q",
             cli_sets(), data, dir, dir);
    TH_CHECK(run_cli(cmd) == 0 && strstr(out_buf, "mAP"), "test on the checkpoint: %s", out_buf);
    /* a diverging run stops with a numeric error naming a tensor (internal-error exit) */
    snprintf(cmd, sizeof cmd, "train --cfg configs/tiny_synth.yaml%s --set TRAIN.lr=1e12 --set TRAIN.warmup=false --root %s --out %s/nan -q",
             cli_sets(), data, dir);
    TH_CHECK(run_cli(cmd) == 5 && strstr(out_buf, "not finite"), "diverging run: exit 5, names the tensor: %.1000s",
             out_buf);
}

int main(int argc, char **argv) {
    th_init(argc, argv, "train_run");
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    snprintf(tool, sizeof tool, "%s/../selsa", dirname(self));
    if (!mkdtemp(dir)) {
        TH_CHECK(0, "mkdtemp failed");
        return th_finish();
    }
    snprintf(data, sizeof data, "%s/data", dir);
    if (TH_CHECK(gen_in_child(data) == 0, "synthetic dataset")) {
        test_kill_and_resume();
        test_checkpoint_content();
        if (access(tool, X_OK) == 0) {
            test_corrupt_entries();
            test_cli();
        } else TH_CHECK(0, "selsa tool not found at %s (build it with `make`)", tool);
    }
    char rm[4200];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    if (system(rm) != 0) printf("warning: could not remove %s\n", dir);
    return th_finish();
}
