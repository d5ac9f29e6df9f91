#include "corepy/tensor_dispatch.h"

#include <cstddef>

#include "absl/base/optimization.h"
#include "corepy/arena.h"
#include "corepy/dispatch.h"

namespace corepy {
namespace {

#define COREPY_CHECK_REDUCTION_OP(Id, name, value)                \
  static_assert(reduction_op(ops::Reduction::k##Id) == Op::k##Id, \
                "the op table's N-D rows are out of step with ops::Reduction");
COREPY_REDUCTIONS(COREPY_CHECK_REDUCTION_OP)
#undef COREPY_CHECK_REDUCTION_OP

// The dispatch with its scope open from the start: while the thread traces, logs or has work
// pending for its scopes. Out of line, so that the usual path saves fewer registers.
ABSL_ATTRIBUTE_NOINLINE void reduce_in_scope(const ops::ReducePlan& plan, void* out, Op op) {
  OpScope scope(op);
  // The N-D kernels take all their scratch, per thread slots included, from the one resource
  // they are given, in one allocation on the calling thread.
  ops::execute(plan, out, scope.resource(), scope.parallel_options());
}

}  // namespace

void reduce_into_cpu_dispatch(const ops::ReducePlan& plan, void* out) {
  const Op op = reduction_op(plan.reduction());
  // The kernel takes its scratch in one allocation on this thread, split or not, or none
  // (ReducePlan::scratch_bytes(), by shape class): the scope opens only for scratch.
  internal::ThreadStateRef ref;
  internal::ThreadState& t = *ref;
  if (ABSL_PREDICT_FALSE(!internal::scope_may_wait(t))) return reduce_in_scope(plan, out, op);
  internal::LazyOpScope scope(t, op);
  ops::execute_into(
      plan, [out] { return out; },
      [&scope](std::size_t bytes, std::size_t alignment) { return scope.open(bytes, alignment); },
      internal::op_parallel_options(t));
}

absl::StatusOr<ops::Tensor> reduce_cpu_dispatch(ops::Reduction reduction,
                                                const ops::TensorView& input,
                                                const ops::ReduceOptions& options,
                                                std::pmr::memory_resource* result) {
  absl::StatusOr<ops::ReducePlan> plan = ops::ReducePlan::make(reduction, input, options);
  if (!plan.ok()) return plan.status();
  ops::Tensor out(plan->result_dtype(), plan->result_shape(), result);
  reduce_into_cpu_dispatch(*plan, out.data());
  return out;
}

}  // namespace corepy
