/* selsa convert IN OUT: convert weight files between MXNet .params and PyTorch .pth (zip or legacy
 * torch.save layout), with optional renaming by prefix. Naming rules in usage() and the README. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "selsa/weights.h"
#include "selsa/weights_pth.h"

static void usage(void) {
    printf("usage: selsa convert IN OUT [--format params|pth|pth-legacy] [--strip-prefix P] [--add-prefix P]\n"
           "                     [--keep-num-batches-tracked] [--archive-name NAME] [--quiet]\n\n"
           "Reads any supported weight file IN (MXNet .params, PyTorch .pth zip or legacy; detected from the\n"
           "content) and writes OUT in the format given by --format, or else by OUT's extension:\n"
           "  .params          MXNet V2 NDArray list, float32, names with arg:/aux: prefixes\n"
           "  .pth .pt .pth.tar PyTorch state dict, torch.save zip layout (loads with torch.load;\n"
           "                   --format pth-legacy writes the pre-1.6 layout, which has no 4 GiB limit)\n"
           "Names:\n"
           "  .params -> .pth  the arg:/aux: prefix is dropped: state-dict keys are bare names.\n"
           "  .pth -> .params  names ending in running_mean, running_var, moving_mean or moving_var\n"
           "                   become aux:NAME, everything else arg:NAME. BatchNorm's num_batches_tracked\n"
           "                   (an int64 step counter MXNet has no counterpart for, unused at inference)\n"
           "                   is dropped with a note, unless --keep-num-batches-tracked (then aux:, float32).\n"
           "  --strip-prefix P removes P from the start of every name that has it (others unchanged);\n"
           "  --add-prefix P   then prepends P to every name, e.g. --strip-prefix detector. or\n"
           "                   --add-prefix detector. to move between MMTracking and bare detector keys.\n"
           "Values are copied bit-exactly as float32. Integer tensors of a .pth (num_batches_tracked) stay\n"
           "int64 in a .pth output. meta.CLASSES of a .pth is kept in a .pth output ({\"meta\": {\"CLASSES\"},\n"
           "\"state_dict\"}) and dropped, with a note, in a .params output. OUT is written atomically.\n\n"
           "exit codes: 0 ok, 2 usage (bad option, unknown output format, names that collide or cannot be\n"
           "stored), 3 OUT cannot be written, 4 IN unreadable or corrupt, 5 internal error / out of memory\n");
}

typedef enum { OUT_UNKNOWN, OUT_PARAMS, OUT_PTH, OUT_PTH_LEGACY } out_format;

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static out_format format_from_name(const char *f) {
    if (!strcmp(f, "params") || !strcmp(f, "mxnet")) return OUT_PARAMS;
    if (!strcmp(f, "pth") || !strcmp(f, "pth-zip") || !strcmp(f, "torch")) return OUT_PTH;
    if (!strcmp(f, "pth-legacy")) return OUT_PTH_LEGACY;
    return OUT_UNKNOWN;
}

static out_format format_from_path(const char *p) {
    if (ends_with(p, ".params")) return OUT_PARAMS;
    if (ends_with(p, ".pth") || ends_with(p, ".pt") || ends_with(p, ".pth.tar") || ends_with(p, ".ckpt")) return OUT_PTH;
    return OUT_UNKNOWN;
}

static const char *out_format_name(out_format f) {
    return f == OUT_PARAMS ? "mxnet-params" : f == OUT_PTH ? "pth-zip" : "pth-legacy";
}

int selsa_cmd_convert(int argc, char **argv) {
    if (selsa_cli_wants_help(argc, argv)) {
        usage();
        return SELSA_EXIT_OK;
    }
    const char *in = NULL, *out = NULL, *fmt = NULL, *strip = NULL, *add = NULL, *archive = NULL;
    int quiet = 0, keep_nbt = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **val = !strcmp(a, "--format") || !strcmp(a, "-f") ? &fmt
                           : !strcmp(a, "--strip-prefix")              ? &strip
                           : !strcmp(a, "--add-prefix")                ? &add
                           : !strcmp(a, "--archive-name")              ? &archive
                                                                       : NULL;
        if (val) {
            if (i + 1 >= argc) return selsa_cli_usage_error("convert", "%s needs a value", a);
            *val = argv[++i];
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            quiet = 1;
        } else if (!strcmp(a, "--keep-num-batches-tracked")) {
            keep_nbt = 1;
        } else if (a[0] == '-' && a[1]) {
            return selsa_cli_usage_error("convert", "unknown option '%s'", a);
        } else if (!in) {
            in = a;
        } else if (!out) {
            out = a;
        } else {
            return selsa_cli_usage_error("convert", "too many arguments ('%s'): expected IN OUT", a);
        }
    }
    if (!in || !out) return selsa_cli_usage_error("convert", "missing %s", in ? "OUT" : "IN and OUT");
    out_format of = fmt ? format_from_name(fmt) : format_from_path(out);
    if (of == OUT_UNKNOWN) {
        if (fmt) return selsa_cli_usage_error("convert", "unknown --format '%s' (params, pth or pth-legacy)", fmt);
        return selsa_cli_usage_error("convert", "cannot tell the output format from '%s': name it .params or .pth, or "
                                     "pass --format params|pth|pth-legacy", out);
    }
    if (strip && !*strip) return selsa_cli_usage_error("convert", "--strip-prefix needs a non-empty prefix");
    selsa_cli_install_logger(quiet);

    selsa_weights src, dst;
    selsa_weights_init(&src);
    selsa_weights_init(&dst);
    selsa_status s = selsa_weights_load(in, &src);
    if (s != SELSA_OK) {
        selsa_weights_free(&src);
        return selsa_cli_fail("convert", s, SELSA_EXIT_MODEL);
    }
    int to_params = of == OUT_PARAMS;
    int64_t dropped = 0, stripped = 0;
    size_t sl = strip ? strlen(strip) : 0, al = add ? strlen(add) : 0;
    char *name = NULL;
    size_t name_cap = 0;
    int rc = SELSA_EXIT_OK;
    for (int64_t i = 0; i < src.count; i++) {
        selsa_weight *t = &src.items[i];
        if (to_params && !keep_nbt && selsa_weights_is_num_batches_tracked(t->name)) {
            dropped++;
            continue;
        }
        const char *base = t->name;
        if (strip && strncmp(base, strip, sl) == 0) {
            base += sl;
            stripped++;
        }
        size_t need = al + strlen(base) + 1;
        if (need > name_cap) {
            free(name);
            name_cap = need * 2;
            name = malloc(name_cap);
            if (!name) {
                fprintf(stderr, "selsa convert: error: out of memory\n");
                rc = SELSA_EXIT_INTERNAL;
                break;
            }
        }
        snprintf(name, name_cap, "%s%s", add ? add : "", base);
        if (!name[0]) {
            rc = selsa_cli_usage_error("convert", "--strip-prefix '%s' leaves tensor '%s' without a name", strip, t->name);
            break;
        }
        /* MXNet "none" (ndim 0, numel 0): selsa_weights_add makes every 0-dim entry a scalar, so add
         * it with a dummy value and make it "none" again */
        static const float dummy = 0.0f;
        int none = t->ndim == 0 && t->numel == 0;
        s = selsa_weights_add(&dst, name, t->ndim, t->dims, none ? &dummy : t->data, t->src_dtype);
        if (s != SELSA_OK) {
            rc = selsa_cli_fail("convert", s, SELSA_EXIT_MODEL);
            break;
        }
        selsa_weight *d = &dst.items[dst.count - 1];
        if (d->kind == SELSA_WEIGHT_PLAIN) d->kind = t->kind; /* keep arg:/aux: of a .params input */
        if (none) {
            free(d->data);
            d->data = NULL;
            d->numel = 0;
        }
        free(t->data); /* keep peak memory at about one copy of the weights */
        t->data = NULL;
    }
    free(name);
    if (rc == SELSA_EXIT_OK && strip && stripped == 0)
        fprintf(stderr, "selsa convert: note: no tensor name starts with '%s'; nothing stripped\n", strip);
    if (rc == SELSA_EXIT_OK && src.n_classes > 0) {
        if (to_params) {
            if (!quiet) printf("note: %d class names (meta.CLASSES) dropped: .params files cannot hold them\n", src.n_classes);
        } else {
            dst.class_names = calloc((size_t)src.n_classes, sizeof *dst.class_names);
            if (!dst.class_names) {
                fprintf(stderr, "selsa convert: error: out of memory\n");
                rc = SELSA_EXIT_INTERNAL;
            } else { /* hand the strings over */
                memcpy(dst.class_names, src.class_names, (size_t)src.n_classes * sizeof *dst.class_names);
                dst.n_classes = src.n_classes;
                src.n_classes = 0;
            }
        }
    }
    int64_t n_aux = 0;
    if (rc == SELSA_EXIT_OK) {
        if (to_params) {
            n_aux = selsa_weights_assign_mxnet_kinds(&dst);
            dst.unnamed = src.unnamed && !strip && !add;
            s = selsa_weights_save_params(out, &dst);
        } else {
            selsa_pth_write_options o = {.layout = of == OUT_PTH_LEGACY ? SELSA_PTH_LAYOUT_LEGACY : SELSA_PTH_LAYOUT_ZIP,
                                         .archive_name = archive};
            s = selsa_weights_save_pth(out, &dst, &o);
        }
        if (s != SELSA_OK) rc = selsa_cli_fail("convert", s, SELSA_EXIT_INPUT);
    }
    if (rc == SELSA_EXIT_OK) {
        selsa_weights_summary sum;
        selsa_weights_summarize(&dst, &sum);
        struct stat st;
        long long fsize = stat(out, &st) == 0 ? (long long)st.st_size : -1;
        printf("%s (%s, %lld tensors) -> %s (%s): %lld tensors, %lld values, %.1f MB written\n", in,
               selsa_weights_format_name(src.format), (long long)src.count, out, out_format_name(of),
               (long long)sum.count, (long long)sum.total_numel, fsize / 1e6);
        if (to_params) printf("  %lld arg:, %lld aux:\n", (long long)(dst.count - n_aux), (long long)n_aux);
        if (dropped) printf("  note: %lld num_batches_tracked tensors dropped (MXNet has none; "
                            "--keep-num-batches-tracked keeps them)\n", (long long)dropped);
        if (strip) printf("  --strip-prefix '%s' applied to %lld names\n", strip, (long long)stripped);
        if (add) printf("  --add-prefix '%s' applied to %lld names\n", add, (long long)dst.count);
    }
    selsa_weights_free(&src);
    selsa_weights_free(&dst);
    return rc;
}
