// Parallel forms of the reductions in reduce.h, on oneTBB. They return exactly what the serial
// ones return, bit for bit, whatever the number of threads: the input is cut into fixed chunks
// (32Ki elements; boundaries from n alone, never from the scheduler), each chunk is reduced by
// the serial kernel, and the chunks' results are combined by the same balanced tree the serial
// code uses. Only which thread computes which chunk varies.
//
// Threads: the calling thread's current TBB task arena (by default every core; run the call
// inside a tbb::task_arena to limit it). Below ParallelOptions::min_parallel_bytes of input,
// with one chunk only, or with one thread available, the call runs serially on the calling
// thread and makes no TBB call.
//
// Scratch: whatever a task of a 1-D reduction needs (the compensated sum's lane terms, the
// chunks' results) comes from ParallelOptions::per_thread_scratch(), called on the thread that
// uses the memory, and is given back on that same thread before the task ends — so a
// thread-local arena serves it with no lock and nothing shared between threads. When the
// resource is a corepy::ArenaResource, each task marks it when it starts and rewinds it when it
// ends (what with_arena does: spill chunks come back too); tasks nest strictly on a thread, so
// that rewind frees only what the task, and tasks it ran while waiting, took. Any other resource
// gets plain deallocate calls, in LIFO order. The matrix reductions split by the N-D engine
// (reduce_tensor.h) instead: all their scratch is one allocation on the calling thread, taken
// before the first result is written, which each thread uses a slice of.
// The default is a thread-local corepy::ArenaResource private to //ops
// (default_thread_scratch()); the runtime passes its own thread arenas instead:
//   std::pmr::memory_resource* runtime_scratch(const void*) { return &corepy::thread_arena(); }
//   corepy::ops::ParallelOptions options;
//   options.per_thread_scratch = &runtime_scratch;
//   float s = corepy::ops::sum_f32_parallel(x, options);
// A provider must return a resource that the calling thread may use without synchronization,
// and that outlives the call. Allocation failures propagate to the caller (TBB rethrows a
// task's exception on the calling thread); what was allocated is given back.
//
// Axis reductions validate their arguments as reduce.h's do (absl::InvalidArgumentError).
#ifndef COREPY_OPS_PARALLEL_REDUCE_H_
#define COREPY_OPS_PARALLEL_REDUCE_H_

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "corepy/internal/require_cxx17.h"
#include "ops/parallel_options.h"
#include "ops/reduce.h"

namespace corepy::ops {

// The default provider: a corepy::ArenaResource per thread (kDefaultThreadScratchBytes block,
// made on the thread's first call, spilling to global operator new beyond that, destroyed when
// the thread exits). Memory given back in LIFO order is reused at once.
std::pmr::memory_resource* default_thread_scratch();
inline constexpr std::size_t kDefaultThreadScratchBytes = std::size_t{64} << 10;

float sum_f32_parallel(absl::Span<const float> x, const ParallelOptions& options = {});
std::int64_t sum_i32_parallel(absl::Span<const std::int32_t> x,
                              const ParallelOptions& options = {});
float mean_f32_parallel(absl::Span<const float> x, const ParallelOptions& options = {});
// Chunks stop being examined once one decides the answer (a zero for all, a nonzero for any).
bool all_bool_parallel(absl::Span<const bool> x, const ParallelOptions& options = {});
bool any_bool_parallel(absl::Span<const bool> x, const ParallelOptions& options = {});
float sum_f32_compensated_parallel(absl::Span<const float> x, const ParallelOptions& options = {});
float mean_f32_compensated_parallel(absl::Span<const float> x, const ParallelOptions& options = {});

// Waits until oneTBB's worker threads have exited, which also destroys their thread-local
// scratch (default_thread_scratch's arenas). For a clean exit under leak checkers (Valgrind
// reports the thread stacks of workers still running at exit as possibly lost): call it at
// shutdown, on the main thread, with no parallel call running and no tbb::task_arena alive.
// Returns whether the workers could be waited for (false: called from a oneTBB task, or
// something still holds the scheduler). A later parallel call starts workers again. Never from
// inside tbb::task_arena::execute(): oneTBB's finalize crashes there (oneTBB 2021.8).
bool finalize_parallel_workers();

// The workers kept spinning after split calls (ParallelOptions::worker_spin): their tasks
// enqueued or running now, at most one per worker.
int spinning_workers();
// Ends those tasks and waits until each has. fork() does this first (in its prepare handler),
// as do finalize_parallel_workers() and the unloading of this library (dlclose, or exit).
void stop_spinning_workers();

// As reduce.h's: the result on `resource` (allocated on the calling thread). Split, they are
// the N-D engine's (ops::execute_into of a (rows, cols) view): axis 1 shares out the rows; axis 0
// the column tiles, or, with too few tiles for the threads, each tile's rows. The scratch is one
// allocation from the per-thread provider of the calling thread, taken before the result vector
// grows: when it cannot be had, the exception propagates and nothing was written or kept.
absl::StatusOr<std::pmr::vector<float>> sum_f32_axis_parallel(
    const float* data, std::size_t rows, std::size_t cols, int axis,
    std::pmr::memory_resource* resource = std::pmr::get_default_resource(),
    const ParallelOptions& options = {});
absl::StatusOr<std::pmr::vector<float>> mean_f32_axis_parallel(
    const float* data, std::size_t rows, std::size_t cols, int axis,
    std::pmr::memory_resource* resource = std::pmr::get_default_resource(),
    const ParallelOptions& options = {});

// ------------------------------------------------------------------------- the ops entries
//
// One entry per reduction, what the runtime (corepy/dispatch.h, through corepy/op_table.h)
// calls: the input, the scratch resource for the calling thread, and the parallel options; for
// the matrix reductions also the result, built on its vector's resource. Each chooses serial or
// parallel itself (the serial kernel below options.min_parallel_bytes of input, with nothing
// more than a comparison added to it), and checks nothing a MatrixView has checked.
//
// The 1-D entries hand the split kernel a copy of the options: a caller's options built inline
// (the dispatch's are) then never need an address on the serial path, and stay in registers
// rather than being stored for a call that does not happen.
//
// Matrix entries append their results (rows results for *_rows_*, cols for *_cols_*) to
// `result`, reserving room on its resource first if it has too little: one allocation of
// exactly the results' size on an empty vector, none when the caller reserved it. `scratch`
// serves the serial path (as reduce.h's sum_rows_f32 and the like describe) and, for the matrix
// entries, the split one too, in one allocation taken before `result` grows (null: the calling
// thread's options.per_thread_scratch); the 1-D entries' tasks take theirs from
// options.per_thread_scratch on each thread.
inline float sum_f32(absl::Span<const float> x, std::pmr::memory_resource* /*scratch*/,
                     const ParallelOptions& options) {
  if (ABSL_PREDICT_TRUE(x.size() * sizeof(float) < options.min_parallel_bytes)) return sum_f32(x);
  return sum_f32_parallel(x, ParallelOptions(options));
}
inline std::int64_t sum_i32(absl::Span<const std::int32_t> x,
                            std::pmr::memory_resource* /*scratch*/,
                            const ParallelOptions& options) {
  if (ABSL_PREDICT_TRUE(x.size() * sizeof(std::int32_t) < options.min_parallel_bytes)) {
    return sum_i32(x);
  }
  return sum_i32_parallel(x, ParallelOptions(options));
}
inline float mean_f32(absl::Span<const float> x, std::pmr::memory_resource* /*scratch*/,
                      const ParallelOptions& options) {
  if (ABSL_PREDICT_TRUE(x.size() * sizeof(float) < options.min_parallel_bytes)) return mean_f32(x);
  return mean_f32_parallel(x, ParallelOptions(options));
}
inline bool all_bool(absl::Span<const bool> x, std::pmr::memory_resource* /*scratch*/,
                     const ParallelOptions& options) {
  if (ABSL_PREDICT_TRUE(x.size() < options.min_parallel_bytes)) return all_bool(x);
  return all_bool_parallel(x, ParallelOptions(options));
}
inline bool any_bool(absl::Span<const bool> x, std::pmr::memory_resource* /*scratch*/,
                     const ParallelOptions& options) {
  if (ABSL_PREDICT_TRUE(x.size() < options.min_parallel_bytes)) return any_bool(x);
  return any_bool_parallel(x, ParallelOptions(options));
}
inline float sum_f32_compensated(absl::Span<const float> x, std::pmr::memory_resource* scratch,
                                 const ParallelOptions& options) {
  if (ABSL_PREDICT_TRUE(x.size() * sizeof(float) < options.min_parallel_bytes)) {
    return sum_f32_compensated(x, scratch);
  }
  return sum_f32_compensated_parallel(x, ParallelOptions(options));
}
inline float mean_f32_compensated(absl::Span<const float> x, std::pmr::memory_resource* scratch,
                                  const ParallelOptions& options) {
  if (ABSL_PREDICT_TRUE(x.size() * sizeof(float) < options.min_parallel_bytes)) {
    return mean_f32_compensated(x, scratch);
  }
  return mean_f32_compensated_parallel(x, ParallelOptions(options));
}
void sum_rows_f32(const MatrixView<float>& x, std::pmr::vector<float>& result,
                  std::pmr::memory_resource* scratch, const ParallelOptions& options);
void sum_cols_f32(const MatrixView<float>& x, std::pmr::vector<float>& result,
                  std::pmr::memory_resource* scratch, const ParallelOptions& options);
void mean_rows_f32(const MatrixView<float>& x, std::pmr::vector<float>& result,
                   std::pmr::memory_resource* scratch, const ParallelOptions& options);
void mean_cols_f32(const MatrixView<float>& x, std::pmr::vector<float>& result,
                   std::pmr::memory_resource* scratch, const ParallelOptions& options);

}  // namespace corepy::ops

#endif  // COREPY_OPS_PARALLEL_REDUCE_H_
