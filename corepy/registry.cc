#include "corepy/registry.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <exception>
#include <mutex>
#include <new>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "allocators/limit_resource.h"
#include "allocators/stats_resource.h"
#include "allocators/trace_resource.h"
#include "allocators/upstream_resources.h"
#include "corepy/byte_size.h"
#include "corepy/internal/fork_guard.h"
#include "corepy/internal/text.h"
#include "corepy/op_table.h"

namespace corepy {
namespace internal {
namespace {
std::atomic<RegistrationListener> g_registration_listener{nullptr};
}  // namespace
}  // namespace internal

namespace {

enum class Kind { kArena, kUpstream, kStats, kLimit, kTrace, kUser };

struct Entry {
  Kind kind;
  std::string upstream_name;  // kUpstream: the name allocators/upstream_resources.h knows
  AllocatorFactory factory;   // kUser
};

class Registry {
 public:
  Registry() {
    internal::hold_across_fork(mutex_);
    entries_["arena"] = {Kind::kArena, "", nullptr};
    entries_["system"] = {Kind::kUpstream, std::string(kNewDeleteUpstream), nullptr};
    entries_["new_delete"] = {Kind::kUpstream, std::string(kNewDeleteUpstream), nullptr};
    entries_["pool"] = {Kind::kUpstream, std::string(kPoolUpstream), nullptr};
    entries_["mimalloc"] = {Kind::kUpstream, std::string(kMimallocUpstream), nullptr};
    entries_["stats"] = {Kind::kStats, "", nullptr};
    entries_["limit"] = {Kind::kLimit, "", nullptr};
    entries_["trace"] = {Kind::kTrace, "", nullptr};
  }

  absl::Status add(absl::string_view name, AllocatorFactory factory) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (entries_.find(name) != entries_.end()) {
      return absl::AlreadyExistsError(
          absl::StrCat("allocator \"", name, "\" is already registered"));
    }
    entries_.try_emplace(std::string(name), Entry{Kind::kUser, "", std::move(factory)});
    return absl::OkStatus();
  }

  // A copy, so a factory runs without the lock held.
  const Entry* find(absl::string_view name, Entry& copy) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(name);
    if (it == entries_.end()) return nullptr;
    copy = it->second;
    return &copy;
  }

  std::vector<std::string> names() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [name, entry] : entries_) out.push_back(name);
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  mutable std::mutex mutex_;
  // A std::map: this Abseil's flat_hash_map is left corrupt when a rehash cannot allocate.
  std::map<std::string, Entry, std::less<>> entries_;
};

Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: thread arenas may outlive statics
  return *r;
}

bool valid_name(absl::string_view name) {
  if (name.empty() || !absl::ascii_isalpha(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}


class Validator {
 public:
  explicit Validator(const AllocatorSpec& root) : root_(internal::quoted(root.to_string())) {}

  absl::Status check(const AllocatorSpec& spec, bool in_upstream) {
    Entry copy;
    const Entry* entry = registry().find(spec.name, copy);
    if (entry == nullptr) {
      return error(absl::StrCat("unknown allocator ", internal::quoted(spec.name), "; accepted: ",
                                absl::StrJoin(allocator_names(), ", ")));
    }
    switch (entry->kind) {
      case Kind::kArena:
        if (in_upstream) return error("an arena's upstream is shared by all threads and cannot be an arena");
        if (++arenas_ > 1) return error("at most one arena");
        if (absl::Status s = arity(spec, 0, 0); !s.ok()) return s;
        if (absl::Status s = known_params(spec, {"size", "max_size", "upstream"}); !s.ok()) return s;
        if (absl::Status s = size_param(spec, "size"); !s.ok()) return s;
        if (absl::Status s = size_param(spec, "max_size"); !s.ok()) return s;
        if (const AllocatorSpec* up = spec.param("upstream")) return check(*up, true);
        return absl::OkStatus();
      case Kind::kUpstream:
        if (absl::Status s = arity(spec, 0, 0); !s.ok()) return s;
        if (absl::Status s = known_params(spec, {}); !s.ok()) return s;
        if (absl::StatusOr<std::pmr::memory_resource*> r = upstream_by_name(entry->upstream_name);
            !r.ok()) {
          return error(r.status().message());
        }
        return absl::OkStatus();
      case Kind::kStats:
        if (absl::Status s = arity(spec, 1, 1); !s.ok()) return s;
        if (absl::Status s = known_params(spec, {"stacks"}); !s.ok()) return s;
        if (absl::Status s = bool_param(spec, "stacks"); !s.ok()) return s;
        return check(spec.inner[0], in_upstream);
      case Kind::kLimit:
        if (absl::Status s = arity(spec, 1, 1); !s.ok()) return s;
        if (absl::Status s = known_params(spec, {"max"}); !s.ok()) return s;
        if (spec.param("max") == nullptr) return error("limit(...) needs max=<size>, e.g. limit(arena, max=64MiB)");
        if (absl::Status s = size_param(spec, "max"); !s.ok()) return s;
        return check(spec.inner[0], in_upstream);
      case Kind::kTrace:
        if (absl::Status s = arity(spec, 1, 1); !s.ok()) return s;
        if (absl::Status s = known_params(spec, {"file"}); !s.ok()) return s;
        if (spec.param("file") == nullptr) {
          return error("trace(...) needs file=<path>, e.g. trace(arena, file=/tmp/ops.trace)");
        }
        return check(spec.inner[0], in_upstream);
      case Kind::kUser:
        if (absl::Status s = arity(spec, 0, 1); !s.ok()) return s;
        return spec.inner.empty() ? absl::OkStatus() : check(spec.inner[0], in_upstream);
    }
    return absl::OkStatus();
  }

 private:
  absl::Status arity(const AllocatorSpec& spec, std::size_t min, std::size_t max) {
    if (spec.inner.size() >= min && spec.inner.size() <= max) return absl::OkStatus();
    const std::string wanted = max == 0   ? "wraps no allocator"
                               : min == max ? "wraps exactly one allocator"
                                            : "wraps at most one allocator";
    return error(absl::StrCat(internal::quoted(spec.name), " ", wanted, ", but was given ",
                              spec.inner.size()));
  }
  absl::Status known_params(const AllocatorSpec& spec, std::vector<absl::string_view> keys) {
    for (std::size_t i = 0; i < spec.params.size(); ++i) {
      const std::string& key = spec.params[i].first;
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        return error(absl::StrCat(
            internal::quoted(spec.name), " has no parameter ", internal::quoted(key),
            keys.empty() ? std::string("; it takes none")
                         : absl::StrCat("; it takes ", absl::StrJoin(keys, ", "))));
      }
      // Only the first of a repeated key would be used (param() finds it), and the rest not
      // even checked: refuse rather than ignore a value silently.
      for (std::size_t j = 0; j < i; ++j) {
        if (spec.params[j].first == key) {
          return error(absl::StrCat(internal::quoted(spec.name), " is given parameter ",
                                    internal::quoted(key), " more than once"));
        }
      }
    }
    return absl::OkStatus();
  }
  absl::Status size_param(const AllocatorSpec& spec, absl::string_view key) {
    const AllocatorSpec* value = spec.param(key);
    if (value == nullptr) return absl::OkStatus();
    if (absl::StatusOr<std::size_t> n = parse_byte_size(value->to_string()); !n.ok()) {
      return error(absl::StrCat(internal::quoted(spec.name), " parameter ", key, ": ", n.status().message()));
    }
    return absl::OkStatus();
  }
  absl::Status bool_param(const AllocatorSpec& spec, absl::string_view key) {
    if (absl::StatusOr<bool> b = AllocatorArgs{&spec, nullptr}.bool_param(key, false); !b.ok()) {
      return error(absl::StrCat(internal::quoted(spec.name), " parameter ", key, ": ",
                                b.status().message()));
    }
    return absl::OkStatus();
  }
  absl::Status error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid allocator spec ", root_, ": ", what));
  }

  std::string root_;
  int arenas_ = 0;
};

using Owned = std::vector<std::shared_ptr<std::pmr::memory_resource>>;

// Builds one node over `inner` (null for a leaf). Factories' refusals become errors.
absl::StatusOr<std::pmr::memory_resource*> build_node(const AllocatorSpec& spec,
                                                      std::pmr::memory_resource* inner,
                                                      Owned& owned) {
  Entry copy;
  const Entry* entry = registry().find(spec.name, copy);
  if (entry == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown allocator ", internal::quoted(spec.name)));
  AllocatorArgs args{&spec, inner};
  std::shared_ptr<std::pmr::memory_resource> made;
  try {
    switch (entry->kind) {
      case Kind::kArena:
        return absl::InternalError("corepy: an arena is not built by build_node");
      case Kind::kUpstream:
        return upstream_by_name(entry->upstream_name);
      case Kind::kStats: {
        absl::StatusOr<bool> stacks = args.bool_param("stacks", false);
        if (!stacks.ok()) return stacks.status();
        StatsResource::Options options;
        options.record_stacks = *stacks;
        made = std::make_shared<StatsResource>(inner, options);
        break;
      }
      case Kind::kLimit: {
        absl::StatusOr<std::size_t> max = args.size_param("max", 0);
        if (!max.ok()) return max.status();
        made = std::make_shared<LimitResource>(*max, inner);
        break;
      }
      case Kind::kTrace: {
        absl::StatusOr<std::shared_ptr<TraceFile>> file = internal::open_trace_file(spec);
        if (!file.ok()) return file.status();
        made = std::make_shared<TraceResource>(*std::move(file), inner);
        break;
      }
      case Kind::kUser:
        made = entry->factory(args);
        if (made == nullptr) {
          return absl::FailedPreconditionError(
              absl::StrCat("allocator ", internal::quoted(spec.name), ": its factory returned no resource"));
        }
        break;
    }
  } catch (const std::bad_alloc& e) {
    return absl::ResourceExhaustedError(
        absl::StrCat("allocator ", internal::quoted(spec.name), " could not be built: ", e.what()));
  } catch (const std::exception& e) {
    return absl::FailedPreconditionError(
        absl::StrCat("allocator ", internal::quoted(spec.name), " could not be built: ", e.what()));
  } catch (...) {
    return absl::FailedPreconditionError(
        absl::StrCat("allocator ", internal::quoted(spec.name), " could not be built: its factory threw"));
  }
  owned.push_back(made);
  return made.get();
}

// A subtree without an arena: built bottom-up, shared.
absl::StatusOr<std::pmr::memory_resource*> build_shared(const AllocatorSpec& spec, Owned& owned) {
  std::pmr::memory_resource* inner = nullptr;
  if (!spec.inner.empty()) {
    absl::StatusOr<std::pmr::memory_resource*> built = build_shared(spec.inner[0], owned);
    if (!built.ok()) return built.status();
    inner = *built;
  }
  return build_node(spec, inner, owned);
}

// The path from the root down to the arena: built per thread over `arena`.
absl::StatusOr<std::pmr::memory_resource*> build_over_arena(const AllocatorSpec& spec,
                                                            std::pmr::memory_resource* arena,
                                                            Owned& owned) {
  if (spec.name == "arena") return arena;
  absl::StatusOr<std::pmr::memory_resource*> inner = build_over_arena(spec.inner[0], arena, owned);
  if (!inner.ok()) return inner.status();
  return build_node(spec, *inner, owned);
}

}  // namespace

absl::StatusOr<std::size_t> AllocatorArgs::size_param(absl::string_view key,
                                                      std::size_t fallback) const {
  const AllocatorSpec* value = spec == nullptr ? nullptr : spec->param(key);
  if (value == nullptr) return fallback;
  return parse_byte_size(value->to_string());
}

absl::StatusOr<bool> AllocatorArgs::bool_param(absl::string_view key, bool fallback) const {
  const AllocatorSpec* value = spec == nullptr ? nullptr : spec->param(key);
  if (value == nullptr) return fallback;
  const std::string text = value->to_string();
  if (text == "true") return true;
  if (text == "false") return false;
  return absl::InvalidArgumentError(absl::StrCat(internal::quoted(text), " is not true or false"));
}

absl::Status register_allocator(absl::string_view name, AllocatorFactory factory) {
  if (!valid_name(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "allocator name \"", name, "\" is not a word of letters, digits and '_' starting with a letter"));
  }
  if (!factory) {
    return absl::InvalidArgumentError(absl::StrCat("allocator \"", name, "\": the factory is empty"));
  }
  if (absl::Status s = registry().add(name, std::move(factory)); !s.ok()) return s;
  if (internal::RegistrationListener listener =
          internal::g_registration_listener.load(std::memory_order_acquire)) {
    listener(name);
  }
  return absl::OkStatus();
}

std::vector<std::string> allocator_names() { return registry().names(); }

absl::Status validate_allocator_spec(const AllocatorSpec& spec) {
  return Validator(spec).check(spec, false);
}

namespace internal {

const AllocatorSpec* find_arena(const AllocatorSpec& spec) {
  if (spec.name == "arena") return &spec;
  for (const AllocatorSpec& inner : spec.inner) {
    if (const AllocatorSpec* arena = find_arena(inner)) return arena;
  }
  return nullptr;
}

const AllocatorSpec* find_trace(const AllocatorSpec& spec) {
  if (spec.name == "trace") return &spec;
  for (const AllocatorSpec& inner : spec.inner) {
    if (const AllocatorSpec* trace = find_trace(inner)) return trace;
  }
  for (const auto& param : spec.params) {
    if (const AllocatorSpec* trace = find_trace(param.second)) return trace;
  }
  return nullptr;
}

absl::StatusOr<std::shared_ptr<TraceFile>> open_trace_file(const AllocatorSpec& trace) {
  std::vector<std::string> names;
  for (absl::string_view name : kOpNames) names.emplace_back(name);
  return TraceFile::open(trace.param("file")->to_string(), names);
}

std::pmr::memory_resource* Strategy::arena_upstream() const {
  return uses_arena ? shared : new_delete_upstream();
}

void set_registration_listener(RegistrationListener listener) {
  g_registration_listener.store(listener, std::memory_order_release);
}

absl::StatusOr<std::shared_ptr<const Strategy>> make_strategy(const AllocatorSpec& spec,
                                                              std::size_t arena_size,
                                                              std::size_t arena_max_size) {
  if (absl::Status s = validate_allocator_spec(spec); !s.ok()) return s;
  auto strategy = std::make_shared<Strategy>();
  strategy->spec = spec;
  if (const AllocatorSpec* trace = find_trace(spec)) {
    // Opened here, so a path that cannot be written is refused before anything changes.
    absl::StatusOr<std::shared_ptr<TraceFile>> file = open_trace_file(*trace);
    if (!file.ok()) return file.status();
    strategy->trace = *std::move(file);
  }
  const AllocatorSpec* arena_node = find_arena(spec);
  strategy->uses_arena = arena_node != nullptr;
  absl::StatusOr<std::pmr::memory_resource*> shared;
  if (strategy->uses_arena) {
    const AllocatorSpec& arena = *arena_node;
    AllocatorArgs args{&arena, nullptr};
    absl::StatusOr<std::size_t> size = args.size_param("size", arena_size);
    absl::StatusOr<std::size_t> max_size = args.size_param("max_size", arena_max_size);
    if (!size.ok()) return size.status();
    if (!max_size.ok()) return max_size.status();
    strategy->arena_size = *size;
    strategy->arena_max_size = *max_size;
    const AllocatorSpec* upstream = arena.param("upstream");
    shared = upstream != nullptr ? build_shared(*upstream, strategy->owned)
                                 : upstream_by_name(kNewDeleteUpstream);
  } else {
    strategy->arena_size = arena_size;
    strategy->arena_max_size = arena_max_size;
    shared = build_shared(spec, strategy->owned);
  }
  if (!shared.ok()) return shared.status();
  strategy->shared = *shared;
  return std::shared_ptr<const Strategy>(std::move(strategy));
}

absl::StatusOr<std::pmr::memory_resource*> build_thread_chain(const Strategy& strategy,
                                                              std::pmr::memory_resource* arena,
                                                              Owned& owned) {
  if (!strategy.uses_arena) return strategy.shared;
  return build_over_arena(strategy.spec, arena, owned);
}

}  // namespace internal
}  // namespace corepy
