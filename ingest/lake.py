"""Atomic, deterministic writes into the Parquet lake and its ingest ledger.

A lake file is written to a temporary name in the same folder and renamed into place, so a reader
(or a run killed half-way) never sees half a file. Output bytes depend only on the rows, so a re-run
that writes the same rows leaves the lake byte-identical.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


def lake_root(data_root: Path) -> Path:
    """The lake lives under `$BACKTEST_DATA_ROOT/lake`."""
    return Path(data_root) / "lake"


def _atomic_replace(target: Path, write: Any) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_parquet_atomic(table: pa.Table, target: Path) -> None:
    """Write `table` to `target` via temp file + rename, with settings that make the bytes stable."""

    def write(tmp: str) -> None:
        pq.write_table(
            table.replace_schema_metadata(None),
            tmp,
            compression="zstd",
            use_dictionary=[f.name for f in table.schema if pa.types.is_string(f.type)],
            row_group_size=1 << 20,
            write_statistics=True,
            store_schema=False,
        )

    _atomic_replace(target, write)


def write_bytes_atomic(payload: bytes, target: Path) -> None:
    """Write raw bytes atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(payload)

    _atomic_replace(target, write)


def write_json_atomic(payload: dict[str, Any], target: Path) -> None:
    """Write one JSON document atomically (sorted keys, so equal content means equal bytes)."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, sort_keys=True, indent=1)
            fh.write("\n")

    _atomic_replace(target, write)


@dataclass
class LedgerEntry:
    """One archive's fate: what was fetched, verified and written. One JSON file per archive."""

    market: str
    kind: str
    symbol: str
    interval: str | None
    period: str
    """`YYYY-MM` (monthly archive), `YYYY-MM-DD` (daily archive) or a free label (imports)."""
    status: str
    """`ingested`, `not_published` (404), `quarantined` or `imported`."""
    source_url: str
    sha256: str | None = None
    zip_bytes: int | None = None
    rows_read: int = 0
    rows_written: int = 0
    duplicates_dropped: int = 0
    time_unit: str | None = None
    had_header: bool | None = None
    lake_path: str | None = None
    absent_columns: list[str] = field(default_factory=list)
    """Columns the source does not carry (NULL in the lake, never zero)."""
    days_missing: list[str] = field(default_factory=list)
    """Days of a monthly archive's month with no rows at all (fetched from daily archives)."""
    message: str | None = None
    ingested_at: str | None = None

    def identity(self) -> dict[str, Any]:
        """Everything but the timestamp: two entries with equal identity describe the same state."""
        body = asdict(self)
        body.pop("ingested_at")
        return body


def ledger_path(root: Path, entry: LedgerEntry) -> Path:
    """`lake/ledger/<market>/<kind>/[interval=..]/symbol=<S>/<period>.json`."""
    parts = [entry.market, entry.kind]
    if entry.interval:
        parts.append(f"interval={entry.interval}")
    parts.append(f"symbol={entry.symbol}")
    return lake_root(root) / "ledger" / Path(*parts) / f"{entry.period}.json"


def read_ledger(root: Path, entry: LedgerEntry) -> LedgerEntry | None:
    """The stored entry for the same archive, if any."""
    path = ledger_path(root, entry)
    if not path.exists():
        return None
    return LedgerEntry(**json.loads(path.read_text(encoding="utf-8")))


def record(root: Path, entry: LedgerEntry) -> bool:
    """Store `entry` unless an entry with the same identity is already stored (keeps re-runs
    byte-identical). Returns True when something was written."""
    previous = read_ledger(root, entry)
    if previous is not None and previous.identity() == entry.identity():
        return False
    write_json_atomic(asdict(entry), ledger_path(root, entry))
    return True
