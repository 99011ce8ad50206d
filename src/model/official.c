/* selsa — the official SELSA detector (official-selsa.md §0–§6): configuration presets,
 * parameter loading (with the §6.3 `_test` rename and BN folding), the per-frame stage
 * (preprocessing → backbone → RPN/proposals → res5 → conv_new_1 → ROIPooling → fc_new_1 →
 * Q1/K1), the window stage (SELSA#1, fc_new_2, SELSA#2, classifier), the uncached reference
 * path and the §5 post-processing. The §9 schedule is in official_schedule.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "selsa/context.h"
#include "model/official_internal.h"
#include "selsa/ops_attn.h"
#include "selsa/ops_elem.h"
#include "selsa/ops_roi.h"

/* ------------------------------------------------------------------ configuration ---------- */

void selsa_official_config_fix_pointers(selsa_official_config *c) {
    c->proposal.scales = c->anchor_scales;
    c->proposal.n_scales = 3;
    c->proposal.ratios = c->anchor_ratios;
    c->proposal.n_ratios = 3;
}

void selsa_official_config_r101(selsa_official_config *c) {
    memset(c, 0, sizeof *c);
    c->depth = 101;
    c->units[0] = 3;
    c->units[1] = 4;
    c->units[2] = 23;
    c->units[3] = 3;
    c->msra_numbered = true; /* res3b1.., res4b1..b22 (§2 table) */
    c->base_channels = 64;
    c->rpn_channels = 512;
    c->conv_new_channels = 256;
    c->fc_dim = 1024;
    c->num_classes = 31;
    c->pooled_size = 7;
    c->spatial_scale = 0.0625f;
    c->bn_eps = 1e-5;
    c->selsa = true;
    c->scale_short = 600;
    c->scale_long = 1000;
    c->key_interval = 10;
    c->proposal = selsa_proposal_mxnet_default_params();
    c->detect = selsa_detect_official_default_params();
    c->detect.num_classes = c->num_classes;
    c->detect.class_agnostic = true;
    const float sc[3] = {8, 16, 32}, ra[3] = {0.5f, 1, 2};
    memcpy(c->anchor_scales, sc, sizeof sc);
    memcpy(c->anchor_ratios, ra, sizeof ra);
    selsa_official_config_fix_pointers(c);
}

void selsa_official_config_r50(selsa_official_config *c) {
    selsa_official_config_r101(c);
    c->depth = 50;
    c->units[2] = 6;
    c->msra_numbered = false; /* MSRA ResNet-50 uses letters (res4a..res4f) */
}

void selsa_official_config_tiny(selsa_official_config *c) {
    selsa_official_config_r101(c);
    c->depth = 14;
    for (int i = 0; i < 4; i++) c->units[i] = 1;
    c->msra_numbered = false;
    c->base_channels = 8;
    c->rpn_channels = 32;
    c->conv_new_channels = 16;
    c->fc_dim = 64;
    c->scale_short = 128;
    c->scale_long = 200;
    c->key_interval = 2;
}

selsa_status selsa_official_config_validate(const selsa_official_config *c) {
    if (!c) return selsa_error(SELSA_ERR_INVALID_ARG, "official config: NULL");
#define REQ(cond, ...) \
    if (!(cond)) return selsa_error(SELSA_ERR_INVALID_ARG, "official config: " __VA_ARGS__)
    for (int i = 0; i < 4; i++)
        REQ(c->units[i] >= 1 && c->units[i] <= 64, "units[%d] = %d must be in [1, 64]", i, c->units[i]);
    REQ(c->base_channels >= 1, "base_channels = %d must be >= 1", c->base_channels);
    REQ(c->rpn_channels >= 1, "rpn_channels = %d must be >= 1", c->rpn_channels);
    REQ(c->conv_new_channels >= 1, "conv_new_channels = %d must be >= 1", c->conv_new_channels);
    REQ(c->fc_dim >= 1, "fc_dim = %d must be >= 1", c->fc_dim);
    REQ(c->num_classes >= 2, "num_classes = %d must be >= 2", c->num_classes);
    REQ(c->detect.num_classes == c->num_classes, "detect.num_classes (%d) != num_classes (%d)",
        c->detect.num_classes, c->num_classes);
    REQ(c->pooled_size >= 1, "pooled_size = %d must be >= 1", c->pooled_size);
    REQ(c->spatial_scale > 0, "spatial_scale must be > 0");
    REQ(c->bn_eps > 0, "bn_eps must be > 0");
    REQ(c->scale_short >= 1 && c->scale_long >= 1, "scale_short/scale_long must be >= 1");
    REQ(c->key_interval >= 0 && c->key_interval <= 1000, "key_interval = %d must be in [0, 1000]",
        c->key_interval);
    REQ(c->proposal.post_nms_top_n >= 1, "proposal.post_nms_top_n must be >= 1");
    REQ(c->proposal.feat_stride == 16, "proposal.feat_stride = %d (the backbone has stride 16)",
        c->proposal.feat_stride);
    REQ(c->proposal.scales && c->proposal.ratios,
        "proposal scales/ratios are NULL (call selsa_official_config_fix_pointers after copying)");
#undef REQ
    return SELSA_OK;
}

const char *selsa_official_unit_name(const selsa_official_config *c, int stage, int unit, char *buf) {
    if (unit == 0)
        snprintf(buf, 8, "a");
    else if (c->msra_numbered && (stage == 3 || stage == 4))
        snprintf(buf, 8, "b%d", unit); /* MSRA naming: res4b1 .. res4b22 */
    else
        snprintf(buf, 8, "%c", (char)('a' + (unit % 26)));
    return buf;
}

static void emit(selsa_official_param_fn fn, void *user, const char *name, selsa_weight_kind k,
                 int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    int64_t d[4] = {d0, d1, d2, d3};
    fn(user, name, k, ndim, d);
}

static void emit_conv_bn(selsa_official_param_fn fn, void *user, const char *conv, const char *bn,
                         int64_t cout, int64_t cin, int k) {
    char n[96];
    snprintf(n, sizeof n, "%s_weight", conv);
    emit(fn, user, n, SELSA_WEIGHT_ARG, 4, cout, cin, k, k);
    static const char *const sfx[4] = {"gamma", "beta", "moving_mean", "moving_var"};
    for (int i = 0; i < 4; i++) {
        snprintf(n, sizeof n, "%s_%s", bn, sfx[i]);
        emit(fn, user, n, i < 2 ? SELSA_WEIGHT_ARG : SELSA_WEIGHT_AUX, 1, cout, 0, 0, 0);
    }
}

static void emit_wb(selsa_official_param_fn fn, void *user, const char *name, int ndim,
                    int64_t cout, int64_t cin, int k) {
    char n[96];
    snprintf(n, sizeof n, "%s_weight", name);
    emit(fn, user, n, SELSA_WEIGHT_ARG, ndim, cout, cin, k, k);
    snprintf(n, sizeof n, "%s_bias", name);
    emit(fn, user, n, SELSA_WEIGHT_ARG, 1, cout, 0, 0, 0);
}

void selsa_official_enum_params(const selsa_official_config *c, selsa_official_param_fn fn,
                                void *user) {
    emit_conv_bn(fn, user, "conv1", "bn_conv1", c->base_channels, 3, 7);
    int64_t in_c = c->base_channels;
    for (int s = 2; s <= 5; s++) {
        int64_t mid = (int64_t)c->base_channels << (s - 2), outc = 4 * mid;
        for (int u = 0; u < c->units[s - 2]; u++) {
            char un[8], cn[48], bn[48];
            selsa_official_unit_name(c, s, u, un);
            int64_t cin = u == 0 ? in_c : outc;
            if (u == 0) {
                snprintf(cn, sizeof cn, "res%d%s_branch1", s, un);
                snprintf(bn, sizeof bn, "bn%d%s_branch1", s, un);
                emit_conv_bn(fn, user, cn, bn, outc, cin, 1);
            }
            snprintf(cn, sizeof cn, "res%d%s_branch2a", s, un);
            snprintf(bn, sizeof bn, "bn%d%s_branch2a", s, un);
            emit_conv_bn(fn, user, cn, bn, mid, cin, 1);
            snprintf(cn, sizeof cn, "res%d%s_branch2b", s, un);
            snprintf(bn, sizeof bn, "bn%d%s_branch2b", s, un);
            emit_conv_bn(fn, user, cn, bn, mid, mid, 3);
            snprintf(cn, sizeof cn, "res%d%s_branch2c", s, un);
            snprintf(bn, sizeof bn, "bn%d%s_branch2c", s, un);
            emit_conv_bn(fn, user, cn, bn, outc, mid, 1);
        }
        in_c = outc;
    }
    int A = c->proposal.n_scales * c->proposal.n_ratios;
    int64_t c4 = 4LL * ((int64_t)c->base_channels << 2), c5 = 4LL * ((int64_t)c->base_channels << 3);
    int64_t D = c->fc_dim, P = c->pooled_size;
    emit_wb(fn, user, "rpn_conv_3x3", 4, c->rpn_channels, c4, 3);
    emit_wb(fn, user, "rpn_cls_score", 4, 2 * A, c->rpn_channels, 1);
    emit_wb(fn, user, "rpn_bbox_pred", 4, 4 * A, c->rpn_channels, 1);
    emit_wb(fn, user, "conv_new_1", 4, c->conv_new_channels, c5, 1);
    emit_wb(fn, user, "fc_new_1", 2, D, c->conv_new_channels * P * P, 1);
    if (c->selsa) {
        emit_wb(fn, user, "query_1", 2, D, D, 1);
        emit_wb(fn, user, "key_1", 2, D, D, 1);
        emit_wb(fn, user, "linear_out_1", 4, D, D, 1);
    }
    emit_wb(fn, user, "fc_new_2", 2, D, D, 1);
    if (c->selsa) {
        emit_wb(fn, user, "query_2", 2, D, D, 1);
        emit_wb(fn, user, "key_2", 2, D, D, 1);
        emit_wb(fn, user, "linear_out_2", 4, D, D, 1);
    }
    emit_wb(fn, user, "cls_score", 2, c->num_classes, D, 1);
    emit_wb(fn, user, "bbox_pred", 2, c->detect.class_agnostic ? 8 : 4LL * c->num_classes, D, 1);
}

/* ------------------------------------------------------------------ model ------------------ */

static selsa_conv2d_params cp(int pad) {
    selsa_conv2d_params p = {1, 1, pad, pad, 1, 1, 1};
    return p;
}

/* All parameter allocations in a fixed order (dry: measuring arena, w unused). */
static selsa_status model_params(selsa_official_model *m, selsa_weights *w, bool dry) {
    const selsa_official_config *c = &m->cfg;
    selsa_arena *a = &m->params;
    SELSA_TRY(selsa_rv1_load(&m->net, c, a, w, dry));
    int A = c->proposal.n_scales * c->proposal.n_ratios;
    int64_t c4 = 4LL * ((int64_t)c->base_channels << 2), c5 = 4LL * ((int64_t)c->base_channels << 3);
    int64_t D = c->fc_dim, P = c->pooled_size;
    double e = c->bn_eps;
    SELSA_TRY(selsa_rv1_conv_load(&m->rpn_conv, a, w, dry, "rpn_conv_3x3", NULL, c->rpn_channels,
                                  c4, 3, false, true, e, cp(1)));
    SELSA_TRY(selsa_rv1_conv_load(&m->rpn_cls, a, w, dry, "rpn_cls_score", NULL, 2 * A,
                                  c->rpn_channels, 1, false, true, e, cp(0)));
    SELSA_TRY(selsa_rv1_conv_load(&m->rpn_bbox, a, w, dry, "rpn_bbox_pred", NULL, 4 * A,
                                  c->rpn_channels, 1, false, true, e, cp(0)));
    SELSA_TRY(selsa_rv1_conv_load(&m->conv_new_1, a, w, dry, "conv_new_1", NULL,
                                  c->conv_new_channels, c5, 1, false, true, e, cp(0)));
    SELSA_TRY(selsa_rv1_conv_load(&m->fc_new_1, a, w, dry, "fc_new_1", NULL, D,
                                  c->conv_new_channels * P * P, 1, true, true, e, cp(0)));
    SELSA_TRY(selsa_rv1_conv_load(&m->fc_new_2, a, w, dry, "fc_new_2", NULL, D, D, 1, true, true,
                                  e, cp(0)));
    if (c->selsa) {
        for (int k = 0; k < 2; k++) {
            char n[32];
            snprintf(n, sizeof n, "query_%d", k + 1);
            SELSA_TRY(selsa_rv1_conv_load(&m->query[k], a, w, dry, n, NULL, D, D, 1, true, true, e, cp(0)));
            snprintf(n, sizeof n, "key_%d", k + 1);
            SELSA_TRY(selsa_rv1_conv_load(&m->key[k], a, w, dry, n, NULL, D, D, 1, true, true, e, cp(0)));
            /* linear_out_k is a 1×1 Convolution with weight (D, D, 1, 1) (§4.2) */
            snprintf(n, sizeof n, "linear_out_%d", k + 1);
            SELSA_TRY(selsa_rv1_conv_load(&m->linear_out[k], a, w, dry, n, NULL, D, D, 1, false,
                                          true, e, cp(0)));
        }
    }
    SELSA_TRY(selsa_rv1_conv_load(&m->cls_score, a, w, dry, "cls_score", NULL, c->num_classes, D,
                                  1, true, true, e, cp(0)));
    SELSA_TRY(selsa_rv1_conv_load(&m->bbox_pred, a, w, dry, "bbox_pred", NULL,
                                  c->detect.class_agnostic ? 8 : 4LL * c->num_classes, D, 1, true,
                                  true, e, cp(0)));
    return SELSA_OK;
}

/* for_training: the trainer keeps its own normalised bbox_pred copy, so the de-normalisation
 * of a checkpoint without `_test` tensors is expected there and logged at debug level only. */
static selsa_status model_load(selsa_official_model **out, const selsa_official_config *cfg, selsa_weights *w,
                               const char *what, bool for_training) {
    if (!out || !cfg || !w) return selsa_error(SELSA_ERR_INVALID_ARG, "official model load: NULL argument");
    *out = NULL;
    SELSA_TRY(selsa_official_config_validate(cfg));
    if (!what) what = "weights";
    selsa_official_model *m = calloc(1, sizeof *m);
    if (!m) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "official model: struct");
    m->cfg = *cfg;
    selsa_official_config_fix_pointers(&m->cfg);
    selsa_status s;
    /* §6.3: the official test renames every X_test onto X (load_param(process=True)) */
    bool has_test = selsa_weights_find(w, "bbox_pred_weight_test") != NULL;
    int renamed = 0;
    s = selsa_weights_apply_test_rename(w, &renamed);
    if (s != SELSA_OK) goto fail;
    /* measuring pass, then the real arena */
    selsa_arena_init_measure(&m->params, "params");
    s = model_params(m, NULL, true);
    if (s != SELSA_OK) goto fail;
    size_t bytes = m->params.peak;
    selsa_rv1_free(&m->net);
    memset(&m->net, 0, sizeof m->net);
    s = selsa_arena_init(&m->params, "official params", bytes);
    if (s != SELSA_OK) goto fail;
    s = model_params(m, w, false);
    if (s != SELSA_OK) goto fail;
    if (!has_test) {
        /* §6.3: without the _test copies the plain bbox_pred predicts normalised deltas;
         * de-normalise with stds (0.1, 0.1, 0.2, 0.2) tiled per box (means are 0). */
        static const float stds[4] = {0.1f, 0.1f, 0.2f, 0.2f};
        selsa_tensor *bw = &m->bbox_pred.weight;
        for (int64_t o = 0; o < bw->n; o++) {
            float sd = stds[o % 4];
            for (int64_t i = 0; i < bw->c; i++) bw->data[o * bw->c + i] *= sd;
            m->bbox_pred.bias[o] *= sd;
        }
        selsa_log(for_training ? SELSA_LOG_DEBUG : SELSA_LOG_INFO,
                  "%s: no bbox_pred_weight_test; de-normalising bbox_pred with stds (0.1, 0.1, 0.2, 0.2)",
                  what);
    } else {
        selsa_log(SELSA_LOG_DEBUG, "%s: %d *_test tensors renamed onto their base names", what, renamed);
    }
    selsa_weights_warn_unused(w, what);
    *out = m;
    return SELSA_OK;
fail:
    selsa_official_model_free(m);
    return selsa_error_context(s, "%s", what);
}

selsa_status selsa_official_model_load(selsa_official_model **out, const selsa_official_config *cfg,
                                       selsa_weights *w, const char *what) {
    return model_load(out, cfg, w, what, false);
}

selsa_status selsa_official_model_load_for_training(selsa_official_model **out, const selsa_official_config *cfg,
                                                    selsa_weights *w) {
    return model_load(out, cfg, w, "training weights", true);
}

selsa_status selsa_official_model_load_file(selsa_official_model **out,
                                            const selsa_official_config *cfg, const char *path) {
    if (!path) return selsa_error(SELSA_ERR_INVALID_ARG, "official model load: NULL path");
    selsa_weights w;
    selsa_weights_init(&w);
    selsa_status s = selsa_weights_load(path, &w);
    if (s == SELSA_OK) s = selsa_official_model_load(out, cfg, &w, path);
    selsa_weights_free(&w);
    return s;
}

void selsa_official_model_free(selsa_official_model *m) {
    if (!m) return;
    selsa_rv1_free(&m->net);
    selsa_arena_free(&m->params);
    free(m);
}

const selsa_official_config *selsa_official_model_config(const selsa_official_model *m) {
    return m ? &m->cfg : NULL;
}

size_t selsa_official_model_param_bytes(const selsa_official_model *m) {
    return m ? m->params.capacity : 0;
}

/* ------------------------------------------------------------------ runner ----------------- */

static int n_anchors(const selsa_official_config *c) { return c->proposal.n_scales * c->proposal.n_ratios; }
static int bbox_cols(const selsa_official_config *c) {
    return c->detect.class_agnostic ? 8 : 4 * c->num_classes;
}

selsa_status selsa_official_runner_create(selsa_official_runner **out,
                                          const selsa_official_model *m, selsa_ctx *ctx) {
    if (!out || !m || !ctx) return selsa_error(SELSA_ERR_INVALID_ARG, "official runner: NULL argument");
    *out = NULL;
    selsa_official_runner *r = calloc(1, sizeof *r);
    if (!r) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "official runner: struct");
    r->m = m;
    r->ctx = ctx;
    const selsa_official_config *c = &m->cfg;
    r->R = c->proposal.post_nms_top_n;
    r->D = c->fc_dim;
    r->T_max = 2 * c->key_interval + 1;
    r->n_slots = r->T_max + 1;
    selsa_status s;
    /* cache: per slot rois (R,5), X1, and for SELSA Q1, K1 (R,D) */
    size_t per = (size_t)r->R * 5 + (size_t)r->R * r->D * (c->selsa ? 3 : 1);
    size_t cache_bytes = (size_t)r->n_slots * (per * sizeof(float) + 4 * SELSA_ARENA_ALIGN);
    r->slots = calloc((size_t)r->n_slots, sizeof *r->slots);
    r->det_cap = (int64_t)r->R * (c->num_classes - 1);
    r->dets = calloc((size_t)r->det_cap, sizeof *r->dets);
    if (!r->slots || !r->dets) {
        s = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "official runner: slot table");
        goto fail;
    }
    s = selsa_arena_init(&r->cache, "frame cache", cache_bytes);
    if (s != SELSA_OK) goto fail;
    for (int i = 0; i < r->n_slots; i++) {
        selsa_official_frame *f = &r->slots[i];
        f->frame = -1;
        f->valid = false;
        void *p;
        if ((s = selsa_arena_alloc(&r->cache, (size_t)r->R * 5 * sizeof(float), &p)) != SELSA_OK) goto fail;
        f->rois = p;
        if ((s = selsa_arena_alloc(&r->cache, (size_t)r->R * r->D * sizeof(float), &p)) != SELSA_OK) goto fail;
        f->x1 = p;
        if (c->selsa) {
            if ((s = selsa_arena_alloc(&r->cache, (size_t)r->R * r->D * sizeof(float), &p)) != SELSA_OK) goto fail;
            f->q1 = p;
            if ((s = selsa_arena_alloc(&r->cache, (size_t)r->R * r->D * sizeof(float), &p)) != SELSA_OK) goto fail;
            f->k1 = p;
        }
    }
    *out = r;
    return SELSA_OK;
fail:
    selsa_official_runner_free(r);
    return s;
}

void selsa_official_runner_free(selsa_official_runner *r) {
    if (!r) return;
    selsa_arena_free(&r->act);
    selsa_arena_free(&r->win);
    selsa_arena_free(&r->cache);
    selsa_image_free(&r->resized);
    free(r->slots);
    free(r->dets);
    free(r);
}

int selsa_official_cache_slots(const selsa_official_runner *r) { return r ? r->n_slots : 0; }

void selsa_official_runner_set_debug(selsa_official_runner *r, selsa_official_debug_fn fn, void *user) {
    r->debug = fn;
    r->debug_user = user;
}

const selsa_official_stats *selsa_official_runner_stats(const selsa_official_runner *r) { return &r->stats; }
void selsa_official_runner_reset_stats(selsa_official_runner *r) { memset(&r->stats, 0, sizeof r->stats); }

size_t selsa_official_runner_bytes(const selsa_official_runner *r) {
    return r->act.capacity + r->win.capacity + r->cache.capacity + r->ctx->scratch.capacity +
           r->resized.cap + (size_t)r->det_cap * sizeof(selsa_detection);
}

static void debug_t(selsa_official_runner *r, const char *name, int64_t frame, const selsa_tensor *t) {
    if (r->debug) r->debug(r->debug_user, name, frame, t);
}

#define OP(expr)                       \
    do {                               \
        if (!ex->dry) SELSA_TRY(expr); \
    } while (0)

static void need(selsa_rv1_exec *ex, size_t bytes) {
    if (bytes > ex->scratch_need) ex->scratch_need = bytes;
}

/* out (rows, Out) = in · Wᵀ + b (FC layers stored as (Out, In, 1, 1)). */
static selsa_status fc(selsa_rv1_exec *ex, const selsa_rv1_conv *l, const selsa_tensor *in,
                       selsa_tensor *out, selsa_activation act) {
    if (ex->dry) return SELSA_OK;
    selsa_status s = selsa_linear_forward(ex->ctx, out, in, &l->weight, l->bias, act);
    if (s != SELSA_OK) return selsa_error_context(s, "layer %s", l->name);
    return SELSA_OK;
}

static selsa_tensor mat(float *p, int64_t rows, int64_t cols) { return selsa_tensor_view(p, rows, cols, 1, 1); }

static selsa_status alloc_mat(selsa_rv1_exec *ex, selsa_tensor *t, int64_t rows, int64_t cols) {
    return selsa_arena_tensor(ex->arena, t, rows, cols, 1, 1);
}

/* Per-frame stage (module doc). In dry mode: H, W, scale give the scaled size; img unused.
 * Otherwise img is resized here. Results go to *o. The act arena is reset first. */
static selsa_status frame_stage(selsa_official_runner *r, selsa_rv1_exec *ex,
                                const selsa_image *img, int H, int W, double scale,
                                selsa_official_frame *o, int64_t frame) {
    const selsa_official_model *m = r->m;
    const selsa_official_config *c = &m->cfg;
    const int R = r->R, D = r->D, A = n_anchors(c);
    selsa_arena_reset(ex->arena);
    double t0 = selsa_monotonic_seconds();
    if (!ex->dry) {
        SELSA_TRY(selsa_image_resize_official(img, &r->resized, c->scale_short, c->scale_long, &scale));
        H = r->resized.h;
        W = r->resized.w;
    }
    selsa_tensor in, p, conv4, rc, cls, bb, conv5, cn, pooled;
    SELSA_TRY(selsa_arena_tensor(ex->arena, &in, 1, 3, H, W));
    if (!ex->dry) {
        selsa_norm_cfg norm = selsa_norm_official(); /* §1: RGB, minus BGR means, no std */
        SELSA_TRY(selsa_image_to_tensor(&r->resized, &norm, &in, 0));
    }
    double t1 = selsa_monotonic_seconds();
    /* backbone: conv1 .. res4 (conv4 feature = last res4 unit's relu) */
    SELSA_TRY(selsa_rv1_stem(ex, &m->net, &in, &p));
    SELSA_TRY(selsa_rv1_stages(ex, &m->net, 2, 4, &p, &conv4));
    if (!ex->dry) debug_t(r, "conv4", frame, &conv4);
    double t2 = selsa_monotonic_seconds();
    /* RPN (§3.1) on conv4 */
    SELSA_TRY(selsa_rv1_conv_run(ex, &m->rpn_conv, &conv4, &rc, SELSA_ACT_RELU));
    SELSA_TRY(selsa_rv1_conv_run(ex, &m->rpn_cls, &rc, &cls, SELSA_ACT_NONE));
    SELSA_TRY(selsa_rv1_conv_run(ex, &m->rpn_bbox, &rc, &bb, SELSA_ACT_NONE));
    /* (N, 2A, H, W) viewed as (N, 2, A·H, W): softmax over the 2 channels, i.e. between channel
     * a (background) and A + a (foreground) at each (h, w) — same memory, no copy (§3.1) */
    selsa_tensor cls2 = selsa_tensor_view(cls.data, cls.n, 2, (int64_t)A * cls.h, cls.w);
    OP(selsa_softmax_channel_forward(ex->ctx, &cls2, &cls2));
    if (!ex->dry) {
        debug_t(r, "rpn_cls_prob", frame, &cls);
        debug_t(r, "rpn_bbox_pred", frame, &bb);
    }
    float im_info[3] = {(float)H, (float)W, (float)scale};
    selsa_tensor rois = selsa_tensor_view(o ? o->rois : NULL, R, 5, 1, 1);
    need(ex, selsa_proposal_mxnet_scratch_bytes(A, conv4.h, conv4.w, &c->proposal));
    OP(selsa_proposal_mxnet(ex->ctx, &rois, NULL, &cls, &bb, im_info, &c->proposal));
    double t3 = selsa_monotonic_seconds();
    /* res5 (dilated, stride 1) on conv4 */
    SELSA_TRY(selsa_rv1_stages(ex, &m->net, 5, 5, &conv4, &conv5));
    if (!ex->dry) debug_t(r, "conv5", frame, &conv5);
    double t4 = selsa_monotonic_seconds();
    /* head (§4.1): conv_new_1 + ReLU, ROIPooling 7×7 @ 1/16, fc_new_1 (no ReLU) */
    SELSA_TRY(selsa_rv1_conv_run(ex, &m->conv_new_1, &conv5, &cn, SELSA_ACT_RELU));
    SELSA_TRY(selsa_arena_tensor(ex->arena, &pooled, R, cn.c, c->pooled_size, c->pooled_size));
    void *am;
    SELSA_TRY(selsa_arena_alloc(ex->arena, (size_t)selsa_tensor_numel(&pooled) * sizeof(int32_t), &am));
    OP(selsa_roi_pool_forward(ex->ctx, &pooled, am, &cn, &rois, c->spatial_scale));
    selsa_tensor x1 = mat(o ? o->x1 : NULL, R, D);
    SELSA_TRY(fc(ex, &m->fc_new_1, &pooled, &x1, SELSA_ACT_NONE));
    if (!ex->dry) debug_t(r, "fc_new_1", frame, &x1);
    if (c->selsa) {
        /* module-1 projections depend on this frame only: cached with it */
        selsa_tensor q1 = mat(o ? o->q1 : NULL, R, D), k1 = mat(o ? o->k1 : NULL, R, D);
        SELSA_TRY(fc(ex, &m->query[0], &x1, &q1, SELSA_ACT_NONE));
        SELSA_TRY(fc(ex, &m->key[0], &x1, &k1, SELSA_ACT_NONE));
    }
    double t5 = selsa_monotonic_seconds();
    if (!ex->dry) {
        o->frame = frame;
        o->valid = true;
        o->im_info[0] = im_info[0];
        o->im_info[1] = im_info[1];
        o->im_info[2] = im_info[2];
        r->stats.decode += t1 - t0;
        r->stats.backbone += t2 - t1;
        r->stats.rpn += t3 - t2;
        r->stats.res5 += t4 - t3;
        r->stats.head += t5 - t4;
        r->stats.frames++;
    }
    return SELSA_OK;
}

/* Copy rows of frames fr[0..T) into (M, D) stacked matrices (frame-major). */
static void stack(float *dst, const selsa_official_frame *const *fr, int T, int which, int R, int D) {
    size_t n = (size_t)R * D;
    for (int t = 0; t < T; t++) {
        const float *src = which == 0 ? fr[t]->x1 : which == 1 ? fr[t]->q1 : fr[t]->k1;
        memcpy(dst + (size_t)t * n, src, n * sizeof(float));
    }
}

/* attention(q rows, k, v) in blocks of R query rows (bounded prob buffer (1, R, M, 1)). The
 * softmax is per query row, so blocking does not change any result. */
static selsa_status attn_blocks(selsa_rv1_exec *ex, selsa_tensor *out, const selsa_tensor *q,
                                const selsa_tensor *k, const selsa_tensor *v, selsa_tensor *prob,
                                int R, float scale) {
    if (ex->dry) return SELSA_OK;
    int64_t D = q->c, Dv = v->c;
    for (int64_t r0 = 0; r0 < q->n; r0 += R) {
        int64_t nb = q->n - r0 < R ? q->n - r0 : R;
        selsa_tensor qb = mat(q->data + r0 * D, nb, D), ob = mat(out->data + r0 * Dv, nb, Dv);
        selsa_tensor pb = selsa_tensor_view(prob->data, 1, nb, k->n, 1);
        SELSA_TRY(selsa_attention_forward(ex->ctx, &ob, &pb, &qb, k, v, 1, scale));
    }
    return SELSA_OK;
}

/* Window stage (module doc). all_rows: stage 2 (and the classifier) on every row, then the key
 * frame's rows (the uncached reference); else stage-2 queries for the key rows only.
 * Writes r->cls (R, C) softmaxed, r->bbox (R, 8). */
static selsa_status window_stage(selsa_official_runner *r, selsa_rv1_exec *ex,
                                 const selsa_official_frame *const *fr, int T, int key,
                                 bool all_rows) {
    const selsa_official_model *m = r->m;
    const selsa_official_config *c = &m->cfg;
    const int R = r->R, D = r->D, C = c->num_classes, B = bbox_cols(c);
    const int64_t M = (int64_t)R * T;
    const float scale = 1.0f / sqrtf((float)D); /* §4.2: S = Q·Kᵀ / sqrt(fc_dim) */
    double t0 = selsa_monotonic_seconds();
    SELSA_TRY(alloc_mat(ex, &r->cls, R, C));
    SELSA_TRY(alloc_mat(ex, &r->bbox, R, B));
    int64_t rows = all_rows ? M : R;  /* rows that go through the classifier */
    selsa_tensor F2;                  /* (rows, D) after the final ReLU */
    if (c->selsa) {
        selsa_tensor X, Q, K, A, prob;
        SELSA_TRY(alloc_mat(ex, &X, M, D));
        SELSA_TRY(alloc_mat(ex, &Q, M, D));
        SELSA_TRY(alloc_mat(ex, &K, M, D));
        SELSA_TRY(alloc_mat(ex, &A, M, D));
        SELSA_TRY(selsa_arena_tensor(ex->arena, &prob, 1, R, M, 1));
        if (!ex->dry) {
            stack(X.data, fr, T, 0, R, D);
            stack(Q.data, fr, T, 1, R, D);
            stack(K.data, fr, T, 2, R, D);
        }
        /* SELSA#1 over all M rows (stage 2 needs X2 of every row) */
        SELSA_TRY(attn_blocks(ex, &A, &Q, &K, &X, &prob, R, scale));
        selsa_tensor Y = Q; /* Q1 is dead: reuse its buffer */
        SELSA_TRY(fc(ex, &m->linear_out[0], &A, &Y, SELSA_ACT_NONE));
        /* fc_all_1 = fc_new_1 + attention_1, then ReLU */
        OP(selsa_add_forward(ex->ctx, &Y, &X, &Y, SELSA_ACT_RELU));
        selsa_tensor X2 = A;
        SELSA_TRY(fc(ex, &m->fc_new_2, &Y, &X2, SELSA_ACT_NONE));
        SELSA_TRY(fc(ex, &m->key[1], &X2, &K, SELSA_ACT_NONE));
        /* SELSA#2: keys and values are all M rows; queries all rows or the key frame's */
        selsa_tensor Xq = all_rows ? X2 : mat(X2.data ? X2.data + (int64_t)key * R * D : NULL, R, D);
        selsa_tensor Q2 = mat(Q.data, rows, D), A2, Y2;
        SELSA_TRY(fc(ex, &m->query[1], &Xq, &Q2, SELSA_ACT_NONE));
        SELSA_TRY(alloc_mat(ex, &A2, rows, D));
        SELSA_TRY(alloc_mat(ex, &Y2, rows, D));
        SELSA_TRY(attn_blocks(ex, &A2, &Q2, &K, &X2, &prob, R, scale));
        SELSA_TRY(fc(ex, &m->linear_out[1], &A2, &Y2, SELSA_ACT_NONE));
        OP(selsa_add_forward(ex->ctx, &Y2, &Xq, &Y2, SELSA_ACT_RELU));
        F2 = Y2;
    } else {
        /* baseline: fc_all_k = fc_new_k; only the key frame matters unless all_rows */
        selsa_tensor X, X2;
        SELSA_TRY(alloc_mat(ex, &X, rows, D));
        SELSA_TRY(alloc_mat(ex, &X2, rows, D));
        if (!ex->dry) {
            if (all_rows)
                stack(X.data, fr, T, 0, R, D);
            else
                memcpy(X.data, fr[key]->x1, (size_t)R * D * sizeof(float));
        }
        OP(selsa_relu_forward(ex->ctx, &X, &X));
        SELSA_TRY(fc(ex, &m->fc_new_2, &X, &X2, SELSA_ACT_RELU));
        F2 = X2;
    }
    /* classifier on the key frame's rows */
    selsa_tensor Fk = all_rows ? mat(F2.data ? F2.data + (int64_t)key * R * D : NULL, R, D) : F2;
    SELSA_TRY(fc(ex, &m->cls_score, &Fk, &r->cls, SELSA_ACT_NONE));
    SELSA_TRY(fc(ex, &m->bbox_pred, &Fk, &r->bbox, SELSA_ACT_NONE));
    double t1 = selsa_monotonic_seconds();
    if (!ex->dry) r->stats.aggregation += t1 - t0;
    return SELSA_OK;
}

/* Softmax + §5 post-processing of r->cls / r->bbox with the key frame's RoIs. */
static selsa_status post_stage(selsa_official_runner *r, selsa_rv1_exec *ex,
                               const selsa_official_frame *key, selsa_official_result *res) {
    const selsa_official_config *c = &r->m->cfg;
    need(ex, selsa_detect_postprocess_official_scratch_bytes(r->R, c->num_classes,
                                                             c->detect.class_agnostic));
    if (ex->dry) return SELSA_OK;
    double t0 = selsa_monotonic_seconds();
    SELSA_TRY(selsa_softmax_channel_forward(ex->ctx, &r->cls, &r->cls));
    r->rois = selsa_tensor_view(key->rois, r->R, 5, 1, 1);
    int64_t n = 0;
    SELSA_TRY(selsa_detect_postprocess_official(ex->ctx, r->dets, r->det_cap, &n, &r->rois, &r->cls,
                                                &r->bbox, key->im_info[0], key->im_info[1],
                                                key->im_info[2], &c->detect));
    res->frame = key->frame;
    res->rois = &r->rois;
    res->cls_prob = &r->cls;
    res->bbox_pred = &r->bbox;
    res->dets = r->dets;
    res->n_dets = n;
    memcpy(res->im_info, key->im_info, sizeof res->im_info);
    r->stats.post += selsa_monotonic_seconds() - t0;
    r->stats.windows++;
    return SELSA_OK;
}

static selsa_status grow(selsa_arena *a, const char *name, size_t bytes) {
    if (a->base && a->capacity >= bytes) return SELSA_OK;
    selsa_arena_free(a);
    return selsa_arena_init(a, name, bytes);
}

/* Measuring passes for a scaled H × W frame; grows the arenas and ctx->scratch. */
static selsa_status reserve_scaled(selsa_official_runner *r, int H, int W, bool uncached) {
    if (H < r->res_h) H = r->res_h;
    if (W < r->res_w) W = r->res_w;
    uncached = uncached || r->res_uncached;
    selsa_arena ma, mw;
    selsa_arena_init_measure(&ma, "activations");
    selsa_arena_init_measure(&mw, "window");
    selsa_rv1_exec ea = {r->ctx, &ma, true, 0}, ew = {r->ctx, &mw, true, 0};
    const selsa_official_frame *fr[1] = {NULL};
    selsa_status s = frame_stage(r, &ea, NULL, H, W, 1.0, NULL, -1);
    if (s != SELSA_OK) return selsa_error_context(s, "reserving for %dx%d", H, W);
    /* window stage with T = 2K+1 (dry: frames are not read) */
    const selsa_official_frame **frs = NULL;
    (void)fr;
    s = window_stage(r, &ew, frs, r->T_max, r->T_max / 2, false);
    if (s == SELSA_OK) s = post_stage(r, &ew, NULL, NULL);
    size_t win_bytes = mw.peak;
    if (s == SELSA_OK && uncached) {
        selsa_arena_reset(&mw);
        /* T frame outputs + the all-rows window */
        size_t per = (size_t)r->R * 5 + (size_t)r->R * r->D * (r->m->cfg.selsa ? 3 : 1);
        void *p;
        for (int t = 0; t < r->T_max && s == SELSA_OK; t++)
            s = selsa_arena_alloc(&mw, per * sizeof(float) + 4 * SELSA_ARENA_ALIGN, &p);
        if (s == SELSA_OK) s = window_stage(r, &ew, frs, r->T_max, r->T_max / 2, true);
        if (s == SELSA_OK) s = post_stage(r, &ew, NULL, NULL);
        if (mw.peak > win_bytes) win_bytes = mw.peak;
    }
    if (s != SELSA_OK) return s;
    SELSA_TRY(grow(&r->act, "activations", ma.peak));
    SELSA_TRY(grow(&r->win, "window activations", win_bytes));
    size_t sneed = ea.scratch_need > ew.scratch_need ? ea.scratch_need : ew.scratch_need;
    if (r->ctx->scratch.capacity < sneed) {
        SELSA_TRY(selsa_ctx_reserve_scratch(r->ctx, sneed, "official runner"));
        selsa_log(SELSA_LOG_INFO, "official runner: scratch arena grown to %zu bytes", sneed);
    }
    r->res_h = H;
    r->res_w = W;
    r->res_uncached = uncached;
    return SELSA_OK;
}

selsa_status selsa_official_runner_reserve(selsa_official_runner *r, int orig_h, int orig_w,
                                           bool uncached) {
    if (!r) return selsa_error(SELSA_ERR_INVALID_ARG, "official reserve: NULL runner");
    double scale;
    int H, W;
    const selsa_official_config *c = &r->m->cfg;
    SELSA_TRY(selsa_resize_rule_official(orig_h, orig_w, c->scale_short, c->scale_long, &scale, &H, &W));
    return reserve_scaled(r, H, W, uncached);
}

static selsa_status ensure_reserved(selsa_official_runner *r, const selsa_image *img, bool uncached) {
    if (!img || !img->data || img->h <= 0 || img->w <= 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "official: empty frame image");
    double scale;
    int H, W;
    const selsa_official_config *c = &r->m->cfg;
    SELSA_TRY(selsa_resize_rule_official(img->h, img->w, c->scale_short, c->scale_long, &scale, &H, &W));
    if (H > r->res_h || W > r->res_w || (uncached && !r->res_uncached) || !r->act.base)
        SELSA_TRY(reserve_scaled(r, H, W, uncached));
    return SELSA_OK;
}

selsa_status selsa_official_compute_frame(selsa_official_runner *r, int slot, int64_t frame,
                                          const selsa_image *img) {
    if (!r) return selsa_error(SELSA_ERR_INVALID_ARG, "official compute_frame: NULL runner");
    if (slot < 0 || slot >= r->n_slots)
        return selsa_error(SELSA_ERR_INVALID_ARG, "official compute_frame: slot %d outside [0, %d)",
                           slot, r->n_slots);
    SELSA_TRY(ensure_reserved(r, img, false));
    selsa_official_frame *o = &r->slots[slot];
    o->valid = false;
    selsa_rv1_exec ex = {r->ctx, &r->act, false, 0};
    selsa_status s = frame_stage(r, &ex, img, 0, 0, 0, o, frame);
    if (s != SELSA_OK) return selsa_error_context(s, "frame %lld", (long long)frame);
    return SELSA_OK;
}

static selsa_status check_window(const selsa_official_runner *r, int T, int key_pos) {
    if (T < 1 || T > r->T_max)
        return selsa_error(SELSA_ERR_INVALID_ARG, "official window: T = %d outside [1, 2K+1 = %d]", T, r->T_max);
    if (key_pos < 0 || key_pos >= T)
        return selsa_error(SELSA_ERR_INVALID_ARG, "official window: key_pos %d outside [0, %d)", key_pos, T);
    return SELSA_OK;
}

selsa_status selsa_official_detect_window(selsa_official_runner *r, const int *slots, int T,
                                          int key_pos, selsa_official_result *res) {
    if (!r || !slots || !res) return selsa_error(SELSA_ERR_INVALID_ARG, "official window: NULL argument");
    SELSA_TRY(check_window(r, T, key_pos));
    const selsa_official_frame *fr[SELSA_OFFICIAL_MAX_T];
    if (T > SELSA_OFFICIAL_MAX_T)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "official window: T = %d > %d", T, SELSA_OFFICIAL_MAX_T);
    for (int t = 0; t < T; t++) {
        if (slots[t] < 0 || slots[t] >= r->n_slots || !r->slots[slots[t]].valid)
            return selsa_error(SELSA_ERR_INVALID_ARG, "official window: entry %d refers to slot %d, which holds no computed frame",
                               t, slots[t]);
        fr[t] = &r->slots[slots[t]];
    }
    if (!r->win.base) SELSA_TRY(reserve_scaled(r, r->res_h, r->res_w, false));
    selsa_arena_reset(&r->win);
    selsa_rv1_exec ex = {r->ctx, &r->win, false, 0};
    SELSA_TRY(window_stage(r, &ex, fr, T, key_pos, false));
    return post_stage(r, &ex, fr[key_pos], res);
}

selsa_status selsa_official_detect_window_uncached(selsa_official_runner *r,
                                                   const selsa_image *const *imgs,
                                                   const int64_t *frames, int T, int key_pos,
                                                   selsa_official_result *res) {
    if (!r || !imgs || !res) return selsa_error(SELSA_ERR_INVALID_ARG, "official uncached window: NULL argument");
    SELSA_TRY(check_window(r, T, key_pos));
    if (T > SELSA_OFFICIAL_MAX_T)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "official window: T = %d > %d", T, SELSA_OFFICIAL_MAX_T);
    for (int t = 0; t < T; t++) SELSA_TRY(ensure_reserved(r, imgs[t], true));
    selsa_arena_reset(&r->win);
    const bool sel = r->m->cfg.selsa;
    selsa_official_frame fo[SELSA_OFFICIAL_MAX_T];
    const selsa_official_frame *fr[SELSA_OFFICIAL_MAX_T];
    memset(fo, 0, sizeof fo);
    for (int t = 0; t < T; t++) {
        void *p;
        SELSA_TRY(selsa_arena_alloc(&r->win, (size_t)r->R * 5 * sizeof(float), &p));
        fo[t].rois = p;
        SELSA_TRY(selsa_arena_alloc(&r->win, (size_t)r->R * r->D * sizeof(float), &p));
        fo[t].x1 = p;
        if (sel) {
            SELSA_TRY(selsa_arena_alloc(&r->win, (size_t)r->R * r->D * sizeof(float), &p));
            fo[t].q1 = p;
            SELSA_TRY(selsa_arena_alloc(&r->win, (size_t)r->R * r->D * sizeof(float), &p));
            fo[t].k1 = p;
        }
        selsa_rv1_exec ea = {r->ctx, &r->act, false, 0};
        int64_t fid = frames ? frames[t] : t;
        selsa_status s = frame_stage(r, &ea, imgs[t], 0, 0, 0, &fo[t], fid);
        if (s != SELSA_OK) return selsa_error_context(s, "frame %lld", (long long)fid);
        fr[t] = &fo[t];
    }
    selsa_rv1_exec ex = {r->ctx, &r->win, false, 0};
    SELSA_TRY(window_stage(r, &ex, fr, T, key_pos, true));
    return post_stage(r, &ex, fr[key_pos], res);
}
