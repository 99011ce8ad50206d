/* Named tensor dictionary (hash-indexed), dtype conversion, format detection by content, lookup
 * with shape checks, used-tensor tracking, the official `*_test` rename and inspection helpers.
 * The format readers live in params.c (MXNet) and pth.c / pickle.c (PyTorch). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/weights_internal.h"

/* ---------------------------------------------------------------- dtypes */

const char *selsa_dtype_name(selsa_dtype t) {
    static const char *names[] = {"f32", "f64", "f16", "bf16", "i64", "i32", "i16",
                                  "i8",  "u8",  "u16", "u32",  "u64", "bool", "unknown"};
    if ((unsigned)t > SELSA_DTYPE_UNKNOWN) return "unknown";
    return names[t];
}

int selsa_dtype_size(selsa_dtype t) {
    switch (t) {
    case SELSA_DTYPE_F64: case SELSA_DTYPE_I64: case SELSA_DTYPE_U64: return 8;
    case SELSA_DTYPE_F32: case SELSA_DTYPE_I32: case SELSA_DTYPE_U32: return 4;
    case SELSA_DTYPE_F16: case SELSA_DTYPE_BF16: case SELSA_DTYPE_I16: case SELSA_DTYPE_U16: return 2;
    case SELSA_DTYPE_I8: case SELSA_DTYPE_U8: case SELSA_DTYPE_BOOL: return 1;
    default: return 0;
    }
}

const char *selsa_weights_format_name(selsa_weights_format f) {
    switch (f) {
    case SELSA_WEIGHTS_MXNET_PARAMS: return "mxnet-params";
    case SELSA_WEIGHTS_PTH_ZIP: return "pth-zip";
    case SELSA_WEIGHTS_PTH_LEGACY: return "pth-legacy";
    default: return "unknown";
    }
}

/* IEEE half -> float, exact (subnormals, inf, NaN kept). */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ffu, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400u));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float selsa_weights_elem(selsa_dtype t, const uint8_t *p) {
    switch (t) {
    case SELSA_DTYPE_F32: { float v; memcpy(&v, p, 4); return v; }
    case SELSA_DTYPE_F64: { double v; memcpy(&v, p, 8); return (float)v; }
    case SELSA_DTYPE_F16: return half_to_float(wi_u16(p));
    case SELSA_DTYPE_BF16: { uint32_t b = (uint32_t)wi_u16(p) << 16; float v; memcpy(&v, &b, 4); return v; }
    case SELSA_DTYPE_I64: return (float)(int64_t)wi_u64(p);
    case SELSA_DTYPE_I32: return (float)(int32_t)wi_u32(p);
    case SELSA_DTYPE_I16: return (float)(int16_t)wi_u16(p);
    case SELSA_DTYPE_I8: return (float)(int8_t)p[0];
    case SELSA_DTYPE_U8: return (float)p[0];
    case SELSA_DTYPE_U16: return (float)wi_u16(p);
    case SELSA_DTYPE_U32: return (float)wi_u32(p);
    case SELSA_DTYPE_U64: return (float)wi_u64(p);
    case SELSA_DTYPE_BOOL: return p[0] ? 1.0f : 0.0f;
    default: return 0.0f;
    }
}

void selsa_weights_convert(selsa_dtype t, const uint8_t *src, int64_t n, float *dst) {
    if (n <= 0) return;
    if (t == SELSA_DTYPE_F32) {
        memcpy(dst, src, (size_t)n * 4);
        return;
    }
    int es = selsa_dtype_size(t);
    for (int64_t i = 0; i < n; i++) dst[i] = selsa_weights_elem(t, src + i * es);
}

/* ---------------------------------------------------------------- file mapping */

selsa_status wi_map_file(const char *path, wi_map *m) {
    static const uint8_t empty[1] = {0};
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return selsa_error(SELSA_ERR_IO, "cannot open weight file %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return selsa_error(SELSA_ERR_IO, "cannot stat %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return selsa_error(SELSA_ERR_IO, "%s is not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        m->buf = empty;
        return SELSA_OK;
    }
    void *a = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (a == MAP_FAILED) return selsa_error(SELSA_ERR_IO, "cannot map %s: %s", path, strerror(e));
    m->addr = a;
    m->buf = a;
    m->size = (size_t)st.st_size;
    return SELSA_OK;
}

void wi_unmap(wi_map *m) {
    if (m->addr) munmap(m->addr, m->size);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------- dictionary */

void selsa_weights_init(selsa_weights *w) { memset(w, 0, sizeof *w); }

void selsa_weights_free(selsa_weights *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->count; i++) {
        free(w->items[i].name);
        free(w->items[i].data);
    }
    free(w->items);
    for (int i = 0; i < w->n_classes; i++) free(w->class_names[i]);
    free(w->class_names);
    free(w->index);
    memset(w, 0, sizeof *w);
}

static uint64_t name_hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

/* Strip "arg:" / "aux:" (MXNet, official-selsa.md §6.1). */
static const char *strip_prefix(const char *name, size_t *len, selsa_weight_kind *kind) {
    selsa_weight_kind k = SELSA_WEIGHT_PLAIN;
    if (*len >= 4 && (memcmp(name, "arg:", 4) == 0 || memcmp(name, "aux:", 4) == 0)) {
        k = name[1] == 'r' ? SELSA_WEIGHT_ARG : SELSA_WEIGHT_AUX;
        name += 4;
        *len -= 4;
    }
    if (kind) *kind = k;
    return name;
}

/* Slot of `name` in the index, or of the empty slot where it would go. */
static int64_t index_slot(const selsa_weights *w, const char *name, size_t len) {
    uint64_t mask = (uint64_t)w->index_cap - 1;
    for (uint64_t s = name_hash(name, len) & mask;; s = (s + 1) & mask) {
        int64_t v = w->index[s];
        if (v == 0) return (int64_t)s;
        const char *n = w->items[v - 1].name;
        if (n && strlen(n) == len && memcmp(n, name, len) == 0) return (int64_t)s;
    }
}

static selsa_status index_rebuild(selsa_weights *w, int64_t cap) {
    int64_t *idx = calloc((size_t)cap, sizeof *idx);
    if (!idx) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "weights: cannot allocate a name index of %lld slots", (long long)cap);
    free(w->index);
    w->index = idx;
    w->index_cap = cap;
    for (int64_t i = 0; i < w->count; i++) {
        const char *n = w->items[i].name;
        w->index[index_slot(w, n, strlen(n))] = i + 1;
    }
    return SELSA_OK;
}

static int64_t find_index(const selsa_weights *w, const char *name, size_t len) {
    if (!w || !w->index_cap) return -1;
    int64_t v = w->index[index_slot(w, name, len)];
    return v - 1;
}

selsa_status selsa_weights_add_owned(selsa_weights *w, const char *name, size_t name_len,
                                     selsa_weight_kind kind, int ndim, const int64_t *dims,
                                     int64_t numel, selsa_dtype src_dtype, float *data,
                                     bool replace) {
    if (ndim < 0 || ndim > SELSA_WEIGHTS_MAX_DIMS) {
        free(data);
        return selsa_error(SELSA_ERR_FORMAT, "tensor '%.*s': %d dimensions (at most %d supported)",
                           (int)(name_len > 200 ? 200 : name_len), name, ndim, SELSA_WEIGHTS_MAX_DIMS);
    }
    int64_t existing = find_index(w, name, name_len);
    if (existing >= 0) {
        if (!replace) {
            free(data);
            return selsa_error(SELSA_ERR_FORMAT, "duplicate tensor name '%.*s'",
                               (int)(name_len > 200 ? 200 : name_len), name);
        }
        selsa_weight *t = &w->items[existing];
        free(t->data);
        t->data = data;
        t->kind = kind;
        t->ndim = ndim;
        memset(t->dims, 0, sizeof t->dims);
        for (int i = 0; i < ndim; i++) t->dims[i] = dims[i];
        t->numel = numel;
        t->src_dtype = src_dtype;
        t->used = false;
        return SELSA_OK;
    }
    if (w->count == w->cap) {
        int64_t cap = w->cap ? w->cap * 2 : 64;
        selsa_weight *items = realloc(w->items, (size_t)cap * sizeof *items);
        if (!items) {
            free(data);
            return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "weights: cannot grow the dictionary to %lld tensors", (long long)cap);
        }
        w->items = items;
        w->cap = cap;
    }
    char *n = malloc(name_len + 1);
    if (!n) {
        free(data);
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "weights: out of memory for a name");
    }
    memcpy(n, name, name_len);
    n[name_len] = '\0';
    selsa_weight *t = &w->items[w->count];
    memset(t, 0, sizeof *t);
    t->name = n;
    t->kind = kind;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->dims[i] = dims[i];
    t->numel = numel;
    t->src_dtype = src_dtype;
    t->data = data;
    w->count++;
    if (w->count * 2 >= w->index_cap) {
        int64_t cap = w->index_cap ? w->index_cap : 128;
        while (w->count * 2 >= cap) cap *= 2;
        selsa_status s = index_rebuild(w, cap);
        if (s != SELSA_OK) {
            w->count--;
            free(t->name);
            free(t->data);
            return s;
        }
    } else {
        w->index[index_slot(w, n, name_len)] = w->count;
    }
    return SELSA_OK;
}

selsa_status selsa_weights_add(selsa_weights *w, const char *name, int ndim, const int64_t *dims,
                               const float *data, selsa_dtype src_dtype) {
    if (!w || !name) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_weights_add: NULL argument");
    if (ndim < 0 || ndim > SELSA_WEIGHTS_MAX_DIMS || (ndim > 0 && !dims))
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_weights_add('%s'): bad ndim %d", name, ndim);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0 || (dims[i] > 0 && numel > INT64_MAX / 4 / dims[i]))
            return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_weights_add('%s'): bad dimension %lld", name, (long long)dims[i]);
        numel *= dims[i];
    }
    if (numel > 0 && !data) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_weights_add('%s'): NULL data", name);
    size_t len = strlen(name);
    selsa_weight_kind kind;
    const char *bare = strip_prefix(name, &len, &kind);
    if (find_index(w, bare, len) >= 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_weights_add: duplicate tensor name '%s'", name);
    float *copy = NULL;
    if (numel > 0) {
        copy = malloc((size_t)numel * sizeof *copy);
        if (!copy) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "selsa_weights_add('%s'): %lld floats", name, (long long)numel);
        memcpy(copy, data, (size_t)numel * sizeof *copy);
    }
    return selsa_weights_add_owned(w, bare, len, kind, ndim, dims, numel, src_dtype, copy, false);
}

/* ---------------------------------------------------------------- detection and dispatch */

selsa_weights_format selsa_weights_detect_mem(const void *buf, size_t size) {
    const uint8_t *p = buf;
    if (!p) return SELSA_WEIGHTS_UNKNOWN;
    if (size >= 8 && wi_u64(p) == 0x112) return SELSA_WEIGHTS_MXNET_PARAMS;
    if (size >= 4 && memcmp(p, "PK\x03\x04", 4) == 0) return SELSA_WEIGHTS_PTH_ZIP;
    if (size >= 4 && memcmp(p, "PK\x05\x06", 4) == 0) return SELSA_WEIGHTS_PTH_ZIP; /* empty zip */
    /* PROTO n, LONG1 len 10: the pickled magic number 0x1950a86a20f9469cfc6c (mmtracking §3.3) */
    if (size >= 4 && p[0] == 0x80 && p[2] == 0x8a && p[3] == 0x0a) return SELSA_WEIGHTS_PTH_LEGACY;
    return SELSA_WEIGHTS_UNKNOWN;
}

selsa_status selsa_weights_detect(const char *path, selsa_weights_format *fmt) {
    if (!path || !fmt) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_weights_detect: NULL argument");
    *fmt = SELSA_WEIGHTS_UNKNOWN;
    FILE *f = fopen(path, "rb");
    if (!f) return selsa_error(SELSA_ERR_IO, "cannot open weight file %s: %s", path, strerror(errno));
    uint8_t head[16];
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    *fmt = selsa_weights_detect_mem(head, n);
    return SELSA_OK;
}

static selsa_status unknown_format(const uint8_t *p, size_t size) {
    char hex[40] = "";
    for (size_t i = 0; i < size && i < 8; i++) snprintf(hex + 3 * i, 4, "%02x ", p[i]);
    return selsa_error(SELSA_ERR_FORMAT,
                       "unrecognised weight file (%zu bytes, starts with %s): expected an MXNet "
                       ".params NDArray list or a PyTorch .pth (zip or legacy torch.save)",
                       size, size ? hex : "nothing");
}

selsa_status selsa_weights_load_mem(const void *buf, size_t size, selsa_weights *w) {
    if (!buf || !w) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_weights_load_mem: NULL argument");
    switch (selsa_weights_detect_mem(buf, size)) {
    case SELSA_WEIGHTS_MXNET_PARAMS: return selsa_weights_load_params_mem(buf, size, w);
    case SELSA_WEIGHTS_PTH_ZIP:
    case SELSA_WEIGHTS_PTH_LEGACY: return selsa_weights_load_pth_mem(buf, size, w);
    default: selsa_weights_init(w); return unknown_format(buf, size);
    }
}

typedef selsa_status (*mem_loader)(const void *, size_t, selsa_weights *);

static selsa_status load_path(const char *path, selsa_weights *w, mem_loader fn) {
    if (!path || !w) return selsa_error(SELSA_ERR_INVALID_ARG, "weights load: NULL argument");
    selsa_weights_init(w);
    wi_map m;
    SELSA_TRY(wi_map_file(path, &m));
    selsa_status s = fn(m.buf, m.size, w);
    wi_unmap(&m);
    if (s != SELSA_OK) return selsa_error_context(s, "loading %s", path);
    return SELSA_OK;
}

selsa_status selsa_weights_load(const char *path, selsa_weights *w) {
    return load_path(path, w, selsa_weights_load_mem);
}
selsa_status selsa_weights_load_params(const char *path, selsa_weights *w) {
    return load_path(path, w, selsa_weights_load_params_mem);
}
selsa_status selsa_weights_load_pth(const char *path, selsa_weights *w) {
    return load_path(path, w, selsa_weights_load_pth_mem);
}

/* ---------------------------------------------------------------- lookup */

static int64_t find_name(const selsa_weights *w, const char *name) {
    if (!w || !name) return -1;
    size_t len = strlen(name);
    int64_t i = find_index(w, name, len);
    if (i >= 0) return i;
    const char *bare = strip_prefix(name, &len, NULL);
    if (bare != name) return find_index(w, bare, len);
    return -1;
}

const selsa_weight *selsa_weights_find(const selsa_weights *w, const char *name) {
    int64_t i = find_name(w, name);
    return i >= 0 ? &w->items[i] : NULL;
}

char *selsa_weight_shape_str(const selsa_weight *t, char *buf, size_t size) {
    if (!buf || size == 0) return buf;
    size_t o = 0;
    buf[0] = '\0';
    o += (size_t)snprintf(buf + o, size - o, "[");
    for (int i = 0; t && i < t->ndim && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, i ? ", %lld" : "%lld", (long long)t->dims[i]);
    if (o < size) snprintf(buf + o, size - o, "]");
    return buf;
}

static void dims_str(int ndim, const int64_t *dims, char *buf, size_t size) {
    size_t o = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && o < size; i++) {
        if (dims[i] < 0) o += (size_t)snprintf(buf + o, size - o, i ? ", *" : "*");
        else o += (size_t)snprintf(buf + o, size - o, i ? ", %lld" : "%lld", (long long)dims[i]);
    }
    if (o < size) snprintf(buf + o, size - o, "]");
}

selsa_status selsa_weights_get_entry(selsa_weights *w, const char *name, int ndim,
                                     const int64_t *dims, const selsa_weight **out) {
    if (!w || !name || !out || (ndim > 0 && !dims))
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_weights_get: NULL argument");
    *out = NULL;
    int64_t i = find_name(w, name);
    if (i < 0)
        return selsa_error(SELSA_ERR_FORMAT, "tensor '%s' is missing from the weight file (%lld tensors present)",
                           name, (long long)w->count);
    selsa_weight *t = &w->items[i];
    if (ndim >= 0) {
        bool ok = t->ndim == ndim;
        for (int d = 0; ok && d < ndim; d++) ok = dims[d] < 0 || dims[d] == t->dims[d];
        if (!ok) {
            char want[200], got[200];
            dims_str(ndim, dims, want, sizeof want);
            selsa_weight_shape_str(t, got, sizeof got);
            return selsa_error(SELSA_ERR_SHAPE, "tensor '%s' has shape %s, expected %s", name, got, want);
        }
    }
    t->used = true;
    *out = t;
    return SELSA_OK;
}

selsa_status selsa_weights_get(selsa_weights *w, const char *name, int ndim, const int64_t *dims,
                               const float **data) {
    if (!data) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_weights_get: NULL data");
    const selsa_weight *t;
    *data = NULL;
    SELSA_TRY(selsa_weights_get_entry(w, name, ndim, dims, &t));
    *data = t->data;
    return SELSA_OK;
}

selsa_status selsa_weights_mark_used(selsa_weights *w, const char *name) {
    int64_t i = find_name(w, name);
    if (i < 0) return selsa_error(SELSA_ERR_FORMAT, "tensor '%s' is missing from the weight file", name ? name : "(null)");
    w->items[i].used = true;
    return SELSA_OK;
}

void selsa_weights_clear_used(selsa_weights *w) {
    for (int64_t i = 0; w && i < w->count; i++) w->items[i].used = false;
}

int64_t selsa_weights_list_unused(const selsa_weights *w, const char **names, int64_t max_names) {
    int64_t n = 0;
    for (int64_t i = 0; w && i < w->count; i++) {
        if (w->items[i].used) continue;
        if (names && n < max_names) names[n] = w->items[i].name;
        n++;
    }
    return n;
}

int64_t selsa_weights_warn_unused(const selsa_weights *w, const char *what) {
    int64_t n = selsa_weights_list_unused(w, NULL, 0);
    if (n == 0) return 0;
    char msg[2048];
    size_t o = (size_t)snprintf(msg, sizeof msg, "%s: %lld unused tensor%s in the weight file:",
                                what ? what : "weights", (long long)n, n == 1 ? "" : "s");
    int64_t shown = 0;
    for (int64_t i = 0; i < w->count && shown < 20 && o < sizeof msg; i++) {
        if (w->items[i].used) continue;
        o += (size_t)snprintf(msg + o, sizeof msg - o, " %s", w->items[i].name);
        shown++;
    }
    if (shown < n && o < sizeof msg) snprintf(msg + o, sizeof msg - o, " ... (%lld more)", (long long)(n - shown));
    selsa_log(SELSA_LOG_WARN, "%s", msg);
    return n;
}

selsa_status selsa_weights_apply_test_rename(selsa_weights *w, int *n_renamed) {
    if (!w) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_weights_apply_test_rename: NULL");
    int renamed = 0;
    bool removed = false;
    for (int64_t i = 0; i < w->count; i++) {
        selsa_weight *t = &w->items[i];
        size_t len = strlen(t->name);
        if (len <= 5 || strcmp(t->name + len - 5, "_test") != 0) continue;
        size_t blen = len - 5;
        int64_t b = find_index(w, t->name, blen);
        if (b >= 0) {
            /* official-selsa.md §6.3: load_param(process=True) overwrites X with X_test */
            selsa_weight *base = &w->items[b];
            free(base->data);
            base->data = t->data;
            base->ndim = t->ndim;
            memcpy(base->dims, t->dims, sizeof base->dims);
            base->numel = t->numel;
            base->src_dtype = t->src_dtype;
            free(t->name);
            t->name = NULL;
            t->data = NULL;
            removed = true;
        } else {
            t->name[blen] = '\0'; /* rename in place; index rebuilt below */
        }
        renamed++;
    }
    if (removed) {
        int64_t o = 0;
        for (int64_t i = 0; i < w->count; i++)
            if (w->items[i].name) w->items[o++] = w->items[i];
        w->count = o;
    }
    if (renamed) SELSA_TRY(index_rebuild(w, w->index_cap ? w->index_cap : 128));
    if (n_renamed) *n_renamed = renamed;
    return SELSA_OK;
}

void selsa_weights_summarize(const selsa_weights *w, selsa_weights_summary *s) {
    memset(s, 0, sizeof *s);
    for (int64_t i = 0; w && i < w->count; i++) {
        const selsa_weight *t = &w->items[i];
        s->count++;
        s->total_numel += t->numel;
        s->total_bytes += t->numel * selsa_dtype_size(t->src_dtype);
        s->f32_bytes += t->numel * (int64_t)sizeof(float);
    }
}
