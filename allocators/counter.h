// Counter: one quantity as RMM's statistics_resource_adaptor counts it (value now, its peak, and
// the sum of every increase), with the arithmetic of nested regions written once.
//
// Whatever reports "the most in use inside this region" while regions nest (an arena's windows,
// a StatsScope over a StatsResource, the runtime's scopes) needs the same two steps: a region
// starts a fresh peak at the current value and puts the enclosing region's peak aside; when it
// ends, the enclosing peak becomes the larger of the two. A counter kept relative to the region
// (as RMM's tracked sub-blocks are) folds into the enclosing one the same way, offset by the
// enclosing value.
//
//   Counter c;
//   c += 100;                                  // value 100, peak 100, total 100
//   const std::size_t outer = c.open_region();  // peak restarts at 100
//   c += 50;
//   c -= 50;                                   // the region's peak: 150
//   c.close_region(outer);                     // the enclosing peak: 150 too
//
// Not synchronized: a counter belongs to one thread, or to whoever holds the lock around it.
#ifndef COREPY_ALLOCATORS_COUNTER_H_
#define COREPY_ALLOCATORS_COUNTER_H_

#include <cstddef>

#include "corepy/internal/require_cxx17.h"

namespace corepy {

struct Counter {
  std::size_t value = 0;  // now
  std::size_t peak = 0;   // the most `value` has been (in the current region)
  std::size_t total = 0;  // the sum of every increase

  constexpr Counter& operator+=(std::size_t n) noexcept {
    value += n;
    total += n;
    if (value > peak) peak = value;
    return *this;
  }
  constexpr Counter& operator-=(std::size_t n) noexcept {
    value -= n;
    return *this;
  }

  // `value` moved to `v` by means the counter did not see (a bump pointer, a rewind): the peak
  // takes it into account; the total does not.
  constexpr void observe(std::size_t v) noexcept {
    value = v;
    if (v > peak) peak = v;
  }

  // A region begins at the current value: returns the enclosing region's peak, for
  // close_region().
  constexpr std::size_t open_region() noexcept {
    const std::size_t outer = peak;
    peak = value;
    return outer;
  }
  // The region that open_region() returned `outer_peak` for ends: its peak folds into the
  // enclosing one.
  constexpr void close_region(std::size_t outer_peak) noexcept {
    if (outer_peak > peak) peak = outer_peak;
  }

  // The peak of a region whose peak was `peak` when last compared and whose value is now
  // `value`: for a counter kept as its peak alone, whose value is elsewhere (an arena's window,
  // whose value is the bump pointer's level). close_region()'s fold is the same comparison.
  static constexpr std::size_t peak_of(std::size_t peak, std::size_t value) noexcept {
    return value > peak ? value : peak;
  }

  // RMM's name for the same fold, for a counter kept relative to the region's start (value and
  // peak above that start, total inside it).
  constexpr void add_counters_from_tracked_sub_block(const Counter& sub) noexcept {
    if (value + sub.peak > peak) peak = value + sub.peak;
    value += sub.value;
    total += sub.total;
  }

  // The region that began when this counter read `start` (and opened a region there), relative
  // to that start: what add_counters_from_tracked_sub_block() takes. `value` must not have gone
  // below start.value.
  constexpr Counter since(const Counter& start) const noexcept {
    return Counter{value - start.value, peak - start.value, total - start.total};
  }
};

}  // namespace corepy

#endif  // COREPY_ALLOCATORS_COUNTER_H_
