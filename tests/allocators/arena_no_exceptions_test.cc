// Built with -fno-exceptions, as is the arena it links: a bad request is a clear message and an
// abort, never undefined behaviour.
#include <cstddef>
#include <limits>

#include "allocators/arena_resource.h"
#include "gtest/gtest.h"

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#error "this test must be compiled with -fno-exceptions"
#endif

namespace corepy {
namespace {

TEST(ArenaNoExceptionsDeathTest, BadAlignmentAbortsNamingIt) {
  ArenaResource arena(1024);
  EXPECT_DEATH((void)arena.allocate(8, 3), "alignment 3 is not a power of two");
}

TEST(ArenaNoExceptionsDeathTest, OverflowingSizeAbortsNamingIt) {
  ArenaResource arena(1024);
  EXPECT_DEATH((void)arena.allocate(std::numeric_limits<std::size_t>::max(), 8),
               "cannot allocate 18446744073709551615 bytes \\(alignment 8\\): the size exceeds PTRDIFF_MAX");
}

TEST(ArenaNoExceptionsTest, GoodRequestsStillWork) {
  ArenaResource arena(64);
  EXPECT_NE(arena.allocate(32, 8), nullptr);
  EXPECT_NE(arena.allocate(4096, 64), nullptr);  // spills
  EXPECT_EQ(arena.stats().overflow_count, 1u);
}

}  // namespace
}  // namespace corepy
