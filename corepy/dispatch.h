// Op dispatch: an entry point per op of corepy/op_table.h. Each runs its kernel from ops/ inside an
// arena scope sized for that op, hands the kernel the configured resource, and records per-op
// stats (calls, peak scratch, spills), readable as a table or as JSON. With COREPY_LOG=debug
// each dispatch prints one line:
//
//   [arena] sum_f32 used=0 cap=1048576 peak=0 spills=0
//
// (the op's arena at the end of the op, before the rewind; peak and spills are this call's).
// Logging off costs one predictable branch. A call that takes no scratch (a scratch-free op of the
// table below the parallel size; an N-D reduction whose plan takes none, corepy/tensor_dispatch.h)
// opens no scope while its thread has nothing out of the ordinary to do (internal::
// scope_may_wait()): it runs the kernel and counts the call, since a scope would have nothing to
// rewind.
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

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "allocators/arena_resource.h"
#include "corepy/arena.h"
#include "corepy/internal/require_cxx17.h"
#include "corepy/op_table.h"
#include "ops/parallel_options.h"

namespace corepy {

// The entry points, one per row of corepy/op_table.h:
//
//   float sum_f32_cpu_dispatch(const float* data, std::size_t count);
//   std::int64_t sum_i32_cpu_dispatch(const std::int32_t* data, std::size_t count);
//   float mean_f32_cpu_dispatch(const float* data, std::size_t count);
//   bool all_bool_cpu_dispatch(const bool* data, std::size_t count);
//   bool any_bool_cpu_dispatch(const bool* data, std::size_t count);
//   // Kahan-Neumaier compensated sum and mean (ops/reduce.h), lane terms in the op's scratch.
//   float sum_f32_compensated_cpu_dispatch(const float* data, std::size_t count);
//   float mean_f32_compensated_cpu_dispatch(const float* data, std::size_t count);
#define COREPY_DECLARE_SPAN_DISPATCH(Id, name, Input, Result, ...) \
  Result name##_cpu_dispatch(const Input* data, std::size_t count);
COREPY_SPAN_OPS(COREPY_DECLARE_SPAN_DISPATCH)
#undef COREPY_DECLARE_SPAN_DISPATCH

// Reductions of the rows x cols row-major matrix at `data`: one result per row (rows results,
// numpy's axis=1) or per column (cols results, axis=0).
//
//   std::pmr::vector<float> sum_rows_f32_cpu_dispatch(const float* data, std::size_t rows,
//       std::size_t cols, std::pmr::memory_resource* result = std::pmr::get_default_resource());
//   ... and sum_cols_f32_cpu_dispatch, mean_rows_f32_cpu_dispatch, mean_cols_f32_cpu_dispatch.
//
// The shape is checked once, before anything is allocated. The result vector is made on
// `result` (null: the default resource) before the op's scope opens, with room for every result
// (one allocation of exactly that size, none for no results), and the kernel writes into it:
// `result` may be any resource, the thread's arena (which the scope rewinds) included. The
// kernel's scratch comes from the op's configured resource and is given back before return.
#define COREPY_DECLARE_MATRIX_DISPATCH(Id, name, Input, Result, kernel, axis) \
  std::pmr::vector<Result> name##_cpu_dispatch(                               \
      const Input* data, std::size_t rows, std::size_t cols,                  \
      std::pmr::memory_resource* result = std::pmr::get_default_resource());
COREPY_MATRIX_OPS(COREPY_DECLARE_MATRIX_DISPATCH)
#undef COREPY_DECLARE_MATRIX_DISPATCH

namespace internal {
// OpScope::parallel_options(), for the thread whose state is `t`.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline ops::ParallelOptions op_parallel_options(const ThreadState& t) {
  ops::ParallelOptions options;
  if (ABSL_PREDICT_FALSE(t.exited)) options.min_parallel_bytes = ~std::size_t{0};
  options.worker_spin = worker_spin();
  return options;
}
}  // namespace internal

// The scope every dispatch runs in, for code that dispatches kernels of its own under an op's
// name: one frame (an ArenaRewinder) on the op's arena, which is the thread's unless the
// configuration gives the op its own; the call is counted in the op's stats when it ends.
class OpScope {
 public:
  ABSL_ATTRIBUTE_ALWAYS_INLINE explicit OpScope(Op op)
      : op_(op),
        entry_(static_cast<std::uint32_t>(op) + 1),
        scratch_(internal::op_scratch(entry_.state(), op)),
        count_{entry_.state(), op},
        rewind_(*scratch_.arena) {}
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;
  // An op that took no scratch (the 1-D sums) leaves count_ to count the call once the frame has
  // closed, so that the close's test of "nothing happened inside" is the only one; any other
  // call records its peak and spills here, before the close rewinds them.
  ABSL_ATTRIBUTE_ALWAYS_INLINE ~OpScope() {
    if (ABSL_PREDICT_FALSE(internal::debug_log_enabled())) {
      const Usage u = usage();
      log(op_, rewind_.arena(), u.peak, u.spills);
    }
    if (ABSL_PREDICT_TRUE(rewind_.untouched())) return;
    count_.pending = false;
    const Usage u = usage();
    if (ABSL_PREDICT_FALSE(u.spills != 0)) internal::scope_spilled(rewind_.arena(), u.peak);
    internal::record_op(entry_.state(), op_, u.peak, u.spills);
  }

  std::pmr::memory_resource* resource() const { return scratch_.resource; }
  ArenaResource& arena() const { return rewind_.arena(); }
  // How a kernel run in this scope may split over oneTBB's threads: as the ops' defaults say,
  // with the configured worker_spin, except after the thread's corepy state was destroyed (an
  // op from a static destructor or an atexit handler), when oneTBB may be shutting down too:
  // then it stays on this thread.
  ABSL_ATTRIBUTE_ALWAYS_INLINE ops::ParallelOptions parallel_options() const {
    return internal::op_parallel_options(entry_.state());
  }
  // The calling thread's corepy state (corepy/arena.h), as the scope reached it.
  internal::ThreadState& thread_state() const { return entry_.state(); }

 private:
  // Scratch the op needed at most (the block above the start, and every spill chunk taken, whose
  // bytes are read only when there was one), and the spill chunks taken.
  struct Usage {
    std::size_t peak;
    std::size_t spills;
  };
  ABSL_ATTRIBUTE_ALWAYS_INLINE Usage usage() const {
    if (ABSL_PREDICT_TRUE(rewind_.untouched())) return Usage{0, 0};
    const std::size_t spills = rewind_.spills();
    std::size_t peak = rewind_.peak();
    if (ABSL_PREDICT_FALSE(spills != 0)) peak += rewind_.spill_bytes();
    return Usage{peak, spills};
  }
  // Counts the call when destroyed, unless the scope recorded it already.
  struct CallCount {
    internal::ThreadState& state;
    Op op;
    bool pending = true;
    ABSL_ATTRIBUTE_ALWAYS_INLINE ~CallCount() {
      if (pending) internal::count_call(state, op);
    }
  };
  // Static, so the scope's address does not escape and its fields can stay in registers.
  static void log(Op op, const ArenaResource& arena, std::size_t peak, std::size_t spills);

  Op op_;
  internal::ScopeEntry entry_;  // keeps the runtime current; left after the rewind below
  internal::OpScratch scratch_;
  CallCount count_;  // after the rewind below, too
  ArenaRewinder rewind_;
};

namespace internal {

// Whether a dispatch on this thread may do without its scope when its kernel takes no scratch:
// the thread's scopes are on their inline path (no trace, no configuration change or request
// pending) and logging is off, so that the scope would have nothing to do but count the call.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool scope_may_wait(const ThreadState& t) {
  return t.scope_arena.load(std::memory_order_relaxed) != nullptr && !debug_log_enabled();
}

// An op's scope (OpScope) that opens only when asked: for a dispatch whose kernel may or may not
// take scratch (an N-D reduction: it depends on the shape, ReducePlan::scratch_bytes()), and tells
// the dispatch before it allocates, and how much (ops::execute_into's scratch callback). A kernel
// that makes one allocation and gives it back, with nothing else allocated from the resource in
// between, needs no frame when that allocation fits the op's arena's block: open() then hands
// out the arena itself and notes what the allocation will take, and the close records that as
// the call's peak, no spill. Otherwise open() makes the scope and returns its scratch resource.
// Destroyed, it records the call, or, never opened, the call counts itself as a scratch-free
// op's dispatch does. A scope that fails to open (the op's own arena cannot be made) counts
// nothing, as an OpScope that throws from its constructor does. Only where scope_may_wait();
// open() is for the calling thread, once.
class LazyOpScope {
 public:
  // Reads the op's scratch entry here, before the kernel plans its work, rather than in open():
  // the loads that reach the op's arena then overlap the planning instead of following it.
  ABSL_ATTRIBUTE_ALWAYS_INLINE LazyOpScope(ThreadState& state, Op op)
      : state_(state), op_(op), scratch_(op_entry(state, op)) {}
  LazyOpScope(const LazyOpScope&) = delete;
  LazyOpScope& operator=(const LazyOpScope&) = delete;
  ABSL_ATTRIBUTE_ALWAYS_INLINE ~LazyOpScope() {
    if (ABSL_PREDICT_TRUE(stage_ == Stage::kWaiting)) {
      count_call(state_, op_);
    } else if (ABSL_PREDICT_TRUE(stage_ == Stage::kLent)) {
      record_op(state_, op_, lent_, 0);
    } else if (stage_ == Stage::kOpen) {
      close_scope();
    }
  }

  // The resource for the kernel's one allocation of `bytes` aligned to `alignment`.
  ABSL_ATTRIBUTE_ALWAYS_INLINE std::pmr::memory_resource* open(std::size_t bytes,
                                                               std::size_t alignment) {
    // An op's first call on the thread finds no arena yet: the scope makes it.
    if (ABSL_PREDICT_TRUE(scratch_.arena != nullptr && scratch_.resource == scratch_.arena)) {
      lent_ = scratch_.arena->round_trip_cost(bytes, alignment);
      if (ABSL_PREDICT_TRUE(lent_ != 0)) {
        stage_ = Stage::kLent;
        return scratch_.arena;
      }
    }
    return open_scope();
  }

 private:
  // The scope's opening and closing, out of line: the lent path, inline, then saves and restores
  // fewer registers.
  ABSL_ATTRIBUTE_NOINLINE std::pmr::memory_resource* open_scope() {
    stage_ = Stage::kOpening;  // stays so if OpScope's constructor throws
    new (&scope_) OpScope(op_);
    stage_ = Stage::kOpen;
    return scope_.resource();
  }
  ABSL_ATTRIBUTE_NOINLINE void close_scope() noexcept { scope_.~OpScope(); }

  enum class Stage : unsigned char { kWaiting, kOpening, kLent, kOpen };
  ThreadState& state_;
  Op op_;
  OpScratch scratch_;  // the op's entry on the thread (ThreadState::ops), as the dispatch began
  Stage stage_ = Stage::kWaiting;
  std::size_t lent_ = 0;  // kLent: the bytes the allocation takes from the arena's block
  // Made by open() (kOpen then), destroyed by the destructor: by hand rather than in a
  // std::optional, whose destroy GCC leaves out of line.
  union {
    OpScope scope_;
  };
};

}  // namespace internal

struct OpStats {
  std::string name;
  std::uint64_t calls;
  std::size_t peak_scratch;  // most arena bytes one call used (block and spills)
  std::uint64_t spills;      // spill chunks taken, over all calls
  std::size_t arena_size;    // the op's configured arena room, 0 when it shares the thread's
};

std::vector<OpStats> op_stats();
void reset_op_stats();

// The calling thread's op counters over a region of code, as RMM's statistics() context: the
// calls, the most scratch one call needed, and the spills of every op this thread dispatched
// between construction and stats(). Regions nest (destroy them in reverse order, on the thread
// that made them); op_stats() keeps counting everything meanwhile.
//
//   corepy::ThreadOpRegion region;
//   ... ops ...
//   for (const corepy::OpStats& s : region.stats()) ...  // calls, peak_scratch, spills
class ThreadOpRegion {
 public:
  ThreadOpRegion();
  ThreadOpRegion(const ThreadOpRegion&) = delete;
  ThreadOpRegion& operator=(const ThreadOpRegion&) = delete;
  ~ThreadOpRegion();

  // One entry per op, as op_stats() (arena_size the op's configured size).
  std::vector<OpStats> stats() const;

 private:
  std::array<internal::OpTotals, kOpCount> at_entry_;
};
std::string op_stats_table();  // aligned columns, a header line, one line per op
std::string op_stats_json();   // [{"op":"sum_f32","calls":3,...}, ...]

}  // namespace corepy

#endif  // COREPY_COREPY_DISPATCH_H_
