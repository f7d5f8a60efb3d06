"""Which allocator Arrow uses while archives are parsed and encoded.

pyarrow's default pool on Linux is mimalloc. Parsing a multi-MB CSV and encoding its Parquet in a
fresh process costs it tens of milliseconds of first-touch work per new large buffer, for the first
few archives of every process (measured on this machine, one 44,640-row 1m kline archive: 122 ms
first, 55 ms second, 28 ms from then on; with jemalloc 38, 29, 28 ms). An ingest process handles a
handful of archives per symbol and kind, so that start-up cost is a large share of short runs. The
steady state is the same with either allocator.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import pyarrow as pa


def ingest_memory_pool() -> pa.MemoryPool:
    """jemalloc where this pyarrow build has it (Linux and macOS wheels), else the system allocator."""
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:
        return pa.system_memory_pool()


class _DefaultPool:
    """Arrow's default pool is one per process, so the scopes that change it are counted: the first
    to enter sets it, the last to leave puts back what was there before. Ingests of different lakes
    may run side by side in one process (the test suite builds two warehouses at once), and with a
    plain save-and-restore the one that finishes last would restore the other's pool."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._previous: pa.MemoryPool | None = None

    @contextmanager
    def scope(self, pool: pa.MemoryPool) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._previous = pa.default_memory_pool()
                pa.set_memory_pool(pool)
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and self._previous is not None:
                    pa.set_memory_pool(self._previous)
                    self._previous = None


_DEFAULT_POOL = _DefaultPool()
"""Mirrors the one process-wide setting it guards (pa.set_memory_pool), hence module level."""


def default_memory_pool(pool: pa.MemoryPool) -> AbstractContextManager[None]:
    """Make `pool` Arrow's default for the duration of the block (Parquet writing takes no pool
    argument, so the default is the only way to choose), and put the previous one back after the
    last such block in the process ends. Blocks that overlap share the first one's pool."""
    return _DEFAULT_POOL.scope(pool)
