/* selsa detect: run a detector over any video file, frame folder, ImageNet VID video directory
 * or image list; write the detections as JSON Lines (one record per frame, docs/FORMATS.md) and
 * optionally an annotated video (FFmpeg encoder) or annotated PNG frames.
 *
 * Streaming: frames are read in increasing order and each frame's record is written as soon as
 * it is detected, so memory does not grow with the video's length:
 *   official family   the official §9 schedule in temporal order (selsa_official_run_video with
 *                     temporal_order: each frame is read once, in increasing order, when first
 *                     pushed; frame f is detected after frames up to f+K were read, detections
 *                     come in increasing frame order). It needs the frame count up front: exact
 *                     for folders/lists, from a counting decode pass for video files;
 *   MMTracking family online (past frames only) for video files — the end of the stream is
 *                     found while reading; adaptive (MMTracking's offline protocol: reference
 *                     frames spread over the whole video) for folders/lists, which are random
 *                     access through their paths, unless --online.
 * Rendering needs frame f's pixels when f is detected; the official schedule has read ahead by
 * K frames then, so a second sequential source re-decodes the input in step with the
 * detections (one frame in memory). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "selsa/context.h"
#include "cli.h"
#include "selsa/detections_json.h"
#include "selsa/fileio.h"
#include "selsa/frames.h"
#include "selsa/render.h"
#include "selsa/selsa.h"
#include "selsa/video_write.h"

static void usage(void) {
    printf("usage: selsa detect INPUT -m MODEL [-o OUTDIR] [--online] [--render [mp4|png]] [options]\n\n"
           "Detects objects in every frame of INPUT and writes one JSON record per frame\n"
           "(OUTDIR/detections.jsonl, JSON Lines, see docs/FORMATS.md), optionally an annotated\n"
           "video (OUTDIR/annotated.mp4) or annotated PNG frames (OUTDIR/frames/000000.png ...)\n"
           "with boxes, class names and scores drawn.\n\n"
           "INPUT                   a video file (any format FFmpeg reads: mp4, mkv, avi, ...), a folder\n"
           "                        of frames (*.JPEG/*.jpg/*.png in numeric order of their names), an\n"
           "                        ImageNet VID video folder, or an image list (.txt/.lst, one path a line)\n"
           "options:\n"
           "  -m, --model FILE      weights: an official MXNet .params (official SELSA model) or an\n"
           "                        MMTracking SELSA .pth checkpoint, told apart by content (required)\n"
           "  --preset NAME         architecture: r101 (default for .params), r50, tiny, *-baseline;\n"
           "                        mmtrack-r50, mmtrack-r101, mmtrack-x101, mmtrack-tiny (default for\n"
           "                        .pth: read from the state dict)\n"
           "  --cfg FILE.yaml       architecture and test parameters from a configuration file\n"
           "  --set KEY=VALUE       override a configuration key (repeatable; needs --cfg)\n"
           "  -o, --out DIR         output folder (default detections/<input name>)\n"
           "  --online              MMTracking family: past frames only (always for video files; folders\n"
           "                        and lists default to MMTracking's adaptive-stride references)\n"
           "  --key-interval K      official family: window 2K+1 (default: the preset's)\n"
           "  --render [mp4|png]    also write the annotated video (default mp4) or PNG frames\n"
           "  --score-thr X         draw detections with score >= X (default 0.3; the JSON keeps every\n"
           "                        detection the model outputs)\n"
           "  --fps X               frame rate of the annotated video when the input has none (default 25)\n"
           "  --codec NAME          FFmpeg encoder for the video (default: libx264 if available, else mpeg4)\n"
           "  --threads N           compute threads (default: all cores)\n"
           "  -q, --quiet           no progress line and no summary\n\n"
           "exit codes: 0 ok, 2 usage, 3 input unreadable or output not writable, 4 model file\n"
           "unreadable or mismatched, 5 internal\n");
}

/* ------------------------------------------------------------------ frame readers ---------- */

enum { SIZE_RING = 1024 }; /* frame sizes remembered between reading and detecting a frame */

typedef struct reader {
    const char *input;
    selsa_frame_source *fs;   /* sequential source (NULL when reading by path) */
    char **paths;             /* [n_paths] random access (folders/lists, adaptive schedule) */
    int64_t n_paths;
    int64_t next;             /* index the sequential source yields next */
    int64_t expected;         /* frame count the schedule was given (-1: unknown) */
    int eof;                  /* the sequential source ended when frame `next` was asked for */
    const selsa_image *last;  /* the image of the last frame read (owned by the schedule) */
    int64_t last_index;
    int64_t ring_index[SIZE_RING];
    int ring_h[SIZE_RING], ring_w[SIZE_RING];
} reader;

static void remember(reader *r, int64_t index, const selsa_image *img) {
    int k = (int)(index % SIZE_RING);
    r->ring_index[k] = index, r->ring_h[k] = img->h, r->ring_w[k] = img->w;
    r->last = img, r->last_index = index;
}

/* Sequential reader: decodes forward only. Asking for an earlier frame is a bug of the caller's
 * schedule and fails clearly; later frames are reached by decoding the ones in between. */
static selsa_status read_seq(void *user, int64_t index, selsa_image *img) {
    reader *r = user;
    if (index < r->next)
        return selsa_error(SELSA_ERR_INTERNAL,
                           "'%s' is read sequentially, but frame %lld was asked for after frame %lld",
                           r->input, (long long)index, (long long)(r->next - 1));
    while (r->next <= index) {
        int64_t got = -1;
        SELSA_TRY(selsa_frames_next(r->fs, img, &got));
        if (got < 0) {
            r->eof = 1;
            if (r->expected >= 0)
                return selsa_error(SELSA_ERR_FORMAT, "'%s' ended after %lld frames, %lld expected", r->input,
                                   (long long)r->next, (long long)r->expected);
            return selsa_error(SELSA_ERR_FORMAT, "'%s': end of the video after %lld frames", r->input,
                               (long long)r->next);
        }
        r->next++;
    }
    remember(r, index, img);
    return SELSA_OK;
}

/* Random access through the frames' paths (folders and lists). */
static selsa_status read_path(void *user, int64_t index, selsa_image *img) {
    reader *r = user;
    if (index < 0 || index >= r->n_paths)
        return selsa_error(SELSA_ERR_INTERNAL, "frame %lld of '%s' asked for (it has %lld)", (long long)index,
                           r->input, (long long)r->n_paths);
    SELSA_TRY(selsa_image_read(r->paths[index], img));
    remember(r, index, img);
    return SELSA_OK;
}

/* ------------------------------------------------------------------ outputs ---------------- */

typedef enum render_kind { RENDER_NONE = 0, RENDER_MP4, RENDER_PNG } render_kind;

typedef struct detect_state {
    const char *input, *video_name;
    reader *rd;
    /* JSON Lines stream: temp file renamed over json_path at the end */
    FILE *json;
    char json_path[4200], json_tmp[4220];
    selsa_dets_json_det *jdets;
    int64_t jcap;
    /* rendering */
    render_kind render;
    float score_thr;
    selsa_frame_source *rsrc; /* second sequential source for the official family */
    int64_t rnext;
    selsa_image rimg;         /* the frame being annotated (owned) */
    selsa_video_writer *vw;
    char video_path[4200], frames_dir[4200];
    double fps;
    const char *codec;
    /* progress */
    int64_t done, total;      /* total: -1 when unknown */
    double t0, last_print;
    int progress;             /* print a progress line (stderr is a terminal, not --quiet) */
} detect_state;

static selsa_status json_open(detect_state *d) {
    snprintf(d->json_tmp, sizeof d->json_tmp, "%s.tmp.XXXXXX", d->json_path);
    int fd = mkstemp(d->json_tmp);
    if (fd < 0) {
        d->json_tmp[0] = '\0';
        return selsa_error(SELSA_ERR_IO, "cannot create '%s': %s", d->json_path, strerror(errno));
    }
    d->json = fdopen(fd, "w");
    if (!d->json) {
        close(fd);
        return selsa_error(SELSA_ERR_IO, "cannot write '%s': %s", d->json_tmp, strerror(errno));
    }
    return SELSA_OK;
}

/* Flush, fsync, set the usual mode and rename over the final name. On failure (or ok == 0)
 * the records written so far are kept as <path>.partial for inspection. */
static selsa_status json_close(detect_state *d, int ok) {
    if (!d->json) return SELSA_OK;
    selsa_status s = SELSA_OK;
    if (fflush(d->json) != 0 || ferror(d->json) || fsync(fileno(d->json)) != 0)
        s = selsa_error(SELSA_ERR_IO, "cannot write '%s': %s", d->json_tmp, strerror(errno));
    if (fclose(d->json) != 0 && s == SELSA_OK)
        s = selsa_error(SELSA_ERR_IO, "cannot write '%s': %s", d->json_tmp, strerror(errno));
    d->json = NULL;
    if (s == SELSA_OK && ok) {
        s = selsa_file_tmp_commit(d->json_tmp, d->json_path); /* fsync, mode, rename, dir fsync */
    } else {
        char partial[4240];
        snprintf(partial, sizeof partial, "%s.partial", d->json_path);
        if (rename(d->json_tmp, partial) != 0) unlink(d->json_tmp);
    }
    return s;
}

/* Frame `index`'s pixels for annotation into d->rimg. */
static selsa_status render_frame_image(detect_state *d, int64_t index) {
    const reader *r = d->rd;
    if (r->last && r->last_index == index) { /* the frame just read (MMTracking schedules) */
        SELSA_TRY(selsa_image_alloc(&d->rimg, r->last->h, r->last->w));
        memcpy(d->rimg.data, r->last->data, (size_t)r->last->h * (size_t)r->last->w * 3);
        return SELSA_OK;
    }
    if (!d->rsrc) SELSA_TRY(selsa_frames_open(d->input, &d->rsrc));
    if (index < d->rnext)
        return selsa_error(SELSA_ERR_INTERNAL, "annotating '%s': frame %lld after frame %lld", d->input,
                           (long long)index, (long long)(d->rnext - 1));
    while (d->rnext <= index) {
        int64_t got = -1;
        SELSA_TRY(selsa_frames_next(d->rsrc, &d->rimg, &got));
        if (got < 0)
            return selsa_error(SELSA_ERR_FORMAT, "annotating '%s': it ended after %lld frames", d->input,
                               (long long)d->rnext);
        d->rnext++;
    }
    return SELSA_OK;
}

static selsa_status render(detect_state *d, int64_t index, const selsa_detection *dets, int64_t n) {
    SELSA_TRY(render_frame_image(d, index));
    selsa_render_opts o;
    selsa_render_opts_default(&o, d->rimg.h, d->rimg.w);
    o.score_thr = d->score_thr;
    SELSA_TRY(selsa_render_detections(&d->rimg, dets, n, &o));
    if (d->render == RENDER_PNG) {
        char p[4300];
        snprintf(p, sizeof p, "%s/%06lld.png", d->frames_dir, (long long)index);
        return selsa_image_write_png(p, &d->rimg);
    }
    if (!d->vw) SELSA_TRY(selsa_video_writer_open(&d->vw, d->video_path, d->rimg.h, d->rimg.w, d->fps, d->codec));
    return selsa_video_writer_write(d->vw, &d->rimg);
}

static void progress(detect_state *d, int final) {
    if (!d->progress) return;
    double t = selsa_monotonic_seconds();
    if (!final && t - d->last_print < 0.25) return;
    d->last_print = t;
    double el = t - d->t0, fps = d->done / (el > 1e-9 ? el : 1e-9);
    if (d->total > 0) {
        double eta = (double)(d->total - d->done) / (fps > 0 ? fps : 1);
        fprintf(stderr, "\r%lld/%lld frames (%3.0f%%)  %.2f fps  ETA %.0f s   ", (long long)d->done,
                (long long)d->total, 100.0 * (double)d->done / (double)d->total, fps, eta < 0 ? 0 : eta);
    } else {
        fprintf(stderr, "\r%lld frames  %.2f fps   ", (long long)d->done, fps);
    }
    if (final) fprintf(stderr, "\n");
}

/* Everything done with one detected frame: its JSON record, its annotation, progress. */
static selsa_status on_frame(detect_state *d, int64_t index, const selsa_detection *dets, int64_t n) {
    if (n > d->jcap) {
        selsa_dets_json_det *nb = realloc(d->jdets, sizeof *nb * (size_t)n);
        if (!nb) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "%lld detections", (long long)n);
        d->jdets = nb, d->jcap = n;
    }
    for (int64_t i = 0; i < n; i++) {
        selsa_dets_json_det *j = &d->jdets[i];
        j->box[0] = dets[i].x1, j->box[1] = dets[i].y1, j->box[2] = dets[i].x2, j->box[3] = dets[i].y2;
        j->score = dets[i].score;
        j->cls = dets[i].cls;
    }
    selsa_dets_json_frame fr = {.frame = index, .video = d->video_name, .dets = d->jdets, .n_dets = n};
    int k = (int)(index % SIZE_RING);
    if (d->rd->ring_index[k] == index) fr.height = d->rd->ring_h[k], fr.width = d->rd->ring_w[k];
    selsa_status s = selsa_dets_json_write_frame(d->json, &fr);
    if (s != SELSA_OK) return selsa_error_context(s, "writing '%s'", d->json_tmp);
    if (d->render != RENDER_NONE) SELSA_TRY(render(d, index, dets, n));
    d->done++;
    progress(d, 0);
    return SELSA_OK;
}

static selsa_status on_official(void *user, int64_t index, const int64_t *window, int T,
                                const selsa_official_result *res) {
    (void)window, (void)T;
    return on_frame(user, index, res->dets, res->n_dets);
}

static selsa_status on_mmtrack(void *user, int64_t index, const selsa_mmtrack_result *res) {
    return on_frame(user, index, res->dets, res->n_dets);
}

/* ------------------------------------------------------------------ helpers ---------------- */

/* Input name for the default output folder and the records: last path component without a
 * trailing slash and (files) without the extension. */
static void input_name(const char *input, int strip_ext, char *out, size_t n) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", input);
    size_t len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/') buf[--len] = '\0';
    const char *base = strrchr(buf, '/');
    base = base ? base + 1 : buf;
    snprintf(out, n, "%s", base[0] ? base : "input");
    if (strip_ext) {
        char *dot = strrchr(out, '.');
        if (dot && dot != out) *dot = '\0';
    }
    if (!strcmp(out, ".") || !strcmp(out, "..") || !out[0]) snprintf(out, n, "input");
}

/* Count the frames of a video file by decoding it (exact; the container's count may not be). */
static selsa_status count_video_frames(const char *path, int64_t *n) {
    selsa_video *v;
    SELSA_TRY(selsa_video_open(path, &v));
    selsa_image img = {0};
    int got = 1;
    selsa_status s = SELSA_OK;
    *n = 0;
    while (s == SELSA_OK && (s = selsa_video_read(v, &img, &got)) == SELSA_OK && got) (*n)++;
    selsa_image_free(&img);
    selsa_video_close(v);
    return s;
}

/* The paths of a folder's / list's frames in their order (each frame is decoded once here,
 * which also checks every frame before the long run). */
static selsa_status collect_paths(const char *input, reader *r) {
    selsa_frame_source *fs;
    SELSA_TRY(selsa_frames_open(input, &fs));
    int64_t cap = selsa_frames_count(fs);
    selsa_status s = SELSA_OK;
    r->paths = calloc((size_t)(cap > 0 ? cap : 1), sizeof(char *));
    if (!r->paths) s = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "frame list of '%s'", input);
    selsa_image img = {0};
    while (s == SELSA_OK) {
        int64_t idx = -1;
        s = selsa_frames_next(fs, &img, &idx);
        if (s != SELSA_OK || idx < 0) break;
        if (idx >= cap) {
            s = selsa_error(SELSA_ERR_INTERNAL, "'%s' gave more frames than it counted", input);
            break;
        }
        if (!(r->paths[idx] = strdup(selsa_frames_current_path(fs))))
            s = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "frame list of '%s'", input);
        r->n_paths = idx + 1;
    }
    selsa_image_free(&img);
    selsa_frames_close(fs);
    return s;
}

static int parse_double(const char *s, double *v) {
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return *s && !*end && errno == 0 && isfinite(*v);
}

/* ------------------------------------------------------------------ command ---------------- */

int selsa_cmd_detect(int argc, char **argv) {
    if (selsa_cli_wants_help(argc, argv)) {
        usage();
        return SELSA_EXIT_OK;
    }
    const char *C = "detect";
    const char *input = NULL, *model = NULL, *out_dir = NULL, *preset = NULL, *cfg_path = NULL,
               *codec = NULL;
    const char *sets[64];
    int n_sets = 0, online = 0, quiet = 0, threads = -1, key_interval = -1;
    render_kind rk = RENDER_NONE;
    double score_thr = 0.3, fps_opt = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **target = !strcmp(a, "-m") || !strcmp(a, "--model") ? &model
                            : !strcmp(a, "-o") || !strcmp(a, "--out") ? &out_dir
                            : !strcmp(a, "--preset") ? &preset : !strcmp(a, "--cfg") ? &cfg_path
                            : !strcmp(a, "--codec") ? &codec : NULL;
        if (target) {
            if (i + 1 >= argc) return selsa_cli_usage_error(C, "%s needs a value", a);
            *target = argv[++i];
        } else if (!strcmp(a, "--set")) {
            if (i + 1 >= argc) return selsa_cli_usage_error(C, "--set needs KEY=VALUE");
            if (n_sets == 64) return selsa_cli_usage_error(C, "too many --set options (64 at most)");
            sets[n_sets++] = argv[++i];
        } else if (!strcmp(a, "--threads") || !strcmp(a, "--key-interval")) {
            if (i + 1 >= argc) return selsa_cli_usage_error(C, "%s needs a value", a);
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (!*argv[i] || *end || v < 0 || v > 4096) return selsa_cli_usage_error(C, "bad value '%s' for %s", argv[i], a);
            if (!strcmp(a, "--threads")) threads = (int)v;
            else key_interval = (int)v;
        } else if (!strcmp(a, "--score-thr") || !strcmp(a, "--fps")) {
            double v;
            if (i + 1 >= argc) return selsa_cli_usage_error(C, "%s needs a value", a);
            if (!parse_double(argv[++i], &v)) return selsa_cli_usage_error(C, "bad number '%s' for %s", argv[i], a);
            if (!strcmp(a, "--score-thr")) {
                if (v < 0 || v > 1) return selsa_cli_usage_error(C, "--score-thr %s: must be in [0, 1]", argv[i]);
                score_thr = v;
            } else {
                if (v <= 0 || v > 1000) return selsa_cli_usage_error(C, "--fps %s: must be in (0, 1000]", argv[i]);
                fps_opt = v;
            }
        } else if (!strcmp(a, "--render") || !strncmp(a, "--render=", 9)) {
            const char *v = a[8] == '=' ? a + 9 : (i + 1 < argc && (!strcmp(argv[i + 1], "mp4") || !strcmp(argv[i + 1], "png"))) ? argv[++i] : "mp4";
            if (!strcmp(v, "mp4")) rk = RENDER_MP4;
            else if (!strcmp(v, "png")) rk = RENDER_PNG;
            else return selsa_cli_usage_error(C, "--render %s: want mp4 or png", v);
        } else if (!strcmp(a, "--online")) online = 1;
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) quiet = 1;
        else if (a[0] == '-' && a[1]) return selsa_cli_usage_error(C, "unknown option '%s'", a);
        else if (input) return selsa_cli_usage_error(C, "more than one INPUT ('%s' and '%s')", input, a);
        else input = a;
    }
    if (!input) return selsa_cli_usage_error(C, "missing INPUT (a video file, a frame folder or an image list)");
    if (!model)
        return selsa_cli_usage_error(C, "a model file is needed: -m FILE (official .params or MMTracking .pth); "
                                        "`selsa init-weights --preset tiny --out tiny.params` writes untrained weights "
                                        "for trying the tool");
    selsa_cli_install_logger(quiet);

    selsa_cli_model m;
    memset(&m, 0, sizeof m);
    int rc = selsa_cli_model_arch(C, &m, cfg_path, sets, n_sets, preset);
    if (rc != SELSA_EXIT_OK) return rc;
    if (m.cfg_online) online = 1;
    if (threads < 0) threads = m.cfg_threads;

    /* the input first: a wrong path is reported before the (possibly long) model load */
    reader rd;
    memset(&rd, 0, sizeof rd);
    rd.input = input;
    rd.last_index = -1;
    rd.expected = -1;
    for (int k = 0; k < SIZE_RING; k++) rd.ring_index[k] = -1;
    selsa_status s = selsa_frames_open(input, &rd.fs);
    if (s != SELSA_OK) return selsa_cli_fail(C, s, SELSA_EXIT_INPUT);
    const int is_video = selsa_frames_get_kind(rd.fs) == SELSA_FRAMES_VIDEO;

    detect_state d;
    memset(&d, 0, sizeof d);
    char name[256], name_noext[256], dir_buf[4200], used_codec[32] = "";
    input_name(input, 0, name, sizeof name);
    input_name(input, is_video || selsa_frames_get_kind(rd.fs) == SELSA_FRAMES_LIST, name_noext, sizeof name_noext);
    d.input = input;
    d.video_name = name;
    d.rd = &rd;
    d.render = rk;
    d.score_thr = (float)score_thr;
    d.codec = codec;
    d.total = -1;
    if (!out_dir) {
        snprintf(dir_buf, sizeof dir_buf, "detections/%s", name_noext);
        out_dir = dir_buf;
    }
    if (strlen(out_dir) > 4000) {
        selsa_frames_close(rd.fs);
        return selsa_cli_usage_error(C, "output folder name too long (%zu characters)", strlen(out_dir));
    }
    if (snprintf(d.json_path, sizeof d.json_path, "%s/detections.jsonl", out_dir) >= (int)sizeof d.json_path ||
        snprintf(d.video_path, sizeof d.video_path, "%s/annotated.mp4", out_dir) >= (int)sizeof d.video_path ||
        snprintf(d.frames_dir, sizeof d.frames_dir, "%s/frames", out_dir) >= (int)sizeof d.frames_dir) {
        selsa_frames_close(rd.fs);
        return selsa_cli_usage_error(C, "output folder name too long");
    }
    if (codec && strcmp(codec, "auto") && !selsa_video_writer_has_codec(codec)) {
        selsa_frames_close(rd.fs);
        return selsa_cli_usage_error(C, "--codec %s: this FFmpeg build has no such video encoder (try libx264 or mpeg4)",
                                     codec);
    }

    selsa_ctx ctx;
    int have_ctx = 0;
    selsa_official_runner *orun = NULL;
    selsa_mmtrack_runner *mrun = NULL;
    if (key_interval >= 0) m.set_key_interval = 1, m.key_interval = key_interval;
    rc = selsa_cli_model_load(C, &m, model);
    if (rc != SELSA_EXIT_OK) goto done;
    s = selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, 0, threads);
    if (s != SELSA_OK) {
        rc = selsa_cli_fail(C, s, SELSA_EXIT_INTERNAL);
        goto done;
    }
    have_ctx = 1;

    /* schedule and frame count */
    int adaptive = 0;
    int64_t n_frames = 0;
    if (m.family == SELSA_FAMILY_OFFICIAL) {
        if (is_video) {
            if (!quiet && isatty(fileno(stderr))) fprintf(stderr, "counting the frames of %s ...", input);
            s = count_video_frames(input, &n_frames);
            if (!quiet && isatty(fileno(stderr))) fprintf(stderr, "\r\033[K");
        } else {
            n_frames = selsa_frames_count(rd.fs);
        }
        if (s == SELSA_OK && n_frames < 1) s = selsa_error(SELSA_ERR_FORMAT, "'%s' holds no frames", input);
        if (s == SELSA_OK) s = selsa_official_runner_create(&orun, m.om, &ctx);
        rd.expected = n_frames;
        d.total = n_frames;
    } else {
        if (key_interval >= 0) {
            rc = selsa_cli_usage_error(C, "--key-interval applies to the official family only");
            goto done;
        }
        if (!is_video && !online) {
            adaptive = 1;
            s = collect_paths(input, &rd);
            n_frames = rd.n_paths;
            d.total = n_frames;
        } else {
            if (is_video && !online) selsa_log(SELSA_LOG_INFO, "video input: MMTracking online schedule (past frames only)");
            online = 1;
            n_frames = INT64_MAX; /* the end is found while reading */
            d.total = selsa_frames_count(rd.fs);
        }
        if (s == SELSA_OK) s = selsa_mmtrack_runner_create(&mrun, m.mm, &ctx, 0);
    }
    if (s != SELSA_OK) {
        rc = selsa_cli_fail(C, s, SELSA_EXIT_INPUT);
        goto done;
    }

    /* outputs */
    s = selsa_mkdirs(out_dir);
    if (s == SELSA_OK && rk == RENDER_PNG) s = selsa_mkdirs(d.frames_dir);
    if (s == SELSA_OK) s = json_open(&d);
    if (s != SELSA_OK) {
        rc = selsa_cli_fail(C, s, SELSA_EXIT_INPUT);
        goto done;
    }
    if (rk == RENDER_MP4) {
        d.fps = fps_opt > 0 ? fps_opt : 25.0;
        if (is_video && fps_opt <= 0) {
            selsa_video *v;
            if (selsa_video_open(input, &v) == SELSA_OK) {
                double f = selsa_video_fps(v);
                if (f > 0 && f <= 1000) d.fps = f;
                selsa_video_close(v);
            }
        }
    }

    d.progress = !quiet && isatty(fileno(stderr));
    d.t0 = selsa_monotonic_seconds();
    if (m.family == SELSA_FAMILY_OFFICIAL) {
        selsa_official_schedule_opts o = {.perm = NULL, .temporal_order = true, .seed = 0, .uncached = false};
        s = selsa_official_run_video(orun, n_frames, &o, read_seq, &rd, on_official, &d);
    } else {
        selsa_mmtrack_schedule_opts o = {.mode = adaptive ? SELSA_MMTRACK_ADAPTIVE : SELSA_MMTRACK_ONLINE};
        if (adaptive) {
            s = selsa_mmtrack_run_video(mrun, n_frames, &o, read_path, &rd, on_mmtrack, &d);
        } else {
            s = selsa_mmtrack_run_video(mrun, n_frames, &o, read_seq, &rd, on_mmtrack, &d);
            /* the stream ended where the next frame was asked for, after every frame read was
             * detected: that is the normal end of an online run */
            if (s != SELSA_OK && rd.eof && d.done == rd.next && d.done > 0) s = SELSA_OK;
            else if (s != SELSA_OK && rd.eof && d.done == 0)
                s = selsa_error(SELSA_ERR_FORMAT, "'%s' holds no frames", input);
        }
    }
    progress(&d, 1);
    double secs = selsa_monotonic_seconds() - d.t0;
    if (s != SELSA_OK) {
        rc = selsa_cli_fail(C, s, SELSA_EXIT_INPUT);
        goto done;
    }
    s = json_close(&d, 1);
    if (s == SELSA_OK && d.vw) {
        snprintf(used_codec, sizeof used_codec, "%s", selsa_video_writer_codec(d.vw));
        s = selsa_video_writer_close(d.vw);
        d.vw = NULL;
    }
    if (s != SELSA_OK) {
        rc = selsa_cli_fail(C, s, SELSA_EXIT_INPUT);
        goto done;
    }
    if (!quiet) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("%lld frames in %.1f s (%.2f fps), peak memory %.0f MiB\n", (long long)d.done, secs,
               d.done / (secs > 1e-9 ? secs : 1e-9), ru.ru_maxrss / 1024.0);
        printf("detections: %s\n", d.json_path);
        if (rk == RENDER_MP4 && used_codec[0]) printf("annotated video: %s (%s)\n", d.video_path, used_codec);
        if (rk == RENDER_PNG) printf("annotated frames: %s/\n", d.frames_dir);
    }
done:
    if (d.json) json_close(&d, 0);
    if (d.vw) selsa_video_writer_abort(d.vw);
    if (d.rsrc) selsa_frames_close(d.rsrc);
    selsa_image_free(&d.rimg);
    free(d.jdets);
    for (int64_t i = 0; i < rd.n_paths; i++) free(rd.paths[i]);
    free(rd.paths);
    if (rd.fs) selsa_frames_close(rd.fs);
    if (orun) selsa_official_runner_free(orun);
    if (mrun) selsa_mmtrack_runner_free(mrun);
    selsa_cli_model_free(&m);
    if (have_ctx) selsa_ctx_free(&ctx);
    return rc;
}
