// ArenaResource at its boundaries: zero sizes, exact fill, alignment past the end, requests
// larger than the block, nested markers, rewind across spills, a caller's buffer, pmr containers
// growing through spills, bad requests, and exact stats. The upstream is a FailingResource that
// never fails, used for its exact byte count.
#include "allocators/arena_resource.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory_resource>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "allocators/allocation_error.h"
#include "allocators/failing_resource.h"
#include "allocators/internal/memory_annotations.h"
#include "allocators/upstream_resources.h"
#include "gtest/gtest.h"

namespace corepy {
namespace {

using ::corepy::testing::FailingResource;

std::uintptr_t address(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

bool in_range(const void* p, const void* begin, std::size_t size) {
  return address(p) >= address(begin) && address(p) < address(begin) + size;
}

class ArenaTest : public ::testing::Test {
 protected:
  FailingResource upstream_;  // counts bytes; fails only when a test arms it
};

TEST_F(ArenaTest, TakesItsBlockFromTheUpstreamAndGivesItBack) {
  {
    ArenaResource arena(4096, &upstream_);
    EXPECT_EQ(upstream_.bytes_in_use(), 4096u);
    EXPECT_EQ(arena.upstream(), &upstream_);
    const ArenaStats s = arena.stats();
    EXPECT_EQ(s.capacity, 4096u);
    EXPECT_EQ(s.used, 0u);
    EXPECT_EQ(s.peak, 0u);
    EXPECT_EQ(s.overflow_count, 0u);
    EXPECT_EQ(s.overflow_bytes, 0u);
  }
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

TEST_F(ArenaTest, ZeroSizeRequestsReturnAlignedNonNullPointers) {
  ArenaResource arena(256, &upstream_);
  void* a = arena.allocate(0, 1);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(arena.stats().used, 0u);
  void* b = arena.allocate(0, 64);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(address(b) % 64, 0u);

  ArenaResource empty(0, &upstream_);  // no block at all
  void* c = empty.allocate(0, 1);
  EXPECT_NE(c, nullptr);
  EXPECT_EQ(empty.stats().capacity, 0u);
}

TEST_F(ArenaTest, ExactFillStaysInTheBlockAndTheNextByteSpills) {
  ArenaResource arena(256, &upstream_);
  void* block = arena.allocate(256, 1);
  EXPECT_EQ(arena.stats().used, 256u);
  EXPECT_EQ(arena.stats().overflow_count, 0u);
  const std::size_t before = upstream_.bytes_in_use();

  void* spilled = arena.allocate(1, 1);
  EXPECT_FALSE(in_range(spilled, block, 256));
  const ArenaStats s = arena.stats();
  EXPECT_EQ(s.used, 256u);
  EXPECT_EQ(s.overflow_count, 1u);
  EXPECT_EQ(s.overflow_bytes, upstream_.bytes_in_use() - before);
  EXPECT_GE(s.overflow_bytes, ArenaResource::kMinChunk);
}

TEST_F(ArenaTest, AlignmentPastTheEndOfTheBlockSpills) {
  alignas(64) unsigned char buffer[128];
  ArenaResource arena(buffer, 100, &upstream_);
  void* first = arena.allocate(90, 1);
  EXPECT_EQ(first, buffer);
  // 8 bytes would fit after 90, but the next 64-aligned address is past the end.
  void* p = arena.allocate(8, 64);
  EXPECT_EQ(address(p) % 64, 0u);
  EXPECT_FALSE(in_range(p, buffer, sizeof(buffer)));
  EXPECT_EQ(arena.stats().used, 96u);
  EXPECT_EQ(arena.stats().overflow_count, 1u);
}

TEST_F(ArenaTest, EveryPowerOfTwoAlignmentUpTo4096InBlockAndSpills) {
  ArenaResource arena(8192, &upstream_);
  for (int round = 0; round < 3; ++round) {  // the block, then spill chunks
    for (std::size_t alignment = 1; alignment <= 4096; alignment *= 2) {
      void* p = arena.allocate(24, alignment);
      EXPECT_EQ(address(p) % alignment, 0u) << "alignment " << alignment;
      std::memset(p, 0xAB, 24);
    }
  }
  EXPECT_GT(arena.stats().overflow_count, 0u);
}

TEST_F(ArenaTest, PaddingCountsAsUsed) {
  ArenaResource arena(1024, &upstream_);
  (void)arena.allocate(1, 1);   // 1 byte, rounded up to kGranule (16)
  (void)arena.allocate(8, 64);  // the block starts 64-aligned: 48 bytes of padding, then 16
  EXPECT_EQ(arena.stats().used, 80u);
}

// Issue 15: every request takes its size rounded up to kGranule, so the bump pointer stays on
// that boundary; the rounding is padding in `used`, and deallocate() pops it with the request.
TEST_F(ArenaTest, ARequestTakesItsSizeRoundedToTheGranuleAndPoppingGivesItAllBack) {
  static_assert(ArenaResource::kGranule == 16);
  ArenaResource arena(1024, &upstream_);
  (void)arena.allocate(8, 8);
  const std::size_t before = arena.used();
  EXPECT_EQ(before, 16u);
  void* a = arena.allocate(24, 8);
  EXPECT_EQ(address(a) % 16, 0u);
  EXPECT_EQ(arena.used(), before + 32);
  void* b = arena.allocate(16, 16);
  EXPECT_EQ(static_cast<char*>(b), static_cast<char*>(a) + 32);
  EXPECT_EQ(arena.used(), before + 48);
  arena.deallocate(b, 16, 16);
  EXPECT_EQ(arena.used(), before + 32);
  arena.deallocate(a, 24, 8);
  EXPECT_EQ(arena.used(), before);
  EXPECT_EQ(arena.stats().peak, before + 48);
  // Every size from 0 to 64 at every alignment up to 64 lands on a 16-byte boundary, then
  // pops exactly.
  for (std::size_t alignment = 1; alignment <= 64; alignment *= 2) {
    for (std::size_t bytes = 0; bytes <= 64; ++bytes) {
      void* p = arena.allocate(bytes, alignment);
      EXPECT_EQ(address(p) % std::max<std::size_t>(alignment, 16), 0u)
          << bytes << ", " << alignment;
      EXPECT_EQ(arena.used() % 16, 0u) << bytes << ", " << alignment;
      arena.deallocate(p, bytes, alignment);
      EXPECT_GE(arena.used(), before);
      EXPECT_LT(arena.used(), before + std::max<std::size_t>(alignment, 16)) << bytes;
    }
  }
  // Through memory_resource* too (the alignment is not a constant there).
  std::pmr::memory_resource* resource = &arena;
  arena.reset();
  void* c = resource->allocate(24, 8);
  void* d = resource->allocate(16, 16);
  EXPECT_EQ(static_cast<char*>(d), static_cast<char*>(c) + 32);
  resource->deallocate(d, 16, 16);
  resource->deallocate(c, 24, 8);
  EXPECT_EQ(arena.used(), 0u);
}

// do_allocate() has a fast path of its own (the alignment is not a constant there): every
// request through memory_resource* lands where the concrete call puts it in an arena that went
// through the same requests, and every bad one fails the same way, in a block, at a caller's
// buffer's unaligned tail, and with no room left.
TEST_F(ArenaTest, ThroughAMemoryResourcePointerEveryRequestMatchesTheConcreteCall) {
  constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
  constexpr auto kPtrdiffMax = static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max());
  const std::pair<std::size_t, std::size_t> requests[] = {
      {0, 1},
      {1, 1},
      {15, 2},
      {16, 4},
      {17, 8},
      {24, 16},
      {0, 16},
      {33, 3},
      {8, 0},
      {8, 5},
      {8, 12},
      {kMax, 1},
      {kMax - 15, 16},
      {kPtrdiffMax, 8},
      {kPtrdiffMax + 1, 1},
      {1000, 8},
      {64, 16},
      {48, 16},
      {7, 1},
      {9, 1},
      {0, 8},
      {31, 16},
      {2, 2},
      // Last: above 16, where a request lands in a spill chunk depends on the chunk's address
      // (only 16-aligned), so nothing after it could be compared across the two arenas.
      {8, 32},
      {40, 64},
  };
  // What one request did: the offset from the arena's start (or the exception's type), and the
  // stats after.
  auto run = [&](void* buffer, std::size_t size, bool through_pointer) {
    ArenaResource arena(buffer, size, &upstream_);
    std::pmr::memory_resource* resource = &arena;
    const auto base = address(arena.allocate(0, 1));
    std::vector<std::string> seen;
    for (const auto& [bytes, alignment] : requests) {
      std::string what;
      try {
        void* p = through_pointer ? resource->allocate(bytes, alignment)
                                  : arena.allocate(bytes, alignment);
        what = in_range(p, buffer, size) ? std::to_string(address(p) - base) : "spilled";
        EXPECT_EQ(address(p) % std::max<std::size_t>(alignment, 1), 0u)
            << bytes << ", " << alignment;
      } catch (const std::invalid_argument&) {
        what = "invalid_argument";
      } catch (const AllocationError&) {
        what = "AllocationError";
      }
      const ArenaStats s = arena.stats();
      seen.push_back(what + " used=" + std::to_string(s.used) + " peak=" + std::to_string(s.peak) +
                     " spills=" + std::to_string(s.overflow_count));
    }
    arena.reset();
    return seen;
  };
  alignas(64) static unsigned char buffer[2048 + 64];
  for (const std::size_t size : {std::size_t{2048}, std::size_t{1000}, std::size_t{1203}}) {
    const std::vector<std::string> concrete = run(buffer, size, false);
    const std::vector<std::string> virtual_call = run(buffer, size, true);
    ASSERT_EQ(concrete.size(), virtual_call.size());
    for (std::size_t i = 0; i < concrete.size(); ++i) {
      EXPECT_EQ(virtual_call[i], concrete[i]) << "request " << i << " (" << requests[i].first
                                              << ", " << requests[i].second << "), buffer " << size;
    }
  }
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

// The rounding never spills a request that fits: at the block's end, the bump pointer stops
// at the end.
TEST_F(ArenaTest, ARequestThatFitsOnlyWithoutItsRoundingStaysInTheBlock) {
  alignas(64) unsigned char buffer[64];
  ArenaResource arena(buffer, 40, &upstream_);
  void* a = arena.allocate(16, 16);
  void* b = arena.allocate(20, 1);  // 20 fit in the 24 left; 32 would not
  EXPECT_EQ(static_cast<unsigned char*>(b), buffer + 16);
  EXPECT_EQ(arena.used(), 40u);
  EXPECT_EQ(arena.stats().overflow_count, 0u);
  arena.deallocate(b, 20, 1);  // still the newest: popped
  EXPECT_EQ(arena.used(), 16u);
  arena.deallocate(a, 16, 16);
  EXPECT_EQ(arena.used(), 0u);
  EXPECT_EQ(upstream_.allocations_attempted(), 0u);
}

// A caller's buffer that does not start on 16 bytes: the arena starts at its first 16-byte
// boundary, and its capacity says so.
TEST_F(ArenaTest, ACallersBufferOffTheGranuleStartsAtItsFirstBoundary) {
  alignas(64) unsigned char buffer[128];
  ArenaResource arena(buffer + 3, 100, &upstream_);
  EXPECT_EQ(arena.stats().capacity, 87u);
  EXPECT_EQ(arena.used(), 0u);
  EXPECT_EQ(arena.allocate(1, 1), buffer + 16);
  ArenaResource tiny(buffer + 3, 5, &upstream_);  // no boundary inside: no room at all
  EXPECT_EQ(tiny.stats().capacity, 0u);
  EXPECT_EQ(tiny.allocate(0, 1), buffer + 8);
  EXPECT_EQ(upstream_.allocations_attempted(), 0u);
}

TEST_F(ArenaTest, RequestLargerThanTheBlockGetsItsOwnChunkAndTheBlockKeepsServing) {
  ArenaResource arena(1024, &upstream_);
  void* small = arena.allocate(100, 8);
  const std::size_t big_size = 1 << 20;
  auto* big = static_cast<unsigned char*>(arena.allocate(big_size, 64));
  std::memset(big, 1, big_size);
  EXPECT_EQ(address(big) % 64, 0u);
  EXPECT_GE(arena.stats().overflow_bytes, big_size);
  EXPECT_EQ(arena.stats().overflow_count, 1u);
  // The block still has room, and small requests still go there.
  void* next = arena.allocate(100, 8);
  EXPECT_EQ(static_cast<char*>(next), static_cast<char*>(small) + 112);
  EXPECT_EQ(arena.stats().used, 224u);
  arena.reset();
  EXPECT_EQ(arena.stats().overflow_bytes, 0u);
  EXPECT_EQ(upstream_.bytes_in_use(), 1024u);
}

TEST_F(ArenaTest, NestedMarkersRewindExactlyToTheirPoints) {
  ArenaResource arena(4096, &upstream_);
  (void)arena.allocate(10, 1);
  const Marker outer = arena.mark();
  (void)arena.allocate(100, 1);
  const Marker inner = arena.mark();
  void* p = arena.allocate(200, 1);
  EXPECT_EQ(arena.stats().used, 336u);

  arena.rewind(inner);
  EXPECT_EQ(arena.stats().used, 128u);
  EXPECT_EQ(arena.allocate(200, 1), p);  // the same bytes come back
  arena.rewind(inner);                    // a live marker can be rewound to again
  EXPECT_EQ(arena.stats().used, 128u);

  arena.rewind(outer);
  EXPECT_EQ(arena.stats().used, 16u);
  EXPECT_EQ(arena.stats().peak, 336u);  // peak is not lowered
}

TEST_F(ArenaTest, RewindAcrossSpillsReturnsExactlyTheChunksTakenAfterTheMarker) {
  ArenaResource arena(1024, &upstream_);
  (void)arena.allocate(1000, 1);
  (void)arena.allocate(3000, 1);  // spill chunk 1
  const ArenaStats at_mark = arena.stats();
  const std::size_t upstream_at_mark = upstream_.bytes_in_use();
  const Marker m = arena.mark();
  for (int i = 0; i < 100; ++i) (void)arena.allocate(1000, 8);  // more chunks
  EXPECT_GT(arena.stats().overflow_count, at_mark.overflow_count);
  EXPECT_GT(upstream_.bytes_in_use(), upstream_at_mark);

  arena.rewind(m);
  EXPECT_EQ(arena.stats().overflow_bytes, at_mark.overflow_bytes);
  EXPECT_EQ(upstream_.bytes_in_use(), upstream_at_mark);
  EXPECT_EQ(arena.stats().used, at_mark.used);

  arena.reset();
  EXPECT_EQ(arena.stats().overflow_bytes, 0u);
  EXPECT_EQ(arena.stats().used, 0u);
  EXPECT_EQ(upstream_.bytes_in_use(), 1024u);
}

TEST_F(ArenaTest, MarkerTakenInASpillChunkRewindsWithinIt) {
  ArenaResource arena(64, &upstream_);
  (void)arena.allocate(64, 1);
  void* a = arena.allocate(16, 16);  // spills: now bumping through a chunk
  const Marker m = arena.mark();
  void* b = arena.allocate(16, 16);
  EXPECT_EQ(static_cast<char*>(b), static_cast<char*>(a) + 16);
  arena.rewind(m);
  EXPECT_EQ(arena.allocate(16, 16), b);
  EXPECT_EQ(arena.stats().overflow_count, 1u);
}

TEST_F(ArenaTest, ASteadySpillingRoundSettlesOnOneUpstreamCall) {
  ArenaResource arena(4096, &upstream_);
  std::size_t last_round_chunks = 0;
  for (int round = 0; round < 4; ++round) {
    const std::size_t before = arena.stats().overflow_count;
    for (int i = 0; i < 1024; ++i) (void)arena.allocate(64, 16);  // 64 KiB, 16x the block
    last_round_chunks = arena.stats().overflow_count - before;
    arena.reset();
  }
  EXPECT_EQ(last_round_chunks, 1u);
  EXPECT_EQ(upstream_.bytes_in_use(), 4096u);
}

TEST_F(ArenaTest, CallersBufferIsUsedAndNeverFreed) {
  alignas(64) unsigned char buffer[512];
  {
    ArenaResource arena(buffer, sizeof(buffer), &upstream_);
    EXPECT_EQ(upstream_.allocations_attempted(), 0u);
    void* p = arena.allocate(500, 1);
    EXPECT_TRUE(in_range(p, buffer, sizeof(buffer)));
    (void)arena.allocate(100, 1);  // spills to the upstream
    EXPECT_EQ(arena.stats().capacity, sizeof(buffer));
    EXPECT_GT(upstream_.bytes_in_use(), 0u);
  }
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);  // the spill went back; the buffer never came
  buffer[0] = 1;                            // and is still the caller's
}

TEST_F(ArenaTest, PmrContainersGrowThroughSpills) {
  ArenaResource arena(1024, &upstream_);
  {
    std::pmr::vector<int> values(&arena);
    std::pmr::string text(&arena);
    for (int i = 0; i < 100000; ++i) {
      values.push_back(i);
      if (i % 100 == 0) text += "corepy";
    }
    for (int i = 0; i < 100000; ++i) ASSERT_EQ(values[i], i);
    EXPECT_EQ(text.size(), 1000u * 6);
    EXPECT_GT(arena.stats().overflow_count, 0u);
  }
  arena.reset();
  EXPECT_EQ(upstream_.bytes_in_use(), 1024u);
}

TEST_F(ArenaTest, DeallocatingTheNewestAllocationGivesItsBytesBack) {
  ArenaResource arena(1024, &upstream_);
  (void)arena.allocate(10, 1);
  void* p = arena.allocate(20, 1);
  arena.deallocate(p, 20, 1);
  EXPECT_EQ(arena.stats().used, 16u);
  EXPECT_EQ(arena.stats().peak, 48u);
  void* q = arena.allocate(4, 1);
  arena.deallocate(arena.allocate(4, 1), 4, 1);
  arena.deallocate(q, 4, 1);  // now the newest again
  EXPECT_EQ(arena.stats().used, 16u);
}

TEST_F(ArenaTest, DeallocatingAnOlderAllocationWaitsForRewind) {
  ArenaResource arena(1024, &upstream_);
  void* p = arena.allocate(20, 1);
  (void)arena.allocate(20, 1);
  arena.deallocate(p, 20, 1);
  EXPECT_EQ(arena.stats().used, 64u);
}

TEST_F(ArenaTest, DeallocateNeverGoesBelowTheNewestMarker) {
  ArenaResource arena(1024, &upstream_);
  void* p = arena.allocate(20, 1);
  const Marker m = arena.mark();
  arena.deallocate(p, 20, 1);  // made before the marker: kept
  EXPECT_EQ(arena.stats().used, 32u);
  void* q = arena.allocate(30, 1);
  arena.rewind(m);
  EXPECT_EQ(arena.stats().used, 32u);
  EXPECT_EQ(arena.allocate(30, 1), q);
}

TEST_F(ArenaTest, BadAlignmentThrowsInvalidArgumentNamingItAndChangesNothing) {
  ArenaResource arena(1024, &upstream_);
  (void)arena.allocate(10, 1);
  const ArenaStats before = arena.stats();
  std::pmr::memory_resource* resource = &arena;
  for (std::size_t alignment : {std::size_t{0}, std::size_t{3}, std::size_t{48},
                                std::numeric_limits<std::size_t>::max()}) {
    try {
      (void)resource->allocate(8, alignment);
      ADD_FAILURE() << "alignment " << alignment << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("alignment " + std::to_string(alignment)),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_EQ(arena.stats().used, before.used);
  EXPECT_EQ(arena.stats().overflow_count, 0u);
  EXPECT_NE(arena.allocate(8, 8), nullptr);
}

TEST_F(ArenaTest, SizeThatOverflowsThrowsAllocationErrorAndChangesNothing) {
  ArenaResource arena(1024, &upstream_);
  (void)arena.allocate(10, 1);
  constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
  constexpr auto kPtrdiffMax = static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max());
  for (std::size_t bytes : {kMax, kMax - 8, kMax - 56, kPtrdiffMax + 1, kPtrdiffMax}) {
    try {
      (void)arena.allocate(bytes, 4096);
      ADD_FAILURE() << bytes << " bytes were allocated";
    } catch (const AllocationError& e) {
      EXPECT_EQ(e.bytes(), bytes);
      EXPECT_NE(std::string(e.what()).find("corepy::ArenaResource"), std::string::npos);
    }
  }
  EXPECT_EQ(arena.stats().used, 16u);
  EXPECT_EQ(arena.stats().overflow_bytes, 0u);
  EXPECT_NE(arena.allocate(8, 8), nullptr);
}

// Records the largest request it is asked for, and refuses anything over 1 GiB without
// allocating: whatever the arena asks of its upstream is visible.
class RecordingUpstream final : public std::pmr::memory_resource {
 public:
  std::size_t largest_request = 0;
  std::size_t largest_alignment = 0;

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    largest_request = std::max(largest_request, bytes);
    largest_alignment = std::max(largest_alignment, alignment);
    if (bytes > (std::size_t{1} << 30)) throw std::bad_alloc();
    return std::pmr::new_delete_resource()->allocate(bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) noexcept override {
    std::pmr::new_delete_resource()->deallocate(p, bytes, alignment);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }
};

// Issue 10, defect 1: sizes and alignments near 2^63 wrapped the spill chunk's size (an
// alignment of 2^63 returned 0x8000000000000000; the chunk header was written past a 32-byte
// block). Every such request is an AllocationError carrying the caller's request, the arena is
// unchanged, and the upstream never sees a request beyond PTRDIFF_MAX.
TEST_F(ArenaTest, RequestsWhoseArithmeticWouldWrapThrowAndChangeNothing) {
  constexpr std::size_t k62 = std::size_t{1} << 62;
  constexpr std::size_t k63 = std::size_t{1} << 63;
  constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
  constexpr auto kPtrdiffMax = static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max());
  const std::pair<std::size_t, std::size_t> requests[] = {
      {k63, k63},      {k63 - 16, k63}, {k63 + 16, k63}, {1, k63},        {0, k63},
      {kMax, k63},     {k62, k62},      {k62 + 1, k62},  {kPtrdiffMax, 1}, {kPtrdiffMax - 47, 16},
      {kMax, 1},       {kMax - 15, 16}, {k63, 1},        {k62, k63},       {64, k62 << 1},
  };
  for (const std::size_t capacity : {std::size_t{0}, std::size_t{1024}}) {
    RecordingUpstream upstream;
    ArenaResource arena(capacity, &upstream);
    (void)arena.allocate(10, 1);
    const ArenaStats before = arena.stats();
    for (const auto& [bytes, alignment] : requests) {
      try {
        void* p = arena.allocate(bytes, alignment);
        ADD_FAILURE() << "allocate(" << bytes << ", " << alignment << ") returned " << p;
      } catch (const AllocationError& e) {
        EXPECT_EQ(e.bytes(), bytes) << e.what();
        EXPECT_EQ(e.alignment(), alignment) << e.what();
        EXPECT_STREQ(e.resource(), "corepy::ArenaResource");
      }
      const ArenaStats after = arena.stats();
      EXPECT_EQ(after.used, before.used) << bytes << ", " << alignment;
      EXPECT_EQ(after.overflow_count, before.overflow_count) << bytes << ", " << alignment;
      EXPECT_EQ(after.overflow_bytes, before.overflow_bytes) << bytes << ", " << alignment;
      EXPECT_LE(upstream.largest_request, kPtrdiffMax) << bytes << ", " << alignment;
    }
    // Still usable, and a large alignment that can be served is served aligned.
    void* p = arena.allocate(100, 1 << 20);
    EXPECT_EQ(address(p) % (1 << 20), 0u);
    std::memset(p, 0xab, 100);
  }
}

// Issue 10, defect 11: the error named the spill chunk (2^62 + 96 bytes, alignment 16).
TEST_F(ArenaTest, AllocationErrorCarriesTheCallersRequestNotTheSpillChunks) {
  RecordingUpstream upstream;
  ArenaResource arena(1024, &upstream);
  try {
    (void)arena.allocate(std::size_t{1} << 62, 64);
    ADD_FAILURE() << "2^62 bytes were allocated";
  } catch (const AllocationError& e) {
    EXPECT_EQ(e.bytes(), std::size_t{1} << 62);
    EXPECT_EQ(e.alignment(), 64u);
    EXPECT_NE(std::string(e.what()).find("cannot allocate 4611686018427387904 bytes (alignment "
                                         "64): the upstream refused a spill chunk of 4611686018427388000 bytes"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(arena.stats().overflow_count, 0u);
}

// Issue 10, defect 9: after a scope (a frame) ended, the newest allocation made before it can
// be given back again; before, the scope's start stayed the floor and it never was.
TEST_F(ArenaTest, AFramesEndPutsBackTheDeallocationFloor) {
  ArenaResource arena(1024, &upstream_);
  void* held = arena.allocate(96, 8);
  {
    const ArenaResource::Frame f = arena.open_frame();
    (void)arena.allocate(48, 8);
    arena.deallocate(held, 96, 8);  // inside the frame: below its start, kept
    EXPECT_EQ(arena.stats().used, 144u);
    arena.close_frame(f);
  }
  EXPECT_EQ(arena.stats().used, 96u);
  arena.deallocate(held, 96, 8);
  EXPECT_EQ(arena.stats().used, 0u);
  // The same across a spill inside the frame.
  held = arena.allocate(96, 8);
  const ArenaResource::Frame f = arena.open_frame();
  (void)arena.allocate(5000, 8);
  EXPECT_EQ(arena.stats().overflow_count, 1u);
  arena.close_frame(f);
  EXPECT_EQ(arena.stats().overflow_bytes, 0u);
  arena.deallocate(held, 96, 8);
  EXPECT_EQ(arena.stats().used, 0u);
}

TEST_F(ArenaTest, BlockLargerThanAnyObjectIsRefusedBeforeTheUpstreamIsAsked) {
  EXPECT_THROW(ArenaResource(std::numeric_limits<std::size_t>::max() - 10, &upstream_),
               AllocationError);
  EXPECT_EQ(upstream_.allocations_attempted(), 0u);
  alignas(8) char buffer[8];
  EXPECT_THROW(ArenaResource(buffer, std::numeric_limits<std::size_t>::max(), &upstream_),
               std::invalid_argument);
}

TEST_F(ArenaTest, HugeSizeTheUpstreamRefusesIsBadAlloc) {
  // 2^62 bytes cannot be had. (corepy's new_delete upstream uses the nothrow operator new: the
  // sanitizers' and Valgrind's throwing one aborts on such a size instead of throwing.)
  ArenaResource arena(1024, new_delete_upstream());
  EXPECT_THROW((void)arena.allocate(std::size_t{1} << 62, 8), std::bad_alloc);
  EXPECT_EQ(arena.stats().overflow_bytes, 0u);
  EXPECT_NE(arena.allocate(8, 8), nullptr);
}

TEST_F(ArenaTest, UpstreamRefusalThrowsAllocationErrorAndTheArenaStaysUsable) {
  ArenaResource arena(128, &upstream_);
  (void)arena.allocate(100, 1);
  const Marker m = arena.mark();
  upstream_.fail_at(0);
  try {
    (void)arena.allocate(1000, 8);
    ADD_FAILURE() << "the upstream's refusal was lost";
  } catch (const AllocationError& e) {
    EXPECT_NE(std::string(e.what()).find("upstream refused"), std::string::npos) << e.what();
    EXPECT_STREQ(e.resource(), "corepy::ArenaResource");
  }
  upstream_.fail_never();
  EXPECT_EQ(arena.stats().used, 112u);
  EXPECT_EQ(arena.stats().overflow_count, 0u);
  EXPECT_NE(arena.allocate(1000, 8), nullptr);
  arena.rewind(m);
  EXPECT_EQ(arena.stats().overflow_bytes, 0u);
}

TEST_F(ArenaTest, ConstructionRejectsANullUpstreamAndANullBuffer) {
  EXPECT_THROW(ArenaResource(1024, nullptr), std::invalid_argument);
  EXPECT_THROW(ArenaResource(nullptr, 16, &upstream_), std::invalid_argument);
  upstream_.fail_at(0);
  EXPECT_THROW(ArenaResource(1024, &upstream_), std::bad_alloc);
  upstream_.fail_never();
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

TEST_F(ArenaTest, IsEqualOnlyToItself) {
  ArenaResource a(64, &upstream_);
  ArenaResource b(64, &upstream_);
  EXPECT_TRUE(a.is_equal(a));
  EXPECT_FALSE(a.is_equal(b));
}

TEST_F(ArenaTest, LeaksNothingAndStaysConsistentAtEveryFailurePoint) {
  const int points = testing::for_each_failure_point(upstream_, [&](int n) {
    SCOPED_TRACE(n);
    try {
      ArenaResource arena(256, &upstream_);
      std::vector<void*> live;
      for (int i = 0; i < 40; ++i) {
        const ArenaStats before = arena.stats();
        const std::size_t upstream_before = upstream_.bytes_in_use();
        const Marker m = arena.mark();
        try {
          live.push_back(arena.allocate(static_cast<std::size_t>(64 * i), 16));
        } catch (const std::bad_alloc&) {
          const ArenaStats after = arena.stats();
          EXPECT_EQ(after.used, before.used);
          EXPECT_EQ(after.overflow_count, before.overflow_count);
          EXPECT_EQ(after.overflow_bytes, before.overflow_bytes);
          EXPECT_EQ(upstream_.bytes_in_use(), upstream_before);
          throw;
        }
        if (i % 7 == 0) arena.rewind(m);
      }
    } catch (const std::bad_alloc&) {
      EXPECT_EQ(upstream_.bytes_in_use(), 0u);
      throw;
    }
    EXPECT_EQ(upstream_.bytes_in_use(), 0u);
  });
  EXPECT_GT(points, 3);
}

TEST_F(ArenaTest, WindowsReportPeaksOfTheirOwnStretchAndNest) {
  ArenaResource arena(1024, &upstream_);
  (void)arena.allocate(100, 1);
  const std::size_t outer = arena.open_window();
  const Marker m = arena.mark();
  (void)arena.allocate(300, 1);
  {
    const std::size_t middle = arena.open_window();
    const Marker inner = arena.mark();
    (void)arena.allocate(500, 1);
    const std::size_t total_before = arena.overflow_bytes_total();
    (void)arena.allocate(2000, 1);  // spills
    EXPECT_GE(arena.overflow_bytes_total() - total_before, 2000u);
    arena.rewind(inner);
    EXPECT_EQ(arena.window_peak(), 928u);
    arena.close_window(middle);
  }
  arena.rewind(m);
  EXPECT_EQ(arena.window_peak(), 928u);  // the inner window folded back in
  arena.close_window(outer);
  const std::size_t fresh = arena.open_window();
  EXPECT_EQ(arena.window_peak(), 112u);  // a new window starts at the current level
  arena.close_window(fresh);
  EXPECT_GE(arena.overflow_bytes_total(), 2000u);  // not lowered by rewind
  EXPECT_EQ(arena.overflow_bytes(), 0u);
}

// round_trip_cost(bytes, alignment) is exactly what allocate() then takes from the block
// inline, its rounding included, when that allocation's deallocate() gives all of it back; else
// 0: for a request the block cannot hold, one that needs alignment padding first, a size or
// alignment out of the inline path's range (up to SIZE_MAX and 2^63), an alignment that is not
// a power of two, while a spill chunk is live, and always where a memory tool must see every
// request.
TEST_F(ArenaTest, RoundTripCostIsWhatAllocateTakesAndDeallocateGivesBackOrZero) {
  const bool tool = internal::kAsan || internal::running_on_valgrind();
  ArenaResource arena(8192, &upstream_);
  const std::size_t top = std::size_t{1} << 63;
  const std::size_t sizes[] = {0,
                               1,
                               15,
                               16,
                               17,
                               100,
                               4096,
                               8192,
                               8193,
                               top - 1,
                               top,
                               top + 1,
                               ~std::size_t{0} - 16,
                               ~std::size_t{0} - 15,
                               ~std::size_t{0}};
  const std::size_t alignments[] = {
      0, 1, 2, 3, 16, 48, 64, 4096, 8192, top >> 1, top, top + 1, ~std::size_t{0}};
  for (const std::size_t skip : {0, 8, 24, 48}) {
    arena.reset();
    if (skip != 0) (void)arena.allocate(skip, 1);
    for (const std::size_t bytes : sizes) {
      for (const std::size_t alignment : alignments) {
        SCOPED_TRACE(::testing::Message() << "after " << skip << " bytes, allocate(" << bytes
                                          << ", " << alignment << ")");
        const std::size_t used = arena.used();
        const std::size_t cost = arena.round_trip_cost(bytes, alignment);
        const bool power_of_two = alignment != 0 && (alignment & (alignment - 1)) == 0;
        const bool small = bytes <= 8192 && alignment <= 4096 && power_of_two;
        // A 0-byte request at alignment 1 says where the bump pointer is, and takes nothing.
        const std::uintptr_t at = address(arena.allocate(0, 1));
        const std::size_t padding = power_of_two ? (0 - at) & (alignment - 1) : 0;
        const bool fits = small && used + padding + ArenaResource::round_to_granule(bytes) <= 8192;
        if (tool || !fits || padding != 0) {
          EXPECT_EQ(cost, 0u);
          continue;
        }
        EXPECT_EQ(cost, ArenaResource::round_to_granule(bytes));
        if (cost == 0) continue;  // a 0-byte request
        const std::size_t spills = arena.overflow_count();
        void* p = arena.allocate(bytes, alignment);
        EXPECT_EQ(arena.used(), used + cost);
        EXPECT_EQ(arena.overflow_count(), spills);
        arena.deallocate(p, bytes, alignment);
        EXPECT_EQ(arena.used(), used);
      }
    }
  }
  // A spill chunk live: nothing is inline in the block.
  arena.reset();
  (void)arena.allocate(8000, 1);
  (void)arena.allocate(1000, 1);  // spills
  ASSERT_EQ(arena.overflow_count(), 1u);
  EXPECT_EQ(arena.round_trip_cost(16, 16), 0u);
  arena.reset();
  EXPECT_EQ(arena.round_trip_cost(16, 16), tool ? 0u : 16u);
}

TEST_F(ArenaTest, ReserveGrowsAnEmptyArenaOnly) {
  ArenaResource arena(1024, &upstream_);
  EXPECT_TRUE(arena.reserve(512));  // already large enough
  EXPECT_EQ(arena.stats().capacity, 1024u);
  (void)arena.allocate(10, 1);
  EXPECT_FALSE(arena.reserve(8192));  // not empty
  arena.reset();
  EXPECT_TRUE(arena.reserve(8192));
  EXPECT_EQ(arena.stats().capacity, 8192u);
  EXPECT_EQ(upstream_.bytes_in_use(), 8192u);  // the old block went back
  void* p = arena.allocate(8000, 1);
  EXPECT_EQ(arena.stats().overflow_count, 0u);
  EXPECT_NE(p, nullptr);
  upstream_.fail_at(0);
  arena.reset();
  EXPECT_THROW(arena.reserve(1 << 20), AllocationError);  // refused: unchanged
  upstream_.fail_never();
  EXPECT_EQ(arena.stats().capacity, 8192u);
}

TEST_F(ArenaTest, ReserveReplacesACallersBufferWithAnOwnedBlock) {
  alignas(64) unsigned char buffer[64];
  {
    ArenaResource arena(buffer, sizeof(buffer), &upstream_);
    EXPECT_TRUE(arena.reserve(4096));
    EXPECT_FALSE(in_range(arena.allocate(8, 8), buffer, sizeof(buffer)));
  }
  EXPECT_EQ(upstream_.bytes_in_use(), 0u);
}

#ifndef NDEBUG
// Issue 10, defect 8: the message said "no longer live".
TEST(ArenaDeathTest, RewindToAnotherArenasMarkerIsCaughtAndNamed) {
  EXPECT_DEATH(
      {
        ArenaResource a(64);
        ArenaResource b(64);
        (void)a.allocate(1000, 8);  // a spill chunk of a's
        const Marker from_b = b.mark();
        a.rewind(from_b);
      },
      "marker from another arena");
  EXPECT_DEATH(
      {
        ArenaResource a(0);
        ArenaResource b(0);
        (void)a.allocate(1000, 8);
        const Marker from_b = b.mark();  // both have no block: still told apart
        a.rewind(from_b);
      },
      "marker from another arena");
}

TEST(ArenaDeathTest, RewindToAMarkerTakenBeforeReserveIsCaught) {
  EXPECT_DEATH(
      {
        ArenaResource arena(64);
        const Marker m = arena.mark();
        (void)arena.reserve(4096);
        arena.rewind(m);
      },
      "marker is no longer live");
}

TEST(ArenaDeathTest, RewindToAMarkerEndedByAnEarlierRewindIsCaught) {
  EXPECT_DEATH(
      {
        ArenaResource arena(1024);
        const Marker outer = arena.mark();
        (void)arena.allocate(100, 1);
        const Marker inner = arena.mark();
        (void)arena.allocate(100, 1);
        arena.rewind(outer);
        (void)arena.allocate(300, 1);
        arena.rewind(inner);  // inner ended with the rewind to outer
      },
      "marker is no longer live");
}

TEST(ArenaDeathTest, RewindAfterResetIsCaught) {
  EXPECT_DEATH(
      {
        ArenaResource arena(1024);
        (void)arena.allocate(10, 1);
        const Marker m = arena.mark();
        arena.reset();
        arena.rewind(m);
      },
      "marker is no longer live");
}
#endif

}  // namespace
}  // namespace corepy

namespace corepy {
namespace {

TEST(ArenaRewinderTest, NestedRewindersEachRewindExactlyToTheirOwnStart) {
  ArenaResource arena(4096);
  (void)arena.allocate(100, 4);
  const std::size_t at_outer = arena.used();
  {
    ArenaRewinder outer(arena);
    (void)arena.allocate(200, 8);
    const std::size_t at_inner = arena.used();
    {
      ArenaRewinder inner(arena);
      (void)arena.allocate(300, 16);
      const std::size_t at_innermost = arena.used();
      {
        ArenaRewinder innermost(arena);
        (void)arena.allocate(1, 1);
      }
      EXPECT_EQ(arena.used(), at_innermost);
    }
    EXPECT_EQ(arena.used(), at_inner);
  }
  EXPECT_EQ(arena.used(), at_outer);
}

TEST(ArenaRewinderTest, RewindsSpillsAndCountsThemInItsStats) {
  ArenaResource arena(1024);
  {
    ArenaRewinder scope(arena);
    (void)arena.allocate(512, 8);
    (void)arena.allocate(8192, 8);  // spills
    const ScopeStats s = scope.stats();
    EXPECT_EQ(s.peak, 512u);
    EXPECT_EQ(s.spills, 1u);
    EXPECT_GE(s.spill_bytes, 8192u);
    EXPECT_TRUE(scope.spilled());
  }
  EXPECT_EQ(arena.used(), 0u);
  EXPECT_EQ(arena.stats().overflow_bytes, 0u);
}

// untouched() is a shortcut for "stats() is all zeros": true only then, and true for a scope in
// which nothing was allocated (empty inner scopes included) on an arena with no spill live.
TEST(ArenaRewinderTest, UntouchedMeansTheStatsAreAllZeros) {
  ArenaResource arena(1024);
  (void)arena.allocate(48, 16);  // the scopes start above something
  const auto zeros = [](const ScopeStats& s) {
    return s.peak == 0 && s.spills == 0 && s.spill_bytes == 0;
  };
  {
    ArenaRewinder scope(arena);
    EXPECT_TRUE(scope.untouched());
    { ArenaRewinder inner(arena); }  // an empty scope inside leaves it untouched
    EXPECT_TRUE(scope.untouched());
    EXPECT_TRUE(zeros(scope.stats()));
  }
  {
    ArenaRewinder scope(arena);
    void* p = arena.allocate(24, 8);
    EXPECT_FALSE(scope.untouched());
    arena.deallocate(p, 24, 8);  // popped: the bump pointer is back at the start
    EXPECT_FALSE(scope.untouched());
    EXPECT_EQ(scope.stats().peak, 32u);
  }
  {
    ArenaRewinder scope(arena);
    {
      ArenaRewinder inner(arena);
      (void)arena.allocate(100, 8);
    }  // rewound to the outer start
    EXPECT_FALSE(scope.untouched());
    EXPECT_EQ(scope.stats().peak, 112u);
  }
  {
    ArenaRewinder scope(arena);
    {
      ArenaRewinder inner(arena);
      (void)arena.allocate(1 << 20, 8);  // spills; the inner rewind gives the chunk back
    }
    EXPECT_FALSE(scope.untouched());
    EXPECT_EQ(scope.stats().spills, 1u);
  }
  for (int round = 0; round < 2; ++round) {  // after the spill round, as before it
    ArenaRewinder scope(arena);
    if (scope.untouched()) {
      EXPECT_TRUE(zeros(scope.stats()));
    }
    (void)arena.allocate(8, 8);
    EXPECT_FALSE(scope.untouched());
  }
  EXPECT_EQ(arena.used(), 48u);
}

TEST(ArenaRewinderTest, AnInnerScopesPeakCountsInTheEnclosingScopesPeak) {
  ArenaResource arena(4096);
  ArenaRewinder outer(arena);
  (void)arena.allocate(64, 8);
  {
    ArenaRewinder inner(arena);
    (void)arena.allocate(1000, 8);
    EXPECT_EQ(inner.stats().peak, 1008u);
  }
  (void)arena.allocate(8, 8);
  EXPECT_EQ(outer.stats().peak, 1072u);  // the inner scope's high point, though rewound
  EXPECT_FALSE(outer.spilled());
}

TEST(ArenaRewinderTest, RewindsWhenAnExceptionLeavesTheScope) {
  ArenaResource arena(4096);
  try {
    ArenaRewinder scope(arena);
    (void)arena.allocate(256, 8);
    throw std::runtime_error("out");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(arena.used(), 0u);
}

}  // namespace
}  // namespace corepy
