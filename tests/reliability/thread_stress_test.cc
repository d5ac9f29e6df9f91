// Thread stress of the runtime's scopes (issue #6, part 2), meant for --config=tsan and
// --config=asan as much as for the plain build.
//
// 32 threads, recreated every round, each run random trees of nested scopes (with_arena, and the
// dispatch layer's OpScope, whose resource is the per-thread stats(limit(arena)) chain) to depth
// 8. Each scope makes random allocations: sizes up to twice the 64 KiB thread arena (so they
// spill), alignments from 1 to 4096. Every allocation is filled with a cookie of its thread and
// its number, and every live allocation of the thread is checked before each scope rewinds:
// memory handed out twice, overlapping, or freed under a live scope shows. The arenas spill into
// a shared StatsResource over a shared LimitResource over a shared counting upstream, all built
// here and registered as the arena's upstream, so their counters can be read.
//
// Pass: every cookie intact; at the end of every round (its threads gone) the upstream's
// balance is exactly zero, and so are the shared adaptors' (the StatsResource saw no mismatched
// deallocation); the sanitizers report nothing. The work is a fixed number of scopes from fixed
// seeds, not a duration, so every run does the same; the figures (ops, ops/s) are printed.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <memory_resource>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "allocators/arena_resource.h"
#include "allocators/failing_resource.h"
#include "allocators/limit_resource.h"
#include "allocators/stats_resource.h"
#include "allocators/upstream_resources.h"
#include "corepy/arena.h"
#include "corepy/config.h"
#include "corepy/dispatch.h"
#include "corepy/registry.h"
#include "gtest/gtest.h"
#include "valgrind/valgrind.h"

namespace corepy::reliability {
namespace {

constexpr int kThreads = 32;
constexpr int kRounds = 6;
constexpr int kMaxDepth = 8;
constexpr std::size_t kArenaSize = std::size_t{64} << 10;
constexpr std::size_t kMaxAllocation = 2 * kArenaSize;
constexpr std::size_t kMaxAlignment = 4096;

// Trees of scopes per thread per round: fewer under Valgrind, which runs one thread at a time
// about fifty times slower.
int trees_per_thread() { return RUNNING_ON_VALGRIND ? 3 : 150; }

// The shared part: counting upstream, a limit over it, stats over that. Never destroyed: thread
// arenas give memory back to it until their threads have gone.
struct Shared {
  testing::FailingResource upstream{new_delete_upstream()};  // never armed: a counter
  LimitResource limit{std::size_t{1} << 30, &upstream};
  StatsResource stats{&limit};
};

Shared& shared() {
  static Shared* s = [] {
    auto* made = new Shared;
    const absl::Status r = register_allocator("rel_stress_shared", [made](const AllocatorArgs&) {
      return std::shared_ptr<std::pmr::memory_resource>(&made->stats, [](auto*) {});
    });
    EXPECT_TRUE(r.ok()) << r;
    return made;
  }();
  return *s;
}

struct Live {
  unsigned char* p;
  std::size_t bytes;
  unsigned char cookie;
};

struct Figures {
  std::atomic<std::uint64_t> scopes{0};
  std::atomic<std::uint64_t> allocations{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::uint64_t> corrupted{0};
};

// One thread's work: random trees of scopes, everything it allocated checked before each rewind.
class Worker {
 public:
  Worker(int thread, int round, Figures& figures)
      : gen_(static_cast<std::uint32_t>(round * 1000 + thread)),
        base_cookie_(static_cast<unsigned char>(thread * 8 + round)),
        figures_(figures) {}

  void run() {
    for (int t = 0; t < trees_per_thread(); ++t) scope(1);
    figures_.scopes += scopes_;
    figures_.allocations += allocations_;
    figures_.bytes += bytes_;
  }

 private:
  // One scope at `depth`: a with_arena, or an op's scope whose resource is the thread's
  // stats(limit(arena)) chain.
  void scope(int depth) {
    ++scopes_;
    if (pick(0, 3) == 0) {
      OpScope op(Op::kSumF32);
      body(depth, op.resource(), /*give_back=*/true);
    } else {
      with_arena([&](ArenaResource& arena) { body(depth, &arena, /*give_back=*/pick(0, 1) == 0); });
    }
  }

  void body(int depth, std::pmr::memory_resource* r, bool give_back) {
    const std::size_t first = live_.size();
    for (int i = pick(0, 3); i > 0; --i) allocate(r);
    if (depth < kMaxDepth) {
      for (int i = pick(0, 2); i > 0; --i) scope(depth + 1);
    }
    check_all();  // before this scope rewinds, whatever it and the scopes around it hold
    if (give_back) {
      // In LIFO order, as a pmr container would: the chain's StatsResource checks each one.
      while (live_.size() > first) {
        const Live& a = live_.back();
        r->deallocate(a.p, a.bytes, alignments_.back());
        live_.pop_back();
        alignments_.pop_back();
      }
    } else {
      live_.resize(first);  // the scope's rewind frees them
      alignments_.resize(first);
    }
  }

  void allocate(std::pmr::memory_resource* r) {
    // Sizes spread over every magnitude up to kMaxAllocation: mostly small, some spilling.
    const int magnitude = pick(0, 17);
    const std::size_t bytes = std::min<std::size_t>(
        kMaxAllocation, static_cast<std::size_t>(pick(0, (1 << magnitude))));
    const std::size_t alignment = std::size_t{1} << pick(0, 12);  // 1 .. 4096
    auto* p = static_cast<unsigned char*>(r->allocate(bytes, alignment));
    if (reinterpret_cast<std::uintptr_t>(p) % alignment != 0) {
      ADD_FAILURE() << "misaligned: " << static_cast<void*>(p) << " for alignment " << alignment;
    }
    const auto cookie = static_cast<unsigned char>(base_cookie_ + 37 * (allocations_ % 7) + 1);
    std::memset(p, cookie, bytes);
    live_.push_back(Live{p, bytes, cookie});
    alignments_.push_back(alignment);
    ++allocations_;
    bytes_ += bytes;
  }

  void check_all() {
    if (pattern_.size() < kMaxAllocation) pattern_.resize(kMaxAllocation);
    for (const Live& a : live_) {
      std::memset(pattern_.data(), a.cookie, a.bytes);
      if (std::memcmp(a.p, pattern_.data(), a.bytes) != 0) {
        figures_.corrupted++;
        ADD_FAILURE() << "cookie " << int{a.cookie} << " overwritten in " << a.bytes
                      << " bytes at " << static_cast<void*>(a.p);
      }
    }
  }

  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(gen_); }

  std::mt19937 gen_;
  const unsigned char base_cookie_;
  Figures& figures_;
  std::vector<Live> live_;
  std::vector<std::size_t> alignments_;
  std::vector<unsigned char> pattern_;
  std::uint64_t scopes_ = 0;
  std::uint64_t allocations_ = 0;
  std::uint64_t bytes_ = 0;
};

TEST(ThreadStressTest, NestedScopesOnManyThreadsLoseNothing) {
  Shared& s = shared();
  Options o;
  o.allocator = "stats(limit(arena(upstream=rel_stress_shared), max=1GiB))";
  o.arena_size = kArenaSize;
  o.arena_max_size = 0;  // no self-tuning: keep spilling every round
  ASSERT_TRUE(configure(o).ok());

  Figures figures;
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([t, round, &figures] { Worker(t, round, figures).run(); });
    }
    for (std::thread& t : threads) t.join();
    // Every thread has gone, and its arena with it: nothing may be left anywhere.
    EXPECT_EQ(s.upstream.bytes_in_use(), 0u) << "round " << round;
    EXPECT_EQ(s.upstream.allocations_in_use(), 0u) << "round " << round;
    EXPECT_EQ(s.limit.bytes_in_use(), 0u) << "round " << round;
    const StatsCounters c = s.stats.counters();
    EXPECT_EQ(c.bytes.value, 0u) << s.stats.leak_report();
    EXPECT_EQ(c.allocations.value, 0u);
    EXPECT_EQ(c.mismatches, 0u);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  reset_configuration();

  EXPECT_EQ(figures.corrupted.load(), 0u);
  // The run did what it is for: many spills through the shared chain on every round.
  const std::uint64_t upstream_calls = s.upstream.allocations_attempted();
  EXPECT_GT(upstream_calls, std::uint64_t{2} * kThreads * kRounds);
  EXPECT_LE(s.limit.peak_bytes(), s.limit.max_bytes());
  const std::uint64_t ops = figures.scopes + figures.allocations;
  std::printf(
      "thread stress: %d threads x %d rounds, %llu scopes + %llu allocations = %llu ops "
      "(%.1f MiB filled and checked), %llu upstream allocations (arena blocks and spills), "
      "peak %.1f MiB through the shared limit; %.3f s, %.0f ops/s\n",
      kThreads, kRounds, static_cast<unsigned long long>(figures.scopes.load()),
      static_cast<unsigned long long>(figures.allocations.load()),
      static_cast<unsigned long long>(ops), figures.bytes.load() / 1048576.0,
      static_cast<unsigned long long>(upstream_calls), s.limit.peak_bytes() / 1048576.0, seconds,
      ops / seconds);
}

}  // namespace
}  // namespace corepy::reliability
