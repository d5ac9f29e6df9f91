// Reductions over contiguous spans: sum, mean, all, any. Their edge cases follow numpy:
// an empty sum is 0, an empty mean is NaN, an empty all() is true and an empty any() is false;
// integer sums widen to int64; NaN and +-Inf propagate as IEEE addition does.
//
// Float sums are pairwise (blocks of kPairwiseBlock summed directly, then combined as a
// balanced tree), as numpy's are, so the error grows with log(n) instead of n.
#ifndef COREPY_OPS_REDUCE_H_
#define COREPY_OPS_REDUCE_H_

#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"

namespace corepy::ops {

float sum_f32(absl::Span<const float> x);                // 0 when empty
std::int64_t sum_i32(absl::Span<const std::int32_t> x);  // widened like numpy
float mean_f32(absl::Span<const float> x);               // NaN when empty
bool all_bool(absl::Span<const bool> x);                 // true when empty
bool any_bool(absl::Span<const bool> x);                 // false when empty

}  // namespace corepy::ops

#endif  // COREPY_OPS_REDUCE_H_
