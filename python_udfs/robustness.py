"""Robustness of each blueprint: the same strategy re-run alone under small changes of its rules
(event thresholds down and up, a later entry, a shorter and a longer horizon, dearer execution),
and whether its edge survives them.

Why: an edge that exists only at the exact thresholds and horizon discovery picked is a fit to noise.
Every perturbed variant is a column of one engine run (standalone: no cap couples the columns), so
the whole table costs two engine passes, one at the configured costs and one at `cost_multiplier`
times them. Threshold perturbations re-detect the blueprint's event from spec/events with every
numeric parameter scaled (within its declared min/max), compiled by the same event compiler as
int_events__detected and run on fct_features, then conditioned on the same state.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from python_udfs.backtest_config import BacktestConfig, KillSwitches, RiskLimits
from python_udfs.backtest_engine import run_backtest
from python_udfs.backtest_tables import EngineInputs, engine_settings
from python_udfs.cost_model import CostConfig
from python_udfs.event_compiler import compile_events
from python_udfs.event_spec import EventCatalog, build_event_catalog
from python_udfs.feature_compiler import render_sql
from python_udfs.performance_metrics import BARS_PER_YEAR_5M
from python_udfs.spec_registry import load_spec, spec_dir

FloatArray = npt.NDArray[np.float64]
PERTURBATIONS = ("baseline", "threshold_minus", "threshold_plus", "entry_lag_plus", "horizon_minus", "horizon_plus",
                 "costs_multiplied")


def scaled_parameters(raw: dict[str, Any], factor: float) -> dict[str, Any]:
    """Every parameter's value times `factor`, kept inside its [min, max]; integers stay integers."""
    out = copy.deepcopy(raw)
    for entry in out.values():
        value = entry["value"] * factor
        value = min(max(value, entry["min"]), entry["max"])
        entry["value"] = int(round(value)) if isinstance(entry["min"], int) and isinstance(entry["value"], int) else value
    return out


def perturbed_catalog(event_type: str, factor: float, tree: dict[str, Any] | None = None) -> EventCatalog:
    """The event catalog with only `event_type`, its parameters scaled by `factor`."""
    root = spec_dir()
    tree = copy.deepcopy(tree if tree is not None else load_spec(root))
    event = tree["events"][event_type]
    event["parameters"] = scaled_parameters(event.get("parameters") or {}, factor)
    catalog = build_event_catalog(tree, root)
    return dataclasses.replace(catalog, events={event_type: catalog.events[event_type]})


def _state_condition(states: list[str]) -> str:
    cases = " ".join(f"when '{state}' then states.{state} = strategies.state_value" for state in states)
    return f"case strategies.state_name when 'all' then strategies.state_value = 'all' {cases} else false end"


def perturbed_signals(session: duckdb.DuckDBPyConnection, event_type: str, factor: float, strategy_index: list[int],
                      relations: dict[str, str], conditioning_states: list[str],
                      tree: dict[str, Any] | None = None) -> pa.Table:
    """Entry signals (strategy_index, ts, side_sign) of the strategies `strategy_index` (all trading
    `event_type`) when the event is re-detected with its parameters scaled by `factor`."""
    catalog = perturbed_catalog(event_type, factor, tree)
    plan = compile_events(catalog)
    detected = render_sql(plan, relations)
    indices = ", ".join(str(i) for i in strategy_index)
    sql = f"""
        with detected as ({detected}),
        fired as (select symbol, ts, unnest(fired_events) as event from detected where fired_events is not null),
        events as (select symbol, ts, event.direction as direction from fired where event.event_type = '{event_type}'),
        strategies as (select * from {relations['int_backtest__strategies']} where strategy_index in ({indices})),
        window_bounds as (select backtest_start, backtest_end from {relations['int_backtest__window']})
        select distinct strategies.strategy_index, events.ts,
            cast(case strategies.side
                when 'long' then 1 when 'short' then -1
                when 'event_direction' then case events.direction when 'up' then 1 when 'down' then -1 end
                when 'against_event_direction' then case events.direction when 'up' then -1 when 'down' then 1 end
            end as tinyint) as side_sign
        from strategies
        join events on events.symbol = strategies.symbol
        cross join window_bounds
        left join {relations['dim_states']} as states on states.symbol = events.symbol and states.ts = events.ts
        where events.ts >= window_bounds.backtest_start and events.ts < window_bounds.backtest_end
          and {_state_condition(conditioning_states)}
          and side_sign is not null
    """
    return session.sql(sql).to_arrow_table()


def _standalone(config: BacktestConfig) -> BacktestConfig:
    """Each column alone: the strategy cap and the strategy kill switches stay, nothing couples columns."""
    limits = RiskLimits(config.risk_limits.strategy_max_weight, 10.0, 10.0, 10.0)
    switches = KillSwitches(config.kill_switches.max_stale_bars, config.kill_switches.strategy_max_drawdown, 1.0,
                            config.kill_switches.max_slippage_ratio, config.kill_switches.slippage_window_legs)
    return dataclasses.replace(config, risk_limits=limits, kill_switches=switches)


def _multiplied(costs: CostConfig, multiplier: float) -> CostConfig:
    return dataclasses.replace(costs, taker_fee_bps=costs.taker_fee_bps * multiplier,
                               maker_fee_bps=costs.maker_fee_bps * multiplier,
                               impact_coefficient_bps=costs.impact_coefficient_bps * multiplier,
                               volatility_coefficient=costs.volatility_coefficient * multiplier,
                               participation_coefficient_bps=costs.participation_coefficient_bps * multiplier)


def column_metrics(net: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Total known net return and annualised Sharpe ratio of each column (NaN when undefined)."""
    known = ~np.isnan(net)
    values = np.where(known, net, 0.0)
    count = known.sum(axis=0)
    total = values.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        variance = (np.where(known, (net - mean) ** 2, 0.0)).sum(axis=0) / (count - 1)
        sharpe = np.where((count > 1) & (variance > 0), mean / np.sqrt(variance) * np.sqrt(BARS_PER_YEAR_5M), np.nan)
    return total, sharpe


def robustness_table(session: duckdb.DuckDBPyConnection, strategies: pa.Table, signals: pa.Table, market: pa.Table,
                     relations: dict[str, str], config: BacktestConfig, costs: CostConfig,
                     conditioning_states: list[str]) -> pa.Table:
    """One row per blueprint strategy x perturbation with its return and Sharpe, whether it kept the
    baseline's sign and Sharpe, and the blueprint's share of perturbations that kept both."""
    settings = config.robustness
    if strategies.num_rows == 0 or market.num_rows == 0:
        return _empty()
    base = EngineInputs(strategies, signals, market)
    n = len(base.strategy_ids)
    event_types = strategies.column("event_type").to_pylist()
    order = np.argsort(strategies.column("strategy_index").to_numpy(zero_copy_only=False))
    event_of = [event_types[int(i)] for i in order]
    book = base.book
    tree = load_spec()
    lag, horizon, signal = [book.entry_lag], [book.horizon], [book.signal]
    for factor in (1 - settings.threshold_scale, 1 + settings.threshold_scale):
        moved = np.zeros_like(book.signal)
        for event_type in sorted(set(event_of)):
            columns = [j for j in range(n) if event_of[j] == event_type]
            table = perturbed_signals(session, event_type, factor, columns, relations, conditioning_states, tree)
            if table.num_rows:
                rows = np.searchsorted(base.timestamps, table.column("ts").cast(pa.timestamp("us", tz="UTC"))
                                       .cast(pa.int64()).to_numpy(zero_copy_only=False))
                moved[rows, table.column("strategy_index").to_numpy(zero_copy_only=False).astype(np.int64)] = \
                    table.column("side_sign").to_numpy(zero_copy_only=False)
        lag.append(book.entry_lag)
        horizon.append(book.horizon)
        signal.append(moved)
    lag.append(book.entry_lag + settings.extra_entry_lag_bars)
    horizon.append(book.horizon)
    signal.append(book.signal)
    for factor in (1 - settings.horizon_scale, 1 + settings.horizon_scale):
        lag.append(book.entry_lag)
        horizon.append(np.maximum(np.rint(book.horizon * factor).astype(np.int64), 1))
        signal.append(book.signal)
    wide = dataclasses.replace(book, symbol=np.tile(book.symbol, len(lag)), weight=np.tile(book.weight, len(lag)),
                               entry_lag=np.concatenate(lag), horizon=np.concatenate(horizon),
                               signal=np.hstack(signal))
    standalone = _standalone(config)
    result = run_backtest(base.market, wide, engine_settings(standalone, costs))
    # every cost term times the multiplier: the coefficients of the cost model and the half spread,
    # which comes from the market
    dearer_market = dataclasses.replace(base.market, costs=dataclasses.replace(
        base.market.costs, half_spread_bps=base.market.costs.half_spread_bps * settings.cost_multiplier))
    dearer = run_backtest(dearer_market, book, engine_settings(standalone, _multiplied(costs, settings.cost_multiplier)))
    net = np.hstack([result.strategies.net, dearer.strategies.net])
    total, sharpe = column_metrics(net)
    trades = np.hstack([result.strategies.traded, dearer.strategies.traded]).astype(bool).sum(axis=0)
    parameters = {event_type: sorted((tree["events"][event_type].get("parameters") or {}))
                  for event_type in set(event_of)}
    rows = []
    for p, perturbation in enumerate(PERTURBATIONS):
        for j in range(n):
            k = p * n + j
            scaled = parameters[event_of[j]] if perturbation.startswith("threshold") else []
            note = ("the event has no parameters to scale: same signals as the baseline"
                    if perturbation.startswith("threshold") and not scaled else None)
            rows.append({"strategy_id": base.strategy_ids[j], "perturbation": perturbation,
                         "scaled_parameters": scaled, "note": note,
                         "entry_lag_bars": int(wide.entry_lag[k]) if p < len(lag) else int(book.entry_lag[j]),
                         "horizon_bars": int(wide.horizon[k]) if p < len(lag) else int(book.horizon[j]),
                         "n_legs": int(trades[k]), "total_return": float(total[k]),
                         "sharpe_ratio": None if np.isnan(sharpe[k]) else float(sharpe[k])})
    return _judged(rows, settings.sharpe_tolerance)


def _judged(rows: list[dict[str, Any]], tolerance: float) -> pa.Table:
    baseline = {row["strategy_id"]: row for row in rows if row["perturbation"] == "baseline"}
    for row in rows:
        base = baseline[row["strategy_id"]]
        same_sign = bool(np.sign(row["total_return"]) == np.sign(base["total_return"]) and base["total_return"] != 0)
        within = (row["sharpe_ratio"] is not None and base["sharpe_ratio"] is not None
                  and abs(row["sharpe_ratio"] - base["sharpe_ratio"]) <= tolerance * abs(base["sharpe_ratio"]))
        row["keeps_sign"] = same_sign
        row["sharpe_within_tolerance"] = bool(within)
        row["keeps_edge"] = same_sign and bool(within)
    for strategy, base in baseline.items():
        perturbed = [row for row in rows if row["strategy_id"] == strategy and row["perturbation"] != "baseline"]
        share = sum(row["keeps_edge"] for row in perturbed) / len(perturbed)
        share_sign = sum(row["keeps_sign"] for row in perturbed) / len(perturbed)
        for row in rows:
            if row["strategy_id"] == strategy:
                row["share_keeping_edge"] = share
                row["share_keeping_sign"] = share_sign
    return pa.Table.from_pylist(rows, schema=SCHEMA)


SCHEMA = pa.schema([
    ("strategy_id", pa.string()), ("perturbation", pa.string()), ("scaled_parameters", pa.list_(pa.string())),
    ("note", pa.string()), ("entry_lag_bars", pa.int64()),
    ("horizon_bars", pa.int64()), ("n_legs", pa.int64()), ("total_return", pa.float64()), ("sharpe_ratio", pa.float64()),
    ("keeps_sign", pa.bool_()), ("sharpe_within_tolerance", pa.bool_()), ("keeps_edge", pa.bool_()),
    ("share_keeping_edge", pa.float64()), ("share_keeping_sign", pa.float64()),
])


def _empty() -> pa.Table:
    return SCHEMA.empty_table()
