/* RoI ops: MXNet ROIPooling and mmcv RoIAlign, forward and backward.
 *
 * Parity: ROIPooling vs a NumPy implementation of official-selsa.md §4.1 (tests/ref/gen_roi.py;
 * torchvision.ops.roi_pool is compared there too and agrees for valid batch indices, but it
 * cannot express MXNet's "negative batch index -> 0"), RoIAlign vs torchvision.ops.roi_align in
 * float64 + autograd (aligned True/False, sampling_ratio 2 and 0). Finite differences of both
 * backwards, thread-count determinism, edge cases and argument errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "harness.h"
#include "selsa/context.h"
#include "selsa/ops_roi.h"

static selsa_ctx ctx;

/* Copy a fixture entry into a fresh float tensor of the given shape (caller frees data). */
static selsa_tensor fx_tensor(th_fixture *fx, const char *name, int64_t n, int64_t c, int64_t h,
                              int64_t w) {
    int64_t numel = n * c * h * w;
    float *d = malloc((size_t)(numel > 0 ? numel : 1) * sizeof(float));
    const float *src = th_fx_f32(fx, name);
    if (src && th_fx_numel(fx, name) == numel) memcpy(d, src, (size_t)numel * sizeof(float));
    else TH_CHECK(0, "fixture entry %s missing or of the wrong size", name);
    return selsa_tensor_view(d, n, c, h, w);
}

static selsa_tensor new_tensor(int64_t n, int64_t c, int64_t h, int64_t w, float fill) {
    int64_t numel = n * c * h * w;
    float *d = malloc((size_t)(numel > 0 ? numel : 1) * sizeof(float));
    for (int64_t i = 0; i < numel; i++) d[i] = fill;
    return selsa_tensor_view(d, n, c, h, w);
}

/* float results against a float64 reference */
static bool close_f64(const char *what, const float *got, const double *want, int64_t n,
                      double atol, double rtol) {
    double *g = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    for (int64_t i = 0; i < n; i++) g[i] = got[i];
    bool ok = th_allclose_f64(what, g, want, n, atol, rtol);
    free(g);
    return ok;
}

/* ------------------------------------------------------------------ ROIPooling parity --- */
static void test_pool_parity(th_fixture *fx, const char *name) {
    char k[64];
    int64_t fd[8], od[8], rd[8];
#define KEY(s) (snprintf(k, sizeof k, "%s_%s", name, s), k)
    if (th_fx_shape(fx, KEY("feat"), fd) != 4 || th_fx_shape(fx, KEY("out"), od) != 4 ||
        th_fx_shape(fx, KEY("rois"), rd) != 2) {
        TH_CHECK(0, "%s: fixture incomplete", name);
        return;
    }
    selsa_tensor feat = fx_tensor(fx, KEY("feat"), fd[0], fd[1], fd[2], fd[3]);
    selsa_tensor rois = fx_tensor(fx, KEY("rois"), rd[0], 5, 1, 1);
    selsa_tensor dout = fx_tensor(fx, KEY("dout"), od[0], od[1], od[2], od[3]);
    float scale = (float)th_fx_scalar(fx, KEY("scale"));
    selsa_tensor out = new_tensor(od[0], od[1], od[2], od[3], NAN);
    int64_t n = selsa_tensor_numel(&out);
    int32_t *am = malloc((size_t)n * sizeof(int32_t));
    TH_OK(selsa_roi_pool_forward(&ctx, &out, am, &feat, &rois, scale));
    /* Exact: a max selects one stored float and the bin edges use the spec's float32 math. */
    th_allclose(KEY("out"), out.data, th_fx_f32(fx, KEY("out")), n, 0.0, 0.0);
    const int32_t *am_ref = th_fx_i32(fx, KEY("argmax"));
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) bad += am[i] != am_ref[i];
    TH_CHECK(bad == 0, "%s: %lld argmax mismatches", name, (long long)bad);

    /* backward accumulates onto a non-zero base */
    selsa_tensor dfeat = new_tensor(fd[0], fd[1], fd[2], fd[3], 0.0f);
    int64_t nf = selsa_tensor_numel(&dfeat);
    for (int64_t i = 0; i < nf; i++) dfeat.data[i] = 0.25f * (float)(i % 7);
    TH_OK(selsa_roi_pool_backward(&ctx, &dfeat, &dout, am, &rois));
    for (int64_t i = 0; i < nf; i++) dfeat.data[i] -= 0.25f * (float)(i % 7);
    /* sums of a few float32 dout values in [-1, 1]: fp32 rounding < 1e-6 per element */
    close_f64(KEY("dfeat (+= base)"), dfeat.data, th_fx_f64(fx, KEY("dfeat")), nf, 5e-6, 1e-6);
#undef KEY
    free(feat.data), free(rois.data), free(dout.data), free(out.data), free(dfeat.data), free(am);
}

/* ------------------------------------------------------------------- RoIAlign parity --- */
static void test_align_parity(th_fixture *fx, const char *name) {
    char k[64];
    int64_t fd[8], rd[8];
#define KEY(s) (snprintf(k, sizeof k, "%s_%s", name, s), k)
    if (th_fx_shape(fx, KEY("feat"), fd) != 4 || th_fx_shape(fx, KEY("rois"), rd) != 2) {
        TH_CHECK(0, "%s: fixture incomplete", name);
        return;
    }
    const int32_t *pp = th_fx_i32(fx, KEY("params"));
    selsa_roi_align_params p = {pp[0], pp[1], (float)th_fx_scalar(fx, KEY("scale")), pp[2],
                                pp[3] != 0};
    selsa_tensor feat = fx_tensor(fx, KEY("feat"), fd[0], fd[1], fd[2], fd[3]);
    selsa_tensor rois = fx_tensor(fx, KEY("rois"), rd[0], 5, 1, 1);
    selsa_tensor dout = fx_tensor(fx, KEY("dout"), rd[0], fd[1], p.pooled_h, p.pooled_w);
    selsa_tensor out = new_tensor(rd[0], fd[1], p.pooled_h, p.pooled_w, NAN);
    TH_OK(selsa_roi_align_forward(&ctx, &out, &feat, &rois, &p));
    /* torchvision fp32 vs fp64 differs by up to 6.5e-6 on these O(1) maps (gen_roi.py prints
     * it): sample positions are rounded to float32; 3x that as the bound. */
    close_f64(KEY("out"), out.data, th_fx_f64(fx, KEY("out")), selsa_tensor_numel(&out), 2e-5,
              1e-5);
    selsa_tensor dfeat = new_tensor(fd[0], fd[1], fd[2], fd[3], 1.0f);
    TH_OK(selsa_roi_align_backward(&ctx, &dfeat, &dout, &rois, &p));
    int64_t nf = selsa_tensor_numel(&dfeat);
    for (int64_t i = 0; i < nf; i++) dfeat.data[i] -= 1.0f; /* accumulated onto 1.0 */
    close_f64(KEY("dfeat"), dfeat.data, th_fx_f64(fx, KEY("dfeat")), nf, 2e-5, 1e-5);
#undef KEY
    free(feat.data), free(rois.data), free(dout.data), free(out.data), free(dfeat.data);
}

/* ------------------------------------------------------------- finite differences --- */
typedef struct {
    bool align;
    selsa_tensor feat, rois, out, w;
    int32_t *am;
    float scale;
    selsa_roi_align_params p;
} fd_case;

/* L = sum(out ⊙ w), accumulated in double */
static double fd_loss(void *user) {
    fd_case *c = user;
    selsa_status s = c->align ? selsa_roi_align_forward(&ctx, &c->out, &c->feat, &c->rois, &c->p)
                              : selsa_roi_pool_forward(&ctx, &c->out, c->am, &c->feat, &c->rois,
                                                       c->scale);
    if (s != SELSA_OK) return NAN;
    double L = 0;
    for (int64_t i = 0; i < selsa_tensor_numel(&c->out); i++) L += (double)c->out.data[i] * c->w.data[i];
    return L;
}

static void test_fd(bool align) {
    selsa_rng rng;
    selsa_rng_seed(&rng, align ? 11 : 12, 3);
    const int N = 2, C = 2, H = 13, W = 17, P = 7;
    fd_case c = {.align = align, .scale = 1.0f / 16};
    c.p = (selsa_roi_align_params){P, P, 1.0f / 16, align ? 2 : 0, true};
    c.feat = new_tensor(N, C, H, W, 0);
    int64_t nf = selsa_tensor_numel(&c.feat);
    /* ROIPool: a permutation of k/64 - 2 -> distinct values 1/64 apart; the FD step 1/128 is
     * exact in float and never reorders two values, so argmax (the kink) is never crossed. */
    int32_t *perm = malloc((size_t)nf * sizeof(int32_t));
    for (int64_t i = 0; i < nf; i++) perm[i] = (int32_t)i;
    selsa_rng_shuffle_i32(&rng, perm, nf);
    for (int64_t i = 0; i < nf; i++) c.feat.data[i] = (float)perm[i] / 64.0f - 2.0f;
    free(perm);
    const float rr[][5] = {{0, 10, 20, 200, 150}, {1, -30, 5, 120, 230}, {0, 100, 100, 290, 220},
                           {1, 40, 40, 48, 90}, {0, 250, 180, 300, 260}};
    const int R = 5;
    c.rois = new_tensor(R, 5, 1, 1, 0);
    memcpy(c.rois.data, rr, sizeof rr);
    c.out = new_tensor(R, C, P, P, 0);
    c.w = new_tensor(R, C, P, P, 0);
    th_fill_uniform(c.w.data, selsa_tensor_numel(&c.w), -1, 1, &rng);
    c.am = malloc((size_t)selsa_tensor_numel(&c.out) * sizeof(int32_t));
    selsa_tensor dfeat = new_tensor(N, C, H, W, 0);
    fd_loss(&c);
    if (align) TH_OK(selsa_roi_align_backward(&ctx, &dfeat, &c.w, &c.rois, &c.p));
    else TH_OK(selsa_roi_pool_backward(&ctx, &dfeat, &c.w, c.am, &c.rois));
    /* RoIAlign is linear in feat: a large step (0.25) has no truncation error and keeps the
     * float rounding of L (~1e-7·|L|) small relative to the step; the sample points need not
     * avoid pixel boundaries because the derivative w.r.t. feat does not move them. */
    const double eps = align ? 0.25 : 1.0 / 128;
    int worst = 0;
    double worst_err = 0;
    int64_t checked = 0;
    for (int64_t i = 0; i < nf; i += align ? 3 : 1) {
        double fd = th_fd_derivative(fd_loss, &c, &c.feat.data[i], eps);
        double err = fabs(fd - dfeat.data[i]);
        if (err > worst_err) worst_err = err, worst = (int)i;
        checked++;
    }
    /* ROIPool FD is exact (dyadic values and steps) up to the double sum; RoIAlign: L is a
     * sum of ~200 float outputs, each rounded to ~6e-8 relative, divided by eps = 0.25. */
    TH_CHECK(worst_err < (align ? 2e-4 : 1e-5), "%s FD: %lld points, worst |fd - grad| = %g at %d",
             align ? "roi_align" : "roi_pool", (long long)checked, worst_err, worst);
    free(c.feat.data), free(c.rois.data), free(c.out.data), free(c.w.data), free(c.am);
    free(dfeat.data);
}

/* -------------------------------------------------- determinism across thread counts --- */
static void test_determinism(void) {
    selsa_rng rng;
    selsa_rng_seed(&rng, 5, 5);
    const int N = 2, C = 8, H = 36, W = 63, R = 300;
    selsa_tensor feat = new_tensor(N, C, H, W, 0);
    th_fill_uniform(feat.data, selsa_tensor_numel(&feat), -1, 1, &rng);
    selsa_tensor rois = new_tensor(R, 5, 1, 1, 0);
    for (int r = 0; r < R; r++) {
        float *x = rois.data + r * 5;
        x[0] = (float)(r % N);
        float a = selsa_rng_uniform_range(&rng, -50, 1000), b = selsa_rng_uniform_range(&rng, -50, 1000);
        float c = selsa_rng_uniform_range(&rng, -50, 600), d = selsa_rng_uniform_range(&rng, -50, 600);
        x[1] = fminf(a, b), x[3] = fmaxf(a, b), x[2] = fminf(c, d), x[4] = fmaxf(c, d);
    }
    selsa_tensor dout = new_tensor(R, C, 7, 7, 0);
    th_fill_uniform(dout.data, selsa_tensor_numel(&dout), -1, 1, &rng);
    selsa_roi_align_params p = {7, 7, 1.0f / 16, 0, true}; /* adaptive: several pieces */
    selsa_tensor d1 = new_tensor(N, C, H, W, 0), d2 = new_tensor(N, C, H, W, 0);
    selsa_tensor o1 = new_tensor(R, C, 7, 7, 0), o2 = new_tensor(R, C, 7, 7, 0);
    int32_t *a1 = malloc((size_t)R * C * 49 * sizeof(int32_t));
    int threads = ctx.n_threads;
    selsa_ctx_set_threads(&ctx, 1);
    TH_OK(selsa_roi_align_forward(&ctx, &o1, &feat, &rois, &p));
    TH_OK(selsa_roi_align_backward(&ctx, &d1, &dout, &rois, &p));
    TH_OK(selsa_roi_pool_forward(&ctx, &o1, a1, &feat, &rois, 1.0f / 16));
    TH_OK(selsa_roi_pool_backward(&ctx, &d1, &dout, a1, &rois));
    selsa_ctx_set_threads(&ctx, 0); /* all cores */
    TH_OK(selsa_roi_align_forward(&ctx, &o2, &feat, &rois, &p));
    TH_OK(selsa_roi_align_backward(&ctx, &d2, &dout, &rois, &p));
    TH_OK(selsa_roi_pool_forward(&ctx, &o2, a1, &feat, &rois, 1.0f / 16));
    TH_OK(selsa_roi_pool_backward(&ctx, &d2, &dout, a1, &rois));
    selsa_ctx_set_threads(&ctx, threads);
    TH_CHECK(memcmp(o1.data, o2.data, (size_t)R * C * 49 * 4) == 0, "forward bit-identical across threads");
    TH_CHECK(memcmp(d1.data, d2.data, (size_t)N * C * H * W * 4) == 0,
             "backward bit-identical across thread counts (1 vs %d)", selsa_cpu_cores());
    free(feat.data), free(rois.data), free(dout.data), free(d1.data), free(d2.data);
    free(o1.data), free(o2.data), free(a1);
}

/* ------------------------------------------------------------------------ edge cases --- */
static void test_edges(void) {
    float fbuf[1 * 2 * 9 * 11];
    for (int i = 0; i < 198; i++) fbuf[i] = (float)i;
    selsa_tensor feat = selsa_tensor_view(fbuf, 1, 2, 9, 11);
    selsa_roi_align_params p = {3, 5, 0.5f, 0, true};

    /* R = 0: nothing to do, no data pointers needed */
    selsa_tensor rois0 = selsa_tensor_view(NULL, 0, 5, 1, 1);
    selsa_tensor out0 = selsa_tensor_view(NULL, 0, 2, 3, 5);
    TH_OK(selsa_roi_align_forward(&ctx, &out0, &feat, &rois0, &p));
    TH_OK(selsa_roi_pool_forward(&ctx, &out0, NULL, &feat, &rois0, 0.5f));
    float dbuf[198] = {0};
    selsa_tensor dfeat = selsa_tensor_view(dbuf, 1, 2, 9, 11);
    TH_OK(selsa_roi_align_backward(&ctx, &dfeat, &out0, &rois0, &p));
    TH_OK(selsa_roi_pool_backward(&ctx, &dfeat, &out0, NULL, &rois0));

    /* inverted RoI with adaptive sampling: ceil((x2-x1)/pooled) < 0 -> empty grid -> 0, no
     * gradient (mmcv CUDA semantics; torchvision's CPU kernel throws here) */
    float rb[5] = {0, 16, 4, 2, 14};
    selsa_tensor rois = selsa_tensor_view(rb, 1, 5, 1, 1);
    float ob[30], gb[30];
    for (int i = 0; i < 30; i++) ob[i] = NAN, gb[i] = 1.0f;
    selsa_tensor out = selsa_tensor_view(ob, 1, 2, 3, 5), g = selsa_tensor_view(gb, 1, 2, 3, 5);
    TH_OK(selsa_roi_align_forward(&ctx, &out, &feat, &rois, &p));
    bool zero = true;
    for (int i = 0; i < 30; i++) zero &= ob[i] == 0.0f;
    TH_CHECK(zero, "inverted RoI (adaptive) gives 0");
    TH_OK(selsa_roi_align_backward(&ctx, &dfeat, &g, &rois, &p));
    bool untouched = true;
    for (int i = 0; i < 198; i++) untouched &= dbuf[i] == 0.0f;
    TH_CHECK(untouched, "inverted RoI (adaptive) gives no gradient");

    /* ROIPool: negative batch index -> 0 and argmax -1; fully outside -> empty bins -> 0 */
    int32_t am[30];
    float rn[10] = {-1, 0, 0, 10, 10, 0, 100, 100, 140, 120};
    selsa_tensor rois2 = selsa_tensor_view(rn, 2, 5, 1, 1);
    float o2b[60];
    selsa_tensor out2 = selsa_tensor_view(o2b, 2, 2, 3, 5);
    int32_t am2[60];
    TH_OK(selsa_roi_pool_forward(&ctx, &out2, am2, &feat, &rois2, 0.5f));
    bool ok = true;
    for (int i = 0; i < 60; i++) ok &= o2b[i] == 0.0f && am2[i] == -1;
    TH_CHECK(ok, "negative batch index / outside RoI: zeros and argmax -1");

    /* errors */
    float bad[5] = {1, 0, 0, 4, 4}; /* batch 1 of a 1-image map */
    selsa_tensor rbad = selsa_tensor_view(bad, 1, 5, 1, 1);
    TH_FAILS(selsa_roi_align_forward(&ctx, &out, &feat, &rbad, &p), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_roi_pool_forward(&ctx, &out, am, &feat, &rbad, 0.5f), SELSA_ERR_INVALID_ARG);
    bad[0] = -1; /* RoIAlign has no "negative batch -> 0" rule */
    TH_FAILS(selsa_roi_align_forward(&ctx, &out, &feat, &rbad, &p), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_roi_align_backward(&ctx, &dfeat, &g, &rbad, &p), SELSA_ERR_INVALID_ARG);
    bad[0] = 0, bad[2] = NAN;
    TH_FAILS(selsa_roi_align_forward(&ctx, &out, &feat, &rbad, &p), SELSA_ERR_NUMERIC);
    TH_FAILS(selsa_roi_pool_forward(&ctx, &out, am, &feat, &rbad, 0.5f), SELSA_ERR_NUMERIC);
    bad[2] = 0;
    TH_FAILS(selsa_roi_pool_forward(&ctx, &out, am, &feat, &rbad, 0.0f), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_roi_pool_forward(&ctx, &out, NULL, &feat, &rbad, 0.5f), SELSA_ERR_INVALID_ARG);
    selsa_tensor r4 = selsa_tensor_view(bad, 1, 4, 1, 1);
    TH_FAILS(selsa_roi_align_forward(&ctx, &out, &feat, &r4, &p), SELSA_ERR_SHAPE);
    selsa_tensor wrong = selsa_tensor_view(ob, 1, 2, 5, 3); /* pooled 5x3 vs params 3x5 */
    TH_FAILS(selsa_roi_align_forward(&ctx, &wrong, &feat, &rbad, &p), SELSA_ERR_SHAPE);
    selsa_tensor wrongc = selsa_tensor_view(ob, 1, 3, 2, 5);
    TH_FAILS(selsa_roi_pool_forward(&ctx, &wrongc, am, &feat, &rbad, 0.5f), SELSA_ERR_SHAPE);
    selsa_roi_align_params pb = p;
    pb.sampling_ratio = -1;
    TH_FAILS(selsa_roi_align_forward(&ctx, &out, &feat, &rbad, &pb), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_roi_align_forward(&ctx, &out, &feat, &rbad, NULL), SELSA_ERR_INVALID_ARG);
    TH_OK(selsa_roi_pool_forward(&ctx, &out, am, &feat, &rbad, 0.5f));
    am[3] = 99; /* >= H*W = 99 */
    TH_FAILS(selsa_roi_pool_backward(&ctx, &dfeat, &g, am, &rbad), SELSA_ERR_INVALID_ARG);
    /* scratch too small for RoIAlign's plan */
    selsa_ctx tiny;
    TH_OK(selsa_ctx_init(&tiny, SELSA_BACKEND_CPU, 256, 1));
    TH_FAILS(selsa_roi_align_forward(&tiny, &out, &feat, &rbad, &p), SELSA_ERR_OUT_OF_MEMORY);
    TH_CHECK(tiny.scratch.used == 0, "scratch rewound after the failure");
    selsa_ctx_free(&tiny);
    TH_CHECK(ctx.scratch.used == 0, "ops rewind the scratch arena");
}

int main(int argc, char **argv) {
    th_init(argc, argv, "roi");
    if (selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, selsa_roi_align_scratch_bytes(1000), 0) != SELSA_OK)
        return 1;
    th_fixture *fx = th_fixture_open(th_fixture_path("roi.slfx"));
    TH_CHECK(fx != NULL, "fixture roi.slfx (run tests/ref/gen_roi.py)");
    if (fx) {
        const char *pools[] = {"pool_a", "pool_b", "pool_c"};
        for (int i = 0; i < 3; i++) test_pool_parity(fx, pools[i]);
        const char *aligns[] = {"align_a", "align_b", "align_c", "align_d", "align_e", "align_f"};
        for (int i = 0; i < 6; i++) test_align_parity(fx, aligns[i]);
        th_fixture_close(fx);
    }
    test_fd(false);
    test_fd(true);
    test_determinism();
    test_edges();
    selsa_ctx_free(&ctx);
    return th_finish();
}
