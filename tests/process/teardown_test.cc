// Issue 10, defect 4: ops during teardown. An op called from a static destructor, from an atexit
// handler after earlier use, or from a thread_local destructor that runs after corepy's own
// per-thread state is gone, must give the right answer (served from a fallback), never abort.
// The C ABI must keep its promise of 0 or an error code there too, and a failing call must still
// leave a readable message in corepy_last_error().
//
// Before the fix each of these aborts with "a thread used its arena after the thread's corepy
// state was destroyed". Every scenario runs in a child process: this binary run again for the
// C++ API, //tests/process:teardown_c_abi_child (linked to libcorepy.so) for the C ABI. The
// child prints each result from the destructor or handler; the test checks that it exited with
// 0, by no signal, and printed the right answers.
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <string>
#include <thread>

#include "corepy/dispatch.h"
#include "gtest/gtest.h"
#include "tests/process/child_process.h"

namespace {

using ::corepy::testing::ChildResult;
using ::corepy::testing::RunProgram;
using ::corepy::testing::RunSelf;

constexpr int kChildTimeoutSeconds = 120;

std::string g_c_abi_child;  // runfiles path of teardown_c_abi_child, from the command line

// ---- The C++ children. ----

const float kData[] = {1.0f, 2.0f, 3.0f, 4.5f};  // sums to 10.5 exactly

// Runs sum_f32_cpu_dispatch and prints its result; anything but 10.5 ends the child at once
// (exit code 3, or 4 if it threw), which the test reports.
void SumAndReport(const char* where) {
  float sum = -1.0f;
  try {
    sum = corepy::sum_f32_cpu_dispatch(kData, 4);
  } catch (const std::exception& e) {
    std::printf("%s: sum_f32_cpu_dispatch threw: %s\n", where, e.what());
    _exit(4);
  }
  if (sum != 10.5f) {
    std::printf("%s: sum_f32_cpu_dispatch = %g, want 10.5\n", where, sum);
    _exit(3);
  }
  std::printf("%s: sum_f32_cpu_dispatch = 10.5\n", where);
}

struct OpInDestructor {
  const char* where;
  ~OpInDestructor() { SumAndReport(where); }
};

// A thread_local whose destructor runs an op. Made before the thread first uses corepy, it is
// destroyed after corepy's per-thread state (thread_locals die in reverse order of
// construction).
void MakeLateThreadLocal(const char* where) {
  thread_local OpInDestructor late{""};
  late.where = where;
}

void AtExitHandler() { SumAndReport("atexit handler"); }

int CppChild(const std::string& scenario) {
  setvbuf(stdout, nullptr, _IONBF, 0);  // every line out before a possible abort
  if (scenario == "static_destructor") {
    SumAndReport("main");
    static OpInDestructor in_static_destructor{"static destructor"};
    return 0;
  }
  if (scenario == "atexit") {
    SumAndReport("main");
    std::atexit(AtExitHandler);
    return 0;
  }
  if (scenario == "thread_local_main_thread") {
    MakeLateThreadLocal("main thread's thread_local destructor");
    SumAndReport("main");
    return 0;
  }
  if (scenario == "thread_local_std_thread") {
    std::thread t([] {
      MakeLateThreadLocal("std::thread's thread_local destructor");
      SumAndReport("std::thread");
    });
    t.join();
    std::printf("main: joined\n");
    return 0;
  }
  std::printf("unknown scenario %s\n", scenario.c_str());
  return 2;
}

// ---- The tests. ----

// Expects the child to have exited with 0 after printing every line of `expected`; one failure
// that names what is missing and shows the child's status and output.
void ExpectCleanRun(const ChildResult& r, std::initializer_list<const char*> expected) {
  std::string missing;
  for (const char* line : expected) {
    if (r.out.find(line) == std::string::npos) missing += std::string("\n  ") + line;
  }
  EXPECT_TRUE(r.ExitedWith(0) && missing.empty())
      << (missing.empty() ? "" : "the child did not print:" + missing + "\n") << r.Describe();
}

ChildResult RunCpp(const char* scenario) {
  return RunSelf({std::string("--child=") + scenario}, kChildTimeoutSeconds);
}

ChildResult RunCAbi(const char* scenario) {
  if (g_c_abi_child.empty()) {
    ADD_FAILURE() << "usage: teardown_test path/to/teardown_c_abi_child";
    return ChildResult{};
  }
  return RunProgram({g_c_abi_child, scenario}, kChildTimeoutSeconds);
}

TEST(TeardownCpp, AnOpInAStaticDestructorGivesTheRightAnswer) {
  ExpectCleanRun(RunCpp("static_destructor"), {"main: sum_f32_cpu_dispatch = 10.5",
                                               "static destructor: sum_f32_cpu_dispatch = 10.5"});
}

TEST(TeardownCpp, AnOpInAnAtexitHandlerAfterEarlierUseGivesTheRightAnswer) {
  ExpectCleanRun(RunCpp("atexit"), {"main: sum_f32_cpu_dispatch = 10.5",
                                    "atexit handler: sum_f32_cpu_dispatch = 10.5"});
}

TEST(TeardownCpp, AnOpInALateThreadLocalDestructorOfTheMainThreadGivesTheRightAnswer) {
  ExpectCleanRun(RunCpp("thread_local_main_thread"),
                 {"main: sum_f32_cpu_dispatch = 10.5",
                  "main thread's thread_local destructor: sum_f32_cpu_dispatch = 10.5"});
}

TEST(TeardownCpp, AnOpInALateThreadLocalDestructorOfAStdThreadGivesTheRightAnswer) {
  ExpectCleanRun(
      RunCpp("thread_local_std_thread"),
      {"std::thread: sum_f32_cpu_dispatch = 10.5",
       "std::thread's thread_local destructor: sum_f32_cpu_dispatch = 10.5", "main: joined"});
}

TEST(TeardownCAbi, SumAndArenaStatsInAnAtexitHandlerAfterEarlierUseReturnZero) {
  ExpectCleanRun(RunCAbi("atexit_sum"), {"main: corepy_sum_f32 rc=0 sum=10.5",
                                         "atexit handler: corepy_sum_f32 rc=0 sum=10.5",
                                         "atexit handler: corepy_arena_stats answered"});
}

TEST(TeardownCAbi, AFailingCallInAnAtexitHandlerReturnsItsCodeAndAMessage) {
  ExpectCleanRun(RunCAbi("atexit_error"),
                 {"main: failing call reported", "atexit handler: failing call reported"});
}

TEST(TeardownCAbi, CallsFromAPthreadKeyDestructorAfterCorepysThreadStateIsGoneReturnZero) {
  ExpectCleanRun(RunCAbi("pthread_key_destructor"),
                 {"thread: corepy_sum_f32 rc=0 sum=10.5",
                  "pthread key destructor: corepy_sum_f32 rc=0 sum=10.5",
                  "pthread key destructor: corepy_arena_stats answered",
                  "pthread key destructor: failing call reported", "main: joined"});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strncmp(argv[1], "--child=", 8) == 0) return CppChild(argv[1] + 8);
  ::testing::InitGoogleTest(&argc, argv);
  if (argc >= 2) g_c_abi_child = argv[1];
  return RUN_ALL_TESTS();
}
