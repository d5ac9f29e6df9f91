#!/usr/bin/python3
"""Every N-D reduction along the rows of a matrix against numpy, side by side in one process.

A tensor runtime reduces the last axis of (batch, features) arrays most of all: softmax's max and
sum, layer norm's mean and var, a classifier's argmax, masks' all and any. Rows of 16 to 1000
elements, 4 MB or so each matrix: for each dtype and op, numpy's call (`np.<op>(a, axis=1)`) and
corepy_reduce's (ctypes, its arguments converted once) are timed in interleaved batches, the
fastest batch of each side kept, as tests/bench/reduce_tensor_numpy.py does. It prints the time
per call and corepy's time as a fraction of numpy's. No target is held here (the issue's
targets are reduce_tensor_numpy.py's sums); the README quotes these figures.

    bazel build -c opt //:libcorepy.so
    /usr/bin/python3 tests/bench/rows_numpy.py "$(bazel info -c opt bazel-bin)/libcorepy.so"
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "ops"))
sys.path.insert(0, HERE)
from reduce_numpy_test import OP_CODE, load  # noqa: E402
from reduce_tensor_numpy import Case, CorepyCall, nothing, time_interleaved  # noqa: E402

SHAPES = [(100000, 16), (20000, 64), (4000, 256), (1000, 1000)]
DTYPES = [np.float32, np.float64, np.int32]
OPS = ["sum", "mean", "var", "max", "argmax", "prod", "all", "count_nonzero"]


def check(label, op, a, ours):
    """corepy's result against numpy's: exact but for float sums, means, variances, products."""
    with np.errstate(all="ignore"):
        theirs = getattr(np, op)(a, axis=1)
    if ours.dtype != theirs.dtype:
        raise RuntimeError(f"{label}: dtype {ours.dtype}, numpy's {theirs.dtype}")
    if op in ("sum", "mean", "var", "prod") and theirs.dtype.kind == "f":
        # Both round; sums of both signs cancel, so the tolerance scales with the sum of |x|.
        u = 1e-5 if a.dtype == np.float32 else 1e-12
        scale = np.sum(np.abs(a.astype(np.float64)), axis=1) / (a.shape[1] if op == "mean" else 1)
        atol = u * scale if op in ("sum", "mean") else 0
        ok = np.all(np.isclose(ours, theirs, rtol=u * 10, atol=atol, equal_nan=True))
    else:
        ok = np.array_equal(ours, theirs)
    if not ok:
        raise RuntimeError(f"{label}: corepy's results differ from numpy's")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("library", nargs="?", default="bazel-bin/libcorepy.so",
                        help="path to libcorepy.so (default: %(default)s)")
    parser.add_argument("--repetitions", type=int, default=7,
                        help="interleaved batches per side; the fastest counts")
    parser.add_argument("--batch-seconds", type=float, default=0.02,
                        help="about how long one batch of calls takes")
    parser.add_argument("--quick", action="store_true",
                        help="one short batch per side, the smallest shape: the smoke test's run")
    args = parser.parse_args()
    shapes = SHAPES
    if args.quick:
        args.repetitions, args.batch_seconds, shapes = 1, 0.0, SHAPES[-1:]
    lib = load(args.library)
    rng = np.random.default_rng(2026)
    print(f"numpy {np.__version__}; min of {args.repetitions} interleaved batches per side; "
          f"time per call, over axis 1")
    print(f"{'shape':<14} {'dtype':<8} {'op':<14} {'numpy µs':>10} {'corepy µs':>10} "
          f"{'ratio':>7}")
    for shape in shapes:
        for dtype in DTYPES:
            a = (rng.standard_normal(shape) * 100).astype(dtype)
            for op in OPS:
                label = f"{str(shape):<14} {np.dtype(dtype).name:<8} {op:<14}"
                call = CorepyCall(lib, Case(label, a, 1), OP_CODE[op])
                check(label, op, a, call.result())
                fn = getattr(np, op)
                t_numpy, t_corepy = time_interleaved(
                    [(lambda: fn(a, axis=1), nothing, nothing), (call, nothing, nothing)],
                    args.repetitions, args.batch_seconds)
                print(f"{label} {t_numpy * 1e6:>10.1f} {t_corepy * 1e6:>10.1f} "
                      f"{t_corepy / t_numpy:>6.3f}x")
    print("\nratio: corepy's time / numpy's (lower is faster).")
    return 0


if __name__ == "__main__":
    with np.errstate(all="ignore"):
        sys.exit(main())
