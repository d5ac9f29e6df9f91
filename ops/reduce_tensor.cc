#include "ops/reduce_tensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ops/internal/parallel.h"
#include "ops/internal/reduce_kernels.h"
#include "ops/internal/reduce_tree.h"
#include "ops/internal/tensor_elements.h"

namespace corepy::ops {

std::optional<Reduction> reduction_from_int(std::int32_t value) {
  switch (value) {
#define COREPY_REDUCTION_CASE(name, v, text) \
  case v:                                    \
    return Reduction::name;
    COREPY_REDUCTIONS(COREPY_REDUCTION_CASE)
#undef COREPY_REDUCTION_CASE
    default:
      return std::nullopt;
  }
}

absl::string_view reduction_name(Reduction reduction) {
  switch (reduction) {
#define COREPY_REDUCTION_CASE(name, v, text) \
  case Reduction::name:                      \
    return text;
    COREPY_REDUCTIONS(COREPY_REDUCTION_CASE)
#undef COREPY_REDUCTION_CASE
  }
  return "unknown reduction";
}

namespace {

using internal::Element;
using internal::pieces;

using u128 = unsigned __int128;

bool is_arg(Reduction r) { return r == Reduction::kArgmin || r == Reduction::kArgmax; }
bool is_integral(DType d) { return d == DType::kInt32 || d == DType::kInt64 || d == DType::kBool; }

DType result_dtype_of(Reduction r, DType in) {
  switch (r) {
    case Reduction::kSum:
    case Reduction::kProd:
      return is_integral(in) ? DType::kInt64 : in;
    case Reduction::kMean:
    case Reduction::kVar:
    case Reduction::kStd:
      return is_integral(in) ? DType::kFloat64 : in;
    case Reduction::kMin:
    case Reduction::kMax:
      return in;
    case Reduction::kArgmin:
    case Reduction::kArgmax:
      return DType::kInt64;
    case Reduction::kAll:
    case Reduction::kAny:
      break;
  }
  return DType::kBool;
}

// numpy's own words for a reduction with no element and no identity.
std::string empty_reduction_message(Reduction r) {
  switch (r) {
    case Reduction::kMin:
      return "zero-size array to reduction operation minimum which has no identity";
    case Reduction::kMax:
      return "zero-size array to reduction operation maximum which has no identity";
    default:
      return absl::StrCat("attempt to get ", reduction_name(r), " of an empty sequence");
  }
}

std::uint64_t magnitude(std::int64_t v) {
  return v < 0 ? std::uint64_t{0} - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
}

}  // namespace

absl::StatusOr<ReducePlan> ReducePlan::make(Reduction reduction, const TensorView& in,
                                            const ReduceOptions& options) {
  if (!reduction_from_int(static_cast<std::int32_t>(reduction))) {
    return absl::InvalidArgumentError(absl::StrCat("corepy::ops::reduce: unknown reduction ",
                                                   static_cast<int>(reduction),
                                                   " (sum=1 ... any=11)"));
  }
  const std::string fn = absl::StrCat("corepy::ops::reduce(", reduction_name(reduction), ")");
  if (!dtype_from_int(static_cast<std::int32_t>(in.dtype))) {
    return absl::InvalidArgumentError(absl::StrCat(
        fn, ": unknown dtype ", static_cast<int>(in.dtype), "; supported: ", supported_dtypes()));
  }
  const std::size_t ndim = in.shape.size();
  if (ndim > static_cast<std::size_t>(kMaxDims)) {
    return absl::InvalidArgumentError(
        absl::StrCat(fn, ": ndim=", ndim, "; at most ", kMaxDims, " dimensions"));
  }
  if (!in.strides.empty() && in.strides.size() != ndim) {
    return absl::InvalidArgumentError(
        absl::StrCat(fn, ": ", in.strides.size(), " strides for ", ndim, " dimensions"));
  }
  const std::size_t itemsize = dtype_size(in.dtype);
  std::uint64_t count = 1;
  for (std::size_t i = 0; i < ndim; ++i) {
    if (in.shape[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(fn, ": dimension ", i, " is negative (", in.shape[i], ")"));
    }
  }
  for (std::size_t i = 0; i < ndim; ++i) {
    const auto n = static_cast<std::uint64_t>(in.shape[i]);
    if (n == 0) {
      count = 0;
      break;
    }
  }
  if (count != 0) {
    for (std::size_t i = 0; i < ndim; ++i) {
      const auto n = static_cast<std::uint64_t>(in.shape[i]);
      if (count > static_cast<std::uint64_t>(PTRDIFF_MAX) / n) {
        return absl::InvalidArgumentError(
            absl::StrCat(fn, ": the shape's element count overflows (dimension ", i, " is ",
                         in.shape[i], "); at most ", PTRDIFF_MAX, " elements"));
      }
      count *= n;
    }
  }

  // Strides, and the bytes the view spans.
  std::array<std::int64_t, kMaxDims> strides{};
  if (in.strides.empty()) {
    if (count > static_cast<std::uint64_t>(PTRDIFF_MAX) / itemsize) {
      return absl::InvalidArgumentError(absl::StrCat(fn, ": a C-contiguous array of ", count, " ",
                                                     dtype_name(in.dtype),
                                                     " elements spans more bytes than any object"));
    }
    std::int64_t step = static_cast<std::int64_t>(itemsize);
    for (std::size_t i = ndim; i-- > 0;) {
      strides[i] = count == 0 ? 0 : step;
      if (count != 0) step *= in.shape[i];
    }
  } else {
    u128 extent = itemsize;
    for (std::size_t i = 0; i < ndim; ++i) {
      strides[i] = in.strides[i];
      if (count != 0 && in.shape[i] > 1) {
        extent += static_cast<u128>(in.shape[i] - 1) * magnitude(in.strides[i]);
        if (extent > static_cast<u128>(PTRDIFF_MAX)) {
          return absl::InvalidArgumentError(absl::StrCat(
              fn, ": the view's byte extent overflows at dimension ", i, " (shape ", in.shape[i],
              ", stride ", in.strides[i], "); at most ", PTRDIFF_MAX, " bytes"));
        }
      }
    }
  }
  if (count != 0 && in.data == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(fn, ": data is null but the view has ", count, " elements"));
  }

  // Axes.
  std::array<bool, kMaxDims> reduced{};
  if (options.all_axes) {
    reduced.fill(true);
  } else {
    if (is_arg(reduction) && options.axes.size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          fn, ": takes one axis or all of them (axis=None), got ", options.axes.size(), " axes"));
    }
    const auto n = static_cast<std::int64_t>(ndim);
    for (const std::int64_t axis : options.axes) {
      // numpy's argmin/argmax accept axis 0 (or -1) of a 0-d array: it is the whole array.
      if (ndim == 0 && is_arg(reduction) && (axis == 0 || axis == -1)) continue;
      if (axis < -n || axis >= n) {
        return absl::InvalidArgumentError(
            absl::StrCat(fn, ": axis ", axis, " is out of bounds for array of dimension ", ndim));
      }
      const auto k = static_cast<std::size_t>(axis < 0 ? axis + n : axis);
      if (reduced[k]) {
        return absl::InvalidArgumentError(
            absl::StrCat(fn, ": duplicate value in 'axis': ", axis, " (dimension ", k, ")"));
      }
      reduced[k] = true;
    }
  }

  ReducePlan plan;
  plan.reduction_ = reduction;
  plan.input_dtype_ = in.dtype;
  plan.result_dtype_ = result_dtype_of(reduction, in.dtype);
  plan.ddof_ = options.ddof;

  u128 reduced_count = 1;
  std::uint64_t result_size = 1;
  bool result_empty = false;
  for (std::size_t i = 0; i < ndim; ++i) {
    if (reduced[i]) {
      reduced_count *= static_cast<u128>(in.shape[i]);
      if (reduced_count > std::numeric_limits<std::uint64_t>::max()) reduced_count = 0;  // below
      if (options.keepdims) plan.result_shape_[plan.result_ndim_++] = 1;
    } else {
      plan.result_shape_[plan.result_ndim_++] = in.shape[i];
      if (in.shape[i] == 0) result_empty = true;
    }
  }
  const std::size_t result_item = dtype_size(plan.result_dtype_);
  if (!result_empty) {
    for (std::size_t i = 0; i < ndim; ++i) {
      if (reduced[i]) continue;
      const auto n = static_cast<std::uint64_t>(in.shape[i]);
      if (result_size > static_cast<std::uint64_t>(PTRDIFF_MAX) / result_item / n) {
        return absl::InvalidArgumentError(
            absl::StrCat(fn, ": the result's shape holds more bytes than any object (dimension ", i,
                         " is ", in.shape[i], ")"));
      }
      result_size *= n;
    }
  } else {
    result_size = 0;
  }
  // A reduced count past 2^64 needs a zero elsewhere in the shape (count fits in 2^63), so the
  // result is empty and the count is never used.
  plan.result_size_ = result_size;
  plan.reduced_count_ = static_cast<std::size_t>(reduced_count);
  if (plan.reduced_count_ == 0 &&
      (reduction == Reduction::kMin || reduction == Reduction::kMax || is_arg(reduction))) {
    return absl::InvalidArgumentError(absl::StrCat(fn, ": ", empty_reduction_message(reduction)));
  }
  if (count == 0 || result_size == 0) return plan;  // nothing to visit (execute() fills)

  // The iteration, normalized (see the header).
  const char* base = static_cast<const char*>(in.data);
  auto push_merged = [](std::array<Dim, kMaxDims>& dims, std::size_t& n, Dim d) {
    if (n != 0 && dims[n - 1].stride == d.size * d.stride) {
      dims[n - 1] = Dim{dims[n - 1].size * d.size, d.stride};
    } else {
      dims[n++] = d;
    }
  };
  for (std::size_t i = 0; i < ndim; ++i) {
    if (!reduced[i] && in.shape[i] != 1) {
      push_merged(plan.kept_, plan.nkept_, Dim{in.shape[i], strides[i]});
    }
  }
  if (!is_arg(reduction)) {
    std::array<Dim, kMaxDims> dims{};
    std::size_t n = 0;
    for (std::size_t i = 0; i < ndim; ++i) {
      if (!reduced[i] || in.shape[i] == 1) continue;
      if (strides[i] == 0) {
        plan.multiplicity_ *= static_cast<std::uint64_t>(in.shape[i]);
        continue;
      }
      std::int64_t stride = strides[i];
      if (stride < 0) {
        base += (in.shape[i] - 1) * stride;
        stride = -stride;
      }
      dims[n++] = Dim{in.shape[i], stride};
    }
    std::stable_sort(dims.begin(), dims.begin() + n,
                     [](const Dim& a, const Dim& b) { return a.stride > b.stride; });
    for (std::size_t i = 0; i < n; ++i) push_merged(plan.reduced_, plan.nreduced_, dims[i]);
  } else {
    std::int64_t step = 1;
    std::array<std::int64_t, kMaxDims> steps{};
    for (std::size_t i = ndim; i-- > 0;) {
      if (!reduced[i] || in.shape[i] == 1) continue;
      steps[i] = step;
      step *= in.shape[i];
    }
    for (std::size_t i = 0; i < ndim; ++i) {
      if (!reduced[i] || in.shape[i] == 1 || strides[i] == 0) continue;  // index 0 of a broadcast
      const Dim d{in.shape[i], strides[i]};
      std::size_t& n = plan.nreduced_;
      if (n != 0 && plan.reduced_[n - 1].stride == d.size * d.stride &&
          plan.index_step_[n - 1] == d.size * steps[i]) {
        plan.reduced_[n - 1] = Dim{plan.reduced_[n - 1].size * d.size, d.stride};
        plan.index_step_[n - 1] = steps[i];
      } else {
        plan.reduced_[n] = d;
        plan.index_step_[n] = steps[i];
        ++n;
      }
    }
  }
  plan.base_ = base;
  return plan;
}

// ------------------------------------------------------------------------------------ execution
//
// Two strategies, chosen by the plan's geometry:
//   - per output: each result reduces the elements under it, along runs of the innermost reduced
//     dim (read in place when contiguous, else converted a block at a time into the thread's
//     scratch buffer);
//   - columns: when the innermost kept dim is closer in memory than the innermost reduced one
//     (a reduction down non-contiguous axes), a tile of up to kTile results is reduced at once,
//     row by row, its accumulators in scratch.
// Float sums are pairwise in both: runs of blocks, and runs combined by pairwise_tree; columns in
// leaves of kLeafRows rows combined by the same tree.

namespace {

using Dim = ReducePlan::Dim;

// Leaves of the float64 pairwise sum: kBlock64 elements in 16 lanes (element i into lane i % 16),
// the lanes folded by halving; blocks combined by pairwise_tree.
constexpr std::size_t kLanes64 = 16;
constexpr std::size_t kBlock64 = 2048;
// Elements a float32 run converts at a time into its buffer (a block of sum_f32_range).
constexpr std::size_t kGather = internal::kBlock;
// Results one column tile holds: its accumulators stay in L1 while the rows stream past.
constexpr std::size_t kTile = 1024;
constexpr std::size_t kLeafRows = internal::kLeafRows;
// Work a parallel task should at least have, in bytes read.
constexpr std::size_t kTaskBytes = std::size_t{256} << 10;

double sum_f64_block(const double* x, std::size_t n) {
  double lanes[kLanes64];
  for (double& l : lanes) l = -0.0;
  std::size_t i = 0;
  for (; i + kLanes64 <= n; i += kLanes64) {
    for (std::size_t j = 0; j < kLanes64; ++j) lanes[j] += x[i + j];
  }
  for (std::size_t j = 0; i + j < n; ++j) lanes[j] += x[i + j];
  for (std::size_t half = kLanes64 / 2; half != 0; half /= 2) {
    for (std::size_t j = 0; j < half; ++j) lanes[j] += lanes[j + half];
  }
  return lanes[0];
}

template <class S>
S add(S a, S b) {
  return a + b;
}

// The calling thread's scratch slot. Inside a parallel body that is its index in the task arena;
// a caller that has not entered the arena yet (the serial start of a split tree) runs before any
// task of this call exists, and takes slot 0.
std::size_t slot_index() {
  const int i = internal::tbb_thread_index();
  return i < 0 ? 0 : static_cast<std::size_t>(i);
}

// The plan, as the kernels read it.
struct Geometry {
  Reduction reduction;
  DType in;
  DType out_dtype;
  std::size_t itemsize;
  std::size_t out_item;
  const char* base;
  const Dim* kept;
  std::size_t nkept;
  const Dim* red;
  std::size_t nred;
  const std::int64_t* index_step;
  std::uint64_t multiplicity;
  std::uint64_t reduced_count;  // numpy's n, broadcast dims included
  std::uint64_t visited;        // elements visited per result: reduced_count / multiplicity
  std::size_t result_size;
  std::int64_t ddof;
  bool columns;              // the column strategy
  bool aligned;              // base and every stride are multiples of the element size
  std::size_t tile = kTile;  // results per column tile (the schedule narrows it for threads)
};

// Offset of position m (C order) over dims [0, n).
std::int64_t decode(const Dim* dims, std::size_t n, std::uint64_t m) {
  std::int64_t offset = 0;
  for (std::size_t k = n; k-- > 0;) {
    const auto size = static_cast<std::uint64_t>(dims[k].size);
    offset += static_cast<std::int64_t>(m % size) * dims[k].stride;
    m /= size;
  }
  return offset;
}

std::uint64_t product(const Dim* dims, std::size_t n) {
  std::uint64_t p = 1;
  for (std::size_t k = 0; k < n; ++k) p *= static_cast<std::uint64_t>(dims[k].size);
  return p;
}

// x^k modulo 2^64 (what k-fold wrapping multiplication gives).
std::uint64_t wrapping_pow(std::uint64_t x, std::uint64_t k) {
  std::uint64_t result = 1;
  for (; k != 0; k >>= 1, x *= x) {
    if (k & 1) result *= x;
  }
  return result;
}

// x^k for the product of k copies of a float64 partial product. The sign comes from k's
// parity, exactly (k as a double may not be).
double float_pow(double x, std::uint64_t k) {
  if (k == 1) return x;
  const double magnitude = std::pow(std::fabs(x), static_cast<double>(k));
  return (x < 0 && (k & 1)) ? -magnitude : magnitude;
}

void store_float(char* at, DType dtype, double v) {
  switch (dtype) {
    case DType::kFloat32:
      internal::store_as<float>(at, static_cast<float>(v));
      return;
    case DType::kFloat16:
      internal::store_as<std::uint16_t>(at, fp16_ieee_from_fp32_value(static_cast<float>(v)));
      return;
    case DType::kBFloat16:
      internal::store_as<std::uint16_t>(at, internal::bf16_from_f32(static_cast<float>(v)));
      return;
    default:
      internal::store_as<double>(at, v);
  }
}

// The transform applied to each element of a pairwise sum: none (sums, means) or the squared
// deviation from the result's mean (var, std).
struct Identity {
  double operator()(double v, std::size_t) const { return v; }
};
struct SquaredDeviation {
  const double* mean;  // per result of the tile (columns), or one (per output)
  bool per_column;
  double operator()(double v, std::size_t j) const {
    const double d = v - mean[per_column ? j : 0];
    return d * d;
  }
};

// The sum accumulator of dtype E: float for float32/16/bf16, double for float64.
template <class E>
using FloatAcc = std::conditional_t<std::is_same_v<typename E::Value, float>, float, double>;

template <class E>
class Reducer {
 public:
  using Value = typename E::Value;
  static constexpr bool kIntegral = !E::kFloat;

  Reducer(const Geometry& g, char* out) : g_(g), out_(out) {}

  // ---- per output

  // Results [lo, hi), each from the elements under it; `slot` is the thread's scratch.
  void outputs(std::size_t lo, std::size_t hi, char* slot) const {
    for (std::size_t o = lo; o < hi; ++o)
      one_output(g_.base + decode(g_.kept, g_.nkept, o), o, slot);
  }

  // ---- columns

  std::uint64_t column_rows() const { return product(g_.red, g_.nred); }
  std::size_t tile_width() const {
    return std::min(static_cast<std::size_t>(g_.kept[g_.nkept - 1].size), g_.tile);
  }
  std::size_t tiles_per_line() const {
    return pieces(static_cast<std::size_t>(g_.kept[g_.nkept - 1].size), g_.tile);
  }
  // Units [lo, hi): unit u is tile u % tiles_per_line() of line u / tiles_per_line(), a line
  // being one position of the kept dims but the innermost.
  void column_units(std::size_t lo, std::size_t hi, char* slot) const {
    const Dim inner = g_.kept[g_.nkept - 1];
    const std::size_t tiles = tiles_per_line();
    for (std::size_t u = lo; u < hi; ++u) {
      const std::size_t line = u / tiles;
      const std::size_t j0 = (u % tiles) * g_.tile;
      const std::size_t width = std::min(g_.tile, static_cast<std::size_t>(inner.size) - j0);
      const char* p = g_.base + decode(g_.kept, g_.nkept - 1, line) +
                      static_cast<std::int64_t>(j0) * inner.stride;
      one_tile(p, inner.stride, width, line * static_cast<std::size_t>(inner.size) + j0, slot);
    }
  }

  // ---- one result reduced over all threads (float sums, means, var, std)

  bool splits_single_output() const {
    switch (g_.reduction) {
      case Reduction::kSum:
        return !kIntegral;
      case Reduction::kMean:
      case Reduction::kVar:
      case Reduction::kStd:
        return true;
      default:
        return false;
    }
  }

  void single_output_parallel(char* slots, std::size_t slot_bytes) const {
    const char* p = g_.base;
    auto tree = [&](auto acc_tag, const auto& f) {
      using S = decltype(acc_tag);
      return split_tree<S>(p, slots, slot_bytes, f);
    };
    finish_pairwise(p, 0, tree, nullptr);
  }

 private:
  // ---- pairwise sums

  // Leaves of the pairwise sum under p: the runs when there are several, else the run's own
  // leaves (chunks of sum_f32_range when read in place, blocks otherwise). Either way
  // pairwise_tree over the leaves is the sum.
  std::uint64_t runs() const { return product(g_.red, g_.nred - 1); }

  template <class S, class F>
  bool in_place(const F&) const {
    if (!std::is_same_v<F, Identity> || !g_.aligned) return false;
    if (g_.red[g_.nred - 1].stride != static_cast<std::int64_t>(g_.itemsize)) return false;
    return (std::is_same_v<S, float> && g_.in == DType::kFloat32) ||
           (std::is_same_v<S, double> && g_.in == DType::kFloat64);
  }

  template <class S, class F>
  std::size_t run_leaf_size(const F& f) const {
    if (in_place<S>(f)) return std::is_same_v<S, float> ? internal::kChunk : kBlock64;
    return std::is_same_v<S, float> ? kGather : kBlock64;
  }

  // Leaf b of the run at p (n elements): a chunk or block, read in place or converted into
  // `buffer`, each element transformed by f.
  template <class S, class F>
  S run_leaf(const char* p, std::size_t n, std::size_t b, void* buffer, const F& f) const {
    const std::int64_t stride = g_.red[g_.nred - 1].stride;
    const std::size_t size = run_leaf_size<S>(f);
    const std::size_t m = std::min(size, n - b * size);
    const char* q = p + static_cast<std::int64_t>(b * size) * stride;
    if (in_place<S>(f)) {
      if constexpr (std::is_same_v<S, float>) {
        return internal::sum_f32_chunk(reinterpret_cast<const float*>(q), m);
      } else {
        return sum_f64_leaf(reinterpret_cast<const double*>(q), m);
      }
    }
    S* buf = static_cast<S*>(buffer);
    for (std::size_t i = 0; i < m; ++i, q += stride) {
      buf[i] = static_cast<S>(f(static_cast<double>(E::load(q)), 0));
    }
    if constexpr (std::is_same_v<S, float>) {
      return internal::sum_f32_chunk(buf, m);
    } else {
      return sum_f64_leaf(buf, m);
    }
  }

  static double sum_f64_leaf(const double* x, std::size_t n) { return sum_f64_block(x, n); }

  template <class S, class F>
  S run_sum(const char* p, void* buffer, const F& f) const {
    const auto n = static_cast<std::size_t>(g_.red[g_.nred - 1].size);
    return internal::pairwise_tree<S>(
        0, pieces(n, run_leaf_size<S>(f)),
        [&](std::size_t b) { return run_leaf<S>(p, n, b, buffer, f); }, add<S>);
  }

  template <class S, class F>
  S pairwise(const char* p, void* buffer, const F& f) const {
    if (g_.nred == 0) return static_cast<S>(f(static_cast<double>(E::load(p)), 0));
    return internal::pairwise_tree<S>(
        0, runs(),
        [&](std::uint64_t m) { return run_sum<S>(p + decode(g_.red, g_.nred - 1, m), buffer, f); },
        add<S>);
  }

  // pairwise() with its tree's halves on several threads, each leaf using the scratch slot of
  // the thread that computes it: the same tree, so the same result bit for bit.
  template <class S, class F>
  S split_tree(const char* p, char* slots, std::size_t slot_bytes, const F& f) const {
    auto slot = [&] { return slots + slot_bytes * slot_index(); };
    if (g_.nred == 0) return static_cast<S>(f(static_cast<double>(E::load(p)), 0));
    const std::uint64_t nruns = runs();
    const auto n = static_cast<std::size_t>(g_.red[g_.nred - 1].size);
    if (nruns > 1) {
      const std::uint64_t min_leaves = std::max<std::uint64_t>(1, kTaskBytes / g_.itemsize / n);
      return parallel_tree<S>(0, nruns, min_leaves, [&](std::uint64_t m) {
        return run_sum<S>(p + decode(g_.red, g_.nred - 1, m), slot(), f);
      });
    }
    const std::size_t leaf = run_leaf_size<S>(f);
    const std::uint64_t min_leaves = std::max<std::uint64_t>(1, kTaskBytes / g_.itemsize / leaf);
    return parallel_tree<S>(0, pieces(n, leaf), min_leaves,
                            [&](std::uint64_t b) { return run_leaf<S>(p, n, b, slot(), f); });
  }

  template <class S, class Leaf>
  static S parallel_tree(std::uint64_t lo, std::uint64_t hi, std::uint64_t min_leaves,
                         const Leaf& leaf) {
    if (hi - lo <= min_leaves) return internal::pairwise_tree<S>(lo, hi, leaf, add<S>);
    const std::uint64_t mid = lo + (hi - lo + 1) / 2;
    S left{}, right{};
    internal::parallel_pair([&] { left = parallel_tree<S>(lo, mid, min_leaves, leaf); },
                            [&] { right = parallel_tree<S>(mid, hi, min_leaves, leaf); });
    return left + right;
  }

  // Sum, mean, var or std of the elements under p into result o, `tree(S{}, f)` computing a
  // pairwise sum in S with transform f.
  template <class Tree>
  void finish_pairwise(const char* p, std::size_t o, const Tree& tree, char*) const {
    (void)p;
    char* at = out_ + o * g_.out_item;
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

  // ---- one result

  void one_output(const char* p, std::size_t o, char* slot) const {
    char* at = out_ + o * g_.out_item;
    switch (g_.reduction) {
      case Reduction::kSum:
        if constexpr (kIntegral) {
          std::uint64_t total = 0;
          for_each(p, [&](const char* q, std::int64_t) {
            total += static_cast<std::uint64_t>(E::load(q));
            return true;
          });
          internal::store_as<std::int64_t>(at, static_cast<std::int64_t>(total * g_.multiplicity));
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
        finish_pairwise(p, o, tree, slot);
        return;
      }
      case Reduction::kProd:
        if constexpr (kIntegral) {
          std::uint64_t product = 1;
          for_each(p, [&](const char* q, std::int64_t) {
            product *= static_cast<std::uint64_t>(E::load(q));
            return true;
          });
          internal::store_as<std::int64_t>(
              at, static_cast<std::int64_t>(wrapping_pow(product, g_.multiplicity)));
        } else {
          double product = 1.0;
          for_each(p, [&](const char* q, std::int64_t) {
            product *= static_cast<double>(E::load(q));
            return true;
          });
          store_float(at, g_.out_dtype, float_pow(product, g_.multiplicity));
        }
        return;
      case Reduction::kMin:
      case Reduction::kMax: {
        const bool is_min = g_.reduction == Reduction::kMin;
        Value best = E::load(p);  // any element: non-empty (the plan checked)
        for_each(p, [&](const char* q, std::int64_t) {
          const Value x = E::load(q);
          if constexpr (E::kFloat) {
            if (x != x) {
              best = x;
              return false;  // NaN wins
            }
          }
          if (is_min ? x < best : best < x) best = x;
          return true;
        });
        E::store(at, best);
        return;
      }
      case Reduction::kArgmin:
      case Reduction::kArgmax: {
        const bool is_min = g_.reduction == Reduction::kArgmin;
        Value best{};
        std::int64_t best_index = -1;
        for_each(p, [&](const char* q, std::int64_t index) {
          const Value x = E::load(q);
          if constexpr (E::kFloat) {
            if (x != x) {
              best_index = index;  // the first NaN
              return false;
            }
          }
          if (best_index < 0 || (is_min ? x < best : best < x)) {
            best = x;
            best_index = index;
          }
          return true;
        });
        internal::store_as<std::int64_t>(at, best_index);
        return;
      }
      case Reduction::kAll:
      case Reduction::kAny: {
        const bool want = g_.reduction == Reduction::kAny;  // the value that decides
        bool found = false;
        for_each(p, [&](const char* q, std::int64_t) {
          if (E::nonzero(q) == want) {
            found = true;
            return false;
          }
          return true;
        });
        *at = (found == want) ? 1 : 0;
        return;
      }
    }
  }

  // f(element, C-order index over the reduced axes) for every visited element under p, in C
  // order of the normalized dims, until f returns false.
  template <class F>
  void for_each(const char* p, const F& f) const {
    if (g_.nred == 0) {
      (void)f(p, 0);
      return;
    }
    std::array<std::int64_t, kMaxDims> i{};
    const Dim run = g_.red[g_.nred - 1];
    const std::int64_t run_step = g_.index_step[g_.nred - 1];
    const char* row = p;
    std::int64_t row_index = 0;
    for (;;) {
      const char* q = row;
      std::int64_t index = row_index;
      for (std::int64_t j = 0; j < run.size; ++j, q += run.stride, index += run_step) {
        if (!f(q, index)) return;
      }
      std::size_t k = g_.nred - 1;  // the next run: an odometer over the outer reduced dims
      for (;;) {
        if (k == 0) return;
        --k;
        if (++i[k] < g_.red[k].size) {
          row += g_.red[k].stride;
          row_index += g_.index_step[k];
          break;
        }
        row -= (g_.red[k].size - 1) * g_.red[k].stride;
        row_index -= (g_.red[k].size - 1) * g_.index_step[k];
        i[k] = 0;
      }
    }
  }

  // ---- one column tile: element (row r, column j) at p + decode(red, r) + j * cstride

  // f(j, element) for the `width` columns of a row; contiguous rows get a loop of their own,
  // which the compiler vectorizes.
  template <class F>
  static void for_columns(const char* row, std::int64_t cstride, std::size_t width, const F& f) {
    if (cstride == static_cast<std::int64_t>(E::kSize)) {
      for (std::size_t j = 0; j < width; ++j) f(j, row + j * E::kSize);
    } else {
      for (std::size_t j = 0; j < width; ++j) f(j, row + static_cast<std::int64_t>(j) * cstride);
    }
  }

  // acc[0, width) = the f-transformed sums over rows [leaf_lo, leaf_hi) * kLeafRows, in pairwise
  // order: rows one after the other in a leaf, leaves by pairwise_tree's shape; `levels` holds
  // tree_depth(leaf_hi - leaf_lo) * width accumulators.
  template <class S, class F>
  void column_tree(const char* p, std::int64_t cstride, std::size_t width, std::uint64_t rows,
                   std::uint64_t leaf_lo, std::uint64_t leaf_hi, S* acc, S* levels,
                   const F& f) const {
    if (leaf_hi - leaf_lo == 1) {
      const std::uint64_t r0 = leaf_lo * kLeafRows;
      const std::uint64_t r1 = std::min<std::uint64_t>(rows, r0 + kLeafRows);
      for (std::uint64_t r = r0; r < r1; ++r) {
        const char* row = p + decode(g_.red, g_.nred, r);
        if (r == r0) {
          for_columns(row, cstride, width, [&](std::size_t j, const char* q) {
            acc[j] = static_cast<S>(f(static_cast<double>(E::load(q)), j));
          });
        } else {
          for_columns(row, cstride, width, [&](std::size_t j, const char* q) {
            acc[j] += static_cast<S>(f(static_cast<double>(E::load(q)), j));
          });
        }
      }
      return;
    }
    const std::uint64_t mid = leaf_lo + (leaf_hi - leaf_lo + 1) / 2;
    column_tree<S>(p, cstride, width, rows, leaf_lo, mid, acc, levels, f);
    column_tree<S>(p, cstride, width, rows, mid, leaf_hi, levels, levels + width, f);
    for (std::size_t j = 0; j < width; ++j) acc[j] += levels[j];
  }

  template <class S, class F>
  S* column_sum(const char* p, std::int64_t cstride, std::size_t width, S* acc, const F& f) const {
    const std::uint64_t rows = column_rows();
    column_tree<S>(p, cstride, width, rows, 0, pieces(rows, kLeafRows), acc, acc + width, f);
    return acc;
  }

  // Rows in C order of the reduced dims, each visited once: f(row pointer, row's index).
  template <class F>
  void for_each_row(const char* p, const F& f) const {
    const std::uint64_t rows = column_rows();
    for (std::uint64_t r = 0; r < rows; ++r) {
      // argmin/argmax reduce one axis: the row's index is r times that axis's step (1).
      f(p + decode(g_.red, g_.nred, r), static_cast<std::int64_t>(r));
    }
  }

  void one_tile(const char* p, std::int64_t cstride, std::size_t width, std::size_t o0,
                char* slot) const {
    char* out = out_ + o0 * g_.out_item;
    const double k = static_cast<double>(g_.multiplicity);
    switch (g_.reduction) {
      case Reduction::kSum:
      case Reduction::kMean:
        if (kIntegral && g_.reduction == Reduction::kSum) {
          auto* acc = reinterpret_cast<std::uint64_t*>(slot);
          std::fill(acc, acc + width, std::uint64_t{0});
          for_each_row(p, [&](const char* row, std::int64_t) {
            for_columns(row, cstride, width, [&](std::size_t j, const char* q) {
              acc[j] += static_cast<std::uint64_t>(E::load(q));
            });
          });
          for (std::size_t j = 0; j < width; ++j) {
            internal::store_as<std::int64_t>(out + j * 8,
                                             static_cast<std::int64_t>(acc[j] * g_.multiplicity));
          }
        } else if (kIntegral) {  // integer mean, in float64
          const double* acc =
              column_sum(p, cstride, width, reinterpret_cast<double*>(slot), Identity{});
          for (std::size_t j = 0; j < width; ++j) {
            store_float(out + j * g_.out_item, g_.out_dtype,
                        acc[j] / static_cast<double>(g_.visited));
          }
        } else {
          using S = FloatAcc<E>;
          const S* acc = column_sum(p, cstride, width, reinterpret_cast<S*>(slot), Identity{});
          for (std::size_t j = 0; j < width; ++j) {
            const double sum = static_cast<double>(acc[j]);
            store_float(
                out + j * g_.out_item, g_.out_dtype,
                g_.reduction == Reduction::kSum ? sum * k : sum / static_cast<double>(g_.visited));
          }
        }
        return;
      case Reduction::kVar:
      case Reduction::kStd: {
        auto* mean = reinterpret_cast<double*>(slot);
        double* acc = mean + width;
        column_sum(p, cstride, width, acc, Identity{});
        for (std::size_t j = 0; j < width; ++j) mean[j] = acc[j] / static_cast<double>(g_.visited);
        column_sum(p, cstride, width, acc, SquaredDeviation{mean, true});
        const double n =
            std::max(static_cast<double>(g_.reduced_count) - static_cast<double>(g_.ddof), 0.0);
        for (std::size_t j = 0; j < width; ++j) {
          const double var = acc[j] * k / n;
          store_float(out + j * g_.out_item, g_.out_dtype,
                      g_.reduction == Reduction::kStd ? std::sqrt(var) : var);
        }
        return;
      }
      case Reduction::kProd:
        if constexpr (kIntegral) {
          auto* acc = reinterpret_cast<std::uint64_t*>(slot);
          std::fill(acc, acc + width, std::uint64_t{1});
          for_each_row(p, [&](const char* row, std::int64_t) {
            for_columns(row, cstride, width, [&](std::size_t j, const char* q) {
              acc[j] *= static_cast<std::uint64_t>(E::load(q));
            });
          });
          for (std::size_t j = 0; j < width; ++j) {
            internal::store_as<std::int64_t>(
                out + j * 8, static_cast<std::int64_t>(wrapping_pow(acc[j], g_.multiplicity)));
          }
        } else {
          auto* acc = reinterpret_cast<double*>(slot);
          std::fill(acc, acc + width, 1.0);
          for_each_row(p, [&](const char* row, std::int64_t) {
            for_columns(row, cstride, width, [&](std::size_t j, const char* q) {
              acc[j] *= static_cast<double>(E::load(q));
            });
          });
          for (std::size_t j = 0; j < width; ++j) {
            store_float(out + j * g_.out_item, g_.out_dtype, float_pow(acc[j], g_.multiplicity));
          }
        }
        return;
      case Reduction::kMin:
      case Reduction::kMax: {
        const bool is_min = g_.reduction == Reduction::kMin;
        auto* best = reinterpret_cast<Value*>(slot);
        for_columns(p, cstride, width, [&](std::size_t j, const char* q) { best[j] = E::load(q); });
        for_each_row(p, [&](const char* row, std::int64_t) {
          for_columns(row, cstride, width, [&](std::size_t j, const char* q) {
            const Value x = E::load(q);
            const Value b = best[j];
            // NaN sticks once there (b != b); a NaN element takes over (x != x).
            const bool take = (b == b) & ((x != x) | (is_min ? x < b : b < x));
            best[j] = take ? x : b;
          });
        });
        for (std::size_t j = 0; j < width; ++j) E::store(out + j * g_.out_item, best[j]);
        return;
      }
      case Reduction::kArgmin:
      case Reduction::kArgmax: {
        const bool is_min = g_.reduction == Reduction::kArgmin;
        auto* best = reinterpret_cast<Value*>(slot);
        auto* index = reinterpret_cast<std::int64_t*>(slot + round_up(width * sizeof(Value), 64));
        for_columns(p, cstride, width, [&](std::size_t j, const char* q) {
          best[j] = E::load(q);
          index[j] = 0;
        });
        for_each_row(p, [&](const char* row, std::int64_t r) {
          for_columns(row, cstride, width, [&](std::size_t j, const char* q) {
            const Value x = E::load(q);
            const Value b = best[j];
            const bool take = (b == b) & ((x != x) | (is_min ? x < b : b < x));
            best[j] = take ? x : b;
            index[j] = take ? r : index[j];
          });
        });
        for (std::size_t j = 0; j < width; ++j)
          internal::store_as<std::int64_t>(out + j * 8, index[j]);
        return;
      }
      case Reduction::kAll:
      case Reduction::kAny: {
        const bool is_all = g_.reduction == Reduction::kAll;
        auto* acc = reinterpret_cast<unsigned char*>(slot);
        std::fill(acc, acc + width, static_cast<unsigned char>(is_all ? 1 : 0));
        for_each_row(p, [&](const char* row, std::int64_t) {
          for_columns(row, cstride, width, [&](std::size_t j, const char* q) {
            const unsigned char nz = E::nonzero(q) ? 1 : 0;
            acc[j] = is_all ? (acc[j] & nz) : (acc[j] | nz);
          });
        });
        for (std::size_t j = 0; j < width; ++j) out[j] = static_cast<char>(acc[j]);
        return;
      }
    }
  }

  static std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

  const Geometry& g_;
  char* out_;

 public:
  // Bytes of scratch one thread needs.
  std::size_t slot_bytes() const {
    if (g_.columns) {
      const std::size_t width = tile_width();
      const std::size_t depth = internal::tree_depth(pieces(column_rows(), kLeafRows));
      switch (g_.reduction) {
        case Reduction::kSum:
          if (kIntegral) return width * sizeof(std::uint64_t);
          return (1 + depth) * width * sizeof(FloatAcc<E>);
        case Reduction::kMean:
          return (1 + depth) * width * (kIntegral ? sizeof(double) : sizeof(FloatAcc<E>));
        case Reduction::kVar:
        case Reduction::kStd:
          return (2 + depth) * width * sizeof(double);
        case Reduction::kProd:
          return width * 8;
        case Reduction::kMin:
        case Reduction::kMax:
          return width * sizeof(Value);
        case Reduction::kArgmin:
        case Reduction::kArgmax:
          return round_up(width * sizeof(Value), 64) + width * sizeof(std::int64_t);
        case Reduction::kAll:
        case Reduction::kAny:
          return width;
      }
    }
    if (g_.nred == 0) return 0;
    switch (g_.reduction) {
      case Reduction::kSum:
        if (kIntegral) return 0;
        return in_place<FloatAcc<E>>(Identity{})
                   ? 0
                   : run_leaf_size<FloatAcc<E>>(Identity{}) * sizeof(FloatAcc<E>);
      case Reduction::kMean:
        if (kIntegral) return kBlock64 * sizeof(double);
        return in_place<FloatAcc<E>>(Identity{})
                   ? 0
                   : run_leaf_size<FloatAcc<E>>(Identity{}) * sizeof(FloatAcc<E>);
      case Reduction::kVar:
      case Reduction::kStd:
        return kBlock64 * sizeof(double);
      default:
        return 0;
    }
  }
};

// How a plan runs with these options: the strategy's work units, whether they are split over
// threads, and the scratch that takes.
struct Schedule {
  bool single_split;  // one result, its pairwise tree split over threads
  bool parallel;      // units split over threads
  std::size_t units;
  std::size_t grain;
  std::size_t slots;
  std::size_t slot_bytes;  // rounded up to 64
  std::size_t bytes() const { return slots * slot_bytes; }
};

template <class E>
Schedule schedule(Geometry& g, const ParallelOptions& options) {
  Schedule s{};
  if (g.result_size == 0 || g.reduced_count == 0) return s;
  const u128 bytes = static_cast<u128>(g.result_size) * g.visited * g.itemsize;
  const int threads = bytes >= options.min_parallel_bytes ? internal::tbb_max_concurrency() : 1;
  if (g.columns && threads > 1) {
    // Enough tiles for every thread twice over, each still a few vectors wide.
    const auto width = static_cast<std::size_t>(g.kept[g.nkept - 1].size);
    const std::size_t lines = g.result_size / width;
    const std::size_t want = 2 * static_cast<std::size_t>(threads);
    if (lines * pieces(width, kTile) < want && lines < want) {
      g.tile = std::max<std::size_t>(64, (pieces(width * lines, want) + 15) / 16 * 16);
      g.tile = std::min(g.tile, kTile);
    }
  }
  const Reducer<E> r(g, nullptr);
  s.slot_bytes = (r.slot_bytes() + 63) / 64 * 64;
  s.slots = 1;
  s.units = g.columns ? (g.result_size / static_cast<std::size_t>(g.kept[g.nkept - 1].size)) *
                            r.tiles_per_line()
                      : g.result_size;
  if (threads <= 1) return s;
  if (s.units >= 2) {
    const auto unit_bytes = static_cast<std::size_t>(
        std::min<u128>(bytes / s.units, std::numeric_limits<std::size_t>::max()));
    s.parallel = true;
    s.grain = std::max<std::size_t>(1, kTaskBytes / std::max<std::size_t>(unit_bytes, 1));
  } else if (!g.columns && g.result_size == 1 && g.nred > 0 && r.splits_single_output()) {
    s.single_split = true;
  } else {
    return s;
  }
  s.slots = static_cast<std::size_t>(threads);
  return s;
}

template <class E>
void run(Geometry g, char* out, std::pmr::memory_resource* scratch,
         const ParallelOptions& options) {
  const Schedule s = schedule<E>(g, options);
  internal::ScratchBuffer<char> buffer(scratch, s.bytes());  // before anything is written
  const Reducer<E> r(g, out);
  char* slots = buffer.data();
  if (s.single_split) {
    r.single_output_parallel(slots, s.slot_bytes);
  } else if (s.parallel) {
    internal::parallel_ranges(0, s.units, s.grain, [&](std::size_t lo, std::size_t hi) {
      char* slot = slots + s.slot_bytes * slot_index();
      if (g.columns) {
        r.column_units(lo, hi, slot);
      } else {
        r.outputs(lo, hi, slot);
      }
    });
  } else if (g.columns) {
    r.column_units(0, s.units, slots);
  } else {
    r.outputs(0, s.units, slots);
  }
}

// Results of a reduction over no element: sum 0, prod 1, mean, var and std NaN, all true, any
// false (min, max, argmin and argmax were refused by the plan).
void fill_empty(const Geometry& g, char* out) {
  for (std::size_t o = 0; o < g.result_size; ++o) {
    char* at = out + o * g.out_item;
    switch (g.reduction) {
      case Reduction::kSum:
      case Reduction::kProd: {
        const int v = g.reduction == Reduction::kProd ? 1 : 0;
        if (g.out_dtype == DType::kInt64) {
          internal::store_as<std::int64_t>(at, v);
        } else {
          store_float(at, g.out_dtype, v);
        }
        break;
      }
      case Reduction::kAll:
      case Reduction::kAny:
        *at = g.reduction == Reduction::kAll ? 1 : 0;
        break;
      default:
        store_float(at, g.out_dtype, std::numeric_limits<double>::quiet_NaN());
    }
  }
}

}  // namespace

class ReduceRunner {
 public:
  static Geometry geometry(const ReducePlan& plan) {
    Geometry g{};
    g.reduction = plan.reduction_;
    g.in = plan.input_dtype_;
    g.out_dtype = plan.result_dtype_;
    g.itemsize = dtype_size(g.in);
    g.out_item = dtype_size(g.out_dtype);
    g.base = plan.base_;
    g.kept = plan.kept_.data();
    g.nkept = plan.nkept_;
    g.red = plan.reduced_.data();
    g.nred = plan.nreduced_;
    g.index_step = plan.index_step_.data();
    g.multiplicity = plan.multiplicity_;
    g.reduced_count = plan.reduced_count_;
    g.visited = plan.reduced_count_ / plan.multiplicity_;
    g.result_size = plan.result_size_;
    g.ddof = plan.ddof_;
    g.columns = g.nkept > 0 && g.nred > 0 &&
                magnitude(g.kept[g.nkept - 1].stride) < magnitude(g.red[g.nred - 1].stride);
    const auto item = static_cast<std::int64_t>(g.itemsize);
    g.aligned = reinterpret_cast<std::uintptr_t>(g.base) % g.itemsize == 0;
    for (std::size_t k = 0; k < g.nkept; ++k) g.aligned &= g.kept[k].stride % item == 0;
    for (std::size_t k = 0; k < g.nred; ++k) g.aligned &= g.red[k].stride % item == 0;
    return g;
  }
};

std::size_t ReducePlan::scratch_bytes(const ParallelOptions& parallel) const {
  Geometry g = ReduceRunner::geometry(*this);
  return internal::visit_dtype(g.in,
                               [&](auto e) { return schedule<decltype(e)>(g, parallel).bytes(); });
}

void execute(const ReducePlan& plan, void* out, std::pmr::memory_resource* scratch,
             const ParallelOptions& parallel) {
  const Geometry g = ReduceRunner::geometry(plan);
  if (g.result_size == 0) return;
  if (scratch == nullptr) scratch = std::pmr::get_default_resource();
  char* o = static_cast<char*>(out);
  if (g.reduced_count == 0) {
    fill_empty(g, o);
    return;
  }
  internal::visit_dtype(g.in, [&](auto e) { run<decltype(e)>(g, o, scratch, parallel); });
}

absl::StatusOr<Tensor> reduce(Reduction reduction, const TensorView& input,
                              const ReduceOptions& options, std::pmr::memory_resource* result,
                              std::pmr::memory_resource* scratch, const ParallelOptions& parallel) {
  absl::StatusOr<ReducePlan> plan = ReducePlan::make(reduction, input, options);
  if (!plan.ok()) return plan.status();
  if (result == nullptr) result = std::pmr::get_default_resource();
  Tensor out(plan->result_dtype(), plan->result_shape(), result);
  execute(*plan, out.data(), scratch != nullptr ? scratch : result, parallel);
  return out;
}

}  // namespace corepy::ops
