// The three functions of libhwy.so that corepy calls, for builds run under Valgrind, which link
// this instead of libhwy.so. On hosts whose CPUID does not list RDTSCP, Valgrind's CPU cannot
// decode the rdtscp that libhwy.so executes while it is loaded (a static initializer calibrates
// its timer), and Memcheck stops every test with SIGILL before main(). Here every dispatch
// takes the baseline target this code was compiled for (or the one a test sets), which any CPU
// Valgrind emulates can run. Ordinary builds link the real libhwy.so.
#include <atomic>
#include <cstdint>

#include "hwy/targets.h"

namespace hwy {
namespace {
std::atomic<int64_t> g_targets_for_test{0};
}  // namespace

HWY_DLLEXPORT ChosenTarget& GetChosenTarget() {
  static ChosenTarget chosen;
  return chosen;
}

HWY_DLLEXPORT int64_t SupportedTargets() {
  const int64_t for_test = g_targets_for_test.load();
  if (for_test != 0) return for_test;
  return HWY_STATIC_TARGET | HWY_EMU128 | HWY_SCALAR;
}

HWY_DLLEXPORT void SetSupportedTargetsForTest(int64_t targets) {
  g_targets_for_test.store(targets);
  GetChosenTarget().DeInit();  // the next dispatch picks again
}

}  // namespace hwy
