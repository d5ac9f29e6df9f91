// Thread-local arena scopes. Each thread owns one ArenaResource, made on first use from the
// configuration (corepy/config.h: capacity COREPY_ARENA_SIZE, default 1 MiB; upstream from the
// allocator spec) and destroyed, returning everything to its upstream, when the thread exits.
//
// A scope — with_arena(f), or an ArenaScope object — remembers where the arena was and rewinds
// it on exit, by return or by exception, spills included, so a kernel's scratch lives exactly as
// long as the call that asked for it. Scopes nest; each rewinds to its own start. A scope also
// reports what happened inside it (peak, spills).
//
// The scope's cost is a thread-local load, a marker save/restore and a few counters, all inline.
// The outermost scope of a thread is where the runtime does its rarer work, out of line: picking
// up a configuration change, and — when self-tuning is on (arena_max_size) and the scope spilled —
// growing the thread's arena toward the peak it saw, so a steady workload stops spilling.
#ifndef COREPY_COREPY_ARENA_H_
#define COREPY_COREPY_ARENA_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory_resource>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/types/span.h"
#include "allocators/arena_gauge.h"
#include "allocators/arena_resource.h"
#include "corepy/config.h"
#include "corepy/internal/require_cxx17.h"
#include "corepy/op_table.h"

namespace corepy {
namespace internal {

struct ThreadRuntime;

// Where an op's scratch comes from on this thread: its own arena when the configuration sizes
// it, else the thread's; and the resource the kernel is given.
struct OpScratch {
  ArenaResource* arena;
  std::pmr::memory_resource* resource;
};

// An op's counters on one thread. Only that thread writes them (a relaxed load and store, no
// locked instruction, no shared cache line); op_totals() sums every thread's.
struct OpTally {
  std::atomic<std::uint64_t> calls{0};
  std::atomic<std::size_t> peak{0};
  std::atomic<std::uint64_t> spills{0};
};

// Everything the fast paths read per thread, in one constant-initialized variable: reading it
// needs no guard, and in a shared library one TLS lookup finds all of it.
struct ThreadState {
  ArenaResource* arena;      // the thread's arena, once made
  std::uint64_t generation;  // the configuration it was made for
  unsigned depth;            // scopes open on this thread
  bool exited;               // the thread's runtime was destroyed once (thread exit); a later
                             // use makes a late one (arena.cc)
  ThreadRuntime* runtime;    // owns what the pointers below point into
  OpScratch* ops;            // kOpCount entries; arena null until the op first runs
  OpTally* tallies;          // kOpCount entries
  // The configuration the runtime is in: null before the thread's first scope; inside a scope
  // it stays alive until the outermost scope ends.
  const Resolved* config;
  // Work for the thread's next outermost scope close (kTrimRequested, ...; memory_stats.h):
  // set by any thread, so atomic; a bit set keeps scope_arena null, which sends the close out of
  // line to do it.
  std::atomic<unsigned> requests;
  void* trace;  // the thread's trace buffer while tracing (corepy/trace.h); null: off
  // The arena a scope may enter and leave inline: `arena` while nothing is out of the ordinary,
  // null while the thread traces, its configuration is not the one in force, a request is
  // pending (`requests`), or a spilling scope left work for the outermost close (`tune_*`).
  // Other threads null it (a new configuration, trim()): hence atomic. A scope that finds it
  // null enters or leaves out of line (enter_scope_slow, leave_scope_slow).
  std::atomic<ArenaResource*> scope_arena;
  ArenaResource* tune_arena;  // a scope spilled this arena, needing tune_peak bytes at most
  std::size_t tune_peak;
};
// The default TLS model, not initial-exec: in a shared library that a process loads with
// dlopen (Python's ctypes, say), initial-exec puts the library's whole TLS block in glibc's
// small reserve of static TLS, and a second copy of the library (two packages that each ship
// libcorepy.so) then fails to load. Executables and static links get the fixed-offset model
// anyway; a shared library pays a __tls_get_addr call per op entry.
inline thread_local ThreadState tls_state{
    nullptr, 0, 0, false, nullptr, nullptr, nullptr, nullptr, {0u}, nullptr, {nullptr}, nullptr, 0};

// How a scope reaches its thread's state: it takes the address once, opaque to the compiler,
// and keeps it. In a shared library (-fPIC) each read of tls_state is otherwise a call to
// __tls_get_addr, and a dispatch made six (entry, scratch, options, stats, exit). In an
// executable the fields would otherwise be addressed %fs-relative, one instruction each, but the
// address arithmetic GCC emits around the atomic scope_arena made the empty scope 45
// instructions against 41 through a kept address (callgrind, tests/bench/count.sh).
class ThreadStateRef {
 public:
  ABSL_ATTRIBUTE_ALWAYS_INLINE ThreadStateRef() : state_(&tls_state) {
#if defined(__GNUC__)
    // An opaque copy: GCC otherwise computes the address again at every use (in a shared
    // library, another __tls_get_addr call), or, in an executable, addresses the fields
    // %fs-relative.
    asm("" : "+r"(state_));
#endif
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE ThreadState& operator*() const { return *state_; }

 private:
  ThreadState* state_;
};

// Bits of ThreadState::requests.
inline constexpr unsigned kTrimRequested = 1;  // trim(): shrink the thread's idle arenas
inline constexpr unsigned kShrinkWatch = 2;    // the block grew: watch it for the shrink policy

ArenaResource& make_thread_arena();
// A scope (of `trace_op`, as ScopeEntry takes it) opens with `depth` scopes open before it and
// ThreadState::scope_arena null: makes or remakes the thread's arena for the current
// configuration when outermost, counts the scope, traces it.
ArenaResource& enter_scope_slow(unsigned depth, std::uint32_t trace_op);
// The scope has left its frame and put back `depth`; scope_arena is null: traces the close,
// and at the outermost scope does the work pending (tuning after a spill, trim, shrink).
void leave_scope_slow(unsigned depth, std::uint32_t trace_op) noexcept;
// A scope spilled `arena`, needing `peak` bytes (block and spills) at most: on leaving the
// outermost scope, grow the arena toward that if it is the thread's and self-tuning is on.
void scope_spilled(ArenaResource& arena, std::size_t peak) noexcept;

OpScratch op_scratch_slow(Op op);

// For corepy/memory_stats.h. trim(): the calling thread's idle arenas now (or at its outermost
// scope's close, inside one), every other thread's at its next outermost scope close.
void request_trim();
// Calls `visit` with the gauges of every live thread's arenas (op arenas, then the thread's),
// under the lock that a thread's first scope and its exit take, never a scope or an allocation.
void visit_thread_gauges(const std::function<void(absl::Span<const ArenaGauge>)>& visit);

// The resource `op` uses on this thread, for a thread that runs part of an op with no scope of
// its own open: a oneTBB worker running a task of a parallel kernel, for an op whose calling
// thread is in configuration `caller` (its ThreadState::config). A shared resource (a strategy
// without an arena) is the caller's; otherwise the thread's own arenas, made on first use and
// brought up to date with the configuration when they hold nothing (see arena.cc).
std::pmr::memory_resource* op_resource_outside_scope(Op op, const Resolved* caller);

// `op`'s entry on the thread as it stands: its arena null until the op first runs there
// (op_scratch() then makes it). Only where the thread has a runtime (ThreadState::ops set).
ABSL_ATTRIBUTE_ALWAYS_INLINE inline OpScratch op_entry(const ThreadState& t, Op op) {
  return t.ops[static_cast<std::size_t>(op)];
}

// Call inside a scope, which keeps the thread's runtime current; `t` is the thread's state.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline OpScratch op_scratch(ThreadState& t, Op op) {
  const OpScratch s = op_entry(t, op);
  if (ABSL_PREDICT_TRUE(s.arena != nullptr)) return s;
  return op_scratch_slow(op);
}

// A call of `op` that took no scratch: its peak and spills are 0.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void count_call(ThreadState& state, Op op) noexcept {
  OpTally& t = state.tallies[static_cast<std::size_t>(op)];
  t.calls.store(t.calls.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void record_op(ThreadState& state, Op op, std::size_t peak,
                                                   std::size_t spills) noexcept {
  count_call(state, op);
  OpTally& t = state.tallies[static_cast<std::size_t>(op)];
  if (spills != 0) {
    t.spills.store(t.spills.load(std::memory_order_relaxed) + spills, std::memory_order_relaxed);
  }
  if (peak > t.peak.load(std::memory_order_relaxed)) t.peak.store(peak, std::memory_order_relaxed);
}

struct OpTotals {
  std::uint64_t calls = 0;
  std::size_t peak = 0;
  std::uint64_t spills = 0;
};
std::array<OpTotals, kOpCount> op_totals();  // every thread's, summed
void reset_op_totals();

// A region of the calling thread's op counters (ThreadOpRegion, corepy/dispatch.h). Opening one
// records the thread's peaks with the process totals (so op_totals() loses nothing) and zeroes
// them, so that from then on they are the region's; it returns the counters at entry. Closing it
// puts back the entry peaks where the region's are lower, which makes regions nest.
std::array<OpTotals, kOpCount> open_op_region();
std::array<OpTotals, kOpCount> thread_op_counts();  // the calling thread's counters
void close_op_region(const std::array<OpTotals, kOpCount>& at_entry) noexcept;

// One scope open on the calling thread, from entry (where the outermost scope brings the
// runtime up to date) to exit (where the outermost scope does the thread's pending work: growing
// its arena after a spill if self-tuning is on, trim, shrink). A scope holds one of these and,
// declared after it, the ArenaRewinder of the arena it uses: the arena is rewound before the
// scope counts as left.
//
// Inline, an entry reads the thread's scope_arena and depth and counts itself; an exit puts the
// depth back and tests scope_arena once. Everything else (the first scope, a new
// configuration, tracing (`trace_op`: 0 for a plain scope, else the op's index + 1), pending
// work) makes scope_arena null, and goes out of line.
class ScopeEntry {
 public:
  ABSL_ATTRIBUTE_ALWAYS_INLINE explicit ScopeEntry(std::uint32_t trace_op)
      : trace_op_(trace_op), depth_((*state_).depth), arena_(enter(*state_, depth_, trace_op)) {}
  ScopeEntry(const ScopeEntry&) = delete;
  ScopeEntry& operator=(const ScopeEntry&) = delete;
  // Puts back the depth it found rather than decrementing: the next scope's load of it then
  // waits on one store, not on a load and a store, in a loop of scopes.
  ABSL_ATTRIBUTE_ALWAYS_INLINE ~ScopeEntry() {
    ThreadState& t = *state_;
    t.depth = depth_;
    if (ABSL_PREDICT_FALSE(t.scope_arena.load(std::memory_order_relaxed) == nullptr)) {
      leave_scope_slow(depth_, trace_op_);
    }
  }

  // The thread's arena.
  ArenaResource& arena() const { return arena_; }
  // The thread's state.
  ThreadState& state() const { return *state_; }

 private:
  // `depth`: the scopes open before this one.
  ABSL_ATTRIBUTE_ALWAYS_INLINE static ArenaResource& enter(ThreadState& t, unsigned depth,
                                                           std::uint32_t trace_op) {
    ArenaResource* const arena = t.scope_arena.load(std::memory_order_relaxed);
    if (ABSL_PREDICT_TRUE(arena != nullptr)) {
      t.depth = depth + 1;
      return *arena;
    }
    return enter_scope_slow(depth, trace_op);
  }

  ThreadStateRef state_;  // first: the members below are made from it
  std::uint32_t trace_op_;
  unsigned depth_;
  ArenaResource& arena_;
};

}  // namespace internal

// The calling thread's arena, made on first use.
inline ArenaResource& thread_arena() {
  ArenaResource* arena = internal::tls_state.arena;
  if (ABSL_PREDICT_TRUE(arena != nullptr)) return *arena;
  return internal::make_thread_arena();
}

// RAII form of with_arena, for code that cannot pass a lambda.
class ArenaScope {
 public:
  ABSL_ATTRIBUTE_ALWAYS_INLINE ArenaScope() : entry_(0), rewind_(entry_.arena()) {}
  ArenaScope(const ArenaScope&) = delete;
  ArenaScope& operator=(const ArenaScope&) = delete;
  ABSL_ATTRIBUTE_ALWAYS_INLINE ~ArenaScope() {
    if (ABSL_PREDICT_FALSE(rewind_.spilled())) {
      const ScopeStats s = rewind_.stats();
      internal::scope_spilled(rewind_.arena(), s.peak + s.spill_bytes);
    }
  }

  ArenaResource& arena() const { return rewind_.arena(); }

  // Peak, spills and spill bytes inside the scope (ScopeStats, allocators/arena_resource.h);
  // valid until the scope ends.
  ScopeStats stats() const { return rewind_.stats(); }

 private:
  internal::ScopeEntry entry_;  // left after the rewind below
  ArenaRewinder rewind_;
};

// Calls f(ArenaResource&) and returns what f returns; the arena is rewound on exit.
template <class F>
decltype(auto) with_arena(F&& f) {
  ArenaScope scope;
  return std::forward<F>(f)(scope.arena());
}

// Stats of the calling thread's arena.
ArenaStats arena_stats();

}  // namespace corepy

#endif  // COREPY_COREPY_ARENA_H_
