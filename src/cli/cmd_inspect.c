/* selsa inspect FILE: list the tensors of a weight file (.params or .pth, detected by content). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "selsa/weights.h"

static void usage(void) {
    printf("usage: selsa inspect [--quiet] FILE\n\n"
           "Lists every tensor of a weight file: name, shape, stored dtype, and the totals.\n"
           "FILE may be an MXNet .params file (NDArray list, V1/V2/V3/legacy records) or a PyTorch\n"
           ".pth checkpoint (zip or legacy torch.save layout); the format is detected from the\n"
           "content, not the extension. MXNet names keep their arg:/aux: prefix in the listing.\n"
           "--quiet prints only the summary line.\n\n"
           "exit codes: 0 ok, 2 usage, 4 unreadable or corrupt file\n");
}

int selsa_cmd_inspect(int argc, char **argv) {
    if (selsa_cli_wants_help(argc, argv)) {
        usage();
        return SELSA_EXIT_OK;
    }
    const char *path = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) quiet = 1;
        else if (argv[i][0] == '-' && argv[i][1]) return selsa_cli_usage_error("inspect", "unknown option '%s'", argv[i]);
        else if (path) return selsa_cli_usage_error("inspect", "more than one FILE given");
        else path = argv[i];
    }
    if (!path) return selsa_cli_usage_error("inspect", "missing FILE");
    selsa_cli_install_logger(quiet);
    selsa_weights w;
    selsa_weights_init(&w);
    selsa_status s = selsa_weights_load(path, &w);
    if (s != SELSA_OK) {
        selsa_weights_free(&w);
        return selsa_cli_fail("inspect", s, SELSA_EXIT_MODEL);
    }
    if (!quiet) {
        char shape[128];
        for (int64_t i = 0; i < w.count; i++) {
            const selsa_weight *t = &w.items[i];
            const char *prefix = t->kind == SELSA_WEIGHT_ARG ? "arg:" : t->kind == SELSA_WEIGHT_AUX ? "aux:" : "";
            printf("%s%-60s %-22s %s\n", prefix, t->name, selsa_weight_shape_str(t, shape, sizeof shape),
                   selsa_dtype_name(t->src_dtype));
        }
        if (w.n_classes > 0) {
            printf("classes (%d):", w.n_classes);
            for (int c = 0; c < w.n_classes; c++) printf(" %s", w.class_names[c]);
            printf("\n");
        }
    }
    selsa_weights_summary sum;
    selsa_weights_summarize(&w, &sum);
    printf("%s: %s, %lld tensors, %lld values, %.1f MB stored, %.1f MB as float32\n", path,
           selsa_weights_format_name(w.format), (long long)sum.count, (long long)sum.total_numel,
           sum.total_bytes / 1e6, sum.f32_bytes / 1e6);
    selsa_weights_free(&w);
    return SELSA_EXIT_OK;
}
