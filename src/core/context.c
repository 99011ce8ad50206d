#include <time.h>
#include "selsa/context.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"

/* OpenBLAS extensions (declared in its cblas.h for the Debian build, repeated for clarity). */
void openblas_set_num_threads(int num_threads);
char *openblas_get_config(void);

int selsa_cpu_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

void selsa_ctx_set_threads(selsa_ctx *ctx, int n_threads) {
    int cores = selsa_cpu_cores();
    if (n_threads <= 0 || n_threads > cores) n_threads = cores;
    ctx->n_threads = n_threads;
    openblas_set_num_threads(n_threads);
    omp_set_num_threads(n_threads);
    omp_set_max_active_levels(1); /* no nested parallel regions */
}

selsa_status selsa_ctx_init(selsa_ctx *ctx, selsa_backend_kind kind, size_t scratch_bytes,
                            int n_threads) {
    if (!ctx) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_ctx_init: ctx is NULL");
    memset(ctx, 0, sizeof *ctx);
    if (kind == SELSA_BACKEND_CPU) {
        ctx->backend = selsa_backend_cpu();
    } else {
        return selsa_error(SELSA_ERR_UNSUPPORTED,
                           "backend 'cuda' is not available in this build (CPU only)");
    }
    SELSA_TRY(selsa_arena_init(&ctx->scratch, "scratch", scratch_bytes ? scratch_bytes : (64u << 20)));
    selsa_ctx_set_threads(ctx, n_threads);
    return SELSA_OK;
}

selsa_status selsa_ctx_reserve_scratch(selsa_ctx *ctx, size_t bytes, const char *who) {
    if (!ctx) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: context is NULL", who);
    if (ctx->scratch.capacity >= bytes) return SELSA_OK;
    if (ctx->scratch.used != 0)
        return selsa_error(SELSA_ERR_INTERNAL, "%s: scratch arena in use while growing it", who);
    char name[sizeof ctx->scratch.name];
    snprintf(name, sizeof name, "%s", ctx->scratch.name[0] ? ctx->scratch.name : "scratch");
    selsa_arena_free(&ctx->scratch);
    return selsa_arena_init(&ctx->scratch, name, bytes);
}

void selsa_ctx_free(selsa_ctx *ctx) {
    if (!ctx) return;
    selsa_arena_free(&ctx->scratch);
    memset(ctx, 0, sizeof *ctx);
}

const char *selsa_ctx_backend_name(const selsa_ctx *ctx) {
    return ctx && ctx->backend ? ctx->backend->name : "none";
}

const char *selsa_blas_config(void) { return openblas_get_config(); }

double selsa_monotonic_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

long selsa_proc_status_kb(const char *key) {
    if (!key) return -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}
