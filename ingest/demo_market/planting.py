"""Plant the effects: find condition occurrences point-in-time and add each effect's drift to the
returns of bars t+1..t+h.

Occurrences are selected greedily in time (per effect cooldown; a planted window never overlaps
another planted window on the same symbol, so each measured drift is its own). Because a planted
drift moves later prices, detection runs on the path that already carries the earlier drifts: we
iterate detect -> plant until the planted set is a fixed point, which is exactly the sequential,
point-in-time answer (each pass fixes at least the earliest disagreement).

An effect with an `active_window` plants only on condition bars inside that fraction of the timeline
(`active_mask`); elsewhere its occurrences are recorded as `out_of_window`, with no drift."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ingest.demo_market.conditions import Features, condition_mask, state_labels, state_mask, tradable
from ingest.demo_market.effects import EffectSpec

ROLES = ("planted", "out_of_state", "suppressed", "null", "out_of_window")


@dataclass(frozen=True)
class Occurrence:
    effect: int
    """Index into the effects tuple."""
    bar: int
    role: str


@dataclass(frozen=True)
class PlantResult:
    drift: np.ndarray
    """Per-bar log-return drift added to the symbol (sum of planted effects)."""
    occurrences: tuple[Occurrence, ...]
    states: np.ndarray
    iterations: int
    converged: bool


def active_mask(window: tuple[float, float], n: int) -> np.ndarray:
    """Condition bars of an n-bar timeline inside `window` = (start_fraction, end_fraction): bar t is
    active when start_fraction <= t / (n - 1) < end_fraction; end_fraction 1 includes the last bar."""
    start, end = window
    frac = np.arange(n) / (n - 1) if n > 1 else np.zeros(n)
    return (frac >= start) & ((frac < end) | (end >= 1.0))


def select(effects: tuple[EffectSpec, ...], f: Features, gap: np.ndarray) -> list[Occurrence]:
    """Greedy, time-ordered selection. Roles: `planted` (in state, window free), `out_of_window`
    (condition bar outside the effect's active window: no drift), `out_of_state` (condition met in
    the other state: no drift), `suppressed` (in state but inside another planted window: no drift),
    `null` (a null condition). Every recorded occurrence starts the effect's cooldown."""
    times, prios = [], []
    in_state: dict[int, np.ndarray] = {}
    active: dict[int, np.ndarray] = {}
    for i, e in enumerate(effects):
        hits = np.flatnonzero(condition_mask(e.condition, f) & tradable(gap, e.horizon_bars))
        times.append(hits)
        prios.append(np.full(hits.size, i))
        in_state[i] = state_mask(e.state, f)
        if e.windowed:
            active[i] = active_mask(e.active_window, gap.size)
    if not times:
        return []
    t_all, p_all = np.concatenate(times), np.concatenate(prios)
    order = np.lexsort((p_all, t_all))
    last = {i: -(10**9) for i in range(len(effects))}
    lock_until = -1
    out: list[Occurrence] = []
    for t, i in zip(t_all[order].tolist(), p_all[order].tolist()):
        e = effects[i]
        if t - last[i] < e.cooldown_bars:
            continue
        if e.role == "null":
            role = "null"
        elif i in active and not active[i][t]:
            role = "out_of_window"
        elif not in_state[i][t]:
            role = "out_of_state"
        elif t < lock_until:
            role = "suppressed"
        else:
            role = "planted"
            lock_until = t + e.horizon_bars
        last[i] = t
        out.append(Occurrence(i, t, role))
    return out


def drift_series(n: int, effects: tuple[EffectSpec, ...], occ: list[Occurrence]) -> np.ndarray:
    """Each planted occurrence spreads drift_bps evenly over the log returns of bars t+1..t+h."""
    diff = np.zeros(n + 1)
    for o in occ:
        if o.role != "planted":
            continue
        e = effects[o.effect]
        per_bar = e.drift_bps * 1e-4 / e.horizon_bars
        diff[o.bar + 1] += per_bar
        diff[min(o.bar + 1 + e.horizon_bars, n)] -= per_bar
    return np.cumsum(diff[:n])


def plant(effects: tuple[EffectSpec, ...], n: int, gap: np.ndarray,
          features_for: Callable[[np.ndarray], Features], max_iterations: int = 200) -> PlantResult:
    """`features_for(drift)` builds the features of the path that carries `drift`."""
    drift = np.zeros(n)
    planted: set[tuple[int, int]] | None = None
    for iteration in range(1, max_iterations + 1):
        f = features_for(drift)
        occ = select(effects, f, gap)
        now = {(o.bar, o.effect) for o in occ if o.role == "planted"}
        if now == planted:
            return PlantResult(drift, tuple(occ), state_labels(f), iteration, True)
        planted = now
        drift = drift_series(n, effects, occ)
    raise RuntimeError(f"planting did not reach a fixed point in {max_iterations} passes")
