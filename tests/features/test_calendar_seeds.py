"""The calendar seeds: real FOMC statement and US CPI release times converted to UTC across daylight
saving time (checked twice: Python's zoneinfo and DuckDB's ICU), and session hours."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

REPO = Path(__file__).resolve().parents[2]
RELEASES = list(csv.DictReader((REPO / "seeds" / "macro_releases.csv").open()))
SESSIONS = list(csv.DictReader((REPO / "seeds" / "market_sessions.csv").open()))


def test_release_times_are_eastern_wall_clock_converted_with_dst() -> None:
    for row in RELEASES:
        local = datetime.fromisoformat(row["release_time_local"]).replace(tzinfo=ZoneInfo(row["timezone"]))
        utc = datetime.fromisoformat(row["release_time_utc"])
        assert local == utc, row
        expected = "14:00" if row["release_type"] == "fomc" else "08:30"
        assert row["release_time_local"].endswith(expected), row


def test_duckdb_agrees_on_the_utc_times() -> None:
    conn = duckdb.connect()
    conn.execute("set TimeZone = 'UTC'").fetchall()
    rows = conn.execute(
        f"select count(*) filter (where timezone(timezone, cast(release_time_local as timestamp)) "
        f"<> cast(release_time_utc as timestamptz)) from read_csv('{REPO / 'seeds' / 'macro_releases.csv'}', "
        f"all_varchar = true)").fetchall()
    assert rows == [(0,)]


def test_known_dates_and_dst_offsets() -> None:
    by_time = {(r["release_type"], r["release_time_utc"]) for r in RELEASES}
    assert ("fomc", "2024-03-20 18:00:00+00:00") in by_time      # EDT: 14:00 = 18:00 UTC
    assert ("fomc", "2024-01-31 19:00:00+00:00") in by_time      # EST: 14:00 = 19:00 UTC
    assert ("fomc", "2024-11-07 19:00:00+00:00") in by_time      # Thursday, after the US election
    assert ("cpi", "2023-03-14 12:30:00+00:00") in by_time       # two days after the DST switch
    assert ("cpi", "2025-10-24 12:30:00+00:00") in by_time       # September 2025 CPI, moved by the shutdown
    assert ("cpi", "2025-12-18 13:30:00+00:00") in by_time       # November 2025 CPI
    assert not any(r["release_time_utc"].startswith("2025-11") and r["release_type"] == "cpi" for r in RELEASES)
    fomc = [r for r in RELEASES if r["release_type"] == "fomc"]
    assert len(fomc) == 32 and {r["release_time_utc"][:4] for r in fomc} == {"2023", "2024", "2025", "2026"}
    weekdays = {datetime.fromisoformat(r["release_time_local"]).date().isoweekday() for r in fomc}
    assert weekdays <= {3, 4}


def test_releases_are_unique_and_sorted() -> None:
    times = [r["release_time_utc"] for r in RELEASES]
    assert len(times) == len(set(times)) and times == sorted(times)


def test_sessions_cover_each_local_date_once() -> None:
    assert {row["session"] for row in SESSIONS} == {"asia", "europe", "us"}
    for session in ("asia", "europe", "us"):
        rows = sorted((r for r in SESSIONS if r["session"] == session), key=lambda r: r["valid_from"])
        for earlier, later in zip(rows, rows[1:]):
            assert earlier["valid_to"] == later["valid_from"]
        for row in rows:
            assert date.fromisoformat(row["valid_from"]) < date.fromisoformat(row["valid_to"])
            ZoneInfo(row["timezone"])
            assert row["open_local"] < row["close_local"]
