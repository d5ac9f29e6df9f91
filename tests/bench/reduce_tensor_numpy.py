#!/usr/bin/python3
"""The N-D reductions against numpy, side by side in one process (issue 11, section 4).

For each of the issue's shapes it times numpy.sum and corepy_reduce (the C ABI, through ctypes,
writing into a buffer made once) on the same array, interleaved: each repetition times a batch of
numpy calls, then a batch of corepy calls, and each side keeps its fastest batch (the minimum of
the repetitions: on a shared machine, noise only ever adds time). It prints the time per call,
corepy's time as a fraction of numpy's, and the issue's target for inputs of 1 MB or more: at
most 0.5x numpy's time. A third side, interleaved the same way, is corepy with worker_spin "0"
(corepy_configure before its batch, the default 50us restored after): oneTBB's workers then
sleep between the calls, which the Python loop's microseconds between them let them do; the
"spin" column is what the default's spinning saves (the no-spin time over the spinning one).

    bazel build -c opt //:libcorepy.so
    /usr/bin/python3 tests/bench/reduce_tensor_numpy.py "$(bazel info -c opt bazel-bin)/libcorepy.so"

numpy has no bfloat16: the bfloat16 rows compare with numpy's float32 sum of the same element
count (twice the bytes), marked as context, not held to the target. The ctypes call costs about
a microsecond, under 1% of every case here (each reads 1 MB or more).
"""
import argparse
import ctypes
import os
import sys
import time

import numpy as np

# The ctypes binding of corepy_reduce and the dtype codes are the differential test's
# (tests/ops/reduce_numpy_test.py), not a second copy.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ops"))
from reduce_numpy_test import (BF16, CODE_OF_NP, NP_DTYPE, Tensor,  # noqa: E402
                               bf16_bits_to_f32, load)

REDUCE_SUM = 1
MAX_DIMS = 32


def to_bfloat16(x):
    """The upper halves of float32 `x`: bfloat16 rounded toward zero, as uint16."""
    return (np.ascontiguousarray(x, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)


class Case:
    """One shape: the array corepy reduces, the array numpy reduces and numpy's call."""

    def __init__(self, label, base, axis, transpose=False, bfloat16=False):
        self.label = label
        self.axis = axis
        self.bfloat16 = bfloat16
        view = base.T if transpose else base
        if bfloat16:
            self.corepy_array = to_bfloat16(base)
            self.numpy_array = base  # float32 of the same count: numpy has no bfloat16
            self.reference = bf16_bits_to_f32(self.corepy_array)
            self.dtype = BF16
        else:
            self.corepy_array = view
            self.numpy_array = view
            self.reference = view
            self.dtype = CODE_OF_NP[view.dtype]
        self.nbytes = self.corepy_array.size * self.corepy_array.itemsize

    def numpy_call(self):
        a, axis = self.numpy_array, self.axis
        return lambda: np.sum(a, axis=axis)


class CorepyCall:
    """corepy_reduce of a case (`op`, a COREPY_REDUCE_* code: sum unless given) with every
    argument converted once, outside the timed calls."""

    def __init__(self, lib, case, op=REDUCE_SUM):
        a = case.corepy_array
        self.lib, self.case = lib, case
        self.shape = (ctypes.c_int64 * max(a.ndim, 1))(*a.shape)
        self.strides = (ctypes.c_int64 * max(a.ndim, 1))(*a.strides)
        self.tensor = Tensor(a.ctypes.data, case.dtype, a.ndim, self.shape, self.strides)
        axes = () if case.axis is None else (
            case.axis if isinstance(case.axis, tuple) else (case.axis,))
        self.axes = (ctypes.c_int32 * max(len(axes), 1))(*axes)
        self.naxes = -1 if case.axis is None else len(axes)
        results = np.sum(case.reference, axis=case.axis).size
        self.out = np.empty(results * 8, dtype=np.uint8)  # 8: the widest result dtype
        self.out_dtype = ctypes.c_int32()
        self.out_ndim = ctypes.c_int32()
        self.out_shape = (ctypes.c_int64 * MAX_DIMS)()
        self.args = (op, ctypes.byref(self.tensor), self.axes, self.naxes, 0, 0,
                     ctypes.c_void_p(self.out.ctypes.data), ctypes.c_size_t(self.out.nbytes),
                     ctypes.byref(self.out_dtype), ctypes.byref(self.out_ndim), self.out_shape)

    def __call__(self):
        return self.lib.corepy_reduce(*self.args)

    def result(self):
        rc = self()
        if rc != 0:
            raise RuntimeError(f"{self.case.label}: corepy_reduce returned {rc}: "
                               f"{self.lib.corepy_last_error().decode()}")
        shape = tuple(self.out_shape[i] for i in range(self.out_ndim.value))
        dtype = NP_DTYPE[self.out_dtype.value]
        count = int(np.prod(shape, dtype=np.int64))
        values = self.out[:count * np.dtype(dtype).itemsize].view(dtype).reshape(shape)
        return bf16_bits_to_f32(values) if self.case.bfloat16 else values


def check(case, ours):
    """corepy's result against numpy's float64 (or int64) sum of the same values."""
    expected = np.sum(case.reference, axis=case.axis,
                      dtype=np.int64 if case.reference.dtype.kind == "i" else np.float64)
    if np.shape(ours) != np.shape(expected):
        raise RuntimeError(f"{case.label}: shape {np.shape(ours)}, numpy's {np.shape(expected)}")
    if case.reference.dtype.kind == "i":
        ok = np.array_equal(ours, expected)
    else:
        rtol = 1 / 128 if case.bfloat16 else (1e-12 if ours.dtype == np.float64 else 1e-5)
        ok = np.allclose(ours, expected, rtol=rtol, atol=0)
    if not ok:
        raise RuntimeError(f"{case.label}: corepy's sums differ from numpy's")


def batch_seconds(fn, calls):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def time_interleaved(sides, repetitions, target_seconds):
    """Min over `repetitions` of the per-call time of a batch, for each side in turn.

    A side is (fn, enter, leave): enter() and leave() run around each of its batches, untimed,
    and so does one call of fn before the batch: a batch follows another side's, long enough
    for oneTBB's workers to have gone to sleep, and the call that wakes them would otherwise
    weigh on the few calls of a batch of the slow cases (11 of (4000,50,5))."""
    one = float("inf")
    for fn, enter, leave in sides:
        enter()
        fn()
        one = min(one, batch_seconds(fn, 1))
        leave()
    calls = max(1, int(target_seconds / max(one, 1e-7)))
    best = [float("inf")] * len(sides)
    for _ in range(repetitions):
        for i, (fn, enter, leave) in enumerate(sides):
            enter()
            fn()
            best[i] = min(best[i], batch_seconds(fn, calls))
            leave()
    return best


def nothing():
    pass


def configure(lib, key, value):
    rc = lib.corepy_configure(key.encode(), value.encode())
    if rc != 0:
        raise RuntimeError(f"corepy_configure({key!r}, {value!r}) returned {rc}: "
                           f"{lib.corepy_last_error().decode()}")


def make_cases():
    rng = np.random.default_rng(12345)
    f32 = rng.random((1000, 1000), dtype=np.float32)
    cube = rng.random((100, 100, 100), dtype=np.float32)
    short_runs = rng.random((4000, 50, 5), dtype=np.float32)
    f64_runs = rng.random((250, 40, 100))
    wide = rng.random((64, 4096), dtype=np.float32)
    tall = rng.random((4096, 64), dtype=np.float32)
    flat = rng.random(1 << 24, dtype=np.float32)
    f64 = rng.random((1000, 1000))
    i32 = rng.integers(-2**31, 2**31, size=(1000, 1000), dtype=np.int32)
    return [
        Case("f32 (1000,1000) axis 0", f32, 0),
        Case("f32 (1000,1000) axis 1", f32, 1),
        Case("f32 (1000,1000) all", f32, None),
        Case("f32 (100,100,100) axes (0,2)", cube, (0, 2)),
        Case("f32 (100,100,100) axis (1,)", cube, (1,)),
        Case("f32 (4000,50,5) axes (0,2)", short_runs, (0, 2)),
        Case("f64 (250,40,100) axes (0,2)", f64_runs, (0, 2)),
        Case("f32 (64,4096) axis 0", wide, 0),
        Case("f32 (4096,64) axis 1", tall, 1),
        Case("f32 (16M,) all", flat, None),
        Case("f32 (1000,1000).T axis 0", f32, 0, transpose=True),
        Case("f64 (1000,1000) axis 0", f64, 0),
        Case("i32 (1000,1000) axis 1", i32, 1),
        Case("bf16 (1000,1000) all", f32, None, bfloat16=True),
        Case("bf16 (1000,1000) axis 1", f32, 1, bfloat16=True),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("library", nargs="?", default="bazel-bin/libcorepy.so",
                        help="path to libcorepy.so (default: %(default)s)")
    parser.add_argument("--repetitions", type=int, default=15,
                        help="interleaved batches per side; the fastest counts")
    parser.add_argument("--batch-seconds", type=float, default=0.02,
                        help="about how long one batch of calls takes")
    parser.add_argument("--quick", action="store_true",
                        help="one short batch per side: the smoke test's run")
    args = parser.parse_args()
    if args.quick:
        args.repetitions, args.batch_seconds = 1, 0.0
    lib = load(args.library)
    print(f"numpy {np.__version__}; min of {args.repetitions} interleaved batches per side; "
          f"time per call")
    print(f"{'case':<30} {'MB':>6} {'numpy µs':>10} {'corepy µs':>10} {'GB/s':>7} "
          f"{'ratio':>7} {'target':>7} {'':>6} {'no spin µs':>10} {'spin':>6}")
    missed = []
    for case in make_cases():
        call = CorepyCall(lib, case)
        check(case, call.result())
        t_numpy, t_corepy, t_no_spin = time_interleaved(
            [(case.numpy_call(), nothing, nothing), (call, nothing, nothing),
             (call, lambda: configure(lib, "worker_spin", "0"),
              lambda: configure(lib, "worker_spin", "50us"))],
            args.repetitions, args.batch_seconds)
        ratio = t_corepy / t_numpy
        held = case.nbytes >= 1_000_000 and not case.bfloat16
        verdict = ("met" if ratio <= 0.5 else "MISSED") if held else ""
        if held and ratio > 0.5:
            missed.append(case.label)
        target = "0.50x" if held else "-"
        print(f"{case.label:<30} {case.nbytes / 1e6:>6.1f} {t_numpy * 1e6:>10.1f} "
              f"{t_corepy * 1e6:>10.1f} {case.nbytes / t_corepy / 1e9:>7.2f} {ratio:>6.3f}x "
              f"{target:>7} {verdict:>6} {t_no_spin * 1e6:>10.1f} {t_no_spin / t_corepy:>5.2f}x")
    print("\nratio: corepy's time / numpy's (lower is faster). bf16 rows: numpy has no bfloat16, "
          "so its side is a float32 sum of the same count (context, no target). spin: corepy's "
          "time with worker_spin 0 over its time with the default 50us.")
    if missed:
        print(f"missed the 0.5x target: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
