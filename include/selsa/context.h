/* selsa — the execution context: which backend runs the ops, the thread policy, the scratch
 * arena.
 *
 * Thread policy (docs/ARCHITECTURE.md, "Threads"): one number, ctx->n_threads, bounds both
 * OpenBLAS and the library's own OpenMP loops; it defaults to the number of online cores and
 * is never larger. The library links the OpenMP build of OpenBLAS so both share one libgomp
 * pool, and BLAS is never called from inside an OpenMP parallel region (selsa_sgemm checks). */
#ifndef SELSA_CONTEXT_H
#define SELSA_CONTEXT_H

#include "selsa/arena.h"
#include "selsa/rng.h"
#include "selsa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum selsa_backend_kind { SELSA_BACKEND_CPU = 0, SELSA_BACKEND_CUDA = 1 } selsa_backend_kind;

struct selsa_backend; /* op tables, src/backend/backend.h */

typedef struct selsa_ctx {
    const struct selsa_backend *backend;
    int n_threads;          /* threads for BLAS and OpenMP loops, 1..cores */
    selsa_arena scratch;    /* op-local temporaries; ops rewind to their entry mark */
} selsa_ctx;

/* scratch_bytes: size of the scratch arena (0 picks 64 MiB). n_threads <= 0: all cores. */
selsa_status selsa_ctx_init(selsa_ctx *ctx, selsa_backend_kind kind, size_t scratch_bytes,
                            int n_threads);
void selsa_ctx_free(selsa_ctx *ctx);

/* Make the scratch arena at least `bytes` large (reserve time only: fails with
 * SELSA_ERR_INTERNAL if scratch memory is in use, since growing moves it). `who` names the caller
 * in messages. */
selsa_status selsa_ctx_reserve_scratch(selsa_ctx *ctx, size_t bytes, const char *who);

/* Apply a thread count (clamped to [1, cores]) to OpenBLAS and OpenMP. */
void selsa_ctx_set_threads(selsa_ctx *ctx, int n_threads);
int selsa_cpu_cores(void);
/* Seconds of CLOCK_MONOTONIC (timing of phases, progress, ETA; never wall-clock dates). */
double selsa_monotonic_seconds(void);
/* kB value of a "Key:   123 kB" line of /proc/self/status (VmRSS, VmHWM, ...), -1 if absent
 * (no /proc, or no such key). For memory reports of benchmarks. */
long selsa_proc_status_kb(const char *key);

/* Name of the backend ("cpu") and the BLAS configuration string, for start-up banners. */
const char *selsa_ctx_backend_name(const selsa_ctx *ctx);
const char *selsa_blas_config(void);

#ifdef __cplusplus
}
#endif
#endif
