// Fuzz target 1: corepy's configuration text. The allocator spec grammar and its validation
// against the registry, byte sizes, per-op arena sizes, the COREPY_* environment and
// corepy::configure(), each checked against a small reference written here from the headers'
// contracts (not from the parsers' code), so a wrong answer fails as surely as a crash.
//
// Input: the first byte picks what is fuzzed, the rest is the text (or lines of text):
//   's' spec text: parse_allocator_spec, to_string, validate_allocator_spec
//   'b' text: parse_byte_size
//   'o' text: parse_op_arena_sizes
//   'e' five bytes, one each for COREPY_ALLOCATOR, _ARENA_SIZE, _ARENA_MAX_SIZE,
//       _OP_ARENA_SIZES, _LOG: '#' leaves it unset, else picks a value from a table (kEnvValues
//       says why); reset_configuration() reads them; then a sixth byte, if odd, configures
//       code on top
//   'c' a configure() call: the same five lines as Options fields ('#': field not set; sizes
//       as byte sizes, or any other bytes as a raw 64-bit value; log: "1" on, else off),
//       applied over a valid earlier configure()
// Any other first byte picks one of these by its value modulo 5.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "allocators/upstream_resources.h"
#include "corepy/allocator_spec.h"
#include "corepy/byte_size.h"
#include "corepy/config.h"
#include "corepy/op_table.h"
#include "corepy/registry.h"
#include "tests/fuzz/fuzz_support.h"

namespace corepy::fuzz {
namespace {

constexpr std::size_t kSizeMax = std::numeric_limits<std::size_t>::max();
// The spec grammar's nesting limit (allocator_spec.cc): the root and 32 levels below it.
constexpr int kMaxSpecDepth = 32;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_word_char(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '.';
}

absl::string_view trim(absl::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// `what` on `text` gave `status`; the reference accepts it or not (`want_ok`). They must agree,
// and a refusal must be an InvalidArgument error that quotes `quoted` (the bad text, with the
// message's lead-in). Returns whether it was accepted.
bool same_verdict(absl::string_view what, absl::string_view text, const absl::Status& status,
                  bool want_ok, absl::string_view quoted) {
  FUZZ_CHECK(status.ok() == want_ok, what, "(\"", printable(text),
             "\"): ", status.ok() ? "accepted" : "refused", ", the reference ",
             want_ok ? "accepts" : "refuses", " ", status.ToString());
  if (status.ok()) return true;
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument, status.ToString());
  FUZZ_CHECK(absl::StrContains(status.message(), quoted), "the message does not quote ",
             printable(quoted), ": ", printable(status.message()));
  return false;
}

// ---- reference: byte sizes ("digits, optional unit": byte_size.h) ----

std::optional<std::size_t> ref_byte_size(absl::string_view text) {
  absl::string_view s = trim(text);
  static constexpr std::pair<absl::string_view, std::uint64_t> kUnits[] = {
      {"KiB", 1ull << 10}, {"MiB", 1ull << 20},   {"GiB", 1ull << 30}, {"KB", 1000ull},
      {"MB", 1000000ull},  {"GB", 1000000000ull}, {"B", 1ull}};
  unsigned __int128 multiplier = 1;
  for (const auto& [unit, m] : kUnits) {
    if (s.size() > unit.size() && absl::EndsWith(s, unit)) {
      s = trim(s.substr(0, s.size() - unit.size()));
      multiplier = m;
      break;
    }
  }
  if (s.empty()) return std::nullopt;
  unsigned __int128 value = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
    if (value > kSizeMax) return std::nullopt;
  }
  value *= multiplier;
  if (value > kSizeMax) return std::nullopt;
  return static_cast<std::size_t>(value);
}

void check_byte_size(absl::string_view text) {
  const absl::StatusOr<std::size_t> got = parse_byte_size(text);
  const std::optional<std::size_t> want = ref_byte_size(text);
  if (!same_verdict("parse_byte_size", text, got.status(), want.has_value(),
                    absl::StrCat("invalid byte size \"", text, "\""))) {
    return;
  }
  FUZZ_CHECK(*got == *want, "parse_byte_size(\"", printable(text), "\") = ", *got, ", expected ",
             *want);
  // Every accepted size reads back the same from its plain digits and from each exact unit.
  const std::size_t n = *got;
  FUZZ_CHECK(parse_byte_size(absl::StrCat(n)).value_or(~n) == n, n);
  const std::pair<const char*, std::size_t> units[] = {{"KiB", 1u << 10}, {"MiB", 1u << 20},
                                                       {"GiB", 1u << 30}, {"KB", 1000},
                                                       {"MB", 1000000},   {"GB", 1000000000}};
  for (const auto& [unit, m] : units) {
    if (n % m == 0) {
      FUZZ_CHECK(parse_byte_size(absl::StrCat(" ", n / m, " ", unit, " ")).value_or(~n) == n, n,
                 " as ", n / m, unit);
    }
  }
}

// ---- reference: the spec grammar (allocator_spec.h), by tokens rather than characters ----

struct Token {
  enum Kind { kWord, kOpen, kClose, kComma, kEquals } kind;
  std::string word;
};

class RefSpecParser {
 public:
  std::optional<AllocatorSpec> parse(absl::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
      const char c = text[i];
      if (is_space(c)) {
        ++i;
      } else if (is_word_char(c)) {
        std::size_t j = i;
        while (j < text.size() && is_word_char(text[j])) ++j;
        tokens_.push_back({Token::kWord, std::string(text.substr(i, j - i))});
        i = j;
      } else if (c == '(' || c == ')' || c == ',' || c == '=') {
        tokens_.push_back({c == '('   ? Token::kOpen
                           : c == ')' ? Token::kClose
                           : c == ',' ? Token::kComma
                                      : Token::kEquals,
                           ""});
        ++i;
      } else {
        return std::nullopt;  // no token starts with it
      }
    }
    AllocatorSpec spec;
    if (!spec_at(spec, 0) || pos_ != tokens_.size()) return std::nullopt;
    return spec;
  }

 private:
  bool is(Token::Kind k, std::size_t ahead = 0) const {
    return pos_ + ahead < tokens_.size() && tokens_[pos_ + ahead].kind == k;
  }
  bool spec_at(AllocatorSpec& spec, int depth) {
    if (depth > kMaxSpecDepth || !is(Token::kWord)) return false;
    spec.name = tokens_[pos_++].word;
    if (!is(Token::kOpen)) return true;
    ++pos_;
    if (is(Token::kClose)) return ++pos_, true;
    while (true) {
      if (is(Token::kWord) && is(Token::kEquals, 1)) {
        std::string key = tokens_[pos_].word;
        pos_ += 2;
        AllocatorSpec value;
        if (!spec_at(value, depth + 1)) return false;
        spec.params.emplace_back(std::move(key), std::move(value));
      } else {
        AllocatorSpec inner;
        if (!spec_at(inner, depth + 1)) return false;
        spec.inner.push_back(std::move(inner));
      }
      if (is(Token::kClose)) return ++pos_, true;
      if (!is(Token::kComma)) return false;
      ++pos_;
    }
  }

  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
};

bool same_tree(const AllocatorSpec& a, const AllocatorSpec& b) {
  if (a.name != b.name || a.inner.size() != b.inner.size() || a.params.size() != b.params.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.inner.size(); ++i) {
    if (!same_tree(a.inner[i], b.inner[i])) return false;
  }
  for (std::size_t i = 0; i < a.params.size(); ++i) {
    if (a.params[i].first != b.params[i].first ||
        !same_tree(a.params[i].second, b.params[i].second)) {
      return false;
    }
  }
  return true;
}

// ---- reference: what the registry accepts (registry.h) ----

bool mimalloc_available() {
  static const bool available = upstream_by_name(kMimallocUpstream).ok();
  return available;
}

class RefValidator {
 public:
  bool valid(const AllocatorSpec& spec, bool in_upstream) {
    const std::string& n = spec.name;
    if (n == "arena") {
      if (in_upstream || ++arenas_ > 1) return false;
      if (!spec.inner.empty() || !params_ok(spec, {"size", "max_size", "upstream"})) return false;
      if (!size_ok(spec.param("size")) || !size_ok(spec.param("max_size"))) return false;
      const AllocatorSpec* up = spec.param("upstream");
      return up == nullptr || valid(*up, true);
    }
    if (n == "system" || n == "new_delete" || n == "pool" || n == "mimalloc") {
      if (n == "mimalloc" && !mimalloc_available()) return false;
      return spec.inner.empty() && spec.params.empty();
    }
    if (n == "stats") {
      return spec.inner.size() == 1 && spec.params.empty() && valid(spec.inner[0], in_upstream);
    }
    if (n == "limit") {
      return spec.inner.size() == 1 && params_ok(spec, {"max"}) && spec.param("max") != nullptr &&
             size_ok(spec.param("max")) && valid(spec.inner[0], in_upstream);
    }
    return false;  // no user allocators are registered in this process
  }

 private:
  // Only the keys the allocator takes, each at most once: a repeated key would leave one of
  // its values unused (and unchecked).
  static bool params_ok(const AllocatorSpec& spec, std::vector<absl::string_view> keys) {
    std::set<std::string> seen;
    for (const auto& [key, value] : spec.params) {
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) return false;
      if (!seen.insert(key).second) return false;
    }
    return true;
  }
  static bool size_ok(const AllocatorSpec* value) {
    return value == nullptr || ref_byte_size(value->to_string()).has_value();
  }

  int arenas_ = 0;
};

// Checks text as a spec; returns the canonical text if it is a valid allocator.
std::optional<std::string> check_spec(absl::string_view text) {
  const absl::StatusOr<AllocatorSpec> got = parse_allocator_spec(text);
  const std::optional<AllocatorSpec> want = RefSpecParser().parse(text);
  if (!same_verdict("parse_allocator_spec", text, got.status(), want.has_value(),
                    absl::StrCat("invalid allocator spec \"", text, "\""))) {
    return std::nullopt;
  }
  FUZZ_CHECK(same_tree(*got, *want), "parse_allocator_spec(\"", printable(text),
             "\") = ", got->to_string(), ", the reference reads ", want->to_string());
  // The canonical text has no spaces and is a fixed point: it reads back as the same tree.
  const std::string canonical = got->to_string();
  FUZZ_CHECK(std::none_of(canonical.begin(), canonical.end(), is_space), canonical);
  const absl::StatusOr<AllocatorSpec> again = parse_allocator_spec(canonical);
  FUZZ_CHECK(again.ok() && again->to_string() == canonical, "\"", printable(text),
             "\" printed as \"", canonical, "\" which reads back as ",
             again.ok() ? again->to_string() : again.status().ToString());
  // Params print after wrapped allocators, so the trees match only when the order did already.
  FUZZ_CHECK(again->name == got->name && again->inner.size() == got->inner.size() &&
                 again->params.size() == got->params.size(),
             canonical);

  const absl::Status valid = validate_allocator_spec(*got);
  const bool want_valid = RefValidator().valid(*got, false);
  if (!same_verdict("validate_allocator_spec", canonical, valid, want_valid,
                    absl::StrCat("invalid allocator spec \"", canonical, "\""))) {
    return std::nullopt;
  }
  return canonical;
}

// ---- reference: per-op arena sizes ("sum_f32=64KiB, mean_f32=256KiB": config.h) ----

std::optional<std::array<std::size_t, kOpCount>> ref_op_sizes(absl::string_view text) {
  std::array<std::size_t, kOpCount> sizes{};
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == absl::string_view::npos) comma = text.size();
    const absl::string_view entry = text.substr(start, comma - start);
    start = comma + 1;
    if (trim(entry).empty()) continue;  // blank entries are skipped
    const std::size_t eq = entry.find('=');
    const absl::string_view name = trim(entry.substr(0, eq));
    const absl::string_view value = eq == absl::string_view::npos ? "" : entry.substr(eq + 1);
    const auto op = std::find(kOpNames.begin(), kOpNames.end(), name);
    if (op == kOpNames.end()) return std::nullopt;
    const std::optional<std::size_t> size = ref_byte_size(value);
    if (!size) return std::nullopt;
    sizes[static_cast<std::size_t>(op - kOpNames.begin())] = *size;
  }
  return sizes;
}

std::optional<std::array<std::size_t, kOpCount>> check_op_sizes(absl::string_view text) {
  const auto got = parse_op_arena_sizes(text);
  const auto want = ref_op_sizes(text);
  if (!same_verdict("parse_op_arena_sizes", text, got.status(), want.has_value(),
                    absl::StrCat("invalid per-op arena sizes \"", text, "\""))) {
    return std::nullopt;
  }
  FUZZ_CHECK(*got == *want, "parse_op_arena_sizes(\"", printable(text), "\") differs");
  return *got;
}

// ---- the environment and configure() ----

constexpr std::array<const char*, 5> kEnv = {"COREPY_ALLOCATOR", "COREPY_ARENA_SIZE",
                                             "COREPY_ARENA_MAX_SIZE", "COREPY_OP_ARENA_SIZES",
                                             "COREPY_LOG"};

std::optional<bool> ref_log(absl::string_view text) {
  const std::string v = absl::AsciiStrToLower(trim(text));
  if (v == "debug") return true;
  if (v == "off" || v == "0" || v == "none" || v.empty()) return false;
  return std::nullopt;
}

std::string describe(const Settings& s) {
  std::string ops;
  for (std::size_t n : s.op_arena_sizes) absl::StrAppend(&ops, n, " ");
  return absl::StrCat("{allocator ", s.allocator, ", arena_size ", s.arena_size,
                      ", arena_max_size ", s.arena_max_size, ", op sizes ", ops, ", log ",
                      s.debug_log, "}");
}

bool operator==(const Settings& a, const Settings& b) {
  return a.allocator == b.allocator && a.arena_size == b.arena_size &&
         a.arena_max_size == b.arena_max_size && a.op_arena_sizes == b.op_arena_sizes &&
         a.debug_log == b.debug_log;
}

void clear_environment() {
  for (const char* name : kEnv) unsetenv(name);
}

// The values the environment mode sets, good and bad. A table rather than free text: the
// runtime names each distinct bad value once and remembers it for the life of the process
// (internal::report_once), so free text would grow the fuzzer's memory without bound. The
// parsers themselves get free text in the other modes; this mode checks the wiring: which
// variable sets what, a bad one keeps its default and is named, code wins over the environment.
constexpr std::array<std::array<const char*, 12>, kEnv.size()> kEnvValues = {{
    {"arena", " stats( arena ) ", "limit(arena, max=64MiB)", "arena(upstream=pool, size=8KiB)",
     "system", "mimalloc", "limit(arena)", "stats(arena, arena)", "arena(", "", "jemalloc",
     "arena(size=1MiB, size=2MiB)"},
    {"64KiB", " 4096 ", "0", "2GiB", "18446744073709551615", "18446744073709551616", "", "1.5MiB",
     "64 KiB", "KiB", "-1", "1MiB!"},
    {"0", "4MiB", " 1 GB", "7", "", "x", "99999999999999999999", "8 MiB", "MiB", "0x10", "1e6",
     "16MiB"},
    {"sum_f32=64KiB", " mean_f32 = 1MiB , any_bool=1 ", "", ",,", "sum_f32",
     "sum_f32=", "bogus=1KiB", "sum_i32=1KiB,sum_i32=2KiB", "all_bool=-1", "SUM_F32=1",
     "sum_rows_f32=8KiB", "mean_cols_f32=4096"},
    {"debug", "DEBUG", " off ", "0", "none", "", "1", "on", "verbose", "debug!", "Off", "NONE"},
}};

void fuzz_environment(Input& in) {
  std::array<std::optional<std::string>, kEnv.size()> values;
  for (std::size_t i = 0; i < kEnv.size(); ++i) {
    const std::uint8_t pick = in.u8();
    if (pick == '#') continue;  // unset
    values[i] = kEnvValues[i][pick % kEnvValues[i].size()];
    setenv(kEnv[i], values[i]->c_str(), 1);
  }
  Settings want;  // the defaults, then each good value
  std::array<bool, kEnv.size()> bad{};
  if (values[0]) {
    if (std::optional<std::string> a = check_spec(*values[0]))
      want.allocator = *a;
    else
      bad[0] = true;
  }
  if (values[1]) {
    if (auto n = ref_byte_size(*values[1]))
      want.arena_size = *n;
    else
      bad[1] = true;
  }
  if (values[2]) {
    if (auto n = ref_byte_size(*values[2]))
      want.arena_max_size = *n;
    else
      bad[2] = true;
  }
  if (values[3]) {
    if (auto s = ref_op_sizes(*values[3]))
      want.op_arena_sizes = *s;
    else
      bad[3] = true;
  }
  if (values[4]) {
    if (auto on = ref_log(*values[4]))
      want.debug_log = *on;
    else
      bad[4] = true;
  }

  const std::string said = capture_stderr([] { reset_configuration(); });
  FUZZ_CHECK(settings() == want, "from the environment: ", describe(settings()), ", expected ",
             describe(want));
  // A bad value is named on stderr the first time it is seen, with the variable and the value,
  // one line each; a good one never is.
  const std::vector<std::string> lines = absl::StrSplit(said, '\n');
  const auto named = [&lines](const std::string& origin) {
    const std::string prefix = absl::StrCat("corepy: ignoring ", origin, ": ");
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return absl::StartsWith(l, prefix); });
  };
  static std::set<std::string> reported;
  for (std::size_t i = 0; i < kEnv.size(); ++i) {
    if (!values[i]) continue;
    const std::string origin = absl::StrCat(kEnv[i], "=\"", *values[i], "\"");
    if (bad[i] && reported.insert(origin).second) {
      FUZZ_CHECK(named(origin), "the bad value ", origin,
                 " was not named; stderr: ", printable(said));
    }
    if (!bad[i]) FUZZ_CHECK(!named(origin), "a good value was named as bad: ", printable(said));
  }

  // Code wins over the environment, field by field; forgetting it goes back to the environment.
  if (in.boolean()) {
    Options code;
    code.arena_size = 5u << 20;
    code.op_arena_sizes = "any_bool=3KiB";
    FUZZ_CHECK(configure(code).ok(), "configure over the environment");
    Settings over = want;
    over.arena_size = *code.arena_size;
    over.op_arena_sizes = *parse_op_arena_sizes(*code.op_arena_sizes);
    FUZZ_CHECK(settings() == over, "code over the environment: ", describe(settings()),
               ", expected ", describe(over));
    reset_configuration();
    FUZZ_CHECK(settings() == want, "back to the environment: ", describe(settings()), ", expected ",
               describe(want));
  }
  clear_environment();
  reset_configuration();
}

// A size field of Options: a byte size, or any other bytes as a raw value (configure() takes
// every size; the arena that later gets it decides).
std::size_t size_field(absl::string_view line) {
  if (std::optional<std::size_t> n = ref_byte_size(line)) return *n;
  std::uint64_t raw = 0;
  std::memcpy(&raw, line.data(), std::min(line.size(), sizeof raw));
  return raw;
}

void fuzz_configure(Input& in) {
  std::array<std::optional<absl::string_view>, 5> lines;
  for (auto& line : lines) {
    const absl::string_view l = in.until('\n');
    if (!absl::StartsWith(l, "#")) line = l;
  }
  // A configuration already in force, which a refused call must leave as it is.
  Options base;
  base.allocator = "stats(arena)";
  base.arena_size = 3u << 20;
  base.op_arena_sizes = "sum_i32=8KiB";
  FUZZ_CHECK(configure(base).ok(), "the base configuration");
  const Settings before = settings();
  const std::uint64_t generation_before = internal::config_generation();

  Options o;
  if (lines[0]) o.allocator = std::string(*lines[0]);
  if (lines[1]) o.arena_size = size_field(*lines[1]);
  if (lines[2]) o.arena_max_size = size_field(*lines[2]);
  if (lines[3]) o.op_arena_sizes = std::string(*lines[3]);
  if (lines[4]) o.debug_log = *lines[4] == "1";

  Settings want = before;
  std::optional<std::string> bad_text;  // what a refusal must quote
  if (o.allocator) {
    if (std::optional<std::string> a = check_spec(*o.allocator)) {
      want.allocator = *a;
    } else {
      const absl::StatusOr<AllocatorSpec> parsed = parse_allocator_spec(*o.allocator);
      bad_text = parsed.ok() ? parsed->to_string() : *o.allocator;
    }
  }
  if (o.op_arena_sizes && !bad_text) {
    if (auto sizes = check_op_sizes(*o.op_arena_sizes)) {
      want.op_arena_sizes = *sizes;
    } else {
      bad_text = *o.op_arena_sizes;
    }
  }
  if (o.arena_size) want.arena_size = *o.arena_size;
  if (o.arena_max_size) want.arena_max_size = *o.arena_max_size;
  if (o.debug_log) want.debug_log = *o.debug_log;

  const absl::Status status = configure(o);
  const bool expect_ok = !bad_text;
  FUZZ_CHECK(status.ok() == expect_ok, "configure: ", status.ToString(), "; expected ",
             expect_ok ? "OK" : absl::StrCat("a refusal quoting \"", printable(*bad_text), "\""));
  if (status.ok()) {
    FUZZ_CHECK(settings() == want, "after configure: ", describe(settings()), ", expected ",
               describe(want));
    FUZZ_CHECK(internal::config_generation() > generation_before, "the generation did not move");
  } else {
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument, status.ToString());
    FUZZ_CHECK(absl::StrContains(status.message(), absl::StrCat("\"", *bad_text, "\"")),
               "the refusal does not quote \"", printable(*bad_text), "\": ", status.ToString());
    FUZZ_CHECK(settings() == before,
               "a refused configure changed the settings: ", describe(settings()), ", was ",
               describe(before));
    FUZZ_CHECK(internal::config_generation() == generation_before,
               "a refused configure moved the generation");
  }
  reset_configuration();
}

}  // namespace
}  // namespace corepy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace corepy::fuzz;  // NOLINT: the target's own helpers
  Input in(data, size);
  const std::uint8_t selector = in.u8();
  int mode;
  switch (selector) {
    case 's':
      mode = 0;
      break;
    case 'b':
      mode = 1;
      break;
    case 'o':
      mode = 2;
      break;
    case 'e':
      mode = 3;
      break;
    case 'c':
      mode = 4;
      break;
    default:
      mode = selector % 5;
  }
  switch (mode) {
    case 0:
      check_spec(in.rest());
      break;
    case 1:
      check_byte_size(in.rest());
      break;
    case 2:
      check_op_sizes(in.rest());
      break;
    case 3:
      fuzz_environment(in);
      break;
    case 4:
      fuzz_configure(in);
      break;
  }
  return 0;
}
