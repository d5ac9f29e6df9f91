// The reduction kernels (//ops) against their anchors in one run: a plain streaming read of the
// same bytes (the memory bound) and Eigen 3.4 built with -march=native (reduce_anchors.cc),
// from 4 KiB (L1) to 64 MiB (memory). Then the compensated sum against the plain one and with
// its scratch on an arena or on new/delete, the parallel sums at 1 and 2 threads' worth of work
// across the threshold, and the axis reductions against Eigen's colwise()/rowwise().
//
// All inputs live in one 64-byte-aligned buffer per type, made once, so every benchmark reads
// the same bytes at the same alignment. Times are per element (items = elements).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <memory_resource>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "allocators/arena_resource.h"
#include "benchmark/benchmark.h"
#include "ops/parallel_reduce.h"
#include "ops/reduce.h"
#include "tests/bench/ratio_reporter.h"
#include "tests/bench/reduce_anchors.h"

namespace {

namespace ops = ::corepy::ops;
namespace bench = ::corepy::bench;

constexpr std::size_t kMaxElements = std::size_t{1} << 24;  // 64 MiB of floats

template <class T>
T* aligned_buffer(std::size_t n) {
  void* p = std::aligned_alloc(64, (n * sizeof(T) + 63) / 64 * 64);
  if (p == nullptr) std::abort();
  return static_cast<T*>(p);
}

// Uniform in [0, 1), from a fixed LCG: the same data every run.
const float* floats() {
  static const float* data = [] {
    float* v = aligned_buffer<float>(kMaxElements);
    std::uint32_t s = 12345;
    for (std::size_t i = 0; i < kMaxElements; ++i) {
      s = s * 1664525u + 1013904223u;
      v[i] = static_cast<float>(s >> 8) * (1.0f / 16777216.0f);
    }
    return v;
  }();
  return data;
}

const std::int32_t* ints() {
  static const std::int32_t* data = [] {
    std::int32_t* v = aligned_buffer<std::int32_t>(kMaxElements);
    std::uint32_t s = 777;
    for (std::size_t i = 0; i < kMaxElements; ++i) {
      s = s * 1664525u + 1013904223u;
      v[i] = static_cast<std::int32_t>(s);
    }
    return v;
  }();
  return data;
}

// all() of all-true and any() of all-false read every byte: no early exit to flatter anyone.
const bool* bools(bool value) {
  static const bool* trues = [] {
    bool* v = aligned_buffer<bool>(kMaxElements);
    for (std::size_t i = 0; i < kMaxElements; ++i) v[i] = true;
    return v;
  }();
  static const bool* falses = [] {
    bool* v = aligned_buffer<bool>(kMaxElements);
    for (std::size_t i = 0; i < kMaxElements; ++i) v[i] = false;
    return v;
  }();
  return value ? trues : falses;
}

std::size_t arg(const benchmark::State& state, int i = 0) {
  return static_cast<std::size_t>(state.range(i));
}

void set_counters(benchmark::State& state, std::size_t elements, std::size_t element_size) {
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(elements));
  state.SetBytesProcessed(state.iterations() *
                          static_cast<std::int64_t>(elements * element_size));
}

// ------------------------------------------------------------------ anchors

void BM_StreamRead(benchmark::State& state) {  // n floats' bytes
  const std::size_t n = arg(state);
  for (auto _ : state) benchmark::DoNotOptimize(bench::stream_read(floats(), n * sizeof(float)));
  set_counters(state, n, sizeof(float));
}

void BM_StreamReadBytes(benchmark::State& state) {  // n bools' bytes
  const std::size_t n = arg(state);
  for (auto _ : state) benchmark::DoNotOptimize(bench::stream_read(bools(true), n));
  set_counters(state, n, 1);
}

void BM_EigenSum(benchmark::State& state) {
  const std::size_t n = arg(state);
  for (auto _ : state) benchmark::DoNotOptimize(bench::eigen_sum(floats(), n));
  set_counters(state, n, sizeof(float));
}

void BM_EigenMean(benchmark::State& state) {
  const std::size_t n = arg(state);
  for (auto _ : state) benchmark::DoNotOptimize(bench::eigen_mean(floats(), n));
  set_counters(state, n, sizeof(float));
}

void BM_EigenSumI32(benchmark::State& state) {
  const std::size_t n = arg(state);
  for (auto _ : state) benchmark::DoNotOptimize(bench::eigen_sum_i32_widened(ints(), n));
  set_counters(state, n, sizeof(std::int32_t));
}

void BM_EigenAll(benchmark::State& state) {
  const std::size_t n = arg(state);
  for (auto _ : state) benchmark::DoNotOptimize(bench::eigen_all(bools(true), n));
  set_counters(state, n, 1);
}

void BM_EigenAny(benchmark::State& state) {
  const std::size_t n = arg(state);
  for (auto _ : state) benchmark::DoNotOptimize(bench::eigen_any(bools(false), n));
  set_counters(state, n, 1);
}

void BM_EigenColwiseSum(benchmark::State& state) {
  const std::size_t rows = arg(state, 0);
  const std::size_t cols = arg(state, 1);
  std::vector<float> out(cols);
  for (auto _ : state) {
    bench::eigen_column_sums(floats(), rows, cols, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, rows * cols, sizeof(float));
}

void BM_EigenRowwiseSum(benchmark::State& state) {
  const std::size_t rows = arg(state, 0);
  const std::size_t cols = arg(state, 1);
  std::vector<float> out(rows);
  for (auto _ : state) {
    bench::eigen_row_sums(floats(), rows, cols, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, rows * cols, sizeof(float));
}

// ------------------------------------------------------------------ corepy, serial

void BM_SumF32(benchmark::State& state) {
  const auto x = absl::MakeConstSpan(floats(), arg(state));
  for (auto _ : state) benchmark::DoNotOptimize(ops::sum_f32(x));
  set_counters(state, x.size(), sizeof(float));
}

void BM_MeanF32(benchmark::State& state) {
  const auto x = absl::MakeConstSpan(floats(), arg(state));
  for (auto _ : state) benchmark::DoNotOptimize(ops::mean_f32(x));
  set_counters(state, x.size(), sizeof(float));
}

void BM_SumI32(benchmark::State& state) {
  const auto x = absl::MakeConstSpan(ints(), arg(state));
  for (auto _ : state) benchmark::DoNotOptimize(ops::sum_i32(x));
  set_counters(state, x.size(), sizeof(std::int32_t));
}

void BM_AllBool(benchmark::State& state) {
  const auto x = absl::MakeConstSpan(bools(true), arg(state));
  for (auto _ : state) benchmark::DoNotOptimize(ops::all_bool(x));
  set_counters(state, x.size(), 1);
}

void BM_AnyBool(benchmark::State& state) {
  const auto x = absl::MakeConstSpan(bools(false), arg(state));
  for (auto _ : state) benchmark::DoNotOptimize(ops::any_bool(x));
  set_counters(state, x.size(), 1);
}

// Scratch from an arena, as the runtime's thread arenas give it; the arena pops it each call.
void BM_SumF32Compensated(benchmark::State& state) {
  const auto x = absl::MakeConstSpan(floats(), arg(state));
  auto arena = std::make_unique<corepy::ArenaResource>(64 << 10);
  for (auto _ : state) benchmark::DoNotOptimize(ops::sum_f32_compensated(x, arena.get()));
  set_counters(state, x.size(), sizeof(float));
}

// The same with its scratch from global new/delete: what the arena saves.
void BM_SumF32CompensatedNewDelete(benchmark::State& state) {
  const auto x = absl::MakeConstSpan(floats(), arg(state));
  for (auto _ : state) {
    benchmark::DoNotOptimize(ops::sum_f32_compensated(x, std::pmr::new_delete_resource()));
  }
  set_counters(state, x.size(), sizeof(float));
}

// Results on an arena reset every call, as a runtime scope would rewind it.
template <bool kParallel>
void axis_sum(benchmark::State& state, int axis) {
  const std::size_t rows = arg(state, 0);
  const std::size_t cols = arg(state, 1);
  auto arena = std::make_unique<corepy::ArenaResource>((rows + cols) * sizeof(float) + (1 << 20));
  ops::ParallelOptions options;
  for (auto _ : state) {
    if constexpr (kParallel) {
      auto r = ops::sum_f32_axis_parallel(floats(), rows, cols, axis, arena.get(), options);
      benchmark::DoNotOptimize(r->data());
    } else {
      auto r = ops::sum_f32_axis(floats(), rows, cols, axis, arena.get());
      benchmark::DoNotOptimize(r->data());
    }
    benchmark::ClobberMemory();
    arena->reset();
  }
  set_counters(state, rows * cols, sizeof(float));
}

void BM_SumAxis0(benchmark::State& state) { axis_sum<false>(state, 0); }
void BM_SumAxis1(benchmark::State& state) { axis_sum<false>(state, 1); }
void BM_SumAxis0Parallel(benchmark::State& state) { axis_sum<true>(state, 0); }
void BM_SumAxis1Parallel(benchmark::State& state) { axis_sum<true>(state, 1); }

// ------------------------------------------------------------------ corepy, parallel

ops::ParallelOptions forced() {
  ops::ParallelOptions o;
  o.min_parallel_bytes = 0;
  return o;
}

// With the default threshold: what a caller gets.
void BM_SumF32Parallel(benchmark::State& state) {
  const auto x = absl::MakeConstSpan(floats(), arg(state));
  for (auto _ : state) benchmark::DoNotOptimize(ops::sum_f32_parallel(x));
  set_counters(state, x.size(), sizeof(float));
}

// Split whenever there are two chunks: where splitting starts to pay is the threshold.
void BM_SumF32ParallelForced(benchmark::State& state) {
  const auto x = absl::MakeConstSpan(floats(), arg(state));
  const ops::ParallelOptions o = forced();
  for (auto _ : state) benchmark::DoNotOptimize(ops::sum_f32_parallel(x, o));
  set_counters(state, x.size(), sizeof(float));
}

void BM_SumF32CompensatedParallelForced(benchmark::State& state) {
  const auto x = absl::MakeConstSpan(floats(), arg(state));
  const ops::ParallelOptions o = forced();
  for (auto _ : state) benchmark::DoNotOptimize(ops::sum_f32_compensated_parallel(x, o));
  set_counters(state, x.size(), sizeof(float));
}

void BM_SumI32ParallelForced(benchmark::State& state) {
  const auto x = absl::MakeConstSpan(ints(), arg(state));
  const ops::ParallelOptions o = forced();
  for (auto _ : state) benchmark::DoNotOptimize(ops::sum_i32_parallel(x, o));
  set_counters(state, x.size(), sizeof(std::int32_t));
}

const std::vector<std::int64_t> kSizes = {1 << 10, 1 << 16, 1 << 20, 1 << 24};
// Two chunks (the least that splits) and up, for the threshold.
const std::vector<std::int64_t> kParallelSizes = {1 << 17, 1 << 18, 1 << 19, 1 << 20,
                                                  1 << 22, 1 << 24};
const std::vector<std::vector<std::int64_t>> kShapes = {
    {512, 512}, {4096, 4096}, {1 << 20, 8}, {8, 1 << 20}};

void sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t n : kSizes) b->Arg(n);
}
void parallel_sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t n : kParallelSizes) b->Arg(n);
}
void all_sizes(benchmark::internal::Benchmark* b) {
  sizes(b);
  for (std::int64_t n : kParallelSizes) {
    if (n != (1 << 20) && n != (1 << 24)) b->Arg(n);
  }
}
void shapes(benchmark::internal::Benchmark* b) {
  for (const auto& s : kShapes) b->Args(s);
}

BENCHMARK(BM_StreamRead)->Apply(all_sizes);
BENCHMARK(BM_StreamReadBytes)->Apply(sizes);
BENCHMARK(BM_EigenSum)->Apply(sizes);
BENCHMARK(BM_SumF32)->Apply(all_sizes);
BENCHMARK(BM_EigenMean)->Arg(1 << 20);
BENCHMARK(BM_MeanF32)->Arg(1 << 20);
BENCHMARK(BM_EigenSumI32)->Apply(sizes);
BENCHMARK(BM_SumI32)->Apply(all_sizes);
BENCHMARK(BM_EigenAll)->Apply(sizes);
BENCHMARK(BM_AllBool)->Apply(sizes);
BENCHMARK(BM_EigenAny)->Apply(sizes);
BENCHMARK(BM_AnyBool)->Apply(sizes);
BENCHMARK(BM_SumF32Compensated)->Apply(all_sizes);
BENCHMARK(BM_SumF32CompensatedNewDelete)->Arg(1 << 10)->Arg(1 << 16);
BENCHMARK(BM_SumF32Parallel)->Apply(sizes)->UseRealTime();
BENCHMARK(BM_SumF32ParallelForced)->Apply(parallel_sizes)->UseRealTime();
BENCHMARK(BM_SumF32CompensatedParallelForced)->Apply(parallel_sizes)->UseRealTime();
BENCHMARK(BM_SumI32ParallelForced)->Apply(parallel_sizes)->UseRealTime();
BENCHMARK(BM_EigenColwiseSum)->Apply(shapes);
BENCHMARK(BM_SumAxis0)->Apply(shapes);
BENCHMARK(BM_SumAxis0Parallel)->Apply(shapes)->UseRealTime();
BENCHMARK(BM_EigenRowwiseSum)->Apply(shapes);
BENCHMARK(BM_SumAxis1)->Apply(shapes);
BENCHMARK(BM_SumAxis1Parallel)->Apply(shapes)->UseRealTime();

std::string name(const char* benchmark, std::int64_t n) {
  return std::string(benchmark) + "/" + std::to_string(n);
}
std::string name(const char* benchmark, const std::vector<std::int64_t>& shape) {
  return std::string(benchmark) + "/" + std::to_string(shape[0]) + "/" + std::to_string(shape[1]);
}
// Parallel benchmarks measure real time: their names carry the suffix.
std::string real(const std::string& n) { return n + "/real_time"; }

}  // namespace

// Targets: at least as fast as Eigen -march=native
// everywhere; within 10% of the streaming read once the data comes from memory (1 Mi elements
// and up; the compensated sum 25%); the compensated sum at most 3x the plain one in cache; the
// arena's scratch no slower than new/delete's; two threads ahead of one from the threshold up,
// and at least 1.33x ahead on large inputs; below the threshold, no measurable cost (10%).
int main(int argc, char** argv) {
  std::vector<bench::Comparison> c;
  constexpr std::int64_t kL3 = 1 << 20;
  constexpr std::int64_t kMemory = 1 << 24;
  for (std::int64_t n : kSizes) c.push_back({name("BM_SumF32", n), name("BM_EigenSum", n), 1.0});
  for (std::int64_t n : {kL3, kMemory}) {
    c.push_back({name("BM_SumF32", n), name("BM_StreamRead", n), 1.1});
  }
  c.push_back({name("BM_MeanF32", kL3), name("BM_EigenMean", kL3), 1.0});
  for (std::int64_t n : kSizes) {
    c.push_back({name("BM_SumI32", n), name("BM_EigenSumI32", n), 1.0});
  }
  c.push_back({name("BM_SumI32", kMemory), name("BM_StreamRead", kMemory), 1.1});
  for (std::int64_t n : kSizes) c.push_back({name("BM_AllBool", n), name("BM_EigenAll", n), 1.0});
  for (std::int64_t n : kSizes) c.push_back({name("BM_AnyBool", n), name("BM_EigenAny", n), 1.0});
  c.push_back({name("BM_AllBool", kMemory), name("BM_StreamReadBytes", kMemory), 1.1});
  c.push_back({name("BM_AnyBool", kMemory), name("BM_StreamReadBytes", kMemory), 1.1});
  for (std::int64_t n : kSizes) {
    c.push_back({name("BM_SumF32Compensated", n), name("BM_SumF32", n), n == kMemory ? 1.25 : 3.0});
  }
  c.push_back({name("BM_SumF32Compensated", kMemory), name("BM_StreamRead", kMemory), 1.25});
  for (std::int64_t n : {1 << 10, 1 << 16}) {
    c.push_back({name("BM_SumF32Compensated", n), name("BM_SumF32CompensatedNewDelete", n), 1.0});
  }
  for (std::int64_t n : kParallelSizes) {
    c.push_back({real(name("BM_SumF32ParallelForced", n)), name("BM_SumF32", n), 1.0});
  }
  for (std::int64_t n : kParallelSizes) {
    c.push_back({real(name("BM_SumF32CompensatedParallelForced", n)),
                 name("BM_SumF32Compensated", n), 1.0});
  }
  for (std::int64_t n : kParallelSizes) {
    c.push_back({real(name("BM_SumI32ParallelForced", n)), name("BM_SumI32", n), 1.0});
  }
  for (std::int64_t n : kSizes) {
    c.push_back({real(name("BM_SumF32Parallel", n)), name("BM_SumF32", n), n < kL3 ? 1.1 : 0.75});
  }
  for (const auto& s : kShapes) {
    c.push_back({name("BM_SumAxis0", s), name("BM_EigenColwiseSum", s), 1.0});
    c.push_back({name("BM_SumAxis1", s), name("BM_EigenRowwiseSum", s), 1.0});
  }
  for (const auto& s : kShapes) {
    const double target = s[0] * s[1] >= (1 << 22) ? 0.75 : 1.0;
    c.push_back({real(name("BM_SumAxis0Parallel", s)), name("BM_SumAxis0", s), target});
    c.push_back({real(name("BM_SumAxis1Parallel", s)), name("BM_SumAxis1", s), target});
  }
  // Repetitions of different benchmarks interleaved: a burst of other work on this shared machine
  // (memory bandwidth, mostly) then falls on both sides of a comparison, not on one.
  std::vector<char*> args(argv, argv + argc);
  std::string interleave = "--benchmark_enable_random_interleaving=true";
  bool given = false;
  for (int i = 1; i < argc; ++i) {
    given |= std::string(argv[i]).rfind("--benchmark_enable_random_interleaving", 0) == 0;
  }
  if (!given) args.insert(args.begin() + 1, interleave.data());
  return bench::run_with_comparisons(static_cast<int>(args.size()), args.data(), std::move(c));
}
