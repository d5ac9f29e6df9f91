// The flat reductions of ops/reduce.h on every SIMD target the CPU offers (Highway's
// SetSupportedTargetsForTest forces each in turn): at every length 0..642 (five groups of lanes)
// and more around the kernels' boundaries, 2^k - 1, 2^k and 2^k + 1 up to 2^20, and at start
// offsets 0..7 elements from 64-byte alignment, each result bit-identical to the scalar model of
// the documented order and within a stated relative bound of a long double reference (integers and
// bools exact); numpy's edge cases; NaN, +-Inf and values near FLT_MAX; 2^25 ones summed exactly;
// and the compensated sum's scratch: taken from the resource it is given (an arena, a
// StatsResource, a resource defined here), exactly the documented bytes, all of it given back, also
// when an allocation fails.
#include "ops/reduce.h"

#include <algorithm>
#include <cfloat>
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

// 64-byte-aligned floats: offsets are counted from there.
template <class T>
struct AlignedVector {
  explicit AlignedVector(std::size_t n) : v(n + 64 / sizeof(T)) {
    const std::uintptr_t p = reinterpret_cast<std::uintptr_t>(v.data());
    first = static_cast<std::size_t>((64 - p % 64) % 64) / sizeof(T);
  }
  T* data() { return v.data() + first; }
  std::vector<T> v;
  std::size_t first;
};

long double unit_roundoff() { return std::numeric_limits<float>::epsilon() / 2.0L; }

std::size_t ceil_log2(std::size_t n) {
  std::size_t d = 0;
  while ((std::size_t{1} << d) < n) ++d;
  return d;
}

// The relative bound of sum_f32 of n floats against the exact sum: |error| <= gamma_h sum|x|,
// gamma_h = h u / (1 - h u), u = 2^-24, where h bounds the roundings any one term takes part in
// (Higham, Accuracy and Stability of Numerical Algorithms, 4.2): 15 sequential additions in its
// lane of a block (16 terms from an exact -0.0), 4 levels of the tree over a chunk's 16 blocks,
// 7 halvings folding the 128 lanes, and ceil(log2(chunks)) levels over the chunks. For 2^20
// terms that is h = 31: about 1.8e-6 of sum|x|, where a sequential float loop allows n u = 0.06.
long double sum_bound(std::size_t n) {
  const std::size_t h = 15 + 4 + 7 + ceil_log2((n + model::kModelChunk - 1) / model::kModelChunk);
  const long double u = unit_roundoff();
  return h * u / (1 - h * u);
}

// Offsets 0..7 at every length up to two blocks and a bit (every tail against every vector
// width and alignment); past that, one offset per length, turning through 0..7 as the lengths
// go, so each offset still meets the large sizes (all eight at each would make this test take
// minutes unoptimized, and most of an hour under Valgrind, for no new case: the kernels' loads
// are unaligned and the same past the first block).
std::vector<std::size_t> offsets_for(std::size_t n, std::size_t index) {
  if (n > 2 * model::kModelBlock + 130) return {index % 8};
  return {0, 1, 2, 3, 4, 5, 6, 7};
}

TEST_P(ReduceTest, FloatSumsAtEveryLengthAndOffset) {
  const std::vector<std::size_t> sizes = boundary_sizes();
  AlignedVector<float> data(sizes.back() + 8);
  const std::vector<float> values = random_floats(sizes.back() + 8, 1);
  std::copy(values.begin(), values.end(), data.data());
  const long double u = unit_roundoff();
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::size_t n = sizes[i];
    for (std::size_t offset : offsets_for(n, i)) {
      const float* x = data.data() + offset;
      const auto span = absl::MakeConstSpan(x, n);
      SCOPED_TRACE(::testing::Message() << "n=" << n << " offset=" << offset
                                        << " target=" << hwy::TargetName(GetParam()));
      const long double exact = model::exact_sum(x, n);
      const long double magnitude = model::abs_sum(x, n);
      const float sum = sum_f32(span);
      const float want = model::model_sum_f32(x, n);
      ASSERT_TRUE(same_float(sum, want))
          << "got " << describe(sum) << ", the documented order gives " << describe(want);
      ASSERT_LE(std::fabs(sum - exact), sum_bound(n) * magnitude) << describe(sum);
      // The compensated sum: its own documented order, and about one rounding of the exact sum
      // (Higham 4.3 bounds Kahan-Neumaier by 2u|S| + O(n u^2) sum|x|).
      const float compensated = sum_f32_compensated(span);
      const float want_compensated = model::model_sum_f32_compensated(x, n);
      ASSERT_TRUE(same_float(compensated, want_compensated))
          << "got " << describe(compensated) << ", the documented order gives "
          << describe(want_compensated);
      ASSERT_LE(std::fabs(compensated - exact),
                2 * u * std::fabs(exact) + 4 * static_cast<long double>(n) * u * u * magnitude)
          << describe(compensated);
      // The mean: that sum divided in double, rounded once to float: one more u.
      const float mean = mean_f32(span);
      if (n == 0) {
        ASSERT_TRUE(std::isnan(mean));
        ASSERT_TRUE(std::isnan(mean_f32_compensated(span)));
        continue;
      }
      ASSERT_TRUE(same_float(mean, static_cast<float>(static_cast<double>(sum) / n)));
      ASSERT_LE(std::fabs(mean - exact / n),
                sum_bound(n) * magnitude / n + 2 * u * std::fabs(exact / n))
          << describe(mean);
      ASSERT_TRUE(same_float(mean_f32_compensated(span),
                             static_cast<float>(static_cast<double>(compensated) / n)));
    }
  }
}

TEST_P(ReduceTest, IntSumsAtEveryLengthAndOffsetAreExact) {
  const std::vector<std::size_t> sizes = boundary_sizes();
  AlignedVector<std::int32_t> data(sizes.back() + 8);
  const std::vector<std::int32_t> values = model::random_ints(sizes.back() + 8, 2);
  std::copy(values.begin(), values.end(), data.data());
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::size_t n = sizes[i];
    for (std::size_t offset : offsets_for(n, i)) {
      const std::int32_t* x = data.data() + offset;
      std::int64_t want = 0;
      for (std::size_t k = 0; k < n; ++k) want += x[k];
      ASSERT_EQ(sum_i32(absl::MakeConstSpan(x, n)), want) << "n=" << n << " offset=" << offset;
    }
  }
}

TEST_P(ReduceTest, BoolsAtEveryLengthAndOffsetAreExact) {
  const std::vector<std::size_t> sizes = boundary_sizes();
  AlignedVector<unsigned char> bytes(sizes.back() + 16);
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::size_t n = sizes[i];
    for (std::size_t offset : offsets_for(n, i)) {
      unsigned char* x = bytes.data() + offset;
      const auto span = absl::MakeConstSpan(reinterpret_cast<const bool*>(x), n);
      SCOPED_TRACE(::testing::Message() << "n=" << n << " offset=" << offset);
      // The bytes around the span decide the other way: they must not be read.
      std::fill(bytes.data(), x + n + 8, 0);
      std::fill(x, x + n, 0x40);
      ASSERT_TRUE(all_bool(span));
      ASSERT_EQ(any_bool(span), n != 0);
      if (n == 0) continue;
      x[n - 1] = 0;  // the last element decides
      ASSERT_FALSE(all_bool(span));
      std::fill(bytes.data(), x + n + 8, 1);
      std::fill(x, x + n, 0);
      ASSERT_FALSE(all_bool(span));
      ASSERT_FALSE(any_bool(span));
      x[n - 1] = 3;
      ASSERT_TRUE(any_bool(span));
    }
  }
}

// numpy's promise, and the issue's: 2^25 ones are 2^25, where a float loop stops at 2^24 (from
// there, x + 1 rounds back to x).
TEST_P(ReduceTest, TwoToThe25OnesSumExactly) {
  if (model::under_valgrind() && GetParam() != model::first_target()) {
    // 128 MiB through each of the four targets Valgrind offers takes about ten minutes there;
    // the best one still runs, and every target does in the optimized build.
    GTEST_SKIP() << "under Valgrind only on the first target";
  }
  if (model::under_instrumentation() && GetParam() == HWY_SCALAR) {
    // 128 lanes of scalar code, unoptimized and instrumented: 50 s of ThreadSanitizer's run.
    GTEST_SKIP() << "the scalar target runs this in the uninstrumented build only";
  }
  const std::size_t n = std::size_t{1} << 25;
  const std::vector<float> ones(n, 1.0f);
  EXPECT_EQ(sum_f32(ones), 33554432.0f);
  EXPECT_EQ(sum_f32_compensated(ones), 33554432.0f);
  if (GetParam() == model::first_target()) {
    float naive = 0.0f;
    for (float v : ones) naive += v;
    EXPECT_EQ(naive, 16777216.0f) << "the contrast this test relies on";
  }
}

TEST_P(ReduceTest, SumF32IsPairwiseAccurate) {
  // Error bound of 128 lanes of sequential sums below a pairwise tree: each lane adds at most
  // kBlock / 128 = 16 terms per block, then about log2(n) levels of the tree.
  for (std::size_t n : {1000u, 100000u, 1000000u}) {
    if (model::under_valgrind() && n > 100000) continue;
    const std::vector<float> data = random_floats(n, 3, 0.0f, 1.0f);
    const long double exact = model::exact_sum(data.data(), n);
    const long double bound = (16 + 2 * std::log2(static_cast<double>(n)) + 8) *
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

// Values near FLT_MAX: sums that stay finite are finite (no lane or tree level overflows on
// its own), and one that does not is +-Inf, as IEEE addition has it; the model agrees bit for
// bit everywhere, wherever the values sit in the lanes.
TEST_P(ReduceTest, ValuesNearFltMax) {
  constexpr float kMax = FLT_MAX;
  for (std::size_t n : {2u, 3u, 64u, 65u, 130u, 4097u, 70000u}) {
    for (std::size_t at : {std::size_t{0}, n / 2, n - 1}) {
      SCOPED_TRACE(::testing::Message() << "n=" << n << " at=" << at);
      std::vector<float> x(n, 0.0f);
      const std::size_t other = (at + n / 3 + 1) % n;
      x[at] = kMax;
      EXPECT_EQ(sum_f32(x), kMax);
      EXPECT_EQ(sum_f32_compensated(x), kMax);
      EXPECT_EQ(mean_f32(x), static_cast<float>(static_cast<double>(kMax) / n));
      // M/2 + M/2 is M exactly, and every partial sum on the way is exact.
      x[at] = kMax / 2;
      x[other] = kMax / 2;
      EXPECT_EQ(sum_f32(x), kMax);
      EXPECT_EQ(sum_f32_compensated(x), kMax);
      // Small terms beside M: M + 1e30 rounds to M (1e30 is under half an ulp of M, 2^103).
      std::vector<float> beside(n, 1e29f / static_cast<float>(n));
      beside[at] = kMax;
      EXPECT_EQ(sum_f32(beside), kMax);
      EXPECT_EQ(sum_f32_compensated(beside), kMax);
      // M + M overflows: +Inf; -M - M: -Inf; the mean of an overflowing sum is Inf too, as a
      // float32 accumulation in numpy gives.
      x[at] = kMax;
      x[other] = kMax;
      EXPECT_EQ(sum_f32(x), kInf);
      EXPECT_EQ(sum_f32_compensated(x), kInf);
      EXPECT_EQ(mean_f32(x), kInf);
      x[at] = -kMax;
      x[other] = -kMax;
      EXPECT_EQ(sum_f32(x), -kInf);
      EXPECT_EQ(sum_f32_compensated(x), -kInf);
      // M and -M: whether they meet before other terms decides the float answer; the order
      // is the documented one, on every target.
      std::vector<float> mixed = random_floats(n, static_cast<std::uint32_t>(n + at));
      mixed[at] = kMax;
      mixed[other] = -kMax;
      EXPECT_TRUE(same_float(sum_f32(mixed), model::model_sum_f32(mixed.data(), n)));
      EXPECT_TRUE(same_float(sum_f32_compensated(mixed),
                             model::model_sum_f32_compensated(mixed.data(), n)));
      EXPECT_TRUE(std::isfinite(sum_f32_compensated(mixed)));
    }
  }
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

TEST_P(ReduceTest, SumI32IsWidened) {
  // Every element at an extreme: any int32 accumulation would overflow at once.
  for (std::size_t n : {1u, 17u, 1000u, 100000u}) {
    EXPECT_EQ(sum_i32(std::vector<std::int32_t>(n, INT32_MAX)),
              static_cast<std::int64_t>(n) * INT32_MAX);
    EXPECT_EQ(sum_i32(std::vector<std::int32_t>(n, INT32_MIN)),
              static_cast<std::int64_t>(n) * INT32_MIN);
  }
  // Extremes and -1 / 0 alternating, at every phase and length up to past two full AVX-512
  // vectors and a masked rest: the kernels may take each 64-bit pair of elements apart by shifts.
  const std::int32_t pattern[] = {INT32_MIN, INT32_MAX, -1, 0, INT32_MIN, -1, INT32_MAX, 1};
  for (std::size_t phase = 0; phase < 8; ++phase) {
    for (std::size_t n = 0; n <= 70; ++n) {
      std::vector<std::int32_t> x(n);
      std::int64_t want = 0;
      for (std::size_t k = 0; k < n; ++k) want += x[k] = pattern[(k + phase) % 8];
      ASSERT_EQ(sum_i32(x), want) << "n=" << n << " phase=" << phase;
    }
  }
}

TEST_P(ReduceTest, MeanDividesTheSumInDouble) {
  const std::vector<float> x = {1.0f, 2.0f, 3.0f, 4.0f};
  EXPECT_EQ(mean_f32(x), 2.5f);
  EXPECT_EQ(mean_f32_compensated(x), 2.5f);
  const std::vector<float> data = random_floats(100003, 4);
  EXPECT_EQ(mean_f32(data), static_cast<float>(static_cast<double>(sum_f32(data)) / 100003.0));
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
    trues.set(n, 0);  // just past the end: must not be read
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
                            4 * static_cast<long double>(n) * u * u * model::abs_sum(x.data(), n);
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

// ops/reduce.h: 2 x 32 floats of lane terms, and one pair of floats per 32Ki-float chunk.
std::size_t documented_compensated_scratch(std::size_t n) {
  return n == 0 ? 0 : 64 * sizeof(float) + (n + 32767) / 32768 * 2 * sizeof(float);
}

const std::size_t kScratchSizes[] = {1,
                                     1000,
                                     model::kModelChunk,
                                     model::kModelChunk + 1,
                                     2 * model::kModelChunk + 1,
                                     3 * model::kModelChunk + 5};

TEST_P(ReduceTest, CompensatedSumTakesExactlyItsDocumentedScratchFromAStatsResource) {
  const std::vector<float> data = random_floats(3 * model::kModelChunk + 5, 7);
  for (std::size_t n : kScratchSizes) {
    const auto x = absl::MakeConstSpan(data.data(), n);
    StatsResource stats;
    const float got = sum_f32_compensated(x, &stats);
    EXPECT_TRUE(same_float(got, sum_f32_compensated(x)));
    const StatsCounters c = stats.counters();
    EXPECT_EQ(c.allocations.total, 2u) << n;  // the lanes' terms, the chunks' pairs
    EXPECT_EQ(c.allocations.value, 0u) << n;
    EXPECT_EQ(c.bytes.value, 0u) << n;
    EXPECT_EQ(c.mismatches, 0u) << n;
    EXPECT_EQ(c.bytes.total, documented_compensated_scratch(n)) << n;
    EXPECT_EQ(c.bytes.peak, documented_compensated_scratch(n)) << n;
  }
}

TEST_P(ReduceTest, CompensatedSumAsksAResourceDefinedHereForExactlyItsScratch) {
  using Event = model::LoggingResource::Event;
  const std::vector<float> data = random_floats(3 * model::kModelChunk + 5, 7);
  for (std::size_t n : kScratchSizes) {
    model::LoggingResource log;
    const auto x = absl::MakeConstSpan(data.data(), n);
    EXPECT_TRUE(same_float(sum_f32_compensated(x, &log), sum_f32_compensated(x)));
    const std::size_t pairs = documented_compensated_scratch(n) - 64 * sizeof(float);
    // Taken in one order, given back in the reverse one (an arena pops both), 64-byte aligned.
    const std::vector<Event> want = {{true, 64 * sizeof(float), 64},
                                     {true, pairs, 64},
                                     {false, pairs, 64},
                                     {false, 64 * sizeof(float), 64}};
    EXPECT_EQ(log.log(), want) << n;
  }
}

TEST_P(ReduceTest, CompensatedSumGivesAnArenaEverythingBack) {
  const std::vector<float> data = random_floats(3 * model::kModelChunk + 5, 8);
  for (std::size_t n : kScratchSizes) {
    // On the heap: ArenaResource is alignas(64), which ASan's fake stack frames do not honor.
    auto arena = std::make_unique<ArenaResource>(4096);
    for (int i = 0; i < 3; ++i) {
      sum_f32_compensated(absl::MakeConstSpan(data.data(), n), arena.get());
      EXPECT_EQ(arena->stats().used, 0u);
    }
    // The documented bytes, each allocation aligned to 64: at most 63 bytes of padding more.
    EXPECT_GE(arena->stats().peak, documented_compensated_scratch(n)) << n;
    EXPECT_LT(arena->stats().peak, documented_compensated_scratch(n) + 64) << n;
    EXPECT_EQ(arena->stats().overflow_count, 0u);
  }
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
