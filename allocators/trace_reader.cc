#include "allocators/trace_reader.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace corepy {
namespace {

using trace_format::Kind;

// Reads fixed-size little-endian fields from the front of a byte range, refusing to run past it.
class Cursor {
 public:
  explicit Cursor(absl::string_view bytes) : bytes_(bytes) {}
  template <class T>
  bool read(T& v) {
    if (bytes_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool read_bytes(std::size_t n, std::string& out) {
    if (bytes_.size() - pos_ < n) return false;
    out.assign(bytes_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  std::size_t pos() const { return pos_; }
  std::size_t left() const { return bytes_.size() - pos_; }

 private:
  absl::string_view bytes_;
  std::size_t pos_ = 0;
};

absl::Status bad(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("not a valid corepy trace: ", what));
}

}  // namespace

std::string Trace::op_name(std::uint32_t op) const {
  return op == 0 || op > op_names.size() ? std::string("none") : op_names[op - 1];
}

double Trace::seconds(std::uint64_t ticks) const {
  return ticks_per_second == 0 ? 0.0 : static_cast<double>(ticks) / ticks_per_second;
}

absl::StatusOr<Trace> parse_trace(absl::string_view bytes) {
  Cursor c(bytes);
  std::string magic;
  if (!c.read_bytes(sizeof trace_format::kMagic, magic) ||
      std::memcmp(magic.data(), trace_format::kMagic, sizeof trace_format::kMagic) != 0) {
    return bad("it does not start with \"CPYTRACE\"");
  }
  std::uint32_t version = 0, record_size = 0, op_count = 0;
  Trace t;
  if (!c.read(version) || !c.read(record_size) || !c.read(t.ticks_per_second) ||
      !c.read(op_count)) {
    return bad(absl::StrCat("the header is truncated (", bytes.size(), " bytes)"));
  }
  if (version != trace_format::kVersion) {
    return bad(absl::StrCat("version ", version, "; this reader knows version ",
                            trace_format::kVersion));
  }
  if (record_size != trace_format::kRecordSize) {
    return bad(absl::StrCat("record size ", record_size, "; version 1 has ",
                            trace_format::kRecordSize));
  }
  if (t.ticks_per_second == 0) return bad("the clock rate is 0 ticks per second");
  if (op_count > 255) return bad(absl::StrCat(op_count, " op names; at most 255"));
  for (std::uint32_t i = 0; i < op_count; ++i) {
    std::uint8_t len = 0;
    std::string name;
    if (!c.read(len) || !c.read_bytes(len, name)) {
      return bad(absl::StrCat("the op name table is truncated at name ", i + 1, " of ", op_count));
    }
    t.op_names.push_back(std::move(name));
  }
  if (c.left() % trace_format::kRecordSize != 0) {
    return bad(absl::StrCat("truncated: ", c.left() % trace_format::kRecordSize,
                            " bytes after the last whole record (at offset ",
                            c.pos() + c.left() / trace_format::kRecordSize * trace_format::kRecordSize,
                            ")"));
  }
  const std::size_t n = c.left() / trace_format::kRecordSize;
  t.events.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t offset = c.pos();
    std::uint64_t w[3] = {0, 0, 0};  // whole records remain: the reads below succeed
    c.read(w[0]);
    c.read(w[1]);
    c.read(w[2]);
    const trace_format::Event e = trace_format::decode(w);
    auto record_error = [&](absl::string_view what) {
      return bad(absl::StrCat("record ", i, " (offset ", offset, "): ", what));
    };
    if (e.op > op_count) return record_error(absl::StrCat("op ", e.op, " past the ", op_count, " names"));
    const bool scope = e.kind == Kind::kScopeOpen || e.kind == Kind::kScopeClose;
    if (scope && (e.address != 0 || e.size != 0)) {
      return record_error("a scope event with an address or a size");
    }
    if (!scope && e.address == 0 && e.size != 0) return record_error("an allocation at address 0");
    if (e.address % e.alignment != 0 && !scope) {
      return record_error(absl::StrCat("address ", e.address, " is not ", e.alignment, "-aligned"));
    }
    if (e.thread + 1 > t.threads) t.threads = e.thread + 1;
    t.events.push_back(e);
  }
  return t;
}

absl::StatusOr<Trace> read_trace(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot open trace \"", path, "\": ", std::strerror(errno)));
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  absl::StatusOr<Trace> t = parse_trace(bytes.str());
  if (!t.ok()) {
    return absl::Status(t.status().code(), absl::StrCat(path, ": ", t.status().message()));
  }
  return t;
}

}  // namespace corepy
