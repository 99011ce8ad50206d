/* MATLAB level-5 MAT-file reader for cell arrays of numeric vectors (vid-eval.md §5.3).
 *
 * Layout: 128-byte header (text, subsystem offset, version 0x0100, endian "IM"), then data
 * elements. A data element is an 8-byte tag (u32 type, u32 nbytes) followed by nbytes of data
 * padded to 8 bytes, or a "small data element" (nbytes <= 4) packed into one u32 tag
 * (type | nbytes << 16) plus 4 data bytes. Top-level miCOMPRESSED (15) elements hold a zlib
 * stream that inflates to one miMATRIX (14) element (no padding after compressed elements).
 * A matrix holds: array flags (miUINT32, class in the low byte), dimensions (miINT32), name
 * (miINT8), then for a cell one miMATRIX per cell (column-major), for a numeric array the real
 * part. An empty cell is a miMATRIX with nbytes 0.
 *
 * Robustness: every read is bounds-checked against its enclosing element; counts are validated
 * against the bytes that must hold them before any allocation; the inflated size comes from the
 * inner tag and is capped by the deflate limit (1032:1) and SELSA_MAT_MAX_BYTES. */
#include "selsa/matv5.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum {
    MI_INT8 = 1, MI_UINT8 = 2, MI_INT16 = 3, MI_UINT16 = 4, MI_INT32 = 5, MI_UINT32 = 6,
    MI_SINGLE = 7, MI_DOUBLE = 9, MI_INT64 = 12, MI_UINT64 = 13, MI_MATRIX = 14,
    MI_COMPRESSED = 15
};
enum {
    MX_CELL = 1, MX_STRUCT = 2, MX_OBJECT = 3, MX_CHAR = 4, MX_SPARSE = 5, MX_DOUBLE = 6,
    MX_SINGLE = 7, MX_INT8 = 8, MX_UINT8 = 9, MX_INT16 = 10, MX_UINT16 = 11, MX_INT32 = 12,
    MX_UINT32 = 13, MX_INT64 = 14, MX_UINT64 = 15
};
#define MX_FLAG_COMPLEX 0x0800u

/* Where a buffer came from, for messages: the file, and the file offset of the compressed
 * element it was inflated from (-1 when the buffer is the file itself). */
typedef struct mat_src {
    const char *what;
    int64_t zoff;
} mat_src;

typedef struct mat_elem {
    uint32_t type;
    uint32_t nbytes;
    int64_t off;        /* offset of the tag in its buffer */
    int64_t data;       /* offset of the data in its buffer */
    int64_t next;       /* offset of the following element */
} mat_elem;

static uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static selsa_status mat_fail(const mat_src *s, int64_t off, const char *msg, long long a,
                             long long b) {
    char m[256];
    snprintf(m, sizeof m, msg, a, b);
    if (s->zoff >= 0)
        return selsa_error(SELSA_ERR_FORMAT,
                           "%s: corrupt MAT-file: %s (at byte %lld of the data inflated from the "
                           "compressed element at file byte %lld)",
                           s->what, m, (long long)off, (long long)s->zoff);
    return selsa_error(SELSA_ERR_FORMAT, "%s: corrupt MAT-file: %s (at file byte %lld)", s->what,
                       m, (long long)off);
}

/* Read the element tag at `pos` inside [.., end). `padded`: whether the element is followed by
 * padding to 8 bytes (false only for top-level compressed elements). */
static selsa_status read_elem(const uint8_t *buf, int64_t pos, int64_t end, bool padded,
                              const mat_src *s, mat_elem *e) {
    if (end - pos < 8)
        return mat_fail(s, pos, "truncated element tag: %lld of 8 bytes left%.0lld",
                        (long long)(end - pos), 0);
    uint32_t w0 = rd_u32(buf + pos);
    e->off = pos;
    if (w0 >> 16) { /* small data element */
        e->type = w0 & 0xffffu;
        e->nbytes = w0 >> 16;
        if (e->nbytes > 4)
            return mat_fail(s, pos, "small data element claims %lld bytes (max 4)%.0lld",
                            (long long)e->nbytes, 0);
        e->data = pos + 4;
        e->next = pos + 8;
        return SELSA_OK;
    }
    e->type = w0;
    e->nbytes = rd_u32(buf + pos + 4);
    if ((int64_t)e->nbytes > end - pos - 8)
        return mat_fail(s, pos, "element of type %lld claims %lld bytes, more than its container "
                        "holds (truncated file?)", (long long)e->type, (long long)e->nbytes);
    e->data = pos + 8;
    int64_t n = (int64_t)e->nbytes;
    if (padded) n = (n + 7) & ~(int64_t)7;
    e->next = pos + 8 + n;
    if (e->next > end) e->next = end; /* a last element may omit its padding */
    return SELSA_OK;
}

static int mi_size(uint32_t type) {
    switch (type) {
    case MI_INT8: case MI_UINT8: return 1;
    case MI_INT16: case MI_UINT16: return 2;
    case MI_INT32: case MI_UINT32: case MI_SINGLE: return 4;
    case MI_DOUBLE: case MI_INT64: case MI_UINT64: return 8;
    default: return 0;
    }
}

static double mi_value(uint32_t type, const uint8_t *p) {
    switch (type) {
    case MI_INT8: return (double)(int8_t)p[0];
    case MI_UINT8: return (double)p[0];
    case MI_INT16: { int16_t v; memcpy(&v, p, 2); return v; }
    case MI_UINT16: { uint16_t v; memcpy(&v, p, 2); return v; }
    case MI_INT32: { int32_t v; memcpy(&v, p, 4); return v; }
    case MI_UINT32: { uint32_t v; memcpy(&v, p, 4); return v; }
    case MI_SINGLE: { float v; memcpy(&v, p, 4); return v; }
    case MI_DOUBLE: { double v; memcpy(&v, p, 8); return v; }
    case MI_INT64: { int64_t v; memcpy(&v, p, 8); return (double)v; }
    case MI_UINT64: { uint64_t v; memcpy(&v, p, 8); return (double)v; }
    default: return 0.0;
    }
}

/* Header of a miMATRIX whose data spans [pos, end): array class, flags, element count (product
 * of dims, bounded by `max_count`), first two dims, name, and the offset after the name. */
typedef struct mat_header {
    uint32_t cls, flags;
    int64_t count, rows, cols;
    const uint8_t *name;
    uint32_t name_len;
    int64_t body;
} mat_header;

static selsa_status read_matrix_header(const uint8_t *buf, int64_t pos, int64_t end,
                                       int64_t max_count, const mat_src *s, mat_header *h) {
    mat_elem e;
    SELSA_TRY(read_elem(buf, pos, end, true, s, &e));
    if (e.type != MI_UINT32 || e.nbytes != 8)
        return mat_fail(s, pos, "array flags must be miUINT32 x 2 (type %lld, %lld bytes)",
                        (long long)e.type, (long long)e.nbytes);
    h->cls = buf[e.data] & 0xffu;
    h->flags = rd_u32(buf + e.data) & 0xff00u;
    pos = e.next;
    SELSA_TRY(read_elem(buf, pos, end, true, s, &e));
    if (e.type != MI_INT32 || e.nbytes < 8 || e.nbytes % 4 != 0)
        return mat_fail(s, pos, "dimensions must be miINT32 with >= 2 entries (type %lld, %lld "
                        "bytes)", (long long)e.type, (long long)e.nbytes);
    int64_t count = 1;
    for (uint32_t i = 0; i < e.nbytes / 4; i++) {
        int32_t d;
        memcpy(&d, buf + e.data + 4 * i, 4);
        if (d < 0) return mat_fail(s, pos, "negative dimension %lld (index %lld)", d, i);
        if (i == 0) h->rows = d;
        if (i == 1) h->cols = d;
        /* count <= max_count keeps the product far from overflow */
        if (d != 0 && count > max_count / d) count = max_count + 1;
        else count *= d;
    }
    if (count > max_count)
        return mat_fail(s, pos, "array dimensions give more than %lld elements, more than the "
                        "element can hold%.0lld", (long long)max_count, 0);
    h->count = count;
    pos = e.next;
    SELSA_TRY(read_elem(buf, pos, end, true, s, &e));
    if (e.type != MI_INT8)
        return mat_fail(s, pos, "array name must be miINT8 (type %lld)%.0lld", (long long)e.type, 0);
    h->name = buf + e.data;
    h->name_len = e.nbytes;
    h->body = e.next;
    return SELSA_OK;
}

/* One cell (a miMATRIX element e inside the cell array): count its values, and if `out` is
 * non-NULL also write them as double. */
static selsa_status parse_numeric_cell(const uint8_t *buf, const mat_elem *cell, int64_t index,
                                       const mat_src *s, int64_t *count, double *out) {
    if (cell->type != MI_MATRIX)
        return mat_fail(s, cell->off, "cell %lld is not a miMATRIX element (type %lld)",
                        (long long)index, (long long)cell->type);
    if (cell->nbytes == 0) { *count = 0; return SELSA_OK; } /* empty cell */
    int64_t end = cell->data + cell->nbytes;
    mat_header h;
    memset(&h, 0, sizeof h);
    SELSA_TRY(read_matrix_header(buf, cell->data, end, cell->nbytes, s, &h));
    if (h.cls < MX_DOUBLE || h.cls > MX_UINT64)
        return selsa_error(SELSA_ERR_UNSUPPORTED,
                           "%s: cell %lld has MATLAB class %u; only real numeric cells are "
                           "supported", s->what, (long long)index, (unsigned)h.cls);
    if (h.flags & MX_FLAG_COMPLEX)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "%s: cell %lld is complex; only real numeric "
                           "cells are supported", s->what, (long long)index);
    mat_elem re;
    SELSA_TRY(read_elem(buf, h.body, end, true, s, &re));
    int sz = mi_size(re.type);
    if (sz == 0)
        return mat_fail(s, re.off, "cell %lld: real part has non-numeric type %lld",
                        (long long)index, (long long)re.type);
    if ((int64_t)re.nbytes != h.count * sz)
        return mat_fail(s, re.off, "cell %lld: real part holds %lld bytes, dimensions need more "
                        "or fewer", (long long)index, (long long)re.nbytes);
    *count = h.count;
    if (out)
        for (int64_t i = 0; i < h.count; i++) out[i] = mi_value(re.type, buf + re.data + i * sz);
    return SELSA_OK;
}

/* The cell array in the miMATRIX element `m` of `buf`. Two passes: validate and count, then
 * allocate exactly and fill. Returns SELSA_ERR_INVALID_ARG-free FORMAT/UNSUPPORTED errors. */
static selsa_status parse_cell_array(const uint8_t *buf, const mat_elem *m, const mat_header *h,
                                     const mat_src *s, selsa_mat_cells *out) {
    if (h->cls != MX_CELL)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "%s: variable has MATLAB class %u, expected a "
                           "cell array (class 1)", s->what, (unsigned)h->cls);
    int64_t end = m->data + m->nbytes;
    int64_t n = h->count; /* <= nbytes/8 (each cell needs an 8-byte tag), checked below */
    if (n > (int64_t)m->nbytes / 8)
        return mat_fail(s, m->off, "cell array of %lld cells cannot fit in %lld bytes",
                        (long long)n, (long long)m->nbytes);
    int64_t *offsets = malloc((size_t)(n + 1) * sizeof *offsets);
    if (!offsets)
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "%s: no memory for %lld cell offsets",
                           s->what, (long long)n);
    selsa_status st = SELSA_OK;
    int64_t pos = h->body, total = 0, n_empty = 0;
    offsets[0] = 0;
    for (int64_t i = 0; i < n && st == SELSA_OK; i++) {
        mat_elem c;
        st = read_elem(buf, pos, end, true, s, &c);
        if (st != SELSA_OK) break;
        int64_t k = 0;
        st = parse_numeric_cell(buf, &c, i, s, &k, NULL);
        total += k;
        n_empty += k == 0;
        offsets[i + 1] = total;
        pos = c.next;
    }
    double *values = NULL;
    if (st == SELSA_OK) {
        values = malloc((size_t)(total > 0 ? total : 1) * sizeof *values);
        if (!values)
            st = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "%s: no memory for %lld values", s->what,
                             (long long)total);
    }
    pos = h->body;
    for (int64_t i = 0; i < n && st == SELSA_OK; i++) {
        mat_elem c;
        int64_t k = 0;
        st = read_elem(buf, pos, end, true, s, &c);
        if (st != SELSA_OK) break;
        st = parse_numeric_cell(buf, &c, i, s, &k, values + offsets[i]);
        pos = c.next;
    }
    if (st != SELSA_OK) {
        free(offsets);
        free(values);
        return st;
    }
    out->rows = h->rows;
    out->cols = h->cols;
    out->n_cells = n;
    out->offsets = offsets;
    out->values = values;
    out->n_values = total;
    out->n_empty = n_empty;
    return SELSA_OK;
}

/* Inflate the compressed element e (of the file buffer) into a new buffer holding exactly
 * one element. The size comes from the inflated inner tag, bounded before allocating. */
static selsa_status inflate_elem(const uint8_t *file, const mat_elem *e, const char *what,
                                 uint8_t **out, int64_t *out_size) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK)
        return selsa_error(SELSA_ERR_INTERNAL, "%s: zlib inflateInit failed", what);
    uint8_t tag[8] = {0};
    z.next_in = (Bytef *)(file + e->data);
    z.avail_in = e->nbytes;
    z.next_out = tag;
    z.avail_out = 8;
    int zr = inflate(&z, Z_SYNC_FLUSH);
    while (zr == Z_OK && z.avail_out > 0 && z.avail_in > 0) zr = inflate(&z, Z_SYNC_FLUSH);
    if (z.avail_out > 0) {
        selsa_status st = selsa_error(SELSA_ERR_FORMAT,
                                      "%s: compressed element at file byte %lld: zlib error while "
                                      "inflating its first 8 bytes: %s", what, (long long)e->off,
                                      zr == Z_STREAM_END ? "stream ends early"
                                      : z.msg ? z.msg : "truncated data");
        inflateEnd(&z);
        return st;
    }
    uint32_t w0 = rd_u32(tag);
    int64_t total = (w0 >> 16) ? 8 : 8 + (int64_t)rd_u32(tag + 4);
    /* deflate cannot expand more than ~1032:1; anything beyond is corrupt (or a bomb) */
    int64_t limit = (int64_t)e->nbytes * 1032 + 1024;
    if (limit > SELSA_MAT_MAX_BYTES) limit = SELSA_MAT_MAX_BYTES;
    if (total > limit) {
        inflateEnd(&z);
        return selsa_error(SELSA_ERR_FORMAT,
                           "%s: compressed element at file byte %lld claims to inflate to %lld "
                           "bytes from %lld (limit %lld): corrupt", what, (long long)e->off,
                           (long long)total, (long long)e->nbytes, (long long)limit);
    }
    uint8_t *buf = malloc((size_t)total);
    if (!buf) {
        inflateEnd(&z);
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "%s: no memory to inflate %lld bytes", what,
                           (long long)total);
    }
    memcpy(buf, tag, 8);
    z.next_out = buf + 8;
    z.avail_out = (uInt)(total - 8);
    if (zr != Z_STREAM_END) zr = inflate(&z, Z_FINISH);
    selsa_status st = SELSA_OK;
    if (zr != Z_STREAM_END) {
        const char *why = zr == Z_DATA_ERROR ? (z.msg ? z.msg : "invalid data")
                          : (zr == Z_BUF_ERROR && z.avail_out == 0)
                              ? "inflates to more bytes than its inner tag says"
                          : (zr == Z_BUF_ERROR) ? "truncated compressed data"
                          : z.msg ? z.msg : "inflate failed";
        st = selsa_error(SELSA_ERR_FORMAT, "%s: compressed element at file byte %lld: zlib: %s "
                         "(%lld of %lld bytes inflated)", what, (long long)e->off, why,
                         (long long)(total - z.avail_out), (long long)total);
    } else if (z.avail_out != 0) {
        st = selsa_error(SELSA_ERR_FORMAT, "%s: compressed element at file byte %lld inflates to "
                         "%lld bytes, its inner tag says %lld", what, (long long)e->off,
                         (long long)(total - z.avail_out), (long long)total);
    }
    inflateEnd(&z);
    if (st != SELSA_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *out_size = total;
    return SELSA_OK;
}

/* Does the matrix in `buf` at element m carry the wanted name? Fills h. */
static selsa_status matrix_matches(const uint8_t *buf, int64_t size, const mat_elem *m,
                                   const char *name, const mat_src *s, mat_header *h,
                                   bool *match) {
    (void)size;
    *match = false;
    if (m->type != MI_MATRIX || m->nbytes == 0) return SELSA_OK;
    SELSA_TRY(read_matrix_header(buf, m->data, m->data + m->nbytes, m->nbytes, s, h));
    *match = !name || (strlen(name) == h->name_len && memcmp(name, h->name, h->name_len) == 0);
    return SELSA_OK;
}

selsa_status selsa_mat_parse_cells(const uint8_t *data, int64_t size, const char *name,
                                   const char *what, selsa_mat_cells *out) {
    if (!out) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_mat_parse_cells: out is NULL");
    memset(out, 0, sizeof *out);
    if (!what) what = "MAT-file";
    if (!data || size < 0) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: no data", what);
    if (size < 128)
        return selsa_error(SELSA_ERR_FORMAT, "%s: not a MAT-file: %lld bytes, the header alone "
                           "is 128", what, (long long)size);
    if (memcmp(data, "MATLAB 7.3", 10) == 0)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "%s: MATLAB 7.3 (HDF5) file; save it with "
                           "-v7 or -v6", what);
    if (memcmp(data, "MATLAB", 6) != 0)
        return selsa_error(SELSA_ERR_FORMAT, "%s: not a MATLAB level-5 MAT-file (header text "
                           "does not start with \"MATLAB\")", what);
    if (data[126] == 'M' && data[127] == 'I')
        return selsa_error(SELSA_ERR_UNSUPPORTED, "%s: big-endian MAT-file", what);
    if (data[126] != 'I' || data[127] != 'M')
        return selsa_error(SELSA_ERR_FORMAT, "%s: bad endian indicator in the MAT header", what);
    uint16_t version = (uint16_t)(data[124] | data[125] << 8);
    if (version != 0x0100)
        return selsa_error(SELSA_ERR_FORMAT, "%s: MAT header version 0x%04x, expected 0x0100",
                           what, version);
    mat_src fs = {what, -1};
    int64_t pos = 128;
    while (pos < size) {
        mat_elem e;
        SELSA_TRY(read_elem(data, pos, size, false, &fs, &e));
        if (e.type == MI_COMPRESSED) {
            uint8_t *buf = NULL;
            int64_t bsize = 0;
            SELSA_TRY(inflate_elem(data, &e, what, &buf, &bsize));
            mat_src zs = {what, e.off};
            mat_elem m;
            mat_header h;
            memset(&h, 0, sizeof h);
            bool match = false;
            selsa_status st = read_elem(buf, 0, bsize, true, &zs, &m);
            if (st == SELSA_OK) st = matrix_matches(buf, bsize, &m, name, &zs, &h, &match);
            if (st == SELSA_OK && match) st = parse_cell_array(buf, &m, &h, &zs, out);
            free(buf);
            if (st != SELSA_OK || match) return st;
        } else if (e.type == MI_MATRIX) {
            mat_header h;
            memset(&h, 0, sizeof h);
            bool match = false;
            SELSA_TRY(matrix_matches(data, size, &e, name, &fs, &h, &match));
            if (match) return parse_cell_array(data, &e, &h, &fs, out);
        }
        /* other top-level elements are skipped */
        pos = e.type == MI_COMPRESSED ? e.data + e.nbytes : e.next;
    }
    if (name)
        return selsa_error(SELSA_ERR_FORMAT, "%s: no variable named \"%s\" in the MAT-file", what,
                           name);
    return selsa_error(SELSA_ERR_FORMAT, "%s: the MAT-file holds no variable", what);
}

selsa_status selsa_mat_read_cells(const char *path, const char *name, selsa_mat_cells *out) {
    if (!out) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_mat_read_cells: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_mat_read_cells: path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return selsa_error(SELSA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int64_t size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return selsa_error(SELSA_ERR_IO, "%s: cannot determine the file size", path);
    }
    if (size > SELSA_MAT_MAX_BYTES) {
        fclose(f);
        return selsa_error(SELSA_ERR_UNSUPPORTED, "%s: %lld bytes, larger than the %lld the MAT "
                           "reader accepts", path, (long long)size,
                           (long long)SELSA_MAT_MAX_BYTES);
    }
    uint8_t *data = malloc((size_t)(size > 0 ? size : 1));
    if (!data) {
        fclose(f);
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "%s: no memory for %lld bytes", path,
                           (long long)size);
    }
    size_t got = fread(data, 1, (size_t)size, f);
    fclose(f);
    if ((int64_t)got != size) {
        free(data);
        return selsa_error(SELSA_ERR_IO, "%s: short read (%zu of %lld bytes)", path, got,
                           (long long)size);
    }
    selsa_status st = selsa_mat_parse_cells(data, size, name, path, out);
    free(data);
    return st;
}

void selsa_mat_cells_free(selsa_mat_cells *c) {
    if (!c) return;
    free(c->offsets);
    free(c->values);
    memset(c, 0, sizeof *c);
}
