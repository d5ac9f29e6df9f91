#include "corepy/dispatch.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "corepy/config.h"
#include "ops/reduce.h"

namespace corepy {
namespace {

template <class T, class Kernel>
auto dispatch(Op op, const char* entry, const T* data, std::size_t count, Kernel kernel) {
  if (data == nullptr && count != 0) {
    throw std::invalid_argument(
        absl::StrCat("corepy::", entry, ": data is null but count is ", count));
  }
  OpScope scope(op);
  return kernel(absl::Span<const T>(data, count), scope.resource());
}

}  // namespace

void OpScope::log(std::size_t peak, std::size_t spills) const {
  std::fprintf(stderr, "[arena] %s used=%zu cap=%zu peak=%zu spills=%zu\n",
               std::string(op_name(op_)).c_str(), arena_->used(), arena_->capacity(), peak, spills);
}

float sum_f32_cpu_dispatch(const float* data, std::size_t count) {
  return dispatch(Op::kSumF32, "sum_f32_cpu_dispatch", data, count,
                  [](absl::Span<const float> x, std::pmr::memory_resource*) {
                    return ops::sum_f32(x);
                  });
}

std::int64_t sum_i32_cpu_dispatch(const std::int32_t* data, std::size_t count) {
  return dispatch(Op::kSumI32, "sum_i32_cpu_dispatch", data, count,
                  [](absl::Span<const std::int32_t> x, std::pmr::memory_resource*) {
                    return ops::sum_i32(x);
                  });
}

float mean_f32_cpu_dispatch(const float* data, std::size_t count) {
  return dispatch(Op::kMeanF32, "mean_f32_cpu_dispatch", data, count,
                  [](absl::Span<const float> x, std::pmr::memory_resource*) {
                    return ops::mean_f32(x);
                  });
}

bool all_bool_cpu_dispatch(const bool* data, std::size_t count) {
  return dispatch(Op::kAllBool, "all_bool_cpu_dispatch", data, count,
                  [](absl::Span<const bool> x, std::pmr::memory_resource*) {
                    return ops::all_bool(x);
                  });
}

bool any_bool_cpu_dispatch(const bool* data, std::size_t count) {
  return dispatch(Op::kAnyBool, "any_bool_cpu_dispatch", data, count,
                  [](absl::Span<const bool> x, std::pmr::memory_resource*) {
                    return ops::any_bool(x);
                  });
}

std::vector<OpStats> op_stats() {
  const Settings s = settings();
  const std::array<internal::OpTotals, kOpCount> totals = internal::op_totals();
  std::vector<OpStats> out;
  for (std::size_t i = 0; i < kOpCount; ++i) {
    out.push_back(OpStats{std::string(kOpNames[i]), totals[i].calls, totals[i].peak,
                          totals[i].spills, s.op_arena_sizes[i]});
  }
  return out;
}

void reset_op_stats() { internal::reset_op_totals(); }

std::string op_stats_table() {
  std::string out = absl::StrFormat("%-10s %12s %14s %8s %12s\n", "op", "calls", "peak_scratch",
                                    "spills", "arena_size");
  for (const OpStats& s : op_stats()) {
    absl::StrAppendFormat(&out, "%-10s %12u %14u %8u %12u\n", s.name, s.calls, s.peak_scratch,
                          s.spills, s.arena_size);
  }
  return out;
}

std::string op_stats_json() {
  std::string out = "[";
  const char* sep = "";
  for (const OpStats& s : op_stats()) {
    absl::StrAppendFormat(&out,
                          "%s{\"op\":\"%s\",\"calls\":%u,\"peak_scratch\":%u,\"spills\":%u,"
                          "\"arena_size\":%u}",
                          sep, s.name, s.calls, s.peak_scratch, s.spills, s.arena_size);
    sep = ",";
  }
  return out + "]";
}

}  // namespace corepy
