// N-D reductions with numpy 1.24's semantics: sum, prod, mean, var, std, min, max, argmin,
// argmax, all and any of a strided view (ops/tensor.h), over any set of axes, in float32,
// float64, int32, int64, bool, float16 and bfloat16.
//
//   corepy::ops::ReduceOptions options;
//   const std::int64_t axes[] = {0, 2};
//   options.axes = axes;                       // numpy's axis=(0, 2)
//   absl::StatusOr<corepy::ops::Tensor> sums =
//       corepy::ops::reduce(corepy::ops::Reduction::kSum, x, options, result, scratch);
//
// ## Semantics (numpy 1.24 is the oracle)
// - Axes: any subset, negative ones counting from the end; `all_axes` (the default) is numpy's
//   axis=None. A repeated or out-of-range axis is an error naming it. argmin and argmax take
//   one axis or all; their index counts in C order over the reduced axes.
// - Result dtypes: sum and prod of bool, int32 and int64 give int64 (wrapping as numpy's
//   do); of floats, the input's dtype (float16 and bfloat16 accumulate in float32). mean, var
//   and std of integers and bool give float64, of floats the input's dtype. min and max keep
//   the dtype; argmin and argmax give int64; all and any give bool.
// - Empty reductions: sum 0, prod 1, mean NaN, var and std NaN (0 when ddof < 0: no squared
//   deviation over max(0 - ddof, 0)); min, max, argmin and argmax are an
//   error naming the op ("zero-size array to reduction operation minimum which has no
//   identity"). var and std divide by max(n - ddof, 0), as numpy does.
// - NaN: min and max propagate it; argmin and argmax give the first NaN's index. all and any
//   count NaN as true and -0.0 as false.
// - Accuracy: float sums are pairwise along every axis over leaves of at most 16 sequential
//   additions (numpy's are pairwise only along the contiguous axis, over leaves of 16, and
//   sequential along the others); mean divides that sum; var and std accumulate in float64 over two
//   passes; float products accumulate in float64. Integer results are exact (modulo 2^64).
// - Zero strides: a broadcast reduced dimension of size k is not visited k times: sums are
//   multiplied by k, products raised to the k-th power, the others need one visit. So the work
//   is proportional to the memory the view spans and the result, not to its broadcast size.
//
// ## Memory
// The result is built on the caller's resource (reduce()) or written into the caller's buffer
// (execute()). Scratch comes from the scratch resource: exactly ReducePlan::scratch_bytes()
// bytes, in one allocation taken before anything is written (none when that is 0), given back
// before the call returns. Nothing else is allocated, on any resource: the default resource is
// never touched. The README's "Scratch by shape class" lists what each class needs.
//
// ## Parallel
// Above ParallelOptions::min_parallel_bytes of input, the outputs are split over oneTBB's
// threads (or the reduced elements, when there are too few outputs), each thread using its own
// slice of the scratch. Results are the same bit for bit for any thread count.
#ifndef COREPY_OPS_REDUCE_TENSOR_H_
#define COREPY_OPS_REDUCE_TENSOR_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <optional>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "corepy/internal/require_cxx17.h"
#include "ops/parallel_options.h"
#include "ops/reductions.h"
#include "ops/tensor.h"

namespace corepy::ops {

// The rows of ops/reductions.h, with their C ABI values.
enum class Reduction : std::int32_t {
#define COREPY_REDUCTION_ENUMERATOR(Id, name, value) k##Id = value,
  COREPY_REDUCTIONS(COREPY_REDUCTION_ENUMERATOR)
#undef COREPY_REDUCTION_ENUMERATOR
};

std::optional<Reduction> reduction_from_int(std::int32_t value);
absl::string_view reduction_name(Reduction reduction);

struct ReduceOptions {
  bool all_axes = true;                 // numpy's axis=None; then `axes` is ignored
  absl::Span<const std::int64_t> axes;  // used when !all_axes; empty is numpy's axis=()
  bool keepdims = false;
  std::int64_t ddof = 0;  // var and std only
};

// A validated reduction: what it computes, into what, with how much scratch. Cheap to make
// (no allocation); holds no pointer to the caller's option arrays, only to the input's data.
class ReducePlan {
 public:
  // Checks everything execute() relies on, and returns absl::InvalidArgumentError naming the
  // problem: null data with a nonzero size, more than kMaxDims dims, a negative dim, a shape
  // whose element count or byte extent does not fit in an object, a repeated or out-of-range
  // axis, more than one axis for argmin/argmax, a negative ddof, an empty reduction for
  // min/max/argmin/argmax.
  static absl::StatusOr<ReducePlan> make(Reduction reduction, const TensorView& input,
                                         const ReduceOptions& options);

  Reduction reduction() const { return reduction_; }
  DType input_dtype() const { return input_dtype_; }
  DType result_dtype() const { return result_dtype_; }
  absl::Span<const std::int64_t> result_shape() const {
    return {result_shape_.data(), result_ndim_};
  }
  std::size_t result_size() const { return result_size_; }  // elements
  std::size_t result_bytes() const { return result_size_ * dtype_size(result_dtype_); }
  std::size_t reduced_count() const { return reduced_count_; }  // elements per result
  // The scratch execute() takes with these options, in bytes (one allocation).
  std::size_t scratch_bytes(const ParallelOptions& parallel = {}) const;

  // One dimension of the normalized iteration: its extent and its stride in bytes.
  struct Dim {
    std::int64_t size;
    std::int64_t stride;
  };

  // make()'s: the constructor absl::StatusOr's in-place form calls, so that the plan is built
  // where make() returns it rather than copied there (it is about 1.5 KB).
  class Key {
    Key() {}
    friend class ReducePlan;
  };
  explicit ReducePlan(Key /*key*/) {}

 private:
  friend class ReduceRunner;
  // make()'s work, on a plan made in place.
  absl::Status build(Reduction reduction, const TensorView& in, const ReduceOptions& options);

  Reduction reduction_{};
  DType input_dtype_{};
  DType result_dtype_{};
  internal::DimSlots<std::int64_t> result_shape_;
  std::size_t result_ndim_ = 0;
  std::size_t result_size_ = 0;
  std::size_t reduced_count_ = 0;  // as numpy counts it: broadcast dims included
  std::int64_t ddof_ = 0;
  const char* base_ = nullptr;  // element (0, ..., 0) after the normalization below
  // The iteration, normalized: dims of size 1 dropped, neighbours merged where memory allows,
  // kept dims in the result's C order, reduced dims innermost last. For reductions whose order
  // does not matter (all but argmin/argmax), reduced dims have positive strides, sorted with the
  // smallest innermost, and broadcast ones are folded into `multiplicity_`.
  internal::DimSlots<Dim> kept_;
  std::size_t nkept_ = 0;
  internal::DimSlots<Dim> reduced_;
  std::size_t nreduced_ = 0;
  // argmin/argmax: for each reduced dim, the step of the C-order index over the reduced axes
  // (broadcast dims keep their place, at index 0); 0 for the other reductions.
  internal::DimSlots<std::int64_t> index_step_;
  std::uint64_t multiplicity_ = 1;  // how many times the visited elements stand for each
};

// Computes `plan` into `out`, which holds plan.result_bytes() bytes (C order, aligned for the
// result dtype). The scratch (plan.scratch_bytes(parallel)) comes from `scratch` (null: the
// default resource) before anything is written: when the resource throws, `out` is untouched
// and the exception propagates.
void execute(const ReducePlan& plan, void* out, std::pmr::memory_resource* scratch,
             const ParallelOptions& parallel = {});

// execute(), for a caller that makes room for the results only once the scratch is held (to
// leave its output untouched when the scratch cannot be had): `place` is called once, after the
// scratch allocation succeeded, and returns where the plan.result_bytes() of results go. When the
// scratch resource throws, `place` is not called.
void execute_into(const ReducePlan& plan, absl::FunctionRef<void*()> place,
                  std::pmr::memory_resource* scratch, const ParallelOptions& parallel = {});

// execute_into(), for a caller that finds the scratch resource only when the plan takes scratch:
// `scratch` is called once, on the calling thread, before the scratch is allocated and before
// `place`, and only when plan.scratch_bytes(parallel) is not 0 (a dispatch opens its op's scope
// there: a call without scratch then opens none). It is told the size and alignment of the one
// allocation the kernel then makes from the resource it returns (null: the default), and gives
// back before returning, with nothing allocated from it in between.
void execute_into(
    const ReducePlan& plan, absl::FunctionRef<void*()> place,
    absl::FunctionRef<std::pmr::memory_resource*(std::size_t bytes, std::size_t alignment)> scratch,
    const ParallelOptions& parallel = {});

// Plans, builds the result on `result` (null: the default resource) and computes it. The
// scratch comes from `scratch` (null: `result`). Bad input is an InvalidArgumentError naming it;
// a resource that cannot serve throws.
absl::StatusOr<Tensor> reduce(Reduction reduction, const TensorView& input,
                              const ReduceOptions& options,
                              std::pmr::memory_resource* result = std::pmr::get_default_resource(),
                              std::pmr::memory_resource* scratch = nullptr,
                              const ParallelOptions& parallel = {});

}  // namespace corepy::ops

#endif  // COREPY_OPS_REDUCE_TENSOR_H_
