/* Frozen batch-norm helpers (host, load time): per-channel affine and folding into a conv.
 *
 * Both the official model (MXNet BatchNorm use_global_stats=True, eps 1e-5, spec official §2.2)
 * and mmdet (nn.BatchNorm2d in eval mode, eps 1e-5, spec mmtracking §2.6) compute
 *   y = gamma·(x − mean)/sqrt(var + eps) + beta.
 * Everything is evaluated in double and rounded to float once. */
#include <math.h>

#include "selsa/ops_elem.h"

/* Checks channel c and returns scale = gamma/sqrt(var+eps) in *s (double). */
static selsa_status channel_scale(const float *gamma, const float *beta, const float *mean,
                                  const float *var, int64_t c, double eps, const char *what,
                                  double *s) {
    const char *name = what ? what : "batch-norm";
    if (!isfinite(gamma[c]) || !isfinite(beta[c]) || !isfinite(mean[c]) || !isfinite(var[c]))
        return selsa_error(SELSA_ERR_NUMERIC,
                           "%s: channel %lld has a non-finite parameter (gamma %g, beta %g, "
                           "mean %g, var %g)",
                           name, (long long)c, (double)gamma[c], (double)beta[c],
                           (double)mean[c], (double)var[c]);
    double d = (double)var[c] + eps;
    if (!(d > 0))
        return selsa_error(SELSA_ERR_NUMERIC,
                           "%s: channel %lld has var + eps = %g <= 0 (var %g, eps %g)", name,
                           (long long)c, d, (double)var[c], eps);
    *s = (double)gamma[c] / sqrt(d);
    return SELSA_OK;
}

static selsa_status check_common(const float *gamma, const float *beta, const float *mean,
                                 const float *var, int64_t C, double eps, const char *what) {
    const char *name = what ? what : "batch-norm";
    if (C < 0) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: C = %lld < 0", name, (long long)C);
    if (C > 0 && (!gamma || !beta || !mean || !var))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: gamma, beta, mean or var is NULL", name);
    if (!isfinite(eps) || eps < 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: eps %g must be finite and >= 0", name, eps);
    return SELSA_OK;
}

selsa_status selsa_bn_frozen_affine(const float *gamma, const float *beta, const float *mean,
                                    const float *var, int64_t C, double eps, const char *what,
                                    float *scale_out, float *shift_out) {
    SELSA_TRY(check_common(gamma, beta, mean, var, C, eps, what));
    if (C > 0 && (!scale_out || !shift_out))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: scale_out or shift_out is NULL",
                           what ? what : "batch-norm");
    /* validate every channel before writing anything */
    for (int64_t c = 0; c < C; c++) {
        double s;
        SELSA_TRY(channel_scale(gamma, beta, mean, var, c, eps, what, &s));
    }
    for (int64_t c = 0; c < C; c++) {
        double s;
        (void)channel_scale(gamma, beta, mean, var, c, eps, what, &s);
        double sh = (double)beta[c] - (double)mean[c] * s;
        scale_out[c] = (float)s;
        shift_out[c] = (float)sh;
    }
    return SELSA_OK;
}

selsa_status selsa_bn_fold_into_conv(selsa_tensor *weight, const float *bias_in,
                                     const float *gamma, const float *beta, const float *mean,
                                     const float *var, double eps, const char *what,
                                     float *bias_out) {
    const char *name = what ? what : "batch-norm";
    SELSA_TRY(selsa_tensor_check(weight, "bn_fold_into_conv weight", -1, -1, -1, -1));
    int64_t C = weight->n;
    SELSA_TRY(check_common(gamma, beta, mean, var, C, eps, what));
    if (C > 0 && !bias_out)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: bias_out is NULL (the folded conv needs "
                                                  "a bias of Cout = %lld floats)",
                           name, (long long)C);
    for (int64_t c = 0; c < C; c++) {
        double s;
        SELSA_TRY(channel_scale(gamma, beta, mean, var, c, eps, what, &s));
        if (bias_in && !isfinite(bias_in[c]))
            return selsa_error(SELSA_ERR_NUMERIC, "%s: channel %lld has a non-finite conv bias %g",
                               name, (long long)c, (double)bias_in[c]);
    }
    int64_t per = weight->c * weight->h * weight->w;
    for (int64_t c = 0; c < C; c++) {
        double s;
        (void)channel_scale(gamma, beta, mean, var, c, eps, what, &s);
        float *wrow = weight->data + c * per;
        for (int64_t i = 0; i < per; i++) wrow[i] = (float)((double)wrow[i] * s);
        double b = bias_in ? (double)bias_in[c] : 0.0;
        bias_out[c] = (float)((b - (double)mean[c]) * s + (double)beta[c]);
    }
    return SELSA_OK;
}
