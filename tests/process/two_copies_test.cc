// Issue 10, defect 2: two copies of libcorepy.so in one process, as when two Python packages
// each ship one. Each copy is a separate file (its own inode), so the dynamic loader maps it
// again instead of reusing the first. Both must load, and each must keep its own state:
// configuring one copy changes nothing in the other.
//
// Before the fix the second dlopen() aborts the process inside Abseil ("Flag 'corepy_allocator'
// was defined more than once"): both copies register the same process-global flags. The loading
// is done in a child process (this binary run again), so that abort is a test failure with the
// child's stderr, not a crash of the test.
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

#include "corepy/c_api.h"
#include "gtest/gtest.h"
#include "tests/process/child_process.h"

namespace {

using ::corepy::testing::ChildResult;
using ::corepy::testing::RunSelf;

constexpr int kChildTimeoutSeconds = 120;

std::string g_library;  // runfiles path of libcorepy.so, from the command line

// ---- The child: loads two copies and uses both. ----

int g_failures = 0;

#define CHILD_CHECK(cond)                                      \
  do {                                                         \
    if (cond) {                                                \
      std::printf("ok: %s\n", #cond);                          \
    } else {                                                   \
      ++g_failures;                                            \
      std::printf("FAILED at line %d: %s\n", __LINE__, #cond); \
    }                                                          \
  } while (0)

struct Copy {
  const char* name = "";
  void* handle = nullptr;
  int (*sum_f32)(const float*, size_t, float*) = nullptr;
  int (*configure)(const char*, const char*) = nullptr;
  int (*arena_stats)(corepy_arena_stats_t*) = nullptr;
  const char* (*last_error)() = nullptr;
};

template <class F>
bool Resolve(Copy& c, const char* symbol, F& fn) {
  void* p = dlsym(c.handle, symbol);
  if (p == nullptr) {
    std::printf("FAILED: copy %s has no %s: %s\n", c.name, symbol, dlerror());
    ++g_failures;
    return false;
  }
  fn = reinterpret_cast<F>(p);
  return true;
}

bool Load(Copy& c, const char* name, const std::string& path, int mode) {
  c.name = name;
  std::printf("loading copy %s from %s\n", name, path.c_str());
  c.handle = dlopen(path.c_str(), mode);
  if (c.handle == nullptr) {
    std::printf("FAILED: dlopen(%s): %s\n", path.c_str(), dlerror());
    ++g_failures;
    return false;
  }
  std::printf("loaded copy %s\n", name);
  return Resolve(c, "corepy_sum_f32", c.sum_f32) & Resolve(c, "corepy_configure", c.configure) &
         Resolve(c, "corepy_arena_stats", c.arena_stats) &
         Resolve(c, "corepy_last_error", c.last_error);
}

// Runs an op first: a new configuration takes effect at the thread's next outermost scope.
std::size_t CapacityAfterAnOp(const Copy& c) {
  const float x[] = {1.0f, 2.0f, 3.0f, 4.5f};
  float sum = -1.0f;
  if (c.sum_f32(x, 4, &sum) != COREPY_OK || sum != 10.5f) {
    std::printf("FAILED: sum through copy %s: %g\n", c.name, sum);
    ++g_failures;
  }
  corepy_arena_stats_t stats{};
  if (c.arena_stats(&stats) != COREPY_OK) {
    std::printf("FAILED: corepy_arena_stats through copy %s: %s\n", c.name, c.last_error());
    ++g_failures;
  }
  std::printf("copy %s: arena capacity %zu\n", c.name, stats.capacity);
  return stats.capacity;
}

int TwoCopiesChild(const char* mode_name, const std::string& path_a, const std::string& path_b) {
  setvbuf(stdout, nullptr, _IONBF, 0);  // every line out before a possible abort
  const int mode = RTLD_NOW | (std::strcmp(mode_name, "global") == 0 ? RTLD_GLOBAL : RTLD_LOCAL);
  Copy a;
  Copy b;
  if (!Load(a, "A", path_a, mode)) return 1;
  if (!Load(b, "B", path_b, mode)) return 1;
  std::printf("both copies loaded\n");
  CHILD_CHECK(a.handle != b.handle);
  CHILD_CHECK(reinterpret_cast<void*>(a.sum_f32) != reinterpret_cast<void*>(b.sum_f32));
  CHILD_CHECK(reinterpret_cast<void*>(a.configure) != reinterpret_cast<void*>(b.configure));

  const float x[] = {1.0f, 2.0f, 3.0f, 4.5f};
  float sum_a = -1.0f;
  float sum_b = -1.0f;
  CHILD_CHECK(a.sum_f32(x, 4, &sum_a) == COREPY_OK && sum_a == 10.5f);
  CHILD_CHECK(b.sum_f32(x, 4, &sum_b) == COREPY_OK && sum_b == 10.5f);
  CHILD_CHECK(CapacityAfterAnOp(a) == 1048576);
  CHILD_CHECK(CapacityAfterAnOp(b) == 1048576);

  // Configuring one copy leaves the other as it was.
  CHILD_CHECK(a.configure("arena_size", "64KiB") == COREPY_OK);
  CHILD_CHECK(CapacityAfterAnOp(a) == 65536);
  CHILD_CHECK(CapacityAfterAnOp(b) == 1048576);
  CHILD_CHECK(b.configure("arena_size", "128KiB") == COREPY_OK);
  CHILD_CHECK(CapacityAfterAnOp(b) == 131072);
  CHILD_CHECK(CapacityAfterAnOp(a) == 65536);

  // Each copy has its own last error.
  float untouched = -1.0f;
  CHILD_CHECK(a.sum_f32(nullptr, 3, &untouched) == COREPY_ERROR_NULL_POINTER);
  CHILD_CHECK(untouched == -1.0f);
  CHILD_CHECK(a.last_error() != nullptr && a.last_error()[0] != '\0');
  CHILD_CHECK(b.last_error() != nullptr && b.last_error()[0] == '\0');

  std::printf("%s: %d failed checks\n", g_failures == 0 ? "PASSED" : "FAILED", g_failures);
  return g_failures == 0 ? 0 : 1;
}

// ---- The test: copies the library twice and runs the child on the copies. ----

// Copies libcorepy.so to two new files under the test's temporary directory.
void MakeCopies(const std::string& tag, std::string* a, std::string* b) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::filesystem::path dir = std::filesystem::path(tmp != nullptr ? tmp : "/tmp") /
                              ("two_copies_" + tag + "_" + std::to_string(getpid()));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  ASSERT_FALSE(ec) << "cannot create " << dir << ": " << ec.message();
  *a = (dir / "libcorepy_a.so").string();
  *b = (dir / "libcorepy_b.so").string();
  for (const std::string* to : {a, b}) {
    std::filesystem::copy_file(g_library, *to, std::filesystem::copy_options::overwrite_existing,
                               ec);
    ASSERT_FALSE(ec) << "cannot copy " << g_library << " to " << *to << ": " << ec.message();
  }
}

void ExpectTwoCopiesWork(const char* mode) {
  ASSERT_FALSE(g_library.empty()) << "usage: two_copies_test path/to/libcorepy.so";
  std::string a;
  std::string b;
  ASSERT_NO_FATAL_FAILURE(MakeCopies(mode, &a, &b));
  const ChildResult r = RunSelf({"--child=two_copies", mode, a, b}, kChildTimeoutSeconds);
  EXPECT_TRUE(r.ExitedWith(0) && r.out.find("both copies loaded") != std::string::npos &&
              r.out.find("PASSED: 0 failed checks") != std::string::npos)
      << r.Describe();
}

TEST(TwoCopiesOfLibcorepy, LoadWithRtldLocalAndKeepSeparateConfigurations) {
  ExpectTwoCopiesWork("local");
}

// RTLD_GLOBAL puts the first copy's corepy_* symbols in the global scope, but dlsym() on a
// handle still finds that copy's own, and everything else in the library is local to it (the
// version script exports corepy_* only), so each copy still runs on its own state.
TEST(TwoCopiesOfLibcorepy, LoadWithRtldGlobalAndKeepSeparateConfigurations) {
  ExpectTwoCopiesWork("global");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::strcmp(argv[1], "--child=two_copies") == 0) {
    return TwoCopiesChild(argv[2], argv[3], argv[4]);
  }
  ::testing::InitGoogleTest(&argc, argv);
  if (argc >= 2) g_library = argv[1];
  return RUN_ALL_TESTS();
}
