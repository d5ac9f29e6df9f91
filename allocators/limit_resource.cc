#include "allocators/limit_resource.h"

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "absl/base/config.h"
#include "absl/strings/str_cat.h"
#include "allocators/allocation_error.h"

namespace corepy {
namespace {

constexpr const char* kName = "corepy::LimitResource";

}  // namespace

LimitResource::LimitResource(std::size_t max_bytes, std::pmr::memory_resource* upstream)
    : max_bytes_(max_bytes), upstream_(upstream) {
  if (upstream == nullptr) throw_invalid_argument(kName, "the upstream resource is null");
}

void* LimitResource::do_allocate(std::size_t bytes, std::size_t alignment) {
  if (!is_valid_alignment(alignment)) throw_bad_alignment(kName, alignment);
  std::size_t in_use = in_use_.load(std::memory_order_relaxed);
  do {
    // Written so that it cannot overflow: in_use never exceeds max_bytes_.
    if (bytes > max_bytes_ - in_use) {
      throw_allocation_error(
          kName, bytes, alignment,
          absl::StrCat("limit of ", max_bytes_, " bytes exceeded: ", in_use, " bytes in use"));
    }
  } while (!in_use_.compare_exchange_weak(in_use, in_use + bytes, std::memory_order_relaxed));

  void* p = nullptr;
#ifdef ABSL_HAVE_EXCEPTIONS
  try {
    p = upstream_->allocate(bytes, alignment);
  } catch (...) {
    in_use_.fetch_sub(bytes, std::memory_order_relaxed);
    throw;
  }
#else
  p = upstream_->allocate(bytes, alignment);
#endif

  const std::size_t now = in_use + bytes;
  std::size_t peak = peak_.load(std::memory_order_relaxed);
  while (peak < now && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
  return p;
}

void LimitResource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment) noexcept {
  upstream_->deallocate(p, bytes, alignment);
  // Only after the upstream has the memory back, so the cap also bounds what the upstream holds.
  [[maybe_unused]] const std::size_t before = in_use_.fetch_sub(bytes, std::memory_order_relaxed);
  assert(before >= bytes && "deallocated more bytes than are in use");
}

}  // namespace corepy
