// Allocation failure at every point of the registry's paths (issue #6, part 1), where the
// memory can be injected: a registered allocator whose factory builds its resource with memory
// from a FailingResource, selected by configure() and corepy_configure() as a shared allocator,
// as an arena's upstream and as a per-thread wrapper of the arena, and built directly by
// make_strategy() and build_thread_chain(); factories that throw std::bad_alloc or return null.
// What the configuration layer itself allocates (strings, vectors, the parsed spec) comes from
// the global operator new: global_new_failure_test.cc fails those allocations.
//
// At every point: configure() returns an error naming the allocation failure (its contract is
// absl::Status) and changes nothing, or the C ABI returns an error code with that message;
// the FailingResource's bytes are back to their baseline once the configuration is replaced;
// the next call succeeds.
#include <cstddef>
#include <memory>
#include <memory_resource>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "allocators/arena_resource.h"
#include "allocators/failing_resource.h"
#include "allocators/stats_resource.h"
#include "allocators/upstream_resources.h"
#include "corepy/allocator_spec.h"
#include "corepy/arena.h"
#include "corepy/c_api.h"
#include "corepy/config.h"
#include "corepy/dispatch.h"
#include "corepy/registry.h"
#include "gtest/gtest.h"
#include "tests/reliability/failure_points.h"

namespace corepy::reliability {
namespace {

using ::corepy::testing::FailingResource;
using ::corepy::testing::for_each_failure_point;

// Where "rel_built" allocators get the memory they are made of.
FailingResource& construction_memory() {
  static FailingResource* r = new FailingResource(new_delete_upstream());  // outlives threads
  return *r;
}

// "rel_built": a StatsResource over what it wraps (new/delete when nothing), itself allocated
// from construction_memory(), so building it is a failure point. "rel_bad_alloc" throws
// std::bad_alloc; "rel_null" returns no resource.
void register_allocators() {
  static const bool registered = [] {
    EXPECT_TRUE(register_allocator("rel_built", [](const AllocatorArgs& args) {
                  std::pmr::polymorphic_allocator<StatsResource> alloc(&construction_memory());
                  return std::allocate_shared<StatsResource>(
                      alloc, args.inner != nullptr ? args.inner : new_delete_upstream());
                }).ok());
    EXPECT_TRUE(register_allocator("rel_bad_alloc", [](const AllocatorArgs&)
                                       -> std::shared_ptr<std::pmr::memory_resource> {
                  throw std::bad_alloc();
                }).ok());
    EXPECT_TRUE(register_allocator("rel_null", [](const AllocatorArgs&) {
                  return std::shared_ptr<std::pmr::memory_resource>();
                }).ok());
    return true;
  }();
  (void)registered;
}

bool contains(absl::string_view text, absl::string_view part) {
  return text.find(part) != absl::string_view::npos;
}

// What every failed configuration must look like: an error that names the allocation failure,
// and the settings as they were.
void expect_refused(const absl::Status& s, const std::string& allocator_before) {
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(contains(s.message(), "cannot allocate") || contains(s.message(), "bad_alloc"))
      << s;
  EXPECT_EQ(settings().allocator, allocator_before);
}

class RegistryFailureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    register_allocators();
    reset_configuration();
  }
  void TearDown() override {
    reset_configuration();
    EXPECT_EQ(construction_memory().bytes_in_use(), 0u);
  }

  // configure(allocator = spec) at every failure point of construction_memory(); then a
  // dispatch on a new thread uses what was configured, and resetting the configuration frees
  // it.
  void configure_at_every_point(const std::string& area, const std::string& spec) {
    const FailureLoop loop =
        check_every_failure_point(area, construction_memory(), nullptr, [&] {
          const std::string before = settings().allocator;
          Options o;
          o.allocator = spec;
          const absl::Status s = configure(o);
          if (!s.ok()) {
            expect_refused(s, before);
            throw std::bad_alloc();  // the loop's signal: this run met its failure
          }
          EXPECT_EQ(settings().allocator, spec);
          const float x[] = {1, 2, 3};
          std::thread([&] { EXPECT_EQ(sum_f32_cpu_dispatch(x, 3), 6.0f); }).join();
          reset_configuration();
        });
    EXPECT_GE(loop.points, 2);
  }
};

TEST_F(RegistryFailureTest, ConfigureASharedAllocator) {
  configure_at_every_point("registry/configure/rel_built", "rel_built");
}

TEST_F(RegistryFailureTest, ConfigureAWrappedSharedAllocator) {
  configure_at_every_point("registry/configure/stats(limit(rel_built))",
                           "stats(limit(rel_built,max=1MiB))");
}

TEST_F(RegistryFailureTest, ConfigureAnArenaUpstream) {
  configure_at_every_point("registry/configure/arena(upstream=rel_built)",
                           "arena(upstream=rel_built)");
}

TEST_F(RegistryFailureTest, TheCAbiConfigure) {
  const FailureLoop loop = check_every_failure_point(
      "registry/corepy_configure", construction_memory(), nullptr, [&] {
        const std::string before = settings().allocator;
        const int rc = corepy_configure("allocator", "stats(rel_built)");
        if (rc != COREPY_OK) {
          // configure() reports the factory's std::bad_alloc as ResourceExhausted.
          EXPECT_EQ(rc, COREPY_ERROR_OUT_OF_MEMORY);
          EXPECT_TRUE(contains(corepy_last_error(), "cannot allocate")) << corepy_last_error();
          EXPECT_EQ(settings().allocator, before);
          throw std::bad_alloc();
        }
        EXPECT_EQ(settings().allocator, "stats(rel_built)");
        reset_configuration();
      });
  EXPECT_GE(loop.points, 2);
}

TEST_F(RegistryFailureTest, MakeStrategyAndBuildThreadChain) {
  FailingResource& memory = construction_memory();
  // make_strategy: the shared part, with the factory's resource in it.
  const absl::StatusOr<AllocatorSpec> shared = parse_allocator_spec("stats(rel_built)");
  ASSERT_TRUE(shared.ok());
  const FailureLoop a = check_every_failure_point("registry/make_strategy", memory, nullptr, [&] {
    absl::StatusOr<std::shared_ptr<const internal::Strategy>> s =
        internal::make_strategy(*shared, 4096, 0);
    if (!s.ok()) {
      EXPECT_TRUE(contains(s.status().message(), "cannot allocate")) << s.status();
      throw std::bad_alloc();
    }
    EXPECT_NE((*s)->shared, nullptr);
    EXPECT_EQ(memory.allocations_in_use(), 1u);  // until the strategy goes
  });
  // build_thread_chain: the per-thread part over an arena; what it built is in `owned`, which
  // the caller clears whether or not the chain was finished.
  const absl::StatusOr<AllocatorSpec> per_thread = parse_allocator_spec("stats(rel_built(arena))");
  ASSERT_TRUE(per_thread.ok());
  const absl::StatusOr<std::shared_ptr<const internal::Strategy>> strategy =
      internal::make_strategy(*per_thread, 4096, 0);
  ASSERT_TRUE(strategy.ok()) << strategy.status();
  auto arena = std::make_unique<ArenaResource>(4096, new_delete_upstream());
  const FailureLoop b =
      check_every_failure_point("registry/build_thread_chain", memory, arena.get(), [&] {
        std::vector<std::shared_ptr<std::pmr::memory_resource>> owned;
        absl::StatusOr<std::pmr::memory_resource*> chain =
            internal::build_thread_chain(**strategy, arena.get(), owned);
        if (!chain.ok()) {
          EXPECT_TRUE(contains(chain.status().message(), "cannot allocate")) << chain.status();
          throw std::bad_alloc();
        }
        std::pmr::vector<int> v(100, *chain);  // the chain works: stats over rel_built's stats
        EXPECT_EQ(owned.size(), 2u);
      });
  EXPECT_EQ(a.points, 2);
  EXPECT_EQ(b.points, 2);
}

// A wrapper of the arena is built on each thread, at its first scope; when that fails, the
// thread's ops fall back to the plain arena (reported once on stderr) rather than fail. So here
// a failure does not reach the caller: the check is that the op ran on the plain arena, and
// that nothing is held once the thread has gone.
TEST_F(RegistryFailureTest, APerThreadWrapperThatCannotBeBuiltFallsBackToTheArena) {
  Options o;
  o.allocator = "rel_built(arena)";
  ASSERT_TRUE(configure(o).ok());
  FailingResource& memory = construction_memory();
  int fell_back = 0;
  const int points = for_each_failure_point(memory, [&](int n) {
    SCOPED_TRACE(n);
    const std::size_t failures_before = memory.failures();
    bool plain_arena = false;
    std::thread([&] {
      OpScope scope(Op::kSumF32);
      plain_arena = scope.resource() == &scope.arena();
      const float x[] = {1, 2, 3};
      EXPECT_EQ(sum_f32_cpu_dispatch(x, 3), 6.0f);
    }).join();
    const bool failed = memory.failures() != failures_before;
    EXPECT_EQ(plain_arena, failed);
    fell_back += failed;
    EXPECT_EQ(memory.bytes_in_use(), 0u);
  });
  EXPECT_EQ(points, 2);
  EXPECT_EQ(fell_back, 1);
  tally_failure_points("registry/per_thread_wrapper", points);
}

TEST_F(RegistryFailureTest, FactoriesThatThrowBadAllocOrReturnNull) {
  struct Case {
    const char* spec;
    const char* refusing;  // the allocator the error must name
  };
  for (const Case c : {Case{"rel_bad_alloc", "rel_bad_alloc"}, Case{"stats(rel_null)", "rel_null"},
                       Case{"arena(upstream=rel_bad_alloc)", "rel_bad_alloc"}}) {
    const char* spec = c.spec;
    SCOPED_TRACE(spec);
    Options o;
    o.allocator = spec;
    const absl::Status s = configure(o);
    EXPECT_FALSE(s.ok());
    EXPECT_TRUE(contains(s.message(), "could not be built") ||
                contains(s.message(), "returned no resource"))
        << s;
    EXPECT_EQ(settings().allocator, "arena");
    EXPECT_NE(corepy_configure("allocator", spec), COREPY_OK);
    EXPECT_TRUE(contains(corepy_last_error(), c.refusing)) << corepy_last_error();
    EXPECT_EQ(settings().allocator, "arena");
  }
  // Per thread: the ops fall back to the plain arena.
  for (const char* spec : {"rel_bad_alloc(arena)", "rel_null(arena)"}) {
    SCOPED_TRACE(spec);
    Options o;
    o.allocator = spec;
    ASSERT_TRUE(configure(o).ok());
    std::thread([] {
      OpScope scope(Op::kMeanF32);
      EXPECT_EQ(scope.resource(), &scope.arena());
      const float x[] = {1, 2, 3};
      EXPECT_EQ(mean_f32_cpu_dispatch(x, 3), 2.0f);
    }).join();
  }
  // And the next configuration works.
  Options o;
  o.allocator = "stats(arena)";
  EXPECT_TRUE(configure(o).ok());
  EXPECT_EQ(settings().allocator, "stats(arena)");
}

}  // namespace
}  // namespace corepy::reliability
