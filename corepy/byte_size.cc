#include "corepy/byte_size.h"

#include <limits>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "corepy/internal/text.h"

namespace corepy {
namespace {

struct Unit {
  absl::string_view suffix;
  std::size_t multiplier;
};

// Longest suffixes first, so "KiB" is not read as "B".
constexpr Unit kUnits[] = {
    {"KiB", std::size_t{1} << 10}, {"MiB", std::size_t{1} << 20}, {"GiB", std::size_t{1} << 30},
    {"KB", 1000},                  {"MB", 1000 * 1000},           {"GB", 1000 * 1000 * 1000},
    {"B", 1},
};

absl::Status bad_size(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid byte size ", internal::quoted(text), ": ", why,
      "; expected digits with an optional unit B, KiB, MiB, GiB, KB, MB or GB "
      "(e.g. 4096, 64KiB, 1MiB)"));
}

}  // namespace

absl::StatusOr<std::size_t> parse_byte_size(absl::string_view text) {
  absl::string_view s = absl::StripAsciiWhitespace(text);
  std::size_t multiplier = 1;
  for (const Unit& unit : kUnits) {
    if (s.size() > unit.suffix.size() && absl::EndsWith(s, unit.suffix)) {
      s.remove_suffix(unit.suffix.size());
      s = absl::StripTrailingAsciiWhitespace(s);
      multiplier = unit.multiplier;
      break;
    }
  }
  if (s.empty()) return bad_size(text, "no number");
  std::size_t value = 0;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      return bad_size(text, absl::StrCat("unexpected character '", absl::string_view(&c, 1), "'"));
    }
    const std::size_t digit = static_cast<std::size_t>(c - '0');
    if (value > (std::numeric_limits<std::size_t>::max() - digit) / 10) {
      return bad_size(text, "too large");
    }
    value = value * 10 + digit;
  }
  if (value > std::numeric_limits<std::size_t>::max() / multiplier) {
    return bad_size(text, "too large");
  }
  return value * multiplier;
}

}  // namespace corepy
