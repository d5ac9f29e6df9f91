#include "corepy/config.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <string>
#include <unordered_set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "allocators/arena_resource.h"
#include "corepy/allocator_spec.h"
#include "corepy/internal/fork_guard.h"
#include "corepy/internal/text.h"
#include "corepy/registry.h"

namespace corepy {
namespace {

enum Key : int {
  kAllocator,
  kArenaSize,
  kArenaMaxSize,
  kOpArenaSizes,
  kLog,
  kArenaShrinkAfter,
  kWorkerSpin,
  kKeyCount
};

struct KeySources {
  const char* env;
  const char* flag;   // without "--"; read only when //corepy:flags is linked in
  const char* code;   // the name in Options and corepy_configure
  const char* fallback;  // the default, as a message names it
};

constexpr KeySources kKeys[kKeyCount] = {
    {"COREPY_ALLOCATOR", "corepy_allocator", "allocator", "\"arena\""},
    {"COREPY_ARENA_SIZE", "corepy_arena_size", "arena_size", "1MiB"},
    {"COREPY_ARENA_MAX_SIZE", "corepy_arena_max_size", "arena_max_size", "0 (no self-tuning)"},
    {"COREPY_OP_ARENA_SIZES", "corepy_op_arena_sizes", "op_arena_sizes", "none"},
    {"COREPY_LOG", "corepy_log", "log", "off"},
    {"COREPY_ARENA_SHRINK_AFTER", "corepy_arena_shrink_after", "arena_shrink_after", "64"},
    {"COREPY_WORKER_SPIN", "corepy_worker_spin", "worker_spin", "50us"},
};

std::atomic<internal::FlagReader> g_flag_reader{nullptr};


// Settings with where each came from, so a message can say which value stays in force and a
// problem found late (an arena that cannot be built) is blamed on the right source.
struct Sourced {
  Settings settings;
  std::array<std::string, kKeyCount> origin;  // empty: the default
  std::array<bool, kKeyCount> from_code{};    // set by configure()
  bool allocator_refused = false;             // a flag's or the environment's
};

// Said with every refused allocator from a flag or the environment.
constexpr const char* kLateRegistration =
    " (an allocator registered later with corepy::register_allocator is picked up then)";

struct State {
  std::mutex mutex;  // guards the fields below; held only to read or swap them
  Options code;      // every configure() so far, later calls over earlier ones
  std::uint64_t code_version = 0;  // bumped by every configure() / reset_configuration()
  std::shared_ptr<const internal::Resolved> resolved;
  // The allocator a flag or the environment named was refused (e.g. not registered yet): a
  // later register_allocator() resolves again.
  bool allocator_refused = false;
};

void on_allocator_registered(absl::string_view name);

State& state() {
  static State* s = [] {
    auto* st = new State;  // never destroyed: thread arenas may outlive statics
    internal::hold_across_fork(st->mutex);
    internal::set_registration_listener(&on_allocator_registered);
    return st;
  }();
  return *s;
}

// Depth of configuration builds on this thread: user factories run inside them, and may call
// back into corepy.
thread_local int t_building = 0;

struct BuildingScope {
  BuildingScope() { ++t_building; }
  ~BuildingScope() { --t_building; }
  BuildingScope(const BuildingScope&) = delete;
  BuildingScope& operator=(const BuildingScope&) = delete;
};

absl::StatusOr<std::string> checked_allocator(absl::string_view text) {
  absl::StatusOr<AllocatorSpec> spec = parse_allocator_spec(text);
  if (!spec.ok()) return spec.status();
  if (absl::Status s = validate_allocator_spec(*spec); !s.ok()) return s;
  return spec->to_string();
}

std::string keeping(const Sourced& src, Key key) {
  if (src.origin[key].empty()) return absl::StrCat("keeping the default ", kKeys[key].fallback);
  return absl::StrCat("keeping ", src.origin[key]);
}

void reset_to_default(Sourced& src, Key key) {
  const Settings defaults;
  switch (key) {
    case kAllocator: src.settings.allocator = defaults.allocator; break;
    case kArenaSize: src.settings.arena_size = defaults.arena_size; break;
    case kArenaMaxSize: src.settings.arena_max_size = defaults.arena_max_size; break;
    case kOpArenaSizes: src.settings.op_arena_sizes = defaults.op_arena_sizes; break;
    case kLog: src.settings.debug_log = defaults.debug_log; break;
    case kArenaShrinkAfter: src.settings.arena_shrink_after = defaults.arena_shrink_after; break;
    case kWorkerSpin: src.settings.worker_spin = defaults.worker_spin; break;
    case kKeyCount: break;
  }
  src.origin[key].clear();
  src.from_code[key] = false;
}

// Applies one textual setting from a flag or the environment; a bad one is named once and the
// value in force before it stays.
void apply_text(Sourced& src, Key key, absl::string_view value, const std::string& origin) {
  absl::Status error;
  Settings& s = src.settings;
  switch (key) {
    case kAllocator:
      if (absl::StatusOr<std::string> a = checked_allocator(value); a.ok()) {
        s.allocator = *a;
      } else {
        error = a.status();
      }
      break;
    case kArenaSize:
    case kArenaMaxSize:
      if (absl::StatusOr<std::size_t> n = parse_byte_size(value); n.ok()) {
        (key == kArenaSize ? s.arena_size : s.arena_max_size) = *n;
      } else {
        error = n.status();
      }
      break;
    case kOpArenaSizes:
      if (auto sizes = parse_op_arena_sizes(value); sizes.ok()) {
        s.op_arena_sizes = *sizes;
      } else {
        error = sizes.status();
      }
      break;
    case kLog:
      if (absl::StatusOr<bool> on = parse_log_level(value); on.ok()) {
        s.debug_log = *on;
      } else {
        error = on.status();
      }
      break;
    case kArenaShrinkAfter:
      if (absl::StatusOr<std::uint64_t> n = parse_shrink_after(value); n.ok()) {
        s.arena_shrink_after = *n;
      } else {
        error = n.status();
      }
      break;
    case kWorkerSpin:
      if (absl::StatusOr<std::chrono::nanoseconds> spin = parse_worker_spin(value); spin.ok()) {
        s.worker_spin = *spin;
      } else {
        error = spin.status();
      }
      break;
    case kKeyCount:
      break;
  }
  if (!error.ok()) {
    if (key == kAllocator) src.allocator_refused = true;
    internal::report_once(absl::StrCat("corepy: ignoring ", origin, ": ", error.message(),
                                       key == kAllocator ? kLateRegistration : "", "; ",
                                       keeping(src, key)));
    return;
  }
  src.origin[key] = origin;
}

// The settings from every source: the environment, the flags over it, `code` over both.
Sourced settings_from(const Options& code) {
  Sourced src;
  for (int k = 0; k < kKeyCount; ++k) {
    if (const char* v = std::getenv(kKeys[k].env)) {
      apply_text(src, static_cast<Key>(k), v, absl::StrCat(kKeys[k].env, "=", internal::quoted(v)));
    }
  }
  if (internal::FlagReader read = g_flag_reader.load(std::memory_order_acquire)) {
    for (int k = 0; k < kKeyCount; ++k) {
      const std::string v = read(kKeys[k].flag);
      if (!v.empty()) {
        apply_text(src, static_cast<Key>(k), v,
                   absl::StrCat("--", kKeys[k].flag, "=", internal::quoted(v)));
      }
    }
  }
  Settings& s = src.settings;
  auto set = [&](Key key) {
    src.origin[key] = absl::StrCat(kKeys[key].code, " from configure()");
    src.from_code[key] = true;
  };
  // Values set by code were checked by configure() before they were stored.
  if (code.allocator) s.allocator = *code.allocator, set(kAllocator);
  if (code.arena_size) s.arena_size = *code.arena_size, set(kArenaSize);
  if (code.arena_max_size) s.arena_max_size = *code.arena_max_size, set(kArenaMaxSize);
  if (code.op_arena_sizes) s.op_arena_sizes = *parse_op_arena_sizes(*code.op_arena_sizes), set(kOpArenaSizes);
  if (code.debug_log) s.debug_log = *code.debug_log, set(kLog);
  if (code.arena_shrink_after) s.arena_shrink_after = *code.arena_shrink_after, set(kArenaShrinkAfter);
  if (code.worker_spin) s.worker_spin = *code.worker_spin, set(kWorkerSpin);
  return src;
}

// Builds a throwaway arena of `bytes` over `upstream`: whether the runtime will be able to build
// the real ones. Returns the upstream's refusal.
absl::Status check_arena(std::size_t bytes, std::pmr::memory_resource* upstream) {
  try {
    ArenaResource arena(bytes, upstream);
  } catch (const std::bad_alloc& e) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "an arena of ", bytes, " bytes cannot be built: its upstream cannot serve the block (",
        e.what(), ")"));
  }
  return absl::OkStatus();
}

struct ArenaProblem {
  Key blame;
  absl::Status status;
};

// Builds the calling thread's arena and each per-op arena once, as the runtime would, before the
// configuration is put in force: a size beyond what the upstream can serve never becomes the
// configuration in force.
std::optional<ArenaProblem> check_arenas(const Sourced& src, const internal::Strategy& strategy) {
  std::pmr::memory_resource* upstream = strategy.arena_upstream();
  if (absl::Status s = check_arena(strategy.arena_size, upstream); !s.ok()) {
    // Blamed on the allocator when it sizes the arena or names its upstream (a limit below the
    // block, say), or when the size is the default; else on arena_size.
    const AllocatorSpec* arena = internal::find_arena(strategy.spec);
    const bool spec_made =
        arena != nullptr && (arena->param("size") != nullptr || arena->param("upstream") != nullptr);
    const Key blame = spec_made || src.origin[kArenaSize].empty() ? kAllocator : kArenaSize;
    return ArenaProblem{blame, s};
  }
  if (!strategy.uses_arena) return std::nullopt;  // ops then use the thread's arena only
  for (std::size_t i = 0; i < kOpCount; ++i) {
    const std::size_t size = src.settings.op_arena_sizes[i];
    if (size == 0) continue;
    if (absl::Status s = check_arena(size, upstream); !s.ok()) {
      return ArenaProblem{kOpArenaSizes,
                          absl::ResourceExhaustedError(absl::StrCat(kOpNames[i], ": ", s.message()))};
    }
  }
  return std::nullopt;
}

// The configuration for `src`, built outside every lock (user factories run here). A value from
// code that cannot be used is an error; one from a flag or the environment is named once on
// stderr and replaced by its default. `refused` says whether a flag's or the environment's
// allocator was refused.
absl::StatusOr<std::shared_ptr<internal::Resolved>> build_resolved(Sourced src, bool& refused) {
  BuildingScope building;
  refused = src.allocator_refused;
  // COREPY_TRACE=PATH: trace(<the allocator>, file=PATH), unless the allocator traces already.
  const char* trace_path = std::getenv("COREPY_TRACE");
  bool wrap_trace = trace_path != nullptr && *trace_path != '\0';
  for (;;) {
    absl::StatusOr<std::shared_ptr<const internal::Strategy>> strategy;
    std::string allocator = src.settings.allocator;
    if (absl::StatusOr<AllocatorSpec> spec = parse_allocator_spec(allocator); spec.ok()) {
      if (wrap_trace && internal::find_trace(*spec) == nullptr) {
        allocator = absl::StrCat("trace(", allocator, ",file=", trace_path, ")");
        spec = parse_allocator_spec(allocator);
      }
      strategy = spec.ok() ? internal::make_strategy(*spec, src.settings.arena_size,
                                                     src.settings.arena_max_size)
                           : absl::StatusOr<std::shared_ptr<const internal::Strategy>>(
                                 spec.status());
    } else {
      strategy = spec.status();
    }
    if (!strategy.ok() && allocator != src.settings.allocator) {
      // The trace could not be set up: say so once, and run untraced.
      internal::report_once(absl::StrCat("corepy: ignoring COREPY_TRACE=",
                                         internal::quoted(trace_path), ": ",
                                         strategy.status().message(), "; not tracing"));
      wrap_trace = false;
      continue;
    }
    if (strategy.ok()) src.settings.allocator = allocator;
    std::optional<ArenaProblem> problem;
    if (!strategy.ok()) {
      problem = ArenaProblem{kAllocator, strategy.status()};
    } else {
      problem = check_arenas(src, **strategy);
    }
    if (!problem) {
      auto resolved = std::make_shared<internal::Resolved>();
      resolved->settings = std::move(src.settings);
      resolved->strategy = *std::move(strategy);
      return resolved;
    }
    const Key key = problem->blame;
    if (src.from_code[key]) {
      return absl::Status(problem->status.code(),
                          absl::StrCat(src.origin[key], ": ", problem->status.message()));
    }
    if (src.origin[key].empty()) {
      // Nothing to fall back from: the defaults themselves cannot be built (no memory).
      return problem->status;
    }
    internal::report_once(absl::StrCat("corepy: ignoring ", src.origin[key], ": ",
                                       problem->status.message(),
                                       key == kAllocator ? kLateRegistration : "",
                                       "; using the default ", kKeys[key].fallback));
    reset_to_default(src, key);
    if (key == kAllocator) refused = true;
  }
}

void publish(State& st, std::shared_ptr<internal::Resolved> resolved) noexcept {
  resolved->generation = internal::g_config_generation.load(std::memory_order_relaxed) + 1;
  internal::g_debug_log.store(resolved->settings.debug_log, std::memory_order_relaxed);
  internal::g_worker_spin_ns.store(resolved->settings.worker_spin.count(),
                                   std::memory_order_relaxed);
  st.resolved = std::move(resolved);
  // Sequentially consistent, as the runtime's own check of it after re-arming a thread's inline
  // scopes (corepy/arena.cc, refresh_scope_arena()): a thread either sees this generation there
  // or is sent out of line by tell_runtime() after it.
  internal::g_config_generation.store(st.resolved->generation, std::memory_order_seq_cst);
}

// After publish(), with the lock released (the runtime takes its own: locks here are leaves,
// corepy/internal/fork_guard.h).
void tell_runtime() {
  if (void (*notify)() = internal::g_on_new_config.load(std::memory_order_seq_cst)) notify();
}

// Rebuilds the configuration from `update(code)` over the latest code options and puts it in
// force. Built without the lock; if another thread changed the code options meanwhile, built
// again over theirs.
template <class Update>
absl::Status rebuild_and_publish(Update update) {
  State& st = state();
  for (;;) {
    Options code;
    std::uint64_t version;
    {
      std::lock_guard<std::mutex> lock(st.mutex);
      code = st.code;
      version = st.code_version;
    }
    update(code);
    bool refused = false;
    absl::StatusOr<std::shared_ptr<internal::Resolved>> resolved =
        build_resolved(settings_from(code), refused);
    if (!resolved.ok()) return resolved.status();
    {
      std::lock_guard<std::mutex> lock(st.mutex);
      if (st.code_version != version) continue;
      st.code = std::move(code);
      ++st.code_version;
      st.allocator_refused = refused;
      publish(st, *std::move(resolved));
    }
    tell_runtime();
    return absl::OkStatus();
  }
}

absl::Status reentrant(const char* entry) {
  return absl::FailedPreconditionError(absl::StrCat(
      entry, ": called from an allocator factory while corepy is building a configuration "
             "(a factory may read settings() and run ops, but not reconfigure); configure "
             "outside the factory"));
}

void on_allocator_registered(absl::string_view name) {
  State& st = state();
  {
    std::lock_guard<std::mutex> lock(st.mutex);
    if (!st.allocator_refused || st.resolved == nullptr) return;
  }
  if (t_building != 0) return;  // the build under way sees the registry as it is now
  const absl::Status s = rebuild_and_publish([](Options&) {});
  std::lock_guard<std::mutex> lock(st.mutex);
  if (s.ok() && !st.allocator_refused) {
    internal::report_once(absl::StrCat("corepy: allocator \"", name,
                                       "\" is registered: the configured allocator ",
                                       internal::quoted(st.resolved->settings.allocator),
                                       " is in force now"));
  }
}

}  // namespace

absl::StatusOr<std::uint64_t> parse_shrink_after(absl::string_view text) {
  const absl::string_view v = absl::StripAsciiWhitespace(text);
  std::uint64_t n = 0;
  if (!absl::SimpleAtoi(v, &n) || v.empty() || v[0] == '-' || v[0] == '+' || n > kMaxShrinkAfter) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid arena_shrink_after ", internal::quoted(text),
        "; accepted: a count of outermost scopes from 0 (never shrink) to ", kMaxShrinkAfter));
  }
  return n;
}

absl::StatusOr<std::chrono::nanoseconds> parse_worker_spin(absl::string_view text) {
  absl::Duration d;
  const absl::string_view v = absl::StripAsciiWhitespace(text);
  if (!absl::ParseDuration(v, &d) || d < absl::ZeroDuration() ||
      d > absl::FromChrono(ops::kMaxWorkerSpin)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid worker_spin ", internal::quoted(text),
                     "; accepted: a duration with its unit from 0 (workers sleep at once) to ",
                     format_worker_spin(ops::kMaxWorkerSpin), ", e.g. 50us, 0.2ms, 1ms"));
  }
  return absl::ToChronoNanoseconds(d);
}

std::string format_worker_spin(std::chrono::nanoseconds spin) {
  return absl::FormatDuration(absl::FromChrono(spin));
}

absl::StatusOr<bool> parse_log_level(absl::string_view text) {
  const std::string v = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (v == "debug") return true;
  if (v == "off" || v == "0" || v == "none" || v.empty()) return false;
  return absl::InvalidArgumentError(
      absl::StrCat("invalid log level ", internal::quoted(text), "; accepted: debug, off"));
}

absl::StatusOr<std::array<std::size_t, kOpCount>> parse_op_arena_sizes(absl::string_view text) {
  std::array<std::size_t, kOpCount> sizes{};
  std::array<bool, kOpCount> seen{};
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid per-op arena sizes ", internal::quoted(text), ": ", why));
  };
  for (absl::string_view entry : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(entry, absl::MaxSplits('=', 1));
    const absl::string_view name = absl::StripAsciiWhitespace(kv.first);
    std::optional<Op> op = op_by_name(name);
    if (!op) {
      return bad(absl::StrCat("unknown op ", internal::quoted(name), "; ops: ",
                              absl::StrJoin(kOpNames, ", "),
                              " (e.g. sum_f32=64KiB,mean_f32=256KiB)"));
    }
    const auto i = static_cast<std::size_t>(*op);
    if (seen[i]) return bad(absl::StrCat("op \"", name, "\" is given more than once"));
    seen[i] = true;
    absl::StatusOr<std::size_t> size = parse_byte_size(kv.second);
    if (!size.ok()) return bad(absl::StrCat(name, ": ", size.status().message()));
    sizes[i] = *size;
  }
  return sizes;
}

absl::Status configure(const Options& options) {
  if (t_building != 0) return reentrant("corepy::configure");
  Options checked = options;
  if (options.allocator) {
    absl::StatusOr<std::string> a = checked_allocator(*options.allocator);
    if (!a.ok()) return a.status();
    checked.allocator = *a;
  }
  if (options.arena_shrink_after && *options.arena_shrink_after > kMaxShrinkAfter) {
    return parse_shrink_after(std::to_string(*options.arena_shrink_after)).status();
  }
  if (options.worker_spin && (*options.worker_spin < std::chrono::nanoseconds::zero() ||
                              *options.worker_spin > ops::kMaxWorkerSpin)) {
    return parse_worker_spin(absl::StrCat(options.worker_spin->count(), "ns")).status();
  }
  if (options.op_arena_sizes) {
    if (auto sizes = parse_op_arena_sizes(*options.op_arena_sizes); !sizes.ok()) {
      return sizes.status();
    }
  }
  // Everything that can fail (a user factory that refuses, an arena the upstream cannot serve,
  // memory) happens before anything changes.
  return rebuild_and_publish([&](Options& code) {
    if (checked.allocator) code.allocator = checked.allocator;
    if (checked.arena_size) code.arena_size = checked.arena_size;
    if (checked.arena_max_size) code.arena_max_size = checked.arena_max_size;
    if (checked.op_arena_sizes) code.op_arena_sizes = checked.op_arena_sizes;
    if (checked.debug_log) code.debug_log = checked.debug_log;
    if (checked.arena_shrink_after) code.arena_shrink_after = checked.arena_shrink_after;
    if (checked.worker_spin) code.worker_spin = checked.worker_spin;
  });
}

void reset_configuration() {
  if (t_building != 0) {
    internal::report_once(std::string(reentrant("corepy::reset_configuration").message()) +
                          "; ignored");
    return;
  }
  const absl::Status s = rebuild_and_publish([](Options& code) { code = Options{}; });
  if (!s.ok()) throw std::bad_alloc();  // only the defaults remain, and they cannot be built
}

Settings settings() { return internal::resolved()->settings; }

namespace internal {

void set_flag_reader(FlagReader reader) { g_flag_reader.store(reader, std::memory_order_release); }

void report_once(const std::string& message) {
  static std::mutex* mutex = [] {
    auto* m = new std::mutex;
    hold_across_fork(*m);
    return m;
  }();
  // A std::unordered_set: this Abseil's flat_hash_set is left corrupt when a rehash cannot
  // allocate (resize() sets the new capacity first).
  static auto* reported = new std::unordered_set<std::string>;
  std::lock_guard<std::mutex> lock(*mutex);
  if (reported->count(message) != 0) return;
  // Bounded, so a process that keeps feeding new bad values does not grow without end.
  if (reported->size() >= kMaxReportedMessages) {
    static bool said = false;
    if (!said) {
      std::fprintf(stderr, "corepy: too many distinct configuration messages; no more printed\n");
      said = true;
    }
    return;
  }
  reported->insert(message);
  std::fprintf(stderr, "%s\n", message.c_str());
}

std::shared_ptr<const Resolved> resolved() {
  State& st = state();
  {
    std::lock_guard<std::mutex> lock(st.mutex);
    if (st.resolved != nullptr) return st.resolved;
  }
  if (t_building != 0) {
    // A user factory of the first configuration runs an op: it gets the built-in arena with
    // the defaults for now, and the configuration being built once it is in force.
    auto bootstrap = std::make_shared<Resolved>();
    AllocatorSpec arena;
    arena.name = "arena";
    bootstrap->strategy = *make_strategy(arena, bootstrap->settings.arena_size, 0);
    return bootstrap;
  }
  for (;;) {
    std::uint64_t version;
    Options code;
    {
      std::lock_guard<std::mutex> lock(st.mutex);
      if (st.resolved != nullptr) return st.resolved;
      version = st.code_version;
      code = st.code;
    }
    bool refused = false;
    absl::StatusOr<std::shared_ptr<Resolved>> built = build_resolved(settings_from(code), refused);
    if (!built.ok()) throw std::bad_alloc();  // the defaults cannot be built: no memory
    std::lock_guard<std::mutex> lock(st.mutex);
    if (st.resolved != nullptr) return st.resolved;  // another thread was first
    if (st.code_version != version) continue;
    st.allocator_refused = refused;
    publish(st, *std::move(built));  // the first: no thread's scopes run inline before it
    return st.resolved;
  }
}

}  // namespace internal
}  // namespace corepy
