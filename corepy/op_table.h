// The ops the runtime dispatches, in one table: each row gives an op its id (enum Op), its name
// (configuration and stats use it: COREPY_OP_ARENA_SIZES="sum_f32=64KiB", op_stats_table()),
// its per-op stats row, its dispatch entry point (corepy/dispatch.h) and its C ABI wrapper
// (corepy/c_api.cc). Nothing else lists the ops.
//
// The table is X-macros, one per group of rows with the same shape of entry point; every row
// starts (Id, name, ...):
//
//   COREPY_SPAN_OPS(X)    X(Id, name, Input, Result, kernel, serial_scratch)
//       Result name_cpu_dispatch(const Input* data, size_t count);
//       int corepy_name(const Input* data, size_t count, Result* out);
//       kernel(absl::Span<const Input>, scratch, const ops::ParallelOptions&) -> Result
//       serial_scratch: whether the kernel takes scratch on its serial path (below
//       ops::kParallelMinBytes). false lets the dispatch skip the scope there: it would have
//       nothing to rewind (corepy/dispatch.cc; tests/corepy/op_table_test.cc checks the claim).
//   COREPY_REDUCTIONS(X)  X(Id, name, C ABI value)   (ops/reductions.h)
//       the N-D reductions, all served by reduce_cpu_dispatch() (corepy/tensor_dispatch.h)
//       and corepy_reduce(op = COREPY_REDUCE_*); the row's op counts each call
//   COREPY_MATRIX_OPS(X)  X(Id, name, Input, Result, kernel, axis)
//       std::pmr::vector<Result> name_cpu_dispatch(const Input* data, size_t rows, size_t cols,
//                                                  std::pmr::memory_resource* result);
//       int corepy_name(const Input* data, size_t rows, size_t cols, Result* out);
//       kernel(const ops::MatrixView<Input>&, std::pmr::vector<Result>&, scratch,
//              const ops::ParallelOptions&); axis 1: one result per row, 0: one per column
//
// To add an op to a group: add its row there, its kernel in ops/, and (for the C ABI) its
// declaration in corepy/c_api.h, which c_api.cc checks at compile time. To add a group of rows
// (the N-D reductions, say): define COREPY_<GROUP>_OPS(X) below with rows that start
// (Id, name, ...), append it to COREPY_OP_TABLE, and generate the group's entry points from it in
// dispatch.h/.cc (and c_api.cc). The enum, kOpCount, the names, op_by_name, per-op stats and
// arena sizes, and op_stats_table()/op_stats_json() follow from COREPY_OP_TABLE by themselves.
// Rows are numbered in table order; appending keeps every existing op's number.
#ifndef COREPY_COREPY_OP_TABLE_H_
#define COREPY_COREPY_OP_TABLE_H_

#include <array>
#include <cstddef>
#include <optional>

#include "absl/strings/string_view.h"
#include "corepy/internal/require_cxx17.h"
#include "ops/reductions.h"

// clang-format off
#define COREPY_SPAN_OPS(X)                                                                       \
  X(SumF32,             sum_f32,             float,        float,        ::corepy::ops::sum_f32,  \
    false)                                                                                       \
  X(SumI32,             sum_i32,             std::int32_t, std::int64_t, ::corepy::ops::sum_i32,  \
    false)                                                                                       \
  X(MeanF32,            mean_f32,            float,        float,        ::corepy::ops::mean_f32, \
    false)                                                                                       \
  X(AllBool,            all_bool,            bool,         bool,         ::corepy::ops::all_bool, \
    false)                                                                                       \
  X(AnyBool,            any_bool,            bool,         bool,         ::corepy::ops::any_bool, \
    false)                                                                                       \
  X(SumF32Compensated,  sum_f32_compensated, float,        float,                                \
    ::corepy::ops::sum_f32_compensated, true)                                                    \
  X(MeanF32Compensated, mean_f32_compensated, float,       float,                                \
    ::corepy::ops::mean_f32_compensated, true)

#define COREPY_MATRIX_OPS(X)                                                           \
  X(SumRowsF32,  sum_rows_f32,  float, float, ::corepy::ops::sum_rows_f32,  1)         \
  X(SumColsF32,  sum_cols_f32,  float, float, ::corepy::ops::sum_cols_f32,  0)         \
  X(MeanRowsF32, mean_rows_f32, float, float, ::corepy::ops::mean_rows_f32, 1)         \
  X(MeanColsF32, mean_cols_f32, float, float, ::corepy::ops::mean_cols_f32, 0)

// Every group, in enum order.
#define COREPY_OP_TABLE(X) \
  COREPY_SPAN_OPS(X)       \
  COREPY_MATRIX_OPS(X)     \
  COREPY_REDUCTIONS(X)
// clang-format on

namespace corepy {

#define COREPY_OP_ENUMERATOR(Id, name, ...) k##Id,
enum class Op : int { COREPY_OP_TABLE(COREPY_OP_ENUMERATOR) };
#undef COREPY_OP_ENUMERATOR

#define COREPY_OP_ONE(...) +1
inline constexpr std::size_t kOpCount = 0 COREPY_OP_TABLE(COREPY_OP_ONE);
#undef COREPY_OP_ONE

#define COREPY_OP_NAME(Id, name, ...) #name,
inline constexpr std::array<absl::string_view, kOpCount> kOpNames = {
    COREPY_OP_TABLE(COREPY_OP_NAME)};
#undef COREPY_OP_NAME

constexpr absl::string_view op_name(Op op) { return kOpNames[static_cast<std::size_t>(op)]; }

inline std::optional<Op> op_by_name(absl::string_view name) {
  for (std::size_t i = 0; i < kOpCount; ++i) {
    if (kOpNames[i] == name) return static_cast<Op>(i);
  }
  return std::nullopt;
}

namespace internal {
constexpr bool same_text(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}
constexpr bool op_names_unique() {
  for (std::size_t i = 0; i < kOpCount; ++i) {
    for (std::size_t j = i + 1; j < kOpCount; ++j) {
      if (same_text(kOpNames[i], kOpNames[j])) return false;
    }
  }
  return true;
}
}  // namespace internal

// A configuration names an op by its name: two rows with one name would share it.
static_assert(internal::op_names_unique(), "two rows of COREPY_OP_TABLE have the same name");

}  // namespace corepy

#endif  // COREPY_COREPY_OP_TABLE_H_
