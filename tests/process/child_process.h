// Runs a child process with a deadline and collects what it printed, so that a test whose
// subject aborts, hangs or dies by a signal fails with a message instead of taking the test
// runner down with it. For the process-level tests of issue 10: two copies of libcorepy.so in
// one process, teardown, fork.
//
//   ChildResult r = RunSelf({"--child=static_destructor"}, /*timeout_seconds=*/60);
//   EXPECT_TRUE(r.ExitedWith(0)) << r.Describe();
//
// A test binary that runs itself as the child looks for its "--child=..." argument in main(),
// before handing the rest to GoogleTest.
#ifndef COREPY_TESTS_PROCESS_CHILD_PROCESS_H_
#define COREPY_TESTS_PROCESS_CHILD_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace corepy::testing {

// How a child ended and what it wrote.
struct ChildResult {
  bool started = false;    // fork/exec worked
  bool timed_out = false;  // still running at the deadline: killed with SIGKILL
  int status = 0;          // from waitpid
  std::string out;         // its stdout
  std::string err;         // its stderr

  bool ExitedWith(int code) const;
  // "exited with 0", "killed by signal 6 (Aborted)", "hung: killed after 60 s", then both
  // streams.
  std::string Describe() const;
};

// Runs argv[0] with the rest of argv, stdin from /dev/null, until it exits or timeout_seconds
// pass.
ChildResult RunProgram(const std::vector<std::string>& argv, int timeout_seconds);

// Runs this test binary again (/proc/self/exe) with `args`.
ChildResult RunSelf(const std::vector<std::string>& args, int timeout_seconds);

// Waits for `pid` until it exits or timeout_seconds pass; then kills it (SIGKILL) and reaps it.
// Returns false on timeout. The wait is bounded whatever the child does.
bool WaitWithTimeout(pid_t pid, int timeout_seconds, int* status);

// A description of a waitpid status: "exited with 1", "killed by signal 14 (Alarm clock)".
std::string DescribeStatus(int status);

}  // namespace corepy::testing

#endif  // COREPY_TESTS_PROCESS_CHILD_PROCESS_H_
