// The conformance suite that every corepy memory resource runs, as RMM's mr_ref_test does for
// its resources: sizes from 0 to 1 MiB at every alignment from 1 to 4096, memory that is
// writable and does not overlap, pmr containers growing, is_equal, bad alignments and huge sizes
// refused with the documented exceptions, and the resource still usable after a refusal.
//
// A test file instantiates it for the resources it covers:
//
//   INSTANTIATE_TEST_SUITE_P(Stats, ResourceTest,
//                            ::testing::Values(ResourceCase{"StatsOverNewDelete", make, verify}),
//                            ResourceCaseName);
//
// The tests themselves are in resource_test_suite.cc, linked in by the :resource_test_suite
// target (alwayslink), so a binary links them once whatever includes this header.
#ifndef COREPY_TESTS_ALLOCATORS_RESOURCE_TEST_SUITE_H_
#define COREPY_TESTS_ALLOCATORS_RESOURCE_TEST_SUITE_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <memory_resource>
#include <ostream>
#include <string>

#include "gtest/gtest.h"

namespace corepy::testing {

// One resource for the suite, made afresh for each test.
struct ResourceCase {
  std::string name;  // the test's name suffix: letters, digits and underscores only
  std::function<std::shared_ptr<std::pmr::memory_resource>()> make;
  // Run after each test on the resource it made (may be empty), e.g. to check that the suite
  // gave back everything it took.
  std::function<void(std::pmr::memory_resource&)> verify;
};

inline void PrintTo(const ResourceCase& c, std::ostream* os) { *os << c.name; }

inline std::string ResourceCaseName(const ::testing::TestParamInfo<ResourceCase>& info) {
  return info.param.name;
}

// A resource that lives as long as the process, in a shared_ptr that does not own it.
inline std::shared_ptr<std::pmr::memory_resource> Unowned(std::pmr::memory_resource* r) {
  return std::shared_ptr<std::pmr::memory_resource>(r, [](std::pmr::memory_resource*) {});
}

// `n`, hidden from the optimizer, so that GCC does not reject a deliberately huge request at
// compile time (-Walloc-size-larger-than).
inline std::size_t Opaque(std::size_t n) {
  volatile std::size_t hidden = n;
  return hidden;
}

class ResourceTest : public ::testing::TestWithParam<ResourceCase> {
 protected:
  void SetUp() override;
  void TearDown() override;

  std::pmr::memory_resource* resource() const { return resource_.get(); }

 private:
  std::shared_ptr<std::pmr::memory_resource> resource_;
};

}  // namespace corepy::testing

#endif  // COREPY_TESTS_ALLOCATORS_RESOURCE_TEST_SUITE_H_
