/* Op table of the attention group; one instance per backend.
 * Signatures equal the public wrappers in include/selsa/ops_attn.h; implementations may assume
 * arguments were validated by the wrapper. */
#ifndef SELSA_BACKEND_ATTN_OPS_H
#define SELSA_BACKEND_ATTN_OPS_H

#include "selsa/ops_attn.h"

struct selsa_attn_ops {
    selsa_status (*attention_forward)(selsa_ctx *ctx, selsa_tensor *out, selsa_tensor *prob,
                                      const selsa_tensor *q, const selsa_tensor *k,
                                      const selsa_tensor *v, int heads, float scale);
    selsa_status (*attention_backward)(selsa_ctx *ctx, selsa_tensor *dq, selsa_tensor *dk,
                                       selsa_tensor *dv, const selsa_tensor *dout,
                                       const selsa_tensor *prob, const selsa_tensor *q,
                                       const selsa_tensor *k, const selsa_tensor *v, int heads,
                                       float scale);
};

#endif
