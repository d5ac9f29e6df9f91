// FailingResource and for_each_failure_point: the way to prove that code using a memory resource
// leaks nothing and stays consistent at every point where an allocation can fail.
//
// FailingResource passes everything through to its upstream, counting what is in use, except
// that after fail_at(n) it refuses (throws corepy::AllocationError, a std::bad_alloc) the n-th
// allocation attempted from then on, counting from 0, and only that one, as BDE's
// bslma::TestAllocator does with its allocation limit. for_each_failure_point runs a test body
// with fail_at(0), then fail_at(1), ... until a run makes fewer allocations than the point being
// failed, so every allocation the body makes has failed once, in a run of its own:
//
//   corepy::testing::FailingResource failing(std::pmr::new_delete_resource());
//   int points = corepy::testing::for_each_failure_point(failing, [&](int n) {
//     SCOPED_TRACE(n);
//     try {
//       Thing thing(&failing);                  // may throw std::bad_alloc anywhere inside
//       const auto before = thing.state();
//       try {
//         thing.grow();
//       } catch (const std::bad_alloc&) {
//         EXPECT_EQ(thing.state(), before);     // strong guarantee: unchanged
//         throw;
//       }
//     } catch (const std::bad_alloc&) {
//       EXPECT_EQ(failing.bytes_in_use(), 0u);  // `thing` is gone and gave everything back
//       throw;                                  // let the loop see the failure
//     }
//     EXPECT_EQ(failing.bytes_in_use(), 0u);
//   });
//
// The loop checks nothing itself: the body checks its invariants where it catches, and lets the
// std::bad_alloc escape.
//
// Test-only (the target is testonly). Counters are atomics so that a resource shared by threads
// stays well defined, but "the n-th allocation" is then whichever thread gets there.
#ifndef COREPY_ALLOCATORS_FAILING_RESOURCE_H_
#define COREPY_ALLOCATORS_FAILING_RESOURCE_H_

#include <atomic>
#include <cstddef>
#include <limits>
#include <memory_resource>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "corepy/internal/require_cxx17.h"

namespace corepy::testing {

class FailingResource final : public std::pmr::memory_resource {
 public:
  explicit FailingResource(std::pmr::memory_resource* upstream = std::pmr::new_delete_resource());
  FailingResource(const FailingResource&) = delete;
  FailingResource& operator=(const FailingResource&) = delete;
  ~FailingResource() override = default;

  // Arms one failure: the n-th allocation attempted from now on (0 is the next one) throws.
  void fail_at(std::size_t n) noexcept;
  void fail_never() noexcept;

  // Every call to allocate, refused ones included.
  std::size_t allocations_attempted() const noexcept {
    return attempted_.load(std::memory_order_relaxed);
  }
  // Allocations refused on purpose so far.
  std::size_t failures() const noexcept { return failures_.load(std::memory_order_relaxed); }
  // What was allocated through this resource and not yet deallocated, as requested.
  std::size_t bytes_in_use() const noexcept { return bytes_.load(std::memory_order_relaxed); }
  std::size_t allocations_in_use() const noexcept {
    return allocations_.load(std::memory_order_relaxed);
  }
  std::pmr::memory_resource* upstream() const noexcept { return upstream_; }

 private:
  static constexpr std::size_t kNever = std::numeric_limits<std::size_t>::max();

  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) noexcept override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  std::pmr::memory_resource* const upstream_;
  std::atomic<std::size_t> attempted_{0};
  std::atomic<std::size_t> fail_index_{kNever};  // the value of attempted_ that fails
  std::atomic<std::size_t> failures_{0};
  std::atomic<std::size_t> bytes_{0};
  std::atomic<std::size_t> allocations_{0};
};

// Runs body with failure points 0, 1, 2, ... armed on `resource`, as described above, and
// returns how many runs it made (the last of which met no failure). `body` is called as
// body(int n) if it takes an int, else as body(). A run may end in a std::bad_alloc or not (the
// body may handle a failure itself); the loop ends at the first run in which the armed failure
// was never reached. A std::bad_alloc that the resource did not inject, and every other
// exception, propagates. If `max_points` runs all reach their failure, it throws
// std::runtime_error: the body allocates without end, or more than the caller expected.
template <class F>
int for_each_failure_point(FailingResource& resource, F&& body, int max_points = 100000) {
  for (int n = 0; n < max_points; ++n) {
    const std::size_t failures_before = resource.failures();
    resource.fail_at(static_cast<std::size_t>(n));
    try {
      if constexpr (std::is_invocable_v<F&, int>) {
        body(n);
      } else {
        body();
      }
    } catch (const std::bad_alloc&) {
      resource.fail_never();
      if (resource.failures() == failures_before) throw;  // not ours: a real failure
      continue;
    } catch (...) {
      resource.fail_never();
      throw;
    }
    resource.fail_never();
    if (resource.failures() == failures_before) return n + 1;
  }
  throw std::runtime_error("corepy::testing::for_each_failure_point: every one of " +
                           std::to_string(max_points) +
                           " runs reached its failure point; raise max_points if the body "
                           "really makes that many allocations");
}

}  // namespace corepy::testing

#endif  // COREPY_ALLOCATORS_FAILING_RESOURCE_H_
