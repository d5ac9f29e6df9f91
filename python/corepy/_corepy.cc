// corepy's Python binding, the native module corepy._corepy (python/corepy/__init__.py is the
// package around it).
//
// The reductions and the raw-pointer entry points are called per element batch, so their cost
// per call is the binding's: they are CPython METH_FASTCALL functions that read their arguments
// straight off the stack (pybind11's argument conversion costs several times more; the README
// has both floors, measured by _floor_fastcall and _floor_pybind11). Everything else
// (configuration, stats) is pybind11.
//
// Every call runs through corepy's dispatch layer (corepy/tensor_dispatch.h, corepy/dispatch.h):
// the op's scope, the configured allocator and the per-op stats. Inputs of kGilReleaseBytes and
// more run with the GIL released. No C++ exception crosses into Python: each is caught and
// raised as MemoryError (std::bad_alloc), ValueError (std::invalid_argument) or RuntimeError.
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "corepy/arena.h"
#include "corepy/config.h"
#include "corepy/dispatch.h"
#include "corepy/memory_stats.h"
#include "corepy/op_table.h"
#include "corepy/tensor_dispatch.h"
#include "ops/reduce_tensor.h"
#include "ops/tensor.h"

namespace py = pybind11;

namespace corepy::python {
namespace {

// Inputs of at least this many bytes run with the GIL released. Releasing and taking it back
// costs about 100 ns, 5% of the ~2 us a 64 KiB sum takes from cache; below it the GIL stays held.
constexpr std::size_t kGilReleaseBytes = std::size_t{64} << 10;

PyObject* g_axis_error = nullptr;  // numpy.AxisError

// ---------------------------------------------------------------------------------------------
// C++ exceptions, caught where they are thrown (possibly without the GIL) and raised afterwards.

struct CppError {
  PyObject* type = nullptr;  // null: no error
  std::string message;
};

template <class F>
CppError run_guarded(F&& f) noexcept {
  CppError error;
  try {
    f();
    return error;
  } catch (const std::bad_alloc& e) {
    error.type = PyExc_MemoryError;
    try {
      error.message = e.what();
    } catch (...) {
    }
  } catch (const std::invalid_argument& e) {
    error.type = PyExc_ValueError;
    try {
      error.message = e.what();
    } catch (...) {
    }
  } catch (const std::exception& e) {
    error.type = PyExc_RuntimeError;
    try {
      error.message = e.what();
    } catch (...) {
    }
  } catch (...) {
    error.type = PyExc_RuntimeError;
  }
  if (error.message.empty()) error.message = "corepy: unknown C++ exception";
  return error;
}

// Runs f, without the GIL when `release`; raises what it threw. Returns false on error.
template <class F>
bool run(bool release, F&& f) {
  CppError error;
  if (release) {
    Py_BEGIN_ALLOW_THREADS error = run_guarded(std::forward<F>(f));
    Py_END_ALLOW_THREADS
  } else {
    error = run_guarded(std::forward<F>(f));
  }
  if (error.type == nullptr) return true;
  PyErr_SetString(error.type, error.message.c_str());
  return false;
}

// ---------------------------------------------------------------------------------------------
// The raw-pointer entry points of the original design: tensor_sum_f32(ptr, count) and siblings.

bool parse_pointer_args(const char* name, PyObject* const* args, Py_ssize_t nargs, void** ptr,
                        std::size_t* count) {
  if (nargs != 2) {
    PyErr_Format(PyExc_TypeError,
                 "corepy.%s() takes 2 positional arguments (ptr, count) but %zd were given", name,
                 nargs);
    return false;
  }
  if (!PyLong_Check(args[0]) || !PyLong_Check(args[1])) {
    PyErr_Format(PyExc_TypeError, "corepy.%s(ptr, count): both must be int, not %s and %s", name,
                 Py_TYPE(args[0])->tp_name, Py_TYPE(args[1])->tp_name);
    return false;
  }
  // An address is unsigned: PyLong_AsVoidPtr would take -1 as 0xffff...ffff.
  const unsigned long long address = PyLong_AsUnsignedLongLong(args[0]);
  if (address == static_cast<unsigned long long>(-1) && PyErr_Occurred()) return false;
  *ptr = reinterpret_cast<void*>(static_cast<std::uintptr_t>(address));
  const Py_ssize_t n = PyLong_AsSsize_t(args[1]);
  if (n == -1 && PyErr_Occurred()) return false;
  if (n < 0) {
    PyErr_Format(PyExc_ValueError, "corepy.%s: count is %zd; it must be >= 0", name, n);
    return false;
  }
  if (*ptr == nullptr && n != 0) {
    PyErr_Format(PyExc_ValueError, "corepy.%s: ptr is 0 (NULL) but count is %zd", name, n);
    return false;
  }
  *count = static_cast<std::size_t>(n);
  return true;
}

PyObject* to_python(float v) { return PyFloat_FromDouble(v); }
PyObject* to_python(std::int64_t v) { return PyLong_FromLongLong(v); }
PyObject* to_python(bool v) { return PyBool_FromLong(v); }

template <class Input, class Result, Result (*Dispatch)(const Input*, std::size_t)>
PyObject* pointer_entry(const char* name, PyObject* const* args, Py_ssize_t nargs) {
  void* ptr;
  std::size_t count;
  if (!parse_pointer_args(name, args, nargs, &ptr, &count)) return nullptr;
  Result result{};
  const bool release = count >= kGilReleaseBytes / sizeof(Input);
  if (!run(release, [&] { result = Dispatch(static_cast<const Input*>(ptr), count); })) {
    return nullptr;
  }
  return to_python(result);
}

#define COREPY_POINTER_ENTRY(py_name, Input, Result, dispatch)            \
  PyObject* py_name(PyObject*, PyObject* const* args, Py_ssize_t nargs) { \
    return pointer_entry<Input, Result, dispatch>(#py_name, args, nargs); \
  }
COREPY_POINTER_ENTRY(tensor_sum_f32, float, float, sum_f32_cpu_dispatch)
COREPY_POINTER_ENTRY(tensor_sum_i32, std::int32_t, std::int64_t, sum_i32_cpu_dispatch)
COREPY_POINTER_ENTRY(tensor_mean_f32, float, float, mean_f32_cpu_dispatch)
COREPY_POINTER_ENTRY(tensor_all_bool, bool, bool, all_bool_cpu_dispatch)
COREPY_POINTER_ENTRY(tensor_any_bool, bool, bool, any_bool_cpu_dispatch)
#undef COREPY_POINTER_ENTRY

// The floor: the same argument handling as tensor_sum_f32, and nothing else.
PyObject* floor_fastcall(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  void* ptr;
  std::size_t count;
  if (!parse_pointer_args("_floor_fastcall", args, nargs, &ptr, &count)) return nullptr;
  Py_RETURN_NONE;
}

// ---------------------------------------------------------------------------------------------
// numpy-compatible reductions over any object with the buffer protocol.

constexpr absl::string_view kSupported =
    "float32, float64, int32, int64, bool, float16 (bfloat16 has no buffer-protocol format, so "
    "Python cannot pass it)";

// numpy's name for a buffer format it did not map, for the error message.
std::string format_name(absl::string_view format, Py_ssize_t itemsize) {
  absl::string_view f = format;
  std::string order;
  if (!f.empty() && (f[0] == '>' || f[0] == '!')) order = "big-endian ";
  if (!f.empty() && (f[0] == '@' || f[0] == '=' || f[0] == '<' || f[0] == '>' || f[0] == '!')) {
    f.remove_prefix(1);
  }
  const auto sized = [&](const char* kind) { return absl::StrCat(kind, 8 * itemsize); };
  std::string name;
  if (f == "b" || f == "h" || f == "i" || f == "l" || f == "q" || f == "n") {
    name = sized("int");
  } else if (f == "B" || f == "H" || f == "I" || f == "L" || f == "Q" || f == "N") {
    name = sized("uint");
  } else if (f == "e" || f == "f" || f == "d") {
    name = sized("float");
  } else if (f == "g") {
    name = "longdouble";
  } else if (f == "Zf" || f == "Zd") {
    name = absl::StrCat("complex", 16 * itemsize / 2);
  } else if (f == "Zg") {
    name = "clongdouble";
  } else if (f == "O") {
    name = "object";
  } else if (f == "?") {
    name = "bool";
  } else if (absl::EndsWith(f, "s") || absl::EndsWith(f, "p")) {
    name = "bytes";
  } else if (absl::EndsWith(f, "w")) {
    name = "str";
  } else {
    name = "a record or other structured type";
  }
  return absl::StrCat(order, name, " (buffer format '", format, "')");
}

// The corepy dtype of a buffer's elements, or a TypeError naming them.
std::optional<ops::DType> buffer_dtype(const char* name, const Py_buffer& view) {
  absl::string_view f = view.format != nullptr ? view.format : "B";
  if (!f.empty() && (f[0] == '@' || f[0] == '=' || f[0] == '<')) f.remove_prefix(1);
  std::optional<ops::DType> dtype;
  if (f.size() == 1) {
    switch (f[0]) {
      case 'f':
        if (view.itemsize == 4) dtype = ops::DType::kFloat32;
        break;
      case 'd':
        if (view.itemsize == 8) dtype = ops::DType::kFloat64;
        break;
      case 'e':
        if (view.itemsize == 2) dtype = ops::DType::kFloat16;
        break;
      case '?':
        if (view.itemsize == 1) dtype = ops::DType::kBool;
        break;
      case 'i':
      case 'l':
      case 'q':
      case 'n':
        if (view.itemsize == 4) dtype = ops::DType::kInt32;
        if (view.itemsize == 8) dtype = ops::DType::kInt64;
        break;
      default:
        break;
    }
  }
  if (!dtype) {
    PyErr_Format(PyExc_TypeError, "corepy.%s: unsupported dtype %s; supported: %s", name,
                 format_name(view.format != nullptr ? view.format : "B", view.itemsize).c_str(),
                 std::string(kSupported).c_str());
  }
  return dtype;
}

// The corepy dtype of a numpy array in native byte order, if corepy takes it.
std::optional<ops::DType> numpy_dtype(PyArrayObject* array) {
  const PyArray_Descr* descr = PyArray_DESCR(array);
  if (!PyArray_ISNBO(descr->byteorder)) return std::nullopt;
  switch (descr->kind) {
    case 'f':
      if (descr->elsize == 4) return ops::DType::kFloat32;
      if (descr->elsize == 8) return ops::DType::kFloat64;
      if (descr->elsize == 2) return ops::DType::kFloat16;
      break;
    case 'i':
      if (descr->elsize == 4) return ops::DType::kInt32;
      if (descr->elsize == 8) return ops::DType::kInt64;
      break;
    case 'b':
      return ops::DType::kBool;
    default:
      break;
  }
  return std::nullopt;
}

int numpy_type(ops::DType dtype) {
  switch (dtype) {
    case ops::DType::kFloat32:
      return NPY_FLOAT32;
    case ops::DType::kFloat64:
      return NPY_FLOAT64;
    case ops::DType::kInt32:
      return NPY_INT32;
    case ops::DType::kInt64:
      return NPY_INT64;
    case ops::DType::kBool:
      return NPY_BOOL;
    case ops::DType::kFloat16:
      return NPY_FLOAT16;
    case ops::DType::kBFloat16:
      break;
  }
  return -1;  // no buffer gives bfloat16, so no result is one
}

// A Py_buffer released on every path.
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() {
    if (held_) PyBuffer_Release(&view_);
  }
  // A read-only strided view with its format, or a TypeError naming what `a` is.
  bool get(const char* name, PyObject* a) {
    if (PyObject_GetBuffer(a, &view_, PyBUF_RECORDS_RO) == 0) {
      held_ = true;
      return true;
    }
    // Objects without the buffer protocol, and numpy dtypes it cannot carry (datetime64, ...).
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyObject* why = value != nullptr ? PyObject_Str(value) : nullptr;
    PyObject* dtype = PyObject_GetAttrString(a, "dtype");
    PyErr_Clear();
    PyObject* dtype_text = dtype != nullptr ? PyObject_Str(dtype) : nullptr;
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError,
                 "corepy.%s: a must support the buffer protocol with a supported dtype (%s); "
                 "got %s%s%s (%S)",
                 name, std::string(kSupported).c_str(), Py_TYPE(a)->tp_name,
                 dtype_text != nullptr ? " of dtype " : "",
                 dtype_text != nullptr ? PyUnicode_AsUTF8(dtype_text) : "",
                 why != nullptr ? why : Py_None);
    Py_XDECREF(dtype_text);
    Py_XDECREF(dtype);
    Py_XDECREF(why);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
    return false;
  }
  const Py_buffer& view() const { return view_; }

 private:
  Py_buffer view_{};
  bool held_ = false;
};

// Parsed arguments of a reduction: (a, axis=None, keepdims=False[, ddof=0]).
struct ReduceArgs {
  PyObject* a = nullptr;
  PyObject* axis = Py_None;
  PyObject* keepdims = Py_False;
  PyObject* ddof = nullptr;
};

bool parse_reduce_args(const char* name, bool takes_ddof, PyObject* const* args, Py_ssize_t nargs,
                       PyObject* kwnames, ReduceArgs* out) {
  static const char* const kNames[] = {"a", "axis", "keepdims", "ddof"};
  const Py_ssize_t max_args = takes_ddof ? 4 : 3;
  PyObject** slots[] = {&out->a, &out->axis, &out->keepdims, &out->ddof};
  if (nargs > max_args) {
    PyErr_Format(PyExc_TypeError, "corepy.%s() takes at most %zd arguments (%zd given)", name,
                 max_args, nargs);
    return false;
  }
  for (Py_ssize_t i = 0; i < nargs; ++i) *slots[i] = args[i];
  const Py_ssize_t nkw = kwnames != nullptr ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t k = 0; k < nkw; ++k) {
    PyObject* key = PyTuple_GET_ITEM(kwnames, k);
    Py_ssize_t slot = -1;
    for (Py_ssize_t i = 0; i < max_args; ++i) {
      if (PyUnicode_CompareWithASCIIString(key, kNames[i]) == 0) slot = i;
    }
    if (slot < 0) {
      PyErr_Format(PyExc_TypeError, "corepy.%s() got an unexpected keyword argument '%U'", name,
                   key);
      return false;
    }
    if (slot < nargs) {
      PyErr_Format(PyExc_TypeError, "corepy.%s() got multiple values for argument '%s'", name,
                   kNames[slot]);
      return false;
    }
    *slots[slot] = args[nargs + k];
  }
  if (out->a == nullptr) {
    PyErr_Format(PyExc_TypeError, "corepy.%s() missing required argument 'a'", name);
    return false;
  }
  return true;
}

// One axis: an int (anything with __index__). A value beyond int64 is out of bounds, not an
// overflow.
bool parse_axis(const char* name, PyObject* item, int ndim, std::int64_t* axis) {
  PyObject* index = PyNumber_Index(item);
  if (index == nullptr) return false;
  int overflow = 0;
  const long long value = PyLong_AsLongLongAndOverflow(index, &overflow);
  if (overflow != 0) {
    PyErr_Format(g_axis_error, "corepy.%s: axis %S is out of bounds for array of dimension %d",
                 name, index, ndim);
    Py_DECREF(index);
    return false;
  }
  Py_DECREF(index);
  if (value == -1 && PyErr_Occurred()) return false;
  *axis = value;
  return true;
}

// The plan's message without its C++ prefix ("corepy::ops::reduce(sum): "), as numpy's error
// type: AxisError for an axis out of range, ValueError for the rest (a repeated axis, an empty
// min/max, more dims than corepy takes).
void raise_plan_error(const char* name, const absl::Status& status) {
  absl::string_view message = status.message();
  const std::size_t colon = message.find("): ");
  if (absl::StartsWith(message, "corepy::ops::") && colon != absl::string_view::npos) {
    message.remove_prefix(colon + 3);
  }
  PyObject* type = absl::StrContains(message, "is out of bounds for array of dimension")
                       ? g_axis_error
                       : PyExc_ValueError;
  PyErr_Format(type, "corepy.%s: %s", name, std::string(message).c_str());
}

template <ops::Reduction R>
PyObject* reduce_entry(const char* name, PyObject* const* args, Py_ssize_t nargs,
                       PyObject* kwnames) {
  constexpr bool kTakesDdof = R == ops::Reduction::kVar || R == ops::Reduction::kStd;
  constexpr bool kOneAxis = R == ops::Reduction::kArgmin || R == ops::Reduction::kArgmax;
  ReduceArgs a;
  if (!parse_reduce_args(name, kTakesDdof, args, nargs, kwnames, &a)) return nullptr;
  // numpy arrays of a supported dtype are read directly (their buffer export costs about
  // 200 ns a call); everything else, unsupported numpy dtypes included, through the buffer
  // protocol, which also names what it cannot take.
  Buffer buffer;
  const void* data;
  int ndim;
  const Py_ssize_t* dims;
  const Py_ssize_t* byte_strides;
  Py_ssize_t itemsize;
  std::optional<ops::DType> dtype;
  if (PyArray_Check(a.a)) dtype = numpy_dtype(reinterpret_cast<PyArrayObject*>(a.a));
  if (dtype) {
    auto* array = reinterpret_cast<PyArrayObject*>(a.a);
    data = PyArray_DATA(array);
    ndim = PyArray_NDIM(array);
    dims = PyArray_DIMS(array);
    byte_strides = PyArray_STRIDES(array);
    itemsize = PyArray_ITEMSIZE(array);
  } else {
    if (!buffer.get(name, a.a)) return nullptr;
    const Py_buffer& view = buffer.view();
    dtype = buffer_dtype(name, view);
    if (!dtype) return nullptr;
    data = view.buf;
    ndim = view.ndim;
    dims = view.shape;
    byte_strides = view.strides;
    itemsize = view.itemsize;
  }

  // Shape and strides as int64 (Py_ssize_t is 64 bits on every platform corepy builds for).
  static_assert(sizeof(Py_ssize_t) == sizeof(std::int64_t), "64-bit Py_ssize_t");
  constexpr int kMaxBufferDims = 64;  // PyBUF_MAX_NDIM
  std::array<std::int64_t, kMaxBufferDims> shape;
  std::array<std::int64_t, kMaxBufferDims> strides;
  std::size_t elements = 1;
  for (int d = 0; d < ndim; ++d) {
    shape[d] = dims[d];
    strides[d] = byte_strides != nullptr ? byte_strides[d] : 0;
    const auto extent = static_cast<std::size_t>(shape[d] > 0 ? shape[d] : 0);
    elements = extent != 0 && elements > SIZE_MAX / extent ? SIZE_MAX : elements * extent;
  }
  if (byte_strides == nullptr && ndim > 0) {  // C-contiguous
    strides[ndim - 1] = itemsize;
    for (int d = ndim - 1; d > 0; --d) strides[d - 1] = strides[d] * shape[d];
  }
  const ops::TensorView input(data, *dtype, absl::MakeConstSpan(shape.data(), ndim),
                              absl::MakeConstSpan(strides.data(), ndim));

  ops::ReduceOptions options;
  std::array<std::int64_t, ops::kMaxDims + 1> axes{};  // more repeat one or are out of range
  std::size_t naxes = 0;
  if (a.axis != Py_None) {
    options.all_axes = false;
    if (PyTuple_Check(a.axis) && !kOneAxis) {
      const Py_ssize_t n = PyTuple_GET_SIZE(a.axis);
      for (Py_ssize_t i = 0; i < n && naxes < axes.size(); ++i) {
        if (!parse_axis(name, PyTuple_GET_ITEM(a.axis, i), ndim, &axes[naxes++])) return nullptr;
      }
      // numpy checks every axis's range before it looks for repeats (the plan reports the first
      // problem in order): an out-of-range axis anywhere is its AxisError.
      for (std::size_t i = 0; i < naxes; ++i) {
        if (axes[i] < -ndim || axes[i] >= ndim) {
          PyErr_Format(g_axis_error,
                       "corepy.%s: axis %lld is out of bounds for array of dimension %d", name,
                       static_cast<long long>(axes[i]), ndim);
          return nullptr;
        }
      }
    } else {
      if (!parse_axis(name, a.axis, ndim, &axes[naxes++])) return nullptr;
      // numpy's ufunc reductions take an int axis 0 or -1 of a 0-d array as the whole array
      // (np.sum(np.float32(1), axis=0)); mean, var and std refuse it.
      if (ndim == 0 && (axes[0] == 0 || axes[0] == -1) && !kOneAxis && R != ops::Reduction::kMean &&
          R != ops::Reduction::kVar && R != ops::Reduction::kStd) {
        options.all_axes = true;
      }
    }
    options.axes = absl::MakeConstSpan(axes.data(), naxes);
  }
  const int keepdims = PyObject_IsTrue(a.keepdims);
  if (keepdims < 0) return nullptr;
  options.keepdims = keepdims != 0;
  if (a.ddof != nullptr) {
    if (!PyLong_Check(a.ddof)) {
      PyErr_Format(PyExc_TypeError, "corepy.%s: ddof must be an int, not %s", name,
                   Py_TYPE(a.ddof)->tp_name);
      return nullptr;
    }
    options.ddof = PyLong_AsLongLong(a.ddof);
    if (options.ddof == -1 && PyErr_Occurred()) return nullptr;
  }

  const absl::StatusOr<ops::ReducePlan> plan = ops::ReducePlan::make(R, input, options);
  if (!plan.ok()) {
    raise_plan_error(name, plan.status());
    return nullptr;
  }
  const int type = numpy_type(plan->result_dtype());
  if (type < 0) {
    PyErr_Format(PyExc_TypeError, "corepy.%s: no numpy dtype for the result", name);
    return nullptr;
  }
  const bool release = elements >= kGilReleaseBytes / static_cast<std::size_t>(itemsize);
  const absl::Span<const std::int64_t> result_shape = plan->result_shape();
  if (result_shape.empty()) {
    // numpy gives a 0-d result as a scalar of the result dtype.
    alignas(16) unsigned char value[16] = {};
    if (!run(release, [&] { reduce_into_cpu_dispatch(*plan, value); })) return nullptr;
    PyArray_Descr* descr = PyArray_DescrFromType(type);
    if (descr == nullptr) return nullptr;
    PyObject* scalar = PyArray_Scalar(value, descr, nullptr);
    Py_DECREF(descr);
    return scalar;
  }
  std::array<npy_intp, ops::kMaxDims> out_dims;
  for (std::size_t d = 0; d < result_shape.size(); ++d) out_dims[d] = result_shape[d];
  PyObject* out = PyArray_SimpleNew(static_cast<int>(result_shape.size()), out_dims.data(), type);
  if (out == nullptr) return nullptr;
  void* out_data = PyArray_DATA(reinterpret_cast<PyArrayObject*>(out));
  if (!run(release, [&] { reduce_into_cpu_dispatch(*plan, out_data); })) {
    Py_DECREF(out);
    return nullptr;
  }
  return out;
}

#define COREPY_REDUCE_ENTRY(Id, name, value)                                                       \
  PyObject* reduce_##name(PyObject*, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) { \
    return reduce_entry<ops::Reduction::k##Id>(#name, args, nargs, kwnames);                       \
  }
COREPY_REDUCTIONS(COREPY_REDUCE_ENTRY)
#undef COREPY_REDUCE_ENTRY

constexpr int kFast = METH_FASTCALL;
constexpr int kFastKw = METH_FASTCALL | METH_KEYWORDS;

#define COREPY_REDUCE_METHOD(Id, name, value)                                                  \
  {#name, reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(reduce_##name)), kFastKw, \
   nullptr},
#define COREPY_FAST_METHOD(name, function) \
  {name, reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(function)), kFast, nullptr},

PyMethodDef kFastMethods[] = {
    COREPY_REDUCTIONS(COREPY_REDUCE_METHOD)                 //
    COREPY_FAST_METHOD("tensor_sum_f32", tensor_sum_f32)    //
    COREPY_FAST_METHOD("tensor_sum_i32", tensor_sum_i32)    //
    COREPY_FAST_METHOD("tensor_mean_f32", tensor_mean_f32)  //
    COREPY_FAST_METHOD("tensor_all_bool", tensor_all_bool)  //
    COREPY_FAST_METHOD("tensor_any_bool", tensor_any_bool)  //
    COREPY_FAST_METHOD("_floor_fastcall", floor_fastcall)   //
    {nullptr, nullptr, 0, nullptr},
};
#undef COREPY_REDUCE_METHOD
#undef COREPY_FAST_METHOD

// ---------------------------------------------------------------------------------------------
// Configuration and stats (pybind11: called rarely).

[[noreturn]] void throw_python(PyObject* type, absl::string_view message) {
  PyErr_SetString(type, std::string(message).c_str());
  throw py::error_already_set();
}

std::size_t parse_size(const char* key, const std::string& text) {
  absl::StatusOr<std::size_t> size = parse_byte_size(text);
  if (!size.ok()) throw_python(PyExc_ValueError, absl::StrCat(key, ": ", size.status().message()));
  return *size;
}

// Sizes arrive as text (python/corepy/__init__.py turns ints into it).
void configure_native(std::optional<std::string> allocator, std::optional<std::string> arena_size,
                      std::optional<std::string> arena_max_size,
                      std::optional<std::string> op_arena_sizes, std::optional<std::string> log,
                      std::optional<std::string> arena_shrink_after,
                      std::optional<std::string> worker_spin) {
  Options options;
  options.allocator = std::move(allocator);
  if (arena_size) options.arena_size = parse_size("arena_size", *arena_size);
  if (arena_max_size) options.arena_max_size = parse_size("arena_max_size", *arena_max_size);
  options.op_arena_sizes = std::move(op_arena_sizes);
  if (log) {
    absl::StatusOr<bool> on = parse_log_level(*log);
    if (!on.ok()) throw_python(PyExc_ValueError, absl::StrCat("log: ", on.status().message()));
    options.debug_log = *on;
  }
  if (arena_shrink_after) {
    absl::StatusOr<std::uint64_t> n = parse_shrink_after(*arena_shrink_after);
    if (!n.ok()) {
      throw_python(PyExc_ValueError, absl::StrCat("arena_shrink_after: ", n.status().message()));
    }
    options.arena_shrink_after = *n;
  }
  if (worker_spin) {
    absl::StatusOr<std::chrono::nanoseconds> spin = parse_worker_spin(*worker_spin);
    if (!spin.ok()) {
      throw_python(PyExc_ValueError, absl::StrCat("worker_spin: ", spin.status().message()));
    }
    options.worker_spin = *spin;
  }
  const absl::Status status = configure(options);
  if (status.ok()) return;
  // An arena the upstream cannot serve is an allocator refusing, as everywhere in corepy.
  throw_python(
      status.code() == absl::StatusCode::kResourceExhausted ? PyExc_MemoryError : PyExc_ValueError,
      status.message());
}

py::dict settings_native() {
  const Settings s = settings();
  py::dict op_sizes;
  for (std::size_t i = 0; i < kOpCount; ++i) {
    if (s.op_arena_sizes[i] != 0) op_sizes[py::str(std::string(kOpNames[i]))] = s.op_arena_sizes[i];
  }
  py::dict out;
  out["allocator"] = s.allocator;
  out["arena_size"] = s.arena_size;
  out["arena_max_size"] = s.arena_max_size;
  out["op_arena_sizes"] = op_sizes;
  out["log"] = s.debug_log;
  out["arena_shrink_after"] = s.arena_shrink_after;
  out["worker_spin"] = format_worker_spin(s.worker_spin);
  return out;
}

py::list stats_list(const std::vector<OpStats>& stats) {
  py::list out;
  for (const OpStats& s : stats) {
    py::dict d;
    d["op"] = s.name;
    d["calls"] = s.calls;
    d["peak_scratch"] = s.peak_scratch;
    d["spills"] = s.spills;
    d["arena_size"] = s.arena_size;
    out.append(std::move(d));
  }
  return out;
}

// A ThreadOpRegion for Python's `with corepy.statistics()`: closed by close() on the thread that
// opened it. One that is never closed there (collected on another thread) is left open rather
// than closed on the wrong thread's counters.
class Region {
 public:
  Region() : owner_(std::this_thread::get_id()), region_(std::make_unique<ThreadOpRegion>()) {}
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;
  ~Region() {
    if (region_ != nullptr && std::this_thread::get_id() != owner_) (void)region_.release();
  }
  py::list stats() const {
    check("read");
    return stats_list(region_->stats());
  }
  void close() {
    check("close");
    region_.reset();
  }

 private:
  void check(const char* what) const {
    if (region_ == nullptr) throw_python(PyExc_RuntimeError, "corepy.statistics(): already closed");
    if (std::this_thread::get_id() != owner_) {
      throw_python(PyExc_RuntimeError,
                   absl::StrCat("corepy.statistics(): cannot ", what,
                                " a block on a thread other than the one that opened it"));
    }
  }
  std::thread::id owner_;
  std::unique_ptr<ThreadOpRegion> region_;
};

}  // namespace
}  // namespace corepy::python

PYBIND11_MODULE(_corepy, m) {
  namespace cp = corepy::python;
  if (_import_array() < 0) throw py::error_already_set();
  py::object numpy = py::module_::import("numpy");
  py::object axis_error = py::hasattr(numpy, "AxisError")
                              ? numpy.attr("AxisError")
                              : py::module_::import("numpy.exceptions").attr("AxisError");
  cp::g_axis_error = axis_error.release().ptr();  // kept for the module's life
  if (PyModule_AddFunctions(m.ptr(), cp::kFastMethods) < 0) throw py::error_already_set();

  m.attr("GIL_RELEASE_BYTES") = cp::kGilReleaseBytes;
  m.def(
      "_floor_pybind11", [](std::uintptr_t, std::size_t) {},
      "The floor through pybind11: tensor_sum_f32's arguments converted, nothing done.");
  m.def("configure", &cp::configure_native, py::arg("allocator"), py::arg("arena_size"),
        py::arg("arena_max_size"), py::arg("op_arena_sizes"), py::arg("log"),
        py::arg("arena_shrink_after"), py::arg("worker_spin"));
  m.def("settings", &cp::settings_native);
  m.def("arena_stats", [] {
    corepy::ArenaStats s = corepy::arena_stats();
    return std::make_tuple(s.used, s.capacity, s.peak, s.overflow_count, s.overflow_bytes);
  });
  m.def("op_stats", [] { return cp::stats_list(corepy::op_stats()); });
  m.def("memory_stats", [] {
    corepy::MemoryStats s;
    {
      py::gil_scoped_release release;  // takes corepy's thread-list lock
      s = corepy::memory_stats();
    }
    auto figure = [](const corepy::MemoryFigure& f) {
      py::dict d;
      d["sum"] = f.sum;
      d["max_per_thread"] = f.max_per_thread;
      return d;
    };
    py::dict out;
    out["threads"] = s.threads;
    out["capacity"] = figure(s.capacity);
    out["used"] = figure(s.used);
    out["peak"] = figure(s.peak);
    out["spill_chunks"] = figure(s.spill_chunks);
    out["spill_bytes"] = figure(s.spill_bytes);
    out["allocator"] = s.allocator;
    return out;
  });
  m.def("trim", [] {
    py::gil_scoped_release release;  // takes corepy's thread-list lock
    corepy::trim();
  });
  m.def("reset_op_stats", &corepy::reset_op_stats);
  py::class_<cp::Region>(m, "_Region")
      .def(py::init<>())
      .def("stats", &cp::Region::stats)
      .def("close", &cp::Region::close);
}
