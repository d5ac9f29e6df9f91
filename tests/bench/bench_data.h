// Inputs and counters of the reduction benchmarks (reduce_benchmark, reduce_tensor_benchmark):
// 64-byte-aligned buffers filled from fixed LCGs, so every run and every benchmark reads the same
// data at the same alignment, and the items and bytes every benchmark reports.
//
//   const float* floats() {
//     static const float* data = corepy::bench::lcg_floats(1 << 20, 12345);
//     return data;
//   }
//
// Buffers are made once and never freed: they live as long as the benchmark process.
#ifndef COREPY_TESTS_BENCH_BENCH_DATA_H_
#define COREPY_TESTS_BENCH_BENCH_DATA_H_

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "benchmark/benchmark.h"

namespace corepy::bench {

// Room for n T's, 64-byte aligned; aborts when there is none.
template <class T>
T* aligned_buffer(std::size_t n) {
  void* p = std::aligned_alloc(64, (n * sizeof(T) + 63) / 64 * 64);
  if (p == nullptr) std::abort();
  return static_cast<T*>(p);
}

// n floats uniform in [0, 1): the top 24 bits of each step of an LCG started at `seed`.
inline const float* lcg_floats(std::size_t n, std::uint32_t seed) {
  float* v = aligned_buffer<float>(n);
  for (std::size_t i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    v[i] = static_cast<float>(seed >> 8) * (1.0f / 16777216.0f);
  }
  return v;
}

// n int32s: the LCG's whole words, any sign.
inline const std::int32_t* lcg_ints(std::size_t n, std::uint32_t seed) {
  std::int32_t* v = aligned_buffer<std::int32_t>(n);
  for (std::size_t i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    v[i] = static_cast<std::int32_t>(seed);
  }
  return v;
}

// n T's, convert(x[i]) each.
template <class T, class From, class Convert>
const T* converted(const From* x, std::size_t n, Convert convert) {
  T* v = aligned_buffer<T>(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = convert(x[i]);
  return v;
}

// Items are elements; bytes are the elements' bytes.
inline void set_counters(benchmark::State& state, std::size_t elements, std::size_t element_size) {
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(elements));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(elements * element_size));
}

}  // namespace corepy::bench

#endif  // COREPY_TESTS_BENCH_BENCH_DATA_H_
