// The upstream resources that corepy's arenas and adaptors can be built over, by name, so that
// the configuration layer can swap the whole allocation strategy with one setting.
//
// Every resource here checks its requests the same way corepy's own resources do: an alignment
// that is not a power of two throws std::invalid_argument (std::pmr::new_delete_resource() and
// the standard pool resources instead pass it on, which is undefined behaviour), and a request
// that cannot be served throws corepy::AllocationError, a std::bad_alloc naming the resource and
// the size. The named ones live as long as the process and are never destroyed, so an arena that
// a thread or a static tears down late can still give its memory back; all are thread-safe,
// since one upstream is shared by every thread's arena.
//
//   "new_delete"  global operator new/delete (aligned overloads)
//   "pool"        a synchronized pool (std::pmr::synchronized_pool_resource) over "new_delete"
//   "mimalloc"    mimalloc's aligned allocation functions, called directly; the library is loaded
//                 on first use and does not replace the process's malloc
#ifndef COREPY_ALLOCATORS_UPSTREAM_RESOURCES_H_
#define COREPY_ALLOCATORS_UPSTREAM_RESOURCES_H_

#include <cstddef>
#include <memory>
#include <memory_resource>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "corepy/internal/require_cxx17.h"

namespace corepy {

inline constexpr absl::string_view kNewDeleteUpstream = "new_delete";
inline constexpr absl::string_view kPoolUpstream = "pool";
inline constexpr absl::string_view kMimallocUpstream = "mimalloc";

// The global operator new and delete, their aligned nothrow forms: a refusal becomes an
// AllocationError here, rather than whatever the throwing form does (sanitizer runtimes abort).
// Memory that comes back misaligned (a replacement operator new can get that wrong) is never
// handed out.
std::pmr::memory_resource* new_delete_upstream() noexcept;

// Where libmimalloc.so.2 cannot be loaded, every allocation throws AllocationError saying why
// (upstream_by_name reports it up front). Not for Valgrind runs: Valgrind takes over
// mimalloc's free, which it then sees freeing memory it never saw allocated.
std::pmr::memory_resource* mimalloc_upstream() noexcept;

// The process-wide pool over new_delete_upstream(). The first call builds it, which allocates:
// it may throw AllocationError.
std::pmr::memory_resource* pool_upstream();

// A std::pmr::synchronized_pool_resource behind the alignment check, with refusals turned into
// AllocationError. Small requests come from pools of fixed-size blocks, large ones go straight to
// the upstream. Building one takes a little memory from the upstream (so it may throw). The pool
// gives all its memory back to `upstream` when destroyed or released, deallocated or not, so it
// must outlive every user of its memory; `upstream` must outlive it.
class PoolUpstream final : public std::pmr::memory_resource {
 public:
  explicit PoolUpstream(std::pmr::memory_resource* upstream = new_delete_upstream(),
                        const std::pmr::pool_options& options = {});
  PoolUpstream(const PoolUpstream&) = delete;
  PoolUpstream& operator=(const PoolUpstream&) = delete;
  ~PoolUpstream() override = default;

  // Gives every byte back to the upstream; what was handed out must no longer be used.
  void release() { pool_.release(); }
  std::pmr::pool_options options() const { return pool_.options(); }
  std::pmr::memory_resource* upstream() const noexcept { return pool_.upstream_resource(); }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) noexcept override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }
  static std::pmr::memory_resource* checked(std::pmr::memory_resource* upstream);

  std::pmr::synchronized_pool_resource pool_;
};

std::unique_ptr<std::pmr::memory_resource> make_pool_upstream(
    std::pmr::memory_resource* upstream = new_delete_upstream(),
    const std::pmr::pool_options& options = {});

// The upstream called `name`, exactly as listed above. Anything else is InvalidArgument, with a
// message that quotes the name and lists the accepted ones; a named upstream that cannot work on
// this machine (mimalloc not installed) is Unavailable, saying why. Throws only as
// pool_upstream() may.
absl::StatusOr<std::pmr::memory_resource*> upstream_by_name(absl::string_view name);

// The accepted names, in the order the message lists them.
std::vector<absl::string_view> upstream_names();

}  // namespace corepy

#endif  // COREPY_ALLOCATORS_UPSTREAM_RESOURCES_H_
