/* Frame sources: numeric folder order, and a video file (made here with the ffmpeg command
 * line, lossless ffv1/mkv and png/avi), a frame folder, an ILSVRC VID directory and an image list
 * yielding the same frames in the same order; errors for corrupt inputs and gaps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "selsa/frames.h"

static char g_tmp[64];

static void make_frame(selsa_image *im, int h, int w, int t) {
    selsa_image_alloc(im, h, w);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = im->data + ((size_t)y * w + x) * 3;
            /* a moving bright square on a gradient (JPEG-friendly content) */
            int in = x >= 4 + 3 * t && x < 20 + 3 * t && y >= 8 && y < 24;
            p[0] = (uint8_t)(in ? 240 : (x * 4) & 255);
            p[1] = (uint8_t)(in ? 30 : (y * 5 + t * 7) & 255);
            p[2] = (uint8_t)(in ? 60 + t : 128);
        }
}

static int run(const char *cmd) {
    int r = system(cmd);
    if (r != 0) printf("  command failed (%d): %s\n", r, cmd);
    return r == 0;
}

/* Read every frame of a source into one buffer; returns frame count or -1. */
static int64_t read_all(selsa_frame_source *fs, uint8_t **buf, int *h, int *w) {
    selsa_image im = {0};
    int64_t n = 0, idx;
    size_t cap = 0;
    *buf = NULL;
    for (;;) {
        if (!TH_OK(selsa_frames_next(fs, &im, &idx))) {
            n = -1;
            break;
        }
        if (idx < 0) break;
        TH_CHECK(idx == n, "frame index %lld, expected %lld", (long long)idx, (long long)n);
        *h = im.h;
        *w = im.w;
        size_t fsz = (size_t)im.h * im.w * 3;
        if ((size_t)(n + 1) * fsz > cap) {
            cap = (size_t)(n + 1) * fsz * 2;
            *buf = (uint8_t *)realloc(*buf, cap);
        }
        memcpy(*buf + (size_t)n * fsz, im.data, fsz);
        n++;
    }
    selsa_image_free(&im);
    return n;
}

static void test_numeric_order(void) {
    char dir[128], path[256];
    snprintf(dir, sizeof dir, "%s/order", g_tmp);
    mkdir(dir, 0755);
    const int nums[3] = {10, 0, 2};
    selsa_image im = {0};
    for (int i = 0; i < 3; i++) {
        make_frame(&im, 8, 8, 0);
        im.data[0] = (uint8_t)nums[i]; /* tag the frame with its number */
        snprintf(path, sizeof path, "%s/%d.png", dir, nums[i]);
        TH_OK(selsa_image_write_png(path, &im));
    }
    snprintf(path, sizeof path, "%s/notes.txt", dir); /* ignored */
    FILE *f = fopen(path, "w");
    fputs("x", f);
    fclose(f);
    selsa_frame_source *fs;
    if (!TH_OK(selsa_frames_open_folder(dir, &fs))) return;
    TH_CHECK(selsa_frames_count(fs) == 3, "count %lld", (long long)selsa_frames_count(fs));
    const int want[3] = {0, 2, 10};
    int64_t idx;
    for (int i = 0; i < 3; i++) {
        TH_OK(selsa_frames_next(fs, &im, &idx));
        TH_CHECK(idx == i && im.data[0] == want[i], "position %d: index %lld tag %d (want %d)", i,
                 (long long)idx, im.data[0], want[i]);
    }
    TH_OK(selsa_frames_next(fs, &im, &idx));
    TH_CHECK(idx == -1, "end of folder");
    TH_CHECK(selsa_frames_get_kind(fs) == SELSA_FRAMES_FOLDER, "kind folder");
    selsa_frames_close(fs);
    /* a folder that is not ILSVRC-style is rejected by the VID opener */
    TH_FAILS(selsa_frames_open_vid(NULL, dir, &fs), SELSA_ERR_FORMAT);
    /* a corrupt frame: the error names the file */
    snprintf(path, sizeof path, "%s/5.png", dir);
    f = fopen(path, "w");
    fputs("not a png", f);
    fclose(f);
    if (TH_OK(selsa_frames_open_folder(dir, &fs))) {
        TH_OK(selsa_frames_next(fs, &im, &idx));
        TH_OK(selsa_frames_next(fs, &im, &idx));
        TH_FAILS(selsa_frames_next(fs, &im, &idx), SELSA_ERR_FORMAT);
        TH_CHECK(strstr(selsa_last_error(), "5.png") != NULL, "names the file: %s", selsa_last_error());
        selsa_frames_close(fs);
    }
    char empty[128];
    snprintf(empty, sizeof empty, "%s/empty", g_tmp);
    mkdir(empty, 0755);
    TH_FAILS(selsa_frames_open_folder(empty, &fs), SELSA_ERR_IO);
    TH_FAILS(selsa_frames_open_folder("/nonexistent/dir", &fs), SELSA_ERR_IO);
    selsa_image_free(&im);
}

static void test_sources_agree(void) {
    if (system("ffmpeg -version >/dev/null 2>&1") != 0) {
        th_skip("ffmpeg command line not found: video-vs-folder test skipped");
        return;
    }
    const int T = 12, H = 40, W = 56;
    char seq[128], vid[256], frames[128], path[512], cmd[2048];
    snprintf(seq, sizeof seq, "%s/seq", g_tmp);
    snprintf(frames, sizeof frames, "%s/frames", g_tmp);
    snprintf(vid, sizeof vid, "%s/ILSVRC2015/Data/VID/val/ILSVRC2015_val_00000000", g_tmp);
    mkdir(seq, 0755);
    mkdir(frames, 0755);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", vid);
    if (!TH_CHECK(run(cmd), "mkdir")) return;
    selsa_image im = {0};
    for (int t = 0; t < T; t++) {
        make_frame(&im, H, W, t);
        snprintf(path, sizeof path, "%s/%d.png", seq, t);
        TH_OK(selsa_image_write_png(path, &im));
    }
    /* ILSVRC-style JPEG frames (ffmpeg's mjpeg encoder), then their decoded pixels as PNGs */
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -v error -y -i '%s/%%d.png' -q:v 3 -start_number 0 '%s/%%06d.JPEG'", seq, vid);
    if (!TH_CHECK(run(cmd), "ffmpeg JPEG frames")) return;
    for (int t = 0; t < T; t++) {
        snprintf(path, sizeof path, "%s/%06d.JPEG", vid, t);
        if (!TH_OK(selsa_image_read(path, &im))) return;
        snprintf(path, sizeof path, "%s/%d.png", frames, t);
        TH_OK(selsa_image_write_png(path, &im));
    }
    /* lossless videos from the folder */
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -v error -y -framerate 25 -i '%s/%%d.png' -c:v ffv1 -pix_fmt bgr0 '%s/v.mkv' && "
             "ffmpeg -nostdin -v error -y -framerate 25 -i '%s/%%d.png' -c:v png -pix_fmt rgb24 '%s/v.avi'",
             frames, g_tmp, frames, g_tmp);
    if (!TH_CHECK(run(cmd), "ffmpeg videos")) return;
    /* an image list (relative paths, comments, blank lines) */
    snprintf(path, sizeof path, "%s/list.txt", g_tmp);
    FILE *f = fopen(path, "w");
    fprintf(f, "# frames\n\n");
    for (int t = 0; t < T; t++) fprintf(f, "frames/%d.png\n", t);
    fclose(f);

    uint8_t *ref = NULL, *got = NULL;
    int h = 0, w = 0;
    selsa_frame_source *fs;
    char root[128];
    snprintf(root, sizeof root, "%s/ILSVRC2015", g_tmp);
    if (!TH_OK(selsa_frames_open_vid(root, "val/ILSVRC2015_val_00000000", &fs))) return;
    TH_CHECK(selsa_frames_get_kind(fs) == SELSA_FRAMES_VID_DIR && selsa_frames_count(fs) == T, "VID dir");
    int64_t n = read_all(fs, &ref, &h, &w);
    selsa_frames_close(fs);
    TH_CHECK(n == T && h == H && w == W, "VID dir: %lld frames %dx%d", (long long)n, w, h);
    const char *others[4] = {"frames", "v.mkv", "v.avi", "list.txt"};
    const selsa_frames_kind kinds[4] = {SELSA_FRAMES_FOLDER, SELSA_FRAMES_VIDEO, SELSA_FRAMES_VIDEO,
                                        SELSA_FRAMES_LIST};
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "%s/%s", g_tmp, others[k]);
        if (!TH_OK(selsa_frames_open(path, &fs))) continue;
        TH_CHECK(selsa_frames_get_kind(fs) == kinds[k], "%s: kind %d", others[k], selsa_frames_get_kind(fs));
        int64_t cnt = selsa_frames_count(fs);
        TH_CHECK(cnt == T || (kinds[k] == SELSA_FRAMES_VIDEO && cnt == -1), "%s: count %lld", others[k],
                 (long long)cnt);
        int h2 = 0, w2 = 0;
        int64_t n2 = read_all(fs, &got, &h2, &w2);
        selsa_frames_close(fs);
        int same = n2 == n && h2 == h && w2 == w && memcmp(got, ref, (size_t)n * h * w * 3) == 0;
        TH_CHECK(same, "%s yields the same %lld frames as the VID dir (got %lld, %dx%d)", others[k],
                 (long long)n, (long long)n2, w2, h2);
        free(got);
        got = NULL;
    }
    /* auto-detect: the VID dir itself */
    if (TH_OK(selsa_frames_open(vid, &fs))) {
        TH_CHECK(selsa_frames_get_kind(fs) == SELSA_FRAMES_VID_DIR, "auto-detect VID dir");
        selsa_frames_close(fs);
    }
    /* a gap in the VID dir */
    snprintf(path, sizeof path, "%s/000005.JPEG", vid);
    unlink(path);
    TH_FAILS(selsa_frames_open_vid(root, "val/ILSVRC2015_val_00000000", &fs), SELSA_ERR_FORMAT);
    TH_CHECK(strstr(selsa_last_error(), "000005") != NULL, "gap named: %s", selsa_last_error());
    /* corrupt and missing videos */
    snprintf(path, sizeof path, "%s/bad.mp4", g_tmp);
    f = fopen(path, "w");
    for (int i = 0; i < 500; i++) fputc((i * 37) & 255, f);
    fclose(f);
    TH_FAILS(selsa_frames_open(path, &fs), SELSA_ERR_FORMAT);
    TH_CHECK(strstr(selsa_last_error(), "bad.mp4") != NULL, "names the video: %s", selsa_last_error());
    snprintf(path, sizeof path, "%s/missing.mp4", g_tmp);
    TH_FAILS(selsa_frames_open_video(path, &fs), SELSA_ERR_IO);
    snprintf(path, sizeof path, "%s/missing.txt", g_tmp);
    TH_FAILS(selsa_frames_open_list(path, &fs), SELSA_ERR_IO);
    free(ref);
    selsa_image_free(&im);
}

int main(int argc, char **argv) {
    th_init(argc, argv, "frames");
    snprintf(g_tmp, sizeof g_tmp, "/tmp/selsa_test_frames_XXXXXX");
    if (!mkdtemp(g_tmp)) {
        TH_CHECK(0, "mkdtemp failed");
        return th_finish();
    }
    test_numeric_order();
    test_sources_agree();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) printf("  could not remove %s\n", g_tmp);
    return th_finish();
}
