"""spec/backtest.yaml and spec/strategies/ are validated: errors name the file, the key and the reason."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from python_udfs.backtest_config import build_backtest_config, load_backtest_config, load_strategies
from python_udfs.spec_registry import SpecError
from tests.spec_copy import edited_spec_copy

REPO = Path(__file__).resolve().parents[2]
FILE = Path("spec/backtest.yaml")


def config() -> dict:
    return yaml.safe_load((REPO / FILE).read_text())


def test_the_shipped_configuration_and_strategies_load() -> None:
    loaded = load_backtest_config(REPO / "spec")
    assert loaded.execution_mode in ("close", "next_open")
    assert {strategy.name for strategy in load_strategies(REPO / "spec")} >= {"funding_settlement_drift"}


@pytest.mark.parametrize("path, value, message", [
    (("execution_mode",), "at_vwap", "execution_mode: must be one of close, next_open"),
    (("risk_limits", "strategy_max_weight"), -0.1, r"risk_limits.strategy_max_weight: must be a number in \(0"),
    (("kill_switches", "max_stale_bars"), 2.5, "kill_switches.max_stale_bars: must be an integer"),
    (("kill_switches", "strategy_max_drawdown"), 1.5, "kill_switches.strategy_max_drawdown"),
    (("risk_limits", "max_new_exposure"), 0.5, "risk_limits.max_new_exposure: unknown key"),
])
def test_bad_configuration_names_the_key(path: tuple[str, ...], value: object, message: str) -> None:
    content = copy.deepcopy(config())
    node = content
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(SpecError, match=message):
        build_backtest_config(content, FILE)


def test_a_missing_limit_is_an_error_not_a_default() -> None:
    content = config()
    del content["risk_limits"]["symbol_max_net_weight"]
    with pytest.raises(SpecError, match="risk_limits.symbol_max_net_weight: is missing"):
        build_backtest_config(content, FILE)


@pytest.mark.parametrize("change, message", [
    ({"event_type": "NOT_AN_EVENT"}, "funding_settlement_drift.yaml: event_type: unknown event type 'NOT_AN_EVENT'"),
    ({"state": {"name": "vol_regime", "value": "extreme"}}, "state.value: 'extreme' is not a value of vol_regime"),
    ({"side": "sideways"}, "side: must be one of"),
    ({"entry_lag_bars": 0}, r"entry_lag_bars: must be an integer in \[1"),
    ({"symbols": ["btc/usdt"]}, "symbols: must be a non-empty list"),
])
def test_bad_strategy_names_the_file_and_key(tmp_path: Path, change: dict, message: str) -> None:
    spec = edited_spec_copy(tmp_path / "spec", "strategies/funding_settlement_drift.yaml",
                            lambda content: content.update(change))
    with pytest.raises(SpecError, match=message):
        load_strategies(spec)


def test_cscv_blocks_must_be_even() -> None:
    content = config()
    content["monitoring"]["cscv_blocks"] = 15
    with pytest.raises(SpecError, match="monitoring.cscv_blocks: must be even"):
        build_backtest_config(content, FILE)
