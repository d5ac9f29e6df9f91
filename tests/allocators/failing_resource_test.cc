#include "allocators/failing_resource.h"

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "allocators/allocation_error.h"
#include "allocators/upstream_resources.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corepy::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(FailingResource, PassesThroughAndCounts) {
  FailingResource failing(new_delete_upstream());
  EXPECT_EQ(failing.upstream(), new_delete_upstream());
  void* a = failing.allocate(100, 64);
  void* b = failing.allocate(20, 8);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a) % 64, 0u);
  EXPECT_EQ(failing.allocations_attempted(), 2u);
  EXPECT_EQ(failing.bytes_in_use(), 120u);
  EXPECT_EQ(failing.allocations_in_use(), 2u);
  failing.deallocate(a, 100, 64);
  EXPECT_EQ(failing.bytes_in_use(), 20u);
  EXPECT_EQ(failing.allocations_in_use(), 1u);
  failing.deallocate(b, 20, 8);
  EXPECT_EQ(failing.bytes_in_use(), 0u);
  EXPECT_EQ(failing.failures(), 0u);
  EXPECT_TRUE(failing.is_equal(failing));
  FailingResource other(new_delete_upstream());
  EXPECT_FALSE(failing.is_equal(other));
}

TEST(FailingResource, FailsExactlyTheNthAllocationFromNow) {
  FailingResource failing(new_delete_upstream());
  void* before = failing.allocate(1, 1);  // counting starts at fail_at, not at construction
  failing.fail_at(2);
  void* p0 = failing.allocate(10, 8);
  void* p1 = failing.allocate(10, 8);
  try {
    static_cast<void>(failing.allocate(30, 16));
    ADD_FAILURE() << "allocation 2 did not fail";
  } catch (const AllocationError& e) {
    EXPECT_EQ(e.bytes(), 30u);
    EXPECT_EQ(e.alignment(), 16u);
    EXPECT_THAT(e.what(), HasSubstr("failure injected at this resource's allocation 3"));
  }
  void* p3 = failing.allocate(10, 8);  // only that one
  EXPECT_EQ(failing.failures(), 1u);
  EXPECT_EQ(failing.allocations_attempted(), 5u);
  EXPECT_EQ(failing.allocations_in_use(), 4u);
  EXPECT_EQ(failing.bytes_in_use(), 31u);
  for (void* p : {p0, p1, p3}) failing.deallocate(p, 10, 8);
  failing.deallocate(before, 1, 1);
}

TEST(FailingResource, FailNeverDisarms) {
  FailingResource failing(new_delete_upstream());
  failing.fail_at(0);
  failing.fail_never();
  void* p = failing.allocate(8, 8);
  EXPECT_EQ(failing.failures(), 0u);
  failing.deallocate(p, 8, 8);
}

TEST(FailingResource, NullUpstreamIsRejected) {
  EXPECT_THROW(FailingResource(nullptr), std::invalid_argument);
}

// Makes `count` allocations, giving each back; returns which ones were made.
void allocate_n(FailingResource& r, int count, std::vector<int>* made) {
  for (int i = 0; i < count; ++i) {
    void* p = r.allocate(16, 8);
    made->push_back(i);
    r.deallocate(p, 16, 8);
  }
}

TEST(ForEachFailurePoint, FailsEachAllocationOnceInARunOfItsOwn) {
  FailingResource failing(new_delete_upstream());
  std::vector<std::vector<int>> runs;
  const int points = for_each_failure_point(failing, [&](int n) {
    EXPECT_EQ(n, static_cast<int>(runs.size()));
    runs.emplace_back();
    allocate_n(failing, 3, &runs.back());
  });
  EXPECT_EQ(points, 4);
  // Run n got through the n allocations before its failure point; the last got through all.
  EXPECT_THAT(runs,
              ElementsAre(ElementsAre(), ElementsAre(0), ElementsAre(0, 1), ElementsAre(0, 1, 2)));
  EXPECT_EQ(failing.failures(), 3u);
  EXPECT_EQ(failing.bytes_in_use(), 0u);
  void* p = failing.allocate(8, 8);  // disarmed afterwards
  failing.deallocate(p, 8, 8);
}

TEST(ForEachFailurePoint, BodyWithoutArgumentAndBodyThatAllocatesNothing) {
  FailingResource failing(new_delete_upstream());
  int calls = 0;
  EXPECT_EQ(for_each_failure_point(failing, [&] { ++calls; }), 1);
  EXPECT_EQ(calls, 1);
}

TEST(ForEachFailurePoint, AFailureTheBodyHandlesItselfDoesNotEndTheLoop) {
  FailingResource failing(new_delete_upstream());
  int completed_runs = 0;
  const int points = for_each_failure_point(failing, [&] {
    for (int i = 0; i < 4; ++i) {
      try {
        void* p = failing.allocate(8, 8);
        failing.deallocate(p, 8, 8);
      } catch (const std::bad_alloc&) {
        // a fallback path would go here
      }
    }
    ++completed_runs;
  });
  EXPECT_EQ(points, 5);
  EXPECT_EQ(completed_runs, 5);
}

TEST(ForEachFailurePoint, ABadAllocThatWasNotInjectedPropagates) {
  FailingResource failing(new_delete_upstream());
  EXPECT_THROW(for_each_failure_point(failing, [] { throw std::bad_alloc(); }), std::bad_alloc);
  EXPECT_THROW(for_each_failure_point(failing, [] { throw std::logic_error("x"); }),
               std::logic_error);
  void* p = failing.allocate(8, 8);  // disarmed after an escape too
  failing.deallocate(p, 8, 8);
}

TEST(ForEachFailurePoint, BodyThatNeverRunsOutThrowsAfterMaxPoints) {
  FailingResource failing(new_delete_upstream());
  std::vector<void*> held;
  try {
    for_each_failure_point(
        failing,
        [&] {
          for (;;) held.push_back(failing.allocate(1, 1));  // ends only at the failure point
        },
        10);
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("every one of 10 runs reached its failure point"));
  }
  for (void* p : held) failing.deallocate(p, 1, 1);
}

}  // namespace
}  // namespace corepy::testing
