// Tensors for the N-D reductions (ops/reduce_tensor.h): the element types, a strided view of
// memory someone else owns, and a C-contiguous result that owns its bytes on a
// std::pmr::memory_resource.
//
//   const std::int64_t shape[] = {1000, 1000};
//   const std::int64_t strides[] = {4, 4000};  // a transposed view, in bytes
//   corepy::ops::TensorView x{data, corepy::ops::DType::kFloat32, shape, strides};
//
// ## DType
// The element types, with the values of the C ABI's COREPY_DTYPE_* (corepy/c_api.h). bool is one
// byte, any nonzero byte true; float16 is IEEE binary16; bfloat16 is the upper half of a float32.
//
// ## TensorView
// `data` points at the element of index (0, ..., 0); element (i0, ..., in) is at
// data + i0 * strides[0] + ... + in * strides[n] bytes. Strides may be negative, and zero for a
// broadcast dimension (the view then overlaps itself). Empty `strides` means C-contiguous.
// Views are checked by the functions that take them (ops/reduce_tensor.h says how).
//
// ## Tensor
// A result: C-contiguous, one allocation of exactly bytes() bytes (64-byte aligned, none when
// bytes() is 0) on the resource it was made with, given back when it is destroyed. Move-only.
#ifndef COREPY_OPS_TENSOR_H_
#define COREPY_OPS_TENSOR_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory_resource>
#include <optional>
#include <type_traits>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "corepy/internal/require_cxx17.h"

namespace corepy::ops {

// X(enumerator, C ABI value, numpy name, bytes per element)
#define COREPY_DTYPES(X)       \
  X(kFloat32, 1, "float32", 4) \
  X(kFloat64, 2, "float64", 8) \
  X(kInt32, 3, "int32", 4)     \
  X(kInt64, 4, "int64", 8)     \
  X(kBool, 5, "bool", 1)       \
  X(kFloat16, 6, "float16", 2) \
  X(kBFloat16, 7, "bfloat16", 2)

enum class DType : std::int32_t {
#define COREPY_DTYPE_ENUMERATOR(name, value, text, size) name = value,
  COREPY_DTYPES(COREPY_DTYPE_ENUMERATOR)
#undef COREPY_DTYPE_ENUMERATOR
};

// The dtype with C ABI value `value`, if there is one.
std::optional<DType> dtype_from_int(std::int32_t value);
absl::string_view dtype_name(DType dtype);  // "float32", ...
std::size_t dtype_size(DType dtype);        // bytes per element
// "float32, float64, int32, int64, bool, float16, bfloat16", for error messages.
absl::string_view supported_dtypes();

// The most dimensions a view or a result may have (numpy's limit).
inline constexpr int kMaxDims = 32;

namespace internal {

// kMaxDims entries of which their owner uses a first few, its count (a tensor's shape, a
// plan's dims). They are not written when made, since a plan is made on every call (the README
// has what zeroing them cost). A copy copies their bytes (std::memcpy), so it never reads an
// entry as a value that nobody wrote.
template <class T>
class DimSlots {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  DimSlots() noexcept {}  // user-provided: the entries stay unwritten even in T{}
  DimSlots(const DimSlots& other) noexcept { std::memcpy(&v_, &other.v_, sizeof v_); }
  DimSlots& operator=(const DimSlots& other) noexcept {
    std::memcpy(&v_, &other.v_, sizeof v_);
    return *this;
  }

  T& operator[](std::size_t i) noexcept { return v_[i]; }
  const T& operator[](std::size_t i) const noexcept { return v_[i]; }
  T* data() noexcept { return v_.data(); }
  const T* data() const noexcept { return v_.data(); }

 private:
  std::array<T, kMaxDims> v_;
};

}  // namespace internal

struct TensorView {
  TensorView() = default;
  TensorView(const void* data_in, DType dtype_in, absl::Span<const std::int64_t> shape_in,
             absl::Span<const std::int64_t> strides_in = {})
      : data(data_in), dtype(dtype_in), shape(shape_in), strides(strides_in) {}

  const void* data = nullptr;
  DType dtype = DType::kFloat32;
  absl::Span<const std::int64_t> shape;
  absl::Span<const std::int64_t> strides;  // bytes; empty: C-contiguous
};

class Tensor {
 public:
  static constexpr std::size_t kAlignment = 64;

  // A tensor of `shape` (every dim >= 0, at most kMaxDims of them) on `resource`. Throws
  // std::length_error when the byte count does not fit in an object, and what the resource
  // throws when it cannot serve.
  Tensor(DType dtype, absl::Span<const std::int64_t> shape, std::pmr::memory_resource* resource);
  Tensor(Tensor&& other) noexcept;
  Tensor& operator=(Tensor&& other) noexcept;
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;
  ~Tensor();

  DType dtype() const { return dtype_; }
  absl::Span<const std::int64_t> shape() const { return {shape_.data(), ndim_}; }
  int ndim() const { return static_cast<int>(ndim_); }
  std::size_t size() const { return size_; }  // elements
  std::size_t bytes() const { return size_ * dtype_size(dtype_); }
  void* data() { return data_; }
  const void* data() const { return data_; }
  std::pmr::memory_resource* resource() const { return resource_; }

  // The elements as T, which must be the dtype's C++ type (float, double, int32_t, int64_t,
  // bool, or uint16_t for float16 and bfloat16); a mismatch throws std::invalid_argument.
  template <class T>
  absl::Span<const T> values() const {
    check_type(sizeof(T), type_tag<T>());
    return absl::Span<const T>(static_cast<const T*>(data_), size_);
  }

 private:
  template <class T>
  static constexpr int type_tag() {
    if constexpr (std::is_same_v<T, float>) return 1;
    if constexpr (std::is_same_v<T, double>) return 2;
    if constexpr (std::is_same_v<T, std::int32_t>) return 3;
    if constexpr (std::is_same_v<T, std::int64_t>) return 4;
    if constexpr (std::is_same_v<T, bool>) return 5;
    if constexpr (std::is_same_v<T, std::uint16_t>) return 6;
    return 0;
  }
  void check_type(std::size_t size, int tag) const;
  void release() noexcept;

  std::pmr::memory_resource* resource_;
  void* data_ = nullptr;
  std::size_t size_ = 0;
  DType dtype_;
  std::size_t ndim_ = 0;
  internal::DimSlots<std::int64_t> shape_;
};

}  // namespace corepy::ops

#endif  // COREPY_OPS_TENSOR_H_
