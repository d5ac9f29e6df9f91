/* The C ABI from a C program, linked against libcorepy.so: results, NULL handling (out left
 * untouched), error strings and messages, configuration and stats. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
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
}

int main(void) {
  test_reductions();
  test_null_pointers();
  test_compensated_and_matrix();
  test_error_strings();
  test_configuration_and_stats();
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
