/* selsa — a small, strict JSON reader (RFC 8259) and writer helpers.
 *
 * Reader: selsa_json_parse builds a flat DOM ("tape") of nodes in document order over a memory
 * buffer. It is iterative (an explicit stack, never recursion), so hostile input such as 100000
 * nested '[' cannot exhaust the C stack; nesting deeper than max_depth is an error.
 * Strict: exactly RFC 8259 —
 *   - one value, surrounded only by whitespace (space, \t, \n, \r); anything after it is an
 *     error ("trailing garbage"); an empty input is an error;
 *   - no comments, no trailing commas, no single quotes, no NaN / Infinity literals;
 *   - numbers: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? converted with strtod (correctly
 *     rounded, independent of the C locale); a number whose magnitude overflows a double
 *     (e.g. 1e999) is an error, underflow gives the nearest double (0 or subnormal);
 *   - strings: valid UTF-8 only (no overlong forms, no encoded surrogates, <= U+10FFFF), no raw
 *     control characters (< 0x20), escapes \" \\ \/ \b \f \n \r \t \uXXXX; a \uD800–\uDBFF must
 *     be followed by a \uDC00–\uDFFF (the pair is one code point), lone surrogates are errors;
 *     \u0000 is allowed (decoded strings carry their length; they are also NUL-terminated);
 *   - duplicate keys in one object are an error (reported at the second occurrence).
 * Errors are SELSA_ERR_FORMAT "<what>:<line>:<column>: <message>"; line is 1-based (the first
 * line number is configurable, for JSON Lines), column is 1-based and counts characters (UTF-8
 * code points) from the start of the line. A failure caused by the input ending inside a value
 * says "unexpected end of input" and sets doc->eof_error.
 *
 * Writer helpers: JSON string literals and shortest round-trip doubles (locale independent). */
#ifndef SELSA_JSON_H
#define SELSA_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "selsa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SELSA_JSON_DEFAULT_MAX_DEPTH 512

typedef enum selsa_json_type {
    SELSA_JSON_NULL = 0,
    SELSA_JSON_FALSE,
    SELSA_JSON_TRUE,
    SELSA_JSON_NUMBER,
    SELSA_JSON_STRING,
    SELSA_JSON_ARRAY,
    SELSA_JSON_OBJECT
} selsa_json_type;

/* One value. The subtree of node i is nodes[i .. nodes[i].end); the first child (element, or
 * the first key of an object) is node i + 1 and each child's next sibling is nodes[child.end].
 * An object's children alternate key (a STRING node) and value. */
typedef struct selsa_json_node {
    selsa_json_type type;
    bool is_int;     /* NUMBER written as an integer literal (no '.', no exponent) that fits
                        int64; then `integer` holds it exactly */
    size_t offset;   /* byte offset of the value's first byte in the parsed text */
    size_t count;    /* STRING: decoded length in bytes; ARRAY: elements; OBJECT: members */
    size_t end;      /* index one past the last node of this value's subtree */
    size_t str;      /* STRING: offset of its decoded, NUL-terminated bytes in doc->strings */
    double number;   /* NUMBER: the value (finite) */
    int64_t integer; /* NUMBER with is_int */
} selsa_json_node;

/* A parsed document. Reusable: parsing again reuses the allocations. */
typedef struct selsa_json_doc {
    selsa_json_node *nodes; /* [n_nodes]; nodes[0] is the root */
    size_t n_nodes, cap_nodes;
    char *strings; /* decoded string bytes, each followed by a NUL */
    size_t n_strings, cap_strings;
    size_t *stack; /* parser work space: the open containers */
    size_t cap_stack;
    void *keys; /* parser work space: the duplicate-key check */
    size_t cap_keys;
    /* the parsed text (not owned; error helpers below need it alive) and how to name it */
    const char *text;
    size_t text_len;
    const char *what;
    int64_t first_line;
    bool eof_error; /* the last failure was the input ending inside a value */
} selsa_json_doc;

typedef struct selsa_json_parse_opts {
    const char *what;   /* name used in messages (file name); NULL = "JSON" (copied by pointer:
                           must stay alive while the doc's error helpers are used) */
    int64_t first_line; /* line number of text[0]; 0 = 1 */
    int max_depth;      /* nesting limit of arrays/objects; 0 = SELSA_JSON_DEFAULT_MAX_DEPTH */
} selsa_json_parse_opts;

void selsa_json_doc_init(selsa_json_doc *doc);
void selsa_json_doc_free(selsa_json_doc *doc);

/* Parse text[0 .. len) (need not be NUL-terminated; NUL bytes outside strings are errors).
 * opts may be NULL. On failure the doc holds no nodes and the message names line:column. */
selsa_status selsa_json_parse(selsa_json_doc *doc, const char *text, size_t len,
                              const selsa_json_parse_opts *opts);

/* The root value (NULL if nothing parsed). */
const selsa_json_node *selsa_json_root(const selsa_json_doc *doc);
/* Decoded bytes of a STRING node (NUL-terminated; may contain NULs: see node->count). */
const char *selsa_json_str(const selsa_json_doc *doc, const selsa_json_node *n);
/* First child of an ARRAY/OBJECT (first key for objects), NULL if empty or not a container. */
const selsa_json_node *selsa_json_child(const selsa_json_doc *doc, const selsa_json_node *n);
/* Next sibling of a child. Only valid while the caller counts children (container->count);
 * returns NULL past the end of the document. Iterate an object with
 *   const selsa_json_node *k = selsa_json_child(doc, obj);
 *   for (size_t m = 0; m < obj->count; m++, k = selsa_json_next(doc, k + 1)) { value = k + 1; } */
const selsa_json_node *selsa_json_next(const selsa_json_doc *doc, const selsa_json_node *n);
/* Value of member `key` (exact byte comparison; keys are unique) of an OBJECT, or NULL. */
const selsa_json_node *selsa_json_get(const selsa_json_doc *doc, const selsa_json_node *obj,
                                      const char *key);
/* "null", "false", "true", "number", "string", "array", "object". */
const char *selsa_json_type_name(selsa_json_type t);

/* 1-based line and column (UTF-8 code points) of byte `offset` in text[0 .. len). */
void selsa_json_linecol(const char *text, size_t len, size_t offset, int64_t first_line,
                        int64_t *line, int64_t *col);
/* Record "<what>:<line>:<col>: <message>" for node n (NULL: the start of the text) of a parsed
 * doc and return s. */
selsa_status selsa_json_error_at(const selsa_json_doc *doc, const selsa_json_node *n,
                                 selsa_status s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ------------------------------------------------------------------ writer helpers -------- */

/* Shortest decimal that reads back (strtod) as exactly v: the first of %.15g, %.16g, %.17g that
 * round-trips, with '.' as the decimal point whatever the locale. buf must hold
 * SELSA_JSON_DOUBLE_BUF bytes. Returns the length, or -1 (and "null" in buf) if v is not
 * finite (JSON cannot represent it). */
#define SELSA_JSON_DOUBLE_BUF 32
int selsa_json_format_double(char *buf, double v);

/* Write s[0 .. len) as a JSON string literal with its quotes: escapes " and \, control
 * characters as \b \f \n \r \t or \u00XX, DEL as \u007f; valid UTF-8 is written as is; each
 * byte that is not part of valid UTF-8 is written as \ufffd (lossy, so the output is always
 * valid JSON). Returns 0, or -1 on a write error. */
int selsa_json_write_string(FILE *f, const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif
