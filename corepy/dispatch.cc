#include "corepy/dispatch.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <stdexcept>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "corepy/config.h"
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

// Inside the op's `scope`. Inline, and reading only the thread's state: a dispatch whose input
// is too small to split pays for two stores and a load here.
template <Op kOp>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline ops::ParallelOptions parallel_options(const OpScope& scope) {
  ops::ParallelOptions options = scope.parallel_options();
  options.per_thread_scratch = &thread_scratch<kOp>;
  options.scratch_context = scope.thread_state().config;
  return options;
}

// `entry` is the entry point's qualified name, for error messages. Out of line and cold, so the
// check itself stays two instructions in the dispatch.
ABSL_ATTRIBUTE_NOINLINE ABSL_ATTRIBUTE_COLD void throw_null_data(const char* entry,
                                                                 std::size_t count) {
  throw std::invalid_argument(absl::StrCat(entry, ": data is null but count is ", count));
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void check_data(const char* entry, const void* data,
                                                    std::size_t count) {
  if (ABSL_PREDICT_FALSE(data == nullptr && count != 0)) throw_null_data(entry, count);
}

// Runs the op's ops entry on the span inside the op's scope. An op whose kernel takes no scratch
// on its serial path (kSerialScratch false, its op table row) opens no scope for an input below
// ops::kParallelMinBytes when the thread's scopes are on their inline path (scope_arena set: no
// trace, no configuration change or request pending) and logging is off: it would have nothing
// to rewind and nothing to report but the call, which it counts. Anything else takes the scope.
template <Op kOp, bool kSerialScratch, class T, class Kernel>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline auto dispatch_span(const char* entry, const T* data,
                                                       std::size_t count, Kernel kernel) {
  check_data(entry, data, count);
  const absl::Span<const T> x(data, count);
  if constexpr (!kSerialScratch) {
    internal::ThreadStateRef ref;
    internal::ThreadState& t = *ref;
    if (ABSL_PREDICT_TRUE(count < ops::kParallelMinBytes / sizeof(T) &&
                          internal::scope_may_wait(t))) {
      const auto result = kernel(x, nullptr, ops::ParallelOptions());
      internal::count_call(t, kOp);
      return result;
    }
  }
  OpScope scope(kOp);
  return kernel(x, scope.resource(), parallel_options<kOp>(scope));
}

// Checks the shape (once: the ops entry takes the checked view), makes the result vector on
// `result` with room for every result before the op's scope opens (so even the thread's own
// arena, which the scope rewinds, can hold it), then runs the op's ops entry, which writes the
// results into that vector.
template <Op kOp, int kAxis, class T, class R, class Kernel>
std::pmr::vector<R> dispatch_matrix(const char* entry, const T* data, std::size_t rows,
                                    std::size_t cols, std::pmr::memory_resource* result,
                                    Kernel kernel) {
  absl::StatusOr<ops::MatrixView<T>> x = ops::MatrixView<T>::make(entry, data, rows, cols);
  if (!x.ok()) throw std::invalid_argument(std::string(x.status().message()));
  std::pmr::vector<R> out(result != nullptr ? result : std::pmr::get_default_resource());
  out.reserve(kAxis == 1 ? rows : cols);
  OpScope scope(kOp);
  kernel(*x, out, scope.resource(), parallel_options<kOp>(scope));
  return out;
}

}  // namespace

void OpScope::log(Op op, const ArenaResource& arena, std::size_t peak, std::size_t spills) {
  std::fprintf(stderr, "[arena] %s used=%zu cap=%zu peak=%zu spills=%zu\n",
               std::string(op_name(op)).c_str(), arena.used(), arena.capacity(), peak, spills);
}

#define COREPY_DEFINE_SPAN_DISPATCH(Id, name, Input, Result, kernel, serial_scratch)      \
  Result name##_cpu_dispatch(const Input* data, std::size_t count) {                      \
    return dispatch_span<Op::k##Id, serial_scratch>(                                      \
        "corepy::" #name "_cpu_dispatch", data, count,                                    \
        [](absl::Span<const Input> x, std::pmr::memory_resource* scratch,                 \
           const ops::ParallelOptions& options) { return kernel(x, scratch, options); }); \
  }
COREPY_SPAN_OPS(COREPY_DEFINE_SPAN_DISPATCH)
#undef COREPY_DEFINE_SPAN_DISPATCH

#define COREPY_DEFINE_MATRIX_DISPATCH(Id, name, Input, Result, kernel, axis)                      \
  std::pmr::vector<Result> name##_cpu_dispatch(                                                   \
      const Input* data, std::size_t rows, std::size_t cols, std::pmr::memory_resource* result) { \
    return dispatch_matrix<Op::k##Id, axis, Input, Result>(                                       \
        "corepy::" #name "_cpu_dispatch", data, rows, cols, result,                               \
        [](const ops::MatrixView<Input>& x, std::pmr::vector<Result>& out,                        \
           std::pmr::memory_resource* scratch,                                                    \
           const ops::ParallelOptions& options) { kernel(x, out, scratch, options); });           \
  }
COREPY_MATRIX_OPS(COREPY_DEFINE_MATRIX_DISPATCH)
#undef COREPY_DEFINE_MATRIX_DISPATCH

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

ThreadOpRegion::ThreadOpRegion() : at_entry_(internal::open_op_region()) {}

ThreadOpRegion::~ThreadOpRegion() { internal::close_op_region(at_entry_); }

std::vector<OpStats> ThreadOpRegion::stats() const {
  const Settings s = settings();
  const std::array<internal::OpTotals, kOpCount> now = internal::thread_op_counts();
  std::vector<OpStats> out;
  for (std::size_t i = 0; i < kOpCount; ++i) {
    // Counters restart at 0 when reset_op_stats() runs inside the region.
    const std::uint64_t calls =
        now[i].calls >= at_entry_[i].calls ? now[i].calls - at_entry_[i].calls : now[i].calls;
    const std::uint64_t spills =
        now[i].spills >= at_entry_[i].spills ? now[i].spills - at_entry_[i].spills : now[i].spills;
    out.push_back(
        OpStats{std::string(kOpNames[i]), calls, now[i].peak, spills, s.op_arena_sizes[i]});
  }
  return out;
}

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
