/* Strict, iterative JSON reader (flat DOM) and writer helpers. See include/selsa/json.h for the
 * accepted grammar and the error format.
 *
 * Invariants:
 *   - the parser never recurses: open containers live in doc->stack (bounded by max_depth);
 *   - decoded string bytes never outnumber the raw bytes consumed (escapes shrink, a closing
 *     quote pays for each NUL terminator), so the string pool is sized once to len + 1;
 *   - number conversion and formatting use the "C" locale (strtod_l / uselocale), so a host
 *     program's setlocale(LC_NUMERIC, "de_DE") cannot turn "0.5" into 0 or write "0,5". */
#include "selsa/json.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ C locale -------------- */

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void c_locale_init(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

static locale_t get_c_locale(void) {
    pthread_once(&c_locale_once, c_locale_init);
    return c_locale;
}

/* strtod of a NUL-terminated buffer in the C locale. */
static double c_strtod(const char *s, char **end) {
    locale_t l = get_c_locale();
    return l ? strtod_l(s, end, l) : strtod(s, end);
}

/* ------------------------------------------------------------------ doc ------------------- */

void selsa_json_doc_init(selsa_json_doc *doc) { memset(doc, 0, sizeof *doc); }

void selsa_json_doc_free(selsa_json_doc *doc) {
    if (!doc) return;
    free(doc->nodes);
    free(doc->strings);
    free(doc->stack);
    free(doc->keys);
    memset(doc, 0, sizeof *doc);
}

const char *selsa_json_type_name(selsa_json_type t) {
    static const char *names[] = {"null", "false", "true", "number", "string", "array", "object"};
    return ((unsigned)t < sizeof names / sizeof names[0]) ? names[t] : "?";
}

void selsa_json_linecol(const char *text, size_t len, size_t offset, int64_t first_line,
                        int64_t *line, int64_t *col) {
    int64_t ln = first_line > 0 ? first_line : 1, c = 1;
    if (offset > len) offset = len;
    for (size_t i = 0; i < offset; i++) {
        unsigned char b = (unsigned char)text[i];
        if (b == '\n') {
            ln++;
            c = 1;
        } else if ((b & 0xC0) != 0x80) {
            c++; /* count code points: continuation bytes do not start a column */
        }
    }
    *line = ln;
    *col = c;
}

static selsa_status verror_at(const selsa_json_doc *doc, size_t offset, selsa_status s,
                              const char *fmt, va_list ap) {
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    int64_t line = 1, col = 1;
    if (doc->text) selsa_json_linecol(doc->text, doc->text_len, offset, doc->first_line, &line, &col);
    return selsa_error(s, "%s:%lld:%lld: %s", doc->what ? doc->what : "JSON", (long long)line,
                       (long long)col, msg);
}

selsa_status selsa_json_error_at(const selsa_json_doc *doc, const selsa_json_node *n,
                                 selsa_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    selsa_status r = verror_at(doc, n ? n->offset : 0, s, fmt, ap);
    va_end(ap);
    return r;
}

const selsa_json_node *selsa_json_root(const selsa_json_doc *doc) {
    return doc && doc->n_nodes ? &doc->nodes[0] : NULL;
}

const char *selsa_json_str(const selsa_json_doc *doc, const selsa_json_node *n) {
    return (n && n->type == SELSA_JSON_STRING) ? doc->strings + n->str : NULL;
}

const selsa_json_node *selsa_json_child(const selsa_json_doc *doc, const selsa_json_node *n) {
    if (!n || (n->type != SELSA_JSON_ARRAY && n->type != SELSA_JSON_OBJECT) || n->count == 0)
        return NULL;
    return n + 1;
}

const selsa_json_node *selsa_json_next(const selsa_json_doc *doc, const selsa_json_node *n) {
    if (!n || n->end >= doc->n_nodes) return NULL;
    return &doc->nodes[n->end];
}

const selsa_json_node *selsa_json_get(const selsa_json_doc *doc, const selsa_json_node *obj,
                                      const char *key) {
    if (!obj || obj->type != SELSA_JSON_OBJECT || !key) return NULL;
    size_t klen = strlen(key);
    const selsa_json_node *k = selsa_json_child(doc, obj);
    for (size_t m = 0; m < obj->count && k; m++) {
        if (k->count == klen && memcmp(doc->strings + k->str, key, klen) == 0) return k + 1;
        k = selsa_json_next(doc, k + 1);
    }
    return NULL;
}

/* ------------------------------------------------------------------ parser ---------------- */

typedef struct parser {
    selsa_json_doc *doc;
    const unsigned char *s;
    size_t n, p;
    int max_depth;
} parser;

static selsa_status perr(parser *ps, size_t off, bool eof, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static selsa_status perr(parser *ps, size_t off, bool eof, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    selsa_status r = verror_at(ps->doc, off, SELSA_ERR_FORMAT, fmt, ap);
    va_end(ap);
    ps->doc->eof_error = eof;
    return r;
}

/* Printable description of the byte at p ("'x'", "byte 0xC3", "end of input"). */
static const char *describe(const parser *ps, size_t p, char *buf, size_t cap) {
    if (p >= ps->n) return "end of input";
    unsigned char c = ps->s[p];
    if (c >= 0x20 && c < 0x7f) snprintf(buf, cap, "'%c'", c);
    else snprintf(buf, cap, "byte 0x%02X", c);
    return buf;
}

static void skip_ws(parser *ps) {
    while (ps->p < ps->n) {
        unsigned char c = ps->s[ps->p];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        ps->p++;
    }
}

static selsa_status new_node(parser *ps, selsa_json_type t, size_t off, size_t *idx) {
    selsa_json_doc *d = ps->doc;
    if (d->n_nodes == d->cap_nodes) {
        size_t nc = d->cap_nodes ? d->cap_nodes * 2 : 64;
        selsa_json_node *q = realloc(d->nodes, nc * sizeof *q);
        if (!q) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "%s: no memory for %zu JSON values",
                                   d->what ? d->what : "JSON", nc);
        d->nodes = q;
        d->cap_nodes = nc;
    }
    *idx = d->n_nodes++;
    selsa_json_node *nd = &d->nodes[*idx];
    memset(nd, 0, sizeof *nd);
    nd->type = t;
    nd->offset = off;
    nd->end = *idx + 1;
    return SELSA_OK;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits at p into *v. */
static selsa_status read_hex4(parser *ps, size_t p, unsigned *v) {
    unsigned x = 0;
    for (int i = 0; i < 4; i++) {
        if (p + (size_t)i >= ps->n)
            return perr(ps, p + (size_t)i, true, "unexpected end of input in a \\u escape");
        int h = hexval(ps->s[p + (size_t)i]);
        if (h < 0) {
            char b[16];
            return perr(ps, p + (size_t)i, false, "invalid \\u escape: %s is not a hex digit",
                        describe(ps, p + (size_t)i, b, sizeof b));
        }
        x = x * 16 + (unsigned)h;
    }
    *v = x;
    return SELSA_OK;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length (1..4) of the valid UTF-8 sequence at s[0 .. n), 0 if invalid, or -1 if it is a valid
 * prefix cut by the end of the buffer. */
static int utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    int len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) len = 3, lo = 0xA0;            /* no overlong 3-byte forms */
    else if (c == 0xED) len = 3, hi = 0x9F;            /* no UTF-16 surrogates */
    else if (c >= 0xE1 && c <= 0xEF) len = 3;
    else if (c == 0xF0) len = 4, lo = 0x90;            /* no overlong 4-byte forms */
    else if (c == 0xF4) len = 4, hi = 0x8F;            /* <= U+10FFFF */
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else return 0;
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n) return -1;
        unsigned char b = s[i];
        if (i == 1 ? (b < lo || b > hi) : ((b & 0xC0) != 0x80)) return 0;
    }
    return len;
}

/* A string starting at the quote at ps->p; decoded into the pool; node index in *idx. */
static selsa_status parse_string(parser *ps, size_t *idx) {
    selsa_json_doc *d = ps->doc;
    size_t start = ps->p;
    if (!d->strings || d->cap_strings < ps->n + 1) {
        /* decoded bytes + terminators never exceed the raw length (see the file comment) */
        char *q = realloc(d->strings, ps->n + 1);
        if (!q) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "%s: no memory for JSON strings",
                                   d->what ? d->what : "JSON");
        d->strings = q;
        d->cap_strings = ps->n + 1;
    }
    SELSA_TRY(new_node(ps, SELSA_JSON_STRING, start, idx));
    size_t o0 = d->n_strings, o = o0;
    char *out = d->strings;
    size_t p = start + 1;
    for (;;) {
        if (p >= ps->n) return perr(ps, p, true, "unexpected end of input inside a string");
        unsigned char c = ps->s[p];
        if (c == '"') {
            p++;
            break;
        }
        if (c < 0x20)
            return perr(ps, p, false, "control character 0x%02X in a string (must be escaped)", c);
        if (c == '\\') {
            if (p + 1 >= ps->n) return perr(ps, p + 1, true, "unexpected end of input in an escape");
            unsigned char e = ps->s[p + 1];
            char simple = 0;
            switch (e) {
            case '"': simple = '"'; break;
            case '\\': simple = '\\'; break;
            case '/': simple = '/'; break;
            case 'b': simple = '\b'; break;
            case 'f': simple = '\f'; break;
            case 'n': simple = '\n'; break;
            case 'r': simple = '\r'; break;
            case 't': simple = '\t'; break;
            case 'u': break;
            default: {
                char b[16];
                return perr(ps, p, false, "invalid escape \\%s in a string",
                            e >= 0x20 && e < 0x7f ? (snprintf(b, sizeof b, "%c", e), b)
                                                  : (snprintf(b, sizeof b, "<0x%02X>", e), b));
            }
            }
            if (simple) {
                out[o++] = simple;
                p += 2;
                continue;
            }
            unsigned cp;
            SELSA_TRY(read_hex4(ps, p + 2, &cp));
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return perr(ps, p, false, "lone low surrogate \\u%04X in a string", cp);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                size_t q = p + 6;
                if (q >= ps->n || (ps->s[q] == '\\' && q + 1 >= ps->n))
                    return perr(ps, q, true, "unexpected end of input after high surrogate "
                                "\\u%04X", cp);
                if (ps->s[q] != '\\' || ps->s[q + 1] != 'u')
                    return perr(ps, p, false, "lone high surrogate \\u%04X in a string (must be "
                                "followed by a \\uDC00-\\uDFFF escape)", cp);
                unsigned lo;
                SELSA_TRY(read_hex4(ps, q + 2, &lo));
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return perr(ps, p, false, "high surrogate \\u%04X followed by \\u%04X, not a "
                                "low surrogate \\uDC00-\\uDFFF", cp, lo);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p = q + 6;
            } else {
                p += 6;
            }
            o += put_utf8(out + o, cp);
            continue;
        }
        int k = utf8_len(ps->s + p, ps->n - p);
        if (k < 0) return perr(ps, ps->n, true, "unexpected end of input inside a UTF-8 sequence");
        if (k == 0) return perr(ps, p, false, "invalid UTF-8 byte 0x%02X in a string", c);
        memcpy(out + o, ps->s + p, (size_t)k);
        o += (size_t)k;
        p += (size_t)k;
    }
    out[o] = '\0';
    d->n_strings = o + 1;
    selsa_json_node *nd = &d->nodes[*idx];
    nd->str = o0;
    nd->count = o - o0;
    ps->p = p;
    return SELSA_OK;
}

/* A number starting at ps->p (which holds '-' or a digit). */
static selsa_status parse_number(parser *ps, size_t *idx) {
    size_t start = ps->p, p = start;
    const unsigned char *s = ps->s;
    bool integer = true;
    char b[16];
    if (p < ps->n && s[p] == '-') p++;
    if (p >= ps->n) return perr(ps, p, true, "unexpected end of input in a number");
    if (s[p] == '0') {
        p++;
        if (p < ps->n && s[p] >= '0' && s[p] <= '9')
            return perr(ps, p, false, "leading zero in a number");
    } else if (s[p] >= '1' && s[p] <= '9') {
        while (p < ps->n && s[p] >= '0' && s[p] <= '9') p++;
    } else if (s[p] == 'I') {
        return perr(ps, start, false, "Infinity is not a JSON number");
    } else {
        return perr(ps, p, false, "expected a digit in a number, got %s", describe(ps, p, b, sizeof b));
    }
    if (p < ps->n && s[p] == '.') {
        integer = false;
        p++;
        if (p >= ps->n) return perr(ps, p, true, "unexpected end of input in a number");
        if (!(s[p] >= '0' && s[p] <= '9'))
            return perr(ps, p, false, "expected a digit after '.', got %s", describe(ps, p, b, sizeof b));
        while (p < ps->n && s[p] >= '0' && s[p] <= '9') p++;
    }
    if (p < ps->n && (s[p] == 'e' || s[p] == 'E')) {
        integer = false;
        p++;
        if (p < ps->n && (s[p] == '+' || s[p] == '-')) p++;
        if (p >= ps->n) return perr(ps, p, true, "unexpected end of input in a number");
        if (!(s[p] >= '0' && s[p] <= '9'))
            return perr(ps, p, false, "expected a digit in the exponent, got %s",
                        describe(ps, p, b, sizeof b));
        while (p < ps->n && s[p] >= '0' && s[p] <= '9') p++;
    }
    size_t len = p - start;
    char small[64];
    char *tmp = len < sizeof small ? small : malloc(len + 1);
    if (!tmp) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "no memory for a %zu-digit number", len);
    memcpy(tmp, s + start, len);
    tmp[len] = '\0';
    errno = 0;
    double v = c_strtod(tmp, NULL);
    bool is_int = false;
    long long iv = 0;
    if (integer) {
        errno = 0;
        iv = strtoll(tmp, NULL, 10);
        is_int = errno != ERANGE;
    }
    if (tmp != small) free(tmp);
    if (!isfinite(v))
        return perr(ps, start, false, "number %.*s%s is out of the range of a double",
                    (int)(len < 40 ? len : 40), (const char *)s + start, len < 40 ? "" : "...");
    SELSA_TRY(new_node(ps, SELSA_JSON_NUMBER, start, idx));
    selsa_json_node *nd = &ps->doc->nodes[*idx];
    nd->number = v;
    nd->is_int = is_int;
    nd->integer = is_int ? (int64_t)iv : 0;
    nd->count = len;
    ps->p = p;
    return SELSA_OK;
}

static selsa_status parse_literal(parser *ps, size_t *idx) {
    static const struct { const char *word; selsa_json_type t; } lits[] = {
        {"true", SELSA_JSON_TRUE}, {"false", SELSA_JSON_FALSE}, {"null", SELSA_JSON_NULL}};
    size_t p = ps->p;
    for (size_t i = 0; i < 3; i++) {
        const char *w = lits[i].word;
        if (ps->s[p] != (unsigned char)w[0]) continue;
        size_t wl = strlen(w), k = 0;
        while (k < wl && p + k < ps->n && ps->s[p + k] == (unsigned char)w[k]) k++;
        if (k == wl) {
            SELSA_TRY(new_node(ps, lits[i].t, p, idx));
            ps->p = p + wl;
            return SELSA_OK;
        }
        if (p + k >= ps->n) return perr(ps, p + k, true, "unexpected end of input in '%s'", w);
        return perr(ps, p, false, "invalid literal (expected '%s')", w);
    }
    return perr(ps, p, false, "invalid literal");
}

typedef struct keyref {
    const char *s;
    size_t len, off;
} keyref;

static int cmp_keyref(const void *a, const void *b) {
    const keyref *x = a, *y = b;
    size_t m = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, m);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return (x->off > y->off) - (x->off < y->off);
}

/* Reject duplicate keys of the object at node index oi (just closed). */
static selsa_status check_duplicates(parser *ps, size_t oi) {
    selsa_json_doc *d = ps->doc;
    size_t n = d->nodes[oi].count;
    if (n < 2) return SELSA_OK;
    if (n <= 8) { /* small objects: pairwise */
        size_t ki = oi + 1;
        for (size_t a = 0; a < n; a++) {
            const selsa_json_node *ka = &d->nodes[ki];
            size_t kj = oi + 1;
            for (size_t b = 0; b < a; b++) {
                const selsa_json_node *kb = &d->nodes[kj];
                if (kb->count == ka->count &&
                    memcmp(d->strings + kb->str, d->strings + ka->str, ka->count) == 0)
                    return perr(ps, ka->offset, false, "duplicate key \"%.*s\" in an object",
                                (int)(ka->count < 60 ? ka->count : 60), d->strings + ka->str);
                kj = d->nodes[kj + 1].end;
            }
            ki = d->nodes[ki + 1].end;
        }
        return SELSA_OK;
    }
    if (d->cap_keys < n) {
        keyref *q = realloc(d->keys, n * sizeof *q);
        if (!q) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "no memory for %zu JSON keys", n);
        d->keys = q;
        d->cap_keys = n;
    }
    keyref *k = d->keys;
    size_t ki = oi + 1;
    for (size_t a = 0; a < n; a++) {
        k[a] = (keyref){d->strings + d->nodes[ki].str, d->nodes[ki].count, d->nodes[ki].offset};
        ki = d->nodes[ki + 1].end;
    }
    qsort(k, n, sizeof *k, cmp_keyref);
    size_t worst = (size_t)-1, wi = 0;
    for (size_t a = 1; a < n; a++)
        if (k[a].len == k[a - 1].len && memcmp(k[a].s, k[a - 1].s, k[a].len) == 0 &&
            k[a].off < worst)
            worst = k[a].off, wi = a; /* the earliest second occurrence */
    if (worst != (size_t)-1)
        return perr(ps, worst, false, "duplicate key \"%.*s\" in an object",
                    (int)(k[wi].len < 60 ? k[wi].len : 60), k[wi].s);
    return SELSA_OK;
}

static selsa_status push(parser *ps, size_t idx, size_t depth) {
    selsa_json_doc *d = ps->doc;
    if (depth >= (size_t)ps->max_depth)
        return perr(ps, d->nodes[idx].offset, false, "nesting deeper than %d arrays/objects",
                    ps->max_depth);
    if (depth == d->cap_stack) {
        size_t nc = d->cap_stack ? d->cap_stack * 2 : 32;
        size_t *q = realloc(d->stack, nc * sizeof *q);
        if (!q) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "no memory for the JSON stack");
        d->stack = q;
        d->cap_stack = nc;
    }
    d->stack[depth] = idx;
    return SELSA_OK;
}

/* Parse an object key and the ':' after it (ps->p at the key's quote or whatever is there). */
static selsa_status parse_key(parser *ps) {
    char b[16];
    if (ps->p >= ps->n) return perr(ps, ps->p, true, "unexpected end of input: expected a key");
    if (ps->s[ps->p] != '"')
        return perr(ps, ps->p, false, "expected a string key, got %s",
                    describe(ps, ps->p, b, sizeof b));
    size_t k;
    SELSA_TRY(parse_string(ps, &k));
    skip_ws(ps);
    if (ps->p >= ps->n) return perr(ps, ps->p, true, "unexpected end of input: expected ':'");
    if (ps->s[ps->p] != ':')
        return perr(ps, ps->p, false, "expected ':' after a key, got %s",
                    describe(ps, ps->p, b, sizeof b));
    ps->p++;
    return SELSA_OK;
}

static selsa_status parse_doc(parser *ps) {
    selsa_json_doc *d = ps->doc;
    size_t depth = 0;
    char b[16];
    for (;;) {
        /* ---- a value at ps->p ---- */
        skip_ws(ps);
        if (ps->p >= ps->n)
            return perr(ps, ps->p, true, depth ? "unexpected end of input: expected a value"
                                               : "empty input: expected a JSON value");
        unsigned char c = ps->s[ps->p];
        size_t idx;
        if (c == '{' || c == '[') {
            bool obj = c == '{';
            SELSA_TRY(new_node(ps, obj ? SELSA_JSON_OBJECT : SELSA_JSON_ARRAY, ps->p, &idx));
            SELSA_TRY(push(ps, idx, depth));
            depth++;
            ps->p++;
            skip_ws(ps);
            if (ps->p < ps->n && ps->s[ps->p] == (obj ? '}' : ']')) {
                ps->p++;
                depth--; /* empty container: closed at once; fall through to "after a value" */
            } else {
                if (obj) SELSA_TRY(parse_key(ps));
                continue; /* parse the first element / value */
            }
        } else if (c == '"') {
            SELSA_TRY(parse_string(ps, &idx));
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            SELSA_TRY(parse_number(ps, &idx));
        } else if (c == 't' || c == 'f' || c == 'n') {
            SELSA_TRY(parse_literal(ps, &idx));
        } else if (c == 'N' || c == 'I') {
            return perr(ps, ps->p, false, "NaN and Infinity are not JSON values");
        } else if (c == ']' || c == '}') {
            return perr(ps, ps->p, false, "expected a value, got %s (trailing comma?)",
                        describe(ps, ps->p, b, sizeof b));
        } else {
            return perr(ps, ps->p, false, "expected a value, got %s", describe(ps, ps->p, b, sizeof b));
        }
        /* ---- after a complete value: close containers as long as they end ---- */
        for (;;) {
            if (depth == 0) {
                skip_ws(ps);
                if (ps->p < ps->n)
                    return perr(ps, ps->p, false, "trailing garbage after the JSON value: %s",
                                describe(ps, ps->p, b, sizeof b));
                return SELSA_OK;
            }
            size_t ci = d->stack[depth - 1];
            bool obj = d->nodes[ci].type == SELSA_JSON_OBJECT;
            d->nodes[ci].count++;
            skip_ws(ps);
            if (ps->p >= ps->n)
                return perr(ps, ps->p, true, "unexpected end of input: expected ',' or '%c'",
                            obj ? '}' : ']');
            c = ps->s[ps->p];
            if (c == ',') {
                ps->p++;
                if (obj) {
                    skip_ws(ps);
                    SELSA_TRY(parse_key(ps));
                }
                break; /* next element */
            }
            if (c != (obj ? '}' : ']'))
                return perr(ps, ps->p, false, "expected ',' or '%c' in %s, got %s", obj ? '}' : ']',
                            obj ? "an object" : "an array", describe(ps, ps->p, b, sizeof b));
            ps->p++;
            d->nodes[ci].end = d->n_nodes;
            if (obj) SELSA_TRY(check_duplicates(ps, ci));
            depth--;
        }
    }
}

selsa_status selsa_json_parse(selsa_json_doc *doc, const char *text, size_t len,
                              const selsa_json_parse_opts *opts) {
    if (!doc || (!text && len)) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_json_parse: NULL argument");
    doc->n_nodes = 0;
    doc->n_strings = 0;
    doc->text = text ? text : "";
    doc->text_len = len;
    doc->what = opts && opts->what ? opts->what : "JSON";
    doc->first_line = opts && opts->first_line > 0 ? opts->first_line : 1;
    doc->eof_error = false;
    parser ps = {doc, (const unsigned char *)doc->text, len, 0,
                 opts && opts->max_depth > 0 ? opts->max_depth : SELSA_JSON_DEFAULT_MAX_DEPTH};
    selsa_status st = parse_doc(&ps);
    if (st != SELSA_OK) {
        doc->n_nodes = 0;
        doc->n_strings = 0;
    }
    return st;
}

/* ------------------------------------------------------------------ writer helpers -------- */

int selsa_json_format_double(char *buf, double v) {
    if (!isfinite(v)) {
        memcpy(buf, "null", 5);
        return -1;
    }
    locale_t l = get_c_locale(), old = l ? uselocale(l) : (locale_t)0;
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, SELSA_JSON_DOUBLE_BUF, "%.*g", prec, v);
        if (prec == 17 || c_strtod(buf, NULL) == v) break;
    }
    if (l) uselocale(old);
    return n;
}

int selsa_json_write_string(FILE *f, const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    if (putc('"', f) == EOF) return -1;
    size_t i = 0;
    while (i < len) {
        size_t j = i; /* run of bytes written verbatim */
        while (j < len && u[j] >= 0x20 && u[j] < 0x7f && u[j] != '"' && u[j] != '\\') j++;
        if (j > i && fwrite(u + i, 1, j - i, f) != j - i) return -1;
        i = j;
        if (i >= len) break;
        unsigned char c = u[i];
        int r;
        if (c == '"') r = fputs("\\\"", f);
        else if (c == '\\') r = fputs("\\\\", f);
        else if (c == '\n') r = fputs("\\n", f);
        else if (c == '\r') r = fputs("\\r", f);
        else if (c == '\t') r = fputs("\\t", f);
        else if (c == '\b') r = fputs("\\b", f);
        else if (c == '\f') r = fputs("\\f", f);
        else if (c < 0x20 || c == 0x7f) r = fprintf(f, "\\u%04x", c);
        else {
            int k = utf8_len(u + i, len - i);
            if (k <= 0) { /* invalid or cut UTF-8: one replacement per byte */
                r = fputs("\\ufffd", f);
                i++;
            } else {
                r = fwrite(u + i, 1, (size_t)k, f) == (size_t)k ? 0 : EOF;
                i += (size_t)k;
            }
            if (r < 0) return -1;
            continue;
        }
        if (r < 0) return -1;
        i++;
    }
    return putc('"', f) == EOF ? -1 : 0;
}
