/* selsa — operator benchmark: convolution forward against plain sgemm of the same GEMMs.
 *
 * For every distinct conv shape of
 *   - official SELSA ResNet-101 (Caffe style: stride on the 1×1 branch2a, res5 dilated 2 at
 *     stride 1; official-selsa.md §2) at a 562×1000 input, conv1 … res5c plus rpn_conv_3x3 and
 *     conv_new_1, and
 *   - MMTracking SELSA ResNet-50-DC5 (PyTorch style: stride on the 3×3 conv2, layer4 stride 1
 *     dilation 2 in every conv2; mmtracking-selsa.md §1.1, §2.6) at 576×1008, plus the
 *     ChannelMapper neck and rpn_conv,
 * it times selsa_conv2d_forward (bias + fused ReLU: the inference path with BN folded) and
 * cblas_sgemm of the same M = Cout/G, N = Ho·Wo, K = Cin/G·kh·kw (G calls), interleaved, and
 * reports medians, GFLOP/s, the ratio, and totals weighted by how often each shape occurs.
 *
 * Usage: bench_conv [--threads N] [--reps R] [--tsv FILE] [--list] [--net r101|r50]
 *   --list   print the shape list as TSV (read by bench/conv_torch.py) and exit */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "selsa/context.h"
#include "selsa/ops_dense.h"
#include "selsa/rng.h"

typedef struct shape {
    const char *net;  /* "r101" or "r50dc5" */
    char name[32];    /* first layer with this shape */
    int cin, cout, k, stride, pad, dil, groups, h, w;
    int count;        /* occurrences in one forward pass */
} shape;

enum { MAX_SHAPES = 128 };
static shape shapes[MAX_SHAPES];
static int n_shapes;

static void add(const char *net, const char *name, int cin, int cout, int k, int stride, int pad,
                int dil, int h, int w) {
    for (int i = 0; i < n_shapes; i++) {
        shape *s = &shapes[i];
        if (strcmp(s->net, net) == 0 && s->cin == cin && s->cout == cout && s->k == k &&
            s->stride == stride && s->pad == pad && s->dil == dil && s->h == h && s->w == w) {
            s->count++;
            return;
        }
    }
    if (n_shapes == MAX_SHAPES) { fprintf(stderr, "too many shapes\n"); exit(1); }
    shape *s = &shapes[n_shapes++];
    *s = (shape){net, "", cin, cout, k, stride, pad, dil, 1, h, w, 1};
    snprintf(s->name, sizeof s->name, "%s", name);
}

static int osz(int in, int k, int s, int p, int d) {
    return (int)selsa_conv2d_out_size(in, k, s, p, d);
}

/* Official ResNet-101 v1 (MXNet, Caffe style), official-selsa.md §2. */
static void build_r101(int H, int W) {
    const char *net = "r101";
    add(net, "conv1", 3, 64, 7, 2, 3, 1, H, W);
    int h = osz(H, 7, 2, 3, 1), w = osz(W, 7, 2, 3, 1);
    h = osz(h, 3, 2, 1, 1), w = osz(w, 3, 2, 1, 1); /* pool1 3x3 s2 p1 */
    const int units[4] = {3, 4, 23, 3}, mid[4] = {64, 128, 256, 512};
    int cin = 64;
    for (int st = 0; st < 4; st++) {
        int stride = (st == 1 || st == 2) ? 2 : 1, dil = st == 3 ? 2 : 1, out = mid[st] * 4;
        for (int u = 0; u < units[st]; u++) {
            char nm[32];
            int s = u == 0 ? stride : 1;
            int ho = osz(h, 1, s, 0, 1), wo = osz(w, 1, s, 0, 1);
            if (u == 0) {
                snprintf(nm, sizeof nm, "res%da_branch1", st + 2);
                add(net, nm, cin, out, 1, s, 0, 1, h, w);
            }
            const char *un = u == 0 ? "a" : (st == 0 || st == 3) ? (u == 1 ? "b" : "c") : "b";
            char unit[16];
            if (u == 0 || st == 0 || st == 3) snprintf(unit, sizeof unit, "%s", un);
            else snprintf(unit, sizeof unit, "b%d", u);
            snprintf(nm, sizeof nm, "res%d%s_branch2a", st + 2, unit);
            add(net, nm, cin, mid[st], 1, s, 0, 1, h, w); /* stride on the 1x1 (Caffe style) */
            snprintf(nm, sizeof nm, "res%d%s_branch2b", st + 2, unit);
            add(net, nm, mid[st], mid[st], 3, 1, dil, dil, ho, wo);
            snprintf(nm, sizeof nm, "res%d%s_branch2c", st + 2, unit);
            add(net, nm, mid[st], out, 1, 1, 0, 1, ho, wo);
            h = ho, w = wo, cin = out;
            if (st == 2 && u == units[st] - 1) add(net, "rpn_conv_3x3", 1024, 512, 3, 1, 1, 1, h, w);
        }
    }
    add(net, "conv_new_1", 2048, 256, 1, 1, 0, 1, h, w);
}

/* MMTracking/mmdet ResNet-50 DC5, pytorch style, + ChannelMapper neck + RPN conv. */
static void build_r50dc5(int H, int W) {
    const char *net = "r50dc5";
    add(net, "conv1", 3, 64, 7, 2, 3, 1, H, W);
    int h = osz(H, 7, 2, 3, 1), w = osz(W, 7, 2, 3, 1);
    h = osz(h, 3, 2, 1, 1), w = osz(w, 3, 2, 1, 1);
    const int blocks[4] = {3, 4, 6, 3}, planes[4] = {64, 128, 256, 512};
    const int strides[4] = {1, 2, 2, 1}, dils[4] = {1, 1, 1, 2};
    int cin = 64;
    for (int st = 0; st < 4; st++) {
        int out = planes[st] * 4;
        for (int b = 0; b < blocks[st]; b++) {
            char nm[32];
            int s = b == 0 ? strides[st] : 1, d = dils[st];
            int ho = osz(h, 3, s, d, d), wo = osz(w, 3, s, d, d);
            snprintf(nm, sizeof nm, "layer%d.%d.conv1", st + 1, b);
            add(net, nm, cin, planes[st], 1, 1, 0, 1, h, w);
            snprintf(nm, sizeof nm, "layer%d.%d.conv2", st + 1, b);
            add(net, nm, planes[st], planes[st], 3, s, d, d, h, w); /* stride on the 3x3 */
            snprintf(nm, sizeof nm, "layer%d.%d.conv3", st + 1, b);
            add(net, nm, planes[st], out, 1, 1, 0, 1, ho, wo);
            if (b == 0) {
                snprintf(nm, sizeof nm, "layer%d.0.downsample", st + 1);
                add(net, nm, cin, out, 1, s, 0, 1, h, w);
            }
            h = ho, w = wo, cin = out;
        }
    }
    add(net, "neck (ChannelMapper)", 2048, 512, 3, 1, 1, 1, h, w);
    add(net, "rpn_conv", 512, 512, 3, 1, 1, 1, h, w);
}

static double now_ms(void) { return selsa_monotonic_seconds() * 1e3; }

/* median of v[0..n); sorts v in place (v[0] is then the best) */
static double median(double *v, int n) {
    double med, mean;
    bench_median_mean(v, n, &med, &mean);
    return med;
}

static int r_reps(int reps) { return reps > 64 ? 64 : reps; }

static void fill(float *x, int64_t n, selsa_rng *r) {
    for (int64_t i = 0; i < n; i++) x[i] = selsa_rng_uniform_range(r, -1.0f, 1.0f);
}

int main(int argc, char **argv) {
    int threads = 2, reps = 5, list = 0;
    const char *tsv = NULL, *only = NULL;
    const bench_opt options[] = {{"--threads", BENCH_INT, &threads}, {"--reps", BENCH_INT, &reps},
                                 {"--tsv", BENCH_STR, &tsv},         {"--net", BENCH_STR, &only},
                                 {"--list", BENCH_FLAG, &list}};
    if (!bench_parse_args(argc, argv, options, (int)(sizeof options / sizeof options[0]))) {
        fprintf(stderr, "usage: %s [--threads N] [--reps R] [--tsv FILE] [--net r101|r50dc5] [--list]\n", argv[0]);
        return 2;
    }
    if (reps < 1) reps = 1;
    build_r101(562, 1000);
    build_r50dc5(576, 1008);
    if (list) {
        printf("net\tname\tcin\tcout\tk\tstride\tpad\tdil\tgroups\th\tw\tcount\n");
        for (int i = 0; i < n_shapes; i++) {
            shape *s = &shapes[i];
            printf("%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", s->net, s->name, s->cin, s->cout,
                   s->k, s->stride, s->pad, s->dil, s->groups, s->h, s->w, s->count);
        }
        return 0;
    }

    /* size everything for the largest shape */
    size_t max_in = 0, max_w = 0, max_out = 0, max_scratch = 0;
    for (int i = 0; i < n_shapes; i++) {
        shape *s = &shapes[i];
        int ho = osz(s->h, s->k, s->stride, s->pad, s->dil), wo = osz(s->w, s->k, s->stride, s->pad, s->dil);
        size_t ni = (size_t)s->cin * s->h * s->w, nw = (size_t)s->cout * s->cin / s->groups * s->k * s->k;
        size_t no = (size_t)s->cout * ho * wo;
        selsa_tensor ti = selsa_tensor_view(NULL, 1, s->cin, s->h, s->w);
        selsa_tensor tw = selsa_tensor_view(NULL, s->cout, s->cin / s->groups, s->k, s->k);
        selsa_conv2d_params p = {s->stride, s->stride, s->pad, s->pad, s->dil, s->dil, s->groups};
        size_t sc = selsa_conv2d_scratch_bytes(&ti, &tw, &p);
        size_t kb = (size_t)s->cin / s->groups * s->k * s->k * ho * wo; /* full column matrix for sgemm */
        if (ni > max_in) max_in = ni;
        if (nw > max_w) max_w = nw;
        if (no > max_out) max_out = no;
        if (kb > max_in) max_in = kb;
        if (sc > max_scratch) max_scratch = sc;
    }
    selsa_ctx ctx;
    if (selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, max_scratch + 4096, threads) != SELSA_OK) {
        fprintf(stderr, "ctx: %s\n", selsa_last_error());
        return 1;
    }
    float *in = malloc(max_in * sizeof(float)), *wt = malloc(max_w * sizeof(float));
    float *out = malloc(max_out * sizeof(float)), *bias = malloc(4096 * sizeof(float));
    selsa_rng rng;
    selsa_rng_seed(&rng, 1, 1);
    fill(in, (int64_t)max_in, &rng), fill(wt, (int64_t)max_w, &rng), fill(bias, 4096, &rng);
    memset(out, 0, max_out * sizeof(float));

    FILE *ft = tsv ? fopen(tsv, "w") : NULL;
    if (ft) fprintf(ft, "net\tname\tcount\tgflop\tconv_ms\tsgemm_ms\tconv_best_ms\tsgemm_best_ms\n");
    printf("threads %d, reps %d (median), scratch %.1f MiB, BLAS %s\n", ctx.n_threads, reps,
           max_scratch / 1048576.0, selsa_blas_config());
    const char *nets[2] = {"r101", "r50dc5"};
    for (int ni = 0; ni < 2; ni++) {
        if (only && strcmp(only, nets[ni]) != 0) continue;
        printf("\n%s\n| layer | Cin | Cout | k | s | p | d | H×W | count | M | N | K | conv ms | conv GFLOP/s | sgemm ms | sgemm GFLOP/s | conv/sgemm |\n", nets[ni]);
        printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        double tot_conv = 0, tot_gemm = 0, tot_flop = 0, best_conv = 0, best_gemm = 0;
        for (int i = 0; i < n_shapes; i++) {
            shape *s = &shapes[i];
            if (strcmp(s->net, nets[ni]) != 0) continue;
            int ho = osz(s->h, s->k, s->stride, s->pad, s->dil), wo = osz(s->w, s->k, s->stride, s->pad, s->dil);
            int64_t M = s->cout / s->groups, N = (int64_t)ho * wo, K = (int64_t)s->cin / s->groups * s->k * s->k;
            double flop = 2.0 * M * N * K * s->groups;
            selsa_tensor ti = selsa_tensor_view(in, 1, s->cin, s->h, s->w);
            selsa_tensor tw = selsa_tensor_view(wt, s->cout, s->cin / s->groups, s->k, s->k);
            selsa_tensor to = selsa_tensor_view(out, 1, s->cout, ho, wo);
            selsa_conv2d_params p = {s->stride, s->stride, s->pad, s->pad, s->dil, s->dil, s->groups};
            double tc[64], tg[64];
            int r_n = reps > 64 ? 64 : reps;
            for (int r = -1; r < r_n; r++) { /* r = -1: warm-up */
                double t0 = now_ms();
                if (selsa_conv2d_forward(&ctx, &to, &ti, &tw, bias, &p, SELSA_ACT_RELU) != SELSA_OK) {
                    fprintf(stderr, "%s: %s\n", s->name, selsa_last_error());
                    return 1;
                }
                double t1 = now_ms();
                for (int g = 0; g < s->groups; g++)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f,
                                wt + g * M * K, (int)K, in, (int)N, 0.0f, out, (int)N);
                double t2 = now_ms();
                if (r >= 0) tc[r] = t1 - t0, tg[r] = t2 - t1;
            }
            double mc = median(tc, r_n), mg = median(tg, r_n); /* sorts: [0] is the best */
            tot_conv += mc * s->count, tot_gemm += mg * s->count, tot_flop += flop * s->count;
            best_conv += tc[0] * s->count, best_gemm += tg[0] * s->count;
            printf("| %s | %d | %d | %d | %d | %d | %d | %d×%d | %d | %lld | %lld | %lld | %.2f | %.1f | %.2f | %.1f | %.3f |\n",
                   s->name, s->cin, s->cout, s->k, s->stride, s->pad, s->dil, s->h, s->w, s->count,
                   (long long)M, (long long)N, (long long)K, mc, flop / mc * 1e-6, mg, flop / mg * 1e-6, mc / mg);
            if (ft) fprintf(ft, "%s\t%s\t%d\t%.6f\t%.4f\t%.4f\t%.4f\t%.4f\n", s->net, s->name, s->count,
                            flop * 1e-9, mc, mg, tc[0], tg[0]);
            fflush(stdout);
        }
        printf("| **total (weighted by count)** | | | | | | | | | | | | **%.1f** | %.1f | **%.1f** | %.1f | **%.3f** |\n",
               tot_conv, tot_flop / tot_conv * 1e-6, tot_gemm, tot_flop / tot_gemm * 1e-6, tot_conv / tot_gemm);
        printf("\n%s totals: median conv %.1f ms / sgemm %.1f ms = %.3f; best-of-%d conv %.1f ms / sgemm %.1f ms = %.3f\n",
               nets[ni], tot_conv, tot_gemm, tot_conv / tot_gemm, r_reps(reps), best_conv, best_gemm,
               best_conv / best_gemm);
    }
    if (ft) fclose(ft);
    free(in), free(wt), free(out), free(bias);
    selsa_ctx_free(&ctx);
    return 0;
}
