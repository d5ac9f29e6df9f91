// The clock of this run, for benchmarks whose targets are counts of cycles: BM_Cycle's time per
// item is one cycle. A machine's clock is often not what it reports (a VM's 2000 MHz ran at
// 2.25 GHz here), and `perf` cannot count cycles in a VM without hardware counters, so each
// benchmark that quotes cycles measures the clock beside itself: a ratio against BM_Cycle, in
// the side-by-side table, is a count of cycles.
#ifndef COREPY_TESTS_BENCH_CYCLE_H_
#define COREPY_TESTS_BENCH_CYCLE_H_

#include <cstdint>

#include "benchmark/benchmark.h"

namespace corepy::bench {

// A chain of dependent 64-bit multiplies: 3 cycles each on every x86-64 core of the last 15
// years (Intel since Nehalem, AMD since Zen), with nothing else on the chain.
inline void BM_Cycle(benchmark::State& state) {
  constexpr int kMultiplies = 100;
  std::uint64_t x = 3;
  for (auto _ : state) {
    for (int i = 0; i < kMultiplies; ++i) {
#if defined(__x86_64__)
      asm volatile("imul %0, %0" : "+r"(x));
#else
      x *= x;
      benchmark::DoNotOptimize(x);
#endif
    }
  }
  benchmark::DoNotOptimize(x);
  state.SetItemsProcessed(state.iterations() * kMultiplies * 3);
}

}  // namespace corepy::bench

#endif  // COREPY_TESTS_BENCH_CYCLE_H_
