#include "allocators/allocation_error.h"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "absl/base/config.h"
#include "absl/strings/str_cat.h"

namespace corepy {
namespace {

std::string allocation_message(const char* resource, std::size_t bytes, std::size_t alignment,
                               const std::string& reason) {
  return absl::StrCat(resource, " cannot allocate ", bytes, " bytes (alignment ", alignment,
                      "): ", reason);
}

[[noreturn, maybe_unused]] void abort_with(const std::string& message) {
  std::fprintf(stderr, "corepy: fatal: %s\n", message.c_str());
  std::abort();
}

}  // namespace

AllocationError::AllocationError(const char* resource, std::size_t bytes, std::size_t alignment,
                                 const std::string& reason)
    : resource_(resource),
      bytes_(bytes),
      alignment_(alignment),
      message_(allocation_message(resource, bytes, alignment, reason)) {}

void throw_allocation_error(const char* resource, std::size_t bytes, std::size_t alignment,
                            const std::string& reason) {
#ifdef ABSL_HAVE_EXCEPTIONS
  throw AllocationError(resource, bytes, alignment, reason);
#else
  abort_with(allocation_message(resource, bytes, alignment, reason));
#endif
}

void throw_bad_alignment(const char* resource, std::size_t alignment) {
  std::string message =
      absl::StrCat(resource, ": alignment ", alignment, " is not a power of two");
#ifdef ABSL_HAVE_EXCEPTIONS
  throw std::invalid_argument(message);
#else
  abort_with(message);
#endif
}

void throw_invalid_argument(const char* resource, const char* what) {
  std::string message = absl::StrCat(resource, ": ", what);
#ifdef ABSL_HAVE_EXCEPTIONS
  throw std::invalid_argument(message);
#else
  abort_with(message);
#endif
}

}  // namespace corepy
