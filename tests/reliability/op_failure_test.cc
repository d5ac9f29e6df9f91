// Allocation failure at every point of every op that allocates (issue #6, part 1): the
// compensated sums, the axis reductions and the parallel reductions, each with its memory from
// a FailingResource directly, from an ArenaResource over one (a tiny block, so the op must
// spill), and, for the parallel ones, from per-thread resources over one shared FailingResource.
// failure_points.h says what is checked at every point.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <memory_resource>
#include <new>
#include <string>
#include <vector>

#include "allocators/arena_resource.h"
#include "allocators/failing_resource.h"
#include "allocators/upstream_resources.h"
#include "gtest/gtest.h"
#include "oneapi/tbb/task_arena.h"
#include "ops/parallel_reduce.h"
#include "ops/reduce.h"
#include "ops/reduce_tensor.h"
#include "ops/tensor.h"
#include "tests/reliability/failure_points.h"
#include "tests/reliability/test_data.h"

namespace corepy::reliability {
namespace {

using ::corepy::testing::FailingResource;

constexpr std::size_t kChunk = std::size_t{1} << 16;  // floats per chunk (reduce.h)

// Bit for bit: the kernels' order is fixed, so a result after failures equals one before.
bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// The workers waited for at the end: Valgrind counts the stacks of threads still running at
// exit as lost.
class FinalizeTbbWorkers : public ::testing::Environment {
 public:
  void TearDown() override { EXPECT_TRUE(ops::finalize_parallel_workers()); }
};
::testing::Environment* const finalize_workers =
    ::testing::AddGlobalTestEnvironment(new FinalizeTbbWorkers);

// The two ways an op gets its memory in these tests (the parallel ones have a third, below).
enum class Memory { kFailing, kArenaOverFailing };

std::string name(Memory m) { return m == Memory::kFailing ? "failing" : "arena_over_failing"; }

class OpFailureTest : public ::testing::TestWithParam<Memory> {
 protected:
  void SetUp() override {
    if (GetParam() == Memory::kArenaOverFailing) {
      // A 64-byte block: every op's scratch spills to the failing upstream. Something is already
      // in it, so `used` starts above zero and a rewind too far would show.
      arena_ = std::make_unique<ArenaResource>(64, &failing_);
      (void)arena_->allocate(24, 8);
    }
  }
  void TearDown() override {
    arena_.reset();
    EXPECT_EQ(failing_.bytes_in_use(), 0u);
  }

  std::pmr::memory_resource* memory() {
    return arena_ != nullptr ? static_cast<std::pmr::memory_resource*>(arena_.get()) : &failing_;
  }
  // The area's tally name: "ops/<op>/<memory>".
  std::string area(const char* op) const {
    return std::string("ops/") + op + "/" + name(GetParam());
  }

  // With an arena, the op runs inside a scope, as the runtime runs every op (a mark, and a rewind
  // on return or throw): an arena keeps what is given back out of order, and its spill chunks,
  // until then, so that is where everything must be back.
  FailureLoop check(const char* op, const std::function<void()>& call) {
    return check_every_failure_point(area(op), failing_, arena_.get(), [&] {
      if (arena_ == nullptr) return call();
      struct Rewind {
        ArenaResource& arena;
        const Marker start;
        ~Rewind() { arena.rewind(start); }
      } scope{*arena_, arena_->mark()};
      call();
    });
  }

  FailingResource failing_{new_delete_upstream()};
  std::unique_ptr<ArenaResource> arena_;
};

TEST_P(OpFailureTest, CompensatedSumAndMean) {
  for (std::size_t n : {std::size_t{1000}, 3 * kChunk + 17}) {
    SCOPED_TRACE(n);
    const std::vector<float> x = random_floats(n, 1);
    const float sum = ops::sum_f32_compensated(x, new_delete_upstream());
    const float mean = ops::mean_f32_compensated(x, new_delete_upstream());
    const FailureLoop s = check("sum_f32_compensated", [&] {
      EXPECT_TRUE(same_bits(ops::sum_f32_compensated(x, memory()), sum));
    });
    const FailureLoop m = check("mean_f32_compensated", [&] {
      EXPECT_TRUE(same_bits(ops::mean_f32_compensated(x, memory()), mean));
    });
    // The lane terms at least, each of which must have failed once.
    EXPECT_GE(s.points, 2);
    EXPECT_GE(m.points, 2);
  }
}

template <class T>
std::vector<T> plain(const absl::StatusOr<std::pmr::vector<T>>& v) {
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? std::vector<T>(v->begin(), v->end()) : std::vector<T>();
}

TEST_P(OpFailureTest, AxisReductions) {
  // Tall enough for several levels of the column tree (16-row leaves), wide enough for tiles.
  struct Shape {
    std::size_t rows, cols;
  };
  for (Shape shape : {Shape{7, 5}, Shape{300, 70}, Shape{40, 3000}}) {
    SCOPED_TRACE(::testing::Message() << shape.rows << "x" << shape.cols);
    const std::vector<float> f = random_floats(shape.rows * shape.cols, 2);
    const std::vector<std::int32_t> i = random_ints(shape.rows * shape.cols, 3);
    for (int axis : {0, 1}) {
      SCOPED_TRACE(axis);
      auto* system = new_delete_upstream();
      const std::vector<float> sum =
          plain(ops::sum_f32_axis(f.data(), shape.rows, shape.cols, axis, system));
      const std::vector<float> mean =
          plain(ops::mean_f32_axis(f.data(), shape.rows, shape.cols, axis, system));
      const std::vector<std::int64_t> isum =
          plain(ops::sum_i32_axis(i.data(), shape.rows, shape.cols, axis, system));
      // Each call's result is destroyed inside the call, so the arena is back where it was.
      const FailureLoop a = check("sum_f32_axis", [&] {
        EXPECT_EQ(plain(ops::sum_f32_axis(f.data(), shape.rows, shape.cols, axis, memory())), sum);
      });
      const FailureLoop b = check("mean_f32_axis", [&] {
        EXPECT_EQ(plain(ops::mean_f32_axis(f.data(), shape.rows, shape.cols, axis, memory())),
                  mean);
      });
      const FailureLoop c = check("sum_i32_axis", [&] {
        EXPECT_EQ(plain(ops::sum_i32_axis(i.data(), shape.rows, shape.cols, axis, memory())), isum);
      });
      // The result at least (in an arena: a spill, since the block is full).
      EXPECT_GE(a.points, 2);
      EXPECT_GE(b.points, 2);
      EXPECT_GE(c.points, 2);
    }
  }
}

// The named forms take the result and the scratch from separate resources: each of them fails
// at every point, with the other one from the same memory or from the system.
TEST_P(OpFailureTest, RowAndColumnReductions) {
  using Named = absl::StatusOr<std::pmr::vector<float>> (*)(const float*, std::size_t, std::size_t,
                                                            std::pmr::memory_resource*,
                                                            std::pmr::memory_resource*);
  struct Op {
    const char* name;
    Named named;
    int axis;
    bool mean;
  };
  const Op named_ops[] = {{"sum_rows_f32", &ops::sum_rows_f32, 1, false},
                          {"sum_cols_f32", &ops::sum_cols_f32, 0, false},
                          {"mean_rows_f32", &ops::mean_rows_f32, 1, true},
                          {"mean_cols_f32", &ops::mean_cols_f32, 0, true}};
  const std::size_t rows = 300, cols = 70;
  const std::vector<float> f = random_floats(rows * cols, 7);
  auto* system = new_delete_upstream();
  for (const Op& op : named_ops) {
    SCOPED_TRACE(op.name);
    const std::vector<float> want =
        plain(op.mean ? ops::mean_f32_axis(f.data(), rows, cols, op.axis, system)
                      : ops::sum_f32_axis(f.data(), rows, cols, op.axis, system));
    const FailureLoop both = check(op.name, [&] {
      EXPECT_EQ(plain(op.named(f.data(), rows, cols, memory(), memory())), want);
    });
    const FailureLoop result_only = check(
        op.name, [&] { EXPECT_EQ(plain(op.named(f.data(), rows, cols, memory(), system)), want); });
    const FailureLoop scratch_only = check(
        op.name, [&] { EXPECT_EQ(plain(op.named(f.data(), rows, cols, system, memory())), want); });
    // Result and scratch (in an arena, one spill chunk may hold both).
    EXPECT_GE(both.points, GetParam() == Memory::kFailing ? 3 : 2);
    EXPECT_GE(result_only.points, 2);
    EXPECT_GE(scratch_only.points, 2);
  }
}

// Every N-D reduction, in each strategy (runs in place and converted, columns, one result split
// over threads), with the result and the scratch both on the failing memory: two allocations,
// each of which fails once.
TEST_P(OpFailureTest, TensorReductions) {
  const std::vector<float> f = random_floats(300 * 1000, 4);
  struct Case {
    const char* name;
    std::vector<std::int64_t> shape;
    std::vector<std::int64_t> axes;  // empty: all
    ops::DType dtype;
  };
  const Case cases[] = {
      {"rows", {30, 70}, {1}, ops::DType::kFloat32},
      {"columns", {300, 70}, {0}, ops::DType::kFloat32},
      {"converted runs", {30, 70}, {1}, ops::DType::kFloat16},
      {"one result over threads", {300, 1000}, {}, ops::DType::kFloat32},
  };
  for (const Case& c : cases) {
    for (std::int32_t r = 1; r <= static_cast<std::int32_t>(ops::Reduction::kCountNonzero); ++r) {
      const auto reduction = static_cast<ops::Reduction>(r);
      const bool arg = reduction == ops::Reduction::kArgmin || reduction == ops::Reduction::kArgmax;
      if (arg && c.axes.size() > 1) continue;
      SCOPED_TRACE(std::string(c.name) + " " + std::string(ops::reduction_name(reduction)));
      ops::ReduceOptions options;
      options.all_axes = c.axes.empty();
      options.axes = c.axes;
      ops::ParallelOptions parallel;
      parallel.min_parallel_bytes = 0;
      const ops::TensorView view(f.data(), c.dtype, c.shape);
      auto bytes = [](const ops::Tensor& t) {
        const char* p = static_cast<const char*>(t.data());
        return std::vector<char>(p, p + t.bytes());
      };
      absl::StatusOr<ops::Tensor> expected =
          ops::reduce(reduction, view, options, new_delete_upstream(), nullptr, parallel);
      ASSERT_TRUE(expected.ok()) << expected.status();
      const FailureLoop loop = check(ops::reduction_name(reduction).data(), [&] {
        absl::StatusOr<ops::Tensor> got =
            ops::reduce(reduction, view, options, memory(), memory(), parallel);
        ASSERT_TRUE(got.ok()) << got.status();
        EXPECT_EQ(bytes(*got), bytes(*expected));
      });
      absl::StatusOr<ops::ReducePlan> plan = ops::ReducePlan::make(reduction, view, options);
      EXPECT_GE(loop.points, plan->scratch_bytes(parallel) == 0 ? 1 : 2);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Memory, OpFailureTest,
                         ::testing::Values(Memory::kFailing, Memory::kArenaOverFailing),
                         [](const ::testing::TestParamInfo<Memory>& p) {
                           return p.param == Memory::kFailing ? "Failing" : "ArenaOverFailing";
                         });

// The parallel reductions take scratch from a per-thread provider, a plain function: these two
// hand each thread a resource over one shared FailingResource, so "the n-th allocation" is the
// n-th of all threads together.
FailingResource& shared_failing() {
  static FailingResource* f = new FailingResource(new_delete_upstream());  // outlives workers
  return *f;
}
// The shared resource itself (thread-safe): tasks give scratch back with plain deallocate calls.
std::pmr::memory_resource* failing_provider(const void*) { return &shared_failing(); }
// A thread's own arena with no block, so everything spills to the shared resource: tasks mark it
// and rewind it, spill chunks included.
std::pmr::memory_resource* arena_provider(const void*) {
  thread_local ArenaResource arena(0, &shared_failing());
  return &arena;
}

struct Provider {
  const char* name;
  ops::ScratchProvider get;
};

class ParallelFailureTest : public ::testing::TestWithParam<Provider> {
 protected:
  ops::ParallelOptions options() const {
    ops::ParallelOptions o;
    o.min_parallel_bytes = 0;  // split whatever can be split
    o.per_thread_scratch = GetParam().get;
    return o;
  }
  std::string area(const char* op, int threads) const {
    return std::string("ops/") + op + "/" + GetParam().name + "/threads" + std::to_string(threads);
  }

  // Every parallel entry point that allocates, on `threads` threads, each at every failure
  // point of the shared resource, which also serves the axis reductions' results.
  void check_all(int threads) {
    FailingResource& failing = shared_failing();
    const std::vector<float> x = random_floats(5 * kChunk + 3, 4);
    const std::vector<std::int32_t> xi = random_ints(5 * kChunk + 3, 5);
    const std::size_t rows = 3000, cols = 90;
    const std::vector<float> m = random_floats(rows * cols, 6);
    const ops::ParallelOptions o = options();
    auto* system = new_delete_upstream();
    // The serial results, which the parallel ones equal bit for bit (parallel_reduce.h).
    const float sum = ops::sum_f32(x);
    const float mean = ops::mean_f32(x);
    const std::int64_t isum = ops::sum_i32(xi);
    const float csum = ops::sum_f32_compensated(x, system);
    const float cmean = ops::mean_f32_compensated(x, system);
    const std::vector<float> cols_sum = plain(ops::sum_f32_axis(m.data(), rows, cols, 0, system));
    const std::vector<float> rows_mean = plain(ops::mean_f32_axis(m.data(), rows, cols, 1, system));
    tbb::task_arena arena(threads);
    arena.execute([&] {
      auto run = [&](const char* op, const std::function<void()>& call) {
        return check_every_failure_point(area(op, threads), failing, nullptr, call);
      };
      run("sum_f32_parallel", [&] { EXPECT_TRUE(same_bits(ops::sum_f32_parallel(x, o), sum)); });
      run("mean_f32_parallel", [&] { EXPECT_TRUE(same_bits(ops::mean_f32_parallel(x, o), mean)); });
      run("sum_i32_parallel", [&] { EXPECT_EQ(ops::sum_i32_parallel(xi, o), isum); });
      const FailureLoop c = run("sum_f32_compensated_parallel", [&] {
        EXPECT_TRUE(same_bits(ops::sum_f32_compensated_parallel(x, o), csum));
      });
      run("mean_f32_compensated_parallel",
          [&] { EXPECT_TRUE(same_bits(ops::mean_f32_compensated_parallel(x, o), cmean)); });
      const FailureLoop a = run("sum_f32_axis_parallel", [&] {
        EXPECT_EQ(plain(ops::sum_f32_axis_parallel(m.data(), rows, cols, 0, &failing, o)),
                  cols_sum);
      });
      const FailureLoop b = run("mean_f32_axis_parallel", [&] {
        EXPECT_EQ(plain(ops::mean_f32_axis_parallel(m.data(), rows, cols, 1, &failing, o)),
                  rows_mean);
      });
      // Scratch for the lane terms even on one thread; the axis results always.
      EXPECT_GE(c.points, 2);
      EXPECT_GE(a.points, 2);
      EXPECT_GE(b.points, 2);
    });
    EXPECT_EQ(failing.bytes_in_use(), 0u);
  }
};

// One thread: the order of allocations is the program's, so the n-th is the same every run.
TEST_P(ParallelFailureTest, OneThreadEveryPoint) { check_all(1); }

// Several threads: which allocation is the n-th depends on the scheduler, but at every point
// the failure must still reach the caller with nothing held.
TEST_P(ParallelFailureTest, SeveralThreadsEveryPoint) { check_all(4); }

INSTANTIATE_TEST_SUITE_P(Provider, ParallelFailureTest,
                         ::testing::Values(Provider{"shared_failing", &failing_provider},
                                           Provider{"thread_arena", &arena_provider}),
                         [](const ::testing::TestParamInfo<Provider>& p) {
                           return std::string(p.param.name) == "shared_failing" ? "SharedFailing"
                                                                                : "ThreadArena";
                         });

}  // namespace
}  // namespace corepy::reliability
