/* selsa test: the official SELSA test on an ILSVRC-layout dataset (official-selsa.md §9): every
 * val video through the 21-frame window schedule, detections in the official text format, then
 * the VID evaluation (mAP, slow / medium / fast). The seed's
 *   python experiments/selsa/test.py --cfg ...yaml --test-pretrained ./model/pretrained_model/selsa_rcnn_vid
 * becomes
 *   selsa test --root data/ILSVRC2015 --test-pretrained ./model/pretrained_model/selsa_rcnn_vid */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "selsa/config.h"
#include "selsa/dataset.h"
#include "selsa/eval.h"
#include "selsa/fileio.h"
#include "selsa/model_mmtrack.h"
#include "selsa/model_official.h"
#include "selsa/weights.h"
#include "selsa/selsa.h"

static void usage(void) {
    printf("usage: selsa test --cfg FILE.yaml [--test-pretrained PREFIX|FILE] [options]\n"
           "       selsa test --root DIR --test-pretrained PREFIX|FILE [--preset NAME] [options]\n\n"
           "Runs the official SELSA test schedule (a window of 2K+1 frames from a shuffled visit\n"
           "order, every frame detected once; per-frame work cached) on every video of the list,\n"
           "writes the detections in the official text format and evaluates them.\n\n"
           "options:\n"
           "  --cfg FILE.yaml         configuration (the official yaml files load as they are; see\n"
           "                          docs/CONFIG.md): architecture, SCALES, TEST.*, dataset.dataset_path,\n"
           "                          dataset.test_image_set, dataset.motion_iou_path, output_path.\n"
           "                          Without --test-pretrained the weights are\n"
           "                          output_path/TRAIN.model_prefix-<TEST.test_epoch>.params\n"
           "  --set KEY=VALUE         override a configuration key (repeatable), e.g. TEST.KEY_FRAME_INTERVAL=5\n"
           "  --root DIR              ILSVRC2015-layout dataset root (Data/VID, Annotations/VID, ImageSets)\n"
           "  --test-pretrained P     weights: FILE, or PREFIX meaning PREFIX-0000.params (as the\n"
           "                          official --test-pretrained); .params or .pth, by content\n"
           "  --preset NAME           architecture. Official family: r101, r50, tiny, and the single-\n"
           "                          frame baselines r101-baseline, r50-baseline, tiny-baseline.\n"
           "                          MMTracking family: mmtrack-r50, mmtrack-r101, mmtrack-x101,\n"
           "                          mmtrack-tiny. Default: from the weights' content (.pth ->\n"
           "                          MMTracking, architecture read from the state dict; .params ->\n"
           "                          official r101)\n"
           "  --online                MMTracking family: past frames only (bounded ring) instead of\n"
           "                          the offline adaptive-stride references\n"
           "  --list FILE             video list (default DIR/ImageSets/VID_val_videos.txt)\n"
           "  --shard i/n             only videos v with v %% n == i (run n processes, then `selsa eval`\n"
           "                          on the concatenated detection files)\n"
           "  --key-interval K        window 2K+1 (default: the preset's, 10)\n"
           "  --seed N                seed of the per-video visiting permutation (default 0)\n"
           "  --temporal-order        visit frames in temporal order instead of a permutation\n"
           "  --out DIR               output folder (default output/selsa_test)\n"
           "  --motion-mat FILE       official motion-IoU .mat for the breakdown (default: from tracks)\n"
           "  --no-eval               only write detections\n"
           "  --threads N             compute threads (default: all cores)\n"
           "  --quiet                 no progress output\n\n"
           "outputs: OUT/detections.txt (or detections_shard<i>of<n>.txt), OUT/eval.json\n"
           "exit codes: 0 ok, 2 usage, 3 dataset unreadable, 4 weights unreadable or mismatched, 5 internal\n");
}

/* Official-family presets by name (shared with init-weights): r101, r50, tiny, each optionally
 * with "-baseline" (the single-frame model without SELSA modules). */
int selsa_cli_official_preset(const char *name, selsa_official_config *c) {
    char base[32];
    snprintf(base, sizeof base, "%s", name);
    char *dash = strstr(base, "-baseline");
    bool baseline = dash != NULL;
    if (dash) *dash = '\0';
    if (!strcmp(base, "r101")) selsa_official_config_r101(c);
    else if (!strcmp(base, "r50")) selsa_official_config_r50(c);
    else if (!strcmp(base, "tiny")) selsa_official_config_tiny(c);
    else return 0;
    if (baseline) c->selsa = false;
    return 1;
}

typedef struct video_paths {
    char **paths;
    int64_t n;
} video_paths;

static void free_paths(video_paths *v) {
    for (int64_t i = 0; i < v->n; i++) free(v->paths[i]);
    free(v->paths);
    v->paths = NULL, v->n = 0;
}

/* One interface over both model families: run a whole video, append its detections. */
typedef struct test_runner {
    selsa_model_family family;
    selsa_official_model *om;
    selsa_official_runner *orun;
    selsa_mmtrack_model *mm;
    selsa_mmtrack_runner *mrun;
    selsa_official_schedule_opts oopts;
    selsa_mmtrack_schedule_opts mopts;
} test_runner;

typedef struct det_sink {
    selsa_vid_dets *all;
    int64_t frame_id_base;
} det_sink;

static selsa_status collect_official(void *user, int64_t index, const int64_t *window, int T,
                                     const selsa_official_result *res) {
    (void)window, (void)T;
    det_sink *d = user;
    for (int64_t i = 0; i < res->n_dets; i++) {
        const selsa_detection *e = &res->dets[i];
        SELSA_TRY(selsa_vid_dets_add(d->all, d->frame_id_base + index, e->cls, e->score, e->x1, e->y1, e->x2, e->y2));
    }
    return SELSA_OK;
}

static selsa_status collect_mmtrack(void *user, int64_t index, const selsa_mmtrack_result *res) {
    det_sink *d = user;
    for (int64_t i = 0; i < res->n_dets; i++) {
        const selsa_detection *e = &res->dets[i];
        SELSA_TRY(selsa_vid_dets_add(d->all, d->frame_id_base + index, e->cls, e->score, e->x1, e->y1, e->x2, e->y2));
    }
    return SELSA_OK;
}

static selsa_status runner_video(test_runner *t, char **paths, int64_t n, det_sink *sink) {
    if (t->family == SELSA_FAMILY_OFFICIAL)
        return selsa_official_run_video(t->orun, n, &t->oopts, selsa_official_read_paths, paths,
                                        collect_official, sink);
    return selsa_mmtrack_run_video(t->mrun, n, &t->mopts, selsa_official_read_paths, paths, collect_mmtrack,
                                   sink);
}

static void runner_free(test_runner *t) {
    if (t->orun) selsa_official_runner_free(t->orun);
    if (t->om) selsa_official_model_free(t->om);
    if (t->mrun) selsa_mmtrack_runner_free(t->mrun);
    if (t->mm) selsa_mmtrack_model_free(t->mm);
}

int selsa_cmd_test(int argc, char **argv) {
    if (selsa_cli_wants_help(argc, argv)) {
        usage();
        return SELSA_EXIT_OK;
    }
    const char *root = NULL, *weights = NULL, *preset = NULL, *list = NULL, *out_dir = "output/selsa_test",
               *mat = NULL, *shard_s = NULL;
    int threads = 0, key_interval = -1, temporal = 0, quiet = 0, do_eval = 1, online = 0;
    unsigned long long seed = 0;
    const char *cfg_path = NULL;
    const char *sets[64];
    int n_sets = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **target = !strcmp(a, "--root") ? &root : !strcmp(a, "--test-pretrained") ? &weights
                            : !strcmp(a, "--preset") ? &preset : !strcmp(a, "--list") ? &list
                            : !strcmp(a, "--out") ? &out_dir : !strcmp(a, "--motion-mat") ? &mat
                            : !strcmp(a, "--shard") ? &shard_s : NULL;
        if (target) {
            if (i + 1 >= argc) return selsa_cli_usage_error("test", "%s needs a value", a);
            *target = argv[++i];
        } else if (!strcmp(a, "--threads") || !strcmp(a, "--key-interval") || !strcmp(a, "--seed")) {
            if (i + 1 >= argc) return selsa_cli_usage_error("test", "%s needs a value", a);
            char *end;
            long long v = strtoll(argv[++i], &end, 10);
            if (*end || v < 0) return selsa_cli_usage_error("test", "bad value '%s' for %s", argv[i], a);
            if (!strcmp(a, "--threads")) threads = (int)v;
            else if (!strcmp(a, "--key-interval")) key_interval = (int)v;
            else seed = (unsigned long long)v;
        } else if (!strcmp(a, "--cfg") || !strcmp(a, "--set")) {
            if (i + 1 >= argc) return selsa_cli_usage_error("test", "%s needs a value", a);
            if (!strcmp(a, "--cfg")) cfg_path = argv[++i];
            else if (n_sets < 64) sets[n_sets++] = argv[++i];
            else return selsa_cli_usage_error("test", "too many --set options");
        } else if (!strcmp(a, "--temporal-order")) temporal = 1;
        else if (!strcmp(a, "--online")) online = 1;
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) quiet = 1;
        else if (!strcmp(a, "--no-eval")) do_eval = 0;
        else return selsa_cli_usage_error("test", "unknown argument '%s'", a);
    }
    selsa_cli_install_logger(quiet);
    selsa_official_config cfg;
    selsa_mmtrack_config mcfg;
    selsa_model_family family = SELSA_FAMILY_OFFICIAL;
    int family_known = 0;
    static selsa_config yc; /* large; static keeps it off the stack */
    char list_from_cfg[4200], weights_from_cfg[4200], mat_from_cfg[4200];
    if (cfg_path) {
        selsa_config_default(&yc);
        selsa_status cs = selsa_config_load(&yc, cfg_path);
        for (int k = 0; cs == SELSA_OK && k < n_sets; k++) cs = selsa_config_set_arg(&yc, sets[k]);
        if (cs == SELSA_OK) cs = selsa_config_validate(&yc);
        family = yc.network.family;
        family_known = 1;
        if (cs == SELSA_OK)
            cs = family == SELSA_FAMILY_OFFICIAL ? selsa_config_to_official(&yc, &cfg) : selsa_config_to_mmtrack(&yc, &mcfg);
        if (cs != SELSA_OK) return selsa_cli_fail("test", cs, SELSA_EXIT_USAGE);
        if (yc.test.schedule == SELSA_SCHEDULE_ONLINE) online = 1;
        if (!root) root = yc.dataset.dataset_path;
        if (!list && yc.dataset.test_image_set[0]) {
            snprintf(list_from_cfg, sizeof list_from_cfg, "%s/ImageSets/%s.txt", root, yc.dataset.test_image_set);
            list = list_from_cfg;
        }
        if (!weights) {
            snprintf(weights_from_cfg, sizeof weights_from_cfg, "%s/%s-%04d.params", yc.output_path,
                     yc.train.model_prefix, yc.test.test_epoch);
            weights = weights_from_cfg;
        }
        if (!mat && yc.dataset.motion_iou_path[0]) {
            snprintf(mat_from_cfg, sizeof mat_from_cfg, "%s", yc.dataset.motion_iou_path);
            mat = mat_from_cfg;
            /* the official yaml names the ImageNet VID .mat relative to the official checkout;
             * with another dataset (or without that file) the motion IoU comes from the tracks */
            if (access(mat, R_OK) != 0) {
                fprintf(stderr, "selsa test: warning: dataset.motion_iou_path %s is not readable; computing motion IoU "
                                "from the annotation tracks instead (pass --motion-mat FILE for the official .mat)\n",
                        mat);
                mat = NULL;
            }
        }
        if (!strcmp(out_dir, "output/selsa_test")) out_dir = yc.output_path;
        if (!threads) threads = yc.threads;
        if (!seed && yc.test.shuffle_seed) seed = yc.test.shuffle_seed;
        if (!yc.test.video_shuffle) temporal = 1;
    } else {
        if (n_sets) return selsa_cli_usage_error("test", "--set needs --cfg");
        if (preset && !strncmp(preset, "mmtrack-", 8)) {
            if (selsa_mmtrack_config_preset(&mcfg, preset + 8) != SELSA_OK)
                return selsa_cli_usage_error("test", "unknown --preset '%s'", preset);
            family = SELSA_FAMILY_MMTRACK;
            family_known = 1;
        } else if (preset) {
            if (!selsa_cli_official_preset(preset, &cfg)) return selsa_cli_usage_error("test", "unknown --preset '%s'", preset);
            family_known = 1;
        }
    }
    if (!root) return selsa_cli_usage_error("test", "missing --root DIR (or --cfg with dataset.dataset_path)");
    if (!weights) return selsa_cli_usage_error("test", "missing --test-pretrained PREFIX|FILE");
    int shard_i = 0, shard_n = 1;
    if (shard_s && (sscanf(shard_s, "%d/%d", &shard_i, &shard_n) != 2 || shard_n < 1 || shard_i < 0 ||
                    shard_i >= shard_n))
        return selsa_cli_usage_error("test", "bad --shard '%s' (want i/n with 0 <= i < n)", shard_s);

    char weights_path[4096], list_buf[4096], det_path[4096], json_path[4096];
    if (access(weights, R_OK) == 0) snprintf(weights_path, sizeof weights_path, "%s", weights);
    else snprintf(weights_path, sizeof weights_path, "%s-0000.params", weights);
    if (!list) {
        snprintf(list_buf, sizeof list_buf, "%s/ImageSets/VID_val_videos.txt", root);
        list = list_buf;
    }
    if (shard_n > 1) snprintf(det_path, sizeof det_path, "%s/detections_shard%dof%d.txt", out_dir, shard_i, shard_n);
    else snprintf(det_path, sizeof det_path, "%s/detections.txt", out_dir);
    snprintf(json_path, sizeof json_path, "%s/eval.json", out_dir);

    int rc = SELSA_EXIT_OK;
    selsa_ctx ctx;
    test_runner tr = {0};
    selsa_imageset set = {0};
    selsa_vid_dets all;
    selsa_vid_dets_init(&all);
    video_paths vp = {0};
    bool have_ctx = false;
    selsa_status s = selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, 0, threads);
    if (s != SELSA_OK) return selsa_cli_fail("test", s, SELSA_EXIT_INTERNAL);
    have_ctx = true;
    if (!family_known) { /* the weights' content decides: .pth -> MMTracking, .params -> official */
        selsa_weights_format fmt;
        s = selsa_weights_detect(weights_path, &fmt);
        if (s != SELSA_OK) {
            rc = selsa_cli_fail("test", s, SELSA_EXIT_MODEL);
            goto done;
        }
        family = fmt == SELSA_WEIGHTS_PTH_ZIP || fmt == SELSA_WEIGHTS_PTH_LEGACY ? SELSA_FAMILY_MMTRACK : SELSA_FAMILY_OFFICIAL;
        if (family == SELSA_FAMILY_OFFICIAL) selsa_official_config_r101(&cfg);
    }
    tr.family = family;
    if (family == SELSA_FAMILY_OFFICIAL) {
        if (key_interval >= 0) cfg.key_interval = key_interval;
        s = selsa_official_model_load_file(&tr.om, &cfg, weights_path);
        if (s == SELSA_OK) s = selsa_official_runner_create(&tr.orun, tr.om, &ctx);
        tr.oopts = (selsa_official_schedule_opts){.perm = NULL, .temporal_order = temporal, .seed = seed, .uncached = false};
    } else {
        selsa_weights w;
        selsa_weights_init(&w);
        s = selsa_weights_load(weights_path, &w);
        if (s == SELSA_OK && !family_known) s = selsa_mmtrack_config_from_weights(&mcfg, &w);
        if (s == SELSA_OK) s = selsa_mmtrack_model_load(&tr.mm, &mcfg, &w, weights_path);
        selsa_weights_free(&w);
        if (s == SELSA_OK) s = selsa_mmtrack_runner_create(&tr.mrun, tr.mm, &ctx, 0);
        tr.mopts = (selsa_mmtrack_schedule_opts){.mode = online ? SELSA_MMTRACK_ONLINE : SELSA_MMTRACK_ADAPTIVE};
    }
    if (s != SELSA_OK) {
        rc = selsa_cli_fail("test", s, SELSA_EXIT_MODEL);
        goto done;
    }
    s = selsa_mkdirs(out_dir);
    if (s == SELSA_OK) s = selsa_imageset_read(list, SELSA_IMAGESET_VID_VAL, &set);
    if (s != SELSA_OK) {
        rc = selsa_cli_fail("test", s, SELSA_EXIT_INPUT);
        goto done;
    }
    int64_t total_frames = 0, done_frames = 0;
    for (int64_t v = 0; v < set.n; v++)
        if (v % shard_n == shard_i) total_frames += set.entries[v].seg_len;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool tty = !quiet && isatty(fileno(stderr));
    for (int64_t v = 0; v < set.n && s == SELSA_OK; v++) {
        if (v % shard_n != shard_i) continue;
        const selsa_imageset_entry *e = &set.entries[v];
        vp.n = e->seg_len;
        vp.paths = calloc((size_t)vp.n, sizeof(char *));
        if (!vp.paths) {
            s = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "out of memory");
            break;
        }
        char path[4096];
        for (int64_t k = 0; k < vp.n && s == SELSA_OK; k++) {
            s = selsa_imageset_image_path(root, &set, v, e->seg_id + (int)k, path, sizeof path);
            if (s == SELSA_OK && !(vp.paths[k] = strdup(path))) s = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "out of memory");
        }
        if (s != SELSA_OK) break;
        det_sink sink = {&all, e->id};
        tr.oopts.seed = seed ^ (uint64_t)v; /* a reproducible permutation per video */
        s = runner_video(&tr, vp.paths, vp.n, &sink);
        free_paths(&vp);
        done_frames += e->seg_len;
        if (!quiet) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            double el = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
            double fps = done_frames / (el > 0 ? el : 1e-9);
            fprintf(stderr, "%s[%lld/%lld frames] %s  %.2f fps  ETA %.0f s%s", tty ? "\r" : "",
                    (long long)done_frames, (long long)total_frames, e->path, fps,
                    (double)(total_frames - done_frames) / (fps > 0 ? fps : 1), tty ? "   " : "\n");
        }
    }
    if (tty) fprintf(stderr, "\n");
    free_paths(&vp);
    if (s != SELSA_OK) {
        rc = selsa_cli_fail("test", s, SELSA_EXIT_INPUT);
        goto done;
    }
    s = selsa_vid_dets_write_txt(&all, det_path);
    if (s != SELSA_OK) {
        rc = selsa_cli_fail("test", s, SELSA_EXIT_INPUT);
        goto done;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("%lld frames, %lld detections in %.1f s (%.2f fps); detections: %s\n", (long long)done_frames,
           (long long)all.n, secs, done_frames / (secs > 0 ? secs : 1e-9), det_path);
    if (do_eval && shard_n == 1) {
        selsa_vid_gt gt;
        selsa_vid_gt_init(&gt);
        selsa_vid_eval_result *res = calloc(1, sizeof *res);
        s = res ? selsa_vid_gt_load_ilsvrc(root, list, &gt) : selsa_error(SELSA_ERR_OUT_OF_MEMORY, "out of memory");
        if (s == SELSA_OK) s = mat ? selsa_vid_motion_load_official(&gt, mat, list) : selsa_vid_motion_from_tracks(&gt);
        if (s == SELSA_OK) {
            /* the official evaluator reads the written text file, i.e. the ROUNDED values
             * (4-decimal scores, 2-decimal boxes; vid-eval.md §2.3): evaluate exactly that */
            selsa_vid_dets_free(&all);
            selsa_vid_dets_init(&all);
            s = selsa_vid_dets_read_txt(&all, det_path);
        }
        if (s == SELSA_OK) {
            selsa_vid_eval_opts o;
            selsa_vid_eval_opts_default(&o);
            s = selsa_vid_eval(&gt, &all, &o, res);
        }
        if (s == SELSA_OK) {
            size_t need = selsa_vid_eval_format(res, NULL, 0) + 1;
            char *text = malloc(need);
            if (text) selsa_vid_eval_format(res, text, need), fputs(text, stdout), free(text);
            s = selsa_vid_eval_write_json(res, json_path);
        }
        if (s != SELSA_OK) rc = selsa_cli_fail("test", s, SELSA_EXIT_INPUT);
        free(res);
        selsa_vid_gt_free(&gt);
    }
done:
    selsa_vid_dets_free(&all);
    selsa_imageset_free(&set);
    runner_free(&tr);
    if (have_ctx) selsa_ctx_free(&ctx);
    return rc;
}
