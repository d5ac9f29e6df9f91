#!/usr/bin/python3
"""The C ABI through Python's ctypes, as tests/bench_arena.py uses it: results against numpy,
NULL data, error codes and messages. Usage: c_api_ctypes_test.py path/to/libcorepy.so"""
import ctypes
import math
import sys

import numpy as np


def main(path):
    lib = ctypes.CDLL(path)
    f32p = ctypes.POINTER(ctypes.c_float)
    lib.corepy_sum_f32.argtypes = [f32p, ctypes.c_size_t, f32p]
    lib.corepy_mean_f32.argtypes = [f32p, ctypes.c_size_t, f32p]
    lib.corepy_sum_i32.argtypes = [ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t,
                                   ctypes.POINTER(ctypes.c_int64)]
    lib.corepy_any_bool.argtypes = [ctypes.POINTER(ctypes.c_bool), ctypes.c_size_t,
                                    ctypes.POINTER(ctypes.c_bool)]
    lib.corepy_sum_f32_compensated.argtypes = [f32p, ctypes.c_size_t, f32p]
    for name in ("sum_rows_f32", "sum_cols_f32", "mean_rows_f32", "mean_cols_f32"):
        getattr(lib, "corepy_" + name).argtypes = [f32p, ctypes.c_size_t, ctypes.c_size_t, f32p]
    lib.corepy_error_string.restype = ctypes.c_char_p
    lib.corepy_last_error.restype = ctypes.c_char_p

    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)

    rng = np.random.default_rng(7)
    for n in (0, 1, 1000, 100_003):
        x = rng.random(n, dtype=np.float32)
        out = ctypes.c_float(-1)
        rc = lib.corepy_sum_f32(x.ctypes.data_as(f32p), n, ctypes.byref(out))
        check(rc == 0, f"sum_f32({n}) returned {rc}")
        check(math.isclose(out.value, float(np.sum(x, dtype=np.float64)), rel_tol=1e-5,
                           abs_tol=1e-6), f"sum_f32({n}) = {out.value}")
        rc = lib.corepy_mean_f32(x.ctypes.data_as(f32p), n, ctypes.byref(out))
        check(rc == 0 and (math.isnan(out.value) if n == 0 else
                           math.isclose(out.value, float(np.mean(x, dtype=np.float64)),
                                        rel_tol=1e-5)), f"mean_f32({n}) = {out.value}")

    i = np.array([2**31 - 1] * 4, dtype=np.int32)
    wide = ctypes.c_int64(0)
    check(lib.corepy_sum_i32(i.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)), 4,
                             ctypes.byref(wide)) == 0 and wide.value == 4 * (2**31 - 1),
          f"sum_i32 = {wide.value}")

    b = np.array([False, False, True])
    flag = ctypes.c_bool(False)
    check(lib.corepy_any_bool(b.ctypes.data_as(ctypes.POINTER(ctypes.c_bool)), 3,
                              ctypes.byref(flag)) == 0 and flag.value, "any_bool")

    # Cancellation: the compensated sum keeps what float32 accumulation drops.
    c = np.array([1e8, 1, -1e8] * 1000, dtype=np.float32)
    out = ctypes.c_float(-1)
    check(lib.corepy_sum_f32_compensated(c.ctypes.data_as(f32p), c.size, ctypes.byref(out)) == 0
          and out.value == 1000.0, f"sum_f32_compensated = {out.value}")

    # Row and column reductions against numpy, written into a numpy array.
    for rows, cols in ((3, 5), (1, 1000), (1000, 1), (0, 4), (257, 129)):
        m = rng.random((rows, cols), dtype=np.float32)
        for name, axis, reduce in (("sum_rows_f32", 1, np.sum), ("sum_cols_f32", 0, np.sum),
                                   ("mean_rows_f32", 1, np.mean), ("mean_cols_f32", 0, np.mean)):
            got = np.full(m.shape[1 - axis], -1, dtype=np.float32)
            rc = getattr(lib, "corepy_" + name)(m.ctypes.data_as(f32p), rows, cols,
                                                got.ctypes.data_as(f32p))
            with np.errstate(invalid="ignore", divide="ignore"):
                want = reduce(m.astype(np.float64), axis=axis)
            check(rc == 0 and np.allclose(got, want, rtol=1e-5, atol=1e-6, equal_nan=True),
                  f"{name}({rows}x{cols}): rc {rc}")
    keep = np.full(4, 42, dtype=np.float32)
    rc = lib.corepy_sum_cols_f32(None, 3, 4, keep.ctypes.data_as(f32p))
    check(rc == 1 and (keep == 42).all(), f"sum_cols_f32 NULL data: rc {rc}")

    out = ctypes.c_float(123)
    rc = lib.corepy_sum_f32(None, 5, ctypes.byref(out))
    check(rc == 1 and out.value == 123, f"NULL data: rc {rc}, out {out.value}")
    check(b"count is 5" in lib.corepy_last_error(), "last error names the count")
    check(b"NULL" in lib.corepy_error_string(rc), "error string")

    for f in failures:
        print("FAIL:", f)
    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
