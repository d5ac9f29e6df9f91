// The BDE-style failure loop of issue #6 with its four checks, for every area the reliability
// tests cover: ops, configuration and registry, thread-local scopes.
//
// check_every_failure_point(failing, arena, call) runs `call` under
// testing::for_each_failure_point, so every upstream allocation the call makes fails once, in a
// run of its own, and checks at every point:
//   - the failure reaches the caller as std::bad_alloc (a run in which the injected failure
//     fired but the call returned normally is an error: the failure was swallowed);
//   - the FailingResource's bytes in use are back to what they were before the call;
//   - the arena's `used` (when an arena is given) is back to its value before the call;
//   - the next call, with nothing armed, succeeds (and checks its own result).
// `call` checks its result itself (EXPECT_*), and lets std::bad_alloc escape.
//
// Each loop adds its number of points to a per-area tally that the test binary prints at exit
// ("failure points tried: <area> <n>"), the figure the issue asks to report.
#ifndef COREPY_TESTS_RELIABILITY_FAILURE_POINTS_H_
#define COREPY_TESTS_RELIABILITY_FAILURE_POINTS_H_

#include <cstddef>
#include <functional>
#include <new>
#include <string>

#include "allocators/arena_resource.h"
#include "allocators/failing_resource.h"
#include "gtest/gtest.h"

namespace corepy::reliability {

// Adds `points` to `area`'s tally.
void tally_failure_points(const std::string& area, int points);

// What a loop found: runs made (the last one met no failure) and failures that reached the
// caller.
struct FailureLoop {
  int points = 0;
  int caught = 0;
};

// `area` names the tally; `arena` may be null.
FailureLoop check_every_failure_point(const std::string& area,
                                      testing::FailingResource& failing,
                                      const ArenaResource* arena,
                                      const std::function<void()>& call);

}  // namespace corepy::reliability

#endif  // COREPY_TESTS_RELIABILITY_FAILURE_POINTS_H_
