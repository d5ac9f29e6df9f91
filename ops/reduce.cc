#include "ops/reduce.h"

#include <limits>

namespace corepy::ops {
namespace {

constexpr std::size_t kPairwiseBlock = 128;

// Eight independent accumulators per block, so the loop is not one long dependency chain.
float sum_block(const float* x, std::size_t n) {
  float acc[8] = {};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (std::size_t k = 0; k < 8; ++k) acc[k] += x[i + k];
  }
  for (std::size_t k = 0; i < n; ++i, ++k) acc[k] += x[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

float sum_pairwise(const float* x, std::size_t n) {
  if (n <= kPairwiseBlock) return sum_block(x, n);
  // Split on a block boundary so every leaf but the last is a full block.
  const std::size_t half = (n / 2 + kPairwiseBlock - 1) / kPairwiseBlock * kPairwiseBlock;
  return sum_pairwise(x, half) + sum_pairwise(x + half, n - half);
}

}  // namespace

float sum_f32(absl::Span<const float> x) { return sum_pairwise(x.data(), x.size()); }

std::int64_t sum_i32(absl::Span<const std::int32_t> x) {
  std::int64_t sum = 0;
  for (std::int32_t v : x) sum += v;
  return sum;
}

float mean_f32(absl::Span<const float> x) {
  if (x.empty()) return std::numeric_limits<float>::quiet_NaN();
  // Divide in double: n may not be exactly representable as a float.
  return static_cast<float>(static_cast<double>(sum_f32(x)) / static_cast<double>(x.size()));
}

// A bool's object representation may hold any nonzero byte (from C, ctypes or memcpy); reading
// the bytes treats every nonzero byte as true instead of relying on the value being 0 or 1.
bool all_bool(absl::Span<const bool> x) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(x.data());
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (bytes[i] == 0) return false;
  }
  return true;
}

bool any_bool(absl::Span<const bool> x) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(x.data());
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (bytes[i] != 0) return true;
  }
  return false;
}

}  // namespace corepy::ops
