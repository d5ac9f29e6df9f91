#include "ops/internal/matrix_args.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace corepy::ops::internal {

absl::Status check_matrix(const char* function, const void* data, std::size_t rows,
                          std::size_t cols, int axis, std::size_t element_size) {
  if (axis != 0 && axis != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(function, ": axis must be 0 (reduce down the columns: one result per column) "
                               "or 1 (reduce along each row: one result per row), got axis=",
                     axis));
  }
  // Results are at most 8 bytes (int64 sums); inputs are element_size bytes.
  const std::size_t widest = std::max<std::size_t>(element_size, 8);
  const std::size_t max_elements = static_cast<std::size_t>(PTRDIFF_MAX) / widest;
  if (rows > max_elements) {
    return absl::InvalidArgumentError(absl::StrCat(
        function, ": rows=", rows, " is larger than any array can be (at most ", max_elements,
        ")"));
  }
  if (cols > max_elements) {
    return absl::InvalidArgumentError(absl::StrCat(
        function, ": cols=", cols, " is larger than any array can be (at most ", max_elements,
        ")"));
  }
  if (rows != 0 && cols > max_elements / rows) {
    return absl::InvalidArgumentError(absl::StrCat(function, ": rows * cols overflows: rows=",
                                                   rows, ", cols=", cols, " (at most ",
                                                   max_elements, " elements)"));
  }
  if (data == nullptr && rows != 0 && cols != 0) {
    return absl::InvalidArgumentError(absl::StrCat(function, ": data is null but the matrix has rows=",
                                                   rows, ", cols=", cols, " (", rows * cols,
                                                   " elements)"));
  }
  return absl::OkStatus();
}

}  // namespace corepy::ops::internal
