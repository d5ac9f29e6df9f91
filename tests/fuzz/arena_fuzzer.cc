// Fuzz target 2: a random walk over one ArenaResource, checked step by step against a shadow
// model of what allocators/arena_resource.h promises.
//
// The walk allocates (sizes 0 to 64 KiB, alignments 1 to 64 KiB, now and then a bad alignment or
// a size no upstream can serve), takes markers, rewinds to live ones, resets, deallocates the
// newest allocation, reserves, opens and closes scopes' peak windows, and makes the upstream
// refuse. The model knows the block, the
// spill chunks (from the upstream's own record of what it handed out), the cursor, the markers
// and the chunk-size policy the header states, and checks after every step:
//   - every pointer is aligned, lies in the block or in a chunk taken for it, and is the one
//     the bump rule gives (in the block and in a chunk after its first allocation);
//   - live allocations never overlap, and each still holds the pattern written into it, checked
//     before its memory is given back;
//   - stats() (used, capacity, peak, overflow_count, overflow_bytes) and window_peak() equal
//     the model's, exactly;
//   - a bad request throws (std::invalid_argument, or corepy::AllocationError) and changes
//     nothing;
//   - the upstream sees every block and chunk returned with the size and alignment it was
//     taken with, and holds nothing once the arena is gone.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <memory_resource>
#include <new>
#include <stdexcept>
#include <vector>

#include "absl/strings/str_cat.h"
#include "allocators/allocation_error.h"
#include "allocators/arena_resource.h"
#include "allocators/stats_resource.h"
#include "tests/fuzz/fuzz_support.h"

namespace corepy::fuzz {
namespace {

std::uintptr_t addr(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// The upstream: records what it hands out (so the model knows each chunk), checks that every
// deallocation matches an allocation, and refuses on demand.
class RecordingResource final : public std::pmr::memory_resource {
 public:
  // Requests above this are refused, as a real upstream would refuse a huge one; it keeps the
  // fuzzer's memory bounded. Room for the largest spill chunk and a 64 KiB request at 64 KiB
  // alignment.
  static constexpr std::size_t kLargest = ArenaResource::kMaxChunk + (std::size_t{1} << 20);

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

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    ++calls;
    if (refuse_next || bytes > kLargest) {
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

// The address a zero-capacity arena bumps through (its 0-byte requests are served there).
char* empty_block_address() {
  static char* const address = [] {
    ArenaResource probe(0, std::pmr::new_delete_resource());
    return static_cast<char*>(probe.allocate(0, 1));
  }();
  return address;
}

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
};

struct Window {
  std::size_t outer;  // what open_window() returned, for close_window()
  std::size_t peak;   // the most `used` has been since it opened
};

struct Allocation {
  char* p;
  std::size_t n;
  std::uint64_t serial;
  unsigned char fill;
};

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
    const std::size_t capacity =
        (how & 3) == 0 ? 0 : in_.u16() * static_cast<std::size_t>(1 + (how >> 2) % 4);
    if ((how & 4) != 0) {
      // The caller's buffer, at an offset that leaves it misaligned, ending where the heap block
      // ends so that a step past it is an ASan report.
      const std::size_t offset = in_.u8() % 64;
      buffer_.reset(new char[capacity + offset]);
      arena_ = std::make_unique<ArenaResource>(buffer_.get() + offset, capacity, &upstream_);
      begin_ = buffer_.get() + offset;
      owned_block_ = 0;
    } else {
      arena_ = std::make_unique<ArenaResource>(capacity, &upstream_);
      if (capacity == 0) {
        begin_ = empty_block_address();
        FUZZ_CHECK(upstream_.served == 0, "a zero-capacity arena took a block");
      } else {
        FUZZ_CHECK(upstream_.served == 1 && upstream_.last_bytes == capacity,
                   "the block was not taken from the upstream in one piece");
        begin_ = upstream_.last;
      }
      owned_block_ = capacity;
    }
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
      case 5:
        allocate(pick_size(), std::size_t{1} << pick_alignment_log());
        break;
      case 6:
        bad_alignment();
        break;
      case 7:
        huge_size();
        break;
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
          case 2:
            window();
            break;
          default:
            reserve(in_.u16() * std::size_t{4});
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

  // Region bounds: the block, or a regular chunk's (its start is not known to the model until
  // its first allocation; the chunk's base bounds it from below).
  char* region_begin() const { return region_ < 0 ? begin_ : chunks_[region_].base; }
  char* region_end() const {
    return region_ < 0 ? end_ : chunks_[region_].base + chunks_[region_].size;
  }
  std::size_t used() const {
    return static_cast<std::size_t>((region_ < 0 ? cur_ : block_cur_) - begin_);
  }

  void allocate(std::size_t n, std::size_t alignment) {
    const std::size_t room = static_cast<std::size_t>(region_end() - cur_);
    const std::size_t pad = (0 - addr(cur_)) & (alignment - 1);
    const bool fits = pad <= room && n <= room - pad;
    const std::size_t calls_before = upstream_.calls;
    const bool refusal_armed = upstream_.refuse_next;
    char* p = nullptr;
    try {
      p = static_cast<char*>(arena_->allocate(n, alignment));
    } catch (const AllocationError&) {
      FUZZ_CHECK(!fits && refusal_armed, "allocate(", n, ", ", alignment, ") threw though ",
                 fits ? "it fits" : "the upstream was willing");
      FUZZ_CHECK(upstream_.calls == calls_before + 1, "one upstream call expected");
      return;  // and nothing changed: check_stats() after the step sees it
    }
    FUZZ_CHECK(p != nullptr && addr(p) % alignment == 0, "allocate(", n, ", ", alignment,
               ") returned ", addr(p));
    if (fits) {
      FUZZ_CHECK(p == cur_ + pad, "allocate(", n, ", ", alignment, ") returned ", addr(p),
                 ", the bump rule gives ", addr(cur_ + pad));
      FUZZ_CHECK(upstream_.calls == calls_before, "a request that fits went to the upstream");
      cur_ = p + n;
    } else {
      spilled(p, n, alignment, calls_before);
    }
    record(p, n);
  }

  // The request did not fit the region: the arena must have taken exactly one chunk for it.
  void spilled(char* p, std::size_t n, std::size_t alignment, std::size_t calls_before) {
    FUZZ_CHECK(!upstream_.refuse_next, "a spill did not call the upstream");
    FUZZ_CHECK(upstream_.calls == calls_before + 1, "a spill made ", upstream_.calls - calls_before,
               " upstream calls");
    char* base = upstream_.last;
    const std::size_t size = upstream_.last_bytes;
    FUZZ_CHECK(p >= base && p + n <= base + size, "the request is not inside its chunk");
    // Dedicated: a request larger than half the next chunk gets a chunk of its own (with room
    // for the chunk's header and the alignment's padding only); else a regular chunk of the
    // next size, or larger when the request needs it.
    const bool dedicated = n > next_chunk_ / 2;
    const std::size_t slack = alignment + 256;  // header and padding, generously
    if (dedicated) {
      FUZZ_CHECK(size <= n + slack, "a dedicated chunk of ", size, " bytes for ", n);
    } else {
      FUZZ_CHECK(size == next_chunk_ || (size > next_chunk_ && size <= n + slack),
                 "a regular chunk of ", size, " bytes; the next chunk size is ", next_chunk_);
    }
    ++overflow_count_;
    overflow_bytes_ += size;
    chunks_.push_back(ChunkModel{base, size, dedicated, region_, cur_});
    if (dedicated) return;  // the region bumps on where it was
    next_chunk_ = std::min(next_chunk_ * 2, ArenaResource::kMaxChunk);
    if (region_ < 0) block_cur_ = cur_;
    region_ = static_cast<int>(chunks_.size()) - 1;
    cur_ = p + n;
    floor_ = base;
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
      std::memset(p, a.fill, n);
    }
    stack_.push_back(a);
  }

  void check_pattern(const Allocation& a) const {
    for (std::size_t i = 0; i < a.n; ++i) {
      FUZZ_CHECK(static_cast<unsigned char>(a.p[i]) == a.fill, "allocation #", a.serial, " of ",
                 a.n, " bytes was overwritten at byte ", i);
    }
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

  void bad_alignment() {
    static constexpr std::size_t kBad[] = {
        0, 3, 6, 12, 24, 48, 96, 4095, 4097, 12288, std::numeric_limits<std::size_t>::max()};
    const std::size_t alignment = kBad[in_.u8() % (sizeof kBad / sizeof kBad[0])];
    const std::size_t n = pick_size();
    const std::size_t calls_before = upstream_.calls;
    bool threw = false;
    try {
      (void)arena_->allocate(n, alignment);
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    FUZZ_CHECK(threw, "allocate(", n, ", ", alignment, ") did not throw invalid_argument");
    FUZZ_CHECK(upstream_.calls == calls_before, "a bad alignment reached the upstream");
  }

  void huge_size() {
    static constexpr std::size_t kHuge[] = {
        std::numeric_limits<std::size_t>::max(),
        std::numeric_limits<std::size_t>::max() - 4096,
        static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max()) + 1,
        std::size_t{1} << 62,
        std::size_t{1} << 40,
        RecordingResource::kLargest + 1,
    };
    const std::size_t n = kHuge[in_.u8() % (sizeof kHuge / sizeof kHuge[0])];
    const std::size_t alignment = std::size_t{1} << pick_alignment_log();
    bool threw = false;
    try {
      (void)arena_->allocate(n, alignment);
    } catch (const AllocationError& e) {
      threw = true;
      FUZZ_CHECK(e.bytes() == n || e.bytes() > n, "the error names ", e.bytes(), " bytes for ", n);
    }
    FUZZ_CHECK(threw, "allocate(", n, ", ", alignment, ") did not throw AllocationError");
    upstream_.refuse_next = false;  // a refusal armed before may have been spent, or not
  }

  void mark() {
    real_markers_.push_back(arena_->mark());
    markers_.push_back(MarkerModel{cur_, chunks_.size(), serial_});
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
    // The region's newest bytes come back unless a marker was taken after them.
    if (a.p + a.n == cur_ && a.p >= floor_) cur_ = a.p;
  }

  void reserve(std::size_t capacity) {
    const std::size_t served_before = upstream_.served;
    const bool refusal_armed = upstream_.refuse_next;
    const bool grows = capacity > static_cast<std::size_t>(end_ - begin_);
    const bool empty = used() == 0 && chunks_.empty();
    bool result = false;
    try {
      result = arena_->reserve(capacity);
    } catch (const AllocationError&) {
      FUZZ_CHECK(grows && empty && refusal_armed, "reserve(", capacity, ") threw");
      return;
    }
    FUZZ_CHECK(result == (!grows || empty), "reserve(", capacity, ") returned ", result);
    if (!grows || !empty) {
      FUZZ_CHECK(upstream_.served == served_before, "reserve took memory it did not need");
      return;
    }
    FUZZ_CHECK(upstream_.served == served_before + 1 && upstream_.last_bytes == capacity,
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

  // Scopes' windows: open one, or close the innermost, alone or fused with a rewind.
  void window() {
    const std::uint8_t how = in_.u8();
    if (windows_.size() == 1 || how % 3 == 0) {
      windows_.push_back(Window{arena_->open_window(), used()});
      return;
    }
    const Window w = windows_.back();
    windows_.pop_back();
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
  std::vector<Window> windows_ = {Window{0, 0}};  // the first: the arena's whole life
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
