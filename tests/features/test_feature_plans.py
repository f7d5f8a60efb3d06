"""The compiled plans of the project spec: layering, lineage, PIT lint, the SQL entry points that
read the spec fresh, the states, and the contracts between Python, macros and models."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from ingest.pit_lint import check_sql
from python_udfs.duckdb_plugin import register_udfs
from python_udfs.feature_compiler import compile_block, compile_states, relation_placeholder, render_sql
from python_udfs.feature_inputs import CALENDAR_COLUMNS, bar_columns
from python_udfs.feature_spec import BLOCKS, load_catalog

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "spec"
CATALOG = load_catalog(SPEC)


def test_macro_block_order_matches_python() -> None:
    text = (REPO / "macros" / "features" / "feature_blocks.sql").read_text()
    listed = re.search(r"feature_block_order\(\).*?return\(\[(.*?)\]\)", text, re.S)
    assert listed is not None
    assert tuple(re.findall(r"'([a-z_]+)'", listed.group(1))) == BLOCKS


def test_every_block_has_a_model() -> None:
    models = {p.stem for p in (REPO / "models" / "intermediate" / "features").glob("int_features__*.sql")}
    assert models == {f"int_features__{block}" for block in BLOCKS}


@pytest.mark.parametrize("block", BLOCKS)
def test_block_plans_are_lint_clean_and_read_only_earlier_blocks(block: str) -> None:
    plan = compile_block(CATALOG, block)
    assert [f["name"] for f in plan["features"]] == [f.name for f in CATALOG.block(block)]
    allowed = {"fct_bars", "int_calendar__bar_context"} | {f"int_features__{b}" for b in BLOCKS[:BLOCKS.index(block)]}
    assert set(plan["relations"].values()) <= allowed
    sql = render_sql(plan, {})
    assert "__relation__" not in sql
    assert check_sql(f"int_features__{block}", [], sql) == []
    assert " following" not in sql.lower()


def test_layers_follow_dependencies() -> None:
    layers = {f["name"]: f["layer"] for f in compile_block(CATALOG, "volatility")["features"]}
    assert layers["rv_12"] == 1                     # window over an upstream column
    assert layers["rv_12_z_288"] == 2               # window over a feature of layer 1
    assert layers["vol_ratio_12_288"] == 2          # scalar over layer-1 features
    trend = {f["name"]: f["layer"] for f in compile_block(CATALOG, "trend")["features"]}
    assert trend["ema_slope_12"] == trend["ema_12"] + 1
    assert trend["price_volume_divergence_48"] == 2  # zscore over a hoisted rolling_sum helper


def test_declared_lookbacks_are_the_computed_ones() -> None:
    lookbacks = {name: f.lookback_bars for name, f in CATALOG.features.items()}
    assert lookbacks["rv_288_z_2016"] == 288 + 2015
    assert lookbacks["roll_spread_288"] == 1 + 1 + 287
    assert lookbacks["ema_288"] == 3315


def test_sql_functions_read_the_spec_folder_fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tmp_path / "spec"
    shutil.copytree(SPEC, spec)
    monkeypatch.setenv("BACKTEST_SPEC_DIR", str(spec))
    conn = register_udfs(duckdb.connect())
    first = json.loads(conn.execute("select feature_plan_json('volatility')").fetchall()[0][0])
    assert first == json.loads(json.dumps(compile_block(load_catalog(spec), "volatility")))
    volatility = spec / "features" / "volatility.yaml"
    volatility.write_text(volatility.read_text().replace("formula: rolling_std(ret_1, 12)\n    inputs: [ret_1]\n"
                                                         "    lookback_bars: 12",
                                                         "formula: rolling_std(ret_1, 24)\n    inputs: [ret_1]\n"
                                                         "    lookback_bars: 24"), encoding="utf-8")
    volatility.write_text(volatility.read_text().replace("lookback_bars: 299", "lookback_bars: 311"))
    second = json.loads(conn.execute("select feature_plan_json('volatility')").fetchall()[0][0])
    assert "rows between 23 preceding" in second["sql"] and second["sql"] != first["sql"]
    catalog = json.loads(conn.execute("select feature_catalog_json()").fetchall()[0][0])
    assert [f["lookback_bars"] for f in catalog["blocks"]["volatility"] if f["name"] == "rv_12"] == [24]
    states = json.loads(conn.execute("select state_plan_json()").fetchall()[0][0])
    assert {s["name"] for s in states["states"]} == {"vol_regime", "carry_state", "trend_state", "funding_state",
                                                       "session"}


def test_states_pick_the_first_matching_case_and_are_null_on_unknown_inputs() -> None:
    plan = {s["name"]: s for s in compile_states(CATALOG)["states"]}
    conn = duckdb.connect()
    rows = conn.execute(
        f"select {plan['vol_regime']['sql']} as v, {plan['session']['sql']} as s from (values "
        "(0.1, false, true, true, false), (0.5, true, true, true, true), (0.9, false, false, false, true), "
        "(null, false, false, true, false), (0.5, null, false, false, false)) "
        "as t(rv_288_pct_2016, is_weekend, session_europe, session_us, session_asia)").fetchall()
    assert rows == [("low", "eu_us_overlap"), ("mid", "weekend"), ("high", "asia"), (None, "us"), ("mid", None)]
    assert plan["vol_regime"]["labels"] == ["low", "high", "mid"]


def test_calendar_columns_match_the_calendar_model_yml() -> None:
    document = yaml.safe_load((REPO / "models/intermediate/calendar/int_calendar__bar_context.yml").read_text())
    columns = [c["name"] for c in document["models"][0]["columns"]]
    assert columns == ["ts", *CALENDAR_COLUMNS]


def test_spec_reads_only_columns_fct_bars_declares() -> None:
    bars = bar_columns()
    used = {name for f in CATALOG.features.values() for name in f.inputs
            if name not in CATALOG.features and not name.startswith("cal_")}
    assert used <= set(bars), used - set(bars)


def test_plan_placeholders_are_unique_relation_names() -> None:
    plan = compile_block(CATALOG, "trend")
    assert plan["relations"] == {relation_placeholder(m): m for m in
                                 ("fct_bars", "int_features__returns", "int_features__positioning")}
