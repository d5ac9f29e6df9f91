// Every oneTBB template the reductions use is instantiated here, in a file built without
// ThreadSanitizer (parallel.h says why). Keep it to TBB calls: code here is not checked.
#include "ops/internal/parallel.h"

#include <new>

#include "oneapi/tbb/blocked_range.h"
#include "oneapi/tbb/global_control.h"
#include "oneapi/tbb/parallel_for.h"
#include "oneapi/tbb/parallel_invoke.h"
#include "oneapi/tbb/task_arena.h"

namespace corepy::ops::internal {

int tbb_max_concurrency() { return tbb::this_task_arena::max_concurrency(); }

int tbb_thread_index() { return tbb::this_task_arena::current_thread_index(); }

void tbb_parallel_for(std::size_t begin, std::size_t end, std::size_t grain,
                      void (*body)(void*, std::size_t, std::size_t), void* context) {
  using Range = tbb::blocked_range<std::size_t>;
  tbb::parallel_for(Range(begin, end, grain),
                    [body, context](const Range& r) { body(context, r.begin(), r.end()); });
}

void tbb_parallel_invoke(void (*f)(void*), void* f_context, void (*g)(void*), void* g_context) {
  tbb::parallel_invoke([f, f_context] { f(f_context); }, [g, g_context] { g(g_context); });
}

bool tbb_finalize_workers() {
  tbb::task_scheduler_handle handle{tbb::attach{}};
  return tbb::finalize(handle, std::nothrow);
}

}  // namespace corepy::ops::internal
