"""The GIL is released while a kernel runs: another Python thread makes progress during a long
reduction. Inputs under GIL_RELEASE_BYTES keep it (releasing it costs more than they take)."""
import threading
import time

import numpy as np
from numpy.lib.stride_tricks import as_strided

import corepy


def long_input(seconds):
    """An overlapping view (1 MiB of memory, many more elements) whose sum takes about
    `seconds` here: calibrated, since -c opt and fastbuild kernels differ by 10x and more."""
    base = np.ones(1 << 18, np.float32)
    rows = 64
    while True:
        view = as_strided(base, shape=(rows, (1 << 18) - rows), strides=(4, 4))
        start = time.perf_counter()
        corepy.sum(view)
        if time.perf_counter() - start >= seconds or rows >= 1 << 17:
            return view
        rows *= 2


def test_another_thread_runs_during_a_long_reduction():
    view = long_input(0.3)
    ticks = []
    done = threading.Event()
    span = []

    def reduce():
        start = time.perf_counter()
        corepy.sum(view)
        span.extend([start, time.perf_counter()])
        done.set()

    worker = threading.Thread(target=reduce)
    worker.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
    worker.join()
    start, end = span
    inside = [t for t in ticks if start <= t <= end]
    gaps = np.diff([start] + inside + [end])
    # With the GIL held for the whole kernel this thread would stop for all of it: one gap as
    # long as the call. Released, it keeps ticking (gaps of the switch interval at most).
    assert len(inside) > 100, f"{len(inside)} ticks in a {end - start:.3f} s reduction"
    assert gaps.max() < 0.5 * (end - start), (
        f"longest stall {gaps.max():.3f} s of a {end - start:.3f} s reduction")


def test_the_threshold_is_64_kib():
    assert corepy.GIL_RELEASE_BYTES == 64 << 10
