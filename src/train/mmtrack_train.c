/* selsa — MMTracking SELSA training step (mmtracking-selsa.md §1.1–§1.3, §2.1, §2.3–§2.6):
 * batched forward of the T frames with saved activations (layer2..layer4, neck, RPN, RoIAlign,
 * SELSA bbox head), RPN / RCNN targets (MaxIoUAssigner + RandomSampler, injectable), the four
 * mmdet losses, backward through the head, both aggregators (into the reference frames through
 * keys and values), RoIAlign, the RPN (key frame), the neck and layer4..layer2; PyTorch SGD with
 * global-norm clipping and linear warmup. Stem and layer1 are frozen: run forward only, their
 * temporaries are released, the backward stops at layer2's input.
 *
 * One arena holds every activation and backward temporary of a step, sized by running the
 * whole step in dry mode (allocations only) for the reserved size. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "selsa/boxes.h"
#include "selsa/ops_attn.h"
#include "selsa/ops_elem.h"
#include "selsa/ops_roi.h"
#include "train/mmtrack_train_internal.h"

/* ------------------------------------------------------------------ config ----------------- */

void selsa_mmtrack_train_config_default(selsa_mmtrack_train_config *c) {
    memset(c, 0, sizeof *c);
    /* §1.2 train.rpn: MaxIoUAssigner(0.7, 0.3, min_pos_iou 0.3), mmdet defaults
     * match_low_quality True, gt_max_assign_all True; RandomSampler(256, 0.5) */
    c->rpn_assigner = (selsa_max_iou_assigner){0.7f, 0.3f, 0.3f, true, true};
    c->rpn_sampler = (selsa_random_sampler){256, 0.5f, false};
    c->allowed_border = 0;
    c->rpn_beta = 1.0f / 9.0f;
    c->train_proposals = 600;
    /* §1.2 train.rcnn: MaxIoUAssigner(0.5, 0.5, min_pos_iou 0.5); mmtracking's
     * configs/_base_/models/faster_rcnn_r50_dc5.py sets no match_low_quality, so the mmdet 2.x
     * default True applies (unlike mmdet's own FPN configs); RandomSampler(256, 0.25, add gt) */
    c->rcnn_assigner = (selsa_max_iou_assigner){0.5f, 0.5f, 0.5f, true, true};
    c->rcnn_sampler = (selsa_random_sampler){256, 0.25f, true};
    c->rcnn_beta = 1.0f;
    /* §1.3 */
    c->lr = 0.01f;
    c->momentum = 0.9f;
    c->wd = 1e-4f;
    c->grad_clip = 35.0f;
    c->lr_factor = 0.1f;
    c->warmup_steps = 500;
    c->warmup_ratio = 1.0f / 3.0f;
    c->seed = 0x5e15a11;
}

double selsa_mmtrack_lr_at(const selsa_mmtrack_train_config *c, int64_t step) {
    double lr = c->lr;
    for (int i = 0; i < c->n_lr_steps; i++)
        if (step >= c->lr_steps[i]) lr *= c->lr_factor;
    if (c->warmup_steps > 0 && step < c->warmup_steps) {
        /* mmcv LrUpdaterHook linear warmup: k = (1 − step/W)(1 − ratio), lr·(1 − k) */
        double k = (1.0 - (double)step / (double)c->warmup_steps) * (1.0 - c->warmup_ratio);
        lr *= 1.0 - k;
    }
    return lr;
}

/* ------------------------------------------------------------------ parameters ------------- */

static selsa_status alloc_f(selsa_arena *a, int64_t n, float **p) {
    void *v;
    SELSA_TRY(selsa_arena_alloc(a, (size_t)(n > 0 ? n : 1) * sizeof(float), &v));
    *p = v;
    return SELSA_OK;
}

/* Trainable layers in network order: layer2..4 blocks (downsample, conv1..3), neck, RPN, head. */
static int list_layers(selsa_mmtrack_model *m, mtl *out) {
    int n = 0;
#define ADD(l, isbn, isfc)          \
    do {                            \
        if (out) {                  \
            out[n].L = (l);         \
            out[n].bn = (isbn);     \
            out[n].fc = (isfc);     \
        }                           \
        n++;                        \
    } while (0)
    for (int s = 1; s < 4; s++)
        for (int b = 0; b < m->net.n_blocks[s]; b++) {
            selsa_rt_block *B = &m->net.blocks[s][b];
            if (B->has_down) ADD(&B->down, true, false);
            ADD(&B->c1, true, false);
            ADD(&B->c2, true, false);
            ADD(&B->c3, true, false);
        }
    ADD(&m->neck, false, false);
    ADD(&m->rpn_conv, false, false);
    ADD(&m->rpn_cls, false, false);
    ADD(&m->rpn_reg, false, false);
    ADD(&m->fc0, false, true);
    ADD(&m->fc1, false, true);
    for (int i = 0; i < 2; i++) {
        ADD(&m->fc_embed[i], false, true);
        ADD(&m->ref_fc_embed[i], false, true);
        ADD(&m->ref_fc[i], false, true);
        ADD(&m->agg_fc[i], false, true);
    }
    ADD(&m->fc_cls, false, true);
    ADD(&m->fc_reg, false, true);
#undef ADD
    return n;
}

/* BN module name of a backbone conv: "...convK" → "...bnK", "...downsample.0" → "...downsample.1". */
static void bn_name(const char *conv, char *out, size_t cap) {
    snprintf(out, cap, "%s", conv);
    size_t n = strlen(out);
    if (n >= 2 && strcmp(out + n - 2, ".0") == 0) {
        out[n - 1] = '1';
        return;
    }
    char *p = strrchr(out, '.');
    if (p && strncmp(p + 1, "conv", 4) == 0) {
        char k = p[5];
        snprintf(p + 1, cap - (size_t)(p + 1 - out), "bn%c", k);
    }
}

static selsa_status new_param(selsa_mmtrack_trainer *t, selsa_weights *w, bool dry, const char *name,
                              int ndim, const int64_t *dims, selsa_mmtrack_param **out) {
    selsa_mmtrack_param *p = &t->params[t->n_params++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < 4; i++) p->dims[i] = i < ndim ? dims[i] : 0;
    for (int i = 0; i < ndim; i++) p->numel *= dims[i];
    SELSA_TRY(alloc_f(&t->pers, p->numel, &p->data));
    SELSA_TRY(alloc_f(&t->pers, p->numel, &p->grad));
    SELSA_TRY(alloc_f(&t->pers, p->numel, &p->buf));
    *out = p;
    if (dry) return SELSA_OK;
    memset(p->grad, 0, (size_t)p->numel * sizeof(float));
    memset(p->buf, 0, (size_t)p->numel * sizeof(float));
    const float *src;
    SELSA_TRY(selsa_weights_get(w, name, ndim, dims, &src));
    memcpy(p->data, src, (size_t)p->numel * sizeof(float));
    return SELSA_OK;
}

static selsa_status build_params(selsa_mmtrack_trainer *t, selsa_weights *w, bool dry) {
    t->n_params = 0;
    int64_t wmax = 1, cmax = 1;
    char key[160], bn[128];
    for (int i = 0; i < t->n_layers; i++) {
        mtl *l = &t->layers[i];
        const selsa_tensor *W = &l->L->weight;
        int64_t dims[4] = {W->n, W->c, W->h, W->w}, C = W->n;
        snprintf(key, sizeof key, "%s.weight", l->L->name);
        SELSA_TRY(new_param(t, w, dry, key, l->fc ? 2 : 4, dims, &l->pw));
        if (!l->bn) {
            snprintf(key, sizeof key, "%s.bias", l->L->name);
            SELSA_TRY(new_param(t, w, dry, key, 1, &C, &l->pb));
            continue;
        }
        if (l->pw->numel > wmax) wmax = l->pw->numel;
        if (C > cmax) cmax = C;
        bn_name(l->L->name, bn, sizeof bn);
        snprintf(key, sizeof key, "%s.weight", bn);
        SELSA_TRY(new_param(t, w, dry, key, 1, &C, &l->pg));
        snprintf(key, sizeof key, "%s.bias", bn);
        SELSA_TRY(new_param(t, w, dry, key, 1, &C, &l->pb));
        void *v;
        SELSA_TRY(alloc_f(&t->pers, C, &l->mean));
        SELSA_TRY(selsa_arena_alloc(&t->pers, (size_t)C * sizeof(double), &v));
        l->istd = v;
        if (dry) continue;
        const float *mean, *var;
        snprintf(key, sizeof key, "%s.running_mean", bn);
        SELSA_TRY(selsa_weights_get(w, key, 1, &C, &mean));
        snprintf(key, sizeof key, "%s.running_var", bn);
        SELSA_TRY(selsa_weights_get(w, key, 1, &C, &var));
        for (int64_t o = 0; o < C; o++) {
            if (!(var[o] + t->cfg.bn_eps > 0))
                return selsa_error(SELSA_ERR_NUMERIC, "%s: running_var[%lld] = %g gives a non-positive variance",
                                   bn, (long long)o, (double)var[o]);
            l->mean[o] = mean[o];
            l->istd[o] = 1.0 / sqrt((double)var[o] + t->cfg.bn_eps);
        }
    }
    SELSA_TRY(alloc_f(&t->pers, wmax, &t->wtmp));
    SELSA_TRY(alloc_f(&t->pers, cmax, &t->btmp));
    return SELSA_OK;
}

void selsa_mmtrack_trainer_sync(selsa_mmtrack_trainer *t) {
    for (int i = 0; i < t->n_layers; i++) {
        mtl *l = &t->layers[i];
        selsa_rt_conv *L = l->L;
        if (!l->bn) {
            memcpy(L->weight.data, l->pw->data, (size_t)l->pw->numel * sizeof(float));
            memcpy(L->bias, l->pb->data, (size_t)l->pb->numel * sizeof(float));
            continue;
        }
        /* eval-mode BN folded (§1.1 norm_eval): W' = s·W, b' = beta − mean·s, s = gamma/σ */
        int64_t C = L->weight.n, per = l->pw->numel / C;
        for (int64_t o = 0; o < C; o++) {
            double s = (double)l->pg->data[o] * l->istd[o];
            for (int64_t j = 0; j < per; j++)
                L->weight.data[o * per + j] = (float)(s * (double)l->pw->data[o * per + j]);
            L->bias[o] = (float)((double)l->pb->data[o] - (double)l->mean[o] * s);
        }
    }
}

void selsa_mmtrack_trainer_free(selsa_mmtrack_trainer *t) {
    if (!t) return;
    selsa_mmtrack_model_free(t->m);
    selsa_arena_free(&t->pers);
    selsa_arena_free(&t->act);
    for (int f = 0; f < SELSA_MMTRACK_TRAIN_MAX_FRAMES; f++) selsa_image_free(&t->resized[f]);
    free(t->layers);
    free(t->params);
    free(t->tb);
    free(t->ba);
    free(t);
}

selsa_status selsa_mmtrack_trainer_create(selsa_mmtrack_trainer **out,
                                          const selsa_mmtrack_config *cfg,
                                          const selsa_mmtrack_train_config *tc, selsa_weights *w,
                                          selsa_ctx *ctx) {
    if (!out || !cfg || !tc || !w || !ctx)
        return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack trainer: NULL argument");
    *out = NULL;
    const selsa_random_sampler *ss[2] = {&tc->rpn_sampler, &tc->rcnn_sampler};
    for (int i = 0; i < 2; i++)
        if (ss[i]->num < 1 || !(ss[i]->pos_fraction >= 0 && ss[i]->pos_fraction <= 1))
            return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack trainer: %s sampler num %d / pos_fraction %g invalid",
                               i ? "rcnn" : "rpn", ss[i]->num, ss[i]->pos_fraction);
    if (tc->train_proposals < 1 || !(tc->rpn_beta >= 0) || !(tc->rcnn_beta >= 0) || !(tc->lr >= 0) ||
        !(tc->momentum >= 0 && tc->momentum < 1) || !(tc->wd >= 0) || tc->n_lr_steps < 0 ||
        tc->n_lr_steps > SELSA_MMTRACK_MAX_LR_STEPS || tc->warmup_steps < 0)
        return selsa_error(SELSA_ERR_INVALID_ARG,
                           "mmtrack trainer: invalid train config (train_proposals %d, betas %g/%g, lr %g, "
                           "momentum %g, wd %g, n_lr_steps %d, warmup %lld)",
                           tc->train_proposals, tc->rpn_beta, tc->rcnn_beta, tc->lr, tc->momentum, tc->wd,
                           tc->n_lr_steps, (long long)tc->warmup_steps);
    selsa_mmtrack_trainer *t = calloc(1, sizeof *t);
    if (!t) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "mmtrack trainer: struct");
    t->tc = *tc;
    t->ctx = ctx;
    selsa_rng_seed(&t->rng, tc->seed, 0x33a1);
    selsa_status s = selsa_mmtrack_model_load(&t->m, cfg, w, "training weights");
    if (s != SELSA_OK) goto fail;
    t->cfg = t->m->cfg;
    selsa_mmtrack_config_fix_pointers(&t->cfg);
    if (t->cfg.rpn.n_scales * t->cfg.rpn.n_ratios > 64) {
        s = selsa_error(SELSA_ERR_UNSUPPORTED, "mmtrack trainer: more than 64 anchors per position");
        goto fail;
    }
    t->n_layers = list_layers(t->m, NULL);
    t->layers = calloc((size_t)t->n_layers, sizeof *t->layers);
    t->params = calloc((size_t)t->n_layers * 3, sizeof *t->params);
    for (int si = 1; si < 4; si++) t->n_tb += t->m->net.n_blocks[si];
    t->tb = calloc((size_t)t->n_tb, sizeof *t->tb);
    t->ba = calloc((size_t)t->n_tb, sizeof *t->ba);
    if (!t->layers || !t->params || !t->tb || !t->ba) {
        s = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "mmtrack trainer: layer tables");
        goto fail;
    }
    list_layers(t->m, t->layers);
    {
        int k = 0;
        for (int si = 1; si < 4; si++)
            for (int b = 0; b < t->m->net.n_blocks[si]; b++) t->tb[k++] = &t->m->net.blocks[si][b];
    }
    selsa_arena_init_measure(&t->pers, "train params");
    if ((s = build_params(t, NULL, true)) != SELSA_OK) goto fail;
    size_t bytes = t->pers.peak;
    if ((s = selsa_arena_init(&t->pers, "mmtrack train params", bytes)) != SELSA_OK) goto fail;
    if ((s = build_params(t, w, false)) != SELSA_OK) goto fail;
    selsa_mmtrack_trainer_sync(t);
    *out = t;
    return SELSA_OK;
fail:
    selsa_mmtrack_trainer_free(t);
    return selsa_error_context(s, "mmtrack trainer");
}

int selsa_mmtrack_trainer_n_params(const selsa_mmtrack_trainer *t) { return t ? t->n_params : 0; }
selsa_mmtrack_param *selsa_mmtrack_trainer_param(selsa_mmtrack_trainer *t, int i) {
    return (t && i >= 0 && i < t->n_params) ? &t->params[i] : NULL;
}
selsa_mmtrack_param *selsa_mmtrack_trainer_find(selsa_mmtrack_trainer *t, const char *name) {
    if (!t || !name) return NULL;
    for (int i = 0; i < t->n_params; i++)
        if (strcmp(t->params[i].name, name) == 0) return &t->params[i];
    return NULL;
}
const selsa_mmtrack_model *selsa_mmtrack_trainer_model(const selsa_mmtrack_trainer *t) {
    return t ? t->m : NULL;
}
size_t selsa_mmtrack_trainer_act_bytes(const selsa_mmtrack_trainer *t) { return t ? t->act.capacity : 0; }
size_t selsa_mmtrack_trainer_act_peak(const selsa_mmtrack_trainer *t) { return t ? t->act.peak : 0; }
int64_t selsa_mmtrack_trainer_steps(const selsa_mmtrack_trainer *t) { return t ? t->step : 0; }
void selsa_mmtrack_trainer_set_steps(selsa_mmtrack_trainer *t, int64_t steps) { t->step = steps; }
void selsa_mmtrack_trainer_seed_sampler(selsa_mmtrack_trainer *t, uint64_t seed, uint64_t stream) {
    selsa_rng_seed(&t->rng, seed, stream);
}

void selsa_mmtrack_trainer_zero_grad(selsa_mmtrack_trainer *t) {
    for (int i = 0; i < t->n_params; i++)
        memset(t->params[i].grad, 0, (size_t)t->params[i].numel * sizeof(float));
}

void selsa_mmtrack_trainer_scale_grads(selsa_mmtrack_trainer *t, float factor) {
    if (!t) return;
    for (int i = 0; i < t->n_params; i++)
        for (int64_t j = 0; j < t->params[i].numel; j++) t->params[i].grad[j] *= factor;
}

const int32_t *selsa_mmtrack_trainer_last_rpn_labels(const selsa_mmtrack_trainer *t, int64_t *n) {
    if (n) *n = t ? t->n_labels : 0;
    return t ? t->labels : NULL;
}
const float *selsa_mmtrack_trainer_last_rois(const selsa_mmtrack_trainer *t, const int32_t **labels,
                                             int *n) {
    if (labels) *labels = t ? t->roi_labels : NULL;
    if (n) *n = t ? t->n_rois : 0;
    return t ? t->rois : NULL;
}

const float *selsa_mmtrack_trainer_last_ref_rois(const selsa_mmtrack_trainer *t, int64_t *n) {
    if (n) *n = t ? t->n_ref_rois : 0;
    return t ? t->ref_rois : NULL;
}

/* ------------------------------------------------------------------ step helpers ----------- */

#define OP(expr)                       \
    do {                               \
        if (!ex->dry) SELSA_TRY(expr); \
    } while (0)

static selsa_tensor mat(float *p, int64_t rows, int64_t cols) { return selsa_tensor_view(p, rows, cols, 1, 1); }
static selsa_status tens(selsa_rt_exec *ex, selsa_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w) {
    return selsa_arena_tensor(ex->arena, t, n, c, h, w);
}
static selsa_status like(selsa_rt_exec *ex, selsa_tensor *t, const selsa_tensor *s) {
    return selsa_arena_tensor(ex->arena, t, s->n, s->c, s->h, s->w);
}
static selsa_status zeros_like(selsa_rt_exec *ex, selsa_tensor *t, const selsa_tensor *s) {
    SELSA_TRY(like(ex, t, s));
    if (!ex->dry) memset(t->data, 0, (size_t)selsa_tensor_numel(t) * sizeof(float));
    return SELSA_OK;
}
static selsa_status ibuf(selsa_rt_exec *ex, int64_t n, int32_t **p) {
    void *v;
    SELSA_TRY(selsa_arena_alloc(ex->arena, (size_t)(n > 0 ? n : 1) * sizeof(int32_t), &v));
    *p = v;
    return SELSA_OK;
}
static selsa_status fbuf(selsa_rt_exec *ex, int64_t n, float **p) { return alloc_f(ex->arena, n, p); }
/* Frame f (batch slot) of a batched tensor. */
static selsa_tensor slot(const selsa_tensor *t, int64_t f) {
    int64_t per = t->c * t->h * t->w;
    return selsa_tensor_view(t->data ? t->data + f * per : NULL, 1, t->c, t->h, t->w);
}

/* Linear forward out (rows, Out) allocated. */
static selsa_status lin(selsa_rt_exec *ex, const selsa_rt_conv *L, const selsa_tensor *in,
                        selsa_tensor *out, selsa_activation act) {
    SELSA_TRY(tens(ex, out, in->n, L->weight.n, 1, 1));
    return selsa_rt_linear_into(ex, L, in, out, act);
}

static const mtl *layer_of(const selsa_mmtrack_trainer *t, const selsa_rt_conv *L) {
    for (int i = 0; i < t->n_layers; i++)
        if (t->layers[i].L == L) return &t->layers[i];
    return NULL;
}

/* Weight (and bias / BN) gradients of a trainable layer from dout and the forward input. */
static selsa_status wgrad(selsa_mmtrack_trainer *t, selsa_rt_exec *ex, const selsa_rt_conv *Lc,
                          const selsa_tensor *dout, const selsa_tensor *in) {
    const mtl *l = layer_of(t, Lc);
    const selsa_tensor *W = &Lc->weight;
    if (ex->dry) {
        if (!l->fc) selsa_rt_need(ex, selsa_conv2d_scratch_bytes(in, W, &Lc->p));
        return SELSA_OK;
    }
    if (dout->n == 0) return SELSA_OK;
    selsa_status s;
    if (l->fc) {
        selsa_tensor g = selsa_tensor_view(l->pw->grad, W->n, W->c, W->h, W->w);
        s = selsa_linear_backward_weight(ex->ctx, &g, l->pb->grad, dout, in);
    } else if (!l->bn) {
        selsa_tensor g = selsa_tensor_view(l->pw->grad, W->n, W->c, W->h, W->w);
        s = selsa_conv2d_backward_weight(ex->ctx, &g, l->pb->grad, dout, in, &Lc->p);
    } else {
        selsa_tensor g = selsa_tensor_view(t->wtmp, W->n, W->c, W->h, W->w);
        int64_t n = selsa_tensor_numel(&g), C = W->n, per = n / C;
        memset(t->wtmp, 0, (size_t)n * sizeof(float));
        memset(t->btmp, 0, (size_t)C * sizeof(float));
        s = selsa_conv2d_backward_weight(ex->ctx, &g, t->btmp, dout, in, &Lc->p);
        if (s == SELSA_OK) {
            /* W' = s·W, b' = beta − mean·s, s = gamma·istd:
             * dW = s·dW', dbeta = db', dgamma = istd·(Σ_j dW'_j·W_j − mean·db') */
            for (int64_t o = 0; o < C; o++) {
                double sc = (double)l->pg->data[o] * l->istd[o], dot = 0;
                float *dst = l->pw->grad + o * per;
                const float *src = t->wtmp + o * per, *w0 = l->pw->data + o * per;
                for (int64_t j = 0; j < per; j++) {
                    dst[j] += (float)(sc * (double)src[j]);
                    dot += (double)src[j] * (double)w0[j];
                }
                l->pg->grad[o] += (float)(l->istd[o] * (dot - (double)l->mean[o] * (double)t->btmp[o]));
                l->pb->grad[o] += t->btmp[o];
            }
        }
    }
    return s == SELSA_OK ? s : selsa_error_context(s, "backward of %s", Lc->name);
}

/* din += ∂L/∂in (weights: the model's folded ones). */
static selsa_status dgrad(selsa_mmtrack_trainer *t, selsa_rt_exec *ex, const selsa_rt_conv *Lc,
                          selsa_tensor *din, const selsa_tensor *dout) {
    const mtl *l = layer_of(t, Lc);
    if (ex->dry) {
        if (!l->fc) selsa_rt_need(ex, selsa_conv2d_scratch_bytes(din, &Lc->weight, &Lc->p));
        return SELSA_OK;
    }
    if (dout->n == 0) return SELSA_OK;
    selsa_status s = l->fc ? selsa_linear_backward_data(ex->ctx, din, dout, &Lc->weight)
                           : selsa_conv2d_backward_data(ex->ctx, din, dout, &Lc->weight, &Lc->p);
    return s == SELSA_OK ? s : selsa_error_context(s, "backward data of %s", Lc->name);
}

/* ------------------------------------------------------------------ forward pieces --------- */

static const selsa_pool2d_params POOL = {3, 3, 2, 2, 1, 1, SELSA_POOL_TORCH_FLOOR};

/* Frozen stem + layer1 (forward only): *x1 allocated first, temporaries released. */
static selsa_status frozen_forward(selsa_rt_exec *ex, const selsa_rt_net *net, const selsa_tensor *in,
                                   selsa_tensor *x1) {
    const selsa_rt_conv *c1 = &net->conv1;
    int64_t h = selsa_conv2d_out_size(in->h, 7, c1->p.stride_h, c1->p.pad_h, 1);
    int64_t w = selsa_conv2d_out_size(in->w, 7, c1->p.stride_w, c1->p.pad_w, 1);
    int64_t ph, pw;
    SELSA_TRY(selsa_maxpool2d_out_shape(h, w, &POOL, &ph, &pw));
    int nb = net->n_blocks[0];
    const selsa_rt_block *Bl = &net->blocks[0][nb - 1];
    SELSA_TRY(tens(ex, x1, in->n, Bl->c3.weight.n, ph, pw)); /* layer1: stride 1 */
    size_t mk = selsa_arena_mark(ex->arena);
    selsa_status s = SELSA_OK;
    selsa_tensor c, cur;
#define CK(e)                         \
    do {                              \
        if ((s = (e)) != SELSA_OK) goto done; \
    } while (0)
    CK(selsa_rt_conv_run(ex, c1, in, &c, SELSA_ACT_RELU));
    CK(tens(ex, &cur, in->n, c.c, ph, pw));
    if (!ex->dry) CK(selsa_maxpool2d_forward(ex->ctx, &cur, NULL, &c, &POOL));
    for (int b = 0; b < nb; b++) {
        const selsa_rt_block *B = &net->blocks[0][b];
        selsa_tensor a, bb, y, c3;
        CK(selsa_rt_conv_run(ex, &B->c1, &cur, &a, SELSA_ACT_RELU));
        CK(selsa_rt_conv_run(ex, &B->c2, &a, &bb, SELSA_ACT_RELU));
        if (b == nb - 1) y = *x1;
        else CK(tens(ex, &y, cur.n, B->c3.weight.n, bb.h, bb.w));
        if (B->has_down) {
            CK(selsa_rt_conv_into(ex, &B->down, &cur, &y, SELSA_ACT_NONE));
            CK(selsa_rt_conv_run(ex, &B->c3, &bb, &c3, SELSA_ACT_NONE));
            if (!ex->dry) CK(selsa_add_forward(ex->ctx, &y, &y, &c3, SELSA_ACT_RELU));
        } else {
            CK(selsa_rt_conv_into(ex, &B->c3, &bb, &y, SELSA_ACT_NONE));
            if (!ex->dry) CK(selsa_add_forward(ex->ctx, &y, &y, &cur, SELSA_ACT_RELU));
        }
        cur = y;
    }
done:
#undef CK
    selsa_arena_rewind(ex->arena, mk);
    return s;
}

/* Trainable bottleneck forward with a, b, y saved. */
static selsa_status block_forward(selsa_rt_exec *ex, const selsa_rt_block *B, const selsa_tensor *x,
                                  bact *ba) {
    SELSA_TRY(selsa_rt_conv_run(ex, &B->c1, x, &ba->a, SELSA_ACT_RELU));
    SELSA_TRY(selsa_rt_conv_run(ex, &B->c2, &ba->a, &ba->b, SELSA_ACT_RELU));
    if (B->has_down) {
        SELSA_TRY(selsa_rt_conv_run(ex, &B->down, x, &ba->y, SELSA_ACT_NONE));
        size_t mk = selsa_arena_mark(ex->arena);
        selsa_tensor c;
        SELSA_TRY(selsa_rt_conv_run(ex, &B->c3, &ba->b, &c, SELSA_ACT_NONE));
        OP(selsa_add_forward(ex->ctx, &ba->y, &ba->y, &c, SELSA_ACT_RELU));
        selsa_arena_rewind(ex->arena, mk);
    } else {
        SELSA_TRY(selsa_rt_conv_run(ex, &B->c3, &ba->b, &ba->y, SELSA_ACT_NONE));
        OP(selsa_add_forward(ex->ctx, &ba->y, &ba->y, x, SELSA_ACT_RELU));
    }
    return SELSA_OK;
}

/* Trainable bottleneck backward: dy → weight grads; dx (zeroed by the caller, NULL: stop). */
static selsa_status block_backward(selsa_mmtrack_trainer *t, selsa_rt_exec *ex, const selsa_rt_block *B,
                                   const selsa_tensor *x, const bact *ba, const selsa_tensor *dy,
                                   selsa_tensor *dx) {
    size_t mk = selsa_arena_mark(ex->arena);
    selsa_tensor g, db, gb, da, ga;
    SELSA_TRY(zeros_like(ex, &g, &ba->y));
    OP(selsa_relu_backward(ex->ctx, &g, dy, &ba->y));
    SELSA_TRY(wgrad(t, ex, &B->c3, &g, &ba->b));
    SELSA_TRY(zeros_like(ex, &db, &ba->b));
    SELSA_TRY(dgrad(t, ex, &B->c3, &db, &g));
    SELSA_TRY(zeros_like(ex, &gb, &ba->b));
    OP(selsa_relu_backward(ex->ctx, &gb, &db, &ba->b));
    SELSA_TRY(wgrad(t, ex, &B->c2, &gb, &ba->a));
    SELSA_TRY(zeros_like(ex, &da, &ba->a));
    SELSA_TRY(dgrad(t, ex, &B->c2, &da, &gb));
    SELSA_TRY(zeros_like(ex, &ga, &ba->a));
    OP(selsa_relu_backward(ex->ctx, &ga, &da, &ba->a));
    SELSA_TRY(wgrad(t, ex, &B->c1, &ga, x));
    if (dx) SELSA_TRY(dgrad(t, ex, &B->c1, dx, &ga));
    if (B->has_down) {
        SELSA_TRY(wgrad(t, ex, &B->down, &g, x));
        if (dx) SELSA_TRY(dgrad(t, ex, &B->down, dx, &g));
    } else if (dx) {
        OP(selsa_accumulate(ex->ctx, dx, &g, 1.0f));
    }
    selsa_arena_rewind(ex->arena, mk);
    return SELSA_OK;
}

static selsa_status check_grads(const selsa_mmtrack_trainer *t) {
    for (int i = 0; i < t->n_params; i++) {
        const selsa_mmtrack_param *p = &t->params[i];
        for (int64_t j = 0; j < p->numel; j++)
            if (!isfinite(p->grad[j]))
                return selsa_error(SELSA_ERR_NUMERIC, "gradient of %s is not finite (%g at element %lld)",
                                   p->name, (double)p->grad[j], (long long)j);
    }
    return SELSA_OK;
}

/* Highest-IoU gt box with label `lab` for box b (first on ties); −1 when none. */
static int gt_of_label(const float *b, const float *gt, const int32_t *gl, int G, int lab) {
    int best = -1;
    float bv = -1.0f;
    for (int g = 0; g < G; g++) {
        if (gl[g] != lab) continue;
        float iw = fminf(b[2], gt[4 * g + 2]) - fmaxf(b[0], gt[4 * g]);
        float ih = fminf(b[3], gt[4 * g + 3]) - fmaxf(b[1], gt[4 * g + 1]);
        float ov = (iw > 0 ? iw : 0) * (ih > 0 ? ih : 0);
        float un = (b[2] - b[0]) * (b[3] - b[1]) + (gt[4 * g + 2] - gt[4 * g]) * (gt[4 * g + 3] - gt[4 * g + 1]) - ov;
        float v = ov / fmaxf(un, 1e-6f);
        if (v > bv) {
            bv = v;
            best = g;
        }
    }
    return best;
}

/* ------------------------------------------------------------------ the step --------------- */

static selsa_status step(selsa_mmtrack_trainer *t, selsa_rt_exec *ex, int H, int W, int T, int G,
                         const selsa_mmtrack_train_sample *s, bool backward, selsa_mmtrack_losses *L) {
    const selsa_mmtrack_config *c = &t->cfg;
    const selsa_mmtrack_train_config *tc = &t->tc;
    selsa_mmtrack_model *m = t->m;
    const int A = c->rpn.n_scales * c->rpn.n_ratios, D = c->fc_dim, C = c->num_classes;
    const int Gh = c->agg_heads, R = c->rpn.max_per_img, Rt = tc->train_proposals;
    const int Smax = tc->rcnn_sampler.num;
    selsa_arena_reset(ex->arena);
    memset(L, 0, sizeof *L);
    /* ---- input: mmdet Normalize (float32 mean/std, §1.4), pad to 16, one batch ---- */
    selsa_norm_cfg nc = selsa_norm_mmdet();
    for (int i = 0; i < 3; i++) {
        nc.mean[i] = (double)(float)nc.mean[i];
        nc.std[i] = (double)(float)nc.std[i];
    }
    int Hp, Wp;
    selsa_norm_padded_size(&nc, H, W, &Hp, &Wp);
    selsa_tensor in, x1;
    SELSA_TRY(tens(ex, &in, T, 3, Hp, Wp));
    if (!ex->dry) {
        memset(in.data, 0, (size_t)selsa_tensor_numel(&in) * sizeof(float));
        for (int f = 0; f < T; f++) SELSA_TRY(selsa_image_to_tensor(&t->resized[f], &nc, &in, f));
    }
    SELSA_TRY(frozen_forward(ex, &m->net, &in, &x1));
    const selsa_tensor *x = &x1;
    for (int k = 0; k < t->n_tb; k++) {
        SELSA_TRY(block_forward(ex, t->tb[k], x, &t->ba[k]));
        x = &t->ba[k].y;
    }
    const selsa_tensor *C5 = x;
    selsa_tensor F, rc, cls, reg;
    SELSA_TRY(selsa_rt_conv_run(ex, &m->neck, C5, &F, SELSA_ACT_RELU));
    SELSA_TRY(selsa_rt_conv_run(ex, &m->rpn_conv, &F, &rc, SELSA_ACT_RELU));
    SELSA_TRY(selsa_rt_conv_run(ex, &m->rpn_cls, &rc, &cls, SELSA_ACT_NONE));
    SELSA_TRY(selsa_rt_conv_run(ex, &m->rpn_reg, &rc, &reg, SELSA_ACT_NONE));
    const int fh = (int)F.h, fw = (int)F.w;
    const int64_t HW = (int64_t)fh * fw, nA = (int64_t)A * HW;

    /* ---- reference proposals: test RPN cfg (§2.1 step 3), ≤ R per ref frame ---- */
    float *pbox, *ref_rois;
    SELSA_TRY(fbuf(ex, (int64_t)(Rt > R ? Rt : R) * 4, &pbox));
    SELSA_TRY(fbuf(ex, (int64_t)(T - 1) * R * 5, &ref_rois));
    t->ref_rois = ref_rois;
    selsa_rt_need(ex, selsa_rpn_proposals_mmdet_scratch_bytes(A, fh, fw, &c->rpn));
    selsa_rpn_mmdet_params trp = c->rpn;
    trp.max_per_img = Rt;
    selsa_rt_need(ex, selsa_rpn_proposals_mmdet_scratch_bytes(A, fh, fw, &trp));
    int64_t M = (int64_t)(T - 1) * R;
    if (!ex->dry && s->ref_rois) {
        M = s->n_ref_rois;
        for (int64_t i = 0; i < M; i++) {
            const float *src = s->ref_rois + 5 * i;
            if (src[0] < 1 || src[0] > T - 1 || src[0] != floorf(src[0]))
                return selsa_error(SELSA_ERR_INVALID_ARG, "injected ref_rois[%lld] frame %g outside [1, %d]",
                                   (long long)i, (double)src[0], T - 1);
            for (int k = 1; k < 5; k++)
                if (!isfinite(src[k]))
                    return selsa_error(SELSA_ERR_INVALID_ARG, "injected ref_rois[%lld] is not finite", (long long)i);
        }
        memcpy(ref_rois, s->ref_rois, (size_t)M * 5 * sizeof(float));
    } else if (!ex->dry) {
        M = 0;
        for (int f = 1; f < T; f++) {
            selsa_tensor cf = slot(&cls, f), rf = slot(&reg, f);
            int64_t P = 0;
            SELSA_TRY(selsa_rpn_proposals_mmdet(ex->ctx, pbox, NULL, &P, &cf, &rf, (float)H, (float)W, &c->rpn));
            for (int64_t i = 0; i < P; i++) {
                float *ro = ref_rois + (M + i) * 5;
                ro[0] = (float)f;
                memcpy(ro + 1, pbox + i * 4, 4 * sizeof(float));
            }
            M += P;
        }
    }
    t->n_ref_rois = M;

    /* ---- RPN targets on the key frame (§1.2 train.rpn) ---- */
    float *anchors, *atmp, *bce_t, *bce_w, *rpn_t, *rpn_w;
    int32_t *assigned, *itmp, *pos, *neg;
    uint8_t *inside;
    {
        void *v;
        SELSA_TRY(selsa_arena_alloc(ex->arena, (size_t)nA, &v));
        inside = v;
    }
    SELSA_TRY(fbuf(ex, nA * 4, &anchors));
    SELSA_TRY(fbuf(ex, selsa_mmtrack_assign_tmp_floats(nA > Rt ? nA : Rt, G), &atmp));
    const int64_t nB = (nA > Rt ? nA : Rt) + G; /* anchors, or train proposals + gt */
    SELSA_TRY(ibuf(ex, nB, &assigned));
    SELSA_TRY(ibuf(ex, nB, &itmp));
    SELSA_TRY(ibuf(ex, nB, &pos));
    SELSA_TRY(ibuf(ex, nB, &neg));
    SELSA_TRY(ibuf(ex, nA, &t->labels));
    t->n_labels = nA;
    SELSA_TRY(fbuf(ex, nA, &bce_t));
    SELSA_TRY(fbuf(ex, nA, &bce_w));
    SELSA_TRY(fbuf(ex, nA * 4, &rpn_t));
    SELSA_TRY(fbuf(ex, nA * 4, &rpn_w));
    selsa_tensor key_cls = slot(&cls, 0), key_reg = slot(&reg, 0);
    selsa_tensor bce_tt = selsa_tensor_view(bce_t, 1, A, fh, fw), bce_wt = selsa_tensor_view(bce_w, 1, A, fh, fw);
    selsa_tensor rpn_tt = selsa_tensor_view(rpn_t, 1, 4 * A, fh, fw), rpn_wt = selsa_tensor_view(rpn_w, 1, 4 * A, fh, fw);
    double rpn_scale = 1.0;
    if (!ex->dry) {
        float base[4 * 64];
        SELSA_TRY(selsa_anchors_mmdet(base, c->rpn.stride, c->rpn.ratios, c->rpn.n_ratios, c->rpn.scales,
                                      c->rpn.n_scales));
        selsa_anchors_shift(anchors, base, A, fh, fw, c->rpn.stride);
        selsa_mmtrack_anchor_inside(anchors, nA, H, W, tc->allowed_border, inside);
        selsa_mmtrack_assign(anchors, nA, inside, s->gt_boxes, G, &tc->rpn_assigner, assigned, NULL, atmp);
        if (s->rpn_labels) {
            for (int64_t i = 0; i < nA; i++) {
                int32_t l = s->rpn_labels[i];
                if (l < -1 || l > 1)
                    return selsa_error(SELSA_ERR_INVALID_ARG, "injected rpn_labels[%lld] = %d (must be -1, 0 or 1)",
                                       (long long)i, l);
                if (l == 1 && assigned[i] <= 0)
                    return selsa_error(SELSA_ERR_INVALID_ARG,
                                       "injected rpn_labels[%lld] = 1 but the assigner does not make that anchor positive",
                                       (long long)i);
                t->labels[i] = l;
            }
        } else {
            int np, nn;
            selsa_mmtrack_sample(assigned, nA, &tc->rpn_sampler, &t->rng, pos, &np, neg, &nn, itmp);
            for (int64_t i = 0; i < nA; i++) t->labels[i] = -1;
            for (int i = 0; i < np; i++) t->labels[pos[i]] = 1;
            for (int i = 0; i < nn; i++) t->labels[neg[i]] = 0;
        }
        /* anchor i = hw·A + a → logits channel a (1, A, h, w); deltas channels 4a..4a+3 */
        memset(rpn_w, 0, (size_t)nA * 4 * sizeof(float));
        memset(rpn_t, 0, (size_t)nA * 4 * sizeof(float));
        for (int64_t hw = 0; hw < HW; hw++)
            for (int a = 0; a < A; a++) {
                int64_t i = hw * A + a;
                int32_t l = t->labels[i];
                bce_t[a * HW + hw] = l == 1 ? 1.0f : 0.0f;
                bce_w[a * HW + hw] = l >= 0 ? 1.0f : 0.0f;
                L->n_rpn_pos += l == 1;
                L->n_rpn_neg += l == 0;
                if (l == 1) {
                    float d[4];
                    selsa_bbox_encode_mmdet(d, anchors + 4 * i, s->gt_boxes + 4 * (assigned[i] - 1), 1, NULL, NULL);
                    for (int k = 0; k < 4; k++) {
                        rpn_t[(4 * a + k) * HW + hw] = d[k];
                        rpn_w[(4 * a + k) * HW + hw] = 1.0f;
                    }
                }
            }
        /* mmdet AnchorHead.get_targets sums max(#pos, 1) and max(#neg, 1) per image; with
         * sampling the avg_factor is their sum */
        int navg = (L->n_rpn_pos > 1 ? L->n_rpn_pos : 1) + (L->n_rpn_neg > 1 ? L->n_rpn_neg : 1);
        rpn_scale = 1.0 / navg;
        SELSA_TRY(selsa_sigmoid_bce_forward(ex->ctx, &key_cls, &bce_tt, &bce_wt, rpn_scale, NULL, &L->rpn_cls));
    }
    const selsa_smooth_l1_params rpn_sl1 = {SELSA_SMOOTH_L1_MMDET, 1.0f, tc->rpn_beta, rpn_scale};
    if (!ex->dry) SELSA_TRY(selsa_smooth_l1_forward(ex->ctx, &key_reg, &rpn_tt, &rpn_wt, &rpn_sl1, NULL, &L->rpn_bbox));

    /* ---- key RoIs: injected, or train proposals + gt → MaxIoUAssigner → RandomSampler ---- */
    int S = Smax;
    int32_t *roi_gt;
    SELSA_TRY(fbuf(ex, (int64_t)Smax * 5, &t->rois));
    SELSA_TRY(ibuf(ex, Smax, &t->roi_labels));
    SELSA_TRY(ibuf(ex, Smax, &roi_gt));
    float *cand;
    SELSA_TRY(fbuf(ex, (int64_t)(Rt + G) * 4, &cand));
    if (!ex->dry) {
        if (s->rcnn_rois) {
            S = s->n_rois;
            for (int i = 0; i < S; i++) {
                int32_t lab = s->rcnn_labels[i];
                if (lab < 0 || lab > C)
                    return selsa_error(SELSA_ERR_INVALID_ARG, "injected rcnn_labels[%d] = %d outside [0, %d]", i, lab, C);
                float *ro = t->rois + 5 * i;
                ro[0] = 0.0f;
                memcpy(ro + 1, s->rcnn_rois + 5 * i + 1, 4 * sizeof(float));
                for (int k = 1; k < 5; k++)
                    if (!isfinite(ro[k]))
                        return selsa_error(SELSA_ERR_INVALID_ARG, "injected rcnn_rois[%d] is not finite", i);
                t->roi_labels[i] = lab;
                roi_gt[i] = -1;
                if (lab < C && s->rcnn_gt_inds) {
                    roi_gt[i] = s->rcnn_gt_inds[i];
                    if (roi_gt[i] < 0 || roi_gt[i] >= G || s->gt_labels[roi_gt[i]] != lab)
                        return selsa_error(SELSA_ERR_INVALID_ARG,
                                           "injected rcnn_gt_inds[%d] = %d is not a gt of label %d", i,
                                           roi_gt[i], lab);
                } else if (lab < C) {
                    roi_gt[i] = gt_of_label(ro + 1, s->gt_boxes, s->gt_labels, G, lab);
                    if (roi_gt[i] < 0)
                        return selsa_error(SELSA_ERR_INVALID_ARG, "injected RoI %d has label %d but no gt box of that class",
                                           i, lab);
                }
            }
        } else {
            selsa_tensor kc = slot(&cls, 0), kr = slot(&reg, 0);
            int64_t P = 0;
            SELSA_TRY(selsa_rpn_proposals_mmdet(ex->ctx, pbox, NULL, &P, &kc, &kr, (float)H, (float)W, &trp));
            /* assign on the proposals only, then gt prepended as always-positive (add_gt_) */
            int nG = tc->rcnn_sampler.add_gt_as_proposals ? G : 0;
            memcpy(cand, s->gt_boxes, (size_t)nG * 4 * sizeof(float));
            memcpy(cand + 4 * nG, pbox, (size_t)P * 4 * sizeof(float));
            selsa_mmtrack_assign(pbox, P, NULL, s->gt_boxes, G, &tc->rcnn_assigner, assigned + nG, NULL, atmp);
            for (int g = 0; g < nG; g++) assigned[g] = g + 1;
            int np, nn;
            selsa_mmtrack_sample(assigned, P + nG, &tc->rcnn_sampler, &t->rng, pos, &np, neg, &nn, itmp);
            S = np + nn;
            for (int i = 0; i < S; i++) {
                int32_t k = i < np ? pos[i] : neg[i - np];
                float *ro = t->rois + 5 * i;
                ro[0] = 0.0f;
                memcpy(ro + 1, cand + 4 * k, 4 * sizeof(float));
                roi_gt[i] = i < np ? assigned[k] - 1 : -1;
                t->roi_labels[i] = i < np ? s->gt_labels[roi_gt[i]] : C;
            }
        }
        t->n_rois = S;
        L->n_rois = S;
        for (int i = 0; i < S; i++) L->n_pos_rois += t->roi_labels[i] < C;
    }

    /* ---- RoIAlign + SELSA bbox head (§2.3–§2.5) ---- */
    const selsa_roi_align_params rp = {c->roi_size, c->roi_size, c->spatial_scale, c->roi_sampling_ratio, true};
    selsa_tensor krois = mat(t->rois, S, 5), rrois = mat(ref_rois, M, 5);
    selsa_tensor fK, fR, x0, r0, Q0, K0, V0, P0, O0, A0, xa, r0r, x1h, r1, Q1, K1, V1, P1, O1, A1, xb, sc, rg, prob;
    SELSA_TRY(tens(ex, &fK, S, F.c, c->roi_size, c->roi_size));
    SELSA_TRY(tens(ex, &fR, M, F.c, c->roi_size, c->roi_size));
    selsa_rt_need(ex, selsa_roi_align_scratch_bytes(S > M ? S : M));
    if (!ex->dry && S > 0) SELSA_TRY(selsa_roi_align_forward(ex->ctx, &fK, &F, &krois, &rp));
    if (!ex->dry && M > 0) SELSA_TRY(selsa_roi_align_forward(ex->ctx, &fR, &F, &rrois, &rp));
    const float scale = (float)(1.0 / sqrt((double)(D / Gh))); /* §2.5 */
    selsa_rt_need(ex, selsa_attention_scratch_bytes(S, M, D, D, Gh));
    SELSA_TRY(lin(ex, &m->fc0, &fK, &x0, SELSA_ACT_NONE));
    SELSA_TRY(lin(ex, &m->fc0, &fR, &r0, SELSA_ACT_NONE));
    /* aggregator 0 on pre-ReLU features */
    SELSA_TRY(lin(ex, &m->fc_embed[0], &x0, &Q0, SELSA_ACT_NONE));
    SELSA_TRY(lin(ex, &m->ref_fc_embed[0], &r0, &K0, SELSA_ACT_NONE));
    SELSA_TRY(lin(ex, &m->ref_fc[0], &r0, &V0, SELSA_ACT_NONE));
    SELSA_TRY(tens(ex, &P0, Gh, S, M, 1));
    SELSA_TRY(tens(ex, &O0, S, D, 1, 1));
    if (!ex->dry && S > 0) SELSA_TRY(selsa_attention_forward(ex->ctx, &O0, &P0, &Q0, &K0, &V0, Gh, scale));
    SELSA_TRY(lin(ex, &m->agg_fc[0], &O0, &A0, SELSA_ACT_NONE));
    SELSA_TRY(like(ex, &xa, &x0));
    SELSA_TRY(like(ex, &r0r, &r0));
    if (!ex->dry && S > 0) SELSA_TRY(selsa_add_forward(ex->ctx, &xa, &x0, &A0, SELSA_ACT_RELU));
    if (!ex->dry && M > 0) SELSA_TRY(selsa_relu_forward(ex->ctx, &r0r, &r0));
    SELSA_TRY(lin(ex, &m->fc1, &xa, &x1h, SELSA_ACT_NONE));
    SELSA_TRY(lin(ex, &m->fc1, &r0r, &r1, SELSA_ACT_NONE));
    SELSA_TRY(lin(ex, &m->fc_embed[1], &x1h, &Q1, SELSA_ACT_NONE));
    SELSA_TRY(lin(ex, &m->ref_fc_embed[1], &r1, &K1, SELSA_ACT_NONE));
    SELSA_TRY(lin(ex, &m->ref_fc[1], &r1, &V1, SELSA_ACT_NONE));
    SELSA_TRY(tens(ex, &P1, Gh, S, M, 1));
    SELSA_TRY(tens(ex, &O1, S, D, 1, 1));
    if (!ex->dry && S > 0) SELSA_TRY(selsa_attention_forward(ex->ctx, &O1, &P1, &Q1, &K1, &V1, Gh, scale));
    SELSA_TRY(lin(ex, &m->agg_fc[1], &O1, &A1, SELSA_ACT_NONE));
    SELSA_TRY(like(ex, &xb, &x1h));
    if (!ex->dry && S > 0) SELSA_TRY(selsa_add_forward(ex->ctx, &xb, &x1h, &A1, SELSA_ACT_RELU));
    SELSA_TRY(lin(ex, &m->fc_cls, &xb, &sc, SELSA_ACT_NONE));
    SELSA_TRY(lin(ex, &m->fc_reg, &xb, &rg, SELSA_ACT_NONE));
    SELSA_TRY(like(ex, &prob, &sc));

    /* ---- RCNN losses (mmdet BBoxHead.loss): CE / #RoIs, class-specific SmoothL1 / #RoIs ---- */
    float *bt, *bw;
    SELSA_TRY(fbuf(ex, (int64_t)Smax * 4 * C, &bt));
    SELSA_TRY(fbuf(ex, (int64_t)Smax * 4 * C, &bw));
    selsa_tensor btt = mat(bt, S, 4 * C), bwt = mat(bw, S, 4 * C);
    const selsa_softmax_ce_params ce = {0, -1, SELSA_NORM_VALID, 1.0f};
    const selsa_smooth_l1_params sl1 = {SELSA_SMOOTH_L1_MMDET, 1.0f, tc->rcnn_beta, 1.0 / (S > 0 ? S : 1)};
    if (!ex->dry) {
        memset(bt, 0, (size_t)S * 4 * C * sizeof(float));
        memset(bw, 0, (size_t)S * 4 * C * sizeof(float));
        for (int i = 0; i < S; i++) {
            int lab = t->roi_labels[i];
            if (lab >= C) continue;
            /* DeltaXYWH (proposal → gt), stds 0.2 (§1.1) */
            selsa_bbox_encode_mmdet(bt + (int64_t)i * 4 * C + 4 * lab, t->rois + 5 * i + 1,
                                    s->gt_boxes + 4 * roi_gt[i], 1, NULL, c->rcnn_stds);
            for (int k = 0; k < 4; k++) bw[(int64_t)i * 4 * C + 4 * lab + k] = 1.0f;
        }
        if (S > 0) {
            SELSA_TRY(selsa_softmax_ce_forward(ex->ctx, &sc, t->roi_labels, &ce, &prob, NULL, &L->cls));
            SELSA_TRY(selsa_smooth_l1_forward(ex->ctx, &rg, &btt, &bwt, &sl1, NULL, &L->bbox));
        }
        L->total = L->rpn_cls + L->rpn_bbox + L->cls + L->bbox;
        const char *bad = !isfinite(L->rpn_cls) ? "loss_rpn_cls" : !isfinite(L->rpn_bbox) ? "loss_rpn_bbox"
                          : !isfinite(L->cls) ? "loss_cls" : !isfinite(L->bbox) ? "loss_bbox" : NULL;
        if (bad) return selsa_error(SELSA_ERR_NUMERIC, "%s is not finite", bad);
    }
    if (!backward) return SELSA_OK;

    /* ================================ backward ================================ */
    selsa_tensor dsc, drg, dxb, g1, dx1, dO1, dQ1, dK1, dV1, dr1, dxa, dr0r, g0, dx0, dO0, dQ0, dK0, dV0, dr0;
    SELSA_TRY(zeros_like(ex, &dsc, &sc));
    SELSA_TRY(zeros_like(ex, &drg, &rg));
    if (S > 0) {
        OP(selsa_softmax_ce_backward(ex->ctx, &dsc, &prob, t->roi_labels, &ce));
        OP(selsa_smooth_l1_backward(ex->ctx, &drg, &rg, &btt, &bwt, &sl1));
    }
    SELSA_TRY(wgrad(t, ex, &m->fc_cls, &dsc, &xb));
    SELSA_TRY(wgrad(t, ex, &m->fc_reg, &drg, &xb));
    SELSA_TRY(zeros_like(ex, &dxb, &xb));
    SELSA_TRY(dgrad(t, ex, &m->fc_cls, &dxb, &dsc));
    SELSA_TRY(dgrad(t, ex, &m->fc_reg, &dxb, &drg));
    /* xb = relu(x1 + agg1(x1, r1)) */
    SELSA_TRY(zeros_like(ex, &g1, &xb));
    if (S > 0) OP(selsa_relu_backward(ex->ctx, &g1, &dxb, &xb));
    SELSA_TRY(like(ex, &dx1, &x1h));
    if (!ex->dry) memcpy(dx1.data, g1.data, (size_t)selsa_tensor_numel(&g1) * sizeof(float));
    SELSA_TRY(wgrad(t, ex, &m->agg_fc[1], &g1, &O1));
    SELSA_TRY(zeros_like(ex, &dO1, &O1));
    SELSA_TRY(dgrad(t, ex, &m->agg_fc[1], &dO1, &g1));
    SELSA_TRY(zeros_like(ex, &dQ1, &Q1));
    SELSA_TRY(zeros_like(ex, &dK1, &K1));
    SELSA_TRY(zeros_like(ex, &dV1, &V1));
    if (S > 0 && M > 0) OP(selsa_attention_backward(ex->ctx, &dQ1, &dK1, &dV1, &dO1, &P1, &Q1, &K1, &V1, Gh, scale));
    SELSA_TRY(wgrad(t, ex, &m->fc_embed[1], &dQ1, &x1h));
    SELSA_TRY(dgrad(t, ex, &m->fc_embed[1], &dx1, &dQ1));
    SELSA_TRY(wgrad(t, ex, &m->ref_fc_embed[1], &dK1, &r1));
    SELSA_TRY(wgrad(t, ex, &m->ref_fc[1], &dV1, &r1));
    SELSA_TRY(zeros_like(ex, &dr1, &r1));
    SELSA_TRY(dgrad(t, ex, &m->ref_fc_embed[1], &dr1, &dK1));
    SELSA_TRY(dgrad(t, ex, &m->ref_fc[1], &dr1, &dV1));
    /* shared_fcs.1 on both paths */
    SELSA_TRY(wgrad(t, ex, &m->fc1, &dx1, &xa));
    SELSA_TRY(wgrad(t, ex, &m->fc1, &dr1, &r0r));
    SELSA_TRY(zeros_like(ex, &dxa, &xa));
    SELSA_TRY(zeros_like(ex, &dr0r, &r0r));
    SELSA_TRY(dgrad(t, ex, &m->fc1, &dxa, &dx1));
    SELSA_TRY(dgrad(t, ex, &m->fc1, &dr0r, &dr1));
    /* xa = relu(x0 + agg0(x0, r0)); r0r = relu(r0) */
    SELSA_TRY(zeros_like(ex, &g0, &xa));
    if (S > 0) OP(selsa_relu_backward(ex->ctx, &g0, &dxa, &xa));
    SELSA_TRY(like(ex, &dx0, &x0));
    if (!ex->dry) memcpy(dx0.data, g0.data, (size_t)selsa_tensor_numel(&g0) * sizeof(float));
    SELSA_TRY(wgrad(t, ex, &m->agg_fc[0], &g0, &O0));
    SELSA_TRY(zeros_like(ex, &dO0, &O0));
    SELSA_TRY(dgrad(t, ex, &m->agg_fc[0], &dO0, &g0));
    SELSA_TRY(zeros_like(ex, &dQ0, &Q0));
    SELSA_TRY(zeros_like(ex, &dK0, &K0));
    SELSA_TRY(zeros_like(ex, &dV0, &V0));
    if (S > 0 && M > 0) OP(selsa_attention_backward(ex->ctx, &dQ0, &dK0, &dV0, &dO0, &P0, &Q0, &K0, &V0, Gh, scale));
    SELSA_TRY(wgrad(t, ex, &m->fc_embed[0], &dQ0, &x0));
    SELSA_TRY(dgrad(t, ex, &m->fc_embed[0], &dx0, &dQ0));
    SELSA_TRY(zeros_like(ex, &dr0, &r0));
    if (M > 0) OP(selsa_relu_backward(ex->ctx, &dr0, &dr0r, &r0r));
    SELSA_TRY(wgrad(t, ex, &m->ref_fc_embed[0], &dK0, &r0));
    SELSA_TRY(wgrad(t, ex, &m->ref_fc[0], &dV0, &r0));
    SELSA_TRY(dgrad(t, ex, &m->ref_fc_embed[0], &dr0, &dK0));
    SELSA_TRY(dgrad(t, ex, &m->ref_fc[0], &dr0, &dV0));
    /* shared_fcs.0, RoIAlign → dF (T, Cn, h, w) */
    selsa_tensor dfK, dfR, dF;
    SELSA_TRY(wgrad(t, ex, &m->fc0, &dx0, &fK));
    SELSA_TRY(wgrad(t, ex, &m->fc0, &dr0, &fR));
    SELSA_TRY(zeros_like(ex, &dfK, &fK));
    SELSA_TRY(zeros_like(ex, &dfR, &fR));
    SELSA_TRY(dgrad(t, ex, &m->fc0, &dfK, &dx0));
    SELSA_TRY(dgrad(t, ex, &m->fc0, &dfR, &dr0));
    SELSA_TRY(zeros_like(ex, &dF, &F));
    if (S > 0) OP(selsa_roi_align_backward(ex->ctx, &dF, &dfK, &krois, &rp));
    if (M > 0) OP(selsa_roi_align_backward(ex->ctx, &dF, &dfR, &rrois, &rp));
    /* RPN (key frame): losses → rpn_cls / rpn_reg → ReLU(rpn_conv) → F[0] */
    {
        selsa_tensor rc0 = slot(&rc, 0), F0 = slot(&F, 0), dF0 = slot(&dF, 0);
        selsa_tensor dlog, dreg, drc, grc;
        SELSA_TRY(zeros_like(ex, &dlog, &key_cls));
        SELSA_TRY(zeros_like(ex, &dreg, &key_reg));
        OP(selsa_sigmoid_bce_backward(ex->ctx, &dlog, &key_cls, &bce_tt, &bce_wt, rpn_scale));
        OP(selsa_smooth_l1_backward(ex->ctx, &dreg, &key_reg, &rpn_tt, &rpn_wt, &rpn_sl1));
        SELSA_TRY(wgrad(t, ex, &m->rpn_cls, &dlog, &rc0));
        SELSA_TRY(wgrad(t, ex, &m->rpn_reg, &dreg, &rc0));
        SELSA_TRY(zeros_like(ex, &drc, &rc0));
        SELSA_TRY(dgrad(t, ex, &m->rpn_cls, &drc, &dlog));
        SELSA_TRY(dgrad(t, ex, &m->rpn_reg, &drc, &dreg));
        SELSA_TRY(zeros_like(ex, &grc, &rc0));
        OP(selsa_relu_backward(ex->ctx, &grc, &drc, &rc0));
        SELSA_TRY(wgrad(t, ex, &m->rpn_conv, &grc, &F0));
        SELSA_TRY(dgrad(t, ex, &m->rpn_conv, &dF0, &grc));
    }
    /* neck: F = relu(conv(C5) + b) */
    selsa_tensor gF, dy;
    SELSA_TRY(zeros_like(ex, &gF, &F));
    OP(selsa_relu_backward(ex->ctx, &gF, &dF, &F));
    SELSA_TRY(wgrad(t, ex, &m->neck, &gF, C5));
    SELSA_TRY(zeros_like(ex, &dy, C5));
    SELSA_TRY(dgrad(t, ex, &m->neck, &dy, &gF));
    /* layer4 .. layer2; the first layer2 block's input is the frozen layer1 output: stop */
    for (int k = t->n_tb - 1; k >= 0; k--) {
        const selsa_tensor *xin = k == 0 ? &x1 : &t->ba[k - 1].y;
        selsa_tensor dx = {0};
        if (k > 0) SELSA_TRY(zeros_like(ex, &dx, xin));
        SELSA_TRY(block_backward(t, ex, t->tb[k], xin, &t->ba[k], &dy, k > 0 ? &dx : NULL));
        dy = dx;
    }
    if (!ex->dry) SELSA_TRY(check_grads(t));
    return SELSA_OK;
}

selsa_status selsa_mmtrack_trainer_reserve(selsa_mmtrack_trainer *t, int H, int W, int n_frames,
                                           int max_gt) {
    if (!t) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack trainer reserve: NULL trainer");
    if (H < 1 || W < 1 || n_frames < 2 || n_frames > SELSA_MMTRACK_TRAIN_MAX_FRAMES || max_gt < 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack trainer reserve: H %d, W %d, frames %d (2..%d), gt %d",
                           H, W, n_frames, SELSA_MMTRACK_TRAIN_MAX_FRAMES, max_gt);
    if (H < t->res_H) H = t->res_H;
    if (W < t->res_W) W = t->res_W;
    if (n_frames < t->res_T) n_frames = t->res_T;
    if (max_gt < t->res_G) max_gt = t->res_G;
    selsa_arena ma;
    selsa_arena_init_measure(&ma, "train activations");
    selsa_rt_exec ex = {t->ctx, &ma, true, 0};
    selsa_mmtrack_losses L;
    selsa_status s = step(t, &ex, H, W, n_frames, max_gt, NULL, true, &L);
    if (s != SELSA_OK) return selsa_error_context(s, "reserving training activations for %dx%d", H, W);
    if (!t->act.base || t->act.capacity < ma.peak) {
        selsa_arena_free(&t->act);
        SELSA_TRY(selsa_arena_init(&t->act, "mmtrack train activations", ma.peak));
    }
    SELSA_TRY(selsa_ctx_reserve_scratch(t->ctx, ex.scratch_need, "mmtrack trainer"));
    t->res_H = H;
    t->res_W = W;
    t->res_T = n_frames;
    t->res_G = max_gt;
    return SELSA_OK;
}

selsa_status selsa_mmtrack_trainer_forward_backward(selsa_mmtrack_trainer *t,
                                                    const selsa_mmtrack_train_sample *s,
                                                    bool backward, selsa_mmtrack_losses *out) {
    if (!t || !s || !out) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack train step: NULL argument");
    const selsa_mmtrack_config *c = &t->cfg;
    int T = s->n_frames;
    if (T < 2 || T > SELSA_MMTRACK_TRAIN_MAX_FRAMES)
        return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack train step: n_frames %d outside [2, %d] (key + refs)", T,
                           SELSA_MMTRACK_TRAIN_MAX_FRAMES);
    if (s->n_gt < 0 || (s->n_gt > 0 && (!s->gt_boxes || !s->gt_labels)))
        return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack train step: n_gt %d with NULL gt arrays", s->n_gt);
    for (int g = 0; g < s->n_gt; g++) {
        if (s->gt_labels[g] < 0 || s->gt_labels[g] >= c->num_classes)
            return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack train step: gt_labels[%d] = %d outside [0, %d)", g,
                               s->gt_labels[g], c->num_classes);
        for (int k = 0; k < 4; k++)
            if (!isfinite(s->gt_boxes[4 * g + k]))
                return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack train step: gt_boxes[%d] is not finite", g);
    }
    if (s->ref_rois && (s->n_ref_rois < 0 || s->n_ref_rois > (int64_t)(T - 1) * c->rpn.max_per_img))
        return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack train step: n_ref_rois %d outside [0, %lld]", s->n_ref_rois,
                           (long long)(T - 1) * c->rpn.max_per_img);
    if (s->rcnn_rois && (!s->rcnn_labels || s->n_rois < 0 || s->n_rois > t->tc.rcnn_sampler.num))
        return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack train step: injected RoIs need labels and 0 <= n_rois (%d) <= %d",
                           s->n_rois, t->tc.rcnn_sampler.num);
    int H = 0, W = 0;
    for (int f = 0; f < T; f++) {
        const selsa_image *im = s->frames[f];
        if (!im || !im->data || im->h < 1 || im->w < 1)
            return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack train step: frame %d is empty", f);
        double sx, sy;
        SELSA_TRY(selsa_image_resize_mmcv(im, &t->resized[f], c->scale_long, c->scale_short, &sx, &sy));
        if (f == 0) {
            H = t->resized[0].h;
            W = t->resized[0].w;
        } else if (t->resized[f].h != H || t->resized[f].w != W) {
            return selsa_error(SELSA_ERR_SHAPE, "mmtrack train step: frame %d resizes to %dx%d, the key frame to %dx%d",
                               f, t->resized[f].h, t->resized[f].w, H, W);
        }
    }
    if (!t->act.base || H > t->res_H || W > t->res_W || T > t->res_T || s->n_gt > t->res_G)
        SELSA_TRY(selsa_mmtrack_trainer_reserve(t, H, W, T, s->n_gt));
    selsa_rt_exec ex = {t->ctx, &t->act, false, 0};
    return step(t, &ex, H, W, T, s->n_gt, s, backward, out);
}

selsa_status selsa_mmtrack_trainer_sgd_step(selsa_mmtrack_trainer *t, double *norm_out) {
    if (!t) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack sgd step: NULL trainer");
    /* a sum of float squares cannot overflow a double, so the norm is finite iff every gradient
     * is: one pass, and the per-element scan that names the tensor only on failure; nothing is
     * updated before this check */
    double sq = 0;
    for (int i = 0; i < t->n_params; i++)
        SELSA_TRY(selsa_grad_norm_sq(t->ctx, t->params[i].grad, t->params[i].numel, &sq));
    double norm = sqrt(sq);
    if (!isfinite(norm)) {
        SELSA_TRY(check_grads(t));
        return selsa_error(SELSA_ERR_NUMERIC, "SGD: gradient norm is not finite (%g); no update done", norm);
    }
    if (norm_out) *norm_out = norm;
    /* torch clip_grad_norm_: coef = max_norm/(norm + 1e-6), applied when < 1 */
    double coef = 1.0;
    if (t->tc.grad_clip > 0) {
        coef = t->tc.grad_clip / (norm + 1e-6);
        if (coef > 1.0) coef = 1.0;
    }
    selsa_sgd_params sp;
    sp.lr = (float)selsa_mmtrack_lr_at(&t->tc, t->step);
    sp.momentum = t->tc.momentum;
    sp.weight_decay = t->tc.wd;
    sp.rescale_grad = (float)coef;
    sp.kind = SELSA_SGD_PYTORCH;
    sp.first_step = t->step == 0;
    for (int i = 0; i < t->n_params; i++) {
        selsa_mmtrack_param *p = &t->params[i];
        selsa_status s = selsa_sgd_update(t->ctx, p->data, p->grad, p->buf, p->numel, &sp);
        if (s != SELSA_OK) return selsa_error_context(s, "SGD update of %s", p->name);
    }
    selsa_mmtrack_trainer_sync(t);
    t->step++;
    return SELSA_OK;
}
