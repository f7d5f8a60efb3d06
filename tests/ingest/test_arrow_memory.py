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


def test_overlapping_ingests_put_the_original_pool_back() -> None:
    """Two scopes in two threads, the first to enter leaving first: after both, the process has the
    pool it started with (a plain save-and-restore would leave the ingest pool set)."""
    import threading

    before = pa.default_memory_pool().backend_name
    chosen = pa.system_memory_pool() if before != "system" else ingest_memory_pool()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with default_memory_pool(chosen):
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with default_memory_pool(chosen):
            second_in.set()
            first_out.wait(5)
            assert pa.default_memory_pool().backend_name == chosen.backend_name

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert first_out.is_set() and second_in.is_set()
    assert pa.default_memory_pool().backend_name == before
