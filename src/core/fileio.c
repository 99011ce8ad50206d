#include "selsa/fileio.h"

#include <errno.h>
#include <fcntl.h>
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

selsa_status selsa_file_tmp_create(const char *path, char **tmp_out, int *fd_out) {
    if (!path || !tmp_out) return selsa_error(SELSA_ERR_INVALID_ARG, "temporary file: NULL argument");
    *tmp_out = NULL;
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
    if (fd_out) *fd_out = fd;
    else close(fd);
    *tmp_out = tmp;
    return SELSA_OK;
}

selsa_status selsa_file_tmp_commit(const char *tmp, const char *path) {
    int err = 0;
    int fd = open(tmp, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) err = errno ? errno : EIO;
    if (fd >= 0) close(fd);
    mode_t um = umask(0); /* mkstemp creates 0600; give the file the usual 0666 & ~umask */
    umask(um);
    if (!err && chmod(tmp, 0666 & ~um) != 0) err = errno;
    if (!err && rename(tmp, path) != 0) err = errno;
    if (err) {
        unlink(tmp);
        return selsa_error(SELSA_ERR_IO, "%s: write failed: %s", path, strerror(err));
    }
    fsync_parent_dir(path);
    return SELSA_OK;
}

selsa_status selsa_file_write_stream_atomic(const char *path, selsa_write_fn body, const void *user) {
    if (!path || !body) return selsa_error(SELSA_ERR_INVALID_ARG, "atomic write: NULL argument");
    char *tmp = NULL;
    int fd = -1;
    SELSA_TRY(selsa_file_tmp_create(path, &tmp, &fd));
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
    if (fclose(f) != 0 && !err) err = errno;
    selsa_status s;
    if (err) {
        unlink(tmp);
        s = selsa_error(SELSA_ERR_IO, "%s: write failed: %s", path, strerror(err));
    } else {
        s = selsa_file_tmp_commit(tmp, path);
    }
    free(tmp);
    return s;
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

int selsa_file_exists(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}
