#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <vector>

#include "absl/status/statusor.h"
#include "allocators/arena_resource.h"
#include "ops/parallel_reduce.h"
#include "ops/reduce.h"

namespace ops = corepy::ops;

int main() {
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  std::vector<std::int32_t> y = {2'000'000'000, 2'000'000'000};
  corepy::ArenaResource arena;  // scratch for the kernels that take some

  float s = ops::sum_f32(x);         // absl::Span<const float>; pairwise, as accurate as numpy's
  std::int64_t i = ops::sum_i32(y);  // widened like numpy
  // also mean_f32 (NaN when empty), all_bool, any_bool
  float k = ops::sum_f32_compensated(x, &arena);  // Kahan-Neumaier; lane terms in injected scratch
  if (s != 21 || i != 4'000'000'000 || k != 21) return 1;

  // Row-major rows x cols: one result per row (numpy axis=1) or per column (axis=0). The vector
  // is built on `result`; scratch comes from `scratch` (null: `result`) and is given back.
  const float* m = x.data();
  std::size_t rows = 2, cols = 3;
  std::pmr::memory_resource* result = std::pmr::new_delete_resource();
  absl::StatusOr<std::pmr::vector<float>> r = ops::sum_rows_f32(m, rows, cols, result, &arena);
  // also sum_cols_f32, mean_rows_f32, mean_cols_f32, and sum_f32_axis(m, rows, cols, axis, result)
  if (!r.ok() || *r != std::pmr::vector<float>{6, 15}) return 1;

  // oneTBB: bit for bit the serial answer at any thread count; each worker's scratch from
  // options.per_thread_scratch() on its own thread (a thread-local arena by default). Matrix
  // reductions split over threads take all theirs in one allocation before writing a result.
  float p = ops::sum_f32_parallel(x, ops::ParallelOptions{});
  if (p != s) return 1;
  return 0;
}
