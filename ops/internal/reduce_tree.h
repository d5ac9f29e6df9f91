// What the serial and the parallel reductions share, so that both evaluate the same expression:
// the pairwise tree over blocks and chunks, the compensated pair and its combination; and
// scratch buffers taken from an injected memory resource.
//
// Visibility: //ops only.
#ifndef COREPY_OPS_INTERNAL_REDUCE_TREE_H_
#define COREPY_OPS_INTERNAL_REDUCE_TREE_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>

namespace corepy::ops::internal {

// Number of pieces of `piece` elements that cover n.
constexpr std::size_t pieces(std::size_t n, std::size_t piece) {
  return n / piece + (n % piece != 0 ? 1 : 0);
}

// leaf(lo) combined with ... leaf(hi - 1) by a balanced binary tree: the left half takes the
// larger half of an odd count. The shape depends on hi - lo only, never on who computes it.
template <class T, class Leaf, class Combine>
T pairwise_tree(std::size_t lo, std::size_t hi, const Leaf& leaf, const Combine& combine) {
  if (hi - lo == 1) return leaf(lo);
  const std::size_t mid = lo + (hi - lo + 1) / 2;
  const T left = pairwise_tree<T>(lo, mid, leaf, combine);
  const T right = pairwise_tree<T>(mid, hi, leaf, combine);
  return combine(left, right);
}

template <class Leaf>
float pairwise_sum(std::size_t lo, std::size_t hi, const Leaf& leaf) {
  return pairwise_tree<float>(lo, hi, leaf, [](float a, float b) { return a + b; });
}

// Depth of pairwise_tree over `count` leaves: how many right children one path can hold.
constexpr std::size_t tree_depth(std::size_t count) {
  std::size_t depth = 0;
  while (count > 1) {
    count = (count + 1) / 2;
    ++depth;
  }
  return depth;
}

// A sum and the rounding error it has not absorbed yet: the value is sum + comp.
struct CompensatedSum {
  float sum;
  float comp;
};

// Knuth's TwoSum: s + e == a + b exactly (without overflow). This is the term Neumaier's
// algorithm computes with a branch on |a| >= |b|; the branch-free form gives the same value.
inline CompensatedSum two_sum(float a, float b) {
  const float s = a + b;
  const float bp = s - a;
  const float e = (a - (s - bp)) + (b - bp);
  return {s, e};
}

inline CompensatedSum combine(CompensatedSum x, CompensatedSum y) {
  const CompensatedSum s = two_sum(x.sum, y.sum);
  return {s.sum, (x.comp + y.comp) + s.comp};
}

// The float nearest the pair. Once the sum is Inf or NaN the compensation is meaningless
// (Inf - Inf), and IEEE propagation of the sum is the answer; a zero compensation is left out
// so that a sum of -0.0 stays -0.0.
inline float finish(CompensatedSum t) {
  if (!std::isfinite(t.sum) || t.comp == 0.0f) return t.sum;
  return t.sum + t.comp;
}

// n elements of T from `resource`, given back when the buffer goes out of scope. The memory is
// uninitialized; T must be trivial. Throws std::bad_alloc (or what the resource throws) when
// the request cannot be served; then nothing was taken.
template <class T>
class ScratchBuffer {
 public:
  static constexpr std::size_t kAlignment = 64;

  ScratchBuffer(std::pmr::memory_resource* resource, std::size_t n)
      : resource_(resource), n_(n), data_(nullptr) {
    if (n_ == 0) return;
    if (n_ > PTRDIFF_MAX / sizeof(T)) throw std::bad_array_new_length();
    data_ = static_cast<T*>(resource_->allocate(n_ * sizeof(T), kAlignment));
  }
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() {
    if (data_ != nullptr) resource_->deallocate(data_, n_ * sizeof(T), kAlignment);
  }

  T* data() const { return data_; }
  T& operator[](std::size_t i) const { return data_[i]; }
  std::size_t size() const { return n_; }

 private:
  std::pmr::memory_resource* resource_;
  std::size_t n_;
  T* data_;
};

}  // namespace corepy::ops::internal

#endif  // COREPY_OPS_INTERNAL_REDUCE_TREE_H_
