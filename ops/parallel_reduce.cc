#include "ops/parallel_reduce.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <optional>
#include <utility>

#include "allocators/arena_resource.h"
#include "allocators/upstream_resources.h"
#include "ops/internal/matrix_args.h"
#include "ops/internal/matrix_sums.h"
#include "ops/internal/parallel.h"
#include "ops/internal/reduce_kernels.h"
#include "ops/internal/reduce_tree.h"
#include "ops/reduce.h"

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
  return chunks >= 2 && bytes >= options.min_parallel_bytes &&
         internal::tbb_max_concurrency() > 1;
}

using internal::divide;

// sum_f32 of x[0, n), n >= 1, with its chunks on several threads.
float sum_range_parallel(const float* x, std::size_t n, const ParallelOptions& options) {
  const std::size_t chunks = pieces(n, kChunk);
  if (!go_parallel(n * sizeof(float), chunks, options)) return internal::sum_f32_range(x, n);
  ScratchScope scope(options);
  ScratchBuffer<float> partials(scope.resource(), chunks);
  internal::parallel_ranges(0, chunks, 1, [&](std::size_t begin_r, std::size_t end_r) {
    for (std::size_t c = begin_r; c != end_r; ++c) {
      const std::size_t begin = c * kChunk;
      partials[c] = internal::sum_f32_chunk(x + begin, std::min(kChunk, n - begin));
    }
  });
  return internal::pairwise_sum(0, chunks, [&](std::size_t c) { return partials[c]; });
}

// Column sums of columns [0, width) over leaves [lo, hi) into acc, in column_tree_f32's order,
// its two halves in parallel while they are big enough.
void column_tree_parallel(const float* x, std::size_t rows, std::size_t stride,
                          std::size_t width, std::size_t lo, std::size_t hi, float* acc,
                          const ParallelOptions& options) {
  const std::size_t elements = std::min(rows, hi * internal::kLeafRows) * width -
                               lo * internal::kLeafRows * width;
  ScratchScope scope(options);
  if (hi - lo == 1 || elements < 2 * kChunk) {
    ScratchBuffer<float> levels(scope.resource(), internal::tree_depth(hi - lo) * width);
    internal::column_tree_f32(x, rows, stride, width, lo, hi, acc, levels.data());
    return;
  }
  const std::size_t mid = lo + (hi - lo + 1) / 2;
  ScratchBuffer<float> right(scope.resource(), width);
  internal::parallel_pair(
      [&] { column_tree_parallel(x, rows, stride, width, lo, mid, acc, options); },
      [&] { column_tree_parallel(x, rows, stride, width, mid, hi, right.data(), options); });
  internal::add_f32(acc, right.data(), width);
}

}  // namespace

std::pmr::memory_resource* default_thread_scratch() {
  thread_local ArenaResource arena(kDefaultThreadScratchBytes, new_delete_upstream());
  return &arena;
}

bool finalize_parallel_workers() { return internal::tbb_finalize_workers(); }

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
  internal::parallel_ranges(0, chunks, 1, [&](std::size_t begin_r, std::size_t end_r) {
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
bool find_chunk_parallel(const unsigned char* x, std::size_t n, const ChunkTest& decides) {
  const std::size_t chunks = pieces(n, internal::kBoolChunk);
  std::atomic<bool> found{false};
  internal::parallel_ranges(0, chunks, 1, [&](std::size_t begin_r, std::size_t end_r) {
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
  return !find_chunk_parallel(reinterpret_cast<const unsigned char*>(x.data()), n,
                              [](const unsigned char* p, std::size_t m) {
                                return !internal::all_nonzero(p, m);
                              });
}

bool any_bool_parallel(absl::Span<const bool> x, const ParallelOptions& options) {
  const std::size_t n = x.size();
  if (!go_parallel(n, pieces(n, internal::kBoolChunk), options)) return any_bool(x);
  return find_chunk_parallel(reinterpret_cast<const unsigned char*>(x.data()), n,
                             [](const unsigned char* p, std::size_t m) {
                               return internal::any_nonzero(p, m);
                             });
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
  internal::parallel_ranges(0, chunks, 1, [&](std::size_t begin_r, std::size_t end_r) {
    // This task's lane terms, from the scratch of the thread running it.
    ScratchScope task_scope(options);
    ScratchBuffer<float> terms(task_scope.resource(), 2 * internal::kCompensatedLanes);
    for (std::size_t c = begin_r; c != end_r; ++c) {
      const std::size_t begin = c * kChunk;
      partials[c] = internal::compensated_chunk(x.data() + begin, std::min(kChunk, n - begin),
                                                terms.data());
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

// The sums along `axis` of the checked matrix x, appended to `out`: serially below
// options.min_parallel_bytes, else on the task arena's threads.
void axis_sums(const MatrixView<float>& x, int axis, std::pmr::vector<float>& out,
               std::pmr::memory_resource* scratch, const ParallelOptions& options) {
  const float* data = x.data();
  const std::size_t rows = x.rows();
  const std::size_t cols = x.cols();
  const std::size_t n = rows * cols;
  // Enough work for two threads: two chunks' worth. (Shapes are checked, n cannot overflow.)
  if (!go_parallel(n * sizeof(float), pieces(n, kChunk), options)) {
    internal::matrix_sums_f32(data, rows, cols, axis, out,
                              scratch != nullptr ? scratch : out.get_allocator().resource());
    return;
  }
  const std::size_t first = out.size();
  out.resize(first + (axis == 0 ? cols : rows));
  float* result = out.data() + first;
  if (axis == 1) {
    if (cols >= 2 * kChunk) {
      // Wide rows: each one's chunks in parallel too (nested parallelism is fine in TBB).
      internal::parallel_ranges(0, rows, 1, [&](std::size_t begin_r, std::size_t end_r) {
        for (std::size_t i = begin_r; i != end_r; ++i) {
          result[i] = sum_range_parallel(data + i * cols, cols, options);
        }
      });
    } else {
      const std::size_t grain = std::max<std::size_t>(1, kChunk / cols);
      internal::parallel_ranges(0, rows, grain, [&](std::size_t begin_r, std::size_t end_r) {
        internal::row_sums_f32(data + begin_r * cols, end_r - begin_r, cols, result + begin_r);
      });
    }
    return;
  }
  const std::size_t tile = internal::column_tile(rows);
  const std::size_t tiles = pieces(cols, tile);
  const std::size_t leaves = pieces(rows, internal::kLeafRows);
  internal::parallel_ranges(0, tiles, 1, [&](std::size_t begin_r, std::size_t end_r) {
    for (std::size_t t = begin_r; t != end_r; ++t) {
      const std::size_t c0 = t * tile;
      column_tree_parallel(data + c0, rows, cols, std::min(tile, cols - c0), 0, leaves, result + c0,
                           options);
    }
  });
}

void axis_means(const MatrixView<float>& x, int axis, std::pmr::vector<float>& out,
                std::pmr::memory_resource* scratch, const ParallelOptions& options) {
  const std::size_t first = out.size();
  axis_sums(x, axis, out, scratch, options);
  internal::divide_in_place(out, first, axis == 0 ? x.rows() : x.cols());
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
  (mean ? axis_means : axis_sums)(*x, axis, out, nullptr, options);
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

absl::StatusOr<std::pmr::vector<float>> mean_f32_axis_parallel(
    const float* data, std::size_t rows, std::size_t cols, int axis,
    std::pmr::memory_resource* resource, const ParallelOptions& options) {
  return axis_parallel("corepy::ops::mean_f32_axis_parallel", data, rows, cols, axis, true,
                       resource, options);
}

void sum_rows_f32(const MatrixView<float>& x, std::pmr::vector<float>& result,
                  std::pmr::memory_resource* scratch, const ParallelOptions& options) {
  axis_sums(x, 1, result, scratch, options);
}

void sum_cols_f32(const MatrixView<float>& x, std::pmr::vector<float>& result,
                  std::pmr::memory_resource* scratch, const ParallelOptions& options) {
  axis_sums(x, 0, result, scratch, options);
}

void mean_rows_f32(const MatrixView<float>& x, std::pmr::vector<float>& result,
                   std::pmr::memory_resource* scratch, const ParallelOptions& options) {
  axis_means(x, 1, result, scratch, options);
}

void mean_cols_f32(const MatrixView<float>& x, std::pmr::vector<float>& result,
                   std::pmr::memory_resource* scratch, const ParallelOptions& options) {
  axis_means(x, 0, result, scratch, options);
}

}  // namespace corepy::ops
