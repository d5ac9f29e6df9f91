// Allocation cost of the arena against its anchors, in one run: the floor of a call through
// memory_resource* (a resource that returns a fixed pointer), std::pmr's monotonic and pool
// resources, glibc malloc/free, mimalloc (through corepy's upstream resource, and mi_malloc /
// mi_free called directly), LLVM's BumpPtrAllocator and protobuf's Arena (both called directly,
// through their concrete types, as the arena's own concrete path is). Each iteration makes
// kBatch allocations of one size and then frees them the way each allocator frees (reset,
// release, or one free per allocation). The run ends with the ratios the README quotes.
// bumpalo (Rust) cannot link here: tests/bench/bumpalo/run.sh builds the same loop from a copy
// of its repository and runs it right after this binary, in the same window.
//
// Each pointer is consumed by sink(), which makes the compiler produce it but, unlike
// benchmark::DoNotOptimize, does not clobber memory: an allocator whose fast path is inlined
// (the arena through its concrete type) keeps its bump pointer in a register across a batch, as
// it does inside a kernel. Calls through memory_resource* and to malloc are opaque either way.
#include <dlfcn.h>

#include <array>
#include <cstdlib>
#include <memory_resource>
#include <vector>

#include "allocators/arena_resource.h"
#include "allocators/upstream_resources.h"
#include "benchmark/benchmark.h"
#include "google/protobuf/arena.h"
#include "llvm/Support/Allocator.h"
#include "tests/bench/cycle.h"
#include "tests/bench/ratio_reporter.h"

namespace {

constexpr int kBatch = 256;
constexpr std::size_t kAlign = alignof(std::max_align_t);

inline void sink(void* p) { asm volatile("" : : "r"(p)); }

// Room for a whole batch, so the fast-path workloads never spill.
std::size_t batch_bytes(std::size_t size) { return kBatch * (size + kAlign) + 4096; }

void set_counters(benchmark::State& state, std::size_t size, int per_iteration = kBatch) {
  state.SetItemsProcessed(state.iterations() * per_iteration);
  state.SetBytesProcessed(state.iterations() * per_iteration * static_cast<int64_t>(size));
}

void BM_ArenaVirtual(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  corepy::ArenaResource arena(batch_bytes(size));
  std::pmr::memory_resource* resource = &arena;
  benchmark::DoNotOptimize(resource);  // keep the virtual call: the compiler may not see through
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) sink(resource->allocate(size, kAlign));
    arena.reset();
  }
  set_counters(state, size);
}

// The floor of every path through memory_resource*: a resource whose allocation returns the
// same pointer and does nothing else. What it costs is the virtual call and its return, which no
// resource called through a pointer can go below.
class FixedPointerResource final : public std::pmr::memory_resource {
 public:
  explicit FixedPointerResource(void* p) : p_(p) {}

 private:
  void* do_allocate(std::size_t, std::size_t) override { return p_; }
  void do_deallocate(void*, std::size_t, std::size_t) override {}
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }
  void* p_;
};

void BM_VirtualCallFloor(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  alignas(kAlign) static std::byte buffer[4096];
  FixedPointerResource fixed(buffer);
  std::pmr::memory_resource* resource = &fixed;
  benchmark::DoNotOptimize(resource);
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) sink(resource->allocate(size, kAlign));
    benchmark::ClobberMemory();  // as the others' reset: one per batch
  }
  set_counters(state, size);
}

void BM_ArenaConcrete(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  corepy::ArenaResource arena(batch_bytes(size));
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) sink(arena.allocate(size, kAlign));
    arena.reset();
  }
  set_counters(state, size);
}

void BM_Monotonic(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  std::vector<std::byte> buffer(batch_bytes(size));
  std::pmr::monotonic_buffer_resource monotonic(buffer.data(), buffer.size(),
                                                std::pmr::null_memory_resource());
  std::pmr::memory_resource* resource = &monotonic;
  benchmark::DoNotOptimize(resource);
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) sink(resource->allocate(size, kAlign));
    monotonic.release();
  }
  set_counters(state, size);
}

void BM_UnsynchronizedPool(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  std::pmr::unsynchronized_pool_resource pool;
  std::pmr::memory_resource* resource = &pool;
  benchmark::DoNotOptimize(resource);
  std::array<void*, kBatch> live{};
  for (auto _ : state) {
    for (void*& p : live) p = resource->allocate(size, kAlign);
    benchmark::DoNotOptimize(live.data());
    for (void* p : live) resource->deallocate(p, size, kAlign);
  }
  set_counters(state, size);
}

void BM_MallocFree(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  std::array<void*, kBatch> live{};
  for (auto _ : state) {
    for (void*& p : live) p = std::malloc(size);
    benchmark::DoNotOptimize(live.data());
    for (void* p : live) std::free(p);
  }
  set_counters(state, size);
}

// mimalloc through corepy's upstream resource (it is loaded with dlopen: linking Debian's
// libmimalloc would replace malloc itself, and the malloc anchor with it).
void BM_Mimalloc(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  std::pmr::memory_resource* resource = corepy::mimalloc_upstream();
  std::array<void*, kBatch> live{};
  for (auto _ : state) {
    for (void*& p : live) p = resource->allocate(size, kAlign);
    benchmark::DoNotOptimize(live.data());
    for (void* p : live) resource->deallocate(p, size, kAlign);
  }
  set_counters(state, size);
}

// LLVM's BumpPtrAllocator with a slab that holds a whole batch, so Reset() keeps it and no
// iteration calls malloc (as the arena's block).
void BM_LlvmBumpPtr(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  llvm::BumpPtrAllocatorImpl<llvm::MallocAllocator, std::size_t{2} << 20> bump;
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) sink(bump.Allocate(size, llvm::Align(kAlign)));
    bump.Reset();
  }
  set_counters(state, size);
}

// protobuf's Arena over an initial block that holds a whole batch (Reset() keeps it). Its
// allocation is out of line in libprotobuf; 8 is its natural alignment (16 costs it an
// over-allocation and an align), so it is asked for 8.
void BM_ProtobufArena(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  std::vector<char> block(batch_bytes(size) + 4096);
  google::protobuf::ArenaOptions options;
  options.initial_block = block.data();
  options.initial_block_size = block.size();
  google::protobuf::Arena arena(options);
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) sink(arena.AllocateAligned(size, 8));
    arena.Reset();
  }
  set_counters(state, size);
}

// mi_malloc and mi_free called directly (from the library loaded locally, as corepy's upstream
// does: linking Debian's libmimalloc would replace malloc itself, and the malloc anchor with it).
struct MiApi {
  void* (*malloc)(std::size_t) = nullptr;
  void (*free)(void*) = nullptr;
};
const MiApi& mi_api() {
  static const MiApi api = [] {
    MiApi a;
    void* lib = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
    if (lib != nullptr) {
      a.malloc = reinterpret_cast<void* (*)(std::size_t)>(dlsym(lib, "mi_malloc"));
      a.free = reinterpret_cast<void (*)(void*)>(dlsym(lib, "mi_free"));
    }
    return a;
  }();
  return api;
}

void BM_MiMallocDirect(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const MiApi& mi = mi_api();
  if (mi.malloc == nullptr || mi.free == nullptr) {
    state.SkipWithError("libmimalloc.so.2 (mi_malloc, mi_free) cannot be loaded");
    return;
  }
  std::array<void*, kBatch> live{};
  for (auto _ : state) {
    for (void*& p : live) p = mi.malloc(size);
    benchmark::DoNotOptimize(live.data());
    for (void* p : live) mi.free(p);
  }
  set_counters(state, size);
}

// Spill-heavy: a 4 KiB block and 1 MiB allocated per round in 64-byte pieces, so nearly all of
// it overflows to the upstream; the anchor is a monotonic resource with the same 4 KiB buffer.
constexpr std::size_t kSpillBlock = 4 << 10;
constexpr std::size_t kSpillRound = 1 << 20;
constexpr std::size_t kSpillPiece = 64;
constexpr int kSpillPieces = static_cast<int>(kSpillRound / kSpillPiece);

void BM_ArenaSpillHeavy(benchmark::State& state) {
  corepy::ArenaResource arena(kSpillBlock);
  std::pmr::memory_resource* resource = &arena;
  benchmark::DoNotOptimize(resource);
  for (auto _ : state) {
    for (int i = 0; i < kSpillPieces; ++i) {
      sink(resource->allocate(kSpillPiece, kAlign));
    }
    arena.reset();
  }
  set_counters(state, kSpillPiece, kSpillPieces);
}

void BM_MonotonicSpillHeavy(benchmark::State& state) {
  std::array<std::byte, kSpillBlock> buffer;
  std::pmr::monotonic_buffer_resource monotonic(buffer.data(), buffer.size());
  std::pmr::memory_resource* resource = &monotonic;
  benchmark::DoNotOptimize(resource);
  for (auto _ : state) {
    for (int i = 0; i < kSpillPieces; ++i) {
      sink(resource->allocate(kSpillPiece, kAlign));
    }
    monotonic.release();
  }
  set_counters(state, kSpillPiece, kSpillPieces);
}

BENCHMARK(BM_ArenaVirtual)->Arg(64)->Arg(4096);
BENCHMARK(BM_VirtualCallFloor)->Arg(64)->Arg(4096);
BENCHMARK(BM_ArenaConcrete)->Arg(64)->Arg(4096);
BENCHMARK(BM_Monotonic)->Arg(64)->Arg(4096);
BENCHMARK(BM_UnsynchronizedPool)->Arg(64)->Arg(4096);
BENCHMARK(BM_MallocFree)->Arg(64)->Arg(4096);
BENCHMARK(BM_Mimalloc)->Arg(64)->Arg(4096);
BENCHMARK(BM_MiMallocDirect)->Arg(64)->Arg(4096);
BENCHMARK(BM_LlvmBumpPtr)->Arg(64)->Arg(4096);
BENCHMARK(BM_ProtobufArena)->Arg(64)->Arg(4096);
BENCHMARK(BM_ArenaSpillHeavy);
using corepy::bench::BM_Cycle;
BENCHMARK(BM_Cycle);
BENCHMARK(BM_MonotonicSpillHeavy);

}  // namespace

int main(int argc, char** argv) {
  std::vector<corepy::bench::Comparison> comparisons;
  for (const char* size : {"64", "4096"}) {
    const std::string s = size;
    comparisons.push_back({"BM_ArenaVirtual/" + s, "BM_Monotonic/" + s, 0.7});
    // Context: the call itself, which bounds every resource called through a pointer.
    comparisons.push_back({"BM_ArenaVirtual/" + s, "BM_VirtualCallFloor/" + s, 0});
    // Cycles per allocation (tests/bench/cycle.h).
    comparisons.push_back({"BM_ArenaConcrete/" + s, "BM_Cycle", 0});
    comparisons.push_back({"BM_ArenaVirtual/" + s, "BM_Cycle", 0});
    comparisons.push_back({"BM_VirtualCallFloor/" + s, "BM_Cycle", 0});
    comparisons.push_back({"BM_Monotonic/" + s, "BM_VirtualCallFloor/" + s, 0});
    comparisons.push_back({"BM_ArenaConcrete/" + s, "BM_Monotonic/" + s, 0.7});
    comparisons.push_back({"BM_ArenaVirtual/" + s, "BM_MallocFree/" + s, 0.1});
    comparisons.push_back({"BM_ArenaConcrete/" + s, "BM_MallocFree/" + s, 0.1});
    comparisons.push_back({"BM_ArenaVirtual/" + s, "BM_UnsynchronizedPool/" + s, 1.0});
    comparisons.push_back({"BM_ArenaVirtual/" + s, "BM_Mimalloc/" + s, 1.0});
    comparisons.push_back({"BM_ArenaVirtual/" + s, "BM_MiMallocDirect/" + s, 1.0});
    comparisons.push_back({"BM_ArenaConcrete/" + s, "BM_LlvmBumpPtr/" + s, 1.0});
    comparisons.push_back({"BM_ArenaConcrete/" + s, "BM_ProtobufArena/" + s, 1.0});
  }
  comparisons.push_back({"BM_ArenaSpillHeavy", "BM_MonotonicSpillHeavy", 1.2});
  return corepy::bench::run_with_comparisons(argc, argv, std::move(comparisons));
}
