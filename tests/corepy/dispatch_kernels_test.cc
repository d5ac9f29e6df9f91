// What the dispatch layer hands the kernels: the compensated and row/column entry points give
// the serial kernels' answers bit for bit; scratch comes from the configured resource, on the
// calling thread and on oneTBB's workers; results land on the resource the caller names; and a
// worker thread picks up a new configuration only when nothing of the old one is in use.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "allocators/stats_resource.h"
#include "corepy/arena.h"
#include "corepy/config.h"
#include "corepy/dispatch.h"
#include "corepy/registry.h"
#include "gtest/gtest.h"
#include "oneapi/tbb/task_arena.h"
#include "ops/parallel_reduce.h"
#include "ops/reduce.h"

namespace corepy {
namespace {

// Thread-safe; remembers which threads allocated and what is still out.
class RecordingResource final : public std::pmr::memory_resource {
 public:
  std::atomic<long> allocations{0};
  std::atomic<long> bytes_in_use{0};

  std::size_t threads() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return threads_.size();
  }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      threads_.insert(std::this_thread::get_id());
    }
    ++allocations;
    bytes_in_use += static_cast<long>(bytes);
    return std::pmr::new_delete_resource()->allocate(bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    bytes_in_use -= static_cast<long>(bytes);
    std::pmr::new_delete_resource()->deallocate(p, bytes, alignment);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  mutable std::mutex mutex_;
  std::set<std::thread::id> threads_;
};

// Registers `name` as a shared allocator backed by `resource` (kept alive by the caller).
void register_recording(const std::string& name, RecordingResource* resource) {
  ASSERT_TRUE(register_allocator(name, [resource](const AllocatorArgs&) {
                return std::shared_ptr<std::pmr::memory_resource>(resource, [](auto*) {});
              }).ok());
}

std::vector<float> ramp(std::size_t n) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<float>((i * 7919) % 1000) * 0.001f - 0.3f;
  return x;
}

class DispatchKernelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reset_configuration();
    reset_op_stats();
  }
  void TearDown() override {
    reset_configuration();
    ops::finalize_parallel_workers();  // workers and their corepy state gone before the next test
  }
};

TEST_F(DispatchKernelsTest, CompensatedEntryPointsGiveTheKernelsAnswer) {
  for (std::size_t n : {0, 1, 7, 1000, 100000, 300000}) {
    SCOPED_TRACE(n);
    const std::vector<float> x = ramp(n);
    const float sum = sum_f32_compensated_cpu_dispatch(x.data(), x.size());
    const float mean = mean_f32_compensated_cpu_dispatch(x.data(), x.size());
    EXPECT_EQ(sum, ops::sum_f32_compensated(x));
    if (n == 0) {
      EXPECT_TRUE(std::isnan(mean));
    } else {
      EXPECT_EQ(mean, ops::mean_f32_compensated(x));
    }
  }
  EXPECT_THROW(sum_f32_compensated_cpu_dispatch(nullptr, 2), std::invalid_argument);
  EXPECT_THROW(mean_f32_compensated_cpu_dispatch(nullptr, 2), std::invalid_argument);
}

TEST_F(DispatchKernelsTest, CompensatedScratchIsWhatTheKernelTakesFromTheConfiguredResource) {
  const std::vector<float> x = ramp(5000);
  // What the kernel takes when handed an arena directly.
  ArenaResource direct(1 << 20);
  (void)ops::sum_f32_compensated(x, &direct);
  ASSERT_GT(direct.stats().peak, 0u);

  std::thread([&x] { (void)sum_f32_compensated_cpu_dispatch(x.data(), x.size()); }).join();
  const OpStats stats = op_stats()[static_cast<int>(Op::kSumF32Compensated)];
  EXPECT_EQ(stats.name, "sum_f32_compensated");
  EXPECT_EQ(stats.calls, 1u);
  EXPECT_EQ(stats.peak_scratch, direct.stats().peak);

  // A user allocator named by configuration serves that scratch and gets it all back.
  RecordingResource recording;
  register_recording("recording_compensated", &recording);
  Options o;
  o.allocator = "recording_compensated";
  ASSERT_TRUE(configure(o).ok());
  std::thread([&x] {
    EXPECT_EQ(sum_f32_compensated_cpu_dispatch(x.data(), x.size()), ops::sum_f32_compensated(x));
  }).join();
  EXPECT_GT(recording.allocations.load(), 0);
  EXPECT_EQ(recording.bytes_in_use.load(), 0);
}

TEST_F(DispatchKernelsTest, RowAndColumnEntryPointsMatchTheKernelsOnTheCallersResource) {
  for (auto [rows, cols] : {std::pair<std::size_t, std::size_t>{3, 5}, {1, 1000}, {1000, 1},
                            {0, 4}, {4, 0}, {600, 700}}) {
    SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols));
    const std::vector<float> x = ramp(rows * cols);
    StatsResource result(std::pmr::new_delete_resource());
    const std::pmr::vector<float> row_sums =
        sum_rows_f32_cpu_dispatch(x.data(), rows, cols, &result);
    const std::pmr::vector<float> col_sums =
        sum_cols_f32_cpu_dispatch(x.data(), rows, cols, &result);
    const std::pmr::vector<float> row_means =
        mean_rows_f32_cpu_dispatch(x.data(), rows, cols, &result);
    const std::pmr::vector<float> col_means =
        mean_cols_f32_cpu_dispatch(x.data(), rows, cols, &result);
    EXPECT_EQ(row_sums.get_allocator().resource(), &result);
    // One allocation per non-empty result, and nothing else: scratch went elsewhere.
    EXPECT_EQ(result.counters().allocations.value,
              2 * static_cast<std::size_t>(rows != 0) + 2 * static_cast<std::size_t>(cols != 0));
    EXPECT_EQ(result.counters().bytes.value, 2 * (rows + cols) * sizeof(float));

    const float* data = x.data();
    const auto eq = [](const std::pmr::vector<float>& a, const std::pmr::vector<float>& b) {
      return a.size() == b.size() &&
             std::equal(a.begin(), a.end(), b.begin(), [](float u, float v) {
               return u == v || (std::isnan(u) && std::isnan(v));
             });
    };
    EXPECT_TRUE(eq(row_sums, *ops::sum_f32_axis(data, rows, cols, 1)));
    EXPECT_TRUE(eq(col_sums, *ops::sum_f32_axis(data, rows, cols, 0)));
    EXPECT_TRUE(eq(row_means, *ops::mean_f32_axis(data, rows, cols, 1)));
    EXPECT_TRUE(eq(col_means, *ops::mean_f32_axis(data, rows, cols, 0)));
  }
}

TEST_F(DispatchKernelsTest, AMatrixDispatchMakesExactlyOneAllocationOnTheResultAndNoneBeyond) {
  using Entry = std::pmr::vector<float> (*)(const float*, std::size_t, std::size_t,
                                            std::pmr::memory_resource*);
  const struct {
    Entry entry;
    bool per_row;
  } entries[] = {{sum_rows_f32_cpu_dispatch, true},
                 {sum_cols_f32_cpu_dispatch, false},
                 {mean_rows_f32_cpu_dispatch, true},
                 {mean_cols_f32_cpu_dispatch, false}};
  // Small shapes run the serial kernels; 512 x 512 (1 MiB) the parallel ones.
  for (auto [rows, cols] :
       {std::pair<std::size_t, std::size_t>{3, 5}, {0, 4}, {4, 0}, {600, 700}, {512, 512}}) {
    const std::vector<float> x = ramp(rows * cols);
    for (const auto& e : entries) {
      SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols) +
                   (e.per_row ? " rows" : " cols"));
      const std::size_t n = e.per_row ? rows : cols;
      StatsResource result(std::pmr::new_delete_resource());
      {
        const std::pmr::vector<float> out = e.entry(x.data(), rows, cols, &result);
        ASSERT_EQ(out.size(), n);
        const StatsCounters c = result.counters();
        EXPECT_EQ(c.allocations.total, n != 0 ? 1u : 0u);
        EXPECT_EQ(c.bytes.total, n * sizeof(float));
        EXPECT_EQ(c.deallocations, 0u);
      }
      EXPECT_EQ(result.counters().deallocations, n != 0 ? 1u : 0u);
    }
  }
}

TEST_F(DispatchKernelsTest, AResultOnTheThreadArenaOutlivesTheOpsScope) {
  std::thread([] {
    const std::vector<float> x = ramp(64 * 48);
    with_arena([&](ArenaResource& arena) {
      const std::pmr::vector<float> sums = sum_cols_f32_cpu_dispatch(x.data(), 64, 48, &arena);
      const std::size_t used = arena.used();
      EXPECT_GE(used, 48 * sizeof(float));
      // More ops in the same scope reuse the arena above the result, never over it.
      const std::pmr::vector<float> again = sum_cols_f32_cpu_dispatch(x.data(), 64, 48, &arena);
      (void)sum_f32_compensated_cpu_dispatch(x.data(), x.size());
      EXPECT_EQ(sums, again);
      EXPECT_EQ(sums, *ops::sum_f32_axis(x.data(), 64, 48, 0));
    });
    EXPECT_EQ(arena_stats().used, 0u);
  }).join();
}

TEST_F(DispatchKernelsTest, BadShapesAreRefusedNamingTheEntryPoint) {
  const float x[4] = {1, 2, 3, 4};
  try {
    (void)sum_rows_f32_cpu_dispatch(nullptr, 2, 2);
    ADD_FAILURE() << "accepted null data";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("corepy::sum_rows_f32_cpu_dispatch"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("null"), std::string::npos) << e.what();
  }
  const std::size_t huge = std::size_t{1} << 40;
  try {
    (void)mean_cols_f32_cpu_dispatch(x, huge, huge);
    ADD_FAILURE() << "accepted a shape that overflows";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("corepy::mean_cols_f32_cpu_dispatch"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(sum_cols_f32_cpu_dispatch(nullptr, 0, 3) == std::pmr::vector<float>(3, 0.0f));
  EXPECT_EQ(op_stats()[static_cast<int>(Op::kSumRowsF32)].calls, 0u);  // refused before running
}

// The five original entry points go parallel from ops::kParallelMinBytes on: same answer as
// the serial kernel, and every thread's scratch from the configured resource.
TEST_F(DispatchKernelsTest, LargeInputsRunOnWorkersWithTheirOwnConfiguredScratch) {
  RecordingResource recording;
  register_recording("recording_parallel", &recording);
  Options o;
  o.allocator = "stats(recording_parallel)";
  ASSERT_TRUE(configure(o).ok());
  const std::size_t n = 8 * ops::kParallelMinBytes / sizeof(float);
  const std::vector<float> x = ramp(n);
  std::vector<std::int32_t> ints(n);
  for (std::size_t i = 0; i < n; ++i) ints[i] = static_cast<std::int32_t>(i * 2654435761u);
  std::vector<char> flags(n, 1);
  const bool* bools = reinterpret_cast<const bool*>(flags.data());
  tbb::task_arena two(2);
  two.execute([&] {
    for (int round = 0; round < 4; ++round) {
      EXPECT_EQ(sum_f32_cpu_dispatch(x.data(), n), ops::sum_f32(x));
      EXPECT_EQ(mean_f32_cpu_dispatch(x.data(), n), ops::mean_f32(x));
      EXPECT_EQ(sum_i32_cpu_dispatch(ints.data(), n), ops::sum_i32(ints));
      EXPECT_EQ(sum_f32_compensated_cpu_dispatch(x.data(), n), ops::sum_f32_compensated(x));
      EXPECT_TRUE(all_bool_cpu_dispatch(bools, n));
      EXPECT_TRUE(any_bool_cpu_dispatch(bools, n));
    }
  });
  // Chunk results and lane terms came from the configured allocator, on at least the calling
  // thread (a worker joins when the scheduler gives it a task), and all went back.
  EXPECT_GE(recording.threads(), 1u);
  EXPECT_GT(recording.allocations.load(), 0);
  EXPECT_EQ(recording.bytes_in_use.load(), 0);
}

// A thread with no scope open (a oneTBB worker) switches to a new configuration at its next
// task, but not while its arenas still hold memory of the old one.
TEST_F(DispatchKernelsTest, AWorkerThreadSwitchesConfigurationOnlyWhenItsArenasAreEmpty) {
  Options o;
  o.arena_size = 8192;
  ASSERT_TRUE(configure(o).ok());
  std::thread([&o] {
    std::pmr::memory_resource* first =
        internal::op_resource_outside_scope(Op::kSumF32, internal::resolved().get());
    EXPECT_EQ(first, &thread_arena());
    EXPECT_EQ(thread_arena().capacity(), 8192u);

    void* held = first->allocate(100, 8);  // a task of this thread still holds scratch
    o.arena_size = 16384;
    ASSERT_TRUE(configure(o).ok());
    EXPECT_EQ(internal::op_resource_outside_scope(Op::kSumF32, internal::resolved().get()), first);
    EXPECT_EQ(thread_arena().capacity(), 8192u);
    first->deallocate(held, 100, 8);

    std::pmr::memory_resource* second =
        internal::op_resource_outside_scope(Op::kSumF32, internal::resolved().get());
    EXPECT_EQ(second, &thread_arena());
    EXPECT_EQ(thread_arena().capacity(), 16384u);
  }).join();
}

// Issue 10, defect 6: a worker kept every configuration it switched away from until it exited
// (0.65 KiB per switch, unbounded). A task of an op whose caller uses a shared allocator now
// gets the caller's resource, which the caller's scope keeps alive: the worker keeps nothing.
TEST_F(DispatchKernelsTest, AWorkerKeepsNoConfigurationAliveAfterASwitch) {
  std::thread([] {
    for (int i = 0; i < 200; ++i) {
      Options o;
      o.allocator = i % 2 == 0 ? "system" : "stats(pool)";
      ASSERT_TRUE(configure(o).ok());
      std::shared_ptr<const internal::Resolved> caller = internal::resolved();
      const std::weak_ptr<const internal::Resolved> weak = caller;
      std::pmr::memory_resource* r = internal::op_resource_outside_scope(Op::kSumF32, caller.get());
      EXPECT_EQ(r, caller->strategy->shared);
      void* p = r->allocate(64, 8);
      r->deallocate(p, 64, 8);
      caller.reset();
      o.allocator = "arena";
      ASSERT_TRUE(configure(o).ok());
      // The arena configuration: this thread's own arena, and the shared one is gone.
      std::pmr::memory_resource* own =
          internal::op_resource_outside_scope(Op::kSumF32, internal::resolved().get());
      EXPECT_EQ(own, &thread_arena());
      ASSERT_TRUE(weak.expired()) << "switch " << i << " left the old configuration alive";
    }
  }).join();
}

}  // namespace
}  // namespace corepy
