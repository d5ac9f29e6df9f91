// Every oneTBB template the reductions use is instantiated here, in a file built without
// ThreadSanitizer (parallel.h says why). Keep it to TBB calls: code here is not checked.
// tbb::is_inside_task(): a preview in oneTBB 2021.8's headers, over a function its
// library exports (r1::current_context).
#define TBB_PREVIEW_TASK_GROUP_EXTENSIONS 1

#include "ops/internal/parallel.h"

#include <dlfcn.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <new>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "oneapi/tbb/blocked_range.h"
#include "oneapi/tbb/global_control.h"
#include "oneapi/tbb/parallel_for.h"
#include "oneapi/tbb/parallel_invoke.h"
#include "oneapi/tbb/task_arena.h"

namespace corepy::ops::internal {
namespace {

// ------------------------------------------------------------------ libtbb stays loaded

// oneTBB's worker threads outlive any one caller. Where this library is what loaded libtbb (a
// program that dlopen()s libcorepy.so and nothing else that uses oneTBB), its dlclose() would
// unload libtbb under its running workers, which then crash in unmapped code (with or without
// corepy's spinning tasks: tests/process/unload_test.cc). So the first thing this library does
// is take a reference to libtbb that is never given back.
bool pin_libtbb() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&tbb::detail::r1::execution_slot), &info) == 0 ||
      info.dli_fname == nullptr) {
    return false;
  }
  return dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE) != nullptr;
}
[[maybe_unused]] const bool g_libtbb_pinned = pin_libtbb();

// ------------------------------------------------------------------ spinning workers

using Clock = std::chrono::steady_clock;

// Moves at every split call and whenever the spinners are stopped: a spinner ends when it does.
std::atomic<std::uint64_t> g_calls{0};
// Spinners enqueued in this process and not yet ended; a fork's child starts a new epoch, in
// which the tasks copied from its parent (whose workers it does not have) are not counted.
std::atomic<int> g_spinners{0};
std::atomic<std::uint64_t> g_epoch{0};
// Set when the spinners' state is destroyed (static destruction, or this library unloaded): no
// spinner is enqueued after that. These atomics are trivially destructible, so still readable.
std::atomic<bool> g_closed{false};

void pause() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// The task a worker runs after a call: it spins until the next split call starts, the spinners
// are stopped, or its deadline passes, whichever comes first. A spinner that starts after its
// deadline (it waited in the queue) ends at once.
struct Spinner {
  std::uint64_t calls;
  std::uint64_t epoch;
  Clock::time_point deadline;
  void operator()() const {
    while (g_calls.load(std::memory_order_relaxed) == calls && Clock::now() < deadline) pause();
    if (g_epoch.load(std::memory_order_relaxed) == epoch) {
      g_spinners.fetch_sub(1, std::memory_order_release);
    }
  }
};

// Serializes enqueueing against stopping (fork, finalize, static destruction), so that once a
// stop has waited, no spinner is left anywhere.
class Spinners {
 public:
  static Spinners& get() {
    static Spinners spinners;
    return spinners;
  }
  Spinners(const Spinners&) = delete;
  Spinners& operator=(const Spinners&) = delete;
  // At exit, or when this library is unloaded: every spinner has ended before its code goes.
  ~Spinners() {
    std::lock_guard<std::mutex> lock(mutex_);
    g_closed.store(true, std::memory_order_release);
    stop_locked();
  }

  void start(std::chrono::nanoseconds spin, int workers) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    if (g_closed.load(std::memory_order_acquire)) return;
    const Spinner spinner{g_calls.load(std::memory_order_relaxed),
                          g_epoch.load(std::memory_order_relaxed), Clock::now() + spin};
    while (g_spinners.load(std::memory_order_relaxed) < workers) {
      g_spinners.fetch_add(1, std::memory_order_relaxed);
      try {
        tbb::this_task_arena::enqueue(spinner);
      } catch (...) {
        // No memory for the task: the workers sleep, as they would without spinning.
        g_spinners.fetch_sub(1, std::memory_order_relaxed);
        return;
      }
    }
  }

  void stop() noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_locked();
  }

 private:
  Spinners() {
    if (pthread_atfork(&before_fork, &after_fork_in_parent, &after_fork_in_child) != 0) {
      std::fprintf(stderr,
                   "corepy: cannot register fork handlers; oneTBB's workers will not "
                   "spin between parallel calls\n");
      g_closed.store(true, std::memory_order_release);
    }
  }

  // Ends every spinner: the running ones at once, the queued ones as soon as a worker takes
  // them, and waits for them. The wait has a bound (kStopWait), which only a queued spinner
  // that no worker takes reaches: every worker busy with other work for that long, or the
  // caller itself the one worker that could take it (a fork() from inside a oneTBB task).
  static void stop_locked() noexcept {
    g_calls.fetch_add(1, std::memory_order_relaxed);
    const Clock::time_point limit = Clock::now() + kStopWait;
    while (g_spinners.load(std::memory_order_acquire) > 0) {
      if (Clock::now() > limit) {
        std::fprintf(stderr,
                     "corepy: %d spinning worker task(s) still queued; no oneTBB worker took "
                     "them\n",
                     g_spinners.load(std::memory_order_relaxed));
        return;
      }
      std::this_thread::yield();
    }
  }

  static void before_fork() {
    if (g_closed.load(std::memory_order_acquire)) return;
    Spinners& s = get();
    s.mutex_.lock();
    stop_locked();
  }
  static void after_fork_in_parent() {
    if (g_closed.load(std::memory_order_acquire)) return;
    get().mutex_.unlock();
  }
  static void after_fork_in_child() {
    if (g_closed.load(std::memory_order_acquire)) return;
    // The parent's workers are not here: whatever it had queued is not ours to wait for.
    g_epoch.fetch_add(1, std::memory_order_relaxed);
    g_spinners.store(0, std::memory_order_relaxed);
    get().mutex_.unlock();
  }

  static constexpr std::chrono::milliseconds kStopWait{1000};

  std::mutex mutex_;
};

}  // namespace

int tbb_max_concurrency() { return tbb::this_task_arena::max_concurrency(); }

int tbb_thread_index() { return tbb::this_task_arena::current_thread_index(); }

void tbb_parallel_for(std::size_t begin, std::size_t end, std::size_t grain,
                      void (*body)(void*, std::size_t, std::size_t), void* context) {
  g_calls.fetch_add(1, std::memory_order_relaxed);
  using Range = tbb::blocked_range<std::size_t>;
  tbb::parallel_for(Range(begin, end, grain),
                    [body, context](const Range& r) { body(context, r.begin(), r.end()); });
}

void tbb_parallel_invoke(void (*f)(void*), void* f_context, void (*g)(void*), void* g_context) {
  g_calls.fetch_add(1, std::memory_order_relaxed);
  tbb::parallel_invoke([f, f_context] { f(f_context); }, [g, g_context] { g(g_context); });
}

void tbb_keep_workers_spinning(std::chrono::nanoseconds spin) noexcept {
  if (spin <= std::chrono::nanoseconds::zero() || g_closed.load(std::memory_order_acquire)) return;
  // Called from a oneTBB task (the caller's own parallel loop runs ops): the caller's loop keeps
  // the workers busy, and a spinner would hold one back from it.
  if (tbb::is_inside_task()) return;
  const std::size_t threads = std::min<std::size_t>(
      static_cast<std::size_t>(std::max(tbb::this_task_arena::max_concurrency(), 1)),
      tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism));
  const int workers = static_cast<int>(threads) - 1;
  if (workers <= 0 || g_spinners.load(std::memory_order_relaxed) >= workers) return;
  Spinners::get().start(std::min(spin, kMaxWorkerSpin), workers);
}

void tbb_stop_spinning_workers() noexcept {
  if (!g_closed.load(std::memory_order_acquire)) Spinners::get().stop();
}

int tbb_spinning_workers() noexcept { return g_spinners.load(std::memory_order_acquire); }

bool tbb_finalize_workers() {
  tbb_stop_spinning_workers();
  tbb::task_scheduler_handle handle{tbb::attach{}};
  return tbb::finalize(handle, std::nothrow);
}

}  // namespace corepy::ops::internal
