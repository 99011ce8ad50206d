/* selsa — the official SELSA optimiser (official-selsa.md §8.1): MXNet SGD with momentum over
 * every trainable tensor, weight decay only on *_weight / *_gamma (Optimizer.set_wd_mult),
 * step LR schedule with optional linear warmup, updates in official (unfolded) units followed by
 * re-folding into the model. Gradient accumulation: several forward_backward calls between
 * zero_grad and the step (summed, rescale_grad 1, as kvstore 'device' over 4 GPUs). Optional
 * (not official) global L2-norm gradient clipping, TRAIN.clip_gradient. */
#include <math.h>

#include "selsa/ops_elem.h"
#include "train/official_train_internal.h"

double selsa_official_lr_at(const selsa_official_train_config *c, int64_t step) {
    double lr = c->lr;
    for (int i = 0; i < c->n_lr_steps; i++)
        if (step >= c->lr_steps[i]) lr *= c->lr_factor;
    if (c->warmup_steps > 0 && step < c->warmup_steps)
        lr *= c->warmup_constant ? c->warmup_ratio
                                 : c->warmup_ratio + (1.0 - c->warmup_ratio) * (double)step / (double)c->warmup_steps;
    return lr;
}

selsa_status selsa_official_trainer_sgd_step(selsa_official_trainer *t, double *norm_out) {
    if (!t) return selsa_error(SELSA_ERR_INVALID_ARG, "official sgd: NULL trainer");
    /* One pass: a sum of float squares cannot overflow a double, so the norm is finite iff
     * every gradient is; the per-element scan that names the tensor runs only on failure.
     * Nothing is updated before this check, so weights are never corrupted. */
    double sq = 0;
    for (int i = 0; i < t->n_params; i++)
        SELSA_TRY(selsa_grad_norm_sq(t->ctx, t->params[i].grad, t->params[i].numel, &sq));
    double norm = sqrt(sq);
    if (!isfinite(norm)) {
        for (int i = 0; i < t->n_params; i++) { /* slow path: name the tensor */
            const selsa_official_param *p = &t->params[i];
            for (int64_t j = 0; j < p->numel; j++)
                if (!isfinite(p->grad[j]))
                    return selsa_error(SELSA_ERR_NUMERIC, "sgd: gradient of %s is not finite (%g at element %lld); no update done",
                                       p->name, (double)p->grad[j], (long long)j);
        }
        return selsa_error(SELSA_ERR_NUMERIC, "sgd: gradient norm is not finite (%g); no update done", norm);
    }
    if (norm_out) *norm_out = norm;
    double lr = selsa_official_lr_at(&t->tc, t->step);
    double coef = 1.0; /* global-norm clip (torch clip_grad_norm_ rule), off in the official recipe */
    if (t->tc.grad_clip > 0) {
        coef = t->tc.grad_clip / (norm + 1e-6);
        if (coef > 1.0) coef = 1.0;
    }
    for (int i = 0; i < t->n_params; i++) {
        selsa_official_param *p = &t->params[i];
        selsa_sgd_params sp = {(float)lr, t->tc.momentum, p->decay ? t->tc.wd : 0.0f, (float)coef,
                               SELSA_SGD_MXNET, t->step == 0};
        selsa_status s = selsa_sgd_update(t->ctx, p->data, p->grad, p->mom, p->numel, &sp);
        if (s != SELSA_OK) return selsa_error_context(s, "sgd update of %s", p->name);
    }
    selsa_official_trainer_sync(t);
    t->step++;
    return SELSA_OK;
}
