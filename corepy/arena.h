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
#include <memory_resource>
#include <cstdint>
#include <utility>

#include "allocators/arena_resource.h"
#include "corepy/config.h"
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
};
// The default TLS model, not initial-exec: in a shared library that a process loads with
// dlopen (Python's ctypes, say), initial-exec puts the library's whole TLS block in glibc's
// small reserve of static TLS, and a second copy of the library (two packages that each ship
// libcorepy.so) then fails to load. Executables and static links get the fixed-offset model
// anyway; a shared library pays a __tls_get_addr call per op entry.
inline thread_local ThreadState tls_state{nullptr, 0, 0, false, nullptr, nullptr, nullptr};

ArenaResource& make_thread_arena();
// Makes or remakes the thread's arena for the current configuration, and counts the scope.
ArenaResource& enter_outermost_slow();
// The outermost scope spilled, needing `peak` bytes at most: grow the arena toward that if
// self-tuning is on.
void after_spilling_scope(ArenaResource& arena, std::size_t peak) noexcept;

OpScratch op_scratch_slow(Op op);

// The resource `op` uses on this thread, for a thread that runs part of an op with no scope of
// its own open: a oneTBB worker running a task of a parallel kernel, for an op whose calling
// thread is in configuration `caller` (current_config() there). A shared resource (a strategy
// without an arena) is the caller's; otherwise the thread's own arenas, made on first use and
// brought up to date with the configuration when they hold nothing (see arena.cc).
std::pmr::memory_resource* op_resource_outside_scope(Op op, const Resolved* caller);

// The configuration the calling thread's runtime is in (null before its first scope). Inside a
// scope it stays alive until the outermost scope ends.
const Resolved* current_config() noexcept;

// Call inside a scope, which keeps the thread's runtime current.
COREPY_ALWAYS_INLINE OpScratch op_scratch(Op op) {
  const OpScratch s = tls_state.ops[static_cast<std::size_t>(op)];
  if (__builtin_expect(s.arena != nullptr, 1)) return s;
  return op_scratch_slow(op);
}

COREPY_ALWAYS_INLINE void record_op(Op op, std::size_t peak, std::size_t spills) noexcept {
  OpTally& t = tls_state.tallies[static_cast<std::size_t>(op)];
  t.calls.store(t.calls.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
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
std::array<OpTotals, kOpCount> op_totals();                           // every thread's, summed
void reset_op_totals();

}  // namespace internal

// The calling thread's arena, made on first use.
inline ArenaResource& thread_arena() {
  ArenaResource* arena = internal::tls_state.arena;
  if (__builtin_expect(arena != nullptr, 1)) return *arena;
  return internal::make_thread_arena();
}

// What happened inside one scope.
struct ScopeStats {
  std::size_t peak;         // most bytes of the arena's block used at once above the scope's start
  std::size_t spills;       // spill chunks taken from the upstream
  std::size_t spill_bytes;  // bytes of those chunks
};

// RAII form of with_arena, for code that cannot pass a lambda.
class ArenaScope {
 public:
  COREPY_ALWAYS_INLINE ArenaScope()
      : arena_(enter()),
        start_(arena_.open_frame()),
        used_at_start_(arena_.used()),
        spills_at_start_(arena_.overflow_count()),
        spill_bytes_at_start_(arena_.overflow_bytes_total()) {}
  ArenaScope(const ArenaScope&) = delete;
  ArenaScope& operator=(const ArenaScope&) = delete;
  COREPY_ALWAYS_INLINE ~ArenaScope() {
    arena_.close_frame(start_);
    if (--internal::tls_state.depth == 0 && arena_.overflow_count() != spills_at_start_) {
      const ScopeStats s = stats();
      internal::after_spilling_scope(arena_, s.peak + s.spill_bytes);
    }
  }

  ArenaResource& arena() const { return arena_; }

  // Valid until the scope ends (its destructor uses it once more for self-tuning).
  ScopeStats stats() const {
    return ScopeStats{arena_.window_peak() - used_at_start_,
                      arena_.overflow_count() - spills_at_start_,
                      arena_.overflow_bytes_total() - spill_bytes_at_start_};
  }

 private:
  COREPY_ALWAYS_INLINE static ArenaResource& enter() {
    internal::ThreadState& t = internal::tls_state;
    if (__builtin_expect(t.arena != nullptr &&
                             (t.depth != 0 || t.generation == internal::config_generation()),
                         1)) {
      ++t.depth;
      return *t.arena;
    }
    return internal::enter_outermost_slow();
  }

  ArenaResource& arena_;
  ArenaResource::Frame start_;
  std::size_t used_at_start_;
  std::size_t spills_at_start_;
  std::size_t spill_bytes_at_start_;
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
