#include "tests/bench/ratio_reporter.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace corepy::bench {
namespace {

bool has_flag(int argc, char** argv, const char* name) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], name, std::strlen(name)) == 0) return true;
  }
  return false;
}

}  // namespace

void RatioReporter::ReportRuns(const std::vector<Run>& runs) {
  ConsoleReporter::ReportRuns(runs);
  for (const Run& run : runs) {
    if (run.error_occurred) continue;
    const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
    if (run.run_type == Run::RT_Aggregate && !median) continue;
    const std::string name = run.run_name.str();
    if (median || time_per_item_.count(name) == 0) {
      // Nanoseconds per item where the benchmark counts items, else per iteration.
      auto items = run.counters.find("items_per_second");
      time_per_item_[name] = items != run.counters.end() && items->second.value > 0
                                 ? 1e9 / items->second.value
                                 : run.GetAdjustedRealTime();
    }
  }
}

void RatioReporter::Finalize() {
  ConsoleReporter::Finalize();
  if (comparisons_.empty()) return;
  std::printf("\nSide by side, same run (real time per item, median of repetitions):\n");
  // Name columns as wide as the longest name shown, 30 at least.
  int ws = 30;
  int wa = 30;
  for (const Comparison& c : comparisons_) {
    if (!c.base.empty() || time_per_item_.count(c.subject) == 0 ||
        time_per_item_.count(c.anchor) == 0) {
      continue;
    }
    ws = std::max(ws, static_cast<int>(c.subject.size()));
    wa = std::max(wa, static_cast<int>(c.anchor.size()));
  }
  std::printf("%-*s %10s  %-*s %10s %8s %8s\n", ws, "corepy", "ns/item", wa, "anchor", "ns/item",
              "ratio", "target");
  for (const Comparison& c : comparisons_) {
    auto s = time_per_item_.find(c.subject);
    auto a = time_per_item_.find(c.anchor);
    if (s == time_per_item_.end() || a == time_per_item_.end()) continue;  // filtered out
    if (!c.base.empty()) continue;
    const double ratio = s->second / a->second;
    if (c.target > 0) {
      std::printf("%-*s %10.3f  %-*s %10.3f %7.3fx %7.2fx %-6s", ws, c.subject.c_str(), s->second,
                  wa, c.anchor.c_str(), a->second, ratio, c.target,
                  ratio <= c.target ? "met" : "MISSED");
    } else {
      std::printf("%-*s %10.3f  %-*s %10.3f %7.3fx %8s %-6s", ws, c.subject.c_str(), s->second, wa,
                  c.anchor.c_str(), a->second, ratio, "-", "");
    }
    if (c.bytes_per_item > 0) std::printf(" %8.2f GB/s", c.bytes_per_item / s->second);
    auto b = c.bandwidth.empty() ? time_per_item_.end() : time_per_item_.find(c.bandwidth);
    if (b != time_per_item_.end()) {
      std::printf(" %6.1f%% of %s", 100 * b->second / s->second, c.bandwidth.c_str());
    }
    if (c.speedup) {
      std::printf(" speedup %.3fx (%+.1f%%)", 1 / ratio, 100 * (1 / ratio - 1));
    }
    std::printf("\n");
  }
  bool header = false;
  for (const Comparison& c : comparisons_) {
    auto s = time_per_item_.find(c.subject);
    auto a = time_per_item_.find(c.anchor);
    auto b = time_per_item_.find(c.base);
    if (c.base.empty() || s == time_per_item_.end() || a == time_per_item_.end() ||
        b == time_per_item_.end()) {
      continue;
    }
    if (!header) {
      std::printf("\nOverheads, same run: (corepy - without) / work\n");
      std::printf("%-22s %-22s %9s  %-24s %10s %9s %8s\n", "corepy", "without", "ns", "work",
                  "work ns", "overhead", "target");
      header = true;
    }
    const double overhead = (s->second - a->second) / b->second;
    std::printf("%-22s %-22s %9.3f  %-24s %10.3f %8.3f%% ", c.subject.c_str(), c.anchor.c_str(),
                s->second - a->second, c.base.c_str(), b->second, 100 * overhead);
    if (c.target > 0) {
      std::printf("%7.2f%% %s\n", 100 * c.target, overhead <= c.target ? "met" : "MISSED");
    } else {
      std::printf("%8s\n", "-");  // context, not a goal
    }
  }
  std::fflush(stdout);
}

int run_with_comparisons(int argc, char** argv, std::vector<Comparison> comparisons) {
  std::vector<char*> args(argv, argv + argc);
  std::string repetitions = "--benchmark_repetitions=5";
  std::string aggregates = "--benchmark_report_aggregates_only=true";
  if (!has_flag(argc, argv, "--benchmark_repetitions")) {
    args.push_back(repetitions.data());
    args.push_back(aggregates.data());
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  RatioReporter reporter(std::move(comparisons));
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}

int run_interleaved_with_comparisons(int argc, char** argv, std::vector<Comparison> comparisons) {
  std::vector<char*> args(argv, argv + argc);
  std::string interleave = "--benchmark_enable_random_interleaving=true";
  if (!has_flag(argc, argv, "--benchmark_enable_random_interleaving")) {
    args.insert(args.begin() + 1, interleave.data());
  }
  return run_with_comparisons(static_cast<int>(args.size()), args.data(), std::move(comparisons));
}

}  // namespace corepy::bench
