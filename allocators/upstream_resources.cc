#include "allocators/upstream_resources.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/config.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "allocators/allocation_error.h"

#ifdef ABSL_HAVE_THREAD_SANITIZER
#include <sanitizer/tsan_interface.h>
#endif

namespace corepy {
namespace {

// `alignment` is a power of two, and `n` small enough not to wrap.
std::size_t round_up(std::size_t n, std::size_t alignment) {
  return (n + alignment - 1) & ~(alignment - 1);
}

bool is_aligned(const void* p, std::size_t alignment) {
  return (reinterpret_cast<std::uintptr_t>(p) & (alignment - 1)) == 0;
}

// Static storage whose destructor never runs: the named upstreams must stay usable while other
// statics and exiting threads give memory back, whatever the order of destruction.
template <class T>
class NoDestructor {
 public:
  template <class... Args>
  explicit NoDestructor(Args&&... args) {
    new (storage_) T(std::forward<Args>(args)...);
  }
  T* get() { return std::launder(reinterpret_cast<T*>(storage_)); }

 private:
  alignas(T) unsigned char storage_[sizeof(T)];
};

class NewDeleteResource final : public std::pmr::memory_resource {
  static constexpr const char* kName = "corepy::new_delete_upstream";
  // A replacement operator new may misalign a few small sizes at large alignments: mimalloc
  // 2.0.9 does (microsoft/mimalloc#700), and Debian's libmimalloc.so replaces operator new in
  // every process that links it. Past its small-object sizes it aligns correctly, so a
  // misaligned block is given back and the request made again at this size.
  static constexpr std::size_t kRetryBytes = 4096;

  // Always the aligned overloads, whatever the alignment: one form to allocate and to
  // deallocate, whichever path a request took.
  static void* new_aligned(std::size_t bytes, std::size_t alignment) noexcept {
    return ::operator new (bytes, std::align_val_t{alignment}, std::nothrow);
  }
  static void delete_aligned(void* p, std::size_t alignment) noexcept {
    ::operator delete (p, std::align_val_t{alignment});  // unsized: a retry took more bytes
  }

  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    if (!is_valid_alignment(alignment)) throw_bad_alignment(kName, alignment);
    if (!fits_in_address_space(bytes, alignment)) {
      throw_allocation_error(kName, bytes, alignment,
                             "with its alignment, larger than any object can be");
    }
    void* p = new_aligned(bytes, alignment);
    if (p != nullptr && !is_aligned(p, alignment)) {
      delete_aligned(p, alignment);
      p = new_aligned(std::max(bytes, kRetryBytes), alignment);
      if (p != nullptr && !is_aligned(p, alignment)) {
        delete_aligned(p, alignment);
        throw_allocation_error(kName, bytes, alignment,
                               "the global operator new returns misaligned memory");
      }
    }
    if (p == nullptr) throw_allocation_error(kName, bytes, alignment, "operator new refused");
    return p;
  }
  void do_deallocate(void* p, std::size_t /*bytes*/, std::size_t alignment) noexcept override {
    delete_aligned(p, alignment);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }
};

// mimalloc, loaded on first use with dlopen(RTLD_LOCAL) rather than linked. Debian's
// libmimalloc.so is built to replace malloc and operator new: linked, it would become the
// allocator of every process that links corepy, whichever upstream that process chose (and
// mimalloc 2.0.9's aligned allocation is wrong for some sizes, microsoft/mimalloc#700). Loaded
// locally, only this resource uses it. Needs the runtime library only, not libmimalloc-dev.
struct MimallocApi {
  void* (*malloc_aligned_at)(std::size_t size, std::size_t alignment, std::size_t offset) = nullptr;
  void (*free)(void* p) = nullptr;
  std::string error;  // why it is not available; empty when it is
};

const MimallocApi& mimalloc_api() {
  static const MimallocApi* const api = [] {
    auto* a = new MimallocApi;
    void* library = nullptr;
    for (const char* name : {"libmimalloc.so.2", "libmimalloc.so"}) {
      library = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (library != nullptr) break;
    }
    if (library == nullptr) {
      const char* why = dlerror();
      a->error = absl::StrCat("cannot load mimalloc (libmimalloc.so.2): ",
                              why != nullptr ? why : "unknown error");
      return a;
    }
    // Never dlclose'd: the resource lives as long as the process.
    // mi_malloc_aligned misaligns some small sizes at alignments of 256 and more in mimalloc
    // 2.0.9 (microsoft/mimalloc#700); the _at form takes a path that does not.
    a->malloc_aligned_at =
        reinterpret_cast<decltype(a->malloc_aligned_at)>(dlsym(library, "mi_malloc_aligned_at"));
    a->free = reinterpret_cast<decltype(a->free)>(dlsym(library, "mi_free"));
    if (a->malloc_aligned_at == nullptr || a->free == nullptr) {
      a->malloc_aligned_at = nullptr;
      a->free = nullptr;
      a->error = "the loaded libmimalloc lacks mi_malloc_aligned_at or mi_free";
    }
    return a;
  }();
  return *api;
}

// ThreadSanitizer cannot see mimalloc's own synchronization (the system library is not
// instrumented), so memory that one thread freed and another got back would look like a race
// between their writes. Under TSan, each deallocation releases, and each allocation acquires,
// every 4 KiB window its block touches: ordered exactly where memory was handed over.
[[maybe_unused]] void tsan_hand_over(void* p, std::size_t bytes, bool release) {
#ifdef ABSL_HAVE_THREAD_SANITIZER
  constexpr std::uintptr_t kWindow = 4096;
  const std::uintptr_t first = reinterpret_cast<std::uintptr_t>(p) & ~(kWindow - 1);
  const std::uintptr_t last =
      (reinterpret_cast<std::uintptr_t>(p) + (bytes == 0 ? 0 : bytes - 1)) & ~(kWindow - 1);
  for (std::uintptr_t w = first;; w += kWindow) {
    if (release) {
      __tsan_release(reinterpret_cast<void*>(w));
    } else {
      __tsan_acquire(reinterpret_cast<void*>(w));
    }
    if (w == last) break;
  }
#else
  static_cast<void>(p);
  static_cast<void>(bytes);
  static_cast<void>(release);
#endif
}

class MimallocResource final : public std::pmr::memory_resource {
  static constexpr const char* kName = "corepy::mimalloc_upstream";

  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    if (!is_valid_alignment(alignment)) throw_bad_alignment(kName, alignment);
    if (!fits_in_address_space(bytes, alignment)) {
      throw_allocation_error(kName, bytes, alignment,
                             "with its alignment, larger than any object can be");
    }
    const MimallocApi& mi = mimalloc_api();
    if (mi.malloc_aligned_at == nullptr) throw_allocation_error(kName, bytes, alignment, mi.error);
    void* p = mi.malloc_aligned_at(bytes, alignment, 0);
    if (p == nullptr) throw_allocation_error(kName, bytes, alignment, "mimalloc refused");
    tsan_hand_over(p, bytes, /*release=*/false);
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t) noexcept override {
    tsan_hand_over(p, bytes, /*release=*/true);
    mimalloc_api().free(p);  // only reached for memory it gave, so it is loaded
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }
};

constexpr const char* kPoolName = "corepy::PoolUpstream";

absl::Status mimalloc_status() {
  const std::string& error = mimalloc_api().error;
  return error.empty() ? absl::OkStatus() : absl::UnavailableError(error);
}

struct NamedUpstream {
  absl::string_view name;
  std::pmr::memory_resource* (*get)();
  absl::Status (*status)();  // whether it can serve on this machine; null: always
};

// Adding an upstream: a function above, a name in the header, a line here.
constexpr NamedUpstream kUpstreams[] = {
    {kNewDeleteUpstream, &new_delete_upstream, nullptr},
    {kPoolUpstream, &pool_upstream, nullptr},
    {kMimallocUpstream, &mimalloc_upstream, &mimalloc_status},
};

}  // namespace

std::pmr::memory_resource* new_delete_upstream() noexcept {
  static NoDestructor<NewDeleteResource> resource;
  return resource.get();
}

std::pmr::memory_resource* mimalloc_upstream() noexcept {
  static NoDestructor<MimallocResource> resource;
  return resource.get();
}

std::pmr::memory_resource* pool_upstream() {
  // The first call builds the pool, which takes its bookkeeping from new_delete_upstream().
  static NoDestructor<PoolUpstream> resource(new_delete_upstream());
  return resource.get();
}

// Checked before the pool is built: building it already takes memory from the upstream.
std::pmr::memory_resource* PoolUpstream::checked(std::pmr::memory_resource* upstream) {
  if (upstream == nullptr) {
#ifdef ABSL_HAVE_EXCEPTIONS
    throw std::invalid_argument(std::string(kPoolName) + ": the upstream resource is null");
#else
    std::fprintf(stderr, "corepy: fatal: %s: the upstream resource is null\n", kPoolName);
    std::abort();
#endif
  }
  return upstream;
}

PoolUpstream::PoolUpstream(std::pmr::memory_resource* upstream,
                           const std::pmr::pool_options& options)
    : pool_(options, checked(upstream)) {}

// libstdc++'s pool resources (GCC 12) serve a request from the smallest pool whose blocks hold
// max(bytes, alignment), and a pool's blocks are only as aligned as their size allows: 33 bytes
// at alignment 32 comes from 48-byte blocks, 16-aligned. Asking for a multiple of the alignment
// picks a pool whose blocks are aligned enough.
void* PoolUpstream::do_allocate(std::size_t bytes, std::size_t alignment) {
  if (!is_valid_alignment(alignment)) throw_bad_alignment(kPoolName, alignment);
  if (!fits_in_address_space(bytes, alignment)) {
    throw_allocation_error(kPoolName, bytes, alignment,
                           "with its alignment, larger than any object can be");
  }
  const std::size_t rounded = round_up(bytes, alignment);
#ifdef ABSL_HAVE_EXCEPTIONS
  try {
    return pool_.allocate(rounded, alignment);
  } catch (const AllocationError&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw_allocation_error(kPoolName, bytes, alignment, "the pool's upstream refused");
  }
#else
  return pool_.allocate(rounded, alignment);
#endif
}

void PoolUpstream::do_deallocate(void* p, std::size_t bytes, std::size_t alignment) noexcept {
  pool_.deallocate(p, round_up(bytes, alignment), alignment);
}

std::unique_ptr<std::pmr::memory_resource> make_pool_upstream(
    std::pmr::memory_resource* upstream, const std::pmr::pool_options& options) {
  return std::make_unique<PoolUpstream>(upstream, options);
}

absl::StatusOr<std::pmr::memory_resource*> upstream_by_name(absl::string_view name) {
  for (const NamedUpstream& u : kUpstreams) {
    if (u.name != name) continue;
    if (u.status != nullptr) {
      if (absl::Status s = u.status(); !s.ok()) return s;
    }
    return u.get();
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown upstream resource \"",
                                                 absl::CEscape(name), "\"; the accepted names are ",
                                                 absl::StrJoin(upstream_names(), ", ")));
}

std::vector<absl::string_view> upstream_names() {
  std::vector<absl::string_view> names;
  for (const NamedUpstream& u : kUpstreams) names.push_back(u.name);
  return names;
}

}  // namespace corepy
