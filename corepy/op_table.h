// The ops the runtime dispatches, by id and by the name configuration and stats use.
#ifndef COREPY_COREPY_OP_TABLE_H_
#define COREPY_COREPY_OP_TABLE_H_

#include <array>
#include <cstddef>
#include <optional>

#include "absl/strings/string_view.h"

namespace corepy {

enum class Op : int { kSumF32, kSumI32, kMeanF32, kAllBool, kAnyBool };

inline constexpr std::size_t kOpCount = 5;

inline constexpr std::array<absl::string_view, kOpCount> kOpNames = {
    "sum_f32", "sum_i32", "mean_f32", "all_bool", "any_bool"};

constexpr absl::string_view op_name(Op op) { return kOpNames[static_cast<std::size_t>(op)]; }

inline std::optional<Op> op_by_name(absl::string_view name) {
  for (std::size_t i = 0; i < kOpCount; ++i) {
    if (kOpNames[i] == name) return static_cast<Op>(i);
  }
  return std::nullopt;
}

}  // namespace corepy

#endif  // COREPY_COREPY_OP_TABLE_H_
