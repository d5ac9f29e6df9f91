// Byte sizes as configuration writes them: "4096", "64KiB", "1MiB", "2GiB" (binary units),
// "64KB", "1MB", "2GB" (decimal units), "512B". Declared for users in corepy/config.h.
#ifndef COREPY_COREPY_BYTE_SIZE_H_
#define COREPY_COREPY_BYTE_SIZE_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "corepy/internal/require_cxx17.h"

namespace corepy {

// Surrounding whitespace is ignored; anything else, or a value that does not fit size_t, is an
// InvalidArgument error quoting the text and saying what is accepted.
absl::StatusOr<std::size_t> parse_byte_size(absl::string_view text);

}  // namespace corepy

#endif  // COREPY_COREPY_BYTE_SIZE_H_
