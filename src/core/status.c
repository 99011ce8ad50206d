#include "selsa/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { SELSA_ERROR_CAP = 1024 };
static _Thread_local char error_message[SELSA_ERROR_CAP];

static selsa_log_fn log_fn;
static void *log_user;

const char *selsa_status_name(selsa_status s) {
    switch (s) {
    case SELSA_OK: return "SELSA_OK";
    case SELSA_ERR_INVALID_ARG: return "SELSA_ERR_INVALID_ARG";
    case SELSA_ERR_SHAPE: return "SELSA_ERR_SHAPE";
    case SELSA_ERR_OUT_OF_MEMORY: return "SELSA_ERR_OUT_OF_MEMORY";
    case SELSA_ERR_IO: return "SELSA_ERR_IO";
    case SELSA_ERR_FORMAT: return "SELSA_ERR_FORMAT";
    case SELSA_ERR_UNSUPPORTED: return "SELSA_ERR_UNSUPPORTED";
    case SELSA_ERR_NUMERIC: return "SELSA_ERR_NUMERIC";
    case SELSA_ERR_INTERNAL: return "SELSA_ERR_INTERNAL";
    }
    return "SELSA_ERR_UNKNOWN";
}

const char *selsa_last_error(void) { return error_message; }

void selsa_error_clear(void) { error_message[0] = '\0'; }

selsa_status selsa_error(selsa_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    return s;
}

selsa_status selsa_error_context(selsa_status s, const char *fmt, ...) {
    char old[SELSA_ERROR_CAP];
    memcpy(old, error_message, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    size_t used = (size_t)n < sizeof error_message ? (size_t)n : sizeof error_message - 1;
    size_t room = sizeof error_message - used;
    if (room > 2) {
        memcpy(error_message + used, ": ", 2);
        used += 2, room -= 2;
        size_t len = strnlen(old, room - 1);
        memcpy(error_message + used, old, len);
        error_message[used + len] = '\0';
    }
    return s;
}

void selsa_log_set(selsa_log_fn fn, void *user) {
    log_fn = fn;
    log_user = user;
}

void selsa_log(selsa_log_level level, const char *fmt, ...) {
    if (!log_fn) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_fn(level, buf, log_user);
}
