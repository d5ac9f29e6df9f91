// The checks every (data, rows, cols, axis) reduction makes before touching anything.
//
// Visibility: //ops only; other packages check a shape through ops::MatrixView::make (reduce.h).
#ifndef COREPY_OPS_INTERNAL_MATRIX_ARGS_H_
#define COREPY_OPS_INTERNAL_MATRIX_ARGS_H_

#include <cstddef>

#include "absl/status/status.h"

namespace corepy::ops::internal {

// Axis is 0 or 1; neither dimension nor rows * cols exceeds what an array of `element_size`
// bytes (or of the 8-byte results) can hold; data is not null unless the matrix is empty.
// InvalidArgument names the argument and its value, after `function`.
absl::Status check_matrix(const char* function, const void* data, std::size_t rows,
                          std::size_t cols, int axis, std::size_t element_size);

}  // namespace corepy::ops::internal

#endif  // COREPY_OPS_INTERNAL_MATRIX_ARGS_H_
