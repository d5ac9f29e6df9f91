#include "corepy/arena.h"

#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "allocators/trace_resource.h"
#include "corepy/internal/fork_guard.h"
#include "corepy/internal/shrink_policy.h"
#include "corepy/registry.h"

namespace corepy {
namespace internal {
namespace {

// One arena and what the strategy wraps around it: for the thread, or for one op with a
// configured size.
struct Scratch {
  std::unique_ptr<ArenaResource> arena;
  std::vector<std::shared_ptr<std::pmr::memory_resource>> owned;
  std::pmr::memory_resource* resource = nullptr;  // what ops are given
};

}  // namespace

// Everything corepy keeps per thread.
struct ThreadRuntime {
  std::shared_ptr<const Resolved> config;  // keeps the strategy and its upstreams alive
  Scratch main;
  std::array<std::unique_ptr<Scratch>, kOpCount> sized;  // ops with an arena of their own
  std::array<OpScratch, kOpCount> ops{};                 // what op_scratch() returns
  std::array<OpTally, kOpCount> tallies;
  // What memory_stats() reads from other threads: one gauge per op arena, then the thread's.
  std::array<ArenaGauge, kOpCount + 1> gauges;
  std::atomic<unsigned>* requests = nullptr;           // the thread's ThreadState::requests
  std::atomic<ArenaResource*>* scope_arena = nullptr;  // its ThreadState::scope_arena
  ShrinkPolicy shrink;
};

namespace {

// The live threads' runtimes, for op_totals(), and what exited threads counted.
struct Tallies {
  std::mutex mutex;
  std::vector<ThreadRuntime*> live;
  std::array<OpTotals, kOpCount> retired{};
};

Tallies& tallies() {
  static Tallies* t = [] {
    auto* all = new Tallies;  // never destroyed: threads may outlive statics
    hold_across_fork(all->mutex);
    return all;
  }();
  return *t;
}

void add(OpTotals& to, const OpTally& from) {
  to.calls += from.calls.load(std::memory_order_relaxed);
  to.spills += from.spills.load(std::memory_order_relaxed);
  to.peak = std::max(to.peak, from.peak.load(std::memory_order_relaxed));
}

// Destroys the thread's runtime, which returns every arena's memory (spills included) to its
// upstream, and keeps the thread's op counts.
void destroy_runtime() noexcept {
  ThreadRuntime* r = tls_state.runtime;
  ThreadState& state = tls_state;
  state.arena = nullptr;
  state.generation = 0;
  state.depth = 0;
  state.exited = true;
  state.runtime = nullptr;
  state.ops = nullptr;
  state.tallies = nullptr;
  state.config = nullptr;
  state.requests.store(0, std::memory_order_relaxed);
  state.scope_arena.store(nullptr, std::memory_order_relaxed);
  state.tune_arena = nullptr;
  if (r == nullptr) return;
  {
    Tallies& t = tallies();
    std::lock_guard<std::mutex> lock(t.mutex);
    for (std::size_t i = 0; i < kOpCount; ++i) add(t.retired[i], r->tallies[i]);
    t.live.erase(std::find(t.live.begin(), t.live.end(), r));
  }
  delete r;
}

// At thread exit, with the thread's other thread_local objects.
struct RuntimeOwner {
  ~RuntimeOwner() { destroy_runtime(); }
};

// Teardown: an op after the thread's runtime was destroyed (from a thread_local destructor that
// ran later, a static destructor, an atexit handler) gets a runtime again. glibc runs
// pthread-key destructors after every thread_local destructor of an exiting thread, so this key
// destroys that late runtime in turn. The main thread runs neither at exit(): its late runtime
// lives until the process ends (listed in tallies(), so it is reachable, not leaked).
pthread_key_t late_runtime_key() {
  static const pthread_key_t key = [] {
    pthread_key_t k;
    if (pthread_key_create(&k, [](void*) { destroy_runtime(); }) != 0) {
      std::fprintf(stderr, "corepy: cannot create a pthread key for late thread state\n");
      std::abort();
    }
    return k;
  }();
  return key;
}

// Builds what the strategy wraps around `s.arena` on this thread (user factories run here).
void build_chain(const Strategy& strategy, Scratch& s) {
  absl::StatusOr<std::pmr::memory_resource*> resource =
      build_thread_chain(strategy, s.arena.get(), s.owned);
  if (resource.ok()) {
    s.resource = *resource;
  } else {
    // A user factory refused on this thread: ops still get memory, from the plain arena.
    report_once("corepy: cannot build allocator \"" + strategy.spec.to_string() +
                "\" on this thread: " + std::string(resource.status().message()) +
                "; using the thread's arena");
    s.owned.clear();
    s.resource = s.arena.get();
  }
}

// An arena of `capacity` for the strategy, not yet wrapped: ops given it use it plain.
Scratch plain_scratch(const Strategy& strategy, std::size_t capacity) {
  Scratch s;
  s.arena = std::make_unique<ArenaResource>(capacity, strategy.arena_upstream());  // may throw
  s.resource = s.arena.get();
  return s;
}

Scratch make_scratch(const Strategy& strategy, std::size_t capacity) {
  Scratch s = plain_scratch(strategy, capacity);
  build_chain(strategy, s);
  return s;
}

// Lets scopes enter and leave inline (ThreadState::scope_arena) when nothing is out of the
// ordinary on the thread: its arena made for the configuration in force, no trace, no tuning or
// request pending. Another thread that posts a request, or publishes a configuration, sets the
// bit or the generation and then nulls scope_arena, both sequentially consistent, as the store
// and the loads here are: either a load here sees the change, or that null comes after the
// store, so nothing is missed.
void refresh_scope_arena() noexcept {
  ThreadState& t = tls_state;
  if (t.arena == nullptr || t.trace != nullptr || t.tune_arena != nullptr) {
    t.scope_arena.store(nullptr, std::memory_order_relaxed);
    return;
  }
  t.scope_arena.store(t.arena, std::memory_order_seq_cst);
  if (t.requests.load(std::memory_order_seq_cst) != 0 ||
      t.generation != g_config_generation.load(std::memory_order_seq_cst)) {
    t.scope_arena.store(nullptr, std::memory_order_relaxed);
  }
}

// A new configuration is in force (g_on_new_config): every thread's next scope goes out of line
// and, when outermost, picks it up.
void send_scopes_out_of_line() {
  Tallies& all = tallies();
  std::lock_guard<std::mutex> lock(all.mutex);
  for (ThreadRuntime* r : all.live) r->scope_arena->store(nullptr, std::memory_order_seq_cst);
}

ThreadRuntime& runtime() {
  ThreadState& t = tls_state;
  if (t.runtime != nullptr) return *t.runtime;
  if (t.exited) {
    (void)pthread_setspecific(late_runtime_key(), &t);  // any non-null value: "run me"
  } else {
    thread_local RuntimeOwner owner;  // its destructor runs at thread exit
    (void)owner;
  }
  auto r = std::make_unique<ThreadRuntime>();
  r->requests = &t.requests;  // before other threads can see it
  r->scope_arena = &t.scope_arena;
  g_on_new_config.store(&send_scopes_out_of_line, std::memory_order_seq_cst);
  {
    Tallies& all = tallies();
    std::lock_guard<std::mutex> lock(all.mutex);
    all.live.push_back(r.get());
  }
  t.runtime = r.release();
  t.ops = t.runtime->ops.data();
  t.tallies = t.runtime->tallies.data();
  return *t.runtime;
}

// (Re)builds the thread's arenas for the configuration in force. The plain arena is in force
// while the strategy's per-thread resources are built over it, so a user factory that runs an
// op meanwhile gets that arena, and does not start another build.
ArenaResource& rebuild() {
  ThreadRuntime& r = runtime();
  std::shared_ptr<const Resolved> config = resolved();
  const Strategy& strategy = *config->strategy;
  Scratch main = plain_scratch(strategy, strategy.arena_size);  // may throw
  r.ops = {};
  r.sized = {};
  r.main = std::move(main);
  r.main.arena->set_gauge(&r.gauges[kOpCount]);
  r.shrink = ShrinkPolicy();
  tls_state.requests.fetch_and(~kShrinkWatch, std::memory_order_relaxed);
  r.config = std::move(config);
  tls_state.config = r.config.get();
  tls_state.arena = r.main.arena.get();
  tls_state.generation = r.config->generation;
  tls_state.trace = r.config->strategy->trace.get();
  refresh_scope_arena();
  build_chain(strategy, r.main);
  r.ops = {};  // an op run by a factory saw the plain arena
  return *r.main.arena;
}

bool holds_nothing(const ArenaResource& arena) {
  return arena.used() == 0 && arena.overflow_bytes() == 0;
}

bool holds_nothing(const ThreadRuntime& r) {
  if (!holds_nothing(*r.main.arena)) return false;
  for (const std::unique_ptr<Scratch>& op : r.sized) {
    if (op != nullptr && !holds_nothing(*op->arena)) return false;
  }
  return true;
}

}  // namespace

ArenaResource& make_thread_arena() {
  if (tls_state.arena != nullptr) return *tls_state.arena;
  return rebuild();
}

ArenaResource& enter_scope_slow(unsigned depth, std::uint32_t trace_op) {
  ThreadState& t = tls_state;
  ArenaResource* arena = t.arena;  // not null inside a scope
  if (arena == nullptr) {
    arena = &rebuild();
  } else if (depth == 0 && t.generation != config_generation()) {
    if (holds_nothing(*arena)) {
      arena = &rebuild();  // a new configuration, and nothing lives in the old arena: switch
    } else {
      // Memory allocated outside any scope (a pmr container on thread_arena(), say) lives in
      // the old arena, which cannot be replaced under it: the switch waits until it is given
      // back. Said once per process.
      report_once(
          "corepy: a new configuration waits on a thread whose arena holds memory allocated "
          "outside any scope (for example a pmr container on corepy::thread_arena()); it takes "
          "effect on that thread at its first outermost scope after that memory is given back");
    }
  }
  t.depth = depth + 1;
  if (t.trace != nullptr) trace_scope(static_cast<TraceFile*>(t.trace), trace_op, true);
  refresh_scope_arena();
  return *arena;
}

namespace {

// The outermost scope spilled, needing `peak` bytes at most: grow the arena toward that if
// self-tuning is on.
void after_spilling_scope(ArenaResource& arena, std::size_t peak) noexcept {
  ThreadRuntime* r = tls_state.runtime;
  if (r == nullptr || r->config == nullptr || &arena != r->main.arena.get()) return;
  const std::size_t max_size = r->config->strategy->arena_max_size;
  if (max_size <= arena.capacity()) return;
  // Room for everything the scope held at its peak, rounded up to a power of two.
  std::size_t want = std::size_t{1} << 16;
  while (want < peak && want < max_size) want *= 2;
  want = std::min(want, max_size);
  if (want <= arena.capacity()) return;
  try {
    if (!arena.reserve(want)) return;
  } catch (...) {
    // The upstream refused a larger block: keep the one we have, and keep spilling.
    return;
  }
  r->shrink.on_grow();
  (void)arena.open_window();  // the shrink policy measures each outermost scope from here
  tls_state.requests.fetch_or(kShrinkWatch, std::memory_order_relaxed);
  tls_state.scope_arena.store(nullptr, std::memory_order_relaxed);
}

// Gives the idle arenas of the calling thread's runtime back their configured size (trim()).
void trim_runtime(ThreadRuntime& r) noexcept {
  tls_state.requests.fetch_and(~(kTrimRequested | kShrinkWatch), std::memory_order_relaxed);
  r.shrink = ShrinkPolicy();
  if (r.config == nullptr) return;
  auto shrink = [](ArenaResource& arena, std::size_t size) {
    if (!holds_nothing(arena)) return;  // memory allocated outside any scope lives there
    try {
      (void)arena.shrink(size);
    } catch (...) {
      // The upstream refused the smaller block: keep the larger one.
    }
  };
  if (r.main.arena != nullptr) shrink(*r.main.arena, r.config->strategy->arena_size);
  for (std::size_t i = 0; i < kOpCount; ++i) {
    if (r.sized[i] != nullptr) shrink(*r.sized[i]->arena, r.config->settings.op_arena_sizes[i]);
  }
}

// One outermost scope of a grown block: the shrink policy's step.
void watch_grown_block(ThreadRuntime& r) noexcept {
  ArenaResource& arena = *r.main.arena;
  const std::size_t base = r.config->strategy->arena_size;
  const std::size_t peak = arena.window_peak();  // since the last outermost scope
  (void)arena.open_window();
  const std::size_t to =
      r.shrink.after_scope(peak, arena.capacity(), base, r.config->settings.arena_shrink_after);
  if (to != 0) {
    try {
      (void)arena.shrink(to);
    } catch (...) {
      // The upstream refused the smaller block: keep the larger one, and try again later.
    }
  }
  if (arena.capacity() <= base) {
    tls_state.requests.fetch_and(~kShrinkWatch, std::memory_order_relaxed);
  }
}

// The outermost scope closed with a spill to tune for (`tune`, else null) or a request pending.
void after_outermost_scope(ArenaResource* tune, std::size_t peak) noexcept {
  ThreadState& t = tls_state;
  ThreadRuntime* r = t.runtime;
  if (r == nullptr || r->config == nullptr) return;
  if (tune != nullptr) after_spilling_scope(*tune, peak);
  const unsigned requests = t.requests.load(std::memory_order_relaxed);
  if ((requests & kTrimRequested) != 0) {
    trim_runtime(*r);
  } else if ((requests & kShrinkWatch) != 0 && tune == nullptr && r->main.arena != nullptr) {
    watch_grown_block(*r);
  }
}

}  // namespace

void leave_scope_slow(unsigned depth, std::uint32_t trace_op) noexcept {
  ThreadState& t = tls_state;
  if (t.trace != nullptr) trace_scope(static_cast<TraceFile*>(t.trace), trace_op, false);
  if (depth == 0) {
    ArenaResource* const tune = t.tune_arena;
    t.tune_arena = nullptr;
    after_outermost_scope(tune, t.tune_peak);
  }
  refresh_scope_arena();
}

void scope_spilled(ArenaResource& arena, std::size_t peak) noexcept {
  ThreadState& t = tls_state;
  t.tune_arena = &arena;
  t.tune_peak = peak;
  t.scope_arena.store(nullptr, std::memory_order_relaxed);  // to the outermost close
}

void request_trim() {
  ThreadState& self = tls_state;
  {
    Tallies& all = tallies();
    std::lock_guard<std::mutex> lock(all.mutex);
    for (ThreadRuntime* r : all.live) {
      if (r == self.runtime) continue;
      r->requests->fetch_or(kTrimRequested, std::memory_order_seq_cst);
      r->scope_arena->store(nullptr, std::memory_order_seq_cst);  // see refresh_scope_arena()
    }
  }
  if (self.runtime == nullptr) return;
  if (self.depth == 0) {
    trim_runtime(*self.runtime);
  } else {
    self.requests.fetch_or(kTrimRequested, std::memory_order_relaxed);
    self.scope_arena.store(nullptr, std::memory_order_relaxed);
  }
}

void visit_thread_gauges(const std::function<void(absl::Span<const ArenaGauge>)>& visit) {
  Tallies& all = tallies();
  std::lock_guard<std::mutex> lock(all.mutex);
  for (const ThreadRuntime* r : all.live) visit(r->gauges);
}

OpScratch op_scratch_slow(Op op) {
  ThreadRuntime& r = *tls_state.runtime;  // inside a scope: made by enter_scope_slow()
  const std::size_t i = static_cast<std::size_t>(op);
  const std::size_t size = r.config->settings.op_arena_sizes[i];
  if (size == 0 || !r.config->strategy->uses_arena) {
    r.ops[i] = OpScratch{r.main.arena.get(), r.main.resource};
  } else {
    if (r.sized[i] == nullptr) {
      r.sized[i] = std::make_unique<Scratch>(make_scratch(*r.config->strategy, size));
    }
    r.sized[i]->arena->set_gauge(&r.gauges[i]);
    r.ops[i] = OpScratch{r.sized[i]->arena.get(), r.sized[i]->resource};
  }
  return r.ops[i];
}

std::pmr::memory_resource* op_resource_outside_scope(Op op, const Resolved* caller) {
  ThreadState& t = tls_state;
  if (t.depth != 0) return op_scratch(t, op).resource;  // inside a scope: already current
  // A strategy without an arena is one resource shared by every thread: the caller's, which
  // its open scope keeps alive for the whole op. Nothing of this thread's is involved, so a
  // worker never keeps a configuration alive for a task's sake.
  if (caller != nullptr && !caller->strategy->uses_arena) return caller->strategy->shared;
  if (ABSL_PREDICT_FALSE((t.requests.load(std::memory_order_relaxed) & kTrimRequested) != 0) &&
      t.arena != nullptr && holds_nothing(*t.runtime)) {
    trim_runtime(*t.runtime);  // a worker opens no scope: it takes a trim() request here
  }
  if (t.arena == nullptr) {
    rebuild();
  } else if (t.generation != config_generation() && holds_nothing(*t.runtime)) {
    // A worker opens no scope, so this is where it notices a new configuration. It may be
    // inside a task that holds scratch still (a task waiting for nested ones, this call being
    // for a task it took meanwhile); a task's scratch is always in this thread's arenas (see
    // above), where it shows: switch only when they are empty.
    rebuild();
  }
  ThreadRuntime& r = *t.runtime;
  // This thread's configuration may have no arena while the caller's has one: the plain
  // thread arena then.
  if (!r.config->strategy->uses_arena) return r.main.arena.get();
  return op_scratch(t, op).resource;
}

std::array<OpTotals, kOpCount> op_totals() {
  Tallies& all = tallies();
  std::lock_guard<std::mutex> lock(all.mutex);
  std::array<OpTotals, kOpCount> totals = all.retired;
  for (const ThreadRuntime* r : all.live) {
    for (std::size_t i = 0; i < kOpCount; ++i) add(totals[i], r->tallies[i]);
  }
  return totals;
}

void reset_op_totals() {
  Tallies& all = tallies();
  std::lock_guard<std::mutex> lock(all.mutex);
  all.retired = {};
  for (ThreadRuntime* r : all.live) {
    for (OpTally& t : r->tallies) {
      t.calls.store(0, std::memory_order_relaxed);
      t.peak.store(0, std::memory_order_relaxed);
      t.spills.store(0, std::memory_order_relaxed);
    }
  }
}

std::array<OpTotals, kOpCount> thread_op_counts() {
  std::array<OpTotals, kOpCount> counts{};
  const ThreadRuntime& r = runtime();
  for (std::size_t i = 0; i < kOpCount; ++i) add(counts[i], r.tallies[i]);
  return counts;
}

std::array<OpTotals, kOpCount> open_op_region() {
  ThreadRuntime& r = runtime();
  std::array<OpTotals, kOpCount> at_entry{};
  Tallies& all = tallies();
  std::lock_guard<std::mutex> lock(all.mutex);
  for (std::size_t i = 0; i < kOpCount; ++i) {
    add(at_entry[i], r.tallies[i]);
    all.retired[i].peak = std::max(all.retired[i].peak, at_entry[i].peak);
    r.tallies[i].peak.store(0, std::memory_order_relaxed);
  }
  return at_entry;
}

void close_op_region(const std::array<OpTotals, kOpCount>& at_entry) noexcept {
  ThreadRuntime* r = tls_state.runtime;
  if (r == nullptr) return;  // the thread's runtime was destroyed meanwhile: its peaks retired
  for (std::size_t i = 0; i < kOpCount; ++i) {
    OpTally& t = r->tallies[i];
    if (at_entry[i].peak > t.peak.load(std::memory_order_relaxed)) {
      t.peak.store(at_entry[i].peak, std::memory_order_relaxed);
    }
  }
}

}  // namespace internal

ArenaStats arena_stats() { return thread_arena().stats(); }

}  // namespace corepy
