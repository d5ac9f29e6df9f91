// Issue 10, defect 3: allocator factories that call back into corepy.
// configure() held the configuration mutex while non-arena factories ran, so a
// factory that read settings(), ran an op or called configure() deadlocked
// configure() forever. Now no user code runs under a corepy lock: settings()
// and ops work inside a factory, and a configure() from inside one returns
// FailedPrecondition. Each case runs in a child process with a deadline, so the
// old deadlock fails the test (SIGALRM) instead of hanging it.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <memory_resource>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "allocators/stats_resource.h"
#include "corepy/config.h"
#include "corepy/dispatch.h"
#include "corepy/registry.h"
#include "gtest/gtest.h"

namespace corepy {
namespace {

#define REQUIRE(cond, ...)                         \
  do {                                             \
    if (!(cond)) {                                 \
      std::fprintf(stderr, "failed: %s: ", #cond); \
      std::fprintf(stderr, __VA_ARGS__);           \
      std::fprintf(stderr, "\n");                  \
      std::_Exit(1);                               \
    }                                              \
  } while (0)

float sum_of_three() {
  const float x[] = {1, 2, 3};
  return sum_f32_cpu_dispatch(x, 3);
}

std::shared_ptr<std::pmr::memory_resource> stats_over(std::pmr::memory_resource* inner) {
  return std::make_shared<StatsResource>(inner != nullptr ? inner
                                                          : std::pmr::new_delete_resource());
}

// Registers `factory` as `name` and configures `spec`, which must succeed.
void register_and_configure(const char* name, AllocatorFactory factory, const char* spec) {
  REQUIRE(register_allocator(name, std::move(factory)).ok(), "register %s", name);
  Options o;
  o.allocator = spec;
  const absl::Status s = configure(o);
  REQUIRE(s.ok(), "%s", s.ToString().c_str());
}

// Runs `body` in a child process that must exit 0 within 20 seconds.
template <class Body>
void in_child_with_deadline(Body body) {
  EXPECT_EXIT(
      {
        alarm(20);
        body();
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(ReentrantFactoryTest, AFactoryMayReadSettings) {
  in_child_with_deadline([] {
    std::string seen;
    register_and_configure(
        "reads_settings",
        [&seen](const AllocatorArgs& args) {
          seen = settings().allocator;
          return stats_over(args.inner);
        },
        "reads_settings");
    REQUIRE(!seen.empty(), "the factory did not run");
    REQUIRE(settings().allocator == "reads_settings", "%s", settings().allocator.c_str());
    REQUIRE(sum_of_three() == 6.0f, "sum");
  });
}

TEST(ReentrantFactoryTest, AFactoryMayRunAnOp) {
  in_child_with_deadline([] {
    float inside = 0;
    register_and_configure(
        "runs_op",
        [&inside](const AllocatorArgs& args) {
          inside = sum_of_three();
          return stats_over(args.inner);
        },
        "runs_op");
    REQUIRE(inside == 6.0f, "the op inside the factory returned %f", inside);
    REQUIRE(sum_of_three() == 6.0f, "sum");
  });
}

TEST(ReentrantFactoryTest, AFactoryThatConfiguresGetsAnErrorAndTheOuterConfigureWorks) {
  in_child_with_deadline([] {
    absl::Status inner = absl::OkStatus();
    register_and_configure(
        "reconfigures",
        [&inner](const AllocatorArgs& args) {
          Options o;
          o.arena_size = 8192;
          inner = configure(o);
          reset_configuration();  // ignored, said on stderr
          return stats_over(args.inner);
        },
        "reconfigures");
    REQUIRE(inner.code() == absl::StatusCode::kFailedPrecondition, "%s", inner.ToString().c_str());
    REQUIRE(
        std::string(inner.message()).find("called from an allocator factory") != std::string::npos,
        "%s", inner.ToString().c_str());
    REQUIRE(settings().allocator == "reconfigures", "%s", settings().allocator.c_str());
    REQUIRE(settings().arena_size == std::size_t{1} << 20, "the inner configure applied");
  });
}

// A factory that wraps the arena is built per thread, when the thread first
// needs its arena; an op inside it gets the thread's plain arena instead of
// starting another build.
TEST(ReentrantFactoryTest, APerThreadFactoryMayRunAnOpOnTheThreadItIsBuiltFor) {
  in_child_with_deadline([] {
    register_and_configure(
        "wraps_runs_op",
        [](const AllocatorArgs& args) {
          REQUIRE(sum_of_three() == 6.0f, "op inside the factory");
          REQUIRE(settings().allocator == "wraps_runs_op(arena)", "%s",
                  settings().allocator.c_str());
          return stats_over(args.inner);
        },
        "wraps_runs_op(arena)");
    float on_thread = 0;
    std::thread([&on_thread] { on_thread = sum_of_three(); }).join();
    REQUIRE(on_thread == 6.0f, "a new thread's op");
    REQUIRE(sum_of_three() == 6.0f, "sum");
  });
}

}  // namespace
}  // namespace corepy
