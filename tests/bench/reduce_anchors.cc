#include "tests/bench/reduce_anchors.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <numeric>
#include <thread>
#include <vector>

#include "Eigen/Core"
#include "oneapi/tbb/blocked_range.h"
#include "oneapi/tbb/parallel_for.h"

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

struct ReadTeam::State {
  struct alignas(64) Slot {
    std::uint64_t words = 0;
  };
  explicit State(std::size_t n) : slots(n) {}

  // The piece of [p, p + bytes) that thread i of n reads.
  void read_piece(std::size_t i) {
    const std::size_t piece = (bytes / slots.size() + 63) / 64 * 64;
    const std::size_t begin = std::min(bytes, i * piece);
    slots[i].words = stream_read(p + begin, std::min(bytes, begin + piece) - begin);
  }
  void help(std::size_t i) {
    std::uint64_t seen = 0;
    for (;;) {
      std::uint64_t now;
      while ((now = generation.load(std::memory_order_acquire)) == seen) {
        if (stop.load(std::memory_order_relaxed)) return;
        _mm_pause();
      }
      seen = now;
      read_piece(i);
      pending.fetch_sub(1, std::memory_order_release);
    }
  }

  const char* p = nullptr;
  std::size_t bytes = 0;
  std::vector<Slot> slots;
  alignas(64) std::atomic<std::uint64_t> generation{0};
  alignas(64) std::atomic<std::size_t> pending{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> helpers;
};

ReadTeam::ReadTeam(int threads)
    : state_(std::make_unique<State>(static_cast<std::size_t>(std::max(threads, 1)))) {
  for (std::size_t i = 0; i + 1 < state_->slots.size(); ++i) {
    state_->helpers.emplace_back([s = state_.get(), i] { s->help(i); });
  }
}

ReadTeam::~ReadTeam() {
  state_->stop.store(true, std::memory_order_relaxed);
  for (std::thread& t : state_->helpers) t.join();
}

std::uint64_t ReadTeam::read(const void* p, std::size_t bytes) {
  State& s = *state_;
  const std::size_t n = s.slots.size();
  if (n == 1) return stream_read(p, bytes);  // no helper to hand a piece to
  s.p = static_cast<const char*>(p);
  s.bytes = bytes;
  s.pending.store(n - 1, std::memory_order_relaxed);
  s.generation.fetch_add(1, std::memory_order_release);
  s.read_piece(n - 1);
  while (s.pending.load(std::memory_order_acquire) != 0) _mm_pause();
  std::uint64_t words = 0;
  for (const State::Slot& slot : s.slots) words |= slot.words;
  return words;
}

std::uint64_t tbb_read(const void* p, std::size_t bytes, std::size_t piece) {
  const char* c = static_cast<const char*>(p);
  piece = std::max<std::size_t>(64, piece / 64 * 64);
  std::atomic<std::uint64_t> words{0};
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, (bytes + piece - 1) / piece, 1),
                    [&](const tbb::blocked_range<std::size_t>& r) {
                      const std::size_t begin = r.begin() * piece;
                      const std::size_t end = std::min(bytes, r.end() * piece);
                      words.fetch_or(stream_read(c + begin, end - begin),
                                     std::memory_order_relaxed);
                    });
  return words.load(std::memory_order_relaxed);
}

float std_accumulate(const float* x, std::size_t n) { return std::accumulate(x, x + n, 0.0f); }

float plain_sum(const float* x, std::size_t n) {
  typedef float Floats __attribute__((vector_size(64)));
  constexpr std::size_t kV = 16;  // floats a vector
  Floats a0 = {};
  Floats a1 = {};
  Floats a2 = {};
  Floats a3 = {};
  std::size_t i = 0;
  for (; i + 4 * kV <= n; i += 4 * kV) {
    Floats v0;
    Floats v1;
    Floats v2;
    Floats v3;
    std::memcpy(&v0, x + i, sizeof(Floats));
    std::memcpy(&v1, x + i + kV, sizeof(Floats));
    std::memcpy(&v2, x + i + 2 * kV, sizeof(Floats));
    std::memcpy(&v3, x + i + 3 * kV, sizeof(Floats));
    a0 += v0;
    a1 += v1;
    a2 += v2;
    a3 += v3;
  }
  const Floats all = (a0 + a1) + (a2 + a3);
  float sum = 0.0f;
  for (std::size_t k = 0; k < kV; ++k) sum += all[k];
  for (; i < n; ++i) sum += x[i];
  return sum;
}

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
