// The small grammar that names an allocation strategy in configuration:
//
//   spec  := word [ "(" [ arg { "," arg } ] ")" ]
//   arg   := word "=" spec          a parameter: max=64MiB, upstream=mimalloc
//          | spec                   an allocator this one wraps: stats(arena)
//   word  := one or more of A-Z a-z 0-9 _ . / -   (so a file path is one word)
//
// Spaces around tokens are ignored. Examples: "arena", "arena(upstream=mimalloc)",
// "stats(arena)", "limit(arena, max=64MiB)", "stats(limit(arena(size=4MiB), max=1GiB))".
// This file only parses; corepy/registry.h says which names exist and what they accept.
#ifndef COREPY_COREPY_ALLOCATOR_SPEC_H_
#define COREPY_COREPY_ALLOCATOR_SPEC_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "corepy/internal/require_cxx17.h"

namespace corepy {

struct AllocatorSpec {
  std::string name;
  std::vector<AllocatorSpec> inner;                          // wrapped allocators, in order
  std::vector<std::pair<std::string, AllocatorSpec>> params;  // key=value, in order

  // The value of parameter `key`, or null.
  const AllocatorSpec* param(absl::string_view key) const;
  // Canonical text: no spaces, parameters after wrapped allocators, as written otherwise.
  std::string to_string() const;
};

// Parses a whole spec; anything else is an InvalidArgument error that quotes the text, says
// where it went wrong and what was expected there.
absl::StatusOr<AllocatorSpec> parse_allocator_spec(absl::string_view text);

}  // namespace corepy

#endif  // COREPY_COREPY_ALLOCATOR_SPEC_H_
