// The ops the runtime dispatches, by id and by the name configuration and stats use: the five
// reductions of the original design, the compensated sum and mean, and the row and column
// reductions of a row-major matrix.
#ifndef COREPY_COREPY_OP_TABLE_H_
#define COREPY_COREPY_OP_TABLE_H_

#include <array>
#include <cstddef>
#include <optional>

#include "absl/strings/string_view.h"

namespace corepy {

enum class Op : int {
  kSumF32,
  kSumI32,
  kMeanF32,
  kAllBool,
  kAnyBool,
  kSumF32Compensated,
  kMeanF32Compensated,
  kSumRowsF32,
  kSumColsF32,
  kMeanRowsF32,
  kMeanColsF32,
  // The N-D reductions of ops/reduce_tensor.h, in ops::Reduction's order.
  kSum,
  kProd,
  kMean,
  kVar,
  kStd,
  kMin,
  kMax,
  kArgmin,
  kArgmax,
  kAll,
  kAny,
};

inline constexpr std::size_t kOpCount = 22;

inline constexpr std::array<absl::string_view, kOpCount> kOpNames = {
    "sum_f32",
    "sum_i32",
    "mean_f32",
    "all_bool",
    "any_bool",
    "sum_f32_compensated",
    "mean_f32_compensated",
    "sum_rows_f32",
    "sum_cols_f32",
    "mean_rows_f32",
    "mean_cols_f32",
    "sum",
    "prod",
    "mean",
    "var",
    "std",
    "min",
    "max",
    "argmin",
    "argmax",
    "all",
    "any",
};

constexpr absl::string_view op_name(Op op) { return kOpNames[static_cast<std::size_t>(op)]; }

inline std::optional<Op> op_by_name(absl::string_view name) {
  for (std::size_t i = 0; i < kOpCount; ++i) {
    if (kOpNames[i] == name) return static_cast<Op>(i);
  }
  return std::nullopt;
}

}  // namespace corepy

#endif  // COREPY_COREPY_OP_TABLE_H_
