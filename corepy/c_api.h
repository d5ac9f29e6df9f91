/* corepy's C ABI, for C, Python (ctypes) and other languages. Built as //:libcorepy.so.
 *
 * Every function returns 0 (COREPY_OK) or an error code that corepy_error_string() explains;
 * corepy_last_error() gives the calling thread's last failure (its first 511 bytes). On error,
 * *out is left untouched. NULL data with count > 0, or a NULL out, is an error. No C++ exception
 * crosses this interface, and no call aborts: an op from a static destructor, an atexit handler
 * or a late thread_local destructor is served too. Each reduction runs through corepy's dispatch layer: inside the calling thread's
 * arena scope, with the configured allocator, counted in the per-op stats. */
#ifndef COREPY_COREPY_C_API_H_
#define COREPY_COREPY_C_API_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define COREPY_API __attribute__((visibility("default")))
#else
#define COREPY_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum {
  COREPY_OK = 0,
  COREPY_ERROR_NULL_POINTER = 1,     /* data is NULL with count > 0, or out is NULL */
  COREPY_ERROR_OUT_OF_MEMORY = 2,    /* an allocator refused (arena upstream, limit, ...) */
  COREPY_ERROR_INVALID_ARGUMENT = 3, /* a bad configuration key or value, shape, axis, ... */
  COREPY_ERROR_INTERNAL = 4          /* anything else; corepy_last_error() says what */
};

typedef struct corepy_arena_stats_t {
  size_t used;           /* bytes of the arena's own block in use */
  size_t capacity;       /* size of the arena's own block */
  size_t peak;           /* high-water mark of used */
  size_t overflow_count; /* spill chunks ever taken from the upstream */
  size_t overflow_bytes; /* bytes currently held from the upstream */
} corepy_arena_stats_t;

/* One figure of corepy_memory_stats: summed over every live thread, and the largest one thread
 * has (a thread's own arena plus its per-op arenas). */
typedef struct corepy_memory_figure_t {
  size_t sum;
  size_t max_per_thread;
} corepy_memory_figure_t;

typedef struct corepy_memory_stats_t {
  size_t threads;                      /* live threads with a corepy runtime */
  corepy_memory_figure_t capacity;     /* bytes of arena blocks */
  corepy_memory_figure_t used;         /* bytes of them in use (corepy/memory_stats.h) */
  corepy_memory_figure_t peak;         /* high-water marks of used */
  corepy_memory_figure_t spill_chunks; /* spill chunks ever taken from the upstream */
  corepy_memory_figure_t spill_bytes;  /* bytes held from the upstream for spills now */
} corepy_memory_stats_t;

COREPY_API int corepy_sum_f32(const float* data, size_t count, float* out);
COREPY_API int corepy_sum_i32(const int32_t* data, size_t count, int64_t* out);
COREPY_API int corepy_mean_f32(const float* data, size_t count, float* out);
COREPY_API int corepy_all_bool(const bool* data, size_t count, bool* out);
COREPY_API int corepy_any_bool(const bool* data, size_t count, bool* out);

/* Kahan-Neumaier compensated sum and mean: about one rounding of error whatever n and the
 * cancellation. */
COREPY_API int corepy_sum_f32_compensated(const float* data, size_t count, float* out);
COREPY_API int corepy_mean_f32_compensated(const float* data, size_t count, float* out);

/* Reductions of the rows x cols row-major matrix at data: *_rows_* write one float per row to
 * out[0, rows), *_cols_* one per column to out[0, cols), each result straight into out (no
 * copy). NULL data unless rows * cols == 0, or a NULL out, is COREPY_ERROR_NULL_POINTER; a shape
 * no array can hold is COREPY_ERROR_INVALID_ARGUMENT; out is untouched then, and when the
 * scratch cannot be had (COREPY_ERROR_OUT_OF_MEMORY): serial or split over threads (an input of
 * 512 KiB or more), a call takes all its scratch in one allocation before it writes a result. */
COREPY_API int corepy_sum_rows_f32(const float* data, size_t rows, size_t cols, float* out);
COREPY_API int corepy_sum_cols_f32(const float* data, size_t rows, size_t cols, float* out);
COREPY_API int corepy_mean_rows_f32(const float* data, size_t rows, size_t cols, float* out);
COREPY_API int corepy_mean_cols_f32(const float* data, size_t rows, size_t cols, float* out);

/* N-D reductions with numpy 1.24's semantics (ops/reduce_tensor.h has them in full). */
enum {
  COREPY_DTYPE_FLOAT32 = 1,
  COREPY_DTYPE_FLOAT64 = 2,
  COREPY_DTYPE_INT32 = 3,
  COREPY_DTYPE_INT64 = 4,
  COREPY_DTYPE_BOOL = 5,
  COREPY_DTYPE_FLOAT16 = 6,
  COREPY_DTYPE_BFLOAT16 = 7
};
enum {
  COREPY_REDUCE_SUM = 1,
  COREPY_REDUCE_PROD = 2,
  COREPY_REDUCE_MEAN = 3,
  COREPY_REDUCE_VAR = 4,
  COREPY_REDUCE_STD = 5,
  COREPY_REDUCE_MIN = 6,
  COREPY_REDUCE_MAX = 7,
  COREPY_REDUCE_ARGMIN = 8,
  COREPY_REDUCE_ARGMAX = 9,
  COREPY_REDUCE_ALL = 10,
  COREPY_REDUCE_ANY = 11,
  COREPY_REDUCE_COUNT_NONZERO = 12 /* numpy's count_nonzero: int64, NaN counts */
};

/* A strided view of someone else's memory. Element (i0, ..., in) is at
 * data + i0 * strides[0] + ... + in * strides[n] bytes; strides may be negative, or zero for a
 * broadcast dimension. */
typedef struct corepy_tensor_t {
  const void* data;
  int32_t dtype;          /* COREPY_DTYPE_* */
  int32_t ndim;           /* 0..32 */
  const int64_t* shape;   /* ndim entries */
  const int64_t* strides; /* ndim entries, in bytes; NULL: C-contiguous */
} corepy_tensor_t;

/* Reduces `in` over `axes` (naxes < 0: every axis; naxes == 0: no axis, numpy's `axis=()`,
 * which still converts to the result dtype). The result goes to `out` in C order, with
 * numpy's result dtype. *out_dtype, *out_ndim and out_shape[0..*out_ndim) describe it;
 * out_shape has room for 32 entries. Too small an out_capacity (in bytes) gives
 * COREPY_ERROR_INVALID_ARGUMENT naming the bytes needed, and nothing is written.
 * `axes` are numpy's tuple form, except for argmin and argmax, which take one axis (numpy's int
 * form: axis 0 or -1 of a 0-d array is the whole array) or every axis. `ddof` counts for var and
 * std only. A NULL pointer where one is needed is COREPY_ERROR_NULL_POINTER; an unknown op or
 * dtype, a bad ndim, shape, stride extent or axis, or an empty min/max/argmin/argmax is
 * COREPY_ERROR_INVALID_ARGUMENT, corepy_last_error() naming it. On any error nothing is written
 * to out, *out_dtype, *out_ndim or out_shape. */
COREPY_API int corepy_reduce(int32_t op, const corepy_tensor_t* in, const int32_t* axes,
                             int32_t naxes, int32_t keepdims, int32_t ddof, void* out,
                             size_t out_capacity, int32_t* out_dtype, int32_t* out_ndim,
                             int64_t* out_shape);

/* sum_f32's kernel alone, outside the dispatch layer: no arena scope, no per-op stats, no log.
 * For measuring what that layer costs (tests/bench_arena.py); use corepy_sum_f32 otherwise. */
COREPY_API int corepy_sum_f32_kernel(const float* data, size_t count, float* out);

/* The calling thread's arena. */
COREPY_API int corepy_arena_stats(corepy_arena_stats_t* out);

/* Every live thread's arenas (corepy::memory_stats(), corepy/memory_stats.h). The allocator
 * spec in force goes to `allocator` (NUL-terminated, truncated to size; NULL with size 0 skips
 * it), *needed (if not NULL) gets its full length including the NUL. */
COREPY_API int corepy_memory_stats(corepy_memory_stats_t* out, char* allocator, size_t size,
                                   size_t* needed);

/* corepy::trim(): self-tuned arenas back to their configured size; other threads' at their
 * next outermost scope. */
COREPY_API int corepy_trim(void);

/* Sets one configuration key, as corepy::configure() does: "allocator" (a spec such as
 * "arena", "system", "stats(arena)"), "arena_size", "arena_max_size" (sizes such as "4MiB"),
 * "op_arena_sizes" ("sum_f32=64KiB,..."), "log" ("debug" or "off", as COREPY_LOG),
 * "arena_shrink_after" (a count, as COREPY_ARENA_SHRINK_AFTER), "worker_spin" (a duration
 * such as "50us" or "0", as COREPY_WORKER_SPIN). */
COREPY_API int corepy_configure(const char* key, const char* value);

/* Per-op stats as JSON, written to buf (NUL-terminated, truncated to size); *needed (if not
 * NULL) gets the full length including the NUL. */
COREPY_API int corepy_op_stats_json(char* buf, size_t size, size_t* needed);

/* Waits until oneTBB's worker threads have exited (ops::finalize_parallel_workers(),
 * ops/parallel_reduce.h), which also frees their thread-local arenas: for a clean exit under a
 * leak checker (Valgrind reports workers still running at exit as possibly lost), call it at
 * shutdown, from the main thread, with no corepy call running on another thread. A later
 * parallel call starts workers again. COREPY_ERROR_INTERNAL, corepy_last_error() saying why,
 * when they cannot be waited for: called from inside a parallel call (a oneTBB task), or while
 * something else holds oneTBB's scheduler (a tbb::task_arena alive). Not from inside a C++
 * caller's tbb::task_arena::execute(): oneTBB's finalize crashes there, which corepy cannot
 * detect. */
COREPY_API int corepy_finalize_parallel_workers(void);

/* corepy's version, "MAJOR.MINOR.PATCH" (COREPY_VERSION_STRING of corepy/version.h). */
COREPY_API const char* corepy_version(void);

/* A static description of an error code; unknown codes get "unknown corepy error code". */
COREPY_API const char* corepy_error_string(int code);

/* The message of the calling thread's last failed call ("" if none has failed), as errno is
 * kept: a successful call leaves it. Valid until the thread's next failing call; messages are
 * cut to 511 bytes. */
COREPY_API const char* corepy_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* COREPY_COREPY_C_API_H_ */
