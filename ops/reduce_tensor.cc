#include "ops/reduce_tensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <numeric>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ops/internal/parallel.h"
#include "ops/internal/reduce_tree.h"
#include "ops/internal/tensor_elements.h"
#include "ops/internal/tensor_kernels.h"

namespace corepy::ops {

std::optional<Reduction> reduction_from_int(std::int32_t value) {
  switch (value) {
#define COREPY_REDUCTION_CASE(Id, name, value) \
  case value:                                  \
    return Reduction::k##Id;
    COREPY_REDUCTIONS(COREPY_REDUCTION_CASE)
#undef COREPY_REDUCTION_CASE
    default:
      return std::nullopt;
  }
}

absl::string_view reduction_name(Reduction reduction) {
  switch (reduction) {
#define COREPY_REDUCTION_CASE(Id, name, value) \
  case Reduction::k##Id:                       \
    return #name;
    COREPY_REDUCTIONS(COREPY_REDUCTION_CASE)
#undef COREPY_REDUCTION_CASE
  }
  return "unknown reduction";
}

namespace {

using internal::Element;
using internal::pieces;

using u128 = unsigned __int128;

// "1 (sum), 2 (prod), ...", for the unknown-reduction message.
absl::string_view known_reductions() {
#define COREPY_REDUCTION_TEXT(Id, name, value) ", " #value " (" #name ")"
  static constexpr absl::string_view kList = COREPY_REDUCTIONS(COREPY_REDUCTION_TEXT);
#undef COREPY_REDUCTION_TEXT
  return kList.substr(2);
}

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
    case Reduction::kCountNonzero:
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
  absl::StatusOr<ReducePlan> made(absl::in_place, Key());
  if (absl::Status built = made->build(reduction, in, options); !built.ok()) {
    made = std::move(built);
  }
  return made;  // the one return: no copy of the plan
}

absl::Status ReducePlan::build(Reduction reduction, const TensorView& in,
                               const ReduceOptions& options) {
  if (!reduction_from_int(static_cast<std::int32_t>(reduction))) {
    return absl::InvalidArgumentError(absl::StrCat("corepy::ops::reduce: unknown reduction ",
                                                   static_cast<int>(reduction),
                                                   "; known: ", known_reductions()));
  }
  // The messages' prefix, made only for a message: a call that succeeds allocates nothing here.
  const auto fn = [reduction] {
    return absl::StrCat("corepy::ops::reduce(", reduction_name(reduction), ")");
  };
  if (!dtype_from_int(static_cast<std::int32_t>(in.dtype))) {
    return absl::InvalidArgumentError(absl::StrCat(
        fn(), ": unknown dtype ", static_cast<int>(in.dtype), "; supported: ", supported_dtypes()));
  }
  const std::size_t ndim = in.shape.size();
  if (ndim > static_cast<std::size_t>(kMaxDims)) {
    return absl::InvalidArgumentError(
        absl::StrCat(fn(), ": ndim=", ndim, "; at most ", kMaxDims, " dimensions"));
  }
  if (!in.strides.empty() && in.strides.size() != ndim) {
    return absl::InvalidArgumentError(
        absl::StrCat(fn(), ": ", in.strides.size(), " strides for ", ndim, " dimensions"));
  }
  const std::size_t itemsize = dtype_size(in.dtype);
  std::uint64_t count = 1;
  for (std::size_t i = 0; i < ndim; ++i) {
    if (in.shape[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(fn(), ": dimension ", i, " is negative (", in.shape[i], ")"));
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
            absl::StrCat(fn(), ": the shape's element count overflows (dimension ", i, " is ",
                         in.shape[i], "); at most ", PTRDIFF_MAX, " elements"));
      }
      count *= n;
    }
  }

  // Strides, and the bytes the view spans.
  std::array<std::int64_t, kMaxDims> strides;  // [0, ndim) written below
  if (in.strides.empty()) {
    if (count > static_cast<std::uint64_t>(PTRDIFF_MAX) / itemsize) {
      return absl::InvalidArgumentError(absl::StrCat(fn(), ": a C-contiguous array of ", count, " ",
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
              fn(), ": the view's byte extent overflows at dimension ", i, " (shape ", in.shape[i],
              ", stride ", in.strides[i], "); at most ", PTRDIFF_MAX, " bytes"));
        }
      }
    }
  }
  if (count != 0 && in.data == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(fn(), ": data is null but the view has ", count, " elements"));
  }

  // Axes.
  std::array<bool, kMaxDims> reduced{};
  if (options.all_axes) {
    reduced.fill(true);
  } else {
    if (is_arg(reduction) && options.axes.size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          fn(), ": takes one axis or all of them (axis=None), got ", options.axes.size(), " axes"));
    }
    const auto n = static_cast<std::int64_t>(ndim);
    for (const std::int64_t axis : options.axes) {
      // numpy's argmin/argmax accept axis 0 (or -1) of a 0-d array: it is the whole array.
      if (ndim == 0 && is_arg(reduction) && (axis == 0 || axis == -1)) continue;
      if (axis < -n || axis >= n) {
        return absl::InvalidArgumentError(
            absl::StrCat(fn(), ": axis ", axis, " is out of bounds for array of dimension ", ndim));
      }
      const auto k = static_cast<std::size_t>(axis < 0 ? axis + n : axis);
      if (reduced[k]) {
        return absl::InvalidArgumentError(
            absl::StrCat(fn(), ": duplicate value in 'axis': ", axis, " (dimension ", k, ")"));
      }
      reduced[k] = true;
    }
  }

  ReducePlan& plan = *this;
  plan.reduction_ = reduction;
  plan.input_dtype_ = in.dtype;
  plan.result_dtype_ = result_dtype_of(reduction, in.dtype);
  plan.ddof_ = options.ddof;

  // The reduced count saturates: past 2^64 it needs a 0 in a kept dim (the element count fits
  // in 2^63), so the result is empty and the count is never used.
  u128 reduced_count = 1;
  bool reduced_empty = false;
  std::uint64_t result_size = 1;
  bool result_empty = false;
  for (std::size_t i = 0; i < ndim; ++i) {
    if (reduced[i]) {
      reduced_empty |= in.shape[i] == 0;
      reduced_count = std::min<u128>(reduced_count * static_cast<u128>(in.shape[i]),
                                     std::numeric_limits<std::uint64_t>::max());
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
            absl::StrCat(fn(), ": the result's shape holds more bytes than any object (dimension ",
                         i, " is ", in.shape[i], ")"));
      }
      result_size *= n;
    }
  } else {
    result_size = 0;
  }
  plan.result_size_ = result_size;
  plan.reduced_count_ = static_cast<std::size_t>(reduced_count);
  if (reduced_empty &&
      (reduction == Reduction::kMin || reduction == Reduction::kMax || is_arg(reduction))) {
    return absl::InvalidArgumentError(absl::StrCat(fn(), ": ", empty_reduction_message(reduction)));
  }
  if (count == 0 || result_size == 0) return absl::OkStatus();  // nothing to visit (execute())

  // The iteration, normalized (see the header).
  const char* base = static_cast<const char*>(in.data);
  auto push_merged = [](internal::DimSlots<Dim>& dims, std::size_t& n, Dim d) {
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
    std::array<Dim, kMaxDims> dims;  // [0, n) written
    std::size_t n = 0;
    for (std::size_t i = 0; i < ndim; ++i) {
      if (!reduced[i] || in.shape[i] == 1) continue;
      if (strides[i] == 0) {
        plan.multiplicity_ *= static_cast<std::uint64_t>(in.shape[i]);
        continue;
      }
      std::int64_t stride = strides[i];
      if (stride < 0) {
        // On the address, not the pointer: a view is checked against its own extent only, and
        // pointer arithmetic outside an object is undefined even when never dereferenced.
        base =
            reinterpret_cast<const char*>(reinterpret_cast<std::uintptr_t>(base) +
                                          static_cast<std::uintptr_t>((in.shape[i] - 1) * stride));
        stride = -stride;
      }
      dims[n++] = Dim{in.shape[i], stride};
    }
    // By stride, larger first, equal strides in axis order: an insertion sort, stable and with
    // no buffer (std::stable_sort takes one from the heap), over at most kMaxDims dims.
    for (std::size_t i = 1; i < n; ++i) {
      const Dim d = dims[i];
      std::size_t j = i;
      for (; j > 0 && dims[j - 1].stride < d.stride; --j) dims[j] = dims[j - 1];
      dims[j] = d;
    }
    for (std::size_t i = 0; i < n; ++i) push_merged(plan.reduced_, plan.nreduced_, dims[i]);
    for (std::size_t i = 0; i < plan.nreduced_; ++i) plan.index_step_[i] = 0;  // RunCursor's
  } else {
    std::int64_t step = 1;
    std::array<std::int64_t, kMaxDims> steps;  // those of the reduced dims written
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
  return absl::OkStatus();
}

class ReduceRunner {
 public:
  static internal::Geometry geometry(const ReducePlan& plan) {
    internal::Geometry g{};
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
    g.row_line_period = internal::kLineBytes;
    for (std::size_t k = 0; k < g.nred; ++k) {
      g.row_line_period =
          std::gcd(g.row_line_period, magnitude(g.red[k].stride) % internal::kLineBytes);
    }
    return g;
  }
};

namespace {

void store_number(char* at, DType dtype, int v) {
  switch (dtype) {
    case DType::kInt64:
      internal::store_as<std::int64_t>(at, v);
      return;
    case DType::kFloat32:
      internal::store_as<float>(at, static_cast<float>(v));
      return;
    case DType::kFloat64:
      internal::store_as<double>(at, v);
      return;
    case DType::kFloat16:
      internal::store_as<std::uint16_t>(at, fp16_ieee_from_fp32_value(static_cast<float>(v)));
      return;
    case DType::kBFloat16:
      internal::store_as<std::uint16_t>(at, internal::bf16_from_f32(static_cast<float>(v)));
      return;
    default:
      *at = v != 0 ? 1 : 0;
  }
}

// Results of a reduction over no element: sum 0, prod 1, mean NaN, var and std NaN (0 with a
// negative ddof), all true, any false (the plan refused min, max, argmin and argmax).
void fill_empty(const internal::Geometry& g, char* out) {
  for (std::size_t o = 0; o < g.result_size; ++o) {
    char* at = out + o * g.out_item;
    switch (g.reduction) {
      case Reduction::kSum:
      case Reduction::kAny:
      case Reduction::kCountNonzero:
        store_number(at, g.out_dtype, 0);
        break;
      case Reduction::kProd:
      case Reduction::kAll:
        store_number(at, g.out_dtype, 1);
        break;
      case Reduction::kMean:
      case Reduction::kVar:
      case Reduction::kStd: {
        // mean: 0 / 0. var and std: no squared deviation over max(0 - ddof, 0), which a
        // negative ddof makes 0, as numpy's.
        double v = std::numeric_limits<double>::quiet_NaN();
        if (g.reduction != Reduction::kMean && g.ddof < 0) v = 0.0;
        if (g.out_dtype == DType::kFloat64) {
          internal::store_as<double>(at, v);
        } else if (g.out_dtype == DType::kFloat32) {
          internal::store_as<float>(at, static_cast<float>(v));
        } else if (v == 0.0) {
          internal::store_as<std::uint16_t>(at, 0);
        } else {
          internal::store_as<std::uint16_t>(at, g.out_dtype == DType::kFloat16 ? 0x7e00 : 0x7fc0);
        }
        break;
      }
      case Reduction::kMin:
      case Reduction::kMax:
      case Reduction::kArgmin:
      case Reduction::kArgmax:
        break;  // refused by the plan: no identity
    }
  }
}

}  // namespace

std::size_t ReducePlan::scratch_bytes(const ParallelOptions& parallel) const {
  internal::Geometry g = ReduceRunner::geometry(*this);
  return internal::schedule(g, parallel).bytes();
}

void execute_into(const ReducePlan& plan, absl::FunctionRef<void*()> place,
                  std::pmr::memory_resource* scratch, const ParallelOptions& parallel) {
  execute_into(
      plan, place, [scratch](std::size_t, std::size_t) { return scratch; }, parallel);
}

void execute_into(const ReducePlan& plan, absl::FunctionRef<void*()> place,
                  absl::FunctionRef<std::pmr::memory_resource*(std::size_t, std::size_t)> scratch,
                  const ParallelOptions& parallel) {
  internal::Geometry g = ReduceRunner::geometry(plan);
  if (g.result_size == 0) {
    place();
    return;
  }
  if (g.reduced_count == 0) {
    fill_empty(g, static_cast<char*>(place()));
    return;
  }
  const internal::Schedule s = internal::schedule(g, parallel);
  // Taken before anything is written: when it throws, `place` was not called.
  std::pmr::memory_resource* resource = nullptr;
  if (s.bytes() != 0) {
    resource = scratch(s.bytes(), internal::ScratchBuffer<char>::kAlignment);
    if (resource == nullptr) resource = std::pmr::get_default_resource();
  }
  internal::ScratchBuffer<char> buffer(resource, s.bytes());
  internal::run_reduction(g, s, static_cast<char*>(place()), buffer.data());
  if (s.split()) internal::tbb_keep_workers_spinning(parallel.worker_spin);
}

void execute(const ReducePlan& plan, void* out, std::pmr::memory_resource* scratch,
             const ParallelOptions& parallel) {
  execute_into(
      plan, [out] { return out; }, scratch, parallel);
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
