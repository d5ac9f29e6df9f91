// Memory across the whole process, and giving it back.
//
//   corepy::MemoryStats m = corepy::memory_stats();
//   std::printf("%zu threads hold %zu bytes of arena blocks (largest %zu)\n", m.threads,
//               m.capacity.sum, m.capacity.max_per_thread);
//   corepy::trim();  // after a spike: blocks back to the configured size
//
// memory_stats()
//   Every live thread's arena and per-op arenas: the thread count; capacity, used, peak, spill
//   chunks and spill bytes, each summed over all threads and as the largest one thread has (a
//   thread's figure sums its own arena and its per-op arenas); and the allocator spec in force.
//   Any thread may call it at any time. It takes only the lock that a thread's first scope and
//   its exit take, never one an allocation or a scope takes: each arena copies its counters with
//   relaxed atomic stores into a gauge (allocators/arena_gauge.h) on its out-of-line paths (a
//   spill, the rewind that ends it, a new peak, a resize), and this reads those. So `used` is
//   each arena's level at its last such event; between scopes that is what it holds outside
//   any scope, except what was allocated there on the inline path since.
//
// trim()
//   Shrinks every self-tuned block back to the configured size (and each per-op arena to its
//   configured size). An idle arena holds no spill chunk: the rewind that ends a round of spills
//   gives every chunk back; a chunk that holds memory allocated outside any scope cannot be
//   given back, and neither can that arena's block. The calling thread's arenas are trimmed at
//   once (at the close of its outermost scope when called inside one); every other thread's at
//   the close of its next outermost scope, or, for a thread that runs parallel-kernel tasks
//   without scopes of its own (a oneTBB worker), at its next task. A thread that never runs
//   another scope or task keeps its memory until it exits, when all of it goes back.
//
// The shrink policy
//   Self-tuning (arena_max_size) grows a thread's block when an outermost scope spills. With
//   arena_shrink_after = N (default 64; 0 turns it off; --corepy_arena_shrink_after,
//   COREPY_ARENA_SHRINK_AFTER, Options::arena_shrink_after), a grown block halves after N
//   outermost scopes in a row that used under a quarter of it, never below the configured size.
//   A growth soon after a shrink doubles N for that thread, so a workload that alternates large
//   and small scopes settles instead of oscillating (corepy/internal/shrink_policy.h). It costs
//   nothing while no block is grown: the close of an outermost scope tests one thread-local word.
#ifndef COREPY_COREPY_MEMORY_STATS_H_
#define COREPY_COREPY_MEMORY_STATS_H_

#include <cstddef>
#include <string>

#include "corepy/internal/require_cxx17.h"

namespace corepy {

struct MemoryFigure {
  std::size_t sum = 0;             // over every live thread
  std::size_t max_per_thread = 0;  // the largest one thread has
};

struct MemoryStats {
  std::size_t threads = 0;    // live threads with a corepy runtime
  MemoryFigure capacity;      // bytes of arena blocks
  MemoryFigure used;          // bytes of those blocks in use (see above)
  MemoryFigure peak;          // high-water marks of `used`
  MemoryFigure spill_chunks;  // spill chunks ever taken from the upstream
  MemoryFigure spill_bytes;   // bytes held from the upstream for spills now
  std::string allocator;      // the allocator spec in force
};

MemoryStats memory_stats();

void trim();

}  // namespace corepy

#endif  // COREPY_COREPY_MEMORY_STATS_H_
