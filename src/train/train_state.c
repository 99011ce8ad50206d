/* selsa — the training-state file that accompanies a checkpoint (include/selsa/train_run.h):
 * counters as a small JSON text and the optimiser momenta as named float32 arrays, protected by
 * a CRC-32. Written atomically through the core's stream writer; read by streaming into the
 * trainer's momentum buffers (no second copy of the momenta). The file knows nothing about the
 * trainer: both families pass their buffers as a list of (name, data, numel). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "selsa/fileio.h"
#include "selsa/json.h"
#include "selsa/train_run.h"

#define STATE_MAGIC "SLTS"
#define STATE_VERSION 1u
#define STATE_MAX_JSON (1u << 16)

#define STATE_MAX_NAME 255u

typedef struct state_writer {
    const selsa_train_state *st;
    const selsa_train_state_tensor *t;
    int n;
} state_writer;

/* fwrite + CRC update; returns 0 on success. */
static int put(FILE *f, uLong *crc, const void *p, size_t n) {
    if (n == 0) return 0;
    *crc = crc32(*crc, p, (uInt)n);
    return fwrite(p, 1, n, f) == n ? 0 : -1;
}

static int write_state(FILE *f, const void *user) {
    const state_writer *w = user;
    const selsa_train_state *st = w->st;
    char json[4096];
    char el[32];
    selsa_json_format_double(el, st->elapsed_s);
    /* params is a basename we produced ourselves: [A-Za-z0-9._-] only, no escaping needed */
    int len = snprintf(json, sizeof json,
                       "{\"format\":\"selsa-train-state\",\"epoch\":%" PRId64 ",\"position\":%" PRId64
                       ",\"steps\":%" PRId64 ",\"images\":%" PRId64 ",\"skipped\":%" PRId64
                       ",\"seed\":%" PRIu64 ",\"elapsed_s\":%s,\"params\":\"%s\"}",
                       st->epoch, st->position, st->steps, st->images, st->skipped, st->seed, el,
                       st->params);
    if (len < 0 || (size_t)len >= sizeof json) return -1;
    uLong crc = crc32(0L, Z_NULL, 0);
    uint32_t v = STATE_VERSION, jl = (uint32_t)len;
    int n = w->n;
    uint32_t nt = (uint32_t)n;
    if (put(f, &crc, STATE_MAGIC, 4) || put(f, &crc, &v, 4) || put(f, &crc, &jl, 4) ||
        put(f, &crc, json, (size_t)len) || put(f, &crc, &nt, 4))
        return -1;
    for (int i = 0; i < n; i++) {
        const selsa_train_state_tensor *p = &w->t[i];
        uint16_t nl = (uint16_t)strlen(p->name);
        uint64_t numel = (uint64_t)p->numel;
        if (put(f, &crc, &nl, 2) || put(f, &crc, p->name, nl) || put(f, &crc, &numel, 8))
            return -1;
        /* zlib's crc32 takes uInt lengths: feed large buffers in pieces */
        const char *b = (const char *)p->data;
        size_t bytes = (size_t)p->numel * sizeof(float);
        for (size_t o = 0; o < bytes; o += (1u << 30)) {
            size_t m = bytes - o < (1u << 30) ? bytes - o : (1u << 30);
            if (put(f, &crc, b + o, m)) return -1;
        }
    }
    uint32_t c32 = (uint32_t)crc;
    return fwrite(&c32, 4, 1, f) == 1 ? 0 : -1;
}

selsa_status selsa_train_state_write(const char *path, const selsa_train_state *st,
                                     const selsa_train_state_tensor *tensors, int n) {
    if (!path || !st || (n > 0 && !tensors) || n < 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "train state save: NULL argument");
    for (const char *c = st->params; *c; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
            return selsa_error(SELSA_ERR_INVALID_ARG, "train state save: bad params name '%s'", st->params);
    for (int i = 0; i < n; i++) {
        size_t nl = tensors[i].name ? strlen(tensors[i].name) : 0;
        if (nl == 0 || nl > STATE_MAX_NAME || tensors[i].numel < 0 || (tensors[i].numel > 0 && !tensors[i].data))
            return selsa_error(SELSA_ERR_INVALID_ARG, "train state save: tensor %d ('%s') has a bad name or buffer", i,
                               tensors[i].name ? tensors[i].name : "(null)");
    }
    state_writer w = {st, tensors, n};
    return selsa_file_write_stream_atomic(path, write_state, &w);
}

/* The official trainer's momenta as a tensor list (malloc'd; caller frees). */
static selsa_status official_list(selsa_official_trainer *t, selsa_train_state_tensor **out, int *n) {
    *out = NULL;
    *n = 0;
    if (!t) return SELSA_OK;
    int np = selsa_official_trainer_n_params(t);
    selsa_train_state_tensor *l = calloc((size_t)np + 1, sizeof *l);
    if (!l) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "training state: tensor list");
    for (int i = 0; i < np; i++) {
        selsa_official_param *p = selsa_official_trainer_param(t, i);
        l[i] = (selsa_train_state_tensor){p->name, p->mom, p->numel};
    }
    *out = l;
    *n = np;
    return SELSA_OK;
}

selsa_status selsa_train_state_save(const char *path, const selsa_train_state *st,
                                    selsa_official_trainer *t) {
    if (!path || !st || !t) return selsa_error(SELSA_ERR_INVALID_ARG, "train state save: NULL argument");
    selsa_train_state_tensor *l;
    int n;
    SELSA_TRY(official_list(t, &l, &n));
    selsa_status s = selsa_train_state_write(path, st, l, n);
    free(l);
    return s;
}

/* fread exactly n bytes + CRC update. */
static selsa_status get(FILE *f, uLong *crc, void *p, size_t n, const char *path, const char *what) {
    if (n && fread(p, 1, n, f) != n)
        return selsa_error(SELSA_ERR_FORMAT, "%s: truncated training-state file (reading %s)", path, what);
    if (n) *crc = crc32(*crc, p, (uInt)n);
    return SELSA_OK;
}

static selsa_status json_i64(const selsa_json_doc *d, const selsa_json_node *root, const char *key,
                             int64_t *out, const char *path) {
    const selsa_json_node *n = selsa_json_get(d, root, key);
    if (!n || n->type != SELSA_JSON_NUMBER || !n->is_int)
        return selsa_error(SELSA_ERR_FORMAT, "%s: training state lacks the integer \"%s\"", path, key);
    *out = n->integer;
    return SELSA_OK;
}

static selsa_status parse_header(const char *json, size_t len, selsa_train_state *st,
                                 const char *path) {
    selsa_json_doc d;
    selsa_json_doc_init(&d);
    selsa_json_parse_opts po = {path, 0, 8};
    selsa_status s = selsa_json_parse(&d, json, len, &po);
    const selsa_json_node *root = selsa_json_root(&d);
    int64_t seed = 0;
    if (s == SELSA_OK && (!root || root->type != SELSA_JSON_OBJECT))
        s = selsa_error(SELSA_ERR_FORMAT, "%s: training-state header is not a JSON object", path);
    if (s == SELSA_OK) s = json_i64(&d, root, "epoch", &st->epoch, path);
    if (s == SELSA_OK) s = json_i64(&d, root, "position", &st->position, path);
    if (s == SELSA_OK) s = json_i64(&d, root, "steps", &st->steps, path);
    if (s == SELSA_OK) s = json_i64(&d, root, "images", &st->images, path);
    if (s == SELSA_OK) s = json_i64(&d, root, "skipped", &st->skipped, path);
    if (s == SELSA_OK) {
        /* seeds above 2^63 are written as unsigned: accept the integer or a large number */
        const selsa_json_node *n = selsa_json_get(&d, root, "seed");
        if (!n || n->type != SELSA_JSON_NUMBER)
            s = selsa_error(SELSA_ERR_FORMAT, "%s: training state lacks \"seed\"", path);
        else if (n->is_int) seed = n->integer;
        else st->seed = strtoull(json + n->offset, NULL, 10);
        if (s == SELSA_OK && n->is_int) st->seed = (uint64_t)seed;
    }
    if (s == SELSA_OK) {
        const selsa_json_node *n = selsa_json_get(&d, root, "elapsed_s");
        st->elapsed_s = n && n->type == SELSA_JSON_NUMBER ? n->number : 0.0;
        n = selsa_json_get(&d, root, "params");
        if (!n || n->type != SELSA_JSON_STRING || n->count >= sizeof st->params)
            s = selsa_error(SELSA_ERR_FORMAT, "%s: training state lacks \"params\"", path);
        else memcpy(st->params, selsa_json_str(&d, n), n->count + 1);
    }
    if (s == SELSA_OK && (st->epoch < 0 || st->position < 0 || st->steps < 0 || st->images < 0 ||
                          st->skipped < 0))
        s = selsa_error(SELSA_ERR_FORMAT, "%s: negative counter in the training state", path);
    selsa_json_doc_free(&d);
    return s;
}

selsa_status selsa_train_state_read(const char *path, selsa_train_state *st,
                                    const selsa_train_state_tensor *tensors, int np) {
    if (!path || !st || np < 0) return selsa_error(SELSA_ERR_INVALID_ARG, "train state load: NULL argument");
    memset(st, 0, sizeof *st);
    const selsa_train_state_tensor *t = tensors;
    if (!t) np = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return selsa_error(SELSA_ERR_IO, "cannot open training state %s: %s", path, strerror(errno));
    uLong crc = crc32(0L, Z_NULL, 0);
    char magic[4];
    uint32_t version = 0, jl = 0, nt = 0;
    char *json = NULL;
    bool *seen = NULL;
    selsa_status s = get(f, &crc, magic, 4, path, "magic");
    if (s == SELSA_OK && memcmp(magic, STATE_MAGIC, 4) != 0)
        s = selsa_error(SELSA_ERR_FORMAT, "%s: not a selsa training-state file (bad magic)", path);
    if (s == SELSA_OK) s = get(f, &crc, &version, 4, path, "version");
    if (s == SELSA_OK && version != STATE_VERSION)
        s = selsa_error(SELSA_ERR_FORMAT, "%s: training-state version %u (this build reads %u)", path,
                        version, STATE_VERSION);
    if (s == SELSA_OK) s = get(f, &crc, &jl, 4, path, "header length");
    if (s == SELSA_OK && (jl == 0 || jl > STATE_MAX_JSON))
        s = selsa_error(SELSA_ERR_FORMAT, "%s: bad training-state header length %u", path, jl);
    if (s == SELSA_OK && !(json = malloc(jl)))
        s = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "%s: header", path);
    if (s == SELSA_OK) s = get(f, &crc, json, jl, path, "header");
    if (s == SELSA_OK) s = parse_header(json, jl, st, path);
    if (s == SELSA_OK) s = get(f, &crc, &nt, 4, path, "tensor count");
    if (s == SELSA_OK && t && nt != (uint32_t)np)
        s = selsa_error(SELSA_ERR_FORMAT, "%s: %u momentum tensors, the model trains %d", path, nt, np);
    if (s == SELSA_OK && t && !(seen = calloc((size_t)np + 1, 1)))
        s = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "%s: table", path);
    int hint = 0; /* files list the tensors in trainer order: try the next one first */
    for (uint32_t i = 0; s == SELSA_OK && t && i < nt; i++) {
        uint16_t nl = 0;
        char name[STATE_MAX_NAME + 1];
        uint64_t numel = 0;
        s = get(f, &crc, &nl, 2, path, "tensor name length");
        if (s == SELSA_OK && (nl == 0 || nl > STATE_MAX_NAME))
            s = selsa_error(SELSA_ERR_FORMAT, "%s: bad tensor name length %u", path, nl);
        if (s == SELSA_OK) s = get(f, &crc, name, nl, path, "tensor name");
        if (s != SELSA_OK) break;
        name[nl] = 0;
        s = get(f, &crc, &numel, 8, path, name);
        if (s != SELSA_OK) break;
        int idx = -1;
        for (int k = 0; k < np && idx < 0; k++) {
            int j = (hint + k) % np;
            if (!strcmp(t[j].name, name)) idx = j;
        }
        if (idx < 0) {
            s = selsa_error(SELSA_ERR_FORMAT, "%s: momentum of '%s', which the model does not train", path, name);
            break;
        }
        hint = idx + 1;
        if (seen[idx]) {
            s = selsa_error(SELSA_ERR_FORMAT, "%s: momentum of '%s' appears twice", path, name);
            break;
        }
        seen[idx] = true;
        if (numel != (uint64_t)t[idx].numel) {
            s = selsa_error(SELSA_ERR_FORMAT, "%s: momentum of '%s' has %" PRIu64 " values, the model has %lld",
                            path, name, numel, (long long)t[idx].numel);
            break;
        }
        char *b = (char *)t[idx].data;
        size_t bytes = (size_t)numel * sizeof(float);
        for (size_t o = 0; s == SELSA_OK && o < bytes; o += (1u << 30)) {
            size_t m = bytes - o < (1u << 30) ? bytes - o : (1u << 30);
            s = get(f, &crc, b + o, m, path, name);
        }
    }
    if (s == SELSA_OK && t) {
        uint32_t stored = 0;
        if (fread(&stored, 4, 1, f) != 1)
            s = selsa_error(SELSA_ERR_FORMAT, "%s: truncated training-state file (reading the checksum)", path);
        else if (stored != (uint32_t)crc)
            s = selsa_error(SELSA_ERR_FORMAT, "%s: training-state checksum mismatch (file corrupt)", path);
        else if (fgetc(f) != EOF)
            s = selsa_error(SELSA_ERR_FORMAT, "%s: trailing bytes after the training state", path);
    }
    if (s != SELSA_OK && t) /* never leave half-loaded momenta behind */
        for (int i = 0; i < np; i++)
            if (t[i].numel > 0) memset(t[i].data, 0, (size_t)t[i].numel * sizeof(float));
    free(seen);
    free(json);
    fclose(f);
    return s;
}

selsa_status selsa_train_state_load(const char *path, selsa_train_state *st,
                                    selsa_official_trainer *t) {
    if (!path || !st) return selsa_error(SELSA_ERR_INVALID_ARG, "train state load: NULL argument");
    selsa_train_state_tensor *l;
    int n;
    SELSA_TRY(official_list(t, &l, &n));
    selsa_status s = selsa_train_state_read(path, st, l, n);
    free(l);
    return s;
}
