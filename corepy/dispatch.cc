#include "corepy/dispatch.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "corepy/config.h"
#include "ops/reduce.h"

namespace corepy {
namespace {

// One cache line per op, so threads running different ops do not share a line.
struct alignas(64) OpCounters {
  std::atomic<std::uint64_t> calls{0};
  std::atomic<std::uint64_t> spills{0};
  std::atomic<std::size_t> peak{0};
};

std::array<OpCounters, kOpCount>& counters() {
  static auto* c = new std::array<OpCounters, kOpCount>;  // never destroyed: threads may outlive statics
  return *c;
}

void record(Op op, std::size_t peak, std::size_t spills) {
  OpCounters& c = counters()[static_cast<std::size_t>(op)];
  c.calls.fetch_add(1, std::memory_order_relaxed);
  if (spills != 0) c.spills.fetch_add(spills, std::memory_order_relaxed);
  std::size_t seen = c.peak.load(std::memory_order_relaxed);
  while (peak > seen && !c.peak.compare_exchange_weak(seen, peak, std::memory_order_relaxed)) {
  }
}

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

OpScope::OpScope(Op op) : op_(op) {
  const internal::OpScratch scratch = internal::op_scratch(op);
  arena_ = scratch.arena;
  resource_ = scratch.resource;
  if (arena_ != &thread_scope_.arena()) {
    own_start_.emplace(arena_->mark());
    own_outer_window_ = arena_->open_window();
  }
  used_at_start_ = arena_->used();
  spills_at_start_ = arena_->overflow_count();
  spill_bytes_at_start_ = arena_->overflow_bytes_total();
}

OpScope::~OpScope() {
  const std::size_t peak = (arena_->window_peak() - used_at_start_) +
                           (arena_->overflow_bytes_total() - spill_bytes_at_start_);
  const std::size_t spills = arena_->overflow_count() - spills_at_start_;
  record(op_, peak, spills);
  if (internal::debug_log_enabled()) {
    std::fprintf(stderr, "[arena] %s used=%zu cap=%zu peak=%zu spills=%zu\n",
                 std::string(op_name(op_)).c_str(), arena_->used(), arena_->capacity(), peak,
                 spills);
  }
  if (own_start_) {
    arena_->rewind(*own_start_);
    arena_->close_window(own_outer_window_);
  }
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
  std::vector<OpStats> out;
  for (std::size_t i = 0; i < kOpCount; ++i) {
    const OpCounters& c = counters()[i];
    out.push_back(OpStats{std::string(kOpNames[i]), c.calls.load(std::memory_order_relaxed),
                          c.peak.load(std::memory_order_relaxed),
                          c.spills.load(std::memory_order_relaxed), s.op_arena_sizes[i]});
  }
  return out;
}

void reset_op_stats() {
  for (OpCounters& c : counters()) {
    c.calls.store(0, std::memory_order_relaxed);
    c.spills.store(0, std::memory_order_relaxed);
    c.peak.store(0, std::memory_order_relaxed);
  }
}

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
