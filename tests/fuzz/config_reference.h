// What the fuzzers that configure corepy know about the arenas a configuration builds.
// configure() builds the calling thread's arena and each per-op arena before it puts a
// configuration in force, and refuses one whose arenas cannot be built (issue 10, defect 5); a
// flag's or the environment's value is then named and replaced by its default. The fuzzers
// take such a refusal as a possible answer where an arena is larger than kLargestArena, or
// takes its blocks through a limit(...), and never otherwise.
#ifndef COREPY_TESTS_FUZZ_CONFIG_REFERENCE_H_
#define COREPY_TESTS_FUZZ_CONFIG_REFERENCE_H_

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "corepy/allocator_spec.h"
#include "corepy/byte_size.h"
#include "tests/fuzz/capped_new.h"

namespace corepy::fuzz {

// Arenas up to this size are always built; this process refuses allocations past
// kLargestAllocation.
inline constexpr std::size_t kLargestArena = std::size_t{16} << 20;
static_assert(kLargestArena < kLargestAllocation, "the arenas the fuzzers need must be buildable");

// The block sizes given by the arenas in `spec` (size=; max_size= only caps growth toward
// real use, so nothing is built for it).
inline void collect_arena_sizes(const AllocatorSpec& spec, std::vector<std::size_t>& sizes) {
  if (spec.name == "arena") {
    if (const AllocatorSpec* v = spec.param("size")) {
      if (auto n = parse_byte_size(v->to_string()); n.ok()) sizes.push_back(*n);
    }
  }
  for (const AllocatorSpec& i : spec.inner) collect_arena_sizes(i, sizes);
}

// Whether `spec` names the allocator `name` anywhere: itself, what it wraps, its params.
inline bool contains_allocator(const AllocatorSpec& spec, absl::string_view name) {
  if (spec.name == name) return true;
  for (const AllocatorSpec& i : spec.inner) {
    if (contains_allocator(i, name)) return true;
  }
  for (const auto& param : spec.params) {
    if (contains_allocator(param.second, name)) return true;
  }
  return false;
}

// trace(x, file=PATH) creates or truncates PATH when configured: a fuzzer never configures one,
// since its path is fuzzed too (it still parses and validates them).
inline bool opens_a_file(const AllocatorSpec& spec) { return contains_allocator(spec, "trace"); }

// Whether an arena in `spec` takes its blocks through a limit, which may refuse any block.
inline bool arena_upstream_limited(const AllocatorSpec& spec) {
  if (spec.name == "arena") {
    const AllocatorSpec* up = spec.param("upstream");
    return up != nullptr && contains_allocator(*up, "limit");
  }
  return std::any_of(spec.inner.begin(), spec.inner.end(), arena_upstream_limited);
}

// Whether a refusal of a configuration whose arenas have `sizes` names one of them.
inline bool names_a_size(absl::string_view message, const std::vector<std::size_t>& sizes) {
  return std::any_of(sizes.begin(), sizes.end(), [message](std::size_t n) {
    return absl::StrContains(message, absl::StrCat(n));
  });
}

}  // namespace corepy::fuzz

#endif  // COREPY_TESTS_FUZZ_CONFIG_REFERENCE_H_
