// Instructions per scope and per dispatch, counted by callgrind: a fixed number of empty
// `with_arena` scopes, empty `sum_f32_cpu_dispatch` calls, or their anchors (the same loop with
// no scope; the kernel called directly on an empty span), named on the command line. As
// allocation_count.cc does, run it at two round counts and divide the difference by the rounds
// between them, so that start-up (the thread's arena, the configuration) cancels out;
// tests/bench/count.sh does that for every mode here:
//
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null scope_count empty_scope 100000
//
// Built -DNVALGRIND, as count.sh builds it, so the arena takes its production path rather than
// reporting every allocation to Valgrind.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/types/span.h"
#include "corepy/arena.h"
#include "corepy/dispatch.h"
#include "ops/reduce.h"
#include "tests/bench/count_args.h"

namespace {

template <class Body>
__attribute__((noinline)) void rounds(long n, Body body) {
  for (long r = 0; r < n; ++r) body();
}

}  // namespace

int main(int argc, char** argv) {
  long n = 0;
  if (!corepy::bench::parse_count_args(argc, argv,
                                       "no_scope|empty_scope|empty_kernel|empty_dispatch", n)) {
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
  } else {
    std::fprintf(stderr, "%s: unknown mode \"%s\"\n", argv[0], which);
    return 2;
  }
  return 0;
}
