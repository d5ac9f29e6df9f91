#include "ops/reduce.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "ops/internal/matrix_args.h"
#include "ops/internal/matrix_sums.h"
#include "ops/internal/reduce_kernels.h"
#include "ops/internal/reduce_tree.h"

namespace corepy::ops {
namespace {

using internal::CompensatedSum;
using internal::kChunk;
using internal::pieces;
using internal::ScratchBuffer;

std::pmr::memory_resource* or_default(std::pmr::memory_resource* resource) {
  return resource != nullptr ? resource : std::pmr::get_default_resource();
}

using internal::divide;

}  // namespace

float sum_f32(absl::Span<const float> x) {
  if (x.empty()) return 0.0f;
  return internal::sum_f32_range(x.data(), x.size());
}

std::int64_t sum_i32(absl::Span<const std::int32_t> x) {
  if (x.empty()) return 0;
  return internal::sum_i32_range(x.data(), x.size());
}

float mean_f32(absl::Span<const float> x) {
  if (x.empty()) return std::numeric_limits<float>::quiet_NaN();
  return divide(sum_f32(x), x.size());
}

bool all_bool(absl::Span<const bool> x) {
  if (x.empty()) return true;
  return internal::all_nonzero(reinterpret_cast<const unsigned char*>(x.data()), x.size());
}

bool any_bool(absl::Span<const bool> x) {
  if (x.empty()) return false;
  return internal::any_nonzero(reinterpret_cast<const unsigned char*>(x.data()), x.size());
}

float sum_f32_compensated(absl::Span<const float> x, std::pmr::memory_resource* scratch) {
  if (x.empty()) return 0.0f;
  scratch = or_default(scratch);
  const std::size_t n = x.size();
  const std::size_t chunks = pieces(n, kChunk);
  // The lanes' terms while a chunk runs, then each chunk's folded pair until the tree combines
  // them. Declared in this order, they go back in the reverse one: an arena pops both.
  ScratchBuffer<float> terms(scratch, 2 * internal::kCompensatedLanes);
  ScratchBuffer<CompensatedSum> partials(scratch, chunks);
  for (std::size_t c = 0; c < chunks; ++c) {
    const std::size_t begin = c * kChunk;
    partials[c] =
        internal::compensated_chunk(x.data() + begin, std::min(kChunk, n - begin), terms.data());
  }
  return internal::finish(internal::pairwise_tree<CompensatedSum>(
      0, chunks, [&](std::size_t c) { return partials[c]; },
      [](CompensatedSum a, CompensatedSum b) { return internal::combine(a, b); }));
}

float mean_f32_compensated(absl::Span<const float> x, std::pmr::memory_resource* scratch) {
  if (x.empty()) return std::numeric_limits<float>::quiet_NaN();
  return divide(sum_f32_compensated(x, scratch), x.size());
}

template <class T>
absl::StatusOr<MatrixView<T>> MatrixView<T>::make(const char* function, const T* data,
                                                  std::size_t rows, std::size_t cols) {
  if (absl::Status s = internal::check_matrix(function, data, rows, cols, 1, sizeof(T)); !s.ok()) {
    return s;
  }
  return MatrixView(data, rows, cols);
}

template class MatrixView<float>;
template class MatrixView<std::int32_t>;

namespace {

// Every float reduction of a matrix by the older entry points, whichever names it: `function`
// for the messages, the result on `resource`, the scratch on `scratch` (null: `resource`).
absl::StatusOr<std::pmr::vector<float>> matrix_f32(const char* function, const float* data,
                                                   std::size_t rows, std::size_t cols, int axis,
                                                   bool mean, std::pmr::memory_resource* resource,
                                                   std::pmr::memory_resource* scratch) {
  if (absl::Status s = internal::check_matrix(function, data, rows, cols, axis, sizeof(float));
      !s.ok()) {
    return s;
  }
  resource = or_default(resource);
  std::pmr::vector<float> out(resource);
  internal::matrix_sums_f32(data, rows, cols, axis, out, scratch != nullptr ? scratch : resource);
  if (mean) internal::divide_in_place(out, 0, axis == 0 ? rows : cols);
  return out;
}

}  // namespace

absl::StatusOr<std::pmr::vector<float>> sum_f32_axis(const float* data, std::size_t rows,
                                                     std::size_t cols, int axis,
                                                     std::pmr::memory_resource* resource) {
  return matrix_f32("corepy::ops::sum_f32_axis", data, rows, cols, axis, false, resource, nullptr);
}

absl::StatusOr<std::pmr::vector<float>> mean_f32_axis(const float* data, std::size_t rows,
                                                      std::size_t cols, int axis,
                                                      std::pmr::memory_resource* resource) {
  return matrix_f32("corepy::ops::mean_f32_axis", data, rows, cols, axis, true, resource, nullptr);
}

absl::StatusOr<std::pmr::vector<float>> sum_rows_f32(const float* data, std::size_t rows,
                                                     std::size_t cols,
                                                     std::pmr::memory_resource* resource,
                                                     std::pmr::memory_resource* scratch) {
  return matrix_f32("corepy::ops::sum_rows_f32", data, rows, cols, 1, false, resource, scratch);
}

absl::StatusOr<std::pmr::vector<float>> sum_cols_f32(const float* data, std::size_t rows,
                                                     std::size_t cols,
                                                     std::pmr::memory_resource* resource,
                                                     std::pmr::memory_resource* scratch) {
  return matrix_f32("corepy::ops::sum_cols_f32", data, rows, cols, 0, false, resource, scratch);
}

absl::StatusOr<std::pmr::vector<float>> mean_rows_f32(const float* data, std::size_t rows,
                                                      std::size_t cols,
                                                      std::pmr::memory_resource* resource,
                                                      std::pmr::memory_resource* scratch) {
  return matrix_f32("corepy::ops::mean_rows_f32", data, rows, cols, 1, true, resource, scratch);
}

absl::StatusOr<std::pmr::vector<float>> mean_cols_f32(const float* data, std::size_t rows,
                                                      std::size_t cols,
                                                      std::pmr::memory_resource* resource,
                                                      std::pmr::memory_resource* scratch) {
  return matrix_f32("corepy::ops::mean_cols_f32", data, rows, cols, 0, true, resource, scratch);
}

absl::StatusOr<std::pmr::vector<std::int64_t>> sum_i32_axis(const std::int32_t* data,
                                                            std::size_t rows, std::size_t cols,
                                                            int axis,
                                                            std::pmr::memory_resource* resource) {
  if (absl::Status s = internal::check_matrix("corepy::ops::sum_i32_axis", data, rows, cols,
                                              axis, sizeof(std::int32_t));
      !s.ok()) {
    return s;
  }
  resource = or_default(resource);
  const std::size_t count = axis == 0 ? cols : rows;
  std::pmr::vector<std::int64_t> out(resource);
  if (rows == 0 || cols == 0) {
    out.assign(count, 0);
    return out;
  }
  out.reserve(count);
  if (axis == 1) {
    constexpr std::size_t kRowTile = 4096;  // as matrix_sums_f32's tile
    ScratchBuffer<std::int64_t> tile(resource, std::min(rows, kRowTile));
    for (std::size_t r0 = 0; r0 < rows; r0 += kRowTile) {
      const std::size_t m = std::min(kRowTile, rows - r0);
      internal::row_sums_i32(data + r0 * cols, m, cols, tile.data());
      out.insert(out.end(), tile.data(), tile.data() + m);
    }
    return out;
  }
  // Exact, so no tree: every row added in turn to a tile of column sums.
  const std::size_t tile = internal::column_tile(rows);
  const std::size_t width = std::min(cols, tile);
  ScratchBuffer<std::int64_t> acc(resource, width);
  for (std::size_t c0 = 0; c0 < cols; c0 += tile) {
    const std::size_t w = std::min(tile, cols - c0);
    std::fill(acc.data(), acc.data() + w, std::int64_t{0});
    internal::add_columns_i32(data + c0, rows, cols, w, acc.data());
    out.insert(out.end(), acc.data(), acc.data() + w);
  }
  return out;
}

}  // namespace corepy::ops
