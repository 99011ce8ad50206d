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
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct seed {
    uint8_t *p;
    size_t n;
} seed;

static seed *seeds;
static size_t n_seeds, cap_seeds;
static const uint8_t *cur_data;
static size_t cur_size;

static void dump_current(void) {
    int fd = open("fuzz_weights-crash.bin", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    size_t off = 0;
    while (cur_data && off < cur_size) {
        ssize_t k = write(fd, cur_data + off, cur_size - off);
        if (k <= 0) break;
        off += (size_t)k;
    }
    close(fd);
    static const char msg[] = "fuzz_weights: crashing input written to fuzz_weights-crash.bin\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
}

static void on_signal(int sig) {
    dump_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ASan/UBSan call this before exiting on an error (weak: absent without sanitizers). */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static void add_seed(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (64 << 20)) return;
    FILE *f = fopen(path, "rb");
    if (!f) return;
    uint8_t *p = malloc((size_t)st.st_size + 1);
    size_t n = p ? fread(p, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!p) return;
    if (n_seeds == cap_seeds) {
        cap_seeds = cap_seeds ? cap_seeds * 2 : 64;
        seeds = realloc(seeds, cap_seeds * sizeof *seeds);
        if (!seeds) exit(2);
    }
    seeds[n_seeds++] = (seed){p, n};
}

static void add_path(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "fuzz_weights: cannot stat %s\n", path);
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        add_seed(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    char buf[4096];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(buf, sizeof buf, "%s/%s", path, e->d_name);
        add_seed(buf);
    }
    closedir(d);
}

static uint64_t rs;
static uint64_t rnd(void) { /* splitmix64 */
    uint64_t z = (rs += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

/* Mutate buf (n bytes, capacity cap) in place; returns the new size. */
static size_t mutate(uint8_t *buf, size_t n, size_t cap) {
    static const uint64_t interesting[] = {0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff,
                                           0x80000000u, 0xffffffffu, 0x100000000ull, 0x7fffffffffffffffull,
                                           0x8000000000000000ull, 0xffffffffffffffffull, 64, 1000, 4096};
    int rounds = 1 + (int)below(4);
    for (int r = 0; r < rounds; r++) {
        switch (below(9)) {
        case 0: case 1: /* bit flip */
            if (n) buf[below(n)] ^= (uint8_t)(1u << below(8));
            break;
        case 2: /* random byte */
            if (n) buf[below(n)] = (uint8_t)rnd();
            break;
        case 3: { /* interesting 1/2/4/8-byte value */
            size_t w = (size_t)1 << below(4);
            if (n >= w) {
                uint64_t v = interesting[below(sizeof interesting / sizeof interesting[0])];
                memcpy(buf + below(n - w + 1), &v, w);
            }
            break;
        }
        case 4: /* truncate */
            if (n) n = below(n + 1);
            break;
        case 5: { /* delete a chunk */
            if (n < 2) break;
            size_t a = below(n), len = 1 + below(n - a < 64 ? n - a : 64);
            memmove(buf + a, buf + a + len, n - a - len);
            n -= len;
            break;
        }
        case 6: { /* duplicate a chunk */
            if (!n) break;
            size_t a = below(n), len = 1 + below(n - a < 64 ? n - a : 64);
            if (n + len > cap) break;
            size_t at = below(n + 1);
            memmove(buf + at + len, buf + at, n - at);
            memmove(buf + at, buf + (a + len <= at ? a : a), len);
            n += len;
            break;
        }
        case 7: { /* splice a chunk from another seed */
            const seed *o = &seeds[below(n_seeds)];
            if (!o->n || !n) break;
            size_t a = below(o->n), len = 1 + below(o->n - a < 256 ? o->n - a : 256);
            size_t at = below(n);
            if (at + len > cap) len = cap - at;
            memcpy(buf + at, o->p + a, len);
            if (at + len > n) n = at + len;
            break;
        }
        case 8: { /* insert a random pickle opcode byte */
            if (n + 1 > cap) break;
            size_t at = below(n + 1);
            memmove(buf + at + 1, buf + at, n - at);
            buf[at] = (uint8_t)"()0123NJKMXqrhjtsueabRQc.}]\x80\x85\x86\x87\x88\x89\x8a\x8c\x93\x94\x95"[below(35)];
            n++;
            break;
        }
        }
    }
    return n;
}

static void run_one(const uint8_t *p, size_t n) {
    /* exact-size heap copy so ASan sees any over-read */
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) exit(2);
    memcpy(copy, p, n);
    cur_data = copy;
    cur_size = n;
    LLVMFuzzerTestOneInput(copy, n);
    cur_data = NULL;
    free(copy);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    double seconds = 10;
    uint64_t seed_val = 1;
    int quiet = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "-s") && i + 1 < argc) seed_val = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-q")) quiet = 1;
        else {
            fprintf(stderr, "usage: %s [-t SECONDS] [-s SEED] [-q] CORPUS_DIR_OR_FILE...\n", argv[0]);
            return 2;
        }
    }
    for (; i < argc; i++) add_path(argv[i]);
    if (!n_seeds) {
        static const uint8_t empty[1] = {0};
        add_seed("/dev/null");
        if (!n_seeds) {
            seeds = malloc(sizeof *seeds);
            seeds[0] = (seed){(uint8_t *)empty, 0};
            n_seeds = 1;
        }
    }
    signal(SIGSEGV, on_signal);
    signal(SIGBUS, on_signal);
    signal(SIGABRT, on_signal);
    signal(SIGFPE, on_signal);
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(dump_current);
    rs = seed_val;
    size_t max_n = 0;
    for (size_t s = 0; s < n_seeds; s++) {
        run_one(seeds[s].p, seeds[s].n);
        if (seeds[s].n > max_n) max_n = seeds[s].n;
    }
    size_t cap = max_n + 4096;
    uint8_t *buf = malloc(cap);
    if (!buf) return 2;
    double t0 = now(), last = t0;
    uint64_t iters = 0;
    while (now() - t0 < seconds) {
        const seed *s = &seeds[below(n_seeds)];
        memcpy(buf, s->p, s->n);
        size_t n = mutate(buf, s->n, cap);
        run_one(buf, n);
        iters++;
        if (!quiet && now() - last > 5) {
            last = now();
            fprintf(stderr, "fuzz_weights: %llu runs, %.0f s\n", (unsigned long long)iters, last - t0);
        }
    }
    printf("fuzz_weights: %zu seeds replayed, %llu mutated runs in %.1f s, no crash\n", n_seeds,
           (unsigned long long)iters, now() - t0);
    free(buf);
    return 0;
}
#endif
