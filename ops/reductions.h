// The N-D reductions, one row each: the list that ops::Reduction (ops/reduce_tensor.h), the
// runtime's op table (corepy/op_table.h: per-op stats, configuration, dispatch) and the C ABI's
// COREPY_REDUCE_* values (corepy/c_api.h, checked against it) all come from.
//
//   X(Id, name, C ABI value)
//
// To add a reduction: its row here, its result dtype in reduce_tensor.cc, its kernel in
// internal/tensor_kernels.cc, and its COREPY_REDUCE_* value in corepy/c_api.h.
#ifndef COREPY_OPS_REDUCTIONS_H_
#define COREPY_OPS_REDUCTIONS_H_

#include "corepy/internal/require_cxx17.h"

// clang-format off
#define COREPY_REDUCTIONS(X) \
  X(Sum,    sum,    1)       \
  X(Prod,   prod,   2)       \
  X(Mean,   mean,   3)       \
  X(Var,    var,    4)       \
  X(Std,    std,    5)       \
  X(Min,    min,    6)       \
  X(Max,    max,    7)       \
  X(Argmin, argmin, 8)       \
  X(Argmax, argmax, 9)       \
  X(All,    all,    10)      \
  X(Any,    any,    11)       \
  X(CountNonzero, count_nonzero, 12)
// clang-format on

#endif  // COREPY_OPS_REDUCTIONS_H_
