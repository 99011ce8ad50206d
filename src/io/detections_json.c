/* Our JSON Lines detection format (include/selsa/detections_json.h, docs/FORMATS.md): the
 * per-frame writer, the streaming reader built on the strict JSON reader (json.h), the
 * evaluator input (selsa_vid_dets_read_json / _mapped) and the by-content format choice. */
#include "selsa/detections_json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "selsa/fileio.h"
#include "selsa/json.h"

/* ------------------------------------------------------------------ writer ---------------- */

static selsa_status check_frame(const selsa_dets_json_frame *fr) {
    if (!fr) return selsa_error(SELSA_ERR_INVALID_ARG, "detections JSON: frame record is NULL");
    if (fr->frame < 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "detections JSON: frame %lld < 0", (long long)fr->frame);
    if (fr->frame_id < 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "detections JSON: frame %lld: frame_id %lld < 0 "
                           "(0 = unknown)", (long long)fr->frame, (long long)fr->frame_id);
    if ((fr->width == 0) != (fr->height == 0) || fr->width < 0 || fr->height < 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "detections JSON: frame %lld: image size %dx%d "
                           "(both >= 1, or both 0 = unknown)", (long long)fr->frame, fr->width,
                           fr->height);
    if (fr->n_dets < 0 || (fr->n_dets > 0 && !fr->dets))
        return selsa_error(SELSA_ERR_INVALID_ARG, "detections JSON: frame %lld: %lld detections "
                           "and dets %p", (long long)fr->frame, (long long)fr->n_dets,
                           (const void *)fr->dets);
    for (int64_t i = 0; i < fr->n_dets; i++) {
        const selsa_dets_json_det *d = &fr->dets[i];
        if (d->cls < 1 || d->cls > SELSA_VID_NUM_CLASSES)
            return selsa_error(SELSA_ERR_INVALID_ARG, "detections JSON: frame %lld detection %lld: "
                               "class %d out of range 1..%d", (long long)fr->frame, (long long)i,
                               d->cls, SELSA_VID_NUM_CLASSES);
        if (!(d->score >= 0.0 && d->score <= 1.0))
            return selsa_error(SELSA_ERR_INVALID_ARG, "detections JSON: frame %lld detection %lld: "
                               "score %g is not in [0, 1]", (long long)fr->frame, (long long)i,
                               d->score);
        for (int k = 0; k < 4; k++)
            if (!isfinite(d->box[k]))
                return selsa_error(SELSA_ERR_INVALID_ARG, "detections JSON: frame %lld detection "
                                   "%lld: box[%d] = %g is not finite", (long long)fr->frame,
                                   (long long)i, k, d->box[k]);
    }
    return SELSA_OK;
}

/* Write a validated record; returns < 0 on a write error. */
static int write_frame_body(FILE *f, const selsa_dets_json_frame *fr) {
    char b[4][SELSA_JSON_DOUBLE_BUF], s[SELSA_JSON_DOUBLE_BUF];
    if (fprintf(f, "{\"frame\": %lld", (long long)fr->frame) < 0) return -1;
    if (fr->frame_id > 0 && fprintf(f, ", \"frame_id\": %lld", (long long)fr->frame_id) < 0) return -1;
    if (fr->video) {
        if (fputs(", \"video\": ", f) < 0) return -1;
        if (selsa_json_write_string(f, fr->video, strlen(fr->video)) < 0) return -1;
    }
    if (fr->width > 0 && fprintf(f, ", \"width\": %d, \"height\": %d", fr->width, fr->height) < 0)
        return -1;
    if (fputs(", \"detections\": [", f) < 0) return -1;
    for (int64_t i = 0; i < fr->n_dets; i++) {
        const selsa_dets_json_det *d = &fr->dets[i];
        selsa_json_format_double(s, d->score);
        for (int k = 0; k < 4; k++) selsa_json_format_double(b[k], d->box[k]);
        /* class names are plain ASCII identifiers: no escaping needed */
        if (fprintf(f, "%s{\"class\": %d, \"name\": \"%s\", \"score\": %s, \"box\": [%s, %s, %s, %s]}",
                    i ? ", " : "", d->cls, selsa_vid_class_name(d->cls), s, b[0], b[1], b[2],
                    b[3]) < 0)
            return -1;
    }
    if (fputs("]}\n", f) < 0) return -1;
    return ferror(f) ? -1 : 0;
}

selsa_status selsa_dets_json_write_frame(FILE *f, const selsa_dets_json_frame *fr) {
    if (!f) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_dets_json_write_frame: FILE is NULL");
    SELSA_TRY(check_frame(fr));
    errno = 0;
    if (write_frame_body(f, fr) < 0)
        return selsa_error(SELSA_ERR_IO, "writing the detections of frame %lld failed: %s",
                           (long long)fr->frame, errno ? strerror(errno) : "stream error");
    return SELSA_OK;
}

typedef struct frames_view {
    const selsa_dets_json_frame *frames;
    int64_t n;
} frames_view;

static int write_file_body(FILE *f, const void *user) {
    const frames_view *v = user;
    for (int64_t i = 0; i < v->n; i++)
        if (write_frame_body(f, &v->frames[i]) < 0) return -1;
    return 0;
}

selsa_status selsa_dets_json_write_file(const char *path, const selsa_dets_json_frame *frames,
                                        int64_t n_frames) {
    if (!path || n_frames < 0 || (n_frames > 0 && !frames))
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_dets_json_write_file: bad arguments");
    for (int64_t i = 0; i < n_frames; i++) {
        selsa_status st = check_frame(&frames[i]);
        if (st != SELSA_OK) return selsa_error_context(st, "%s: record %lld: ", path, (long long)i);
    }
    frames_view v = {frames, n_frames};
    return selsa_file_write_stream_atomic(path, write_file_body, &v);
}

typedef struct fid_key {
    int64_t frame_id, idx;
} fid_key;

static int cmp_fid_key(const void *a, const void *b) {
    const fid_key *x = a, *y = b;
    if (x->frame_id != y->frame_id) return x->frame_id < y->frame_id ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

selsa_status selsa_vid_dets_write_json(const selsa_vid_dets *d, const selsa_vid_val_videos *videos,
                                       const char *path) {
    if (!d || !path) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_vid_dets_write_json: NULL argument");
    int64_t n = d->n;
    fid_key *k = malloc((size_t)(n ? n : 1) * sizeof *k);
    selsa_dets_json_det *dets = malloc((size_t)(n ? n : 1) * sizeof *dets);
    selsa_dets_json_frame *frames = malloc((size_t)(n ? n : 1) * sizeof *frames);
    selsa_status st = SELSA_OK;
    if (!k || !dets || !frames) {
        st = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "%s: no memory for %lld detections", path, (long long)n);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) k[i] = (fid_key){d->items[i].frame_id, i};
    qsort(k, (size_t)n, sizeof *k, cmp_fid_key); /* total order: stable within a frame */
    int64_t nf = 0;
    for (int64_t i = 0; i < n; i++) {
        const selsa_vid_det *e = &d->items[k[i].idx];
        dets[i] = (selsa_dets_json_det){{e->box[0], e->box[1], e->box[2], e->box[3]}, e->score, e->cls};
        if (i > 0 && k[i - 1].frame_id == e->frame_id) {
            frames[nf - 1].n_dets++;
            continue;
        }
        selsa_dets_json_frame *fr = &frames[nf++];
        memset(fr, 0, sizeof *fr);
        fr->frame_id = e->frame_id;
        fr->frame = e->frame_id - 1;
        fr->dets = &dets[i];
        fr->n_dets = 1;
        if (videos) {
            int64_t v = selsa_vid_val_videos_of_frame(videos, e->frame_id);
            if (v < 0) {
                st = selsa_error(SELSA_ERR_INVALID_ARG, "%s: frame id %lld is in no video of the "
                                 "list", path, (long long)e->frame_id);
                goto done;
            }
            fr->video = videos->items[v].name;
            fr->frame = e->frame_id - videos->items[v].start;
        }
    }
    st = selsa_dets_json_write_file(path, frames, nf);
done:
    free(k);
    free(dets);
    free(frames);
    return st;
}

/* ------------------------------------------------------------------ reader ---------------- */

/* Internal per-record callback: also gets the parsed doc, to point errors at values. */
typedef selsa_status (*rec_fn)(const selsa_dets_json_frame *fr, int64_t line,
                               const selsa_json_doc *doc, const selsa_json_node *root, void *user);

typedef struct reader {
    selsa_json_doc doc;
    selsa_dets_json_det *dets;
    size_t cap_dets;
    const char *what;
    unsigned flags;
    rec_fn fn;
    void *user;
    bool stop; /* a skipped truncated tail: no more lines */
} reader;

static void reader_free(reader *r) {
    selsa_json_doc_free(&r->doc);
    free(r->dets);
}

#define ERR_AT(node, ...) selsa_json_error_at(doc, (node), SELSA_ERR_FORMAT, __VA_ARGS__)

/* Describe a value for messages: "string", "number 1.5", ... */
static const char *describe_value(const selsa_json_node *n, char *buf, size_t cap) {
    if (n->type == SELSA_JSON_NUMBER) snprintf(buf, cap, "number %.17g", n->number);
    else snprintf(buf, cap, "%s", selsa_json_type_name(n->type));
    return buf;
}

/* Integer member in [lo, hi]. */
static selsa_status get_int(const selsa_json_doc *doc, const selsa_json_node *n, const char *name,
                            int64_t lo, int64_t hi, int64_t *out) {
    char b[64];
    if (n->type != SELSA_JSON_NUMBER)
        return ERR_AT(n, "\"%s\" must be an integer, got %s", name, describe_value(n, b, sizeof b));
    if (!n->is_int) {
        if (n->number == floor(n->number) && fabs(n->number) < 9.2e18)
            return ERR_AT(n, "\"%s\" must be written as an integer (no fraction or exponent), got "
                          "%s", name, describe_value(n, b, sizeof b));
        return ERR_AT(n, "\"%s\" must be an integer, got %s", name, describe_value(n, b, sizeof b));
    }
    if (n->integer < lo || n->integer > hi)
        return ERR_AT(n, "\"%s\" = %lld is out of range %lld..%lld", name, (long long)n->integer,
                      (long long)lo, (long long)hi);
    *out = n->integer;
    return SELSA_OK;
}

/* Convert the record in r->doc (a parsed line). */
static selsa_status convert_record(reader *r, int64_t line) {
    const selsa_json_doc *doc = &r->doc;
    const selsa_json_node *root = selsa_json_root(doc);
    char b[64];
    if (root->type != SELSA_JSON_OBJECT)
        return ERR_AT(root, "a record must be a JSON object, got %s", selsa_json_type_name(root->type));
    selsa_dets_json_frame fr;
    memset(&fr, 0, sizeof fr);
    const selsa_json_node *n = selsa_json_get(doc, root, "frame");
    if (!n) return ERR_AT(root, "record has no \"frame\" (the 0-based frame index)");
    SELSA_TRY(get_int(doc, n, "frame", 0, INT64_MAX, &fr.frame));
    n = selsa_json_get(doc, root, "frame_id");
    if (n && n->type != SELSA_JSON_NULL) SELSA_TRY(get_int(doc, n, "frame_id", 1, INT64_MAX, &fr.frame_id));
    n = selsa_json_get(doc, root, "video");
    if (n && n->type != SELSA_JSON_NULL) {
        if (n->type != SELSA_JSON_STRING)
            return ERR_AT(n, "\"video\" must be a string, got %s", describe_value(n, b, sizeof b));
        fr.video = selsa_json_str(doc, n);
        if (strlen(fr.video) != n->count) return ERR_AT(n, "\"video\" contains a NUL character");
    }
    const selsa_json_node *w = selsa_json_get(doc, root, "width");
    const selsa_json_node *h = selsa_json_get(doc, root, "height");
    if (w && w->type == SELSA_JSON_NULL) w = NULL;
    if (h && h->type == SELSA_JSON_NULL) h = NULL;
    if (!w != !h) return ERR_AT(w ? w : h, "\"width\" and \"height\" go together: %s without %s",
                                w ? "width" : "height", w ? "height" : "width");
    if (w) {
        int64_t v;
        SELSA_TRY(get_int(doc, w, "width", 1, INT32_MAX, &v));
        fr.width = (int32_t)v;
        SELSA_TRY(get_int(doc, h, "height", 1, INT32_MAX, &v));
        fr.height = (int32_t)v;
    }
    const selsa_json_node *arr = selsa_json_get(doc, root, "detections");
    if (!arr) return ERR_AT(root, "record has no \"detections\" (an array, may be empty)");
    if (arr->type != SELSA_JSON_ARRAY)
        return ERR_AT(arr, "\"detections\" must be an array, got %s", describe_value(arr, b, sizeof b));
    if (arr->count > r->cap_dets) {
        size_t nc = r->cap_dets ? r->cap_dets : 64;
        while (nc < arr->count) nc *= 2;
        selsa_dets_json_det *q = realloc(r->dets, nc * sizeof *q);
        if (!q) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "%s:%lld: no memory for %zu detections",
                                   r->what, (long long)line, arr->count);
        r->dets = q;
        r->cap_dets = nc;
    }
    const selsa_json_node *e = selsa_json_child(doc, arr);
    for (size_t i = 0; i < arr->count; i++, e = selsa_json_next(doc, e)) {
        selsa_dets_json_det *d = &r->dets[i];
        if (e->type != SELSA_JSON_OBJECT)
            return ERR_AT(e, "detections[%zu] must be an object, got %s", i,
                          describe_value(e, b, sizeof b));
        const selsa_json_node *c = selsa_json_get(doc, e, "class");
        const selsa_json_node *nm = selsa_json_get(doc, e, "name");
        if (!c && !nm) return ERR_AT(e, "detections[%zu] has neither \"class\" nor \"name\"", i);
        int64_t cls = 0;
        if (c) {
            char key[48];
            snprintf(key, sizeof key, "detections[%zu].class", i);
            SELSA_TRY(get_int(doc, c, key, 1, SELSA_VID_NUM_CLASSES, &cls));
        }
        if (nm) {
            if (nm->type != SELSA_JSON_STRING)
                return ERR_AT(nm, "detections[%zu].name must be a string, got %s", i,
                              describe_value(nm, b, sizeof b));
            const char *s = selsa_json_str(doc, nm);
            int by_name = strlen(s) == nm->count ? selsa_vid_class_from_name(s) : 0;
            if (by_name == 0)
                return ERR_AT(nm, "detections[%zu].name \"%.60s\" is not one of the %d class names",
                              i, s, SELSA_VID_NUM_CLASSES);
            if (c && by_name != cls)
                return ERR_AT(nm, "detections[%zu]: name \"%s\" is class %d but \"class\" is %lld",
                              i, s, by_name, (long long)cls);
            cls = by_name;
        }
        d->cls = (int32_t)cls;
        const selsa_json_node *sc = selsa_json_get(doc, e, "score");
        if (!sc) return ERR_AT(e, "detections[%zu] has no \"score\"", i);
        if (sc->type != SELSA_JSON_NUMBER)
            return ERR_AT(sc, "detections[%zu].score must be a number, got %s", i,
                          describe_value(sc, b, sizeof b));
        if (!(sc->number >= 0.0 && sc->number <= 1.0))
            return ERR_AT(sc, "detections[%zu].score %.17g is not in [0, 1]", i, sc->number);
        d->score = sc->number;
        const selsa_json_node *bx = selsa_json_get(doc, e, "box");
        if (!bx) return ERR_AT(e, "detections[%zu] has no \"box\" [x1, y1, x2, y2]", i);
        if (bx->type != SELSA_JSON_ARRAY || bx->count != 4)
            return ERR_AT(bx, "detections[%zu].box must be an array of 4 numbers [x1, y1, x2, y2], "
                          "got %s%s", i, describe_value(bx, b, sizeof b),
                          bx->type == SELSA_JSON_ARRAY ? " of another length" : "");
        const selsa_json_node *v = selsa_json_child(doc, bx);
        for (int k = 0; k < 4; k++, v = selsa_json_next(doc, v)) {
            if (v->type != SELSA_JSON_NUMBER)
                return ERR_AT(v, "detections[%zu].box[%d] must be a number, got %s", i, k,
                              describe_value(v, b, sizeof b));
            d->box[k] = v->number; /* finite: the JSON reader rejects overflow */
        }
    }
    fr.dets = r->dets;
    fr.n_dets = (int64_t)arr->count;
    return r->fn(&fr, line, doc, root, r->user);
}

/* One line without its '\n'. last_open: the file ends on this line without a newline. */
static selsa_status reader_line(reader *r, const char *s, size_t len, int64_t line, bool last_open) {
    if (line == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3, len -= 3; /* BOM */
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) i++;
    if (i == len) return SELSA_OK; /* blank line */
    selsa_json_parse_opts o = {r->what, line, 0};
    selsa_status st = selsa_json_parse(&r->doc, s, len, &o);
    if (st != SELSA_OK) {
        if (!r->doc.eof_error) return st;
        char msg[700];
        snprintf(msg, sizeof msg, "%s", selsa_last_error());
        if (last_open) {
            if (r->flags & SELSA_DETS_JSON_ALLOW_TRUNCATED) {
                selsa_log(SELSA_LOG_WARN, "%s:%lld: incomplete last line skipped (%s)", r->what,
                          (long long)line, msg);
                r->stop = true;
                return SELSA_OK;
            }
            return selsa_error(st, "%s -- incomplete last line: the file ends inside a record "
                               "(truncated while being written?)", msg);
        }
        return selsa_error(st, "%s -- the record is incomplete: each record must be one complete "
                           "JSON object on one line", msg);
    }
    return convert_record(r, line);
}

static selsa_status parse_impl(const char *text, size_t len, const char *what, unsigned flags,
                               rec_fn fn, void *user) {
    if ((!text && len) || !fn) return selsa_error(SELSA_ERR_INVALID_ARG, "detections JSON: NULL argument");
    reader r;
    memset(&r, 0, sizeof r);
    selsa_json_doc_init(&r.doc);
    r.what = what ? what : "detections";
    r.flags = flags;
    r.fn = fn;
    r.user = user;
    selsa_status st = SELSA_OK;
    size_t p = 0;
    int64_t line = 0;
    while (p < len && st == SELSA_OK && !r.stop) {
        const char *nl = memchr(text + p, '\n', len - p);
        size_t e = nl ? (size_t)(nl - text) : len;
        st = reader_line(&r, text + p, e - p, ++line, !nl);
        p = nl ? e + 1 : len;
    }
    reader_free(&r);
    return st;
}

static selsa_status read_impl(const char *path, unsigned flags, rec_fn fn, void *user) {
    if (!path || !fn) return selsa_error(SELSA_ERR_INVALID_ARG, "detections JSON: NULL argument");
    FILE *f = fopen(path, "rb");
    if (!f) return selsa_error(SELSA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    reader r;
    memset(&r, 0, sizeof r);
    selsa_json_doc_init(&r.doc);
    r.what = path;
    r.flags = flags;
    r.fn = fn;
    r.user = user;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    int64_t line = 0;
    selsa_status st = SELSA_OK;
    while (st == SELSA_OK && !r.stop && (n = getline(&buf, &cap, f)) >= 0) {
        size_t len = (size_t)n;
        bool open_end = !(len && buf[len - 1] == '\n');
        if (!open_end) len--;
        st = reader_line(&r, buf, len, ++line, open_end);
    }
    if (st == SELSA_OK && ferror(f))
        st = selsa_error(SELSA_ERR_IO, "%s: read error after line %lld", path, (long long)line);
    free(buf);
    fclose(f);
    reader_free(&r);
    return st;
}

typedef struct public_cb {
    selsa_dets_json_frame_fn fn;
    void *user;
} public_cb;

static selsa_status call_public(const selsa_dets_json_frame *fr, int64_t line,
                                const selsa_json_doc *doc, const selsa_json_node *root, void *user) {
    const public_cb *p = user;
    return p->fn(fr, line, p->user);
}

selsa_status selsa_dets_json_parse(const char *text, size_t len, const char *what, unsigned flags,
                                   selsa_dets_json_frame_fn fn, void *user) {
    if (!fn) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_dets_json_parse: callback is NULL");
    public_cb p = {fn, user};
    return parse_impl(text, len, what, flags, call_public, &p);
}

selsa_status selsa_dets_json_read(const char *path, unsigned flags, selsa_dets_json_frame_fn fn,
                                  void *user) {
    if (!fn) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_dets_json_read: callback is NULL");
    public_cb p = {fn, user};
    return read_impl(path, flags, call_public, &p);
}

/* ------------------------------------------------------------------ whole file ------------ */

static selsa_status grow(void **p, int64_t *cap, int64_t need, size_t elem) {
    if (need <= *cap) return SELSA_OK;
    int64_t nc = *cap > 0 ? *cap : 16;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "detections JSON: no memory for %lld entries",
                               (long long)nc);
    *p = q;
    *cap = nc;
    return SELSA_OK;
}

static selsa_status collect(const selsa_dets_json_frame *fr, int64_t line, void *user) {
    selsa_dets_json_file *o = user;
    int64_t cap_lines = o->cap_frames;
    SELSA_TRY(grow((void **)&o->frames, &o->cap_frames, o->n_frames + 1, sizeof *o->frames));
    SELSA_TRY(grow((void **)&o->lines, &cap_lines, o->n_frames + 1, sizeof *o->lines));
    SELSA_TRY(grow((void **)&o->dets, &o->cap_dets, o->n_dets + fr->n_dets, sizeof *o->dets));
    const char *video = NULL;
    if (fr->video) {
        if (o->n_names && strcmp(o->names[o->n_names - 1], fr->video) == 0) {
            video = o->names[o->n_names - 1];
        } else {
            SELSA_TRY(grow((void **)&o->names, &o->cap_names, o->n_names + 1, sizeof *o->names));
            char *s = strdup(fr->video);
            if (!s) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "detections JSON: no memory");
            o->names[o->n_names++] = s;
            video = s;
        }
    }
    if (fr->n_dets) memcpy(o->dets + o->n_dets, fr->dets, (size_t)fr->n_dets * sizeof *o->dets);
    selsa_dets_json_frame *c = &o->frames[o->n_frames];
    *c = *fr;
    c->video = video;
    c->dets = NULL; /* set when the arrays stop moving */
    o->lines[o->n_frames] = line;
    o->n_frames++;
    o->n_dets += fr->n_dets;
    return SELSA_OK;
}

selsa_status selsa_dets_json_read_file(const char *path, unsigned flags, selsa_dets_json_file *out) {
    if (!out) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_dets_json_read_file: out is NULL");
    memset(out, 0, sizeof *out);
    SELSA_TRY(selsa_dets_json_read(path, flags, collect, out));
    int64_t first = 0;
    for (int64_t i = 0; i < out->n_frames; i++) {
        out->frames[i].dets = out->dets + first; /* frames' detections are contiguous in order */
        first += out->frames[i].n_dets;
    }
    return SELSA_OK;
}

void selsa_dets_json_file_free(selsa_dets_json_file *f) {
    if (!f) return;
    for (int64_t i = 0; i < f->n_names; i++) free(f->names[i]);
    free(f->names);
    free(f->frames);
    free(f->dets);
    free(f->lines);
    memset(f, 0, sizeof *f);
}

/* ------------------------------------------------------------------ evaluator inputs ------ */

typedef struct eval_sink {
    selsa_vid_dets *d;
    const selsa_vid_val_videos *videos;
    const char *path;
} eval_sink;

static selsa_status to_eval(const selsa_dets_json_frame *fr, int64_t line, const selsa_json_doc *doc,
                            const selsa_json_node *root, void *user) {
    eval_sink *s = user;
    int64_t fid = fr->frame_id;
    if (s->videos && fr->video) {
        const selsa_json_node *vn = selsa_json_get(doc, root, "video");
        int64_t v = selsa_vid_val_videos_find(s->videos, fr->video);
        if (v < 0) return ERR_AT(vn, "video \"%.100s\" is not in the video list", fr->video);
        const selsa_vid_val_video *vv = &s->videos->items[v];
        if (fr->frame >= vv->num_frames)
            return ERR_AT(selsa_json_get(doc, root, "frame"), "frame %lld is past the end of video "
                          "\"%s\" (%lld frames in the list)", (long long)fr->frame, vv->name,
                          (long long)vv->num_frames);
        int64_t mapped = vv->start + fr->frame;
        if (fid == 0) fid = mapped;
        else if (fid != mapped)
            return ERR_AT(selsa_json_get(doc, root, "frame_id"), "frame_id %lld disagrees with the "
                          "video list (video \"%s\" frame %lld is id %lld)", (long long)fid,
                          vv->name, (long long)fr->frame, (long long)mapped);
    }
    if (fid == 0) {
        if (s->videos)
            return ERR_AT(root, "record has neither \"frame_id\" nor \"video\": cannot map frame "
                          "%lld to a global frame id", (long long)fr->frame);
        return ERR_AT(root, "record has no \"frame_id\": the evaluator needs global 1-based frame "
                      "ids (write them, or map \"video\" + \"frame\" through a VID_val_videos.txt "
                      "list)");
    }
    for (int64_t i = 0; i < fr->n_dets; i++) {
        const selsa_dets_json_det *e = &fr->dets[i];
        selsa_status st = selsa_vid_dets_add(s->d, fid, e->cls, e->score, e->box[0], e->box[1],
                                             e->box[2], e->box[3]);
        if (st != SELSA_OK) return selsa_error_context(st, "%s:%lld: ", s->path, (long long)line);
    }
    return SELSA_OK;
}

selsa_status selsa_vid_dets_read_json_mapped(selsa_vid_dets *d, const char *path,
                                             const selsa_vid_val_videos *videos) {
    if (!d || !path) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_vid_dets_read_json: NULL argument");
    int64_t n0 = d->n;
    eval_sink s = {d, videos, path};
    selsa_status st = read_impl(path, 0, to_eval, &s);
    if (st != SELSA_OK) d->n = n0; /* all or nothing */
    return st;
}

selsa_status selsa_vid_dets_read_json(selsa_vid_dets *d, const char *path) {
    return selsa_vid_dets_read_json_mapped(d, path, NULL);
}

selsa_status selsa_vid_dets_read_any(selsa_vid_dets *d, const char *path) {
    if (!d || !path) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_vid_dets_read_any: NULL argument");
    FILE *f = fopen(path, "rb");
    if (!f) return selsa_error(SELSA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char bom[3];
    if (!(fread(bom, 1, 3, f) == 3 && memcmp(bom, "\xEF\xBB\xBF", 3) == 0)) rewind(f);
    int c;
    bool json = false;
    while ((c = getc(f)) != EOF) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') continue;
        json = c == '{';
        break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) return selsa_error(SELSA_ERR_IO, "%s: read error", path);
    if (json) return selsa_vid_dets_read_json(d, path);
    int64_t n0 = d->n;
    selsa_status st = selsa_vid_dets_read_txt(d, path);
    if (st != SELSA_OK) d->n = n0;
    return st;
}
