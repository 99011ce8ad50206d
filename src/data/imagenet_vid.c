/* selsa — ImageNet VID/DET dataset reader: ImageSets lists and VOC-style XML annotations
 * (expat), with the training clamp and flip rules of official-selsa.md §11. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "selsa/dataset.h"

/* ------------------------------------------------------------------ helpers */

static selsa_status slurp(const char *path, const char *what, char **out, size_t *len) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return selsa_error(SELSA_ERR_IO, "cannot open %s '%s': %s", what, path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = (char *)malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n + 1 < cap) break;
        cap *= 2;
        char *p = (char *)realloc(buf, cap);
        if (!p) {
            free(buf);
            buf = NULL;
        } else
            buf = p;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "reading %s '%s'", what, path);
    if (err) {
        free(buf);
        return selsa_error(SELSA_ERR_IO, "read error on %s '%s'", what, path);
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return SELSA_OK;
}

static int parse_i64(const char *s, int64_t *v) {
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end) return 0;
    *v = x;
    return 1;
}

/* ------------------------------------------------------------------ image sets */

void selsa_imageset_free(selsa_imageset *set) {
    if (!set) return;
    free(set->entries);
    free(set->text);
    memset(set, 0, sizeof(*set));
}

selsa_status selsa_imageset_read(const char *path, selsa_imageset_kind kind, selsa_imageset *out) {
    if (!path || !out) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_imageset_read: NULL argument");
    memset(out, 0, sizeof(*out));
    if (kind != SELSA_IMAGESET_DET_TRAIN && kind != SELSA_IMAGESET_VID_TRAIN && kind != SELSA_IMAGESET_VID_VAL)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_imageset_read: unknown list kind %d", (int)kind);
    char *text;
    size_t len;
    SELSA_TRY(slurp(path, "image set", &text, &len));
    int64_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    selsa_imageset_entry *e = (selsa_imageset_entry *)malloc(sizeof(*e) * (size_t)lines);
    if (!e) {
        free(text);
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "image set '%s' (%lld lines)", path, (long long)lines);
    }
    const int want_cols = kind == SELSA_IMAGESET_DET_TRAIN ? 2 : 4;
    const char *fmt = kind == SELSA_IMAGESET_DET_TRAIN ? "<path> <frame_id>"
                      : kind == SELSA_IMAGESET_VID_TRAIN
                          ? "<video> <frame_id> <frame_seg_id> <frame_seg_len>"
                          : "<video> <start_id> <first_frame> <num_frames>";
    int64_t n = 0, line = 0;
    selsa_status st = SELSA_OK;
    char *p = text, *end = text + len;
    while (p < end && st == SELSA_OK) {
        line++;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        *le = 0;
        if (le > p && le[-1] == '\r') le[-1] = 0;
        char *tok[5];
        int nt = 0;
        char *s = p;
        for (;;) {
            while (*s == ' ' || *s == '\t') s++;
            if (!*s) break;
            if (nt < 5) tok[nt] = s;
            nt++;
            while (*s && *s != ' ' && *s != '\t') s++;
            if (*s) *s++ = 0;
        }
        p = le + 1;
        if (nt == 0) continue; /* blank line */
        if (nt != want_cols) {
            st = selsa_error(SELSA_ERR_FORMAT, "%s:%lld: expected %d columns (%s), found %d", path,
                             (long long)line, want_cols, fmt, nt);
            break;
        }
        int64_t v[3] = {0, 0, 1};
        for (int c = 1; c < nt; c++)
            if (!parse_i64(tok[c], &v[c - 1]) || v[c - 1] < 0 || v[c - 1] > INT32_MAX) {
                st = selsa_error(SELSA_ERR_FORMAT, "%s:%lld: column %d '%s' is not a non-negative integer (%s)",
                                 path, (long long)line, c + 1, tok[c], fmt);
                break;
            }
        if (st != SELSA_OK) break;
        selsa_imageset_entry *en = &e[n];
        en->path = tok[0];
        en->id = v[0];
        en->seg_id = kind == SELSA_IMAGESET_DET_TRAIN ? 0 : (int)v[1];
        en->seg_len = kind == SELSA_IMAGESET_DET_TRAIN ? 1 : (int)v[2];
        if (kind == SELSA_IMAGESET_VID_TRAIN && (en->seg_len <= 0 || en->seg_id >= en->seg_len))
            st = selsa_error(SELSA_ERR_FORMAT, "%s:%lld: frame_seg_id %d outside [0, frame_seg_len %d)",
                             path, (long long)line, en->seg_id, en->seg_len);
        if (kind == SELSA_IMAGESET_VID_VAL) {
            if (en->seg_len <= 0 || en->id < 1)
                st = selsa_error(SELSA_ERR_FORMAT, "%s:%lld: start id %lld must be >= 1 and num_frames %d > 0",
                                 path, (long long)line, (long long)en->id, en->seg_len);
            else if (n > 0 && en->id != e[n - 1].id + e[n - 1].seg_len)
                st = selsa_error(SELSA_ERR_FORMAT,
                                 "%s:%lld: start id %lld is not contiguous (previous video starts at %lld with %d frames)",
                                 path, (long long)line, (long long)en->id, (long long)e[n - 1].id, e[n - 1].seg_len);
        }
        n++;
    }
    if (st == SELSA_OK && n == 0) st = selsa_error(SELSA_ERR_FORMAT, "image set '%s' is empty", path);
    if (st != SELSA_OK) {
        free(e);
        free(text);
        return st;
    }
    out->kind = kind;
    out->entries = e;
    out->n = n;
    out->text = text;
    return SELSA_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int64_t selsa_imageset_count_unique(const selsa_imageset *set) {
    if (!set || set->n <= 0) return 0;
    const char **v = (const char **)malloc(sizeof(char *) * (size_t)set->n);
    if (!v) return -1;
    for (int64_t i = 0; i < set->n; i++) v[i] = set->entries[i].path;
    qsort(v, (size_t)set->n, sizeof(char *), cmp_str);
    int64_t u = 1;
    for (int64_t i = 1; i < set->n; i++) u += strcmp(v[i], v[i - 1]) != 0;
    free(v);
    return u;
}

int64_t selsa_imageset_total_frames(const selsa_imageset *set) {
    int64_t t = 0;
    for (int64_t i = 0; set && i < set->n; i++) t += set->entries[i].seg_len;
    return t;
}

static selsa_status entry_path(const char *root, const selsa_imageset *set, int64_t i, int frame,
                               char *buf, size_t cap, int annotation) {
    if (!root || !set || !buf || i < 0 || i >= set->n)
        return selsa_error(SELSA_ERR_INVALID_ARG, "image set path: bad argument (entry %lld of %lld)",
                           (long long)i, set ? (long long)set->n : 0LL);
    const char *top = annotation ? "Annotations" : "Data";
    const char *ext = annotation ? "xml" : "JPEG";
    int r;
    if (set->kind == SELSA_IMAGESET_DET_TRAIN)
        r = snprintf(buf, cap, "%s/%s/DET/%s.%s", root, top, set->entries[i].path, ext);
    else
        r = snprintf(buf, cap, "%s/%s/VID/%s/%06d.%s", root, top, set->entries[i].path, frame, ext);
    if (r < 0 || (size_t)r >= cap)
        return selsa_error(SELSA_ERR_INVALID_ARG, "path for entry %lld does not fit in %zu bytes",
                           (long long)i, cap);
    return SELSA_OK;
}

selsa_status selsa_imageset_image_path(const char *root, const selsa_imageset *set, int64_t i,
                                       int frame, char *buf, size_t cap) {
    return entry_path(root, set, i, frame, buf, cap, 0);
}

selsa_status selsa_imageset_annotation_path(const char *root, const selsa_imageset *set, int64_t i,
                                            int frame, char *buf, size_t cap) {
    return entry_path(root, set, i, frame, buf, cap, 1);
}

/* ------------------------------------------------------------------ XML annotations */

enum { F_NONE = 0, F_WIDTH, F_HEIGHT, F_NAME, F_TRACKID, F_OCCLUDED, F_GENERATED, F_XMIN, F_YMIN,
       F_XMAX, F_YMAX };

typedef struct raw_obj {
    char name[128]; /* as large as xml_ctx.text */
    double v[4]; /* xmin ymin xmax ymax */
    int have;    /* bitmask: 1..8 coords, 16 name, 32 bndbox */
    int trackid, occluded, generated;
    int line;
} raw_obj;

typedef struct xml_ctx {
    XML_Parser p;
    const char *file;
    char path[8][24]; /* element stack (names truncated) */
    int depth;
    int field;        /* F_* of the current leaf */
    char text[128];
    int tlen;
    int width, height;
    int have_w, have_h;
    raw_obj cur;
    int in_object;
    raw_obj *objs;
    int n, cap;
    selsa_status st;
} xml_ctx;

static void xml_fail(xml_ctx *c, const char *fmt, const char *a, const char *b) {
    if (c->st != SELSA_OK) return;
    char msg[256];
    snprintf(msg, sizeof msg, fmt, a, b);
    c->st = selsa_error(SELSA_ERR_FORMAT, "%s:%lu: %s", c->file,
                        (unsigned long)XML_GetCurrentLineNumber(c->p), msg);
    XML_StopParser(c->p, XML_FALSE);
}

static int parent_is(const xml_ctx *c, const char *name) {
    return c->depth >= 2 && !strcmp(c->path[c->depth - 2], name);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs) {
    (void)attrs;
    xml_ctx *c = (xml_ctx *)ud;
    if (c->depth < 8) snprintf(c->path[c->depth], sizeof c->path[0], "%s", name);
    c->depth++;
    c->field = F_NONE;
    c->tlen = 0;
    if (!strcmp(name, "object") && c->depth == 2) {
        memset(&c->cur, 0, sizeof c->cur);
        c->cur.trackid = c->cur.occluded = c->cur.generated = -1;
        c->cur.line = (int)XML_GetCurrentLineNumber(c->p);
        c->in_object = 1;
        return;
    }
    if (c->depth > 8) return;
    if (parent_is(c, "size")) {
        if (!strcmp(name, "width")) c->field = F_WIDTH;
        if (!strcmp(name, "height")) c->field = F_HEIGHT;
    } else if (c->in_object && parent_is(c, "object")) {
        if (!strcmp(name, "name")) c->field = F_NAME;
        else if (!strcmp(name, "trackid")) c->field = F_TRACKID;
        else if (!strcmp(name, "occluded")) c->field = F_OCCLUDED;
        else if (!strcmp(name, "generated")) c->field = F_GENERATED;
        else if (!strcmp(name, "bndbox")) c->cur.have |= 32;
    } else if (c->in_object && parent_is(c, "bndbox")) {
        if (!strcmp(name, "xmin")) c->field = F_XMIN;
        else if (!strcmp(name, "ymin")) c->field = F_YMIN;
        else if (!strcmp(name, "xmax")) c->field = F_XMAX;
        else if (!strcmp(name, "ymax")) c->field = F_YMAX;
    }
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len) {
    xml_ctx *c = (xml_ctx *)ud;
    if (c->field == F_NONE) return;
    int room = (int)sizeof(c->text) - 1 - c->tlen;
    if (len > room) len = room;
    memcpy(c->text + c->tlen, s, (size_t)len);
    c->tlen += len;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = 0;
    return s;
}

static void XMLCALL on_end(void *ud, const XML_Char *name) {
    xml_ctx *c = (xml_ctx *)ud;
    int f = c->field;
    c->field = F_NONE;
    c->depth--;
    if (f != F_NONE) {
        c->text[c->tlen] = 0;
        char *t = trim(c->text);
        if (f == F_NAME) {
            snprintf(c->cur.name, sizeof c->cur.name, "%s", t);
            c->cur.have |= 16;
        } else if (f >= F_XMIN) {
            char *e;
            double v = strtod(t, &e);
            if (e == t || *e || !isfinite(v)) {
                xml_fail(c, "<%s> value '%s' is not a number", name, t);
                return;
            }
            c->cur.v[f - F_XMIN] = v;
            c->cur.have |= 1 << (f - F_XMIN);
        } else {
            int64_t v;
            if (!parse_i64(t, &v) || v < INT32_MIN || v > INT32_MAX) {
                xml_fail(c, "<%s> value '%s' is not an integer", name, t);
                return;
            }
            if (f == F_WIDTH) c->width = (int)v, c->have_w = 1;
            if (f == F_HEIGHT) c->height = (int)v, c->have_h = 1;
            if (f == F_TRACKID) c->cur.trackid = (int)v;
            if (f == F_OCCLUDED) c->cur.occluded = (int)v;
            if (f == F_GENERATED) c->cur.generated = (int)v;
        }
        return;
    }
    if (c->in_object && c->depth == 1 && !strcmp(name, "object")) {
        c->in_object = 0;
        if (!(c->cur.have & 16)) {
            xml_fail(c, "<object> without <name>%s%s", "", "");
            return;
        }
        if ((c->cur.have & 47) != 47) {
            xml_fail(c, "<object> '%s' without a complete <bndbox> (xmin, ymin, xmax, ymax)%s",
                     c->cur.name, "");
            return;
        }
        if (c->n == c->cap) {
            int nc = c->cap ? 2 * c->cap : 16;
            raw_obj *p = (raw_obj *)realloc(c->objs, sizeof(raw_obj) * (size_t)nc);
            if (!p) {
                c->st = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "%s: object list", c->file);
                XML_StopParser(c->p, XML_FALSE);
                return;
            }
            c->objs = p;
            c->cap = nc;
        }
        c->objs[c->n++] = c->cur;
    }
}

void selsa_annotation_free(selsa_annotation *a) {
    if (!a) return;
    free(a->objects);
    memset(a, 0, sizeof(*a));
}

selsa_status selsa_annotation_parse(const char *xml, size_t len, const char *name,
                                    selsa_box_mode mode, selsa_annotation *out) {
    if (!xml || !out) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_annotation_parse: NULL argument");
    memset(out, 0, sizeof(*out));
    if (!name) name = "<xml>";
    xml_ctx c;
    memset(&c, 0, sizeof c);
    c.file = name;
    c.p = XML_ParserCreate(NULL);
    if (!c.p) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "expat parser for '%s'", name);
    XML_SetUserData(c.p, &c);
    XML_SetElementHandler(c.p, on_start, on_end);
    XML_SetCharacterDataHandler(c.p, on_text);
    if (len > (size_t)INT32_MAX) len = (size_t)INT32_MAX;
    if (XML_Parse(c.p, xml, (int)len, XML_TRUE) == XML_STATUS_ERROR && c.st == SELSA_OK)
        c.st = selsa_error(SELSA_ERR_FORMAT, "%s:%lu: malformed XML: %s", name,
                           (unsigned long)XML_GetCurrentLineNumber(c.p),
                           XML_ErrorString(XML_GetErrorCode(c.p)));
    XML_ParserFree(c.p);
    selsa_status st = c.st;
    if (st == SELSA_OK && (!c.have_w || !c.have_h))
        st = selsa_error(SELSA_ERR_FORMAT, "%s: missing <size><width>/<height>", name);
    if (st == SELSA_OK && (c.width <= 0 || c.height <= 0))
        st = selsa_error(SELSA_ERR_FORMAT, "%s: image size %d x %d must be positive", name, c.width, c.height);
    selsa_object *objs = NULL;
    int kept = 0, skipped = 0;
    if (st == SELSA_OK && c.n > 0) {
        objs = (selsa_object *)malloc(sizeof(selsa_object) * (size_t)c.n);
        if (!objs) st = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "%s: objects", name);
    }
    const double W = c.width, H = c.height;
    for (int i = 0; st == SELSA_OK && i < c.n; i++) {
        const raw_obj *r = &c.objs[i];
        int label = selsa_vid_class_from_wnid(r->name);
        if (label <= 0) {
            skipped++;
            continue;
        }
        double x1 = r->v[0], y1 = r->v[1], x2 = r->v[2], y2 = r->v[3];
        if (x2 < x1 || y2 < y1) {
            st = selsa_error(SELSA_ERR_FORMAT, "%s:%d: inverted box of '%s' (xmin %g, ymin %g, xmax %g, ymax %g)",
                             name, r->line, r->name, x1, y1, x2, y2);
            break;
        }
        if (x1 > W - 1 || y1 > H - 1 || x2 < 0 || y2 < 0) {
            st = selsa_error(SELSA_ERR_FORMAT,
                             "%s:%d: box of '%s' (xmin %g, ymin %g, xmax %g, ymax %g) lies outside the %d x %d image",
                             name, r->line, r->name, x1, y1, x2, y2, c.width, c.height);
            break;
        }
        if (mode == SELSA_BOXES_TRAIN) { /* §11: clamp for the training roidb */
            x1 = x1 > 0 ? x1 : 0;
            y1 = y1 > 0 ? y1 : 0;
            x2 = x2 < W - 1 ? x2 : W - 1;
            y2 = y2 < H - 1 ? y2 : H - 1;
        }
        selsa_object *o = &objs[kept++];
        o->label = label;
        o->x1 = (float)x1;
        o->y1 = (float)y1;
        o->x2 = (float)x2;
        o->y2 = (float)y2;
        o->trackid = r->trackid;
        o->occluded = r->occluded;
        o->generated = r->generated;
        o->line = r->line;
    }
    free(c.objs);
    if (st != SELSA_OK) {
        free(objs);
        return st;
    }
    out->width = c.width;
    out->height = c.height;
    out->objects = objs;
    out->n_objects = kept;
    out->n_skipped = skipped;
    return SELSA_OK;
}

selsa_status selsa_annotation_read(const char *xml_path, selsa_box_mode mode, selsa_annotation *out) {
    if (!xml_path || !out) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_annotation_read: NULL argument");
    char *text;
    size_t len;
    SELSA_TRY(slurp(xml_path, "annotation", &text, &len));
    selsa_status st = selsa_annotation_parse(text, len, xml_path, mode, out);
    free(text);
    return st;
}

void selsa_annotation_flip(selsa_annotation *a) {
    if (!a) return;
    const float W = (float)a->width;
    for (int i = 0; i < a->n_objects; i++) {
        selsa_object *o = &a->objects[i];
        float x1 = o->x1, x2 = o->x2;
        o->x1 = W - x2 - 1.0f;
        o->x2 = W - x1 - 1.0f;
    }
}
