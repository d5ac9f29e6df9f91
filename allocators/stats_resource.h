// StatsResource: an adaptor that counts what passes through it to any upstream resource, and
// checks every deallocation against its allocation.
//
// Put it between a user and a resource to learn how much memory a piece of code takes (bytes in
// use, their peak, totals, as RMM's statistics_resource_adaptor reports them), or in a test to
// catch the mistakes a std::pmr::memory_resource cannot see by itself: a deallocation whose size
// or alignment differs from the allocation's, a pointer freed twice or never allocated here, and
// allocations still live at the end (BDE's bslma::TestAllocator does the same). A mismatched
// deallocation is counted, named in one line on stderr, and still passed to the upstream with
// the size and alignment the memory was allocated with, so the upstream never sees the mistake
// and nothing leaks; an unknown pointer is counted and named, and not passed on.
//
// Leaks with call sites: with `Options::record_stacks`, every allocation also records the stack
// that made it (Abseil's GetStackTrace), kept until it is deallocated, and `leak_report()` prints
// each leak followed by its frames, symbolized with absl::Symbolize. Off by default; it costs an
// unwind and a small heap block per allocation (the README gives the measured cost).
//
//   corepy::StatsResource::Options options;
//   options.record_stacks = true;
//   corepy::StatsResource stats(std::pmr::new_delete_resource(), options);
//   ...
//   std::puts(stats.leak_report().c_str());  // each leak, then "    #0 0x... caller()" lines
//
// For names rather than bare addresses, the program calls absl::InitializeSymbolizer(argv[0])
// at the start of main, as Abseil asks (a library cannot: it does not know argv[0], and calling
// it again would undo the program's call). On Linux, Debian's Abseil finds the names of the
// executable and its shared libraries through /proc/self without it too. Frames with no symbol
// (a stripped library) print as their address alone.
//
// Debian's Abseil unwinds x86-64 stacks by frame pointers: the frames above the caller of
// allocate() come out only where code is built with -fno-omit-frame-pointer (Bazel's default
// toolchain does it; CMake's Release does not). stats_resource.cc itself is always built with it,
// so the caller of allocate() is always found. Where no frame could be recorded, the report says
// so.
//
// Thread-safe: the counters and the record of live allocations are under one mutex, taken on
// every call, so this is a measuring tool, not a fast path. The stack is taken before the lock.
#ifndef COREPY_ALLOCATORS_STATS_RESOURCE_H_
#define COREPY_ALLOCATORS_STATS_RESOURCE_H_

#include <cstddef>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "allocators/counter.h"
#include "corepy/internal/require_cxx17.h"

namespace corepy {

// One quantity, as RMM counts it: value now, the most it has ever been, the sum of every increase.
using StatsCounter = Counter;

struct StatsCounters {
  StatsCounter bytes;             // bytes as requested (the upstream's own overhead is unseen)
  StatsCounter allocations;       // allocations made and not yet deallocated
  std::size_t deallocations = 0;  // deallocations passed to the upstream, mismatched ones included
  std::size_t mismatches = 0;  // deallocations with a wrong size/alignment, or an unknown pointer
};

struct LiveAllocation {
  void* pointer;
  std::size_t bytes;
  std::size_t alignment;
  // Return addresses of the allocating call, innermost first: frames[0] is in the function that
  // called allocate() (or, where the compiler did not inline it, in
  // std::pmr::memory_resource::allocate, which leak_report() leaves out). Empty unless the
  // resource records stacks.
  std::vector<void*> frames = {};
};

class StatsScope;

class StatsResource final : public std::pmr::memory_resource {
 public:
  // The most frames one allocation's stack keeps.
  static constexpr int kMaxStackFrames = 32;

  struct Options {
    // Record the stack of every live allocation, for leak_report().
    bool record_stacks = false;
    // How many frames to keep, 1 to kMaxStackFrames (std::invalid_argument otherwise).
    int max_frames = 16;
  };

  explicit StatsResource(std::pmr::memory_resource* upstream = std::pmr::get_default_resource());
  StatsResource(std::pmr::memory_resource* upstream, const Options& options);
  StatsResource(const StatsResource&) = delete;
  StatsResource& operator=(const StatsResource&) = delete;
  ~StatsResource() override = default;

  // A snapshot, consistent across fields.
  StatsCounters counters() const noexcept;
  // Sorted by address.
  std::vector<LiveAllocation> live_allocations() const;
  // "no live allocations", or "2 live allocations, 96 bytes: 0x... 64 bytes align 16; ...",
  // listing at most kMaxReported of them. When the resource records stacks, one line each:
  //   1 live allocation, 64 bytes:
  //     0x5581d0a0 64 bytes align 16
  //       #0 0x55d1c3a2 corepy::(anonymous namespace)::load_weights()
  //       #1 0x55d1c3f9 main
  //       #2 0x7f3e2a24
  // (a frame with no symbol is its address alone).
  std::string leak_report() const;
  static constexpr std::size_t kMaxReported = 32;

  std::pmr::memory_resource* upstream() const noexcept { return upstream_; }
  bool records_stacks() const noexcept { return max_frames_ > 0; }

 private:
  friend class StatsScope;

  // A fixed-size block per allocation, from the global heap (never from the resource being
  // measured), and only when stacks are recorded: without them an Allocation stays small.
  struct Stack {
    int depth = 0;
    void* frames[kMaxStackFrames];
  };
  struct Allocation {
    std::size_t bytes;
    std::size_t alignment;
    std::unique_ptr<Stack> stack;  // null unless stacks are recorded
  };
  // Nearly always one per address; but an upstream may give one address to several live
  // allocations when some of them are 0 bytes long (a bump arena does), so keep them all.
  using Allocations = absl::InlinedVector<Allocation, 1>;

  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) noexcept override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  std::pmr::memory_resource* upstream_;
  int max_frames_ = 0;  // 0: stacks are not recorded

  // std::mutex rather than absl::Mutex: ThreadSanitizer understands pthread mutexes, and the
  // system's Abseil is not built with the annotations that would let it see absl::Mutex.
  mutable std::mutex mutex_;
  // Everything below is guarded by mutex_.
  StatsCounters counters_;
  // Bytes in use again, with its peak since the innermost open StatsScope began (the scopes'
  // regions, Counter::open_region); counters_.bytes keeps the lifetime peak.
  Counter scope_bytes_;
  StatsScope* innermost_scope_ = nullptr;
  // A std::unordered_map, not Abseil's flat_hash_map: this Abseil's (Debian's 20220623) leaves
  // the map corrupt when the allocation for a rehash fails (resize() sets the new capacity
  // before allocating), and a StatsResource must survive that.
  std::unordered_map<void*, Allocations> live_;
};

// What one region of code did through a StatsResource: the peak of bytes in use and the
// allocations made while the scope is open. Scopes nest: each one's peak covers everything that
// happened since it began, inner scopes included, because an inner scope folds its peak back into
// the resource's when it ends. Bytes already in use when a scope begins count toward its peak.
//
// Scopes are per resource and for one thread at a time: open and close them in LIFO order
// (RAII does) on the thread that owns the resource's scopes. Other threads may keep allocating
// through the resource meanwhile; their allocations then count in the scope's readings too.
class StatsScope {
 public:
  explicit StatsScope(StatsResource& resource);
  ~StatsScope();
  StatsScope(const StatsScope&) = delete;
  StatsScope& operator=(const StatsScope&) = delete;

  std::size_t peak_bytes() const;
  std::size_t allocations() const;
  std::size_t bytes_allocated() const;

 private:
  StatsResource& resource_;
  StatsScope* outer_;
  std::size_t outer_peak_;  // the enclosing region's peak when this scope began
  std::size_t allocations_at_start_;
  std::size_t bytes_total_at_start_;
};

}  // namespace corepy

#endif  // COREPY_ALLOCATORS_STATS_RESOURCE_H_
