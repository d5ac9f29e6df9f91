// The dispatch entry points: results, bad input, the resource they hand kernels, per-op arena
// sizes, per-op stats (table and JSON), a thread's op region and the debug log line.
#include "corepy/dispatch.h"

#include <cmath>
#include <cstdint>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "allocators/upstream_resources.h"
#include "corepy/config.h"
#include "gtest/gtest.h"

namespace corepy {
namespace {

class DispatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reset_configuration();
    reset_op_stats();
  }
  void TearDown() override { reset_configuration(); }
};

TEST_F(DispatchTest, EachEntryPointComputesItsReduction) {
  const std::vector<float> f = {1.5f, 2.5f, -1.0f, 4.0f};
  const std::vector<std::int32_t> i = {2147483647, 2147483647, -5};
  const bool t[] = {true, true, true};
  const bool mixed[] = {false, true, false};
  EXPECT_EQ(sum_f32_cpu_dispatch(f.data(), f.size()), 7.0f);
  EXPECT_EQ(mean_f32_cpu_dispatch(f.data(), f.size()), 1.75f);
  EXPECT_EQ(sum_i32_cpu_dispatch(i.data(), i.size()), std::int64_t{4294967289});
  EXPECT_TRUE(all_bool_cpu_dispatch(t, 3));
  EXPECT_FALSE(all_bool_cpu_dispatch(mixed, 3));
  EXPECT_TRUE(any_bool_cpu_dispatch(mixed, 3));
  EXPECT_FALSE(any_bool_cpu_dispatch(mixed, 1));
  // Empty inputs, with or without a pointer.
  EXPECT_EQ(sum_f32_cpu_dispatch(nullptr, 0), 0.0f);
  EXPECT_TRUE(std::isnan(mean_f32_cpu_dispatch(nullptr, 0)));
  EXPECT_EQ(sum_i32_cpu_dispatch(nullptr, 0), 0);
  EXPECT_TRUE(all_bool_cpu_dispatch(nullptr, 0));
  EXPECT_FALSE(any_bool_cpu_dispatch(nullptr, 0));
}

TEST_F(DispatchTest, NullDataWithACountIsAnErrorNamingTheEntryPoint) {
  try {
    sum_f32_cpu_dispatch(nullptr, 3);
    ADD_FAILURE() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "corepy::sum_f32_cpu_dispatch: data is null but count is 3");
  }
  EXPECT_THROW(sum_i32_cpu_dispatch(nullptr, 1), std::invalid_argument);
  EXPECT_THROW(mean_f32_cpu_dispatch(nullptr, 1), std::invalid_argument);
  EXPECT_THROW(all_bool_cpu_dispatch(nullptr, 1), std::invalid_argument);
  EXPECT_THROW(any_bool_cpu_dispatch(nullptr, 1), std::invalid_argument);
  EXPECT_EQ(op_stats()[0].calls, 0u);  // refused before the op ran
}

TEST_F(DispatchTest, TheArenaStrategyHandsKernelsTheThreadArenaAndRewindsIt) {
  std::thread([] {
    {
      OpScope scope(Op::kMeanF32);
      EXPECT_EQ(scope.resource(), &thread_arena());
      (void)scope.resource()->allocate(1000, 8);
    }
    EXPECT_EQ(arena_stats().used, 0u);
  }).join();
  EXPECT_EQ(op_stats()[static_cast<int>(Op::kMeanF32)].peak_scratch, 1008u);
}

TEST_F(DispatchTest, TheSystemStrategyHandsKernelsNewDelete) {
  Options o;
  o.allocator = "system";
  ASSERT_TRUE(configure(o).ok());
  std::thread([] {
    OpScope scope(Op::kSumF32);
    EXPECT_EQ(scope.resource(), *upstream_by_name("new_delete"));
  }).join();
}

TEST_F(DispatchTest, AnOpWithAConfiguredSizeGetsThatMuchRoomWithoutSpilling) {
  Options o;
  o.arena_size = 4096;
  o.op_arena_sizes = "sum_f32=256KiB";
  ASSERT_TRUE(configure(o).ok());
  std::thread([] {
    {
      OpScope scope(Op::kSumF32);
      EXPECT_NE(&scope.arena(), &thread_arena());
      EXPECT_EQ(scope.arena().capacity(), 256u << 10);
      (void)scope.resource()->allocate(200 << 10, 64);
      EXPECT_EQ(scope.arena().stats().overflow_count, 0u);
      // Nested: the room is the op's own, whatever the thread arena holds.
      OpScope inner(Op::kSumF32);
      (void)inner.resource()->allocate(40 << 10, 64);
      EXPECT_EQ(inner.arena().stats().overflow_count, 0u);
    }
    {
      OpScope other(Op::kMeanF32);
      EXPECT_EQ(&other.arena(), &thread_arena());
      EXPECT_EQ(other.arena().capacity(), 4096u);
    }
  }).join();
  const OpStats sum = op_stats()[static_cast<int>(Op::kSumF32)];
  EXPECT_EQ(sum.calls, 2u);
  EXPECT_EQ(sum.spills, 0u);
  EXPECT_GE(sum.peak_scratch, 200u << 10);
  EXPECT_EQ(sum.arena_size, 256u << 10);
}

TEST_F(DispatchTest, PerOpStatsCountCallsPeakAndSpillsAndPrintAsTableAndJson) {
  Options o;
  o.arena_size = 4096;
  ASSERT_TRUE(configure(o).ok());
  const std::vector<float> x(100, 1.0f);
  std::thread([&x] {
    for (int k = 0; k < 3; ++k) sum_f32_cpu_dispatch(x.data(), x.size());
    OpScope scope(Op::kAnyBool);
    (void)scope.resource()->allocate(10 << 10, 8);  // spills once
  }).join();
  const std::vector<OpStats> stats = op_stats();
  ASSERT_EQ(stats.size(), kOpCount);
  EXPECT_EQ(stats[0].name, "sum_f32");
  EXPECT_EQ(stats[0].calls, 3u);
  EXPECT_EQ(stats[0].spills, 0u);
  EXPECT_EQ(stats[4].name, "any_bool");
  EXPECT_EQ(stats[4].calls, 1u);
  EXPECT_EQ(stats[4].spills, 1u);
  EXPECT_GE(stats[4].peak_scratch, 10u << 10);

  const std::string table = op_stats_table();
  EXPECT_NE(table.find("op                          calls   peak_scratch   spills   arena_size"),
            std::string::npos)
      << table;
  EXPECT_TRUE(std::regex_search(table, std::regex(R"(\nsum_f32 +3 +0 +0 +0\n)"))) << table;
  const std::string json = op_stats_json();
  EXPECT_EQ(json.front(), '[');
  EXPECT_NE(json.find("{\"op\":\"sum_f32\",\"calls\":3,\"peak_scratch\":0,\"spills\":0,"
                      "\"arena_size\":0}"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"op\":\"any_bool\",\"calls\":1,"), std::string::npos) << json;

  reset_op_stats();
  EXPECT_EQ(op_stats()[0].calls, 0u);
}

TEST_F(DispatchTest, AThreadOpRegionCountsThisThreadsOpsInsideItNestsAndLosesNothing) {
  Options o;
  o.arena_size = 4096;
  ASSERT_TRUE(configure(o).ok());
  const std::vector<float> x(100, 1.0f);
  {
    OpScope scope(Op::kAnyBool);
    (void)scope.resource()->allocate(2048, 8);  // a peak before the region
  }
  const auto by_name = [](const std::vector<OpStats>& stats, const std::string& name) {
    for (const OpStats& s : stats) {
      if (s.name == name) return s;
    }
    return OpStats{};
  };
  ThreadOpRegion outer;
  EXPECT_EQ(by_name(outer.stats(), "any_bool").peak_scratch, 0u);
  sum_f32_cpu_dispatch(x.data(), x.size());
  {
    ThreadOpRegion inner;
    OpScope scope(Op::kAnyBool);
    (void)scope.resource()->allocate(1024, 8);
    std::thread([&x] { sum_f32_cpu_dispatch(x.data(), x.size()); }).join();  // not this thread
  }
  {
    ThreadOpRegion inner;
    {
      OpScope scope(Op::kAnyBool);
      (void)scope.resource()->allocate(10 << 10, 8);  // spills once
    }
    const OpStats any = by_name(inner.stats(), "any_bool");
    EXPECT_EQ(any.calls, 1u);
    EXPECT_EQ(any.spills, 1u);
    EXPECT_GE(any.peak_scratch, 10u << 10);
    EXPECT_EQ(by_name(inner.stats(), "sum_f32").calls, 0u);
  }
  const std::vector<OpStats> seen = outer.stats();
  EXPECT_EQ(by_name(seen, "sum_f32").calls, 1u);
  EXPECT_EQ(by_name(seen, "any_bool").calls, 2u);
  EXPECT_EQ(by_name(seen, "any_bool").spills, 1u);
  EXPECT_GE(by_name(seen, "any_bool").peak_scratch, 10u << 10);
  // The process-wide stats count every call, the other thread's too, and keep the peak.
  const std::vector<OpStats> all = op_stats();
  EXPECT_EQ(by_name(all, "sum_f32").calls, 2u);
  EXPECT_EQ(by_name(all, "any_bool").calls, 3u);
  EXPECT_GE(by_name(all, "any_bool").peak_scratch, 10u << 10);
}

TEST_F(DispatchTest, DebugLogPrintsOneLinePerDispatch) {
  Options o;
  o.debug_log = true;
  ASSERT_TRUE(configure(o).ok());
  const std::vector<float> x(10, 1.0f);
  testing::internal::CaptureStderr();
  std::thread([&x] {
    sum_f32_cpu_dispatch(x.data(), x.size());
    mean_f32_cpu_dispatch(x.data(), x.size());
  }).join();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(std::regex_match(err, std::regex("\\[arena\\] sum_f32 used=0 cap=1048576 peak=0 "
                                               "spills=0\n\\[arena\\] mean_f32 used=0 "
                                               "cap=1048576 peak=0 spills=0\n")))
      << err;
}

TEST_F(DispatchTest, NoLogByDefault) {
  const std::vector<float> x(10, 1.0f);
  testing::internal::CaptureStderr();
  sum_f32_cpu_dispatch(x.data(), x.size());
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST_F(DispatchTest, ABadConfigurationNeverChangesAnAnswer) {
  const std::vector<float> x = {1.0f, 2.0f, 3.0f};
  Options o;
  o.allocator = "limit(arena, max=nothing)";
  EXPECT_FALSE(configure(o).ok());
  EXPECT_EQ(sum_f32_cpu_dispatch(x.data(), x.size()), 6.0f);
  o.allocator = "limit(arena, max=0)";  // valid, and nothing can be allocated
  ASSERT_TRUE(configure(o).ok());
  std::thread([&x] {
    EXPECT_EQ(sum_f32_cpu_dispatch(x.data(), x.size()), 6.0f);  // needs no scratch
    OpScope scope(Op::kSumF32);
    EXPECT_THROW((void)scope.resource()->allocate(1, 1), std::bad_alloc);
  }).join();
}

}  // namespace
}  // namespace corepy
