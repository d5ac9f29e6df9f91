// The allocator registry: what each built-in accepts, and a user's own memory_resource plugged
// in by name and selected by configuration like a built-in.
#include "corepy/registry.h"

#include <atomic>
#include <memory>
#include <memory_resource>
#include <string>
#include <thread>
#include <vector>
#include <cstdlib>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "allocators/limit_resource.h"
#include "allocators/stats_resource.h"
#include "corepy/allocator_spec.h"
#include "corepy/arena.h"
#include "corepy/config.h"
#include "corepy/dispatch.h"
#include "gtest/gtest.h"

namespace corepy {
namespace {

// A user's resource: counts what passes through it to new/delete.
class CountingResource final : public std::pmr::memory_resource {
 public:
  std::atomic<int> allocations{0};

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    ++allocations;
    return std::pmr::new_delete_resource()->allocate(bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    std::pmr::new_delete_resource()->deallocate(p, bytes, alignment);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }
};

std::string validation_error(const char* text) {
  absl::StatusOr<AllocatorSpec> spec = parse_allocator_spec(text);
  EXPECT_TRUE(spec.ok()) << spec.status();
  const absl::Status s = validate_allocator_spec(*spec);
  EXPECT_FALSE(s.ok()) << text << " was accepted";
  return std::string(s.message());
}

bool valid(const char* text) {
  absl::StatusOr<AllocatorSpec> spec = parse_allocator_spec(text);
  return spec.ok() && validate_allocator_spec(*spec).ok();
}

class RegistryTest : public ::testing::Test {
 protected:
  void TearDown() override { reset_configuration(); }
};

TEST_F(RegistryTest, BuiltInsAndWhatTheyAccept) {
  for (const char* ok : {"arena", "system", "new_delete", "pool", "mimalloc", "stats(arena)",
                         "limit(arena, max=64MiB)", "arena(upstream=mimalloc)",
                         "arena(size=4MiB, max_size=64MiB, upstream=stats(pool))",
                         "stats(limit(arena, max=1GiB))", "stats(system)", "limit(pool, max=1MiB)"}) {
    EXPECT_TRUE(valid(ok)) << ok;
  }
  EXPECT_NE(validation_error("nosuch").find("unknown allocator \"nosuch\"; accepted: arena, limit, "
                                            "mimalloc, new_delete, pool, stats, system"),
            std::string::npos);
  EXPECT_NE(validation_error("stats").find("\"stats\" wraps exactly one allocator, but was given 0"),
            std::string::npos);
  EXPECT_NE(validation_error("arena(pool)").find("\"arena\" wraps no allocator"), std::string::npos);
  EXPECT_NE(validation_error("limit(arena)").find("needs max=<size>"), std::string::npos);
  EXPECT_NE(validation_error("limit(arena, max=big)").find("invalid byte size \"big\""),
            std::string::npos);
  EXPECT_NE(validation_error("arena(colour=blue)")
                .find("\"arena\" has no parameter \"colour\"; it takes size, max_size, upstream"),
            std::string::npos);
  EXPECT_NE(validation_error("pool(max=1)").find("it takes none"), std::string::npos);
  EXPECT_TRUE(valid("stats(stats(arena))"));  // (sanity: nesting adaptors is fine)
  // A repeated parameter is refused, not settled silently by its first value (found by
  // tests/fuzz/config_fuzzer).
  EXPECT_NE(validation_error("arena(size=1MiB, size=banana)")
                .find("\"arena\" is given parameter \"size\" more than once"),
            std::string::npos)
      << validation_error("arena(size=1MiB, size=banana)");
  EXPECT_NE(validation_error("arena(upstream=system, upstream=pool)").size(), 0u);
}

TEST_F(RegistryTest, AtMostOneArenaAndNoneInAnArenasUpstream) {
  EXPECT_NE(validation_error("arena(upstream=arena)").find("cannot be an arena"), std::string::npos);
  EXPECT_NE(validation_error("arena(upstream=stats(arena))").find("cannot be an arena"),
            std::string::npos);
  ASSERT_TRUE(register_allocator("pair_test", [](const AllocatorArgs& args) {
                return std::shared_ptr<std::pmr::memory_resource>(args.inner, [](auto*) {});
              }).ok());
  EXPECT_NE(validation_error("pair_test(pair_test(arena, arena))").size(), 0u);
}

TEST_F(RegistryTest, RegistrationRefusesBadNamesTakenNamesAndEmptyFactories) {
  auto factory = [](const AllocatorArgs&) {
    return std::make_shared<CountingResource>();
  };
  EXPECT_EQ(register_allocator("arena", factory).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(register_allocator("9lives", factory).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(register_allocator("has space", factory).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(register_allocator("empty_factory", nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(register_allocator("once_test", factory).ok());
  EXPECT_EQ(register_allocator("once_test", factory).code(), absl::StatusCode::kAlreadyExists);
  const std::vector<std::string> names = allocator_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "once_test"), names.end());
}

TEST_F(RegistryTest, AUserResourceIsSelectedByConfigurationAndHandedToOps) {
  auto counting = std::make_shared<CountingResource>();
  ASSERT_TRUE(register_allocator("counting_test", [counting](const AllocatorArgs&) {
                return std::shared_ptr<std::pmr::memory_resource>(counting);
              }).ok());
  Options o;
  o.allocator = "counting_test";
  ASSERT_TRUE(configure(o).ok());
  {
    OpScope scope(Op::kSumF32);
    EXPECT_EQ(scope.resource(), counting.get());
    std::pmr::vector<float> scratch(1000, &*scope.resource());
  }
  EXPECT_EQ(counting->allocations.load(), 1);

  // As the arena's upstream: the arena's block and its spills come from it.
  o.allocator = "arena(size=4KiB, upstream=counting_test)";
  ASSERT_TRUE(configure(o).ok());
  const int before = counting->allocations.load();
  std::thread([&] {
    with_arena([](ArenaResource& arena) { (void)arena.allocate(64 << 10, 16); });
  }).join();
  EXPECT_EQ(counting->allocations.load(), before + 2);  // the block, then one spill
}

TEST_F(RegistryTest, UserAdaptorOverTheArenaIsBuiltPerThreadWithTheArenaAsInner) {
  std::atomic<int> built{0};
  ASSERT_TRUE(register_allocator("wrap_test", [&built](const AllocatorArgs& args) {
                ++built;
                EXPECT_NE(args.inner, nullptr);
                EXPECT_EQ(args.size_param("cap", 7).value(), 1024u);
                return std::make_shared<LimitResource>(1 << 20, args.inner);
              }).ok());
  Options o;
  o.allocator = "wrap_test(arena, cap=1KiB)";
  ASSERT_TRUE(configure(o).ok());  // configure() builds nothing per thread
  auto run = [] {
    OpScope scope(Op::kSumF32);
    EXPECT_NE(dynamic_cast<LimitResource*>(scope.resource()), nullptr);
  };
  std::thread(run).join();
  std::thread(run).join();
  EXPECT_EQ(built.load(), 2);
}

TEST_F(RegistryTest, AFactoryThatRefusesIsReportedByConfigure) {
  ASSERT_TRUE(register_allocator("refusing_test", [](const AllocatorArgs&) {
                return std::shared_ptr<std::pmr::memory_resource>();
              }).ok());
  ASSERT_TRUE(register_allocator("throwing_test", [](const AllocatorArgs&)
                                     -> std::shared_ptr<std::pmr::memory_resource> {
                throw std::runtime_error("no licence");
              }).ok());
  Options o;
  o.allocator = "refusing_test";
  absl::Status s = configure(o);
  EXPECT_NE(std::string(s.message()).find("\"refusing_test\": its factory returned no resource"),
            std::string::npos)
      << s;
  o.allocator = "throwing_test";
  s = configure(o);
  EXPECT_NE(std::string(s.message()).find("could not be built: no licence"), std::string::npos) << s;
  EXPECT_EQ(settings().allocator, "arena");
}

TEST_F(RegistryTest, AFactoryThatRefusesOnAThreadFallsBackToTheArenaAndSaysSo) {
  std::atomic<int> calls{0};
  ASSERT_TRUE(register_allocator("flaky_test", [&calls](const AllocatorArgs& args)
                                     -> std::shared_ptr<std::pmr::memory_resource> {
                if (++calls > 0) return nullptr;  // every per-thread build refuses
                return std::make_shared<StatsResource>(args.inner);
              }).ok());
  Options o;
  o.allocator = "flaky_test(arena)";
  ASSERT_TRUE(configure(o).ok());
  testing::internal::CaptureStderr();
  std::pmr::memory_resource* got = nullptr;
  ArenaResource* arena = nullptr;
  std::thread([&] {
    OpScope scope(Op::kSumF32);
    got = scope.resource();
    arena = &scope.arena();
  }).join();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(got, arena);
  EXPECT_NE(err.find("cannot build allocator \"flaky_test(arena)\" on this thread"),
            std::string::npos)
      << err;
}

TEST_F(RegistryTest, StatsAndLimitWrapTheThreadArena) {
  Options o;
  o.allocator = "stats(limit(arena, max=1MiB))";
  ASSERT_TRUE(configure(o).ok());
  std::thread([] {
    OpScope scope(Op::kSumF32);
    auto* stats = dynamic_cast<StatsResource*>(scope.resource());
    ASSERT_NE(stats, nullptr);
    auto* limit = dynamic_cast<LimitResource*>(stats->upstream());
    ASSERT_NE(limit, nullptr);
    EXPECT_EQ(limit->upstream(), &scope.arena());
    EXPECT_EQ(limit->max_bytes(), 1u << 20);
    void* p = scope.resource()->allocate(100, 8);
    EXPECT_EQ(stats->counters().bytes.value, 100u);
    EXPECT_THROW((void)scope.resource()->allocate(2 << 20, 8), std::bad_alloc);
    scope.resource()->deallocate(p, 100, 8);
  }).join();
}

ABSL_ATTRIBUTE_NOINLINE void* allocate_in_named_op(std::pmr::memory_resource* r) {
  void* p = r->allocate(72, 8);
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
  return p;
}

// This binary does not call absl::InitializeSymbolizer (gtest_main's main): on Linux the names
// are found without it, as stats_resource.h says.
TEST_F(RegistryTest, StatsStacksTrueRecordsWhereEachLiveAllocationWasMade) {
  for (const char* ok : {"stats(arena, stacks=true)", "stats(arena, stacks=false)",
                         "arena(upstream=stats(pool, stacks=true))"}) {
    EXPECT_TRUE(valid(ok)) << ok;
  }
  EXPECT_EQ(validation_error("stats(arena, stacks=yes)"),
            "invalid allocator spec \"stats(arena,stacks=yes)\": \"stats\" parameter stacks: "
            "\"yes\" is not true or false");
  EXPECT_NE(validation_error("stats(arena, stacks=true(pool))").find("is not true or false"),
            std::string::npos);
  EXPECT_NE(validation_error("stats(arena, frames=8)")
                .find("\"stats\" has no parameter \"frames\"; it takes stacks"),
            std::string::npos);
  EXPECT_NE(validation_error("stats(arena, stacks=true, stacks=false)").find("more than once"),
            std::string::npos);

  for (const char* spec : {"stats(arena, stacks=true)", "stats(arena)"}) {
    SCOPED_TRACE(spec);
    Options o;
    o.allocator = spec;
    ASSERT_TRUE(configure(o).ok());
    const bool on = std::string(spec).find("stacks=true") != std::string::npos;
    std::thread([on] {
      OpScope scope(Op::kSumF32);
      auto* stats = dynamic_cast<StatsResource*>(scope.resource());
      ASSERT_NE(stats, nullptr);
      EXPECT_EQ(stats->records_stacks(), on);
      void* p = allocate_in_named_op(scope.resource());
      const std::string report = stats->leak_report();
      EXPECT_EQ(report.find("allocate_in_named_op") != std::string::npos, on) << report;
      scope.resource()->deallocate(p, 72, 8);
      EXPECT_EQ(stats->leak_report(), "no live allocations");
    }).join();
  }
  // A bad value from configure() is refused and changes nothing.
  Options bad;
  bad.allocator = "stats(arena, stacks=1)";
  const absl::Status s = configure(bad);
  EXPECT_NE(std::string(s.message()).find("\"stats\" parameter stacks: \"1\" is not true or false"),
            std::string::npos)
      << s;
  EXPECT_EQ(settings().allocator, "stats(arena)");
}

// Issue 10, defect 10: an allocator the environment named before it was registered stayed
// ignored for the rest of the process.
TEST(LateRegistrationTest, AnEnvironmentSpecNamingALaterRegistrationTakesEffectThen) {
  setenv("COREPY_ALLOCATOR", "late_tracked(arena)", 1);
  ::testing::internal::CaptureStderr();
  reset_configuration();
  EXPECT_EQ(sum_f32_cpu_dispatch(std::vector<float>{1, 2, 3}.data(), 3), 6.0f);  // corepy in use
  const std::string before = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(before.find("corepy: ignoring COREPY_ALLOCATOR=\"late_tracked(arena)\": "
                        "invalid allocator spec \"late_tracked(arena)\": unknown allocator "
                        "\"late_tracked\""),
            std::string::npos)
      << before;
  EXPECT_NE(before.find("registered later with corepy::register_allocator is picked up then"),
            std::string::npos)
      << before;
  EXPECT_EQ(settings().allocator, "arena");

  auto* counting = new CountingResource;  // lives as long as the configurations that use it
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(register_allocator("late_tracked", [counting](const AllocatorArgs& args) {
                return std::make_shared<StatsResource>(args.inner != nullptr ? args.inner
                                                                             : counting);
              }).ok());
  const std::string after = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(settings().allocator, "late_tracked(arena)");
  EXPECT_NE(after.find("allocator \"late_tracked\" is registered: the configured allocator "
                       "\"late_tracked(arena)\" is in force now"),
            std::string::npos)
      << after;
  unsetenv("COREPY_ALLOCATOR");
  reset_configuration();
  EXPECT_EQ(settings().allocator, "arena");
}

}  // namespace
}  // namespace corepy
