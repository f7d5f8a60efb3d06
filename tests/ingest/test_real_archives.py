"""The real Binance files in ../shared/data, served in the archive's layout over HTTP, ingest to
exactly their row counts, microsecond files landing on the same time axis as millisecond ones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from ingest.archive_source import HttpSource
from ingest.ingest_run import Ingester
from ingest.plan import IngestRequest
from tests.ingest.conftest import ArchiveServer, make_zip, require_shared_data

SPOT_5M_ROWS = 148_896


@pytest.fixture(scope="module")
def real_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, int]]]:
    shared = require_shared_data() / "binance-vision"
    server = ArchiveServer()
    line_counts: dict[str, int] = {}
    for csv in sorted(shared.rglob("*.csv")):
        rel = csv.relative_to(shared).with_suffix(".zip")
        payload = csv.read_bytes()
        line_counts[csv.stem] = payload.count(b"\n") - (0 if payload[:1].isdigit() else 1)
        server.publish(f"data/{rel}", make_zip({csv.name: payload}))
    root = tmp_path_factory.mktemp("real")
    ingester = Ingester(HttpSource(server.url), root, jobs=2, show_progress=False)
    spot = ingester.run(IngestRequest(("spot",), ("klines",), ("BTCUSDT",), date(2023, 10, 1),
                                      date(2025, 2, 28), "5m"))
    perp = ingester.run(IngestRequest(("um",), ("klines",), ("ALGOUSDT", "AVAXUSDT", "FILUSDT", "NEARUSDT"),
                                      date(2024, 2, 1), date(2024, 2, 29), "1m"))
    perp25 = ingester.run(IngestRequest(("um",), ("klines",), ("ALGOUSDT", "AVAXUSDT", "FILUSDT", "NEARUSDT"),
                                        date(2025, 2, 1), date(2025, 2, 28), "1m"))
    assert spot.count("ingested") == 17 and perp.count("ingested") == 4 and perp25.count("ingested") == 4
    server.close()
    yield root, line_counts


def query(root: Path, sql: str) -> list[tuple]:
    lake = root / "lake" / "raw"
    return duckdb.connect().execute(sql.replace("$LAKE", str(lake))).fetchall()


def test_spot_5m_ingests_to_exact_row_count(real_lake: tuple[Path, dict[str, int]]) -> None:
    root, _ = real_lake
    [(rows, distinct)] = query(root, "select count(*), count(distinct open_time) from "
                                     "read_parquet('$LAKE/spot/klines/interval=5m/symbol=BTCUSDT/*.parquet')")
    assert rows == distinct == SPOT_5M_ROWS


def test_microsecond_files_share_the_time_axis(real_lake: tuple[Path, dict[str, int]]) -> None:
    root, _ = real_lake
    [(last_2024, first_2025, gaps)] = query(root, """
        with bars as (select open_time from read_parquet('$LAKE/spot/klines/interval=5m/symbol=BTCUSDT/*.parquet'))
        select (select max(open_time) from bars where open_time < '2025-01-01'),
               (select min(open_time) from bars where open_time >= '2025-01-01'),
               (select count(*) from (select open_time - lag(open_time) over (order by open_time) as step
                                      from bars) where step <> interval 5 minute)""")
    assert str(last_2024) == "2024-12-31 23:55:00+00:00"
    assert str(first_2025) == "2025-01-01 00:00:00+00:00"
    assert gaps == 0
    ledger = (root / "lake/ledger/spot/klines/interval=5m/symbol=BTCUSDT/2025-01.json").read_text()
    assert '"time_unit": "us"' in ledger


def test_perp_1m_files_ingest_to_their_line_counts(real_lake: tuple[Path, dict[str, int]]) -> None:
    root, line_counts = real_lake
    rows = dict(query(root, """
        select symbol || '-1m-' || strftime(min(open_time), '%Y-%m'), count(*)
        from read_parquet('$LAKE/um/klines/interval=1m/*/*.parquet', hive_partitioning = true, filename = true)
        group by symbol, filename"""))
    assert rows == {name: count for name, count in line_counts.items() if "-1m-" in name}
    assert rows["ALGOUSDT-1m-2024-02"] == 41_760 and rows["NEARUSDT-1m-2025-02"] == 40_320


FREQTRADE_BUILD_PAIRS = ("BTC_USDT", "ETH_USDT")
"""The freqtrade pairs the real-data build takes (spot, perp, mark and funding of each): the whole
directory (about 25 pairs) imports to its row counts in test_freqtrade_import, and building every
model on all of it took over 5 of the suite's 20 minutes without exercising anything two pairs do not."""


@pytest.mark.slow
def test_dbt_build_passes_on_real_data(real_lake: tuple[Path, dict[str, int]], tmp_path: Path) -> None:
    """Real archives plus real freqtrade files in one lake: `dbt build` (models and every data
    test) passes, and where both sources hold a bar the archive's row (with volumes) wins."""
    from ingest.freqtrade_import import import_directory
    from ingest.pipeline import dbt

    root, _ = real_lake
    source = require_shared_data() / "freqtrade" / "marketlab-2025"
    subset = tmp_path / "freqtrade"
    for path in source.rglob("*.feather"):
        if path.name.startswith(FREQTRADE_BUILD_PAIRS):
            link = subset / path.relative_to(source)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path)
    assert len(list(subset.rglob("*.feather"))) == 8, "BTC and ETH: spot, futures, mark and funding each"
    import_directory(subset, root)
    dbt(["build", "--exclude-resource-type", "unit_test"], root)  # unit tests: tests/warehouse, once
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    rows, distinct, archive_rows_without_volume = con.execute("""
        select count(*), count(distinct ts),
               count(*) filter (where ts < '2025-03-01' and quote_volume is null)
        from stg_binance__spot_klines where symbol = 'BTCUSDT' and interval = '5m'""").fetchone()
    assert rows == distinct and rows > SPOT_5M_ROWS
    assert archive_rows_without_volume == 0
