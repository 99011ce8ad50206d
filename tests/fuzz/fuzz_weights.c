/* Fuzz harness for the weight-file readers (MXNet .params, .pth zip, .pth legacy + pickle VM).
 *
 * libFuzzer:  clang -g -O1 -fsanitize=fuzzer,address,undefined -DSELSA_FUZZ_LIBFUZZER \
 *               -Iinclude -Isrc -D_GNU_SOURCE tests/fuzz/fuzz_weights.c src/io/weights.c \
 *               src/io/params.c src/io/pth.c src/io/pickle.c src/core/status.c -o fuzz_weights
 * standalone (plain gcc, no libFuzzer): the same without -DSELSA_FUZZ_LIBFUZZER and without
 *   "fuzzer," in -fsanitize; then
 *     fuzz_weights [-t SECONDS] [-s SEED] [-q] CORPUS_DIR_OR_FILE...
 *   replays every seed once, then mutates random seeds (bit flips, interesting values, 32/64-bit
 *   overwrites, truncation, chunk insert/delete/duplicate, splicing) until SECONDS elapse.
 *   If a run crashes, the input is written to fuzz_weights-crash.bin (signal / sanitizer death
 *   callback). Exit status 0 when no crash happened. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "selsa/weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    selsa_weights w;
    if (selsa_weights_load_mem(data, size, &w) == SELSA_OK) {
        /* touch every loaded float and exercise the dictionary helpers */
        volatile float sink = 0;
        for (int64_t i = 0; i < w.count; i++) {
            const selsa_weight *t = &w.items[i];
            for (int64_t j = 0; j < t->numel; j++) sink += t->data[j];
            if (selsa_weights_find(&w, t->name) == NULL) abort(); /* index must find every name */
        }
        for (int i = 0; i < w.n_classes; i++) sink += (float)strlen(w.class_names[i]);
        selsa_weights_summary s;
        selsa_weights_summarize(&w, &s);
        int n;
        if (selsa_weights_apply_test_rename(&w, &n) != SELSA_OK) abort();
        for (int64_t i = 0; i < w.count; i++)
            if (selsa_weights_find(&w, w.items[i].name) == NULL) abort();
        (void)sink;
    } else if (w.count != 0 || selsa_last_error()[0] == '\0') {
        abort(); /* a failure must leave an empty dictionary and a message */
    }
    selsa_weights_free(&w);
    return 0;
}

#ifndef SELSA_FUZZ_LIBFUZZER
#include "fuzz_driver.h"

/* mutation: insert a random pickle opcode byte */
static size_t insert_opcode(uint8_t *buf, size_t n, size_t cap) {
    if (n + 1 > cap) return n;
    size_t at = fuzz_below(n + 1);
    memmove(buf + at + 1, buf + at, n - at);
    buf[at] = (uint8_t)"()0123NJKMXqrhjtsueabRQc.}]\x80\x85\x86\x87\x88\x89\x8a\x8c\x93\x94\x95"[fuzz_below(35)];
    return n + 1;
}

/* no corpus: one empty input */
static void add_empty_seed(void) {
    if (fuzz_n_seeds) return;
    static const uint8_t empty[1] = {0};
    fuzz_add_seed("/dev/null");
    if (!fuzz_n_seeds) fuzz_push_seed((uint8_t *)empty, 0);
}

int main(int argc, char **argv) {
    const fuzz_harness h = {"fuzz_weights", insert_opcode, add_empty_seed, NULL};
    return fuzz_main(&h, argc, argv);
}
#endif
