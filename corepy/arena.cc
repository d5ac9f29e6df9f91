#include "corepy/arena.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "allocators/upstream_resources.h"
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

// Everything corepy keeps per thread. Destroyed at thread exit, which returns every arena's
// memory (spills included) to its upstream.
struct ThreadRuntime {
  std::shared_ptr<const Resolved> config;  // keeps the strategy and its upstreams alive
  Scratch main;
  std::array<std::unique_ptr<Scratch>, kOpCount> ops;

  ~ThreadRuntime() {
    tls_state.arena = nullptr;
    ops = {};
    main = Scratch{};
  }
};

thread_local ThreadRuntime runtime;
thread_local bool runtime_destroyed = false;  // trivially destructible: still readable

struct DestroyedMarker {
  ~DestroyedMarker() { runtime_destroyed = true; }
};

void report_once(const std::string& message) {
  static std::mutex* mutex = new std::mutex;
  static std::vector<std::string>* reported = new std::vector<std::string>;
  std::lock_guard<std::mutex> lock(*mutex);
  for (const std::string& m : *reported) {
    if (m == message) return;
  }
  reported->push_back(message);
  std::fprintf(stderr, "%s\n", message.c_str());
}

Scratch make_scratch(const Strategy& strategy, std::size_t capacity) {
  Scratch s;
  std::pmr::memory_resource* upstream =
      strategy.uses_arena ? strategy.shared : *upstream_by_name(kNewDeleteUpstream);
  s.arena = std::make_unique<ArenaResource>(capacity, upstream);
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
  return s;
}

// (Re)builds the thread's runtime for the configuration in force.
ArenaResource& rebuild() {
  if (runtime_destroyed) {
    std::fprintf(stderr,
                 "corepy: fatal: a thread used its arena after the thread's corepy state was "
                 "destroyed (from a thread_local destructor that ran later)\n");
    std::abort();
  }
  thread_local DestroyedMarker marker;  // constructed before `runtime`, so destroyed after it
  (void)marker;
  std::shared_ptr<const Resolved> config = resolved();
  Scratch main = make_scratch(*config->strategy, config->strategy->arena_size);  // may throw
  ThreadRuntime& r = runtime;
  r.ops = {};
  r.main = std::move(main);
  r.config = std::move(config);
  tls_state.arena = r.main.arena.get();
  tls_state.generation = r.config->generation;
  return *r.main.arena;
}

bool holds_nothing(const ArenaResource& arena) {
  return arena.used() == 0 && arena.overflow_bytes() == 0;
}

}  // namespace

ArenaResource& make_thread_arena() {
  if (tls_state.arena != nullptr) return *tls_state.arena;
  return rebuild();
}

ArenaResource& enter_outermost_slow() {
  ThreadState& t = tls_state;
  ArenaResource* arena = t.arena;
  if (arena == nullptr) {
    arena = &rebuild();
  } else if (t.depth == 0 && t.generation != config_generation() && holds_nothing(*arena)) {
    // A new configuration, and nothing lives in the old arena: switch. (An arena that still
    // holds memory allocated outside any scope is kept until it is empty.)
    arena = &rebuild();
  }
  ++t.depth;
  return *arena;
}

void after_spilling_scope(ArenaResource& arena, std::size_t peak) noexcept {
  ThreadRuntime& r = runtime;
  if (r.config == nullptr || &arena != r.main.arena.get()) return;
  const std::size_t max_size = r.config->strategy->arena_max_size;
  if (max_size <= arena.capacity()) return;
  // Room for everything the scope held at its peak, rounded up to a power of two.
  std::size_t want = std::size_t{1} << 16;
  while (want < peak && want < max_size) want *= 2;
  if (want > max_size) want = max_size;
  if (want <= arena.capacity()) return;
  try {
    (void)arena.reserve(want);
  } catch (...) {
    // The upstream refused a larger block: keep the one we have, and keep spilling.
  }
}

OpScratch op_scratch(Op op) {
  ThreadRuntime& r = runtime;
  const std::size_t i = static_cast<std::size_t>(op);
  const std::size_t size = r.config->settings.op_arena_sizes[i];
  if (size == 0 || !r.config->strategy->uses_arena) {
    return OpScratch{r.main.arena.get(), r.main.resource};
  }
  if (r.ops[i] == nullptr) {
    r.ops[i] = std::make_unique<Scratch>(make_scratch(*r.config->strategy, size));
  }
  return OpScratch{r.ops[i]->arena.get(), r.ops[i]->resource};
}

}  // namespace internal

ArenaStats arena_stats() { return thread_arena().stats(); }

}  // namespace corepy
