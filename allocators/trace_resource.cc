#include "allocators/trace_resource.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define COREPY_TRACE_HAVE_RDTSC 1
#endif

namespace corepy {
namespace {

using trace_format::Kind;

std::uint64_t ticks() {
#ifdef COREPY_TRACE_HAVE_RDTSC
  return __rdtsc();
#else
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
#endif
}

// The tick rate, measured once against steady_clock over 20 ms.
std::uint64_t ticks_per_second() {
  static const std::uint64_t rate = [] {
#ifdef COREPY_TRACE_HAVE_RDTSC
    const auto t0 = std::chrono::steady_clock::now();
    const std::uint64_t c0 = ticks();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const std::uint64_t c1 = ticks();
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    return ns > 0 ? static_cast<std::uint64_t>((c1 - c0) * 1e9 / static_cast<double>(ns)) : 1;
#else
    return std::uint64_t{1000000000};
#endif
  }();
  return rate;
}

// A thread's records go to the file in chunks of this many: 192 KiB (48 pages), one pwrite per
// 8192 events. The kernel's part per chunk (the syscall, the file's inode lock, which every
// thread's write takes) is then spread over 8 times more events than with 24 KiB chunks; its
// part per byte (page cache pages, the copy) does not change with the chunk size.
constexpr std::size_t kBufferRecords = 8192;
constexpr unsigned kMaxDepth = 64;  // scopes whose op a thread remembers

template <class T>
void put(std::string& out, T v) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));
  out.append(bytes, sizeof(T));
}

std::mutex& open_files_mutex() {
  static std::mutex* m = new std::mutex;
  return *m;
}
std::map<std::string, std::weak_ptr<TraceFile>>& open_files() {
  static auto* files = new std::map<std::string, std::weak_ptr<TraceFile>>;
  return *files;
}

}  // namespace

// The calling thread's records for one file, and the ops of its open scopes.
struct ThreadTraceBuffer {
  std::shared_ptr<TraceFile> file;
  std::uint32_t thread = 0;
  // The file's writes failed (seen at this thread's last flush): events are no longer kept.
  bool stopped = false;
  unsigned depth = 0;
  std::uint32_t ops[kMaxDepth] = {};
  std::size_t n = 0;
  std::unique_ptr<std::uint64_t[]> words{new std::uint64_t[kBufferRecords * 3]};

  ~ThreadTraceBuffer() { flush(); }
  void flush() {
    if (n != 0 && file != nullptr) file->append(words.get(), n * trace_format::kRecordSize);
    n = 0;
    stopped = file != nullptr && file->failed();
  }
  std::uint32_t op() const { return depth == 0 ? 0 : ops[std::min(depth, kMaxDepth) - 1]; }
};

namespace {

// The fast path reads a plain pointer: a thread_local with no constructor or destructor needs
// no initialization guard. The buffer is made on the thread's first event (threads that never
// trace carry a null pointer) and owned by t_owner, whose destructor writes it at thread exit.
thread_local ThreadTraceBuffer* t_buffer = nullptr;
// Set once t_owner is destroyed: an event after that (a thread_local destroyed later that
// deallocates through a trace) is written on its own, not into a buffer nobody would write.
// Such an event keeps the thread's number in the file it traced to last.
thread_local bool t_exited = false;
thread_local const TraceFile* t_exited_file = nullptr;  // compared, never dereferenced
thread_local std::uint32_t t_exited_thread = 0;

struct BufferOwner {
  std::unique_ptr<ThreadTraceBuffer> buffer;
  ~BufferOwner() {
    t_buffer = nullptr;
    t_exited = true;
    if (buffer != nullptr) {
      t_exited_file = buffer->file.get();
      t_exited_thread = buffer->thread;
    }
    buffer.reset();  // writes what it holds
  }
};
thread_local BufferOwner t_owner;

}  // namespace

absl::StatusOr<std::shared_ptr<TraceFile>> TraceFile::open(
    const std::string& path, const std::vector<std::string>& op_names) {
  std::lock_guard<std::mutex> lock(open_files_mutex());
  if (std::shared_ptr<TraceFile> f = open_files()[path].lock()) return f;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int error = errno;
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open trace file \"", path, "\" for writing: ", std::strerror(error)));
  }
  std::string header(trace_format::kMagic, sizeof trace_format::kMagic);
  put(header, trace_format::kVersion);
  put(header, static_cast<std::uint32_t>(trace_format::kRecordSize));
  put(header, ticks_per_second());
  put(header, static_cast<std::uint32_t>(op_names.size()));
  for (const std::string& name : op_names) {
    const std::size_t len = std::min<std::size_t>(name.size(), 255);
    header.push_back(static_cast<char>(len));
    header.append(name, 0, len);
  }
  if (::pwrite(fd, header.data(), header.size(), 0) != static_cast<ssize_t>(header.size())) {
    const int error = errno;
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("cannot write trace file \"", path, "\": ", std::strerror(error)));
  }
  std::shared_ptr<TraceFile> f(new TraceFile(path, fd, header.size()));
  open_files()[path] = f;
  return f;
}

TraceFile::TraceFile(std::string path, int fd, std::uint64_t header_size)
    : path_(std::move(path)), fd_(fd), end_(header_size), start_ticks_(ticks()) {}

TraceFile::~TraceFile() {
  ::close(fd_);
  std::lock_guard<std::mutex> lock(open_files_mutex());
  auto it = open_files().find(path_);
  if (it != open_files().end() && it->second.expired()) open_files().erase(it);
}

std::uint64_t TraceFile::now() const { return ticks() - start_ticks_; }

void TraceFile::append(const void* data, std::size_t bytes) {
  if (failed()) return;
  const std::uint64_t at = end_.fetch_add(bytes, std::memory_order_relaxed);
  const char* p = static_cast<const char*>(data);
  std::size_t done = 0;
  while (done < bytes) {
    const ssize_t w = ::pwrite(fd_, p + done, bytes - done, static_cast<off_t>(at + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int error = w < 0 ? errno : ENOSPC;
      if (!failed_.exchange(true)) {
        std::fprintf(stderr, "corepy: trace \"%s\": write failed (%s); tracing stopped\n",
                     path_.c_str(), std::strerror(error));
      }
      return;
    }
    done += static_cast<std::size_t>(w);
  }
}

ThreadTraceBuffer* TraceFile::attach_thread() {
  ThreadTraceBuffer* b = t_buffer;
  if (b == nullptr) {
    if (t_exited) return nullptr;
    t_owner.buffer = std::make_unique<ThreadTraceBuffer>();
    b = t_buffer = t_owner.buffer.get();
  }
  b->flush();  // the records of the file this thread wrote to before
  b->file = shared_from_this();
  b->thread = next_thread_.fetch_add(1, std::memory_order_relaxed);
  b->depth = 0;
  b->stopped = failed();
  return b;
}

void TraceFile::record_after_exit(Kind kind, std::uint64_t size, std::size_t alignment,
                                  const void* address) {
  if (failed()) return;
  if (t_exited_file != this) {
    t_exited_file = this;
    t_exited_thread = next_thread_.fetch_add(1, std::memory_order_relaxed);
  }
  std::uint64_t words[3];
  trace_format::encode(
      {now(), t_exited_thread, reinterpret_cast<std::uintptr_t>(address), size, 0, kind, alignment},
      words);
  append(words, sizeof words);
}

void TraceFile::record(Kind kind, std::uint32_t op, std::uint64_t size, std::size_t alignment,
                       const void* address) {
  ThreadTraceBuffer* b = t_buffer;
  if (ABSL_PREDICT_FALSE(b == nullptr || b->file.get() != this)) {
    b = attach_thread();
    if (b == nullptr) return record_after_exit(kind, size, alignment, address);
  }
  if (ABSL_PREDICT_FALSE(b->stopped)) return;
  if (kind == Kind::kScopeOpen) {
    if (b->depth < kMaxDepth) b->ops[b->depth] = op;
    ++b->depth;
  } else if (kind == Kind::kScopeClose) {
    op = b->op();
    if (b->depth != 0) --b->depth;
  } else {
    op = b->op();
  }
  trace_format::Event e{now(), b->thread, reinterpret_cast<std::uintptr_t>(address), size, op,
                        kind,  alignment};
  trace_format::encode(e, &b->words[b->n * 3]);
  if (++b->n == kBufferRecords) b->flush();
}

void TraceFile::flush_thread() {
  ThreadTraceBuffer* b = t_buffer;
  if (b != nullptr && b->file.get() == this) b->flush();
}

void trace_scope(TraceFile* file, std::uint32_t op, bool open) {
  file->record(open ? Kind::kScopeOpen : Kind::kScopeClose, op, 0, 1, nullptr);
}

TraceResource::TraceResource(std::shared_ptr<TraceFile> file, std::pmr::memory_resource* upstream)
    : file_(std::move(file)), upstream_(upstream), arena_(dynamic_cast<ArenaResource*>(upstream)) {}

void* TraceResource::do_allocate(std::size_t bytes, std::size_t alignment) {
  void* p = arena_ != nullptr ? arena_->allocate(bytes, alignment)
                              : upstream_->allocate(bytes, alignment);
  file_->record(Kind::kAllocate, 0, bytes, alignment, p);
  return p;
}

void TraceResource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment) {
  file_->record(Kind::kDeallocate, 0, bytes, alignment, p);
  if (arena_ != nullptr) {
    arena_->deallocate(p, bytes, alignment);
  } else {
    upstream_->deallocate(p, bytes, alignment);
  }
}

}  // namespace corepy
