/* selsa — the MMTracking SELSA detector (PyTorch model, mmtracking-selsa.md §1–§3), inference:
 * ResNet / ResNeXt DC5 backbone, ChannelMapper neck, RPN, RoIAlign, SelsaBBoxHead with two
 * 16-head SelsaAggregators, mmdet post-processing, and the test schedules.
 *
 * Layers of the API (as the official model, model_official.h):
 *   config   architecture + test parameters (presets R50, R101, X101-64x4d, the tiny CI config);
 *   model    parameters loaded from a selsa_weights state dict with the EXACT MMTracking keys
 *            ("detector." prefix), frozen BN folded at load, one persistent arena, immutable;
 *   runner   activations (arena sized by a measuring pass), the support-set cache and the
 *            post-processing buffers of one video stream; no allocation in the per-frame loop;
 *   schedule test_with_adaptive_stride (§1.6, offline: n_ref frames spread over the video,
 *            computed once per video) or ONLINE (past frames only: a bounded ring of the R most
 *            recent frames sampled every S frames).
 *
 * Per-frame math (§2.2–§2.5). For the key frame f with proposals P_f and the support set
 * S = refs ++ [f] (key LAST), M = Σ_{s∈S} |P_s| reference RoIs:
 *     x0 = shared_fcs.0(flatten(RoIAlign(F_f, P_f)))            (pre-ReLU, N = |P_f| rows)
 *     r0_s = shared_fcs.0(RoIAlign(F_s, P_s))  for s ∈ S        (r0_f = x0: same proposals)
 *     x = x0 + agg0(x0, r0);  r1 = shared_fcs.1(relu(r0));  x1 = shared_fcs.1(relu(x))
 *     x = x1 + agg1(x1, r1);  cls = fc_cls(relu(x)), reg = fc_reg(relu(x))
 *     agg(x, r) = fc(Attn_16heads(fc_embed(x), ref_fc_embed(r), ref_fc(r))), scale 1/sqrt(D/16)
 * The reference path never depends on the key frame, so per support frame s the runner caches
 * its "slot": K0 = ref_fc_embed0(r0_s), V0 = ref_fc0(r0_s), K1 = ref_fc_embed1(r1_s),
 * V1 = ref_fc1(r1_s) (each |P_s| × D). Reference frames are computed once per video; the key
 * frame's own slot is computed once per frame and appended last. The UNCACHED path recomputes
 * every support frame from its image and runs the head on all M rows at once (as MMTracking);
 * it exists to prove the cached path equal up to float rounding.
 *
 * Detections are reported with VID class indices 1..30 (selsa_detection.cls = mmdet label + 1,
 * the classes.h table order) and boxes in original-image pixels. */
#ifndef SELSA_MODEL_MMTRACK_H
#define SELSA_MODEL_MMTRACK_H

#include <stdbool.h>
#include <stdint.h>

#include "selsa/boxes.h"
#include "selsa/context.h"
#include "selsa/image.h"
#include "selsa/status.h"
#include "selsa/tensor.h"
#include "selsa/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ configuration ---------- */

typedef struct selsa_mmtrack_config {
    int depth;              /* 50 / 101 (informational) */
    int blocks[4];          /* Bottlenecks per stage: R50 {3,4,6,3}, R101/X101 {3,4,23,3} */
    int base_planes;        /* 64: stem channels; stage L planes = base·2^(L−1), out = 4·planes */
    int groups;             /* 1 (ResNet) or the ResNeXt cardinality (X101-64x4d: 64) */
    int base_width;         /* ResNeXt: conv2 width = floor(planes·base_width/64)·groups (4) */
    int neck_channels;      /* 512: ChannelMapper output, RPN feat channels, RoI channels */
    int fc_dim;             /* 1024: shared_fcs, aggregator width */
    int num_classes;        /* 30 foreground classes (fc_cls has num_classes + 1, bg LAST) */
    int agg_heads;          /* 16 attention blocks (head dim fc_dim/16, scale 1/sqrt of it) */
    int roi_size;           /* 7 */
    int roi_sampling_ratio; /* 2 */
    float spatial_scale;    /* 1/16 */
    double bn_eps;          /* 1e-5 */
    /* preprocessing (§1.4): mmcv imrescale to (scale_long, scale_short), mean/std, pad 16 */
    int scale_long, scale_short; /* (1000, 600); tiny (200, 128) */
    /* RPN test cfg (§1.2): nms_pre 6000, NMS 0.7, max 300, min_bbox_size 0 */
    selsa_rpn_mmdet_params rpn;  /* scales/ratios point into the arrays below */
    float anchor_scales[4];      /* (4, 8, 16, 32) */
    float anchor_ratios[3];      /* (0.5, 1, 2) */
    /* RCNN test cfg (§1.2): score > 1e-4, NMS 0.5, 100 per image (MMCV batched-NMS mode) */
    selsa_multiclass_nms_params rcnn;
    float rcnn_stds[4];          /* (0.2, 0.2, 0.2, 0.2), means 0 */
    /* schedules */
    int n_ref;              /* 14 adaptive reference frames (§1.6); tiny 4 */
    int online_ring;        /* online mode: ring capacity R (default 14) */
    int online_stride;      /* online mode: a frame joins the ring when index % S == 0 (10) */
} selsa_mmtrack_config;

/* Presets (pointers inside `rpn` refer to the struct's own arrays: call
 * selsa_mmtrack_config_fix_pointers after copying a config by value). */
void selsa_mmtrack_config_r50(selsa_mmtrack_config *c);
void selsa_mmtrack_config_r101(selsa_mmtrack_config *c);
void selsa_mmtrack_config_x101(selsa_mmtrack_config *c);   /* ResNeXt-101 64x4d */
/* The CI contract config: blocks {1,1,1,1}, base 8, neck 32, fc 64, 30 classes, scale
 * (200, 128), n_ref 4; groups 1 (ResNet) or, with resnext = true, groups 4 / base_width 32. */
void selsa_mmtrack_config_tiny(selsa_mmtrack_config *c, bool resnext);
/* By name: "r50", "r101", "x101", "tiny", "tiny-x" (SELSA_ERR_INVALID_ARG listing the names). */
selsa_status selsa_mmtrack_config_preset(selsa_mmtrack_config *c, const char *name);
void selsa_mmtrack_config_fix_pointers(selsa_mmtrack_config *c);
selsa_status selsa_mmtrack_config_validate(const selsa_mmtrack_config *c);

/* Every tensor of the MMTracking state dict for this config (exact keys, shapes; including
 * the int64 num_batches_tracked scalars with ndim 0), in state_dict() order. */
typedef void (*selsa_mmtrack_param_fn)(void *user, const char *name, int ndim, const int64_t *dims);
/* Infer the architecture of a state dict into c (starting from the R50 preset for the test
 * parameters): blocks per stage, base planes, groups/base_width (from layer1.0.conv2), neck
 * channels, fc_dim, num_classes. Fails like selsa_mmtrack_model_load on a non-SELSA dict. */
selsa_status selsa_mmtrack_config_from_weights(selsa_mmtrack_config *c, const selsa_weights *w);
void selsa_mmtrack_enum_params(const selsa_mmtrack_config *c, selsa_mmtrack_param_fn fn, void *user);

/* ------------------------------------------------------------------ model ------------------ */

typedef struct selsa_mmtrack_model selsa_mmtrack_model;

/* Build the model from a state dict (bare, or unwrapped from `state_dict`/`model` by the
 * weights layer). Every tensor is fetched by its exact key with its expected shape (missing:
 * SELSA_ERR_FORMAT, wrong shape: SELSA_ERR_SHAPE; both name the key); num_batches_tracked is
 * ignored; BN folded in double; unused tensors are warned about (prefixed with `what`).
 * A dict that is not an MMTracking SELSA checkpoint (a plain mmdet Faster R-CNN without
 * `detector.` / aggregator keys, an official MXNet model, ...) fails with SELSA_ERR_FORMAT and
 * a message saying what it looks like. `w` is only read (used flags are set); the model copies
 * what it needs. */
selsa_status selsa_mmtrack_model_load(selsa_mmtrack_model **out, const selsa_mmtrack_config *cfg,
                                      selsa_weights *w, const char *what);
selsa_status selsa_mmtrack_model_load_file(selsa_mmtrack_model **out,
                                           const selsa_mmtrack_config *cfg, const char *path);
void selsa_mmtrack_model_free(selsa_mmtrack_model *m);
const selsa_mmtrack_config *selsa_mmtrack_model_config(const selsa_mmtrack_model *m);
size_t selsa_mmtrack_model_param_bytes(const selsa_mmtrack_model *m);

/* ------------------------------------------------------------------ runner ----------------- */

typedef struct selsa_mmtrack_runner selsa_mmtrack_runner;

/* Seconds per phase, accumulated over the runner's life. */
typedef struct selsa_mmtrack_stats {
    double decode;      /* frame read callback + resize + normalise/pad */
    double backbone;    /* stem .. layer4 */
    double neck_rpn;    /* ChannelMapper, RPN convs, proposals */
    double head;        /* RoIAlign, shared_fcs, reference-path projections (slot) */
    double aggregation; /* key path: fc_embed, attention, fc, residual, shared_fcs.1, cls/reg */
    double post;        /* softmax, box decoding, rescale, multiclass NMS */
    int64_t frames;     /* slots computed (ref frames + key frames) */
    int64_t detections; /* frames detected */
} selsa_mmtrack_stats;

/* Optional observer of named intermediates of the frame being computed: "neck" (1, Cn, h, w),
 * "rpn_cls" (1, A, h, w) logits, "rpn_reg" (1, 4A, h, w), "shared_fc0" (P, D, 1, 1) pre-ReLU.
 * `frame` = the frame index. Tests/debugging only. */
typedef void (*selsa_mmtrack_debug_fn)(void *user, const char *name, int64_t frame,
                                       const selsa_tensor *t);

/* Output of one detected frame (pointers into the runner, valid until its next detection). */
typedef struct selsa_mmtrack_result {
    int64_t frame;                  /* key frame index */
    const selsa_tensor *proposals;  /* (P, 5, 1, 1) key RPN output [x1, y1, x2, y2, score],
                                       resized-image pixels, descending score */
    const selsa_tensor *cls_score;  /* (P, C+1, 1, 1) logits, background last */
    const selsa_tensor *bbox_pred;  /* (P, 4C, 1, 1) raw deltas (stds applied at decoding) */
    const selsa_detection *dets;    /* [n_dets] by descending score (mmdet multiclass_nms
                                       order), cls = VID class 1..C, original-image boxes */
    int64_t n_dets;
    const int64_t *support;         /* [n_support] reference frame indices (key not included;
                                       it is appended last) */
    int n_support;
    int img_h, img_w;               /* resized (unpadded) size */
    float scale_factor[4];          /* [w_s, h_s, w_s, h_s] float32 as mmdet */
} selsa_mmtrack_result;

/* A runner for one stream. max_support: largest number of reference frames a detection may
 * use (adaptive: n_ref; online: online_ring; <= 0 picks max(n_ref, online_ring)). The cache
 * holds (max_support + 1)·300 rows. ctx must outlive the runner; its scratch arena is grown
 * at reserve time when the ops need more. */
selsa_status selsa_mmtrack_runner_create(selsa_mmtrack_runner **out, const selsa_mmtrack_model *m,
                                         selsa_ctx *ctx, int max_support);
void selsa_mmtrack_runner_free(selsa_mmtrack_runner *r);
/* Size the arenas for original frames up to orig_h × orig_w (measuring pass; also done
 * automatically by the first frame that needs more). `uncached` also reserves the uncached
 * path (all support frames' RoI features at once: large at full size). */
selsa_status selsa_mmtrack_runner_reserve(selsa_mmtrack_runner *r, int orig_h, int orig_w,
                                          bool uncached);
void selsa_mmtrack_runner_set_debug(selsa_mmtrack_runner *r, selsa_mmtrack_debug_fn fn, void *user);
const selsa_mmtrack_stats *selsa_mmtrack_runner_stats(const selsa_mmtrack_runner *r);
void selsa_mmtrack_runner_reset_stats(selsa_mmtrack_runner *r);
/* Bytes held by the runner's arenas and cache plus ctx->scratch (memory report). */
size_t selsa_mmtrack_runner_bytes(const selsa_mmtrack_runner *r);

/* Low-level support-set control (the schedules use these):
 *   clear          empty the support set;
 *   push_ref       compute the slot of image `img` (frame index `frame`) and append it;
 *   push_copy      append a copy of support entry `i` (duplicate reference frames);
 *   drop_oldest    remove support entry 0 (ring eviction; rows are moved down, order kept);
 *   detect         detect `img` with the current support set plus itself appended last;
 *   push_key       append the key slot of the LAST detection to the support set (no
 *                  recomputation: its rows already sit after the support rows); allowed only
 *                  right after selsa_mmtrack_detect, optionally after one drop_oldest. */
void selsa_mmtrack_support_clear(selsa_mmtrack_runner *r);
int selsa_mmtrack_support_count(const selsa_mmtrack_runner *r);
/* Rows (reference RoIs) currently held by the support set. */
int64_t selsa_mmtrack_support_rows(const selsa_mmtrack_runner *r);
selsa_status selsa_mmtrack_support_push_ref(selsa_mmtrack_runner *r, int64_t frame,
                                            const selsa_image *img);
selsa_status selsa_mmtrack_support_push_copy(selsa_mmtrack_runner *r, int i);
selsa_status selsa_mmtrack_support_drop_oldest(selsa_mmtrack_runner *r);
selsa_status selsa_mmtrack_detect(selsa_mmtrack_runner *r, int64_t frame, const selsa_image *img,
                                  selsa_mmtrack_result *res);
selsa_status selsa_mmtrack_support_push_key(selsa_mmtrack_runner *r);
/* Uncached (MMTracking's computation): every support frame imgs[0..T) (refs in order, then
 * the key last, frames[] their indices) is recomputed from its image; the head runs on all
 * M rows. Does not touch the support set. */
selsa_status selsa_mmtrack_detect_uncached(selsa_mmtrack_runner *r, const selsa_image *const *imgs,
                                           const int64_t *frames, int T,
                                           selsa_mmtrack_result *res);

/* ------------------------------------------------------------------ schedules -------------- */

/* Adaptive reference indices (§1.6): refs[i] = round(i·stride), stride = (L−1)/(n−1) in double
 * and Python's round (half to even, i.e. rint), i = 0..n−1; n = 1 gives {0}. L >= 1, n >= 1. */
void selsa_mmtrack_adaptive_refs(int64_t L, int n, int64_t *refs);

typedef enum selsa_mmtrack_mode {
    SELSA_MMTRACK_ADAPTIVE = 0, /* offline test_with_adaptive_stride (MMTracking's protocol) */
    SELSA_MMTRACK_ONLINE = 1    /* past frames only, bounded ring */
} selsa_mmtrack_mode;

typedef struct selsa_mmtrack_schedule_opts {
    selsa_mmtrack_mode mode;
    int n_ref;            /* adaptive: reference frames (<= 0: config n_ref) */
    int ring;             /* online: ring capacity R (<= 0: config online_ring) */
    int stride;           /* online: sampling stride S (<= 0: config online_stride) */
    bool uncached;        /* recompute every support frame for every frame (proof path) */
} selsa_mmtrack_schedule_opts;

/* Decode frame `index` (random access for the adaptive refs) into img (buffer reused). */
typedef selsa_status (*selsa_mmtrack_read_fn)(void *user, int64_t index, selsa_image *img);
/* Called once per frame, in frame order, with that frame's detections. */
typedef selsa_status (*selsa_mmtrack_det_fn)(void *user, int64_t index,
                                             const selsa_mmtrack_result *res);

/* Run a schedule over a video of n_frames frames (frames read in order; the adaptive mode
 * also reads its n_ref frames once at the start). Online mode: frame f is detected with the
 * ring (the most recent R frames j < f with j % S == 0, oldest first) plus itself; then, if
 * f % S == 0, f enters the ring (evicting the oldest when full). Memory is independent of
 * the video length. */
selsa_status selsa_mmtrack_run_video(selsa_mmtrack_runner *r, int64_t n_frames,
                                     const selsa_mmtrack_schedule_opts *opts,
                                     selsa_mmtrack_read_fn read, void *read_user,
                                     selsa_mmtrack_det_fn on_det, void *det_user);

/* ------------------------------------------------------------------ initial weights -------- */

/* Fill `out` (an EMPTY dictionary; left empty on error) with every tensor of the state dict of
 * `cfg` (selsa_mmtrack_enum_params keys and shapes, PLAIN names, num_batches_tracked as int64
 * scalars), initialised as mmdet/mmcv initialise a new model (src/model/mmtrack_init.c lists
 * the rules: ChannelMapper and shared_fcs Xavier-uniform, RPN convs N(0, 0.01), fc_cls
 * N(0, 0.01), fc_reg N(0, 0.001), zero biases, aggregator linears PyTorch's nn.Linear default).
 * Backbone: copied from `imagenet` when given, a torchvision-style ResNet/ResNeXt state dict
 * (`conv1.weight`, `bn1.*`, `layer1.0.downsample.0.weight`, ..., optionally prefixed with
 * `backbone.` or `module.`), shapes checked (SELSA_ERR_SHAPE naming the tensor and both shapes),
 * a missing tensor SELSA_ERR_FORMAT naming it (a missing num_batches_tracked is 0), as is a
 * stem/layerN tensor this backbone lacks (a deeper network's file); other unused tensors (fc.*)
 * are listed in one warning; without it Kaiming-normal (fan_out, relu) convs and
 * identity batch-norm (weight 1, bias 0, mean 0, var 1). Deterministic in `seed` (each tensor
 * its own selsa_rng stream, so the heads do not depend on `imagenet`). `imagenet` is only read.
 * Write the result with selsa_weights_save_pth for a checkpoint mmtracking can load. */
selsa_status selsa_mmtrack_init_weights(const selsa_mmtrack_config *cfg, uint64_t seed,
                                        const selsa_weights *imagenet, selsa_weights *out);

#ifdef __cplusplus
}
#endif
#endif
