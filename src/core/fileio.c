#include "selsa/fileio.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void fsync_parent_dir(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    FILE *d = fopen(dirname(copy), "r");
    if (d) {
        (void)fsync(fileno(d));
        fclose(d);
    }
    free(copy);
}

selsa_status selsa_file_write_stream_atomic(const char *path, selsa_write_fn body, const void *user) {
    if (!path || !body) return selsa_error(SELSA_ERR_INVALID_ARG, "atomic write: NULL argument");
    size_t n = strlen(path);
    char *tmp = malloc(n + 16);
    if (!tmp) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "writing %s: out of memory", path);
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        selsa_status st = selsa_error(SELSA_ERR_IO, "%s: cannot create a temporary file: %s", path,
                                      strerror(errno));
        free(tmp);
        return st;
    }
    mode_t um = umask(0); /* mkstemp creates 0600; give the file the usual 0666 & ~umask */
    umask(um);
    (void)fchmod(fd, 0666 & ~um);
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
        free(tmp);
        return selsa_error(SELSA_ERR_IO, "%s: fdopen failed", path);
    }
    errno = 0;
    int err = body(f, user) < 0 || ferror(f) ? (errno ? errno : EIO) : 0;
    if (fflush(f) != 0 && !err) err = errno;
    if (!err && fsync(fileno(f)) != 0) err = errno;
    if (fclose(f) != 0 && !err) err = errno;
    if (!err && rename(tmp, path) != 0) err = errno;
    if (err) {
        unlink(tmp);
        free(tmp);
        return selsa_error(SELSA_ERR_IO, "%s: write failed: %s", path, strerror(err));
    }
    free(tmp);
    fsync_parent_dir(path);
    return SELSA_OK;
}

typedef struct buffer_view {
    const void *data;
    size_t len;
} buffer_view;

static int write_buffer(FILE *f, const void *user) {
    const buffer_view *b = user;
    return b->len == 0 || fwrite(b->data, 1, b->len, f) == b->len ? 0 : -1;
}

selsa_status selsa_file_write_atomic(const char *path, const void *data, size_t len) {
    if (!data && len) return selsa_error(SELSA_ERR_INVALID_ARG, "writing %s: NULL data", path ? path : "?");
    buffer_view b = {data, len};
    return selsa_file_write_stream_atomic(path, write_buffer, &b);
}

selsa_status selsa_mkdirs(const char *path) {
    if (!path || !*path) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_mkdirs: empty path");
    size_t n = strlen(path);
    char *p = malloc(n + 1);
    if (!p) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "selsa_mkdirs: out of memory");
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            selsa_status s = selsa_error(SELSA_ERR_IO, "cannot create folder %s: %s", p, strerror(errno));
            free(p);
            return s;
        }
        p[i] = c;
    }
    free(p);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return selsa_error(SELSA_ERR_IO, "%s exists and is not a folder", path);
    return SELSA_OK;
}
