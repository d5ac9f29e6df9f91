// What the fuzz targets share: a reader that turns the fuzzer's bytes into decisions, and a
// check that stops the run with a message naming the broken invariant (libFuzzer then keeps the
// input as a crash artifact; the corpus replay test fails).
//
// The targets do not use clang's FuzzedDataProvider, so that the same sources also build with
// gcc as plain corpus-replay binaries (replay_main.cc).
#ifndef COREPY_TESTS_FUZZ_FUZZ_SUPPORT_H_
#define COREPY_TESTS_FUZZ_FUZZ_SUPPORT_H_

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace corepy::fuzz {

[[noreturn]] inline void fail(const char* file, int line, const char* condition,
                              const std::string& detail) {
  std::fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n  %s\n", file, line, condition,
               detail.c_str());
  std::fflush(stderr);
  std::abort();
}

// FUZZ_CHECK(cond, detail...): the detail pieces are joined by absl::StrCat, only on failure.
#define FUZZ_CHECK(cond, ...)                                                                \
  do {                                                                                       \
    if (!(cond)) ::corepy::fuzz::fail(__FILE__, __LINE__, #cond, absl::StrCat(__VA_ARGS__)); \
  } while (false)

// Reads the input front to back; past its end every read gives zeros, so any prefix of an
// input is an input too (which keeps libFuzzer's mutations meaningful).
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  std::size_t remaining() const { return empty() ? 0 : size_ - pos_; }

  // Little-endian. Each read is its own statement: the operands of `|` (and a call's
  // arguments) are evaluated in an unspecified order, which gcc (the corpus replay) and clang
  // (the fuzzer) may choose differently, and a seed must mean the same to both.
  std::uint8_t u8() { return empty() ? 0 : data_[pos_++]; }
  std::uint16_t u16() {
    const unsigned low = u8();
    return static_cast<std::uint16_t>(low | (unsigned{u8()} << 8));
  }
  std::uint32_t u32() {
    const std::uint32_t low = u16();
    return low | (std::uint32_t{u16()} << 16);
  }
  std::uint64_t u64() {
    const std::uint64_t low = u32();
    return low | (std::uint64_t{u32()} << 32);
  }
  bool boolean() { return (u8() & 1) != 0; }
  // A value in [0, bound), bound > 0.
  std::size_t below(std::size_t bound) { return u32() % bound; }

  // A size_t from anywhere in its range, weighted to where size arithmetic breaks: small
  // values, powers of two and their neighbours at every k, and the top of the range. A fuzzer
  // that draws sizes, alignments or counts from a narrow range never sees a request whose
  // arithmetic wraps (issue 10, defect 1: alignments were drawn up to 64 KiB only).
  //
  // Encoding: a byte `kind`, then by kind % 8 (sums wrap modulo 2^64):
  //   0  one byte b                   b (0..255)
  //   1  two bytes                    0..65535
  //   2  four bytes                   0..2^32-1
  //   3  eight bytes                  any value (little-endian)
  //   4  bytes k, d                   2^(k % 64) + kNear[d % 9]
  //   5  bytes k, d                   2^(k % 64) - kNear[d % 9]
  //   6  bytes t, s                   kTop[t % 8] + s, s a signed byte (-128..127)
  //   7  bytes k, m                   (m + 1) * 2^(k % 64)
  // kNear = {0, 1, 16, 48, 64, 4096, 2, 32, 255}
  // kTop = {2^62, 2^63, PTRDIFF_MAX (2^63-1), SIZE_MAX (2^64-1), 2^32, 2^63+2^62, 2^61, 2^60}
  // E.g. 2^63 is 04 3f 00; 2^63-16 is 05 3f 02; 2^63+16 is 04 3f 02; SIZE_MAX is 06 03 00;
  // PTRDIFF_MAX+1 is 06 02 01; 2^62 is 04 3e 00; 64 is 00 40; 1 is 00 01; 0 is 00 00.
  std::uint64_t edge() {
    static constexpr std::uint64_t kNear[] = {0, 1, 16, 48, 64, 4096, 2, 32, 255};
    static constexpr std::uint64_t kTop[] = {std::uint64_t{1} << 62,       std::uint64_t{1} << 63,
                                             (std::uint64_t{1} << 63) - 1, ~std::uint64_t{0},
                                             std::uint64_t{1} << 32,       (std::uint64_t{3} << 62),
                                             std::uint64_t{1} << 61,       std::uint64_t{1} << 60};
    switch (u8() % 8) {
      case 0:
        return u8();
      case 1:
        return u16();
      case 2:
        return u32();
      case 3:
        return u64();
      case 4: {
        const std::uint64_t power = std::uint64_t{1} << (u8() % 64);
        return power + kNear[u8() % 9];
      }
      case 5: {
        const std::uint64_t power = std::uint64_t{1} << (u8() % 64);
        return power - kNear[u8() % 9];
      }
      case 6: {
        const std::uint64_t top = kTop[u8() % 8];
        return top + static_cast<std::uint64_t>(
                         static_cast<std::int64_t>(static_cast<std::int8_t>(u8())));
      }
      default: {
        const unsigned k = u8() % 64;
        return (std::uint64_t{u8()} + 1) << k;
      }
    }
  }

  // Bytes up to (not including) the next `delimiter` or the end; the delimiter is consumed.
  absl::string_view until(char delimiter) {
    const std::size_t start = pos_ < size_ ? pos_ : size_;
    std::size_t end = start;
    while (end < size_ && data_[end] != static_cast<std::uint8_t>(delimiter)) ++end;
    pos_ = end < size_ ? end + 1 : size_;
    return absl::string_view(reinterpret_cast<const char*>(data_) + start, end - start);
  }
  // Everything not read yet.
  absl::string_view rest() {
    const std::size_t start = pos_ < size_ ? pos_ : size_;
    pos_ = size_;
    return absl::string_view(reinterpret_cast<const char*>(data_) + start, size_ - start);
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

// What `f` writes on stderr (file descriptor 2) while it runs; it does not reach the fuzzer's
// own output.
template <class F>
std::string capture_stderr(F f) {
  static std::FILE* sink = std::tmpfile();
  FUZZ_CHECK(sink != nullptr, "no temporary file for stderr");
  const int fd = fileno(sink);
  FUZZ_CHECK(ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0, "cannot rewind the sink");
  std::fflush(stderr);
  const int saved = dup(2);
  dup2(fd, 2);
  f();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  std::string out;
  lseek(fd, 0, SEEK_SET);
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  return out;
}

// Text for a message: non-printable bytes as \xNN, so a failure's detail stays readable.
inline std::string printable(absl::string_view s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out += c;
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

}  // namespace corepy::fuzz

#endif  // COREPY_TESTS_FUZZ_FUZZ_SUPPORT_H_
