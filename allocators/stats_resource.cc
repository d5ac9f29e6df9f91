#include "allocators/stats_resource.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/config.h"
#include "absl/debugging/stacktrace.h"
#include "absl/debugging/symbolize.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "allocators/allocation_error.h"

namespace corepy {
namespace {

constexpr const char* kName = "corepy::StatsResource";

// Where std::pmr::memory_resource::allocate was not inlined (unoptimized builds), it is the
// innermost frame: the allocation machinery, not the caller the report is for.
bool is_allocation_machinery(absl::string_view symbol) {
  return absl::StartsWith(symbol, "std::pmr::memory_resource::allocate");
}

// One frame, "#3 0x55d1c3a2 name": the name of the code one byte before the return address `pc`,
// inside the call instruction (as Abseil's own stack dumps look it up), since a call can be the
// last instruction of its function. The address alone when it has no symbol. Returns false,
// writing nothing, for the allocation machinery as the innermost frame.
bool append_frame(std::string& out, int index, void* pc) {
  char symbol[1024];
  const bool found = absl::Symbolize(static_cast<const char*>(pc) - 1, symbol, sizeof symbol);
  if (found && index == 0 && is_allocation_machinery(symbol)) return false;
  absl::StrAppend(&out, "\n      #", index, " ", absl::StrFormat("%p", pc));
  if (found) absl::StrAppend(&out, " ", symbol);
  return true;
}

}  // namespace

StatsResource::StatsResource(std::pmr::memory_resource* upstream) : upstream_(upstream) {
  // Caught here rather than at the first allocation, far from the mistake.
  if (upstream == nullptr) throw_invalid_argument(kName, "the upstream resource is null");
}

StatsResource::StatsResource(std::pmr::memory_resource* upstream, const Options& options)
    : StatsResource(upstream) {
  if (!options.record_stacks) return;
  if (options.max_frames < 1 || options.max_frames > kMaxStackFrames) {
    throw_invalid_argument(kName, absl::StrCat("Options::max_frames is ", options.max_frames,
                                               "; it must be 1 to ", kMaxStackFrames)
                                      .c_str());
  }
  max_frames_ = options.max_frames;
}

// Built with -fno-omit-frame-pointer (BUILD.bazel, CMakeLists.txt): the unwinder follows frame
// pointers, and this frame is the first link of the chain.
void* StatsResource::do_allocate(std::size_t bytes, std::size_t alignment) {
  if (!is_valid_alignment(alignment)) throw_bad_alignment(kName, alignment);
  // Taken before the upstream is called (nothing to undo if the block cannot be had) and
  // outside the lock (threads unwind in parallel). The first frame is this function's return
  // address, in its caller.
  std::unique_ptr<Stack> stack;
  if (max_frames_ > 0) {
    stack = std::make_unique<Stack>();
    stack->depth = absl::GetStackTrace(stack->frames, max_frames_, /*skip_count=*/0);
  }
  void* p = upstream_->allocate(bytes, alignment);  // may throw: nothing counted yet
#ifdef ABSL_HAVE_EXCEPTIONS
  try {
#endif
    std::lock_guard<std::mutex> lock(mutex_);
    live_[p].push_back(Allocation{bytes, alignment, std::move(stack)});
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
  Allocation original{bytes, alignment, nullptr};
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
      original.bytes = chosen->bytes;
      original.alignment = chosen->alignment;
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
      for (const Allocation& a : at_p) {
        LiveAllocation& live = out.emplace_back(LiveAllocation{p, a.bytes, a.alignment});
        if (a.stack) live.frames.assign(a.stack->frames, a.stack->frames + a.stack->depth);
      }
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
  const bool stacks = records_stacks();
  for (std::size_t i = 0; i < shown; ++i) {
    const char* separator = stacks ? "\n  " : i == 0 ? " " : "; ";
    absl::StrAppend(
        &out, separator,
        absl::StrFormat("%p %u bytes align %u", live[i].pointer, live[i].bytes, live[i].alignment));
    if (!stacks) continue;
    int index = 0;
    for (void* pc : live[i].frames) index += append_frame(out, index, pc);
    if (index == 0) {
      absl::StrAppend(&out,
                      "\n      (no frames recorded: the unwinder follows frame pointers; "
                      "build with -fno-omit-frame-pointer)");
    }
  }
  if (shown < live.size()) {
    absl::StrAppend(&out, stacks ? "\n  ... and " : "; ... and ", live.size() - shown, " more");
  }
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
