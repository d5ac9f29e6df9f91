// Instructions per scope and per dispatch, counted by callgrind: a fixed number of empty
// `with_arena` scopes, empty `sum_f32_cpu_dispatch` calls, or their anchors (the same loop with
// no scope; the kernel called directly on an empty span), or small N-D sums through
// reduce_into_cpu_dispatch() and through ops::execute() (nd_*), named on the command line. As
// allocation_count.cc does, run it at two round counts and divide the difference by the rounds
// between them, so that start-up (the thread's arena, the configuration) cancels out;
// tests/bench/count.sh does that for every mode here:
//
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null scope_count empty_scope 100000
//
// Built -DNVALGRIND, as count.sh builds it, so the arena takes its production path rather than
// reporting every allocation to Valgrind.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/types/span.h"
#include "corepy/arena.h"
#include "corepy/dispatch.h"
#include "corepy/tensor_dispatch.h"
#include "ops/reduce.h"
#include "ops/reduce_tensor.h"
#include "ops/tensor.h"
#include "tests/bench/count_args.h"

namespace {

template <class Body>
__attribute__((noinline)) void rounds(long n, Body body) {
  for (long r = 0; r < n; ++r) body();
}

}  // namespace

int main(int argc, char** argv) {
  long n = 0;
  if (!corepy::bench::parse_count_args(
          argc, argv,
          "no_scope|empty_scope|empty_kernel|empty_dispatch|nd_rows_kernel|"
          "nd_rows_dispatch|nd_columns_kernel|nd_columns_dispatch",
          n)) {
    return 2;
  }
  const char* which = argv[1];
  int work = 0;
  const float x = 0.0f;
  if (std::strcmp(which, "no_scope") == 0) {
    rounds(n, [&] { asm volatile("" : "+r"(work)); });
  } else if (std::strcmp(which, "empty_scope") == 0) {
    rounds(n, [&] {
      corepy::with_arena([&](corepy::ArenaResource&) { asm volatile("" : "+r"(work)); });
    });
  } else if (std::strcmp(which, "empty_kernel") == 0) {
    rounds(n, [&] {
      float s = corepy::ops::sum_f32(absl::Span<const float>(&x, 0));
      asm volatile("" : "+x"(s));
    });
  } else if (std::strcmp(which, "empty_dispatch") == 0) {
    rounds(n, [&] {
      float s = corepy::sum_f32_cpu_dispatch(&x, 0);
      asm volatile("" : "+x"(s));
    });
  } else if (std::strncmp(which, "nd_", 3) == 0) {
    // An N-D float32 sum of a (16, 16) array (nd_rows_*: over axis 1, no scratch; nd_columns_*:
    // over axis 0, accumulators in scratch), its plan made once: computed by ops::execute() with
    // scratch from an arena of its own, or by the dispatch.
    static float m[16 * 16] = {};
    static float out[16];
    const std::int64_t shape[] = {16, 16};
    const bool rows = std::strncmp(which, "nd_rows_", 8) == 0;
    const std::int64_t axes[] = {rows ? 1 : 0};
    corepy::ops::ReduceOptions options;
    options.all_axes = false;
    options.axes = axes;
    const corepy::ops::ReducePlan plan = *corepy::ops::ReducePlan::make(
        corepy::ops::Reduction::kSum,
        corepy::ops::TensorView(m, corepy::ops::DType::kFloat32, shape), options);
    corepy::ArenaResource scratch(std::size_t{1} << 16);
    const char* kind = which + (rows ? 8 : 11);
    if (std::strcmp(kind, "kernel") == 0) {
      rounds(n, [&] { corepy::ops::execute(plan, out, &scratch); });
    } else if (std::strcmp(kind, "dispatch") == 0) {
      rounds(n, [&] { corepy::reduce_into_cpu_dispatch(plan, out); });
    } else {
      std::fprintf(stderr, "%s: unknown mode \"%s\"\n", argv[0], which);
      return 2;
    }
  } else {
    std::fprintf(stderr, "%s: unknown mode \"%s\"\n", argv[0], which);
    return 2;
  }
  return 0;
}
