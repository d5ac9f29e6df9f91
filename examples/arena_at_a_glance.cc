#include <cstring>
#include <memory_resource>
#include <vector>

#include "allocators/arena_resource.h"  // //allocators
#include "corepy/arena.h"               // //corepy
#include "ops/reduce.h"                 // //ops

int main() {
  std::vector<float> x = {1, 2, 3};

  // An arena of your own: 64 KiB block from the default resource; spills go there too.
  corepy::ArenaResource arena(64 << 10);
  std::pmr::vector<float> scratch(x.begin(), x.end(), &arena);  // any pmr container
  corepy::Marker m = arena.mark();
  void* block = arena.allocate(4096, 64);  // inline fast path when the type is known
  std::memset(block, 0, 4096);
  arena.rewind(m);                       // frees everything after m, spills included
  corepy::ArenaStats s = arena.stats();  // used, capacity, peak, overflow_count, overflow_bytes
  if (s.used >= 4096 || s.peak < 4096 || s.overflow_count != 0) return 1;

  // The calling thread's arena (capacity COREPY_ARENA_SIZE, default 1 MiB), rewound on exit
  // from the scope, by return or by exception; scopes nest:
  float total = corepy::with_arena([&](corepy::ArenaResource& a) {
    std::pmr::vector<float> tmp(x.begin(), x.end(), &a);
    return corepy::ops::sum_f32(tmp);
  });
  if (total != 6) return 1;
  {
    corepy::ArenaScope scope;  // the same, for code that cannot pass a lambda
    std::pmr::vector<float> tmp(1000, 0.0f, &scope.arena());
    corepy::ScopeStats st = scope.stats();  // peak, spills, spill_bytes inside this scope
    if (st.peak < 1000 * sizeof(float) || st.spills != 0) return 1;
  }
  corepy::ArenaStats t = corepy::arena_stats();  // the calling thread's arena
  if (t.used != 0) return 1;                      // every scope rewound it
  return 0;
}
