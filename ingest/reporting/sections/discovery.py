"""Discovery: how many hypotheses were planned, tested, discovered and promoted
(fct_phase2_run_summary), the p-value histogram, the q-value volcano and the shrinkage of the
after-cost estimates (fct_phase2_results).

Why: a p-value histogram flat except near zero is what real effects among many nulls look like;
a volcano shows whether the discoveries are large effects or tiny ones with many events; the
shrinkage plot shows how much of each raw estimate the hierarchy believes."""

from __future__ import annotations

import math
from typing import Any

from ingest.reporting import charts
from ingest.reporting import formatting as fmt
from ingest.reporting.document import OK, Block, KeyValues, Paragraph, Plot, Section, Table, unavailable
from ingest.reporting.warehouse import Warehouse, iso

KEY, TITLE = "discovery", "Discovery (phase 2)"
MAX_BACKGROUND_POINTS = 6000
"""Scatter points of non-discoveries drawn at most (every k-th kept); discoveries are all drawn."""
GREY = "#9a9a9a"


def build(warehouse: Warehouse) -> Section:
    """The discovery section; says so when fct_phase2_results is missing or empty."""
    status = warehouse.status("fct_phase2_results")
    if status != OK:
        return unavailable(KEY, TITLE, "fct_phase2_results", status,
                           "Phase 2 tested nothing (see fct_phase2_candidates for why)." if status == "empty" else "")
    summary = _run_summary(warehouse)
    results = warehouse.rows("""
        select candidate_id, event_type, family, symbol, horizon_bars, rule_template, state_name, state_value,
               n, mean_bps, shrunken_mean_bps, t_stat, p_value, q_bh, q_threshold, is_discovery, promotion_track
        from fct_phase2_results""")
    tested = len(results)
    discoveries = sum(1 for r in results if r["is_discovery"])
    promoted = sum(1 for r in results if r["promotion_track"] is not None)
    q_threshold = next((r["q_threshold"] for r in results if r["q_threshold"] is not None), None)
    blueprints = _count(warehouse, "dim_blueprints")
    bridge_passed = _count(warehouse, "fct_bridge_evaluation", "bridge_passed")
    blocks: list[Block] = [_summary_block(summary, tested, discoveries, promoted, q_threshold)]
    counts = [("planned", summary.get("hypotheses_planned")), ("tested", tested),
              ("discovered", discoveries), ("promoted", promoted),
              ("bridge passed", bridge_passed), ("blueprints", blueprints)]
    shown = [(label, value) for label, value in counts if value is not None]
    blocks.append(Plot("discovery-counts", charts.bar_chart(
        [label for label, _ in shown], [charts.BarSeries("hypotheses", [value for _, value in shown])],
        value_label="hypotheses (log scale)", title="From plan to blueprint", value_format=lambda v: f"{v:,.0f}",
        show_values=True, log_scale=True),
        "Hypotheses at each stage: planned (fct_phase2_candidates), tested (with after-cost statistics), "
        "discovered (BH-FDR with family selection), promoted to the bridge (a promotion track), passing the "
        "holdout bridge, and blueprints. Logarithmic axis; a stage with none has no bar."))
    p_values = [r["p_value"] for r in results]
    with_p = [p for p in p_values if p is not None]
    bins = 20
    blocks.append(Plot("p-value-histogram", charts.histogram(
        with_p, x_label="one-sided p-value (after-cost mean > 0)", bins=bins, domain=(0.0, 1.0),
        y_guides=[charts.Guide(len(with_p) / bins, "uniform")] if with_p else (), title="p-value histogram"),
        f"One-sided p-values of the {fmt.count(len(with_p))} tested hypotheses with a p-value, in {bins} bins; the "
        "dashed line is the count every bin would hold if every hypothesis were null."))
    groups, thinned = _groups(results, lambda r: r["mean_bps"], lambda r: _neg_log10(r["q_bh"]))
    guides = [charts.Guide(-math.log10(q_threshold), f"q = {fmt.num(q_threshold)}")] if q_threshold else []
    blocks.append(Plot("q-value-volcano", charts.scatter(
        groups, x_label="mean after-cost return (bps)", y_label="-log10 q (BH)", title="q-value volcano",
        x_guides=[charts.Guide(0.0)], y_guides=guides),
        "Effect (mean after-cost return per trade, bps) against -log10 of the BH q-value; the dashed line is the "
        "effective q threshold." + _thinned_note(thinned)))
    groups, thinned = _groups(results, lambda r: r["mean_bps"], lambda r: r["shrunken_mean_bps"])
    blocks.append(Plot("shrinkage", charts.scatter(
        groups, x_label="raw mean after-cost return (bps)", y_label="shrunken mean (bps)", title="Shrinkage",
        diagonal=True),
        "Raw cell estimates against their hierarchical (cell, state, event, family) shrunken estimates; the dashed "
        "diagonal is no shrinkage, points near the horizontal axis are pulled to the family mean."
        + _thinned_note(thinned)))
    top = sorted((r for r in results if r["is_discovery"]), key=lambda r: (r["q_bh"], -(r["t_stat"] or 0)))[:10]
    if top:
        blocks.append(Table(
            columns=("event", "symbol", "horizon", "template", "state", "n", "mean", "shrunken", "t", "q (BH)", "track"),
            rows=[(r["event_type"], r["symbol"], fmt.count(r["horizon_bars"]), r["rule_template"],
                   f"{r['state_name']}={r['state_value']}", fmt.count(r["n"]), fmt.bps(r["mean_bps"]),
                   fmt.bps(r["shrunken_mean_bps"]), fmt.fixed(r["t_stat"]), fmt.num(r["q_bh"]),
                   r["promotion_track"] or "-") for r in top],
            caption="The ten discoveries with the smallest q-values.",
            numeric=(False, False, True, False, False, True, True, True, True, True, False)))
    facts: dict[str, Any] = {
        "status": OK,
        "hypotheses_planned": summary.get("hypotheses_planned"),
        "hypotheses_tested": tested,
        "hypotheses_with_p_value": len(with_p),
        "discoveries": discoveries,
        "promoted": promoted,
        "bridge_passed": bridge_passed,
        "blueprints": blueprints,
        "q_threshold": q_threshold,
        "run_summary": {k: iso(v) for k, v in summary.items()},
    }
    return Section(KEY, TITLE, tuple(blocks), OK, facts)


def _run_summary(warehouse: Warehouse) -> dict[str, Any]:
    if warehouse.status("fct_phase2_run_summary") != OK:
        return {}
    return warehouse.one("select * from fct_phase2_run_summary order by window_end desc nulls last limit 1") or {}


def _count(warehouse: Warehouse, table: str, flag: str | None = None) -> int | None:
    if not warehouse.has(table):
        return None
    where = f"where {flag}" if flag else ""
    row = warehouse.one(f"select count(*) as n from {table} {where}")
    return int(row["n"]) if row else 0


def _summary_block(summary: dict[str, Any], tested: int, discoveries: int, promoted: int,
                   q_threshold: float | None) -> Block:
    if not summary:
        return Paragraph(f"{fmt.count(tested)} hypotheses tested, {fmt.count(discoveries)} discoveries, "
                         f"{fmt.count(promoted)} promoted (no fct_phase2_run_summary row).")
    return KeyValues([
        ("phase 2 run", fmt.short_id(summary.get("phase2_run_id"), 16)),
        ("window", f"{fmt.when(summary.get('discovery_start'))} to {fmt.when(summary.get('discovery_end'))} (discovery)"),
        ("hypotheses planned", fmt.count(summary.get("hypotheses_planned"))),
        ("tested", fmt.count(summary.get("hypotheses_tested"))),
        ("not evaluable / too few events / over budget",
         f"{fmt.count(summary.get('hypotheses_not_evaluable'))} / {fmt.count(summary.get('hypotheses_too_few_events'))}"
         f" / {fmt.count(summary.get('hypotheses_over_budget'))}"),
        ("discoveries (BH-FDR)", f"{fmt.count(summary.get('discoveries_statistical'))} (effective q threshold "
                                 f"{fmt.num(q_threshold)})"),
        ("promoted (standard + fallback only)",
         f"{fmt.count(summary.get('survivors_phase2'))} ({fmt.count(summary.get('survivors_standard'))} + "
         f"{fmt.count(summary.get('survivors_fallback_only'))})"),
        ("expected false discoveries / estimated FDR",
         f"{fmt.fixed(summary.get('expected_false_discoveries'), 2)} / {fmt.pct(summary.get('estimated_fdr'), 2)}"),
        ("BH families selected", f"{fmt.count(summary.get('bh_families_selected'))} of {fmt.count(summary.get('bh_families'))}"),
    ])


def _neg_log10(q: float | None) -> float | None:
    if q is None:
        return None
    return -math.log10(max(q, 1e-300))


def _groups(results: list[dict[str, Any]], x: Any, y: Any) -> tuple[list[charts.PointGroup], int]:
    """Not discovered (grey, thinned when there are many), discovered, promoted; and how many were left out."""
    background = [r for r in results if not r["is_discovery"]]
    step = max(1, math.ceil(len(background) / MAX_BACKGROUND_POINTS))
    kept = background[::step]
    discovered = [r for r in results if r["is_discovery"] and r["promotion_track"] is None]
    promoted = [r for r in results if r["promotion_track"] is not None]
    groups = [charts.PointGroup(f"not discovered ({len(background):,})", [x(r) for r in kept], [y(r) for r in kept],
                                color=GREY, radius=2.0, opacity=0.35)]
    for name, rows, colour in ((f"discovered, not promoted ({len(discovered):,})", discovered, charts.PALETTE[0]),
                               (f"promoted ({len(promoted):,})", promoted, charts.PALETTE[3])):
        if rows:
            titles = [f"{r['event_type']} {r['symbol']} h={r['horizon_bars']} {r['rule_template']} "
                      f"{r['state_name']}={r['state_value']}" for r in rows] if len(rows) <= 400 else None
            groups.append(charts.PointGroup(name, [x(r) for r in rows], [y(r) for r in rows], color=colour,
                                            radius=2.8, opacity=0.8, titles=titles))
    return groups, len(background) - len(kept)


def _thinned_note(thinned: int) -> str:
    return f" {thinned:,} of the non-discoveries are not drawn (every k-th is kept)." if thinned else ""
