// Reductions over contiguous spans and row-major matrices: sum, mean, all, any, and a
// compensated sum. Their edge cases follow numpy: an empty sum is 0, an empty mean is NaN, an
// empty all() is true and an empty any() is false; integer sums widen to int64; NaN and +-Inf
// propagate as IEEE addition does.
//
// The kernels are SIMD (Highway, the best target the CPU has, chosen at run time). Float sums
// are pairwise, as numpy's are, so the error grows with log(n) rather than n: 128 interleaved
// lanes per block of 2048 floats (16 to a lane, numpy's leaf), the blocks combined lane by lane
// by a balanced tree, the lanes of each 32Ki-float chunk folded, and the chunks combined by the
// same tree.
// That order is fixed (ops/internal/reduce_kernels.h spells it out): every SIMD target, and the
// parallel versions in parallel_reduce.h at any thread count, give bit-identical results.
//
// Memory: the plain reductions allocate nothing. The compensated sum keeps its compensation
// terms in scratch from the resource it is given; axis reductions build their result on the
// resource they are given and take their scratch from it too (sum_rows_f32 and the like take
// it from a second resource), giving the scratch back before they return. A resource that
// cannot serve throws (std::bad_alloc or what the resource throws); nothing is leaked and the
// result is not built.
//
// Bad arguments: the axis reductions take (data, rows, cols, axis) and return
// absl::InvalidArgumentError, naming the argument, for an axis other than 0 or 1, a dimension
// or a rows * cols that no array can hold, and null data with a nonzero shape. Null data with
// rows * cols == 0 is fine. Spans cannot be bad.
#ifndef COREPY_OPS_REDUCE_H_
#define COREPY_OPS_REDUCE_H_

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "corepy/internal/require_cxx17.h"

namespace corepy::ops {

// A rows x cols row-major matrix at `data` that has passed the checks above (dimensions and
// rows * cols that an array can hold; data not null unless the matrix is empty). Only make()
// makes one, so the reductions that take a MatrixView (parallel_reduce.h's entries) check
// nothing again: a caller validates a shape once, before it commits anything to the call.
template <class T>
class MatrixView {
 public:
  // InvalidArgument names `function` (the caller's entry point), the argument and its value.
  static absl::StatusOr<MatrixView> make(const char* function, const T* data, std::size_t rows,
                                         std::size_t cols);

  const T* data() const { return data_; }
  std::size_t rows() const { return rows_; }
  std::size_t cols() const { return cols_; }

 private:
  MatrixView(const T* data, std::size_t rows, std::size_t cols)
      : data_(data), rows_(rows), cols_(cols) {}
  const T* data_;
  std::size_t rows_;
  std::size_t cols_;
};
extern template class MatrixView<float>;
extern template class MatrixView<std::int32_t>;

float sum_f32(absl::Span<const float> x);                // 0 when empty
std::int64_t sum_i32(absl::Span<const std::int32_t> x);  // widened like numpy
float mean_f32(absl::Span<const float> x);               // NaN when empty
bool all_bool(absl::Span<const bool> x);                 // true when empty
bool any_bool(absl::Span<const bool> x);                 // false when empty

// sum_i32 is exact; past int64's range it wraps (two's complement), as numpy's int64 does.
// all_bool / any_bool read each bool's byte: any nonzero byte is true (a bool that came from C,
// ctypes or memcpy may hold one).

// Kahan-Neumaier compensated sum: the error is about one rounding of the result, whatever n
// and the cancellation, at roughly the cost of the plain sum when the data comes from memory.
// In cache it is compute bound: Neumaier's step is about 10 vector instructions per vector of
// input (4 of them additions, which two pipes serve), where the plain sum has one addition, so
// it takes a few times the plain sum's time there (see the README's figures). 32 lanes each keep a running sum and the rounding
// error it dropped; those terms live in `scratch` (256 bytes, plus 8 bytes per 32Ki-float
// chunk for the chunks' results, which a balanced tree combines). An arena makes that
// allocation nearly free. Null `scratch` means std::pmr::get_default_resource().
// 0 when empty; Inf/NaN propagate like sum_f32's.
float sum_f32_compensated(absl::Span<const float> x,
                          std::pmr::memory_resource* scratch = std::pmr::get_default_resource());
float mean_f32_compensated(absl::Span<const float> x,
                           std::pmr::memory_resource* scratch = std::pmr::get_default_resource());

// Reductions of the rows x cols row-major matrix at `data` along `axis`, numpy's convention:
//   axis 0: down the columns, one result per column (cols results);
//   axis 1: along each row, one result per row (rows results).
// The result is built on `resource` (null: std::pmr::get_default_resource()), which also serves
// the scratch (below). An empty axis gives 0 (sums) or NaN (means), numpy's answer: rows == 0
// with axis 0 gives cols zeros.
//
// Row sums (axis 1) are exactly sum_f32 of each row. Column sums (axis 0) are pairwise too:
// 16 rows at a time, then a balanced tree over those groups; the order depends on rows only.
absl::StatusOr<std::pmr::vector<float>> sum_f32_axis(
    const float* data, std::size_t rows, std::size_t cols, int axis,
    std::pmr::memory_resource* resource = std::pmr::get_default_resource());
absl::StatusOr<std::pmr::vector<float>> mean_f32_axis(
    const float* data, std::size_t rows, std::size_t cols, int axis,
    std::pmr::memory_resource* resource = std::pmr::get_default_resource());
absl::StatusOr<std::pmr::vector<std::int64_t>> sum_i32_axis(
    const std::int32_t* data, std::size_t rows, std::size_t cols, int axis,
    std::pmr::memory_resource* resource = std::pmr::get_default_resource());

// The same float reductions by name, with the result and the scratch on separate resources (the
// runtime builds results on its caller's resource and takes scratch from the op's own):
//   sum_rows_f32 / mean_rows_f32: one result per row, reduced along it (numpy axis=1), `rows`
//     results;
//   sum_cols_f32 / mean_cols_f32: one result per column, reduced down it (numpy axis=0), `cols`
//     results.
// They are sum_f32_axis / mean_f32_axis with that axis (one implementation, the same results bit
// for bit), except where the memory comes from:
//   - the result vector is built on `resource` (null: std::pmr::get_default_resource()): one
//     allocation of exactly rows (or cols) * sizeof(float) bytes, none for 0 results;
//   - the scratch comes from `scratch` (null: `resource`), 64-byte aligned, and every byte of it
//     is given back before the call returns, in the reverse order of allocation (an arena pops
//     it). With rows > 0 and cols > 0 it is one allocation of
//       rows:  min(rows, 4096) * sizeof(float) bytes (a tile of row results);
//       cols:  (1 + D) * min(cols, T) * sizeof(float) bytes, where L = ceil(rows / 16) row
//              groups, D = ceil(log2(L)) the depth of the tree over them (0 for L == 1), and
//              T = 16384 columns when 8 < rows <= 16, else 1024 (the column tile);
//     with rows == 0 or cols == 0, none.
// The means take the same memory as the sums. Errors as for the axis reductions.
absl::StatusOr<std::pmr::vector<float>> sum_rows_f32(
    const float* data, std::size_t rows, std::size_t cols,
    std::pmr::memory_resource* resource = std::pmr::get_default_resource(),
    std::pmr::memory_resource* scratch = nullptr);
absl::StatusOr<std::pmr::vector<float>> sum_cols_f32(
    const float* data, std::size_t rows, std::size_t cols,
    std::pmr::memory_resource* resource = std::pmr::get_default_resource(),
    std::pmr::memory_resource* scratch = nullptr);
absl::StatusOr<std::pmr::vector<float>> mean_rows_f32(
    const float* data, std::size_t rows, std::size_t cols,
    std::pmr::memory_resource* resource = std::pmr::get_default_resource(),
    std::pmr::memory_resource* scratch = nullptr);
absl::StatusOr<std::pmr::vector<float>> mean_cols_f32(
    const float* data, std::size_t rows, std::size_t cols,
    std::pmr::memory_resource* resource = std::pmr::get_default_resource(),
    std::pmr::memory_resource* scratch = nullptr);

}  // namespace corepy::ops

#endif  // COREPY_OPS_REDUCE_H_
