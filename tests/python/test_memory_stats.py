"""memory_stats() and trim(): every live thread's arenas, and self-tuned blocks given back."""
import threading

import numpy as np
import pytest

import corepy

pytestmark = pytest.mark.usefixtures("defaults")

FIGURES = ("capacity", "used", "peak", "spill_chunks", "spill_bytes")
# var over the rows of a strided float32 matrix: 16 KiB of scratch per call, past a 4 KiB arena.
LARGE = np.ones((4, 10000), np.float32)[:, ::2]


def test_memory_stats_has_every_figure_and_the_spec_in_force():
    corepy.sum(np.ones(3, np.float32))
    m = corepy.memory_stats()
    assert m["threads"] >= 1
    assert m["allocator"] == corepy.settings()["allocator"]
    for name in FIGURES:
        assert set(m[name]) == {"sum", "max_per_thread"}
        assert m[name]["sum"] >= m[name]["max_per_thread"] >= 0
    assert m["capacity"]["max_per_thread"] >= corepy.arena_stats().capacity


def test_memory_stats_counts_other_live_threads():
    before = corepy.memory_stats()["threads"]
    started = threading.Barrier(4)
    release = threading.Event()

    def worker():
        corepy.sum(np.ones(3, np.float32))
        started.wait()
        release.wait()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    started.wait()
    during = corepy.memory_stats()["threads"]
    release.set()
    for t in threads:
        t.join()
    assert during >= before + 3


def test_trim_gives_a_self_tuned_block_back():
    corepy.configure(arena_size="4KiB", arena_max_size="16MiB")
    for _ in range(3):
        corepy.var(LARGE, axis=1)
    assert corepy.arena_stats().capacity > 4 << 10
    corepy.trim()
    assert corepy.arena_stats().capacity == 4 << 10
    assert corepy.memory_stats()["spill_bytes"]["max_per_thread"] == 0
