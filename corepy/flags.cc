// The Abseil flags of corepy's configuration (corepy/config.h), for C++ binaries that want
// them: link //corepy:flags, parse the flags (absl::ParseCommandLine), and they rank between
// configure() and the environment. The libraries themselves define no flag.
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/string_view.h"
#include "corepy/config.h"

ABSL_FLAG(std::string, corepy_allocator, "",
          "corepy: allocator for op scratch, e.g. arena, system, pool, mimalloc, "
          "stats(arena), limit(arena, max=64MiB), arena(upstream=mimalloc)");
ABSL_FLAG(std::string, corepy_arena_size, "", "corepy: each thread arena's block, e.g. 4MiB");
ABSL_FLAG(std::string, corepy_arena_max_size, "",
          "corepy: let spilling thread arenas grow up to this size (0: never)");
ABSL_FLAG(std::string, corepy_op_arena_sizes, "",
          "corepy: arena room per op, e.g. sum_f32=64KiB,mean_f32=256KiB");
ABSL_FLAG(std::string, corepy_log, "", "corepy: 'debug' prints one line per dispatch");
ABSL_FLAG(std::string, corepy_arena_shrink_after, "",
          "corepy: halve a self-tuned arena after this many outermost scopes using under a "
          "quarter of it (0: never)");
ABSL_FLAG(std::string, corepy_worker_spin, "",
          "corepy: how long oneTBB's workers spin after an op that split, waiting for the next "
          "one, e.g. 50us (0: they sleep at once; at most 1s)");

namespace corepy::internal {
namespace {

std::string read_flag(absl::string_view name) {
  if (name == "corepy_allocator") return absl::GetFlag(FLAGS_corepy_allocator);
  if (name == "corepy_arena_size") return absl::GetFlag(FLAGS_corepy_arena_size);
  if (name == "corepy_arena_max_size") return absl::GetFlag(FLAGS_corepy_arena_max_size);
  if (name == "corepy_op_arena_sizes") return absl::GetFlag(FLAGS_corepy_op_arena_sizes);
  if (name == "corepy_log") return absl::GetFlag(FLAGS_corepy_log);
  if (name == "corepy_arena_shrink_after") return absl::GetFlag(FLAGS_corepy_arena_shrink_after);
  if (name == "corepy_worker_spin") return absl::GetFlag(FLAGS_corepy_worker_spin);
  return "";
}

// Registered while the binary's statics are initialized, before main() parses the flags.
const bool kRegistered = (set_flag_reader(&read_flag), true);

}  // namespace
}  // namespace corepy::internal
