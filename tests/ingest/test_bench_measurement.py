"""A benchmark measurement reports the memory of its own process, not of the one that started it:
`make bench` holds gigabytes between measurements, and Linux carries ru_maxrss across exec."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.bench import bench_ingest, run_measurement


def test_a_measurement_reports_its_own_peak_not_its_parents(tmp_path: Path) -> None:
    held = np.ones(1536 * 2**20 // 8)  # 1.5 GB touched by this process before the child starts
    measured = run_measurement("bench", "demo_market", str(tmp_path / "demo"), "1", "1")
    assert held.sum() > 0
    assert 0 < measured["peak_rss_mb"] < 1024, measured


@pytest.mark.slow
def test_ingest_bench_rows_are_measured_and_memory_is_flat(tmp_path: Path) -> None:
    rows = bench_ingest(tmp_path, repeats=1)
    assert [row["case"] for row in rows] == [f"{n} monthly archives of {i} klines" for i in ("5m", "1m") for n in (4, 16)]
    for row in rows:
        assert row["rows"] == (4 if row["case"].startswith("4 ") else 16) * (8928 if "5m" in row["case"] else 44_640)
        assert row["rows_per_s"] > 0 and row["baseline_rows_per_s"] > 0 and 0 < row["peak_rss_mb"] < 1024
    for interval in ("5m", "1m"):
        small, large = (row["peak_rss_mb"] for row in rows if interval in row["case"])
        assert large < small * 1.5, rows  # 4x the archives, not 4x the memory: archives are streamed
