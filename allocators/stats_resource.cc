#include "allocators/stats_resource.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "allocators/allocation_error.h"

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define COREPY_EXCEPTIONS 1
#endif

namespace corepy {
namespace {

constexpr const char* kName = "corepy::StatsResource";

void raise_to(std::atomic<std::size_t>& peak, std::size_t value) noexcept {
  std::size_t seen = peak.load(std::memory_order_relaxed);
  while (seen < value && !peak.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

}  // namespace

StatsResource::StatsResource(std::pmr::memory_resource* upstream) : upstream_(upstream) {
  // Caught here rather than at the first allocation, far from the mistake.
  if (upstream == nullptr) throw_invalid_argument(kName, "the upstream resource is null");
}

void* StatsResource::do_allocate(std::size_t bytes, std::size_t alignment) {
  if (!is_valid_alignment(alignment)) throw_bad_alignment(kName, alignment);
  void* p = upstream_->allocate(bytes, alignment);  // may throw: nothing counted yet
#if defined(COREPY_EXCEPTIONS)
  try {
    record(p, bytes, alignment);
  } catch (...) {
    upstream_->deallocate(p, bytes, alignment);
    throw;
  }
#else
  record(p, bytes, alignment);
#endif
  // Counted before `p` is returned, so a deallocation on another thread (which must have
  // received `p` through some synchronization) is ordered after this in each counter.
  count_allocation(bytes);
  return p;
}

void StatsResource::record(void* p, std::size_t bytes, std::size_t alignment) {
  std::lock_guard<std::mutex> lock(mutex_);
  live_[p].push_back(Allocation{bytes, alignment});
}

void StatsResource::count_allocation(std::size_t bytes) noexcept {
  const std::size_t in_use = bytes_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  raise_to(bytes_peak_, in_use);
  raise_to(scope_peak_, in_use);
  bytes_total_.fetch_add(bytes, std::memory_order_relaxed);
  const std::size_t live = allocations_.fetch_add(1, std::memory_order_relaxed) + 1;
  raise_to(allocations_peak_, live);
  allocations_total_.fetch_add(1, std::memory_order_relaxed);
}

void StatsResource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment) noexcept {
  bool known = false;
  Allocation original{bytes, alignment};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(p);
    if (it != live_.end()) {
      known = true;
      Allocations& at_p = it->second;
      // The newest exact match; failing that, the newest allocation at p is the likeliest meant.
      auto match = std::find_if(at_p.rbegin(), at_p.rend(), [&](const Allocation& a) {
        return a.bytes == bytes && a.alignment == alignment;
      });
      auto chosen = match != at_p.rend() ? match : at_p.rbegin();
      original = *chosen;
      at_p.erase(std::next(chosen).base());
      if (at_p.empty()) live_.erase(it);
    }
  }

  if (!known) {
    mismatches_.fetch_add(1, std::memory_order_relaxed);
    std::fprintf(stderr,
                 "%s: deallocate(%p, %zu bytes, alignment %zu): pointer not allocated by this "
                 "resource, or already deallocated; not passed to the upstream\n",
                 kName, p, bytes, alignment);
    return;
  }
  if (original.bytes != bytes || original.alignment != alignment) {
    mismatches_.fetch_add(1, std::memory_order_relaxed);
    std::fprintf(stderr,
                 "%s: deallocate(%p, %zu bytes, alignment %zu) does not match its allocation "
                 "(%zu bytes, alignment %zu); deallocated as it was allocated\n",
                 kName, p, bytes, alignment, original.bytes, original.alignment);
  }
  upstream_->deallocate(p, original.bytes, original.alignment);
  bytes_.fetch_sub(original.bytes, std::memory_order_relaxed);
  allocations_.fetch_sub(1, std::memory_order_relaxed);
  deallocations_.fetch_add(1, std::memory_order_relaxed);
}

StatsCounters StatsResource::counters() const noexcept {
  StatsCounters c;
  c.bytes.value = bytes_.load(std::memory_order_relaxed);
  c.bytes.peak = bytes_peak_.load(std::memory_order_relaxed);
  c.bytes.total = bytes_total_.load(std::memory_order_relaxed);
  c.allocations.value = allocations_.load(std::memory_order_relaxed);
  c.allocations.peak = allocations_peak_.load(std::memory_order_relaxed);
  c.allocations.total = allocations_total_.load(std::memory_order_relaxed);
  c.deallocations = deallocations_.load(std::memory_order_relaxed);
  c.mismatches = mismatches_.load(std::memory_order_relaxed);
  return c;
}

std::vector<LiveAllocation> StatsResource::live_allocations() const {
  std::vector<LiveAllocation> out;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    out.reserve(live_.size());
    for (const auto& [p, at_p] : live_) {
      for (const Allocation& a : at_p) out.push_back(LiveAllocation{p, a.bytes, a.alignment});
    }
  }
  std::sort(out.begin(), out.end(), [](const LiveAllocation& a, const LiveAllocation& b) {
    return std::less<void*>()(a.pointer, b.pointer) ||
           (a.pointer == b.pointer && a.bytes < b.bytes);
  });
  return out;
}

std::string StatsResource::leak_report() const {
  const std::vector<LiveAllocation> live = live_allocations();
  if (live.empty()) return "no live allocations";
  std::size_t total = 0;
  for (const LiveAllocation& a : live) total += a.bytes;
  std::string out =
      absl::StrCat(live.size(), live.size() == 1 ? " live allocation, " : " live allocations, ",
                   total, total == 1 ? " byte:" : " bytes:");
  const std::size_t shown = std::min(live.size(), kMaxReported);
  for (std::size_t i = 0; i < shown; ++i) {
    absl::StrAppend(
        &out, i == 0 ? " " : "; ",
        absl::StrFormat("%p %u bytes align %u", live[i].pointer, live[i].bytes, live[i].alignment));
  }
  if (shown < live.size()) absl::StrAppend(&out, "; ... and ", live.size() - shown, " more");
  return out;
}

StatsScope::StatsScope(StatsResource& resource)
    : resource_(resource),
      outer_(resource.innermost_scope_),
      allocations_at_start_(resource.allocations_total_.load(std::memory_order_relaxed)),
      bytes_total_at_start_(resource.bytes_total_.load(std::memory_order_relaxed)) {
  outer_peak_ = resource.scope_peak_.exchange(resource.bytes_.load(std::memory_order_relaxed),
                                              std::memory_order_relaxed);
  resource.innermost_scope_ = this;
}

StatsScope::~StatsScope() {
  if (resource_.innermost_scope_ != this) {
    // The enclosing scopes' peaks would silently be wrong from here on.
    std::fprintf(stderr,
                 "corepy: fatal: corepy::StatsScope ended out of order: scopes over one "
                 "StatsResource must end in reverse order of their start, on one thread\n");
    std::abort();
  }
  resource_.innermost_scope_ = outer_;
  raise_to(resource_.scope_peak_, outer_peak_);
}

std::size_t StatsScope::peak_bytes() const {
  std::size_t peak = resource_.scope_peak_.load(std::memory_order_relaxed);
  // Scopes opened inside this one have each put aside the peak reached before they began.
  for (const StatsScope* s = resource_.innermost_scope_; s != nullptr && s != this; s = s->outer_) {
    peak = std::max(peak, s->outer_peak_);
  }
  return peak;
}

std::size_t StatsScope::allocations() const {
  return resource_.allocations_total_.load(std::memory_order_relaxed) - allocations_at_start_;
}

std::size_t StatsScope::bytes_allocated() const {
  return resource_.bytes_total_.load(std::memory_order_relaxed) - bytes_total_at_start_;
}

}  // namespace corepy
