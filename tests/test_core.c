/* Core: status/error messages, arenas (measure + real), tensors, RNG determinism, context. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "selsa/arena.h"
#include "selsa/context.h"
#include "selsa/fileio.h"
#include "selsa/rng.h"
#include "selsa/tensor.h"

static void test_arena(void) {
    selsa_arena m;
    selsa_arena_init_measure(&m, "m");
    void *p;
    TH_OK(selsa_arena_alloc(&m, 10, &p));
    TH_CHECK(p == NULL, "measuring arena returns NULL");
    selsa_tensor t;
    TH_OK(selsa_arena_tensor(&m, &t, 2, 3, 4, 5));
    TH_CHECK(m.peak == 64 + 512, "measured peak %zu", m.peak);

    selsa_arena a;
    TH_OK(selsa_arena_init(&a, "act", m.peak));
    TH_OK(selsa_arena_alloc(&a, 10, &p));
    TH_CHECK(((uintptr_t)p % SELSA_ARENA_ALIGN) == 0, "aligned");
    size_t mark = selsa_arena_mark(&a);
    TH_OK(selsa_arena_tensor(&a, &t, 2, 3, 4, 5));
    TH_CHECK(t.data && selsa_tensor_numel(&t) == 120, "tensor allocated");
    TH_FAILS(selsa_arena_alloc(&a, 1, &p), SELSA_ERR_OUT_OF_MEMORY);
    TH_CHECK(strstr(selsa_last_error(), "act") != NULL, "message names the arena: %s", selsa_last_error());
    selsa_arena_rewind(&a, mark);
    TH_OK(selsa_arena_alloc(&a, 480, &p));
    selsa_arena_reset(&a);
    TH_CHECK(a.used == 0 && a.peak == m.peak, "reset keeps peak");
    TH_FAILS(selsa_arena_tensor(&a, &t, -1, 1, 1, 1), SELSA_ERR_SHAPE);
    selsa_arena_free(&a);
}

static void test_tensor(void) {
    float buf[24];
    selsa_tensor t = selsa_tensor_view(buf, 1, 2, 3, 4);
    TH_OK(selsa_tensor_check(&t, "x", 1, 2, -1, 4));
    TH_FAILS(selsa_tensor_check(&t, "feature", 1, 3, 3, 4), SELSA_ERR_SHAPE);
    TH_CHECK(strstr(selsa_last_error(), "feature") != NULL, "names the tensor");
    selsa_tensor_fill(&t, 1.5f);
    TH_OK(selsa_tensor_check_finite(&t, "x"));
    buf[7] = NAN;
    TH_FAILS(selsa_tensor_check_finite(&t, "fc_new_1 grad"), SELSA_ERR_NUMERIC);
    selsa_tensor null_data = selsa_tensor_view(NULL, 1, 1, 1, 1);
    TH_FAILS(selsa_tensor_check(&null_data, "y", -1, -1, -1, -1), SELSA_ERR_INVALID_ARG);
}

static void test_rng(void) {
    selsa_rng a, b;
    selsa_rng_seed(&a, 42, 7);
    selsa_rng_seed(&b, 42, 7);
    bool same = true;
    for (int i = 0; i < 1000; i++) same &= selsa_rng_u32(&a) == selsa_rng_u32(&b);
    TH_CHECK(same, "same seed, same stream");
    selsa_rng_seed(&b, 43, 7);
    TH_CHECK(selsa_rng_u32(&a) != selsa_rng_u32(&b), "different seed differs");
    /* statistics of uniform / normal / below */
    double s = 0, s2 = 0;
    int counts[5] = {0};
    bool in_range = true;
    for (int i = 0; i < 100000; i++) {
        double u = selsa_rng_uniform(&a);
        in_range &= u >= 0 && u < 1;
        counts[selsa_rng_below(&a, 5)]++;
        double z = selsa_rng_normal(&a);
        s += z, s2 += z * z;
    }
    TH_CHECK(in_range, "uniform in [0,1)");
    TH_CHECK(fabs(s / 1e5) < 0.02 && fabs(s2 / 1e5 - 1) < 0.03, "normal moments %g %g", s / 1e5, s2 / 1e5);
    bool balanced = true;
    for (int k = 0; k < 5; k++) balanced &= abs(counts[k] - 20000) < 800;
    TH_CHECK(balanced, "below(5) balanced");
    int32_t v[10];
    for (int i = 0; i < 10; i++) v[i] = i;
    selsa_rng_shuffle_i32(&a, v, 10);
    int seen = 0;
    for (int i = 0; i < 10; i++) seen |= 1 << v[i];
    TH_CHECK(seen == 1023, "shuffle is a permutation");
    /* state save/restore reproduces the stream */
    selsa_rng saved = a;
    uint32_t x1 = selsa_rng_u32(&a);
    a = saved;
    TH_CHECK(selsa_rng_u32(&a) == x1, "restored state repeats");
}

static void test_ctx(void) {
    selsa_ctx ctx;
    TH_OK(selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, 1 << 20, 0));
    TH_CHECK(ctx.n_threads >= 1 && ctx.n_threads <= selsa_cpu_cores(), "threads bounded by cores");
    selsa_ctx_set_threads(&ctx, 1000);
    TH_CHECK(ctx.n_threads == selsa_cpu_cores(), "never oversubscribe");
    TH_CHECK(strcmp(selsa_ctx_backend_name(&ctx), "cpu") == 0, "cpu backend");
    TH_CHECK(strstr(selsa_blas_config(), "OpenBLAS") != NULL, "OpenBLAS linked: %s", selsa_blas_config());
    TH_OK(selsa_ctx_reserve_scratch(&ctx, 1 << 10, "test")); /* already large enough */
    TH_CHECK(ctx.scratch.capacity == (1u << 20), "no change when large enough");
    TH_OK(selsa_ctx_reserve_scratch(&ctx, 3u << 20, "test"));
    TH_CHECK(ctx.scratch.capacity >= (3u << 20) && !strcmp(ctx.scratch.name, "scratch"), "grown, name kept");
    void *p;
    TH_OK(selsa_arena_alloc(&ctx.scratch, 64, &p));
    TH_FAILS(selsa_ctx_reserve_scratch(&ctx, 8u << 20, "runner x"), SELSA_ERR_INTERNAL);
    TH_CHECK(strstr(selsa_last_error(), "runner x") != NULL, "names the caller");
    selsa_arena_reset(&ctx.scratch);
    selsa_ctx_free(&ctx);
    selsa_ctx bad;
    TH_FAILS(selsa_ctx_init(&bad, SELSA_BACKEND_CUDA, 0, 1), SELSA_ERR_UNSUPPORTED);
    /* /proc/self/status reader: this process has a resident set and a peak at least as large */
    long rss = selsa_proc_status_kb("VmRSS"), hwm = selsa_proc_status_kb("VmHWM");
    TH_CHECK(rss > 0 && hwm >= rss, "VmRSS %ld kB, VmHWM %ld kB", rss, hwm);
    TH_CHECK(selsa_proc_status_kb("VmRS") == -1 && selsa_proc_status_kb("NoSuchKey") == -1 &&
                 selsa_proc_status_kb(NULL) == -1,
             "a key prefix, an unknown key and NULL give -1");
}

static int write_hello(FILE *f, const void *user) { return fputs(user, f) < 0 ? -1 : 0; }

static void test_fileio(void) {
    char dir[] = "/tmp/selsa_core_XXXXXX";
    if (!mkdtemp(dir)) { TH_CHECK(0, "mkdtemp"); return; }
    char path[600], sub[300];
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    TH_OK(selsa_mkdirs(sub));
    snprintf(path, sizeof path, "%s/out.txt", sub);
    TH_OK(selsa_file_write_stream_atomic(path, write_hello, "hello\n"));
    char buf[16] = {0};
    FILE *f = fopen(path, "r");
    TH_CHECK(f && fread(buf, 1, sizeof buf - 1, f) == 6 && !strcmp(buf, "hello\n"), "atomic write content");
    if (f) fclose(f);
    char *tmp = NULL;
    int fd = -1;
    TH_OK(selsa_file_tmp_create(path, &tmp, &fd));
    TH_CHECK(tmp && fd >= 0 && write(fd, "x", 1) == 1, "temporary file created next to the target");
    if (fd >= 0) close(fd);
    TH_OK(selsa_file_tmp_commit(tmp, path));
    TH_CHECK(access(tmp, F_OK) != 0, "temporary name gone after commit");
    struct stat st;
    TH_CHECK(stat(path, &st) == 0 && st.st_size == 1, "commit replaced the target");
    free(tmp);
    TH_FAILS(selsa_file_write_stream_atomic("/proc/selsa_no/such", write_hello, "x"), SELSA_ERR_IO);
    char rm[300];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    TH_CHECK(system(rm) == 0, "cleanup");
}

int main(int argc, char **argv) {
    th_init(argc, argv, "core");
    test_arena();
    test_tensor();
    test_rng();
    test_ctx();
    test_fileio();
    return th_finish();
}
