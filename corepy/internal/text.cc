#include "corepy/internal/text.h"

#include "absl/strings/str_cat.h"

namespace corepy::internal {

std::string quoted(absl::string_view text) {
  if (text.size() <= kQuotedPrefix) return absl::StrCat("\"", text, "\"");
  return absl::StrCat("\"", text.substr(0, kQuotedPrefix), "...\" (", text.size(), " chars)");
}

}  // namespace corepy::internal
