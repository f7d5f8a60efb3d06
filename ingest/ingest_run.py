"""Download, verify, parse and store archives: the `backtest ingest` command's engine.

For every archive: fetch its `.CHECKSUM`; skip it when the ledger already holds that exact
sha256 (a re-run downloads nothing already verified and writes nothing); otherwise download the
zip, verify sha256, parse, write the Parquet file atomically, then the ledger entry. A checksum
mismatch or a corrupt zip is retried, then quarantined under `lake/quarantine/` with the reason;
rows already in the lake are never touched by a failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from ingest.archive_source import ArchiveSource, SourceError
from ingest.arrow_memory import default_memory_pool, ingest_memory_pool
from ingest.file_lock import LockHeld, exclusive_lock
from ingest.kinds import KINDS, lake_dir
from ingest.lake import (LedgerEntry, lake_root, read_ledger, record, write_bytes_atomic, write_json_atomic,
                         write_parquet_atomic)
from ingest.parse_archive import ArchiveFormatError, ParsedArchive, parse_archive
from ingest.plan import ArchiveRef, IngestRequest, daily_fallback, first_pass, month_days
from ingest.progress import Progress

SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")


class LakeBusy(RuntimeError):
    """Another ingest holds the lake's lock."""


@dataclass
class ArchiveOutcome:
    ref: ArchiveRef
    status: str
    """`ingested`, `unchanged`, `not_published`, `quarantined` or `failed` (server gave up)."""
    rows_written: int = 0
    nbytes: int = 0
    duplicates_dropped: int = 0
    message: str | None = None
    days_missing: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    outcomes: list[ArchiveOutcome]
    seconds: float

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    @property
    def rows_written(self) -> int:
        return sum(outcome.rows_written for outcome in self.outcomes)

    def summary_lines(self) -> list[str]:
        lines = [
            f"ingest: {self.count('ingested')} ingested, {self.count('unchanged')} unchanged, "
            f"{self.count('not_published')} not published, {self.count('quarantined')} quarantined, "
            f"{self.count('failed')} failed; "
            f"{self.rows_written:,} rows written, "
            f"{sum(o.duplicates_dropped for o in self.outcomes):,} duplicates dropped in {self.seconds:.1f}s"
        ]
        for outcome in self.outcomes:
            if outcome.status in ("quarantined", "failed"):
                lines.append(f"  {outcome.status} {outcome.ref.path}: {outcome.message}")
        unpublished = [o.ref.name for o in self.outcomes if o.status == "not_published"]
        if unpublished:
            shown = ", ".join(unpublished[:8]) + (f" and {len(unpublished) - 8} more" if len(unpublished) > 8 else "")
            lines.append(f"  not published (404): {shown}")
        return lines


def sha256_hex(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def parse_checksum_file(payload: bytes) -> str | None:
    """First whitespace-separated token of a `.CHECKSUM` file, if it is a sha256."""
    tokens = payload.decode("utf-8", errors="replace").split()
    if tokens and SHA256_RE.match(tokens[0]):
        return tokens[0].lower()
    return None


DAY_US = 86_400_000_000
UNIX_EPOCH_DAY = date(1970, 1, 1)


def days_present(table: pa.Table) -> set[str]:
    """Calendar days (UTC) holding at least one row, from the table's first timestamp column.
    Integer arithmetic on the microseconds (tz-aware `as_py()` would import pandas and zoneinfo)."""
    column = next(f.name for f in table.schema if pa.types.is_timestamp(f.type))
    if table.num_rows == 0:
        return set()
    values = table.column(column).cast(pa.timestamp("us", tz="UTC")).drop_null()
    days: set[int] = set()
    for chunk in values.chunks:
        if len(chunk):
            micros = np.frombuffer(chunk.buffers()[1], np.int64, len(chunk), chunk.offset * 8)
            day = np.sort(micros // DAY_US, kind="stable")  # linear on the usual sorted column
            days.update(day[np.flatnonzero(day[1:] != day[:-1]) + 1].tolist())
            days.add(int(day[0]))
    return {(UNIX_EPOCH_DAY + timedelta(days=day)).isoformat() for day in days}


@contextmanager
def lake_lock(root: Path) -> Iterator[None]:
    """Exclusive lock so two ingests never write the same lake; the loser gets a clear error."""
    path = lake_root(root) / ".ingest.lock"
    try:
        with exclusive_lock(path, f"ingest pid {os.getpid()}"):
            yield
    except LockHeld as exc:
        if exc.path != path:
            raise
        raise LakeBusy(f"the lake at {path.parent} is in use by {exc.holder or 'another process'}; "
                       f"wait for it to finish") from exc


def remove_stale_temp_files(root: Path) -> int:
    """Temp files left by a killed run are never valid lake content."""
    removed = 0
    for path in lake_root(root).rglob(".*.tmp"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


@dataclass
class Ingester:
    source: ArchiveSource
    data_root: Path
    jobs: int = 4
    verify_attempts: int = 3
    retry_sleep: Callable[[float], None] = time.sleep
    show_progress: bool = True

    def run(self, request: IngestRequest) -> IngestReport:
        request.validate()
        self.source.check_reachable()
        started = time.perf_counter()
        with lake_lock(self.data_root), default_memory_pool(ingest_memory_pool()):
            remove_stale_temp_files(self.data_root)
            refs = first_pass(request)
            progress = Progress("ingest", len(refs), enabled=self.show_progress)
            outcomes = self._process_all(refs, progress)
            planned = set(refs)
            followups: list[ArchiveRef] = []
            for outcome in outcomes:
                missing = month_days(outcome.ref.period) if (
                    outcome.ref.is_monthly and outcome.status == "not_published") else outcome.days_missing
                followups.extend(r for r in daily_fallback(outcome.ref, missing, request) if r not in planned)
            progress.add_files(len(followups))
            outcomes += self._process_all(sorted(set(followups)), progress)
            progress.finish()
        return IngestReport(outcomes, time.perf_counter() - started)

    def _process_all(self, refs: list[ArchiveRef], progress: Progress) -> list[ArchiveOutcome]:
        def work(ref: ArchiveRef) -> ArchiveOutcome:
            outcome = self.process(ref)
            progress.advance(nbytes=outcome.nbytes, rows=outcome.rows_written,
                             note=outcome.status if outcome.status != "ingested" else None)
            return outcome

        if self.jobs <= 1:
            return [work(ref) for ref in refs]
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            return list(pool.map(work, refs))

    def lake_file(self, ref: ArchiveRef) -> Path:
        return lake_root(self.data_root) / lake_dir(ref.market, ref.kind, ref.symbol, ref.interval) / f"{ref.period}.parquet"

    def _entry(self, ref: ArchiveRef, status: str, **values: object) -> LedgerEntry:
        return LedgerEntry(
            market=ref.market, kind=ref.kind, symbol=ref.symbol, interval=ref.interval,
            period=ref.period, status=status, source_url=self.source.url(ref.path),
            ingested_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), **values,
        )

    def process(self, ref: ArchiveRef) -> ArchiveOutcome:
        """One archive, start to finish. Never raises for a bad archive or a failing server: it
        reports them (the rows already stored stay as they are)."""
        try:
            return self._process(ref)
        except SourceError as exc:
            return ArchiveOutcome(ref, "failed", message=str(exc))

    def _process(self, ref: ArchiveRef) -> ArchiveOutcome:
        checksum = self.source.get(ref.path + ".CHECKSUM")
        prior = read_ledger(self.data_root, self._entry(ref, "probe"))
        stored = prior is not None and prior.status == "ingested" and self.lake_file(ref).exists()
        if checksum is None:
            if self.source.get(ref.path) is None:
                if not stored:
                    record(self.data_root, self._entry(ref, "not_published", message="HTTP 404"))
                return ArchiveOutcome(ref, "not_published", days_missing=prior.days_missing if stored else [])
            return self._quarantine(ref, None, "no .CHECKSUM is published for this archive, so it "
                                    "cannot be verified; it was not ingested", stored)
        expected = parse_checksum_file(checksum)
        if expected is None:
            return self._quarantine(ref, None, ".CHECKSUM file does not start with a sha256", stored)
        if stored and prior.sha256 == expected:
            return ArchiveOutcome(ref, "unchanged", days_missing=prior.days_missing)

        failure, payload = "", None
        for attempt in range(1, self.verify_attempts + 1):
            payload = self.source.get(ref.path)
            if payload is None:
                failure = "the .CHECKSUM is published but the zip is not (HTTP 404)"
                continue
            actual = sha256_hex(payload)
            if actual != expected:
                failure = f"sha256 mismatch: .CHECKSUM says {expected}, the zip hashes to {actual}"
            else:
                try:
                    parsed = parse_archive(payload, kind=ref.kind, period=ref.period,
                                           symbol=ref.symbol, name=ref.name)
                    return self._store(ref, parsed, expected, len(payload))
                except ArchiveFormatError as exc:
                    failure = str(exc)
            if attempt < self.verify_attempts:
                self.retry_sleep(0.2 * attempt)
        return self._quarantine(ref, payload, f"{failure} (after {self.verify_attempts} attempts)", stored)

    def _store(self, ref: ArchiveRef, parsed: ParsedArchive, sha: str, nbytes: int) -> ArchiveOutcome:
        missing: list[str] = []
        if ref.is_monthly and "daily" in KINDS[ref.kind].periods:
            present = days_present(parsed.table)
            missing = [day for day in month_days(ref.period) if day not in present]
        target = self.lake_file(ref)
        write_parquet_atomic(parsed.table, target)
        record(self.data_root, self._entry(
            ref, "ingested", sha256=sha, zip_bytes=nbytes, rows_read=parsed.rows_read,
            rows_written=parsed.table.num_rows, duplicates_dropped=parsed.duplicates_dropped,
            time_unit=parsed.time_unit, had_header=parsed.had_header,
            lake_path=str(target.relative_to(lake_root(self.data_root))), days_missing=missing,
        ))
        return ArchiveOutcome(ref, "ingested", parsed.table.num_rows, nbytes,
                              parsed.duplicates_dropped, days_missing=missing)

    def _quarantine(self, ref: ArchiveRef, payload: bytes | None, reason: str, stored: bool) -> ArchiveOutcome:
        """Keep the bad bytes and the reason for a person to inspect; the lake's rows stay as they were."""
        base = lake_root(self.data_root) / "quarantine" / ref.path
        if payload is not None and (not base.exists() or base.read_bytes() != payload):
            write_bytes_atomic(payload, base)
        note = base.with_name(base.name + ".reason.json")
        body = {"archive": ref.path, "reason": reason, "source_url": self.source.url(ref.path)}
        if not note.exists() or json.loads(note.read_text()) != body:
            write_json_atomic(body, note)
        if not stored:
            record(self.data_root, self._entry(ref, "quarantined", message=reason))
        return ArchiveOutcome(ref, "quarantined", message=reason)
