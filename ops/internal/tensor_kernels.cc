// Highway compiles this file once per SIMD target (foreach_target.h re-includes it), and
// run_reduction() calls the best one the CPU supports. tensor_kernels.h describes the
// strategies and the order of every float sum.
#include "ops/internal/tensor_kernels.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "ops/internal/parallel.h"
#include "ops/internal/reduce_tree.h"
#include "ops/internal/simd_targets.h"  // before foreach_target.h
#include "ops/internal/tensor_elements.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/internal/tensor_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
// After foreach_target.h: compiled for each target with this file.
#include "ops/internal/extrema-inl.h"
#include "ops/internal/fold-inl.h"
#include "ops/internal/int_sum-inl.h"
#include "ops/internal/truth-inl.h"

#ifndef COREPY_OPS_INTERNAL_TENSOR_KERNELS_ONCE_
#define COREPY_OPS_INTERNAL_TENSOR_KERNELS_ONCE_
namespace corepy::ops::internal {
namespace {

// The calling thread's scratch slot. Inside a parallel body that is its index in the task
// arena; a caller that has not entered the arena (the serial start of a split tree) runs before
// any task of this call exists, and takes slot 0.
inline std::size_t slot_index() {
  const int i = tbb_thread_index();
  return i < 0 ? 0 : static_cast<std::size_t>(i);
}

// Offset of position m (C order) over dims [0, n).
inline std::int64_t decode(const Dim* dims, std::size_t n, std::uint64_t m) {
  std::int64_t offset = 0;
  for (std::size_t k = n; k-- > 0;) {
    const auto size = static_cast<std::uint64_t>(dims[k].size);
    offset += static_cast<std::int64_t>(m % size) * dims[k].stride;
    m /= size;
  }
  return offset;
}

inline std::uint64_t product(const Dim* dims, std::size_t n) {
  std::uint64_t p = 1;
  for (std::size_t k = 0; k < n; ++k) p *= static_cast<std::uint64_t>(dims[k].size);
  return p;
}

// x^k modulo 2^64: what k-fold wrapping multiplication gives.
inline std::uint64_t wrapping_pow(std::uint64_t x, std::uint64_t k) {
  std::uint64_t result = 1;
  for (; k != 0; k >>= 1, x *= x) {
    if (k & 1) result *= x;
  }
  return result;
}

// x^k for the product of k copies of a float64 partial product. The sign comes from k's
// parity, exactly (k as a double may not be).
inline double float_pow(double x, std::uint64_t k) {
  if (k == 1) return x;
  const double magnitude = std::pow(std::fabs(x), static_cast<double>(k));
  return (x < 0 && (k & 1)) ? -magnitude : magnitude;
}

inline void store_float(char* at, DType dtype, double v) {
  switch (dtype) {
    case DType::kFloat32:
      store_as<float>(at, static_cast<float>(v));
      return;
    case DType::kFloat16:
      store_as<std::uint16_t>(at, fp16_ieee_from_fp32_value(static_cast<float>(v)));
      return;
    case DType::kBFloat16:
      store_as<std::uint16_t>(at, bf16_from_f32(static_cast<float>(v)));
      return;
    default:
      store_as<double>(at, v);
  }
}

bool is_integral(DType d) { return d == DType::kInt32 || d == DType::kInt64 || d == DType::kBool; }
// Bytes of the float accumulator of sums and means (float32 for 16- and 32-bit floats).
std::size_t float_acc_size(DType d) { return d == DType::kFloat64 ? 8 : 4; }
// Bytes of a loaded value (Element<D>::Value).
std::size_t value_size(DType d) {
  return d == DType::kFloat32 || d == DType::kFloat16 || d == DType::kBFloat16 ? 4 : 8;
}
std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

// Scratch one thread needs for `g`.
std::size_t slot_bytes(const Geometry& g) {
  const Reduction r = g.reduction;
  const bool integral = is_integral(g.in);
  if (g.columns) {
    const std::size_t width = g.tile_width();
    const std::size_t depth = tree_depth(pieces(g.column_rows(), kLeafRows));
    switch (r) {
      case Reduction::kSum:
        return (1 + depth) * width * (integral ? sizeof(std::uint64_t) : float_acc_size(g.in));
      case Reduction::kMean:
        return (1 + depth) * width * (integral ? sizeof(double) : float_acc_size(g.in));
      case Reduction::kVar:
      case Reduction::kStd:
        return (2 + depth) * width * sizeof(double);
      case Reduction::kProd:
        return width * 8;
      case Reduction::kMin:
      case Reduction::kMax:
        return width * value_size(g.in);
      case Reduction::kArgmin:
      case Reduction::kArgmax:
        return round_up(width * value_size(g.in), 64) + width * sizeof(std::int64_t);
      case Reduction::kAll:
      case Reduction::kAny:
        return width;
      case Reduction::kCountNonzero:
        return width * sizeof(std::uint64_t);
    }
  }
  if (g.nred == 0) return 0;
  switch (r) {
    case Reduction::kSum:
    case Reduction::kMean:
      // Packed leaves keep their lanes on the stack; runs read in place need no copy.
      if (integral && r == Reduction::kSum) return 0;
      if (g.packs_runs() || (!integral && g.runs_in_place())) return 0;
      return g.in == DType::kFloat64 || integral ? kBlock64 * sizeof(double)
                                                 : kGather * sizeof(float);
    case Reduction::kVar:
    case Reduction::kStd:
      return g.packs_runs() ? 0 : kBlock64 * sizeof(double);
    case Reduction::kProd:
    case Reduction::kMin:
    case Reduction::kMax:
    case Reduction::kArgmin:
    case Reduction::kArgmax:
    case Reduction::kAll:
    case Reduction::kAny:
    case Reduction::kCountNonzero:
      break;
  }
  return 0;
}

}  // namespace
}  // namespace corepy::ops::internal
#endif  // COREPY_OPS_INTERNAL_TENSOR_KERNELS_ONCE_

HWY_BEFORE_NAMESPACE();
namespace corepy::ops::internal {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// sum_f32_chunk for this same target (reduce_kernels.cc), called without the dispatch.
float SumF32Chunk(const float* HWY_RESTRICT x, std::size_t n);

template <class S>
S add(S a, S b) {
  return a + b;
}

// ---- float64 blocks: up to kBlock64 doubles in kLanes64 lanes (element i into lane
// i % kLanes64, each lane from -0.0), the lanes folded by halving (lane j += lane j + 64, + 32,
// ..., + 1). Held a vector of lanes at a time (at most 8: 16 vectors of AVX-512), folded as
// FoldVectors does, which is that halving.
using D64 = hn::CappedTag<double, 8>;
constexpr std::size_t kN64 = hn::MaxLanes(D64());
constexpr std::size_t kV64 = kLanes64 / kN64;

// The 0 < n < kN64 doubles at x in a vector, its other lanes -0.0 (which adding changes
// nothing). AVX-512's masked load cannot fault on the lanes it leaves out; other targets copy.
HWY_INLINE hn::Vec<D64> LoadF64Partial(const double* HWY_RESTRICT x, std::size_t n) {
  const D64 d;
#if HWY_TARGET <= HWY_AVX3
  const auto keep = hn::FirstN(d, n);
  return hn::IfThenElse(keep, hn::MaskedLoad(keep, d, x), hn::Set(d, -0.0));
#else
  alignas(64) double lanes[kN64];
  std::fill(lanes, lanes + kN64, -0.0);
  std::memcpy(lanes, x, n * sizeof(double));
  return hn::Load(d, lanes);
#endif
}

// A block of n <= kCount * kN64 doubles: its lanes past n are -0.0, so the halving's steps
// down to kCount vectors add nothing, and only kCount vectors are loaded and folded (a row of 16
// doubles: 2 loads and 4 additions, where the 128 lanes took 31 ns a row).
template <std::size_t kCount>
HWY_INLINE double SumF64Short(const double* HWY_RESTRICT x, std::size_t n) {
  const D64 d;
  hn::Vec<D64> v[kCount];
#pragma GCC unroll 128
  for (std::size_t k = 0; k < kCount; ++k) {
    if ((k + 1) * kN64 <= n) {
      v[k] = hn::LoadU(d, x + k * kN64);
    } else if (k * kN64 < n) {
      v[k] = LoadF64Partial(x + k * kN64, n - k * kN64);
    } else {
      v[k] = hn::Set(d, -0.0);
    }
  }
  return FoldVectors<kCount>(d, v);
}

template <std::size_t kCount = 1>
HWY_INLINE double SumF64ShortOf(const double* HWY_RESTRICT x, std::size_t n) {
  if constexpr (kCount < kV64) {
    if (n > kCount * kN64) return SumF64ShortOf<kCount * 2>(x, n);
  }
  return SumF64Short<kCount>(x, n);
}

// 1 <= n <= kBlock64.
double sum_f64_block(const double* HWY_RESTRICT x, std::size_t n) {
  if (n <= kLanes64) return SumF64ShortOf(x, n);
  const D64 d;
  hn::Vec<D64> acc[kV64];
#pragma GCC unroll 128
  for (std::size_t k = 0; k < kV64; ++k) acc[k] = hn::Set(d, -0.0);
  std::size_t i = 0;
  for (; i + kLanes64 <= n; i += kLanes64) {
#pragma GCC unroll 128
    for (std::size_t k = 0; k < kV64; ++k) acc[k] = hn::Add(acc[k], hn::LoadU(d, x + i + k * kN64));
  }
  const std::size_t rest = n - i;
#pragma GCC unroll 128
  for (std::size_t k = 0; k < kV64; ++k) {
    if ((k + 1) * kN64 <= rest) {
      acc[k] = hn::Add(acc[k], hn::LoadU(d, x + i + k * kN64));
    } else if (k * kN64 < rest) {
      acc[k] = hn::Add(acc[k], LoadF64Partial(x + i + k * kN64, rest - k * kN64));
    }
  }
  return FoldVectors<kV64>(d, acc);
}

// The transform applied to each element of a pairwise sum: none (sums, means) or the squared
// deviation from its result's mean (var, std).
struct Identity {
  template <class T>
  T operator()(T v, std::size_t) const {
    return v;
  }
};
struct SquaredDeviation {
  const double* mean;  // one per column of the tile, or one (per output)
  bool per_column;
  double operator()(double v, std::size_t j) const {
    const double d = v - mean[per_column ? j : 0];
    return d * d;
  }
};

// The float sum accumulator of dtype E: float for float32/16/bf16, double for float64.
template <class E>
using FloatAcc = std::conditional_t<std::is_same_v<typename E::Value, float>, float, double>;

// f(element) for the n elements of a run at q; a contiguous run gets a loop of its own, with a
// constant stride the vectorizer can use.
template <class E, class F>
void for_run(const char* q, std::int64_t n, std::int64_t stride, const F& f) {
  if (stride == static_cast<std::int64_t>(E::kSize)) {
    for (std::int64_t i = 0; i < n; ++i) f(q + i * static_cast<std::int64_t>(E::kSize));
  } else {
    for (std::int64_t i = 0; i < n; ++i) f(q + i * stride);
  }
}

// f(j, element) for the `width` columns of a row, likewise.
template <class E, class F>
void for_columns(const char* row, std::int64_t cstride, std::size_t width, const F& f) {
  if (cstride == static_cast<std::int64_t>(E::kSize)) {
    for (std::size_t j = 0; j < width; ++j) f(j, row + j * E::kSize);
  } else {
    for (std::size_t j = 0; j < width; ++j) f(j, row + static_cast<std::int64_t>(j) * cstride);
  }
}

// Where a column tile's accumulators live: serially, all in the thread's slot; with its rows
// split over threads, the tile's sums (and means) and the split nodes in the shared pool, the
// lower tree levels in each thread's slot.
struct TileScratch {
  char* slot;
  char* pool;
  char* slots;
  std::size_t slot_bytes;
  int split_depth;  // with a pool: the levels of the tree split over threads
};

template <class E>
class Reducer {
 public:
  using Value = typename E::Value;
  static constexpr bool kIntegral = !E::kFloat;

  Reducer(const Geometry& g, char* out) : g_(g), out_(out), in_place_(g.runs_in_place()) {}

  // The results of work units [lo, hi): one result each, or packed tiles
  // (Geometry::packed_tile()) of neighbours along the innermost kept dim.
  void output_units(std::size_t lo, std::size_t hi, char* slot, bool split = false) const {
    const std::size_t tile = g_.packed_tile();
    if (tile == 0) return outputs(lo, hi, slot);
    const auto width = static_cast<std::size_t>(g_.kept[g_.nkept - 1].size);
    const std::size_t tiles = pieces(width, tile);
    auto first_result = [&](std::size_t u) {
      return u / tiles * width + std::min(width, u % tiles * tile);
    };
    if (!kTiles) return outputs(first_result(lo), first_result(hi), slot);
    for (std::size_t u = lo; u < hi; ++u) {
      packed_tile_outputs(first_result(u), first_result(u + 1), split);
    }
  }

  // Results [lo, hi), each from the elements under it; `slot` is the thread's scratch.
  void outputs(std::size_t lo, std::size_t hi, char* slot) const {
    if (rows_of_a_matrix()) return matrix_rows(lo, hi);
    if (g_.nred != 1 || g_.nkept == 0) {
      for (std::size_t o = lo; o < hi; ++o) {
        one_output(g_.base + decode(g_.kept, g_.nkept, o), out_ + o * g_.out_item, slot);
      }
      return;
    }
    // One reduced dim (rows, of any kept shape): each result is one run's, the results of a line
    // one kept stride apart, so that a result decodes no index.
    const Dim inner = g_.kept[g_.nkept - 1];
    const auto width = static_cast<std::size_t>(inner.size);
    for (std::size_t o = lo; o < hi;) {
      const char* line = g_.base + decode(g_.kept, g_.nkept - 1, o / width);
      for (std::size_t j = o % width; j < width && o < hi; ++j, ++o) {
        one_run(line + static_cast<std::int64_t>(j) * inner.stride, out_ + o * g_.out_item, slot);
      }
    }
  }

  // Column units [lo, hi): unit u is tile u % tiles_per_line() of line u / tiles_per_line(), a
  // line being one position of the kept dims but the innermost.
  void column_units(std::size_t lo, std::size_t hi, const TileScratch& scratch) const {
    const Dim inner = g_.kept[g_.nkept - 1];
    const std::size_t tiles = g_.tiles_per_line();
    for (std::size_t u = lo; u < hi; ++u) {
      const std::size_t line = u / tiles;
      const std::size_t j0 = (u % tiles) * g_.column_tile;
      const std::size_t width = std::min(g_.column_tile, static_cast<std::size_t>(inner.size) - j0);
      const char* p = g_.base + decode(g_.kept, g_.nkept - 1, line) +
                      static_cast<std::int64_t>(j0) * inner.stride;
      const std::size_t o0 = line * static_cast<std::size_t>(inner.size) + j0;
      one_tile(p, inner.stride, width, out_ + o0 * g_.out_item, scratch);
    }
  }

  // The single result, its pairwise tree's halves on several threads.
  void single_output_split(char* slots, std::size_t slot_bytes) const {
    auto tree = [&](auto acc_tag, const auto& f) {
      using S = decltype(acc_tag);
      return split_tree<S>(slots, slot_bytes, f);
    };
    finish_pairwise(tree, out_);
  }

 private:
  // ---- pairwise sums of the elements under one result

  // The leaves of a run: chunks of sum_f32_range when float32 is read in place (so the run's
  // sum is sum_f32_range's, bit for bit), else blocks converted into the buffer.
  // float16 and bfloat16 runs read in place are summed as the float32 runs they convert to.
  static constexpr bool kHalf = E::kFloat && E::kSize == 2;
  template <class S, class F>
  static constexpr bool kMayReadInPlace =
      std::is_same_v<F, Identity>&& std::is_same_v<S, Value>&& E::kFloat &&
      (E::kSize == sizeof(S) || kHalf);

  template <class S, class F>
  std::size_t leaf_size() const {
    if constexpr (kMayReadInPlace<S, F>) {
      if (in_place_) return std::is_same_v<S, float> ? kChunk : kBlock64;
    }
    return std::is_same_v<S, float> ? kGather : kBlock64;
  }

  // Leaf b of the run at p: read in place, or converted (and transformed) into `buffer`.
  template <class S, class F>
  S run_leaf(const char* p, std::size_t b, void* buffer, const F& f) const {
    const Dim run = g_.run();
    const std::size_t size = leaf_size<S, F>();
    const std::size_t m = std::min(size, static_cast<std::size_t>(run.size) - b * size);
    const char* q = p + static_cast<std::int64_t>(b * size) * run.stride;
    bool in_place = false;
    if constexpr (kMayReadInPlace<S, F>) {
      in_place = in_place_;
      if constexpr (kHalf) {
        if (in_place) {
          const auto* h = reinterpret_cast<const std::uint16_t*>(q);
          return std::is_same_v<E, Element<DType::kBFloat16>> ? sum_bf16_chunk(h, m)
                                                              : sum_f16_chunk(h, m);
        }
      }
    }
    const S* x = reinterpret_cast<const S*>(q);
    if (!in_place) {
      S* buf = static_cast<S*>(buffer);
      if (run.stride == static_cast<std::int64_t>(E::kSize)) {
        for (std::size_t i = 0; i < m; ++i)
          buf[i] = f(static_cast<S>(E::load(q + i * E::kSize)), 0);
      } else {
        for (std::size_t i = 0; i < m; ++i) {
          buf[i] = f(static_cast<S>(E::load(q + static_cast<std::int64_t>(i) * run.stride)), 0);
        }
      }
      x = buf;
    }
    if constexpr (std::is_same_v<S, float>) {
      return SumF32Chunk(x, m);
    } else {
      return sum_f64_block(x, m);
    }
  }

  template <class S, class F>
  S run_sum(const char* p, void* buffer, const F& f) const {
    const auto n = static_cast<std::size_t>(g_.run().size);
    const std::size_t leaves = pieces(n, leaf_size<S, F>());
    if (leaves == 1) return run_leaf<S>(p, 0, buffer, f);
    return pairwise_tree<S>(
        0, leaves, [&](std::size_t b) { return run_leaf<S>(p, b, buffer, f); }, add<S>);
  }

  // Vectors of the float32 kernels here: 16 lanes at most, as reduce_kernels.cc's.
  using DR = hn::CappedTag<float, 16>;

  // The runs under a result at p in C order, from run `run` on: an odometer over the outer
  // reduced dims, one division per dim when it starts, none per run. `row` is the current run's
  // first element, `index` that element's C-order index among the result's reduced elements
  // (what argmin and argmax return).
  struct RunCursor {
    const Geometry& g;
    const char* row;
    std::int64_t index = 0;
    std::array<std::int64_t, kMaxDims> digit;  // [0, nred - 1) written by the constructor

    RunCursor(const Geometry& geometry, const char* p, std::uint64_t run) : g(geometry), row(p) {
      for (std::size_t k = g.nred - 1; k-- > 0;) {
        const auto extent = static_cast<std::uint64_t>(g.red[k].size);
        digit[k] = static_cast<std::int64_t>(run % extent);
        row += digit[k] * g.red[k].stride;
        index += digit[k] * g.index_step[k];
        run /= extent;
      }
    }
    // Moves to the next run and returns true; after the last run, back to the first and false.
    // Inline, so that a caller's vector registers need not be saved around it.
    HWY_INLINE bool next() {
      for (std::size_t k = g.nred - 1; k-- > 0;) {
        if (++digit[k] < g.red[k].size) {
          row += g.red[k].stride;
          index += g.index_step[k];
          return true;
        }
        row -= (g.red[k].size - 1) * g.red[k].stride;
        index -= (g.red[k].size - 1) * g.index_step[k];
        digit[k] = 0;
      }
      return false;
    }
  };

  // ---- packed leaves (Geometry::packs_runs(): several runs shorter than kPackRunsBelow under
  // each result). A leaf is Geometry::runs_per_leaf() consecutive runs (C order) summed into
  // kLanes lanes: run r of the leaf from lane (r % side) * w on, w its length rounded up to
  // kRunLanes and side = Geometry::runs_side_by_side(), element k into lane k % kLanes of that
  // row; each lane adds at most kLeafAdds elements, in order (r, then k), from -0.0, and the
  // lanes fold as sum_f32_chunk (float) or sum_f64_block (double) fold one block's lanes. A run
  // lands on the same lanes every time, starting on a vector: a vector loop loads it whole, with
  // no shift and no copy, so packed leaves need no scratch.
  //
  // On AVX-512, contiguous aligned float32 sums and means keep the lanes in registers, a vector
  // of 16 lanes per load, the last one of each run masked: the same lanes and additions as the
  // loop over the lanes in memory, so the same bits.
#if HWY_TARGET <= HWY_AVX3
  template <class S, class F>
  static constexpr bool kPackedInPlace = std::is_same_v<E, Element<DType::kFloat32>>&&
      std::is_same_v<S, float>&& std::is_same_v<F, Identity>;
  // Packed tiles (Geometry::packed_tile()): flat ones of float32 and float64, register ones of
  // float32.
  static constexpr bool kTiles =
      std::is_same_v<E, Element<DType::kFloat32>> || std::is_same_v<E, Element<DType::kFloat64>>;
#else
  template <class S, class F>
  static constexpr bool kPackedInPlace = false;
  static constexpr bool kTiles = false;
#endif

  // a + the lanes of the vector at q that `mask` keeps, the others of a left alone (an added 0
  // would turn a -0.0 lane into +0.0). The masked load reads no lane the mask leaves out.
  template <class V, class M, class T>
  HWY_INLINE static V add_masked(V a, M mask, const T* q) {
    return hn::IfThenElse(mask, hn::Add(a, hn::MaskedLoad(mask, hn::DFromV<V>(), q)), a);
  }

  // acc[0, kVectors) + the run at q, a vector of kRunLanes elements to each (V may hold fewer
  // lanes: the rest of each row stays as it is); of its last vector the lanes `tail` keeps,
  // unless `full` (the run fills it).
  template <std::size_t kVectors, class V, class M>
  HWY_INLINE static void add_run(V* acc, const float* q, M tail, bool full) {
#pragma GCC unroll 8
    for (std::size_t v = 0; v < kVectors; ++v) {
      if (v + 1 < kVectors || full) {
        acc[v] = hn::Add(acc[v], hn::LoadU(hn::DFromV<V>(), q + v * kRunLanes));
      } else {
        acc[v] = add_masked(acc[v], tail, q + v * kRunLanes);
      }
    }
  }

  // Runs [first, first + count) under p summed in registers: runs of at most kLanes / 2
  // elements kVectors vectors each, kK / kVectors of them side by side (the last vector of each
  // masked unless the run fills it); longer runs (kVectors 0) one to a row of lanes, kLanes
  // elements at a time.
  template <std::size_t kVectors>
  HWY_FLATTEN float packed_leaf_in_place(const char* p, std::uint64_t first,
                                         std::uint64_t count) const {
    const DR d;
    using V = hn::Vec<DR>;
    constexpr std::size_t kN = hn::MaxLanes(DR());
    constexpr std::size_t kK = kLanes / kN;
    static_assert(kN == kRunLanes || !kPackedInPlace<float, Identity>, "a run on a vector");
    const auto length = static_cast<std::size_t>(g_.run().size);
    V acc[kK];
#pragma GCC unroll 8
    for (std::size_t k = 0; k < kK; ++k) acc[k] = hn::Set(d, -0.0f);
    RunCursor runs(g_, p, first);
    if constexpr (kVectors != 0) {
      constexpr std::size_t kSide = kK / kVectors;
      const std::size_t last = length - (kVectors - 1) * kN;  // elements in a run's last vector
      const auto tail = hn::FirstN(d, last);
      // The `here` <= kSide runs from the cursor on, each into its own kVectors vectors.
      auto rows = [&](std::size_t here) HWY_ATTR {
#pragma GCC unroll 8
        for (std::size_t s = 0; s < kSide; ++s) {
          if (s >= here) break;
          add_run<kVectors>(acc + s * kVectors, reinterpret_cast<const float*>(runs.row), tail,
                            last == kN);
          runs.next();
        }
      };
      std::uint64_t r = 0;
      for (; r + kSide <= count; r += kSide) rows(kSide);
      if (r < count) rows(static_cast<std::size_t>(count - r));
    } else {
      for (std::uint64_t r = 0; r < count; ++r) {
        const auto* q = reinterpret_cast<const float*>(runs.row);
        for (std::size_t k0 = 0; k0 < length; k0 += kLanes) {
          const std::size_t m = std::min(kLanes, length - k0);
#pragma GCC unroll 8
          for (std::size_t k = 0; k < kK; ++k) {
            if ((k + 1) * kN <= m) {
              acc[k] = hn::Add(acc[k], hn::LoadU(d, q + k0 + k * kN));
            } else if (k * kN < m) {
              acc[k] = add_masked(acc[k], hn::FirstN(d, m - k * kN), q + k0 + k * kN);
            }
          }
        }
        runs.next();
      }
    }
    alignas(64) float lanes[kLanes];
#pragma GCC unroll 8
    for (std::size_t k = 0; k < kK; ++k) hn::Store(acc[k], d, lanes + k * kN);
    return SumF32Chunk(lanes, kLanes);
  }

  // The form for this run length: the vectors a run takes while several runs share the lanes,
  // else 0 (one run to a row: the same loop as runs past kLanes elements, in one piece).
  float packed_leaf_in_place(const char* p, std::uint64_t first, std::uint64_t count) const {
    switch (pieces(static_cast<std::size_t>(g_.run().size), kRunLanes)) {
      case 1:
        return packed_leaf_in_place<1>(p, first, count);
      case 2:
        return packed_leaf_in_place<2>(p, first, count);
      case 3:
        return packed_leaf_in_place<3>(p, first, count);
      case 4:
        return packed_leaf_in_place<4>(p, first, count);
      default:
        return packed_leaf_in_place<0>(p, first, count);
    }
  }

  // ---- packed tiles (Geometry::packed_tile()). One result at a time, each of its short runs
  // takes a cache line of its own: x.sum(axis=(0, 2)) of a (4000, 50, 5) float32 array reads 64
  // bytes for every 20 it adds. On AVX-512 a tile of neighbouring results is summed at once: a
  // leaf's runs that share lanes (a class: run r is in class r % side) one class at a time, and
  // each of those runs for every result of the tile, its row of runs read together, with one
  // register per result and vector (8 lanes wide for runs of at most 8, so that fewer loads
  // cross a cache line). Every lane adds the same elements in the same order, from -0.0, as
  // packed_leaf_in_place, and the leaves combine by the same tree, lane t of a TileSums being
  // result t's: each result has the bits it has alone.
  // The order jumps between rows (side of them apart, then back), which the hardware prefetchers
  // do not follow: each row of runs is prefetched this many runs ahead, in the order they are
  // added (f32 (4000, 50, 5): 21% of the streaming read without, 27-30% with 2 or 3, 23% with 8).
  static constexpr std::size_t kPrefetchRuns = 3;
  template <class T, std::size_t kT>
  struct TileSums {
    T v[kT];

    friend TileSums operator+(const TileSums& a, const TileSums& b) {
      TileSums s;
      for (std::size_t t = 0; t < kT; ++t) s.v[t] = a.v[t] + b.v[t];
      return s;
    }
  };

  // The tile of results [lo, hi), neighbours along the innermost kept dim; `split`: its leaves'
  // tree over threads (the same tree, so the same bits).
  void packed_tile_outputs(std::size_t lo, std::size_t hi, bool split) const {
    if constexpr (kTiles) {
      const std::int64_t step = g_.kept[g_.nkept - 1].stride;
      const char* p = g_.base + decode(g_.kept, g_.nkept, lo);
      char* at = out_ + lo * g_.out_item;
      const std::size_t n = hi - lo;
      if (g_.packed_flat()) {
        auto flat = [&](auto side) {
          packed_tile<Value, kFlatTile>(n, at, split, [&](std::uint64_t b, Value* sums) {
            packed_flat_leaf<decltype(side)::value>(p, step, n, b, sums);
          });
        };
        switch (g_.runs_side_by_side()) {
          case 8:
            return flat(std::integral_constant<std::size_t, 8>());
          case 4:
            return flat(std::integral_constant<std::size_t, 4>());
          case 2:
            return flat(std::integral_constant<std::size_t, 2>());
          default:
            return flat(std::integral_constant<std::size_t, 1>());
        }
      }
      if constexpr (kPackedInPlace<float, Identity>) packed_register_tile(p, step, n, at, split);
    }
  }

  // A packed tile of float32 runs of one or two vectors (Geometry::packed_tile()): up to
  // kPackedGroup register tiles, each leaf's rows read by each of them in turn.
  void packed_register_tile(const char* p, std::int64_t step, std::size_t n, char* at,
                            bool split) const {
    if constexpr (kPackedInPlace<float, Identity>) {
      const auto length = static_cast<std::size_t>(g_.run().size);
      if (length <= 8) return register_tile_group<1, 8>(p, step, n, at, split);
      if (length <= kRunLanes) return register_tile_group<1, kRunLanes>(p, step, n, at, split);
      register_tile_group<2, kRunLanes>(p, step, n, at, split);
    }
  }

  // A leaf's runs in the order a tile adds them (tile_order()), for a tile's first result.
  template <std::size_t kSide>
  struct TileRows {
    const char* order[kLanes];  // at most kSide * kLeafAdds <= kLanes runs
    std::size_t start[kSide + 1];
    std::size_t count;
  };

  // Each leaf's row order is found once and its lanes' -0.0 written once (packed_tile_leaf()
  // writes the same lanes of every class), for all the register tiles.
  template <std::size_t kVectors, std::size_t kWidth>
  void register_tile_group(const char* p, std::int64_t step, std::size_t n, char* at,
                           bool split) const {
    constexpr std::size_t kT = kPackedTile / kVectors;
    constexpr std::size_t kSide = kLanes / kRunLanes / kVectors;
    const std::size_t sub = pieces(n, pieces(n, kT));  // results of each register tile
    packed_tile<float, kT * kPackedGroup>(n, at, split, [&](std::uint64_t b, float* sums) {
      TileRows<kSide> rows;
      rows.count = tile_order<kSide>(p, b, rows.order, rows.start);
      alignas(64) float lanes[kT][kLanes];
      if constexpr (kWidth < kRunLanes) std::fill(&lanes[0][0], &lanes[0][0] + kT * kLanes, -0.0f);
      for (std::size_t t = 0; t < n; t += sub) {
        packed_tile_leaf<kVectors, kWidth>(rows, static_cast<std::int64_t>(t) * step, step,
                                           std::min(sub, n - t), lanes, sums + t);
      }
      std::fill(sums + n, sums + kT * kPackedGroup, 0.0f);
    });
  }

  // The n (at most kT) results of a tile: their sums (or means) into at, at + out_item, ...;
  // leaf_sums(b, sums) puts leaf b's into sums[0, kT).
  template <class T, std::size_t kT, class LeafSums>
  void packed_tile(std::size_t n, char* at, bool split, const LeafSums& leaf_sums) const {
    using Sums = TileSums<T, kT>;
    auto leaf = [&](std::uint64_t b) {
      Sums s;
      leaf_sums(b, s.v);
      return s;
    };
    const std::uint64_t leaf_bytes = g_.runs_per_leaf() * g_.run().size * n * sizeof(T);
    const Sums total =
        split ? parallel_tree<Sums>(0, g_.packed_leaves(),
                                    std::max<std::uint64_t>(1, kTaskBytes / leaf_bytes), leaf)
              : pairwise_tree<Sums>(0, g_.packed_leaves(), leaf, add<Sums>);
    for (std::size_t t = 0; t < n; ++t) {
      // A sum or a mean: finish_pairwise asks for the tree of T only.
      finish_pairwise(
          [&](auto acc_tag, const auto&) { return static_cast<decltype(acc_tag)>(total.v[t]); },
          at + t * g_.out_item);
    }
  }

  // The runs of leaf b under p in the order a tile adds them: class by class (run r is in class
  // r % kSide), each class in run order, class c from order[start[c]] on. Returns their count.
  template <std::size_t kSide>
  std::size_t tile_order(const char* p, std::uint64_t b, const char** order,
                         std::size_t* start) const {
    const std::uint64_t per_leaf = g_.runs_per_leaf();
    const std::uint64_t first = b * per_leaf;
    const auto count = static_cast<std::size_t>(std::min(per_leaf, g_.runs() - first));
    start[0] = 0;
    for (std::size_t c = 0; c < kSide; ++c) {
      start[c + 1] = start[c] + (c < count ? (count - c + kSide - 1) / kSide : 0);
    }
    RunCursor runs(g_, p, first);
    for (std::size_t r = 0; r < count; ++r) {
      order[start[r % kSide] + r / kSide] = runs.row;
      runs.next();
    }
    return count;
  }

  // acc[from, to) += q[0][from, to), then q[1][from, to), ... (kRows rows), acc and each row on
  // a 64-byte line, from < kN: a vector at a time, each on one line, the first and last masked.
  // Each element adds the rows one after the other, whatever kRows: several rows in one pass
  // load and store acc once for all of them.
  template <std::size_t kRows, class D, class T>
  HWY_INLINE static void add_rows_in_line(D d, T* HWY_RESTRICT acc, const T* const* q,
                                          std::size_t from, std::size_t to) {
    constexpr std::size_t kN = hn::MaxLanes(D());
    auto mask = hn::AndNot(hn::FirstN(d, from), hn::FirstN(d, to));
    auto a = hn::Load(d, acc);
    for (std::size_t k = 0; k < kRows; ++k) a = add_masked(a, mask, q[k]);
    hn::Store(a, d, acc);
    std::size_t e = kN;
    for (; e + kN <= to; e += kN) {
      a = hn::Load(d, acc + e);
      for (std::size_t k = 0; k < kRows; ++k) a = hn::Add(a, hn::Load(d, q[k] + e));
      hn::Store(a, d, acc + e);
    }
    if (e < to) {
      mask = hn::FirstN(d, to - e);
      a = hn::Load(d, acc + e);
      for (std::size_t k = 0; k < kRows; ++k) a = add_masked(a, mask, q[k] + e);
      hn::Store(a, d, acc + e);
    }
  }

  // Leaf b of the n results of a tile whose runs lie end to end (Geometry::packed_flat()) into
  // sums[0, kFlatTile), the entries from n on 0. Lane k of class c of result t (where
  // packed_leaf_in_place and packed_leaf add element k of the result's runs of class c) is
  // element t * length + k of class c's span here, so a row of the tile's runs, one contiguous
  // span, is added a vector at a time. The rows are read in run order, flat_pass_rows(kSide) rows
  // of a class (kSide runs apart) in one pass over its lanes; each lane adds the same elements in
  // the same order, from -0.0, as there. The leaf's lanes then fold as there: short runs (kSide of
  // them side by side, on lanes whose count divides kLanes) fold their classes elementwise first
  // and then each result's run (flat_fold_short); longer ones put each result's lanes in their
  // usual places.
  template <std::size_t kSide>
  HWY_FLATTEN void packed_flat_leaf(const char* p, std::int64_t step, std::size_t n,
                                    std::uint64_t b, Value* sums) const {
    using T = Value;
    using D = hn::CappedTag<T, 64 / sizeof(T)>;
    const D d;
    constexpr std::size_t kN = hn::MaxLanes(D());
    const char* rows[kLanes];  // the leaf's runs in run order: at most kSide * kLeafAdds
    const std::uint64_t per_leaf = g_.runs_per_leaf();
    const auto count = static_cast<std::size_t>(std::min(per_leaf, g_.runs() - b * per_leaf));
    if (g_.nred == 2) {  // one dim of runs: a stride apart, no cursor
      const std::int64_t stride = g_.red[0].stride;
      const char* row = p + static_cast<std::int64_t>(b * per_leaf) * stride;
      for (std::size_t r = 0; r < count; ++r, row += stride) rows[r] = row;
    } else {
      RunCursor runs(g_, p, b * per_leaf);
      for (std::size_t r = 0; r < count; ++r, runs.next()) rows[r] = runs.row;
    }
    const auto length = static_cast<std::size_t>(g_.run().size);
    const std::size_t span = n * length;  // elements in a row of the tile's runs
    // A row's first element: result 0's run, or result n - 1's when the kept dim runs backwards.
    const std::int64_t first = step < 0 ? static_cast<std::int64_t>(n - 1) * step : 0;
    const std::size_t whole = span / kN * kN;
    const auto tail = hn::FirstN(d, span - whole);
    // A row's last span - whole elements: where the row has a vector's worth, the vector that ends
    // with them, its lanes moved down (a masked load that crosses a line is slow); else masked.
    const bool shift_tail = whole != span && span >= kN;
    const hn::RebindToSigned<D> di;
    using I = hn::TFromD<decltype(di)>;
    const auto shift = hn::IndicesFromVec(
        d, hn::Add(hn::Iota(di, 0), hn::Set(di, static_cast<I>(kN - (span - whole)))));
    // Each class's lanes from a cache line on, or from where its rows start in a line when every
    // row of the class starts there (their distance a multiple of 64 bytes, as in a C-contiguous
    // array whose outer stride is; numpy's data starts 16 or 32 bytes into a line): the row's
    // vectors then each load from one line, the first and last masked, and a row's stores and
    // the next row's loads of the same lanes match, so the loads take the stored values without
    // waiting. Room for a vector past the span, which flat_fold_short reads.
    const std::size_t stride = (pieces(span + kN - 1, kN) + 1) * kN;
    alignas(64) T lanes[kFlatTileBytes / sizeof(T) + 4 * kLanes];
    std::fill(lanes, lanes + kSide * stride, T(-0.0));
    T* base[kSide];              // class c's lane 0
    std::size_t in_line[kSide];  // where class c's rows start in their line, or kN: not all alike
    for (std::size_t c = 0; c < kSide; ++c) {
      auto line_offset = [&](std::size_t i) {
        return reinterpret_cast<std::uintptr_t>(rows[i] + first) % 64 / sizeof(T);
      };
      std::size_t m = c < count ? line_offset(c) : 0;
      for (std::size_t i = c; i < count; i += kSide) {
        if (line_offset(i) != m) m = kN;
      }
      in_line[c] = m;
      base[c] = lanes + c * stride + (m != kN ? m : 0);
    }
    // Rows i, i + kSide, ... (kRows of them, class i % kSide) added to their lanes in one pass.
    auto add_rows = [&](std::size_t i, auto row_count) {
      constexpr std::size_t kRows = decltype(row_count)::value;
      const std::size_t c = i % kSide;
      T* a = base[c];
      const T* q[kRows];
      for (std::size_t k = 0; k < kRows; ++k) {
        q[k] = reinterpret_cast<const T*>(rows[i + k * kSide] + first);
      }
      const std::size_t m = in_line[c];
      if (m != kN) {
        const T* from_line[kRows];
        for (std::size_t k = 0; k < kRows; ++k) from_line[k] = q[k] - m;
        return add_rows_in_line<kRows>(d, a - m, from_line, m, m + span);
      }
      for (std::size_t e = 0; e < whole; e += kN) {
        auto acc = hn::Load(d, a + e);
        for (std::size_t k = 0; k < kRows; ++k) acc = hn::Add(acc, hn::LoadU(d, q[k] + e));
        hn::Store(acc, d, a + e);
      }
      if (shift_tail) {
        auto acc = hn::Load(d, a + whole);
        for (std::size_t k = 0; k < kRows; ++k) {
          const auto last = hn::TableLookupLanes(hn::LoadU(d, q[k] + span - kN), shift);
          acc = hn::IfThenElse(tail, hn::Add(acc, last), acc);
        }
        hn::Store(acc, d, a + whole);
      } else if (whole < span) {
        auto acc = hn::Load(d, a + whole);
        for (std::size_t k = 0; k < kRows; ++k) acc = add_masked(acc, tail, q[k] + whole);
        hn::Store(acc, d, a + whole);
      }
    };
    // In run order, each pass flat_pass_rows(kSide) rows of one class (kSide runs apart), so that
    // the lanes are loaded and stored once for all of them; the rows that make no whole pass, one
    // at a time.
    constexpr std::size_t kPass = flat_pass_rows(kSide);
    for (std::size_t i0 = 0; i0 < count; i0 += kPass * kSide) {
      for (std::size_t i = i0; i < i0 + kSide && i < count; ++i) {
        if (i + (kPass - 1) * kSide < count) {
          add_rows(i, std::integral_constant<std::size_t, kPass>());
        } else {
          for (std::size_t k = i; k < count; k += kSide) {
            add_rows(k, std::integral_constant<std::size_t, 1>());
          }
        }
      }
    }
    const std::size_t width = pieces(length, kRunLanes) * kRunLanes;  // a run's lanes in a row
    if constexpr (kSide >= 4) {
      flat_fold_short<kSide>(d, base, span, n, step < 0, sums);
    } else {
      const std::size_t run_vectors = width / kN;
      for (std::size_t t = 0; t < n; ++t) {
        const std::size_t at = (step < 0 ? n - 1 - t : t) * length;  // result t's in its class
        hn::Vec<D> row[kLanes / kN];
#pragma GCC unroll 16
        for (std::size_t v = 0; v < kLanes / kN; ++v) {
          const std::size_t c = v / run_vectors;
          const std::size_t k = v % run_vectors * kN;
          row[v] = hn::Set(d, T(-0.0));
          if (c < kSide && k < length) {
            const auto mask = hn::FirstN(d, length - k);
            row[v] = hn::IfThenElse(mask, hn::MaskedLoad(mask, d, base[c] + at + k), row[v]);
          }
        }
        // Folded as sum_f32_chunk and sum_f64_block fold a block's lanes, in registers: the lanes
        // stored and summed by SumF32Chunk took 8% of f32 (100, 100, 100) over (0, 2).
        sums[t] = FoldVectors<kLanes / kN>(d, row);
      }
    }
    std::fill(sums + n, sums + kFlatTile, T(0));
  }

  // The fold of a flat leaf of short runs (kSide of them side by side, kLanes / kSide lanes each)
  // into sums[0, n): kLanes lanes halve as sum_f32_chunk's and sum_f64_block's do (lane j +=
  // lane j + 64, + 32, ... + 1), where the first steps, while the half is at least a run's lanes,
  // add class c + half's lanes to class c's, lane for lane: here a vector at a time over the
  // classes' spans, every result at once. Each result's run then halves within its own lanes,
  // those past its length (-0.0, which adding changes nothing) left out.
  template <std::size_t kSide, class D, class T>
  HWY_INLINE void flat_fold_short(D d, T* const* base, std::size_t span, std::size_t n,
                                  bool reversed, T* sums) const {
    constexpr std::size_t kN = hn::MaxLanes(D());
    constexpr std::size_t kWidth = kLanes / kSide;
    for (std::size_t e = 0; e < span; e += kN) {
      hn::Vec<D> v[kSide];
#pragma GCC unroll 8
      for (std::size_t c = 0; c < kSide; ++c) v[c] = hn::LoadU(d, base[c] + e);
#pragma GCC unroll 8
      for (std::size_t half = kSide / 2; half >= 1; half /= 2) {
#pragma GCC unroll 8
        for (std::size_t c = 0; c < half; ++c) v[c] = hn::Add(v[c], v[c + half]);
      }
      hn::StoreU(v[0], d, base[0] + e);
    }
    // Each run's halving unrolled for its length, a constant: a loop over the lanes per result
    // took 15% of f32 (4000, 50, 5) over (0, 2).
    const auto length = static_cast<std::size_t>(g_.run().size);
    auto runs = [&](auto run_length) {
      constexpr std::size_t kLength = decltype(run_length)::value;
      for (std::size_t t = 0; t < n; ++t) {
        const T* run = base[0] + (reversed ? n - 1 - t : t) * kLength;
        T x[kLength];
#pragma GCC unroll 32
        for (std::size_t k = 0; k < kLength; ++k) x[k] = run[k];
        halve_run<kLength, kWidth / 2>(x);
        sums[t] = x[0];
      }
    };
    // Float32 leaves of eight classes have runs of at most kFlatShortRun elements (those of 9 to
    // 16 take register tiles: Geometry::packed_flat()); only the lengths that occur are compiled.
    constexpr std::size_t kMost =
        std::is_same_v<T, float> && kSide == 8 ? static_cast<std::size_t>(kFlatShortRun) : kWidth;
    static_assert(kMost <= kWidth);
    with_length<kMost>(length, runs);
  }

  // x[j] += x[j + kHalf] for j + kHalf < kLive, then the same with half the half, down to 1:
  // the halving of a run's lanes, those from kLive on (-0.0) left out.
  template <std::size_t kLive, std::size_t kHalf, class T>
  HWY_INLINE static void halve_run(T* x) {
    if constexpr (kHalf >= 1) {
#pragma GCC unroll 32
      for (std::size_t j = 0; j + kHalf < kLive; ++j) x[j] += x[j + kHalf];
      halve_run<(kLive < kHalf ? kLive : kHalf), kHalf / 2>(x);
    }
  }

  // f(std::integral_constant<std::size_t, length>()), for 1 <= length <= kMost.
  template <std::size_t kMost, class F>
  HWY_INLINE static void with_length(std::size_t length, const F& f) {
    with_length(length, f, std::make_index_sequence<kMost>());
  }
  template <class F, std::size_t... kI>
  HWY_INLINE static void with_length(std::size_t length, const F& f, std::index_sequence<kI...>) {
    (void)((length == kI + 1 ? (f(std::integral_constant<std::size_t, kI + 1>()), true) : false) ||
           ...);
  }

  // A leaf of the n results of a tile of runs of one or two vectors, kPackedTile / kVectors
  // results at most, into sums[0, n): its runs are `offset` bytes past `rows`' (those of the
  // group's first result). `lanes` holds -0.0 where a run's vector is narrower than kRunLanes.
  template <std::size_t kVectors, std::size_t kWidth, std::size_t kSide, std::size_t kT>
  HWY_FLATTEN void packed_tile_leaf(const TileRows<kSide>& rows, std::int64_t offset,
                                    std::int64_t step, std::size_t n, float (&lanes)[kT][kLanes],
                                    float* sums) const {
    using DV = hn::CappedTag<float, kWidth>;
    const DV d;
    using V = hn::Vec<DV>;
    constexpr std::size_t kN = kRunLanes;
    static_assert(kSide == kLanes / kN / kVectors && kT == kPackedTile / kVectors);
    const char* const* order = rows.order;
    const std::size_t* start = rows.start;
    const std::size_t count = rows.count;
    const auto length = static_cast<std::size_t>(g_.run().size);
    const std::size_t last = length - (kVectors - 1) * kN;  // elements in a run's last vector
    const auto tail = hn::FirstN(d, last);
    const std::int64_t reach = static_cast<std::int64_t>(n - 1) * step;
    const std::int64_t span_lo = std::min<std::int64_t>(0, reach);
    const std::int64_t span =
        std::max<std::int64_t>(0, reach) - span_lo + static_cast<std::int64_t>(length * 4);
    for (std::size_t c = 0; c < kSide; ++c) {
      V acc[kT * kVectors];
#pragma GCC unroll 16
      for (std::size_t k = 0; k < kT * kVectors; ++k) acc[k] = hn::Set(d, -0.0f);
      for (std::size_t i = start[c]; i < start[c + 1]; ++i) {
        const char* row = order[i] + offset;
        if (i + kPrefetchRuns < count) {
          const char* ahead = order[i + kPrefetchRuns] + offset + span_lo;
          for (std::int64_t l = 0; l < span; l += 64) __builtin_prefetch(ahead + l);
        }
#pragma GCC unroll 16
        for (std::size_t t = 0; t < kT; ++t) {
          if (t >= n) break;
          add_run<kVectors>(
              acc + t * kVectors,
              reinterpret_cast<const float*>(row + static_cast<std::int64_t>(t) * step), tail,
              last == kWidth);
        }
      }
#pragma GCC unroll 16
      for (std::size_t t = 0; t < kT; ++t) {
        if (t >= n) break;
#pragma GCC unroll 2
        for (std::size_t v = 0; v < kVectors; ++v) {
          hn::Store(acc[t * kVectors + v], d, lanes[t] + (c * kVectors + v) * kN);
        }
      }
    }
    for (std::size_t t = 0; t < n; ++t) sums[t] = SumF32Chunk(lanes[t], kLanes);
  }

  // Leaf b of the runs under p, transformed by f.
  template <class S, class F>
  S packed_leaf(const char* p, std::uint64_t b, const F& f) const {
    const Dim run = g_.run();
    const std::uint64_t per_leaf = g_.runs_per_leaf();
    const std::uint64_t first = b * per_leaf;
    const std::uint64_t count = std::min(per_leaf, g_.runs() - first);
    const auto length = static_cast<std::size_t>(run.size);
    const std::uint64_t side = g_.runs_side_by_side();
    if constexpr (kPackedInPlace<S, F>) {
      if (g_.aligned && run.stride == static_cast<std::int64_t>(E::kSize)) {
        return packed_leaf_in_place(p, first, count);
      }
    }
    alignas(64) S lanes[kLanes];
    std::fill(lanes, lanes + kLanes, static_cast<S>(-0.0));
    const std::size_t width = pieces(length, kRunLanes) * kRunLanes;  // lanes a run's row takes
    RunCursor runs(g_, p, first);
    for (std::uint64_t r = 0; r < count; ++r) {
      S* row = lanes + static_cast<std::size_t>(r % side) * width;
      for (std::size_t k0 = 0; k0 < length; k0 += kLanes) {
        const std::size_t m = std::min(kLanes, length - k0);
        const char* q = runs.row + static_cast<std::int64_t>(k0) * run.stride;
        if (run.stride == static_cast<std::int64_t>(E::kSize)) {
          for (std::size_t i = 0; i < m; ++i) {
            row[i] += f(static_cast<S>(E::load(q + i * E::kSize)), 0);
          }
        } else {
          for (std::size_t i = 0; i < m; ++i) {
            row[i] += f(static_cast<S>(E::load(q + static_cast<std::int64_t>(i) * run.stride)), 0);
          }
        }
      }
      runs.next();
    }
    if constexpr (std::is_same_v<S, float>) {
      return SumF32Chunk(lanes, kLanes);
    } else {
      return sum_f64_block(lanes, kLanes);
    }
  }

  template <class S, class F>
  S pairwise(const char* p, void* buffer, const F& f) const {
    if (g_.nred == 0) return f(static_cast<S>(E::load(p)), 0);
    if (g_.nred == 1) return run_sum<S>(p, buffer, f);
    if (g_.packs_runs()) {
      return pairwise_tree<S>(
          0, g_.packed_leaves(), [&](std::uint64_t b) { return packed_leaf<S>(p, b, f); }, add<S>);
    }
    return pairwise_tree<S>(
        0, g_.runs(),
        [&](std::uint64_t m) { return run_sum<S>(p + decode(g_.red, g_.nred - 1, m), buffer, f); },
        add<S>);
  }

  // pairwise() with its tree's halves on several threads, each leaf using the scratch slot of
  // the thread that computes it: the same tree, so the same result bit for bit.
  template <class S, class F>
  S split_tree(char* slots, std::size_t slot_bytes, const F& f) const {
    const char* p = g_.base;
    auto slot = [&] { return slots + slot_bytes * slot_index(); };
    const std::uint64_t runs = g_.runs();
    const auto n = static_cast<std::size_t>(g_.run().size);
    const std::uint64_t task = kTaskBytes / g_.itemsize;  // elements per task
    if (g_.packs_runs()) {
      const std::uint64_t leaf = g_.runs_per_leaf() * n;  // elements
      return parallel_tree<S>(0, g_.packed_leaves(), std::max<std::uint64_t>(1, task / leaf),
                              [&](std::uint64_t b) { return packed_leaf<S>(p, b, f); });
    }
    if (runs > 1) {
      return parallel_tree<S>(0, runs, std::max<std::uint64_t>(1, task / n), [&](std::uint64_t m) {
        return run_sum<S>(p + decode(g_.red, g_.nred - 1, m), slot(), f);
      });
    }
    const std::size_t leaf = leaf_size<S, F>();
    return parallel_tree<S>(0, pieces(n, leaf), std::max<std::uint64_t>(1, task / leaf),
                            [&](std::uint64_t b) { return run_leaf<S>(p, b, slot(), f); });
  }

  template <class S, class Leaf>
  static S parallel_tree(std::uint64_t lo, std::uint64_t hi, std::uint64_t min_leaves,
                         const Leaf& leaf) {
    if (hi - lo <= min_leaves) return pairwise_tree<S>(lo, hi, leaf, add<S>);
    const std::uint64_t mid = lo + (hi - lo + 1) / 2;
    S left{}, right{};
    parallel_pair([&] { left = parallel_tree<S>(lo, mid, min_leaves, leaf); },
                  [&] { right = parallel_tree<S>(mid, hi, min_leaves, leaf); });
    return left + right;
  }

  // Sum, mean, var or std into `at`, `tree(S{}, f)` being a pairwise sum in S with transform f.
  template <class Tree>
  void finish_pairwise(const Tree& tree, char* at) const {
    const double k = static_cast<double>(g_.multiplicity);
    switch (g_.reduction) {
      case Reduction::kSum:
        store_float(at, g_.out_dtype, static_cast<double>(tree(FloatAcc<E>{}, Identity{})) * k);
        return;
      case Reduction::kMean: {
        const double sum = kIntegral ? tree(double{}, Identity{})
                                     : static_cast<double>(tree(FloatAcc<E>{}, Identity{}));
        store_float(at, g_.out_dtype, sum / static_cast<double>(g_.visited));
        return;
      }
      default: {  // var, std
        const double mean = tree(double{}, Identity{}) / static_cast<double>(g_.visited);
        const double ssd = tree(double{}, SquaredDeviation{&mean, false});
        const double n = static_cast<double>(g_.reduced_count) - static_cast<double>(g_.ddof);
        const double var = ssd * k / std::max(n, 0.0);
        store_float(at, g_.out_dtype, g_.reduction == Reduction::kStd ? std::sqrt(var) : var);
      }
    }
  }

  // ---- row sums of a matrix: float32, float16 or bfloat16 results whose runs lie back to back
  // (one reduced dim, contiguous, in place) go to row_sums_* a line at a time, which sums each
  // row exactly as one_output() would (sum_f32_range's order, the halves as the floats they
  // convert to), with less overhead per row.

  static constexpr bool kRowKernel = std::is_same_v<E, Element<DType::kFloat32>> || kHalf;

  bool rows_of_a_matrix() const {
    if constexpr (!kRowKernel) {
      return false;
    } else {
      return (g_.reduction == Reduction::kSum || g_.reduction == Reduction::kMean) &&
             g_.nred == 1 && g_.nkept >= 1 && in_place_ && g_.multiplicity == 1 &&
             g_.kept[g_.nkept - 1].stride == g_.run().size * static_cast<std::int64_t>(E::kSize) &&
             (kHalf || reinterpret_cast<std::uintptr_t>(out_) % alignof(float) == 0);
    }
  }

  // rows x cols elements at p, summed into out[0, rows) as floats.
  void row_sums(const char* p, std::size_t rows, std::size_t cols, float* out) const {
    if constexpr (std::is_same_v<E, Element<DType::kBFloat16>>) {
      row_sums_bf16(reinterpret_cast<const std::uint16_t*>(p), rows, cols, out);
    } else if constexpr (kHalf) {
      row_sums_f16(reinterpret_cast<const std::uint16_t*>(p), rows, cols, out);
    } else {
      row_sums_f32(reinterpret_cast<const float*>(p), rows, cols, out);
    }
  }

  void matrix_rows(std::size_t lo, std::size_t hi) const {
    const auto width = static_cast<std::size_t>(g_.kept[g_.nkept - 1].size);
    const auto cols = static_cast<std::size_t>(g_.run().size);
    const bool mean = g_.reduction == Reduction::kMean;
    const auto visited = static_cast<double>(g_.visited);
    // Halves' sums go through a tile of floats into the result dtype, as finish_pairwise()
    // stores them.
    constexpr std::size_t kRowTile = kHalf ? 256 : std::numeric_limits<std::size_t>::max();
    float tile[kHalf ? kRowTile : 1];
    for (std::size_t o = lo; o < hi;) {
      const std::size_t line = o / width;
      const std::size_t j = o % width;
      const std::size_t rows = std::min({hi - o, width - j, kRowTile});
      const char* p = g_.base + decode(g_.kept, g_.nkept - 1, line) +
                      static_cast<std::int64_t>(j) * g_.kept[g_.nkept - 1].stride;
      if constexpr (kHalf) {
        row_sums(p, rows, cols, tile);
        store_floats(out_ + o * g_.out_item, rows, [&](std::size_t r) {
          const auto sum = static_cast<double>(tile[r]);
          return mean ? sum / visited : sum;
        });
      } else {
        auto* out = reinterpret_cast<float*>(out_) + o;
        row_sums(p, rows, cols, out);
        if (mean) {
          for (std::size_t r = 0; r < rows; ++r) {
            out[r] = static_cast<float>(static_cast<double>(out[r]) / visited);
          }
        }
      }
      o += rows;
    }
  }

  // ---- one result

  // f(run start, run length, stride, C-order index of its first element, index step) for every
  // run under p, in C order, until f returns false.
  template <class F>
  void for_each_run(const char* p, const F& f) const {
    if (g_.nred == 0) {
      (void)f(p, std::int64_t{1}, std::int64_t{0}, std::int64_t{0}, std::int64_t{0});
      return;
    }
    const Dim run = g_.run();
    const std::int64_t run_step = g_.index_step[g_.nred - 1];
    RunCursor runs(g_, p, 0);
    do {
      if (!f(runs.row, run.size, run.stride, runs.index, run_step)) return;
    } while (runs.next());
  }

  // The integer sum of the n elements `stride` bytes apart from q, mod 2^64.
  static std::uint64_t run_total(const char* q, std::int64_t n, std::int64_t stride) {
    if constexpr (std::is_same_v<E, Element<DType::kInt32>>) {
      if (stride == 4 && reinterpret_cast<std::uintptr_t>(q) % 4 == 0) {
        return SumI32Wrapping(reinterpret_cast<const std::int32_t*>(q),
                              static_cast<std::size_t>(n));
      }
    }
    std::uint64_t t = 0;
    for_run<E>(q, n, stride, [&](const char* e) { t += static_cast<std::uint64_t>(E::load(e)); });
    return t;
  }

  // min, max, argmin and argmax over contiguous runs of float32, float64, int32 and int64 take
  // extrema-inl.h's vector loops, on the elements as stored.
  static constexpr bool kVectorExtrema =
      std::is_same_v<E, Element<DType::kFloat32>> || std::is_same_v<E, Element<DType::kFloat64>> ||
      std::is_same_v<E, Element<DType::kInt32>> || std::is_same_v<E, Element<DType::kInt64>>;
  using Stored = std::conditional_t<std::is_same_v<E, Element<DType::kInt32>>, std::int32_t,
                                    std::conditional_t<kIntegral, std::int64_t, Value>>;
  // all, any and count_nonzero over contiguous runs take truth-inl.h's vector loops, on the
  // elements' bits.
  using Bits = typename E::Bits;

  // Whether a run of n elements `stride` bytes apart takes those vector loops over it as T:
  // contiguous, aligned, a whole vector of T or more.
  template <class T>
  bool vector_run(std::int64_t n, std::int64_t stride) const {
    return stride == static_cast<std::int64_t>(E::kSize) && g_.aligned &&
           static_cast<std::size_t>(n) >= hn::Lanes(hn::ScalableTag<T>());
  }

  // The result of the one run at p (one reduced dim) into `at`. An integer sum is the run's
  // total, without one_output()'s run cursor, which took longer than summing a run of 100 int32
  // (the history file, session 37).
  void one_run(const char* p, char* at, char* slot) const {
    if constexpr (kIntegral) {
      if (g_.reduction == Reduction::kSum) {
        const Dim run = g_.run();
        store_as<std::int64_t>(
            at, static_cast<std::int64_t>(run_total(p, run.size, run.stride) * g_.multiplicity));
        return;
      }
    }
    one_output(p, at, slot);
  }

  void one_output(const char* p, char* at, char* slot) const {
    switch (g_.reduction) {
      case Reduction::kSum:
        if constexpr (kIntegral) {
          std::uint64_t total = 0;
          for_each_run(p, [&](const char* q, std::int64_t n, std::int64_t stride, std::int64_t,
                              std::int64_t) {
            total += run_total(q, n, stride);
            return true;
          });
          store_as<std::int64_t>(at, static_cast<std::int64_t>(total * g_.multiplicity));
          return;
        }
        [[fallthrough]];
      case Reduction::kMean:
      case Reduction::kVar:
      case Reduction::kStd: {
        auto tree = [&](auto acc_tag, const auto& f) {
          using S = decltype(acc_tag);
          return pairwise<S>(p, slot, f);
        };
        finish_pairwise(tree, at);
        return;
      }
      case Reduction::kProd:
        if constexpr (kIntegral) {
          std::uint64_t product = 1;
          for_each_run(p, [&](const char* q, std::int64_t n, std::int64_t stride, std::int64_t,
                              std::int64_t) {
            for_run<E>(q, n, stride,
                       [&](const char* e) { product *= static_cast<std::uint64_t>(E::load(e)); });
            return true;
          });
          store_as<std::int64_t>(at,
                                 static_cast<std::int64_t>(wrapping_pow(product, g_.multiplicity)));
        } else {
          double product = 1.0;
          for_each_run(p, [&](const char* q, std::int64_t n, std::int64_t stride, std::int64_t,
                              std::int64_t) {
            for_run<E>(q, n, stride,
                       [&](const char* e) { product *= static_cast<double>(E::load(e)); });
            return true;
          });
          store_float(at, g_.out_dtype, float_pow(product, g_.multiplicity));
        }
        return;
      case Reduction::kMin:
      case Reduction::kMax: {
        const bool is_min = g_.reduction == Reduction::kMin;
        Value best = E::load(p);  // an element: the plan refused empty reductions
        // NaN sticks once there (b != b); a NaN element takes over (x != x).
        auto take = [&](Value x) {
          const bool better = (best == best) & ((x != x) | (is_min ? x < best : best < x));
          best = better ? x : best;
        };
        for_each_run(
            p, [&](const char* q, std::int64_t n, std::int64_t stride, std::int64_t, std::int64_t) {
              if (kVectorExtrema && vector_run<Stored>(n, stride)) {
                if constexpr (kVectorExtrema) {
                  const auto* x = reinterpret_cast<const Stored*>(q);
                  const auto m = static_cast<std::size_t>(n);
                  take(static_cast<Value>(is_min ? ExtremeOfRun<true>(x, m)
                                                 : ExtremeOfRun<false>(x, m)));
                }
              } else {
                for_run<E>(q, n, stride, [&](const char* e) { take(E::load(e)); });
              }
              return best == best;  // a NaN decides
            });
        E::store(at, best);
        return;
      }
      case Reduction::kArgmin:
      case Reduction::kArgmax: {
        const bool is_min = g_.reduction == Reduction::kArgmin;
        Value best = E::load(p);
        std::int64_t best_index = 0;  // the first element's index is 0
        for_each_run(p, [&](const char* q, std::int64_t n, std::int64_t stride, std::int64_t index,
                            std::int64_t step) {
          if (kVectorExtrema && vector_run<Stored>(n, stride) && n < (std::int64_t{1} << 31)) {
            if constexpr (kVectorExtrema) {
              const auto* x = reinterpret_cast<const Stored*>(q);
              const auto m = static_cast<std::size_t>(n);
              const auto j = static_cast<std::int64_t>(is_min ? ArgExtremeOfRun<true>(x, m)
                                                              : ArgExtremeOfRun<false>(x, m));
              if (best != best) return false;
              const auto v = static_cast<Value>(x[j]);
              if ((v != v) | (is_min ? v < best : best < v)) {
                best = v;
                best_index = index + j * step;
              }
            }
            return best == best;
          }
          for (std::int64_t j = 0; j < n; ++j, q += stride, index += step) {
            const Value x = E::load(q);
            if (best != best) return false;  // the first NaN
            if ((x != x) | (is_min ? x < best : best < x)) {
              best = x;
              best_index = index;
            }
          }
          return best == best;
        });
        store_as<std::int64_t>(at, best_index);
        return;
      }
      case Reduction::kAll:
      case Reduction::kAny: {
        const bool is_all = g_.reduction == Reduction::kAll;
        bool result = is_all;
        for_each_run(
            p, [&](const char* q, std::int64_t n, std::int64_t stride, std::int64_t, std::int64_t) {
              bool acc = is_all;
              if (vector_run<Bits>(n, stride)) {
                const auto* x = reinterpret_cast<const Bits*>(q);
                const auto m = static_cast<std::size_t>(n);
                acc = is_all ? AllOrAnyOfRun<true>(x, m, E::kTruthBits)
                             : AllOrAnyOfRun<false>(x, m, E::kTruthBits);
              } else if (is_all) {
                for_run<E>(q, n, stride, [&](const char* e) { acc &= nonzero<E>(e); });
              } else {
                for_run<E>(q, n, stride, [&](const char* e) { acc |= nonzero<E>(e); });
              }
              result = acc;
              return acc == is_all;  // stop at the run that decides
            });
        *at = result ? 1 : 0;
        return;
      }
      case Reduction::kCountNonzero: {
        std::uint64_t count = 0;
        for_each_run(
            p, [&](const char* q, std::int64_t n, std::int64_t stride, std::int64_t, std::int64_t) {
              if (vector_run<Bits>(n, stride)) {
                count += CountTrueOfRun(reinterpret_cast<const Bits*>(q),
                                        static_cast<std::size_t>(n), E::kTruthBits);
              } else {
                for_run<E>(q, n, stride, [&](const char* e) { count += nonzero<E>(e) ? 1 : 0; });
              }
              return true;
            });
        store_as<std::int64_t>(at, static_cast<std::int64_t>(count * g_.multiplicity));
        return;
      }
    }
  }

  // ---- one column tile: element (row r, column j) at p + decode(red, r) + j * cstride

  // Rows a leaf adds per pass over its accumulators: each column still adds its rows one after
  // the other, in order, but the accumulators are loaded and stored once per kRowGroup rows.
  static constexpr int kRowGroup = 4;

  // acc[j] = (kFirst ? f(row r)[j] : acc[j] + f(row r)[j]) + f(row r + 1)[j] + ..., over kRows
  // rows from r, added left to right.
  template <class S, bool kFirst, int kRows, class F>
  void add_rows(const char* p, std::uint64_t r, std::int64_t cstride, std::size_t width,
                S* HWY_RESTRICT acc, const F& f) const {
    const char* q[kRows];
    for (int k = 0; k < kRows; ++k) q[k] = row_at(p, r + k);
    auto column = [&](std::size_t j, std::int64_t offset) {
      S a = kFirst ? f(static_cast<S>(E::load(q[0] + offset)), j)
                   : acc[j] + f(static_cast<S>(E::load(q[0] + offset)), j);
      for (int k = 1; k < kRows; ++k) a += f(static_cast<S>(E::load(q[k] + offset)), j);
      acc[j] = a;
    };
    if (cstride == static_cast<std::int64_t>(E::kSize)) {
      // The vectorized loop starts at the first column on a cache line of the first row, the
      // columns before it apart (line_head()). Each column adds the same rows in the same order
      // whichever loop takes it.
      const std::size_t head = line_head(q[0], width);
      for (std::size_t j = 0; j < head; ++j) column(j, static_cast<std::int64_t>(j * E::kSize));
      for (std::size_t j = head; j < width; ++j) {
        column(j, static_cast<std::int64_t>(j * E::kSize));
      }
    } else {
      for (std::size_t j = 0; j < width; ++j) column(j, static_cast<std::int64_t>(j) * cstride);
    }
  }

  // Columns of a contiguous row at `row` before the first that starts a 64-byte line: loads
  // from there on do not straddle two lines (the accumulators' then do, which costs less: they
  // are loaded and stored once per kRowGroup rows). numpy's arrays start 16 or 32 bytes into a
  // line (malloc's alignment), where straddling loads made float64 (1000, 1000) over axis 0
  // take 1.2-1.5x the time of an aligned copy. When the rows start at different offsets into
  // their lines (reduced strides that are not whole lines: float32 (1000, 1000)'s alternate
  // between two), a head is taken only if no row starts on a line without one; else it would
  // put those rows off their lines. 0 also for a row narrower than 4 lines (its head would
  // cost more than it saves) or not aligned to its elements.
  std::size_t line_head(const char* row, std::size_t width) const {
    const auto at = reinterpret_cast<std::uintptr_t>(row);
    if (width * E::kSize < 4 * kLineBytes || at % E::kSize != 0) return 0;
    if (at % g_.row_line_period == 0) return 0;  // some rows start on a line as they are
    return static_cast<std::size_t>((kLineBytes - at % kLineBytes) % kLineBytes / E::kSize);
  }

  // acc[0, width) = the f-transformed sums over rows [leaf_lo, leaf_hi) * kLeafRows in pairwise
  // order: rows one after the other in a leaf, leaves by pairwise_tree's shape; `levels` holds
  // tree_depth(leaf_hi - leaf_lo) * width accumulators.
  template <class S, class F>
  void column_tree(const char* p, std::int64_t cstride, std::size_t width, std::uint64_t rows,
                   std::uint64_t leaf_lo, std::uint64_t leaf_hi, S* acc, S* levels,
                   const F& f) const {
    if constexpr (kRegisterLeaves<S, F>) {
      const std::size_t strip = register_strip(leaf_hi - leaf_lo);
      if (strip != 0 && g_.aligned && cstride == static_cast<std::int64_t>(E::kSize) &&
          !g_.rows_share_sets()) {
        return register_strips(p, width, rows, leaf_lo, leaf_hi, acc, strip);
      }
    }
    if (leaf_hi - leaf_lo == 1) {
      const std::uint64_t r0 = leaf_lo * kLeafRows;
      const std::uint64_t r1 = std::min<std::uint64_t>(rows, r0 + kLeafRows);
      std::uint64_t r = r0;
      if (r1 - r0 >= kRowGroup) {
        add_rows<S, true, kRowGroup>(p, r, cstride, width, acc, f);
        r += kRowGroup;
      } else {
        add_rows<S, true, 1>(p, r, cstride, width, acc, f);
        ++r;
      }
      for (; r + kRowGroup <= r1; r += kRowGroup) {
        add_rows<S, false, kRowGroup>(p, r, cstride, width, acc, f);
      }
      for (; r < r1; ++r) add_rows<S, false, 1>(p, r, cstride, width, acc, f);
      return;
    }
    const std::uint64_t mid = leaf_lo + (leaf_hi - leaf_lo + 1) / 2;
    column_tree<S>(p, cstride, width, rows, leaf_lo, mid, acc, levels, f);
    column_tree<S>(p, cstride, width, rows, mid, leaf_hi, levels, levels + width, f);
    for (std::size_t j = 0; j < width; ++j) acc[j] += levels[j];
  }

  // ---- float32 and float64 tiles on AVX-512, a strip of at most kRegisterColumns columns at
  // a time (register_strips()): a strip keeps a leaf's sums in registers (at most 8 vectors, the
  // last one masked) while its rows stream past, instead of loading and storing them once per
  // kRowGroup rows; and a node of two or three leaves, or of four where their sums fit in the 32
  // registers (up to 7 vectors), sums them side by side (more independent additions and more
  // reads in flight) and adds them in registers as the tree does: (l0 + l1), ((l0 + l1) + l2),
  // ((l0 + l1) + (l2 + l3)).
  // Each column still adds a leaf's rows one after the other, in order: the same additions, so the
  // same bits. Only AVX-512 has the masked loads that cannot fault; narrower targets, and rows
  // that share L1 sets (Geometry::rows_share_sets()), take column_tree's loops.
  // A strip's sums, in the float sums' accumulator, which for float32 and float64 (the inputs
  // that take strips) is the input's own type, and its vectors.
  using RegisterValue = FloatAcc<E>;
  using DS = hn::CappedTag<RegisterValue, 64 / sizeof(RegisterValue)>;
#if HWY_TARGET <= HWY_AVX3
  static constexpr std::size_t kRegisterVectors = 8;
  static constexpr bool kRegisterElement =
      std::is_same_v<E, Element<DType::kFloat32>> || std::is_same_v<E, Element<DType::kFloat64>>;
  template <class S, class F>
  static constexpr bool kRegisterLeaves =
      kRegisterElement&& std::is_same_v<S, RegisterValue>&& std::is_same_v<F, Identity>;
#else
  static constexpr std::size_t kRegisterVectors = 1;
  template <class S, class F>
  static constexpr bool kRegisterLeaves = false;
#endif
  static constexpr std::size_t kRegisterColumns = kRegisterVectors * hn::MaxLanes(DS());

  // The widest strip of columns whose sums over a column_tree node of `leaves` leaves
  // register_leaves() keeps in registers: 8 vectors for 1 to 3 leaves, 7 for 4 (28 registers),
  // 0 for a node that the tree splits further.
  static constexpr std::size_t register_strip(std::uint64_t leaves) {
    if (leaves <= 3) return kRegisterColumns;
    return leaves == 4 ? 7 * hn::MaxLanes(DS()) : 0;
  }

  // register_leaves() over the tile's columns a strip at a time, each strip's rows streaming
  // past its sums: a wide tile's node then reads its rows once and stores its sums once, where
  // the loops over accumulators load and store them every kRowGroup rows (with a tree's levels
  // beside them, more than L1 holds for tiles of a few thousand columns). Strips start at the
  // first row's line_head(), so that whole strips load whole lines where the rows start on the
  // same place in a line. Each column adds the same values in the same order in any strip.
  // Rows a stride apart (one reduced dim) are stepped to; others are found once for all the
  // node's strips (row_at() decodes a reduced position).
  void register_strips(const char* p, std::size_t width, std::uint64_t rows, std::uint64_t leaf_lo,
                       std::uint64_t leaf_hi, RegisterValue* acc, std::size_t strip) const {
    const std::uint64_t r0 = leaf_lo * kLeafRows;
    const std::uint64_t r1 = std::min(rows, leaf_hi * kLeafRows);
    if (g_.nred == 1) {
      const StridedRows at{row_at(p, r0), g_.red[0].stride};
      return register_strips(at, width, r1 - r0, leaf_hi - leaf_lo, acc, strip);
    }
    const char* starts[4 * kLeafRows];  // a node of at most 4 leaves (register_strip())
    for (std::uint64_t r = r0; r < r1; ++r) starts[r - r0] = row_at(p, r);
    register_strips(ListedRows{starts}, width, r1 - r0, leaf_hi - leaf_lo, acc, strip);
  }

  // A node's rows for register_leaves(): first(r) is row r's address, and next(q, r) row r's
  // given q, row r - 1's. Rows a stride apart are stepped to: loading each row's address from a
  // table, as ListedRows does, took float32 (100, 100, 100) over axis 1 13% longer on a Zen 5.
  struct StridedRows {
    const char* base;
    std::int64_t stride;
    const char* first(std::uint64_t r) const {
      return base + static_cast<std::int64_t>(r) * stride;
    }
    const char* next(const char* q, std::uint64_t) const { return q + stride; }
  };
  struct ListedRows {
    const char* const* starts;
    const char* first(std::uint64_t r) const { return starts[r]; }
    const char* next(const char*, std::uint64_t r) const { return starts[r]; }
  };

  template <class Rows>
  void register_strips(const Rows& at, std::size_t width, std::uint64_t rows, std::uint64_t leaves,
                       RegisterValue* acc, std::size_t strip) const {
    std::size_t j = width <= strip ? 0 : line_head(at.first(0), width);
    if (j != 0) register_leaves(at, 0, j, rows, leaves, acc);
    for (; j < width; j += strip) {
      register_leaves(at, j * E::kSize, std::min(strip, width - j), rows, leaves, acc + j);
    }
  }

  // acc[0, width) = the sum of `leaves` leaves (1 to 4) of a tile in column_tree's order, the
  // node's `rows` rows (at.first(r)) plus `offset` bytes, width at most register_strip(leaves).
  template <class Rows>
  void register_leaves(const Rows& at, std::size_t offset, std::size_t width, std::uint64_t rows,
                       std::uint64_t leaves, RegisterValue* acc) const {
    constexpr auto kVectors = std::make_index_sequence<kRegisterVectors>();
    switch (leaves) {
      case 1:
        return register_leaves<1>(at, offset, width, rows, acc, kVectors);
      case 2:
        return register_leaves<2>(at, offset, width, rows, acc, kVectors);
      case 3:
        return register_leaves<3>(at, offset, width, rows, acc, kVectors);
      default:  // 4 leaves of at most 7 vectors: 28 registers of sums
        return register_leaves<4>(at, offset, width, rows, acc, std::make_index_sequence<7>());
    }
  }

  template <std::size_t kLeaves, class Rows, std::size_t... kV>
  void register_leaves(const Rows& at, std::size_t offset, std::size_t width, std::uint64_t rows,
                       RegisterValue* acc, std::index_sequence<kV...>) const {
    constexpr std::size_t kN = hn::MaxLanes(DS());
    const std::size_t vectors = pieces(width, kN);
    auto strip = [&](auto whole) {
      (void)((vectors == kV + 1
                  ? (register_leaves<kLeaves, kV + 1, whole.value>(at, offset, width, rows, acc),
                     true)
                  : false) ||
             ...);
    };
    if (width % kN == 0) {
      strip(std::true_type{});
    } else {
      strip(std::false_type{});
    }
  }

  // kWhole: width is kV whole vectors. A masked load costs more than a plain one here even with
  // every lane set (a strip of 7 whole vectors over 64 rows of 4096 floats read at 63% of the
  // streaming read with the last vector masked, 78% without, in a loop outside corepy), so only
  // a strip that ends inside a vector masks its last one.
  template <std::size_t kLeaves, std::size_t kV, bool kWhole, class Rows>
  void register_leaves(const Rows& at, std::size_t offset, std::size_t width, std::uint64_t rows,
                       RegisterValue* acc) const {
    const DS d;
    constexpr std::size_t kN = hn::MaxLanes(DS());
    const auto last = hn::FirstN(d, width - (kV - 1) * kN);
    auto load = [&](const char* row, std::size_t k) {
      const RegisterValue* x = reinterpret_cast<const RegisterValue*>(row) + k * kN;
      return k + 1 < kV || kWhole ? hn::LoadU(d, x) : hn::MaskedLoad(last, d, x);
    };
    // Leaf l's rows are rows [l * kLeafRows, ...); all but the last leaf are whole.
    const std::uint64_t last_rows =
        std::min<std::uint64_t>(rows - (kLeaves - 1) * kLeafRows, kLeafRows);
    hn::Vec<DS> sums[kLeaves][kV];
    const char* q[kLeaves];  // leaf l's row
#pragma GCC unroll 4
    for (std::size_t l = 0; l < kLeaves; ++l) {
      q[l] = at.first(l * kLeafRows) + offset;
#pragma GCC unroll 8
      for (std::size_t k = 0; k < kV; ++k) sums[l][k] = load(q[l], k);
    }
    for (std::uint64_t i = 1; i < kLeafRows; ++i) {
#pragma GCC unroll 4
      for (std::size_t l = 0; l < kLeaves; ++l) {
        if (l + 1 < kLeaves || i < last_rows) {
          q[l] = at.next(q[l] - offset, l * kLeafRows + i) + offset;
#pragma GCC unroll 8
          for (std::size_t k = 0; k < kV; ++k) sums[l][k] = hn::Add(sums[l][k], load(q[l], k));
        }
      }
    }
#pragma GCC unroll 8
    for (std::size_t k = 0; k < kV; ++k) {
      auto sum = sums[0][k];
      if constexpr (kLeaves == 2) sum = hn::Add(sum, sums[1][k]);
      if constexpr (kLeaves == 3) sum = hn::Add(hn::Add(sum, sums[1][k]), sums[2][k]);
      if constexpr (kLeaves == 4) {
        sum = hn::Add(hn::Add(sum, sums[1][k]), hn::Add(sums[2][k], sums[3][k]));
      }
      if (k + 1 < kV || kWhole) {
        hn::StoreU(sum, d, acc + k * kN);
      } else {
        hn::BlendedStore(sum, last, d, acc + k * kN);
      }
    }
  }

  // acc[0, width) = the f-transformed column sums of the tile at p, in column_tree's order.
  // Serial: the tree's levels follow acc. Split: the top scratch.split_depth levels of the tree on
  // several threads, the right half of each split into its own node buffer (the nodes follow
  // acc), the levels below from the slot of the thread that computes them: the same tree, so
  // the same bits.
  template <class S, class F>
  S* column_sum(const char* p, std::int64_t cstride, std::size_t width, S* acc, const F& f,
                const TileScratch& scratch) const {
    const std::uint64_t rows = g_.column_rows();
    const std::uint64_t leaves = pieces(rows, kLeafRows);
    if (scratch.pool == nullptr) {
      column_tree<S>(p, cstride, width, rows, 0, leaves, acc, acc + width, f);
    } else {
      column_tree_split<S>(p, cstride, width, rows, 0, leaves, acc, acc + width, 0,
                           scratch.split_depth, scratch, f);
    }
    return acc;
  }

  template <class S, class F>
  void column_tree_split(const char* p, std::int64_t cstride, std::size_t width, std::uint64_t rows,
                         std::uint64_t lo, std::uint64_t hi, S* acc, S* nodes, std::size_t node,
                         int depth, const TileScratch& scratch, const F& f) const {
    if (depth == 0 || hi - lo < 2) {
      S* levels = reinterpret_cast<S*>(scratch.slots + scratch.slot_bytes * slot_index());
      column_tree<S>(p, cstride, width, rows, lo, hi, acc, levels, f);
      return;
    }
    const std::uint64_t mid = lo + (hi - lo + 1) / 2;
    S* right = nodes + node * width;
    parallel_pair(
        [&] {
          column_tree_split<S>(p, cstride, width, rows, lo, mid, acc, nodes, 2 * node + 1,
                               depth - 1, scratch, f);
        },
        [&] {
          column_tree_split<S>(p, cstride, width, rows, mid, hi, right, nodes, 2 * node + 2,
                               depth - 1, scratch, f);
        });
    for (std::size_t j = 0; j < width; ++j) acc[j] += right[j];
  }

  // out[j] = value(j) in the result dtype, for j < width: one loop per dtype, which the
  // vectorizer can take (store_float() decides per element).
  template <class V>
  void store_floats(char* out, std::size_t width, const V& value) const {
    switch (g_.out_dtype) {
      case DType::kFloat32:
        for (std::size_t j = 0; j < width; ++j) {
          store_as<float>(out + j * 4, static_cast<float>(value(j)));
        }
        return;
      case DType::kFloat64:
        for (std::size_t j = 0; j < width; ++j) store_as<double>(out + j * 8, value(j));
        return;
      case DType::kBFloat16:
        return store_halves(out, width, value, bf16_from_f32);
      default:  // float16: the only other float result
        return store_halves(out, width, value, fp16_ieee_from_fp32_value);
    }
  }
  template <class V, class Convert>
  static void store_halves(char* out, std::size_t width, const V& value, Convert convert) {
    for (std::size_t j = 0; j < width; ++j) {
      store_as<std::uint16_t>(out + j * 2, convert(static_cast<float>(value(j))));
    }
  }

  // Row r of the tile at p: reduced position r in C order (no division for one reduced dim).
  const char* row_at(const char* p, std::uint64_t r) const {
    if (g_.nred == 1) return p + static_cast<std::int64_t>(r) * g_.red[0].stride;
    return p + decode(g_.red, g_.nred, r);
  }

  // f(row, its index) for every reduced position in C order. argmin and argmax reduce one axis
  // here, whose positions are the indices.
  template <class F>
  void for_each_row(const char* p, const F& f) const {
    const std::uint64_t rows = g_.column_rows();
    for (std::uint64_t r = 0; r < rows; ++r) {
      f(row_at(p, r), static_cast<std::int64_t>(r));
    }
  }

  void one_tile(const char* p, std::int64_t cstride, std::size_t width, char* out,
                const TileScratch& scratch) const {
    char* slot = scratch.pool != nullptr ? scratch.pool : scratch.slot;
    const double k = static_cast<double>(g_.multiplicity);
    const std::size_t item = g_.out_item;
    switch (g_.reduction) {
      case Reduction::kSum:
      case Reduction::kMean:
        if (kIntegral && g_.reduction == Reduction::kSum) {
          const std::uint64_t* acc = column_sum(
              p, cstride, width, reinterpret_cast<std::uint64_t*>(slot), Identity{}, scratch);
          for (std::size_t j = 0; j < width; ++j) {
            store_as<std::int64_t>(out + j * 8,
                                   static_cast<std::int64_t>(acc[j] * g_.multiplicity));
          }
        } else if (kIntegral) {  // integer means, in float64
          const double* acc =
              column_sum(p, cstride, width, reinterpret_cast<double*>(slot), Identity{}, scratch);
          const double n = static_cast<double>(g_.visited);
          store_floats(out, width, [&](std::size_t j) { return acc[j] / n; });
        } else {
          using S = FloatAcc<E>;
          const S* acc =
              column_sum(p, cstride, width, reinterpret_cast<S*>(slot), Identity{}, scratch);
          constexpr DType kAccType = std::is_same_v<S, float> ? DType::kFloat32 : DType::kFloat64;
          if (g_.reduction == Reduction::kSum && g_.multiplicity == 1 && g_.out_dtype == kAccType) {
            std::memcpy(out, acc, width * sizeof(S));  // the sums are the result (x * 1.0 is x)
          } else if (g_.reduction == Reduction::kSum) {
            store_floats(out, width,
                         [&](std::size_t j) { return static_cast<double>(acc[j]) * k; });
          } else {
            const double n = static_cast<double>(g_.visited);
            store_floats(out, width,
                         [&](std::size_t j) { return static_cast<double>(acc[j]) / n; });
          }
        }
        return;
      case Reduction::kVar:
      case Reduction::kStd: {
        auto* mean = reinterpret_cast<double*>(slot);
        double* acc = mean + width;
        column_sum(p, cstride, width, acc, Identity{}, scratch);
        for (std::size_t j = 0; j < width; ++j) mean[j] = acc[j] / static_cast<double>(g_.visited);
        column_sum(p, cstride, width, acc, SquaredDeviation{mean, true}, scratch);
        const double n =
            std::max(static_cast<double>(g_.reduced_count) - static_cast<double>(g_.ddof), 0.0);
        if (g_.reduction == Reduction::kStd) {
          store_floats(out, width, [&](std::size_t j) { return std::sqrt(acc[j] * k / n); });
        } else {
          store_floats(out, width, [&](std::size_t j) { return acc[j] * k / n; });
        }
        return;
      }
      case Reduction::kProd:
        if constexpr (kIntegral) {
          auto* acc = reinterpret_cast<std::uint64_t*>(slot);
          std::fill(acc, acc + width, std::uint64_t{1});
          for_each_row(p, [&](const char* row, std::int64_t) {
            for_columns<E>(row, cstride, width, [&](std::size_t j, const char* q) {
              acc[j] *= static_cast<std::uint64_t>(E::load(q));
            });
          });
          for (std::size_t j = 0; j < width; ++j) {
            store_as<std::int64_t>(
                out + j * 8, static_cast<std::int64_t>(wrapping_pow(acc[j], g_.multiplicity)));
          }
        } else {
          auto* acc = reinterpret_cast<double*>(slot);
          std::fill(acc, acc + width, 1.0);
          for_each_row(p, [&](const char* row, std::int64_t) {
            for_columns<E>(row, cstride, width, [&](std::size_t j, const char* q) {
              acc[j] *= static_cast<double>(E::load(q));
            });
          });
          store_floats(out, width,
                       [&](std::size_t j) { return float_pow(acc[j], g_.multiplicity); });
        }
        return;
      case Reduction::kMin:
      case Reduction::kMax: {
        const bool is_min = g_.reduction == Reduction::kMin;
        auto* best = reinterpret_cast<Value*>(slot);
        for_columns<E>(p, cstride, width,
                       [&](std::size_t j, const char* q) { best[j] = E::load(q); });
        for_each_row(p, [&](const char* row, std::int64_t) {
          for_columns<E>(row, cstride, width, [&](std::size_t j, const char* q) {
            const Value x = E::load(q);
            const Value b = best[j];
            const bool take = (b == b) & ((x != x) | (is_min ? x < b : b < x));
            best[j] = take ? x : b;
          });
        });
        for (std::size_t j = 0; j < width; ++j) E::store(out + j * item, best[j]);
        return;
      }
      case Reduction::kArgmin:
      case Reduction::kArgmax: {
        const bool is_min = g_.reduction == Reduction::kArgmin;
        auto* best = reinterpret_cast<Value*>(slot);
        auto* index = reinterpret_cast<std::int64_t*>(slot + round_up(width * sizeof(Value), 64));
        for_columns<E>(p, cstride, width, [&](std::size_t j, const char* q) {
          best[j] = E::load(q);
          index[j] = 0;
        });
        for_each_row(p, [&](const char* row, std::int64_t r) {
          for_columns<E>(row, cstride, width, [&](std::size_t j, const char* q) {
            const Value x = E::load(q);
            const Value b = best[j];
            const bool take = (b == b) & ((x != x) | (is_min ? x < b : b < x));
            best[j] = take ? x : b;
            index[j] = take ? r : index[j];
          });
        });
        for (std::size_t j = 0; j < width; ++j) store_as<std::int64_t>(out + j * 8, index[j]);
        return;
      }
      case Reduction::kAll:
      case Reduction::kAny: {
        const bool is_all = g_.reduction == Reduction::kAll;
        auto* acc = reinterpret_cast<unsigned char*>(slot);
        std::fill(acc, acc + width, static_cast<unsigned char>(is_all ? 1 : 0));
        for_each_row(p, [&](const char* row, std::int64_t) {
          for_columns<E>(row, cstride, width, [&](std::size_t j, const char* q) {
            const auto nz = static_cast<unsigned char>(nonzero<E>(q) ? 1 : 0);
            acc[j] = is_all ? (acc[j] & nz) : (acc[j] | nz);
          });
        });
        for (std::size_t j = 0; j < width; ++j) out[j] = static_cast<char>(acc[j]);
        return;
      }
      case Reduction::kCountNonzero: {
        auto* count = reinterpret_cast<std::uint64_t*>(slot);
        std::fill(count, count + width, std::uint64_t{0});
        for_each_row(p, [&](const char* row, std::int64_t) {
          for_columns<E>(row, cstride, width,
                         [&](std::size_t j, const char* q) { count[j] += nonzero<E>(q) ? 1 : 0; });
        });
        for (std::size_t j = 0; j < width; ++j) {
          store_as<std::int64_t>(out + j * 8,
                                 static_cast<std::int64_t>(count[j] * g_.multiplicity));
        }
        return;
      }
    }
  }

  const Geometry& g_;
  char* out_;
  const bool in_place_;  // g_.runs_in_place()
};

template <class E>
void Run(const Geometry& g, const Schedule& s, char* out, char* scratch) {
  const Reducer<E> r(g, out);
  char* slots = scratch + s.pool_bytes;
  if (s.single_split) {
    r.single_output_split(slots, s.slot_bytes);
  } else if (s.tiles_split) {
    r.output_units(0, s.units, slots, true);
  } else if (s.rows_split) {
    const TileScratch tile{nullptr, scratch, slots, s.slot_bytes, s.split_depth};
    r.column_units(0, s.units, tile);
  } else if (s.parallel) {
    parallel_ranges(0, s.units, s.grain, [&](std::size_t lo, std::size_t hi) {
      char* slot = slots + s.slot_bytes * slot_index();
      if (g.columns) {
        r.column_units(lo, hi, TileScratch{slot, nullptr, nullptr, 0, 0});
      } else {
        r.output_units(lo, hi, slot);
      }
    });
  } else if (g.columns) {
    r.column_units(0, s.units, TileScratch{slots, nullptr, nullptr, 0, 0});
  } else {
    r.output_units(0, s.units, slots);
  }
}

void RunReduction(const Geometry& g, const Schedule& s, char* out, char* slots) {
  visit_dtype(g.in, [&](auto e) { Run<decltype(e)>(g, s, out, slots); });
}

}  // namespace HWY_NAMESPACE
}  // namespace corepy::ops::internal
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace corepy::ops::internal {

HWY_EXPORT(RunReduction);

bool Geometry::runs_in_place() const {
  return nred != 0 && aligned && run().stride == static_cast<std::int64_t>(itemsize) &&
         (in == DType::kFloat32 || in == DType::kFloat64 || in == DType::kFloat16 ||
          in == DType::kBFloat16);
}

std::uint64_t Geometry::runs() const { return product(red, nred - 1); }

bool Geometry::packs_runs() const { return nred >= 2 && red[nred - 1].size < kPackRunsBelow; }

std::uint64_t Geometry::runs_side_by_side() const {
  const auto length = static_cast<std::uint64_t>(run().size);
  return length <= kLanes ? kLanes / (pieces(length, kRunLanes) * kRunLanes) : 1;
}

std::uint64_t Geometry::runs_per_leaf() const {
  const auto length = static_cast<std::uint64_t>(run().size);
  return runs_side_by_side() * (kLeafAdds / pieces(length, kLanes));
}
std::uint64_t Geometry::packed_leaves() const { return pieces(runs(), runs_per_leaf()); }
// Float32 and float64 sums and means of packed, contiguous, aligned runs, with neighbours along
// the innermost kept dim: what both kinds of packed tile need.
static bool tiles_runs(const Geometry& g) {
  return (g.in == DType::kFloat32 || g.in == DType::kFloat64) && !g.columns && g.nkept != 0 &&
         (g.reduction == Reduction::kSum || g.reduction == Reduction::kMean) && g.packs_runs() &&
         g.aligned && g.run().stride == static_cast<std::int64_t>(g.itemsize) &&
         g.kept[g.nkept - 1].size >= 2;
}
bool Geometry::packed_flat() const {
  if (!tiles_runs(*this)) return false;
  const std::int64_t length = run().size;
  const std::int64_t step = kept[nkept - 1].stride;
  const auto bytes = length * static_cast<std::int64_t>(itemsize);
  // Float32 runs of 9 to 32 elements keep the register tiles (kFlatShortRun); float64 runs have
  // none.
  const bool flat_length = length > static_cast<std::int64_t>(2 * kRunLanes) ||
                           length <= kFlatShortRun || in == DType::kFloat64;
  return flat_length && length <= static_cast<std::int64_t>(kLanes) &&
         (step == bytes || step == -bytes);
}
std::size_t Geometry::packed_tile() const {
  if (!tiles_runs(*this)) return 0;
  const Dim& inner = kept[nkept - 1];
  const auto width = static_cast<std::size_t>(inner.size);
  const auto length = static_cast<std::size_t>(run().size);
  if (packed_flat()) {
    const std::size_t side = runs_side_by_side();
    const std::size_t run_bytes = length * itemsize;
    const std::size_t most = std::min(kFlatTileBytes / (side * run_bytes),
                                      kFlatPassBytes / ((side + flat_pass_rows(side)) * run_bytes));
    std::size_t tiles = pieces(width, std::min(kFlatTile, most));
    tiles += tiles % 2 * (tiles > 1);  // an even count, which two threads share evenly
    return pieces(width, tiles);
  }
  const std::size_t vectors = pieces(length, kRunLanes);
  if (in != DType::kFloat32 || inner.stride < -kPackedTileStride ||
      inner.stride > kPackedTileStride || vectors > 2) {
    return 0;
  }
  return pieces(width, pieces(width, kPackedGroup * kPackedTile / vectors));
}
bool Geometry::rows_share_sets() const { return red[nred - 1].stride % kSetPeriodBytes == 0; }

std::uint64_t Geometry::column_rows() const { return product(red, nred); }

std::size_t Geometry::tile_width() const {
  return std::min(static_cast<std::size_t>(kept[nkept - 1].size), column_tile);
}

std::size_t Geometry::tiles_per_line() const {
  return pieces(static_cast<std::size_t>(kept[nkept - 1].size), column_tile);
}

Schedule schedule(Geometry& g, const ParallelOptions& options) {
  Schedule s;
  if (g.result_size == 0 || g.reduced_count == 0) return s;
  using u128 = unsigned __int128;
  const u128 bytes = static_cast<u128>(g.result_size) * g.visited * g.itemsize;
  const int threads = bytes >= options.min_parallel_bytes ? tbb_max_concurrency() : 1;
  const std::size_t tile = g.packed_tile();
  bool columns_split = false;
  if (g.columns) {
    const auto width = static_cast<std::size_t>(g.kept[g.nkept - 1].size);
    const std::size_t lines = g.result_size / width;
    s.units = lines * g.tiles_per_line();
    const std::size_t cols = round_up(pieces(width, static_cast<std::size_t>(threads)),
                                      std::max<std::size_t>(1, kLineBytes / g.itemsize));
    if (threads > 1 && s.units < 2 * static_cast<std::size_t>(threads) && cols <= kTile &&
        cols * g.itemsize >= kColumnSplitBytes) {
      // Too few tiles to share out, and rows wide enough to cut into a long run a thread: a
      // tile a thread, each summing all of its rows (rather than each tile's rows split over
      // the threads, below).
      g.column_tile = cols;
      s.units = lines * g.tiles_per_line();
      columns_split = true;
    }
  } else if (tile != 0) {
    const auto width = static_cast<std::size_t>(g.kept[g.nkept - 1].size);
    s.units = g.result_size / width * pieces(width, tile);
  } else {
    s.units = g.result_size;
  }
  s.slots = 1;
  const bool pairwise = g.reduction == Reduction::kSum || g.reduction == Reduction::kMean ||
                        g.reduction == Reduction::kVar || g.reduction == Reduction::kStd;
  if (threads > 1 && g.columns && !columns_split && pairwise &&
      s.units < 2 * static_cast<std::size_t>(threads) && g.column_rows() > kLeafRows) {
    // Too few tiles to share out (narrower tiles would cut the rows into short pieces, which
    // stream badly): the tiles one after the other, each one's rows split over the threads.
    s.rows_split = true;
    const bool wide = is_integral(g.in) || g.reduction == Reduction::kVar ||
                      g.reduction == Reduction::kStd;  // uint64 or float64 accumulators
    const std::size_t acc = wide ? 8 : float_acc_size(g.in);
    const std::size_t depth = tree_depth(pieces(g.column_rows(), kLeafRows));
    s.split_depth = static_cast<int>(
        std::min<std::size_t>(kSplitDepth, tree_depth(static_cast<std::size_t>(threads))));
    s.pool_bytes = round_up(split_pool_tiles(s.split_depth) * g.tile_width() * acc, 64);
    s.slot_bytes = round_up(depth * g.tile_width() * acc, 64);
    s.slots = static_cast<std::size_t>(threads);
    return s;
  }
  s.slot_bytes = round_up(slot_bytes(g), 64);
  if (threads <= 1) return s;
  if (tile != 0 && s.units < static_cast<std::size_t>(threads) && g.packed_leaves() >= 2) {
    // Fewer tiles than threads ((20000, 10, 3) over (0, 2) is one): each tile's leaves split.
    s.tiles_split = true;
    s.slots = static_cast<std::size_t>(threads);
    return s;
  }
  if (s.units >= 2) {
    const auto unit_bytes = static_cast<std::size_t>(
        std::min<u128>(bytes / s.units, std::numeric_limits<std::size_t>::max()));
    s.parallel = true;
    s.grain = std::max<std::size_t>(1, kTaskBytes / std::max<std::size_t>(unit_bytes, 1));
  } else if (!g.columns && g.result_size == 1 && g.nred > 0 && pairwise &&
             !(g.reduction == Reduction::kSum && is_integral(g.in))) {
    // One float sum (or mean, var, std): its pairwise tree splits over threads.
    s.single_split = true;
  } else {
    return s;
  }
  s.slots = static_cast<std::size_t>(threads);
  return s;
}

void run_reduction(const Geometry& g, const Schedule& s, char* out, char* slots) {
  HWY_DYNAMIC_DISPATCH(RunReduction)(g, s, out, slots);
}

}  // namespace corepy::ops::internal
#endif  // HWY_ONCE
