// Configuration of corepy's runtime: which allocator op scratch comes from, how large the
// thread arenas are, per-op arena sizes and debug logging; swapped without recompiling.
//
// Sources, highest first:
//   1. code:        corepy::configure(options)
//   2. Abseil flags: --corepy_allocator, --corepy_arena_size, --corepy_arena_max_size,
//                    --corepy_op_arena_sizes, --corepy_log, --corepy_arena_shrink_after,
//                    --corepy_worker_spin, in C++ binaries that link the opt-in target
//                    //corepy:flags (once the program has parsed its flags).
//                    The libraries define no flag: flags belong to binaries, and two copies of
//                    a library that defined them could not be loaded into one process.
//   3. environment: COREPY_ALLOCATOR, COREPY_ARENA_SIZE, COREPY_ARENA_MAX_SIZE,
//                    COREPY_OP_ARENA_SIZES, COREPY_LOG, COREPY_ARENA_SHRINK_AFTER,
//                    COREPY_WORKER_SPIN
//   4. defaults:    allocator "arena", arena size 1 MiB, no self-tuning, no per-op sizes, no log,
//                    shrink after 64 quiet scopes (only a self-tuned block ever shrinks),
//                    workers spin 50us after a split op (ops::kWorkerSpin)
//
// A bad value in a flag or the environment is named once on stderr, with what was wrong, what
// is accepted and which value stays in force; the runtime goes on. That includes an arena size
// (or an op's) that the arena's upstream cannot serve: the calling thread's arenas are built
// once before a configuration is put in force. configure() checks everything first and
// returns the error instead, changing nothing. An allocator a flag or the environment names
// before it is registered is put in force when register_allocator() registers it.
//
// Settings take effect on each thread at its next outermost scope (corepy/arena.h). A thread
// whose arena still holds memory allocated outside any scope keeps its configuration until
// that memory is given back (said once on stderr): the arena cannot be replaced under it.
//
// Allocator factories (corepy/registry.h) run without any corepy lock held: they may read
// settings() and run ops; a configure() from inside one returns FailedPrecondition. The locks
// are held across fork(), so a child never inherits one taken by another thread.
#ifndef COREPY_COREPY_CONFIG_H_
#define COREPY_COREPY_CONFIG_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "corepy/byte_size.h"  // parse_byte_size, part of this header's contract
#include "corepy/internal/require_cxx17.h"
#include "corepy/op_table.h"
#include "ops/parallel_options.h"

namespace corepy {

// What code sets; fields left empty keep what the lower sources say.
struct Options {
  std::optional<std::string> allocator;      // a spec (corepy/allocator_spec.h): "stats(arena)"
  std::optional<std::size_t> arena_size;     // each thread arena's block
  std::optional<std::size_t> arena_max_size;  // self-tuning: grow toward the peak up to this; 0 off
  std::optional<std::string> op_arena_sizes;  // "sum_f32=64KiB,mean_f32=256KiB"
  std::optional<bool> debug_log;              // one line per dispatch on stderr
  // The shrink policy (corepy/memory_stats.h): a self-tuned block halves after this many
  // outermost scopes in a row that used under a quarter of it; 0: never.
  std::optional<std::uint64_t> arena_shrink_after;
  // After an op that split over oneTBB's threads, the workers spin this long waiting for the
  // next one (ops::ParallelOptions::worker_spin says what for, and what it costs); 0: they
  // sleep at once, as oneTBB's do. From 0 to ops::kMaxWorkerSpin (1 s).
  std::optional<std::chrono::nanoseconds> worker_spin;
};

// The settings in force.
struct Settings {
  std::string allocator = "arena";
  std::size_t arena_size = std::size_t{1} << 20;
  std::size_t arena_max_size = 0;
  std::array<std::size_t, kOpCount> op_arena_sizes{};  // 0: the op uses the thread arena
  bool debug_log = false;
  std::uint64_t arena_shrink_after = 64;
  std::chrono::nanoseconds worker_spin = ops::kWorkerSpin;
};

// Checks every field, then applies them all over earlier configure() calls; on error returns
// it (naming the bad field and value) and changes nothing.
absl::Status configure(const Options& options);

// Forgets every configure() and reads the flags and the environment again. Throws
// std::bad_alloc only if not even the defaults can be built.
void reset_configuration();

Settings settings();

// "sum_f32=64KiB, mean_f32=256KiB" -> sizes by op; names an unknown op or a bad size.
absl::StatusOr<std::array<std::size_t, kOpCount>> parse_op_arena_sizes(absl::string_view text);

// arena_shrink_after's values: a count from 0 to kMaxShrinkAfter, in decimal.
inline constexpr std::uint64_t kMaxShrinkAfter = std::uint64_t{1} << 32;
absl::StatusOr<std::uint64_t> parse_shrink_after(absl::string_view text);

// worker_spin's values: a duration from 0 to ops::kMaxWorkerSpin, in Abseil's syntax with a
// unit ("50us", "0.2ms", "1s"; "0" alone needs none).
absl::StatusOr<std::chrono::nanoseconds> parse_worker_spin(absl::string_view text);
// The same duration as text parse_worker_spin() reads back ("50us").
std::string format_worker_spin(std::chrono::nanoseconds spin);

// COREPY_LOG's values, in any case: "debug" -> true; "off", "none", "0" or "" -> false.
absl::StatusOr<bool> parse_log_level(absl::string_view text);

namespace internal {
struct Strategy;

// The value of flag `name` ("corepy_allocator"), empty when unset. //corepy:flags registers
// one when it is linked in.
using FlagReader = std::string (*)(absl::string_view name);
void set_flag_reader(FlagReader reader);

// The configuration in force, as the runtime uses it. `generation` changes whenever it does.
struct Resolved {
  Settings settings;
  std::shared_ptr<const Strategy> strategy;
  std::uint64_t generation = 0;
};
std::shared_ptr<const Resolved> resolved();

// Prints `message` on stderr the first time it is seen in this process: bad settings and
// refused allocators are named once, however often the configuration is read. It remembers at
// most kMaxReportedMessages distinct messages; past that it says so once and prints no more.
void report_once(const std::string& message);
inline constexpr std::size_t kMaxReportedMessages = 1024;

// A new value means "look again" (the runtime is also told: g_on_new_config below).
inline std::atomic<std::uint64_t> g_config_generation{0};
inline std::atomic<bool> g_debug_log{false};
// The worker_spin in force, in nanoseconds: process-wide, as oneTBB's workers are, so every op
// from the next on uses a new one (before the first configuration is read, the default).
inline std::atomic<std::int64_t> g_worker_spin_ns{ops::kWorkerSpin.count()};

// Called, when set, after each new configuration is published (with g_config_generation
// already raised): the runtime (corepy/arena.cc) sends every thread's scopes out of line there,
// where they pick the configuration up.
inline std::atomic<void (*)()> g_on_new_config{nullptr};

inline std::uint64_t config_generation() noexcept {
  return g_config_generation.load(std::memory_order_acquire);
}
inline bool debug_log_enabled() noexcept { return g_debug_log.load(std::memory_order_relaxed); }
inline std::chrono::nanoseconds worker_spin() noexcept {
  return std::chrono::nanoseconds(g_worker_spin_ns.load(std::memory_order_relaxed));
}
}  // namespace internal

}  // namespace corepy

#endif  // COREPY_COREPY_CONFIG_H_
