// ShrinkPolicy: when a self-tuned thread arena gives memory back (corepy/memory_stats.h).
//
// Self-tuning (arena_max_size) grows a thread's block when an outermost scope spills. This is
// the way back down: an outermost scope that used under a quarter of the block is "quiet"; after
// `arena_shrink_after` quiet scopes in a row the block halves, never below the configured size.
// A scope that used a quarter or more starts the count again.
//
// It must not oscillate between growing and shrinking. A workload that alternates one large
// scope with many small ones would shrink during the small ones and grow again at the next large
// one, two upstream calls per period, forever. So a growth that follows a shrink doubles the
// patience (the quiet scopes needed, up to 2^kMaxBackoff times the setting): the shrinks stop as
// soon as the patience exceeds the period, after about log2(period / arena_shrink_after) of
// them. tests/corepy/memory_stats_test.cc counts the upstream calls of such a workload.
#ifndef COREPY_COREPY_INTERNAL_SHRINK_POLICY_H_
#define COREPY_COREPY_INTERNAL_SHRINK_POLICY_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace corepy::internal {

class ShrinkPolicy {
 public:
  static constexpr unsigned kMaxBackoff = 16;

  // The block grew because a scope spilled.
  void on_grow() noexcept {
    if (shrunk_) backoff_ = std::min(backoff_ + 1, kMaxBackoff);
    shrunk_ = false;
    quiet_ = 0;
  }

  // An outermost scope used at most `peak` bytes of a block of `capacity` (configured size
  // `base`); returns the capacity to shrink to, or 0 to keep the block. `shrink_after` 0: never.
  std::size_t after_scope(std::size_t peak, std::size_t capacity, std::size_t base,
                          std::uint64_t shrink_after) noexcept {
    if (shrink_after == 0 || capacity <= base || peak >= capacity / 4) {
      quiet_ = 0;
      return 0;
    }
    if (++quiet_ < (shrink_after << backoff_)) return 0;
    quiet_ = 0;
    shrunk_ = true;
    return std::max(capacity / 2, base);
  }

  // How many times the patience doubled.
  unsigned backoff() const noexcept { return backoff_; }

 private:
  std::uint64_t quiet_ = 0;
  unsigned backoff_ = 0;
  bool shrunk_ = false;
};

}  // namespace corepy::internal

#endif  // COREPY_COREPY_INTERNAL_SHRINK_POLICY_H_
