/* Dense group: convolution and fully connected, forward and backward.
 *  - parity with torch.nn.functional.conv2d / linear + autograd (float64 reference on float32
 *    inputs, tests/ref/gen_dense.py): stride 1/2, pad 0/1/2/3, dilation 2, groups 1/2/4, 1×1 s1
 *    and s2, 7×7 s2, odd sizes, N = 2, with/without bias, fused ReLU; backward accumulates (+=)
 *  - finite differences of backward_data / backward_weight / bias through our own forward, on
 *    quarter-integer data (products and sums exact in fp32, perturbation exact) at sampled
 *    coordinates
 *  - the tiled column path against the untiled one (small scratch arena), scratch sizing with a
 *    measuring arena, 1-thread vs 2-thread agreement
 *  - bad arguments and their messages, N = 0 no-ops. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "harness.h"
#include "selsa/arena.h"
#include "selsa/context.h"
#include "selsa/ops_dense.h"
#include "selsa/rng.h"
#include "backend/dense_ops.h" /* SELSA_CONV2D_COL_BUDGET */

/* Forward/backward parity tolerance. Measured: fp32 torch vs fp64 differs by at most ~3.3e-6
 * over these cases (gen_dense.py prints it; outputs up to ~10 in magnitude, K up to 784), and
 * OpenBLAS changes ~1e-5 at most with the thread count (guide §4): 2e-5 abs + 1e-5 rel is ~5×
 * the measured noise and far below any indexing error (O(0.1..1)). */
#define ATOL 2e-5
#define RTOL 1e-5

static float *alloc_f(int64_t n) { return (float *)calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

static bool close_f64(const char *what, const float *got, const double *want, int64_t n,
                      double atol, double rtol) {
    double *g = (double *)malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) g[i] = got[i];
    bool ok = th_allclose_f64(what, g, want, n, atol, rtol);
    free(g);
    return ok;
}

static selsa_conv2d_params conv_params(const int64_t *p) {
    selsa_conv2d_params cp = {(int)p[7], (int)p[8], (int)p[9], (int)p[10], (int)p[11], (int)p[12], (int)p[13]};
    return cp;
}

/* ------------------------------------------------------------------ torch parity */

static void test_conv_parity(selsa_ctx *ctx, th_fixture *fx) {
    int64_t ncase = (int64_t)th_fx_scalar(fx, "n_conv");
    TH_CHECK(ncase >= 10, "conv cases in fixture: %lld", (long long)ncase);
    for (int64_t i = 0; i < ncase; i++) {
        char key[32], what[64];
#define FX(name) (snprintf(key, sizeof key, "c%lld_%s", (long long)i, name), key)
        const int64_t *p = th_fx_i64(fx, FX("p"));
        if (!p) continue;
        const int64_t n = p[0], cin = p[1], h = p[2], w = p[3], cout = p[4], kh = p[5], kw = p[6];
        const int64_t groups = p[13];
        const bool has_b = p[14] != 0, relu = p[15] != 0;
        selsa_conv2d_params cp = conv_params(p);
        int64_t ho = selsa_conv2d_out_size(h, (int)kh, cp.stride_h, cp.pad_h, cp.dilation_h);
        int64_t wo = selsa_conv2d_out_size(w, (int)kw, cp.stride_w, cp.pad_w, cp.dilation_w);
        int64_t dims[8];
        th_fx_shape(fx, FX("y"), dims);
        TH_CHECK(dims[2] == ho && dims[3] == wo, "case %lld: out size %lldx%lld vs torch %lldx%lld",
                 (long long)i, (long long)ho, (long long)wo, (long long)dims[2], (long long)dims[3]);
        /* inputs copied so the tensors are non-const and owned */
        float *x = alloc_f(n * cin * h * w), *wt = alloc_f(cout * (cin / groups) * kh * kw);
        memcpy(x, th_fx_f32(fx, FX("x")), sizeof(float) * (size_t)(n * cin * h * w));
        memcpy(wt, th_fx_f32(fx, FX("w")), sizeof(float) * (size_t)(cout * (cin / groups) * kh * kw));
        const float *b = th_fx_f32(fx, FX("b"));
        selsa_tensor tx = selsa_tensor_view(x, n, cin, h, w);
        selsa_tensor tw = selsa_tensor_view(wt, cout, cin / groups, kh, kw);
        float *y = alloc_f(n * cout * ho * wo);
        selsa_tensor ty = selsa_tensor_view(y, n, cout, ho, wo);
        TH_OK(selsa_conv2d_forward(ctx, &ty, &tx, &tw, has_b ? b : NULL, &cp,
                                   relu ? SELSA_ACT_RELU : SELSA_ACT_NONE));
        snprintf(what, sizeof what, "conv case %lld forward", (long long)i);
        close_f64(what, y, th_fx_f64(fx, FX("y")), n * cout * ho * wo, ATOL, RTOL);

        /* backward, accumulating onto non-zero buffers: result = init + grad */
        const float *g = th_fx_f32(fx, FX("g"));
        float *gcopy = alloc_f(n * cout * ho * wo);
        memcpy(gcopy, g, sizeof(float) * (size_t)(n * cout * ho * wo));
        selsa_tensor tg = selsa_tensor_view(gcopy, n, cout, ho, wo);
        int64_t nx = n * cin * h * w, nw = cout * (cin / groups) * kh * kw;
        float *dx = alloc_f(nx), *dw = alloc_f(nw), *db = alloc_f(cout);
        double *want_dx = malloc(sizeof(double) * (size_t)nx), *want_dw = malloc(sizeof(double) * (size_t)nw);
        double *want_db = malloc(sizeof(double) * (size_t)cout);
        const double *rdx = th_fx_f64(fx, FX("dx")), *rdw = th_fx_f64(fx, FX("dw")), *rdb = th_fx_f64(fx, FX("db"));
        for (int64_t j = 0; j < nx; j++) dx[j] = 0.25f * (float)(j % 5), want_dx[j] = rdx[j] + dx[j];
        for (int64_t j = 0; j < nw; j++) dw[j] = -0.5f * (float)(j % 3), want_dw[j] = rdw[j] + dw[j];
        for (int64_t j = 0; j < cout; j++) db[j] = 1.0f, want_db[j] = rdb[j] + 1.0;
        selsa_tensor tdx = selsa_tensor_view(dx, n, cin, h, w);
        selsa_tensor tdw = selsa_tensor_view(dw, cout, cin / groups, kh, kw);
        TH_OK(selsa_conv2d_backward_data(ctx, &tdx, &tg, &tw, &cp));
        TH_OK(selsa_conv2d_backward_weight(ctx, &tdw, has_b ? db : NULL, &tg, &tx, &cp));
        snprintf(what, sizeof what, "conv case %lld dx", (long long)i);
        close_f64(what, dx, want_dx, nx, ATOL, RTOL);
        snprintf(what, sizeof what, "conv case %lld dw", (long long)i);
        close_f64(what, dw, want_dw, nw, ATOL, RTOL);
        if (has_b) {
            snprintf(what, sizeof what, "conv case %lld db", (long long)i);
            close_f64(what, db, want_db, cout, ATOL, RTOL);
        }
        free(x), free(wt), free(y), free(gcopy), free(dx), free(dw), free(db);
        free(want_dx), free(want_dw), free(want_db);
#undef FX
    }
}

static void test_linear_parity(selsa_ctx *ctx, th_fixture *fx) {
    int64_t ncase = (int64_t)th_fx_scalar(fx, "n_linear");
    TH_CHECK(ncase >= 3, "linear cases in fixture: %lld", (long long)ncase);
    for (int64_t i = 0; i < ncase; i++) {
        char key[32], what[64];
#define FX(name) (snprintf(key, sizeof key, "l%lld_%s", (long long)i, name), key)
        const int64_t *p = th_fx_i64(fx, FX("p"));
        if (!p) continue;
        const int64_t n = p[0], c = p[1], h = p[2], w = p[3], out = p[4], k = c * h * w;
        const bool has_b = p[5] != 0, relu = p[6] != 0;
        float *x = alloc_f(n * k), *wt = alloc_f(out * k), *y = alloc_f(n * out);
        memcpy(x, th_fx_f32(fx, FX("x")), sizeof(float) * (size_t)(n * k));
        memcpy(wt, th_fx_f32(fx, FX("w")), sizeof(float) * (size_t)(out * k));
        const float *b = th_fx_f32(fx, FX("b"));
        selsa_tensor tx = selsa_tensor_view(x, n, c, h, w), tw = selsa_tensor_view(wt, out, k, 1, 1);
        selsa_tensor ty = selsa_tensor_view(y, n, out, 1, 1);
        TH_OK(selsa_linear_forward(ctx, &ty, &tx, &tw, has_b ? b : NULL, relu ? SELSA_ACT_RELU : SELSA_ACT_NONE));
        snprintf(what, sizeof what, "linear case %lld forward", (long long)i);
        close_f64(what, y, th_fx_f64(fx, FX("y")), n * out, ATOL, RTOL);

        float *g = alloc_f(n * out);
        memcpy(g, th_fx_f32(fx, FX("g")), sizeof(float) * (size_t)(n * out));
        selsa_tensor tg = selsa_tensor_view(g, n, out, 1, 1);
        float *dx = alloc_f(n * k), *dw = alloc_f(out * k), *db = alloc_f(out);
        double *wdx = malloc(sizeof(double) * (size_t)(n * k)), *wdw = malloc(sizeof(double) * (size_t)(out * k));
        double *wdb = malloc(sizeof(double) * (size_t)out);
        const double *rdx = th_fx_f64(fx, FX("dx")), *rdw = th_fx_f64(fx, FX("dw")), *rdb = th_fx_f64(fx, FX("db"));
        for (int64_t j = 0; j < n * k; j++) dx[j] = 0.5f, wdx[j] = rdx[j] + 0.5;
        for (int64_t j = 0; j < out * k; j++) dw[j] = -0.25f, wdw[j] = rdw[j] - 0.25;
        for (int64_t j = 0; j < out; j++) db[j] = 2.0f, wdb[j] = rdb[j] + 2.0;
        selsa_tensor tdx = selsa_tensor_view(dx, n, c, h, w), tdw = selsa_tensor_view(dw, out, k, 1, 1);
        TH_OK(selsa_linear_backward_data(ctx, &tdx, &tg, &tw));
        TH_OK(selsa_linear_backward_weight(ctx, &tdw, has_b ? db : NULL, &tg, &tx));
        snprintf(what, sizeof what, "linear case %lld dx", (long long)i);
        close_f64(what, dx, wdx, n * k, ATOL, RTOL);
        snprintf(what, sizeof what, "linear case %lld dw", (long long)i);
        close_f64(what, dw, wdw, out * k, ATOL, RTOL);
        if (has_b) {
            snprintf(what, sizeof what, "linear case %lld db", (long long)i);
            close_f64(what, db, wdb, out, ATOL, RTOL);
        }
        free(x), free(wt), free(y), free(g), free(dx), free(dw), free(db), free(wdx), free(wdw), free(wdb);
#undef FX
    }
}

/* ------------------------------------------------------------------ finite differences */

/* Quarter-integer values in [-2, 2]: every product is a multiple of 1/16 below 4, every sum
 * over K <= 200 terms stays far below 2^20, so fp32 conv/linear results are exact, L is exact
 * in double, and the FD perturbation eps = 0.25 is exact: FD of the (linear) loss equals the
 * gradient up to double rounding. */
static void fill_quarter(float *v, int64_t n, selsa_rng *rng) {
    for (int64_t i = 0; i < n; i++) v[i] = 0.25f * (float)((int)selsa_rng_below(rng, 17) - 8);
}

typedef struct fd_conv {
    selsa_ctx *ctx;
    selsa_tensor x, w, y, g;
    float *b;
    selsa_conv2d_params p;
    bool linear;
} fd_conv;

static double fd_loss(void *user) {
    fd_conv *s = (fd_conv *)user;
    selsa_status st = s->linear ? selsa_linear_forward(s->ctx, &s->y, &s->x, &s->w, s->b, SELSA_ACT_NONE)
                                : selsa_conv2d_forward(s->ctx, &s->y, &s->x, &s->w, s->b, &s->p, SELSA_ACT_NONE);
    if (st != SELSA_OK) return NAN;
    double l = 0;
    for (int64_t i = 0; i < selsa_tensor_numel(&s->y); i++) l += (double)s->g.data[i] * s->y.data[i];
    return l;
}

static void fd_check(selsa_ctx *ctx, const char *name, bool linear, int64_t n, int64_t cin, int64_t h,
                     int64_t w, int64_t cout, int kh, int kw, selsa_conv2d_params p, selsa_rng *rng) {
    fd_conv s = {.ctx = ctx, .p = p, .linear = linear};
    int64_t ho = linear ? 1 : selsa_conv2d_out_size(h, kh, p.stride_h, p.pad_h, p.dilation_h);
    int64_t wo = linear ? 1 : selsa_conv2d_out_size(w, kw, p.stride_w, p.pad_w, p.dilation_w);
    int64_t cig = linear ? cin * h * w : cin / p.groups;
    int64_t nx = n * cin * h * w, nw = cout * cig * (linear ? 1 : kh * kw), ny = n * cout * ho * wo;
    float *x = alloc_f(nx), *wt = alloc_f(nw), *y = alloc_f(ny), *g = alloc_f(ny), *b = alloc_f(cout);
    float *dx = alloc_f(nx), *dw = alloc_f(nw), *db = alloc_f(cout);
    fill_quarter(x, nx, rng), fill_quarter(wt, nw, rng), fill_quarter(g, ny, rng), fill_quarter(b, cout, rng);
    s.x = selsa_tensor_view(x, n, cin, h, w);
    s.w = linear ? selsa_tensor_view(wt, cout, cig, 1, 1) : selsa_tensor_view(wt, cout, cig, kh, kw);
    s.y = selsa_tensor_view(y, n, cout, ho, wo);
    s.g = selsa_tensor_view(g, n, cout, ho, wo);
    s.b = b;
    selsa_tensor tdx = selsa_tensor_view(dx, n, cin, h, w);
    selsa_tensor tdw = s.w;
    tdw.data = dw;
    if (linear) {
        TH_OK(selsa_linear_backward_data(ctx, &tdx, &s.g, &s.w));
        TH_OK(selsa_linear_backward_weight(ctx, &tdw, db, &s.g, &s.x));
    } else {
        TH_OK(selsa_conv2d_backward_data(ctx, &tdx, &s.g, &s.w, &p));
        TH_OK(selsa_conv2d_backward_weight(ctx, &tdw, db, &s.g, &s.x, &p));
    }
    /* sampled coordinates: 24 of x, 24 of w, every bias */
    enum { NS = 24 };
    double got[2 * NS + 64], fd[2 * NS + 64];
    int m = 0;
    for (int t = 0; t < NS; t++) {
        int64_t i = selsa_rng_below(rng, (uint32_t)nx);
        fd[m] = th_fd_derivative(fd_loss, &s, &x[i], 0.25), got[m++] = dx[i];
    }
    for (int t = 0; t < NS; t++) {
        int64_t i = selsa_rng_below(rng, (uint32_t)nw);
        fd[m] = th_fd_derivative(fd_loss, &s, &wt[i], 0.25), got[m++] = dw[i];
    }
    for (int64_t c = 0; c < cout && m < (int)(sizeof got / sizeof got[0]); c++)
        fd[m] = th_fd_derivative(fd_loss, &s, &b[c], 0.25), got[m++] = db[c];
    char what[96];
    snprintf(what, sizeof what, "finite differences %s (dx, dw, db samples)", name);
    /* exact arithmetic (see fill_quarter): only double rounding of L (~1e-13) remains */
    th_allclose_f64(what, got, fd, m, 1e-9, 1e-9);
    free(x), free(wt), free(y), free(g), free(b), free(dx), free(dw), free(db);
}

static void test_finite_differences(selsa_ctx *ctx) {
    selsa_rng rng;
    selsa_rng_seed(&rng, 7, 1);
    selsa_conv2d_params p1 = {1, 1, 1, 1, 1, 1, 1}, p2 = {2, 2, 3, 3, 1, 1, 1};
    selsa_conv2d_params pd = {1, 1, 2, 2, 2, 2, 2}, p11s2 = {2, 2, 0, 0, 1, 1, 1};
    selsa_conv2d_params p11 = {1, 1, 0, 0, 1, 1, 1}, pa = {2, 1, 0, 1, 1, 3, 1};
    fd_check(ctx, "3x3 s1 p1", false, 2, 3, 7, 6, 4, 3, 3, p1, &rng);
    fd_check(ctx, "7x7 s2 p3", false, 1, 2, 9, 11, 3, 7, 7, p2, &rng);
    fd_check(ctx, "3x3 d2 groups 2", false, 1, 4, 8, 7, 6, 3, 3, pd, &rng);
    fd_check(ctx, "1x1 s2", false, 2, 3, 7, 9, 5, 1, 1, p11s2, &rng);
    fd_check(ctx, "1x1 s1", false, 1, 4, 5, 3, 2, 1, 1, p11, &rng);
    fd_check(ctx, "2x3 s(2,1) p(0,1) d(1,3)", false, 1, 2, 7, 9, 3, 2, 3, pa, &rng);
    fd_check(ctx, "linear", true, 3, 4, 2, 3, 5, 1, 1, p1, &rng);
}

/* ------------------------------------------------------------------ tiling, scratch, threads */

typedef struct conv_run {
    float *y, *dx, *dw, *db;
} conv_run;

static selsa_status run_all(selsa_ctx *ctx, const selsa_tensor *x, const selsa_tensor *w,
                            const float *b, const selsa_tensor *g, const selsa_conv2d_params *p,
                            conv_run *r) {
    selsa_tensor ty = *g, tdx = *x, tdw = *w;
    ty.data = r->y, tdx.data = r->dx, tdw.data = r->dw;
    memset(r->dx, 0, sizeof(float) * (size_t)selsa_tensor_numel(x));
    memset(r->dw, 0, sizeof(float) * (size_t)selsa_tensor_numel(w));
    memset(r->db, 0, sizeof(float) * (size_t)w->n);
    SELSA_TRY(selsa_conv2d_forward(ctx, &ty, x, w, b, p, SELSA_ACT_RELU));
    SELSA_TRY(selsa_conv2d_backward_data(ctx, &tdx, g, w, p));
    return selsa_conv2d_backward_weight(ctx, &tdw, r->db, g, x, p);
}

static void conv_run_alloc(conv_run *r, int64_t nx, int64_t nw, int64_t ny, int64_t cout) {
    r->y = alloc_f(ny), r->dx = alloc_f(nx), r->dw = alloc_f(nw), r->db = alloc_f(cout);
}
static void conv_run_free(conv_run *r) { free(r->y), free(r->dx), free(r->dw), free(r->db); }

/* Runs forward + both backwards with a scratch arena of `scratch` bytes and compares with the
 * untiled reference run `full`. */
static void compare_tiled(const char *what, size_t scratch, const selsa_tensor *x, const selsa_tensor *w,
                          const float *b, const selsa_tensor *g, const selsa_conv2d_params *p,
                          const conv_run *full, size_t need) {
    conv_run t;
    int64_t nx = selsa_tensor_numel(x), nw = selsa_tensor_numel(w), ny = selsa_tensor_numel(g);
    conv_run_alloc(&t, nx, nw, ny, w->n);
    selsa_ctx small;
    TH_OK(selsa_ctx_init(&small, SELSA_BACKEND_CPU, scratch, 0));
    TH_OK(run_all(&small, x, w, b, g, p, &t));
    TH_CHECK(small.scratch.used == 0, "%s: ops rewind the scratch arena", what);
    TH_CHECK(small.scratch.peak < need, "%s: really tiles (peak %zu of %zu)", what, small.scratch.peak, need);
    char m[128];
    /* Forward and dx: each output element is the same dot product; when the channels are
     * chunked the K-sum is split into chunk partial sums (fp32 reassociation, |y| <= ~20,
     * K = 72 → a few ulp): 1e-5 abs. */
    snprintf(m, sizeof m, "%s: tiled vs untiled forward", what);
    th_allclose(m, t.y, full->y, ny, 1e-5, 1e-6);
    snprintf(m, sizeof m, "%s: tiled vs untiled dx", what);
    th_allclose(m, t.dx, full->dx, nx, 1e-5, 1e-6);
    /* dW sums over Ho·Wo in tile-sized pieces: reassociation of ~1000 terms, |dW| ~ 30: 1e-4 */
    snprintf(m, sizeof m, "%s: tiled vs untiled dw", what);
    th_allclose(m, t.dw, full->dw, nw, 1e-4, 1e-5);
    snprintf(m, sizeof m, "%s: tiled vs untiled db (same code, bit-exact)", what);
    th_allclose(m, t.db, full->db, w->n, 0, 0);
    selsa_ctx_free(&small);
    conv_run_free(&t);
}

static void test_tiling(void) {
    selsa_rng rng;
    selsa_rng_seed(&rng, 11, 3);
    {
        /* 16 -> 12 channels, 3x3 s1 p1 groups 2 on 2 x 37x29: K = 8*9 = 72 per group; one
         * channel-row of columns (9 x 29 floats) = 1044 bytes, one channel x all rows = 38628,
         * the full column matrix 72*37*29*4 = 309024 bytes. */
        const int64_t n = 2, cin = 16, h = 37, wd = 29, cout = 12;
        selsa_conv2d_params p = {1, 1, 1, 1, 1, 1, 2};
        float *x = alloc_f(n * cin * h * wd), *w = alloc_f(cout * 8 * 9), *b = alloc_f(cout);
        float *g = alloc_f(n * cout * h * wd);
        th_fill_uniform(x, n * cin * h * wd, -1, 1, &rng);
        th_fill_uniform(w, cout * 8 * 9, -1, 1, &rng);
        th_fill_uniform(b, cout, -1, 1, &rng);
        th_fill_uniform(g, n * cout * h * wd, -1, 1, &rng);
        selsa_tensor tx = selsa_tensor_view(x, n, cin, h, wd), tw = selsa_tensor_view(w, cout, 8, 3, 3);
        selsa_tensor tg = selsa_tensor_view(g, n, cout, h, wd);
        size_t need = selsa_conv2d_scratch_bytes(&tx, &tw, &p);
        TH_CHECK(need == 309056, "scratch bytes %zu (whole column matrix, 64-aligned)", need);

        conv_run full, one_thread;
        conv_run_alloc(&full, n * cin * h * wd, cout * 72, n * cout * h * wd, cout);
        conv_run_alloc(&one_thread, n * cin * h * wd, cout * 72, n * cout * h * wd, cout);
        selsa_ctx big;
        TH_OK(selsa_ctx_init(&big, SELSA_BACKEND_CPU, need, 0));
        TH_OK(run_all(&big, &tx, &tw, b, &tg, &p, &full));
        TH_CHECK(big.scratch.peak == need, "untiled run uses exactly scratch_bytes (%zu)", big.scratch.peak);
        /* all 37 rows, channels in chunks of 3, 3, 2 per group (K-split, beta = 1 accumulation) */
        compare_tiled("channel chunks", 3 * 38628 + 100, &tx, &tw, b, &tg, &p, &full, need);
        /* one channel per chunk and 19 + 18 output rows (the tiny-arena fallback) */
        compare_tiled("1 channel x 19 rows", 25156, &tx, &tw, b, &tg, &p, &full, need);

        /* one thread vs the default thread count: OpenBLAS may change low bits (guide §4) */
        selsa_ctx_set_threads(&big, 1);
        TH_OK(run_all(&big, &tx, &tw, b, &tg, &p, &one_thread));
        th_allclose("1 thread vs N threads forward", one_thread.y, full.y, n * cout * h * wd, ATOL, RTOL);
        th_allclose("1 thread vs N threads dx", one_thread.dx, full.dx, n * cin * h * wd, ATOL, RTOL);
        th_allclose("1 thread vs N threads dw", one_thread.dw, full.dw, cout * 72, 1e-4, 1e-5);
        th_allclose("1 thread vs N threads db", one_thread.db, full.db, cout, 0, 0);

        /* not even one channel-row fits: OUT_OF_MEMORY naming the column buffer */
        selsa_ctx tiny;
        TH_OK(selsa_ctx_init(&tiny, SELSA_BACKEND_CPU, 512, 1));
        selsa_tensor ty = selsa_tensor_view(full.y, n, cout, h, wd);
        TH_FAILS(selsa_conv2d_forward(&tiny, &ty, &tx, &tw, b, &p, SELSA_ACT_NONE), SELSA_ERR_OUT_OF_MEMORY);
        TH_CHECK(strstr(selsa_last_error(), "column buffer") && strstr(selsa_last_error(), "scratch"),
                 "message: %s", selsa_last_error());
        TH_CHECK(tiny.scratch.used == 0, "rewound after a failure");
        /* a measuring scratch arena records exactly selsa_conv2d_scratch_bytes, computes nothing */
        selsa_arena_free(&tiny.scratch);
        selsa_arena_init_measure(&tiny.scratch, "scratch");
        TH_OK(selsa_conv2d_forward(&tiny, &ty, &tx, &tw, b, &p, SELSA_ACT_NONE));
        TH_CHECK(tiny.scratch.peak == need, "measured %zu == scratch_bytes %zu", tiny.scratch.peak, need);
        selsa_ctx_free(&big), selsa_ctx_free(&tiny);
        conv_run_free(&full), conv_run_free(&one_thread);
        free(x), free(w), free(b), free(g);
    }
    {
        /* row tiles with the full K: 4 -> 5 channels 3x3 p1 on 20x300: K = 36, one output row
         * = 43200 bytes, full matrix 864000; a 400000-byte arena gives 7 + 7 + 6 rows (>= 2048
         * columns each). */
        const int64_t cin = 4, h = 20, wd = 300, cout = 5;
        selsa_conv2d_params p = {1, 1, 1, 1, 1, 1, 1};
        float *x = alloc_f(cin * h * wd), *w = alloc_f(cout * 36), *b = alloc_f(cout), *g = alloc_f(cout * h * wd);
        th_fill_uniform(x, cin * h * wd, -1, 1, &rng);
        th_fill_uniform(w, cout * 36, -1, 1, &rng);
        th_fill_uniform(b, cout, -1, 1, &rng);
        th_fill_uniform(g, cout * h * wd, -1, 1, &rng);
        selsa_tensor tx = selsa_tensor_view(x, 1, cin, h, wd), tw = selsa_tensor_view(w, cout, cin, 3, 3);
        selsa_tensor tg = selsa_tensor_view(g, 1, cout, h, wd);
        size_t need = selsa_conv2d_scratch_bytes(&tx, &tw, &p);
        conv_run full;
        conv_run_alloc(&full, cin * h * wd, cout * 36, cout * h * wd, cout);
        selsa_ctx big;
        TH_OK(selsa_ctx_init(&big, SELSA_BACKEND_CPU, need, 0));
        TH_OK(run_all(&big, &tx, &tw, b, &tg, &p, &full));
        compare_tiled("row tiles, full K", 400000, &tx, &tw, b, &tg, &p, &full, need);
        selsa_ctx_free(&big);
        conv_run_free(&full);
        free(x), free(w), free(b), free(g);
    }

    /* budget bound for big layers; 1x1 cases */
    selsa_conv2d_params p1 = {1, 1, 1, 1, 1, 1, 1};
    selsa_tensor bx = selsa_tensor_view(NULL, 1, 64, 141, 250), bw = selsa_tensor_view(NULL, 64, 64, 3, 3);
    size_t bneed = selsa_conv2d_scratch_bytes(&bx, &bw, &p1);
    TH_CHECK(bneed > 0 && bneed <= SELSA_CONV2D_COL_BUDGET, "res2 3x3 scratch %zu bounded", bneed);
    selsa_tensor nx = selsa_tensor_view(NULL, 1, 2048, 36, 63), nw = selsa_tensor_view(NULL, 512, 2048, 3, 3);
    bneed = selsa_conv2d_scratch_bytes(&nx, &nw, &p1);
    TH_CHECK(bneed > 0 && bneed <= SELSA_CONV2D_COL_BUDGET, "neck 3x3 2048->512 scratch %zu bounded", bneed);
    selsa_tensor cx = selsa_tensor_view(NULL, 1, 1024, 36, 63), cw = selsa_tensor_view(NULL, 256, 1024, 1, 1);
    TH_CHECK(selsa_conv2d_scratch_bytes(&cx, &cw, &(selsa_conv2d_params){1, 1, 0, 0, 1, 1, 1}) == 0,
             "1x1 s1 p0 needs no scratch");
    TH_CHECK(selsa_conv2d_scratch_bytes(&cx, &cw, &(selsa_conv2d_params){2, 2, 0, 0, 1, 1, 1}) ==
                 (size_t)1024 * 18 * 32 * 4, "1x1 s2 gathers (1024 x 18*32 floats)");
}

/* ------------------------------------------------------------------ errors and edge cases */

static void test_errors(selsa_ctx *ctx) {
    TH_CHECK(selsa_conv2d_out_size(562, 7, 2, 3, 1) == 281, "conv1 562 -> 281");
    TH_CHECK(selsa_conv2d_out_size(1000, 7, 2, 3, 1) == 500, "conv1 1000 -> 500");
    TH_CHECK(selsa_conv2d_out_size(141, 1, 2, 0, 1) == 71, "res3a 1x1 s2: 141 -> 71");
    TH_CHECK(selsa_conv2d_out_size(36, 3, 1, 2, 2) == 36, "res5 dilated keeps 36");
    TH_CHECK(selsa_conv2d_out_size(2, 5, 1, 0, 1) <= 0, "kernel larger than input");

    float xb[2 * 4 * 5 * 6], wb[6 * 4 * 3 * 3], yb[2 * 6 * 5 * 6], bb[6] = {0};
    memset(xb, 0, sizeof xb), memset(wb, 0, sizeof wb);
    selsa_tensor x = selsa_tensor_view(xb, 2, 4, 5, 6), w = selsa_tensor_view(wb, 6, 4, 3, 3);
    selsa_tensor y = selsa_tensor_view(yb, 2, 6, 5, 6);
    selsa_conv2d_params p = {1, 1, 1, 1, 1, 1, 1};
    TH_OK(selsa_conv2d_forward(ctx, &y, &x, &w, bb, &p, SELSA_ACT_RELU));

    selsa_tensor wbad = selsa_tensor_view(wb, 6, 3, 3, 3);
    TH_FAILS(selsa_conv2d_forward(ctx, &y, &x, &wbad, NULL, &p, SELSA_ACT_NONE), SELSA_ERR_SHAPE);
    TH_CHECK(strstr(selsa_last_error(), "weight") && strstr(selsa_last_error(), "input channels"),
             "wrong weight message: %s", selsa_last_error());
    selsa_tensor ybad = selsa_tensor_view(yb, 2, 6, 4, 6);
    TH_FAILS(selsa_conv2d_forward(ctx, &ybad, &x, &w, NULL, &p, SELSA_ACT_NONE), SELSA_ERR_SHAPE);
    TH_CHECK(strstr(selsa_last_error(), "out") && strstr(selsa_last_error(), "(2, 6, 5, 6)"),
             "out mismatch message: %s", selsa_last_error());
    selsa_conv2d_params pg = p;
    pg.groups = 3;
    TH_FAILS(selsa_conv2d_forward(ctx, &y, &x, &w, NULL, &pg, SELSA_ACT_NONE), SELSA_ERR_SHAPE);
    TH_CHECK(strstr(selsa_last_error(), "groups=3") != NULL, "groups message: %s", selsa_last_error());
    pg.groups = 2; /* divides Cin 4, but weight has 4 per group instead of 2 */
    TH_FAILS(selsa_conv2d_forward(ctx, &y, &x, &w, NULL, &pg, SELSA_ACT_NONE), SELSA_ERR_SHAPE);
    selsa_tensor w5 = selsa_tensor_view(wb, 5, 2, 3, 3);
    TH_FAILS(selsa_conv2d_forward(ctx, &y, &x, &w5, NULL, &pg, SELSA_ACT_NONE), SELSA_ERR_SHAPE);
    TH_CHECK(strstr(selsa_last_error(), "output channels") != NULL, "Cout groups message: %s", selsa_last_error());
    selsa_conv2d_params ps = p;
    ps.stride_w = 0;
    TH_FAILS(selsa_conv2d_forward(ctx, &y, &x, &w, NULL, &ps, SELSA_ACT_NONE), SELSA_ERR_INVALID_ARG);
    TH_CHECK(strstr(selsa_last_error(), "stride") != NULL, "stride message: %s", selsa_last_error());
    ps = p, ps.pad_h = -1;
    TH_FAILS(selsa_conv2d_forward(ctx, &y, &x, &w, NULL, &ps, SELSA_ACT_NONE), SELSA_ERR_INVALID_ARG);
    ps = p, ps.dilation_h = 0;
    TH_FAILS(selsa_conv2d_forward(ctx, &y, &x, &w, NULL, &ps, SELSA_ACT_NONE), SELSA_ERR_INVALID_ARG);
    ps = p, ps.groups = 0;
    TH_FAILS(selsa_conv2d_forward(ctx, &y, &x, &w, NULL, &ps, SELSA_ACT_NONE), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_conv2d_forward(ctx, &y, &x, &w, NULL, NULL, SELSA_ACT_NONE), SELSA_ERR_INVALID_ARG);
    TH_CHECK(strstr(selsa_last_error(), "params") != NULL, "NULL params message: %s", selsa_last_error());
    TH_FAILS(selsa_conv2d_forward(ctx, &y, &x, &w, NULL, &p, (selsa_activation)7), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_conv2d_forward(NULL, &y, &x, &w, NULL, &p, SELSA_ACT_NONE), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_conv2d_forward(ctx, NULL, &x, &w, NULL, &p, SELSA_ACT_NONE), SELSA_ERR_INVALID_ARG);
    /* kernel does not fit */
    selsa_conv2d_params p0 = {1, 1, 0, 0, 1, 1, 1};
    selsa_tensor xs = selsa_tensor_view(xb, 1, 4, 2, 2);
    TH_FAILS(selsa_conv2d_forward(ctx, &y, &xs, &w, NULL, &p0, SELSA_ACT_NONE), SELSA_ERR_SHAPE);
    TH_CHECK(strstr(selsa_last_error(), "does not fit") != NULL, "fit message: %s", selsa_last_error());
    /* in place is rejected */
    selsa_tensor yalias = selsa_tensor_view(xb, 1, 6, 5, 6);
    selsa_tensor x1 = selsa_tensor_view(xb, 1, 4, 5, 6);
    TH_FAILS(selsa_conv2d_forward(ctx, &yalias, &x1, &w, NULL, &p, SELSA_ACT_NONE), SELSA_ERR_INVALID_ARG);
    TH_CHECK(strstr(selsa_last_error(), "overlaps") != NULL, "alias message: %s", selsa_last_error());
    /* device mismatch */
    selsa_tensor xg = x;
    xg.device = SELSA_DEVICE_CUDA;
    TH_FAILS(selsa_conv2d_forward(ctx, &y, &xg, &w, NULL, &p, SELSA_ACT_NONE), SELSA_ERR_INVALID_ARG);
    /* backward shape errors */
    selsa_tensor dx = selsa_tensor_view(xb, 2, 4, 5, 6), dy = selsa_tensor_view(yb, 2, 6, 5, 6);
    selsa_tensor dybad = selsa_tensor_view(yb, 1, 6, 5, 6);
    TH_FAILS(selsa_conv2d_backward_data(ctx, &dx, &dybad, &w, &p), SELSA_ERR_SHAPE);
    TH_CHECK(strstr(selsa_last_error(), "dout") != NULL, "dout message: %s", selsa_last_error());
    selsa_tensor dwt = selsa_tensor_view(wb, 6, 4, 3, 3);
    TH_FAILS(selsa_conv2d_backward_weight(ctx, &dwt, NULL, &dybad, &x, &p), SELSA_ERR_SHAPE);
    TH_FAILS(selsa_conv2d_backward_weight(ctx, &dwt, NULL, &dy, &x, &pg), SELSA_ERR_SHAPE);
    TH_FAILS(selsa_conv2d_backward_weight(ctx, &dwt, bb, &dy, &x, NULL), SELSA_ERR_INVALID_ARG);
    selsa_tensor dx_alias = selsa_tensor_view(yb, 2, 4, 5, 6);
    TH_FAILS(selsa_conv2d_backward_data(ctx, &dx_alias, &dy, &w, &p), SELSA_ERR_INVALID_ARG);

    /* N = 0 is a no-op success (data may be NULL) for every op */
    selsa_tensor x0 = selsa_tensor_view(NULL, 0, 4, 5, 6), y0 = selsa_tensor_view(NULL, 0, 6, 5, 6);
    TH_OK(selsa_conv2d_forward(ctx, &y0, &x0, &w, bb, &p, SELSA_ACT_RELU));
    TH_OK(selsa_conv2d_backward_data(ctx, &x0, &y0, &w, &p));
    float dwz[6 * 4 * 9] = {0}, dbz[6] = {0};
    selsa_tensor dw0 = selsa_tensor_view(dwz, 6, 4, 3, 3);
    TH_OK(selsa_conv2d_backward_weight(ctx, &dw0, dbz, &y0, &x0, &p));
    bool zero = true;
    for (int i = 0; i < 6 * 36; i++) zero &= dwz[i] == 0.0f;
    for (int i = 0; i < 6; i++) zero &= dbz[i] == 0.0f;
    TH_CHECK(zero, "N = 0 backward leaves gradients untouched");
    selsa_tensor out0 = selsa_tensor_view(NULL, 0, 6, 5, 6);
    selsa_tensor x0bad = selsa_tensor_view(NULL, 0, 3, 5, 6);
    TH_FAILS(selsa_conv2d_forward(ctx, &out0, &x0bad, &w, NULL, &p, SELSA_ACT_NONE), SELSA_ERR_SHAPE);

    /* linear */
    float lx[3 * 8] = {0}, lw[5 * 8] = {0}, ly[3 * 5];
    selsa_tensor tx = selsa_tensor_view(lx, 3, 2, 2, 2), tw = selsa_tensor_view(lw, 5, 8, 1, 1);
    selsa_tensor ty = selsa_tensor_view(ly, 3, 5, 1, 1);
    TH_OK(selsa_linear_forward(ctx, &ty, &tx, &tw, NULL, SELSA_ACT_NONE));
    selsa_tensor twbad = selsa_tensor_view(lw, 5, 7, 1, 1);
    TH_FAILS(selsa_linear_forward(ctx, &ty, &tx, &twbad, NULL, SELSA_ACT_NONE), SELSA_ERR_SHAPE);
    TH_CHECK(strstr(selsa_last_error(), "weight") && strstr(selsa_last_error(), "8"),
             "linear weight message: %s", selsa_last_error());
    selsa_tensor tybad = selsa_tensor_view(ly, 3, 4, 1, 1);
    TH_FAILS(selsa_linear_forward(ctx, &tybad, &tx, &tw, NULL, SELSA_ACT_NONE), SELSA_ERR_SHAPE);
    TH_CHECK(strstr(selsa_last_error(), "out") != NULL, "linear out message: %s", selsa_last_error());
    TH_FAILS(selsa_linear_backward_data(ctx, &tx, &tybad, &tw), SELSA_ERR_SHAPE);
    TH_FAILS(selsa_linear_backward_weight(ctx, &twbad, NULL, &ty, &tx), SELSA_ERR_SHAPE);
    TH_FAILS(selsa_linear_forward(ctx, &ty, &tx, &tw, NULL, (selsa_activation)-1), SELSA_ERR_INVALID_ARG);
    selsa_tensor lx0 = selsa_tensor_view(NULL, 0, 2, 2, 2), ly0 = selsa_tensor_view(NULL, 0, 5, 1, 1);
    TH_OK(selsa_linear_forward(ctx, &ly0, &lx0, &tw, NULL, SELSA_ACT_RELU));
    TH_OK(selsa_linear_backward_data(ctx, &lx0, &ly0, &tw));
    TH_OK(selsa_linear_backward_weight(ctx, &tw, NULL, &ly0, &lx0));
}

int main(int argc, char **argv) {
    th_init(argc, argv, "dense");
    selsa_ctx ctx;
    if (!TH_OK(selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, 16u << 20, 0))) return th_finish();
    th_fixture *fx = th_fixture_open(th_fixture_path("dense.slfx"));
    TH_CHECK(fx != NULL, "fixture dense.slfx (tests/ref/gen_dense.py)");
    if (fx) {
        printf("reference fp32 noise: conv %.2e, linear %.2e\n", th_fx_scalar(fx, "noise_conv"),
               th_fx_scalar(fx, "noise_linear"));
        test_conv_parity(&ctx, fx);
        test_linear_parity(&ctx, fx);
        th_fixture_close(fx);
    }
    test_finite_differences(&ctx);
    test_tiling();
    test_errors(&ctx);
    selsa_ctx_free(&ctx);
    return th_finish();
}
