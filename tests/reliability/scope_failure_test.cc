// Allocation failure at every point of the thread-local scopes (issue #6, part 1): corepy is
// configured with a small arena whose upstream is a registered allocator backed by a
// FailingResource, so the thread arena's block, an op's own arena and every spill inside
// with_arena, ArenaScope and the dispatch entry points come from it and fail in turn. Through
// the C ABI the failure arrives as COREPY_ERROR_OUT_OF_MEMORY. failure_points.h says what is
// checked at every point.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <memory_resource>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "absl/types/span.h"
#include "allocators/arena_resource.h"
#include "allocators/failing_resource.h"
#include "allocators/upstream_resources.h"
#include "corepy/arena.h"
#include "corepy/c_api.h"
#include "corepy/config.h"
#include "corepy/dispatch.h"
#include "corepy/registry.h"
#include "gtest/gtest.h"
#include "ops/reduce.h"
#include "tests/reliability/failure_points.h"
#include "tests/reliability/test_data.h"

namespace corepy::reliability {
namespace {

using ::corepy::testing::FailingResource;

constexpr std::size_t kArenaSize = 4096;

// Registered once as "rel_failing": shared by every thread's arena, never destroyed.
FailingResource& failing_upstream() {
  static FailingResource* r = [] {
    auto* resource = new FailingResource(new_delete_upstream());
    const absl::Status s = register_allocator("rel_failing", [resource](const AllocatorArgs&) {
      return std::shared_ptr<std::pmr::memory_resource>(resource, [](auto*) {});
    });
    EXPECT_TRUE(s.ok()) << s;
    return resource;
  }();
  return *r;
}

// Runs f on a thread of its own and rethrows what it threw: the thread's first scope builds its
// arena, and its exit gives everything back.
template <class F>
void on_new_thread(F&& f) {
  std::exception_ptr error;
  std::thread([&] {
    try {
      f();
    } catch (...) {
      error = std::current_exception();
    }
  }).join();
  if (error) std::rethrow_exception(error);
}

// Fills [p, p + n) with a pattern from `seed`, and checks it: an allocation that overlapped
// another, or memory handed out twice, shows.
void fill(void* p, std::size_t n, unsigned char seed) {
  std::memset(p, seed, n);
}
void expect_filled(const void* p, std::size_t n, unsigned char seed) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) {
    if (b[i] != seed) {
      ADD_FAILURE() << "byte " << i << " of " << n << " is " << int{b[i]} << ", not "
                    << int{seed};
      return;
    }
  }
}

// Nested scopes that fit, spill into a shared chunk, and spill into a chunk of their own.
void nested_scopes() {
  with_arena([](ArenaResource& arena) {
    void* small = arena.allocate(1000, 16);  // fits in the block
    fill(small, 1000, 1);
    with_arena([](ArenaResource& inner) {
      void* spill = inner.allocate(6000, 64);  // a spill chunk
      fill(spill, 6000, 2);
      {
        ArenaScope scope;
        void* big = scope.arena().allocate(100000, 4096);  // a chunk of its own
        fill(big, 100000, 3);
        expect_filled(spill, 6000, 2);
        expect_filled(big, 100000, 3);
      }
      expect_filled(spill, 6000, 2);
    });
    expect_filled(small, 1000, 1);
  });
}

class ScopeFailureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    failing_upstream();
    Options o;
    o.allocator = "arena(upstream=rel_failing)";
    o.arena_size = kArenaSize;
    o.arena_max_size = 0;  // no self-tuning: it would absorb a refusal by design
    ASSERT_TRUE(configure(o).ok());
  }
  void TearDown() override {
    reset_configuration();
    EXPECT_EQ(failing_upstream().bytes_in_use(), 0u);
  }
};

TEST_F(ScopeFailureTest, SpillsInNestedScopesOnAThreadWithItsArena) {
  on_new_thread([] {
    ArenaScope outer;  // something in the arena already, so `used` starts above zero
    (void)outer.arena().allocate(100, 8);
    const FailureLoop loop = check_every_failure_point(
        "scopes/with_arena+ArenaScope", failing_upstream(), &outer.arena(), nested_scopes);
    EXPECT_GE(loop.points, 3);  // the shared spill chunk, the dedicated one, then none
  });
}

TEST_F(ScopeFailureTest, TheFirstScopeOfAThreadBuildsItsArena) {
  // Each run on a new thread: the arena's block is the first failure point. Once the thread
  // has gone, its arena has given everything back, so the balance is checked against zero.
  const FailureLoop loop = check_every_failure_point(
      "scopes/first_scope_of_a_thread", failing_upstream(), nullptr,
      [] { on_new_thread(nested_scopes); });
  EXPECT_GE(loop.points, 4);  // the block, then as above
}

TEST_F(ScopeFailureTest, AConfigurationChangeRebuildsTheArenaAtTheNextScope) {
  on_new_thread([] {
    nested_scopes();  // the thread's arena exists
    const FailureLoop loop = check_every_failure_point(
        "scopes/rebuild_after_configure", failing_upstream(), nullptr, [] {
          // A new configuration (the same settings: still a new generation): configure()
          // builds the arena once to check it (refusing, and changing nothing, when the
          // upstream cannot serve it), then the next outermost scope builds a new arena, the
          // old one going once that has worked.
          Options o;
          o.arena_size = kArenaSize;
          const absl::Status s = configure(o);
          if (s.code() == absl::StatusCode::kResourceExhausted) throw std::bad_alloc();
          ASSERT_TRUE(s.ok()) << s;
          nested_scopes();
          EXPECT_EQ(arena_stats().capacity, kArenaSize);
        });
    EXPECT_GE(loop.points, 4);
  });
}

// The dispatch entry points allocate nothing of their own; what they need is their scope: the
// thread's arena and, with a configured size, the op's own arena, each built on first use. These
// ops' kernels take no scratch on their serial path, so only the thread's first dispatch (which
// finds its runtime not yet made) opens a scope: it builds the thread's arena and sum_f32's; the
// calls after it run without one and build nothing (corepy/dispatch.cc).
class DispatchFailureTest : public ScopeFailureTest {
 protected:
  void SetUp() override {
    ScopeFailureTest::SetUp();
    Options o;
    o.op_arena_sizes = "sum_f32=8KiB,mean_f32=8KiB";
    ASSERT_TRUE(configure(o).ok());
  }

  const std::vector<float> f_ = random_floats(10000, 11);
  const std::vector<std::int32_t> i_ = random_ints(10000, 12);
  const std::unique_ptr<bool[]> b_ = random_bools(1000, 13, 0.5);
  const float sum_ = ops::sum_f32(f_);
  const float mean_ = ops::mean_f32(f_);
  const std::int64_t isum_ = ops::sum_i32(i_);
};

TEST_F(DispatchFailureTest, EveryEntryPointOnANewThread) {
  const FailureLoop loop = check_every_failure_point(
      "scopes/dispatch", failing_upstream(), nullptr, [&] {
        on_new_thread([&] {
          EXPECT_EQ(sum_f32_cpu_dispatch(f_.data(), f_.size()), sum_);
          EXPECT_EQ(sum_i32_cpu_dispatch(i_.data(), i_.size()), isum_);
          EXPECT_EQ(mean_f32_cpu_dispatch(f_.data(), f_.size()), mean_);
          EXPECT_EQ(all_bool_cpu_dispatch(b_.get(), 1000), ops::all_bool(absl::Span<const bool>(b_.get(), 1000)));
          EXPECT_EQ(any_bool_cpu_dispatch(b_.get(), 1000), ops::any_bool(absl::Span<const bool>(b_.get(), 1000)));
          EXPECT_EQ(arena_stats().used, 0u);
        });
      });
  EXPECT_EQ(loop.points, 3);  // the thread's arena, sum_f32's, then none
}

// The C ABI turns the same failures into COREPY_ERROR_OUT_OF_MEMORY with the allocator's
// message; here that code is turned back into std::bad_alloc for the loop.
void c_status(int rc) {
  if (rc == COREPY_ERROR_OUT_OF_MEMORY) {
    EXPECT_NE(std::string(corepy_last_error()).find("cannot allocate"), std::string::npos)
        << corepy_last_error();
    throw std::bad_alloc();
  }
  ASSERT_EQ(rc, COREPY_OK) << corepy_error_string(rc) << ": " << corepy_last_error();
}

TEST_F(DispatchFailureTest, TheCAbiReturnsOutOfMemory) {
  const FailureLoop loop = check_every_failure_point(
      "scopes/c_api", failing_upstream(), nullptr, [&] {
        on_new_thread([&] {
          float fs = -1;
          c_status(corepy_sum_f32(f_.data(), f_.size(), &fs));
          EXPECT_EQ(fs, sum_);
          std::int64_t is = -1;
          c_status(corepy_sum_i32(i_.data(), i_.size(), &is));
          EXPECT_EQ(is, isum_);
          float fm = -1;
          c_status(corepy_mean_f32(f_.data(), f_.size(), &fm));
          EXPECT_EQ(fm, mean_);
          bool all = false, any = false;
          c_status(corepy_all_bool(b_.get(), 1000, &all));
          c_status(corepy_any_bool(b_.get(), 1000, &any));
          EXPECT_EQ(all, ops::all_bool(absl::Span<const bool>(b_.get(), 1000)));
          EXPECT_EQ(any, ops::any_bool(absl::Span<const bool>(b_.get(), 1000)));
          corepy_arena_stats_t stats{};
          c_status(corepy_arena_stats(&stats));
          EXPECT_EQ(stats.capacity, kArenaSize);
        });
      });
  EXPECT_EQ(loop.points, 3);
}

// The entry points whose kernels take scratch: the compensated sums (lane terms) and the row
// and column reductions (a tile, a tree of partial rows), whose results are built on a resource
// of the caller's, here the failing one too. Sizes stay below ops::kParallelMinBytes, so each
// call runs on the calling thread (on oneTBB workers, their own thread arenas would be built,
// from the same upstream, and kept until the workers exit).
class ScratchDispatchFailureTest : public ScopeFailureTest {
 protected:
  struct Matrix {
    std::size_t rows, cols;
    std::vector<float> data;
  };
  const std::vector<float> f_ = random_floats(100000, 21);
  const Matrix tall_{2000, 40, random_floats(2000 * 40, 22)};   // rows: a 8000-byte tile
  const Matrix wide_{400, 300, random_floats(400 * 300, 23)};   // cols: 5 levels x 300 floats
  std::pmr::memory_resource* system_ = new_delete_upstream();
  const float csum_ = ops::sum_f32_compensated(f_, system_);
  const float cmean_ = ops::mean_f32_compensated(f_, system_);
  const std::vector<float> rows_sum_ = plain(ops::sum_rows_f32(tall_.data.data(), 2000, 40, system_));
  const std::vector<float> rows_mean_ = plain(ops::mean_rows_f32(tall_.data.data(), 2000, 40, system_));
  const std::vector<float> cols_sum_ = plain(ops::sum_cols_f32(wide_.data.data(), 400, 300, system_));
  const std::vector<float> cols_mean_ = plain(ops::mean_cols_f32(wide_.data.data(), 400, 300, system_));

  static std::vector<float> plain(const absl::StatusOr<std::pmr::vector<float>>& v) {
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? std::vector<float>(v->begin(), v->end()) : std::vector<float>();
  }
  static std::vector<float> plain(const std::pmr::vector<float>& v) {
    return std::vector<float>(v.begin(), v.end());
  }
};

TEST_F(ScratchDispatchFailureTest, EveryEntryPointOnANewThread) {
  FailingResource& failing = failing_upstream();
  const FailureLoop loop = check_every_failure_point(
      "scopes/dispatch_with_scratch", failing, nullptr, [&] {
        on_new_thread([&] {
          EXPECT_EQ(sum_f32_compensated_cpu_dispatch(f_.data(), f_.size()), csum_);
          EXPECT_EQ(mean_f32_compensated_cpu_dispatch(f_.data(), f_.size()), cmean_);
          EXPECT_EQ(plain(sum_rows_f32_cpu_dispatch(tall_.data.data(), 2000, 40, &failing)),
                    rows_sum_);
          EXPECT_EQ(plain(mean_rows_f32_cpu_dispatch(tall_.data.data(), 2000, 40, &failing)),
                    rows_mean_);
          EXPECT_EQ(plain(sum_cols_f32_cpu_dispatch(wide_.data.data(), 400, 300, &failing)),
                    cols_sum_);
          EXPECT_EQ(plain(mean_cols_f32_cpu_dispatch(wide_.data.data(), 400, 300, &failing)),
                    cols_mean_);
          EXPECT_EQ(arena_stats().used, 0u);
          EXPECT_EQ(arena_stats().overflow_bytes, 0u);
        });
      });
  // The thread's arena, then per matrix call a result and a spilled scratch.
  EXPECT_GE(loop.points, 10);
}

TEST_F(ScratchDispatchFailureTest, TheCAbiReturnsOutOfMemory) {
  const FailureLoop loop = check_every_failure_point(
      "scopes/c_api_with_scratch", failing_upstream(), nullptr, [&] {
        on_new_thread([&] {
          float s = -1, m = -1;
          c_status(corepy_sum_f32_compensated(f_.data(), f_.size(), &s));
          c_status(corepy_mean_f32_compensated(f_.data(), f_.size(), &m));
          EXPECT_EQ(s, csum_);
          EXPECT_EQ(m, cmean_);
          std::vector<float> out(2000);
          c_status(corepy_sum_rows_f32(tall_.data.data(), 2000, 40, out.data()));
          EXPECT_EQ(out, rows_sum_);
          c_status(corepy_mean_rows_f32(tall_.data.data(), 2000, 40, out.data()));
          EXPECT_EQ(out, rows_mean_);
          out.resize(300);
          c_status(corepy_sum_cols_f32(wide_.data.data(), 400, 300, out.data()));
          EXPECT_EQ(out, cols_sum_);
          c_status(corepy_mean_cols_f32(wide_.data.data(), 400, 300, out.data()));
          EXPECT_EQ(out, cols_mean_);
        });
      });
  EXPECT_GE(loop.points, 5);  // the thread's arena, then each matrix call's spilled scratch
}

}  // namespace
}  // namespace corepy::reliability
