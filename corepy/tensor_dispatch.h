// Dispatch of the N-D reductions (ops/reduce_tensor.h): each runs in the scope of its op (named
// as the reduction: "sum", "prod", ..., "any"), with that op's configured scratch resource,
// counted in the per-op stats, and logged with COREPY_LOG=debug, as every dispatch is
// (corepy/dispatch.h). The scope opens only when the plan takes scratch (ReducePlan::
// scratch_bytes(), the README's "Scratch by shape class"): a reduction without scratch (along
// contiguous runs, all of a contiguous array, integer sums, min, max, ...) runs its kernel and
// counts the call, unless the thread traces, logs or has a configuration change pending, when
// every dispatch takes its scope.
//
//   corepy::ops::ReduceOptions options;  // axis=None
//   absl::StatusOr<corepy::ops::Tensor> total =
//       corepy::reduce_cpu_dispatch(corepy::ops::Reduction::kSum, view, options);
//
// Bad input is an absl::InvalidArgumentError naming it (the plan's checks); a resource that
// cannot serve throws std::bad_alloc, and the scope gives back every byte of scratch.
#ifndef COREPY_COREPY_TENSOR_DISPATCH_H_
#define COREPY_COREPY_TENSOR_DISPATCH_H_

#include <memory_resource>

#include "absl/status/statusor.h"
#include "corepy/internal/require_cxx17.h"
#include "corepy/op_table.h"
#include "ops/reduce_tensor.h"
#include "ops/tensor.h"

namespace corepy {

// The op that counts a reduction.
constexpr Op reduction_op(ops::Reduction reduction) {
  return static_cast<Op>(static_cast<int>(Op::kSum) + static_cast<int>(reduction) - 1);
}

// Plans, builds the result on `result` (null: the default resource) before the scope opens (so
// the thread's own arena may hold it), and computes it with the op's scratch.
absl::StatusOr<ops::Tensor> reduce_cpu_dispatch(
    ops::Reduction reduction, const ops::TensorView& input, const ops::ReduceOptions& options,
    std::pmr::memory_resource* result = std::pmr::get_default_resource());

// Computes a plan the caller made (and so checked) into `out`, which holds plan.result_bytes():
// the C ABI's corepy_reduce writes straight into its caller's buffer this way. On a throw
// (std::bad_alloc), `out` is untouched.
void reduce_into_cpu_dispatch(const ops::ReducePlan& plan, void* out);

}  // namespace corepy

#endif  // COREPY_COREPY_TENSOR_DISPATCH_H_
