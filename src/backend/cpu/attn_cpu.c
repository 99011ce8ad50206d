/* CPU implementation of the SELSA attention: OpenBLAS GEMMs per head (strided views select the
 * head's channels, no copies), a numerically stable row softmax and its backward in OpenMP
 * loops between the GEMMs (never inside them).
 *
 *   forward   S_g = scale·q_g·k_gᵀ (N×M), P_g = softmax_rows(S_g), out_g = P_g·v_g
 *   backward  dP = dout_g·v_gᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)),
 *             dq_g += scale·dS·k_g, dk_g += scale·dSᵀ·q_g, dv_g += P_gᵀ·dout_g
 * The backward works on blocks of query rows so its scratch (dP/dS) stays bounded. */
#include <math.h>
#include <string.h>

#include "backend/attn_ops.h"
#include "backend/backend.h"
#include "backend/cpu/blas_cpu.h"

/* Target size of one dS block in the backward (rows × M floats). */
#define ATTN_BLOCK_BYTES ((int64_t)16 << 20)

static int64_t attn_block_rows(int64_t N, int64_t M) {
    if (N <= 0) return 0;
    int64_t rows = M > 0 ? ATTN_BLOCK_BYTES / (M * (int64_t)sizeof(float)) : N;
    if (rows < 64) rows = 64; /* keep the dk GEMM's inner dimension reasonably large */
    return rows < N ? rows : N;
}

size_t selsa_attention_scratch_bytes(int64_t N, int64_t M, int64_t D, int64_t Dv, int heads) {
    if (N <= 0 || M <= 0) return 0;
    return (size_t)(attn_block_rows(N, M) * M) * sizeof(float) + 64;
}

/* In-place stable softmax of `rows` rows of length M (max subtraction, double sum). */
static void softmax_rows(float *S, int64_t rows, int64_t M) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < rows; i++) {
        float *s = S + i * M;
        float mx = s[0];
        for (int64_t j = 1; j < M; j++) mx = s[j] > mx ? s[j] : mx;
        double sum = 0.0;
        for (int64_t j = 0; j < M; j++) {
            float e = expf(s[j] - mx);
            s[j] = e;
            sum += e;
        }
        const float inv = (float)(1.0 / sum);
        for (int64_t j = 0; j < M; j++) s[j] *= inv;
    }
}

static selsa_status attention_forward_cpu(selsa_ctx *ctx, selsa_tensor *out, selsa_tensor *prob,
                                          const selsa_tensor *q, const selsa_tensor *k,
                                          const selsa_tensor *v, int heads, float scale) {
    const int64_t N = q->n, M = k->n, D = q->c, Dv = v->c, G = heads;
    const int64_t d = D / G, dv = Dv / G;
    if (N == 0) return SELSA_OK;
    if (M == 0) { /* no keys: the empty weighted sum is 0 (mmtracking PR #463 semantics) */
        memset(out->data, 0, (size_t)(N * Dv) * sizeof(float));
        return SELSA_OK;
    }
    for (int64_t g = 0; g < G; g++)
        SELSA_TRY(selsa_sgemm_cpu(false, true, N, M, d, scale, q->data + g * d, D,
                                  k->data + g * d, D, 0.0f, prob->data + g * N * M, M));
    softmax_rows(prob->data, G * N, M);
    for (int64_t g = 0; g < G; g++)
        SELSA_TRY(selsa_sgemm_cpu(false, false, N, dv, M, 1.0f, prob->data + g * N * M, M,
                                  v->data + g * dv, Dv, 0.0f, out->data + g * dv, Dv));
    return SELSA_OK;
}

/* dS = P ⊙ (dP − rowsum(dP ⊙ P)) in place over dP (rows × M). */
static void softmax_backward_rows(float *dP, const float *P, int64_t rows, int64_t M) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < rows; i++) {
        float *a = dP + i * M;
        const float *p = P + i * M;
        double dot = 0.0;
        for (int64_t j = 0; j < M; j++) dot += (double)a[j] * p[j];
        const float fd = (float)dot;
        for (int64_t j = 0; j < M; j++) a[j] = p[j] * (a[j] - fd);
    }
}

static selsa_status attention_backward_cpu(selsa_ctx *ctx, selsa_tensor *dq, selsa_tensor *dk,
                                           selsa_tensor *dv, const selsa_tensor *dout,
                                           const selsa_tensor *prob, const selsa_tensor *q,
                                           const selsa_tensor *k, const selsa_tensor *v,
                                           int heads, float scale) {
    const int64_t N = q->n, M = k->n, D = q->c, Dv = v->c;
    const int64_t G = heads;
    const int64_t d = D / G, dvh = Dv / G;
    if (N == 0 || M == 0) return SELSA_OK; /* nothing flows: out was identically 0 or empty */
    const float *P = prob->data, *dO = dout->data;
    /* scratch first, so running out of it fails before any gradient was touched */
    const int64_t rows = (dq || dk) ? attn_block_rows(N, M) : 0;
    const size_t mark = selsa_arena_mark(&ctx->scratch);
    void *buf = NULL;
    selsa_status st =
        selsa_arena_alloc(&ctx->scratch, (size_t)(rows * M) * sizeof(float), &buf);
    if (st != SELSA_OK) return selsa_error_context(st, "attention_backward (dS block)");
    float *dS = buf;
    /* dv_g += P_gᵀ · dout_g (all rows at once) */
    for (int64_t g = 0; dv && g < G && st == SELSA_OK; g++)
        st = selsa_sgemm_cpu(true, false, M, dvh, N, 1.0f, P + g * N * M, M, dO + g * dvh, Dv,
                             1.0f, dv->data + g * dvh, Dv);
    const int64_t G_ds = (dq || dk) ? G : 0; /* heads that need dS */
    for (int64_t g = 0; g < G_ds && st == SELSA_OK; g++) {
        const float *Pg = P + g * N * M;
        for (int64_t i0 = 0; i0 < N && st == SELSA_OK; i0 += rows) {
            const int64_t nb = i0 + rows <= N ? rows : N - i0;
            /* dP = dout_g[i0:i0+nb] · v_gᵀ */
            st = selsa_sgemm_cpu(false, true, nb, M, dvh, 1.0f, dO + i0 * Dv + g * dvh, Dv,
                                 v->data + g * dvh, Dv, 0.0f, dS, M);
            if (st != SELSA_OK) break;
            softmax_backward_rows(dS, Pg + i0 * M, nb, M);
            if (dq)
                st = selsa_sgemm_cpu(false, false, nb, d, M, scale, dS, M, k->data + g * d, D,
                                     1.0f, dq->data + i0 * D + g * d, D);
            if (st == SELSA_OK && dk)
                st = selsa_sgemm_cpu(true, false, M, d, nb, scale, dS, M,
                                     q->data + i0 * D + g * d, D, 1.0f, dk->data + g * d, D);
        }
    }
    selsa_arena_rewind(&ctx->scratch, mark);
    return st;
}

const struct selsa_attn_ops selsa_cpu_attn_ops = {
    .attention_forward = attention_forward_cpu,
    .attention_backward = attention_backward_cpu,
};
