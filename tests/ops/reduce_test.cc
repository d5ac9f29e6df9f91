// The flat reductions of ops/reduce.h on every SIMD target the CPU offers (Highway's
// SetSupportedTargetsForTest): results bit-identical to the scalar model of the documented order
// at every size around the kernels' boundaries and at every misalignment, numpy's edge cases,
// IEEE special values, accuracy against a long double reference, and the compensated sum's
// scratch: taken from the resource it is given, all of it given back, also when an allocation
// fails.
#include "ops/reduce.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <memory_resource>
#include <new>
#include <vector>

#include "allocators/arena_resource.h"
#include "allocators/failing_resource.h"
#include "allocators/stats_resource.h"
#include "gtest/gtest.h"
#include "hwy/targets.h"
#include "tests/ops/reduce_model.h"

namespace corepy::ops {
namespace {

using ::corepy::ops::model::boundary_sizes;
using ::corepy::ops::model::describe;
using ::corepy::ops::model::random_floats;
using ::corepy::ops::model::same_float;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

class ReduceTest : public model::TargetTest {};
COREPY_INSTANTIATE_FOR_EVERY_TARGET(ReduceTest);

TEST(ReduceEdgeTest, EmptyInputsFollowNumpy) {
  const float sum = sum_f32({});
  EXPECT_EQ(sum, 0.0f);
  EXPECT_FALSE(std::signbit(sum));
  EXPECT_EQ(sum_i32({}), 0);
  EXPECT_TRUE(std::isnan(mean_f32({})));
  EXPECT_TRUE(all_bool({}));
  EXPECT_FALSE(any_bool({}));
  const float compensated = sum_f32_compensated({});
  EXPECT_EQ(compensated, 0.0f);
  EXPECT_FALSE(std::signbit(compensated));
  EXPECT_TRUE(std::isnan(mean_f32_compensated({})));
}

TEST_P(ReduceTest, SumF32MatchesTheModelAtEveryBoundary) {
  const std::vector<float> data = random_floats(5 * model::kModelChunk + 20000, 1);
  for (std::size_t n : boundary_sizes()) {
    ASSERT_LE(n, data.size());
    const float got = sum_f32(absl::MakeConstSpan(data.data(), n));
    const float want = model::model_sum_f32(data.data(), n);
    ASSERT_TRUE(same_float(got, want))
        << "n=" << n << " target=" << hwy::TargetName(GetParam()) << ": got " << describe(got)
        << ", the documented order gives " << describe(want);
  }
}

TEST_P(ReduceTest, SumF32IsTheSameAtEveryAlignment) {
  const std::vector<float> data = random_floats(4096 + 64, 2);
  for (std::size_t n : {1u, 7u, 63u, 64u, 65u, 200u, 2049u, 4095u}) {
    for (std::size_t offset = 0; offset < 17; ++offset) {
      const float* x = data.data() + offset;
      const float got = sum_f32(absl::MakeConstSpan(x, n));
      ASSERT_TRUE(same_float(got, model::model_sum_f32(x, n)))
          << "n=" << n << " offset=" << offset << " got " << describe(got);
    }
  }
}

TEST_P(ReduceTest, SumF32IsPairwiseAccurate) {
  // Error bound of 64 lanes of sequential sums below a pairwise tree: each lane adds at most
  // kBlock / 64 = 64 terms per block, then about log2(n) levels of the tree.
  for (std::size_t n : {1000u, 100000u, 1000000u}) {
    if (model::under_valgrind() && n > 100000) continue;
    const std::vector<float> data = random_floats(n, 3, 0.0f, 1.0f);
    const long double exact = model::exact_sum(data.data(), n);
    const long double bound = (64 + 2 * std::log2(static_cast<double>(n)) + 8) *
                              std::numeric_limits<float>::epsilon() / 2 *
                              model::abs_sum(data.data(), n);
    const float got = sum_f32(data);
    EXPECT_LE(std::fabs(static_cast<long double>(got) - exact), bound) << "n=" << n;
  }
}

TEST_P(ReduceTest, SpecialValuesPropagateAsIeeeAdditionDoes) {
  for (std::size_t n : {1u, 5u, 64u, 100u, 3000u, 70000u}) {
    for (std::size_t at : {std::size_t{0}, n / 2, n - 1}) {
      std::vector<float> x(n, 1.0f);
      x[at] = kNaN;
      EXPECT_TRUE(std::isnan(sum_f32(x))) << "NaN at " << at << " of " << n;
      EXPECT_TRUE(std::isnan(sum_f32_compensated(x))) << "NaN at " << at << " of " << n;
      x[at] = kInf;
      EXPECT_EQ(sum_f32(x), kInf) << "Inf at " << at << " of " << n;
      EXPECT_EQ(sum_f32_compensated(x), kInf) << "Inf at " << at << " of " << n;
      if (n > 1) {
        x[(at + 1) % n] = -kInf;
        EXPECT_TRUE(std::isnan(sum_f32(x))) << "Inf and -Inf in " << n;
        EXPECT_TRUE(std::isnan(sum_f32_compensated(x))) << "Inf and -Inf in " << n;
      }
    }
  }
  // Finite values whose sum overflows.
  const std::vector<float> big(100, std::numeric_limits<float>::max());
  EXPECT_EQ(sum_f32(big), kInf);
  EXPECT_EQ(sum_f32_compensated(big), kInf);
}

TEST_P(ReduceTest, NegativeZeroSumsStayNegativeZero) {
  for (std::size_t n : {1u, 3u, 64u, 65u, 5000u}) {
    const std::vector<float> zeros(n, -0.0f);
    EXPECT_TRUE(std::signbit(sum_f32(zeros))) << n;
    EXPECT_TRUE(std::signbit(sum_f32_compensated(zeros))) << n;
    const std::vector<float> mixed = {-0.0f, 0.0f};
    EXPECT_FALSE(std::signbit(sum_f32(mixed)));
  }
}

TEST_P(ReduceTest, SumI32IsExactAndWidened) {
  for (std::size_t n : boundary_sizes()) {
    std::vector<std::int32_t> x = model::random_ints(n, static_cast<std::uint32_t>(n));
    std::int64_t want = 0;
    for (std::int32_t v : x) want += v;
    ASSERT_EQ(sum_i32(x), want) << "n=" << n;
  }
  // Every element at an extreme: any int32 accumulation would overflow at once.
  for (std::size_t n : {1u, 17u, 1000u, 100000u}) {
    EXPECT_EQ(sum_i32(std::vector<std::int32_t>(n, INT32_MAX)),
              static_cast<std::int64_t>(n) * INT32_MAX);
    EXPECT_EQ(sum_i32(std::vector<std::int32_t>(n, INT32_MIN)),
              static_cast<std::int64_t>(n) * INT32_MIN);
  }
}

TEST_P(ReduceTest, MeanDividesTheSumInDouble) {
  const std::vector<float> x = {1.0f, 2.0f, 3.0f, 4.0f};
  EXPECT_EQ(mean_f32(x), 2.5f);
  EXPECT_EQ(mean_f32_compensated(x), 2.5f);
  const std::vector<float> data = random_floats(100003, 4);
  EXPECT_EQ(mean_f32(data),
            static_cast<float>(static_cast<double>(sum_f32(data)) / 100003.0));
  EXPECT_TRUE(std::isnan(mean_f32(std::vector<float>{1.0f, kNaN})));
}

// A bool buffer written byte by byte: values other than 0 and 1 are what C or memcpy can leave.
// Only ever read through the kernels, which read bytes.
class Bools {
 public:
  Bools(std::size_t n, unsigned char fill) : bytes_(n + 1, fill) {}
  void set(std::size_t i, unsigned char v) { bytes_[i] = v; }
  absl::Span<const bool> span(std::size_t n) const {
    return absl::MakeConstSpan(reinterpret_cast<const bool*>(bytes_.data()), n);
  }

 private:
  std::vector<unsigned char> bytes_;
};

TEST_P(ReduceTest, AllAndAnyAtEveryPosition) {
  for (std::size_t n : boundary_sizes()) {
    // The serial kernel has no chunks: sizes past a few blocks add time, not cases.
    if (n == 0 || n > 3 * model::kModelBlock + 65) continue;
    // Positions: all of them for small n, which covers every residue against the vector
    // widths; for large n (each call there reads up to n bytes) the first ones, the middle
    // and the last 4 vectors' boundaries, where the loops and the padded tail meet.
    std::vector<std::size_t> positions;
    if (n <= 600) {
      for (std::size_t i = 0; i < n; ++i) positions.push_back(i);
    } else {
      for (std::size_t i = 0; i < 70; ++i) positions.push_back(i);
      positions.push_back(n / 2);
      positions.push_back(n / 2 + 1);
      for (std::size_t back : {1, 2, 16, 17, 32, 33, 63, 64, 65, 128, 129, 192, 193, 256, 257}) {
        positions.push_back(n - back);
      }
    }
    const std::vector<unsigned char> truthy =
        n <= 600 ? std::vector<unsigned char>{1, 2, 0x80, 0xff} : std::vector<unsigned char>{0x80};
    Bools trues(n, 1);
    Bools falses(n, 0);
    trues.set(n, 0);   // just past the end: must not be read
    falses.set(n, 1);
    ASSERT_TRUE(all_bool(trues.span(n))) << n;
    ASSERT_TRUE(any_bool(trues.span(n))) << n;
    ASSERT_FALSE(all_bool(falses.span(n))) << n;
    ASSERT_FALSE(any_bool(falses.span(n))) << n;
    for (std::size_t i : positions) {
      trues.set(i, 0);
      ASSERT_FALSE(all_bool(trues.span(n))) << "zero at " << i << " of " << n;
      trues.set(i, 1);
      for (unsigned char v : truthy) {
        falses.set(i, v);
        ASSERT_TRUE(any_bool(falses.span(n))) << "byte " << int{v} << " at " << i << " of " << n;
      }
      falses.set(i, 0);
    }
  }
}

TEST_P(ReduceTest, AllTreatsEveryNonzeroByteAsTrue) {
  Bools x(300, 0x80);
  x.set(7, 2);
  x.set(299, 0xff);
  EXPECT_TRUE(all_bool(x.span(300)));
}

TEST_P(ReduceTest, CompensatedSumMatchesTheModelAtEveryBoundary) {
  const std::vector<float> data = random_floats(5 * model::kModelChunk + 20000, 5);
  for (std::size_t n : boundary_sizes()) {
    const float got = sum_f32_compensated(absl::MakeConstSpan(data.data(), n));
    const float want = model::model_sum_f32_compensated(data.data(), n);
    ASSERT_TRUE(same_float(got, want))
        << "n=" << n << ": got " << describe(got) << ", the documented order gives "
        << describe(want);
  }
}

// Sums whose terms cancel: huge pairs that cancel exactly, around small terms. The
// compensated sum stays within its bound, 2u|S| + O(n u^2) sum|x| (Higham, Accuracy and
// Stability of Numerical Algorithms, 4.3), and well below the plain sum's error.
TEST_P(ReduceTest, CompensatedSumSurvivesCancellation) {
  const std::size_t n = model::under_valgrind() ? 30000 : 300000;
  std::vector<float> x = random_floats(n, 6);
  for (std::size_t i = 0; i + 1 < n; i += 3) {
    x[i] *= 1e4f;
    x[i + 1] = -x[i];
  }
  const long double exact = model::exact_sum(x.data(), n);
  const long double u = std::numeric_limits<float>::epsilon() / 2;
  const long double bound = 2 * u * std::fabs(exact) +
                            4 * static_cast<long double>(n) * u * u *
                                model::abs_sum(x.data(), n);
  const long double compensated_error =
      std::fabs(static_cast<long double>(sum_f32_compensated(x)) - exact);
  const long double plain_error = std::fabs(static_cast<long double>(sum_f32(x)) - exact);
  EXPECT_LE(compensated_error, bound);
  EXPECT_LT(compensated_error * 10, plain_error);
  // And the classic one: 1 + 1e8 - 1e8 ... repeated.
  std::vector<float> classic;
  for (int i = 0; i < 1000; ++i) {
    classic.push_back(1e8f);
    classic.push_back(1.0f);
    classic.push_back(-1e8f);
  }
  EXPECT_EQ(sum_f32_compensated(classic), 1000.0f);
}

TEST_P(ReduceTest, CompensatedSumTakesItsScratchFromTheGivenResource) {
  const std::vector<float> data = random_floats(3 * model::kModelChunk + 5, 7);
  StatsResource stats;
  const float got = sum_f32_compensated(data, &stats);
  EXPECT_TRUE(same_float(got, sum_f32_compensated(data)));
  const StatsCounters c = stats.counters();
  EXPECT_EQ(c.allocations.total, 2u);  // the lanes' terms, the chunks' pairs
  EXPECT_EQ(c.allocations.value, 0u);
  EXPECT_EQ(c.bytes.value, 0u);
  EXPECT_EQ(c.mismatches, 0u);
  // 2 x 32 floats of terms and 4 chunk pairs of 2 floats.
  EXPECT_EQ(c.bytes.peak, 64 * sizeof(float) + 4 * 2 * sizeof(float));
}

TEST_P(ReduceTest, CompensatedSumGivesAnArenaEverythingBack) {
  const std::vector<float> data = random_floats(100000, 8);
  // On the heap: ArenaResource is alignas(64), which ASan's fake stack frames do not honor.
  auto arena = std::make_unique<ArenaResource>(4096);
  for (int i = 0; i < 3; ++i) {
    sum_f32_compensated(data, arena.get());
    EXPECT_EQ(arena->stats().used, 0u);
  }
  EXPECT_GT(arena->stats().peak, 0u);
  EXPECT_EQ(arena->stats().overflow_count, 0u);
}

TEST_P(ReduceTest, CompensatedSumLeaksNothingWhenScratchFails) {
  const std::vector<float> data = random_floats(2 * model::kModelChunk + 1, 9);
  const float want = sum_f32_compensated(data);
  ::corepy::testing::FailingResource failing;
  const int runs = ::corepy::testing::for_each_failure_point(failing, [&] {
    try {
      EXPECT_TRUE(same_float(sum_f32_compensated(data, &failing), want));
    } catch (const std::bad_alloc&) {
      EXPECT_EQ(failing.bytes_in_use(), 0u);
      throw;
    }
    EXPECT_EQ(failing.bytes_in_use(), 0u);
  });
  EXPECT_EQ(runs, 3);  // two allocations, each failed once, then a clean run
}

TEST_P(ReduceTest, NullScratchMeansTheDefaultResource) {
  const std::vector<float> data = random_floats(1000, 10);
  EXPECT_TRUE(same_float(sum_f32_compensated(data, nullptr), sum_f32_compensated(data)));
}

}  // namespace
}  // namespace corepy::ops
