#include "corepy/allocator_spec.h"

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "corepy/internal/text.h"

namespace corepy {
namespace {

// Nesting beyond this is refused, so hostile text cannot exhaust the stack.
constexpr int kMaxDepth = 32;

bool is_word_char(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '/' ||
         c == '-';
}

class Parser {
 public:
  explicit Parser(absl::string_view text) : text_(text) {}

  absl::StatusOr<AllocatorSpec> parse_all() {
    AllocatorSpec spec;
    if (absl::Status s = parse_spec(spec, 0); !s.ok()) return s;
    skip_spaces();
    if (pos_ != text_.size()) return error("end of text after a complete spec");
    return spec;
  }

 private:
  absl::Status parse_spec(AllocatorSpec& spec, int depth) {
    if (depth > kMaxDepth) return error(absl::StrCat("at most ", kMaxDepth, " levels of nesting"));
    skip_spaces();
    spec.name = word();
    if (spec.name.empty()) return error("a name");
    skip_spaces();
    if (!consume('(')) return absl::OkStatus();
    skip_spaces();
    if (consume(')')) return absl::OkStatus();
    while (true) {
      if (absl::Status s = parse_arg(spec, depth); !s.ok()) return s;
      skip_spaces();
      if (consume(')')) return absl::OkStatus();
      if (!consume(',')) return error("',' or ')'");
    }
  }

  absl::Status parse_arg(AllocatorSpec& spec, int depth) {
    skip_spaces();
    const std::size_t start = pos_;
    std::string key = word();
    skip_spaces();
    if (!key.empty() && consume('=')) {
      AllocatorSpec value;
      if (absl::Status s = parse_spec(value, depth + 1); !s.ok()) return s;
      spec.params.emplace_back(std::move(key), std::move(value));
      return absl::OkStatus();
    }
    pos_ = start;
    AllocatorSpec inner;
    if (absl::Status s = parse_spec(inner, depth + 1); !s.ok()) return s;
    spec.inner.push_back(std::move(inner));
    return absl::OkStatus();
  }

  std::string word() {
    const std::size_t start = pos_;
    while (pos_ < text_.size() && is_word_char(text_[pos_])) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }
  bool consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void skip_spaces() {
    while (pos_ < text_.size() && absl::ascii_isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
  }
  absl::Status error(absl::string_view expected) const {
    const std::string found =
        pos_ < text_.size() ? absl::StrCat("'", text_.substr(pos_, 1), "'") : "the end";
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid allocator spec ", internal::quoted(text_), ": expected ", expected, " at position ", pos_,
        ", found ", found,
        " (grammar: name or name(arg, ...), each arg a spec or key=value; e.g. "
        "\"limit(arena, max=64MiB)\")"));
  }

  absl::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

const AllocatorSpec* AllocatorSpec::param(absl::string_view key) const {
  for (const auto& [k, v] : params) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::string AllocatorSpec::to_string() const {
  if (inner.empty() && params.empty()) return name;
  std::string out = name + "(";
  const char* sep = "";
  for (const AllocatorSpec& i : inner) {
    absl::StrAppend(&out, sep, i.to_string());
    sep = ",";
  }
  for (const auto& [k, v] : params) {
    absl::StrAppend(&out, sep, k, "=", v.to_string());
    sep = ",";
  }
  return out + ")";
}

absl::StatusOr<AllocatorSpec> parse_allocator_spec(absl::string_view text) {
  return Parser(text).parse_all();
}

}  // namespace corepy
