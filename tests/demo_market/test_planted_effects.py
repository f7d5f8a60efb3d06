"""The planted effects are recoverable by a plain event study, and the nulls show nothing.

The event study is written here on purpose (not the project's discovery code): forward log return of
the perp close from the condition bar t to bar t+h, read from the archive's zips; mean over the
occurrences; standard error clustered on occurrences whose windows overlap in time (across symbols),
because one market move drives several symbols at once."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pytest

from demo_market_io import BAR_MS, Archive, load_bars, load_kind, load_metrics

Z_TOLERANCE = 2.5
MIN_OCCURRENCES = 30


def cluster_mean_se(start_ms: np.ndarray, horizon: np.ndarray, x: np.ndarray) -> tuple[float, float, int]:
    """Mean and cluster-robust standard error (CR1: CR0 times sqrt(G / (G - 1))); a cluster is a run
    of occurrences whose [t, t+h] windows overlap, on any symbol."""
    order = np.argsort(start_ms, kind="stable")
    s, e, x = start_ms[order], start_ms[order] + horizon[order] * BAR_MS, x[order]
    new = np.r_[True, s[1:] > np.maximum.accumulate(e)[:-1]]
    cluster = np.cumsum(new) - 1
    mean = float(x.mean())
    sums = np.bincount(cluster, x - mean)
    g = int(cluster[-1] + 1)
    return mean, float(np.sqrt((sums**2).sum() * g / max(g - 1, 1)) / x.size), g


@pytest.fixture(scope="module")
def study(archive: Archive) -> dict[tuple[str, str], dict]:
    """Per (effect, role): n, measured mean and SE of forward returns (bps), expected drift."""
    occ = archive.occurrences
    closes = {s: load_bars(archive, "um", s) for s in archive.symbols}
    rows: dict[tuple[str, str], list[tuple[int, int, float, float]]] = {}
    for i in range(occ.num_rows):
        sym = occ["symbol"][i].as_py()
        ts_ms = occ["ts"][i].value // 1000
        h = occ["horizon_bars"][i].as_py()
        bars = closes[sym]
        at = bars.index_of(np.array([ts_ms, ts_ms + h * BAR_MS]))
        assert (at >= 0).all(), f"{sym} occurrence at {ts_ms} lacks bars for its horizon"
        fwd = float(np.log(bars.close[at[1]] / bars.close[at[0]]) * 1e4)
        key = (occ["effect"][i].as_py(), occ["role"][i].as_py())
        rows.setdefault(key, []).append((ts_ms, h, fwd, occ["window_drift_bps"][i].as_py()))
    out = {}
    for key, vals in rows.items():
        ts, h, fwd, expected = (np.array(v) for v in zip(*vals))
        mean, se, clusters = cluster_mean_se(ts.astype(np.int64), h.astype(np.int64), fwd)
        out[key] = {"n": len(vals), "clusters": clusters, "mean": mean, "se": se, "expected": float(expected.mean())}
    print("\nevent study (bps): effect, role, n, clusters, measured +- se, planted")
    for (effect, role), r in sorted(out.items()):
        print(f"  {effect:24s} {role:13s} {r['n']:5d} {r['clusters']:5d} {r['mean']:8.1f} +- {r['se']:5.1f}"
              f"   {r['expected']:7.1f}")
    return out


def _effects(archive: Archive, role: str) -> list[str]:
    import yaml

    doc = yaml.safe_load((archive.root / "ground_truth" / "effects.yaml").read_text())
    return [e["name"] for e in doc["effects" if role == "planted" else "nulls"]]


def test_every_effect_and_null_has_occurrences(archive: Archive, study: dict) -> None:
    for name in _effects(archive, "planted"):
        assert study.get((name, "planted"), {"n": 0})["n"] >= MIN_OCCURRENCES, name
    for name in _effects(archive, "null"):
        assert study.get((name, "null"), {"n": 0})["n"] >= MIN_OCCURRENCES, name


def test_planted_drifts_are_recovered_within_their_standard_error(archive: Archive, study: dict) -> None:
    for name in _effects(archive, "planted"):
        r = study[(name, "planted")]
        assert abs(r["mean"] - r["expected"]) <= Z_TOLERANCE * r["se"], (name, r)
        # ...and the drift is really there: a generator that plants nothing fails this.
        assert abs(r["mean"]) >= 2.0 * r["se"], (name, r)
        assert np.sign(r["mean"]) == np.sign(r["expected"]), (name, r)


def test_planted_windows_carry_exactly_their_own_drift(archive: Archive) -> None:
    occ = archive.occurrences
    planted = occ.filter(pc.equal(occ["role"], "planted"))
    assert planted.num_rows > 0
    np.testing.assert_allclose(planted["window_drift_bps"].to_numpy(), planted["drift_bps"].to_numpy(), atol=1e-6)


def test_null_conditions_show_no_drift(archive: Archive, study: dict) -> None:
    for name in _effects(archive, "null"):
        r = study[(name, "null")]
        assert abs(r["mean"]) <= Z_TOLERANCE * r["se"], (name, r)
        # Nulls are not contaminated by planted windows beyond a small fraction of their noise.
        assert abs(r["expected"]) <= 0.5 * r["se"], (name, r)


def test_conditions_outside_their_state_carry_no_planted_drift(study: dict) -> None:
    checked = 0
    for (name, role), r in study.items():
        if role == "out_of_state" and r["n"] >= MIN_OCCURRENCES:
            # Expected is not exactly zero: e.g. a cascade bar in a calm market is also a capitulation
            # bar out of state, and the ground truth records the OI-flush drift its window carries.
            assert abs(r["mean"] - r["expected"]) <= Z_TOLERANCE * r["se"], (name, r)
            checked += 1
    assert checked >= 1


# --- The ground truth's conditions are visible in the archive at the recorded bar (point in time). ---

def _occ(archive: Archive, effect: str) -> list[tuple[str, int]]:
    occ = archive.occurrences.filter(pc.equal(archive.occurrences["effect"], effect))
    return [(s, t.value // 1000) for s, t in zip(occ["symbol"].to_pylist(), occ["ts"])]


def test_breakouts_break_the_prior_day_high_using_past_bars_only(archive: Archive) -> None:
    hits = _occ(archive, "quiet_breakout")
    bars = {s: load_bars(archive, "um", s) for s in archive.symbols}
    ok = 0
    for sym, ts in hits:
        b = bars[sym]
        i = b.index_of(np.array([ts]))[0]
        past = (b.open_ms >= ts - 288 * BAR_MS) & (b.open_ms < ts)
        ok += b.close[i] >= b.high[past].max()
    assert ok >= 0.97 * len(hits) and len(hits) > 0


def test_funding_extremes_are_settled_rates_above_the_threshold(archive: Archive) -> None:
    for sym in archive.symbols:
        hits = [t for s, t in _occ(archive, "crowded_long_unwind") if s == sym]
        if not hits:
            continue
        f = load_kind(archive, "fundingRate", sym)
        settle = (f["calc_time"].to_numpy() // 3_600_000) * 3_600_000
        rate8 = f["last_funding_rate"].to_numpy() * 8 / f["funding_interval_hours"].to_numpy()
        by_time = dict(zip(settle.tolist(), rate8.tolist()))
        assert all(by_time.get(t, -1.0) >= 0.0003 - 1e-12 for t in hits), sym


def test_oi_flushes_are_oi_drops_with_liquidations(archive: Archive) -> None:
    for sym in archive.symbols:
        hits = [t for s, t in _occ(archive, "oi_flush_rebound") if s == sym]
        if not hits:
            continue
        bar_ms, m = load_metrics(archive, sym)
        oi = m["sum_open_interest"].to_numpy()
        liq = load_kind(archive, "liquidationSnapshot", sym)
        liq_bars = set(((liq["time"].to_numpy() // BAR_MS) * BAR_MS).tolist())
        for t in hits:
            i = int(np.searchsorted(bar_ms, t))
            assert bar_ms[i] == t and bar_ms[i - 1] == t - BAR_MS
            assert oi[i] / oi[i - 1] - 1 <= -0.03 + 1e-9, (sym, t)
            assert t in liq_bars, (sym, t)


def test_clock_and_crowding_nulls_match_their_definitions(archive: Archive) -> None:
    ts = np.array([t for _, t in _occ(archive, "wednesday_us_open")])
    assert ts.size and np.all((ts // 86_400_000 + 3) % 7 == 2) and np.all(ts % 86_400_000 == (13 * 60 + 30) * 60_000)
    for sym in archive.symbols:
        hits = [t for s, t in _occ(archive, "retail_long_crowding") if s == sym]
        if hits:
            bar_ms, m = load_metrics(archive, sym)
            ratio = m["count_long_short_ratio"].to_numpy()
            assert np.all(ratio[np.searchsorted(bar_ms, hits)] >= 2.6 - 1e-9), sym
