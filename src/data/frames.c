/* selsa — frame sources behind one interface (include/selsa/frames.h): frame folders in
 * numeric order, ILSVRC VID video directories, FFmpeg video files and image lists. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "selsa/frames.h"

typedef struct frame_file {
    char *name;              /* file name (folder) or full path (list) */
    unsigned long long num;  /* value of the last digit run */
    int has_num;
} frame_file;

struct selsa_frame_source {
    selsa_frames_kind kind;
    char *dir;            /* folder (folder/VID dir) or list directory */
    frame_file *files;    /* folder/VID dir/list entries, in yield order */
    int64_t n_files;
    int64_t next;         /* position of the next frame */
    selsa_video *video;
    char *video_path;
    char cur[4096];       /* path of the last frame's file */
};

static int has_frame_ext(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return 0;
    return !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".png");
}

/* Last run of decimal digits in the name without its extension. */
static void parse_num(const char *name, frame_file *f) {
    const char *dot = strrchr(name, '.');
    const char *end = dot ? dot : name + strlen(name);
    const char *p = end;
    while (p > name && !isdigit((unsigned char)p[-1])) p--;
    const char *q = p;
    while (q > name && isdigit((unsigned char)q[-1])) q--;
    f->has_num = q < p;
    f->num = 0;
    for (const char *c = q; c < p; c++) {
        unsigned long long d = (unsigned long long)(*c - '0');
        f->num = f->num > (~0ULL - d) / 10 ? ~0ULL : f->num * 10 + d;
    }
}

static int cmp_frames(const void *a, const void *b) {
    const frame_file *x = (const frame_file *)a, *y = (const frame_file *)b;
    if (x->has_num != y->has_num) return x->has_num ? -1 : 1;
    if (x->has_num && x->num != y->num) return x->num < y->num ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void free_files(selsa_frame_source *fs) {
    for (int64_t i = 0; i < fs->n_files; i++) free(fs->files[i].name);
    free(fs->files);
    fs->files = NULL;
    fs->n_files = 0;
}

void selsa_frames_close(selsa_frame_source *fs) {
    if (!fs) return;
    free_files(fs);
    free(fs->dir);
    selsa_video_close(fs->video);
    free(fs->video_path);
    free(fs);
}

static selsa_status push_file(selsa_frame_source *fs, int64_t *cap, const char *name) {
    if (fs->n_files == *cap) {
        int64_t nc = *cap ? *cap * 2 : 64;
        frame_file *p = (frame_file *)realloc(fs->files, sizeof(frame_file) * (size_t)nc);
        if (!p) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "frame list (%lld entries)", (long long)nc);
        fs->files = p;
        *cap = nc;
    }
    frame_file *f = &fs->files[fs->n_files];
    f->name = strdup(name);
    if (!f->name) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "frame name");
    parse_num(name, f);
    fs->n_files++;
    return SELSA_OK;
}

static selsa_status scan_folder(const char *dir, selsa_frame_source **out) {
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) return selsa_error(SELSA_ERR_IO, "cannot open frame folder '%s': %s", dir, strerror(errno));
    selsa_frame_source *fs = (selsa_frame_source *)calloc(1, sizeof(*fs));
    if (!fs) {
        closedir(d);
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "frame source");
    }
    fs->kind = SELSA_FRAMES_FOLDER;
    fs->dir = strdup(dir);
    int64_t cap = 0;
    struct dirent *e;
    selsa_status st = SELSA_OK;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !has_frame_ext(e->d_name)) continue;
        if ((st = push_file(fs, &cap, e->d_name)) != SELSA_OK) break;
    }
    closedir(d);
    if (st == SELSA_OK && fs->n_files == 0)
        st = selsa_error(SELSA_ERR_IO, "frame folder '%s' holds no *.JPEG/*.jpg/*.png frames", dir);
    if (st != SELSA_OK) {
        selsa_frames_close(fs);
        return st;
    }
    qsort(fs->files, (size_t)fs->n_files, sizeof(frame_file), cmp_frames);
    *out = fs;
    return SELSA_OK;
}

/* Every file is %06d.JPEG and they are 0..n-1: returns -1, else the first offending position. */
static int64_t vid_layout_violation(const selsa_frame_source *fs) {
    for (int64_t i = 0; i < fs->n_files; i++) {
        const char *n = fs->files[i].name;
        int ok = strlen(n) == 11 && !strcmp(n + 6, ".JPEG");
        for (int k = 0; ok && k < 6; k++) ok = isdigit((unsigned char)n[k]) != 0;
        if (!ok || fs->files[i].num != (unsigned long long)i) return i;
    }
    return -1;
}

selsa_status selsa_frames_open_folder(const char *dir, selsa_frame_source **out) {
    if (!dir || !out) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_frames_open_folder: NULL argument");
    return scan_folder(dir, out);
}

selsa_status selsa_frames_open_vid(const char *root, const char *video, selsa_frame_source **out) {
    if (!video || !out) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_frames_open_vid: NULL argument");
    *out = NULL;
    char dir[4096];
    if (root)
        snprintf(dir, sizeof dir, "%s/Data/VID/%s", root, video);
    else
        snprintf(dir, sizeof dir, "%s", video);
    selsa_frame_source *fs;
    SELSA_TRY(scan_folder(dir, &fs));
    int64_t bad = vid_layout_violation(fs);
    if (bad >= 0) {
        selsa_status st = selsa_error(SELSA_ERR_FORMAT,
                                      "VID video directory '%s': frame %lld should be %06lld.JPEG but the "
                                      "sorted files give '%s' (missing or extra frame)",
                                      dir, (long long)bad, (long long)bad, fs->files[bad].name);
        selsa_frames_close(fs);
        return st;
    }
    fs->kind = SELSA_FRAMES_VID_DIR;
    *out = fs;
    return SELSA_OK;
}

selsa_status selsa_frames_open_video(const char *path, selsa_frame_source **out) {
    if (!path || !out) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_frames_open_video: NULL argument");
    *out = NULL;
    selsa_frame_source *fs = (selsa_frame_source *)calloc(1, sizeof(*fs));
    if (!fs) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "frame source");
    fs->kind = SELSA_FRAMES_VIDEO;
    fs->video_path = strdup(path);
    selsa_status st = selsa_video_open(path, &fs->video);
    if (st != SELSA_OK) {
        selsa_frames_close(fs);
        return st;
    }
    snprintf(fs->cur, sizeof fs->cur, "%s", path);
    *out = fs;
    return SELSA_OK;
}

selsa_status selsa_frames_open_list(const char *path, selsa_frame_source **out) {
    if (!path || !out) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_frames_open_list: NULL argument");
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) return selsa_error(SELSA_ERR_IO, "cannot open image list '%s': %s", path, strerror(errno));
    selsa_frame_source *fs = (selsa_frame_source *)calloc(1, sizeof(*fs));
    if (!fs) {
        fclose(f);
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "frame source");
    }
    fs->kind = SELSA_FRAMES_LIST;
    const char *slash = strrchr(path, '/');
    fs->dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
    int64_t cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    selsa_status st = SELSA_OK;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                           line[len - 1] == '\t'))
            line[--len] = 0;
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (!*s || *s == '#') continue;
        if ((st = push_file(fs, &cap, s)) != SELSA_OK) break;
    }
    free(line);
    fclose(f);
    if (st == SELSA_OK && fs->n_files == 0)
        st = selsa_error(SELSA_ERR_FORMAT, "image list '%s' has no entries", path);
    if (st != SELSA_OK) {
        selsa_frames_close(fs);
        return st;
    }
    *out = fs;
    return SELSA_OK;
}

selsa_status selsa_frames_open(const char *path, selsa_frame_source **out) {
    if (!path || !out) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_frames_open: NULL argument");
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return selsa_error(SELSA_ERR_IO, "frame source '%s' not found: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        selsa_frame_source *fs;
        SELSA_TRY(scan_folder(path, &fs));
        if (vid_layout_violation(fs) < 0) fs->kind = SELSA_FRAMES_VID_DIR;
        *out = fs;
        return SELSA_OK;
    }
    const char *dot = strrchr(path, '.');
    if (dot && (!strcasecmp(dot, ".txt") || !strcasecmp(dot, ".lst")))
        return selsa_frames_open_list(path, out);
    return selsa_frames_open_video(path, out);
}

selsa_status selsa_frames_next(selsa_frame_source *fs, selsa_image *frame, int64_t *index) {
    if (!fs || !frame || !index) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_frames_next: NULL argument");
    *index = -1;
    if (fs->kind == SELSA_FRAMES_VIDEO) {
        int got = 0;
        SELSA_TRY(selsa_video_read(fs->video, frame, &got));
        if (got) *index = fs->next++;
        return SELSA_OK;
    }
    if (fs->next >= fs->n_files) return SELSA_OK;
    const char *name = fs->files[fs->next].name;
    if (fs->kind == SELSA_FRAMES_LIST && name[0] == '/')
        snprintf(fs->cur, sizeof fs->cur, "%s", name);
    else
        snprintf(fs->cur, sizeof fs->cur, "%s/%s", fs->dir, name);
    selsa_status st = selsa_image_read(fs->cur, frame);
    if (st != SELSA_OK)
        return selsa_error_context(st, "frame %lld: ", (long long)fs->next);
    *index = fs->next++;
    return SELSA_OK;
}

int64_t selsa_frames_count(const selsa_frame_source *fs) {
    if (!fs) return -1;
    if (fs->kind == SELSA_FRAMES_VIDEO) return selsa_video_frame_count(fs->video);
    return fs->n_files;
}

selsa_frames_kind selsa_frames_get_kind(const selsa_frame_source *fs) { return fs->kind; }

const char *selsa_frames_current_path(const selsa_frame_source *fs) { return fs ? fs->cur : ""; }
