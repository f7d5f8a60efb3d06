"""The ingest's allocator choice is scoped: whatever Arrow pool the process used before an ingest
is its default again afterwards, also when the ingest fails."""

from __future__ import annotations

import pyarrow as pa
import pytest

from ingest.arrow_memory import default_memory_pool, ingest_memory_pool


def test_the_previous_pool_is_put_back_even_when_the_block_fails() -> None:
    before = pa.default_memory_pool().backend_name
    chosen = pa.system_memory_pool() if before != "system" else ingest_memory_pool()
    with pytest.raises(RuntimeError, match="stop"):
        with default_memory_pool(chosen):
            assert pa.default_memory_pool().backend_name == chosen.backend_name
            raise RuntimeError("stop")
    assert pa.default_memory_pool().backend_name == before


def test_the_ingest_pool_is_one_this_pyarrow_has() -> None:
    pool = ingest_memory_pool()
    assert pool.backend_name in ("jemalloc", "system")
    buffer = pa.allocate_buffer(1 << 20, memory_pool=pool)
    assert buffer.size == 1 << 20
