// The parallel reductions of ops/parallel_reduce.h: bit-identical to the serial ones at 1, 2,
// 3 and 4 threads and from run to run, and at two threads on every SIMD target; all/any at
// every decisive position; each worker's
// scratch taken from its own thread's resource and given back on that thread; allocation
// failures in a worker reach the caller with nothing leaked; the threshold respected.
// No timing is asserted here: speed is the benchmark's business.
#include "ops/parallel_reduce.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "allocators/arena_resource.h"
#include "allocators/failing_resource.h"
#include "gtest/gtest.h"
#include "oneapi/tbb/global_control.h"
#include "oneapi/tbb/task_arena.h"
#include "ops/reduce.h"
#include "tests/ops/reduce_model.h"

namespace corepy::ops {
namespace {

using ::corepy::ops::model::describe;
using ::corepy::ops::model::kModelChunk;
using ::corepy::ops::model::random_floats;
using ::corepy::ops::model::same_float;

// Up to 4 threads even on a 2-core machine (TBB would otherwise cap its workers at cores - 1),
// and at the end, the workers waited for: Valgrind counts the stacks of threads still running
// at exit as possibly lost.
class TbbThreads : public ::testing::Environment {
 public:
  void SetUp() override {
    limit_ = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, 4);
  }
  void TearDown() override {
    limit_.reset();
    EXPECT_TRUE(finalize_parallel_workers());
  }

 private:
  std::unique_ptr<tbb::global_control> limit_;
};
::testing::Environment* const tbb_threads = ::testing::AddGlobalTestEnvironment(new TbbThreads);

// Split whatever can be split.
ParallelOptions always() {
  ParallelOptions o;
  o.min_parallel_bytes = 0;
  return o;
}

std::vector<int> thread_counts() { return {1, 2, 3, 4}; }

template <class F>
auto in_arena(int threads, F&& f) {
  tbb::task_arena arena(threads);
  return arena.execute(std::forward<F>(f));
}

std::vector<std::size_t> parallel_sizes() {
  std::vector<std::size_t> sizes = {0,
                                    1,
                                    1000,
                                    kModelChunk - 1,
                                    kModelChunk,
                                    kModelChunk + 1,
                                    2 * kModelChunk,
                                    2 * kModelChunk + 1,
                                    3 * kModelChunk + 777};
  if (!model::under_valgrind()) {
    sizes.push_back(7 * kModelChunk + 12345);
    sizes.push_back(16 * kModelChunk);
  }
  return sizes;
}

TEST(ParallelReduceTest, FlatSumsAreBitIdenticalToSerialAtEveryThreadCount) {
  const std::vector<float> data = random_floats(16 * kModelChunk + 20000, 21);
  const std::vector<std::int32_t> ints = model::random_ints(16 * kModelChunk + 20000, 22);
  for (std::size_t n : parallel_sizes()) {
    const auto x = absl::MakeConstSpan(data.data(), n);
    const auto xi = absl::MakeConstSpan(ints.data(), n);
    const float sum = sum_f32(x);
    const float compensated = sum_f32_compensated(x);
    const float mean = mean_f32(x);
    const std::int64_t isum = sum_i32(xi);
    for (int threads : thread_counts()) {
      SCOPED_TRACE(std::to_string(n) + " elements, threads " + std::to_string(threads));
      in_arena(threads, [&] {
        for (int run = 0; run < 2; ++run) {
          const float got = sum_f32_parallel(x, always());
          EXPECT_TRUE(same_float(got, sum)) << describe(got) << " vs " << describe(sum);
          const float got_c = sum_f32_compensated_parallel(x, always());
          EXPECT_TRUE(same_float(got_c, compensated))
              << describe(got_c) << " vs " << describe(compensated);
          EXPECT_TRUE(same_float(mean_f32_parallel(x, always()), mean));
          EXPECT_EQ(sum_i32_parallel(xi, always()), isum);
        }
      });
    }
  }
  EXPECT_TRUE(std::isnan(mean_f32_parallel({})));
  EXPECT_TRUE(std::isnan(mean_f32_compensated_parallel({})));
  EXPECT_EQ(sum_f32_parallel({}), 0.0f);
  EXPECT_EQ(sum_f32_compensated_parallel({}), 0.0f);
  EXPECT_EQ(sum_i32_parallel({}), 0);
}

// The parallel forms run the same dispatched kernels on their workers: with each SIMD target
// forced in turn (Highway's choice is process-wide, so the workers see it too), two threads
// still give the serial result, which reduce_test.cc holds to the documented order there.
class ParallelReduceTargetTest : public model::TargetTest {};
COREPY_INSTANTIATE_FOR_EVERY_TARGET(ParallelReduceTargetTest);

TEST_P(ParallelReduceTargetTest, TwoThreadsGiveTheSerialResultOnEveryTarget) {
  // Enough floats for the flat sums and for the 1500 x 100 matrix below.
  const std::vector<float> data =
      random_floats(std::max<std::size_t>(3 * kModelChunk + 777, 1500 * 100), 32);
  const std::vector<std::int32_t> ints = model::random_ints(3 * kModelChunk + 777, 33);
  std::vector<unsigned char> bytes(3 * (std::size_t{1} << 18) + 5, 1);
  for (std::size_t n : {2 * kModelChunk + 1, 3 * kModelChunk + 777}) {
    const auto x = absl::MakeConstSpan(data.data(), n);
    const auto xi = absl::MakeConstSpan(ints.data(), n);
    in_arena(2, [&] {
      EXPECT_TRUE(same_float(sum_f32_parallel(x, always()), model::model_sum_f32(x.data(), n)))
          << n;
      EXPECT_TRUE(same_float(sum_f32_compensated_parallel(x, always()),
                             model::model_sum_f32_compensated(x.data(), n)))
          << n;
      EXPECT_EQ(sum_i32_parallel(xi, always()), sum_i32(xi)) << n;
    });
  }
  const auto b = absl::MakeConstSpan(reinterpret_cast<const bool*>(bytes.data()), bytes.size());
  in_arena(2, [&] {
    EXPECT_TRUE(all_bool_parallel(b, always()));
    bytes[bytes.size() - 2] = 0;
    EXPECT_FALSE(all_bool_parallel(b, always()));
    std::fill(bytes.begin(), bytes.end(), 0);
    EXPECT_FALSE(any_bool_parallel(b, always()));
    bytes[bytes.size() / 2] = 7;
    EXPECT_TRUE(any_bool_parallel(b, always()));
  });
  auto m =
      sum_f32_axis_parallel(data.data(), 1500, 100, 0, std::pmr::get_default_resource(), always());
  ASSERT_TRUE(m.ok());
  const std::vector<float> want = model::model_column_sums_f32(data.data(), 1500, 100);
  for (std::size_t c = 0; c < 100; ++c) EXPECT_TRUE(same_float((*m)[c], want[c])) << c;
}

TEST(ParallelReduceTest, DefaultOptionsGiveTheSameResults) {
  const std::vector<float> data = random_floats(5 * kModelChunk + 3, 23);
  EXPECT_TRUE(same_float(sum_f32_parallel(data), sum_f32(data)));
  EXPECT_TRUE(same_float(sum_f32_compensated_parallel(data), sum_f32_compensated(data)));
  EXPECT_TRUE(same_float(mean_f32_compensated_parallel(data), mean_f32_compensated(data)));
}

// Bytes written one by one; read only through the kernels (see reduce_test.cc).
absl::Span<const bool> as_bools(const std::vector<unsigned char>& bytes) {
  return absl::MakeConstSpan(reinterpret_cast<const bool*>(bytes.data()), bytes.size());
}

TEST(ParallelReduceTest, AllAndAnyFindTheDecisiveByteWherever) {
  const std::size_t chunk = std::size_t{1} << 18;  // the bools' chunk
  const std::size_t n = model::under_valgrind() ? 2 * chunk + 5 : 6 * chunk + 5;
  std::vector<unsigned char> ones(n, 1);
  std::vector<unsigned char> zeros(n, 0);
  for (int threads : thread_counts()) {
    in_arena(threads, [&] {
      EXPECT_TRUE(all_bool_parallel(as_bools(ones), always()));
      EXPECT_FALSE(any_bool_parallel(as_bools(zeros), always()));
      EXPECT_TRUE(any_bool_parallel(as_bools(ones), always()));
      EXPECT_FALSE(all_bool_parallel(as_bools(zeros), always()));
      for (std::size_t at : {std::size_t{0}, chunk - 1, chunk, chunk + 1, n / 2, n - 1}) {
        ones[at] = 0;
        zeros[at] = 0x80;
        EXPECT_FALSE(all_bool_parallel(as_bools(ones), always())) << "zero at " << at;
        EXPECT_TRUE(any_bool_parallel(as_bools(zeros), always())) << "nonzero at " << at;
        ones[at] = 1;
        zeros[at] = 0;
      }
    });
  }
  EXPECT_TRUE(all_bool_parallel({}));
  EXPECT_FALSE(any_bool_parallel({}));
}

struct AxisCase {
  std::size_t rows;
  std::size_t cols;
};

TEST(ParallelReduceTest, AxisSumsAreBitIdenticalToSerialAtEveryThreadCount) {
  std::vector<AxisCase> cases = {{1, 1},      {3, 2 * kModelChunk + 5}, {40000, 3}, {3000, 100},
                                 {100, 3000}, {70, 2048 + 5},           {0, 5},     {5, 0}};
  if (!model::under_valgrind()) {
    cases.push_back({200000, 7});
    cases.push_back({2000, 1500});
  }
  for (const AxisCase& c : cases) {
    const std::vector<float> m = random_floats(c.rows * c.cols, 24);
    for (int axis : {0, 1}) {
      auto serial = sum_f32_axis(m.data(), c.rows, c.cols, axis);
      auto serial_mean = mean_f32_axis(m.data(), c.rows, c.cols, axis);
      ASSERT_TRUE(serial.ok() && serial_mean.ok());
      for (int threads : thread_counts()) {
        in_arena(threads, [&] {
          auto got = sum_f32_axis_parallel(m.data(), c.rows, c.cols, axis,
                                           std::pmr::get_default_resource(), always());
          auto got_mean = mean_f32_axis_parallel(m.data(), c.rows, c.cols, axis,
                                                 std::pmr::get_default_resource(), always());
          ASSERT_TRUE(got.ok() && got_mean.ok()) << got.status() << got_mean.status();
          ASSERT_EQ(got->size(), serial->size());
          for (std::size_t i = 0; i < got->size(); ++i) {
            ASSERT_TRUE(same_float((*got)[i], (*serial)[i]))
                << c.rows << "x" << c.cols << " axis " << axis << " threads " << threads << " at "
                << i << ": " << describe((*got)[i]) << " vs " << describe((*serial)[i]);
            ASSERT_TRUE(same_float((*got_mean)[i], (*serial_mean)[i]));
          }
        });
      }
    }
  }
}

TEST(ParallelReduceTest, AxisArgumentsAreCheckedAsTheSerialOnesAre) {
  const float one = 1.0f;
  EXPECT_EQ(sum_f32_axis_parallel(&one, 1, 1, 3).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sum_f32_axis_parallel(nullptr, 2, 2, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mean_f32_axis_parallel(nullptr, 2, 2, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::size_t huge = std::size_t{1} << 40;
  EXPECT_EQ(sum_f32_axis_parallel(&one, huge, huge, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(sum_f32_axis_parallel(nullptr, 0, 4, 0).ok());
}

// A scratch resource per thread that checks it is only ever used by the thread it belongs to,
// counts what passes through, and lets a test fail its allocations.
class ThreadScratch final : public std::pmr::memory_resource {
 public:
  static std::atomic<int> wrong_thread;
  static std::atomic<long> live_bytes;
  static std::atomic<long> allocations;
  static std::atomic<bool> fail;
  static std::mutex threads_mutex;
  static std::set<std::thread::id> threads;

  static std::pmr::memory_resource* get(const void* /*context*/) {
    thread_local ThreadScratch scratch;
    return &scratch;
  }

 private:
  ThreadScratch() : owner_(std::this_thread::get_id()) {
    std::lock_guard<std::mutex> lock(threads_mutex);
    threads.insert(owner_);
  }
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    if (std::this_thread::get_id() != owner_) ++wrong_thread;
    if (fail.load()) throw std::bad_alloc();
    void* p = arena_.allocate(bytes, alignment);
    live_bytes += static_cast<long>(bytes);
    ++allocations;
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    if (std::this_thread::get_id() != owner_) ++wrong_thread;
    live_bytes -= static_cast<long>(bytes);
    arena_.deallocate(p, bytes, alignment);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  std::thread::id owner_;
  ArenaResource arena_{1 << 16};
};
std::atomic<int> ThreadScratch::wrong_thread{0};
std::atomic<long> ThreadScratch::live_bytes{0};
std::atomic<long> ThreadScratch::allocations{0};
std::atomic<bool> ThreadScratch::fail{false};
std::mutex ThreadScratch::threads_mutex;
std::set<std::thread::id> ThreadScratch::threads;

ParallelOptions with_thread_scratch() {
  ParallelOptions o = always();
  o.per_thread_scratch = &ThreadScratch::get;
  return o;
}

TEST(ParallelReduceTest, WorkersTakeScratchFromTheirOwnThreadAndGiveItBack) {
  const std::vector<float> data = random_floats(8 * kModelChunk, 25);
  const std::vector<float> m = random_floats(4000 * 70, 26);
  for (int threads : thread_counts()) {
    in_arena(threads, [&] {
      EXPECT_TRUE(same_float(sum_f32_compensated_parallel(data, with_thread_scratch()),
                             sum_f32_compensated(data)));
      EXPECT_TRUE(same_float(sum_f32_parallel(data, with_thread_scratch()), sum_f32(data)));
      auto cols = sum_f32_axis_parallel(m.data(), 4000, 70, 0, std::pmr::get_default_resource(),
                                        with_thread_scratch());
      ASSERT_TRUE(cols.ok());
    });
  }
  EXPECT_GT(ThreadScratch::allocations.load(), 0);
  EXPECT_EQ(ThreadScratch::live_bytes.load(), 0);
  EXPECT_EQ(ThreadScratch::wrong_thread.load(), 0);
  std::lock_guard<std::mutex> lock(ThreadScratch::threads_mutex);
  EXPECT_GE(ThreadScratch::threads.size(), 1u);
}

TEST(ParallelReduceTest, AScratchFailureInAWorkerReachesTheCallerWithNothingLeaked) {
  const std::vector<float> data = random_floats(8 * kModelChunk, 27);
  const std::vector<float> m = random_floats(4000 * 70, 28);
  ThreadScratch::fail = true;
  for (int threads : thread_counts()) {
    in_arena(threads, [&] {
      // The compensated sum needs scratch even when it runs serially; the others only when
      // they split, which one thread never does.
      EXPECT_THROW(sum_f32_compensated_parallel(data, with_thread_scratch()), std::bad_alloc);
      auto sum = [&] { return sum_f32_parallel(data, with_thread_scratch()); };
      auto columns = [&] {
        return sum_f32_axis_parallel(m.data(), 4000, 70, 0, std::pmr::get_default_resource(),
                                     with_thread_scratch())
            .ok();
      };
      if (threads == 1) {
        EXPECT_TRUE(same_float(sum(), sum_f32(data)));
        EXPECT_TRUE(columns());
      } else {
        EXPECT_THROW(sum(), std::bad_alloc);
        EXPECT_THROW(columns(), std::bad_alloc);
      }
    });
  }
  ThreadScratch::fail = false;
  EXPECT_EQ(ThreadScratch::live_bytes.load(), 0);
  EXPECT_EQ(ThreadScratch::wrong_thread.load(), 0);
}

// The ops entries append to the caller's vector: split over threads, the scratch is one
// allocation taken before the vector grows, so at every failure point the vector is as it was
// (its length and every element), and nothing is leaked; past them, the serial result.
TEST(ParallelReduceTest, AMatrixEntryWhoseScratchFailsLeavesTheResultAsItWas) {
  const std::size_t rows = 3000;
  const std::size_t cols = 70;
  const std::vector<float> m = random_floats(rows * cols, 32);
  absl::StatusOr<MatrixView<float>> x = MatrixView<float>::make("test", m.data(), rows, cols);
  ASSERT_TRUE(x.ok());
  using Entry = void (*)(const MatrixView<float>&, std::pmr::vector<float>&,
                         std::pmr::memory_resource*, const ParallelOptions&);
  const Entry entries[] = {&sum_rows_f32, &sum_cols_f32, &mean_rows_f32, &mean_cols_f32};
  for (int threads : {1, 2, 4}) {
    for (Entry entry : entries) {
      std::pmr::vector<float> serial;
      entry(*x, serial, std::pmr::new_delete_resource(), ParallelOptions{});
      ::corepy::testing::FailingResource scratch(std::pmr::new_delete_resource());
      const int points = ::corepy::testing::for_each_failure_point(scratch, [&](int) {
        std::pmr::vector<float> result = {1.0f, 2.0f, 3.0f};
        try {
          in_arena(threads, [&] { entry(*x, result, &scratch, always()); });
        } catch (const std::bad_alloc&) {
          EXPECT_EQ(result, (std::pmr::vector<float>{1.0f, 2.0f, 3.0f}));
          EXPECT_EQ(scratch.bytes_in_use(), 0u);
          throw;
        }
        ASSERT_EQ(result.size(), 3 + serial.size());
        EXPECT_TRUE(std::equal(serial.begin(), serial.end(), result.begin() + 3, same_float))
            << threads << " threads";
      });
      // Column sums always take scratch, so they have a failure point at least.
      if (entry == entries[1] || entry == entries[3]) {
        EXPECT_GE(points, 2);
      }
      EXPECT_EQ(scratch.bytes_in_use(), 0u);
    }
  }
}

TEST(ParallelReduceTest, TheResultOfAnAxisSumLivesOnTheGivenResource) {
  const std::vector<float> m = random_floats(3000 * 100, 29);
  ::corepy::testing::FailingResource result_resource;
  {
    auto got = sum_f32_axis_parallel(m.data(), 3000, 100, 0, &result_resource, always());
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->get_allocator().resource(), &result_resource);
    EXPECT_EQ(result_resource.allocations_in_use(), 1u);
  }
  EXPECT_EQ(result_resource.bytes_in_use(), 0u);
}

TEST(ParallelReduceTest, TheDefaultScratchIsAThreadArenaLeftEmpty) {
  const std::vector<float> data = random_floats(8 * kModelChunk, 30);
  sum_f32_compensated_parallel(data, always());
  auto* arena = dynamic_cast<ArenaResource*>(default_thread_scratch());
  ASSERT_NE(arena, nullptr);
  EXPECT_EQ(arena->used(), 0u);
  EXPECT_EQ(arena->capacity(), kDefaultThreadScratchBytes);
}

TEST(ParallelReduceTest, BelowTheThresholdNothingGoesToTheProvider) {
  const std::vector<float> data = random_floats(4 * kModelChunk, 31);
  ParallelOptions o;
  o.per_thread_scratch = &ThreadScratch::get;
  o.min_parallel_bytes = data.size() * sizeof(float) + 1;
  const long before = ThreadScratch::allocations.load();
  EXPECT_TRUE(same_float(sum_f32_parallel(data, o), sum_f32(data)));
  EXPECT_EQ(ThreadScratch::allocations.load(), before);
  // A null provider means the default one.
  o.per_thread_scratch = nullptr;
  o.min_parallel_bytes = 0;
  EXPECT_TRUE(same_float(sum_f32_compensated_parallel(data, o), sum_f32_compensated(data)));
}

}  // namespace
}  // namespace corepy::ops
