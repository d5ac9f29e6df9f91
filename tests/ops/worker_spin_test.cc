// ParallelOptions::worker_spin (ops/parallel_options.h): after a call that split, every entry
// leaves one spinning task per worker, and none when the call stayed serial, with worker_spin 0
// or less, with one thread, or from inside a oneTBB task. The next split call runs its ranges on
// them and the caller (the team), with the results the serial kernels give and any exception
// reaching the caller. A call with worker_spin 0 ends them, as do stop_spinning_workers(),
// finalize_parallel_workers() and fork(), after which neither parent nor child has one left.
// Whether spinning makes the next call faster is the benchmark's business
// (//tests/bench:reduce_tensor_benchmark's AfterIdle lines): no timing is asserted here. The
// one bound below is a deadline that must not be what ended the spinners (kMaxWorkerSpin, 1 s,
// against a poll of at most half that).
// tbb::is_inside_task(): a preview in oneTBB 2021.8.
#define TBB_PREVIEW_TASK_GROUP_EXTENSIONS 1

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <new>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "gtest/gtest.h"
#include "oneapi/tbb/global_control.h"
#include "oneapi/tbb/parallel_for.h"
#include "oneapi/tbb/task_arena.h"
#include "ops/parallel_options.h"
#include "ops/parallel_reduce.h"
#include "ops/reduce_tensor.h"
#include "ops/tensor.h"

namespace corepy::ops {
namespace {

using std::chrono::nanoseconds;

// Workers a call from this thread can keep spinning: the task arena's threads, within the
// process's limit, but the caller.
int workers() {
  const auto limit = static_cast<int>(
      tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism));
  return std::min(tbb::this_task_arena::max_concurrency(), limit) - 1;
}

ParallelOptions split(nanoseconds spin) {
  ParallelOptions o;
  o.min_parallel_bytes = 0;
  o.worker_spin = spin;
  return o;
}

// This file's tbb::parallel_for is built without ThreadSanitizer (BUILD.bazel says why), so the
// tool sees neither its fork nor its join. Under ThreadSanitizer these hooks state them, as
// ops/internal/parallel.h's ForkJoin does for corepy's own parallel calls; elsewhere the weak
// symbols are null and they do nothing.
extern "C" void __tsan_acquire(void* address) __attribute__((weak));
extern "C" void __tsan_release(void* address) __attribute__((weak));
void tsan_acquire(void* address) {
  if (__tsan_acquire != nullptr) __tsan_acquire(address);
}
void tsan_release(void* address) {
  if (__tsan_release != nullptr) __tsan_release(address);
}

// Whether spinning_workers() comes down to `want` within `limit`.
bool settles_at(int want, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (spinning_workers() != want) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::yield();
  }
  return true;
}

// At the end, the workers waited for: Valgrind counts the stacks of threads still running at
// exit as possibly lost.
class FinalizeWorkers : public ::testing::Environment {
 public:
  void TearDown() override { EXPECT_TRUE(finalize_parallel_workers()); }
};
::testing::Environment* const finalize_workers =
    ::testing::AddGlobalTestEnvironment(new FinalizeWorkers);

class WorkerSpinTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (workers() < 1) GTEST_SKIP() << "one thread: no worker to keep spinning";
    stop_spinning_workers();
    ASSERT_EQ(spinning_workers(), 0);
  }
  void TearDown() override {
    stop_spinning_workers();
    EXPECT_EQ(spinning_workers(), 0);
  }

  const std::vector<float> floats_ = std::vector<float>(std::size_t{1} << 20, 1.0f);
  const std::vector<std::int32_t> ints_ = std::vector<std::int32_t>(std::size_t{1} << 20, 3);
  // All true: all reads every chunk; any stops at the first, after the split.
  static constexpr std::size_t kBools = std::size_t{1} << 21;
  const std::unique_ptr<bool[]> bools_ = [] {
    auto b = std::make_unique<bool[]>(kBools);
    std::fill(b.get(), b.get() + kBools, true);
    return b;
  }();
  absl::Span<const bool> bools() const { return absl::Span<const bool>(bools_.get(), kBools); }
};

TEST_F(WorkerSpinTest, EverySplittingEntryLeavesOneSpinnerPerWorker) {
  const ParallelOptions o = split(kMaxWorkerSpin);
  const auto check = [&](const char* entry) {
    EXPECT_EQ(spinning_workers(), workers()) << entry;
    stop_spinning_workers();
    EXPECT_EQ(spinning_workers(), 0) << entry;
  };
  EXPECT_EQ(sum_f32_parallel(floats_, o), 1048576.0f);
  check("sum_f32_parallel");
  EXPECT_EQ(sum_i32_parallel(ints_, o), 3 * 1048576);
  check("sum_i32_parallel");
  EXPECT_TRUE(all_bool_parallel(bools(), o));
  check("all_bool_parallel");
  EXPECT_TRUE(any_bool_parallel(bools(), o));
  check("any_bool_parallel");
  EXPECT_EQ(sum_f32_compensated_parallel(floats_, o), 1048576.0f);
  check("sum_f32_compensated_parallel");
  for (int axis : {0, 1}) {
    absl::StatusOr<std::pmr::vector<float>> r =
        sum_f32_axis_parallel(floats_.data(), 1024, 1024, axis, nullptr, o);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ((*r)[0], 1024.0f);
    check(axis == 0 ? "sum_f32_axis_parallel axis 0" : "sum_f32_axis_parallel axis 1");
  }
  const std::int64_t shape[] = {64, 128, 128};
  ReduceOptions options;
  const std::int64_t axes[] = {0, 2};
  options.all_axes = false;
  options.axes = axes;
  absl::StatusOr<ReducePlan> plan = ReducePlan::make(
      Reduction::kSum, TensorView(floats_.data(), DType::kFloat32, shape), options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<float> out(128);
  execute(*plan, out.data(), std::pmr::new_delete_resource(), o);
  EXPECT_EQ(out[0], 64.0f * 128.0f);
  check("execute, (64, 128, 128) over (0, 2)");
}

TEST_F(WorkerSpinTest, NoSpinnerWithoutASplitOrWithoutASpin) {
  EXPECT_EQ(sum_f32_parallel(floats_, split(nanoseconds::zero())), 1048576.0f);
  EXPECT_EQ(spinning_workers(), 0) << "worker_spin 0";
  EXPECT_EQ(sum_f32_parallel(floats_, split(nanoseconds(-1))), 1048576.0f);
  EXPECT_EQ(spinning_workers(), 0) << "worker_spin -1 ns";
  EXPECT_EQ(sum_f32_parallel(floats_, split(nanoseconds::min())), 1048576.0f);
  EXPECT_EQ(spinning_workers(), 0) << "worker_spin at its minimum";
  ParallelOptions serial = split(kMaxWorkerSpin);
  serial.min_parallel_bytes = ~std::size_t{0};
  EXPECT_EQ(sum_f32_parallel(floats_, serial), 1048576.0f);
  EXPECT_EQ(spinning_workers(), 0) << "a call below the threshold";
  tbb::task_arena one(1);
  one.execute([&] { EXPECT_EQ(sum_f32_parallel(floats_, split(kMaxWorkerSpin)), 1048576.0f); });
  EXPECT_EQ(spinning_workers(), 0) << "a task arena of one thread";
  // From inside a oneTBB task, where the caller's own loop needs the workers.
  char forked = 0;
  char joined = 0;
  tsan_release(&forked);
  tbb::parallel_for(0, 4, [&](int) {
    tsan_acquire(&forked);
    EXPECT_EQ(sum_f32_parallel(floats_, split(kMaxWorkerSpin)), 1048576.0f);
    tsan_release(&joined);
  });
  tsan_acquire(&joined);
  EXPECT_EQ(spinning_workers(), 0) << "calls from a oneTBB task";
}

// A caller's own task arena (not a task): its workers spin as the default arena's do.
TEST_F(WorkerSpinTest, CallsInsideATaskArenaSpinItsWorkers) {
  tbb::task_arena two(2);
  two.execute([&] {
    EXPECT_EQ(sum_f32_parallel(floats_, split(kMaxWorkerSpin)), 1048576.0f);
    EXPECT_EQ(spinning_workers(), workers());
  });
}

// Spins beyond kMaxWorkerSpin, up to the largest duration, are taken as kMaxWorkerSpin: no
// overflow of the deadline, and still ended by what ends any other.
TEST_F(WorkerSpinTest, TheLongestSpinsAreCappedAndStillEnd) {
  for (nanoseconds spin :
       {kMaxWorkerSpin + nanoseconds(1), nanoseconds(std::int64_t{1} << 62), nanoseconds::max()}) {
    EXPECT_EQ(sum_f32_parallel(floats_, split(spin)), 1048576.0f);
    EXPECT_EQ(spinning_workers(), workers()) << spin.count();
    EXPECT_EQ(sum_f32_parallel(floats_, split(nanoseconds::zero())), 1048576.0f);
    EXPECT_TRUE(settles_at(0, std::chrono::milliseconds(500))) << spin.count();
  }
}

TEST_F(WorkerSpinTest, ACallWithoutSpinEndsThem) {
  EXPECT_EQ(sum_f32_parallel(floats_, split(kMaxWorkerSpin)), 1048576.0f);
  EXPECT_EQ(spinning_workers(), workers());
  EXPECT_EQ(sum_f32_parallel(floats_, split(nanoseconds::zero())), 1048576.0f);
  EXPECT_TRUE(settles_at(0, std::chrono::milliseconds(500)))
      << spinning_workers() << " still spinning";
}

// What a ScratchProvider sees of the threads that run a compensated sum's ranges (it is called
// once by the caller for the partials, then once by each range's thread).
struct Seen {
  std::mutex mutex;
  std::set<std::thread::id> threads;
  bool caller_inside_task = false;
  std::thread::id caller = std::this_thread::get_id();
  int calls = 0;
  int throw_from = 1 << 30;   // calls from this one on throw std::bad_alloc
  bool nested_split = false;  // each call runs a split sum itself
};

std::pmr::memory_resource* seeing_provider(const void* context) {
  Seen& seen = *static_cast<Seen*>(const_cast<void*>(context));
  bool throws = false;
  {
    std::lock_guard<std::mutex> lock(seen.mutex);
    seen.threads.insert(std::this_thread::get_id());
    if (std::this_thread::get_id() == seen.caller && seen.calls > 0) {
      seen.caller_inside_task = tbb::is_inside_task();
    }
    throws = seen.calls++ >= seen.throw_from;
  }
  if (throws) throw std::bad_alloc();
  if (seen.nested_split) {
    const std::vector<float> ones(std::size_t{1} << 18, 1.0f);
    ParallelOptions o;
    o.min_parallel_bytes = 0;
    if (sum_f32_parallel(ones, o) != 262144.0f) throw std::logic_error("nested split sum");
  }
  return std::pmr::new_delete_resource();
}

ParallelOptions seeing(Seen& seen, nanoseconds spin) {
  ParallelOptions o = split(spin);
  o.per_thread_scratch = &seeing_provider;
  o.scratch_context = &seen;
  return o;
}

// With spinners there, the call's ranges go to them and the caller, which runs its share
// outside any oneTBB task; without, to tbb::parallel_for, whose caller runs its share in tasks.
// Whether a spinner got a range before the caller took them all is the scheduler's business
// (under Valgrind, which runs one thread at a time, it may not): not asserted.
TEST_F(WorkerSpinTest, TheSpinnersTakePartInTheNextCall) {
  EXPECT_EQ(sum_f32_parallel(floats_, split(kMaxWorkerSpin)), 1048576.0f);
  ASSERT_EQ(spinning_workers(), workers());
  Seen team;
  EXPECT_EQ(sum_f32_compensated_parallel(floats_, seeing(team, kMaxWorkerSpin)), 1048576.0f);
  EXPECT_GE(team.calls, 2);
  EXPECT_FALSE(team.caller_inside_task) << "the caller ran its ranges in oneTBB tasks";
  EXPECT_LE(team.threads.size(), static_cast<std::size_t>(workers()) + 1);
  EXPECT_EQ(spinning_workers(), workers()) << "the team's call ended its spinners";

  stop_spinning_workers();
  Seen tbb;
  EXPECT_EQ(sum_f32_compensated_parallel(floats_, seeing(tbb, nanoseconds::zero())), 1048576.0f);
  EXPECT_TRUE(tbb.caller_inside_task) << "no spinner, yet the caller ran outside oneTBB";
  EXPECT_EQ(spinning_workers(), 0);
}

// The team gives what the serial kernels give, bit for bit, on every kind of split: rows,
// columns, tiles, the 1-D chunks.
TEST_F(WorkerSpinTest, TheTeamsResultsAreTheSerialOnes) {
  std::vector<float> x(std::size_t{1} << 20);
  for (std::size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<float>((i * 2654435761u) % 1000) / 7;
  ParallelOptions serial;
  serial.min_parallel_bytes = ~std::size_t{0};
  struct Shape {
    std::vector<std::int64_t> shape;
    std::vector<std::int64_t> axes;
  };
  const Shape shapes[] = {{{1024, 1024}, {0}},   {{1024, 1024}, {1}},      {{64, 4096}, {0}},
                          {{4096, 256}, {1}},    {{64, 128, 128}, {0, 2}}, {{128, 64, 128}, {1}},
                          {{16, 256, 256}, {0}}, {{1 << 20}, {0}}};
  for (const Shape& s : shapes) {
    ReduceOptions options;
    options.all_axes = false;
    options.axes = s.axes;
    absl::StatusOr<ReducePlan> plan =
        ReducePlan::make(Reduction::kSum, TensorView(x.data(), DType::kFloat32, s.shape), options);
    ASSERT_TRUE(plan.ok()) << plan.status();
    std::vector<char> want(plan->result_bytes());
    std::vector<char> got(plan->result_bytes());
    execute(*plan, want.data(), std::pmr::new_delete_resource(), serial);
    for (int round = 0; round < 3; ++round) {  // the first leaves the spinners, the rest use them
      std::fill(got.begin(), got.end(), 0);
      execute(*plan, got.data(), std::pmr::new_delete_resource(), split(kMaxWorkerSpin));
      EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size()), 0)
          << "shape of " << s.shape.size() << " dims, " << s.shape[0] << " first, round " << round;
    }
  }
  const float want = sum_f32_parallel(x, serial);
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(sum_f32_parallel(x, split(kMaxWorkerSpin)), want) << round;
  }
}

// A range that throws, on whichever thread of the team runs it, stops the call, and its
// exception reaches the caller after every range under way has ended; the spinners go on.
TEST_F(WorkerSpinTest, AnExceptionInTheTeamReachesTheCaller) {
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(sum_f32_parallel(floats_, split(kMaxWorkerSpin)), 1048576.0f);
    Seen seen;
    seen.throw_from = 1;  // the caller's first call (the partials) goes through
    EXPECT_THROW(sum_f32_compensated_parallel(floats_, seeing(seen, kMaxWorkerSpin)),
                 std::bad_alloc);
    EXPECT_LE(spinning_workers(), workers());
    Seen after;
    EXPECT_EQ(sum_f32_compensated_parallel(floats_, seeing(after, kMaxWorkerSpin)), 1048576.0f);
  }
}

// A range that splits again (here, a scratch provider that runs a split sum) runs that split on
// its own thread, in order: same result, no other thread drawn in, no wait on the team.
TEST_F(WorkerSpinTest, ASplitInsideTheTeamRunsInOrder) {
  EXPECT_EQ(sum_f32_parallel(floats_, split(kMaxWorkerSpin)), 1048576.0f);
  Seen seen;
  seen.nested_split = true;
  EXPECT_EQ(sum_f32_compensated_parallel(floats_, seeing(seen, kMaxWorkerSpin)), 1048576.0f);
  EXPECT_FALSE(seen.caller_inside_task);
}

TEST_F(WorkerSpinTest, SpinnersNeverOutnumberTheWorkers) {
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(sum_f32_parallel(floats_, split(kMaxWorkerSpin)), 1048576.0f);
    EXPECT_LE(spinning_workers(), workers());
  }
  EXPECT_GE(spinning_workers(), 1);
}

TEST_F(WorkerSpinTest, CallsFromSeveralThreadsKeepTheCountRight) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(sum_f32_parallel(floats_, split(std::chrono::microseconds(50 * (i % 3)))),
                  1048576.0f);
        EXPECT_LE(spinning_workers(), workers());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  stop_spinning_workers();
  EXPECT_EQ(spinning_workers(), 0);
}

TEST_F(WorkerSpinTest, FinalizeEndsThemFirst) {
  EXPECT_EQ(sum_f32_parallel(floats_, split(kMaxWorkerSpin)), 1048576.0f);
  EXPECT_EQ(spinning_workers(), workers());
  EXPECT_TRUE(finalize_parallel_workers());
  EXPECT_EQ(spinning_workers(), 0);
  // Workers start again, and spin again.
  EXPECT_EQ(sum_f32_parallel(floats_, split(kMaxWorkerSpin)), 1048576.0f);
  EXPECT_EQ(spinning_workers(), workers());
}

// fork() waits for the spinners in its prepare handler: neither side has one after it, and
// the child (which has none of the parent's workers) exits through the static destructors,
// which would wait for any left, without waiting.
TEST_F(WorkerSpinTest, ForkEndsThemOnBothSides) {
  EXPECT_EQ(sum_f32_parallel(floats_, split(kMaxWorkerSpin)), 1048576.0f);
  EXPECT_EQ(spinning_workers(), workers());
  const pid_t pid = fork();
  ASSERT_NE(pid, -1);
  if (pid == 0) std::exit(spinning_workers() == 0 ? 0 : 3);
  EXPECT_EQ(spinning_workers(), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child had spinners left";
  EXPECT_EQ(sum_f32_parallel(floats_, split(kMaxWorkerSpin)), 1048576.0f);
  EXPECT_EQ(spinning_workers(), workers());
}

}  // namespace
}  // namespace corepy::ops
