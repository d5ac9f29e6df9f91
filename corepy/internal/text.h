// How corepy quotes a value it names in a message: whole when short, cut to its first
// kQuotedPrefix characters when long ("... (N chars)"), so a 100,000-character environment
// variable does not flood stderr.
#ifndef COREPY_COREPY_INTERNAL_TEXT_H_
#define COREPY_COREPY_INTERNAL_TEXT_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace corepy::internal {

inline constexpr std::size_t kQuotedPrefix = 200;

// "value", or "the first 200 characters..." (100000 chars).
std::string quoted(absl::string_view text);

}  // namespace corepy::internal

#endif  // COREPY_COREPY_INTERNAL_TEXT_H_
