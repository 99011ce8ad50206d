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
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct seed {
    uint8_t *p;
    size_t n;
} seed;

static seed *seeds;
static size_t n_seeds, cap_seeds;
static const uint8_t *cur_data;
static size_t cur_size;

static void dump_current(void) {
    int fd = open("fuzz_json-crash.bin", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    size_t off = 0;
    while (cur_data && off < cur_size) {
        ssize_t k = write(fd, cur_data + off, cur_size - off);
        if (k <= 0) break;
        off += (size_t)k;
    }
    close(fd);
    static const char msg[] = "fuzz_json: crashing input written to fuzz_json-crash.bin\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
}

static void on_signal(int sig) {
    dump_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ASan/UBSan call this before exiting on an error (weak: absent without sanitizers). */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static void add_seed(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (64 << 20)) return;
    FILE *f = fopen(path, "rb");
    if (!f) return;
    uint8_t *p = malloc((size_t)st.st_size + 1);
    size_t n = p ? fread(p, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!p) return;
    if (n_seeds == cap_seeds) {
        cap_seeds = cap_seeds ? cap_seeds * 2 : 64;
        seeds = realloc(seeds, cap_seeds * sizeof *seeds);
        if (!seeds) exit(2);
    }
    seeds[n_seeds++] = (seed){p, n};
}

static void add_mem_seed(const char *p, size_t n) {
    if (n_seeds == cap_seeds) {
        cap_seeds = cap_seeds ? cap_seeds * 2 : 64;
        seeds = realloc(seeds, cap_seeds * sizeof *seeds);
        if (!seeds) exit(2);
    }
    uint8_t *q = malloc(n ? n : 1);
    if (!q) exit(2);
    memcpy(q, p, n);
    seeds[n_seeds++] = (seed){q, n};
}

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

static void add_path(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "fuzz_json: cannot stat %s\n", path);
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        add_seed(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    char buf[4096];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(buf, sizeof buf, "%s/%s", path, e->d_name);
        add_seed(buf);
    }
    closedir(d);
}

static uint64_t rs;
static uint64_t rnd(void) { /* splitmix64 */
    uint64_t z = (rs += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

/* Mutate buf (n bytes, capacity cap) in place; returns the new size. */
static size_t mutate(uint8_t *buf, size_t n, size_t cap) {
    static const uint64_t interesting[] = {0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff,
                                           0x80000000u, 0xffffffffu, 0x100000000ull, 0x7fffffffffffffffull,
                                           0x8000000000000000ull, 0xffffffffffffffffull, 64, 1000, 4096};
    int rounds = 1 + (int)below(4);
    for (int r = 0; r < rounds; r++) {
        switch (below(9)) {
        case 0: case 1: /* bit flip */
            if (n) buf[below(n)] ^= (uint8_t)(1u << below(8));
            break;
        case 2: /* random byte */
            if (n) buf[below(n)] = (uint8_t)rnd();
            break;
        case 3: { /* interesting 1/2/4/8-byte value */
            size_t w = (size_t)1 << below(4);
            if (n >= w) {
                uint64_t v = interesting[below(sizeof interesting / sizeof interesting[0])];
                memcpy(buf + below(n - w + 1), &v, w);
            }
            break;
        }
        case 4: /* truncate */
            if (n) n = below(n + 1);
            break;
        case 5: { /* delete a chunk */
            if (n < 2) break;
            size_t a = below(n), len = 1 + below(n - a < 64 ? n - a : 64);
            memmove(buf + a, buf + a + len, n - a - len);
            n -= len;
            break;
        }
        case 6: { /* duplicate a chunk */
            if (!n) break;
            size_t a = below(n), len = 1 + below(n - a < 64 ? n - a : 64);
            if (n + len > cap) break;
            size_t at = below(n + 1);
            memmove(buf + at + len, buf + at, n - at);
            memmove(buf + at, buf + (a + len <= at ? a : a), len);
            n += len;
            break;
        }
        case 7: { /* splice a chunk from another seed */
            const seed *o = &seeds[below(n_seeds)];
            if (!o->n || !n) break;
            size_t a = below(o->n), len = 1 + below(o->n - a < 256 ? o->n - a : 256);
            size_t at = below(n);
            if (at + len > cap) len = cap - at;
            memcpy(buf + at, o->p + a, len);
            if (at + len > n) n = at + len;
            break;
        }
        case 8: { /* insert a JSON token */
            static const char *const tok[] = {
                "{", "}", "[", "]", "\"", ",", ":", "0", "1", "-", ".", "e", "E+", "9", " ", "\n", "\\",
                "\\u", "\\uD83D", "\\uDE00", "\\u0000", "null", "true", "false", "NaN", "1e999", "-0",
                "\"frame\": 1, ", "\"frame_id\": 7, ", "\"class\": 3", "\"name\": \"bear\"", "\"score\": 0.5",
                "\"box\": [1, 2, 3, 4]", "\"detections\": []", "\"video\": \"v\"", "\"width\": 9, \"height\": 9",
                "\xC3\xA9", "\xF0\x9F\x98\x80", "\xED\xA0\x80", "\xFF", "{\"a\":", "[[[[", "]]]]"};
            const char *t = tok[below(sizeof tok / sizeof tok[0])];
            size_t len = strlen(t);
            if (n + len > cap) break;
            size_t at = below(n + 1);
            memmove(buf + at + len, buf + at, n - at);
            memcpy(buf + at, t, len);
            n += len;
            break;
        }
        }
    }
    return n;
}

static void run_one(const uint8_t *p, size_t n) {
    /* exact-size heap copy so ASan sees any over-read */
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) exit(2);
    memcpy(copy, p, n);
    cur_data = copy;
    cur_size = n;
    LLVMFuzzerTestOneInput(copy, n);
    cur_data = NULL;
    free(copy);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    double seconds = 10;
    uint64_t seed_val = 1;
    int quiet = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "-s") && i + 1 < argc) seed_val = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-q")) quiet = 1;
        else {
            fprintf(stderr, "usage: %s [-t SECONDS] [-s SEED] [-q] CORPUS_DIR_OR_FILE...\n", argv[0]);
            return 2;
        }
    }
    for (; i < argc; i++) add_path(argv[i]);
    for (size_t k = 0; k < sizeof builtin_seeds / sizeof builtin_seeds[0]; k++)
        add_mem_seed(builtin_seeds[k], strlen(builtin_seeds[k]));
    signal(SIGSEGV, on_signal);
    signal(SIGBUS, on_signal);
    signal(SIGABRT, on_signal);
    signal(SIGFPE, on_signal);
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(dump_current);
    rs = seed_val;
    size_t max_n = 0;
    for (size_t s = 0; s < n_seeds; s++) {
        run_one(seeds[s].p, seeds[s].n);
        if (seeds[s].n > max_n) max_n = seeds[s].n;
    }
    size_t cap = max_n + 4096;
    uint8_t *buf = malloc(cap);
    if (!buf) return 2;
    double t0 = now(), last = t0;
    uint64_t iters = 0;
    while (now() - t0 < seconds) {
        const seed *s = &seeds[below(n_seeds)];
        memcpy(buf, s->p, s->n);
        size_t n = mutate(buf, s->n, cap);
        run_one(buf, n);
        iters++;
        if (!quiet && now() - last > 5) {
            last = now();
            fprintf(stderr, "fuzz_json: %llu runs, %.0f s\n", (unsigned long long)iters, last - t0);
        }
    }
    printf("fuzz_json: %zu seeds replayed, %llu mutated runs in %.1f s, no crash (JSON parses: %llu ok, "
           "%llu rejected; detection records delivered and re-read: %llu)\n", n_seeds,
           (unsigned long long)iters, now() - t0, stat_json_ok, stat_json_err, stat_records);
    free(buf);
    return 0;
}
#endif
