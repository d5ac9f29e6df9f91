#include "allocators/stats_resource.h"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/cleanup/cleanup.h"
#include "absl/debugging/symbolize.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "allocators/failing_resource.h"
#include "allocators/upstream_resources.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/allocators/resource_test_suite.h"

namespace corepy {
namespace {

using ::corepy::testing::FailingResource;
using ::corepy::testing::for_each_failure_point;
using ::corepy::testing::ResourceTest;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::string ptr(const void* p) { return absl::StrFormat("%p", p); }

void expect_counters_eq(const StatsCounters& a, const StatsCounters& b) {
  EXPECT_EQ(a.bytes.value, b.bytes.value);
  EXPECT_EQ(a.bytes.peak, b.bytes.peak);
  EXPECT_EQ(a.bytes.total, b.bytes.total);
  EXPECT_EQ(a.allocations.value, b.allocations.value);
  EXPECT_EQ(a.allocations.peak, b.allocations.peak);
  EXPECT_EQ(a.allocations.total, b.allocations.total);
  EXPECT_EQ(a.deallocations, b.deallocations);
  EXPECT_EQ(a.mismatches, b.mismatches);
}

StatsResource::Options with_stacks(int max_frames = 16) {
  StatsResource::Options options;
  options.record_stacks = true;
  options.max_frames = max_frames;
  return options;
}

void expect_all_returned(std::pmr::memory_resource& r) {
  const auto& stats = static_cast<StatsResource&>(r);
  EXPECT_EQ(stats.counters().mismatches, 0u) << "the suite deallocated wrongly";
  EXPECT_EQ(stats.counters().bytes.value, 0u) << stats.leak_report();
  EXPECT_EQ(stats.leak_report(), "no live allocations");
}

INSTANTIATE_TEST_SUITE_P(
    Stats, ResourceTest,
    ::testing::Values(corepy::testing::ResourceCase{"StatsOverNewDelete",
                                                    [] {
                                                      return std::make_shared<StatsResource>(
                                                          new_delete_upstream());
                                                    },
                                                    expect_all_returned},
                      corepy::testing::ResourceCase{"StatsWithStacksOverNewDelete",
                                                    [] {
                                                      return std::make_shared<StatsResource>(
                                                          new_delete_upstream(), with_stacks());
                                                    },
                                                    expect_all_returned}),
    corepy::testing::ResourceCaseName);

TEST(StatsResource, CountsValuePeakAndTotal) {
  StatsResource stats(new_delete_upstream());
  EXPECT_EQ(stats.upstream(), new_delete_upstream());
  void* a = stats.allocate(64, 16);
  void* b = stats.allocate(32, 8);
  StatsCounters c = stats.counters();
  EXPECT_EQ(c.bytes.value, 96u);
  EXPECT_EQ(c.bytes.peak, 96u);
  EXPECT_EQ(c.bytes.total, 96u);
  EXPECT_EQ(c.allocations.value, 2u);
  EXPECT_EQ(c.allocations.total, 2u);

  stats.deallocate(a, 64, 16);
  void* d = stats.allocate(16, 8);
  c = stats.counters();
  EXPECT_EQ(c.bytes.value, 48u);
  EXPECT_EQ(c.bytes.peak, 96u);
  EXPECT_EQ(c.bytes.total, 112u);
  EXPECT_EQ(c.allocations.value, 2u);
  EXPECT_EQ(c.allocations.peak, 2u);
  EXPECT_EQ(c.allocations.total, 3u);
  EXPECT_EQ(c.deallocations, 1u);
  EXPECT_EQ(c.mismatches, 0u);

  stats.deallocate(b, 32, 8);
  stats.deallocate(d, 16, 8);
  c = stats.counters();
  EXPECT_EQ(c.bytes.value, 0u);
  EXPECT_EQ(c.allocations.value, 0u);
  EXPECT_EQ(c.deallocations, 3u);
}

TEST(StatsResource, LiveAllocationsAndLeakReport) {
  StatsResource stats(new_delete_upstream());
  EXPECT_EQ(stats.leak_report(), "no live allocations");
  void* a = stats.allocate(64, 16);
  void* b = stats.allocate(32, 8);

  std::vector<LiveAllocation> live = stats.live_allocations();
  ASSERT_EQ(live.size(), 2u);
  EXPECT_TRUE(std::less<void*>()(live[0].pointer, live[1].pointer)) << "sorted by address";
  const LiveAllocation& la = live[0].pointer == a ? live[0] : live[1];
  const LiveAllocation& lb = live[0].pointer == a ? live[1] : live[0];
  EXPECT_EQ(la.pointer, a);
  EXPECT_EQ(la.bytes, 64u);
  EXPECT_EQ(la.alignment, 16u);
  EXPECT_EQ(lb.pointer, b);
  EXPECT_EQ(lb.bytes, 32u);
  EXPECT_EQ(lb.alignment, 8u);

  const std::string report = stats.leak_report();
  EXPECT_THAT(report, StartsWith("2 live allocations, 96 bytes: "));
  EXPECT_THAT(report, HasSubstr(ptr(a) + " 64 bytes align 16"));
  EXPECT_THAT(report, HasSubstr(ptr(b) + " 32 bytes align 8"));

  stats.deallocate(a, 64, 16);
  EXPECT_THAT(stats.leak_report(), StartsWith("1 live allocation, 32 bytes: " + ptr(b)));
  stats.deallocate(b, 32, 8);
  EXPECT_TRUE(stats.live_allocations().empty());
}

TEST(StatsResource, LeakReportListsAtMostKMaxReported) {
  StatsResource stats(new_delete_upstream());
  std::vector<void*> ps;
  for (std::size_t i = 0; i < StatsResource::kMaxReported + 3; ++i) {
    ps.push_back(stats.allocate(1, 1));
  }
  const std::string report = stats.leak_report();
  EXPECT_THAT(report, HasSubstr("; ... and 3 more"));
  EXPECT_EQ(std::count(report.begin(), report.end(), ';'), StatsResource::kMaxReported);
  for (void* p : ps) stats.deallocate(p, 1, 1);
}

TEST(StatsResource, WrongSizeIsReportedAndDeallocatedAsAllocated) {
  FailingResource upstream(new_delete_upstream());
  StatsResource stats(&upstream);
  void* p = stats.allocate(64, 16);
  ::testing::internal::CaptureStderr();
  stats.deallocate(p, 32, 16);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(stats.counters().mismatches, 1u);
  EXPECT_THAT(err, HasSubstr("corepy::StatsResource: deallocate(" + ptr(p) +
                             ", 32 bytes, alignment 16) does not match its allocation (64 "
                             "bytes, alignment 16)"));
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << "one line: " << err;
  // The upstream got the original size back: nothing leaked, nothing freed twice.
  EXPECT_EQ(upstream.bytes_in_use(), 0u);
  EXPECT_EQ(upstream.allocations_in_use(), 0u);
  EXPECT_EQ(stats.counters().bytes.value, 0u);
  EXPECT_EQ(stats.counters().deallocations, 1u);
  EXPECT_TRUE(stats.live_allocations().empty());
}

TEST(StatsResource, WrongAlignmentIsReportedAndDeallocatedAsAllocated) {
  FailingResource upstream(new_delete_upstream());
  StatsResource stats(&upstream);
  void* p = stats.allocate(100, 64);
  ::testing::internal::CaptureStderr();
  stats.deallocate(p, 100, 8);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(stats.counters().mismatches, 1u);
  EXPECT_THAT(err, HasSubstr("deallocate(" + ptr(p) +
                             ", 100 bytes, alignment 8) does not match "
                             "its allocation (100 bytes, alignment 64)"));
  EXPECT_EQ(upstream.bytes_in_use(), 0u);
  EXPECT_EQ(upstream.allocations_in_use(), 0u);
}

TEST(StatsResource, UnknownPointerIsReportedAndNotPassedOn) {
  FailingResource upstream(new_delete_upstream());
  StatsResource stats(&upstream);
  void* kept = stats.allocate(8, 8);
  alignas(16) static unsigned char not_ours[16];
  ::testing::internal::CaptureStderr();
  stats.deallocate(not_ours, 16, 16);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr("deallocate(" + ptr(not_ours) +
                             ", 16 bytes, alignment 16): pointer not allocated by this resource"));
  EXPECT_EQ(stats.counters().mismatches, 1u);
  EXPECT_EQ(upstream.allocations_in_use(), 1u) << "not passed to the upstream";

  // A double deallocation is the same mistake the second time.
  stats.deallocate(kept, 8, 8);
  ::testing::internal::CaptureStderr();
  stats.deallocate(kept, 8, 8);
  err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr("or already deallocated"));
  EXPECT_EQ(stats.counters().mismatches, 2u);
  EXPECT_EQ(stats.counters().deallocations, 1u);
  EXPECT_EQ(upstream.allocations_in_use(), 0u);
}

// An upstream that gives a 0-byte request the address the next request will get, as a bump
// arena may.
class AliasingZeroResource final : public std::pmr::memory_resource {
 public:
  std::size_t live = 0;

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    const auto base = reinterpret_cast<std::uintptr_t>(buffer_);
    const std::uintptr_t at = (base + cur_ + alignment - 1) & ~(alignment - 1);
    cur_ = at - base + bytes;
    ++live;
    return reinterpret_cast<void*>(at);
  }
  void do_deallocate(void*, std::size_t, std::size_t) noexcept override { --live; }
  bool do_is_equal(const std::pmr::memory_resource& o) const noexcept override {
    return this == &o;
  }
  unsigned char buffer_[1024];
  std::size_t cur_ = 0;
};

TEST(StatsResource, SeveralLiveAllocationsAtOneAddress) {
  AliasingZeroResource upstream;
  StatsResource stats(&upstream);
  void* empty = stats.allocate(0, 8);
  void* full = stats.allocate(24, 8);
  ASSERT_EQ(empty, full) << "premise of the test";
  EXPECT_EQ(stats.live_allocations().size(), 2u);
  EXPECT_THAT(stats.leak_report(), StartsWith("2 live allocations, 24 bytes: "));
  stats.deallocate(empty, 0, 8);  // in either order, each matches its own record
  EXPECT_EQ(stats.live_allocations().size(), 1u);
  EXPECT_EQ(stats.live_allocations()[0].bytes, 24u);
  stats.deallocate(full, 24, 8);
  EXPECT_EQ(stats.counters().mismatches, 0u);
  EXPECT_EQ(stats.counters().bytes.value, 0u);
  EXPECT_EQ(upstream.live, 0u);
}

TEST(StatsResource, BadAlignmentThrowsWithoutTouchingTheUpstream) {
  FailingResource upstream(new_delete_upstream());
  StatsResource stats(&upstream);
  EXPECT_THROW(static_cast<void>(stats.allocate(8, 3)), std::invalid_argument);
  EXPECT_THROW(static_cast<void>(stats.allocate(8, 0)), std::invalid_argument);
  EXPECT_EQ(upstream.allocations_attempted(), 0u);
  expect_counters_eq(stats.counters(), StatsCounters{});
}

TEST(StatsResource, UpstreamFailureLeavesCountersUnchanged) {
  FailingResource upstream(new_delete_upstream());
  StatsResource stats(&upstream);
  void* p = stats.allocate(40, 8);
  const StatsCounters before = stats.counters();
  upstream.fail_at(0);
  EXPECT_THROW(static_cast<void>(stats.allocate(1000, 8)), std::bad_alloc);
  expect_counters_eq(stats.counters(), before);
  EXPECT_EQ(stats.live_allocations().size(), 1u);
  stats.deallocate(p, 40, 8);
}

TEST(StatsResource, NullUpstreamIsRejected) {
  EXPECT_THROW(StatsResource(nullptr), std::invalid_argument);
}

TEST(StatsResource, IsEqualOnlyToItself) {
  StatsResource a(new_delete_upstream());
  StatsResource b(new_delete_upstream());
  EXPECT_TRUE(a.is_equal(a));
  EXPECT_FALSE(a.is_equal(b));
}

TEST(StatsScope, PeakAndCountsSinceTheScopeBegan) {
  StatsResource stats(new_delete_upstream());
  void* before = stats.allocate(100, 8);  // in use when the scopes begin: counts toward peaks
  {
    StatsScope outer(stats);
    EXPECT_EQ(outer.peak_bytes(), 100u);
    EXPECT_EQ(outer.allocations(), 0u);
    void* b = stats.allocate(200, 8);  // 300 in use
    stats.deallocate(b, 200, 8);
    {
      StatsScope inner(stats);
      void* c = stats.allocate(50, 8);  // 150
      EXPECT_EQ(inner.peak_bytes(), 150u);
      EXPECT_EQ(outer.peak_bytes(), 300u) << "read while an inner scope is open";
      EXPECT_EQ(inner.allocations(), 1u);
      EXPECT_EQ(inner.bytes_allocated(), 50u);
      stats.deallocate(c, 50, 8);
    }
    EXPECT_EQ(outer.peak_bytes(), 300u);
    {
      StatsScope inner(stats);
      EXPECT_EQ(inner.peak_bytes(), 100u) << "not lifted by what happened before it";
      void* d = stats.allocate(500, 8);  // 600
      {
        StatsScope innermost(stats);
        void* e = stats.allocate(1, 1);  // 601
        stats.deallocate(e, 1, 1);
        EXPECT_EQ(innermost.peak_bytes(), 601u);
      }
      stats.deallocate(d, 500, 8);
      EXPECT_EQ(inner.peak_bytes(), 601u);
    }
    EXPECT_EQ(outer.peak_bytes(), 601u);
    EXPECT_EQ(outer.allocations(), 4u);
    EXPECT_EQ(outer.bytes_allocated(), 751u);
  }
  StatsScope later(stats);
  EXPECT_EQ(later.peak_bytes(), 100u);
  EXPECT_EQ(later.allocations(), 0u);
  EXPECT_EQ(stats.counters().bytes.peak, 601u);
  stats.deallocate(before, 100, 8);
}

#if GTEST_HAS_DEATH_TEST && !defined(__SANITIZE_THREAD__)
TEST(StatsScopeDeathTest, EndingOutOfOrderAborts) {
  EXPECT_DEATH(
      {
        StatsResource stats(new_delete_upstream());
        auto outer = std::make_unique<StatsScope>(stats);
        StatsScope inner(stats);
        outer.reset();
      },
      "StatsScope ended out of order");
}
#endif

// Over a FailingResource, every failure point: the resource's books always match what the
// upstream really holds, and everything comes back.
TEST(StatsResource, ConsistentAtEveryFailurePoint) {
  FailingResource failing(new_delete_upstream());
  const int points = for_each_failure_point(failing, [&](int n) {
    SCOPED_TRACE(n);
    try {
      StatsResource stats(&failing);
      std::vector<std::pair<void*, std::size_t>> held;
      held.reserve(12);
      absl::Cleanup release = [&] {
        for (auto& [p, size] : held) stats.deallocate(p, size, 8);
        held.clear();
      };
      auto check_books = [&] {
        EXPECT_EQ(stats.counters().bytes.value, failing.bytes_in_use());
        EXPECT_EQ(stats.counters().allocations.value, failing.allocations_in_use());
        EXPECT_EQ(stats.live_allocations().size(), held.size());
      };
      for (std::size_t i = 0; i < 12; ++i) {
        const std::size_t bytes = 24 * i + 1;
        const StatsCounters before = stats.counters();
        try {
          held.emplace_back(stats.allocate(bytes, 8), bytes);
        } catch (const std::bad_alloc&) {
          expect_counters_eq(stats.counters(), before);
          check_books();
          throw;
        }
        if (i % 3 == 2) {  // some come back early
          stats.deallocate(held.back().first, held.back().second, 8);
          held.pop_back();
        }
        check_books();
      }
      {
        std::pmr::vector<std::pmr::string> strings(&stats);
        try {
          for (int i = 0; i < 20; ++i) strings.emplace_back(64, 'x');
        } catch (const std::bad_alloc&) {
          EXPECT_EQ(stats.counters().bytes.value, failing.bytes_in_use());
          EXPECT_EQ(stats.counters().allocations.value, failing.allocations_in_use());
          throw;
        }
      }
      std::move(release).Invoke();
      EXPECT_EQ(stats.counters().mismatches, 0u);
      EXPECT_EQ(stats.leak_report(), "no live allocations");
    } catch (const std::bad_alloc&) {
      EXPECT_EQ(failing.bytes_in_use(), 0u);
      EXPECT_EQ(failing.allocations_in_use(), 0u);
      throw;
    }
    EXPECT_EQ(failing.bytes_in_use(), 0u);
  });
  // 12 direct allocations, then the vector's growth and 20 strings.
  EXPECT_GT(points, 12 + 20);
}

// For ThreadSanitizer: threads allocating, deallocating each other's memory and reading the
// counters at once.
TEST(StatsResource, ManyThreads) {
  StatsResource stats(new_delete_upstream());
  constexpr int kThreads = 4;
  constexpr int kIterations = 4000;
  constexpr std::size_t kMaxLive = kThreads * kIterations;
  constexpr std::size_t kMaxBytes = kMaxLive * 300;
  std::mutex handoff_mutex;
  std::vector<std::pair<void*, std::size_t>> handoff;  // freed by whichever thread comes next
  std::atomic<bool> done{false};
  std::atomic<std::size_t> bytes_requested{0};

  std::thread reader([&] {
    while (!done.load()) {
      // Bounds that a counter wrapping below zero, or a torn map, would break.
      const StatsCounters c = stats.counters();
      EXPECT_LE(c.bytes.value, kMaxBytes);
      EXPECT_LE(c.allocations.value, kMaxLive);
      EXPECT_LE(stats.live_allocations().size(), kMaxLive);
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      std::size_t mine = 0;
      for (int i = 0; i < kIterations; ++i) {
        const std::size_t bytes = static_cast<std::size_t>((i * 7 + t * 13) % 300 + 1);
        void* p = stats.allocate(bytes, 8);
        mine += bytes;
        static_cast<unsigned char*>(p)[0] = 1;
        std::pair<void*, std::size_t> other{nullptr, 0};
        {
          std::lock_guard<std::mutex> lock(handoff_mutex);
          handoff.emplace_back(p, bytes);
          if (handoff.size() > 8) {
            other = handoff.front();
            handoff.erase(handoff.begin());
          }
        }
        if (other.first != nullptr) stats.deallocate(other.first, other.second, 8);
      }
      bytes_requested += mine;
    });
  }
  for (std::thread& w : workers) w.join();
  done = true;
  reader.join();
  for (auto& [p, bytes] : handoff) stats.deallocate(p, bytes, 8);

  const StatsCounters c = stats.counters();
  EXPECT_EQ(c.allocations.total, static_cast<std::size_t>(kThreads * kIterations));
  EXPECT_EQ(c.deallocations, static_cast<std::size_t>(kThreads * kIterations));
  EXPECT_EQ(c.bytes.total, bytes_requested.load());
  EXPECT_EQ(c.bytes.value, 0u);
  EXPECT_EQ(c.allocations.value, 0u);
  EXPECT_EQ(c.mismatches, 0u);
  EXPECT_LE(c.bytes.peak, bytes_requested.load());
  EXPECT_GT(c.bytes.peak, 0u);
}

// ---- stacks (Options::record_stacks) ----

// Named, never inlined and never a tail call, so that it is a frame of its own that the leak
// report must name.
ABSL_ATTRIBUTE_NOINLINE void* leak_from_named_function(std::pmr::memory_resource& r,
                                                       std::size_t bytes) {
  void* p = r.allocate(bytes, 16);
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
  return p;
}

ABSL_ATTRIBUTE_NOINLINE void* caller_of_the_named_function(std::pmr::memory_resource& r) {
  void* p = leak_from_named_function(r, 48);
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
  return p;
}

std::string symbol_of(void* return_address) {
  char name[1024];
  if (!absl::Symbolize(static_cast<const char*>(return_address) - 1, name, sizeof name)) return "";
  return name;
}

// The frame lines of a report ("      #0 0x... name").
std::vector<std::string> frame_lines(const std::string& report) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(report, '\n')) {
    if (absl::StartsWith(line, "      #")) out.emplace_back(line);
  }
  return out;
}

TEST(StatsResourceStacks, LeakReportNamesTheFunctionsThatAllocated) {
  StatsResource stats(new_delete_upstream(), with_stacks());
  EXPECT_TRUE(stats.records_stacks());
  void* p = caller_of_the_named_function(stats);

  const std::string report = stats.leak_report();
  EXPECT_THAT(report, StartsWith("1 live allocation, 48 bytes:\n  " + ptr(p) +
                                 " 48 bytes align 16\n      #0 0x"));
  const std::vector<std::string> frames = frame_lines(report);
  ASSERT_GE(frames.size(), 2u) << report;
  // The allocation machinery (std::pmr::memory_resource::allocate, a frame of its own where it
  // is not inlined) is left out: the first frame is the function that called allocate().
  EXPECT_THAT(frames[0], ContainsRegex("^      #0 0x[0-9a-f]+ .*leak_from_named_function"))
      << report;
  EXPECT_THAT(frames[1], ContainsRegex("^      #1 0x[0-9a-f]+ .*caller_of_the_named_function"))
      << report;
  for (const std::string& line : frames) {
    EXPECT_THAT(line, ContainsRegex("^      #[0-9]+ 0x[0-9a-f]+( .+)?$")) << report;
  }
  EXPECT_THAT(report, Not(HasSubstr("memory_resource::allocate"))) << report;
  EXPECT_THAT(report, Not(HasSubstr("StatsResource::do_allocate"))) << report;

  // The same frames, as addresses.
  const std::vector<LiveAllocation> live = stats.live_allocations();
  ASSERT_EQ(live.size(), 1u);
  ASSERT_FALSE(live[0].frames.empty());
  EXPECT_LE(live[0].frames.size(), 16u);
  bool named = false;
  for (void* pc : live[0].frames) named |= absl::StrContains(symbol_of(pc), "leak_from_named");
  EXPECT_TRUE(named);

  stats.deallocate(p, 48, 16);
  EXPECT_EQ(stats.leak_report(), "no live allocations");
}

TEST(StatsResourceStacks, OffByDefaultTheReportHasNoFrames) {
  StatsResource stats(new_delete_upstream());
  EXPECT_FALSE(stats.records_stacks());
  StatsResource::Options defaults;
  EXPECT_FALSE(defaults.record_stacks);
  StatsResource also_off(new_delete_upstream(), defaults);
  EXPECT_FALSE(also_off.records_stacks());
  for (StatsResource* r : {&stats, &also_off}) {
    void* p = leak_from_named_function(*r, 64);
    const std::string report = r->leak_report();
    EXPECT_EQ(report, "1 live allocation, 64 bytes: " + ptr(p) + " 64 bytes align 16");
    EXPECT_TRUE(r->live_allocations()[0].frames.empty());
    r->deallocate(p, 64, 16);
  }
}

TEST(StatsResourceStacks, MaxFramesIsCheckedAndKept) {
  for (int bad : {0, -1, StatsResource::kMaxStackFrames + 1}) {
    try {
      StatsResource stats(new_delete_upstream(), with_stacks(bad));
      ADD_FAILURE() << "max_frames " << bad << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), HasSubstr(absl::StrFormat("Options::max_frames is %d; it must be 1 to "
                                                      "%d",
                                                      bad, StatsResource::kMaxStackFrames)));
    }
  }
  // Not recording, the frame count is not looked at.
  StatsResource::Options off;
  off.max_frames = 0;
  EXPECT_FALSE(StatsResource(new_delete_upstream(), off).records_stacks());

  for (int max : {1, 2, StatsResource::kMaxStackFrames}) {
    StatsResource stats(new_delete_upstream(), with_stacks(max));
    void* p = caller_of_the_named_function(stats);
    const std::vector<LiveAllocation> live = stats.live_allocations();
    EXPECT_GE(live[0].frames.size(), 1u);
    EXPECT_LE(live[0].frames.size(), static_cast<std::size_t>(max));
    EXPECT_LE(frame_lines(stats.leak_report()).size(), static_cast<std::size_t>(max));
    stats.deallocate(p, 48, 16);
  }
}

// What a leak's frames cost is given back with it: many rounds leave the heap where it was. (The
// sanitizers' heaps report nothing here; ASan's and Valgrind's leak checks cover them.)
TEST(StatsResourceStacks, FramesAreFreedWithTheirAllocation) {
  StatsResource stats(new_delete_upstream(), with_stacks());
  auto round = [&] {
    void* ps[16];
    for (void*& p : ps) p = leak_from_named_function(stats, 8);
    for (void* p : ps) stats.deallocate(p, 8, 16);
  };
  round();  // the map's buckets, the symbolizer's tables: made once
  const std::size_t before = mallinfo2().uordblks;
  for (int i = 0; i < 500; ++i) round();
  const std::size_t after = mallinfo2().uordblks;
  // 8,000 stacks of 264 bytes, if they were kept, would be 2 MB.
  EXPECT_LT(after, before + (64 << 10)) << "heap grew from " << before << " to " << after;
  EXPECT_TRUE(stats.live_allocations().empty());
}

TEST(StatsResourceStacks, ManyLiveAllocationsEachWithItsFrames) {
  StatsResource stats(new_delete_upstream(), with_stacks());
  constexpr std::size_t kLive = 1000;
  std::vector<void*> ps;
  for (std::size_t i = 0; i < kLive; ++i) ps.push_back(leak_from_named_function(stats, i + 1));
  const std::vector<LiveAllocation> live = stats.live_allocations();
  ASSERT_EQ(live.size(), kLive);
  for (const LiveAllocation& a : live) EXPECT_FALSE(a.frames.empty()) << a.bytes;

  const std::string report = stats.leak_report();
  EXPECT_THAT(report, StartsWith("1000 live allocations, 500500 bytes:\n  "));
  EXPECT_THAT(report, HasSubstr("\n  ... and 968 more"));
  std::size_t named = 0;
  for (const std::string& line : frame_lines(report)) {
    named += absl::StrContains(line, "#0 ") && absl::StrContains(line, "leak_from_named_function");
  }
  EXPECT_EQ(named, StatsResource::kMaxReported) << report;
  for (std::size_t i = 0; i < kLive; ++i) stats.deallocate(ps[i], i + 1, 16);
  EXPECT_EQ(stats.leak_report(), "no live allocations");
}

// An upstream that refuses: the exception reaches the caller, nothing is recorded, and the
// stack taken for it is freed (the sanitizers' leak checks would name it).
TEST(StatsResourceStacks, AnUpstreamThatRefusesRecordsNothing) {
  FailingResource upstream(new_delete_upstream());
  StatsResource stats(&upstream, with_stacks());
  upstream.fail_at(0);
  EXPECT_THROW(static_cast<void>(leak_from_named_function(stats, 32)), std::bad_alloc);
  expect_counters_eq(stats.counters(), StatsCounters{});
  EXPECT_TRUE(stats.live_allocations().empty());
  EXPECT_EQ(stats.leak_report(), "no live allocations");
  EXPECT_EQ(upstream.allocations_in_use(), 0u);

  const int points = for_each_failure_point(upstream, [&](int) {
    std::vector<void*> held;
    absl::Cleanup release = [&] {
      for (void* p : held) stats.deallocate(p, 24, 16);
    };
    for (int i = 0; i < 6; ++i) {
      held.push_back(leak_from_named_function(stats, 24));
      EXPECT_EQ(stats.live_allocations().size(), held.size());
      EXPECT_EQ(upstream.allocations_in_use(), held.size());
    }
  });
  EXPECT_EQ(points, 7);
  EXPECT_EQ(stats.leak_report(), "no live allocations");
  EXPECT_EQ(upstream.bytes_in_use(), 0u);
}

// For ThreadSanitizer: threads recording stacks, freeing each other's allocations, while
// another reads the report (and so symbolizes) at the same time.
TEST(StatsResourceStacks, ManyThreads) {
  StatsResource stats(new_delete_upstream(), with_stacks());
  constexpr int kThreads = 4;
  constexpr int kIterations = 300;
  std::mutex handoff_mutex;
  std::vector<void*> handoff;
  std::atomic<bool> done{false};
  std::atomic<int> reports{0};
  std::thread reader([&] {
    while (!done.load()) {
      const std::string report = stats.leak_report();
      for (const std::string& line : frame_lines(report)) {
        EXPECT_THAT(line, ContainsRegex("^      #[0-9]+ 0x[0-9a-f]+( .+)?$"));
      }
      for (const LiveAllocation& a : stats.live_allocations()) EXPECT_FALSE(a.frames.empty());
      ++reports;
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&] {
      // Not before the reader's first report: on a loaded machine the workers could otherwise
      // all finish before the reader ever ran, and nothing would have overlapped.
      while (reports.load() == 0) std::this_thread::yield();
      for (int i = 0; i < kIterations; ++i) {
        void* p = leak_from_named_function(stats, 40);
        void* other = nullptr;
        {
          std::lock_guard<std::mutex> lock(handoff_mutex);
          handoff.push_back(p);
          if (handoff.size() > 8) {
            other = handoff.front();
            handoff.erase(handoff.begin());
          }
        }
        if (other != nullptr) stats.deallocate(other, 40, 16);
      }
    });
  }
  for (std::thread& w : workers) w.join();
  done = true;
  reader.join();
  EXPECT_GT(reports.load(), 0);
  EXPECT_EQ(stats.live_allocations().size(), handoff.size());
  const std::string report = stats.leak_report();
  EXPECT_THAT(report, HasSubstr("leak_from_named_function")) << report;
  for (void* p : handoff) stats.deallocate(p, 40, 16);
  const StatsCounters c = stats.counters();
  EXPECT_EQ(c.allocations.total, static_cast<std::size_t>(kThreads * kIterations));
  EXPECT_EQ(c.bytes.value, 0u);
  EXPECT_EQ(c.mismatches, 0u);
}

}  // namespace
}  // namespace corepy

// As Abseil asks of a program that symbolizes: at the start of main.
int main(int argc, char** argv) {
  absl::InitializeSymbolizer(argv[0]);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
