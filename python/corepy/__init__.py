"""corepy: numpy-compatible reductions on corepy's arena-backed CPU kernels.

    import corepy, numpy
    a = numpy.arange(12, dtype=numpy.float32).reshape(3, 4)
    corepy.sum(a)                          # numpy.float32(66.0), as numpy.sum(a)
    corepy.mean(a[:, ::2], axis=0)         # a strided view goes to the kernel without a copy
    corepy.configure(arena_size="4MiB")
    with corepy.statistics() as s:
        corepy.var(a, axis=1, ddof=1)
    s.calls, s.peak_scratch, s.spills      # this thread's, inside the block

The reductions take any object with the buffer protocol (numpy arrays, memoryviews, views with
any strides) of dtype float32, float64, int32, int64, bool or float16, and give numpy's result
dtype, shape and values (floats within the bounds the README states). Each runs through corepy's
dispatch layer: the op's arena scope, the configured allocator, the per-op stats. Inputs of
GIL_RELEASE_BYTES (64 KiB) and more run with the GIL released.

Errors: an unsupported dtype or an object without the buffer protocol is a TypeError naming it;
an axis out of range is numpy.AxisError, a repeated one ValueError; an allocator that refuses is
MemoryError. No C++ exception reaches Python.
"""
import collections.abc as _abc
import builtins as _builtins
import datetime as _datetime
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Union

from corepy import _corepy
from corepy._corepy import (  # noqa: F401  (the public API)
    GIL_RELEASE_BYTES,
    all,
    any,
    argmax,
    argmin,
    count_nonzero,
    max,
    mean,
    min,
    prod,
    std,
    sum,
    tensor_all_bool,
    tensor_any_bool,
    tensor_mean_f32,
    tensor_sum_f32,
    tensor_sum_i32,
    var,
)

__version__ = "0.1.0"

__all__ = [
    "sum", "prod", "mean", "var", "std", "min", "max", "argmin", "argmax", "all", "any",
    "count_nonzero",
    "tensor_sum_f32", "tensor_sum_i32", "tensor_mean_f32", "tensor_all_bool", "tensor_any_bool",
    "configure", "settings", "arena_stats", "ArenaStats", "op_stats", "reset_op_stats",
    "memory_stats", "trim",
    "statistics", "Statistics", "GIL_RELEASE_BYTES",
]

Size = Union[int, str]


def _size_text(key: str, value: Size) -> str:
    """A size as corepy parses it: an int of bytes, or text such as "4MiB"."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"corepy.configure: {key} must be an int or a str such as '4MiB', "
                        f"not {type(value).__name__}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"corepy.configure: {key} is {value}; a size must be >= 0")
        return str(value)
    return value


def configure(allocator: Optional[str] = None, arena_size: Optional[Size] = None,
              arena_max_size: Optional[Size] = None,
              op_arena_sizes: Union[None, str, Mapping[str, Size]] = None,
              log: Union[None, bool, str] = None,
              arena_shrink_after: Optional[int] = None,
              worker_spin: Union[None, str, _datetime.timedelta] = None) -> None:
    """Sets corepy's configuration, as corepy::configure() in C++; None keeps a setting.

    allocator: an allocator spec ("arena", "system", "stats(arena)", "limit(arena, max=64MiB)").
    arena_size, arena_max_size: each thread arena's block, and the self-tuning cap (0: off), as
        ints of bytes or text ("4MiB").
    op_arena_sizes: an arena of its own per op, as "sum=64KiB,var=1MiB" or {"sum": "64KiB"}.
    log: True or "debug" for one stderr line per dispatch; False or "off" for none.
    arena_shrink_after: a self-tuned block halves after this many outermost scopes in a row that
        used under a quarter of it (0: never; 0 to 2^32).
    worker_spin: how long oneTBB's workers spin after an op that split over them, waiting for
        the next op, as text ("50us", "0.2ms", "0": they sleep at once) or a timedelta; at most
        one second. The default, 50us, keeps a loop of large ops (with Python between them)
        from waking sleeping workers at every call.

    Everything is checked first: a bad value is a ValueError carrying corepy's message, and
    nothing changes; an arena the allocator cannot serve is a MemoryError, and nothing changes.
    Settings take effect on each thread at its next outermost scope.
    """
    if allocator is not None and not isinstance(allocator, str):
        raise TypeError(f"corepy.configure: allocator must be a str, not "
                        f"{type(allocator).__name__}")
    sizes_text = None
    if op_arena_sizes is not None:
        if isinstance(op_arena_sizes, str):
            sizes_text = op_arena_sizes
        elif isinstance(op_arena_sizes, _abc.Mapping):
            parts = []
            for op, size in op_arena_sizes.items():
                if not isinstance(op, str):
                    raise TypeError(f"corepy.configure: op_arena_sizes keys are op names (str), "
                                    f"not {type(op).__name__}")
                parts.append(f"{op}={_size_text(f'op_arena_sizes[{op!r}]', size)}")
            sizes_text = ",".join(parts)
        else:
            raise TypeError(f"corepy.configure: op_arena_sizes must be a str or a mapping of op "
                            f"names to sizes, not {type(op_arena_sizes).__name__}")
    if log is None or isinstance(log, str):
        log_text = log
    elif isinstance(log, bool):
        log_text = "debug" if log else "off"
    else:
        raise TypeError(f"corepy.configure: log must be a bool or a str, not {type(log).__name__}")
    if arena_shrink_after is not None and (isinstance(arena_shrink_after, bool) or
                                           not isinstance(arena_shrink_after, int)):
        raise TypeError(f"corepy.configure: arena_shrink_after must be an int, not "
                        f"{type(arena_shrink_after).__name__}")
    if worker_spin is None or isinstance(worker_spin, str):
        spin_text = worker_spin
    elif isinstance(worker_spin, _datetime.timedelta):
        spin_text = f"{worker_spin // _datetime.timedelta(microseconds=1)}us"
    else:
        raise TypeError(f"corepy.configure: worker_spin must be a str such as '50us' or a "
                        f"datetime.timedelta, not {type(worker_spin).__name__}")
    _corepy.configure(
        allocator,
        None if arena_size is None else _size_text("arena_size", arena_size),
        None if arena_max_size is None else _size_text("arena_max_size", arena_max_size),
        sizes_text,
        log_text,
        None if arena_shrink_after is None else str(arena_shrink_after),
        spin_text,
    )


def settings() -> dict:
    """The settings in force: allocator, arena_size, arena_max_size, op_arena_sizes (the ops that
    have an arena of their own), log, arena_shrink_after, worker_spin (as text: "50us")."""
    return _corepy.settings()


class ArenaStats(NamedTuple):
    """The calling thread's arena (corepy::ArenaStats)."""
    used: int            # bytes of the arena's own block in use
    capacity: int        # size of the arena's own block
    peak: int            # high-water mark of used
    overflow_count: int  # allocations ever served by the upstream (spills)
    overflow_bytes: int  # bytes currently held from the upstream


def arena_stats() -> ArenaStats:
    """The calling thread's arena."""
    return ArenaStats(*_corepy.arena_stats())


def op_stats() -> List[Dict[str, Union[str, int]]]:
    """Per-op stats of every thread: one dict per op with op, calls, peak_scratch (the most
    scratch one call needed), spills and arena_size (0: the op shares the thread's arena)."""
    return _corepy.op_stats()


def memory_stats() -> Dict[str, Any]:
    """Every live thread's arenas (corepy::memory_stats()): threads; capacity, used, peak,
    spill_chunks and spill_bytes, each a dict {"sum": over all threads, "max_per_thread": the
    largest one thread has}; allocator, the spec in force. Safe to call from any thread."""
    return _corepy.memory_stats()


def trim() -> None:
    """Gives self-tuned arenas back their configured size (corepy::trim()): the calling thread's
    now, every other thread's at its next outermost scope (its next corepy call)."""
    _corepy.trim()


def reset_op_stats() -> None:
    """Zeroes every op's stats."""
    _corepy.reset_op_stats()


class Statistics:
    """What ops did on the calling thread inside a `with corepy.statistics() as s:` block.

    calls, peak_scratch (the most scratch one call needed, in bytes), spills, and ops (the same
    per op, for the ops that ran). Read live inside the block; frozen when it ends.
    """

    def __init__(self) -> None:
        self._region = None
        self._ops: List[dict] = []

    def __enter__(self) -> "Statistics":
        if self._region is not None:
            raise RuntimeError("corepy.statistics(): this block is already open")
        self._region = _corepy._Region()
        return self

    def __exit__(self, *exc) -> None:
        self._ops = self._region.stats()
        self._region.close()
        self._region = None

    def _current(self) -> List[dict]:
        return self._region.stats() if self._region is not None else self._ops

    @property
    def ops(self) -> Dict[str, dict]:
        return {d["op"]: d for d in self._current() if d["calls"]}

    @property
    def calls(self) -> int:
        return _builtins.sum(d["calls"] for d in self._current())

    @property
    def peak_scratch(self) -> int:
        return _builtins.max((d["peak_scratch"] for d in self._current()), default=0)

    @property
    def spills(self) -> int:
        return _builtins.sum(d["spills"] for d in self._current())

    def __repr__(self) -> str:
        return (f"corepy.Statistics(calls={self.calls}, peak_scratch={self.peak_scratch}, "
                f"spills={self.spills})")


def statistics() -> Statistics:
    """A context manager over the calling thread's op counters, as RMM's statistics():

        with corepy.statistics() as s:
            corepy.sum(a, axis=0)
        s.calls, s.peak_scratch, s.spills

    Blocks nest; corepy.op_stats() keeps counting everything meanwhile. A block belongs to the
    thread that opened it."""
    return Statistics()

