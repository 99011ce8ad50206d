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
 * child forked after that could not use them). The CLI helpers mirror test_train_run.c (the
 * Makefile links no shared test helper besides the harness). */
#include <libgen.h>
#include <math.h>
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
#include "selsa/model_mmtrack.h"
#include "selsa/synth.h"
#include "selsa/train_run.h"
#include "selsa/weights.h"

static char tool[4096];
static char out_buf[65536];
static char dir[] = "/tmp/selsa_trainrun_mmt_XXXXXX";
static char data[4200];

static const char *const CFG = "configs/tiny_synth_mmtrack.yaml";
#define PREFIX "tiny_mmtrack_selsa"

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

/* The tiny run: 96×160, few RoIs, 2 key images per update (gpus '0,1'), 2 epochs, LR drop after
 * the first, 3 warm-up updates, fewer sampled anchors than inside anchors (seeded sampler). */
static const char *const SETS[] = {
    "SCALES=[96, 160]", "gpus='0,1'", "TRAIN.RPN_PRE_NMS_TOP_N=300", "TEST.RPN_PRE_NMS_TOP_N=300",
    "TRAIN.RPN_POST_NMS_TOP_N=32", "TEST.RPN_POST_NMS_TOP_N=16", "TRAIN.BATCH_ROIS=32",
    "TRAIN.RPN_BATCH_SIZE=32", "TRAIN.end_epoch=2", "TRAIN.lr_step='1'", "TRAIN.warmup_step=3", "threads=1"};
enum { N_SETS = sizeof SETS / sizeof SETS[0] };

static selsa_status tiny_config(selsa_config *c, const char *root) {
    selsa_config_default(c);
    SELSA_TRY(selsa_config_load(c, CFG));
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

/* Number after "key": in the step record of update `step` (NAN when absent). */
static double log_value(const char *path, int64_t step, const char *key) {
    FILE *f = fopen(path, "r");
    if (!f) return NAN;
    char line[4096], want[64], k[80];
    snprintf(want, sizeof want, "\"type\":\"step\",\"step\":%lld,", (long long)step);
    snprintf(k, sizeof k, "\"%s\":", key);
    double v = NAN;
    while (fgets(line, sizeof line, f)) {
        if (!strstr(line, want)) continue;
        const char *p = strstr(line, k);
        if (p) v = atof(p + strlen(k));
        break;
    }
    fclose(f);
    return v;
}

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
    child_run ra = {data, a, false, 0, 4};
    int st = train_in_child(&ra);
    if (!TH_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "uninterrupted run finished (status %d)", st)) return;
    bool ordered;
    snprintf(pa, sizeof pa, "%s/train_log.jsonl", a);
    int64_t total = log_steps(pa, &ordered);
    int64_t positions = log_positions(pa), upe = (positions + 1) / 2;
    /* aspect grouping keeps whole batches: positions / 2 updates per epoch */
    TH_CHECK(total >= 12 && ordered && positions > 0 && total == 2 * upe,
             "log of the uninterrupted run: %lld step records for 2 epochs of %lld positions, in order",
             (long long)total, (long long)positions);
    /* MMTracking schedule: linear warm-up from lr/3 over 3 updates, ×0.1 after epoch 1 */
    double lr1 = log_value(pa, 1, "lr"), lr2 = log_value(pa, 2, "lr"), lrd = log_value(pa, upe + 1, "lr"),
           lrb = log_value(pa, upe, "lr");
    TH_CHECK(fabs(lr1 - 0.01 / 3) < 1e-9 && fabs(lr2 - 0.01 * (1 - (1 - 1.0 / 3) * (1 - 1.0 / 3))) < 1e-9,
             "warm-up: lr %.9g, %.9g (want 0.01/3, 0.01·(1 − (2/3)·(2/3)))", lr1, lr2);
    TH_CHECK(fabs(lrb - 0.01) < 1e-9 && fabs(lrd - 0.001) < 1e-9,
             "lr_step '1' = update %lld: lr %.9g before, %.9g after (want 0.01, 0.001)", (long long)upe, lrb, lrd);
    double gn = log_value(pa, 1, "grad_norm"), pos = log_value(pa, 1, "pos_rois"), cls = log_value(pa, 1, "cls");
    TH_CHECK(gn > 0 && isfinite(gn) && pos >= 0 && cls > 0, "step records carry grad_norm %g, pos_rois %g, cls %g", gn,
             pos, cls);
    /* the same run killed with SIGKILL in the second epoch, 2 updates after a checkpoint */
    int64_t kill_at = upe + 4 + 2;
    if (kill_at >= total) kill_at = total - 1;
    child_run rb = {data, b, false, kill_at, 4};
    st = train_in_child(&rb);
    TH_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "run B was killed by SIGKILL at update %lld",
             (long long)kill_at);
    snprintf(pb, sizeof pb, "%s/" PREFIX "-0002.pth", b);
    TH_CHECK(access(pb, F_OK) != 0, "killed run had not finished");
    snprintf(pb, sizeof pb, "%s/" PREFIX "-last.state", b);
    TH_CHECK(access(pb, F_OK) == 0, "killed run left a mid-epoch checkpoint");
    child_run rc = {data, b, true, 0, 4};
    st = train_in_child(&rc);
    if (!TH_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "resumed run finished (status %d)", st)) return;
    snprintf(pa, sizeof pa, "%s/" PREFIX "-0002.pth", a);
    snprintf(pb, sizeof pb, "%s/" PREFIX "-0002.pth", b);
    same_weights(pa, pb, "final weights, resumed vs uninterrupted");
    snprintf(pa, sizeof pa, "%s/" PREFIX "-0001.pth", a);
    snprintf(pb, sizeof pb, "%s/" PREFIX "-0001.pth", b);
    same_weights(pa, pb, "epoch-1 weights");
    snprintf(pb, sizeof pb, "%s/train_log.jsonl", b);
    int64_t nb = log_steps(pb, &ordered);
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
    if (!TH_OK(tiny_config(&cfg, data)) || !TH_OK(selsa_config_to_mmtrack(&cfg, &mc))) return;
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
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "cp -r %s/run_a %s/run_c && cp -r %s/run_a %s/run_d", dir, dir, dir, dir);
    if (!TH_CHECK(system(cmd) == 0, "copy run folder")) return;
    snprintf(p, sizeof p, "%s/run_c/" PREFIX "-0002.state", dir);
    FILE *f = fopen(p, "r+b");
    if (TH_CHECK(f != NULL, "open state")) {
        fseek(f, 2000, SEEK_SET);
        int c = fgetc(f);
        fseek(f, 2000, SEEK_SET);
        fputc(c ^ 0x5a, f);
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "train --cfg %s%s --root %s --out %s/run_c --resume -q", CFG, cli_sets(), data, dir);
    int rc = run_cli(cmd);
    TH_CHECK(rc == 4 && strstr(out_buf, "checksum"), "corrupt state: exit 4 naming the checksum (%d): %s", rc,
             out_buf);
    snprintf(p, sizeof p, "%s/run_d/" PREFIX "-0002.state", dir);
    TH_CHECK(truncate(p, 3000) == 0, "truncate state");
    snprintf(cmd, sizeof cmd, "train --cfg %s%s --root %s --out %s/run_d --resume -q", CFG, cli_sets(), data, dir);
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
    snprintf(cmd, sizeof cmd, "train --cfg %s%s --set TRAIN.end_epoch=1 --root %s --out %s/run_bad --workers 2", CFG,
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
    snprintf(cmd, sizeof cmd, "train --cfg %s%s --root %s --out %s/cli --max-steps 3 -q", CFG, cli_sets(), data, dir);
    TH_CHECK(run_cli(cmd) == 0 && strstr(out_buf, "stopped: 3 updates") && strstr(out_buf, PREFIX "-last.pth"),
             "train --max-steps 3: %s", out_buf);
    snprintf(cmd, sizeof cmd, "test --cfg %s%s --root %s --test-pretrained %s/cli/" PREFIX "-last.pth --out %s/cli/test -q",
             CFG, cli_sets(), data, dir, dir);
    TH_CHECK(run_cli(cmd) == 0 && strstr(out_buf, "mAP"), "test on the checkpoint: %s", out_buf);
    snprintf(cmd, sizeof cmd, "train --cfg %s%s --set TRAIN.ENABLE_OHEM=true --root %s --out %s/ohem -q", CFG,
             cli_sets(), data, dir);
    TH_CHECK(run_cli(cmd) == 2 && strstr(out_buf, "ENABLE_OHEM"), "OHEM with the MMTracking family: exit 2: %s",
             out_buf);
    snprintf(cmd, sizeof cmd, "train --cfg %s%s --root %s --out %s/x --pretrained %s/none.pth -q", CFG, cli_sets(),
             data, dir, dir);
    TH_CHECK(run_cli(cmd) == 4 && strstr(out_buf, "none.pth"), "missing ImageNet model: exit 4 naming it: %s",
             out_buf);
}

int main(int argc, char **argv) {
    th_init(argc, argv, "train_run_mmtrack");
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
        if (access(tool, X_OK) == 0) {
            test_checkpoint_content();
            test_corrupt_entries();
            test_cli();
        } else TH_CHECK(0, "selsa tool not found at %s (build it with `make`)", tool);
    }
    char rm[4200];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    if (system(rm) != 0) printf("warning: could not remove %s\n", dir);
    return th_finish();
}
