#include "corepy/config.h"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "corepy/allocator_spec.h"
#include "corepy/registry.h"

ABSL_FLAG(std::string, corepy_allocator, "",
          "corepy: allocator for op scratch, e.g. arena, system, pool, mimalloc, "
          "stats(arena), limit(arena, max=64MiB), arena(upstream=mimalloc)");
ABSL_FLAG(std::string, corepy_arena_size, "", "corepy: each thread arena's block, e.g. 4MiB");
ABSL_FLAG(std::string, corepy_arena_max_size, "",
          "corepy: let spilling thread arenas grow up to this size (0: never)");
ABSL_FLAG(std::string, corepy_op_arena_sizes, "",
          "corepy: arena room per op, e.g. sum_f32=64KiB,mean_f32=256KiB");
ABSL_FLAG(std::string, corepy_log, "", "corepy: 'debug' prints one line per dispatch");

namespace corepy {
namespace {

enum class Key { kAllocator, kArenaSize, kArenaMaxSize, kOpArenaSizes, kLog };

struct KeySources {
  Key key;
  const char* env;
  const char* flag_name;
  absl::Flag<std::string>* flag;
};

const KeySources kKeys[] = {
    {Key::kAllocator, "COREPY_ALLOCATOR", "corepy_allocator", &FLAGS_corepy_allocator},
    {Key::kArenaSize, "COREPY_ARENA_SIZE", "corepy_arena_size", &FLAGS_corepy_arena_size},
    {Key::kArenaMaxSize, "COREPY_ARENA_MAX_SIZE", "corepy_arena_max_size",
     &FLAGS_corepy_arena_max_size},
    {Key::kOpArenaSizes, "COREPY_OP_ARENA_SIZES", "corepy_op_arena_sizes",
     &FLAGS_corepy_op_arena_sizes},
    {Key::kLog, "COREPY_LOG", "corepy_log", &FLAGS_corepy_log},
};

struct State {
  std::mutex mutex;
  Options code;  // every configure() so far, later calls over earlier ones
  std::shared_ptr<const internal::Resolved> resolved;
};

State& state() {
  static State* s = new State;  // never destroyed: thread arenas may outlive statics
  return *s;
}

absl::StatusOr<std::string> checked_allocator(absl::string_view text) {
  absl::StatusOr<AllocatorSpec> spec = parse_allocator_spec(text);
  if (!spec.ok()) return spec.status();
  if (absl::Status s = validate_allocator_spec(*spec); !s.ok()) return s;
  return spec->to_string();
}

}  // namespace

absl::StatusOr<bool> parse_log_level(absl::string_view text) {
  const std::string v = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (v == "debug") return true;
  if (v == "off" || v == "0" || v == "none" || v.empty()) return false;
  return absl::InvalidArgumentError(
      absl::StrCat("invalid log level \"", text, "\"; accepted: debug, off"));
}

namespace {

// Applies one textual setting; a bad one is named once and leaves the setting as it was.
void apply_text(Settings& s, Key key, const std::string& value,
                const std::string& origin) {
  absl::Status error;
  switch (key) {
    case Key::kAllocator:
      if (absl::StatusOr<std::string> a = checked_allocator(value); a.ok()) {
        s.allocator = *a;
      } else {
        error = a.status();
      }
      break;
    case Key::kArenaSize:
    case Key::kArenaMaxSize:
      if (absl::StatusOr<std::size_t> n = parse_byte_size(value); n.ok()) {
        (key == Key::kArenaSize ? s.arena_size : s.arena_max_size) = *n;
      } else {
        error = n.status();
      }
      break;
    case Key::kOpArenaSizes:
      if (auto sizes = parse_op_arena_sizes(value); sizes.ok()) {
        s.op_arena_sizes = *sizes;
      } else {
        error = sizes.status();
      }
      break;
    case Key::kLog:
      if (absl::StatusOr<bool> on = parse_log_level(value); on.ok()) {
        s.debug_log = *on;
      } else {
        error = on.status();
      }
      break;
  }
  if (!error.ok()) {
    internal::report_once(absl::StrCat("corepy: ignoring ", origin, ": ", error.message(),
                                       "; keeping the default"));
  }
}

void apply_code(const Options& code, Settings& s) {
  if (code.allocator) s.allocator = *code.allocator;
  if (code.arena_size) s.arena_size = *code.arena_size;
  if (code.arena_max_size) s.arena_max_size = *code.arena_max_size;
  if (code.op_arena_sizes) s.op_arena_sizes = *parse_op_arena_sizes(*code.op_arena_sizes);
  if (code.debug_log) s.debug_log = *code.debug_log;
}

std::shared_ptr<const internal::Strategy> build_strategy(Settings& s) {
  absl::StatusOr<std::shared_ptr<const internal::Strategy>> strategy;
  if (absl::StatusOr<AllocatorSpec> spec = parse_allocator_spec(s.allocator); spec.ok()) {
    strategy = internal::make_strategy(*spec, s.arena_size, s.arena_max_size);
  } else {
    strategy = spec.status();
  }
  if (strategy.ok()) return *strategy;
  internal::report_once(absl::StrCat("corepy: cannot use allocator \"", s.allocator, "\": ",
                                     strategy.status().message(),
                                     "; using the default \"arena\""));
  s.allocator = "arena";
  AllocatorSpec arena;
  arena.name = "arena";
  return *internal::make_strategy(arena, s.arena_size, s.arena_max_size);
}

// The settings from every source, with `code` over the flags and the environment.
Settings settings_from(const Options& code) {
  Settings s;
  for (const KeySources& k : kKeys) {
    if (const char* v = std::getenv(k.env)) {
      apply_text(s, k.key, v, absl::StrCat(k.env, "=\"", v, "\""));
    }
  }
  for (const KeySources& k : kKeys) {
    const std::string v = absl::GetFlag(*k.flag);
    if (!v.empty()) apply_text(s, k.key, v, absl::StrCat("--", k.flag_name, "=", v));
  }
  apply_code(code, s);
  return s;
}

// The configuration for `s`, with `strategy` when the caller has built it already. Allocates
// (and may throw): done before anything is changed.
std::shared_ptr<internal::Resolved> make_resolved(
    Settings s, std::shared_ptr<const internal::Strategy> strategy = nullptr) {
  auto resolved = std::make_shared<internal::Resolved>();
  resolved->strategy = strategy != nullptr ? std::move(strategy) : build_strategy(s);
  resolved->settings = std::move(s);
  return resolved;
}

// Puts `resolved` in force; allocates nothing and cannot fail. Called with st.mutex held.
void publish(State& st, std::shared_ptr<internal::Resolved> resolved) noexcept {
  resolved->generation = internal::g_config_generation.load(std::memory_order_relaxed) + 1;
  internal::g_debug_log.store(resolved->settings.debug_log, std::memory_order_relaxed);
  st.resolved = std::move(resolved);
  internal::g_config_generation.store(st.resolved->generation, std::memory_order_release);
}

// Recomputes the settings from every source. Called with st.mutex held.
void resolve(State& st) { publish(st, make_resolved(settings_from(st.code))); }

}  // namespace

absl::StatusOr<std::array<std::size_t, kOpCount>> parse_op_arena_sizes(absl::string_view text) {
  std::array<std::size_t, kOpCount> sizes{};
  for (absl::string_view entry : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(entry, absl::MaxSplits('=', 1));
    const absl::string_view name = absl::StripAsciiWhitespace(kv.first);
    std::optional<Op> op = op_by_name(name);
    if (!op) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid per-op arena sizes \"", text, "\": unknown op \"", name,
          "\"; ops: ", absl::StrJoin(kOpNames, ", "), " (e.g. sum_f32=64KiB,mean_f32=256KiB)"));
    }
    absl::StatusOr<std::size_t> size = parse_byte_size(kv.second);
    if (!size.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("invalid per-op arena sizes \"", text,
                                                     "\": ", name, ": ", size.status().message()));
    }
    sizes[static_cast<std::size_t>(*op)] = *size;
  }
  return sizes;
}

absl::Status configure(const Options& options) {
  Options checked = options;
  if (options.allocator) {
    absl::StatusOr<std::string> a = checked_allocator(*options.allocator);
    if (!a.ok()) return a.status();
    checked.allocator = *a;
  }
  if (options.op_arena_sizes) {
    if (auto sizes = parse_op_arena_sizes(*options.op_arena_sizes); !sizes.ok()) {
      return sizes.status();
    }
  }
  State& st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  Options merged = st.code;
  if (checked.allocator) merged.allocator = checked.allocator;
  if (checked.arena_size) merged.arena_size = checked.arena_size;
  if (checked.arena_max_size) merged.arena_max_size = checked.arena_max_size;
  if (checked.op_arena_sizes) merged.op_arena_sizes = checked.op_arena_sizes;
  if (checked.debug_log) merged.debug_log = checked.debug_log;
  // Everything that can fail (a user factory that refuses, memory) happens before anything
  // changes, and the strategy checked here is the one put in force, not built a second time.
  Settings s = settings_from(merged);
  std::shared_ptr<const internal::Strategy> strategy;
  if (merged.allocator) {
    absl::StatusOr<std::shared_ptr<const internal::Strategy>> built = internal::make_strategy(
        *parse_allocator_spec(s.allocator), s.arena_size, s.arena_max_size);
    if (!built.ok()) return built.status();
    strategy = *std::move(built);
  }
  std::shared_ptr<internal::Resolved> resolved = make_resolved(std::move(s), std::move(strategy));
  st.code = std::move(merged);
  publish(st, std::move(resolved));
  return absl::OkStatus();
}

void reset_configuration() {
  State& st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  std::shared_ptr<internal::Resolved> resolved = make_resolved(settings_from(Options{}));
  st.code = Options{};
  publish(st, std::move(resolved));
}

Settings settings() { return internal::resolved()->settings; }

namespace internal {

void report_once(const std::string& message) {
  static std::mutex* mutex = new std::mutex;
  static auto* reported = new absl::flat_hash_set<std::string>;
  std::lock_guard<std::mutex> lock(*mutex);
  if (reported->contains(message)) return;
  // Bounded, so a process that keeps feeding new bad values does not grow without end.
  if (reported->size() >= kMaxReportedMessages) {
    static bool said = false;
    if (!said) {
      std::fprintf(stderr, "corepy: too many distinct configuration messages; no more printed\n");
      said = true;
    }
    return;
  }
  // Copied before the insert, which then only moves it: this Abseil's flat_hash_set marks the
  // slot taken before it constructs the element, so a copy that throws there corrupts the set.
  std::string copy = message;
  reported->insert(std::move(copy));
  std::fprintf(stderr, "%s\n", message.c_str());
}

std::shared_ptr<const Resolved> resolved() {
  State& st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  if (st.resolved == nullptr) resolve(st);
  return st.resolved;
}

}  // namespace internal
}  // namespace corepy
