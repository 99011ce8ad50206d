/* selsa version: what this build is and how it will run. */
#include <stdio.h>

#include "cli.h"
#include "selsa/selsa.h"

int selsa_cmd_version(int argc, char **argv) {
    if (selsa_cli_wants_help(argc, argv)) {
        printf("usage: selsa version\n\nPrints the library version, the compute backend, the BLAS\n"
               "library and configuration, and the number of threads that will be used.\n");
        return SELSA_EXIT_OK;
    }
    selsa_ctx ctx;
    selsa_status s = selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, 1 << 20, 0);
    if (s != SELSA_OK) return selsa_cli_fail("version", s, SELSA_EXIT_INTERNAL);
    printf("selsa %s\nbackend: %s\nblas: %s\nthreads: %d of %d cores\n", SELSA_VERSION_STRING,
           selsa_ctx_backend_name(&ctx), selsa_blas_config(), ctx.n_threads, selsa_cpu_cores());
    selsa_ctx_free(&ctx);
    return SELSA_EXIT_OK;
}
