#include "fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name;
    uint32_t dtype, ndim;
    int64_t dims[8];
    int64_t numel;
    void *raw;
    float *as_f32;
    double *as_f64;
    int32_t *as_i32;
    int64_t *as_i64;
} fx_entry;

struct th_fixture {
    fx_entry *e;
    uint32_t count;
};

static const size_t dtype_size[4] = {4, 8, 4, 8};

static double raw_at(const fx_entry *e, int64_t i) {
    switch (e->dtype) {
    case 0: return ((const float *)e->raw)[i];
    case 1: return ((const double *)e->raw)[i];
    case 2: return ((const int32_t *)e->raw)[i];
    default: return (double)((const int64_t *)e->raw)[i];
    }
}

th_fixture *th_fixture_open(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("fixture %s: cannot open (run `make fixtures`)\n", path);
        return NULL;
    }
    char magic[4];
    uint32_t version = 0, count = 0;
    th_fixture *fx = calloc(1, sizeof *fx);
    if (fread(magic, 1, 4, f) != 4 || memcmp(magic, "SLFX", 4) || fread(&version, 4, 1, f) != 1 ||
        version != 1 || fread(&count, 4, 1, f) != 1 || count > 100000)
        goto bad;
    fx->e = calloc(count ? count : 1, sizeof *fx->e);
    for (uint32_t i = 0; i < count; i++) {
        fx_entry *e = &fx->e[i];
        uint32_t len;
        if (fread(&len, 4, 1, f) != 1 || len > 4096) goto bad;
        e->name = calloc(len + 1, 1);
        if (fread(e->name, 1, len, f) != len) goto bad;
        if (fread(&e->dtype, 4, 1, f) != 1 || e->dtype > 3) goto bad;
        if (fread(&e->ndim, 4, 1, f) != 1 || e->ndim > 8) goto bad;
        e->numel = 1;
        for (uint32_t d = 0; d < e->ndim; d++) {
            if (fread(&e->dims[d], 8, 1, f) != 1 || e->dims[d] < 0) goto bad;
            e->numel *= e->dims[d];
        }
        size_t bytes = (size_t)e->numel * dtype_size[e->dtype];
        e->raw = malloc(bytes ? bytes : 1);
        if (fread(e->raw, 1, bytes, f) != bytes) goto bad;
        fx->count = i + 1;
    }
    fclose(f);
    return fx;
bad:
    printf("fixture %s: malformed\n", path);
    fclose(f);
    th_fixture_close(fx);
    return NULL;
}

void th_fixture_close(th_fixture *fx) {
    if (!fx) return;
    for (uint32_t i = 0; i < fx->count; i++) {
        fx_entry *e = &fx->e[i];
        free(e->name), free(e->raw), free(e->as_f32), free(e->as_f64), free(e->as_i32), free(e->as_i64);
    }
    if (fx->e && fx->count == 0) {
        /* entries partially read before failure may hold allocations */
    }
    free(fx->e);
    free(fx);
}

static fx_entry *find(const th_fixture *fx, const char *name) {
    for (uint32_t i = 0; i < fx->count; i++)
        if (!strcmp(fx->e[i].name, name)) return &fx->e[i];
    return NULL;
}

static fx_entry *find_or_report(th_fixture *fx, const char *name) {
    fx_entry *e = fx ? find(fx, name) : NULL;
    if (!e) printf("fixture entry '%s' not found\n", name);
    return e;
}

int th_fx_shape(const th_fixture *fx, const char *name, int64_t dims[8]) {
    fx_entry *e = find(fx, name);
    if (!e) return -1;
    for (uint32_t d = 0; d < e->ndim; d++) dims[d] = e->dims[d];
    return (int)e->ndim;
}

int64_t th_fx_numel(const th_fixture *fx, const char *name) {
    fx_entry *e = find(fx, name);
    return e ? e->numel : -1;
}

#define CONVERTER(fn, T, field)                                       \
    const T *fn(th_fixture *fx, const char *name) {                   \
        fx_entry *e = find_or_report(fx, name);                       \
        if (!e) return NULL;                                          \
        if (!e->field) {                                              \
            e->field = malloc(sizeof(T) * (size_t)(e->numel ? e->numel : 1)); \
            for (int64_t i = 0; i < e->numel; i++) e->field[i] = (T)raw_at(e, i); \
        }                                                             \
        return e->field;                                              \
    }

CONVERTER(th_fx_f32, float, as_f32)
CONVERTER(th_fx_f64, double, as_f64)
CONVERTER(th_fx_i32, int32_t, as_i32)
CONVERTER(th_fx_i64, int64_t, as_i64)

double th_fx_scalar(th_fixture *fx, const char *name) {
    fx_entry *e = find_or_report(fx, name);
    if (!e || e->numel < 1) return NAN;
    return raw_at(e, 0);
}
