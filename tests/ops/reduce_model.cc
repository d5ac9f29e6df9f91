#include "tests/ops/reduce_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

#include "hwy/targets.h"
#include "ops/parallel_reduce.h"
#include "valgrind/valgrind.h"

namespace corepy::ops::model {
namespace {

// The balanced tree: the left half takes the larger half of an odd count.
template <class T, class Leaf, class Combine>
T tree(std::size_t lo, std::size_t hi, const Leaf& leaf, const Combine& combine) {
  if (hi - lo == 1) return leaf(lo);
  const std::size_t mid = lo + (hi - lo + 1) / 2;
  const T left = tree<T>(lo, mid, leaf, combine);
  const T right = tree<T>(mid, hi, leaf, combine);
  return combine(left, right);
}

std::size_t count_of(std::size_t n, std::size_t piece) { return (n + piece - 1) / piece; }

float add(float a, float b) { return a + b; }

struct Lanes {
  float l[kModelLanes];
};

// One block's lanes: each from -0.0, element i into lane i % kModelLanes.
Lanes block_lanes(const float* x, std::size_t n) {
  Lanes lanes;
  std::fill(lanes.l, lanes.l + kModelLanes, -0.0f);
  for (std::size_t i = 0; i < n; ++i) lanes.l[i % kModelLanes] += x[i];
  return lanes;
}

float fold(Lanes lanes) {
  for (std::size_t half = kModelLanes / 2; half >= 1; half /= 2) {
    for (std::size_t j = 0; j < half; ++j) lanes.l[j] += lanes.l[j + half];
  }
  return lanes.l[0];
}

// The blocks' lanes combined lane by lane by the tree, then folded once.
float chunk(const float* x, std::size_t n) {
  const Lanes lanes = tree<Lanes>(
      0, count_of(n, kModelBlock),
      [&](std::size_t b) {
        return block_lanes(x + b * kModelBlock, std::min(kModelBlock, n - b * kModelBlock));
      },
      [](Lanes a, const Lanes& b) {
        for (std::size_t j = 0; j < kModelLanes; ++j) a.l[j] += b.l[j];
        return a;
      });
  return fold(lanes);
}

struct Pair {
  float sum;
  float comp;
};

Pair two_sum(float a, float b) {
  const float s = a + b;
  const float bp = s - a;
  return {s, (a - (s - bp)) + (b - bp)};
}

Pair combine(Pair x, Pair y) {
  const Pair s = two_sum(x.sum, y.sum);
  return {s.sum, (x.comp + y.comp) + s.comp};
}

Pair compensated_chunk(const float* x, std::size_t n) {
  Pair lanes[kModelCompensatedLanes];
  std::fill(lanes, lanes + kModelCompensatedLanes, Pair{-0.0f, 0.0f});
  for (std::size_t i = 0; i < n; ++i) {
    Pair& l = lanes[i % kModelCompensatedLanes];
    const float t = l.sum + x[i];
    // Neumaier's branch, as the kernel has it.
    if (std::fabs(l.sum) >= std::fabs(x[i])) {
      l.comp += (l.sum - t) + x[i];
    } else {
      l.comp += (x[i] - t) + l.sum;
    }
    l.sum = t;
  }
  for (std::size_t half = kModelCompensatedLanes / 2; half >= 1; half /= 2) {
    for (std::size_t j = 0; j < half; ++j) lanes[j] = combine(lanes[j], lanes[j + half]);
  }
  return lanes[0];
}

}  // namespace

void* LoggingResource::do_allocate(std::size_t bytes, std::size_t alignment) {
  log_.push_back({true, bytes, alignment});
  void* p = std::pmr::new_delete_resource()->allocate(bytes, alignment);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % alignment, 0u);
  return p;
}

void LoggingResource::do_deallocate(void* p, std::size_t bytes, std::size_t alignment) {
  log_.push_back({false, bytes, alignment});
  std::pmr::new_delete_resource()->deallocate(p, bytes, alignment);
}

std::ostream& operator<<(std::ostream& os, const LoggingResource::Event& e) {
  return os << (e.allocate ? "allocate(" : "deallocate(") << e.bytes << ", " << e.alignment << ")";
}

bool under_valgrind() { return RUNNING_ON_VALGRIND != 0; }

#if defined(__SANITIZE_ADDRESS__)
#define COREPY_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COREPY_TEST_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define COREPY_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define COREPY_TEST_TSAN 1
#endif
#endif

bool under_instrumentation() {
#if defined(COREPY_TEST_ASAN) || defined(COREPY_TEST_TSAN)
  return true;
#else
  return under_valgrind();
#endif
}

void TargetTest::SetUp() {
  first_target();  // cached before anything is forced
#if defined(COREPY_TEST_ASAN)
  if ((GetParam() & (HWY_AVX3 | HWY_AVX3_DL)) != 0) {
    GTEST_SKIP() << "no 512-bit kernels under AddressSanitizer";
  }
#endif
  hwy::SetSupportedTargetsForTest(GetParam());
}

void TargetTest::TearDown() { hwy::SetSupportedTargetsForTest(0); }

void FinalizeParallelWorkers::TearDown() { EXPECT_TRUE(finalize_parallel_workers()); }

std::vector<std::int64_t> every_target() { return hwy::SupportedAndGeneratedTargets(); }

std::int64_t first_target() {
  static const std::int64_t first = every_target().front();
  return first;
}

std::string target_name(const ::testing::TestParamInfo<std::int64_t>& info) {
  return hwy::TargetName(info.param);
}

float model_sum_f32(const float* x, std::size_t n) {
  if (n == 0) return 0.0f;
  return tree<float>(
      0, count_of(n, kModelChunk),
      [&](std::size_t c) {
        return chunk(x + c * kModelChunk, std::min(kModelChunk, n - c * kModelChunk));
      },
      add);
}

float model_sum_f32_compensated(const float* x, std::size_t n) {
  if (n == 0) return 0.0f;
  const Pair total = tree<Pair>(
      0, count_of(n, kModelChunk),
      [&](std::size_t c) {
        return compensated_chunk(x + c * kModelChunk, std::min(kModelChunk, n - c * kModelChunk));
      },
      combine);
  if (!std::isfinite(total.sum) || total.comp == 0.0f) return total.sum;
  return total.sum + total.comp;
}

std::vector<float> model_column_sums_f32(const float* x, std::size_t rows, std::size_t cols) {
  std::vector<float> out(cols, 0.0f);
  if (rows == 0) return out;
  for (std::size_t c = 0; c < cols; ++c) {
    out[c] = tree<float>(
        0, count_of(rows, kModelLeafRows),
        [&](std::size_t leaf) {
          const std::size_t r0 = leaf * kModelLeafRows;
          const std::size_t r1 = std::min(rows, r0 + kModelLeafRows);
          float s = x[r0 * cols + c];
          for (std::size_t r = r0 + 1; r < r1; ++r) s += x[r * cols + c];
          return s;
        },
        add);
  }
  return out;
}

long double exact_sum(const float* x, std::size_t n) {
  long double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += x[i];
  return s;
}

long double abs_sum(const float* x, std::size_t n) {
  long double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += std::fabs(x[i]);
  return s;
}

bool same_float(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  std::uint32_t ua;
  std::uint32_t ub;
  std::memcpy(&ua, &a, sizeof ua);
  std::memcpy(&ub, &b, sizeof ub);
  return ua == ub;
}

std::string describe(float v) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  char text[64];
  std::snprintf(text, sizeof text, "%.9g (0x%08x)", static_cast<double>(v), bits);
  return text;
}

std::vector<float> random_floats(std::size_t n, std::uint32_t seed, float lo, float hi) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = dist(gen);
  return v;
}

std::vector<std::int32_t> random_ints(std::size_t n, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<std::int32_t> dist(INT32_MIN, INT32_MAX);
  std::vector<std::int32_t> v(n);
  for (std::int32_t& i : v) i = dist(gen);
  return v;
}

std::vector<std::size_t> boundary_sizes() {
  std::vector<std::size_t> sizes;
  const std::size_t dense = under_valgrind() ? 3 * kModelLanes + 2 : 5 * kModelLanes + 2;
  for (std::size_t n = 0; n <= dense; ++n) sizes.push_back(n);
  auto around = [&sizes](std::size_t m) {
    for (std::size_t d : {1, 15, 16, 17, 31, 32, 33, 63, 64, 65}) {
      if (m > d) sizes.push_back(m - d);
      sizes.push_back(m + d);
    }
    sizes.push_back(m);
  };
  for (std::size_t k = 1; k <= 3; ++k) around(k * kModelBlock);
  around(kModelChunk);
  if (!under_valgrind()) {
    around(2 * kModelChunk);
    around(3 * kModelChunk);
    sizes.push_back(5 * kModelChunk + 12345);
  } else {
    sizes.push_back(2 * kModelChunk + 7);
  }
  // Powers of two and their neighbours, as the list has them.
  for (std::size_t k = 1; k <= 20; ++k) {
    const std::size_t p = std::size_t{1} << k;
    sizes.insert(sizes.end(), {p - 1, p, p + 1});
  }
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  return sizes;
}

}  // namespace corepy::ops::model
