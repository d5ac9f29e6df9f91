// Fuzz target 4: corepy_reduce (corepy/c_api.h), the N-D reductions, with hostile ops, dtypes,
// ndims, shapes, strides, axes, ddof and capacities, each over the full range of its type
// (weighted to the edges: 0, 1, -1, powers of two, 2^62, INT64_MAX, INT64_MIN, INT32_MIN, ...).
//
// The data is a heap block of exactly kDataBytes, so ASan reports any read past it; out is a
// block of kOutBytes whose every byte starts as a sentinel, and out_capacity never exceeds it.
// A step is called only when it is memory-safe whatever corepy does with it:
//   (a) the view's every element lies inside the data block (its lowest and highest byte offsets,
//       computed here in 128-bit arithmetic from shape and strides), or it has no element; or
//   (b) corepy must refuse it before it plans anything (the plan points at the view's lowest
//       element): NULL `in`, an ndim outside 0..32, an unknown op or dtype, a negative dim, an
//       element count or byte extent past PTRDIFF_MAX, a bad axis, an empty min/max/argmin/
//       argmax (checked in that order by the model below, which predicts the return code of
//       every call; too small a capacity comes after planning, so it does not count here).
// Other steps (views past the block that corepy would have to read) are skipped.
//
// Time bound, not a domain restriction: a view inside 4 KiB can still stand for 2^64 elements
// through zero or overlapping strides. corepy folds zero-stride reduced dims in closed form, but
// overlapping non-zero strides, and every kept dim, cost a visit each; steps whose visits
// (kept elements times non-zero-stride reduced elements) pass kMaxWork are skipped.
//
// Each call is checked: the return code is the model's (0, COREPY_ERROR_NULL_POINTER or
// COREPY_ERROR_INVALID_ARGUMENT); on error out, *out_dtype, *out_ndim and out_shape keep their
// sentinels and corepy_last_error() names corepy_reduce; on success the result's dtype, ndim and
// shape are numpy's (the model's), nothing past its bytes is written, bools are 0 or 1,
// argmin/argmax indices lie in [0, n); the exact capacity gives the same bytes again and one
// byte less is refused naming the bytes needed.
//
// Input layout (reads past the end give zeros; see Step::decode):
//   op, dtype, ndim (a byte each; >= 0xf0 escapes to a full-range int32), flags, data offset
//   (u16), per dim: shape then stride (a byte each; escapes to a full-range int64), naxes,
//   axes (a byte each; escapes to int32), ddof, keepdims; the rest of the input fills the data
//   block, repeated.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "corepy/c_api.h"
#include "tests/fuzz/fuzz_support.h"

namespace corepy::fuzz {
namespace {

using i128 = __int128;

constexpr std::size_t kDataBytes = 4096;
constexpr std::size_t kOutBytes = 4096;
constexpr std::uint8_t kSentinel = 0xa5;
constexpr int kMaxDims = 32;
constexpr int kMaxAxes = 40;
// The most element visits a step may cost (see the header comment).
constexpr std::uint64_t kMaxWork = std::uint64_t{1} << 22;
constexpr i128 kPtrdiffMax = std::numeric_limits<std::ptrdiff_t>::max();

// A T (std::int32_t or std::int64_t) from anywhere in its range, weighted to the edges. A byte
// `kind`, then by kind % 8: 0 a signed byte; 1 min + byte; 2 max - byte; 3 any value; 4 +-2^k;
// 5 +-(2^k +- 1); 6 one of kSpecial below; 7 Input::edge() (size_t edges) cut to T.
template <class T>
T edge_int(Input& in) {
  constexpr int kBits = std::numeric_limits<T>::digits;  // 31 or 63
  constexpr T kMin = std::numeric_limits<T>::min(), kMax = std::numeric_limits<T>::max();
  const std::uint8_t kind = in.u8() % 8;
  switch (kind) {
    case 0:
      return static_cast<std::int8_t>(in.u8());
    case 1:
      return kMin + in.u8();
    case 2:
      return kMax - in.u8();
    case 3:
      return static_cast<T>(sizeof(T) == 8 ? in.u64() : in.u32());
    case 4:
    case 5: {
      const T p = T{1} << (in.u8() % kBits);
      const T v = kind == 4 ? p : in.boolean() ? p + 1 : p - 1;
      return in.boolean() ? -v : v;
    }
    case 6:
      if constexpr (sizeof(T) == 8) {
        static constexpr T kSpecial[] = {0,    1,    -1,         T{1} << 62,    -(T{1} << 62),
                                         kMax, kMin, T{1} << 32, -(T{1} << 32), T{1} << 31,
                                         4096, 4097};
        return kSpecial[in.u8() % (sizeof kSpecial / sizeof kSpecial[0])];
      } else {
        static constexpr T kSpecial[] = {0, 1, -1, 32, 33, 40, -33, -32, kMin, kMax};
        return kSpecial[in.u8() % (sizeof kSpecial / sizeof kSpecial[0])];
      }
    default:
      return static_cast<T>(in.edge());
  }
}

// Bytes per element of a valid dtype (0 for an unknown one).
std::size_t itemsize(std::int32_t dtype) {
  switch (dtype) {
    case COREPY_DTYPE_FLOAT32:
    case COREPY_DTYPE_INT32:
      return 4;
    case COREPY_DTYPE_FLOAT64:
    case COREPY_DTYPE_INT64:
      return 8;
    case COREPY_DTYPE_BOOL:
      return 1;
    case COREPY_DTYPE_FLOAT16:
    case COREPY_DTYPE_BFLOAT16:
      return 2;
    default:
      return 0;
  }
}

// The largest COREPY_REDUCE_* value; ops run from 1 to it.
constexpr std::int32_t kLastOp = COREPY_REDUCE_COUNT_NONZERO;

bool is_arg(std::int32_t op) { return op == COREPY_REDUCE_ARGMIN || op == COREPY_REDUCE_ARGMAX; }

// numpy 1.24's result dtype.
std::int32_t result_dtype(std::int32_t op, std::int32_t dtype) {
  const bool integral =
      dtype == COREPY_DTYPE_BOOL || dtype == COREPY_DTYPE_INT32 || dtype == COREPY_DTYPE_INT64;
  switch (op) {
    case COREPY_REDUCE_SUM:
    case COREPY_REDUCE_PROD:
      return integral ? COREPY_DTYPE_INT64 : dtype;
    case COREPY_REDUCE_MEAN:
    case COREPY_REDUCE_VAR:
    case COREPY_REDUCE_STD:
      return integral ? COREPY_DTYPE_FLOAT64 : dtype;
    case COREPY_REDUCE_MIN:
    case COREPY_REDUCE_MAX:
      return dtype;
    case COREPY_REDUCE_ARGMIN:
    case COREPY_REDUCE_ARGMAX:
    case COREPY_REDUCE_COUNT_NONZERO:
      return COREPY_DTYPE_INT64;
    default:
      return COREPY_DTYPE_BOOL;
  }
}

std::uint64_t saturating_mul(std::uint64_t a, std::uint64_t b) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) {
    return std::numeric_limits<std::uint64_t>::max();
  }
  return a * b;
}

struct Step {
  std::int32_t op = 0;
  std::int32_t dtype = 0;
  std::int32_t ndim = 0;
  bool in_null = false, data_null = false, strides_null = false, axes_null = false;
  std::size_t offset = 0;
  std::int64_t shape[kMaxAxes] = {};
  std::int64_t strides[kMaxAxes] = {};
  std::int32_t naxes = 0;
  std::int32_t axes[kMaxAxes] = {};
  std::int32_t ddof = 0;
  std::int32_t keepdims = 0;
  std::uint8_t capacity_mode = 0;

  void decode(Input& in) {
    const std::uint8_t o = in.u8();
    op = o < 0xf0 ? 1 + o % kLastOp : edge_int<std::int32_t>(in);
    const std::uint8_t d = in.u8();
    dtype = d < 0xf0 ? 1 + d % 7 : edge_int<std::int32_t>(in);
    const std::uint8_t n = in.u8();
    ndim = n < 0xc0 ? n % 7 : n < 0xf0 ? n % 34 : edge_int<std::int32_t>(in);
    const std::uint8_t flags = in.u8();
    // Rare on purpose: each hides everything after it.
    in_null = (flags & 0x3f) == 0x01;
    data_null = (flags & 0x3f) == 0x02;
    axes_null = (flags & 0x3f) == 0x03;
    strides_null = (flags & 0x30) == 0x30;
    capacity_mode = flags >> 6;
    offset = in.u16() % kDataBytes;
    const int dims = ndim >= 0 && ndim <= kMaxDims ? ndim : 0;
    const std::int64_t item = std::max<std::int64_t>(itemsize(dtype), 1);
    for (int i = 0; i < dims; ++i) {
      const std::uint8_t s = in.u8();
      shape[i] = s < 0xf0 ? s % 9 : edge_int<std::int64_t>(in);
      const std::uint8_t t = in.u8();
      if (t < 0xa0) {
        strides[i] = (static_cast<std::int64_t>(t % 17) - 8) * item;  // -8..8 elements
      } else if (t < 0xd0) {
        strides[i] = static_cast<std::int64_t>(t % 33) - 16;  // any byte step: unaligned
      } else if (t < 0xe0) {
        strides[i] = 0;
      } else {
        strides[i] = edge_int<std::int64_t>(in);
      }
    }
    const std::uint8_t a = in.u8();
    naxes = a < 0x40   ? -1
            : a < 0xe0 ? a % (dims + 2)
            : a < 0xf0 ? 30 + a % 11
                       : edge_int<std::int32_t>(in);
    const int listed = std::clamp(naxes, 0, kMaxAxes);
    for (int i = 0; i < listed; ++i) {
      const std::uint8_t x = in.u8();
      axes[i] = x < 0xf0 ? static_cast<std::int32_t>(x % (2 * dims + 3)) - dims - 1
                         : edge_int<std::int32_t>(in);
    }
    const std::uint8_t f = in.u8();
    ddof = f < 0xf0 ? static_cast<std::int32_t>(f % 7) - 2 : edge_int<std::int32_t>(in);
    const std::uint8_t k = in.u8();
    keepdims = k < 0xf0 ? k & 1 : edge_int<std::int32_t>(in);
  }

  std::string describe() const {
    std::string s = absl::StrCat("op=", op, " dtype=", dtype, " ndim=", ndim, " in_null=", in_null,
                                 " data_null=", data_null, " strides_null=", strides_null,
                                 " axes_null=", axes_null, " offset=", offset);
    if (ndim >= 0 && ndim <= kMaxDims) {
      absl::StrAppend(&s, " shape=(", absl::StrJoin(shape, shape + ndim, ","), ") strides=(",
                      absl::StrJoin(strides, strides + ndim, ","), ")");
    }
    absl::StrAppend(&s, " naxes=", naxes);
    if (naxes > 0) {
      absl::StrAppend(&s, " axes=(", absl::StrJoin(axes, axes + std::min(naxes, kMaxAxes), ","),
                      ")");
    }
    absl::StrAppend(&s, " ddof=", ddof, " keepdims=", keepdims);
    return s;
  }
};

// What corepy_reduce must do with a step: its return code, and on success the result.
struct Model {
  int rc = COREPY_OK;
  bool reads = false;     // the call visits elements (no error, and the view is not empty)
  bool in_bounds = true;  // every element of the view lies in the data block
  std::uint64_t work = 0;
  std::int32_t dtype = 0;
  int ndim = 0;
  std::int64_t shape[kMaxDims] = {};
  std::size_t result_bytes = 0;
  std::uint64_t reduced_count = 0;  // saturating
};

// The checks of corepy_reduce and ReducePlan::make, in their order, with numpy's semantics.
// `capacity` is what the call passes.
Model model(const Step& s, std::size_t capacity) {
  Model m;
  auto error = [&m](int rc) {
    m.rc = rc;
    return m;
  };
  if (s.in_null) return error(COREPY_ERROR_NULL_POINTER);
  if (s.ndim < 0 || s.ndim > kMaxDims) return error(COREPY_ERROR_INVALID_ARGUMENT);
  const int nd = s.ndim;
  if (s.naxes > 0 && s.axes_null) return error(COREPY_ERROR_NULL_POINTER);
  bool has_elements = true;
  for (int i = 0; i < nd; ++i) has_elements &= s.shape[i] > 0;
  if (s.data_null && has_elements) return error(COREPY_ERROR_NULL_POINTER);
  if (s.op < COREPY_REDUCE_SUM || s.op > kLastOp) {
    return error(COREPY_ERROR_INVALID_ARGUMENT);
  }
  const std::size_t item = itemsize(s.dtype);
  if (item == 0) return error(COREPY_ERROR_INVALID_ARGUMENT);
  for (int i = 0; i < nd; ++i) {
    if (s.shape[i] < 0) return error(COREPY_ERROR_INVALID_ARGUMENT);
  }
  // Element count, then the bytes the view spans.
  const bool empty = !has_elements;
  i128 count = 1;
  if (!empty) {
    for (int i = 0; i < nd; ++i) {
      count *= s.shape[i];
      if (count > kPtrdiffMax) return error(COREPY_ERROR_INVALID_ARGUMENT);
    }
  }
  std::int64_t strides[kMaxDims] = {};
  i128 low = 0, high = 0;  // byte offsets of the lowest and highest element from data
  if (s.strides_null) {
    if (!empty && count * static_cast<i128>(item) > kPtrdiffMax) {
      return error(COREPY_ERROR_INVALID_ARGUMENT);
    }
    i128 step = static_cast<i128>(item);
    for (int i = nd; i-- > 0;) {
      strides[i] = empty ? 0 : static_cast<std::int64_t>(step);
      if (!empty) step *= s.shape[i];
    }
    high = empty ? 0 : (count - 1) * static_cast<i128>(item);
  } else {
    i128 extent = static_cast<i128>(item);
    for (int i = 0; i < nd; ++i) {
      strides[i] = s.strides[i];
      if (!empty && s.shape[i] > 1) {
        const i128 span = static_cast<i128>(s.shape[i] - 1) * s.strides[i];
        extent += span < 0 ? -span : span;
        if (extent > kPtrdiffMax) return error(COREPY_ERROR_INVALID_ARGUMENT);
        (span < 0 ? low : high) += span;
      }
    }
  }
  // Axes: numpy's tuple form, or one int axis for argmin/argmax.
  bool reduced[kMaxDims] = {};
  const bool all_axes = s.naxes < 0;
  if (all_axes) {
    std::fill(reduced, reduced + nd, true);
  } else {
    if (is_arg(s.op) && s.naxes != 1) return error(COREPY_ERROR_INVALID_ARGUMENT);
    for (int j = 0; j < s.naxes; ++j) {
      // More than 32 axes repeat one or are out of range: an error before j reaches 40.
      if (j >= kMaxAxes) return error(COREPY_ERROR_INVALID_ARGUMENT);
      const std::int64_t axis = s.axes[j];
      if (nd == 0 && is_arg(s.op) && (axis == 0 || axis == -1)) continue;
      if (axis < -nd || axis >= nd) return error(COREPY_ERROR_INVALID_ARGUMENT);
      const auto k = static_cast<int>(axis < 0 ? axis + nd : axis);
      if (reduced[k]) return error(COREPY_ERROR_INVALID_ARGUMENT);
      reduced[k] = true;
    }
  }
  // The result, and what the call costs.
  m.dtype = result_dtype(s.op, s.dtype);
  const std::size_t out_item = itemsize(m.dtype);
  std::uint64_t reduced_count = 1;
  bool reduced_zero = false;
  // Capped past PTRDIFF_MAX (then an error), so that up to 32 factors of 2^63 cannot overflow.
  i128 result_size = 1;
  std::uint64_t work = 1;
  for (int i = 0; i < nd; ++i) {
    const auto n = static_cast<std::uint64_t>(s.shape[i]);
    if (reduced[i]) {
      reduced_zero |= n == 0;
      reduced_count = saturating_mul(reduced_count, n);
      if (strides[i] != 0) work = saturating_mul(work, n);
      if (s.keepdims != 0) m.shape[m.ndim++] = 1;
    } else {
      m.shape[m.ndim++] = s.shape[i];
      result_size = std::min<i128>(result_size * static_cast<i128>(n), kPtrdiffMax + 1);
      work = saturating_mul(work, n);
    }
  }
  if (result_size * static_cast<i128>(out_item) > kPtrdiffMax) {
    return error(COREPY_ERROR_INVALID_ARGUMENT);
  }
  // An empty reduction (a reduced dim is 0) has no min, max, argmin or argmax, even when the
  // result is empty.
  if (reduced_zero && (s.op == COREPY_REDUCE_MIN || s.op == COREPY_REDUCE_MAX || is_arg(s.op))) {
    return error(COREPY_ERROR_INVALID_ARGUMENT);
  }
  m.reduced_count = reduced_count;  // saturating; exact when the result is not empty
  m.result_bytes = static_cast<std::size_t>(result_size) * out_item;
  if (capacity < m.result_bytes) return error(COREPY_ERROR_INVALID_ARGUMENT);
  m.reads = !empty && result_size != 0;
  m.work = m.reads ? work : 0;
  if (m.reads) {
    const i128 first = static_cast<i128>(s.offset) + low;
    const i128 last = static_cast<i128>(s.offset) + high + static_cast<i128>(item);
    m.in_bounds = !s.data_null && first >= 0 && last <= static_cast<i128>(kDataBytes);
  }
  return m;
}

struct Buffers {
  std::unique_ptr<std::uint8_t[]> data{new std::uint8_t[kDataBytes]};
  std::unique_ptr<std::uint8_t[]> out{new std::uint8_t[kOutBytes]};
};

struct Call {
  int rc;
  std::int32_t dtype = -7, ndim = -7;
  std::int64_t shape[kMaxDims];
  std::string error;
};

Call call(const Step& s, Buffers& b, std::size_t capacity) {
  std::memset(b.out.get(), kSentinel, kOutBytes);
  corepy_tensor_t t;
  t.data = s.data_null ? nullptr : b.data.get() + s.offset;
  t.dtype = s.dtype;
  t.ndim = s.ndim;
  t.shape = s.shape;
  t.strides = s.strides_null ? nullptr : s.strides;
  Call c;
  std::fill(c.shape, c.shape + kMaxDims, -7);
  c.rc = corepy_reduce(s.op, s.in_null ? nullptr : &t, s.axes_null ? nullptr : s.axes, s.naxes,
                       s.keepdims, s.ddof, b.out.get(), capacity, &c.dtype, &c.ndim, c.shape);
  if (c.rc != COREPY_OK) c.error = corepy_last_error();
  return c;
}

std::size_t untouched_from(const Buffers& b, std::size_t from) {
  for (std::size_t i = from; i < kOutBytes; ++i) {
    if (b.out[i] != kSentinel) return i;
  }
  return kOutBytes;
}

void check_call(const Step& s, const Model& m, const Call& c, const Buffers& b,
                std::size_t capacity) {
  const std::string what = absl::StrCat(s.describe(), " capacity=", capacity);
  FUZZ_CHECK(c.rc == m.rc, what, ": rc ", c.rc, " (", c.error, "), the model says ", m.rc);
  if (c.rc != COREPY_OK) {
    FUZZ_CHECK(untouched_from(b, 0) == kOutBytes, what, ": the error wrote out byte ",
               untouched_from(b, 0));
    FUZZ_CHECK(c.dtype == -7 && c.ndim == -7 &&
                   std::all_of(c.shape, c.shape + kMaxDims, [](std::int64_t v) { return v == -7; }),
               what, ": the error wrote the result's description");
    FUZZ_CHECK(absl::StartsWith(c.error, "corepy_reduce: "), what, ": message ", c.error);
    return;
  }
  FUZZ_CHECK(
      c.dtype == m.dtype && c.ndim == m.ndim && std::equal(m.shape, m.shape + m.ndim, c.shape),
      what, ": result dtype ", c.dtype, " ndim ", c.ndim, ", the model's ", m.dtype, " ndim ",
      m.ndim);
  FUZZ_CHECK(untouched_from(b, m.result_bytes) == kOutBytes, what, ": wrote byte ",
             untouched_from(b, m.result_bytes), " past the ", m.result_bytes, "-byte result");
  if (c.dtype == COREPY_DTYPE_BOOL) {
    for (std::size_t i = 0; i < m.result_bytes; ++i) {
      FUZZ_CHECK(b.out[i] <= 1, what, ": bool result byte ", i, " is ", int{b.out[i]});
    }
  }
  if (is_arg(s.op)) {
    for (std::size_t i = 0; i < m.result_bytes / 8; ++i) {
      std::int64_t v;
      std::memcpy(&v, b.out.get() + 8 * i, 8);
      FUZZ_CHECK(v >= 0 && static_cast<std::uint64_t>(v) < m.reduced_count, what, ": index ", v,
                 " at ", i, " outside [0, ", m.reduced_count, ")");
    }
  }
}

void run(Input& in, Buffers& b) {
  Step s;
  s.decode(in);
  // The data: the rest of the input, repeated (zeros if there is none).
  const std::string rest(in.rest());
  for (std::size_t i = 0; i < kDataBytes; ++i) {
    b.data[i] = rest.empty() ? 0 : static_cast<std::uint8_t>(rest[i % rest.size()]);
  }
  // The capacity: all of out, a fuzzed part of it, or none.
  std::size_t capacity = kOutBytes;
  if (s.capacity_mode == 1) capacity = 0;
  if (s.capacity_mode == 2) capacity = (s.offset * 7) % (kOutBytes + 1);
  const Model m = model(s, capacity);
  // corepy_reduce checks the capacity after planning, and the plan already points at the
  // view's lowest element: a view past the block is called only when it fails a check that
  // comes before (with an unlimited capacity, the model refuses it too).
  const Model planned = model(s, std::numeric_limits<std::size_t>::max());
  const bool outside = planned.rc == COREPY_OK && planned.reads && !planned.in_bounds;
  const bool skip = outside || (m.rc == COREPY_OK && m.reads && m.work > kMaxWork);
  // REDUCE_FUZZER_VERBOSE=1: each step and what became of it (for writing seeds).
  static const bool verbose = std::getenv("REDUCE_FUZZER_VERBOSE") != nullptr;
  if (verbose) {
    std::fprintf(stderr, "%s capacity=%zu: model rc %d, %s\n", s.describe().c_str(), capacity, m.rc,
                 !skip     ? "called"
                 : outside ? "skipped (outside the block)"
                           : "skipped (work bound)");
  }
  if (skip) return;
  const Call c = call(s, b, capacity);
  check_call(s, m, c, b, capacity);
  if (c.rc != COREPY_OK || m.result_bytes == 0) return;
  // The exact capacity: the same bytes. One byte less: refused, naming the bytes needed.
  const std::string first(reinterpret_cast<const char*>(b.out.get()), m.result_bytes);
  const Call exact = call(s, b, m.result_bytes);
  check_call(s, model(s, m.result_bytes), exact, b, m.result_bytes);
  FUZZ_CHECK(std::memcmp(first.data(), b.out.get(), m.result_bytes) == 0, s.describe(),
             ": a second call gave different bytes");
  const Call short_call = call(s, b, m.result_bytes - 1);
  check_call(s, model(s, m.result_bytes - 1), short_call, b, m.result_bytes - 1);
  FUZZ_CHECK(absl::StrContains(short_call.error, absl::StrCat("needs ", m.result_bytes, " bytes")),
             s.describe(), ": capacity ", m.result_bytes - 1, ": message ", short_call.error);
}

}  // namespace
}  // namespace corepy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static corepy::fuzz::Buffers* buffers = new corepy::fuzz::Buffers;
  corepy::fuzz::Input in(data, size);
  corepy::fuzz::run(in, *buffers);
  return 0;
}
