// TraceResource: records every allocate and deallocate through it, and the scopes around them,
// into an allocation trace file (format: allocators/trace_format.h), for tools/replay and
// tools/timeline. Configuration names it `trace(x, file=PATH)`; COREPY_TRACE=PATH wraps
// whatever is configured (corepy/config.h).
//
//   absl::StatusOr<std::shared_ptr<corepy::TraceFile>> file = corepy::TraceFile::open("a.trace");
//   corepy::TraceResource traced(*file, upstream);  // allocations go to upstream, and the file
//
// TraceFile
//   One open trace file, shared by every resource and thread that writes to it. open() refuses
//   a path it cannot create, naming the path and the OS error. Each thread writes its records
//   into a buffer of its own (8192 records, 192 KiB, made at its first event; no lock) and, when
//   that is full or the thread exits, appends it to the file with one atomic add (its place) and
//   one pwrite: no lock is shared between threads in corepy (the kernel serializes writes to one
//   file on its inode lock, once per chunk). An event after the thread's buffer was written at
//   its exit (a later thread_local's destructor) is written on its own. What a thread still
//   running when the process exits has buffered is lost; the main thread's buffer is written at
//   exit. A write that fails (a full disk) prints one line on stderr and stops the tracing; the
//   program goes on.
//
// Scope events: corepy's scopes (corepy/dispatch.h, corepy/arena.h) call trace_scope() when
// the thread's configuration traces; allocation events between them carry the op's name.
#ifndef COREPY_ALLOCATORS_TRACE_RESOURCE_H_
#define COREPY_ALLOCATORS_TRACE_RESOURCE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "allocators/arena_resource.h"
#include "allocators/trace_format.h"
#include "corepy/internal/require_cxx17.h"

namespace corepy {

struct ThreadTraceBuffer;

class TraceFile : public std::enable_shared_from_this<TraceFile> {
 public:
  // Opens (creating or truncating) `path` and writes the header; `op_names` are the names
  // records' op field refers to. The same path opened again while its TraceFile lives returns
  // that TraceFile (each thread's chain of resources opens it).
  static absl::StatusOr<std::shared_ptr<TraceFile>> open(const std::string& path,
                                                         const std::vector<std::string>& op_names);
  TraceFile(const TraceFile&) = delete;
  TraceFile& operator=(const TraceFile&) = delete;
  ~TraceFile();

  const std::string& path() const { return path_; }
  // Whether a write failed and tracing stopped.
  bool failed() const { return failed_.load(std::memory_order_relaxed); }

  // Records one event on the calling thread. `op` 0 is none.
  void record(trace_format::Kind kind, std::uint32_t op, std::uint64_t size, std::size_t alignment,
              const void* address);
  // The calling thread's buffer, written to the file now.
  void flush_thread();

 private:
  friend struct ThreadTraceBuffer;
  TraceFile(std::string path, int fd, std::uint64_t header_size);
  void append(const void* data, std::size_t bytes);
  // The calling thread's buffer, made or switched to this file (null after the thread's exit).
  ThreadTraceBuffer* attach_thread();
  void record_after_exit(trace_format::Kind kind, std::uint64_t size, std::size_t alignment,
                         const void* address);
  std::uint64_t now() const;

  const std::string path_;
  const int fd_;
  std::atomic<std::uint64_t> end_;  // where the next chunk goes
  std::atomic<std::uint32_t> next_thread_{0};
  std::atomic<bool> failed_{false};
  std::uint64_t start_ticks_;
};

// Scope events of the calling thread into `file` (corepy's scopes call these; `op` 0 is none).
void trace_scope(TraceFile* file, std::uint32_t op, bool open);

class TraceResource final : public std::pmr::memory_resource {
 public:
  TraceResource(std::shared_ptr<TraceFile> file, std::pmr::memory_resource* upstream);
  TraceFile& file() const { return *file_; }
  std::pmr::memory_resource* upstream() const { return upstream_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  std::shared_ptr<TraceFile> file_;
  std::pmr::memory_resource* upstream_;
  // upstream_ when it is an arena (trace(arena), the usual chain): its inline bump is then called
  // directly, not through a second virtual call.
  ArenaResource* arena_;
};

}  // namespace corepy

#endif  // COREPY_ALLOCATORS_TRACE_RESOURCE_H_
