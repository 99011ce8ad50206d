/* Synthetic ILSVRC-layout dataset generator (selsa/synth.h) and the JPEG / atomic writers
 * (selsa/image_write.h).
 *
 * Generates small datasets into mkdtemp folders and checks them with code written here from
 * the spec, independent of the generator: the three list formats (official-selsa.md §11),
 * every VID / DET XML parsed with expat (fields, wnids of the first K classes, boxes inside
 * the image, unique track ids), JPEG sizes read back with libjpeg, the motion IoU recomputed
 * from the XML tracks by the vid-eval.md §5 rule against the generator's histogram, the three
 * motion ranges populated, byte-identical output for the same seed (different for another
 * seed), bad configs and unwritable roots, and the evaluator (selsa/eval.h) giving AP 1.0 in
 * every motion range when the ground truth is evaluated as detections. */
#include <dirent.h>
#include <expat.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h> /* after stdio.h: it uses FILE */

#include "harness.h"
#include "selsa/fileio.h"
#include "selsa/classes.h"
#include "selsa/eval.h"
#include "selsa/image_write.h"
#include "selsa/synth.h"

/* ------------------------------------------------------------------ small utilities ------- */

/* Split text into lines (in place). Returns the count; *no_final_newline set when the text
 * does not end with '\n'. */
static int split_lines(char *text, char ***lines_out, int *no_final_newline) {
    int cap = 64, n = 0;
    char **lines = malloc(sizeof(char *) * (size_t)cap);
    size_t len = strlen(text);
    *no_final_newline = len > 0 && text[len - 1] != '\n';
    char *p = text;
    while (*p) {
        char *e = strchr(p, '\n');
        if (n == cap) lines = realloc(lines, sizeof(char *) * (size_t)(cap *= 2));
        lines[n++] = p;
        if (!e) break;
        *e = '\0';
        p = e + 1;
    }
    *lines_out = lines;
    return n;
}

static int jpeg_size(const char *path, int *h, int *w) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    struct jpeg_decompress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_decompress(&ci);
    jpeg_stdio_src(&ci, f);
    int ok = jpeg_read_header(&ci, TRUE) == JPEG_HEADER_OK;
    if (ok) {
        *h = (int)ci.image_height;
        *w = (int)ci.image_width;
        ok = ci.num_components == 3;
    }
    jpeg_destroy_decompress(&ci);
    fclose(f);
    return ok;
}

/* ------------------------------------------------------------------ XML (expat) ----------- */

#define MAXOBJ 16
typedef struct xobj {
    char name[256];
    int trackid, has_trackid;
    int box[4]; /* xmin ymin xmax ymax */
    int seen[4];
    int occluded, generated, has_occ, has_gen;
} xobj;

typedef struct xann {
    char folder[256], filename[256], database[256];
    int width, height;
    int n_obj;
    xobj obj[MAXOBJ];
    /* parser state */
    char path[8][32];
    int depth;
    char text[256];
    int text_len;
    int bad;
} xann;

static void x_start(void *u, const XML_Char *el, const XML_Char **attr) {
    xann *a = u;
    (void)attr;
    if (a->depth < 8) snprintf(a->path[a->depth], sizeof a->path[0], "%s", el);
    a->depth++;
    a->text_len = 0;
    a->text[0] = '\0';
    if (strcmp(el, "object") == 0) {
        if (a->n_obj < MAXOBJ) memset(&a->obj[a->n_obj], 0, sizeof(xobj));
        a->n_obj++;
    }
}

static void x_chars(void *u, const XML_Char *s, int len) {
    xann *a = u;
    for (int i = 0; i < len && a->text_len < (int)sizeof a->text - 1; i++) a->text[a->text_len++] = s[i];
    a->text[a->text_len] = '\0';
}

static int parse_int(const char *s, int *out) {
    char *e;
    long v = strtol(s, &e, 10);
    if (e == s || *e) return 0;
    *out = (int)v;
    return 1;
}

static void x_end(void *u, const XML_Char *el) {
    xann *a = u;
    a->depth--;
    const char *parent = a->depth >= 1 ? a->path[a->depth - 1] : "";
    xobj *o = a->n_obj > 0 && a->n_obj <= MAXOBJ ? &a->obj[a->n_obj - 1] : NULL;
    if (a->depth == 1 && strcmp(el, "folder") == 0) snprintf(a->folder, sizeof a->folder, "%s", a->text);
    else if (a->depth == 1 && strcmp(el, "filename") == 0) snprintf(a->filename, sizeof a->filename, "%s", a->text);
    else if (strcmp(parent, "source") == 0 && strcmp(el, "database") == 0) snprintf(a->database, sizeof a->database, "%s", a->text);
    else if (strcmp(parent, "size") == 0 && strcmp(el, "width") == 0) a->bad |= !parse_int(a->text, &a->width);
    else if (strcmp(parent, "size") == 0 && strcmp(el, "height") == 0) a->bad |= !parse_int(a->text, &a->height);
    else if (o && strcmp(parent, "object") == 0) {
        if (strcmp(el, "name") == 0) snprintf(o->name, sizeof o->name, "%s", a->text);
        else if (strcmp(el, "trackid") == 0) a->bad |= !parse_int(a->text, &o->trackid), o->has_trackid = 1;
        else if (strcmp(el, "occluded") == 0) a->bad |= !parse_int(a->text, &o->occluded), o->has_occ = 1;
        else if (strcmp(el, "generated") == 0) a->bad |= !parse_int(a->text, &o->generated), o->has_gen = 1;
    } else if (o && strcmp(parent, "bndbox") == 0) {
        static const char *k[4] = {"xmin", "ymin", "xmax", "ymax"};
        for (int i = 0; i < 4; i++)
            if (strcmp(el, k[i]) == 0) a->bad |= !parse_int(a->text, &o->box[i]), o->seen[i] = 1;
    }
    a->text_len = 0;
    a->text[0] = '\0';
}

/* 1 if the file is well-formed XML with the fields read into *a. */
static int parse_xml(const char *path, xann *a) {
    memset(a, 0, sizeof *a);
    size_t len = 0;
    char *buf = th_read_file(path, &len);
    if (!buf) return 0;
    XML_Parser p = XML_ParserCreate(NULL);
    XML_SetUserData(p, a);
    XML_SetElementHandler(p, x_start, x_end);
    XML_SetCharacterDataHandler(p, x_chars);
    int ok = XML_Parse(p, buf, (int)len, 1) == XML_STATUS_OK;
    if (!ok)
        fprintf(stderr, "%s:%lu: %s\n", path, (unsigned long)XML_GetCurrentLineNumber(p),
                XML_ErrorString(XML_GetErrorCode(p)));
    XML_ParserFree(p);
    free(buf);
    return ok && !a->bad && a->n_obj <= MAXOBJ;
}

/* ------------------------------------------------------------------ motion IoU (spec) ----- */

/* vid-eval.md §5: mean over frames s, 0 < |s − t| <= 10, holding the track, of the
 * inclusive-pixel IoU; 1e-10/|N| if every IoU is 0; 1.0 if N is empty. */
static double ref_iou(const int *a, const int *b) {
    double ix1 = fmax(a[0], b[0]), iy1 = fmax(a[1], b[1]);
    double ix2 = fmin(a[2], b[2]), iy2 = fmin(a[3], b[3]);
    double iw = ix2 - ix1 + 1, ih = iy2 - iy1 + 1;
    if (iw <= 0 || ih <= 0) return 0;
    double aa = (a[2] - a[0] + 1.0) * (a[3] - a[1] + 1.0), ab = (b[2] - b[0] + 1.0) * (b[3] - b[1] + 1.0);
    return iw * ih / (aa + ab - iw * ih);
}

/* One video's parsed annotations: boxes[t][track] with present flags. */
#define MAXF 512
#define MAXT 8
typedef struct vid_ann {
    int n_frames;
    int present[MAXF][MAXT];
    int box[MAXF][MAXT][4];
} vid_ann;

static double ref_motion(const vid_ann *v, int t, int k) {
    double sum = 0;
    int n = 0;
    for (int s = t - 10; s <= t + 10; s++) {
        if (s == t || s < 0 || s >= v->n_frames || !v->present[s][k]) continue;
        sum += ref_iou(v->box[t][k], v->box[s][k]);
        n++;
    }
    return n == 0 ? 1.0 : (sum == 0 ? 1e-10 / n : sum / n);
}

/* ------------------------------------------------------------------ dataset checks -------- */

typedef struct check_totals {
    int64_t frames, boxes, occluded, motion[3], val_frames;
} check_totals;

/* Check one video folder (all frames) and accumulate motion counts. name = "train/..." */
static void check_video(const char *root, const char *name, int n_frames, const selsa_synth_config *cfg,
                        check_totals *tot, vid_ann *va) {
    char path[4300];
    const char *folder = strchr(name, '/') + 1;
    int bad_xml = 0, bad_field = 0, bad_box = 0, bad_jpeg = 0, bad_track = 0;
    memset(va, 0, sizeof *va);
    va->n_frames = n_frames < MAXF ? n_frames : MAXF;
    for (int t = 0; t < n_frames; t++) {
        snprintf(path, sizeof path, "%s/Data/VID/%s/%06d.JPEG", root, name, t);
        int h = 0, w = 0;
        if (!jpeg_size(path, &h, &w) || h != cfg->height || w != cfg->width) bad_jpeg++;
        snprintf(path, sizeof path, "%s/Annotations/VID/%s/%06d.xml", root, name, t);
        xann a;
        if (!parse_xml(path, &a)) {
            bad_xml++;
            continue;
        }
        char fn[16];
        snprintf(fn, sizeof fn, "%06d", t);
        if (strcmp(a.folder, folder) || strcmp(a.filename, fn) || strcmp(a.database, "ILSVRC_2015") ||
            a.width != cfg->width || a.height != cfg->height)
            bad_field++;
        int seen_track[64] = {0};
        for (int i = 0; i < a.n_obj; i++) {
            xobj *o = &a.obj[i];
            int label = selsa_vid_class_from_wnid(o->name);
            if (label < 1 || label > cfg->n_classes || !o->has_trackid || !o->has_occ || !o->has_gen ||
                o->generated != 0 || (o->occluded != 0 && o->occluded != 1) ||
                !(o->seen[0] && o->seen[1] && o->seen[2] && o->seen[3]))
                bad_field++;
            if (o->box[0] < 0 || o->box[1] < 0 || o->box[2] > cfg->width - 1 ||
                o->box[3] > cfg->height - 1 || o->box[0] > o->box[2] || o->box[1] > o->box[3])
                bad_box++;
            if (o->trackid < 0 || o->trackid >= MAXT || seen_track[o->trackid]++) {
                bad_track++;
                continue;
            }
            if (t < MAXF) {
                va->present[t][o->trackid] = 1;
                memcpy(va->box[t][o->trackid], o->box, sizeof o->box);
            }
            tot->boxes++;
            tot->occluded += o->occluded;
        }
        tot->frames++;
    }
    /* one frame past the end must not exist */
    snprintf(path, sizeof path, "%s/Data/VID/%s/%06d.JPEG", root, name, n_frames);
    TH_CHECK(!selsa_file_exists(path), "%s: frame %d exists beyond the listed length", name, n_frames);
    TH_CHECK(bad_xml == 0, "%s: %d XML files missing or malformed", name, bad_xml);
    TH_CHECK(bad_field == 0, "%s: %d bad XML fields", name, bad_field);
    TH_CHECK(bad_box == 0, "%s: %d boxes outside the image", name, bad_box);
    TH_CHECK(bad_jpeg == 0, "%s: %d JPEGs missing or of the wrong size", name, bad_jpeg);
    TH_CHECK(bad_track == 0, "%s: %d bad / repeated track ids", name, bad_track);
    for (int t = 0; t < va->n_frames; t++)
        for (int k = 0; k < MAXT; k++)
            if (va->present[t][k]) {
                double m = ref_motion(va, t, k);
                tot->motion[m <= 0.7 ? 0 : (m <= 0.9 ? 1 : 2)]++;
            }
}

/* Parse and check the whole dataset; returns the number of val videos parsed into vals. */
static void check_dataset(const char *root, const selsa_synth_config *cfg, const selsa_synth_stats *st,
                          check_totals *train_tot, check_totals *val_tot) {
    char path[4300];
    memset(train_tot, 0, sizeof *train_tot);
    memset(val_tot, 0, sizeof *val_tot);
    vid_ann *va = malloc(sizeof *va);

    /* VID_train_15frames.txt: "<video> 1 <frame_seg_id> <frame_seg_len>" */
    snprintf(path, sizeof path, "%s/ImageSets/VID_train_15frames.txt", root);
    char *text = th_read_file(path, NULL);
    TH_CHECK(text != NULL, "missing %s", path);
    if (text) {
        char **lines;
        int nofinal, n = split_lines(text, &lines, &nofinal);
        TH_CHECK(!nofinal, "VID_train_15frames.txt ends with a newline");
        int bad = 0, videos = 0, per_video = 0, prev_seg = -1;
        char prev[256] = "";
        int prev_len = 0;
        for (int i = 0; i <= n; i++) {
            char name[256] = "";
            int one = 0, seg = 0, len = 0;
            if (i < n) {
                char extra[8];
                if (sscanf(lines[i], "%255s %d %d %d %7s", name, &one, &seg, &len, extra) != 4 || one != 1 ||
                    seg < 0 || seg >= len) {
                    bad++;
                    continue;
                }
            }
            if (strcmp(name, prev) != 0) {
                if (prev[0]) { /* finish the previous video */
                    int want = prev_len < 15 ? prev_len : 15;
                    TH_CHECK(per_video == want, "%s: %d list lines, want %d", prev, per_video, want);
                    check_video(root, prev, prev_len, cfg, train_tot, va);
                    videos++;
                }
                snprintf(prev, sizeof prev, "%s", name);
                prev_len = len;
                per_video = 0;
                prev_seg = -1;
                if (i < n) {
                    char want[256];
                    snprintf(want, sizeof want, "train/ILSVRC2015_VID_train_%04d/ILSVRC2015_train_%08d",
                             videos / 1000, videos);
                    TH_CHECK(strcmp(name, want) == 0, "train video name %s, want %s", name, want);
                }
            }
            if (i < n) {
                per_video++;
                if (len != prev_len || seg <= prev_seg) bad++;
                prev_seg = seg;
                snprintf(path, sizeof path, "%s/Data/VID/%s/%06d.JPEG", root, name, seg);
                if (!selsa_file_exists(path)) bad++;
            }
        }
        TH_CHECK(bad == 0, "VID_train_15frames.txt: %d bad lines", bad);
        TH_CHECK(videos == cfg->n_train_videos, "train videos %d, want %d", videos, cfg->n_train_videos);
        free(lines);
        free(text);
    }

    /* VID_val_videos.txt: "<video> <start 1-based> 0 <num frames>", contiguous */
    snprintf(path, sizeof path, "%s/ImageSets/VID_val_videos.txt", root);
    text = th_read_file(path, NULL);
    TH_CHECK(text != NULL, "missing %s", path);
    selsa_vid_gt gt;
    selsa_vid_gt_init(&gt);
    if (text) {
        char **lines;
        int nofinal, n = split_lines(text, &lines, &nofinal);
        TH_CHECK(!nofinal, "VID_val_videos.txt ends with a newline");
        TH_CHECK(n == cfg->n_val_videos, "val lines %d, want %d", n, cfg->n_val_videos);
        int64_t next = 1;
        for (int i = 0; i < n; i++) {
            char name[256], want[256], extra[8];
            long long start = 0;
            int zero = -1, len = 0;
            int k = sscanf(lines[i], "%255s %lld %d %d %7s", name, &start, &zero, &len, extra);
            snprintf(want, sizeof want, "val/ILSVRC2015_val_%08d", i);
            TH_CHECK(k == 4 && strcmp(name, want) == 0 && start == next && zero == 0 && len >= cfg->min_frames &&
                         len <= cfg->max_frames,
                     "VID_val_videos.txt line %d: '%s'", i + 1, lines[i]);
            if (k != 4) continue;
            check_video(root, name, len, cfg, val_tot, va);
            /* ground truth for the evaluator */
            for (int t = 0; t < len && t < MAXF; t++) {
                TH_OK(selsa_vid_gt_add_frame(&gt, next + t, i, t));
                snprintf(path, sizeof path, "%s/Annotations/VID/%s/%06d.xml", root, name, t);
                xann a;
                if (!parse_xml(path, &a)) continue;
                for (int j = 0; j < a.n_obj; j++)
                    TH_OK(selsa_vid_gt_add_object(&gt, selsa_vid_class_from_wnid(a.obj[j].name), a.obj[j].trackid,
                                                  a.obj[j].box[0], a.obj[j].box[1], a.obj[j].box[2],
                                                  a.obj[j].box[3]));
            }
            next += len;
        }
        free(lines);
        free(text);
    }

    /* DET_train_30classes.txt: "<path without .JPEG> 1", no newline after the last line */
    snprintf(path, sizeof path, "%s/ImageSets/DET_train_30classes.txt", root);
    text = th_read_file(path, NULL);
    TH_CHECK(text != NULL, "missing %s", path);
    if (text) {
        char **lines;
        int nofinal, n = split_lines(text, &lines, &nofinal);
        TH_CHECK(n == cfg->n_det_images, "DET lines %d, want %d", n, cfg->n_det_images);
        TH_CHECK(n == 0 || nofinal, "DET list: the last line has no newline, as the official file");
        int bad = 0, objects = 0, other = 0;
        for (int i = 0; i < n; i++) {
            char p[256], extra[8];
            int one = 0;
            if (sscanf(lines[i], "%255s %d %7s", p, &one, extra) != 2 || one != 1 || strncmp(p, "train/ILSVRC201", 15)) {
                bad++;
                continue;
            }
            snprintf(path, sizeof path, "%s/Data/DET/%s.JPEG", root, p);
            int h = 0, w = 0;
            if (!jpeg_size(path, &h, &w)) bad++;
            snprintf(path, sizeof path, "%s/Annotations/DET/%s.xml", root, p);
            xann a;
            if (!parse_xml(path, &a) || a.width != w || a.height != h || a.n_obj < 1) {
                bad++;
                continue;
            }
            const char *base = strrchr(p, '/') + 1;
            if (strcmp(a.filename, base)) bad++;
            for (int j = 0; j < a.n_obj; j++) {
                xobj *o = &a.obj[j];
                int label = selsa_vid_class_from_wnid(o->name);
                if (label == 0) other++;
                else if (label > cfg->n_classes) bad++;
                else objects++;
                if (o->has_trackid || o->box[0] < 0 || o->box[1] < 0 || o->box[2] > w - 1 || o->box[3] > h - 1 ||
                    o->box[0] > o->box[2] || o->box[1] > o->box[3])
                    bad++;
            }
        }
        TH_CHECK(bad == 0, "DET: %d bad entries", bad);
        if (st) {
            TH_CHECK(objects == st->det_objects && other == st->det_other, "DET objects %d/%d, stats %lld/%lld",
                     objects, other, (long long)st->det_objects, (long long)st->det_other);
        }
        free(lines);
        free(text);
    }

    if (st) {
        const selsa_synth_split_stats *s2[2] = {&st->train, &st->val};
        check_totals *t2[2] = {train_tot, val_tot};
        for (int k = 0; k < 2; k++) {
            TH_CHECK(s2[k]->frames == t2[k]->frames && s2[k]->boxes == t2[k]->boxes &&
                         s2[k]->occluded == t2[k]->occluded,
                     "split %d: stats frames/boxes/occluded %lld/%lld/%lld, files %lld/%lld/%lld", k,
                     (long long)s2[k]->frames, (long long)s2[k]->boxes, (long long)s2[k]->occluded,
                     (long long)t2[k]->frames, (long long)t2[k]->boxes, (long long)t2[k]->occluded);
            for (int r = 0; r < 3; r++)
                TH_CHECK(s2[k]->motion[r] == t2[k]->motion[r],
                         "split %d range %d: stats %lld boxes, recomputed from the XML tracks %lld", k, r,
                         (long long)s2[k]->motion[r], (long long)t2[k]->motion[r]);
        }
    }

    /* the evaluator on the ground truth as detections: AP 1 everywhere (issue 5 acceptance) */
    if (gt.n_objects > 0) {
        TH_OK(selsa_vid_motion_from_tracks(&gt));
        int64_t cnt[3] = {0, 0, 0};
        for (int64_t i = 0; i < gt.n_objects; i++) {
            double m = gt.objects[i].motion_iou;
            cnt[m <= 0.7 ? 0 : (m <= 0.9 ? 1 : 2)]++;
        }
        for (int r = 0; r < 3; r++)
            TH_CHECK(cnt[r] == val_tot->motion[r], "evaluator motion from tracks: range %d has %lld, test %lld", r,
                     (long long)cnt[r], (long long)val_tot->motion[r]);
        selsa_vid_dets d;
        selsa_vid_dets_init(&d);
        for (int64_t f = 0; f < gt.n_frames; f++)
            for (int64_t j = 0; j < gt.frames[f].count; j++) {
                const selsa_vid_gt_object *o = &gt.objects[gt.frames[f].first + j];
                TH_OK(selsa_vid_dets_add(&d, gt.frames[f].frame_id, o->cls, 0.5 + 0.4 * (double)((f * 7 + j) % 11) / 11.0,
                                         o->box[0], o->box[1], o->box[2], o->box[3]));
            }
        selsa_vid_eval_result res;
        TH_OK(selsa_vid_eval(&gt, &d, NULL, &res));
        TH_CHECK(res.map == 1.0, "mAP of the ground truth as detections %.6f, want 1", res.map);
        TH_CHECK(res.has_motion, "motion evaluation ran");
        for (int r = 0; r < SELSA_VID_NUM_RANGES; r++)
            TH_CHECK(res.motion_map[r] == 1.0 || (r > 0 && cnt[r - 1] == 0 && res.motion_map[r] == -1.0),
                     "range %s: mAP %.6f, want 1", selsa_vid_range_name(r), res.motion_map[r]);
        selsa_vid_dets_free(&d);
    }
    selsa_vid_gt_free(&gt);
    free(va);
}

/* ------------------------------------------------------------------ tests ------------------ */

static char g_tmp[256];

static selsa_synth_config small_config(const char *root) {
    selsa_synth_config c = selsa_synth_config_default();
    c.root = root;
    c.n_train_videos = 4;
    c.n_val_videos = 3;
    c.min_frames = 12;
    c.max_frames = 30;
    c.n_det_images = 7;
    c.seed = 7;
    return c;
}

static void test_bad_config(void) {
    char root[512];
    snprintf(root, sizeof root, "%s/bad", g_tmp);
    TH_FAILS(selsa_synth_generate(NULL, NULL), SELSA_ERR_INVALID_ARG);
    selsa_synth_config c = small_config(NULL);
    TH_FAILS(selsa_synth_generate(&c, NULL), SELSA_ERR_INVALID_ARG);
    TH_CHECK(strstr(selsa_last_error(), "root") != NULL, "message names root: %s", selsa_last_error());
#define BAD_FIELD(stmt, word)                                                                   \
    do {                                                                                        \
        selsa_synth_config b = small_config(root);                                              \
        stmt;                                                                                   \
        TH_FAILS(selsa_synth_generate(&b, NULL), SELSA_ERR_INVALID_ARG);                        \
        TH_CHECK(strstr(selsa_last_error(), word) != NULL, "'%s': message %s", #stmt, selsa_last_error()); \
    } while (0)
    BAD_FIELD(b.width = 10, "width");
    BAD_FIELD(b.height = 5000, "height");
    BAD_FIELD(b.n_classes = 0, "n_classes");
    BAD_FIELD(b.n_classes = 31, "n_classes");
    BAD_FIELD(b.min_frames = 0, "frames");
    BAD_FIELD((b.min_frames = 10, b.max_frames = 5), "frames");
    BAD_FIELD(b.n_train_videos = -1, "n_train_videos");
    BAD_FIELD(b.n_det_images = -2, "n_det_images");
    BAD_FIELD(b.max_objects = 9, "objects");
    BAD_FIELD(b.jpeg_quality = 0, "jpeg_quality");
    BAD_FIELD(b.degrade = NAN, "degrade");
    BAD_FIELD((b.speed_mix[0] = b.speed_mix[1] = b.speed_mix[2] = 0), "speed_mix");
    BAD_FIELD(b.speed_mix[1] = -1, "speed_mix");
    BAD_FIELD(b.min_box = 500, "min_box");
    BAD_FIELD(b.max_box_frac = 0, "max_box_frac");
#undef BAD_FIELD
    struct stat st;
    TH_CHECK(stat(root, &st) != 0, "nothing was created for bad configs");
    /* an unwritable root: a path below a regular file */
    char file[600], under[700];
    snprintf(file, sizeof file, "%s/afile", g_tmp);
    FILE *f = fopen(file, "w");
    if (f) fclose(f);
    snprintf(under, sizeof under, "%s/sub/root", file);
    selsa_synth_config u = small_config(under);
    TH_FAILS(selsa_synth_generate(&u, NULL), SELSA_ERR_IO);
    TH_CHECK(strstr(selsa_last_error(), "afile") != NULL, "message names the path: %s", selsa_last_error());
    /* contact sheet argument checks */
    selsa_synth_config cs = small_config(root);
    TH_FAILS(selsa_synth_contact_sheet(&cs, NULL, 2, 2, 1), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_synth_contact_sheet(&cs, "x.png", 0, 2, 1), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_synth_contact_sheet(&cs, "x.png", 2, 2, 9), SELSA_ERR_INVALID_ARG);
}

static void test_writers(void) {
    enum { H = 37, W = 53 };
    uint8_t img[H * W * 3];
    for (int i = 0; i < H * W * 3; i++) img[i] = (uint8_t)((i * 7) % 251);
    char path[600];
    snprintf(path, sizeof path, "%s/w.JPEG", g_tmp);
    TH_OK(selsa_jpeg_write(path, img, H, W, 90));
    int h = 0, w = 0;
    TH_CHECK(jpeg_size(path, &h, &w) && h == H && w == W, "JPEG read back %dx%d", h, w);
    uint8_t *buf = NULL;
    size_t len = 0;
    TH_OK(selsa_jpeg_encode(img, H, W, 90, &buf, &len));
    size_t flen = 0;
    char *fb = th_read_file(path, &flen);
    TH_CHECK(fb && flen == len && memcmp(fb, buf, len) == 0, "file bytes = in-memory encoding (deterministic)");
    free(fb);
    free(buf);
    TH_FAILS(selsa_jpeg_write(path, img, 0, W, 90), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_jpeg_write(path, img, H, W, 101), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_jpeg_write(path, NULL, H, W, 90), SELSA_ERR_INVALID_ARG);
    char nodir[700];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/x.JPEG", g_tmp);
    TH_FAILS(selsa_jpeg_write(nodir, img, H, W, 90), SELSA_ERR_IO);
    /* no temporary files are left behind */
    DIR *d = opendir(g_tmp);
    int tmp_left = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) tmp_left += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    TH_CHECK(tmp_left == 0, "%d temporary files left", tmp_left);
    snprintf(path, sizeof path, "%s/a/b/c", g_tmp);
    TH_OK(selsa_mkdirs(path));
    TH_OK(selsa_mkdirs(path));
    struct stat st;
    TH_CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "mkdirs made the folder");
}

static void test_motion_rule(void) {
    /* hand-computed: a 10×10 box moving 1 px/frame in x over 3 frames */
    int boxes[4][4] = {{0, 0, 9, 9}, {1, 0, 10, 9}, {2, 0, 11, 9}, {50, 50, 59, 59}};
    uint8_t present[4] = {1, 1, 1, 0};
    double out[4] = {-1, -1, -1, -1};
    selsa_synth_track_motion_iou((const int(*)[4])boxes, present, 4, out);
    double i1 = 90.0 / 110.0, i2 = 80.0 / 120.0;
    TH_CHECK(fabs(out[0] - (i1 + i2) / 2) < 1e-15, "frame 0: %.17g", out[0]);
    TH_CHECK(fabs(out[1] - i1) < 1e-15, "frame 1: %.17g", out[1]);
    TH_CHECK(out[3] == -1, "absent frame untouched");
    /* all-zero IoU: 1e-10/|N|; isolated box: 1.0 */
    int b2[3][4] = {{0, 0, 9, 9}, {20, 0, 29, 9}, {0, 0, 1, 1}};
    uint8_t p2[3] = {1, 1, 0};
    selsa_synth_track_motion_iou((const int(*)[4])b2, p2, 3, out);
    TH_CHECK(out[0] == 1e-10, "all-zero: %.17g", out[0]);
    uint8_t p3[3] = {0, 0, 1};
    selsa_synth_track_motion_iou((const int(*)[4])b2, p3, 3, out);
    TH_CHECK(out[2] == 1.0, "isolated: %.17g", out[2]);
}

static void test_generate(void) {
    char root[512], root2[512], root3[512];
    snprintf(root, sizeof root, "%s/ds1", g_tmp);
    snprintf(root2, sizeof root2, "%s/ds2", g_tmp);
    snprintf(root3, sizeof root3, "%s/ds3", g_tmp);
    selsa_synth_config c = small_config(root);
    selsa_synth_stats st;
    if (!TH_OK(selsa_synth_generate(&c, &st))) return;
    char text[4096];
    selsa_synth_stats_format(&st, text, sizeof text);
    printf("%s", text);
    TH_CHECK(st.train.videos == 4 && st.val.videos == 3 && st.det_images == 7, "counts in stats");
    check_totals tr, va;
    check_dataset(root, &c, &st, &tr, &va);
    /* all three motion ranges are populated (default speeds and resolution) */
    for (int r = 0; r < 3; r++)
        TH_CHECK(tr.motion[r] + va.motion[r] > 0, "motion range %d has boxes", r);
    TH_CHECK(st.train.occluded + st.val.occluded > 0, "some boxes are occluded");

    /* determinism: same seed → identical bytes; another seed → different */
    TH_OK(selsa_synth_generate(&c, NULL));
    selsa_synth_config c2 = c;
    c2.root = root2;
    TH_OK(selsa_synth_generate(&c2, NULL));
    selsa_synth_config c3 = c;
    c3.root = root3;
    c3.seed = 8;
    TH_OK(selsa_synth_generate(&c3, NULL));
    static const char *files[] = {
        "ImageSets/VID_train_15frames.txt",
        "ImageSets/VID_val_videos.txt",
        "ImageSets/DET_train_30classes.txt",
        "Data/VID/train/ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000/000000.JPEG",
        "Data/VID/train/ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000003/000011.JPEG",
        "Annotations/VID/train/ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000003/000011.xml",
        "Data/VID/val/ILSVRC2015_val_00000002/000005.JPEG",
        "Annotations/VID/val/ILSVRC2015_val_00000002/000005.xml",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/%s", root, files[i]);
        snprintf(b, sizeof b, "%s/%s", root2, files[i]);
        TH_CHECK(th_files_equal(a, b), "same seed, different bytes: %s", files[i]);
    }
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/%s", root, files[3]);
    snprintf(b, sizeof b, "%s/%s", root3, files[3]);
    TH_CHECK(selsa_file_exists(b) && !th_files_equal(a, b), "another seed gives another first frame");

    /* contact sheet: a PNG */
    char png[600];
    snprintf(png, sizeof png, "%s/sheet.png", g_tmp);
    TH_OK(selsa_synth_contact_sheet(&c, png, 2, 3, 2));
    size_t len = 0;
    char *p = th_read_file(png, &len);
    TH_CHECK(p && len > 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0, "contact sheet is a PNG");
    free(p);
}

/* Resolution, class count and clean frames (degrade 0) are honoured. */
static void test_variants(void) {
    char root[512];
    snprintf(root, sizeof root, "%s/ds4", g_tmp);
    selsa_synth_config c = small_config(root);
    c.width = 96;
    c.height = 64;
    c.n_classes = 2;
    c.n_train_videos = 2;
    c.n_val_videos = 1;
    c.min_frames = c.max_frames = 9; /* fewer than 15 frames: 9 list lines */
    c.n_det_images = 1;
    c.degrade = 0;
    c.min_box = 8;
    selsa_synth_stats st;
    if (!TH_OK(selsa_synth_generate(&c, &st))) return;
    check_totals tr, va;
    check_dataset(root, &c, &st, &tr, &va);
    TH_CHECK(st.train.low_contrast + st.val.low_contrast == 0, "degrade 0: no nearly invisible frames");
    TH_CHECK(st.train.class_boxes[2] == 0 && st.train.class_boxes[0] + st.train.class_boxes[1] == st.train.boxes,
             "only the first 2 classes");
}

int main(int argc, char **argv) {
    th_init(argc, argv, "synth");
    snprintf(g_tmp, sizeof g_tmp, "%s/selsa_synth_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_tmp)) {
        TH_CHECK(0, "mkdtemp failed");
        return th_finish();
    }
    test_motion_rule();
    test_writers();
    test_bad_config();
    test_generate();
    test_variants();
    th_remove_tree(g_tmp);
    return th_finish();
}
