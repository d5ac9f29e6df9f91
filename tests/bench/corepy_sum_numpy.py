#!/usr/bin/python3
"""corepy.sum(a) against numpy.sum(a) and the ctypes path, on float32 arrays in one process.

At 1k, 10k, 100k, 1M and 16M elements it times corepy.sum(a) (the package: buffer protocol,
plan, dispatch layer, a numpy.float32 result), numpy.sum(a) and corepy_sum_f32 through ctypes
(libcorepy.so; its arguments converted once, outside the timed calls). Then the floors, calls
that do no work: the package's METH_FASTCALL entry point (_floor_fastcall: tensor_sum_f32's
argument handling), the same through pybind11 (_floor_pybind11), corepy.sum of an empty array
(the whole binding and dispatch with no element), and an empty ctypes call.

    bazel build -c opt //:libcorepy.so         # and the package installed, see the README
    .venv/bin/python tests/bench/corepy_sum_numpy.py "$(bazel info -c opt bazel-bin)/libcorepy.so"

The calls are timed interleaved, each repetition timing a batch of every call in turn, and each
keeps its fastest batch (noise on a shared machine only adds time). Timings are not checked.
"""
import argparse
import ctypes
import os
import sys
import time

import numpy as np

import corepy
from corepy import _corepy


def batch_seconds(fn, calls):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def fastest(fns, repetitions, target_seconds):
    """The fastest per-call time of each of `fns` over `repetitions` interleaved batches."""
    for fn in fns:
        fn()
    calls = [max(1, int(target_seconds / max(batch_seconds(fn, 3), 1e-8))) for fn in fns]
    best = [float("inf")] * len(fns)
    for _ in range(repetitions):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], batch_seconds(fn, calls[i]))
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("library", nargs="?", default="bazel-bin/libcorepy.so",
                        help="path to libcorepy.so for the ctypes rows (default: %(default)s)")
    parser.add_argument("--repetitions", type=int, default=15)
    parser.add_argument("--batch-seconds", type=float, default=0.02)
    parser.add_argument("--quick", action="store_true", help="one short batch: the smoke test")
    args = parser.parse_args()
    if args.quick:
        args.repetitions, args.batch_seconds = 1, 0.0
    lib = None
    if os.path.exists(args.library):
        lib = ctypes.CDLL(args.library)
        lib.corepy_sum_f32.argtypes = [ctypes.c_void_p, ctypes.c_size_t,
                                       ctypes.POINTER(ctypes.c_float)]
        lib.corepy_error_string.restype = ctypes.c_char_p
    else:
        print(f"(no {args.library}: the ctypes column is left out)")

    print(f"numpy {np.__version__}; fastest of {args.repetitions} interleaved batches; "
          f"time per call")
    print(f"{'elements':>10} {'corepy.sum µs':>14} {'numpy.sum µs':>13} {'ctypes µs':>10} "
          f"{'vs numpy':>9} {'vs ctypes':>10}")
    rng = np.random.default_rng(3)
    for size in (1_000, 10_000, 100_000, 1_000_000, 1 << 24):
        a = rng.random(size, dtype=np.float32)
        want = np.sum(a, dtype=np.float64)
        got = corepy.sum(a)
        if type(got) is not np.float32 or abs(float(got) - want) > 1e-5 * want:
            raise RuntimeError(f"corepy.sum gave {got!r}, numpy (float64) {want}")
        fns = [lambda: corepy.sum(a), lambda: np.sum(a)]
        if lib is not None:
            args_c = (ctypes.c_void_p(a.ctypes.data), ctypes.c_size_t(size),
                      ctypes.byref(ctypes.c_float()))
            fns.append(lambda: lib.corepy_sum_f32(*args_c))
        t = fastest(fns, args.repetitions, args.batch_seconds)
        ctypes_text = f"{t[2] * 1e6:>10.3f}" if lib is not None else f"{'-':>10}"
        ratio_text = f"{t[2] / t[0]:>9.2f}x" if lib is not None else f"{'-':>10}"
        print(f"{size:>10,} {t[0] * 1e6:>14.3f} {t[1] * 1e6:>13.3f} {ctypes_text} "
              f"{t[1] / t[0]:>8.2f}x {ratio_text}")
    print("vs numpy, vs ctypes: how many times faster corepy.sum is (higher is faster)")

    empty = np.zeros(0, np.float32)
    floors = [("_floor_fastcall(ptr, count) (METH_FASTCALL)",
               lambda: _corepy._floor_fastcall(0, 0)),
              ("_floor_pybind11(ptr, count) (pybind11)", lambda: _corepy._floor_pybind11(0, 0)),
              ("corepy.tensor_sum_f32(ptr, 0)", lambda: corepy.tensor_sum_f32(0, 0)),
              ("corepy.sum(empty float32 array)", lambda: corepy.sum(empty)),
              ("numpy.sum(empty float32 array)", lambda: np.sum(empty))]
    if lib is not None:
        floors.append(("ctypes: corepy_error_string(0)", lambda: lib.corepy_error_string(0)))
    t = fastest([fn for _, fn in floors], args.repetitions, args.batch_seconds)
    print("\nfloors (calls that reduce nothing):")
    for (label, _), seconds in zip(floors, t):
        print(f"  {label:<46} {seconds * 1e9:>9.1f} ns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
