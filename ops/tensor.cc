#include "ops/tensor.h"

#include <stdexcept>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace corepy::ops {

std::optional<DType> dtype_from_int(std::int32_t value) {
  switch (value) {
#define COREPY_DTYPE_CASE(name, v, text, size) \
  case v:                                      \
    return DType::name;
    COREPY_DTYPES(COREPY_DTYPE_CASE)
#undef COREPY_DTYPE_CASE
    default:
      return std::nullopt;
  }
}

absl::string_view dtype_name(DType dtype) {
  switch (dtype) {
#define COREPY_DTYPE_CASE(name, v, text, size) \
  case DType::name:                            \
    return text;
    COREPY_DTYPES(COREPY_DTYPE_CASE)
#undef COREPY_DTYPE_CASE
  }
  return "unknown dtype";
}

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
#define COREPY_DTYPE_CASE(name, v, text, size) \
  case DType::name:                            \
    return size;
    COREPY_DTYPES(COREPY_DTYPE_CASE)
#undef COREPY_DTYPE_CASE
  }
  return 1;
}

absl::string_view supported_dtypes() {
#define COREPY_DTYPE_TEXT(name, v, text, size) ", " text
  static constexpr absl::string_view kList = COREPY_DTYPES(COREPY_DTYPE_TEXT);
#undef COREPY_DTYPE_TEXT
  return kList.substr(2);
}

Tensor::Tensor(DType dtype, absl::Span<const std::int64_t> shape,
               std::pmr::memory_resource* resource)
    : resource_(resource != nullptr ? resource : std::pmr::get_default_resource()),
      size_(1),
      dtype_(dtype),
      ndim_(shape.size()) {
  if (shape.size() > static_cast<std::size_t>(kMaxDims)) {
    throw std::length_error(
        absl::StrCat("corepy::ops::Tensor: ", shape.size(), " dimensions; at most ", kMaxDims));
  }
  const std::size_t max_elements = static_cast<std::size_t>(PTRDIFF_MAX) / dtype_size(dtype);
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) {
      throw std::length_error(
          absl::StrCat("corepy::ops::Tensor: dimension ", i, " is negative (", shape[i], ")"));
    }
    shape_[i] = shape[i];
  }
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const auto n = static_cast<std::size_t>(shape[i]);
    if (n == 0) {
      size_ = 0;
      break;
    }
    if (size_ > max_elements / n) {
      throw std::length_error("corepy::ops::Tensor: the shape holds more bytes than any object");
    }
    size_ *= n;
  }
  if (size_ != 0) data_ = resource_->allocate(bytes(), kAlignment);
}

Tensor::Tensor(Tensor&& other) noexcept
    : resource_(other.resource_),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      dtype_(other.dtype_),
      ndim_(other.ndim_),
      shape_(other.shape_) {}

Tensor& Tensor::operator=(Tensor&& other) noexcept {
  if (this != &other) {
    release();
    resource_ = other.resource_;
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    dtype_ = other.dtype_;
    ndim_ = other.ndim_;
    shape_ = other.shape_;
  }
  return *this;
}

Tensor::~Tensor() { release(); }

void Tensor::release() noexcept {
  if (data_ != nullptr) resource_->deallocate(data_, bytes(), kAlignment);
  data_ = nullptr;
}

void Tensor::check_type(std::size_t size, int tag) const {
  if (tag != static_cast<int>(dtype_) && !(tag == 6 && dtype_ == DType::kBFloat16)) {
    throw std::invalid_argument(absl::StrCat("corepy::ops::Tensor::values: the tensor is ",
                                             dtype_name(dtype_), ", not a ", size,
                                             "-byte element of another type"));
  }
}

}  // namespace corepy::ops
