/* selsa — weight files: a named tensor dictionary, MXNet `.params` (read/write) and PyTorch
 * `.pth` (read; zip and legacy layouts).
 *
 * Every tensor is converted to contiguous float32 on load (`data`), whatever its stored dtype
 * (`src_dtype` remembers it). Formats are detected by content, never by file extension.
 *
 * Names. MXNet `.params` names carry an `arg:` / `aux:` prefix (official-selsa.md §6.1, §7).
 * The dictionary stores the BARE name (`conv1_weight`, `bn_conv1_moving_var`) and keeps the
 * prefix in `kind`, so lookups use bare names and selsa_weights_save_params writes the prefix
 * back. A lookup with a prefixed name ("arg:conv1_weight") also works (the prefix is ignored).
 * `.pth` names are the state_dict keys unchanged (`detector.backbone.conv1.weight`).
 *
 * Shapes. `ndim` 0 with `numel` 1 is a scalar (PyTorch `num_batches_tracked`); `ndim` 0 with
 * `numel` 0 is MXNet's empty "none" array. At most SELSA_WEIGHTS_MAX_DIMS dimensions.
 *
 * Robustness. Readers validate every length against the bytes that remain before allocating,
 * bound pickle nesting / memo / stack sizes, check integer overflow, and return
 * SELSA_ERR_FORMAT with a message naming the record, tensor or pickle offset; hostile input never
 * crashes. Host byte order must be little-endian (checked at compile time). */
#ifndef SELSA_WEIGHTS_H
#define SELSA_WEIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "selsa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SELSA_WEIGHTS_MAX_DIMS 8

/* Stored element type of a tensor in the file (data is always converted to float32). */
typedef enum selsa_dtype {
    SELSA_DTYPE_F32 = 0,
    SELSA_DTYPE_F64,
    SELSA_DTYPE_F16,
    SELSA_DTYPE_BF16,
    SELSA_DTYPE_I64,
    SELSA_DTYPE_I32,
    SELSA_DTYPE_I16,
    SELSA_DTYPE_I8,
    SELSA_DTYPE_U8,
    SELSA_DTYPE_U16,
    SELSA_DTYPE_U32,
    SELSA_DTYPE_U64,
    SELSA_DTYPE_BOOL,
    SELSA_DTYPE_UNKNOWN
} selsa_dtype;

/* "f32", "f16", "bf16", "i64", ... */
const char *selsa_dtype_name(selsa_dtype t);
/* Bytes per element (0 for UNKNOWN). */
int selsa_dtype_size(selsa_dtype t);

/* Which MXNet name prefix a tensor had (PLAIN: none, e.g. every .pth key). */
typedef enum selsa_weight_kind {
    SELSA_WEIGHT_PLAIN = 0,
    SELSA_WEIGHT_ARG, /* "arg:" — learnable parameters */
    SELSA_WEIGHT_AUX  /* "aux:" — auxiliary states (BN moving mean / var) */
} selsa_weight_kind;

typedef struct selsa_weight {
    char *name;                             /* bare name, NUL-terminated, owned */
    selsa_weight_kind kind;                 /* MXNet prefix stripped from the name */
    int ndim;                               /* 0..SELSA_WEIGHTS_MAX_DIMS */
    int64_t dims[SELSA_WEIGHTS_MAX_DIMS];   /* [ndim], row-major */
    int64_t numel;                          /* prod(dims); 1 for a scalar, 0 for "none" */
    selsa_dtype src_dtype;                  /* dtype in the file */
    float *data;                            /* [numel] contiguous float32, owned (NULL if 0) */
    bool used;                              /* set by selsa_weights_get / _mark_used */
} selsa_weight;

typedef enum selsa_weights_format {
    SELSA_WEIGHTS_UNKNOWN = 0,
    SELSA_WEIGHTS_MXNET_PARAMS, /* MXNet NDArray list (magic u64 0x112) */
    SELSA_WEIGHTS_PTH_ZIP,      /* torch.save zip layout ("PK\x03\x04") */
    SELSA_WEIGHTS_PTH_LEGACY    /* torch.save legacy layout (pickle magic number first) */
} selsa_weights_format;

const char *selsa_weights_format_name(selsa_weights_format f);

/* The dictionary. Zero-initialise (`selsa_weights w = {0};`) or selsa_weights_init before use. */
typedef struct selsa_weights {
    selsa_weight *items;        /* [count] in file order */
    int64_t count;
    int64_t cap;                /* allocated items */
    char **class_names;         /* [n_classes] from .pth meta.CLASSES, owned; NULL if absent */
    int n_classes;
    selsa_weights_format format; /* format it was loaded from (UNKNOWN if built in memory) */
    bool unnamed;               /* .params list without names (names are "0", "1", ...) */
    int64_t *index;             /* [index_cap] open-addressing hash: item index + 1, 0 = empty */
    int64_t index_cap;          /* power of two, > 2 * count */
} selsa_weights;

void selsa_weights_init(selsa_weights *w);
/* Frees everything and leaves an empty dictionary (safe on a zeroed or already freed one). */
void selsa_weights_free(selsa_weights *w);

/* Add a tensor (copied; data may be NULL only when numel is 0). `name` may carry an
 * "arg:"/"aux:" prefix, which sets the kind. Duplicate names -> SELSA_ERR_INVALID_ARG. */
selsa_status selsa_weights_add(selsa_weights *w, const char *name, int ndim, const int64_t *dims,
                               const float *data, selsa_dtype src_dtype);

/* ---- format detection and loading ---- */
/* By content (first bytes), not by extension. UNKNOWN is not an error here. */
selsa_status selsa_weights_detect(const char *path, selsa_weights_format *fmt);
selsa_weights_format selsa_weights_detect_mem(const void *buf, size_t size);

/* Load any supported format into `w` (which must be empty: zeroed or freshly freed). On error
 * `w` is left empty. Files are mmapped; peak memory is about one float32 copy of the weights. */
selsa_status selsa_weights_load(const char *path, selsa_weights *w);
selsa_status selsa_weights_load_params(const char *path, selsa_weights *w);
selsa_status selsa_weights_load_pth(const char *path, selsa_weights *w);
/* The same from memory (the buffer is only read during the call). */
selsa_status selsa_weights_load_mem(const void *buf, size_t size, selsa_weights *w);
selsa_status selsa_weights_load_params_mem(const void *buf, size_t size, selsa_weights *w);
selsa_status selsa_weights_load_pth_mem(const void *buf, size_t size, selsa_weights *w);

/* Write an MXNet V2 NDArray list, dense float32, names "arg:"/"aux:" + name by kind (no prefix
 * for PLAIN; no names at all when w->unnamed). Scalars (ndim 0, numel 1) are written with shape
 * (1,). Atomic: temp file in the same directory + fsync + rename. */
selsa_status selsa_weights_save_params(const char *path, const selsa_weights *w);

/* ---- lookup ---- */
/* NULL when absent. Accepts bare or "arg:"/"aux:"-prefixed names. Does not mark used. */
const selsa_weight *selsa_weights_find(const selsa_weights *w, const char *name);
/* Fetch with a shape check and mark the tensor used. Missing -> SELSA_ERR_FORMAT naming the
 * tensor; different shape -> SELSA_ERR_SHAPE naming the tensor, expected and actual shapes.
 * dims[i] == -1 is a wildcard; ndim < 0 skips the shape check. `data` receives the float32 data
 * (NULL if numel is 0). */
selsa_status selsa_weights_get(selsa_weights *w, const char *name, int ndim, const int64_t *dims,
                               const float **data);
/* Same with the full entry (shape check skipped when ndim < 0). */
selsa_status selsa_weights_get_entry(selsa_weights *w, const char *name, int ndim,
                                     const int64_t *dims, const selsa_weight **out);
/* Mark by name; SELSA_ERR_FORMAT if absent. */
selsa_status selsa_weights_mark_used(selsa_weights *w, const char *name);
void selsa_weights_clear_used(selsa_weights *w);
/* Number of unused tensors; fills names[0..min(n, max_names)) with pointers into w. */
int64_t selsa_weights_list_unused(const selsa_weights *w, const char **names, int64_t max_names);
/* Log (SELSA_LOG_WARN) one line listing unused tensors (at most 20 names, then a count);
 * returns how many there were. `what` prefixes the message (e.g. the file name). */
int64_t selsa_weights_warn_unused(const selsa_weights *w, const char *what);

/* Official `*_test` rename (official-selsa.md §6.3): every "X_test" replaces "X" (created if
 * absent) and the "_test" entry disappears. *n_renamed (may be NULL) receives the count. */
selsa_status selsa_weights_apply_test_rename(selsa_weights *w, int *n_renamed);

/* ---- inspection ---- */
typedef struct selsa_weights_summary {
    int64_t count;        /* tensors */
    int64_t total_numel;  /* elements over all tensors */
    int64_t total_bytes;  /* bytes in the file's dtypes (sum numel * dtype size) */
    int64_t f32_bytes;    /* bytes held in memory as float32 */
} selsa_weights_summary;
void selsa_weights_summarize(const selsa_weights *w, selsa_weights_summary *s);
/* "[64, 3, 7, 7]" into buf (always NUL-terminated); returns buf. */
char *selsa_weight_shape_str(const selsa_weight *t, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
