// The allocators that configuration can name, and the way a user adds their own: dependency
// injection of memory for every op, without touching the kernels.
//
// Built in:
//   arena                     the calling thread's ArenaResource, rewound after every op; takes
//                             size=, max_size= (self-tuning cap) and upstream=<spec>
//   system (or new_delete)    global operator new/delete, no arena
//   pool                      a process-wide synchronized pool over new/delete
//   mimalloc                  mimalloc (loaded on first use)
//   stats(<spec>)             a StatsResource over <spec>; stats(<spec>, stacks=true) records
//                             the stack of each live allocation for its leak_report()
//   limit(<spec>, max=<size>) a LimitResource over <spec>
//   trace(<spec>, file=<path>) a TraceResource over <spec>: an allocation trace in <path>
//                             (allocators/trace_resource.h); a path that cannot be written is
//                             refused with the OS error
//
// Anything that wraps `arena`, directly or not, is built once per thread, like the arena; the
// rest is built once per configuration and shared by all threads, so it must be thread-safe
// (the built-ins are). An arena's upstream is always shared and may not contain `arena`.
#ifndef COREPY_COREPY_REGISTRY_H_
#define COREPY_COREPY_REGISTRY_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <memory_resource>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "corepy/allocator_spec.h"
#include "corepy/internal/require_cxx17.h"

namespace corepy {

class TraceFile;

// What a factory is given: the spec node it is built for (its parameters, as text) and the
// resource built for the allocator it wraps, if the spec gives one.
struct AllocatorArgs {
  const AllocatorSpec* spec = nullptr;
  std::pmr::memory_resource* inner = nullptr;

  // Parameter `key` as a byte size ("64KiB"), or `fallback` when absent.
  absl::StatusOr<std::size_t> size_param(absl::string_view key, std::size_t fallback) const;
  // Parameter `key` as `true` or `false`, or `fallback` when absent.
  absl::StatusOr<bool> bool_param(absl::string_view key, bool fallback) const;
};

// Returns the resource to use. Return null or throw to refuse; corepy then reports it once and
// falls back to the default strategy, so no op runs without memory.
using AllocatorFactory =
    std::function<std::shared_ptr<std::pmr::memory_resource>(const AllocatorArgs&)>;

// Makes `name` selectable by configuration, like a built-in. A user allocator may wrap one
// other (`mine(arena)`, in which case it is built per thread) and take any parameters. Names are
// words of letters, digits and '_' starting with a letter; a built-in's name or one already
// registered is refused (AlreadyExists).
absl::Status register_allocator(absl::string_view name, AllocatorFactory factory);

// Every name configuration accepts, sorted.
std::vector<std::string> allocator_names();

// Checks a parsed spec against the registry: known names, what each accepts, at most one
// `arena`. The message names the offending part and what is accepted.
absl::Status validate_allocator_spec(const AllocatorSpec& spec);

namespace internal {

// One configuration's strategy, shared by every thread that uses it.
struct Strategy {
  AllocatorSpec spec;
  bool uses_arena = false;
  std::size_t arena_size = 0;
  std::size_t arena_max_size = 0;  // self-tuning cap; 0: off
  // The shared part: the arena's upstream when uses_arena, else the resource ops use.
  std::pmr::memory_resource* shared = nullptr;
  std::vector<std::shared_ptr<std::pmr::memory_resource>> owned;
  std::shared_ptr<TraceFile> trace;  // the trace file when the spec has trace(...)

  // What a thread's (or an op's) arena takes its block and spills from: `shared` when the
  // strategy has an arena, else new/delete (the plain arena every thread keeps).
  std::pmr::memory_resource* arena_upstream() const;
};

// The first `trace` node of a spec, or null; and the file it names, opened.
const AllocatorSpec* find_trace(const AllocatorSpec& spec);
absl::StatusOr<std::shared_ptr<TraceFile>> open_trace_file(const AllocatorSpec& trace);

// The `arena` node of a spec (a validated spec has at most one), or null.
const AllocatorSpec* find_arena(const AllocatorSpec& spec);

// Builds the shared part of a validated spec. `arena_size` / `arena_max_size` apply unless the
// spec's arena says otherwise.
absl::StatusOr<std::shared_ptr<const Strategy>> make_strategy(const AllocatorSpec& spec,
                                                              std::size_t arena_size,
                                                              std::size_t arena_max_size);

// The per-thread part: the resources that wrap `arena` (ownership in `owned`); returns the
// resource ops use on this thread.
// Called after every successful register_allocator(), without any lock held: the runtime
// then puts in force a configured allocator that named it before it existed.
using RegistrationListener = void (*)(absl::string_view name);
void set_registration_listener(RegistrationListener listener);

absl::StatusOr<std::pmr::memory_resource*> build_thread_chain(
    const Strategy& strategy, std::pmr::memory_resource* arena,
    std::vector<std::shared_ptr<std::pmr::memory_resource>>& owned);

}  // namespace internal
}  // namespace corepy

#endif  // COREPY_COREPY_REGISTRY_H_
