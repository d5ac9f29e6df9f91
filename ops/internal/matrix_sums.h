// The serial float reductions of a row-major matrix, into a caller's vector, for every entry
// point of reduce.h and parallel_reduce.h: the shape was checked once by whoever made the
// MatrixView (ops/reduce.h), so nothing here checks it again.
//
// Visibility: //ops only.
#ifndef COREPY_OPS_INTERNAL_MATRIX_SUMS_H_
#define COREPY_OPS_INTERNAL_MATRIX_SUMS_H_

#include <cstddef>
#include <memory_resource>
#include <vector>

namespace corepy::ops::internal {

// Appends the sums along `axis` (1: one per row, 0: one per column) of the rows x cols matrix at
// `data` to `out`, reserving room for them on out's resource first if it has too little. Scratch
// comes from `scratch` and is given back before return; it is taken before the first result is
// written, so a scratch failure leaves `out` as it was.
void matrix_sums_f32(const float* data, std::size_t rows, std::size_t cols, int axis,
                     std::pmr::vector<float>& out, std::pmr::memory_resource* scratch);

// Divides out[first, end) by `count` in double (NaN when count is 0): sums into means.
void divide_in_place(std::pmr::vector<float>& out, std::size_t first, std::size_t count);

// sum / count, in double: a count may not be exactly representable as a float.
inline float divide(float sum, std::size_t count) {
  return static_cast<float>(static_cast<double>(sum) / static_cast<double>(count));
}

}  // namespace corepy::ops::internal

#endif  // COREPY_OPS_INTERNAL_MATRIX_SUMS_H_
