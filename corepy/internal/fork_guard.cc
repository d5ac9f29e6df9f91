#include "corepy/internal/fork_guard.h"

#include <pthread.h>

#include <array>
#include <cstddef>
#include <cstdio>
#include <cstdlib>

namespace corepy::internal {
namespace {

// corepy has a handful of process-wide mutexes; room for a few more.
constexpr std::size_t kMaxGuarded = 8;

struct Guarded {
  std::mutex registration;  // held across fork() too, so the list cannot change meanwhile
  std::array<std::mutex*, kMaxGuarded> mutexes{};
  std::size_t count = 0;
};

Guarded& guarded() {
  static Guarded* g = new Guarded;  // never destroyed: a fork may come during static destruction
  return *g;
}

void lock_all() {
  Guarded& g = guarded();
  g.registration.lock();
  for (std::size_t i = 0; i < g.count; ++i) g.mutexes[i]->lock();
}

void unlock_all() {
  Guarded& g = guarded();
  for (std::size_t i = g.count; i-- > 0;) g.mutexes[i]->unlock();
  g.registration.unlock();
}

}  // namespace

void hold_across_fork(std::mutex& mutex) {
  static const bool registered = [] {
    (void)guarded();
    if (pthread_atfork(&lock_all, &unlock_all, &unlock_all) != 0) {
      std::fprintf(stderr, "corepy: cannot register fork handlers; fork() is not made safe\n");
      return false;
    }
    return true;
  }();
  if (!registered) return;
  Guarded& g = guarded();
  std::lock_guard<std::mutex> lock(g.registration);
  if (g.count == kMaxGuarded) {
    std::fprintf(stderr, "corepy: fatal: more than %zu mutexes to hold across fork()\n",
                 kMaxGuarded);
    std::abort();
  }
  g.mutexes[g.count++] = &mutex;
}

}  // namespace corepy::internal
