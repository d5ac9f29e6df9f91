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

#include <cstddef>
#include <cstdint>
#include <utility>

#include "allocators/arena_resource.h"
#include "corepy/config.h"
#include "corepy/op_table.h"

namespace corepy {
namespace internal {

// Constant-initialized, so reading it needs no guard.
struct ThreadState {
  ArenaResource* arena;     // the thread's arena, once made
  std::uint64_t generation;  // the configuration it was made for
  unsigned depth;            // scopes open on this thread
};
inline thread_local ThreadState tls_state{nullptr, 0, 0};

ArenaResource& make_thread_arena();
// Makes or remakes the thread's arena for the current configuration, and counts the scope.
ArenaResource& enter_outermost_slow();
// The outermost scope spilled, needing `peak` bytes at most: grow the arena toward that if
// self-tuning is on.
void after_spilling_scope(ArenaResource& arena, std::size_t peak) noexcept;

// Where `op`'s scratch comes from on this thread: its own arena when the configuration sizes
// it, else the thread's; and the resource the kernel is given. Call inside a scope, which keeps
// the thread's runtime current.
struct OpScratch {
  ArenaResource* arena;
  std::pmr::memory_resource* resource;
};
OpScratch op_scratch(Op op);

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
        start_(arena_.mark()),
        outer_window_(arena_.open_window()),
        used_at_start_(arena_.used()),
        spills_at_start_(arena_.overflow_count()),
        spill_bytes_at_start_(arena_.overflow_bytes_total()) {}
  ArenaScope(const ArenaScope&) = delete;
  ArenaScope& operator=(const ArenaScope&) = delete;
  COREPY_ALWAYS_INLINE ~ArenaScope() {
    arena_.rewind_and_close_window(start_, outer_window_);
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
  Marker start_;
  std::size_t outer_window_;
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
