// Thread-local arena scopes: rewinding on return and on throw, nesting, spills inside scopes,
// per-scope figures, one arena per thread (released at thread exit, spills included),
// configuration changes and self-tuning.
#include "corepy/arena.h"

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "allocators/failing_resource.h"
#include "corepy/config.h"
#include "corepy/dispatch.h"
#include "corepy/registry.h"
#include "gtest/gtest.h"

namespace corepy {
namespace {

using ::corepy::testing::FailingResource;

// The upstream the tests' arenas use, to count every byte they take.
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

class ArenaScopeTest : public ::testing::Test {
 protected:
  void SetUp() override { configure_arena("arena(upstream=counted)", 4096, 0); }
  void TearDown() override { reset_configuration(); }
  static void configure_arena(const char* spec, std::size_t size, std::size_t max_size) {
    counted_upstream();
    Options o;
    o.allocator = spec;
    o.arena_size = size;
    o.arena_max_size = max_size;
    ASSERT_TRUE(configure(o).ok());
  }
};

TEST_F(ArenaScopeTest, WithArenaReturnsWhatFReturnsAndRewinds) {
  std::thread([] {
    const std::size_t before = arena_stats().used;
    const int r = with_arena([](ArenaResource& arena) {
      (void)arena.allocate(100, 8);
      EXPECT_GE(arena.stats().used, 100u);
      return 42;
    });
    EXPECT_EQ(r, 42);
    EXPECT_EQ(arena_stats().used, before);
    int x = 0;
    int& ref = with_arena([&x](ArenaResource&) -> int& { return x; });
    EXPECT_EQ(&ref, &x);  // decltype(auto): references come back as references
  }).join();
}

TEST_F(ArenaScopeTest, AnExceptionRewindsTooSpillsIncluded) {
  std::thread([] {
    EXPECT_THROW(with_arena([](ArenaResource& arena) {
                   (void)arena.allocate(100, 8);
                   (void)arena.allocate(64 << 10, 8);  // spills
                   throw std::runtime_error("kernel failed");
                 }),
                 std::runtime_error);
    const ArenaStats s = arena_stats();
    EXPECT_EQ(s.used, 0u);
    EXPECT_EQ(s.overflow_bytes, 0u);
    EXPECT_EQ(s.overflow_count, 1u);
  }).join();
}

TEST_F(ArenaScopeTest, NestedScopesShareTheArenaAndEachRewindsToItsStart) {
  std::thread([] {
    with_arena([](ArenaResource& outer) {
      (void)outer.allocate(100, 1);
      with_arena([&outer](ArenaResource& inner) {
        EXPECT_EQ(&inner, &outer);
        (void)inner.allocate(200, 1);
        EXPECT_EQ(inner.stats().used, 320u);  // 112 + 208: each request rounded up to 16
      });
      EXPECT_EQ(outer.stats().used, 112u);
      {
        ArenaScope scope;
        EXPECT_EQ(&scope.arena(), &outer);
        (void)scope.arena().allocate(50, 1);
        EXPECT_EQ(outer.stats().used, 176u);
      }
      EXPECT_EQ(outer.stats().used, 112u);
    });
    EXPECT_EQ(arena_stats().used, 0u);
    EXPECT_EQ(arena_stats().peak, 320u);
  }).join();
}

TEST_F(ArenaScopeTest, AScopeReportsItsPeakAndSpills) {
  std::thread([] {
    ArenaScope outer;
    (void)outer.arena().allocate(1000, 1);
    {
      ArenaScope inner;
      (void)inner.arena().allocate(500, 1);
      (void)inner.arena().allocate(32 << 10, 1);  // spills: the block is 4 KiB
      const ScopeStats s = inner.stats();
      EXPECT_EQ(s.peak, 512u);
      EXPECT_EQ(s.spills, 1u);
      EXPECT_GE(s.spill_bytes, 32u << 10);
    }
    const ScopeStats s = outer.stats();
    EXPECT_EQ(s.peak, 1520u);  // the inner scope's peak counts in the outer one
    EXPECT_EQ(s.spills, 1u);
    EXPECT_GE(s.spill_bytes, 32u << 10);
    EXPECT_EQ(outer.arena().stats().overflow_bytes, 0u);  // but the spill is gone
  }).join();
}

TEST_F(ArenaScopeTest, EachThreadOwnsAnArenaAndReturnsEverythingWhenItExits) {
  FailingResource& upstream = counted_upstream();
  const std::size_t baseline = upstream.bytes_in_use();
  std::vector<ArenaResource*> arenas(8, nullptr);
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([i, &arenas, &started] {
      arenas[i] = &thread_arena();
      // All eight arenas exist at once (a finished thread's address could be reused).
      started.fetch_add(1);
      while (started.load() < 8) std::this_thread::yield();
      // Outside any scope, so still held when the thread exits: block and spills.
      (void)thread_arena().allocate(100, 8);
      (void)thread_arena().allocate(100 << 10, 8);
      (void)thread_arena().allocate(5 << 10, 8);
      EXPECT_EQ(arena_stats().capacity, 4096u);
      EXPECT_GE(arena_stats().overflow_count, 1u);
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < 8; ++i) {
    for (int j = i + 1; j < 8; ++j) EXPECT_NE(arenas[i], arenas[j]);
  }
  EXPECT_EQ(upstream.bytes_in_use(), baseline);
}

TEST_F(ArenaScopeTest, ANewConfigurationTakesEffectAtTheNextOutermostScope) {
  std::thread([] {
    with_arena([](ArenaResource& arena) {
      EXPECT_EQ(arena.capacity(), 4096u);
      configure_arena("arena(upstream=counted)", 8192, 0);
      with_arena([&arena](ArenaResource& inner) {
        EXPECT_EQ(&inner, &arena);  // not inside an open scope
        EXPECT_EQ(inner.capacity(), 4096u);
      });
    });
    with_arena([](ArenaResource& arena) { EXPECT_EQ(arena.capacity(), 8192u); });
    EXPECT_EQ(arena_stats().capacity, 8192u);
  }).join();
}

// A thread whose scopes run inline (its arena made, nothing pending) is told of another
// thread's configure(): whatever it was doing meanwhile, its first outermost scope after it
// learns of the call (here through `stop`) is in the new configuration.
TEST_F(ArenaScopeTest, AnotherThreadsNewConfigurationReachesAThreadWhoseScopesRunInline) {
  std::atomic<bool> started{false};
  std::atomic<bool> stop{false};
  std::size_t last_capacity = 0;
  std::thread worker([&] {
    with_arena([](ArenaResource& arena) { EXPECT_EQ(arena.capacity(), 4096u); });
    started.store(true);
    while (!stop.load()) {
      with_arena([](ArenaResource& arena) {
        with_arena([&arena](ArenaResource& inner) { EXPECT_EQ(&inner, &arena); });
        void* p = arena.allocate(64);
        EXPECT_NE(p, nullptr);
      });
    }
    with_arena([&](ArenaResource& arena) { last_capacity = arena.capacity(); });
  });
  while (!started.load()) std::this_thread::yield();
  for (int i = 0; i < 100; ++i) {
    configure_arena("arena(upstream=counted)", i % 2 == 0 ? 8192 : 4096, 0);
  }
  configure_arena("arena(upstream=counted)", 16384, 0);
  stop.store(true);
  worker.join();
  EXPECT_EQ(last_capacity, 16384u);
}

TEST_F(ArenaScopeTest, SelfTuningGrowsASpillingArenaUntilItStopsSpilling) {
  configure_arena("arena(upstream=counted)", 4096, 1 << 20);
  std::thread([] {
    std::vector<std::size_t> spills;
    for (int round = 0; round < 4; ++round) {
      ArenaScope scope;
      for (int i = 0; i < 40; ++i) (void)scope.arena().allocate(1000, 8);  // ~40 KB a round
      spills.push_back(scope.stats().spills);
    }
    EXPECT_GT(spills[0], 0u);
    EXPECT_EQ(spills[2], 0u);
    EXPECT_EQ(spills[3], 0u);
    EXPECT_GE(arena_stats().capacity, 40000u);
    EXPECT_LE(arena_stats().capacity, 1u << 20);
  }).join();
}

TEST_F(ArenaScopeTest, SelfTuningNeverGrowsPastItsMaximum) {
  configure_arena("arena(upstream=counted, max_size=16KiB)", 4096, 0);
  std::thread([] {
    for (int round = 0; round < 3; ++round) {
      with_arena([](ArenaResource& arena) { (void)arena.allocate(100 << 10, 8); });
    }
    EXPECT_EQ(arena_stats().capacity, 16u << 10);
  }).join();
}

TEST_F(ArenaScopeTest, WithoutSelfTuningTheArenaKeepsItsSize) {
  std::thread([] {
    for (int round = 0; round < 3; ++round) {
      with_arena([](ArenaResource& arena) { (void)arena.allocate(100 << 10, 8); });
    }
    EXPECT_EQ(arena_stats().capacity, 4096u);
  }).join();
}

TEST_F(ArenaScopeTest, AnUpstreamThatRefusesTheArenaIsBadAllocAndTheNextCallWorks) {
  std::thread([] {
    counted_upstream().fail_at(0);  // the thread's arena block
    EXPECT_THROW(with_arena([](ArenaResource&) { return 0; }), std::bad_alloc);
    counted_upstream().fail_never();
    EXPECT_EQ(with_arena([](ArenaResource& a) { return a.capacity(); }), 4096u);
  }).join();
}

// Issue 10, defect 9: memory allocated on the thread's arena outside any scope kept a new
// configuration from taking effect on that thread, silently, and for good: once freed, its
// bytes lay below the point the scopes had rewound to, so deallocate() ignored them and the
// arena never looked empty again.
TEST_F(ArenaScopeTest, HeldMemoryDefersANewConfigurationSaysSoAndItsReleaseEndsTheWait) {
  std::thread([] {
    auto* held = new std::pmr::vector<char>(100, 'h', &thread_arena());  // outside any scope
    EXPECT_EQ(with_arena([](ArenaResource& a) { return a.capacity(); }), 4096u);
    configure_arena("arena(upstream=counted)", 8192, 0);
    ::testing::internal::CaptureStderr();
    EXPECT_EQ(with_arena([](ArenaResource& a) { return a.capacity(); }), 4096u);
    const std::string err = ::testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("a new configuration waits on a thread whose arena holds memory "
                       "allocated outside any scope"),
              std::string::npos)
        << err;
    EXPECT_EQ(held->at(99), 'h');
    delete held;  // the newest allocation outside any scope: given back
    EXPECT_EQ(arena_stats().used, 0u);
    EXPECT_EQ(with_arena([](ArenaResource& a) { return a.capacity(); }), 8192u);
  }).join();
}

TEST(ScopesTest, ArenaScopesAndOpScopesNestAndEachRewindsExactlyToItsStart) {
  reset_configuration();
  std::thread([] {
    ArenaScope outer;
    (void)outer.arena().allocate(100, 8);
    const std::size_t at_op = thread_arena().used();
    {
      OpScope op(Op::kSumF32);  // the thread's arena: the op's one frame is on it
      ASSERT_EQ(&op.arena(), &thread_arena());
      (void)op.resource()->allocate(200, 8);
      const std::size_t at_inner = thread_arena().used();
      {
        ArenaScope inner;
        (void)inner.arena().allocate(5 << 20, 8);  // spills
        EXPECT_EQ(inner.stats().spills, 1u);
      }
      EXPECT_EQ(thread_arena().used(), at_inner);
      EXPECT_EQ(thread_arena().stats().overflow_bytes, 0u);
    }
    EXPECT_EQ(thread_arena().used(), at_op);
  }).join();
}

}  // namespace
}  // namespace corepy
