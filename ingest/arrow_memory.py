"""Which allocator Arrow uses while archives are parsed and encoded.

pyarrow's default pool on Linux is mimalloc. Parsing a multi-MB CSV and encoding its Parquet in a
fresh process costs it tens of milliseconds of first-touch work per new large buffer, for the first
few archives of every process (measured on this machine, one 44,640-row 1m kline archive: 122 ms
first, 55 ms second, 28 ms from then on; with jemalloc 38, 29, 28 ms). An ingest process handles a
handful of archives per symbol and kind, so that start-up cost is a large share of short runs. The
steady state is the same with either allocator.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa


def ingest_memory_pool() -> pa.MemoryPool:
    """jemalloc where this pyarrow build has it (Linux and macOS wheels), else the system allocator."""
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:
        return pa.system_memory_pool()


@contextmanager
def default_memory_pool(pool: pa.MemoryPool) -> Iterator[None]:
    """Make `pool` Arrow's default for the duration of the block (Parquet writing takes no pool
    argument, so the default is the only way to choose), and put the previous one back after."""
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.set_memory_pool(previous)
