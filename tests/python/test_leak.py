"""A million calls through the binding, over every path that allocates (numpy outputs and
scalars, buffers, error messages): RSS stays flat."""
import numpy as np

import corepy


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


def calls(n):
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    v = a[:, ::2]
    u8 = np.zeros(3, np.uint8)
    ptr = a.ctypes.data
    for i in range(n // 8):
        corepy.sum(a)
        corepy.mean(v, axis=0)
        corepy.argmax(v, axis=1, keepdims=True)
        corepy.var(memoryview(a), axis=(0, 1), ddof=1)
        corepy.tensor_sum_f32(ptr, 24)
        corepy.tensor_all_bool(ptr, 8)
        try:
            corepy.sum(u8)
        except TypeError:
            pass
        try:
            corepy.sum(a, axis=5)
        except np.AxisError:
            pass


def test_a_million_calls_keep_rss_flat():
    calls(100_000)  # warm-up: caches, pools, the interpreter's free lists
    before = rss_kib()
    calls(1_000_000)
    grown = rss_kib() - before
    # A leak of one byte per call would be about 1000 KiB.
    assert grown < 512, f"RSS grew {grown} KiB over a million calls"
