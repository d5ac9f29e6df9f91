// The cost of tracing (trace(x, file=PATH), allocators/trace_resource.h) per event, on the
// workload of the 32-thread stress test (tests/reliability/thread_stress_test.cc): 32 threads,
// each opening op scopes and making allocations of random sizes (up to twice the 64 KiB thread
// arena, so some spill) and alignments inside them. BM_Traced runs it under
// trace(arena, file=...), BM_Untraced, the anchor, under plain arena, in the same run; items are
// events (scope opens and closes, allocations), so the difference of the two times per item is
// the tracing cost per event. Every event is 24 bytes of file (trace_format.h).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "corepy/config.h"
#include "corepy/dispatch.h"
#include "tests/bench/ratio_reporter.h"

namespace corepy {
namespace {

constexpr int kAllocationsPerScope = 8;

void configure_for(benchmark::State& state, const std::string& allocator) {
  if (state.thread_index() != 0) return;
  Options o;
  o.allocator = allocator;
  o.arena_size = std::size_t{64} << 10;
  o.arena_max_size = 0;
  if (!configure(o).ok()) state.SkipWithError("configure failed");
}

void workload(benchmark::State& state) {
  std::mt19937_64 rng(static_cast<std::uint64_t>(state.thread_index()) * 7919 + 1);
  std::int64_t events = 0;
  for (auto _ : state) {
    OpScope scope(Op::kSumF32);
    std::pmr::memory_resource* r = scope.resource();
    for (int i = 0; i < kAllocationsPerScope; ++i) {
      const std::size_t size = (rng() % 16 == 0) ? (rng() % (128u << 10)) : (rng() % 2048);
      const std::size_t alignment = std::size_t{1} << (rng() % 7);
      benchmark::DoNotOptimize(r->allocate(size, alignment));
    }
    events += 2 + kAllocationsPerScope;
  }
  state.SetItemsProcessed(events);
}

// A file of its own for each run, removed when the run ends: traces do not pile up over the
// repetitions (at tens of millions of events a second, each run writes hundreds of MB), so each
// run measures writing into the page cache, not a disk that a growing backlog of dirty pages
// throttles (README: what bounds a long trace to disk).
std::string trace_path() {
  static int run = 0;
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/corepy_trace_benchmark." +
         std::to_string(getpid()) + "." + std::to_string(run++) + ".trace";
}

void BM_Untraced(benchmark::State& state) {
  configure_for(state, "arena");
  workload(state);
}

void BM_Traced(benchmark::State& state) {
  std::string path;
  if (state.thread_index() == 0) path = trace_path();
  configure_for(state, "trace(arena, file=" + path + ")");
  workload(state);
  // Threads still writing their last chunk write into the unlinked file.
  if (state.thread_index() == 0) std::remove(path.c_str());
}

// 32 threads is the stress test's shape; on a machine with fewer cores, 1 and 2 threads show
// the cost without the time slicing of 32 threads over those cores.
BENCHMARK(BM_Untraced)->Threads(1)->Threads(2)->Threads(32)->UseRealTime();
BENCHMARK(BM_Traced)->Threads(1)->Threads(2)->Threads(32)->UseRealTime();

}  // namespace
}  // namespace corepy

int main(int argc, char** argv) {
  std::vector<corepy::bench::Comparison> comparisons;
  for (const char* threads : {"1", "2", "32"}) {
    const std::string traced = std::string("BM_Traced/real_time/threads:") + threads;
    const std::string untraced = std::string("BM_Untraced/real_time/threads:") + threads;
    comparisons.push_back({traced, untraced, 0});
    // The overhead line's "ns" column is the tracing cost per event.
    comparisons.push_back({traced, untraced, 0, untraced});
  }
  const int rc = corepy::bench::run_interleaved_with_comparisons(argc, argv, comparisons);
  corepy::reset_configuration();
  return rc;
}
