// Element access for the N-D reductions: how each dtype is loaded from (possibly unaligned)
// memory, in what type it is compared and accumulated, and how a result is stored.
//
// Visibility: //ops only.
#ifndef COREPY_OPS_INTERNAL_TENSOR_ELEMENTS_H_
#define COREPY_OPS_INTERNAL_TENSOR_ELEMENTS_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "fp16.h"
#include "ops/tensor.h"

namespace corepy::ops::internal {

template <class T>
inline T load_as(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

template <class T>
inline void store_as(char* p, T v) {
  std::memcpy(p, &v, sizeof(T));
}

// bfloat16 is the upper half of a float32; rounding to it is to nearest, ties to even, and a NaN
// stays a (quiet) NaN.
inline float f32_from_bf16(std::uint16_t bits) {
  const std::uint32_t wide = static_cast<std::uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &wide, sizeof(f));
  return f;
}

inline std::uint16_t bf16_from_f32(float f) {
  std::uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40);
  const std::uint32_t round = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>((bits + round) >> 16);
}

// Per dtype: `Value` is what loads give (floats of 16 bits widen to float, bool to a byte, int32
// to int64), `kFloat` whether NaN exists, `kNonzeroMask` the bits that make an element true.
template <DType D>
struct Element;

template <>
struct Element<DType::kFloat32> {
  static constexpr std::size_t kSize = 4;
  using Value = float;
  static constexpr bool kFloat = true;
  static Value load(const char* p) { return load_as<float>(p); }
  using Bits = std::uint32_t;
  static constexpr Bits kTruthBits = 0x7fffffffu;  // nonzero: -0.0 is false, NaN true
  static void store(char* p, double v) { store_as<float>(p, static_cast<float>(v)); }
};

template <>
struct Element<DType::kFloat64> {
  static constexpr std::size_t kSize = 8;
  using Value = double;
  static constexpr bool kFloat = true;
  static Value load(const char* p) { return load_as<double>(p); }
  using Bits = std::uint64_t;
  static constexpr Bits kTruthBits = 0x7fffffffffffffffu;
  static void store(char* p, double v) { store_as<double>(p, v); }
};

template <>
struct Element<DType::kFloat16> {
  static constexpr std::size_t kSize = 2;
  using Value = float;
  static constexpr bool kFloat = true;
  static Value load(const char* p) { return fp16_ieee_to_fp32_value(load_as<std::uint16_t>(p)); }
  using Bits = std::uint16_t;
  static constexpr Bits kTruthBits = 0x7fffu;
  // Through float: a double rounded twice can differ from the double rounded once only when the
  // float lands exactly halfway between two halves, which float's 13 extra bits make vanishingly
  // rare; results are float32 arithmetic anyway (the header says so).
  static void store(char* p, double v) {
    store_as<std::uint16_t>(p, fp16_ieee_from_fp32_value(static_cast<float>(v)));
  }
};

template <>
struct Element<DType::kBFloat16> {
  static constexpr std::size_t kSize = 2;
  using Value = float;
  static constexpr bool kFloat = true;
  static Value load(const char* p) { return f32_from_bf16(load_as<std::uint16_t>(p)); }
  using Bits = std::uint16_t;
  static constexpr Bits kTruthBits = 0x7fffu;
  static void store(char* p, double v) {
    store_as<std::uint16_t>(p, bf16_from_f32(static_cast<float>(v)));
  }
};

template <>
struct Element<DType::kInt32> {
  static constexpr std::size_t kSize = 4;
  using Value = std::int64_t;
  static constexpr bool kFloat = false;
  static Value load(const char* p) { return load_as<std::int32_t>(p); }
  using Bits = std::uint32_t;
  static constexpr Bits kTruthBits = 0xffffffffu;
  static void store(char* p, std::int64_t v) {
    store_as<std::int32_t>(p, static_cast<std::int32_t>(v));
  }
};

template <>
struct Element<DType::kInt64> {
  static constexpr std::size_t kSize = 8;
  using Value = std::int64_t;
  static constexpr bool kFloat = false;
  static Value load(const char* p) { return load_as<std::int64_t>(p); }
  using Bits = std::uint64_t;
  static constexpr Bits kTruthBits = ~std::uint64_t{0};
  static void store(char* p, std::int64_t v) { store_as<std::int64_t>(p, v); }
};

template <>
struct Element<DType::kBool> {
  static constexpr std::size_t kSize = 1;
  using Value = std::int64_t;  // 0 or 1: any nonzero byte is true
  static constexpr bool kFloat = false;
  static Value load(const char* p) { return *p != 0 ? 1 : 0; }
  using Bits = std::uint8_t;
  static constexpr Bits kTruthBits = 0xffu;
  static void store(char* p, std::int64_t v) { *p = v != 0 ? 1 : 0; }
};

// Whether the element at p is true (all, any, count_nonzero): a bit of E::kTruthBits set.
template <class E>
inline bool nonzero(const char* p) {
  return (load_as<typename E::Bits>(p) & E::kTruthBits) != 0;
}

// Calls f(Element<D>{}) for the runtime dtype.
template <class F>
decltype(auto) visit_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::kFloat32:
      return f(Element<DType::kFloat32>{});
    case DType::kFloat64:
      return f(Element<DType::kFloat64>{});
    case DType::kInt32:
      return f(Element<DType::kInt32>{});
    case DType::kInt64:
      return f(Element<DType::kInt64>{});
    case DType::kBool:
      return f(Element<DType::kBool>{});
    case DType::kFloat16:
      return f(Element<DType::kFloat16>{});
    case DType::kBFloat16:
      break;
  }
  return f(Element<DType::kBFloat16>{});
}

}  // namespace corepy::ops::internal

#endif  // COREPY_OPS_INTERNAL_TENSOR_ELEMENTS_H_
