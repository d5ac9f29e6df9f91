// corepy_finalize_parallel_workers(): waits for oneTBB's workers after a split call, lets a later
// split call start them again, and refuses, with a message, where they cannot be waited for.
#include <cstddef>
#include <cstring>
#include <vector>

#include "corepy/c_api.h"
#include "gtest/gtest.h"
#include "oneapi/tbb/parallel_for.h"

namespace {

// A column sum of 1 MiB, over the 512 KiB that splits it over threads.
void SplitColumnSum() {
  constexpr std::size_t kRows = 1024;
  constexpr std::size_t kCols = 256;
  std::vector<float> m(kRows * kCols, 1.0f);
  std::vector<float> out(kCols, 0.0f);
  ASSERT_EQ(corepy_sum_cols_f32(m.data(), kRows, kCols, out.data()), COREPY_OK);
  for (float x : out) ASSERT_EQ(x, static_cast<float>(kRows));
}

TEST(FinalizeParallelWorkers, WaitsForTheWorkersAndLetsALaterSplitStartThemAgain) {
  SplitColumnSum();
  EXPECT_EQ(corepy_finalize_parallel_workers(), COREPY_OK);
  SplitColumnSum();
  EXPECT_EQ(corepy_finalize_parallel_workers(), COREPY_OK);
  EXPECT_EQ(corepy_finalize_parallel_workers(), COREPY_OK);  // none running: nothing to wait for
}

// In a task of a parallel call (one task here, on the calling thread), as a callback run by a
// split kernel would be.
TEST(FinalizeParallelWorkers, InsideAParallelCallIsAnErrorNamingWhy) {
  SplitColumnSum();
  int status = COREPY_OK;
  tbb::parallel_for(0, 1, [&](int) { status = corepy_finalize_parallel_workers(); });
  EXPECT_EQ(status, COREPY_ERROR_INTERNAL);
  EXPECT_NE(std::strstr(corepy_last_error(),
                        "cannot be waited for (called from inside a parallel "
                        "call"),
            nullptr)
      << corepy_last_error();
  EXPECT_EQ(corepy_finalize_parallel_workers(), COREPY_OK);  // outside it, it can
}

}  // namespace
