// ArenaResource as release builds compile it (NDEBUG, no marker log): a marker from another
// arena is ignored, never followed (issue 10, defect 8: it used to free the arena's live spill
// chunks, which AddressSanitizer and Memcheck report as a use after free below). Arenas of 64
// bytes often sit next to each other, so one's marker at its start is where the other's
// block ends: addresses alone cannot tell them apart.
#include <cstring>
#include <memory_resource>

#include "allocators/arena_resource.h"
#include "gtest/gtest.h"

namespace corepy {
namespace {

TEST(ArenaReleaseTest, AMarkerFromAnotherArenaFreesNothing) {
  for (const std::size_t capacity : {std::size_t{0}, std::size_t{64}}) {
    ArenaResource a(capacity, std::pmr::new_delete_resource());
    ArenaResource b(capacity, std::pmr::new_delete_resource());
    auto* spilled = static_cast<char*>(a.allocate(1000, 8));
    std::memset(spilled, 0x5a, 1000);
    const ArenaStats before = a.stats();
    ASSERT_EQ(before.overflow_count, 1u);

    const Marker from_b = b.mark();
    a.rewind(from_b);
    const ArenaResource::Frame frame_of_b = b.open_frame();
    a.close_frame(frame_of_b);
    b.close_frame(frame_of_b);

    const ArenaStats after = a.stats();
    EXPECT_EQ(after.used, before.used);
    EXPECT_EQ(after.overflow_bytes, before.overflow_bytes);
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(spilled[i], 0x5a) << "byte " << i;
    // The arena goes on bumping where it was.
    auto* next = static_cast<char*>(a.allocate(8, 8));
    EXPECT_GE(next, spilled + 1000);
  }
}

TEST(ArenaReleaseTest, ItsOwnMarkersStillRewindExactly) {
  ArenaResource a(64, std::pmr::new_delete_resource());
  const Marker m = a.mark();
  (void)a.allocate(1000, 8);
  (void)a.allocate(10000, 8);
  a.rewind(m);
  EXPECT_EQ(a.stats().overflow_bytes, 0u);
  EXPECT_EQ(a.stats().used, 0u);
}

}  // namespace
}  // namespace corepy
