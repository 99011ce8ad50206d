/* selsa detect and its writers: the renderer (pixels of a box, a label, clipping), the video
 * writer (N frames written, N frames of the right size decoded back, odd sizes, errors), and
 * the command end to end on tiny data made here: a video made with the ffmpeg CLI from
 * synthetic frames, the same frames as a folder, an image list and a lossless video (same
 * detections), the annotated MP4 decoded back, PNG rendering, the MMTracking family with the
 * tiny .pth fixture (skipped when absent), and the documented errors with their exit codes. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "selsa/detections_json.h"
#include "selsa/frames.h"
#include "selsa/render.h"
#include "selsa/video_write.h"

static char tool[4096];
static char out_buf[65536];

/* Run "tool args" (in folder `cwd` when not NULL), stdout+stderr into out_buf; exit code. */
static int run_in(const char *cwd, const char *args) {
    if (!cwd) return th_run_cli(tool, args, out_buf, sizeof out_buf);
    char *cmd = NULL;
    if (asprintf(&cmd, "cd '%s' && %s %s", cwd, tool, args) < 0) return -1;
    int rc = th_run_cli(NULL, cmd, out_buf, sizeof out_buf);
    free(cmd);
    return rc;
}
static int run(const char *args) { return run_in(NULL, args); }

static int px_is(const selsa_image *im, int x, int y, const uint8_t c[3]) {
    const uint8_t *p = im->data + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
    return p[0] == c[0] && p[1] == c[1] && p[2] == c[2];
}

static void fill(selsa_image *im, uint8_t v) { memset(im->data, v, (size_t)im->h * (size_t)im->w * 3); }

/* ------------------------------------------------------------------ renderer --------------- */

static void test_render(void) {
    selsa_image im = {0};
    TH_OK(selsa_image_alloc(&im, 30, 40));
    const uint8_t red[3] = {0, 0, 255}, black[3] = {0, 0, 0}, white[3] = {255, 255, 255};
    fill(&im, 0);
    selsa_render_rect(&im, 5, 5, 20, 15, red, 1);
    TH_CHECK(px_is(&im, 5, 5, red) && px_is(&im, 20, 15, red) && px_is(&im, 12, 5, red) && px_is(&im, 5, 10, red),
             "rect edges drawn");
    TH_CHECK(px_is(&im, 10, 10, black) && px_is(&im, 4, 4, black) && px_is(&im, 21, 16, black) && px_is(&im, 6, 6, black),
             "rect interior and outside untouched");
    fill(&im, 0);
    selsa_render_rect(&im, 5, 5, 20, 15, red, 3);
    TH_CHECK(px_is(&im, 7, 10, red) && px_is(&im, 8, 10, black) && px_is(&im, 18, 10, red) && px_is(&im, 17, 10, black),
             "thickness 3 drawn inwards");
    /* clipping: far outside, partly outside */
    fill(&im, 0);
    selsa_render_rect(&im, -100, -100, 1000, 1000, red, 2);
    selsa_render_fill(&im, 35, 25, 100, 100, red);
    TH_CHECK(px_is(&im, 39, 29, red) && px_is(&im, 34, 24, black), "fill clipped to the image");
    /* text: 'A' row 0 is .###. drawn one row below the cell top */
    fill(&im, 0);
    int w = selsa_render_text(&im, 0, 0, "A", white, 1);
    TH_CHECK(w == 6 && w == selsa_render_text_width("A", 1), "text width %d", w);
    TH_CHECK(px_is(&im, 1, 1, white) && px_is(&im, 3, 1, white) && !px_is(&im, 0, 1, white) && !px_is(&im, 0, 0, white) &&
                 !px_is(&im, 4, 1, white),
             "glyph A top row");
    TH_CHECK(px_is(&im, 0, 5, white) && px_is(&im, 4, 5, white) && px_is(&im, 2, 5, white), "glyph A bar row");
    /* scale 2: each font pixel is 2x2 */
    fill(&im, 0);
    selsa_render_text(&im, 0, 0, "A", white, 2);
    TH_CHECK(px_is(&im, 2, 2, white) && px_is(&im, 3, 3, white) && !px_is(&im, 1, 2, white), "scaled glyph");
    int ink = 0;
    for (int c = 32; c < 127; c++) {
        const uint8_t *g = selsa_font_glyph((char)c);
        for (int r = 0; r < 7; r++) ink += g[r] != 0 && (g[r] & ~0x1F) == 0;
    }
    TH_CHECK(ink > 400, "font table has ink in 5-bit rows (%d rows)", ink);
    TH_CHECK(selsa_font_glyph('\x01') == selsa_font_glyph('?'), "non-printable -> '?'");
    selsa_image_free(&im);

    /* a detection: box in the class colour, label background above it */
    TH_OK(selsa_image_alloc(&im, 48, 64));
    fill(&im, 0);
    selsa_detection d[3] = {{.x1 = 10, .y1 = 20, .x2 = 40, .y2 = 40, .score = 0.9f, .cls = 1},
                            {.x1 = 0, .y1 = 0, .x2 = 5, .y2 = 5, .score = 0.1f, .cls = 2},
                            {.x1 = NAN, .y1 = -1e30, .x2 = 1e30, .y2 = NAN, .score = 0.5f, .cls = 99}};
    selsa_render_opts o;
    selsa_render_opts_default(&o, im.h, im.w);
    TH_CHECK(o.thickness == 1 && o.text_scale == 1 && fabsf(o.score_thr - 0.3f) < 1e-6f, "defaults for a small image");
    TH_OK(selsa_render_detections(&im, d, 2, &o));
    uint8_t c1[3];
    selsa_render_class_color(1, c1);
    TH_CHECK(px_is(&im, 10, 30, c1) && px_is(&im, 40, 30, c1) && px_is(&im, 25, 40, c1), "box edges in class colour");
    TH_CHECK(px_is(&im, 25, 30, black), "box interior untouched");
    TH_CHECK(px_is(&im, 10, 11, c1) && px_is(&im, 10, 19, c1), "label background above the box (rows 11..19)");
    int text_px = 0;
    for (int y = 11; y < 20; y++)
        for (int x = 11; x < 64; x++) text_px += !px_is(&im, x, y, c1) && !px_is(&im, x, y, black);
    TH_CHECK(text_px > 20, "label text drawn (%d pixels)", text_px);
    TH_CHECK(px_is(&im, 2, 0, black) && px_is(&im, 0, 2, black), "score below the threshold not drawn");
    TH_OK(selsa_render_detections(&im, d + 2, 1, &o)); /* NaN/huge coordinates, unknown class: no crash */
    o.score_thr = 0;
    fill(&im, 0);
    TH_OK(selsa_render_detections(&im, d, 2, &o));
    uint8_t c2[3];
    selsa_render_class_color(2, c2);
    TH_CHECK(memcmp(c1, c2, 3) != 0, "classes get different colours");
    TH_CHECK(px_is(&im, 10, 30, c1), "threshold 0 draws every box");
    TH_FAILS(selsa_render_detections(NULL, d, 1, &o), SELSA_ERR_INVALID_ARG);
    selsa_image_free(&im);
}

/* ------------------------------------------------------------------ video writer ----------- */

static void synth_frame(selsa_image *im, int k) {
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) {
            uint8_t *p = im->data + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
            int in_sq = x >= 4 + 3 * k && x < 16 + 3 * k && y >= 6 && y < 18;
            p[0] = (uint8_t)(in_sq ? 30 : 40 + 2 * x);
            p[1] = (uint8_t)(in_sq ? 220 : 60 + 3 * y);
            p[2] = (uint8_t)(in_sq ? 200 : 90 + k * 10);
        }
}

/* Decode a video; returns the number of frames, with the size of the first and the mean
 * absolute difference of frame `cmp_k` against synth_frame(cmp_k) (when sizes match). */
static int64_t decode_count(const char *path, int *h, int *w, int cmp_k, double *mad) {
    selsa_video *v;
    if (selsa_video_open(path, &v) != SELSA_OK) return -1;
    selsa_image im = {0}, ref = {0};
    int got = 1;
    int64_t n = 0;
    *h = *w = 0;
    if (mad) *mad = -1;
    while (selsa_video_read(v, &im, &got) == SELSA_OK && got) {
        if (n == 0) *h = im.h, *w = im.w;
        if (n == cmp_k && mad && selsa_image_alloc(&ref, im.h, im.w) == SELSA_OK) {
            synth_frame(&ref, cmp_k);
            double s = 0;
            size_t m = (size_t)im.h * (size_t)im.w * 3;
            for (size_t i = 0; i < m; i++) s += fabs((double)im.data[i] - ref.data[i]);
            *mad = s / (double)m;
        }
        n++;
    }
    selsa_image_free(&im);
    selsa_image_free(&ref);
    selsa_video_close(v);
    return n;
}

static int no_temp_left(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 1;
    struct dirent *e;
    int ok = 1;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) ok = 0;
    closedir(d);
    return ok;
}

static void test_video_writer(const char *dir) {
    char path[4096];
    const char *def = selsa_video_writer_default_codec();
    TH_CHECK(def != NULL, "an encoder is available");
    printf("default video encoder: %s\n", def ? def : "(none)");
    const char *codecs[2] = {NULL, "mpeg4"};
    for (int c = 0; c < 2; c++) {
        snprintf(path, sizeof path, "%s/vw%d.mp4", dir, c);
        selsa_video_writer *vw;
        selsa_image im = {0};
        TH_OK(selsa_image_alloc(&im, 32, 48));
        if (!TH_OK(selsa_video_writer_open(&vw, path, 32, 48, 10.0, codecs[c]))) continue;
        TH_CHECK(!strcmp(selsa_video_writer_codec(vw), c ? "mpeg4" : def), "codec %s", selsa_video_writer_codec(vw));
        TH_CHECK(access(path, F_OK) != 0, "nothing under the final name before close");
        for (int k = 0; k < 7; k++) {
            synth_frame(&im, k);
            TH_OK(selsa_video_writer_write(vw, &im));
        }
        TH_CHECK(selsa_video_writer_frames(vw) == 7, "7 frames counted");
        TH_OK(selsa_video_writer_close(vw));
        int h, w;
        double mad;
        int64_t n = decode_count(path, &h, &w, 3, &mad);
        /* lossy 4:2:0 coding of smooth ramps and a flat square: a few levels of error on average */
        TH_CHECK(n == 7 && h == 32 && w == 48, "%s: decoded %lld frames of %dx%d", path, (long long)n, w, h);
        TH_CHECK(mad >= 0 && mad < 8, "%s: frame 3 close to what was written (mean abs diff %.2f)", path, mad);
        selsa_image_free(&im);
    }
    TH_CHECK(no_temp_left(dir), "no temporary files left");
    /* odd size: stored rounded up to even, last column/row repeated */
    snprintf(path, sizeof path, "%s/odd.mkv", dir);
    selsa_video_writer *vw;
    selsa_image im = {0};
    TH_OK(selsa_image_alloc(&im, 31, 47));
    if (TH_OK(selsa_video_writer_open(&vw, path, 31, 47, 25.0, NULL))) {
        int h, w;
        selsa_video_writer_size(vw, &h, &w);
        TH_CHECK(h == 32 && w == 48, "even stored size %dx%d", w, h);
        for (int k = 0; k < 3; k++) synth_frame(&im, k), TH_OK(selsa_video_writer_write(vw, &im));
        selsa_image big = {0}; /* a frame of another size is scaled */
        TH_OK(selsa_image_alloc(&big, 64, 80));
        fill(&big, 128);
        TH_OK(selsa_video_writer_write(vw, &big));
        selsa_image_free(&big);
        TH_OK(selsa_video_writer_close(vw));
        int64_t n = decode_count(path, &h, &w, -1, NULL);
        TH_CHECK(n == 4 && h == 32 && w == 48, "odd size: %lld frames %dx%d", (long long)n, w, h);
    }
    selsa_image_free(&im);
    /* errors */
    TH_FAILS(selsa_video_writer_open(&vw, "/nonexistent/dir/x.mp4", 32, 32, 25, NULL), SELSA_ERR_IO);
    TH_CHECK(strstr(selsa_last_error(), "/nonexistent/dir/x.mp4") != NULL, "error names the file: %s", selsa_last_error());
    snprintf(path, sizeof path, "%s/x.mp4", dir);
    TH_FAILS(selsa_video_writer_open(&vw, path, 32, 32, 25, "no_such_encoder"), SELSA_ERR_UNSUPPORTED);
    TH_FAILS(selsa_video_writer_open(&vw, path, 0, 32, 25, NULL), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_video_writer_open(&vw, path, 32, 32, 0, NULL), SELSA_ERR_INVALID_ARG);
    snprintf(path, sizeof path, "%s/x.unknownext", dir);
    TH_FAILS(selsa_video_writer_open(&vw, path, 32, 32, 25, NULL), SELSA_ERR_INVALID_ARG);
    snprintf(path, sizeof path, "%s/aborted.mp4", dir);
    if (TH_OK(selsa_video_writer_open(&vw, path, 32, 32, 25, NULL))) selsa_video_writer_abort(vw);
    TH_CHECK(access(path, F_OK) != 0 && no_temp_left(dir), "abort leaves nothing");
}

/* ------------------------------------------------------------------ the command ------------ */

static int read_json(const char *path, selsa_dets_json_file *f) {
    return selsa_dets_json_read_file(path, 0, f) == SELSA_OK;
}

/* Same records: frame numbers, sizes, every detection bit for bit. */
static int same_dets(const selsa_dets_json_file *a, const selsa_dets_json_file *b) {
    if (a->n_frames != b->n_frames || a->n_dets != b->n_dets) return 0;
    for (int64_t i = 0; i < a->n_frames; i++)
        if (a->frames[i].frame != b->frames[i].frame || a->frames[i].n_dets != b->frames[i].n_dets ||
            a->frames[i].width != b->frames[i].width || a->frames[i].height != b->frames[i].height)
            return 0;
    for (int64_t i = 0; i < a->n_dets; i++)
        if (a->dets[i].cls != b->dets[i].cls || a->dets[i].score != b->dets[i].score ||
            memcmp(a->dets[i].box, b->dets[i].box, sizeof a->dets[i].box))
            return 0;
    return 1;
}

static int records_ok(const selsa_dets_json_file *f, int64_t n, int h, int w) {
    if (f->n_frames != n) return 0;
    for (int64_t i = 0; i < n; i++)
        if (f->frames[i].frame != i || f->frames[i].height != h || f->frames[i].width != w) return 0;
    return 1;
}

enum { NF = 5, FH = 64, FW = 96 };

static void test_command(const char *dir) {
    char args[12288], p[4096];
    int rc;
    TH_CHECK(run("detect --help") == 0 && strstr(out_buf, "usage: selsa detect"), "detect --help");
    TH_CHECK(run("--help") == 0 && strstr(out_buf, "detect"), "detect listed in the commands");
    snprintf(args, sizeof args, "init-weights --preset tiny --seed 1 --out %s/tiny.params", dir);
    if (!TH_CHECK(run(args) == 0, "init-weights: %s", out_buf)) return;

    /* synthetic frames: a folder of PNGs and an image list */
    snprintf(p, sizeof p, "%s/frames", dir);
    mkdir(p, 0755);
    selsa_image im = {0};
    TH_OK(selsa_image_alloc(&im, FH, FW));
    FILE *lst = NULL;
    snprintf(p, sizeof p, "%s/list.txt", dir);
    lst = fopen(p, "w");
    for (int k = 0; k < NF; k++) {
        synth_frame(&im, k);
        snprintf(p, sizeof p, "%s/frames/f%d.png", dir, k);
        TH_OK(selsa_image_write_png(p, &im));
        if (lst) fprintf(lst, "frames/f%d.png\n", k);
    }
    if (lst) fclose(lst);
    selsa_image_free(&im);

    /* videos made with the ffmpeg CLI: H.264 MP4 (lossy) and PNG-in-Matroska (lossless) */
    int have_ffmpeg = system("ffmpeg -version >/dev/null 2>&1") == 0;
    char mp4[4096], mkv[4096];
    snprintf(mp4, sizeof mp4, "%s/clip.mp4", dir);
    snprintf(mkv, sizeof mkv, "%s/clip.mkv", dir);
    if (have_ffmpeg) {
        snprintf(args, sizeof args,
                 "ffmpeg -hide_banner -loglevel error -y -framerate 10 -i '%s/frames/f%%d.png' -pix_fmt yuv420p '%s' && "
                 "ffmpeg -hide_banner -loglevel error -y -framerate 10 -i '%s/frames/f%%d.png' -c:v png '%s'",
                 dir, mp4, dir, mkv);
        have_ffmpeg = system(args) == 0;
    }
    if (!have_ffmpeg) {
        /* no ffmpeg CLI: our own writer makes the MP4; the lossless comparison is skipped */
        th_skip("ffmpeg CLI absent: clip.mp4 made with selsa's writer, no lossless video");
        selsa_video_writer *vw;
        TH_OK(selsa_image_alloc(&im, FH, FW));
        if (TH_OK(selsa_video_writer_open(&vw, mp4, FH, FW, 10, NULL))) {
            for (int k = 0; k < NF; k++) synth_frame(&im, k), selsa_video_writer_write(vw, &im);
            TH_OK(selsa_video_writer_close(vw));
        }
        selsa_image_free(&im);
    }

    /* the official family on the MP4, rendered: JSON with one record per frame, playable MP4 */
    snprintf(args, sizeof args, "detect %s -m %s/tiny.params --preset tiny --render --score-thr 0.03 -o %s/o1 --threads 1",
             mp4, dir, dir);
    rc = run(args);
    TH_CHECK(rc == 0 && strstr(out_buf, "5 frames") && strstr(out_buf, "peak memory"), "detect mp4 (rc %d): %s", rc, out_buf);
    selsa_dets_json_file j1, j2, j3;
    memset(&j1, 0, sizeof j1), memset(&j2, 0, sizeof j2), memset(&j3, 0, sizeof j3);
    snprintf(p, sizeof p, "%s/o1/detections.jsonl", dir);
    TH_CHECK(read_json(p, &j1) && records_ok(&j1, NF, FH, FW), "mp4: %lld records with frame 0..4 and the size",
             (long long)j1.n_frames);
    TH_CHECK(j1.n_dets > 0 && j1.frames[0].video && !strcmp(j1.frames[0].video, "clip.mp4"), "records carry detections and the input name");
    snprintf(p, sizeof p, "%s/o1/annotated.mp4", dir);
    int h, w;
    int64_t n = decode_count(p, &h, &w, -1, NULL);
    TH_CHECK(n == NF && h == FH && w == FW, "annotated.mp4 decodes back: %lld frames %dx%d", (long long)n, w, h);
    TH_CHECK(no_temp_left(dir) && (snprintf(p, sizeof p, "%s/o1", dir), no_temp_left(p)), "no temporary files");
    selsa_dets_json_file_free(&j1);

    /* folder, image list and lossless video give the same detections */
    snprintf(args, sizeof args, "detect %s/frames -m %s/tiny.params --preset tiny -o %s/o2 -q --threads 1", dir, dir, dir);
    TH_CHECK(run(args) == 0 && !strstr(out_buf, "frames in"), "detect folder, quiet: %s", out_buf);
    snprintf(args, sizeof args, "detect list.txt -m tiny.params --preset tiny -q --threads 1 --render png");
    TH_CHECK(run_in(dir, args) == 0, "detect list, default output folder: %s", out_buf);
    snprintf(p, sizeof p, "%s/o2/detections.jsonl", dir);
    int ok2 = read_json(p, &j2);
    snprintf(p, sizeof p, "%s/detections/list/detections.jsonl", dir);
    int ok3 = read_json(p, &j3);
    TH_CHECK(ok2 && ok3 && records_ok(&j2, NF, FH, FW) && same_dets(&j2, &j3), "folder == list");
    snprintf(p, sizeof p, "%s/detections/list/frames/%06d.png", dir, NF - 1);
    selsa_image png = {0};
    TH_CHECK(selsa_image_read(p, &png) == SELSA_OK && png.h == FH && png.w == FW, "--render png wrote frame %d", NF - 1);
    selsa_image_free(&png);
    selsa_dets_json_file_free(&j3);
    if (have_ffmpeg) {
        snprintf(args, sizeof args, "detect %s -m %s/tiny.params --preset tiny -o %s/o3 -q --threads 1", mkv, dir, dir);
        TH_CHECK(run(args) == 0, "detect mkv: %s", out_buf);
        snprintf(p, sizeof p, "%s/o3/detections.jsonl", dir);
        memset(&j3, 0, sizeof j3);
        TH_CHECK(read_json(p, &j3) && same_dets(&j2, &j3), "lossless video == frame folder, bit for bit");
        selsa_dets_json_file_free(&j3);
    }
    selsa_dets_json_file_free(&j2);

    /* the MMTracking family with the tiny fixture */
    const char *pth = th_fixture_path("mmtrack_tiny_zip.pth");
    if (access(pth, R_OK) == 0) {
        char pthc[4096];
        snprintf(pthc, sizeof pthc, "%s", pth);
        snprintf(args, sizeof args, "detect %s -m %s -o %s/m1 --render --threads 1", mp4, pthc, dir);
        rc = run(args);
        TH_CHECK(rc == 0 && strstr(out_buf, "online"), "mmtrack on a video: online (rc %d): %s", rc, out_buf);
        snprintf(p, sizeof p, "%s/m1/detections.jsonl", dir);
        memset(&j1, 0, sizeof j1);
        TH_CHECK(read_json(p, &j1) && records_ok(&j1, NF, FH, FW), "mmtrack mp4 records");
        selsa_dets_json_file_free(&j1);
        snprintf(p, sizeof p, "%s/m1/annotated.mp4", dir);
        n = decode_count(p, &h, &w, -1, NULL);
        TH_CHECK(n == NF && h == FH && w == FW, "mmtrack annotated.mp4: %lld frames %dx%d", (long long)n, w, h);
        snprintf(args, sizeof args, "detect %s/frames -m %s -o %s/m2 -q --threads 1", dir, pthc, dir);
        TH_CHECK(run(args) == 0, "mmtrack on a folder (adaptive): %s", out_buf);
        snprintf(args, sizeof args, "detect %s/frames -m %s -o %s/m3 -q --online --threads 1", dir, pthc, dir);
        TH_CHECK(run(args) == 0, "mmtrack on a folder --online: %s", out_buf);
        memset(&j1, 0, sizeof j1), memset(&j2, 0, sizeof j2), memset(&j3, 0, sizeof j3);
        snprintf(p, sizeof p, "%s/m2/detections.jsonl", dir);
        int a = read_json(p, &j1);
        snprintf(p, sizeof p, "%s/m3/detections.jsonl", dir);
        int b = read_json(p, &j2);
        TH_CHECK(a && b && records_ok(&j1, NF, FH, FW) && records_ok(&j2, NF, FH, FW), "adaptive and online records");
        if (have_ffmpeg) {
            snprintf(args, sizeof args, "detect %s -m %s -o %s/m4 -q --threads 1", mkv, pthc, dir);
            TH_CHECK(run(args) == 0, "mmtrack on the lossless video: %s", out_buf);
            snprintf(p, sizeof p, "%s/m4/detections.jsonl", dir);
            TH_CHECK(read_json(p, &j3) && same_dets(&j2, &j3), "mmtrack online: lossless video == folder --online");
        }
        selsa_dets_json_file_free(&j1), selsa_dets_json_file_free(&j2), selsa_dets_json_file_free(&j3);
        /* wrong model type: a .pth forced into the official architecture */
        snprintf(args, sizeof args, "detect %s -m %s --preset tiny -o %s/e0", mp4, pthc, dir);
        TH_CHECK(run(args) == 4, "a .pth with an official preset is a model error: %s", out_buf);
    } else {
        th_skip("mmtrack_tiny_zip.pth fixture absent (tests/ref/gen_mmtrack.py)");
    }

    /* errors */
    snprintf(args, sizeof args, "detect %s", mp4);
    TH_CHECK(run(args) == 2 && strstr(out_buf, "model file is needed"), "missing -m: %s", out_buf);
    snprintf(args, sizeof args, "detect %s -m %s/nosuch.params -o %s/e1", mp4, dir, dir);
    TH_CHECK(run(args) == 4 && strstr(out_buf, "nosuch.params"), "missing model file names it: %s", out_buf);
    snprintf(p, sizeof p, "%s/garbage.mp4", dir);
    FILE *f = fopen(p, "w");
    if (f) fputs("this is not a video", f), fclose(f);
    snprintf(args, sizeof args, "detect %s -m %s/tiny.params --preset tiny -o %s/e2", p, dir, dir);
    TH_CHECK(run(args) == 3 && strstr(out_buf, "garbage.mp4"), "unreadable video names it: %s", out_buf);
    snprintf(args, sizeof args, "detect %s/nowhere.mp4 -m %s/tiny.params -o %s/e3", dir, dir, dir);
    TH_CHECK(run(args) == 3 && strstr(out_buf, "nowhere.mp4"), "missing input names it: %s", out_buf);
    snprintf(args, sizeof args, "detect %s -m %s/tiny.params --preset mmtrack-tiny -o %s/e4", mp4, dir, dir);
    TH_CHECK(run(args) == 4 && strstr(out_buf, "tiny.params"), "a .params with an MMTracking preset is a model error: %s", out_buf);
    snprintf(args, sizeof args, "detect %s -m %s/tiny.params --preset r101 -o %s/e5", mp4, dir, dir);
    TH_CHECK(run(args) == 4, "tiny weights for r101 are a model error: %s", out_buf);
    snprintf(args, sizeof args, "detect %s -m %s/tiny.params --frobnicate", mp4, dir);
    TH_CHECK(run(args) == 2 && strstr(out_buf, "--frobnicate"), "unknown option: %s", out_buf);
    snprintf(args, sizeof args, "detect %s -m %s/tiny.params --render=gif", mp4, dir);
    TH_CHECK(run(args) == 2 && strstr(out_buf, "gif"), "bad --render: %s", out_buf);
    snprintf(args, sizeof args, "detect %s -m %s/tiny.params --score-thr 2", mp4, dir);
    TH_CHECK(run(args) == 2, "bad --score-thr: %s", out_buf);
    snprintf(args, sizeof args, "detect %s -m %s/tiny.params --preset nosuch", mp4, dir);
    TH_CHECK(run(args) == 2 && strstr(out_buf, "nosuch"), "unknown preset: %s", out_buf);
    TH_CHECK(run("detect -m x.params") == 2 && strstr(out_buf, "INPUT"), "missing input: %s", out_buf);
    /* an unreadable frame in a folder: input error naming the frame */
    snprintf(p, sizeof p, "%s/frames/f2.png", dir);
    f = fopen(p, "w");
    if (f) fputs("not a png", f), fclose(f);
    snprintf(args, sizeof args, "detect %s/frames -m %s/tiny.params --preset tiny -o %s/e6 -q", dir, dir, dir);
    TH_CHECK(run(args) == 3 && strstr(out_buf, "f2.png"), "corrupt frame names it: %s", out_buf);
    snprintf(p, sizeof p, "%s/e6/detections.jsonl", dir);
    TH_CHECK(access(p, F_OK) != 0, "no detections.jsonl after a failure");
}

int main(int argc, char **argv) {
    th_init(argc, argv, "detect");
    char dir[] = "/tmp/selsa_detect_XXXXXX";
    if (!mkdtemp(dir)) {
        TH_CHECK(0, "mkdtemp failed");
        return th_finish();
    }
    test_render();
    test_video_writer(dir);
    th_tool_path(tool, sizeof tool);
    if (access(tool, X_OK) == 0) test_command(dir);
    else TH_CHECK(0, "selsa tool not found at %s (build it with `make`)", tool);
    th_remove_tree(dir);
    return th_finish();
}
