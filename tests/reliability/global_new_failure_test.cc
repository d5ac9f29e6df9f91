// Allocation failure at every point of the configuration layer's own allocations (issue #6,
// part 1). The spec parser, the registry, configure(), the C ABI's corepy_configure and the
// first scope of a thread allocate their strings, vectors, maps and shared state with the global
// operator new, which takes no memory_resource; so this binary replaces the global operator new
// and delete (BDE's technique for code that cannot be given an allocator): on the test's thread,
// once armed with n, the n-th allocation from then on fails (std::bad_alloc, or null for the
// nothrow forms), and every live byte is counted (malloc_usable_size, the same on both sides).
//
// At every point, for each call: the failure reaches the caller as std::bad_alloc, or as an
// error (absl::Status, C error code) that names it; the live bytes are back to their value
// before the call; what the call would have changed is unchanged; and the same call, disarmed,
// succeeds.
#include <malloc.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <memory_resource>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "allocators/arena_resource.h"
#include "allocators/upstream_resources.h"
#include "corepy/allocator_spec.h"
#include "corepy/arena.h"
#include "corepy/c_api.h"
#include "corepy/config.h"
#include "corepy/dispatch.h"
#include "corepy/registry.h"
#include "gtest/gtest.h"
#include "tests/reliability/failure_points.h"

namespace {

// -1: nothing armed on this thread; n >= 0: the n-th allocation from now on fails.
thread_local long t_countdown = -1;
thread_local bool t_fired = false;
std::atomic<long long> g_live_bytes{0};

void* allocate(std::size_t n, std::size_t alignment, bool nothrow) {
  if (t_countdown >= 0 && t_countdown-- == 0) {
    t_fired = true;
    if (nothrow) return nullptr;
    throw std::bad_alloc();
  }
  if (n == 0) n = 1;
  void* p = nullptr;
  if (alignment <= alignof(std::max_align_t)) {
    p = std::malloc(n);
  } else if (posix_memalign(&p, alignment, n) != 0) {
    p = nullptr;
  }
  if (p == nullptr) {
    if (nothrow) return nullptr;
    throw std::bad_alloc();
  }
  g_live_bytes.fetch_add(static_cast<long long>(malloc_usable_size(p)), std::memory_order_relaxed);
  return p;
}

void release(void* p) noexcept {
  if (p == nullptr) return;
  g_live_bytes.fetch_sub(static_cast<long long>(malloc_usable_size(p)), std::memory_order_relaxed);
  std::free(p);
}

}  // namespace

// Every replaceable form: plain, array, nothrow and aligned news, and every delete.
void* operator new(std::size_t n) { return allocate(n, 0, false); }
void* operator new[](std::size_t n) { return allocate(n, 0, false); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return allocate(n, 0, true);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void* operator new(std::size_t n, std::align_val_t a) {
  return allocate(n, static_cast<std::size_t>(a), false);
}
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return allocate(n, static_cast<std::size_t>(a), true);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t& t) noexcept {
  return operator new(n, a, t);
}
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }

namespace corepy::reliability {
namespace {

bool names_a_failure(absl::string_view message) {
  return message.find("bad_alloc") != absl::string_view::npos ||
         message.find("cannot allocate") != absl::string_view::npos;
}

// The loop. `act` runs armed and keeps what it produced in the caller's variables, returning
// an error message when it reported a failure without throwing ("" otherwise); `verify` runs
// disarmed, checks the outcome (failed or not) and lets go of what `act` produced, so that the
// live bytes can be compared; then the same act, disarmed, must succeed. Allocations made by
// the first run of a call (statics built on first use) are taken before the loop. With
// `success_keeps` a call that succeeds may keep memory for good (a registration does).
int for_each_new_failure(const std::string& area, const std::function<std::string()>& act,
                         const std::function<void(bool failed)>& verify,
                         bool success_keeps = false) {
  EXPECT_EQ(act(), "");
  verify(false);
  for (int n = 0; n < 100000; ++n) {
    SCOPED_TRACE(::testing::Message() << area << ", failure point " << n);
    const long long live_before = g_live_bytes.load();
    std::string reported;
    bool threw = false;
    t_fired = false;
    t_countdown = n;
    try {
      reported = act();
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    t_countdown = -1;
    if (!t_fired) {
      EXPECT_FALSE(threw) << "a std::bad_alloc that was not injected";
      EXPECT_EQ(reported, "");
      verify(false);
      if (!success_keeps) {
        EXPECT_EQ(g_live_bytes.load(), live_before);
      }
      tally_failure_points(area, n + 1);
      return n + 1;
    }
    // The failure reached the caller, as an exception or as an error that names it.
    EXPECT_TRUE(threw || names_a_failure(reported))
        << "the injected failure was swallowed" << (reported.empty() ? "" : ": " + reported);
    verify(true);
    reported.clear();
    reported.shrink_to_fit();
    EXPECT_EQ(g_live_bytes.load(), live_before) << "bytes still live after the failure";
    EXPECT_EQ(act(), "") << "the next call failed";
    verify(false);
    if (!success_keeps) {
      EXPECT_EQ(g_live_bytes.load(), live_before) << "bytes still live after the next call";
    }
  }
  ADD_FAILURE() << area << ": no end of allocations";
  return 0;
}

std::string message(const absl::Status& s) { return s.ok() ? "" : std::string(s.message()); }

TEST(GlobalNewFailureTest, TheSpecParser) {
  for (const char* text : {"arena", "stats(limit(arena(size=4MiB, upstream=mimalloc), max=1GiB))",
                           "a_rather_long_allocator_name(another_long_inner_name, key=value)",
                           "stats(", "arena(size=4MiB"}) {
    std::optional<absl::StatusOr<AllocatorSpec>> parsed;
    std::string canonical;
    const int points = for_each_new_failure(
        "config/parse_allocator_spec",
        [&] {
          parsed = parse_allocator_spec(text);
          if (parsed->ok()) canonical = (*parsed)->to_string();
          return std::string();
        },
        [&](bool failed) {
          if (!failed) {
            ASSERT_TRUE(parsed.has_value());
            EXPECT_EQ(parsed->ok(), text[std::strlen(text) - 1] == ')' ||
                                        std::string(text) == "arena")
                << text;
            if (parsed->ok()) {
              EXPECT_EQ(parse_allocator_spec(canonical)->to_string(), canonical);
            }
          }
          parsed.reset();
          canonical = std::string();
        });
    EXPECT_GE(points, std::string(text) == "arena" ? 1 : 2) << text;  // "arena" fits in SSO
  }
}

TEST(GlobalNewFailureTest, SizesAndPerOpSizes) {
  std::optional<absl::StatusOr<std::array<std::size_t, kOpCount>>> sizes;
  const int points = for_each_new_failure(
      "config/parse_op_arena_sizes",
      [&] {
        sizes = parse_op_arena_sizes("sum_f32=64KiB, mean_f32 = 1MiB, no_such_op_named_here=1");
        return std::string();
      },
      [&](bool failed) {
        if (!failed) {
          ASSERT_TRUE(sizes.has_value());
          EXPECT_FALSE(sizes->ok());
          EXPECT_NE(sizes->status().message().find("no_such_op_named_here"), std::string::npos);
        }
        sizes.reset();
      });
  EXPECT_GE(points, 2);
}

TEST(GlobalNewFailureTest, ValidateMakeStrategyAndBuildThreadChain) {
  const absl::StatusOr<AllocatorSpec> spec =
      parse_allocator_spec("stats(limit(arena(size=4KiB, upstream=stats(system)), max=1GiB))");
  ASSERT_TRUE(spec.ok());
  std::optional<absl::Status> valid;
  for_each_new_failure(
      "registry/validate_allocator_spec",
      [&] {
        valid = validate_allocator_spec(*spec);
        return std::string();
      },
      [&](bool failed) {
        if (!failed) {
          EXPECT_TRUE(valid->ok()) << *valid;
        }
        valid.reset();
      });
  std::shared_ptr<const internal::Strategy> strategy;
  for_each_new_failure(
      "registry/make_strategy",
      [&] {
        absl::StatusOr<std::shared_ptr<const internal::Strategy>> s =
            internal::make_strategy(*spec, 1 << 20, 0);
        if (!s.ok()) return std::string(s.status().message());
        strategy = *s;
        return std::string();
      },
      [&](bool failed) {
        if (!failed) {
          ASSERT_NE(strategy, nullptr);
          EXPECT_EQ(strategy->arena_size, 4096u);
        }
        strategy.reset();
      });
  strategy = *internal::make_strategy(*spec, 1 << 20, 0);
  auto arena = std::make_unique<ArenaResource>(4096, new_delete_upstream());
  std::vector<std::shared_ptr<std::pmr::memory_resource>> owned;
  std::pmr::memory_resource* chain = nullptr;
  const int points = for_each_new_failure(
      "registry/build_thread_chain",
      [&] {
        absl::StatusOr<std::pmr::memory_resource*> c =
            internal::build_thread_chain(*strategy, arena.get(), owned);
        if (!c.ok()) return std::string(c.status().message());
        chain = *c;
        return std::string();
      },
      [&](bool failed) {
        if (!failed) {
          ASSERT_NE(chain, nullptr);
          void* p = chain->allocate(100, 8);
          chain->deallocate(p, 100, 8);
          EXPECT_EQ(owned.size(), 2u);  // limit, then stats
        }
        chain = nullptr;
        owned = {};  // what the caller does, whether or not the chain was finished
      });
  EXPECT_GE(points, 3);
}

TEST(GlobalNewFailureTest, RegisterAllocator) {
  int attempt = 0;
  // A new name for every run (a long one: its string allocates).
  std::string name = "rel_registered_allocator_number_0";
  absl::Status status;
  const int points = for_each_new_failure(
      "registry/register_allocator",
      [&] {
        status = register_allocator(name, [](const AllocatorArgs&) {
          return std::shared_ptr<std::pmr::memory_resource>();
        });
        return std::string();
      },
      [&](bool failed) {
        const std::vector<std::string> names = allocator_names();
        const bool listed = std::find(names.begin(), names.end(), name) != names.end();
        if (failed) {
          EXPECT_FALSE(listed) << name << " registered by a call that failed";
        } else {
          EXPECT_TRUE(status.ok()) << status;
          EXPECT_TRUE(listed) << name;
        }
        status = absl::OkStatus();
        name = "rel_registered_allocator_number_" + std::to_string(++attempt);
        name.shrink_to_fit();
      },
      /*success_keeps=*/true);  // the registry keeps every name for good
  EXPECT_GE(points, 2);
}

class ConfigureFailureTest : public ::testing::Test {
 protected:
  void SetUp() override { reset_configuration(); }
  void TearDown() override { reset_configuration(); }
};

TEST_F(ConfigureFailureTest, ConfigureChangesEverythingOrNothing) {
  Options o;
  o.allocator = "stats(limit(arena(upstream=stats(system)), max=1GiB))";
  o.arena_size = 64 << 10;
  o.op_arena_sizes = "sum_f32=8KiB,mean_f32=16KiB";
  const std::string want = parse_allocator_spec(*o.allocator)->to_string();
  const int points = for_each_new_failure(
      "config/configure",
      [&] { return message(configure(o)); },
      [&](bool failed) {
        const Settings s = settings();
        if (failed) {
          EXPECT_EQ(s.allocator, "arena");
          EXPECT_EQ(s.arena_size, std::size_t{1} << 20);
          // Nothing of the failed call may surface later either: a configure() of another
          // field must not bring it in.
          Options other;
          other.debug_log = false;
          ASSERT_TRUE(configure(other).ok());
          EXPECT_EQ(settings().allocator, "arena");
          EXPECT_EQ(settings().arena_size, std::size_t{1} << 20);
        } else {
          EXPECT_EQ(s.allocator, want);
          EXPECT_EQ(s.arena_size, std::size_t{64} << 10);
          EXPECT_EQ(s.op_arena_sizes[0], std::size_t{8} << 10);
        }
        reset_configuration();
      });
  EXPECT_GE(points, 10);
}

TEST_F(ConfigureFailureTest, ResetConfiguration) {
  Options o;
  o.allocator = "stats(arena)";
  std::string before;
  const int points = for_each_new_failure(
      "config/reset_configuration",
      [&] {
        reset_configuration();
        return std::string();
      },
      [&](bool failed) {
        // All or nothing: the configuration before, or the defaults.
        const std::string now = settings().allocator;
        EXPECT_EQ(now, failed ? "stats(arena)" : "arena");
        ASSERT_TRUE(configure(o).ok());
      });
  EXPECT_GE(points, 2);
}

TEST_F(ConfigureFailureTest, TheCAbiConfigure) {
  const int points = for_each_new_failure(
      "config/corepy_configure",
      [&] {
        const int rc = corepy_configure("allocator", "stats(limit(arena, max=1GiB))");
        if (rc == COREPY_OK) return std::string();
        if (rc != COREPY_ERROR_OUT_OF_MEMORY) {
          ADD_FAILURE() << "code " << rc << ": " << corepy_last_error();
        }
        // A message, if there was memory for it; the code says what it was.
        return std::string("bad_alloc: ") + corepy_last_error();
      },
      [&](bool failed) {
        EXPECT_EQ(settings().allocator, failed ? "arena" : "stats(limit(arena,max=1GiB))");
        reset_configuration();
      });
  EXPECT_GE(points, 2);
}

// The first scope of a thread builds the thread's runtime, its arena (whose block here comes
// from new/delete too) and an op's own arena; at every failure the scope throws, the thread can
// still run ops, and its exit gives everything back. (A wrapper of the arena, built per thread,
// falls back to the plain arena when it cannot be built: registry_failure_test.cc checks that.)
TEST_F(ConfigureFailureTest, TheFirstScopesOfAThread) {
#ifndef NDEBUG
  GTEST_SKIP() << "debug builds keep a log of arena markers whose growth inside mark(), which "
                  "cannot throw, aborts on purpose when memory runs out; run with -c opt";
#endif
  Options o;
  o.allocator = "arena(size=4KiB, upstream=system)";
  o.op_arena_sizes = "sum_f32=8KiB";
  ASSERT_TRUE(configure(o).ok());
  const std::vector<float> x(5000, 0.5f);
  const int points = for_each_new_failure(
      "scopes/first_scopes_of_a_thread",
      [&] {
        bool threw = false;
        long countdown = t_countdown;  // handed to the new thread, whose allocations count
        t_countdown = -1;
        std::thread([&] {
          t_countdown = countdown;
          try {
            with_arena([](ArenaResource& arena) { (void)arena.allocate(64 << 10, 64); });
            EXPECT_EQ(sum_f32_cpu_dispatch(x.data(), x.size()), 2500.0f);
          } catch (const std::bad_alloc&) {
            threw = true;
          }
          const bool fired = t_fired;
          t_countdown = -1;
          if (fired) {
            // The thread still works.
            with_arena([](ArenaResource& arena) { (void)arena.allocate(64 << 10, 64); });
            EXPECT_EQ(sum_f32_cpu_dispatch(x.data(), x.size()), 2500.0f);
          }
          countdown = fired ? -2 : -1;
        }).join();
        t_fired = countdown == -2;
        if (threw) throw std::bad_alloc();
        return std::string();
      },
      [&](bool) {});
  EXPECT_GE(points, 5);
}

}  // namespace
}  // namespace corepy::reliability
