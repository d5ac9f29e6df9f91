// What StatsResource costs per allocation, with and without the stacks of live allocations
// (StatsResource::Options::record_stacks), against its anchor in the same run: the upstream
// alone, std::pmr::new_delete_resource() called through memory_resource*. Each iteration makes
// kBatch allocations of 64 bytes, keeping them live as a program would, then frees them in
// reverse order. The stacks are taken from a call kDepth frames deep, so that every one of the
// max_frames (16) is unwound, as in a real program; the anchor runs at the same depth.
#include <cstddef>
#include <memory_resource>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "allocators/stats_resource.h"
#include "benchmark/benchmark.h"
#include "tests/bench/ratio_reporter.h"

namespace {

constexpr int kBatch = 64;
constexpr std::size_t kSize = 64;
constexpr int kDepth = 24;

// Runs the batch kDepth frames below the caller.
ABSL_ATTRIBUTE_NOINLINE void batch_at_depth(int depth, std::pmr::memory_resource* r,
                                            void** held) {
  if (depth > 0) {
    batch_at_depth(depth - 1, r, held);
    ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
    return;
  }
  for (int i = 0; i < kBatch; ++i) held[i] = r->allocate(kSize, 16);
  for (int i = kBatch - 1; i >= 0; --i) r->deallocate(held[i], kSize, 16);
}

void run(benchmark::State& state, std::pmr::memory_resource* r) {
  std::vector<void*> held(kBatch);
  for (auto _ : state) batch_at_depth(kDepth, r, held.data());
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.SetBytesProcessed(state.iterations() * kBatch * static_cast<int64_t>(kSize));
}

void BM_NewDelete(benchmark::State& state) { run(state, std::pmr::new_delete_resource()); }

void BM_Stats(benchmark::State& state) {
  corepy::StatsResource stats(std::pmr::new_delete_resource());
  run(state, &stats);
}

void BM_StatsStacks(benchmark::State& state) {
  corepy::StatsResource::Options options;
  options.record_stacks = true;
  corepy::StatsResource stats(std::pmr::new_delete_resource(), options);
  run(state, &stats);
}

BENCHMARK(BM_NewDelete);
BENCHMARK(BM_Stats);
BENCHMARK(BM_StatsStacks);

}  // namespace

int main(int argc, char** argv) {
  // Context, not goals (target 0): what counting costs over the upstream, and what the stacks
  // add to it.
  return corepy::bench::run_interleaved_with_comparisons(argc, argv,
                                                         {{"BM_Stats", "BM_NewDelete", 0},
                                                          {"BM_StatsStacks", "BM_NewDelete", 0},
                                                          {"BM_StatsStacks", "BM_Stats", 0}});
}
