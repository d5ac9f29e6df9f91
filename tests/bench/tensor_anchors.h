// The anchor of the N-D reduction benchmark: Eigen 3.4's Tensor module (unsupported/Eigen/CXX11),
// summing a row-major TensorMap of the very bytes corepy reduces, over the same axes, into the
// caller's buffer. Compiled apart with -march=native like reduce_anchors.h, so Eigen is at its
// best on the machine that runs it; out of line, so the benchmark loop cannot fold it away.
//
// Two devices: Eigen's DefaultDevice (one thread, the Tensor module's own default) and its
// ThreadPoolDevice over a pool of `threads` threads, made once per thread count and kept:
// corepy's kernels split over oneTBB's threads above 512 KiB, so the fair comparison on a
// two-core machine is with two.
#ifndef COREPY_TESTS_BENCH_TENSOR_ANCHORS_H_
#define COREPY_TESTS_BENCH_TENSOR_ANCHORS_H_

#include <cstdint>

#include "absl/types/span.h"

namespace corepy::bench {

// The element types the anchor sums, and what it sums them into:
//   kFloat32  -> float;
//   kFloat64  -> double;
//   kInt32    -> int64 (cast<int64_t>() first, numpy's and corepy's widening);
//   kBFloat16 -> float (cast<float>() first: Eigen's own bfloat16 sum accumulates in bfloat16,
//                which stops growing at 2^8 times an addend, so it is no answer to compare with;
//                corepy also accumulates bfloat16 in float32).
enum class TensorAnchorType { kFloat32, kFloat64, kInt32, kBFloat16 };

// Sums row-major `x` of `shape` over `axes` (increasing; every axis for a full reduction) into
// `out`, C order, with Eigen's DefaultDevice when `threads` is 1, else a ThreadPoolDevice of that
// many threads. Supports rank 1 to 3 for kFloat32 and rank 2 for the other types; anything else
// aborts, naming the case.
void eigen_tensor_sum(TensorAnchorType type, const void* x, absl::Span<const std::int64_t> shape,
                      absl::Span<const int> axes, void* out, int threads);

// The transpose of row-major float32 `x` (rows x cols), made with shuffle({1, 0}), summed over
// its axis 0 into out[rows]: the same expression as the benchmark's transposed view, where
// eigen_tensor_sum over axis 1 of `x` is the same sums on the untransposed map.
void eigen_tensor_sum_shuffled_f32(const float* x, std::int64_t rows, std::int64_t cols, float* out,
                                   int threads);

}  // namespace corepy::bench

#endif  // COREPY_TESTS_BENCH_TENSOR_ANCHORS_H_
