// The op table: one row per op, and everything generated from it agrees.
#include "corepy/op_table.h"

#include <cstdint>
#include <memory>
#include <memory_resource>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "corepy/c_api.h"
#include "corepy/config.h"
#include "corepy/dispatch.h"
#include "gtest/gtest.h"
#include "ops/parallel_reduce.h"
#include "ops/reduce_tensor.h"

namespace corepy {
namespace {

// The C ABI's values are the rows' (a contract: other code relies on them).
static_assert(COREPY_REDUCE_SUM == static_cast<int>(ops::Reduction::kSum) &&
                  COREPY_REDUCE_PROD == static_cast<int>(ops::Reduction::kProd) &&
                  COREPY_REDUCE_MEAN == static_cast<int>(ops::Reduction::kMean) &&
                  COREPY_REDUCE_VAR == static_cast<int>(ops::Reduction::kVar) &&
                  COREPY_REDUCE_STD == static_cast<int>(ops::Reduction::kStd) &&
                  COREPY_REDUCE_MIN == static_cast<int>(ops::Reduction::kMin) &&
                  COREPY_REDUCE_MAX == static_cast<int>(ops::Reduction::kMax) &&
                  COREPY_REDUCE_ARGMIN == static_cast<int>(ops::Reduction::kArgmin) &&
                  COREPY_REDUCE_ARGMAX == static_cast<int>(ops::Reduction::kArgmax) &&
                  COREPY_REDUCE_ALL == static_cast<int>(ops::Reduction::kAll) &&
                  COREPY_REDUCE_ANY == static_cast<int>(ops::Reduction::kAny) &&
                  COREPY_REDUCE_COUNT_NONZERO == static_cast<int>(ops::Reduction::kCountNonzero),
              "a COREPY_REDUCE_* value differs from ops/reductions.h's row");

TEST(OpTableTest, NamesAreUniqueAndNonEmpty) {
  std::set<std::string> seen;
  for (absl::string_view name : kOpNames) {
    EXPECT_FALSE(name.empty());
    EXPECT_TRUE(seen.insert(std::string(name)).second) << name << " appears twice";
  }
}

TEST(OpTableTest, OpCountIsTheNumberOfRowsInEveryGroup) {
  std::size_t rows = 0;
#define COREPY_COUNT_ROW(...) ++rows;
  COREPY_SPAN_OPS(COREPY_COUNT_ROW)
  COREPY_MATRIX_OPS(COREPY_COUNT_ROW)
  COREPY_REDUCTIONS(COREPY_COUNT_ROW)
#undef COREPY_COUNT_ROW
  EXPECT_EQ(kOpCount, rows);
  EXPECT_EQ(kOpNames.size(), kOpCount);
  EXPECT_EQ(op_stats().size(), kOpCount);
}

// A row that says its kernel takes no scratch on the serial path (serial_scratch false) lets the
// dispatch run it with no scope (corepy/dispatch.cc): the claim must hold. Every such kernel
// runs here on inputs up to the largest serial size with a scratch resource and a default
// resource that both refuse every allocation; a kernel that asked either for memory would throw.
template <class Input, class Kernel>
void expect_serial_path_takes_no_scratch(const char* name, Kernel kernel) {
  const std::size_t largest = ops::kParallelMinBytes / sizeof(Input) - 1;
  // Not std::vector<bool>, which has no data().
  const std::unique_ptr<Input[]> data(new Input[largest]());
  std::pmr::memory_resource* const before =
      std::pmr::set_default_resource(std::pmr::null_memory_resource());
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{1000}, largest}) {
    EXPECT_NO_THROW(kernel(absl::Span<const Input>(data.get(), n), std::pmr::null_memory_resource(),
                           ops::ParallelOptions()))
        << name << " over " << n << " elements";
  }
  std::pmr::set_default_resource(before);
}

TEST(OpTableTest, RowsWithoutSerialScratchTakeNone) {
  int checked = 0;
#define COREPY_CHECK_SERIAL_SCRATCH(Id, name, Input, Result, kernel, serial_scratch)          \
  if (!(serial_scratch)) {                                                                    \
    expect_serial_path_takes_no_scratch<Input>(                                               \
        #name, [](auto&&... args) { return kernel(std::forward<decltype(args)>(args)...); }); \
    ++checked;                                                                                \
  }
  COREPY_SPAN_OPS(COREPY_CHECK_SERIAL_SCRATCH)
#undef COREPY_CHECK_SERIAL_SCRATCH
  EXPECT_GT(checked, 0);
}

TEST(OpTableTest, EveryNameLooksUpItsOwnOpAndBack) {
  for (std::size_t i = 0; i < kOpCount; ++i) {
    const std::optional<Op> op = op_by_name(kOpNames[i]);
    ASSERT_TRUE(op.has_value()) << kOpNames[i];
    EXPECT_EQ(static_cast<std::size_t>(*op), i);
    EXPECT_EQ(op_name(*op), kOpNames[i]);
  }
  EXPECT_FALSE(op_by_name("no_such_op").has_value());
  EXPECT_FALSE(op_by_name("").has_value());
}

TEST(OpTableTest, TheEnumAndTheNamesComeFromTheSameRow) {
  EXPECT_EQ(op_name(Op::kSumF32), "sum_f32");
  EXPECT_EQ(op_name(Op::kMeanF32Compensated), "mean_f32_compensated");
  EXPECT_EQ(op_name(Op::kSumRowsF32), "sum_rows_f32");
  EXPECT_EQ(op_name(Op::kMeanColsF32), "mean_cols_f32");
  EXPECT_EQ(op_name(Op::kSum), "sum");
  EXPECT_EQ(op_name(Op::kArgmax), "argmax");
  EXPECT_EQ(op_name(Op::kAny), "any");
}

TEST(OpTableTest, EveryRowNamesItsOwnStatsRowAndArenaSize) {
  std::string sizes;
  for (absl::string_view name : kOpNames) absl::StrAppend(&sizes, name, "=4KiB,");
  absl::StatusOr<std::array<std::size_t, kOpCount>> parsed = parse_op_arena_sizes(sizes);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  for (std::size_t size : *parsed) EXPECT_EQ(size, 4096u);
  const std::vector<OpStats> stats = op_stats();
  for (std::size_t i = 0; i < kOpCount; ++i) EXPECT_EQ(stats[i].name, kOpNames[i]);
}

}  // namespace
}  // namespace corepy
