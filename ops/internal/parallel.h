// oneTBB for the parallel reductions, behind a narrow door that ThreadSanitizer can be told
// about.
//
// The system's libtbb is not instrumented: the spawn, steal and wait that order a task after the
// code that made it, and the caller's return after its tasks, happen where ThreadSanitizer
// cannot see them. Two consequences, two measures:
//   - TBB's header templates (task objects, partitioner state, wait contexts) would be compiled
//     into our code with instrumentation, and their accesses from different threads reported as
//     races. They are instantiated in parallel.cc alone, which is built without ThreadSanitizer
//     (-fno-sanitize=thread): TBB's code is then as invisible to the tool as the library it
//     belongs with. The bodies it runs are called through a function pointer and stay
//     instrumented.
//   - Our own data, written before a parallel call and read by tasks, or written by tasks and
//     read after the call, is ordered by TBB's guarantees; ForkJoin states them as
//     happens-before edges with ThreadSanitizer's annotations: the calling thread's work before
//     the call happens before every task, every task happens before the return. Sibling tasks
//     get no edge between them, so a real race between two tasks is still reported.
// Without ThreadSanitizer the annotations compile to nothing. No suppression file is needed,
// in our tests or in any program that calls the parallel reductions.
//
// Visibility: //ops only.
#ifndef COREPY_OPS_INTERNAL_PARALLEL_H_
#define COREPY_OPS_INTERNAL_PARALLEL_H_

#include <chrono>
#include <cstddef>

#include "absl/base/config.h"
#include "ops/parallel_options.h"

#ifdef ABSL_HAVE_THREAD_SANITIZER
#include <sanitizer/tsan_interface.h>
#endif

namespace corepy::ops::internal {

// ------------------------------------------------------------------ the TBB side (parallel.cc)

// Threads available to a parallel call from here: the current task arena's concurrency.
int tbb_max_concurrency();
// The calling thread's slot, in [0, tbb_max_concurrency()): inside a parallel body, no two
// threads running at once have the same. Its index in the current task arena, or in a team's
// body its place in the team.
int tbb_thread_index();
// body(context, range_begin, range_end) over [begin, end) in ranges of about `grain`: on the
// spinning workers and the caller (the team) when workers spin (tbb_keep_workers_spinning) and
// the caller is not in a oneTBB task, else by tbb::parallel_for with its auto partitioner.
// Exceptions from the body reach the caller. The body must not rely on running in a oneTBB task;
// a split call inside it (tbb_parallel_for, tbb_parallel_invoke) runs on its thread, in order.
void tbb_parallel_for(std::size_t begin, std::size_t end, std::size_t grain,
                      void (*body)(void* context, std::size_t, std::size_t), void* context);
// tbb::parallel_invoke of f(f_context) and g(g_context).
void tbb_parallel_invoke(void (*f)(void*), void* f_context, void (*g)(void*), void* g_context);
// After a call that split: enqueues, in the current task arena, a task for each worker that
// spins until a split call goes through oneTBB, the spinners are stopped, or `spin` (at most
// kMaxWorkerSpin) has passed since the last split call, and meanwhile takes part in the split
// calls (tbb_parallel_for's team), so that the next call finds its workers awake (oneTBB's own
// sleep after about a microsecond idle) and hands them its ranges without making tasks. Nothing
// with one thread or when called from inside a oneTBB task; spin <= 0 ends the spinners.
void tbb_keep_workers_spinning(std::chrono::nanoseconds spin) noexcept;
// Ends every spinner and waits until each has (fork() does this too, and so does unloading
// this library); tbb_spinning_workers() counts those enqueued and not yet ended.
void tbb_stop_spinning_workers() noexcept;
int tbb_spinning_workers() noexcept;
// tbb::finalize on a handle attached to the default scheduler, after stopping the spinners:
// waits for the worker threads.
bool tbb_finalize_workers();

// ------------------------------------------------------------------ our side

class ForkJoin {
 public:
  ForkJoin() = default;
  ForkJoin(const ForkJoin&) = delete;
  ForkJoin& operator=(const ForkJoin&) = delete;
  // Also on the way out of a call that threw, before the scratch the tasks wrote is freed.
  ~ForkJoin() { joined(); }

  // Just before the parallel call: what this thread did so far happens before every task.
  void fork() { release(&fork_); }
  // After it: every task's work happens before what follows.
  void joined() { acquire(&join_); }

  // Held by each task body for its whole run.
  class Task {
   public:
    explicit Task(ForkJoin& fork_join) : fork_join_(fork_join) { acquire(&fork_join_.fork_); }
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;
    ~Task() { release(&fork_join_.join_); }

   private:
    ForkJoin& fork_join_;
  };

 private:
  static void acquire([[maybe_unused]] char* address) {
#ifdef ABSL_HAVE_THREAD_SANITIZER
    __tsan_acquire(address);
#endif
  }
  static void release([[maybe_unused]] char* address) {
#ifdef ABSL_HAVE_THREAD_SANITIZER
    __tsan_release(address);
#endif
  }

  char fork_ = 0;
  char join_ = 0;
};

// body(range_begin, range_end) over [begin, end) on the current task arena's threads.
// The context holds the ForkJoin itself, not a pointer to it: a task finds it from the context's
// address alone, and acquires before it reads anything the calling thread wrote.
template <class Body>
void parallel_ranges(std::size_t begin, std::size_t end, std::size_t grain, const Body& body) {
  struct Context {
    ForkJoin fork_join;
    const Body* body;
  };
  Context context;
  context.body = &body;
  context.fork_join.fork();
  tbb_parallel_for(
      begin, end, grain,
      [](void* c, std::size_t b, std::size_t e) {
        Context* ctx = static_cast<Context*>(c);
        ForkJoin::Task task(ctx->fork_join);
        (*ctx->body)(b, e);
      },
      &context);
  context.fork_join.joined();
}

// f() and g(), possibly on two threads.
template <class F, class G>
void parallel_pair(const F& f, const G& g) {
  struct Context {
    ForkJoin fork_join;
    const F* f;
    const G* g;
  };
  Context context;
  context.f = &f;
  context.g = &g;
  context.fork_join.fork();
  tbb_parallel_invoke(
      [](void* c) {
        Context* ctx = static_cast<Context*>(c);
        ForkJoin::Task task(ctx->fork_join);
        (*ctx->f)();
      },
      &context,
      [](void* c) {
        Context* ctx = static_cast<Context*>(c);
        ForkJoin::Task task(ctx->fork_join);
        (*ctx->g)();
      },
      &context);
  context.fork_join.joined();
}

}  // namespace corepy::ops::internal

#endif  // COREPY_OPS_INTERNAL_PARALLEL_H_
