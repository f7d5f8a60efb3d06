"""`dbt build` of the feature stage on the demo market: truncation invariance (features and states of
bars before T are identical whether the lake is cut at T or not), a changed window in a copy of
spec/ changes that feature and nothing else, and the warehouse matches the spec."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from python_udfs.feature_inputs import CALENDAR_COLUMNS
from python_udfs.feature_spec import load_catalog
from tests.dbt_runner import run_concurrently, run_dbt

REPO = Path(__file__).resolve().parents[2]
CUT = datetime(2024, 3, 12, 13, 45, tzinfo=timezone.utc)
"""T: bars with ts < T (known by T) must not depend on anything after T."""

pytestmark = pytest.mark.slow


AVAILABLE_BY = {
    # kind folder -> (column, inclusive): a row is known once this time has passed
    "klines": ("close_time", False), "markPriceKlines": ("close_time", False),
    "indexPriceKlines": ("close_time", False), "premiumIndexKlines": ("close_time", False),
    "fundingRate": ("funding_time", True), "metrics": ("period_end", True),
    "liquidationSnapshot": ("time", False), "bookTicker": ("transaction_time", False),
}


def cut_lake(source: Path, target: Path, cut: datetime) -> None:
    """Copy the lake keeping only rows known by `cut` (by each kind's availability time)."""
    shutil.copytree(source / "lake", target / "lake")
    for path in (target / "lake" / "raw").rglob("*.parquet"):
        kind = path.relative_to(target / "lake" / "raw").parts[1]
        column, inclusive = AVAILABLE_BY[kind]
        table = pq.read_table(path)
        limit = pa.scalar(cut, type=table.schema.field(column).type)
        keep = pc.less_equal(table[column], limit) if inclusive else pc.less(table[column], limit)
        if kind == "bookTicker":
            keep = pc.and_(keep, pc.less(table["event_time"], limit))
        kept = table.filter(keep)
        if kept.num_rows:
            pq.write_table(kept, path)
        else:
            path.unlink()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The demo market (3 symbols x 2 months) ingested and built twice: full, and cut at CUT."""
    from ingest.demo_market import DemoConfig, generate
    from ingest.pipeline import ingest_archive

    base = tmp_path_factory.mktemp("features_build")
    full, cut = base / "full", base / "cut"
    archive = generate(DemoConfig(out=base / "archive", symbols=3, months=2, seed=11, start=date(2024, 2, 1)))
    ingest_archive(archive, full, say=lambda line: None)
    cut_lake(full, cut, CUT)
    selection = ["build", "-s", "+dim_states", "+fct_event_flags", "+fct_event_coverage",
                 "--indirect-selection", "cautious"]
    for done in run_concurrently(lambda: run_dbt(selection, full), lambda: run_dbt(selection, cut)):
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    yield {"full": full, "cut": cut, "base": base}


def _differences(full: Path, cut: Path, relation: str, where: str) -> dict[str, tuple]:
    """Columns of `relation` whose values differ between the two builds for the rows `where`:
    NULL pattern and non-float values exactly, floats to 1e-9 relative (see the test)."""
    conn = duckdb.connect()
    conn.execute(f"attach '{full / 'warehouse.duckdb'}' as full_db (read_only)").fetchall()
    conn.execute(f"attach '{cut / 'warehouse.duckdb'}' as cut_db (read_only)").fetchall()
    counts = conn.execute(f"select (select count(*) from full_db.main.{relation} where {where}), "
                          f"(select count(*) from cut_db.main.{relation} where {where})").fetchall()[0]
    assert counts[0] == counts[1] and counts[0] > 0, counts
    columns = conn.execute("select column_name, data_type from duckdb_columns() where database_name = 'full_db' "
                           f"and table_name = '{relation}' and column_name not in ('symbol', 'ts')").fetchall()
    differing = {}
    for name, kind in columns:
        if kind in ("DOUBLE", "FLOAT"):
            same = (f"(a.{name} is null and b.{name} is null) or abs(a.{name} - b.{name}) "
                    f"<= 1e-9 * greatest(abs(a.{name}), abs(b.{name})) + 1e-15")
        else:
            same = f"a.{name} is not distinct from b.{name}"
        rows = conn.execute(
            f"select count(*), min(a.ts)::varchar, any_value(a.{name}::varchar), any_value(b.{name}::varchar) "
            f"from (select * from full_db.main.{relation} where {where}) a "
            f"full join (select * from cut_db.main.{relation} where {where}) b using (symbol, ts) "
            f"where not coalesce({same}, false)").fetchall()[0]
        if rows[0]:
            differing[name] = rows
    return differing


@pytest.mark.parametrize("relation", ["fct_bars", "fct_features", "dim_states", "fct_event_flags"])
def test_truncation_invariance(built: dict[str, Path], relation: str) -> None:
    """Every feature and state of every bar before T is the same whether the lake is cut at T or not:
    NULL patterns, booleans, labels and integers exactly; floats to 1e-9 relative, because the CLEAN
    stage's parallel sums (liquidation and book-ticker aggregates) may differ in the last bit from
    one build to the next. fct_bars first, so a failure points at the stage that leaks."""
    where = f"ts < timestamptz '{CUT.isoformat()}'"
    assert _differences(built["full"], built["cut"], relation, where) == {}


def test_features_are_populated_before_the_cut(built: dict[str, Path]) -> None:
    conn = duckdb.connect(str(built["cut"] / "warehouse.duckdb"), read_only=True)
    catalog = load_catalog()
    always_known = [name for name, f in catalog.features.items()
                    if f.block in ("returns", "volatility", "trend", "cross_section", "context")]
    counts = conn.execute("select " + ", ".join(f"count({name})" for name in always_known)
                          + " from fct_features").fetchall()[0]
    assert all(count > 0 for count in counts), dict(zip(always_known, counts))


def test_warehouse_matches_the_spec(built: dict[str, Path]) -> None:
    conn = duckdb.connect(str(built["full"] / "warehouse.duckdb"), read_only=True)
    catalog = load_catalog()
    columns = [r[0] for r in conn.execute("select column_name from duckdb_columns() where table_name = "
                                          "'fct_features' order by column_index").fetchall()]
    assert columns == ["symbol", "ts", "available_at", "is_gap", *catalog.features]
    comments = dict(conn.execute("select column_name, comment from duckdb_columns() "
                                 "where table_name = 'fct_features'").fetchall())
    for name, feature in catalog.features.items():
        assert comments[name].startswith(feature.description), name
        assert f"lookback: {feature.lookback_bars} bars" in comments[name]
    states = [r[0] for r in conn.execute("select column_name from duckdb_columns() where table_name = "
                                         "'dim_states' order by column_index").fetchall()]
    assert states == ["symbol", "ts", *catalog.states]
    calendar = [r[0] for r in conn.execute("select column_name from duckdb_columns() where table_name = "
                                           "'int_calendar__bar_context' order by column_index").fetchall()]
    assert calendar == ["ts", *CALENDAR_COLUMNS]
    [(rows, bars)] = conn.execute("select (select count(*) from fct_features), (select count(*) from fct_bars)"
                                  ).fetchall()
    assert rows == bars
    [(gap_rows_with_values,)] = conn.execute(
        "select count(*) from fct_features where is_gap and (ret_1 is not null or rv_12 is not null "
        "or hour_utc is not null)").fetchall()
    assert gap_rows_with_values == 0


def test_gap_test_ran_in_the_build(built: dict[str, Path]) -> None:
    results = (built["full"] / "target" / "run_results.json").read_text()
    assert "fct_features__null_where_window_touches_gap" in results


def test_changing_a_window_in_spec_changes_that_feature_only(built: dict[str, Path]) -> None:
    changed_root = built["base"] / "changed"
    shutil.copytree(built["full"], changed_root, ignore=shutil.ignore_patterns("target", "logs"))
    spec = built["base"] / "spec_copy"
    shutil.copytree(REPO / "spec", spec)
    volatility = spec / "features" / "volatility.yaml"
    text = volatility.read_text()
    before = ("formula: rolling_mean(true_range, 288)\n    inputs: [true_range]\n    lookback_bars: 288")
    assert before in text
    volatility.write_text(text.replace(before, before.replace("288)", "144)").replace("lookback_bars: 288",
                                                                                       "lookback_bars: 144")))
    done = run_dbt(["build", "-s", "tag:features"], changed_root, spec_dir=spec)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]

    conn = duckdb.connect()
    conn.execute(f"attach '{built['full'] / 'warehouse.duckdb'}' as a (read_only)").fetchall()
    conn.execute(f"attach '{changed_root / 'warehouse.duckdb'}' as b (read_only)").fetchall()
    catalog = load_catalog()
    changed = []
    for name in catalog.features:
        [(n,)] = conn.execute(f"select count(*) from a.main.fct_features x join b.main.fct_features y "
                              f"using (symbol, ts) where x.{name} is distinct from y.{name}").fetchall()
        if n:
            changed.append(name)
    assert changed == ["atr_288"]
    [(n,)] = conn.execute("select count(*) from a.main.fct_features x join b.main.fct_features y using (symbol, ts) "
                          "where x.atr_288 is null and y.atr_288 is not null").fetchall()
    assert n > 0  # the shorter window becomes known earlier
    for state in catalog.states:
        [(n,)] = conn.execute(f"select count(*) from a.main.dim_states x join b.main.dim_states y using (symbol, ts) "
                              f"where x.{state} is distinct from y.{state}").fetchall()
        assert n == 0, state


def test_bench_features_smoke(tmp_path: Path) -> None:
    from ingest.bench_features import bench_features

    rows = bench_features(tmp_path, symbols=2, days=12, memory_limit="1GB", pandas_venv=tmp_path / "pandas-venv")
    stage, events, discovery, subset = rows
    assert stage["rows"] == 2 * 12 * 288 and stage["bars_per_s"] > 0 and stage["peak_rss_mb"] > 0
    assert events["bars"] == stage["rows"] and events["bars_per_s"] > 0
    assert events["events"]["event_types"] == 57 and events["events"]["fired"] > 0
    assert discovery["hypotheses_planned"] > 0 and discovery["hypotheses_per_s"] > 0
    assert subset["speedup_vs_baseline"] > 0
    assert subset["max_rel_diff_vs_baseline"] < 1e-6
    # pandas is installed from the package index into a venv of its own; without one it is reported skipped
    if subset["pandas_baseline"].startswith("ok"):
        assert subset["max_rel_diff_vs_pandas"] < 1e-6 and subset["speedup_vs_pandas"] > 0
    else:
        assert subset["pandas_baseline"].startswith("skipped: `"), subset["pandas_baseline"]


def test_gap_test_fails_on_a_feature_leaking_through_a_gap(built: dict[str, Path]) -> None:
    copy = built["base"] / "tampered"
    shutil.copytree(built["full"], copy, ignore=shutil.ignore_patterns("target", "logs"))
    conn = duckdb.connect(str(copy / "warehouse.duckdb"))
    try:
        conn.execute("update fct_features set rv_12 = 0.01 where symbol = (select min(symbol) from fct_features) "
                     "and ts = (select min(ts) + interval 30 minute from fct_features)").fetchall()
        conn.execute("update dim_states set session = 'lunch' where ts = (select max(ts) from dim_states)").fetchall()
    finally:
        conn.close()
    done = run_dbt(["test", "-s", "fct_features", "dim_states"], copy)
    assert done.returncode != 0
    assert "FAIL 1 fct_features__null_where_window_touches_gap" in done.stdout, done.stdout[-4000:]
    assert re.search(r"FAIL \d+ dim_states__values_declared_in_spec", done.stdout), done.stdout[-4000:]
