"""Phase 2 cell statistics: every hypothesis (event x symbol x horizon x rule template x state
condition) measured after costs, with HAC inference and hierarchical shrinkage.

Called by the dbt Python model int_phase2__cell_statistics on the event samples (one row per fired
event and horizon with its forward return, funding, cost and the market states at the event bar).
Why Python: the HAC variance, the greedy de-overlap count and the empirical-Bayes pooling are path
dependent or need scipy; everything is vectorised over all cells (python_udfs/event_statistics.py).

After-cost return of one event under a template with side s (+1 long, -1 short), in bps:
    r = s * gross_return * 1e4 - round_trip_cost_bps - s * funding_rate_sum * 1e4
(a long pays positive funding). The question is whether there is an edge, so p_value is
one-sided: H0 mean after-cost return <= 0 against a positive mean (p_value_two_sided is beside it).
An event whose window touches a gap, whose funding is unknown or whose side is undefined (a directional template on an event without a direction) is excluded and
counted, never treated as zero.

Shrinkage strata: estimates are pooled within each (rule template, horizon, state variable) stratum
along global -> family -> event -> state value -> symbol cell (python_udfs/shrinkage.py
hierarchical_pool, Paule-Mandel between-group variances). Templates with opposite sides and
different horizons are different quantities and are never pooled together; the unconditioned
hypotheses form their own stratum with state value 'all'.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from python_udfs.event_spec import EventCatalog, RuleTemplate
from python_udfs.event_statistics import cell_statistics
from python_udfs.shrinkage import hierarchical_pool

ALL = "all"
"""State name and value of the unconditioned hypotheses."""


@dataclass(frozen=True)
class Phase2Settings:
    conservative_cost_multiplier: float
    conditioning_states: tuple[str, ...]


def _side(template: RuleTemplate, direction_sign: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    if template.side == "long":
        return np.ones_like(direction_sign)
    if template.side == "short":
        return -np.ones_like(direction_sign)
    side = direction_sign if template.side == "event_direction" else -direction_sign
    return np.where(side == 0, np.nan, side)


def _column(table: pa.Table, name: str, kind: type = float) -> np.ndarray:
    column = table[name]
    if kind is float:
        return np.asarray(pc.fill_null(pc.cast(column, pa.float64()), np.nan).to_numpy(zero_copy_only=False))
    if kind is bool:
        return np.asarray(pc.fill_null(column, False).to_numpy(zero_copy_only=False), dtype=bool)
    return np.asarray(column.to_pylist(), dtype=object)


def cell_table(samples: pa.Table, catalog: EventCatalog, settings: Phase2Settings) -> pa.Table:
    """One row per hypothesis with data (see the module docstring for the return definition)."""
    event_type = _column(samples, "event_type", str)
    family = _column(samples, "family", str)
    symbol = _column(samples, "symbol", str)
    horizon = _column(samples, "horizon_bars").astype(np.int64) if samples.num_rows else np.zeros(0, np.int64)
    bar_index = _column(samples, "bar_index").astype(np.int64) if samples.num_rows else np.zeros(0, np.int64)
    direction = _column(samples, "direction_sign")
    gross = _column(samples, "gross_return")
    funding = _column(samples, "funding_rate_sum")
    funding_known = _column(samples, "funding_known", bool)
    cost = _column(samples, "round_trip_cost_bps")
    states = {name: _column(samples, name, str) for name in settings.conditioning_states}
    gap = np.isnan(gross)
    no_funding = ~gap & ~funding_known
    no_cost = ~gap & ~no_funding & np.isnan(cost)

    pieces: list[dict[str, Any]] = []
    for template_name, template in catalog.rule_templates.items():
        allowed = np.array([template_name in catalog.event_templates.get(e, ()) for e in event_type], dtype=bool)
        if not allowed.any():
            continue
        side = _side(template, direction)
        value = side * gross * 1e4 - cost - side * np.where(funding_known, funding, np.nan) * 1e4
        conservative_cost = cost * settings.conservative_cost_multiplier
        value_conservative = side * gross * 1e4 - conservative_cost - side * np.where(funding_known, funding, np.nan) * 1e4
        for state_name in (ALL, *settings.conditioning_states):
            labels = np.full(event_type.size, ALL, dtype=object) if state_name == ALL else states[state_name]
            rows = allowed & np.array([label is not None for label in labels], dtype=bool)
            if not rows.any():
                continue
            keys = np.rec.fromarrays([event_type[rows], symbol[rows], horizon[rows], labels[rows].astype(str)])
            unique, codes = np.unique(keys, return_inverse=True)
            codes = codes.reshape(-1).astype(np.int64)
            n_cells = unique.size
            cell_horizon = np.asarray(unique["f2"], dtype=np.int64)
            stats_ = cell_statistics(codes, bar_index[rows], value[rows], cell_horizon, n_cells)
            conservative = np.bincount(codes, weights=np.nan_to_num(value_conservative[rows]) * ~np.isnan(value[rows]),
                                       minlength=n_cells) / np.maximum(stats_.n, 1)
            count = lambda mask: np.bincount(codes, weights=mask[rows].astype(float), minlength=n_cells).astype(np.int64)  # noqa: E731
            first_family = {}
            for e, f in zip(event_type[rows], family[rows]):
                first_family.setdefault(e, f)
            pieces.append({
                "event_type": unique["f0"].astype(str), "family": np.array([first_family[e] for e in unique["f0"]]),
                "symbol": unique["f1"].astype(str), "horizon_bars": cell_horizon,
                "rule_template": np.full(n_cells, template_name), "template_verb": np.full(n_cells, template.verb),
                "side": np.full(n_cells, template.side), "state_name": np.full(n_cells, state_name),
                "state_value": unique["f3"].astype(str),
                "n_events_in_cell": np.bincount(codes, minlength=n_cells).astype(np.int64),
                "n_excluded_gap": count(gap), "n_excluded_funding_unknown": count(no_funding),
                "n_excluded_cost_unknown": count(no_cost),
                "n_excluded_no_direction": count(np.isnan(side) & ~gap),
                "n": stats_.n, "n_deoverlapped": stats_.n_deoverlapped,
                "mean_bps": stats_.mean, "median_bps": stats_.median, "std_bps": stats_.std,
                "hit_rate": stats_.hit_rate, "hac_se_bps": stats_.hac_se, "t_stat": stats_.t,
                "p_value": stats_.p_positive, "p_value_two_sided": stats_.p_two_sided,
                "mean_conservative_bps": np.where(stats_.n > 0, conservative, np.nan),
                "mean_first_half_bps": stats_.mean_first_half, "mean_second_half_bps": stats_.mean_second_half,
            })
    if not pieces:
        return pa.table({name: pa.array([], type=kind) for name, kind in OUTPUT_SCHEMA})
    columns = {name: np.concatenate([piece[name] for piece in pieces]) for name in pieces[0]}
    columns.update(_shrink(columns))
    return pa.table({name: pa.array(columns[name], type=kind) for name, kind in OUTPUT_SCHEMA})


def _shrink(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Hierarchical pooling per (rule template, horizon, state variable) stratum."""
    size = columns["mean_bps"].size
    out = {name: np.full(size, np.nan) for name in ("shrunken_mean_bps", "shrunken_se_bps", "shrunken_p_value",
                                                    "shrinkage_weight_cell", "shrinkage_weight_state",
                                                    "shrinkage_weight_event", "shrinkage_weight_family")}
    strata = np.rec.fromarrays([columns["rule_template"], columns["horizon_bars"], columns["state_name"]])
    unique, codes = np.unique(strata, return_inverse=True)
    codes = codes.reshape(-1)
    for code in range(unique.size):
        rows = np.flatnonzero(codes == code)
        variance = columns["hac_se_bps"][rows] ** 2
        effect = columns["mean_bps"][rows]
        usable = np.isfinite(effect) & np.isfinite(variance)
        if usable.sum() < 2:
            continue
        pool = hierarchical_pool(effect, variance, [columns["family"][rows], columns["event_type"][rows],
                                                    columns["state_value"][rows]],
                                 level_names=["family", "event", "state"])
        cells = pool.cells
        posterior_mean = np.asarray(cells.post_mean, dtype=float)
        posterior_var = np.asarray(cells.post_var, dtype=float)
        out["shrunken_mean_bps"][rows] = posterior_mean
        out["shrunken_se_bps"][rows] = np.sqrt(posterior_var)
        n = columns["n"][rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            t = posterior_mean / np.sqrt(posterior_var)
        p = np.full(rows.size, np.nan)
        ok = np.isfinite(t) & (n >= 2)
        p[ok] = stats.t.sf(t[ok], n[ok] - 1)
        out["shrunken_p_value"][rows] = p
        out["shrinkage_weight_cell"][rows] = np.asarray(cells.weight, dtype=float)
        for level_index, name in enumerate(("family", "event", "state")):
            level = pool.levels[level_index]
            out[f"shrinkage_weight_{name}"][rows] = level.per_cell(np.asarray(level.weight, dtype=float))
    return out


OUTPUT_SCHEMA: tuple[tuple[str, pa.DataType], ...] = (
    ("event_type", pa.string()), ("family", pa.string()), ("symbol", pa.string()), ("horizon_bars", pa.int64()),
    ("rule_template", pa.string()), ("template_verb", pa.string()), ("side", pa.string()),
    ("state_name", pa.string()), ("state_value", pa.string()),
    ("n_events_in_cell", pa.int64()), ("n_excluded_gap", pa.int64()), ("n_excluded_funding_unknown", pa.int64()),
    ("n_excluded_cost_unknown", pa.int64()), ("n_excluded_no_direction", pa.int64()),
    ("n", pa.int64()), ("n_deoverlapped", pa.int64()),
    ("mean_bps", pa.float64()), ("median_bps", pa.float64()), ("std_bps", pa.float64()), ("hit_rate", pa.float64()),
    ("hac_se_bps", pa.float64()), ("t_stat", pa.float64()), ("p_value", pa.float64()),
    ("p_value_two_sided", pa.float64()),
    ("mean_conservative_bps", pa.float64()), ("mean_first_half_bps", pa.float64()),
    ("mean_second_half_bps", pa.float64()),
    ("shrunken_mean_bps", pa.float64()), ("shrunken_se_bps", pa.float64()), ("shrunken_p_value", pa.float64()),
    ("shrinkage_weight_cell", pa.float64()), ("shrinkage_weight_state", pa.float64()),
    ("shrinkage_weight_event", pa.float64()), ("shrinkage_weight_family", pa.float64()),
)
