#include "corepy/dispatch.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <stdexcept>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "corepy/config.h"
#include "ops/internal/matrix_args.h"
#include "ops/parallel_reduce.h"
#include "ops/reduce.h"

namespace corepy {
namespace {

// The scratch of `kOp` on whichever thread runs part of it: the calling thread, inside the op's
// scope, or a oneTBB worker taking a task of the op's parallel kernel. `caller_config` is the
// calling thread's configuration, which its scope keeps alive.
template <Op kOp>
std::pmr::memory_resource* thread_scratch(const void* caller_config) {
  return internal::op_resource_outside_scope(kOp,
                                             static_cast<const internal::Resolved*>(caller_config));
}

// Called inside the op's scope.
template <Op kOp>
ops::ParallelOptions parallel_options() {
  ops::ParallelOptions options;
  options.per_thread_scratch = &thread_scratch<kOp>;
  options.scratch_context = internal::current_config();
  // After the thread's corepy state was destroyed (an op from a static destructor or an atexit
  // handler), oneTBB may be shutting down too: stay on this thread.
  if (internal::tls_state.exited) options.min_parallel_bytes = ~std::size_t{0};
  return options;
}

// `entry` is the entry point's qualified name, for error messages.
void check_data(const char* entry, const void* data, std::size_t count) {
  if (data == nullptr && count != 0) {
    throw std::invalid_argument(absl::StrCat(entry, ": data is null but count is ", count));
  }
}

// Runs kernel(span, options) inside the op's scope.
template <Op kOp, class T, class Kernel>
auto dispatch(const char* entry, const T* data, std::size_t count, Kernel kernel) {
  check_data(entry, data, count);
  OpScope scope(kOp);
  return kernel(absl::Span<const T>(data, count), parallel_options<kOp>());
}

// Runs kernel(data, rows, cols, axis, resource, options) inside the op's scope, its result on
// the op's scratch, and copies that into a vector on `result`. The copy (rows or cols floats,
// against rows * cols read) is what lets `result` be any resource: the vector is made before
// the scope opens, so even the thread's own arena, which the scope rewinds, can hold it.
template <Op kOp, class Kernel>
std::pmr::vector<float> dispatch_matrix(const char* entry, const float* data, std::size_t rows,
                                        std::size_t cols, int axis,
                                        std::pmr::memory_resource* result, Kernel kernel) {
  if (absl::Status s = ops::internal::check_matrix(entry, data, rows, cols, axis, sizeof(float));
      !s.ok()) {
    throw std::invalid_argument(std::string(s.message()));
  }
  std::pmr::vector<float> out(result != nullptr ? result : std::pmr::get_default_resource());
  out.reserve(axis == 0 ? cols : rows);
  OpScope scope(kOp);
  absl::StatusOr<std::pmr::vector<float>> sums =
      kernel(data, rows, cols, axis, scope.resource(), parallel_options<kOp>());
  if (!sums.ok()) throw std::invalid_argument(std::string(sums.status().message()));
  out.assign(sums->begin(), sums->end());
  return out;
}

}  // namespace

void OpScope::log(std::size_t peak, std::size_t spills) const {
  std::fprintf(stderr, "[arena] %s used=%zu cap=%zu peak=%zu spills=%zu\n",
               std::string(op_name(op_)).c_str(), arena_->used(), arena_->capacity(), peak, spills);
}

float sum_f32_cpu_dispatch(const float* data, std::size_t count) {
  return dispatch<Op::kSumF32>("corepy::sum_f32_cpu_dispatch", data, count, ops::sum_f32_parallel);
}

std::int64_t sum_i32_cpu_dispatch(const std::int32_t* data, std::size_t count) {
  return dispatch<Op::kSumI32>("corepy::sum_i32_cpu_dispatch", data, count, ops::sum_i32_parallel);
}

float mean_f32_cpu_dispatch(const float* data, std::size_t count) {
  return dispatch<Op::kMeanF32>("corepy::mean_f32_cpu_dispatch", data, count,
                                ops::mean_f32_parallel);
}

bool all_bool_cpu_dispatch(const bool* data, std::size_t count) {
  return dispatch<Op::kAllBool>("corepy::all_bool_cpu_dispatch", data, count,
                                ops::all_bool_parallel);
}

bool any_bool_cpu_dispatch(const bool* data, std::size_t count) {
  return dispatch<Op::kAnyBool>("corepy::any_bool_cpu_dispatch", data, count,
                                ops::any_bool_parallel);
}

float sum_f32_compensated_cpu_dispatch(const float* data, std::size_t count) {
  return dispatch<Op::kSumF32Compensated>("corepy::sum_f32_compensated_cpu_dispatch", data, count,
                                          ops::sum_f32_compensated_parallel);
}

float mean_f32_compensated_cpu_dispatch(const float* data, std::size_t count) {
  return dispatch<Op::kMeanF32Compensated>("corepy::mean_f32_compensated_cpu_dispatch", data, count,
                                           ops::mean_f32_compensated_parallel);
}

std::pmr::vector<float> sum_rows_f32_cpu_dispatch(const float* data, std::size_t rows,
                                                  std::size_t cols,
                                                  std::pmr::memory_resource* result) {
  return dispatch_matrix<Op::kSumRowsF32>("corepy::sum_rows_f32_cpu_dispatch", data, rows, cols, 1,
                                          result, ops::sum_f32_axis_parallel);
}

std::pmr::vector<float> sum_cols_f32_cpu_dispatch(const float* data, std::size_t rows,
                                                  std::size_t cols,
                                                  std::pmr::memory_resource* result) {
  return dispatch_matrix<Op::kSumColsF32>("corepy::sum_cols_f32_cpu_dispatch", data, rows, cols, 0,
                                          result, ops::sum_f32_axis_parallel);
}

std::pmr::vector<float> mean_rows_f32_cpu_dispatch(const float* data, std::size_t rows,
                                                   std::size_t cols,
                                                   std::pmr::memory_resource* result) {
  return dispatch_matrix<Op::kMeanRowsF32>("corepy::mean_rows_f32_cpu_dispatch", data, rows, cols,
                                           1, result, ops::mean_f32_axis_parallel);
}

std::pmr::vector<float> mean_cols_f32_cpu_dispatch(const float* data, std::size_t rows,
                                                   std::size_t cols,
                                                   std::pmr::memory_resource* result) {
  return dispatch_matrix<Op::kMeanColsF32>("corepy::mean_cols_f32_cpu_dispatch", data, rows, cols,
                                           0, result, ops::mean_f32_axis_parallel);
}

std::vector<OpStats> op_stats() {
  const Settings s = settings();
  const std::array<internal::OpTotals, kOpCount> totals = internal::op_totals();
  std::vector<OpStats> out;
  for (std::size_t i = 0; i < kOpCount; ++i) {
    out.push_back(OpStats{std::string(kOpNames[i]), totals[i].calls, totals[i].peak,
                          totals[i].spills, s.op_arena_sizes[i]});
  }
  return out;
}

void reset_op_stats() { internal::reset_op_totals(); }

std::string op_stats_table() {
  std::string out = absl::StrFormat("%-20s %12s %14s %8s %12s\n", "op", "calls", "peak_scratch",
                                    "spills", "arena_size");
  for (const OpStats& s : op_stats()) {
    absl::StrAppendFormat(&out, "%-20s %12u %14u %8u %12u\n", s.name, s.calls, s.peak_scratch,
                          s.spills, s.arena_size);
  }
  return out;
}

std::string op_stats_json() {
  std::string out = "[";
  const char* sep = "";
  for (const OpStats& s : op_stats()) {
    absl::StrAppendFormat(&out,
                          "%s{\"op\":\"%s\",\"calls\":%u,\"peak_scratch\":%u,\"spills\":%u,"
                          "\"arena_size\":%u}",
                          sep, s.name, s.calls, s.peak_scratch, s.spills, s.arena_size);
    sep = ",";
  }
  return out + "]";
}

}  // namespace corepy
