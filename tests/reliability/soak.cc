// Soak run of the dispatch layer (issue #6, part 4): every dispatch entry point, on 2 threads,
// in a loop for a given time under one allocator configuration, with input sizes from empty to
// past the parallel threshold and matrices whose scratch spills the thread arena. It samples
// the process's resident set (RSS, /proc/self/statm) every second, checks every result against
// a reference computed once before the loop, and reports the figures. run_soak.sh runs it once
// per configuration (arena, system, mimalloc) and documents the long run.
//
//   soak <allocator spec> <seconds> [leak KiB/s]        e.g.  soak arena 600
//
// The optional third argument leaks that much every second on purpose (touched, so resident):
// the way to see that the pass condition catches a leak (soak arena 10 1024 fails).
//
// Pass condition, "RSS stays flat after warm-up": with D the duration in seconds,
//   warm-up  W = min(60, max(2, D / 5)) seconds: samples taken before W are not judged;
//   window   L = min(60, (D - W) / 2) seconds, at least 1;
//   first    the mean of the samples in [W, W + L); last: the mean of the samples in (D - L, D];
//   growth   (last - first) / first, which must not exceed 1%.
// For a 10-minute run that is the first and the last minute after a one-minute warm-up. The
// least-squares slope of every sample after W is reported too (KiB per minute), not judged.
// Exit status: 0 pass; 1 RSS grew more than 1%, or a result differed from its reference, or a
// call threw; 2 bad arguments or a configuration corepy refused.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "corepy/config.h"
#include "corepy/dispatch.h"
#include "oneapi/tbb/global_control.h"
#include "tests/reliability/test_data.h"

namespace corepy::reliability {
namespace {

constexpr int kThreads = 2;
// Small enough that the column sums' scratch spills it; large enough for everything else.
constexpr std::size_t kArenaSize = std::size_t{16} << 10;

// One call of the workload: runs an entry point and returns a fingerprint of its result (the
// bits of the scalar, or of every element), compared with the reference.
struct Call {
  std::string name;
  std::function<std::uint64_t()> run;
};

std::uint64_t bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

std::uint64_t fingerprint(const std::pmr::vector<float>& v) {
  std::uint64_t h = 1469598103934665603ull ^ v.size();  // FNV-1a over the elements' bits
  for (float f : v) h = (h ^ bits(f)) * 1099511628211ull;
  return h;
}

struct Inputs {
  std::vector<std::vector<float>> floats;
  std::vector<std::vector<std::int32_t>> ints;
  std::vector<std::pair<std::unique_ptr<bool[]>, std::size_t>> bools;
  struct Matrix {
    std::vector<float> data;
    std::size_t rows, cols;
  };
  std::vector<Matrix> matrices;
};

// Sizes from empty to past ops::kParallelMinBytes (512 KiB), where the oneTBB kernels take
// over; matrices whose column scratch ((1 + depth) * min(cols, 1024) floats) spills the arena.
Inputs make_inputs() {
  Inputs in;
  std::uint32_t seed = 1;
  for (std::size_t n : {0, 1, 1000, 65537, 200000, 300000}) {
    in.floats.push_back(random_floats(n, seed++));
    in.ints.push_back(random_ints(n, seed++));
    in.bools.emplace_back(random_bools(n, seed++, n % 2 == 0 ? 0.5 : 1.0), n);
  }
  for (auto [rows, cols] : {std::pair<std::size_t, std::size_t>{7, 5}, {300, 70}, {1000, 500},
                           {4096, 33}, {33, 4096}}) {
    in.matrices.push_back(Inputs::Matrix{random_floats(rows * cols, seed++), rows, cols});
  }
  return in;
}

std::vector<Call> make_calls(const Inputs& in) {
  std::vector<Call> calls;
  for (const std::vector<float>& x : in.floats) {
    const std::string n = std::to_string(x.size());
    calls.push_back({"sum_f32/" + n, [&x] { return bits(sum_f32_cpu_dispatch(x.data(), x.size())); }});
    calls.push_back({"mean_f32/" + n, [&x] { return bits(mean_f32_cpu_dispatch(x.data(), x.size())); }});
    calls.push_back({"sum_f32_compensated/" + n, [&x] {
                       return bits(sum_f32_compensated_cpu_dispatch(x.data(), x.size()));
                     }});
    calls.push_back({"mean_f32_compensated/" + n, [&x] {
                       return bits(mean_f32_compensated_cpu_dispatch(x.data(), x.size()));
                     }});
  }
  for (const std::vector<std::int32_t>& x : in.ints) {
    calls.push_back({"sum_i32/" + std::to_string(x.size()), [&x] {
                       return static_cast<std::uint64_t>(sum_i32_cpu_dispatch(x.data(), x.size()));
                     }});
  }
  for (const auto& [b, n] : in.bools) {
    const bool* p = b.get();
    const std::size_t count = n;
    calls.push_back({"all_bool/" + std::to_string(n), [p, count] {
                       return std::uint64_t{all_bool_cpu_dispatch(p, count)};
                     }});
    calls.push_back({"any_bool/" + std::to_string(n), [p, count] {
                       return std::uint64_t{any_bool_cpu_dispatch(p, count)};
                     }});
  }
  for (const Inputs::Matrix& m : in.matrices) {
    const std::string shape = std::to_string(m.rows) + "x" + std::to_string(m.cols);
    calls.push_back({"sum_rows_f32/" + shape, [&m] {
                       return fingerprint(sum_rows_f32_cpu_dispatch(m.data.data(), m.rows, m.cols));
                     }});
    calls.push_back({"sum_cols_f32/" + shape, [&m] {
                       return fingerprint(sum_cols_f32_cpu_dispatch(m.data.data(), m.rows, m.cols));
                     }});
    calls.push_back({"mean_rows_f32/" + shape, [&m] {
                       return fingerprint(mean_rows_f32_cpu_dispatch(m.data.data(), m.rows, m.cols));
                     }});
    calls.push_back({"mean_cols_f32/" + shape, [&m] {
                       return fingerprint(mean_cols_f32_cpu_dispatch(m.data.data(), m.rows, m.cols));
                     }});
  }
  return calls;
}

std::size_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

double mean(const std::vector<double>& v, std::size_t from, std::size_t to) {
  double s = 0;
  for (std::size_t i = from; i < to; ++i) s += v[i];
  return s / static_cast<double>(to - from);
}

int run(const std::string& allocator, int seconds, int leak_kib_per_s) {
  Options o;
  o.allocator = allocator;
  o.arena_size = kArenaSize;
  o.arena_max_size = 0;  // no self-tuning: the arena keeps spilling for the whole run
  if (absl::Status s = configure(o); !s.ok()) {
    std::fprintf(stderr, "soak: corepy refused allocator \"%s\": %s\n", allocator.c_str(),
                 std::string(s.message()).c_str());
    return 2;
  }
  // The callers and at most one oneTBB worker: the 2 threads of the run.
  tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism, kThreads);

  const Inputs inputs = make_inputs();
  const std::vector<Call> calls = make_calls(inputs);
  std::vector<std::uint64_t> reference;
  for (const Call& c : calls) reference.push_back(c.run());

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> done{0}, wrong{0}, threw{0};
  auto worker = [&](std::size_t offset) {
    std::uint64_t n = 0;
    for (std::size_t i = offset; !stop.load(std::memory_order_relaxed); ++i, ++n) {
      const std::size_t k = i % calls.size();
      try {
        const std::uint64_t got = calls[k].run();
        if (got != reference[k] && wrong.fetch_add(1) < 10) {
          std::fprintf(stderr, "soak: %s gave %llx, reference %llx\n", calls[k].name.c_str(),
                       static_cast<unsigned long long>(got),
                       static_cast<unsigned long long>(reference[k]));
        }
      } catch (const std::exception& e) {
        if (threw.fetch_add(1) < 10) {
          std::fprintf(stderr, "soak: %s threw: %s\n", calls[k].name.c_str(), e.what());
        }
      }
    }
    done += n;
  };

  std::vector<double> rss_kib;  // one sample a second, the first at t = 0
  const auto start = std::chrono::steady_clock::now();
  rss_kib.push_back(rss_bytes() / 1024.0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t * calls.size() / kThreads);
  std::vector<std::unique_ptr<char[]>> leaked;
  for (int s = 1; s <= seconds; ++s) {
    if (leak_kib_per_s > 0) {
      const std::size_t n = static_cast<std::size_t>(leak_kib_per_s) << 10;
      leaked.emplace_back(new char[n]);
      std::memset(leaked.back().get(), 1, n);
    }
    std::this_thread::sleep_until(start + std::chrono::seconds(s));
    rss_kib.push_back(rss_bytes() / 1024.0);
  }
  stop = true;
  for (std::thread& t : threads) t.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // The judgement, as the header defines it (sample i is taken at i seconds).
  const int warmup = std::min(60, std::max(2, seconds / 5));
  const int window = std::max(1, std::min(60, (seconds - warmup) / 2));
  const std::size_t first_from = warmup, first_to = warmup + window;
  const std::size_t last_from = rss_kib.size() - window, last_to = rss_kib.size();
  const double first = mean(rss_kib, first_from, first_to);
  const double last = mean(rss_kib, last_from, last_to);
  const double growth = (last - first) / first;
  // Least squares over every sample from the warm-up on.
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  const double m = static_cast<double>(rss_kib.size() - warmup);
  for (std::size_t i = warmup; i < rss_kib.size(); ++i) {
    sx += i;
    sy += rss_kib[i];
    sxx += static_cast<double>(i) * i;
    sxy += i * rss_kib[i];
  }
  const double slope_per_s = m > 1 ? (m * sxy - sx * sy) / (m * sxx - sx * sx) : 0.0;

  std::printf("soak %s: %d s on %d threads, %zu calls in the cycle, %llu calls (%.0f/s), "
              "%llu wrong, %llu threw\n",
              allocator.c_str(), seconds, kThreads, calls.size(),
              static_cast<unsigned long long>(done.load()), done.load() / elapsed,
              static_cast<unsigned long long>(wrong.load()),
              static_cast<unsigned long long>(threw.load()));
  std::printf("soak %s: RSS KiB by second:", allocator.c_str());
  for (double r : rss_kib) std::printf(" %.0f", r);
  std::printf("\n");
  std::printf("soak %s: warm-up %d s, windows of %d s: first [%zu,%zu) mean %.0f KiB, last "
              "[%zu,%zu) mean %.0f KiB, growth %+.3f%% (limit +1%%), slope %+.1f KiB/min\n",
              allocator.c_str(), warmup, window, first_from, first_to, first, last_from, last_to,
              last, 100 * growth, 60 * slope_per_s);
  const bool ok = growth <= 0.01 && wrong.load() == 0 && threw.load() == 0 && done.load() > 0;
  std::printf("soak %s: per-op stats\n%s", allocator.c_str(), op_stats_table().c_str());
  std::printf("soak %s: %s\n", allocator.c_str(), ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace corepy::reliability

int main(int argc, char** argv) {
  const int seconds = argc >= 3 ? std::atoi(argv[2]) : 0;
  const int leak = argc == 4 ? std::atoi(argv[3]) : 0;
  if (argc < 3 || argc > 4 || seconds < 4 || leak < 0) {
    std::fprintf(stderr,
                 "usage: soak <allocator spec> <seconds, at least 4> [leak KiB/s]\n"
                 "  e.g. soak arena 600; soak system 10; soak mimalloc 10\n");
    return 2;
  }
  return corepy::reliability::run(argv[1], seconds, leak);
}
