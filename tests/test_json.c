/* Tests of the strict JSON reader (json.h) and the JSON Lines detection format
 * (detections_json.h): grammar, escapes, numbers, error positions, hostile input, writer ->
 * reader bit-exact round trips, record validation, and text-vs-JSON parity through
 * selsa_vid_eval. No fixtures needed (pure C); temporary files live under a mkdtemp folder. */
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "selsa/detections_json.h"
#include "selsa/eval.h"
#include "selsa/json.h"

static char g_tmp[] = "/tmp/selsa_test_json_XXXXXX";

static const char *tmp_path(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_tmp, name);
    return buf[k];
}

static void write_text(const char *path, const char *text, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        TH_CHECK(0, "cannot write %s", path);
        return;
    }
    fwrite(text, 1, len, f);
    fclose(f);
}

/* The last error must contain `want` and, if pos is not NULL, ":<pos>: " (line:col). */
static void expect_msg(const char *ctx, const char *want, const char *pos) {
    const char *m = selsa_last_error();
    TH_CHECK(strstr(m, want) != NULL, "%s: message \"%s\" lacks \"%s\"", ctx, m, want);
    if (pos) {
        char p[64];
        snprintf(p, sizeof p, ":%s: ", pos);
        TH_CHECK(strstr(m, p) != NULL, "%s: message \"%s\" lacks position %s", ctx, m, pos);
    }
}

/* ------------------------------------------------------------------ JSON reader ----------- */

static void test_json_basic(void) {
    selsa_json_doc doc;
    selsa_json_doc_init(&doc);
    const char *t = " {\"a\": [1, -2.5e3, true, false, null, \"x\\u00e9\\ud83d\\ude00\\n\"],"
                    " \"b\": {\"c\": {}}, \"e\": [], \"\": 0, \"z\\u0000z\": 9223372036854775807,"
                    " \"big\": 9223372036854775808, \"neg0\": -0, \"f\": 0.1} \r\n";
    if (!TH_OK(selsa_json_parse(&doc, t, strlen(t), NULL))) return;
    const selsa_json_node *r = selsa_json_root(&doc);
    TH_CHECK(r && r->type == SELSA_JSON_OBJECT && r->count == 8, "root object with 8 members");
    TH_CHECK(r->end == doc.n_nodes, "root subtree covers all nodes");
    const selsa_json_node *a = selsa_json_get(&doc, r, "a");
    TH_CHECK(a && a->type == SELSA_JSON_ARRAY && a->count == 6, "a is an array of 6");
    const selsa_json_node *e = selsa_json_child(&doc, a);
    TH_CHECK(e->type == SELSA_JSON_NUMBER && e->is_int && e->integer == 1 && e->number == 1.0, "a[0] = 1");
    e = selsa_json_next(&doc, e);
    TH_CHECK(e->type == SELSA_JSON_NUMBER && !e->is_int && e->number == -2500.0, "a[1] = -2.5e3");
    e = selsa_json_next(&doc, e);
    TH_CHECK(e->type == SELSA_JSON_TRUE, "a[2] true");
    e = selsa_json_next(&doc, e);
    TH_CHECK(e->type == SELSA_JSON_FALSE, "a[3] false");
    e = selsa_json_next(&doc, e);
    TH_CHECK(e->type == SELSA_JSON_NULL, "a[4] null");
    e = selsa_json_next(&doc, e);
    const char *s = selsa_json_str(&doc, e);
    TH_CHECK(e->type == SELSA_JSON_STRING && e->count == 8 &&
                 memcmp(s, "x\xC3\xA9\xF0\x9F\x98\x80\n", 8) == 0 && s[8] == '\0',
             "escapes decode to UTF-8 (surrogate pair -> U+1F600)");
    const selsa_json_node *b = selsa_json_get(&doc, r, "b");
    const selsa_json_node *c = selsa_json_get(&doc, b, "c");
    TH_CHECK(c && c->type == SELSA_JSON_OBJECT && c->count == 0 && !selsa_json_child(&doc, c), "b.c = {}");
    TH_CHECK(selsa_json_get(&doc, r, "e")->count == 0, "e = []");
    TH_CHECK(selsa_json_get(&doc, r, "")->integer == 0, "empty key");
    TH_CHECK(selsa_json_get(&doc, r, "z") == NULL, "a key with \\u0000 does not match its prefix");
    /* iterate members to find the key with an embedded NUL */
    const selsa_json_node *k = selsa_json_child(&doc, r);
    const selsa_json_node *znode = NULL;
    for (size_t m = 0; m < r->count; m++, k = selsa_json_next(&doc, k + 1))
        if (k->count == 3 && memcmp(selsa_json_str(&doc, k), "z\0z", 3) == 0) znode = k + 1;
    TH_CHECK(znode && znode->is_int && znode->integer == INT64_MAX, "INT64_MAX exact");
    const selsa_json_node *big = selsa_json_get(&doc, r, "big");
    TH_CHECK(big && !big->is_int && big->number == 9223372036854775808.0, "2^63 is a double, not int64");
    const selsa_json_node *z = selsa_json_get(&doc, r, "neg0");
    TH_CHECK(z && z->is_int && z->number == 0 && signbit(z->number), "-0 keeps its sign");
    TH_CHECK(selsa_json_get(&doc, r, "f")->number == 0.1, "0.1 correctly rounded");

    /* scalars at top level, reuse of the doc */
    TH_OK(selsa_json_parse(&doc, "\"just\"", 6, NULL));
    TH_CHECK(selsa_json_root(&doc)->type == SELSA_JSON_STRING && doc.n_nodes == 1, "top-level string");
    TH_OK(selsa_json_parse(&doc, " 1e-400 ", 8, NULL));
    TH_CHECK(selsa_json_root(&doc)->number == 0.0, "underflow gives 0");
    TH_OK(selsa_json_parse(&doc, "4.9406564584124654e-324", 23, NULL));
    TH_CHECK(selsa_json_root(&doc)->number == 4.9406564584124654e-324, "smallest subnormal");
    TH_OK(selsa_json_parse(&doc, "1.7976931348623157e308", 22, NULL));
    TH_CHECK(selsa_json_root(&doc)->number == 1.7976931348623157e308, "DBL_MAX");
    /* a long number (10000 digits) */
    size_t n = 10002;
    char *longnum = malloc(n);
    longnum[0] = '0';
    longnum[1] = '.';
    for (size_t i = 2; i < n; i++) longnum[i] = (char)('0' + (i % 10));
    TH_OK(selsa_json_parse(&doc, longnum, n, NULL));
    TH_CHECK(fabs(selsa_json_root(&doc)->number - 0.2345678901234568) < 1e-15, "10000-digit number");
    free(longnum);
    selsa_json_doc_free(&doc);
}

typedef struct bad_case {
    const char *text; /* NUL-terminated unless len given */
    size_t len;
    const char *want; /* message substring */
    const char *pos;  /* "line:col" */
    int eof;          /* expected eof_error */
} bad_case;

static void test_json_errors(void) {
    static const bad_case cases[] = {
        {"", 0, "empty input", "1:1", 1},
        {"  \n ", 0, "empty input", "2:2", 1},
        {"[1,2", 0, "unexpected end of input", "1:5", 1},
        {"[1,]", 0, "trailing comma", "1:4", 0},
        {"{\"a\":1,}", 0, "expected a string key", "1:8", 0},
        {"{\"a\":1,\"b\":2,\"a\":3}", 0, "duplicate key \"a\"", "1:14", 0},
        {"[\"\\x\"]", 0, "invalid escape \\x", "1:3", 0},
        {"[\"\\u12G4\"]", 0, "not a hex digit", "1:7", 0},
        {"[\"\\uD800\"]", 0, "lone high surrogate", "1:3", 0},
        {"[\"\\uD800x\"]", 0, "lone high surrogate", "1:3", 0},
        {"[\"\\uDC00\"]", 0, "lone low surrogate", "1:3", 0},
        {"[\"\\uD800\\u0041\"]", 0, "not a low surrogate", "1:3", 0},
        {"\"\\uD800", 0, "unexpected end of input after high surrogate", "1:8", 1},
        {"\"\\u12", 0, "unexpected end of input", "1:6", 1},
        {"1e999", 0, "out of the range of a double", "1:1", 0},
        {"[-1e999]", 0, "out of the range of a double", "1:2", 0},
        {"[1, NaN]", 0, "NaN and Infinity", "1:5", 0},
        {"Infinity", 0, "NaN and Infinity", "1:1", 0},
        {"-Infinity", 0, "Infinity is not a JSON number", "1:1", 0},
        {"nan", 0, "invalid literal", "1:1", 0},
        {"[tru", 0, "unexpected end of input in 'true'", "1:5", 1},
        {"trux", 0, "invalid literal", "1:1", 0},
        {"nullx", 0, "trailing garbage", "1:5", 0},
        {"[1] x", 0, "trailing garbage", "1:5", 0},
        {"{} {}", 0, "trailing garbage", "1:4", 0},
        {"\"a\tb\"", 0, "control character 0x09", "1:3", 0},
        {"\"a\nb\"", 0, "control character 0x0A", "1:3", 0},
        {"{\"a\" 1}", 0, "expected ':'", "1:6", 0},
        {"{1:2}", 0, "expected a string key", "1:2", 0},
        {"01", 0, "leading zero", "1:2", 0},
        {"-", 0, "unexpected end of input in a number", "1:2", 1},
        {"-a", 0, "expected a digit", "1:2", 0},
        {"1.", 0, "unexpected end of input", "1:3", 1},
        {"1.e5", 0, "expected a digit after '.'", "1:3", 0},
        {"1e+", 0, "unexpected end of input", "1:4", 1},
        {"+1", 0, "expected a value, got '+'", "1:1", 0},
        {".5", 0, "expected a value", "1:1", 0},
        {"'a'", 0, "expected a value, got '''", "1:1", 0},
        {"[1 2]", 0, "expected ',' or ']'", "1:4", 0},
        {"{\"a\":1 \"b\":2}", 0, "expected ',' or '}'", "1:8", 0},
        {"[1}", 0, "expected ',' or ']'", "1:3", 0},
        {"// c\n1", 0, "expected a value, got '/'", "1:1", 0},
        {"\"\xC3\x28\"", 0, "invalid UTF-8 byte 0xC3", "1:2", 0},
        {"\"\xED\xA0\x80\"", 0, "invalid UTF-8", "1:2", 0},     /* encoded surrogate */
        {"\"\xF4\x90\x80\x80\"", 0, "invalid UTF-8", "1:2", 0}, /* > U+10FFFF */
        {"\"\xC0\xAF\"", 0, "invalid UTF-8", "1:2", 0},         /* overlong '/' */
        {"\"\xE0\x80\xAF\"", 0, "invalid UTF-8", "1:2", 0},     /* overlong 3-byte */
        {"\"\xFF\"", 0, "invalid UTF-8", "1:2", 0},
        {"\"\xE2\x82", 0, "inside a UTF-8 sequence", "1:3", 1},
        {"\xEF\xBB\xBF{}", 0, "expected a value, got byte 0xEF", "1:1", 0}, /* BOM: not JSON */
        {"[\"\xC3\xA9\xE2\x82\xAC\", x]", 0, "expected a value, got 'x'", "1:8", 0},
        {"{\n  \"a\": [1,\n  2,, 3]}", 0, "expected a value, got ','", "3:5", 0},
        {"[1, \0]", 6, "expected a value, got byte 0x00", "1:5", 0},
        {"[\"a\0b\"]", 7, "control character 0x00", "1:4", 0},
        {"[\"abc", 0, "unexpected end of input inside a string", "1:6", 1},
        {"{\"a\":", 0, "unexpected end of input: expected a value", "1:6", 1},
        {"{\"a\"", 0, "expected ':'", "1:5", 1},
    };
    selsa_json_doc doc;
    selsa_json_doc_init(&doc);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_case *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->text);
        char ctx[64];
        snprintf(ctx, sizeof ctx, "bad JSON case %zu", i);
        selsa_json_parse_opts o = {"in.json", 0, 0};
        selsa_status st = selsa_json_parse(&doc, c->text, len, &o);
        TH_CHECK(st == SELSA_ERR_FORMAT, "%s: status %s", ctx, selsa_status_name(st));
        expect_msg(ctx, c->want, c->pos);
        TH_CHECK(strncmp(selsa_last_error(), "in.json:", 8) == 0, "%s: message names the input", ctx);
        TH_CHECK(doc.eof_error == (c->eof != 0), "%s: eof_error %d", ctx, doc.eof_error);
        TH_CHECK(doc.n_nodes == 0 && selsa_json_root(&doc) == NULL, "%s: failed doc is empty", ctx);
    }
    /* first_line offsets the line numbers (JSON Lines) */
    selsa_json_parse_opts o = {"x.jsonl", 41, 0};
    TH_FAILS(selsa_json_parse(&doc, "[1,,]", 5, &o), SELSA_ERR_FORMAT);
    expect_msg("first_line", "x.jsonl:41:4:", NULL);
    selsa_json_doc_free(&doc);
}

static void test_json_hostile(void) {
    selsa_json_doc doc;
    selsa_json_doc_init(&doc);
    size_t n = 100000;
    char *t = malloc(2 * n + 1);
    memset(t, '[', n);
    /* 100000 '[': depth error at the 513th */
    TH_FAILS(selsa_json_parse(&doc, t, n, NULL), SELSA_ERR_FORMAT);
    expect_msg("deep [", "nesting deeper than 512", "1:513");
    memset(t, '{', n); /* '{' needs a key: the depth limit still comes first */
    for (size_t i = 0; i + 5 <= n; i += 5) memcpy(t + i, "{\"a\":", 5);
    TH_FAILS(selsa_json_parse(&doc, t, n, NULL), SELSA_ERR_FORMAT);
    expect_msg("deep {", "nesting deeper than 512", NULL);
    /* without a limit below it the iterative parser handles 100000 levels either way */
    memset(t, '[', n);
    selsa_json_parse_opts o = {NULL, 0, 1000000};
    TH_FAILS(selsa_json_parse(&doc, t, n, &o), SELSA_ERR_FORMAT);
    expect_msg("deep [ unlimited", "unexpected end of input", "1:100001");
    memset(t + n, ']', n);
    TH_OK(selsa_json_parse(&doc, t, 2 * n, &o));
    TH_CHECK(doc.n_nodes == n && doc.nodes[0].end == n && doc.nodes[n - 1].count == 0,
             "100000 nested arrays parse (%zu nodes)", doc.n_nodes);
    free(t);

    /* a wide object (sorted duplicate check) with the duplicate far apart */
    size_t nk = 5000, cap = nk * 16 + 64, p = 0;
    char *w = malloc(cap);
    p += (size_t)snprintf(w + p, cap - p, "{");
    for (size_t i = 0; i < nk; i++) p += (size_t)snprintf(w + p, cap - p, "%s\"k%zu\":%zu", i ? "," : "", i, i);
    p += (size_t)snprintf(w + p, cap - p, "}");
    TH_OK(selsa_json_parse(&doc, w, p, NULL));
    TH_CHECK(selsa_json_root(&doc)->count == nk && selsa_json_get(&doc, selsa_json_root(&doc), "k4999")->integer == 4999,
             "5000-key object");
    p--;
    p += (size_t)snprintf(w + p, cap - p, ",\"k17\":1}");
    TH_FAILS(selsa_json_parse(&doc, w, p, NULL), SELSA_ERR_FORMAT);
    expect_msg("wide dup", "duplicate key \"k17\"", NULL);
    free(w);

    /* a huge integer literal: 400 digits overflow a double */
    char big[402];
    big[0] = '1';
    memset(big + 1, '0', 400);
    TH_FAILS(selsa_json_parse(&doc, big, 401, NULL), SELSA_ERR_FORMAT);
    expect_msg("400 digits", "out of the range of a double", "1:1");
    selsa_json_doc_free(&doc);
}

/* ------------------------------------------------------------------ writer helpers -------- */

static double random_double(selsa_rng *r) {
    for (;;) {
        uint64_t bits = ((uint64_t)selsa_rng_u32(r) << 32) | selsa_rng_u32(r);
        double v;
        memcpy(&v, &bits, sizeof v);
        if (isfinite(v)) return v;
    }
}

static void test_format_double(void) {
    selsa_rng r;
    selsa_rng_seed(&r, 7, 1);
    char buf[SELSA_JSON_DOUBLE_BUF];
    selsa_json_doc doc;
    selsa_json_doc_init(&doc);
    int bad = 0, total = 0;
    static const double special[] = {0.0, -0.0, 1.0, 0.1, 1.0 / 3, 1e300, -1e-300, 4.9406564584124654e-324,
                                     1.7976931348623157e308, 2.2250738585072014e-308, 0.912345, 1280.5,
                                     123456789012345678.0, 0.30000000000000004};
    for (int i = 0; i < 20000 + (int)(sizeof special / sizeof special[0]); i++) {
        double v = i < (int)(sizeof special / sizeof special[0]) ? special[i]
                   : (i & 1) ? random_double(&r) : selsa_rng_uniform(&r) * 2000.0 - 100.0;
        int n = selsa_json_format_double(buf, v);
        total++;
        if (n <= 0 || selsa_json_parse(&doc, buf, (size_t)n, NULL) != SELSA_OK ||
            memcmp(&selsa_json_root(&doc)->number, &v, sizeof v) != 0) {
            if (bad++ < 5) TH_CHECK(0, "format_double %.17g -> \"%s\" does not round-trip", v, buf);
        }
    }
    TH_CHECK(bad == 0, "format_double: %d of %d values failed the bit-exact round trip", bad, total);
    selsa_json_format_double(buf, 0.1);
    TH_CHECK(strcmp(buf, "0.1") == 0, "0.1 is written shortest (\"%s\")", buf);
    selsa_json_format_double(buf, 1.0 / 3);
    TH_CHECK(strcmp(buf, "0.3333333333333333") == 0, "1/3 shortest 16 digits (\"%s\")", buf);
    TH_CHECK(selsa_json_format_double(buf, NAN) == -1 && strcmp(buf, "null") == 0, "NaN is refused");
    TH_CHECK(selsa_json_format_double(buf, -INFINITY) == -1, "-inf is refused");
    selsa_json_doc_free(&doc);

    /* a decimal-comma locale must not change what is written or read (if one is installed) */
    const char *locs[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "ru_RU.UTF-8"};
    const char *got = NULL;
    for (size_t i = 0; i < 4 && !got; i++) got = setlocale(LC_NUMERIC, locs[i]);
    if (!got) {
        th_skip("no decimal-comma locale installed: locale independence not exercised");
    } else {
        selsa_json_format_double(buf, 0.5);
        TH_CHECK(strcmp(buf, "0.5") == 0, "0.5 under %s written as \"%s\"", got, buf);
        selsa_json_doc_init(&doc);
        TH_OK(selsa_json_parse(&doc, "0.25", 4, NULL));
        TH_CHECK(selsa_json_root(&doc)->number == 0.25, "0.25 read under %s", got);
        selsa_json_doc_free(&doc);
        setlocale(LC_NUMERIC, "C");
    }
}

static void test_write_string(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    /* every byte value, then valid multi-byte UTF-8 */
    char in[256 + 16];
    for (int i = 0; i < 256; i++) in[i] = (char)i;
    const char *utf = "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"; /* é € 😀 */
    memcpy(in + 256, utf, 9);
    TH_CHECK(selsa_json_write_string(f, in, 265) == 0, "write_string ok");
    fclose(f);
    selsa_json_doc doc;
    selsa_json_doc_init(&doc);
    if (TH_OK(selsa_json_parse(&doc, buf, len, NULL))) {
        const selsa_json_node *s = selsa_json_root(&doc);
        const char *d = selsa_json_str(&doc, s);
        /* 0..127 verbatim, 128..255 each -> U+FFFD (3 bytes), then the 9 valid bytes */
        TH_CHECK(s->count == 128 + 128 * 3 + 9, "decoded length %zu", s->count);
        TH_CHECK(memcmp(d, in, 128) == 0, "ASCII and control bytes round-trip");
        TH_CHECK(memcmp(d + 128, "\xEF\xBF\xBD", 3) == 0, "invalid byte -> U+FFFD");
        TH_CHECK(memcmp(d + 128 + 384, utf, 9) == 0, "valid UTF-8 verbatim");
    }
    TH_CHECK(strstr(buf, "\\n") && strstr(buf, "\\u0001") && strstr(buf, "\\\"") && strstr(buf, "\\\\") &&
                 strstr(buf, "\\u007f"), "escapes written");
    selsa_json_doc_free(&doc);
    free(buf);
}

/* ------------------------------------------------------------------ detection format ------ */

typedef struct collected {
    int64_t n_frames, n_dets;
    int64_t last_line;
} collected;

static selsa_status count_cb(const selsa_dets_json_frame *fr, int64_t line, void *user) {
    collected *c = user;
    c->n_frames++;
    c->n_dets += fr->n_dets;
    c->last_line = line;
    return SELSA_OK;
}

static void test_dets_roundtrip(void) {
    selsa_rng r;
    selsa_rng_seed(&r, 11, 2);
    enum { NF = 40 };
    selsa_dets_json_frame fr[NF];
    selsa_dets_json_det *dets = malloc(NF * 50 * sizeof *dets);
    int64_t nd = 0;
    const char *videos[3] = {"val/ILSVRC2015_val_00007010", "caf\xC3\xA9 \"quoted\"\\path\t\xF0\x9F\x98\x80", NULL};
    for (int i = 0; i < NF; i++) {
        int k = (int)selsa_rng_below(&r, 50);
        if (i == 3) k = 0;
        fr[i] = (selsa_dets_json_frame){.frame = i, .frame_id = (i % 5 == 0) ? 0 : 1000 + i,
                                        .video = videos[i % 3], .width = (i % 4) ? 1280 : 0,
                                        .height = (i % 4) ? 720 : 0, .dets = dets + nd, .n_dets = k};
        for (int j = 0; j < k; j++) {
            selsa_dets_json_det *d = &dets[nd++];
            d->cls = 1 + (int32_t)selsa_rng_below(&r, 30);
            double u = selsa_rng_uniform(&r);
            d->score = j == 0 ? 0.0 : j == 1 ? 1.0 : (j & 1) ? u : (double)(float)u;
            for (int q = 0; q < 4; q++)
                d->box[q] = (j % 3 == 2) ? random_double(&r) : selsa_rng_uniform(&r) * 1300.0 - 10.0;
        }
    }
    const char *path = tmp_path("rt.jsonl");
    if (!TH_OK(selsa_dets_json_write_file(path, fr, NF))) return;
    selsa_dets_json_file in;
    if (TH_OK(selsa_dets_json_read_file(path, 0, &in))) {
        TH_CHECK(in.n_frames == NF && in.n_dets == nd, "round trip counts %lld/%lld", (long long)in.n_frames,
                 (long long)in.n_dets);
        int bad = 0;
        for (int i = 0; i < NF && i < in.n_frames; i++) {
            const selsa_dets_json_frame *a = &fr[i], *b = &in.frames[i];
            bool ok = a->frame == b->frame && a->frame_id == b->frame_id && a->width == b->width &&
                      a->height == b->height && a->n_dets == b->n_dets && in.lines[i] == i + 1 &&
                      ((!a->video && !b->video) || (a->video && b->video && !strcmp(a->video, b->video)));
            for (int64_t j = 0; ok && j < a->n_dets; j++)
                ok = a->dets[j].cls == b->dets[j].cls &&
                     memcmp(&a->dets[j].score, &b->dets[j].score, sizeof(double)) == 0 &&
                     memcmp(a->dets[j].box, b->dets[j].box, sizeof a->dets[j].box) == 0;
            if (!ok && bad++ < 3) TH_CHECK(0, "round trip: frame %d differs", i);
        }
        TH_CHECK(bad == 0, "round trip bit exact over %d frames (%d differ)", NF, bad);
        TH_CHECK(in.n_names == 27, "video names stored once per run of equal names (%lld)", (long long)in.n_names);
    }
    selsa_dets_json_file_free(&in);

    /* the same through the memory parser and the streaming callback */
    FILE *f = fopen(path, "rb");
    char *text = malloc(1 << 22);
    size_t len = fread(text, 1, 1 << 22, f);
    fclose(f);
    collected c = {0, 0, 0};
    TH_OK(selsa_dets_json_parse(text, len, "mem", 0, count_cb, &c));
    TH_CHECK(c.n_frames == NF && c.n_dets == nd && c.last_line == NF, "memory parser counts");
    /* one line looks like the documented example */
    static const char head[] = "{\"frame\": 0, \"video\": \"val/ILSVRC2015_val_00007010\", \"detections\": [";
    TH_CHECK(strncmp(text, head, sizeof head - 1) == 0,
             "first line layout: %.80s", text);

    /* truncated file: every cut inside the last record is "incomplete last line"; with the flag,
     * all complete records are delivered */
    size_t last_nl = len - 1;
    while (last_nl > 0 && text[last_nl - 1] != '\n') last_nl--;
    int bad = 0;
    for (size_t cut = last_nl + 1; cut < len - 1; cut += 7) {
        selsa_status st = selsa_dets_json_parse(text, cut, "cut", 0, count_cb, &c);
        if (st != SELSA_ERR_FORMAT || !strstr(selsa_last_error(), "incomplete last line")) {
            if (bad++ < 3) TH_CHECK(0, "cut at %zu: %s %s", cut, selsa_status_name(st), selsa_last_error());
        }
        c = (collected){0, 0, 0};
        st = selsa_dets_json_parse(text, cut, "cut", SELSA_DETS_JSON_ALLOW_TRUNCATED, count_cb, &c);
        if (st != SELSA_OK || c.n_frames != NF - 1) {
            if (bad++ < 3) TH_CHECK(0, "cut at %zu with ALLOW_TRUNCATED: %s, %lld frames", cut,
                                    selsa_status_name(st), (long long)c.n_frames);
        }
    }
    TH_CHECK(bad == 0, "truncated last line handling (%d failures)", bad);
    /* without the final newline a complete last record is fine */
    c = (collected){0, 0, 0};
    TH_OK(selsa_dets_json_parse(text, len - 1, "nonl", 0, count_cb, &c));
    TH_CHECK(c.n_frames == NF, "last line without newline accepted");
    free(text);
    free(dets);

    /* writer validation */
    selsa_dets_json_det bad_det = {{0, 0, 10, 10}, 1.5, 3};
    selsa_dets_json_frame bf = {.frame = 0, .dets = &bad_det, .n_dets = 1};
    char *mb = NULL;
    size_t ml = 0;
    FILE *m = open_memstream(&mb, &ml);
    TH_FAILS(selsa_dets_json_write_frame(m, &bf), SELSA_ERR_INVALID_ARG);
    expect_msg("score 1.5", "score 1.5 is not in [0, 1]", NULL);
    bad_det.score = 0.5;
    bad_det.box[2] = NAN;
    TH_FAILS(selsa_dets_json_write_frame(m, &bf), SELSA_ERR_INVALID_ARG);
    expect_msg("nan box", "box[2]", NULL);
    bad_det.box[2] = 10;
    bad_det.cls = 31;
    TH_FAILS(selsa_dets_json_write_frame(m, &bf), SELSA_ERR_INVALID_ARG);
    bad_det.cls = 3;
    bf.width = 10;
    TH_FAILS(selsa_dets_json_write_frame(m, &bf), SELSA_ERR_INVALID_ARG);
    bf.height = 20;
    bf.frame_id = 5;
    TH_OK(selsa_dets_json_write_frame(m, &bf));
    fclose(m);
    TH_CHECK(ml > 0 && strcmp(mb, "{\"frame\": 0, \"frame_id\": 5, \"width\": 10, \"height\": 20, \"detections\": "
                                  "[{\"class\": 3, \"name\": \"bear\", \"score\": 0.5, \"box\": [0, 0, 10, 10]}]}\n") == 0,
             "only the valid record was written: %s", mb);
    free(mb);
    TH_FAILS(selsa_dets_json_write_file(tmp_path("never.jsonl"), &bf, -1), SELSA_ERR_INVALID_ARG);
}

typedef struct rec_case {
    const char *text;
    const char *want;
    const char *pos; /* line:col */
} rec_case;

#define DET "{\"class\": 1, \"score\": 0.5, \"box\": [0, 0, 9, 9]}"

static void test_dets_errors(void) {
    static const rec_case cases[] = {
        {"{\"frame_id\": 1, \"detections\": []}\n", "no \"frame\"", "1:1"},
        {"{\"frame\": -1, \"detections\": []}\n", "\"frame\" = -1 is out of range", "1:11"},
        {"{\"frame\": 1.5, \"detections\": []}\n", "\"frame\" must be an integer, got number 1.5", "1:11"},
        {"{\"frame\": 1e2, \"detections\": []}\n", "written as an integer", "1:11"},
        {"{\"frame\": \"3\", \"detections\": []}\n", "must be an integer, got string", "1:11"},
        {"{\"frame\": 99999999999999999999, \"detections\": []}\n", "must be an integer", "1:11"},
        {"{\"frame\": 0, \"frame_id\": 0, \"detections\": []}\n", "\"frame_id\" = 0 is out of range", "1:26"},
        {"{\"frame\": 0}\n", "no \"detections\"", "1:1"},
        {"{\"frame\": 0, \"detections\": {}}\n", "\"detections\" must be an array, got object", "1:28"},
        {"{\"frame\": 0, \"detections\": [1]}\n", "detections[0] must be an object, got number", "1:29"},
        {"{\"frame\": 0, \"detections\": [" DET ", {\"class\": 0, \"score\": 0.5, \"box\": [0, 0, 9, 9]}]}\n",
         "\"detections[1].class\" = 0 is out of range 1..30", "1:88"},
        {"{\"frame\": 0, \"detections\": [{\"class\": 31, \"score\": 0.5, \"box\": [0, 0, 9, 9]}]}\n",
         "= 31 is out of range 1..30", "1:39"},
        {"{\"frame\": 0, \"detections\": [{\"name\": \"unicorn\", \"score\": 0.5, \"box\": [0, 0, 9, 9]}]}\n",
         "\"unicorn\" is not one of the 30 class names", "1:38"},
        {"{\"frame\": 0, \"detections\": [{\"class\": 2, \"name\": \"bear\", \"score\": 0.5, \"box\": [0, 0, 9, 9]}]}\n",
         "name \"bear\" is class 3 but \"class\" is 2", "1:50"},
        {"{\"frame\": 0, \"detections\": [{\"score\": 0.5, \"box\": [0, 0, 9, 9]}]}\n",
         "neither \"class\" nor \"name\"", "1:29"},
        {"{\"frame\": 0, \"detections\": [{\"class\": 1, \"score\": 1.5, \"box\": [0, 0, 9, 9]}]}\n",
         "score 1.5 is not in [0, 1]", "1:51"},
        {"{\"frame\": 0, \"detections\": [{\"class\": 1, \"score\": -0.001, \"box\": [0, 0, 9, 9]}]}\n",
         "is not in [0, 1]", "1:51"},
        {"{\"frame\": 0, \"detections\": [{\"class\": 1, \"score\": \"0.5\", \"box\": [0, 0, 9, 9]}]}\n",
         "score must be a number, got string", "1:51"},
        {"{\"frame\": 0, \"detections\": [{\"class\": 1, \"score\": NaN, \"box\": [0, 0, 9, 9]}]}\n",
         "NaN and Infinity are not JSON values", "1:51"},
        {"{\"frame\": 0, \"detections\": [{\"class\": 1, \"box\": [0, 0, 9, 9]}]}\n", "has no \"score\"", "1:29"},
        {"{\"frame\": 0, \"detections\": [{\"class\": 1, \"score\": 0.5, \"box\": [0, 0, 9]}]}\n",
         "box must be an array of 4 numbers", "1:63"},
        {"{\"frame\": 0, \"detections\": [{\"class\": 1, \"score\": 0.5, \"box\": [0, 0, 9, \"9\"]}]}\n",
         "box[3] must be a number, got string", "1:73"},
        {"{\"frame\": 0, \"detections\": [{\"class\": 1, \"score\": 0.5, \"box\": [0, 0, 9, 1e400]}]}\n",
         "out of the range of a double", "1:73"},
        {"{\"frame\": 0, \"detections\": [{\"class\": 1, \"score\": 0.5}]}\n", "has no \"box\"", "1:29"},
        {"{\"frame\": 0, \"width\": 10, \"detections\": []}\n", "width without height", "1:23"},
        {"{\"frame\": 0, \"width\": 0, \"height\": 5, \"detections\": []}\n", "\"width\" = 0 is out of range", "1:23"},
        {"{\"frame\": 0, \"video\": 7, \"detections\": []}\n", "\"video\" must be a string, got number 7", "1:23"},
        {"{\"frame\": 0, \"video\": \"a\\u0000b\", \"detections\": []}\n", "contains a NUL", "1:23"},
        {"[{\"frame\": 0, \"detections\": []}]\n", "a record must be a JSON object, got array", "1:1"},
        {"{\"frame\": 0, \"detections\": []} x\n", "trailing garbage", "1:32"},
        {"{\"frame\": 0, \"detections\": []}{\"frame\": 1, \"detections\": []}\n", "trailing garbage", "1:31"},
        {"{\"frame\": 0, \"frame\": 1, \"detections\": []}\n", "duplicate key \"frame\"", "1:14"},
        {"{\"frame\": 0, \"detections\": []}\n{\"frame\": 1,\n\"detections\": []}\n",
         "the record is incomplete", "2:13"},
        {"{\"frame\": 0, \"detections\": []}\n\n{\"frame\": 1, \"detections\": [" DET,
         "incomplete last line", "3:76"},
        {"{\"frame\": 0, \"detections\": []}\n{\"frame\": 1, \"detections\": [\"\xFF\"]}\n",
         "invalid UTF-8 byte 0xFF", "2:30"},
        {"{\"frame\": 0, \"detections\": [], \"x\": \"\t\"}\n", "control character 0x09", "1:38"},
        {"frame_id cls\n", "invalid literal", "1:1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char ctx[64];
        snprintf(ctx, sizeof ctx, "bad record case %zu", i);
        collected c = {0, 0, 0};
        selsa_status st = selsa_dets_json_parse(cases[i].text, strlen(cases[i].text), "d.jsonl", 0, count_cb, &c);
        TH_CHECK(st == SELSA_ERR_FORMAT, "%s: status %s", ctx, selsa_status_name(st));
        expect_msg(ctx, cases[i].want, cases[i].pos);
        TH_CHECK(strncmp(selsa_last_error(), "d.jsonl:", 8) == 0, "%s: message names the file: %s", ctx,
                 selsa_last_error());
    }

    /* accepted: unknown keys, nulls for optional keys, name only, blank lines, CRLF, BOM */
    const char *ok =
        "\xEF\xBB\xBF{\"frame\": 0, \"frame_id\": null, \"video\": null, \"width\": null, \"height\": null, "
        "\"future\": {\"x\": [1, {\"y\": null}]}, \"detections\": [{\"name\": \"zebra\", \"score\": 1, "
        "\"box\": [-5, 0.5, 1e3, 2E2], \"extra\": \"ignored\"}]}\r\n"
        "\n   \t\r\n"
        "{\"detections\": [], \"frame\": 7}\n";
    selsa_dets_json_file f;
    write_text(tmp_path("ok.jsonl"), ok, strlen(ok));
    if (TH_OK(selsa_dets_json_read_file(tmp_path("ok.jsonl"), 0, &f))) {
        TH_CHECK(f.n_frames == 2 && f.n_dets == 1 && f.lines[1] == 4, "accepted file: %lld frames, line %lld",
                 (long long)f.n_frames, f.n_frames > 1 ? (long long)f.lines[1] : -1LL);
        if (f.n_dets == 1) {
            const selsa_dets_json_det *d = &f.dets[0];
            TH_CHECK(d->cls == 30 && d->score == 1.0 && d->box[0] == -5 && d->box[2] == 1000 && d->box[3] == 200,
                     "name-only detection read (class %d)", d->cls);
            TH_CHECK(f.frames[0].video == NULL && f.frames[0].frame_id == 0 && f.frames[0].width == 0,
                     "null optional keys are absent");
            TH_CHECK(f.frames[1].frame == 7 && f.frames[1].n_dets == 0, "empty detections");
        }
    }
    selsa_dets_json_file_free(&f);
    TH_FAILS(selsa_dets_json_read_file(tmp_path("missing.jsonl"), 0, &f), SELSA_ERR_IO);
    selsa_dets_json_file_free(&f);
}

/* ------------------------------------------------------------------ evaluator inputs ------ */

static void test_eval_inputs(void) {
    selsa_vid_dets d;
    selsa_vid_dets_init(&d);
    /* frame_id required without a mapping */
    const char *nofid = "{\"frame\": 0, \"frame_id\": 3, \"detections\": [" DET "]}\n"
                        "{\"frame\": 1, \"video\": \"val/v2\", \"detections\": [" DET "]}\n";
    write_text(tmp_path("nofid.jsonl"), nofid, strlen(nofid));
    TH_FAILS(selsa_vid_dets_read_json(&d, tmp_path("nofid.jsonl")), SELSA_ERR_FORMAT);
    expect_msg("no frame_id", "no \"frame_id\": the evaluator needs global 1-based frame ids", "2:1");
    TH_CHECK(d.n == 0, "all or nothing: %lld detections left after a failure", (long long)d.n);

    /* mapping through a VID_val_videos.txt list */
    const char *list = "val/v1 1 0 5\nval/v2 6 0 4\n";
    write_text(tmp_path("val.txt"), list, strlen(list));
    selsa_vid_val_videos v;
    if (TH_OK(selsa_vid_val_videos_read(tmp_path("val.txt"), &v))) {
        TH_OK(selsa_vid_dets_read_json_mapped(&d, tmp_path("nofid.jsonl"), &v));
        TH_CHECK(d.n == 2 && d.items[0].frame_id == 3 && d.items[1].frame_id == 7, "mapped ids %lld %lld",
                 d.n > 0 ? (long long)d.items[0].frame_id : -1LL, d.n > 1 ? (long long)d.items[1].frame_id : -1LL);
        const char *bad1 = "{\"frame\": 4, \"video\": \"v2\", \"detections\": []}\n";
        write_text(tmp_path("m1.jsonl"), bad1, strlen(bad1));
        TH_FAILS(selsa_vid_dets_read_json_mapped(&d, tmp_path("m1.jsonl"), &v), SELSA_ERR_FORMAT);
        expect_msg("past end", "frame 4 is past the end of video \"val/v2\"", "1:11");
        const char *bad2 = "{\"frame\": 0, \"video\": \"val/v9\", \"detections\": []}\n";
        write_text(tmp_path("m2.jsonl"), bad2, strlen(bad2));
        TH_FAILS(selsa_vid_dets_read_json_mapped(&d, tmp_path("m2.jsonl"), &v), SELSA_ERR_FORMAT);
        expect_msg("unknown video", "video \"val/v9\" is not in the video list", "1:23");
        const char *bad3 = "{\"frame\": 1, \"frame_id\": 3, \"video\": \"val/v2\", \"detections\": []}\n";
        write_text(tmp_path("m3.jsonl"), bad3, strlen(bad3));
        TH_FAILS(selsa_vid_dets_read_json_mapped(&d, tmp_path("m3.jsonl"), &v), SELSA_ERR_FORMAT);
        expect_msg("disagree", "frame_id 3 disagrees with the video list", "1:26");
        const char *bad4 = "{\"frame\": 1, \"detections\": []}\n";
        write_text(tmp_path("m4.jsonl"), bad4, strlen(bad4));
        TH_FAILS(selsa_vid_dets_read_json_mapped(&d, tmp_path("m4.jsonl"), &v), SELSA_ERR_FORMAT);
        expect_msg("unmappable", "neither \"frame_id\" nor \"video\"", "1:1");
        TH_CHECK(d.n == 2, "failed mapped reads appended nothing");
        /* writer with the list: video + frame, read back without the list via frame_id */
        selsa_vid_dets w;
        selsa_vid_dets_init(&w);
        TH_OK(selsa_vid_dets_add(&w, 8, 5, 0.25, 1, 2, 3, 4));
        TH_OK(selsa_vid_dets_add(&w, 2, 6, 0.75, 1, 2, 3, 4));
        TH_OK(selsa_vid_dets_write_json(&w, &v, tmp_path("wv.jsonl")));
        selsa_dets_json_file f;
        if (TH_OK(selsa_dets_json_read_file(tmp_path("wv.jsonl"), 0, &f)) && f.n_frames == 2) {
            TH_CHECK(f.frames[0].frame_id == 2 && f.frames[0].frame == 1 && !strcmp(f.frames[0].video, "val/v1") &&
                         f.frames[1].frame_id == 8 && f.frames[1].frame == 2 && !strcmp(f.frames[1].video, "val/v2"),
                     "write_json with a video list");
        }
        selsa_dets_json_file_free(&f);
        TH_OK(selsa_vid_dets_add(&w, 99, 6, 0.75, 1, 2, 3, 4));
        TH_FAILS(selsa_vid_dets_write_json(&w, &v, tmp_path("wv2.jsonl")), SELSA_ERR_INVALID_ARG);
        selsa_vid_dets_free(&w);
        selsa_vid_val_videos_free(&v);
    }

    /* read_any chooses by content */
    selsa_vid_dets_free(&d);
    selsa_vid_dets_init(&d);
    const char *txt = "\n  3 1 0.5000 0.00 0.00 9.00 9.00\n";
    write_text(tmp_path("any.txt"), txt, strlen(txt));
    TH_OK(selsa_vid_dets_read_any(&d, tmp_path("any.txt")));
    TH_CHECK(d.n == 1 && d.items[0].frame_id == 3, "read_any: text format");
    const char *js = "\xEF\xBB\xBF \n {\"frame\": 0, \"frame_id\": 4, \"detections\": [" DET "]}\n";
    write_text(tmp_path("any.json"), js, strlen(js));
    TH_OK(selsa_vid_dets_read_any(&d, tmp_path("any.json")));
    TH_CHECK(d.n == 2 && d.items[1].frame_id == 4, "read_any: JSON lines after BOM + blank line");
    write_text(tmp_path("empty.txt"), "", 0);
    TH_OK(selsa_vid_dets_read_any(&d, tmp_path("empty.txt")));
    TH_CHECK(d.n == 2, "read_any: empty file adds nothing");
    const char *badtxt = "3 1 0.5 0 0 9 9\n3 1 0.5 0 0 9\n";
    write_text(tmp_path("bad.txt"), badtxt, strlen(badtxt));
    TH_FAILS(selsa_vid_dets_read_any(&d, tmp_path("bad.txt")), SELSA_ERR_FORMAT);
    TH_CHECK(d.n == 2, "read_any: failed text read appended nothing");
    TH_FAILS(selsa_vid_dets_read_any(&d, tmp_path("nope")), SELSA_ERR_IO);
    selsa_vid_dets_free(&d);
}

/* Random gt (3 videos, tracks moving at mixed speeds) and detections: the evaluation of the
 * text file, the JSON file and the in-memory list must be identical. Scores are multiples of
 * 1e-4 and boxes of 0.01 so that the text format's "%.4f %.2f" is exact (both files then hold
 * the same doubles); equal scores are frequent, exercising the tie order. */
static void test_eval_parity(void) {
    selsa_rng r;
    selsa_rng_seed(&r, 2024, 5);
    selsa_vid_gt gt;
    selsa_vid_gt_init(&gt);
    selsa_vid_dets d;
    selsa_vid_dets_init(&d);
    int64_t fid = 1;
    for (int v = 0; v < 3; v++) {
        int nobj = 2 + v;
        double pos[8][4], vel[8][2];
        int cls[8];
        for (int o = 0; o < nobj; o++) {
            cls[o] = 1 + (int)selsa_rng_below(&r, 6);
            double w = 8 + selsa_rng_uniform(&r) * 200, h = 8 + selsa_rng_uniform(&r) * 150;
            pos[o][0] = selsa_rng_uniform(&r) * 400;
            pos[o][1] = selsa_rng_uniform(&r) * 300;
            pos[o][2] = pos[o][0] + w;
            pos[o][3] = pos[o][1] + h;
            double sp = (o % 3 == 0) ? 0.3 : (o % 3 == 1) ? 3 : 15;
            vel[o][0] = sp * (selsa_rng_uniform(&r) - 0.5) * 2;
            vel[o][1] = sp * (selsa_rng_uniform(&r) - 0.5) * 2;
        }
        for (int t = 0; t < 25; t++, fid++) {
            TH_OK(selsa_vid_gt_add_frame(&gt, fid, v, t));
            for (int o = 0; o < nobj; o++) {
                if (selsa_rng_below(&r, 10) == 0) continue; /* object missing in this frame */
                double b[4];
                for (int q = 0; q < 4; q++) b[q] = round(pos[o][q] + vel[o][q & 1] * t);
                TH_OK(selsa_vid_gt_add_object(&gt, cls[o], o, b[0], b[1], b[2], b[3]));
                int ndet = (int)selsa_rng_below(&r, 3);
                for (int k = 0; k < ndet; k++) {
                    double s = round(selsa_rng_uniform(&r) * 50) * 0.02; /* coarse: many ties */
                    s = round(s * 1e4) / 1e4;
                    double bb[4];
                    for (int q = 0; q < 4; q++) bb[q] = round((b[q] + (selsa_rng_uniform(&r) - 0.5) * 12) * 100) / 100;
                    int c = selsa_rng_below(&r, 8) == 0 ? 1 + (int)selsa_rng_below(&r, 30) : cls[o];
                    TH_OK(selsa_vid_dets_add(&d, fid, c, s, bb[0], bb[1], bb[2], bb[3]));
                }
            }
            for (int k = (int)selsa_rng_below(&r, 3); k > 0; k--) { /* false positives */
                double x = round(selsa_rng_uniform(&r) * 50000) / 100, y = round(selsa_rng_uniform(&r) * 40000) / 100;
                TH_OK(selsa_vid_dets_add(&d, fid, 1 + (int)selsa_rng_below(&r, 6),
                                         round(selsa_rng_uniform(&r) * 1e4) / 1e4, x, y, x + 30.25, y + 20.5));
            }
        }
    }
    TH_OK(selsa_vid_dets_add(&d, 5000, 1, 0.9, 0, 0, 10, 10)); /* frame absent from gt: ignored */
    /* interleave frames: shuffle the detection order, then the JSON writer regroups by frame
     * keeping each frame's relative order */
    for (int64_t i = d.n - 1; i > 0; i--) {
        int64_t j = (int64_t)selsa_rng_below(&r, (uint32_t)(i + 1));
        selsa_vid_det t = d.items[i];
        d.items[i] = d.items[j];
        d.items[j] = t;
    }
    TH_OK(selsa_vid_motion_from_tracks(&gt));
    if (!TH_OK(selsa_vid_dets_write_txt(&d, tmp_path("par.txt"))) ||
        !TH_OK(selsa_vid_dets_write_json(&d, NULL, tmp_path("par.jsonl"))))
        goto done;
    selsa_vid_dets dt, dj;
    selsa_vid_dets_init(&dt);
    selsa_vid_dets_init(&dj);
    TH_OK(selsa_vid_dets_read_any(&dt, tmp_path("par.txt")));
    TH_OK(selsa_vid_dets_read_any(&dj, tmp_path("par.jsonl")));
    TH_CHECK(dt.n == d.n && dj.n == d.n, "parity: %lld dets, txt %lld, json %lld", (long long)d.n, (long long)dt.n,
             (long long)dj.n);
    selsa_vid_eval_result rm, rt, rj;
    if (TH_OK(selsa_vid_eval(&gt, &d, NULL, &rm)) && TH_OK(selsa_vid_eval(&gt, &dt, NULL, &rt)) &&
        TH_OK(selsa_vid_eval(&gt, &dj, NULL, &rj))) {
        TH_CHECK(rm.has_motion && rj.has_motion && rt.has_motion, "motion evaluation ran");
        /* tolerance 1e-12: the inputs are the same doubles, so the results should be identical */
        th_allclose_f64("ap json vs txt", rj.ap, rt.ap, SELSA_VID_NUM_CLASSES, 1e-12, 0);
        th_allclose_f64("ap json vs memory", rj.ap, rm.ap, SELSA_VID_NUM_CLASSES, 1e-12, 0);
        th_allclose_f64("motion map json vs txt", rj.motion_map, rt.motion_map, SELSA_VID_NUM_RANGES, 1e-12, 0);
        th_allclose_f64("motion ap json vs txt", &rj.motion_ap[0][0], &rt.motion_ap[0][0],
                        SELSA_VID_NUM_RANGES * SELSA_VID_NUM_CLASSES, 1e-12, 0);
        TH_CHECK(fabs(rj.map - rt.map) <= 1e-12 && rj.map > 0.05 && rj.map < 0.999,
                 "mAP json %.15f txt %.15f (non-trivial)", rj.map, rt.map);
        TH_CHECK(rj.n_dets_ignored == 1 && rt.n_dets_ignored == 1, "ignored detection counted");
        int ranges_nontrivial = 0;
        for (int k = 1; k < SELSA_VID_NUM_RANGES; k++) ranges_nontrivial += rj.motion_map[k] >= 0;
        TH_CHECK(ranges_nontrivial >= 2, "at least two motion ranges populated (%d)", ranges_nontrivial);
    }
    selsa_vid_dets_free(&dt);
    selsa_vid_dets_free(&dj);
done:
    selsa_vid_dets_free(&d);
    selsa_vid_gt_free(&gt);
}

int main(int argc, char **argv) {
    th_init(argc, argv, "json");
    if (!mkdtemp(g_tmp)) {
        TH_CHECK(0, "mkdtemp failed");
        return th_finish();
    }
    test_json_basic();
    test_json_errors();
    test_json_hostile();
    test_format_double();
    test_write_string();
    test_dets_roundtrip();
    test_dets_errors();
    test_eval_inputs();
    test_eval_parity();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    return th_finish();
}
