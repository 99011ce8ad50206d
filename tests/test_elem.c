/* Elementwise / pooling / loss / optimiser group: parity with PyTorch and NumPy references
 * (tests/ref/gen_elem.py → elem.slfx), finite-difference checks of every backward, in-place
 * forwards, empty inputs, thread-count determinism and argument errors. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "harness.h"
#include "selsa/context.h"
#include "selsa/ops_elem.h"

static selsa_ctx ctx;
static th_fixture *fx;

/* ---- small helpers -------------------------------------------------------------------------- */

static float *fdup(const float *src, int64_t n) {
    float *d = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (src) memcpy(d, src, (size_t)n * sizeof(float));
    return d;
}
static float *fzeros(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

/* got (float) against a float64 reference. */
static bool close64(const char *what, const float *got, const double *want, int64_t n, double atol,
                    double rtol) {
    if (!want) return TH_CHECK(0, "%s: reference missing", what);
    if (getenv("ELEM_MEASURE")) atol = rtol = 0; /* prints the measured max abs/rel errors */
    double *g = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    for (int64_t i = 0; i < n; i++) g[i] = got[i];
    bool ok = th_allclose_f64(what, g, want, n, atol, rtol);
    free(g);
    return ok;
}

static bool close_scalar(const char *what, double got, double want, double atol, double rtol) {
    return TH_CHECK(fabs(got - want) <= atol + rtol * fabs(want), "%s: got %.10g want %.10g", what,
                    got, want);
}


/* Compare an analytic gradient with finite differences at `samples` coordinates chosen by a
 * deterministic RNG. */
static void fd_check(const char *what, th_scalar_fn f, void *user, float *x, const float *grad,
                     int64_t n, int samples, double eps, double atol, double rtol) {
    selsa_rng r;
    selsa_rng_seed(&r, 99, (uint64_t)n);
    int bad = 0;
    double worst = 0;
    for (int s = 0; s < samples && n > 0; s++) {
        int64_t i = (int64_t)selsa_rng_below(&r, (uint32_t)n);
        double fd = th_fd_derivative(f, user, &x[i], eps);
        double err = fabs(fd - grad[i]);
        if (err > worst) worst = err;
        if (err > atol + rtol * fabs(fd)) {
            if (bad++ < 3)
                printf("  %s: FD mismatch at %lld: analytic %.8g fd %.8g\n", what, (long long)i,
                       (double)grad[i], fd);
        }
    }
    TH_CHECK(bad == 0, "%s: %d of %d FD samples mismatch (worst abs err %.3g)", what, bad, samples,
             worst);
}

/* ---- ReLU / add / affine ------------------------------------------------------------------ */

typedef struct {
    int op; /* 0 relu, 1 add+relu (wrt a), 2 affine+relu, 3 softmax, 4 sigmoid, 5 maxpool */
    selsa_tensor x, x2, y;
    const float *g, *scale, *shift;
    selsa_pool2d_params pp;
} unary_fd;

static double unary_L(void *u) {
    unary_fd *c = u;
    switch (c->op) {
    case 0: selsa_relu_forward(&ctx, &c->y, &c->x); break;
    case 1: selsa_add_forward(&ctx, &c->y, &c->x, &c->x2, SELSA_ACT_RELU); break;
    case 2: selsa_affine_channel_forward(&ctx, &c->y, &c->x, c->scale, c->shift, SELSA_ACT_RELU); break;
    case 3: selsa_softmax_channel_forward(&ctx, &c->y, &c->x); break;
    case 4: selsa_sigmoid_forward(&ctx, &c->y, &c->x); break;
    case 5: selsa_maxpool2d_forward(&ctx, &c->y, NULL, &c->x, &c->pp); break;
    }
    /* an empty MXNet 'full' window gives -FLT_MAX and carries no gradient: leave it out */
    double s = 0;
    for (int64_t i = 0; i < selsa_tensor_numel(&c->y); i++)
        if (c->y.data[i] != -FLT_MAX) s += (double)c->g[i] * c->y.data[i];
    return s;
}

static void test_relu_add_affine(void) {
    int64_t d[8];
    th_fx_shape(fx, "relu_x", d);
    const int64_t n = th_fx_numel(fx, "relu_x");
    float *x = fdup(th_fx_f32(fx, "relu_x"), n), *y = fzeros(n), *dx = fzeros(n);
    const float *g = th_fx_f32(fx, "relu_g");
    selsa_tensor X = selsa_tensor_view(x, d[0], d[1], d[2], d[3]);
    selsa_tensor Y = selsa_tensor_view(y, d[0], d[1], d[2], d[3]);
    selsa_tensor G = selsa_tensor_view((float *)g, d[0], d[1], d[2], d[3]);
    selsa_tensor DX = selsa_tensor_view(dx, d[0], d[1], d[2], d[3]);
    TH_OK(selsa_relu_forward(&ctx, &Y, &X));
    close64("relu forward", y, th_fx_f64(fx, "relu_y"), n, 0, 0); /* exact: max() */
    TH_OK(selsa_relu_backward(&ctx, &DX, &G, &Y));
    close64("relu backward", dx, th_fx_f64(fx, "relu_dx"), n, 0, 0); /* exact: a masked copy */
    /* accumulation: a second backward doubles the gradient */
    TH_OK(selsa_relu_backward(&ctx, &DX, &G, &Y));
    bool dbl = true;
    for (int64_t i = 0; i < n; i++) dbl &= dx[i] == 2 * (float)th_fx_f64(fx, "relu_dx")[i];
    TH_CHECK(dbl, "relu backward accumulates");
    /* in-place forward and the mask from the output */
    float *z = fdup(x, n);
    selsa_tensor Z = selsa_tensor_view(z, d[0], d[1], d[2], d[3]);
    TH_OK(selsa_relu_forward(&ctx, &Z, &Z));
    TH_CHECK(memcmp(z, y, (size_t)n * 4) == 0, "relu in-place == out-of-place");
    memset(dx, 0, (size_t)n * 4);
    TH_OK(selsa_relu_backward(&ctx, &DX, &G, &Z));
    close64("relu backward after in-place forward", dx, th_fx_f64(fx, "relu_dx"), n, 0, 0);
    /* FD (|x| >= 0.01 in the data, eps 4e-3 never crosses the kink) */
    unary_fd c = {.op = 0, .x = X, .y = Y, .g = g};
    memset(dx, 0, (size_t)n * 4);
    TH_OK(selsa_relu_backward(&ctx, &DX, &G, &Y));
    /* only the perturbed output's rounding enters the difference: ~1e-7/4e-3 */
    fd_check("relu FD", unary_L, &c, x, dx, n, 24, 4e-3, 1e-4, 1e-3);

    /* add with fused ReLU, out aliasing a */
    float *b = fzeros(n), *a = fdup(x, n);
    selsa_rng r;
    selsa_rng_seed(&r, 5, 1);
    th_fill_uniform(b, n, -1, 1, &r);
    for (int64_t i = 0; i < n; i++)
        if (fabsf(a[i] + b[i]) < 0.02f) b[i] += 0.05f; /* away from the kink */
    selsa_tensor A = selsa_tensor_view(a, d[0], d[1], d[2], d[3]);
    selsa_tensor B = selsa_tensor_view(b, d[0], d[1], d[2], d[3]);
    TH_OK(selsa_add_forward(&ctx, &Y, &A, &B, SELSA_ACT_NONE));
    bool ok = true;
    for (int64_t i = 0; i < n; i++) ok &= y[i] == a[i] + b[i];
    TH_CHECK(ok, "add forward");
    TH_OK(selsa_add_forward(&ctx, &Y, &A, &B, SELSA_ACT_RELU));
    float *a2 = fdup(a, n);
    selsa_tensor A2 = selsa_tensor_view(a2, d[0], d[1], d[2], d[3]);
    TH_OK(selsa_add_forward(&ctx, &A2, &A2, &B, SELSA_ACT_RELU));
    TH_CHECK(memcmp(a2, y, (size_t)n * 4) == 0, "add+relu in place (out aliases a)");
    float *da = fzeros(n), *db = fzeros(n);
    selsa_tensor DA = selsa_tensor_view(da, d[0], d[1], d[2], d[3]);
    selsa_tensor DB = selsa_tensor_view(db, d[0], d[1], d[2], d[3]);
    TH_OK(selsa_add_backward(&ctx, &DA, &DB, &G, &Y));
    ok = memcmp(da, db, (size_t)n * 4) == 0;
    for (int64_t i = 0; i < n; i++) ok &= da[i] == (y[i] > 0 ? g[i] : 0.0f);
    TH_CHECK(ok, "add backward with fused relu");
    unary_fd ca = {.op = 1, .x = A, .x2 = B, .y = Y, .g = g};
    fd_check("add+relu FD", unary_L, &ca, a, da, n, 24, 4e-3, 1e-4, 1e-3);
    memset(da, 0, (size_t)n * 4);
    TH_OK(selsa_accumulate(&ctx, &DA, &G, 0.5f));
    TH_OK(selsa_accumulate(&ctx, &DA, &G, 1.0f));
    ok = true;
    for (int64_t i = 0; i < n; i++) ok &= da[i] == 0.5f * g[i] + g[i];
    TH_CHECK(ok, "accumulate");
    TH_FAILS(selsa_accumulate(&ctx, &DA, &DA, 1.0f), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_relu_backward(&ctx, &DX, &DX, &Y), SELSA_ERR_INVALID_ARG);
    selsa_tensor bad = selsa_tensor_view(b, d[0], d[1], d[2] - 1, d[3]);
    TH_FAILS(selsa_add_forward(&ctx, &Y, &A, &bad, SELSA_ACT_NONE), SELSA_ERR_SHAPE);
    TH_CHECK(strstr(selsa_last_error(), "add_forward b") != NULL, "message names b: %s",
             selsa_last_error());
    TH_FAILS(selsa_add_forward(&ctx, &Y, &A, &B, (selsa_activation)7), SELSA_ERR_INVALID_ARG);

    /* per-channel affine with fused ReLU */
    const int64_t C = d[1];
    float *sc = fzeros(C), *sh = fzeros(C);
    for (int64_t c = 0; c < C; c++) sc[c] = 0.5f + 0.3f * (float)c, sh[c] = 0.1f * (float)c - 0.1f;
    TH_OK(selsa_affine_channel_forward(&ctx, &Y, &X, sc, sh, SELSA_ACT_RELU));
    ok = true;
    for (int64_t i = 0; i < n; i++) {
        int64_t c = (i / (d[2] * d[3])) % C;
        float v = x[i] * sc[c] + sh[c];
        ok &= y[i] == (v > 0 ? v : 0.0f);
    }
    TH_CHECK(ok, "affine forward");
    float *x3 = fdup(x, n);
    selsa_tensor X3 = selsa_tensor_view(x3, d[0], d[1], d[2], d[3]);
    TH_OK(selsa_affine_channel_forward(&ctx, &X3, &X3, sc, sh, SELSA_ACT_RELU));
    TH_CHECK(memcmp(x3, y, (size_t)n * 4) == 0, "affine in place");
    /* FD away from the ReLU kink: move inputs whose pre-activation is near 0 */
    for (int64_t i = 0; i < n; i++) {
        int64_t c = (i / (d[2] * d[3])) % C;
        if (fabsf(x[i] * sc[c] + sh[c]) < 0.02f) x[i] += 0.1f;
    }
    TH_OK(selsa_affine_channel_forward(&ctx, &Y, &X, sc, sh, SELSA_ACT_RELU));
    memset(dx, 0, (size_t)n * 4);
    TH_OK(selsa_affine_channel_backward(&ctx, &DX, &G, &Y, sc));
    unary_fd cf = {.op = 2, .x = X, .y = Y, .g = g, .scale = sc, .shift = sh};
    fd_check("affine+relu FD", unary_L, &cf, x, dx, n, 24, 4e-3, 1e-4, 1e-3);
    memset(dx, 0, (size_t)n * 4);
    TH_OK(selsa_affine_channel_backward(&ctx, &DX, &G, NULL, sc));
    ok = true;
    for (int64_t i = 0; i < n; i++) ok &= dx[i] == g[i] * sc[(i / (d[2] * d[3])) % C];
    TH_CHECK(ok, "affine backward without activation");
    TH_FAILS(selsa_affine_channel_forward(&ctx, &Y, &X, NULL, sh, SELSA_ACT_NONE),
             SELSA_ERR_INVALID_ARG);

    free(x), free(y), free(dx), free(z), free(a), free(b), free(a2), free(da), free(db);
    free(sc), free(sh), free(x3);
}

/* ---- frozen BN ---------------------------------------------------------------------------- */

static void test_bn(void) {
    const int64_t C = th_fx_numel(fx, "bn_gamma");
    const float *gamma = th_fx_f32(fx, "bn_gamma"), *beta = th_fx_f32(fx, "bn_beta");
    const float *mean = th_fx_f32(fx, "bn_mean"), *var = th_fx_f32(fx, "bn_var");
    float *sc = fzeros(C), *sh = fzeros(C);
    TH_OK(selsa_bn_frozen_affine(gamma, beta, mean, var, C, 1e-5, "bn_test", sc, sh));
    /* one float rounding of a double result: 2^-24 relative */
    close64("bn scale", sc, th_fx_f64(fx, "bn_scale"), C, 0, 1.2e-7);
    close64("bn shift", sh, th_fx_f64(fx, "bn_shift"), C, 1e-7, 1.2e-7);
    int64_t d[8];
    th_fx_shape(fx, "bn_x", d);
    int64_t n = th_fx_numel(fx, "bn_x");
    float *x = fdup(th_fx_f32(fx, "bn_x"), n), *y = fzeros(n);
    selsa_tensor X = selsa_tensor_view(x, d[0], d[1], d[2], d[3]);
    selsa_tensor Y = selsa_tensor_view(y, d[0], d[1], d[2], d[3]);
    TH_OK(selsa_affine_channel_forward(&ctx, &Y, &X, sc, sh, SELSA_ACT_NONE));
    /* fp32 x·s + t with |s| up to ~300 (var 0): a few ulps of |x·s| ≈ 1e3 → 1e-4 abs */
    close64("affine == torch batch_norm(eval)", y, th_fx_f64(fx, "bn_y"), n, 2e-4, 2e-6);

    /* folding into a conv: without a bias, and with a bias folded in place */
    int64_t wd[8];
    th_fx_shape(fx, "bn_wconv", wd);
    int64_t wn = th_fx_numel(fx, "bn_wconv");
    float *w = fdup(th_fx_f32(fx, "bn_wconv"), wn), *bias = fzeros(C);
    selsa_tensor W = selsa_tensor_view(w, wd[0], wd[1], wd[2], wd[3]);
    TH_OK(selsa_bn_fold_into_conv(&W, NULL, gamma, beta, mean, var, 1e-5, "bn_test", bias));
    close64("folded weight", w, th_fx_f64(fx, "bn_wfold"), wn, 0, 1.2e-7);
    close64("folded bias (no conv bias)", bias, th_fx_f64(fx, "bn_bfold_nobias"), C, 1e-6, 1.2e-7);
    memcpy(w, th_fx_f32(fx, "bn_wconv"), (size_t)wn * 4);
    memcpy(bias, th_fx_f32(fx, "bn_bconv"), (size_t)C * 4);
    TH_OK(selsa_bn_fold_into_conv(&W, bias, gamma, beta, mean, var, 1e-5, "bn_test", bias));
    close64("folded bias (conv bias, in place)", bias, th_fx_f64(fx, "bn_bfold_bias"), C, 1e-6,
            1.2e-7);

    /* errors name the layer and the channel; nothing is written on error */
    float *bvar = fdup(var, C);
    bvar[3] = -1.0f;
    float keep = sc[0];
    TH_FAILS(selsa_bn_frozen_affine(gamma, beta, mean, bvar, C, 1e-5, "bn2a_branch1", sc, sh),
             SELSA_ERR_NUMERIC);
    TH_CHECK(strstr(selsa_last_error(), "bn2a_branch1") && strstr(selsa_last_error(), "channel 3"),
             "message names layer and channel: %s", selsa_last_error());
    TH_CHECK(sc[0] == keep, "nothing written on error");
    float *bg = fdup(gamma, C);
    bg[2] = NAN;
    memcpy(w, th_fx_f32(fx, "bn_wconv"), (size_t)wn * 4);
    TH_FAILS(selsa_bn_fold_into_conv(&W, NULL, bg, beta, mean, var, 1e-5, "bn_conv1", bias),
             SELSA_ERR_NUMERIC);
    TH_CHECK(strstr(selsa_last_error(), "channel 2") != NULL, "NaN gamma channel named: %s",
             selsa_last_error());
    TH_CHECK(memcmp(w, th_fx_f32(fx, "bn_wconv"), (size_t)wn * 4) == 0, "weights untouched on error");
    TH_FAILS(selsa_bn_fold_into_conv(&W, NULL, gamma, beta, mean, var, 1e-5, "x", NULL),
             SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_bn_frozen_affine(gamma, beta, mean, var, C, -1.0, "x", sc, sh),
             SELSA_ERR_INVALID_ARG);
    free(sc), free(sh), free(x), free(y), free(w), free(bias), free(bvar), free(bg);
}

/* ---- max-pool --------------------------------------------------------------------------- */

static void test_pool_sizes(void) {
    /* official pool1 (spec §2.2): 281×500 → 141×250 with k3 s2 p1 'valid' */
    TH_CHECK(selsa_pool2d_out_size(281, 3, 2, 1, SELSA_POOL_MXNET_VALID) == 141, "pool1 h");
    TH_CHECK(selsa_pool2d_out_size(500, 3, 2, 1, SELSA_POOL_MXNET_VALID) == 250, "pool1 w");
    TH_CHECK(selsa_pool2d_out_size(10, 3, 2, 0, SELSA_POOL_MXNET_VALID) == 4, "valid floor");
    TH_CHECK(selsa_pool2d_out_size(10, 3, 2, 0, SELSA_POOL_MXNET_FULL) == 5, "full ceil");
    TH_CHECK(selsa_pool2d_out_size(10, 3, 2, 0, SELSA_POOL_TORCH_CEIL) == 5, "torch ceil");
    /* ceil-mode drop rule: in 5, k2 s2 p1: ceil gives 4 but window 3 would start at 6 >= 5+1 */
    TH_CHECK(selsa_pool2d_out_size(5, 2, 2, 1, SELSA_POOL_TORCH_CEIL) == 3, "torch ceil drop");
    TH_CHECK(selsa_pool2d_out_size(5, 2, 2, 1, SELSA_POOL_MXNET_FULL) == 4, "mxnet full keeps it");
    TH_CHECK(selsa_pool2d_out_size(5, 2, 2, 1, SELSA_POOL_TORCH_FLOOR) == 3, "torch floor");
    TH_CHECK(selsa_pool2d_out_size(2, 3, 1, 0, SELSA_POOL_MXNET_VALID) == -1, "input < kernel");
    TH_CHECK(selsa_pool2d_out_size(5, 2, 1, 2, SELSA_POOL_MXNET_VALID) == -1, "pad >= kernel");
    TH_CHECK(selsa_pool2d_out_size(5, 3, 1, 2, SELSA_POOL_TORCH_FLOOR) == -1, "torch pad > k/2");
    TH_CHECK(selsa_pool2d_out_size(5, 3, 0, 1, SELSA_POOL_MXNET_VALID) == -1, "stride 0");
}

static void test_pool(void) {
    int cases = (int)th_fx_scalar(fx, "pool_count");
    TH_CHECK(cases > 0, "pool cases present");
    char nm[64];
    for (int k = 0; k < cases; k++) {
        snprintf(nm, sizeof nm, "pool%d_p", k);
        const int64_t *p = th_fx_i64(fx, nm);
        if (!p) continue;
        selsa_pool2d_params pp = {(int)p[4], (int)p[5], (int)p[6], (int)p[7], (int)p[8], (int)p[9],
                                  (selsa_pool_convention)p[10]};
        int64_t OH, OW;
        TH_OK(selsa_maxpool2d_out_shape(p[2], p[3], &pp, &OH, &OW));
        snprintf(nm, sizeof nm, "pool%d_y", k);
        int64_t yd[8];
        th_fx_shape(fx, nm, yd);
        TH_CHECK(OH == yd[2] && OW == yd[3], "pool%d out %lldx%lld want %lldx%lld", k,
                 (long long)OH, (long long)OW, (long long)yd[2], (long long)yd[3]);
        int64_t n = p[0] * p[1] * p[2] * p[3], m = p[0] * p[1] * OH * OW;
        snprintf(nm, sizeof nm, "pool%d_x", k);
        float *x = fdup(th_fx_f32(fx, nm), n), *y = fzeros(m), *dx = fzeros(n);
        int32_t *am = calloc((size_t)m, 4);
        selsa_tensor X = selsa_tensor_view(x, p[0], p[1], p[2], p[3]);
        selsa_tensor Y = selsa_tensor_view(y, p[0], p[1], OH, OW);
        selsa_tensor DX = selsa_tensor_view(dx, p[0], p[1], p[2], p[3]);
        snprintf(nm, sizeof nm, "pool%d_g", k);
        const float *g = th_fx_f32(fx, nm);
        selsa_tensor G = selsa_tensor_view((float *)g, p[0], p[1], OH, OW);
        TH_OK(selsa_maxpool2d_forward(&ctx, &Y, am, &X, &pp));
        char what[64];
        snprintf(what, sizeof what, "pool%d (conv %d) forward", k, (int)p[10]);
        snprintf(nm, sizeof nm, "pool%d_y", k);
        th_allclose(what, y, th_fx_f32(fx, nm), m, 0, 0); /* exact: a selection */
        snprintf(nm, sizeof nm, "pool%d_am", k);
        const int32_t *want_am = th_fx_i32(fx, nm);
        TH_CHECK(want_am && memcmp(am, want_am, (size_t)m * 4) == 0, "pool%d argmax", k);
        TH_OK(selsa_maxpool2d_backward(&ctx, &DX, &G, am));
        snprintf(what, sizeof what, "pool%d backward", k);
        snprintf(nm, sizeof nm, "pool%d_dx", k);
        /* sums of <= k² float gradients in a fixed order vs float64: a few ulps */
        close64(what, dx, th_fx_f64(fx, nm), n, 1e-6, 1e-6);
        /* FD: values are distinct multiples of 1/7, eps 1e-2 never reorders a window */
        unary_fd c = {.op = 5, .x = X, .y = Y, .g = g, .pp = pp};
        snprintf(what, sizeof what, "pool%d FD", k);
        fd_check(what, unary_L, &c, x, dx, n, 16, 1e-2, 1e-4, 1e-3);
        if (k == 6) { /* MXNet 'full' with an empty window: lowest float, argmax -1 */
            bool has_empty = false;
            for (int64_t i = 0; i < m; i++)
                has_empty |= am[i] == -1 && y[i] == -FLT_MAX;
            TH_CHECK(has_empty, "pool6 has an empty window giving -FLT_MAX and argmax -1");
        }
        free(x), free(y), free(dx), free(am);
    }

    /* ties: the first maximum in row-major window order wins */
    float tx[16] = {1, 5, 5, 0, 5, 2, 3, 3, 0, 0, 0, 0, 7, 7, 7, 7};
    float ty[4];
    int32_t tam[4];
    selsa_tensor TX = selsa_tensor_view(tx, 1, 1, 4, 4), TY = selsa_tensor_view(ty, 1, 1, 2, 2);
    selsa_pool2d_params p2 = {2, 2, 2, 2, 0, 0, SELSA_POOL_TORCH_FLOOR};
    TH_OK(selsa_maxpool2d_forward(&ctx, &TY, tam, &TX, &p2));
    TH_CHECK(tam[0] == 1 && tam[1] == 2 && tam[2] == 12 && tam[3] == 14, "tie argmax %d %d %d %d",
             tam[0], tam[1], tam[2], tam[3]);

    /* all-negative window next to the padding: padding never contributes (not 0) */
    float nx[4] = {-3, -2, -5, -4}, ny[4];
    selsa_tensor NX = selsa_tensor_view(nx, 1, 1, 2, 2), NY = selsa_tensor_view(ny, 1, 1, 2, 2);
    selsa_pool2d_params p3 = {3, 3, 1, 1, 1, 1, SELSA_POOL_MXNET_VALID};
    TH_OK(selsa_maxpool2d_forward(&ctx, &NY, NULL, &NX, &p3));
    TH_CHECK(ny[0] == -2 && ny[3] == -2, "padding does not contribute: %g %g", ny[0], ny[3]);

    /* N = 0 */
    selsa_tensor E = selsa_tensor_view(NULL, 0, 3, 5, 5), EY = selsa_tensor_view(NULL, 0, 3, 3, 3);
    selsa_pool2d_params p4 = {3, 3, 2, 2, 1, 1, SELSA_POOL_MXNET_VALID};
    TH_OK(selsa_maxpool2d_forward(&ctx, &EY, NULL, &E, &p4));
    TH_OK(selsa_maxpool2d_backward(&ctx, &E, &EY, NULL));

    /* bad arguments */
    float bx[25], by[25];
    int32_t bam[25];
    selsa_tensor BX = selsa_tensor_view(bx, 1, 1, 5, 5), BY = selsa_tensor_view(by, 1, 1, 3, 3);
    memset(bx, 0, sizeof bx);
    selsa_pool2d_params bp = {2, 2, 2, 2, 2, 2, SELSA_POOL_MXNET_VALID};
    TH_FAILS(selsa_maxpool2d_forward(&ctx, &BY, bam, &BX, &bp), SELSA_ERR_INVALID_ARG);
    TH_CHECK(strstr(selsa_last_error(), "pad") != NULL, "pad message: %s", selsa_last_error());
    bp = (selsa_pool2d_params){3, 3, 2, 2, 2, 2, SELSA_POOL_TORCH_CEIL};
    TH_FAILS(selsa_maxpool2d_forward(&ctx, &BY, bam, &BX, &bp), SELSA_ERR_INVALID_ARG);
    bp = (selsa_pool2d_params){3, 3, 0, 2, 1, 1, SELSA_POOL_MXNET_VALID};
    TH_FAILS(selsa_maxpool2d_forward(&ctx, &BY, bam, &BX, &bp), SELSA_ERR_INVALID_ARG);
    bp = (selsa_pool2d_params){3, 3, 2, 2, 1, 1, (selsa_pool_convention)9};
    TH_FAILS(selsa_maxpool2d_forward(&ctx, &BY, bam, &BX, &bp), SELSA_ERR_INVALID_ARG);
    bp = (selsa_pool2d_params){3, 3, 2, 2, 1, 1, SELSA_POOL_MXNET_FULL}; /* out would be 3x3 */
    selsa_tensor BY2 = selsa_tensor_view(by, 1, 1, 2, 3);
    TH_FAILS(selsa_maxpool2d_forward(&ctx, &BY2, bam, &BX, &bp), SELSA_ERR_SHAPE);
    bp = (selsa_pool2d_params){7, 7, 1, 1, 0, 0, SELSA_POOL_MXNET_VALID};
    TH_FAILS(selsa_maxpool2d_forward(&ctx, &BY, bam, &BX, &bp), SELSA_ERR_SHAPE);
    TH_FAILS(selsa_maxpool2d_backward(&ctx, &BX, &BY, NULL), SELSA_ERR_INVALID_ARG);
    for (int i = 0; i < 9; i++) bam[i] = 0;
    bam[4] = 25;
    TH_FAILS(selsa_maxpool2d_backward(&ctx, &BX, &BY, bam), SELSA_ERR_INVALID_ARG);
}

/* ---- softmax / sigmoid ----------------------------------------------------------------------- */

static void test_softmax_sigmoid(void) {
    const char *names[2] = {"smx", "sig"};
    for (int k = 0; k < 2; k++) {
        char nm[32];
        int64_t d[8];
        snprintf(nm, sizeof nm, "%s_x", names[k]);
        th_fx_shape(fx, nm, d);
        int64_t n = th_fx_numel(fx, nm);
        float *x = fdup(th_fx_f32(fx, nm), n), *y = fzeros(n), *dx = fzeros(n);
        snprintf(nm, sizeof nm, "%s_g", names[k]);
        const float *g = th_fx_f32(fx, nm);
        selsa_tensor X = selsa_tensor_view(x, d[0], d[1], d[2], d[3]);
        selsa_tensor Y = selsa_tensor_view(y, d[0], d[1], d[2], d[3]);
        selsa_tensor G = selsa_tensor_view((float *)g, d[0], d[1], d[2], d[3]);
        selsa_tensor DX = selsa_tensor_view(dx, d[0], d[1], d[2], d[3]);
        if (k == 0) {
            TH_OK(selsa_softmax_channel_forward(&ctx, &Y, &X));
            TH_OK(selsa_softmax_channel_backward(&ctx, &DX, &G, &Y));
        } else {
            TH_OK(selsa_sigmoid_forward(&ctx, &Y, &X));
            TH_OK(selsa_sigmoid_backward(&ctx, &DX, &G, &Y));
        }
        snprintf(nm, sizeof nm, "%s_y", names[k]);
        /* a float rounding of a double-accurate result (softmax) or expf (sigmoid, ~2 ulp) */
        close64(k ? "sigmoid forward" : "softmax forward", y, th_fx_f64(fx, nm), n, 1e-30, 4e-7);
        snprintf(nm, sizeof nm, "%s_dx", names[k]);
        /* products of fp32 outputs (rel 4e-7) with g in [-1,1]; cancellation in g − Σg·y */
        close64(k ? "sigmoid backward" : "softmax backward", dx, th_fx_f64(fx, nm), n, 1e-7, 2e-6);
        for (int64_t i = 0; i < n; i++) TH_CHECK(isfinite(y[i]), "finite output at %lld", (long long)i);
        float *z = fdup(x, n);
        selsa_tensor Z = selsa_tensor_view(z, d[0], d[1], d[2], d[3]);
        if (k == 0) TH_OK(selsa_softmax_channel_forward(&ctx, &Z, &Z));
        else TH_OK(selsa_sigmoid_forward(&ctx, &Z, &Z));
        TH_CHECK(memcmp(z, y, (size_t)n * 4) == 0, "%s in place", names[k]);
        /* FD: smooth; saturated entries have ~0 gradient and fd ~0 */
        unary_fd c = {.op = k ? 4 : 3, .x = X, .y = Y, .g = g};
        fd_check(k ? "sigmoid FD" : "softmax FD", unary_L, &c, x, dx, n, 24, 1e-2, 2e-5, 2e-3);
        free(x), free(y), free(dx), free(z);
    }
    selsa_tensor E = selsa_tensor_view(NULL, 0, 4, 3, 3);
    TH_OK(selsa_softmax_channel_forward(&ctx, &E, &E));
    TH_OK(selsa_sigmoid_forward(&ctx, &E, &E));
}

/* ---- softmax cross-entropy ------------------------------------------------------------------ */

typedef struct {
    selsa_tensor x;
    const int32_t *lab;
    selsa_softmax_ce_params p;
} ce_fd;

static double ce_L(void *u) {
    ce_fd *c = u;
    double l = 0;
    selsa_softmax_ce_forward(&ctx, &c->x, c->lab, &c->p, NULL, NULL, &l);
    return l;
}

static void test_softmax_ce(void) {
    int cases = (int)th_fx_scalar(fx, "ce_count");
    const char *norms[3] = {"none", "batch", "valid"};
    char nm[64];
    for (int k = 0; k < cases; k++) {
        snprintf(nm, sizeof nm, "ce%d_p", k);
        const int64_t *d = th_fx_i64(fx, nm);
        if (!d) continue;
        int64_t n = d[0] * d[1] * d[2] * d[3], P = d[0] * d[2] * d[3];
        snprintf(nm, sizeof nm, "ce%d_x", k);
        float *x = fdup(th_fx_f32(fx, nm), n), *prob = fzeros(n), *dx = fzeros(n), *pos = fzeros(P);
        snprintf(nm, sizeof nm, "ce%d_lab", k);
        const int32_t *lab = th_fx_i32(fx, nm);
        snprintf(nm, sizeof nm, "ce%d_gs", k);
        float gs = (float)th_fx_scalar(fx, nm);
        selsa_tensor X = selsa_tensor_view(x, d[0], d[1], d[2], d[3]);
        selsa_tensor PR = selsa_tensor_view(prob, d[0], d[1], d[2], d[3]);
        selsa_tensor DX = selsa_tensor_view(dx, d[0], d[1], d[2], d[3]);
        for (int q = 0; q < 3; q++) {
            selsa_softmax_ce_params p = {1, -1, (selsa_loss_norm)q, gs};
            double loss = -1;
            memset(dx, 0, (size_t)n * 4);
            TH_OK(selsa_softmax_ce_forward(&ctx, &X, lab, &p, &PR, pos, &loss));
            TH_OK(selsa_softmax_ce_backward(&ctx, &DX, &PR, lab, &p));
            char what[64];
            snprintf(nm, sizeof nm, "ce%d_loss_%s", k, norms[q]);
            snprintf(what, sizeof what, "ce%d loss %s", k, norms[q]);
            /* both sides in double from the same float logits: only summation order differs */
            close_scalar(what, loss, th_fx_scalar(fx, nm), 1e-12, 1e-10);
            snprintf(nm, sizeof nm, "ce%d_dx_%s", k, norms[q]);
            snprintf(what, sizeof what, "ce%d grad %s", k, norms[q]);
            /* fp32 prob (rel 1.2e-7) minus onehot, times a float scale: ~2 ulps of the scale */
            close64(what, dx, th_fx_f64(fx, nm), n, 3e-7 * gs, 1e-6);
            snprintf(what, sizeof what, "ce%d FD %s", k, norms[q]);
            ce_fd c = {X, lab, p};
            /* the loss is evaluated in double; fp32 rounding of the perturbed logit dominates */
            fd_check(what, ce_L, &c, x, dx, n, 16, 1e-2, 2e-6 * gs + 1e-7, 1e-4);
        }
        snprintf(nm, sizeof nm, "ce%d_prob", k);
        close64("ce prob", prob, th_fx_f64(fx, nm), n, 1e-30, 3e-7);
        snprintf(nm, sizeof nm, "ce%d_pos", k);
        close64("ce per-position loss", pos, th_fx_f64(fx, nm), P, 1e-7, 2e-7); /* float rounding */
        /* prob aliasing the logits (in-place softmax) gives the same loss and probabilities */
        selsa_softmax_ce_params pv = {1, -1, SELSA_NORM_VALID, gs};
        double l1 = 0, l2 = 0;
        TH_OK(selsa_softmax_ce_forward(&ctx, &X, lab, &pv, NULL, NULL, &l1));
        float *xi = fdup(x, n);
        selsa_tensor XI = selsa_tensor_view(xi, d[0], d[1], d[2], d[3]);
        TH_OK(selsa_softmax_ce_forward(&ctx, &XI, lab, &pv, &XI, NULL, &l2));
        TH_CHECK(l1 == l2 && memcmp(xi, prob, (size_t)n * 4) == 0, "ce in place (prob = logits)");
        free(x), free(prob), free(dx), free(pos), free(xi);
    }

    /* all labels ignored: loss 0, gradient 0 for every normalisation (valid → max(0,1) = 1) */
    float x[2 * 3 * 2] = {1, 2, 3, 4, 5, 6, -1, -2, -3, 0, 0, 0};
    int32_t lab[4] = {-1, -1, -1, -1};
    float dx[12] = {0}, prob[12], pos[4] = {9, 9, 9, 9};
    selsa_tensor X = selsa_tensor_view(x, 2, 3, 2, 1), PR = selsa_tensor_view(prob, 2, 3, 2, 1);
    selsa_tensor DX = selsa_tensor_view(dx, 2, 3, 2, 1);
    for (int q = 0; q < 3; q++) {
        selsa_softmax_ce_params p = {1, -1, (selsa_loss_norm)q, 1.0f};
        double loss = 7;
        TH_OK(selsa_softmax_ce_forward(&ctx, &X, lab, &p, &PR, pos, &loss));
        TH_OK(selsa_softmax_ce_backward(&ctx, &DX, &PR, lab, &p));
        bool zero = loss == 0;
        for (int i = 0; i < 12; i++) zero &= dx[i] == 0;
        for (int i = 0; i < 4; i++) zero &= pos[i] == 0;
        TH_CHECK(zero, "all ignored (norm %d): zero loss and gradient", q);
    }
    /* N = 0 */
    selsa_tensor E = selsa_tensor_view(NULL, 0, 3, 2, 1);
    selsa_softmax_ce_params pv = {1, -1, SELSA_NORM_VALID, 1.0f};
    double loss = 5;
    TH_OK(selsa_softmax_ce_forward(&ctx, &E, NULL, &pv, &E, NULL, &loss));
    TH_CHECK(loss == 0, "empty CE loss 0");
    TH_OK(selsa_softmax_ce_backward(&ctx, &E, &E, NULL, &pv));
    /* bad labels */
    int32_t bl[4] = {0, 2, 3, -1};
    TH_FAILS(selsa_softmax_ce_forward(&ctx, &X, bl, &pv, &PR, NULL, &loss), SELSA_ERR_INVALID_ARG);
    TH_CHECK(strstr(selsa_last_error(), "position 2") != NULL, "names the position: %s",
             selsa_last_error());
    int32_t bl2[4] = {0, 1, 2, -1};
    selsa_softmax_ce_params pn = {0, -1, SELSA_NORM_VALID, 1.0f};
    TH_FAILS(selsa_softmax_ce_forward(&ctx, &X, bl2, &pn, &PR, NULL, &loss), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_softmax_ce_backward(&ctx, &DX, NULL, bl2, &pv), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_softmax_ce_forward(&ctx, &X, bl2, &pv, &PR, NULL, NULL), SELSA_ERR_INVALID_ARG);
    selsa_softmax_ce_params pb = {1, -1, (selsa_loss_norm)5, 1.0f};
    TH_FAILS(selsa_softmax_ce_forward(&ctx, &X, bl2, &pb, &PR, NULL, &loss), SELSA_ERR_INVALID_ARG);
    selsa_tensor PRbad = selsa_tensor_view(prob, 2, 2, 3, 1);
    TH_FAILS(selsa_softmax_ce_forward(&ctx, &X, bl2, &pv, &PRbad, NULL, &loss), SELSA_ERR_SHAPE);
}

/* ---- sigmoid BCE ----------------------------------------------------------------------------- */

typedef struct {
    selsa_tensor x, t, w;
    int use_w;
    double scale;
    int sl1;
    selsa_smooth_l1_params sp;
} loss_fd;

static double loss_L(void *u) {
    loss_fd *c = u;
    double l = 0;
    if (c->sl1)
        selsa_smooth_l1_forward(&ctx, &c->x, &c->t, c->use_w ? &c->w : NULL, &c->sp, NULL, &l);
    else
        selsa_sigmoid_bce_forward(&ctx, &c->x, &c->t, c->use_w ? &c->w : NULL, c->scale, NULL, &l);
    return l;
}

static void test_bce(void) {
    int64_t d[8];
    th_fx_shape(fx, "bce_x", d);
    int64_t n = th_fx_numel(fx, "bce_x");
    float *x = fdup(th_fx_f32(fx, "bce_x"), n), *dx = fzeros(n), *el = fzeros(n);
    selsa_tensor X = selsa_tensor_view(x, d[0], d[1], d[2], d[3]);
    selsa_tensor T = selsa_tensor_view((float *)th_fx_f32(fx, "bce_t"), d[0], d[1], d[2], d[3]);
    selsa_tensor W = selsa_tensor_view((float *)th_fx_f32(fx, "bce_w"), d[0], d[1], d[2], d[3]);
    selsa_tensor DX = selsa_tensor_view(dx, d[0], d[1], d[2], d[3]);
    double scale = th_fx_scalar(fx, "bce_scale"), loss = 0;
    TH_OK(selsa_sigmoid_bce_forward(&ctx, &X, &T, &W, scale, el, &loss));
    /* double evaluation on both sides: summation order only */
    close_scalar("bce loss", loss, th_fx_scalar(fx, "bce_loss"), 1e-12, 1e-10);
    /* float rounding; torch's log(1 + e^-|x|) gives exactly 0 where e^-|x| < 1e-16 (x = ±60) */
    close64("bce elem loss", el, th_fx_f64(fx, "bce_elem"), n, 1e-20, 1.2e-7);
    TH_OK(selsa_sigmoid_bce_backward(&ctx, &DX, &X, &T, &W, scale));
    close64("bce grad", dx, th_fx_f64(fx, "bce_dx"), n, 1e-30, 1.2e-7); /* float rounding */
    loss_fd c = {.x = X, .t = T, .w = W, .use_w = 1, .scale = scale};
    fd_check("bce FD", loss_L, &c, x, dx, n, 24, 1e-2, 1e-8, 1e-4);
    memset(dx, 0, (size_t)n * 4);
    TH_OK(selsa_sigmoid_bce_forward(&ctx, &X, &T, NULL, scale, NULL, &loss));
    close_scalar("bce loss no weights", loss, th_fx_scalar(fx, "bce_loss_nw"), 1e-12, 1e-10);
    TH_OK(selsa_sigmoid_bce_backward(&ctx, &DX, &X, &T, NULL, scale));
    close64("bce grad no weights", dx, th_fx_f64(fx, "bce_dx_nw"), n, 1e-30, 1.2e-7);
    c.use_w = 0;
    fd_check("bce FD no weights", loss_L, &c, x, dx, n, 24, 1e-2, 1e-8, 1e-4);
    TH_FAILS(selsa_sigmoid_bce_forward(&ctx, &X, &T, NULL, INFINITY, NULL, &loss),
             SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_sigmoid_bce_backward(&ctx, &DX, &X, &T, NULL, NAN), SELSA_ERR_INVALID_ARG);
    selsa_tensor Tb = selsa_tensor_view(x, d[0], d[1] + 1, d[2], d[3]);
    TH_FAILS(selsa_sigmoid_bce_forward(&ctx, &X, &Tb, NULL, 1, NULL, &loss), SELSA_ERR_SHAPE);
    selsa_tensor E = selsa_tensor_view(NULL, 0, 12, 4, 5);
    loss = 3;
    TH_OK(selsa_sigmoid_bce_forward(&ctx, &E, &E, NULL, 1.0, NULL, &loss));
    TH_CHECK(loss == 0, "empty bce");
    free(x), free(dx), free(el);
}

/* ---- smooth-L1 ------------------------------------------------------------------------------ */

static void test_smooth_l1(void) {
    int cases = (int)th_fx_scalar(fx, "sl1_count");
    char nm[64];
    for (int k = 0; k < cases; k++) {
        snprintf(nm, sizeof nm, "sl1%d_p", k);
        const double *pp = th_fx_f64(fx, nm);
        if (!pp) continue;
        snprintf(nm, sizeof nm, "sl1%d_x", k);
        int64_t d[8];
        th_fx_shape(fx, nm, d);
        int64_t n = th_fx_numel(fx, nm);
        float *x = fdup(th_fx_f32(fx, nm), n), *dx = fzeros(n), *el = fzeros(n);
        selsa_tensor X = selsa_tensor_view(x, d[0], d[1], d[2], d[3]);
        snprintf(nm, sizeof nm, "sl1%d_t", k);
        selsa_tensor T = selsa_tensor_view((float *)th_fx_f32(fx, nm), d[0], d[1], d[2], d[3]);
        snprintf(nm, sizeof nm, "sl1%d_w", k);
        selsa_tensor W = selsa_tensor_view((float *)th_fx_f32(fx, nm), d[0], d[1], d[2], d[3]);
        selsa_tensor DX = selsa_tensor_view(dx, d[0], d[1], d[2], d[3]);
        selsa_smooth_l1_params p = {(selsa_smooth_l1_kind)(int)pp[0], (float)pp[1], (float)pp[2],
                                    pp[3]};
        double loss = 0;
        TH_OK(selsa_smooth_l1_forward(&ctx, &X, &T, &W, &p, el, &loss));
        TH_OK(selsa_smooth_l1_backward(&ctx, &DX, &X, &T, &W, &p));
        char what[64];
        snprintf(nm, sizeof nm, "sl1%d_loss", k);
        snprintf(what, sizeof what, "smooth_l1 case %d loss", k);
        /* both sides in double of the same fp32 difference (beta 1/9 rounded to float: 1e-8) */
        close_scalar(what, loss, th_fx_scalar(fx, nm), 1e-12, 1e-7);
        snprintf(nm, sizeof nm, "sl1%d_elem", k);
        snprintf(what, sizeof what, "smooth_l1 case %d elem", k);
        close64(what, el, th_fx_f64(fx, nm), n, 1e-30, 2e-7);
        snprintf(nm, sizeof nm, "sl1%d_dx", k);
        snprintf(what, sizeof what, "smooth_l1 case %d grad", k);
        close64(what, dx, th_fx_f64(fx, nm), n, 1e-30, 2e-7);
        /* FD: |x| is >= 2e-3 away from the switch point and from 0; eps 5e-4 stays on one piece */
        loss_fd c = {.x = X, .t = T, .w = W, .use_w = 1, .sl1 = 1, .sp = p};
        snprintf(what, sizeof what, "smooth_l1 case %d FD", k);
        fd_check(what, loss_L, &c, x, dx, n, 24, 5e-4, 1e-6 * fabs(p.scale) + 1e-9, 2e-3);
        free(x), free(dx), free(el);
    }
    float a[2] = {0, 0}, b[2] = {0, 0};
    double loss;
    selsa_tensor A = selsa_tensor_view(a, 1, 2, 1, 1), B = selsa_tensor_view(b, 1, 2, 1, 1);
    selsa_smooth_l1_params bad = {SELSA_SMOOTH_L1_MXNET, 0.0f, 0.0f, 1.0};
    TH_FAILS(selsa_smooth_l1_forward(&ctx, &A, &B, NULL, &bad, NULL, &loss), SELSA_ERR_INVALID_ARG);
    TH_CHECK(strstr(selsa_last_error(), "sigma") != NULL, "names sigma: %s", selsa_last_error());
    bad = (selsa_smooth_l1_params){SELSA_SMOOTH_L1_MMDET, 0.0f, -1.0f, 1.0};
    TH_FAILS(selsa_smooth_l1_forward(&ctx, &A, &B, NULL, &bad, NULL, &loss), SELSA_ERR_INVALID_ARG);
    bad = (selsa_smooth_l1_params){(selsa_smooth_l1_kind)3, 1.0f, 1.0f, 1.0};
    TH_FAILS(selsa_smooth_l1_backward(&ctx, &A, &A, &B, NULL, &bad), SELSA_ERR_INVALID_ARG);
    /* L1 (beta 0) at x = 0 has zero gradient, like torch.abs */
    selsa_smooth_l1_params l1 = {SELSA_SMOOTH_L1_MMDET, 0.0f, 0.0f, 1.0};
    float ga[2] = {0, 0};
    selsa_tensor GA = selsa_tensor_view(ga, 1, 2, 1, 1);
    TH_OK(selsa_smooth_l1_backward(&ctx, &GA, &A, &B, NULL, &l1));
    TH_CHECK(ga[0] == 0 && ga[1] == 0, "L1 gradient at 0 is 0");
}

/* ---- SGD ------------------------------------------------------------------------------------ */

static void test_sgd(void) {
    int64_t n = th_fx_numel(fx, "sgd_w0");
    const float *grads = th_fx_f32(fx, "sgd_grads");
    const double *lrs = th_fx_f64(fx, "sgd_lrs");
    int64_t steps = th_fx_numel(fx, "sgd_lrs");
    for (int kind = 0; kind < 2; kind++) {
        float *w = fdup(th_fx_f32(fx, "sgd_w0"), n), *mom = fzeros(n);
        /* MXNet buffer starts at zero; the PyTorch buffer content before step 1 is irrelevant */
        if (kind == 1)
            for (int64_t i = 0; i < n; i++) mom[i] = 123.0f;
        const double *traj = th_fx_f64(fx, kind == 0 ? "sgdm_traj" : "sgdt_traj");
        for (int64_t s = 0; s < steps; s++) {
            selsa_sgd_params p = {(float)lrs[s], 0.9f, kind == 0 ? 5e-4f : 1e-4f,
                                  kind == 0 ? 0.5f : 1.0f,
                                  kind == 0 ? SELSA_SGD_MXNET : SELSA_SGD_PYTORCH, s == 0};
            TH_OK(selsa_sgd_update(&ctx, w, grads + s * n, mom, n, &p));
            char what[64];
            snprintf(what, sizeof what, "sgd %s step %lld", kind ? "torch" : "mxnet", (long long)s);
            /* fp32 update arithmetic over <= 5 steps vs float64 (torch: fp32 too): |w|~1 → 1e-6 */
            close64(what, w, traj + s * n, n, 2e-6, 1e-6);
        }
        free(w), free(mom);
    }
    /* momentum 0 needs no buffer */
    float w[3] = {1, 2, 3}, g[3] = {1, 1, 1};
    selsa_sgd_params p0 = {0.1f, 0.0f, 0.0f, 1.0f, SELSA_SGD_PYTORCH, 0};
    TH_OK(selsa_sgd_update(&ctx, w, g, NULL, 3, &p0));
    TH_CHECK(fabsf(w[0] - 0.9f) < 1e-7f && fabsf(w[2] - 2.9f) < 1e-7f, "sgd without momentum");
    p0.kind = SELSA_SGD_MXNET;
    TH_OK(selsa_sgd_update(&ctx, w, g, NULL, 3, &p0));
    TH_CHECK(fabsf(w[0] - 0.8f) < 1e-6f, "mxnet sgd without momentum");
    selsa_sgd_params pb = {0.1f, 0.9f, 0.0f, 1.0f, SELSA_SGD_MXNET, 0};
    TH_FAILS(selsa_sgd_update(&ctx, w, g, NULL, 3, &pb), SELSA_ERR_INVALID_ARG);
    pb.momentum = 1.0f;
    TH_FAILS(selsa_sgd_update(&ctx, w, g, g + 0, 3, &pb), SELSA_ERR_INVALID_ARG);
    pb = (selsa_sgd_params){-1.0f, 0.0f, 0.0f, 1.0f, SELSA_SGD_MXNET, 0};
    TH_FAILS(selsa_sgd_update(&ctx, w, g, NULL, 3, &pb), SELSA_ERR_INVALID_ARG);
    pb = (selsa_sgd_params){0.1f, 0.0f, 0.0f, 1.0f, (selsa_sgd_kind)4, 0};
    TH_FAILS(selsa_sgd_update(&ctx, w, g, NULL, 3, &pb), SELSA_ERR_INVALID_ARG);
    TH_OK(selsa_sgd_update(&ctx, NULL, NULL, NULL, 0, &p0));

    double s = 0;
    TH_OK(selsa_grad_norm_sq(&ctx, grads, n, &s));
    close_scalar("grad norm²", s, th_fx_scalar(fx, "sgd_gnorm_sq"), 1e-12, 1e-12);
}

/* ---- determinism across thread counts and a larger problem ------------------------------------ */

static void test_determinism(void) {
    const int64_t n = 600000;
    float *x = fzeros(n), *t = fzeros(n);
    selsa_rng r;
    selsa_rng_seed(&r, 7, 7);
    th_fill_uniform(x, n, -4, 4, &r);
    for (int64_t i = 0; i < n; i++) t[i] = (float)(selsa_rng_u32(&r) & 1);
    selsa_tensor X = selsa_tensor_view(x, 1, 12, 250, 200), T = selsa_tensor_view(t, 1, 12, 250, 200);
    double l[2], gn[2], sl[2], ce[2];
    int32_t *lab = calloc(50000, 4);
    for (int i = 0; i < 50000; i++) lab[i] = (int32_t)(selsa_rng_below(&r, 13)) - 1;
    selsa_tensor XC = selsa_tensor_view(x, 1, 12, 250, 200);
    selsa_softmax_ce_params pv = {1, -1, SELSA_NORM_VALID, 1.0f};
    for (int k = 0; k < 2; k++) {
        selsa_ctx_set_threads(&ctx, k + 1);
        gn[k] = 0;
        TH_OK(selsa_sigmoid_bce_forward(&ctx, &X, &T, NULL, 1.0, NULL, &l[k]));
        TH_OK(selsa_grad_norm_sq(&ctx, x, n, &gn[k]));
        selsa_smooth_l1_params sp = {SELSA_SMOOTH_L1_MMDET, 0, 1.0f / 9, 1.0};
        TH_OK(selsa_smooth_l1_forward(&ctx, &X, &T, NULL, &sp, NULL, &sl[k]));
        TH_OK(selsa_softmax_ce_forward(&ctx, &XC, lab, &pv, NULL, NULL, &ce[k]));
    }
    TH_CHECK(l[0] == l[1] && gn[0] == gn[1] && sl[0] == sl[1] && ce[0] == ce[1],
             "reductions bit-identical for 1 and 2 threads");
    selsa_ctx_set_threads(&ctx, 0);
    free(x), free(t), free(lab);
}

/* ---- empty tensors, optional arguments ---------------------------------------------------- */

static void test_empty_and_misc(void) {
    selsa_tensor E = selsa_tensor_view(NULL, 0, 4, 3, 3);
    float sc[4] = {1, 1, 1, 1}, sh[4] = {0, 0, 0, 0};
    double loss = 1;
    TH_OK(selsa_relu_forward(&ctx, &E, &E));
    TH_OK(selsa_add_forward(&ctx, &E, &E, &E, SELSA_ACT_RELU));
    TH_OK(selsa_affine_channel_forward(&ctx, &E, &E, sc, sh, SELSA_ACT_RELU));
    selsa_smooth_l1_params sp = {SELSA_SMOOTH_L1_MXNET, 1.0f, 0.0f, 1.0};
    TH_OK(selsa_smooth_l1_forward(&ctx, &E, &E, NULL, &sp, NULL, &loss));
    TH_CHECK(loss == 0, "empty smooth-L1 loss 0");
    /* add backward into one branch only, without activation */
    float g[3] = {1, -2, 3}, da[3] = {1, 1, 1};
    selsa_tensor G = selsa_tensor_view(g, 1, 3, 1, 1), DA = selsa_tensor_view(da, 1, 3, 1, 1);
    TH_OK(selsa_add_backward(&ctx, &DA, NULL, &G, NULL));
    TH_CHECK(da[0] == 2 && da[1] == -1 && da[2] == 4, "add backward into da only");
    TH_FAILS(selsa_add_backward(&ctx, &DA, &DA, &G, NULL), SELSA_ERR_INVALID_ARG);
    /* a NULL context or a context without backend */
    TH_FAILS(selsa_relu_forward(NULL, &G, &G), SELSA_ERR_INVALID_ARG);
}

int main(int argc, char **argv) {
    th_init(argc, argv, "elem");
    if (selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, 1 << 20, 0) != SELSA_OK) {
        TH_CHECK(0, "ctx init: %s", selsa_last_error());
        return th_finish();
    }
    test_pool_sizes();
    fx = th_fixture_open(th_fixture_path("elem.slfx"));
    if (!fx) {
        TH_CHECK(0, "elem.slfx missing: run tests/ref/gen_elem.py <fixture dir>");
    } else {
        test_relu_add_affine();
        test_bn();
        test_pool();
        test_softmax_sigmoid();
        test_softmax_ce();
        test_bce();
        test_smooth_l1();
        test_sgd();
        th_fixture_close(fx);
    }
    test_empty_and_misc();
    test_determinism();
    selsa_ctx_free(&ctx);
    return th_finish();
}
