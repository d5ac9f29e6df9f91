// How a reduction may split over oneTBB's threads, and where each thread's scratch comes from:
// what every ops entry (parallel_reduce.h, reduce_tensor.h) takes.
#ifndef COREPY_OPS_PARALLEL_OPTIONS_H_
#define COREPY_OPS_PARALLEL_OPTIONS_H_

#include <chrono>
#include <cstddef>
#include <memory_resource>

#include "corepy/internal/require_cxx17.h"

namespace corepy::ops {

// Returns the calling thread's scratch resource; `context` is ParallelOptions::scratch_context
// (what the caller wants the provider to know: the runtime passes its caller's configuration).
// Called on worker threads: must be safe to call concurrently from several threads (each
// getting its own resource).
using ScratchProvider = std::pmr::memory_resource* (*)(const void* context);

// Inputs smaller than this run serially: two chunks (512 KiB of floats), the smallest input
// that can be split at all. Forced splits measured against the serial kernel (the README's
// figures, //tests/bench:reduce_benchmark) found no size at which splitting loses, so the
// threshold is where splitting becomes possible. Callers can set their own.
inline constexpr std::size_t kParallelMinBytes = std::size_t{512} << 10;

// After a call that split, oneTBB's workers spin this long waiting for the next one, instead of
// going to sleep about a microsecond after their last task. A call that comes after the caller
// ran alone for a few microseconds (a Python loop between reductions, a runtime between ops)
// then starts on awake workers: without it, such a call takes 1.0-1.5x its back-to-back time
// (//tests/bench:reduce_tensor_benchmark's AfterIdle lines; tests/bench/reduce_tensor_history.md).
// The next split call hands its ranges straight to the spinning workers, without making oneTBB
// tasks, and they spin on after it; a call with worker_spin 0 ends them. The cost: a core kept
// busy for up to this long after the last call, and other oneTBB work in the process waits up to
// this long for that worker.
inline constexpr std::chrono::nanoseconds kWorkerSpin = std::chrono::microseconds(50);
// The longest spin: longer values are taken as this.
inline constexpr std::chrono::nanoseconds kMaxWorkerSpin = std::chrono::seconds(1);

struct ParallelOptions {
  // Input bytes below which the call stays on the calling thread. 0: always split (when there
  // are two chunks or more).
  std::size_t min_parallel_bytes = kParallelMinBytes;
  // Null means default_thread_scratch() (parallel_reduce.h).
  ScratchProvider per_thread_scratch = nullptr;
  // Passed to per_thread_scratch on every call.
  const void* scratch_context = nullptr;
  // How long the workers spin after a call that split (kWorkerSpin); 0 or less: they do not.
  std::chrono::nanoseconds worker_spin = kWorkerSpin;
};

}  // namespace corepy::ops

#endif  // COREPY_OPS_PARALLEL_OPTIONS_H_
