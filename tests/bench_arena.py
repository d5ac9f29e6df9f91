#!/usr/bin/python3
"""The arena benchmark of corepy's original design, through the C ABI with ctypes.

For 1,000, 10,000 and 100,000 float32 elements it times corepy_sum_f32 (the dispatch layer: an
arena scope, per-op stats, the kernel) against numpy.sum on the same array in the same run, and
shows what the arena scope costs: corepy_sum_f32 against corepy_sum_f32_kernel, the kernel alone.

    bazel build -c opt //:libcorepy.so
    python3 tests/bench_arena.py "$(bazel info -c opt bazel-bin)/libcorepy.so"

Timings are medians of repeated runs; compare the ratios, not the absolute times, across runs.
"""
import argparse
import ctypes
import statistics
import sys
import time

import numpy as np


def load(path):
    lib = ctypes.CDLL(path)
    for name in ("corepy_sum_f32", "corepy_sum_f32_kernel"):
        fn = getattr(lib, name)
        fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_float)]
        fn.restype = ctypes.c_int
    lib.corepy_arena_stats.argtypes = [ctypes.c_void_p]
    lib.corepy_error_string.restype = ctypes.c_char_p
    return lib


class ArenaStats(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t)
                for n in ("used", "capacity", "peak", "overflow_count", "overflow_bytes")]


def median_seconds_per_call(fn, iterations, repeats):
    """Median over `repeats` runs of the time of one call, each run making `iterations` calls."""
    for _ in range(max(1, iterations // 10)):  # warm-up
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        samples.append((time.perf_counter() - start) / iterations)
    return statistics.median(samples)


def bench_size(lib, size, quick):
    data = np.random.default_rng(size).random(size, dtype=np.float32)
    ptr = ctypes.c_void_p(data.ctypes.data)
    n = ctypes.c_size_t(size)
    out = ctypes.c_float()
    out_ptr = ctypes.pointer(out)
    dispatch, kernel = lib.corepy_sum_f32, lib.corepy_sum_f32_kernel

    rc = dispatch(ptr, n, out_ptr)
    if rc != 0:
        raise RuntimeError(lib.corepy_error_string(rc).decode())
    expected = float(np.sum(data, dtype=np.float64))
    if abs(out.value - expected) > 1e-4 * max(1.0, abs(expected)):
        raise RuntimeError(f"corepy_sum_f32 gave {out.value}, expected {expected}")

    iterations = 200 if quick else max(200, 20_000_000 // max(size, 1000))
    repeats = 3 if quick else 7
    t_corepy = median_seconds_per_call(lambda: dispatch(ptr, n, out_ptr), iterations, repeats)
    t_kernel = median_seconds_per_call(lambda: kernel(ptr, n, out_ptr), iterations, repeats)
    t_numpy = median_seconds_per_call(lambda: np.sum(data), iterations, repeats)

    nbytes = size * 4
    print(f"Size: {size:>10,} elements")
    for label, t in (("corepy_sum_f32 (ctypes)", t_corepy), ("numpy.sum", t_numpy)):
        print(f"  {label:<24} Ops/sec: {1 / t:>12,.0f}  Bandwidth: {nbytes / t / 1e9:>7.2f} GB/s"
              f"  Avg latency: {t * 1e6:>8.2f} µs")
    print(f"  corepy vs numpy.sum: {t_numpy / t_corepy:.2f}x faster (target: at least 2x)")
    overhead = t_corepy - t_kernel
    print(f"  arena overhead: with scope {t_corepy * 1e6:.3f} µs, kernel alone "
          f"{t_kernel * 1e6:.3f} µs: {overhead * 1e9:+.0f} ns ({100 * overhead / t_kernel:+.2f}%)")
    print()
    return t_numpy / t_corepy


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("library", nargs="?", default="bazel-bin/libcorepy.so",
                        help="path to libcorepy.so (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="a short run, as CI's smoke test")
    args = parser.parse_args()
    lib = load(args.library)
    print("=== Arena Integration Benchmark ===\n")
    for size in (1_000, 10_000, 100_000):
        bench_size(lib, size, args.quick)
    stats = ArenaStats()
    lib.corepy_arena_stats(ctypes.byref(stats))
    print(f"[arena] used={stats.used} cap={stats.capacity} peak={stats.peak} "
          f"spills={stats.overflow_count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
