/* selsa — the MMTracking family of the training-run driver (include/selsa/train_run.h,
 * src/train/train_run_internal.h; mmtracking-selsa.md §1.2–§1.5): configuration mapping
 * (selsa_train_mmtrack_configs), initial weights (selsa_mmtrack_init_weights with an optional
 * torchvision ImageNet .pth backbone), the MMTracking trainer (gradients of the update's key
 * images AVERAGED as DDP does, grad-norm clip, PyTorch SGD, mmcv linear warm-up) and the .pth
 * checkpoint ({"meta": {"CLASSES"}, "state_dict"} with the exact MMTracking keys). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "selsa/classes.h"
#include "selsa/fileio.h"
#include "selsa/weights_pth.h"
#include "train/train_run_internal.h"

/* ------------------------------------------------------------------ configuration ---------- */

/* frozen_stages=1 (§1.1): the only frozen set the trainer implements */
static const char *const FROZEN[3] = {"backbone.conv1", "backbone.bn1", "backbone.layer1"};

selsa_status selsa_train_mmtrack_configs(const selsa_config *cfg, int64_t upe, selsa_mmtrack_config *mc,
                                         selsa_mmtrack_train_config *tc) {
    if (!cfg || !mc || !tc) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack train configs: NULL argument");
    if (cfg->network.family != SELSA_FAMILY_MMTRACK)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "network.family is official: the MMTracking trainer configuration "
                                                  "needs mmtrack (selsa_train_official_configs maps official runs)");
    if (upe < 1) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack train configs: %lld updates per epoch", (long long)upe);
    const selsa_config_train *T = &cfg->train;
    if (T->enable_ohem)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "TRAIN.ENABLE_OHEM: the MMTracking family trains without OHEM "
                                                  "(RandomSampler); set it to false");
    if (T->data_aug)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "TRAIN.data_aug: the MMTracking pipeline has no SSD augmentation "
                                                  "(mmtracking-selsa.md §1.4); set it to false");
    if (!T->flip)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "TRAIN.FLIP: the MMTracking pipeline always flips with p = 0.5 "
                                                  "(SeqRandomFlip); false is not implemented");
    if (cfg->class_agnostic)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "CLASS_AGNOSTIC: the MMTracking bbox head regresses per class; "
                                                  "set it to false");
    if (T->warmup && T->warmup_step > 0 && T->warmup_method != SELSA_WARMUP_LINEAR)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "TRAIN.warmup_method: the MMTracking family has the mmcv linear "
                                                  "warm-up only (set warmup_method: linear)");
    if (T->batch_rois < 1)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "TRAIN.BATCH_ROIS = %d: the MMTracking RCNN sampler needs a RoI "
                                                  "count >= 1 (256)", T->batch_rois);
    for (int k = 0; k < 4; k++)
        if (T->bbox_means[k] != 0)
            return selsa_error(SELSA_ERR_UNSUPPORTED, "TRAIN.BBOX_MEANS: the MMTracking box coder has zero means");
    if (T->rpn_pre_nms_top_n != cfg->test.rpn_pre_nms_top_n || T->rpn_nms_thresh != cfg->test.rpn_nms_thresh ||
        T->rpn_min_size != cfg->test.rpn_min_size)
        return selsa_error(SELSA_ERR_UNSUPPORTED,
                           "TRAIN.RPN_PRE_NMS_TOP_N / RPN_NMS_THRESH / RPN_MIN_SIZE (%d / %g / %g) must equal the "
                           "TEST.RPN_* values (%d / %g / %g) for the MMTracking family (one RPN proposal cfg; only "
                           "the kept count TRAIN.RPN_POST_NMS_TOP_N differs)",
                           T->rpn_pre_nms_top_n, T->rpn_nms_thresh, T->rpn_min_size, cfg->test.rpn_pre_nms_top_n,
                           cfg->test.rpn_nms_thresh, cfg->test.rpn_min_size);
    bool fixed_ok = cfg->network.n_fixed_params == 3;
    for (int i = 0; fixed_ok && i < 3; i++) {
        bool found = false;
        for (int j = 0; j < 3; j++) found |= !strcmp(cfg->network.fixed_params[j], FROZEN[i]);
        fixed_ok = found;
    }
    if (!fixed_ok)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "network.FIXED_PARAMS: the MMTracking trainer freezes exactly "
                                                  "[backbone.conv1, backbone.bn1, backbone.layer1] (frozen_stages=1)");
    if (T->n_lr_step > SELSA_MMTRACK_MAX_LR_STEPS)
        return selsa_error(SELSA_ERR_INVALID_ARG, "TRAIN.lr_step: at most %d steps", SELSA_MMTRACK_MAX_LR_STEPS);
    SELSA_TRY(selsa_config_to_mmtrack(cfg, mc));
    selsa_mmtrack_train_config_default(tc);
    tc->rpn_assigner.pos_iou = (float)T->rpn_positive_overlap;
    tc->rpn_assigner.neg_iou = (float)T->rpn_negative_overlap;
    tc->rpn_sampler.num = T->rpn_batch_size;
    tc->rpn_sampler.pos_fraction = (float)T->rpn_fg_fraction;
    tc->train_proposals = T->rpn_post_nms_top_n;
    tc->rcnn_assigner.pos_iou = (float)T->fg_thresh;
    tc->rcnn_assigner.neg_iou = (float)T->bg_thresh_hi;
    tc->rcnn_sampler.num = T->batch_rois;
    tc->rcnn_sampler.pos_fraction = (float)T->fg_fraction;
    tc->rcnn_sampler.add_gt_as_proposals = T->append_gt;
    tc->lr = (float)T->lr;
    tc->momentum = (float)T->momentum;
    tc->wd = (float)T->wd;
    tc->grad_clip = (float)T->clip_gradient;
    tc->lr_factor = (float)T->lr_factor;
    /* mmcv step policy by epoch: the rate of every iteration of epoch e is fixed at its start,
     * so a step at epoch E takes effect at update E · updates_per_epoch */
    tc->n_lr_steps = 0;
    for (int i = 0; i < T->n_lr_step; i++) tc->lr_steps[tc->n_lr_steps++] = (int64_t)(T->lr_step[i] * (double)upe);
    if (T->warmup && T->warmup_step > 0) {
        tc->warmup_steps = T->warmup_step;
        tc->warmup_ratio = T->lr > 0 ? (float)(T->warmup_lr / T->lr) : 1.0f;
    } else {
        tc->warmup_steps = 0;
        tc->warmup_ratio = 1.0f;
    }
    tc->seed = cfg->seed;
    return SELSA_OK;
}

/* ------------------------------------------------------------------ family ----------------- */

typedef struct mmtrack_family {
    selsa_mmtrack_config mc;
    selsa_mmtrack_train_config tc;
    selsa_mmtrack_trainer *t;
    selsa_train_state_tensor *tensors; /* [n_tensors] momentum buffers (names in the trainer) */
    int n_tensors;
    int32_t labels[SELSA_TRAIN_MAX_BOXES]; /* gt labels of the current key image (0-based) */
} mmtrack_family;

static selsa_status mt_configure(void *self, const selsa_config *cfg, int64_t roidb_n, int64_t positions, int batch,
                                 selsa_train_data_cfg *dc, double *upe) {
    mmtrack_family *F = self;
    /* updates per epoch: one per `batch` positions, a trailing partial batch included (mmdet's
     * GroupSampler pads the last batch; the count matches len(data_loader)) */
    int64_t u = (positions + batch - 1) / batch;
    if (u < 1) u = 1;
    SELSA_TRY(selsa_train_mmtrack_configs(cfg, u, &F->mc, &F->tc));
    *dc = selsa_train_data_cfg_mmtrack();
    dc->ref_mode = cfg->train.ref_sampling == SELSA_REF_BILATERAL ? SELSA_REFS_BILATERAL : SELSA_REFS_OFFICIAL;
    dc->data_aug = false;
    *upe = (double)u;
    return SELSA_OK;
}

static selsa_status mt_initial_weights(void *self, const selsa_config *cfg, selsa_weights *out) {
    mmtrack_family *F = self;
    const char *pre = cfg->network.pretrained;
    if (!pre[0]) return selsa_mmtrack_init_weights(&F->mc, cfg->seed, NULL, out);
    if (!selsa_file_exists(pre))
        return selsa_error(SELSA_ERR_IO, "network.pretrained '%s': no such file (the MMTracking family takes a "
                                         "torchvision ImageNet .pth; set network.pretrained: '' to train from "
                                         "scratch)", pre);
    selsa_weights in;
    selsa_weights_init(&in);
    selsa_status s = selsa_weights_load(pre, &in);
    if (s == SELSA_OK) s = selsa_mmtrack_init_weights(&F->mc, cfg->seed, &in, out);
    selsa_weights_free(&in);
    if (s != SELSA_OK) return selsa_error_context(s, "network.pretrained '%s' (ImageNet backbone)", pre);
    selsa_log(SELSA_LOG_INFO, "initialised the backbone from the ImageNet model %s; the other layers as "
                              "mmdet/mmcv initialise a new model", pre);
    return SELSA_OK;
}

static selsa_status mt_create(void *self, const selsa_weights *w, selsa_ctx *ctx) {
    mmtrack_family *F = self;
    selsa_weights tw;
    selsa_weights_init(&tw);
    selsa_status s = selsa_train_weights_copy(&tw, w, false);
    if (s == SELSA_OK) s = selsa_mmtrack_trainer_create(&F->t, &F->mc, &F->tc, &tw, ctx);
    selsa_weights_free(&tw);
    if (s != SELSA_OK) return s;
    int n = selsa_mmtrack_trainer_n_params(F->t);
    F->tensors = calloc((size_t)n + 1, sizeof *F->tensors);
    if (!F->tensors) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "mmtrack trainer: state tensor list");
    for (int i = 0; i < n; i++) {
        selsa_mmtrack_param *p = selsa_mmtrack_trainer_param(F->t, i);
        F->tensors[i] = (selsa_train_state_tensor){p->name, p->buf, p->numel};
    }
    F->n_tensors = n;
    return SELSA_OK;
}

static void mt_state_tensors(void *self, const selsa_train_state_tensor **list, int *n) {
    mmtrack_family *F = self;
    *list = F->tensors;
    *n = F->n_tensors;
}

static int64_t mt_steps(void *self) { return selsa_mmtrack_trainer_steps(((mmtrack_family *)self)->t); }

/* The step count decides the lr and PyTorch SGD's first step (momentum_buffer = grad): a resumed
 * trainer continues at the checkpoint's count with its loaded buffers. */
static void mt_set_steps(void *self, int64_t steps) {
    selsa_mmtrack_trainer_set_steps(((mmtrack_family *)self)->t, steps);
}

static selsa_status mt_forward_backward(void *self, const selsa_train_sample *smp, uint64_t seed, int64_t epoch,
                                        selsa_official_losses *out) {
    mmtrack_family *F = self;
    selsa_mmtrack_train_sample ts;
    memset(&ts, 0, sizeof ts);
    /* key + 1..2 bilateral refs; a one-frame video has none: its slot 1 holds the key itself
     * (the loader repeats it), so the aggregation sees the key frame as its reference */
    int T = smp->n_frames < 2 ? 2 : smp->n_frames > SELSA_MMTRACK_TRAIN_MAX_FRAMES ? SELSA_MMTRACK_TRAIN_MAX_FRAMES
                                                                                     : smp->n_frames;
    ts.n_frames = T;
    for (int f = 0; f < T; f++) ts.frames[f] = &smp->img[f];
    int n = smp->n_boxes[0];
    for (int g = 0; g < n; g++) F->labels[g] = smp->classes[0][g] - 1; /* VID 1..30 -> mmdet 0..29 */
    ts.gt_boxes = &smp->boxes[0][0][0];
    ts.gt_labels = F->labels;
    ts.n_gt = n;
    /* both samplers' draws depend only on (seed, epoch, position) (bit-exact resume) */
    selsa_mmtrack_trainer_seed_sampler(F->t, seed, ((uint64_t)epoch << 32) ^ (uint64_t)smp->position ^ 0x33a1ULL);
    selsa_mmtrack_losses ls;
    SELSA_TRY(selsa_mmtrack_trainer_forward_backward(F->t, &ts, true, &ls));
    memset(out, 0, sizeof *out);
    out->rpn_cls = ls.rpn_cls;
    out->rpn_bbox = ls.rpn_bbox;
    out->rcnn_cls = ls.cls;
    out->rcnn_bbox = ls.bbox;
    out->total = ls.total;
    out->n_rpn_pos = ls.n_rpn_pos;
    out->n_rpn_neg = ls.n_rpn_neg;
    out->n_fg_rois = ls.n_pos_rois;
    return SELSA_OK;
}

/* DDP: the gradients of the update's key images are AVERAGED (the clip sees the averaged norm) */
static selsa_status mt_update(void *self, int n_images, double *lr, double *grad_norm) {
    mmtrack_family *F = self;
    *lr = selsa_mmtrack_lr_at(&F->tc, selsa_mmtrack_trainer_steps(F->t));
    if (n_images > 1) selsa_mmtrack_trainer_scale_grads(F->t, 1.0f / (float)n_images);
    selsa_status s = selsa_mmtrack_trainer_sgd_step(F->t, grad_norm);
    selsa_mmtrack_trainer_zero_grad(F->t);
    return s;
}

static selsa_status mt_checkpoint_weights(void *self, const selsa_weights *base, selsa_weights *out) {
    mmtrack_family *F = self;
    SELSA_TRY(selsa_train_weights_copy(out, base, false));
    for (int i = 0; i < selsa_mmtrack_trainer_n_params(F->t); i++) {
        const selsa_mmtrack_param *p = selsa_mmtrack_trainer_param(F->t, i);
        SELSA_TRY(selsa_train_weights_overwrite(out, p->name, p->data, p->numel));
    }
    /* mmcv's checkpoint shape: meta.CLASSES (the VID names in label order) + state_dict */
    if (F->mc.num_classes == SELSA_VID_NUM_CLASSES && !out->class_names) {
        out->class_names = calloc(SELSA_VID_NUM_CLASSES, sizeof *out->class_names);
        if (!out->class_names) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "checkpoint: class names");
        for (int c = 0; c < SELSA_VID_NUM_CLASSES; c++) {
            const char *nm = selsa_vid_class_name(c + 1);
            size_t l = strlen(nm) + 1;
            out->class_names[c] = malloc(l);
            if (!out->class_names[c]) {
                out->n_classes = c;
                return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "checkpoint: class names");
            }
            memcpy(out->class_names[c], nm, l);
        }
        out->n_classes = SELSA_VID_NUM_CLASSES;
    }
    return SELSA_OK;
}

static selsa_status mt_save(const char *path, const selsa_weights *w) { return selsa_weights_save_pth(path, w, NULL); }

static void mt_destroy(void *self) {
    mmtrack_family *F = self;
    if (!F) return;
    selsa_mmtrack_trainer_free(F->t);
    free(F->tensors);
    free(F);
}

selsa_status selsa_train_family_mmtrack(selsa_train_family *f) {
    memset(f, 0, sizeof *f);
    mmtrack_family *F = calloc(1, sizeof *F);
    if (!F) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "mmtrack training family");
    f->name = "mmtrack";
    f->weights_ext = "pth";
    f->loss_names[0] = "rpn_cls";
    f->loss_names[1] = "rpn_bbox";
    f->loss_names[2] = "cls";
    f->loss_names[3] = "bbox";
    f->loss_names[4] = "total";
    f->count_key = "pos_rois";
    f->roidb_flip = false; /* flips are drawn per sample by the loader (SeqRandomFlip) */
    f->log_grad_norm = true;
    f->self = F;
    f->configure = mt_configure;
    f->initial_weights = mt_initial_weights;
    f->create = mt_create;
    f->state_tensors = mt_state_tensors;
    f->steps = mt_steps;
    f->set_steps = mt_set_steps;
    f->forward_backward = mt_forward_backward;
    f->update = mt_update;
    f->checkpoint_weights = mt_checkpoint_weights;
    f->save_weights = mt_save;
    f->destroy = mt_destroy;
    return SELSA_OK;
}
