/* selsa — CPU fully connected layer: one OpenBLAS sgemm per call (rows = N, features flattened
 * in C order, so the NCHW input is already the row-major (N × In) matrix X).
 *   forward        out[N × Out] = X · Wᵀ, then one pass: + bias, ReLU
 *   backward data  dX[N × In] += dout · W
 *   backward wt    dW[Out × In] += doutᵀ · X;  dbias += column sums of dout (double) */
#include <stdbool.h>

#include "backend/cpu/blas_cpu.h"
#include "backend/cpu/im2col_cpu.h"

selsa_status selsa_linear_forward_cpu(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *in,
                                      const selsa_tensor *weight, const float *bias,
                                      selsa_activation act) {
    const int64_t n = in->n, k = in->c * in->h * in->w, m = weight->n;
    SELSA_TRY(selsa_sgemm_cpu(false, true, n, m, k, 1.0f, in->data, k, weight->data, k, 0.0f,
                              out->data, m));
    if (!bias && act == SELSA_ACT_NONE) return SELSA_OK;
    const bool relu = act == SELSA_ACT_RELU;
#pragma omp parallel for schedule(static) if (n * m >= ((int64_t)1 << 15))
    for (int64_t i = 0; i < n; i++) {
        float *row = out->data + i * m;
        for (int64_t j = 0; j < m; j++) {
            float v = row[j] + (bias ? bias[j] : 0.0f);
            row[j] = relu && v < 0.0f ? 0.0f : v;
        }
    }
    return SELSA_OK;
}

selsa_status selsa_linear_backward_data_cpu(selsa_ctx *ctx, selsa_tensor *din,
                                            const selsa_tensor *dout, const selsa_tensor *weight) {
    const int64_t n = din->n, k = din->c * din->h * din->w, m = weight->n;
    return selsa_sgemm_cpu(false, false, n, k, m, 1.0f, dout->data, m, weight->data, k, 1.0f,
                           din->data, k);
}

selsa_status selsa_linear_backward_weight_cpu(selsa_ctx *ctx, selsa_tensor *dweight, float *dbias,
                                              const selsa_tensor *dout, const selsa_tensor *in) {
    const int64_t n = in->n, k = in->c * in->h * in->w, m = dweight->n;
    SELSA_TRY(selsa_sgemm_cpu(true, false, m, k, n, 1.0f, dout->data, m, in->data, k, 1.0f,
                              dweight->data, k));
    if (!dbias) return SELSA_OK;
    /* Column sums in double, partitioned over blocks of columns (deterministic order: rows
     * 0..n-1 for every column, whatever the thread count). */
    enum { BLK = 256 };
    const int64_t nblk = (m + BLK - 1) / BLK;
#pragma omp parallel for schedule(static) if (n * m >= ((int64_t)1 << 15))
    for (int64_t b = 0; b < nblk; b++) {
        const int64_t j0 = b * BLK, j1 = j0 + BLK < m ? j0 + BLK : m;
        double acc[BLK];
        for (int64_t j = j0; j < j1; j++) acc[j - j0] = 0.0;
        for (int64_t i = 0; i < n; i++) {
            const float *row = dout->data + i * m;
            for (int64_t j = j0; j < j1; j++) acc[j - j0] += row[j];
        }
        for (int64_t j = j0; j < j1; j++) dbias[j] += (float)acc[j - j0];
    }
    return SELSA_OK;
}
