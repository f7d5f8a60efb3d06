"""Validation of spec/backtest.yaml (capital, execution mode, risk limits, kill switches) and of the
hand-written strategies in spec/strategies/.

Why: the backtest's numbers are only as honest as its limits. A misspelt limit silently falling back
to a default would change every PnL row, so each key is required, range-checked and reported with
the file, the key and the reason."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from python_udfs.spec_registry import SpecError, load_spec, register_validator, spec_dir

EXECUTION_MODES = ("close", "next_open")
SIDES = ("long", "short", "event_direction", "against_event_direction")


@dataclass(frozen=True)
class RiskLimits:
    """The four layers of the risk allocator, as fractions of capital."""

    strategy_max_weight: float
    symbol_max_net_weight: float
    portfolio_max_gross_weight: float
    max_new_exposure_per_bar: float


@dataclass(frozen=True)
class KillSwitches:
    """Halt triggers: a stale feed, a drawdown, execution costs far above the expected ones."""

    max_stale_bars: int
    strategy_max_drawdown: float
    portfolio_max_drawdown: float
    max_slippage_ratio: float
    slippage_window_legs: int


@dataclass(frozen=True)
class Monitoring:
    """Overfitting and drift diagnostics: CSCV blocks for PBO, quantile bins for PSI."""

    cscv_blocks: int
    psi_bins: int


@dataclass(frozen=True)
class Robustness:
    """How far each blueprint is pushed in fct_robustness: event parameters scaled by 1 -/+
    threshold_scale, the entry one bar (or more) later, the horizon scaled by 1 -/+ horizon_scale,
    every cost multiplied; a perturbation keeps the edge when the sign of the return holds and the
    Sharpe ratio stays within sharpe_tolerance of the baseline's (relative)."""

    threshold_scale: float
    extra_entry_lag_bars: int
    horizon_scale: float
    cost_multiplier: float
    sharpe_tolerance: float


@dataclass(frozen=True)
class WalkForward:
    """Walk-forward splits: the data cut into n_splits + 1 chunks on the bar grid; split i tests chunk
    i and trains on everything before it (anchored) or on the rolling_train_chunks chunks before it
    (rolling), the discovery embargo between train and test."""

    n_splits: int
    rolling_train_chunks: int


@dataclass(frozen=True)
class BacktestConfig:
    capital_usd: float
    execution_mode: str
    blueprint_gross_budget: float
    risk_limits: RiskLimits
    kill_switches: KillSwitches
    monitoring: Monitoring
    robustness: Robustness
    walkforward: WalkForward


@dataclass(frozen=True)
class StrategySpec:
    """A researcher's own strategy: trade `side` for `horizon_bars` after `event_type` fires on one of
    `symbols` while the state `state_name` is `state_value` ('all'/'all': unconditioned)."""

    name: str
    event_type: str
    symbols: tuple[str, ...]
    side: str
    state_name: str
    state_value: str
    entry_lag_bars: int
    horizon_bars: int
    weight: float


def _fail(file: Path, key: str, reason: str) -> SpecError:
    return SpecError(f"{file}: {key}: {reason}")


def _mapping(file: Path, key: str, value: Any, fields: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(file, key, f"must be a mapping with {', '.join(fields)}")
    unknown = sorted(set(value) - set(fields) - set(optional))
    if unknown:
        raise _fail(file, f"{key}.{unknown[0]}" if key != "file" else unknown[0],
                    f"unknown key (allowed: {', '.join((*fields, *optional))})")
    missing = [name for name in fields if name not in value]
    if missing:
        raise _fail(file, f"{key}.{missing[0]}" if key != "file" else missing[0], "is missing")
    return value


def _number(file: Path, key: str, value: Any, low: float, high: float, *, integer: bool = False,
            open_low: bool = False) -> float:
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise _fail(file, key, f"must be {kind}, got {value!r}")
    if not (low < value if open_low else low <= value) or value > high:
        raise _fail(file, key, f"must be {kind} in {'(' if open_low else '['}{low}, {high}], got {value!r}")
    return value


def build_backtest_config(content: Any, file: Path) -> BacktestConfig:
    top = _mapping(file, "file", content if content else None,
                   ("capital_usd", "execution_mode", "blueprint_gross_budget", "risk_limits", "kill_switches",
                    "monitoring", "robustness", "walkforward"),
                   ("description",))
    if top["execution_mode"] not in EXECUTION_MODES:
        raise _fail(file, "execution_mode", f"must be one of {', '.join(EXECUTION_MODES)}, got {top['execution_mode']!r}")
    limits = _mapping(file, "risk_limits", top["risk_limits"], tuple(RiskLimits.__dataclass_fields__))
    switches = _mapping(file, "kill_switches", top["kill_switches"], tuple(KillSwitches.__dataclass_fields__))
    monitoring = _mapping(file, "monitoring", top["monitoring"], tuple(Monitoring.__dataclass_fields__))
    walk = _mapping(file, "walkforward", top["walkforward"], tuple(WalkForward.__dataclass_fields__))
    robust = _mapping(file, "robustness", top["robustness"], tuple(Robustness.__dataclass_fields__))
    blocks = int(_number(file, "monitoring.cscv_blocks", monitoring["cscv_blocks"], 2, 20, integer=True))
    if blocks % 2:
        raise _fail(file, "monitoring.cscv_blocks", f"must be even (CSCV splits the blocks in halves), got {blocks}")
    return BacktestConfig(
        capital_usd=float(_number(file, "capital_usd", top["capital_usd"], 0, 1e12, open_low=True)),
        execution_mode=top["execution_mode"],
        blueprint_gross_budget=float(_number(file, "blueprint_gross_budget", top["blueprint_gross_budget"], 0, 10,
                                             open_low=True)),
        risk_limits=RiskLimits(**{name: float(_number(file, f"risk_limits.{name}", limits[name], 0, 10, open_low=True))
                                  for name in RiskLimits.__dataclass_fields__}),
        kill_switches=KillSwitches(
            max_stale_bars=int(_number(file, "kill_switches.max_stale_bars", switches["max_stale_bars"], 1, 100_000,
                                       integer=True)),
            strategy_max_drawdown=float(_number(file, "kill_switches.strategy_max_drawdown",
                                                switches["strategy_max_drawdown"], 0, 1, open_low=True)),
            portfolio_max_drawdown=float(_number(file, "kill_switches.portfolio_max_drawdown",
                                                 switches["portfolio_max_drawdown"], 0, 1, open_low=True)),
            max_slippage_ratio=float(_number(file, "kill_switches.max_slippage_ratio", switches["max_slippage_ratio"],
                                             1, 1000)),
            slippage_window_legs=int(_number(file, "kill_switches.slippage_window_legs",
                                             switches["slippage_window_legs"], 1, 100_000, integer=True)),
        ),
        monitoring=Monitoring(cscv_blocks=blocks,
                              psi_bins=int(_number(file, "monitoring.psi_bins", monitoring["psi_bins"], 2, 100,
                                                   integer=True))),
        robustness=Robustness(
            threshold_scale=float(_number(file, "robustness.threshold_scale", robust["threshold_scale"], 0, 0.9,
                                          open_low=True)),
            extra_entry_lag_bars=int(_number(file, "robustness.extra_entry_lag_bars", robust["extra_entry_lag_bars"],
                                             1, 10_000, integer=True)),
            horizon_scale=float(_number(file, "robustness.horizon_scale", robust["horizon_scale"], 0, 0.9,
                                        open_low=True)),
            cost_multiplier=float(_number(file, "robustness.cost_multiplier", robust["cost_multiplier"], 1, 100)),
            sharpe_tolerance=float(_number(file, "robustness.sharpe_tolerance", robust["sharpe_tolerance"], 0, 1,
                                           open_low=True)),
        ),
        walkforward=WalkForward(
            n_splits=int(_number(file, "walkforward.n_splits", walk["n_splits"], 1, 100, integer=True)),
            rolling_train_chunks=int(_number(file, "walkforward.rolling_train_chunks", walk["rolling_train_chunks"],
                                             1, 100, integer=True)),
        ),
    )


def build_strategy(name: str, content: Any, file: Path, events: set[str] | None, states: dict[str, set[str]] | None) -> StrategySpec:
    body = _mapping(file, "file", content, ("event_type", "symbols", "side", "horizon_bars", "weight"),
                    ("description", "state", "entry_lag_bars"))
    if not isinstance(body["event_type"], str) or (events is not None and body["event_type"] not in events):
        raise _fail(file, "event_type", f"unknown event type {body['event_type']!r} (spec/events/ lists them)")
    symbols = body["symbols"]
    if (not isinstance(symbols, list) or not symbols
            or not all(isinstance(s, str) and s.isalnum() and s.upper() == s for s in symbols)):
        raise _fail(file, "symbols", f"must be a non-empty list of exchange symbols like BTCUSDT, got {symbols!r}")
    if body["side"] not in SIDES:
        raise _fail(file, "side", f"must be one of {', '.join(SIDES)}, got {body['side']!r}")
    state = body.get("state", {"name": "all", "value": "all"})
    state = _mapping(file, "state", state, ("name", "value"))
    if (state["name"], state["value"]) != ("all", "all") and states is not None:
        if state["name"] not in states:
            raise _fail(file, "state.name", f"unknown conditioning state {state['name']!r} (allowed: all, {', '.join(sorted(states))})")
        if state["value"] not in states[state["name"]]:
            raise _fail(file, "state.value", f"{state['value']!r} is not a value of {state['name']} "
                        f"(allowed: {', '.join(sorted(states[state['name']]))})")
    return StrategySpec(
        name=name, event_type=body["event_type"], symbols=tuple(symbols), side=body["side"],
        state_name=str(state["name"]), state_value=str(state["value"]),
        entry_lag_bars=int(_number(file, "entry_lag_bars", body.get("entry_lag_bars", 1), 1, 10_000, integer=True)),
        horizon_bars=int(_number(file, "horizon_bars", body["horizon_bars"], 1, 100_000, integer=True)),
        weight=float(_number(file, "weight", body["weight"], 0, 10, open_low=True)),
    )


def _state_values(tree: dict[str, Any]) -> dict[str, set[str]]:
    """Conditioning states and their values as spec/states declares them (cases and default)."""
    out: dict[str, set[str]] = {}
    for name, content in (tree.get("states") or {}).items():
        if isinstance(content, dict):
            cases = content.get("cases") or []
            out[name] = {str(case["value"]) for case in cases if isinstance(case, dict) and "value" in case}
            if "default" in content:
                out[name].add(str(content["default"]))
    return out


@register_validator("backtest")
def validate_backtest(tree: dict[str, Any], folder: Path) -> None:
    """Spec-registry hook: spec/backtest.yaml (when present; the backtest models require it)."""
    if tree:
        build_backtest_config(tree, folder.with_suffix(".yaml"))


@register_validator("strategies")
def validate_strategies(tree: dict[str, Any], folder: Path) -> None:
    """Spec-registry hook: every spec/strategies/*.yaml, shape only (the event names are checked by
    `load_strategies`, which sees the whole tree)."""
    for name, content in (tree or {}).items():
        build_strategy(name, content, folder / f"{name}.yaml", None, None)


def load_backtest_config(root: Path | None = None) -> BacktestConfig:
    root = root or spec_dir()
    return build_backtest_config(load_spec(root).get("backtest"), root / "backtest.yaml")


def load_strategies(root: Path | None = None) -> list[StrategySpec]:
    """Hand-written strategies, with event types and states checked against the rest of the spec."""
    root = root or spec_dir()
    from python_udfs.event_spec import load_event_catalog

    tree = load_spec(root)
    events = set(load_event_catalog(root).events)
    states = _state_values(tree)
    return [build_strategy(name, content, root / "strategies" / f"{name}.yaml", events, states or None)
            for name, content in sorted((tree.get("strategies") or {}).items())]


def backtest_config_json(root: Path | None = None) -> str:
    """SQL entry point: the validated spec/backtest.yaml."""
    from dataclasses import asdict

    from python_udfs.spec_registry import canonical_json

    return canonical_json(asdict(load_backtest_config(root)))


def backtest_strategies_json(root: Path | None = None) -> str:
    """SQL entry point: the validated hand-written strategies of spec/strategies/."""
    from dataclasses import asdict

    from python_udfs.spec_registry import canonical_json

    return canonical_json([asdict(strategy) for strategy in load_strategies(root)])
