"""Write one archive the way data.binance.vision serves it: `<name>.zip` holding `<name>.csv` at its
root, plus `<name>.zip.CHECKSUM` (`<sha256>  <name>.zip\n`). Zips are byte-deterministic: fixed entry
date, fixed system and permissions, fixed compression level."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from ingest.kinds import archive_path

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
COMPRESSLEVEL = 6


def zip_one(csv_name: str, payload: bytes) -> bytes:
    info = zipfile.ZipInfo(csv_name, date_time=ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = 0o100644 << 16
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w") as zf:
        zf.writestr(info, payload, compresslevel=COMPRESSLEVEL)
    return sink.getvalue()


def checksum_line(zip_name: str, blob: bytes) -> str:
    return f"{hashlib.sha256(blob).hexdigest()}  {zip_name}\n"


def _write_archive(target: Path, payload: bytes) -> int:
    """Zip, write and checksum one archive; returns the zip size. Runs in a worker thread (zlib and
    file writes release the GIL, so compression of consecutive files overlaps)."""
    blob = zip_one(target.name[: -len(".zip")] + ".csv", payload)
    target.write_bytes(blob)
    target.with_name(target.name + ".CHECKSUM").write_text(checksum_line(target.name, blob), encoding="ascii")
    return len(blob)


class ArchiveWriter:
    """Writes archives below `root` at the paths `ingest.kinds.archive_path` gives, and counts them.
    Use as a context manager: leaving it waits for every pending write (and re-raises a failure)."""

    def __init__(self, root: Path, workers: int | None = None, max_pending: int = 8) -> None:
        self.root = Path(root)
        self.files = self.zip_bytes = self.csv_bytes = self.rows = 0
        self._pool = ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1))
        self._pending: deque[Future[int]] = deque()
        self._max_pending = max_pending

    def write(self, market: str, kind: str, symbol: str, period: str, payload: bytes, rows: int,
              interval: str | None = None) -> str:
        rel = archive_path(market, kind, symbol, period, interval)
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        while len(self._pending) >= self._max_pending:
            self.zip_bytes += self._pending.popleft().result()
        self._pending.append(self._pool.submit(_write_archive, target, payload))
        self.files += 1
        self.csv_bytes += len(payload)
        self.rows += rows
        return rel

    def flush(self) -> None:
        while self._pending:
            self.zip_bytes += self._pending.popleft().result()

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=exc_type is not None)
