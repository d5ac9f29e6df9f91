// The sum of int32 elements as int64, wrapping as numpy's int64 sums do (the sum mod 2^64), per
// SIMD target: the 1-D sum_i32 and its rows (reduce_kernels.cc) and the N-D integer sums over
// contiguous int32 runs (tensor_kernels.cc). Any order of the additions gives the same result.
//
// With AVX-512's 64-bit arithmetic shift, a whole vector of int32 at a time, as int64 lanes of
// two elements (lo, the even one, and hi): w' = w ^ 2^31 holds hi * 2^32 + (lo + 2^31) with
// 0 <= lo + 2^31 < 2^32, so w' >> 32 (arithmetic) is hi, and over the lanes
//   sum(hi) + sum(lo) = sum(hi) + sum(w') - 2^32 sum(hi) - lanes * 2^31   (mod 2^64).
// That is one load, an xor, a shift and two adds a vector, against two loads and two PromoteTo
// (vpmovsxdq) of half vectors (tests/bench/reduce_tensor_history.md, session 37, has the
// measurements). Elsewhere (the shift emulated), half a vector at a time through PromoteTo.
//
// Highway's per-target header pattern, as fold-inl.h. Visibility: //ops only.
#if defined(COREPY_OPS_INTERNAL_INT_SUM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef COREPY_OPS_INTERNAL_INT_SUM_INL_H_
#undef COREPY_OPS_INTERNAL_INT_SUM_INL_H_
#else
#define COREPY_OPS_INTERNAL_INT_SUM_INL_H_
#endif

#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace corepy::ops::internal {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// x[0] + ... + x[n - 1] mod 2^64. Lanes add as uint64: two's complement wraps there, where signed
// lanes could overflow (undefined) on the emulated targets.
HWY_INLINE std::uint64_t SumI32Wrapping(const std::int32_t* HWY_RESTRICT x, std::size_t n) {
  const hn::ScalableTag<std::uint64_t> du;
  const hn::RebindToSigned<decltype(du)> di;
  auto a0 = hn::Zero(du);
  auto a1 = hn::Zero(du);
  auto a2 = hn::Zero(du);
  auto a3 = hn::Zero(du);
  std::size_t i = 0;
#if HWY_TARGET <= HWY_AVX3
  const hn::Repartition<std::int32_t, decltype(du)> d32;  // the same vector as int32 lanes
  const std::size_t l = hn::Lanes(d32);
  const auto flip = hn::Set(du, std::uint64_t{1} << 31);
  const auto flipped = [&](hn::Vec<decltype(d32)> w32) {  // w'
    return hn::Xor(hn::BitCast(du, w32), flip);
  };
  const auto hi = [&](hn::Vec<decltype(du)> w) {
    return hn::BitCast(du, hn::ShiftRight<32>(hn::BitCast(di, w)));
  };
  // a0 and a2 sum w', a1 and a3 sum hi.
  for (; i + 2 * l <= n; i += 2 * l) {
    const auto w0 = flipped(hn::LoadU(d32, x + i));
    const auto w1 = flipped(hn::LoadU(d32, x + i + l));
    a0 = hn::Add(a0, w0);
    a1 = hn::Add(a1, hi(w0));
    a2 = hn::Add(a2, w1);
    a3 = hn::Add(a3, hi(w1));
  }
  std::uint64_t lanes = i / 2;
  auto ws = hn::Add(a0, a2);
  auto hs = hn::Add(a1, a3);
  // The rest, a vector at a time, the last one masked: a lane of two zeros adds 2^31 to the sum
  // of w', as every lane does.
  for (; i < n; i += l) {
    const auto w = flipped(hn::MaskedLoad(hn::FirstN(d32, n - i), d32, x + i));
    ws = hn::Add(ws, w);
    hs = hn::Add(hs, hi(w));
    lanes += hn::Lanes(du);
  }
  // Lane by lane, then across the lanes once.
  const auto total = hn::Add(hn::Sub(hs, hn::ShiftLeft<32>(hs)), ws);
  return hn::GetLane(hn::SumOfLanes(du, total)) - (lanes << 31);
#else
  const hn::Rebind<std::int32_t, decltype(du)> d32;  // half a vector
  const std::size_t l = hn::Lanes(du);
  const auto widen = [&](const std::int32_t* p) {
    return hn::BitCast(du, hn::PromoteTo(di, hn::LoadU(d32, p)));
  };
  for (; i + 4 * l <= n; i += 4 * l) {
    a0 = hn::Add(a0, widen(x + i));
    a1 = hn::Add(a1, widen(x + i + l));
    a2 = hn::Add(a2, widen(x + i + 2 * l));
    a3 = hn::Add(a3, widen(x + i + 3 * l));
  }
  for (; i + l <= n; i += l) a0 = hn::Add(a0, widen(x + i));
  std::uint64_t tail = 0;
  for (; i < n; ++i) tail += static_cast<std::uint64_t>(std::int64_t{x[i]});
  const auto all = hn::Add(hn::Add(a0, a1), hn::Add(a2, a3));
  return hn::GetLane(hn::SumOfLanes(du, all)) + tail;
#endif
}

}  // namespace HWY_NAMESPACE
}  // namespace corepy::ops::internal
HWY_AFTER_NAMESPACE();

#endif  // COREPY_OPS_INTERNAL_INT_SUM_INL_H_
