"""Every fault the archive can throw at the ingester, each asserted on the lake afterwards."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from ingest.archive_source import HttpSource
from ingest.ingest_run import Ingester
from ingest.plan import IngestRequest
from tests.ingest.conftest import (ArchiveServer, Reply, checksum_for, kline_csv, lake_fingerprint,
                                   make_zip)

JAN_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
FEB_MS = 1_706_745_600_000  # 2024-02-01T00:00:00Z
MONTHLY_JAN = "data/futures/um/monthly/klines/BTCUSDT/5m/BTCUSDT-5m-2024-01.zip"
JAN_ROWS = 31 * 288


def jan_request(**changes: object) -> IngestRequest:
    values = dict(markets=("um",), kinds=("klines",), symbols=("BTCUSDT",),
                  start=date(2024, 1, 1), end=date(2024, 1, 31), interval="5m")
    values.update(changes)
    return IngestRequest(**values)


def ingester(server: ArchiveServer, root: Path, sleeps: list[float] | None = None) -> Ingester:
    recorded = sleeps if sleeps is not None else []
    source = HttpSource(base_url=server.url, backoff_seconds=0.01, sleep=recorded.append)
    return Ingester(source=source, data_root=root, jobs=2, retry_sleep=recorded.append, show_progress=False)


def jan_zip(rows: int = JAN_ROWS, price: float = 100.0) -> bytes:
    return make_zip({"BTCUSDT-5m-2024-01.csv": kline_csv(JAN_MS, rows, header=True, price=price)})


def lake_rows(root: Path) -> int:
    files = list((root / "lake" / "raw").rglob("*.parquet"))
    if not files:
        return 0
    return duckdb.connect().execute(f"select count(*) from read_parquet({[str(f) for f in files]})").fetchone()[0]


def test_server_error_then_success_is_retried(archive_server: ArchiveServer, tmp_path: Path) -> None:
    archive_server.publish(MONTHLY_JAN, jan_zip())
    archive_server.script[MONTHLY_JAN] = [Reply(500), Reply(503)]
    report = ingester(archive_server, tmp_path).run(jan_request())
    assert report.count("ingested") == 1
    assert archive_server.zip_requests().count(f"GET {MONTHLY_JAN}") == 3
    assert lake_rows(tmp_path) == JAN_ROWS


def test_429_honours_retry_after(archive_server: ArchiveServer, tmp_path: Path) -> None:
    archive_server.publish(MONTHLY_JAN, jan_zip())
    archive_server.script[MONTHLY_JAN] = [Reply(429, headers={"Retry-After": "7"})]
    sleeps: list[float] = []
    report = ingester(archive_server, tmp_path, sleeps).run(jan_request())
    assert report.count("ingested") == 1
    assert 7.0 in sleeps, f"Retry-After was not honoured: slept {sleeps}"


def test_truncated_zip_is_retried_then_ingested(archive_server: ArchiveServer, tmp_path: Path) -> None:
    payload = jan_zip()
    archive_server.publish(MONTHLY_JAN, payload)
    archive_server.script[MONTHLY_JAN] = [Reply(200, body=payload[: len(payload) // 2])]
    report = ingester(archive_server, tmp_path).run(jan_request())
    assert report.count("ingested") == 1 and lake_rows(tmp_path) == JAN_ROWS


def test_persistently_truncated_zip_is_quarantined(archive_server: ArchiveServer, tmp_path: Path) -> None:
    payload = jan_zip()
    truncated = payload[: len(payload) // 2]
    archive_server.publish(MONTHLY_JAN, truncated)
    archive_server.files[MONTHLY_JAN + ".CHECKSUM"] = checksum_for("x.zip", truncated)  # published broken
    report = ingester(archive_server, tmp_path).run(jan_request(end=date(2024, 1, 31)))
    outcome = next(o for o in report.outcomes if o.ref.path == MONTHLY_JAN)
    assert outcome.status == "quarantined" and "corrupt zip" in outcome.message
    assert "BTCUSDT-5m-2024-01.zip" in outcome.message
    assert lake_rows(tmp_path) == 0
    assert (tmp_path / "lake" / "quarantine" / MONTHLY_JAN).read_bytes() == truncated
    reason = json.loads((tmp_path / "lake" / "quarantine" / (MONTHLY_JAN + ".reason.json")).read_text())
    assert "corrupt zip" in reason["reason"]


def test_checksum_mismatch_keeps_previous_rows(archive_server: ArchiveServer, tmp_path: Path) -> None:
    archive_server.publish(MONTHLY_JAN, jan_zip())
    run = ingester(archive_server, tmp_path)
    assert run.run(jan_request()).count("ingested") == 1
    before = lake_fingerprint(tmp_path)
    parquet = {k: v for k, v in before.items() if k.startswith("raw/")}
    # The archive is republished, but the CDN keeps serving bytes that do not match.
    archive_server.files[MONTHLY_JAN + ".CHECKSUM"] = checksum_for("x.zip", jan_zip(price=200.0))
    report = run.run(jan_request())
    outcome = next(o for o in report.outcomes if o.ref.path == MONTHLY_JAN)
    assert outcome.status == "quarantined" and "sha256 mismatch" in outcome.message
    assert archive_server.zip_requests().count(f"GET {MONTHLY_JAN}") == 1 + run.verify_attempts
    after = lake_fingerprint(tmp_path)
    assert {k: v for k, v in after.items() if k.startswith("raw/")} == parquet
    assert {k: v for k, v in after.items() if k.startswith("ledger/")} == {
        k: v for k, v in before.items() if k.startswith("ledger/")}


def test_missing_checksum_is_not_ingested(archive_server: ArchiveServer, tmp_path: Path) -> None:
    archive_server.publish(MONTHLY_JAN, jan_zip(), checksum=False)
    report = ingester(archive_server, tmp_path).run(jan_request())
    outcome = next(o for o in report.outcomes if o.ref.path == MONTHLY_JAN)
    assert outcome.status == "quarantined" and "no .CHECKSUM" in outcome.message
    assert lake_rows(tmp_path) == 0


def test_unpublished_month_falls_back_to_daily_archives(archive_server: ArchiveServer, tmp_path: Path) -> None:
    # January monthly is 404: its days come from daily archives, of which Jan 31 is also 404.
    for day in range(1, 31):
        path = f"data/futures/um/daily/klines/BTCUSDT/5m/BTCUSDT-5m-2024-01-{day:02d}.zip"
        name = path.rsplit("/", 1)[-1].replace(".zip", ".csv")
        archive_server.publish(path, make_zip({name: kline_csv(JAN_MS + (day - 1) * 86_400_000, 288)}))
    report = ingester(archive_server, tmp_path).run(jan_request())
    assert report.count("not_published") == 2  # the monthly and Jan 31
    assert report.count("ingested") == 30
    assert lake_rows(tmp_path) == 30 * 288
    ledger = json.loads((tmp_path / "lake/ledger/um/klines/interval=5m/symbol=BTCUSDT/2024-01.json").read_text())
    assert ledger["status"] == "not_published"


def test_monthly_lacking_a_day_is_completed_from_its_daily(archive_server: ArchiveServer, tmp_path: Path) -> None:
    csv = kline_csv(JAN_MS, JAN_ROWS)
    lines = csv.decode().splitlines(keepends=True)
    without_jan_10 = "".join(lines[: 9 * 288] + lines[10 * 288:]).encode()
    archive_server.publish(MONTHLY_JAN, make_zip({"BTCUSDT-5m-2024-01.csv": without_jan_10}))
    daily = "data/futures/um/daily/klines/BTCUSDT/5m/BTCUSDT-5m-2024-01-10.zip"
    archive_server.publish(daily, make_zip({"BTCUSDT-5m-2024-01-10.csv": "".join(lines[9 * 288: 10 * 288]).encode()}))
    report = ingester(archive_server, tmp_path).run(jan_request())
    assert report.count("ingested") == 2
    monthly = next(o for o in report.outcomes if o.ref.path == MONTHLY_JAN)
    assert monthly.days_missing == ["2024-01-10"]
    assert lake_rows(tmp_path) == JAN_ROWS


def test_republished_archive_replaces_rows(archive_server: ArchiveServer, tmp_path: Path) -> None:
    archive_server.publish(MONTHLY_JAN, jan_zip(rows=JAN_ROWS - 288))
    run = ingester(archive_server, tmp_path)
    first = run.run(jan_request())
    assert lake_rows(tmp_path) == JAN_ROWS - 288
    assert first.outcomes[0].days_missing == ["2024-01-31"]  # and its daily archive is a 404
    archive_server.publish(MONTHLY_JAN, jan_zip())  # fixed upstream: new bytes, new checksum
    report = run.run(jan_request())
    assert report.count("ingested") == 1
    assert lake_rows(tmp_path) == JAN_ROWS
    ledger = json.loads((tmp_path / "lake/ledger/um/klines/interval=5m/symbol=BTCUSDT/2024-01.json").read_text())
    assert ledger["rows_written"] == JAN_ROWS and ledger["days_missing"] == []


def test_zip_with_two_csvs_is_quarantined(archive_server: ArchiveServer, tmp_path: Path) -> None:
    csv = kline_csv(JAN_MS, JAN_ROWS)
    archive_server.publish(MONTHLY_JAN, make_zip({"BTCUSDT-5m-2024-01.csv": csv, "nested/BTCUSDT-5m-2024-01.csv": csv}))
    report = ingester(archive_server, tmp_path).run(jan_request())
    outcome = next(o for o in report.outcomes if o.ref.path == MONTHLY_JAN)
    assert outcome.status == "quarantined" and "exactly one CSV" in outcome.message
    assert lake_rows(tmp_path) == 0


def test_rerun_downloads_nothing_and_leaves_lake_byte_identical(archive_server: ArchiveServer, tmp_path: Path) -> None:
    archive_server.publish(MONTHLY_JAN, jan_zip())
    feb = "data/futures/um/monthly/klines/BTCUSDT/5m/BTCUSDT-5m-2024-02.zip"
    archive_server.publish(feb, make_zip({"BTCUSDT-5m-2024-02.csv": kline_csv(FEB_MS, 29 * 288)}))
    request = jan_request(end=date(2024, 2, 29))
    ingester(archive_server, tmp_path).run(request)
    before = lake_fingerprint(tmp_path)
    archive_server.requests.clear()
    report = ingester(archive_server, tmp_path).run(request)
    assert report.count("unchanged") == 2
    assert archive_server.zip_requests() == [], "a re-run downloaded a verified archive again"
    assert lake_fingerprint(tmp_path) == before


def test_duplicates_dropped_and_counted(archive_server: ArchiveServer, tmp_path: Path) -> None:
    csv = kline_csv(JAN_MS, JAN_ROWS)
    lines = csv.decode().splitlines(keepends=True)
    archive_server.publish(MONTHLY_JAN, make_zip({"BTCUSDT-5m-2024-01.csv": "".join(lines + lines[:5]).encode()}))
    report = ingester(archive_server, tmp_path).run(jan_request())
    assert report.outcomes[0].duplicates_dropped == 5
    assert lake_rows(tmp_path) == JAN_ROWS


@pytest.mark.parametrize("defect, expected", [
    ("mixed_units", "mixes millisecond and microsecond"),
    ("extra_column", "malformed CSV"),
    ("wrong_month", "outside the file's period"),
])
def test_malformed_files_are_quarantined_with_a_reason(archive_server: ArchiveServer, tmp_path: Path,
                                                       defect: str, expected: str) -> None:
    lines = kline_csv(JAN_MS, JAN_ROWS).decode().splitlines(keepends=True)
    if defect == "mixed_units":
        lines[100] = kline_csv(JAN_MS + 100 * 300_000, 1, unit_scale=1000).decode()
    elif defect == "extra_column":
        lines[100] = lines[100].rstrip("\n") + ",1\n"
    else:
        lines = kline_csv(FEB_MS + 40 * 86_400_000, 10).decode().splitlines(keepends=True)
    archive_server.publish(MONTHLY_JAN, make_zip({"BTCUSDT-5m-2024-01.csv": "".join(lines).encode()}))
    report = ingester(archive_server, tmp_path).run(jan_request())
    outcome = next(o for o in report.outcomes if o.ref.path == MONTHLY_JAN)
    assert outcome.status == "quarantined", outcome
    assert expected in outcome.message and "BTCUSDT-5m-2024-01.zip" in outcome.message
    assert lake_rows(tmp_path) == 0
