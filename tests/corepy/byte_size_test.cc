// parse_byte_size: every accepted form, and the refusals that quote the bad text.
#include <cstddef>
#include <limits>
#include <string>

#include "corepy/config.h"
#include "gtest/gtest.h"

namespace corepy {
namespace {

TEST(ParseByteSizeTest, AcceptsPlainBinaryAndDecimalUnits) {
  EXPECT_EQ(*parse_byte_size("4096"), 4096u);
  EXPECT_EQ(*parse_byte_size("0"), 0u);
  EXPECT_EQ(*parse_byte_size("512B"), 512u);
  EXPECT_EQ(*parse_byte_size("64KiB"), 64u << 10);
  EXPECT_EQ(*parse_byte_size("1MiB"), 1u << 20);
  EXPECT_EQ(*parse_byte_size("2GiB"), std::size_t{2} << 30);
  EXPECT_EQ(*parse_byte_size("64KB"), 64000u);
  EXPECT_EQ(*parse_byte_size("1MB"), 1000000u);
  EXPECT_EQ(*parse_byte_size("2GB"), 2000000000u);
  EXPECT_EQ(*parse_byte_size("  8 MiB "), 8u << 20);
}

TEST(ParseByteSizeTest, RefusesEverythingElseQuotingTheText) {
  for (const char* bad : {"", " ", "lots", "1.5MiB", "-1", "+4", "4 096", "64kib", "64K", "MiB",
                          "1TiB", "0x10", "12abc", "1e6"}) {
    absl::StatusOr<std::size_t> r = parse_byte_size(bad);
    ASSERT_FALSE(r.ok()) << '"' << bad << "\" was accepted as " << *r;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string message(r.status().message());
    EXPECT_NE(message.find(std::string("\"") + bad + "\""), std::string::npos) << message;
    EXPECT_NE(message.find("KiB"), std::string::npos) << "says what is accepted: " << message;
  }
}

TEST(ParseByteSizeTest, RefusesValuesThatDoNotFit) {
  const std::string max = std::to_string(std::numeric_limits<std::size_t>::max());
  EXPECT_EQ(*parse_byte_size(max), std::numeric_limits<std::size_t>::max());
  EXPECT_FALSE(parse_byte_size(max + "0").ok());
  EXPECT_FALSE(parse_byte_size("18446744073709551616").ok());
  EXPECT_FALSE(parse_byte_size("17179869184GiB").ok());
  EXPECT_NE(std::string(parse_byte_size("99999999999999999999GB").status().message()).find("too large"),
            std::string::npos);
}

}  // namespace
}  // namespace corepy
