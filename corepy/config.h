// Configuration of corepy's runtime: parsing of sizes and the settings read from the
// environment. Parsing returns absl::Status with a message that quotes the bad text; the
// runtime names a bad environment value once on stderr and keeps its default.
#ifndef COREPY_COREPY_CONFIG_H_
#define COREPY_COREPY_CONFIG_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace corepy {

// "4096", "64KiB", "1MiB", "2GiB" (binary units), "64KB", "1MB", "2GB" (decimal units), or "512B".
// Surrounding whitespace is ignored; anything else, or a value that does not fit size_t, is an
// InvalidArgument error quoting the text.
absl::StatusOr<std::size_t> parse_byte_size(absl::string_view text);

// The capacity of each thread's arena: COREPY_ARENA_SIZE if it is set and valid, else 1 MiB.
// Read once per process.
std::size_t arena_capacity_from_env();

}  // namespace corepy

#endif  // COREPY_COREPY_CONFIG_H_
