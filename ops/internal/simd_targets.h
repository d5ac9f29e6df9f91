// The SIMD targets the kernel files (reduce_kernels.cc, tensor_kernels.cc) are compiled for:
// include this before hwy/foreach_target.h.
//
// Scalable vectors (Arm SVE, RISC-V V) cannot be kept in arrays, which the 64-lane float
// kernels do; NEON covers Arm.
//
// Under AddressSanitizer, also no 512-bit targets: GCC (12 at least) lays out a frame whose
// locals need 64-byte alignment (AVX-512 vectors, spilled at -O0) for a base it realigns, but
// the fake frames it takes instead when use-after-return detection is on
// (ASAN_OPTIONS=detect_stack_use_after_return=1, as --config=asan has) do not get that
// alignment, and the aligned spill faults. AVX2 vectors need 32, which fake frames have. The
// kernels are the same templates on every target, so ASan still checks all of their logic.
//
// The instrumented configs (asan, tsan, fuzz) also raise the static target to SSE4 with -m flags
// (build:simd_sse4 in .bazelrc), so EMU128 and SSSE3 are compiled by the default and -c opt
// builds only.
//
// Visibility: //ops only.
#ifndef COREPY_OPS_INTERNAL_SIMD_TARGETS_H_
#define COREPY_OPS_INTERNAL_SIMD_TARGETS_H_

#include "absl/base/config.h"

#ifndef HWY_DISABLED_TARGETS
#ifdef ABSL_HAVE_ADDRESS_SANITIZER
#define HWY_DISABLED_TARGETS \
  (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128 | HWY_RVV | HWY_AVX3 | HWY_AVX3_DL)
#else
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128 | HWY_RVV)
#endif
#endif

#endif  // COREPY_OPS_INTERNAL_SIMD_TARGETS_H_
