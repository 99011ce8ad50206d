/* SELSA attention (both variants), forward and backward.
 *
 * Parity with PyTorch float64 + autograd (tests/ref/gen_attn.py): official SELSA form (G = 1,
 * D = 1024, scale 1/32, v = raw X), MMTracking form (G = 16, d = 64, scale 1/8), a D != Dv case
 * and a 1x1 case. Finite differences of dq, dk, dv; NULL gradients; the row-blocked backward
 * path; N = 0 and M = 0; argument errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "harness.h"
#include "selsa/context.h"
#include "selsa/ops_attn.h"

static selsa_ctx ctx;

static selsa_tensor new_tensor(int64_t n, int64_t c, int64_t h, int64_t w, float fill) {
    int64_t numel = n * c * h * w;
    float *d = malloc((size_t)(numel > 0 ? numel : 1) * sizeof(float));
    for (int64_t i = 0; i < numel; i++) d[i] = fill;
    return selsa_tensor_view(d, n, c, h, w);
}

static selsa_tensor fx_matrix(th_fixture *fx, const char *name) {
    int64_t d[8];
    int nd = th_fx_shape(fx, name, d);
    if (nd != 2) {
        TH_CHECK(0, "fixture entry %s missing", name);
        return new_tensor(0, 0, 1, 1, 0);
    }
    selsa_tensor t = new_tensor(d[0], d[1], 1, 1, 0);
    memcpy(t.data, th_fx_f32(fx, name), (size_t)(d[0] * d[1]) * sizeof(float));
    return t;
}

static double max_abs_f64(const double *x, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

/* float result vs float64 reference with atol relative to the reference's scale:
 * torch fp32-vs-fp64 differs by <= 9e-7 of max|ref| on these cases (gen_attn.py prints it);
 * OpenBLAS sums in another order, so allow ~20x that: 2e-5·max|ref| + 1e-4 relative. */
static void close_ref(const char *what, const float *got, const double *want, int64_t n) {
    double *g = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    for (int64_t i = 0; i < n; i++) g[i] = got[i];
    th_allclose_f64(what, g, want, n, 2e-5 * max_abs_f64(want, n) + 1e-12, 1e-4);
    free(g);
}

static void test_parity(th_fixture *fx, const char *name) {
    char k[64];
#define KEY(s) (snprintf(k, sizeof k, "%s_%s", name, s), k)
    selsa_tensor q = fx_matrix(fx, KEY("q")), kk = fx_matrix(fx, KEY("k"));
    selsa_tensor v = fx_matrix(fx, KEY("v")), dout = fx_matrix(fx, KEY("dout"));
    const int G = th_fx_i32(fx, KEY("meta"))[0];
    const float scale = (float)th_fx_scalar(fx, KEY("scale"));
    const int64_t N = q.n, M = kk.n, D = q.c, Dv = v.c;
    selsa_tensor out = new_tensor(N, Dv, 1, 1, NAN), prob = new_tensor(G, N, M, 1, NAN);
    TH_OK(selsa_attention_forward(&ctx, &out, &prob, &q, &kk, &v, G, scale));
    close_ref(KEY("out"), out.data, th_fx_f64(fx, KEY("out")), N * Dv);
    close_ref(KEY("prob"), prob.data, th_fx_f64(fx, KEY("prob")), G * N * M);

    /* backward accumulates: start from 0.5 and subtract it */
    selsa_tensor dq = new_tensor(N, D, 1, 1, 0.5f), dk = new_tensor(M, D, 1, 1, 0.5f);
    selsa_tensor dv = new_tensor(M, Dv, 1, 1, 0.5f);
    TH_OK(selsa_attention_backward(&ctx, &dq, &dk, &dv, &dout, &prob, &q, &kk, &v, G, scale));
    for (int64_t i = 0; i < N * D; i++) dq.data[i] -= 0.5f;
    for (int64_t i = 0; i < M * D; i++) dk.data[i] -= 0.5f;
    for (int64_t i = 0; i < M * Dv; i++) dv.data[i] -= 0.5f;
    close_ref(KEY("dq"), dq.data, th_fx_f64(fx, KEY("dq")), N * D);
    close_ref(KEY("dk"), dk.data, th_fx_f64(fx, KEY("dk")), M * D);
    close_ref(KEY("dv"), dv.data, th_fx_f64(fx, KEY("dv")), M * Dv);

    /* each gradient alone (the others NULL) gives the same bits as all together */
    selsa_tensor one = new_tensor(N > M ? N : M, D > Dv ? D : Dv, 1, 1, 0);
    selsa_tensor *gs[3] = {&dq, &dk, &dv};
    for (int which = 0; which < 3; which++) {
        selsa_tensor t = selsa_tensor_view(one.data, gs[which]->n, gs[which]->c, 1, 1);
        selsa_tensor_fill(&t, 0.5f);
        TH_OK(selsa_attention_backward(&ctx, which == 0 ? &t : NULL, which == 1 ? &t : NULL,
                                       which == 2 ? &t : NULL, &dout, &prob, &q, &kk, &v, G,
                                       scale));
        int64_t n = selsa_tensor_numel(&t), bad = 0;
        for (int64_t i = 0; i < n; i++) bad += (t.data[i] - 0.5f) != gs[which]->data[i];
        TH_CHECK(bad == 0, "%s: gradient %d alone differs in %lld elements", name, which,
                 (long long)bad);
    }
#undef KEY
    free(q.data), free(kk.data), free(v.data), free(dout.data), free(out.data), free(prob.data);
    free(dq.data), free(dk.data), free(dv.data), free(one.data);
}

/* ------------------------------------------------------------- finite differences --- */
typedef struct {
    selsa_tensor q, k, v, out, prob, w;
    int G;
    float scale;
} fd_case;

static double fd_loss(void *user) { /* L = sum(out ⊙ w) in double */
    fd_case *c = user;
    if (selsa_attention_forward(&ctx, &c->out, &c->prob, &c->q, &c->k, &c->v, c->G, c->scale))
        return NAN;
    double L = 0;
    for (int64_t i = 0; i < selsa_tensor_numel(&c->out); i++) L += (double)c->out.data[i] * c->w.data[i];
    return L;
}

static void test_fd(void) {
    selsa_rng rng;
    selsa_rng_seed(&rng, 77, 1);
    const int N = 3, M = 5, D = 8, Dv = 6, G = 2;
    fd_case c = {.G = G, .scale = 0.5f};
    c.q = new_tensor(N, D, 1, 1, 0), c.k = new_tensor(M, D, 1, 1, 0), c.v = new_tensor(M, Dv, 1, 1, 0);
    th_fill_uniform(c.q.data, N * D, -1.5f, 1.5f, &rng);
    th_fill_uniform(c.k.data, M * D, -1.5f, 1.5f, &rng);
    th_fill_uniform(c.v.data, M * Dv, -1, 1, &rng);
    c.out = new_tensor(N, Dv, 1, 1, 0), c.prob = new_tensor(G, N, M, 1, 0);
    c.w = new_tensor(N, Dv, 1, 1, 0);
    th_fill_uniform(c.w.data, N * Dv, -1, 1, &rng);
    selsa_tensor dq = new_tensor(N, D, 1, 1, 0), dk = new_tensor(M, D, 1, 1, 0),
                 dv = new_tensor(M, Dv, 1, 1, 0);
    fd_loss(&c);
    TH_OK(selsa_attention_backward(&ctx, &dq, &dk, &dv, &c.w, &c.prob, &c.q, &c.k, &c.v, G, c.scale));
    selsa_tensor *xs[3] = {&c.q, &c.k, &c.v}, *gs[3] = {&dq, &dk, &dv};
    const char *names[3] = {"dq", "dk", "dv"};
    for (int t = 0; t < 3; t++) {
        int64_t n = selsa_tensor_numel(xs[t]);
        double worst = 0;
        for (int64_t i = 0; i < n; i++) {
            double fd = th_fd_derivative(fd_loss, &c, &xs[t]->data[i], 1e-2);
            worst = fmax(worst, fabs(fd - gs[t]->data[i]) / (1e-2 + fabs(fd)));
        }
        /* 4-point stencil, eps 1e-2: truncation ~eps^4; L's float noise ~1e-7 / eps ~ 1e-5 */
        TH_CHECK(worst < 2e-3, "%s FD: worst relative error %g", names[t], worst);
    }
    free(c.q.data), free(c.k.data), free(c.v.data), free(c.out.data), free(c.prob.data);
    free(c.w.data), free(dq.data), free(dk.data), free(dv.data);
}

/* ------------------------------------------ row-blocked backward == per-half backward --- */
static void test_blocks(void) {
    /* N·M·4 bytes > the 16 MiB block: N = 1000 rows with M = 4500 split into 932 + 68 rows.
     * Rows are independent in dq, and dk/dv sum over rows, so running the halves separately
     * must give the same result up to summation order. */
    selsa_rng rng;
    selsa_rng_seed(&rng, 9, 9);
    const int64_t N = 1000, M = 4500, D = 16, Dv = 8, G = 2, H = 500;
    const float scale = 0.25f;
    selsa_tensor q = new_tensor(N, D, 1, 1, 0), k = new_tensor(M, D, 1, 1, 0),
                 v = new_tensor(M, Dv, 1, 1, 0), dout = new_tensor(N, Dv, 1, 1, 0);
    th_fill_uniform(q.data, N * D, -1, 1, &rng);
    th_fill_uniform(k.data, M * D, -1, 1, &rng);
    th_fill_uniform(v.data, M * Dv, -1, 1, &rng);
    th_fill_uniform(dout.data, N * Dv, -1, 1, &rng);
    selsa_tensor out = new_tensor(N, Dv, 1, 1, 0), prob = new_tensor(G, N, M, 1, 0);
    TH_OK(selsa_attention_forward(&ctx, &out, &prob, &q, &k, &v, G, scale));
    selsa_tensor dq = new_tensor(N, D, 1, 1, 0), dk = new_tensor(M, D, 1, 1, 0),
                 dv = new_tensor(M, Dv, 1, 1, 0);
    TH_OK(selsa_attention_backward(&ctx, &dq, &dk, &dv, &dout, &prob, &q, &k, &v, G, scale));
    selsa_tensor dq2 = new_tensor(N, D, 1, 1, 0), dk2 = new_tensor(M, D, 1, 1, 0),
                 dv2 = new_tensor(M, Dv, 1, 1, 0);
    selsa_tensor ph = new_tensor(G, H, M, 1, 0), oh = new_tensor(H, Dv, 1, 1, 0);
    for (int half = 0; half < 2; half++) {
        selsa_tensor qh = selsa_tensor_view(q.data + half * H * D, H, D, 1, 1);
        selsa_tensor gh = selsa_tensor_view(dout.data + half * H * Dv, H, Dv, 1, 1);
        selsa_tensor dqh = selsa_tensor_view(dq2.data + half * H * D, H, D, 1, 1);
        TH_OK(selsa_attention_forward(&ctx, &oh, &ph, &qh, &k, &v, G, scale));
        TH_OK(selsa_attention_backward(&ctx, &dqh, &dk2, &dv2, &gh, &ph, &qh, &k, &v, G, scale));
    }
    TH_CHECK(selsa_attention_scratch_bytes(N, M, D, Dv, G) <= ((size_t)16 << 20) + 64,
             "backward scratch bounded by the block size");
    /* different summation order only: fp32 sums of <= 1000 terms of size ~1e-3 */
    th_allclose("blocked dq", dq.data, dq2.data, N * D, 1e-6, 1e-4);
    th_allclose("blocked dk", dk.data, dk2.data, M * D, 1e-6, 1e-4);
    th_allclose("blocked dv", dv.data, dv2.data, M * Dv, 1e-6, 1e-4);
    free(q.data), free(k.data), free(v.data), free(dout.data), free(out.data), free(prob.data);
    free(dq.data), free(dk.data), free(dv.data), free(dq2.data), free(dk2.data), free(dv2.data);
    free(ph.data), free(oh.data);
}

/* ------------------------------------------------------------------------ edge cases --- */
static void test_edges(void) {
    float qb[12], kb[16], vb[16], ob[12], pb[64], gq[12], gk[16], gv[16], go[12];
    for (int i = 0; i < 16; i++) kb[i] = vb[i] = (float)i * 0.1f, gk[i] = gv[i] = 7.0f;
    for (int i = 0; i < 12; i++) qb[i] = (float)i * 0.2f, ob[i] = NAN, gq[i] = 7.0f, go[i] = 1.0f;
    /* M = 0: every output row is the empty weighted sum -> 0, no NaN; backward leaves grads */
    selsa_tensor q = selsa_tensor_view(qb, 3, 4, 1, 1), k0 = selsa_tensor_view(NULL, 0, 4, 1, 1);
    selsa_tensor v0 = selsa_tensor_view(NULL, 0, 4, 1, 1), out = selsa_tensor_view(ob, 3, 4, 1, 1);
    selsa_tensor p0 = selsa_tensor_view(NULL, 2, 3, 0, 1);
    TH_OK(selsa_attention_forward(&ctx, &out, &p0, &q, &k0, &v0, 2, 1.0f));
    bool zero = true;
    for (int i = 0; i < 12; i++) zero &= ob[i] == 0.0f;
    TH_CHECK(zero, "M = 0: out is all zeros");
    selsa_tensor dq = selsa_tensor_view(gq, 3, 4, 1, 1), dout = selsa_tensor_view(go, 3, 4, 1, 1);
    selsa_tensor dk0 = selsa_tensor_view(NULL, 0, 4, 1, 1), dv0 = selsa_tensor_view(NULL, 0, 4, 1, 1);
    TH_OK(selsa_attention_backward(&ctx, &dq, &dk0, &dv0, &dout, &p0, &q, &k0, &v0, 2, 1.0f));
    bool same = true;
    for (int i = 0; i < 12; i++) same &= gq[i] == 7.0f;
    TH_CHECK(same, "M = 0: dq unchanged");
    /* N = 0 */
    selsa_tensor q0 = selsa_tensor_view(NULL, 0, 4, 1, 1), k = selsa_tensor_view(kb, 4, 4, 1, 1);
    selsa_tensor v = selsa_tensor_view(vb, 4, 4, 1, 1), o0 = selsa_tensor_view(NULL, 0, 4, 1, 1);
    selsa_tensor pn = selsa_tensor_view(NULL, 2, 0, 4, 1);
    TH_OK(selsa_attention_forward(&ctx, &o0, &pn, &q0, &k, &v, 2, 1.0f));
    selsa_tensor dk = selsa_tensor_view(gk, 4, 4, 1, 1), dv = selsa_tensor_view(gv, 4, 4, 1, 1);
    TH_OK(selsa_attention_backward(&ctx, &q0, &dk, &dv, &o0, &pn, &q0, &k, &v, 2, 1.0f));
    same = true;
    for (int i = 0; i < 16; i++) same &= gk[i] == 7.0f && gv[i] == 7.0f;
    TH_CHECK(same, "N = 0: dk, dv unchanged");

    /* errors */
    selsa_tensor p = selsa_tensor_view(pb, 2, 3, 4, 1);
    TH_OK(selsa_attention_forward(&ctx, &out, &p, &q, &k, &v, 2, 1.0f));
    TH_FAILS(selsa_attention_forward(&ctx, &out, &p, &q, &k, &v, 3, 1.0f), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_attention_forward(&ctx, &out, &p, &q, &k, &v, 0, 1.0f), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_attention_forward(&ctx, &out, &p, &q, &k, &v, 2, NAN), SELSA_ERR_INVALID_ARG);
    selsa_tensor pw = selsa_tensor_view(pb, 1, 3, 4, 1); /* heads mismatch */
    TH_FAILS(selsa_attention_forward(&ctx, &out, &pw, &q, &k, &v, 2, 1.0f), SELSA_ERR_SHAPE);
    selsa_tensor k3 = selsa_tensor_view(kb, 4, 3, 1, 1); /* D mismatch */
    TH_FAILS(selsa_attention_forward(&ctx, &out, &p, &q, &k3, &v, 1, 1.0f), SELSA_ERR_SHAPE);
    selsa_tensor v3 = selsa_tensor_view(vb, 3, 4, 1, 1); /* M mismatch */
    TH_FAILS(selsa_attention_forward(&ctx, &out, &p, &q, &k, &v3, 2, 1.0f), SELSA_ERR_SHAPE);
    selsa_tensor ow = selsa_tensor_view(ob, 3, 2, 1, 1);
    TH_FAILS(selsa_attention_forward(&ctx, &ow, &p, &q, &k, &v, 2, 1.0f), SELSA_ERR_SHAPE);
    TH_FAILS(selsa_attention_forward(&ctx, NULL, &p, &q, &k, &v, 2, 1.0f), SELSA_ERR_INVALID_ARG);
    selsa_tensor oq = selsa_tensor_view(qb, 3, 4, 1, 1);
    TH_FAILS(selsa_attention_forward(&ctx, &oq, &p, &q, &k, &v, 2, 1.0f), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_attention_backward(&ctx, &dq, &dk, &v, &dout, &p, &q, &k, &v, 2, 1.0f),
             SELSA_ERR_INVALID_ARG); /* dv aliases v */
    selsa_tensor dqw = selsa_tensor_view(gq, 4, 3, 1, 1);
    TH_FAILS(selsa_attention_backward(&ctx, &dqw, NULL, NULL, &dout, &p, &q, &k, &v, 2, 1.0f),
             SELSA_ERR_SHAPE);
    /* scratch too small for the dS block: fails before touching any gradient */
    selsa_ctx tiny;
    TH_OK(selsa_ctx_init(&tiny, SELSA_BACKEND_CPU, 64, 1));
    void *fill = NULL;
    TH_OK(selsa_arena_alloc(&tiny.scratch, tiny.scratch.capacity, &fill)); /* arena now full */
    for (int i = 0; i < 16; i++) gv[i] = 7.0f;
    TH_FAILS(selsa_attention_backward(&tiny, &dq, &dk, &dv, &dout, &p, &q, &k, &v, 2, 1.0f),
             SELSA_ERR_OUT_OF_MEMORY);
    same = true;
    for (int i = 0; i < 16; i++) same &= gv[i] == 7.0f;
    TH_CHECK(same, "failed backward leaves dv untouched");
    TH_CHECK(tiny.scratch.used == tiny.scratch.capacity, "scratch mark restored after failure");
    /* dv alone needs no scratch */
    TH_OK(selsa_attention_backward(&tiny, NULL, NULL, &dv, &dout, &p, &q, &k, &v, 2, 1.0f));
    selsa_ctx_free(&tiny);
    TH_CHECK(ctx.scratch.used == 0, "ops rewind the scratch arena");
}

int main(int argc, char **argv) {
    th_init(argc, argv, "attn");
    if (selsa_ctx_init(&ctx, SELSA_BACKEND_CPU, selsa_attention_scratch_bytes(1000, 4500, 16, 8, 2),
                       0) != SELSA_OK)
        return 1;
    th_fixture *fx = th_fixture_open(th_fixture_path("attn.slfx"));
    TH_CHECK(fx != NULL, "fixture attn.slfx (run tests/ref/gen_attn.py)");
    if (fx) {
        const char *cases[] = {"official", "mmtrack", "rect", "single"};
        for (int i = 0; i < 4; i++) test_parity(fx, cases[i]);
        th_fixture_close(fx);
    }
    test_fd();
    test_blocks();
    test_edges();
    selsa_ctx_free(&ctx);
    return th_finish();
}
