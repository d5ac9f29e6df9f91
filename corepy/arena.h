// Thread-local arena scopes. Each thread owns one ArenaResource, made on first use with the
// configured capacity and destroyed (returning everything to its upstream) when the thread
// exits. A scope — with_arena(f), or an ArenaScope object — remembers where the arena was and
// rewinds it on exit, by return or by exception, so a kernel's scratch lives exactly as long as
// the call that asked for it. Scopes nest; each rewinds to its own start.
//
// The scope's cost is a thread-local load and a marker save/restore, all inline.
#ifndef COREPY_COREPY_ARENA_H_
#define COREPY_COREPY_ARENA_H_

#include <utility>

#include "allocators/arena_resource.h"

namespace corepy {
namespace internal {
inline thread_local ArenaResource* tls_arena = nullptr;
ArenaResource& make_thread_arena();
}  // namespace internal

// The calling thread's arena, made on first use.
inline ArenaResource& thread_arena() {
  ArenaResource* arena = internal::tls_arena;
  if (__builtin_expect(arena != nullptr, 1)) return *arena;
  return internal::make_thread_arena();
}

// RAII form of with_arena, for code that cannot pass a lambda.
class ArenaScope {
 public:
  ArenaScope() : arena_(thread_arena()), start_(arena_.mark()) {}
  ArenaScope(const ArenaScope&) = delete;
  ArenaScope& operator=(const ArenaScope&) = delete;
  ~ArenaScope() { arena_.rewind(start_); }

  ArenaResource& arena() const { return arena_; }

 private:
  ArenaResource& arena_;
  Marker start_;
};

// Calls f(ArenaResource&) and returns what f returns; the arena is rewound on exit.
template <class F>
decltype(auto) with_arena(F&& f) {
  ArenaScope scope;
  return std::forward<F>(f)(scope.arena());
}

// Stats of the calling thread's arena.
ArenaStats arena_stats();

}  // namespace corepy

#endif  // COREPY_COREPY_ARENA_H_
