"""corepy's numpy-compatible reductions against numpy 1.24, property-based (hypothesis).

Random dtypes, shapes (0-size and size-1 dims included), values (NaN, +-Inf, -0.0, the dtype's
extremes, integers that wrap), views (reversed, stepped, transposed, broadcast, unaligned,
memoryviews), axes (None, ints, tuples, negative, out of range, repeated), keepdims and ddof.
Each result must have numpy's type, dtype and shape; integer, bool, min, max, argmin, argmax,
all, any and count_nonzero results numpy's values exactly; float sums, products, means,
variances and standard deviations numpy's values or the documented bound of a long-double
reference (the bound tests/ops/reduce_numpy_test.py holds the C ABI to). Where numpy raises,
corepy raises the same type (numpy.AxisError, ValueError, TypeError).
"""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.lib.stride_tricks import as_strided

import corepy
import reduce_numpy_test as ref

OPS = ["sum", "prod", "mean", "var", "std", "min", "max", "argmin", "argmax", "all", "any",
       "count_nonzero"]
EXACT_OPS = {"min", "max", "argmin", "argmax", "all", "any", "count_nonzero"}
DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_, np.float16]


def values(dtype):
    dt = np.dtype(dtype)
    if dt.kind == "f":
        info = np.finfo(dt)
        specials = st.sampled_from([np.nan, np.inf, -np.inf, -0.0, 0.0, float(info.max),
                                    -float(info.max), float(info.tiny)])
        ordinary = st.floats(-1000, 1000, width=dt.itemsize * 8)
        small_ints = st.integers(-20, 20).map(float)
        return st.one_of(ordinary, ordinary, small_ints, specials)
    if dt.kind == "b":
        return st.booleans()
    info = np.iinfo(dt)
    return st.one_of(st.integers(-100, 100), st.integers(info.min, info.max),
                     st.sampled_from([info.min, info.max, info.max - 1, info.min + 1]))


@st.composite
def arrays(draw, dtypes=DTYPES):
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6))
    base = draw(hnp.arrays(dtype, shape, elements=values(dtype)))
    return draw(views(base))


@st.composite
def views(draw, a):
    """A view of `a`: stepped, reversed, transposed, broadcast, unaligned or a memoryview."""
    if a.ndim:
        steps = draw(st.lists(st.sampled_from([slice(None), slice(None, None, -1),
                                               slice(None, None, 2), slice(1, None),
                                               slice(None, None, -2)]),
                              min_size=a.ndim, max_size=a.ndim))
        a = a[tuple(steps)]
    if a.ndim >= 2 and draw(st.booleans()):
        a = a.transpose(draw(st.permutations(range(a.ndim))))
    kind = draw(st.sampled_from(["plain"] * 6 + ["broadcast", "unaligned", "memoryview"]))
    if kind == "broadcast" and a.ndim:
        d = draw(st.integers(0, a.ndim - 1))
        shape, strides = list(a.shape), list(a.strides)
        if shape[d] > 0:
            shape[d], strides[d] = draw(st.integers(1, 5)), 0
            a = as_strided(a, shape=shape, strides=strides)
    elif kind == "unaligned":
        raw = np.zeros(a.nbytes + a.itemsize + 1, np.uint8)
        u = np.ndarray(a.shape, dtype=a.dtype, buffer=raw, offset=1)
        u[...] = a
        a = u
    elif kind == "memoryview":
        return memoryview(a)
    return a


def axis_args(op, ndim):
    """numpy's axis argument: None, an int (in range or not) or a tuple (argmin/argmax: int)."""
    one = st.integers(-ndim - 2, ndim + 1) if ndim else st.sampled_from([0, -1, 1])
    if op in ("argmin", "argmax"):
        return st.one_of(st.none(), one)
    tuples = st.lists(st.integers(-ndim - 1, ndim), max_size=ndim + 1).map(tuple)
    return st.one_of(st.none(), one, tuples)


def check_against_numpy(op, a, axis, keepdims, ddof):
    want, error = ref.numpy_call(op, np.asarray(a), axis, keepdims, ddof)
    kw = {"axis": axis, "keepdims": keepdims}
    if op in ("var", "std"):
        kw["ddof"] = ddof
    if error is not None:
        with pytest.raises(type(error)):
            getattr(corepy, op)(a, **kw)
        return
    got = getattr(corepy, op)(a, **kw)
    # count_nonzero over every axis gives a Python int in numpy; corepy, numpy.int64.
    if op == "count_nonzero" and axis is None and not keepdims:
        want = np.int64(want)
    assert type(got) is type(want), f"{op}: {type(got)} where numpy gives {type(want)}"
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (
        f"{op}: {got.dtype}{got.shape} where numpy gives {want.dtype}{want.shape}")
    x = np.asarray(a)
    if op in EXACT_OPS or x.dtype.kind in "bi" and op in ("sum", "prod"):
        assert np.array_equal(got, want, equal_nan=want.dtype.kind == "f"), (
            f"{op}: {got} where numpy gives {want}")
        return
    axes = None if axis is None else ([axis] if isinstance(axis, int) else list(axis))
    n = ref.reduced_count(x.shape, axes)
    if op in ("var", "std") and n - ddof <= 0:
        # Squared deviations over max(n - ddof, 0) = 0: NaN when they sum to 0, else inf; which
        # one depends on the rounding of the mean, so either is numpy's answer too.
        assert np.all(np.isnan(got) | np.isinf(got)), f"{op}: {got} over n - ddof <= 0"
        return
    # Float results: within the documented bound of the long-double reference.
    code = ref.CODE_OF_NP[x.dtype]
    out_code = ref.CODE_OF_NP[want.dtype]
    xl = (x.astype(np.float64) if x.dtype == np.int64 else x).astype(np.longdouble)
    reference, bound, overflow = ref.float_bound(op, code, out_code, xl, axis, keepdims, ddof, n)
    bad = ref.check_float(got, reference, bound, overflow, out_code)
    # numpy's own answer passes too: the bound assumes no partial result overflows or underflows
    # (subnormal products, squared deviations of subnormals), and there numpy rounds as corepy.
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    bad = [i for i in bad if not same.ravel()[i]]
    if bad:
        i = bad[0]
        r = np.asarray(reference).ravel()[i]
        b = (np.asarray(bound) * np.ones_like(reference)).ravel()[i]
        pytest.fail(f"{op} of {x.dtype}{x.shape} strides {x.strides} axis={axis} "
                    f"keepdims={keepdims} ddof={ddof}: {len(bad)} of {got.size} outside the "
                    f"bound; first at flat {i}: corepy {got.ravel()[i]!r}, numpy "
                    f"{want.ravel()[i]!r}, reference {float(r)!r}, bound {float(b)!r}")


@settings(max_examples=2000)
@given(data=st.data(), op=st.sampled_from(OPS), keepdims=st.booleans(),
       ddof=st.sampled_from([0, 0, 1, 2, -1, 7]))
def test_reductions_match_numpy(data, op, keepdims, ddof):
    a = data.draw(arrays())
    ndim = np.asarray(a).ndim if not isinstance(a, memoryview) else a.ndim
    axis = data.draw(axis_args(op, ndim))
    if op == "count_nonzero":
        keepdims = keepdims and axis is not None  # numpy 1.24's count_nonzero(axis=None) ignores it
    check_against_numpy(op, a, axis, keepdims, ddof)


@settings(max_examples=300)
@given(a=hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=40),
                    elements=st.floats(-1e6, 1e6, width=32)),
       op=st.sampled_from(["sum", "mean", "var", "min", "argmax"]))
@example(a=np.ones((40, 40, 40), np.float32), op="sum")
def test_larger_float32_views_match_numpy(a, op):
    """Enough elements per call for the packed, column and (past 512 KiB) parallel kernels."""
    for view in (a, a[::-1], a.T if a.ndim > 1 else a[::2]):
        check_against_numpy(op, view, None, False, 0)
        check_against_numpy(op, view, view.ndim - 1 if op == "argmax" else 0, True, 0)


def test_a_large_parallel_reduction_matches_numpy():
    a = np.random.default_rng(1).random((1024, 1024), dtype=np.float32)  # 4 MiB: split
    for axis in (None, 0, 1):
        check_against_numpy("sum", a, axis, False, 0)
        check_against_numpy("var", a, axis, False, 1)


def test_results_are_numpy_scalars_or_new_arrays():
    a = np.arange(12, dtype=np.int32).reshape(3, 4)
    assert type(corepy.sum(a)) is np.int64 and corepy.sum(a) == 66
    assert type(corepy.mean(a)) is np.float64
    assert type(corepy.all(a)) is np.bool_
    r = corepy.sum(a, axis=0)
    assert isinstance(r, np.ndarray) and r.flags.c_contiguous and r.flags.owndata
    assert corepy.sum(a, axis=()).shape == (3, 4)  # axis=() converts to the result dtype
    assert corepy.sum(a, axis=(), keepdims=True).dtype == np.int64


def test_arguments_by_keyword_and_position():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    assert corepy.var(a, 1, True, 1).shape == (2, 1)
    np.testing.assert_allclose(corepy.var(a, axis=1, keepdims=True, ddof=1),
                               np.var(a, axis=1, keepdims=True, ddof=1))
    np.testing.assert_allclose(corepy.std(a=a, ddof=1), np.std(a, ddof=1))
    with pytest.raises(TypeError, match="unexpected keyword argument 'ddof'"):
        corepy.sum(a, ddof=1)
    with pytest.raises(TypeError, match="multiple values for argument 'axis'"):
        corepy.sum(a, 0, axis=1)
    with pytest.raises(TypeError, match="at most 3 arguments"):
        corepy.sum(a, 0, False, 1)
    with pytest.raises(TypeError, match="missing required argument 'a'"):
        corepy.sum(axis=0)
