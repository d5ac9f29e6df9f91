// The mimalloc upstream, apart from the other upstreams because it cannot run under Valgrind
// (see upstream_resources.h); tagged no_valgrind.
#include <dlfcn.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory_resource>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "allocators/allocation_error.h"
#include "allocators/upstream_resources.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/allocators/resource_test_suite.h"

namespace corepy {
namespace {

using ::corepy::testing::Opaque;
using ::corepy::testing::ResourceCase;
using ::corepy::testing::ResourceTest;
using ::corepy::testing::Unowned;
using ::testing::HasSubstr;

INSTANTIATE_TEST_SUITE_P(Mimalloc, ResourceTest,
                         ::testing::Values(ResourceCase{
                             "Mimalloc", [] { return Unowned(mimalloc_upstream()); }, {}}),
                         corepy::testing::ResourceCaseName);

// mimalloc's own answer to "is this yours?", from the copy the resource loaded.
bool owned_by_mimalloc(const void* p) {
  void* library = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
  if (library == nullptr) {
    ADD_FAILURE() << "libmimalloc.so.2 is not loaded";
    return false;
  }
  auto check_owned = reinterpret_cast<bool (*)(const void*)>(dlsym(library, "mi_check_owned"));
  const bool owned = check_owned != nullptr && check_owned(p);
  dlclose(library);  // drops only the reference RTLD_NOLOAD took
  return owned;
}

TEST(MimallocUpstream, IsNamedAndAvailable) {
  absl::StatusOr<std::pmr::memory_resource*> r = upstream_by_name("mimalloc");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, mimalloc_upstream());
  EXPECT_EQ(mimalloc_upstream(), mimalloc_upstream());
  EXPECT_FALSE(mimalloc_upstream()->is_equal(*new_delete_upstream()));
}

TEST(MimallocUpstream, MemoryComesFromMimallocAndMallocIsLeftAlone) {
  void* p = mimalloc_upstream()->allocate(1000, 256);
  EXPECT_TRUE(owned_by_mimalloc(p));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 256, 0u);
  void* m = std::malloc(1000);
  void* n = new_delete_upstream()->allocate(1000, 64);
  EXPECT_FALSE(owned_by_mimalloc(m)) << "loading mimalloc replaced malloc";
  EXPECT_FALSE(owned_by_mimalloc(n)) << "loading mimalloc replaced operator new";
  new_delete_upstream()->deallocate(n, 1000, 64);
  std::free(m);
  mimalloc_upstream()->deallocate(p, 1000, 256);
}

// mimalloc 2.0.9's mi_malloc_aligned misaligns these (microsoft/mimalloc#700).
TEST(MimallocUpstream, SizeEqualToAlignmentIsAligned) {
  for (std::size_t alignment : {256, 512, 1024}) {
    for (int i = 0; i < 8; ++i) {
      void* p = mimalloc_upstream()->allocate(alignment, alignment);
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % alignment, 0u) << alignment;
      mimalloc_upstream()->deallocate(p, alignment, alignment);
    }
  }
}

TEST(MimallocUpstream, RefusalIsAnAllocationErrorNamingIt) {
  try {
    static_cast<void>(mimalloc_upstream()->allocate(Opaque(SIZE_MAX - 8), 64));
    ADD_FAILURE() << "served";
  } catch (const AllocationError& e) {
    EXPECT_STREQ(e.resource(), "corepy::mimalloc_upstream");
    EXPECT_THAT(e.what(), HasSubstr("larger than any object can be"));
  }
  try {
    // Within PTRDIFF_MAX, so mimalloc itself is asked, and refuses.
    static_cast<void>(mimalloc_upstream()->allocate(Opaque(std::size_t{1} << 62), 64));
    ADD_FAILURE() << "served";
  } catch (const AllocationError& e) {
    EXPECT_STREQ(e.resource(), "corepy::mimalloc_upstream");
    EXPECT_THAT(e.what(), HasSubstr("mimalloc refused"));
  }
  try {
    static_cast<void>(mimalloc_upstream()->allocate(8, 24));
    ADD_FAILURE() << "alignment 24 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("corepy::mimalloc_upstream: alignment 24"));
  }
}

// For ThreadSanitizer: one mimalloc upstream under every thread's arena.
TEST(MimallocUpstream, ManyThreads) {
  std::pmr::memory_resource* r = mimalloc_upstream();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([r, t] {
      std::vector<std::pair<unsigned char*, std::size_t>> held;
      for (int i = 0; i < 2000; ++i) {
        const std::size_t bytes = static_cast<std::size_t>((i * 37 + t) % 700 + 1);
        auto* p = static_cast<unsigned char*>(r->allocate(bytes, 16));
        p[0] = static_cast<unsigned char>(t);
        p[bytes - 1] = static_cast<unsigned char>(t);
        held.emplace_back(p, bytes);
        if (held.size() > 20) {
          auto [q, n] = held.front();
          EXPECT_EQ(q[0], t);
          EXPECT_EQ(q[n - 1], t);
          r->deallocate(q, n, 16);
          held.erase(held.begin());
        }
      }
      for (auto [q, n] : held) r->deallocate(q, n, 16);
    });
  }
  for (std::thread& th : threads) th.join();
}

}  // namespace
}  // namespace corepy
