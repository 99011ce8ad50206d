/* selsa — SELSA attention: scaled dot-product attention with G heads over row sets.
 *
 * Used by both variants:
 *   official SELSA (official-selsa.md §4.2): G = 1, q = X·Wqᵀ+bq, k = X·Wkᵀ+bk, v = raw X,
 *                                            scale = 1/sqrt(1024) = 1/32
 *   MMTracking SelsaAggregator (mmtracking-selsa.md §2.5): G = 16, d = 64, scale = 1/8
 * Shapes:
 *   q    (N, D, 1, 1)   queries
 *   k    (M, D, 1, 1)   keys
 *   v    (M, Dv, 1, 1)  values
 *   prob (G, N, M, 1)   softmax over M of scale·q_g·k_gᵀ (saved for backward)
 *   out  (N, Dv, 1, 1)  out[:, head g] = prob_g · v_g
 * Head g uses the contiguous channels [g·D/G, (g+1)·D/G) of q and k and [g·Dv/G, ...) of v
 * (the view(n, G, d) split). G must divide D and Dv. N = 0 or M = 0 is allowed (out = 0). */
#ifndef SELSA_OPS_ATTN_H
#define SELSA_OPS_ATTN_H

#include <stddef.h>
#include <stdint.h>

#include "selsa/context.h"
#include "selsa/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

selsa_status selsa_attention_forward(selsa_ctx *ctx, selsa_tensor *out, selsa_tensor *prob,
                                     const selsa_tensor *q, const selsa_tensor *k,
                                     const selsa_tensor *v, int heads, float scale);
/* dq (N,D), dk (M,D), dv (M,Dv) += gradients given dout (N,Dv) and the forward's prob.
 * Any of dq, dk, dv may be NULL to skip it. Gradients must not alias inputs. */
selsa_status selsa_attention_backward(selsa_ctx *ctx, selsa_tensor *dq, selsa_tensor *dk,
                                      selsa_tensor *dv, const selsa_tensor *dout,
                                      const selsa_tensor *prob, const selsa_tensor *q,
                                      const selsa_tensor *k, const selsa_tensor *v, int heads,
                                      float scale);
/* Scratch bytes the backward takes from ctx->scratch (the forward takes none). The backward
 * processes query rows in blocks so this stays bounded (about 16 MiB for large M·N). */
size_t selsa_attention_scratch_bytes(int64_t N, int64_t M, int64_t D, int64_t Dv, int heads);

#ifdef __cplusplus
}
#endif
#endif
