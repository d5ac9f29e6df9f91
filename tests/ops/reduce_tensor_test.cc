// The N-D reductions of ops/reduce_tensor.h, from C++ (tests/ops/reduce_numpy_test.py checks
// their values against numpy): the same bits on every SIMD target and at every thread count;
// exactly the scratch the plan states, in one allocation, and the result in one; nothing from
// the default resource; broadcast dims folded in closed form; bad input refused with a message
// that names it; and ops::Tensor's ownership.
#include "ops/reduce_tensor.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory_resource>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "allocators/arena_resource.h"
#include "allocators/stats_resource.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwy/targets.h"
#include "oneapi/tbb/task_arena.h"
#include "ops/tensor.h"
#include "tests/ops/reduce_model.h"

namespace corepy::ops {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr Reduction kEveryReduction[] = {
#define COREPY_REDUCTION_ELEMENT(Id, name, value) Reduction::k##Id,
    COREPY_REDUCTIONS(COREPY_REDUCTION_ELEMENT)
#undef COREPY_REDUCTION_ELEMENT
};

// A buffer of random elements of `dtype` and views into it. Float64 elements use every bit of
// the significand: a float widened to double has 29 zero bits at the bottom, and sums of a few
// thousand such values are exact in any order, so results computed in another order would show
// the same bits.
struct Data {
  DType dtype;
  std::vector<char> bytes;

  Data(DType d, std::size_t n, unsigned seed) : dtype(d), bytes(n * dtype_size(d)) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    for (std::size_t i = 0; i < n; ++i) {
      char* at = bytes.data() + i * dtype_size(d);
      const float v = normal(rng);
      switch (d) {
        case DType::kFloat32:
          std::memcpy(at, &v, 4);
          break;
        case DType::kFloat64: {
          const double w = static_cast<double>(v) + static_cast<double>(normal(rng)) * 0x1p-29;
          std::memcpy(at, &w, 8);
          break;
        }
        case DType::kInt32: {
          const std::int32_t w = static_cast<std::int32_t>(v * 100);
          std::memcpy(at, &w, 4);
          break;
        }
        case DType::kInt64: {
          const std::int64_t w = static_cast<std::int64_t>(v * 1e6);
          std::memcpy(at, &w, 8);
          break;
        }
        case DType::kBool:
          *at = v > 0 ? 1 : 0;
          break;
        case DType::kFloat16:
        case DType::kBFloat16: {
          // A bfloat16 pattern is a valid float16 one too: both are finite here.
          std::uint32_t bits;
          std::memcpy(&bits, &v, 4);
          const std::uint16_t h =
              d == DType::kBFloat16 ? static_cast<std::uint16_t>(bits >> 16)
                                    : static_cast<std::uint16_t>(0x3c00 + (rng() % 0x800) - 0x400);
          std::memcpy(at, &h, 2);
          break;
        }
      }
    }
  }
  TensorView view(absl::Span<const std::int64_t> shape, absl::Span<const std::int64_t> strides = {},
                  std::size_t offset = 0) const {
    return TensorView{bytes.data() + offset, dtype, shape, strides};
  }
};

// One reduction of one view, as a test names it.
struct Case {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<std::int64_t> strides;  // in elements; empty: C-contiguous
  std::int64_t offset;                // in elements
  std::vector<std::int64_t> axes;
  bool all_axes;
};

// Every strategy and shape class: runs read in place and gathered, columns, broadcast and
// negative strides, one result and many.
std::vector<Case> cases() {
  return {
      {"contiguous all", {64, 70}, {}, 0, {}, true},
      {"rows", {64, 70}, {}, 0, {1}, false},
      {"columns", {70, 64}, {}, 0, {0}, false},
      {"transposed columns", {64, 70}, {1, 64}, 0, {0}, false},
      {"3-D outer and inner", {9, 10, 11}, {}, 0, {0, 2}, false},
      {"3-D middle", {9, 10, 11}, {}, 0, {1}, false},
      {"strided rows", {20, 50}, {200, 2}, 0, {1}, false},
      {"negative strides", {20, 50}, {-100, -1}, 1999, {1}, false},
      {"broadcast rows", {20, 50}, {0, 1}, 0, {0}, false},
      {"broadcast reduced", {30, 40}, {40, 0}, 0, {1}, false},
      {"long run", {3, 20000}, {}, 0, {1}, false},
      {"no axis", {5, 6}, {}, 0, {}, false},
  };
}

bool is_arg(Reduction r) { return r == Reduction::kArgmin || r == Reduction::kArgmax; }

// Calls f(reduction, view, options) for every case and every reduction it suits (argmin and
// argmax take one axis or all), on views into `data`; ddof is 1.
template <class F>
void for_each_reduction(const Data& data, const F& f) {
  const std::size_t item = dtype_size(data.dtype);
  for (const Case& c : cases()) {
    std::vector<std::int64_t> strides;
    for (std::int64_t e : c.strides) strides.push_back(e * static_cast<std::int64_t>(item));
    const TensorView view = data.view(c.shape, strides, static_cast<std::size_t>(c.offset) * item);
    ReduceOptions options;
    options.all_axes = c.all_axes;
    options.axes = c.axes;
    options.ddof = 1;
    for (Reduction r : kEveryReduction) {
      if (is_arg(r) && !c.all_axes && c.axes.size() != 1) continue;
      SCOPED_TRACE(std::string(dtype_name(data.dtype)) + " " + c.name + " " +
                   std::string(reduction_name(r)));
      f(r, view, options);
    }
  }
}

std::vector<char> bytes_of(const Tensor& t) {
  const char* p = static_cast<const char*>(t.data());
  return std::vector<char>(p, p + t.bytes());
}

// The bytes of every case's result for every reduction of `dtype`, computed with `parallel`.
std::vector<std::vector<char>> results(DType dtype, const ParallelOptions& parallel = {}) {
  std::vector<std::vector<char>> out;
  for_each_reduction(Data(dtype, 64 * 1024, 7),
                     [&](Reduction r, const TensorView& view, const ReduceOptions& options) {
                       absl::StatusOr<Tensor> t = reduce(
                           r, view, options, std::pmr::new_delete_resource(), nullptr, parallel);
                       EXPECT_TRUE(t.ok()) << t.status();
                       if (t.ok()) out.push_back(bytes_of(*t));
                     });
  return out;
}

::testing::Environment* const finalize_workers =
    ::testing::AddGlobalTestEnvironment(new model::FinalizeParallelWorkers);

constexpr DType kEveryDType[] = {DType::kFloat32, DType::kFloat64, DType::kInt32,   DType::kInt64,
                                 DType::kBool,    DType::kFloat16, DType::kBFloat16};

// The mean of `view` on `target` has the bits it has on the first target.
void expect_mean_as_on_the_first_target(const TensorView& view, const ReduceOptions& options,
                                        std::int64_t target) {
  hwy::SetSupportedTargetsForTest(model::first_target());
  absl::StatusOr<Tensor> first =
      reduce(Reduction::kMean, view, options, std::pmr::new_delete_resource());
  hwy::SetSupportedTargetsForTest(target);
  absl::StatusOr<Tensor> mean =
      reduce(Reduction::kMean, view, options, std::pmr::new_delete_resource());
  ASSERT_TRUE(first.ok() && mean.ok());
  EXPECT_EQ(bytes_of(*mean), bytes_of(*first));
}

class ReduceTensorTargetTest : public model::TargetTest {};
COREPY_INSTANTIATE_FOR_EVERY_TARGET(ReduceTensorTargetTest);

TEST_P(ReduceTensorTargetTest, EveryResultIsTheSameBitsAsOnTheFirstTarget) {
  for (DType dtype : kEveryDType) {
    SCOPED_TRACE(dtype_name(dtype));
    hwy::SetSupportedTargetsForTest(model::first_target());
    const std::vector<std::vector<char>> expected = results(dtype);
    hwy::SetSupportedTargetsForTest(GetParam());
    EXPECT_EQ(results(dtype), expected);
  }
}

// Rows that lie back to back go to the row kernels (row_sums_f32, row_sums_bf16,
// row_sums_f16); the same rows with a gap after each are summed one result at a time. Both must
// give the same bits, on every target, at every row length the row kernels tell apart: up to
// 16, 32, 64 and 128 elements (the short rows' lanes), a block, a chunk and beyond.
TEST_P(ReduceTensorTargetTest, RowsBackToBackGiveTheBitsOfTheSameRowsApart) {
  hwy::SetSupportedTargetsForTest(GetParam());
  constexpr std::int64_t kGap = 3;
  for (DType dtype : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
    const auto item = static_cast<std::int64_t>(dtype_size(dtype));
    for (std::int64_t cols : {1,  5,  15,  16,  17,  31,  32,   33,   50,   63,
                              64, 65, 100, 127, 128, 129, 1000, 2048, 2049, 40000}) {
      const std::int64_t rows = cols > 2048 ? 2 : 7;
      const Data packed(dtype, static_cast<std::size_t>(rows * cols), 11);
      std::vector<char> apart(static_cast<std::size_t>(rows * (cols + kGap) * item));
      for (std::int64_t r = 0; r < rows; ++r) {
        std::memcpy(apart.data() + r * (cols + kGap) * item, packed.bytes.data() + r * cols * item,
                    static_cast<std::size_t>(cols * item));
      }
      const std::int64_t shape[] = {rows, cols};
      const std::int64_t apart_strides[] = {(cols + kGap) * item, item};
      ReduceOptions along_rows;
      along_rows.all_axes = false;
      const std::int64_t axis1[] = {1};
      along_rows.axes = axis1;
      for (Reduction r : {Reduction::kSum, Reduction::kMean}) {
        SCOPED_TRACE(std::string(dtype_name(dtype)) + " cols " + std::to_string(cols) + " " +
                     std::string(reduction_name(r)));
        absl::StatusOr<Tensor> back_to_back =
            reduce(r, packed.view(shape), along_rows, std::pmr::new_delete_resource());
        absl::StatusOr<Tensor> one_by_one =
            reduce(r, TensorView(apart.data(), dtype, shape, apart_strides), along_rows,
                   std::pmr::new_delete_resource());
        ASSERT_TRUE(back_to_back.ok() && one_by_one.ok());
        EXPECT_EQ(bytes_of(*back_to_back), bytes_of(*one_by_one));
      }
    }
  }
}

// bfloat16 rounded to nearest, ties to even, from float32 (the library's rounding of a float32
// result to a bfloat16 one); NaN stays NaN.
std::uint16_t bf16_nearest(float f) {
  std::uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40);
  return static_cast<std::uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

// n bfloat16 values (as float32) whose sum depends on the order it is taken in, far beyond
// float32's last bits: large values (2^5 to 2^20) each with its negation somewhere else, and
// small ones (2^-20 to 2^-5) that a lane holding a large value absorbs. The exact sum is the
// small values'; what a float32 sum keeps of them depends on which lane adds what, when.
std::vector<float> order_sensitive_bf16_values(std::size_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> large(5, 20);
  std::uniform_int_distribution<int> small(-20, -5);
  std::uniform_real_distribution<float> mantissa(1.0f, 2.0f);
  auto value = [&](int exponent) {
    const float v = std::ldexp(mantissa(rng), exponent) * (rng() % 2 ? 1.0f : -1.0f);
    std::uint32_t bits;
    std::memcpy(&bits, &v, 4);
    bits &= 0xffff0000u;  // a bfloat16's value
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  };
  std::vector<float> v;
  while (v.size() + 2 <= n) {
    if (rng() % 2) {
      v.push_back(value(large(rng)));
      v.push_back(-v.back());
    } else {
      v.push_back(value(small(rng)));
    }
  }
  while (v.size() < n) v.push_back(value(small(rng)));
  std::shuffle(v.begin(), v.end(), rng);
  return v;
}

// A bfloat16 sum is the float32 sum of the floats its elements are, in float32's order, rounded
// once at the end; only the loads differ (bfloat16 blocks are held in lanes paired by parity:
// reduce_kernels.cc). On values whose sums depend on their order (above), an element in the wrong
// lane, or lanes folded in another order, moves the result by more than the final rounding
// hides. Over one dim (runs read in place, chunks, the pairwise tree) and along rows (the row
// kernels), at every length the blocks tell apart.
TEST_P(ReduceTensorTargetTest, BFloat16SumsAreTheFloat32SumsOfTheirValues) {
  hwy::SetSupportedTargetsForTest(GetParam());
  std::mt19937 rng(29);
  int differing_orders = 0;  // results that a wrong order would have changed (checked below)
  for (std::int64_t n : {1,    2,    15,   16,    17,    31,    33,    127,   128,  129,  130,
                         255,  256,  257,  300,   1000,  2047,  2048,  2049,  2050, 4095, 5000,
                         8191, 8193, 9999, 32767, 32768, 32769, 40000, 65536, 70001}) {
    const std::int64_t rows = n > 4096 ? 1 : 3;
    std::vector<float> floats;
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::vector<float> row = order_sensitive_bf16_values(static_cast<std::size_t>(n), rng);
      floats.insert(floats.end(), row.begin(), row.end());
    }
    std::vector<std::uint16_t> halves(floats.size());
    for (std::size_t i = 0; i < floats.size(); ++i) {
      std::uint32_t bits;
      std::memcpy(&bits, &floats[i], 4);
      halves[i] = static_cast<std::uint16_t>(bits >> 16);
    }
    for (const bool along_rows : {false, true}) {
      SCOPED_TRACE("n " + std::to_string(n) + (along_rows ? " along rows" : " over one dim"));
      const std::int64_t flat[] = {rows * n};
      const std::int64_t matrix[] = {rows, n};
      const absl::Span<const std::int64_t> shape = along_rows
                                                       ? absl::Span<const std::int64_t>(matrix)
                                                       : absl::Span<const std::int64_t>(flat);
      ReduceOptions options;
      const std::int64_t axis1[] = {1};
      if (along_rows) {
        options.all_axes = false;
        options.axes = axis1;
      }
      absl::StatusOr<Tensor> half_sums =
          reduce(Reduction::kSum, TensorView(halves.data(), DType::kBFloat16, shape), options,
                 std::pmr::new_delete_resource());
      absl::StatusOr<Tensor> float_sums =
          reduce(Reduction::kSum, TensorView(floats.data(), DType::kFloat32, shape), options,
                 std::pmr::new_delete_resource());
      ASSERT_TRUE(half_sums.ok() && float_sums.ok());
      ASSERT_EQ(half_sums->size(), float_sums->size());
      const auto* got = static_cast<const std::uint16_t*>(half_sums->data());
      const auto* want = static_cast<const float*>(float_sums->data());
      for (std::size_t r = 0; r < float_sums->size(); ++r) {
        EXPECT_EQ(got[r], bf16_nearest(want[r])) << "result " << r << " of " << want[r];
        // The same values summed in plain order, as a wrong lane or fold order would: the test
        // can only tell orders apart where this differs after rounding.
        const float* row = floats.data() + (along_rows ? r * static_cast<std::size_t>(n) : 0);
        const std::size_t count = static_cast<std::size_t>(along_rows ? n : rows * n);
        float plain = -0.0f;
        for (std::size_t i = 0; i < count; ++i) plain += row[i];
        differing_orders += bf16_nearest(plain) != bf16_nearest(want[r]);
      }
    }
  }
  EXPECT_GT(differing_orders, 20);  // the data tells orders apart
}

constexpr std::size_t kLine = 64;  // bytes in a cache line

// The first byte of `buffer` that starts a cache line.
char* first_line(std::vector<char>& buffer) {
  const auto at = reinterpret_cast<std::uintptr_t>(buffer.data());
  return buffer.data() + (kLine - at % kLine) % kLine;
}

// leaf(lo) + ... + leaf(hi - 1) by the pairwise tree's shape: the halves split at
// lo + (hi - lo + 1) / 2, the left taking the larger.
template <class T, class Leaf>
T tree_model(std::size_t lo, std::size_t hi, const Leaf& leaf) {
  if (hi - lo == 1) return leaf(lo);
  const std::size_t mid = lo + (hi - lo + 1) / 2;
  return tree_model<T>(lo, mid, leaf) + tree_model<T>(mid, hi, leaf);
}

// A column sum in the documented order: leaves of kLeafRows (16) rows added one after the other,
// the leaves combined by the pairwise tree.
template <class T>
T column_sum_model(const T* x, std::int64_t rows, std::int64_t stride) {
  auto leaf = [&](std::size_t b) {
    const auto lo = static_cast<std::int64_t>(b) * 16;
    T s = x[lo * stride];
    for (std::int64_t r = lo + 1; r < std::min(rows, lo + 16); ++r) s += x[r * stride];
    return s;
  };
  return tree_model<T>(0, static_cast<std::size_t>((rows + 15) / 16), leaf);
}

// ColumnTilesGiveTheDocumentedOrdersBits for T (float or double), the target already set.
template <class T>
void expect_column_tiles_in_the_documented_order(std::int64_t target) {
  constexpr auto kItem = static_cast<std::int64_t>(sizeof(T));
  const DType dtype = sizeof(T) == 4 ? DType::kFloat32 : DType::kFloat64;
  std::size_t differing_orders = 0;  // columns whose plain left-to-right sum is another value
  for (const std::int64_t width :
       {2,   5,   7,   8,   9,   15,  16,  17,  55,  56,  57,  63,   64,  65,
        100, 111, 112, 113, 127, 128, 129, 224, 225, 256, 257, 1000, 1024}) {
    for (const std::int64_t rows : {2, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 100, 113}) {
      const std::size_t n = static_cast<std::size_t>(rows * width);
      std::vector<T> x(n);
      std::memcpy(x.data(), Data(dtype, n, 13).bytes.data(), n * sizeof(T));
      std::vector<char> unaligned(n * sizeof(T) + 2);
      std::memcpy(unaligned.data() + 2, x.data(), n * sizeof(T));
      std::vector<char> buffer(n * sizeof(T) + 2 * kLine);
      char* const line16 = first_line(buffer) + 16;
      std::memcpy(line16, x.data(), n * sizeof(T));
      std::vector<T> expected(static_cast<std::size_t>(width));
      for (std::int64_t j = 0; j < width; ++j) {
        expected[static_cast<std::size_t>(j)] = column_sum_model(x.data() + j, rows, width);
        T plain = x[static_cast<std::size_t>(j)];
        for (std::int64_t r = 1; r < rows; ++r) plain += x[static_cast<std::size_t>(r * width + j)];
        differing_orders += plain != expected[static_cast<std::size_t>(j)];
      }
      struct View {
        std::string name;
        const void* data;
        std::vector<std::int64_t> shape, strides, axes;
      };
      const std::int64_t w = width * kItem;
      std::vector<View> views = {
          {"one reduced dim", x.data(), {rows, width}, {w, kItem}, {0}},
          {"unaligned", unaligned.data() + 2, {rows, width}, {w, kItem}, {0}},
          {"16 bytes into a line", line16, {rows, width}, {w, kItem}, {0}}};
      // The same rows in three groups with a row's gap after each: two reduced dims that do
      // not merge into one, whose rows are not a stride apart.
      std::vector<T> gapped;
      if (rows % 3 == 0) {
        views.push_back(
            {"two reduced dims", x.data(), {3, rows / 3, width}, {rows / 3 * w, w, kItem}, {0, 1}});
        const std::int64_t group = rows / 3;
        gapped.assign(static_cast<std::size_t>(3 * (group + 1) * width), T{0});
        for (std::int64_t g = 0; g < 3; ++g) {
          std::memcpy(gapped.data() + g * (group + 1) * width, x.data() + g * group * width,
                      static_cast<std::size_t>(group * w));
        }
        views.push_back({"two reduced dims apart", gapped.data(), {3, group, width},
                         {(group + 1) * w, w, kItem}, {0, 1}});
      }
      for (const View& v : views) {
        SCOPED_TRACE(std::string(dtype_name(dtype)) + " " + v.name + " width " +
                     std::to_string(width) + " rows " + std::to_string(rows));
        const TensorView view(v.data, dtype, v.shape, v.strides);
        ReduceOptions options;
        options.all_axes = false;
        options.axes = v.axes;
        absl::StatusOr<Tensor> sum =
            reduce(Reduction::kSum, view, options, std::pmr::new_delete_resource());
        ASSERT_TRUE(sum.ok()) << sum.status();
        // Compared as bytes: the same bits, not only equal values.
        EXPECT_EQ(
            bytes_of(*sum),
            std::vector<char>(reinterpret_cast<const char*>(expected.data()),
                              reinterpret_cast<const char*>(expected.data() + expected.size())));
        expect_mean_as_on_the_first_target(view, options, target);
      }
    }
  }
  EXPECT_GT(differing_orders, std::size_t{1000});  // the data tells orders apart
}

// Float32 and float64 column sums keep a leaf's sums in registers on AVX-512 (two or four
// sibling leaves side by side), a strip of up to 8 vectors (7 for four leaves: 128 and 112
// float32 columns, 64 and 56 float64) at a time, the last vector of a strip masked where the
// strip ends inside it (whole vectors take plain loads); wider tiles take several strips, the
// first one short where the rows start inside a line (line_head()); rows a multiple of 4 KiB
// apart (width 1024) and other targets take column_tree's loops. Every width around the
// vectors' and the strips' edges, every row count around the leaves', the pairs' and the fours'
// edges, one reduced dim and two (rows a stride apart and not), aligned and not, at the start of
// a line and 16 bytes into one, give the documented order's bits on every target, and the means
// the same bits as on the first target.
TEST_P(ReduceTensorTargetTest, ColumnTilesGiveTheDocumentedOrdersBits) {
  hwy::SetSupportedTargetsForTest(GetParam());
  expect_column_tiles_in_the_documented_order<float>(GetParam());
  expect_column_tiles_in_the_documented_order<double>(GetParam());
}

// A column tile's vector loop may start at the first row's first column on a 64-byte line, the
// columns before it apart (line_head() in tensor_kernels.cc): a row that starts k elements into
// a line splits its columns at a different place for every k. Every such start, for every
// dtype, rows of whole lines (a head at every start but 0), rows of half lines (a head where no
// row starts on a line) and rows of neither (never a head) give the bits of the same elements
// at the start of a line; the float32 sums are the documented order's.
TEST_P(ReduceTensorTargetTest, ColumnsGiveTheSameBitsWhereverTheRowsStartInALine) {
  hwy::SetSupportedTargetsForTest(GetParam());
  const std::int64_t axis0[] = {0};
  ReduceOptions down;
  down.all_axes = false;
  down.axes = axis0;
  down.ddof = 1;
  for (DType dtype : kEveryDType) {
    const std::size_t item = dtype_size(dtype);
    for (const std::int64_t width :
         {static_cast<std::int64_t>(4 * kLine / item), std::int64_t{333}, std::int64_t{1000}}) {
      const std::int64_t rows = 37;
      const std::size_t bytes = static_cast<std::size_t>(rows * width) * item;
      const Data data(dtype, static_cast<std::size_t>(rows * width), 17);
      // Room for a start anywhere in the first line after a line boundary.
      std::vector<char> buffer(bytes + 2 * kLine);
      char* const line = first_line(buffer);
      const std::int64_t shape[] = {rows, width};
      for (Reduction r : kEveryReduction) {
        SCOPED_TRACE(std::string(dtype_name(dtype)) + " width " + std::to_string(width) + " " +
                     std::string(reduction_name(r)));
        std::vector<char> at_line_start;
        for (std::size_t start = 0; start < kLine; start += item) {
          SCOPED_TRACE("start " + std::to_string(start));
          std::memcpy(line + start, data.bytes.data(), bytes);
          absl::StatusOr<Tensor> t = reduce(r, TensorView(line + start, dtype, shape), down,
                                            std::pmr::new_delete_resource());
          ASSERT_TRUE(t.ok()) << t.status();
          if (start == 0) {
            at_line_start = bytes_of(*t);
          } else {
            ASSERT_EQ(bytes_of(*t), at_line_start);
          }
          if (dtype == DType::kFloat32 && r == Reduction::kSum) {
            const auto* x = reinterpret_cast<const float*>(data.bytes.data());
            for (std::int64_t j = 0; j < width; ++j) {
              const float expected = column_sum_model(x + j, rows, width);
              float got;
              std::memcpy(&got, static_cast<const char*>(t->data()) + j * 4, 4);
              ASSERT_EQ(std::memcmp(&got, &expected, 4), 0) << "column " << j;
            }
          }
        }
      }
    }
  }
}

// The documented order of a packed float32 sum (ops/internal/tensor_kernels.h): the runs under
// one result, `length` elements each, in C order. A leaf is `per_leaf` runs summed into 128 lanes
// from -0.0, run r of the leaf from lane (r % side) * (length rounded up to 16) on, element k into
// lane k % 128 of its row; the lanes fold by halving; the leaves combine as pairwise_tree.
template <class T>
T packed_sum_model(const std::vector<const T*>& runs, std::size_t length) {
  const std::size_t row = (length + 15) / 16 * 16;
  const std::size_t side = length <= 128 ? 128 / row : 1;
  const std::size_t per_leaf = side * (16 / ((length + 127) / 128));
  auto leaf = [&](std::size_t b) {
    T lanes[128];
    std::fill(lanes, lanes + 128, T(-0.0));
    for (std::size_t r = b * per_leaf; r < std::min(runs.size(), (b + 1) * per_leaf); ++r) {
      T* at = lanes + (side == 1 ? 0 : (r - b * per_leaf) % side * row);
      for (std::size_t k = 0; k < length; ++k) at[k % 128] += runs[r][k];
    }
    for (std::size_t half = 64; half != 0; half /= 2) {
      for (std::size_t j = 0; j < half; ++j) lanes[j] += lanes[j + half];
    }
    return lanes[0];
  };
  return tree_model<T>(0, (runs.size() + per_leaf - 1) / per_leaf, leaf);
}

// A view of `outer` x `kept` x `length` elements (float32 or float64) over axes (0, 2): each
// result's runs of `length` elements (`step` apart) one after another `kept` runs apart;
// `reversed`: the kept dim runs backwards from `data`, result j being the (kept - 1 - j)th in
// memory.
struct PackedView {
  std::string name;
  const void* data;
  std::int64_t step;
  bool reversed;
};

// The view's sums have the documented order's bits (packed_sum_model; `x` is where the view's
// elements start, in memory order), its means the first target's, and its sums split over 2
// and 3 threads the serial bits.
template <class T>
void expect_packed_order(const PackedView& v, const T* x, std::size_t outer, std::size_t kept,
                         std::size_t length, std::uint32_t target) {
  SCOPED_TRACE(v.name + " length " + std::to_string(length) + " outer " + std::to_string(outer));
  constexpr std::int64_t kSize = sizeof(T);
  const DType dtype = sizeof(T) == 4 ? DType::kFloat32 : DType::kFloat64;
  const auto len = static_cast<std::int64_t>(length);
  const std::int64_t shape[] = {static_cast<std::int64_t>(outer), static_cast<std::int64_t>(kept),
                                len};
  const std::int64_t strides[] = {static_cast<std::int64_t>(kept) * len * v.step * kSize,
                                  (v.reversed ? -1 : 1) * len * v.step * kSize, v.step * kSize};
  const TensorView view(v.data, dtype, shape, strides);
  ReduceOptions options;
  options.all_axes = false;
  const std::int64_t axes[] = {0, 2};
  options.axes = axes;
  absl::StatusOr<Tensor> sum =
      reduce(Reduction::kSum, view, options, std::pmr::new_delete_resource());
  ASSERT_TRUE(sum.ok()) << sum.status();
  std::vector<T> gathered(outer * length);
  for (std::size_t j = 0; j < kept; ++j) {
    const std::size_t in_memory = v.reversed ? kept - 1 - j : j;
    std::vector<const T*> runs(outer);
    for (std::size_t i = 0; i < outer; ++i) {
      T* to = gathered.data() + i * length;
      for (std::size_t k = 0; k < length; ++k) {
        to[k] = x[((i * kept + in_memory) * length + k) * static_cast<std::size_t>(v.step)];
      }
      runs[i] = to;
    }
    const T expected = packed_sum_model(runs, length);
    T got;
    std::memcpy(&got, static_cast<const char*>(sum->data()) + j * sizeof(T), sizeof(T));
    ASSERT_EQ(std::memcmp(&got, &expected, sizeof(T)), 0)
        << "result " << j << ": " << got << " against " << expected;
  }
  expect_mean_as_on_the_first_target(view, options, target);
  // Split over threads (the larger cases share out their tiles of results): the same bits.
  ParallelOptions split;
  split.min_parallel_bytes = 0;
  for (int threads : {2, 3}) {
    tbb::task_arena arena(threads);
    absl::StatusOr<Tensor> parallel;
    arena.execute([&] {
      parallel =
          reduce(Reduction::kSum, view, options, std::pmr::new_delete_resource(), nullptr, split);
    });
    ASSERT_TRUE(parallel.ok()) << parallel.status();
    EXPECT_EQ(bytes_of(*parallel), bytes_of(*sum)) << threads << " threads";
  }
}

// Several runs shorter than 1024 elements under each result are packed into leaves of whole runs
// (on AVX-512, aligned contiguous float32 runs keep the leaf's lanes in registers, 1 to 8 vectors
// a run, several short runs side by side, or, lying end to end, in flat tiles: runs of at most 8
// elements and of 33 to 128; elsewhere a loop over the lanes in memory). Every run length around
// the vectors' and the rows' edges, leaves that end inside a group of side-by-side runs,
// contiguous, unaligned and strided runs give the documented order's bits on every target, and
// means the same bits as on the first target.
TEST_P(ReduceTensorTargetTest, PackedRunsGiveTheDocumentedOrdersBits) {
  auto check = [&](std::size_t outer, std::size_t kept, std::size_t length) {
    const std::size_t n = outer * kept * length;
    // Room for every view below: twice the elements (the strided one), 2 bytes ahead.
    const Data data(DType::kFloat32, 2 * n + 1, 23);
    std::vector<char> unaligned(data.bytes.size() + 2);
    std::memcpy(unaligned.data() + 2, data.bytes.data(), data.bytes.size());
    const auto* x = reinterpret_cast<const float*>(data.bytes.data());
    for (const PackedView& v : {PackedView{"contiguous", x, 1, false},
                                PackedView{"unaligned", unaligned.data() + 2, 1, false},
                                PackedView{"strided", x, 2, false},
                                PackedView{"kept reversed", x + (kept - 1) * length, 1, true}}) {
      expect_packed_order(v, x, outer, kept, length, GetParam());
    }
  };
  for (const std::size_t length :
       {2,  3,  5,  8,   9,   15,  16,  17,  20,  31,  32,  33,   48,  49,
        63, 64, 65, 100, 127, 128, 129, 200, 256, 257, 640, 1000, 1023}) {
    const std::vector<std::size_t> outers = length <= 128
                                                ? std::vector<std::size_t>{2, 7, 17, 130, 300}
                                                : std::vector<std::size_t>{2, 7, 40};
    for (const std::size_t outer : outers) {
      // 19 results: an AVX-512 tile of 16 neighbours (8 for runs of two vectors) and the rest,
      // or one flat tile for runs of at most 8 (eight of them side by side, read four rows of a
      // class a pass: 7 and 17 runs make no whole pass, a last leaf of 44 runs (300) one and
      // twelve rows alone); runs of 64 to 128 lie end to end in
      // flat tiles of 32 to 64 results (kFlatTileBytes of lanes), so 40 results make one or two
      // tiles.
      check(outer, length >= 64 && length <= 128 ? 40 : 19, length);
    }
  }
  // 130 results: four to six flat tiles, more than one a thread for two and three threads; for
  // runs of one vector, three units of three register tiles (15, 15 and 14 results, the last
  // unit 14 each), and of two vectors, five units of tiles of 7, 7, 7 and 5 (kPackedGroup tiles
  // a unit at most).
  for (const std::size_t length : {5, 16, 17, 32, 64, 100, 128}) check(17, 130, length);
}

// Float64 runs keep the same documented order (on AVX-512, runs of up to 128 elements that lie
// end to end are summed in flat tiles: eight short runs side by side up to 16 elements, four up
// to 32, whose classes fold elementwise), with full 53-bit values so that another order shows in
// the bits: forwards, backwards, strided, and split over threads.
TEST_P(ReduceTensorTargetTest, PackedFloat64RunsGiveTheDocumentedOrdersBits) {
  std::mt19937_64 rng(29);
  std::normal_distribution<double> normal(0.0, 3.0);
  auto check = [&](std::size_t outer, std::size_t kept, std::size_t length) {
    std::vector<double> x(2 * outer * kept * length);
    for (double& v : x) v = normal(rng);
    for (const PackedView& v :
         {PackedView{"contiguous", x.data(), 1, false}, PackedView{"strided", x.data(), 2, false},
          PackedView{"kept reversed", x.data() + (kept - 1) * length, 1, true}}) {
      expect_packed_order(v, x.data(), outer, kept, length, GetParam());
    }
  };
  for (const std::size_t length :
       {2, 5, 8, 9, 15, 16, 17, 24, 31, 32, 33, 40, 63, 64, 65, 100, 127, 128, 129}) {
    // 40 results: one or two flat tiles of up to 64 results. 40 runs: whole passes of a class's
    // rows (four of them) and rows alone after them.
    for (const std::size_t outer : {2, 17, 40, 130}) check(outer, 40, length);
  }
  // 130 results: two to ten flat tiles, more than one a thread for two and three threads.
  for (const std::size_t length : {5, 17, 40, 100, 128}) check(17, 130, length);
}

// The documented float64 order of one run: blocks of 2048 elements by the pairwise tree, each
// block's elements into 128 lanes (element i into lane i % 128, from -0.0), the lanes halved.
double f64_run_model(const double* x, std::size_t n) {
  auto block = [&](std::size_t b) {
    double lanes[128];
    std::fill(lanes, lanes + 128, -0.0);
    for (std::size_t i = b * 2048; i < std::min(n, (b + 1) * 2048); ++i) lanes[i % 128] += x[i];
    for (std::size_t half = 64; half != 0; half /= 2) {
      for (std::size_t j = 0; j < half; ++j) lanes[j] += lanes[j + half];
    }
    return lanes[0];
  };
  return tree_model<double>(0, (n + 2047) / 2048, block);
}

// Float64 sums, means and variances along rows, and int32 means (summed as float64), have the
// documented order's bits (f64_run_model) at every row length the blocks' vectors tell apart:
// rows back to back and alone, read in place and converted (strided, unaligned), on every
// target; a row of n <= 128 folds only the vectors it fills, which must change no bit.
TEST_P(ReduceTensorTargetTest, Float64RowsGiveTheDocumentedOrdersBits) {
  hwy::SetSupportedTargetsForTest(GetParam());
  std::mt19937_64 rng(31);
  std::normal_distribution<double> normal(0.0, 3.0);
  std::uniform_int_distribution<std::int32_t> ints(std::numeric_limits<std::int32_t>::min(),
                                                   std::numeric_limits<std::int32_t>::max());
  const std::int64_t axis1[] = {1};
  ReduceOptions along_rows;
  along_rows.all_axes = false;
  along_rows.axes = axis1;
  for (std::int64_t cols : {1,   2,   3,   4,    5,    7,    8,    9,    15,   16,  17,  24,
                            31,  32,  33,  63,   64,   65,   100,  127,  128,  129, 200, 255,
                            256, 257, 640, 1000, 2047, 2048, 2049, 4096, 4097, 6000}) {
    const std::int64_t rows = cols > 2048 ? 2 : 5;
    const auto n = static_cast<std::size_t>(rows * cols);
    // Twice the elements (the strided view), 4 bytes ahead (the unaligned one).
    std::vector<double> x(2 * n);
    for (double& v : x) v = normal(rng);
    std::vector<char> unaligned(2 * n * 8 + 4);
    std::memcpy(unaligned.data() + 4, x.data(), 2 * n * 8);
    std::vector<std::int32_t> xi(n);
    for (std::int32_t& v : xi) v = ints(rng);
    struct View {
      std::string name;
      TensorView view;
      std::int64_t step;  // elements of x between neighbours in a row
    };
    const std::int64_t shape[] = {rows, cols};
    const std::int64_t contiguous[] = {cols * 8, 8};
    const std::int64_t strided[] = {2 * cols * 8, 16};
    const std::int64_t int_strides[] = {cols * 4, 4};
    for (const View& v :
         {View{"contiguous", TensorView(x.data(), DType::kFloat64, shape, contiguous), 1},
          View{"strided", TensorView(x.data(), DType::kFloat64, shape, strided), 2},
          View{"unaligned", TensorView(unaligned.data() + 4, DType::kFloat64, shape, contiguous),
               1}}) {
      SCOPED_TRACE(v.name + " cols " + std::to_string(cols));
      for (Reduction r : {Reduction::kSum, Reduction::kMean, Reduction::kVar}) {
        absl::StatusOr<Tensor> got = reduce(r, v.view, along_rows, std::pmr::new_delete_resource());
        ASSERT_TRUE(got.ok()) << got.status();
        for (std::int64_t i = 0; i < rows; ++i) {
          std::vector<double> row(static_cast<std::size_t>(cols));
          for (std::int64_t k = 0; k < cols; ++k) {
            row[static_cast<std::size_t>(k)] = x[static_cast<std::size_t>((i * cols + k) * v.step)];
          }
          const double sum = f64_run_model(row.data(), row.size());
          double expected = sum;
          if (r != Reduction::kSum) expected = sum / static_cast<double>(cols);
          if (r == Reduction::kVar) {
            for (double& e : row) e = (e - expected) * (e - expected);
            expected = f64_run_model(row.data(), row.size()) / static_cast<double>(cols);
          }
          double result;
          std::memcpy(&result, static_cast<const char*>(got->data()) + i * 8, 8);
          ASSERT_EQ(std::memcmp(&result, &expected, 8), 0)
              << reduction_name(r) << " row " << i << ": " << result << " against " << expected;
        }
      }
    }
    absl::StatusOr<Tensor> mean =
        reduce(Reduction::kMean, TensorView(xi.data(), DType::kInt32, shape, int_strides),
               along_rows, std::pmr::new_delete_resource());
    ASSERT_TRUE(mean.ok()) << mean.status();
    for (std::int64_t i = 0; i < rows; ++i) {
      const std::vector<double> row(xi.begin() + i * cols, xi.begin() + (i + 1) * cols);
      const double expected = f64_run_model(row.data(), row.size()) / static_cast<double>(cols);
      EXPECT_EQ(mean->values<double>()[static_cast<std::size_t>(i)], expected)
          << "int32 mean, cols " << cols << " row " << i;
    }
  }
}

// min, max, argmin and argmax by their scalar rules, over `runs` runs of `n` elements each
// (element k of run r at x[r * n + k], C order): the first extreme wins (-0.0 and +0.0 are
// equal), and the first NaN decides. Returns the extreme's bits and its index.
template <class T>
std::pair<T, std::int64_t> extreme_model(const T* x, std::size_t runs, std::size_t n, bool is_min) {
  T best = x[0];
  std::int64_t index = 0;
  for (std::size_t i = 0; i < runs * n; ++i) {
    const T v = x[i];
    if (best != best) break;
    if (v != v || (is_min ? v < best : best < v)) {
      best = v;
      index = static_cast<std::int64_t>(i);
    }
  }
  return {best, index};
}

// Contiguous runs of float32, float64, int32 and int64 take vector loops for min, max, argmin and
// argmax (extrema-inl.h): each lane's extreme, an overlapping last vector, the extreme's first
// zero or first NaN looked up again. They keep the scalar rules (extreme_model) on every target,
// at every run length around the vectors' (a result of one run, and of two runs, reduced over
// (0, 2)), on data full of ties, zeros of both signs, infinities and NaNs of distinct payloads.
TEST_P(ReduceTensorTargetTest, ExtremesOfContiguousRunsKeepTheScalarRules) {
  hwy::SetSupportedTargetsForTest(GetParam());
  std::mt19937 rng(37);
  auto check = [&](auto zero, DType dtype) {
    using T = decltype(zero);
    constexpr bool kFloat = std::is_floating_point_v<T>;
    for (std::size_t n = 1; n <= 300; n += n < 70 ? 1 : 61) {
      for (int pattern = 0; pattern < 4; ++pattern) {
        // Runs of n: results of one run (shape (3, n) over axis 1) and of two ((2, 3, n) over
        // (0, 2): result j's runs are j and j + 3).
        std::vector<T> x(6 * n);
        for (std::size_t i = 0; i < x.size(); ++i) {
          const int r = static_cast<int>(rng() % 16);
          T v = static_cast<T>(static_cast<int>(rng() % 5) - 2);  // ties galore
          if constexpr (kFloat) {
            if (r == 0) v = T(-0.0);
            if (r == 1) v = T(0.0);
            if (r == 2 && pattern >= 2)
              v = std::numeric_limits<T>::infinity() * (rng() % 2 ? 1 : -1);
            if (r == 3 && pattern == 3) {  // a NaN whose payload tells which element it is
              v = std::numeric_limits<T>::quiet_NaN();
              std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t> bits;
              std::memcpy(&bits, &v, sizeof(T));
              bits |= static_cast<decltype(bits)>(i + 1);
              std::memcpy(&v, &bits, sizeof(T));
            }
          } else {
            if (r == 0) v = std::numeric_limits<T>::min();
            if (r == 1) v = std::numeric_limits<T>::max();
          }
          if (pattern == 1) v = static_cast<T>(i % 7 == 3 ? 1 : 0) * (i % 2 ? T(-1) : T(1));
          x[i] = v;
        }
        const auto len = static_cast<std::int64_t>(n);
        const auto item = static_cast<std::int64_t>(sizeof(T));
        const std::int64_t one_shape[] = {3, len};
        const std::int64_t two_shape[] = {2, 3, len};
        const std::int64_t pair_shape[] = {2, len};
        const std::int64_t pair_strides[] = {3 * len * item, item};
        const std::int64_t axis1[] = {1};
        const std::int64_t axes02[] = {0, 2};
        for (Reduction r :
             {Reduction::kMin, Reduction::kMax, Reduction::kArgmin, Reduction::kArgmax}) {
          const bool arg = r == Reduction::kArgmin || r == Reduction::kArgmax;
          const bool is_min = r == Reduction::kMin || r == Reduction::kArgmin;
          for (const bool two : {false, true}) {
            SCOPED_TRACE(std::string(dtype_name(dtype)) + " n " + std::to_string(n) + " pattern " +
                         std::to_string(pattern) + (two ? " two runs " : " ") +
                         std::string(reduction_name(r)));
            // Result j of runs j (and j + 3): min and max over axis 1 (over (0, 2)); argmin and
            // argmax, which take one axis or all, over axis 1 (over all of run j and j + 3).
            ReduceOptions options;
            options.all_axes = two && arg;
            options.axes = two ? absl::Span<const std::int64_t>(axes02) : axis1;
            std::vector<std::vector<char>> results;
            if (two && arg) {
              for (std::size_t j = 0; j < 3; ++j) {
                absl::StatusOr<Tensor> got =
                    reduce(r, TensorView(x.data() + j * n, dtype, pair_shape, pair_strides),
                           options, std::pmr::new_delete_resource());
                ASSERT_TRUE(got.ok()) << got.status();
                results.push_back(bytes_of(*got));
              }
            } else {
              absl::StatusOr<Tensor> got = reduce(r,
                                                  two ? TensorView(x.data(), dtype, two_shape, {})
                                                      : TensorView(x.data(), dtype, one_shape, {}),
                                                  options, std::pmr::new_delete_resource());
              ASSERT_TRUE(got.ok()) << got.status();
              const std::vector<char> all = bytes_of(*got);
              const std::size_t size = all.size() / 3;
              for (std::size_t j = 0; j < 3; ++j) {
                results.emplace_back(all.begin() + j * size, all.begin() + (j + 1) * size);
              }
            }
            for (std::size_t j = 0; j < 3; ++j) {
              std::vector<T> runs(x.begin() + j * n, x.begin() + (j + 1) * n);
              if (two) runs.insert(runs.end(), x.begin() + (j + 3) * n, x.begin() + (j + 4) * n);
              const auto [value, index] = extreme_model(runs.data(), two ? 2 : 1, n, is_min);
              if (arg) {
                std::int64_t got;
                ASSERT_EQ(results[j].size(), sizeof(got));
                std::memcpy(&got, results[j].data(), sizeof(got));
                ASSERT_EQ(got, index) << "result " << j;
              } else {
                T got;
                ASSERT_EQ(results[j].size(), sizeof(T));
                std::memcpy(&got, results[j].data(), sizeof(T));
                ASSERT_EQ(std::memcmp(&got, &value, sizeof(T)), 0)
                    << "result " << j << ": " << got << " against " << value;
              }
            }
          }
        }
      }
    }
  };
  check(float{}, DType::kFloat32);
  check(double{}, DType::kFloat64);
  check(std::int32_t{}, DType::kInt32);
  check(std::int64_t{}, DType::kInt64);
}

// all, any and count_nonzero of contiguous runs take vector loops over the elements' bits
// (truth-inl.h): every dtype's false and true values (-0.0 false, NaN and subnormals true,
// INT_MIN true, any nonzero byte of a bool true) give the scalar answers on every target, at
// every run length around the vectors' and their groups of four (a bool vector is 64 bytes on
// AVX-512), with the deciding element anywhere; results of one run and of two.
TEST_P(ReduceTensorTargetTest, TruthOfContiguousRunsKeepsTheScalarRules) {
  hwy::SetSupportedTargetsForTest(GetParam());
  std::mt19937 rng(41);
  struct Values {
    DType dtype;
    std::vector<std::uint64_t> falses, trues;  // bit patterns of one element
  };
  const Values every[] = {
      {DType::kFloat32, {0, 0x80000000}, {0x3f800000, 0x7fc00000, 1, 0x80000001}},
      {DType::kFloat64,
       {0, 0x8000000000000000},
       {0x3ff0000000000000, 0x7ff8000000000000, 1, 0x8000000000000001}},
      {DType::kInt32, {0}, {1, 0xffffffff, 0x80000000, 0x10000}},
      {DType::kInt64, {0}, {1, 0x8000000000000000, 0x100000000}},
      {DType::kBool, {0}, {1, 2, 0x80, 0xff}},
      {DType::kFloat16, {0, 0x8000}, {0x3c00, 0x7e00, 1, 0x8001}},
      {DType::kBFloat16, {0, 0x8000}, {0x3f80, 0x7fc0, 1, 0x8001}}};
  for (const Values& v : every) {
    const std::size_t item = dtype_size(v.dtype);
    for (std::size_t n = 1; n <= 600; n += n < 140 ? 1 : 67) {
      for (int pattern = 0; pattern < 3; ++pattern) {
        // Pattern 0: true but maybe one false; 1: false but maybe one true; 2: a mix.
        std::vector<bool> truth(6 * n);
        for (std::size_t i = 0; i < truth.size(); ++i) {
          truth[i] = pattern == 0 ? true : pattern == 1 ? false : rng() % 2 == 0;
        }
        if (pattern < 2) {
          for (std::size_t r = 0; r < 6; ++r) {
            if (rng() % 3 != 0) truth[r * n + rng() % n] = pattern == 1;
          }
        }
        std::vector<char> x(truth.size() * item);
        for (std::size_t i = 0; i < truth.size(); ++i) {
          const auto& pool = truth[i] ? v.trues : v.falses;
          const std::uint64_t bits = pool[rng() % pool.size()];
          std::memcpy(x.data() + i * item, &bits, item);  // little-endian: the low bytes
        }
        const auto len = static_cast<std::int64_t>(n);
        const std::int64_t one_shape[] = {3, len};
        const std::int64_t two_shape[] = {2, 3, len};
        const std::int64_t axis1[] = {1};
        const std::int64_t axes02[] = {0, 2};
        for (const bool two : {false, true}) {
          ReduceOptions options;
          options.all_axes = false;
          options.axes = two ? absl::Span<const std::int64_t>(axes02) : axis1;
          const TensorView view = two ? TensorView(x.data(), v.dtype, two_shape, {})
                                      : TensorView(x.data(), v.dtype, one_shape, {});
          for (Reduction r : {Reduction::kAll, Reduction::kAny, Reduction::kCountNonzero}) {
            SCOPED_TRACE(std::string(dtype_name(v.dtype)) + " n " + std::to_string(n) +
                         " pattern " + std::to_string(pattern) + (two ? " two runs " : " ") +
                         std::string(reduction_name(r)));
            absl::StatusOr<Tensor> got = reduce(r, view, options, std::pmr::new_delete_resource());
            ASSERT_TRUE(got.ok()) << got.status();
            for (std::size_t j = 0; j < 3; ++j) {
              std::int64_t count = 0;
              for (std::size_t k = 0; k < n; ++k) {
                count += truth[j * n + k];
                if (two) count += truth[(j + 3) * n + k];
              }
              const std::int64_t all = two ? 2 * len : len;
              if (r == Reduction::kCountNonzero) {
                EXPECT_EQ(got->values<std::int64_t>()[j], count) << "result " << j;
              } else {
                const bool want = r == Reduction::kAll ? count == all : count > 0;
                EXPECT_EQ(static_cast<const char*>(got->data())[j], want ? 1 : 0) << "result " << j;
              }
            }
          }
        }
      }
    }
  }
}

// Integer sums over one reduced dim of memory and one broadcast (stride 0, which the plan folds
// into a count of copies), under kept dims with a reversed stride, on one thread and split (the
// split ranges start mid-line): each result is its run's total times the copies, exactly.
TEST(ReduceTensorTest, IntegerSumsCountBroadcastReducedDims) {
  ParallelOptions split;
  split.min_parallel_bytes = 0;
  for (DType dtype : {DType::kInt32, DType::kInt64, DType::kBool}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Data data(dtype, 3 * 5 * 7, 9);
    const auto item = static_cast<std::int64_t>(dtype_size(dtype));
    const auto element = [&](std::int64_t k) -> std::int64_t {
      const char* at = data.bytes.data() + k * item;
      if (dtype == DType::kBool) return *at != 0 ? 1 : 0;
      if (dtype == DType::kInt32) {
        std::int32_t v;
        std::memcpy(&v, at, sizeof v);
        return v;
      }
      std::int64_t v;
      std::memcpy(&v, at, sizeof v);
      return v;
    };
    // (3, 4, 5, 7): axis 0 reversed, axis 1 broadcast; reduced over (1, 3).
    const std::int64_t shape[] = {3, 4, 5, 7};
    const std::int64_t strides[] = {-35 * item, 0, 7 * item, item};
    const TensorView view(data.bytes.data() + 70 * item, dtype, shape, strides);
    ReduceOptions options;
    options.all_axes = false;
    const std::int64_t axes[] = {1, 3};
    options.axes = axes;
    std::vector<std::int64_t> want;
    for (std::int64_t i = 0; i < 3; ++i) {
      for (std::int64_t j = 0; j < 5; ++j) {
        std::int64_t run = 0;
        for (std::int64_t k = 0; k < 7; ++k) run += element((2 - i) * 35 + j * 7 + k);
        want.push_back(4 * run);
      }
    }
    for (int threads : {1, 2, 3}) {
      SCOPED_TRACE(threads);
      tbb::task_arena arena(threads);
      absl::StatusOr<Tensor> sum;
      arena.execute([&] {
        sum =
            reduce(Reduction::kSum, view, options, std::pmr::new_delete_resource(), nullptr, split);
      });
      ASSERT_TRUE(sum.ok()) << sum.status();
      EXPECT_THAT(sum->values<std::int64_t>(), ElementsAreArray(want));
    }
  }
}

TEST(ReduceTensorTest, ResultsAreTheSameBitsAtEveryThreadCount) {
  ParallelOptions serial;
  serial.min_parallel_bytes = std::numeric_limits<std::size_t>::max();
  ParallelOptions split;
  split.min_parallel_bytes = 0;
  for (DType dtype : kEveryDType) {
    SCOPED_TRACE(dtype_name(dtype));
    const std::vector<std::vector<char>> expected = results(dtype, serial);
    // 2, 4 and 8 threads split one, two and three levels of a column tile's tree over its rows.
    for (int threads : {1, 2, 4, 8}) {
      SCOPED_TRACE(threads);
      tbb::task_arena arena(threads);
      std::vector<std::vector<char>> got;
      arena.execute([&] { got = results(dtype, split); });
      EXPECT_EQ(got, expected);
    }
  }
}

// A line of column results of too few tiles to give each thread two is cut into one tile a
// thread when each row's piece stays long (ops/internal/tensor_kernels.h, kColumnSplitBytes);
// otherwise its rows are split over the threads. Either way a column adds its rows in the same
// order: the same bits as on one thread. float32 (24, 8192) is cut at 2, 3 and 4 threads (tiles
// of 4096, 2736 and 2064, the last one shorter), (24, 8200) at 3 and 4, (40, 4096) and int32's
// at 2; float64 (40, 2048) and int64's at 2; the other counts split rows.
TEST(ReduceTensorTest, WideColumnsCutIntoATileAThreadGiveTheSameBits) {
  ParallelOptions serial;
  serial.min_parallel_bytes = std::numeric_limits<std::size_t>::max();
  ParallelOptions split;
  split.min_parallel_bytes = 0;
  struct Wide {
    DType dtype;
    std::int64_t rows, cols;
  };
  for (const Wide c : {Wide{DType::kFloat32, 24, 8192}, Wide{DType::kFloat32, 24, 8200},
                       Wide{DType::kFloat32, 40, 4096}, Wide{DType::kFloat64, 40, 2048},
                       Wide{DType::kInt32, 40, 4096}, Wide{DType::kInt64, 40, 2048}}) {
    SCOPED_TRACE(std::string(dtype_name(c.dtype)) + " (" + std::to_string(c.rows) + ", " +
                 std::to_string(c.cols) + ")");
    const Data data(c.dtype, static_cast<std::size_t>(c.rows * c.cols), 11);
    const std::int64_t shape[] = {c.rows, c.cols};
    const TensorView view(data.bytes.data(), c.dtype, shape);
    ReduceOptions options;
    options.all_axes = false;
    const std::int64_t axes[] = {0};
    options.axes = axes;
    for (Reduction r : kEveryReduction) {
      SCOPED_TRACE(reduction_name(r));
      absl::StatusOr<Tensor> expected =
          reduce(r, view, options, std::pmr::new_delete_resource(), nullptr, serial);
      ASSERT_TRUE(expected.ok()) << expected.status();
      for (int threads : {2, 3, 4}) {
        SCOPED_TRACE(threads);
        tbb::task_arena arena(threads);
        absl::StatusOr<Tensor> got;
        arena.execute([&] {
          got = reduce(r, view, options, std::pmr::new_delete_resource(), nullptr, split);
        });
        ASSERT_TRUE(got.ok()) << got.status();
        EXPECT_EQ(bytes_of(*got), bytes_of(*expected));
      }
    }
  }
}

// A resource that refuses everything: installed as the default while the reductions run, it
// proves they take memory only from the resources they are given.
class NullDefault {
 public:
  NullDefault() : previous_(std::pmr::set_default_resource(std::pmr::null_memory_resource())) {}
  ~NullDefault() { std::pmr::set_default_resource(previous_); }

 private:
  std::pmr::memory_resource* previous_;
};

TEST(ReduceTensorTest, EveryReductionWorksWithTheNullResourceAsDefault) {
  for (DType dtype : kEveryDType) {
    for_each_reduction(Data(dtype, 64 * 1024, 3), [&](Reduction r, const TensorView& view,
                                                      const ReduceOptions& options) {
      ArenaResource arena(1 << 16, std::pmr::new_delete_resource());
      for (std::size_t min_bytes : {std::size_t{0}, std::numeric_limits<std::size_t>::max()}) {
        ParallelOptions parallel;
        parallel.min_parallel_bytes = min_bytes;
        NullDefault null_default;
        absl::StatusOr<Tensor> t = reduce(r, view, options, &arena, &arena, parallel);
        EXPECT_TRUE(t.ok()) << t.status();
      }
    });
  }
}

TEST(ReduceTensorTest, ScratchIsOneAllocationOfWhatThePlanStatesAndResultsOneOfTheirBytes) {
  for (DType dtype : kEveryDType) {
    for_each_reduction(Data(dtype, 64 * 1024, 5), [&](Reduction r, const TensorView& view,
                                                      const ReduceOptions& options) {
      absl::StatusOr<ReducePlan> plan = ReducePlan::make(r, view, options);
      ASSERT_TRUE(plan.ok()) << plan.status();
      StatsResource result(std::pmr::new_delete_resource());
      StatsResource scratch(std::pmr::new_delete_resource());
      {
        absl::StatusOr<Tensor> t = reduce(r, view, options, &result, &scratch);
        ASSERT_TRUE(t.ok());
        EXPECT_EQ(t->bytes(), plan->result_bytes());
        EXPECT_EQ(result.counters().bytes.total, plan->result_bytes());
        EXPECT_EQ(result.counters().allocations.total, plan->result_bytes() == 0 ? 0u : 1u);
      }
      EXPECT_EQ(scratch.counters().bytes.total, plan->scratch_bytes());
      EXPECT_EQ(scratch.counters().allocations.total, plan->scratch_bytes() == 0 ? 0u : 1u);
      EXPECT_EQ(scratch.counters().bytes.value, 0u);
      EXPECT_EQ(result.counters().bytes.value, 0u);
      EXPECT_EQ(scratch.counters().mismatches + result.counters().mismatches, 0u);
    });
  }
}

// execute_into() with a scratch callback: called once, before the results are placed, only for
// a plan that takes scratch, with the size and alignment of the one allocation that then comes
// from the resource it returns (null: the default resource); a plan without scratch never calls
// it.
TEST(ReduceTensorTest, TheScratchCallbackIsCalledOnceAndOnlyForAPlanThatTakesScratch) {
  int with_scratch = 0;
  int without = 0;
  for (DType dtype : kEveryDType) {
    for_each_reduction(Data(dtype, 64 * 1024, 7),
                       [&](Reduction r, const TensorView& view, const ReduceOptions& options) {
                         absl::StatusOr<ReducePlan> plan = ReducePlan::make(r, view, options);
                         ASSERT_TRUE(plan.ok()) << plan.status();
                         std::vector<char> expected(plan->result_bytes() + 1);
                         execute(*plan, expected.data(), std::pmr::new_delete_resource());
                         for (const bool null_resource : {false, true}) {
                           StatsResource scratch(std::pmr::new_delete_resource());
                           std::pmr::memory_resource* previous =
                               null_resource ? std::pmr::set_default_resource(&scratch) : nullptr;
                           std::vector<char> got(plan->result_bytes() + 1);
                           int asked = 0;
                           std::size_t told_alignment = 0;
                           std::vector<LiveAllocation> held;
                           bool placed_first = false;
                           execute_into(
                               *plan,
                               [&]() -> void* {
                                 placed_first = asked == 0 && plan->scratch_bytes() != 0;
                                 // The one allocation is live here, as the callback was told.
                                 held = scratch.live_allocations();
                                 return got.data();
                               },
                               [&](std::size_t bytes,
                                   std::size_t alignment) -> std::pmr::memory_resource* {
                                 ++asked;
                                 EXPECT_EQ(bytes, plan->scratch_bytes());
                                 told_alignment = alignment;
                                 return null_resource ? nullptr : &scratch;
                               });
                           if (null_resource) std::pmr::set_default_resource(previous);
                           EXPECT_EQ(asked, plan->scratch_bytes() == 0 ? 0 : 1);
                           ++(asked == 0 ? without : with_scratch);
                           EXPECT_FALSE(placed_first);
                           EXPECT_EQ(scratch.counters().bytes.total, plan->scratch_bytes());
                           EXPECT_EQ(scratch.counters().bytes.value, 0u);
                           EXPECT_EQ(got, expected);
                           if (asked != 0) {
                             ASSERT_EQ(held.size(), 1u);
                             EXPECT_EQ(held[0].bytes, plan->scratch_bytes());
                             EXPECT_EQ(held[0].alignment, told_alignment);
                           }
                         }
                       });
  }
  EXPECT_GT(with_scratch, 0);
  EXPECT_GT(without, 0);
}

// A plan keeps its dims unwritten past their counts (internal::DimSlots) and copies them as
// bytes: a copy, and a plan assigned over one made for another reduction and view, compute the
// original's result, bit for bit, and state its shape.
TEST(ReduceTensorTest, CopiedAndAssignedPlansComputeWhatTheOriginalDoes) {
  const Data other_data(DType::kFloat64, 4096, 2);
  const std::int64_t other_shape[] = {4, 8, 16, 8};
  const std::int64_t other_axes[] = {1, 3};
  ReduceOptions other_options;
  other_options.all_axes = false;
  other_options.axes = other_axes;
  for (DType dtype : kEveryDType) {
    for_each_reduction(Data(dtype, 64 * 1024, 11), [&](Reduction r, const TensorView& view,
                                                       const ReduceOptions& options) {
      absl::StatusOr<ReducePlan> plan = ReducePlan::make(r, view, options);
      ASSERT_TRUE(plan.ok()) << plan.status();
      const ReducePlan copied = *plan;
      absl::StatusOr<ReducePlan> assigned =
          ReducePlan::make(Reduction::kVar, other_data.view(other_shape, {}, 0), other_options);
      ASSERT_TRUE(assigned.ok()) << assigned.status();
      *assigned = *plan;
      std::vector<std::vector<char>> out;
      for (const ReducePlan* p : {&std::as_const(*plan), &copied, &std::as_const(*assigned)}) {
        EXPECT_EQ(
            std::vector<std::int64_t>(p->result_shape().begin(), p->result_shape().end()),
            std::vector<std::int64_t>(plan->result_shape().begin(), plan->result_shape().end()));
        std::vector<char> bytes(p->result_bytes() + 1);
        execute(*p, bytes.data(), std::pmr::new_delete_resource());
        out.push_back(std::move(bytes));
      }
      EXPECT_EQ(out[1], out[0]);
      EXPECT_EQ(out[2], out[0]);
    });
  }
}

// The README's "Scratch by shape class" table, serial (one thread's slot).
TEST(ReduceTensorTest, ScratchByShapeClassIsAsDocumented) {
  ParallelOptions serial;
  serial.min_parallel_bytes = std::numeric_limits<std::size_t>::max();
  const Data f32(DType::kFloat32, 1000 * 1000, 1);
  const Data f16(DType::kFloat16, 1000 * 1000, 1);
  const std::int64_t square[] = {1000, 1000};
  const std::int64_t transposed[] = {4, 4000};
  auto scratch = [&](const Data& d, Reduction r, std::vector<std::int64_t> axes,
                     absl::Span<const std::int64_t> strides = {}) {
    ReduceOptions options;
    options.all_axes = axes.empty();
    options.axes = axes;
    absl::StatusOr<ReducePlan> plan = ReducePlan::make(r, d.view(square, strides), options);
    EXPECT_TRUE(plan.ok()) << plan.status();
    return plan.ok() ? plan->scratch_bytes(serial) : 0;
  };
  // Contiguous runs of float32/float64, integer sums, min/max/arg/all/any per output: none.
  EXPECT_EQ(scratch(f32, Reduction::kSum, {1}), 0u);
  EXPECT_EQ(scratch(f32, Reduction::kSum, {}), 0u);
  EXPECT_EQ(scratch(f32, Reduction::kMax, {1}), 0u);
  // A transposed view reduced along its contiguous axis: runs in place too.
  EXPECT_EQ(scratch(f32, Reduction::kSum, {0}, transposed), 0u);
  // Contiguous float16 (and bfloat16) runs are read in place too, converted as they are loaded.
  EXPECT_EQ(scratch(f16, Reduction::kSum, {1}), 0u);
  // var converts its runs into float64 a block at a time: 2048 doubles.
  EXPECT_EQ(scratch(f32, Reduction::kVar, {1}), 2048u * 8);
  // Several short runs under each result, packed into leaves whose lanes are on the stack.
  const std::int64_t cube[] = {100, 100, 100};
  ReduceOptions outer_and_inner;
  outer_and_inner.all_axes = false;
  const std::int64_t axes02[] = {0, 2};
  outer_and_inner.axes = axes02;
  absl::StatusOr<ReducePlan> packed = ReducePlan::make(
      Reduction::kSum, TensorView(f32.bytes.data(), DType::kFloat32, cube), outer_and_inner);
  ASSERT_TRUE(packed.ok());
  EXPECT_EQ(packed->scratch_bytes(serial), 0u);
  absl::StatusOr<ReducePlan> packed_var = ReducePlan::make(
      Reduction::kVar, TensorView(f32.bytes.data(), DType::kFloat32, cube), outer_and_inner);
  ASSERT_TRUE(packed_var.ok());
  EXPECT_EQ(packed_var->scratch_bytes(serial), 0u);
  // Columns: a tile of min(cols, 4096) accumulators and the tree's levels over
  // ceil(rows / 16) leaves of rows: (1 + ceil(log2(63))) * 1000 floats for the sum, rounded up
  // to 64 bytes.
  EXPECT_EQ(scratch(f32, Reduction::kSum, {0}), (1 + 6) * 1000u * 4 + 32);
  EXPECT_EQ(scratch(f32, Reduction::kVar, {0}), (2 + 6) * 1000u * 8);
  EXPECT_EQ(scratch(f32, Reduction::kMax, {0}), 4032u);  // 1000 floats, rounded up to 64 bytes
  EXPECT_EQ(scratch(f32, Reduction::kArgmax, {0}), 4032u + 1000u * 8);  // values, 64-aligned
}

// The README's scratch of columns split over two threads: a line cut into a tile a thread (rows
// of 8 KiB pieces or more) takes a slot of (1 + d) w accumulators per thread, w its columns; one
// whose rows are too short keeps its tile whole and splits the rows: a pool of (2 + 2^s - 1) w,
// s = min(3, ceil(log2(threads))) the levels split, and d w per thread.
TEST(ReduceTensorTest, ScratchOfColumnsSplitOverThreadsIsAsDocumented) {
  ParallelOptions split;
  split.min_parallel_bytes = 0;
  const Data data(DType::kFloat32, 1000 * 1000, 1);
  ReduceOptions axis0;
  axis0.all_axes = false;
  const std::int64_t axes[] = {0};
  axis0.axes = axes;
  auto scratch = [&](std::int64_t rows, std::int64_t cols, int threads = 2) {
    const std::int64_t shape[] = {rows, cols};
    absl::StatusOr<ReducePlan> plan = ReducePlan::make(
        Reduction::kSum, TensorView(data.bytes.data(), DType::kFloat32, shape), axis0);
    EXPECT_TRUE(plan.ok()) << plan.status();
    std::size_t bytes = 0;
    tbb::task_arena(threads).execute([&] { bytes = plan.ok() ? plan->scratch_bytes(split) : 0; });
    return bytes;
  };
  // (64, 4096): two tiles of 2048 columns, d = ceil(log2(4)) = 2.
  EXPECT_EQ(scratch(64, 4096), 2 * (1 + 2) * 2048u * 4);
  // (1000, 1000): 500 columns a thread would be 2000-byte pieces: the rows split, d = 6; one
  // level split over two threads (a pool of 3 w), two over three or four (5 w), three over more.
  EXPECT_EQ(scratch(1000, 1000), (3 * 1000u * 4 + 32) + 2 * (6 * 1000u * 4));
  EXPECT_EQ(scratch(1000, 1000, 3), (5 * 1000u * 4 + 32) + 3 * (6 * 1000u * 4));
  EXPECT_EQ(scratch(1000, 1000, 4), (5 * 1000u * 4 + 32) + 4 * (6 * 1000u * 4));
  EXPECT_EQ(scratch(1000, 1000, 16), (9 * 1000u * 4 + 32) + 16 * (6 * 1000u * 4));
}

TEST(ReduceTensorTest, BroadcastReducedDimsAreFoldedInClosedForm) {
  const float two = 2.0f;
  const std::int32_t three = 3;
  const std::int64_t huge[] = {std::int64_t{1} << 62};
  const std::int64_t zero[] = {0};
  ReduceOptions all;
  auto one = [&](Reduction r, const void* data, DType d) {
    absl::StatusOr<Tensor> t = reduce(r, TensorView{data, d, huge, zero}, all);
    EXPECT_TRUE(t.ok()) << t.status();
    return t;
  };
  EXPECT_EQ(one(Reduction::kSum, &two, DType::kFloat32)->values<float>()[0], 0x1p63f);
  EXPECT_EQ(one(Reduction::kMean, &two, DType::kFloat32)->values<float>()[0], 2.0f);
  EXPECT_EQ(one(Reduction::kVar, &two, DType::kFloat32)->values<float>()[0], 0.0f);
  EXPECT_EQ(one(Reduction::kMax, &two, DType::kFloat32)->values<float>()[0], 2.0f);
  EXPECT_EQ(one(Reduction::kArgmax, &two, DType::kFloat32)->values<std::int64_t>()[0], 0);
  EXPECT_EQ(one(Reduction::kAll, &two, DType::kFloat32)->values<bool>()[0], true);
  // 2^62 * 3 and 3^(2^62), wrapped modulo 2^64 as k-fold int64 arithmetic would.
  EXPECT_EQ(one(Reduction::kSum, &three, DType::kInt32)->values<std::int64_t>()[0],
            static_cast<std::int64_t>(std::uint64_t{3} << 62));
  std::uint64_t power = 3;
  for (int i = 0; i < 62; ++i) power *= power;
  EXPECT_EQ(one(Reduction::kProd, &three, DType::kInt32)->values<std::int64_t>()[0],
            static_cast<std::int64_t>(power));
  EXPECT_TRUE(std::isinf(one(Reduction::kProd, &two, DType::kFloat32)->values<float>()[0]));
}

std::string error(Reduction r, const TensorView& view, const ReduceOptions& options) {
  absl::StatusOr<ReducePlan> plan = ReducePlan::make(r, view, options);
  EXPECT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(plan.status().message());
}

TEST(ReduceTensorTest, BadInputIsRefusedWithAMessageThatNamesIt) {
  const float x[6] = {};
  const std::int64_t shape[] = {2, 3};
  ReduceOptions options;
  options.all_axes = false;
  const std::int64_t out_of_range[] = {2};
  options.axes = out_of_range;
  EXPECT_THAT(error(Reduction::kSum, {x, DType::kFloat32, shape}, options),
              HasSubstr("axis 2 is out of bounds for array of dimension 2"));
  const std::int64_t repeated[] = {1, -1};
  options.axes = repeated;
  EXPECT_THAT(error(Reduction::kSum, {x, DType::kFloat32, shape}, options),
              HasSubstr("duplicate value in 'axis': -1"));
  const std::int64_t two_axes[] = {0, 1};
  options.axes = two_axes;
  EXPECT_THAT(error(Reduction::kArgmax, {x, DType::kFloat32, shape}, options),
              HasSubstr("reduce(argmax): takes one axis or all of them"));

  ReduceOptions all;
  const std::int64_t negative[] = {2, -3};
  EXPECT_THAT(error(Reduction::kSum, {x, DType::kFloat32, negative}, all),
              HasSubstr("dimension 1 is negative (-3)"));
  const std::int64_t empty[] = {0, 3};
  EXPECT_THAT(error(Reduction::kMin, {x, DType::kFloat32, empty}, all),
              HasSubstr("zero-size array to reduction operation minimum which has no identity"));
  EXPECT_THAT(error(Reduction::kArgmin, {x, DType::kFloat32, empty}, all),
              HasSubstr("attempt to get argmin of an empty sequence"));
  EXPECT_THAT(error(Reduction::kSum, {nullptr, DType::kFloat32, shape}, all),
              HasSubstr("data is null but the view has 6 elements"));
  EXPECT_THAT(error(Reduction::kSum, {x, static_cast<DType>(9), shape}, all),
              HasSubstr("unknown dtype 9; supported: float32, float64, int32, int64, bool, "
                        "float16, bfloat16"));
  EXPECT_THAT(error(static_cast<Reduction>(0), {x, DType::kFloat32, shape}, all),
              HasSubstr("unknown reduction 0"));
  const std::int64_t wide[] = {std::int64_t{1} << 40, std::int64_t{1} << 40};
  EXPECT_THAT(error(Reduction::kSum, {x, DType::kFloat32, wide}, all),
              HasSubstr("element count overflows"));
  const std::int64_t far[] = {4, std::numeric_limits<std::int64_t>::min()};
  EXPECT_THAT(error(Reduction::kSum, {x, DType::kFloat32, shape, far}, all),
              HasSubstr("byte extent overflows at dimension 1"));
  const std::int64_t one_stride[] = {4};
  EXPECT_THAT(error(Reduction::kSum, {x, DType::kFloat32, shape, one_stride}, all),
              HasSubstr("1 strides for 2 dimensions"));
  const std::vector<std::int64_t> too_many(33, 1);
  EXPECT_THAT(error(Reduction::kSum, {x, DType::kFloat32, too_many}, all),
              HasSubstr("ndim=33; at most 32"));
  // The result of a view whose reduced dim is empty may still be too large to hold.
  const std::int64_t empty_but_wide[] = {std::int64_t{1} << 61, 0};
  ReduceOptions inner;
  inner.all_axes = false;
  const std::int64_t last[] = {1};
  inner.axes = last;
  EXPECT_THAT(error(Reduction::kSum, {x, DType::kFloat32, empty_but_wide}, inner),
              HasSubstr("the result's shape holds more bytes than any object"));
}

TEST(ReduceTensorTest, EmptyReductionsGiveNumpysIdentities) {
  const std::int64_t shape[] = {3, 0};
  ReduceOptions rows;
  rows.all_axes = false;
  const std::int64_t last[] = {1};
  rows.axes = last;
  auto run = [&](Reduction r, DType d) {
    absl::StatusOr<Tensor> t = reduce(r, TensorView{nullptr, d, shape}, rows);
    EXPECT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->size(), 3u);
    return t;
  };
  EXPECT_THAT(run(Reduction::kSum, DType::kInt32)->values<std::int64_t>(),
              ::testing::ElementsAre(0, 0, 0));
  EXPECT_THAT(run(Reduction::kProd, DType::kFloat64)->values<double>(),
              ::testing::ElementsAre(1, 1, 1));
  EXPECT_TRUE(std::isnan(run(Reduction::kMean, DType::kFloat32)->values<float>()[2]));
  EXPECT_TRUE(std::isnan(run(Reduction::kStd, DType::kInt64)->values<double>()[0]));
  // No squared deviation over max(0 - ddof, 0): 0 / 1 with ddof -1, as numpy has it.
  rows.ddof = -1;
  EXPECT_THAT(run(Reduction::kVar, DType::kFloat64)->values<double>(),
              ::testing::ElementsAre(0, 0, 0));
  EXPECT_THAT(run(Reduction::kAll, DType::kBool)->values<bool>(),
              ::testing::ElementsAre(true, true, true));
  EXPECT_THAT(run(Reduction::kAny, DType::kFloat16)->values<bool>(),
              ::testing::ElementsAre(false, false, false));
}

TEST(TensorTest, OwnsOneAllocationAndMovesIt) {
  StatsResource stats(std::pmr::new_delete_resource());
  const std::int64_t shape[] = {3, 5};
  {
    Tensor a(DType::kFloat64, shape, &stats);
    EXPECT_EQ(a.bytes(), 120u);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.data()) % Tensor::kAlignment, 0u);
    Tensor b = std::move(a);
    EXPECT_EQ(b.size(), 15u);
    EXPECT_EQ(std::vector<std::int64_t>(b.shape().begin(), b.shape().end()),
              std::vector<std::int64_t>({3, 5}));
    EXPECT_EQ(a.data(), nullptr);  // NOLINT: the moved-from state is documented
    EXPECT_THROW((void)b.values<float>(), std::invalid_argument);
    EXPECT_EQ(b.values<double>().size(), 15u);
  }
  EXPECT_EQ(stats.counters().allocations.total, 1u);
  EXPECT_EQ(stats.counters().bytes.value, 0u);
  const std::int64_t empty[] = {4, 0};
  Tensor none(DType::kInt32, empty, &stats);
  EXPECT_EQ(stats.counters().allocations.total, 1u);
  const std::int64_t huge[] = {std::int64_t{1} << 62, 4};
  EXPECT_THROW(Tensor(DType::kInt32, huge, &stats), std::length_error);
}

}  // namespace
}  // namespace corepy::ops
