/* selsa — the official family of the training-run driver (include/selsa/train_run.h,
 * src/train/train_run_internal.h): configuration mapping (selsa_train_official_configs),
 * initial weights (selsa_official_init_weights + ImageNet overlay), the official trainer
 * (gradients SUMMED over the key images of an update, MXNet SGD) and the .params checkpoint
 * with the *_test bbox keys. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "selsa/fileio.h"
#include "selsa/model_official.h"
#include "train/train_run_internal.h"

/* ------------------------------------------------------------------ configuration ---------- */

selsa_status selsa_train_official_configs(const selsa_config *cfg, int64_t roidb_size,
                                          selsa_official_config *mc, selsa_official_train_config *tc) {
    if (!cfg || !mc || !tc) return selsa_error(SELSA_ERR_INVALID_ARG, "train configs: NULL argument");
    if (cfg->network.family != SELSA_FAMILY_OFFICIAL)
        return selsa_error(SELSA_ERR_UNSUPPORTED,
                           "network.family is mmtrack: the official trainer configuration needs the official "
                           "family (selsa_train_mmtrack_configs maps MMTracking-family runs)");
    const selsa_config_train *T = &cfg->train;
    if (!T->enable_ohem)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "TRAIN.ENABLE_OHEM: only OHEM training (true) is implemented");
    if (!T->end2end) return selsa_error(SELSA_ERR_UNSUPPORTED, "TRAIN.END2END: must be true");
    SELSA_TRY(selsa_config_to_official(cfg, mc));
    mc->proposal.pre_nms_top_n = T->rpn_pre_nms_top_n;
    mc->proposal.post_nms_top_n = T->rpn_post_nms_top_n;
    mc->proposal.nms_thresh = (float)T->rpn_nms_thresh;
    mc->proposal.min_size = (float)T->rpn_min_size;
    selsa_official_train_config_default(tc);
    tc->rpn_batch = T->rpn_batch_size;
    tc->rpn_fg_fraction = (float)T->rpn_fg_fraction;
    tc->rpn_pos_iou = (float)T->rpn_positive_overlap;
    tc->rpn_neg_iou = (float)T->rpn_negative_overlap;
    tc->fg_iou = (float)T->fg_thresh;
    tc->ohem_rois = T->batch_rois_ohem;
    tc->lr = (float)T->lr;
    tc->momentum = (float)T->momentum;
    tc->wd = (float)T->wd;
    tc->lr_factor = (float)T->lr_factor;
    tc->grad_clip = (float)T->clip_gradient;
    tc->seed = cfg->seed;
    int batch = cfg->num_devices * T->batch_images;
    if (batch < 1) return selsa_error(SELSA_ERR_INVALID_ARG, "TRAIN.BATCH_IMAGES x devices must be >= 1");
    if (T->n_lr_step > SELSA_OFFICIAL_MAX_LR_STEPS)
        return selsa_error(SELSA_ERR_INVALID_ARG, "TRAIN.lr_step: at most %d steps", SELSA_OFFICIAL_MAX_LR_STEPS);
    tc->n_lr_steps = 0;
    for (int i = 0; i < T->n_lr_step; i++) /* official lr_iters: int(epoch * len(roidb) / batch) */
        tc->lr_steps[tc->n_lr_steps++] = (int64_t)(T->lr_step[i] * (double)roidb_size / batch);
    if (T->warmup && T->warmup_step > 0) {
        tc->warmup_steps = T->warmup_step;
        tc->warmup_ratio = T->lr > 0 ? (float)(T->warmup_lr / T->lr) : 1.0f;
        tc->warmup_constant = T->warmup_method == SELSA_WARMUP_CONSTANT;
    }
    return SELSA_OK;
}

/* ------------------------------------------------------------------ weights ---------------- */

static bool is_test_key(const char *name) {
    size_t n = strlen(name);
    return n > 5 && strcmp(name + n - 5, "_test") == 0;
}

static const char *kind_prefix(selsa_weight_kind k) {
    return k == SELSA_WEIGHT_ARG ? "arg:" : k == SELSA_WEIGHT_AUX ? "aux:" : "";
}

selsa_status selsa_train_weights_overwrite(selsa_weights *dst, const char *name, const float *data, int64_t numel) {
    const selsa_weight *e = selsa_weights_find(dst, name);
    if (!e) return selsa_error(SELSA_ERR_INTERNAL, "checkpoint: %s is not in the weight dictionary", name);
    if (e->numel != numel)
        return selsa_error(SELSA_ERR_INTERNAL, "checkpoint: %s has %lld values, trainer %lld", name,
                           (long long)e->numel, (long long)numel);
    memcpy(e->data, data, (size_t)numel * sizeof(float));
    return SELSA_OK;
}

selsa_status selsa_train_weights_copy(selsa_weights *dst, const selsa_weights *src, bool skip_test) {
    char name[512];
    for (int64_t i = 0; i < src->count; i++) {
        const selsa_weight *e = &src->items[i];
        if (skip_test && is_test_key(e->name)) continue;
        snprintf(name, sizeof name, "%s%s", kind_prefix(e->kind), e->name);
        SELSA_TRY(selsa_weights_add(dst, name, e->ndim, e->dims, e->data, e->src_dtype));
    }
    return SELSA_OK;
}

/* Every listed [D, D] (or [D, D, 1, 1]) weight := s·I; s = 0 leaves them as initialised. */
static selsa_status set_scaled_identity(selsa_weights *w, const char *const *names, int n, double s) {
    if (s <= 0) return SELSA_OK;
    for (int k = 0; k < n; k++) {
        const selsa_weight *e = selsa_weights_find(w, names[k]);
        if (!e || e->ndim < 2 || e->dims[0] != e->dims[1] || e->numel != e->dims[0] * e->dims[1])
            return selsa_error(SELSA_ERR_INTERNAL, "scaled identity init: %s missing or not square", names[k]);
        int64_t d = e->dims[0];
        for (int64_t i = 0; i < d * d; i++) e->data[i] = (i % (d + 1) == 0) ? (float)s : 0.0f;
    }
    return SELSA_OK;
}

selsa_status selsa_train_initial_weights(const selsa_config *cfg, const selsa_official_config *mc,
                                         selsa_weights *out) {
    if (!cfg || !mc || !out) return selsa_error(SELSA_ERR_INVALID_ARG, "initial weights: NULL argument");
    SELSA_TRY(selsa_official_init_weights(mc, cfg->seed, out));
    if (mc->selsa) {
        /* query_k / key_k = s·I, zero bias: the attention logits start as s²·<x_a, x_b>/sqrt(D),
         * i.e. RoIs attend to RoIs with similar features from the first update (from scratch
         * the spec's N(0, 0.01) projections give near-uniform attention for a long time) */
        static const char *const qk[] = {"query_1_weight", "key_1_weight", "query_2_weight", "key_2_weight"};
        /* linear_out_k = s·I: fc_all_k = fc_new_k + s·(attention average) from the start instead
         * of a branch that the N(0, 0.01) init keeps at ~1 % of the features */
        static const char *const lo[] = {"linear_out_1_weight", "linear_out_2_weight"};
        SELSA_TRY(set_scaled_identity(out, qk, 4, cfg->network.attention_qk_identity));
        SELSA_TRY(set_scaled_identity(out, lo, 2, cfg->network.attention_out_identity));
    }
    const char *pre = cfg->network.pretrained;
    if (!pre[0]) return SELSA_OK;
    char path[SELSA_CONFIG_PATH_MAX + 32];
    if (selsa_file_exists(pre)) snprintf(path, sizeof path, "%s", pre);
    else snprintf(path, sizeof path, "%s-%04d.params", pre, cfg->network.pretrained_epoch);
    selsa_weights pw;
    selsa_weights_init(&pw);
    selsa_status s = selsa_weights_load(path, &pw);
    if (s != SELSA_OK) {
        s = selsa_error_context(s, "network.pretrained '%s' (an ImageNet backbone or a trained detector; set "
                                   "network.pretrained: '' to train from scratch)", path);
        return s;
    }
    int64_t used = 0;
    for (int64_t i = 0; i < pw.count && s == SELSA_OK; i++) {
        selsa_weight *e = &pw.items[i];
        const selsa_weight *d = selsa_weights_find(out, e->name);
        if (!d) {
            /* a trained detector's `_test` copies are the inference (de-normalised) bbox_pred;
             * training starts from its plain bbox_pred, so they are expected to be left over */
            size_t n = strlen(e->name);
            if (n > 5 && !strcmp(e->name + n - 5, "_test")) e->used = true;
            continue;
        }
        bool same = d->ndim == e->ndim && d->numel == e->numel;
        for (int k = 0; same && k < d->ndim; k++) same = d->dims[k] == e->dims[k];
        if (!same) {
            char a[96], b[96];
            s = selsa_error(SELSA_ERR_SHAPE, "%s: tensor %s has shape %s, the detector needs %s", path,
                            e->name, selsa_weight_shape_str(e, a, sizeof a), selsa_weight_shape_str(d, b, sizeof b));
            break;
        }
        memcpy(d->data, e->data, (size_t)e->numel * sizeof(float));
        e->used = true;
        used++;
    }
    if (s == SELSA_OK) {
        selsa_log(SELSA_LOG_INFO, "initialised %lld tensors from the pretrained model %s; the others as "
                                  "the official code does (new layers N(0, 0.01))",
                  (long long)used, path);
        selsa_weights_warn_unused(&pw, path);
    }
    selsa_weights_free(&pw);
    return s;
}

selsa_status selsa_train_checkpoint_weights(selsa_official_trainer *t, const selsa_weights *base,
                                            const double means[4], const double stds[4],
                                            selsa_weights *out) {
    if (!t || !base || !out) return selsa_error(SELSA_ERR_INVALID_ARG, "checkpoint weights: NULL argument");
    SELSA_TRY(selsa_train_weights_copy(out, base, true));
    for (int i = 0; i < selsa_official_trainer_n_params(t); i++) {
        const selsa_official_param *p = selsa_official_trainer_param(t, i);
        SELSA_TRY(selsa_train_weights_overwrite(out, p->name, p->data, p->numel));
    }
    /* official do_checkpoint: bbox_pred_weight_test = W * stds (per output row, tiled over the
     * 2 class-agnostic groups), bbox_pred_bias_test = b * stds + means */
    const selsa_weight *w = selsa_weights_find(out, "bbox_pred_weight");
    const selsa_weight *b = selsa_weights_find(out, "bbox_pred_bias");
    if (!w || !b || w->ndim != 2 || b->numel != w->dims[0])
        return selsa_error(SELSA_ERR_INTERNAL, "checkpoint: bbox_pred tensors missing or mis-shaped");
    int64_t rows = w->dims[0], cols = w->dims[1];
    float *tw = malloc((size_t)(rows * cols) * sizeof(float)), *tb = malloc((size_t)rows * sizeof(float));
    if (!tw || !tb) {
        free(tw);
        free(tb);
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "checkpoint: bbox_pred_test");
    }
    for (int64_t r = 0; r < rows; r++) {
        float sd = (float)stds[r % 4], mn = (float)means[r % 4];
        for (int64_t c = 0; c < cols; c++) tw[r * cols + c] = w->data[r * cols + c] * sd;
        tb[r] = b->data[r] * sd + mn;
    }
    selsa_status s = selsa_weights_add(out, "arg:bbox_pred_weight_test", 2, w->dims, tw, SELSA_DTYPE_F32);
    if (s == SELSA_OK) s = selsa_weights_add(out, "arg:bbox_pred_bias_test", 1, b->dims, tb, SELSA_DTYPE_F32);
    free(tw);
    free(tb);
    return s;
}


/* ------------------------------------------------------------------ family ----------------- */

typedef struct official_family {
    selsa_config cfg;
    selsa_official_config mc;
    selsa_official_train_config tc;
    selsa_official_trainer *t;
    selsa_train_state_tensor *tensors; /* [n_tensors] the momenta (names point into the trainer) */
    int n_tensors;
} official_family;

static selsa_status of_configure(void *self, const selsa_config *cfg, int64_t roidb_n, int64_t positions, int batch,
                                 selsa_train_data_cfg *dc, double *upe) {
    official_family *F = self;
    F->cfg = *cfg;
    SELSA_TRY(selsa_train_official_configs(cfg, roidb_n, &F->mc, &F->tc));
    *dc = selsa_train_data_cfg_default();
    dc->ref_mode = cfg->train.ref_sampling == SELSA_REF_BILATERAL ? SELSA_REFS_BILATERAL : SELSA_REFS_OFFICIAL;
    dc->data_aug = cfg->train.data_aug;
    for (int k = 0; k < 3; k++) dc->pixel_means[k] = cfg->network.pixel_means[k];
    *upe = (double)roidb_n / batch; /* the official lr_iters unit */
    return SELSA_OK;
}

static selsa_status of_initial_weights(void *self, const selsa_config *cfg, selsa_weights *out) {
    official_family *F = self;
    return selsa_train_initial_weights(cfg, &F->mc, out);
}

static selsa_status of_create(void *self, const selsa_weights *w, selsa_ctx *ctx) {
    official_family *F = self;
    selsa_weights tw;
    selsa_weights_init(&tw);
    selsa_status s = selsa_train_weights_copy(&tw, w, true);
    if (s == SELSA_OK) s = selsa_official_trainer_create(&F->t, &F->mc, &F->tc, &tw, ctx);
    selsa_weights_free(&tw);
    if (s != SELSA_OK) return s;
    int n = selsa_official_trainer_n_params(F->t);
    F->tensors = calloc((size_t)n + 1, sizeof *F->tensors);
    if (!F->tensors) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "official trainer: state tensor list");
    for (int i = 0; i < n; i++) {
        selsa_official_param *p = selsa_official_trainer_param(F->t, i);
        F->tensors[i] = (selsa_train_state_tensor){p->name, p->mom, p->numel};
    }
    F->n_tensors = n;
    return SELSA_OK;
}

static void of_state_tensors(void *self, const selsa_train_state_tensor **list, int *n) {
    official_family *F = self;
    *list = F->tensors;
    *n = F->n_tensors;
}

static int64_t of_steps(void *self) { return selsa_official_trainer_steps(((official_family *)self)->t); }

static void of_set_steps(void *self, int64_t steps) {
    selsa_official_trainer_set_steps(((official_family *)self)->t, steps);
}

static selsa_status of_forward_backward(void *self, const selsa_train_sample *smp, uint64_t seed, int64_t epoch,
                                        selsa_official_losses *out) {
    official_family *F = self;
    const int n_frames = F->mc.selsa ? 3 : 1;
    selsa_official_train_sample ts;
    memset(&ts, 0, sizeof ts);
    ts.n_frames = n_frames;
    for (int f = 0; f < n_frames; f++) ts.frames[f] = &smp->img[f];
    ts.gt_boxes = &smp->boxes[0][0][0];
    ts.gt_classes = smp->classes[0];
    ts.n_gt = smp->n_boxes[0];
    /* the anchor sampler's draws depend only on (seed, epoch, position) */
    selsa_official_trainer_seed_sampler(F->t, seed, ((uint64_t)epoch << 32) ^ (uint64_t)smp->position ^ 0x7a11ULL);
    return selsa_official_trainer_forward_backward(F->t, &ts, true, out);
}

/* official kvstore: the gradients of the update's key images are SUMMED (rescale_grad 1) */
static selsa_status of_update(void *self, int n_images, double *lr, double *grad_norm) {
    official_family *F = self;
    *lr = selsa_official_lr_at(&F->tc, selsa_official_trainer_steps(F->t));
    *grad_norm = NAN;
    selsa_status s = selsa_official_trainer_sgd_step(F->t, grad_norm);
    selsa_official_trainer_zero_grad(F->t);
    return s;
}

static selsa_status of_checkpoint_weights(void *self, const selsa_weights *base, selsa_weights *out) {
    official_family *F = self;
    return selsa_train_checkpoint_weights(F->t, base, F->cfg.train.bbox_means, F->cfg.train.bbox_stds, out);
}

static void of_destroy(void *self) {
    official_family *F = self;
    if (!F) return;
    selsa_official_trainer_free(F->t);
    free(F->tensors);
    free(F);
}

selsa_status selsa_train_family_official(selsa_train_family *f) {
    memset(f, 0, sizeof *f);
    official_family *F = calloc(1, sizeof *F);
    if (!F) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "official training family");
    f->name = "official";
    f->weights_ext = "params";
    f->loss_names[0] = "rpn_cls";
    f->loss_names[1] = "rpn_bbox";
    f->loss_names[2] = "rcnn_cls";
    f->loss_names[3] = "rcnn_bbox";
    f->loss_names[4] = "total";
    f->count_key = "fg_rois";
    f->roidb_flip = true;
    f->log_grad_norm = false;
    f->self = F;
    f->configure = of_configure;
    f->initial_weights = of_initial_weights;
    f->create = of_create;
    f->state_tensors = of_state_tensors;
    f->steps = of_steps;
    f->set_steps = of_set_steps;
    f->forward_backward = of_forward_backward;
    f->update = of_update;
    f->log_grad_norm = true;
    f->checkpoint_weights = of_checkpoint_weights;
    f->save_weights = selsa_weights_save_params;
    f->destroy = of_destroy;
    return SELSA_OK;
}
