"""Alpha bundle: the books' performance (fct_alpha_bundle_summary), their equity (fct_alpha_bundle_pnl),
each signal's factor return before and after the orthogonalisation (fct_alpha_factor_returns) and
how correlated the signals are before and after it (fct_alpha_signal_correlations).

Why: the bundle's claim is that orthogonalised signals add up to a book that survives costs; the
researcher wants to see the correlations fall, each factor's own return and the book's turnover."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from ingest.reporting import charts
from ingest.reporting import formatting as fmt
from ingest.reporting.document import OK, Block, Paragraph, Plot, Section, Table, unavailable
from ingest.reporting.warehouse import Warehouse

KEY, TITLE = "alpha", "Alpha bundle"
MAX_POINTS_PER_CURVE = 300


def build(warehouse: Warehouse) -> Section:
    """The alpha section; says so when the bundle's summary is missing or empty."""
    status = warehouse.status("fct_alpha_bundle_summary")
    if status != OK:
        return unavailable(KEY, TITLE, "fct_alpha_bundle_summary", status,
                           "Declare signals in spec/alpha/ and run dbt build.")
    facts: dict[str, Any] = {"status": OK}
    blocks: list[Block] = [*_books(warehouse, facts), *_equity(warehouse), *_factor_returns(warehouse),
                           *_correlations(warehouse, facts)]
    return Section(KEY, TITLE, tuple(blocks), OK, facts)


def _books(warehouse: Warehouse, facts: dict[str, Any]) -> list[Block]:
    rows = warehouse.rows("""
        select variant, total_return, annualised_return, annualised_volatility, sharpe_ratio, max_drawdown,
               turnover_annualised, average_exposure, cost_share_of_gross, funding_share_of_gross, psr, dsr
        from fct_alpha_bundle_summary where level = 'portfolio' order by variant""")
    facts["books"] = rows
    return [Table(
        columns=("book", "total return", "annualised return", "volatility", "Sharpe", "max drawdown",
                 "turnover / year", "exposure", "costs / gross", "funding / gross", "PSR", "DSR"),
        rows=[(r["variant"], fmt.pct(r["total_return"], 2), fmt.pct(r["annualised_return"]),
               fmt.pct(r["annualised_volatility"]), fmt.fixed(r["sharpe_ratio"]), fmt.pct(r["max_drawdown"], 2),
               fmt.fixed(r["turnover_annualised"], 0), fmt.fixed(r["average_exposure"]),
               fmt.pct(r["cost_share_of_gross"]), fmt.pct(r["funding_share_of_gross"]), fmt.num(r["psr"]),
               fmt.num(r["dsr"])) for r in rows],
        caption="Each book's portfolio row over the backtest window (net of fees, spread, impact and funding); "
                "turnover is the annualised sum of |weight changes|.",
        numeric=(False, *([True] * 11)))]


def _bucket_seconds(warehouse: Warehouse) -> int:
    span = warehouse.one("select epoch(max(ts)) - epoch(min(ts)) as seconds from fct_alpha_bundle_pnl") or {}
    return max(300, int(math.ceil(float(span.get("seconds") or 0) / MAX_POINTS_PER_CURVE / 300.0)) * 300)


def _equity(warehouse: Warehouse) -> list[Block]:
    if warehouse.status("fct_alpha_bundle_pnl") != OK:
        return [Paragraph("fct_alpha_bundle_pnl is missing or empty: no equity curves.")]
    bucket = _bucket_seconds(warehouse)
    rows = warehouse.rows(f"""
        select variant, cast(epoch(ts) // {bucket} as bigint) * {bucket} + {bucket} as seconds,
               sum(sum(coalesce(net, 0))) over (partition by variant order by cast(epoch(ts) // {bucket} as bigint)
                                                rows between unbounded preceding and current row) as cumulative_net
        from fct_alpha_bundle_pnl where level = 'portfolio'
        group by variant, cast(epoch(ts) // {bucket} as bigint) order by variant, seconds""")
    curves: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for row in rows:
        curves[row["variant"]][0].append(row["seconds"])
        curves[row["variant"]][1].append(100 * row["cumulative_net"])
    if not curves:
        return []
    svg = charts.line_chart([charts.Series(name, xs, ys, color=charts.color(i), width=1.8)
                             for i, (name, (xs, ys)) in enumerate(sorted(curves.items()))],
                            x_label="time (UTC)", y_label="cumulative net (% of capital)",
                            title="Equity of the alpha books", time_axis=True, width=charts.WIDE_WIDTH)
    return [Plot("alpha-equity", svg, "Cumulative net PnL of each alpha book (portfolio level), as a share of capital.",
                 wide=True)]


def _factor_returns(warehouse: Warehouse) -> list[Block]:
    if warehouse.status("fct_alpha_factor_returns") != OK:
        return [Paragraph("fct_alpha_factor_returns is missing or empty: no factor returns.")]
    rows = warehouse.rows("""
        select signal_name, stage, last(cumulative_return order by ts) as cumulative_return
        from fct_alpha_factor_returns where in_backtest_window group by all order by signal_name, stage""")
    stages = sorted({r["stage"] for r in rows})
    names = sorted({r["signal_name"] for r in rows})
    value = {(r["signal_name"], r["stage"]): r["cumulative_return"] for r in rows}
    series = [charts.BarSeries(stage, [100 * value[(name, stage)] if value.get((name, stage)) is not None else None
                                       for name in names], color=charts.color(i)) for i, stage in enumerate(stages)]
    svg = charts.bar_chart(names, series, value_label="cumulative factor return (%)", horizontal=True,
                           title="Factor returns over the backtest window", value_format=lambda v: f"{v:.2f}",
                           width=charts.WIDE_WIDTH)
    return [Plot("alpha-factor-returns", svg,
                 "Cumulative return of each signal's factor portfolio over the backtest window, from the raw "
                 "scores and from the orthogonalised residuals (fct_alpha_factor_returns).", wide=True)]


def _mean_abs(values: list[Any]) -> float | None:
    known = [abs(v) for v in values if v is not None and math.isfinite(v)]
    return sum(known) / len(known) if known else None


def _correlations(warehouse: Warehouse, facts: dict[str, Any]) -> list[Block]:
    if warehouse.status("fct_alpha_signal_correlations") != OK:
        return [Paragraph("fct_alpha_signal_correlations is missing or empty: no correlations.")]
    rows = warehouse.rows("""
        select signal_a, signal_b, score_correlation_before, residual_correlation_after
        from fct_alpha_signal_correlations where signal_a < signal_b order by signal_a, signal_b""")
    before = _mean_abs([r["score_correlation_before"] for r in rows])
    after = _mean_abs([r["residual_correlation_after"] for r in rows])
    facts["mean_abs_correlation"] = {"before": before, "after": after}
    pairs = [f"{r['signal_a']} / {r['signal_b']}" for r in rows]
    grid = [[r["score_correlation_before"], r["residual_correlation_after"]] for r in rows]
    svg = charts.heatmap(pairs, ["scores (before)", "residuals (after)"], grid, x_label="", y_label="signal pair",
                         value_label="correlation", title="Signal correlations before and after orthogonalisation",
                         domain=(-1.0, 1.0), value_format=lambda v: f"{v:.2f}", row_height=16)
    return [Plot("alpha-correlations", svg,
                 f"Pooled correlation of each pair of signals' scores, and of their residuals after the "
                 f"orthogonalisation; mean |correlation| {fmt.num(before)} before, {fmt.num(after)} after.")]
