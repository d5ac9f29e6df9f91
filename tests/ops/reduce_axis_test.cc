// The axis reductions of ops/reduce.h on every SIMD target: row sums are exactly sum_f32 of
// each row, column sums exactly the documented tree, int sums exact; empty axes as numpy has
// them; bad arguments rejected with a message that names them; the result built on the given
// resource, the scratch given back, and nothing leaked at any allocation failure.
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <memory_resource>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "allocators/arena_resource.h"
#include "allocators/failing_resource.h"
#include "allocators/stats_resource.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/reduce.h"
#include "tests/ops/reduce_model.h"

namespace corepy::ops {
namespace {

using ::corepy::ops::model::describe;
using ::corepy::ops::model::random_floats;
using ::corepy::ops::model::same_float;
using ::testing::HasSubstr;

struct Shape {
  std::size_t rows;
  std::size_t cols;
};

std::vector<Shape> shapes() {
  std::vector<Shape> s = {{1, 1},    {1, 100},   {100, 1},  {3, 7},     {31, 5},
                          {32, 5},   {33, 5},    {65, 17},  {64, 1024}, {33, 1025},
                          {97, 2049}, {1000, 3}, {2, 70000}, {1025, 16}};
  if (!model::under_valgrind()) {
    s.push_back({4097, 33});
    s.push_back({300, 3000});
  }
  return s;
}

class ReduceAxisTest : public model::TargetTest {};
COREPY_INSTANTIATE_FOR_EVERY_TARGET(ReduceAxisTest);

TEST_P(ReduceAxisTest, RowSumsAreSumF32OfEachRow) {
  for (const Shape& s : shapes()) {
    const std::vector<float> m = random_floats(s.rows * s.cols, 11);
    absl::StatusOr<std::pmr::vector<float>> got = sum_f32_axis(m.data(), s.rows, s.cols, 1);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), s.rows);
    for (std::size_t r = 0; r < s.rows; ++r) {
      const float want = sum_f32(absl::MakeConstSpan(m.data() + r * s.cols, s.cols));
      ASSERT_TRUE(same_float((*got)[r], want))
          << s.rows << "x" << s.cols << " row " << r << ": " << describe((*got)[r]) << " vs "
          << describe(want);
    }
  }
}

TEST_P(ReduceAxisTest, ColumnSumsFollowTheDocumentedTree) {
  for (const Shape& s : shapes()) {
    const std::vector<float> m = random_floats(s.rows * s.cols, 12);
    absl::StatusOr<std::pmr::vector<float>> got = sum_f32_axis(m.data(), s.rows, s.cols, 0);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), s.cols);
    const std::vector<float> want = model::model_column_sums_f32(m.data(), s.rows, s.cols);
    for (std::size_t c = 0; c < s.cols; ++c) {
      ASSERT_TRUE(same_float((*got)[c], want[c]))
          << s.rows << "x" << s.cols << " column " << c << ": " << describe((*got)[c])
          << " vs " << describe(want[c]);
    }
  }
}

TEST_P(ReduceAxisTest, ColumnSumsAreAccurate) {
  const std::size_t rows = model::under_valgrind() ? 5000 : 100000;
  const std::size_t cols = 3;
  const std::vector<float> m = random_floats(rows * cols, 13, 0.0f, 1.0f);
  absl::StatusOr<std::pmr::vector<float>> got = sum_f32_axis(m.data(), rows, cols, 0);
  ASSERT_TRUE(got.ok());
  for (std::size_t c = 0; c < cols; ++c) {
    long double exact = 0;
    for (std::size_t r = 0; r < rows; ++r) exact += m[r * cols + c];
    // 32 sequential additions per leaf, then log2(rows / 32) levels.
    const long double bound =
        (32 + std::log2(static_cast<double>(rows)) + 4) * std::numeric_limits<float>::epsilon() /
        2 * exact;
    EXPECT_LE(std::fabs((*got)[c] - exact), bound) << "column " << c;
  }
}

TEST_P(ReduceAxisTest, MeansDivideTheSumsByTheAxisLength) {
  const std::vector<float> m = random_floats(37 * 11, 14);
  for (int axis : {0, 1}) {
    auto sums = sum_f32_axis(m.data(), 37, 11, axis);
    auto means = mean_f32_axis(m.data(), 37, 11, axis);
    ASSERT_TRUE(sums.ok() && means.ok());
    const double count = axis == 0 ? 37.0 : 11.0;
    ASSERT_EQ(sums->size(), means->size());
    for (std::size_t i = 0; i < sums->size(); ++i) {
      EXPECT_EQ((*means)[i], static_cast<float>(static_cast<double>((*sums)[i]) / count));
    }
  }
}

TEST_P(ReduceAxisTest, IntSumsAreExact) {
  for (const Shape& s : shapes()) {
    const std::vector<std::int32_t> m = model::random_ints(s.rows * s.cols, 15);
    for (int axis : {0, 1}) {
      auto got = sum_i32_axis(m.data(), s.rows, s.cols, axis);
      ASSERT_TRUE(got.ok()) << got.status();
      std::vector<std::int64_t> want(axis == 0 ? s.cols : s.rows, 0);
      for (std::size_t r = 0; r < s.rows; ++r) {
        for (std::size_t c = 0; c < s.cols; ++c) want[axis == 0 ? c : r] += m[r * s.cols + c];
      }
      ASSERT_EQ(std::vector<std::int64_t>(got->begin(), got->end()), want)
          << s.rows << "x" << s.cols << " axis " << axis;
    }
  }
}

// No kernel runs in these two: they are not per target.
TEST(ReduceAxisArgumentsTest, EmptyAxesGiveZerosOrNaNsAndNullDataIsFineThen) {
  // numpy: np.zeros((0, 3)).sum(axis=0) is [0, 0, 0]; .mean(axis=0) is [nan, nan, nan].
  auto sums = sum_f32_axis(nullptr, 0, 3, 0);
  ASSERT_TRUE(sums.ok()) << sums.status();
  EXPECT_EQ(std::vector<float>(sums->begin(), sums->end()), std::vector<float>(3, 0.0f));
  auto means = mean_f32_axis(nullptr, 0, 3, 0);
  ASSERT_TRUE(means.ok());
  ASSERT_EQ(means->size(), 3u);
  for (float v : *means) EXPECT_TRUE(std::isnan(v));
  auto rows = sum_f32_axis(nullptr, 0, 3, 1);
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(rows->empty());
  auto zero_cols = sum_f32_axis(nullptr, 4, 0, 1);
  ASSERT_TRUE(zero_cols.ok());
  EXPECT_EQ(std::vector<float>(zero_cols->begin(), zero_cols->end()),
            std::vector<float>(4, 0.0f));
  auto ints = sum_i32_axis(nullptr, 4, 0, 1);
  ASSERT_TRUE(ints.ok());
  EXPECT_EQ(ints->size(), 4u);
  auto zero_mean = mean_f32_axis(nullptr, 4, 0, 1);
  ASSERT_TRUE(zero_mean.ok());
  for (float v : *zero_mean) EXPECT_TRUE(std::isnan(v));
}

TEST(ReduceAxisArgumentsTest, BadArgumentsAreInvalidArgumentNamingThem) {
  const float one = 1.0f;
  const std::int32_t one_int = 1;
  auto expect_invalid = [](const absl::Status& status, const std::string& fragment) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(fragment));
  };
  for (int axis : {-1, 2, 7}) {
    expect_invalid(sum_f32_axis(&one, 1, 1, axis).status(), "axis=" + std::to_string(axis));
    expect_invalid(mean_f32_axis(&one, 1, 1, axis).status(), "axis=" + std::to_string(axis));
    expect_invalid(sum_i32_axis(&one_int, 1, 1, axis).status(), "axis=" + std::to_string(axis));
  }
  expect_invalid(sum_f32_axis(nullptr, 3, 4, 0).status(), "data is null");
  expect_invalid(sum_f32_axis(nullptr, 3, 4, 1).status(), "rows=3, cols=4");
  expect_invalid(mean_f32_axis(nullptr, 1, 1, 0).status(), "data is null");
  expect_invalid(sum_i32_axis(nullptr, 2, 2, 1).status(), "data is null");
  const std::size_t huge = std::size_t{1} << 40;
  expect_invalid(sum_f32_axis(&one, huge, huge, 0).status(), "rows * cols overflows");
  expect_invalid(sum_f32_axis(&one, huge, huge, 0).status(), "rows=1099511627776");
  expect_invalid(sum_i32_axis(&one_int, huge, huge, 1).status(), "rows * cols overflows");
  const std::size_t max = std::numeric_limits<std::size_t>::max();
  expect_invalid(sum_f32_axis(&one, max, 1, 1).status(), "rows=");
  expect_invalid(sum_f32_axis(&one, 1, max, 0).status(), "cols=");
  // Too large even with nothing to read: no result of that length can exist.
  expect_invalid(sum_f32_axis(nullptr, 0, max, 0).status(), "cols=");
  expect_invalid(mean_f32_axis(nullptr, max / 2, 0, 1).status(), "rows=");
  // The message says which function.
  expect_invalid(sum_i32_axis(nullptr, 2, 2, 1).status(), "sum_i32_axis");
}

TEST_P(ReduceAxisTest, TheResultLivesOnTheGivenResourceAndScratchIsGivenBack) {
  const std::vector<float> m = random_floats(200 * 50, 16);
  StatsResource stats;
  {
    auto sums = sum_f32_axis(m.data(), 200, 50, 0, &stats);
    ASSERT_TRUE(sums.ok());
    EXPECT_EQ(sums->get_allocator().resource(), &stats);
    const StatsCounters c = stats.counters();
    EXPECT_EQ(c.allocations.value, 1u);  // only the result is left
    EXPECT_EQ(c.allocations.total, 2u);  // the result, then a tile and the tree's levels
    EXPECT_EQ(c.bytes.value, 50 * sizeof(float));
    auto means = mean_f32_axis(m.data(), 200, 50, 1, &stats);
    ASSERT_TRUE(means.ok());
    EXPECT_EQ(means->get_allocator().resource(), &stats);
    auto ints = sum_i32_axis(model::random_ints(6, 1).data(), 2, 3, 0, &stats);
    ASSERT_TRUE(ints.ok());
    EXPECT_EQ(ints->get_allocator().resource(), &stats);
  }
  EXPECT_EQ(stats.counters().bytes.value, 0u);
  EXPECT_EQ(stats.counters().mismatches, 0u);
}

TEST_P(ReduceAxisTest, AnArenaKeepsOnlyTheResult) {
  const std::vector<float> m = random_floats(500 * 40, 17);
  // On the heap: ArenaResource is alignas(64), which ASan's fake stack frames do not honor.
  auto arena = std::make_unique<ArenaResource>(1 << 16);
  auto sums = sum_f32_axis(m.data(), 500, 40, 0, arena.get());
  ASSERT_TRUE(sums.ok());
  // The scratch was allocated after the result and given back: the arena popped it.
  EXPECT_LE(arena->stats().used, 40 * sizeof(float) + 64);
  EXPECT_GT(arena->stats().peak, arena->stats().used);
}

TEST_P(ReduceAxisTest, NothingLeaksAtAnyAllocationFailure) {
  const std::vector<float> m = random_floats(100 * 30, 18);
  auto want = sum_f32_axis(m.data(), 100, 30, 0);
  ASSERT_TRUE(want.ok());
  ::corepy::testing::FailingResource failing;
  for (int axis : {0, 1}) {
    const int runs = ::corepy::testing::for_each_failure_point(failing, [&] {
      try {
        auto got = sum_f32_axis(m.data(), 100, 30, axis, &failing);
        ASSERT_TRUE(got.ok());
        if (axis == 0) {
          EXPECT_EQ(std::vector<float>(got->begin(), got->end()),
                    std::vector<float>(want->begin(), want->end()));
        }
      } catch (const std::bad_alloc&) {
        EXPECT_EQ(failing.bytes_in_use(), 0u);
        throw;
      }
      EXPECT_EQ(failing.bytes_in_use(), 0u);
    });
    EXPECT_EQ(runs, 3) << "axis " << axis;  // the result, then its scratch
  }
}

}  // namespace
}  // namespace corepy::ops
