// TeamParts (ops/internal/team_parts.h): how a team shares a split call's units. Each unit goes
// to exactly one claim, whatever the units, parts, slots and threads; a thread's own part comes
// first, front to back, then the others' from their backs; clear() ends the claims.
#include "ops/internal/team_parts.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace corepy::ops::internal {
namespace {

// Every claim the thread in `slot` makes, in order, with no other thread claiming.
std::vector<std::uint64_t> drain(TeamParts& parts, int slot) {
  std::vector<std::uint64_t> got;
  int cursor = 0;
  std::uint64_t unit = 0;
  while (parts.next(slot, cursor, unit)) got.push_back(unit);
  return got;
}

std::vector<std::uint64_t> range(std::uint64_t first, std::uint64_t last) {  // [first, last)
  std::vector<std::uint64_t> r;
  for (std::uint64_t u = first; u < last; ++u) r.push_back(u);
  return r;
}
std::vector<std::uint64_t> reversed(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> r;
  for (std::uint64_t u = last; u > first; --u) r.push_back(u - 1);
  return r;
}
std::vector<std::uint64_t> operator+(std::vector<std::uint64_t> a,
                                     const std::vector<std::uint64_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(TeamPartsTest, AThreadRunsItsOwnPartThenTheOthersFromTheirBacks) {
  {
    TeamParts parts(10, 2);
    EXPECT_EQ(drain(parts, 0), range(0, 5) + reversed(5, 10));
  }
  {
    TeamParts parts(10, 2);
    EXPECT_EQ(drain(parts, 1), range(5, 10) + reversed(0, 5));
  }
  {
    // Parts of 3, 3 and 4 units; slot 1 goes on to part 2, then part 0.
    TeamParts parts(10, 3);
    EXPECT_EQ(drain(parts, 1), range(3, 6) + reversed(6, 10) + reversed(0, 3));
  }
  {
    // A slot past the parts (a team larger than kMaxParts) owns none: it helps from the start.
    TeamParts parts(6, 2);
    EXPECT_EQ(drain(parts, 16), reversed(3, 6) + reversed(0, 3));
  }
}

TEST(TeamPartsTest, TwoThreadsInTurnEachKeepToTheirOwnPart) {
  TeamParts parts(8, 2);
  int cursor[2] = {0, 0};
  std::vector<std::uint64_t> got[2];
  std::uint64_t unit = 0;
  // Slot 1 claims twice as often: it finishes its part and takes slot 0's last units.
  for (bool any = true; any;) {
    any = false;
    if (parts.next(0, cursor[0], unit)) got[0].push_back(unit), any = true;
    for (int i = 0; i < 2; ++i) {
      if (parts.next(1, cursor[1], unit)) got[1].push_back(unit), any = true;
    }
  }
  EXPECT_EQ(got[0], range(0, 3));
  EXPECT_EQ(got[1], range(4, 8) + reversed(3, 4));
}

TEST(TeamPartsTest, ClearEndsEveryClaim) {
  TeamParts parts(100, 4);
  int cursor = 0;
  std::uint64_t unit = 0;
  ASSERT_TRUE(parts.next(2, cursor, unit));
  EXPECT_EQ(unit, 50u);
  parts.clear();
  for (int slot = 0; slot < 5; ++slot) {
    int c = 0;
    EXPECT_FALSE(parts.next(slot, c, unit)) << slot;
  }
}

// Units and parts across their range, the edges included: each unit claimed once, by one slot.
TEST(TeamPartsTest, EveryUnitOnceForAnyCountOfUnitsAndParts) {
  for (std::uint64_t units : {1u, 2u, 3u, 15u, 16u, 17u, 31u, 1000u}) {
    for (int n = 1; n <= TeamParts::kMaxParts; ++n) {
      for (int slot : {0, n - 1, n, TeamParts::kMaxParts, 1000}) {
        TeamParts parts(units, n);
        std::vector<int> seen(units, 0);
        for (std::uint64_t u : drain(parts, slot)) {
          ASSERT_LT(u, units);
          ++seen[u];
        }
        for (std::uint64_t u = 0; u < units; ++u) {
          ASSERT_EQ(seen[u], 1) << "unit " << u << " of " << units << ", " << n << " parts";
        }
      }
    }
  }
}

// The largest count the team hands TeamParts: the parts' bounds near 2^32 stay exact.
TEST(TeamPartsTest, TheLargestUnitCountKeepsItsBounds) {
  const std::uint64_t units = TeamParts::kMaxUnits - 1;
  for (int n : {1, 2, 3, 7, TeamParts::kMaxParts}) {
    TeamParts parts(units, n);
    for (int k = 0; k < n; ++k) {
      int cursor = 0;
      std::uint64_t unit = 0;
      ASSERT_TRUE(parts.next(k, cursor, unit));
      EXPECT_EQ(unit, units * k / n) << k << " of " << n;
      // The thread's next claim after its own part would be the next part's last unit.
      TeamParts fresh(units, n);
      int past = 1;  // as if its own part were done
      ASSERT_TRUE(fresh.next(k, past, unit));
      const int after = (k + 1) % n;
      EXPECT_EQ(unit, units * (after + 1) / n - 1) << k << " of " << n;
    }
  }
}

// Threads claiming at once, more threads than parts and fewer: each unit once.
TEST(TeamPartsTest, ThreadsClaimingAtOnceTakeEachUnitOnce) {
  for (int threads : {2, 4, 8}) {
    for (int n : {1, 2, 3, TeamParts::kMaxParts}) {
      const std::uint64_t units = 20000;
      TeamParts parts(units, n);
      auto seen = std::make_unique<std::atomic<int>[]>(units);
      std::atomic<bool> go{false};
      std::vector<std::thread> pool;
      for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
          while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
          int cursor = 0;
          std::uint64_t unit = 0;
          while (parts.next(t, cursor, unit)) seen[unit].fetch_add(1, std::memory_order_relaxed);
        });
      }
      go.store(true, std::memory_order_release);
      for (std::thread& t : pool) t.join();
      for (std::uint64_t u = 0; u < units; ++u) {
        ASSERT_EQ(seen[u].load(), 1)
            << "unit " << u << ", " << threads << " threads, " << n << " parts";
      }
    }
  }
}

}  // namespace
}  // namespace corepy::ops::internal
