/* selsa — a small MATLAB level-5 MAT-file reader (vid-eval.md §5.3), zlib only.
 *
 * Reads one variable that is a cell array whose cells are real numeric arrays (or empty), e.g.
 * the official `motion_iou` 176126x1 cell of k x 1 double columns. Every cell is flattened in
 * MATLAB column-major order and converted to double. Supported: little-endian files, top-level
 * miMATRIX or miCOMPRESSED (zlib) elements, cells of class double/single/int8..uint64 whose real
 * part is stored as any miINT8..miUINT64/miSINGLE/miDOUBLE element (normal or small-element
 * tag). Complex, sparse, struct, char, nested cells and big-endian files give
 * SELSA_ERR_UNSUPPORTED. Everything is bounds-checked: a truncated or corrupt file gives
 * SELSA_ERR_FORMAT with the byte offset, zlib errors are reported, and no allocation is sized from
 * an unchecked header field (the inflated size is bounded by the deflate ratio limit 1032:1 and
 * SELSA_MAT_MAX_BYTES). */
#ifndef SELSA_MATV5_H
#define SELSA_MATV5_H

#include <stdint.h>

#include "selsa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest file / inflated element the reader accepts (1 GiB). */
#define SELSA_MAT_MAX_BYTES ((int64_t)1 << 30)

/* A cell array of numeric vectors. Cell i holds values[offsets[i] .. offsets[i+1]). */
typedef struct selsa_mat_cells {
    int64_t rows, cols;  /* dimensions of the cell array (rows*cols = n_cells) */
    int64_t n_cells;     /* number of cells, column-major order */
    int64_t *offsets;    /* [n_cells + 1], offsets[0] = 0, offsets[n_cells] = n_values */
    double *values;      /* [n_values], every cell flattened column-major, as double */
    int64_t n_values;
    int64_t n_empty;     /* cells with zero elements */
} selsa_mat_cells;

/* Read variable `name` (NULL: the first variable) of the MAT file `path` into `out` (which
 * must be zero-initialised or freed; on error it is left empty). */
selsa_status selsa_mat_read_cells(const char *path, const char *name, selsa_mat_cells *out);
/* The same from a file image in memory (`what` names it in error messages). */
selsa_status selsa_mat_parse_cells(const uint8_t *data, int64_t size, const char *name,
                                   const char *what, selsa_mat_cells *out);
void selsa_mat_cells_free(selsa_mat_cells *c);

#ifdef __cplusplus
}
#endif
#endif
