/* selsa — file helpers shared by every writer.
 *
 * Atomic writes: every output that matters (checkpoints, detections, results, datasets) is
 * written to `path`.tmp.XXXXXX next to the target, flushed, fsync'ed, given mode 0666 & ~umask,
 * renamed over the target, and the directory is fsync'ed (best effort), so a crash never leaves
 * a truncated file under the final name. */
#ifndef SELSA_FILEIO_H
#define SELSA_FILEIO_H

#include <stddef.h>
#include <stdio.h>

#include "selsa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes the content; returns < 0 (or false-y stream state) on a write error. */
typedef int (*selsa_write_fn)(FILE *f, const void *user);

/* Atomic write of whatever body(f, user) writes. Failures remove the temporary file and return
 * SELSA_ERR_IO naming `path` and the cause. */
selsa_status selsa_file_write_stream_atomic(const char *path, selsa_write_fn body, const void *user);

/* Atomic write of a buffer. */
selsa_status selsa_file_write_atomic(const char *path, const void *data, size_t len);

/* The two halves, for writers that stream into a temporary file themselves (JSON Lines over a
 * long video, libavformat muxing):
 *   selsa_file_tmp_create: create `path`.tmp.XXXXXX (returned in *tmp, malloc'ed) and open it;
 *     *fd receives the descriptor (NULL: it is closed);
 *   selsa_file_tmp_commit: fsync the temporary file, give it mode 0666 & ~umask, rename it over
 *     `path`, fsync the directory; on failure the temporary file is removed.
 * The caller frees *tmp. */
selsa_status selsa_file_tmp_create(const char *path, char **tmp, int *fd);
selsa_status selsa_file_tmp_commit(const char *tmp, const char *path);

/* True if `path` names an existing regular file (stat; a folder is not a file). */
int selsa_file_exists(const char *path);

/* mkdir -p (0755). SELSA_ERR_IO if a component cannot be created or `path` is not a folder. */
selsa_status selsa_mkdirs(const char *path);

#ifdef __cplusplus
}
#endif
#endif
