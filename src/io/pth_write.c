/* PyTorch `.pth` writer: zip and legacy torch.save layouts (mmtracking-selsa.md §3.3, §3.4),
 * protocol-2 pickle of an OrderedDict state dict (§3.5), and the .pth <-> .params naming rule.
 *
 * Plan, then emit: the pickle, storage dtypes and every zip offset are computed (and every limit
 * checked) before the output file is created, so a refused input leaves nothing behind. Tensor
 * data is streamed from the dictionary (int64 storages are converted in small stack chunks); each
 * zip record's CRC-32 is computed in a first pass over its data so that the local header carries
 * the final sizes and CRC (no data descriptors). Output is deterministic (fixed DOS timestamp,
 * storage keys "0", "1", ... in tensor order). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "io/weights_internal.h"
#include "selsa/fileio.h"
#include "selsa/weights_pth.h"

#define ZIP_ALIGN 64                  /* torch aligns every record's data to 64 bytes (§3.4) */
#define ZIP_LIMIT 0xffffffffull       /* beyond this, ZIP64 records would be needed */
#define ZIP_DOS_DATE 0x0021           /* 1980-01-01: fixed so that output is reproducible */
#define SETITEMS_BATCH 1000           /* pickle's own batch size for SETITEMS */

/* ---------------------------------------------------------------- growable byte buffer */

typedef struct pbuf {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} pbuf;

static void pb_bytes(pbuf *b, const void *s, size_t n) {
    if (b->oom || n == 0) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void pb_byte(pbuf *b, uint8_t c) { pb_bytes(b, &c, 1); }
static void pb_u16(pbuf *b, uint16_t v) { pb_bytes(b, &v, 2); }
static void pb_u32(pbuf *b, uint32_t v) { pb_bytes(b, &v, 4); }

/* ---------------------------------------------------------------- pickle (protocol 2) */

enum { MEMO_ODICT, MEMO_REBUILD, MEMO_FLOAT, MEMO_LONG, N_MEMO };

typedef struct pkw {
    pbuf b;
    bool memo[N_MEMO]; /* GLOBAL already emitted and memoised (BINPUT slot = enum value) */
} pkw;

static void pk_str(pkw *k, const char *s, size_t n) { /* BINUNICODE */
    pb_byte(&k->b, 'X');
    pb_u32(&k->b, (uint32_t)n);
    pb_bytes(&k->b, s, n);
}
static void pk_cstr(pkw *k, const char *s) { pk_str(k, s, strlen(s)); }

static void pk_int(pkw *k, int64_t v) {
    if (v >= 0 && v < 256) {
        pb_byte(&k->b, 'K');
        pb_byte(&k->b, (uint8_t)v);
    } else if (v >= 0 && v < 65536) {
        pb_byte(&k->b, 'M');
        pb_u16(&k->b, (uint16_t)v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        pb_byte(&k->b, 'J');
        pb_u32(&k->b, (uint32_t)(int32_t)v);
    } else { /* LONG1 with 8 two's-complement little-endian bytes */
        pb_byte(&k->b, 0x8a);
        pb_byte(&k->b, 8);
        pb_bytes(&k->b, &v, 8);
    }
}

/* GLOBAL the first time (memoised with BINPUT), BINGET afterwards. */
static void pk_global(pkw *k, int slot) {
    static const char *const text[N_MEMO] = {"collections\nOrderedDict\n", "torch._utils\n_rebuild_tensor_v2\n",
                                             "torch\nFloatStorage\n", "torch\nLongStorage\n"};
    if (k->memo[slot]) {
        pb_byte(&k->b, 'h');
        pb_byte(&k->b, (uint8_t)slot);
        return;
    }
    pb_byte(&k->b, 'c');
    pb_bytes(&k->b, text[slot], strlen(text[slot]));
    pb_byte(&k->b, 'q');
    pb_byte(&k->b, (uint8_t)slot);
    k->memo[slot] = true;
}

static void pk_int_tuple(pkw *k, const int64_t *v, int n) {
    if (n == 0) {
        pb_byte(&k->b, ')');
        return;
    }
    pb_byte(&k->b, '(');
    for (int i = 0; i < n; i++) pk_int(k, v[i]);
    pb_byte(&k->b, 't');
}

/* ---------------------------------------------------------------- validation */

/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF), no NUL. */
static bool valid_utf8(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        if (c == 0) return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; }
        else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; }
        else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; }
        else return false;
        if (n - i < len) return false;
        for (size_t j = 1; j < len; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        i += len;
    }
    return true;
}

static selsa_status check_name(const char *what, int64_t i, const char *s) {
    if (!s) return selsa_error(SELSA_ERR_INVALID_ARG, ".pth writer: %s %lld has no name", what, (long long)i);
    size_t n = strnlen(s, SELSA_PTH_MAX_NAME + 1);
    if (n == 0) return selsa_error(SELSA_ERR_INVALID_ARG, ".pth writer: %s %lld has an empty name", what, (long long)i);
    if (n > SELSA_PTH_MAX_NAME)
        return selsa_error(SELSA_ERR_INVALID_ARG, ".pth writer: %s %lld: name '%.60s...' is longer than %d bytes", what,
                           (long long)i, s, SELSA_PTH_MAX_NAME);
    if (!valid_utf8((const uint8_t *)s, n))
        return selsa_error(SELSA_ERR_INVALID_ARG, ".pth writer: %s %lld: name '%.200s' is not valid UTF-8 (a pickled "
                           "Python str must be)", what, (long long)i, s);
    return SELSA_OK;
}

static bool is_int_dtype(selsa_dtype t) {
    switch (t) {
    case SELSA_DTYPE_I64: case SELSA_DTYPE_I32: case SELSA_DTYPE_I16: case SELSA_DTYPE_I8:
    case SELSA_DTYPE_U8: case SELSA_DTYPE_U16: case SELSA_DTYPE_U32: case SELSA_DTYPE_U64: return true;
    default: return false;
    }
}

/* Every value an integer representable in int64 (float32 values >= 2^63 are not). */
static bool all_integral(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!(x[i] == truncf(x[i]) && fabsf(x[i]) < 9.2233715e18f)) return false;
    return true;
}

/* ---------------------------------------------------------------- plan */

typedef struct rec {
    char *name;         /* full entry name, owned */
    size_t name_len;
    const float *f32;   /* FloatStorage source (NULL for int64 or empty) */
    const float *i64;   /* LongStorage source: float32 values converted while writing */
    uint64_t size;      /* bytes */
    const uint8_t *raw; /* small records (data.pkl, byteorder, version): their bytes */
    uint64_t local_off; /* offset of the local header */
    uint32_t pad;       /* bytes of "FB" extra payload */
    uint32_t crc;
} rec;

typedef struct plan {
    const selsa_weights *w;
    selsa_pth_layout layout;
    pbuf pickle;        /* data.pkl / main pickle */
    bool *as_long;      /* [w->count] */
    rec *recs;          /* zip records in order */
    int64_t n_recs;
    uint64_t cd_off, cd_size;
} plan;

static void plan_free(plan *p) {
    free(p->pickle.p);
    free(p->as_long);
    for (int64_t i = 0; i < p->n_recs; i++) free(p->recs[i].name);
    free(p->recs);
    memset(p, 0, sizeof *p);
}

static void contiguous_strides(const selsa_weight *t, int64_t *st) {
    int64_t s = 1; /* torch: stride[i] = stride[i+1] * max(size[i+1], 1) */
    for (int d = t->ndim - 1; d >= 0; d--) {
        st[d] = s;
        s *= t->dims[d] > 1 ? t->dims[d] : 1;
    }
}

static void build_pickle(plan *p, bool wrap) {
    const selsa_weights *w = p->w;
    pkw k = {0};
    pb_byte(&k.b, 0x80);
    pb_byte(&k.b, 2);
    if (wrap) { /* {"meta": {"CLASSES": (...)}, "state_dict": <OrderedDict>} */
        pb_byte(&k.b, '}');
        pb_byte(&k.b, '(');
        pk_cstr(&k, "meta");
        pb_byte(&k.b, '}');
        pb_byte(&k.b, '(');
        pk_cstr(&k, "CLASSES");
        pb_byte(&k.b, '(');
        for (int c = 0; c < w->n_classes; c++) pk_cstr(&k, w->class_names[c]);
        pb_byte(&k.b, 't');
        pb_byte(&k.b, 'u');
        pk_cstr(&k, "state_dict");
    }
    pk_global(&k, MEMO_ODICT);
    pb_byte(&k.b, ')');
    pb_byte(&k.b, 'R');
    for (int64_t i = 0; i < w->count; i++) {
        const selsa_weight *t = &w->items[i];
        if (i % SETITEMS_BATCH == 0) pb_byte(&k.b, '(');
        pk_cstr(&k, t->name);
        /* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks) */
        pk_global(&k, MEMO_REBUILD);
        pb_byte(&k.b, '(');
        pb_byte(&k.b, '(');
        pk_cstr(&k, "storage");
        pk_global(&k, p->as_long[i] ? MEMO_LONG : MEMO_FLOAT);
        char key[24];
        snprintf(key, sizeof key, "%lld", (long long)i);
        pk_cstr(&k, key);
        pk_cstr(&k, "cpu");
        pk_int(&k, t->numel);
        if (p->layout == SELSA_PTH_LAYOUT_LEGACY) pb_byte(&k.b, 'N'); /* view_metadata */
        pb_byte(&k.b, 't');
        pb_byte(&k.b, 'Q'); /* BINPERSID */
        pk_int(&k, 0);
        int64_t st[SELSA_WEIGHTS_MAX_DIMS], none_dim = 0, none_st = 1;
        if (t->ndim == 0 && t->numel == 0) { /* MXNet "none" -> size (0,) */
            pk_int_tuple(&k, &none_dim, 1);
            pk_int_tuple(&k, &none_st, 1);
        } else {
            contiguous_strides(t, st);
            pk_int_tuple(&k, t->dims, t->ndim);
            pk_int_tuple(&k, st, t->ndim);
        }
        pb_byte(&k.b, 0x89); /* NEWFALSE: requires_grad */
        pk_global(&k, MEMO_ODICT);
        pb_byte(&k.b, ')');
        pb_byte(&k.b, 'R'); /* OrderedDict() backward hooks */
        pb_byte(&k.b, 't');
        pb_byte(&k.b, 'R');
        if (i % SETITEMS_BATCH == SETITEMS_BATCH - 1 || i == w->count - 1) pb_byte(&k.b, 'u');
    }
    if (wrap) pb_byte(&k.b, 'u');
    pb_byte(&k.b, '.');
    p->pickle = k.b;
}

static selsa_status add_rec(plan *p, int64_t *cap, const char *prefix, const char *suffix, rec r) {
    if (p->n_recs == *cap) {
        int64_t nc = *cap ? *cap * 2 : 16;
        rec *n = realloc(p->recs, (size_t)nc * sizeof *n);
        if (!n) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, ".pth writer: out of memory");
        p->recs = n;
        *cap = nc;
    }
    size_t pl = strlen(prefix), sl = strlen(suffix);
    r.name = malloc(pl + sl + 2);
    if (!r.name) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, ".pth writer: out of memory");
    memcpy(r.name, prefix, pl);
    r.name[pl] = '/';
    memcpy(r.name + pl + 1, suffix, sl + 1);
    r.name_len = pl + 1 + sl;
    p->recs[p->n_recs++] = r;
    return SELSA_OK;
}

static selsa_status make_plan(plan *p, const selsa_weights *w, const selsa_pth_write_options *o) {
    memset(p, 0, sizeof *p);
    p->w = w;
    p->layout = o->layout;
    if (o->layout != SELSA_PTH_LAYOUT_ZIP && o->layout != SELSA_PTH_LAYOUT_LEGACY)
        return selsa_error(SELSA_ERR_INVALID_ARG, ".pth writer: unknown layout %d", (int)o->layout);
    const char *arch = o->archive_name ? o->archive_name : "archive";
    size_t al = strlen(arch);
    if (al == 0 || al > 200 || strspn(arch, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") != al ||
        !strcmp(arch, ".") || !strcmp(arch, ".."))
        return selsa_error(SELSA_ERR_INVALID_ARG, ".pth writer: archive name '%.200s' must be 1..200 characters from "
                           "[A-Za-z0-9_.-]", arch);
    if (w->count < 0 || (w->count > 0 && !w->items))
        return selsa_error(SELSA_ERR_INVALID_ARG, ".pth writer: corrupt dictionary (count %lld)", (long long)w->count);
    if (w->n_classes < 0 || (w->n_classes > 0 && !w->class_names))
        return selsa_error(SELSA_ERR_INVALID_ARG, ".pth writer: corrupt class list (%d names)", w->n_classes);
    for (int c = 0; c < w->n_classes; c++) SELSA_TRY(check_name("class", c, w->class_names[c]));
    p->as_long = calloc((size_t)(w->count ? w->count : 1), sizeof *p->as_long);
    if (!p->as_long) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, ".pth writer: out of memory");
    for (int64_t i = 0; i < w->count; i++) {
        const selsa_weight *t = &w->items[i];
        SELSA_TRY(check_name("tensor", i, t->name));
        if (t->ndim < 0 || t->ndim > SELSA_WEIGHTS_MAX_DIMS)
            return selsa_error(SELSA_ERR_INVALID_ARG, ".pth writer: tensor '%.200s': %d dimensions", t->name, t->ndim);
        int64_t numel = 1;
        bool bad = false;
        for (int d = 0; d < t->ndim; d++)
            bad |= t->dims[d] < 0 || __builtin_mul_overflow(numel, t->dims[d], &numel);
        if (t->ndim == 0) bad |= t->numel != 0 && t->numel != 1;
        else bad |= numel != t->numel;
        /* the byte size (8 per element at most) must fit in 63 bits */
        bad |= t->numel > (INT64_MAX >> 4);
        if (bad) {
            char shape[160];
            return selsa_error(SELSA_ERR_INVALID_ARG, ".pth writer: tensor '%.200s': shape %s does not match %lld elements",
                               t->name, selsa_weight_shape_str(t, shape, sizeof shape), (long long)t->numel);
        }
        if (t->numel > 0 && !t->data)
            return selsa_error(SELSA_ERR_INVALID_ARG, ".pth writer: tensor '%.200s' has no data", t->name);
        p->as_long[i] = !o->ints_as_float && is_int_dtype(t->src_dtype) && all_integral(t->data, t->numel);
        if (!p->as_long[i] && !o->ints_as_float && is_int_dtype(t->src_dtype))
            selsa_log(SELSA_LOG_DEBUG, ".pth writer: integer tensor '%.200s' has non-integer values; written as float32", t->name);
    }
    build_pickle(p, w->n_classes > 0 && !o->no_meta);
    if (p->pickle.oom) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, ".pth writer: out of memory for the pickle");
    if (o->layout == SELSA_PTH_LAYOUT_LEGACY) return SELSA_OK;

    /* zip records and their offsets; check that no ZIP64 field would be needed */
    int64_t cap = 0;
    static const uint8_t little[] = "little", version[] = "3\n";
    SELSA_TRY(add_rec(p, &cap, arch, "data.pkl", (rec){.raw = p->pickle.p, .size = p->pickle.n}));
    SELSA_TRY(add_rec(p, &cap, arch, "byteorder", (rec){.raw = little, .size = 6}));
    for (int64_t i = 0; i < w->count; i++) {
        const selsa_weight *t = &w->items[i];
        char suffix[32];
        snprintf(suffix, sizeof suffix, "data/%lld", (long long)i);
        rec r = {.size = (uint64_t)t->numel * (p->as_long[i] ? 8u : 4u)};
        if (p->as_long[i]) r.i64 = t->data;
        else r.f32 = t->data;
        SELSA_TRY(add_rec(p, &cap, arch, suffix, r));
    }
    SELSA_TRY(add_rec(p, &cap, arch, "version", (rec){.raw = version, .size = 2}));
    if (p->n_recs >= 0xffff)
        return selsa_error(SELSA_ERR_UNSUPPORTED, ".pth writer: %lld zip entries need ZIP64, which is not implemented; "
                           "write the legacy layout instead", (long long)p->n_recs);
    uint64_t off = 0;
    for (int64_t i = 0; i < p->n_recs; i++) {
        rec *r = &p->recs[i];
        r->local_off = off;
        uint64_t start = off + 30 + r->name_len + 4; /* data start with an empty "FB" field */
        r->pad = (uint32_t)((ZIP_ALIGN - start % ZIP_ALIGN) % ZIP_ALIGN);
        if (r->size >= ZIP_LIMIT || off >= ZIP_LIMIT)
            return selsa_error(SELSA_ERR_UNSUPPORTED, ".pth writer: the zip archive would exceed 4 GiB at entry '%s' "
                               "(ZIP64 is not implemented); write the legacy layout instead", r->name);
        off = start + r->pad + r->size;
    }
    p->cd_off = off;
    p->cd_size = 0;
    for (int64_t i = 0; i < p->n_recs; i++) p->cd_size += 46 + p->recs[i].name_len;
    if (p->cd_off >= ZIP_LIMIT || p->cd_off + p->cd_size >= ZIP_LIMIT)
        return selsa_error(SELSA_ERR_UNSUPPORTED, ".pth writer: the zip archive would exceed 4 GiB (ZIP64 is not "
                           "implemented); write the legacy layout instead");
    return SELSA_OK;
}

/* ---------------------------------------------------------------- emit */

/* Output: a FILE (atomic write) or a memory buffer; `off` counts bytes written. */
typedef struct sink {
    FILE *f;
    pbuf mem;
    uint64_t off;
    bool err;
} sink;

static void sk_put(sink *s, const void *p, size_t n) {
    if (s->err || n == 0) return;
    if (s->f) s->err = fwrite(p, 1, n, s->f) != n;
    else {
        pb_bytes(&s->mem, p, n);
        s->err = s->mem.oom;
    }
    s->off += n;
}
static void sk_u16(sink *s, uint16_t v) { sk_put(s, &v, 2); }
static void sk_u32(sink *s, uint32_t v) { sk_put(s, &v, 4); }
static void sk_u64(sink *s, uint64_t v) { sk_put(s, &v, 8); }

#define I64_CHUNK 8192 /* elements converted to int64 at a time */

/* Stream one storage's bytes (float32 as is, or converted to int64); *crc (if non-NULL) is
 * updated instead of writing when `s` is NULL. */
static void put_storage(sink *s, const float *f32, const float *i64, uint64_t bytes, uLong *crc) {
    if (f32) {
        if (crc) {
            /* zlib's crc32 takes uInt lengths: feed it in 1 GiB pieces */
            const uint8_t *b = (const uint8_t *)f32;
            for (uint64_t o = 0; o < bytes; o += 1u << 30) {
                uint64_t n = bytes - o < (1u << 30) ? bytes - o : (1u << 30);
                *crc = crc32(*crc, b + o, (uInt)n);
            }
        } else {
            sk_put(s, f32, (size_t)bytes);
        }
        return;
    }
    int64_t buf[I64_CHUNK];
    uint64_t n = bytes / 8;
    for (uint64_t o = 0; o < n; o += I64_CHUNK) {
        uint64_t m = n - o < I64_CHUNK ? n - o : I64_CHUNK;
        for (uint64_t j = 0; j < m; j++) buf[j] = (int64_t)i64[o + j];
        if (crc) *crc = crc32(*crc, (const Bytef *)buf, (uInt)(m * 8));
        else sk_put(s, buf, (size_t)(m * 8));
    }
}

static void emit_zip(plan *p, sink *s) {
    for (int64_t i = 0; i < p->n_recs && !s->err; i++) {
        rec *r = &p->recs[i];
        uLong crc = crc32(0L, Z_NULL, 0);
        if (r->raw) crc = crc32(crc, r->raw, (uInt)r->size);
        else put_storage(NULL, r->f32, r->i64, r->size, &crc);
        r->crc = (uint32_t)crc;
        /* local file header: version 2.0, no flags, stored, sizes and CRC known up front */
        sk_u32(s, 0x04034b50);
        sk_u16(s, 20);
        sk_u16(s, 0);
        sk_u16(s, 0);
        sk_u16(s, 0);
        sk_u16(s, ZIP_DOS_DATE);
        sk_u32(s, r->crc);
        sk_u32(s, (uint32_t)r->size);
        sk_u32(s, (uint32_t)r->size);
        sk_u16(s, (uint16_t)r->name_len);
        sk_u16(s, (uint16_t)(4 + r->pad));
        sk_put(s, r->name, r->name_len);
        /* "FB" extra field whose payload pads the data to a 64-byte boundary (torch does the same) */
        sk_put(s, "FB", 2);
        sk_u16(s, (uint16_t)r->pad);
        char zz[ZIP_ALIGN];
        memset(zz, 'Z', sizeof zz);
        sk_put(s, zz, r->pad);
        if (r->raw) sk_put(s, r->raw, (size_t)r->size);
        else put_storage(s, r->f32, r->i64, r->size, NULL);
    }
    if (!s->err && s->off != p->cd_off) s->err = true; /* layout arithmetic must agree with the plan */
    for (int64_t i = 0; i < p->n_recs; i++) {
        const rec *r = &p->recs[i];
        sk_u32(s, 0x02014b50);
        sk_u16(s, 20); /* made by: MS-DOS, 2.0 */
        sk_u16(s, 20);
        sk_u16(s, 0);
        sk_u16(s, 0);
        sk_u16(s, 0);
        sk_u16(s, ZIP_DOS_DATE);
        sk_u32(s, r->crc);
        sk_u32(s, (uint32_t)r->size);
        sk_u32(s, (uint32_t)r->size);
        sk_u16(s, (uint16_t)r->name_len);
        sk_u16(s, 0); /* extra (the padding lives in the local header only) */
        sk_u16(s, 0); /* comment */
        sk_u16(s, 0); /* disk */
        sk_u16(s, 0); /* internal attributes */
        sk_u32(s, 0); /* external attributes */
        sk_u32(s, (uint32_t)r->local_off);
        sk_put(s, r->name, r->name_len);
    }
    sk_u32(s, 0x06054b50);
    sk_u16(s, 0);
    sk_u16(s, 0);
    sk_u16(s, (uint16_t)p->n_recs);
    sk_u16(s, (uint16_t)p->n_recs);
    sk_u32(s, (uint32_t)p->cd_size);
    sk_u32(s, (uint32_t)p->cd_off);
    sk_u16(s, 0);
}

static int key_cmp(const void *a, const void *b) {
    char x[24], y[24];
    snprintf(x, sizeof x, "%lld", *(const long long *)a);
    snprintf(y, sizeof y, "%lld", *(const long long *)b);
    return strcmp(x, y);
}

static void emit_legacy(plan *p, sink *s) {
    static const uint8_t magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                    0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
    static const uint8_t proto[] = {0x80, 0x02, 0x4d, 0xe9, 0x03, 0x2e};
    sk_put(s, magic, sizeof magic);
    sk_put(s, proto, sizeof proto);
    pkw k = {0}; /* sys_info */
    pb_byte(&k.b, 0x80);
    pb_byte(&k.b, 2);
    pb_byte(&k.b, '}');
    pb_byte(&k.b, '(');
    pk_cstr(&k, "protocol_version");
    pk_int(&k, 1001);
    pk_cstr(&k, "little_endian");
    pb_byte(&k.b, 0x88);
    pk_cstr(&k, "type_sizes");
    pb_byte(&k.b, '}');
    pb_byte(&k.b, '(');
    pk_cstr(&k, "short");
    pk_int(&k, 2);
    pk_cstr(&k, "int");
    pk_int(&k, 4);
    pk_cstr(&k, "long");
    pk_int(&k, 4);
    pb_byte(&k.b, 'u');
    pb_byte(&k.b, 'u');
    pb_byte(&k.b, '.');
    /* storage keys, sorted as strings (torch writes them so, then the data in that order) */
    const selsa_weights *w = p->w;
    long long *order = malloc((size_t)(w->count ? w->count : 1) * sizeof *order);
    if (!order || k.b.oom) {
        free(order);
        free(k.b.p);
        s->err = true;
        return;
    }
    for (int64_t i = 0; i < w->count; i++) order[i] = i;
    qsort(order, (size_t)w->count, sizeof *order, key_cmp);
    sk_put(s, k.b.p, k.b.n);
    sk_put(s, p->pickle.p, p->pickle.n);
    k.b.n = 0;
    pb_byte(&k.b, 0x80);
    pb_byte(&k.b, 2);
    pb_byte(&k.b, ']');
    if (w->count) pb_byte(&k.b, '(');
    for (int64_t i = 0; i < w->count; i++) {
        char key[24];
        snprintf(key, sizeof key, "%lld", order[i]);
        pk_cstr(&k, key);
    }
    if (w->count) pb_byte(&k.b, 'e');
    pb_byte(&k.b, '.');
    if (k.b.oom) s->err = true;
    sk_put(s, k.b.p, k.b.n);
    for (int64_t j = 0; j < w->count && !s->err; j++) {
        int64_t i = order[j];
        const selsa_weight *t = &w->items[i];
        sk_u64(s, (uint64_t)t->numel);
        uint64_t bytes = (uint64_t)t->numel * (p->as_long[i] ? 8u : 4u);
        put_storage(s, p->as_long[i] ? NULL : t->data, p->as_long[i] ? t->data : NULL, bytes, NULL);
    }
    free(order);
    free(k.b.p);
}

static void emit(plan *p, sink *s) {
    if (p->layout == SELSA_PTH_LAYOUT_LEGACY) emit_legacy(p, s);
    else emit_zip(p, s);
}

static int write_body(FILE *f, const void *user) {
    plan *p = *(plan *const *)user;
    sink s = {.f = f};
    emit(p, &s);
    return s.err ? -1 : 0;
}

static const selsa_pth_write_options *opts_or_default(const selsa_pth_write_options *o) {
    static const selsa_pth_write_options def = {0};
    return o ? o : &def;
}

selsa_status selsa_weights_save_pth(const char *path, const selsa_weights *w, const selsa_pth_write_options *opt) {
    if (!path || !w) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_weights_save_pth: NULL argument");
    plan p;
    selsa_status s = make_plan(&p, w, opts_or_default(opt));
    if (s == SELSA_OK) {
        plan *pp = &p;
        s = selsa_file_write_stream_atomic(path, write_body, &pp);
    }
    plan_free(&p);
    return s == SELSA_OK ? s : selsa_error_context(s, "save %s", path);
}

selsa_status selsa_weights_save_pth_mem(const selsa_weights *w, const selsa_pth_write_options *opt, void **buf,
                                        size_t *size) {
    if (!w || !buf || !size) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_weights_save_pth_mem: NULL argument");
    *buf = NULL;
    *size = 0;
    plan p;
    selsa_status s = make_plan(&p, w, opts_or_default(opt));
    if (s == SELSA_OK) {
        sink k = {0};
        emit(&p, &k);
        if (k.err) {
            free(k.mem.p);
            s = selsa_error(k.mem.oom ? SELSA_ERR_OUT_OF_MEMORY : SELSA_ERR_INTERNAL,
                            ".pth writer: %s", k.mem.oom ? "out of memory" : "layout mismatch");
        } else {
            *buf = k.mem.p;
            *size = k.mem.n;
        }
    }
    plan_free(&p);
    return s;
}

/* ---------------------------------------------------------------- naming rule */

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

bool selsa_weights_is_num_batches_tracked(const char *name) {
    return name && ends_with(name, "num_batches_tracked");
}

selsa_weight_kind selsa_weights_mxnet_kind_for(const char *name) {
    static const char *const aux[] = {"running_mean", "running_var", "moving_mean", "moving_var", "num_batches_tracked"};
    if (!name) return SELSA_WEIGHT_ARG;
    for (size_t i = 0; i < sizeof aux / sizeof aux[0]; i++)
        if (ends_with(name, aux[i])) return SELSA_WEIGHT_AUX;
    return SELSA_WEIGHT_ARG;
}

int64_t selsa_weights_assign_mxnet_kinds(selsa_weights *w) {
    int64_t n = 0;
    for (int64_t i = 0; w && i < w->count; i++) {
        selsa_weight *t = &w->items[i];
        if (t->kind == SELSA_WEIGHT_PLAIN) t->kind = selsa_weights_mxnet_kind_for(t->name);
        n += t->kind == SELSA_WEIGHT_AUX;
    }
    return n;
}
