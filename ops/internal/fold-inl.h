// The fold of a block's lanes into one sum, per SIMD target: the last steps of the fixed
// pairwise order (reduce_kernels.h) that the 1-D kernels (reduce_kernels.cc) and the N-D kernels
// (tensor_kernels.cc) share, so that both give the same bits. Lane j += lane j + half for half =
// count / 2, ..., 1: across vectors first (FoldVectors), then within one (FoldVector).
//
// Highway's per-target header pattern: a kernel file includes this after hwy/foreach_target.h,
// and it is compiled once for each target (HWY_TARGET_TOGGLE flips the guard). Visibility: //ops
// only.
#if defined(COREPY_OPS_INTERNAL_FOLD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef COREPY_OPS_INTERNAL_FOLD_INL_H_
#undef COREPY_OPS_INTERNAL_FOLD_INL_H_
#else
#define COREPY_OPS_INTERNAL_FOLD_INL_H_
#endif

#include <cstddef>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace corepy::ops::internal {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Lane i += lane i + half within one vector, for half = N / 2, ..., 1; returns lane 0. Halves of
// the register down to 16 bytes (a short dependency chain), then shuffles within those.
template <class D>
HWY_INLINE hn::TFromD<D> FoldVector(D d, hn::Vec<D> v) {
  using T = hn::TFromD<D>;
  constexpr std::size_t kN = hn::MaxLanes(D());
  if constexpr (kN == 1) {
    (void)d;
    return hn::GetLane(v);
  } else {
#if HWY_TARGET != HWY_SCALAR
    if constexpr (kN * sizeof(T) > 16) {
      const hn::Half<D> dh;
      return FoldVector(dh, hn::Add(hn::LowerHalf(dh, v), hn::UpperHalf(dh, v)));
    } else if constexpr (kN * sizeof(T) == 16 && sizeof(T) == 4) {
      v = hn::Add(v, hn::Shuffle1032(v));  // lanes 0, 1 += lanes 2, 3
      v = hn::Add(v, hn::Shuffle2301(v));  // lane 0 += lane 1
      return hn::GetLane(v);
    } else if constexpr (kN * sizeof(T) == 16 && sizeof(T) == 8) {
      return hn::GetLane(hn::Add(v, hn::Shuffle01(v)));  // lane 0 += lane 1
    } else
#endif
    {
      // Partial vectors: the same halving, in scalars.
      alignas(16) T x[kN];
      hn::Store(v, d, x);
      for (std::size_t half = kN / 2; half >= 1; half /= 2) {
        for (std::size_t j = 0; j < half; ++j) x[j] += x[j + half];
      }
      return x[0];
    }
  }
}

// The lanes of kCount vectors (a power of two), v[0, kCount): v[k] += v[k + half] for half =
// kCount / 2, ..., 1, then FoldVector(v[0]). Overwrites v.
template <std::size_t kCount, class D>
HWY_INLINE hn::TFromD<D> FoldVectors(D d, hn::Vec<D>* v) {
  static_assert(kCount >= 1 && (kCount & (kCount - 1)) == 0, "a power of two of vectors");
#pragma GCC unroll 128
  for (std::size_t half = kCount / 2; half >= 1; half /= 2) {
#pragma GCC unroll 128
    for (std::size_t k = 0; k < half; ++k) v[k] = hn::Add(v[k], v[k + half]);
  }
  return FoldVector(d, v[0]);
}

}  // namespace HWY_NAMESPACE
}  // namespace corepy::ops::internal
HWY_AFTER_NAMESPACE();

#endif  // COREPY_OPS_INTERNAL_FOLD_INL_H_
