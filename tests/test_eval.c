/* ImageNet VID evaluator: hand-computed cases (expected APs derived by hand below), randomised
 * and real-.mat cases against tests/ref/_vid_eval_ref.py (fixtures by tests/ref/gen_eval.py),
 * the MAT-v5 reader on the official file and on corrupt inputs, the motion IoU from tracks, the
 * detection text parser and the JSON writer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "fixture.h"
#include "harness.h"
#include "selsa/eval.h"
#include "selsa/matv5.h"

#define DATA_DIR "../shared/data"
#define MAT_PATH DATA_DIR "/official/imagenet_vid_groundtruth_motion_iou.mat"
#define VAL_LIST DATA_DIR "/ImageSets/VID_val_videos.txt"

/* All comparisons with the Python reference: 1e-9 absolute (the acceptance criterion); the
 * measured difference is ~1e-16 (same operations in double, only np.sum's pairwise order
 * differs). */
#define REF_TOL 1e-9
/* Hand values are exact rationals; double rounding of a few operations stays below 1e-12. */
#define HAND_TOL 1e-12

typedef struct obj { int cls, track; double b[4], m; } obj;
typedef struct drow { long long id; int cls; double s, b[4]; } drow;

/* frames: counts[f] objects each, ids 1.. unless ids given */
static void build_gt(selsa_vid_gt *gt, int nf, const long long *ids, const int *counts,
                     const obj *o) {
    selsa_vid_gt_init(gt);
    int k = 0;
    for (int f = 0; f < nf; f++) {
        TH_OK(selsa_vid_gt_add_frame(gt, ids[f], 0, f));
        for (int j = 0; j < counts[f]; j++, k++) {
            TH_OK(selsa_vid_gt_add_object(gt, o[k].cls, o[k].track, o[k].b[0], o[k].b[1],
                                          o[k].b[2], o[k].b[3]));
            gt->objects[gt->n_objects - 1].motion_iou = o[k].m;
        }
    }
}

static void build_dets(selsa_vid_dets *d, int n, const drow *r) {
    selsa_vid_dets_init(d);
    for (int i = 0; i < n; i++)
        TH_OK(selsa_vid_dets_add(d, r[i].id, r[i].cls, r[i].s, r[i].b[0], r[i].b[1], r[i].b[2],
                                 r[i].b[3]));
}

static void expect_ap(const char *what, const double *ap, int c, double want) {
    TH_CHECK(fabs(ap[c - 1] - want) <= HAND_TOL, "%s: class %d AP %.15g, want %.15g", what, c,
             ap[c - 1], want);
}

/* Case A — duplicates and a score tie.
 * Frame 1: gt A, B (class 1, 100x100, thr 0.5). d1 (0.9) = A: TP; d2 (0.9) = A again: A is
 * taken, B does not overlap: FP; d3 (0.8) = B: TP. tp 1,1,2 fp 0,1,1 rec .5,.5,1 prec 1,.5,2/3;
 * ladder 1,2/3,2/3 -> AP1 = .5*1 + .5*2/3 = 5/6.
 * Frame 2: gt C (class 2). e1 (0.5) far away: FP; e2 (0.5) = C: TP. Stable tie rule: input order
 * FP, TP -> rec 0,1 prec 0,.5 -> AP2 = 0.5 (mAP 2/3); with the two lines swapped TP, FP ->
 * AP2 = 1 (mAP 11/12). */
static void test_hand_ties(void) {
    long long ids[] = {1, 2};
    int counts[] = {2, 1};
    obj o[] = {{1, -1, {0, 0, 99, 99}, NAN}, {1, -1, {200, 0, 299, 99}, NAN},
               {2, -1, {0, 0, 99, 99}, NAN}};
    drow r[] = {{1, 1, .9, {0, 0, 99, 99}}, {1, 1, .9, {0, 0, 99, 99}},
                {1, 1, .8, {200, 0, 299, 99}}, {2, 2, .5, {500, 500, 599, 599}},
                {2, 2, .5, {0, 0, 99, 99}}};
    selsa_vid_gt gt;
    selsa_vid_dets d;
    selsa_vid_eval_result res;
    build_gt(&gt, 2, ids, counts, o);
    build_dets(&d, 5, r);
    TH_OK(selsa_vid_eval(&gt, &d, NULL, &res));
    TH_CHECK(!res.has_motion, "no motion values -> no motion evaluation with default opts");
    expect_ap("ties", res.ap, 1, 5.0 / 6.0);
    expect_ap("ties", res.ap, 2, 0.5);
    expect_ap("ties", res.ap, 3, -1.0);
    TH_CHECK(fabs(res.map - 2.0 / 3.0) <= HAND_TOL, "ties mAP %.15g", res.map);
    selsa_vid_dets_free(&d);
    drow r2[] = {r[0], r[1], r[2], r[4], r[3]};
    build_dets(&d, 5, r2);
    TH_OK(selsa_vid_eval(&gt, &d, NULL, &res));
    expect_ap("ties swapped", res.ap, 2, 1.0);
    TH_CHECK(fabs(res.map - 11.0 / 12.0) <= HAND_TOL, "swapped mAP %.15g", res.map);
    selsa_vid_dets_free(&d);
    selsa_vid_gt_free(&gt);
}

/* Case B — small-object thresholds.
 * gt [0,0,9,9]: w = h = 10, thr = 100/400 = 0.25; det [0,0,9,32]: IoU 100/330 = 0.303 -> TP
 * (a 0.5 threshold would reject it): AP3 = 1.
 * gt [0,0,19,19]: thr = 400/900 = 0.444; det (0.6) [0,0,19,45]: IoU 400/920 = 0.435 -> FP;
 * det (0.4) [0,0,19,41]: IoU 400/840 = 0.476 -> TP: rec 0,1 prec 0,.5 -> AP4 = 0.5.
 * gt [0,0,99,99]: thr 0.5; det (0.3) [0,0,99,200]: IoU 10000/20100 -> FP; det (0.2)
 * [0,0,99,199]: IoU exactly 0.5 >= thr -> TP: AP5 = 0.5. mAP = 2/3. */
static void test_hand_small(void) {
    long long ids[] = {3, 4, 6};
    int counts[] = {1, 1, 1};
    obj o[] = {{3, -1, {0, 0, 9, 9}, NAN}, {4, -1, {0, 0, 19, 19}, NAN},
               {5, -1, {0, 0, 99, 99}, NAN}};
    drow r[] = {{3, 3, .7, {0, 0, 9, 32}}, {4, 4, .6, {0, 0, 19, 45}}, {4, 4, .4, {0, 0, 19, 41}},
                {6, 5, .3, {0, 0, 99, 200}}, {6, 5, .2, {0, 0, 99, 199}}};
    selsa_vid_gt gt;
    selsa_vid_dets d;
    selsa_vid_eval_result res;
    build_gt(&gt, 3, ids, counts, o);
    build_dets(&d, 5, r);
    TH_OK(selsa_vid_eval(&gt, &d, NULL, &res));
    expect_ap("small", res.ap, 3, 1.0);
    expect_ap("small", res.ap, 4, 0.5);
    expect_ap("small", res.ap, 5, 0.5);
    TH_CHECK(fabs(res.map - 2.0 / 3.0) <= HAND_TOL, "small mAP %.15g", res.map);
    selsa_vid_dets_free(&d);
    selsa_vid_gt_free(&gt);
}

/* Case C — motion ranges. Frames: 1: G1 (c1, miou .95) [0,0,99,99], G2 (c1, .5) [200,0,299,99];
 * 2: empty (dummy 0.0); 3: G3 (c2, .8) [0,0,99,99], G4 (c1, exactly .7) [300,300,399,399].
 * Dets: a f1 c1 .9 =G1; b f1 c1 .8 =G2; c f1 c1 .7 overlaps nothing; d f2 c1 .6; e f3 c2 .5 =G3;
 *       f f3 c1 .4 =G4; g f3 c3 .3 on G3 (wrong class).
 * Overall: class 1 a T b T c F d F f T (npos 3): prec 1,1,2/3,1/2,3/5 -> AP1 = 1/3+1/3+1/3*0.6
 *   = 13/15; AP2 = 1; class 3 has no gt -> -1; mAP 14/15. Range "all" is identical.
 * Loaded values .95 .5 0 .8 .7: empty_weight all 1, fast 3/5, medium 2/5, slow 1/5.
 * fast (ignored G1, G3): a matches ignored G1 -> neither; b T; c: ovmax_ig = ovmax_nig = 0 ->
 *   fp = 1 ignored / 2 gt = .5; d: empty frame -> fp .6; f T (0.7 is inside [0, 0.7]);
 *   npos1 = 2: tp 0,1,1,1,2 fp 0,0,.5,1.1,1.1 -> AP1 = .5*1 + .5*(2/3.1) = .5 + 1/3.1;
 *   class 2 npos 0 -> -1; g: ovmax_ig 1 > ovmax_nig 0 -> fp 0 (class 3 excluded anyway).
 * medium (ignored G1, G2): a, b neither; c: ovmax_ig 0 > ovmax_nig -1 -> fp 0; d fp .4; f T
 *   (0.7 also inside [0.7, 0.9]); npos1 = 1: AP1 = 1/1.4; e T: AP2 = 1; mAP (1/1.4+1)/2.
 * slow (ignored G2, G3, G4): a T; b neither; c fp 1/2; d fp .2; f neither: AP1 = 1; mAP 1. */
static void test_hand_motion(void) {
    long long ids[] = {1, 2, 3};
    int counts[] = {2, 0, 2};
    obj o[] = {{1, -1, {0, 0, 99, 99}, .95}, {1, -1, {200, 0, 299, 99}, .5},
               {2, -1, {0, 0, 99, 99}, .8}, {1, -1, {300, 300, 399, 399}, .7}};
    drow r[] = {{1, 1, .9, {0, 0, 99, 99}}, {1, 1, .8, {200, 0, 299, 99}},
                {1, 1, .7, {600, 600, 699, 699}}, {2, 1, .6, {0, 0, 99, 99}},
                {3, 2, .5, {0, 0, 99, 99}}, {3, 1, .4, {300, 300, 399, 399}},
                {3, 3, .3, {0, 0, 99, 99}}};
    selsa_vid_gt gt;
    selsa_vid_dets d;
    selsa_vid_eval_result res;
    build_gt(&gt, 3, ids, counts, o);
    build_dets(&d, 7, r);
    selsa_vid_eval_opts opts;
    selsa_vid_eval_opts_default(&opts);
    TH_OK(selsa_vid_eval(&gt, &d, &opts, &res));
    TH_CHECK(res.has_motion, "motion evaluated");
    expect_ap("motion overall", res.ap, 1, 13.0 / 15.0);
    expect_ap("motion overall", res.ap, 2, 1.0);
    expect_ap("motion overall", res.ap, 3, -1.0);
    TH_CHECK(fabs(res.map - 14.0 / 15.0) <= HAND_TOL, "overall mAP %.15g", res.map);
    const double ew[4] = {1.0, 0.6, 0.4, 0.2};
    const double ap1[4] = {13.0 / 15.0, 0.5 + 1 / 3.1, 1 / 1.4, 1.0};
    const double ap2[4] = {1.0, -1.0, 1.0, -1.0};
    const double map[4] = {14.0 / 15.0, 0.5 + 1 / 3.1, (1 / 1.4 + 1) / 2, 1.0};
    const int64_t npos1[4] = {3, 2, 1, 1};
    for (int m = 0; m < 4; m++) {
        const char *nm = selsa_vid_range_name(m);
        TH_CHECK(fabs(res.empty_weight[m] - ew[m]) <= HAND_TOL, "%s empty_weight %.15g", nm,
                 res.empty_weight[m]);
        expect_ap(nm, res.motion_ap[m], 1, ap1[m]);
        expect_ap(nm, res.motion_ap[m], 2, ap2[m]);
        expect_ap(nm, res.motion_ap[m], 3, -1.0);
        TH_CHECK(fabs(res.motion_map[m] - map[m]) <= HAND_TOL, "%s mAP %.15g want %.15g", nm,
                 res.motion_map[m], map[m]);
        TH_CHECK(res.motion_npos[m][0] == npos1[m], "%s npos1 %lld", nm,
                 (long long)res.motion_npos[m][0]);
    }
    /* output: table and JSON */
    size_t need = selsa_vid_eval_format(&res, NULL, 0);
    char *txt = malloc(need + 1);
    TH_CHECK(selsa_vid_eval_format(&res, txt, need + 1) == need && strstr(txt, "airplane") &&
                 strstr(txt, "slow"), "table:\n%s", txt);
    free(txt);
    char path[256];
    snprintf(path, sizeof path, "%s/eval_out_%d.json", th_fixture_dir(), (int)getpid());
    TH_OK(selsa_vid_eval_write_json(&res, path));
    FILE *f = fopen(path, "rb");
    char buf[16384] = {0};
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    TH_CHECK(n > 0 && strstr(buf, "\"mAP_fast\": 0.82258064516129") && strstr(buf, "\"zebra\": -1"),
             "json content");
    unlink(path);
    TH_FAILS(selsa_vid_eval_write_json(&res, "/nonexistent_dir/x.json"), SELSA_ERR_IO);
    /* motion requested but a value is missing */
    gt.objects[1].motion_iou = NAN;
    TH_FAILS(selsa_vid_eval(&gt, &d, &opts, &res), SELSA_ERR_INVALID_ARG);
    selsa_vid_dets_free(&d);
    selsa_vid_gt_free(&gt);
}

/* Motion IoU from tracks, hand values: track 1 at frames 0,1,2 ([0,0,9,9], [5,0,14,9] IoU 1/3,
 * [100,100,109,109] IoU 0) and 15 (isolated); track 2 at 0 and 10 (|dt| = 10 counts, IoU 1/3);
 * track 3 at 0 and 11 (excluded); an object without track; track 1 again in another video. */
static void test_hand_tracks(void) {
    selsa_vid_gt gt;
    selsa_vid_gt_init(&gt);
    struct { int video, index; int n; obj o[3]; } fr[] = {
        {0, 0, 3, {{1, 1, {0, 0, 9, 9}, 0}, {1, 2, {20, 20, 29, 29}, 0}, {1, 3, {40, 40, 49, 49}, 0}}},
        {0, 1, 1, {{1, 1, {5, 0, 14, 9}, 0}}},
        {0, 2, 1, {{1, 1, {100, 100, 109, 109}, 0}}},
        {0, 10, 1, {{1, 2, {25, 20, 34, 29}, 0}}},
        {0, 11, 1, {{1, 3, {45, 40, 54, 49}, 0}}},
        {0, 15, 2, {{1, 1, {0, 0, 9, 9}, 0}, {1, -1, {0, 0, 9, 9}, 0}}},
        {1, 1, 1, {{1, 1, {0, 0, 9, 9}, 0}}},
    };
    for (int f = 0; f < 7; f++) {
        TH_OK(selsa_vid_gt_add_frame(&gt, f + 1, fr[f].video, fr[f].index));
        for (int j = 0; j < fr[f].n; j++) {
            const obj *o = &fr[f].o[j];
            TH_OK(selsa_vid_gt_add_object(&gt, o->cls, o->track, o->b[0], o->b[1], o->b[2], o->b[3]));
        }
    }
    TH_OK(selsa_vid_motion_from_tracks(&gt));
    const double want[10] = {1. / 6, 1. / 3, 1.0, 1. / 6, 5e-11, 1. / 3, 1.0, 1.0, 1.0, 1.0};
    double got[10];
    for (int i = 0; i < 10; i++) got[i] = gt.objects[i].motion_iou;
    th_allclose_f64("motion from tracks (hand)", got, want, 10, 1e-16, 1e-14);
    /* duplicate (video, frame_index) */
    TH_OK(selsa_vid_gt_add_frame(&gt, 99, 0, 15));
    TH_FAILS(selsa_vid_motion_from_tracks(&gt), SELSA_ERR_INVALID_ARG);
    TH_CHECK(strstr(selsa_last_error(), "frame 15 of video 0") != NULL, "message: %s",
             selsa_last_error());
    selsa_vid_gt_free(&gt);
}

/* ------------------------------------------------------------------ fixture cases --------- */

static bool load_case(th_fixture *fx, selsa_vid_gt *gt, selsa_vid_dets *d, bool set_motion) {
    int64_t F = th_fx_numel(fx, "gt_count"), M = th_fx_numel(fx, "gt_cls"),
            N = th_fx_numel(fx, "det_cls");
    const int64_t *fr = th_fx_i64(fx, "gt_frame"), *cnt = th_fx_i64(fx, "gt_count"),
                  *cls = th_fx_i64(fx, "gt_cls"), *trk = th_fx_i64(fx, "gt_track"),
                  *dfr = th_fx_i64(fx, "det_frame"), *dcl = th_fx_i64(fx, "det_cls");
    const double *box = th_fx_f64(fx, "gt_box"), *mot = th_fx_f64(fx, "gt_motion"),
                 *ds = th_fx_f64(fx, "det_score"), *db = th_fx_f64(fx, "det_box");
    if (!fr || !cnt || !cls || !trk || !dfr || !dcl || !box || !mot || !ds || !db) return false;
    selsa_vid_gt_init(gt);
    selsa_vid_dets_init(d);
    int64_t k = 0;
    for (int64_t f = 0; f < F; f++) {
        TH_OK(selsa_vid_gt_add_frame(gt, fr[3 * f], (int32_t)fr[3 * f + 1], (int32_t)fr[3 * f + 2]));
        for (int64_t j = 0; j < cnt[f]; j++, k++) {
            TH_OK(selsa_vid_gt_add_object(gt, (int32_t)cls[k], (int32_t)trk[k], box[4 * k],
                                          box[4 * k + 1], box[4 * k + 2], box[4 * k + 3]));
            if (set_motion) gt->objects[k].motion_iou = mot[k];
        }
    }
    TH_CHECK(k == M, "object count %lld vs %lld", (long long)k, (long long)M);
    for (int64_t i = 0; i < N; i++)
        TH_OK(selsa_vid_dets_add(d, dfr[i], (int32_t)dcl[i], ds[i], db[4 * i], db[4 * i + 1],
                                 db[4 * i + 2], db[4 * i + 3]));
    return true;
}

static double max_diff(const double *a, const double *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

static void compare_result(const char *what, th_fixture *fx, const selsa_vid_eval_result *r) {
    char name[128];
    snprintf(name, sizeof name, "%s overall AP", what);
    th_allclose_f64(name, r->ap, th_fx_f64(fx, "exp_ap"), 30, REF_TOL, 0);
    TH_CHECK(fabs(r->map - th_fx_scalar(fx, "exp_map")) <= REF_TOL, "%s mAP %.17g vs %.17g", what,
             r->map, th_fx_scalar(fx, "exp_map"));
    const int64_t *npos = th_fx_i64(fx, "exp_npos");
    for (int c = 0; c < 30; c++) TH_CHECK(r->npos[c] == npos[c], "%s npos[%d]", what, c);
    TH_CHECK(r->has_motion, "%s: motion evaluated", what);
    const double *ap = th_fx_f64(fx, "exp_ap_motion"), *map = th_fx_f64(fx, "exp_map_motion"),
                 *ew = th_fx_f64(fx, "exp_ew");
    const int64_t *mnpos = th_fx_i64(fx, "exp_npos_motion");
    double worst = max_diff(r->ap, th_fx_f64(fx, "exp_ap"), 30);
    for (int m = 0; m < 4; m++) {
        snprintf(name, sizeof name, "%s %s AP", what, selsa_vid_range_name(m));
        th_allclose_f64(name, r->motion_ap[m], ap + 30 * m, 30, REF_TOL, 0);
        worst = fmax(worst, max_diff(r->motion_ap[m], ap + 30 * m, 30));
        TH_CHECK(fabs(r->motion_map[m] - map[m]) <= REF_TOL, "%s %s mAP %.17g vs %.17g", what,
                 selsa_vid_range_name(m), r->motion_map[m], map[m]);
        TH_CHECK(r->empty_weight[m] == ew[m], "%s %s empty_weight %.17g vs %.17g", what,
                 selsa_vid_range_name(m), r->empty_weight[m], ew[m]);
        for (int c = 0; c < 30; c++)
            TH_CHECK(r->motion_npos[m][c] == mnpos[30 * m + c], "%s %s npos[%d]", what,
                     selsa_vid_range_name(m), c);
    }
    printf("  %s: mAP %.4f fast %.4f medium %.4f slow %.4f; max |C - ref| = %.3g\n", what, r->map,
           r->motion_map[1], r->motion_map[2], r->motion_map[3], worst);
}

/* Ground truth as detections: AP 1 for every class with gt, in every range. */
static void check_gt_as_dets(const char *what, const selsa_vid_gt *gt) {
    selsa_vid_dets d;
    selsa_vid_dets_init(&d);
    for (int64_t f = 0; f < gt->n_frames; f++)
        for (int64_t k = 0; k < gt->frames[f].count; k++) {
            const selsa_vid_gt_object *o = &gt->objects[gt->frames[f].first + k];
            TH_OK(selsa_vid_dets_add(&d, gt->frames[f].frame_id, o->cls, 1.0, o->box[0], o->box[1],
                                     o->box[2], o->box[3]));
        }
    selsa_vid_eval_result r;
    TH_OK(selsa_vid_eval(gt, &d, NULL, &r));
    bool ok = r.has_motion && fabs(r.map - 1.0) < 1e-15;
    for (int m = 0; m < 4; m++) {
        ok = ok && fabs(r.motion_map[m] - 1.0) < 1e-15;
        for (int c = 0; c < 30; c++)
            ok = ok && (r.motion_ap[m][c] == 1.0 || (r.motion_ap[m][c] == -1.0 &&
                                                      r.motion_npos[m][c] == 0));
    }
    TH_CHECK(ok, "%s: gt as detections gives mAP %.17g / %.17g %.17g %.17g %.17g", what, r.map,
             r.motion_map[0], r.motion_map[1], r.motion_map[2], r.motion_map[3]);
    selsa_vid_dets_free(&d);
}

static void test_random(const char *file, bool tracks) {
    th_fixture *fx = th_fixture_open(th_fixture_path(file));
    if (!fx) {
        TH_CHECK(0, "fixture %s missing (run tests/ref/gen_eval.py)", file);
        return;
    }
    selsa_vid_gt gt;
    selsa_vid_dets d;
    if (load_case(fx, &gt, &d, !tracks)) {
        if (tracks) {
            TH_OK(selsa_vid_motion_from_tracks(&gt));
            double *got = malloc((size_t)gt.n_objects * sizeof *got);
            for (int64_t i = 0; i < gt.n_objects; i++) got[i] = gt.objects[i].motion_iou;
            /* same operations in the same order: equal to the last bit */
            th_allclose_f64("motion IoU from tracks vs reference", got,
                            th_fx_f64(fx, "gt_motion"), gt.n_objects, 0, 0);
            free(got);
        }
        selsa_vid_eval_result r;
        TH_OK(selsa_vid_eval(&gt, &d, NULL, &r));
        TH_CHECK(r.n_dets_ignored == 5, "%s: 5 detections in frames without gt entry (%lld)", file,
                 (long long)r.n_dets_ignored);
        compare_result(file, fx, &r);
        /* text round trip: the official format has 4/2 decimals; the fixture values are already
         * rounded that way, so the evaluation is unchanged */
        char path[256];
        snprintf(path, sizeof path, "%s/eval_dets_%d.txt", th_fixture_dir(), (int)getpid());
        TH_OK(selsa_vid_dets_write_txt(&d, path));
        selsa_vid_dets d2;
        selsa_vid_dets_init(&d2);
        TH_OK(selsa_vid_dets_read_txt(&d2, path));
        unlink(path);
        TH_CHECK(d2.n == d.n, "round trip count %lld vs %lld", (long long)d2.n, (long long)d.n);
        selsa_vid_eval_result r2;
        TH_OK(selsa_vid_eval(&gt, &d2, NULL, &r2));
        TH_CHECK(memcmp(r2.ap, r.ap, sizeof r.ap) == 0 &&
                     memcmp(r2.motion_ap, r.motion_ap, sizeof r.motion_ap) == 0,
                 "text round trip changes the result");
        selsa_vid_dets_free(&d2);
        check_gt_as_dets(file, &gt);
        /* duplicate frame id */
        selsa_vid_gt_frame save = gt.frames[1];
        gt.frames[1].frame_id = gt.frames[0].frame_id;
        TH_FAILS(selsa_vid_eval(&gt, &d, NULL, &r), SELSA_ERR_INVALID_ARG);
        gt.frames[1] = save;
    }
    selsa_vid_gt_free(&gt);
    selsa_vid_dets_free(&d);
    th_fixture_close(fx);
}

/* ------------------------------------------------------------------ real data ------------- */

static bool have_data(void) {
    return access(MAT_PATH, R_OK) == 0 && access(VAL_LIST, R_OK) == 0;
}

static void test_val_videos(void) {
    if (!have_data()) {
        th_skip("VID_val_videos.txt: " DATA_DIR " absent");
        return;
    }
    selsa_vid_val_videos v;
    TH_OK(selsa_vid_val_videos_read(VAL_LIST, &v));
    TH_CHECK(v.n == 555 && v.total_frames == 176126, "555 videos, 176126 frames (%lld, %lld)",
             (long long)v.n, (long long)v.total_frames);
    int64_t i = selsa_vid_val_videos_find(&v, "val/ILSVRC2015_val_00007010");
    TH_CHECK(i >= 0 && v.items[i].start == 6912 && v.items[i].num_frames == 144, "00007010");
    TH_CHECK(selsa_vid_val_videos_find(&v, "ILSVRC2015_val_00007010") == i, "name without val/");
    TH_CHECK(selsa_vid_val_videos_find(&v, "val/nope") == -1, "unknown name");
    TH_CHECK(selsa_vid_val_videos_of_frame(&v, 6912) == i &&
                 selsa_vid_val_videos_of_frame(&v, 6912 + 143) == i &&
                 selsa_vid_val_videos_of_frame(&v, 6911) == i - 1,
             "frame -> video");
    int64_t last = selsa_vid_val_videos_find(&v, "val/ILSVRC2015_val_00177001");
    TH_CHECK(last == 554 && v.items[last].start == 175982 &&
                 selsa_vid_val_videos_of_frame(&v, 176126) == 554 &&
                 selsa_vid_val_videos_of_frame(&v, 176127) == -1, "last video");
    selsa_vid_val_videos_free(&v);
}

static void test_mat_real(void) {
    if (!have_data()) {
        th_skip("official .mat: " DATA_DIR " absent");
        return;
    }
    selsa_mat_cells c;
    TH_OK(selsa_mat_read_cells(MAT_PATH, "motion_iou", &c));
    TH_CHECK(c.n_cells == 176126 && c.rows == 176126 && c.cols == 1, "176126x1 cells (%lld)",
             (long long)c.n_cells);
    TH_CHECK(c.n_empty == 4046, "4046 empty cells (%lld)", (long long)c.n_empty);
    TH_CHECK(c.n_values == 273505, "273505 values (%lld)", (long long)c.n_values);
    /* range counts over the loaded values: dummy 0.0 per empty cell (vid-eval.md §6.1) */
    int64_t cnt[4] = {0}, loaded = 0, ones = 0;
    double vmin = 1, vmax = 0;
    for (int64_t i = 0; i < c.n_cells; i++) {
        int64_t k = c.offsets[i + 1] - c.offsets[i];
        for (int64_t j = 0; j < (k ? k : 1); j++) {
            double x = k ? c.values[c.offsets[i] + j] : 0.0;
            loaded++;
            for (int m = 0; m < 4; m++)
                cnt[m] += x >= selsa_vid_motion_ranges[m][0] && x <= selsa_vid_motion_ranges[m][1];
            if (k) {
                vmin = fmin(vmin, x);
                vmax = fmax(vmax, x);
                ones += x == 1.0;
            }
        }
    }
    TH_CHECK(loaded == 277551 && cnt[0] == 277551, "277551 loaded values");
    TH_CHECK(cnt[1] == 75593 && cnt[2] == 98216 && cnt[3] == 103742,
             "fast/medium/slow %lld %lld %lld (want 75593 98216 103742)", (long long)cnt[1],
             (long long)cnt[2], (long long)cnt[3]);
    TH_CHECK(vmin > 0 && vmin < 1e-11 && vmax == 1.0 && ones == 2178, "min %g max %g ones %lld",
             vmin, vmax, (long long)ones);
    /* 00007010 (6912, 144 frames): 7 objects per frame, 1000 fast, 8 medium, 0 slow (§9) */
    int64_t f7 = 0, m7 = 0, s7 = 0;
    bool seven = true;
    for (int64_t i = 6911; i < 6911 + 144; i++) {
        seven = seven && c.offsets[i + 1] - c.offsets[i] == 7;
        for (int64_t j = c.offsets[i]; j < c.offsets[i + 1]; j++) {
            double x = c.values[j];
            f7 += x <= 0.7;
            m7 += x >= 0.7 && x <= 0.9;
            s7 += x >= 0.9;
        }
    }
    TH_CHECK(seven && f7 == 1000 && m7 == 8 && s7 == 0, "00007010: %lld fast %lld medium %lld slow",
             (long long)f7, (long long)m7, (long long)s7);
    /* every value equals what scipy.io.loadmat reads */
    th_fixture *fx = th_fixture_open(th_fixture_path("eval_mat_cells.slfx"));
    if (fx) {
        const int64_t *off = th_fx_i64(fx, "offsets");
        const double *val = th_fx_f64(fx, "values");
        TH_CHECK(off && th_fx_numel(fx, "offsets") == c.n_cells + 1 &&
                     memcmp(off, c.offsets, (size_t)(c.n_cells + 1) * 8) == 0,
                 "cell offsets equal scipy's");
        TH_CHECK(val && th_fx_numel(fx, "values") == c.n_values &&
                     memcmp(val, c.values, (size_t)c.n_values * 8) == 0,
                 "all 273505 values bit-identical to scipy's");
        th_fixture_close(fx);
    } else {
        th_skip("eval_mat_cells.slfx absent (scipy missing when fixtures were generated)");
    }
    selsa_mat_cells_free(&c);
    TH_FAILS(selsa_mat_read_cells(MAT_PATH, "nope", &c), SELSA_ERR_FORMAT);
}

static void test_real_case(void) {
    if (!have_data()) {
        th_skip("real .mat case: " DATA_DIR " absent");
        return;
    }
    th_fixture *fx = th_fixture_open(th_fixture_path("eval_real.slfx"));
    if (!fx) {
        th_skip("eval_real.slfx absent (scipy missing when fixtures were generated)");
        return;
    }
    selsa_vid_gt gt;
    selsa_vid_dets d;
    selsa_vid_val_videos v;
    TH_OK(selsa_vid_val_videos_read(VAL_LIST, &v));
    if (load_case(fx, &gt, &d, false)) {
        /* frame ids from the video list: start(name) + frame index */
        const int64_t *vn = th_fx_i64(fx, "video_number");
        bool ids_ok = true;
        for (int64_t f = 0; f < gt.n_frames; f++) {
            char name[64];
            snprintf(name, sizeof name, "val/ILSVRC2015_val_%08lld", (long long)vn[f]);
            int64_t i = selsa_vid_val_videos_find(&v, name);
            ids_ok = ids_ok && i >= 0 &&
                     v.items[i].start + gt.frames[f].frame_index == gt.frames[f].frame_id;
        }
        TH_CHECK(ids_ok, "global ids = start(video) + frame index");
        TH_OK(selsa_vid_motion_load_official(&gt, MAT_PATH, VAL_LIST));
        double *got = malloc((size_t)gt.n_objects * sizeof *got);
        for (int64_t i = 0; i < gt.n_objects; i++) got[i] = gt.objects[i].motion_iou;
        th_allclose_f64("real motion values (C reader + mapping vs scipy)", got,
                        th_fx_f64(fx, "gt_motion"), gt.n_objects, 0, 0);
        free(got);
        selsa_vid_eval_result r;
        TH_OK(selsa_vid_eval(&gt, &d, NULL, &r));
        compare_result("real .mat case", fx, &r);
        check_gt_as_dets("real .mat case", &gt);
        /* mapping errors: an object more than its cell holds; a wrong frame index */
        TH_OK(selsa_vid_gt_add_frame(&gt, 6912, 0, 5));
        TH_FAILS(selsa_vid_motion_load_official(&gt, MAT_PATH, VAL_LIST), SELSA_ERR_INVALID_ARG);
        TH_CHECK(strstr(selsa_last_error(), "ILSVRC2015_val_00007010") != NULL, "message: %s",
                 selsa_last_error());
        gt.frames[gt.n_frames - 1].frame_index = 0;
        TH_FAILS(selsa_vid_motion_load_official(&gt, MAT_PATH, VAL_LIST), SELSA_ERR_INVALID_ARG);
        TH_CHECK(strstr(selsa_last_error(), "0 objects but its motion IoU cell holds 7") != NULL,
                 "message: %s", selsa_last_error());
    }
    selsa_vid_val_videos_free(&v);
    selsa_vid_gt_free(&gt);
    selsa_vid_dets_free(&d);
    th_fixture_close(fx);
}

/* ------------------------------------------------------------------ MAT robustness -------- */

typedef struct bytes { uint8_t *p; size_t n, cap; } bytes;
static void put(bytes *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put_u32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void pad8(bytes *b) {
    static const uint8_t z[8] = {0};
    put(b, z, (8 - b->n % 8) % 8);
}
static void put_elem(bytes *b, uint32_t type, const void *data, uint32_t n) {
    put_u32(b, type);
    put_u32(b, n);
    put(b, data, n);
    pad8(b);
}

/* A numeric matrix element (flags, dims k x 1, empty name, real part) into b. */
static void put_numeric(bytes *b, uint32_t mxclass, uint32_t mitype, const void *data, int k,
                        int elsize, bool small) {
    bytes m = {0};
    uint32_t flags[2] = {mxclass, 0};
    int32_t dims[2] = {k, 1};
    put_elem(&m, 6, flags, 8);
    put_elem(&m, 5, dims, 8);
    put_elem(&m, 1, "", 0);
    if (small) {
        put_u32(&m, mitype | (uint32_t)(k * elsize) << 16);
        uint8_t d4[4] = {0};
        memcpy(d4, data, (size_t)(k * elsize));
        put(&m, d4, 4);
    } else {
        put_elem(&m, mitype, data, (uint32_t)(k * elsize));
    }
    put_elem(b, 14, m.p, (uint32_t)m.n);
    free(m.p);
}

/* MAT file with variable "motion_iou" = {[0.25; 0.5]; []; uint8 1 (small element);
 * int16 [3; -4]; single 0.75}, optionally compressed. */
static bytes make_mat(bool compressed) {
    bytes cell = {0}, arr = {0}, file = {0};
    uint32_t flags[2] = {1, 0};
    int32_t dims[2] = {5, 1};
    put_elem(&arr, 6, flags, 8);
    put_elem(&arr, 5, dims, 8);
    put_elem(&arr, 1, "motion_iou", 10);
    double d2[2] = {0.25, 0.5};
    put_numeric(&arr, 6, 9, d2, 2, 8, false);
    put_u32(&arr, 14);
    put_u32(&arr, 0); /* empty cell */
    uint8_t one = 1;
    put_numeric(&arr, 6, 2, &one, 1, 1, true);
    int16_t i16[2] = {3, -4};
    put_numeric(&arr, 10, 3, i16, 2, 2, false);
    float f = 0.75f;
    put_numeric(&arr, 7, 7, &f, 1, 4, false);
    put_elem(&cell, 14, arr.p, (uint32_t)arr.n);
    char hdr[128];
    memset(hdr, ' ', 116);
    memcpy(hdr, "MATLAB 5.0 MAT-file, test", 25);
    memset(hdr + 116, 0, 8);
    hdr[124] = 0x00;
    hdr[125] = 0x01;
    hdr[126] = 'I';
    hdr[127] = 'M';
    put(&file, hdr, 128);
    if (compressed) {
        uLongf zn = compressBound(cell.n);
        uint8_t *z = malloc(zn);
        compress(z, &zn, cell.p, cell.n);
        put_u32(&file, 15);
        put_u32(&file, (uint32_t)zn);
        put(&file, z, zn);
        free(z);
    } else {
        put(&file, cell.p, cell.n);
    }
    free(cell.p);
    free(arr.p);
    return file;
}

static void test_mat_synthetic(void) {
    for (int comp = 0; comp < 2; comp++) {
        bytes f = make_mat(comp);
        selsa_mat_cells c;
        TH_OK(selsa_mat_parse_cells(f.p, (int64_t)f.n, "motion_iou", "synthetic", &c));
        const double want[6] = {0.25, 0.5, 1.0, 3.0, -4.0, 0.75};
        const int64_t woff[6] = {0, 2, 2, 3, 5, 6};
        TH_CHECK(c.n_cells == 5 && c.n_empty == 1 && c.n_values == 6 &&
                     memcmp(c.offsets, woff, sizeof woff) == 0 &&
                     memcmp(c.values, want, sizeof want) == 0,
                 "synthetic %s MAT parsed", comp ? "compressed" : "plain");
        selsa_mat_cells_free(&c);
        /* every truncation fails cleanly with a message */
        int bad = 0;
        for (size_t n = 0; n < f.n; n++) {
            selsa_status s = selsa_mat_parse_cells(f.p, (int64_t)n, "motion_iou", "trunc", &c);
            if (s == SELSA_OK || (s != SELSA_ERR_FORMAT) || selsa_last_error()[0] == '\0') bad++;
            selsa_mat_cells_free(&c);
        }
        TH_CHECK(bad == 0, "%d truncations of the %s file not reported as FORMAT errors", bad,
                 comp ? "compressed" : "plain");
        /* single-byte corruption anywhere: never crashes, OK or a clean error */
        int crashes = 0;
        for (size_t i = 128; i < f.n; i++) {
            uint8_t save = f.p[i];
            f.p[i] ^= 0x5a;
            selsa_status s = selsa_mat_parse_cells(f.p, (int64_t)f.n, "motion_iou", "flip", &c);
            if (s != SELSA_OK && selsa_last_error()[0] == '\0') crashes++;
            selsa_mat_cells_free(&c);
            f.p[i] = save;
        }
        TH_CHECK(crashes == 0, "byte flips give errors with messages");
        free(f.p);
    }
    /* hostile inner size: a compressed element whose inflated tag claims 1 GiB */
    bytes h = make_mat(false);
    bytes evil = {0};
    put(&evil, h.p, 128);
    uint8_t inner[16];
    uint32_t t[2] = {14, 0x7ffffff0u};
    memcpy(inner, t, 8);
    memset(inner + 8, 0, 8);
    uLongf zn = compressBound(16);
    uint8_t z[64];
    compress(z, &zn, inner, 16);
    put_u32(&evil, 15);
    put_u32(&evil, (uint32_t)zn);
    put(&evil, z, zn);
    selsa_mat_cells c;
    TH_FAILS(selsa_mat_parse_cells(evil.p, (int64_t)evil.n, NULL, "evil", &c), SELSA_ERR_FORMAT);
    TH_CHECK(strstr(selsa_last_error(), "claims to inflate") != NULL, "message: %s",
             selsa_last_error());
    /* zlib data error */
    evil.p[128 + 8 + 2] ^= 0xff;
    evil.p[128 + 8 + 3] ^= 0xff;
    TH_FAILS(selsa_mat_parse_cells(evil.p, (int64_t)evil.n, NULL, "evil", &c), SELSA_ERR_FORMAT);
    TH_CHECK(strstr(selsa_last_error(), "zlib") != NULL, "zlib message: %s", selsa_last_error());
    /* big-endian / not a MAT file */
    h.p[126] = 'M';
    h.p[127] = 'I';
    TH_FAILS(selsa_mat_parse_cells(h.p, (int64_t)h.n, NULL, "be", &c), SELSA_ERR_UNSUPPORTED);
    memcpy(h.p, "HELLO", 5);
    TH_FAILS(selsa_mat_parse_cells(h.p, (int64_t)h.n, NULL, "junk", &c), SELSA_ERR_FORMAT);
    TH_FAILS(selsa_mat_read_cells("/nonexistent.mat", NULL, &c), SELSA_ERR_IO);
    free(h.p);
    free(evil.p);
    /* the real file truncated */
    if (have_data()) {
        FILE *f = fopen(MAT_PATH, "rb");
        uint8_t *buf = malloc(2279797);
        size_t n = fread(buf, 1, 2279797, f);
        fclose(f);
        TH_CHECK(n == 2279797, "real .mat size %zu", n);
        TH_FAILS(selsa_mat_parse_cells(buf, (int64_t)n - 1000, "motion_iou", "real-truncated", &c),
                 SELSA_ERR_FORMAT);
        TH_CHECK(strstr(selsa_last_error(), "element of type 15") != NULL, "message: %s",
                 selsa_last_error());
        buf[200000] ^= 0xff; /* corrupt the deflate stream */
        selsa_status s = selsa_mat_parse_cells(buf, (int64_t)n, "motion_iou", "real-corrupt", &c);
        TH_CHECK(s == SELSA_ERR_FORMAT, "corrupt stream: %s (%s)", selsa_status_name(s),
                 selsa_last_error());
        selsa_mat_cells_free(&c);
        free(buf);
    }
}

/* ------------------------------------------------------------------ parsers --------------- */

static void expect_parse_error(const char *text, const char *needle) {
    selsa_vid_dets d;
    selsa_vid_dets_init(&d);
    TH_FAILS(selsa_vid_dets_parse_txt(&d, text, strlen(text), "dets.txt"), SELSA_ERR_FORMAT);
    TH_CHECK(strstr(selsa_last_error(), needle) != NULL, "message \"%s\" lacks \"%s\"",
             selsa_last_error(), needle);
    selsa_vid_dets_free(&d);
}

static void test_det_parser(void) {
    selsa_vid_dets d;
    selsa_vid_dets_init(&d);
    const char *ok = "1 3 0.9500 1.00 2.00 30.50 40.25\n\n7\t30 0.1 -1 -2 3 4\r\n12 1 1 0 0 1 1";
    TH_OK(selsa_vid_dets_parse_txt(&d, ok, strlen(ok), "ok.txt"));
    TH_CHECK(d.n == 3 && d.items[0].frame_id == 1 && d.items[0].cls == 3 &&
                 d.items[0].score == 0.95 && d.items[0].box[3] == 40.25 && d.items[1].cls == 30 &&
                 d.items[1].box[0] == -1 && d.items[2].frame_id == 12,
             "parsed values");
    selsa_vid_dets_free(&d);
    expect_parse_error("1 3 0.9 1 2 3 4\n1 3 0.9 1 2 3\n", "dets.txt:2: expected 7 fields");
    expect_parse_error("1 3 0.9 1 2 3 4 5\n", "dets.txt:1: expected 7 fields");
    expect_parse_error("1.5 3 0.9 1 2 3 4\n", "dets.txt:1: field 1 (frame_id)");
    expect_parse_error("1 3 abc 1 2 3 4\n", "dets.txt:1: field 3 (score)");
    expect_parse_error("1 3 0.9 1 2 nan 4\n", "field 6 (x2)");
    expect_parse_error("\n\n1 31 0.9 1 2 3 4\n", "dets.txt:3: class 31 out of range");
    expect_parse_error("0 1 0.9 1 2 3 4\n", "dets.txt:1: frame id 0");
    char path[256];
    snprintf(path, sizeof path, "%s/eval_bad_%d.txt", th_fixture_dir(), (int)getpid());
    FILE *f = fopen(path, "wb");
    fputs("5 1 0.5 0 0 10 10\n5 1 0.5 0 0 10 x10\n", f);
    fclose(f);
    TH_FAILS(selsa_vid_dets_read_txt(&d, path), SELSA_ERR_FORMAT);
    TH_CHECK(strstr(selsa_last_error(), ":2: field 7 (y2)") != NULL, "file message: %s",
             selsa_last_error());
    selsa_vid_dets_free(&d);
    /* VID_val_videos.txt format errors */
    f = fopen(path, "wb");
    fputs("val/a 1 0 10\nval/b 12 0 5\n", f);
    fclose(f);
    selsa_vid_val_videos v;
    TH_FAILS(selsa_vid_val_videos_read(path, &v), SELSA_ERR_FORMAT);
    TH_CHECK(strstr(selsa_last_error(), ":2: start id 12, expected 11") != NULL, "message: %s",
             selsa_last_error());
    f = fopen(path, "wb");
    fputs("val/a 1 0 10\nval/b 11 0\n", f);
    fclose(f);
    TH_FAILS(selsa_vid_val_videos_read(path, &v), SELSA_ERR_FORMAT);
    f = fopen(path, "wb");
    fputs("val/a 1 0 10\nval/a 11 0 3\n", f);
    fclose(f);
    TH_FAILS(selsa_vid_val_videos_read(path, &v), SELSA_ERR_FORMAT);
    TH_CHECK(strstr(selsa_last_error(), "listed twice") != NULL, "dup message");
    unlink(path);
    TH_FAILS(selsa_vid_dets_read_txt(&d, "/nonexistent/dets.txt"), SELSA_ERR_IO);
    /* bad arguments */
    selsa_vid_gt gt;
    selsa_vid_gt_init(&gt);
    TH_FAILS(selsa_vid_gt_add_object(&gt, 1, 0, 0, 0, 1, 1), SELSA_ERR_INVALID_ARG);
    TH_OK(selsa_vid_gt_add_frame(&gt, 1, 0, 0));
    TH_FAILS(selsa_vid_gt_add_object(&gt, 0, 0, 0, 0, 1, 1), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_vid_gt_add_object(&gt, 1, 0, 0, 0, INFINITY, 1), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_vid_gt_add_frame(&gt, 0, 0, 0), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_vid_dets_add(&d, 1, 31, 0.5, 0, 0, 1, 1), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_vid_dets_add(&d, 1, 1, NAN, 0, 0, 1, 1), SELSA_ERR_INVALID_ARG);
    /* empty inputs */
    selsa_vid_eval_result r;
    TH_OK(selsa_vid_eval(&gt, &d, NULL, &r));
    TH_CHECK(r.map == -1.0 && r.n_frames == 1, "no gt objects: mAP -1");
    selsa_vid_gt_free(&gt);
    TH_CHECK(selsa_vid_class_from_wnid("n02391049") == 30 &&
                 strcmp(selsa_vid_class_name(10), "domestic_cat") == 0 &&
                 selsa_vid_class_from_wnid("n00000000") == 0 &&
                 selsa_vid_class_from_name("red_panda") == 21, "class table");
}

int main(int argc, char **argv) {
    th_init(argc, argv, "eval");
    test_hand_ties();
    test_hand_small();
    test_hand_motion();
    test_hand_tracks();
    test_det_parser();
    test_mat_synthetic();
    test_random("eval_rand_tracks.slfx", true);
    test_random("eval_rand_reversed.slfx", false);
    test_random("eval_rand_values.slfx", false);
    test_val_videos();
    test_mat_real();
    test_real_case();
    return th_finish();
}
