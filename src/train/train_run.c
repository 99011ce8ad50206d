/* selsa — the training-run driver shared by both model families (include/selsa/train_run.h):
 * run folder and prefix, roidb, background loader, the epoch/position loop with gradient
 * accumulation over the key images of an update, progress and stop/checkpoint requests,
 * checkpoints (family weights file + training state) and resume, the JSON Lines log, the loss
 * history and plot. What differs between the families (configuration mapping, initial weights,
 * trainer, weights format) sits behind selsa_train_family (train_run_internal.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "selsa/context.h"
#include "selsa/fileio.h"
#include "selsa/json.h"
#include "selsa/plot.h"
#include "selsa/train_data.h"
#include "selsa/train_run.h"
#include "train/train_run_internal.h"

#include <stdarg.h>


/* snprintf into a path buffer; a path that does not fit is an error, never a silent cut. */
static selsa_status fmt_path(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static selsa_status fmt_path(char *buf, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) return selsa_error(SELSA_ERR_INVALID_ARG, "path too long: %.80s...", buf);
    return SELSA_OK;
}


/* ------------------------------------------------------------------ loss history ----------- */

/* Bounded-resolution history for the plot: each point is the mean of `per` updates; when the
 * table is full, neighbouring points are merged pairwise and `per` doubles. */
typedef struct history {
    double x[SELSA_TRAIN_HISTORY];     /* epoch (fractional) of the point's last update */
    double y[5][SELSA_TRAIN_HISTORY];  /* rpn_cls, rpn_bbox, rcnn_cls, rcnn_bbox, total */
    int n;
    int64_t per;
    double acc[5];
    int64_t acc_n;
} history;

static void history_add(history *h, double x, const double v[5]) {
    for (int k = 0; k < 5; k++) h->acc[k] += v[k];
    if (++h->acc_n < h->per) return;
    if (h->n == SELSA_TRAIN_HISTORY) {
        for (int i = 0; i < h->n / 2; i++) {
            h->x[i] = h->x[2 * i + 1];
            for (int k = 0; k < 5; k++) h->y[k][i] = 0.5 * (h->y[k][2 * i] + h->y[k][2 * i + 1]);
        }
        h->n /= 2;
        h->per *= 2;
        /* the accumulated updates now count for a half-size point: keep accumulating */
        if (h->acc_n < h->per) return;
    }
    h->x[h->n] = x;
    for (int k = 0; k < 5; k++) {
        h->y[k][h->n] = h->acc[k] / (double)h->acc_n;
        h->acc[k] = 0;
    }
    h->acc_n = 0;
    h->n++;
}


#define PLOT_POINTS 256 /* points drawn per curve: neighbours averaged for a readable chart */

static selsa_status history_plot(const history *h, const char *path, const char *title,
                                  const char *const names[5]) {
    static double px[PLOT_POINTS], py[5][PLOT_POINTS]; /* plotting is single-threaded */
    int g = (h->n + PLOT_POINTS - 1) / PLOT_POINTS, n = 0;
    if (g < 1) g = 1;
    for (int i = 0; i < h->n; i += g, n++) {
        int e = i + g < h->n ? i + g : h->n;
        px[n] = h->x[e - 1];
        for (int k = 0; k < 5; k++) {
            double sum = 0;
            for (int j = i; j < e; j++) sum += h->y[k][j];
            py[k][n] = sum / (e - i);
        }
    }
    selsa_plot_series s[5];
    for (int k = 0; k < 5; k++) {
        s[k].name = names[k];
        s[k].x = px;
        s[k].y = py[k];
        s[k].n = n;
    }
    selsa_plot_opts o;
    selsa_plot_opts_default(&o);
    o.title = title;
    o.xlabel = "epoch";
    o.ylabel = "loss (mean per point)";
    o.log_y = true;
    return selsa_plot_write_png(path, s, 5, &o);
}


/* ------------------------------------------------------------------ log -------------------- */

static void log_num(FILE *f, const char *key, double v) {
    char b[32];
    if (!isfinite(v)) v = 0; /* the JSON log never holds NaN (a NaN loss stops the run) */
    selsa_json_format_double(b, v);
    fprintf(f, ",\"%s\":%s", key, b);
}

/* Keep the records of the log up to update `steps` (resume), feeding step records to the
 * history; rewrite the file atomically. A missing log is not an error. */
static selsa_status log_truncate(const char *path, int64_t steps, history *h, double upe,
                                 const char *const names[5]) {
    FILE *f = fopen(path, "rb");
    if (!f) return SELSA_OK;
    char *line = NULL, *keep = NULL;
    size_t cap = 0, klen = 0, kcap = 0;
    ssize_t n;
    selsa_json_doc d;
    selsa_json_doc_init(&d);
    selsa_status s = SELSA_OK;
    int64_t lineno = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        selsa_json_parse_opts po = {path, lineno, 8};
        size_t len = (size_t)n;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        if (!len) continue;
        if (selsa_json_parse(&d, line, len, &po) != SELSA_OK) {
            /* a record cut by the kill: drop it */
            selsa_log(SELSA_LOG_WARN, "%s:%lld: dropping an unreadable log record (interrupted write)",
                      path, (long long)lineno);
            continue;
        }
        const selsa_json_node *root = selsa_json_root(&d), *st = selsa_json_get(&d, root, "step");
        if (root->type != SELSA_JSON_OBJECT || !st || st->type != SELSA_JSON_NUMBER) continue;
        if (st->integer > steps) continue;
        const selsa_json_node *ty = selsa_json_get(&d, root, "type");
        if (ty && ty->type == SELSA_JSON_STRING && !strcmp(selsa_json_str(&d, ty), "step")) {
            double v[5] = {0};
            for (int k = 0; k < 5; k++) {
                const selsa_json_node *x = selsa_json_get(&d, root, names[k]);
                v[k] = x && x->type == SELSA_JSON_NUMBER ? x->number : 0;
            }
            history_add(h, (double)st->integer / upe, v);
        }
        if (klen + len + 1 > kcap) {
            size_t nc = (klen + len + 1) * 2;
            char *k2 = realloc(keep, nc);
            if (!k2) {
                s = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "%s: log rewrite", path);
                break;
            }
            keep = k2;
            kcap = nc;
        }
        memcpy(keep + klen, line, len);
        klen += len;
        keep[klen++] = '\n';
    }
    fclose(f);
    free(line);
    selsa_json_doc_free(&d);
    if (s == SELSA_OK) s = selsa_file_write_atomic(path, keep ? keep : "", klen);
    free(keep);
    return s;
}

/* ------------------------------------------------------------------ the run ---------------- */

typedef struct run {
    selsa_config cfg;
    selsa_train_family fam;               /* the model family (trainer inside) */
    bool fam_ok;                          /* fam filled (destroy it) */
    char dir[SELSA_CONFIG_PATH_MAX];
    char prefix[SELSA_CONFIG_PATH_MAX];   /* model_prefix (basename part) */
    selsa_weights base;                   /* every tensor of the model, no *_test keys */
    selsa_train_state st;                 /* counters (what the next checkpoint records) */
    selsa_train_data_cfg dc;              /* loader configuration */
    FILE *log;
    history *hist;
    double upe;                           /* updates per epoch (for x axes and ETA) */
} run;

static selsa_status path_in(const run *r, char *buf, size_t cap, const char *name) {
    return fmt_path(buf, cap, "%s/%s", r->dir, name);
}

/* Write PREFIX-<tag>.<weights_ext> + PREFIX-<tag>.state (tag "0003" or "last"). */
static selsa_status checkpoint(run *r, const char *tag, char *written, size_t wcap) {
    char name[SELSA_CONFIG_PATH_MAX], path[2 * SELSA_CONFIG_PATH_MAX];
    SELSA_TRY(fmt_path(name, sizeof name, "%s-%s.%s", r->prefix, tag, r->fam.weights_ext));
    SELSA_TRY(path_in(r, path, sizeof path, name));
    selsa_weights ck;
    selsa_weights_init(&ck);
    selsa_status s = r->fam.checkpoint_weights(r->fam.self, &r->base, &ck);
    if (s == SELSA_OK) s = r->fam.save_weights(path, &ck);
    selsa_weights_free(&ck);
    if (s != SELSA_OK) return selsa_error_context(s, "checkpoint %s", path);
    SELSA_TRY(fmt_path(r->st.params, sizeof r->st.params, "%s", name));
    char spath[2 * SELSA_CONFIG_PATH_MAX];
    SELSA_TRY(fmt_path(name, sizeof name, "%s-%s.state", r->prefix, tag));
    SELSA_TRY(path_in(r, spath, sizeof spath, name));
    const selsa_train_state_tensor *tl;
    int nt;
    r->fam.state_tensors(r->fam.self, &tl, &nt);
    s = selsa_train_state_write(spath, &r->st, tl, nt);
    if (s != SELSA_OK) return selsa_error_context(s, "training state %s", spath);
    if (written) SELSA_TRY(fmt_path(written, wcap, "%s", path));
    if (r->log) {
        fprintf(r->log, "{\"type\":\"checkpoint\",\"step\":%" PRId64 ",\"epoch\":%" PRId64
                        ",\"position\":%" PRId64 ",\"params\":",
                r->st.steps, r->st.epoch, r->st.position);
        selsa_json_write_string(r->log, r->st.params, strlen(r->st.params));
        fprintf(r->log, "}\n");
        fflush(r->log);
    }
    selsa_log(SELSA_LOG_INFO, "checkpoint: %s (update %" PRId64 ")", path, r->st.steps);
    return SELSA_OK;
}

/* The newest checkpoint state in the run folder: PREFIX-last.state or PREFIX-EEEE.state with
 * the most updates. SELSA_ERR_IO naming the folder when there is none. */
static selsa_status find_resume(const run *r, selsa_train_state *best, char *state_path, size_t cap) {
    char name[SELSA_CONFIG_PATH_MAX + 16], path[2 * SELSA_CONFIG_PATH_MAX + 32];
    bool found = false;
    for (int e = -1; e <= r->cfg.train.end_epoch; e++) {
        if (e == 0) continue;
        if (e < 0) SELSA_TRY(fmt_path(name, sizeof name, "%s-last.state", r->prefix));
        else SELSA_TRY(fmt_path(name, sizeof name, "%s-%04d.state", r->prefix, e));
        SELSA_TRY(fmt_path(path, sizeof path, "%s/%s", r->dir, name));
        if (!selsa_file_exists(path)) continue;
        selsa_train_state st;
        SELSA_TRY(selsa_train_state_read(path, &st, NULL, 0));
        if (!found || st.steps > best->steps) {
            *best = st;
            SELSA_TRY(fmt_path(state_path, cap, "%s", path));
            found = true;
        }
    }
    if (!found)
        return selsa_error(SELSA_ERR_IO, "--resume: no checkpoint (%s-*.state) in %s", r->prefix, r->dir);
    return SELSA_OK;
}

static selsa_status setup(run *r, const selsa_train_run_opts *o, const selsa_roidb *db, selsa_ctx *ctx,
                          selsa_train_run_result *res) {
    /* output folder and prefix (TRAIN.model_prefix may contain folders: they go under dir) */
    const char *od = o->out_dir ? o->out_dir : r->cfg.output_path;
    char full[2 * SELSA_CONFIG_PATH_MAX];
    SELSA_TRY(fmt_path(full, sizeof full, "%s/%s", od[0] ? od : ".", r->cfg.train.model_prefix));
    char *slash = strrchr(full, '/');
    *slash = 0;
    SELSA_TRY(fmt_path(r->dir, sizeof r->dir, "%s", full));
    SELSA_TRY(fmt_path(r->prefix, sizeof r->prefix, "%s", slash + 1));
    if (!r->prefix[0]) return selsa_error(SELSA_ERR_INVALID_ARG, "TRAIN.model_prefix is empty");
    SELSA_TRY(selsa_mkdirs(r->dir));
    int batch = r->cfg.num_devices * r->cfg.train.batch_images;
    if (batch < 1) return selsa_error(SELSA_ERR_INVALID_ARG, "TRAIN.BATCH_IMAGES x devices must be >= 1");
    /* positions of an epoch (the same every epoch: only the order depends on the epoch) */
    int32_t *order = malloc((size_t)(db->n > 0 ? db->n : 1) * sizeof *order);
    if (!order) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "epoch order");
    int64_t positions = 0;
    selsa_status s = selsa_roidb_epoch_order(db, r->cfg.train.shuffle, r->cfg.train.aspect_grouping, batch,
                                             r->cfg.seed, 0, order, db->n, &positions);
    free(order);
    if (s != SELSA_OK) return s;
    SELSA_TRY(r->fam.configure(r->fam.self, &r->cfg, db->n, positions, batch, &r->dc, &r->upe));
    /* the loader fields both families share */
    r->dc.min_offset = r->cfg.train.min_offset;
    r->dc.max_offset = r->cfg.train.max_offset;
    r->dc.scale_short = r->cfg.scale_short;
    r->dc.scale_long = r->cfg.scale_long;
    r->dc.shuffle = r->cfg.train.shuffle;
    r->dc.aspect_grouping = r->cfg.train.aspect_grouping;
    r->dc.batch = batch;
    r->dc.seed = r->cfg.seed;
    r->dc.n_workers = o->n_workers < 0 ? 0 : o->n_workers == 0 ? 2 : o->n_workers;
    selsa_weights_init(&r->base);
    char spath[2 * SELSA_CONFIG_PATH_MAX + 32];
    bool resuming = false;
    if (o->resume || r->cfg.train.resume) {
        /* --resume or TRAIN.RESUME: a checkpoint must exist */
        SELSA_TRY(find_resume(r, &r->st, spath, sizeof spath));
        resuming = true;
        if (r->st.seed != r->cfg.seed)
            return selsa_error(SELSA_ERR_INVALID_ARG, "--resume: %s was written by a run with seed %" PRIu64
                                                      ", this configuration has seed %" PRIu64,
                               spath, r->st.seed, r->cfg.seed);
        char ppath[2 * SELSA_CONFIG_PATH_MAX + 32];
        SELSA_TRY(fmt_path(ppath, sizeof ppath, "%s/%s", r->dir, r->st.params));
        selsa_weights ck;
        selsa_weights_init(&ck);
        s = selsa_weights_load(ppath, &ck);
        if (s == SELSA_OK) s = selsa_train_weights_copy(&r->base, &ck, true);
        selsa_weights_free(&ck);
        if (s != SELSA_OK) return selsa_error_context(s, "--resume: checkpoint weights");
        res->resumed_from = r->st.steps;
        selsa_log(SELSA_LOG_INFO, "resuming from %s: epoch %" PRId64 ", position %" PRId64 ", update %" PRId64,
                  spath, r->st.epoch + 1, r->st.position, r->st.steps);
    } else {
        SELSA_TRY(r->fam.initial_weights(r->fam.self, &r->cfg, &r->base));
        r->st.epoch = r->cfg.train.begin_epoch;
        r->st.seed = r->cfg.seed;
    }
    SELSA_TRY(r->fam.create(r->fam.self, &r->base, ctx));
    if (resuming) {
        const selsa_train_state_tensor *tl;
        int nt;
        r->fam.state_tensors(r->fam.self, &tl, &nt);
        SELSA_TRY(selsa_train_state_read(spath, &r->st, tl, nt));
        r->fam.set_steps(r->fam.self, r->st.steps);
    }
    /* log: a resumed run keeps the records up to its checkpoint */
    char lpath[2 * SELSA_CONFIG_PATH_MAX];
    SELSA_TRY(path_in(r, lpath, sizeof lpath, "train_log.jsonl"));
    r->hist = calloc(1, sizeof *r->hist);
    if (!r->hist) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "loss history");
    r->hist->per = 1;
    if (resuming) SELSA_TRY(log_truncate(lpath, r->st.steps, r->hist, r->upe, r->fam.loss_names));
    r->log = fopen(lpath, resuming ? "ab" : "wb");
    if (!r->log) return selsa_error(SELSA_ERR_IO, "cannot open %s: %s", lpath, strerror(errno));
    char cpath[2 * SELSA_CONFIG_PATH_MAX];
    SELSA_TRY(path_in(r, cpath, sizeof cpath, "config.yaml"));
    SELSA_TRY(selsa_config_dump_file(&r->cfg, cpath));
    fprintf(r->log, "{\"type\":\"%s\",\"step\":%" PRId64 ",\"epoch\":%" PRId64 ",\"position\":%" PRId64
                    ",\"roidb\":%" PRId64 ",\"corrupt\":%" PRId64 ",\"no_boxes\":%" PRId64
                    ",\"batch\":%d,\"seed\":%" PRIu64 ",\"threads\":%d}\n",
            resuming ? "resume" : "start", r->st.steps, r->st.epoch, r->st.position, db->n, db->n_corrupt,
            db->n_no_boxes, batch, r->cfg.seed, ctx->n_threads);
    fflush(r->log);
    return SELSA_OK;
}

static void run_free(run *r) {
    if (r->log) fclose(r->log);
    if (r->fam_ok) r->fam.destroy(r->fam.self);
    selsa_weights_free(&r->base);
    free(r->hist);
}

/* One update over the acc_n key images accumulated; counters follow the trainer. */
static selsa_status do_update(run *r, int acc_n, selsa_train_run_result *res, double *lr, double *gn) {
    SELSA_TRY(r->fam.update(r->fam.self, acc_n, lr, gn));
    r->st.steps = r->fam.steps(r->fam.self);
    res->steps_this_run++;
    return SELSA_OK;
}

selsa_status selsa_train_run(const selsa_train_run_opts *o, selsa_train_run_result *res) {
    if (!o || !o->cfg || !res) return selsa_error(SELSA_ERR_INVALID_ARG, "train run: NULL argument");
    memset(res, 0, sizeof *res);
    res->resumed_from = -1;
    double t0 = selsa_monotonic_seconds();
    run *r = calloc(1, sizeof *r);
    if (!r) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "train run");
    r->cfg = *o->cfg;
    selsa_status s = selsa_config_validate(&r->cfg);
    if (s == SELSA_OK)
        s = r->cfg.network.family == SELSA_FAMILY_MMTRACK ? selsa_train_family_mmtrack(&r->fam)
                                                           : selsa_train_family_official(&r->fam);
    if (s != SELSA_OK) {
        free(r);
        return s;
    }
    r->fam_ok = true;
    const char *const *names = r->fam.loss_names;
    /* roidb from dataset.image_set: lists joined with '+' */
    selsa_roidb_opts ro = {false, false, r->fam.roidb_flip && r->cfg.train.flip};
    ro.use_det = strstr(r->cfg.dataset.image_set, "DET_train_30classes") != NULL;
    ro.use_vid = strstr(r->cfg.dataset.image_set, "VID_train_15frames") != NULL;
    if (!ro.use_det && !ro.use_vid) {
        s = selsa_error(SELSA_ERR_UNSUPPORTED, "dataset.image_set '%s': expected DET_train_30classes and/or "
                                               "VID_train_15frames joined with '+'",
                        r->cfg.dataset.image_set);
        run_free(r);
        free(r);
        return s;
    }
    selsa_roidb db;
    memset(&db, 0, sizeof db);
    s = selsa_roidb_build(r->cfg.dataset.dataset_path, &ro, &db);
    if (s != SELSA_OK) {
        s = selsa_error_context(s, "training set (dataset.dataset_path '%s')", r->cfg.dataset.dataset_path);
        run_free(r);
        free(r);
        return s;
    }
    selsa_ctx ctx;
    s = selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, 0, o->n_threads ? o->n_threads : r->cfg.threads);
    if (s != SELSA_OK) {
        selsa_roidb_free(&db);
        run_free(r);
        free(r);
        return s;
    }
    selsa_train_loader *L = NULL;
    s = setup(r, o, &db, &ctx, res);
    if (s == SELSA_OK) s = selsa_train_loader_open(&L, &db, &r->dc);

    const int batch = r->dc.batch;
    const int64_t total_steps = (int64_t)(r->upe * (double)r->cfg.train.end_epoch);
    double smooth_ring[SELSA_TRAIN_SMOOTH][5];
    memset(smooth_ring, 0, sizeof smooth_ring);
    int64_t n_smooth = 0;
    double acc[5] = {0};
    int acc_n = 0, acc_fg = 0;
    int64_t skipped0 = 0;
    bool stop = false;
    char wpath[2 * SELSA_CONFIG_PATH_MAX];
    for (int64_t epoch = r->st.epoch; s == SELSA_OK && !stop && epoch < r->cfg.train.end_epoch; epoch++) {
        int64_t start = epoch == r->st.epoch ? r->st.position : 0;
        r->st.epoch = epoch;
        r->st.position = start;
        s = selsa_train_loader_start_epoch(L, epoch, start);
        int64_t esize = selsa_train_loader_epoch_size(L);
        if (s == SELSA_OK && start == 0) {
            fprintf(r->log, "{\"type\":\"epoch_start\",\"step\":%" PRId64 ",\"epoch\":%" PRId64
                            ",\"positions\":%" PRId64 "}\n",
                    r->st.steps, epoch, esize);
            fflush(r->log);
        }
        while (s == SELSA_OK) {
            const selsa_train_sample *smp = NULL;
            s = selsa_train_loader_next(L, &smp);
            if (s != SELSA_OK || !smp) break;
            selsa_official_losses ls;
            s = r->fam.forward_backward(r->fam.self, smp, r->cfg.seed, epoch, &ls);
            if (s != SELSA_OK) {
                s = selsa_error_context(s, "epoch %" PRId64 ", sample %" PRId64 " (roidb entry %" PRId64 ")",
                                        epoch + 1, smp->position, smp->roidb_index);
                break;
            }
            r->st.position = smp->position + 1;
            r->st.images++;
            res->images++;
            double v[5] = {ls.rpn_cls, ls.rpn_bbox, ls.rcnn_cls, ls.rcnn_bbox, ls.total};
            for (int k = 0; k < 5; k++) acc[k] += v[k];
            acc_fg += ls.n_fg_rois;
            if (++acc_n < batch) continue;
            /* one update over `batch` key images (summed or averaged: the family's rule) */
            double lr, gn;
            if ((s = do_update(r, acc_n, res, &lr, &gn)) != SELSA_OK) break;
            for (int k = 0; k < 5; k++) {
                acc[k] /= acc_n;
                smooth_ring[n_smooth % SELSA_TRAIN_SMOOTH][k] = acc[k];
            }
            n_smooth++;
            history_add(r->hist, (double)r->st.steps / r->upe, acc);
            double el = selsa_monotonic_seconds() - t0;
            int64_t skipped = selsa_train_loader_skipped(L) - skipped0;
            r->st.skipped += skipped;
            res->skipped += skipped;
            skipped0 += skipped;
            selsa_train_progress p;
            memset(&p, 0, sizeof p);
            p.epoch = epoch;
            p.end_epoch = r->cfg.train.end_epoch;
            p.position = r->st.position;
            p.epoch_size = esize;
            p.step = r->st.steps;
            p.total_steps = total_steps;
            p.lr = lr;
            p.last = ls;
            for (int k = 0; k < 5; k++) p.last_losses[k] = v[k];
            p.loss_names = names;
            int64_t m = n_smooth < SELSA_TRAIN_SMOOTH ? n_smooth : SELSA_TRAIN_SMOOTH;
            for (int k = 0; k < 5; k++) {
                double sum = 0;
                for (int64_t i = 0; i < m; i++) sum += smooth_ring[i][k];
                p.smooth[k] = sum / (double)m;
            }
            p.elapsed_s = el;
            p.images_per_s = el > 0 ? (double)res->images / el : 0;
            p.eta_s = res->steps_this_run > 0
                          ? el / (double)res->steps_this_run * (double)(total_steps - r->st.steps)
                          : 0;
            if (p.eta_s < 0) p.eta_s = 0;
            p.skipped = res->skipped;
            fprintf(r->log, "{\"type\":\"step\",\"step\":%" PRId64 ",\"epoch\":%" PRId64 ",\"position\":%" PRId64,
                    r->st.steps, epoch, r->st.position);
            log_num(r->log, "lr", lr);
            for (int k = 0; k < 5; k++) log_num(r->log, names[k], acc[k]);
            fprintf(r->log, ",\"%s\":%d", r->fam.count_key, acc_fg);
            if (r->fam.log_grad_norm) log_num(r->log, "grad_norm", gn);
            log_num(r->log, "images_per_s", p.images_per_s);
            log_num(r->log, "elapsed_s", r->st.elapsed_s + el);
            fprintf(r->log, ",\"skipped\":%" PRId64 "}\n", r->st.skipped);
            fflush(r->log);
            memset(acc, 0, sizeof acc);
            acc_n = acc_fg = 0;
            if (o->progress && o->progress(o->progress_user, &p)) stop = true;
            if (o->stop_request && *o->stop_request) stop = true;
            if (o->max_steps > 0 && r->st.steps >= o->max_steps) stop = true;
            bool want_ck = stop || (o->checkpoint_every > 0 && r->st.steps % o->checkpoint_every == 0) ||
                           (o->checkpoint_request && *o->checkpoint_request);
            if (want_ck && r->st.position < esize) {
                if (o->checkpoint_request) *o->checkpoint_request = 0;
                double keep = r->st.elapsed_s;
                r->st.elapsed_s += selsa_monotonic_seconds() - t0;
                s = checkpoint(r, "last", res->last_checkpoint, sizeof res->last_checkpoint);
                r->st.elapsed_s = keep;
            }
            if (stop) break;
        }
        if (s != SELSA_OK || (stop && r->st.position < esize)) break;
        /* a trailing partial batch (corrupt samples skipped, or an epoch that is not a multiple
         * of the batch) still makes an update */
        if (acc_n > 0) {
            double lr, gn;
            if ((s = do_update(r, acc_n, res, &lr, &gn)) != SELSA_OK) break;
            memset(acc, 0, sizeof acc);
            acc_n = acc_fg = 0;
        }
        /* end of epoch: PREFIX-(epoch+1) as MXNet's do_checkpoint / mmcv's CheckpointHook
         * (epoch_N.pth), then the plot */
        r->st.epoch = epoch + 1;
        r->st.position = 0;
        char tag[32];
        snprintf(tag, sizeof tag, "%04d", (int)(epoch + 1));
        double keep = r->st.elapsed_s;
        r->st.elapsed_s += selsa_monotonic_seconds() - t0;
        s = checkpoint(r, tag, res->last_checkpoint, sizeof res->last_checkpoint);
        r->st.elapsed_s = keep;
        if (s != SELSA_OK) break;
        fprintf(r->log, "{\"type\":\"epoch_end\",\"step\":%" PRId64 ",\"epoch\":%" PRId64 ",\"skipped\":%" PRId64 "}\n",
                r->st.steps, epoch, r->st.skipped);
        fflush(r->log);
        if ((s = path_in(r, wpath, sizeof wpath, "loss.png")) != SELSA_OK) break;
        char title[SELSA_CONFIG_PATH_MAX + 64];
        snprintf(title, sizeof title, "%s: training losses (epoch %d)", r->prefix, (int)(epoch + 1));
        s = history_plot(r->hist, wpath, title, names);
        if (stop) break;
        if (o->max_steps > 0 && r->st.steps >= o->max_steps) stop = true;
        if (o->stop_request && *o->stop_request) stop = true;
    }
    if (s == SELSA_OK && !stop) res->finished = true;
    res->steps = r->st.steps;
    res->seconds = selsa_monotonic_seconds() - t0;
    if (r->log && s == SELSA_OK) {
        fprintf(r->log, "{\"type\":\"%s\",\"step\":%" PRId64 ",\"images\":%" PRId64 ",\"skipped\":%" PRId64,
                res->finished ? "finish" : "stop", r->st.steps, res->images, res->skipped);
        log_num(r->log, "seconds", res->seconds);
        fprintf(r->log, "}\n");
    }
    if (L) selsa_train_loader_close(L);
    run_free(r);
    free(r);
    selsa_ctx_free(&ctx);
    selsa_roidb_free(&db);
    return s;
}
