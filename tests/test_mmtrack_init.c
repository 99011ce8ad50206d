/* Tests of selsa_mmtrack_init_weights (src/model/mmtrack_init.c) and `selsa init-weights`:
 *   - without an ImageNet model: every tensor of the tiny / tiny-x state dicts, PLAIN names,
 *     the stated distribution per layer (constants exact; normal / uniform sample mean and std
 *     per tensor and pooled over each layer family; uniform bounds), num_batches_tracked int64 0,
 *     deterministic per seed;
 *   - the same statistics against PyTorch's own torch.nn.init on the reference module tree
 *     (tests/ref/gen_mmtrack_init.py: mmtrack_init_torch_stats.slfx);
 *   - with the torchvision-layout dicts of tests/ref/gen_mmtrack_init.py (bare, 'module.', and
 *     {'state_dict': 'backbone.'} ResNeXt; one without num_batches_tracked): every backbone
 *     tensor bit-identical to its source, heads identical to the fresh init of the same seed,
 *     fc.* reported unused in one warning; wrong shape -> SELSA_ERR_SHAPE and missing tensor ->
 *     SELSA_ERR_FORMAT, both naming the tensor;
 *   - the result loads into selsa_mmtrack_model_load, survives a .pth round trip bit-exactly,
 *     and trains: selsa_mmtrack_trainer_create + one forward_backward + SGD step, finite losses;
 *   - the CLI: init-weights for mmtrack-tiny with and without --pretrained writes a .pth that
 *     `selsa inspect` lists and the model loads; family/format mismatches and official
 *     --pretrained. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "harness.h"
#include "selsa/model_mmtrack.h"
#include "selsa/train_mmtrack.h"
#include "selsa/weights.h"
#include "selsa/weights_pth.h"

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}
static bool starts_with(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* ------------------------------------------------------------------ log capture ------------- */

static char warn_buf[8192];
static int n_warn;
static void log_sink(selsa_log_level level, const char *msg, void *user) {
    (void)user;
    if (level == SELSA_LOG_WARN) {
        n_warn++;
        snprintf(warn_buf, sizeof warn_buf, "%s", msg);
    }
}
static void warn_reset(void) {
    n_warn = 0;
    warn_buf[0] = '\0';
}

/* ------------------------------------------------------------------ expected rules --------- */

/* Written from mmdet 2.x / mmcv 1.x defaults (not from the implementation's table):
 * family 0 constant, 1 Kaiming-normal fan_out, 2 N(0, 0.01) (RPN convs, fc_cls), 3 N(0, 0.001)
 * fc_reg, 4 Xavier-uniform (neck, shared_fcs), 5 nn.Linear default U(±1/sqrt(in)). */
enum { F_CONST, F_KAIMING, F_N001, F_N0001, F_XAVIER, F_LINEAR, N_FAMILIES };
static const char *const FAMILY_NAME[N_FAMILIES] = {"constant", "kaiming-normal", "N(0,0.01)", "N(0,0.001)",
                                                    "xavier-uniform", "linear-default"};

typedef struct expect {
    int family;
    double value;  /* constant */
    double sigma;  /* std of the distribution */
    double bound;  /* uniform half-width (0 for normals) */
} expect;

static expect expected(const selsa_weight *t, int fc_dim) {
    const char *n = t->name;
    const int64_t *d = t->dims;
    expect e = {F_CONST, 0, 0, 0};
    bool bias = ends_with(n, ".bias");
    if (starts_with(n, "detector.backbone.")) {
        bool bn = t->ndim <= 1;
        if (!bn) e = (expect){F_KAIMING, 0, sqrt(2.0 / (double)(d[0] * d[2] * d[3])), 0};
        else if (ends_with(n, ".weight") || ends_with(n, ".running_var")) e.value = 1;
        return e;
    }
    if (bias && !strstr(n, ".aggregator.")) return e;
    if (starts_with(n, "detector.neck.")) {
        double b = sqrt(6.0 / (double)((d[0] + d[1]) * d[2] * d[3]));
        return (expect){F_XAVIER, 0, b / sqrt(3.0), b};
    }
    if (starts_with(n, "detector.rpn_head.") || strstr(n, ".fc_cls.")) return (expect){F_N001, 0, 0.01, 0};
    if (strstr(n, ".fc_reg.")) return (expect){F_N0001, 0, 0.001, 0};
    if (strstr(n, ".shared_fcs.")) {
        double b = sqrt(6.0 / (double)(d[0] + d[1]));
        return (expect){F_XAVIER, 0, b / sqrt(3.0), b};
    }
    if (strstr(n, ".aggregator.")) {
        double b = 1.0 / sqrt((double)fc_dim);
        return (expect){F_LINEAR, 0, b / sqrt(3.0), b};
    }
    e.family = -1;
    return e;
}

/* ------------------------------------------------------------------ helpers ---------------- */

typedef struct name_list {
    char names[512][160];
    int ndim[512];
    int64_t dims[512][4];
    int n;
} name_list;

static void collect(void *user, const char *name, int ndim, const int64_t *dims) {
    name_list *L = user;
    if (L->n >= 512) return;
    snprintf(L->names[L->n], sizeof L->names[0], "%s", name);
    L->ndim[L->n] = ndim;
    for (int i = 0; i < 4; i++) L->dims[L->n][i] = i < ndim ? dims[i] : 0;
    L->n++;
}

static bool same_bits(const selsa_weight *a, const selsa_weight *b) {
    if (a->numel != b->numel) return false;
    return a->numel == 0 || memcmp(a->data, b->data, (size_t)a->numel * sizeof(float)) == 0;
}

/* Copy of `src` without tensor `skip` (may be NULL) and with tensor `reshape` (may be NULL)
 * replaced by a zero tensor of shape new_dims. */
static selsa_status copy_dict(const selsa_weights *src, selsa_weights *dst, const char *skip, const char *reshape,
                              int new_ndim, const int64_t *new_dims) {
    selsa_weights_init(dst);
    for (int64_t i = 0; i < src->count; i++) {
        const selsa_weight *t = &src->items[i];
        if (skip && !strcmp(t->name, skip)) continue;
        if (reshape && !strcmp(t->name, reshape)) {
            int64_t n = 1;
            for (int k = 0; k < new_ndim; k++) n *= new_dims[k];
            float *z = calloc((size_t)n, sizeof(float));
            selsa_status s = selsa_weights_add(dst, t->name, new_ndim, new_dims, z, t->src_dtype);
            free(z);
            SELSA_TRY(s);
            continue;
        }
        SELSA_TRY(selsa_weights_add(dst, t->name, t->ndim, t->dims, t->data, t->src_dtype));
    }
    return SELSA_OK;
}

/* ------------------------------------------------------------------ statistics ------------- */

typedef struct pooled {
    double sum, sum2; /* of z = x / sigma */
    int64_t n;
} pooled;

/* Tolerances. Values are i.i.d. with known mean 0 and std sigma, so for n values the sample
 * mean has std sigma/sqrt(n) and the sample std has relative std ≈ 1/sqrt(2n) (normal) or
 * sqrt(0.2/n) (uniform, kurtosis 1.8); every bound is 5 of those standard errors (two-sided
 * tail ≈ 6e-7 per check; the seeds are fixed, so a pass is reproducible) — per tensor and,
 * much tighter, pooled over each family. Extremes: a N(0, σ²) value beyond 6.5σ has
 * probability 8e-11 (≈ 1e-6 over the ≈ 1e4 normal values of the tiny model). */
static void check_stats(const selsa_weights *w, int fc_dim, const char *tag) {
    pooled P[N_FAMILIES] = {{0}};
    int bad_rule = 0, bad_const = 0, bad_mean = 0, bad_std = 0, bad_range = 0;
    for (int64_t i = 0; i < w->count; i++) {
        const selsa_weight *t = &w->items[i];
        expect e = expected(t, fc_dim);
        if (e.family < 0) {
            if (bad_rule++ < 3) TH_CHECK(0, "%s: no expected rule for %s", tag, t->name);
            continue;
        }
        if (e.family == F_CONST) {
            bool ok = true;
            for (int64_t k = 0; k < t->numel; k++) ok = ok && t->data[k] == (float)e.value;
            if (!ok && bad_const++ < 3) TH_CHECK(0, "%s: %s must be constant %g", tag, t->name, e.value);
            continue;
        }
        double s = 0, s2 = 0, mx = 0;
        for (int64_t k = 0; k < t->numel; k++) {
            double z = t->data[k] / e.sigma;
            s += z;
            s2 += z * z;
            mx = fmax(mx, fabs(t->data[k]));
        }
        int64_t n = t->numel;
        double mean = s / n, sd = sqrt(s2 / n - mean * mean);
        double se_sd = e.bound > 0 ? sqrt(0.2 / n) : 1.0 / sqrt(2.0 * n);
        if (fabs(mean) > 5.0 / sqrt((double)n) && bad_mean++ < 3)
            TH_CHECK(0, "%s: %s mean/sigma %.4f beyond 5 standard errors (n %lld)", tag, t->name, mean, (long long)n);
        if (fabs(sd - 1.0) > 5.0 * se_sd && bad_std++ < 3)
            TH_CHECK(0, "%s: %s std/sigma %.4f beyond 5 standard errors (n %lld)", tag, t->name, sd, (long long)n);
        /* uniform: inside [-b, b] and (n >= 200) reaching above 0.95b (P(miss) = 0.95^200 = 3.5e-5) */
        bool range_ok = e.bound > 0 ? mx <= e.bound * (1 + 1e-6) && (n < 200 || mx > 0.95 * e.bound)
                                    : mx <= 6.5 * e.sigma;
        if (!range_ok && bad_range++ < 3) TH_CHECK(0, "%s: %s max |x| %.6g (sigma %.6g, bound %.6g)", tag, t->name, mx,
                                                  e.sigma, e.bound);
        P[e.family].sum += s;
        P[e.family].sum2 += s2;
        P[e.family].n += n;
    }
    TH_CHECK(bad_rule + bad_const + bad_mean + bad_std + bad_range == 0,
             "%s: per-tensor statistics (%d rule, %d constant, %d mean, %d std, %d range failures)", tag, bad_rule,
             bad_const, bad_mean, bad_std, bad_range);
    for (int f = 1; f < N_FAMILIES; f++) {
        if (P[f].n == 0) {
            TH_CHECK(0, "%s: no tensor of family %s", tag, FAMILY_NAME[f]);
            continue;
        }
        double n = (double)P[f].n, mean = P[f].sum / n, sd = sqrt(P[f].sum2 / n - mean * mean);
        double se_sd = (f == F_XAVIER || f == F_LINEAR) ? sqrt(0.2 / n) : 1.0 / sqrt(2.0 * n);
        TH_CHECK(fabs(mean) <= 5.0 / sqrt(n) && fabs(sd - 1.0) <= 5.0 * se_sd,
                 "%s: pooled %s: mean/sigma %.5f (tol %.5f), std/sigma %.5f (tol %.5f), n %.0f", tag,
                 FAMILY_NAME[f], mean, 5.0 / sqrt(n), sd, 5.0 * se_sd, n);
    }
}

/* ------------------------------------------------------------------ without ImageNet ------- */

static void test_scratch(bool resnext) {
    const char *tag = resnext ? "tiny-x" : "tiny";
    selsa_mmtrack_config cfg;
    selsa_mmtrack_config_tiny(&cfg, resnext);
    selsa_weights w, w2, w3;
    selsa_weights_init(&w);
    selsa_weights_init(&w2);
    selsa_weights_init(&w3);
    if (!TH_OK(selsa_mmtrack_init_weights(&cfg, 7, NULL, &w))) return;
    static name_list L;
    L.n = 0;
    selsa_mmtrack_enum_params(&cfg, collect, &L);
    TH_CHECK(w.count == L.n, "%s: %lld tensors, the model has %d", tag, (long long)w.count, L.n);
    int bad = 0;
    for (int i = 0; i < L.n; i++) {
        const selsa_weight *t = selsa_weights_find(&w, L.names[i]);
        bool ok = t && t->kind == SELSA_WEIGHT_PLAIN && t->ndim == L.ndim[i] && !strcmp(t->name, L.names[i]) &&
                  t->numel == (L.ndim[i] == 0 ? 1 : t->numel);
        for (int k = 0; ok && k < L.ndim[i]; k++) ok = t->dims[k] == L.dims[i][k];
        if (ok && ends_with(t->name, "num_batches_tracked"))
            ok = t->src_dtype == SELSA_DTYPE_I64 && t->numel == 1 && t->data[0] == 0.0f;
        else if (ok) ok = t->src_dtype == SELSA_DTYPE_F32;
        if (!ok && bad++ < 3) TH_CHECK(0, "%s: tensor %s missing or wrong shape/kind/dtype", tag, L.names[i]);
    }
    TH_CHECK(bad == 0, "%s: every key, shape, PLAIN kind, dtype as selsa_mmtrack_enum_params", tag);
    check_stats(&w, cfg.fc_dim, tag);

    /* deterministic per seed; another seed changes every random tensor and no constant */
    if (TH_OK(selsa_mmtrack_init_weights(&cfg, 7, NULL, &w2)) && TH_OK(selsa_mmtrack_init_weights(&cfg, 8, NULL, &w3))) {
        int diff_same = 0, same_other = 0, const_changed = 0;
        for (int64_t i = 0; i < w.count; i++) {
            const selsa_weight *a = &w.items[i], *b = selsa_weights_find(&w2, a->name), *c = selsa_weights_find(&w3, a->name);
            if (!b || !same_bits(a, b)) diff_same++;
            bool constant = expected(a, cfg.fc_dim).family == F_CONST;
            if (c && same_bits(a, c) && !constant) same_other++;
            if (c && !same_bits(a, c) && constant) const_changed++;
        }
        TH_CHECK(diff_same == 0, "%s: seed 7 twice differs in %d tensors", tag, diff_same);
        TH_CHECK(same_other == 0 && const_changed == 0, "%s: seed 8: %d random tensors unchanged, %d constants changed",
                 tag, same_other, const_changed);
    }
    /* loads into the inference model */
    selsa_mmtrack_model *m = NULL;
    if (TH_OK(selsa_mmtrack_model_load(&m, &cfg, &w, "init"))) selsa_mmtrack_model_free(m);
    selsa_weights_free(&w);
    selsa_weights_free(&w2);
    selsa_weights_free(&w3);
}

/* Compare with torch.nn.init applied to the reference module tree (per tensor numel, mean,
 * std, min, max of torch's draw). Two independent samples of n values estimating the same std
 * differ by a relative standard error <= sqrt(2)·sqrt(0.5/n) = 1/sqrt(n) (normal: the larger
 * case; uniform sqrt(0.2/n) each), and their means by sqrt(2)·σ/sqrt(n): bounds are 5 of those.
 * Pooled over the K random tensors, the mean log std ratio has standard error
 * sqrt(Σ 1/n_i)/K (log ratio se ≈ relative se), bound 5×. */
static void test_torch_reference(bool resnext) {
    const char *tag = resnext ? "tiny-x" : "tiny";
    const char *p = th_fixture_path("mmtrack_init_torch_stats.slfx");
    if (access(p, R_OK) != 0) {
        th_skip("fixture mmtrack_init_torch_stats.slfx absent (run tests/ref/gen_mmtrack_init.py)");
        return;
    }
    th_fixture *fx = th_fixture_open(p);
    if (!TH_CHECK(fx != NULL, "open %s", p)) return;
    selsa_mmtrack_config cfg;
    selsa_mmtrack_config_tiny(&cfg, resnext);
    selsa_weights w;
    selsa_weights_init(&w);
    if (TH_OK(selsa_mmtrack_init_weights(&cfg, 7, NULL, &w))) {
        char key[256];
        snprintf(key, sizeof key, "%s|__count", tag);
        TH_CHECK(th_fx_scalar(fx, key) == (double)w.count, "%s: torch model has %g tensors, ours %lld", tag,
                 th_fx_scalar(fx, key), (long long)w.count);
        int bad = 0, k_rand = 0;
        double sum_log = 0, sum_inv_n = 0;
        for (int64_t i = 0; i < w.count; i++) {
            const selsa_weight *t = &w.items[i];
            snprintf(key, sizeof key, "%s|%s", tag, t->name);
            if (th_fx_numel(fx, key) != 5) {
                if (bad++ < 3) TH_CHECK(0, "%s: %s not in the torch model", tag, t->name);
                continue;
            }
            const double *r = th_fx_f64(fx, key); /* numel, mean, std, min, max */
            double s = 0, s2 = 0;
            for (int64_t k = 0; k < t->numel; k++) {
                s += t->data[k];
                s2 += (double)t->data[k] * t->data[k];
            }
            double n = (double)t->numel, mean = s / n, sd = sqrt(fmax(s2 / n - mean * mean, 0));
            bool ok = r[0] == n;
            if (ok && r[3] == r[4]) { /* torch constant: ours must be that exact constant */
                for (int64_t k = 0; ok && k < t->numel; k++) ok = t->data[k] == (float)r[1];
            } else if (ok) {
                ok = fabs(sd / r[2] - 1) <= 5 / sqrt(n) && fabs(mean - r[1]) <= 5 * sqrt(2.0) * r[2] / sqrt(n);
                sum_log += log(sd / r[2]);
                sum_inv_n += 1 / n;
                k_rand++;
            }
            if (!ok && bad++ < 3)
                TH_CHECK(0, "%s: %s: ours mean %.4g std %.4g, torch mean %.4g std %.4g (n %.0f, torch n %.0f)", tag,
                         t->name, mean, sd, r[1], r[2], n, r[0]);
        }
        TH_CHECK(bad == 0, "%s: every tensor's mean/std agree with torch.nn.init's draw", tag);
        double m = sum_log / k_rand, se = sqrt(sum_inv_n) / k_rand;
        TH_CHECK(k_rand > 20 && fabs(m) <= 5 * se, "%s: mean log(std ratio) over %d random tensors %.4f (tol %.4f)",
                 tag, k_rand, m, 5 * se);
    }
    selsa_weights_free(&w);
    th_fixture_close(fx);
}

/* ------------------------------------------------------------------ with ImageNet ---------- */

static bool load_fixture(const char *name, selsa_weights *w) {
    selsa_weights_init(w);
    const char *p = th_fixture_path(name);
    if (access(p, R_OK) != 0) {
        char why[512];
        snprintf(why, sizeof why, "fixture %s absent (run tests/ref/gen_mmtrack_init.py)", p);
        th_skip(why);
        return false;
    }
    return TH_OK(selsa_weights_load(p, w));
}

/* Check `w` (initialised from `src` with key prefix `prefix`) against `src` and the fresh init
 * `fresh` of the same seed. */
static void check_copied(const selsa_weights *w, const selsa_weights *src, const char *prefix,
                         const selsa_weights *fresh, bool src_has_nbt, const char *tag) {
    int bad_bb = 0, bad_head = 0, n_bb = 0;
    for (int64_t i = 0; i < w->count; i++) {
        const selsa_weight *t = &w->items[i];
        if (starts_with(t->name, "detector.backbone.")) {
            char k[256];
            snprintf(k, sizeof k, "%s%s", prefix, t->name + strlen("detector.backbone."));
            const selsa_weight *s = selsa_weights_find(src, k);
            bool ok;
            if (ends_with(t->name, "num_batches_tracked"))
                ok = src_has_nbt ? (s && s->data[0] == t->data[0] && t->data[0] != 0) : (!s && t->data[0] == 0);
            else ok = s && s->ndim == t->ndim && same_bits(s, t);
            if (!ok && bad_bb++ < 3) TH_CHECK(0, "%s: %s is not a bit-exact copy of %s", tag, t->name, k);
            n_bb++;
        } else {
            const selsa_weight *f = selsa_weights_find(fresh, t->name);
            if ((!f || !same_bits(f, t)) && bad_head++ < 3)
                TH_CHECK(0, "%s: %s differs from the fresh init of the same seed", tag, t->name);
        }
    }
    TH_CHECK(bad_bb == 0 && n_bb > 0, "%s: %d backbone tensors copied bit-exactly", tag, n_bb);
    TH_CHECK(bad_head == 0, "%s: neck and heads freshly initialised (= the no-ImageNet init)", tag);
    TH_CHECK(w->count == fresh->count, "%s: same tensor set as the fresh init", tag);
}

static void test_imagenet_file(const char *file, bool resnext, const char *prefix, bool has_nbt) {
    selsa_mmtrack_config cfg;
    selsa_mmtrack_config_tiny(&cfg, resnext);
    selsa_weights src, w, fresh;
    selsa_weights_init(&w);
    selsa_weights_init(&fresh);
    if (!load_fixture(file, &src)) return;
    warn_reset();
    if (TH_OK(selsa_mmtrack_init_weights(&cfg, 21, &src, &w)) && TH_OK(selsa_mmtrack_init_weights(&cfg, 21, NULL, &fresh))) {
        check_copied(&w, &src, prefix, &fresh, has_nbt, file);
        char fcw[64], fcb[64];
        snprintf(fcw, sizeof fcw, " %sfc.weight", prefix);
        snprintf(fcb, sizeof fcb, " %sfc.bias", prefix);
        TH_CHECK(n_warn == 1 && strstr(warn_buf, fcw) && strstr(warn_buf, fcb) && strstr(warn_buf, " 2 unused"),
                 "%s: one warning listing exactly fc.weight and fc.bias as unused (%d warnings: %s)", file, n_warn,
                 warn_buf);
        for (int64_t i = 0; i < src.count; i++)
            TH_CHECK(!src.items[i].used, "%s: the ImageNet dict is only read (used flag of %s set)", file,
                     src.items[i].name);
        selsa_mmtrack_model *m = NULL;
        if (TH_OK(selsa_mmtrack_model_load(&m, &cfg, &w, "init"))) selsa_mmtrack_model_free(m);
    }
    selsa_weights_free(&src);
    selsa_weights_free(&w);
    selsa_weights_free(&fresh);
}

static void test_errors(void) {
    selsa_mmtrack_config cfg;
    selsa_mmtrack_config_tiny(&cfg, false);
    selsa_weights src, bad, w;
    selsa_weights_init(&w);
    TH_FAILS(selsa_mmtrack_init_weights(NULL, 0, NULL, &w), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_mmtrack_init_weights(&cfg, 0, NULL, NULL), SELSA_ERR_INVALID_ARG);
    selsa_mmtrack_config broken = cfg;
    selsa_mmtrack_config_fix_pointers(&broken);
    broken.fc_dim = 65; /* not a multiple of the 16 heads */
    TH_FAILS(selsa_mmtrack_init_weights(&broken, 0, NULL, &w), SELSA_ERR_INVALID_ARG);
    int64_t one = 1;
    float x = 0;
    TH_OK(selsa_weights_add(&w, "something", 1, &one, &x, SELSA_DTYPE_F32));
    TH_FAILS(selsa_mmtrack_init_weights(&cfg, 0, NULL, &w), SELSA_ERR_INVALID_ARG);
    TH_CHECK(w.count == 1, "a non-empty output dictionary is left alone");
    selsa_weights_free(&w);
    /* not a backbone at all */
    selsa_weights_init(&bad);
    TH_OK(selsa_weights_add(&bad, "foo.weight", 1, &one, &x, SELSA_DTYPE_F32));
    TH_FAILS(selsa_mmtrack_init_weights(&cfg, 0, &bad, &w), SELSA_ERR_FORMAT);
    TH_CHECK(strstr(selsa_last_error(), "conv1.weight") != NULL, "no backbone: message names conv1.weight: %s",
             selsa_last_error());
    selsa_weights_free(&bad);
    if (!load_fixture("mmtrack_init_tv_tiny.pth", &src)) return;
    /* wrong shape: layer2.0.conv2 is [16, 16, 3, 3] in the tiny model */
    const int64_t d4[4] = {16, 16, 1, 1};
    if (TH_OK(copy_dict(&src, &bad, NULL, "layer2.0.conv2.weight", 4, d4))) {
        TH_FAILS(selsa_mmtrack_init_weights(&cfg, 0, &bad, &w), SELSA_ERR_SHAPE);
        const char *e = selsa_last_error();
        TH_CHECK(strstr(e, "layer2.0.conv2.weight") && strstr(e, "[16, 16, 1, 1]") && strstr(e, "[16, 16, 3, 3]"),
                 "shape error names the tensor and both shapes: %s", e);
        TH_CHECK(w.count == 0, "output left empty after an error");
    }
    selsa_weights_free(&bad);
    /* a BN vector of the wrong length */
    const int64_t d1[1] = {31};
    if (TH_OK(copy_dict(&src, &bad, NULL, "layer4.0.downsample.1.running_mean", 1, d1))) {
        TH_FAILS(selsa_mmtrack_init_weights(&cfg, 0, &bad, &w), SELSA_ERR_SHAPE);
        TH_CHECK(strstr(selsa_last_error(), "layer4.0.downsample.1.running_mean") != NULL, "names the BN tensor: %s",
                 selsa_last_error());
    }
    selsa_weights_free(&bad);
    /* missing tensor */
    if (TH_OK(copy_dict(&src, &bad, "layer3.0.bn1.running_var", NULL, 0, NULL))) {
        TH_FAILS(selsa_mmtrack_init_weights(&cfg, 0, &bad, &w), SELSA_ERR_FORMAT);
        TH_CHECK(strstr(selsa_last_error(), "layer3.0.bn1.running_var") != NULL, "missing error names the tensor: %s",
                 selsa_last_error());
        TH_CHECK(w.count == 0, "output left empty after an error");
    }
    selsa_weights_free(&bad);
    /* a deeper network's file: an extra block is an error naming it, not a truncated backbone */
    if (TH_OK(copy_dict(&src, &bad, NULL, NULL, 0, NULL))) {
        const int64_t d2[4] = {32, 128, 1, 1};
        float *z = calloc(32 * 128, sizeof(float));
        TH_OK(selsa_weights_add(&bad, "layer3.1.conv1.weight", 4, d2, z, SELSA_DTYPE_F32));
        free(z);
        TH_FAILS(selsa_mmtrack_init_weights(&cfg, 0, &bad, &w), SELSA_ERR_FORMAT);
        TH_CHECK(strstr(selsa_last_error(), "layer3.1.conv1.weight") != NULL, "extra block named: %s",
                 selsa_last_error());
        TH_CHECK(w.count == 0, "output left empty after an error");
    }
    selsa_weights_free(&bad);
    /* the tiny ResNet dict for the tiny-x (ResNeXt) model: grouped conv2 shapes differ */
    selsa_mmtrack_config cx;
    selsa_mmtrack_config_tiny(&cx, true);
    TH_FAILS(selsa_mmtrack_init_weights(&cx, 0, &src, &w), SELSA_ERR_SHAPE);
    TH_CHECK(strstr(selsa_last_error(), "conv") != NULL, "ResNet vs ResNeXt: %s", selsa_last_error());
    selsa_weights_free(&src);
    selsa_weights_free(&w);
}

/* ------------------------------------------------------------------ .pth round trip, training */

/* 128×200 BGR frames (the tiny config's scale): smooth pattern + bright rectangles. */
static void make_frames(selsa_image *imgs, int n, uint64_t seed) {
    selsa_rng r;
    selsa_rng_seed(&r, seed, 3);
    for (int f = 0; f < n; f++) {
        selsa_image_alloc(&imgs[f], 128, 200);
        for (int y = 0; y < 128; y++)
            for (int x = 0; x < 200; x++)
                for (int c = 0; c < 3; c++) {
                    double v = 110 + 60 * sin(0.07 * x + 0.05 * y + c + 0.3 * f) + 20 * selsa_rng_uniform(&r);
                    imgs[f].data[(y * 200 + x) * 3 + c] = (uint8_t)v;
                }
        int rects[2][4] = {{32 + 2 * f, 32, 96 + 2 * f, 96}, {120, 40 - f, 184, 104 - f}};
        for (int k = 0; k < 2; k++)
            for (int y = rects[k][1]; y < rects[k][3]; y++)
                for (int x = rects[k][0]; x < rects[k][2]; x++) imgs[f].data[(y * 200 + x) * 3 + k] = 240;
    }
}

static void train_one_step(const selsa_mmtrack_config *cfg, selsa_weights *w, const char *tag) {
    static const float GT[2 * 4] = {32, 32, 96, 96, 120, 40, 184, 104};
    static const int32_t LAB[2] = {3, 7};
    selsa_ctx ctx;
    if (!TH_OK(selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, 1 << 20, 1))) return;
    selsa_mmtrack_train_config tc;
    selsa_mmtrack_train_config_default(&tc);
    tc.seed = 5;
    selsa_mmtrack_trainer *t = NULL;
    selsa_image imgs[3] = {{0}};
    if (TH_OK(selsa_mmtrack_trainer_create(&t, cfg, &tc, w, &ctx))) {
        make_frames(imgs, 3, 9);
        selsa_mmtrack_train_sample s;
        memset(&s, 0, sizeof s);
        s.n_frames = 3;
        for (int f = 0; f < 3; f++) s.frames[f] = &imgs[f];
        s.gt_boxes = GT;
        s.gt_labels = LAB;
        s.n_gt = 2;
        selsa_mmtrack_losses L;
        double norm = 0;
        selsa_mmtrack_trainer_zero_grad(t);
        if (TH_OK(selsa_mmtrack_trainer_forward_backward(t, &s, true, &L))) {
            TH_CHECK(isfinite(L.rpn_cls) && isfinite(L.rpn_bbox) && isfinite(L.cls) && isfinite(L.bbox) &&
                         isfinite(L.total) && L.total > 0,
                     "%s: finite losses (rpn_cls %g rpn_bbox %g cls %g bbox %g)", tag, L.rpn_cls, L.rpn_bbox, L.cls,
                     L.bbox);
            /* fresh fc_cls N(0, 0.01): logits ≈ 0, so the CE is ≈ ln(31) = 3.43; the RPN's
             * sigmoid BCE ≈ ln 2 = 0.69 */
            TH_CHECK(fabs(L.cls - log(31.0)) < 0.3 && fabs(L.rpn_cls - log(2.0)) < 0.1,
                     "%s: initial losses at chance level: cls %g (ln 31 = %g), rpn_cls %g (ln 2)", tag, L.cls,
                     log(31.0), L.rpn_cls);
            TH_OK(selsa_mmtrack_trainer_sgd_step(t, &norm));
            TH_CHECK(isfinite(norm) && norm > 0, "%s: gradient norm %g", tag, norm);
            printf("  %s: losses rpn_cls %.4f rpn_bbox %.4f cls %.4f bbox %.4f, grad norm %.4g\n", tag, L.rpn_cls,
                   L.rpn_bbox, L.cls, L.bbox, norm);
        }
    }
    selsa_mmtrack_trainer_free(t);
    for (int f = 0; f < 3; f++) selsa_image_free(&imgs[f]);
    selsa_ctx_free(&ctx);
}

static void test_pth_and_training(const char *dir) {
    selsa_mmtrack_config cfg;
    selsa_mmtrack_config_tiny(&cfg, false);
    selsa_weights w, back, src;
    selsa_weights_init(&w);
    selsa_weights_init(&back);
    if (!TH_OK(selsa_mmtrack_init_weights(&cfg, 3, NULL, &w))) return;
    char path[4200];
    snprintf(path, sizeof path, "%s/init.pth", dir);
    if (TH_OK(selsa_weights_save_pth(path, &w, NULL)) && TH_OK(selsa_weights_load(path, &back))) {
        TH_CHECK(back.format == SELSA_WEIGHTS_PTH_ZIP && back.count == w.count, "round trip: zip, %lld tensors",
                 (long long)back.count);
        int bad = 0;
        for (int64_t i = 0; i < w.count; i++) {
            const selsa_weight *a = &w.items[i], *b = selsa_weights_find(&back, a->name);
            bool ok = b && same_bits(a, b) && b->ndim == a->ndim && b->src_dtype == a->src_dtype;
            if (!ok && bad++ < 3) TH_CHECK(0, "round trip: %s differs", a->name);
        }
        TH_CHECK(bad == 0, "round trip through .pth bit-exact (num_batches_tracked stays int64)");
        selsa_mmtrack_model *m = NULL;
        if (TH_OK(selsa_mmtrack_model_load(&m, &cfg, &back, path))) selsa_mmtrack_model_free(m);
        /* the architecture can be read back from the file (selsa detect/test without --preset) */
        selsa_mmtrack_config inf;
        if (TH_OK(selsa_mmtrack_config_from_weights(&inf, &back)))
            TH_CHECK(inf.base_planes == 8 && inf.neck_channels == 32 && inf.fc_dim == 64 && inf.blocks[3] == 1,
                     "architecture inferred from the written state dict");
    }
    train_one_step(&cfg, &w, "scratch init");
    if (load_fixture("mmtrack_init_tv_tiny.pth", &src)) {
        selsa_weights wi;
        selsa_weights_init(&wi);
        if (TH_OK(selsa_mmtrack_init_weights(&cfg, 3, &src, &wi))) train_one_step(&cfg, &wi, "ImageNet init");
        selsa_weights_free(&wi);
        selsa_weights_free(&src);
    }
    selsa_weights_free(&w);
    selsa_weights_free(&back);
}

/* ------------------------------------------------------------------ CLI -------------------- */

static char tool[4096];
static char out_buf[65536];

static int run(const char *args) { return th_run_cli(tool, args, out_buf, sizeof out_buf); }

static void test_cli(const char *dir) {
    th_tool_path(tool, sizeof tool);
    if (access(tool, X_OK) != 0) {
        char why[4200];
        snprintf(why, sizeof why, "selsa tool not found at %s (built by `make tests`): CLI checks skipped", tool);
        th_skip(why);
        return;
    }
    char args[16384];
    TH_CHECK(run("init-weights --help") == 0 && strstr(out_buf, "mmtrack-tiny") && strstr(out_buf, "--pretrained"),
             "init-weights --help lists the MMTracking presets and --pretrained");
    selsa_mmtrack_config cfg;
    selsa_mmtrack_config_tiny(&cfg, false);

    /* without --pretrained: the same tensors as the library call */
    snprintf(args, sizeof args, "init-weights --preset mmtrack-tiny --seed 7 --out %s/a.pth", dir);
    if (TH_CHECK(run(args) == 0, "init-weights mmtrack-tiny: %s", out_buf)) {
        selsa_weights w, ref;
        selsa_weights_init(&w);
        selsa_weights_init(&ref);
        snprintf(args, sizeof args, "%s/a.pth", dir);
        if (TH_OK(selsa_weights_load(args, &w)) && TH_OK(selsa_mmtrack_init_weights(&cfg, 7, NULL, &ref))) {
            int bad = 0;
            for (int64_t i = 0; i < ref.count; i++) {
                const selsa_weight *b = selsa_weights_find(&w, ref.items[i].name);
                if (!b || !same_bits(b, &ref.items[i])) bad++;
            }
            TH_CHECK(w.format == SELSA_WEIGHTS_PTH_ZIP && w.count == ref.count && bad == 0,
                     "CLI .pth (zip) = library init, seed 7 (%d differ)", bad);
            selsa_mmtrack_model *m = NULL;
            if (TH_OK(selsa_mmtrack_model_load(&m, &cfg, &w, "cli"))) selsa_mmtrack_model_free(m);
        }
        selsa_weights_free(&w);
        selsa_weights_free(&ref);
        snprintf(args, sizeof args, "inspect %s/a.pth", dir);
        TH_CHECK(run(args) == 0 && strstr(out_buf, "detector.roi_head.bbox_head.aggregator.1.ref_fc.bias") &&
                     strstr(out_buf, "detector.backbone.layer4.0.downsample.1.num_batches_tracked") &&
                     strstr(out_buf, "i64"),
                 "inspect lists the written .pth: %.300s", out_buf);
    }

    /* with --pretrained (torchvision layout, 'module.' prefix) */
    const char *fx = th_fixture_path("mmtrack_init_tv_tiny_module.pth");
    if (access(fx, R_OK) == 0) {
        char fxp[4096];
        snprintf(fxp, sizeof fxp, "%s", fx);
        snprintf(args, sizeof args, "init-weights --preset mmtrack-tiny --seed 7 --pretrained %s --out %s/b.pth", fxp,
                 dir);
        if (TH_CHECK(run(args) == 0 && strstr(out_buf, "module.fc.weight"),
                     "init-weights --pretrained: ok and warns about fc.*: %s", out_buf)) {
            selsa_weights w, src, fresh;
            selsa_weights_init(&w);
            selsa_weights_init(&src);
            selsa_weights_init(&fresh);
            snprintf(args, sizeof args, "%s/b.pth", dir);
            if (TH_OK(selsa_weights_load(args, &w)) && TH_OK(selsa_weights_load(fxp, &src)) &&
                TH_OK(selsa_mmtrack_init_weights(&cfg, 7, NULL, &fresh))) {
                check_copied(&w, &src, "module.", &fresh, true, "CLI --pretrained");
                selsa_mmtrack_model *m = NULL;
                if (TH_OK(selsa_mmtrack_model_load(&m, &cfg, &w, "cli"))) selsa_mmtrack_model_free(m);
            }
            selsa_weights_free(&w);
            selsa_weights_free(&src);
            selsa_weights_free(&fresh);
        }
        /* ResNet dict for the ResNeXt preset: shape error, exit 4, names the tensor */
        snprintf(args, sizeof args, "init-weights --preset mmtrack-tiny-x --pretrained %s --out %s/c.pth", fxp, dir);
        int rc = run(args);
        snprintf(args, sizeof args, "%s/c.pth", dir);
        TH_CHECK(rc == 4 && strstr(out_buf, "layer1.0.conv1.weight") && access(args, F_OK) != 0,
                 "mismatched --pretrained: exit 4 naming the tensor, nothing written: %s", out_buf);
        /* a .pth for an official preset */
        snprintf(args, sizeof args, "init-weights --preset tiny --pretrained %s --out %s/c.params", fxp, dir);
        TH_CHECK(run(args) == 4 && strstr(out_buf, ".params"), "official preset with a .pth: exit 4: %s", out_buf);
    } else {
        th_skip("fixture mmtrack_init_tv_tiny_module.pth absent: CLI --pretrained checks skipped");
    }

    /* official presets: .params, and --pretrained overlays every tensor the file has */
    snprintf(args, sizeof args, "init-weights --preset tiny --seed 1 --out %s/o1.params", dir);
    TH_CHECK(run(args) == 0, "init-weights tiny: %s", out_buf);
    snprintf(args, sizeof args, "init-weights --preset tiny --seed 2 --pretrained %s/o1.params --out %s/o2.params",
             dir, dir);
    if (TH_CHECK(run(args) == 0, "init-weights tiny --pretrained: %s", out_buf)) {
        selsa_weights a, b;
        selsa_weights_init(&a);
        selsa_weights_init(&b);
        char pa[4200], pb[4200];
        snprintf(pa, sizeof pa, "%s/o1.params", dir);
        snprintf(pb, sizeof pb, "%s/o2.params", dir);
        if (TH_OK(selsa_weights_load(pa, &a)) && TH_OK(selsa_weights_load(pb, &b))) {
            int bad = 0;
            for (int64_t i = 0; i < a.count; i++) {
                const selsa_weight *y = selsa_weights_find(&b, a.items[i].name);
                if (!y || !same_bits(y, &a.items[i]) || y->kind != a.items[i].kind) bad++;
            }
            TH_CHECK(a.count == b.count && bad == 0 && a.format == SELSA_WEIGHTS_MXNET_PARAMS,
                     "official --pretrained copies the .params tensors (%d differ)", bad);
        }
        selsa_weights_free(&a);
        selsa_weights_free(&b);
    }
    snprintf(args, sizeof args, "init-weights --preset mmtrack-tiny --pretrained %s/o1.params --out %s/d.pth", dir, dir);
    TH_CHECK(run(args) == 4 && strstr(out_buf, ".pth"), "MMTracking preset with a .params: exit 4: %s", out_buf);
    snprintf(args, sizeof args, "init-weights --preset mmtrack-tiny --pretrained %s/nosuch.pth --out %s/d.pth", dir, dir);
    TH_CHECK(run(args) == 4, "missing --pretrained file: exit 4: %s", out_buf);
    snprintf(args, sizeof args, "init-weights --preset mmtrack-nosuch --out %s/d.pth", dir);
    TH_CHECK(run(args) == 2 && strstr(out_buf, "mmtrack-nosuch"), "unknown MMTracking preset: exit 2: %s", out_buf);
    snprintf(args, sizeof args, "init-weights --preset mmtrack-tiny --out %s/no/such/dir/x.pth", dir);
    TH_CHECK(run(args) == 3, "unwritable output: exit 3: %s", out_buf);
}

int main(int argc, char **argv) {
    th_init(argc, argv, "mmtrack_init");
    selsa_log_set(log_sink, NULL);
    char dir[] = "/tmp/selsa_mminit_XXXXXX";
    if (!mkdtemp(dir)) {
        TH_CHECK(0, "mkdtemp failed");
        return th_finish();
    }
    test_scratch(false);
    test_scratch(true);
    test_torch_reference(false);
    test_torch_reference(true);
    test_imagenet_file("mmtrack_init_tv_tiny.pth", false, "", true);
    test_imagenet_file("mmtrack_init_tv_tiny_module.pth", false, "module.", true);
    test_imagenet_file("mmtrack_init_tv_tinyx_sd.pth", true, "backbone.", true);
    test_imagenet_file("mmtrack_init_tv_tiny_old.pth", false, "", false);
    test_errors();
    test_pth_and_training(dir);
    test_cli(dir);
    th_remove_tree(dir);
    return th_finish();
}
