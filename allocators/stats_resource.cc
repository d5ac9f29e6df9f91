#include "allocators/stats_resource.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/base/config.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "allocators/allocation_error.h"

namespace corepy {
namespace {

constexpr const char* kName = "corepy::StatsResource";

}  // namespace

StatsResource::StatsResource(std::pmr::memory_resource* upstream) : upstream_(upstream) {
  // Caught here rather than at the first allocation, far from the mistake.
  if (upstream == nullptr) throw_invalid_argument(kName, "the upstream resource is null");
}

void* StatsResource::do_allocate(std::size_t bytes, std::size_t alignment) {
  if (!is_valid_alignment(alignment)) throw_bad_alignment(kName, alignment);
  void* p = upstream_->allocate(bytes, alignment);  // may throw: nothing counted yet
#ifdef ABSL_HAVE_EXCEPTIONS
  try {
#endif
    std::lock_guard<std::mutex> lock(mutex_);
    live_[p].push_back(Allocation{bytes, alignment});
    // Counted before `p` is returned, so a deallocation on another thread (which must have
    // received `p` through some synchronization) is counted after this.
    counters_.bytes += bytes;
    counters_.allocations += 1;
    scope_bytes_ += bytes;
#ifdef ABSL_HAVE_EXCEPTIONS
  } catch (...) {
    upstream_->deallocate(p, bytes, alignment);
    throw;
  }
#endif
  return p;
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
      counters_.bytes -= original.bytes;
      counters_.allocations -= 1;
      scope_bytes_ -= original.bytes;
      ++counters_.deallocations;
    }
    if (!known || original.bytes != bytes || original.alignment != alignment) {
      ++counters_.mismatches;
    }
  }

  if (!known) {
    std::fprintf(stderr,
                 "%s: deallocate(%p, %zu bytes, alignment %zu): pointer not allocated by this "
                 "resource, or already deallocated; not passed to the upstream\n",
                 kName, p, bytes, alignment);
    return;
  }
  if (original.bytes != bytes || original.alignment != alignment) {
    std::fprintf(stderr,
                 "%s: deallocate(%p, %zu bytes, alignment %zu) does not match its allocation "
                 "(%zu bytes, alignment %zu); deallocated as it was allocated\n",
                 kName, p, bytes, alignment, original.bytes, original.alignment);
  }
  upstream_->deallocate(p, original.bytes, original.alignment);
}

StatsCounters StatsResource::counters() const noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  return counters_;
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

StatsScope::StatsScope(StatsResource& resource) : resource_(resource) {
  std::lock_guard<std::mutex> lock(resource.mutex_);
  outer_ = resource.innermost_scope_;
  allocations_at_start_ = resource.counters_.allocations.total;
  bytes_total_at_start_ = resource.counters_.bytes.total;
  outer_peak_ = resource.scope_bytes_.open_region();
  resource.innermost_scope_ = this;
}

StatsScope::~StatsScope() {
  std::lock_guard<std::mutex> lock(resource_.mutex_);
  if (resource_.innermost_scope_ != this) {
    // The enclosing scopes' peaks would silently be wrong from here on.
    std::fprintf(stderr,
                 "corepy: fatal: corepy::StatsScope ended out of order: scopes over one "
                 "StatsResource must end in reverse order of their start, on one thread\n");
    std::abort();
  }
  resource_.innermost_scope_ = outer_;
  resource_.scope_bytes_.close_region(outer_peak_);
}

std::size_t StatsScope::peak_bytes() const {
  std::lock_guard<std::mutex> lock(resource_.mutex_);
  // Scopes opened inside this one and still open have each put aside the peak reached before
  // they began: the region of this scope is theirs folded back, as closing them would.
  Counter region = resource_.scope_bytes_;
  for (const StatsScope* s = resource_.innermost_scope_; s != nullptr && s != this; s = s->outer_) {
    region.close_region(s->outer_peak_);
  }
  return region.peak;
}

std::size_t StatsScope::allocations() const {
  std::lock_guard<std::mutex> lock(resource_.mutex_);
  return resource_.counters_.allocations.total - allocations_at_start_;
}

std::size_t StatsScope::bytes_allocated() const {
  std::lock_guard<std::mutex> lock(resource_.mutex_);
  return resource_.counters_.bytes.total - bytes_total_at_start_;
}

}  // namespace corepy
