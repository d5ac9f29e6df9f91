// ArenaGauge: an arena's counters as another thread may read them.
//
// An ArenaResource belongs to one thread and keeps its counters in plain fields; a reader on
// another thread (corepy::memory_stats(), corepy/memory_stats.h) must not touch those. An arena
// given a gauge (ArenaResource::set_gauge) copies its counters into it with relaxed atomic
// stores on its out-of-line paths only (a spill, the rewind that ends one, reset, a block
// resize, a new peak, destruction), so the bump path and a scope that does not spill pay
// nothing. A reader loads each field with a relaxed load: each value is one the arena had,
// not a consistent snapshot of all five.
//
//   corepy::ArenaGauge gauge;
//   arena.set_gauge(&gauge);                       // the owning thread
//   std::size_t cap = gauge.capacity.load(std::memory_order_relaxed);  // any thread
#ifndef COREPY_ALLOCATORS_ARENA_GAUGE_H_
#define COREPY_ALLOCATORS_ARENA_GAUGE_H_

#include <atomic>
#include <cstddef>

#include "corepy/internal/require_cxx17.h"

namespace corepy {

struct ArenaGauge {
  std::atomic<std::size_t> capacity{0};
  // The block's level at the arena's last out-of-line event: between scopes, what is held
  // outside any scope (allocations made since on the inline path are not seen).
  std::atomic<std::size_t> used{0};
  std::atomic<std::size_t> peak{0};
  std::atomic<std::size_t> spill_chunks{0};  // spill chunks ever taken
  std::atomic<std::size_t> spill_bytes{0};   // bytes held from the upstream for spills now
};

}  // namespace corepy

#endif  // COREPY_ALLOCATORS_ARENA_GAUGE_H_
