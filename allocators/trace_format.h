// The allocation trace's file format (version 1), written by TraceResource
// (allocators/trace_resource.h) and read by read_trace() (allocators/trace_reader.h).
//
// All integers little-endian.
//
//   header   "CPYTRACE"                 8 bytes, the magic
//            u32 version                1
//            u32 record_size            24
//            u64 ticks_per_second       the clock of the records' times
//            u32 op_count               names that follow, for records' op field 1..op_count
//            op_count x (u8 length, that many bytes of name)
//   records  24 bytes each, to the end of the file:
//            u64 w0   bits 0-47 time in ticks since the trace began; 48-63 thread (0, 1, ...
//                     in order of each thread's first event; wraps past 65535 threads)
//            u64 w1   address (allocate, deallocate), 0 for scope events
//            u64 w2   bits 0-47 size in bytes (scope events: 0); 48-55 op (0: none, i: the
//                     i-th name); 56-57 kind (0 allocate, 1 deallocate, 2 scope open,
//                     3 scope close); 58-63 log2 of the alignment
//
// Threads write their records in chunks, each chunk in the thread's order; chunks of different
// threads interleave, so a reader sorts by time when it needs one order for all.
#ifndef COREPY_ALLOCATORS_TRACE_FORMAT_H_
#define COREPY_ALLOCATORS_TRACE_FORMAT_H_

#include <cstddef>
#include <cstdint>

#include "corepy/internal/require_cxx17.h"

namespace corepy::trace_format {

inline constexpr char kMagic[8] = {'C', 'P', 'Y', 'T', 'R', 'A', 'C', 'E'};
inline constexpr std::uint32_t kVersion = 1;
inline constexpr std::size_t kRecordSize = 24;
inline constexpr std::size_t kFixedHeaderSize = 8 + 4 + 4 + 8 + 4;
inline constexpr std::uint64_t kMaxTime = (std::uint64_t{1} << 48) - 1;
inline constexpr std::uint64_t kMaxSize = (std::uint64_t{1} << 48) - 1;

enum class Kind : std::uint8_t { kAllocate = 0, kDeallocate = 1, kScopeOpen = 2, kScopeClose = 3 };

struct Event {
  std::uint64_t time;  // ticks since the trace began
  std::uint32_t thread;
  std::uint64_t address;
  std::uint64_t size;
  std::uint32_t op;  // 0: none; i: op_names[i - 1]
  Kind kind;
  std::size_t alignment;
};

inline void encode(const Event& e, std::uint64_t w[3]) noexcept {
  // Alignments are powers of two (memory_resource refuses others before this is reached).
  const unsigned log2_align =
      e.alignment == 0 ? 0u : static_cast<unsigned>(__builtin_ctzll(e.alignment)) & 63u;
  w[0] = (e.time & kMaxTime) | (std::uint64_t{e.thread & 0xffff} << 48);
  w[1] = e.address;
  w[2] = (e.size & kMaxSize) | (std::uint64_t{e.op & 0xff} << 48) |
         (std::uint64_t{static_cast<std::uint8_t>(e.kind)} << 56) |
         (std::uint64_t{log2_align} << 58);
}

inline Event decode(const std::uint64_t w[3]) noexcept {
  Event e;
  e.time = w[0] & kMaxTime;
  e.thread = static_cast<std::uint32_t>(w[0] >> 48);
  e.address = w[1];
  e.size = w[2] & kMaxSize;
  e.op = static_cast<std::uint32_t>((w[2] >> 48) & 0xff);
  e.kind = static_cast<Kind>((w[2] >> 56) & 3);
  e.alignment = std::size_t{1} << (w[2] >> 58);
  return e;
}

}  // namespace corepy::trace_format

#endif  // COREPY_ALLOCATORS_TRACE_FORMAT_H_
