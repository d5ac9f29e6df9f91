#include "allocators/arena_resource.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <new>
#include <stdexcept>
#include <vector>

#include "allocators/allocation_error.h"
#include "allocators/internal/memory_annotations.h"

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define COREPY_EXCEPTIONS 1
#endif

namespace corepy {
namespace {

constexpr const char* kName = "corepy::ArenaResource";
// The own block starts on a cache line; spill chunks need only max_align_t from the upstream.
constexpr std::size_t kBlockAlignment = 64;
constexpr std::size_t kChunkAlignment = alignof(std::max_align_t);
// The chunk header is padded to this, so the first byte after it is max_align_t-aligned.
constexpr std::size_t kChunkHeader = 32;

// A zero-capacity arena bumps through this: a real address, so even a 0-byte request that the
// fast path serves returns a non-null pointer.
alignas(kBlockAlignment) char g_empty_block[1];

bool is_power_of_two(std::size_t n) { return n != 0 && (n & (n - 1)) == 0; }

std::uintptr_t address(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// Bytes to skip from `p` to the next multiple of `alignment` (a power of two).
std::size_t padding(const char* p, std::size_t alignment) {
  return (0 - address(p)) & (alignment - 1);
}

[[noreturn]] void fail_invalid_argument(const char* what) {
#if defined(COREPY_EXCEPTIONS)
  throw std::invalid_argument(std::string(kName) + ": " + what);
#else
  std::fprintf(stderr, "corepy: fatal: %s: %s\n", kName, what);
  std::abort();
#endif
}

// Asks the upstream for memory; any refusal (bad_alloc, or a null result from a resource that
// breaks the contract) becomes an AllocationError that names the arena and the request.
char* take_from_upstream(std::pmr::memory_resource* upstream, std::size_t bytes,
                         std::size_t alignment) {
  void* p = nullptr;
#if defined(COREPY_EXCEPTIONS)
  try {
    p = upstream->allocate(bytes, alignment);
  } catch (const std::bad_alloc&) {
    p = nullptr;
  }
#else
  p = upstream->allocate(bytes, alignment);
#endif
  if (p == nullptr) throw_allocation_error(kName, bytes, alignment, "the upstream refused");
  return static_cast<char*>(p);
}

}  // namespace

struct ArenaResource::Chunk {
  Chunk* prev;            // the chunk taken before this one
  std::size_t size;       // bytes taken from the upstream, this header included
  char* data() { return reinterpret_cast<char*>(this) + kChunkHeader; }
  char* end() { return reinterpret_cast<char*>(this) + size; }
};
static_assert(sizeof(void*) + sizeof(std::size_t) <= kChunkHeader, "chunk header too small");

// Debug builds' record of live markers: a stack, since markers nest. Rewinding to a marker pops
// every marker above it; a marker that is not on the stack has been ended by an earlier rewind.
class ArenaResource::MarkerLog {
 public:
  std::uint64_t on_mark(const Marker& m) {
    if (!live_.empty()) {
      const Record& top = live_.back();
      if (top.block == m.block_ && top.chunk == m.chunk_ && top.chunk_cur == m.chunk_cur_) {
        return top.serial;  // same point: the same marker
      }
    }
    live_.push_back({++last_serial_, m.block_, m.chunk_, m.chunk_cur_});
    return last_serial_;
  }
  bool on_rewind(std::uint64_t serial) {
    for (std::size_t i = live_.size(); i-- > 0;) {
      if (live_[i].serial == serial) {
        live_.resize(i + 1);
        return true;
      }
    }
    return false;
  }
  void clear() { live_.clear(); }

 private:
  struct Record {
    std::uint64_t serial;
    char* block;
    Chunk* chunk;
    char* chunk_cur;
  };
  std::vector<Record> live_;
  std::uint64_t last_serial_ = 0;
};

ArenaResource::ArenaResource(std::size_t capacity, std::pmr::memory_resource* upstream)
    : upstream_(upstream), owns_block_(capacity != 0) {
  if (upstream == nullptr) fail_invalid_argument("the upstream resource is null");
  begin_ = capacity != 0 ? take_from_upstream(upstream, capacity, kBlockAlignment)
                         : g_empty_block;
  end_ = begin_ + capacity;
  init_block();
}

ArenaResource::ArenaResource(void* buffer, std::size_t size, std::pmr::memory_resource* upstream)
    : upstream_(upstream), owns_block_(false) {
  if (upstream == nullptr) fail_invalid_argument("the upstream resource is null");
  if (buffer == nullptr && size != 0) fail_invalid_argument("the buffer is null but its size is not 0");
  begin_ = buffer != nullptr ? static_cast<char*>(buffer) : g_empty_block;
  end_ = begin_ + size;
  init_block();
}

void ArenaResource::init_block() {
  cur_ = begin_;
  floor_ = begin_;
  next_chunk_size_ = std::clamp(capacity(), kMinChunk, kMaxChunk);
  annotate_ = internal::kAsan || internal::running_on_valgrind();
  fast_end_ = annotate_ ? nullptr : end_;
  if (annotate_) {
    internal::pool_create(this);
    internal::poison(begin_, capacity());
  }
#ifndef NDEBUG
  log_ = new MarkerLog;
#endif
}

ArenaResource::~ArenaResource() {
  while (chunk_ != nullptr) pop_chunk();
  if (annotate_) {
    internal::pool_destroy(this);
    internal::unpoison(begin_, capacity());
  }
  if (owns_block_) upstream_->deallocate(begin_, capacity(), kBlockAlignment);
  delete log_;
}

void* ArenaResource::allocate_slow(std::size_t bytes, std::size_t alignment) {
  if (!is_power_of_two(alignment)) throw_bad_alignment(kName, alignment);
  if (void* p = allocate_in_block(bytes, alignment)) return p;
  return allocate_spill(bytes, alignment);
}

// The fast path's work, for when it was bypassed (annotations) or could not tell.
void* ArenaResource::allocate_in_block(std::size_t bytes, std::size_t alignment) {
  const std::size_t room = static_cast<std::size_t>(end_ - cur_);
  const std::size_t pad = padding(cur_, alignment);
  if (pad > room || bytes > room - pad) return nullptr;
  char* p = cur_ + pad;
  cur_ = p + bytes;
  if (annotate_) internal::pool_alloc(this, p, bytes);
  return p;
}

void* ArenaResource::allocate_spill(std::size_t bytes, std::size_t alignment) {
  if (chunk_ == nullptr ||
      padding(chunk_cur_, alignment) > static_cast<std::size_t>(chunk_end_ - chunk_cur_) ||
      bytes > static_cast<std::size_t>(chunk_end_ - chunk_cur_) - padding(chunk_cur_, alignment)) {
    push_chunk(bytes, alignment);
  }
  char* p = chunk_cur_ + padding(chunk_cur_, alignment);
  chunk_cur_ = p + bytes;
  ++overflow_count_;
  if (annotate_) internal::pool_alloc(chunk_, p, bytes);
  return p;
}

void ArenaResource::push_chunk(std::size_t bytes, std::size_t alignment) {
  // The data after the header is kChunkAlignment-aligned; a larger alignment may need up to
  // alignment - kChunkAlignment bytes of padding.
  const std::size_t worst_pad = alignment > kChunkAlignment ? alignment - kChunkAlignment : 0;
  if (bytes > std::numeric_limits<std::size_t>::max() - kChunkHeader - worst_pad) {
    throw_allocation_error(kName, bytes, alignment, "the size overflows");
  }
  const std::size_t size = std::max(next_chunk_size_, kChunkHeader + worst_pad + bytes);
  char* base = take_from_upstream(upstream_, size, kChunkAlignment);  // may throw: nothing changed
  chunk_ = new (base) Chunk{chunk_, size};
  chunk_cur_ = chunk_->data();
  chunk_end_ = chunk_->end();
  overflow_bytes_ += size;
  next_chunk_size_ = std::min(next_chunk_size_ * 2, kMaxChunk);
  if (annotate_) {
    internal::pool_create(chunk_);
    internal::poison(chunk_cur_, size - kChunkHeader);
  }
}

void ArenaResource::pop_chunk() noexcept {
  Chunk* c = chunk_;
  chunk_ = c->prev;
  const std::size_t size = c->size;
  overflow_bytes_ -= size;
  if (annotate_) {
    internal::pool_destroy(c);
    internal::unpoison(c, size);
  }
  upstream_->deallocate(c, size, kChunkAlignment);
  if (chunk_ != nullptr) {
    chunk_cur_ = chunk_end_ = chunk_->end();  // the caller sets the real cursor
  } else {
    chunk_cur_ = chunk_end_ = nullptr;
  }
}

void ArenaResource::do_deallocate(void* p, std::size_t bytes, std::size_t /*alignment*/) noexcept {
  char* c = static_cast<char*>(p);
  // Only the block's newest allocation, and never below the newest marker's point.
  if (address(c) + bytes == address(cur_) && address(c) >= address(floor_) &&
      address(c) >= address(begin_)) {
    note_peak();
    if (annotate_) {
      internal::pool_free(this, c);
      internal::poison(c, bytes);
    }
    cur_ = c;
  }
}

void ArenaResource::rewind(const Marker& m) noexcept {
  if (log_ != nullptr && !log_->on_rewind(m.serial_)) {
    std::fprintf(stderr,
                 "corepy: fatal: %s::rewind: the marker is no longer live (an earlier rewind to "
                 "an enclosing marker, or reset(), already freed its point)\n",
                 kName);
    std::abort();
  }
  // Spills: return every chunk taken after the marker, then restore the marker's chunk cursor.
  while (chunk_ != m.chunk_ && chunk_ != nullptr) pop_chunk();
  if (chunk_ != nullptr && chunk_ == m.chunk_ && m.chunk_cur_ < chunk_cur_) {
    rewind_chunk(m.chunk_cur_);
  }
  rewind_block(m.block_);
}

void ArenaResource::rewind_chunk(char* to) noexcept {
  if (annotate_) {
    internal::pool_trim(chunk_, chunk_->data(), static_cast<std::size_t>(to - chunk_->data()));
    internal::poison(to, static_cast<std::size_t>(chunk_end_ - to));
  }
  chunk_cur_ = to;
}

void ArenaResource::rewind_block(char* to) noexcept {
  // A live marker is never above cur_ (see floor_); a stale one in a release build might be,
  // and is not allowed to move the cursor forward over memory it does not own.
  if (address(to) < address(begin_) || address(to) > address(cur_)) return;
  note_peak();
  if (annotate_) {
    internal::pool_trim(this, begin_, static_cast<std::size_t>(to - begin_));
    internal::poison(to, static_cast<std::size_t>(cur_ - to));
  }
  cur_ = to;
  floor_ = to;
}

void ArenaResource::reset() noexcept {
  while (chunk_ != nullptr) pop_chunk();
  rewind_block(begin_);
  if (log_ != nullptr) log_->clear();
}

void ArenaResource::note_peak() noexcept { peak_ = std::max(peak_, used()); }

ArenaStats ArenaResource::stats() const noexcept {
  return ArenaStats{used(), capacity(), std::max(peak_, used()), overflow_count_,
                    overflow_bytes_};
}

std::uint64_t ArenaResource::log_mark(const Marker& m) const {
#if defined(COREPY_EXCEPTIONS)
  try {
    return log_->on_mark(m);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "corepy: fatal: %s::mark: out of memory for the debug marker log\n",
                 kName);
    std::abort();
  }
#else
  return log_->on_mark(m);
#endif
}

}  // namespace corepy
