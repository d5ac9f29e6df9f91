// ArenaResource through the shared resource suite, and at every failure point of its upstream.
// (The arena's own unit tests live beside it in arena_resource_test.cc.)
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <memory_resource>
#include <new>
#include <vector>

#include "allocators/arena_resource.h"
#include "allocators/failing_resource.h"
#include "allocators/upstream_resources.h"
#include "gtest/gtest.h"
#include "tests/allocators/resource_test_suite.h"

namespace corepy {
namespace {

using ::corepy::testing::FailingResource;
using ::corepy::testing::for_each_failure_point;
using ::corepy::testing::ResourceCase;
using ::corepy::testing::ResourceTest;

// An arena bumping through a caller's buffer, which must live as long as the arena.
struct ArenaOnBuffer {
  explicit ArenaOnBuffer(std::size_t size)
      : buffer(new unsigned char[size]), arena(buffer.get(), size, new_delete_upstream()) {}
  std::unique_ptr<unsigned char[]> buffer;
  ArenaResource arena;
};

// The arenas are built over new_delete_upstream() rather than their default upstream: under the
// sanitizers, the throwing operator new behind std::pmr::new_delete_resource() aborts on a huge
// request instead of throwing std::bad_alloc, and the huge-size test would end the binary.
INSTANTIATE_TEST_SUITE_P(
    Arena, ResourceTest,
    ::testing::Values(
        ResourceCase{"Capacity4KiB",
                     [] { return std::make_shared<ArenaResource>(4096, new_delete_upstream()); },
                     {}},
        ResourceCase{"DefaultCapacity",
                     [] {
                       return std::make_shared<ArenaResource>(ArenaResource::kDefaultCapacity,
                                                              new_delete_upstream());
                     },
                     {}},
        ResourceCase{"NoBlock",
                     [] { return std::make_shared<ArenaResource>(0, new_delete_upstream()); },
                     {}},
        ResourceCase{"CallerBuffer4KiB",
                     [] {
                       auto holder = std::make_shared<ArenaOnBuffer>(4096);
                       return std::shared_ptr<std::pmr::memory_resource>(holder, &holder->arena);
                     },
                     {}}),
    corepy::testing::ResourceCaseName);

void expect_stats_eq(const ArenaStats& a, const ArenaStats& b) {
  EXPECT_EQ(a.used, b.used);
  EXPECT_EQ(a.capacity, b.capacity);
  EXPECT_EQ(a.peak, b.peak);
  EXPECT_EQ(a.overflow_count, b.overflow_count);
  EXPECT_EQ(a.overflow_bytes, b.overflow_bytes);
}

struct Request {
  std::size_t bytes;
  std::size_t alignment;
};

// Fits the 256-byte block, then spills into a first chunk, a second one, an oversized one and
// an over-aligned one.
constexpr Request kMix[] = {{100, 8}, {300, 8},      {50, 16},  {5000, 8},  {64, 64},
                            {1, 1},   {10000, 4096}, {3000, 8}, {20000, 32}};

// Every upstream allocation the arena makes fails once, in a run of its own: each time, the
// failed call changes nothing the stats show, the arena is still usable, and once the arena is
// gone, the upstream has all its memory back.
TEST(ArenaResource, ConsistentAndLeakFreeAtEveryFailurePoint) {
  FailingResource failing(new_delete_upstream());
  const int points = for_each_failure_point(failing, [&](int n) {
    SCOPED_TRACE(n);
    try {
      ArenaResource arena(256, &failing);  // the block itself is failure point 0
      auto use_mix = [&] {
        for (const Request& r : kMix) {
          SCOPED_TRACE(::testing::Message() << r.bytes << " bytes, alignment " << r.alignment);
          const ArenaStats before = arena.stats();
          void* p = nullptr;
          try {
            p = arena.allocate(r.bytes, r.alignment);
          } catch (const std::bad_alloc&) {
            expect_stats_eq(arena.stats(), before);
            // Still usable: the failure was one-shot, so the same request now succeeds.
            void* q = arena.allocate(r.bytes, r.alignment);
            EXPECT_EQ(reinterpret_cast<std::uintptr_t>(q) % r.alignment, 0u);
            std::memset(q, 0x5a, r.bytes);
            throw;
          }
          EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % r.alignment, 0u);
          std::memset(p, 0xa5, r.bytes);
        }
      };
      const ArenaResource::Marker start = arena.mark();
      use_mix();
      EXPECT_GT(arena.stats().overflow_bytes, 0u) << "the mix is meant to spill";
      arena.rewind(start);
      EXPECT_EQ(arena.stats().overflow_bytes, 0u) << "rewind gives the spills back";
      EXPECT_EQ(failing.bytes_in_use(), 256u) << "only the block is left";
      use_mix();  // spills again after a rewind: more failure points
      arena.reset();
      EXPECT_EQ(arena.stats().used, 0u);
      EXPECT_EQ(arena.stats().overflow_bytes, 0u);
    } catch (const std::bad_alloc&) {
      EXPECT_EQ(failing.bytes_in_use(), 0u);
      EXPECT_EQ(failing.allocations_in_use(), 0u);
      throw;
    }
    EXPECT_EQ(failing.bytes_in_use(), 0u);
    EXPECT_EQ(failing.allocations_in_use(), 0u);
  });
  // The block, then at least one chunk per pass for the oversized requests.
  EXPECT_GE(points, 1 + 2 * 3 + 1);
}

}  // namespace
}  // namespace corepy
