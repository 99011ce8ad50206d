/* Private: a small, bounded pickle virtual machine for torch.save files (mmtracking-selsa.md
 * §3.5). Objects live in a pool owned by pk_ctx and are freed together, so shared references and
 * cycles built through the memo are harmless. Strings point into the input buffer (no copies),
 * which must outlive the context. */
#ifndef SELSA_IO_PICKLE_H
#define SELSA_IO_PICKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "selsa/weights.h"

/* Limits against hostile files (all give SELSA_ERR_FORMAT). */
#define PK_MAX_DEPTH 1000            /* container nesting and MARK nesting */
#define PK_MAX_MEMO (1 << 22)        /* memo index */
#define PK_MAX_STACK (1 << 22)       /* value stack entries */
#define PK_MAX_OBJECTS (1 << 23)     /* objects per load */
#define PK_MAX_STR ((size_t)1 << 30) /* bytes in one string */

typedef enum pk_type {
    PK_NONE,
    PK_BOOL,
    PK_INT,     /* fits in int64 */
    PK_BIGINT,  /* LONG1/LONG4 wider than 8 bytes: raw little-endian bytes in str */
    PK_FLOAT,
    PK_STR,     /* unicode (UTF-8 bytes) */
    PK_BYTES,
    PK_TUPLE,
    PK_LIST,
    PK_DICT,    /* dict and collections.OrderedDict; seq holds key, value, key, value ... */
    PK_GLOBAL,  /* module + name from GLOBAL / STACK_GLOBAL */
    PK_STORAGE, /* persistent id ('storage', type, key, location, numel[, view_metadata]) */
    PK_TENSOR,  /* torch._utils._rebuild_tensor_v2(...) */
    PK_OPAQUE   /* result of an unknown callable / NEWOBJ: kept, never inspected */
} pk_type;

typedef struct pk_obj pk_obj;
struct pk_obj {
    pk_type type;
    int depth; /* nesting depth (1 for scalars) */
    union {
        bool b;
        int64_t i;
        double f;
        struct { const char *s; size_t len; } str;              /* STR, BYTES, BIGINT */
        struct { pk_obj **v; int64_t n, cap; } seq;             /* TUPLE, LIST, DICT */
        struct { const char *mod, *name; size_t mod_len, name_len; } glob;
        struct {
            selsa_dtype dtype;       /* UNKNOWN for unsupported storage classes */
            const pk_obj *cls;       /* the storage class GLOBAL (for messages) */
            const char *key;
            size_t key_len;
            int64_t numel;           /* declared element count */
            int64_t view_offset;     /* legacy view_metadata offset (elements), else 0 */
            const uint8_t *data;     /* resolved by the container reader (NULL until then) */
            int64_t avail;           /* elements actually present at data */
        } storage;
        struct {
            const pk_obj *storage;   /* PK_STORAGE */
            int64_t offset;          /* elements */
            const pk_obj *size;      /* tuple of ints */
            const pk_obj *stride;    /* tuple of ints */
        } tensor;
    } u;
};

typedef struct pk_chunk pk_chunk;

typedef struct pk_ctx {
    pk_chunk *chunks;   /* object pool */
    int64_t n_objects;
    pk_obj **storages;  /* every PK_STORAGE created, in order */
    int64_t n_storages, cap_storages;
} pk_ctx;

void pk_ctx_init(pk_ctx *c);
void pk_ctx_free(pk_ctx *c);

/* Run one pickle starting at buf[*pos] (buf has `size` bytes) until STOP; *pos is left just after
 * STOP and *result receives the value. `what` names the pickle in messages. Offsets in messages
 * are relative to `base_off` + position in buf (so they match the file). */
selsa_status pk_run(pk_ctx *c, const uint8_t *buf, size_t size, size_t *pos, size_t base_off,
                    const char *what, pk_obj **result);

/* Helpers for the readers. */
bool pk_is_str(const pk_obj *o, const char *s);
/* Dict lookup by string key (last match wins, as in Python); NULL when absent. */
const pk_obj *pk_dict_get(const pk_obj *d, const char *key);

#endif
