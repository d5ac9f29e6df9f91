// The kernels of the N-D reductions (ops/reduce_tensor.h), compiled once per SIMD target by
// Highway (tensor_kernels.cc re-includes itself) so that their loops, written for the
// vectorizer, use the widest vectors the CPU has; the best target is chosen at run time.
// Every loop keeps the order of its float operations whatever the vector width, so every target
// gives the same bits.
//
// Two strategies, chosen by the plan's geometry:
//   - per output: each result reduces the elements under it, along runs of the innermost
//     reduced dim (read in place when contiguous and aligned, float16 and bfloat16 converted to
//     float32 as they are loaded, with float32's order; else converted a block at a time into the
//     thread's scratch buffer);
//   - columns: when the innermost kept dim is closer in memory than the innermost reduced one
//     (a reduction down non-contiguous axes), a tile of up to kTile results is reduced at once,
//     row by row, its accumulators in scratch.
// Float sums are pairwise in both: runs of leaves (chunks of sum_f32_range, or blocks) combined
// by pairwise_tree, or, when a result has several runs shorter than kPackRunsBelow, leaves of
// Geometry::runs_per_leaf() whole runs summed into kLanes lanes, each run at fixed lanes and each
// lane adding at most kLeafAdds elements; columns in leaves of kLeafRows rows combined by the
// same tree. Float32, float16 and bfloat16 sums and means accumulate in float32; float64 sums,
// integer means and var/std in float64; integer sums and products in wrapping 64-bit integers;
// float products in float64.
//
// Three float32 loops have an AVX-512 form that makes the same additions with fewer loads and
// stores (masked loads, which cannot fault on the lanes they leave out): a packed leaf of
// contiguous runs keeps its lanes in registers; a packed tile (Geometry::packed_tile()) sums
// the leaves of up to kPackedTile neighbouring results at once, reading their short runs a row
// at a time rather than a cache line per run; and a column tile of up to 128 results keeps one,
// two or four sibling leaves' sums in registers (unless its rows are a multiple of 4 KiB apart:
// Geometry::rows_share_sets()).
//
// Visibility: //ops only.
#ifndef COREPY_OPS_INTERNAL_TENSOR_KERNELS_H_
#define COREPY_OPS_INTERNAL_TENSOR_KERNELS_H_

#include <cstddef>
#include <cstdint>

#include "ops/internal/reduce_kernels.h"
#include "ops/reduce_tensor.h"
#include "ops/tensor.h"

namespace corepy::ops::internal {

// Leaves of the float64 pairwise sum: kBlock64 elements in kLanes64 lanes (element i into lane
// i % kLanes64: 16 to a lane, as the float32 blocks), the lanes folded by halving; blocks
// combined by pairwise_tree.
inline constexpr std::size_t kLanes64 = 128;
inline constexpr std::size_t kBlock64 = 2048;
// Elements a float32-accumulated run converts at a time into its buffer: one block of
// sum_f32_range, summed by sum_f32_chunk.
inline constexpr std::size_t kGather = kBlock;
// Runs shorter than this, several under one result, are packed into leaves (packs_runs()).
inline constexpr std::int64_t kPackRunsBelow = 1024;
// Elements one lane of a packed leaf adds in sequence, as a column leaf's rows.
inline constexpr std::uint64_t kLeafAdds = kLeafRows;
// Runs side by side in a packed leaf's lanes start a multiple of this many lanes apart: each on a
// vector of 16 lanes, so that a vector loop loads it whole.
inline constexpr std::size_t kRunLanes = 16;
// Results one column tile holds. Its accumulators stay in L1 (16 KiB of float32) while the rows
// stream past, loaded and stored once per 4 rows; and each row is read in runs of up to 16 KiB,
// long enough for the prefetchers (1024 results, 4 KiB runs that start a new page each time,
// read (64, 4096) down its rows at 31% of a streaming read).
inline constexpr std::size_t kTile = 4096;
// A line of too few tiles to give each thread two is cut into one tile a thread where each
// row's piece is at least this long (and the tile at most kTile).
inline constexpr std::size_t kColumnSplitBytes = 8192;
// Neighbouring results of packed runs summed together (Geometry::packed_tile()). Runs that lie
// end to end (the results' stride is the run's bytes) make one contiguous span a row, added into
// lanes in memory (flat tiles): at most kFlatTile results and kFlatTileBytes of lanes (in L1) a
// tile. Float64 runs of any length up to kLanes, float32 runs of at most kFlatShortRun elements
// or of three to eight kRunLanes.
inline constexpr std::size_t kFlatTile = 64;
inline constexpr std::size_t kFlatTileBytes = 16384;
// Rows of one class a flat leaf adds in one pass over its lanes, for kSide runs side by side:
// four for short runs (eight classes or four), whose rows are short (f32 (4000, 50, 5) over
// (0, 2): 63 us against 69 us with two and 68 us with eight, on a Zen 5); two for longer runs,
// whose rows are long ((100, 100, 100): 56 us against 59 us with four).
constexpr std::size_t flat_pass_rows(std::size_t side) { return side >= 4 ? 4 : 2; }
// A flat tile's lanes and one pass's rows together, at most: a pass that streams more past its
// lanes than L1 holds beside them finds them evicted (a Zen 5's L1d is 48 KiB: float64 (250, 40,
// 100) over (0, 2) took 114 us in tiles of 20 results, 16 KB of lanes and 32 KB of rows a pass,
// against 106 us in tiles of 10).
inline constexpr std::size_t kFlatPassBytes = 32768;
static_assert(kFlatPassBytes >= (1 + flat_pass_rows(1)) * kLanes * sizeof(double),
              "a flat tile holds at least one result of the longest float64 runs");
// Float32 runs of 9 to 32 elements stay in register tiles (below), which were as fast or faster
// there; shorter ones are flat (float32 (N, K, L) over (0, 2), 1 to 8 MB, K 10 to 200, on a Zen 5:
// 0.44-0.93x the register tiles' time for L 2 to 8, 0.97-1.19x for L 12 to 32).
inline constexpr std::int64_t kFlatShortRun = 8;
// Float32 runs of at most two vectors whose results are at most kPackedTileStride bytes apart
// and not flat: kPackedTile results a tile (half as many for runs of two vectors), lanes in
// registers.
inline constexpr std::size_t kPackedTile = 16;
inline constexpr std::int64_t kPackedTileStride = 128;
// Register tiles a packed tile of those runs holds: each leaf's rows are read by each of them in
// turn, from L2 after the first (f32 (4000, 50, 5) over (0, 2) as four tiles of 13 results,
// each reading the whole 4 MB on its own, took 1.16-1.18x the time).
inline constexpr std::size_t kPackedGroup = 4;
// Input bytes a task of a split takes, about: over results, over one tree's leaves.
inline constexpr std::size_t kTaskBytes = std::size_t{256} << 10;
// A column tile whose rows are split over threads splits the top levels of its tree, as many as
// make a piece a thread (tree_depth(threads)), at most kSplitDepth; the pool holds the tile's
// sums, its means (var, std) and a buffer per split node. One piece a thread rather than eight
// pieces over two threads: float64 (1000, 1000) over axis 0 took 0.94x the time on a Zen 5 (each
// split is a oneTBB fork and join), float32 0.98x.
inline constexpr int kSplitDepth = 3;
constexpr std::size_t split_pool_tiles(int depth) { return 2 + (std::size_t{1} << depth) - 1; }

using Dim = ReducePlan::Dim;

// A cache line, for the column tiles' line_head() (Geometry::row_line_period).
inline constexpr std::uint64_t kLineBytes = 64;
// Addresses this many bytes apart fall in the same L1 set (a Zen 5's 48 KiB, 12-way L1 has 64
// sets of lines; most x86 L1s share the 4 KiB period). Column tile rows this far apart cannot
// all stay in L1 while a register strip reads the same lines of every row of its node at once.
inline constexpr std::int64_t kSetPeriodBytes = 4096;

// The plan, as the kernels read it.
struct Geometry {
  Reduction reduction;
  DType in;
  DType out_dtype;
  std::size_t itemsize;
  std::size_t out_item;
  const char* base;
  const Dim* kept;  // points into the plan
  std::size_t nkept;
  const Dim* red;
  std::size_t nred;
  const std::int64_t* index_step;
  std::uint64_t multiplicity;
  std::uint64_t reduced_count;  // numpy's n, broadcast dims included
  std::uint64_t visited;        // elements visited per result: reduced_count / multiplicity
  std::size_t result_size;
  std::int64_t ddof;
  bool columns;  // the column strategy
  bool aligned;  // base and every stride are multiples of the element size
  // The rows of a column tile start at every offset into a line (kLineBytes) that is the first
  // row's plus a multiple of this (the gcd of kLineBytes and the reduced strides): kLineBytes
  // when they all start where the first does.
  std::uint64_t row_line_period;
  // Columns a column tile holds: kTile, unless schedule() cut a line into one tile a thread.
  std::size_t column_tile = kTile;

  // The run of the per-output strategy: the innermost reduced dim (nred >= 1).
  const Dim& run() const { return red[nred - 1]; }
  // Whether runs are summed in place (contiguous, aligned float32 or float64 sums and means)
  // rather than converted into a buffer; false with no reduced dim.
  bool runs_in_place() const;
  std::uint64_t runs() const;  // runs under one result
  // Whether the float sums of one result cut their elements into leaves across runs rather than
  // summing each run apart: several runs, each shorter than kPackRunsBelow, whose own sums
  // would each pay a fold of the 64 lanes.
  bool packs_runs() const;
  // A packed leaf's runs: runs_side_by_side() to the kLanes lanes, each from a multiple of
  // kRunLanes lanes on (kLanes / (length rounded up to kRunLanes) for runs of at most kLanes
  // elements, else one, whose element k goes to lane k % kLanes), and as many of those rows as
  // keep each lane at kLeafAdds additions or fewer: runs_per_leaf() runs. A leaf of runs of 100
  // is 16 runs (1600 elements), of runs of 16 128 runs (2048), of runs of 1000 2 runs (2000).
  std::uint64_t runs_side_by_side() const;
  std::uint64_t runs_per_leaf() const;
  std::uint64_t packed_leaves() const;  // leaves of one result's packed runs
  // Results per packed tile, neighbours along the innermost kept dim whose runs are read
  // together, a row of runs at a time (sums and means of packed, contiguous, aligned runs): for
  // runs that lie end to end (packed_flat(): float64 runs, float32 runs of at most
  // kFlatShortRun elements or of three to eight kRunLanes), as many as kFlatTileBytes of lanes
  // hold and kFlatPassBytes of lanes and a pass's rows, at most kFlatTile, in an even number of
  // tiles; for other float32 runs of at most two
  // vectors whose results are at most kPackedTileStride bytes apart, kPackedGroup register tiles
  // of kPackedTile / vectors. The line is cut into tiles of
  // equal size (a tile's register tiles likewise); 0 when results are reduced one by one. The
  // work units are then these tiles.
  std::size_t packed_tile() const;
  bool packed_flat() const;
  std::uint64_t column_rows() const;  // rows of a column tile: every reduced position
  // Whether a column tile's neighbouring rows are a multiple of kSetPeriodBytes apart. Its
  // float32 sums then stream row by row (column_tree's loops) rather than in register strips:
  // float32 (64, 4096) over axis 0 took 0.80-0.83x the strips' time on a Zen 5, where rows of
  // 1000 floats (4000 bytes apart) are read at the streaming read's speed in strips.
  bool rows_share_sets() const;
  std::size_t tile_width() const;
  std::size_t tiles_per_line() const;
};

// How a plan runs: its work units (results, or column tiles), whether they or one result's
// pairwise tree are split over threads, and the scratch that takes: a slot per thread.
struct Schedule {
  bool single_split = false;  // one result, its pairwise tree split over threads
  bool tiles_split = false;   // packed tiles one after the other, each one's tree over threads
  bool rows_split = false;    // column tiles one at a time, each one's rows over threads
  bool parallel = false;      // units split over threads
  std::size_t units = 0;
  std::size_t grain = 1;
  std::size_t slots = 0;
  std::size_t slot_bytes = 0;  // a multiple of 64
  std::size_t pool_bytes = 0;  // shared by the threads (rows_split), before the slots
  int split_depth = 0;         // rows_split: the levels of a tile's tree split over threads
  std::size_t bytes() const { return pool_bytes + slots * slot_bytes; }
  bool split() const { return single_split || tiles_split || rows_split || parallel; }
};

// The schedule of `g` with these options.
Schedule schedule(Geometry& g, const ParallelOptions& options);

// Computes every result of `g` into `out`, with `slots` (s.bytes() bytes, 64-byte aligned) as
// scratch. Requires g.result_size > 0 and g.reduced_count > 0.
void run_reduction(const Geometry& g, const Schedule& s, char* out, char* slots);

}  // namespace corepy::ops::internal

#endif  // COREPY_OPS_INTERNAL_TENSOR_KERNELS_H_
