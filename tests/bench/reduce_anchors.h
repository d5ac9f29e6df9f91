// The anchors the reduction benchmark compares corepy's kernels with, compiled apart with
// -march=native so that each is at its best on the machine that runs it (corepy's kernels are
// not: they are built for any x86-64 and pick their SIMD target at run time):
//   - a plain streaming read of the same bytes: the memory bandwidth bound, the fastest any
//     reduction over those bytes can be once they come from memory;
//   - Eigen 3.4's reductions over a Map of the same data;
//   - the standard library's loops: std::accumulate (a sequential float sum: IEEE order, so the
//     compiler cannot vectorise it, -march=native or not), std::all_of and std::any_of.
// Out of line, so the benchmark's loop cannot fold them into anything else.
#ifndef COREPY_TESTS_BENCH_REDUCE_ANCHORS_H_
#define COREPY_TESTS_BENCH_REDUCE_ANCHORS_H_

#include <cstddef>
#include <cstdint>
#include <memory>

namespace corepy::bench {

// ORs every 8-byte word of [p, p + bytes) into one: each byte is loaded once, four 64-byte
// vectors per iteration, one cheap operation each.
std::uint64_t stream_read(const void* p, std::size_t bytes);

// stream_read on `threads` threads at once, the bound of a kernel split over as many: the
// calling thread and threads - 1 helpers, made with the team and spinning from one read() to the
// next until it is destroyed, so that no wake-up is timed, each reading one piece of whole
// 64-byte lines. The hardware's bound: oneTBB's workers sleep between calls (tbb_read below).
class ReadTeam {
 public:
  explicit ReadTeam(int threads);
  ReadTeam(const ReadTeam&) = delete;
  ReadTeam& operator=(const ReadTeam&) = delete;
  ~ReadTeam();

  // The words of [p, p + bytes), ORed, as stream_read gives them.
  std::uint64_t read(const void* p, std::size_t bytes);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// stream_read split by oneTBB, as corepy's kernels split: tbb::parallel_for over pieces of
// `piece` bytes (whole 64-byte lines) with its default partitioner, on the default task arena's
// threads, which sleep between calls. Against ReadTeam, what oneTBB's fork, join and wake-up
// cost a memory-bound split.
std::uint64_t tbb_read(const void* p, std::size_t bytes, std::size_t piece);

// std::accumulate(x, x + n, 0.0f).
float std_accumulate(const float* x, std::size_t n);
// The plainest fast float sum: four accumulators of 16 floats (one 512-bit register each where
// the CPU has them, -march=native), each adding every fourth vector, the rest one at a time. No
// fixed order and none of the pairwise sum's accuracy: it shows how near a float sum's loop can
// come to stream_read at each size, where the read's OR and a sum's add could differ.
float plain_sum(const float* x, std::size_t n);
// std::all_of / std::any_of with the identity predicate.
bool std_all_of(const bool* x, std::size_t n);
bool std_any_of(const bool* x, std::size_t n);

float eigen_sum(const float* x, std::size_t n);
float eigen_mean(const float* x, std::size_t n);
std::int64_t eigen_sum_i32_widened(const std::int32_t* x, std::size_t n);  // cast<int64>().sum()
bool eigen_all(const bool* x, std::size_t n);
bool eigen_any(const bool* x, std::size_t n);
// Row-major rows x cols: sums down the columns (axis 0) into out[cols], along the rows (axis 1)
// into out[rows].
void eigen_column_sums(const float* x, std::size_t rows, std::size_t cols, float* out);
void eigen_row_sums(const float* x, std::size_t rows, std::size_t cols, float* out);

}  // namespace corepy::bench

#endif  // COREPY_TESTS_BENCH_REDUCE_ANCHORS_H_
