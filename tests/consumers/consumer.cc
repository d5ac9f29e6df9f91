// A program outside corepy's build that uses an installed corepy: built by cmake/ (find_package)
// and by pkgconfig/ (pkg-config), run by run.sh. It runs a scoped op whose scratch comes from a
// resource of its own, an op whose result does, and the C ABI, and checks each answer and that the
// installed version.h, the C ABI and the package manager (EXPECTED_VERSION) agree.
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <memory>
#include <memory_resource>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "allocators/arena_resource.h"
#include "corepy/c_api.h"
#include "corepy/config.h"
#include "corepy/dispatch.h"
#include "corepy/registry.h"
#include "corepy/version.h"
#include "ops/reduce.h"

#ifndef EXPECTED_VERSION
#error "build with -DEXPECTED_VERSION=\"<the version the package manager found>\""
#endif

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "consumer: FAILED: %s\n", what);
    ++failures;
  }
}

// Counts what it is asked for and gets it from the resource it wraps.
class CountingResource final : public std::pmr::memory_resource {
 public:
  explicit CountingResource(std::pmr::memory_resource* inner) : inner_(inner) {}
  static inline std::atomic<std::size_t> allocations{0};

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

}  // namespace

int main() {
  check(std::strcmp(COREPY_VERSION_STRING, EXPECTED_VERSION) == 0,
        "corepy/version.h is the version the package manager found");
  check(std::strcmp(corepy_version(), COREPY_VERSION_STRING) == 0,
        "corepy_version() is corepy/version.h's");

  // A scoped op through the runtime, its scratch from a resource of ours over the thread's arena.
  absl::Status r = corepy::register_allocator("counting", [](const corepy::AllocatorArgs& args) {
    return args.inner ? std::make_shared<CountingResource>(args.inner) : nullptr;
  });
  check(r.ok(), "register_allocator(\"counting\")");
  corepy::Options o;
  o.allocator = "counting(arena)";
  check(corepy::configure(o).ok(), "configure(allocator = \"counting(arena)\")");
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  check(corepy::sum_f32_compensated_cpu_dispatch(x.data(), x.size()) == 21,
        "sum_f32_compensated_cpu_dispatch({1..6}) == 21");
  check(CountingResource::allocations > 0, "the op's scratch came from CountingResource");

  // An op whose result lives on our resource, with an arena of ours for scratch.
  CountingResource result(std::pmr::new_delete_resource());
  corepy::ArenaResource arena(4096, &result);
  const std::size_t before = CountingResource::allocations;
  absl::StatusOr<std::pmr::vector<float>> rows = corepy::ops::sum_rows_f32(x.data(), 2, 3, &result, &arena);
  check(rows.ok() && *rows == std::pmr::vector<float>{6, 15}, "sum_rows_f32 of [[1,2,3],[4,5,6]]");
  check(CountingResource::allocations > before, "the rows' result came from CountingResource");

  // The C ABI (libcorepy.so).
  float sum = 0;
  check(corepy_sum_f32(x.data(), x.size(), &sum) == COREPY_OK && sum == 21, "corepy_sum_f32");

  if (failures != 0) return 1;
  std::printf("consumer: corepy %s: scoped op, custom resource and C ABI ok\n", corepy_version());
  return 0;
}
