/* Reader for reference fixtures written by tests/ref/fixture_io.py.
 *
 * File layout (little-endian): "SLFX" u32 version(=1) u32 count, then per entry
 *   u32 name_len, name bytes, u32 dtype (0 f32, 1 f64, 2 i32, 3 i64), u32 ndim, i64 dims[ndim],
 *   data (prod(dims) elements, C order). */
#ifndef SELSA_TEST_FIXTURE_H
#define SELSA_TEST_FIXTURE_H

#include <stdint.h>

typedef struct th_fixture th_fixture;

/* NULL (and a printed reason) if the file is missing or malformed. */
th_fixture *th_fixture_open(const char *path);
void th_fixture_close(th_fixture *fx);

/* Shape of an entry: returns ndim (dims filled, up to 8) or -1 if absent. */
int th_fx_shape(const th_fixture *fx, const char *name, int64_t dims[8]);
/* Number of elements, or -1 if absent. */
int64_t th_fx_numel(const th_fixture *fx, const char *name);
/* Pointers into the fixture's memory, converted to the requested type (owned by fx).
 * NULL and a printed message if the entry is absent. */
const float *th_fx_f32(th_fixture *fx, const char *name);
const double *th_fx_f64(th_fixture *fx, const char *name);
const int32_t *th_fx_i32(th_fixture *fx, const char *name);
const int64_t *th_fx_i64(th_fixture *fx, const char *name);
/* Scalar convenience (first element as double; NaN if absent). */
double th_fx_scalar(th_fixture *fx, const char *name);

#endif
