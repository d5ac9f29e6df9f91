#include "tests/allocators/resource_test_suite.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory_resource>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "allocators/allocation_error.h"
#include "allocators/internal/memory_annotations.h"
#include "gtest/gtest.h"

namespace corepy::testing {
namespace {

constexpr std::size_t kSizes[] = {
    0,   1,    2,    3,    7,    8,    15,    16,    17,    31,
    32,  33,   63,   64,   65,   127,  128,   255,   256,   511,
    512, 1000, 1024, 4095, 4096, 4097, 65535, 65536, 65537, std::size_t{1} << 20};
constexpr std::size_t kAlignments[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};

struct Block {
  unsigned char* p;
  std::size_t bytes;
  std::size_t alignment;
  unsigned char fill;
};

// A byte that differs between neighbouring blocks, so one block overwriting another shows.
unsigned char fill_for(std::size_t i) { return static_cast<unsigned char>(i * 37 + 11); }

// The first offset in `b` that does not hold its fill byte, or b.bytes.
std::size_t first_wrong_byte(const Block& b) {
  for (std::size_t i = 0; i < b.bytes; ++i) {
    if (b.p[i] != b.fill) return i;
  }
  return b.bytes;
}

Block allocate_block(std::pmr::memory_resource* r, std::size_t bytes, std::size_t alignment,
                     std::size_t index) {
  Block b{static_cast<unsigned char*>(r->allocate(bytes, alignment)), bytes, alignment,
          fill_for(index)};
  if (b.bytes != 0) std::memset(b.p, b.fill, b.bytes);
  return b;
}

// Every block still holds its own fill byte, and no two non-empty blocks share a byte.
void expect_intact_and_disjoint(std::vector<Block> blocks) {
  for (const Block& b : blocks) {
    EXPECT_EQ(first_wrong_byte(b), b.bytes)
        << "block of " << b.bytes << " bytes, alignment " << b.alignment << " was overwritten";
  }
  blocks.erase(
      std::remove_if(blocks.begin(), blocks.end(), [](const Block& b) { return b.bytes == 0; }),
      blocks.end());
  std::sort(blocks.begin(), blocks.end(), [](const Block& a, const Block& b) {
    return reinterpret_cast<std::uintptr_t>(a.p) < reinterpret_cast<std::uintptr_t>(b.p);
  });
  for (std::size_t i = 1; i < blocks.size(); ++i) {
    const auto prev_end = reinterpret_cast<std::uintptr_t>(blocks[i - 1].p) + blocks[i - 1].bytes;
    EXPECT_LE(prev_end, reinterpret_cast<std::uintptr_t>(blocks[i].p))
        << "a block of " << blocks[i - 1].bytes << " bytes overlaps one of " << blocks[i].bytes;
  }
}

}  // namespace

void ResourceTest::SetUp() {
  resource_ = GetParam().make();
  ASSERT_NE(resource_, nullptr);
}

void ResourceTest::TearDown() {
  if (resource_ != nullptr && GetParam().verify) GetParam().verify(*resource_);
  resource_.reset();
}

TEST_P(ResourceTest, EverySizeAndAlignmentIsAlignedWritableAndDisjoint) {
  std::vector<Block> blocks;
  for (std::size_t bytes : kSizes) {
    for (std::size_t alignment : kAlignments) {
      SCOPED_TRACE(::testing::Message() << bytes << " bytes, alignment " << alignment);
      Block b = allocate_block(resource(), bytes, alignment, blocks.size());
      ASSERT_NE(b.p, nullptr);
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.p) % alignment, 0u);
      blocks.push_back(b);
    }
  }
  expect_intact_and_disjoint(blocks);
  // Newest first, the order a stack-like resource gives back the most in.
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
    resource()->deallocate(it->p, it->bytes, it->alignment);
  }
}

TEST_P(ResourceTest, DeallocationInAnyOrderKeepsTheRestIntact) {
  std::vector<Block> blocks;
  std::uint32_t state = 12345;
  auto next = [&state] { return state = state * 1664525u + 1013904223u; };
  for (std::size_t i = 0; i < 300; ++i) {
    blocks.push_back(allocate_block(resource(), next() % 5000, kAlignments[next() % 8], i));
  }
  // Every other block back, then new ones into the gaps.
  std::vector<Block> kept;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (i % 2 == 0) {
      resource()->deallocate(blocks[i].p, blocks[i].bytes, blocks[i].alignment);
    } else {
      kept.push_back(blocks[i]);
    }
  }
  for (std::size_t i = 0; i < 150; ++i) {
    kept.push_back(allocate_block(resource(), next() % 5000, kAlignments[next() % 8], 1000 + i));
  }
  expect_intact_and_disjoint(kept);
  for (const Block& b : kept) resource()->deallocate(b.p, b.bytes, b.alignment);  // oldest first
}

TEST_P(ResourceTest, PmrVectorGrows) {
  std::pmr::vector<std::uint64_t> v(resource());
  constexpr std::uint64_t kCount = 200000;
  for (std::uint64_t i = 0; i < kCount; ++i) v.push_back(i * 3 + 1);
  ASSERT_EQ(v.size(), kCount);
  EXPECT_EQ(v.get_allocator().resource(), resource());
  for (std::uint64_t i = 0; i < kCount; ++i) {
    if (v[i] != i * 3 + 1) FAIL() << "v[" << i << "] = " << v[i];
  }
  v.resize(10);
  v.shrink_to_fit();
  EXPECT_EQ(v.back(), 28u);
}

TEST_P(ResourceTest, PmrStringsGrowAndPropagateTheResource) {
  std::pmr::string s(resource());
  for (int i = 0; i < 100000; ++i) s.push_back(static_cast<char>('a' + i % 26));
  ASSERT_EQ(s.size(), 100000u);
  EXPECT_EQ(s[99999], static_cast<char>('a' + 99999 % 26));

  std::pmr::vector<std::pmr::string> strings(resource());
  for (int i = 0; i < 1000; ++i) {
    strings.emplace_back(100 + i % 50, static_cast<char>('A' + i % 26));  // past any SSO buffer
  }
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(strings[i].size(), 100u + i % 50);
    EXPECT_EQ(strings[i].front(), static_cast<char>('A' + i % 26));
    EXPECT_EQ(strings[i].get_allocator().resource(), resource()) << "uses-allocator construction";
  }
}

TEST_P(ResourceTest, IsEqualToItselfOnly) {
  EXPECT_TRUE(resource()->is_equal(*resource()));
  EXPECT_TRUE(*resource() == *resource());
  std::pmr::monotonic_buffer_resource unrelated;
  EXPECT_FALSE(resource()->is_equal(unrelated));
  EXPECT_FALSE(unrelated.is_equal(*resource()));
  // A second resource of the same kind, unless the kind has only one (the process-wide ones).
  std::shared_ptr<std::pmr::memory_resource> another = GetParam().make();
  if (another.get() != resource()) {
    EXPECT_FALSE(resource()->is_equal(*another));
  }
}

TEST_P(ResourceTest, AlignmentNotAPowerOfTwoThrowsInvalidArgument) {
  for (std::size_t alignment : {std::size_t{0}, std::size_t{3}, std::size_t{5}, std::size_t{6},
                                std::size_t{12}, std::size_t{24}, std::size_t{48}, std::size_t{100},
                                std::size_t{4097}, std::numeric_limits<std::size_t>::max()}) {
    EXPECT_THROW(static_cast<void>(resource()->allocate(16, alignment)), std::invalid_argument)
        << "alignment " << alignment;
  }
  // Still usable.
  Block b = allocate_block(resource(), 64, 64, 0);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.p) % 64, 0u);
  resource()->deallocate(b.p, b.bytes, b.alignment);
}

TEST_P(ResourceTest, HugeSizeThrowsBadAllocAndTheResourceStaysUsable) {
  constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
  for (std::size_t bytes : {kMax / 2, kMax / 2 + 1, kMax - 4096, kMax - 8, kMax}) {
    for (std::size_t alignment : {1, 16, 64, 4096}) {
      EXPECT_THROW(static_cast<void>(resource()->allocate(Opaque(bytes), alignment)),
                   std::bad_alloc)
          << bytes << " bytes, alignment " << alignment;
    }
  }
  std::vector<Block> blocks;
  for (std::size_t i = 0; i < 20; ++i) {
    blocks.push_back(allocate_block(resource(), 100 + 1000 * i, 64, i));
  }
  expect_intact_and_disjoint(blocks);
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
    resource()->deallocate(it->p, it->bytes, it->alignment);
  }
}

// Issue 10, defect 1: sizes and alignments whose arithmetic can wrap, across the whole of
// size_t. Every resource refuses them with std::bad_alloc and stays usable.
TEST_P(ResourceTest, HugeAlignmentsThrowBadAllocAndTheResourceStaysUsable) {
  constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
  constexpr std::size_t k62 = std::size_t{1} << 62;
  constexpr std::size_t k63 = std::size_t{1} << 63;
  for (std::size_t alignment : {std::size_t{1} << 48, k62, k63}) {
    for (std::size_t bytes : {std::size_t{0}, std::size_t{1}, std::size_t{16}, std::size_t{4096},
                              k62, k63 - 16, k63, k63 + 16, kMax - 15, kMax}) {
      // Valgrind's own aligned allocator panics beyond 16 MiB alignments ("the 'impossible'
      // happened"); under it, only the requests corepy refuses before any allocator is asked.
      if (corepy::internal::running_on_valgrind() && fits_in_address_space(bytes, alignment)) continue;
      EXPECT_THROW(static_cast<void>(resource()->allocate(Opaque(bytes), alignment)),
                   std::bad_alloc)
          << bytes << " bytes, alignment " << alignment;
    }
  }
  std::vector<Block> blocks;
  for (std::size_t i = 0; i < 20; ++i) {
    blocks.push_back(allocate_block(resource(), 100 + 1000 * i, std::size_t{1} << (i % 13), i));
  }
  expect_intact_and_disjoint(blocks);
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
    resource()->deallocate(it->p, it->bytes, it->alignment);
  }
}

}  // namespace corepy::testing
