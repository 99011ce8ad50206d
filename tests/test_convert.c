/* The .pth writer (selsa_weights_save_pth*, include/selsa/weights_pth.h) and `selsa convert`:
 *  - library round trips (zip and legacy) bit-exact through the project's reader, with special
 *    float values, scalars, empty and "none" tensors, int64 tensors, non-ASCII names, classes;
 *  - the zip container: 64-byte aligned data, stored entries, deterministic bytes;
 *  - validation: bad names, inconsistent shapes, bad options, ZIP64-sized archives, unwritable
 *    paths (nothing left behind);
 *  - torch.load (Debian torch 1.13, weights_only False and True) of every file we write, through
 *    tests/ref/_check_pth.py (skipped when /usr/bin/python3 has no torch);
 *  - the CLI: .params -> .pth -> .params and .pth -> .params -> .pth round trips, legacy layout,
 *    prefix options, exit codes of the documented errors. The tool is BUILD/selsa, found next to
 *    the tests directory as in test_cli.c. Fixtures: tests/ref/gen_convert.py (skipped if absent). */
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "selsa/weights.h"
#include "selsa/weights_pth.h"

static char tool[4096];
static char repo[4096];
static char out_buf[65536];
static char tmpdir[] = "/tmp/selsa_convert_XXXXXX";
static int have_torch;

/* Run "tool args" with stdout+stderr captured into out_buf; returns the exit code. */
static int run(const char *args) { return th_run_cli(tool, args, out_buf, sizeof out_buf); }

/* Run a shell command quietly, output into out_buf; exit code. */
static int sh(const char *cmd) { return th_run_cli(NULL, cmd, out_buf, sizeof out_buf); }

static const char *tmp(const char *name) {
    static char buf[64][4096]; /* a ring: pointers stay valid for the next 63 calls */
    static int k;
    k = (k + 1) % 64;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* Same names (in order), kinds (if check_kind), shapes, dtypes (if check_dtype), bit-identical data. */
static int same_weights(const selsa_weights *a, const selsa_weights *b, int check_kind, int check_dtype,
                        const char *what) {
    if (a->count != b->count) {
        TH_CHECK(0, "%s: %lld vs %lld tensors", what, (long long)a->count, (long long)b->count);
        return 0;
    }
    for (int64_t i = 0; i < a->count; i++) {
        const selsa_weight *x = &a->items[i], *y = &b->items[i];
        int ok = !strcmp(x->name, y->name) && x->ndim == y->ndim && x->numel == y->numel &&
                 memcmp(x->dims, y->dims, sizeof x->dims[0] * (size_t)x->ndim) == 0 &&
                 (!check_kind || x->kind == y->kind) && (!check_dtype || x->src_dtype == y->src_dtype) &&
                 (x->numel == 0 || memcmp(x->data, y->data, (size_t)x->numel * 4) == 0);
        if (!ok) {
            TH_CHECK(0, "%s: tensor %lld '%s' vs '%s' differs (ndim %d/%d numel %lld/%lld kind %d/%d dtype %s/%s)", what,
                     (long long)i, x->name, y->name, x->ndim, y->ndim, (long long)x->numel, (long long)y->numel, x->kind,
                     y->kind, selsa_dtype_name(x->src_dtype), selsa_dtype_name(y->src_dtype));
            return 0;
        }
    }
    if (a->n_classes != b->n_classes) {
        TH_CHECK(0, "%s: %d vs %d classes", what, a->n_classes, b->n_classes);
        return 0;
    }
    for (int c = 0; c < a->n_classes; c++)
        if (strcmp(a->class_names[c], b->class_names[c])) {
            TH_CHECK(0, "%s: class %d differs", what, c);
            return 0;
        }
    return 1;
}

static void add(selsa_weights *w, const char *name, int ndim, const int64_t *dims, const float *data, selsa_dtype dt) {
    TH_OK(selsa_weights_add(w, name, ndim, dims, data, dt));
}

/* A dictionary exercising every shape class and special values. */
static void build_sample(selsa_weights *w, int with_classes) {
    selsa_weights_init(w);
    selsa_rng rng;
    selsa_rng_seed(&rng, 42, 1);
    float conv[2 * 3 * 3 * 3];
    th_fill_uniform(conv, 54, -1, 1, &rng);
    uint32_t special_bits[] = {0x7fc01234u /* NaN with payload */, 0x80000000u /* -0 */, 0x7f800000u /* inf */,
                               0xff800000u, 0x00000001u /* smallest subnormal */, 0x7f7fffffu /* FLT_MAX */};
    float special[6];
    memcpy(special, special_bits, sizeof special);
    int64_t d_conv[] = {2, 3, 3, 3}, d6[] = {6}, d_empty[] = {0, 3}, d_big[] = {70001}, d_bn[] = {3};
    add(w, "arg:backbone.conv1.weight", 4, d_conv, conv, SELSA_DTYPE_F32);
    add(w, "arg:special", 1, d6, special, SELSA_DTYPE_F32);
    float *big = malloc(70001 * sizeof *big);
    th_fill_uniform(big, 70001, -3, 3, &rng);
    add(w, "arg:big", 1, d_big, big, SELSA_DTYPE_F32); /* numel > 65535: BININT numel */
    free(big);
    float bn[3] = {0.5f, 1.25f, 2.0f};
    add(w, "aux:bn.running_mean", 1, d_bn, bn, SELSA_DTYPE_F32);
    add(w, "empty", 2, d_empty, NULL, SELSA_DTYPE_F32);
    float one = 7.0f;
    add(w, "bn.num_batches_tracked", 0, NULL, &one, SELSA_DTYPE_I64); /* 0-dim int64 */
    float neg[3] = {-3.0f, 0.0f, 123456.0f};
    add(w, "ints", 1, d_bn, neg, SELSA_DTYPE_I32);          /* integer -> int64 */
    float frac[3] = {0.5f, 1.0f, 2.0f};
    add(w, "int_with_fraction", 1, d_bn, frac, SELSA_DTYPE_I64); /* cannot be int64 -> float32 */
    add(w, "caf\xc3\xa9.\xe2\x82\xac.\xf0\x9f\x98\x80", 1, d_bn, bn, SELSA_DTYPE_F16); /* non-ASCII key */
    if (with_classes) {
        w->class_names = calloc(3, sizeof *w->class_names);
        w->class_names[0] = strdup("airplane");
        w->class_names[1] = strdup("caf\xc3\xa9");
        w->class_names[2] = strdup("zebra");
        w->n_classes = 3;
    }
}

/* Expected dtype after a .pth round trip: float32 except integer-valued integer tensors. */
static selsa_dtype expect_dtype(const selsa_weight *t) {
    if (!strcmp(t->name, "bn.num_batches_tracked") || !strcmp(t->name, "ints")) return SELSA_DTYPE_I64;
    return SELSA_DTYPE_F32;
}

/* Expectation file for _check_pth.py. */
static void write_expect(const char *path, const selsa_weights *w) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    if (w->n_classes) {
        fprintf(f, "classes ");
        for (int c = 0; c < w->n_classes; c++) {
            if (c) fputc(',', f);
            for (const char *p = w->class_names[c]; *p; p++) fprintf(f, "%02x", (unsigned char)*p);
        }
        fputc('\n', f);
    }
    for (int64_t i = 0; i < w->count; i++) {
        const selsa_weight *t = &w->items[i];
        fprintf(f, "tensor ");
        for (const char *p = t->name; *p; p++) fprintf(f, "%02x", (unsigned char)*p);
        fprintf(f, " %s ", expect_dtype(t) == SELSA_DTYPE_I64 ? "int64" : "float32");
        if (t->ndim == 0 && t->numel == 1) fprintf(f, "-");
        else if (t->ndim == 0) fprintf(f, "0");
        for (int d = 0; d < t->ndim; d++) fprintf(f, "%s%lld", d ? "," : "", (long long)t->dims[d]);
        fputc(' ', f);
        const uint8_t *b = (const uint8_t *)t->data;
        for (int64_t k = 0; k < t->numel * 4; k++) fprintf(f, "%02x", b[k]);
        fputc('\n', f);
    }
    fclose(f);
}

static void torch_check(const char *pth, const char *mode, const char *other, const char *extra, const char *what) {
    if (!have_torch) {
        th_skip("torch not available to /usr/bin/python3: torch.load check skipped");
        return;
    }
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref/_check_pth.py '%s' %s '%s' %s", repo, pth, mode, other,
             extra ? extra : "");
    int rc = sh(cmd);
    TH_CHECK(rc == 0 && strstr(out_buf, "OK"), "torch.load of %s (%s): %s", what, pth, out_buf);
}

/* Walk the local headers of a zip we wrote: every entry stored, data 64-byte aligned. */
static int zip_aligned(const uint8_t *p, size_t n, int *entries) {
    size_t off = 0;
    *entries = 0;
    while (off + 30 <= n && memcmp(p + off, "PK\x03\x04", 4) == 0) {
        uint16_t method, nl, xl;
        uint32_t size;
        memcpy(&method, p + off + 8, 2);
        memcpy(&size, p + off + 18, 4);
        memcpy(&nl, p + off + 26, 2);
        memcpy(&xl, p + off + 28, 2);
        size_t start = off + 30 + nl + xl;
        if (method != 0 || start % 64 != 0 || xl < 4 || memcmp(p + off + 30 + nl, "FB", 2) != 0) return 0;
        off = start + size;
        (*entries)++;
    }
    return off + 4 <= n && memcmp(p + off, "PK\x01\x02", 4) == 0;
}

static void test_library_roundtrip(void) {
    for (int layout = 0; layout < 2; layout++) {
        for (int cls = 0; cls < 2; cls++) {
            selsa_weights w, r;
            build_sample(&w, cls);
            selsa_weights_init(&r);
            selsa_pth_write_options o = {.layout = layout ? SELSA_PTH_LAYOUT_LEGACY : SELSA_PTH_LAYOUT_ZIP};
            void *buf = NULL;
            size_t size = 0;
            char what[64];
            snprintf(what, sizeof what, "%s%s", layout ? "legacy" : "zip", cls ? "+classes" : "");
            if (TH_OK(selsa_weights_save_pth_mem(&w, &o, &buf, &size)) && TH_OK(selsa_weights_load_pth_mem(buf, size, &r))) {
                TH_CHECK(r.format == (layout ? SELSA_WEIGHTS_PTH_LEGACY : SELSA_WEIGHTS_PTH_ZIP), "%s: format", what);
                /* "none" is not in the sample; kinds are not stored in a .pth (all PLAIN) */
                same_weights(&w, &r, 0, 0, what);
                int dt_ok = 1;
                for (int64_t i = 0; i < r.count && i < w.count; i++) {
                    dt_ok &= r.items[i].src_dtype == expect_dtype(&w.items[i]);
                    dt_ok &= r.items[i].kind == SELSA_WEIGHT_PLAIN;
                }
                TH_CHECK(dt_ok, "%s: int64 kept for integer tensors, float32 otherwise, no kinds", what);
                if (!layout) {
                    int entries = 0;
                    TH_CHECK(zip_aligned(buf, size, &entries) && entries == (int)w.count + 3,
                             "%s: stored entries with 64-byte aligned data (%d entries)", what, entries);
                    TH_CHECK(size > 16 && !memcmp(buf, "PK\x03\x04", 4) && memmem(buf, size, "archive/data.pkl", 16),
                             "%s: default archive name", what);
                }
                /* deterministic output */
                void *buf2 = NULL;
                size_t size2 = 0;
                TH_OK(selsa_weights_save_pth_mem(&w, &o, &buf2, &size2));
                TH_CHECK(size2 == size && buf2 && !memcmp(buf, buf2, size), "%s: identical bytes on a second write", what);
                free(buf2);
                /* file path, then torch.load */
                const char *path = tmp(layout ? "lib_legacy.pth" : "lib_zip.pth");
                TH_OK(selsa_weights_save_pth(path, &w, &o));
                size_t fn;
                void *fb = th_read_file(path, &fn);
                TH_CHECK(fb && fn == size && !memcmp(fb, buf, size), "%s: file equals the memory image", what);
                free(fb);
                const char *ex = tmp("lib_expect.txt");
                write_expect(ex, &w);
                torch_check(path, "expect", ex, NULL, what);
            }
            free(buf);
            selsa_weights_free(&r);
            selsa_weights_free(&w);
        }
    }
    /* options: archive name, ints_as_float, no_meta */
    selsa_weights w, r;
    build_sample(&w, 1);
    selsa_weights_init(&r);
    selsa_pth_write_options o = {.archive_name = "my_model-1.0", .ints_as_float = true, .no_meta = true};
    void *buf = NULL;
    size_t size = 0;
    if (TH_OK(selsa_weights_save_pth_mem(&w, &o, &buf, &size)) && TH_OK(selsa_weights_load_pth_mem(buf, size, &r))) {
        TH_CHECK(memmem(buf, size, "my_model-1.0/data.pkl", 21) != NULL, "archive name used");
        TH_CHECK(r.n_classes == 0, "no_meta: classes not written");
        int all_f32 = 1;
        for (int64_t i = 0; i < r.count; i++) all_f32 &= r.items[i].src_dtype == SELSA_DTYPE_F32;
        TH_CHECK(all_f32, "ints_as_float: every storage float32");
        r.n_classes = w.n_classes; /* compare tensors only */
        r.class_names = w.class_names;
        same_weights(&w, &r, 0, 0, "options");
        r.n_classes = 0;
        r.class_names = NULL;
    }
    free(buf);
    selsa_weights_free(&r);
    selsa_weights_free(&w);

    /* MXNet "none" array -> size (0,) */
    selsa_weights_init(&w);
    selsa_weights_init(&r);
    float x = 1.0f;
    int64_t d1[] = {1};
    add(&w, "x", 1, d1, &x, SELSA_DTYPE_F32);
    add(&w, "none", 0, NULL, &x, SELSA_DTYPE_F32);
    free(w.items[1].data);
    w.items[1].data = NULL;
    w.items[1].numel = 0;
    if (TH_OK(selsa_weights_save_pth_mem(&w, NULL, &buf, &size)) && TH_OK(selsa_weights_load_pth_mem(buf, size, &r)))
        TH_CHECK(r.count == 2 && r.items[1].ndim == 1 && r.items[1].dims[0] == 0 && r.items[1].numel == 0,
                 "'none' array written as size (0,)");
    free(buf);
    selsa_weights_free(&r);
    selsa_weights_free(&w);
}

static void test_validation(void) {
    selsa_weights w;
    void *buf = NULL;
    size_t size = 0;
    float v[4] = {1, 2, 3, 4};
    int64_t d4[] = {4};
    TH_FAILS(selsa_weights_save_pth_mem(NULL, NULL, &buf, &size), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_weights_save_pth(NULL, NULL, NULL), SELSA_ERR_INVALID_ARG);
    /* invalid UTF-8 name */
    selsa_weights_init(&w);
    add(&w, "ok", 1, d4, v, SELSA_DTYPE_F32);
    add(&w, "bad\xff", 1, d4, v, SELSA_DTYPE_F32);
    TH_FAILS(selsa_weights_save_pth_mem(&w, NULL, &buf, &size), SELSA_ERR_INVALID_ARG);
    TH_CHECK(strstr(selsa_last_error(), "UTF-8") != NULL, "message says UTF-8: %s", selsa_last_error());
    /* surrogate and overlong encodings */
    free(w.items[1].name);
    w.items[1].name = strdup("s\xed\xa0\x80");
    TH_FAILS(selsa_weights_save_pth_mem(&w, NULL, &buf, &size), SELSA_ERR_INVALID_ARG);
    free(w.items[1].name);
    w.items[1].name = strdup("o\xc0\xaf");
    TH_FAILS(selsa_weights_save_pth_mem(&w, NULL, &buf, &size), SELSA_ERR_INVALID_ARG);
    /* empty and too long names */
    free(w.items[1].name);
    w.items[1].name = strdup("");
    TH_FAILS(selsa_weights_save_pth_mem(&w, NULL, &buf, &size), SELSA_ERR_INVALID_ARG);
    free(w.items[1].name);
    w.items[1].name = malloc(SELSA_PTH_MAX_NAME + 2);
    memset(w.items[1].name, 'a', SELSA_PTH_MAX_NAME + 1);
    w.items[1].name[SELSA_PTH_MAX_NAME + 1] = '\0';
    TH_FAILS(selsa_weights_save_pth_mem(&w, NULL, &buf, &size), SELSA_ERR_INVALID_ARG);
    TH_CHECK(strstr(selsa_last_error(), "longer") != NULL, "too-long message: %s", selsa_last_error());
    w.items[1].name[SELSA_PTH_MAX_NAME] = '\0'; /* exactly the limit is fine */
    TH_OK(selsa_weights_save_pth_mem(&w, NULL, &buf, &size));
    free(buf);
    buf = NULL;
    free(w.items[1].name);
    w.items[1].name = strdup("b");
    /* inconsistent shapes */
    w.items[1].numel = 5;
    TH_FAILS(selsa_weights_save_pth_mem(&w, NULL, &buf, &size), SELSA_ERR_INVALID_ARG);
    w.items[1].numel = 4;
    w.items[1].dims[0] = -4;
    TH_FAILS(selsa_weights_save_pth_mem(&w, NULL, &buf, &size), SELSA_ERR_INVALID_ARG);
    w.items[1].dims[0] = 4;
    w.items[1].ndim = 9;
    TH_FAILS(selsa_weights_save_pth_mem(&w, NULL, &buf, &size), SELSA_ERR_INVALID_ARG);
    w.items[1].ndim = 1;
    /* bad class name */
    w.class_names = calloc(1, sizeof *w.class_names);
    w.class_names[0] = strdup("\x80");
    w.n_classes = 1;
    TH_FAILS(selsa_weights_save_pth_mem(&w, NULL, &buf, &size), SELSA_ERR_INVALID_ARG);
    free(w.class_names[0]);
    w.class_names[0] = strdup("cat");
    /* bad options */
    selsa_pth_write_options o = {.archive_name = "a/b"};
    TH_FAILS(selsa_weights_save_pth_mem(&w, &o, &buf, &size), SELSA_ERR_INVALID_ARG);
    o.archive_name = "";
    TH_FAILS(selsa_weights_save_pth_mem(&w, &o, &buf, &size), SELSA_ERR_INVALID_ARG);
    o.archive_name = "..";
    TH_FAILS(selsa_weights_save_pth_mem(&w, &o, &buf, &size), SELSA_ERR_INVALID_ARG);
    o.archive_name = NULL;
    o.layout = (selsa_pth_layout)7;
    TH_FAILS(selsa_weights_save_pth_mem(&w, &o, &buf, &size), SELSA_ERR_INVALID_ARG);
    /* unwritable path */
    TH_FAILS(selsa_weights_save_pth("/nonexistent_dir/x.pth", &w, NULL), SELSA_ERR_IO);
    TH_CHECK(strstr(selsa_last_error(), "/nonexistent_dir/x.pth") != NULL, "I/O error names the file: %s", selsa_last_error());
    /* a zip beyond 4 GiB is refused before anything is written (the plan never touches f32 data,
     * so a tensor claiming 2^30 floats over a 4-float buffer is safe here) */
    w.items[1].dims[0] = (int64_t)1 << 30;
    w.items[1].numel = (int64_t)1 << 30;
    const char *big = tmp("huge.pth");
    TH_FAILS(selsa_weights_save_pth(big, &w, NULL), SELSA_ERR_UNSUPPORTED);
    TH_CHECK(strstr(selsa_last_error(), "4 GiB") && strstr(selsa_last_error(), "legacy"), "ZIP64 message: %s",
             selsa_last_error());
    TH_CHECK(access(big, F_OK) != 0, "nothing written for a refused archive");
    w.items[1].dims[0] = 4;
    w.items[1].numel = 4;
    TH_OK(selsa_weights_save_pth_mem(&w, NULL, &buf, &size));
    free(buf);
    selsa_weights_free(&w);

    /* naming rule */
    TH_CHECK(selsa_weights_mxnet_kind_for("bn_conv1_moving_mean") == SELSA_WEIGHT_AUX &&
             selsa_weights_mxnet_kind_for("bn_conv1_moving_var") == SELSA_WEIGHT_AUX &&
             selsa_weights_mxnet_kind_for("backbone.bn1.running_mean") == SELSA_WEIGHT_AUX &&
             selsa_weights_mxnet_kind_for("backbone.bn1.running_var") == SELSA_WEIGHT_AUX &&
             selsa_weights_mxnet_kind_for("backbone.bn1.num_batches_tracked") == SELSA_WEIGHT_AUX &&
             selsa_weights_mxnet_kind_for("bn_conv1_gamma") == SELSA_WEIGHT_ARG &&
             selsa_weights_mxnet_kind_for("backbone.bn1.weight") == SELSA_WEIGHT_ARG &&
             selsa_weights_mxnet_kind_for("running_mean_scale") == SELSA_WEIGHT_ARG,
             "arg/aux rule by name suffix");
    TH_CHECK(selsa_weights_is_num_batches_tracked("a.bn.num_batches_tracked") &&
             !selsa_weights_is_num_batches_tracked("a.bn.running_var"), "num_batches_tracked detection");
}

/* Convert with the CLI, expecting exit code 0. */
static int convert_ok(const char *in, const char *out, const char *opts) {
    char a[16384];
    snprintf(a, sizeof a, "convert -q '%s' '%s' %s", in, out, opts ? opts : "");
    int rc = run(a);
    TH_CHECK(rc == 0, "convert %s -> %s %s: rc %d: %s", in, out, opts ? opts : "", rc, out_buf);
    return rc == 0;
}

static int load(const char *path, selsa_weights *w) {
    selsa_weights_init(w);
    return TH_OK(selsa_weights_load(path, w));
}

static void test_cli_params_roundtrip(void) {
    /* .params with MXNet names (the rule must give back the same arg:/aux: split) */
    selsa_weights w;
    selsa_weights_init(&w);
    selsa_rng rng;
    selsa_rng_seed(&rng, 5, 1);
    float buf[64 * 3 * 7 * 7];
    th_fill_uniform(buf, 64 * 3 * 49, -1, 1, &rng);
    int64_t dc[] = {64, 3, 7, 7}, d64[] = {64}, dfc[] = {31, 64};
    add(&w, "arg:conv1_weight", 4, dc, buf, SELSA_DTYPE_F32);
    add(&w, "arg:bn_conv1_gamma", 1, d64, buf + 10, SELSA_DTYPE_F32);
    add(&w, "arg:bn_conv1_beta", 1, d64, buf + 100, SELSA_DTYPE_F32);
    add(&w, "aux:bn_conv1_moving_mean", 1, d64, buf + 200, SELSA_DTYPE_F32);
    add(&w, "aux:bn_conv1_moving_var", 1, d64, buf + 300, SELSA_DTYPE_F32);
    add(&w, "arg:cls_score_weight", 2, dfc, buf + 400, SELSA_DTYPE_F32);
    const char *p0 = tmp("rt0.params"), *p1 = tmp("rt1.pth"), *p2 = tmp("rt2.params");
    TH_OK(selsa_weights_save_params(p0, &w));
    if (convert_ok(p0, p1, NULL) && convert_ok(p1, p2, NULL)) {
        TH_CHECK(th_files_equal(p0, p2), ".params -> .pth -> .params gives a byte-identical file");
        selsa_weights a, b;
        if (load(p1, &a)) {
            TH_CHECK(a.format == SELSA_WEIGHTS_PTH_ZIP && a.count == 6 && !strcmp(a.items[3].name, "bn_conv1_moving_mean") &&
                     a.items[3].kind == SELSA_WEIGHT_PLAIN, ".pth keys are bare names");
            same_weights(&w, &a, 0, 0, ".params -> .pth");
        }
        if (load(p2, &b)) same_weights(&w, &b, 1, 1, ".params -> .pth -> .params (kinds, data)");
        selsa_weights_free(&a);
        selsa_weights_free(&b);
        /* torch.load sees the same tensors */
        const char *ex = tmp("rt_expect.txt");
        selsa_weights bare;
        if (load(p0, &bare)) {
            write_expect(ex, &bare);
            torch_check(p1, "expect", ex, NULL, ".params -> .pth");
        }
        selsa_weights_free(&bare);
    }
    /* legacy layout through --format */
    const char *p3 = tmp("rt3.pth"), *p4 = tmp("rt4.params");
    if (convert_ok(p0, p3, "--format pth-legacy") && convert_ok(p3, p4, NULL)) {
        selsa_weights_format f = SELSA_WEIGHTS_UNKNOWN;
        TH_OK(selsa_weights_detect(p3, &f));
        TH_CHECK(f == SELSA_WEIGHTS_PTH_LEGACY, "--format pth-legacy writes the legacy layout");
        TH_CHECK(th_files_equal(p0, p4), ".params -> legacy .pth -> .params byte-identical");
        const char *ex = tmp("rt_expect.txt");
        torch_check(p3, "expect", ex, NULL, ".params -> legacy .pth");
    }
    /* --format overrides the extension; unnamed .params stays unnamed */
    const char *p5 = tmp("rt5.bin");
    if (convert_ok(p1, p5, "--format params")) TH_CHECK(th_files_equal(p0, p5), "--format params with any extension");
    selsa_weights_free(&w);
}

static void test_cli_pth_roundtrip(void) {
    const char *zipf = th_fixture_path("convert_torch_zip.pth");
    char fz[4096], fl[4096], fp[4096];
    snprintf(fz, sizeof fz, "%s", zipf);
    snprintf(fl, sizeof fl, "%s", th_fixture_path("convert_torch_legacy.pth"));
    snprintf(fp, sizeof fp, "%s", th_fixture_path("convert_torch_plain.pth"));
    if (access(fz, R_OK) != 0 || access(fl, R_OK) != 0 || access(fp, R_OK) != 0) {
        th_skip("convert_torch_*.pth fixtures absent (run tests/ref/gen_convert.py)");
        return;
    }
    selsa_weights orig, a, b;
    if (!load(fz, &orig)) return;
    /* .pth -> .pth (zip, legacy) keeps everything: int64 counter, classes, order */
    const char *q1 = tmp("p1.pth"), *q2 = tmp("p2.pth"), *q3 = tmp("p3.pth");
    if (convert_ok(fz, q1, NULL) && load(q1, &a)) {
        same_weights(&orig, &a, 1, 1, "torch .pth -> .pth");
        torch_check(q1, "ref", fz, NULL, "torch zip -> our zip");
    }
    selsa_weights_free(&a);
    if (convert_ok(fl, q2, "--format pth-legacy") && load(q2, &a)) {
        same_weights(&orig, &a, 1, 1, "torch legacy -> our legacy");
        torch_check(q2, "ref", fl, NULL, "torch legacy -> our legacy");
    }
    selsa_weights_free(&a);
    if (convert_ok(q2, q3, NULL)) TH_CHECK(th_files_equal(q1, q3), "zip -> legacy -> zip is byte-identical to zip -> zip");
    /* .pth -> .params -> .pth: num_batches_tracked dropped, classes dropped, the rest bit-exact */
    const char *r1 = tmp("p.params"), *r2 = tmp("pp.pth");
    char a1[8192];
    snprintf(a1, sizeof a1, "convert '%s' '%s'", fz, r1);
    int rc = run(a1);
    TH_CHECK(rc == 0 && strstr(out_buf, "num_batches_tracked") && strstr(out_buf, "class names") &&
             strstr(out_buf, "2 aux:"), ".pth -> .params summary notes the drops: %s", out_buf);
    if (rc == 0 && load(r1, &a)) {
        int ok = a.count == orig.count - 1;
        for (int64_t i = 0, j = 0; ok && i < orig.count; i++) {
            const selsa_weight *t = &orig.items[i];
            if (selsa_weights_is_num_batches_tracked(t->name)) continue;
            const selsa_weight *u = &a.items[j++];
            ok = !strcmp(t->name, u->name) && u->kind == selsa_weights_mxnet_kind_for(t->name) &&
                 u->numel == t->numel && !memcmp(t->data, u->data, (size_t)t->numel * 4);
        }
        TH_CHECK(ok, ".pth -> .params: bare names, rule kinds, bit-exact data");
        TH_CHECK(selsa_weights_find(&a, "detector.backbone.bn1.running_var")->kind == SELSA_WEIGHT_AUX &&
                 selsa_weights_find(&a, "detector.backbone.bn1.weight")->kind == SELSA_WEIGHT_ARG, "aux/arg kinds");
        if (convert_ok(r1, r2, NULL)) torch_check(r2, "ref", fz, "skip", ".pth -> .params -> .pth");
    }
    selsa_weights_free(&a);
    /* --keep-num-batches-tracked: aux:, float32, shape (1,) */
    const char *r3 = tmp("pk.params");
    if (convert_ok(fz, r3, "--keep-num-batches-tracked") && load(r3, &a)) {
        const selsa_weight *t = selsa_weights_find(&a, "detector.backbone.bn1.num_batches_tracked");
        TH_CHECK(a.count == orig.count && t && t->kind == SELSA_WEIGHT_AUX && t->numel == 1 && t->data[0] == 2.0f,
                 "num_batches_tracked kept as aux float (value 2)");
    }
    selsa_weights_free(&a);
    /* strided views / fp16 of a torch file come out dense float32 with the same values */
    const char *r4 = tmp("plain.pth");
    if (convert_ok(fp, r4, NULL)) torch_check(r4, "ref", fp, NULL, "strided/fp16 torch file");

    /* prefix options */
    const char *s1 = tmp("strip.pth"), *s2 = tmp("readd.pth");
    if (convert_ok(fz, s1, "--strip-prefix detector.") && load(s1, &a)) {
        int ok = a.count == orig.count;
        for (int64_t i = 0; ok && i < a.count; i++) ok = !strcmp(a.items[i].name, orig.items[i].name + 9);
        TH_CHECK(ok, "--strip-prefix removes the prefix from every key: %s", a.count ? a.items[0].name : "");
        if (convert_ok(s1, s2, "--add-prefix detector.")) TH_CHECK(th_files_equal(s2, q1), "strip then add gives the original file back");
    }
    selsa_weights_free(&a);
    const char *s3 = tmp("both.params");
    if (convert_ok(fz, s3, "--strip-prefix detector.backbone. --add-prefix net.") && load(s3, &b)) {
        TH_CHECK(selsa_weights_find(&b, "net.conv1.weight") && selsa_weights_find(&b, "net.detector.cls_head.weight") &&
                 selsa_weights_find(&b, "aux:net.bn1.running_mean"), "strip then add; unmatched names only get the prefix");
    }
    selsa_weights_free(&b);
    /* a prefix that matches nothing is a note, not an error */
    char a2[8192];
    snprintf(a2, sizeof a2, "convert '%s' '%s' --strip-prefix nothing.", fz, tmp("n.pth"));
    TH_CHECK(run(a2) == 0 && strstr(out_buf, "nothing stripped"), "unmatched --strip-prefix noted: %s", out_buf);
    selsa_weights_free(&orig);
}

static void test_cli_errors(void) {
    char a[8192];
    TH_CHECK(run("convert --help") == 0 && strstr(out_buf, "usage: selsa convert") && strstr(out_buf, "aux:"),
             "convert --help documents the naming rule");
    TH_CHECK(run("--help") == 0 && strstr(out_buf, "convert"), "convert is listed");
    TH_CHECK(run("convert") == 2 && strstr(out_buf, "missing"), "no arguments: usage error");
    TH_CHECK(run("convert a.params") == 2 && strstr(out_buf, "OUT"), "missing OUT: usage error");
    TH_CHECK(run("convert a b c") == 2, "too many arguments");
    TH_CHECK(run("convert a.params b.pth --bogus") == 2 && strstr(out_buf, "--bogus"), "unknown option");
    TH_CHECK(run("convert a.params b.pth --format") == 2 && strstr(out_buf, "needs a value"), "option without value");
    /* a valid input for the output-side errors */
    selsa_weights w;
    selsa_weights_init(&w);
    float v[2] = {1, 2};
    int64_t d2[] = {2};
    add(&w, "arg:x", 1, d2, v, SELSA_DTYPE_F32);
    add(&w, "arg:a.x", 1, d2, v, SELSA_DTYPE_F32);
    const char *in = tmp("in.params");
    TH_OK(selsa_weights_save_params(in, &w));
    selsa_weights_free(&w);
    snprintf(a, sizeof a, "convert %s %s", in, tmp("out.weights"));
    TH_CHECK(run(a) == 2 && strstr(out_buf, "output format"), "unknown output extension: usage error: %s", out_buf);
    snprintf(a, sizeof a, "convert %s %s --format onnx", in, tmp("out.pth"));
    TH_CHECK(run(a) == 2 && strstr(out_buf, "onnx"), "unknown --format: usage error: %s", out_buf);
    snprintf(a, sizeof a, "convert /nonexistent/in.params %s", tmp("out.pth"));
    TH_CHECK(run(a) == 4 && strstr(out_buf, "/nonexistent/in.params"), "missing input: exit 4 naming it: %s", out_buf);
    const char *garbage = tmp("garbage.pth");
    FILE *f = fopen(garbage, "w");
    if (f) {
        fputs("definitely not weights", f);
        fclose(f);
    }
    snprintf(a, sizeof a, "convert %s %s", garbage, tmp("out.params"));
    TH_CHECK(run(a) == 4 && strstr(out_buf, "error"), "corrupt input: exit 4: %s", out_buf);
    snprintf(a, sizeof a, "convert %s /nonexistent_dir/out.pth", in);
    TH_CHECK(run(a) == 3 && strstr(out_buf, "/nonexistent_dir/out.pth"), "unwritable output: exit 3 naming it: %s", out_buf);
    snprintf(a, sizeof a, "convert %s /nonexistent_dir/out.params", in);
    TH_CHECK(run(a) == 3, "unwritable .params output: exit 3: %s", out_buf);
    snprintf(a, sizeof a, "convert %s %s --strip-prefix a.", in, tmp("dup.pth"));
    TH_CHECK(run(a) == 2 && strstr(out_buf, "duplicate"), "names colliding after --strip-prefix: usage error: %s", out_buf);
    TH_CHECK(access(tmp("dup.pth"), F_OK) != 0, "nothing written on error");
    snprintf(a, sizeof a, "convert %s %s --archive-name a/b", in, tmp("arch.pth"));
    TH_CHECK(run(a) == 2 && strstr(out_buf, "archive name"), "bad --archive-name: usage error: %s", out_buf);
    snprintf(a, sizeof a, "convert %s %s --archive-name zz", in, tmp("arch.pth"));
    TH_CHECK(run(a) == 0, "--archive-name: %s", out_buf);
    snprintf(a, sizeof a, "convert %s %s", in, tmp("ok.pth"));
    TH_CHECK(run(a) == 0 && strstr(out_buf, "2 tensors") && strstr(out_buf, "pth-zip"), "summary line: %s", out_buf);
    /* converting in place (IN == OUT) works: the input is read before the atomic replace */
    snprintf(a, sizeof a, "convert %s %s", tmp("ok.pth"), tmp("ok.pth"));
    TH_CHECK(run(a) == 0, "in-place conversion: %s", out_buf);
}

int main(int argc, char **argv) {
    th_init(argc, argv, "convert");
    selsa_log_set(NULL, NULL);
    th_tool_path(tool, sizeof tool);
    /* the repository root: the current directory when run by make / run_tests.sh */
    if (!getcwd(repo, sizeof repo)) snprintf(repo, sizeof repo, ".");
    char probe_path[8300];
    snprintf(probe_path, sizeof probe_path, "%s/tests/ref/_check_pth.py", repo);
    if (access(probe_path, R_OK) != 0) { /* else BUILD/tests/test_convert inside the repository */
        char copy[4096];
        snprintf(copy, sizeof copy, "%s", tool); /* BUILD/tests/../selsa -> BUILD/tests/.. */
        snprintf(repo, sizeof repo, "%s/..", dirname(copy));
    }
    if (!mkdtemp(tmpdir)) {
        TH_CHECK(0, "mkdtemp failed");
        return th_finish();
    }
    char probe[4200];
    snprintf(probe, sizeof probe, "test -f %s/tests/ref/_check_pth.py && /usr/bin/python3 -c 'import torch'", repo);
    have_torch = sh(probe) == 0;
    if (!have_torch) printf("note: torch.load checks skipped (no torch for /usr/bin/python3, or not run from the repo root)\n");
    test_library_roundtrip();
    test_validation();
    if (access(tool, X_OK) == 0) {
        test_cli_params_roundtrip();
        test_cli_pth_roundtrip();
        test_cli_errors();
    } else {
        TH_CHECK(0, "selsa tool not found at %s (build it with `make`)", tool);
    }
    th_remove_tree(tmpdir);
    return th_finish();
}
