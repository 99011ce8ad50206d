/* Public wrappers of the attention group: validate every argument, then dispatch. */
#include <math.h>

#include "backend/attn_ops.h"
#include "backend/backend.h"
#include "selsa/ops_attn.h"

/* backend_cpu.c references the CPU op tables weakly, and a weak reference does not pull an
 * object out of libselsa.a: without this strong reference a program that links the static
 * library sees "not implemented on backend cpu". Referencing the table from the wrapper file
 * links the CPU implementation whenever the public API is used. */
extern const struct selsa_attn_ops selsa_cpu_attn_ops;
__attribute__((used)) static const struct selsa_attn_ops *const link_cpu_attn_ops = &selsa_cpu_attn_ops;

#define CHECK_T(op, t, name, n, c, h, w)                                      \
    do {                                                                      \
        selsa_status s_ = selsa_tensor_check((t), (name), (n), (c), (h), (w)); \
        if (s_ != SELSA_OK) return selsa_error_context(s_, "%s", (op));     \
    } while (0)

/* q (N,D,1,1), k (M,D,1,1), v (M,Dv,1,1), prob (G,N,M,1); G divides D and Dv. */
static selsa_status check_qkv(const char *op, const selsa_tensor *prob, const selsa_tensor *q,
                              const selsa_tensor *k, const selsa_tensor *v, int heads,
                              float scale) {
    CHECK_T(op, q, "q", -1, -1, 1, 1);
    CHECK_T(op, k, "k", -1, q->c, 1, 1);
    CHECK_T(op, v, "v", k->n, -1, 1, 1);
    if (heads < 1)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: heads = %d must be >= 1", op, heads);
    if (q->c % heads != 0 || v->c % heads != 0)
        return selsa_error(SELSA_ERR_INVALID_ARG,
                           "%s: heads = %d must divide the q/k channels (%lld) and v channels (%lld)",
                           op, heads, (long long)q->c, (long long)v->c);
    if (!isfinite(scale))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: scale %g is not finite", op, (double)scale);
    CHECK_T(op, prob, "prob", heads, q->n, k->n, 1);
    return SELSA_OK;
}

selsa_status selsa_attention_forward(selsa_ctx *ctx, selsa_tensor *out, selsa_tensor *prob,
                                     const selsa_tensor *q, const selsa_tensor *k,
                                     const selsa_tensor *v, int heads, float scale) {
    const char *op = "attention_forward";
    SELSA_TRY(check_qkv(op, prob, q, k, v, heads, scale));
    CHECK_T(op, out, "out", q->n, v->c, 1, 1);
    if (out->data && (out->data == q->data || out->data == k->data || out->data == v->data))
        if (selsa_tensor_numel(out) > 0)
            return selsa_error(SELSA_ERR_INVALID_ARG, "%s: out must not alias q, k or v", op);
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, selsa_tensor *, const selsa_tensor *,
                      const selsa_tensor *, const selsa_tensor *, int, float);
    SELSA_BACKEND_FN(ctx, attn, attention_forward, f);
    return f(ctx, out, prob, q, k, v, heads, scale);
}

selsa_status selsa_attention_backward(selsa_ctx *ctx, selsa_tensor *dq, selsa_tensor *dk,
                                      selsa_tensor *dv, const selsa_tensor *dout,
                                      const selsa_tensor *prob, const selsa_tensor *q,
                                      const selsa_tensor *k, const selsa_tensor *v, int heads,
                                      float scale) {
    const char *op = "attention_backward";
    SELSA_TRY(check_qkv(op, prob, q, k, v, heads, scale));
    CHECK_T(op, dout, "dout", q->n, v->c, 1, 1);
    if (dq) CHECK_T(op, dq, "dq", q->n, q->c, 1, 1);
    if (dk) CHECK_T(op, dk, "dk", k->n, k->c, 1, 1);
    if (dv) CHECK_T(op, dv, "dv", v->n, v->c, 1, 1);
    const selsa_tensor *grads[3] = {dq, dk, dv};
    const selsa_tensor *ins[5] = {dout, prob, q, k, v};
    for (int i = 0; i < 3; i++) {
        if (!grads[i] || !grads[i]->data || selsa_tensor_numel(grads[i]) == 0) continue;
        for (int j = 0; j < 5; j++)
            if (grads[i]->data == ins[j]->data)
                return selsa_error(SELSA_ERR_INVALID_ARG,
                                   "%s: gradient %s aliases an input of the call", op,
                                   i == 0 ? "dq" : (i == 1 ? "dk" : "dv"));
    }
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, selsa_tensor *, selsa_tensor *,
                      const selsa_tensor *, const selsa_tensor *, const selsa_tensor *,
                      const selsa_tensor *, const selsa_tensor *, int, float);
    SELSA_BACKEND_FN(ctx, attn, attention_backward, f);
    return f(ctx, dq, dk, dv, dout, prob, q, k, v, heads, scale);
}
