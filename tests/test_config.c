/* Configuration system: the official yaml (skipped when ../shared/data is absent) loads with
 * the expected values and every one of its keys is honoured or reported once as ignored
 * (checked against an independent libyaml walk of the file); every preset in configs/ loads
 * and validates; unknown keys, type errors and malformed YAML fail with the key path and line;
 * overrides; dump → reload round trips; the key table matches docs/CONFIG.md. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "harness.h"
#include "selsa/config.h"
#include "selsa/model_mmtrack.h"
#include "selsa/model_official.h"

#define OFFICIAL_YAML "../shared/data/official/resnet_v1_101_rcnn_selsa_aug.yaml"

/* ------------------------------------------------------------------ log capture ---------- */

static char logbuf[65536];
static size_t loglen;

static void capture(selsa_log_level level, const char *msg, void *user) {
    int n = snprintf(logbuf + loglen, sizeof logbuf - loglen, "%d|%s\n", (int)level, msg);
    if (n > 0 && loglen + (size_t)n < sizeof logbuf) loglen += (size_t)n;
}
static void log_reset(void) { loglen = 0; logbuf[0] = 0; }

/* Occurrences of "ignoring <path> (" in the captured log. */
static int count_ignored(const char *path) {
    char pat[256];
    snprintf(pat, sizeof pat, "ignoring %s (", path);
    int n = 0;
    for (const char *q = logbuf; (q = strstr(q, pat)); q++) n++;
    return n;
}

static const char *key_status(const char *path) {
    selsa_config_key_info in;
    for (int i = 0; selsa_config_key_get(i, &in); i++)
        if (!strcmp(in.path, path)) return in.status;
    return NULL;
}

static bool msg_has(const char *needle) {
    if (strstr(selsa_last_error(), needle)) return true;
    printf("  message: %s\n  (expected to contain '%s')\n", selsa_last_error(), needle);
    return false;
}

/* ------------------------------------------------------------------ temp files ----------- */

static char tmpdir[256];

static const char *tmp_write(const char *name, const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    if (!f) { TH_CHECK(0, "cannot write %s", path); return path; }
    fputs(text, f);
    fclose(f);
    return path;
}

/* ------------------------------------------------------------------ independent walk ----- */

/* Leaf key paths of a YAML file (mapping keys joined with '.'), collected with libyaml's
 * document API independently of the loader. */
typedef struct { char path[256][128]; int n; } leaflist;

static void walk(yaml_document_t *d, yaml_node_t *m, const char *prefix, leaflist *out) {
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key), *v = yaml_document_get_node(d, p->value);
        char path[128];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", (char *)k->data.scalar.value);
        if (v->type == YAML_MAPPING_NODE) walk(d, v, path, out);
        else if (out->n < 256) snprintf(out->path[out->n++], 128, "%s", path);
    }
}

static bool yaml_leaves(const char *file, leaflist *out) {
    FILE *f = fopen(file, "rb");
    if (!f) return false;
    yaml_parser_t p;
    yaml_document_t d;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    bool ok = yaml_parser_load(&p, &d);
    if (ok) {
        out->n = 0;
        yaml_node_t *root = yaml_document_get_root_node(&d);
        ok = root && root->type == YAML_MAPPING_NODE;
        if (ok) walk(&d, root, "", out);
        yaml_document_delete(&d);
    }
    yaml_parser_delete(&p);
    fclose(f);
    return ok;
}

/* ------------------------------------------------------------------ tests ---------------- */

static void test_defaults_and_table(void) {
    selsa_config c;
    selsa_config_default(&c);
    TH_OK(selsa_config_validate(&c));
    /* config.py defaults the spec states (official-selsa.md §3.3, §5, §8.1, §8.2) */
    TH_CHECK(c.train.rpn_pre_nms_top_n == 12000 && c.train.rpn_post_nms_top_n == 2000 &&
             c.train.rpn_min_size == 16 && c.test.rpn_min_size == 16, "config.py RPN defaults");
    TH_CHECK(c.train.lr_factor == 0.1 && c.train.momentum == 0.9 && c.train.wd == 0.0005,
             "config.py optimiser defaults");
    TH_CHECK(c.train.train_frames == 3 && c.test.max_per_image == 300 && c.test.thresh == 1e-3,
             "train_frames / max_per_image / thresh defaults");
    int b[4];
    TH_OK(selsa_config_blocks(&c, b));
    TH_CHECK(b[0] == 3 && b[1] == 4 && b[2] == 23 && b[3] == 3, "R101 blocks");
    c.network.depth = 34;
    TH_FAILS(selsa_config_blocks(&c, b), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_config_validate(&c), SELSA_ERR_INVALID_ARG);
    c.network.blocks[0] = c.network.blocks[1] = c.network.blocks[2] = c.network.blocks[3] = 2;
    TH_OK(selsa_config_blocks(&c, b));
    TH_CHECK(b[2] == 2, "explicit blocks win");

    /* key table: unique paths, known statuses; docs/CONFIG.md mentions every key */
    int n = selsa_config_key_count();
    TH_CHECK(n > 100, "key count %d", n);
    selsa_config_key_info a, k2;
    int dup = 0;
    for (int i = 0; i < n; i++) {
        TH_CHECK(selsa_config_key_get(i, &a), "key %d", i);
        TH_CHECK(!strcmp(a.status, "honoured") || !strcmp(a.status, "checked") ||
                 !strcmp(a.status, "ignored"), "%s status %s", a.path, a.status);
        TH_CHECK(a.doc && strlen(a.doc) > 5, "%s has a doc", a.path);
        for (int j = 0; j < i; j++) {
            selsa_config_key_get(j, &k2);
            if (!strcmp(a.path, k2.path)) dup++;
        }
    }
    TH_CHECK(dup == 0, "%d duplicate key paths", dup);
    TH_CHECK(!selsa_config_key_get(n, &a) && !selsa_config_key_get(-1, &a), "out-of-range key index");
    FILE *f = fopen("docs/CONFIG.md", "rb");
    if (!f) {
        TH_CHECK(0, "docs/CONFIG.md missing (run from the repository root)");
    } else {
        static char doc[200000];
        size_t len = fread(doc, 1, sizeof doc - 1, f);
        doc[len] = 0;
        fclose(f);
        int missing = 0;
        for (int i = 0; i < n; i++) {
            selsa_config_key_get(i, &a);
            char pat[160];
            snprintf(pat, sizeof pat, "`%s`", a.path);
            if (!strstr(doc, pat)) {
                if (missing++ < 5) printf("  docs/CONFIG.md lacks %s\n", pat);
            }
        }
        TH_CHECK(missing == 0, "%d keys missing from docs/CONFIG.md", missing);
    }
    /* describe writes one row per key */
    char *buf = NULL;
    size_t blen = 0;
    FILE *m = open_memstream(&buf, &blen);
    TH_OK(selsa_config_describe(m));
    fclose(m);
    int rows = 0;
    for (char *q = buf; (q = strstr(q, "\n| `")); q++) rows++;
    TH_CHECK(rows == n, "describe rows %d != %d keys", rows, n);
    free(buf);
}

static void test_official_yaml(void) {
    if (access(OFFICIAL_YAML, R_OK) != 0) {
        th_skip(OFFICIAL_YAML " absent: official yaml checks skipped");
        return;
    }
    selsa_config c;
    selsa_config_default(&c);
    log_reset();
    TH_OK(selsa_config_load(&c, OFFICIAL_YAML));
    TH_CHECK(c.train.lr == 0.00025, "TRAIN.lr %g", c.train.lr);
    TH_CHECK(c.test.key_frame_interval == 10, "KEY_FRAME_INTERVAL %d", c.test.key_frame_interval);
    TH_CHECK(c.scale_short == 600 && c.scale_long == 1000, "SCALES %d %d", c.scale_short, c.scale_long);
    TH_CHECK(c.network.pixel_means[0] == 103.06 && c.network.pixel_means[1] == 115.90 &&
             c.network.pixel_means[2] == 123.15, "PIXEL_MEANS");
    TH_CHECK(c.num_devices == 4 && !strcmp(c.gpus, "0,1,2,3"), "gpus -> 4 devices");
    TH_CHECK(c.network.family == SELSA_FAMILY_OFFICIAL && c.network.depth == 101 &&
             c.network.selsa, "symbol -> official R101 SELSA");
    TH_CHECK(c.train.n_lr_step == 1 && c.train.lr_step[0] == 4, "lr_step '4'");
    TH_CHECK(c.train.rpn_pre_nms_top_n == 6000 && c.train.rpn_post_nms_top_n == 300 &&
             c.train.rpn_min_size == 0 && c.test.rpn_min_size == 0, "RPN top-n / min size");
    TH_CHECK(c.train.bbox_stds[2] == 0.2 && c.network.anchor_stds[2] == 0.4, "BBOX/ANCHOR stds");
    TH_CHECK(c.network.n_anchor_scales == 3 && c.network.anchor_scales[2] == 32 &&
             c.network.anchor_ratios[0] == 0.5, "anchors");
    TH_CHECK(c.network.n_fixed_params == 3 && !strcmp(c.network.fixed_params[2], "bn"),
             "FIXED_PARAMS");
    TH_CHECK(c.train.enable_ohem && c.train.batch_rois == -1 && c.train.batch_rois_ohem == 128,
             "OHEM");
    TH_CHECK(c.train.min_offset == -1000 && c.train.max_offset == 1000 && c.train.data_aug,
             "offsets / data_aug");
    TH_CHECK(c.test.nms == 0.3 && c.test.test_epoch == 6 && c.test.video_shuffle, "TEST");
    TH_CHECK(c.dataset.num_classes == 31 && !strcmp(c.dataset.dataset_path, "./data/ILSVRC") &&
             !strcmp(c.dataset.test_image_set, "VID_val_videos"), "dataset");
    TH_CHECK(!strcmp(c.output_path, "./output/selsa_rcnn/imagenet_vid"), "output_path kept as "
             "written (relative to the cwd)");

    /* every key of the file is honoured or ignored; each ignored key reported exactly once */
    leaflist leaves;
    TH_CHECK(yaml_leaves(OFFICIAL_YAML, &leaves), "independent walk");
    int n_ign = 0, n_hon = 0;
    for (int i = 0; i < leaves.n; i++) {
        const char *st = key_status(leaves.path[i]);
        if (!TH_CHECK(st != NULL, "official key %s is not in the key table", leaves.path[i]))
            continue;
        if (!strcmp(st, "ignored")) {
            n_ign++;
            TH_CHECK(count_ignored(leaves.path[i]) == 1, "ignored key %s reported %d times",
                     leaves.path[i], count_ignored(leaves.path[i]));
        } else {
            n_hon++;
            TH_CHECK(count_ignored(leaves.path[i]) == 0, "honoured key %s reported as ignored",
                     leaves.path[i]);
        }
    }
    printf("  official yaml: %d keys, %d honoured, %d ignored\n", leaves.n, n_hon, n_ign);
    TH_CHECK(leaves.n == 89 && n_ign == 12, "official yaml %d keys, %d ignored", leaves.n, n_ign);
    /* the reports carry file and line: MXNET_VERSION is on line 2 */
    TH_CHECK(strstr(logbuf, "resnet_v1_101_rcnn_selsa_aug.yaml:2: ignoring MXNET_VERSION (MXNet"),
             "ignored report has file:line and reason:\n%s", logbuf);

    /* our preset describes the same run */
    selsa_config p;
    selsa_config_default(&p);
    TH_OK(selsa_config_load(&p, "configs/official_r101_selsa_aug.yaml"));
    char diff[128] = "";
    TH_CHECK(selsa_config_equal(&c, &p, diff, sizeof diff),
             "configs/official_r101_selsa_aug.yaml differs from the official yaml at %s", diff);

    /* loading twice (layering) reports again, once per call */
    log_reset();
    TH_OK(selsa_config_load(&c, OFFICIAL_YAML));
    TH_CHECK(count_ignored("TRAIN.CXX_PROPOSAL") == 1 && count_ignored("TEST.CXX_PROPOSAL") == 1,
             "once per load");

    /* the model configuration */
    selsa_official_config o;
    TH_OK(selsa_config_to_official(&c, &o));
    TH_CHECK(o.units[2] == 23 && o.msra_numbered && o.selsa && o.key_interval == 10 &&
             o.proposal.post_nms_top_n == 300 && o.proposal.pre_nms_top_n == 6000 &&
             o.proposal.min_size == 0 && o.detect.score_thresh == 1e-3f &&
             o.detect.nms_thresh == 0.3 && o.detect.class_agnostic &&
             o.proposal.delta_stds[2] == 0.4f, "to_official");
}

static void test_presets(void) {
    DIR *d = opendir("configs");
    if (!TH_CHECK(d != NULL, "configs/ missing (run from the repository root)")) return;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml")) continue;
        char path[512];
        snprintf(path, sizeof path, "configs/%s", e->d_name);
        selsa_config c;
        selsa_config_default(&c);
        log_reset();
        if (!TH_OK(selsa_config_load(&c, path))) continue;
        n++;
        TH_CHECK(loglen == 0 || !strstr(logbuf, "ignoring"), "%s uses ignored keys:\n%s", path, logbuf);
        if (c.network.family == SELSA_FAMILY_OFFICIAL) {
            selsa_official_config o;
            TH_OK(selsa_config_to_official(&c, &o));
        }
        /* round trip through the dump */
        char out[1024];
        snprintf(out, sizeof out, "%s/dump_%s", tmpdir, e->d_name);
        TH_OK(selsa_config_dump_file(&c, out));
        selsa_config r;
        selsa_config_default(&r);
        TH_OK(selsa_config_load(&r, out));
        char diff[128] = "";
        TH_CHECK(selsa_config_equal(&c, &r, diff, sizeof diff), "%s: dump round trip differs at %s",
                 path, diff);
    }
    closedir(d);
    TH_CHECK(n >= 8, "%d presets loaded", n);

    selsa_config c, p0;
    selsa_config_default(&p0);
    selsa_config_default(&c);
    TH_OK(selsa_config_load(&c, "configs/official_r101_selsa.yaml"));
    TH_CHECK(!c.train.data_aug && c.network.selsa && c.train.lr == 0.00025, "no-aug preset");
    selsa_config_default(&c);
    TH_OK(selsa_config_load(&c, "configs/official_r101_baseline.yaml"));
    TH_CHECK(!c.network.selsa && c.test.key_frame_interval == 0 && c.train.train_frames == 1,
             "baseline preset");
    selsa_config_default(&c);
    TH_OK(selsa_config_load(&c, "configs/mmtrack_r50_dc5.yaml"));
    TH_CHECK(c.network.family == SELSA_FAMILY_MMTRACK && c.network.depth == 50 &&
             c.network.attention_heads == 16 && c.network.n_anchor_scales == 4 &&
             c.test.schedule == SELSA_SCHEDULE_ADAPTIVE && c.test.num_ref_imgs == 14 &&
             c.num_devices == 8 && c.train.n_lr_step == 2 && c.train.lr_step[1] == 5 &&
             c.network.pixel_stds[2] == 58.395 && c.train.ref_sampling == SELSA_REF_BILATERAL,
             "mmtrack r50 preset");
    selsa_official_config o;
    TH_FAILS(selsa_config_to_official(&c, &o), SELSA_ERR_UNSUPPORTED);
    selsa_mmtrack_config mo, ref;
    TH_OK(selsa_config_to_mmtrack(&c, &mo));
    selsa_mmtrack_config_r50(&ref);
    TH_CHECK(mo.num_classes == 30 && mo.agg_heads == 16 && mo.neck_channels == 512 &&
             mo.blocks[2] == 6 && mo.base_width == ref.base_width && mo.rpn.max_per_img == 300 &&
             mo.rpn.n_scales == 4 && mo.anchor_scales[0] == 4 && mo.rcnn.score_thr == 1e-4f &&
             mo.rcnn.iou_thr == 0.5f && mo.rcnn.max_num == 100 && mo.rcnn_stds[0] == 0.2f &&
             mo.n_ref == 14 && mo.online_ring == ref.online_ring &&
             mo.online_stride == ref.online_stride && mo.rpn.stds[0] == 1.0f,
             "mmtrack r50 to_mmtrack matches the model's preset");
    TH_FAILS(selsa_config_to_mmtrack(&p0, &mo), SELSA_ERR_UNSUPPORTED);
    selsa_config_default(&c);
    TH_OK(selsa_config_load(&c, "configs/mmtrack_x101_dc5.yaml"));
    TH_OK(selsa_config_to_mmtrack(&c, &mo));
    selsa_mmtrack_config_x101(&ref);
    TH_CHECK(mo.groups == ref.groups && mo.base_width == ref.base_width &&
             mo.blocks[2] == ref.blocks[2], "x101 to_mmtrack");
    TH_CHECK(c.network.depth == 101 && c.network.groups == 64 && c.network.base_width == 4 &&
             c.test.max_per_image == 100 && c.network.attention_heads == 16, "mmtrack x101 preset");
    selsa_config_default(&c);
    TH_OK(selsa_config_load(&c, "configs/mmtrack_r101_dc5.yaml"));
    TH_CHECK(c.network.depth == 101 && c.network.groups == 1, "mmtrack r101 preset");
    selsa_config_default(&c);
    TH_OK(selsa_config_load(&c, "configs/tiny_synth.yaml"));
    TH_CHECK(c.network.blocks[0] == 1 && c.network.base_channels == 16 && c.network.fc_dim == 128 &&
             c.scale_short == 192 && c.scale_long == 320 && c.num_devices == 1 &&
             c.network.n_fixed_params == 0 && !c.dataset.motion_iou_path[0], "tiny preset");
    TH_OK(selsa_config_to_official(&c, &o));
    TH_CHECK(o.units[0] == 1 && o.units[2] == 1 && !o.msra_numbered && o.fc_dim == 128 &&
             o.scale_short == 192 && o.proposal.post_nms_top_n == 300, "tiny to_official");
}

static void test_errors(void) {
    selsa_config c;
    selsa_config_default(&c);
    /* unknown key: path + line */
    TH_FAILS(selsa_config_load_string(&c, "TRAIN:\n  lr: 0.1\n  RPN_FOO: 3\n", "t.yaml"),
             SELSA_ERR_FORMAT);
    TH_CHECK(msg_has("t.yaml:3: TRAIN.RPN_FOO: unknown key"), "unknown key path+line");
    TH_FAILS(selsa_config_load_string(&c, "network:\n  pixel_means: [1, 2, 3]\n", "t.yaml"),
             SELSA_ERR_FORMAT);
    TH_CHECK(msg_has("did you mean network.PIXEL_MEANS?"), "case suggestion");
    TH_FAILS(selsa_config_load_string(&c, "FOO:\n  bar: 1\n", "t.yaml"), SELSA_ERR_FORMAT);
    TH_CHECK(msg_has("t.yaml:1: FOO: unknown key"), "unknown section");
    /* via a file: the file name is in the message */
    const char *p = tmp_write("bad.yaml", "# comment\nTEST:\n  NMS: 0.3\n  KEY_FRAME_INTERVAL: ten\n");
    TH_FAILS(selsa_config_load(&c, p), SELSA_ERR_FORMAT);
    TH_CHECK(msg_has("bad.yaml:4: TEST.KEY_FRAME_INTERVAL: expected an integer, got 'ten'"),
             "type error path+line");
    /* type errors */
    struct { const char *yaml, *want; } bad[] = {
        {"TRAIN:\n  lr: abc\n", "(s):2: TRAIN.lr: expected a number"},
        {"TRAIN:\n  lr: '0.1'\n", "TRAIN.lr: expected a number, got the quoted string '0.1'"},
        {"TRAIN:\n  lr: .inf\n", "TRAIN.lr: expected a number"},
        {"TRAIN:\n  lr: nan\n", "TRAIN.lr: expected a number"},
        {"TRAIN:\n  FLIP: maybe\n", "TRAIN.FLIP: expected a boolean"},
        {"TRAIN:\n  BATCH_IMAGES: 1.5\n", "TRAIN.BATCH_IMAGES: expected an integer"},
        {"TRAIN:\n  BATCH_IMAGES: 99999999999\n", "out of range"},
        {"network:\n  PIXEL_MEANS: [1, 2]\n", "network.PIXEL_MEANS: expected a list of 3 items, got 2"},
        {"network:\n  PIXEL_MEANS: 5\n", "network.PIXEL_MEANS: expected a list, got '5'"},
        {"network:\n  ANCHOR_SCALES: []\n", "expected a list of 1 to 8 items, got 0"},
        {"network:\n  family: caffe\n", "network.family: expected one of official|mmtrack"},
        {"TRAIN: 3\n", "(s):1: TRAIN: is a section: expected a mapping"},
        {"TRAIN:\n  lr: {a: 1}\n", "TRAIN.lr: expected a number, got a mapping"},
        {"SCALES: [[600, 1000], [800, 1200]]\n", "2 scales given"},
        {"SCALES: [600]\n", "SCALES: expected a list of 2 items"},
        {"gpus: '0,,1'\n", "gpus: '0,,1' is not a comma-separated list"},
        {"symbol: resnet_v1_101_fgfa\n", "unknown symbol"},
        {"TRAIN:\n  lr_step: 'a,b'\n", "TRAIN.lr_step: 'a,b' is not a comma-separated list"},
        {"TRAIN:\n  lr: 1\n  lr: 2\n", "(s):3: TRAIN.lr: duplicate key (first at line 2)"},
        {"[1, 2]\n", "(root): expected a mapping"},
        {"a: 1\n---\nb: 2\n", "a second YAML document"},
        {"dataset:\n  dataset: [x]\n", "dataset.dataset: expected a string, got a list"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        selsa_config_default(&c);
        TH_FAILS(selsa_config_load_string(&c, bad[i].yaml, "(s)"), SELSA_ERR_FORMAT);
        TH_CHECK(msg_has(bad[i].want), "case %zu", i);
    }
    /* malformed YAML: libyaml's message with line */
    TH_FAILS(selsa_config_load_string(&c, "TRAIN:\n  lr: [1, 2\n  FLIP: true\n", "m.yaml"),
             SELSA_ERR_FORMAT);
    TH_CHECK(msg_has("m.yaml:") && msg_has("YAML syntax error"), "malformed yaml");
    TH_FAILS(selsa_config_load_string(&c, "TRAIN:\n\tlr: 1\n", "m.yaml"), SELSA_ERR_FORMAT);
    TH_CHECK(msg_has("m.yaml:2:") && msg_has("YAML syntax error"), "tab indentation, line 2");
    TH_FAILS(selsa_config_load_string(&c, "TEST:\n  NMS: 0.3\n    x: 1\n", "m.yaml"),
             SELSA_ERR_FORMAT);
    TH_CHECK(msg_has("m.yaml:3:"), "bad indentation, line 3");
    /* missing file */
    TH_FAILS(selsa_config_load(&c, "/nonexistent/x.yaml"), SELSA_ERR_IO);
    TH_CHECK(msg_has("/nonexistent/x.yaml"), "IO message names the file");
    /* validation: checked keys and ranges name the key */
    selsa_config_default(&c);
    TH_FAILS(selsa_config_load_string(&c, "TEST:\n  SEQ_NMS: true\n", "v.yaml"), SELSA_ERR_UNSUPPORTED);
    TH_CHECK(msg_has("TEST.SEQ_NMS"), "seq nms unsupported");
    selsa_config_default(&c);
    TH_FAILS(selsa_config_load_string(&c, "network:\n  NUM_ANCHORS: 12\n", "v.yaml"), SELSA_ERR_INVALID_ARG);
    TH_CHECK(msg_has("network.NUM_ANCHORS = 12") && msg_has("v.yaml"), "num anchors mismatch");
    selsa_config_default(&c);
    TH_FAILS(selsa_config_load_string(&c, "network:\n  RPN_FEAT_STRIDE: 8\n", "v.yaml"), SELSA_ERR_UNSUPPORTED);
    selsa_config_default(&c);
    TH_FAILS(selsa_config_load_string(&c, "network:\n  groups: 64\n", "v.yaml"), SELSA_ERR_UNSUPPORTED);
    selsa_config_default(&c);
    TH_FAILS(selsa_config_load_string(&c, "TRAIN:\n  momentum: 1.5\n", "v.yaml"), SELSA_ERR_INVALID_ARG);
    TH_CHECK(msg_has("TRAIN.momentum = 1.5"), "momentum range");
    selsa_config_default(&c);
    TH_FAILS(selsa_config_load_string(&c, "TRAIN:\n  lr_step: '5,2'\n", "v.yaml"), SELSA_ERR_INVALID_ARG);
    /* base: files */
    tmp_write("loop.yaml", "base: loop.yaml\n");
    char path[512];
    snprintf(path, sizeof path, "%s/loop.yaml", tmpdir);
    selsa_config_default(&c);
    TH_FAILS(selsa_config_load(&c, path), SELSA_ERR_FORMAT);
    TH_CHECK(msg_has("more than 8 nested base files"), "base loop");
    tmp_write("nobase.yaml", "base: missing.yaml\n");
    snprintf(path, sizeof path, "%s/nobase.yaml", tmpdir);
    TH_FAILS(selsa_config_load(&c, path), SELSA_ERR_IO);
    TH_CHECK(msg_has("nobase.yaml:1: base") && msg_has("missing.yaml"), "missing base");
}

static void test_yaml_forms(void) {
    selsa_config c;
    selsa_config_default(&c);
    /* empty and comment-only files keep the defaults */
    TH_OK(selsa_config_load_string(&c, "", "empty"));
    TH_OK(selsa_config_load_string(&c, "# nothing\n", "comment"));
    selsa_config d;
    selsa_config_default(&d);
    TH_CHECK(selsa_config_equal(&c, &d, NULL, 0), "empty file = defaults");
    /* PyYAML 1.1 booleans, flow lists, nested SCALES, int gpus, list lr_step, null section */
    TH_OK(selsa_config_load_string(&c,
          "network:\n  NORMALIZE_RPN: FALSE\nTRAIN:\n  FLIP: no\n  SHUFFLE: On\n"
          "  lr_step: [1.5, 3]\n  lr: 1e-3\nSCALES: [[480, 800]]\ngpus: 3\nTEST:\n", "forms"));
    TH_CHECK(!c.network.normalize_rpn && !c.train.flip && c.train.shuffle && c.train.n_lr_step == 2 &&
             c.train.lr_step[0] == 1.5 && c.train.lr == 1e-3 && c.scale_short == 480 &&
             c.scale_long == 800 && c.num_devices == 1 && !strcmp(c.gpus, "3"), "yaml forms");
    TH_OK(selsa_config_load_string(&c, "TRAIN:\n  lr_step: ''\n", "forms"));
    TH_CHECK(c.train.n_lr_step == 0, "empty lr_step = no decay");
    /* symbol sets the architecture */
    TH_OK(selsa_config_load_string(&c, "symbol: resnet_v1_50_rcnn\n", "sym"));
    TH_CHECK(c.network.depth == 50 && !c.network.selsa, "baseline symbol");
    /* anchors and aliases */
    TH_OK(selsa_config_load_string(&c, "network:\n  ANCHOR_SCALES: &s [2, 4]\n  NUM_ANCHORS: 0\n"
                                   "  ANCHOR_RATIOS: *s\n", "alias"));
    TH_CHECK(c.network.n_anchor_scales == 2 && c.network.n_anchor_ratios == 2 &&
             c.network.anchor_ratios[1] == 4, "aliases");
    /* an ignored key in a string load is reported with the name and line */
    log_reset();
    selsa_config_default(&c);
    TH_OK(selsa_config_load_string(&c, "default:\n  frequent: 20\n", "ign"));
    TH_CHECK(strstr(logbuf, "1|config ign:2: ignoring default.frequent (") != NULL,
             "INFO report:\n%s", logbuf);
}

static void test_overrides(void) {
    selsa_config c;
    selsa_config_default(&c);
    TH_OK(selsa_config_set(&c, "TEST.KEY_FRAME_INTERVAL", "5"));
    TH_CHECK(c.test.key_frame_interval == 5, "KFI override");
    TH_OK(selsa_config_set(&c, "SCALES", "[480, 800]"));
    TH_CHECK(c.scale_short == 480 && c.scale_long == 800, "SCALES override");
    TH_OK(selsa_config_set(&c, "gpus", "0,1"));
    TH_CHECK(c.num_devices == 2, "gpus override");
    TH_OK(selsa_config_set_arg(&c, "TRAIN.lr=0.5"));
    TH_CHECK(c.train.lr == 0.5, "set_arg");
    TH_OK(selsa_config_set_arg(&c, "TRAIN.lr_step=2,5"));
    TH_CHECK(c.train.n_lr_step == 2 && c.train.lr_step[1] == 5, "lr_step override");
    TH_OK(selsa_config_set_arg(&c, "output_path=/tmp/a b:c"));
    TH_CHECK(!strcmp(c.output_path, "/tmp/a b:c"), "string with spaces/colon: '%s'", c.output_path);
    TH_OK(selsa_config_set_arg(&c, "network.pretrained="));
    TH_CHECK(c.network.pretrained[0] == 0, "empty value = empty string");
    TH_OK(selsa_config_set(&c, "network.family", "mmtrack"));
    TH_CHECK(c.network.family == SELSA_FAMILY_MMTRACK, "enum override");
    TH_OK(selsa_config_set(&c, "TEST.schedule", "online"));
    TH_OK(selsa_config_set(&c, "seed", "18446744073709551615"));
    TH_CHECK(c.seed == UINT64_MAX, "u64 seed");
    TH_OK(selsa_config_validate(&c));
    /* errors */
    TH_FAILS(selsa_config_set(&c, "TEST.KEY_FRAME_INTERVAL", "x"), SELSA_ERR_FORMAT);
    TH_CHECK(msg_has("override 'TEST.KEY_FRAME_INTERVAL=x': TEST.KEY_FRAME_INTERVAL: expected an "
                     "integer"), "override type error");
    TH_FAILS(selsa_config_set(&c, "TEST.FOO", "1"), SELSA_ERR_FORMAT);
    TH_CHECK(msg_has("TEST.FOO: unknown key"), "override unknown key");
    TH_FAILS(selsa_config_set(&c, "test.nms", "0.5"), SELSA_ERR_FORMAT);
    TH_CHECK(msg_has("did you mean TEST.NMS?"), "override suggestion");
    TH_FAILS(selsa_config_set(&c, "TRAIN", "1"), SELSA_ERR_FORMAT);
    TH_CHECK(msg_has("TRAIN is a section"), "override section");
    TH_FAILS(selsa_config_set(&c, "TRAIN.lr", "{a: 1}"), SELSA_ERR_FORMAT);
    TH_FAILS(selsa_config_set(&c, "TRAIN.lr", "[1, 2"), SELSA_ERR_FORMAT);
    TH_FAILS(selsa_config_set_arg(&c, "TRAIN.lr"), SELSA_ERR_FORMAT);
    TH_CHECK(msg_has("expected KEY=VALUE"), "set_arg without =");
    TH_FAILS(selsa_config_set(&c, NULL, "1"), SELSA_ERR_INVALID_ARG);
    TH_OK(selsa_config_set(&c, "TEST.KEY_FRAME_INTERVAL", "-1")); /* parses; validate rejects */
    TH_FAILS(selsa_config_validate(&c), SELSA_ERR_INVALID_ARG);
    TH_CHECK(msg_has("TEST.KEY_FRAME_INTERVAL = -1"), "validate names the key");
    /* ignored key: reported, no effect */
    selsa_config before = c;
    log_reset();
    TH_OK(selsa_config_set(&c, "TRAIN.CXX_PROPOSAL", "false"));
    TH_CHECK(count_ignored("TRAIN.CXX_PROPOSAL") == 1 && selsa_config_equal(&c, &before, NULL, 0),
             "ignored override reported, no effect");
}

static void test_dump(void) {
    selsa_config c, r;
    selsa_config_default(&c);
    /* awkward values: quotes, backslashes, '#', unicode, negative, tiny/huge doubles */
    TH_OK(selsa_config_set(&c, "output_path", "'out \"dir\" \\ # x: y — é'"));
    TH_OK(selsa_config_set(&c, "TRAIN.lr", "0.1"));
    TH_OK(selsa_config_set(&c, "TRAIN.wd", "1.0000000000000002e-300"));
    TH_OK(selsa_config_set(&c, "TRAIN.MIN_OFFSET", "-7"));
    TH_OK(selsa_config_set(&c, "network.FIXED_PARAMS", "['a b', 'c']"));
    TH_OK(selsa_config_set(&c, "network.PIXEL_MEANS", "[0.1, 0.2, 0.30000000000000004]"));
    TH_OK(selsa_config_set(&c, "gpus", "'0,2,5'"));
    TH_OK(selsa_config_set(&c, "seed", "12345678901234"));
    TH_OK(selsa_config_validate(&c));
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    TH_OK(selsa_config_dump(&c, m));
    fclose(m);
    TH_CHECK(strstr(buf, "\nTRAIN:\n  lr: 0.1\n") != NULL, "dump layout");
    TH_CHECK(strstr(buf, "  KEY_FRAME_INTERVAL: 10\n") != NULL, "dump has KFI");
    TH_CHECK(strstr(buf, "ignoring") == NULL && strstr(buf, "CXX_PROPOSAL") == NULL,
             "ignored keys are not dumped");
    selsa_config_default(&r);
    TH_OK(selsa_config_load_string(&r, buf, "dump"));
    char diff[128] = "";
    TH_CHECK(selsa_config_equal(&c, &r, diff, sizeof diff), "round trip differs at %s", diff);
    TH_CHECK(!strcmp(r.output_path, c.output_path) && r.train.wd == c.train.wd &&
             r.network.pixel_means[2] == c.network.pixel_means[2], "exact values");
    /* equal() finds a difference */
    r.test.nms = 0.31;
    TH_CHECK(!selsa_config_equal(&c, &r, diff, sizeof diff) && !strcmp(diff, "TEST.NMS"),
             "equal reports TEST.NMS, got %s", diff);
    free(buf);
    TH_FAILS(selsa_config_dump_file(&c, "/nonexistent/dir/x.yaml"), SELSA_ERR_IO);
}

int main(int argc, char **argv) {
    th_init(argc, argv, "config");
    selsa_log_set(capture, NULL);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/selsa_test_config_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        TH_CHECK(0, "mkdtemp failed");
        return th_finish();
    }
    test_defaults_and_table();
    test_official_yaml();
    test_presets();
    test_errors();
    test_yaml_forms();
    test_overrides();
    test_dump();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", tmpdir);
    selsa_log_set(NULL, NULL);
    return th_finish();
}
