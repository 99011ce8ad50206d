/* The CPU backend: OpenBLAS for GEMMs, OpenMP for the library's own loops. */
#include "backend/backend.h"

/* Each group's CPU table is defined in its *_cpu.c file. Strong references: they also pull
 * those objects out of the static archive for programs that only reach ops through here. */
extern const struct selsa_dense_ops selsa_cpu_dense_ops;
extern const struct selsa_elem_ops selsa_cpu_elem_ops;
extern const struct selsa_roi_ops selsa_cpu_roi_ops;
extern const struct selsa_attn_ops selsa_cpu_attn_ops;
extern const struct selsa_box_ops selsa_cpu_box_ops;

static const struct selsa_backend cpu_backend = {
    .name = "cpu",
    .kind = SELSA_BACKEND_CPU,
    .dense = &selsa_cpu_dense_ops,
    .elem = &selsa_cpu_elem_ops,
    .roi = &selsa_cpu_roi_ops,
    .attn = &selsa_cpu_attn_ops,
    .box = &selsa_cpu_box_ops,
};

const struct selsa_backend *selsa_backend_cpu(void) { return &cpu_backend; }
