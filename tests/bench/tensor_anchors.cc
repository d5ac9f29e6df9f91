#include "tests/bench/tensor_anchors.h"

#define EIGEN_USE_THREADS

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <type_traits>

#include "unsupported/Eigen/CXX11/Tensor"
#include "unsupported/Eigen/CXX11/ThreadPool"

namespace corepy::bench {
namespace {

using Index = Eigen::Index;

struct Pool {
  explicit Pool(int threads) : pool(threads), device(&pool, threads) {}
  Eigen::ThreadPool pool;
  Eigen::ThreadPoolDevice device;
};

// One pool per thread count, made on first use and kept for the process: making threads is not
// part of what is measured.
Eigen::ThreadPoolDevice& pool_device(int threads) {
  static std::mutex mutex;
  static auto* pools = new std::map<int, std::unique_ptr<Pool>>();
  std::lock_guard<std::mutex> lock(mutex);
  std::unique_ptr<Pool>& p = (*pools)[threads];
  if (p == nullptr) p = std::make_unique<Pool>(threads);
  return p->device;
}

template <class In, class Acc, int kRank, int kReduced>
void sum(const In* x, absl::Span<const std::int64_t> shape, absl::Span<const int> axes, Acc* out,
         int threads) {
  constexpr int kOutRank = kRank - kReduced;
  Eigen::array<Index, kRank> dims;
  Eigen::array<Index, kReduced> reduced;
  Eigen::array<Index, kOutRank> kept;
  std::size_t next_axis = 0;
  int next_kept = 0;
  for (int i = 0; i < kRank; ++i) {
    dims[i] = static_cast<Index>(shape[i]);
    if (next_axis < axes.size() && axes[next_axis] == i) {
      reduced[next_axis++] = i;
    } else {
      kept[next_kept++] = dims[i];
    }
  }
  Eigen::TensorMap<const Eigen::Tensor<const In, kRank, Eigen::RowMajor>> in(x, dims);
  Eigen::TensorMap<Eigen::Tensor<Acc, kOutRank, Eigen::RowMajor>> result(out, kept);
  auto expr = [&] {
    if constexpr (std::is_same_v<In, Acc>) {
      return in.sum(reduced);
    } else {
      return in.template cast<Acc>().sum(reduced);
    }
  }();
  if (threads == 1) {
    result = expr;
  } else {
    result.device(pool_device(threads)) = expr;
  }
}

// Sums with the instantiation for kRank dims and axes.size() reduced ones, if it is one of
// kReduced..kRank; false when `shape` does not have kRank dims.
template <class In, class Acc, int kRank, int kReduced = 1>
bool sum_rank(const void* x, absl::Span<const std::int64_t> shape, absl::Span<const int> axes,
              void* out, int threads) {
  if constexpr (kReduced > kRank) {
    return false;
  } else {
    if (shape.size() != kRank) return false;
    if (axes.size() != kReduced) {
      return sum_rank<In, Acc, kRank, kReduced + 1>(x, shape, axes, out, threads);
    }
    sum<In, Acc, kRank, kReduced>(static_cast<const In*>(x), shape, axes, static_cast<Acc*>(out),
                                  threads);
    return true;
  }
}

}  // namespace

void eigen_tensor_sum(TensorAnchorType type, const void* x, absl::Span<const std::int64_t> shape,
                      absl::Span<const int> axes, void* out, int threads) {
  bool done = false;
  switch (type) {
    case TensorAnchorType::kFloat32:
      done = sum_rank<float, float, 1>(x, shape, axes, out, threads) ||
             sum_rank<float, float, 2>(x, shape, axes, out, threads) ||
             sum_rank<float, float, 3>(x, shape, axes, out, threads);
      break;
    case TensorAnchorType::kFloat64:
      done = sum_rank<double, double, 2>(x, shape, axes, out, threads) ||
             sum_rank<double, double, 3>(x, shape, axes, out, threads);
      break;
    case TensorAnchorType::kInt32:
      done = sum_rank<std::int32_t, std::int64_t, 2>(x, shape, axes, out, threads);
      break;
    case TensorAnchorType::kBFloat16:
      done = sum_rank<Eigen::bfloat16, float, 2>(x, shape, axes, out, threads);
      break;
  }
  if (!done) {
    std::fprintf(stderr, "eigen_tensor_sum: no instantiation for type %d, rank %zu, %zu axes\n",
                 static_cast<int>(type), shape.size(), axes.size());
    std::abort();
  }
}

void eigen_tensor_sum_shuffled_f32(const float* x, std::int64_t rows, std::int64_t cols, float* out,
                                   int threads) {
  Eigen::TensorMap<const Eigen::Tensor<const float, 2, Eigen::RowMajor>> in(x, rows, cols);
  Eigen::TensorMap<Eigen::Tensor<float, 1, Eigen::RowMajor>> result(out, rows);
  const Eigen::array<Index, 2> transpose{1, 0};
  const Eigen::array<Index, 1> axis0{0};
  if (threads == 1) {
    result = in.shuffle(transpose).sum(axis0);
  } else {
    result.device(pool_device(threads)) = in.shuffle(transpose).sum(axis0);
  }
}

}  // namespace corepy::bench
