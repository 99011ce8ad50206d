/* selsa — backend dispatch (internal).
 *
 * A backend is a set of op tables, one per op group. Model code never calls a backend
 * directly: it calls the public wrappers (selsa_conv2d_forward, ...) in src/ops/, which check
 * shapes and arguments once for every backend and then call ctx->backend-><group>-><fn>.
 * Adding a backend = filling these tables (see docs/ARCHITECTURE.md, "Adding a backend").
 * A NULL table or entry means "not implemented on this backend" and the wrapper returns
 * SELSA_ERR_UNSUPPORTED naming the op and the backend.
 *
 * Each group's table type is defined next to the group's public header:
 *   struct selsa_dense_ops  src/backend/dense_ops.h  conv2d, linear
 *   struct selsa_elem_ops   src/backend/elem_ops.h   relu, add, affine (frozen BN), max-pool,
 *                                                    softmax, sigmoid, losses, SGD
 *   struct selsa_roi_ops    src/backend/roi_ops.h    ROIPooling, RoIAlign
 *   struct selsa_attn_ops   src/backend/attn_ops.h   SELSA attention
 *   struct selsa_box_ops    src/backend/box_ops.h    NMS, proposal layers */
#ifndef SELSA_BACKEND_H
#define SELSA_BACKEND_H

#include "selsa/context.h"

struct selsa_dense_ops;
struct selsa_elem_ops;
struct selsa_roi_ops;
struct selsa_attn_ops;
struct selsa_box_ops;

struct selsa_backend {
    const char *name; /* "cpu", "cuda" */
    selsa_backend_kind kind;
    const struct selsa_dense_ops *dense;
    const struct selsa_elem_ops *elem;
    const struct selsa_roi_ops *roi;
    const struct selsa_attn_ops *attn;
    const struct selsa_box_ops *box;
};

const struct selsa_backend *selsa_backend_cpu(void);

/* Look up ctx->backend->group->fn or return SELSA_ERR_UNSUPPORTED from the calling function. */
#define SELSA_BACKEND_FN(ctx, group, fn, out_ptr)                                               \
    do {                                                                                        \
        if (!(ctx) || !(ctx)->backend)                                                          \
            return selsa_error(SELSA_ERR_INVALID_ARG, "%s: context has no backend", #fn);       \
        if (!(ctx)->backend->group || !(ctx)->backend->group->fn)                               \
            return selsa_error(SELSA_ERR_UNSUPPORTED, "op %s is not implemented on backend %s", \
                               #fn, (ctx)->backend->name);                                      \
        (out_ptr) = (ctx)->backend->group->fn;                                                  \
    } while (0)

#endif
