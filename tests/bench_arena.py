#!/usr/bin/python3
"""The arena benchmark of corepy's original design, through the corepy Python package.

For 1,000, 10,000 and 100,000 float32 elements it times corepy.tensor_sum_f32 (the package's
raw-pointer entry point: the dispatch layer, with an arena scope, per-op stats and the kernel)
against numpy.sum on the same array in the same run, and against the same call through the C ABI
with ctypes (corepy_sum_f32 in libcorepy.so). It also shows what the arena scope costs:
corepy_sum_f32 against corepy_sum_f32_kernel, the kernel alone (ctypes).

    bazel build -c opt //:libcorepy.so         # and the package installed, see the README
    .venv/bin/python tests/bench_arena.py "$(bazel info -c opt bazel-bin)/libcorepy.so"

Without a libcorepy.so the ctypes rows are left out. The calls are timed interleaved (each
repetition times a batch of every call in turn) and each keeps its median: compare the ratios,
not the absolute times, across runs.
"""
import argparse
import ctypes
import os
import statistics
import sys
import time

import numpy as np
import corepy
from corepy import tensor_sum_f32


def load(path):
    lib = ctypes.CDLL(path)
    for name in ("corepy_sum_f32", "corepy_sum_f32_kernel"):
        fn = getattr(lib, name)
        fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_float)]
        fn.restype = ctypes.c_int
    lib.corepy_error_string.restype = ctypes.c_char_p
    return lib


def median_seconds_per_call(fns, iterations, repeats):
    """For each of `fns`, the median over `repeats` interleaved runs of the time of one call,
    each run making `iterations` calls."""
    for fn in fns:
        for _ in range(max(1, iterations // 10)):  # warm-up
            fn()
    samples = [[] for _ in fns]
    for _ in range(repeats):
        for fn, s in zip(fns, samples):
            start = time.perf_counter()
            for _ in range(iterations):
                fn()
            s.append((time.perf_counter() - start) / iterations)
    return [statistics.median(s) for s in samples]


def bench_size(lib, size, quick):
    data = np.random.default_rng(size).random(size, dtype=np.float32)
    address = data.ctypes.data
    expected = float(np.sum(data, dtype=np.float64))
    got = tensor_sum_f32(address, size)
    if abs(got - expected) > 1e-4 * max(1.0, abs(expected)):
        raise RuntimeError(f"corepy.tensor_sum_f32 gave {got}, expected {expected}")

    rows = [("corepy.tensor_sum_f32", lambda: tensor_sum_f32(address, size)),
            ("numpy.sum", lambda: np.sum(data))]
    if lib is not None:
        ptr, n, out = ctypes.c_void_p(address), ctypes.c_size_t(size), ctypes.c_float()
        out_ptr = ctypes.pointer(out)
        dispatch, kernel = lib.corepy_sum_f32, lib.corepy_sum_f32_kernel
        rc = dispatch(ptr, n, out_ptr)
        if rc != 0 or out.value != got:
            raise RuntimeError(f"corepy_sum_f32 gave {out.value} (rc {rc}), the package {got}")
        rows += [("corepy_sum_f32 (ctypes)", lambda: dispatch(ptr, n, out_ptr)),
                 ("corepy_sum_f32_kernel (ctypes)", lambda: kernel(ptr, n, out_ptr))]

    iterations = 200 if quick else max(200, 20_000_000 // max(size, 1000))
    repeats = 3 if quick else 7
    times = median_seconds_per_call([fn for _, fn in rows], iterations, repeats)
    t = dict(zip((label for label, _ in rows), times))

    nbytes = size * 4
    print(f"Size: {size:>10,} elements")
    for label, _ in rows[:3]:
        print(f"  {label:<24} Ops/sec: {1 / t[label]:>12,.0f}  Bandwidth: "
              f"{nbytes / t[label] / 1e9:>7.2f} GB/s  Avg latency: {t[label] * 1e6:>8.3f} µs")
    package = t["corepy.tensor_sum_f32"]
    print(f"  corepy vs numpy.sum: {t['numpy.sum'] / package:.2f}x faster "
          f"(target: at least 10x at 1k)")
    if lib is not None:
        ctypes_time = t["corepy_sum_f32 (ctypes)"]
        print(f"  corepy vs the ctypes path: {ctypes_time / package:.2f}x faster "
              f"(target: never slower)")
        kernel_time = t["corepy_sum_f32_kernel (ctypes)"]
        overhead = ctypes_time - kernel_time
        print(f"  arena overhead (ctypes): with scope {ctypes_time * 1e6:.3f} µs, kernel alone "
              f"{kernel_time * 1e6:.3f} µs: {overhead * 1e9:+.0f} ns "
              f"({100 * overhead / kernel_time:+.2f}%)")
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("library", nargs="?", default="bazel-bin/libcorepy.so",
                        help="path to libcorepy.so for the ctypes rows (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="a short run, as CI's smoke test")
    args = parser.parse_args()
    lib = load(args.library) if os.path.exists(args.library) else None
    print("=== Arena Integration Benchmark ===\n")
    if lib is None:
        print(f"(no {args.library}: the ctypes rows are left out)\n")
    for size in (1_000, 10_000, 100_000):
        bench_size(lib, size, args.quick)
    stats = corepy.arena_stats()
    print(f"[arena] used={stats.used} cap={stats.capacity} peak={stats.peak} "
          f"spills={stats.overflow_count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
