/* A bounded pickle VM for torch.save files: the opcodes of mmtracking-selsa.md §3.5 (plus the
 * cheap protocol 0-5 extras), GLOBAL/STACK_GLOBAL, REDUCE of torch._utils._rebuild_tensor[_v2],
 * _rebuild_parameter and collections.OrderedDict; any other callable gives an opaque object.
 * Persistent ids ('storage', <torch.XStorage>, key, location, numel[, view_metadata]) become
 * PK_STORAGE objects. Every read is bounds-checked, and depth / memo / stack / object counts are
 * limited (pickle.h), so hostile input yields SELSA_ERR_FORMAT naming the opcode and offset. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/pickle.h"
#include "io/weights_internal.h"

#define CHUNK_OBJS 1024

struct pk_chunk {
    pk_chunk *next;
    int n;
    pk_obj objs[CHUNK_OBJS];
};

void pk_ctx_init(pk_ctx *c) { memset(c, 0, sizeof *c); }

void pk_ctx_free(pk_ctx *c) {
    pk_chunk *ch = c->chunks;
    while (ch) {
        for (int i = 0; i < ch->n; i++) {
            pk_obj *o = &ch->objs[i];
            if (o->type == PK_TUPLE || o->type == PK_LIST || o->type == PK_DICT) free(o->u.seq.v);
        }
        pk_chunk *next = ch->next;
        free(ch);
        ch = next;
    }
    free(c->storages);
    memset(c, 0, sizeof *c);
}

typedef struct vm {
    pk_ctx *c;
    const uint8_t *p;
    size_t size, pos, base_off;
    const char *what;
    size_t op_off; /* offset of the opcode being executed */
    uint8_t op;
    pk_obj **stack;
    int64_t sp, scap;
    int64_t marks[PK_MAX_DEPTH];
    int nmarks;
    pk_obj **memo;
    int64_t memo_cap, memo_count;
} vm;

static selsa_status vm_err(const vm *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static selsa_status vm_err(const vm *v, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return selsa_error(SELSA_ERR_FORMAT, "%s pickle, opcode 0x%02x at offset %zu: %s", v->what, v->op,
                       v->base_off + v->op_off, msg);
}

static pk_obj *new_obj(pk_ctx *c, pk_type t) {
    if (c->n_objects >= PK_MAX_OBJECTS) return NULL;
    if (!c->chunks || c->chunks->n == CHUNK_OBJS) {
        pk_chunk *ch = malloc(sizeof *ch);
        if (!ch) return NULL;
        ch->next = c->chunks;
        ch->n = 0;
        c->chunks = ch;
    }
    pk_obj *o = &c->chunks->objs[c->chunks->n++];
    memset(o, 0, sizeof *o);
    o->type = t;
    o->depth = 1;
    c->n_objects++;
    return o;
}

#define NEW(var, t)                                                                       \
    pk_obj *var = new_obj(v->c, (t));                                                     \
    if (!var)                                                                             \
        return vm_err(v, "too many objects or out of memory (limit %d objects)", PK_MAX_OBJECTS)

static selsa_status push(vm *v, pk_obj *o) {
    if (v->sp == v->scap) {
        if (v->scap >= PK_MAX_STACK) return vm_err(v, "value stack deeper than %d", PK_MAX_STACK);
        int64_t cap = v->scap ? v->scap * 2 : 256;
        pk_obj **s = realloc(v->stack, (size_t)cap * sizeof *s);
        if (!s) return vm_err(v, "out of memory for the value stack");
        v->stack = s;
        v->scap = cap;
    }
    v->stack[v->sp++] = o;
    return SELSA_OK;
}

static int64_t stack_base(const vm *v) { return v->nmarks ? v->marks[v->nmarks - 1] : 0; }

static selsa_status pop(vm *v, pk_obj **o) {
    if (v->sp <= stack_base(v)) return vm_err(v, "stack underflow");
    *o = v->stack[--v->sp];
    return SELSA_OK;
}

static selsa_status top(vm *v, pk_obj **o) {
    if (v->sp <= stack_base(v)) return vm_err(v, "stack underflow");
    *o = v->stack[v->sp - 1];
    return SELSA_OK;
}

/* Items above the last MARK: [*start, v->sp); the mark is removed. Caller resets v->sp. */
static selsa_status pop_mark(vm *v, int64_t *start) {
    if (!v->nmarks) return vm_err(v, "no MARK on the stack");
    *start = v->marks[--v->nmarks];
    return SELSA_OK;
}

static selsa_status seq_append(vm *v, pk_obj *s, pk_obj *item) {
    if (s->u.seq.n == s->u.seq.cap) {
        int64_t cap = s->u.seq.cap ? s->u.seq.cap * 2 : 4;
        pk_obj **a = realloc(s->u.seq.v, (size_t)cap * sizeof *a);
        if (!a) return vm_err(v, "out of memory growing a container");
        s->u.seq.v = a;
        s->u.seq.cap = cap;
    }
    s->u.seq.v[s->u.seq.n++] = item;
    if (item->depth + 1 > s->depth) {
        s->depth = item->depth + 1;
        if (s->depth > PK_MAX_DEPTH) return vm_err(v, "objects nested deeper than %d", PK_MAX_DEPTH);
    }
    return SELSA_OK;
}

static selsa_status make_seq(vm *v, pk_type t, pk_obj **items, int64_t n, pk_obj **out) {
    NEW(o, t);
    for (int64_t i = 0; i < n; i++) SELSA_TRY(seq_append(v, o, items[i]));
    *out = o;
    return SELSA_OK;
}

static selsa_status need(vm *v, size_t n) {
    if (v->size - v->pos < n)
        return vm_err(v, "truncated: needs %zu more bytes, %zu remain", n, v->size - v->pos);
    return SELSA_OK;
}

/* A text line (without its '\n') of at most `max` bytes. */
static selsa_status read_line(vm *v, size_t max, const char **s, size_t *len) {
    size_t avail = v->size - v->pos;
    const uint8_t *nl = memchr(v->p + v->pos, '\n', avail < max + 1 ? avail : max + 1);
    if (!nl) return vm_err(v, "unterminated text argument (longer than %zu bytes or truncated)", max);
    *s = (const char *)v->p + v->pos;
    *len = (size_t)(nl - (v->p + v->pos));
    v->pos += *len + 1;
    return SELSA_OK;
}

static selsa_status push_str(vm *v, pk_type t, size_t len) {
    if (len > PK_MAX_STR) return vm_err(v, "string of %zu bytes exceeds the %zu limit", len, PK_MAX_STR);
    SELSA_TRY(need(v, len));
    NEW(o, t);
    o->u.str.s = (const char *)v->p + v->pos;
    o->u.str.len = len;
    v->pos += len;
    return push(v, o);
}

static selsa_status push_long(vm *v, size_t n) {
    SELSA_TRY(need(v, n));
    const uint8_t *b = v->p + v->pos;
    v->pos += n;
    if (n <= 8) {
        uint64_t u = 0;
        for (size_t i = 0; i < n; i++) u |= (uint64_t)b[i] << (8 * i);
        if (n > 0 && n < 8 && (b[n - 1] & 0x80)) u |= ~0ull << (8 * n); /* sign-extend */
        NEW(o, PK_INT);
        o->u.i = (int64_t)u;
        return push(v, o);
    }
    NEW(o, PK_BIGINT);
    o->u.str.s = (const char *)b;
    o->u.str.len = n;
    return push(v, o);
}

static selsa_status push_int(vm *v, int64_t i) {
    NEW(o, PK_INT);
    o->u.i = i;
    return push(v, o);
}

static selsa_status memo_put(vm *v, uint64_t idx) {
    if (idx >= PK_MAX_MEMO) return vm_err(v, "memo index %llu exceeds the limit %d", (unsigned long long)idx, PK_MAX_MEMO);
    pk_obj *o = NULL;
    SELSA_TRY(top(v, &o));
    if ((int64_t)idx >= v->memo_cap) {
        int64_t cap = v->memo_cap ? v->memo_cap : 64;
        while (cap <= (int64_t)idx) cap *= 2;
        pk_obj **m = realloc(v->memo, (size_t)cap * sizeof *m);
        if (!m) return vm_err(v, "out of memory for the memo");
        memset(m + v->memo_cap, 0, (size_t)(cap - v->memo_cap) * sizeof *m);
        v->memo = m;
        v->memo_cap = cap;
    }
    if (!v->memo[idx]) v->memo_count++;
    v->memo[idx] = o;
    return SELSA_OK;
}

static selsa_status memo_get(vm *v, uint64_t idx) {
    if ((int64_t)idx >= v->memo_cap || idx >= PK_MAX_MEMO || !v->memo[idx])
        return vm_err(v, "memo entry %llu was never stored", (unsigned long long)idx);
    return push(v, v->memo[idx]);
}

static bool glob_is(const pk_obj *g, const char *mod, const char *name) {
    return g && g->type == PK_GLOBAL && g->u.glob.mod_len == strlen(mod) &&
           memcmp(g->u.glob.mod, mod, g->u.glob.mod_len) == 0 && g->u.glob.name_len == strlen(name) &&
           memcmp(g->u.glob.name, name, g->u.glob.name_len) == 0;
}

bool pk_is_str(const pk_obj *o, const char *s) {
    return o && o->type == PK_STR && o->u.str.len == strlen(s) && memcmp(o->u.str.s, s, o->u.str.len) == 0;
}

const pk_obj *pk_dict_get(const pk_obj *d, const char *key) {
    if (!d || d->type != PK_DICT) return NULL;
    const pk_obj *r = NULL;
    for (int64_t i = 0; i + 1 < d->u.seq.n; i += 2)
        if (pk_is_str(d->u.seq.v[i], key)) r = d->u.seq.v[i + 1];
    return r;
}

/* torch storage class name -> dtype (mmtracking-selsa.md §3.5). */
static selsa_dtype storage_dtype(const pk_obj *g) {
    static const struct { const char *name; selsa_dtype t; } map[] = {
        {"FloatStorage", SELSA_DTYPE_F32}, {"DoubleStorage", SELSA_DTYPE_F64},
        {"HalfStorage", SELSA_DTYPE_F16},  {"BFloat16Storage", SELSA_DTYPE_BF16},
        {"LongStorage", SELSA_DTYPE_I64},  {"IntStorage", SELSA_DTYPE_I32},
        {"ShortStorage", SELSA_DTYPE_I16}, {"CharStorage", SELSA_DTYPE_I8},
        {"ByteStorage", SELSA_DTYPE_U8},   {"BoolStorage", SELSA_DTYPE_BOOL},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (glob_is(g, "torch", map[i].name)) return map[i].t;
    return SELSA_DTYPE_UNKNOWN;
}

static selsa_status persistent_load(vm *v, pk_obj *pid, pk_obj **out) {
    if (pid->type != PK_TUPLE || pid->u.seq.n < 1 || !pk_is_str(pid->u.seq.v[0], "storage")) {
        NEW(o, PK_OPAQUE); /* not a storage: keep it opaque */
        *out = o;
        return SELSA_OK;
    }
    pk_obj **a = pid->u.seq.v;
    int64_t n = pid->u.seq.n;
    if (n < 5 || n > 6 || a[1]->type != PK_GLOBAL || a[2]->type != PK_STR || a[4]->type != PK_INT ||
        a[4]->u.i < 0)
        return vm_err(v, "malformed storage persistent id (want ('storage', class, key, location, numel[, view]))");
    NEW(o, PK_STORAGE);
    o->u.storage.dtype = storage_dtype(a[1]);
    o->u.storage.cls = a[1];
    o->u.storage.key = a[2]->u.str.s;
    o->u.storage.key_len = a[2]->u.str.len;
    o->u.storage.numel = a[4]->u.i;
    if (n == 6 && a[5]->type != PK_NONE) {
        /* legacy view_metadata = (view_key, offset, size): a view into the root storage */
        const pk_obj *vm_ = a[5];
        if (vm_->type != PK_TUPLE || vm_->u.seq.n != 3 || vm_->u.seq.v[1]->type != PK_INT ||
            vm_->u.seq.v[1]->u.i < 0)
            return vm_err(v, "malformed storage view metadata");
        o->u.storage.view_offset = vm_->u.seq.v[1]->u.i;
    }
    pk_ctx *c = v->c;
    if (c->n_storages == c->cap_storages) {
        int64_t cap = c->cap_storages ? c->cap_storages * 2 : 64;
        pk_obj **s = realloc(c->storages, (size_t)cap * sizeof *s);
        if (!s) return vm_err(v, "out of memory for storages");
        c->storages = s;
        c->cap_storages = cap;
    }
    c->storages[c->n_storages++] = o;
    *out = o;
    return SELSA_OK;
}

static bool is_int_tuple(const pk_obj *o) {
    if (!o || (o->type != PK_TUPLE && o->type != PK_LIST)) return false;
    for (int64_t i = 0; i < o->u.seq.n; i++)
        if (o->u.seq.v[i]->type != PK_INT) return false;
    return true;
}

/* REDUCE: callable(*args). */
static selsa_status reduce(vm *v, pk_obj *fn, pk_obj *args, pk_obj **out) {
    if (args->type != PK_TUPLE) return vm_err(v, "REDUCE arguments are not a tuple");
    pk_obj **a = args->u.seq.v;
    int64_t n = args->u.seq.n;
    if (glob_is(fn, "torch._utils", "_rebuild_tensor_v2") || glob_is(fn, "torch._utils", "_rebuild_tensor")) {
        /* (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]]) */
        if (n < 4 || a[0]->type != PK_STORAGE || a[1]->type != PK_INT || !is_int_tuple(a[2]) ||
            !is_int_tuple(a[3]))
            return vm_err(v, "malformed _rebuild_tensor arguments (want storage, offset, size tuple, stride tuple)");
        NEW(t, PK_TENSOR);
        t->u.tensor.storage = a[0];
        t->u.tensor.offset = a[1]->u.i;
        t->u.tensor.size = a[2];
        t->u.tensor.stride = a[3];
        *out = t;
        return SELSA_OK;
    }
    if ((glob_is(fn, "torch._utils", "_rebuild_parameter") ||
         glob_is(fn, "torch._utils", "_rebuild_parameter_with_state")) && n >= 1 && a[0]->type == PK_TENSOR) {
        *out = a[0];
        return SELSA_OK;
    }
    if (glob_is(fn, "collections", "OrderedDict") && (n == 0 || (n == 1 && a[0]->type == PK_LIST))) {
        NEW(d, PK_DICT);
        for (int64_t i = 0; n == 1 && i < a[0]->u.seq.n; i++) {
            pk_obj *pair = a[0]->u.seq.v[i];
            if ((pair->type != PK_TUPLE && pair->type != PK_LIST) || pair->u.seq.n != 2)
                return vm_err(v, "OrderedDict item %lld is not a pair", (long long)i);
            SELSA_TRY(seq_append(v, d, pair->u.seq.v[0]));
            SELSA_TRY(seq_append(v, d, pair->u.seq.v[1]));
        }
        *out = d;
        return SELSA_OK;
    }
    NEW(o, PK_OPAQUE); /* unknown callable (e.g. numpy scalar in meta): opaque, not an error */
    o->depth = args->depth + 1;
    if (o->depth > PK_MAX_DEPTH) return vm_err(v, "objects nested deeper than %d", PK_MAX_DEPTH);
    *out = o;
    return SELSA_OK;
}

static selsa_status add_items(vm *v, pk_obj *target, pk_obj **items, int64_t n, bool pairs) {
    if (pairs && (n % 2)) return vm_err(v, "odd number of items for SETITEMS");
    if (target->type == PK_OPAQUE) return SELSA_OK; /* state of an unknown object: ignored */
    if (pairs && target->type != PK_DICT) return vm_err(v, "SETITEM(S) on a non-dict");
    if (!pairs && target->type != PK_LIST) return vm_err(v, "APPEND(S)/ADDITEMS on a non-list");
    for (int64_t i = 0; i < n; i++) SELSA_TRY(seq_append(v, target, items[i]));
    return SELSA_OK;
}

static selsa_status step(vm *v, bool *stop, pk_obj **result) {
    v->op_off = v->pos;
    SELSA_TRY(need(v, 1));
    uint8_t op = v->p[v->pos++];
    v->op = op;
    const uint8_t *q = v->p + v->pos;
    pk_obj *a = NULL, *b = NULL, *o = NULL;
    int64_t start = 0;
    const char *s1 = NULL, *s2 = NULL;
    size_t l1 = 0, l2 = 0;
    switch (op) {
    case 0x80: /* PROTO */
        SELSA_TRY(need(v, 1));
        if (q[0] > 5) return vm_err(v, "unsupported pickle protocol %d", q[0]);
        v->pos += 1;
        return SELSA_OK;
    case 0x95: /* FRAME: length only, frames are not needed for an in-memory reader */
        SELSA_TRY(need(v, 8));
        v->pos += 8;
        return SELSA_OK;
    case '.': /* STOP */
        SELSA_TRY(pop(v, result));
        *stop = true;
        return SELSA_OK;
    case '(': /* MARK */
        if (v->nmarks >= PK_MAX_DEPTH) return vm_err(v, "MARKs nested deeper than %d", PK_MAX_DEPTH);
        v->marks[v->nmarks++] = v->sp;
        return SELSA_OK;
    case '0': /* POP (pops a MARK when the stack above it is empty, as CPython does) */
        if (v->sp == stack_base(v) && v->nmarks) {
            v->nmarks--;
            return SELSA_OK;
        }
        return pop(v, &a);
    case '1': /* POP_MARK */
        SELSA_TRY(pop_mark(v, &start));
        v->sp = start;
        return SELSA_OK;
    case '2': /* DUP */
        SELSA_TRY(top(v, &a));
        return push(v, a);
    case 'N': { NEW(n, PK_NONE); return push(v, n); }
    case 0x88: case 0x89: { NEW(n, PK_BOOL); n->u.b = op == 0x88; return push(v, n); }
    case 'J': SELSA_TRY(need(v, 4)); v->pos += 4; return push_int(v, (int32_t)wi_u32(q));
    case 'K': SELSA_TRY(need(v, 1)); v->pos += 1; return push_int(v, q[0]);
    case 'M': SELSA_TRY(need(v, 2)); v->pos += 2; return push_int(v, wi_u16(q));
    case 0x8a: /* LONG1 */
        SELSA_TRY(need(v, 1));
        v->pos += 1;
        return push_long(v, q[0]);
    case 0x8b: { /* LONG4 */
        SELSA_TRY(need(v, 4));
        int32_t n = (int32_t)wi_u32(q);
        v->pos += 4;
        if (n < 0) return vm_err(v, "negative LONG4 length");
        return push_long(v, (size_t)n);
    }
    case 'I': case 'L': { /* INT / LONG (text) */
        char buf[40];
        SELSA_TRY(read_line(v, 32, &s1, &l1));
        if (l1 && s1[l1 - 1] == 'L') l1--;
        memcpy(buf, s1, l1);
        buf[l1] = '\0';
        if (op == 'I' && (strcmp(buf, "00") == 0 || strcmp(buf, "01") == 0)) {
            NEW(n, PK_BOOL);
            n->u.b = buf[1] == '1';
            return push(v, n);
        }
        char *end;
        long long x = strtoll(buf, &end, 10);
        if (l1 == 0 || *end) return vm_err(v, "bad integer literal");
        return push_int(v, x);
    }
    case 'G': { /* BINFLOAT: big-endian double */
        SELSA_TRY(need(v, 8));
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = (u << 8) | q[i];
        v->pos += 8;
        NEW(n, PK_FLOAT);
        memcpy(&n->u.f, &u, 8);
        return push(v, n);
    }
    case 'F': { /* FLOAT (text) */
        char buf[72];
        SELSA_TRY(read_line(v, 64, &s1, &l1));
        memcpy(buf, s1, l1);
        buf[l1] = '\0';
        NEW(n, PK_FLOAT);
        n->u.f = strtod(buf, NULL);
        return push(v, n);
    }
    case 'X': SELSA_TRY(need(v, 4)); v->pos += 4; return push_str(v, PK_STR, wi_u32(q));
    case 0x8c: SELSA_TRY(need(v, 1)); v->pos += 1; return push_str(v, PK_STR, q[0]);
    case 0x8d: { /* BINUNICODE8 */
        SELSA_TRY(need(v, 8));
        uint64_t n = wi_u64(q);
        v->pos += 8;
        if (n > PK_MAX_STR) return vm_err(v, "string of %llu bytes exceeds the limit", (unsigned long long)n);
        return push_str(v, PK_STR, (size_t)n);
    }
    case 'T': { /* BINSTRING (protocol 1, python 2 str) */
        SELSA_TRY(need(v, 4));
        int32_t n = (int32_t)wi_u32(q);
        v->pos += 4;
        if (n < 0) return vm_err(v, "negative BINSTRING length");
        return push_str(v, PK_STR, (size_t)n);
    }
    case 'U': SELSA_TRY(need(v, 1)); v->pos += 1; return push_str(v, PK_STR, q[0]);
    case 'B': SELSA_TRY(need(v, 4)); v->pos += 4; return push_str(v, PK_BYTES, wi_u32(q));
    case 'C': SELSA_TRY(need(v, 1)); v->pos += 1; return push_str(v, PK_BYTES, q[0]);
    case 0x8e: case 0x96: { /* BINBYTES8, BYTEARRAY8 */
        SELSA_TRY(need(v, 8));
        uint64_t n = wi_u64(q);
        v->pos += 8;
        if (n > PK_MAX_STR) return vm_err(v, "bytes of %llu exceed the limit", (unsigned long long)n);
        return push_str(v, PK_BYTES, (size_t)n);
    }
    case '}': { NEW(n, PK_DICT); return push(v, n); }
    case ']': case 0x8f: { NEW(n, PK_LIST); return push(v, n); } /* EMPTY_LIST, EMPTY_SET */
    case ')': { NEW(n, PK_TUPLE); return push(v, n); }
    case 'd': case 'l': case 't': case 0x91: { /* DICT, LIST, TUPLE, FROZENSET */
        SELSA_TRY(pop_mark(v, &start));
        int64_t n = v->sp - start;
        if (op == 'd' && (n % 2)) return vm_err(v, "odd number of items for DICT");
        pk_type t = op == 'd' ? PK_DICT : op == 't' ? PK_TUPLE : PK_LIST;
        SELSA_TRY(make_seq(v, t, v->stack + start, n, &o));
        v->sp = start;
        return push(v, o);
    }
    case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
        int64_t n = op - 0x84;
        if (v->sp - stack_base(v) < n) return vm_err(v, "stack underflow");
        SELSA_TRY(make_seq(v, PK_TUPLE, v->stack + v->sp - n, n, &o));
        v->sp -= n;
        return push(v, o);
    }
    case 'a': /* APPEND */
        SELSA_TRY(pop(v, &a));
        SELSA_TRY(top(v, &b));
        return add_items(v, b, &a, 1, false);
    case 'e': case 0x90: /* APPENDS, ADDITEMS */
        SELSA_TRY(pop_mark(v, &start));
        if (start < 1 || start <= stack_base(v)) return vm_err(v, "stack underflow");
        SELSA_TRY(add_items(v, v->stack[start - 1], v->stack + start, v->sp - start, false));
        v->sp = start;
        return SELSA_OK;
    case 's': { /* SETITEM */
        pk_obj *val = NULL, *key = NULL;
        SELSA_TRY(pop(v, &val));
        SELSA_TRY(pop(v, &key));
        SELSA_TRY(top(v, &b));
        pk_obj *kv[2] = {key, val};
        return add_items(v, b, kv, 2, true);
    }
    case 'u': /* SETITEMS */
        SELSA_TRY(pop_mark(v, &start));
        if (start < 1 || start <= stack_base(v)) return vm_err(v, "stack underflow");
        SELSA_TRY(add_items(v, v->stack[start - 1], v->stack + start, v->sp - start, true));
        v->sp = start;
        return SELSA_OK;
    case 'c': { /* GLOBAL module\nname\n */
        SELSA_TRY(read_line(v, 256, &s1, &l1));
        SELSA_TRY(read_line(v, 256, &s2, &l2));
        NEW(g, PK_GLOBAL);
        g->u.glob.mod = s1;
        g->u.glob.mod_len = l1;
        g->u.glob.name = s2;
        g->u.glob.name_len = l2;
        return push(v, g);
    }
    case 0x93: { /* STACK_GLOBAL */
        SELSA_TRY(pop(v, &b));
        SELSA_TRY(pop(v, &a));
        if (a->type != PK_STR || b->type != PK_STR) return vm_err(v, "STACK_GLOBAL needs two strings");
        NEW(g, PK_GLOBAL);
        g->u.glob.mod = a->u.str.s;
        g->u.glob.mod_len = a->u.str.len;
        g->u.glob.name = b->u.str.s;
        g->u.glob.name_len = b->u.str.len;
        return push(v, g);
    }
    case 'R': /* REDUCE */
        SELSA_TRY(pop(v, &b));
        SELSA_TRY(pop(v, &a));
        SELSA_TRY(reduce(v, a, b, &o));
        return push(v, o);
    case 0x81: case 0x92: { /* NEWOBJ, NEWOBJ_EX: an instance of some class -> opaque */
        if (op == 0x92) SELSA_TRY(pop(v, &a));
        SELSA_TRY(pop(v, &a));
        SELSA_TRY(pop(v, &b));
        NEW(n, PK_OPAQUE);
        return push(v, n);
    }
    case 'b': /* BUILD: set state; a no-op for dicts (OrderedDict._metadata), tensors, opaque */
        SELSA_TRY(pop(v, &a));
        return top(v, &b);
    case 'Q': /* BINPERSID */
        SELSA_TRY(pop(v, &a));
        SELSA_TRY(persistent_load(v, a, &o));
        return push(v, o);
    case 'P': { /* PERSID (text): never a torch storage */
        SELSA_TRY(read_line(v, 256, &s1, &l1));
        NEW(n, PK_OPAQUE);
        return push(v, n);
    }
    case 'q': SELSA_TRY(need(v, 1)); v->pos += 1; return memo_put(v, q[0]);
    case 'r': SELSA_TRY(need(v, 4)); v->pos += 4; return memo_put(v, wi_u32(q));
    case 0x94: return memo_put(v, (uint64_t)v->memo_count); /* MEMOIZE */
    case 'h': SELSA_TRY(need(v, 1)); v->pos += 1; return memo_get(v, q[0]);
    case 'j': SELSA_TRY(need(v, 4)); v->pos += 4; return memo_get(v, wi_u32(q));
    case 'p': case 'g': { /* PUT / GET (text) */
        char buf[24], *end;
        SELSA_TRY(read_line(v, 20, &s1, &l1));
        memcpy(buf, s1, l1);
        buf[l1] = '\0';
        unsigned long long idx = strtoull(buf, &end, 10);
        if (l1 == 0 || *end) return vm_err(v, "bad memo index");
        return op == 'p' ? memo_put(v, idx) : memo_get(v, idx);
    }
    default:
        return vm_err(v, "unknown or unsupported pickle opcode");
    }
}

selsa_status pk_run(pk_ctx *c, const uint8_t *buf, size_t size, size_t *pos, size_t base_off,
                    const char *what, pk_obj **result) {
    vm *v = calloc(1, sizeof *v);
    if (!v) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "%s pickle: out of memory", what);
    v->c = c;
    v->p = buf;
    v->size = size;
    v->pos = *pos;
    v->base_off = base_off;
    v->what = what;
    *result = NULL;
    bool stop = false;
    selsa_status s = SELSA_OK;
    while (!stop && s == SELSA_OK) {
        if (v->pos >= v->size) {
            v->op_off = v->pos;
            s = vm_err(v, "truncated: the pickle ends without STOP");
            break;
        }
        s = step(v, &stop, result);
    }
    if (s == SELSA_OK) *pos = v->pos;
    free(v->stack);
    free(v->memo);
    free(v);
    return s;
}
