"""An exclusive, non-blocking lock on a file, holding a line that says who holds it. Shared by the
lake's ingest lock and the warehouse's run lock.

The lock is `flock` on an open file, so the operating system releases it when the holder exits,
even when it is killed: a crashed process never blocks the next one."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LockHeld(RuntimeError):
    """Another process holds the lock; `holder` is what it wrote into the lock file ('' if nothing)."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is held by {holder or 'another process'}")
        self.path, self.holder = path, holder


@contextmanager
def exclusive_lock(path: Path, holder: str) -> Iterator[None]:
    """Hold `path` (created with its folder if missing) with `holder` written in it, or raise
    LockHeld at once with what the current holder wrote. The file is emptied on release."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            raise LockHeld(path, handle.read().strip()) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(holder)
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
