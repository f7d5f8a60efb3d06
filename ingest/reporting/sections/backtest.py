"""Backtest: equity curves and drawdowns (fct_backtest_pnl), performance with PSR and DSR per strategy
(fct_backtest_summary), the probability of backtest overfitting (fct_backtest_overfitting) and the
walk-forward out-of-sample results (fct_walkforward).

Why: a blueprint is a claim about trades; the backtest shows them as a book with costs, funding,
caps and kill switches, and the walk-forward shows what selecting on the past did next."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from ingest.reporting import charts
from ingest.reporting import formatting as fmt
from ingest.reporting.document import OK, Block, KeyValues, Paragraph, Plot, Section, Table, unavailable
from ingest.reporting.warehouse import Warehouse, iso

KEY, TITLE = "backtest", "Backtest, walk-forward and overfitting"
MAX_POINTS_PER_CURVE = 300
"""Equity and drawdown curves are bucketed to at most about this many points each (the last value of a
bucket for equity, the deepest for drawdown), so the page stays small."""


def build(warehouse: Warehouse) -> Section:
    """The backtest section; says so when fct_backtest_pnl is missing or empty (walk-forward and
    overfitting are still shown when they exist)."""
    status = warehouse.status("fct_backtest_pnl")
    blocks: list[Block] = []
    facts: dict[str, Any] = {"status": status}
    if status == OK:
        bucket = _bucket_seconds(warehouse)
        blocks.extend(_summary(warehouse, facts))
        blocks.extend(_equity(warehouse, bucket))
        blocks.extend(_drawdown(warehouse, bucket, facts))
    else:
        blocks.extend(unavailable(KEY, TITLE, "fct_backtest_pnl", status).blocks)
    blocks.extend(_overfitting(warehouse, facts))
    blocks.extend(_walkforward(warehouse, facts))
    if status != OK and not any(isinstance(b, Plot) for b in blocks):
        return unavailable(KEY, TITLE, "fct_backtest_pnl", status)
    return Section(KEY, TITLE, tuple(blocks), OK if status == OK else status, facts)


def _bucket_seconds(warehouse: Warehouse) -> int:
    span = warehouse.one("select epoch(max(ts)) - epoch(min(ts)) as seconds from fct_backtest_pnl") or {}
    seconds = float(span.get("seconds") or 0)
    return max(300, int(math.ceil(seconds / MAX_POINTS_PER_CURVE / 300.0)) * 300)


def _summary(warehouse: Warehouse, facts: dict[str, Any]) -> list[Block]:
    if warehouse.status("fct_backtest_summary") != OK:
        return [Paragraph("fct_backtest_summary is missing or empty: no performance statistics.")]
    rows = warehouse.rows("""
        select level, strategy_id, symbol, n_bars, total_return, annualised_return, annualised_volatility,
               sharpe_ratio, sortino_ratio, max_drawdown, max_drawdown_duration_bars, n_trades, hit_rate,
               cost_share_of_gross, funding_share_of_gross, psr, dsr, n_trials
        from fct_backtest_summary order by level, strategy_id, symbol""")
    portfolio = next((r for r in rows if r["level"] == "portfolio"), None)
    strategies = [r for r in rows if r["level"] == "strategy"]
    blocks: list[Block] = []
    if portfolio:
        facts["portfolio"] = portfolio
        blocks.append(KeyValues([
            ("portfolio total return (of capital)", fmt.pct(portfolio["total_return"], 2)),
            ("annualised return / volatility", f"{fmt.pct(portfolio['annualised_return'])} / "
                                               f"{fmt.pct(portfolio['annualised_volatility'])}"),
            ("Sharpe / Sortino (annualised)", f"{fmt.fixed(portfolio['sharpe_ratio'])} / {fmt.fixed(portfolio['sortino_ratio'])}"),
            ("maximum drawdown", f"{fmt.pct(portfolio['max_drawdown'], 2)} (longest {fmt.count(portfolio['max_drawdown_duration_bars'])} bars)"),
            ("trades / hit rate", f"{fmt.count(portfolio['n_trades'])} / {fmt.pct(portfolio['hit_rate'])}"),
            ("costs / funding as share of gross", f"{fmt.pct(portfolio['cost_share_of_gross'])} / "
                                                  f"{fmt.pct(portfolio['funding_share_of_gross'])}"),
            ("PSR / DSR", f"{fmt.num(portfolio['psr'])} / {fmt.num(portfolio['dsr'])} ({fmt.count(portfolio['n_trials'])} trials)"),
        ]))
    facts["strategies"] = len(strategies)
    if strategies:
        labels = [_strategy_label(r["strategy_id"]) for r in strategies]
        blocks.append(Plot("psr-dsr", charts.bar_chart(
            labels, [charts.BarSeries("PSR", [r["psr"] for r in strategies]),
                     charts.BarSeries("DSR", [r["dsr"] for r in strategies])],
            value_label="probability", horizontal=True, title="PSR and DSR per strategy",
            value_guides=[charts.Guide(0.95, "0.95")], value_format=lambda v: f"{v:.2f}", show_values=False,
            width=charts.WIDE_WIDTH),
            "Probabilistic Sharpe ratio of each strategy's per-bar net PnL (against 0) and deflated Sharpe ratio of its "
            f"per-trade net returns (against the expected maximum of the run's {fmt.count(strategies[0]['n_trials'])} "
            "trials, measured per trade like the phase 2 hypotheses) "
            f"(fct_backtest_summary); {sum(1 for r in strategies if (r['psr'] or 0) >= 0.95)} of {len(strategies)} "
            f"strategies have a PSR of at least 0.95, {sum(1 for r in strategies if (r['dsr'] or 0) >= 0.95)} a DSR "
            "of at least 0.95.", wide=True))
        blocks.append(Table(
            columns=("strategy", "total return", "Sharpe", "max drawdown", "trades", "hit rate", "PSR", "DSR"),
            rows=[(label, fmt.pct(r["total_return"], 2), fmt.fixed(r["sharpe_ratio"]), fmt.pct(r["max_drawdown"], 2),
                   fmt.count(r["n_trades"]), fmt.pct(r["hit_rate"]), fmt.num(r["psr"]), fmt.num(r["dsr"]))
                  for label, r in zip(labels, strategies)],
            numeric=(False, True, True, True, True, True, True, True)))
    return blocks


def _strategy_label(strategy_id: str | None) -> str:
    """'blueprint:<32 hex>:BNBUSDT' -> 'blueprint:0e35a9:BNBUSDT' (spec strategies keep their name)."""
    if not strategy_id:
        return "n/a"
    parts = strategy_id.split(":")
    if len(parts) == 3 and parts[0] == "blueprint":
        return f"blueprint:{parts[1][:6]}:{parts[2]}"
    return strategy_id


def _equity(warehouse: Warehouse, bucket: int) -> list[Block]:
    rows = warehouse.rows(f"""
        with
        buckets as (
            select distinct cast(epoch(ts) // {bucket} as bigint) as bucket from fct_backtest_pnl where level = 'portfolio'
        ),
        per_bucket as (
            select
                case level when 'portfolio' then 'portfolio' when 'symbol' then symbol else strategy_id end as series,
                level,
                cast(epoch(ts) // {bucket} as bigint) as bucket,
                sum(coalesce(net, 0)) as net
            from fct_backtest_pnl
            group by all
        ),
        grid as (
            select names.series, names.level, buckets.bucket
            from (select distinct series, level from per_bucket) as names cross join buckets
        )
        select grid.series, grid.level, grid.bucket * {bucket} as seconds,
               sum(coalesce(per_bucket.net, 0)) over (
                   partition by grid.series, grid.level order by grid.bucket
                   rows between unbounded preceding and current row) as cumulative_net
        from grid left join per_bucket using (series, level, bucket)
        order by grid.level, grid.series, grid.bucket""")
    curves: dict[tuple[str, str], tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for row in rows:
        xs, ys = curves[(row["level"], row["series"])]
        xs.append(row["seconds"] + bucket)
        ys.append(100 * row["cumulative_net"])
    blocks: list[Block] = []
    book = [charts.Series("portfolio", *curves[("portfolio", "portfolio")], color="#000000", width=2.4)] \
        if ("portfolio", "portfolio") in curves else []
    book += [charts.Series(series, xs, ys, color=charts.color(i), width=1.4)
             for i, ((level, series), (xs, ys)) in enumerate(sorted((k, v) for k, v in curves.items() if k[0] == "symbol"))]
    if book:
        blocks.append(Plot("equity-portfolio", charts.line_chart(
            book, x_label="time (UTC)", y_label="cumulative net (% of capital)", title="Equity: portfolio and symbols",
            time_axis=True, width=charts.WIDE_WIDTH), "Cumulative net PnL (after fees, spread, impact and funding) of the portfolio "
                                        "and of each symbol's netted book, as a share of capital.", wide=True))
    strategies = sorted((k, v) for k, v in curves.items() if k[0] == "strategy")
    if strategies:
        blocks.append(Plot("equity-strategies", charts.line_chart(
            [charts.Series(_strategy_label(series), xs, ys, width=1.3) for (_, series), (xs, ys) in strategies],
            x_label="time (UTC)", y_label="cumulative net (% of capital)", title="Equity per strategy",
            time_axis=True, width=charts.WIDE_WIDTH), "Cumulative net PnL of each strategy standalone (its own trades and costs).",
            wide=True))
    return blocks


def _drawdown(warehouse: Warehouse, bucket: int, facts: dict[str, Any]) -> list[Block]:
    rows = warehouse.rows(f"""
        with equity as (
            select ts, 1 + sum(coalesce(net, 0)) over (order by ts rows between unbounded preceding and current row) as equity
            from fct_backtest_pnl where level = 'portfolio'
        ),
        drawdown as (
            select ts, equity / max(equity) over (order by ts rows between unbounded preceding and current row) - 1 as drawdown
            from equity
        )
        select cast(epoch(ts) // {bucket} as bigint) * {bucket} as seconds, min(drawdown) as drawdown
        from drawdown group by all order by seconds""")
    if not rows:
        return []
    deepest = min(r["drawdown"] for r in rows)
    facts["portfolio_drawdown_deepest"] = -deepest
    svg = charts.area_chart([r["seconds"] for r in rows], [100 * r["drawdown"] for r in rows], x_label="time (UTC)",
                            y_label="drawdown (%)", title="Portfolio drawdown", time_axis=True,
                            width=charts.WIDE_WIDTH)
    return [Plot("drawdown-portfolio", svg,
                 f"Portfolio drawdown: equity (1 + cumulative net) below its running peak, the deepest point of each "
                 f"{bucket // 60}-minute bucket; deepest {fmt.pct(-deepest, 2)}.", wide=True)]


def _overfitting(warehouse: Warehouse, facts: dict[str, Any]) -> list[Block]:
    status = warehouse.status("fct_backtest_overfitting")
    if status != OK:
        facts["overfitting"] = {"status": status}
        return [Paragraph("The probability of backtest overfitting (fct_backtest_overfitting) is "
                          + ("not in the warehouse." if status == "missing" else "empty."))]
    row = warehouse.one("select * from fct_backtest_overfitting") or {}
    facts["overfitting"] = {"status": OK, **row}
    return [Paragraph("Probability of backtest overfitting (CSCV over the blueprints, fct_backtest_overfitting):"),
            KeyValues([
                ("PBO", fmt.num(row.get("pbo"))),
                ("strategies / blocks / combinations", f"{fmt.count(row.get('n_strategies'))} / "
                                                       f"{fmt.count(row.get('n_blocks'))} / {fmt.count(row.get('n_combinations'))}"),
                ("probability of an out-of-sample loss", fmt.num(row.get("prob_oos_loss"))),
                ("degradation slope (OOS on IS Sharpe)", fmt.num(row.get("degradation_slope"))),
                ("median logit", fmt.num(row.get("median_logit"))),
                ("status", str(row.get("status"))),
            ])]


def _walkforward(warehouse: Warehouse, facts: dict[str, Any]) -> list[Block]:
    status = warehouse.status("fct_walkforward")
    if status != OK:
        facts["walkforward"] = {"status": status}
        return [Paragraph("The walk-forward table fct_walkforward is "
                          + ("not in the warehouse." if status == "missing" else "empty."))]
    rows = warehouse.rows("""
        select scheme, split_index, train_start, train_end, test_start, test_end, trainable, n_tested, n_selected,
               is_mean_bps, oos_n_trades, oos_mean_bps, oos_hit_rate, share_selected_positive_oos, oos_minus_is_bps
        from fct_walkforward order by scheme, split_index""")
    categories = [f"{r['scheme']} {r['split_index']}" for r in rows]
    svg = charts.bar_chart(categories, [charts.BarSeries("in-sample mean", [r["is_mean_bps"] for r in rows], color="#9ab8d8"),
                                        charts.BarSeries("out-of-sample mean", [r["oos_mean_bps"] for r in rows],
                                                         color=charts.PALETTE[0])],
                           value_label="mean after cost (bps)", category_label="scheme and split",
                           title="Walk-forward: in-sample against out-of-sample", value_format=lambda v: f"{v:.1f}",
                           width=charts.WIDE_WIDTH)
    trades = sum(r["oos_n_trades"] or 0 for r in rows)
    facts["walkforward"] = {"status": OK, "splits": len(rows), "oos_trades": trades,
                            "splits_detail": [{k: iso(v) for k, v in r.items()} for r in rows]}
    return [Plot("walkforward-oos", svg,
                 "Mean after-cost return per trade of the hypotheses selected on each training window (in-sample) "
                 "and of their trades in the next window (out-of-sample), per scheme and split (fct_walkforward).",
                 wide=True),
            Table(columns=("scheme", "split", "test window", "tested", "selected", "OOS trades", "OOS mean", "OOS hit rate",
                           "selected positive OOS"),
                  rows=[(r["scheme"], fmt.count(r["split_index"]), f"{fmt.when(r['test_start'])} to {fmt.when(r['test_end'])}",
                         fmt.count(r["n_tested"]), fmt.count(r["n_selected"]), fmt.count(r["oos_n_trades"]),
                         fmt.bps(r["oos_mean_bps"]), fmt.pct(r["oos_hit_rate"]), fmt.pct(r["share_selected_positive_oos"]))
                        for r in rows],
                  numeric=(False, True, False, True, True, True, True, True, True))]
