// ArenaResource: a bump allocator that is a std::pmr::memory_resource.
//
// It hands out memory from one block (taken from an upstream resource at construction, or a
// caller's buffer) by aligning and bumping a pointer; nothing is freed one by one. When the block
// cannot hold a request, the arena spills: it takes a chunk from the upstream and bumps through
// that, on the same inline fast path. Chunks grow geometrically. A round of spills ends when a
// rewind or reset gives back the last spill chunk; the next round's first chunk is then as large
// as the chunks that rewind gave back together (chunks freed earlier, by inner rewinds, are not
// counted), so a steady workload makes one upstream call per round. `mark()` / `rewind()` free
// everything allocated after a point, spills included; `reset()` frees everything. It never fails
// while the upstream can serve, and it gives every byte it took back to the upstream.
//
// The fast path (one likely-taken bounds check, bump) is inline, as in LLVM's BumpPtrAllocator;
// everything else is out of line in allocate_slow(). As in protobuf's arena, the bump pointer
// stays aligned (to kGranule, 16 bytes) and every request takes its size rounded up to it, so a
// request aligned to 16 or less needs no align step; the rounding counts as padding in `used`.
// Under AddressSanitizer and Valgrind every allocation takes the slow path, which reports to the
// tool which bytes are live, so a use after rewind is caught.
//
// Not thread-safe: an arena belongs to one thread at a time (corepy/arena.h gives each thread its
// own).
#ifndef COREPY_ALLOCATORS_ARENA_RESOURCE_H_
#define COREPY_ALLOCATORS_ARENA_RESOURCE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "allocators/arena_gauge.h"
#include "allocators/counter.h"
#include "corepy/internal/require_cxx17.h"

// The fast paths below are ABSL_ATTRIBUTE_ALWAYS_INLINE: meant to be inline in the caller
// whatever the optimizer's estimate of their size, since a scope or an allocation that becomes a
// call costs several times as much.

namespace corepy {

struct ArenaStats {
  std::size_t used;            // bytes of the arena's own block in use (padding included)
  std::size_t capacity;        // size of the arena's own block
  std::size_t peak;            // high-water mark of `used` (not lowered by rewind/reset)
  std::size_t overflow_count;  // allocations ever served by the upstream: the spill chunks
                               // taken, each holding one or more requests that did not fit
  std::size_t overflow_bytes;  // bytes currently held from the upstream for spills
};

class ArenaResource final : public std::pmr::memory_resource {
  struct Chunk;  // a spill chunk's header, at the start of the chunk
  class MarkerLog;

 public:
  static constexpr std::size_t kDefaultCapacity = std::size_t{1} << 20;
  // Spill chunks start at the block's capacity (at least kMinChunk) and double, up to kMaxChunk.
  // A request too big for half the next chunk gets a chunk of its own, and the arena keeps
  // bumping where it was.
  static constexpr std::size_t kMinChunk = std::size_t{4} << 10;
  static constexpr std::size_t kMaxChunk = std::size_t{64} << 20;
  // Larger alignments are served too, by the out-of-line path.
  static constexpr std::size_t kMaxFastAlignment = 4096;
  // Every request takes a multiple of this, and the bump pointer stays on it (see allocate()).
  // A caller's buffer that does not start on it loses the bytes before its first boundary.
  static constexpr std::size_t kGranule = 16;
  // Larger requests go out of line (their rounding could pass PTRDIFF_MAX).
  static constexpr std::size_t kMaxFastBytes = static_cast<std::size_t>(PTRDIFF_MAX) - kGranule;
  static constexpr std::size_t round_to_granule(std::size_t bytes) noexcept {
    return (bytes + kGranule - 1) & ~(kGranule - 1);
  }

  // A point in the arena's history. Only an arena makes one; copy it freely. Markers nest:
  // rewinding to an outer marker ends every marker taken after it. A marker knows its arena:
  // addresses alone cannot tell (one arena's full block may end where another's begins).
  class Marker {
   public:
    Marker() = delete;

   private:
    friend class ArenaResource;
    Marker(char* cur, Chunk* chunk, const ArenaResource* arena) noexcept
        : cur_(cur), chunk_(chunk), arena_(arena) {}
    char* cur_;                   // the bump pointer, in the block or the newest spill chunk
    Chunk* chunk_;                // the newest spill chunk then
    const ArenaResource* arena_;  // the arena that made it
  };

  // Takes a block of `capacity` bytes from `upstream` (none when capacity is 0).
  explicit ArenaResource(std::size_t capacity = kDefaultCapacity,
                         std::pmr::memory_resource* upstream = std::pmr::get_default_resource());
  // Bumps through the caller's buffer, which must outlive the arena and is never freed.
  ArenaResource(void* buffer, std::size_t size,
                std::pmr::memory_resource* upstream = std::pmr::get_default_resource());
  ArenaResource(const ArenaResource&) = delete;
  ArenaResource& operator=(const ArenaResource&) = delete;
  ~ArenaResource() override;

  // The same as memory_resource::allocate, without the virtual call when the arena's type is
  // known. Alignment must be a power of two (else std::invalid_argument); a size whose
  // arithmetic overflows, or an upstream that refuses, throws corepy::AllocationError.
  //
  // The bump pointer stays on a kGranule boundary (or at its region's end), and each request
  // takes its size rounded up to kGranule, so a request aligned to kGranule or less needs no
  // alignment step: the rounding depends on the size only, and the bump pointer's dependency
  // chain is one add. The rounding counts as padding in `used`.
  [[nodiscard]] ABSL_ATTRIBUTE_ALWAYS_INLINE inline void* allocate(
      std::size_t bytes, std::size_t alignment = alignof(std::max_align_t)) {
    const auto cur = reinterpret_cast<std::uintptr_t>(cur_);
    const auto end = reinterpret_cast<std::uintptr_t>(fast_end_);
    if (alignment - 1 < kGranule) {
      // Alignment a power of two, and the request within the room left (fits()). One branch
      // each, taken together.
      if (ABSL_PREDICT_TRUE(((alignment & (alignment - 1)) == 0) &
                            fits(bytes, static_cast<std::ptrdiff_t>(end - cur)))) {
        cur_ = reinterpret_cast<char*>(cur + round_to_granule(bytes));
        return reinterpret_cast<void*>(cur);
      }
      return allocate_slow(bytes, alignment);
    }
    // Above kGranule, an explicit align.
    const AlignedBump bump = aligned_bump(cur, end, bytes, alignment);
    if (ABSL_PREDICT_TRUE(bump.inline_path)) {
      cur_ = reinterpret_cast<char*>(bump.at + bump.rounded);
      return reinterpret_cast<void*>(bump.at);
    }
    return allocate_slow(bytes, alignment);
  }
  // The bytes allocate(bytes, alignment) would take now, if that allocation and then its
  // deallocate() would be served inline and leave the arena exactly as it was: in the block with
  // no spill chunk live, the bump pointer already aligned (deallocate() gives back the request,
  // not the padding before it), nothing to tell a memory tool; else 0. What a caller that makes
  // one allocation and gives it back before anything else is allocated, with no scope, counts as
  // its peak (corepy/dispatch.h).
  ABSL_ATTRIBUTE_ALWAYS_INLINE inline std::size_t round_trip_cost(
      std::size_t bytes, std::size_t alignment) const noexcept {
    const auto cur = reinterpret_cast<std::uintptr_t>(cur_);
    const AlignedBump bump =
        aligned_bump(cur, reinterpret_cast<std::uintptr_t>(fast_end_), bytes, alignment);
    return ((chunk_ == nullptr) & bump.inline_path & (bump.at == cur)) ? bump.rounded : 0;
  }
  // Gives back the bytes of the most recent allocation, its rounding included, if no marker was
  // taken since it was made (so a stack of temporaries pops cleanly); otherwise memory comes back
  // at rewind/reset.
  void deallocate(void* p, std::size_t bytes,
                  std::size_t alignment = alignof(std::max_align_t)) noexcept {
    do_deallocate(p, bytes, alignment);
  }

  ABSL_ATTRIBUTE_ALWAYS_INLINE inline Marker mark() const noexcept {
    char* cur = cur_;
#if defined(__GNUC__)
    // Keeps the vectorizer from reading cur_ and chunk_ as one 16-byte load, which the CPU
    // cannot forward from the 8-byte store of cur_ by the previous rewind: a stall per scope.
    asm("" : "+r"(cur));
#endif
    floor_ = cur;
    const Marker m(cur, chunk_, this);
    if (ABSL_PREDICT_FALSE(log_ != nullptr)) log_mark(cur, m.chunk_);
    return m;
  }
  // Frees everything allocated after `m`, spills included. Rewinding to a marker that an earlier
  // rewind ended is caught (message and abort) in debug builds. A marker from another arena is
  // never followed: debug builds abort with "marker from another arena", release builds ignore
  // the call. Inline for the common case of a scope that did not spill.
  ABSL_ATTRIBUTE_ALWAYS_INLINE inline void rewind(const Marker& m) noexcept {
    if (ABSL_PREDICT_TRUE(m.arena_ == this && rewind_plain(m.cur_, m.chunk_, high_, m.cur_))) {
      return;
    }
    rewind_slow(m);
  }
  void reset() noexcept;

  ArenaStats stats() const noexcept;
  std::pmr::memory_resource* upstream() const noexcept { return upstream_; }

  // The peak of `used` over one stretch of use, for scopes that report what happened inside
  // them. Windows nest: open_window() starts one at the current level and returns the enclosing
  // window's peak, which close_window() folds back together with this one's.
  //
  // A window starts with high_ at 0, not at the current level: the level never drops without
  // being compared first (deallocate, rewind, reset and a spill note it), so the level at the
  // start counts in the window's peak by itself, and in the enclosing one's when the window
  // closes.
  ABSL_ATTRIBUTE_ALWAYS_INLINE inline std::size_t open_window() noexcept {
    const std::size_t outer = high_;
    high_ = 0;
    return outer;
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE inline std::size_t window_peak() const noexcept {
    return Counter::peak_of(high_, used());
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE inline void close_window(std::size_t outer) noexcept {
    high_ = Counter::peak_of(Counter::peak_of(high_, used()), outer);
  }
  // A scope's start (corepy/arena.h): the bump pointer, the enclosing window's peak, the
  // deallocation floor in force before it, and the counters its stats are measured from.
  // close_frame() rewinds to the start, closes the window and puts that floor back, so once the
  // scope has ended, memory allocated before it can again be given back by deallocate() (a stack
  // of temporaries outside any scope pops cleanly after scopes ran above it).
  //
  // What a frame costs is what a scope costs, so both ends stay short. A frame opened in the
  // block with no spill chunk live and nothing to report to a tool or a marker log (quiet_) is
  // inline: the open saves the bump pointer, the floor, the window's peak and the spill
  // counters, and starts a window; the close tests that nothing out of the ordinary happened
  // since (quiet still, no spill), puts back the window and the floor alone when nothing was
  // allocated inside, and otherwise, the start still inside the block's used part, folds the
  // window's peak into the arena's and the enclosing window's and puts back the bump pointer and
  // the floor (rewind_in_block). The window's peak is the larger of high_ and the bump pointer,
  // compared at the close only: the bump path keeps nothing. Any other frame opens and closes out
  // of line.
  struct Frame {
    char* start;                 // where the close rewinds to
    const ArenaResource* arena;  // the arena that opened it
    Chunk* chunk;                // the newest spill chunk at the open
    std::size_t outer_window;    // the enclosing window's peak
    char* outer_floor;
    std::size_t used;         // used() at the open: where the frame's window starts
    std::size_t spills;       // overflow_count() at the open
    std::size_t spill_bytes;  // overflow_bytes_total() at the open

    Marker marker() const noexcept { return Marker(start, chunk, arena); }  // to the start
  };
  ABSL_ATTRIBUTE_ALWAYS_INLINE inline Frame open_frame() noexcept {
    char* cur = cur_;
#if defined(__GNUC__)
    asm("" : "+r"(cur));  // as in mark(): no 16-byte load of cur_ and the next field
#endif
    Frame f{cur,
            this,
            nullptr,
            high_,
            floor_,
            static_cast<std::size_t>(cur - begin_),
            overflow_count_,
            spill_bytes_.total};
    if (ABSL_PREDICT_FALSE(!quiet_)) {
      // Scalars in and out, not the frame: its address would make the caller keep it in memory.
      f.chunk = chunk_;
      f.used = used();
      if (log_ != nullptr) log_mark(cur, f.chunk);
    }
    floor_ = cur;
    high_ = 0;
    return f;
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE inline void close_frame(const Frame& f) noexcept {
    // Quiet now and no spill since the open: no chunk was live at the open either (or it was
    // given back since, leaving the start outside the block, which the tests below catch).
    if (ABSL_PREDICT_TRUE(quiet_ && f.arena == this && f.spills == overflow_count_)) {
      // Nothing allocated and nothing given back inside the frame (the bump pointer where it
      // started, no drop noted in the window) leaves nothing to fold: the level at the start is
      // compared when it drops.
      char* const cur = cur_;
      if (ABSL_PREDICT_TRUE(at_frame_start(f))) {
        high_ = f.outer_window;
        floor_ = f.outer_floor;
        return;
      }
      // The start inside the block's used part (a reset, a new block since: out of line).
      const auto begin = reinterpret_cast<std::uintptr_t>(begin_);
      const auto now = static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(cur) - begin);
      if (ABSL_PREDICT_TRUE(reinterpret_cast<std::uintptr_t>(f.start) - begin <= now)) {
        rewind_in_block(f.start, now, f.outer_window, f.outer_floor);
        return;
      }
    }
    close_frame_slow(f.start, f.chunk, f.arena, f.outer_window, f.outer_floor);
  }

  // rewind(m) then close_window(outer), fused: one pass over the peaks.
  ABSL_ATTRIBUTE_ALWAYS_INLINE inline void rewind_and_close_window(const Marker& m,
                                                                   std::size_t outer) noexcept {
    if (ABSL_PREDICT_TRUE(m.arena_ == this && rewind_plain(m.cur_, m.chunk_, outer, m.cur_))) {
      return;
    }
    rewind_slow(m);
    close_window(outer);
  }
  // Whether the bump pointer is where `f` started and no drop was noted in its window: nothing
  // allocated since the open is still held in the region, so the frame's peak is 0 unless it
  // spilled (the peak then counts what the spill chunks held).
  ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool at_frame_start(const Frame& f) const noexcept {
    return unchanged_since(f.start);
  }
  // Bytes of every spill chunk ever taken (not lowered when they are returned).
  std::size_t overflow_bytes_total() const noexcept { return spill_bytes_.total; }

  // Replaces the block with one of `capacity` bytes from the upstream, if that is larger and the
  // arena holds nothing (nothing used, no spills); returns whether the block now has at least
  // `capacity` bytes. Every marker taken before is ended by it. An upstream that refuses throws
  // AllocationError and leaves the arena as it was. Used to grow thread arenas that keep
  // spilling (corepy/arena.h).
  bool reserve(std::size_t capacity);
  // Replaces the block with one of `capacity` bytes from the upstream, if that is smaller and
  // the arena holds nothing; returns whether the block now has at most `capacity` bytes. A
  // caller's buffer is never given back (false). Ends every marker, as reserve() does. An
  // upstream that refuses the smaller block throws AllocationError and changes nothing. Used by
  // trim() and the shrink policy (corepy/memory_stats.h).
  bool shrink(std::size_t capacity);
  // Copies the counters into `gauge` (null: stop) now and at every out-of-line event from
  // then on (allocators/arena_gauge.h); the destructor zeroes it. The gauge must outlive the
  // arena or be replaced first.
  void set_gauge(ArenaGauge* gauge) noexcept;
  std::size_t capacity() const noexcept { return static_cast<std::size_t>(end_ - begin_); }
  std::size_t overflow_count() const noexcept { return overflow_count_; }
  std::size_t overflow_bytes() const noexcept { return spill_bytes_.value; }
  ABSL_ATTRIBUTE_ALWAYS_INLINE inline std::size_t used() const noexcept {
    return static_cast<std::size_t>((region_ == nullptr ? cur_ : block_cur_) - begin_);
  }

 private:
  // allocate()'s explicit align from `cur` (the rounding cannot wrap: user-space addresses are
  // far below 2^64 - kMaxFastAlignment): where the request starts, the bytes it takes from there,
  // and whether the inline path may serve it (else allocate_slow()). Any alignment.
  struct AlignedBump {
    std::uintptr_t at;
    std::size_t rounded;
    bool inline_path;
  };
  ABSL_ATTRIBUTE_ALWAYS_INLINE static AlignedBump aligned_bump(std::uintptr_t cur,
                                                               std::uintptr_t end,
                                                               std::size_t bytes,
                                                               std::size_t alignment) noexcept {
    const std::uintptr_t aligned = (cur + alignment - 1) & ~(alignment - 1);
    const std::size_t rounded = round_to_granule(bytes);
    // One `&` chain, not `&&`: the tests are cheap and taken together.
    const bool inline_path =
        ((alignment & (alignment - 1)) == 0) & (bytes <= kMaxFastBytes) &
        (alignment - 1 < kMaxFastAlignment) &
        (static_cast<std::ptrdiff_t>(rounded) <= static_cast<std::ptrdiff_t>(end - aligned));
    return AlignedBump{aligned, rounded, inline_path};
  }
  // Whether a request of `bytes` at an alignment up to kGranule fits `room`, fast_end_ - cur_.
  // The room is negative when the bump pointer is past fast_end_ (a region's unaligned tail) or
  // fast_end_ is null (the annotations: every request goes out of line); otherwise it is a
  // multiple of kGranule, so a size that fits has a rounding that fits and no size needs an
  // overflow test. For a constant size, one signed compare.
  static constexpr bool fits(std::size_t bytes, std::ptrdiff_t room) noexcept {
    return (static_cast<std::ptrdiff_t>(bytes) >= 0) & (static_cast<std::ptrdiff_t>(bytes) <= room);
  }
  // Through a memory_resource*, the alignment is not a constant: the same fast path as
  // allocate(), with the explicit align of larger alignments out of line.
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    // Separate early returns, so that each test is a compare and a branch (combined with `&`,
    // as allocate() does for constant arguments, they become flag arithmetic here).
    if (ABSL_PREDICT_FALSE(alignment - 1 >= kGranule)) return allocate_aligned(bytes, alignment);
    if (ABSL_PREDICT_FALSE((alignment & (alignment - 1)) != 0)) {
      return allocate_aligned(bytes, alignment);
    }
    const auto cur = reinterpret_cast<std::uintptr_t>(cur_);
    const auto room =
        static_cast<std::ptrdiff_t>(reinterpret_cast<std::uintptr_t>(fast_end_) - cur);
    if (ABSL_PREDICT_FALSE(!fits(bytes, room))) return allocate_aligned(bytes, alignment);
    cur_ = reinterpret_cast<char*>(cur + round_to_granule(bytes));
    return reinterpret_cast<void*>(cur);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) noexcept override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  // The inline rewind to the point `to` (with `chunk` the newest spill chunk when it was
  // taken) of a scope that did not spill (no spill chunk then or now, so the block is the
  // region; nothing to report to a tool or to the debug marker log; `to` inside the block's used
  // part): folds the window's peak into the arena's and `outer`, moves the bump pointer back and
  // sets the floor. Returns false, having changed nothing, when the out-of-line path must do it.
  ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool rewind_plain(char* to, const Chunk* chunk,
                                                        std::size_t outer, char* floor) noexcept {
    const auto begin = reinterpret_cast<std::uintptr_t>(begin_);
    const std::size_t now =
        static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(cur_) - begin);
    // One unsigned compare puts `to` in [begin_, cur_].
    if (!((reinterpret_cast<std::uintptr_t>(chunk) | reinterpret_cast<std::uintptr_t>(chunk_)) ==
          0) ||
        !plain_ || !(reinterpret_cast<std::uintptr_t>(to) - begin <= now)) {
      return false;
    }
    rewind_in_block(to, now, outer, floor);
    return true;
  }
  // The inline rewind's work once its tests passed (the region is the block, `to` inside its
  // used part, `now` the level): folds the window's peak into the arena's and `outer`, moves the
  // bump pointer back to `to` and sets the floor.
  ABSL_ATTRIBUTE_ALWAYS_INLINE inline void rewind_in_block(char* to, std::size_t now,
                                                           std::size_t outer,
                                                           char* floor) noexcept {
    const std::size_t high = Counter::peak_of(high_, now);
    if (ABSL_PREDICT_FALSE(high > peak_)) {
      peak_ = high;
      if (gauge_ != nullptr) publish();  // only when the peak rises
    }
    high_ = Counter::peak_of(high, outer);
    cur_ = to;
    floor_ = floor;
  }
  // The bump pointer at `start` and no drop noted in the window since it opened: the one test
  // of "nothing happened inside", for both ends of a frame (at_frame_start, close_frame_slow).
  ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool unchanged_since(const char* start) const noexcept {
    return cur_ == start && high_ == 0;
  }
  // quiet_ from what it depends on, wherever a chunk comes or goes.
  void update_quiet() noexcept { quiet_ = plain_ && chunk_ == nullptr; }
  void init_block();
  void* allocate_slow(std::size_t bytes, std::size_t alignment);
  void* allocate_aligned(std::size_t bytes, std::size_t alignment);  // allocate(), out of line
  // Scalars, not the frame: a struct argument would make the caller keep the frame in memory
  // for this call's sake on the inline path too.
  void close_frame_slow(char* start, Chunk* chunk, const ArenaResource* arena, std::size_t outer,
                        char* outer_floor) noexcept;
  Chunk* take_chunk(std::size_t bytes, std::size_t alignment, bool dedicated);
  void enter_region(Chunk* region, char* cur) noexcept;
  std::size_t pop_chunk() noexcept;
  void end_spill_round(std::size_t regular_bytes) noexcept;
  void rewind_region(char* to) noexcept;
  bool rewind_slow(Marker m) noexcept;  // false: the marker is not this arena's
  char* region_begin() const noexcept;
  char* bump_end(char* p, std::size_t bytes) const noexcept;
  const void* region_pool() const noexcept;
  bool note_peak() noexcept;  // true when it published to gauge_ (the peak rose)
  void log_mark(char* cur, Chunk* chunk) const;
  void publish() const noexcept;  // to gauge_, which must be set
  void replace_block(std::size_t capacity);
  static std::unique_ptr<MarkerLog> new_marker_log();

  // Together, after the vtable pointer: what an allocation and a scope touch (one or two cache
  // lines, wherever the arena lands).
  //
  // The region being bumped through: the own block (region_ null) or the newest regular spill
  // chunk. cur_ is on a kGranule boundary or at the region's end. fast_end_ is the region's end
  // rounded down to kGranule, or null when every allocation must take the slow path (ASan,
  // Valgrind) to be reported to the tool.
  char* cur_;
  char* fast_end_;
  Chunk* chunk_ = nullptr;  // spill chunks, newest first, regular and dedicated alike
  Chunk* region_ = nullptr;
  char* begin_;  // the own block is [begin_, end_); begin_ on kGranule (or at end_)
  // deallocate() never gives back bytes below the newest marker's point (or the region's
  // start), so every live marker stays at or below cur_ and rewinds exactly.
  mutable char* floor_;
  // The current window's peak (open_window): the most the block held in it, up to the last
  // time it was compared (a rewind, a spill, a pop), 0 at its start; window_peak() adds the bump
  // pointer's level.
  std::size_t high_ = 0;

  // Second line: what a scope reads once, and a rewind writes. spill_bytes_: value is what the
  // spill chunks now hold, total every chunk ever taken.
  std::size_t peak_ = 0;
  std::size_t overflow_count_ = 0;
  Counter spill_bytes_;
  bool plain_;  // neither annotations nor a marker log: rewind may take its inline path
  bool quiet_;  // plain_, and no spill chunk live: a frame may open inline
  bool owns_block_;
  bool annotate_;  // report allocations to ASan / Valgrind

  // The rest: spills and the block's edges.
  char* end_;
  char* region_end_;
  char* block_cur_;  // the block's cursor while a spill chunk is the region
  std::size_t first_chunk_size_;
  std::size_t next_chunk_size_;
  std::pmr::memory_resource* upstream_;
  std::unique_ptr<MarkerLog> log_;  // live markers, kept by debug builds only
  ArenaGauge* gauge_ = nullptr;     // set_gauge()
};

using Marker = ArenaResource::Marker;

// What happened inside one scope of an arena.
struct ScopeStats {
  std::size_t peak;         // most bytes of the arena's block used at once above the scope's start
  std::size_t spills;       // spill chunks taken from the upstream
  std::size_t spill_bytes;  // bytes of those chunks
};

// The one scope guard of an arena, as foonathan/memory's memory_stack_raii_unwind is for its
// stacks: made, it opens a frame (marker, window, deallocation floor); destroyed, by return or
// by exception, it closes it, which rewinds everything allocated since, spills included. Every
// scope in corepy is one: ArenaScope and OpScope (corepy/arena.h, corepy/dispatch.h) and the
// parallel kernels' per-task scratch scopes. Rewinders of one arena nest; each rewinds exactly to
// its own start.
//
//   {
//     corepy::ArenaRewinder scope(arena);
//     void* p = arena.allocate(4096);
//     corepy::ScopeStats s = scope.stats();  // peak 4096
//   }                                        // arena.used() is back where it was
class ArenaRewinder {
 public:
  ABSL_ATTRIBUTE_ALWAYS_INLINE explicit ArenaRewinder(ArenaResource& arena) noexcept
      : arena_(arena), frame_(arena.open_frame()) {}
  ArenaRewinder(const ArenaRewinder&) = delete;
  ArenaRewinder& operator=(const ArenaRewinder&) = delete;
  ABSL_ATTRIBUTE_ALWAYS_INLINE ~ArenaRewinder() { arena_.close_frame(frame_); }

  ArenaResource& arena() const noexcept { return arena_; }

  // Since the rewinder was made; valid until it is destroyed.
  ABSL_ATTRIBUTE_ALWAYS_INLINE ScopeStats stats() const noexcept {
    return ScopeStats{peak(), spills(), spill_bytes()};
  }
  // The fields of stats() one by one, for a scope that reads the spill bytes only when there
  // were spills.
  ABSL_ATTRIBUTE_ALWAYS_INLINE std::size_t peak() const noexcept {
    return arena_.window_peak() - frame_.used;
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE std::size_t spills() const noexcept {
    return arena_.overflow_count() - frame_.spills;
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE std::size_t spill_bytes() const noexcept {
    return arena_.overflow_bytes_total() - frame_.spill_bytes;
  }
  // Whether a spill chunk was taken since (cheaper than stats()).
  bool spilled() const noexcept { return arena_.overflow_count() != frame_.spills; }
  // A shortcut for "stats() is all zeros", by two tests and no arithmetic: no spill, the bump
  // pointer where the rewinder started and no drop noted since. True only when the stats are
  // zeros, and whenever nothing was allocated since (empty scopes inside included).
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool untouched() const noexcept {
    return !spilled() && arena_.at_frame_start(frame_);
  }

 private:
  ArenaResource& arena_;
  ArenaResource::Frame frame_;
};

}  // namespace corepy

#endif  // COREPY_ALLOCATORS_ARENA_RESOURCE_H_
