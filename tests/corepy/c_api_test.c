/* The C ABI from a C program, linked against libcorepy.so: results, NULL handling (out left
 * untouched), error strings and messages, configuration and stats. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corepy/c_api.h"

static int passed = 0;
static int failed = 0;

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (cond) {                                                                 \
      ++passed;                                                                 \
    } else {                                                                    \
      ++failed;                                                                 \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                           \
  } while (0)

static void test_reductions(void) {
  const float f[] = {1.0f, 2.0f, 3.0f, 4.5f};
  float out = -1.0f;
  CHECK(corepy_sum_f32(f, 4, &out) == COREPY_OK && out == 10.5f);
  CHECK(corepy_mean_f32(f, 4, &out) == COREPY_OK && out == 2.625f);
  CHECK(corepy_sum_f32(NULL, 0, &out) == COREPY_OK && out == 0.0f);
  CHECK(corepy_sum_f32_kernel(f, 4, &out) == COREPY_OK && out == 10.5f);
  CHECK(corepy_sum_f32_kernel(NULL, 2, &out) == COREPY_ERROR_NULL_POINTER && out == 10.5f);
  CHECK(corepy_mean_f32(NULL, 0, &out) == COREPY_OK && isnan(out));

  const int32_t i[] = {2147483647, 2147483647, 2};
  int64_t wide = 0;
  CHECK(corepy_sum_i32(i, 3, &wide) == COREPY_OK && wide == 4294967296LL);

  /* Any nonzero byte is true. */
  const unsigned char raw[] = {2, 0, 255};
  bool b = false;
  CHECK(corepy_any_bool((const bool*)raw, 3, &b) == COREPY_OK && b);
  CHECK(corepy_all_bool((const bool*)raw, 3, &b) == COREPY_OK && !b);
  CHECK(corepy_all_bool((const bool*)raw, 1, &b) == COREPY_OK && b);
  CHECK(corepy_all_bool(NULL, 0, &b) == COREPY_OK && b);
  CHECK(corepy_any_bool(NULL, 0, &b) == COREPY_OK && !b);
}

static void test_null_pointers(void) {
  float untouched = 123.0f;
  CHECK(corepy_sum_f32(NULL, 3, &untouched) == COREPY_ERROR_NULL_POINTER);
  CHECK(untouched == 123.0f);
  CHECK(strstr(corepy_last_error(), "corepy_sum_f32: data is NULL but count is 3") != NULL);
  const float f[] = {1.0f};
  CHECK(corepy_sum_f32(f, 1, NULL) == COREPY_ERROR_NULL_POINTER);
  CHECK(strstr(corepy_last_error(), "out is NULL") != NULL);
  int64_t wide = 7;
  CHECK(corepy_sum_i32(NULL, 1, &wide) == COREPY_ERROR_NULL_POINTER && wide == 7);
  bool b = true;
  CHECK(corepy_any_bool(NULL, 2, &b) == COREPY_ERROR_NULL_POINTER && b);
  CHECK(corepy_all_bool(NULL, 2, NULL) == COREPY_ERROR_NULL_POINTER);
  CHECK(corepy_mean_f32(NULL, 9, &untouched) == COREPY_ERROR_NULL_POINTER);
  CHECK(corepy_arena_stats(NULL) == COREPY_ERROR_NULL_POINTER);
  CHECK(corepy_configure(NULL, "x") == COREPY_ERROR_NULL_POINTER);
  /* A success leaves the last failure's message, as errno does. */
  float out;
  CHECK(corepy_sum_f32(f, 1, &out) == COREPY_OK);
  CHECK(strstr(corepy_last_error(), "corepy_configure: key or value is NULL") != NULL);
}

static void test_compensated_and_matrix(void) {
  /* Cancellation a plain float sum loses: the compensated sum keeps the 1. */
  const float c[] = {1e8f, 1.0f, -1e8f};
  float out = -1.0f;
  CHECK(corepy_sum_f32_compensated(c, 3, &out) == COREPY_OK && out == 1.0f);
  CHECK(corepy_mean_f32_compensated(c, 3, &out) == COREPY_OK && out == 1.0f / 3.0f);
  /* A result no array can hold (rows = SIZE_MAX): refused before anything is sized from it
   * (its byte count used to wrap; found by the C ABI fuzzer). */
  float untouched[2] = {-1.0f, -1.0f};
  CHECK(corepy_mean_rows_f32(c, SIZE_MAX, 1, untouched) == COREPY_ERROR_INVALID_ARGUMENT);
  CHECK(corepy_sum_cols_f32(c, 1, SIZE_MAX, untouched) == COREPY_ERROR_INVALID_ARGUMENT);
  CHECK(untouched[0] == -1.0f && untouched[1] == -1.0f);
  CHECK(corepy_sum_f32_compensated(NULL, 0, &out) == COREPY_OK && out == 0.0f);
  CHECK(corepy_mean_f32_compensated(NULL, 1, &out) == COREPY_ERROR_NULL_POINTER);

  /* 2 x 3, row-major. */
  const float m[] = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
  float rows[2] = {-1.0f, -1.0f};
  float cols[3] = {-1.0f, -1.0f, -1.0f};
  CHECK(corepy_sum_rows_f32(m, 2, 3, rows) == COREPY_OK && rows[0] == 6.0f && rows[1] == 15.0f);
  CHECK(corepy_sum_cols_f32(m, 2, 3, cols) == COREPY_OK && cols[0] == 5.0f && cols[1] == 7.0f &&
        cols[2] == 9.0f);
  CHECK(corepy_mean_rows_f32(m, 2, 3, rows) == COREPY_OK && rows[0] == 2.0f && rows[1] == 5.0f);
  CHECK(corepy_mean_cols_f32(m, 2, 3, cols) == COREPY_OK && cols[0] == 2.5f && cols[1] == 3.5f &&
        cols[2] == 4.5f);
  /* Empty axes: numpy's answers (zeros, NaN means); NULL data is fine when there is nothing. */
  CHECK(corepy_sum_cols_f32(NULL, 0, 3, cols) == COREPY_OK && cols[0] == 0.0f && cols[2] == 0.0f);
  CHECK(corepy_mean_cols_f32(NULL, 0, 3, cols) == COREPY_OK && isnan(cols[1]));
  CHECK(corepy_sum_rows_f32(NULL, 0, 3, NULL) == COREPY_ERROR_NULL_POINTER);

  /* Bad input leaves out untouched. */
  float keep[2] = {42.0f, 42.0f};
  CHECK(corepy_sum_rows_f32(NULL, 2, 3, keep) == COREPY_ERROR_NULL_POINTER && keep[0] == 42.0f);
  CHECK(strstr(corepy_last_error(), "corepy_sum_rows_f32: data is NULL but the matrix is 2 x 3") !=
        NULL);
  const size_t huge = (size_t)1 << 40;
  CHECK(corepy_sum_cols_f32(m, huge, huge, keep) == COREPY_ERROR_INVALID_ARGUMENT &&
        keep[0] == 42.0f && keep[1] == 42.0f);
  CHECK(strstr(corepy_last_error(), "corepy::sum_cols_f32_cpu_dispatch") != NULL);
  CHECK(corepy_mean_rows_f32(m, 2, 3, NULL) == COREPY_ERROR_NULL_POINTER);

  /* Every matrix wrapper, every kind of error, whole out checked: nothing written. The last
   * kind is a scratch the allocator refuses (a limit of 0 bytes): the kernels take it before
   * they write the first result. */
  typedef int (*matrix_fn)(const float*, size_t, size_t, float*);
  const matrix_fn fns[] = {corepy_sum_rows_f32, corepy_sum_cols_f32, corepy_mean_rows_f32,
                           corepy_mean_cols_f32};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; ++i) {
    float sentinel[3] = {42.0f, 42.0f, 42.0f};
    CHECK(fns[i](NULL, 2, 3, sentinel) == COREPY_ERROR_NULL_POINTER);
    CHECK(fns[i](m, huge, huge, sentinel) == COREPY_ERROR_INVALID_ARGUMENT);
    CHECK(fns[i](m, SIZE_MAX, SIZE_MAX, sentinel) == COREPY_ERROR_INVALID_ARGUMENT);
    CHECK(corepy_configure("allocator", "limit(arena, max=0)") == COREPY_OK);
    CHECK(fns[i](m, 2, 3, sentinel) == COREPY_ERROR_OUT_OF_MEMORY);
    CHECK(corepy_configure("allocator", "arena") == COREPY_OK);
    CHECK(sentinel[0] == 42.0f && sentinel[1] == 42.0f && sentinel[2] == 42.0f);
    CHECK(fns[i](m, 2, 3, sentinel) == COREPY_OK && sentinel[0] != 42.0f);
  }
}

/* A matrix of 1 MiB, past the 512 KiB at which a matrix call splits over oneTBB's threads: its
 * scratch is one allocation on the calling thread, taken before the first result is written, so
 * a refused scratch leaves out untouched here too. Small integers keep the sums exact. */
/* Split over oneTBB's threads; their workers are waited for at the end with
 * corepy_finalize_parallel_workers(), so that memcheck (--config=valgrind) finds none running at
 * exit, and a later parallel call starts them again. */
static void test_parallel_matrix(void) {
  enum { kRows = 1024, kCols = 256 };
  static float m[kRows * kCols];
  static float out[kRows];
  for (size_t k = 0; k < (size_t)kRows * kCols; ++k) m[k] = (float)(k % 7);
  typedef int (*matrix_fn)(const float*, size_t, size_t, float*);
  const matrix_fn fns[] = {corepy_sum_rows_f32, corepy_sum_cols_f32, corepy_mean_rows_f32,
                           corepy_mean_cols_f32};
  for (size_t f = 0; f < sizeof fns / sizeof fns[0]; ++f) {
    const int per_row = f % 2 == 0;
    const int mean = f >= 2;
    const size_t length = per_row ? kRows : kCols;
    for (size_t k = 0; k < length; ++k) out[k] = 42.0f;
    CHECK(corepy_configure("allocator", "limit(arena, max=0)") == COREPY_OK);
    const int status = fns[f](m, kRows, kCols, out);
    CHECK(corepy_configure("allocator", "arena") == COREPY_OK);
    if (per_row && status == COREPY_OK) {
      /* Rows summed in place need no scratch when split. */
    } else {
      size_t touched = 0;
      for (size_t k = 0; k < length; ++k) touched += out[k] != 42.0f;
      CHECK(status == COREPY_ERROR_OUT_OF_MEMORY && touched == 0);
    }
    CHECK(fns[f](m, kRows, kCols, out) == COREPY_OK);
    size_t wrong = 0;
    for (size_t k = 0; k < length; ++k) {
      double sum = 0.0;
      for (size_t j = 0; j < (per_row ? (size_t)kCols : (size_t)kRows); ++j) {
        sum += per_row ? m[k * kCols + j] : m[j * kCols + k];
      }
      const float expected = mean ? (float)(sum / (per_row ? kCols : kRows)) : (float)sum;
      wrong += out[k] != expected;
    }
    CHECK(wrong == 0);
  }
  CHECK(corepy_finalize_parallel_workers() == COREPY_OK);
  for (size_t k = 0; k < kCols; ++k) out[k] = 42.0f;
  CHECK(corepy_sum_cols_f32(m, kRows, kCols, out) == COREPY_OK);
  size_t wrong = 0;
  for (size_t k = 0; k < kCols; ++k) {
    double sum = 0.0;
    for (size_t j = 0; j < kRows; ++j) sum += m[j * kCols + k];
    wrong += out[k] != (float)sum;
  }
  CHECK(wrong == 0);
  CHECK(corepy_finalize_parallel_workers() == COREPY_OK);
}

static void test_error_strings(void) {
  CHECK(strcmp(corepy_error_string(COREPY_OK), "ok") == 0);
  CHECK(strstr(corepy_error_string(COREPY_ERROR_NULL_POINTER), "NULL") != NULL);
  CHECK(strstr(corepy_error_string(COREPY_ERROR_OUT_OF_MEMORY), "out of memory") != NULL);
  CHECK(strstr(corepy_error_string(COREPY_ERROR_INVALID_ARGUMENT), "invalid") != NULL);
  CHECK(strstr(corepy_error_string(COREPY_ERROR_INTERNAL), "internal") != NULL);
  CHECK(strcmp(corepy_error_string(42), "unknown corepy error code") == 0);
  CHECK(strcmp(corepy_error_string(-1), "unknown corepy error code") == 0);
}

static void test_configuration_and_stats(void) {
  corepy_arena_stats_t s;
  memset(&s, 0, sizeof s);
  CHECK(corepy_arena_stats(&s) == COREPY_OK && s.capacity == 1048576 && s.used == 0);

  CHECK(corepy_configure("colour", "blue") == COREPY_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(corepy_last_error(), "unknown configuration key \"colour\"") != NULL);
  CHECK(corepy_configure("arena_size", "lots") == COREPY_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(corepy_last_error(), "invalid byte size \"lots\"") != NULL);
  CHECK(corepy_configure("allocator", "limit(arena)") == COREPY_ERROR_INVALID_ARGUMENT);
  CHECK(corepy_configure("log", "loud") == COREPY_ERROR_INVALID_ARGUMENT);
  CHECK(corepy_configure("worker_spin", "fast") == COREPY_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(corepy_last_error(), "invalid worker_spin \"fast\"") != NULL);
  CHECK(corepy_configure("worker_spin", "2s") == COREPY_ERROR_INVALID_ARGUMENT);
  CHECK(corepy_configure("worker_spin", "0") == COREPY_OK);
  CHECK(corepy_configure("worker_spin", "50us") == COREPY_OK);

  CHECK(corepy_configure("arena_size", "64KiB") == COREPY_OK);
  const float f[] = {1.0f};
  float out;
  CHECK(corepy_sum_f32(f, 1, &out) == COREPY_OK); /* the next outermost scope switches */
  CHECK(corepy_arena_stats(&s) == COREPY_OK && s.capacity == 65536);

  /* A limit nothing fits in: the reductions need no scratch, so they still succeed. */
  CHECK(corepy_configure("allocator", "limit(arena, max=0)") == COREPY_OK);
  CHECK(corepy_sum_f32(f, 1, &out) == COREPY_OK && out == 1.0f);
  CHECK(corepy_configure("allocator", "arena") == COREPY_OK);

  char small[8];
  size_t needed = 0;
  CHECK(corepy_op_stats_json(small, sizeof small, &needed) == COREPY_OK);
  CHECK(strlen(small) == 7 && needed > sizeof small);
  char big[4096];
  CHECK(corepy_op_stats_json(big, sizeof big, &needed) == COREPY_OK);
  CHECK(strlen(big) + 1 == needed);
  CHECK(strstr(big, "{\"op\":\"sum_f32\",\"calls\":") != NULL);
  CHECK(corepy_op_stats_json(NULL, 0, &needed) == COREPY_OK && needed == strlen(big) + 1);
  CHECK(corepy_op_stats_json(NULL, 5, NULL) == COREPY_ERROR_NULL_POINTER);

  corepy_memory_stats_t m;
  char spec[64];
  CHECK(corepy_memory_stats(&m, spec, sizeof spec, &needed) == COREPY_OK);
  CHECK(m.threads >= 1 && m.capacity.sum >= 65536 && m.capacity.max_per_thread >= 65536);
  CHECK(strcmp(spec, "arena") == 0 && needed == 6);
  CHECK(corepy_memory_stats(&m, NULL, 0, NULL) == COREPY_OK);
  CHECK(corepy_memory_stats(NULL, spec, sizeof spec, NULL) == COREPY_ERROR_NULL_POINTER);
  CHECK(corepy_memory_stats(&m, NULL, 4, NULL) == COREPY_ERROR_NULL_POINTER);
  CHECK(corepy_configure("arena_shrink_after", "many") == COREPY_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(corepy_last_error(), "invalid arena_shrink_after \"many\"") != NULL);
  CHECK(corepy_configure("arena_shrink_after", "8") == COREPY_OK);
  CHECK(corepy_trim() == COREPY_OK);
}

/* corepy_reduce from C: a column sum written straight into out with numpy's result dtype and
 * shape; every bad input refused with a message naming it and nothing written. */
static void test_reduce(void) {
  const int32_t x[6] = {1, 2, 3, 4, 5, 2147483647};
  const int64_t shape[2] = {2, 3};
  corepy_tensor_t in = {x, COREPY_DTYPE_INT32, 2, shape, NULL};
  const int32_t axis0[1] = {0};
  int64_t out[3] = {-1, -1, -1};
  int32_t dtype = 0, ndim = -1;
  int64_t out_shape[32];
  CHECK(corepy_reduce(COREPY_REDUCE_SUM, &in, axis0, 1, 0, 0, out, sizeof out, &dtype, &ndim,
                      out_shape) == COREPY_OK);
  CHECK(dtype == COREPY_DTYPE_INT64 && ndim == 1 && out_shape[0] == 3);
  CHECK(out[0] == 5 && out[1] == 7 && out[2] == 2147483650LL);

  /* Reversed rows through negative strides, every axis, keepdims. */
  const int64_t strides[2] = {-12, 4};
  corepy_tensor_t flipped = {x + 3, COREPY_DTYPE_INT32, 2, shape, strides};
  CHECK(corepy_reduce(COREPY_REDUCE_ARGMAX, &flipped, NULL, -1, 1, 0, out, sizeof out, &dtype,
                      &ndim, out_shape) == COREPY_OK);
  CHECK(dtype == COREPY_DTYPE_INT64 && ndim == 2 && out_shape[0] == 1 && out_shape[1] == 1);
  CHECK(out[0] == 2);

  /* Bad input: each gets its code and message, and out keeps its sentinel. */
  int64_t sentinel[3] = {-7, -7, -7};
  const int32_t far[1] = {2};
  CHECK(corepy_reduce(COREPY_REDUCE_SUM, &in, far, 1, 0, 0, sentinel, sizeof sentinel, &dtype,
                      &ndim, out_shape) == COREPY_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(corepy_last_error(), "axis 2 is out of bounds for array of dimension 2") != NULL);
  const int32_t twice[2] = {1, -1};
  CHECK(corepy_reduce(COREPY_REDUCE_SUM, &in, twice, 2, 0, 0, sentinel, sizeof sentinel, &dtype,
                      &ndim, out_shape) == COREPY_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(corepy_last_error(), "duplicate value in 'axis'") != NULL);
  CHECK(corepy_reduce(99, &in, NULL, -1, 0, 0, sentinel, sizeof sentinel, &dtype, &ndim,
                      out_shape) == COREPY_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(corepy_last_error(), "unknown op 99; known: 1 (sum), 2 (prod)") != NULL);
  corepy_tensor_t bad_dtype = {x, 8, 2, shape, NULL};
  CHECK(corepy_reduce(COREPY_REDUCE_SUM, &bad_dtype, NULL, -1, 0, 0, sentinel, sizeof sentinel,
                      &dtype, &ndim, out_shape) == COREPY_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(corepy_last_error(), "unknown dtype 8; supported: float32") != NULL);
  corepy_tensor_t deep = {x, COREPY_DTYPE_INT32, 33, shape, NULL};
  CHECK(corepy_reduce(COREPY_REDUCE_SUM, &deep, NULL, -1, 0, 0, sentinel, sizeof sentinel, &dtype,
                      &ndim, out_shape) == COREPY_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(corepy_last_error(), "ndim=33; must be 0..32") != NULL);
  const int64_t negative[2] = {2, -1};
  corepy_tensor_t neg = {x, COREPY_DTYPE_INT32, 2, negative, NULL};
  CHECK(corepy_reduce(COREPY_REDUCE_SUM, &neg, NULL, -1, 0, 0, sentinel, sizeof sentinel, &dtype,
                      &ndim, out_shape) == COREPY_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(corepy_last_error(), "dimension 1 is negative (-1)") != NULL);
  const int64_t huge[2] = {INT64_MAX, 2};
  const int64_t wide_strides[2] = {8, 4};
  corepy_tensor_t overflow = {x, COREPY_DTYPE_INT32, 2, huge, wide_strides};
  CHECK(corepy_reduce(COREPY_REDUCE_SUM, &overflow, NULL, -1, 0, 0, sentinel, sizeof sentinel,
                      &dtype, &ndim, out_shape) == COREPY_ERROR_INVALID_ARGUMENT);
  corepy_tensor_t no_data = {NULL, COREPY_DTYPE_INT32, 2, shape, NULL};
  CHECK(corepy_reduce(COREPY_REDUCE_SUM, &no_data, NULL, -1, 0, 0, sentinel, sizeof sentinel,
                      &dtype, &ndim, out_shape) == COREPY_ERROR_NULL_POINTER);
  CHECK(corepy_reduce(COREPY_REDUCE_SUM, NULL, NULL, -1, 0, 0, sentinel, sizeof sentinel, &dtype,
                      &ndim, out_shape) == COREPY_ERROR_NULL_POINTER);
  CHECK(corepy_reduce(COREPY_REDUCE_SUM, &in, axis0, 1, 0, 0, sentinel, sizeof sentinel - 1,
                      &dtype, &ndim, out_shape) == COREPY_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(corepy_last_error(), "out_capacity is 23 bytes; the result (int64, 3 elements) "
                                    "needs 24 bytes") != NULL);
  const int64_t empty_shape[1] = {0};
  corepy_tensor_t empty = {NULL, COREPY_DTYPE_FLOAT32, 1, empty_shape, NULL};
  CHECK(corepy_reduce(COREPY_REDUCE_MAX, &empty, NULL, -1, 0, 0, sentinel, sizeof sentinel,
                      &dtype, &ndim, out_shape) == COREPY_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(corepy_last_error(), "reduce(max): zero-size array to reduction operation maximum") !=
        NULL);
  CHECK(sentinel[0] == -7 && sentinel[1] == -7 && sentinel[2] == -7);

  /* The reduction ran in the dispatch layer: its op row counted the calls. */
  char stats[8192];
  CHECK(corepy_op_stats_json(stats, sizeof stats, NULL) == COREPY_OK);
  CHECK(strstr(stats, "{\"op\":\"sum\",\"calls\":1,") != NULL);
  CHECK(strstr(stats, "{\"op\":\"argmax\",\"calls\":1,") != NULL);
}

int main(void) {
  test_reductions();
  test_null_pointers();
  test_compensated_and_matrix();
  test_parallel_matrix();
  test_error_strings();
  test_configuration_and_stats();
  test_reduce();
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
