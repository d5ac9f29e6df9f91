#include "corepy/memory_stats.h"

#include <algorithm>
#include <atomic>
#include <cstddef>

#include "absl/types/span.h"
#include "allocators/arena_gauge.h"
#include "corepy/arena.h"
#include "corepy/config.h"

namespace corepy {
namespace {

void add(MemoryFigure& f, std::size_t thread_value) {
  f.sum += thread_value;
  f.max_per_thread = std::max(f.max_per_thread, thread_value);
}

std::size_t total(absl::Span<const ArenaGauge> gauges, std::atomic<std::size_t> ArenaGauge::*field) {
  std::size_t n = 0;
  for (const ArenaGauge& g : gauges) n += (g.*field).load(std::memory_order_relaxed);
  return n;
}

}  // namespace

MemoryStats memory_stats() {
  MemoryStats m;
  internal::visit_thread_gauges([&m](absl::Span<const ArenaGauge> gauges) {
    ++m.threads;
    add(m.capacity, total(gauges, &ArenaGauge::capacity));
    add(m.used, total(gauges, &ArenaGauge::used));
    add(m.peak, total(gauges, &ArenaGauge::peak));
    add(m.spill_chunks, total(gauges, &ArenaGauge::spill_chunks));
    add(m.spill_bytes, total(gauges, &ArenaGauge::spill_bytes));
  });
  m.allocator = internal::resolved()->settings.allocator;
  return m;
}

void trim() { internal::request_trim(); }

}  // namespace corepy
