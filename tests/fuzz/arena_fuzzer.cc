// Fuzz target 2: a random walk over one ArenaResource, checked step by step against a shadow
// model of what allocators/arena_resource.h promises.
//
// The walk allocates, takes markers, rewinds to live ones, resets, deallocates the newest
// allocation, reserves, opens and closes scopes' peak windows and frames (a frame's close puts
// the deallocation floor back), and makes the upstream refuse.
// Requests span the whole of size_t (issue 10: a walk that drew alignments up to 64 KiB only
// never saw defect 1, an alignment of 2^63 whose chunk size wrapped to 32 bytes): mostly
// ordinary sizes (0 to 64 KiB) and alignments (1 to 64 KiB), so the bump and spill rules get
// exercised, and now and then sizes, alignments and reserve() capacities from Input::edge()
// (powers of two and their neighbours at every k, 2^62, 2^63, PTRDIFF_MAX, SIZE_MAX and what is
// near them), and alignments that are not powers of two. The model knows the block, the spill
// chunks (from the upstream's own record of what it handed out), the cursor, the markers and
// the chunk-size policy the header states, and checks after every step:
//   - a request is served or refused exactly as the model predicts: an alignment that is not a
//     power of two throws std::invalid_argument; a request that does not fit its region needs
//     a chunk of kChunkHeader (48) + worst_pad + bytes (worst_pad = alignment - 16 above
//     alignment 16), and when that sum exceeds PTRDIFF_MAX the arena throws AllocationError
//     without asking the upstream; when the upstream refuses the chunk it throws one too; both
//     carry the caller's bytes and alignment, and leave the arena as it was (stats, cursor, the
//     next pointer the model predicts, and an armed refusal not spent);
//   - every pointer is aligned and is exactly the one the bump rule gives (in the block, and in
//     a chunk after its 48-byte header and the alignment's padding; the cursor then moves by
//     the size rounded up to 16, or to the region's end), and every chunk has exactly the size
//     the spill policy gives;
//   - live allocations never overlap, and each still holds the pattern written into it
//     (all of it up to 64 KiB, its first and last 4 KiB beyond), checked before its memory is
//     given back;
//   - stats() (used, capacity, peak, overflow_count, overflow_bytes) and window_peak() equal
//     the model's, exactly;
//   - the upstream never sees a request beyond PTRDIFF_MAX (the run aborts if it does), sees
//     every block and chunk returned with the size and alignment it was taken with, and holds
//     nothing once the arena is gone.
// The upstream refuses, without allocating, anything above kLargest or beyond a budget of live
// bytes (so a valid huge request, 2^40 bytes say, is an upstream refusal, predicted exactly),
// and the next request when the walk arms a refusal.
//
// Input encoding (Input::edge() in fuzz_support.h says how an edge value is encoded):
//   byte `how`: bit 7: first try an arena of capacity edge() (refused unless it is small
//       enough for the upstream); bits 0-1 zero: capacity 0, else u16 * (1 + bits 2-3);
//       bit 2: in a caller's buffer (then a byte: its misalignment, 0..63)
//   then steps, a byte each, by value % 16 (and that step's own bytes):
//     0-5 allocate(size, 2^a): size is a byte s, and s % 4 picks tiny (a byte % 17), small
//         (u16 % 1025), mid (u16 % 8193) or up to 64 KiB (u32 % 65537); then a byte a, taken
//         % 17 if its bit 7 is set, else % 13
//     6   allocate(size as above, wide alignment)
//     7   allocate(edge(), wide alignment)
//     8   the upstream refuses its next request
//     9-10 mark   11-12 rewind to a live marker (u32 picks it)   13 reset
//     14  deallocate the newest allocation
//     15  a byte b, by b % 4: 0 check every pattern; 1 reserve(u16 * 4); 2 a window step (a
//         byte h: h % 3 == 0 opens a window, or a frame if bit 7; else closes the innermost:
//         a frame with a live marker by close_frame() if bit 7, else h % 3 == 1 closes it
//         alone, 2 fused with a rewind to a live marker picked by a u32); 3 reserve(edge())
//   A wide alignment is a byte w: w < 0xc0: 2^(w % 64); else edge() as it comes (mostly not
//   a power of two: 0, 2^k+-1, SIZE_MAX, ...).
//   E.g. the seed wide_2p63_at_2p63 is 01 00 10 | 00 00 08 04 | 07 04 3f 00 3f | 00 00 08 04:
//   a 4 KiB arena; allocate(8, 16); allocate(2^63, 2^63), which must throw; allocate(8, 16)
//   again, right after the first. The seeds wide_* are the requests of issue 10 and the
//   boundaries around them.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <memory_resource>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "allocators/allocation_error.h"
#include "allocators/arena_resource.h"
#include "allocators/stats_resource.h"
#include "tests/fuzz/fuzz_support.h"

namespace corepy::fuzz {
namespace {

std::uintptr_t addr(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// What the arena header promises about sizes: no object beyond PTRDIFF_MAX, and a spill chunk
// that starts with a 48-byte header after which the data is max_align_t (16)-aligned.
constexpr std::size_t kMaxObject =
    static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max());
constexpr std::size_t kChunkHeader = 48;
constexpr std::size_t kChunkAlignment = alignof(std::max_align_t);
static_assert(kChunkAlignment == 16, "the model's chunk arithmetic assumes 16");
constexpr std::size_t kBlockAlignment = 64;

bool power_of_two(std::size_t a) { return a != 0 && (a & (a - 1)) == 0; }

// Bytes from `p` to the next multiple of `alignment` (a power of two).
std::size_t padding(std::uintptr_t p, std::size_t alignment) { return (0 - p) & (alignment - 1); }

// The bump rule's cursor after `n` bytes served at `p`: n rounded up to kGranule, or the
// region's end when that does not fit.
constexpr std::size_t kGranule = 16;
static_assert(ArenaResource::kGranule == kGranule, "the model's bump rule assumes 16");
char* bump_end(char* p, std::size_t n, char* region_end) {
  const std::size_t rounded = (n + kGranule - 1) & ~(kGranule - 1);
  return p + std::min(rounded, static_cast<std::size_t>(region_end - p));
}

// The upstream: records what it hands out (so the model knows each chunk), checks that every
// deallocation matches an allocation, and refuses on demand or beyond its limits, without
// allocating. A request beyond PTRDIFF_MAX must never reach it: that stops the run.
class RecordingResource final : public std::pmr::memory_resource {
 public:
  // Requests above this are refused, as a real upstream would refuse a huge one: room for
  // regular chunks up to 4 MiB (the doubling from the smallest goes at least six rounds), and
  // for a 64 KiB request at any alignment up to 1 MiB, and no more, so that a huge valid
  // request (2^40 bytes, or 2^20 at an alignment of 2^40) is a refusal that costs nothing.
  // Larger chunks cost milliseconds each (the arena poisons each one's ASan shadow), which
  // cut the walk's speed by three; what they alone would reach is the kMaxChunk (64 MiB) cap
  // on chunk sizes, which this walk therefore does not check.
  static constexpr std::size_t kLargest = (std::size_t{4} << 20) + (std::size_t{1} << 20);
  // Nor does it hold more than this at once, which bounds the walk's memory.
  static constexpr std::size_t kBudget = std::size_t{32} << 20;

  explicit RecordingResource(std::pmr::memory_resource* upstream) : upstream_(upstream) {}

  struct Block {
    std::size_t bytes;
    std::size_t alignment;
  };
  std::size_t calls = 0;     // allocate() calls, refused ones included
  std::size_t served = 0;    // allocations made
  bool refuse_next = false;  // refuse the next allocate() call
  char* last = nullptr;      // the newest allocation
  std::size_t last_bytes = 0;
  std::size_t last_alignment = 0;
  std::map<std::uintptr_t, Block> live;
  std::size_t live_bytes = 0;

  // Whether the next allocate(bytes, ...) will be refused.
  bool refuses(std::size_t bytes) const {
    return refuse_next || bytes > kLargest || bytes > kBudget - live_bytes;
  }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    FUZZ_CHECK(bytes <= kMaxObject, "a request of ", bytes, " bytes (alignment ", alignment,
               ") reached the upstream: nothing beyond PTRDIFF_MAX may");
    FUZZ_CHECK(alignment == kChunkAlignment || alignment == kBlockAlignment,
               "the upstream was asked for alignment ", alignment);
    ++calls;
    if (refuses(bytes)) {
      refuse_next = false;
      throw std::bad_alloc();
    }
    void* p = upstream_->allocate(bytes, alignment);
    ++served;
    last = static_cast<char*>(p);
    last_bytes = bytes;
    last_alignment = alignment;
    FUZZ_CHECK(live.emplace(addr(p), Block{bytes, alignment}).second, "an address given twice");
    live_bytes += bytes;
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    const auto it = live.find(addr(p));
    FUZZ_CHECK(it != live.end(), "the arena returned memory the upstream never gave: ", addr(p));
    FUZZ_CHECK(it->second.bytes == bytes && it->second.alignment == alignment,
               "the arena returned ", bytes, " bytes (alignment ", alignment, ") of a block of ",
               it->second.bytes, " (alignment ", it->second.alignment, ")");
    live_bytes -= bytes;
    live.erase(it);
    upstream_->deallocate(p, bytes, alignment);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  std::pmr::memory_resource* upstream_;
};

// ---- the model ----

struct ChunkModel {
  char* base;
  std::size_t size;
  bool dedicated;
  int prev_region;  // regular chunks: the region before this one (-1: the block)
  char* prev_cur;   // and its cursor then
};

struct MarkerModel {
  char* cur;
  std::size_t chunks;    // chunks live when it was taken
  std::uint64_t serial;  // allocations made before it
  std::uint64_t id;      // which mark() made it
};

struct Window {
  std::size_t outer;  // what open_window() returned, for close_window()
  std::size_t peak;   // the most `used` has been since it opened
  // A scope's frame (open_frame()) rather than a bare window: its marker, and the
  // deallocation floor close_frame() puts back.
  bool frame = false;
  std::uint64_t marker_id = 0;
  char* outer_floor = nullptr;
};

struct Allocation {
  char* p;
  std::size_t n;
  std::uint64_t serial;
  unsigned char fill;
};

// An allocation's pattern covers all of it up to this, and its first and last kPatternEdge
// bytes beyond: a walk may hold allocations of tens of MiB.
constexpr std::size_t kPatternWhole = std::size_t{64} << 10;
constexpr std::size_t kPatternEdge = 4096;

class Walk {
 public:
  explicit Walk(Input& in) : in_(in), stats_(std::pmr::new_delete_resource()), upstream_(&stats_) {}

  void run() {
    make_arena();
    check_stats();
    for (int step = 0; step < kMaxSteps && !in_.empty(); ++step) {
      this->step();
      check_stats();
    }
    verify(0);
    arena_.reset();
    FUZZ_CHECK(upstream_.live.empty() && upstream_.live_bytes == 0, "after the arena is gone, ",
               upstream_.live.size(), " blocks (", upstream_.live_bytes,
               " bytes) are still held from the upstream");
    const StatsCounters c = stats_.counters();
    FUZZ_CHECK(c.bytes.value == 0 && c.allocations.value == 0 && c.mismatches == 0,
               stats_.leak_report(), "; mismatches ", c.mismatches);
  }

 private:
  static constexpr int kMaxSteps = 400;

  void make_arena() {
    const std::uint8_t how = in_.u8();
    if ((how & 0x80) != 0 && wide_arena()) return;
    const std::size_t calls_before = upstream_.calls;  // a refused wide arena made one
    const std::size_t capacity =
        (how & 3) == 0 ? 0 : in_.u16() * static_cast<std::size_t>(1 + (how >> 2) % 4);
    if ((how & 4) != 0) {
      // The caller's buffer, at an offset that leaves it misaligned, ending where the heap block
      // ends so that a step past it is an ASan report.
      const std::size_t offset = in_.u8() % 64;
      buffer_.reset(new char[capacity + offset]);
      arena_ = std::make_unique<ArenaResource>(buffer_.get() + offset, capacity, &upstream_);
      // The block starts at the buffer's first kGranule boundary (or its end, if none).
      char* const start = buffer_.get() + offset;
      const std::size_t skip = std::min(padding(addr(start), kGranule), capacity);
      begin_ = start + skip;
      owned_block_ = 0;
      start_block(capacity - skip);
      return;
      FUZZ_CHECK(upstream_.calls == calls_before,
                 "an arena in a caller's buffer called the upstream");
    } else {
      arena_ = std::make_unique<ArenaResource>(capacity, &upstream_);
      if (capacity == 0) {
        FUZZ_CHECK(upstream_.calls == calls_before, "a zero-capacity arena called the upstream");
        // It bumps through a 0-byte block somewhere of its choosing; a 0-byte request at
        // alignment 1 fits there and says where (and changes nothing).
        begin_ = static_cast<char*>(arena_->allocate(0, 1));
      } else {
        FUZZ_CHECK(upstream_.served == 1 && upstream_.last_bytes == capacity,
                   "the block was not taken from the upstream in one piece");
        begin_ = upstream_.last;
      }
      owned_block_ = capacity;
    }
    start_block(capacity);
  }

  // An arena of capacity edge(): built if the upstream can serve the block, else refused with
  // AllocationError (beyond PTRDIFF_MAX without asking the upstream). Returns whether it was
  // built.
  bool wide_arena() {
    const std::size_t capacity = in_.edge();
    if (capacity == 0) return false;  // the ordinary constructor covers it
    const bool too_large = capacity > kMaxObject;
    const bool refused = too_large || upstream_.refuses(capacity);
    try {
      arena_ = std::make_unique<ArenaResource>(capacity, &upstream_);
    } catch (const AllocationError& e) {
      FUZZ_CHECK(refused, "ArenaResource(", capacity, ") threw: ", e.what());
      FUZZ_CHECK(e.bytes() == capacity, "ArenaResource(", capacity, ") threw for ", e.bytes(),
                 " bytes: ", e.what());
      FUZZ_CHECK(upstream_.calls == (too_large ? 0 : 1), "ArenaResource(", capacity, ") made ",
                 upstream_.calls, " upstream calls");
      FUZZ_CHECK(upstream_.live.empty(), "a refused arena holds memory");
      return false;
    }
    FUZZ_CHECK(!refused, "ArenaResource(", capacity, ") was built");
    FUZZ_CHECK(upstream_.served == 1 && upstream_.last_bytes == capacity &&
                   upstream_.last_alignment == kBlockAlignment,
               "the block was not taken from the upstream in one piece");
    begin_ = upstream_.last;
    owned_block_ = capacity;
    start_block(capacity);
    return true;
  }

  void start_block(std::size_t capacity) {
    end_ = begin_ + capacity;
    cur_ = floor_ = block_cur_ = begin_;
    first_chunk_ = std::clamp(capacity, ArenaResource::kMinChunk, ArenaResource::kMaxChunk);
    next_chunk_ = first_chunk_;
    served_at_start_ = upstream_.served;
  }

  void step() {
    switch (in_.u8() % 16) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4:
      case 5: {
        const std::size_t n = pick_size();  // then the alignment: one read after the other
        allocate(n, std::size_t{1} << pick_alignment_log());
        break;
      }
      case 6: {
        const std::size_t n = pick_size();
        allocate(n, wide_alignment());
        break;
      }
      case 7: {
        const std::size_t n = in_.edge();
        allocate(n, wide_alignment());
        break;
      }
      case 8:
        upstream_.refuse_next = true;
        break;
      case 9:
      case 10:
        mark();
        break;
      case 11:
      case 12:
        rewind();
        break;
      case 13:
        reset();
        break;
      case 14:
        deallocate_newest();
        break;
      case 15:
        switch (in_.u8() % 4) {
          case 0:
            verify(0);
            break;
          case 1:
            reserve(in_.u16() * std::size_t{4});
            break;
          case 2:
            window();
            break;
          default:
            reserve(in_.edge());
            break;
        }
        break;
    }
  }

  std::size_t pick_size() {
    switch (in_.u8() % 4) {
      case 0:
        return in_.u8() % 17;  // tiny, 0 included
      case 1:
        return in_.u16() % 1025;  // small
      case 2:
        return in_.u16() % 8193;  // around the minimum chunk
      default:
        return in_.u32() % (std::size_t{64} << 10 | 1);  // up to 64 KiB
    }
  }
  int pick_alignment_log() {
    const std::uint8_t a = in_.u8();
    return (a & 0x80) != 0 ? a % 17 : a % 13;  // mostly 1..4096, sometimes up to 64 KiB
  }
  // Any power of two up to 2^63, or (a quarter of the time) any edge value at all.
  std::size_t wide_alignment() {
    const std::uint8_t w = in_.u8();
    return w < 0xc0 ? std::size_t{1} << (w % 64) : in_.edge();
  }

  // Region bounds: the block, or a regular chunk's (its start is not known to the model until
  // its first allocation; the chunk's base bounds it from below).
  char* region_begin() const { return region_ < 0 ? begin_ : chunks_[region_].base; }
  char* region_end() const {
    return region_ < 0 ? end_ : chunks_[region_].base + chunks_[region_].size;
  }
  std::size_t used() const {
    return static_cast<std::size_t>((region_ < 0 ? cur_ : block_cur_) - begin_);
  }

  // One request, any size and alignment: the model predicts whether it is refused (and how),
  // served in the region, or served from a new chunk of exactly which size.
  void allocate(std::size_t n, std::size_t alignment) {
    const std::size_t calls_before = upstream_.calls;
    const bool refusal_armed = upstream_.refuse_next;
    const std::string request = absl::StrCat("allocate(", n, ", ", alignment, ")");
    // What the arena says the request will take from its block inline, all of it given back by
    // its deallocate() (0: not so), checked against what it then does.
    const std::size_t inline_cost = arena_->round_trip_cost(n, alignment);
    if (!power_of_two(alignment)) {
      FUZZ_CHECK(inline_cost == 0, request, ": round_trip_cost ", inline_cost,
                 " for an alignment that is not a power of two");
      bool threw = false;
      try {
        (void)arena_->allocate(n, alignment);
      } catch (const std::invalid_argument&) {
        threw = true;
      } catch (const std::exception& e) {
        FUZZ_CHECK(false, request, " threw ", e.what(), " rather than invalid_argument");
      }
      FUZZ_CHECK(threw, request, " did not throw invalid_argument");
      FUZZ_CHECK(upstream_.calls == calls_before, "a bad alignment reached the upstream");
      return;
    }
    const std::size_t room = static_cast<std::size_t>(addr(region_end()) - addr(cur_));
    const std::size_t pad = padding(addr(cur_), alignment);
    const bool fits = pad <= room && n <= room - pad;
    // Not fitting, it needs a chunk of this size (the header, the worst padding, the bytes),
    // computed without wrapping; beyond PTRDIFF_MAX it is refused up front.
    const std::size_t worst_pad = alignment > kChunkAlignment ? alignment - kChunkAlignment : 0;
    const bool too_large = !fits && (worst_pad > kMaxObject - kChunkHeader ||
                                     n > kMaxObject - kChunkHeader - worst_pad);
    const bool dedicated = n > next_chunk_ / 2;
    std::size_t chunk_size = 0;
    if (!fits && !too_large) {
      const std::size_t needed = kChunkHeader + worst_pad + n;
      chunk_size = dedicated ? needed : std::max(next_chunk_, needed);
    }
    const bool refused = !fits && !too_large && upstream_.refuses(chunk_size);
    FUZZ_CHECK(inline_cost == 0 || (fits && pad == 0 && region_ < 0 && chunks_.empty()), request,
               ": round_trip_cost ", inline_cost, " though ",
               !fits      ? "it does not fit"
               : pad != 0 ? "it needs padding"
                          : "a spill chunk is live");
    char* p = nullptr;
    try {
      p = static_cast<char*>(arena_->allocate(n, alignment));
    } catch (const AllocationError& e) {
      FUZZ_CHECK(
          too_large || refused, request, " threw (", e.what(), ") though ",
          fits ? "it fits"
               : absl::StrCat("the upstream would serve its chunk of ", chunk_size, " bytes"));
      FUZZ_CHECK(e.bytes() == n && e.alignment() == alignment, request,
                 " threw an AllocationError for ", e.bytes(), " bytes at alignment ", e.alignment(),
                 ": ", e.what());
      FUZZ_CHECK(upstream_.calls == calls_before + (too_large ? 0 : 1), request, " made ",
                 upstream_.calls - calls_before, " upstream calls; expected ",
                 too_large ? "none (its chunk exceeds PTRDIFF_MAX)" : "one");
      FUZZ_CHECK(upstream_.refuse_next == (refusal_armed && too_large),
                 "an armed refusal was not spent, or spent without an upstream call");
      return;  // and nothing changed: check_stats() after the step sees it, and the next
               // request's pointer is predicted from the cursor as it was
    } catch (const std::exception& e) {
      FUZZ_CHECK(false, request, " threw ", e.what(), " rather than AllocationError");
    }
    FUZZ_CHECK(!too_large, request, " was served at ", addr(p),
               "; its chunk exceeds PTRDIFF_MAX, so it must throw AllocationError");
    FUZZ_CHECK(!refused, request, " was served at ", addr(p),
               " though the upstream refuses a chunk of ", chunk_size, " bytes");
    FUZZ_CHECK(p != nullptr && addr(p) % alignment == 0, request, " returned ", addr(p));
    if (fits) {
      FUZZ_CHECK(p == cur_ + pad, request, " returned ", addr(p), ", the bump rule gives ",
                 addr(cur_ + pad));
      FUZZ_CHECK(upstream_.calls == calls_before, "a request that fits went to the upstream");
      char* const before = cur_;
      cur_ = bump_end(p, n, region_end());
      FUZZ_CHECK(inline_cost == 0 || inline_cost == static_cast<std::size_t>(cur_ - before),
                 request, ": round_trip_cost ", inline_cost, ", the cursor moved ", cur_ - before);
    } else {
      spilled(p, n, alignment, chunk_size, dedicated, calls_before);
    }
    record(p, n);
  }

  // The request did not fit the region: the arena must have taken exactly one chunk of
  // exactly `size` bytes for it, and served it right after the chunk's header.
  void spilled(char* p, std::size_t n, std::size_t alignment, std::size_t size, bool dedicated,
               std::size_t calls_before) {
    FUZZ_CHECK(upstream_.calls == calls_before + 1, "a spill made ", upstream_.calls - calls_before,
               " upstream calls");
    char* base = upstream_.last;
    FUZZ_CHECK(upstream_.last_bytes == size && upstream_.last_alignment == kChunkAlignment,
               "allocate(", n, ", ", alignment, ") took a ", dedicated ? "dedicated" : "regular",
               " chunk of ", upstream_.last_bytes, " bytes at alignment ", upstream_.last_alignment,
               "; the model says ", size, " at ", kChunkAlignment, " (next chunk size ",
               next_chunk_, ")");
    const std::uintptr_t data = addr(base) + kChunkHeader;
    FUZZ_CHECK(addr(p) == data + padding(data, alignment), "allocate(", n, ", ", alignment,
               ") returned ", addr(p), " in a chunk at ", addr(base), "; expected ",
               data + padding(data, alignment));
    FUZZ_CHECK(addr(p) + n <= addr(base) + size, "the request is not inside its chunk");
    ++overflow_count_;
    overflow_bytes_ += size;
    chunks_.push_back(ChunkModel{base, size, dedicated, region_, cur_});
    if (dedicated) return;  // the region bumps on where it was
    next_chunk_ = std::min(next_chunk_ * 2, ArenaResource::kMaxChunk);
    if (region_ < 0) block_cur_ = cur_;
    region_ = static_cast<int>(chunks_.size()) - 1;
    cur_ = bump_end(p, n, region_end());
    floor_ = base;
  }

  // The parts of an allocation that carry its pattern.
  template <class F>
  static void for_pattern(const Allocation& a, F f) {
    if (a.n <= kPatternWhole) {
      f(a.p, a.n);
      return;
    }
    f(a.p, kPatternEdge);
    f(a.p + a.n - kPatternEdge, kPatternEdge);
  }

  void record(char* p, std::size_t n) {
    const Allocation a{p, n, ++serial_, static_cast<unsigned char>(serial_ * 37 + 11)};
    if (n > 0) {
      const std::uintptr_t start = addr(p);
      auto next = live_.lower_bound(start);
      FUZZ_CHECK(next == live_.end() || next->first >= start + n, "allocation [", start, ", +", n,
                 ") overlaps a live one at ", next->first);
      if (next != live_.begin()) {
        const auto prev = std::prev(next);
        FUZZ_CHECK(prev->first + prev->second.n <= start, "allocation [", start, ", +", n,
                   ") overlaps a live one at ", prev->first, " of ", prev->second.n);
      }
      live_.emplace(start, a);
      for_pattern(a, [&a](char* from, std::size_t bytes) { std::memset(from, a.fill, bytes); });
    }
    stack_.push_back(a);
  }

  void check_pattern(const Allocation& a) const {
    for_pattern(a, [&a](const char* from, std::size_t bytes) {
      for (std::size_t i = 0; i < bytes; ++i) {
        FUZZ_CHECK(static_cast<unsigned char>(from[i]) == a.fill, "allocation #", a.serial, " of ",
                   a.n, " bytes was overwritten at byte ", from + i - a.p);
      }
    });
  }
  // Checks the pattern of every live allocation made after `serial`.
  void verify(std::uint64_t serial) const {
    for (auto it = stack_.rbegin(); it != stack_.rend() && it->serial > serial; ++it) {
      check_pattern(*it);
    }
  }
  // Forgets the allocations made after `serial`: their memory is the arena's again.
  void release_after(std::uint64_t serial) {
    while (!stack_.empty() && stack_.back().serial > serial) {
      if (stack_.back().n > 0) live_.erase(addr(stack_.back().p));
      stack_.pop_back();
    }
  }

  void mark() {
    real_markers_.push_back(arena_->mark());
    marked();
  }
  // The model's side of mark().
  void marked() {
    markers_.push_back(MarkerModel{cur_, chunks_.size(), serial_, ++marker_ids_});
    floor_ = cur_;  // nothing before a marker comes back by deallocate()
  }

  void rewind() {
    if (markers_.empty()) return;
    const std::size_t i = in_.below(markers_.size());
    const MarkerModel m = markers_[i];
    verify(m.serial);
    release_after(m.serial);
    arena_->rewind(real_markers_[i]);
    rewound(i, m);
  }

  // The model's side of a rewind to marker i (m).
  void rewound(std::size_t i, const MarkerModel& m) {
    const bool spilled = region_ >= 0;
    std::size_t popped = 0;
    while (chunks_.size() > m.chunks) popped += pop_chunk();
    if (m.cur >= region_begin() && m.cur <= cur_) cur_ = m.cur;
    if (spilled && region_ < 0) end_round(popped);
    floor_ = cur_;
    markers_.resize(i + 1);
    real_markers_.erase(real_markers_.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                        real_markers_.end());
  }

  void reset() {
    verify(0);
    release_after(0);
    arena_->reset();
    const bool spilled = region_ >= 0;
    std::size_t popped = 0;
    while (!chunks_.empty()) popped += pop_chunk();
    if (spilled) end_round(popped);
    cur_ = floor_ = begin_;
    markers_.clear();
    real_markers_.clear();
  }

  // After a round of spills, the next round starts with a chunk as large as the chunks the
  // ending rewind gave back.
  void end_round(std::size_t regular_bytes) {
    next_chunk_ = std::clamp(regular_bytes, first_chunk_, ArenaResource::kMaxChunk);
  }

  std::size_t pop_chunk() {
    const ChunkModel c = chunks_.back();
    chunks_.pop_back();
    FUZZ_CHECK(upstream_.live.count(addr(c.base)) == 0, "chunk at ", addr(c.base),
               " was not returned to the upstream");
    overflow_bytes_ -= c.size;
    if (static_cast<int>(chunks_.size()) == region_) {
      region_ = c.prev_region;
      cur_ = c.prev_cur;
      if (region_ < 0) block_cur_ = cur_;
    }
    return c.dedicated ? 0 : c.size;
  }

  void deallocate_newest() {
    if (stack_.empty()) return;
    const Allocation a = stack_.back();
    check_pattern(a);
    stack_.pop_back();
    if (a.n > 0) live_.erase(addr(a.p));
    arena_->deallocate(a.p, a.n, 1);
    // The region's newest bytes (their rounding included) come back unless a marker was taken
    // after them.
    if (a.p >= floor_ && a.p <= cur_ && a.n <= static_cast<std::size_t>(cur_ - a.p) &&
        bump_end(a.p, a.n, region_end()) == cur_) {
      cur_ = a.p;
    }
  }

  // reserve(capacity), any capacity: true without a change when the block is large enough;
  // false when the arena holds anything; else a new block, or AllocationError (beyond
  // PTRDIFF_MAX without asking the upstream) with the arena as it was.
  void reserve(std::size_t capacity) {
    const std::size_t calls_before = upstream_.calls;
    const std::size_t served_before = upstream_.served;
    const bool refusal_armed = upstream_.refuse_next;
    const bool grows = capacity > static_cast<std::size_t>(end_ - begin_);
    const bool empty = used() == 0 && chunks_.empty();
    const bool too_large = grows && empty && capacity > kMaxObject;
    const bool refused = grows && empty && (too_large || upstream_.refuses(capacity));
    bool result = false;
    try {
      result = arena_->reserve(capacity);
    } catch (const AllocationError& e) {
      FUZZ_CHECK(refused, "reserve(", capacity, ") threw: ", e.what());
      FUZZ_CHECK(e.bytes() == capacity, "reserve(", capacity, ") threw for ", e.bytes(),
                 " bytes: ", e.what());
      FUZZ_CHECK(upstream_.calls == calls_before + (too_large ? 0 : 1), "reserve(", capacity,
                 ") made ", upstream_.calls - calls_before, " upstream calls");
      FUZZ_CHECK(upstream_.refuse_next == (refusal_armed && too_large),
                 "an armed refusal was not spent, or spent without an upstream call");
      return;
    }
    FUZZ_CHECK(!refused, "reserve(", capacity, ") returned ", result, "; expected AllocationError");
    FUZZ_CHECK(result == (!grows || empty), "reserve(", capacity, ") returned ", result);
    if (!grows || !empty) {
      FUZZ_CHECK(upstream_.calls == calls_before, "reserve called the upstream needlessly");
      return;
    }
    FUZZ_CHECK(upstream_.served == served_before + 1 && upstream_.last_bytes == capacity &&
                   upstream_.last_alignment == kBlockAlignment,
               "reserve(", capacity, ") did not take one new block");
    FUZZ_CHECK(upstream_.live.count(addr(begin_)) == 0 || owned_block_ == 0,
               "the old block was kept");
    begin_ = cur_ = floor_ = block_cur_ = upstream_.last;
    end_ = begin_ + capacity;
    owned_block_ = capacity;
    first_chunk_ = std::clamp(capacity, ArenaResource::kMinChunk, ArenaResource::kMaxChunk);
    next_chunk_ = first_chunk_;
    ++reserved_blocks_;
    release_after(0);  // nothing was live (used 0, no chunks) but 0-byte allocations
    markers_.clear();  // reserve ends every marker
    real_markers_.clear();
  }
  // Scopes' windows: open one (bit 7 of the byte: a frame, as a scope opens), or close the
  // innermost, alone, fused with a rewind, or (a frame whose marker is live, bit 7) by
  // close_frame(): the rewind to its marker, the window closed and the floor put back.
  void window() {
    const std::uint8_t how = in_.u8();
    if (windows_.size() == 1 || how % 3 == 0) {
      if ((how & 0x80) == 0) {
        windows_.push_back(Window{arena_->open_window(), used()});
        return;
      }
      char* const outer_floor = floor_;
      frames_.push_back(arena_->open_frame());
      real_markers_.push_back(frames_.back().marker());
      marked();
      windows_.push_back(
          Window{frames_.back().outer_window, used(), true, marker_ids_, outer_floor});
      return;
    }
    const Window w = windows_.back();
    windows_.pop_back();
    if (w.frame) {
      const ArenaResource::Frame f = frames_.back();
      frames_.pop_back();
      const std::size_t i = frame_marker(w);
      if ((how & 0x80) != 0 && i < markers_.size()) {
        const MarkerModel m = markers_[i];
        verify(m.serial);
        release_after(m.serial);
        arena_->close_frame(f);
        rewound(i, m);
        floor_ = w.outer_floor;
        return;
      }
    }
    if (how % 3 == 1 || markers_.empty()) {
      arena_->close_window(w.outer);
      return;
    }
    // rewind_and_close_window(m, outer) is rewind(m) then close_window(outer).
    const std::size_t i = in_.below(markers_.size());
    const MarkerModel m = markers_[i];
    const ArenaResource::Marker real = real_markers_[i];
    windows_.back().peak = std::max(windows_.back().peak, w.peak);
    verify(m.serial);
    release_after(m.serial);
    arena_->rewind_and_close_window(real, w.outer);
    rewound(i, m);
  }

  // Where a frame's marker is in markers_, or markers_.size() if a rewind, reset or reserve
  // has ended it.
  std::size_t frame_marker(const Window& w) const {
    for (std::size_t i = 0; i < markers_.size(); ++i) {
      if (markers_[i].id == w.marker_id) return i;
    }
    return markers_.size();
  }

  void check_stats() {
    peak_ = std::max(peak_, used());
    // Every open window has seen the same uses; the outermost is the arena's whole life.
    for (Window& w : windows_) w.peak = std::max(w.peak, used());
    FUZZ_CHECK(windows_.front().peak == peak_, "the outermost window is not the whole life");
    FUZZ_CHECK(arena_->window_peak() == windows_.back().peak,
               "window_peak() = ", arena_->window_peak(), ", the model says ", windows_.back().peak,
               " (", windows_.size() - 1, " windows open)");
    const ArenaStats s = arena_->stats();
    const std::size_t capacity = static_cast<std::size_t>(end_ - begin_);
    FUZZ_CHECK(s.used == used() && s.capacity == capacity && s.peak == peak_ &&
                   s.overflow_count == overflow_count_ && s.overflow_bytes == overflow_bytes_,
               "stats {used ", s.used, ", capacity ", s.capacity, ", peak ", s.peak,
               ", overflow_count ", s.overflow_count, ", overflow_bytes ", s.overflow_bytes,
               "}, the model says {", used(), ", ", capacity, ", ", peak_, ", ", overflow_count_,
               ", ", overflow_bytes_, "}");
    FUZZ_CHECK(arena_->used() == s.used && arena_->capacity() == s.capacity &&
                   arena_->overflow_count() == s.overflow_count &&
                   arena_->overflow_bytes() == s.overflow_bytes,
               "the accessors disagree with stats()");
    // Everything the upstream holds is the block or a live chunk.
    FUZZ_CHECK(upstream_.live_bytes == owned_block_ + overflow_bytes_, "the upstream holds ",
               upstream_.live_bytes, " bytes; block ", owned_block_, " + chunks ", overflow_bytes_);
    FUZZ_CHECK(upstream_.served - served_at_start_ == overflow_count_ + reserved_blocks_,
               "upstream allocations ", upstream_.served - served_at_start_, ", chunks ",
               overflow_count_, ", reserved blocks ", reserved_blocks_);
    FUZZ_CHECK(
        stats_.counters().bytes.value == upstream_.live_bytes && stats_.counters().mismatches == 0,
        stats_.leak_report());
  }

  Input& in_;
  StatsResource stats_;  // under the recorder: an independent count and balance
  RecordingResource upstream_;
  std::unique_ptr<char[]> buffer_;
  std::unique_ptr<ArenaResource> arena_;

  // The model.
  char* begin_ = nullptr;  // the block [begin_, end_)
  char* end_ = nullptr;
  std::size_t owned_block_ = 0;  // bytes of the block taken from the upstream
  char* cur_ = nullptr;          // the region's cursor
  char* block_cur_ = nullptr;    // the block's cursor while a chunk is the region
  char* floor_ = nullptr;        // deallocate() gives back nothing below this
  int region_ = -1;              // index in chunks_ of the region, -1: the block
  std::vector<ChunkModel> chunks_;
  std::size_t first_chunk_ = 0;
  std::size_t next_chunk_ = 0;
  std::size_t peak_ = 0;
  std::size_t overflow_count_ = 0;
  std::size_t overflow_bytes_ = 0;
  std::size_t served_at_start_ = 0;
  std::size_t reserved_blocks_ = 0;
  std::vector<MarkerModel> markers_;
  std::vector<ArenaResource::Marker> real_markers_;
  std::uint64_t marker_ids_ = 0;
  std::vector<Window> windows_ = {Window{0, 0}};  // the first: the arena's whole life
  std::vector<ArenaResource::Frame> frames_;      // of the windows that are frames
  std::uint64_t serial_ = 0;
  std::vector<Allocation> stack_;              // live allocations, oldest first
  std::map<std::uintptr_t, Allocation> live_;  // the non-empty ones by address
};

}  // namespace
}  // namespace corepy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  corepy::fuzz::Input in(data, size);
  corepy::fuzz::Walk(in).run();
  return 0;
}
