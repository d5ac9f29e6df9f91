// The SIMD kernels behind the reductions, compiled once per SIMD target with Highway and chosen
// at run time for the CPU (HWY_EXPORT / HWY_DYNAMIC_DISPATCH). Each function here is a thin
// wrapper that dispatches; the library itself is built without -march, so one binary runs at
// its best on any x86-64 (SSSE3 ... AVX-512).
//
// Float sums follow one fixed evaluation order on every target, so their results are
// bit-identical whether AVX-512, AVX2, SSE4 or scalar code runs (under Valgrind, say, which
// offers no AVX-512):
//   - a *block* of up to kBlock floats is accumulated in kLanes = 128 logical lanes, element i
//     into lane i % 128, each lane starting at -0.0 (the exact identity of IEEE addition, so a
//     sum of -0.0 stays -0.0); a partial last group is padded with -0.0. A target with N lanes
//     per vector holds the 128 lanes in 128 / N vectors; the order of additions within each lane
//     is the same.
//   - the blocks of a *chunk* (kChunk floats) are combined lane by lane by pairwise_tree()
//     (reduce_tree.h), a balanced binary tree over their indices; then the chunk's 128 lanes are
//     folded by halving: lane j += lane j + 64, then + 32, + 16, + 8, + 4, + 2, + 1.
//   - the chunks' sums are combined by the same tree.
// Row sums of rows of at most 16 floats are computed by scalar code, with the same additions.
// The parallel reductions compute the same chunks on several threads and combine them with the
// same tree, so they return exactly what the serial ones do, for any thread count.
//
// Visibility: //ops only. The public API is ops/reduce.h and ops/parallel_reduce.h.
#ifndef COREPY_OPS_INTERNAL_REDUCE_KERNELS_H_
#define COREPY_OPS_INTERNAL_REDUCE_KERNELS_H_

#include <cstddef>
#include <cstdint>

#include "ops/internal/reduce_tree.h"

namespace corepy::ops::internal {

// Logical accumulation lanes of the float kernels, on every target.
inline constexpr std::size_t kLanes = 128;
// Leaf of the pairwise tree: floats summed lane by lane, 16 to a lane (8 KiB), as numpy's
// pairwise sum adds 16 to each of its 8 accumulators.
inline constexpr std::size_t kBlock = 2048;
// Unit of the outer tree and of parallel work, in elements of 4 bytes (128 KiB): 16 blocks.
inline constexpr std::size_t kChunk = std::size_t{1} << 15;
// The same, for the byte-sized bools of all/any (256 KiB).
inline constexpr std::size_t kBoolChunk = std::size_t{1} << 18;

// Sum of x[0, n), n >= 1, in the canonical order described above (chunks, blocks, lanes).
float sum_f32_range(const float* x, std::size_t n);
// One chunk's sum, 1 <= n <= kChunk: the leaf of the outer tree.
float sum_f32_chunk(const float* x, std::size_t n);
// sum_f32_chunk of the floats that the n bfloat16 / float16 values (their bits) at x convert to,
// exactly: the conversion is fused into the loads, the lanes and order are the same.
float sum_bf16_chunk(const std::uint16_t* x, std::size_t n);
float sum_f16_chunk(const std::uint16_t* x, std::size_t n);
// out[r] = sum_f32_range(row r) for the rows x cols row-major matrix at x; cols >= 1.
void row_sums_f32(const float* x, std::size_t rows, std::size_t cols, float* out);
// The same of bfloat16 / float16 rows: out[r] is the float32 sum_f32_range of row r's values,
// as sum_bf16_chunk / sum_f16_chunk and the pairwise tree over chunks give it.
void row_sums_bf16(const std::uint16_t* x, std::size_t rows, std::size_t cols, float* out);
void row_sums_f16(const std::uint16_t* x, std::size_t rows, std::size_t cols, float* out);
// acc[j] = x[0][j] + x[1][j] + ... + x[rows-1][j] for j < width, in that order; rows >= 1.
// Row r starts at x + r * stride.
void column_sums_f32(const float* x, std::size_t rows, std::size_t stride, std::size_t width,
                     float* acc);
// acc[j] += y[j] for j < n.
void add_f32(float* acc, const float* y, std::size_t n);

// Lanes of the compensated sum: fewer than the plain sum's, since each lane is a sum and a
// compensation, and AVX2 has 16 vector registers for both.
inline constexpr std::size_t kCompensatedLanes = 32;

// Neumaier (compensated) summation of x[0, n) continued from the 32 lane sums and 32
// compensations at `sums` and `comps` (each 32 floats), which it updates.
// Lane i % 32 takes element i; a partial last group is padded with -0.0.
void neumaier_f32(const float* x, std::size_t n, float* sums, float* comps);

// The kCompensatedLanes lanes of a compensated accumulation (sums, then compensations), folded
// by halving with combine(), as the plain sums fold theirs.
CompensatedSum fold_lanes(const float* sums, const float* comps);

// A chunk's compensated sum: `terms` (2 * kCompensatedLanes floats, 64-byte aligned scratch)
// is reset, holds the lanes' sums and compensations while neumaier_f32 runs, and is folded.
CompensatedSum compensated_chunk(const float* x, std::size_t n, float* terms);

// Column sums of a row-major matrix, down the rows, in the order every axis-0 float sum uses:
// leaves of kLeafRows rows are summed row by row (16, as numpy's pairwise leaves); the leaves are
// combined by pairwise_tree().
// The order depends on the number of rows only (not on tiling or threads), so a column's sum
// is the same whichever way the columns are split up.
inline constexpr std::size_t kLeafRows = 16;
// Columns are processed a tile at a time, the tile's sums kept in scratch: kTileCols, so that a
// leaf's accumulators stay in L1 while its 16 rows stream past. With 9 to 16 rows (one leaf)
// that tile would read a page from each row and jump, which the prefetchers follow badly, so it
// takes tiles of up to kWideTileCols, long runs of each row. With 8 rows or fewer the kernel
// streams the rows side by side anyway (column_sums_f32), and L1 tiles are best again. The tile
// never changes the result.
inline constexpr std::size_t kTileCols = 1024;
inline constexpr std::size_t kWideTileCols = std::size_t{1} << 14;
constexpr std::size_t column_tile(std::size_t rows) {
  return rows > 8 && rows <= kLeafRows ? kWideTileCols : kTileCols;
}

// acc[0, width) = sums of columns [0, width) of rows [leaf_lo * kLeafRows, leaf_hi * kLeafRows)
// (clipped to `rows`) of the matrix at x with row stride `stride`. `levels` holds
// tree_depth(leaf_hi - leaf_lo) * width floats of scratch.
void column_tree_f32(const float* x, std::size_t rows, std::size_t stride, std::size_t width,
                     std::size_t leaf_lo, std::size_t leaf_hi, float* acc, float* levels);

// Exact sum of x[0, n) in 64-bit two's complement (wraps past int64's range, as numpy does).
std::int64_t sum_i32_range(const std::int32_t* x, std::size_t n);
// out[r] = sum of row r of the rows x cols matrix at x.
void row_sums_i32(const std::int32_t* x, std::size_t rows, std::size_t cols, std::int64_t* out);
// acc[j] += x[0][j] + ... + x[rows-1][j] for j < width; row r starts at x + r * stride.
void add_columns_i32(const std::int32_t* x, std::size_t rows, std::size_t stride, std::size_t width,
                     std::int64_t* acc);

// Whether every / some byte of x[0, n) is nonzero. Bytes, not bools: a bool that came from C or
// memcpy may hold any nonzero byte, and it is true.
bool all_nonzero(const unsigned char* x, std::size_t n);
bool any_nonzero(const unsigned char* x, std::size_t n);

}  // namespace corepy::ops::internal

#endif  // COREPY_OPS_INTERNAL_REDUCE_KERNELS_H_
