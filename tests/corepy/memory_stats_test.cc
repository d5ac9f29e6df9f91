// Process-wide memory stats, trim() and the shrink policy of self-tuned arenas.
#include "corepy/memory_stats.h"

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/barrier.h"
#include "absl/synchronization/notification.h"
#include "allocators/failing_resource.h"
#include "corepy/arena.h"
#include "corepy/config.h"
#include "corepy/internal/shrink_policy.h"
#include "corepy/registry.h"
#include "gtest/gtest.h"

namespace corepy {
namespace {

using ::corepy::testing::FailingResource;

// The upstream the tests' arenas use, to count every call they make.
FailingResource& counted_upstream() {
  static FailingResource* r = [] {
    auto* resource = new FailingResource(std::pmr::new_delete_resource());
    const absl::Status s = register_allocator("counted", [resource](const AllocatorArgs&) {
      return std::shared_ptr<std::pmr::memory_resource>(resource, [](auto*) {});
    });
    EXPECT_TRUE(s.ok()) << s;
    return resource;
  }();
  return *r;
}

class MemoryStatsTest : public ::testing::Test {
 protected:
  void TearDown() override { reset_configuration(); }
  static void configure_arena(std::size_t size, std::size_t max_size, std::uint64_t shrink_after) {
    counted_upstream();
    Options o;
    o.allocator = "arena(upstream=counted)";
    o.arena_size = size;
    o.arena_max_size = max_size;
    o.arena_shrink_after = shrink_after;
    ASSERT_TRUE(configure(o).ok());
  }
};

// One scope that uses `bytes` of its arena.
void scope_using(std::size_t bytes) {
  with_arena([bytes](ArenaResource& arena) { (void)arena.allocate(bytes, 8); });
}

TEST_F(MemoryStatsTest, EveryLiveThreadIsCountedWithItsArenaAndTheSpecInForce) {
  configure_arena(64 << 10, 0, 64);
  constexpr int kThreads = 4;
  absl::Barrier* ready = new absl::Barrier(kThreads + 1);
  absl::Notification done;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      scope_using(1000 * (i + 1));  // peaks 1000 .. 4000, no spill
      if (ready->Block()) delete ready;
      done.WaitForNotification();
    });
  }
  if (ready->Block()) delete ready;
  const MemoryStats m = memory_stats();
  done.Notify();
  for (std::thread& t : threads) t.join();
  EXPECT_GE(m.threads, static_cast<std::size_t>(kThreads));
  EXPECT_GE(m.capacity.sum, kThreads * std::size_t{64 << 10});
  EXPECT_EQ(m.capacity.max_per_thread, std::size_t{64 << 10});
  EXPECT_GE(m.peak.sum, std::size_t{1000 + 2000 + 3000 + 4000});
  EXPECT_GE(m.peak.max_per_thread, std::size_t{4000});
  EXPECT_EQ(m.spill_bytes.sum, 0u);
  EXPECT_EQ(m.allocator, "arena(upstream=counted)");
  // Exited threads are no longer counted.
  EXPECT_LT(memory_stats().threads, m.threads);
}

TEST_F(MemoryStatsTest, SpillsHeldOutsideAnyScopeAreSeenAndGoneOnceGivenBack) {
  configure_arena(4096, 0, 64);
  std::thread([] {
    ArenaResource& arena = thread_arena();
    void* p = arena.allocate(3000, 8);
    void* q = arena.allocate(20000, 8);  // does not fit: a spill chunk
    const MemoryStats held = memory_stats();
    EXPECT_GE(held.spill_chunks.max_per_thread, 1u);
    EXPECT_GE(held.spill_bytes.max_per_thread, 20000u);
    EXPECT_GE(held.used.max_per_thread, 3000u);
    arena.reset();
    (void)p;
    (void)q;
    const MemoryStats after = memory_stats();
    EXPECT_EQ(after.spill_bytes.max_per_thread, 0u);
    EXPECT_EQ(after.used.max_per_thread, 0u);
  }).join();
}

TEST_F(MemoryStatsTest, TrimShrinksTheCallingThreadAtOnceAndOthersAtTheirNextOutermostScope) {
  configure_arena(4096, 1 << 20, 0);  // shrink policy off: only trim() shrinks
  scope_using(100 << 10);             // spills; self-tuning grows the block
  ASSERT_GE(arena_stats().capacity, std::size_t{100 << 10});
  absl::Notification grown, trimmed;
  std::size_t capacity_before_scope = 0;
  std::size_t capacity_after_scope = 0;
  std::thread other([&] {
    scope_using(100 << 10);
    grown.Notify();
    trimmed.WaitForNotification();
    capacity_before_scope = arena_stats().capacity;  // not trimmed yet: no scope ran
    scope_using(16);
    capacity_after_scope = arena_stats().capacity;
  });
  grown.WaitForNotification();
  trim();
  EXPECT_EQ(arena_stats().capacity, 4096u);  // the calling thread: at once
  trimmed.Notify();
  other.join();
  EXPECT_GE(capacity_before_scope, std::size_t{100 << 10});
  EXPECT_EQ(capacity_after_scope, 4096u);
}

TEST_F(MemoryStatsTest, TrimInsideAScopeWaitsForTheOutermostClose) {
  configure_arena(4096, 1 << 20, 0);
  scope_using(100 << 10);
  ASSERT_GT(arena_stats().capacity, 4096u);
  {
    ArenaScope outer;
    trim();
    EXPECT_GT(arena_stats().capacity, 4096u);
  }
  EXPECT_EQ(arena_stats().capacity, 4096u);
}

TEST_F(MemoryStatsTest, TrimLeavesAnArenaThatHoldsMemoryOutsideAnyScope) {
  configure_arena(4096, 1 << 20, 0);
  std::thread([] {
    scope_using(100 << 10);
    const std::size_t grown = arena_stats().capacity;
    void* p = thread_arena().allocate(64, 8);
    trim();
    EXPECT_EQ(arena_stats().capacity, grown);  // cannot move what is in use
    thread_arena().deallocate(p, 64, 8);
    trim();
    EXPECT_EQ(arena_stats().capacity, 4096u);
  }).join();
}

TEST_F(MemoryStatsTest, AQuietSelfTunedBlockHalvesEveryNScopesDownToTheConfiguredSize) {
  configure_arena(16 << 10, 1 << 20, 4);
  std::thread([] {
    scope_using(200 << 10);
    const std::size_t grown = arena_stats().capacity;
    ASSERT_EQ(grown, std::size_t{256} << 10);
    for (int i = 0; i < 3; ++i) scope_using(1000);
    EXPECT_EQ(arena_stats().capacity, grown);  // three quiet scopes: not yet
    scope_using(1000);
    EXPECT_EQ(arena_stats().capacity, grown / 2);
    scope_using(grown / 4);  // a quarter of the new block or more: the count starts again
    for (int i = 0; i < 3; ++i) scope_using(1000);
    EXPECT_EQ(arena_stats().capacity, grown / 2);
    for (int i = 0; i < 100; ++i) scope_using(1000);
    EXPECT_EQ(arena_stats().capacity, std::size_t{16} << 10);  // never below the configured size
  }).join();
}

TEST_F(MemoryStatsTest, ShrinkAfterZeroKeepsTheGrownBlock) {
  configure_arena(16 << 10, 1 << 20, 0);
  std::thread([] {
    scope_using(200 << 10);
    const std::size_t grown = arena_stats().capacity;
    for (int i = 0; i < 1000; ++i) scope_using(1000);
    EXPECT_EQ(arena_stats().capacity, grown);
  }).join();
}

// One large scope then `small` small ones, `periods` times, on a fresh thread; returns the
// upstream calls it made.
std::size_t alternating_workload(int periods, int small) {
  const std::size_t before = counted_upstream().allocations_attempted();
  std::thread([&] {
    for (int p = 0; p < periods; ++p) {
      scope_using(200 << 10);
      for (int i = 0; i < small; ++i) scope_using(1000);
    }
  }).join();
  return counted_upstream().allocations_attempted() - before;
}

TEST_F(MemoryStatsTest, AWorkloadThatAlternatesLargeAndSmallScopesDoesNotOscillate) {
  constexpr int kPeriods = 400;
  constexpr int kSmall = 50;
  // Without the policy: the block grows once and stays.
  configure_arena(16 << 10, 1 << 20, 0);
  const std::size_t never_shrink = alternating_workload(kPeriods, kSmall);
  // shrink_after 4, far below the period of 51 scopes: a policy without backoff would shrink to
  // the configured size and grow again in every period (6 halvings and a spill and a growth,
  // 8+ calls a period, 3200+ in all).
  configure_arena(16 << 10, 1 << 20, 4);
  const std::size_t with_policy = alternating_workload(kPeriods, kSmall);
  std::printf("upstream calls over %d periods of 1 large + %d small scopes: %zu never shrinking, "
              "%zu with arena_shrink_after=4\n",
              kPeriods, kSmall, never_shrink, with_policy);
  EXPECT_LE(never_shrink, 4u);
  EXPECT_LE(with_policy, never_shrink + 40);  // a few shrinks while the patience doubles
}

TEST(ShrinkPolicyTest, AGrowthAfterAShrinkDoublesThePatience) {
  internal::ShrinkPolicy p;
  const std::size_t cap = 1 << 20;
  const std::size_t base = 1 << 16;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(p.after_scope(0, cap, base, 4), 0u);
  EXPECT_EQ(p.after_scope(0, cap, base, 4), cap / 2);
  p.on_grow();
  EXPECT_EQ(p.backoff(), 1u);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(p.after_scope(0, cap, base, 4), 0u);
  EXPECT_EQ(p.after_scope(0, cap, base, 4), cap / 2);
  EXPECT_EQ(p.after_scope(0, base, base, 4), 0u);  // at the configured size: never
}

TEST(ShrinkPolicyTest, ABadShrinkAfterIsNamedAndNothingChanges) {
  EXPECT_FALSE(parse_shrink_after("-1").ok());
  EXPECT_FALSE(parse_shrink_after("ten").ok());
  EXPECT_FALSE(parse_shrink_after("").ok());
  EXPECT_EQ(*parse_shrink_after(" 12 "), 12u);
  const absl::StatusOr<std::uint64_t> big = parse_shrink_after("99999999999999");
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("arena_shrink_after"), std::string::npos);
  Options o;
  o.arena_shrink_after = kMaxShrinkAfter + 1;
  const std::uint64_t before = settings().arena_shrink_after;
  EXPECT_FALSE(configure(o).ok());
  EXPECT_EQ(settings().arena_shrink_after, before);
}

// Readers race with threads that spill, grow and rewind; TSan checks there is no data race.
TEST_F(MemoryStatsTest, ReadingWhileThreadsSpillAndGrowIsRaceFree) {
  configure_arena(4096, 256 << 10, 2);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; !stop.load(std::memory_order_relaxed) && round < 2000; ++round) {
        scope_using(round % 7 == 0 ? (50 << 10) * (i + 1) : 100);
        if (round % 100 == 0) trim();
      }
    });
  }
  std::size_t seen = 0;
  for (int i = 0; i < 200; ++i) seen += memory_stats().threads;
  stop = true;
  for (std::thread& t : threads) t.join();
  EXPECT_GT(seen, 0u);
}

}  // namespace
}  // namespace corepy
