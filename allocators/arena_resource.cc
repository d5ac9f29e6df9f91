#include "allocators/arena_resource.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/base/config.h"
#include "absl/strings/str_cat.h"
#include "allocators/allocation_error.h"
#include "allocators/internal/memory_annotations.h"

namespace corepy {
namespace {

constexpr const char* kName = "corepy::ArenaResource";
// The own block starts on a cache line; spill chunks need only max_align_t from the upstream.
constexpr std::size_t kBlockAlignment = 64;
constexpr std::size_t kChunkAlignment = alignof(std::max_align_t);
// The chunk header is padded to this, so the first byte after it is max_align_t-aligned.
constexpr std::size_t kChunkHeader = 48;
// No object may be larger than PTRDIFF_MAX bytes (pointer differences must fit); a request
// beyond it is refused before any size arithmetic can wrap, and never reaches the upstream.
constexpr std::size_t kMaxSize = kMaxObjectSize;
constexpr const char* kTooLarge = "the size exceeds PTRDIFF_MAX";

std::uintptr_t address(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// Bytes to skip from `p` to the next multiple of `alignment` (a power of two).
std::size_t padding(const char* p, std::size_t alignment) {
  return (0 - address(p)) & (alignment - 1);
}

// A zero-capacity arena bumps through this: a real address, so even a 0-byte request that the
// fast path serves returns a non-null pointer.
alignas(kBlockAlignment) char g_empty_block[1];

// What the caller asked for, which an AllocationError reports whatever the arena asked of its
// upstream to serve it (a spill chunk is larger, and only max_align_t-aligned).
struct Request {
  std::size_t bytes;
  std::size_t alignment;
};

// Asks the upstream for `bytes` at `alignment` to serve `request`; any refusal (bad_alloc, or a
// null result from a resource that breaks the contract) becomes an AllocationError that names
// the arena and the caller's request.
char* take_from_upstream(std::pmr::memory_resource* upstream, std::size_t bytes,
                         std::size_t alignment, Request request) {
  void* p = nullptr;
  std::string detail;  // what the upstream said, when it says more than std::bad_alloc does
#ifdef ABSL_HAVE_EXCEPTIONS
  try {
    p = upstream->allocate(bytes, alignment);
  } catch (const std::bad_alloc& e) {
    p = nullptr;
    if (dynamic_cast<const AllocationError*>(&e) != nullptr)
      detail = absl::StrCat(" (", e.what(), ")");
  }
#else
  p = upstream->allocate(bytes, alignment);
#endif
  if (p == nullptr) {
    throw_allocation_error(
        kName, request.bytes, request.alignment,
        absl::StrCat(
            "the upstream refused",
            bytes != request.bytes ? absl::StrCat(" a spill chunk of ", bytes, " bytes") : "",
            detail));
  }
  return static_cast<char*>(p);
}

}  // namespace

struct ArenaResource::Chunk {
  Chunk* prev;         // the chunk taken before this one
  Chunk* prev_region;  // regular chunks: the region before this one (null: the block)
  char* prev_cur;      // regular chunks: that region's cursor when this one took over
  std::size_t size;    // bytes taken from the upstream, this header included
  bool dedicated;      // holds one oversized request; never a region
  char* data() { return reinterpret_cast<char*>(this) + kChunkHeader; }
  char* end() { return reinterpret_cast<char*>(this) + size; }
};

// Debug builds' record of live markers: a stack, since markers nest. A marker is its point
// (bump pointer and newest chunk): two markers at one point are interchangeable. Rewinding to a
// marker pops every marker above it; a marker that is not on the stack was ended by an earlier
// rewind (or reset, or reserve).
class ArenaResource::MarkerLog {
 public:
  void on_mark(const Marker& m) {
    if (!live_.empty() && same(live_.back(), m)) return;
    live_.push_back(m);
  }
  bool on_rewind(const Marker& m) {
    for (std::size_t i = live_.size(); i-- > 0;) {
      if (same(live_[i], m)) {
        live_.erase(live_.begin() + static_cast<std::ptrdiff_t>(i) + 1, live_.end());
        return true;
      }
    }
    return false;
  }
  void clear() { live_.clear(); }

 private:
  static bool same(const Marker& a, const Marker& b) {
    return a.cur_ == b.cur_ && a.chunk_ == b.chunk_;
  }
  std::vector<Marker> live_;
};

ArenaResource::ArenaResource(std::size_t capacity, std::pmr::memory_resource* upstream)
    : owns_block_(capacity != 0), upstream_(upstream), log_(new_marker_log()) {
  if (upstream == nullptr) throw_invalid_argument(kName, "the upstream resource is null");
  if (capacity > kMaxSize) throw_allocation_error(kName, capacity, kBlockAlignment, kTooLarge);
  begin_ = capacity != 0 ? take_from_upstream(upstream, capacity, kBlockAlignment,
                                              Request{capacity, kBlockAlignment})
                         : g_empty_block;
  end_ = begin_ + capacity;
  init_block();
}

ArenaResource::ArenaResource(void* buffer, std::size_t size, std::pmr::memory_resource* upstream)
    : owns_block_(false), upstream_(upstream), log_(new_marker_log()) {
  if (upstream == nullptr) throw_invalid_argument(kName, "the upstream resource is null");
  if (buffer == nullptr && size != 0)
    throw_invalid_argument(kName, "the buffer is null but its size is not 0");
  if (size > kMaxSize || address(buffer) + size < address(buffer)) {
    throw_invalid_argument(kName, "the buffer's size runs past the end of the address space");
  }
  char* const start = buffer != nullptr ? static_cast<char*>(buffer) : g_empty_block;
  end_ = start + size;
  // The bump pointer stays on kGranule: the bytes before the buffer's first boundary go unused.
  begin_ = start + std::min(padding(start, kGranule), size);
  init_block();
}

void ArenaResource::init_block() {
  annotate_ = internal::kAsan || internal::running_on_valgrind();
  block_cur_ = begin_;
  enter_region(nullptr, begin_);
  first_chunk_size_ = std::clamp(capacity(), kMinChunk, kMaxChunk);
  next_chunk_size_ = first_chunk_size_;
  plain_ = !annotate_ && log_ == nullptr;
  update_quiet();
  if (annotate_) {
    internal::pool_create(this);
    internal::poison(begin_, capacity());
  }
}

// Debug builds keep a log of live markers; release builds keep nothing (and check nothing).
std::unique_ptr<ArenaResource::MarkerLog> ArenaResource::new_marker_log() {
#ifndef NDEBUG
  return std::make_unique<MarkerLog>();
#else
  return nullptr;
#endif
}

ArenaResource::~ArenaResource() {
  set_gauge(nullptr);
  while (chunk_ != nullptr) pop_chunk();
  if (annotate_) {
    internal::pool_destroy(this);
    internal::unpoison(begin_, capacity());
  }
  if (owns_block_) upstream_->deallocate(begin_, capacity(), kBlockAlignment);
}

// Makes `region` (null: the block) the one the fast path bumps through, from `cur`.
void ArenaResource::enter_region(Chunk* region, char* cur) noexcept {
  region_ = region;
  cur_ = cur;
  floor_ = region == nullptr ? begin_ : region->data();
  region_end_ = region == nullptr ? end_ : region->end();
  fast_end_ = annotate_ ? nullptr : region_end_ - (address(region_end_) & (kGranule - 1));
}

char* ArenaResource::region_begin() const noexcept {
  return region_ == nullptr ? begin_ : region_->data();
}

// Where the bump pointer goes after serving `bytes` at `p` in the region: the size rounded up
// to kGranule, or the region's end when the rounding does not fit.
char* ArenaResource::bump_end(char* p, std::size_t bytes) const noexcept {
  return p + std::min(round_to_granule(bytes), static_cast<std::size_t>(region_end_ - p));
}

const void* ArenaResource::region_pool() const noexcept {
  return region_ == nullptr ? static_cast<const void*>(this) : region_;
}

void* ArenaResource::allocate_slow(std::size_t bytes, std::size_t alignment) {
  if (!is_valid_alignment(alignment)) throw_bad_alignment(kName, alignment);
  // The fast path's test, for when it was bypassed (annotations) or the region is full.
  std::size_t room = static_cast<std::size_t>(region_end_ - cur_);
  std::size_t pad = padding(cur_, alignment);
  if (pad > room || bytes > room - pad) {
    // Spill. A request that would take more than half of the next chunk gets its own chunk, and
    // the region stays where it is; anything smaller starts a new region.
    const bool dedicated = bytes > next_chunk_size_ / 2;
    Chunk* chunk = take_chunk(bytes, alignment, dedicated);  // may throw: nothing has changed
    if (dedicated) {
      char* p = chunk->data() + padding(chunk->data(), alignment);
      if (annotate_) internal::pool_alloc(chunk, p, bytes);
      return p;
    }
    if (region_ == nullptr) {
      note_peak();
      block_cur_ = cur_;
    }
    chunk->prev_region = region_;
    chunk->prev_cur = cur_;
    enter_region(chunk, chunk->data());
    pad = padding(cur_, alignment);
  }
  char* p = cur_ + pad;
  cur_ = bump_end(p, bytes);
  // A 0-byte allocation is not reported: it shares its address with the next allocation, and
  // Memcheck takes two chunks at one address for a corrupt pool (and frees the wrong one).
  if (annotate_ && bytes != 0) internal::pool_alloc(region_pool(), p, bytes);
  return p;
}

ArenaResource::Chunk* ArenaResource::take_chunk(std::size_t bytes, std::size_t alignment,
                                                bool dedicated) {
  // The data after the header is kChunkAlignment-aligned; a larger alignment may need up to
  // alignment - kChunkAlignment bytes of padding.
  static_assert(sizeof(Chunk) <= kChunkHeader, "the chunk header outgrew its room");
  // Each term is checked against what is left of kMaxSize, so nothing can wrap whatever the
  // request (an alignment of 2^63 needs 2^63 - 16 bytes of padding on its own).
  const std::size_t worst_pad = alignment > kChunkAlignment ? alignment - kChunkAlignment : 0;
  if (worst_pad > kMaxSize - kChunkHeader || bytes > kMaxSize - kChunkHeader - worst_pad) {
    throw_allocation_error(kName, bytes, alignment,
                           bytes > kMaxSize ? kTooLarge
                                            : "the size with its alignment padding and a spill "
                                              "chunk's header exceeds PTRDIFF_MAX");
  }
  const std::size_t needed = kChunkHeader + worst_pad + bytes;
  const std::size_t size = dedicated ? needed : std::max(next_chunk_size_, needed);
  char* base = take_from_upstream(upstream_, size, kChunkAlignment, Request{bytes, alignment});
  Chunk* chunk = new (base) Chunk{chunk_, nullptr, nullptr, size, dedicated};
  chunk_ = chunk;
  update_quiet();
  ++overflow_count_;
  spill_bytes_ += size;
  if (!dedicated) next_chunk_size_ = std::min(next_chunk_size_ * 2, kMaxChunk);
  if (gauge_ != nullptr && !note_peak()) publish();  // the spill counters, once
  if (annotate_) {
    internal::pool_create(chunk);
    internal::poison(chunk->data(), size - kChunkHeader);
  }
  return chunk;
}

// Returns the newest chunk to the upstream; if it was the region, the previous region resumes
// where it stopped. Returns the size of a regular chunk, 0 for a dedicated one.
std::size_t ArenaResource::pop_chunk() noexcept {
  Chunk* c = chunk_;
  const std::size_t regular_size = c->dedicated ? 0 : c->size;
  chunk_ = c->prev;
  update_quiet();
  if (c == region_) {
    if (c->prev_region == nullptr) block_cur_ = c->prev_cur;
    enter_region(c->prev_region, c->prev_cur);
  }
  const std::size_t size = c->size;
  spill_bytes_ -= size;
  if (annotate_) {
    internal::pool_destroy(c);
    internal::unpoison(c, size);
  }
  upstream_->deallocate(c, size, kChunkAlignment);
  return regular_size;
}

void ArenaResource::do_deallocate(void* p, std::size_t bytes, std::size_t /*alignment*/) noexcept {
  char* c = static_cast<char*>(p);
  // Only the region's newest allocation (the bump pointer is where serving it left it), and
  // never below the newest marker's point.
  if (address(c) < address(floor_) || address(c) > address(cur_) ||
      bytes > static_cast<std::size_t>(cur_ - c) || bump_end(c, bytes) != cur_) {
    return;
  }
  if (region_ == nullptr) note_peak();
  if (annotate_ && bytes != 0) {  // 0-byte allocations are not reported (allocate_slow)
    internal::pool_free(region_pool(), c);
    internal::poison(c, bytes);
  }
  cur_ = c;
}

void* ArenaResource::allocate_aligned(std::size_t bytes, std::size_t alignment) {
  return allocate(bytes, alignment);
}

void ArenaResource::close_frame_slow(char* start, Chunk* chunk, const ArenaResource* arena,
                                     std::size_t outer, char* outer_floor) noexcept {
  // Nothing allocated and nothing given back inside the frame leaves nothing to fold into the
  // enclosing window, as on the inline path (close_frame()).
  const bool untouched = unchanged_since(start);
  // The floor was in the marker's region, where the rewind leaves the arena. A frame of another
  // arena stays another arena's: rewind_slow() refuses it.
  if (rewind_slow(Marker(start, chunk, arena))) floor_ = outer_floor;
  if (untouched) {
    high_ = outer;
  } else {
    close_window(outer);
  }
}

bool ArenaResource::rewind_slow(Marker m) noexcept {
  if (m.arena_ != this) {
    // Following it would free this arena's live spill chunks: a release build ignores the
    // call, a debug build says what happened.
    if (log_ == nullptr) return false;
    std::fprintf(stderr,
                 "corepy: fatal: %s::rewind: marker from another arena (a marker can only "
                 "rewind the arena whose mark() made it)\n",
                 kName);
    std::abort();
  }
  if (log_ != nullptr && !log_->on_rewind(m)) {
    std::fprintf(stderr,
                 "corepy: fatal: %s::rewind: the marker is no longer live (an earlier rewind to "
                 "an enclosing marker, or reset(), already freed its point)\n",
                 kName);
    std::abort();
  }
  const bool spilled = region_ != nullptr;
  std::size_t popped = 0;  // regular chunks' bytes
  while (chunk_ != m.chunk_ && chunk_ != nullptr) popped += pop_chunk();
  // Chunks are pushed and popped at the head only, so with the marker's newest chunk back at
  // the head, the region is the one the marker was taken in. (A release build's stale marker
  // may miss its chunk; then all spills are gone and the block stays where it is.)
  if (chunk_ == m.chunk_) rewind_region(m.cur_);
  if (spilled && region_ == nullptr) end_spill_round(popped);
  floor_ = cur_;
  if (gauge_ != nullptr) publish();
  return true;
}

void ArenaResource::rewind_region(char* to) noexcept {
  // A live marker is never above cur_ (see floor_); a stale one in a release build might be,
  // and may not move the cursor over memory it does not own.
  if (address(to) < address(region_begin()) || address(to) > address(cur_)) return;
  if (region_ == nullptr) note_peak();
  if (annotate_) {
    internal::pool_trim(region_pool(), region_begin(),
                        static_cast<std::size_t>(to - region_begin()));
    internal::poison(to, static_cast<std::size_t>(cur_ - to));
  }
  cur_ = to;
}

void ArenaResource::reset() noexcept {
  if (log_ != nullptr) log_->clear();
  const bool spilled = region_ != nullptr;
  std::size_t popped = 0;
  while (chunk_ != nullptr) popped += pop_chunk();
  if (spilled) end_spill_round(popped);
  rewind_region(begin_);
  floor_ = begin_;
  if (gauge_ != nullptr) publish();
}

// All regular chunks are gone: start the next round of spills with one chunk as large as this
// round took, so a steady workload makes one upstream call per round.
void ArenaResource::end_spill_round(std::size_t regular_bytes) noexcept {
  next_chunk_size_ = std::clamp(regular_bytes, first_chunk_size_, kMaxChunk);
}

bool ArenaResource::note_peak() noexcept {
  high_ = Counter::peak_of(high_, used());
  if (high_ <= peak_) return false;
  peak_ = high_;
  if (gauge_ == nullptr) return false;
  publish();  // as rewind_in_block() does when the peak rises
  return true;
}

bool ArenaResource::reserve(std::size_t capacity) {
  if (capacity <= this->capacity()) return true;
  if (used() != 0 || chunk_ != nullptr) return false;
  if (capacity > kMaxSize) throw_allocation_error(kName, capacity, kBlockAlignment, kTooLarge);
  replace_block(capacity);
  return true;
}

bool ArenaResource::shrink(std::size_t capacity) {
  if (capacity >= this->capacity()) return true;
  if (used() != 0 || chunk_ != nullptr || !owns_block_) return false;
  replace_block(capacity);
  return true;
}

// A new block of `capacity` bytes (not above kMaxSize) for an arena that holds nothing.
void ArenaResource::replace_block(std::size_t capacity) {
  char* block = capacity == 0
                    ? g_empty_block
                    : take_from_upstream(upstream_, capacity, kBlockAlignment,
                                         Request{capacity, kBlockAlignment});  // may throw
  if (annotate_) internal::unpoison(begin_, this->capacity());
  if (owns_block_) upstream_->deallocate(begin_, this->capacity(), kBlockAlignment);
  owns_block_ = capacity != 0;
  begin_ = block;
  end_ = block + capacity;
  block_cur_ = begin_;
  enter_region(nullptr, begin_);
  first_chunk_size_ = std::clamp(capacity, kMinChunk, kMaxChunk);
  next_chunk_size_ = first_chunk_size_;
  if (annotate_) internal::poison(begin_, capacity);
  if (log_ != nullptr) log_->clear();
  if (gauge_ != nullptr) publish();
}

ArenaStats ArenaResource::stats() const noexcept {
  return ArenaStats{used(), capacity(), std::max(peak_, used()), overflow_count_,
                    spill_bytes_.value};
}

void ArenaResource::set_gauge(ArenaGauge* gauge) noexcept {
  if (gauge_ != nullptr && gauge != gauge_) {
    for (std::atomic<std::size_t>* f : {&gauge_->capacity, &gauge_->used, &gauge_->peak,
                                        &gauge_->spill_chunks, &gauge_->spill_bytes}) {
      f->store(0, std::memory_order_relaxed);
    }
  }
  gauge_ = gauge;
  if (gauge_ != nullptr) publish();
}

void ArenaResource::publish() const noexcept {
  const ArenaStats s = stats();
  gauge_->capacity.store(s.capacity, std::memory_order_relaxed);
  gauge_->used.store(s.used, std::memory_order_relaxed);
  gauge_->peak.store(s.peak, std::memory_order_relaxed);
  gauge_->spill_chunks.store(s.overflow_count, std::memory_order_relaxed);
  gauge_->spill_bytes.store(s.overflow_bytes, std::memory_order_relaxed);
}

void ArenaResource::log_mark(char* cur, Chunk* chunk) const {
  const Marker m(cur, chunk, this);
#ifdef ABSL_HAVE_EXCEPTIONS
  try {
    log_->on_mark(m);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "corepy: fatal: %s::mark: out of memory for the debug marker log\n",
                 kName);
    std::abort();
  }
#else
  log_->on_mark(m);
#endif
}

}  // namespace corepy
