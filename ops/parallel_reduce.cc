#include "ops/parallel_reduce.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <optional>
#include <stdexcept>
#include <utility>

#include "allocators/arena_resource.h"
#include "allocators/upstream_resources.h"
#include "ops/internal/matrix_args.h"
#include "ops/internal/matrix_sums.h"
#include "ops/internal/parallel.h"
#include "ops/internal/reduce_kernels.h"
#include "ops/internal/reduce_tree.h"
#include "ops/reduce.h"
#include "ops/reduce_tensor.h"
#include "ops/tensor.h"

namespace corepy::ops {
namespace {

using internal::CompensatedSum;
using internal::kChunk;
using internal::pieces;
using internal::ScratchBuffer;

// The calling thread's scratch for one task (or for the caller's own part of a call). When it
// is an ArenaResource, an ArenaRewinder scopes it, as with_arena does: tasks nest strictly on a
// thread (a task runs to completion before the frame that stole it resumes), so the rewind frees
// exactly what this task and the tasks nested in it took, spill chunks included. Any other
// resource gets its memory back by deallocate, in LIFO order.
class ScratchScope {
 public:
  explicit ScratchScope(const ParallelOptions& options)
      : resource_(options.per_thread_scratch != nullptr
                      ? options.per_thread_scratch(options.scratch_context)
                      : default_thread_scratch()) {
    if (auto* arena = dynamic_cast<ArenaResource*>(resource_)) rewind_.emplace(*arena);
  }
  ScratchScope(const ScratchScope&) = delete;
  ScratchScope& operator=(const ScratchScope&) = delete;

  std::pmr::memory_resource* resource() const { return resource_; }

 private:
  std::pmr::memory_resource* resource_;
  std::optional<ArenaRewinder> rewind_;
};

bool go_parallel(std::size_t bytes, std::size_t chunks, const ParallelOptions& options) {
  return chunks >= 2 && bytes >= options.min_parallel_bytes && internal::tbb_max_concurrency() > 1;
}

using internal::divide;

// body(begin_r, end_r) over the chunk indices [0, chunks) on the task arena's threads, then
// the workers kept spinning for options.worker_spin: every split of the 1-D entries.
template <class Body>
void split_chunks(std::size_t chunks, const ParallelOptions& options, const Body& body) {
  internal::parallel_ranges(0, chunks, 1, body);
  internal::tbb_keep_workers_spinning(options.worker_spin);
}

// sum_f32 of x[0, n), n >= 1, with its chunks on several threads.
float sum_range_parallel(const float* x, std::size_t n, const ParallelOptions& options) {
  const std::size_t chunks = pieces(n, kChunk);
  if (!go_parallel(n * sizeof(float), chunks, options)) return internal::sum_f32_range(x, n);
  ScratchScope scope(options);
  ScratchBuffer<float> partials(scope.resource(), chunks);
  split_chunks(chunks, options, [&](std::size_t begin_r, std::size_t end_r) {
    for (std::size_t c = begin_r; c != end_r; ++c) {
      const std::size_t begin = c * kChunk;
      partials[c] = internal::sum_f32_chunk(x + begin, std::min(kChunk, n - begin));
    }
  });
  return internal::pairwise_sum(0, chunks, [&](std::size_t c) { return partials[c]; });
}

}  // namespace

std::pmr::memory_resource* default_thread_scratch() {
  thread_local ArenaResource arena(kDefaultThreadScratchBytes, new_delete_upstream());
  return &arena;
}

bool finalize_parallel_workers() { return internal::tbb_finalize_workers(); }

int spinning_workers() { return internal::tbb_spinning_workers(); }

void stop_spinning_workers() { internal::tbb_stop_spinning_workers(); }

float sum_f32_parallel(absl::Span<const float> x, const ParallelOptions& options) {
  if (x.empty()) return 0.0f;
  return sum_range_parallel(x.data(), x.size(), options);
}

float mean_f32_parallel(absl::Span<const float> x, const ParallelOptions& options) {
  if (x.empty()) return std::numeric_limits<float>::quiet_NaN();
  return divide(sum_f32_parallel(x, options), x.size());
}

std::int64_t sum_i32_parallel(absl::Span<const std::int32_t> x, const ParallelOptions& options) {
  const std::size_t n = x.size();
  const std::size_t chunks = pieces(n, kChunk);
  if (!go_parallel(n * sizeof(std::int32_t), chunks, options)) return sum_i32(x);
  ScratchScope scope(options);
  ScratchBuffer<std::int64_t> partials(scope.resource(), chunks);
  split_chunks(chunks, options, [&](std::size_t begin_r, std::size_t end_r) {
    for (std::size_t c = begin_r; c != end_r; ++c) {
      const std::size_t begin = c * kChunk;
      partials[c] = internal::sum_i32_range(x.data() + begin, std::min(kChunk, n - begin));
    }
  });
  // Exact, so any order gives the same; unsigned, so wrapping is defined.
  std::uint64_t total = 0;
  for (std::size_t c = 0; c < chunks; ++c) total += static_cast<std::uint64_t>(partials[c]);
  return static_cast<std::int64_t>(total);
}

namespace {

// Whether some chunk of x has a byte for which `decides` returns true (the chunk's kernel
// result), skipping chunks once one has.
template <class ChunkTest>
bool find_chunk_parallel(const unsigned char* x, std::size_t n, const ChunkTest& decides,
                         const ParallelOptions& options) {
  const std::size_t chunks = pieces(n, internal::kBoolChunk);
  std::atomic<bool> found{false};
  split_chunks(chunks, options, [&](std::size_t begin_r, std::size_t end_r) {
    for (std::size_t c = begin_r; c != end_r; ++c) {
      if (found.load(std::memory_order_relaxed)) return;
      const std::size_t begin = c * internal::kBoolChunk;
      if (decides(x + begin, std::min(internal::kBoolChunk, n - begin))) {
        found.store(true, std::memory_order_relaxed);
        return;
      }
    }
  });
  return found.load(std::memory_order_relaxed);
}

}  // namespace

bool all_bool_parallel(absl::Span<const bool> x, const ParallelOptions& options) {
  const std::size_t n = x.size();
  if (!go_parallel(n, pieces(n, internal::kBoolChunk), options)) return all_bool(x);
  return !find_chunk_parallel(
      reinterpret_cast<const unsigned char*>(x.data()), n,
      [](const unsigned char* p, std::size_t m) { return !internal::all_nonzero(p, m); }, options);
}

bool any_bool_parallel(absl::Span<const bool> x, const ParallelOptions& options) {
  const std::size_t n = x.size();
  if (!go_parallel(n, pieces(n, internal::kBoolChunk), options)) return any_bool(x);
  return find_chunk_parallel(
      reinterpret_cast<const unsigned char*>(x.data()), n,
      [](const unsigned char* p, std::size_t m) { return internal::any_nonzero(p, m); }, options);
}

float sum_f32_compensated_parallel(absl::Span<const float> x, const ParallelOptions& options) {
  if (x.empty()) return 0.0f;
  const std::size_t n = x.size();
  const std::size_t chunks = pieces(n, kChunk);
  ScratchScope scope(options);
  if (!go_parallel(n * sizeof(float), chunks, options)) {
    return sum_f32_compensated(x, scope.resource());
  }
  ScratchBuffer<CompensatedSum> partials(scope.resource(), chunks);
  split_chunks(chunks, options, [&](std::size_t begin_r, std::size_t end_r) {
    // This task's lane terms, from the scratch of the thread running it.
    ScratchScope task_scope(options);
    ScratchBuffer<float> terms(task_scope.resource(), 2 * internal::kCompensatedLanes);
    for (std::size_t c = begin_r; c != end_r; ++c) {
      const std::size_t begin = c * kChunk;
      partials[c] =
          internal::compensated_chunk(x.data() + begin, std::min(kChunk, n - begin), terms.data());
    }
  });
  return internal::finish(internal::pairwise_tree<CompensatedSum>(
      0, chunks, [&](std::size_t c) { return partials[c]; },
      [](CompensatedSum a, CompensatedSum b) { return internal::combine(a, b); }));
}

float mean_f32_compensated_parallel(absl::Span<const float> x, const ParallelOptions& options) {
  if (x.empty()) return std::numeric_limits<float>::quiet_NaN();
  return divide(sum_f32_compensated_parallel(x, options), x.size());
}

namespace {

// The sums (or means) along `axis` of the checked matrix x, appended to `out`: serially below
// options.min_parallel_bytes, else by the N-D engine on the task arena's threads, with all its
// scratch in one allocation from `scratch` (null: the calling thread's provider) taken before
// `out` grows. So a scratch that cannot be had leaves `out` as it was.
void axis_reduce(Reduction reduction, const MatrixView<float>& x, int axis,
                 std::pmr::vector<float>& out, std::pmr::memory_resource* scratch,
                 const ParallelOptions& options) {
  const std::size_t rows = x.rows();
  const std::size_t cols = x.cols();
  const std::size_t n = rows * cols;  // checked: cannot overflow
  const std::size_t count = axis == 0 ? cols : rows;
  if (!go_parallel(n * sizeof(float), pieces(n, kChunk), options)) {
    const std::size_t first = out.size();
    internal::matrix_sums_f32(x.data(), rows, cols, axis, out,
                              scratch != nullptr ? scratch : out.get_allocator().resource());
    if (reduction == Reduction::kMean)
      internal::divide_in_place(out, first, axis == 0 ? rows : cols);
    return;
  }
  const std::int64_t shape[] = {static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols)};
  const std::int64_t axes[] = {axis};
  ReduceOptions reduce_options;
  reduce_options.all_axes = false;
  reduce_options.axes = axes;
  absl::StatusOr<ReducePlan> plan =
      ReducePlan::make(reduction, TensorView(x.data(), DType::kFloat32, shape), reduce_options);
  // A MatrixView is a valid (rows, cols) view by construction.
  if (!plan.ok()) throw std::logic_error(plan.status().ToString());
  std::optional<ScratchScope> own;
  if (scratch == nullptr) scratch = own.emplace(options).resource();
  execute_into(
      *plan,
      [&]() -> void* {
        if (out.capacity() - out.size() < count) out.reserve(out.size() + count);
        out.resize(out.size() + count);
        return out.data() + out.size() - count;
      },
      scratch, options);
}

// The older entry points: (data, rows, cols, axis) checked here, the result on `resource`.
absl::StatusOr<std::pmr::vector<float>> axis_parallel(const char* function, const float* data,
                                                      std::size_t rows, std::size_t cols, int axis,
                                                      bool mean,
                                                      std::pmr::memory_resource* resource,
                                                      const ParallelOptions& options) {
  if (axis != 0 && axis != 1) {
    return internal::check_matrix(function, data, rows, cols, axis, sizeof(float));
  }
  absl::StatusOr<MatrixView<float>> x = MatrixView<float>::make(function, data, rows, cols);
  if (!x.ok()) return x.status();
  std::pmr::vector<float> out(resource != nullptr ? resource : std::pmr::get_default_resource());
  axis_reduce(mean ? Reduction::kMean : Reduction::kSum, *x, axis, out, nullptr, options);
  return out;
}

}  // namespace

absl::StatusOr<std::pmr::vector<float>> sum_f32_axis_parallel(const float* data, std::size_t rows,
                                                              std::size_t cols, int axis,
                                                              std::pmr::memory_resource* resource,
                                                              const ParallelOptions& options) {
  return axis_parallel("corepy::ops::sum_f32_axis_parallel", data, rows, cols, axis, false,
                       resource, options);
}

absl::StatusOr<std::pmr::vector<float>> mean_f32_axis_parallel(const float* data, std::size_t rows,
                                                               std::size_t cols, int axis,
                                                               std::pmr::memory_resource* resource,
                                                               const ParallelOptions& options) {
  return axis_parallel("corepy::ops::mean_f32_axis_parallel", data, rows, cols, axis, true,
                       resource, options);
}

void sum_rows_f32(const MatrixView<float>& x, std::pmr::vector<float>& result,
                  std::pmr::memory_resource* scratch, const ParallelOptions& options) {
  axis_reduce(Reduction::kSum, x, 1, result, scratch, options);
}

void sum_cols_f32(const MatrixView<float>& x, std::pmr::vector<float>& result,
                  std::pmr::memory_resource* scratch, const ParallelOptions& options) {
  axis_reduce(Reduction::kSum, x, 0, result, scratch, options);
}

void mean_rows_f32(const MatrixView<float>& x, std::pmr::vector<float>& result,
                   std::pmr::memory_resource* scratch, const ParallelOptions& options) {
  axis_reduce(Reduction::kMean, x, 1, result, scratch, options);
}

void mean_cols_f32(const MatrixView<float>& x, std::pmr::vector<float>& result,
                   std::pmr::memory_resource* scratch, const ParallelOptions& options) {
  axis_reduce(Reduction::kMean, x, 0, result, scratch, options);
}

}  // namespace corepy::ops
