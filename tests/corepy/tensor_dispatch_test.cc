// The N-D reductions through the dispatch layer: each counts under its own op ("sum", "max",
// ...), takes its scratch from that op's configured resource (its own arena when sized by
// op_arena_sizes), builds its result on the caller's resource (the thread's arena included),
// logs its line, refuses bad input with the plan's message, and needs nothing from the default
// resource.
#include "corepy/tensor_dispatch.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <new>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "allocators/failing_resource.h"
#include "allocators/stats_resource.h"
#include "corepy/arena.h"
#include "corepy/config.h"
#include "corepy/dispatch.h"
#include "corepy/memory_stats.h"
#include "corepy/registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corepy {
namespace {

using ops::Reduction;

class TensorDispatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reset_configuration();
    reset_op_stats();
  }
  void TearDown() override { reset_configuration(); }
};

// A (rows, cols) float32 matrix of i + j.
std::vector<float> matrix(std::int64_t rows, std::int64_t cols) {
  std::vector<float> m(static_cast<std::size_t>(rows * cols));
  for (std::int64_t i = 0; i < rows; ++i) {
    for (std::int64_t j = 0; j < cols; ++j) m[i * cols + j] = static_cast<float>(i + j);
  }
  return m;
}

// A (40, 30) float32 matrix of i + j, and the options that sum its rows (axis 1: no scratch) or
// its columns (axis 0: accumulators in scratch).
struct RowsAndColumns {
  static ops::ReduceOptions along(const std::int64_t* axis) {
    ops::ReduceOptions o;
    o.all_axes = false;
    o.axes = absl::MakeConstSpan(axis, 1);
    return o;
  }
  std::vector<float> m = matrix(40, 30);
  std::int64_t shape[2] = {40, 30};
  std::int64_t axis1[1] = {1};
  std::int64_t axis0[1] = {0};
  ops::TensorView view{m.data(), ops::DType::kFloat32, shape};
  ops::ReduceOptions rows = along(axis1);
  ops::ReduceOptions columns = along(axis0);
};

TEST_F(TensorDispatchTest, EachReductionCountsUnderItsOwnOpName) {
  const std::vector<float> m = matrix(3, 4);
  const std::int64_t shape[] = {3, 4};
  const ops::TensorView view(m.data(), ops::DType::kFloat32, shape);
  ops::ReduceOptions columns;
  columns.all_axes = false;
  const std::int64_t axis0[] = {0};
  columns.axes = axis0;
  absl::StatusOr<ops::Tensor> sums = reduce_cpu_dispatch(Reduction::kSum, view, columns);
  ASSERT_TRUE(sums.ok()) << sums.status();
  EXPECT_THAT(sums->values<float>(), ::testing::ElementsAre(3, 6, 9, 12));
  absl::StatusOr<ops::Tensor> top = reduce_cpu_dispatch(Reduction::kArgmax, view, columns);
  EXPECT_THAT(top->values<std::int64_t>(), ::testing::ElementsAre(2, 2, 2, 2));
  (void)reduce_cpu_dispatch(Reduction::kSum, view, ops::ReduceOptions{});
  const std::vector<OpStats> stats = op_stats();
  EXPECT_EQ(stats[static_cast<int>(reduction_op(Reduction::kSum))].name, "sum");
  EXPECT_EQ(stats[static_cast<int>(reduction_op(Reduction::kSum))].calls, 2u);
  EXPECT_EQ(stats[static_cast<int>(reduction_op(Reduction::kArgmax))].calls, 1u);
  EXPECT_EQ(stats[static_cast<int>(reduction_op(Reduction::kMin))].calls, 0u);
  // A column sum keeps its accumulators in the op's scratch: the stats saw them.
  EXPECT_GT(stats[static_cast<int>(reduction_op(Reduction::kSum))].peak_scratch, 0u);
}

TEST_F(TensorDispatchTest, BadInputIsTheStatusOfThePlanAndCountsNothing) {
  const float x[2] = {};
  const std::int64_t shape[] = {2};
  ops::ReduceOptions options;
  options.all_axes = false;
  const std::int64_t axis[] = {1};
  options.axes = axis;
  absl::StatusOr<ops::Tensor> t = reduce_cpu_dispatch(
      Reduction::kMean, ops::TensorView(x, ops::DType::kFloat32, shape), options);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      std::string(t.status().message()),
      ::testing::HasSubstr("reduce(mean): axis 1 is out of bounds for array of dimension 1"));
  EXPECT_EQ(op_stats()[static_cast<int>(reduction_op(Reduction::kMean))].calls, 0u);
}

TEST_F(TensorDispatchTest, AConfiguredOpArenaServesTheScratchAndTheResultMayLiveInTheThreadArena) {
  Options o;
  o.op_arena_sizes = "sum=256KiB";
  ASSERT_TRUE(configure(o).ok());
  const std::vector<float> m = matrix(600, 100);
  const std::int64_t shape[] = {600, 100};
  ops::ReduceOptions columns;
  columns.all_axes = false;
  const std::int64_t axis0[] = {0};
  columns.axes = axis0;
  std::thread([&] {
    const std::size_t used_before = thread_arena().used();
    absl::StatusOr<ops::Tensor> sums =
        reduce_cpu_dispatch(Reduction::kSum, ops::TensorView(m.data(), ops::DType::kFloat32, shape),
                            columns, &thread_arena());
    ASSERT_TRUE(sums.ok()) << sums.status();
    // The result stays in the thread arena after the op's scope rewound its own arena.
    EXPECT_EQ(thread_arena().used(), used_before + 400);
    EXPECT_EQ(sums->values<float>()[99], 600.0f * 99 + 599.0f * 600 / 2);
  }).join();
  const OpStats sum = op_stats()[static_cast<int>(reduction_op(Reduction::kSum))];
  EXPECT_EQ(sum.arena_size, 256u << 10);
  EXPECT_EQ(sum.spills, 0u);
  EXPECT_GT(sum.peak_scratch, 0u);
}

TEST_F(TensorDispatchTest, NothingComesFromTheDefaultResource) {
  const std::vector<float> m = matrix(300, 200);
  const std::int64_t shape[] = {300, 200};
  StatsResource result(std::pmr::new_delete_resource());
  thread_arena();  // made before the default resource refuses everything
  std::pmr::memory_resource* previous =
      std::pmr::set_default_resource(std::pmr::null_memory_resource());
  for (std::int32_t r = 1; r <= static_cast<std::int32_t>(ops::Reduction::kCountNonzero); ++r) {
    ops::ReduceOptions options;
    options.all_axes = false;
    const std::int64_t axis0[] = {0};
    options.axes = axis0;
    absl::StatusOr<ops::Tensor> t = reduce_cpu_dispatch(
        static_cast<Reduction>(r), ops::TensorView(m.data(), ops::DType::kFloat32, shape), options,
        &result);
    EXPECT_TRUE(t.ok()) << t.status();
  }
  std::pmr::set_default_resource(previous);
  EXPECT_EQ(result.counters().allocations.total, 12u);  // one per reduction
}

// A dispatch opens its op's scope only when the plan takes scratch: a row sum (none) never makes
// the op's configured arena, and a column sum then makes it and reports its scratch exactly.
TEST_F(TensorDispatchTest, TheOpsScopeOpensOnlyForAReductionThatTakesScratch) {
  Options o;
  o.op_arena_sizes = "sum=256KiB";
  ASSERT_TRUE(configure(o).ok());
  const RowsAndColumns x;
  const absl::StatusOr<ops::ReducePlan> row_plan =
      ops::ReducePlan::make(Reduction::kSum, x.view, x.rows);
  const absl::StatusOr<ops::ReducePlan> column_plan =
      ops::ReducePlan::make(Reduction::kSum, x.view, x.columns);
  ASSERT_EQ(row_plan->scratch_bytes(), 0u);
  ASSERT_GT(column_plan->scratch_bytes(), 0u);
  std::thread([&] {
    thread_arena();  // the thread's runtime and arena, before counting
    const std::size_t capacity = memory_stats().capacity.sum;
    ThreadOpRegion region;
    const auto sum_stats = [&region] {
      return region.stats()[static_cast<int>(reduction_op(Reduction::kSum))];
    };
    absl::StatusOr<ops::Tensor> t = reduce_cpu_dispatch(Reduction::kSum, x.view, x.rows);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->values<float>()[39], 30.0f * 39 + 29.0f * 30 / 2);
    EXPECT_EQ(memory_stats().capacity.sum, capacity);  // no arena made for the op
    EXPECT_EQ(sum_stats().calls, 1u);
    EXPECT_EQ(sum_stats().peak_scratch, 0u);
    t = reduce_cpu_dispatch(Reduction::kSum, x.view, x.columns);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->values<float>()[29], 40.0f * 29 + 39.0f * 40 / 2);
    EXPECT_EQ(memory_stats().capacity.sum, capacity + (256u << 10));
    EXPECT_EQ(sum_stats().calls, 2u);
    EXPECT_EQ(sum_stats().peak_scratch, column_plan->scratch_bytes());
    EXPECT_EQ(thread_arena().used(), 0u);
  }).join();
}

// A call whose one scratch allocation fits its arena's block, with no padding before it, takes
// it from the arena with no scope of its own (internal::LazyOpScope's lent path), and must count
// as the scope would: the same peak, folded into an enclosing scope's, the arena back where it
// was. With the debug log on, the dispatch opens its scope from the start: the reference. A
// scratch that needs alignment padding first (16 bytes used before it), or that its block cannot
// hold (a 4 KiB op arena), takes the scope, which gives back the padding and the spill.
TEST_F(TensorDispatchTest, AScratchLentWithoutAScopeCountsWhatTheScopeWould) {
  const std::vector<float> m = matrix(40, 3000);
  const std::int64_t shape[] = {40, 3000};
  const ops::TensorView view(m.data(), ops::DType::kFloat32, shape);
  const std::int64_t axis0[] = {0};
  const ops::ReduceOptions columns = RowsAndColumns::along(axis0);
  const absl::StatusOr<ops::ReducePlan> plan =
      ops::ReducePlan::make(Reduction::kSum, view, columns);
  const std::size_t scratch = plan->scratch_bytes();
  ASSERT_GT(scratch, std::size_t{4096});
  struct Seen {
    std::size_t op_peak;
    std::size_t enclosing_peak;
    std::size_t spills;
  };
  const auto run = [&](bool log, std::size_t before, std::size_t op_arena) {
    Options o;
    o.debug_log = log;
    if (op_arena != 0) o.op_arena_sizes = "sum=" + std::to_string(op_arena);
    EXPECT_TRUE(configure(o).ok());
    ::testing::internal::CaptureStderr();
    Seen seen{};
    std::thread([&] {
      // An op's first call on a thread finds no arena in its entry and opens the scope, which
      // makes it; the call measured is the next one, lent where it can be.
      ASSERT_TRUE(reduce_cpu_dispatch(Reduction::kSum, view, columns).ok());
      ThreadOpRegion region;
      ArenaScope enclosing;  // the thread's arena, empty: its cursor 64-byte aligned
      if (before != 0) {
        EXPECT_NE(enclosing.arena().allocate(before), nullptr);
      }
      const std::size_t used = enclosing.arena().used();
      absl::StatusOr<ops::Tensor> t = reduce_cpu_dispatch(Reduction::kSum, view, columns);
      ASSERT_TRUE(t.ok()) << t.status();
      EXPECT_EQ(t->values<float>()[2999], 40.0f * 2999 + 39.0f * 40 / 2);
      EXPECT_EQ(enclosing.arena().used(), used);
      const OpStats sum = region.stats()[static_cast<int>(reduction_op(Reduction::kSum))];
      EXPECT_EQ(sum.calls, 1u);
      seen = Seen{sum.peak_scratch, enclosing.stats().peak, sum.spills};
    }).join();
    const std::string log_lines = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(log_lines.empty(), !log);
    return seen;
  };
  const std::size_t rounded = ArenaResource::round_to_granule(scratch);
  for (const std::size_t before : {0, 16}) {
    const std::size_t padding = before == 0 ? 0 : 48;  // to the next 64-byte boundary
    for (const bool log : {false, true}) {
      SCOPED_TRACE(::testing::Message() << (log ? "scope opened first, " : "lent or not, ")
                                        << before << " bytes before");
      const Seen seen = run(log, before, 0);
      EXPECT_EQ(seen.op_peak, padding + rounded);
      EXPECT_EQ(seen.enclosing_peak, before + padding + rounded);
      EXPECT_EQ(seen.spills, 0u);
    }
  }
  for (const bool log : {false, true}) {
    SCOPED_TRACE(log ? "scope opened first, spilling" : "not lent, spilling");
    const Seen seen = run(log, 0, 4096);
    EXPECT_EQ(seen.spills, 1u);
    EXPECT_GE(seen.op_peak, scratch);
    EXPECT_EQ(seen.enclosing_peak, 0u);  // the op's own arena took it
  }
}

// A scratch resource that refuses everything fails only the reductions that take scratch; the
// scope opened for one is closed by the exception, and the thread's next op works.
TEST_F(TensorDispatchTest, AResourceThatRefusesFailsOnlyTheReductionsThatTakeScratch) {
  Options o;
  o.allocator = "limit(arena, max=0)";
  ASSERT_TRUE(configure(o).ok());
  const RowsAndColumns x;
  std::thread([&] {
    ThreadOpRegion region;
    for (int round = 0; round < 3; ++round) {
      EXPECT_TRUE(reduce_cpu_dispatch(Reduction::kSum, x.view, x.rows).ok());
      EXPECT_THROW((void)reduce_cpu_dispatch(Reduction::kSum, x.view, x.columns), std::bad_alloc);
    }
    EXPECT_EQ(region.stats()[static_cast<int>(reduction_op(Reduction::kSum))].calls, 6u);
    EXPECT_EQ(thread_arena().used(), 0u);
    // The thread's scopes are balanced: a plain scope still opens and closes inline.
    with_arena([](ArenaResource& a) { EXPECT_EQ(a.used(), 0u); });
  }).join();
}

// The upstream of the arenas in AnOpArenaThatCannotBeMadeFailsTheCallUncounted.
testing::FailingResource& refusing_upstream() {
  static testing::FailingResource* r = [] {
    auto* resource = new testing::FailingResource(std::pmr::new_delete_resource());
    const absl::Status s =
        register_allocator("refusing_upstream", [resource](const AllocatorArgs&) {
          return std::shared_ptr<std::pmr::memory_resource>(resource, [](auto*) {});
        });
    EXPECT_TRUE(s.ok()) << s;
    return resource;
  }();
  return *r;
}

// An op's own arena is made at the first call that opens its scope (a call that takes scratch,
// or any call while the debug log is on). When the upstream refuses it then, that call fails
// with std::bad_alloc as the scope opens and is not counted, on both paths; once the upstream
// serves again the next call makes the arena and counts.
TEST_F(TensorDispatchTest, AnOpArenaThatCannotBeMadeFailsTheCallUncounted) {
  testing::FailingResource& upstream = refusing_upstream();
  const RowsAndColumns x;
  for (const bool log : {false, true}) {
    SCOPED_TRACE(log ? "scope opened first" : "scope opened for scratch");
    Options o;
    o.allocator = "arena(upstream=refusing_upstream)";
    o.op_arena_sizes = "sum=256KiB";
    o.debug_log = log;
    ASSERT_TRUE(configure(o).ok());
    ::testing::internal::CaptureStderr();
    std::size_t calls = 0;
    std::size_t peak = 0;
    std::thread([&] {
      thread_arena();  // the thread's own arena, before the upstream refuses
      ThreadOpRegion region;
      for (int round = 0; round < 3; ++round) {
        upstream.fail_at(0);
        EXPECT_THROW((void)reduce_cpu_dispatch(Reduction::kSum, x.view, x.columns), std::bad_alloc);
        upstream.fail_never();
      }
      EXPECT_EQ(thread_arena().used(), 0u);
      // The thread's scopes are balanced, and the op's arena is made now.
      with_arena([](ArenaResource& a) { EXPECT_EQ(a.used(), 0u); });
      EXPECT_TRUE(reduce_cpu_dispatch(Reduction::kSum, x.view, x.rows).ok());
      absl::StatusOr<ops::Tensor> t = reduce_cpu_dispatch(Reduction::kSum, x.view, x.columns);
      ASSERT_TRUE(t.ok()) << t.status();
      EXPECT_EQ(t->values<float>()[29], 40.0f * 29 + 39.0f * 40 / 2);
      const OpStats sum = region.stats()[static_cast<int>(reduction_op(Reduction::kSum))];
      calls = sum.calls;
      peak = sum.peak_scratch;
    }).join();
    EXPECT_EQ(calls, 2u);  // the row sum and the last column sum
    EXPECT_GT(peak, 0u);
    const std::string logged = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(logged.find("[arena] sum") != std::string::npos, log) << logged;
  }
  EXPECT_EQ(upstream.failures(), 6u);
}

TEST_F(TensorDispatchTest, DebugLogNamesTheReduction) {
  Options o;
  o.debug_log = true;
  ASSERT_TRUE(configure(o).ok());
  const float x[3] = {1, 2, 3};
  const std::int64_t shape[] = {3};
  ::testing::internal::CaptureStderr();
  std::thread([&] {
    (void)reduce_cpu_dispatch(Reduction::kStd, ops::TensorView(x, ops::DType::kFloat32, shape),
                              ops::ReduceOptions{});
  }).join();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(std::regex_match(err, std::regex("\\[arena\\] std used=\\d+ cap=1048576 peak=\\d+ "
                                               "spills=0\n")))
      << err;
}

}  // namespace
}  // namespace corepy
