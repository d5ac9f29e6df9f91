// The command line of the callgrind drivers (allocation_count.cc, scope_count.cc): MODE ROUNDS.
//
//   long rounds = 0;
//   if (!corepy::bench::parse_count_args(argc, argv, "arena|llvm", rounds)) return 2;
//   const char* mode = argv[1];
#ifndef COREPY_TESTS_BENCH_COUNT_ARGS_H_
#define COREPY_TESTS_BENCH_COUNT_ARGS_H_

#include <cstdio>
#include <cstdlib>

namespace corepy::bench {

// Checks that there are two arguments and that the second is a count, which goes to `rounds`;
// otherwise says what was wrong on stderr (the usage names `modes`) and returns false.
inline bool parse_count_args(int argc, char** argv, const char* modes, long& rounds) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s %s ROUNDS\n", argv[0], modes);
    return false;
  }
  char* end = nullptr;
  rounds = std::strtol(argv[2], &end, 10);
  if (end == argv[2] || *end != '\0' || rounds < 0) {
    std::fprintf(stderr, "%s: ROUNDS must be a count, not \"%s\"\n", argv[0], argv[2]);
    return false;
  }
  return true;
}

}  // namespace corepy::bench

#endif  // COREPY_TESTS_BENCH_COUNT_ARGS_H_
