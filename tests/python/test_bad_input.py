"""Bad input to corepy's reductions: each is an error of numpy's type naming what was wrong;
never a crash, never a silent wrong answer."""
import array

import numpy as np
import pytest

import corepy

REDUCTIONS = ["sum", "prod", "mean", "var", "std", "min", "max", "argmin", "argmax", "all", "any",
              "count_nonzero"]
SUPPORTED = "float32, float64, int32, int64, bool, float16"

# Every numpy dtype corepy does not take, with the name the error must give.
UNSUPPORTED = [
    (np.int8, "int8"), (np.int16, "int16"), (np.uint8, "uint8"), (np.uint16, "uint16"),
    (np.uint32, "uint32"), (np.uint64, "uint64"), (np.longdouble, "longdouble"),
    (np.complex64, "complex64"), (np.complex128, "complex128"), (np.object_, "object"),
    (np.dtype("S3"), "bytes"), (np.dtype("U3"), "str"), (np.dtype(">f4"), "big-endian float32"),
    (np.dtype(">i8"), "big-endian int64"), (np.dtype([("x", np.float32)]), "structured"),
    (np.dtype("M8[s]"), "datetime64[s]"), (np.dtype("m8[s]"), "timedelta64[s]"),
]


@pytest.mark.parametrize("op", REDUCTIONS)
@pytest.mark.parametrize("dtype,name", UNSUPPORTED, ids=[n for _, n in UNSUPPORTED])
def test_an_unsupported_dtype_is_a_type_error_naming_it_and_the_supported_ones(op, dtype, name):
    a = np.zeros(4, dtype=dtype)
    with pytest.raises(TypeError) as e:
        getattr(corepy, op)(a)
    message = str(e.value)
    assert f"corepy.{op}" in message and name in message and SUPPORTED in message, message


@pytest.mark.parametrize("obj", [[1.0, 2.0], (1, 2), 3.0, None, "text", {1: 2}, object()],
                         ids=lambda o: type(o).__name__)
def test_objects_without_the_buffer_protocol_are_a_type_error(obj):
    with pytest.raises(TypeError, match=f"corepy.sum: a must support the buffer protocol.*got "
                                        f"{type(obj).__name__}"):
        corepy.sum(obj)


def test_other_buffers_of_a_supported_format_work_and_bytes_do_not():
    assert corepy.sum(array.array("d", [1.5, 2.5])) == 4.0
    assert corepy.sum(array.array("i", [1, 2, 3])) == 6
    assert corepy.max(memoryview(np.arange(6, dtype=np.int64)).cast("B").cast("q")) == 5
    with pytest.raises(TypeError, match=r"uint8 \(buffer format 'B'\)"):
        corepy.sum(b"abc")


def test_read_only_buffers_are_read():
    a = np.arange(10, dtype=np.float32)
    a.flags.writeable = False
    assert corepy.sum(a) == 45
    assert corepy.sum(memoryview(a)) == 45  # a read-only memoryview
    assert corepy.sum(np.frombuffer(b"\x00\x00\x80\x3f" * 4, dtype=np.float32)) == 4


def test_non_contiguous_buffers_are_read_in_place():
    base = np.arange(48, dtype=np.float64).reshape(6, 8)
    for view in (base[::2, ::-3], base.T, base[1:5, 2:7:2], memoryview(base[::2, 1::3])):
        np.testing.assert_allclose(corepy.sum(view, axis=0), np.sum(np.asarray(view), axis=0))
    # A negative-stride view of a read-only array.
    ro = base.copy()
    ro.flags.writeable = False
    assert corepy.argmax(ro[::-1, ::-1]) == np.argmax(ro[::-1, ::-1])


def test_a_0d_array_reduces_and_refuses_axes_as_numpy():
    z = np.array(2.5, dtype=np.float32)
    assert corepy.sum(z) == 2.5 and type(corepy.sum(z)) is np.float32
    assert corepy.sum(z, axis=0) == 2.5  # numpy's ufunc reductions take axis 0 or -1 of a 0-d
    assert corepy.argmax(z, axis=-1) == 0
    for op, axis in (("mean", 0), ("sum", (0,)), ("sum", 1), ("var", -1), ("min", (-1,))):
        with pytest.raises(np.AxisError, match="out of bounds for array of dimension 0"):
            getattr(corepy, op)(z, axis=axis)


@pytest.mark.parametrize("axis", [2, -3, 2**31, -2**31 - 1, 2**63, -2**63 - 5, 2**200, (0, 7),
                                  (0, -2**100)])
def test_huge_or_negative_axes_are_axis_errors_naming_them(axis):
    a = np.ones((3, 4), np.float32)
    with pytest.raises(np.AxisError) as e:
        corepy.sum(a, axis=axis)
    shown = axis if isinstance(axis, int) else axis[1]
    assert f"axis {shown} is out of bounds for array of dimension 2" in str(e.value)


def test_axis_types_and_repeats_as_numpy():
    a = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="duplicate value in 'axis'"):
        corepy.sum(a, axis=(1, -1))
    with pytest.raises(TypeError, match="'list' object cannot be interpreted as an integer"):
        corepy.sum(a, axis=[0])
    with pytest.raises(TypeError):
        corepy.sum(a, axis=1.0)
    with pytest.raises(TypeError, match="'tuple' object cannot be interpreted as an integer"):
        corepy.argmin(a, axis=(0,))
    with pytest.raises(TypeError, match="ddof must be an int"):
        corepy.var(a, ddof=1.5)


def test_empty_min_max_argmin_argmax_are_value_errors_as_numpy():
    e = np.zeros((0, 3), np.float64)
    for op in ("min", "max", "argmin", "argmax"):
        with pytest.raises(ValueError, match="zero-size array|empty sequence|no identity"):
            getattr(corepy, op)(e)
    assert corepy.max(e, axis=1).shape == (0,)
    assert np.isnan(corepy.mean(e))


def test_more_dimensions_than_corepy_takes_is_a_value_error():
    # numpy stops at 32 dims; a memoryview goes to 64.
    a = memoryview(np.ones(1, np.float32)).cast("B").cast("f", [1] * 33)
    with pytest.raises(ValueError, match="33"):
        corepy.sum(a)
    assert corepy.sum(memoryview(np.ones(1, np.float32)).cast("B").cast("f", [1] * 32)) == 1


def test_pointer_entry_points_refuse_bad_arguments():
    a = np.ones(4, np.float32)
    with pytest.raises(ValueError, match=r"ptr is 0 \(NULL\) but count is 3"):
        corepy.tensor_sum_f32(0, 3)
    assert corepy.tensor_sum_f32(0, 0) == 0.0
    with pytest.raises(ValueError, match="count is -1"):
        corepy.tensor_sum_f32(a.ctypes.data, -1)
    with pytest.raises(OverflowError):
        corepy.tensor_sum_f32(-1, 1)
    with pytest.raises(TypeError, match="both must be int"):
        corepy.tensor_mean_f32(a.ctypes.data, 4.0)
    with pytest.raises(TypeError, match="takes 2 positional arguments"):
        corepy.tensor_all_bool(a.ctypes.data)
