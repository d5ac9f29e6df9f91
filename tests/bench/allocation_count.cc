// Instructions per allocation, counted by callgrind: a fixed number of rounds of the
// allocators benchmark's loop (kBatch allocations of 64 bytes at alignment 16, then a reset),
// for one allocator named on the command line. Run it at two round counts and divide the
// difference by the allocations between them, so that start-up cancels out:
//
//   bazel build -c opt --copt=-DNVALGRIND --copt=-Wno-unused-parameter --platform_suffix=nvg
//       //tests/bench:allocation_count
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null allocation_count arena 1000
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null allocation_count arena 5000
//
// -DNVALGRIND keeps the arena on its production path: otherwise it sees Valgrind and reports
// every allocation to it (allocators/internal/memory_annotations.h). tests/bench/count.sh does
// all of that for every allocator here.
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory_resource>
#include <vector>

#include "allocators/arena_resource.h"
#include "google/protobuf/arena.h"
#include "llvm/Support/Allocator.h"
#include "tests/bench/count_args.h"

namespace {

constexpr int kBatch = 256;
constexpr std::size_t kSize = 64;
constexpr std::size_t kAlign = 16;
constexpr std::size_t kRoom = kBatch * (kSize + kAlign) + 4096;

inline void sink(void* p) { asm volatile("" : : "r"(p)); }

template <class Allocate, class Reset>
__attribute__((noinline)) void rounds(long n, Allocate allocate, Reset reset) {
  for (long r = 0; r < n; ++r) {
    for (int i = 0; i < kBatch; ++i) sink(allocate());
    reset();
  }
}

}  // namespace

int main(int argc, char** argv) {
  long n = 0;
  if (!corepy::bench::parse_count_args(argc, argv,
                                       "arena|arena_virtual|monotonic_virtual|llvm|protobuf", n)) {
    return 2;
  }
  const char* which = argv[1];
  if (std::strcmp(which, "arena") == 0) {
    corepy::ArenaResource arena(kRoom);
    rounds(
        n, [&] { return arena.allocate(kSize, kAlign); }, [&] { arena.reset(); });
  } else if (std::strcmp(which, "arena_virtual") == 0) {
    corepy::ArenaResource arena(kRoom);
    std::pmr::memory_resource* r = &arena;
    asm volatile("" : "+r"(r));
    rounds(
        n, [&] { return r->allocate(kSize, kAlign); }, [&] { arena.reset(); });
  } else if (std::strcmp(which, "monotonic_virtual") == 0) {
    std::vector<std::byte> buffer(kRoom);
    std::pmr::monotonic_buffer_resource monotonic(buffer.data(), buffer.size(),
                                                  std::pmr::null_memory_resource());
    std::pmr::memory_resource* r = &monotonic;
    asm volatile("" : "+r"(r));
    rounds(
        n, [&] { return r->allocate(kSize, kAlign); }, [&] { monotonic.release(); });
  } else if (std::strcmp(which, "llvm") == 0) {
    llvm::BumpPtrAllocatorImpl<llvm::MallocAllocator, std::size_t{2} << 20> bump;
    rounds(
        n, [&] { return bump.Allocate(kSize, llvm::Align(kAlign)); }, [&] { bump.Reset(); });
  } else if (std::strcmp(which, "protobuf") == 0) {
    std::vector<char> block(kRoom + 4096);
    google::protobuf::ArenaOptions options;
    options.initial_block = block.data();
    options.initial_block_size = block.size();
    google::protobuf::Arena arena(options);
    rounds(
        n, [&] { return arena.AllocateAligned(kSize, 8); }, [&] { arena.Reset(); });
  } else {
    std::fprintf(stderr, "%s: unknown allocator \"%s\"\n", argv[0], which);
    return 2;
  }
  return 0;
}
