// Fuzz target 3: the C ABI (corepy/c_api.h) with hostile counts, shapes and pointers, as far
// as ASan lets a caller be hostile: every pointer the target passes is valid for the count or
// shape it passes (the data is a heap block of exactly that many elements, so a read past it
// is an ASan report), or NULL, or the shape is one no array can hold, which the library must
// refuse before it reads or writes anything. Counts and shapes span all of size_t
// (Input::edge(): powers of two and their neighbours, 2^62, 2^63, SIZE_MAX, ...; issue 10).
//
// Each step is one call, and each result is checked:
//   - NULL data with count > 0 (any count up to SIZE_MAX), NULL data with rows and cols both
//     nonzero, or a NULL out: COREPY_ERROR_NULL_POINTER, *out untouched, and
//     corepy_last_error() says which function;
//   - the rows x cols reductions: a shape where rows, cols or rows * cols exceeds
//     PTRDIFF_MAX / sizeof(float) (the product computed without wrapping: 2^32 x 2^32 is not
//     0) is COREPY_ERROR_INVALID_ARGUMENT with out untouched; between PTRDIFF_MAX / 8 and that
//     it may be (results may be 8 bytes wide); any other shape the target can back with memory
//     (small ones, and empty ones whatever the other dimension) is reduced: row sums bit for bit
//     the kernel's sum of each row, column sums and means against double references, empty
//     axes 0 or NaN, nothing written past the results;
//   - count 0: the numpy edge values (sum 0, mean NaN, all true, any false);
//   - real data: sum_i32 exact against an int64 loop, all/any against a loop over the bytes
//     (any nonzero byte is true), sum_f32/mean_f32 against a double reference within a bound
//     for the pairwise order, with Inf/NaN where IEEE addition must give them; the dispatched
//     sum bit-identical to the kernel-only entry;
//   - corepy_configure with fuzzed keys and values: OK when the value is good (the parsers,
//     fuzzed against references by config_fuzzer, say which), else
//     COREPY_ERROR_INVALID_ARGUMENT with a message; a good value whose configuration has an
//     arena larger than kLargestArena, or an arena over a limit(...), may also be refused
//     (configure() builds the calling thread's arenas first, and this process refuses
//     allocations past 64 MiB: capped_new.cc), as COREPY_ERROR_OUT_OF_MEMORY or
//     COREPY_ERROR_INVALID_ARGUMENT naming the size; a refusal changes nothing; reductions
//     keep working after either;
//   - corepy_arena_stats, corepy_op_stats_json with any buffer size, corepy_error_string for
//     any int code.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "corepy/allocator_spec.h"
#include "corepy/byte_size.h"
#include "corepy/c_api.h"
#include "corepy/config.h"
#include "corepy/registry.h"
#include "tests/fuzz/config_reference.h"
#include "tests/fuzz/fuzz_support.h"

namespace corepy::fuzz {
namespace {

// A configuration with arenas past kLargestArena (config_reference.h) may be refused; one that
// is not is kept in force only until the next step (the runtime would really allocate it).
constexpr std::size_t kMaxObject =
    static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max());
// Shapes: no float array holds more than kMaxFloats elements; the library may refuse more than
// kMaxWide (its results may be 8 bytes wide).
constexpr std::size_t kMaxFloats = kMaxObject / sizeof(float);
constexpr std::size_t kMaxWide = kMaxObject / 8;
// The largest matrix the target backs with memory, and the results it leaves room for when a
// hostile shape is reduced.
constexpr std::size_t kMaxCells = 16384;
constexpr std::size_t kHostileOut = 64;

// A heap block of exactly `count` elements (none: a real, non-null pointer still).
template <class T>
struct Buffer {
  explicit Buffer(std::size_t n) : count(n), data(new T[n == 0 ? 1 : n]) {}
  T* get() const { return data.get(); }
  std::size_t count;
  std::unique_ptr<T[]> data;
};

std::uint32_t xorshift(std::uint32_t& s) {
  s ^= s << 13;
  s ^= s >> 17;
  s ^= s << 5;
  return s;
}

class Session {
 public:
  explicit Session(Input& in) : in_(in) {}

  // Steps: a byte; 0xe0-0xff a matrix reduction (matrix() reads the byte's low bits), else by
  // its value % 12 (kept apart so that the seeds written before the matrices keep their
  // meaning).
  void run() {
    reset_configuration();
    for (int step = 0; step < 48 && !in_.empty(); ++step) {
      const std::uint8_t op = in_.u8();
      if (op >= 0xe0) {
        matrix(op);
        continue;
      }
      switch (op % 12) {
        case 0:
        case 1:
          sum_f32();
          break;
        case 2:
          sum_i32();
          break;
        case 3:
          mean_f32();
          break;
        case 4:
          all_any(true);
          break;
        case 5:
          all_any(false);
          break;
        case 6:
        case 7:
          configure();
          break;
        case 8:
          arena_stats();
          break;
        case 9:
          op_stats_json();
          break;
        case 10:
          error_strings();
          break;
        case 11:
          null_pointers();
          break;
      }
    }
    reset_configuration();
  }

 private:
  std::size_t pick_count() {
    switch (in_.u8() % 8) {
      case 0:
        return 0;
      case 1:
        return 1 + in_.u8() % 16;
      case 2:
      case 3:
      case 4:
        return in_.u16() % 513;
      case 5:
      case 6:
        return in_.u16() % 8193;  // a few 2048-float blocks
      default:
        return 32768 - 64 + in_.u8();  // around a 32Ki-float chunk
    }
  }

  // Floats: the first ones from the input's bits, the rest from a generator whose mix of
  // magnitudes and special values the input picks.
  Buffer<float> floats(std::size_t n) {
    Buffer<float> b(n);
    std::uint32_t seed = in_.u32() | 1;
    const std::uint8_t mix = in_.u8();
    for (std::size_t i = 0; i < n; ++i) {
      if (i < 32 && in_.remaining() >= 4 && (mix & 0x80) != 0) {
        const std::uint32_t bits = in_.u32();
        std::memcpy(&b.data[i], &bits, sizeof bits);
        continue;
      }
      const std::uint32_t r = xorshift(seed);
      float v;
      switch ((r >> 24) % 16 < (mix & 15) ? r % 6 : 6) {
        case 0:
          v = std::numeric_limits<float>::infinity();
          break;
        case 1:
          v = -std::numeric_limits<float>::infinity();
          break;
        case 2:
          v = std::numeric_limits<float>::quiet_NaN();
          break;
        case 3:
          v = std::numeric_limits<float>::max() * ((r & 64) != 0 ? 1.0f : -1.0f);
          break;
        case 4:
          v = std::numeric_limits<float>::denorm_min() * static_cast<float>(r & 1023);
          break;
        case 5:
          v = static_cast<float>(static_cast<std::int32_t>(r)) * 1e20f;
          break;
        default:
          v = static_cast<float>(static_cast<std::int32_t>(r % 2001) - 1000) / 8.0f;
          break;
      }
      b.data[i] = v;
    }
    return b;
  }

  // What IEEE addition allows for a sum of these floats in any order, and the bound for the
  // pairwise order of ops/reduce.h: each of 128 lanes sums its share of a 2048-float block in
  // sequence, then balanced trees.
  struct FloatReference {
    double sum = 0;      // of the finite values
    double abs_sum = 0;  // of their magnitudes
    bool nan = false, pos_inf = false, neg_inf = false;
    std::size_t n = 0;
  };
  static FloatReference reference(const float* x, std::size_t n) {
    FloatReference r;
    r.n = n;
    for (std::size_t i = 0; i < n; ++i) {
      if (std::isnan(x[i]))
        r.nan = true;
      else if (std::isinf(x[i]))
        (x[i] > 0 ? r.pos_inf : r.neg_inf) = true;
      else
        r.sum += x[i], r.abs_sum += std::fabs(x[i]);
    }
    return r;
  }
  static double bound(const FloatReference& r) {
    const double depth = static_cast<double>(std::min<std::size_t>(r.n, 128)) +
                         2 * std::log2(static_cast<double>(r.n) + 1) + 8;
    return depth * std::ldexp(r.abs_sum, -24) +
           static_cast<double>(r.n) * std::numeric_limits<float>::denorm_min();
  }
  // `got` as a float sum (scale 1) or mean (scale n) of the values behind `r`.
  static void check_float(const char* what, float got, const FloatReference& r, double scale) {
    const bool no_overflow = r.abs_sum <= std::numeric_limits<float>::max() / 2;
    if (r.nan || (r.pos_inf && r.neg_inf)) {
      FUZZ_CHECK(std::isnan(got), what, " = ", got, ", expected NaN (NaN or both infinities in)");
      return;
    }
    if (r.pos_inf || r.neg_inf) {
      const float inf = r.pos_inf ? std::numeric_limits<float>::infinity()
                                  : -std::numeric_limits<float>::infinity();
      // The finite values could overflow to the other infinity on the way only when large.
      FUZZ_CHECK(got == inf || (!no_overflow && std::isnan(got)), what, " = ", got, ", expected ",
                 inf);
      return;
    }
    if (!std::isfinite(got)) {
      FUZZ_CHECK(!no_overflow, what, " = ", got, " from finite values summing to ", r.sum,
                 " (magnitudes ", r.abs_sum, ")");
      return;
    }
    const double err = std::fabs(static_cast<double>(got) * scale - r.sum);
    FUZZ_CHECK(err <= bound(r) + std::fabs(r.sum) * std::ldexp(1.0, -23), what, " = ", got, " (x",
               scale, "), reference ", r.sum, ", error ", err, " > bound ", bound(r), " over ", r.n,
               " values");
  }

  void expect_ok(int rc, const char* what) {
    FUZZ_CHECK(rc == COREPY_OK || (rc == COREPY_ERROR_OUT_OF_MEMORY && !arenas_buildable_), what,
               " returned ", rc, " (", corepy_error_string(rc), "): ", corepy_last_error());
  }

  void sum_f32() {
    const std::size_t n = pick_count();
    Buffer<float> x = floats(n);
    float got = 12345.0f, kernel = 54321.0f;
    const int rc = logged("sum_f32", [&] { return corepy_sum_f32(x.get(), n, &got); });
    const int rc_kernel = corepy_sum_f32_kernel(x.get(), n, &kernel);
    FUZZ_CHECK(rc_kernel == COREPY_OK, "corepy_sum_f32_kernel: ", rc_kernel);
    expect_ok(rc, "corepy_sum_f32");
    if (rc != COREPY_OK) {
      FUZZ_CHECK(got == 12345.0f, "a failed call wrote *out");
      return;
    }
    if (n == 0) FUZZ_CHECK(got == 0.0f && !std::signbit(got), "sum of nothing = ", got);
    check_float("sum_f32", got, reference(x.get(), n), 1.0);
    // One kernel, with or without the dispatch layer around it: the same bits.
    FUZZ_CHECK(
        std::memcmp(&got, &kernel, sizeof got) == 0 || (std::isnan(got) && std::isnan(kernel)),
        "dispatched ", got, " but the kernel alone ", kernel);
  }

  void mean_f32() {
    const std::size_t n = pick_count();
    Buffer<float> x = floats(n);
    float got = 12345.0f;
    const int rc = logged("mean_f32", [&] { return corepy_mean_f32(x.get(), n, &got); });
    expect_ok(rc, "corepy_mean_f32");
    if (rc != COREPY_OK) {
      FUZZ_CHECK(got == 12345.0f, "a failed call wrote *out");
      return;
    }
    if (n == 0) {
      FUZZ_CHECK(std::isnan(got), "mean of nothing = ", got);
      return;
    }
    check_float("mean_f32", got, reference(x.get(), n), static_cast<double>(n));
  }

  void sum_i32() {
    const std::size_t n = pick_count();
    Buffer<std::int32_t> x(n);
    std::uint32_t seed = in_.u32() | 1;
    const std::uint8_t mix = in_.u8();
    std::int64_t want = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint32_t r = xorshift(seed);
      std::int32_t v;
      switch ((mix >> (i % 4 * 2)) & 3) {
        case 0:
          v = std::numeric_limits<std::int32_t>::max();
          break;
        case 1:
          v = std::numeric_limits<std::int32_t>::min();
          break;
        case 2:
          v = static_cast<std::int32_t>(r % 201) - 100;
          break;
        default:
          v = static_cast<std::int32_t>(r);
          break;
      }
      x.data[i] = v;
      want += v;
    }
    std::int64_t got = 777;
    const int rc = logged("sum_i32", [&] { return corepy_sum_i32(x.get(), n, &got); });
    expect_ok(rc, "corepy_sum_i32");
    if (rc != COREPY_OK) {
      FUZZ_CHECK(got == 777, "a failed call wrote *out");
      return;
    }
    FUZZ_CHECK(got == want, "corepy_sum_i32 over ", n, " values = ", got, ", expected ", want);
  }

  // Bools as C, ctypes or memcpy may hand them over: any byte, nonzero meaning true.
  void all_any(bool all) {
    const std::size_t n = pick_count();
    Buffer<unsigned char> bytes(n);
    const std::uint8_t mode = in_.u8();
    std::uint32_t seed = in_.u32() | 1;
    // Mostly all-true (for all) or all-false (for any) with a few exceptions, so the answer
    // hangs on single bytes anywhere, tails included.
    const unsigned char fill = all ? static_cast<unsigned char>(1 + mode % 255) : 0;
    for (std::size_t i = 0; i < n; ++i) bytes.data[i] = fill;
    const std::size_t flips = n == 0 ? 0 : mode % 4;
    for (std::size_t k = 0; k < flips; ++k) {
      const std::size_t at = xorshift(seed) % n;
      bytes.data[at] = all ? 0 : static_cast<unsigned char>(xorshift(seed) | 1);
    }
    bool want = all;
    for (std::size_t i = 0; i < n; ++i) {
      if (all && bytes.data[i] == 0) want = false;
      if (!all && bytes.data[i] != 0) want = true;
    }
    bool got = !want;
    const bool* data = reinterpret_cast<const bool*>(bytes.get());
    const int rc = all ? logged("all_bool", [&] { return corepy_all_bool(data, n, &got); })
                       : logged("any_bool", [&] { return corepy_any_bool(data, n, &got); });
    expect_ok(rc, all ? "corepy_all_bool" : "corepy_any_bool");
    if (rc != COREPY_OK) {
      FUZZ_CHECK(got == !want, "a failed call wrote *out");
      return;
    }
    FUZZ_CHECK(got == want, all ? "all" : "any", "_bool over ", n, " bytes = ", got, ", expected ",
               want);
  }

  // The four rows x cols reductions, by index: sum_rows, sum_cols, mean_rows, mean_cols.
  using MatrixFn = int (*)(const float*, size_t, size_t, float*);
  struct MatrixOp {
    const char* name;
    MatrixFn fn;
    bool per_row;  // one result per row (else per column)
    bool mean;
  };
  static constexpr MatrixOp kMatrixOps[] = {
      {"corepy_sum_rows_f32", corepy_sum_rows_f32, true, false},
      {"corepy_sum_cols_f32", corepy_sum_cols_f32, false, false},
      {"corepy_mean_rows_f32", corepy_mean_rows_f32, true, true},
      {"corepy_mean_cols_f32", corepy_mean_cols_f32, false, true},
  };

  // What the library must, may or must not refuse of a shape (see the file's comment).
  static bool no_array_holds(std::size_t rows, std::size_t cols) {
    const unsigned __int128 cells = static_cast<unsigned __int128>(rows) * cols;
    return rows > kMaxFloats || cols > kMaxFloats || cells > kMaxFloats;
  }
  static bool may_be_refused(std::size_t rows, std::size_t cols) {
    const unsigned __int128 cells = static_cast<unsigned __int128>(rows) * cols;
    return rows > kMaxWide || cols > kMaxWide || cells > kMaxWide;
  }

  // The library named the failing function: "corepy_sum_rows_f32", or the dispatch entry
  // ("corepy::sum_rows_f32_cpu_dispatch") for errors found below the C layer.
  static void check_named(const char* name) {
    const absl::string_view bare = absl::string_view(name).substr(7);  // without "corepy_"
    FUZZ_CHECK(absl::StrContains(corepy_last_error(), bare), "last error for ", name, ": ",
               corepy_last_error());
  }

  // NULL data with a count or a shape, NULL out: the error code, *out untouched, the function
  // named. Counts and shapes from all of size_t, and never 0 where the data is NULL.
  void null_pointers() {
    const std::uint8_t how = in_.u8();
    std::size_t count;
    switch (how % 3) {
      case 0:
        count = std::numeric_limits<std::size_t>::max();
        break;
      case 1:
        count = 1 + std::size_t{in_.u32()};  // past 2^32 - 1 too
        break;
      default:
        count = std::max<std::size_t>(in_.edge(), 1);
        break;
    }
    float f = 1.5f;
    std::int64_t i = 7;
    bool b = true;
    const int which = in_.u8() % 12;
    int rc = 0;
    const char* name = "";
    const bool null_out = in_.boolean();
    float one = 2.0f;
    if (which >= 8) {
      const MatrixOp& m = kMatrixOps[which - 8];
      const std::size_t cols = std::max<std::size_t>(in_.edge(), 1);
      float out[4] = {1.5f, 1.5f, 1.5f, 1.5f};
      rc = null_out ? m.fn(&one, count, cols, nullptr) : m.fn(nullptr, count, cols, out);
      // NULL data with a nonzero shape: NULL_POINTER, or a shape no array can hold named as
      // such; nothing read, nothing written.
      const bool refusable = !null_out && no_array_holds(count, cols);
      FUZZ_CHECK(
          rc == COREPY_ERROR_NULL_POINTER || (refusable && rc == COREPY_ERROR_INVALID_ARGUMENT),
          m.name, "(", null_out ? "out NULL" : "data NULL", ", ", count, " x ", cols, ") returned ",
          rc, ": ", corepy_last_error());
      FUZZ_CHECK(out[0] == 1.5f && out[1] == 1.5f && out[2] == 1.5f && out[3] == 1.5f, m.name,
                 " wrote *out on error");
      check_named(m.name);
      return;
    }
    switch (which) {
      case 0:
        name = "corepy_sum_f32";
        rc = null_out ? corepy_sum_f32(&one, 1, nullptr) : corepy_sum_f32(nullptr, count, &f);
        break;
      case 1:
        name = "corepy_sum_f32_kernel";
        rc = null_out ? corepy_sum_f32_kernel(&one, 1, nullptr)
                      : corepy_sum_f32_kernel(nullptr, count, &f);
        break;
      case 2:
        name = "corepy_mean_f32";
        rc = null_out ? corepy_mean_f32(nullptr, 0, nullptr) : corepy_mean_f32(nullptr, count, &f);
        break;
      case 3:
        name = "corepy_sum_i32";
        rc = null_out ? corepy_sum_i32(nullptr, 0, nullptr) : corepy_sum_i32(nullptr, count, &i);
        break;
      case 4:
        name = "corepy_all_bool";
        rc = null_out ? corepy_all_bool(nullptr, count, nullptr)
                      : corepy_all_bool(nullptr, count, &b);
        break;
      case 5:
        name = "corepy_any_bool";
        rc = null_out ? corepy_any_bool(nullptr, 0, nullptr) : corepy_any_bool(nullptr, count, &b);
        break;
      case 6:
        name = "corepy_sum_f32_compensated";
        rc = null_out ? corepy_sum_f32_compensated(&one, 1, nullptr)
                      : corepy_sum_f32_compensated(nullptr, count, &f);
        break;
      default:
        name = "corepy_mean_f32_compensated";
        rc = null_out ? corepy_mean_f32_compensated(nullptr, count, nullptr)
                      : corepy_mean_f32_compensated(nullptr, count, &f);
        break;
    }
    FUZZ_CHECK(rc == COREPY_ERROR_NULL_POINTER, name, " with NULL ", null_out ? "out" : "data",
               " (count ", count, ") returned ", rc);
    FUZZ_CHECK(f == 1.5f && i == 7 && b, name, " wrote *out on error");
    FUZZ_CHECK(absl::StrContains(corepy_last_error(), name), "last error: ", corepy_last_error());

    // NULL data with count 0 is an empty array.
    float s = 9.0f;
    FUZZ_CHECK(corepy_sum_f32(nullptr, 0, &s) == COREPY_OK || !arenas_buildable_, "sum of NULL, 0");
    bool all = false, any = true;
    if (arenas_buildable_) {
      FUZZ_CHECK(s == 0.0f, "sum of NULL, 0 = ", s);
      FUZZ_CHECK(corepy_all_bool(nullptr, 0, &all) == COREPY_OK && all, "all of nothing");
      FUZZ_CHECK(corepy_any_bool(nullptr, 0, &any) == COREPY_OK && !any, "any of nothing");
    }
  }

  // A dimension of a matrix the target backs with memory: mostly small, sometimes 0 or 1.
  std::size_t small_dim() {
    const std::uint8_t d = in_.u8();
    switch (d % 4) {
      case 0:
        return d / 4 % 4;  // 0..3
      case 1:
        return in_.u8() % 65;
      case 2:
        return in_.u16() % 1025;
      default:
        return 1;
    }
  }

  // A rows x cols reduction. The byte `op` (0xe0-0xff): bits 0-1 pick the function
  // (kMatrixOps); bit 2 a hostile shape (rows and cols from Input::edge()) rather than a small
  // one (small_dim()); bit 3, with a hostile shape, NULL data. Small matrices are real data
  // (floats() as the 1-D sums use); hostile ones are reduced only where the library must
  // refuse them or the target can back them (an empty matrix, at most kHostileOut results).
  void matrix(std::uint8_t op) {
    const MatrixOp& m = kMatrixOps[op % 4];
    const bool hostile = (op & 4) != 0;
    const bool null_data = hostile && (op & 8) != 0;
    std::size_t rows, cols;
    if (hostile) {
      rows = in_.edge();
      cols = in_.edge();
    } else {
      rows = small_dim();
      cols = small_dim();
      if (rows != 0 && rows * cols > kMaxCells) cols = kMaxCells / rows;
    }
    const unsigned __int128 wide_cells = static_cast<unsigned __int128>(rows) * cols;
    const std::size_t results = m.per_row ? rows : cols;
    const bool refuse = no_array_holds(rows, cols);
    const bool null_refused = null_data && rows != 0 && cols != 0;
    // What the target can back: the data and room for the results.
    const bool backed = wide_cells <= kMaxCells && results <= (hostile ? kHostileOut : kMaxCells);
    if (!refuse && !null_refused && !backed) return;  // only a caller's bug could pass this shape
    const std::size_t cells = backed ? static_cast<std::size_t>(wide_cells) : 0;
    Buffer<float> x = floats(cells);
    const std::size_t room = backed ? results : kHostileOut;
    Buffer<float> out(room);
    for (std::size_t k = 0; k < std::max<std::size_t>(room, 1); ++k) out.data[k] = 12345.0f;
    const float* data = null_data ? nullptr : x.get();
    const int rc = logged(m.name + 7, [&] { return m.fn(data, rows, cols, out.get()); });
    const std::string call =
        absl::StrCat(m.name, "(", null_data ? "NULL" : "data", ", ", rows, " x ", cols, ")");
    const auto untouched = [&] {
      for (std::size_t k = 0; k < room; ++k) {
        FUZZ_CHECK(out.data[k] == 12345.0f, call, " failed (", rc, ") but wrote out[", k, "]");
      }
    };
    if (null_refused) {
      FUZZ_CHECK(rc == COREPY_ERROR_NULL_POINTER || (refuse && rc == COREPY_ERROR_INVALID_ARGUMENT),
                 call, " returned ", rc, ": ", corepy_last_error());
      check_named(m.name);
      untouched();
      return;
    }
    if (refuse) {
      FUZZ_CHECK(rc == COREPY_ERROR_INVALID_ARGUMENT, call, " returned ", rc,
                 "; no array holds that shape: ", corepy_last_error());
      check_named(m.name);
      untouched();
      return;
    }
    FUZZ_CHECK(rc == COREPY_OK ||
                   (rc == COREPY_ERROR_INVALID_ARGUMENT && may_be_refused(rows, cols)) ||
                   (rc == COREPY_ERROR_OUT_OF_MEMORY && !arenas_buildable_),
               call, " returned ", rc, " (", corepy_error_string(rc), "): ", corepy_last_error());
    if (rc != COREPY_OK) {
      untouched();
      return;
    }
    // The results against references; an empty axis gives 0 (sums) or NaN (means).
    const std::size_t along = m.per_row ? cols : rows;  // values per result
    // (With results, rows * cols <= kMaxCells bounds it; without, it may be anything.)
    std::vector<float> line(results == 0 ? 0 : along);
    for (std::size_t r = 0; r < results; ++r) {
      for (std::size_t k = 0; k < along; ++k) {
        line[k] = m.per_row ? x.data[r * cols + k] : x.data[k * cols + r];
      }
      const float got = out.data[r];
      const std::string what = absl::StrCat(call, "[", r, "]");
      if (along == 0) {
        FUZZ_CHECK(m.mean ? std::isnan(got) : got == 0.0f && !std::signbit(got), what, " = ", got,
                   " over an empty axis");
        continue;
      }
      if (m.per_row && !m.mean) {
        // A row's sum is exactly sum_f32 of the row.
        float want = 0.0f;
        FUZZ_CHECK(corepy_sum_f32_kernel(line.data(), along, &want) == COREPY_OK, "kernel");
        FUZZ_CHECK(
            std::memcmp(&got, &want, sizeof got) == 0 || (std::isnan(got) && std::isnan(want)),
            what, " = ", got, " but sum_f32 of the row is ", want);
      }
      check_float(what.c_str(), got, reference(line.data(), along),
                  m.mean ? static_cast<double>(along) : 1.0);
    }
  }

  void configure() {
    static constexpr const char* kKeys[] = {"allocator",      "arena_size", "arena_max_size",
                                            "op_arena_sizes", "log",        "worker_spin"};
    const std::uint8_t k = in_.u8();
    const absl::string_view raw_key = in_.until('\n');
    const absl::string_view raw_value = in_.until('\n');
    // C strings: each ends at its first NUL.
    const std::string key =
        k < 200 ? kKeys[k % 6] : std::string(raw_key.substr(0, raw_key.find('\0')));
    const std::string value(raw_value.substr(0, raw_value.find('\0')));
    if (k == 255) {
      const int rc = in_.boolean() ? corepy_configure(nullptr, value.c_str())
                                   : corepy_configure(key.c_str(), nullptr);
      FUZZ_CHECK(rc == COREPY_ERROR_NULL_POINTER, "corepy_configure with NULL: ", rc);
      return;
    }
    const Settings before = settings();
    // What the configuration would build (config_reference.h): its arena size, the arenas'
    // size= in its allocator, its per-op sizes; the new value's, else those in force.
    bool good;
    AllocatorSpec spec = *parse_allocator_spec(before.allocator);
    std::size_t arena_size = before.arena_size;
    std::vector<std::size_t> op_sizes(before.op_arena_sizes.begin(), before.op_arena_sizes.end());
    bool builds = false;  // whether the value changes what is built
    absl::StatusOr<std::chrono::nanoseconds> spin;
    if (key == "allocator") {
      const auto parsed = parse_allocator_spec(value);
      if (parsed.ok() && opens_a_file(*parsed)) return;
      good = parsed.ok() && validate_allocator_spec(*parsed).ok();
      if (good) spec = *parsed, builds = true;
    } else if (key == "arena_size" || key == "arena_max_size") {
      const absl::StatusOr<std::size_t> n = parse_byte_size(value);
      good = n.ok();
      if (good && key == "arena_size") arena_size = *n, builds = true;
    } else if (key == "op_arena_sizes") {
      const auto sizes = parse_op_arena_sizes(value);
      good = sizes.ok();
      if (good) op_sizes.assign(sizes->begin(), sizes->end()), builds = true;
    } else if (key == "log") {
      // COREPY_LOG's levels: any case, surrounding ASCII whitespace ignored.
      std::string level;
      for (char c : value) {
        level += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
      }
      const std::size_t first = level.find_first_not_of(" \t\n\v\f\r");
      const std::size_t last = level.find_last_not_of(" \t\n\v\f\r");
      level = first == std::string::npos ? "" : level.substr(first, last - first + 1);
      good = level == "debug" || level == "off" || level == "none" || level == "0" || level.empty();
    } else if (key == "worker_spin") {
      // Abseil's duration syntax (config_test holds the table): what the ABI accepts is what
      // the parser does, and only durations from 0 to the cap.
      spin = parse_worker_spin(value);
      good = spin.ok();
      FUZZ_CHECK(
          !good || (*spin >= std::chrono::nanoseconds::zero() && *spin <= ops::kMaxWorkerSpin),
          "worker_spin \"", printable(value), "\" parsed as ", spin->count(), " ns");
    } else {
      good = false;
    }
    std::vector<std::size_t> arenas = op_sizes;
    arenas.push_back(arena_size);
    collect_arena_sizes(spec, arenas);
    const bool may_refuse = good && builds &&
                            (std::any_of(arenas.begin(), arenas.end(),
                                         [](std::size_t n) { return n > kLargestArena; }) ||
                             arena_upstream_limited(spec));
    const int rc = corepy_configure(key.c_str(), value.c_str());
    const bool refused_arena =
        may_refuse && (rc == COREPY_ERROR_OUT_OF_MEMORY || rc == COREPY_ERROR_INVALID_ARGUMENT);
    FUZZ_CHECK(rc == (good ? COREPY_OK : COREPY_ERROR_INVALID_ARGUMENT) || refused_arena,
               "corepy_configure(\"", printable(key), "\", \"", printable(value), "\") returned ",
               rc, ": ", corepy_last_error());
    // Refused for an arena it could not build: the message names its size.
    FUZZ_CHECK(!refused_arena || names_a_size(corepy_last_error(), arenas), "corepy_configure(\"",
               printable(key), "\", \"", printable(value),
               "\") was refused without naming the size: ", corepy_last_error());
    if (!good || refused_arena) {
      FUZZ_CHECK(*corepy_last_error() != '\0', "no message for a refused configuration");
      const Settings after = settings();
      FUZZ_CHECK(after.allocator == before.allocator && after.arena_size == before.arena_size &&
                     after.arena_max_size == before.arena_max_size &&
                     after.op_arena_sizes == before.op_arena_sizes &&
                     after.debug_log == before.debug_log && after.worker_spin == before.worker_spin,
                 "a refused configuration changed the settings");
      return;
    }
    if (spin.ok()) {
      FUZZ_CHECK(settings().worker_spin == *spin, "corepy_configure(\"worker_spin\", \"",
                 printable(value), "\") put ", settings().worker_spin.count(), " ns in force, not ",
                 spin->count());
    }
    debug_log_ = settings().debug_log;
    tame_sizes();
  }

  // Keeps the arenas the reductions will build within reach: a size up to kLargestArena is
  // built; one past PTRDIFF_MAX is refused by the arena up front (then every reduction returns
  // COREPY_ERROR_OUT_OF_MEMORY, *out untouched); anything between would really be allocated,
  // so the configuration goes back to its defaults instead.
  void tame_sizes() {
    const Settings s = settings();
    std::vector<std::size_t> sizes = {s.arena_size};
    for (std::size_t n : s.op_arena_sizes) sizes.push_back(n);
    if (const auto spec = parse_allocator_spec(s.allocator); spec.ok()) {
      collect_arena_sizes(*spec, sizes);
    }
    bool unbuildable = false, too_big = false;
    for (std::size_t n : sizes) {
      if (n > kMaxObject)
        unbuildable = true;
      else if (n > kLargestArena)
        too_big = true;
    }
    if (too_big) {
      reset_configuration();
      unbuildable = false;
    }
    arenas_buildable_ = !unbuildable;
  }

  void reset_configuration() {
    corepy::reset_configuration();
    arenas_buildable_ = true;
    debug_log_ = false;
  }

  // Runs a dispatched reduction; with log=debug it must print its line, which is kept off the
  // fuzzer's own output.
  template <class F>
  int logged(const char* op, F call) {
    if (!debug_log_) return call();
    int rc = 0;
    const std::string said = capture_stderr([&] { rc = call(); });
    if (rc == COREPY_OK) {
      FUZZ_CHECK(absl::StrContains(said, absl::StrCat("[arena] ", op, " ")),
                 "log=debug printed no line for ", op, ": ", printable(said));
    }
    return rc;
  }

  void arena_stats() {
    if (in_.boolean()) {
      FUZZ_CHECK(corepy_arena_stats(nullptr) == COREPY_ERROR_NULL_POINTER, "stats into NULL");
      return;
    }
    corepy_arena_stats_t s;
    std::memset(&s, 0xab, sizeof s);
    const int rc = corepy_arena_stats(&s);
    expect_ok(rc, "corepy_arena_stats");
    if (rc != COREPY_OK) return;
    // Outside any scope, after reductions that rewound: nothing in use, nothing spilled.
    FUZZ_CHECK(s.used == 0 && s.overflow_bytes == 0 && s.peak <= s.capacity,
               "arena stats outside a scope: used ", s.used, ", capacity ", s.capacity, ", peak ",
               s.peak, ", overflow_bytes ", s.overflow_bytes);
  }

  void op_stats_json() {
    std::size_t needed = 0;
    FUZZ_CHECK(corepy_op_stats_json(nullptr, 0, &needed) == COREPY_OK && needed >= 1,
               "op stats size");
    std::string full(needed, '\xee');
    std::size_t again = 0;
    FUZZ_CHECK(corepy_op_stats_json(full.data(), full.size(), &again) == COREPY_OK &&
                   again == needed && full[needed - 1] == '\0' &&
                   std::strlen(full.c_str()) == needed - 1,
               "op stats into a buffer of the size asked for");
    const std::size_t size = in_.u16() % (needed + 16);
    if (in_.u8() % 8 == 0 && size != 0) {
      FUZZ_CHECK(corepy_op_stats_json(nullptr, size, nullptr) == COREPY_ERROR_NULL_POINTER,
                 "op stats into NULL of size ", size);
      return;
    }
    Buffer<char> buf(size);
    std::memset(buf.get(), '\xee', size == 0 ? 1 : size);
    std::size_t got_needed = 0;
    const bool ask = in_.boolean();
    FUZZ_CHECK(corepy_op_stats_json(buf.get(), size, ask ? &got_needed : nullptr) == COREPY_OK,
               "op stats into ", size, " bytes");
    if (ask) FUZZ_CHECK(got_needed == needed, "needed ", got_needed, " then ", needed);
    if (size == 0) {
      FUZZ_CHECK(static_cast<unsigned char>(buf.data[0]) == 0xee, "wrote into a 0-byte buffer");
      return;
    }
    const std::size_t len = std::min(size - 1, needed - 1);
    FUZZ_CHECK(buf.data[len] == '\0' && std::memcmp(buf.get(), full.data(), len) == 0,
               "truncated op stats are not the text's prefix, NUL-terminated at ", len);
  }

  void error_strings() {
    const int code = static_cast<int>(in_.u32());
    for (int c : {code, code % 8, -1, 0, 1, 2, 3, 4, 5, std::numeric_limits<int>::min()}) {
      const char* s = corepy_error_string(c);
      FUZZ_CHECK(s != nullptr && *s != '\0', "corepy_error_string(", c, ")");
      const bool known = c >= COREPY_OK && c <= COREPY_ERROR_INTERNAL;
      FUZZ_CHECK(known == (std::strcmp(s, "unknown corepy error code") != 0),
                 "corepy_error_string(", c, ") = ", s);
    }
    FUZZ_CHECK(corepy_last_error() != nullptr, "corepy_last_error() is NULL");
  }

  Input& in_;
  bool arenas_buildable_ = true;
  bool debug_log_ = false;
};

}  // namespace
}  // namespace corepy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  corepy::fuzz::Input in(data, size);
  corepy::fuzz::Session(in).run();
  return 0;
}
