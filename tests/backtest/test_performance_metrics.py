"""performance_summary / drawdown_curve: hand-computed cases, the NaN-bar convention, degenerate
inputs, PSR / DSR wiring to python_udfs.sharpe and a plain-Python cross-check.

Hand cases use dyadic numbers (k / 2^n) so equity sums are exact and recoveries hit the peak
exactly; otherwise `E >= peak` could miss a recovery by one ulp.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from python_udfs.performance_metrics import (
    BARS_PER_YEAR_5M,
    BarSeries,
    Trades,
    drawdown_curve,
    max_drawdown_duration,
    performance_summary,
)
from python_udfs.sharpe import deflated_sharpe_ratio, probabilistic_sharpe_ratio, sharpe_stats

RATIO_KEYS = ("sharpe_ratio", "sortino_ratio", "psr", "dsr", "sharpe_per_bar", "sharpe_per_trade")
EXPECTED_KEYS = (
    "n_bars", "n_unknown_bars", "n_active_bars", "total_return", "annualised_return",
    "annualised_volatility", "sharpe_ratio", "sortino_ratio", "max_drawdown",
    "max_drawdown_duration_bars", "turnover_annualised", "average_exposure", "hit_rate", "n_trades",
    "average_holding_bars", "cost_share_of_gross", "funding_share_of_gross", "psr", "dsr",
    "sharpe_per_bar", "sharpe_per_trade",
)  # fmt: skip


def _bars(net: list[float] | np.ndarray, bars_per_year: float = BARS_PER_YEAR_5M, **columns: object) -> BarSeries:
    """A cost-free series (gross = net, fully exposed, no turnover) unless columns override it."""
    r = np.asarray(net, dtype=np.float64)
    base: dict[str, object] = {
        "net": r, "gross": r.copy(), "fees": np.zeros_like(r), "spread": np.zeros_like(r),
        "impact": np.zeros_like(r), "funding": np.zeros_like(r), "exposure": np.ones_like(r),
        "turnover": np.zeros_like(r),
    }  # fmt: skip
    base.update(columns)
    return BarSeries(**base, bars_per_year=bars_per_year)  # type: ignore[arg-type]


def _summary(bars: BarSeries, trades: Trades | None = None, n_trials: int = 10, var: float = 1e-4) -> dict:
    return performance_summary(bars, trades if trades is not None else Trades.empty(), n_trials, var)


# --- hand-computed 6-bar case --------------------------------------------------------------------

HAND_NET = [0.5, -0.5, 0.5, -0.125, -0.125, 0.25]


def _hand_bars() -> BarSeries:
    """Six bars, bars_per_year = 4 so annualising multiplies the mean by 4 and Sharpe by 2.

    net     =  0.5   -0.5     0.5    -0.125  -0.125   0.25
    gross   =  0.625 -0.5625  0.5625  0      -0.0625  0.375
    fees    =  1/16   0       1/16    1/16    1/16    0
    spread  =  1/16   0       0       0       0       0
    impact  =  0      0       0       1/16    0       0
    funding =  0      1/16    0       0       0      -1/8
    """
    return _bars(
        HAND_NET,
        bars_per_year=4.0,
        gross=np.array([0.625, -0.5625, 0.5625, 0.0, -0.0625, 0.375]),
        fees=np.array([0.0625, 0.0, 0.0625, 0.0625, 0.0625, 0.0]),
        spread=np.array([0.0625, 0.0, 0.0, 0.0, 0.0, 0.0]),
        impact=np.array([0.0, 0.0, 0.0, 0.0625, 0.0, 0.0]),
        funding=np.array([0.0, 0.0625, 0.0, 0.0, 0.0, -0.125]),
        exposure=np.array([1.0, 1.0, 1.0, 0.0, 0.5, 0.5]),
        turnover=np.array([1.0, 0.0, 1.0, 1.0, 0.5, 0.0]),
    )


def test_hand_case_is_internally_consistent() -> None:
    b = _hand_bars()
    np.testing.assert_array_equal(b.gross - b.fees - b.spread - b.impact + b.funding, b.net)


def test_hand_case_drawdown() -> None:
    # Equity 1.5, 1.0, 1.5, 1.375, 1.25, 1.5; the peak is 1.5 from bar 0 on.
    # Drawdown 0, 1/3, 0, 1/12, 1/6, 0: the deepest fall is 0.5 / 1.5 = 1/3 (bar 1).
    # Spells: peak bar 0 -> recovered bar 2 lasts 2 bars; peak bar 2 -> recovered bar 5 lasts 3.
    # The longest (3) is the shallow one, not the deepest, and counts the recovering bar.
    equity, drawdown = drawdown_curve(np.array(HAND_NET))
    np.testing.assert_array_equal(equity, [1.5, 1.0, 1.5, 1.375, 1.25, 1.5])
    np.testing.assert_allclose(drawdown, [0, 1 / 3, 0, 1 / 12, 1 / 6, 0], rtol=0, atol=1e-15)
    s = _summary(_hand_bars())
    assert s["max_drawdown"] == pytest.approx(1 / 3, abs=1e-15)
    assert s["max_drawdown_duration_bars"] == 3


def test_hand_case_returns_and_ratios() -> None:
    # total = 0.5; mean = 0.5 / 6 = 1/12 -> annualised 4/12 = 1/3.
    # Deviations from 1/12 (in 1/24): 10, -14, 10, -5, -5, 4 -> squares sum 462/576;
    # / (6 - 1) -> variance 77/480, so SR per bar = (1/12) / sqrt(77/480), annualised x 2.
    # Downside: min(r, 0)^2 = 1/4, 1/64, 1/64 over 6 known bars -> mean 3/64, dd = sqrt(3)/8;
    # Sortino = (1/12) / (sqrt(3)/8) x 2 = 4 / (3 sqrt(3)).
    s = _summary(_hand_bars())
    sr_bar = (1 / 12) / math.sqrt(77 / 480)
    assert s["n_bars"] == 6 and s["n_unknown_bars"] == 0
    assert s["total_return"] == 0.5
    assert s["annualised_return"] == pytest.approx(1 / 3, abs=1e-12)
    assert s["annualised_volatility"] == pytest.approx(2 * math.sqrt(77 / 480), abs=1e-12)
    assert s["sharpe_per_bar"] == pytest.approx(sr_bar, abs=1e-12)
    assert s["sharpe_ratio"] == pytest.approx(2 * sr_bar, abs=1e-12)
    assert s["sortino_ratio"] == pytest.approx(4 / (3 * math.sqrt(3)), abs=1e-12)


def test_hand_case_costs_exposure_turnover_and_trades() -> None:
    # costs = fees 4/16 + spread 1/16 + impact 1/16 = 3/8; sum |gross| = 35/16 -> 6/35.
    # funding = 1/16 - 1/8 = -1/16 -> -1/35 (signed; the signed gross sum would be 15/16).
    # exposure > 0 on 5 bars, mean 4/6; turnover 3.5 / 6 bars x 4 bars/year = 7/3.
    # Trades 3/8, -1/4, 1/8, 0: two of four are > 0 (the flat one is not a hit) -> 0.5;
    # holding 2, 1, 3, 0 -> 1.5.
    trades = Trades(np.array([0.375, -0.25, 0.125, 0.0]), np.array([2, 1, 3, 0]))
    s = _summary(_hand_bars(), trades)
    assert s["cost_share_of_gross"] == pytest.approx(6 / 35, abs=1e-12)
    assert s["funding_share_of_gross"] == pytest.approx(-1 / 35, abs=1e-12)
    assert s["n_active_bars"] == 5
    assert s["average_exposure"] == pytest.approx(2 / 3, abs=1e-12)
    assert s["turnover_annualised"] == pytest.approx(7 / 3, abs=1e-12)
    assert s["hit_rate"] == 0.5
    assert s["n_trades"] == 4
    assert s["average_holding_bars"] == 1.5


def test_keys_and_types() -> None:
    s = _summary(_hand_bars())
    assert tuple(s) == EXPECTED_KEYS
    for key in ("n_bars", "n_unknown_bars", "n_active_bars", "max_drawdown_duration_bars", "n_trades"):
        assert type(s[key]) is int, key
    for key in set(EXPECTED_KEYS) - {"n_bars", "n_unknown_bars", "n_active_bars", "max_drawdown_duration_bars", "n_trades"}:
        assert isinstance(s[key], float), key


# --- NaN bars ------------------------------------------------------------------------------------


def test_nan_bars_carry_equity_and_are_counted() -> None:
    # Equity 1.25, (carry) 1.25, 0.75, (carry) 0.75, 1.0; peak 1.25.
    net = np.array([0.25, np.nan, -0.5, np.nan, 0.25])
    equity, drawdown = drawdown_curve(net)
    np.testing.assert_array_equal(equity, [1.25, 1.25, 0.75, 0.75, 1.0])
    np.testing.assert_array_equal(drawdown, [0.0, 0.0, 0.4, 0.4, 0.2])
    s = _summary(_bars(net))
    assert s["n_bars"] == 5 and s["n_unknown_bars"] == 2
    assert s["total_return"] == 0.0
    assert s["max_drawdown"] == 0.4
    # Last bar at the peak is bar 1 (carried); bars 2, 3, 4 are underwater to the end.
    assert s["max_drawdown_duration_bars"] == 3


def test_nan_bars_are_excluded_from_moments_and_shares() -> None:
    rng = np.random.default_rng(1)
    known = rng.normal(0.001, 0.01, 40)
    net = known.copy()
    gross = known + 0.002
    fees = np.full(40, 0.002)
    gaps = [3, 17, 18, 30]
    net[gaps] = np.nan
    gross[[3, 17]] = np.nan  # unknown gross must not poison the shares
    fees[[18, 30]] = 1.0  # nor a cost booked on an unknown bar
    with_gaps = _summary(_bars(net, gross=gross, fees=fees))
    keep = np.setdiff1d(np.arange(40), gaps)
    compressed = _summary(_bars(known[keep], gross=known[keep] + 0.002, fees=fees[keep]))
    assert with_gaps["n_unknown_bars"] == 4
    for key in ("total_return", "annualised_return", "annualised_volatility", "sharpe_ratio",
                "sortino_ratio", "sharpe_per_bar", "psr", "cost_share_of_gross"):  # fmt: skip
        assert math.isfinite(with_gaps[key]), key
        assert with_gaps[key] == pytest.approx(compressed[key], rel=1e-12, abs=1e-15), key


def test_turnover_is_averaged_over_all_bars() -> None:
    # Turnover 2 over 4 bars, one of them unknown: 2 / 4 x 8 = 4 (not 2 / 3 x 8).
    b = _bars([0.01, np.nan, -0.01, 0.0], bars_per_year=8.0, turnover=np.array([1.0, 0.0, 1.0, 0.0]))
    assert _summary(b)["turnover_annualised"] == 4.0


# --- drawdown edge cases -------------------------------------------------------------------------


def test_never_recovered_drawdown_runs_to_the_end() -> None:
    # Equity 1.5, 1.25, 1.375, 1.4375, 1.1875: peak bar 0, underwater bars 1..4 -> 4 bars;
    # deepest at the end: 0.3125 / 1.5.
    s = _summary(_bars([0.5, -0.25, 0.125, 0.0625, -0.25]))
    assert s["max_drawdown_duration_bars"] == 4
    assert s["max_drawdown"] == pytest.approx(0.3125 / 1.5, abs=1e-15)


def test_recovery_ends_the_spell_and_equal_counts_as_recovered() -> None:
    # Equity 1.5, 1.25, 1.375, 1.5 (exactly the peak), 1.625, 1.75: one spell, peak bar 0 -> bar 3.
    s = _summary(_bars([0.5, -0.25, 0.125, 0.125, 0.125, 0.125]))
    assert s["max_drawdown_duration_bars"] == 3
    assert s["max_drawdown"] == pytest.approx(0.25 / 1.5, abs=1e-15)


def test_starting_capital_is_a_peak() -> None:
    # Equity 0.75, 0.875: below the starting 1 throughout -> drawdown 1/4 and 2 bars.
    s = _summary(_bars([-0.25, 0.125]))
    assert s["max_drawdown"] == 0.25
    assert s["max_drawdown_duration_bars"] == 2


def test_duration_helper_on_flat_and_rising_equity() -> None:
    assert max_drawdown_duration(np.array([1.0, 1.0, 1.5, 2.0])) == 0
    assert max_drawdown_duration(np.empty(0)) == 0


# --- degenerate inputs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("net", "nan_keys"),
    [
        ([], RATIO_KEYS + ("annualised_return", "annualised_volatility", "max_drawdown", "turnover_annualised",
                           "average_exposure", "cost_share_of_gross", "funding_share_of_gross")),
        ([np.nan] * 4, RATIO_KEYS + ("annualised_return", "annualised_volatility", "max_drawdown",
                                     "cost_share_of_gross", "funding_share_of_gross")),
        ([0.001] * 5, RATIO_KEYS),  # zero variance, no negative bar
        ([-0.001] * 5, RATIO_KEYS[:1] + RATIO_KEYS[2:]),  # zero variance; Sortino is defined (-1 x sqrt(bpy))
        ([0.0] * 5, RATIO_KEYS + ("cost_share_of_gross", "funding_share_of_gross")),
        ([np.nan, -0.01, np.nan], RATIO_KEYS[:1] + RATIO_KEYS[2:] + ("annualised_volatility",)),
    ],
    ids=["empty", "all-nan", "constant-positive", "constant-negative", "all-zero", "one-known-bar"],
)
def test_degenerate_inputs_give_nan_not_inf(net: list[float], nan_keys: tuple[str, ...]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" / divide-by-zero on the way
        s = _summary(_bars(net))
    for key, value in s.items():
        assert not (isinstance(value, float) and math.isinf(value)), key
        assert math.isnan(value) == (key in nan_keys) or key in ("hit_rate", "average_holding_bars"), key
    assert math.isnan(s["hit_rate"]) and math.isnan(s["average_holding_bars"]) and s["n_trades"] == 0


def test_constant_negative_sortino() -> None:
    # mean -1e-3, downside sqrt(mean(1e-6)) = 1e-3 -> -1 per bar, x sqrt(4) = -2.
    assert _summary(_bars([-0.001] * 5, bars_per_year=4.0))["sortino_ratio"] == pytest.approx(-2.0, abs=1e-12)


def test_mismatched_lengths_and_bad_bars_per_year_raise() -> None:
    with pytest.raises(ValueError, match="length"):
        _bars([0.1, 0.2], exposure=np.ones(3))
    with pytest.raises(ValueError, match="bars_per_year"):
        _bars([0.1, 0.2], bars_per_year=0.0)
    with pytest.raises(ValueError, match="holding_bars"):
        Trades(np.array([0.1]), np.array([1, 2]))


def test_default_bars_per_year_is_5m_bars() -> None:
    assert _bars([0.1]).bars_per_year == 105120.0


# --- PSR / DSR -----------------------------------------------------------------------------------


def _skewed_series(n: int, seed: int) -> np.ndarray:
    """Negatively skewed, fat-tailed bar returns with a small edge and a few unknown bars."""
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0015, 0.01, n) - rng.exponential(0.02, n) * (rng.random(n) < 0.05)
    r[rng.random(n) < 0.02] = np.nan
    return r


def _trades_of_returns(returns: np.ndarray) -> Trades:
    known = returns[~np.isnan(returns)]
    return Trades(known, np.ones(known.size, dtype=np.int64))


def test_psr_and_dsr_match_sharpe_module_on_independent_moments() -> None:
    net = _skewed_series(3000, 7)
    x = net[~np.isnan(net)]
    sr = x.mean() / x.std(ddof=1)
    skew = float(stats.skew(x, bias=True))
    kurt = float(stats.kurtosis(x, fisher=False, bias=True))
    assert skew < -1.0 and kurt > 8.0  # the moments matter for this series
    # DSR is per trade: trades with their own, different moments
    t = _skewed_series(1500, 8)
    t = t[~np.isnan(t)] * 3
    sr_t = t.mean() / t.std(ddof=1)
    skew_t = float(stats.skew(t, bias=True))
    kurt_t = float(stats.kurtosis(t, fisher=False, bias=True))
    s = performance_summary(_bars(net), _trades_of_returns(t), 50, 2e-4)
    assert s["sharpe_per_bar"] == pytest.approx(sr, rel=1e-12)
    assert s["sharpe_per_trade"] == pytest.approx(sr_t, rel=1e-12)
    assert s["psr"] == pytest.approx(float(probabilistic_sharpe_ratio(sr, x.size, skew, kurt)), abs=1e-12)
    assert s["dsr"] == pytest.approx(float(deflated_sharpe_ratio(sr_t, t.size, 50, 2e-4, skew_t, kurt_t)), abs=1e-12)
    assert 0.05 < s["dsr"] < 0.999 and 0.05 < s["psr"] < 0.999  # neither saturated, so the comparison bites


def test_dsr_decreases_with_trials_and_equals_the_trades_psr_for_one() -> None:
    b = _bars(_skewed_series(3000, 7))
    trades = _trades_of_returns(_skewed_series(1500, 8))
    dsr = [_summary(b, trades, n_trials=n, var=2e-4)["dsr"] for n in (1, 2, 10, 100, 1000)]
    moments = sharpe_stats(trades.net_return)
    assert dsr[0] == pytest.approx(float(probabilistic_sharpe_ratio(moments.sr, moments.n_obs, moments.skew,
                                                                    moments.kurtosis)), abs=1e-15)
    assert all(a > b for a, b in zip(dsr, dsr[1:])), dsr
    assert math.isnan(_summary(b, Trades.empty())["dsr"])  # no trade, no deflated Sharpe


# --- independent cross-check -----------------------------------------------------------------------


def _loop_reference(net: list[float], bars_per_year: float) -> tuple[float, float, int]:
    """Annualised Sharpe, max drawdown and its duration by a plain loop over the bars."""
    known = [r for r in net if r == r]
    mean = sum(known) / len(known)
    var = sum((r - mean) ** 2 for r in known) / (len(known) - 1)
    sharpe = mean / math.sqrt(var) * math.sqrt(bars_per_year)
    equity, peak, peak_bar, max_dd, longest = 1.0, 1.0, -1, 0.0, 0
    for i, r in enumerate(net):
        if r == r:
            equity += r
        if equity >= peak:
            longest = max(longest, i - peak_bar if i - peak_bar > 1 else 0)
            peak, peak_bar = equity, i
        max_dd = max(max_dd, (peak - equity) / peak)
    if peak_bar < len(net) - 1:
        longest = max(longest, len(net) - 1 - peak_bar)
    return sharpe, max_dd, longest


def test_matches_plain_python_loop_on_random_series() -> None:
    rng = np.random.default_rng(2024)
    net = rng.normal(3e-5, 2e-3, 5000)
    net[rng.random(5000) < 0.03] = np.nan
    sharpe, max_dd, longest = _loop_reference(net.tolist(), BARS_PER_YEAR_5M)
    s = _summary(_bars(net))
    assert max_dd > 0.01 and longest > 10  # a real drawdown to compare
    assert s["sharpe_ratio"] == pytest.approx(sharpe, rel=1e-12)
    assert s["max_drawdown"] == pytest.approx(max_dd, rel=1e-12)
    assert s["max_drawdown_duration_bars"] == longest
