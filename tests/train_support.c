/* Shared support of the whole-training-run tests; see train_support.h. */
#include "train_support.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "selsa/synth.h"
#include "selsa/train_run.h"
#include "selsa/weights.h"

char ts_tool[4096];
char ts_out[65536];

int ts_run_cli(const char *args) { return th_run_cli(ts_tool, args, ts_out, sizeof ts_out); }

int ts_setup(char *dir_template, char *data, size_t cap) {
    th_tool_path(ts_tool, sizeof ts_tool);
    if (!mkdtemp(dir_template)) {
        TH_CHECK(0, "mkdtemp failed");
        return -1;
    }
    snprintf(data, cap, "%s/data", dir_template);
    return TH_CHECK(ts_gen_in_child(data) == 0, "synthetic dataset") ? 0 : 1;
}

bool ts_have_tool(void) {
    if (access(ts_tool, X_OK) == 0) return true;
    TH_CHECK(0, "selsa tool not found at %s (build it with `make`)", ts_tool);
    return false;
}

selsa_status ts_tiny_config(const ts_family *f, selsa_config *c, const char *root) {
    selsa_config_default(c);
    SELSA_TRY(selsa_config_load(c, f->cfg_file));
    for (int i = 0; i < f->n_sets; i++) SELSA_TRY(selsa_config_set_arg(c, f->sets[i]));
    SELSA_TRY(selsa_config_set(c, "dataset.dataset_path", root));
    return selsa_config_validate(c);
}

const char *ts_cli_sets(const ts_family *f) {
    static char b[2048];
    b[0] = 0;
    for (int i = 0; i < f->n_sets; i++) {
        strcat(b, " --set \"");
        strcat(b, f->sets[i]);
        strcat(b, "\"");
    }
    return b;
}

static int kill_cb(void *user, const selsa_train_progress *p) {
    const ts_child_run *c = user;
    if (c->kill_at && p->step == c->kill_at) raise(SIGKILL);
    return 0;
}

int ts_train_in_child(const ts_family *f, const ts_child_run *c) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        static selsa_config cfg;
        if (ts_tiny_config(f, &cfg, c->root) != SELSA_OK) {
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

int ts_gen_in_child(const char *root) {
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

bool ts_same_weights(const char *a, const char *b, const char *what) {
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

double ts_log_value(const char *path, int64_t step, const char *key) {
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

int64_t ts_log_steps(const char *path, bool *in_order) {
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

void ts_check_damaged_state(const ts_family *f, const char *dir, const char *data) {
    char cmd[16384], p[4400];
    snprintf(cmd, sizeof cmd, "cp -r %s/run_a %s/run_c && cp -r %s/run_a %s/run_d", dir, dir, dir, dir);
    if (!TH_CHECK(system(cmd) == 0, "copy run folder")) return;
    snprintf(p, sizeof p, "%s/run_c/%s-0002.state", dir, f->prefix);
    FILE *fp = fopen(p, "r+b");
    if (TH_CHECK(fp != NULL, "open state")) {
        fseek(fp, 2000, SEEK_SET);
        int c = fgetc(fp);
        fseek(fp, 2000, SEEK_SET);
        fputc(c ^ 0x5a, fp);
        fclose(fp);
    }
    snprintf(cmd, sizeof cmd, "train --cfg %s%s --root %s --out %s/run_c --resume -q", f->cfg_file, ts_cli_sets(f),
             data, dir);
    int rc = ts_run_cli(cmd);
    TH_CHECK(rc == 4 && strstr(ts_out, "checksum"), "corrupt state: exit 4 naming the checksum (%d): %s", rc,
             ts_out);
    snprintf(p, sizeof p, "%s/run_d/%s-0002.state", dir, f->prefix);
    TH_CHECK(truncate(p, 3000) == 0, "truncate state");
    snprintf(cmd, sizeof cmd, "train --cfg %s%s --root %s --out %s/run_d --resume -q", f->cfg_file, ts_cli_sets(f),
             data, dir);
    rc = ts_run_cli(cmd);
    TH_CHECK(rc == 4 && strstr(ts_out, "truncated"), "truncated state: exit 4 (%d): %s", rc, ts_out);
}

void ts_check_corrupt_entries(const ts_family *f, const char *dir, const char *data) {
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
    snprintf(cmd, sizeof cmd, "train --cfg %s%s --set TRAIN.end_epoch=1 --root %s --out %s/run_bad --workers 2",
             f->cfg_file, ts_cli_sets(f), bad, dir);
    int rc = ts_run_cli(cmd);
    TH_CHECK(rc == 0, "training over corrupt entries finishes (%d): %.2000s", rc, ts_out);
    TH_CHECK(strstr(ts_out, "000002.JPEG") && strstr(ts_out, "000003.xml"),
             "warnings name the missing image and the broken XML: %.2000s", ts_out);
    char p[4400];
    snprintf(p, sizeof p, "%s/run_bad/train_log.jsonl", dir);
    FILE *fp = fopen(p, "r");
    bool corrupt = false, skipped = false;
    char line[4096];
    while (fp && fgets(line, sizeof line, fp)) {
        if (strstr(line, "\"type\":\"start\"") && !strstr(line, "\"corrupt\":0,")) corrupt = true;
        if (strstr(line, "\"type\":\"finish\"") && !strstr(line, "\"skipped\":0,")) skipped = true;
    }
    if (fp) fclose(fp);
    TH_CHECK(corrupt && skipped, "log counts the broken XML (start record) and the skipped samples (finish)");
}
