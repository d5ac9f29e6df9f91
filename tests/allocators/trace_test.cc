// The allocation trace: what TraceResource writes, what the reader gives back, a trace from the
// runtime (trace(x, file=PATH) and scopes with op names), a path that cannot be written, a write
// that fails midway, and truncated or corrupted files.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "allocators/trace_reader.h"
#include "allocators/trace_resource.h"
#include "corepy/config.h"
#include "corepy/dispatch.h"
#include "gtest/gtest.h"

namespace corepy {
namespace {

using trace_format::Kind;

std::string temp_path(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

// The runtime's configuration with every thread's arena traced to `path`.
Options tracing_to(const std::string& path) {
  Options o;
  o.allocator = "trace(arena, file=" + path + ")";
  return o;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(TraceTest, EveryEventComesBackWithItsSizeAlignmentAddressAndOp) {
  const std::string path = temp_path("round_trip.trace");
  {
    absl::StatusOr<std::shared_ptr<TraceFile>> file = TraceFile::open(path, {"sum", "mean"});
    ASSERT_TRUE(file.ok()) << file.status();
    TraceResource traced(*file, std::pmr::new_delete_resource());
    trace_scope(file->get(), 2, true);
    void* p = traced.allocate(100, 64);
    void* q = traced.allocate(8, 8);
    traced.deallocate(q, 8, 8);
    trace_scope(file->get(), 2, false);
    traced.deallocate(p, 100, 64);
    (*file)->flush_thread();
    absl::StatusOr<Trace> t = read_trace(path);
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_EQ(t->events.size(), 6u);
    EXPECT_EQ(t->op_names, (std::vector<std::string>{"sum", "mean"}));
    const auto& e = t->events;
    EXPECT_EQ(e[0].kind, Kind::kScopeOpen);
    EXPECT_EQ(t->op_name(e[0].op), "mean");
    EXPECT_EQ(e[1].kind, Kind::kAllocate);
    EXPECT_EQ(e[1].size, 100u);
    EXPECT_EQ(e[1].alignment, 64u);
    EXPECT_EQ(e[1].address, reinterpret_cast<std::uintptr_t>(p));
    EXPECT_EQ(t->op_name(e[1].op), "mean");  // inside the scope
    EXPECT_EQ(e[3].kind, Kind::kDeallocate);
    EXPECT_EQ(e[3].address, reinterpret_cast<std::uintptr_t>(q));
    EXPECT_EQ(e[4].kind, Kind::kScopeClose);
    EXPECT_EQ(t->op_name(e[5].op), "none");  // after it
    for (std::size_t i = 1; i < e.size(); ++i) EXPECT_GE(e[i].time, e[i - 1].time);
    EXPECT_EQ(t->threads, 1u);
  }
}

TEST(TraceTest, ATruncatedOrCorruptedFileIsAClearErrorNeverACrash) {
  const std::string path = temp_path("corrupt.trace");
  {
    absl::StatusOr<std::shared_ptr<TraceFile>> file = TraceFile::open(path, {"sum"});
    ASSERT_TRUE(file.ok());
    TraceResource traced(*file, std::pmr::new_delete_resource());
    traced.deallocate(traced.allocate(32, 16), 32, 16);
    (*file)->flush_thread();
  }
  const std::string good = file_bytes(path);
  ASSERT_TRUE(parse_trace(good).ok());
  const std::size_t header = good.size() - 2 * 24;  // two records: allocate, deallocate
  for (std::size_t n = 0; n < good.size(); ++n) {   // every truncation
    const absl::StatusOr<Trace> t = parse_trace(good.substr(0, n));
    const bool whole = n >= header && (n - header) % 24 == 0;  // whole records are a trace
    EXPECT_EQ(t.ok(), whole) << n;
  }
  EXPECT_NE(parse_trace(good.substr(0, good.size() - 5)).status().message().find("truncated"),
            std::string::npos);
  EXPECT_NE(parse_trace("GIF89a").status().message().find("CPYTRACE"), std::string::npos);
  std::string bad_version = good;
  bad_version[8] = 7;
  EXPECT_NE(parse_trace(bad_version).status().message().find("version 7"), std::string::npos);
  std::string bad_op = good;
  bad_op[bad_op.size() - 24 + 16 + 6] = 9;  // the last record's op byte: past the one name
  EXPECT_NE(parse_trace(bad_op).status().message().find("op 9"), std::string::npos);
  EXPECT_FALSE(read_trace(temp_path("no_such.trace")).ok());
}

TEST(TraceTest, AnUnwritablePathIsRefusedByConfigureWithThePathAndTheOsError) {
  const Settings before = settings();
  Options o;
  o.allocator = "trace(arena, file=/nonexistent-dir/x.trace)";
  const absl::Status s = configure(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/nonexistent-dir/x.trace"), std::string::npos) << s;
  EXPECT_NE(s.message().find("No such file or directory"), std::string::npos) << s;
  EXPECT_EQ(settings().allocator, before.allocator);
  o.allocator = "trace(arena)";
  EXPECT_NE(configure(o).message().find("needs file="), std::string::npos);
}

TEST(TraceTest, TheRuntimeTracesScopesWithOpNamesAndTheirAllocationsOnEveryThread) {
  const std::string path = temp_path("runtime.trace");
  ASSERT_TRUE(configure(tracing_to(path)).ok());
  std::vector<float> x(5000, 1.0f);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&x] {
      for (int r = 0; r < 10; ++r) (void)sum_f32_compensated_cpu_dispatch(x.data(), x.size());
    });
  }
  for (std::thread& t : threads) t.join();  // each thread's buffer is written at its exit
  reset_configuration();
  absl::StatusOr<Trace> t = read_trace(path);
  ASSERT_TRUE(t.ok()) << t.status();
  std::set<std::uint32_t> threads_seen;
  std::size_t opens = 0, allocations = 0;
  for (const trace_format::Event& e : t->events) {
    threads_seen.insert(e.thread);
    if (e.kind == Kind::kScopeOpen) {
      ++opens;
      EXPECT_EQ(t->op_name(e.op), "sum_f32_compensated");
    }
    if (e.kind == Kind::kAllocate) {
      ++allocations;
      EXPECT_EQ(t->op_name(e.op), "sum_f32_compensated");
    }
  }
  EXPECT_EQ(threads_seen.size(), 3u);
  EXPECT_EQ(opens, 30u);
  EXPECT_GE(allocations, 30u);
}

// An op whose serial kernel takes no scratch (sum_f32) runs without a scope while nothing is out
// of the ordinary (corepy/dispatch.cc); tracing is not ordinary: each of its calls still shows as
// a scope of its own, opened and closed, with no allocation.
TEST(TraceTest, AnOpThatTakesNoScratchIsStillTracedAsAScope) {
  const std::string path = temp_path("scratch_free.trace");
  ASSERT_TRUE(configure(tracing_to(path)).ok());
  std::vector<float> x(1000, 1.0f);
  std::thread([&x] {
    for (int r = 0; r < 7; ++r) EXPECT_EQ(sum_f32_cpu_dispatch(x.data(), x.size()), 1000.0f);
  }).join();
  reset_configuration();
  absl::StatusOr<Trace> t = read_trace(path);
  ASSERT_TRUE(t.ok()) << t.status();
  std::size_t opens = 0, closes = 0, allocations = 0;
  for (const trace_format::Event& e : t->events) {
    if (e.kind == Kind::kScopeOpen) {
      ++opens;
      EXPECT_EQ(t->op_name(e.op), "sum_f32");
    }
    if (e.kind == Kind::kScopeClose) ++closes;
    if (e.kind == Kind::kAllocate) ++allocations;
  }
  EXPECT_EQ(opens, 7u);
  EXPECT_EQ(closes, 7u);
  EXPECT_EQ(allocations, 0u);
}

// The stress test's shape with tracing on (also run under TSan): 32 threads, each writing more
// events than one chunk holds, so chunks of different threads interleave in the file. Every
// event comes back, each thread's in its order, with the size and alignment it was made with.
TEST(TraceTest, ThirtyTwoThreadsTraceEveryEventAcrossChunks) {
  const std::string path = temp_path("threads32.trace");
  Options o = tracing_to(path);
  o.arena_size = std::size_t{64} << 10;
  ASSERT_TRUE(configure(o).ok());
  constexpr int kThreads = 32;
  constexpr int kScopes = 1000;  // 10 events each: 10000 events a thread, past a 8192-record chunk
  constexpr int kAllocations = 8;
  auto size_of = [](int i) { return static_cast<std::size_t>((i * 37) % 3000 + 1); };
  auto alignment_of = [](int i) { return std::size_t{1} << (i % 7); };
  std::vector<std::thread> threads;
  for (int k = 0; k < kThreads; ++k) {
    threads.emplace_back([&] {
      for (int s = 0; s < kScopes; ++s) {
        OpScope scope(Op::kSumF32);
        for (int a = 0; a < kAllocations; ++a) {
          const int i = s * kAllocations + a;
          (void)scope.resource()->allocate(size_of(i), alignment_of(i));
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  reset_configuration();
  absl::StatusOr<Trace> t = read_trace(path);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->events.size(), std::size_t{kThreads} * kScopes * (2 + kAllocations));
  std::vector<std::vector<const trace_format::Event*>> by_thread(t->threads);
  for (const trace_format::Event& e : t->events) by_thread.at(e.thread).push_back(&e);
  std::size_t seen = 0;
  for (const auto& events : by_thread) {
    if (events.empty()) continue;
    ++seen;
    ASSERT_EQ(events.size(), std::size_t{kScopes} * (2 + kAllocations));
    for (std::size_t j = 0; j < events.size(); ++j) {
      const trace_format::Event& e = *events[j];
      if (j > 0) {
        ASSERT_GE(e.time, events[j - 1]->time) << j;
      }
      EXPECT_EQ(t->op_name(e.op), "sum_f32");
      const std::size_t in_scope = j % (2 + kAllocations);
      if (in_scope == 0) {
        ASSERT_EQ(e.kind, Kind::kScopeOpen) << j;
      } else if (in_scope == 1 + kAllocations) {
        ASSERT_EQ(e.kind, Kind::kScopeClose) << j;
      } else {
        const int i = static_cast<int>(j / (2 + kAllocations)) * kAllocations +
                      static_cast<int>(in_scope) - 1;
        ASSERT_EQ(e.kind, Kind::kAllocate) << j;
        ASSERT_EQ(e.size, size_of(i)) << j;
        ASSERT_EQ(e.alignment, alignment_of(i)) << j;
      }
    }
  }
  EXPECT_EQ(seen, std::size_t{kThreads});
}

// An event after the thread's own buffer was written at its exit: a thread_local destroyed
// later that gives memory back through a trace. It is written on its own, as the same thread.
struct FreedAtThreadExit {
  TraceResource* traced = nullptr;
  void* p = nullptr;
  ~FreedAtThreadExit() {
    if (p != nullptr) traced->deallocate(p, 24, 8);
  }
};

TEST(TraceTest, AnEventAfterTheThreadsBufferIsWrittenAtExitIsKept) {
  const std::string path = temp_path("late.trace");
  absl::StatusOr<std::shared_ptr<TraceFile>> file = TraceFile::open(path, {});
  ASSERT_TRUE(file.ok());
  TraceResource traced(*file, std::pmr::new_delete_resource());
  void* p = nullptr;
  std::thread([&] {
    // Made before the thread's first event, so destroyed after the thread's trace buffer.
    thread_local FreedAtThreadExit late;
    late.traced = &traced;
    late.p = p = traced.allocate(24, 8);
  }).join();
  absl::StatusOr<Trace> t = read_trace(path);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->events.size(), 2u);
  EXPECT_EQ(t->events[0].kind, Kind::kAllocate);
  EXPECT_EQ(t->events[1].kind, Kind::kDeallocate);
  EXPECT_EQ(t->events[1].address, reinterpret_cast<std::uintptr_t>(p));
  EXPECT_EQ(t->events[1].thread, t->events[0].thread);
  EXPECT_EQ(t->threads, 1u);
}

// Complete at exit: a process whose thread traces and then calls exit() with its events still in
// its buffer (far fewer than a chunk) finds every one of them in the file.
TEST(TraceTest, TheExitingThreadsBufferIsWrittenAtExit) {
  const std::string path = temp_path("exit.trace");
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (!configure(tracing_to(path)).ok()) std::_Exit(2);
    std::vector<float> x(1000, 1.0f);
    for (int i = 0; i < 100; ++i) (void)sum_f32_compensated_cpu_dispatch(x.data(), x.size());
    std::exit(0);  // no flush_thread(): the exit writes the buffer
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  absl::StatusOr<Trace> t = read_trace(path);
  ASSERT_TRUE(t.ok()) << t.status();
  std::size_t opens = 0, closes = 0, allocations = 0;
  for (const trace_format::Event& e : t->events) {
    opens += e.kind == Kind::kScopeOpen;
    closes += e.kind == Kind::kScopeClose;
    allocations += e.kind == Kind::kAllocate;
  }
  EXPECT_EQ(opens, 100u);
  EXPECT_EQ(closes, 100u);
  EXPECT_GE(allocations, 100u);
}

TEST(TraceTest, AWriteThatFailsMidwaySaysSoOnceAndTracingStops) {
  const std::string path = temp_path("full.trace");
  absl::StatusOr<std::shared_ptr<TraceFile>> file = TraceFile::open(path, {});
  ASSERT_TRUE(file.ok());
  TraceResource traced(*file, std::pmr::new_delete_resource());
  // A file size limit stands in for a full disk: writes past it fail (EFBIG).
  signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  getrlimit(RLIMIT_FSIZE, &old);
  rlimit small = old;
  small.rlim_cur = 4096;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 5000; ++i) traced.deallocate(traced.allocate(16, 8), 16, 8);
  (*file)->flush_thread();
  const std::string err = ::testing::internal::GetCapturedStderr();
  setrlimit(RLIMIT_FSIZE, &old);
  EXPECT_TRUE((*file)->failed());
  EXPECT_NE(err.find("write failed"), std::string::npos) << err;
  EXPECT_EQ(err.find("write failed"), err.rfind("write failed"));  // one line
}

}  // namespace
}  // namespace corepy
