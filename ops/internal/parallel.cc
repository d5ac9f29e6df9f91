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
#include <exception>
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
#include "ops/internal/team_parts.h"

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

// Moves at every split call that goes through oneTBB, whenever the spinners are stopped, and
// after a call that wants no spin: a spinner ends when it does.
std::atomic<std::uint64_t> g_calls{0};
// Spinners enqueued in this process and not yet ended; a fork's child starts a new epoch, in
// which the tasks copied from its parent (whose workers it does not have) are not counted.
std::atomic<int> g_spinners{0};
std::atomic<std::uint64_t> g_epoch{0};
// Set when the spinners' state is destroyed (static destruction, or this library unloaded): no
// spinner is enqueued after that. These atomics are trivially destructible, so still readable.
std::atomic<bool> g_closed{false};
// When the spinners end, in Clock's nanoseconds: each split call moves it to worker_spin ahead,
// unless it is later already.
std::atomic<std::int64_t> g_deadline{0};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// Tells every spinner to end: its deadline passed, and the call count it watches moved.
void end_spins() {
  g_deadline.store(0, std::memory_order_relaxed);
  g_calls.fetch_add(1, std::memory_order_relaxed);
}

void pause() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// ------------------------------------------------------------------ the team

// A split call hands its ranges straight to the spinning workers, as a team of threads that spin
// between reads would, instead of making oneTBB tasks for them: no task is spawned or stolen,
// and no worker leaves its spin to look for one. Which thread takes which range changes no
// result: the bodies write each range's result to its own place, as under oneTBB's partitioner.
//
// The ranges, `grain` units each, are cut into one contiguous part per slot (TeamParts): each
// thread runs its own part, then helps with what the others left.
//
// Each thread of a team has its own scratch slot, as under oneTBB: the caller slot 0, and each
// helper the next, up to the caller's arena concurrency (the slots its schedule made), beyond
// which a helper does not join. tbb_thread_index() gives that slot while the thread runs the
// team's ranges. A body that splits again runs that split serially (nothing of the kind exists
// in corepy: the bodies given to tbb_parallel_for are flat loops), so that no oneTBB thread
// outside the team could take a slot of it.
//
// One call at a time: a second caller, a call from inside a oneTBB task, or a call while no
// spinner exists goes through tbb::parallel_for. The job lives on the caller's stack: a helper
// announces itself in g_job_users before it reads g_job, and the caller, once it has taken g_job
// back, waits until no helper is inside (sequentially consistent on both sides, so that a helper
// either sees the job gone or is seen by the caller).
struct TeamJob {
  // A constructor rather than aggregate initialization, which GCC compiles to zeroing the whole
  // job first: TeamParts' unused spans too, 2 KiB.
  TeamJob(void (*f)(void*, std::size_t, std::size_t), void* f_context, std::size_t first,
          std::size_t last, std::size_t unit, int threads, std::uint64_t units, int part_count)
      : body(f),
        context(f_context),
        begin(first),
        end(last),
        grain(unit),
        slots(threads),
        parts(units, part_count) {}

  void (*body)(void*, std::size_t, std::size_t);
  void* context;
  std::size_t begin;
  std::size_t end;
  std::size_t grain;
  int slots;
  TeamParts parts;
  std::atomic<int> joined{1};  // slots taken: the caller's
  std::atomic<bool> failed{false};
  std::exception_ptr error;

  // Runs the thread's own part, then the rest of the others' (TeamParts). A body that throws
  // stops the claims; the first exception goes to the caller.
  void work(int slot) noexcept {
    int cursor = 0;
    std::uint64_t unit = 0;
    while (parts.next(slot, cursor, unit)) {
      const std::size_t b = begin + unit * grain;
      try {
        // Not std::min: an out-of-line copy of it from an instrumented file would show the
        // reads to ThreadSanitizer, without the order the atomics here give them.
        body(context, b, end - b < grain ? end : b + grain);
      } catch (...) {
        if (!failed.exchange(true, std::memory_order_relaxed)) error = std::current_exception();
        parts.clear();
        return;
      }
    }
  }
};

std::atomic<TeamJob*> g_job{nullptr};
std::atomic<int> g_job_users{0};
// The calling thread's slot in the team whose ranges it runs; -1 outside a team.
thread_local int t_team_slot = -1;

class TeamSlot {
 public:
  explicit TeamSlot(int slot) { t_team_slot = slot; }
  TeamSlot(const TeamSlot&) = delete;
  TeamSlot& operator=(const TeamSlot&) = delete;
  ~TeamSlot() { t_team_slot = -1; }
};

void help() noexcept {
  g_job_users.fetch_add(1, std::memory_order_seq_cst);
  if (TeamJob* job = g_job.load(std::memory_order_seq_cst)) {
    const int slot = job->joined.fetch_add(1, std::memory_order_relaxed);
    if (slot < job->slots) {
      TeamSlot in_team(slot);
      job->work(slot);
    }
  }
  g_job_users.fetch_sub(1, std::memory_order_release);
}

// tbb_parallel_for's ranges on the team; false (nothing run) when the team cannot take them.
bool team_parallel_for(std::size_t begin, std::size_t end, std::size_t grain,
                       void (*body)(void*, std::size_t, std::size_t), void* context) {
  if (g_spinners.load(std::memory_order_relaxed) == 0 || grain == 0 || end - begin <= grain ||
      (end - begin) / grain >= TeamParts::kMaxUnits - 1 || tbb::is_inside_task() ||
      tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism) < 2) {
    return false;
  }
  const int slots = tbb::this_task_arena::max_concurrency();
  if (slots < 2) return false;
  // At least 2 units, fewer than 2^32.
  const std::uint64_t units = (end - begin) / grain + ((end - begin) % grain != 0);
  const int parts = static_cast<int>(std::min<std::uint64_t>(
      units, static_cast<std::uint64_t>(std::min(slots, TeamParts::kMaxParts))));
  TeamJob job(body, context, begin, end, grain, slots, units, parts);
  TeamJob* none = nullptr;
  if (!g_job.compare_exchange_strong(none, &job, std::memory_order_seq_cst)) return false;
  {
    TeamSlot in_team(0);
    job.work(0);
  }
  g_job.store(nullptr, std::memory_order_seq_cst);
  while (g_job_users.load(std::memory_order_seq_cst) != 0) pause();
  if (job.failed.load(std::memory_order_relaxed)) std::rethrow_exception(job.error);
  return true;
}

// The task a worker runs after a call: it spins until a split call goes through oneTBB (which
// needs the workers free to take its tasks), the spinners are stopped, or the deadline passes,
// whichever comes first, and helps the team's calls meanwhile. A spinner that starts after the
// deadline (it waited in the queue) ends at once.
struct Spinner {
  std::uint64_t calls;
  std::uint64_t epoch;
  void operator()() const {
    while (g_calls.load(std::memory_order_relaxed) == calls &&
           now_ns() < g_deadline.load(std::memory_order_relaxed)) {
      if (g_job.load(std::memory_order_relaxed) != nullptr) help();
      pause();
    }
    if (g_epoch.load(std::memory_order_relaxed) == epoch) {
      g_spinners.fetch_sub(1, std::memory_order_seq_cst);
    }
    // A call that counted on this spinner just before it left still gets it.
    if (g_job.load(std::memory_order_seq_cst) != nullptr) help();
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

  void start(int workers) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    if (g_closed.load(std::memory_order_acquire)) return;
    const Spinner spinner{g_calls.load(std::memory_order_relaxed),
                          g_epoch.load(std::memory_order_relaxed)};
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
    end_spins();
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
    // A spinner that left just as a team call began helps it after it is no longer counted:
    // the stop waits for that too (the call's ranges are finite; the caller finishes them).
    while (g_job_users.load(std::memory_order_acquire) > 0 && Clock::now() <= limit) {
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

int tbb_thread_index() {
  return t_team_slot >= 0 ? t_team_slot : tbb::this_task_arena::current_thread_index();
}

void tbb_parallel_for(std::size_t begin, std::size_t end, std::size_t grain,
                      void (*body)(void*, std::size_t, std::size_t), void* context) {
  if (t_team_slot >= 0) {  // a body of the team's splits again: on this thread, in order
    body(context, begin, end);
    return;
  }
  if (team_parallel_for(begin, end, grain, body, context)) return;
  g_calls.fetch_add(1, std::memory_order_relaxed);
  using Range = tbb::blocked_range<std::size_t>;
  tbb::parallel_for(Range(begin, end, grain),
                    [body, context](const Range& r) { body(context, r.begin(), r.end()); });
}

void tbb_parallel_invoke(void (*f)(void*), void* f_context, void (*g)(void*), void* g_context) {
  if (t_team_slot >= 0) {  // inside a team's body, as in tbb_parallel_for
    f(f_context);
    g(g_context);
    return;
  }
  // With two threads the first split is all the parallelism a tree of pairs has: the team takes
  // its two halves, and their own splits run on their threads, in order. With more, the tree
  // goes to oneTBB, which spreads every level.
  if (tbb::this_task_arena::max_concurrency() == 2) {
    struct Pair {
      void (*f)(void*);
      void* f_context;
      void (*g)(void*);
      void* g_context;
    } pair{f, f_context, g, g_context};
    const auto halves = [](void* context, std::size_t begin, std::size_t end) {
      const Pair& p = *static_cast<const Pair*>(context);
      for (std::size_t i = begin; i != end; ++i) {
        if (i == 0) {
          p.f(p.f_context);
        } else {
          p.g(p.g_context);
        }
      }
    };
    if (team_parallel_for(0, 2, 1, halves, &pair)) return;
  }
  g_calls.fetch_add(1, std::memory_order_relaxed);
  tbb::parallel_invoke([f, f_context] { f(f_context); }, [g, g_context] { g(g_context); });
}

void tbb_keep_workers_spinning(std::chrono::nanoseconds spin) noexcept {
  if (g_closed.load(std::memory_order_acquire)) return;
  // Called from a oneTBB task (the caller's own parallel loop runs ops): the caller's loop keeps
  // the workers busy, and a spinner would hold one back from it.
  if (tbb::is_inside_task()) return;
  if (spin <= std::chrono::nanoseconds::zero()) {
    // This call wants no spin after it: the spinners of earlier calls end now.
    if (g_spinners.load(std::memory_order_relaxed) > 0) end_spins();
    return;
  }
  // No call shortens the spin an earlier one asked for.
  const std::int64_t deadline = now_ns() + std::min(spin, kMaxWorkerSpin).count();
  std::int64_t current = g_deadline.load(std::memory_order_relaxed);
  while (current < deadline &&
         !g_deadline.compare_exchange_weak(current, deadline, std::memory_order_relaxed)) {
  }
  const std::size_t threads = std::min<std::size_t>(
      static_cast<std::size_t>(std::max(tbb::this_task_arena::max_concurrency(), 1)),
      tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism));
  const int workers = static_cast<int>(threads) - 1;
  if (workers <= 0 || g_spinners.load(std::memory_order_relaxed) >= workers) return;
  Spinners::get().start(workers);
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
