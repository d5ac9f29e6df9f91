#include "corepy/c_api.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory_resource>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "allocators/allocation_error.h"
#include "corepy/arena.h"
#include "corepy/config.h"
#include "corepy/dispatch.h"
#include "corepy/internal/text.h"
#include "corepy/memory_stats.h"
#include "corepy/op_table.h"
#include "corepy/tensor_dispatch.h"
#include "corepy/version.h"
#include "ops/parallel_reduce.h"
#include "ops/reduce.h"
#include "ops/reduce_tensor.h"
#include "ops/tensor.h"

namespace {

// The calling thread's last error message. A plain array, destroyed with nothing: a call from
// an atexit handler or a late thread_local destructor, after the thread's C++ objects are
// gone, can still set and read it. Longer messages are cut.
constexpr std::size_t kLastErrorSize = 512;
thread_local char last_error[kLastErrorSize] = "";

// A std::bad_alloc that says what could not be had.
class OutOfMemory : public std::bad_alloc {
 public:
  explicit OutOfMemory(absl::string_view what) : what_(what) {}
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string what_;
};

int fail(int code, const char* what) {
  std::snprintf(last_error, kLastErrorSize, "%s", what);
  return code;
}

// Runs `body`, turning every exception into an error code: nothing crosses the C boundary.
// Inline: the handlers cost nothing until something throws, and a call would pass `body` on the
// stack.
template <class Body>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline int guarded(Body body) {
  try {
    body();
    return COREPY_OK;
  } catch (const std::bad_alloc& e) {
    return fail(COREPY_ERROR_OUT_OF_MEMORY, e.what());
  } catch (const std::invalid_argument& e) {
    return fail(COREPY_ERROR_INVALID_ARGUMENT, e.what());
  } catch (const std::exception& e) {
    return fail(COREPY_ERROR_INTERNAL, e.what());
  } catch (...) {
    return fail(COREPY_ERROR_INTERNAL, "unknown exception");
  }
}

// The 1-D and matrix entry points' argument errors, out of line: their messages' strings would
// otherwise give every call a stack frame with a canary (about 1 ns of the C ABI's overhead).
ABSL_ATTRIBUTE_NOINLINE ABSL_ATTRIBUTE_COLD int fail_null_out(const char* name) {
  return fail(COREPY_ERROR_NULL_POINTER, (std::string(name) + ": out is NULL").c_str());
}
ABSL_ATTRIBUTE_NOINLINE ABSL_ATTRIBUTE_COLD int fail_null_data(const char* name, size_t count) {
  return fail(COREPY_ERROR_NULL_POINTER,
              (std::string(name) + ": data is NULL but count is " + std::to_string(count)).c_str());
}

ABSL_ATTRIBUTE_NOINLINE ABSL_ATTRIBUTE_COLD int fail_null_matrix(const char* name, size_t rows,
                                                                 size_t cols) {
  return fail(COREPY_ERROR_NULL_POINTER, (std::string(name) + ": data is NULL but the matrix is " +
                                          std::to_string(rows) + " x " + std::to_string(cols))
                                             .c_str());
}

template <class T, class R, class Dispatch>
int reduce(const char* name, const T* data, size_t count, R* out, Dispatch dispatch) {
  if (ABSL_PREDICT_FALSE(out == nullptr)) return fail_null_out(name);
  if (ABSL_PREDICT_FALSE(data == nullptr && count != 0)) return fail_null_data(name, count);
  R result{};
  const int status = guarded([&] { result = dispatch(data, count); });
  if (status == COREPY_OK) *out = result;
  return status;
}

// The rows x cols reductions. The result vector is built straight in `out`, through a buffer
// resource over it that can serve one vector of `length` results and nothing more: the kernel
// writes each result there once, with no copy. The dispatch checks the shape before it makes
// that vector, and the kernels, serial or split over threads, take all their scratch before they
// write the first result, so a bad call or a refused allocation leaves `out` untouched.
template <class T, class R, class Dispatch>
int reduce_matrix(const char* name, const T* data, size_t rows, size_t cols, bool per_row, R* out,
                  Dispatch dispatch) {
  if (ABSL_PREDICT_FALSE(out == nullptr)) return fail_null_out(name);
  if (ABSL_PREDICT_FALSE(data == nullptr && rows != 0 && cols != 0)) {
    return fail_null_matrix(name, rows, cols);
  }
  return guarded([&] {
    // A result longer than any array can be (rows = SIZE_MAX, say) gets no buffer: its byte
    // count would wrap. The dispatch refuses such a shape before it allocates anything.
    const size_t length = per_row ? rows : cols;
    if (length > corepy::kMaxObjectSize / sizeof(R)) {
      (void)dispatch(data, rows, cols, std::pmr::null_memory_resource());
      return;
    }
    std::pmr::monotonic_buffer_resource in_out(out, length * sizeof(R),
                                               std::pmr::null_memory_resource());
    (void)dispatch(data, rows, cols, &in_out);
  });
}

#define COREPY_CHECK_DTYPE(name, value, text, size)                  \
  static_assert(static_cast<int>(corepy::ops::DType::name) == value, \
                "COREPY_DTYPE_* and ops::DType out of step");
COREPY_DTYPES(COREPY_CHECK_DTYPE)
#undef COREPY_CHECK_DTYPE
static_assert(COREPY_DTYPE_FLOAT32 == 1 && COREPY_DTYPE_BFLOAT16 == 7, "dtype values");
#define COREPY_CHECK_REDUCTION(Id, name, value)                                        \
  static_assert(static_cast<int>(corepy::ops::Reduction::k##Id) == value && value > 0, \
                "COREPY_REDUCE_* and ops::Reduction out of step");
COREPY_REDUCTIONS(COREPY_CHECK_REDUCTION)
#undef COREPY_CHECK_REDUCTION
// "1 (sum), 2 (prod), ...": the COREPY_REDUCE_* values, for the unknown-op message.
#define COREPY_REDUCTION_TEXT(Id, name, value) ", " #value " (" #name ")"
constexpr absl::string_view kKnownOps =
    absl::string_view(COREPY_REDUCTIONS(COREPY_REDUCTION_TEXT)).substr(2);
#undef COREPY_REDUCTION_TEXT

// The plan's message, which names the C++ function ("corepy::ops::reduce(sum): ..."), as the C
// caller knows it ("corepy_reduce: reduce(sum): ...").
std::string c_message(absl::string_view message) {
  constexpr absl::string_view kPrefix = "corepy::ops::";
  if (absl::StartsWith(message, kPrefix)) message.remove_prefix(kPrefix.size());
  return absl::StrCat("corepy_reduce: ", message);
}

// Copies `text` to buf (NUL-terminated, truncated to size); *needed gets its full length + 1.
void copy_out(const std::string& text, char* buf, size_t size, size_t* needed) {
  if (needed != nullptr) *needed = text.size() + 1;
  if (size == 0) return;
  const size_t n = text.size() < size - 1 ? text.size() : size - 1;
  std::memcpy(buf, text.data(), n);
  buf[n] = '\0';
}

}  // namespace

// Every wrapper the table generates below is declared in c_api.h, which is the C contract (and
// gives each its default visibility in the library): checked here, before the definitions, so a
// row without its declaration does not compile.
#define COREPY_CHECK_SPAN_DECLARED(Id, name, Input, Result, ...)                          \
  static_assert(                                                                          \
      std::is_same_v<decltype(&::corepy_##name), int (*)(const Input*, size_t, Result*)>, \
      "corepy_" #name " is not declared in corepy/c_api.h as its row says");
#define COREPY_CHECK_MATRIX_DECLARED(Id, name, Input, Result, kernel, axis)                       \
  static_assert(                                                                                  \
      std::is_same_v<decltype(&::corepy_##name), int (*)(const Input*, size_t, size_t, Result*)>, \
      "corepy_" #name " is not declared in corepy/c_api.h as its row says");
COREPY_SPAN_OPS(COREPY_CHECK_SPAN_DECLARED)
COREPY_MATRIX_OPS(COREPY_CHECK_MATRIX_DECLARED)
#undef COREPY_CHECK_SPAN_DECLARED
#undef COREPY_CHECK_MATRIX_DECLARED

extern "C" {

#define COREPY_DEFINE_SPAN_WRAPPER(Id, name, Input, Result, ...)                   \
  int corepy_##name(const Input* data, size_t count, Result* out) {                \
    return reduce("corepy_" #name, data, count, out, corepy::name##_cpu_dispatch); \
  }
COREPY_SPAN_OPS(COREPY_DEFINE_SPAN_WRAPPER)
#undef COREPY_DEFINE_SPAN_WRAPPER

#define COREPY_DEFINE_MATRIX_WRAPPER(Id, name, Input, Result, kernel, axis)     \
  int corepy_##name(const Input* data, size_t rows, size_t cols, Result* out) { \
    return reduce_matrix("corepy_" #name, data, rows, cols, (axis) == 1, out,   \
                         corepy::name##_cpu_dispatch);                          \
  }
COREPY_MATRIX_OPS(COREPY_DEFINE_MATRIX_WRAPPER)
#undef COREPY_DEFINE_MATRIX_WRAPPER

int corepy_sum_f32_kernel(const float* data, size_t count, float* out) {
  return reduce("corepy_sum_f32_kernel", data, count, out, [](const float* d, size_t n) {
    return corepy::ops::sum_f32(absl::Span<const float>(d, n));
  });
}

int corepy_reduce(int32_t op, const corepy_tensor_t* in, const int32_t* axes, int32_t naxes,
                  int32_t keepdims, int32_t ddof, void* out, size_t out_capacity,
                  int32_t* out_dtype, int32_t* out_ndim, int64_t* out_shape) {
  using corepy::ops::kMaxDims;
  if (in == nullptr) return fail(COREPY_ERROR_NULL_POINTER, "corepy_reduce: in is NULL");
  if (out_dtype == nullptr || out_ndim == nullptr || out_shape == nullptr) {
    return fail(COREPY_ERROR_NULL_POINTER,
                "corepy_reduce: out_dtype, out_ndim and out_shape must not be NULL");
  }
  if (in->ndim < 0 || in->ndim > kMaxDims) {
    return fail(COREPY_ERROR_INVALID_ARGUMENT,
                absl::StrCat("corepy_reduce: ndim=", in->ndim, "; must be 0..", kMaxDims).c_str());
  }
  if (in->ndim > 0 && in->shape == nullptr) {
    return fail(COREPY_ERROR_NULL_POINTER,
                absl::StrCat("corepy_reduce: shape is NULL but ndim is ", in->ndim).c_str());
  }
  if (naxes > 0 && axes == nullptr) {
    return fail(COREPY_ERROR_NULL_POINTER,
                absl::StrCat("corepy_reduce: axes is NULL but naxes is ", naxes).c_str());
  }
  const auto ndim = static_cast<std::size_t>(in->ndim);
  bool has_elements = true;
  for (std::size_t i = 0; i < ndim; ++i) has_elements &= in->shape[i] > 0;
  if (in->data == nullptr && has_elements) {
    return fail(COREPY_ERROR_NULL_POINTER,
                "corepy_reduce: data is NULL but the view has elements (no dimension is 0)");
  }
  // More than kMaxDims axes repeat one (or are out of range): the first kMaxDims + 1 show which.
  std::array<std::int64_t, kMaxDims + 1> axis_list{};
  const std::size_t axis_count =
      naxes < 0 ? 0 : std::min<std::size_t>(static_cast<std::size_t>(naxes), axis_list.size());
  for (std::size_t i = 0; i < axis_count; ++i) axis_list[i] = axes[i];

  const std::optional<corepy::ops::Reduction> reduction = corepy::ops::reduction_from_int(op);
  if (!reduction) {
    return fail(COREPY_ERROR_INVALID_ARGUMENT,
                absl::StrCat("corepy_reduce: unknown op ", op, "; known: ", kKnownOps).c_str());
  }
  const std::optional<corepy::ops::DType> dtype = corepy::ops::dtype_from_int(in->dtype);
  if (!dtype) {
    return fail(COREPY_ERROR_INVALID_ARGUMENT,
                absl::StrCat("corepy_reduce: unknown dtype ", in->dtype, "; supported: ",
                             corepy::ops::supported_dtypes(), " (COREPY_DTYPE_* 1 to 7)")
                    .c_str());
  }
  corepy::ops::TensorView view;
  view.data = in->data;
  view.dtype = *dtype;
  view.shape = absl::Span<const int64_t>(in->shape, ndim);
  if (in->strides != nullptr) view.strides = absl::Span<const int64_t>(in->strides, ndim);
  corepy::ops::ReduceOptions options;
  options.all_axes = naxes < 0;
  options.axes = absl::Span<const std::int64_t>(axis_list.data(), axis_count);
  options.keepdims = keepdims != 0;
  options.ddof = ddof;
  const absl::StatusOr<corepy::ops::ReducePlan> plan =
      corepy::ops::ReducePlan::make(*reduction, view, options);
  if (!plan.ok()) {
    return fail(COREPY_ERROR_INVALID_ARGUMENT, c_message(plan.status().message()).c_str());
  }
  const std::size_t needed = plan->result_bytes();
  if (out_capacity < needed) {
    return fail(COREPY_ERROR_INVALID_ARGUMENT,
                absl::StrCat("corepy_reduce: out_capacity is ", out_capacity,
                             " bytes; the result (", corepy::ops::dtype_name(plan->result_dtype()),
                             ", ", plan->result_size(), " elements) needs ", needed, " bytes")
                    .c_str());
  }
  if (out == nullptr && needed != 0) {
    return fail(
        COREPY_ERROR_NULL_POINTER,
        absl::StrCat("corepy_reduce: out is NULL; the result needs ", needed, " bytes").c_str());
  }
  const int status = guarded([&] { corepy::reduce_into_cpu_dispatch(*plan, out); });
  if (status != COREPY_OK) return status;
  *out_dtype = static_cast<int32_t>(plan->result_dtype());
  *out_ndim = static_cast<int32_t>(plan->result_shape().size());
  for (std::size_t i = 0; i < plan->result_shape().size(); ++i)
    out_shape[i] = plan->result_shape()[i];
  return COREPY_OK;
}

int corepy_arena_stats(corepy_arena_stats_t* out) {
  if (out == nullptr) return fail(COREPY_ERROR_NULL_POINTER, "corepy_arena_stats: out is NULL");
  corepy::ArenaStats s{};
  const int status = guarded([&] { s = corepy::arena_stats(); });
  if (status == COREPY_OK) {
    *out = corepy_arena_stats_t{s.used, s.capacity, s.peak, s.overflow_count, s.overflow_bytes};
  }
  return status;
}

int corepy_configure(const char* key, const char* value) {
  if (key == nullptr || value == nullptr) {
    return fail(COREPY_ERROR_NULL_POINTER, "corepy_configure: key or value is NULL");
  }
  return guarded([&] {
    const std::string k = key;
    corepy::Options options;
    if (k == "allocator") {
      options.allocator = value;
    } else if (k == "arena_size" || k == "arena_max_size") {
      absl::StatusOr<std::size_t> size = corepy::parse_byte_size(value);
      if (!size.ok()) throw std::invalid_argument(std::string(size.status().message()));
      (k == "arena_size" ? options.arena_size : options.arena_max_size) = *size;
    } else if (k == "op_arena_sizes") {
      options.op_arena_sizes = value;
    } else if (k == "arena_shrink_after") {
      absl::StatusOr<std::uint64_t> n = corepy::parse_shrink_after(value);
      if (!n.ok()) throw std::invalid_argument(std::string(n.status().message()));
      options.arena_shrink_after = *n;
    } else if (k == "worker_spin") {
      absl::StatusOr<std::chrono::nanoseconds> spin = corepy::parse_worker_spin(value);
      if (!spin.ok()) throw std::invalid_argument(std::string(spin.status().message()));
      options.worker_spin = *spin;
    } else if (k == "log") {
      absl::StatusOr<bool> on = corepy::parse_log_level(value);
      if (!on.ok()) throw std::invalid_argument(std::string(on.status().message()));
      options.debug_log = *on;
    } else {
      throw std::invalid_argument("unknown configuration key " + corepy::internal::quoted(k) +
                                  "; accepted: allocator, arena_size, arena_max_size, "
                                  "op_arena_sizes, log, arena_shrink_after, worker_spin");
    }
    if (absl::Status s = corepy::configure(options); !s.ok()) {
      // An allocator that could not be built for want of memory is out of memory, not a bad
      // value.
      if (s.code() == absl::StatusCode::kResourceExhausted) throw OutOfMemory(s.message());
      throw std::invalid_argument(std::string(s.message()));
    }
  });
}

int corepy_op_stats_json(char* buf, size_t size, size_t* needed) {
  if (buf == nullptr && size != 0) {
    return fail(COREPY_ERROR_NULL_POINTER, "corepy_op_stats_json: buf is NULL but size is not 0");
  }
  return guarded([&] { copy_out(corepy::op_stats_json(), buf, size, needed); });
}

int corepy_memory_stats(corepy_memory_stats_t* out, char* allocator, size_t size, size_t* needed) {
  if (out == nullptr) return fail(COREPY_ERROR_NULL_POINTER, "corepy_memory_stats: out is NULL");
  if (allocator == nullptr && size != 0) {
    return fail(COREPY_ERROR_NULL_POINTER,
                "corepy_memory_stats: allocator is NULL but size is not 0");
  }
  return guarded([&] {
    const corepy::MemoryStats m = corepy::memory_stats();
    auto figure = [](const corepy::MemoryFigure& f) {
      return corepy_memory_figure_t{f.sum, f.max_per_thread};
    };
    copy_out(m.allocator, allocator, size, needed);
    *out = corepy_memory_stats_t{m.threads,      figure(m.capacity),     figure(m.used),
                                 figure(m.peak), figure(m.spill_chunks), figure(m.spill_bytes)};
  });
}

int corepy_trim(void) {
  return guarded([] { corepy::trim(); });
}

int corepy_finalize_parallel_workers(void) {
  if (!corepy::ops::finalize_parallel_workers()) {
    return fail(COREPY_ERROR_INTERNAL,
                "corepy_finalize_parallel_workers: oneTBB's workers cannot be waited for (called "
                "from inside a parallel call, or something else holds oneTBB's scheduler)");
  }
  return COREPY_OK;
}

const char* corepy_version(void) { return COREPY_VERSION_STRING; }

const char* corepy_error_string(int code) {
  switch (code) {
    case COREPY_OK:
      return "ok";
    case COREPY_ERROR_NULL_POINTER:
      return "a required pointer is NULL (data with count > 0, or out)";
    case COREPY_ERROR_OUT_OF_MEMORY:
      return "out of memory: an allocator refused";
    case COREPY_ERROR_INVALID_ARGUMENT:
      return "invalid argument: a bad configuration key or value, shape, axis, op or dtype";
    case COREPY_ERROR_INTERNAL:
      return "internal error";
    default:
      return "unknown corepy error code";
  }
}

const char* corepy_last_error(void) { return last_error; }

}  // extern "C"
