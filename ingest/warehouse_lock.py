"""One writer per warehouse: `backtest run` (and every command that builds) holds an exclusive lock
on `<data root>/warehouse.lock` for its whole duration. Why: DuckDB refuses a second writer with a
low-level "Could not set lock" error in the middle of a dbt build; taking our own lock first turns
that into a clear "in use by run X" before anything is read or written.

The lock is `flock` on an open file, so the operating system releases it when the holder exits,
even when it is killed: a crashed run never blocks the next one."""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

LOCK_NAME = "warehouse.lock"


class WarehouseBusy(RuntimeError):
    """Another run holds the warehouse; nothing was read or written."""


def lock_path(data_root: Path) -> Path:
    return Path(data_root) / LOCK_NAME


def _describe(holder: dict[str, object] | None) -> str:
    if not holder:
        return "another run"
    return (f"run {holder.get('run_id')} (pid {holder.get('pid')} on {holder.get('host')}, "
            f"started {holder.get('started_at')})")


@contextmanager
def warehouse_lock(data_root: Path, run_id: str) -> Iterator[None]:
    """Hold the warehouse for `run_id`, or raise WarehouseBusy naming the run that holds it."""
    path = lock_path(data_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            try:
                holder = json.loads(handle.read() or "null")
            except json.JSONDecodeError:
                holder = None
            raise WarehouseBusy(
                f"the warehouse at {path.parent / 'warehouse.duckdb'} is in use by "
                f"{_describe(holder if isinstance(holder, dict) else None)}; wait for it to finish, or run "
                f"against another --data-root. Nothing was changed.") from exc
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname(),
                                 "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
