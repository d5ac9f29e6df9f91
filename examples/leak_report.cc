#include <cstdio>
#include <cstring>
#include <memory_resource>
#include <string>

#include "absl/base/attributes.h"
#include "absl/debugging/symbolize.h"
#include "allocators/stats_resource.h"  // //allocators

// Forgets to give its buffer back. (Not inlined, as a function in another file would not be.)
ABSL_ATTRIBUTE_NOINLINE void* load_weights(std::pmr::memory_resource& memory) {
  void* weights = memory.allocate(4096, 64);
  std::memset(weights, 0, 4096);
  return weights;
}

int main(int, char** argv) {
  absl::InitializeSymbolizer(argv[0]);  // as Abseil asks: names rather than addresses

  corepy::StatsResource::Options options;
  options.record_stacks = true;  // off by default
  corepy::StatsResource stats(std::pmr::new_delete_resource(), options);

  void* weights = load_weights(stats);
  const std::string report = stats.leak_report();
  std::puts(report.c_str());  // each leak, then its frames: "#0 0x... load_weights(...)"
  if (report.find("load_weights") == std::string::npos) return 1;

  stats.deallocate(weights, 4096, 64);
  return stats.leak_report() == "no live allocations" ? 0 : 1;
}
