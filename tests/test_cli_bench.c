/* `selsa bench`: happy paths on tiny models and clips (synthetic, a frame folder, given weights,
 * the MMTracking family), the --json report parsed back and checked for its keys and for sane
 * values (never for speed), and each documented error with its exit code.
 * The tool is found next to the tests directory (BUILD/selsa for BUILD/tests/test_cli_bench). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "selsa/image.h"
#include "selsa/json.h"
#include "selsa/model_official.h"

static char tool[4096];
static char out_buf[65536];

/* Run "tool args" with stdout+stderr captured into out_buf; returns the exit code. */
static int run(const char *args) { return th_run_cli(tool, args, out_buf, sizeof out_buf); }

/* doc path "a.b.c" -> node, NULL if absent. */
static const selsa_json_node *jpath(const selsa_json_doc *d, const char *path) {
    const selsa_json_node *n = selsa_json_root(d);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *tok = strtok(buf, "."); tok && n; tok = strtok(NULL, "."))
        n = n->type == SELSA_JSON_OBJECT ? selsa_json_get(d, n, tok) : NULL;
    return n;
}

static double jnumber(const selsa_json_doc *d, const char *path) {
    const selsa_json_node *n = jpath(d, path);
    TH_CHECK(n && n->type == SELSA_JSON_NUMBER, "JSON key %s is a number", path);
    return n && n->type == SELSA_JSON_NUMBER ? n->number : NAN;
}

static const char *jstring(const selsa_json_doc *d, const char *path) {
    const selsa_json_node *n = jpath(d, path);
    TH_CHECK(n && n->type == SELSA_JSON_STRING, "JSON key %s is a string", path);
    return n && n->type == SELSA_JSON_STRING ? selsa_json_str(d, n) : "";
}

/* median / min / max triple: positive, finite, min <= median <= max */
static void check_stat(const selsa_json_doc *d, const char *key) {
    char p[128];
    snprintf(p, sizeof p, "results.%s.median", key);
    double med = jnumber(d, p);
    snprintf(p, sizeof p, "results.%s.min", key);
    double lo = jnumber(d, p);
    snprintf(p, sizeof p, "results.%s.max", key);
    double hi = jnumber(d, p);
    TH_CHECK(isfinite(med) && isfinite(lo) && isfinite(hi) && lo > 0 && lo <= med && med <= hi,
             "%s: 0 < min %g <= median %g <= max %g", key, lo, med, hi);
}

static void count_params(void *user, const char *name, selsa_weight_kind kind, int ndim, const int64_t *dims) {
    (void)name;
    if (kind == SELSA_WEIGHT_AUX) return;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= dims[i];
    *(int64_t *)user += n;
}

/* Parse the report at `path` and check everything but timing magnitudes. */
static void check_json(const char *path, int runs, int frames, const char *family, const char *source) {
    size_t len = 0;
    char *text = th_read_file(path, &len);
    TH_CHECK(text != NULL && len > 0, "bench wrote %s", path);
    if (!text) return;
    selsa_json_doc d;
    selsa_json_doc_init(&d);
    selsa_json_parse_opts o = {.what = path};
    selsa_status s = selsa_json_parse(&d, text, len, &o);
    TH_CHECK(s == SELSA_OK, "%s is valid JSON: %s", path, selsa_last_error());
    if (s == SELSA_OK) {
        TH_CHECK(!strcmp(jstring(&d, "model.family"), family), "model.family %s", family);
        TH_CHECK(!strcmp(jstring(&d, "input.source"), source), "input.source '%s' (want '%s')",
                 jstring(&d, "input.source"), source);
        TH_CHECK(strlen(jstring(&d, "machine.cpu")) > 0 && strstr(jstring(&d, "machine.blas"), "OpenBLAS"),
                 "machine: cpu and BLAS configuration");
        TH_CHECK(strstr(jstring(&d, "command"), "selsa bench") != NULL, "command line recorded");
        TH_CHECK(strlen(jstring(&d, "timestamp_utc")) == 20, "timestamp");
        const selsa_json_node *oc = jpath(&d, "machine.other_processes_cpu_use");
        TH_CHECK(oc && (oc->type == SELSA_JSON_NULL || (oc->type == SELSA_JSON_NUMBER && oc->number >= 0)),
                 "CPU use of other processes reported");
        TH_CHECK(strlen(jstring(&d, "schedule")) > 0, "schedule described");
        double cores = jnumber(&d, "machine.cores"), threads = jnumber(&d, "machine.threads");
        TH_CHECK(cores >= 1 && threads >= 1 && threads <= cores, "threads %g of %g cores", threads, cores);
        TH_CHECK(jnumber(&d, "runs") == runs && jnumber(&d, "key_frames_per_run") == frames &&
                     jnumber(&d, "input.frames") == frames,
                 "runs %d, %d key frames", runs, frames);
        TH_CHECK(jnumber(&d, "frame_stages_per_run") >= frames, "every key frame computed at least once");
        TH_CHECK(jnumber(&d, "model.params") > 0 && jnumber(&d, "model.param_bytes") > 0 && jnumber(&d, "model.depth") > 0,
                 "model size");
        TH_CHECK(jnumber(&d, "input.width") >= 1 && jnumber(&d, "input.height") >= 1, "clip size");
        check_stat(&d, "seconds_per_key_frame");
        check_stat(&d, "frames_per_second");
        check_stat(&d, "first_detection_seconds");
        const selsa_json_node *cu = jpath(&d, "results.cpu_use.median");
        TH_CHECK(cu && cu->type == SELSA_JSON_NUMBER && cu->number >= 0, "cpu_use present");
        /* frames/s and s/key frame are two views of the same runs */
        double fps_max = jnumber(&d, "results.frames_per_second.max"), spk_min = jnumber(&d, "results.seconds_per_key_frame.min");
        TH_CHECK(fabs(fps_max * spk_min - 1.0) < 1e-9, "fastest run: fps %g = 1 / %g s", fps_max, spk_min);
        const selsa_json_node *rs = jpath(&d, "results.run_seconds");
        TH_CHECK(rs && rs->type == SELSA_JSON_ARRAY && (int)rs->count == runs, "run_seconds has %d entries", runs);
        if (rs && rs->type == SELSA_JSON_ARRAY && rs->count > 0) {
            const selsa_json_node *e = selsa_json_child(&d, rs);
            double lo = 1e300, hi = 0;
            for (size_t i = 0; i < rs->count; i++, e = selsa_json_next(&d, e)) {
                TH_CHECK(e && e->type == SELSA_JSON_NUMBER && e->number > 0, "run %zu time positive", i);
                if (e && e->number < lo) lo = e->number;
                if (e && e->number > hi) hi = e->number;
            }
            double spk_max = jnumber(&d, "results.seconds_per_key_frame.max");
            TH_CHECK(fabs(lo / frames - spk_min) <= 1e-12 * spk_min && fabs(hi / frames - spk_max) <= 1e-12 * spk_max,
                     "per key frame = run time / key frames");
        }
        const selsa_json_node *ph = jpath(&d, "results.phase_seconds_per_key_frame");
        TH_CHECK(ph && ph->type == SELSA_JSON_OBJECT && ph->count >= 5 && selsa_json_get(&d, ph, "backbone") &&
                     selsa_json_get(&d, ph, "aggregation"),
                 "phase breakdown");
        if (ph && ph->type == SELSA_JSON_OBJECT) {
            double sum = 0;
            const selsa_json_node *k = selsa_json_child(&d, ph);
            for (size_t m = 0; m < ph->count; m++, k = selsa_json_next(&d, k + 1)) {
                TH_CHECK(k[1].type == SELSA_JSON_NUMBER && k[1].number >= 0, "phase %s >= 0", selsa_json_str(&d, k));
                sum += k[1].number;
            }
            double med = jnumber(&d, "results.seconds_per_key_frame.median");
            double lo = jnumber(&d, "results.seconds_per_key_frame.min"), hi = jnumber(&d, "results.seconds_per_key_frame.max");
            /* each phase is a median over runs: their sum lies within the runs' range (+ rounding) */
            TH_CHECK(sum > 0 && sum <= hi * (1 + 1e-6) + 1e-9 && sum >= 0.5 * lo, "phases sum %g vs %g [%g, %g]", sum, med, lo, hi);
        }
        double rss = jnumber(&d, "memory.peak_rss_bytes");
        TH_CHECK(rss > 1e6 && rss < 64e9, "peak RSS %g bytes", rss);
        const selsa_json_node *rr = jpath(&d, "memory.peak_rss_runs_bytes");
        TH_CHECK(rr && (rr->type == SELSA_JSON_NULL || (rr->type == SELSA_JSON_NUMBER && rr->number > 0 && rr->number <= rss)),
                 "peak RSS of the runs within the process peak");
        TH_CHECK(jnumber(&d, "memory.runner_bytes") > 0, "runner bytes");
        if (!strcmp(family, "official") && !strcmp(jstring(&d, "model.architecture"), "tiny")) {
            selsa_official_config c;
            selsa_official_config_tiny(&c);
            int64_t n = 0;
            selsa_official_enum_params(&c, count_params, &n);
            TH_CHECK(jnumber(&d, "model.params") == (double)n, "tiny has %lld learnable parameters", (long long)n);
        }
    }
    selsa_json_doc_free(&d);
    free(text);
}

static void test_happy(const char *dir) {
    char args[8192], p[4096];
    TH_CHECK(run("bench --help") == 0 && strstr(out_buf, "usage: selsa bench") && strstr(out_buf, "exit codes"),
             "bench --help");
    TH_CHECK(run("--help") == 0 && strstr(out_buf, "bench"), "bench listed among the commands");

    /* fresh tiny weights on a synthetic clip */
    snprintf(p, sizeof p, "%s/b1.json", dir);
    snprintf(args, sizeof args, "bench --preset tiny --size 96x64 --frames 3 --warmup 1 --runs 2 --threads 1 --json %s", p);
    int rc = run(args);
    TH_CHECK(rc == 0 && strstr(out_buf, "seconds per key frame") && strstr(out_buf, "freshly initialised") &&
                 strstr(out_buf, "synthetic clip") && strstr(out_buf, "peak RSS") && strstr(out_buf, "OpenBLAS"),
             "bench happy path (rc %d): %s", rc, out_buf);
    check_json(p, 2, 3, "official", "synthetic");
    /* the same seed gives the same clip and weights: the same detection count */
    static char first[sizeof out_buf];
    snprintf(first, sizeof first, "%s", out_buf);
    const char *a = strstr(first, "frame stages, "), *b;
    rc = run("bench --preset tiny --size 96x64 --frames 3 --warmup 0 --runs 1 --threads 1");
    b = strstr(out_buf, "frame stages, ");
    TH_CHECK(rc == 0 && a && b && strtod(a + 14, NULL) == strtod(b + 14, NULL), "seeded runs reproduce the detections");

    /* a frame folder with given weights */
    snprintf(p, sizeof p, "%s/frames", dir);
    mkdir(p, 0755);
    selsa_image im = {0};
    for (int f = 0; f < 2; f++) {
        TH_OK(selsa_image_alloc(&im, 70, 110));
        for (size_t i = 0; i < (size_t)70 * 110 * 3; i++) im.data[i] = (uint8_t)((i * 7 + (size_t)f * 31) & 255);
        snprintf(p, sizeof p, "%s/frames/%06d.png", dir, f);
        TH_OK(selsa_image_write_png(p, &im));
    }
    selsa_image_free(&im);
    snprintf(args, sizeof args, "init-weights --preset tiny --seed 3 --out %s/tiny.params", dir);
    TH_CHECK(run(args) == 0, "init-weights tiny: %s", out_buf);
    snprintf(args, sizeof args, "bench --preset tiny -m %s/tiny.params --input %s/frames --frames 5 --warmup 0 --runs 1 "
             "--json %s/b2.json --quiet", dir, dir, dir);
    rc = run(args);
    TH_CHECK(rc == 0 && strstr(out_buf, "tiny.params") && strstr(out_buf, "(all it has)") && strstr(out_buf, "110x70"),
             "bench on a frame folder with weights (rc %d): %s", rc, out_buf);
    snprintf(p, sizeof p, "%s/b2.json", dir);
    char src[4200];
    snprintf(src, sizeof src, "%s/frames", dir);
    check_json(p, 1, 2, "official", src);

    /* the MMTracking family, adaptive schedule */
    snprintf(args, sizeof args, "bench --preset mmtrack-tiny --size 64x64 --frames 2 --warmup 0 --runs 1 --json %s/b3.json",
             dir);
    rc = run(args);
    TH_CHECK(rc == 0 && strstr(out_buf, "adaptive"), "bench mmtrack-tiny (rc %d): %s", rc, out_buf);
    snprintf(p, sizeof p, "%s/b3.json", dir);
    check_json(p, 1, 2, "mmtracking", "synthetic");
}

static void test_errors(const char *dir) {
    char args[8192], p[4096];
    TH_CHECK(run("bench --frobnicate") == 2 && strstr(out_buf, "--frobnicate"), "unknown option: %s", out_buf);
    TH_CHECK(run("bench --preset tiny --frames 0") == 2 && strstr(out_buf, "--frames"), "bad --frames: %s", out_buf);
    TH_CHECK(run("bench --preset tiny --runs") == 2 && strstr(out_buf, "--runs"), "--runs without value");
    TH_CHECK(run("bench --preset tiny --size 12by4") == 2 && strstr(out_buf, "--size"), "bad --size");
    TH_CHECK(run("bench --preset nosuch") == 2 && strstr(out_buf, "nosuch"), "unknown preset");
    TH_CHECK(run("bench --preset tiny --set TEST.x=1") == 2 && strstr(out_buf, "--cfg"), "--set without --cfg");
    TH_CHECK(run("bench --preset tiny --input /tmp --size 100x100") == 2, "--size with --input");
    TH_CHECK(run("bench --preset tiny --online --frames 1 --runs 1 --warmup 0") == 2 && strstr(out_buf, "MMTracking"),
             "--online on the official family");
    snprintf(args, sizeof args, "bench --preset tiny -m %s/missing.params", dir);
    TH_CHECK(run(args) == 4 && strstr(out_buf, "missing.params"), "missing weights: model error naming the file: %s", out_buf);
    snprintf(p, sizeof p, "%s/garbage.params", dir);
    FILE *f = fopen(p, "w");
    if (f) fputs("not a weight file", f), fclose(f);
    snprintf(args, sizeof args, "bench --preset tiny -m %s", p);
    TH_CHECK(run(args) == 4 && strstr(out_buf, "garbage.params"), "garbage weights: %s", out_buf);
    snprintf(args, sizeof args, "bench --preset r50 -m %s/tiny.params", dir);
    TH_CHECK(run(args) == 4 && strstr(out_buf, "shape"), "weights of another architecture: %s", out_buf);
    snprintf(args, sizeof args, "bench --preset tiny --input %s/nowhere.mp4", dir);
    TH_CHECK(run(args) == 3 && strstr(out_buf, "nowhere.mp4"), "missing input names it: %s", out_buf);
    snprintf(p, sizeof p, "%s/badframes", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/badframes/000000.png", dir);
    f = fopen(p, "w");
    if (f) fputs("not a png", f), fclose(f);
    snprintf(args, sizeof args, "bench --preset tiny --input %s/badframes", dir);
    TH_CHECK(run(args) == 3 && strstr(out_buf, "000000.png"), "unreadable frame names it: %s", out_buf);
    snprintf(args, sizeof args, "bench --preset tiny --json %s/no/such/dir/x.json", dir);
    TH_CHECK(run(args) == 3 && strstr(out_buf, "x.json"), "unwritable --json: %s", out_buf);
}

int main(int argc, char **argv) {
    th_init(argc, argv, "cli_bench");
    th_tool_path(tool, sizeof tool);
    if (access(tool, X_OK) != 0) {
        TH_CHECK(0, "selsa tool not found at %s (build it with `make`)", tool);
        return th_finish();
    }
    char dir[] = "/tmp/selsa_cli_bench_XXXXXX";
    if (!mkdtemp(dir)) {
        TH_CHECK(0, "mkdtemp failed");
        return th_finish();
    }
    test_happy(dir);
    test_errors(dir);
    th_remove_tree(dir);
    return th_finish();
}
