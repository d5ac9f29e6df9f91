#include <atomic>
#include <cstddef>
#include <iostream>
#include <memory>
#include <memory_resource>
#include <vector>

#include "absl/status/status.h"
#include "corepy/config.h"
#include "corepy/dispatch.h"
#include "corepy/registry.h"

// A resource of your own: counts what the ops take and gets it from the resource it wraps.
class TrackingResource final : public std::pmr::memory_resource {
 public:
  explicit TrackingResource(std::pmr::memory_resource* inner) : inner_(inner) {}
  static inline std::atomic<std::size_t> allocations{0};  // by every thread's instance

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    allocations.fetch_add(1, std::memory_order_relaxed);
    return inner_->allocate(bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    inner_->deallocate(p, bytes, alignment);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }
  std::pmr::memory_resource* inner_;
};

int main() {
  absl::Status r = corepy::register_allocator("tracked", [](const corepy::AllocatorArgs& args) {
    // args.inner: what it wraps (the thread's arena in "tracked(arena)"); null refuses
    return args.inner ? std::make_shared<TrackingResource>(args.inner) : nullptr;
  });
  if (!r.ok()) {
    std::cerr << r << "\n";
    return 1;
  }
  corepy::Options o;
  o.allocator = "tracked(arena)";         // or COREPY_ALLOCATOR='tracked(arena)'
  absl::Status s = corepy::configure(o);  // checks everything; on error changes nothing
  if (!s.ok()) {
    std::cerr << s << "\n";
    return 1;
  }

  // The compensated sum takes its lane terms from the op's scratch: now a TrackingResource.
  std::vector<float> x = {1, 2, 3};
  float sum = corepy::sum_f32_compensated_cpu_dispatch(x.data(), x.size());
  if (sum != 6 || TrackingResource::allocations == 0) return 1;
  return 0;
}
