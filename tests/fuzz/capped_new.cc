// The global operator new and delete of the C ABI and configuration fuzzers: a machine that
// refuses any single allocation past kLargestAllocation, deterministically and without
// allocating.
//
// configure() builds the calling thread's arenas before it puts a configuration in force, so a
// fuzzed "arena_size 100GiB" is really asked of operator new (issue 10, defect 5: it must then
// be refused, changing nothing). Under the fuzz build that request would not come back as a
// refusal: ASan aborts on a request beyond its limit or its mmap (allocator_may_return_null is
// off), and libFuzzer stops the run at any single allocation of -malloc_limit_mb (2 GiB). With
// this cap every size past it is refused the same way on every machine and in every build that
// keeps the binary's operator new (not under Valgrind, which replaces it: there the machine's
// own limits apply, which is why the fuzzers only say such sizes *may* be refused).
#include "tests/fuzz/capped_new.h"

#include <cstddef>
#include <cstdlib>
#include <new>

namespace {

void* take(std::size_t n, std::size_t alignment) noexcept {
  if (n > corepy::fuzz::kLargestAllocation) return nullptr;
  if (n == 0) n = 1;
  if (alignment <= alignof(std::max_align_t)) return std::malloc(n);
  void* p = nullptr;
  return posix_memalign(&p, alignment, n) == 0 ? p : nullptr;
}

void* take_or_throw(std::size_t n, std::size_t alignment) {
  void* p = take(n, alignment);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(std::size_t n) { return take_or_throw(n, 0); }
void* operator new[](std::size_t n) { return take_or_throw(n, 0); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return take(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return take(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) {
  return take_or_throw(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return take_or_throw(n, static_cast<std::size_t>(a));
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return take(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return take(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
