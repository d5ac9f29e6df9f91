#include "tests/bench/reduce_anchors.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "Eigen/Core"

namespace corepy::bench {
namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Index = Eigen::Index;

}  // namespace

std::uint64_t stream_read(const void* p, std::size_t bytes) {
  typedef std::uint64_t Words __attribute__((vector_size(64)));
  const char* c = static_cast<const char*>(p);
  Words a0 = {};
  Words a1 = {};
  Words a2 = {};
  Words a3 = {};
  std::size_t i = 0;
  for (; i + 256 <= bytes; i += 256) {
    Words v0;
    Words v1;
    Words v2;
    Words v3;
    std::memcpy(&v0, c + i, 64);
    std::memcpy(&v1, c + i + 64, 64);
    std::memcpy(&v2, c + i + 128, 64);
    std::memcpy(&v3, c + i + 192, 64);
    a0 |= v0;
    a1 |= v1;
    a2 |= v2;
    a3 |= v3;
  }
  // The tail a vector at a time, the last partial vector as the vector that ends the buffer:
  // a byte loop here made the read slower than a sum below 64 KiB (155 ns for 4000 bytes).
  for (; i + 64 <= bytes; i += 64) {
    Words v;
    std::memcpy(&v, c + i, 64);
    a0 |= v;
  }
  if (i < bytes && bytes >= 64) {
    Words v;
    std::memcpy(&v, c + bytes - 64, 64);
    a1 |= v;
    i = bytes;
  }
  const Words all = (a0 | a1) | (a2 | a3);
  std::uint64_t r = 0;
  for (int k = 0; k < 8; ++k) r |= all[k];
  for (; i < bytes; ++i) r |= static_cast<unsigned char>(c[i]);
  return r;
}

float std_accumulate(const float* x, std::size_t n) { return std::accumulate(x, x + n, 0.0f); }

bool std_all_of(const bool* x, std::size_t n) {
  return std::all_of(x, x + n, [](bool b) { return b; });
}

bool std_any_of(const bool* x, std::size_t n) {
  return std::any_of(x, x + n, [](bool b) { return b; });
}

float eigen_sum(const float* x, std::size_t n) {
  return Eigen::Map<const Eigen::VectorXf>(x, static_cast<Index>(n)).sum();
}

float eigen_mean(const float* x, std::size_t n) {
  return Eigen::Map<const Eigen::VectorXf>(x, static_cast<Index>(n)).mean();
}

std::int64_t eigen_sum_i32_widened(const std::int32_t* x, std::size_t n) {
  return Eigen::Map<const Eigen::VectorXi>(x, static_cast<Index>(n)).cast<std::int64_t>().sum();
}

bool eigen_all(const bool* x, std::size_t n) {
  return Eigen::Map<const Eigen::Array<bool, Eigen::Dynamic, 1>>(x, static_cast<Index>(n)).all();
}

bool eigen_any(const bool* x, std::size_t n) {
  return Eigen::Map<const Eigen::Array<bool, Eigen::Dynamic, 1>>(x, static_cast<Index>(n)).any();
}

void eigen_column_sums(const float* x, std::size_t rows, std::size_t cols, float* out) {
  Eigen::Map<const RowMajor> m(x, static_cast<Index>(rows), static_cast<Index>(cols));
  Eigen::Map<Eigen::RowVectorXf>(out, static_cast<Index>(cols)) = m.colwise().sum();
}

void eigen_row_sums(const float* x, std::size_t rows, std::size_t cols, float* out) {
  Eigen::Map<const RowMajor> m(x, static_cast<Index>(rows), static_cast<Index>(cols));
  Eigen::Map<Eigen::VectorXf>(out, static_cast<Index>(rows)) = m.rowwise().sum();
}

}  // namespace corepy::bench
