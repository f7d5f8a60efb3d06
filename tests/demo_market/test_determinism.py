"""Same seed, byte-identical archive (every zip, checksum and ground-truth file); another seed,
different data. Uses a small window that still crosses the spot microsecond switch."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ingest.demo_market import DemoConfig, generate

SMALL = dict(symbols=2, start=date(2024, 12, 20), months=2)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    base = tmp_path_factory.mktemp("determinism")
    out = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        out[name] = _tree(generate(DemoConfig(out=base / name, seed=seed, **SMALL)))
    return out


def test_same_seed_gives_byte_identical_archives(runs: dict[str, dict[str, bytes]]) -> None:
    a, b = runs["a"], runs["b"]
    assert len(a) > 100 and a.keys() == b.keys()
    different = [k for k in a if a[k] != b[k]]
    assert not different, different[:5]


def test_a_different_seed_gives_different_data(runs: dict[str, dict[str, bytes]]) -> None:
    a, c = runs["a"], runs["c"]
    klines = [k for k in a if k.endswith(".zip") and "/klines/" in k and k in c]
    assert klines and all(a[k] != c[k] for k in klines)
    assert a["ground_truth/occurrences.parquet"] != c["ground_truth/occurrences.parquet"]


def test_regenerating_into_the_same_folder_replaces_the_archive(tmp_path: Path) -> None:
    cfg = DemoConfig(out=tmp_path / "demo", symbols=1, start=date(2024, 6, 1), months=1, seed=3)
    first = _tree(generate(cfg))
    stale = tmp_path / "demo" / "data" / "spot" / "stale.zip"
    stale.write_bytes(b"old")
    assert _tree(generate(cfg)) == first


def test_progress_reports_one_line_per_symbol_and_month(tmp_path: Path) -> None:
    lines: list[str] = []
    generate(DemoConfig(out=tmp_path / "p", symbols=2, start=date(2024, 6, 1), months=2, seed=1), progress=lines.append)
    per_month = [line for line in lines if line.startswith(("BTCUSDT 2024-", "ETHUSDT 2024-"))]
    assert len(per_month) == 4 and len(lines) <= 6
