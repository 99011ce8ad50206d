/* MXNet `.params` (NDArray list) reader and writer — official-selsa.md §7.
 *
 * File: u64 magic 0x112, u64 reserved, u64 N, N records, u64 K (0 or N), K names (u64 len +
 * bytes). Records: V2 (0xF993FAC9), V1 (0xF993FAC8), V3 (0xF993FACA, numpy shape semantics) and
 * legacy (no magic: the first u32 is ndim, dims are u32). Sparse records are rejected. All
 * lengths are checked against the remaining bytes before anything is allocated; a first pass
 * validates every record, the second converts the data to float32. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/weights_internal.h"
#include "selsa/fileio.h"

#define NDARRAY_LIST_MAGIC 0x112ull
#define NDARRAY_V1_MAGIC 0xF993FAC8u
#define NDARRAY_V2_MAGIC 0xF993FAC9u
#define NDARRAY_V3_MAGIC 0xF993FACAu
#define MAX_RECORDS (1 << 22)      /* tensors per file */
#define MAX_NAME_LEN (1 << 16)     /* bytes per name */

typedef struct rd {
    const uint8_t *p;
    size_t size, pos;
} rd;

typedef struct rec {
    int ndim;                   /* -1: empty ("none") array */
    int64_t dims[SELSA_WEIGHTS_MAX_DIMS];
    int64_t numel;
    selsa_dtype dtype;
    const uint8_t *data;        /* numel * size bytes inside the buffer */
    const char *name;           /* not NUL-terminated */
    size_t name_len;
} rec;

static bool rd_has(const rd *r, size_t n) { return r->size - r->pos >= n; }

#define NEED(n, ...)                                                      \
    do {                                                                  \
        if (!rd_has(r, (n))) return selsa_error(SELSA_ERR_FORMAT, __VA_ARGS__); \
    } while (0)

/* MXNet type_flag -> dtype (official-selsa.md §7). */
static selsa_dtype mx_dtype(int32_t flag) {
    switch (flag) {
    case 0: return SELSA_DTYPE_F32;
    case 1: return SELSA_DTYPE_F64;
    case 2: return SELSA_DTYPE_F16;
    case 3: return SELSA_DTYPE_U8;
    case 4: return SELSA_DTYPE_I32;
    case 5: return SELSA_DTYPE_I8;
    case 6: return SELSA_DTYPE_I64;
    case 7: return SELSA_DTYPE_BOOL;
    case 8: return SELSA_DTYPE_I16;
    case 9: return SELSA_DTYPE_U16;
    case 10: return SELSA_DTYPE_U32;
    case 11: return SELSA_DTYPE_U64;
    case 12: return SELSA_DTYPE_BF16;
    default: return SELSA_DTYPE_UNKNOWN;
    }
}

/* Parse one record at r->pos (index i of n). */
static selsa_status parse_record(rd *r, int64_t i, int64_t n, rec *out) {
    size_t start = r->pos;
    memset(out, 0, sizeof *out);
    NEED(4, "NDArray record %lld of %lld (offset %zu): truncated before its header", (long long)i, (long long)n, start);
    uint32_t magic = wi_u32(r->p + r->pos);
    r->pos += 4;
    int64_t ndim;
    bool dims32 = false, v3 = false;
    if (magic == NDARRAY_V2_MAGIC || magic == NDARRAY_V3_MAGIC) {
        v3 = magic == NDARRAY_V3_MAGIC;
        NEED(4, "NDArray record %lld (offset %zu): truncated in its storage type", (long long)i, start);
        int32_t stype = (int32_t)wi_u32(r->p + r->pos);
        r->pos += 4;
        if (stype == 1 || stype == 2)
            return selsa_error(SELSA_ERR_FORMAT,
                               "NDArray record %lld (offset %zu): sparse NDArray (%s) is not supported; "
                               "convert it to dense (tostype('default')) before saving",
                               (long long)i, start, stype == 1 ? "row_sparse" : "csr");
        if (stype != 0)
            return selsa_error(SELSA_ERR_FORMAT, "NDArray record %lld (offset %zu): unknown storage type %d",
                               (long long)i, start, stype);
        NEED(4, "NDArray record %lld (offset %zu): truncated in its shape", (long long)i, start);
        ndim = (int32_t)wi_u32(r->p + r->pos);
        r->pos += 4;
    } else if (magic == NDARRAY_V1_MAGIC) {
        NEED(4, "NDArray record %lld (offset %zu): truncated in its shape", (long long)i, start);
        ndim = wi_u32(r->p + r->pos);
        r->pos += 4;
    } else {
        ndim = magic; /* legacy (MXNet <= 0.10): the first word is ndim, dims are u32 */
        dims32 = true;
        if (ndim > SELSA_WEIGHTS_MAX_DIMS)
            return selsa_error(SELSA_ERR_FORMAT,
                               "NDArray record %lld (offset %zu): unknown record magic 0x%08x (not V1/V2/V3, "
                               "and too large for a legacy ndim)", (long long)i, start, magic);
    }
    if (v3 && ndim == -1) {
        out->ndim = -1; /* unknown shape: empty array, record ends */
        return SELSA_OK;
    }
    if (ndim < 0 || ndim > SELSA_WEIGHTS_MAX_DIMS)
        return selsa_error(SELSA_ERR_FORMAT, "NDArray record %lld (offset %zu): %lld dimensions (at most %d supported)",
                           (long long)i, start, (long long)ndim, SELSA_WEIGHTS_MAX_DIMS);
    size_t dsz = dims32 ? 4 : 8;
    NEED((size_t)ndim * dsz, "NDArray record %lld (offset %zu): truncated in its %lld dimensions",
         (long long)i, start, (long long)ndim);
    bool unknown = false;
    for (int d = 0; d < ndim; d++) {
        int64_t v = dims32 ? (int64_t)wi_u32(r->p + r->pos) : (int64_t)wi_u64(r->p + r->pos);
        r->pos += dsz;
        if (v3 && v == -1) unknown = true;
        else if (v < 0)
            return selsa_error(SELSA_ERR_FORMAT, "NDArray record %lld (offset %zu): negative dimension %lld",
                               (long long)i, start, (long long)v);
        out->dims[d] = v;
    }
    if (unknown || (ndim == 0 && !v3)) {
        out->ndim = -1; /* V1/V2/legacy ndim 0 (and V3 unknown dims): "none" array, record ends */
        return SELSA_OK;
    }
    out->ndim = (int)ndim;
    NEED(12, "NDArray record %lld (offset %zu): truncated in its context/type", (long long)i, start);
    int32_t flag = (int32_t)wi_u32(r->p + r->pos + 8);
    r->pos += 12;
    out->dtype = mx_dtype(flag);
    if (out->dtype == SELSA_DTYPE_UNKNOWN)
        return selsa_error(SELSA_ERR_FORMAT, "NDArray record %lld (offset %zu): unknown type_flag %d",
                           (long long)i, start, flag);
    int64_t numel = 1;
    size_t remain = r->size - r->pos;
    for (int d = 0; d < ndim; d++) {
        int64_t v = out->dims[d];
        if (v != 0 && numel > (int64_t)(remain / (size_t)v + 1)) numel = INT64_MAX; /* saturate */
        else numel *= v;
    }
    size_t es = (size_t)selsa_dtype_size(out->dtype);
    if (numel == INT64_MAX || (uint64_t)numel > remain / es) {
        if (numel == INT64_MAX)
            return selsa_error(SELSA_ERR_FORMAT, "NDArray record %lld (offset %zu): data truncated (the shape needs "
                               "more than the %zu bytes that remain)", (long long)i, start, remain);
        return selsa_error(SELSA_ERR_FORMAT, "NDArray record %lld (offset %zu): data truncated (%lld %s elements, "
                           "only %zu bytes remain)", (long long)i, start, (long long)numel,
                           selsa_dtype_name(out->dtype), remain);
    }
    out->numel = numel;
    out->data = r->p + r->pos;
    r->pos += (size_t)numel * es;
    return SELSA_OK;
}

selsa_status selsa_weights_load_params_mem(const void *buf, size_t size, selsa_weights *w) {
    if (!buf || !w) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_weights_load_params_mem: NULL argument");
    selsa_weights_init(w);
    rd rr = {buf, size, 0}, *r = &rr;
    NEED(24, "MXNet .params: file too short for its header (%zu bytes)", size);
    if (wi_u64(r->p) != NDARRAY_LIST_MAGIC)
        return selsa_error(SELSA_ERR_FORMAT, "not an MXNet .params file (header 0x%llx, want 0x112)",
                           (unsigned long long)wi_u64(r->p));
    uint64_t n = wi_u64(r->p + 16);
    r->pos = 24;
    if (n > MAX_RECORDS || n > (size - r->pos) / 4)
        return selsa_error(SELSA_ERR_FORMAT, "MXNet .params: %llu records declared, more than the file (%zu bytes) can hold (truncated or corrupt)",
                           (unsigned long long)n, size);
    rec *recs = calloc(n ? n : 1, sizeof *recs);
    if (!recs) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "MXNet .params: cannot allocate %llu records", (unsigned long long)n);
    selsa_status s = SELSA_OK;
    for (uint64_t i = 0; i < n && s == SELSA_OK; i++) s = parse_record(r, (int64_t)i, (int64_t)n, &recs[i]);
    uint64_t k = 0;
    if (s == SELSA_OK && !rd_has(r, 8))
        s = selsa_error(SELSA_ERR_FORMAT, "MXNet .params: truncated after the %llu arrays (name count missing)",
                        (unsigned long long)n);
    if (s == SELSA_OK) {
        k = wi_u64(r->p + r->pos);
        r->pos += 8;
        if (k != 0 && k != n)
            s = selsa_error(SELSA_ERR_FORMAT, "MXNet .params: %llu names for %llu arrays", (unsigned long long)k,
                            (unsigned long long)n);
    }
    for (uint64_t i = 0; i < k && s == SELSA_OK; i++) {
        if (!rd_has(r, 8)) {
            s = selsa_error(SELSA_ERR_FORMAT, "MXNet .params: truncated in name %llu of %llu", (unsigned long long)i,
                            (unsigned long long)k);
            break;
        }
        uint64_t len = wi_u64(r->p + r->pos);
        r->pos += 8;
        if (len > MAX_NAME_LEN || !rd_has(r, (size_t)len)) {
            s = selsa_error(SELSA_ERR_FORMAT, "MXNet .params: name %llu of %llu declares %llu bytes (%zu remain)",
                            (unsigned long long)i, (unsigned long long)k, (unsigned long long)len, r->size - r->pos);
            break;
        }
        recs[i].name = (const char *)r->p + r->pos;
        recs[i].name_len = (size_t)len;
        if (memchr(recs[i].name, '\0', len) || len == 0)
            s = selsa_error(SELSA_ERR_FORMAT, "MXNet .params: name %llu is empty or contains a NUL byte", (unsigned long long)i);
        r->pos += (size_t)len;
    }
    w->format = SELSA_WEIGHTS_MXNET_PARAMS;
    w->unnamed = (k == 0 && n > 0);
    for (uint64_t i = 0; i < n && s == SELSA_OK; i++) {
        rec *c = &recs[i];
        char num[32];
        const char *name = c->name;
        size_t len = c->name_len;
        if (!name) {
            len = (size_t)snprintf(num, sizeof num, "%llu", (unsigned long long)i);
            name = num;
        }
        selsa_weight_kind kind = SELSA_WEIGHT_PLAIN;
        if (len >= 4 && (memcmp(name, "arg:", 4) == 0 || memcmp(name, "aux:", 4) == 0)) {
            kind = name[1] == 'r' ? SELSA_WEIGHT_ARG : SELSA_WEIGHT_AUX;
            name += 4;
            len -= 4;
        }
        float *data = NULL;
        int ndim = c->ndim < 0 ? 0 : c->ndim;
        int64_t numel = c->ndim < 0 ? 0 : c->numel;
        if (numel > 0) {
            data = malloc((size_t)numel * sizeof *data);
            if (!data) {
                s = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "MXNet .params: tensor '%.*s': cannot allocate %lld floats",
                                (int)len, name, (long long)numel);
                break;
            }
            selsa_weights_convert(c->dtype, c->data, numel, data);
        }
        s = selsa_weights_add_owned(w, name, len, kind, ndim, c->dims, numel,
                                    c->ndim < 0 ? SELSA_DTYPE_F32 : c->dtype, data, false);
    }
    free(recs);
    if (s != SELSA_OK) selsa_weights_free(w);
    return s;
}

/* ---------------------------------------------------------------- writer */

static bool put(FILE *f, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, f) == n; }
static bool put_u32(FILE *f, uint32_t v) { return put(f, &v, 4); }
static bool put_u64(FILE *f, uint64_t v) { return put(f, &v, 8); }

static int write_params_body(FILE *f, const void *user) {
    const selsa_weights *w = user;
    bool ok = put_u64(f, NDARRAY_LIST_MAGIC) && put_u64(f, 0) && put_u64(f, (uint64_t)w->count);
    for (int64_t i = 0; ok && i < w->count; i++) {
        const selsa_weight *t = &w->items[i];
        ok = put_u32(f, NDARRAY_V2_MAGIC) && put_u32(f, 0); /* dense */
        if (t->ndim == 0 && t->numel == 0) { /* "none" array: ndim 0 ends the record */
            ok = ok && put_u32(f, 0);
            continue;
        }
        if (t->ndim == 0) { /* scalar: MXNet has no 0-dim arrays, write shape (1,) */
            ok = ok && put_u32(f, 1) && put_u64(f, 1);
        } else {
            ok = ok && put_u32(f, (uint32_t)t->ndim);
            for (int d = 0; ok && d < t->ndim; d++) ok = put_u64(f, (uint64_t)t->dims[d]);
        }
        ok = ok && put_u32(f, 1) && put_u32(f, 0) && put_u32(f, 0); /* cpu(0), float32 */
        ok = ok && put(f, t->data, (size_t)t->numel * sizeof(float));
    }
    if (ok && w->unnamed) {
        ok = put_u64(f, 0);
    } else if (ok) {
        ok = put_u64(f, (uint64_t)w->count);
        for (int64_t i = 0; ok && i < w->count; i++) {
            const selsa_weight *t = &w->items[i];
            const char *pre = t->kind == SELSA_WEIGHT_ARG ? "arg:" : t->kind == SELSA_WEIGHT_AUX ? "aux:" : "";
            size_t nl = strlen(t->name), pl = strlen(pre);
            ok = put_u64(f, nl + pl) && put(f, pre, pl) && put(f, t->name, nl);
        }
    }
    return ok ? 0 : -1;
}

selsa_status selsa_weights_save_params(const char *path, const selsa_weights *w) {
    if (!path || !w) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_weights_save_params: NULL argument");
    selsa_status s = selsa_file_write_stream_atomic(path, write_params_body, w);
    return s == SELSA_OK ? s : selsa_error_context(s, "save %s", path);
}
