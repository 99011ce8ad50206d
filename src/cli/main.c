/* selsa — command-line entry point: dispatches to the subcommands in src/cli/cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "selsa/selsa.h"

int selsa_cmd_version(int argc, char **argv);
int selsa_cmd_dump_aug(int argc, char **argv);
int selsa_cmd_inspect(int argc, char **argv);
int selsa_cmd_convert(int argc, char **argv);
int selsa_cmd_eval(int argc, char **argv);
int selsa_cmd_synth(int argc, char **argv);
int selsa_cmd_test(int argc, char **argv);
int selsa_cmd_init_weights(int argc, char **argv);
int selsa_cmd_detect(int argc, char **argv);
int selsa_cmd_train(int argc, char **argv);
int selsa_cmd_bench(int argc, char **argv);

static const selsa_cli_command commands[] = {
    {"bench", "measure inference speed on this machine: s/key frame, frames/s, memory (JSON too)", selsa_cmd_bench},
    {"convert", "convert weights between .params and .pth (zip/legacy), renaming by prefix", selsa_cmd_convert},
    {"detect", "detect objects in a video, frame folder or image list: JSON, annotated MP4/PNG", selsa_cmd_detect},
    {"dump-aug", "write a PNG grid of augmented training triplets (key + references, boxes drawn)", selsa_cmd_dump_aug},
    {"eval", "evaluate detections on an ILSVRC-layout dataset (mAP, slow/medium/fast)", selsa_cmd_eval},
    {"init-weights", "write initial (untrained) weights of a model preset (.params / .pth), optionally from ImageNet", selsa_cmd_init_weights},
    {"inspect", "list the tensors of a .params or .pth weight file", selsa_cmd_inspect},
    {"synth", "generate a synthetic ILSVRC-layout video dataset", selsa_cmd_synth},
    {"test", "official SELSA test on an ILSVRC-layout dataset: detect every frame, evaluate", selsa_cmd_test},
    {"train", "official end-to-end training from a YAML config: checkpoints, --resume, loss log/plot", selsa_cmd_train},
    {"version", "print version, backend, BLAS configuration and thread count", selsa_cmd_version},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static void usage(FILE *out) {
    fprintf(out, "usage: selsa <command> [options]   (selsa <command> --help for details)\n\ncommands:\n");
    for (int i = 0; i < N_COMMANDS; i++) fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return SELSA_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return SELSA_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) argv[1] = "version";
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "selsa: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return SELSA_EXIT_USAGE;
}
