/* Example: use libselsa from C to run the official SELSA test schedule over a folder of frames
 * and print the detections of each frame (JSON Lines to stdout).
 *
 *   cc -o detect_frames examples/detect_frames.c $(pkg-config --cflags --libs selsa)
 *   ./detect_frames WEIGHTS.params FRAME_DIR [preset: r101|r50|tiny]
 *
 * The frames are visited in temporal order; each frame is detected once with a window of
 * 2K+1 frames around it (per-frame work cached). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <selsa/selsa.h>

typedef struct frames {
    selsa_frame_source *src; /* sequential source: temporal order reads frames forwards */
    int64_t next;            /* index of the next frame the source will produce */
} frames;

static selsa_status read_frame(void *user, int64_t index, selsa_image *img) {
    frames *f = user;
    int64_t got = -1;
    while (f->next <= index) { /* decode forward to the requested frame */
        SELSA_TRY(selsa_frames_next(f->src, img, &got));
        if (got < 0) return selsa_error(SELSA_ERR_FORMAT, "frame %lld: the input ended", (long long)index);
        f->next = got + 1;
    }
    if (got != index)
        return selsa_error(SELSA_ERR_INVALID_ARG, "frame %lld requested out of order", (long long)index);
    return SELSA_OK;
}

static selsa_status print_frame(void *user, int64_t index, const int64_t *window, int T,
                                const selsa_official_result *res) {
    (void)user, (void)window, (void)T;
    selsa_dets_json_det *d = malloc(sizeof *d * (size_t)(res->n_dets ? res->n_dets : 1));
    if (!d) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "out of memory");
    for (int64_t i = 0; i < res->n_dets; i++)
        d[i] = (selsa_dets_json_det){{res->dets[i].x1, res->dets[i].y1, res->dets[i].x2, res->dets[i].y2},
                                     res->dets[i].score, res->dets[i].cls};
    selsa_dets_json_frame fr = {index, 0, NULL, 0, 0, d, res->n_dets};
    selsa_status s = selsa_dets_json_write_frame(stdout, &fr);
    free(d);
    return s;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s WEIGHTS.params FRAME_DIR [r101|r50|tiny]\n", argv[0]);
        return 2;
    }
    selsa_official_config cfg;
    const char *preset = argc > 3 ? argv[3] : "r101";
    if (!strcmp(preset, "tiny")) selsa_official_config_tiny(&cfg);
    else if (!strcmp(preset, "r50")) selsa_official_config_r50(&cfg);
    else selsa_official_config_r101(&cfg);

    selsa_ctx ctx;
    selsa_official_model *model = NULL;
    selsa_official_runner *runner = NULL;
    frames f = {NULL, 0};
    selsa_status s = selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, 0, 0);
    if (s == SELSA_OK) s = selsa_official_model_load_file(&model, &cfg, argv[1]);
    if (s == SELSA_OK) s = selsa_official_runner_create(&runner, model, &ctx);
    if (s == SELSA_OK) s = selsa_frames_open(argv[2], &f.src);
    int64_t n = s == SELSA_OK ? selsa_frames_count(f.src) : 0;
    if (s == SELSA_OK && n <= 0) s = selsa_error(SELSA_ERR_FORMAT, "%s: no frames (or unknown count)", argv[2]);
    if (s == SELSA_OK) {
        selsa_official_schedule_opts opts = {.perm = NULL, .temporal_order = true, .seed = 0, .uncached = false};
        s = selsa_official_run_video(runner, n, &opts, read_frame, &f, print_frame, NULL);
    }
    if (s != SELSA_OK) fprintf(stderr, "error: %s\n", selsa_last_error());
    if (f.src) selsa_frames_close(f.src);
    if (runner) selsa_official_runner_free(runner);
    if (model) selsa_official_model_free(model);
    selsa_ctx_free(&ctx);
    return s == SELSA_OK ? 0 : 1;
}
