// Highway compiles this file once per SIMD target (foreach_target.h re-includes it), and
// HWY_DYNAMIC_DISPATCH calls the best one the CPU supports. reduce_kernels.h describes the
// evaluation order every target follows.
#include "ops/internal/reduce_kernels.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "ops/internal/simd_targets.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/internal/reduce_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
// After foreach_target.h: compiled for each target with this file.
#include "ops/internal/fold-inl.h"
#include "ops/internal/int_sum-inl.h"

HWY_BEFORE_NAMESPACE();
namespace corepy::ops::internal {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ------------------------------------------------------------------ float sums, 128 lanes

// At most 16 lanes per vector, so that 128 logical lanes are 8 vectors with AVX-512, 16 with
// AVX2, 32 with SSE and 128 scalars: the same lanes, the same order, on every target. Eight
// independent AVX-512 accumulators, each taking two loads per loop iteration, keep 16 loads in
// flight: with four (64 lanes), a sum read only 65-80% of the streaming read's bandwidth in L2
// and 55% from DRAM.
using DF = hn::CappedTag<float, 16>;
using VF = hn::Vec<DF>;
constexpr std::size_t kN = hn::MaxLanes(DF());
constexpr std::size_t kK = kLanes / kN;
static_assert(kLanes % kN == 0, "lanes per vector must divide 128");

// The 128 lanes: vector k holds lanes [k * kN, k * kN + kN).
struct Lanes {
  VF v[kK];
};

// ---- loading lanes. float16 and bfloat16 are summed as the floats they convert to (exactly), in
// the same lanes and order as float32, the conversion fused into the loads.

struct BFloat16Bits {};
struct Float16Bits {};

// kN halves as floats. bfloat16 is the upper half of a float32; float16 widens exactly.
template <class Half, class VH>
HWY_INLINE VF HalvesToFloats(VH bits) {
  const DF d;
  if constexpr (std::is_same_v<Half, BFloat16Bits>) {
    const hn::RebindToUnsigned<DF> du;
    return hn::BitCast(d, hn::ShiftLeft<16>(hn::PromoteTo(du, bits)));
  } else {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(d, hn::BitCast(dh, bits));
  }
}

template <class Half>
HWY_INLINE VF LoadHalves(const std::uint16_t* HWY_RESTRICT p) {
  const hn::Rebind<std::uint16_t, DF> dh;
  return HalvesToFloats<Half>(hn::LoadU(dh, p));
}

// The lanes of the kN elements at p as floats: float32, or halves (Src a *Bits tag) converted.
template <class Src, class T>
HWY_INLINE VF LoadLanes(const T* HWY_RESTRICT p) {
  if constexpr (std::is_same_v<Src, float>) {
    return hn::LoadU(DF(), p);
  } else {
    return LoadHalves<Src>(p);
  }
}

// The first 0 < r < kN elements at p in lanes [0, r), -0.0 in the others: a masked load where
// it cannot fault (AVX-512), else a copy into a vector's worth of -0.0 (0x8000 as halves).
template <class Src, class T>
HWY_INLINE VF LoadFirstLanes(const T* HWY_RESTRICT p, std::size_t r) {
  const DF d;
#if HWY_TARGET <= HWY_AVX3
  const hn::Rebind<T, DF> dt;
  VF v;
  if constexpr (std::is_same_v<Src, float>) {
    v = hn::MaskedLoad(hn::FirstN(d, r), d, p);
  } else {
    v = HalvesToFloats<Src>(hn::MaskedLoad(hn::FirstN(dt, r), dt, p));
  }
  return hn::IfThenElse(hn::FirstN(d, r), v, hn::Set(d, -0.0f));
#else
  T pad[kN];
  if constexpr (std::is_same_v<Src, float>) {
    std::fill(pad, pad + kN, -0.0f);
  } else {
    std::fill(pad, pad + kN, std::uint16_t{0x8000});
  }
  std::memcpy(pad, p, r * sizeof(T));
  (void)d;
  return LoadLanes<Src>(pad);
#endif
}

// Adds the last 0 < r < 128 elements of a block at p (float32, or halves: Src a *Bits tag) to
// the lanes: element j into lane j. The lanes past r add -0.0, the documented padding, which
// changes nothing (x + -0.0 is x for every x, -0.0 and NaN included). Whole vectors are plain
// loads; the one partial vector is LoadFirstLanes. The vector index is a constant in each
// unrolled step, so the lanes stay in registers.
template <class Src, class T>
HWY_INLINE void AddTail(const T* HWY_RESTRICT p, std::size_t r, VF (&acc)[kK]) {
#pragma GCC unroll 128
  for (std::size_t k = 0; k < kK; ++k) {
    if ((k + 1) * kN <= r) {
      acc[k] = hn::Add(acc[k], LoadLanes<Src>(p + k * kN));
    } else if (k * kN < r) {
      acc[k] = hn::Add(acc[k], LoadFirstLanes<Src>(p + k * kN, r - k * kN));
    }
  }
}

// Adds the 128 floats at p to the 128 lanes. The lanes are a local array, not a Lanes in memory:
// vector types may alias floats, so through a reference every group would store them back.
HWY_INLINE void AddGroup(const float* HWY_RESTRICT p, VF (&acc)[kK]) {
  const DF d;
#pragma GCC unroll 128
  for (std::size_t k = 0; k < kK; ++k) acc[k] = hn::Add(acc[k], hn::LoadU(d, p + k * kN));
}

// Lane j += lane j + half, for half = 64, 32, ..., 1: first across vectors, then within one.
HWY_INLINE float FoldLanes(Lanes& acc) { return FoldVectors<kK>(DF(), acc.v); }

// acc = the lanes of one block, 1 <= n <= kBlock: each lane from -0.0, element i into lane
// i % 128, a partial last group padded with -0.0. Two groups per iteration: each lane still
// adds its elements in order, with half the loop branches.
HWY_INLINE void BlockLanes(const float* HWY_RESTRICT x, std::size_t n, VF (&acc)[kK]) {
  const DF d;
  std::size_t i = 0;
  if (n >= kLanes) {  // -0.0 + x is x for every x: the first group is the lanes' first value
#pragma GCC unroll 128
    for (std::size_t k = 0; k < kK; ++k) acc[k] = hn::LoadU(d, x + k * kN);
    i = kLanes;
  } else {
#pragma GCC unroll 128
    for (std::size_t k = 0; k < kK; ++k) acc[k] = hn::Set(d, -0.0f);
  }
  for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
    AddGroup(x + i, acc);
    AddGroup(x + i + kLanes, acc);
  }
  if (i + kLanes <= n) {
    AddGroup(x + i, acc);
    i += kLanes;
  }
  if (i < n) AddTail<float>(x + i, n - i, acc);
}

// acc = the lanes of blocks [kLo, kHi) of a chunk of n floats at x, combined lane by lane by
// the balanced tree (pairwise_tree's shape: the left half takes the larger half). The tree's
// shape is a template, so the whole of it inlines into one function per block count: no calls
// or stack frames per block; the pending left halves (AVX-512: at most 4 of 8 vectors each)
// wait on the stack, one store and load per 2048 floats. Only the last block can be short.
//
// Where the lanes take more than 8 vectors (AVX2 and narrower), they do not all fit in
// registers (AVX2 spills one accumulator per iteration: about 90% of the streaming read in L2,
// where 64 lanes reached it), and a block inlined 1 + 2 + ... + 16 times in every ChunkSum<>
// would double the object file and its compile time for nothing: there each block is one
// out-of-line call. (Splitting the block into passes of 8 vectors was slower still on AVX2.)
HWY_NOINLINE void BlockLanesOutOfLine(const float* HWY_RESTRICT x, std::size_t n, VF (&out)[kK]) {
  VF acc[kK];  // local, so that the loop keeps what it can in registers (see AddGroup)
  BlockLanes(x, n, acc);
#pragma GCC unroll 128
  for (std::size_t k = 0; k < kK; ++k) out[k] = acc[k];
}

// ---- float16 and bfloat16 blocks (their loads are above).

// BlockLanes of the n <= kBlock floats the halves at x convert to; a partial last group goes
// through AddTail, as float32's does: the padding with -0.0 that BlockLanes documents.
template <class Half>
HWY_INLINE void HalfBlockLanesInline(const std::uint16_t* HWY_RESTRICT x, std::size_t n,
                                     VF (&acc)[kK]) {
  std::size_t i = 0;
  if (n >= kLanes) {
#pragma GCC unroll 128
    for (std::size_t k = 0; k < kK; ++k) acc[k] = LoadHalves<Half>(x + k * kN);
    i = kLanes;
  } else {
#pragma GCC unroll 128
    for (std::size_t k = 0; k < kK; ++k) acc[k] = hn::Set(DF(), -0.0f);
  }
  for (; i + kLanes <= n; i += kLanes) {
#pragma GCC unroll 128
    for (std::size_t k = 0; k < kK; ++k) {
      acc[k] = hn::Add(acc[k], LoadHalves<Half>(x + i + k * kN));
    }
  }
  if (i < n) AddTail<Half>(x + i, n - i, acc);
}

// ---- bfloat16 blocks in paired lanes. A bfloat16 is the upper half of a float32, so a 32-bit
// word holding elements 2w (low half) and 2w + 1 (high half), as little-endian memory has them,
// gives both floats without a shuffle: the word shifted left by 16, and the word with its low
// half cleared. The widening load (a shuffle per kN elements, on the one shuffle port of x86)
// then becomes a shift and an and per kN elements, and a group of 128 elements is kK / 2 loads.
//
// The lanes are then held *paired*: vector m < kK / 2 holds the even lanes 2(m * kN + j), vector
// kK / 2 + m the odd lanes 2(m * kN + j) + 1. Each lane still adds the same elements in the same
// order; only where a lane is kept differs. The pairwise tree adds blocks' lanes vector by vector
// (the same in any layout), and FoldPairedLanes makes the fold's additions in the fold's order
// (lane j += lane j + 64, ..., + 1): the bits of the float32 sum of the converted values.
#if HWY_TARGET != HWY_SCALAR && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
inline constexpr bool kPairedBF16 = kK % 2 == 0;
#else
inline constexpr bool kPairedBF16 = false;
#endif

// acc[m] += the even ones of the 2 * kN halves in `halves`, acc[kK / 2 + m] += the odd ones;
// kFirst: set, not added (-0.0 + x is x for every x).
// (Templates, so that targets without paired lanes never instantiate them.)
template <bool kFirst, class VH>
HWY_INLINE void AddPairedHalves(VH halves, std::size_t m, VF (&acc)[kK]) {
  const DF d;
  const hn::RebindToUnsigned<DF> du;
  const auto words = hn::BitCast(du, halves);
  const VF even = hn::BitCast(d, hn::ShiftLeft<16>(words));
  const VF odd = hn::BitCast(d, hn::And(words, hn::Set(du, 0xFFFF0000u)));
  if constexpr (kFirst) {
    acc[m] = even;
    acc[kK / 2 + m] = odd;
  } else {
    acc[m] = hn::Add(acc[m], even);
    acc[kK / 2 + m] = hn::Add(acc[kK / 2 + m], odd);
  }
}

// The tag of a vector of 2 * kN halves (the bits of T), as many bytes as a vector of floats.
template <class T>
using PairedHalvesTag = hn::Repartition<T, hn::RebindToUnsigned<DF>>;

// AddPairedHalves of the 2 * kN halves at p.
template <bool kFirst, class T>
HWY_INLINE void AddPairedWords(const T* HWY_RESTRICT p, std::size_t m, VF (&acc)[kK]) {
  auto halves = hn::LoadU(PairedHalvesTag<T>(), p);
#if defined(__GNUC__) && HWY_ARCH_X86 && HWY_TARGET != HWY_SCALAR && HWY_TARGET != HWY_EMU128
  // In a register: GCC otherwise folds the load into both the shift and the and, two loads of
  // every vector (bfloat16 (1000, 1000) over axis 1 took 1.08x the time on a Zen 5).
  asm("" : "+v"(halves.raw));
#endif
  AddPairedHalves<kFirst>(halves, m, acc);
}

// The 128 elements at p (a group) into the paired lanes.
template <bool kFirst, class T>
HWY_INLINE void AddPairedGroup(const T* HWY_RESTRICT p, VF (&acc)[kK]) {
#pragma GCC unroll 64
  for (std::size_t m = 0; m < kK / 2; ++m) AddPairedWords<kFirst>(p + m * 2 * kN, m, acc);
}

// A partial last group into the paired lanes: its 0 < r < 128 elements at p, padded with -0.0
// (0x8000), which changes nothing. AVX-512 loads its whole vectors of words as they are and the
// partial one masked (a masked load cannot fault on the lanes it leaves out), skipping those past
// r; other targets copy the elements into a group of -0.0 and add it whole.
template <class T>
HWY_INLINE void AddPairedTail(const T* HWY_RESTRICT p, std::size_t r, VF (&acc)[kK]) {
#if HWY_TARGET <= HWY_AVX3
  const PairedHalvesTag<T> dh;
  constexpr std::size_t kHalves = 2 * kN;  // halves in a vector of words
#pragma GCC unroll 64
  for (std::size_t m = 0; m < kK / 2; ++m) {
    if (m * kHalves >= r) break;
    if ((m + 1) * kHalves <= r) {  // a whole vector
      AddPairedWords<false>(p + m * kHalves, m, acc);
      continue;
    }
    const auto keep = hn::FirstN(dh, r - m * kHalves);
    AddPairedHalves<false>(
        hn::IfThenElse(keep, hn::MaskedLoad(keep, dh, p + m * kHalves), hn::Set(dh, T{0x8000})), m,
        acc);
  }
#else
  T tail[kLanes];
  std::fill(tail, tail + kLanes, T{0x8000});
  std::memcpy(tail, p, r * sizeof(T));
  AddPairedGroup<false>(tail, acc);
#endif
}

// HalfBlockLanesInline of bfloat16 into paired lanes.
template <class T>
HWY_INLINE void PairedBF16BlockLanes(const T* HWY_RESTRICT x, std::size_t n, VF (&acc)[kK]) {
  std::size_t i = 0;
  if (n >= kLanes) {
    AddPairedGroup<true>(x, acc);
    i = kLanes;
  } else {
#pragma GCC unroll 128
    for (std::size_t k = 0; k < kK; ++k) acc[k] = hn::Set(DF(), -0.0f);
  }
  for (; i + kLanes <= n; i += kLanes) AddPairedGroup<false>(x + i, acc);
  if (i < n) AddPairedTail(x + i, n - i, acc);
}

// FoldLanes of paired lanes: the same additions, in the same order. Lane j += lane j + h for
// h = 64 down to 2 * kN pairs even lanes with even and odd with odd, vectors kK / 2 apart; for h =
// kN down to 2 each half-vector fold (FoldVector) does it within the even and the odd vector;
// h = 1 adds lane 1 (the odd vector's first) to lane 0.
HWY_INLINE float FoldPairedLanes(VF (&acc)[kK]) {
  constexpr std::size_t kP = kK / 2;
#pragma GCC unroll 64
  for (std::size_t half = kP / 2; half >= 1; half /= 2) {
#pragma GCC unroll 64
    for (std::size_t m = 0; m < half; ++m) {
      acc[m] = hn::Add(acc[m], acc[m + half]);
      acc[kP + m] = hn::Add(acc[kP + m], acc[kP + m + half]);
    }
  }
  return FoldVector(DF(), acc[0]) + FoldVector(DF(), acc[kP]);
}

// Whether Src's blocks are held in paired lanes.
template <class Src>
inline constexpr bool kPaired = std::is_same_v<Src, BFloat16Bits>&& kPairedBF16;

// A block's lanes as Src's blocks hold them: paired (bfloat16) or in order.
template <class Half>
HWY_INLINE void HalfBlockLanesAsHeld(const std::uint16_t* HWY_RESTRICT x, std::size_t n,
                                     VF (&acc)[kK]) {
  if constexpr (kPaired<Half>) {
    PairedBF16BlockLanes(x, n, acc);
  } else {
    HalfBlockLanesInline<Half>(x, n, acc);
  }
}

// Out of line where a chunk's tree takes its blocks (as BlockLanesOutOfLine).
template <class Half>
HWY_NOINLINE void HalfBlockLanes(const std::uint16_t* HWY_RESTRICT x, std::size_t n,
                                 VF (&out)[kK]) {
  VF acc[kK];  // local, so that the loop keeps what it can in registers
  HalfBlockLanesAsHeld<Half>(x, n, acc);
#pragma GCC unroll 128
  for (std::size_t k = 0; k < kK; ++k) out[k] = acc[k];
}

// The lanes of block b of a chunk at x: float32 or halves (Src is float or a *Bits tag).
template <class Src, class T>
HWY_INLINE void BlockOf(const T* HWY_RESTRICT x, std::size_t len, VF (&acc)[kK]) {
  if constexpr (!std::is_same_v<Src, float>) {
    HalfBlockLanes<Src>(x, len, acc);
  } else if constexpr (kK <= 8) {
    BlockLanes(x, len, acc);
  } else {
    BlockLanesOutOfLine(x, len, acc);
  }
}

template <class Src, std::size_t kLo, std::size_t kHi, class T>
HWY_INLINE void TreeLanes(const T* HWY_RESTRICT x, std::size_t n, VF (&acc)[kK]) {
  if constexpr (kHi - kLo == 1) {
    BlockOf<Src>(x + kLo * kBlock, std::min(kBlock, n - kLo * kBlock), acc);
  } else {
    constexpr std::size_t kMid = kLo + (kHi - kLo + 1) / 2;
    TreeLanes<Src, kLo, kMid>(x, n, acc);
    VF right[kK];
    TreeLanes<Src, kMid, kHi>(x, n, right);
#pragma GCC unroll 128
    for (std::size_t k = 0; k < kK; ++k) acc[k] = hn::Add(acc[k], right[k]);
  }
}

constexpr std::size_t kBlocksPerChunk = kChunk / kBlock;
static_assert(kBlocksPerChunk == 16, "SumF32Chunk's switch covers 1..16 blocks");

// Lane i += lane i + 64, + 32, ..., + 1 over the 128 lanes, then the sum is lane 0.
HWY_INLINE float FoldAcc(VF (&acc)[kK]) {
  Lanes lanes;
#pragma GCC unroll 128
  for (std::size_t k = 0; k < kK; ++k) lanes.v[k] = acc[k];
  return FoldLanes(lanes);
}

// FoldAcc of lanes as Src's blocks hold them.
template <class Src>
HWY_INLINE float FoldAccOf(VF (&acc)[kK]) {
  if constexpr (kPaired<Src>) {
    return FoldPairedLanes(acc);
  } else {
    return FoldAcc(acc);
  }
}

template <class Src, std::size_t kBlocks, class T>
HWY_NOINLINE float ChunkSum(const T* HWY_RESTRICT x, std::size_t n) {
  VF acc[kK];
  TreeLanes<Src, 0, kBlocks>(x, n, acc);
  return FoldAccOf<Src>(acc);
}

// 1 <= n <= kChunk: the chunk's blocks by the tree, its 128 lanes folded.
template <class Src, class T>
float SumChunk(const T* HWY_RESTRICT x, std::size_t n) {
  switch (pieces(n, kBlock)) {
    case 1:
      return ChunkSum<Src, 1>(x, n);
    case 2:
      return ChunkSum<Src, 2>(x, n);
    case 3:
      return ChunkSum<Src, 3>(x, n);
    case 4:
      return ChunkSum<Src, 4>(x, n);
    case 5:
      return ChunkSum<Src, 5>(x, n);
    case 6:
      return ChunkSum<Src, 6>(x, n);
    case 7:
      return ChunkSum<Src, 7>(x, n);
    case 8:
      return ChunkSum<Src, 8>(x, n);
    case 9:
      return ChunkSum<Src, 9>(x, n);
    case 10:
      return ChunkSum<Src, 10>(x, n);
    case 11:
      return ChunkSum<Src, 11>(x, n);
    case 12:
      return ChunkSum<Src, 12>(x, n);
    case 13:
      return ChunkSum<Src, 13>(x, n);
    case 14:
      return ChunkSum<Src, 14>(x, n);
    case 15:
      return ChunkSum<Src, 15>(x, n);
    default:
      return ChunkSum<Src, 16>(x, n);
  }
}

float SumF32Chunk(const float* HWY_RESTRICT x, std::size_t n) { return SumChunk<float>(x, n); }
float SumBF16Chunk(const std::uint16_t* HWY_RESTRICT x, std::size_t n) {
  return SumChunk<BFloat16Bits>(x, n);
}
float SumF16Chunk(const std::uint16_t* HWY_RESTRICT x, std::size_t n) {
  return SumChunk<Float16Bits>(x, n);
}

// 1 <= n <= kBlock: one block's lanes, folded.
HWY_INLINE float BlockSum(const float* HWY_RESTRICT x, std::size_t n) {
  VF acc[kK];
  BlockLanes(x, n, acc);
  return FoldAcc(acc);
}

float SumF32Range(const float* HWY_RESTRICT x, std::size_t n) {
  if (n <= kBlock) return BlockSum(x, n);
  if (n <= kChunk) return SumF32Chunk(x, n);
  return pairwise_sum(0, pieces(n, kChunk), [x, n](std::size_t c) {
    const std::size_t begin = c * kChunk;
    return SumF32Chunk(x + begin, std::min(kChunk, n - begin));
  });
}

// Rows of C <= 16 floats, one at a time in scalar code. A block of C elements puts x_j in lane
// j and -0.0 in the others; adding -0.0 changes nothing, so its fold is the halving of the P
// lanes (P the power of two >= C) holding x_0 .. x_{C-1} and then -0.0: the same additions
// here, unrolled for each C, with no vector setup, padding or fold per row.
template <std::size_t C>
HWY_INLINE float NarrowRowSum(const float* HWY_RESTRICT row) {
  constexpr std::size_t kP = C <= 1 ? 1 : C <= 2 ? 2 : C <= 4 ? 4 : C <= 8 ? 8 : 16;
  float t[kP];
#pragma GCC unroll 16
  for (std::size_t j = 0; j < kP; ++j) t[j] = j < C ? row[j] : -0.0f;
#pragma GCC unroll 16
  for (std::size_t half = kP / 2; half >= 1; half /= 2) {
#pragma GCC unroll 16
    for (std::size_t j = 0; j < half; ++j) t[j] += t[j + half];
  }
  return t[0];
}

template <std::size_t C>
void NarrowRows(const float* HWY_RESTRICT x, std::size_t rows, float* HWY_RESTRICT out) {
  for (std::size_t r = 0; r < rows; ++r) out[r] = NarrowRowSum<C>(x + r * C);
}

template <std::size_t... C>
HWY_INLINE bool NarrowRowSums(const float* HWY_RESTRICT x, std::size_t rows, std::size_t cols,
                              float* HWY_RESTRICT out, std::index_sequence<C...>) {
  return ((cols == C + 1 ? (NarrowRows<C + 1>(x, rows, out), true) : false) || ...);
}

// A row of n <= kP elements (kP a power of two, kN <= kP <= 128), as its block's fold gives it:
// element j in lane j and -0.0 in the other lanes, which adding changes nothing, so FoldLanes's
// halving from kP lanes down makes the same additions, without the vectors of -0.0.
template <class Src, std::size_t kP, class T>
HWY_INLINE float ShortRowSum(const T* HWY_RESTRICT x, std::size_t n) {
  constexpr std::size_t kV = kP / kN;
  VF acc[kV];
#pragma GCC unroll 128
  for (std::size_t k = 0; k < kV; ++k) {
    if ((k + 1) * kN <= n) {
      acc[k] = LoadLanes<Src>(x + k * kN);
    } else if (k * kN < n) {
      acc[k] = LoadFirstLanes<Src>(x + k * kN, n - k * kN);
    } else {
      acc[k] = hn::Set(DF(), -0.0f);
    }
  }
  return FoldVectors<kV>(DF(), acc);
}

template <class Src, std::size_t kP, class T>
HWY_NOINLINE void ShortRows(const T* HWY_RESTRICT x, std::size_t rows, std::size_t cols,
                            float* HWY_RESTRICT out) {
  if (cols == kP) {
    // Rows of whole vectors, the length a constant: no test for a partial vector, and nothing
    // kept on the stack across rows ((4096, 64) along rows took 1.1-1.2x the time without).
    for (std::size_t r = 0; r < rows; ++r) out[r] = ShortRowSum<Src, kP>(x + r * kP, kP);
    return;
  }
  for (std::size_t r = 0; r < rows; ++r) out[r] = ShortRowSum<Src, kP>(x + r * cols, cols);
}

// Rows of at most 128 elements by ShortRowSum, the lanes' count chosen once per call. Only
// where 128 lanes are at most 16 vectors (AVX2, AVX-512): narrower targets would unroll up to 128
// vectors per row length for little gain, and take the block's path (the same bits).
template <class Src, class T>
HWY_INLINE bool ShortRowSums(const T* HWY_RESTRICT x, std::size_t rows, std::size_t cols,
                             float* HWY_RESTRICT out) {
  if constexpr (kK > 16) {
    return false;
  } else if (cols <= 16) {
    ShortRows<Src, std::max<std::size_t>(16, kN)>(x, rows, cols, out);
  } else if (cols <= 32) {
    ShortRows<Src, std::max<std::size_t>(32, kN)>(x, rows, cols, out);
  } else if (cols <= 64) {
    ShortRows<Src, std::max<std::size_t>(64, kN)>(x, rows, cols, out);
  } else if (cols <= kLanes) {
    ShortRows<Src, kLanes>(x, rows, cols, out);
  } else {
    return false;
  }
  return true;
}

void RowSumsF32(const float* HWY_RESTRICT x, std::size_t rows, std::size_t cols,
                float* HWY_RESTRICT out) {
  if (cols <= kBlock) {
    if (NarrowRowSums(x, rows, cols, out, std::make_index_sequence<16>())) return;
    if (ShortRowSums<float>(x, rows, cols, out)) return;
    for (std::size_t r = 0; r < rows; ++r) out[r] = BlockSum(x + r * cols, cols);
  } else {
    for (std::size_t r = 0; r < rows; ++r) out[r] = SumF32Range(x + r * cols, cols);
  }
}

// As RowSumsF32, of the floats the halves convert to: each row as sum_bf16_chunk's (or
// sum_f16_chunk's) chunks combined by the pairwise tree, which is what sum_f32_range does.
template <class Half>
void RowSumsHalf(const std::uint16_t* HWY_RESTRICT x, std::size_t rows, std::size_t cols,
                 float* HWY_RESTRICT out) {
  if (ShortRowSums<Half>(x, rows, cols, out)) return;
  if (cols <= kBlock) {  // SumChunk's one block, inlined where its lanes fit in registers
    for (std::size_t r = 0; r < rows; ++r) {
      VF acc[kK];
      if constexpr (kK <= 8) {
        HalfBlockLanesAsHeld<Half>(x + r * cols, cols, acc);
      } else {
        HalfBlockLanes<Half>(x + r * cols, cols, acc);
      }
      out[r] = FoldAccOf<Half>(acc);
    }
    return;
  }
  for (std::size_t r = 0; r < rows; ++r) {
    const std::uint16_t* row = x + r * cols;
    out[r] = cols <= kChunk ? SumChunk<Half>(row, cols)
                            : pairwise_sum(0, pieces(cols, kChunk), [row, cols](std::size_t c) {
                                const std::size_t begin = c * kChunk;
                                return SumChunk<Half>(row + begin, std::min(kChunk, cols - begin));
                              });
  }
}

void RowSumsBF16(const std::uint16_t* HWY_RESTRICT x, std::size_t rows, std::size_t cols,
                 float* HWY_RESTRICT out) {
  RowSumsHalf<BFloat16Bits>(x, rows, cols, out);
}
void RowSumsF16(const std::uint16_t* HWY_RESTRICT x, std::size_t rows, std::size_t cols,
                float* HWY_RESTRICT out) {
  RowSumsHalf<Float16Bits>(x, rows, cols, out);
}

// acc[j] += row[j] for j < width: elementwise, so vector and scalar code agree exactly.
HWY_INLINE void AddRow(const float* HWY_RESTRICT row, std::size_t width, float* HWY_RESTRICT acc) {
  const hn::ScalableTag<float> d;
  const std::size_t n = hn::Lanes(d);
  std::size_t j = 0;
  for (; j + 4 * n <= width; j += 4 * n) {
    const auto a0 = hn::Add(hn::LoadU(d, acc + j), hn::LoadU(d, row + j));
    const auto a1 = hn::Add(hn::LoadU(d, acc + j + n), hn::LoadU(d, row + j + n));
    const auto a2 = hn::Add(hn::LoadU(d, acc + j + 2 * n), hn::LoadU(d, row + j + 2 * n));
    const auto a3 = hn::Add(hn::LoadU(d, acc + j + 3 * n), hn::LoadU(d, row + j + 3 * n));
    hn::StoreU(a0, d, acc + j);
    hn::StoreU(a1, d, acc + j + n);
    hn::StoreU(a2, d, acc + j + 2 * n);
    hn::StoreU(a3, d, acc + j + 3 * n);
  }
  for (; j + n <= width; j += n) {
    hn::StoreU(hn::Add(hn::LoadU(d, acc + j), hn::LoadU(d, row + j)), d, acc + j);
  }
  for (; j < width; ++j) acc[j] += row[j];
}

// Rows summed in order, acc[j] = x[0][j] + x[1][j] + ..., in one of two loop orders with the
// same additions. Few rows: a register tile of columns goes down all rows and is stored once, so
// the rows stream side by side (as Eigen's colwise() does). More rows: each row is added to the
// accumulators in L1 in turn, so only two streams are live.
void ColumnSumsF32(const float* HWY_RESTRICT x, std::size_t rows, std::size_t stride,
                   std::size_t width, float* HWY_RESTRICT acc) {
  if (rows > 8) {
    std::memcpy(acc, x, width * sizeof(float));
    for (std::size_t r = 1; r < rows; ++r) AddRow(x + r * stride, width, acc);
    return;
  }
  const hn::ScalableTag<float> d;
  const std::size_t n = hn::Lanes(d);
  std::size_t j = 0;
  for (; j + 4 * n <= width; j += 4 * n) {
    auto a0 = hn::LoadU(d, x + j);
    auto a1 = hn::LoadU(d, x + j + n);
    auto a2 = hn::LoadU(d, x + j + 2 * n);
    auto a3 = hn::LoadU(d, x + j + 3 * n);
    for (std::size_t r = 1; r < rows; ++r) {
      const float* row = x + r * stride + j;
      a0 = hn::Add(a0, hn::LoadU(d, row));
      a1 = hn::Add(a1, hn::LoadU(d, row + n));
      a2 = hn::Add(a2, hn::LoadU(d, row + 2 * n));
      a3 = hn::Add(a3, hn::LoadU(d, row + 3 * n));
    }
    hn::StoreU(a0, d, acc + j);
    hn::StoreU(a1, d, acc + j + n);
    hn::StoreU(a2, d, acc + j + 2 * n);
    hn::StoreU(a3, d, acc + j + 3 * n);
  }
  for (; j < width; ++j) {
    float a = x[j];
    for (std::size_t r = 1; r < rows; ++r) a += x[r * stride + j];
    acc[j] = a;
  }
}

void AddF32(float* HWY_RESTRICT acc, const float* HWY_RESTRICT y, std::size_t n) {
  AddRow(y, n, acc);
}

// ------------------------------------------------------------------ compensated float sum

using VComp = VF;
constexpr std::size_t kCK = kCompensatedLanes / kN;
static_assert(kCompensatedLanes % kN == 0, "lanes per vector must divide 32");

// Neumaier's step on every lane: t = s + v, and the rounding error of that addition,
// (big - t) + small with big the operand of larger magnitude, goes to the compensation.
HWY_INLINE void NeumaierGroup(const float* HWY_RESTRICT p, VComp (&s)[kCK], VComp (&c)[kCK]) {
  const DF d;
#pragma GCC unroll 32
  for (std::size_t k = 0; k < kCK; ++k) {
    const VComp v = hn::LoadU(d, p + k * kN);
    const VComp t = hn::Add(s[k], v);
    const auto s_bigger = hn::Ge(hn::Abs(s[k]), hn::Abs(v));
    const VComp big = hn::IfThenElse(s_bigger, s[k], v);
    const VComp small = hn::IfThenElse(s_bigger, v, s[k]);
    c[k] = hn::Add(c[k], hn::Add(hn::Sub(big, t), small));
    s[k] = t;
  }
}

void NeumaierF32(const float* HWY_RESTRICT x, std::size_t n, float* HWY_RESTRICT sums,
                 float* HWY_RESTRICT comps) {
  const DF d;
  VComp s[kCK];
  VComp c[kCK];
#pragma GCC unroll 32
  for (std::size_t k = 0; k < kCK; ++k) {
    s[k] = hn::LoadU(d, sums + k * kN);
    c[k] = hn::LoadU(d, comps + k * kN);
  }
  std::size_t i = 0;
  for (; i + kCompensatedLanes <= n; i += kCompensatedLanes) NeumaierGroup(x + i, s, c);
  if (i < n) {
    float pad[kCompensatedLanes];
    std::fill(pad, pad + kCompensatedLanes, -0.0f);
    std::memcpy(pad, x + i, (n - i) * sizeof(float));
    NeumaierGroup(pad, s, c);
  }
#pragma GCC unroll 32
  for (std::size_t k = 0; k < kCK; ++k) {
    hn::StoreU(s[k], d, sums + k * kN);
    hn::StoreU(c[k], d, comps + k * kN);
  }
}

// Knuth's TwoSum and the pairs' combination (reduce_tree.h's combine()), lane by lane.
HWY_INLINE void CombineTerms(VComp& s1, VComp& c1, VComp s2, VComp c2) {
  const VComp s = hn::Add(s1, s2);
  const VComp bp = hn::Sub(s, s1);
  const VComp e = hn::Add(hn::Sub(s1, hn::Sub(s, bp)), hn::Sub(s2, bp));
  c1 = hn::Add(hn::Add(c1, c2), e);
  s1 = s;
}

#if HWY_TARGET == HWY_SCALAR
template <class D>
HWY_INLINE CompensatedSum FoldTermsVector(D /*d*/, VComp s, VComp c) {
  return {hn::GetLane(s), hn::GetLane(c)};  // one lane
}
#else
// Lane i combined with lane i + half within one vector, half = N/2, ..., 1, as FoldVector.
template <class D, class V>
HWY_INLINE CompensatedSum FoldTermsVector(D d, V s, V c) {
  if constexpr (hn::MaxLanes(D()) >= 8) {
    const hn::Half<D> dh;
    auto s_low = hn::LowerHalf(dh, s);
    auto c_low = hn::LowerHalf(dh, c);
    const auto s_high = hn::UpperHalf(dh, s);
    const auto c_high = hn::UpperHalf(dh, c);
    const auto sum = hn::Add(s_low, s_high);
    const auto bp = hn::Sub(sum, s_low);
    const auto e = hn::Add(hn::Sub(s_low, hn::Sub(sum, bp)), hn::Sub(s_high, bp));
    c_low = hn::Add(hn::Add(c_low, c_high), e);
    return FoldTermsVector(dh, sum, c_low);
  } else {
    (void)d;
    for (int step = 0; step < 2; ++step) {
      const V s2 = step == 0 ? hn::Shuffle1032(s) : hn::Shuffle2301(s);
      const V c2 = step == 0 ? hn::Shuffle1032(c) : hn::Shuffle2301(c);
      const V sum = hn::Add(s, s2);
      const V bp = hn::Sub(sum, s);
      const V e = hn::Add(hn::Sub(s, hn::Sub(sum, bp)), hn::Sub(s2, bp));
      c = hn::Add(hn::Add(c, c2), e);
      s = sum;
    }
    return {hn::GetLane(s), hn::GetLane(c)};
  }
}
#endif

// The 32 lanes' terms in scratch, folded by halving with combine().
CompensatedSum FoldTerms(const float* HWY_RESTRICT sums, const float* HWY_RESTRICT comps) {
  const DF d;
  VComp s[kCK];
  VComp c[kCK];
#pragma GCC unroll 32
  for (std::size_t k = 0; k < kCK; ++k) {
    s[k] = hn::LoadU(d, sums + k * kN);
    c[k] = hn::LoadU(d, comps + k * kN);
  }
#pragma GCC unroll 32
  for (std::size_t half = kCK / 2; half >= 1; half /= 2) {
#pragma GCC unroll 32
    for (std::size_t k = 0; k < half; ++k) CombineTerms(s[k], c[k], s[k + half], c[k + half]);
  }
  return FoldTermsVector(d, s[0], c[0]);
}

// ------------------------------------------------------------------ int32 sums, widened
// (int_sum-inl.h)

std::int64_t SumI32Range(const std::int32_t* HWY_RESTRICT x, std::size_t n) {
  return static_cast<std::int64_t>(SumI32Wrapping(x, n));
}

void RowSumsI32(const std::int32_t* HWY_RESTRICT x, std::size_t rows, std::size_t cols,
                std::int64_t* HWY_RESTRICT out) {
  for (std::size_t r = 0; r < rows; ++r) {
    out[r] = static_cast<std::int64_t>(SumI32Wrapping(x + r * cols, cols));
  }
}

void AddColumnsI32(const std::int32_t* HWY_RESTRICT x, std::size_t rows, std::size_t stride,
                   std::size_t width, std::int64_t* HWY_RESTRICT acc) {
  const hn::ScalableTag<std::uint64_t> du;
  const hn::Rebind<std::int64_t, decltype(du)> di;
  const hn::Rebind<std::int32_t, decltype(du)> d32;
  const std::size_t l = hn::Lanes(du);
  for (std::size_t r = 0; r < rows; ++r) {
    const std::int32_t* row = x + r * stride;
    std::size_t j = 0;
    for (; j + l <= width; j += l) {
      const auto sum = hn::Add(hn::BitCast(du, hn::LoadU(di, acc + j)),
                               hn::BitCast(du, hn::PromoteTo(di, hn::LoadU(d32, row + j))));
      hn::StoreU(hn::BitCast(di, sum), di, acc + j);
    }
    for (; j < width; ++j) {
      acc[j] = static_cast<std::int64_t>(static_cast<std::uint64_t>(acc[j]) +
                                         static_cast<std::uint64_t>(std::int64_t{row[j]}));
    }
  }
}

// ------------------------------------------------------------------ all / any over bytes

using DU8 = hn::ScalableTag<std::uint8_t>;
constexpr std::size_t kMaxBytes = hn::MaxLanes(DU8());

// What all() looks for: a zero byte. Folding by the minimum keeps zeros; the tail's padding is
// ones, which decide nothing.
struct ZeroByte {
  static constexpr std::uint8_t kPad = 1;
  template <class V>
  static V Fold(V a, V b) {
    return hn::Min(a, b);
  }
  static bool Decides(DU8 d, hn::Vec<DU8> v) { return !hn::AllFalse(d, hn::Eq(v, hn::Zero(d))); }
};

// What any() looks for: a nonzero byte. Folding by OR keeps them; the padding is zeros.
struct NonzeroByte {
  static constexpr std::uint8_t kPad = 0;
  template <class V>
  static V Fold(V a, V b) {
    return hn::Or(a, b);
  }
  static bool Decides(DU8 d, hn::Vec<DU8> v) { return !hn::AllTrue(d, hn::Eq(v, hn::Zero(d))); }
};

// Whether x[0, n) holds a byte that Scan looks for, stopping at the first vector that has one.
template <class Scan>
bool FindByte(const unsigned char* HWY_RESTRICT x, std::size_t n) {
  const DU8 d;
  const std::size_t l = hn::Lanes(d);
  std::size_t i = 0;
  // Eight vectors per test: the test and its branch cost as much as the loads otherwise.
  for (; i + 8 * l <= n; i += 8 * l) {
    const auto f0 =
        Scan::Fold(Scan::Fold(hn::LoadU(d, x + i), hn::LoadU(d, x + i + l)),
                   Scan::Fold(hn::LoadU(d, x + i + 2 * l), hn::LoadU(d, x + i + 3 * l)));
    const auto f1 =
        Scan::Fold(Scan::Fold(hn::LoadU(d, x + i + 4 * l), hn::LoadU(d, x + i + 5 * l)),
                   Scan::Fold(hn::LoadU(d, x + i + 6 * l), hn::LoadU(d, x + i + 7 * l)));
    if (Scan::Decides(d, Scan::Fold(f0, f1))) return true;
  }
  for (; i + l <= n; i += l) {
    if (Scan::Decides(d, hn::LoadU(d, x + i))) return true;
  }
  if (i < n) {
    std::uint8_t pad[kMaxBytes];
    std::fill(pad, pad + kMaxBytes, Scan::kPad);
    std::memcpy(pad, x + i, n - i);
    if (Scan::Decides(d, hn::LoadU(d, pad))) return true;
  }
  return false;
}

bool AllNonzero(const unsigned char* HWY_RESTRICT x, std::size_t n) {
  return !FindByte<ZeroByte>(x, n);
}

bool AnyNonzero(const unsigned char* HWY_RESTRICT x, std::size_t n) {
  return FindByte<NonzeroByte>(x, n);
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace corepy::ops::internal
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace corepy::ops::internal {

HWY_EXPORT(SumF32Range);
HWY_EXPORT(SumF32Chunk);
HWY_EXPORT(SumBF16Chunk);
HWY_EXPORT(SumF16Chunk);
HWY_EXPORT(RowSumsF32);
HWY_EXPORT(RowSumsBF16);
HWY_EXPORT(RowSumsF16);
HWY_EXPORT(ColumnSumsF32);
HWY_EXPORT(AddF32);
HWY_EXPORT(NeumaierF32);
HWY_EXPORT(FoldTerms);
HWY_EXPORT(SumI32Range);
HWY_EXPORT(RowSumsI32);
HWY_EXPORT(AddColumnsI32);
HWY_EXPORT(AllNonzero);
HWY_EXPORT(AnyNonzero);

float sum_f32_range(const float* x, std::size_t n) {
  return HWY_DYNAMIC_DISPATCH(SumF32Range)(x, n);
}
float sum_f32_chunk(const float* x, std::size_t n) {
  return HWY_DYNAMIC_DISPATCH(SumF32Chunk)(x, n);
}
float sum_bf16_chunk(const std::uint16_t* x, std::size_t n) {
  return HWY_DYNAMIC_DISPATCH(SumBF16Chunk)(x, n);
}
float sum_f16_chunk(const std::uint16_t* x, std::size_t n) {
  return HWY_DYNAMIC_DISPATCH(SumF16Chunk)(x, n);
}
void row_sums_f32(const float* x, std::size_t rows, std::size_t cols, float* out) {
  HWY_DYNAMIC_DISPATCH(RowSumsF32)(x, rows, cols, out);
}
void row_sums_bf16(const std::uint16_t* x, std::size_t rows, std::size_t cols, float* out) {
  HWY_DYNAMIC_DISPATCH(RowSumsBF16)(x, rows, cols, out);
}
void row_sums_f16(const std::uint16_t* x, std::size_t rows, std::size_t cols, float* out) {
  HWY_DYNAMIC_DISPATCH(RowSumsF16)(x, rows, cols, out);
}
void column_sums_f32(const float* x, std::size_t rows, std::size_t stride, std::size_t width,
                     float* acc) {
  HWY_DYNAMIC_DISPATCH(ColumnSumsF32)(x, rows, stride, width, acc);
}
void add_f32(float* acc, const float* y, std::size_t n) { HWY_DYNAMIC_DISPATCH(AddF32)(acc, y, n); }
void neumaier_f32(const float* x, std::size_t n, float* sums, float* comps) {
  HWY_DYNAMIC_DISPATCH(NeumaierF32)(x, n, sums, comps);
}
std::int64_t sum_i32_range(const std::int32_t* x, std::size_t n) {
  return HWY_DYNAMIC_DISPATCH(SumI32Range)(x, n);
}
void row_sums_i32(const std::int32_t* x, std::size_t rows, std::size_t cols, std::int64_t* out) {
  HWY_DYNAMIC_DISPATCH(RowSumsI32)(x, rows, cols, out);
}
void add_columns_i32(const std::int32_t* x, std::size_t rows, std::size_t stride, std::size_t width,
                     std::int64_t* acc) {
  HWY_DYNAMIC_DISPATCH(AddColumnsI32)(x, rows, stride, width, acc);
}
bool all_nonzero(const unsigned char* x, std::size_t n) {
  return HWY_DYNAMIC_DISPATCH(AllNonzero)(x, n);
}
bool any_nonzero(const unsigned char* x, std::size_t n) {
  return HWY_DYNAMIC_DISPATCH(AnyNonzero)(x, n);
}

CompensatedSum fold_lanes(const float* sums, const float* comps) {
  return HWY_DYNAMIC_DISPATCH(FoldTerms)(sums, comps);
}

CompensatedSum compensated_chunk(const float* x, std::size_t n, float* terms) {
  float* sums = terms;
  float* comps = terms + kCompensatedLanes;
  std::fill(sums, sums + kCompensatedLanes, -0.0f);
  std::fill(comps, comps + kCompensatedLanes, 0.0f);
  neumaier_f32(x, n, sums, comps);
  return fold_lanes(sums, comps);
}

void column_tree_f32(const float* x, std::size_t rows, std::size_t stride, std::size_t width,
                     std::size_t leaf_lo, std::size_t leaf_hi, float* acc, float* levels) {
  if (leaf_hi - leaf_lo == 1) {
    const std::size_t r0 = leaf_lo * kLeafRows;
    column_sums_f32(x + r0 * stride, std::min(kLeafRows, rows - r0), stride, width, acc);
    return;
  }
  // As pairwise_tree: the left half into acc, the right half into the first level, then added;
  // the left half reuses the levels, the right one those below its own.
  const std::size_t mid = leaf_lo + (leaf_hi - leaf_lo + 1) / 2;
  column_tree_f32(x, rows, stride, width, leaf_lo, mid, acc, levels);
  column_tree_f32(x, rows, stride, width, mid, leaf_hi, levels, levels + width);
  add_f32(acc, levels, width);
}

}  // namespace corepy::ops::internal
#endif  // HWY_ONCE
