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
