/* selsa — training of the MMTracking SELSA detector (mmtracking-selsa.md §1.1–§1.3, §2.1,
 * §2.3–§2.6): one training step on a key frame + reference frames (forward with saved
 * activations, MaxIoUAssigner / RandomSampler targets, the four mmdet losses, backward through
 * the whole detector), PyTorch SGD with weight decay on every trainable tensor, gradient-norm
 * clipping (35) and the mmcv linear warmup.
 *
 * Parameters. The trainer owns an MMTracking model (model_mmtrack.h) whose backbone convs carry
 * the eval-mode BN folded in: W' = s·W, b' = beta − mean·s, s = gamma/sqrt(var + eps) per output
 * channel. The TRAINABLE tensors are kept as master copies under their exact state-dict keys
 * ("detector.backbone.layer2.0.conv1.weight", "detector.backbone.layer2.0.bn1.weight", ...):
 *   - backward gives ∂L/∂W' and ∂L/∂b' of the folded conv; then
 *       ∂L/∂W = s·∂L/∂W',  ∂L/∂beta = ∂L/∂b',
 *       ∂L/∂gamma = (Σ_j ∂L/∂W'_oj · W_oj − mean_o · ∂L/∂b'_o) / sqrt(var_o + eps);
 *   - norm_cfg BN(requires_grad=True) + norm_eval=True (§1.1): BN statistics stay frozen but
 *     BN weight/bias of layer2..layer4 ARE trainable (they get gradients and weight decay);
 *   - SGD updates the masters, then the folded model weights are rewritten (sync).
 * Frozen (frozen_stages=1): backbone conv1/bn1 and layer1: no gradient, no update, no backward
 * run, no saved activations (the backward stops at layer2's input).
 *
 * Step (§2.1): the T frames (key first, T = 2 or 3; in training the key frame is NOT a
 * reference) run through backbone + neck as one batch. The RPN runs on every frame: the key
 * frame's outputs give the RPN losses and (unless injected) up to 600 training proposals; each
 * reference frame gives up to 300 test-cfg proposals (no gradient through the proposal choice).
 * The sampled key RoIs and all reference RoIs go through RoIAlign, the SELSA bbox head, and
 * the RCNN losses are computed on the key RoIs only. Gradients flow into the reference frames
 * through the aggregators' keys/values, the shared FCs, RoIAlign, neck and backbone.
 *
 * Memory: activations and backward temporaries come from one arena sized by a measuring pass
 * (reserve); a step allocates nothing and the arena's high-water mark is stable.
 *
 * Determinism hooks: injected RPN anchor labels (sampling of 256 anchors) and injected sampled
 * RoIs with labels (RCNN sampling); otherwise the trainer's seeded selsa_rng decides. */
#ifndef SELSA_TRAIN_MMTRACK_H
#define SELSA_TRAIN_MMTRACK_H

#include <stdbool.h>
#include <stdint.h>

#include "selsa/context.h"
#include "selsa/image.h"
#include "selsa/model_mmtrack.h"
#include "selsa/rng.h"
#include "selsa/status.h"
#include "selsa/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { SELSA_MMTRACK_TRAIN_MAX_FRAMES = 3, SELSA_MMTRACK_MAX_LR_STEPS = 16 };

/* mmdet MaxIoUAssigner (ignore_iof_thr −1). */
typedef struct selsa_max_iou_assigner {
    float pos_iou;           /* max IoU >= → positive (assigned to the argmax gt) */
    float neg_iou;           /* 0 <= max IoU < → negative */
    float min_pos_iou;       /* low-quality matching: a gt's best boxes need IoU >= this */
    bool match_low_quality;  /* run the low-quality matching step */
    bool gt_max_assign_all;  /* every box tied at a gt's max IoU is assigned (else the first) */
} selsa_max_iou_assigner;

/* mmdet RandomSampler (neg_pos_ub −1). */
typedef struct selsa_random_sampler {
    int num;                 /* 256 */
    float pos_fraction;      /* RPN 0.5, RCNN 0.25: at most int(num·pos_fraction) positives */
    bool add_gt_as_proposals;/* RCNN: gt boxes prepended to the proposals (always positive) */
} selsa_random_sampler;

typedef struct selsa_mmtrack_train_config {
    selsa_max_iou_assigner rpn_assigner;  /* (0.7, 0.3, 0.3, low-quality on, assign all) */
    selsa_random_sampler rpn_sampler;     /* (256, 0.5, no gt) */
    int allowed_border;                   /* 0: anchors not inside the image are ignored */
    float rpn_beta;                       /* SmoothL1 beta 1/9 */
    int train_proposals;                  /* rpn_proposal max_per_img 600 (nms_pre 6000, 0.7) */
    selsa_max_iou_assigner rcnn_assigner; /* (0.5, 0.5, 0.5, low-quality on, assign all) */
    selsa_random_sampler rcnn_sampler;    /* (256, 0.25, add gt) */
    float rcnn_beta;                      /* SmoothL1 beta 1.0 */
    /* optimiser (§1.3) */
    float lr;                             /* 0.01 */
    float momentum;                       /* 0.9 */
    float wd;                             /* 1e-4 on every trainable tensor (no paramwise cfg) */
    float grad_clip;                      /* 35: max global L2 norm; <= 0: no clipping */
    int64_t lr_steps[SELSA_MMTRACK_MAX_LR_STEPS]; /* update counts where lr *= lr_factor */
    int n_lr_steps;
    float lr_factor;                      /* 0.1 */
    int64_t warmup_steps;                 /* 500 */
    float warmup_ratio;                   /* 1/3 */
    uint64_t seed;                        /* seeds both samplers */
} selsa_mmtrack_train_config;

void selsa_mmtrack_train_config_default(selsa_mmtrack_train_config *c);

/* lr of update `step` (0-based): base·factor^(#lr_steps <= step) · (ratio + (1 − ratio)·step/
 * warmup) while step < warmup (mmcv linear warmup: lr·(1 − (1 − step/W)(1 − ratio))). */
double selsa_mmtrack_lr_at(const selsa_mmtrack_train_config *c, int64_t step);

/* One training sample. gt boxes in RESIZED-image pixels (x1, y1, x2, y2; mmdet, no +1), labels
 * 0..num_classes−1. Injections may be NULL. */
typedef struct selsa_mmtrack_train_sample {
    const selsa_image *frames[SELSA_MMTRACK_TRAIN_MAX_FRAMES]; /* key first; same resized size */
    int n_frames;                 /* 2..3 */
    const float *gt_boxes;        /* (n_gt, 4) */
    const int32_t *gt_labels;     /* (n_gt) */
    int n_gt;
    /* A·h·w in mmdet anchor order (y·w + x)·A + a: 1 sampled positive, 0 sampled negative,
     * −1 not sampled; a positive must be an assigner positive */
    const int32_t *rpn_labels;
    /* sampled key RoIs (n_rois, 5) [batch (ignored), x1, y1, x2, y2] and their labels 0..C
     * (C = background); n_rois <= rcnn_sampler.num. The regression gt of a positive RoI is the
     * highest-IoU gt box of its label (first on ties). */
    const float *rcnn_rois;
    const int32_t *rcnn_labels;
    int n_rois;
    const int32_t *rcnn_gt_inds;  /* (n_rois) assigned gt of each positive RoI, or NULL */
    /* reference RoIs (n_ref_rois, 5) [frame 1..n_frames−1, x1, y1, x2, y2] replacing the test-cfg
     * RPN proposals of the reference frames (n_ref_rois <= (n_frames − 1)·rpn.max_per_img), or
     * NULL. Proposals carry no gradient; injecting them holds every decision fixed (FD tests). */
    const float *ref_rois;
    int n_ref_rois;
} selsa_mmtrack_train_sample;

typedef struct selsa_mmtrack_losses {
    double rpn_cls;   /* sigmoid BCE over sampled anchors / (#pos + #neg) */
    double rpn_bbox;  /* SmoothL1(1/9) over positive anchors / (#pos + #neg) */
    double cls;       /* softmax CE over the sampled RoIs / #RoIs */
    double bbox;      /* SmoothL1(1.0) class-specific, positive RoIs / #RoIs */
    double total;
    int n_rpn_pos, n_rpn_neg, n_pos_rois, n_rois;
} selsa_mmtrack_losses;

/* One trainable tensor under its exact state-dict key. */
typedef struct selsa_mmtrack_param {
    char name[160];
    int ndim;               /* state-dict ndim (convs 4, linear weights 2, vectors 1) */
    int64_t dims[4];
    int64_t numel;
    float *data;            /* master value */
    float *grad;            /* accumulated ∂L/∂data since the last zero_grad */
    float *buf;             /* PyTorch SGD momentum buffer */
} selsa_mmtrack_param;

typedef struct selsa_mmtrack_trainer selsa_mmtrack_trainer;

/* Builds the model from `w` (exact MMTracking keys) plus the masters. ctx must outlive it. */
selsa_status selsa_mmtrack_trainer_create(selsa_mmtrack_trainer **out,
                                          const selsa_mmtrack_config *cfg,
                                          const selsa_mmtrack_train_config *tc, selsa_weights *w,
                                          selsa_ctx *ctx);
void selsa_mmtrack_trainer_free(selsa_mmtrack_trainer *t);

/* Size the activation arena (and ctx->scratch) for resized frames of H × W (measuring pass);
 * done automatically when a sample needs more. */
selsa_status selsa_mmtrack_trainer_reserve(selsa_mmtrack_trainer *t, int H, int W, int n_frames,
                                           int max_gt);
size_t selsa_mmtrack_trainer_act_bytes(const selsa_mmtrack_trainer *t);
size_t selsa_mmtrack_trainer_act_peak(const selsa_mmtrack_trainer *t);

int selsa_mmtrack_trainer_n_params(const selsa_mmtrack_trainer *t);
selsa_mmtrack_param *selsa_mmtrack_trainer_param(selsa_mmtrack_trainer *t, int i);
/* NULL when `name` is not a trainable tensor (frozen or unknown). */
selsa_mmtrack_param *selsa_mmtrack_trainer_find(selsa_mmtrack_trainer *t, const char *name);
const selsa_mmtrack_model *selsa_mmtrack_trainer_model(const selsa_mmtrack_trainer *t);

/* Rewrite the model's folded weights from the masters (after editing param->data by hand). */
void selsa_mmtrack_trainer_sync(selsa_mmtrack_trainer *t);
void selsa_mmtrack_trainer_zero_grad(selsa_mmtrack_trainer *t);
/* grad *= factor for every tensor. MMTracking trains on 8 GPUs × 1 image with DDP, which
 * AVERAGES the per-GPU gradients: after accumulating n key images call this with 1/n before
 * selsa_mmtrack_trainer_sgd_step (the clip then sees the averaged norm, as in DDP). */
void selsa_mmtrack_trainer_scale_grads(selsa_mmtrack_trainer *t, float factor);

/* Forward + losses (+ backward): gradients are ADDED to param->grad (accumulation over several
 * key images = several calls between zero_grad and step). NaN/Inf loss or gradient:
 * SELSA_ERR_NUMERIC naming the loss or the parameter. */
selsa_status selsa_mmtrack_trainer_forward_backward(selsa_mmtrack_trainer *t,
                                                    const selsa_mmtrack_train_sample *s,
                                                    bool backward, selsa_mmtrack_losses *out);
/* Global L2 norm of the gradients (double accumulation, fixed order) → *norm_out (pre-clip,
 * may be NULL); clip (coef = max_norm/(norm + 1e-6) when < 1, torch clip_grad_norm_); PyTorch
 * SGD with lr = selsa_mmtrack_lr_at(step count) and weight decay on every tensor; sync; step
 * count + 1. A non-finite gradient: SELSA_ERR_NUMERIC naming the tensor, nothing updated. */
selsa_status selsa_mmtrack_trainer_sgd_step(selsa_mmtrack_trainer *t, double *norm_out);
int64_t selsa_mmtrack_trainer_steps(const selsa_mmtrack_trainer *t);
/* Resume support: set the update count (the lr schedule position) and reseed the RPN/RCNN
 * samplers' generator (the run driver reseeds per sample from (seed, epoch, position) so a
 * resumed run draws exactly what an uninterrupted one does). */
void selsa_mmtrack_trainer_set_steps(selsa_mmtrack_trainer *t, int64_t steps);
void selsa_mmtrack_trainer_seed_sampler(selsa_mmtrack_trainer *t, uint64_t seed, uint64_t stream);

/* Decisions of the last forward (valid until the next one): RPN labels (A·h·w), sampled RoIs
 * (n, 5) and their labels (n). */
const int32_t *selsa_mmtrack_trainer_last_rpn_labels(const selsa_mmtrack_trainer *t, int64_t *n);
const float *selsa_mmtrack_trainer_last_rois(const selsa_mmtrack_trainer *t, const int32_t **labels,
                                             int *n);
/* Reference RoIs of the last forward (n, 5) [frame, x1, y1, x2, y2]. */
const float *selsa_mmtrack_trainer_last_ref_rois(const selsa_mmtrack_trainer *t, int64_t *n);

/* ---------------------------------------------------------------- targets (targets_mmtrack.c) */

/* MaxIoUAssigner.assign_wrt_overlaps on boxes (n, 4) vs gt (n_gt, 4), mmdet IoU (no +1):
 * assigned[i] = −1 ignore, 0 negative, k + 1 positive for gt k; valid (n, NULL = all): invalid
 * boxes are not assigned (−1) and take no part in the low-quality matching. max_iou (n) or NULL.
 * tmp: (n + n_gt) floats + n_gt·n floats (selsa_mmtrack_assign_tmp_floats). No gt: every valid
 * box 0. */
int64_t selsa_mmtrack_assign_tmp_floats(int64_t n, int n_gt);
void selsa_mmtrack_assign(const float *boxes, int64_t n, const uint8_t *valid, const float *gt,
                          int n_gt, const selsa_max_iou_assigner *a, int32_t *assigned,
                          float *max_iou, float *tmp);
/* RandomSampler on an assignment: positives (assigned > 0) beyond int(num·pos_fraction) and
 * negatives (assigned == 0) beyond num − #sampled positives are dropped uniformly at random
 * (partial Fisher–Yates with rng). Writes the sampled indices pos first (pos[0..*n_pos)), then
 * neg (neg[0..*n_neg)), in the random order torch.randperm would give them. tmp: n int32. */
void selsa_mmtrack_sample(const int32_t *assigned, int64_t n, const selsa_random_sampler *s,
                          selsa_rng *rng, int32_t *pos, int *n_pos, int32_t *neg, int *n_neg,
                          int32_t *tmp);
/* Inside flags (mmdet anchor_inside_flags): x1 >= −b, y1 >= −b, x2 < W + b, y2 < H + b. */
void selsa_mmtrack_anchor_inside(const float *anchors, int64_t n, int img_h, int img_w,
                                 int allowed_border, uint8_t *inside);

#ifdef __cplusplus
}
#endif
#endif
