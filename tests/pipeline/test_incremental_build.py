"""Incremental builds (issue 9): with new days in the lake, `dbt build` updates bars, features,
events and labels incrementally and gives the same rows as a full rebuild.

The demo warehouse's lake is cut in the middle of its window (only rows known by CUT kept), the
bars -> labels chain is built on it from scratch, then the whole lake is put in place and the chain
is built again: an incremental run. Every incremental table must then hold the rows of the demo
warehouse's full build. That the second run was incremental is read from what it did: each model
ran a `delete ... where ts >= <cutoff>` and an insert (dbt's target/run), and the rows built before
the cut are still the ones the first build wrote (same DuckDB row ids: a full rebuild writes every
row again)."""

from __future__ import annotations

import json
import math
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from python_udfs.event_spec import load_event_catalog
from python_udfs.feature_compiler import compile_block
from python_udfs.feature_spec import BLOCKS, load_catalog
from tests.dbt_runner import run_dbt
from tests.features.test_feature_build import REPO, cut_lake

CUT = datetime(2024, 4, 30, 13, 47, tzinfo=timezone.utc)
"""Middle of the demo window (2024-03-01 .. 2024-07-01), not on a bar or day boundary."""

KEPT_BEFORE = CUT - timedelta(days=2)
"""Rows before this are never rewritten: the labels rewrite the events of the last entry_lag_bars +
longest horizon - 1 (288) bars before the cut, the other models start at the bar after the last one
built."""

INCREMENTAL = {
    "int_bars__gap_masked": ("market", "symbol", "ts"),
    "int_liquidations__aggregated_5m": ("symbol", "ts"),
    "fct_bars": ("symbol", "ts"),
    **{f"int_features__{block}": ("symbol", "ts") for block in (
        "returns", "volatility", "volume", "microstructure", "funding", "basis", "positioning", "liquidations",
        "trend", "cross_section", "context")},
    "fct_features": ("symbol", "ts"),
    "dim_states": ("symbol", "ts"),
    "int_events__detected": ("symbol", "ts"),
    "fct_event_flags": ("symbol", "ts"),
    "fct_events": ("symbol", "ts", "event_type"),
    "int_labels__forward_returns": ("symbol", "ts", "horizon_bars"),
}
"""Every incremental model of the chain and its key."""

# Staging views, seeds, the ingest ledger and the calendar come along with `+` on the first build.
# Data and unit tests are left out of both builds: the reference full build ran them, and rows
# equal to its rows pass them (the unit tests do not depend on the data at all).
FIRST_BUILD = ["build", "-s", "+int_labels__forward_returns", "+dim_states", "+fct_event_flags",
               "--indirect-selection", "cautious", "--exclude-resource-type", "test", "unit_test"]
# The second build runs only what new lake rows change: the views read the lake when queried and
# the ingest ledger is copied unchanged by cut_lake; the calendar is a (cheap) full table.
SECOND_BUILD = ["run", "-s", *INCREMENTAL, "int_calendar__bar_context"]


def _close(a: Any, b: Any) -> bool:
    """Equal, except floats (also inside JSON text, lists and structs) to 1e-9 relative."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(abs(a), abs(b))
    if isinstance(a, str) and isinstance(b, str) and a != b and a[:1] in "{[" and b[:1] in "{[":
        try:
            return _close(json.loads(a), json.loads(b))
        except ValueError:
            return False
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return bool(a == b)


def _row_ids(conn: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int]]:
    """Per table: rows before KEPT_BEFORE and a checksum of their (row id, key). Not for the labels:
    the incremental run deletes their last day in the middle of the table, and DuckDB compacts such a
    row group on checkpoint, which renumbers its rows (their delete is checked instead)."""
    sums = {}
    for table, keys in INCREMENTAL.items():
        if table == "int_labels__forward_returns":
            continue
        sums[table] = conn.execute(
            f"select count(*), sum(hash(rowid, {', '.join(keys)})::hugeint) from main.{table} where ts < ?",
            [KEPT_BEFORE]).fetchone()
    return sums


def test_lookbacks_come_from_the_spec() -> None:
    """What macros/incremental reads back: a block's longest feature lookback (stacked windows and
    EMA kernels are in the declared lookback, which the spec loader checks against the formula) and
    whether it is cross-sectional; the events' longest own lookback + cooldown; the labels' entry
    lag + longest horizon - 1."""
    catalog = load_catalog()
    plans = {block: compile_block(catalog, block) for block in BLOCKS}
    assert {b: p["lookback_bars"] for b, p in plans.items()} == {
        b: max(f.lookback_bars for f in catalog.block(b)) for b in BLOCKS}
    assert plans["trend"]["lookback_bars"] == 3315 + 48  # ema_slope_288: the ema_288 kernel, then a 48-bar lag
    assert [b for b, p in plans.items() if p["cross_section"]] == ["cross_section"]
    events = load_event_catalog()
    assert max(e.own_lookback_bars + e.cooldown_bars for e in events.events.values()) == 2592
    defaults = yaml.safe_load((REPO / "spec" / "global_defaults.yaml").read_text())["discovery"]
    assert defaults["entry_lag_bars"] + max(defaults["horizons_bars"]) - 1 == 288


@pytest.mark.slow
def test_incremental_build_gives_the_rows_of_a_full_build(demo_warehouse: Path, tmp_path: Path) -> None:
    root = tmp_path / "incremental"
    cut_lake(demo_warehouse, root, CUT)
    first = run_dbt(FIRST_BUILD, root)
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-3000:]
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        [(last_bar,)] = conn.execute("select max(ts) from fct_bars").fetchall()
        assert CUT - timedelta(minutes=15) < last_bar < CUT
        before = _row_ids(conn)

    shutil.rmtree(root / "lake")
    shutil.copytree(demo_warehouse / "lake", root / "lake")
    second = run_dbt(SECOND_BUILD, root)
    assert second.returncode == 0, second.stdout[-6000:] + second.stderr[-3000:]

    conn = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    conn.execute(f"attach '{demo_warehouse / 'warehouse.duckdb'}' as reference (read_only)").fetchall()

    # It was incremental: every model deleted from its cutoff on and inserted (the cutoff is the bar
    # after the last one built; the labels go back entry_lag_bars + the longest horizon - 1 = 288
    # bars to the events whose forward window was not complete), and kept the rows built before.
    kinds = dict(conn.execute("select model, build_kind from dbt_incremental.model_state").fetchall())
    assert {table: kinds.get(table) for table in INCREMENTAL} == {table: "incremental" for table in INCREMENTAL}
    cutoffs = {"int_labels__forward_returns": last_bar - timedelta(minutes=5 * 287)}
    for table in INCREMENTAL:
        [executed] = (root / "target" / "run").rglob(f"{table}.sql")
        statement = executed.read_text()
        cutoff = cutoffs.get(table, last_bar + timedelta(minutes=5))
        assert statement.lstrip().startswith(f'delete from "warehouse"."main"."{table}" where'), statement[:300]
        literal = f"timestamptz '{cutoff.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S}+00'"
        assert f"ts >= {literal}" in statement, (literal, statement[:600])
        assert "insert into" in statement and "create " not in statement, statement[:300]
    after = _row_ids(conn)
    assert after == before
    assert all(count > 0 for count, _ in before.values()), before

    # Same rows as the full build: EXCEPT ALL both ways, on (key, hash of the whole row) to keep it
    # cheap; the rows of the keys either side leaves are then compared in full. They must pair up on
    # their key and differ only in floats, by at most 1e-9 relative: the CLEAN stage's parallel sums
    # (liquidation and book-ticker aggregates, and what is computed from them) are not reproducible
    # to the last bit from one build to the next, full or incremental (test_truncation_invariance
    # allows the same). Everything else is bit-identical: incremental reads start on a segment-tree
    # block of the full build's windows (macros/incremental/incremental_window.sql).
    mismatches = {}
    for table, keys in INCREMENTAL.items():
        [(rows, reference_rows)] = conn.execute(
            f"select (select count(*) from main.{table}), (select count(*) from reference.main.{table})").fetchall()
        assert rows == reference_rows > 0, (table, rows, reference_rows)
        key = ", ".join(keys)
        differing: set[tuple[Any, ...]] = set()
        for left, right in (("main", "reference.main"), ("reference.main", "main")):
            differing |= set(conn.execute(
                f"select {key} from (select {key}, hash(t) from {left}.{table} as t except all "
                f"select {key}, hash(t) from {right}.{table} as t)").fetchall())
        if not differing:
            continue
        values = ", ".join("(" + ", ".join("?" * len(keys)) + ")" for _ in differing)
        ours, theirs = ({row[:len(keys)]: row[len(keys):] for row in conn.execute(
            f"with k({key}) as (values {values}) select {key}, t.* from {side}.{table} as t semi join k using ({key})",
            [value for row in differing for value in row]).fetchall()} for side in ("main", "reference.main"))
        unmatched = [k for k in differing if k not in ours or k not in theirs or not _close(ours[k], theirs[k])]
        if unmatched:
            mismatches[table] = sorted(unmatched)[:3]
    assert mismatches == {}
