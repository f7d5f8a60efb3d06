"""A hand-computed 3-symbol example through the bundle's own code: the signal SQL compiled from a
small spec (python_udfs/alpha_compiler.py) run on hand-written fct_features / dim_states rows, then
the scores, residuals and regime filters of int_alpha__signals (python_udfs/alpha_tables.py).

Three symbols, three bars; C is a gap at the second bar; A is in high-volatility chop at the first
bar and B's states are unknown at the third (momentum switched off there, fail closed)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from python_udfs.alpha_compiler import compile_alpha
from python_udfs.alpha_spec import build_alpha_spec
from python_udfs.alpha_tables import signal_table
from python_udfs.feature_compiler import render_sql
from python_udfs.feature_spec import load_catalog
from python_udfs.spec_registry import load_spec, spec_dir

T0 = datetime(2024, 3, 4, tzinfo=timezone.utc)
BARS = [T0 + timedelta(minutes=5 * i) for i in range(3)]
NAN = float("nan")
SIGNALS = [
    {"name": "mom", "family": "momentum", "formula": "ret_48", "inputs": ["ret_48"], "lookback_bars": 48,
     "transform": "xs_rank", "weight": 1.0, "description": "Rank of the 4-hour return."},
    {"name": "accel", "family": "momentum", "formula": "ret_48 - lag(ret_48, 1)", "inputs": ["ret_48"],
     "lookback_bars": 49, "transform": "xs_rank", "weight": 1.0, "description": "Change of the 4-hour return."},
    {"name": "carry", "family": "carry", "formula": "-funding_rate_bps", "inputs": ["funding_rate_bps"],
     "lookback_bars": 0, "transform": "xs_zscore", "weight": 1.0, "description": "Minus the funding rate."},
]
# symbol -> per bar (ret_48, funding_rate_bps, vol_regime, trend_state); None = a gap
ROWS = {
    "AAAUSDT": [(0.5, 1.0, "high", "chop"), (0.25, 2.0, "low", "up"), (0.0, 1.0, "mid", "up")],
    "BBBUSDT": [(-0.25, 3.0, "low", "up"), (0.75, 2.0, "low", "up"), (0.5, 2.0, None, None)],
    "CCCUSDT": [(1.0, 2.0, "mid", "chop"), None, (-0.5, 3.0, "high", "up")],
}


@pytest.fixture(scope="module")
def example() -> dict[tuple[str, str, int], dict[str, float]]:
    tree = copy.deepcopy(load_spec())
    tree["alpha"]["signals"] = {"signals": SIGNALS}
    bundle = tree["alpha"]["bundle"]
    bundle["cross_section"]["min_symbols"] = 2
    bundle["orthogonalisation"].update(factors=[], intercept=True, method="sequential", window="rolling",
                                       estimation_window_bars=3, min_observations=4)
    spec = build_alpha_spec(tree, spec_dir())
    plan = compile_alpha(spec, load_catalog())
    conn = duckdb.connect()
    features, states = [], []
    for symbol, bars in ROWS.items():
        for ts, row in zip(BARS, bars):
            gap = row is None
            ret, funding, vol, trend = row if row else (None, None, None, None)
            features.append({"symbol": symbol, "ts": ts, "is_gap": gap, "ret_48": ret, "funding_rate_bps": funding})
            states.append({"symbol": symbol, "ts": ts, "vol_regime": vol, "trend_state": trend})
    conn.register("fct_features", pa.Table.from_pylist(features))
    conn.register("dim_states", pa.Table.from_pylist(states))
    values = conn.sql(render_sql(plan, {})).to_arrow_table()
    assert values.num_rows == 3 * 3 * 3
    out = signal_table(values, pa.table({"symbol": pa.array([], pa.string()),
                                         "ts": pa.array([], pa.timestamp("us", tz="UTC"))}), spec)
    rows = {}
    for row in out.to_pylist():
        rows[(row["signal_name"], row["symbol"][0], BARS.index(row["ts"]))] = row
    for row in values.to_pylist():
        rows[(row["signal_name"], row["symbol"][0], BARS.index(row["ts"]))]["raw_value"] = row["raw_value"]
    return rows


def column(example: dict, signal: str, bar: int, name: str) -> list[float]:
    return [NAN if example[(signal, s, bar)][name] is None else example[(signal, s, bar)][name] for s in "ABC"]


def test_ranks_and_zscores_by_hand(example: dict) -> None:
    # bar 0: ret_48 0.5, -0.25, 1.0 -> B lowest, A middle, C highest
    assert column(example, "mom", 0, "score") == [0.0, -1.0, 1.0]
    # bar 1: C is a gap: ranked among A and B only (n = 2), C is NULL, not 0
    assert column(example, "mom", 1, "score")[:2] == [-1.0, 1.0] and np.isnan(column(example, "mom", 1, "score")[2])
    assert [example[("mom", s, 1)]["n_symbols"] for s in "ABC"] == [2, 2, 2]
    assert example[("mom", "C", 1)]["raw_value"] is None
    # bar 2: 0.0, 0.5, -0.5
    assert column(example, "mom", 2, "score") == [0.0, 1.0, -1.0]
    # carry = -funding: bar 0 (-1, -3, -2): mean -2, std 1; bar 1: A and B equal -> 0, C unknown
    assert column(example, "carry", 0, "score") == pytest.approx([1.0, -1.0, 0.0])
    assert column(example, "carry", 1, "score")[:2] == [0.0, 0.0] and np.isnan(column(example, "carry", 1, "score")[2])
    assert column(example, "carry", 2, "score") == pytest.approx([1.0, 0.0, -1.0])


def test_a_window_touching_a_gap_or_the_start_is_null(example: dict) -> None:
    # accel = ret_48 - lag(ret_48, 1): unknown at the first bar (no history) and for C at bar 2
    # (its lag is the gap); at bar 2 A and B tie at -0.25 (both at the average rank: 0)
    assert all(example[("accel", s, 0)]["raw_value"] is None for s in "ABC")
    assert [example[("accel", s, 1)]["raw_value"] for s in "AB"] == [-0.25, 1.0]
    assert example[("accel", "C", 2)]["raw_value"] is None
    assert column(example, "accel", 2, "score")[:2] == [0.0, 0.0]
    assert example[("accel", "C", 2)]["n_symbols"] == 2


def test_regime_filter_and_orthogonalisation_by_hand(example: dict) -> None:
    # the regime filter (vol_regime high and trend_state chop) switches momentum off for A at bar 0;
    # B's states are unknown at bar 2: off as well (off_when_unknown: true)
    assert example[("mom", "A", 0)]["regime_on"] is False and example[("mom", "C", 0)]["regime_on"] is True
    assert example[("mom", "B", 2)]["regime_on"] is False
    assert example[("carry", "B", 2)]["regime_on"] is True          # carry has no filter
    # mom is first: regressed on the intercept alone over the window of the last 3 bars (8 known
    # rows) - its residual at bar 2 is the score minus the window mean
    known = [0.0, -1.0, 1.0, -1.0, 1.0, 0.0, 1.0, -1.0]
    for symbol, score in zip("ABC", [0.0, 1.0, -1.0]):
        row = example[("mom", symbol, 2)]
        assert row["residual"] == pytest.approx(score - np.mean(known))
        assert row["estimation_rows"] == 8
    assert example[("mom", "B", 2)]["signal_value"] == 0.0                                     # switched off
    assert example[("mom", "A", 2)]["signal_value"] == pytest.approx(0.0 - np.mean(known))   # on
    # before 4 complete rows in the window there is no fit: bar 0 has 3
    assert example[("mom", "A", 0)]["residual"] is None
    # carry (third) is regressed on the intercept and the scores of mom and accel, over the rows
    # where all three are known: A and B at bars 1 and 2 (accel is unknown at bar 0 and for C)
    x = np.array([[1.0, -1.0, -1.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    y = np.array([0.0, 0.0, 1.0, 0.0])
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    for symbol, row in zip("AB", x[2:]):
        carry = example[("carry", symbol, 2)]
        assert carry["estimation_rows"] == 4
        assert carry["residual"] == pytest.approx(carry["score"] - row @ coef, abs=1e-9)
    assert example[("carry", "C", 2)]["score"] == -1.0 and example[("carry", "C", 2)]["residual"] is None
