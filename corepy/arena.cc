#include "corepy/arena.h"

#include <memory>

#include "corepy/config.h"

namespace corepy {
namespace internal {

namespace {

// Owns the thread's arena; its destructor runs at thread exit. tls_arena is what the fast path
// reads, and is cleared first so nothing can reach the arena while it is being destroyed.
struct ThreadArenaOwner {
  std::unique_ptr<ArenaResource> arena;
  ~ThreadArenaOwner() { tls_arena = nullptr; }
};

}  // namespace

ArenaResource& make_thread_arena() {
  thread_local ThreadArenaOwner owner;
  owner.arena = std::make_unique<ArenaResource>(arena_capacity_from_env());
  tls_arena = owner.arena.get();
  return *owner.arena;
}

}  // namespace internal

ArenaStats arena_stats() { return thread_arena().stats(); }

}  // namespace corepy
