// Tells AddressSanitizer and Valgrind memcheck which bytes of an arena are handed out, so that a
// use after rewind is reported by whichever tool is running. The calls are free in a plain build:
// the ASan ones compile away, and the Valgrind client requests are a few no-op instructions that
// corepy only issues on its slow path.
#ifndef COREPY_ALLOCATORS_INTERNAL_MEMORY_ANNOTATIONS_H_
#define COREPY_ALLOCATORS_INTERNAL_MEMORY_ANNOTATIONS_H_

#include <cstddef>

#include "absl/base/config.h"

#ifdef ABSL_HAVE_ADDRESS_SANITIZER
#include <sanitizer/asan_interface.h>
#endif
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>

namespace corepy::internal {

inline constexpr bool kAsan =
#ifdef ABSL_HAVE_ADDRESS_SANITIZER
    true;
#else
    false;
#endif

inline bool running_on_valgrind() { return RUNNING_ON_VALGRIND != 0; }

// Marks [p, p + n) as not to be touched / as usable.
inline void poison(const void* p, std::size_t n) {
  if (n == 0) return;
#ifdef ABSL_HAVE_ADDRESS_SANITIZER
  ASAN_POISON_MEMORY_REGION(p, n);
#endif
  VALGRIND_MAKE_MEM_NOACCESS(p, n);
}

inline void unpoison(const void* p, std::size_t n) {
  if (n == 0) return;
#ifdef ABSL_HAVE_ADDRESS_SANITIZER
  ASAN_UNPOISON_MEMORY_REGION(p, n);
#endif
  VALGRIND_MAKE_MEM_DEFINED(p, n);
}

// Valgrind mempools, one per region that an arena bumps through (its block, each spill chunk),
// as PostgreSQL's memory contexts do: memcheck then sees each allocation and each rewind.
inline void pool_create(const void* pool) { VALGRIND_CREATE_MEMPOOL(pool, 0, 0); }
inline void pool_destroy(const void* pool) { VALGRIND_DESTROY_MEMPOOL(pool); }
inline void pool_alloc(const void* pool, const void* p, std::size_t n) {
  VALGRIND_MEMPOOL_ALLOC(pool, p, n);
#ifdef ABSL_HAVE_ADDRESS_SANITIZER
  if (n != 0) ASAN_UNPOISON_MEMORY_REGION(p, n);
#endif
}
inline void pool_free(const void* pool, const void* p) { VALGRIND_MEMPOOL_FREE(pool, p); }
// Drops every allocation outside [begin, begin + n); the bytes past it become unaddressable.
inline void pool_trim(const void* pool, const void* begin, std::size_t n) {
  VALGRIND_MEMPOOL_TRIM(pool, begin, n);
}

}  // namespace corepy::internal

#endif  // COREPY_ALLOCATORS_INTERNAL_MEMORY_ANNOTATIONS_H_
