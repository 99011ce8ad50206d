/* CPU implementation of the losses (softmax CE with ignore, sigmoid BCE, smooth-L1) and of SGD.
 *
 * Determinism: a sum over n elements is split into at most NBLK blocks whose size depends only
 * on n; each block is summed in double by one thread and the block partials are added in block
 * order, so the result is bit-identical for any thread count. */
#include <math.h>

#include "backend/elem_ops.h"

#define NBLK 256     /* maximum number of reduction blocks (partials live on the stack) */
#define BLK_MIN 2048 /* minimum block size (below it a loop is effectively serial) */

static int64_t split_blocks(int64_t n, int64_t *bs) {
    int64_t b = (n + NBLK - 1) / NBLK;
    if (b < BLK_MIN) b = BLK_MIN;
    *bs = b;
    return (n + b - 1) / b;
}

/* ---- softmax cross-entropy ---------------------------------------------------------------- */

static inline int is_valid(int32_t l, const selsa_softmax_ce_params *p) {
    return !(p->use_ignore && l == p->ignore_label);
}

static double ce_norm(const selsa_softmax_ce_params *p, int64_t N, int64_t valid) {
    switch (p->normalization) {
    case SELSA_NORM_BATCH: return N > 0 ? (double)N : 1.0;
    case SELSA_NORM_VALID: return valid > 0 ? (double)valid : 1.0; /* MXNet: max(valid, 1) */
    default: return 1.0;
    }
}

selsa_status selsa_softmax_ce_forward_cpu(selsa_ctx *ctx, const selsa_tensor *logits,
                                          const int32_t *labels, const selsa_softmax_ce_params *p,
                                          selsa_tensor *prob, float *pos_loss, double *loss) {
    const int64_t C = logits->c, HW = logits->h * logits->w, P = logits->n * HW;
    double part[NBLK];
    int64_t cnt[NBLK];
    int64_t bs, nb = split_blocks(P * (C > 0 ? C : 1), &bs);
    bs = (P + nb - 1) / (nb > 0 ? nb : 1); /* blocks of positions, count fixed by P and C */
#pragma omp parallel for schedule(static) if (nb > 1)
    for (int64_t b = 0; b < nb; b++) {
        int64_t lo = b * bs, hi = lo + bs < P ? lo + bs : P;
        double s = 0;
        int64_t v = 0;
        for (int64_t pos = lo; pos < hi; pos++) {
            const int64_t base = (pos / HW) * C * HW + pos % HW;
            const float *x = logits->data + base;
            float m = -INFINITY;
            for (int64_t c = 0; c < C; c++)
                if (x[c * HW] > m) m = x[c * HW];
            double se = 0;
            for (int64_t c = 0; c < C; c++) se += exp((double)x[c * HW] - m);
            const int32_t l = labels[pos];
            double lp = 0; /* −log softmax(x)[l] = logsumexp(x) − x_l, in double */
            if (is_valid(l, p)) {
                lp = (double)m + log(se) - (double)x[l * HW];
                s += lp;
                v++;
            }
            if (pos_loss) pos_loss[pos] = (float)lp;
            if (prob) { /* after reading x[l]: prob may alias logits */
                float *y = prob->data + base;
                const double inv = 1.0 / se;
                for (int64_t c = 0; c < C; c++) y[c * HW] = (float)(exp((double)x[c * HW] - m) * inv);
            }
        }
        part[b] = s;
        cnt[b] = v;
    }
    double tot = 0;
    int64_t valid = 0;
    for (int64_t b = 0; b < nb; b++) tot += part[b], valid += cnt[b];
    *loss = (double)p->grad_scale * tot / ce_norm(p, logits->n, valid);
    return SELSA_OK;
}

selsa_status selsa_softmax_ce_backward_cpu(selsa_ctx *ctx, selsa_tensor *dlogits,
                                           const selsa_tensor *prob, const int32_t *labels,
                                           const selsa_softmax_ce_params *p) {
    const int64_t C = prob->c, HW = prob->h * prob->w, P = prob->n * HW;
    int64_t valid = 0;
    for (int64_t pos = 0; pos < P; pos++) valid += is_valid(labels[pos], p);
    const float g = (float)((double)p->grad_scale / ce_norm(p, prob->n, valid));
#pragma omp parallel for schedule(static) if (P * C >= 16384)
    for (int64_t pos = 0; pos < P; pos++) {
        const int32_t l = labels[pos];
        if (!is_valid(l, p)) continue; /* ignored: zero gradient (mshadow SoftmaxGrad) */
        const int64_t base = (pos / HW) * C * HW + pos % HW;
        const float *y = prob->data + base;
        float *dx = dlogits->data + base;
        for (int64_t c = 0; c < C; c++) dx[c * HW] += g * (y[c * HW] - (c == l ? 1.0f : 0.0f));
    }
    return SELSA_OK;
}

/* ---- sigmoid BCE with logits --------------------------------------------------------------- */

static inline double bce_logits(double x, double t) {
    /* max(x,0) − x·t + log(1 + exp(−|x|)): never overflows (PyTorch's formulation) */
    return (x > 0 ? x : 0) - x * t + log1p(exp(-fabs(x)));
}

static inline double sigmoid_d(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

selsa_status selsa_sigmoid_bce_forward_cpu(selsa_ctx *ctx, const selsa_tensor *logits,
                                           const selsa_tensor *targets,
                                           const selsa_tensor *weights, double scale,
                                           float *elem_loss, double *loss) {
    const int64_t n = selsa_tensor_numel(logits);
    const float *x = logits->data, *t = targets->data, *w = weights ? weights->data : NULL;
    double part[NBLK];
    int64_t bs, nb = split_blocks(n, &bs);
#pragma omp parallel for schedule(static) if (nb > 1)
    for (int64_t b = 0; b < nb; b++) {
        int64_t lo = b * bs, hi = lo + bs < n ? lo + bs : n;
        double s = 0;
        for (int64_t i = lo; i < hi; i++) {
            double l = bce_logits(x[i], t[i]) * (w ? (double)w[i] : 1.0);
            if (elem_loss) elem_loss[i] = (float)l;
            s += l;
        }
        part[b] = s;
    }
    double tot = 0;
    for (int64_t b = 0; b < nb; b++) tot += part[b];
    *loss = scale * tot;
    return SELSA_OK;
}

selsa_status selsa_sigmoid_bce_backward_cpu(selsa_ctx *ctx, selsa_tensor *dlogits,
                                            const selsa_tensor *logits,
                                            const selsa_tensor *targets,
                                            const selsa_tensor *weights, double scale) {
    const int64_t n = selsa_tensor_numel(logits);
    const float *x = logits->data, *t = targets->data, *w = weights ? weights->data : NULL;
    float *dx = dlogits->data;
#pragma omp parallel for schedule(static) if (n >= 16384)
    for (int64_t i = 0; i < n; i++) {
        double g = scale * (sigmoid_d(x[i]) - (double)t[i]);
        if (w) g *= w[i];
        dx[i] += (float)g;
    }
    return SELSA_OK;
}

/* ---- smooth-L1 ----------------------------------------------------------------------------- */

/* f(x) and f'(x) of both conventions (include/selsa/ops_elem.h). */
static inline double sl1_f(double x, const selsa_smooth_l1_params *p) {
    double a = fabs(x);
    if (p->kind == SELSA_SMOOTH_L1_MXNET) {
        double s2 = (double)p->sigma * p->sigma;
        return a < 1.0 / s2 ? 0.5 * s2 * x * x : a - 0.5 / s2;
    }
    double beta = p->beta;
    if (beta == 0) return a; /* mmdet beta = 0 degenerates to L1 */
    return a < beta ? 0.5 * x * x / beta : a - 0.5 * beta;
}

static inline double sl1_df(double x, const selsa_smooth_l1_params *p) {
    double a = fabs(x), sgn = (x > 0) - (x < 0);
    if (p->kind == SELSA_SMOOTH_L1_MXNET) {
        double s2 = (double)p->sigma * p->sigma;
        return a < 1.0 / s2 ? s2 * x : sgn;
    }
    double beta = p->beta;
    if (beta == 0) return sgn;
    return a < beta ? x / beta : sgn;
}

selsa_status selsa_smooth_l1_forward_cpu(selsa_ctx *ctx, const selsa_tensor *pred,
                                         const selsa_tensor *target, const selsa_tensor *weights,
                                         const selsa_smooth_l1_params *p, float *elem_loss,
                                         double *loss) {
    const int64_t n = selsa_tensor_numel(pred);
    const float *x = pred->data, *t = target->data, *w = weights ? weights->data : NULL;
    double part[NBLK];
    int64_t bs, nb = split_blocks(n, &bs);
#pragma omp parallel for schedule(static) if (nb > 1)
    for (int64_t b = 0; b < nb; b++) {
        int64_t lo = b * bs, hi = lo + bs < n ? lo + bs : n;
        double s = 0;
        for (int64_t i = lo; i < hi; i++) {
            /* difference taken in float, as the frameworks do (pred − target is an fp32 op) */
            double l = sl1_f((double)(x[i] - t[i]), p) * (w ? (double)w[i] : 1.0);
            if (elem_loss) elem_loss[i] = (float)l;
            s += l;
        }
        part[b] = s;
    }
    double tot = 0;
    for (int64_t b = 0; b < nb; b++) tot += part[b];
    *loss = p->scale * tot;
    return SELSA_OK;
}

selsa_status selsa_smooth_l1_backward_cpu(selsa_ctx *ctx, selsa_tensor *dpred,
                                          const selsa_tensor *pred, const selsa_tensor *target,
                                          const selsa_tensor *weights,
                                          const selsa_smooth_l1_params *p) {
    const int64_t n = selsa_tensor_numel(pred);
    const float *x = pred->data, *t = target->data, *w = weights ? weights->data : NULL;
    float *dx = dpred->data;
#pragma omp parallel for schedule(static) if (n >= 16384)
    for (int64_t i = 0; i < n; i++) {
        double g = p->scale * sl1_df((double)(x[i] - t[i]), p);
        if (w) g *= w[i];
        dx[i] += (float)g;
    }
    return SELSA_OK;
}

/* ---- SGD ----------------------------------------------------------------------------------- */

selsa_status selsa_sgd_update_cpu(selsa_ctx *ctx, float *param, const float *grad,
                                  float *momentum_buf, int64_t n, const selsa_sgd_params *p) {
    const float lr = p->lr, mu = p->momentum, wd = p->weight_decay, rs = p->rescale_grad;
    if (p->kind == SELSA_SGD_MXNET) {
        if (mu == 0.0f && !momentum_buf) {
            /* MXNet sgd_update: w = (1 − lr·wd)·w − lr·rescale·grad */
#pragma omp parallel for schedule(static) if (n >= 65536)
            for (int64_t i = 0; i < n; i++)
                param[i] = (1.0f - lr * wd) * param[i] - lr * (rs * grad[i]);
        } else {
            /* MXNet SGDMomKernel (1.3): mom = mu·mom − lr·wd·w − lr·rescale·grad; w += mom */
#pragma omp parallel for schedule(static) if (n >= 65536)
            for (int64_t i = 0; i < n; i++) {
                float m = mu * momentum_buf[i] - lr * wd * param[i] - lr * (rs * grad[i]);
                momentum_buf[i] = m;
                param[i] += m;
            }
        }
    } else {
        const int first = p->first_step || mu == 0.0f;
#pragma omp parallel for schedule(static) if (n >= 65536)
        for (int64_t i = 0; i < n; i++) {
            float g = rs * grad[i] + wd * param[i]; /* torch: d_p = grad.add(param, alpha=wd) */
            float b;
            if (mu == 0.0f) b = g;
            else if (first) b = g; /* torch: buf = clone(d_p) on the first step */
            else b = mu * momentum_buf[i] + g;
            if (momentum_buf && mu != 0.0f) momentum_buf[i] = b;
            param[i] -= lr * b;
        }
    }
    return SELSA_OK;
}

selsa_status selsa_grad_norm_sq_cpu(selsa_ctx *ctx, const float *grad, int64_t n, double *out) {
    double part[NBLK];
    int64_t bs, nb = split_blocks(n, &bs);
#pragma omp parallel for schedule(static) if (nb > 1)
    for (int64_t b = 0; b < nb; b++) {
        int64_t lo = b * bs, hi = lo + bs < n ? lo + bs : n;
        double s = 0;
        for (int64_t i = lo; i < hi; i++) s += (double)grad[i] * grad[i];
        part[b] = s;
    }
    double tot = 0;
    for (int64_t b = 0; b < nb; b++) tot += part[b];
    *out += tot;
    return SELSA_OK;
}
