// The reduction kernels (//ops) against their anchors in one run, at the sizes (1k, 10k,
// 100k and 16M elements; 64Ki and 1Mi too, for L2 and L3) and 64M for the parallel sum:
//   - sum_f32 against std::accumulate and Eigen 3.4 built with -march=native
//     (reduce_anchors.cc); all_bool / any_bool against std::all_of / std::any_of (and Eigen);
//   - a plain streaming read of the same bytes at every size (the memory bound): each line of
//     the side-by-side table shows GB/s and the fraction of that read's throughput;
//   - the plainest fast float loop (bench::plain_sum: four vector accumulators, no order) at the
//     read's sizes: how near a float sum's loop comes to the read, and sum_f32 against it;
//   - the compensated sum against the plain one, its scratch from an arena (what the runtime
//     gives it: the measurement is the kernel) and from the default resource;
//   - the parallel sum against the single-thread one at 16M and 64M, and a streaming read on two
//     threads (the bound two cores can reach), then the threshold sizes and the axis reductions.
//
// Data: floats uniform in [0, 1); all_bool reads all-true bools and any_bool all-false ones, so
// neither can exit early and every byte is read (the anchors get the same bytes).
// All inputs live in one 64-byte-aligned buffer per type, made once, so every benchmark reads
// the same bytes at the same alignment. Times are per element (items = elements).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <memory_resource>
#include <string>
#include <thread>
#include <vector>

#include "absl/types/span.h"
#include "allocators/arena_resource.h"
#include "benchmark/benchmark.h"
#include "ops/parallel_reduce.h"
#include "ops/reduce.h"
#include "ops/reduce_tensor.h"
#include "tests/bench/bench_data.h"
#include "tests/bench/ratio_reporter.h"
#include "tests/bench/reduce_anchors.h"

namespace {

namespace ops = ::corepy::ops;
namespace bench = ::corepy::bench;

constexpr std::size_t kMaxFloats = std::size_t{1} << 26;    // 256 MiB of floats
constexpr std::size_t kMaxElements = std::size_t{1} << 24;  // of the other types

// Uniform in [0, 1), from a fixed LCG: the same data every run.
const float* floats() {
  static const float* data = bench::lcg_floats(kMaxFloats, 12345);
  return data;
}

// bfloat16 of the same values (their upper halves), for the float32-accumulated bfloat16 sum.
const std::uint16_t* halves() {
  static const std::uint16_t* data = [] {
    std::uint16_t* v = bench::aligned_buffer<std::uint16_t>(kMaxElements);
    for (std::size_t i = 0; i < kMaxElements; ++i) {
      std::uint32_t bits;
      std::memcpy(&bits, floats() + i, sizeof(bits));
      v[i] = static_cast<std::uint16_t>(bits >> 16);
    }
    return v;
  }();
  return data;
}

const std::int32_t* ints() {
  static const std::int32_t* data = bench::lcg_ints(kMaxElements, 777);
  return data;
}

// all() of all-true and any() of all-false read every byte: no early exit to flatter anyone.
const bool* bools(bool value) {
  static const bool* trues = [] {
    bool* v = bench::aligned_buffer<bool>(kMaxElements);
    for (std::size_t i = 0; i < kMaxElements; ++i) v[i] = true;
    return v;
  }();
  static const bool* falses = [] {
    bool* v = bench::aligned_buffer<bool>(kMaxElements);
    for (std::size_t i = 0; i < kMaxElements; ++i) v[i] = false;
    return v;
  }();
  return value ? trues : falses;
}

std::size_t arg(const benchmark::State& state, int i = 0) {
  return static_cast<std::size_t>(state.range(i));
}

using bench::set_counters;

// ------------------------------------------------------------------ anchors

void BM_StreamRead(benchmark::State& state) {  // n floats' bytes
  const std::size_t n = arg(state);
  for (auto _ : state) benchmark::DoNotOptimize(bench::stream_read(floats(), n * sizeof(float)));
  set_counters(state, n, sizeof(float));
}

// The same read split in two halves, one per thread: what two cores can draw from memory,
// the bound of any two-thread reduction. Threads are started per iteration (tens of
// microseconds, against milliseconds of reading at the sizes this runs at).
void BM_StreamReadTwoThreads(benchmark::State& state) {
  const std::size_t n = arg(state);
  const std::size_t half = n / 2;
  for (auto _ : state) {
    std::uint64_t second = 0;
    std::thread other([&] { second = bench::stream_read(floats() + half, (n - half) * 4); });
    const std::uint64_t first = bench::stream_read(floats(), half * sizeof(float));
    other.join();
    benchmark::DoNotOptimize(first | second);
  }
  set_counters(state, n, sizeof(float));
}

void BM_StreamReadBytes(benchmark::State& state) {  // n bools' bytes
  const std::size_t n = arg(state);
  for (auto _ : state) benchmark::DoNotOptimize(bench::stream_read(bools(true), n));
  set_counters(state, n, 1);
}

void BM_Accumulate(benchmark::State& state) {
  const std::size_t n = arg(state);
  for (auto _ : state) benchmark::DoNotOptimize(bench::std_accumulate(floats(), n));
  set_counters(state, n, sizeof(float));
}

void BM_PlainSum(benchmark::State& state) {
  const std::size_t n = arg(state);
  // An anchor that sums wrong would time nothing worth comparing: its sum against a double one.
  double exact = 0;
  for (std::size_t i = 0; i < n; ++i) exact += floats()[i];
  const double plain = bench::plain_sum(floats(), n);
  if (std::abs(plain - exact) > 1e-3 * exact) {
    state.SkipWithError(
        ("plain_sum gave " + std::to_string(plain) + " where the sum is " + std::to_string(exact))
            .c_str());
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(bench::plain_sum(floats(), n));
  set_counters(state, n, sizeof(float));
}

void BM_StdAllOf(benchmark::State& state) {
  const std::size_t n = arg(state);
  for (auto _ : state) benchmark::DoNotOptimize(bench::std_all_of(bools(true), n));
  set_counters(state, n, 1);
}

void BM_StdAnyOf(benchmark::State& state) {
  const std::size_t n = arg(state);
  for (auto _ : state) benchmark::DoNotOptimize(bench::std_any_of(bools(false), n));
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

// A bfloat16 sum through the N-D entry point (ops/reduce_tensor.h), on this thread: float32
// lanes in sum_f32's order, the halves widened as they are loaded. Its anchor is sum_f32 of as
// many floats (twice the bytes). The result comes from an arena, as a dispatch's scope gives it.
void BM_SumBF16(benchmark::State& state) {
  const std::int64_t shape[] = {static_cast<std::int64_t>(arg(state))};
  const ops::TensorView view(halves(), ops::DType::kBFloat16, shape);
  ops::ParallelOptions serial;
  serial.min_parallel_bytes = SIZE_MAX;
  corepy::ArenaResource arena(64 << 10);  // the result, as a dispatch's scope gives it
  for (auto _ : state) {
    corepy::ArenaRewinder scope(arena);
    absl::StatusOr<ops::Tensor> sum =
        ops::reduce(ops::Reduction::kSum, view, ops::ReduceOptions(), &arena, nullptr, serial);
    benchmark::DoNotOptimize(sum->data());
  }
  set_counters(state, arg(state), sizeof(std::uint16_t));
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

// The same with its scratch from the default resource (global new/delete): what the arena
// saves.
void BM_SumF32CompensatedDefault(benchmark::State& state) {
  const auto x = absl::MakeConstSpan(floats(), arg(state));
  for (auto _ : state) {
    benchmark::DoNotOptimize(ops::sum_f32_compensated(x, std::pmr::get_default_resource()));
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

// The sizes: 1k (L1), 10k and 100k (L2), 16M (memory).
const std::vector<std::int64_t> kSizes = {1000, 10000, 100000, 1 << 24};
// Also 64Ki (L2) and 1Mi (4 MiB: L3) for sum_f32 and its anchors.
const std::vector<std::int64_t> kMoreSizes = {1 << 16, 1 << 20};
constexpr std::int64_t kMemory = 1 << 24;
constexpr std::int64_t kLarge = 1 << 26;
// Two chunks (the least that splits) and up, for the threshold.
const std::vector<std::int64_t> kParallelSizes = {1 << 17, 1 << 18, 1 << 19, 1 << 20,
                                                  1 << 22, 1 << 24};
const std::vector<std::vector<std::int64_t>> kShapes = {
    {512, 512}, {4096, 4096}, {1 << 20, 8}, {8, 1 << 20}};

void sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t n : kSizes) b->Arg(n);
}
void sum_sizes(benchmark::internal::Benchmark* b) {
  sizes(b);
  for (std::int64_t n : kMoreSizes) b->Arg(n);
}
void stream_sizes(benchmark::internal::Benchmark* b) {
  sum_sizes(b);
  b->Arg(kLarge);
}
void parallel_sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t n : kParallelSizes) b->Arg(n);
}
void shapes(benchmark::internal::Benchmark* b) {
  for (const auto& s : kShapes) b->Args(s);
}

BENCHMARK(BM_StreamRead)->Apply(stream_sizes)->UseRealTime();
BENCHMARK(BM_StreamReadTwoThreads)->Arg(kMemory)->Arg(kLarge)->UseRealTime();
BENCHMARK(BM_StreamReadBytes)->Apply(sizes)->UseRealTime();
BENCHMARK(BM_EigenSum)->Apply(sum_sizes)->UseRealTime();
BENCHMARK(BM_Accumulate)->Apply(sizes)->UseRealTime();
BENCHMARK(BM_PlainSum)->Apply(stream_sizes)->UseRealTime();
BENCHMARK(BM_SumF32)->Apply(stream_sizes)->UseRealTime();
BENCHMARK(BM_SumBF16)->Apply(sum_sizes)->UseRealTime();
BENCHMARK(BM_EigenMean)->Arg(1 << 20)->UseRealTime();
BENCHMARK(BM_MeanF32)->Arg(1 << 20)->UseRealTime();
BENCHMARK(BM_EigenSumI32)->Apply(sizes)->UseRealTime();
BENCHMARK(BM_SumI32)->Apply(sizes)->UseRealTime();
BENCHMARK(BM_StdAllOf)->Apply(sizes)->UseRealTime();
BENCHMARK(BM_EigenAll)->Apply(sizes)->UseRealTime();
BENCHMARK(BM_AllBool)->Apply(sizes)->UseRealTime();
BENCHMARK(BM_StdAnyOf)->Apply(sizes)->UseRealTime();
BENCHMARK(BM_EigenAny)->Apply(sizes)->UseRealTime();
BENCHMARK(BM_AnyBool)->Apply(sizes)->UseRealTime();
BENCHMARK(BM_SumF32Compensated)->Apply(sizes)->UseRealTime();
BENCHMARK(BM_SumF32CompensatedDefault)->Apply(sizes)->UseRealTime();
BENCHMARK(BM_SumF32Parallel)->Apply(sizes)->Arg(kLarge)->UseRealTime();
BENCHMARK(BM_SumF32ParallelForced)->Apply(parallel_sizes)->UseRealTime();
BENCHMARK(BM_SumF32CompensatedParallelForced)->Apply(parallel_sizes)->UseRealTime();
BENCHMARK(BM_SumI32ParallelForced)->Apply(parallel_sizes)->UseRealTime();
BENCHMARK(BM_EigenColwiseSum)->Apply(shapes)->UseRealTime();
BENCHMARK(BM_SumAxis0)->Apply(shapes)->UseRealTime();
BENCHMARK(BM_SumAxis0Parallel)->Apply(shapes)->UseRealTime();
BENCHMARK(BM_EigenRowwiseSum)->Apply(shapes)->UseRealTime();
BENCHMARK(BM_SumAxis1)->Apply(shapes)->UseRealTime();
BENCHMARK(BM_SumAxis1Parallel)->Apply(shapes)->UseRealTime();

// Every benchmark here measures real (wall-clock) time, so that a parallel one and a serial one
// are timed alike: their names carry the suffix.
std::string name(const char* benchmark, std::int64_t n) {
  return std::string(benchmark) + "/" + std::to_string(n) + "/real_time";
}
std::string name(const char* benchmark, const std::vector<std::int64_t>& shape) {
  return std::string(benchmark) + "/" + std::to_string(shape[0]) + "/" +
         std::to_string(shape[1]) + "/real_time";
}

// A comparison of float sums (4 bytes an item) whose line shows GB/s and the fraction of the
// streaming read of the same bytes (`bandwidth`; by default the one-thread read of that size).
bench::Comparison floats_line(const std::string& subject, const std::string& anchor,
                              double target, std::int64_t n, std::string bandwidth = "") {
  return {subject, anchor, target, "", 4.0,
          bandwidth.empty() ? name("BM_StreamRead", n) : std::move(bandwidth)};
}
bench::Comparison bools_line(const std::string& subject, const std::string& anchor,
                             double target, std::int64_t n) {
  return {subject, anchor, target, "", 1.0, name("BM_StreamReadBytes", n)};
}

}  // namespace

// The targets: sum_f32 at most 1.0x Eigen's time at each size; at 16M elements at least
// 90% of the streaming read (a time at most 1/0.9 = 1.11x the read's); the parallel sum at
// least 1.5x the single-thread throughput at 64M (time at most 0.667x), with the two-thread
// streaming read shown as the bound; the compensated sum at most 2x the plain one. Lines with
// target "-" are context. Beyond the issue: all/any and sum_i32 no slower than their anchors,
// two threads ahead of one from the threshold up, axis sums no slower than Eigen's.
int main(int argc, char** argv) {
  std::vector<bench::Comparison> c;
  std::vector<std::int64_t> sum_at = kSizes;
  sum_at.insert(sum_at.end(), kMoreSizes.begin(), kMoreSizes.end());
  for (std::int64_t n : sum_at) {
    c.push_back(floats_line(name("BM_SumF32", n), name("BM_EigenSum", n), 1.0, n));
  }
  for (std::int64_t n : kSizes) {
    c.push_back(floats_line(name("BM_SumF32", n), name("BM_Accumulate", n), 1.0, n));
  }
  for (std::int64_t n : sum_at) {
    c.push_back(floats_line(name("BM_EigenSum", n), name("BM_StreamRead", n), 0, n));
  }
  c.push_back(
      floats_line(name("BM_SumF32", kMemory), name("BM_StreamRead", kMemory), 1 / 0.9, kMemory));
  // Context: the plainest fast float loop against the read, and sum_f32 against it, at every
  // size the read runs at.
  std::vector<std::int64_t> read_at = sum_at;
  read_at.push_back(kLarge);
  for (std::int64_t n : read_at) {
    c.push_back(floats_line(name("BM_PlainSum", n), name("BM_StreamRead", n), 0, n));
  }
  for (std::int64_t n : read_at) {
    c.push_back(floats_line(name("BM_SumF32", n), name("BM_PlainSum", n), 0, n));
  }
  for (std::int64_t n : kSizes) {
    c.push_back(bools_line(name("BM_AllBool", n), name("BM_StdAllOf", n), 1.0, n));
    c.push_back(bools_line(name("BM_AnyBool", n), name("BM_StdAnyOf", n), 1.0, n));
  }
  for (std::int64_t n : kSizes) {
    c.push_back(bools_line(name("BM_AllBool", n), name("BM_EigenAll", n), 1.0, n));
    c.push_back(bools_line(name("BM_AnyBool", n), name("BM_EigenAny", n), 1.0, n));
  }
  for (std::int64_t n : kSizes) {
    c.push_back(floats_line(name("BM_SumF32Compensated", n), name("BM_SumF32", n), 2.0, n));
  }
  for (std::int64_t n : kSizes) {
    c.push_back(floats_line(name("BM_SumF32CompensatedDefault", n), name("BM_SumF32", n), 2.0, n));
  }
  for (std::int64_t n : {kMemory, kLarge}) {
    const std::string two = name("BM_StreamReadTwoThreads", n);
    c.push_back(floats_line(name("BM_SumF32Parallel", n), name("BM_SumF32", n), 1 / 1.5, n,
                            two));
    c.push_back(floats_line(two, name("BM_StreamRead", n), 0, n, two));
    c.push_back(floats_line(name("BM_SumF32Parallel", n), two, 0, n, two));
  }
  for (std::int64_t n : sum_at) {  // context: a bfloat16 sum against a float32 one of as many
    c.push_back({name("BM_SumBF16", n), name("BM_SumF32", n), 0});
  }
  c.push_back({name("BM_MeanF32", 1 << 20), name("BM_EigenMean", 1 << 20), 1.0});
  for (std::int64_t n : kSizes) {
    c.push_back({name("BM_SumI32", n), name("BM_EigenSumI32", n), 1.0});
  }
  for (std::int64_t n : kParallelSizes) {
    c.push_back({name("BM_SumF32ParallelForced", n), name("BM_SumF32", n), 1.0});
  }
  for (std::int64_t n : kSizes) {
    c.push_back({name("BM_SumF32Parallel", n), name("BM_SumF32", n), n < kMemory ? 1.1 : 0.75});
  }
  for (std::int64_t n : kParallelSizes) {
    c.push_back({name("BM_SumF32CompensatedParallelForced", n),
                 name("BM_SumF32Compensated", n), 1.0});
  }
  for (std::int64_t n : kParallelSizes) {
    c.push_back({name("BM_SumI32ParallelForced", n), name("BM_SumI32", n), 1.0});
  }
  for (const auto& s : kShapes) {
    c.push_back({name("BM_SumAxis0", s), name("BM_EigenColwiseSum", s), 1.0});
    c.push_back({name("BM_SumAxis1", s), name("BM_EigenRowwiseSum", s), 1.0});
  }
  for (const auto& s : kShapes) {
    const double target = s[0] * s[1] >= (1 << 22) ? 0.75 : 1.0;
    c.push_back({name("BM_SumAxis0Parallel", s), name("BM_SumAxis0", s), target});
    c.push_back({name("BM_SumAxis1Parallel", s), name("BM_SumAxis1", s), target});
  }
  return bench::run_interleaved_with_comparisons(argc, argv, std::move(c));
}
