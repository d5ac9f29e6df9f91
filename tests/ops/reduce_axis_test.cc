// The axis reductions of ops/reduce.h on every SIMD target: row sums are exactly sum_f32 of
// each row, column sums exactly the documented tree, int sums exact; empty axes as numpy has
// them; bad arguments rejected with a message that names them; the result built on the given
// resource, the scratch given back, and nothing leaked at any allocation failure. The named
// forms (sum_rows_f32, sum_cols_f32, mean_rows_f32, mean_cols_f32) against a naive loop on
// random shapes (1xN, Nx1, 0xN and Nx0 among them), and their memory: the result on one
// injected resource, the scratch on another, each exactly as the header documents it, with an
// arena, a StatsResource or a resource defined here.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <memory_resource>
#include <new>
#include <random>
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
  std::vector<Shape> s = {{1, 1},     {1, 100},  {100, 1},   {3, 7},     {31, 5},
                          {32, 5},    {33, 5},   {65, 17},   {64, 1024}, {33, 1025},
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
      ASSERT_TRUE(same_float((*got)[r], want)) << s.rows << "x" << s.cols << " row " << r << ": "
                                               << describe((*got)[r]) << " vs " << describe(want);
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
          << s.rows << "x" << s.cols << " column " << c << ": " << describe((*got)[c]) << " vs "
          << describe(want[c]);
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
    // 16 sequential additions per leaf, then log2(rows / 16) levels.
    const long double bound = (16 + std::log2(static_cast<double>(rows)) + 4) *
                              std::numeric_limits<float>::epsilon() / 2 * exact;
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
  EXPECT_EQ(std::vector<float>(zero_cols->begin(), zero_cols->end()), std::vector<float>(4, 0.0f));
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

// ------------------------------------------------------------------ sum_rows_f32 and the like

using MatrixReduction = absl::StatusOr<std::pmr::vector<float>> (*)(const float*, std::size_t,
                                                                    std::size_t,
                                                                    std::pmr::memory_resource*,
                                                                    std::pmr::memory_resource*);

struct Named {
  const char* name;
  MatrixReduction reduce;
  bool per_row;  // one result per row (else per column)
  bool mean;
};

const Named kNamed[] = {{"sum_rows_f32", &sum_rows_f32, true, false},
                        {"sum_cols_f32", &sum_cols_f32, false, false},
                        {"mean_rows_f32", &mean_rows_f32, true, true},
                        {"mean_cols_f32", &mean_cols_f32, false, true}};

// The shapes: 1xN, Nx1, 0xN, Nx0, 0x0 at a few N, then random ones, up to 200 on a side.
std::vector<Shape> random_shapes() {
  std::vector<Shape> s;
  for (std::size_t n : {1, 2, 7, 64, 65, 1000, 5000}) {
    s.push_back({1, n});
    s.push_back({n, 1});
    s.push_back({0, n});
    s.push_back({n, 0});
  }
  s.push_back({0, 0});
  std::mt19937 gen(2026);
  std::uniform_int_distribution<std::size_t> side(0, 200);
  const int count = model::under_valgrind() ? 12 : 40;
  for (int i = 0; i < count; ++i) s.push_back({side(gen), side(gen)});
  return s;
}

// The naive loop, in long double: sums (and sums of magnitudes, for the error bound) along each
// row or down each column.
struct Naive {
  std::vector<long double> sum;
  std::vector<long double> magnitude;
};

Naive naive(const std::vector<float>& m, std::size_t rows, std::size_t cols, bool per_row) {
  Naive n{std::vector<long double>(per_row ? rows : cols, 0.0L),
          std::vector<long double>(per_row ? rows : cols, 0.0L)};
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      const std::size_t k = per_row ? r : c;
      n.sum[k] += m[r * cols + c];
      n.magnitude[k] += std::fabs(m[r * cols + c]);
    }
  }
  return n;
}

// Relative bound on a float sum of `length` terms in the documented order, as a multiple of the
// unit roundoff u = 2^-24 times the sum of magnitudes: no term takes part in more than h
// roundings, and |error| <= h u / (1 - h u) sum|x| (Higham 4.2). Along a row (sum_f32's order):
// 15 sequential additions per lane of a block, 4 levels of blocks in a chunk, 7 to fold the 128
// lanes, ceil(log2(chunks)) levels of chunks. Down a column: 15 sequential additions per group
// of 16 rows, ceil(log2(groups)) levels. One more u for the division of a mean, in double and
// rounded once to float.
long double sum_bound(std::size_t length, bool per_row) {
  auto ceil_log2 = [](std::size_t n) {
    std::size_t d = 0;
    while ((std::size_t{1} << d) < n) ++d;
    return d;
  };
  const std::size_t h =
      per_row ? 15 + 4 + 7 + ceil_log2((length + model::kModelChunk - 1) / model::kModelChunk)
              : 15 + ceil_log2((length + model::kModelLeafRows - 1) / model::kModelLeafRows);
  const long double u = std::numeric_limits<float>::epsilon() / 2.0L;
  return h * u / (1 - h * u);
}

TEST_P(ReduceAxisTest, NamedReductionsMatchANaiveLoopOnRandomShapes) {
  for (const Shape& s : random_shapes()) {
    const std::vector<float> m =
        random_floats(s.rows * s.cols, static_cast<std::uint32_t>(s.rows * 1000 + s.cols));
    for (const Named& f : kNamed) {
      SCOPED_TRACE(::testing::Message() << f.name << " " << s.rows << "x" << s.cols);
      // Empty shapes are reduced without reading: null data is fine then.
      const float* data = m.empty() ? nullptr : m.data();
      absl::StatusOr<std::pmr::vector<float>> got =
          f.reduce(data, s.rows, s.cols, std::pmr::get_default_resource(), nullptr);
      ASSERT_TRUE(got.ok()) << got.status();
      const Naive want = naive(m, s.rows, s.cols, f.per_row);
      ASSERT_EQ(got->size(), want.sum.size());
      const std::size_t length = f.per_row ? s.cols : s.rows;
      const long double bound = sum_bound(length, f.per_row);
      const long double u = std::numeric_limits<float>::epsilon() / 2.0L;
      for (std::size_t k = 0; k < want.sum.size(); ++k) {
        const float v = (*got)[k];
        if (f.mean && length == 0) {
          ASSERT_TRUE(std::isnan(v)) << "result " << k << ": the mean of nothing is NaN";
          continue;
        }
        const long double exact = f.mean ? want.sum[k] / length : want.sum[k];
        const long double scale = f.mean ? want.magnitude[k] / length : want.magnitude[k];
        const long double allowed = bound * scale + (f.mean ? u * std::fabs(exact) : 0.0L);
        ASSERT_LE(std::fabs(v - exact), allowed)
            << "result " << k << ": " << describe(v) << " vs " << static_cast<double>(exact);
      }
      // And one implementation: bit for bit what the axis form gives.
      const int axis = f.per_row ? 1 : 0;
      absl::StatusOr<std::pmr::vector<float>> by_axis =
          f.mean ? mean_f32_axis(data, s.rows, s.cols, axis)
                 : sum_f32_axis(data, s.rows, s.cols, axis);
      ASSERT_TRUE(by_axis.ok());
      ASSERT_EQ(by_axis->size(), got->size());
      for (std::size_t k = 0; k < got->size(); ++k) {
        ASSERT_TRUE(same_float((*got)[k], (*by_axis)[k])) << "result " << k;
      }
    }
  }
}

TEST(ReduceNamedArgumentsTest, BadArgumentsNameTheFunctionAndTheArgument) {
  const std::size_t huge = std::size_t{1} << 40;
  const float one = 1.0f;
  for (const Named& f : kNamed) {
    const absl::Status null_data = f.reduce(nullptr, 2, 3, nullptr, nullptr).status();
    EXPECT_EQ(null_data.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(null_data.message()), HasSubstr(f.name));
    EXPECT_THAT(std::string(null_data.message()), HasSubstr("data is null"));
    const absl::Status overflow = f.reduce(&one, huge, huge, nullptr, nullptr).status();
    EXPECT_EQ(overflow.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(overflow.message()), HasSubstr("rows * cols overflows"));
  }
}

// The scratch one call takes, from the formula in ops/reduce.h (not from the code).
std::size_t documented_scratch_bytes(std::size_t rows, std::size_t cols, bool per_row) {
  if (rows == 0 || cols == 0) return 0;
  if (per_row) return std::min<std::size_t>(rows, 4096) * sizeof(float);
  const std::size_t groups = (rows + 15) / 16;
  std::size_t depth = 0;
  while ((std::size_t{1} << depth) < groups) ++depth;
  const std::size_t tile = rows > 8 && rows <= 16 ? 16384 : 1024;
  return (1 + depth) * std::min(cols, tile) * sizeof(float);
}

// Shapes that reach every case of the formula: one row group and many, the wide tile (9 to 32
// rows) and the narrow one, more columns than a tile, more rows than a row tile, empty ones.
std::vector<Shape> scratch_shapes() {
  return {{1, 1},    {1, 5000},  {5000, 1}, {8, 3000}, {9, 3000}, {32, 17000}, {33, 17000},
          {64, 100}, {65, 1500}, {1000, 7}, {4097, 3}, {0, 10},   {10, 0}};
}

TEST_P(ReduceAxisTest, ResultAndScratchComeFromTheirOwnStatsResources) {
  for (const Shape& s : scratch_shapes()) {
    const std::vector<float> m = random_floats(s.rows * s.cols, 19);
    for (const Named& f : kNamed) {
      SCOPED_TRACE(::testing::Message() << f.name << " " << s.rows << "x" << s.cols);
      const std::size_t results = f.per_row ? s.rows : s.cols;
      const std::size_t scratch_bytes = documented_scratch_bytes(s.rows, s.cols, f.per_row);
      StatsResource result_stats;
      StatsResource scratch_stats;
      {
        auto got =
            f.reduce(m.empty() ? nullptr : m.data(), s.rows, s.cols, &result_stats, &scratch_stats);
        ASSERT_TRUE(got.ok()) << got.status();
        EXPECT_EQ(got->get_allocator().resource(), &result_stats);
        ASSERT_EQ(got->size(), results);
        // The result: one allocation of exactly its size, still held.
        const StatsCounters r = result_stats.counters();
        EXPECT_EQ(r.allocations.total, results == 0 ? 0u : 1u);
        EXPECT_EQ(r.bytes.total, results * sizeof(float));
        EXPECT_EQ(r.bytes.value, results * sizeof(float));
        // The scratch: exactly the documented bytes, all given back.
        const StatsCounters c = scratch_stats.counters();
        EXPECT_EQ(c.allocations.total, scratch_bytes == 0 ? 0u : 1u);
        EXPECT_EQ(c.bytes.total, scratch_bytes);
        EXPECT_EQ(c.bytes.peak, scratch_bytes);
        EXPECT_EQ(c.bytes.value, 0u);
        EXPECT_EQ(c.allocations.value, 0u);
        EXPECT_EQ(c.mismatches, 0u);
      }
      EXPECT_EQ(result_stats.counters().bytes.value, 0u);
      EXPECT_EQ(result_stats.counters().mismatches, 0u);
    }
  }
}

TEST_P(ReduceAxisTest, NullScratchMeansTheResultsResource) {
  const std::vector<float> m = random_floats(100 * 40, 20);
  for (const Named& f : kNamed) {
    StatsResource stats;
    auto got = f.reduce(m.data(), 100, 40, &stats, nullptr);
    ASSERT_TRUE(got.ok());
    const std::size_t results = f.per_row ? 100 : 40;
    const StatsCounters c = stats.counters();
    EXPECT_EQ(c.allocations.total, 2u) << f.name;
    EXPECT_EQ(c.bytes.total, results * sizeof(float) + documented_scratch_bytes(100, 40, f.per_row))
        << f.name;
    EXPECT_EQ(c.bytes.value, results * sizeof(float)) << f.name;
  }
}

TEST_P(ReduceAxisTest, AnArenaServesTheScratchAndIsEmptyAfterwards) {
  for (const Shape& s : scratch_shapes()) {
    const std::vector<float> m = random_floats(s.rows * s.cols, 21);
    for (const Named& f : kNamed) {
      SCOPED_TRACE(::testing::Message() << f.name << " " << s.rows << "x" << s.cols);
      const std::size_t scratch_bytes = documented_scratch_bytes(s.rows, s.cols, f.per_row);
      // On the heap: ArenaResource is alignas(64), which ASan's fake stack frames do not honor.
      auto scratch = std::make_unique<ArenaResource>(std::size_t{1} << 20);
      auto results = std::make_unique<ArenaResource>(std::size_t{1} << 20);
      auto got =
          f.reduce(m.empty() ? nullptr : m.data(), s.rows, s.cols, results.get(), scratch.get());
      ASSERT_TRUE(got.ok()) << got.status();
      const ArenaStats a = scratch->stats();
      EXPECT_EQ(a.used, 0u);  // popped
      EXPECT_GE(a.peak, scratch_bytes);
      EXPECT_LT(a.peak, scratch_bytes + 64);  // and no more than alignment padding
      EXPECT_EQ(a.overflow_count, 0u);
      const std::size_t result_bytes = got->size() * sizeof(float);
      EXPECT_GE(results->stats().used, result_bytes);
      EXPECT_LT(results->stats().used, result_bytes + 64);
    }
  }
}

TEST_P(ReduceAxisTest, AResourceDefinedHereSeesExactlyTheDocumentedRequests) {
  using Event = model::LoggingResource::Event;
  for (const Shape& s : scratch_shapes()) {
    const std::vector<float> m = random_floats(s.rows * s.cols, 22);
    for (const Named& f : kNamed) {
      SCOPED_TRACE(::testing::Message() << f.name << " " << s.rows << "x" << s.cols);
      model::LoggingResource result_log;
      model::LoggingResource scratch_log;
      const std::size_t result_bytes = (f.per_row ? s.rows : s.cols) * sizeof(float);
      const std::size_t scratch_bytes = documented_scratch_bytes(s.rows, s.cols, f.per_row);
      {
        auto got =
            f.reduce(m.empty() ? nullptr : m.data(), s.rows, s.cols, &result_log, &scratch_log);
        ASSERT_TRUE(got.ok()) << got.status();
        std::vector<Event> want_scratch;
        if (scratch_bytes != 0) {
          want_scratch = {{true, scratch_bytes, 64}, {false, scratch_bytes, 64}};
        }
        EXPECT_EQ(scratch_log.log(), want_scratch);
        std::vector<Event> want_result;
        if (result_bytes != 0) want_result = {{true, result_bytes, alignof(float)}};
        EXPECT_EQ(result_log.log(), want_result);
      }
      if (result_bytes != 0) {
        EXPECT_EQ(result_log.log().back(), (Event{false, result_bytes, alignof(float)}));
      }
    }
  }
}

}  // namespace
}  // namespace corepy::ops
