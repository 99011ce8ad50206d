/* Thin wrapper over OpenBLAS cblas_sgemm (row-major), internal to the CPU backend.
 *
 * C[M×N] = alpha · op(A)[M×K] · op(B)[K×N] + beta · C, op = transpose when ta/tb is true.
 * lda/ldb/ldc are row strides of the matrices as stored. Must not be called from inside an
 * OpenMP parallel region (thread policy); returns SELSA_ERR_INTERNAL if it is. */
#ifndef SELSA_BLAS_CPU_H
#define SELSA_BLAS_CPU_H

#include <stdbool.h>
#include <stdint.h>

#include "selsa/status.h"

selsa_status selsa_sgemm_cpu(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                             const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                             float *C, int64_t ldc);

#endif
