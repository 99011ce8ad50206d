/* Standalone fuzz driver shared by tests/fuzz/fuzz_*.c (plain gcc, no libFuzzer): include it after
 * defining LLVMFuzzerTestOneInput, outside SELSA_FUZZ_LIBFUZZER builds, and call fuzz_main.
 *
 *   NAME [-t SECONDS] [-s SEED] [-q] [CORPUS_DIR_OR_FILE...]
 * loads the given files (a folder: its files not starting with '.'), lets the harness add its own
 * seeds, replays every seed once, then mutates random seeds (bit flips, random bytes, interesting
 * 1/2/4/8-byte values, truncation, chunk delete/duplicate, splicing from another seed, and one
 * format-specific insertion given by the harness) until SECONDS elapse (default 10). Each input is
 * run from an exact-size heap copy so ASan sees any over-read. A crash (signal, or the sanitizer
 * death callback) writes the input to NAME-crash.bin. Exit status 0 when no crash happened, 2 on a
 * usage error.
 *
 * Header-only (static functions): `make fuzz` compiles each harness with its list of library
 * sources into its own program. */
#ifndef SELSA_FUZZ_DRIVER_H
#define SELSA_FUZZ_DRIVER_H

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a harness gives the driver. */
typedef struct fuzz_harness {
    const char *name; /* program name: messages and NAME-crash.bin */
    /* mutation 8 of 9: a format-specific insertion into buf (n bytes, capacity cap); returns the
     * new size. Draws its random numbers with fuzz_below/fuzz_rnd. */
    size_t (*insert)(uint8_t *buf, size_t n, size_t cap);
    /* called after the corpus files are loaded: add built-in seeds (fuzz_add_mem_seed); NULL: none */
    void (*add_seeds)(void);
    /* appended to the final summary line (before the newline); NULL: nothing */
    void (*report)(FILE *out);
} fuzz_harness;

typedef struct fuzz_seed {
    uint8_t *p;
    size_t n;
} fuzz_seed;

static fuzz_seed *fuzz_seeds;
static size_t fuzz_n_seeds, fuzz_cap_seeds;
static const uint8_t *fuzz_cur_data;
static size_t fuzz_cur_size;
static char fuzz_crash_path[256], fuzz_crash_msg[512];

/* Writes the input being run to NAME-crash.bin (async-signal-safe: open/write/close only). */
static void fuzz_dump_current(void) {
    int fd = open(fuzz_crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    size_t off = 0;
    while (fuzz_cur_data && off < fuzz_cur_size) {
        ssize_t k = write(fd, fuzz_cur_data + off, fuzz_cur_size - off);
        if (k <= 0) break;
        off += (size_t)k;
    }
    close(fd);
    ssize_t r = write(2, fuzz_crash_msg, strlen(fuzz_crash_msg));
    (void)r;
}

static void fuzz_on_signal(int sig) {
    fuzz_dump_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ASan/UBSan call this before exiting on an error (weak: absent without sanitizers). */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static void fuzz_push_seed(uint8_t *p, size_t n) {
    if (fuzz_n_seeds == fuzz_cap_seeds) {
        fuzz_cap_seeds = fuzz_cap_seeds ? fuzz_cap_seeds * 2 : 64;
        fuzz_seeds = realloc(fuzz_seeds, fuzz_cap_seeds * sizeof *fuzz_seeds);
        if (!fuzz_seeds) exit(2);
    }
    fuzz_seeds[fuzz_n_seeds++] = (fuzz_seed){p, n};
}

/* A regular file of at most 64 MiB as a seed (anything else is ignored). */
static void fuzz_add_seed(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (64 << 20)) return;
    FILE *f = fopen(path, "rb");
    if (!f) return;
    uint8_t *p = malloc((size_t)st.st_size + 1);
    size_t n = p ? fread(p, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!p) return;
    fuzz_push_seed(p, n);
}

/* A copy of p[0..n) as a seed. */
static inline void fuzz_add_mem_seed(const void *p, size_t n) {
    uint8_t *q = malloc(n ? n : 1);
    if (!q) exit(2);
    memcpy(q, p, n);
    fuzz_push_seed(q, n);
}

static void fuzz_add_path(const char *name, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "%s: cannot stat %s\n", name, path);
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        fuzz_add_seed(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    char buf[4096];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(buf, sizeof buf, "%s/%s", path, e->d_name);
        fuzz_add_seed(buf);
    }
    closedir(d);
}

static uint64_t fuzz_rs;
static inline uint64_t fuzz_rnd(void) { /* splitmix64 */
    uint64_t z = (fuzz_rs += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline size_t fuzz_below(size_t n) { return n ? (size_t)(fuzz_rnd() % n) : 0; }

/* Mutate buf (n bytes, capacity cap) in place; returns the new size. */
static size_t fuzz_mutate(const fuzz_harness *h, uint8_t *buf, size_t n, size_t cap) {
    static const uint64_t interesting[] = {0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff,
                                           0x80000000u, 0xffffffffu, 0x100000000ull, 0x7fffffffffffffffull,
                                           0x8000000000000000ull, 0xffffffffffffffffull, 64, 1000, 4096};
    int rounds = 1 + (int)fuzz_below(4);
    for (int r = 0; r < rounds; r++) {
        switch (fuzz_below(9)) {
        case 0: case 1: /* bit flip */
            if (n) buf[fuzz_below(n)] ^= (uint8_t)(1u << fuzz_below(8));
            break;
        case 2: /* random byte */
            if (n) buf[fuzz_below(n)] = (uint8_t)fuzz_rnd();
            break;
        case 3: { /* interesting 1/2/4/8-byte value */
            size_t w = (size_t)1 << fuzz_below(4);
            if (n >= w) {
                uint64_t v = interesting[fuzz_below(sizeof interesting / sizeof interesting[0])];
                memcpy(buf + fuzz_below(n - w + 1), &v, w);
            }
            break;
        }
        case 4: /* truncate */
            if (n) n = fuzz_below(n + 1);
            break;
        case 5: { /* delete a chunk */
            if (n < 2) break;
            size_t a = fuzz_below(n), len = 1 + fuzz_below(n - a < 64 ? n - a : 64);
            memmove(buf + a, buf + a + len, n - a - len);
            n -= len;
            break;
        }
        case 6: { /* duplicate a chunk */
            if (!n) break;
            size_t a = fuzz_below(n), len = 1 + fuzz_below(n - a < 64 ? n - a : 64);
            if (n + len > cap) break;
            size_t at = fuzz_below(n + 1);
            memmove(buf + at + len, buf + at, n - at);
            memmove(buf + at, buf + (a + len <= at ? a : a), len);
            n += len;
            break;
        }
        case 7: { /* splice a chunk from another seed */
            const fuzz_seed *o = &fuzz_seeds[fuzz_below(fuzz_n_seeds)];
            if (!o->n || !n) break;
            size_t a = fuzz_below(o->n), len = 1 + fuzz_below(o->n - a < 256 ? o->n - a : 256);
            size_t at = fuzz_below(n);
            if (at + len > cap) len = cap - at;
            memcpy(buf + at, o->p + a, len);
            if (at + len > n) n = at + len;
            break;
        }
        case 8: /* format-specific insertion */
            n = h->insert(buf, n, cap);
            break;
        }
    }
    return n;
}

static void fuzz_run_one(const uint8_t *p, size_t n) {
    /* exact-size heap copy so ASan sees any over-read */
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) exit(2);
    memcpy(copy, p, n);
    fuzz_cur_data = copy;
    fuzz_cur_size = n;
    LLVMFuzzerTestOneInput(copy, n);
    fuzz_cur_data = NULL;
    free(copy);
}

static double fuzz_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fuzz_main(const fuzz_harness *h, int argc, char **argv) {
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
    for (; i < argc; i++) fuzz_add_path(h->name, argv[i]);
    if (h->add_seeds) h->add_seeds();
    snprintf(fuzz_crash_path, sizeof fuzz_crash_path, "%s-crash.bin", h->name);
    snprintf(fuzz_crash_msg, sizeof fuzz_crash_msg, "%s: crashing input written to %s\n", h->name,
             fuzz_crash_path);
    signal(SIGSEGV, fuzz_on_signal);
    signal(SIGBUS, fuzz_on_signal);
    signal(SIGABRT, fuzz_on_signal);
    signal(SIGFPE, fuzz_on_signal);
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(fuzz_dump_current);
    fuzz_rs = seed_val;
    size_t max_n = 0;
    for (size_t s = 0; s < fuzz_n_seeds; s++) {
        fuzz_run_one(fuzz_seeds[s].p, fuzz_seeds[s].n);
        if (fuzz_seeds[s].n > max_n) max_n = fuzz_seeds[s].n;
    }
    size_t cap = max_n + 4096;
    uint8_t *buf = malloc(cap);
    if (!buf) return 2;
    double t0 = fuzz_now(), last = t0;
    uint64_t iters = 0;
    while (fuzz_now() - t0 < seconds) {
        const fuzz_seed *s = &fuzz_seeds[fuzz_below(fuzz_n_seeds)];
        memcpy(buf, s->p, s->n);
        size_t n = fuzz_mutate(h, buf, s->n, cap);
        fuzz_run_one(buf, n);
        iters++;
        if (!quiet && fuzz_now() - last > 5) {
            last = fuzz_now();
            fprintf(stderr, "%s: %llu runs, %.0f s\n", h->name, (unsigned long long)iters, last - t0);
        }
    }
    printf("%s: %zu seeds replayed, %llu mutated runs in %.1f s, no crash", h->name, fuzz_n_seeds,
           (unsigned long long)iters, fuzz_now() - t0);
    if (h->report) h->report(stdout);
    printf("\n");
    free(buf);
    return 0;
}

#endif
