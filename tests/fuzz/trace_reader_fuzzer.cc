// The trace reader over arbitrary bytes: every input is either a trace whose events pass the
// reader's checks, or an error that says what is wrong; never a crash, a read out of bounds or
// a leak (ASan, UBSan).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "allocators/trace_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const absl::StatusOr<corepy::Trace> t =
      corepy::parse_trace(absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!t.ok()) {
    if (t.status().message().empty()) {
      std::fprintf(stderr, "an error without a message\n");
      std::abort();
    }
    return 0;
  }
  for (const corepy::trace_format::Event& e : t->events) {
    if (e.op > t->op_names.size() || e.thread >= t->threads) {
      std::fprintf(stderr, "an event the reader should have refused\n");
      std::abort();
    }
    (void)t->op_name(e.op);
  }
  return 0;
}
