// dlclose() of libcorepy.so after a parallel reduction, in a process where nothing else loaded
// oneTBB: the library must really go (a process that loads and unloads plugins expects it), and
// the process must live on.
//
// Two things could run unmapped code afterwards. libtbb itself, loaded only as libcorepy.so's
// dependency, would be unloaded with it while its worker threads run: every parallel call left
// them behind (ops/internal/parallel.cc pins libtbb for that). And a worker still spinning in
// corepy's task after the call (worker_spin, here 1 s so that it surely is): the library's
// static destruction stops the spinners and waits for them before its code goes.
//
// The library is loaded and used on a helper thread that then exits: thread_local destructors
// registered by a thread keep a library loaded until that thread ends. The child runs this
// binary again, so that a crash is a failed test with the child's output, not a dead runner.
#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "corepy/c_api.h"
#include "gtest/gtest.h"
#include "tests/process/child_process.h"

namespace {

using ::corepy::testing::ChildResult;
using ::corepy::testing::RunSelf;

constexpr int kChildTimeoutSeconds = 120;
std::string g_library;  // runfiles path of libcorepy.so, from the command line

// ---- The child. ----

using ReduceFn = int (*)(int32_t, const corepy_tensor_t*, const int32_t*, int32_t, int32_t, int32_t,
                         void*, size_t, int32_t*, int32_t*, int64_t*);
using ConfigureFn = int (*)(const char*, const char*);

struct Load {
  const char* path;
  const char* spin;
  void* handle = nullptr;
  bool ok = false;
};

// Loads the library, sets worker_spin and sums 4 MiB of ones over axis 0: large enough to split.
void* LoadAndReduce(void* arg) {
  Load& load = *static_cast<Load*>(arg);
  load.handle = dlopen(load.path, RTLD_NOW | RTLD_LOCAL);
  if (load.handle == nullptr) {
    std::printf("FAILED: dlopen: %s\n", dlerror());
    return nullptr;
  }
  auto reduce = reinterpret_cast<ReduceFn>(dlsym(load.handle, "corepy_reduce"));
  auto configure = reinterpret_cast<ConfigureFn>(dlsym(load.handle, "corepy_configure"));
  if (reduce == nullptr || configure == nullptr) {
    std::printf("FAILED: dlsym: %s\n", dlerror());
    return nullptr;
  }
  if (configure("worker_spin", load.spin) != COREPY_OK) {
    std::printf("FAILED: corepy_configure(\"worker_spin\", \"%s\")\n", load.spin);
    return nullptr;
  }
  constexpr int64_t kRows = 1024;
  constexpr int64_t kCols = 1024;
  std::vector<float> in(kRows * kCols, 1.0f);
  std::vector<float> out(kCols, -1.0f);
  const int64_t shape[] = {kRows, kCols};
  const corepy_tensor_t tensor{in.data(), COREPY_DTYPE_FLOAT32, 2, shape, nullptr};
  const int32_t axes[] = {0};
  int32_t out_dtype = 0;
  int32_t out_ndim = 0;
  int64_t out_shape[32];
  const int rc = reduce(COREPY_REDUCE_SUM, &tensor, axes, 1, 0, 0, out.data(),
                        out.size() * sizeof(float), &out_dtype, &out_ndim, out_shape);
  if (rc != COREPY_OK || out[0] != 1024.0f || out[kCols - 1] != 1024.0f) {
    std::printf("FAILED: corepy_reduce returned %d, out[0] %g\n", rc, out[0]);
    return nullptr;
  }
  load.ok = true;
  return nullptr;
}

int UnloadChild(const char* path, const char* spin) {
  setvbuf(stdout, nullptr, _IONBF, 0);  // every line out before a possible crash
  Load load{path, spin};
  pthread_t thread;
  if (pthread_create(&thread, nullptr, &LoadAndReduce, &load) != 0) return 2;
  pthread_join(thread, nullptr);
  if (!load.ok) return 1;
  std::printf("reduced with worker_spin %s\n", spin);
  if (dlclose(load.handle) != 0) {
    std::printf("FAILED: dlclose: %s\n", dlerror());
    return 1;
  }
  if (dlopen(path, RTLD_NOW | RTLD_NOLOAD) != nullptr) {
    std::printf(
        "FAILED: libcorepy.so is still loaded after dlclose: nothing here tests an "
        "unload any more\n");
    return 1;
  }
  std::printf("unloaded\n");
  usleep(300 * 1000);  // oneTBB's workers run on meanwhile
  std::printf("PASSED: alive after the unload\n");
  // No exit-time leak check: the library's never-destroyed singletons went with it (an unload
  // leaks them by design), which LeakSanitizer would report.
  _exit(0);
}

// ---- The test. ----

void ExpectUnloadIsSafe(const char* spin) {
  ASSERT_FALSE(g_library.empty()) << "usage: unload_test path/to/libcorepy.so";
  const ChildResult r = RunSelf({"--child=unload", g_library, spin}, kChildTimeoutSeconds);
  EXPECT_TRUE(r.ExitedWith(0) && r.out.find("unloaded") != std::string::npos &&
              r.out.find("PASSED: alive after the unload") != std::string::npos)
      << r.Describe();
}

TEST(UnloadLibcorepy, AfterASplitReductionWithWorkersSpinning) { ExpectUnloadIsSafe("1s"); }

TEST(UnloadLibcorepy, AfterASplitReductionWithoutSpinning) { ExpectUnloadIsSafe("0"); }

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "--child=unload") == 0) {
    return UnloadChild(argv[2], argv[3]);
  }
  ::testing::InitGoogleTest(&argc, argv);
  if (argc >= 2) g_library = argv[1];
  return RUN_ALL_TESTS();
}
