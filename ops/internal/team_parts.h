// How a team (ops/internal/parallel.cc) shares a split call's units: one contiguous part per
// slot, each run front to back by its owner, and what an owner leaves taken from the back by
// the others once their own parts are done. So each thread reads about the same part of the
// input call after call, as a team read does (lines its own caches last held, not the other
// core's), and no thread waits while units are left.
#ifndef COREPY_OPS_INTERNAL_TEAM_PARTS_H_
#define COREPY_OPS_INTERNAL_TEAM_PARTS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace corepy::ops::internal {

class TeamParts {
 public:
  static constexpr int kMaxParts = 16;
  // Units are counted in 32 bits: a part's unclaimed span is one 64-bit word.
  static constexpr std::uint64_t kMaxUnits = std::uint64_t{1} << 32;

  // Units [0, units) in `parts` parts of units / parts each, give or take one: `units` below
  // kMaxUnits, `parts` from 1 to kMaxParts.
  TeamParts(std::uint64_t units, int parts) : count_(parts) {
    for (int k = 0; k < parts; ++k) {
      part_span(k).store(pack(units * k / parts, units * (k + 1) / parts),
                         std::memory_order_relaxed);
    }
  }
  TeamParts(const TeamParts&) = delete;
  TeamParts& operator=(const TeamParts&) = delete;

  int count() const { return count_; }

  // The next unit for the thread in `slot` (any value from 0): from the front of its own part
  // (part `slot`, if there is one), then from the backs of the others', each in turn from the
  // next part on. `cursor` starts at 0 and keeps the thread's place. False when every part is
  // empty. Any number of threads may claim at once; each unit goes to one.
  bool next(int slot, int& cursor, std::uint64_t& unit) {
    if (cursor == 0) {
      if (slot < count_ && take(slot, true, unit)) return true;
      cursor = 1;
    }
    for (; cursor <= count_; ++cursor) {
      if (take((slot + cursor) % count_, false, unit)) return true;
    }
    return false;
  }

  // No claim succeeds after this.
  void clear() {
    for (int k = 0; k < count_; ++k) part_span(k).store(0, std::memory_order_relaxed);
  }

 private:
  static std::uint64_t pack(std::uint64_t lo, std::uint64_t hi) { return lo | hi << 32; }
  static std::uint64_t lo(std::uint64_t span) { return span & 0xffffffffu; }
  static std::uint64_t hi(std::uint64_t span) { return span >> 32; }

  // Takes the first unit of `part` (its owner's claim) or the last (a helper's).
  bool take(int part, bool first, std::uint64_t& unit) {
    std::uint64_t span = part_span(part).load(std::memory_order_relaxed);
    while (lo(span) < hi(span)) {
      const std::uint64_t rest =
          first ? pack(lo(span) + 1, hi(span)) : pack(lo(span), hi(span) - 1);
      if (part_span(part).compare_exchange_weak(span, rest, std::memory_order_relaxed)) {
        unit = first ? lo(span) : hi(span) - 1;
        return true;
      }
    }
    return false;
  }

  // Part k's span [lo, hi) of units not yet claimed: one word, kSpacing words (128 bytes) from
  // the next part's and from whatever lies around the parts. So an owner's claims stay in its
  // core's cache, where parts sharing a line (or a pair of lines, which x86's adjacent-line
  // prefetch fetches together) would move it from core to core at every claim. Spaced rather
  // than each in an over-aligned type: ASan's fake stack frames misalign those (GCC 12).
  static constexpr std::size_t kSpacing = 128 / sizeof(std::uint64_t);
  std::atomic<std::uint64_t>& part_span(int part) {
    return words_[static_cast<std::size_t>(part + 1) * kSpacing];
  }
  std::atomic<std::uint64_t> words_[(kMaxParts + 2) * kSpacing];
  int count_;
};

}  // namespace corepy::ops::internal

#endif  // COREPY_OPS_INTERNAL_TEAM_PARTS_H_
