// A console reporter that, after the usual table, prints how corepy compares with its anchors:
// one line per declared pair, with the ratio of their times measured in this same run and the
// target the ratio is held to. Benchmarks never assert timings; these lines are for people.
#ifndef COREPY_TESTS_BENCH_RATIO_REPORTER_H_
#define COREPY_TESTS_BENCH_RATIO_REPORTER_H_

#include <map>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"

namespace corepy::bench {

struct Comparison {
  std::string subject;  // benchmark name, e.g. "BM_ArenaVirtual/64"
  std::string anchor;   // the benchmark it is compared with
  double target;        // subject time / anchor time should be at most this
  // When set, the comparison is an overhead instead: (subject - anchor) / base, e.g. the cost of
  // a scope (empty scope minus empty loop) as a fraction of the work it brackets.
  std::string base = "";
  // When set, the line also shows the subject's throughput, bytes_per_item / (ns per item), in
  // GB/s, and, with `bandwidth` naming a streaming read of the same bytes, the fraction of that
  // read's throughput the subject reaches (its time / the subject's time).
  double bytes_per_item = 0;
  std::string bandwidth = "";
  // A target of 0 marks a line that is context (a bound, an alternative), not a goal: its ratio
  // is shown with "-" for the target.
  // When set, the line ends with the speedup, anchor time / subject time, and what it is in
  // percent: "speedup 1.150x (+15.0%)".
  bool speedup = false;
};

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  explicit RatioReporter(std::vector<Comparison> comparisons)
      : comparisons_(std::move(comparisons)) {}

  void ReportRuns(const std::vector<Run>& runs) override;
  void Finalize() override;

 private:
  std::vector<Comparison> comparisons_;
  std::map<std::string, double> time_per_item_;  // ns; the median when repetitions are run
};

// Runs the benchmarks with defaults suited to side-by-side ratios on a noisy machine
// (repetitions reported as median), prints the comparisons, and returns main's exit code.
int run_with_comparisons(int argc, char** argv, std::vector<Comparison> comparisons);

// The same with the repetitions of different benchmarks interleaved (unless the command line says
// otherwise): a burst of other work on this shared machine (memory bandwidth, mostly) then falls
// on both sides of a comparison, not on one.
int run_interleaved_with_comparisons(int argc, char** argv, std::vector<Comparison> comparisons);

}  // namespace corepy::bench

#endif  // COREPY_TESTS_BENCH_RATIO_REPORTER_H_
