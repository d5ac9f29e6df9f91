#include "ops/internal/matrix_sums.h"

#include <algorithm>
#include <limits>

#include "ops/internal/reduce_kernels.h"
#include "ops/internal/reduce_tree.h"

namespace corepy::ops::internal {
namespace {

// The results are computed into a small scratch tile and appended to a vector that reserved
// them all: each result is written to the vector once (sizing it up front would write it twice,
// zeros first, which for narrow rows is an eighth of the input's traffic again).
constexpr std::size_t kRowTile = 4096;

}  // namespace

void matrix_sums_f32(const float* data, std::size_t rows, std::size_t cols, int axis,
                     std::pmr::vector<float>& out, std::pmr::memory_resource* scratch) {
  const std::size_t count = axis == 0 ? cols : rows;
  if (out.capacity() - out.size() < count) out.reserve(out.size() + count);
  if (rows == 0 || cols == 0) {
    out.insert(out.end(), count, 0.0f);
    return;
  }
  if (axis == 1) {
    ScratchBuffer<float> tile(scratch, std::min(rows, kRowTile));
    for (std::size_t r0 = 0; r0 < rows; r0 += kRowTile) {
      const std::size_t m = std::min(kRowTile, rows - r0);
      row_sums_f32(data + r0 * cols, m, cols, tile.data());
      out.insert(out.end(), tile.data(), tile.data() + m);
    }
    return;
  }
  // A tile of column sums, then the tree's levels below it.
  const std::size_t tile = column_tile(rows);
  const std::size_t width = std::min(cols, tile);
  const std::size_t leaves = pieces(rows, kLeafRows);
  ScratchBuffer<float> acc(scratch, (1 + tree_depth(leaves)) * width);
  for (std::size_t c0 = 0; c0 < cols; c0 += tile) {
    const std::size_t w = std::min(tile, cols - c0);
    column_tree_f32(data + c0, rows, cols, w, 0, leaves, acc.data(), acc.data() + width);
    out.insert(out.end(), acc.data(), acc.data() + w);
  }
}

void divide_in_place(std::pmr::vector<float>& out, std::size_t first, std::size_t count) {
  for (std::size_t i = first; i < out.size(); ++i) {
    out[i] = count == 0 ? std::numeric_limits<float>::quiet_NaN() : divide(out[i], count);
  }
}

}  // namespace corepy::ops::internal
