"""Blueprints: the promoted candidates re-measured on the holdout (fct_bridge_evaluation), their
cost stress (fct_bridge_cost_stress) and the blueprints that passed (dim_blueprints).

Why: the discovery window chose these candidates, so only the holdout can say whether they hold;
the cost stress says how much execution slippage each one survives."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

from ingest.reporting import charts
from ingest.reporting import formatting as fmt
from ingest.reporting.document import OK, Block, KeyValues, Paragraph, Plot, Section, Table, unavailable
from ingest.reporting.warehouse import Warehouse, iso

KEY, TITLE = "blueprints", "Blueprints: holdout and cost stress"
TOP_BLUEPRINTS = 10
"""Blueprints listed in summary.json and drawn in the cost-stress lines (by holdout t-statistic)."""
BLUEPRINT_COLUMNS = """
    blueprint_id, candidate_id, event_type, family, symbol_scope, side, rule_template, entry_lag_bars,
    exit_horizon_bars, state_name, state_value, discovery_n, discovery_mean_bps, discovery_t_stat, q_value_bh,
    shrunken_mean_bps, holdout_n, holdout_mean_bps, holdout_median_bps, holdout_hit_rate, holdout_t_stat,
    holdout_p_value, holdout_sharpe_per_trade, deflated_sharpe_ratio, n_trials, max_stress_multiplier_passed,
    promotion_track, phase2_run_id"""


def blueprint_label(row: dict[str, Any]) -> str:
    """A short readable name: event, symbols, horizon, state condition and the id's first characters."""
    symbols = ",".join(row.get("symbol_scope") or [])
    state = "" if row.get("state_name") in (None, "all") else f" {row['state_name']}={row['state_value']}"
    return f"{row['event_type']} {symbols} h{row['exit_horizon_bars']}{state} [{str(row['blueprint_id'])[:6]}]"


def build(warehouse: Warehouse) -> Section:
    """The bridge and blueprint section; says so when fct_bridge_evaluation is missing or empty."""
    status = warehouse.status("fct_bridge_evaluation")
    if status != OK:
        return unavailable(KEY, TITLE, "fct_bridge_evaluation", status,
                           "No candidate was promoted to the bridge." if status == "empty" else "")
    evaluated = warehouse.rows("""
        select candidate_id, event_type, symbol, horizon_bars, discovery_mean_bps, holdout_n, holdout_mean_bps,
               deflated_sharpe_ratio, bridge_passed, bridge_reason
        from fct_bridge_evaluation""")
    passed = sum(1 for r in evaluated if r["bridge_passed"])
    blueprints = _blueprints(warehouse)
    reasons = Counter(_reason_kind(r["bridge_reason"]) for r in evaluated if not r["bridge_passed"])
    blocks: list[Block] = [KeyValues([
        ("candidates evaluated on the holdout", fmt.count(len(evaluated))),
        ("passed the bridge", fmt.count(passed)),
        ("blueprints (dim_blueprints)", fmt.count(len(blueprints)) if blueprints is not None else "table missing"),
    ])]
    if reasons:
        blocks.append(Table(columns=("why candidates failed", "candidates"),
                            rows=[(kind, fmt.count(n)) for kind, n in reasons.most_common()],
                            numeric=(False, True)))
    groups = [charts.PointGroup(name, [r["discovery_mean_bps"] for r in rows], [r["holdout_mean_bps"] for r in rows],
                                color=colour, radius=3.2, opacity=0.75,
                                titles=[f"{r['event_type']} {r['symbol']} h={r['horizon_bars']}: {r['bridge_reason']}"
                                        for r in rows])
              for name, rows, colour in (("failed", [r for r in evaluated if not r["bridge_passed"]], "#9a9a9a"),
                                         ("passed", [r for r in evaluated if r["bridge_passed"]], charts.PALETTE[2]))
              if rows]
    blocks.append(Plot("holdout-vs-discovery", charts.scatter(
        groups, x_label="discovery mean after cost (bps)", y_label="holdout mean after cost (bps)",
        title="Holdout against discovery", diagonal=True, y_guides=[charts.Guide(0.0)]),
        "Each promoted candidate's mean after-cost return per trade on the discovery window against the holdout "
        "(configured cost). On the dashed diagonal the holdout repeats discovery; below zero it lost money."))
    blocks.extend(_cost_stress(warehouse, blueprints or []))
    if blueprints:
        ordered = sorted(blueprints, key=lambda r: -(r["holdout_t_stat"] or float("-inf")))
        blocks.append(Table(
            columns=("blueprint", "side", "template", "disc. mean", "q (BH)", "holdout n", "holdout mean", "hit rate",
                     "t", "DSR", "max cost x"),
            rows=[(blueprint_label(r), r["side"], r["rule_template"], fmt.bps(r["discovery_mean_bps"]), fmt.num(r["q_value_bh"]),
                   fmt.count(r["holdout_n"]), fmt.bps(r["holdout_mean_bps"]), fmt.pct(r["holdout_hit_rate"]),
                   fmt.fixed(r["holdout_t_stat"]), fmt.fixed(r["deflated_sharpe_ratio"], 3),
                   fmt.fixed(r["max_stress_multiplier_passed"], 1)) for r in ordered],
            caption="Blueprints (dim_blueprints) by holdout t-statistic; DSR is the deflated Sharpe ratio of the holdout "
                    "trades against the run's number of trials; max cost x is the highest cost multiplier passed.",
            numeric=(False, False, False, True, True, True, True, True, True, True, True)))
    elif blueprints is not None:
        blocks.append(Paragraph("No candidate passed the bridge: dim_blueprints has no rows."))
    facts: dict[str, Any] = {
        "status": OK,
        "candidates_evaluated": len(evaluated),
        "bridge_passed": passed,
        "blueprints": len(blueprints) if blueprints is not None else None,
        "failure_reasons": dict(reasons),
        "top_blueprints_ordered_by": "holdout_t_stat",
        "top_blueprints": [_blueprint_fact(warehouse, r) for r in
                           sorted(blueprints or [], key=lambda r: -(r["holdout_t_stat"] or float("-inf")))[:TOP_BLUEPRINTS]],
    }
    return Section(KEY, TITLE, tuple(blocks), OK, facts)


def _blueprints(warehouse: Warehouse) -> list[dict[str, Any]] | None:
    if not warehouse.has("dim_blueprints"):
        return None
    return warehouse.rows(f"select {BLUEPRINT_COLUMNS} from dim_blueprints order by blueprint_id")


def _reason_kind(reason: str | None) -> str:
    """The reason without its numbers, so alike failures group: 'deflated Sharpe # < # (...)'."""
    if not reason:
        return "no reason given"
    kind = re.split(r"[:(]", reason, maxsplit=1)[0]
    kind = re.sub(r"(?<![x\w.])[-+]?\d+(\.\d+)?(e-?\d+)?", "#", kind).strip()
    return kind or reason


def _cost_stress(warehouse: Warehouse, blueprints: list[dict[str, Any]]) -> list[Block]:
    status = warehouse.status("fct_bridge_cost_stress")
    if status != OK:
        return [Paragraph("The cost stress table fct_bridge_cost_stress is "
                          + ("not in the warehouse." if status == "missing" else "empty."))]
    levels = warehouse.rows("""
        select cost_multiplier, count(*) as candidates, count(*) filter (where stress_passed) as passed,
               median(holdout_mean_bps) as median_mean_bps
        from fct_bridge_cost_stress group by cost_multiplier order by cost_multiplier""")
    blocks: list[Block] = [Plot("cost-stress-passing", charts.bar_chart(
        [f"x{fmt.num(r['cost_multiplier'], 2)}" for r in levels],
        [charts.BarSeries("passed", [r["passed"] for r in levels]),
         charts.BarSeries("failed", [r["candidates"] - r["passed"] for r in levels], color="#b0b0b0")],
        value_label="candidates", category_label="cost multiplier", title="Cost stress: candidates passing",
        value_format=lambda v: f"{v:,.0f}", show_values=True),
        "Promoted candidates passing and failing the holdout gate at each cost multiplier (1.0 = the configured "
        "cost of spec/costs.yaml; funding is not scaled).")]
    if blueprints:
        top = sorted(blueprints, key=lambda r: -(r["holdout_t_stat"] or float("-inf")))[:TOP_BLUEPRINTS]
        stress = warehouse.rows("""
            select candidate_id, cost_multiplier, holdout_mean_bps from fct_bridge_cost_stress
            where candidate_id in (select candidate_id from dim_blueprints) order by candidate_id, cost_multiplier""")
        by_candidate: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in stress:
            by_candidate[row["candidate_id"]].append(row)
        series = [charts.Series(blueprint_label(r), [s["cost_multiplier"] for s in by_candidate[r["candidate_id"]]],
                                [s["holdout_mean_bps"] for s in by_candidate[r["candidate_id"]]], width=1.4)
                  for r in top if by_candidate.get(r["candidate_id"])]
        if series:
            blocks.append(Plot("cost-stress-blueprints", charts.line_chart(
                series, x_label="cost multiplier", y_label="holdout mean after cost (bps)",
                title="Blueprints under cost stress", width=charts.WIDE_WIDTH),
                f"Holdout mean after-cost return per trade of the blueprints (top {len(series)} by holdout t) as the "
                "round-trip cost is multiplied.", wide=True))
    return blocks


def _blueprint_fact(warehouse: Warehouse, row: dict[str, Any]) -> dict[str, Any]:
    """One blueprint's key statistics for summary.json, with its backtest strategies when there are any."""
    fact = {key: iso(value) for key, value in row.items()}
    fact["label"] = blueprint_label(row)
    if warehouse.status("fct_backtest_summary") == OK and warehouse.has("fct_backtest_pnl"):
        fact["backtest"] = warehouse.rows("""
            select summary.strategy_id, summary.symbol, summary.total_return, summary.sharpe_ratio,
                   summary.max_drawdown, summary.n_trades, summary.hit_rate, summary.psr, summary.dsr
            from fct_backtest_summary as summary
            where summary.level = 'strategy' and summary.strategy_id in (
                select distinct strategy_id from fct_backtest_pnl where level = 'strategy' and blueprint_id = ?)
            order by summary.strategy_id""", [row["blueprint_id"]])
    return fact
