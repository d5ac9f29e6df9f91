// Op dispatch: the entry points of the original design. Each runs its kernel from ops/ inside an
// arena scope sized for that op, hands the kernel the configured resource, and records per-op
// stats (calls, peak scratch, spills), readable as a table or as JSON. With COREPY_LOG=debug
// each dispatch prints one line:
//
//   [arena] sum_f32 used=0 cap=1048576 peak=0 spills=0
//
// (the op's arena at the end of the op, before the rewind; peak and spills are this call's).
// Logging off costs one predictable branch.
//
// Memory: each entry point hands its kernel the op's configured resource (corepy/registry.h:
// the thread's arena by default, or what COREPY_ALLOCATOR names) as scratch. Inputs of
// ops::kParallelMinBytes and more are reduced by the oneTBB kernels of ops/parallel_reduce.h,
// each worker thread taking its scratch from its own thread's resource for that op, with no
// lock shared between threads; the result is bit for bit the serial one. Workers are those of
// the caller's current tbb::task_arena: run a dispatch inside a tbb::task_arena(1) to keep it
// on the calling thread. Per-op peak scratch counts the calling thread's arena.
//
// Null data with a nonzero count, and a matrix shape no array can hold, throw
// std::invalid_argument naming the entry point. A resource that cannot serve throws
// std::bad_alloc (corepy::AllocationError); the scope gives back everything the op took.
#ifndef COREPY_COREPY_DISPATCH_H_
#define COREPY_COREPY_DISPATCH_H_

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <optional>
#include <string>
#include <vector>

#include "allocators/arena_resource.h"
#include "corepy/arena.h"
#include "corepy/op_table.h"

namespace corepy {

float sum_f32_cpu_dispatch(const float* data, std::size_t count);
std::int64_t sum_i32_cpu_dispatch(const std::int32_t* data, std::size_t count);
float mean_f32_cpu_dispatch(const float* data, std::size_t count);
bool all_bool_cpu_dispatch(const bool* data, std::size_t count);
bool any_bool_cpu_dispatch(const bool* data, std::size_t count);

// Kahan-Neumaier compensated sum and mean (ops/reduce.h), lane terms in the op's scratch.
float sum_f32_compensated_cpu_dispatch(const float* data, std::size_t count);
float mean_f32_compensated_cpu_dispatch(const float* data, std::size_t count);

// Reductions of the rows x cols row-major matrix at `data`: one result per row (rows results,
// numpy's axis=1) or per column (cols results, axis=0). The result is built on `result` (null:
// the default resource), which may be any resource, the thread's arena included; the kernel's
// scratch comes from the op's configured resource and is given back before return.
std::pmr::vector<float> sum_rows_f32_cpu_dispatch(
    const float* data, std::size_t rows, std::size_t cols,
    std::pmr::memory_resource* result = std::pmr::get_default_resource());
std::pmr::vector<float> sum_cols_f32_cpu_dispatch(
    const float* data, std::size_t rows, std::size_t cols,
    std::pmr::memory_resource* result = std::pmr::get_default_resource());
std::pmr::vector<float> mean_rows_f32_cpu_dispatch(
    const float* data, std::size_t rows, std::size_t cols,
    std::pmr::memory_resource* result = std::pmr::get_default_resource());
std::pmr::vector<float> mean_cols_f32_cpu_dispatch(
    const float* data, std::size_t rows, std::size_t cols,
    std::pmr::memory_resource* result = std::pmr::get_default_resource());

// The scope every dispatch runs in, for code that dispatches kernels of its own under an op's
// name: the op's arena is marked on entry and rewound on exit, and the call is counted.
class OpScope {
 public:
  COREPY_ALWAYS_INLINE explicit OpScope(Op op) : op_(op) {
    const internal::OpScratch scratch = internal::op_scratch(op);
    arena_ = scratch.arena;
    resource_ = scratch.resource;
    if (arena_ != &thread_scope_.arena()) own_start_.emplace(arena_->open_frame());
    used_at_start_ = arena_->used();
    spills_at_start_ = arena_->overflow_count();
    spill_bytes_at_start_ = arena_->overflow_bytes_total();
  }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;
  COREPY_ALWAYS_INLINE ~OpScope() {
    const std::size_t peak = (arena_->window_peak() - used_at_start_) +
                             (arena_->overflow_bytes_total() - spill_bytes_at_start_);
    const std::size_t spills = arena_->overflow_count() - spills_at_start_;
    internal::record_op(op_, peak, spills);
    if (__builtin_expect(internal::debug_log_enabled(), 0)) log(peak, spills);
    if (own_start_) arena_->close_frame(*own_start_);
  }

  std::pmr::memory_resource* resource() const { return resource_; }
  ArenaResource& arena() const { return *arena_; }

 private:
  void log(std::size_t peak, std::size_t spills) const;

  Op op_;
  ArenaScope thread_scope_;  // the thread's arena: keeps the runtime current, and rewinds it
  ArenaResource* arena_;
  std::pmr::memory_resource* resource_;
  // When the op has an arena of its own: where it was, to rewind it and read its peak.
  std::optional<ArenaResource::Frame> own_start_;
  std::size_t used_at_start_;
  std::size_t spills_at_start_;
  std::size_t spill_bytes_at_start_;
};

struct OpStats {
  std::string name;
  std::uint64_t calls;
  std::size_t peak_scratch;  // most arena bytes one call used (block and spills)
  std::uint64_t spills;      // spill chunks taken, over all calls
  std::size_t arena_size;    // the op's configured arena room, 0 when it shares the thread's
};

std::vector<OpStats> op_stats();
void reset_op_stats();
std::string op_stats_table();  // aligned columns, a header line, one line per op
std::string op_stats_json();   // [{"op":"sum_f32","calls":3,...}, ...]

}  // namespace corepy

#endif  // COREPY_COREPY_DISPATCH_H_
