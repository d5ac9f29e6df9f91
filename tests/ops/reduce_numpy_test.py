#!/usr/bin/python3
"""corepy_reduce (corepy/c_api.h) against numpy 1.24, through ctypes, on thousands of random cases.

Usage: reduce_numpy_test.py path/to/libcorepy.so
Environment: COREPY_REDUCE_TEST_SEED (default 20240611) picks other random cases;
  COREPY_REDUCE_TEST_CASES (default 6000) how many small ones, COREPY_REDUCE_TEST_MEDIUM_CASES
  (default 140) how many of 2^11 to 2^19.5 elements.

Each random case draws a dtype (all seven; bfloat16 as uint16 bit patterns, its reference the
float32 values), a shape of 0 to 6 dims (0-size and size-1 dims included), values (with NaN,
+-Inf, -0.0, values near the dtype's max and integers that wrap), a view of them (reversed,
stepped, transposed, broadcast with zero strides, overlapping windows, unaligned), an op, axes
(None, any subset, negative, repeated, out of range), keepdims and ddof. Then:
  - numpy raises <=> corepy returns nonzero, and corepy_last_error() names the problem;
  - on error nothing is written (out, out_dtype, out_ndim, out_shape keep a sentinel);
  - on success dtype and shape are numpy's exactly, nothing is written past the result, and the
    values are numpy's exactly (integer and bool results, min, max, argmin, argmax, all, any)
    or within the documented bound of a long-double reference (float sum, prod, mean, var, std;
    `float_bound` below states it);
  - now and then the exact capacity minus one byte is refused, naming the bytes needed.
Medium cases do the same at sizes the small ones never reach (long runs, many rows, the
parallel split), each computed twice, bit for bit. Directed cases add bad arguments (NULL
pointers, unknown op and dtype, bad ndim, negative dims, overflowing extents) and large inputs
(past the parallel threshold) computed twice, bit for bit.
"""
import ctypes
import math
import os
import sys
import time
import warnings

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

OPS = ["sum", "prod", "mean", "var", "std", "min", "max", "argmin", "argmax", "all", "any",
       "count_nonzero"]
OP_CODE = {name: i + 1 for i, name in enumerate(OPS)}
F32, F64, I32, I64, BOOL, F16, BF16 = 1, 2, 3, 4, 5, 6, 7
DTYPE_NAMES = {F32: "float32", F64: "float64", I32: "int32", I64: "int64", BOOL: "bool",
               F16: "float16", BF16: "bfloat16"}
# numpy dtype of the array passed for each code (bfloat16 travels as its uint16 bits).
NP_DTYPE = {F32: np.float32, F64: np.float64, I32: np.int32, I64: np.int64, BOOL: np.bool_,
            F16: np.float16, BF16: np.uint16}
CODE_OF_NP = {np.dtype(np.float32): F32, np.dtype(np.float64): F64, np.dtype(np.int32): I32,
              np.dtype(np.int64): I64, np.dtype(np.bool_): BOOL, np.dtype(np.float16): F16}
FLOAT_CODES = (F32, F64, F16, BF16)
ITEMSIZE = {F32: 4, F64: 8, I32: 4, I64: 8, BOOL: 1, F16: 2, BF16: 2}
SENTINEL = 0xA5
ERROR_INVALID_ARGUMENT = 3
ERROR_NULL_POINTER = 1


class Tensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int32), ("ndim", ctypes.c_int32),
                ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64))]


def load(path):
    lib = ctypes.CDLL(path)
    lib.corepy_reduce.argtypes = [
        ctypes.c_int32, ctypes.POINTER(Tensor), ctypes.POINTER(ctypes.c_int32), ctypes.c_int32,
        ctypes.c_int32, ctypes.c_int32, ctypes.c_void_p, ctypes.c_size_t,
        ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int32),
        ctypes.POINTER(ctypes.c_int64)]
    lib.corepy_reduce.restype = ctypes.c_int
    lib.corepy_last_error.restype = ctypes.c_char_p
    return lib


# ---------------------------------------------------------------------------------------------
# bfloat16 helpers: round-to-nearest-even from float32, and back.

def f32_to_bf16_bits(values):
    f = np.asarray(values, dtype=np.float32)
    b = f.reshape(-1).view(np.uint32).astype(np.uint64)
    u16, one = np.uint64(16), np.uint64(1)
    rounded = ((b + np.uint64(0x7FFF) + ((b >> u16) & one)) >> u16).astype(np.uint16)
    rounded = np.where(np.isnan(f.reshape(-1)), np.uint16(0x7FC0), rounded).astype(np.uint16)
    return rounded.reshape(f.shape)


def bf16_bits_to_f32(bits):
    b = np.asarray(bits, dtype=np.uint16)
    wide = np.left_shift(b.astype(np.uint32).reshape(-1), np.uint32(16), dtype=np.uint32)
    return wide.view(np.float32).reshape(b.shape)


def round_to(values, code):
    """A float64 array rounded to the result dtype `code`, as float64 (overflow gives inf)."""
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(all="ignore"):
        if code == BF16:
            return bf16_bits_to_f32(f32_to_bf16_bits(v.astype(np.float32))).astype(np.float64)
        return v.astype(NP_DTYPE[code]).astype(np.float64)


def ulp_of(values, code):
    """One unit in the last place of dtype `code` at |values| (the largest finite's past it)."""
    v = np.abs(np.asarray(values, dtype=np.float64))
    with np.errstate(all="ignore"):
        if code == BF16:
            big = float(bf16_bits_to_f32(np.uint16(0x7F7F)))
            v32 = np.minimum(v, big).astype(np.float32)
            return np.spacing(v32).astype(np.float64) * 65536.0
        dt = NP_DTYPE[code]
        v = np.minimum(v, float(np.finfo(dt).max)).astype(dt)
        return np.spacing(v).astype(np.float64)


def max_of(code):
    if code == BF16:
        return float(bf16_bits_to_f32(np.uint16(0x7F7F)))
    return float(np.finfo(NP_DTYPE[code]).max)


# ---------------------------------------------------------------------------------------------
# Calling corepy.

class Result:
    def __init__(self, rc, message, out, dtype, shape, meta_untouched, out_untouched):
        self.rc, self.message, self.out = rc, message, out
        self.dtype, self.shape = dtype, shape
        self.meta_untouched, self.out_untouched = meta_untouched, out_untouched


def generous_capacity(shape, axes):
    """Room for any result dtype (8 bytes an element) of reducing `shape` over `axes`, and more."""
    nd = len(shape)
    try:
        reduced = set(range(nd)) if axes is None else {a % nd for a in axes if -nd <= a < nd}
        kept = [shape[d] for d in range(nd) if d not in reduced]
        return max(8 * int(np.prod(kept, dtype=np.int64)), 256)
    except (ZeroDivisionError, ValueError, OverflowError):
        return 256


def call(lib, op_code, arr, dtype_code, axes, keepdims, ddof, capacity=None, null_data=False,
         ndim=None, shape=None, strides="view", slack=64):
    """corepy_reduce on the view `arr` (a numpy array; its strides are passed as they are).
    axes: None (naxes -1) or a list. capacity: default generous_capacity(); the buffer is
    capacity + slack bytes, all of them a sentinel before the call."""
    if shape is None:
        shape = arr.shape
    if ndim is None:
        ndim = len(shape)
    shape_c = (ctypes.c_int64 * max(len(shape), 1))(*shape)
    if strides == "view":
        strides_c = (ctypes.c_int64 * max(arr.ndim, 1))(*arr.strides)
    elif strides is None:
        strides_c = None
    else:
        strides_c = (ctypes.c_int64 * max(len(strides), 1))(*strides)
    data = None if null_data else arr.ctypes.data
    t = Tensor(data, dtype_code, ndim, shape_c, strides_c)
    if axes is None:
        axes_c, naxes = (ctypes.c_int32 * 1)(), -1
    else:
        axes_c, naxes = (ctypes.c_int32 * max(len(axes), 1))(*axes), len(axes)
    if capacity is None:
        capacity = generous_capacity(shape, axes)
    buf = np.full(capacity + slack, SENTINEL, dtype=np.uint8)
    od, on = ctypes.c_int32(-7), ctypes.c_int32(-7)
    osh = (ctypes.c_int64 * 32)(*([-7] * 32))
    rc = lib.corepy_reduce(op_code, ctypes.byref(t), axes_c, naxes, int(keepdims), ddof,
                           buf.ctypes.data, capacity, ctypes.byref(od), ctypes.byref(on), osh)
    message = lib.corepy_last_error().decode(errors="replace") if rc else ""
    if rc:
        meta_untouched = od.value == -7 and on.value == -7 and all(v == -7 for v in osh)
        return Result(rc, message, None, None, None, meta_untouched,
                      bool((buf == SENTINEL).all()))
    res_shape = tuple(osh[i] for i in range(on.value)) if 0 <= on.value <= 32 else None
    code = od.value
    if code not in NP_DTYPE or res_shape is None:
        return Result(rc, "", None, code, res_shape, True, True)
    size = int(np.prod(res_shape, dtype=np.int64)) if res_shape else 1
    nbytes = size * ITEMSIZE[code]
    out = buf[:nbytes].copy().view(NP_DTYPE[code]).reshape(res_shape)
    return Result(rc, "", out, code, res_shape, True, bool((buf[nbytes:] == SENTINEL).all()))


# ---------------------------------------------------------------------------------------------
# References.

def numpy_call(op, vals, axis_arg, keepdims, ddof):
    """numpy's result as numpy gives it (a scalar or an array), or the error it raises."""
    kw = {"axis": axis_arg, "keepdims": keepdims}
    if op in ("var", "std"):
        kw["ddof"] = ddof
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return getattr(np, op)(vals, **kw), None
    except (ValueError, TypeError, np.AxisError) as e:
        return None, e


def numpy_reduce(op, vals, axis_arg, keepdims, ddof):
    """numpy's result (an ndarray) or the message of the error it raises."""
    result, error = numpy_call(op, vals, axis_arg, keepdims, ddof)
    return (None, str(error)) if error is not None else (np.asarray(result), None)


def result_code(op, in_code, ref):
    """The C ABI dtype corepy must return, from numpy's result dtype (bfloat16 stays itself)."""
    if in_code == BF16 and ref.dtype == np.float32:
        return BF16
    return CODE_OF_NP[ref.dtype]


def reduced_count(shape, axes):
    if axes is None:
        return int(np.prod(shape, dtype=object)) if shape else 1
    nd = len(shape)
    count = 1
    for a in set(x % nd for x in axes) if nd else ():
        count *= shape[a]
    return count


LOG2 = {}


def sum_levels(n):
    """L of the sum bound: the additions an element's rounding error passes through. Reductions
    down a non-contiguous axis (columns) add up to 16 rows in sequence, then pairwise over those
    leaves: min(n, 16) + ceil(log2(ceil(n / 16))) + 1 (tests/python found a column of 10 rows 8.4 u S
    off, past the pairwise ceil(log2 n) + 2 this bound was)."""
    leaves = max(-(-n // 16), 1)
    return min(max(n, 1), 16) + math.ceil(math.log2(leaves)) + 1


def float_bound(op, in_code, out_code, xl, axis_arg, keepdims, ddof, n):
    """The documented bound: (reference, allowed |error|, overflow_possible), arrays over the
    result's elements; the reference in long double from the same elements. n is numpy's count
    of reduced elements, S the sum of their |x|, L = levels(n) below, u = 2^-24 when
    the accumulation is float32 (float32, float16, bfloat16 inputs) and 2^-53 otherwise, ulp_out
    one unit in the last place of the result dtype at |ref|:
      sum   L u S + ulp_out(ref)
      mean  max((L u S + ulp_out(sum)) / n, ulp_out(ref))
      prod  (n + 1) 2^-53 |ref| + ulp_out(ref) + n 2^-1074 B, B the product of the factors
            above 1 (each float64 partial product that underflows loses up to 2^-1075)
      var   2 ulp_out(ref) + n 2^-50 ssd + n delta^2 / max(n - ddof, 1), delta = L 2^-53 S / n
            (the float64 mean's error; this last term is not in the documented bound, see below)
      std   2 ulp_out(ref) + max(sqrt(v) - sqrt(max(v - e, 0)), sqrt(v + e) - sqrt(v)), e the var
            bound less its ulps
    A reference that is NaN or +-Inf must be matched. No rounding-error bound covers overflow
    of partial results (numpy's overflow too): where it is possible (the finite elements' S, or
    for prod the product of the factors above 1 or below 1, reach the accumulator's range), inf
    and NaN are accepted; a finite reference past the result dtype's max must give its inf."""
    acc_u = 2.0 ** -53 if in_code in (F64, I32, I64, BOOL) else 2.0 ** -24
    acc_max = float(np.finfo(np.float64).max) if acc_u == 2.0 ** -53 else max_of(F32)
    kw = {"axis": axis_arg, "keepdims": keepdims}
    with np.errstate(all="ignore"):
        absx = np.abs(xl)
        s_abs = np.sum(absx, **kw)
        # The finite elements' partial sums are bounded by their sum of |x|: past the
        # accumulator's max they may overflow (numpy's too), to inf, or to NaN beside an inf of
        # the other sign, which no rounding-error bound covers.
        s_abs_finite = np.sum(np.where(np.isfinite(absx), absx, 0), **kw)
        if op in ("sum", "mean"):
            ref = np.sum(xl, **kw)
            levels = sum_levels(n)
            bound = levels * acc_u * s_abs + ulp_of(ref, out_code)
            overflow = s_abs_finite * (1 + levels * acc_u) >= acc_max
            if op == "mean":
                ref = ref / n if n else ref * np.nan
                # At least an ulp of the mean: its own rounding, which the sum's ulp over n does
                # not cover when the mean is subnormal (found by tests/python).
                bound = np.maximum(bound / n, ulp_of(ref, out_code)) if n else bound
            return ref, bound, overflow
        if op == "prod":
            ref = np.prod(xl, **kw)
            bound = (n + 1) * 2.0 ** -53 * np.abs(ref) + ulp_of(ref, out_code)
            # Partial products in float64 may overflow (or underflow) where the final one does
            # not: the product of the factors above 1 (below 1) bounds them.
            big = np.prod(np.where(absx > 1, absx, 1), **kw)
            small = np.prod(np.where(absx < 1, absx, 1), **kw)
            overflow = (big >= float(np.finfo(np.float64).max) / 4) | (
                small <= float(np.finfo(np.float64).tiny) * 4)
            # A partial product that underflows into float64's subnormals loses up to half of
            # 2^-1074 whatever its order, and the later factors scale that loss by at most `big`:
            # orders differ there (hypothesis: 5e-324 * 0.5 * 2 is 0 one way, 1e-323 another).
            bound = bound + n * 2.0 ** -1074 * big
            return ref, bound, overflow
        # var, std: two passes in float64. The documented term n 2^-50 ssd covers the second
        # pass; the first pass's mean has an error delta up to the float64 mean's bound, which
        # adds n delta^2 to the sum of squared deviations (its first-order term cancels, as the
        # deviations from the exact mean sum to 0). That term matters when the mean is large
        # against the spread (int64 near 2^63, say: numpy's result has the same error).
        m = np.mean(xl, axis=axis_arg, keepdims=True)
        dev2 = (xl - m) ** 2
        ssd = np.sum(dev2, **kw)
        div = max(n - ddof, 0)
        var = ssd / div if div else ssd * np.inf  # 0 * inf is NaN, as numpy's 0 / 0
        var = np.where((ssd == 0) & (div == 0), np.nan, var)
        levels = sum_levels(n)
        delta = levels * 2.0 ** -53 * s_abs / max(n, 1)
        var_err = n * 2.0 ** -50 * ssd + n * delta ** 2 / max(div, 1)
        f64max = float(np.finfo(np.float64).max)
        finite_dev2 = np.where(np.isfinite(dev2), dev2, 0)
        overflow = (s_abs_finite >= f64max / 4) | (
            np.max(finite_dev2, **kw, initial=0) * max(n, 1) >= f64max / 4)
        if op == "var":
            return var, 2 * ulp_of(var, out_code) + var_err, overflow
        # The var bound through sqrt, on both sides: sqrt(v) - sqrt(v - e) below, sqrt(v + e) -
        # sqrt(v) above. Below bounds both while v >= e; under that the clamp at 0 makes it sqrt(v),
        # which at v = 0 is 0, where a computed var of up to e is still within its bound
        # (hypothesis: five equal int64 values near 2^54, whose float64 mean is one ulp off,
        # give a std of 4 where the reference is 0).
        std = np.sqrt(var)
        std_err = np.maximum(std - np.sqrt(np.maximum(var - var_err, 0)),
                             np.sqrt(var + var_err) - std)
        return std, 2 * ulp_of(std, out_code) + std_err, overflow


def check_float(got, ref, bound, overflow, out_code):
    """Indices (flat) of the result elements outside the bound; NaN and Inf classes checked."""
    r = np.asarray(ref, dtype=np.longdouble).ravel()
    g = np.asarray(got, dtype=np.float64).ravel() * np.ones(r.shape)
    b = np.asarray(bound, dtype=np.longdouble).ravel() * np.ones_like(r)
    ov = np.asarray(overflow).ravel() * np.ones(r.shape, dtype=bool)
    with np.errstate(all="ignore"):
        r_nan, r_inf = np.isnan(r), np.isinf(r)
        g_nan, g_inf = np.isnan(g), np.isinf(g)
        # A NaN reference must be matched; an infinite one too, or be NaN where partial results
        # may overflow.
        ok_nan = g_nan
        ok_inf = (g == r) | (ov & g_nan)
        # An infinite result: the interval reaches past the result dtype's largest finite, or
        # partial results may overflow.
        edge = np.where(g > 0, r + b, r - b)
        ok_g_inf = ov | (round_to(edge.astype(np.float64), out_code) == g)
        ok_finite = np.abs(g.astype(np.longdouble) - r) <= b
        # A finite reference past the dtype's max rounds to inf, which got is not.
        past = np.isinf(round_to(r.astype(np.float64), out_code))
        inner = np.where(r > 0, r - b, r + b)
        ok_finite &= ~past | ~np.isinf(round_to(inner.astype(np.float64), out_code))
    ok = np.where(r_nan, ok_nan,
                  np.where(r_inf, ok_inf,
                           np.where(g_nan, ov, np.where(g_inf, ok_g_inf, ok_finite))))
    return [int(i) for i in np.flatnonzero(~ok)]


# ---------------------------------------------------------------------------------------------
# Random cases.

def random_shape(rng, max_elements=2000):
    nd = int(rng.integers(0, 7))
    shape, total = [], 1
    for _ in range(nd):
        r = rng.random()
        if r < 0.05:
            d = 0
        elif r < 0.3:
            d = 1
        else:
            d = int(rng.integers(2, 9))
        if total * max(d, 1) > max_elements:
            d = 1
        total *= max(d, 1)
        shape.append(d)
    return tuple(shape)


def random_values(rng, code, size, special):
    if code in FLOAT_CODES:
        scale = [1.0, 10.0, 1000.0][int(rng.integers(0, 3))]
        dt = np.float32 if code == BF16 else NP_DTYPE[code]
        x = (rng.standard_normal(size) * scale).astype(np.float64)
        if rng.random() < 0.15:
            x = np.round(x)  # small integers: exact sums, ties in min/max/argmin
        if special and size:
            big = max_of(code)
            specials = [np.nan, np.inf, -np.inf, -0.0, 0.0, big, -big, big * 0.75, -big * 0.6,
                        big * rng.uniform(0.5, 1.0)]
            k = int(rng.integers(1, max(2, size // 4 + 1)))
            idx = rng.integers(0, size, k)
            x[idx] = rng.choice(specials, k)
        with np.errstate(all="ignore"):
            x = x.astype(dt)
        return f32_to_bf16_bits(x) if code == BF16 else x
    if code == BOOL:
        return rng.random(size) < [0.0, 0.1, 0.5, 0.9, 1.0][int(rng.integers(0, 5))]
    info = np.iinfo(NP_DTYPE[code])
    if special:
        # Near the extremes, so that sums and products wrap (int64 results wrap like numpy's).
        lo = rng.integers(info.min, info.min + 1000, size, dtype=np.int64)
        hi = rng.integers(info.max - 1000, info.max, size, dtype=np.int64, endpoint=True)
        small = rng.integers(-3, 4, size)
        pick = rng.integers(0, 3, size)
        x = np.where(pick == 0, lo, np.where(pick == 1, hi, small))
        return x.astype(NP_DTYPE[code])
    return rng.integers(-100, 101, size).astype(NP_DTYPE[code])


def random_view(rng, base, max_window=None):
    """A view of base; overlapping windows are up to max_window long (None: the axis)."""
    a = base
    if a.ndim and rng.random() < 0.4:
        steps = [slice(None), slice(None, None, -1), slice(None, None, 2), slice(1, None),
                 slice(None, None, -2)]
        a = a[tuple(steps[int(rng.integers(0, len(steps)))] for _ in range(a.ndim))]
    if a.ndim >= 2 and rng.random() < 0.3:
        a = a.transpose(rng.permutation(a.ndim))
    r = rng.random()
    if r < 0.08 and a.ndim < 6:
        a = np.broadcast_to(a, (int(rng.integers(0, 5)),) + a.shape)
    elif r < 0.2 and a.ndim:
        # A zero stride on some dims: each stands for its element 0 (as_strided), size 0..6.
        shape, strides = list(a.shape), list(a.strides)
        for d in range(a.ndim):
            if rng.random() < 0.4 and a.shape[d] > 0:
                shape[d], strides[d] = int(rng.integers(1, 7)), 0
        a = as_strided(a, shape=shape, strides=strides)
    elif r < 0.26 and 1 <= a.ndim < 6 and a.shape[-1] >= 2:
        # Overlapping windows along the last axis.
        longest = a.shape[-1] if max_window is None else min(a.shape[-1], max_window)
        a = sliding_window_view(a, int(rng.integers(1, longest + 1)), axis=a.ndim - 1)
    if rng.random() < 0.04:
        # Unaligned: a copy at byte offset 1 of a byte buffer.
        raw = np.zeros(a.nbytes + a.itemsize + 1, dtype=np.uint8)
        u = np.ndarray(a.shape, dtype=a.dtype, buffer=raw, offset=1)
        u[...] = a
        a = u[::-1] if (a.ndim and rng.random() < 0.5) else u
    return a


def random_axes(rng, op, nd):
    """The axes list (None: every axis) and numpy's axis argument for them."""
    if op in ("argmin", "argmax"):
        r = rng.random()
        if r < 0.35:
            return None, None
        if r < 0.42:
            return [], "arity"
        if r < 0.48:
            axes = [int(rng.integers(-nd - 1, nd + 1)) for _ in range(int(rng.integers(2, 4)))]
            return axes, "arity"
        a = int(rng.integers(-nd, nd)) if nd else int(rng.choice([0, -1]))
        if rng.random() < 0.08:
            a = int(rng.choice([nd, -nd - 1, 2**31 - 1, -2**31, 7]))
        return [a], a
    if rng.random() < 0.25:
        return None, None
    k = int(rng.integers(0, nd + 1))
    axes = [int(a) for a in rng.permutation(nd)[:k]]
    axes = [a - nd if rng.random() < 0.4 else a for a in axes]
    r = rng.random()
    if r < 0.05 and axes:
        axes.insert(int(rng.integers(0, len(axes) + 1)), axes[int(rng.integers(0, len(axes)))])
    elif r < 0.08 and axes:
        a = axes[0]
        axes.append(a - nd if a >= 0 else a + nd)  # the same axis, counted from the other end
    elif r < 0.13:
        axes.insert(int(rng.integers(0, len(axes) + 1)),
                    int(rng.choice([nd, -nd - 1, nd + 3, 2**31 - 1, -2**31])))
    return axes, tuple(axes)


class Checker:
    def __init__(self, lib):
        self.lib = lib
        self.failures = []
        self.cases = 0
        self.errors = 0
        self.capacity_checks = 0
        self.by_op = {op: 0 for op in OPS}
        self.by_dtype = {c: 0 for c in DTYPE_NAMES}

    def fail(self, what):
        self.failures.append(what)

    def case(self, op, code, arr, axes, axis_arg, keepdims, ddof, tag="", check_capacity=False,
             null_data=False):
        """One call checked against numpy. `arr` is what corepy sees (uint16 bits for bf16)."""
        self.cases += 1
        self.by_op[op] += 1
        self.by_dtype[code] += 1
        vals = bf16_bits_to_f32(arr) if code == BF16 else arr
        where = (f"{tag}{op} dtype={DTYPE_NAMES[code]} shape={arr.shape} strides={arr.strides} "
                 f"aligned={arr.flags.aligned} axes={axes} keepdims={keepdims} ddof={ddof}")
        res = call(self.lib, OP_CODE[op], arr, code, axes, keepdims, ddof, null_data=null_data)
        if axis_arg == "arity":
            ref, err = None, "argmin/argmax take one axis"
        else:
            ref, err = numpy_reduce(op, vals, axis_arg, keepdims, ddof)
        if err is not None:
            self.errors += 1
            if res.rc != ERROR_INVALID_ARGUMENT:
                self.fail(f"{where}: numpy raises ({err}) but corepy returned {res.rc}")
                return
            if not (res.meta_untouched and res.out_untouched):
                self.fail(f"{where}: error {res.message!r} but out or its description was "
                          f"written")
            self.check_message(where, op, arr.shape, axes, axis_arg, err, res.message)
            return
        if res.rc != 0:
            self.fail(f"{where}: numpy gives {ref.dtype}{ref.shape} but corepy returned {res.rc}: "
                      f"{res.message}")
            return
        want_code = result_code(op, code, ref)
        if res.dtype != want_code or res.shape != ref.shape:
            self.fail(f"{where}: result {DTYPE_NAMES.get(res.dtype, res.dtype)}{res.shape}, "
                      f"numpy's {DTYPE_NAMES[want_code]}{ref.shape}")
            return
        if not res.out_untouched:
            self.fail(f"{where}: bytes past the result were written")
        got = res.out
        if want_code == BF16:
            got = bf16_bits_to_f32(got)
        if want_code in FLOAT_CODES or (op in ("mean", "var", "std")):
            exact = op in ("min", "max")
        else:
            exact = True
        if exact:
            if not np.array_equal(np.asarray(got), ref, equal_nan=ref.dtype.kind == "f"):
                diff = np.flatnonzero(~((np.asarray(got) == ref) |
                                        ((np.isnan(got) & np.isnan(ref)) if ref.dtype.kind == "f"
                                         else False)).ravel())
                i = int(diff[0]) if diff.size else 0
                self.fail(f"{where}: {diff.size} of {ref.size} differ, first at flat {i}: "
                          f"corepy {np.asarray(got).ravel()[i]!r}, numpy {ref.ravel()[i]!r}")
        else:
            n = reduced_count(arr.shape, None if axis_arg is None else list(axes))
            # numpy's mean, var and std of int64 convert each element to float64 first (exact
            # for every other input dtype): those are the elements the reference starts from.
            xl = np.asarray(vals)
            if code == I64:
                xl = xl.astype(np.float64)
            xl = xl.astype(np.longdouble)
            rref, bound, overflow = float_bound(op, code, want_code, xl, axis_arg, keepdims,
                                                ddof, n)
            bad = check_float(got, rref, bound, overflow, want_code)
            if bad:
                i = bad[0]
                r = np.asarray(rref).ravel()[i]
                b = (np.asarray(bound) * np.ones_like(rref)).ravel()[i]
                g = np.asarray(got, dtype=np.float64).ravel()[i]
                self.fail(f"{where}: {len(bad)} of {ref.size} outside the bound, first at flat "
                          f"{i}: corepy {g!r}, reference {float(r)!r}, |error| "
                          f"{abs(float(np.longdouble(g) - r)) if np.isfinite(g) else 'inf'} > "
                          f"bound {float(b)!r} (n={n}); numpy {ref.ravel()[i]!r}")
        if check_capacity:
            self.check_capacity(op, code, arr, axes, keepdims, ddof, res, where)

    def check_capacity(self, op, code, arr, axes, keepdims, ddof, res, where):
        needed = res.out.nbytes
        self.capacity_checks += 1
        exact = call(self.lib, OP_CODE[op], arr, code, axes, keepdims, ddof, capacity=needed)
        if exact.rc != 0 or not exact.out_untouched or exact.out.tobytes() != res.out.tobytes():
            self.fail(f"{where}: with out_capacity={needed} (exact): rc {exact.rc} "
                      f"{exact.message!r}, or different bytes, or written past")
        if needed == 0:
            return
        short = call(self.lib, OP_CODE[op], arr, code, axes, keepdims, ddof, capacity=needed - 1)
        if short.rc != ERROR_INVALID_ARGUMENT or not (short.out_untouched and
                                                      short.meta_untouched):
            self.fail(f"{where}: out_capacity={needed - 1} gave rc {short.rc}, or wrote")
        elif f"needs {needed} bytes" not in short.message:
            self.fail(f"{where}: out_capacity={needed - 1}: message {short.message!r} does not "
                      f"name the {needed} bytes needed")

    def check_message(self, where, op, shape, axes, axis_arg, numpy_err, message):
        nd = len(shape)
        expected = []
        if axis_arg == "arity":
            expected.append("takes one axis")
        elif axes is not None:
            seen = set()
            for a in axes:
                if op in ("argmin", "argmax") and nd == 0 and a in (0, -1):
                    continue
                if a < -nd or a >= nd:
                    expected.append(f"axis {a} is out of bounds")
                elif a % nd in seen:
                    expected.append(f"duplicate value in 'axis': {a}")
                else:
                    seen.add(a % nd)
        if "zero-size" in numpy_err or "empty sequence" in numpy_err:
            expected.append({"min": "minimum", "max": "maximum"}.get(op, op))
        if not expected:
            self.fail(f"{where}: numpy's error {numpy_err!r} is not one this test knows")
        elif not any(e in message for e in expected):
            self.fail(f"{where}: message {message!r} names none of {expected} (numpy: "
                      f"{numpy_err!r})")


def regression_cases(checker):
    """Reproducers of bugs these tests found, now fixed: each must give numpy's answer."""
    lib = checker.lib
    # var and std of an empty reduction with ddof < 0: the sum of no squared deviations, 0,
    # over max(0 - ddof, 0) > 0 is 0.0 in numpy 1.24 (corepy gave NaN).
    for op in ("var", "std"):
        for shape, axes in (((0,), None), ((2, 0), [1])):
            x = np.zeros(shape, np.float64)
            want = getattr(np, op)(x, axis=None if axes is None else tuple(axes), ddof=-1)
            res = call(lib, OP_CODE[op], x, F64, axes, False, -1)
            checker.cases += 1
            if res.rc != 0 or not np.array_equal(res.out, want):
                checker.fail(f"{op} of float64 shape={shape} axes={axes} ddof=-1: corepy "
                             f"{res.out} (rc {res.rc}), numpy {want}")
    # A 0 in a kept dim, and reduced dims whose product passes 2^64 (none of them 0): by numpy's
    # rule the reduced dims are not empty, so min and max give an empty result (corepy refused
    # it as a zero-size reduction; found by tests/fuzz/reduce_fuzzer.cc). numpy itself cannot
    # make such an array, so the shape is passed to corepy directly.
    x = np.zeros(1, np.float32)
    for op in ("min", "max"):
        res = call(lib, OP_CODE[op], x, F32, [1, 2], False, 0, shape=(0, 2**62, 8),
                   strides=(4, 4, 4))
        checker.cases += 1
        if res.rc != 0 or res.shape != (0,):
            checker.fail(f"{op} of float32 shape (0, 2^62, 8) strides (4, 4, 4) reducing the "
                         f"non-empty dims: rc {res.rc} {res.message!r}; want an empty result")


def random_cases(checker, rng, count):
    codes = list(DTYPE_NAMES)
    for i in range(count):
        code = codes[i % len(codes)] if i < 2 * len(codes) else int(rng.choice(codes))
        special = rng.random() < 0.3
        shape = random_shape(rng)
        size = int(np.prod(shape, dtype=np.int64))
        base = random_values(rng, code, size, special).reshape(shape)
        arr = random_view(rng, base)
        op = OPS[i % len(OPS)] if rng.random() < 0.5 else OPS[int(rng.integers(0, len(OPS)))]
        axes, axis_arg = random_axes(rng, op, arr.ndim)
        keepdims = bool(rng.integers(0, 2))
        ddof = int(rng.choice([0, 0, 1, 1, 2, -1, -3, 5, 40]))
        null_data = arr.size == 0 and rng.random() < 0.5
        checker.case(op, code, arr, axes, axis_arg, keepdims, ddof,
                     check_capacity=rng.random() < 0.1, null_data=null_data)


# ---------------------------------------------------------------------------------------------
# Directed cases.

def directed_cases(checker, rng):
    c = checker
    # numpy's corner cases the implementation follows.
    c.case("max", F64, np.zeros((0, 0)), [1], (1,), False, 0, tag="empty reduced and result: ")
    c.case("max", F64, np.zeros((0, 3)), [1], (1,), False, 0, tag="empty result only: ")
    c.case("argmin", F32, np.zeros((0, 3), np.float32), [1], 1, False, 0, tag="empty result: ")
    c.case("argmax", F32, np.zeros((3, 0), np.float32), [1], 1, True, 0, tag="empty axis: ")
    scalar = np.array(2.5, dtype=np.float32)
    for op in OPS:
        c.case(op, F32, scalar, None, None, False, 0, tag="0-d: ")
        c.case(op, F32, scalar, [], "arity" if op.startswith("arg") else (), True, 0,
               tag="0-d axis=(): ")
        if op in ("argmin", "argmax"):
            for a in (0, -1, 1, -2):
                c.case(op, F32, scalar, [a], a, True, 0, tag="0-d: ")
        else:
            c.case(op, F32, scalar, [0], (0,), False, 0, tag="0-d: ")
    for ddof in (-2, 0, 3, 4, 100):
        for op in ("var", "std"):
            c.case(op, F64, np.arange(3.0), None, None, False, ddof, tag="ddof past n: ")
            c.case(op, F32, np.ones(3, np.float32), None, None, False, ddof, tag="constant: ")
    # NaN: min/max propagate it, argmin/argmax give the first NaN.
    x = np.array([[1, np.nan, 3, np.nan], [np.nan, -np.inf, np.inf, 2]], np.float32)
    for op in ("min", "max", "argmin", "argmax", "sum", "all", "any"):
        for axes, arg in ((None, None), ([0], 0), ([1], 1), ([-1], -1)):
            c.case(op, F32, x, axes, arg if op.startswith("arg") else
                   (None if axes is None else tuple(axes)), False, 0, tag="NaN: ")
    # Integer wraparound, exactly numpy's.
    big32 = np.full((5, 7), 2**31 - 1, np.int32)
    big64 = np.full((3, 4), 2**63 - 5, np.int64)
    for op in ("sum", "prod", "mean"):
        c.case(op, I32, big32, None, None, False, 0, tag="wrap: ")
        c.case(op, I32, big32, [0], (0,), False, 0, tag="wrap: ")
        c.case(op, I64, big64, [1], (1,), True, 0, tag="wrap: ")
    # float16 near its max: float32 accumulation, float16 result (inf past 65504).
    h = np.full((4, 3), 65504, np.float16)
    for op in ("sum", "mean", "prod", "var", "max"):
        c.case(op, F16, h, None, None, False, 0, tag="float16 max: ")
        c.case(op, F16, h[:1], [0], (0,), False, 0, tag="float16 max: ")
    # -0.0 is false, NaN true; -0.0 sums.
    z = np.array([-0.0, -0.0, np.nan, 0.0], np.float64)
    for op in ("all", "any", "sum", "min", "max"):
        c.case(op, F64, z[:2], None, None, False, 0, tag="-0.0: ")
        c.case(op, F64, z, None, None, False, 0, tag="NaN, -0.0: ")
    # Huge logical sizes through zero strides (corepy folds them in closed form; numpy would
    # visit every element, so the expected values are written out).
    one = np.array([1.5], np.float64)
    for shape in ((1 << 20, 1 << 20), (3, 1 << 40)):
        v = as_strided(one, shape=shape, strides=(0,) * len(shape))
        k = float(shape[1])
        for op, want_code, want in (("sum", F64, 1.5 * k), ("mean", F64, 1.5), ("max", F64, 1.5),
                                    ("var", F64, 0.0), ("all", BOOL, True), ("argmax", I64, 0)):
            res = call(c.lib, OP_CODE[op], v, F64, [1], False, 0)
            c.cases += 1
            if (res.rc != 0 or res.dtype != want_code or res.shape != shape[:1] or
                    not (res.out == want).all()):
                c.fail(f"broadcast huge: {op} of 1.5 over shape {shape} strides (0, 0) axis 1: "
                       f"rc {res.rc} {res.message!r} {res.dtype} {res.shape} "
                       f"{None if res.out is None else res.out[:3]}; want {want}")
    # Unaligned views of every dtype.
    for code in DTYPE_NAMES:
        base = random_values(rng, code, 60, False).reshape(5, 12)
        raw = np.zeros(base.nbytes + 16, np.uint8)
        u = np.ndarray(base.shape, dtype=base.dtype, buffer=raw, offset=1)
        u[...] = base
        for op in OPS:
            axes, arg = ([1], 1) if op.startswith("arg") else ([0, -1], (0, -1))
            c.case(op, code, u[::-1, ::2], axes, arg, False, 1, tag="unaligned: ",
                   check_capacity=True)


def bad_argument_cases(checker):
    lib, c = checker.lib, checker
    x = np.arange(12, dtype=np.float32).reshape(3, 4)

    def expect(rc_want, words, res, what):
        c.cases += 1
        if res.rc != rc_want or not all(w in res.message for w in words):
            c.fail(f"{what}: rc {res.rc} {res.message!r}; want rc {rc_want} naming {words}")
        elif not (res.meta_untouched and res.out_untouched):
            c.fail(f"{what}: an error wrote out or its description")

    expect(ERROR_NULL_POINTER, ["data is NULL"],
           call(lib, 1, x, F32, None, False, 0, null_data=True), "NULL data with elements")
    for op in (0, len(OPS) + 1, -1, 2**31 - 1, -2**31):
        expect(ERROR_INVALID_ARGUMENT, ["unknown op", str(op)],
               call(lib, op, x, F32, None, False, 0), f"op {op}")
    for dt in (0, 8, -1, 2**31 - 1):
        expect(ERROR_INVALID_ARGUMENT, ["unknown dtype", str(dt)],
               call(lib, 1, x, dt, None, False, 0), f"dtype {dt}")
    for nd in (33, -1, 2**31 - 1, -2**31):
        expect(ERROR_INVALID_ARGUMENT, [f"ndim={nd}"],
               call(lib, 1, x, F32, None, False, 0, ndim=nd, shape=[1] * 40, strides=[0] * 40),
               f"ndim {nd}")
    expect(ERROR_INVALID_ARGUMENT, ["negative", "-3"],
           call(lib, 1, x, F32, None, False, 0, shape=(3, -3), strides=(16, 4)), "negative dim")
    expect(ERROR_INVALID_ARGUMENT, ["overflows"],
           call(lib, 1, x, F32, None, False, 0, shape=(2**40, 2**40), strides=(4, 4)),
           "element count overflow")
    expect(ERROR_INVALID_ARGUMENT, ["overflows"],
           call(lib, 1, x, F32, None, False, 0, shape=(3, 2**31), strides=(2**62, 4)),
           "byte extent overflow")
    expect(ERROR_INVALID_ARGUMENT, ["overflows"],
           call(lib, 1, x, F32, None, False, 0, shape=(2, 2), strides=(-2**63, 4)),
           "INT64_MIN stride")
    expect(ERROR_INVALID_ARGUMENT, ["spans more bytes"],
           call(lib, 1, x, F64, None, False, 0, shape=(2**31, 2**31), strides=None),
           "C-contiguous extent overflow")
    # A zero dim makes any shape empty: nothing is read, sum is 0.
    res = call(lib, 1, x, F32, [1], False, 0, shape=(0, 2**62), strides=(2**62, 2**62),
               null_data=True)
    c.cases += 1
    if res.rc != 0 or res.shape != (0,):
        c.fail(f"empty view with huge dims: rc {res.rc} {res.message!r} shape {res.shape}")
    # The axes pointer: NULL with naxes > 0; more axes than dims.
    shape_c = (ctypes.c_int64 * 2)(3, 4)
    t = Tensor(x.ctypes.data, F32, 2, shape_c, None)
    out = np.zeros(64, np.uint8)
    od, on, osh = ctypes.c_int32(), ctypes.c_int32(), (ctypes.c_int64 * 32)()
    rc = lib.corepy_reduce(1, ctypes.byref(t), None, 1, 0, 0, out.ctypes.data, 64,
                           ctypes.byref(od), ctypes.byref(on), osh)
    c.cases += 1
    if rc != ERROR_NULL_POINTER or b"axes is NULL" not in lib.corepy_last_error():
        c.fail(f"NULL axes with naxes 1: rc {rc} {lib.corepy_last_error()!r}")
    rc = lib.corepy_reduce(1, None, None, -1, 0, 0, out.ctypes.data, 64, ctypes.byref(od),
                           ctypes.byref(on), osh)
    c.cases += 1
    if rc != ERROR_NULL_POINTER or b"in is NULL" not in lib.corepy_last_error():
        c.fail(f"NULL in: rc {rc}")
    rc = lib.corepy_reduce(1, ctypes.byref(t), None, -1, 0, 0, out.ctypes.data, 64, None,
                           ctypes.byref(on), osh)
    c.cases += 1
    if rc != ERROR_NULL_POINTER:
        c.fail(f"NULL out_dtype: rc {rc}")
    rc = lib.corepy_reduce(1, ctypes.byref(t), None, -1, 0, 0, None, 64, ctypes.byref(od),
                           ctypes.byref(on), osh)
    c.cases += 1
    if rc != ERROR_NULL_POINTER or b"out is NULL" not in lib.corepy_last_error():
        c.fail(f"NULL out with a 4-byte result: rc {rc}")
    # NULL out is fine when the result is empty.
    res_shape = (ctypes.c_int64 * 2)(0, 4)
    t0 = Tensor(None, F32, 2, res_shape, None)
    rc = lib.corepy_reduce(1, ctypes.byref(t0), (ctypes.c_int32 * 1)(1), 1, 0, 0, None, 0,
                           ctypes.byref(od), ctypes.byref(on), osh)
    c.cases += 1
    if rc != 0 or on.value != 1 or osh[0] != 0:
        c.fail(f"NULL out with an empty result: rc {rc} {lib.corepy_last_error()!r}")
    axes40 = list(range(2)) * 20
    c.case("sum", F32, x, axes40, tuple(axes40), False, 0, tag="40 axes: ")


def large_cases(checker, rng):
    """Inputs past the parallel threshold (512 KiB): checked against numpy and computed twice,
    bit for bit."""
    lib = checker.lib
    big32 = rng.standard_normal((1000, 1000)).astype(np.float32)
    big64 = rng.standard_normal((600, 700))
    wide = (rng.standard_normal((3, 200000)) * 100).astype(np.float32)
    bigh = rng.standard_normal((700, 800)).astype(np.float16)
    bigb = f32_to_bf16_bits(rng.standard_normal((512, 1024)).astype(np.float32))
    plan = [(F32, big32, ("sum", "mean", "var", "min", "argmax", "prod", "any")),
            (F32, big32.T, ("sum", "std")),
            (F32, big32[::-1, ::2], ("sum", "max")),
            (F64, big64, ("sum", "mean", "std", "argmin", "prod")),
            (F32, wide, ("sum", "mean", "argmin")),
            (F16, bigh, ("sum", "mean", "var")),
            (BF16, bigb, ("sum", "mean", "max"))]
    for code, arr, ops in plan:
        for op in ops:
            for axis in (None, 0, 1):
                axes = None if axis is None else [axis]
                arg = axis if op.startswith("arg") else (None if axis is None else (axis,))
                checker.case(op, code, arr, axes, arg, False, 0, tag="large: ")
                a = call(lib, OP_CODE[op], arr, code, axes, False, 0)
                b = call(lib, OP_CODE[op], arr, code, axes, False, 0)
                checker.cases += 1
                if a.rc or b.rc or a.out.tobytes() != b.out.tobytes():
                    checker.fail(f"large {op} {DTYPE_NAMES[code]}{arr.shape} axis={axis}: two "
                                 f"calls differ (rc {a.rc}, {b.rc})")


def medium_shape(rng):
    """1 to 4 dims holding 2^11 to 2^19.5 elements (past the parallel threshold, 512 KiB, for
    most dtypes at the top): dims drawn from powers of two and their neighbours, where the
    kernels' blocks, tiles and SIMD tails change, and from any size."""
    target = int(2 ** rng.uniform(11, 19.5))
    nd = int(rng.integers(1, 5))
    edges = [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257,
             1000, 1023, 1024, 1025, 4095, 4096, 4097]
    shape, total = [], 1
    for d in range(nd):
        if d == nd - 1:
            dim = max(target // total, 1)
        elif rng.random() < 0.6:
            dim = int(rng.choice(edges))
        else:
            dim = int(2 ** rng.uniform(0, 12))
        dim = max(min(dim, target // total), 1)
        total *= dim
        shape.append(dim)
    return tuple(int(x) for x in rng.permutation(shape))


def medium_cases(checker, rng, count):
    """Random cases at sizes the small ones never reach (long runs and columns, many rows, the
    parallel split): every dtype and op, random views and axes; each computed twice, bit for
    bit (the parallel results are deterministic)."""
    codes = list(DTYPE_NAMES)
    for i in range(count):
        code = codes[i % len(codes)]
        shape = medium_shape(rng)
        size = int(np.prod(shape, dtype=np.int64))
        base = random_values(rng, code, size, rng.random() < 0.3).reshape(shape)
        arr = random_view(rng, base, max_window=8)
        op = OPS[int(rng.integers(0, len(OPS)))]
        axes, axis_arg = random_axes(rng, op, arr.ndim)
        keepdims = bool(rng.integers(0, 2))
        ddof = int(rng.choice([0, 1]))
        checker.case(op, code, arr, axes, axis_arg, keepdims, ddof, tag="medium: ")
        a = call(checker.lib, OP_CODE[op], arr, code, axes, keepdims, ddof)
        b = call(checker.lib, OP_CODE[op], arr, code, axes, keepdims, ddof)
        checker.cases += 1
        if a.rc != b.rc or (a.rc == 0 and a.out.tobytes() != b.out.tobytes()):
            checker.fail(f"medium {op} {DTYPE_NAMES[code]}{arr.shape} strides {arr.strides} "
                         f"axes={axes}: two calls differ (rc {a.rc}, {b.rc})")


def main(path):
    warnings.simplefilter("ignore", RuntimeWarning)  # numpy's on empty slices and overflow
    seed = int(os.environ.get("COREPY_REDUCE_TEST_SEED", "20240611"))
    count = int(os.environ.get("COREPY_REDUCE_TEST_CASES", "6000"))
    medium = int(os.environ.get("COREPY_REDUCE_TEST_MEDIUM_CASES", "140"))
    lib = load(path)
    checker = Checker(lib)
    rng = np.random.default_rng(seed)
    start = time.time()
    bad_argument_cases(checker)
    directed_cases(checker, rng)
    large_cases(checker, rng)
    random_cases(checker, rng, count)
    medium_cases(checker, rng, medium)
    regression_cases(checker)
    elapsed = time.time() - start
    print(f"seed {seed}: {checker.cases} cases ({checker.errors} numpy errors, "
          f"{checker.capacity_checks} capacity checks) in {elapsed:.1f} s")
    print("  by op:", ", ".join(f"{k} {v}" for k, v in checker.by_op.items()))
    print("  by dtype:", ", ".join(f"{DTYPE_NAMES[k]} {v}" for k, v in checker.by_dtype.items()))
    for f in checker.failures[:40]:
        print("FAIL:", f)
    if checker.failures:
        print(f"{len(checker.failures)} failed (COREPY_REDUCE_TEST_SEED={seed})")
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
