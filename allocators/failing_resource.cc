#include "allocators/failing_resource.h"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "absl/strings/str_cat.h"
#include "allocators/allocation_error.h"

namespace corepy::testing {
namespace {

constexpr const char* kName = "corepy::testing::FailingResource";

}  // namespace

FailingResource::FailingResource(std::pmr::memory_resource* upstream) : upstream_(upstream) {
  if (upstream == nullptr) {
    throw std::invalid_argument(std::string(kName) + ": the upstream resource is null");
  }
}

void FailingResource::fail_at(std::size_t n) noexcept {
  const std::size_t base = attempted_.load(std::memory_order_relaxed);
  fail_index_.store(n > kNever - 1 - base ? kNever : base + n, std::memory_order_relaxed);
}

void FailingResource::fail_never() noexcept {
  fail_index_.store(kNever, std::memory_order_relaxed);
}

void* FailingResource::do_allocate(std::size_t bytes, std::size_t alignment) {
  const std::size_t index = attempted_.fetch_add(1, std::memory_order_relaxed);
  if (index == fail_index_.load(std::memory_order_relaxed)) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    throw_allocation_error(kName, bytes, alignment,
                           absl::StrCat("failure injected at this resource's allocation ", index,
                                        " (counting from 0)"));
  }
  // Refused here too: the default upstream, libstdc++'s new_delete_resource, wraps around at
  // alignments near 2^63 (and a sanitizer's operator new fails a CHECK there).
  if (!fits_in_address_space(bytes, alignment)) {
    throw_allocation_error(kName, bytes, alignment,
                           "with its alignment, larger than any object can be");
  }
  void* p = upstream_->allocate(bytes, alignment);
  bytes_.fetch_add(bytes, std::memory_order_relaxed);
  allocations_.fetch_add(1, std::memory_order_relaxed);
  return p;
}

void FailingResource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment) noexcept {
  upstream_->deallocate(p, bytes, alignment);
  bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  allocations_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace corepy::testing
