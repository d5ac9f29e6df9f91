#include "allocators/limit_resource.h"

#include <atomic>
#include <cstddef>
#include <limits>
#include <memory>
#include <memory_resource>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "allocators/allocation_error.h"
#include "allocators/failing_resource.h"
#include "allocators/stats_resource.h"
#include "allocators/upstream_resources.h"
#include "gtest/gtest.h"
#include "tests/allocators/resource_test_suite.h"

namespace corepy {
namespace {

using ::corepy::testing::FailingResource;
using ::corepy::testing::for_each_failure_point;
using ::corepy::testing::Opaque;
using ::corepy::testing::ResourceTest;

INSTANTIATE_TEST_SUITE_P(
    Limit, ResourceTest,
    ::testing::Values(corepy::testing::ResourceCase{
        "OneGiBOverNewDelete",
        [] { return std::make_shared<LimitResource>(std::size_t{1} << 30, new_delete_upstream()); },
        [](std::pmr::memory_resource& r) {
          EXPECT_EQ(static_cast<LimitResource&>(r).bytes_in_use(), 0u);
        }}),
    corepy::testing::ResourceCaseName);

TEST(LimitResource, Accessors) {
  LimitResource limit(4096, new_delete_upstream());
  EXPECT_EQ(limit.max_bytes(), 4096u);
  EXPECT_EQ(limit.bytes_in_use(), 0u);
  EXPECT_EQ(limit.peak_bytes(), 0u);
  EXPECT_EQ(limit.upstream(), new_delete_upstream());
}

TEST(LimitResource, ServesUpToTheCapAndRefusesPastItWithoutAskingTheUpstream) {
  FailingResource upstream(new_delete_upstream());
  LimitResource limit(65536, &upstream);
  void* a = limit.allocate(4096, 8);
  EXPECT_EQ(limit.bytes_in_use(), 4096u);
  try {
    static_cast<void>(limit.allocate(65536, 8));
    ADD_FAILURE() << "allocated past the cap";
  } catch (const AllocationError& e) {
    EXPECT_EQ(e.bytes(), 65536u);
    EXPECT_EQ(e.alignment(), 8u);
    // The README's bad-input table quotes this message: keep the two the same.
    EXPECT_STREQ(e.what(),
                 "corepy::LimitResource cannot allocate 65536 bytes (alignment 8): limit of 65536 "
                 "bytes exceeded: 4096 bytes in use");
  }
  EXPECT_EQ(upstream.allocations_attempted(), 1u) << "the refused request reached the upstream";
  EXPECT_EQ(limit.bytes_in_use(), 4096u);

  void* rest = limit.allocate(65536 - 4096, 8);  // exactly to the cap
  EXPECT_EQ(limit.bytes_in_use(), 65536u);
  void* empty = limit.allocate(0, 8);  // nothing more is asked for
  EXPECT_THROW(static_cast<void>(limit.allocate(1, 1)), std::bad_alloc);
  EXPECT_EQ(upstream.allocations_attempted(), 3u);

  limit.deallocate(a, 4096, 8);
  EXPECT_EQ(limit.bytes_in_use(), 65536u - 4096u);
  void* again = limit.allocate(4096, 8);  // room again
  EXPECT_EQ(limit.peak_bytes(), 65536u);
  limit.deallocate(again, 4096, 8);
  limit.deallocate(empty, 0, 8);
  limit.deallocate(rest, 65536 - 4096, 8);
  EXPECT_EQ(limit.bytes_in_use(), 0u);
  EXPECT_EQ(upstream.bytes_in_use(), 0u);
}

TEST(LimitResource, ZeroCapServesOnlyEmptyRequests) {
  LimitResource limit(0, new_delete_upstream());
  void* p = limit.allocate(0, 16);
  EXPECT_THROW(static_cast<void>(limit.allocate(1, 1)), AllocationError);
  limit.deallocate(p, 0, 16);
}

TEST(LimitResource, UpstreamFailureGivesTheReservationBack) {
  FailingResource upstream(new_delete_upstream());
  LimitResource limit(1000, &upstream);
  upstream.fail_at(0);
  EXPECT_THROW(static_cast<void>(limit.allocate(1000, 8)), std::bad_alloc);
  EXPECT_EQ(limit.bytes_in_use(), 0u);
  EXPECT_EQ(limit.peak_bytes(), 0u);
  void* p = limit.allocate(1000, 8);  // the whole cap is still there
  limit.deallocate(p, 1000, 8);
}

TEST(LimitResource, HugeRequestsDoNotOverflowTheArithmetic) {
  constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
  FailingResource upstream(new_delete_upstream());
  LimitResource limit(kMax, &upstream);  // no cap: the upstream decides
  void* p = limit.allocate(100, 8);
  EXPECT_THROW(static_cast<void>(limit.allocate(Opaque(kMax - 99), 8)), AllocationError);
  EXPECT_EQ(upstream.allocations_attempted(), 1u) << "100 + (max - 99) is past the cap";
  // Within the cap: the upstream says no.
  EXPECT_THROW(static_cast<void>(limit.allocate(Opaque(kMax / 2), 8)), std::bad_alloc);
  EXPECT_EQ(upstream.allocations_attempted(), 2u);
  EXPECT_EQ(limit.bytes_in_use(), 100u);
  limit.deallocate(p, 100, 8);
}

TEST(LimitResource, BadAlignmentThrowsWithoutAskingTheUpstream) {
  FailingResource upstream(new_delete_upstream());
  LimitResource limit(1000, &upstream);
  EXPECT_THROW(static_cast<void>(limit.allocate(8, 3)), std::invalid_argument);
  EXPECT_THROW(static_cast<void>(limit.allocate(8, 0)), std::invalid_argument);
  EXPECT_EQ(upstream.allocations_attempted(), 0u);
  EXPECT_EQ(limit.bytes_in_use(), 0u);
}

TEST(LimitResource, NullUpstreamIsRejected) {
  EXPECT_THROW(LimitResource(10, nullptr), std::invalid_argument);
}

TEST(LimitResource, ConsistentAtEveryFailurePoint) {
  FailingResource failing(new_delete_upstream());
  const int points = for_each_failure_point(failing, [&](int n) {
    SCOPED_TRACE(n);
    try {
      LimitResource limit(10000, &failing);
      std::vector<std::pair<void*, std::size_t>> held;
      held.reserve(12);
      absl::Cleanup release = [&] {
        for (auto& [p, size] : held) limit.deallocate(p, size, 16);
      };
      for (std::size_t i = 0; i < 12; ++i) {  // 6720 bytes in all: under the cap
        const std::size_t bytes = 100 * i + 10;
        const std::size_t before = limit.bytes_in_use();
        try {
          held.emplace_back(limit.allocate(bytes, 16), bytes);
        } catch (const AllocationError& e) {
          EXPECT_EQ(limit.bytes_in_use(), before) << e.what();
          EXPECT_EQ(limit.bytes_in_use(), failing.bytes_in_use());
          throw;
        }
        EXPECT_EQ(limit.bytes_in_use(), failing.bytes_in_use());
      }
      // Past the cap: refused here, so no failure point of its own.
      const std::size_t attempted = failing.allocations_attempted();
      EXPECT_THROW(static_cast<void>(limit.allocate(4000, 16)), AllocationError);
      EXPECT_EQ(failing.allocations_attempted(), attempted);
    } catch (const std::bad_alloc&) {
      EXPECT_EQ(failing.bytes_in_use(), 0u);
      throw;
    }
    EXPECT_EQ(failing.bytes_in_use(), 0u);
  });
  // One upstream allocation per request, and a last run that meets no failure.
  EXPECT_EQ(points, 13);
}

// For ThreadSanitizer: threads racing for the same budget never take the upstream past it.
TEST(LimitResource, ManyThreadsNeverOvershootTheCap) {
  StatsResource upstream(new_delete_upstream());
  constexpr std::size_t kCap = 8 * 1024;  // less than one thread alone tends to hold
  LimitResource limit(kCap, &upstream);
  constexpr int kThreads = 4;
  constexpr int kIterations = 3000;
  std::atomic<int> refusals{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::pair<void*, std::size_t>> mine;
      for (int i = 0; i < kIterations; ++i) {
        const std::size_t bytes = static_cast<std::size_t>((i * 131 + t * 17) % 4000 + 1);
        try {
          void* p = limit.allocate(bytes, 8);
          static_cast<unsigned char*>(p)[bytes - 1] = 1;
          mine.emplace_back(p, bytes);
        } catch (const AllocationError&) {
          ++refusals;
        }
        if (mine.size() > 6 || (!mine.empty() && i % 3 == 0)) {
          limit.deallocate(mine.front().first, mine.front().second, 8);
          mine.erase(mine.begin());
        }
      }
      for (auto& [p, bytes] : mine) limit.deallocate(p, bytes, 8);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(limit.bytes_in_use(), 0u);
  EXPECT_LE(limit.peak_bytes(), kCap);
  EXPECT_LE(upstream.counters().bytes.peak, kCap) << "the upstream held more than the cap";
  EXPECT_GT(refusals.load(), 0) << "the test never pressed against the cap";
  EXPECT_EQ(upstream.counters().bytes.value, 0u);
}

}  // namespace
}  // namespace corepy
