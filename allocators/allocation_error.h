// AllocationError: the std::bad_alloc that corepy's resources throw, carrying what was asked
// for and which resource refused, so a failure deep inside a kernel still says where it came
// from. Code that only knows std::bad_alloc keeps working: it is one.
#ifndef COREPY_ALLOCATORS_ALLOCATION_ERROR_H_
#define COREPY_ALLOCATORS_ALLOCATION_ERROR_H_

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>

#include "corepy/internal/require_cxx17.h"

namespace corepy {

class AllocationError : public std::bad_alloc {
 public:
  // `reason` completes "<resource> cannot allocate <bytes> bytes (alignment <a>): <reason>".
  AllocationError(const char* resource, std::size_t bytes, std::size_t alignment,
                  const std::string& reason);

  const char* what() const noexcept override { return message_.c_str(); }
  const char* resource() const noexcept { return resource_; }
  std::size_t bytes() const noexcept { return bytes_; }
  std::size_t alignment() const noexcept { return alignment_; }

 private:
  const char* resource_;
  std::size_t bytes_;
  std::size_t alignment_;
  std::string message_;
};

// Throws AllocationError, or prints its message and aborts when built with -fno-exceptions.
[[noreturn]] void throw_allocation_error(const char* resource, std::size_t bytes,
                                         std::size_t alignment, const std::string& reason);

// Throws std::invalid_argument naming the bad alignment (or prints and aborts without
// exceptions). Every corepy resource calls this for an alignment that is not a power of two.
[[noreturn]] void throw_bad_alignment(const char* resource, std::size_t alignment);

// Throws std::invalid_argument "<resource>: <what>" (or prints it and aborts without
// exceptions): misuse such as a null upstream.
[[noreturn]] void throw_invalid_argument(const char* resource, const char* what);

// The alignments every corepy resource accepts: powers of two.
constexpr bool is_valid_alignment(std::size_t alignment) {
  return alignment != 0 && (alignment & (alignment - 1)) == 0;
}

// No object is larger than PTRDIFF_MAX bytes (pointer differences must fit).
inline constexpr std::size_t kMaxObjectSize = static_cast<std::size_t>(PTRDIFF_MAX);

// Whether `bytes` at `alignment` (a power of two) can be served at all: a general allocator may
// need bytes + alignment - 1 of address space (a 0-byte request taking 1 byte), and that must
// not pass kMaxObjectSize. Checked without wrapping, so every size and alignment can be asked
// about. corepy's leaf resources refuse anything else before calling the allocator below them,
// whose own arithmetic may wrap (libstdc++'s aligned operator new, or a sanitizer's, at an
// alignment of 2^63).
constexpr bool fits_in_address_space(std::size_t bytes, std::size_t alignment) {
  const std::size_t taken = bytes == 0 ? 1 : bytes;
  return taken <= kMaxObjectSize && alignment - 1 <= kMaxObjectSize - taken;
}

}  // namespace corepy

#endif  // COREPY_ALLOCATORS_ALLOCATION_ERROR_H_
