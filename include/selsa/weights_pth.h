/* selsa — PyTorch `.pth` writer (state dicts loadable by `torch.load`) and the naming rules used
 * when converting between MXNet `.params` and `.pth` (the `selsa convert` tool).
 *
 * Layouts (mmtracking-selsa.md §3.3, §3.4):
 *  - zip (default; torch.save since 1.6): stored entries `<archive>/data.pkl`,
 *    `<archive>/byteorder` ("little"), `<archive>/data/<key>` (one per tensor, data 64-byte
 *    aligned through the "FB" local extra field torch uses) and `<archive>/version` ("3\n"), with
 *    CRC-32s, a central directory and an end record. No ZIP64: an archive that would reach 4 GiB
 *    (or 65535 entries) is refused with SELSA_ERR_UNSUPPORTED (the legacy layout has no limit).
 *  - legacy (`_use_new_zipfile_serialization=False`): the five pickles then the raw storages.
 *
 * Pickle (protocol 2): a `collections.OrderedDict` of name -> tensor, each tensor
 * `torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())` on its own
 * contiguous storage (persistent id ('storage', torch.FloatStorage|LongStorage, key, 'cpu', numel)
 * plus view_metadata None in the legacy layout). Only the four globals that
 * `torch.load(weights_only=True)` allows are used. When the dictionary has class names the object
 * is `{"meta": {"CLASSES": (names...)}, "state_dict": OrderedDict}` (mmcv's checkpoint shape).
 *
 * Names: keys are the BARE names (`kind` / MXNet "arg:"/"aux:" prefixes are not written). Every
 * name and class name must be non-empty, valid UTF-8 (the pickle stores Python str) and at most
 * SELSA_PTH_MAX_NAME bytes; anything else is SELSA_ERR_INVALID_ARG naming the tensor.
 *
 * Shapes: ndim 0 with numel 1 is a 0-dim tensor (size ()); MXNet's "none" array (ndim 0, numel 0)
 * is written as an empty tensor of size (0,). Strides are row-major contiguous.
 *
 * Dtypes: data is float32 in memory. A tensor whose `src_dtype` is an integer type (i64 ... u8,
 * e.g. BatchNorm's num_batches_tracked) is written as torch.LongStorage (int64) when every value
 * is an integer, so torch sees the dtype it expects; everything else (and integers when
 * `ints_as_float` is set) is torch.FloatStorage. Reading the file back with selsa_weights_load
 * gives bit-identical float32 data. */
#ifndef SELSA_WEIGHTS_PTH_H
#define SELSA_WEIGHTS_PTH_H

#include <stdbool.h>
#include <stddef.h>

#include "selsa/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SELSA_PTH_MAX_NAME 65536 /* bytes in one key or class name (the reader's limit) */

typedef enum selsa_pth_layout {
    SELSA_PTH_LAYOUT_ZIP = 0, /* torch.save default since 1.6 */
    SELSA_PTH_LAYOUT_LEGACY   /* torch.save(..., _use_new_zipfile_serialization=False) */
} selsa_pth_layout;

/* Zero-initialised options (or NULL) are the defaults. */
typedef struct selsa_pth_write_options {
    selsa_pth_layout layout;
    const char *archive_name; /* zip folder name; NULL = "archive" (torch.save into a buffer).
                                 1..200 characters from [A-Za-z0-9_.-] */
    bool ints_as_float;       /* write integer tensors as FloatStorage too */
    bool no_meta;             /* never wrap in {"meta", "state_dict"} even with class names */
} selsa_pth_write_options;

/* Write `w` as a .pth file. Atomic (temporary file + fsync + rename, selsa/fileio.h). Arguments
 * are fully validated before anything is written. Errors: SELSA_ERR_INVALID_ARG (bad names,
 * shapes, options), SELSA_ERR_UNSUPPORTED (zip would need ZIP64), SELSA_ERR_IO (cannot write). */
selsa_status selsa_weights_save_pth(const char *path, const selsa_weights *w,
                                    const selsa_pth_write_options *opt);
/* The same into a malloc'd buffer (*buf, *size; caller frees *buf). */
selsa_status selsa_weights_save_pth_mem(const selsa_weights *w, const selsa_pth_write_options *opt,
                                        void **buf, size_t *size);

/* ---- .pth <-> .params naming (documented in `selsa convert --help` and the README) ---- */

/* MXNet kind of a state-dict key: AUX when the name ends in running_mean, running_var,
 * moving_mean, moving_var or num_batches_tracked (BatchNorm statistics / buffers), else ARG. */
selsa_weight_kind selsa_weights_mxnet_kind_for(const char *name);
/* True for "...num_batches_tracked" (torch's int64 BatchNorm counter, which MXNet lacks). */
bool selsa_weights_is_num_batches_tracked(const char *name);
/* Give every PLAIN tensor its MXNet kind by the rule above (ARG/AUX tensors are unchanged).
 * Returns how many became AUX. */
int64_t selsa_weights_assign_mxnet_kinds(selsa_weights *w);

#ifdef __cplusplus
}
#endif
#endif
