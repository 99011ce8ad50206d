/* selsa — training of the official SELSA detector (official-selsa.md §8): one training step on
 * a key frame + reference frames (forward with saved activations, targets, OHEM, the four
 * losses, backward through the whole detector), the MXNet SGD optimiser and its LR schedule.
 *
 * Parameters. The trainer owns an official model (model_official.h) whose backbone convs carry
 * the frozen BN folded in: W' = s·W, b' = beta − mean·s with s = gamma/sqrt(var + eps) per
 * output channel (§2). The TRAINABLE tensors are kept as "master" copies under their official
 * (unfolded) names and shapes (`res3a_branch2a_weight`, `fc_new_1_bias`, ...):
 *   - the backward computes ∂L/∂W' for the folded conv; ∂L/∂W = s·∂L/∂W' (per output channel);
 *   - SGD (with weight decay on the ORIGINAL W) updates the master W; then the folded model
 *     weight is rewritten W' = s·W (selsa_official_trainer_sync). The folded bias b' never
 *     changes (BN frozen, backbone convs have no bias).
 *   - bbox_pred is trained in NORMALISED-delta units (the model's de-normalising load step is
 *     undone by the sync): the trainer's internal model is therefore not an inference model.
 * Frozen (no gradient, no update, no backward run): conv1, res2*, every BN (FIXED_PARAMS).
 * Backward stops at res3's input.
 *
 * Memory: activations and backward temporaries come from one arena sized by a measuring pass
 * for a given scaled frame size (reserve); a step allocates nothing and the arena's high-water
 * mark does not change between steps. Gradients and momenta live next to the masters.
 *
 * Determinism hooks (selsa_official_train_sample): injected RPN anchor labels, injected OHEM
 * keep set, injected RoIs per frame (proposal layer skipped); otherwise the trainer's seeded
 * sampler (selsa_rng) decides. */
#ifndef SELSA_TRAIN_OFFICIAL_H
#define SELSA_TRAIN_OFFICIAL_H

#include <stdbool.h>
#include <stdint.h>

#include "selsa/context.h"
#include "selsa/image.h"
#include "selsa/model_official.h"
#include "selsa/rng.h"
#include "selsa/status.h"
#include "selsa/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { SELSA_OFFICIAL_TRAIN_MAX_FRAMES = 3, SELSA_OFFICIAL_MAX_LR_STEPS = 16 };

typedef struct selsa_official_train_config {
    /* RPN anchor targets (§8.4) */
    int rpn_batch;          /* 256 sampled anchors */
    float rpn_fg_fraction;  /* 0.5: at most 128 positives */
    float rpn_pos_iou;      /* 0.7: IoU >= → positive */
    float rpn_neg_iou;      /* 0.3: IoU < → negative */
    int allowed_border;     /* 0: anchors not fully inside the image are ignored */
    /* RCNN (§8.3, §8.4) */
    float fg_iou;           /* 0.5: proposal label = class of the max-IoU gt if IoU >= this */
    int ohem_rois;          /* 128 hardest RoIs kept */
    float rpn_sigma;        /* smooth_l1 scalar for the RPN (spec §8.4: 1.0) */
    float rcnn_sigma;       /* smooth_l1 scalar for the RCNN (1.0) */
    /* optimiser (§8.1) */
    float lr;               /* base learning rate (official 0.00025) */
    float momentum;         /* 0.9 */
    float wd;               /* 0.0005 on *_weight / *_gamma only (MXNet set_wd_mult) */
    int64_t lr_steps[SELSA_OFFICIAL_MAX_LR_STEPS]; /* update counts where lr *= lr_factor */
    int n_lr_steps;
    float lr_factor;        /* 0.1 */
    float grad_clip;        /* 0: off (official). > 0: global L2 norm clip, coef = clip/(norm + 1e-6)
                               when < 1, applied as rescale_grad (TRAIN.clip_gradient) */
    int64_t warmup_steps;   /* 0: no warmup; else linear from warmup_ratio·lr to lr */
    float warmup_ratio;
    bool warmup_constant;   /* true: the official WarmupMultiFactorScheduler — a constant
                               warmup_ratio·lr (TRAIN.warmup_lr) for warmup_steps updates */
    uint64_t seed;          /* seeds the anchor sampler */
} selsa_official_train_config;

void selsa_official_train_config_default(selsa_official_train_config *c);

/* Learning rate of update number `step` (0-based): base·factor^(#lr_steps <= step), times the
 * warmup factor while step < warmup_steps: ratio + (1 − ratio)·step/warmup_steps (linear), or
 * ratio (warmup_constant). */
double selsa_official_lr_at(const selsa_official_train_config *c, int64_t step);

/* One training sample: n_frames frames (key first), all of which must resize (§1 rule) to the
 * same scaled size. gt boxes in SCALED-image pixels ("+1" convention, inclusive), classes in
 * 1..num_classes−1. Injections may be NULL. */
typedef struct selsa_official_train_sample {
    const selsa_image *frames[SELSA_OFFICIAL_TRAIN_MAX_FRAMES];
    int n_frames;                 /* 1..3 (official training: 3) */
    const float *gt_boxes;        /* (n_gt, 4) */
    const int32_t *gt_classes;    /* (n_gt) */
    int n_gt;
    const int32_t *rpn_labels;    /* A·H·W in anchor order h·(W·A) + w·A + a: −1/0/1, or NULL */
    const int32_t *ohem_keep;     /* n_keep indices into the key frame's R RoIs, or NULL */
    int n_keep;
    const float *rois[SELSA_OFFICIAL_TRAIN_MAX_FRAMES]; /* (R, 5) per frame or NULL: proposals */
} selsa_official_train_sample;

typedef struct selsa_official_losses {
    double rpn_cls;   /* softmax CE over sampled anchors / #valid */
    double rpn_bbox;  /* Σ smooth-L1 over positive anchors / rpn_batch */
    double rcnn_cls;  /* softmax CE over the OHEM-kept RoIs / #kept */
    double rcnn_bbox; /* Σ smooth-L1 over kept fg RoIs / ohem_rois */
    double total;
    int n_rpn_pos, n_rpn_neg, n_fg_rois;
} selsa_official_losses;

/* One trainable tensor under its official name. */
typedef struct selsa_official_param {
    char name[64];
    int ndim;               /* official ndim (FC weights 2, convs 4, biases 1) */
    int64_t dims[4];
    int64_t numel;
    float *data;            /* master value (official units) */
    float *grad;            /* accumulated ∂L/∂data since the last zero_grad */
    float *mom;             /* MXNet momentum buffer (starts at 0) */
    bool decay;             /* name ends with _weight or _gamma */
} selsa_official_param;

typedef struct selsa_official_trainer selsa_official_trainer;

/* Builds the model from `w` (official names, unfolded; modified by the model loader's `_test`
 * rename) plus the trainable masters. ctx must outlive the trainer. */
selsa_status selsa_official_trainer_create(selsa_official_trainer **out,
                                           const selsa_official_config *cfg,
                                           const selsa_official_train_config *tc,
                                           selsa_weights *w, selsa_ctx *ctx);
void selsa_official_trainer_free(selsa_official_trainer *t);

/* Size the activation arena (and ctx->scratch) for scaled frames of H × W with n_frames
 * frames and up to max_gt boxes (measuring pass). Done automatically when a sample needs more. */
selsa_status selsa_official_trainer_reserve(selsa_official_trainer *t, int H, int W, int n_frames,
                                            int max_gt);
/* Bytes of the activation arena, and its high-water mark over the trainer's life. */
size_t selsa_official_trainer_act_bytes(const selsa_official_trainer *t);
size_t selsa_official_trainer_act_peak(const selsa_official_trainer *t);

int selsa_official_trainer_n_params(const selsa_official_trainer *t);
selsa_official_param *selsa_official_trainer_param(selsa_official_trainer *t, int i);
/* NULL when `name` is not a trainable tensor (frozen or unknown). */
selsa_official_param *selsa_official_trainer_find(selsa_official_trainer *t, const char *name);
/* The trainer's internal model (folded weights; see the module comment). */
const selsa_official_model *selsa_official_trainer_model(const selsa_official_trainer *t);

/* Rewrite the model's folded weights from the masters (after editing param->data by hand). */
void selsa_official_trainer_sync(selsa_official_trainer *t);
void selsa_official_trainer_zero_grad(selsa_official_trainer *t);

/* Forward + losses (+ backward when `backward`): gradients are ADDED to param->grad (gradient
 * accumulation over several key images = several calls between zero_grad and step; official
 * multi-GPU semantics: summed, no 1/n). A NaN/Inf loss or gradient: SELSA_ERR_NUMERIC naming
 * the loss or parameter (grads of this call are then unspecified). */
selsa_status selsa_official_trainer_forward_backward(selsa_official_trainer *t,
                                                     const selsa_official_train_sample *s,
                                                     bool backward, selsa_official_losses *out);
/* MXNet SGD update of every trainable tensor with lr = selsa_official_lr_at(step count),
 * then sync and step count + 1. Checks every gradient is finite first (SELSA_ERR_NUMERIC
 * naming the tensor; nothing is updated then). *norm_out (may be NULL): the global L2 norm of
 * the gradients before any clipping (grad_clip). */
selsa_status selsa_official_trainer_sgd_step(selsa_official_trainer *t, double *norm_out);
int64_t selsa_official_trainer_steps(const selsa_official_trainer *t);
/* Resume support: set the update count (drives the LR schedule and the first-step rule). */
void selsa_official_trainer_set_steps(selsa_official_trainer *t, int64_t steps);
/* Reseed the anchor sampler (training runs reseed it per sample from (seed, epoch, position) so
 * a resumed run draws exactly what an uninterrupted one would). */
void selsa_official_trainer_seed_sampler(selsa_official_trainer *t, uint64_t seed, uint64_t stream);

/* Decisions of the last forward: key-frame RoIs (R, 5), RPN labels (A·H·W, anchor order) and
 * the OHEM keep set (n_keep). Valid until the next forward. */
const float *selsa_official_trainer_last_rois(const selsa_official_trainer *t, int frame);
const int32_t *selsa_official_trainer_last_rpn_labels(const selsa_official_trainer *t, int64_t *n);
const int32_t *selsa_official_trainer_last_ohem_keep(const selsa_official_trainer *t, int *n);

/* ---------------------------------------------------------------- targets (targets_official.c) */

/* RPN anchor targets (§8.4; py-faster-rcnn assign_anchor rules, IoU "+1" in double):
 * anchors (n, 4) shifted, in anchor order; labels (n): −1 ignore, 0 bg, 1 fg; bbox_targets
 * (n, 4) normalised by (0.1, 0.1, 0.4, 0.4) for every inside anchor (0 outside).
 *   outside (x1 < −b, y1 < −b, x2 >= im_w + b, y2 >= im_h + b) → −1;
 *   max IoU < neg → 0; each gt's max-IoU anchors (ties: all anchors with IoU == that max) → 1;
 *   max IoU >= pos → 1; no gt: every inside anchor 0.
 *   rng != NULL: fg above floor(fg_fraction·batch) and bg above batch − #fg are disabled (→ −1)
 *   uniformly at random (partial Fisher–Yates with selsa_rng). rng == NULL: no subsampling.
 * tmp: n int32 (scratch). */
selsa_status selsa_official_anchor_targets(const float *anchors, int64_t n, float im_h, float im_w,
                                           const float *gt, int n_gt,
                                           const selsa_official_train_config *c, selsa_rng *rng,
                                           int32_t *labels, float *bbox_targets, int32_t *tmp);
/* Proposal targets (§8.3) on R RoIs (R, 5): labels (R) = class of the max-IoU gt if IoU >= fg
 * else 0; targets (R, 8) cols 4:8 = "+1" deltas to that gt / (0.1, 0.1, 0.2, 0.2), weights
 * (R, 8) = 1 in cols 4:8 for fg rows, 0 elsewhere. RoI order is kept. */
void selsa_official_proposal_targets(const float *rois, int R, const float *gt,
                                     const int32_t *gt_classes, int n_gt, float fg_iou,
                                     int32_t *labels, float *targets, float *weights);
/* OHEM: keep[0..k) = the k RoIs with the largest loss (stable descending sort: ties keep the
 * lower index first; NaN last). tmp: selsa_argsort_scratch_bytes(R) bytes, order: R int32. */
void selsa_official_ohem_select(const float *roi_loss, int R, int k, int32_t *keep,
                                int32_t *order, void *tmp);

#ifdef __cplusplus
}
#endif
#endif
