// COREPY_ARENA_SIZE, set by the test's `env` in BUILD.bazel: thread arenas take their capacity
// from it, and a bad value is named once on stderr while the default is used.
#include <cstdlib>
#include <string>

#include "corepy/arena.h"
#include "gtest/gtest.h"

namespace corepy {
namespace {

TEST(ArenaEnvTest, ThreadArenasTakeTheirCapacityFromTheEnvironment) {
  const char* expected = std::getenv("EXPECTED_CAPACITY");
  ASSERT_NE(expected, nullptr) << "set by BUILD.bazel";
  testing::internal::CaptureStderr();
  const std::size_t capacity = arena_stats().capacity;
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(capacity, std::stoul(expected));
  const char* message = std::getenv("EXPECTED_MESSAGE");
  if (message != nullptr) {
    EXPECT_NE(err.find(message), std::string::npos) << err;
  } else {
    EXPECT_EQ(err, "");
  }
}

}  // namespace
}  // namespace corepy
