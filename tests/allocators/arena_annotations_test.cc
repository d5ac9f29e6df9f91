// A use after rewind is caught: by AddressSanitizer under --config=asan, by Valgrind memcheck
// under --config=valgrind. In a plain build neither tool runs and these tests skip.
#include <sys/wait.h>

#include <cstdlib>
#include <cstring>

#include "allocators/arena_resource.h"
#include "allocators/internal/memory_annotations.h"
#include "gtest/gtest.h"

#ifdef ABSL_HAVE_ADDRESS_SANITIZER
#include <sanitizer/asan_interface.h>
#endif

namespace corepy {
namespace {

// Reads through a volatile pointer so the compiler cannot drop the access.
int read_byte(const void* p) { return *static_cast<const volatile unsigned char*>(p); }

TEST(ArenaAsanTest, RewoundAndUnusedMemoryIsPoisoned) {
#ifndef ABSL_HAVE_ADDRESS_SANITIZER
  GTEST_SKIP() << "not built with AddressSanitizer (use --config=asan)";
#else
  ArenaResource arena(4096);
  const Marker m = arena.mark();
  auto* p = static_cast<unsigned char*>(arena.allocate(64, 16));
  std::memset(p, 1, 64);
  EXPECT_FALSE(__asan_address_is_poisoned(p));
  EXPECT_FALSE(__asan_address_is_poisoned(p + 63));
  EXPECT_TRUE(__asan_address_is_poisoned(p + 64 + 16));  // not handed out yet
  arena.rewind(m);
  EXPECT_TRUE(__asan_address_is_poisoned(p));
  // Spilled memory too.
  auto* spill = static_cast<unsigned char*>(arena.allocate(64 << 10, 16));
  EXPECT_FALSE(__asan_address_is_poisoned(spill));
  arena.rewind(m);
  (void)arena.allocate(8, 8);
  (void)spill;  // the chunk went back to the upstream: ASan's own state covers it now
#endif
}

TEST(ArenaAsanDeathTest, UseAfterRewindIsReported) {
#ifndef ABSL_HAVE_ADDRESS_SANITIZER
  GTEST_SKIP() << "not built with AddressSanitizer (use --config=asan)";
#else
  EXPECT_DEATH(
      {
        ArenaResource arena(4096);
        const Marker m = arena.mark();
        void* p = arena.allocate(64, 16);
        arena.rewind(m);
        read_byte(p);
      },
      "use-after-poison");
#endif
}

TEST(ArenaValgrindTest, RewoundMemoryIsUnaddressableToMemcheck) {
  if (!internal::running_on_valgrind()) {
    GTEST_SKIP() << "not running under Valgrind (use --config=valgrind)";
  }
  ArenaResource arena(4096);
  const Marker m = arena.mark();
  auto* p = static_cast<unsigned char*>(arena.allocate(64, 16));
  auto* spill = static_cast<unsigned char*>(arena.allocate(8192, 16));
  std::memset(p, 1, 64);
  std::memset(spill, 1, 8192);
  unsigned char vbits[64];
  // VALGRIND_GET_VBITS: 1 when every byte is addressable, 3 when some is not. It reports nothing
  // itself, so the run stays free of memcheck errors.
  EXPECT_EQ(VALGRIND_GET_VBITS(p, vbits, 64), 1u);
  EXPECT_EQ(VALGRIND_GET_VBITS(spill, vbits, 64), 1u);
  EXPECT_EQ(VALGRIND_GET_VBITS(p + 128, vbits, 64), 3u);  // never handed out
  arena.rewind(m);
  EXPECT_EQ(VALGRIND_GET_VBITS(p, vbits, 64), 3u);
  EXPECT_EQ(VALGRIND_GET_VBITS(spill, vbits, 64), 3u);
}

TEST(ArenaValgrindDeathTest, UseAfterRewindIsReported) {
  if (!internal::running_on_valgrind()) {
    GTEST_SKIP() << "not running under Valgrind (use --config=valgrind)";
  }
  // The bad read happens in a forked child, and the child's exit status says whether memcheck
  // counted an error (memcheck's report goes to its own copy of stderr, which the death test
  // does not capture, so the message is not matched). The parent stays clean.
  EXPECT_EXIT(
      {
        ArenaResource arena(4096);
        const Marker m = arena.mark();
        void* p = arena.allocate(64, 16);
        arena.rewind(m);
        read_byte(p);
        std::_Exit(VALGRIND_COUNT_ERRORS > 0 ? 42 : 0);
      },
      [](int status) { return WIFEXITED(status) && WEXITSTATUS(status) != 0; }, "");
}

}  // namespace
}  // namespace corepy
