// What the dispatch layer costs through the shared library a Python or C caller loads
// (libcorepy.so, the C ABI): corepy_sum_f32, the whole dispatch (scope, op scratch, per-op
// counters, log check), against corepy_sum_f32_kernel, the same kernel called through the same
// library with no dispatch layer, in the same run. Inside a shared library a thread-local
// lookup goes through __tls_get_addr (corepy/arena.h uses the default TLS model, so that two
// copies of the library can be loaded), where a statically linked dispatch reads a fixed offset.
// The same source builds c_abi_static_benchmark, with the C ABI linked statically
// (//corepy:c_api): the two binaries' "empty" lines side by side say what the shared library
// costs. Both entry points pay the same C ABI wrapper (null checks, the exception guard).
#include <cstddef>
#include <cstdint>

#include "benchmark/benchmark.h"
#include "corepy/c_api.h"
#include "tests/bench/bench_data.h"
#include "tests/bench/ratio_reporter.h"

namespace {

namespace bench = corepy::bench;

// One 64-byte-aligned input, as arena_scope_benchmark's: an unaligned one costs the kernel more
// than the dispatch does.
const float* input() {
  static const float* data = bench::lcg_floats(100000, 12345);
  return data;
}

template <int (*kSum)(const float*, size_t, float*)>
void BM_Sum(benchmark::State& state) {
  const float* x = input();
  const auto n = static_cast<std::size_t>(state.range(0));
  float out = 0.0f;
  for (auto _ : state) {
    if (kSum(x, n, &out) != COREPY_OK) {
      state.SkipWithError(corepy_last_error());
      break;
    }
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

void BM_CAbiSum(benchmark::State& state) { BM_Sum<corepy_sum_f32>(state); }
void BM_CAbiKernel(benchmark::State& state) { BM_Sum<corepy_sum_f32_kernel>(state); }

BENCHMARK(BM_CAbiSum)->Arg(0)->Arg(1000)->Arg(10000)->Arg(100000);
BENCHMARK(BM_CAbiKernel)->Arg(0)->Arg(1000)->Arg(10000)->Arg(100000);

}  // namespace

int main(int argc, char** argv) {
  // Context lines: issue 11's dispatch target (at most 3 ns over the kernel) is for the C++
  // entry point (arena_scope_benchmark); this is what a caller through the library sees.
  return corepy::bench::run_with_comparisons(
      argc, argv,
      {
          {"BM_CAbiSum/0", "BM_CAbiKernel/0", 0, "BM_CAbiKernel/1000"},
          {"BM_CAbiSum/1000", "BM_CAbiKernel/1000", 0},
          {"BM_CAbiSum/10000", "BM_CAbiKernel/10000", 0},
          {"BM_CAbiSum/100000", "BM_CAbiKernel/100000", 0},
      });
}
