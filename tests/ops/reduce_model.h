// Scalar models of the reductions' evaluation order, written from the documentation
// (ops/internal/reduce_kernels.h, ops/reduce.h) and sharing no code with the kernels: the SIMD
// code on every target must match them bit for bit. Also references (long double) for accuracy
// checks, test data, and the sizes worth testing around every boundary of the kernels.
#ifndef COREPY_TESTS_OPS_REDUCE_MODEL_H_
#define COREPY_TESTS_OPS_REDUCE_MODEL_H_

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <ostream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace corepy::ops::model {

inline constexpr std::size_t kModelLanes = 128;
inline constexpr std::size_t kModelBlock = 2048;
inline constexpr std::size_t kModelChunk = std::size_t{1} << 15;
inline constexpr std::size_t kModelCompensatedLanes = 32;
inline constexpr std::size_t kModelLeafRows = 16;

// Whether the test runs under Valgrind (slow: tests do less there).
bool under_valgrind();
// Under Valgrind, AddressSanitizer or ThreadSanitizer (all unoptimized builds here).
bool under_instrumentation();

// sum_f32 as documented: 0 when empty, else chunks and blocks by the balanced tree, 128 lanes.
float model_sum_f32(const float* x, std::size_t n);
// sum_f32_compensated as documented: 32 Neumaier lanes per chunk, folded and combined by TwoSum.
float model_sum_f32_compensated(const float* x, std::size_t n);
// Column sums of a rows x cols matrix: 16-row leaves, balanced tree over the leaves.
std::vector<float> model_column_sums_f32(const float* x, std::size_t rows, std::size_t cols);

long double exact_sum(const float* x, std::size_t n);
long double abs_sum(const float* x, std::size_t n);

// Bit-exact comparison that treats every NaN alike.
bool same_float(float a, float b);
std::string describe(float v);  // "1.5 (0x3fc00000)"

// Uniform floats in [lo, hi), reproducible from the seed.
std::vector<float> random_floats(std::size_t n, std::uint32_t seed, float lo = -1.0f,
                                 float hi = 1.0f);
std::vector<std::int32_t> random_ints(std::size_t n, std::uint32_t seed);

// Every size from 0 to a few groups of 64 (at least 0..130), sizes around each multiple of the
// block, chunk and vector widths that the kernels treat differently (fewer under Valgrind), and
// 2^k - 1, 2^k, 2^k + 1 for k = 1..20. Sorted, no repeats; the largest is 2^20 + 1.
std::vector<std::size_t> boundary_sizes();

// A memory_resource written in the tests, for the injection tests: every request in a log,
// served by new/delete, its alignment checked.
class LoggingResource final : public std::pmr::memory_resource {
 public:
  struct Event {
    bool allocate;
    std::size_t bytes;
    std::size_t alignment;
    bool operator==(const Event& o) const {
      return allocate == o.allocate && bytes == o.bytes && alignment == o.alignment;
    }
  };
  const std::vector<Event>& log() const { return log_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }
  std::vector<Event> log_;
};
std::ostream& operator<<(std::ostream& os, const LoggingResource::Event& e);

// A test run once per SIMD target that Highway compiled and the CPU supports (as Highway's
// TestWithParamTarget), with the kernels forced to that target. Under AddressSanitizer the
// kernels are built without 512-bit targets (ops/internal/reduce_kernels.cc says why), so
// those parameters are skipped there.
class TargetTest : public ::testing::TestWithParam<std::int64_t> {
 protected:
  void SetUp() override;
  void TearDown() override;
};

// Outside a TargetTest (or before the first one forces a target): inside one, Highway's list
// holds the forced target only.
std::vector<std::int64_t> every_target();
// The best of every_target(), as it was before any test forced one.
std::int64_t first_target();
std::string target_name(const ::testing::TestParamInfo<std::int64_t>& info);

// Waits for oneTBB's worker threads when the test binary ends (a global environment): Valgrind
// counts the stacks of threads still running at exit as possibly lost.
class FinalizeParallelWorkers : public ::testing::Environment {
 public:
  void TearDown() override;
};

}  // namespace corepy::ops::model

#define COREPY_INSTANTIATE_FOR_EVERY_TARGET(suite)                                    \
  INSTANTIATE_TEST_SUITE_P(EveryTarget, suite,                                        \
                           ::testing::ValuesIn(::corepy::ops::model::every_target()), \
                           ::corepy::ops::model::target_name)

#endif  // COREPY_TESTS_OPS_REDUCE_MODEL_H_
