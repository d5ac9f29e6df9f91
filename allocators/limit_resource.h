// LimitResource: a hard cap on the bytes that may be in use through it at once, over any
// upstream resource.
//
// It makes a memory budget enforceable: a kernel, a request or a test gets a resource that
// refuses (throws corepy::AllocationError, a std::bad_alloc) as soon as a request would take the
// bytes in use past the cap, without ever asking the upstream for it, so the refusal is the same
// on every machine whatever the upstream has left. Bytes are counted as requested; the upstream's
// own padding and headers are not seen. Like RMM's limiting_resource_adaptor.
//
// Thread-safe and lock-free: a request reserves its bytes with a compare-exchange before it goes
// to the upstream, so concurrent requests can never overshoot the cap together, and a request
// the upstream refuses gives its reservation back.
#ifndef COREPY_ALLOCATORS_LIMIT_RESOURCE_H_
#define COREPY_ALLOCATORS_LIMIT_RESOURCE_H_

#include <atomic>
#include <cstddef>
#include <memory_resource>

#include "corepy/internal/require_cxx17.h"

namespace corepy {

class LimitResource final : public std::pmr::memory_resource {
 public:
  explicit LimitResource(std::size_t max_bytes,
                         std::pmr::memory_resource* upstream = std::pmr::get_default_resource());
  LimitResource(const LimitResource&) = delete;
  LimitResource& operator=(const LimitResource&) = delete;
  ~LimitResource() override = default;

  std::size_t max_bytes() const noexcept { return max_bytes_; }
  std::size_t bytes_in_use() const noexcept { return in_use_.load(std::memory_order_relaxed); }
  // The most bytes ever in use at once.
  std::size_t peak_bytes() const noexcept { return peak_.load(std::memory_order_relaxed); }
  std::pmr::memory_resource* upstream() const noexcept { return upstream_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) noexcept override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  const std::size_t max_bytes_;
  std::pmr::memory_resource* const upstream_;
  std::atomic<std::size_t> in_use_{0};
  std::atomic<std::size_t> peak_{0};
};

}  // namespace corepy

#endif  // COREPY_ALLOCATORS_LIMIT_RESOURCE_H_
