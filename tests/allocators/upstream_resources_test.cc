#include "allocators/upstream_resources.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <memory_resource>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "allocators/allocation_error.h"
#include "allocators/failing_resource.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/allocators/resource_test_suite.h"

namespace corepy {
namespace {

using ::corepy::testing::FailingResource;
using ::corepy::testing::Opaque;
using ::corepy::testing::ResourceCase;
using ::corepy::testing::ResourceTest;
using ::corepy::testing::Unowned;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

INSTANTIATE_TEST_SUITE_P(
    Upstreams, ResourceTest,
    ::testing::Values(ResourceCase{"NewDelete", [] { return Unowned(new_delete_upstream()); }, {}},
                      ResourceCase{"ProcessPool", [] { return Unowned(pool_upstream()); }, {}},
                      ResourceCase{"OwnPool",
                                   [] {
                                     return std::shared_ptr<std::pmr::memory_resource>(
                                         make_pool_upstream());
                                   },
                                   {}}),
    corepy::testing::ResourceCaseName);

TEST(UpstreamByName, FindsEachNamedUpstream) {
  EXPECT_THAT(upstream_names(), ElementsAre("new_delete", "pool", "mimalloc"));
  EXPECT_EQ(*upstream_by_name("new_delete"), new_delete_upstream());
  EXPECT_EQ(*upstream_by_name("pool"), pool_upstream());
  EXPECT_EQ(*upstream_by_name(kPoolUpstream), pool_upstream());
}

TEST(UpstreamByName, UnknownNameIsInvalidArgumentQuotingItAndListingTheAcceptedOnes) {
  for (absl::string_view bad : {"jemalloc", "", "Mimalloc", " pool", "new_delete\n"}) {
    absl::StatusOr<std::pmr::memory_resource*> r = upstream_by_name(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(),
                HasSubstr("the accepted names are new_delete, pool, mimalloc"));
  }
  EXPECT_THAT(upstream_by_name("jemalloc").status().message(),
              HasSubstr("unknown upstream resource \"jemalloc\""));
  EXPECT_THAT(upstream_by_name("new_delete\n").status().message(), HasSubstr("\"new_delete\\n\""))
      << "control characters are escaped";
}

TEST(Upstreams, AreProcessWideSingletons) {
  EXPECT_EQ(new_delete_upstream(), new_delete_upstream());
  EXPECT_EQ(pool_upstream(), pool_upstream());
  EXPECT_NE(new_delete_upstream(), std::pmr::new_delete_resource());
  EXPECT_FALSE(new_delete_upstream()->is_equal(*pool_upstream()));
  EXPECT_EQ(static_cast<PoolUpstream*>(pool_upstream())->upstream(), new_delete_upstream());
}

TEST(Upstreams, RefusalsAreAllocationErrorsNamingTheResource) {
  constexpr std::size_t kHuge = std::numeric_limits<std::size_t>::max() - 8;
  struct Case {
    std::pmr::memory_resource* r;
    const char* name;
  };
  for (const Case& c : {Case{new_delete_upstream(), "corepy::new_delete_upstream"}}) {
    for (std::size_t alignment : {8, 64}) {
      try {
        static_cast<void>(c.r->allocate(Opaque(kHuge), alignment));
        ADD_FAILURE() << c.name << " served " << kHuge << " bytes";
      } catch (const AllocationError& e) {
        EXPECT_STREQ(e.resource(), c.name);
        EXPECT_EQ(e.bytes(), kHuge);
        EXPECT_EQ(e.alignment(), alignment);
      }
    }
  }
}

TEST(Upstreams, BadAlignmentMessageNamesTheResource) {
  try {
    static_cast<void>(new_delete_upstream()->allocate(8, 24));
    ADD_FAILURE() << "alignment 24 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("corepy::new_delete_upstream: alignment 24"));
  }
}

// mimalloc 2.0.9 misaligns these (microsoft/mimalloc#700), also behind the global operator new
// in a process that links or preloads it.
TEST(Upstreams, SizeEqualToAlignmentIsAligned) {
  for (std::pmr::memory_resource* r : {new_delete_upstream(), pool_upstream()}) {
    for (std::size_t alignment : {256, 512, 1024}) {
      for (int i = 0; i < 8; ++i) {
        void* p = r->allocate(alignment, alignment);
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % alignment, 0u) << alignment;
        r->deallocate(p, alignment, alignment);
      }
    }
  }
}

TEST(PoolUpstream, TakesFromItsUpstreamAndGivesEverythingBack) {
  FailingResource counting(new_delete_upstream());
  {
    std::pmr::pool_options options;
    options.largest_required_pool_block = 1024;
    std::unique_ptr<std::pmr::memory_resource> pool = make_pool_upstream(&counting, options);
    auto* typed = static_cast<PoolUpstream*>(pool.get());
    EXPECT_EQ(typed->upstream(), &counting);
    EXPECT_GE(typed->options().largest_required_pool_block, 1024u);
    std::vector<void*> small;
    for (int i = 0; i < 100; ++i) small.push_back(pool->allocate(32, 8));
    const std::size_t upstream_calls = counting.allocations_attempted();
    EXPECT_LT(upstream_calls, 50u) << "small blocks come from pools, not one by one";
    void* big = pool->allocate(100000, 64);  // past the largest pool: straight through
    EXPECT_GT(counting.allocations_attempted(), upstream_calls);
    pool->deallocate(big, 100000, 64);
    for (void* p : small) pool->deallocate(p, 32, 8);
    EXPECT_GT(counting.bytes_in_use(), 0u) << "a pool keeps its chunks until released";
    typed->release();
    EXPECT_EQ(counting.bytes_in_use(), 0u);
    void* again = pool->allocate(32, 8);  // usable after release
    pool->deallocate(again, 32, 8);
  }
  EXPECT_EQ(counting.bytes_in_use(), 0u) << "destroying the pool gives everything back";
}

// An upstream that refuses with a plain std::bad_alloc, as third-party resources do.
class PlainBadAllocResource final : public std::pmr::memory_resource {
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    if (bytes > 4096) throw std::bad_alloc();
    return new_delete_upstream()->allocate(bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) noexcept override {
    new_delete_upstream()->deallocate(p, bytes, alignment);
  }
  bool do_is_equal(const std::pmr::memory_resource& o) const noexcept override {
    return this == &o;
  }
};

TEST(PoolUpstream, AnyRefusalBecomesAnAllocationError) {
  PlainBadAllocResource refusing;  // lets the pool build its bookkeeping, refuses the rest
  PoolUpstream pool(&refusing);
  try {
    static_cast<void>(pool.allocate(100000, 8));
    ADD_FAILURE() << "served";
  } catch (const AllocationError& e) {
    EXPECT_STREQ(e.resource(), "corepy::PoolUpstream");
    EXPECT_EQ(e.bytes(), 100000u);
  }
}

TEST(PoolUpstream, NullUpstreamIsRejected) {
  EXPECT_THROW(PoolUpstream(nullptr), std::invalid_argument);
}

// For ThreadSanitizer: the shared upstreams are used by every thread's arena at once.
TEST(Upstreams, ManyThreads) {
  for (std::pmr::memory_resource* r : {new_delete_upstream(), pool_upstream()}) {
    std::vector<std::thread> threads;
    std::atomic<int> errors{0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([r, t, &errors] {
        std::vector<std::pair<unsigned char*, std::size_t>> held;
        for (int i = 0; i < 2000; ++i) {
          const std::size_t bytes = static_cast<std::size_t>((i * 37 + t) % 700 + 1);
          auto* p = static_cast<unsigned char*>(r->allocate(bytes, 16));
          p[0] = static_cast<unsigned char>(t);
          p[bytes - 1] = static_cast<unsigned char>(t);
          held.emplace_back(p, bytes);
          if (held.size() > 20) {
            auto [q, n] = held.front();
            if (q[0] != t || q[n - 1] != t) ++errors;
            r->deallocate(q, n, 16);
            held.erase(held.begin());
          }
        }
        for (auto [q, n] : held) r->deallocate(q, n, 16);
      });
    }
    for (std::thread& th : threads) th.join();
    EXPECT_EQ(errors.load(), 0);
  }
}

}  // namespace
}  // namespace corepy
