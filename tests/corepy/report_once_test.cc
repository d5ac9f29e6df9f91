// internal::report_once in a binary of its own: filling its bound would silence the messages
// other tests look for.
#include <cstddef>
#include <string>

#include "corepy/config.h"
#include "gtest/gtest.h"

namespace corepy {
namespace {

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

TEST(ReportOnceTest, PrintsEachMessageOnceAndRemembersABoundedNumber) {
  testing::internal::CaptureStderr();
  internal::report_once("first");
  internal::report_once("first");
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "first\n");

  testing::internal::CaptureStderr();
  for (int round = 0; round < 2; ++round) {
    for (std::size_t i = 0; i < 2 * internal::kMaxReportedMessages; ++i) {
      internal::report_once("bounded " + std::to_string(i) + ";");
    }
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(err, "bounded "), internal::kMaxReportedMessages - 1);  // "first" took one
  EXPECT_EQ(count(err, "bounded 0;"), 1u);
  EXPECT_EQ(count(err, "corepy: too many distinct configuration messages; no more printed"), 1u);
}

}  // namespace
}  // namespace corepy
