/* selsa — status codes and error reporting.
 *
 * Every library function that can fail returns a selsa_status. The library never prints and
 * never exits: a failing function records a human-readable message (what, which tensor/file,
 * what to do) that the caller fetches with selsa_last_error(). Messages are per thread. */
#ifndef SELSA_STATUS_H
#define SELSA_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum selsa_status {
    SELSA_OK = 0,
    SELSA_ERR_INVALID_ARG,   /* NULL pointer, bad hyperparameter, inconsistent arguments */
    SELSA_ERR_SHAPE,         /* tensor shapes do not match what the op needs */
    SELSA_ERR_OUT_OF_MEMORY, /* malloc failed or an arena is too small */
    SELSA_ERR_IO,            /* a file could not be opened / read / written */
    SELSA_ERR_FORMAT,        /* a file is corrupt, truncated or of the wrong kind */
    SELSA_ERR_UNSUPPORTED,   /* valid request this build/backend cannot serve */
    SELSA_ERR_NUMERIC,       /* NaN/Inf detected */
    SELSA_ERR_INTERNAL       /* a bug: an invariant of the library was broken */
} selsa_status;

/* Short constant name of a status, e.g. "SELSA_ERR_SHAPE". */
const char *selsa_status_name(selsa_status s);

/* The message recorded by the last failing call on this thread ("" if none). */
const char *selsa_last_error(void);

/* Record a message and return `s` (for `return selsa_error(SELSA_ERR_SHAPE, "...", ...)`). */
selsa_status selsa_error(selsa_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prepend context to the current message ("loading x.params: " + old) and return `s`. */
selsa_status selsa_error_context(selsa_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void selsa_error_clear(void);

/* Propagate a failing status unchanged. */
#define SELSA_TRY(expr)                              \
    do {                                             \
        selsa_status selsa_try_s_ = (expr);          \
        if (selsa_try_s_ != SELSA_OK) return selsa_try_s_; \
    } while (0)

/* ---- logging: the library reports warnings/progress only through this callback ---- */
typedef enum selsa_log_level {
    SELSA_LOG_DEBUG = 0,
    SELSA_LOG_INFO = 1,
    SELSA_LOG_WARN = 2,
    SELSA_LOG_ERROR = 3
} selsa_log_level;

typedef void (*selsa_log_fn)(selsa_log_level level, const char *message, void *user);

/* Install a log sink (NULL: discard everything, the default). Not thread-safe against
 * concurrent selsa_log calls; set it once at start-up. */
void selsa_log_set(selsa_log_fn fn, void *user);
void selsa_log(selsa_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif
#endif
