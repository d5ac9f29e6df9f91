#include <cstdint>
#include <memory_resource>
#include <vector>

#include "absl/status/statusor.h"
#include "allocators/arena_resource.h"
#include "corepy/tensor_dispatch.h"
#include "ops/reduce_tensor.h"

namespace ops = corepy::ops;

int main() {
  // A (2, 3, 4) float32 tensor, and a view of it with the last two axes swapped.
  std::vector<float> data(24);
  for (int i = 0; i < 24; ++i) data[i] = static_cast<float>(i);
  const std::int64_t shape[] = {2, 3, 4};
  const ops::TensorView x(data.data(), ops::DType::kFloat32, shape);  // C-contiguous
  const std::int64_t t_shape[] = {2, 4, 3};
  const std::int64_t t_strides[] = {48, 4, 16};  // bytes, any sign; 0 broadcasts
  const ops::TensorView xt(data.data(), ops::DType::kFloat32, t_shape, t_strides);

  // numpy's x.sum(axis=(0, 2), keepdims=True): shape (1, 3, 1), float32.
  ops::ReduceOptions options;
  const std::int64_t axes[] = {0, -1};
  options.all_axes = false;  // the default is axis=None: every axis
  options.axes = axes;
  options.keepdims = true;
  corepy::ArenaResource arena;  // results and scratch from any resource
  absl::StatusOr<ops::Tensor> sums = ops::reduce(ops::Reduction::kSum, x, options, &arena);
  if (!sums.ok() || sums->shape()[1] != 3 || sums->values<float>()[0] != 60) return 1;

  // The runtime's way: the op's scope, configured scratch and per-op stats ("argmax" here).
  ops::ReduceOptions last;
  const std::int64_t axis[] = {2};
  last.all_axes = false;
  last.axes = axis;
  absl::StatusOr<ops::Tensor> where =
      corepy::reduce_cpu_dispatch(ops::Reduction::kArgmax, xt, last);
  if (!where.ok() || where->values<std::int64_t>()[0] != 2) return 1;  // int64, like numpy

  // Bad input is an error naming it: "... axis 3 is out of bounds for array of dimension 3".
  const std::int64_t bad[] = {3};
  options.axes = bad;
  return ops::reduce(ops::Reduction::kMean, x, options).status().ok() ? 1 : 0;
}
