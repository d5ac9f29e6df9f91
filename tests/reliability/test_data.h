// Reproducible inputs for the reliability tests and the soak run: the same values on every
// machine and in every build, from a seed, so a failure can be replayed and a result compared
// with one computed before.
#ifndef COREPY_TESTS_RELIABILITY_TEST_DATA_H_
#define COREPY_TESTS_RELIABILITY_TEST_DATA_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

namespace corepy::reliability {

// Uniform in [-1, 1): sums stay small, so the float results are exact enough to compare bit
// for bit between two runs of the same kernel.
inline std::vector<float> random_floats(std::size_t n, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> out(n);
  for (float& v : out) v = dist(gen);
  return out;
}

inline std::vector<std::int32_t> random_ints(std::size_t n, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<std::int32_t> dist(-1000000, 1000000);
  std::vector<std::int32_t> out(n);
  for (std::int32_t& v : out) v = dist(gen);
  return out;
}

// A std::vector<bool> is packed, so bools for a span live in a plain array of bytes.
inline std::unique_ptr<bool[]> random_bools(std::size_t n, std::uint32_t seed, double p_true) {
  std::mt19937 gen(seed);
  std::bernoulli_distribution dist(p_true);
  auto out = std::make_unique<bool[]>(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = dist(gen);
  return out;
}

}  // namespace corepy::reliability

#endif  // COREPY_TESTS_RELIABILITY_TEST_DATA_H_
