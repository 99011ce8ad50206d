/* selsa train: a whole training run from a YAML configuration — the official end-to-end
 * training (train_end2end.py) or the MMTracking recipe (network.family mmtrack) — with a
 * progress bar, checkpoints every epoch, --resume, and signals: SIGUSR1 writes a checkpoint at
 * the next update, SIGINT/SIGTERM write one and stop (a second one kills). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "selsa/context.h"
#include "cli.h"
#include "selsa/train_run.h"

static void usage(void) {
    printf("usage: selsa train --cfg FILE.yaml [options]\n\n"
           "network.family official: the official SELSA end-to-end training (official-selsa.md §8):\n"
           "DET+VID roidb with flips, aspect grouping, SSD augmentation (TRAIN.data_aug), two reference\n"
           "frames per key image, anchor/proposal targets, OHEM, MXNet SGD (gradients of the key images\n"
           "of an update summed) with the LR steps of TRAIN.lr_step.\n"
           "network.family mmtrack: the MMTracking recipe (mmtracking-selsa.md §1.3-§1.5): mmcv resize,\n"
           "random flip, bilateral references within +-MAX_OFFSET, MaxIoU assigners / random samplers,\n"
           "PyTorch SGD with gradients AVERAGED over the key images of an update (DDP), grad-norm clip\n"
           "TRAIN.clip_gradient, linear warm-up, lr_step epochs converted to updates.\n"
           "Writes into output_path (or --out): PREFIX-EEEE.params (official layout with the *_test bbox\n"
           "keys) or PREFIX-EEEE.pth (MMTracking state dict) after every epoch, loadable by `selsa test`;\n"
           "PREFIX-EEEE.state (momenta and counters for --resume), train_log.jsonl (one JSON record per\n"
           "update), loss.png (loss curves, redrawn every epoch) and config.yaml (the effective\n"
           "configuration).\n\n"
           "options:\n"
           "  --cfg FILE.yaml         configuration (official yaml or a preset in configs/)\n"
           "  --set KEY=VALUE         override a configuration key (repeatable), e.g. TRAIN.end_epoch=2\n"
           "  --root DIR              dataset root (overrides dataset.dataset_path)\n"
           "  --out DIR               output folder (overrides output_path)\n"
           "  --pretrained P          ImageNet model prefix or file (overrides network.pretrained;\n"
           "                          mmtrack: a torchvision ResNet/ResNeXt .pth)\n"
           "  --resume                continue from the newest checkpoint in the output folder\n"
           "  --checkpoint-every N    also write PREFIX-last.params|pth/.state every N updates\n"
           "  --max-steps N           stop (with a checkpoint) after N updates in total\n"
           "  --threads N             compute threads (default: config `threads`, else all cores)\n"
           "  --workers N             data-loading threads (default 2; 0 = load in the main thread)\n"
           "  -q, --quiet             no progress bar, no per-epoch lines, no informational messages\n\n"
           "signals: SIGUSR1 = checkpoint now (PREFIX-last); SIGINT/SIGTERM = checkpoint and stop.\n"
           "exit codes: 0 ok (finished or stopped by request), 2 usage/configuration (including\n"
           "settings the family's trainer does not implement), 3 dataset\n"
           "unreadable, 4 weights (pretrained/checkpoint) unreadable or mismatched, 5 internal\n"
           "(including a NaN/Inf loss, which names the tensor)\n");
}

static volatile sig_atomic_t g_checkpoint, g_stop;

static void on_usr1(int sig) {
    (void)sig;
    g_checkpoint = 1;
}
static void on_stop(int sig) {
    g_stop = 1;
    signal(sig, SIG_DFL); /* a second signal terminates at once */
}

typedef struct bar {
    int tty, quiet;
    double last_print;
} bar;

static void fmt_dur(char *b, size_t n, double s) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(b, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else snprintf(b, n, "%ldm%02lds", t / 60, t % 60);
}

static int on_progress(void *user, const selsa_train_progress *p) {
    bar *b = user;
    if (b->quiet) return 0;
    double now = selsa_monotonic_seconds();
    bool epoch_end = p->position >= p->epoch_size;
    /* terminal: a progress bar redrawn at most 10 times a second; not a terminal: no bar, one
     * summary line per epoch (train_log.jsonl has every update) */
    if (b->tty ? now - b->last_print < 0.1 && !epoch_end : !epoch_end) return 0;
    b->last_print = now;
    char eta[32];
    fmt_dur(eta, sizeof eta, p->eta_s);
    double frac = p->epoch_size > 0 ? (double)p->position / (double)p->epoch_size : 0;
    char barbuf[24];
    int fill = (int)(frac * 20);
    for (int i = 0; i < 20; i++) barbuf[i] = i < fill ? '=' : i == fill ? '>' : ' ';
    barbuf[20] = 0;
    fprintf(stderr, "%sepoch %lld/%lld [%s] %lld/%lld  update %lld  loss %.4f (rpn %.3f/%.3f rcnn %.3f/%.3f)  "
                    "lr %.3g  %.2f img/s  ETA %s%s",
            b->tty ? "\r\033[K" : "", (long long)p->epoch + 1, (long long)p->end_epoch, barbuf,
            (long long)p->position, (long long)p->epoch_size, (long long)p->step, p->smooth[4], p->smooth[0],
            p->smooth[1], p->smooth[2], p->smooth[3], p->lr, p->images_per_s, eta, b->tty ? "" : "\n");
    if (b->tty && epoch_end) fputc('\n', stderr);
    fflush(stderr);
    return 0;
}

int selsa_cmd_train(int argc, char **argv) {
    if (selsa_cli_wants_help(argc, argv)) {
        usage();
        return SELSA_EXIT_OK;
    }
    const char *cfg_path = NULL, *root = NULL, *out = NULL, *pretrained = NULL;
    const char *sets[64];
    int n_sets = 0, resume = 0, quiet = 0;
    long long threads = 0, workers = 2, every = 0, max_steps = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **target = !strcmp(a, "--cfg") ? &cfg_path : !strcmp(a, "--root") ? &root
                            : !strcmp(a, "--out") ? &out : !strcmp(a, "--pretrained") ? &pretrained : NULL;
        long long *num = !strcmp(a, "--threads") ? &threads : !strcmp(a, "--workers") ? &workers
                       : !strcmp(a, "--checkpoint-every") ? &every : !strcmp(a, "--max-steps") ? &max_steps : NULL;
        if (target || num || !strcmp(a, "--set")) {
            if (i + 1 >= argc) return selsa_cli_usage_error("train", "%s needs a value", a);
            const char *v = argv[++i];
            if (target) *target = v;
            else if (num) {
                char *end;
                *num = strtoll(v, &end, 10);
                if (*end || !*v || *num < 0) return selsa_cli_usage_error("train", "bad value '%s' for %s", v, a);
            } else if (n_sets < 64) sets[n_sets++] = v;
            else return selsa_cli_usage_error("train", "too many --set options");
        } else if (!strcmp(a, "--resume")) resume = 1;
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) quiet = 1;
        else return selsa_cli_usage_error("train", "unknown argument '%s'", a);
    }
    if (!cfg_path) return selsa_cli_usage_error("train", "missing --cfg FILE.yaml");
    selsa_cli_install_logger(quiet);
    static selsa_config cfg; /* large: keep it off the stack */
    selsa_config_default(&cfg);
    selsa_status s = selsa_config_load(&cfg, cfg_path);
    for (int k = 0; s == SELSA_OK && k < n_sets; k++) s = selsa_config_set_arg(&cfg, sets[k]);
    if (s == SELSA_OK && root) s = selsa_config_set(&cfg, "dataset.dataset_path", root);
    if (s == SELSA_OK && pretrained) s = selsa_config_set(&cfg, "network.pretrained", pretrained);
    if (s == SELSA_OK) s = selsa_config_validate(&cfg);
    if (s != SELSA_OK) return selsa_cli_fail("train", s, SELSA_EXIT_USAGE);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);

    bar b = {isatty(fileno(stderr)), quiet, 0};
    selsa_train_run_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = &cfg;
    o.out_dir = out;
    o.resume = resume;
    o.checkpoint_every = every;
    o.max_steps = max_steps;
    o.checkpoint_request = &g_checkpoint;
    o.stop_request = &g_stop;
    o.n_threads = (int)threads;
    o.n_workers = workers == 0 ? -1 : (int)workers;
    o.progress = on_progress;
    o.progress_user = &b;
    selsa_train_run_result r;
    s = selsa_train_run(&o, &r);
    if (b.tty && !quiet) fprintf(stderr, "\r\033[K");
    if (s != SELSA_OK) {
        /* weights (pretrained, checkpoint) are model errors; settings the trainer does not
         * implement are configuration errors; dataset problems are input errors */
        const char *msg = selsa_last_error();
        int io = strstr(msg, ".params") || strstr(msg, ".pth") || strstr(msg, ".state") || strstr(msg, "pretrained")
                     ? SELSA_EXIT_MODEL
                 : s == SELSA_ERR_UNSUPPORTED ? SELSA_EXIT_USAGE
                                              : SELSA_EXIT_INPUT;
        return selsa_cli_fail("train", s, io);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char dur[32];
    fmt_dur(dur, sizeof dur, r.seconds);
    printf("%s: %lld updates (%lld in this run, %lld key images, %lld corrupt samples skipped) in %s, "
           "%.2f img/s, peak memory %.0f MiB\n",
           r.finished ? "finished" : "stopped", (long long)r.steps, (long long)r.steps_this_run,
           (long long)r.images, (long long)r.skipped, dur, r.seconds > 0 ? (double)r.images / r.seconds : 0.0,
           ru.ru_maxrss / 1024.0);
    if (r.last_checkpoint[0]) printf("last checkpoint: %s\n", r.last_checkpoint);
    return SELSA_EXIT_OK;
}
