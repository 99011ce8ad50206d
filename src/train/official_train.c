/* selsa — official SELSA training step (official-selsa.md §8): forward over the key frame and
 * the reference frames with saved activations, RPN/RCNN targets, OHEM, the four losses, and
 * the backward through the classifier, both SELSA modules (into the reference frames through
 * keys and values), fc_new_1, ROIPooling, conv_new_1, res5, the RPN (key frame), res4, res3.
 * conv1/res2/BN are frozen: their backward is never run (it stops at res3's input).
 *
 * Frozen BN is folded into the model's convs (W' = s·W); the backward yields ∂L/∂W' into a
 * temporary and ∂L/∂W = s·∂L/∂W' is added to the master gradient (see train_official.h).
 *
 * One arena holds every activation and backward temporary of a step; it is sized by running
 * the whole step in dry mode (allocations only) for the reserved frame size. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/official_internal.h"
#include "selsa/boxes.h"
#include "selsa/ops_attn.h"
#include "selsa/ops_elem.h"
#include "selsa/ops_roi.h"
#include "selsa/train_official.h"
#include "train/official_train_internal.h"

/* ------------------------------------------------------------------ config ----------------- */

void selsa_official_train_config_default(selsa_official_train_config *c) {
    memset(c, 0, sizeof *c);
    c->rpn_batch = 256;
    c->rpn_fg_fraction = 0.5f;
    c->rpn_pos_iou = 0.7f;
    c->rpn_neg_iou = 0.3f;
    c->allowed_border = 0;
    c->fg_iou = 0.5f;
    c->ohem_rois = 128;
    c->rpn_sigma = 1.0f;
    c->rcnn_sigma = 1.0f;
    c->lr = 0.00025f;
    c->momentum = 0.9f;
    c->wd = 0.0005f;
    c->lr_factor = 0.1f;
    c->warmup_ratio = 1.0f;
    c->seed = 0x5e15a;
}

/* ------------------------------------------------------------------ parameters ------------- */

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static selsa_status alloc_f(selsa_arena *a, int64_t n, float **p) {
    void *v;
    SELSA_TRY(selsa_arena_alloc(a, (size_t)n * sizeof(float), &v));
    *p = v;
    return SELSA_OK;
}

/* Enumerate the trainable layers of the model in network order (res3..res5 units, heads). */
static int list_layers(selsa_official_model *m, selsa_rv1_conv **out, bool *backbone, bool *fc) {
    int n = 0;
    for (int si = 1; si < 4; si++) {
        for (int u = 0; u < m->net.n_units[si]; u++) {
            selsa_rv1_unit *U = &m->net.units[si][u];
            selsa_rv1_conv *ls[4] = {U->has_branch1 ? &U->branch1 : NULL, &U->b2a, &U->b2b, &U->b2c};
            for (int k = 0; k < 4; k++) {
                if (!ls[k]) continue;
                if (out) {
                    out[n] = ls[k];
                    backbone[n] = true;
                    fc[n] = false;
                }
                n++;
            }
        }
    }
    selsa_rv1_conv *heads[14];
    bool hfc[14];
    int nh = 0;
#define H(l, f) (heads[nh] = (l), hfc[nh++] = (f))
    H(&m->rpn_conv, false);
    H(&m->rpn_cls, false);
    H(&m->rpn_bbox, false);
    H(&m->conv_new_1, false);
    H(&m->fc_new_1, true);
    if (m->cfg.selsa) {
        H(&m->query[0], true);
        H(&m->key[0], true);
        H(&m->linear_out[0], true);
    }
    H(&m->fc_new_2, true);
    if (m->cfg.selsa) {
        H(&m->query[1], true);
        H(&m->key[1], true);
        H(&m->linear_out[1], true);
    }
    H(&m->cls_score, true);
    H(&m->bbox_pred, true);
#undef H
    for (int i = 0; i < nh; i++) {
        if (out) {
            out[n] = heads[i];
            backbone[n] = false;
            fc[n] = hfc[i];
        }
        n++;
    }
    return n;
}

/* Official ndim of a layer's weight: 2 for FullyConnected layers (linear_out is a 1×1 conv). */
static int official_ndim(const selsa_rv1_conv *L, bool fc) {
    if (!fc) return 4;
    return strncmp(L->name, "linear_out", 10) == 0 ? 4 : 2;
}

/* Allocate (dry) or fill the masters, gradients, momenta and BN scales. raw_bbox: the raw
 * (normalised-unit) bbox_pred weight/bias captured before the model's _test rename. */
static selsa_status build_params(selsa_official_trainer *t, selsa_weights *w, bool dry,
                                 const float *raw_bw, const float *raw_bb) {
    selsa_arena *a = &t->pers;
    int np = 0;
    int64_t wmax = 0;
    for (int i = 0; i < t->n_layers; i++) {
        tlayer *tl = &t->layers[i];
        selsa_rv1_conv *L = tl->L;
        int nparts = tl->backbone ? 1 : 2;
        for (int part = 0; part < nparts; part++) {
            selsa_official_param *p = &t->params[np++];
            if (part == 0) {
                snprintf(p->name, sizeof p->name, "%s_weight", L->name);
                p->ndim = official_ndim(L, tl->fc);
                p->dims[0] = L->weight.n;
                p->dims[1] = L->weight.c;
                p->dims[2] = L->weight.h;
                p->dims[3] = L->weight.w;
                p->numel = selsa_tensor_numel(&L->weight);
                tl->pw = p;
                if (tl->backbone && p->numel > wmax) wmax = p->numel;
            } else {
                snprintf(p->name, sizeof p->name, "%s_bias", L->name);
                p->ndim = 1;
                p->dims[0] = L->weight.n;
                p->dims[1] = p->dims[2] = p->dims[3] = 0;
                p->numel = L->weight.n;
                tl->pb = p;
            }
            p->decay = ends_with(p->name, "_weight") || ends_with(p->name, "_gamma");
            SELSA_TRY(alloc_f(a, p->numel, &p->data));
            SELSA_TRY(alloc_f(a, p->numel, &p->grad));
            SELSA_TRY(alloc_f(a, p->numel, &p->mom));
            if (dry) continue;
            memset(p->grad, 0, (size_t)p->numel * sizeof(float));
            memset(p->mom, 0, (size_t)p->numel * sizeof(float));
            if (L == &t->m->bbox_pred) {
                memcpy(p->data, part == 0 ? raw_bw : raw_bb, (size_t)p->numel * sizeof(float));
                continue;
            }
            const float *src;
            SELSA_TRY(selsa_weights_get(w, p->name, p->ndim, p->dims, &src));
            memcpy(p->data, src, (size_t)p->numel * sizeof(float));
        }
        if (tl->backbone) {
            SELSA_TRY(alloc_f(a, L->weight.n, &tl->scale));
            float *shift;
            SELSA_TRY(alloc_f(a, L->weight.n, &shift));
            if (!dry) {
                /* frozen BN of this conv: "res3a_branch2a" → "bn3a_branch2a" (§2) */
                char bn[64], key[96];
                snprintf(bn, sizeof bn, "bn%s", L->name + 3);
                static const char *const sfx[4] = {"gamma", "beta", "moving_mean", "moving_var"};
                const float *v[4];
                int64_t C = L->weight.n;
                for (int k = 0; k < 4; k++) {
                    snprintf(key, sizeof key, "%s_%s", bn, sfx[k]);
                    SELSA_TRY(selsa_weights_get(w, key, 1, &C, &v[k]));
                }
                SELSA_TRY(selsa_bn_frozen_affine(v[0], v[1], v[2], v[3], C, t->cfg.bn_eps, bn,
                                                 tl->scale, shift));
            }
        }
    }
    t->n_params = np;
    SELSA_TRY(alloc_f(a, wmax > 0 ? wmax : 1, &t->wtmp));
    return SELSA_OK;
}

void selsa_official_trainer_sync(selsa_official_trainer *t) {
    for (int i = 0; i < t->n_layers; i++) {
        tlayer *tl = &t->layers[i];
        selsa_rv1_conv *L = tl->L;
        int64_t per = L->weight.c * L->weight.h * L->weight.w;
        if (tl->backbone) {
            /* W' = s·W per output channel (BN folded, §2) */
            for (int64_t o = 0; o < L->weight.n; o++) {
                double s = tl->scale[o];
                for (int64_t j = 0; j < per; j++)
                    L->weight.data[o * per + j] = (float)(s * (double)tl->pw->data[o * per + j]);
            }
        } else {
            memcpy(L->weight.data, tl->pw->data, (size_t)tl->pw->numel * sizeof(float));
            memcpy(L->bias, tl->pb->data, (size_t)tl->pb->numel * sizeof(float));
        }
    }
}

selsa_status selsa_official_trainer_create(selsa_official_trainer **out,
                                           const selsa_official_config *cfg,
                                           const selsa_official_train_config *tc,
                                           selsa_weights *w, selsa_ctx *ctx) {
    if (!out || !cfg || !tc || !w || !ctx)
        return selsa_error(SELSA_ERR_INVALID_ARG, "official trainer: NULL argument");
    *out = NULL;
    if (tc->rpn_batch < 1 || tc->ohem_rois < 1 || tc->rpn_fg_fraction < 0 || tc->rpn_fg_fraction > 1 ||
        tc->rpn_sigma <= 0 || tc->rcnn_sigma <= 0 || tc->lr < 0 || tc->momentum < 0 ||
        tc->momentum >= 1 || tc->wd < 0 || tc->n_lr_steps < 0 ||
        tc->n_lr_steps > SELSA_OFFICIAL_MAX_LR_STEPS || tc->warmup_steps < 0)
        return selsa_error(SELSA_ERR_INVALID_ARG,
                           "official trainer: invalid train config (rpn_batch %d, ohem_rois %d, fg_fraction %g, "
                           "sigmas %g/%g, lr %g, momentum %g, wd %g, n_lr_steps %d, warmup %lld)",
                           tc->rpn_batch, tc->ohem_rois, tc->rpn_fg_fraction, tc->rpn_sigma,
                           tc->rcnn_sigma, tc->lr, tc->momentum, tc->wd, tc->n_lr_steps,
                           (long long)tc->warmup_steps);
    SELSA_TRY(selsa_official_config_validate(cfg));
    if (tc->ohem_rois > cfg->proposal.post_nms_top_n)
        return selsa_error(SELSA_ERR_INVALID_ARG, "official trainer: ohem_rois %d > RoIs per frame %d",
                           tc->ohem_rois, cfg->proposal.post_nms_top_n);
    if (cfg->proposal.n_scales * cfg->proposal.n_ratios > 64)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "official trainer: more than 64 anchors per position");
    if (!cfg->detect.class_agnostic)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "official trainer: class-specific bbox_pred is not supported");
    selsa_official_trainer *t = calloc(1, sizeof *t);
    if (!t) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "official trainer: struct");
    t->cfg = *cfg;
    selsa_official_config_fix_pointers(&t->cfg);
    t->tc = *tc;
    t->ctx = ctx;
    selsa_rng_seed(&t->rng, tc->seed, 0xa7c1);
    selsa_status s = SELSA_OK;
    float *raw_bw = NULL, *raw_bb = NULL;
    /* raw bbox_pred (normalised units) before the loader's `_test` rename touches it */
    {
        int64_t B = 8, D = cfg->fc_dim;
        int64_t dw[2] = {B, D};
        const float *src;
        raw_bw = malloc((size_t)(B * D) * sizeof(float));
        raw_bb = malloc((size_t)B * sizeof(float));
        if (!raw_bw || !raw_bb) {
            s = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "official trainer: bbox_pred copy");
            goto fail;
        }
        if ((s = selsa_weights_get(w, "bbox_pred_weight", 2, dw, &src)) != SELSA_OK) goto fail;
        memcpy(raw_bw, src, (size_t)(B * D) * sizeof(float));
        if ((s = selsa_weights_get(w, "bbox_pred_bias", 1, &B, &src)) != SELSA_OK) goto fail;
        memcpy(raw_bb, src, (size_t)B * sizeof(float));
    }
    if ((s = selsa_official_model_load_for_training(&t->m, &t->cfg, w)) != SELSA_OK) goto fail;
    t->n_layers = list_layers(t->m, NULL, NULL, NULL);
    t->layers = calloc((size_t)t->n_layers, sizeof *t->layers);
    t->params = calloc((size_t)t->n_layers * 2, sizeof *t->params);
    selsa_rv1_conv **ls = calloc((size_t)t->n_layers, sizeof *ls);
    bool *bb = calloc((size_t)t->n_layers, sizeof *bb), *fc = calloc((size_t)t->n_layers, sizeof *fc);
    if (!t->layers || !t->params || !ls || !bb || !fc) {
        free(ls);
        free(bb);
        free(fc);
        s = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "official trainer: layer table");
        goto fail;
    }
    list_layers(t->m, ls, bb, fc);
    for (int i = 0; i < t->n_layers; i++) {
        t->layers[i].L = ls[i];
        t->layers[i].backbone = bb[i];
        t->layers[i].fc = fc[i];
    }
    free(ls);
    free(bb);
    free(fc);
    selsa_arena_init_measure(&t->pers, "train params");
    if ((s = build_params(t, NULL, true, NULL, NULL)) != SELSA_OK) goto fail;
    size_t bytes = t->pers.peak;
    if ((s = selsa_arena_init(&t->pers, "official train params", bytes)) != SELSA_OK) goto fail;
    if ((s = build_params(t, w, false, raw_bw, raw_bb)) != SELSA_OK) goto fail;
    /* unit activation table: res3..res5 units of up to 3 frames */
    t->n_train_units = 0;
    for (int si = 1; si < 4; si++) t->n_train_units += t->m->net.n_units[si];
    for (int f = 0; f < SELSA_OFFICIAL_TRAIN_MAX_FRAMES; f++) {
        t->fr[f].u = calloc((size_t)t->n_train_units, sizeof(uact));
        if (!t->fr[f].u) {
            s = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "official trainer: unit table");
            goto fail;
        }
    }
    free(raw_bw);
    free(raw_bb);
    selsa_official_trainer_sync(t);
    *out = t;
    return SELSA_OK;
fail:
    free(raw_bw);
    free(raw_bb);
    selsa_official_trainer_free(t);
    return selsa_error_context(s, "official trainer");
}

void selsa_official_trainer_free(selsa_official_trainer *t) {
    if (!t) return;
    selsa_official_model_free(t->m);
    selsa_arena_free(&t->pers);
    selsa_arena_free(&t->act);
    for (int f = 0; f < SELSA_OFFICIAL_TRAIN_MAX_FRAMES; f++) {
        free(t->fr[f].u);
        selsa_image_free(&t->resized[f]);
    }
    free(t->layers);
    free(t->params);
    free(t);
}

int selsa_official_trainer_n_params(const selsa_official_trainer *t) { return t ? t->n_params : 0; }
selsa_official_param *selsa_official_trainer_param(selsa_official_trainer *t, int i) {
    return (t && i >= 0 && i < t->n_params) ? &t->params[i] : NULL;
}
selsa_official_param *selsa_official_trainer_find(selsa_official_trainer *t, const char *name) {
    if (!t || !name) return NULL;
    for (int i = 0; i < t->n_params; i++)
        if (strcmp(t->params[i].name, name) == 0) return &t->params[i];
    return NULL;
}
const selsa_official_model *selsa_official_trainer_model(const selsa_official_trainer *t) {
    return t ? t->m : NULL;
}
size_t selsa_official_trainer_act_bytes(const selsa_official_trainer *t) { return t->act.capacity; }
size_t selsa_official_trainer_act_peak(const selsa_official_trainer *t) { return t->act.peak; }
int64_t selsa_official_trainer_steps(const selsa_official_trainer *t) { return t->step; }
void selsa_official_trainer_set_steps(selsa_official_trainer *t, int64_t steps) { t->step = steps; }
void selsa_official_trainer_seed_sampler(selsa_official_trainer *t, uint64_t seed, uint64_t stream) {
    selsa_rng_seed(&t->rng, seed, stream);
}

void selsa_official_trainer_zero_grad(selsa_official_trainer *t) {
    for (int i = 0; i < t->n_params; i++)
        memset(t->params[i].grad, 0, (size_t)t->params[i].numel * sizeof(float));
}

const float *selsa_official_trainer_last_rois(const selsa_official_trainer *t, int frame) {
    if (!t || frame < 0 || frame >= SELSA_OFFICIAL_TRAIN_MAX_FRAMES) return NULL;
    return t->fr[frame].rois;
}
const int32_t *selsa_official_trainer_last_rpn_labels(const selsa_official_trainer *t, int64_t *n) {
    if (n) *n = t->n_labels;
    return t->labels;
}
const int32_t *selsa_official_trainer_last_ohem_keep(const selsa_official_trainer *t, int *n) {
    if (n) *n = t->n_keep;
    return t->keep;
}

/* ------------------------------------------------------------------ step helpers ----------- */

#define OP(expr)                       \
    do {                               \
        if (!ex->dry) SELSA_TRY(expr); \
    } while (0)

static void need(selsa_rv1_exec *ex, size_t b) {
    if (b > ex->scratch_need) ex->scratch_need = b;
}
static selsa_tensor mat(float *p, int64_t rows, int64_t cols) { return selsa_tensor_view(p, rows, cols, 1, 1); }
static selsa_tensor rows_of(const selsa_tensor *m, int64_t r0, int64_t n) {
    return mat(m->data ? m->data + r0 * m->c : NULL, n, m->c);
}
static selsa_status tens(selsa_rv1_exec *ex, selsa_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w) {
    return selsa_arena_tensor(ex->arena, t, n, c, h, w);
}
static selsa_status like(selsa_rv1_exec *ex, selsa_tensor *t, const selsa_tensor *s) {
    return selsa_arena_tensor(ex->arena, t, s->n, s->c, s->h, s->w);
}
static selsa_status zeros_like(selsa_rv1_exec *ex, selsa_tensor *t, const selsa_tensor *s) {
    SELSA_TRY(like(ex, t, s));
    if (!ex->dry) memset(t->data, 0, (size_t)selsa_tensor_numel(t) * sizeof(float));
    return SELSA_OK;
}
static selsa_status ibuf(selsa_rv1_exec *ex, int64_t n, int32_t **p) {
    void *v;
    SELSA_TRY(selsa_arena_alloc(ex->arena, (size_t)(n > 0 ? n : 1) * sizeof(int32_t), &v));
    *p = v;
    return SELSA_OK;
}
static selsa_status fbuf(selsa_rv1_exec *ex, int64_t n, float **p) {
    return alloc_f(ex->arena, n > 0 ? n : 1, p);
}

/* FC forward out (rows, Out) = in·Wᵀ + b, out allocated. */
static selsa_status lin(selsa_rv1_exec *ex, const selsa_rv1_conv *L, const selsa_tensor *in,
                        selsa_tensor *out, selsa_activation act) {
    SELSA_TRY(tens(ex, out, in->n, L->weight.n, 1, 1));
    if (ex->dry) return SELSA_OK;
    selsa_status s = selsa_linear_forward(ex->ctx, out, in, &L->weight, L->bias, act);
    return s == SELSA_OK ? s : selsa_error_context(s, "layer %s", L->name);
}

static selsa_tensor wview(const tlayer *tl, float *data) {
    const selsa_tensor *W = &tl->L->weight;
    return selsa_tensor_view(data, W->n, W->c, W->h, W->w);
}

/* Weight (and bias) gradient of a trainable layer given dout and the forward input. Backbone:
 * ∂L/∂W' into wtmp, then grad += s·wtmp per output channel. */
static selsa_status wgrad(selsa_official_trainer *t, selsa_rv1_exec *ex, const tlayer *tl,
                          const selsa_tensor *dout, const selsa_tensor *in) {
    if (ex->dry) {
        if (!tl->fc) need(ex, selsa_conv2d_scratch_bytes(in, &tl->L->weight, &tl->L->p));
        return SELSA_OK;
    }
    selsa_status s;
    if (tl->fc) {
        selsa_tensor g = wview(tl, tl->pw->grad);
        s = selsa_linear_backward_weight(ex->ctx, &g, tl->pb->grad, dout, in);
    } else if (!tl->backbone) {
        selsa_tensor g = wview(tl, tl->pw->grad);
        s = selsa_conv2d_backward_weight(ex->ctx, &g, tl->pb->grad, dout, in, &tl->L->p);
    } else {
        selsa_tensor g = wview(tl, t->wtmp);
        int64_t n = selsa_tensor_numel(&g), per = n / g.n;
        memset(t->wtmp, 0, (size_t)n * sizeof(float));
        s = selsa_conv2d_backward_weight(ex->ctx, &g, NULL, dout, in, &tl->L->p);
        if (s == SELSA_OK) {
            /* ∂L/∂W = s·∂L/∂W' (W' = s·W, BN frozen) */
            for (int64_t o = 0; o < g.n; o++) {
                float sc = tl->scale[o];
                float *dst = tl->pw->grad + o * per;
                const float *src = t->wtmp + o * per;
                for (int64_t j = 0; j < per; j++) dst[j] += sc * src[j];
            }
        }
    }
    return s == SELSA_OK ? s : selsa_error_context(s, "backward of %s", tl->L->name);
}

/* din += ∂L/∂in of a layer (weights: the model's folded ones). */
static selsa_status dgrad(selsa_rv1_exec *ex, const tlayer *tl, selsa_tensor *din,
                          const selsa_tensor *dout) {
    if (ex->dry) {
        if (!tl->fc) need(ex, selsa_conv2d_scratch_bytes(din, &tl->L->weight, &tl->L->p));
        return SELSA_OK;
    }
    selsa_status s = tl->fc ? selsa_linear_backward_data(ex->ctx, din, dout, &tl->L->weight)
                            : selsa_conv2d_backward_data(ex->ctx, din, dout, &tl->L->weight, &tl->L->p);
    return s == SELSA_OK ? s : selsa_error_context(s, "backward data of %s", tl->L->name);
}

static const tlayer *layer_of(const selsa_official_trainer *t, const selsa_rv1_conv *L) {
    for (int i = 0; i < t->n_layers; i++)
        if (t->layers[i].L == L) return &t->layers[i];
    return NULL;
}

/* ------------------------------------------------------------------ forward ---------------- */

/* Training forward of one bottleneck unit: a, b, y saved (x is the previous output). */
static selsa_status unit_forward(selsa_rv1_exec *ex, const selsa_rv1_unit *U, const selsa_tensor *x,
                                 uact *ua) {
    SELSA_TRY(selsa_rv1_conv_run(ex, &U->b2a, x, &ua->a, SELSA_ACT_RELU));
    SELSA_TRY(selsa_rv1_conv_run(ex, &U->b2b, &ua->a, &ua->b, SELSA_ACT_RELU));
    if (U->has_branch1) {
        SELSA_TRY(selsa_rv1_conv_run(ex, &U->branch1, x, &ua->y, SELSA_ACT_NONE));
        size_t mk = selsa_arena_mark(ex->arena);
        selsa_tensor c;
        SELSA_TRY(selsa_rv1_conv_run(ex, &U->b2c, &ua->b, &c, SELSA_ACT_NONE));
        OP(selsa_add_forward(ex->ctx, &ua->y, &ua->y, &c, SELSA_ACT_RELU));
        selsa_arena_rewind(ex->arena, mk);
    } else {
        SELSA_TRY(selsa_rv1_conv_run(ex, &U->b2c, &ua->b, &ua->y, SELSA_ACT_NONE));
        OP(selsa_add_forward(ex->ctx, &ua->y, &ua->y, x, SELSA_ACT_RELU)); /* ReLU(x + branch2c) */
    }
    return SELSA_OK;
}

static selsa_rv1_unit *unit_at(selsa_official_trainer *t, int k, int *stage) {
    for (int si = 1; si < 4; si++) {
        if (k < t->m->net.n_units[si]) {
            if (stage) *stage = si + 2;
            return &t->m->net.units[si][k];
        }
        k -= t->m->net.n_units[si];
    }
    return NULL;
}

/* Index of the last unit of res4 in the unit table (its output is conv4). */
static int conv4_unit(const selsa_official_trainer *t) {
    return t->m->net.n_units[1] + t->m->net.n_units[2] - 1;
}

static selsa_status frame_forward(selsa_official_trainer *t, selsa_rv1_exec *ex, int f, int H,
                                  int W, const float *inj_rois) {
    const selsa_official_config *c = &t->cfg;
    fact *fa = &t->fr[f];
    const int R = c->proposal.post_nms_top_n, A = c->proposal.n_scales * c->proposal.n_ratios;
    SELSA_TRY(tens(ex, &fa->in, 1, 3, H, W));
    if (!ex->dry) {
        selsa_norm_cfg norm = selsa_norm_official();
        SELSA_TRY(selsa_image_to_tensor(&t->resized[f], &norm, &fa->in, 0));
    }
    selsa_tensor p;
    /* frozen stem and res2: no saved activations beyond their output */
    SELSA_TRY(selsa_rv1_stem(ex, &t->m->net, &fa->in, &p));
    SELSA_TRY(selsa_rv1_stages(ex, &t->m->net, 2, 2, &p, &fa->x2));
    const selsa_tensor *x = &fa->x2;
    int c4 = conv4_unit(t);
    for (int k = 0; k <= c4; k++) {
        SELSA_TRY(unit_forward(ex, unit_at(t, k, NULL), x, &fa->u[k]));
        x = &fa->u[k].y;
    }
    const selsa_tensor *conv4 = x;
    /* RPN (§3.1) */
    SELSA_TRY(selsa_rv1_conv_run(ex, &t->m->rpn_conv, conv4, &fa->rc, SELSA_ACT_RELU));
    SELSA_TRY(selsa_rv1_conv_run(ex, &t->m->rpn_cls, &fa->rc, &fa->cls, SELSA_ACT_NONE));
    SELSA_TRY(selsa_rv1_conv_run(ex, &t->m->rpn_bbox, &fa->rc, &fa->bb, SELSA_ACT_NONE));
    SELSA_TRY(like(ex, &fa->prob, &fa->cls));
    selsa_tensor cls2 = selsa_tensor_view(fa->cls.data, 1, 2, (int64_t)A * fa->cls.h, fa->cls.w);
    selsa_tensor prob2 = selsa_tensor_view(fa->prob.data, 1, 2, (int64_t)A * fa->cls.h, fa->cls.w);
    OP(selsa_softmax_channel_forward(ex->ctx, &prob2, &cls2));
    SELSA_TRY(fbuf(ex, (int64_t)R * 5, &fa->rois));
    selsa_tensor rois = selsa_tensor_view(fa->rois, R, 5, 1, 1);
    if (inj_rois) {
        if (!ex->dry) memcpy(fa->rois, inj_rois, (size_t)R * 5 * sizeof(float));
    } else {
        float im_info[3] = {(float)H, (float)W, (float)t->scale[f]};
        need(ex, selsa_proposal_mxnet_scratch_bytes(A, fa->cls.h, fa->cls.w, &c->proposal));
        OP(selsa_proposal_mxnet(ex->ctx, &rois, NULL, &fa->prob, &fa->bb, im_info, &c->proposal));
    }
    /* res5 (dilated) */
    for (int k = c4 + 1; k < t->n_train_units; k++) {
        SELSA_TRY(unit_forward(ex, unit_at(t, k, NULL), x, &fa->u[k]));
        x = &fa->u[k].y;
    }
    /* head (§4.1) */
    SELSA_TRY(selsa_rv1_conv_run(ex, &t->m->conv_new_1, x, &fa->cn, SELSA_ACT_RELU));
    SELSA_TRY(tens(ex, &fa->pooled, R, fa->cn.c, c->pooled_size, c->pooled_size));
    SELSA_TRY(ibuf(ex, selsa_tensor_numel(&fa->pooled), &fa->argmax));
    OP(selsa_roi_pool_forward(ex->ctx, &fa->pooled, fa->argmax, &fa->cn, &rois, c->spatial_scale));
    return SELSA_OK;
}

/* ------------------------------------------------------------------ backward pieces -------- */

/* Backward of one unit: dy (gradient w.r.t. y) → weight grads; dx (zeroed by the caller, or
 * NULL to stop: res3's first unit, whose input is the frozen res2 output) += ∂L/∂x. */
static selsa_status unit_backward(selsa_official_trainer *t, selsa_rv1_exec *ex,
                                  const selsa_rv1_unit *U, const selsa_tensor *x, const uact *ua,
                                  const selsa_tensor *dy, selsa_tensor *dx) {
    size_t mk = selsa_arena_mark(ex->arena);
    selsa_tensor g, db, gb, da, ga;
    SELSA_TRY(zeros_like(ex, &g, &ua->y));
    OP(selsa_relu_backward(ex->ctx, &g, dy, &ua->y)); /* res_relu */
    const tlayer *l2c = layer_of(t, &U->b2c), *l2b = layer_of(t, &U->b2b), *l2a = layer_of(t, &U->b2a);
    SELSA_TRY(wgrad(t, ex, l2c, &g, &ua->b));
    SELSA_TRY(zeros_like(ex, &db, &ua->b));
    SELSA_TRY(dgrad(ex, l2c, &db, &g));
    SELSA_TRY(zeros_like(ex, &gb, &ua->b));
    OP(selsa_relu_backward(ex->ctx, &gb, &db, &ua->b));
    SELSA_TRY(wgrad(t, ex, l2b, &gb, &ua->a));
    SELSA_TRY(zeros_like(ex, &da, &ua->a));
    SELSA_TRY(dgrad(ex, l2b, &da, &gb));
    SELSA_TRY(zeros_like(ex, &ga, &ua->a));
    OP(selsa_relu_backward(ex->ctx, &ga, &da, &ua->a));
    SELSA_TRY(wgrad(t, ex, l2a, &ga, x));
    if (dx) SELSA_TRY(dgrad(ex, l2a, dx, &ga));
    if (U->has_branch1) {
        const tlayer *l1 = layer_of(t, &U->branch1);
        SELSA_TRY(wgrad(t, ex, l1, &g, x));
        if (dx) SELSA_TRY(dgrad(ex, l1, dx, &g));
    } else if (dx) {
        OP(selsa_accumulate(ex->ctx, dx, &g, 1.0f));
    }
    selsa_arena_rewind(ex->arena, mk);
    return SELSA_OK;
}

/* Units k_hi down to k_lo: dy = gradient at unit k_hi's output; result in *dx_out (allocated
 * here, gradient at unit k_lo's input) unless k_lo == 0 (stop at res3's input). */
static selsa_status units_backward(selsa_official_trainer *t, selsa_rv1_exec *ex, fact *fa,
                                   int k_lo, int k_hi, const selsa_tensor *dy, selsa_tensor *dx_out) {
    selsa_tensor cur = *dy;
    for (int k = k_hi; k >= k_lo; k--) {
        const selsa_tensor *x = k == 0 ? &fa->x2 : &fa->u[k - 1].y;
        selsa_tensor dx = {0};
        bool want = k > 0;
        if (want) {
            if (k == k_lo && dx_out) {
                dx = *dx_out;
            } else {
                SELSA_TRY(zeros_like(ex, &dx, x));
            }
        }
        SELSA_TRY(unit_backward(t, ex, unit_at(t, k, NULL), x, &fa->u[k], &cur, want ? &dx : NULL));
        cur = dx;
    }
    return SELSA_OK;
}

static selsa_status check_grads(selsa_official_trainer *t) {
    for (int i = 0; i < t->n_params; i++) {
        const selsa_official_param *p = &t->params[i];
        for (int64_t j = 0; j < p->numel; j++)
            if (!isfinite(p->grad[j]))
                return selsa_error(SELSA_ERR_NUMERIC, "gradient of %s is not finite (%g at element %lld)",
                                   p->name, (double)p->grad[j], (long long)j);
    }
    return SELSA_OK;
}

/* ------------------------------------------------------------------ the step --------------- */

static selsa_status step(selsa_official_trainer *t, selsa_rv1_exec *ex, int H, int W, int T,
                         int G, const selsa_official_train_sample *s, bool backward,
                         selsa_official_losses *L) {
    const selsa_official_config *c = &t->cfg;
    const selsa_official_train_config *tc = &t->tc;
    const selsa_official_model *m = t->m;
    const int R = c->proposal.post_nms_top_n, A = c->proposal.n_scales * c->proposal.n_ratios;
    const int D = c->fc_dim, C = c->num_classes;
    const int64_t M = (int64_t)R * T;
    const float scale = 1.0f / sqrtf((float)D); /* §4.2 */
    selsa_arena_reset(ex->arena);
    memset(L, 0, sizeof *L);
    for (int f = 0; f < T; f++)
        SELSA_TRY(frame_forward(t, ex, f, H, W, s && s->rois[f] ? s->rois[f] : NULL));
    /* fc_new_1 of every frame, stacked frame-major (key = frame 0) */
    selsa_tensor X;
    SELSA_TRY(tens(ex, &X, M, D, 1, 1));
    for (int f = 0; f < T; f++) {
        selsa_tensor xf = rows_of(&X, (int64_t)f * R, R);
        if (!ex->dry) {
            selsa_status st = selsa_linear_forward(ex->ctx, &xf, &t->fr[f].pooled, &m->fc_new_1.weight,
                                                   m->fc_new_1.bias, SELSA_ACT_NONE);
            if (st != SELSA_OK) return selsa_error_context(st, "layer fc_new_1");
        }
    }
    /* window (§4.2); train key rows are 0..R−1 */
    selsa_tensor Q1, K1, P1, Z1, F1, X2, K2, Q2, P2, Z2, F2, Xk;
    if (c->selsa) {
        SELSA_TRY(lin(ex, &m->query[0], &X, &Q1, SELSA_ACT_NONE));
        SELSA_TRY(lin(ex, &m->key[0], &X, &K1, SELSA_ACT_NONE));
        SELSA_TRY(tens(ex, &P1, 1, M, M, 1));
        SELSA_TRY(tens(ex, &Z1, M, D, 1, 1));
        OP(selsa_attention_forward(ex->ctx, &Z1, &P1, &Q1, &K1, &X, 1, scale));
        SELSA_TRY(lin(ex, &m->linear_out[0], &Z1, &F1, SELSA_ACT_NONE));
        OP(selsa_add_forward(ex->ctx, &F1, &F1, &X, SELSA_ACT_RELU)); /* fc_all_1 → ReLU */
        SELSA_TRY(lin(ex, &m->fc_new_2, &F1, &X2, SELSA_ACT_NONE));
        SELSA_TRY(lin(ex, &m->key[1], &X2, &K2, SELSA_ACT_NONE));
        Xk = rows_of(&X2, 0, R);
        SELSA_TRY(lin(ex, &m->query[1], &Xk, &Q2, SELSA_ACT_NONE));
        SELSA_TRY(tens(ex, &P2, 1, R, M, 1));
        SELSA_TRY(tens(ex, &Z2, R, D, 1, 1));
        OP(selsa_attention_forward(ex->ctx, &Z2, &P2, &Q2, &K2, &X2, 1, scale));
        SELSA_TRY(lin(ex, &m->linear_out[1], &Z2, &F2, SELSA_ACT_NONE));
        OP(selsa_add_forward(ex->ctx, &F2, &F2, &Xk, SELSA_ACT_RELU)); /* fc_all_2 key rows → ReLU */
        need(ex, selsa_attention_scratch_bytes(M, M, D, D, 1));
    } else {
        SELSA_TRY(like(ex, &F1, &X));
        OP(selsa_relu_forward(ex->ctx, &F1, &X));
        SELSA_TRY(lin(ex, &m->fc_new_2, &F1, &X2, SELSA_ACT_NONE));
        Xk = rows_of(&X2, 0, R);
        SELSA_TRY(tens(ex, &F2, R, D, 1, 1));
        OP(selsa_relu_forward(ex->ctx, &F2, &Xk));
    }
    selsa_tensor cls, bbox;
    SELSA_TRY(lin(ex, &m->cls_score, &F2, &cls, SELSA_ACT_NONE));
    SELSA_TRY(lin(ex, &m->bbox_pred, &F2, &bbox, SELSA_ACT_NONE));

    /* ---- RPN targets and losses on the key frame (§8.4) ---- */
    fact *k0 = &t->fr[0];
    const int fh = (int)k0->cls.h, fw = (int)k0->cls.w;
    const int64_t nA = (int64_t)A * fh * fw;
    float *anchors, *abt;
    int32_t *tmp, *lab_ce;
    SELSA_TRY(fbuf(ex, nA * 4, &anchors));
    SELSA_TRY(fbuf(ex, nA * 4, &abt));
    SELSA_TRY(ibuf(ex, nA, &tmp));
    SELSA_TRY(ibuf(ex, nA, &t->labels));
    SELSA_TRY(ibuf(ex, nA, &lab_ce));
    t->n_labels = nA;
    selsa_tensor rpn_t, rpn_w;
    SELSA_TRY(like(ex, &rpn_t, &k0->bb));
    SELSA_TRY(like(ex, &rpn_w, &k0->bb));
    const selsa_softmax_ce_params rpn_ce = {1, -1, SELSA_NORM_VALID, 1.0f};
    const selsa_smooth_l1_params rpn_sl1 = {SELSA_SMOOTH_L1_MXNET, tc->rpn_sigma, 0.0f,
                                            1.0 / tc->rpn_batch};
    selsa_tensor cls2 = selsa_tensor_view(k0->cls.data, 1, 2, (int64_t)A * fh, fw);
    selsa_tensor prob2 = selsa_tensor_view(k0->prob.data, 1, 2, (int64_t)A * fh, fw);
    if (!ex->dry) {
        float base[4 * 64];
        SELSA_TRY(selsa_anchors_mxnet(base, c->proposal.feat_stride, c->proposal.ratios,
                                      c->proposal.n_ratios, c->proposal.scales, c->proposal.n_scales));
        selsa_anchors_shift(anchors, base, A, fh, fw, (float)c->proposal.feat_stride);
        SELSA_TRY(selsa_official_anchor_targets(anchors, nA, (float)H, (float)W, s->gt_boxes, G, tc,
                                                s->rpn_labels ? NULL : &t->rng, t->labels, abt, tmp));
        if (s->rpn_labels) {
            for (int64_t i = 0; i < nA; i++) {
                if (s->rpn_labels[i] < -1 || s->rpn_labels[i] > 1)
                    return selsa_error(SELSA_ERR_INVALID_ARG, "injected rpn_labels[%lld] = %d (must be -1, 0 or 1)",
                                       (long long)i, s->rpn_labels[i]);
                t->labels[i] = s->rpn_labels[i];
            }
        }
        /* anchor order (h, w, a) → CE layout (a·H + h)·W + w and bbox channel 4a + k (§3.1) */
        const int64_t HW = (int64_t)fh * fw;
        for (int64_t hw = 0; hw < HW; hw++) {
            for (int a = 0; a < A; a++) {
                int64_t i = hw * A + a;
                int32_t l = t->labels[i];
                lab_ce[(int64_t)a * HW + hw] = l;
                L->n_rpn_pos += l == 1;
                L->n_rpn_neg += l == 0;
                for (int k = 0; k < 4; k++) {
                    rpn_t.data[(4 * a + k) * HW + hw] = abt[4 * i + k];
                    rpn_w.data[(4 * a + k) * HW + hw] = l == 1 ? 1.0f : 0.0f;
                }
            }
        }
        SELSA_TRY(selsa_softmax_ce_forward(ex->ctx, &cls2, lab_ce, &rpn_ce, &prob2, NULL, &L->rpn_cls));
        SELSA_TRY(selsa_smooth_l1_forward(ex->ctx, &k0->bb, &rpn_t, &rpn_w, &rpn_sl1, NULL, &L->rpn_bbox));
    }

    /* ---- RCNN targets, OHEM, losses (§8.3, §8.4) ---- */
    int32_t *rlab, *olab, *order;
    float *rt, *rw, *ow, *roi_loss, *elem;
    void *stmp;
    selsa_tensor rprob;
    SELSA_TRY(ibuf(ex, R, &rlab));
    SELSA_TRY(ibuf(ex, R, &olab));
    SELSA_TRY(ibuf(ex, R, &order));
    SELSA_TRY(ibuf(ex, R, &t->keep));
    SELSA_TRY(fbuf(ex, (int64_t)R * 8, &rt));
    SELSA_TRY(fbuf(ex, (int64_t)R * 8, &rw));
    SELSA_TRY(fbuf(ex, (int64_t)R * 8, &ow));
    SELSA_TRY(fbuf(ex, R, &roi_loss));
    SELSA_TRY(fbuf(ex, (int64_t)R * 8, &elem));
    SELSA_TRY(selsa_arena_alloc(ex->arena, selsa_argsort_scratch_bytes(R), &stmp));
    SELSA_TRY(like(ex, &rprob, &cls));
    selsa_tensor rtt = mat(rt, R, 8), rwt = mat(rw, R, 8), owt = mat(ow, R, 8);
    const selsa_softmax_ce_params rc_ce = {1, -1, SELSA_NORM_VALID, 1.0f};
    const selsa_smooth_l1_params rc_sl1_roi = {SELSA_SMOOTH_L1_MXNET, tc->rcnn_sigma, 0.0f, 1.0};
    const selsa_smooth_l1_params rc_sl1 = {SELSA_SMOOTH_L1_MXNET, tc->rcnn_sigma, 0.0f,
                                           1.0 / tc->ohem_rois};
    const int K = s && s->ohem_keep ? s->n_keep : (tc->ohem_rois < R ? tc->ohem_rois : R);
    if (!ex->dry) {
        selsa_official_proposal_targets(k0->rois, R, s->gt_boxes, s->gt_classes, G, tc->fg_iou,
                                        rlab, rt, rw);
        for (int r = 0; r < R; r++) {
            if (rlab[r] < 0 || rlab[r] >= C)
                return selsa_error(SELSA_ERR_INVALID_ARG, "gt class %d outside [0, %d)", rlab[r], C);
            L->n_fg_rois += rlab[r] > 0;
        }
        /* OHEM per-RoI loss: −log p[label] + Σ w·smooth_l1 (BoxAnnotatorOHEM) */
        double dummy;
        SELSA_TRY(selsa_softmax_ce_forward(ex->ctx, &cls, rlab, &rc_ce, &rprob, roi_loss, &dummy));
        SELSA_TRY(selsa_smooth_l1_forward(ex->ctx, &bbox, &rtt, &rwt, &rc_sl1_roi, elem, &dummy));
        for (int r = 0; r < R; r++) {
            double v = roi_loss[r];
            for (int j = 0; j < 8; j++) v += elem[8 * r + j];
            roi_loss[r] = (float)v;
        }
        if (s->ohem_keep) {
            if (s->n_keep < 0 || s->n_keep > R)
                return selsa_error(SELSA_ERR_INVALID_ARG, "injected n_keep %d outside [0, %d]", s->n_keep, R);
            for (int i = 0; i < K; i++) {
                if (s->ohem_keep[i] < 0 || s->ohem_keep[i] >= R)
                    return selsa_error(SELSA_ERR_INVALID_ARG, "injected ohem_keep[%d] = %d outside [0, %d)",
                                       i, s->ohem_keep[i], R);
                t->keep[i] = s->ohem_keep[i];
            }
        } else {
            selsa_official_ohem_select(roi_loss, R, K, t->keep, order, stmp);
        }
        t->n_keep = K;
        for (int r = 0; r < R; r++) olab[r] = -1;
        memset(ow, 0, (size_t)R * 8 * sizeof(float));
        for (int i = 0; i < K; i++) {
            int r = t->keep[i];
            olab[r] = rlab[r];
            memcpy(ow + 8 * r, rw + 8 * r, 8 * sizeof(float));
        }
        SELSA_TRY(selsa_softmax_ce_forward(ex->ctx, &cls, olab, &rc_ce, &rprob, NULL, &L->rcnn_cls));
        SELSA_TRY(selsa_smooth_l1_forward(ex->ctx, &bbox, &rtt, &owt, &rc_sl1, NULL, &L->rcnn_bbox));
        L->total = L->rpn_cls + L->rpn_bbox + L->rcnn_cls + L->rcnn_bbox;
        const char *bad = !isfinite(L->rpn_cls) ? "rpn_cls" : !isfinite(L->rpn_bbox) ? "rpn_bbox"
                          : !isfinite(L->rcnn_cls) ? "rcnn_cls" : !isfinite(L->rcnn_bbox) ? "rcnn_bbox" : NULL;
        if (bad) return selsa_error(SELSA_ERR_NUMERIC, "loss %s is not finite", bad);
    }
    if (!backward) return SELSA_OK;

    /* ================================ backward ================================ */
    const tlayer *lcls = layer_of(t, &m->cls_score), *lbox = layer_of(t, &m->bbox_pred);
    selsa_tensor dcls, dbox, dF2, dX2, dX;
    SELSA_TRY(zeros_like(ex, &dcls, &cls));
    SELSA_TRY(zeros_like(ex, &dbox, &bbox));
    OP(selsa_softmax_ce_backward(ex->ctx, &dcls, &rprob, olab, &rc_ce));
    OP(selsa_smooth_l1_backward(ex->ctx, &dbox, &bbox, &rtt, &owt, &rc_sl1));
    SELSA_TRY(wgrad(t, ex, lcls, &dcls, &F2));
    SELSA_TRY(wgrad(t, ex, lbox, &dbox, &F2));
    SELSA_TRY(zeros_like(ex, &dF2, &F2));
    SELSA_TRY(dgrad(ex, lcls, &dF2, &dcls));
    SELSA_TRY(dgrad(ex, lbox, &dF2, &dbox));
    SELSA_TRY(zeros_like(ex, &dX2, &X2));
    selsa_tensor dXk = rows_of(&dX2, 0, R);
    SELSA_TRY(zeros_like(ex, &dX, &X));
    if (c->selsa) {
        const tlayer *lq[2] = {layer_of(t, &m->query[0]), layer_of(t, &m->query[1])};
        const tlayer *lk[2] = {layer_of(t, &m->key[0]), layer_of(t, &m->key[1])};
        const tlayer *lo[2] = {layer_of(t, &m->linear_out[0]), layer_of(t, &m->linear_out[1])};
        const tlayer *lf2 = layer_of(t, &m->fc_new_2);
        selsa_tensor g2, dZ2, dQ2, dK2, dF1, g1, dZ1, dQ1, dK1;
        /* fc_all_2 = X2k + linear_out_2(Z2), ReLU */
        SELSA_TRY(zeros_like(ex, &g2, &F2));
        OP(selsa_relu_backward(ex->ctx, &g2, &dF2, &F2));
        OP(selsa_accumulate(ex->ctx, &dXk, &g2, 1.0f));
        SELSA_TRY(wgrad(t, ex, lo[1], &g2, &Z2));
        SELSA_TRY(zeros_like(ex, &dZ2, &Z2));
        SELSA_TRY(dgrad(ex, lo[1], &dZ2, &g2));
        SELSA_TRY(zeros_like(ex, &dQ2, &Q2));
        SELSA_TRY(zeros_like(ex, &dK2, &K2));
        /* values are X2 itself: dv goes straight into dX2 (§8.4: no BlockGrad) */
        OP(selsa_attention_backward(ex->ctx, &dQ2, &dK2, &dX2, &dZ2, &P2, &Q2, &K2, &X2, 1, scale));
        SELSA_TRY(wgrad(t, ex, lq[1], &dQ2, &Xk));
        SELSA_TRY(dgrad(ex, lq[1], &dXk, &dQ2));
        SELSA_TRY(wgrad(t, ex, lk[1], &dK2, &X2));
        SELSA_TRY(dgrad(ex, lk[1], &dX2, &dK2));
        /* fc_new_2 */
        SELSA_TRY(wgrad(t, ex, lf2, &dX2, &F1));
        SELSA_TRY(zeros_like(ex, &dF1, &F1));
        SELSA_TRY(dgrad(ex, lf2, &dF1, &dX2));
        /* fc_all_1 = X + linear_out_1(Z1), ReLU */
        SELSA_TRY(zeros_like(ex, &g1, &F1));
        OP(selsa_relu_backward(ex->ctx, &g1, &dF1, &F1));
        OP(selsa_accumulate(ex->ctx, &dX, &g1, 1.0f));
        SELSA_TRY(wgrad(t, ex, lo[0], &g1, &Z1));
        SELSA_TRY(zeros_like(ex, &dZ1, &Z1));
        SELSA_TRY(dgrad(ex, lo[0], &dZ1, &g1));
        SELSA_TRY(zeros_like(ex, &dQ1, &Q1));
        SELSA_TRY(zeros_like(ex, &dK1, &K1));
        OP(selsa_attention_backward(ex->ctx, &dQ1, &dK1, &dX, &dZ1, &P1, &Q1, &K1, &X, 1, scale));
        SELSA_TRY(wgrad(t, ex, lq[0], &dQ1, &X));
        SELSA_TRY(dgrad(ex, lq[0], &dX, &dQ1));
        SELSA_TRY(wgrad(t, ex, lk[0], &dK1, &X));
        SELSA_TRY(dgrad(ex, lk[0], &dX, &dK1));
    } else {
        const tlayer *lf2 = layer_of(t, &m->fc_new_2);
        selsa_tensor dF1;
        OP(selsa_relu_backward(ex->ctx, &dXk, &dF2, &F2));
        SELSA_TRY(wgrad(t, ex, lf2, &dX2, &F1));
        SELSA_TRY(zeros_like(ex, &dF1, &F1));
        SELSA_TRY(dgrad(ex, lf2, &dF1, &dX2));
        OP(selsa_relu_backward(ex->ctx, &dX, &dF1, &F1));
    }
    /* per frame: fc_new_1, ROIPooling, conv_new_1, res5, (key: RPN), res4, res3 */
    const tlayer *lf1 = layer_of(t, &m->fc_new_1), *lcn = layer_of(t, &m->conv_new_1);
    const tlayer *lrc = layer_of(t, &m->rpn_conv), *lrs = layer_of(t, &m->rpn_cls),
                 *lrb = layer_of(t, &m->rpn_bbox);
    const int c4 = conv4_unit(t), last = t->n_train_units - 1;
    for (int f = 0; f < T; f++) {
        fact *fa = &t->fr[f];
        size_t mk = selsa_arena_mark(ex->arena);
        selsa_tensor dXf = rows_of(&dX, (int64_t)f * R, R);
        selsa_tensor dpool, dcn, gcn, dconv5, dconv4;
        SELSA_TRY(wgrad(t, ex, lf1, &dXf, &fa->pooled));
        SELSA_TRY(zeros_like(ex, &dpool, &fa->pooled));
        SELSA_TRY(dgrad(ex, lf1, &dpool, &dXf));
        SELSA_TRY(zeros_like(ex, &dcn, &fa->cn));
        selsa_tensor rois = selsa_tensor_view(fa->rois, R, 5, 1, 1);
        OP(selsa_roi_pool_backward(ex->ctx, &dcn, &dpool, fa->argmax, &rois));
        SELSA_TRY(zeros_like(ex, &gcn, &fa->cn));
        OP(selsa_relu_backward(ex->ctx, &gcn, &dcn, &fa->cn));
        const selsa_tensor *conv5 = &fa->u[last].y, *conv4 = &fa->u[c4].y;
        SELSA_TRY(wgrad(t, ex, lcn, &gcn, conv5));
        SELSA_TRY(zeros_like(ex, &dconv5, conv5));
        SELSA_TRY(dgrad(ex, lcn, &dconv5, &gcn));
        SELSA_TRY(zeros_like(ex, &dconv4, conv4));
        SELSA_TRY(units_backward(t, ex, fa, c4 + 1, last, &dconv5, &dconv4));
        if (f == 0) {
            /* RPN losses → rpn_cls_score / rpn_bbox_pred / rpn_conv_3x3 → conv4 */
            selsa_tensor dlog, dbb, drc, grc;
            SELSA_TRY(zeros_like(ex, &dlog, &fa->cls));
            selsa_tensor dlog2 = selsa_tensor_view(dlog.data, 1, 2, (int64_t)A * fh, fw);
            OP(selsa_softmax_ce_backward(ex->ctx, &dlog2, &prob2, lab_ce, &rpn_ce));
            SELSA_TRY(zeros_like(ex, &dbb, &fa->bb));
            OP(selsa_smooth_l1_backward(ex->ctx, &dbb, &fa->bb, &rpn_t, &rpn_w, &rpn_sl1));
            SELSA_TRY(wgrad(t, ex, lrs, &dlog, &fa->rc));
            SELSA_TRY(wgrad(t, ex, lrb, &dbb, &fa->rc));
            SELSA_TRY(zeros_like(ex, &drc, &fa->rc));
            SELSA_TRY(dgrad(ex, lrs, &drc, &dlog));
            SELSA_TRY(dgrad(ex, lrb, &drc, &dbb));
            SELSA_TRY(zeros_like(ex, &grc, &fa->rc));
            OP(selsa_relu_backward(ex->ctx, &grc, &drc, &fa->rc));
            SELSA_TRY(wgrad(t, ex, lrc, &grc, conv4));
            SELSA_TRY(dgrad(ex, lrc, &dconv4, &grc));
        }
        SELSA_TRY(units_backward(t, ex, fa, 0, c4, &dconv4, NULL));
        selsa_arena_rewind(ex->arena, mk);
    }
    if (!ex->dry) SELSA_TRY(check_grads(t));
    return SELSA_OK;
}

selsa_status selsa_official_trainer_reserve(selsa_official_trainer *t, int H, int W, int n_frames,
                                            int max_gt) {
    if (!t) return selsa_error(SELSA_ERR_INVALID_ARG, "official trainer reserve: NULL trainer");
    if (H < 1 || W < 1 || n_frames < 1 || n_frames > SELSA_OFFICIAL_TRAIN_MAX_FRAMES || max_gt < 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "official trainer reserve: H %d, W %d, frames %d, gt %d",
                           H, W, n_frames, max_gt);
    if (H < t->res_H) H = t->res_H;
    if (W < t->res_W) W = t->res_W;
    if (n_frames < t->res_T) n_frames = t->res_T;
    selsa_arena ma;
    selsa_arena_init_measure(&ma, "train activations");
    selsa_rv1_exec ex = {t->ctx, &ma, true, 0};
    for (int f = 0; f < n_frames; f++) t->scale[f] = 1.0;
    selsa_official_losses L;
    selsa_status s = step(t, &ex, H, W, n_frames, max_gt, NULL, true, &L);
    if (s != SELSA_OK) return selsa_error_context(s, "reserving training activations for %dx%d", H, W);
    if (!t->act.base || t->act.capacity < ma.peak) {
        selsa_arena_free(&t->act);
        SELSA_TRY(selsa_arena_init(&t->act, "official train activations", ma.peak));
    }
    SELSA_TRY(selsa_ctx_reserve_scratch(t->ctx, ex.scratch_need, "official trainer"));
    t->res_H = H;
    t->res_W = W;
    t->res_T = n_frames;
    return SELSA_OK;
}

selsa_status selsa_official_trainer_forward_backward(selsa_official_trainer *t,
                                                     const selsa_official_train_sample *s,
                                                     bool backward, selsa_official_losses *out) {
    if (!t || !s || !out) return selsa_error(SELSA_ERR_INVALID_ARG, "official train step: NULL argument");
    const selsa_official_config *c = &t->cfg;
    int T = s->n_frames;
    if (T < 1 || T > SELSA_OFFICIAL_TRAIN_MAX_FRAMES)
        return selsa_error(SELSA_ERR_INVALID_ARG, "official train step: n_frames %d outside [1, %d]", T,
                           SELSA_OFFICIAL_TRAIN_MAX_FRAMES);
    if (s->n_gt < 0 || (s->n_gt > 0 && (!s->gt_boxes || !s->gt_classes)))
        return selsa_error(SELSA_ERR_INVALID_ARG, "official train step: n_gt %d with NULL gt arrays", s->n_gt);
    for (int g = 0; g < s->n_gt; g++)
        if (s->gt_classes[g] < 1 || s->gt_classes[g] >= c->num_classes)
            return selsa_error(SELSA_ERR_INVALID_ARG, "official train step: gt_classes[%d] = %d outside [1, %d)",
                               g, s->gt_classes[g], c->num_classes);
    if (s->ohem_keep && s->n_keep < 1)
        return selsa_error(SELSA_ERR_INVALID_ARG, "official train step: ohem_keep given with n_keep %d", s->n_keep);
    int H = 0, W = 0;
    for (int f = 0; f < T; f++) {
        const selsa_image *im = s->frames[f];
        if (!im || !im->data || im->h < 1 || im->w < 1)
            return selsa_error(SELSA_ERR_INVALID_ARG, "official train step: frame %d is empty", f);
        SELSA_TRY(selsa_image_resize_official(im, &t->resized[f], c->scale_short, c->scale_long, &t->scale[f]));
        if (f == 0) {
            H = t->resized[0].h;
            W = t->resized[0].w;
        } else if (t->resized[f].h != H || t->resized[f].w != W) {
            return selsa_error(SELSA_ERR_SHAPE, "official train step: frame %d resizes to %dx%d, key frame to %dx%d",
                               f, t->resized[f].h, t->resized[f].w, H, W);
        }
    }
    /* (the gt count does not size anything in the arena) */
    if (!t->act.base || H > t->res_H || W > t->res_W || T > t->res_T)
        SELSA_TRY(selsa_official_trainer_reserve(t, H, W, T, s->n_gt));
    selsa_rv1_exec ex = {t->ctx, &t->act, false, 0};
    /* dry runs in reserve overwrote the per-frame scales */
    for (int f = 0; f < T; f++)
        SELSA_TRY(selsa_resize_rule_official(s->frames[f]->h, s->frames[f]->w, c->scale_short,
                                             c->scale_long, &t->scale[f], &H, &W));
    return step(t, &ex, H, W, T, s->n_gt, s, backward, out);
}
