/* PyTorch `.pth` reader: both torch.save layouts (mmtracking-selsa.md §3.3, §3.4).
 *
 *  - zip: the central directory is the source of truth (sizes are 0 in the local headers); any
 *    archive prefix (taken from the entry ending in "data.pkl"); stored entries only; zip64
 *    end-of-directory and extra fields are understood; `byteorder` must be "little" if present.
 *  - legacy: five pickles (magic number, protocol 1001, sys_info, main object, storage keys),
 *    then for each listed key an i64 element count and the raw little-endian elements.
 *
 * The state_dict is the top-level dict, or its 'state_dict' / 'model' entry; meta.CLASSES is read
 * when present. Tensors honour storage offsets and strides and are copied into contiguous
 * float32; the file itself is only mapped, so peak memory is about one float32 copy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/pickle.h"
#include "io/weights_internal.h"

#define MAX_KEY_LEN (1 << 16)

/* ---------------------------------------------------------------- zip */

typedef struct zentry {
    const char *name;
    size_t name_len;
    uint16_t method;
    uint64_t comp, uncomp, local_off;
} zentry;

typedef struct zip {
    const uint8_t *p;
    size_t size;
    zentry *e;
    int64_t n;
} zip;

static int zentry_cmp(const void *a, const void *b) {
    const zentry *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c) return c;
    return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

static const zentry *zip_find(const zip *z, const char *name, size_t len) {
    zentry key = {.name = name, .name_len = len};
    return bsearch(&key, z->e, (size_t)z->n, sizeof *z->e, zentry_cmp);
}

/* Payload of a stored entry, validated through its local header. */
static selsa_status zip_data(const zip *z, const zentry *e, const uint8_t **data, uint64_t *len) {
    int nl = (int)(e->name_len > 200 ? 200 : e->name_len);
    if (e->method != 0)
        return selsa_error(SELSA_ERR_FORMAT, "zip .pth: entry '%.*s' is compressed (method %u); torch.save writes stored "
                           "entries only", nl, e->name, e->method);
    if (e->comp != e->uncomp)
        return selsa_error(SELSA_ERR_FORMAT, "zip .pth: entry '%.*s': stored sizes differ (%llu vs %llu)", nl, e->name,
                           (unsigned long long)e->comp, (unsigned long long)e->uncomp);
    if (e->local_off > z->size || z->size - e->local_off < 30 || memcmp(z->p + e->local_off, "PK\x03\x04", 4) != 0)
        return selsa_error(SELSA_ERR_FORMAT, "zip .pth: entry '%.*s': bad local header at offset %llu", nl, e->name,
                           (unsigned long long)e->local_off);
    uint64_t start = e->local_off + 30 + wi_u16(z->p + e->local_off + 26) + wi_u16(z->p + e->local_off + 28);
    if (start > z->size || z->size - start < e->comp)
        return selsa_error(SELSA_ERR_FORMAT, "zip .pth: entry '%.*s': %llu bytes at offset %llu run past the end of the "
                           "file (%zu bytes; truncated?)", nl, e->name, (unsigned long long)e->comp,
                           (unsigned long long)start, z->size);
    *data = z->p + start;
    *len = e->comp;
    return SELSA_OK;
}

static selsa_status zip_open(zip *z, const uint8_t *p, size_t size) {
    memset(z, 0, sizeof *z);
    z->p = p;
    z->size = size;
    if (size < 22) return selsa_error(SELSA_ERR_FORMAT, "zip .pth: file too short (%zu bytes)", size);
    size_t lo = size - 22 > 65535 ? size - 22 - 65535 : 0, eocd = SIZE_MAX;
    for (size_t i = size - 22 + 1; i-- > lo;)
        if (memcmp(p + i, "PK\x05\x06", 4) == 0) {
            eocd = i;
            break;
        }
    if (eocd == SIZE_MAX)
        return selsa_error(SELSA_ERR_FORMAT, "zip .pth: end of central directory not found (file truncated?)");
    uint64_t n = wi_u16(p + eocd + 10), cd_size = wi_u32(p + eocd + 12), cd_off = wi_u32(p + eocd + 16);
    if (n == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) { /* zip64 */
        if (eocd < 20 || memcmp(p + eocd - 20, "PK\x06\x07", 4) != 0)
            return selsa_error(SELSA_ERR_FORMAT, "zip .pth: zip64 locator missing");
        uint64_t z64 = wi_u64(p + eocd - 20 + 8);
        if (z64 > size || size - z64 < 56 || memcmp(p + z64, "PK\x06\x06", 4) != 0)
            return selsa_error(SELSA_ERR_FORMAT, "zip .pth: bad zip64 end of central directory at %llu", (unsigned long long)z64);
        n = wi_u64(p + z64 + 32);
        cd_size = wi_u64(p + z64 + 40);
        cd_off = wi_u64(p + z64 + 48);
    }
    if (cd_off > size || cd_size > size - cd_off)
        return selsa_error(SELSA_ERR_FORMAT, "zip .pth: central directory (offset %llu, %llu bytes) lies outside the "
                           "file (%zu bytes)", (unsigned long long)cd_off, (unsigned long long)cd_size, size);
    if (n > cd_size / 46)
        return selsa_error(SELSA_ERR_FORMAT, "zip .pth: %llu entries cannot fit in a %llu-byte central directory",
                           (unsigned long long)n, (unsigned long long)cd_size);
    z->e = calloc(n ? n : 1, sizeof *z->e);
    if (!z->e) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "zip .pth: cannot allocate %llu entries", (unsigned long long)n);
    const uint8_t *c = p + cd_off, *end = c + cd_size;
    for (uint64_t i = 0; i < n; i++) {
        if (end - c < 46 || memcmp(c, "PK\x01\x02", 4) != 0)
            return selsa_error(SELSA_ERR_FORMAT, "zip .pth: central directory entry %llu is corrupt", (unsigned long long)i);
        zentry *e = &z->e[i];
        e->method = wi_u16(c + 10);
        e->comp = wi_u32(c + 20);
        e->uncomp = wi_u32(c + 24);
        size_t nl = wi_u16(c + 28), xl = wi_u16(c + 30), cl = wi_u16(c + 32);
        e->local_off = wi_u32(c + 42);
        if ((size_t)(end - c) - 46 < nl + xl + cl)
            return selsa_error(SELSA_ERR_FORMAT, "zip .pth: central directory entry %llu overruns the directory", (unsigned long long)i);
        e->name = (const char *)c + 46;
        e->name_len = nl;
        /* zip64 extended information: the 0xffffffff fields, in order uncomp, comp, offset */
        const uint8_t *x = c + 46 + nl, *xe = x + xl;
        while (xe - x >= 4) {
            uint16_t id = wi_u16(x), len = wi_u16(x + 2);
            const uint8_t *f = x + 4;
            if ((size_t)(xe - f) < len) break;
            if (id == 1) {
                const uint8_t *fe = f + len;
                if (e->uncomp == 0xffffffffu && fe - f >= 8) { e->uncomp = wi_u64(f); f += 8; }
                if (e->comp == 0xffffffffu && fe - f >= 8) { e->comp = wi_u64(f); f += 8; }
                if (e->local_off == 0xffffffffu && fe - f >= 8) { e->local_off = wi_u64(f); f += 8; }
            }
            x += 4 + len;
        }
        c += 46 + nl + xl + cl;
    }
    z->n = (int64_t)n;
    qsort(z->e, (size_t)n, sizeof *z->e, zentry_cmp);
    return SELSA_OK;
}

/* Entry "<prefix><suffix>" or NULL. */
static const zentry *zip_find2(const zip *z, const char *prefix, size_t plen, const char *suffix, size_t slen) {
    char stack[512];
    char *buf = plen + slen <= sizeof stack ? stack : malloc(plen + slen);
    if (!buf) return NULL;
    memcpy(buf, prefix, plen);
    memcpy(buf + plen, suffix, slen);
    const zentry *e = zip_find(z, buf, plen + slen);
    if (buf != stack) free(buf);
    return e;
}

static selsa_status load_zip(pk_ctx *c, const uint8_t *p, size_t size, pk_obj **top) {
    zip z;
    selsa_status s = zip_open(&z, p, size);
    const zentry *pkl = NULL;
    for (int64_t i = 0; s == SELSA_OK && i < z.n; i++) {
        const zentry *e = &z.e[i];
        if (e->name_len >= 8 && memcmp(e->name + e->name_len - 8, "data.pkl", 8) == 0 &&
            (e->name_len == 8 || e->name[e->name_len - 9] == '/') && (!pkl || e->name_len < pkl->name_len))
            pkl = e;
    }
    if (s == SELSA_OK && !pkl) {
        bool ts = false;
        for (int64_t i = 0; i < z.n; i++)
            ts |= z.e[i].name_len >= 13 && memcmp(z.e[i].name + z.e[i].name_len - 13, "constants.pkl", 13) == 0;
        s = selsa_error(SELSA_ERR_FORMAT, ts ? "zip .pth: a TorchScript archive (torch.jit.save) is not supported; save "
                                               "model.state_dict() with torch.save"
                                             : "zip .pth: no data.pkl entry (%lld entries): not a torch.save archive",
                        (long long)z.n);
    }
    const char *prefix = pkl ? pkl->name : NULL;
    size_t plen = pkl ? pkl->name_len - 8 : 0;
    if (s == SELSA_OK) {
        const zentry *bo = zip_find2(&z, prefix, plen, "byteorder", 9);
        const uint8_t *d;
        uint64_t n;
        if (bo && (s = zip_data(&z, bo, &d, &n)) == SELSA_OK && !(n >= 6 && memcmp(d, "little", 6) == 0))
            s = selsa_error(SELSA_ERR_UNSUPPORTED, "zip .pth: byteorder record is '%.*s'; only little-endian checkpoints "
                            "are supported", (int)(n > 16 ? 16 : n), (const char *)d);
    }
    const uint8_t *pd = NULL;
    uint64_t pn = 0;
    if (s == SELSA_OK) s = zip_data(&z, pkl, &pd, &pn);
    if (s == SELSA_OK) {
        size_t pos = 0;
        s = pk_run(c, pd, (size_t)pn, &pos, (size_t)(pd - p), "zip .pth: data.pkl", top);
    }
    /* resolve every storage to its "<prefix>data/<key>" record */
    for (int64_t i = 0; s == SELSA_OK && i < c->n_storages; i++) {
        pk_obj *st = c->storages[i];
        size_t kl = st->u.storage.key_len;
        int knl = (int)(kl > 100 ? 100 : kl);
        char *suffix = malloc(kl + 5);
        if (!suffix) {
            s = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "zip .pth: out of memory");
            break;
        }
        memcpy(suffix, "data/", 5);
        memcpy(suffix + 5, st->u.storage.key, kl);
        const zentry *e = zip_find2(&z, prefix, plen, suffix, kl + 5);
        free(suffix);
        const uint8_t *d;
        uint64_t n;
        if (!e) {
            s = selsa_error(SELSA_ERR_FORMAT, "zip .pth: storage record '%.*sdata/%.*s' is missing from the archive",
                            (int)plen, prefix, knl, st->u.storage.key);
            break;
        }
        if ((s = zip_data(&z, e, &d, &n)) != SELSA_OK) break;
        int es = selsa_dtype_size(st->u.storage.dtype);
        st->u.storage.data = d;
        st->u.storage.avail = es ? (int64_t)(n / (uint64_t)es) : 0;
    }
    free(z.e);
    return s;
}

/* ---------------------------------------------------------------- legacy */

static int storage_cmp(const void *a, const void *b) {
    const pk_obj *x = *(pk_obj *const *)a, *y = *(pk_obj *const *)b;
    size_t n = x->u.storage.key_len < y->u.storage.key_len ? x->u.storage.key_len : y->u.storage.key_len;
    int c = memcmp(x->u.storage.key, y->u.storage.key, n);
    if (c) return c;
    return (x->u.storage.key_len > y->u.storage.key_len) - (x->u.storage.key_len < y->u.storage.key_len);
}

static selsa_status load_legacy(pk_ctx *c, const uint8_t *p, size_t size, pk_obj **top) {
    static const uint8_t magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    size_t pos = 0;
    pk_obj *o;
    SELSA_TRY(pk_run(c, p, size, &pos, 0, "legacy .pth: magic-number", &o));
    if (o->type != PK_BIGINT || o->u.str.len != 10 || memcmp(o->u.str.s, magic, 10) != 0)
        return selsa_error(SELSA_ERR_FORMAT, "legacy .pth: the first pickle is not torch's magic number 0x1950a86a20f9469cfc6c");
    SELSA_TRY(pk_run(c, p, size, &pos, 0, "legacy .pth: protocol-version", &o));
    if (o->type != PK_INT || o->u.i != 1001)
        return selsa_error(SELSA_ERR_FORMAT, "legacy .pth: protocol version %lld, expected 1001",
                           o->type == PK_INT ? (long long)o->u.i : -1LL);
    SELSA_TRY(pk_run(c, p, size, &pos, 0, "legacy .pth: sys_info", &o));
    const pk_obj *le = pk_dict_get(o, "little_endian");
    if (le && le->type == PK_BOOL && !le->u.b)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "legacy .pth: big-endian checkpoints are not supported");
    SELSA_TRY(pk_run(c, p, size, &pos, 0, "legacy .pth: main-object", top));
    pk_obj *keys;
    SELSA_TRY(pk_run(c, p, size, &pos, 0, "legacy .pth: storage-keys", &keys));
    if (keys->type != PK_LIST && keys->type != PK_TUPLE)
        return selsa_error(SELSA_ERR_FORMAT, "legacy .pth: the storage key list is not a list");
    /* storages sorted by key so each listed key finds its (possibly several) references */
    pk_obj **sorted = malloc((size_t)(c->n_storages ? c->n_storages : 1) * sizeof *sorted);
    if (!sorted) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "legacy .pth: out of memory");
    if (c->n_storages) memcpy(sorted, c->storages, (size_t)c->n_storages * sizeof *sorted);
    qsort(sorted, (size_t)c->n_storages, sizeof *sorted, storage_cmp);
    selsa_status s = SELSA_OK;
    for (int64_t i = 0; i < keys->u.seq.n && s == SELSA_OK; i++) {
        const pk_obj *k = keys->u.seq.v[i];
        if (k->type != PK_STR) {
            s = selsa_error(SELSA_ERR_FORMAT, "legacy .pth: storage key %lld is not a string", (long long)i);
            break;
        }
        int knl = (int)(k->u.str.len > 100 ? 100 : k->u.str.len);
        pk_obj probe = {.type = PK_STORAGE};
        probe.u.storage.key = k->u.str.s;
        probe.u.storage.key_len = k->u.str.len;
        pk_obj *pp = &probe;
        pk_obj **hit = bsearch(&pp, sorted, (size_t)c->n_storages, sizeof *sorted, storage_cmp);
        if (!hit) {
            s = selsa_error(SELSA_ERR_FORMAT, "legacy .pth: storage '%.*s' is listed but never referenced", knl, k->u.str.s);
            break;
        }
        while (hit > sorted && storage_cmp(&hit[-1], &pp) == 0) hit--;
        selsa_dtype dt = (*hit)->u.storage.dtype;
        int es = selsa_dtype_size(dt);
        if (!es) {
            const pk_obj *cls = (*hit)->u.storage.cls;
            s = selsa_error(SELSA_ERR_UNSUPPORTED, "legacy .pth: storage '%.*s' has unsupported type %.*s.%.*s", knl,
                            k->u.str.s, (int)cls->u.glob.mod_len, cls->u.glob.mod, (int)cls->u.glob.name_len,
                            cls->u.glob.name);
            break;
        }
        if (size - pos < 8) {
            s = selsa_error(SELSA_ERR_FORMAT, "legacy .pth: truncated before storage '%.*s' (%lld of %lld)", knl,
                            k->u.str.s, (long long)i, (long long)keys->u.seq.n);
            break;
        }
        int64_t count = (int64_t)wi_u64(p + pos);
        pos += 8;
        if (count < 0 || (uint64_t)count > (size - pos) / (uint64_t)es) {
            s = selsa_error(SELSA_ERR_FORMAT, "legacy .pth: storage '%.*s' declares %lld %s elements but only %zu bytes "
                            "remain (truncated?)", knl, k->u.str.s, (long long)count, selsa_dtype_name(dt), size - pos);
            break;
        }
        for (pk_obj **h = hit; h < sorted + c->n_storages && storage_cmp(h, &pp) == 0; h++) {
            if ((*h)->u.storage.dtype != dt) {
                s = selsa_error(SELSA_ERR_FORMAT, "legacy .pth: storage '%.*s' is referenced with two dtypes", knl, k->u.str.s);
                break;
            }
            (*h)->u.storage.data = p + pos;
            (*h)->u.storage.avail = count;
        }
        pos += (size_t)count * (size_t)es;
    }
    free(sorted);
    return s;
}

/* ---------------------------------------------------------------- state_dict extraction */

static void shape_msg(const pk_obj *t, char *buf, size_t n) {
    const pk_obj *sz = t->u.tensor.size, *st = t->u.tensor.stride;
    size_t o = (size_t)snprintf(buf, n, "size (");
    for (int64_t i = 0; i < sz->u.seq.n && i < 8 && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)sz->u.seq.v[i]->u.i);
    if (o < n) o += (size_t)snprintf(buf + o, n - o, ") stride (");
    for (int64_t i = 0; i < st->u.seq.n && i < 8 && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)st->u.seq.v[i]->u.i);
    if (o < n) snprintf(buf + o, n - o, ") offset %lld", (long long)t->u.tensor.offset);
}

/* Copy one tensor to contiguous float32 and add it under `name`. *budget: floats still allowed. */
static selsa_status add_tensor(selsa_weights *w, const char *name, size_t nlen, const pk_obj *t, int64_t *budget) {
    int nl = (int)(nlen > 200 ? 200 : nlen);
    const pk_obj *st = t->u.tensor.storage;
    const pk_obj *sz = t->u.tensor.size, *sd = t->u.tensor.stride;
    char shp[300];
    if (st->u.storage.dtype == SELSA_DTYPE_UNKNOWN) {
        const pk_obj *cls = st->u.storage.cls;
        return selsa_error(SELSA_ERR_UNSUPPORTED, "tensor '%.*s': unsupported storage type %.*s.%.*s", nl, name,
                           (int)cls->u.glob.mod_len, cls->u.glob.mod, (int)cls->u.glob.name_len, cls->u.glob.name);
    }
    if (!st->u.storage.data)
        return selsa_error(SELSA_ERR_FORMAT, "tensor '%.*s': its storage '%.*s' has no data in the file", nl, name,
                           (int)(st->u.storage.key_len > 100 ? 100 : st->u.storage.key_len), st->u.storage.key);
    int64_t ndim = sz->u.seq.n;
    if (ndim > SELSA_WEIGHTS_MAX_DIMS)
        return selsa_error(SELSA_ERR_FORMAT, "tensor '%.*s': %lld dimensions (at most %d supported)", nl, name,
                           (long long)ndim, SELSA_WEIGHTS_MAX_DIMS);
    if (sd->u.seq.n != ndim)
        return selsa_error(SELSA_ERR_FORMAT, "tensor '%.*s': %lld sizes but %lld strides", nl, name, (long long)ndim,
                           (long long)sd->u.seq.n);
    int64_t dims[SELSA_WEIGHTS_MAX_DIMS], strides[SELSA_WEIGHTS_MAX_DIMS];
    int64_t numel = 1, extent = 0; /* extent: largest element index used, relative to the offset */
    bool bad = t->u.tensor.offset < 0, overflow = false;
    for (int64_t i = 0; i < ndim; i++) {
        dims[i] = sz->u.seq.v[i]->u.i;
        strides[i] = sd->u.seq.v[i]->u.i;
        bad |= dims[i] < 0 || strides[i] < 0;
    }
    if (bad) {
        shape_msg(t, shp, sizeof shp);
        return selsa_error(SELSA_ERR_FORMAT, "tensor '%.*s': negative size, stride or offset (%s)", nl, name, shp);
    }
    for (int64_t i = 0; i < ndim; i++) {
        int64_t term;
        overflow |= __builtin_mul_overflow(numel, dims[i], &numel);
        if (dims[i] > 0) {
            overflow |= __builtin_mul_overflow(dims[i] - 1, strides[i], &term);
            overflow |= __builtin_add_overflow(extent, term, &extent);
        }
    }
    int64_t base = 0;
    overflow |= __builtin_add_overflow(t->u.tensor.offset, st->u.storage.view_offset, &base);
    int64_t last = 0;
    overflow |= __builtin_add_overflow(base, extent, &last);
    if (overflow || (numel > 0 && last >= st->u.storage.avail)) {
        shape_msg(t, shp, sizeof shp);
        return selsa_error(SELSA_ERR_FORMAT, "tensor '%.*s': %s needs %s%lld elements but its storage '%.*s' holds %lld "
                           "(truncated or corrupt)", nl, name, shp, overflow ? "more than " : "",
                           overflow ? (long long)INT64_MAX : (long long)(last + 1),
                           (int)(st->u.storage.key_len > 100 ? 100 : st->u.storage.key_len), st->u.storage.key,
                           (long long)st->u.storage.avail);
    }
    if (numel > *budget)
        return selsa_error(SELSA_ERR_FORMAT, "tensor '%.*s': %lld elements exceed what the file can hold (stride-0 "
                           "broadcast of a small storage?)", nl, name, (long long)numel);
    *budget -= numel;
    float *data = NULL;
    selsa_dtype dt = st->u.storage.dtype;
    int es = selsa_dtype_size(dt);
    if (numel > 0) {
        data = malloc((size_t)numel * sizeof *data);
        if (!data)
            return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "tensor '%.*s': cannot allocate %lld floats", nl, name, (long long)numel);
        const uint8_t *src = st->u.storage.data + (size_t)base * (size_t)es;
        bool contiguous = true;
        int64_t expect = 1;
        for (int64_t i = ndim - 1; i >= 0; i--) {
            if (dims[i] != 1 && strides[i] != expect) contiguous = false;
            expect *= dims[i];
        }
        if (contiguous || ndim == 0) {
            selsa_weights_convert(dt, src, numel, data);
        } else {
            /* strided gather: odometer over the outer dims, inner dim as a run */
            int64_t idx[SELSA_WEIGHTS_MAX_DIMS] = {0};
            int64_t inner = dims[ndim - 1], istr = strides[ndim - 1];
            for (int64_t o = 0; o < numel; o += inner) {
                int64_t off = 0;
                for (int64_t d = 0; d < ndim - 1; d++) off += idx[d] * strides[d];
                for (int64_t j = 0; j < inner; j++) data[o + j] = selsa_weights_elem(dt, src + (size_t)(off + j * istr) * (size_t)es);
                for (int64_t d = ndim - 2; d >= 0; d--) {
                    if (++idx[d] < dims[d]) break;
                    idx[d] = 0;
                }
            }
        }
    }
    return selsa_weights_add_owned(w, name, nlen, SELSA_WEIGHT_PLAIN, (int)ndim, dims, numel, dt, data, true);
}

static selsa_status read_classes(selsa_weights *w, const pk_obj *top) {
    const pk_obj *cl = pk_dict_get(pk_dict_get(top, "meta"), "CLASSES");
    if (!cl || (cl->type != PK_TUPLE && cl->type != PK_LIST)) return SELSA_OK;
    if (cl->u.seq.n > 1000000) return selsa_error(SELSA_ERR_FORMAT, ".pth: meta.CLASSES has %lld entries", (long long)cl->u.seq.n);
    for (int64_t i = 0; i < cl->u.seq.n; i++)
        if (cl->u.seq.v[i]->type != PK_STR || memchr(cl->u.seq.v[i]->u.str.s, 0, cl->u.seq.v[i]->u.str.len)) {
            selsa_log(SELSA_LOG_WARN, ".pth: meta.CLASSES item %lld is not a string; class names ignored", (long long)i);
            return SELSA_OK;
        }
    w->class_names = calloc((size_t)cl->u.seq.n + 1, sizeof *w->class_names);
    if (!w->class_names) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, ".pth: out of memory for class names");
    for (int64_t i = 0; i < cl->u.seq.n; i++) {
        const pk_obj *s = cl->u.seq.v[i];
        if (s->u.str.len > MAX_KEY_LEN) return selsa_error(SELSA_ERR_FORMAT, ".pth: class name %lld is too long", (long long)i);
        char *n = malloc(s->u.str.len + 1);
        if (!n) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, ".pth: out of memory for class names");
        memcpy(n, s->u.str.s, s->u.str.len);
        n[s->u.str.len] = '\0';
        w->class_names[w->n_classes++] = n;
    }
    return SELSA_OK;
}

static const char *type_name(pk_type t) {
    static const char *n[] = {"None", "a bool", "an int", "an int", "a float", "a str", "bytes", "a tuple",
                              "a list", "a dict", "a class", "a storage", "a tensor", "an opaque object"};
    return (unsigned)t <= PK_OPAQUE ? n[t] : "?";
}

static selsa_status extract(selsa_weights *w, const pk_obj *top, size_t file_size) {
    if (!top || top->type != PK_DICT)
        return selsa_error(SELSA_ERR_FORMAT, "the checkpoint's top-level object is not a dict but %s (a pickled "
                           "nn.Module? save model.state_dict() instead)", top ? type_name(top->type) : "nothing");
    const pk_obj *sd = pk_dict_get(top, "state_dict");
    if (!sd || sd->type != PK_DICT) sd = pk_dict_get(top, "model");
    if (!sd || sd->type != PK_DICT) sd = top;
    int64_t budget = (int64_t)file_size + WI_EXTRA_FLOATS, skipped = 0;
    for (int64_t i = 0; i + 1 < sd->u.seq.n; i += 2) {
        const pk_obj *k = sd->u.seq.v[i], *v = sd->u.seq.v[i + 1];
        if (v->type != PK_TENSOR || k->type != PK_STR) {
            skipped++;
            continue;
        }
        if (k->u.str.len == 0 || k->u.str.len > MAX_KEY_LEN || memchr(k->u.str.s, 0, k->u.str.len))
            return selsa_error(SELSA_ERR_FORMAT, "state_dict key %lld is empty, too long or contains a NUL byte", (long long)(i / 2));
        SELSA_TRY(add_tensor(w, k->u.str.s, k->u.str.len, v, &budget));
    }
    if (skipped) selsa_log(SELSA_LOG_DEBUG, ".pth: %lld non-tensor state_dict entries skipped", (long long)skipped);
    if (w->count == 0) {
        char keys[300] = "";
        size_t o = 0;
        for (int64_t i = 0; i + 1 < top->u.seq.n && i < 12 && o < sizeof keys; i += 2) {
            const pk_obj *k = top->u.seq.v[i];
            if (k->type == PK_STR)
                o += (size_t)snprintf(keys + o, sizeof keys - o, "%s'%.*s'", o ? ", " : "",
                                      (int)(k->u.str.len > 40 ? 40 : k->u.str.len), k->u.str.s);
        }
        return selsa_error(SELSA_ERR_FORMAT, "no tensors found in the checkpoint (top-level keys: %s)", o ? keys : "none");
    }
    return read_classes(w, top);
}

selsa_status selsa_weights_load_pth_mem(const void *buf, size_t size, selsa_weights *w) {
    if (!buf || !w) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_weights_load_pth_mem: NULL argument");
    selsa_weights_init(w);
    selsa_weights_format fmt = selsa_weights_detect_mem(buf, size);
    if (fmt != SELSA_WEIGHTS_PTH_ZIP && fmt != SELSA_WEIGHTS_PTH_LEGACY)
        return selsa_error(SELSA_ERR_FORMAT, "not a PyTorch checkpoint: neither a zip (PK\\x03\\x04) nor a legacy "
                           "torch.save file (pickle magic number)");
    pk_ctx c;
    pk_ctx_init(&c);
    pk_obj *top = NULL;
    selsa_status s = fmt == SELSA_WEIGHTS_PTH_ZIP ? load_zip(&c, buf, size, &top) : load_legacy(&c, buf, size, &top);
    if (s == SELSA_OK) {
        w->format = fmt;
        s = extract(w, top, size);
        if (s != SELSA_OK) selsa_error_context(s, "%s .pth", fmt == SELSA_WEIGHTS_PTH_ZIP ? "zip" : "legacy");
    }
    pk_ctx_free(&c);
    if (s != SELSA_OK) selsa_weights_free(w); /* container messages already say "zip" / "legacy .pth" */
    return s;
}
