#include "tests/process/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace corepy::testing {
namespace {

// Seconds on the monotonic clock; only for deadlines, never for measuring.
double Now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void SleepBriefly() {
  const timespec ts{0, 2 * 1000 * 1000};  // 2 ms between polls of a child that closed its pipes
  nanosleep(&ts, nullptr);
}

}  // namespace

bool ChildResult::ExitedWith(int code) const {
  return started && !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == code;
}

std::string DescribeStatus(int status) {
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return "killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
  }
  return "ended with wait status " + std::to_string(status);
}

std::string ChildResult::Describe() const {
  std::string what;
  if (!started) {
    what = "could not be started";
  } else if (timed_out) {
    what = "hung: killed after the deadline";
  } else {
    what = DescribeStatus(status);
  }
  return "child " + what + "\n--- child stdout ---\n" + out + "--- child stderr ---\n" + err +
         "--- end ---";
}

bool WaitWithTimeout(pid_t pid, int timeout_seconds, int* status) {
  const double deadline = Now() + timeout_seconds;
  for (;;) {
    const pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) return true;  // not our child any more: nothing to wait for
    if (Now() >= deadline) break;
    SleepBriefly();
  }
  kill(pid, SIGKILL);
  while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
  }
  return false;
}

ChildResult RunProgram(const std::vector<std::string>& argv, int timeout_seconds) {
  ChildResult result;
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return result;
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return result;
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  const pid_t pid = fork();
  if (pid == 0) {
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    execv(args[0], args.data());
    const char msg[] = "execv failed\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (pid < 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    return result;
  }
  result.started = true;

  // Read both streams until the child closes them or the deadline passes.
  const double deadline = Now() + timeout_seconds;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0) {
    const double left = deadline - Now();
    if (left <= 0) break;
    const int n = poll(fds, 2, static_cast<int>(left * 1000) + 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (pollfd& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  const int left = static_cast<int>(deadline - Now()) + 1;
  result.timed_out = !WaitWithTimeout(pid, left > 1 ? left : 1, &result.status);
  return result;
}

ChildResult RunSelf(const std::vector<std::string>& args, int timeout_seconds) {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return ChildResult{};
  std::vector<std::string> argv{std::string(self, static_cast<std::size_t>(n))};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(argv, timeout_seconds);
}

}  // namespace corepy::testing
