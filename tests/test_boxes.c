/* Box group: anchors, coding, clipping, IoU, arg-sort, NMS, MXNet proposal layer, mmdet RPN
 * post-processing, official and mmdet detection post-processing.
 * References: tests/ref/gen_boxes.py (NumPy from the spec, torch/torchvision for mmdet). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fixture.h"
#include "harness.h"
#include "selsa/boxes.h"
#include "selsa/context.h"

static selsa_ctx g_ctx;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* --------------------------------------------------------------------------- anchors ---- */
static void test_anchors(void) {
    static const float ratios[3] = {0.5f, 1, 2}, mx_scales[3] = {8, 16, 32},
                       mm_scales[4] = {4, 8, 16, 32};
    /* official-selsa.md §3.2, exact table */
    static const float want_mx[9][4] = {
        {-84, -40, 99, 55},     {-176, -88, 191, 103},  {-360, -184, 375, 199},
        {-56, -56, 71, 71},     {-120, -120, 135, 135}, {-248, -248, 263, 263},
        {-36, -80, 51, 95},     {-80, -168, 95, 183},   {-168, -344, 183, 359}};
    float an[9 * 4];
    TH_OK(selsa_anchors_mxnet(an, 16, ratios, 3, mx_scales, 3));
    /* exact: integer-valued anchors, computed exactly in float32 */
    th_allclose("mxnet anchors", an, &want_mx[0][0], 36, 0, 0);

    /* mmtracking-selsa.md §2.6: half-extents (x, y), printed there to 6 decimals */
    static const float half[12][2] = {
        {45.254833f, 22.627417f}, {90.509666f, 45.254833f}, {181.019333f, 90.509666f},
        {362.038666f, 181.019333f}, {32, 32}, {64, 64}, {128, 128}, {256, 256},
        {22.627417f, 45.254833f}, {45.254833f, 90.509666f}, {90.509666f, 181.019333f},
        {181.019333f, 362.038666f}};
    float mm[12 * 4], want_mm[12 * 4];
    for (int a = 0; a < 12; a++) {
        want_mm[4 * a + 0] = -half[a][0], want_mm[4 * a + 1] = -half[a][1];
        want_mm[4 * a + 2] = half[a][0], want_mm[4 * a + 3] = half[a][1];
    }
    TH_OK(selsa_anchors_mmdet(mm, 16, ratios, 3, mm_scales, 4));
    /* the spec prints 6 decimals: 1e-6 relative covers the float32 rounding of the table */
    th_allclose("mmdet anchors", mm, want_mm, 48, 0, 1e-6);
    TH_CHECK(mm[0] == -mm[2] && mm[1] == -mm[3], "mmdet anchors centred on 0");

    /* shift: out[((y*W + x)*A + a)*4] = base + stride*(x, y, x, y) */
    float sh[2 * 3 * 12 * 4];
    selsa_anchors_shift(sh, mm, 12, 2, 3, 16);
    const float *q = sh + ((1 * 3 + 2) * 12 + 5) * 4;
    TH_CHECK(q[0] == mm[20] + 32 && q[1] == mm[21] + 16 && q[2] == mm[22] + 32 &&
                 q[3] == mm[23] + 16,
             "anchor shift (y=1, x=2, a=5)");

    float r_bad = -1;
    TH_FAILS(selsa_anchors_mxnet(an, 16, &r_bad, 1, mx_scales, 1), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_anchors_mmdet(mm, 16, ratios, 0, mm_scales, 4), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_anchors_mxnet(NULL, 16, ratios, 3, mx_scales, 3), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_anchors_mxnet(an, 0, ratios, 3, mx_scales, 3), SELSA_ERR_INVALID_ARG);
}

/* ---------------------------------------------------------------------------- coding ---- */
static void test_coding(th_fixture *fx) {
    const float *boxes = th_fx_f32(fx, "code_boxes"), *gt = th_fx_f32(fx, "code_gt");
    const float *dl = th_fx_f32(fx, "code_deltas");
    if (!boxes || !gt || !dl) return;
    const int64_t n = th_fx_numel(fx, "code_boxes") / 4;
    float *out = malloc(sizeof(float) * n * 8), *enc = malloc(sizeof(float) * n * 8);

    /* MXNet decode: double math rounded once, as the float64 reference (measured: bit-exact);
     * the margin allows a 1-ulp exp() difference of another libm: rtol 1e-6 */
    selsa_bbox_decode_mxnet(out, boxes, dl, n, 2);
    th_allclose("mxnet decode (k=2)", out, th_fx_f32(fx, "mx_decode"), n * 8, 1e-4, 1e-6);
    /* in place (out aliases deltas) */
    memcpy(enc, dl, sizeof(float) * n * 8);
    selsa_bbox_decode_mxnet(enc, boxes, enc, n, 2);
    th_allclose("mxnet decode in place", enc, out, n * 8, 0, 0);

    static const float mx_means[4] = {0, 0, 0, 0}, mx_stds[4] = {0.1f, 0.1f, 0.2f, 0.2f};
    selsa_bbox_encode_mxnet(enc, boxes, gt, n, mx_means, mx_stds);
    /* double math rounded once vs float64 reference rounded (measured max rel 1.2e-7 = 1 ulp) */
    th_allclose("mxnet encode", enc, th_fx_f32(fx, "mx_encode"), n * 4, 1e-6, 1e-6);
    /* round trip: un-normalise, decode, compare with gt (float32 storage of deltas ~1e-7 rel,
     * times box sizes ~1e3 -> 1e-3 px) */
    for (int64_t i = 0; i < 4 * n; i++) enc[i] = enc[i] * mx_stds[i % 4] + mx_means[i % 4];
    selsa_bbox_decode_mxnet(out, boxes, enc, n, 1);
    th_allclose("mxnet encode/decode round trip", out, gt, 4 * n, 2e-3, 1e-5);

    static const float mm_means[4] = {0, 0.1f, 0, -0.1f}, mm_stds[4] = {0.2f, 0.2f, 0.2f, 0.2f};
    /* mmdet decode: float32 op for op like torch, exp in double on both sides (measured:
     * bit-exact); margin for a 1-ulp exp() difference: rtol 1e-6, atol 1e-4 px */
    selsa_bbox_decode_mmdet(out, boxes, dl, n, 2, mm_means, mm_stds, 16.0f / 1000, 600, 1000);
    th_allclose("mmdet decode (clamp + clip)", out, th_fx_f32(fx, "mm_decode"), n * 8, 1e-4, 1e-6);
    selsa_bbox_decode_mmdet(out, boxes, dl, n, 2, mm_means, mm_stds, 16.0f / 1000, 0, 0);
    th_allclose("mmdet decode (no clip)", out, th_fx_f32(fx, "mm_decode_noclip"), n * 8, 1e-4,
                1e-6);
    /* the fixture rows 0..9 hit the clamp; check its value directly too */
    float b1[4] = {10, 20, 30, 60}, d1[4] = {0, 0, 10, -10}, o1[4];
    selsa_bbox_decode_mmdet(o1, b1, d1, 1, 1, NULL, NULL, 16.0f / 1000, 0, 0);
    bool clamped = fabsf((o1[2] - o1[0]) - 20 * 1000.0f / 16) < 0.05f &&
              fabsf((o1[3] - o1[1]) - 40 * 16.0f / 1000) < 1e-4f;
    TH_CHECK(clamped, "mmdet dw/dh clamp to ±ln(1000/16): w %g h %g", (double)(o1[2] - o1[0]),
             (double)(o1[3] - o1[1]));

    selsa_bbox_encode_mmdet(enc, boxes, gt, n, mm_means, mm_stds);
    /* measured bit-exact; 1e-5 allows 1-ulp log() differences of ~|1..10| values */
    th_allclose("mmdet encode", enc, th_fx_f32(fx, "mm_encode"), n * 4, 1e-5, 1e-5);
    selsa_bbox_decode_mmdet(out, boxes, enc, n, 1, mm_means, mm_stds, 16.0f / 1000, 0, 0);
    th_allclose("mmdet encode/decode round trip", out, gt, 4 * n, 2e-3, 1e-5);

    /* clip and rescale */
    float cb[8] = {-5, -3, 1200, 700, 10, 20, 30, 40}, cw[8] = {0, 0, 999, 599, 10, 20, 30, 40};
    selsa_bbox_clip(cb, 2, 999, 599);
    th_allclose("clip", cb, cw, 8, 0, 0);
    const float sc4[4] = {2, 4, 2, 4};
    float rw[8] = {0, 0, 499.5f, 149.75f, 5, 5, 15, 10};
    selsa_bbox_rescale(cb, 2, sc4);
    th_allclose("rescale", cb, rw, 8, 0, 0);
    free(out);
    free(enc);
}

/* ------------------------------------------------------------------------------- IoU ---- */
static void test_iou(th_fixture *fx) {
    const float *a = th_fx_f32(fx, "iou_a"), *b = th_fx_f32(fx, "iou_b");
    if (!a || !b) return;
    int64_t na = th_fx_numel(fx, "iou_a") / 4, nb = th_fx_numel(fx, "iou_b") / 4;
    float *iou = malloc(sizeof(float) * na * nb);
    selsa_iou_matrix(iou, a, na, b, nb, 0.0f);
    /* same float32 formula as torchvision (measured: bit-exact); 1e-6 = a few ulp of <= 1 */
    th_allclose("iou vs torchvision.box_iou", iou, th_fx_f32(fx, "iou_tv"), na * nb, 1e-6, 0);
    selsa_iou_matrix(iou, a, na, b, nb, 1.0f);
    /* float32 vs float64 reference: measured max abs 1.2e-7 (1 ulp) */
    th_allclose("iou +1 vs numpy", iou, th_fx_f32(fx, "iou_p1"), na * nb, 1e-6, 0);
    free(iou);
    /* the OpenMP path (na*nb > 65536) equals row-by-row evaluation */
    enum { NI = 300 };
    float *ba = malloc(sizeof(float) * NI * 4), *m1 = malloc(sizeof(float) * NI * NI),
          *m2 = malloc(sizeof(float) * NI * NI);
    selsa_rng rng;
    selsa_rng_seed(&rng, 3, 9);
    for (int i = 0; i < NI; i++) {
        float x = 200 * (float)selsa_rng_uniform(&rng), y = 200 * (float)selsa_rng_uniform(&rng);
        ba[4 * i] = x, ba[4 * i + 1] = y;
        ba[4 * i + 2] = x + 1 + 80 * (float)selsa_rng_uniform(&rng);
        ba[4 * i + 3] = y + 1 + 80 * (float)selsa_rng_uniform(&rng);
    }
    selsa_iou_matrix(m1, ba, NI, ba, NI, 1.0f);
    for (int i = 0; i < NI; i++) selsa_iou_matrix(m2 + i * NI, ba + 4 * i, 1, ba, NI, 1.0f);
    th_allclose("iou parallel == serial", m1, m2, NI * NI, 0, 0);
    free(ba), free(m1), free(m2);
    /* degenerate: zero-area boxes give 0, not NaN */
    float z[4] = {5, 5, 5, 5}, r;
    selsa_iou_matrix(&r, z, 1, z, 1, 0.0f);
    TH_CHECK(r == 0.0f, "zero-area IoU (offset 0) is 0, got %g", (double)r);
    selsa_iou_matrix(&r, z, 1, z, 1, 1.0f);
    TH_CHECK(r == 1.0f, "point box IoU with +1 areas is 1, got %g", (double)r);
}

/* -------------------------------------------------------------------------- arg-sort ---- */
static void test_argsort(void) {
    enum { N = 1000 };
    float s[N];
    int32_t order[N];
    static uint8_t tmp[N * 12 + 64];
    selsa_rng rng;
    selsa_rng_seed(&rng, 5, 1);
    for (int i = 0; i < N; i++) s[i] = (float)selsa_rng_below(&rng, 17) * 0.25f - 2.0f;
    s[3] = -0.0f, s[4] = 0.0f, s[5] = NAN, s[6] = INFINITY, s[7] = -INFINITY;
    selsa_argsort_desc_stable(s, N, order, tmp);
    /* reference: O(n^2) stable selection by (score desc, index asc) with NaN last */
    bool ok = true;
    int32_t ref[N];
    bool used[N] = {false};
    for (int t = 0; t < N; t++) {
        int best = -1;
        for (int i = 0; i < N; i++) {
            if (used[i]) continue;
            if (best < 0) { best = i; continue; }
            bool bn = isnan(s[best]), in = isnan(s[i]);
            if (bn && !in) best = i;
            else if (!bn && !in && s[i] > s[best]) best = i;
        }
        used[best] = true;
        ref[t] = best;
    }
    for (int t = 0; t < N; t++) ok &= order[t] == ref[t];
    TH_CHECK(ok, "stable descending arg-sort with ties, ±0, ±inf and NaN");
    for (int i = 0; i < N; i++) s[i] = 0.5f;
    selsa_argsort_desc_stable(s, N, order, tmp);
    ok = true;
    for (int i = 0; i < N; i++) ok &= order[i] == i;
    TH_CHECK(ok, "all scores equal: identity order");
    selsa_argsort_desc_stable(s, 0, order, tmp); /* n = 0 is a no-op */
}

/* ------------------------------------------------------------------------------- NMS ---- */
static bool same_i32_i64(const int32_t *got, int64_t ng, const int64_t *want, int64_t nw) {
    if (ng != nw) return false;
    for (int64_t i = 0; i < ng; i++)
        if (got[i] != want[i]) return false;
    return true;
}

static void test_nms(th_fixture *fx) {
    const float *bx = th_fx_f32(fx, "nms_boxes");
    if (!bx) return;
    int64_t n = th_fx_numel(fx, "nms_boxes") / 4, nk;
    int32_t *keep = malloc(sizeof(int32_t) * (n > 6000 ? n : 6000));
    TH_OK(selsa_nms(&g_ctx, bx, n, 0.5f, 0.0f, -1, keep, &nk));
    TH_CHECK(same_i32_i64(keep, nk, th_fx_i64(fx, "nms_tv_keep"), th_fx_numel(fx, "nms_tv_keep")),
             "NMS vs torchvision.ops.nms (%lld kept, want %lld)", (long long)nk,
             (long long)th_fx_numel(fx, "nms_tv_keep"));
    TH_OK(selsa_nms(&g_ctx, bx, n, 0.7f, 1.0f, 0, keep, &nk));
    TH_CHECK(same_i32_i64(keep, nk, th_fx_i64(fx, "nms_p1_keep"), th_fx_numel(fx, "nms_p1_keep")),
             "NMS +1 vs NumPy (%lld kept)", (long long)nk);
    TH_OK(selsa_nms(&g_ctx, bx, n, 0.7f, 1.0f, 37, keep, &nk));
    TH_CHECK(same_i32_i64(keep, nk, th_fx_i64(fx, "nms_p1_keep_max"), 37) && nk == 37,
             "NMS +1 stops at max_keep");
    TH_CHECK(g_ctx.scratch.used == 0, "scratch rewound");

    /* IoU exactly at the threshold is kept (strict >), from integer boxes */
    float t0[12] = {0, 0, 10, 10, 0, 0, 10, 5, 0, 0, 10, 6}; /* IoU 0.5 and 0.6 with box 0 */
    TH_OK(selsa_nms(&g_ctx, t0, 3, 0.5f, 0.0f, -1, keep, &nk));
    TH_CHECK(nk == 2 && keep[0] == 0 && keep[1] == 1, "IoU == 0.5 kept, 0.6 suppressed (off 0)");
    float t1[12] = {0, 0, 9, 9, 0, 0, 9, 6, 0, 0, 9, 7}; /* +1: 70/100 = 0.7, 80/100 */
    TH_OK(selsa_nms(&g_ctx, t1, 3, 0.7f, 1.0f, -1, keep, &nk));
    TH_CHECK(nk == 2 && keep[0] == 0 && keep[1] == 1, "IoU == 0.7 kept, 0.8 suppressed (+1)");
    /* zero boxes */
    TH_OK(selsa_nms(&g_ctx, NULL, 0, 0.5f, 0.0f, -1, NULL, &nk));
    TH_CHECK(nk == 0, "zero boxes");
    /* zero-area boxes: offset 0 -> IoU 0/0 = NaN never suppresses (as torchvision/mmcv);
     * +1 -> identical points overlap fully */
    float zb[8] = {5, 5, 5, 5, 5, 5, 5, 5};
    TH_OK(selsa_nms(&g_ctx, zb, 2, 0.5f, 0.0f, -1, keep, &nk));
    TH_CHECK(nk == 2, "zero-area boxes (offset 0) both kept");
    TH_OK(selsa_nms(&g_ctx, zb, 2, 0.5f, 1.0f, -1, keep, &nk));
    TH_CHECK(nk == 1, "zero-area boxes (+1) suppressed");

    /* timing: 6000 RPN-like boxes, +1, thr 0.7 */
    enum { NB = 6000 };
    float *big = malloc(sizeof(float) * NB * 4);
    selsa_rng rng;
    selsa_rng_seed(&rng, 11, 3);
    for (int i = 0; i < NB; i++) {
        float x = 1000 * (float)selsa_rng_uniform(&rng), y = 562 * (float)selsa_rng_uniform(&rng);
        float w = 16 + 300 * (float)selsa_rng_uniform(&rng), h = 16 + 300 * (float)selsa_rng_uniform(&rng);
        big[4 * i] = x, big[4 * i + 1] = y, big[4 * i + 2] = x + w, big[4 * i + 3] = y + h;
    }
    double t = now_s();
    TH_OK(selsa_nms(&g_ctx, big, NB, 0.7f, 1.0f, 300, keep, &nk));
    double t300 = now_s() - t;
    t = now_s();
    int64_t nall;
    TH_OK(selsa_nms(&g_ctx, big, NB, 0.7f, 1.0f, -1, keep, &nall));
    double tall = now_s() - t;
    printf("  nms 6000 boxes: %.2f ms to 300 kept, %.2f ms unlimited (%lld kept)\n", 1e3 * t300,
           1e3 * tall, (long long)nall);
    /* the machine is shared by several jobs: a loose bound (target is well under 10 ms;
     * sanitizer builds are ~40x slower) */
#ifdef __SANITIZE_ADDRESS__
    const double limit = 1.0;
#else
    const double limit = 0.05;
#endif
    TH_CHECK(t300 < limit, "NMS of 6000 boxes to 300 took %.1f ms", 1e3 * t300);

    /* bad arguments */
    TH_FAILS(selsa_nms(&g_ctx, bx, -1, 0.5f, 0, -1, keep, &nk), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_nms(&g_ctx, NULL, 3, 0.5f, 0, -1, keep, &nk), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_nms(&g_ctx, bx, 3, NAN, 0, -1, keep, &nk), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_nms(&g_ctx, bx, 3, 0.5f, 0, -1, keep, NULL), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_nms(NULL, bx, 3, 0.5f, 0, -1, keep, &nk), SELSA_ERR_INVALID_ARG);
    free(big);
    free(keep);
}

/* -------------------------------------------------------------------- MXNet proposal ---- */
static selsa_tensor fx_tensor(th_fixture *fx, const char *name) {
    int64_t d[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    int nd = th_fx_shape(fx, name, d);
    int64_t s[4] = {1, 1, 1, 1};
    for (int i = 0; i < nd && i < 4; i++) s[i] = d[i];
    if (nd == 2) s[2] = s[3] = 1;
    return selsa_tensor_view((float *)th_fx_f32(fx, name), s[0], s[1], s[2], s[3]);
}

static void run_proposal_case(th_fixture *fx, const char *cls, const char *bbox,
                              const char *info, const char *want_rois, const char *want_scores,
                              selsa_proposal_mxnet_params p, const char *what) {
    selsa_tensor c = fx_tensor(fx, cls), b = fx_tensor(fx, bbox);
    const float *ii = th_fx_f32(fx, info);
    if (!c.data || !b.data || !ii) return;
    int64_t rows = c.n * p.post_nms_top_n;
    float *r = malloc(sizeof(float) * rows * 5), *s = malloc(sizeof(float) * rows);
    selsa_tensor rt = selsa_tensor_view(r, rows, 5, 1, 1);
    /* a context whose scratch is exactly the documented size */
    selsa_ctx ctx;
    size_t need = selsa_proposal_mxnet_scratch_bytes(c.c / 2, c.h, c.w, &p);
    TH_OK(selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, need, 1));
    double t = now_s();
    TH_OK(selsa_proposal_mxnet(&ctx, &rt, s, &c, &b, ii, &p));
    t = now_s() - t;
    char buf[128];
    snprintf(buf, sizeof buf, "%s rois", what);
    /* decode in double rounded once on both sides; NMS in float32 on equal boxes: exact up to
     * rare 1-ulp decode differences (|coord| < 1e3 -> 1e-4) */
    th_allclose(buf, r, th_fx_f32(fx, want_rois), rows * 5, 1e-4, 1e-6);
    snprintf(buf, sizeof buf, "%s scores", what);
    th_allclose(buf, s, th_fx_f32(fx, want_scores), rows, 0, 0);
    TH_CHECK(ctx.scratch.used == 0 && ctx.scratch.peak <= need, "%s: scratch %zu of %zu", what,
             ctx.scratch.peak, need);
    printf("  %s: %.2f ms\n", what, 1e3 * t);
    selsa_ctx_free(&ctx);
    /* one arena alignment unit less must fail cleanly */
    if (need > 64) {
        TH_OK(selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, need - 64, 1));
        TH_FAILS(selsa_proposal_mxnet(&ctx, &rt, s, &c, &b, ii, &p), SELSA_ERR_OUT_OF_MEMORY);
        TH_CHECK(ctx.scratch.used == 0, "scratch rewound after failure");
        selsa_ctx_free(&ctx);
    }
    free(r);
    free(s);
}

static void test_proposal_mxnet(th_fixture *fx) {
    selsa_proposal_mxnet_params p = selsa_proposal_mxnet_default_params();
    run_proposal_case(fx, "prop_cls", "prop_bbox", "prop_im_info", "prop_rois", "prop_scores", p,
                      "proposal N=2 36x63");
    selsa_proposal_mxnet_params q = p;
    for (int k = 0; k < 4; k++) q.delta_stds[k] = 1.0f;
    run_proposal_case(fx, "tiny_cls", "tiny_bbox", "tiny_im_info", "tiny_rois", "tiny_scores", q,
                      "proposal tiny 3x4 (repeat fill)");
    q.min_size = 16, q.pre_nms_top_n = 50, q.post_nms_top_n = 20;
    run_proposal_case(fx, "tiny_cls", "tiny_bbox", "tiny_im_info2", "tiny_min_rois",
                      "tiny_min_scores", q, "proposal tiny FilterBox");

    /* the padded region of image 0 (562x1000 -> rows >= 35, cols >= 62) never scores > -1 */
    /* (covered by the reference); check the repeat-fill structure of the tiny case directly */
    const float *tr = th_fx_f32(fx, "tiny_rois");
    if (tr) {
        int distinct = 0;
        for (int i = 0; i < 300; i++) {
            bool seen = false;
            for (int j = 0; j < i && !seen; j++) seen = !memcmp(tr + 5 * i, tr + 5 * j, 20);
            distinct += !seen;
        }
        TH_CHECK(distinct < 108 && !memcmp(tr, tr + 5 * distinct, 20),
                 "tiny case is repeat-filled (%d distinct rows)", distinct);
    }

    /* bad arguments */
    q = p;
    selsa_tensor c = fx_tensor(fx, "tiny_cls"), b = fx_tensor(fx, "tiny_bbox");
    float r[300 * 5];
    selsa_tensor rt = selsa_tensor_view(r, 300, 5, 1, 1);
    float info_big[3] = {80, 50, 1}; /* needs 5 rows, map has 3 */
    TH_FAILS(selsa_proposal_mxnet(&g_ctx, &rt, NULL, &c, &b, info_big, &q), SELSA_ERR_SHAPE);
    TH_CHECK(strstr(selsa_last_error(), "im_info") != NULL, "message names im_info: %s",
             selsa_last_error());
    float info0[3] = {40, 50, 0};
    TH_FAILS(selsa_proposal_mxnet(&g_ctx, &rt, NULL, &c, &b, info0, &q), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_proposal_mxnet(&g_ctx, &rt, NULL, &c, &b, NULL, &q), SELSA_ERR_INVALID_ARG);
    selsa_tensor rt_bad = selsa_tensor_view(r, 299, 5, 1, 1);
    TH_FAILS(selsa_proposal_mxnet(&g_ctx, &rt_bad, NULL, &c, &b, th_fx_f32(fx, "tiny_im_info"), &p),
             SELSA_ERR_SHAPE);
    selsa_tensor b_bad = b;
    b_bad.c = 35;
    TH_FAILS(selsa_proposal_mxnet(&g_ctx, &rt, NULL, &c, &b_bad, th_fx_f32(fx, "tiny_im_info"), &p),
             SELSA_ERR_SHAPE);
    selsa_proposal_mxnet_params pb = p;
    pb.n_scales = 2; /* 6 anchors != 9 */
    TH_FAILS(selsa_proposal_mxnet(&g_ctx, &rt, NULL, &c, &b, th_fx_f32(fx, "tiny_im_info"), &pb),
             SELSA_ERR_SHAPE);
    pb = p;
    pb.post_nms_top_n = 0;
    TH_FAILS(selsa_proposal_mxnet(&g_ctx, &rt, NULL, &c, &b, th_fx_f32(fx, "tiny_im_info"), &pb),
             SELSA_ERR_INVALID_ARG);
    selsa_tensor c_empty = c, b_empty = b;
    c_empty.w = 0, b_empty.w = 0;
    TH_FAILS(selsa_proposal_mxnet(&g_ctx, &rt, NULL, &c_empty, &b_empty,
                                  th_fx_f32(fx, "tiny_im_info"), &p),
             SELSA_ERR_SHAPE);
    /* N = 0: nothing to do */
    selsa_tensor c0 = c, b0 = b, r0 = selsa_tensor_view(r, 0, 5, 1, 1);
    c0.n = 0, b0.n = 0;
    TH_OK(selsa_proposal_mxnet(&g_ctx, &r0, NULL, &c0, &b0, NULL, &p));
}

/* ------------------------------------------------------------------------- mmdet RPN ---- */
static void run_rpn_case(th_fixture *fx, const char *lg, const char *dl, const char *wb,
                         const char *ws, float img_h, float img_w, int max_per_img,
                         const char *what) {
    selsa_tensor l = fx_tensor(fx, lg), d = fx_tensor(fx, dl);
    if (!l.data || !d.data) return;
    /* fixtures are (A, H, W): view as (1, A, H, W) */
    l = selsa_tensor_view(l.data, 1, l.n, l.c, l.h);
    d = selsa_tensor_view(d.data, 1, d.n, d.c, d.h);
    selsa_rpn_mmdet_params p = selsa_rpn_mmdet_default_params(max_per_img);
    float *boxes = malloc(sizeof(float) * 4 * max_per_img), *sc = malloc(sizeof(float) * max_per_img);
    int64_t n;
    size_t need = selsa_rpn_proposals_mmdet_scratch_bytes(l.c, l.h, l.w, &p);
    selsa_ctx ctx;
    TH_OK(selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, need, 1));
    double t = now_s();
    TH_OK(selsa_rpn_proposals_mmdet(&ctx, boxes, sc, &n, &l, &d, img_h, img_w, &p));
    t = now_s() - t;
    int64_t nw = th_fx_numel(fx, wb) / 4;
    TH_CHECK(n == nw, "%s: %lld proposals, want %lld", what, (long long)n, (long long)nw);
    char buf[128];
    if (n == nw) {
        /* float32 op-for-op decode as torch (exp in double both sides): tiny differences only */
        snprintf(buf, sizeof buf, "%s boxes", what);
        th_allclose(buf, boxes, th_fx_f32(fx, wb), 4 * n, 1e-4, 1e-6);
        snprintf(buf, sizeof buf, "%s scores", what);
        th_allclose(buf, sc, th_fx_f32(fx, ws), n, 0, 0);
    }
    TH_CHECK(ctx.scratch.used == 0 && ctx.scratch.peak <= need, "%s scratch", what);
    printf("  %s: %.2f ms\n", what, 1e3 * t);
    selsa_ctx_free(&ctx);
    free(boxes);
    free(sc);
}

static void test_rpn_mmdet(th_fixture *fx) {
    run_rpn_case(fx, "rpn_logits", "rpn_deltas", "rpn_boxes", "rpn_scores", 562, 1000, 300,
                 "mmdet RPN 36x63");
    run_rpn_case(fx, "rpn2_logits", "rpn2_deltas", "rpn2_boxes", "rpn2_scores", 60, 70, 600,
                 "mmdet RPN 4x5 (drops empty)");
    /* empty map: no proposals, no error */
    float dummy[4];
    int64_t n = -1;
    selsa_tensor l = selsa_tensor_view(dummy, 1, 12, 0, 5), d = selsa_tensor_view(dummy, 1, 48, 0, 5);
    selsa_rpn_mmdet_params p = selsa_rpn_mmdet_default_params(300);
    float boxes[4];
    TH_OK(selsa_rpn_proposals_mmdet(&g_ctx, boxes, NULL, &n, &l, &d, 100, 100, &p));
    TH_CHECK(n == 0, "empty map: 0 proposals");
    /* bad arguments */
    l.h = d.h = 1;
    TH_FAILS(selsa_rpn_proposals_mmdet(&g_ctx, boxes, NULL, &n, &l, &d, 0, 100, &p),
             SELSA_ERR_INVALID_ARG);
    p.max_per_img = 0;
    TH_FAILS(selsa_rpn_proposals_mmdet(&g_ctx, boxes, NULL, &n, &l, &d, 100, 100, &p),
             SELSA_ERR_INVALID_ARG);
    p = selsa_rpn_mmdet_default_params(300);
    selsa_tensor l2 = selsa_tensor_view(dummy, 2, 12, 1, 5);
    TH_FAILS(selsa_rpn_proposals_mmdet(&g_ctx, boxes, NULL, &n, &l2, &d, 100, 100, &p),
             SELSA_ERR_SHAPE);
}

/* ---------------------------------------------------------------- post-processing ---- */
/* fixture rows (cls, x1, y1, x2, y2, score, roi) */
static void check_dets(th_fixture *fx, const char *name, const selsa_detection *d, int64_t n,
                       double atol, const char *what) {
    const double *w = th_fx_f64(fx, name);
    int64_t nw = th_fx_numel(fx, name) / 7;
    if (!w) return;
    TH_CHECK(n == nw, "%s: %lld detections, want %lld", what, (long long)n, (long long)nw);
    if (n != nw) return;
    double *got = malloc(sizeof(double) * 7 * n);
    for (int64_t i = 0; i < n; i++) {
        double *g = got + 7 * i;
        g[0] = d[i].cls, g[1] = d[i].x1, g[2] = d[i].y1, g[3] = d[i].x2, g[4] = d[i].y2;
        g[5] = d[i].score, g[6] = d[i].roi;
    }
    th_allclose_f64(what, got, w, 7 * n, atol, 0);
    free(got);
}

static void test_official_post(th_fixture *fx) {
    selsa_tensor r = fx_tensor(fx, "off_rois"), s = fx_tensor(fx, "off_scores"),
                 d = fx_tensor(fx, "off_deltas");
    if (!r.data || !s.data || !d.data) return;
    selsa_detect_official_params p = selsa_detect_official_default_params();
    int64_t cap = r.n * 30, n;
    selsa_detection *dets = malloc(sizeof *dets * cap);
    size_t need = selsa_detect_postprocess_official_scratch_bytes(r.n, 31, true);
    selsa_ctx ctx;
    TH_OK(selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, need, 1));
    TH_OK(selsa_detect_postprocess_official(&ctx, dets, cap, &n, &r, &s, &d, 562, 1000, 1.5f, &p));
    /* float64 math on both sides, same operation order (measured max abs 5.7e-14: exp() ulps);
     * 1e-9 px is far below any decision the NMS could flip on */
    check_dets(fx, "off_dets", dets, n, 1e-9, "official post-processing (agnostic, ties at cut)");
    TH_CHECK(n > 300, "ties at the max_per_image cut are kept (%lld > 300)", (long long)n);
    TH_CHECK(ctx.scratch.used == 0 && ctx.scratch.peak <= need, "official scratch");
    selsa_ctx_free(&ctx);
    /* capacity too small */
    TH_FAILS(selsa_detect_postprocess_official(&g_ctx, dets, 10, &n, &r, &s, &d, 562, 1000, 1.5f,
                                               &p),
             SELSA_ERR_INVALID_ARG);
    /* class-specific */
    selsa_tensor r2 = fx_tensor(fx, "off2_rois"), s2 = fx_tensor(fx, "off2_scores"),
                 d2 = fx_tensor(fx, "off2_deltas");
    selsa_detect_official_params p2 = p;
    p2.class_agnostic = false, p2.score_thresh = 0.02f;
    TH_OK(selsa_detect_postprocess_official(&g_ctx, dets, cap, &n, &r2, &s2, &d2, 600, 800, 2.0f,
                                            &p2));
    check_dets(fx, "off2_dets", dets, n, 1e-9, "official post-processing (class-specific)");
    /* bad arguments */
    TH_FAILS(selsa_detect_postprocess_official(&g_ctx, dets, cap, &n, &r2, &s2, &d2, 600, 800,
                                               2.0f, &p),
             SELSA_ERR_SHAPE); /* agnostic needs 8 delta columns */
    TH_FAILS(selsa_detect_postprocess_official(&g_ctx, dets, cap, &n, &r, &s, &d, 562, 1000, 0.0f,
                                               &p),
             SELSA_ERR_INVALID_ARG);
    /* zero RoIs */
    selsa_tensor r0 = r, s0 = s, d0 = d;
    r0.n = s0.n = d0.n = 0;
    TH_OK(selsa_detect_postprocess_official(&g_ctx, dets, 0, &n, &r0, &s0, &d0, 562, 1000, 1.5f,
                                            &p));
    TH_CHECK(n == 0, "zero RoIs: zero detections");
    free(dets);
}

static void test_multiclass_nms(th_fixture *fx) {
    selsa_tensor b = fx_tensor(fx, "mc_boxes"), s = fx_tensor(fx, "mc_scores");
    if (!b.data || !s.data) return;
    selsa_multiclass_nms_params p = selsa_multiclass_nms_default_params();
    int64_t cap = s.n * 30, n;
    selsa_detection *dets = malloc(sizeof *dets * cap);
    size_t need = selsa_multiclass_nms_mmdet_scratch_bytes(s.n, 31);
    selsa_ctx ctx;
    TH_OK(selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, need, 1));
    TH_OK(selsa_multiclass_nms_mmdet(&ctx, dets, 100, &n, &b, &s, &p));
    /* bit-exact float32 reproduction; boxes are copied inputs */
    check_dets(fx, "mc_trick", dets, n, 0, "multiclass_nms (mmcv: offset trick)");
    TH_CHECK(ctx.scratch.used == 0 && ctx.scratch.peak <= need, "multiclass scratch");
    selsa_ctx_free(&ctx);
    p.mode = SELSA_BATCHED_NMS_OFFSET;
    TH_OK(selsa_multiclass_nms_mmdet(&g_ctx, dets, 100, &n, &b, &s, &p));
    check_dets(fx, "mc_trick", dets, n, 0, "multiclass_nms (forced offset trick)");
    p.mode = SELSA_BATCHED_NMS_EXACT;
    TH_OK(selsa_multiclass_nms_mmdet(&g_ctx, dets, 100, &n, &b, &s, &p));
    check_dets(fx, "mc_exact", dets, n, 0, "multiclass_nms (exact per class)");
    p.mode = SELSA_BATCHED_NMS_MMCV, p.max_num = -1, p.score_thr = 0.02f;
    TH_OK(selsa_multiclass_nms_mmdet(&g_ctx, dets, cap, &n, &b, &s, &p));
    check_dets(fx, "mc_trick_all", dets, n, 0, "multiclass_nms (no max_num)");
    TH_FAILS(selsa_multiclass_nms_mmdet(&g_ctx, dets, 5, &n, &b, &s, &p), SELSA_ERR_INVALID_ARG);

    selsa_tensor bs = fx_tensor(fx, "mcs_boxes");
    p = selsa_multiclass_nms_default_params();
    p.score_thr = 1e-3f;
    TH_OK(selsa_multiclass_nms_mmdet(&g_ctx, dets, 100, &n, &bs, &s, &p));
    check_dets(fx, "mcs_trick", dets, n, 0, "multiclass_nms (shared boxes)");

    /* the pair on which float32 offsets change the decision */
    selsa_tensor tb = fx_tensor(fx, "tr_boxes"), ts = fx_tensor(fx, "tr_scores");
    p = selsa_multiclass_nms_default_params();
    p.max_num = -1;
    TH_OK(selsa_multiclass_nms_mmdet(&g_ctx, dets, cap, &n, &tb, &ts, &p));
    check_dets(fx, "tr_trick", dets, n, 0, "offset trick reproduced bit for bit (mmcv mode)");
    p.mode = SELSA_BATCHED_NMS_EXACT;
    TH_OK(selsa_multiclass_nms_mmdet(&g_ctx, dets, cap, &n, &tb, &ts, &p));
    check_dets(fx, "tr_exact", dets, n, 0, "exact per-class NMS differs from the trick");

    /* bad arguments */
    selsa_tensor bb = b;
    bb.c = 8;
    TH_FAILS(selsa_multiclass_nms_mmdet(&g_ctx, dets, cap, &n, &bb, &s, &p), SELSA_ERR_SHAPE);
    p.mode = (selsa_batched_nms_mode)7;
    TH_FAILS(selsa_multiclass_nms_mmdet(&g_ctx, dets, cap, &n, &b, &s, &p), SELSA_ERR_INVALID_ARG);
    p = selsa_multiclass_nms_default_params();
    p.num_classes = 1;
    TH_FAILS(selsa_multiclass_nms_mmdet(&g_ctx, dets, cap, &n, &b, &s, &p), SELSA_ERR_INVALID_ARG);
    /* no candidate above the threshold */
    p = selsa_multiclass_nms_default_params();
    p.score_thr = 2.0f;
    TH_OK(selsa_multiclass_nms_mmdet(&g_ctx, dets, cap, &n, &b, &s, &p));
    TH_CHECK(n == 0, "no candidates: zero detections");
    free(dets);
}

int main(int argc, char **argv) {
    th_init(argc, argv, "boxes");
    if (selsa_ctx_init(&g_ctx, SELSA_BACKEND_CPU, 16u << 20, 0) != SELSA_OK) {
        printf("ctx init failed: %s\n", selsa_last_error());
        return 1;
    }
    test_anchors();
    test_argsort();
    th_fixture *fx = th_fixture_open(th_fixture_path("boxes.slfx"));
    if (!fx) {
        TH_CHECK(0, "fixture boxes.slfx missing: run tests/ref/gen_boxes.py <fixture dir>");
    } else {
        test_coding(fx);
        test_iou(fx);
        test_nms(fx);
        test_proposal_mxnet(fx);
        test_rpn_mmdet(fx);
        test_official_post(fx);
        test_multiclass_nms(fx);
        th_fixture_close(fx);
    }
    selsa_ctx_free(&g_ctx);
    return th_finish();
}
