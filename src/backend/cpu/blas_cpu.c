#include "backend/cpu/blas_cpu.h"

#include <cblas.h>
#include <omp.h>

selsa_status selsa_sgemm_cpu(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                             const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                             float *C, int64_t ldc) {
    if (omp_in_parallel())
        return selsa_error(SELSA_ERR_INTERNAL,
                           "sgemm called inside an OpenMP parallel region (thread policy)");
    if (M < 0 || N < 0 || K < 0) return selsa_error(SELSA_ERR_SHAPE, "sgemm: negative size");
    if (M == 0 || N == 0) return SELSA_OK;
    if (K == 0) { /* BLAS would leave C untouched for beta=1; make the semantics explicit */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return SELSA_OK;
    }
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "sgemm: dimension exceeds 32-bit BLAS range");
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
    return SELSA_OK;
}
