// A global operator new that refuses any single allocation past kLargestAllocation
// (capped_new.cc says why). Linked into the C ABI and configuration fuzzers.
#ifndef COREPY_TESTS_FUZZ_CAPPED_NEW_H_
#define COREPY_TESTS_FUZZ_CAPPED_NEW_H_

#include <cstddef>

namespace corepy::fuzz {

inline constexpr std::size_t kLargestAllocation = std::size_t{64} << 20;

}  // namespace corepy::fuzz

#endif  // COREPY_TESTS_FUZZ_CAPPED_NEW_H_
