"""The original design's raw-pointer entry points, tensor_sum_f32(ptr, count) and siblings,
against numpy, and their GIL threshold."""
import numpy as np

import corepy


def test_pointer_entry_points_match_numpy():
    rng = np.random.default_rng(7)
    for n in (0, 1, 7, 1000, 100_003):
        f = rng.standard_normal(n).astype(np.float32)
        i = rng.integers(-2**31, 2**31, n, dtype=np.int32)
        b = rng.random(n) < 0.5
        got = corepy.tensor_sum_f32(f.ctypes.data, n)
        assert type(got) is float
        assert abs(got - float(np.sum(f, dtype=np.float64))) <= 1e-5 * max(1.0, np.abs(f).sum())
        assert corepy.tensor_sum_i32(i.ctypes.data, n) == int(np.sum(i, dtype=np.int64))
        mean = corepy.tensor_mean_f32(f.ctypes.data, n)
        assert (np.isnan(mean) if n == 0 else
                abs(mean - float(np.mean(f, dtype=np.float64))) <= 1e-5 * max(1.0, abs(mean)))
        assert corepy.tensor_all_bool(b.ctypes.data, n) is bool(np.all(b))
        assert corepy.tensor_any_bool(b.ctypes.data, n) is bool(np.any(b))


def test_each_call_is_counted_in_the_per_op_stats():
    f = np.ones(100, np.float32)
    with corepy.statistics() as s:
        corepy.tensor_sum_f32(f.ctypes.data, 100)
        corepy.tensor_mean_f32(f.ctypes.data, 100)
    assert s.calls == 2 and set(s.ops) == {"sum_f32", "mean_f32"}
