"""configure(), settings(), arena_stats(), op_stats() and statistics(): round trips, bad values
(a ValueError carrying corepy's message, and nothing changes) and MemoryError when an allocator
refuses."""
import datetime
import threading

import numpy as np
import pytest

import corepy

pytestmark = pytest.mark.usefixtures("defaults")

# var over the rows of a strided float32 matrix: 16 KiB of float64 scratch per call.
STRIDED = np.ones((8, 200), np.float32)[:, ::2]


def scratch_call():
    return corepy.var(STRIDED, axis=1)


def test_sizes_as_ints_and_text_round_trip():
    corepy.configure(arena_size=4 << 20, arena_max_size="16MiB")
    s = corepy.settings()
    assert s["arena_size"] == 4 << 20 and s["arena_max_size"] == 16 << 20
    corepy.sum(np.ones(3, np.float32))  # the thread's next outermost scope picks it up
    assert corepy.arena_stats().capacity == 4 << 20
    corepy.configure(arena_size="64KiB")
    corepy.sum(np.ones(3, np.float32))
    assert corepy.arena_stats().capacity == 64 << 10


def test_op_arena_sizes_as_a_mapping_or_text():
    corepy.configure(op_arena_sizes={"sum": "64KiB", "var": 131072})
    assert corepy.settings()["op_arena_sizes"] == {"sum": 65536, "var": 131072}
    sizes = {d["op"]: d["arena_size"] for d in corepy.op_stats()}
    assert sizes["sum"] == 65536 and sizes["var"] == 131072 and sizes["mean"] == 0
    corepy.configure(op_arena_sizes="mean_f32=1MiB")
    assert corepy.settings()["op_arena_sizes"] == {"mean_f32": 1 << 20}
    corepy.configure(op_arena_sizes="")
    assert corepy.settings()["op_arena_sizes"] == {}


def test_arena_shrink_after_round_trips():
    assert corepy.settings()["arena_shrink_after"] == 64
    corepy.configure(arena_shrink_after=0)
    assert corepy.settings()["arena_shrink_after"] == 0
    corepy.configure(arena_shrink_after=2**32)
    assert corepy.settings()["arena_shrink_after"] == 2**32
    corepy.configure(arena_size="64KiB")  # None keeps it
    assert corepy.settings()["arena_shrink_after"] == 2**32


def test_worker_spin_as_text_or_a_timedelta_round_trips():
    assert corepy.settings()["worker_spin"] == "50us"
    corepy.configure(worker_spin="0")
    assert corepy.settings()["worker_spin"] == "0"
    corepy.configure(worker_spin=datetime.timedelta(microseconds=250))
    assert corepy.settings()["worker_spin"] == "250us"
    corepy.configure(worker_spin=datetime.timedelta(seconds=1))
    assert corepy.settings()["worker_spin"] == "1s"
    corepy.configure(worker_spin=" 0.2ms ")
    assert corepy.settings()["worker_spin"] == "200us"
    corepy.configure(arena_size="64KiB")  # None keeps it
    assert corepy.settings()["worker_spin"] == "200us"
    # Split ops (above 512 KiB) work under every setting, with their results unchanged.
    big = np.arange(1 << 20, dtype=np.float32).reshape(1024, 1024)
    for spin in ("0", "1us", "1s", "50us"):
        corepy.configure(worker_spin=spin)
        np.testing.assert_array_equal(corepy.sum(big, axis=0), corepy.sum(big, axis=0))
        np.testing.assert_allclose(corepy.sum(big, axis=1), big.sum(axis=1, dtype=np.float64),
                                   rtol=1e-6)


def test_allocators_and_log(capfd):
    for spec in ("system", "stats(arena)", "arena(upstream=pool)", "limit(arena, max=64MiB)"):
        corepy.configure(allocator=spec)
        assert corepy.settings()["allocator"] == spec.replace(", ", ",")  # as corepy prints it
        np.testing.assert_allclose(scratch_call(), np.var(STRIDED, axis=1))
    corepy.configure(allocator="arena", log=True)
    assert corepy.settings()["log"] is True
    corepy.sum(np.ones(5, np.float32), axis=0)
    assert "sum used=" in capfd.readouterr().err
    corepy.configure(log="off")
    corepy.sum(np.ones(5, np.float32), axis=0)
    assert "sum used=" not in capfd.readouterr().err


@pytest.mark.parametrize("kwargs,words", [
    (dict(arena_size="lots"), ['invalid byte size "lots"', "KiB"]),
    (dict(arena_max_size="12 parsecs"), ["arena_max_size", "invalid byte size"]),
    (dict(allocator="nosuch"), ['unknown allocator "nosuch"', "accepted"]),
    (dict(allocator="stats(arena"), ["stats(arena", "position"]),
    (dict(op_arena_sizes="nosuch=1KiB"), ['"nosuch"']),
    (dict(op_arena_sizes={"sum": "1KiB", "mean": "big"}), ["big"]),
    (dict(op_arena_sizes="sum=1KiB,sum=2KiB"), ['"sum" is given more than once']),
    (dict(log="loud"), ["loud"]),
    (dict(arena_shrink_after=-1), ["arena_shrink_after", "-1"]),
    (dict(arena_shrink_after=2**32 + 1), ["arena_shrink_after", "4294967297"]),
    (dict(arena_size=-1), ["arena_size is -1"]),
    (dict(worker_spin="50"), ['worker_spin: invalid worker_spin "50"', "from 0", "to 1s"]),
    (dict(worker_spin="2s"), ['invalid worker_spin "2s"']),
    (dict(worker_spin="-1us"), ['invalid worker_spin "-1us"']),
    (dict(worker_spin=datetime.timedelta(seconds=-1)), ['invalid worker_spin "-1000000us"']),
    (dict(worker_spin=datetime.timedelta(days=1)), ['invalid worker_spin "86400000000us"']),
    (dict(arena_size="2MiB", allocator="nosuch"), ["nosuch"]),
])
def test_a_bad_value_is_a_value_error_with_corepys_message_and_changes_nothing(kwargs, words):
    corepy.configure(arena_size="2MiB", op_arena_sizes={"sum": 4096})
    before = corepy.settings()
    with pytest.raises(ValueError) as e:
        corepy.configure(**kwargs)
    assert all(w in str(e.value) for w in words), str(e.value)
    assert corepy.settings() == before


@pytest.mark.parametrize("kwargs", [dict(arena_size=1.5), dict(arena_size=True),
                                    dict(allocator=3), dict(op_arena_sizes=[("sum", 1)]),
                                    dict(op_arena_sizes={1: 2}), dict(log=1),
                                    dict(arena_shrink_after=2.0),
                                    dict(arena_shrink_after=True),
                                    dict(worker_spin=50), dict(worker_spin=0.5)])
def test_a_value_of_the_wrong_type_is_a_type_error(kwargs):
    before = corepy.settings()
    with pytest.raises(TypeError):
        corepy.configure(**kwargs)
    assert corepy.settings() == before


def test_an_arena_the_upstream_cannot_serve_is_a_memory_error_and_changes_nothing():
    before = corepy.settings()
    with pytest.raises(MemoryError, match="cannot be built"):
        corepy.configure(arena_size="1048576GiB")
    assert corepy.settings() == before


def test_an_allocator_that_refuses_is_a_memory_error_and_the_next_call_works():
    corepy.configure(allocator="limit(arena, max=1KiB)")
    with pytest.raises(MemoryError, match="limit of 1024 bytes exceeded"):
        scratch_call()
    assert corepy.sum(np.ones(4, np.float32)) == 4  # needs no scratch
    corepy.configure(allocator="arena")
    np.testing.assert_allclose(scratch_call(), np.var(STRIDED, axis=1))


def test_arena_stats_is_a_named_tuple_of_the_threads_arena():
    scratch_call()
    s = corepy.arena_stats()
    assert isinstance(s, corepy.ArenaStats) and isinstance(s, tuple)
    assert s._fields == ("used", "capacity", "peak", "overflow_count", "overflow_bytes")
    assert s.used == 0 and s.capacity == 1 << 20 and s.peak >= 16384
    corepy.configure(arena_size=4096)
    scratch_call()  # 16 KiB in a 4 KiB arena: a spill
    s = corepy.arena_stats()
    assert s.capacity == 4096 and s.overflow_count >= 1 and s.overflow_bytes == 0


def test_op_stats_count_every_call():
    corepy.reset_op_stats()
    stats = corepy.op_stats()
    assert all(set(d) == {"op", "calls", "peak_scratch", "spills", "arena_size"} for d in stats)
    names = [d["op"] for d in stats]
    assert {"sum", "var", "argmax", "count_nonzero", "sum_f32"} <= set(names)
    assert all(d["calls"] == 0 for d in stats)
    scratch_call()
    corepy.sum(np.ones(3))
    corepy.sum(np.ones(3))
    by = {d["op"]: d for d in corepy.op_stats()}
    assert by["var"]["calls"] == 1 and by["var"]["peak_scratch"] >= 16384
    assert by["sum"]["calls"] == 2


def test_statistics_counts_the_threads_calls_inside_the_block():
    scratch_call()  # a peak before the block, which the block must not see
    with corepy.statistics() as s:
        corepy.sum(np.ones(3, np.float32))
        assert s.calls == 1 and s.peak_scratch == 0  # live inside the block
        scratch_call()
        with corepy.statistics() as inner:
            corepy.mean(np.ones(3))
        scratch_call()
    assert s.calls == 4 and inner.calls == 1
    assert s.peak_scratch >= 16384 and inner.peak_scratch < 16384
    assert s.spills == 0 and set(s.ops) == {"sum", "var", "mean"}
    assert s.ops["var"]["calls"] == 2
    assert "calls=4" in repr(s)
    # The process-wide stats lost nothing.
    assert {d["op"]: d for d in corepy.op_stats()}["var"]["peak_scratch"] >= 16384


def test_statistics_counts_spills_and_only_this_thread():
    corepy.configure(arena_size=4096)
    with corepy.statistics() as s:
        scratch_call()
        t = threading.Thread(target=lambda: [scratch_call() for _ in range(5)])
        t.start()
        t.join()
    assert s.calls == 1 and s.spills >= 1 and s.peak_scratch >= 16384


def test_a_statistics_block_belongs_to_its_thread():
    s = corepy.statistics()
    s.__enter__()
    errors = []

    def other():
        try:
            s.__exit__(None, None, None)
        except RuntimeError as e:
            errors.append(str(e))

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert errors and "other than the one that opened it" in errors[0]
    s.__exit__(None, None, None)
    assert s.calls == 0
