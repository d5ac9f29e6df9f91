#include "corepy/c_api.h"

#include <cstdio>
#include <cstring>
#include <exception>
#include <memory_resource>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "allocators/allocation_error.h"
#include "corepy/arena.h"
#include "corepy/config.h"
#include "corepy/dispatch.h"
#include "corepy/internal/text.h"
#include "corepy/op_table.h"
#include "ops/reduce.h"

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
template <class Body>
int guarded(Body body) {
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

template <class T, class R, class Dispatch>
int reduce(const char* name, const T* data, size_t count, R* out, Dispatch dispatch) {
  if (out == nullptr) {
    return fail(COREPY_ERROR_NULL_POINTER, (std::string(name) + ": out is NULL").c_str());
  }
  if (data == nullptr && count != 0) {
    return fail(COREPY_ERROR_NULL_POINTER,
                (std::string(name) + ": data is NULL but count is " + std::to_string(count))
                    .c_str());
  }
  R result{};
  const int status = guarded([&] { result = dispatch(data, count); });
  if (status == COREPY_OK) *out = result;
  return status;
}

// The rows x cols reductions. The result vector is built straight in `out`, through a buffer
// resource over it that can serve one vector of `length` results and nothing more: the kernel
// writes each result there once, with no copy. The dispatch checks the shape before it makes
// that vector, and the serial kernels take their scratch before they write the first result,
// so a bad call or a refused allocation leaves `out` untouched (see c_api.h for the one case
// that does not hold: a parallel kernel whose task cannot get its scratch).
template <class T, class R, class Dispatch>
int reduce_matrix(const char* name, const T* data, size_t rows, size_t cols, bool per_row, R* out,
                  Dispatch dispatch) {
  if (out == nullptr) {
    return fail(COREPY_ERROR_NULL_POINTER, (std::string(name) + ": out is NULL").c_str());
  }
  if (data == nullptr && rows != 0 && cols != 0) {
    return fail(COREPY_ERROR_NULL_POINTER,
                (std::string(name) + ": data is NULL but the matrix is " + std::to_string(rows) +
                 " x " + std::to_string(cols))
                    .c_str());
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

}  // namespace

// Every wrapper the table generates below is declared in c_api.h, which is the C contract (and
// gives each its default visibility in the library): checked here, before the definitions, so a
// row without its declaration does not compile.
#define COREPY_CHECK_SPAN_DECLARED(Id, name, Input, Result, kernel)                       \
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

#define COREPY_DEFINE_SPAN_WRAPPER(Id, name, Input, Result, kernel)                \
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
    } else if (k == "log") {
      absl::StatusOr<bool> on = corepy::parse_log_level(value);
      if (!on.ok()) throw std::invalid_argument(std::string(on.status().message()));
      options.debug_log = *on;
    } else {
      throw std::invalid_argument("unknown configuration key " + corepy::internal::quoted(k) +
                                  "; accepted: allocator, arena_size, arena_max_size, "
                                  "op_arena_sizes, log");
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
  return guarded([&] {
    const std::string json = corepy::op_stats_json();
    if (needed != nullptr) *needed = json.size() + 1;
    if (size == 0) return;
    const size_t n = json.size() < size - 1 ? json.size() : size - 1;
    std::memcpy(buf, json.data(), n);
    buf[n] = '\0';
  });
}

const char* corepy_error_string(int code) {
  switch (code) {
    case COREPY_OK:
      return "ok";
    case COREPY_ERROR_NULL_POINTER:
      return "a required pointer is NULL (data with count > 0, or out)";
    case COREPY_ERROR_OUT_OF_MEMORY:
      return "out of memory: an allocator refused";
    case COREPY_ERROR_INVALID_ARGUMENT:
      return "invalid argument: a bad configuration key or value, or a bad matrix shape";
    case COREPY_ERROR_INTERNAL:
      return "internal error";
    default:
      return "unknown corepy error code";
  }
}

const char* corepy_last_error(void) { return last_error; }

}  // extern "C"
