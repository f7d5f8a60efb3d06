"""The generated market has the stylised facts of crypto, measured on the archive's own bars with
tolerances a broken generator (Gaussian i.i.d. returns, no common factor, funding unrelated to the
basis, OI unrelated to liquidations) would fail."""

from __future__ import annotations

import numpy as np
import pytest
from demo_market_io import BAR_MS, Archive, Bars, load_bars, load_kind, load_metrics
from scipy.stats import kurtosis


def returns(b: Bars) -> tuple[np.ndarray, np.ndarray]:
    """(open time of the later bar, log return) for consecutive bars only (never across a gap)."""
    ok = np.diff(b.open_ms) == BAR_MS
    r = np.diff(np.log(b.close))
    return b.open_ms[1:][ok], r[ok]


@pytest.fixture(scope="module")
def perp(archive: Archive) -> dict[str, Bars]:
    return {s: load_bars(archive, "um", s) for s in archive.symbols}


def test_five_minute_returns_have_fat_tails(perp: dict[str, Bars]) -> None:
    for sym, b in perp.items():
        _, r = returns(b)
        assert kurtosis(r) > 3.0, sym


def test_absolute_returns_cluster(perp: dict[str, Bars]) -> None:
    """Volatility clustering: autocorrelation of |r| positive at every lag 1..12 (Gaussian i.i.d.
    would give ~0 +- 0.005 here), while returns themselves are close to uncorrelated."""
    for sym, b in perp.items():
        _, r = returns(b)
        a = np.abs(r) - np.abs(r).mean()
        acf = np.array([np.dot(a[:-k], a[k:]) / np.dot(a, a) for k in range(1, 13)])
        assert np.all(acf > 0.05), (sym, acf.round(3))
        c = r - r.mean()
        assert abs(np.dot(c[:-1], c[1:]) / np.dot(c, c)) < 0.05, sym


def test_each_symbol_tracks_the_leader_within_its_configured_range(archive: Archive, perp: dict[str, Bars]) -> None:
    leader = archive.config["leader"]
    t_lead, r_lead = returns(perp[leader])
    for sym in archive.symbols:
        if sym == leader:
            continue
        t, r = returns(perp[sym])
        common, i, j = np.intersect1d(t_lead, t, return_indices=True)
        corr = np.corrcoef(r_lead[i], r[j])[0, 1]
        lo, hi = archive.config["symbol_parameters"][sym]["leader_corr_range"]
        assert lo <= corr <= hi, (sym, round(corr, 3), (lo, hi))


def test_intraday_and_weekly_seasonality(perp: dict[str, Bars]) -> None:
    for sym, b in perp.items():
        t, r = returns(b)
        hour = (t // 3_600_000) % 24
        us = np.abs(r[(hour >= 13) & (hour < 17)]).mean()
        asia_night = np.abs(r[(hour >= 3) & (hour < 7)]).mean()
        assert us > 1.3 * asia_night, sym
        bar_weekday = (b.open_ms // 86_400_000 + 3) % 7
        weekend = b.quote[bar_weekday >= 5].mean()
        weekdays = b.quote[bar_weekday < 5].mean()
        assert weekend < 0.75 * weekdays, sym


def test_volume_rises_with_volatility(perp: dict[str, Bars]) -> None:
    for sym, b in perp.items():
        ok = np.diff(b.open_ms) == BAR_MS
        r = np.diff(np.log(b.close))[ok]
        vol = b.volume[1:][ok]
        assert np.corrcoef(np.abs(r), np.log(vol))[0, 1] > 0.3, sym


def test_kline_columns_are_consistent_with_price_and_volume(archive: Archive) -> None:
    for market in ("um", "spot"):
        for sym in archive.symbols:
            b = load_bars(archive, market, sym)
            assert np.all(b.low <= np.minimum(b.open, b.close)) and np.all(b.high >= np.maximum(b.open, b.close))
            vwap = b.quote / b.volume
            tol = 1e-6 * b.high
            assert np.all(vwap >= b.low - tol) and np.all(vwap <= b.high + tol), (market, sym)
            assert np.all(b.taker <= b.volume) and np.all(b.taker_quote <= b.quote + 1e-6)
            assert np.all(b.count >= 1)
            consecutive = np.diff(b.open_ms) == BAR_MS
            assert np.mean(b.open[1:][consecutive] == b.close[:-1][consecutive]) > 0.999
            # taker buying leans with the bar's direction
            up = b.close > b.open
            assert (b.taker / b.volume)[up].mean() > (b.taker / b.volume)[~up].mean() + 0.05


def _interval_premium(archive: Archive, sym: str) -> tuple[np.ndarray, np.ndarray]:
    """(funding rate, mean premium-index close over the funding interval) per settlement."""
    f = load_kind(archive, "fundingRate", sym)
    settle = (f["calc_time"].to_numpy() // 3_600_000) * 3_600_000
    hours = f["funding_interval_hours"].to_numpy()
    prem = load_bars(archive, "um", sym, kind="premiumIndexKlines")
    csum = np.r_[0.0, np.cumsum(prem.close)]
    hi = np.searchsorted(prem.open_ms, settle)
    lo = np.searchsorted(prem.open_ms, settle - hours * 3_600_000)
    keep = hi - lo >= 12
    mean_premium = (csum[hi[keep]] - csum[lo[keep]]) / (hi[keep] - lo[keep])
    return f["last_funding_rate"].to_numpy()[keep], mean_premium


def test_funding_sign_follows_the_basis(archive: Archive) -> None:
    for sym in archive.symbols:
        rate, premium = _interval_premium(archive, sym)
        assert rate.size > 100
        agree = np.mean(np.sign(rate) == np.sign(premium))
        assert agree > 0.7, (sym, agree)
        assert np.corrcoef(rate, premium)[0, 1] > 0.5, sym


def test_basis_mean_reverts(archive: Archive) -> None:
    for sym in archive.symbols:
        prem = load_bars(archive, "um", sym, kind="premiumIndexKlines")
        ok = np.diff(prem.open_ms) == BAR_MS
        x = prem.close - prem.close.mean()
        phi = np.dot(x[:-1][ok], x[1:][ok]) / np.dot(x[:-1][ok], x[:-1][ok])
        # Persistent within hours, but mean-reverting: half-life between 20 minutes and 2 days.
        half_life_bars = np.log(0.5) / np.log(phi)
        assert 4 <= half_life_bars <= 576, (sym, phi)


def test_one_symbol_switches_funding_interval(archive: Archive) -> None:
    switch = archive.config["funding_interval_switch"]
    for sym in archive.symbols:
        f = load_kind(archive, "fundingRate", sym)
        settle = (f["calc_time"].to_numpy() // 3_600_000) * 3_600_000
        hours = f["funding_interval_hours"].to_numpy()
        assert np.all(np.diff(settle) == hours[1:] * 3_600_000), sym
        if sym == switch["symbol"]:
            assert set(hours[settle <= switch["at_ms"]]) == {8} and set(hours[settle > switch["at_ms"]]) == {4}
        else:
            assert set(hours) == {8} and np.all(settle % (8 * 3_600_000) == 0)
        jitter = f["calc_time"].to_numpy() - settle
        assert jitter.min() >= 0 and jitter.max() < 10 and jitter.max() > 0


def test_oi_flushes_coincide_with_liquidation_spikes(archive: Archive) -> None:
    for sym in archive.symbols:
        bar_ms, m = load_metrics(archive, sym)
        oi = m["sum_open_interest"].to_numpy()
        consecutive = np.diff(bar_ms) == BAR_MS
        change = (oi[1:] / oi[:-1] - 1)[consecutive]
        change_bar = bar_ms[1:][consecutive]
        liq = load_kind(archive, "liquidationSnapshot", sym)
        assert liq.num_rows > 0, sym
        notional = liq["original_quantity"].to_numpy() * liq["average_price"].to_numpy() / 2  # rows are doubled
        lbar = (liq["time"].to_numpy() // BAR_MS) * BAR_MS
        bars, inv = np.unique(lbar, return_inverse=True)
        per_bar = np.bincount(inv, notional)
        oi_value = m["sum_open_interest_value"].to_numpy()
        spikes = bars[per_bar > 1e-3 * np.median(oi_value)]
        assert spikes.size >= 3, sym
        at = np.searchsorted(change_bar, spikes)
        valid = (at < change_bar.size) & (change_bar[np.minimum(at, change_bar.size - 1)] == spikes)
        # Every liquidation spike comes with an OI drop ...
        assert np.all(change[at[valid]] < -0.02), sym
        # ... and the largest OI drops are the liquidation spikes.
        largest = change_bar[np.argsort(change)[: spikes.size]]
        assert np.isin(largest, spikes).mean() >= 0.8, sym


def test_open_interest_builds_in_trends(archive: Archive, perp: dict[str, Bars]) -> None:
    for sym in archive.symbols:
        bar_ms, m = load_metrics(archive, sym)
        b = perp[sym]
        at = b.index_of(bar_ms)
        ok = at >= 288
        trend = np.abs(np.log(b.close[at[ok]] / b.close[at[ok] - 288]))
        oi = np.log(m["sum_open_interest"].to_numpy()[ok])
        assert np.corrcoef(trend, oi)[0, 1] > 0.1, sym
