#include "tests/reliability/failure_points.h"

#include <cstdio>
#include <map>
#include <mutex>

namespace corepy::reliability {
namespace {

struct Tally {
  std::mutex mutex;
  std::map<std::string, int> points;
};

Tally& tally() {
  static Tally* t = new Tally;  // never destroyed: read by the environment's TearDown
  return *t;
}

// Prints the tally once every test has run: the test log then holds the figures.
class PrintTally : public ::testing::Environment {
 public:
  void TearDown() override {
    Tally& t = tally();
    std::lock_guard<std::mutex> lock(t.mutex);
    int total = 0;
    for (const auto& [area, points] : t.points) {
      std::printf("failure points tried: %s %d\n", area.c_str(), points);
      total += points;
    }
    std::printf("failure points tried: total %d\n", total);
  }
};
::testing::Environment* const print_tally = ::testing::AddGlobalTestEnvironment(new PrintTally);

}  // namespace

void tally_failure_points(const std::string& area, int points) {
  Tally& t = tally();
  std::lock_guard<std::mutex> lock(t.mutex);
  t.points[area] += points;
}

FailureLoop check_every_failure_point(const std::string& area,
                                      testing::FailingResource& failing,
                                      const ArenaResource* arena,
                                      const std::function<void()>& call) {
  const std::size_t upstream_before = failing.bytes_in_use();
  const std::size_t used_before = arena != nullptr ? arena->used() : 0;
  auto expect_unchanged = [&](const char* when) {
    EXPECT_EQ(failing.bytes_in_use(), upstream_before) << when;
    if (arena != nullptr) {
      EXPECT_EQ(arena->used(), used_before) << when;
    }
  };
  FailureLoop loop;
  loop.points = testing::for_each_failure_point(failing, [&](int n) {
    SCOPED_TRACE(::testing::Message() << area << ", failure point " << n);
    const std::size_t failures_before = failing.failures();
    try {
      call();
    } catch (const std::bad_alloc&) {
      ++loop.caught;
      expect_unchanged("after the failure");
      // Only the n-th allocation fails: the same call again must work and leave nothing.
      failing.fail_never();
      call();
      expect_unchanged("after the next call");
      throw;
    }
    EXPECT_EQ(failing.failures(), failures_before)
        << "the injected failure fired but the call returned normally: it was swallowed";
    expect_unchanged("after a call that met no failure");
  });
  EXPECT_EQ(loop.caught, loop.points - 1);
  tally_failure_points(area, loop.points);
  return loop;
}

}  // namespace corepy::reliability
