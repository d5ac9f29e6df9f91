// corepy-timeline: an allocation trace (allocators/trace_format.h) as Chrome Trace Event JSON,
// which Perfetto (ui.perfetto.dev) and chrome://tracing open.
//
//   bazel run -c opt //tools:timeline -- TRACE [OUT.json]      (stdout without OUT)
//
// What it shows, on one process with a track per trace thread:
//   - each scope as a slice named by its op ("none" for a plain with_arena scope), nested as the
//     scopes were;
//   - a counter "memory in use, thread N": the bytes the thread's allocations hold;
//   - a counter "memory in use by op": the bytes held, by the op that allocated them.
// Memory is released by a deallocate, or, for what a scope allocated and never gave back, when
// the scope closes: an arena rewinds then (other resources get their deallocates inside the
// scope). Times are in microseconds from the trace's start.
#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "allocators/trace_reader.h"

namespace corepy {
namespace {

using trace_format::Event;
using trace_format::Kind;

// A JSON string literal (op names are identifiers, but nothing is assumed).
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

struct Live {
  std::uint64_t size;
  std::uint32_t op;
};

struct ThreadState {
  std::uint64_t held = 0;
  std::unordered_map<std::uint64_t, Live> live;  // by address
  // Per open scope, the addresses allocated inside it (released at its close if still live).
  std::vector<std::vector<std::uint64_t>> scopes;
};

class Timeline {
 public:
  Timeline(const Trace& trace, std::FILE* out) : trace_(trace), out_(out) {}

  void write() {
    std::vector<Event> events = trace_.events;
    std::stable_sort(events.begin(), events.end(),
                     [](const Event& a, const Event& b) { return a.time < b.time; });
    std::fputs("{\"displayTimeUnit\": \"ns\", \"traceEvents\": [\n", out_);
    std::fputs(R"({"name": "process_name", "ph": "M", "pid": 1, "args": {"name": "corepy"}})",
               out_);
    for (std::uint32_t t = 0; t < trace_.threads; ++t) {
      std::fprintf(out_,
                   ",\n{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": %" PRIu32
                   ", \"args\": {\"name\": \"thread %" PRIu32 "\"}}",
                   t, t);
    }
    for (const Event& e : events) one(e);
    // Scopes still open at the end of the trace end there.
    const double end = events.empty() ? 0.0 : micros(events.back().time);
    for (auto& [thread, state] : threads_) {
      for (std::size_t i = state.scopes.size(); i-- > 0;) slice_end(thread, end);
    }
    std::fputs("\n]}\n", out_);
  }

 private:
  double micros(std::uint64_t ticks) const { return trace_.seconds(ticks) * 1e6; }

  void one(const Event& e) {
    ThreadState& s = threads_[e.thread];
    const double ts = micros(e.time);
    switch (e.kind) {
      case Kind::kScopeOpen:
        s.scopes.emplace_back();
        std::fprintf(out_,
                     ",\n{\"name\": %s, \"ph\": \"B\", \"pid\": 1, \"tid\": %" PRIu32
                     ", \"ts\": %.3f}",
                     quoted(trace_.op_name(e.op)).c_str(), e.thread, ts);
        return;
      case Kind::kScopeClose: {
        if (s.scopes.empty()) return;  // a close whose open came before the trace: nothing
        bool changed = false;
        for (const std::uint64_t address : s.scopes.back()) changed |= release(s, address);
        s.scopes.pop_back();
        slice_end(e.thread, ts);
        if (changed) counters(e.thread, s, ts);
        return;
      }
      case Kind::kAllocate:
        release(s, e.address);  // an address reused without a deallocate: the old one is gone
        s.live[e.address] = Live{e.size, e.op};
        s.held += e.size;
        by_op_[e.op] += e.size;
        if (!s.scopes.empty()) s.scopes.back().push_back(e.address);
        counters(e.thread, s, ts);
        return;
      case Kind::kDeallocate:
        if (release(s, e.address)) counters(e.thread, s, ts);
        return;
    }
  }

  // Forgets the live allocation at `address`, if any; whether there was one.
  bool release(ThreadState& s, std::uint64_t address) {
    const auto it = s.live.find(address);
    if (it == s.live.end()) return false;
    s.held -= it->second.size;
    by_op_[it->second.op] -= it->second.size;
    s.live.erase(it);
    return true;
  }

  void slice_end(std::uint32_t thread, double ts) {
    std::fprintf(out_, ",\n{\"ph\": \"E\", \"pid\": 1, \"tid\": %" PRIu32 ", \"ts\": %.3f}", thread,
                 ts);
  }

  void counters(std::uint32_t thread, const ThreadState& s, double ts) {
    std::fprintf(out_,
                 ",\n{\"name\": \"memory in use, thread %" PRIu32
                 "\", \"ph\": \"C\", \"pid\": 1, \"ts\": %.3f, \"args\": {\"bytes\": %" PRIu64 "}}",
                 thread, ts, s.held);
    std::string args;
    for (const auto& [op, bytes] : by_op_) {
      absl::StrAppend(&args, args.empty() ? "" : ", ", quoted(trace_.op_name(op)), ": ", bytes);
    }
    std::fprintf(out_,
                 ",\n{\"name\": \"memory in use by op\", \"ph\": \"C\", \"pid\": 1, \"ts\": "
                 "%.3f, \"args\": {%s}}",
                 ts, args.c_str());
  }

  const Trace& trace_;
  std::FILE* out_;
  std::map<std::uint32_t, ThreadState> threads_;
  std::map<std::uint32_t, std::uint64_t> by_op_;  // bytes held, by op
};

int run(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s TRACE [OUT.json]\n", argc > 0 ? argv[0] : "timeline");
    return 2;
  }
  absl::StatusOr<Trace> trace = read_trace(argv[1]);
  if (!trace.ok()) {
    std::fprintf(stderr, "timeline: %s\n", std::string(trace.status().message()).c_str());
    return 1;
  }
  std::FILE* out = stdout;
  if (argc == 3) {
    out = std::fopen(argv[2], "w");
    if (out == nullptr) {
      std::perror((std::string("timeline: cannot write ") + argv[2]).c_str());
      return 1;
    }
  }
  Timeline(*trace, out).write();
  const bool failed = std::ferror(out) != 0;
  if (out != stdout && std::fclose(out) != 0) {
    std::perror((std::string("timeline: cannot write ") + argv[2]).c_str());
    return 1;
  }
  if (failed) {
    std::fprintf(stderr, "timeline: writing the output failed\n");
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace corepy

int main(int argc, char** argv) { return corepy::run(argc, argv); }
