// Reading an allocation trace (format: allocators/trace_format.h), with every length and field
// checked: a truncated or corrupted file is an error that says what is wrong and where, never a
// crash.
//
//   absl::StatusOr<corepy::Trace> t = corepy::read_trace("a.trace");
//   if (!t.ok()) { std::cerr << t.status() << "\n"; return 1; }
//   for (const corepy::trace_format::Event& e : t->events) ...
#ifndef COREPY_ALLOCATORS_TRACE_READER_H_
#define COREPY_ALLOCATORS_TRACE_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "allocators/trace_format.h"
#include "corepy/internal/require_cxx17.h"

namespace corepy {

struct Trace {
  std::uint64_t ticks_per_second = 0;
  std::vector<std::string> op_names;          // op i of an event is op_names[i - 1]
  std::vector<trace_format::Event> events;    // in file order
  std::uint32_t threads = 0;                  // 1 + the largest thread number

  // The op's name, "none" for 0.
  std::string op_name(std::uint32_t op) const;
  double seconds(std::uint64_t ticks) const;
};

// Parses a whole trace held in memory.
absl::StatusOr<Trace> parse_trace(absl::string_view bytes);
// Reads and parses the file at `path`.
absl::StatusOr<Trace> read_trace(const std::string& path);

}  // namespace corepy

#endif  // COREPY_ALLOCATORS_TRACE_READER_H_
