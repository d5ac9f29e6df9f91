// corepy_version() (the C ABI) against corepy/version.h: the string is the three numbers, and the
// function returns it. .ci/check_version.py checks MODULE.bazel, CMake, corepy.pc and
// CHANGELOG.md against the same header.
#include "corepy/version.h"

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "corepy/c_api.h"
#include "gtest/gtest.h"

namespace {

TEST(Version, StringIsTheThreeNumbers) {
  EXPECT_EQ(
      std::string(COREPY_VERSION_STRING),
      absl::StrCat(COREPY_VERSION_MAJOR, ".", COREPY_VERSION_MINOR, ".", COREPY_VERSION_PATCH));
}

TEST(Version, CorepyVersionReturnsTheHeadersString) {
  ASSERT_NE(corepy_version(), nullptr);
  EXPECT_STREQ(corepy_version(), COREPY_VERSION_STRING);
}

}  // namespace
