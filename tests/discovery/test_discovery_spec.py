"""The discovery and bridge configuration is validated before anything is built: a wrong gate,
cost-stress ladder, cost entry or evaluation window stops `load_spec` with the file, the key and
the reason; the bridge statistics behave at their edges; blueprints name the code that made them."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from python_udfs.bridge import holdout_table
from python_udfs.code_version import code_version, package_version
from python_udfs.spec_registry import SpecError, load_spec
from tests.spec_copy import edited_spec_copy

REPO = Path(__file__).resolve().parents[2]

Edit = Callable[[dict[str, Any]], None]


def test_the_shipped_spec_is_valid() -> None:
    spec = load_spec(REPO / "spec")
    assert spec["gates"]["gate_v1_bridge"]["min_deflated_sharpe"] == 0.95
    assert spec["global_defaults"]["discovery"]["evaluation_windows"]["embargo_bars"] >= 289


def _set(path: str, value: Any) -> Edit:
    def edit(content: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = content
        for key in parents:
            node = node[key]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return edit


@pytest.mark.parametrize(("file", "edit", "message"), [
    ("gates.yaml", _set("gate_v1_phase2.max_q_value", 1.5), r"gate_v1_phase2.max_q_value: 1.5 is out of range"),
    ("gates.yaml", _set("gate_v1_phase2.min_events", 2.5), r"gate_v1_phase2.min_events: must be an integer"),
    ("gates.yaml", _set("gate_v1_phase2.max_q", 0.1), r"gate_v1_phase2.max_q: unknown gate"),
    ("gates.yaml", _set("gate_v1_phase2.require_sign_stability", "yes"), r"require_sign_stability: must be true or false"),
    ("gates.yaml", _set("overrides", {"VOL_SHOCK": {"max_q_value": 0.1}}), r"overrides.VOL_SHOCK.max_q_value: cannot be overridden"),
    ("gates.yaml", _set("gate_v1_bridge", KeyError), r"gate_v1_bridge: must be a mapping"),
    ("gates.yaml", _set("gate_v1_bridge.min_deflated_sharpe", KeyError), r"gate_v1_bridge.min_deflated_sharpe: is missing"),
    ("gates.yaml", _set("gate_v1_bridge.min_deflated_sharpe", 1.2), r"min_deflated_sharpe: 1.2 is out of range"),
    ("gates.yaml", _set("gate_v1_bridge.cost_stress_multipliers", [2.0, 1.5]), r"strictly increasing"),
    ("gates.yaml", _set("gate_v1_bridge.cost_stress_multipliers", [0.5, 2.0]), r"must be in \(1, 10\]"),
    ("gates.yaml", _set("gate_v1_bridge.required_cost_stress_multiplier", 2.5), r"is not 1 or one of cost_stress_multipliers"),
    ("gates.yaml", _set("gate_v1_bridge.min_holdout_events", 1), r"min_holdout_events: 1 is out of range"),
    ("gates.yaml", _set("gate_v1_bridge.holdout_p", 0.05), r"gate_v1_bridge.holdout_p: unknown gate"),
    ("global_defaults.yaml", _set("discovery.evaluation_windows.embargo_bars", 100),
     r"discovery.evaluation_windows.embargo_bars: .*100"),
    ("global_defaults.yaml", _set("discovery.evaluation_windows.holdout_fraction", 0.95),
     r"discovery.evaluation_windows.holdout_fraction: 0.95 is out of range"),
    ("global_defaults.yaml", _set("discovery.evaluation_windows.holdout_fraction", KeyError),
     r"discovery.evaluation_windows: missing key\(s\) holdout_fraction"),
    ("global_defaults.yaml", _set("discovery.evaluation_windows.purge", 3), r"unknown key\(s\) purge"),
    ("costs.yaml", _set("fees.taker_bps", -1.0), r"costs.yaml: fees.taker_bps"),
])
def test_bad_discovery_configuration_names_the_file_and_key(tmp_path: Path, file: str, edit: Edit,
                                                            message: str) -> None:
    root = edited_spec_copy(tmp_path / "spec", file, edit)
    with pytest.raises(SpecError, match=message) as error:
        load_spec(root)
    assert file in str(error.value)


def test_embargo_must_cover_the_longest_label(tmp_path: Path) -> None:
    """Entry lag 1 + longest horizon 288 = 289 bars: 288 is refused, 289 accepted."""
    with pytest.raises(SpecError, match="embargo_bars"):
        load_spec(edited_spec_copy(tmp_path / "a" / "spec", "global_defaults.yaml", _set("discovery.evaluation_windows.embargo_bars", 288)))
    spec = load_spec(edited_spec_copy(tmp_path / "b" / "spec", "global_defaults.yaml",
                                _set("discovery.evaluation_windows.embargo_bars", 289)))
    assert spec["global_defaults"]["discovery"]["evaluation_windows"]["embargo_bars"] == 289


def _events(rows: list[tuple[str, int, float, float, float]]) -> pa.Table:
    candidate, bar, side, gross, cost = zip(*rows) if rows else ((), (), (), (), ())
    return pa.table({
        "candidate_id": pa.array(candidate, pa.string()), "bar_index": pa.array(bar, pa.int64()),
        "side_sign": pa.array(side, pa.float64()), "gross_return": pa.array(gross, pa.float64()),
        "funding_rate_sum": pa.array([0.0] * len(rows), pa.float64()),
        "funding_known": pa.array([True] * len(rows), pa.bool_()),
        "round_trip_cost_bps": pa.array(cost, pa.float64()),
    })


def test_holdout_table_stresses_costs_and_deflates_the_sharpe_ratio() -> None:
    rng = np.random.default_rng(3)
    gross = rng.normal(0.003, 0.004, 60)
    rows = [("a", 1000 + 20 * i, 1.0, float(g), 10.0) for i, g in enumerate(gross)]
    table = holdout_table(_events(rows), ["a", "empty"], [12, 12], [1.5, 3.0], n_trials=500,
                          trial_sharpe_variance=0.04).to_pylist()
    assert [(r["candidate_id"], r["cost_multiplier"]) for r in table] == [
        ("a", 1.0), ("empty", 1.0), ("a", 1.5), ("empty", 1.5), ("a", 3.0), ("empty", 3.0)]
    by_level = {r["cost_multiplier"]: r for r in table if r["candidate_id"] == "a"}
    for level, row in by_level.items():
        values = gross * 1e4 - 10.0 * level
        assert row["n"] == 60 and row["n_deoverlapped"] == 60
        assert row["mean_bps"] == pytest.approx(values.mean())
        sr = values.mean() / values.std(ddof=1)
        gamma = 0.5772156649015329
        sr0 = math.sqrt(0.04) * ((1 - gamma) * stats.norm.ppf(1 - 1 / 500) + gamma * stats.norm.ppf(1 - 1 / (500 * math.e)))
        skew, kurt = stats.skew(values), stats.kurtosis(values, fisher=False)
        expected = stats.norm.cdf((sr - sr0) * math.sqrt(59) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2))
        assert row["deflated_sharpe_ratio"] == pytest.approx(expected, abs=1e-12)
        assert row["expected_max_sharpe"] == pytest.approx(sr0)
    assert by_level[1.0]["mean_bps"] - by_level[3.0]["mean_bps"] == pytest.approx(20.0)
    empty = [r for r in table if r["candidate_id"] == "empty"]
    assert all(r["n"] == 0 and r["mean_bps"] is None and r["deflated_sharpe_ratio"] is None for r in empty)


def test_overlapping_holdout_trades_count_once_in_the_track_record() -> None:
    """Trades 1 bar apart with a 12-bar horizon overlap: the DSR's T is the de-overlapped count."""
    rows = [("a", 1000 + i, 1.0, 0.002 + 0.001 * (i % 3), 5.0) for i in range(24)]
    [row, *_] = holdout_table(_events(rows), ["a"], [12], [2.0], n_trials=1, trial_sharpe_variance=float("nan")).to_pylist()
    assert row["n"] == 24 and row["n_deoverlapped"] == 2
    assert row["expected_max_sharpe"] == 0.0, "one trial: the benchmark is a Sharpe of zero"


def test_code_version_names_the_package_and_commit() -> None:
    version = code_version()
    assert version.startswith(package_version() + "+")
    assert re.fullmatch(r"\d+\.\d+\.\d+\+(g[0-9a-f]{12}(\.dirty)?|unknown)", version)
