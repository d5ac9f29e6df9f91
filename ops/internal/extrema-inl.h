// The extremes of a contiguous run, per SIMD target: min, max, argmin and argmax of float32,
// float64, int32 and int64 elements for the N-D reductions (tensor_kernels.cc), with the
// semantics of their scalar loop there, which these replace where a run is contiguous and
// aligned and holds at least a vector:
//   - the first extreme element wins: min/max of elements equal in value (-0.0 and +0.0) give the
//     first of them, argmin/argmax its index;
//   - a NaN decides: min/max give the first NaN, argmin/argmax its index.
// A vector of lanes keeps each lane's extreme while the run streams past (an overlapping last
// vector for min and max, which visiting an element twice does not change), and a NaN mask; the
// lanes then give the extreme, and the rare cases look again: a NaN (its first), a zero extreme
// (its first zero, for the sign). argmin/argmax keep each lane's first index of its extreme (a
// strict comparison) and take the least index among the lanes that hold the extreme.
//
// The scalar loop's per-element select chain took about 3 ns an element (float64 (100000, 16)
// over axis 1: 50 ns a row on one thread); these read at the speed of the vector loads.
//
// Highway's per-target header pattern, as fold-inl.h. Visibility: //ops only.
#if defined(COREPY_OPS_INTERNAL_EXTREMA_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef COREPY_OPS_INTERNAL_EXTREMA_INL_H_
#undef COREPY_OPS_INTERNAL_EXTREMA_INL_H_
#else
#define COREPY_OPS_INTERNAL_EXTREMA_INL_H_
#endif

#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace corepy::ops::internal {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The first NaN of x[0, n), which holds one.
template <class T>
HWY_INLINE std::size_t FirstNaN(const T* HWY_RESTRICT x, std::size_t n) {
  std::size_t i = 0;
  while (i + 1 < n && x[i] == x[i]) ++i;
  return i;
}

// min (kMin) or max of x[0, n), n >= a vector of T (hn::ScalableTag<T>), as
// described above.
template <bool kMin, class T>
HWY_INLINE T ExtremeOfRun(const T* HWY_RESTRICT x, std::size_t n) {
  const hn::ScalableTag<T> d;
  const std::size_t kN = hn::Lanes(d);
  auto pick = [](auto a, auto b) HWY_ATTR { return kMin ? hn::Min(a, b) : hn::Max(a, b); };
  auto a0 = hn::LoadU(d, x);
  auto a1 = a0;
  auto nan = hn::FirstN(d, 0);  // none
  if constexpr (std::is_floating_point_v<T>) nan = hn::IsNaN(a0);
  std::size_t i = kN;
  for (; i + 2 * kN <= n; i += 2 * kN) {
    const auto v0 = hn::LoadU(d, x + i);
    const auto v1 = hn::LoadU(d, x + i + kN);
    a0 = pick(a0, v0);
    a1 = pick(a1, v1);
    if constexpr (std::is_floating_point_v<T>) {
      nan = hn::Or(nan, hn::Or(hn::IsNaN(v0), hn::IsNaN(v1)));
    }
  }
  for (; i < n; i += kN) {  // the last vector ends at the run's end, overlapping what came before
    const auto v = hn::LoadU(d, x + (i + kN <= n ? i : n - kN));
    a0 = pick(a0, v);
    if constexpr (std::is_floating_point_v<T>) nan = hn::Or(nan, hn::IsNaN(v));
  }
  if constexpr (std::is_floating_point_v<T>) {
    if (HWY_UNLIKELY(!hn::AllFalse(d, nan))) return x[FirstNaN(x, n)];
  }
  a0 = pick(a0, a1);
  const T best = hn::GetLane(kMin ? hn::MinOfLanes(d, a0) : hn::MaxOfLanes(d, a0));
  if constexpr (std::is_floating_point_v<T>) {
    if (HWY_UNLIKELY(best == T(0))) {  // -0.0 or +0.0: the first zero's
      std::size_t j = 0;
      while (x[j] != T(0)) ++j;
      return x[j];
    }
  }
  return best;
}

// The index of argmin (kMin) or argmax of x[0, n), a vector of T <= n < 2^31 (the lanes'
// indices are as wide as T), as described above. Two sets of lanes take alternate vectors, so
// that two compare-and-select chains run at once (one held float64 (1000, 1000) to 0.98x
// numpy's time); they merge lane by lane, an equal value going to the lower index.
template <bool kMin, class T>
HWY_INLINE std::size_t ArgExtremeOfRun(const T* HWY_RESTRICT x, std::size_t n) {
  const hn::ScalableTag<T> d;
  using I = hwy::MakeSigned<T>;
  const hn::RebindToSigned<decltype(d)> di;
  const std::size_t kN = hn::Lanes(d);
  auto better = [](auto a, auto b) HWY_ATTR { return kMin ? hn::Lt(a, b) : hn::Lt(b, a); };
  auto best0 = hn::LoadU(d, x);
  auto index0 = hn::Iota(di, 0);
  auto best1 = best0;
  auto index1 = index0;
  auto nan = hn::FirstN(d, 0);
  if constexpr (std::is_floating_point_v<T>) nan = hn::IsNaN(best0);
  // Lanes `best`, `index` take the vector at `from` where it is better (strictly: an element
  // seen twice, as the overlapping last vector's, changes nothing).
  auto visit = [&](auto& best, auto& index, std::size_t from) HWY_ATTR {
    const auto v = hn::LoadU(d, x + from);
    const auto take = better(v, best);
    best = hn::IfThenElse(take, v, best);
    index = hn::IfThenElse(hn::RebindMask(di, take),
                           hn::Add(hn::Iota(di, 0), hn::Set(di, static_cast<I>(from))), index);
    if constexpr (std::is_floating_point_v<T>) nan = hn::Or(nan, hn::IsNaN(v));
  };
  std::size_t i = kN;
  for (; i + 2 * kN <= n; i += 2 * kN) {
    visit(best0, index0, i);
    visit(best1, index1, i + kN);
  }
  for (; i < n; i += kN) visit(best0, index0, i + kN <= n ? i : n - kN);
  if constexpr (std::is_floating_point_v<T>) {
    if (HWY_UNLIKELY(!hn::AllFalse(d, nan))) return FirstNaN(x, n);
  }
  const auto take1 =
      hn::Or(better(best1, best0),
             hn::And(hn::Eq(best1, best0), hn::RebindMask(d, hn::Lt(index1, index0))));
  const auto best = hn::IfThenElse(take1, best1, best0);
  const auto index = hn::IfThenElse(hn::RebindMask(di, take1), index1, index0);
  const auto extreme = kMin ? hn::MinOfLanes(d, best) : hn::MaxOfLanes(d, best);
  const auto holders = hn::RebindMask(di, hn::Eq(best, extreme));
  const auto none = hn::Set(di, std::numeric_limits<I>::max());
  return static_cast<std::size_t>(
      hn::GetLane(hn::MinOfLanes(di, hn::IfThenElse(holders, index, none))));
}

}  // namespace HWY_NAMESPACE
}  // namespace corepy::ops::internal
HWY_AFTER_NAMESPACE();

#endif  // include guard
