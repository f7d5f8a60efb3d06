"""Every vocabulary function, compiled to DuckDB SQL and run on a small multi-symbol table, equals a
numpy reference - including NULL through any window that touches a gap or a missing value, and
NULL for the first bars of a symbol's history."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ingest.pit_lint import check_sql
from python_udfs.feature_compiler import BlockPlanner, render_sql
from python_udfs.feature_spec import FeatureCatalog, build_feature_catalog
from python_udfs.feature_vocabulary import FUNCTIONS, ema_kernel_bars
from tests.features.helpers import INPUTS, SYMBOLS, evaluate, feature_tree, make_bars, reference, window

DATA = make_bars()


def _clean(values: np.ndarray) -> bool:
    return not np.isnan(values).any()


def assert_matches(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray], rtol: float = 1e-9,
                   atol: float = 1e-12) -> None:
    for symbol in SYMBOLS:
        a, e = actual[symbol], expected[symbol]
        assert np.array_equal(np.isnan(a), np.isnan(e)), (
            f"{symbol}: NULL pattern differs at bars {np.flatnonzero(np.isnan(a) != np.isnan(e))[:10]}")
        np.testing.assert_allclose(a[~np.isnan(a)], e[~np.isnan(e)], rtol=rtol, atol=atol, err_msg=symbol)


def check(formula: str, lookback: int, fn, **tolerance: float) -> dict[str, np.ndarray]:
    actual = evaluate({"f": formula})["f"]
    assert_matches(actual, reference(DATA, lookback, fn), **tolerance)
    return actual


def _stat(name: str, agg):
    def fn(d, t, n):
        w = window(d, name, t, n)
        return agg(w) if _clean(w) else np.nan
    return fn


@pytest.mark.parametrize("fn_name, agg", [
    ("rolling_mean", np.mean), ("rolling_sum", np.sum), ("rolling_min", np.min), ("rolling_max", np.max),
    ("rolling_std", lambda w: np.std(w, ddof=1)), ("rolling_var", lambda w: np.var(w, ddof=1)),
])
@pytest.mark.parametrize("n", [2, 7, 48])
def test_rolling_aggregates(fn_name: str, agg, n: int) -> None:
    stat = _stat("x", agg)
    check(f"{fn_name}(x, {n})", n - 1, lambda d, t: stat(d, t, n))


def test_windows_are_null_through_gaps_missing_values_and_history_start() -> None:
    actual = evaluate({"f": "rolling_mean(x, 10)"})["f"]
    btc, eth, sol = actual["BTCUSDT"], actual["ETHUSDT"], actual["SOLUSDT"]
    assert np.isnan(btc[:9]).all() and not np.isnan(btc[9])          # first n-1 bars of history
    assert np.isnan(sol[:9]).all() and not np.isnan(sol[9])          # a symbol starting later
    assert np.isnan(btc[150:161]).all() and not np.isnan(btc[161])   # gaps at 150, 151: NULL for 10 bars after
    assert np.isnan(btc[300:310]).all() and not np.isnan(btc[310])   # x missing on a real bar at 300
    assert np.isnan(eth[500:510]).all() and not np.isnan(eth[499])


@pytest.mark.parametrize("n", [1, 3, 12])
def test_lag_and_returns(n: int) -> None:
    check(f"lag(x, {n})", n, lambda d, t: d["x"][t - n])
    check(f"log_return(close, {n})", n, lambda d, t: math.log(d["close"][t] / d["close"][t - n]))
    check(f"pct_change(close, {n})", n, lambda d, t: d["close"][t] / d["close"][t - n] - 1)
    check(f"diff(x, {n})", n, lambda d, t: d["x"][t] - d["x"][t - n])


def test_lag_of_a_boolean_keeps_its_type() -> None:
    check("lag(c, 2)", 2, lambda d, t: d["c"][t - 2])


@pytest.mark.parametrize("n", [5, 30])
def test_zscore(n: int) -> None:
    def fn(d, t):
        w = window(d, "x", t, n)
        return (d["x"][t] - w.mean()) / w.std(ddof=1) if _clean(w) else np.nan
    check(f"zscore(x, {n})", n - 1, fn)


@pytest.mark.parametrize("n", [5, 40])
def test_pct_rank_is_past_only_and_handles_ties(n: int) -> None:
    def fn(d, t):
        w = window(d, "x", t, n)
        return float(np.sum(w < d["x"][t])) / (n - 1) if _clean(w) else np.nan
    actual = check(f"pct_rank(x, {n})", n - 1, fn)
    values = np.concatenate(list(actual.values()))
    assert np.nanmin(values) == 0.0 and np.nanmax(values) == 1.0


@pytest.mark.parametrize("n", [6, 25])
def test_rolling_count(n: int) -> None:
    check(f"rolling_count(c, {n})", n - 1, _stat_c(n, np.sum))


def _stat_c(n, agg):
    def fn(d, t):
        w = window(d, "c", t, n)
        return float(agg(w)) if _clean(w) else np.nan
    return fn


@pytest.mark.parametrize("n", [4, 9])
def test_consecutive_is_a_capped_run_length(n: int) -> None:
    def fn(d, t):
        w = window(d, "c", t, n)
        if not _clean(w):
            return np.nan
        run = 0
        for value in w[::-1]:
            if value != 1.0:
                break
            run += 1
        return float(run)
    actual = check(f"consecutive(c, {n})", n - 1, fn)
    assert np.nanmax(np.concatenate(list(actual.values()))) == n


@pytest.mark.parametrize("n", [10, 60])
def test_rolling_corr_beta_cov(n: int) -> None:
    def stats(d, t):
        x, y = window(d, "x", t, n), window(d, "y", t, n)
        if not (_clean(x) and _clean(y)):
            return None
        return np.cov(x, y, ddof=1)
    def corr(d, t):
        c = stats(d, t)
        return np.nan if c is None else c[0, 1] / math.sqrt(c[0, 0] * c[1, 1])
    def beta(d, t):
        c = stats(d, t)
        return np.nan if c is None else c[0, 1] / c[0, 0]   # slope of y on x
    def cov(d, t):
        c = stats(d, t)
        return np.nan if c is None else c[0, 1]
    check(f"rolling_corr(x, y, {n})", n - 1, corr)
    check(f"rolling_beta(y, x, {n})", n - 1, beta)
    check(f"rolling_cov(x, y, {n})", n - 1, cov)


@pytest.mark.parametrize("span", [2, 10, 48])
def test_ema_equals_the_recursive_ema_after_warm_up(span: int) -> None:
    """Claim: ema(x, span) equals a recursive EMA (alpha = 2 / (span + 1)) seeded at least K bars back
    to within 1e-9 x max|x|, K = ema_kernel_bars(span); NULL until K clean bars exist."""
    k = ema_kernel_bars(span)
    alpha = 2.0 / (span + 1)
    actual = evaluate({"f": f"ema(close, {span})"})["f"]
    checked = 0
    for symbol, d in DATA.items():
        close, values = d["close"], actual[symbol]
        # recursive EMA restarted after every gap, seeded with the first close of each clean run
        recursive, run_start = np.full(len(close), np.nan), np.zeros(len(close), dtype=int)
        for t in range(len(close)):
            if np.isnan(close[t]):
                continue
            if t == 0 or np.isnan(close[t - 1]):
                recursive[t], run_start[t] = close[t], t
            else:
                recursive[t] = alpha * close[t] + (1 - alpha) * recursive[t - 1]
                run_start[t] = run_start[t - 1]
        expected_null = np.array([np.isnan(close[max(0, t - k + 1):t + 1]).any() or t < k - 1
                                  for t in range(len(close))])
        assert np.array_equal(np.isnan(values), expected_null), symbol
        ok = ~expected_null
        if ok.any():
            scale = np.nanmax(np.abs(close))
            assert np.max(np.abs(values[ok] - recursive[ok])) <= 1e-9 * scale, symbol
        checked += ok.sum()
    assert checked > 0


def _cross_section(fn):
    """Reference of a cross-sectional function: fn(values of all symbols with data at the bar, own value)."""
    grid: dict[int, dict[str, float]] = {}
    for symbol, d in DATA.items():
        for i, index in enumerate(d["index"]):
            grid.setdefault(int(index), {})[symbol] = d["x"][i]
    out = {}
    for symbol, d in DATA.items():
        values = np.full(len(d["index"]), np.nan)
        for i, index in enumerate(d["index"]):
            if d["gap"][i]:
                continue
            row = grid[int(index)]
            known = np.array([v for v in row.values() if not np.isnan(v)])
            values[i] = fn(known, row[symbol], row)
        out[symbol] = values
    return out


@pytest.mark.parametrize("formula, fn", [
    ("xs_mean(x)", lambda known, own, row: known.mean() if len(known) else np.nan),
    ("xs_sum(x)", lambda known, own, row: known.sum() if len(known) else np.nan),
    ("xs_std(x)", lambda known, own, row: known.std(ddof=1) if len(known) > 1 else np.nan),
    ("xs_count(x)", lambda known, own, row: float(len(known))),
    ("xs_rank(x)", lambda known, own, row: (np.sum(known < own) / (len(known) - 1)
                                            if not np.isnan(own) and len(known) > 1 else np.nan)),
    ("symbol_value(x, 'ETHUSDT')", lambda known, own, row: row.get("ETHUSDT", np.nan)),
])
def test_cross_section(formula: str, fn) -> None:
    assert_matches(evaluate({"f": formula})["f"], _cross_section(fn))


def test_nested_windows_are_split_into_layers() -> None:
    formulas = {"r": "log_return(close, 1)", "v": "rolling_std(r, 5)", "z": "zscore(rolling_std(log_return(close, 1), 5), 20)"}
    out = evaluate(formulas)
    assert_matches(out["z"], _zscore_of_vol(), rtol=1e-7)
    features = build_feature_catalog(feature_tree(formulas), Path("<t>"), INPUTS)
    plan = BlockPlanner(FeatureCatalog(Path("."), features, {}, 5), "returns", INPUTS).plan()
    layers = {f["name"]: f["layer"] for f in plan["features"]}
    assert layers == {"r": 1, "v": 2, "z": 3}  # log_return, then the hoisted vol, then the z-score
    assert features["z"].lookback_bars == 1 + 4 + 19


def _zscore_of_vol():
    def fn(d, t):
        r = np.log(d["close"][1:] / d["close"][:-1])
        vol = np.array([np.std(r[i - 5:i], ddof=1) for i in range(t - 19, t + 1)])  # rv at bars t-19..t
        return (vol[-1] - vol.mean()) / vol.std(ddof=1)
    return reference(DATA, 24, fn)


def test_scalar_operators_and_functions() -> None:
    formula = ("case when x between -0.5 and 0.5 then abs(x) * 2 when x in (1.0, 2.0) then 0 "
               "else greatest(x, y) - least(x, 0.1) end + coalesce(nullif(k, 0), -1) + sign(y) * sqrt(abs(y))")
    def fn(d, t):
        x, y, k = d["x"][t], d["y"][t], d["k"][t]
        if np.isnan(x):
            return np.nan
        first = abs(x) * 2 if -0.5 <= x <= 0.5 else (0.0 if x in (1.0, 2.0) else max(x, y) - min(x, 0.1))
        return first + (k if k != 0 else -1) + np.sign(y) * math.sqrt(abs(y))
    check(formula, 0, fn)


def test_greatest_and_least_are_null_when_an_argument_is_null() -> None:
    check("greatest(x, 0)", 0, lambda d, t: max(d["x"][t], 0.0) if not np.isnan(d["x"][t]) else np.nan)


def test_non_finite_results_become_null() -> None:
    check("ln(x)", 0, lambda d, t: math.log(d["x"][t]) if d["x"][t] > 0 else np.nan)
    check("1 / k", 0, lambda d, t: 1 / d["k"][t] if d["k"][t] != 0 else np.nan)


def test_time_functions_are_utc() -> None:
    out = evaluate({"h": "hour(ts)", "d": "isodow(ts)", "m": "(epoch(available_at) - epoch(ts)) / 60"})
    btc = DATA["BTCUSDT"]
    hours = (btc["index"] * 5 // 60) % 24
    expected_hours = np.where(btc["gap"], np.nan, hours)
    np.testing.assert_array_equal(out["h"]["BTCUSDT"], expected_hours)
    assert set(np.unique(out["d"]["BTCUSDT"][~btc["gap"]])) <= {5.0, 6.0, 7.0}  # 2024-03-01 is a Friday
    assert np.all(out["m"]["BTCUSDT"][~btc["gap"]] == 5.0)


def test_every_vocabulary_function_compiles_to_lint_clean_sql() -> None:
    calls = {
        "lag": "lag(x, 2)", "log_return": "log_return(close, 2)", "pct_change": "pct_change(close, 2)",
        "diff": "diff(x, 2)", "rolling_count": "rolling_count(c, 3)", "rolling_cov": "rolling_cov(x, y, 3)",
        "rolling_corr": "rolling_corr(x, y, 3)", "rolling_beta": "rolling_beta(y, x, 3)", "ema": "ema(x, 3)",
        "consecutive": "consecutive(c, 3)", "symbol_value": "symbol_value(x, 'BTCUSDT')",
        "round": "round(x, 2)", "power": "power(x, 2)", "greatest": "greatest(x, y)", "least": "least(x, y)",
        "coalesce": "coalesce(x, y)", "nullif": "nullif(x, y)", "epoch": "epoch(ts)", "hour": "hour(ts)",
        "minute": "minute(ts)", "isodow": "isodow(ts)", "xs_count": "xs_count(x)",
    }
    formulas = {}
    for name, fn in FUNCTIONS.items():
        formula = calls.get(name) or (f"{name}(x, 3)" if fn.params else f"{name}(x)")
        formulas[f"f_{name}"] = formula
    out = evaluate(formulas)
    assert set(out) == set(formulas)
    features = build_feature_catalog(feature_tree(formulas), Path("<t>"), INPUTS)
    plan = BlockPlanner(FeatureCatalog(Path("."), features, {}, 5), "returns", INPUTS).plan()
    sql = render_sql(plan, {"fct_bars": "test_bars"})
    assert check_sql("int_features__returns", [], sql) == []


@pytest.mark.parametrize("formula", ["rolling_max(x, 5) > -100", "zscore(x, 5) < 100", "rolling_count(c, 5) >= 0",
                                     "consecutive(c, 5) >= 0", "pct_rank(x, 5) >= 0"])
def test_a_comparison_on_an_incomplete_window_is_unknown(formula: str) -> None:
    """A window with a missing value is unknown inside the same expression too, so a comparison on
    it is NULL (not true: DuckDB orders NaN above every number)."""
    actual = evaluate({"f": formula})["f"]
    btc = actual["BTCUSDT"]
    assert np.isnan(btc[300:305]).all()         # x (and c) missing on the real bar 300
    assert not np.isnan(btc[305])
