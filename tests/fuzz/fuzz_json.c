/* Fuzz harness for the strict JSON reader (src/io/json.c) and the JSON Lines detection format
 * (src/io/detections_json.c).
 *
 * libFuzzer:  clang -g -O1 -fsanitize=fuzzer,address,undefined -DSELSA_FUZZ_LIBFUZZER \
 *               -Wno-unknown-pragmas -Iinclude -Isrc -D_GNU_SOURCE $(FUZZ_JSON_SRC) -lz -lm \
 *               -lpthread -o fuzz_json
 *   with FUZZ_JSON_SRC = tests/fuzz/fuzz_json.c src/io/json.c src/io/detections_json.c
 *     src/eval/classes.c src/eval/vid_eval.c src/eval/motion_iou.c src/io/matv5.c
 *     src/core/fileio.c src/core/status.c
 *   (detections_json.c uses the evaluator's containers and the atomic file writer)
 * standalone (plain gcc, no libFuzzer), as built and run by the author:
 *   gcc -std=c11 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
 *     -fno-sanitize-recover=undefined -Wall -Wextra -Werror -Wno-unused-parameter \
 *     -Wno-unknown-pragmas -Iinclude -Isrc -D_GNU_SOURCE $(FUZZ_JSON_SRC) -lz -lm -lpthread \
 *     -o build/fuzz_json
 *   build/fuzz_json [-t SECONDS] [-s SEED] [-q] [CORPUS_DIR_OR_FILE...]
 *   replays the built-in seeds (and any given files) once, then mutates random seeds (bit flips,
 *   interesting values, truncation, chunk insert/delete/duplicate, splicing, JSON token
 *   insertion) until SECONDS elapse. A crash writes the input to fuzz_json-crash.bin.
 *
 * Properties checked on every input (abort() = a finding):
 *   - selsa_json_parse either fails with SELSA_ERR_FORMAT/OUT_OF_MEMORY, a message of the form
 *     "<what>:<line>:<col>: ..." and an empty doc, or succeeds with a well-formed tape (subtree
 *     ends nested and increasing, child counts matching the walk, strings NUL-terminated inside
 *     the pool, numbers finite, every object key found by selsa_json_get);
 *   - every number re-formatted with selsa_json_format_double reads back bit-exact;
 *   - every string re-written with selsa_json_write_string parses back to the same bytes when
 *     it is valid UTF-8;
 *   - the detection reader only delivers valid records (class 1..30, score in [0, 1], finite
 *     boxes, frame >= 0), and each delivered record written with selsa_dets_json_write_frame
 *     reads back identical, bit for bit. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "selsa/detections_json.h"
#include "selsa/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* coverage-free progress counters, printed by the standalone driver */
static unsigned long long stat_json_ok, stat_json_err, stat_records;

static int message_has_position(void) {
    /* "<what>:<line>:<col>: " with numeric line and column */
    const char *m = selsa_last_error();
    const char *c = strstr(m, ": ");
    if (!c) return 0;
    const char *p = c;
    int colons = 0;
    while (p > m && colons < 2) {
        p--;
        if (*p == ':') colons++;
        else if (*p < '0' || *p > '9') return 0;
    }
    return colons == 2;
}

static void check_doc(const selsa_json_doc *doc) {
    size_t n = doc->n_nodes;
    if (n == 0 || doc->nodes[0].end != n) abort();
    char buf[SELSA_JSON_DOUBLE_BUF];
    selsa_json_doc tmp;
    selsa_json_doc_init(&tmp);
    for (size_t i = 0; i < n; i++) {
        const selsa_json_node *nd = &doc->nodes[i];
        if (nd->end <= i || nd->end > n) abort();
        if (nd->type == SELSA_JSON_ARRAY || nd->type == SELSA_JSON_OBJECT) {
            size_t walked = 0, k = i + 1;
            while (k < nd->end) {
                const selsa_json_node *c = &doc->nodes[k];
                if (c->end > nd->end) abort(); /* children nest inside the parent */
                if (nd->type == SELSA_JSON_OBJECT) {
                    if (c->type != SELSA_JSON_STRING || k + 1 >= nd->end) abort();
                    const selsa_json_node *v = selsa_json_get(doc, nd, selsa_json_str(doc, c));
                    /* keys with an embedded NUL cannot be looked up by C string */
                    if (strlen(selsa_json_str(doc, c)) == c->count && v != c + 1) abort();
                    k = doc->nodes[k + 1].end;
                } else {
                    k = c->end;
                }
                walked++;
            }
            if (k != nd->end || walked != nd->count) abort();
        } else if (nd->end != i + 1) {
            abort();
        }
        if (nd->type == SELSA_JSON_STRING) {
            if (nd->str + nd->count >= doc->n_strings || doc->strings[nd->str + nd->count] != '\0') abort();
            /* write it back and re-read: valid UTF-8 by construction, so bytes must match */
            char *out = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&out, &len);
            if (!f) abort();
            if (selsa_json_write_string(f, doc->strings + nd->str, nd->count) != 0) abort();
            fclose(f);
            if (selsa_json_parse(&tmp, out, len, NULL) != SELSA_OK) abort();
            const selsa_json_node *r = selsa_json_root(&tmp);
            if (r->type != SELSA_JSON_STRING || r->count != nd->count ||
                memcmp(selsa_json_str(&tmp, r), doc->strings + nd->str, nd->count) != 0)
                abort();
            free(out);
        }
        if (nd->type == SELSA_JSON_NUMBER) {
            if (!isfinite(nd->number)) abort();
            if (nd->is_int && (double)nd->integer != nd->number) abort();
            int len = selsa_json_format_double(buf, nd->number);
            if (len <= 0 || selsa_json_parse(&tmp, buf, (size_t)len, NULL) != SELSA_OK) abort();
            double back = selsa_json_root(&tmp)->number;
            if (memcmp(&back, &nd->number, sizeof back) != 0) abort();
        }
    }
    selsa_json_doc_free(&tmp);
}

typedef struct rt_state {
    int64_t records;
} rt_state;

static selsa_status reread_cb(const selsa_dets_json_frame *fr, int64_t line, void *user) {
    const selsa_dets_json_frame *want = user;
    if (fr->frame != want->frame || fr->frame_id != want->frame_id || fr->width != want->width ||
        fr->height != want->height || fr->n_dets != want->n_dets)
        abort();
    if ((fr->video == NULL) != (want->video == NULL)) abort();
    for (int64_t i = 0; i < fr->n_dets; i++)
        if (fr->dets[i].cls != want->dets[i].cls ||
            memcmp(&fr->dets[i].score, &want->dets[i].score, sizeof(double)) != 0 ||
            memcmp(fr->dets[i].box, want->dets[i].box, sizeof fr->dets[i].box) != 0)
            abort();
    return SELSA_OK;
}

static selsa_status record_cb(const selsa_dets_json_frame *fr, int64_t line, void *user) {
    rt_state *st = user;
    st->records++;
    stat_records++;
    if (fr->frame < 0 || fr->frame_id < 0 || fr->width < 0 || fr->height < 0 || fr->n_dets < 0) abort();
    for (int64_t i = 0; i < fr->n_dets; i++) {
        const selsa_dets_json_det *d = &fr->dets[i];
        if (d->cls < 1 || d->cls > 30 || !(d->score >= 0 && d->score <= 1)) abort();
        for (int k = 0; k < 4; k++)
            if (!isfinite(d->box[k])) abort();
    }
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f) abort();
    if (selsa_dets_json_write_frame(f, fr) != SELSA_OK) abort();
    fclose(f);
    if (selsa_dets_json_parse(out, len, "rewrite", 0, reread_cb, (void *)fr) != SELSA_OK) abort();
    free(out);
    return SELSA_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    selsa_json_doc doc;
    selsa_json_doc_init(&doc);
    for (int pass = 0; pass < 2; pass++) {
        selsa_json_parse_opts o = {"fuzz", pass ? 3 : 0, pass ? 4 : 0};
        selsa_status s = selsa_json_parse(&doc, (const char *)data, size, &o);
        if (s == SELSA_OK) {
            stat_json_ok++;
            check_doc(&doc);
        } else {
            stat_json_err++;
            if (s != SELSA_ERR_FORMAT && s != SELSA_ERR_OUT_OF_MEMORY) abort();
            if (doc.n_nodes != 0 || selsa_json_root(&doc) != NULL) abort();
            if (s == SELSA_ERR_FORMAT && !message_has_position()) abort();
        }
    }
    selsa_json_doc_free(&doc);
    for (unsigned flags = 0; flags < 2; flags++) {
        rt_state st = {0};
        selsa_status s = selsa_dets_json_parse((const char *)data, size, "fuzz.jsonl",
                                               flags ? SELSA_DETS_JSON_ALLOW_TRUNCATED : 0, record_cb, &st);
        if (s != SELSA_OK && (s != SELSA_ERR_FORMAT || selsa_last_error()[0] == '\0')) abort();
        if (s == SELSA_ERR_FORMAT && !message_has_position()) abort();
    }
    return 0;
}

#ifndef SELSA_FUZZ_LIBFUZZER
#include "fuzz_driver.h"

/* Built-in corpus: valid detection files, JSON corner cases and known-bad inputs. */
static const char *const builtin_seeds[] = {
    "{\"frame\": 0, \"frame_id\": 1, \"video\": \"val/ILSVRC2015_val_00007010\", \"width\": 1280, "
    "\"height\": 720, \"detections\": [{\"class\": 3, \"name\": \"bear\", \"score\": 0.912345, "
    "\"box\": [10.5, 20.25, 300, 400.125]}, {\"class\": 30, \"score\": 1, \"box\": [0, 0, 1e3, 2E2]}]}\n"
    "{\"frame\": 1, \"frame_id\": 2, \"detections\": []}\n",
    "{\"frame\": 5, \"video\": \"caf\\u00e9 \\\"x\\\" \\ud83d\\ude00\", \"extra\": {\"k\": [null, true, false, -0.0, "
    "4.9406564584124654e-324]}, \"detections\": [{\"name\": \"zebra\", \"score\": 0.30000000000000004, "
    "\"box\": [-1.7976931348623157e308, 0.1, 1, 2]}]}\r\n\n",
    "\xEF\xBB\xBF{\"frame\": 0, \"detections\": [{\"class\": 1, \"score\": 0.5, \"box\": [0, 0, 9, 9]}",
    "[1, 2.5, -3e-7, \"a\\n\\t\\/\", {\"x\": {\"y\": [[], {}]}}, 1e400, 01, NaN]",
    "{\"a\": 1, \"b\": 2, \"c\": 3, \"d\": 4, \"e\": 5, \"f\": 6, \"g\": 7, \"h\": 8, \"i\": 9, \"a\": 0}",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    "\"\\uD800\\uDC00 \\uDBFF\\uDFFF \\uD800 \\uDC00 \xC3\xA9 \xE2\x82\xAC \xF4\x8F\xBF\xBF\"",
    "12 3 0.5000 1.00 2.00 3.00 4.00\n",
};

static void add_builtin_seeds(void) {
    for (size_t k = 0; k < sizeof builtin_seeds / sizeof builtin_seeds[0]; k++)
        fuzz_add_mem_seed(builtin_seeds[k], strlen(builtin_seeds[k]));
}

/* mutation: insert a JSON token */
static size_t insert_token(uint8_t *buf, size_t n, size_t cap) {
    static const char *const tok[] = {
        "{", "}", "[", "]", "\"", ",", ":", "0", "1", "-", ".", "e", "E+", "9", " ", "\n", "\\",
        "\\u", "\\uD83D", "\\uDE00", "\\u0000", "null", "true", "false", "NaN", "1e999", "-0",
        "\"frame\": 1, ", "\"frame_id\": 7, ", "\"class\": 3", "\"name\": \"bear\"", "\"score\": 0.5",
        "\"box\": [1, 2, 3, 4]", "\"detections\": []", "\"video\": \"v\"", "\"width\": 9, \"height\": 9",
        "\xC3\xA9", "\xF0\x9F\x98\x80", "\xED\xA0\x80", "\xFF", "{\"a\":", "[[[[", "]]]]"};
    const char *t = tok[fuzz_below(sizeof tok / sizeof tok[0])];
    size_t len = strlen(t);
    if (n + len > cap) return n;
    size_t at = fuzz_below(n + 1);
    memmove(buf + at + len, buf + at, n - at);
    memcpy(buf + at, t, len);
    return n + len;
}

static void report(FILE *out) {
    fprintf(out, " (JSON parses: %llu ok, %llu rejected; detection records delivered and re-read: %llu)", stat_json_ok,
            stat_json_err, stat_records);
}

int main(int argc, char **argv) {
    const fuzz_harness h = {"fuzz_json", insert_token, add_builtin_seeds, report};
    return fuzz_main(&h, argc, argv);
}
#endif
