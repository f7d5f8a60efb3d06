"""One writer per warehouse: `backtest run` (and every command that builds) holds an exclusive lock
on `<data root>/warehouse.lock` for its whole duration. Why: DuckDB refuses a second writer with a
low-level "Could not set lock" error in the middle of a dbt build; taking our own lock first turns
that into a clear "in use by run X" before anything is read or written.

The lock (ingest/file_lock.py) is released by the operating system when the holder exits, even
when it is killed: a crashed run never blocks the next one."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from ingest.file_lock import LockHeld, exclusive_lock

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
    holder = json.dumps({"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname(),
                         "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    try:
        with exclusive_lock(path, holder):
            yield
    except LockHeld as exc:
        if exc.path != path:
            raise
        try:
            current = json.loads(exc.holder or "null")
        except json.JSONDecodeError:
            current = None
        raise WarehouseBusy(
            f"the warehouse at {path.parent / 'warehouse.duckdb'} is in use by "
            f"{_describe(current if isinstance(current, dict) else None)}; wait for it to finish, or run "
            f"against another --data-root. Nothing was changed.") from exc
