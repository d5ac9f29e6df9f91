// corepy-replay: replays an allocation trace (allocators/trace_format.h) against allocator specs
// and recommends a configuration (the per-op arena sizes and the thread arena size).
//
//   bazel run -c opt //tools:replay -- TRACE [SPEC ...]
//
// Each trace thread is replayed on a thread of its own: its scopes become op scopes (op
// "none": arena scopes) and its allocations are served by the scope's resource, so the
// configured strategy is what serves them. With no SPEC it replays arena, system, pool,
// arena(upstream=mimalloc) and arena(size=64KiB), then the advised configuration. Per spec it
// prints the time, the most memory held from the upstream at once, the upstream calls, and the
// arena spills.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <memory_resource>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "allocators/trace_reader.h"
#include "allocators/upstream_resources.h"
#include "corepy/allocator_spec.h"
#include "corepy/config.h"
#include "corepy/dispatch.h"
#include "corepy/registry.h"

namespace corepy {
namespace {

using trace_format::Event;
using trace_format::Kind;

// An upstream that counts calls and bytes held (and their peak), over one of the built-ins.
class CountingUpstream final : public std::pmr::memory_resource {
 public:
  explicit CountingUpstream(std::pmr::memory_resource* upstream) : upstream_(upstream) {}
  void reset() {
    calls_ = 0;
    peak_ = held_.load();
  }
  std::size_t calls() const { return calls_; }
  std::size_t peak() const { return peak_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    void* p = upstream_->allocate(bytes, alignment);
    ++calls_;
    const std::size_t now = held_ += bytes;
    std::size_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    held_ -= bytes;
    upstream_->deallocate(p, bytes, alignment);
  }
  bool do_is_equal(const std::pmr::memory_resource& o) const noexcept override { return this == &o; }

  std::pmr::memory_resource* upstream_;
  std::atomic<std::size_t> calls_{0}, held_{0}, peak_{0};
};

std::map<std::string, CountingUpstream*>& counters() {
  static auto* m = new std::map<std::string, CountingUpstream*>;
  return *m;
}

// Registers counted_<name> for each built-in upstream.
void register_counters() {
  for (absl::string_view name : {kNewDeleteUpstream, kPoolUpstream, kMimallocUpstream}) {
    absl::StatusOr<std::pmr::memory_resource*> up = upstream_by_name(name);
    if (!up.ok()) continue;
    auto* counter = new CountingUpstream(*up);
    counters()[std::string(name)] = counter;
    (void)register_allocator(absl::StrCat("counted_", name), [counter](const AllocatorArgs&) {
      return std::shared_ptr<std::pmr::memory_resource>(counter, [](auto*) {});
    });
  }
}

// The spec with its upstream counted: arena(...) gets upstream=counted_<its upstream>; a bare
// upstream becomes counted_<it>. Returns the counter, or null when the spec is of another form.
CountingUpstream* counted(AllocatorSpec& spec) {
  auto base = [](const std::string& n) { return n == "system" ? std::string("new_delete") : n; };
  if (spec.name == "arena") {
    std::string up = "new_delete";
    for (auto& [key, value] : spec.params) {
      if (key == "upstream" && value.inner.empty() && value.params.empty()) {
        up = base(value.name);
        value.name = "counted_" + up;
        return counters().count(up) ? counters()[up] : nullptr;
      }
    }
    AllocatorSpec u;
    u.name = "counted_new_delete";
    spec.params.emplace_back("upstream", u);
    return counters()["new_delete"];
  }
  if (spec.inner.empty() && spec.params.empty() && counters().count(base(spec.name))) {
    const std::string up = base(spec.name);
    spec.name = "counted_" + up;
    return counters()[up];
  }
  return nullptr;
}

// Replays one thread's events.
void replay_thread(const std::vector<const Event*>& events, std::size_t op_count) {
  std::vector<std::unique_ptr<OpScope>> op_scopes;
  std::vector<std::unique_ptr<ArenaScope>> arena_scopes;
  std::vector<bool> is_op;
  std::unordered_map<std::uint64_t, void*> live;
  auto resource = [&]() -> std::pmr::memory_resource* {
    if (is_op.empty()) return nullptr;
    if (is_op.back()) return op_scopes.back()->resource();
    return &arena_scopes.back()->arena();
  };
  for (const Event* e : events) {
    switch (e->kind) {
      case Kind::kScopeOpen:
        if (e->op != 0 && e->op <= op_count) {
          op_scopes.push_back(std::make_unique<OpScope>(static_cast<Op>(e->op - 1)));
          is_op.push_back(true);
        } else {
          arena_scopes.push_back(std::make_unique<ArenaScope>());
          is_op.push_back(false);
        }
        break;
      case Kind::kScopeClose:
        if (is_op.empty()) break;
        // Everything allocated inside goes with the scope's rewind.
        if (is_op.back()) {
          op_scopes.pop_back();
        } else {
          arena_scopes.pop_back();
        }
        is_op.pop_back();
        if (is_op.empty()) live.clear();
        break;
      case Kind::kAllocate:
        if (std::pmr::memory_resource* r = resource()) {
          live[e->address] = r->allocate(e->size, e->alignment);
        }
        break;
      case Kind::kDeallocate: {
        auto it = live.find(e->address);
        if (it == live.end() || resource() == nullptr) break;
        resource()->deallocate(it->second, e->size, e->alignment);
        live.erase(it);
        break;
      }
    }
  }
  while (!is_op.empty()) {
    if (is_op.back()) {
      op_scopes.pop_back();
    } else {
      arena_scopes.pop_back();
    }
    is_op.pop_back();
  }
}

struct Row {
  std::string spec;
  double ms = 0;
  std::size_t peak = 0, calls = 0, spills = 0;
};

// What the trace needs: per op, the most bytes one call held at once; per thread, the most held
// inside one outermost scope.
struct Advice {
  std::vector<std::size_t> op_peak;
  std::size_t arena_peak = 0;
};

std::size_t pow2(std::size_t n) {
  std::size_t p = 4096;
  while (p < n) p *= 2;
  return p;
}

Advice advise(const Trace& t, const std::vector<std::vector<const Event*>>& by_thread) {
  Advice a;
  a.op_peak.assign(t.op_names.size() + 1, 0);
  for (const auto& events : by_thread) {
    std::size_t held = 0, depth = 0;
    std::vector<std::size_t> op_start;  // held at each open scope
    std::vector<std::uint32_t> ops;
    std::vector<std::size_t> op_max;
    std::unordered_map<std::uint64_t, std::size_t> live;
    for (const Event* e : events) {
      if (e->kind == Kind::kScopeOpen) {
        ++depth;
        op_start.push_back(held);
        ops.push_back(e->op);
        op_max.push_back(held);
      } else if (e->kind == Kind::kScopeClose && depth != 0) {
        --depth;
        const std::size_t need = op_max.back() - op_start.back();
        a.op_peak[ops.back()] = std::max(a.op_peak[ops.back()], need);
        const std::size_t inner_max = op_max.back();
        op_start.pop_back();
        ops.pop_back();
        op_max.pop_back();
        if (!op_max.empty()) op_max.back() = std::max(op_max.back(), inner_max);
        if (depth == 0) {
          held = 0;
          live.clear();
        }
      } else if (e->kind == Kind::kAllocate) {
        // Each allocation may need up to alignment - 1 bytes of padding in a bump arena.
        const std::size_t bytes = e->size + (e->alignment > 16 ? e->alignment - 1 : 0);
        live[e->address] = bytes;
        held += bytes;
        if (!op_max.empty()) op_max.back() = std::max(op_max.back(), held);
        if (depth != 0) a.arena_peak = std::max(a.arena_peak, held);
      } else if (e->kind == Kind::kDeallocate) {
        auto it = live.find(e->address);
        if (it != live.end()) {
          held -= it->second;
          live.erase(it);
        }
      }
    }
  }
  return a;
}

int run(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: replay TRACE [SPEC ...]\n");
    return 2;
  }
  absl::StatusOr<Trace> t = read_trace(argv[1]);
  if (!t.ok()) {
    std::fprintf(stderr, "replay: %s\n", std::string(t.status().message()).c_str());
    return 1;
  }
  std::vector<std::vector<const Event*>> by_thread(t->threads);
  for (const Event& e : t->events) by_thread[e.thread].push_back(&e);
  for (auto& events : by_thread) {  // chunks of one thread are in order; sort by time anyway
    std::stable_sort(events.begin(), events.end(),
                     [](const Event* a, const Event* b) { return a->time < b->time; });
  }
  register_counters();
  std::vector<std::string> specs;
  for (int i = 2; i < argc; ++i) specs.push_back(argv[i]);
  const bool defaults = specs.empty();
  if (defaults) {
    specs = {"arena", "system", "pool", "arena(upstream=mimalloc)", "arena(size=64KiB)"};
  }
  const Advice advice = advise(*t, by_thread);
  std::vector<std::string> op_sizes;
  for (std::size_t i = 1; i < advice.op_peak.size(); ++i) {
    if (advice.op_peak[i] != 0) {
      op_sizes.push_back(absl::StrCat(t->op_names[i - 1], "=", pow2(advice.op_peak[i])));
    }
  }
  const std::string advised_ops = absl::StrJoin(op_sizes, ",");
  const std::size_t advised_arena = pow2(advice.arena_peak);

  auto replay = [&](const std::string& text, const Options& extra) -> absl::StatusOr<Row> {
    absl::StatusOr<AllocatorSpec> spec = parse_allocator_spec(text);
    if (!spec.ok()) return spec.status();
    CountingUpstream* counter = counted(*spec);
    Options o = extra;
    o.allocator = spec->to_string();
    o.arena_max_size = 0;
    if (absl::Status s = configure(o); !s.ok()) return s;
    reset_op_stats();
    if (counter != nullptr) counter->reset();
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (const auto& events : by_thread) {
      threads.emplace_back([&events, &t] { replay_thread(events, t->op_names.size()); });
    }
    for (std::thread& th : threads) th.join();
    Row row;
    row.spec = text;
    row.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (counter != nullptr) {
      row.calls = counter->calls();
      row.peak = counter->peak();
    }
    for (const OpStats& s : op_stats()) row.spills += s.spills;
    reset_configuration();
    return row;
  };

  std::printf("trace %s: %zu events, %u threads, %zu ops named\n\n", argv[1], t->events.size(),
              t->threads, t->op_names.size());
  std::printf("| %-52s | %9s | %14s | %14s | %8s |\n", "allocator", "time ms",
              "upstream peak", "upstream calls", "spills");
  std::printf("|%s|%s|%s|%s|%s|\n", std::string(54, '-').c_str(), std::string(11, '-').c_str(),
              std::string(16, '-').c_str(), std::string(16, '-').c_str(),
              std::string(10, '-').c_str());
  auto print = [](const absl::StatusOr<Row>& r, const std::string& spec) {
    if (!r.ok()) {
      std::printf("| %-52s | error: %s\n", spec.c_str(), std::string(r.status().message()).c_str());
      return;
    }
    std::printf("| %-52s | %9.3f | %14zu | %14zu | %8zu |\n", r->spec.c_str(), r->ms, r->peak,
                r->calls, r->spills);
  };
  for (const std::string& spec : specs) print(replay(spec, Options{}), spec);
  Options advised;
  advised.arena_size = advised_arena;
  advised.op_arena_sizes = advised_ops;
  const std::string label = absl::StrCat("arena, advised (arena_size=", advised_arena, ")");
  absl::StatusOr<Row> row = replay("arena", advised);
  if (row.ok()) row->spec = label;
  print(row, label);
  std::printf("\nadvice (from each op's observed peak scratch, rounded up to a power of two):\n");
  std::printf("  COREPY_OP_ARENA_SIZES=%s\n  COREPY_ARENA_SIZE=%zu\n", advised_ops.c_str(),
              advised_arena);
  return 0;
}

}  // namespace
}  // namespace corepy

int main(int argc, char** argv) { return corepy::run(argc, argv); }
