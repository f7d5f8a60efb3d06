"""summary.md: summary.json in readable Markdown (headline numbers, windows, the blueprints as a
table, the sections and the files), for a terminal, a pull request or a chat message.

Why from the summary and not the warehouse: both files must say the same thing, so the Markdown is
written from the very dict that becomes summary.json."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ingest.reporting import formatting as fmt

HEADLINE_LABELS: tuple[tuple[str, str, Any], ...] = (
    ("symbols", "symbols", fmt.count),
    ("bars", "five-minute bars", fmt.count),
    ("gap_share", "gap share", lambda v: fmt.pct(v, 2)),
    ("first_bar", "first bar (UTC)", str),
    ("last_bar", "last bar (UTC)", str),
    ("archives_ingested", "archives ingested", fmt.count),
    ("events", "events", fmt.count),
    ("event_types_fired", "event types that fired", fmt.count),
    ("hypotheses_tested", "hypotheses tested", fmt.count),
    ("discoveries", "discoveries (BH-FDR)", fmt.count),
    ("promoted", "promoted to the bridge", fmt.count),
    ("bridge_passed", "passed the holdout bridge", fmt.count),
    ("blueprints", "blueprints", fmt.count),
    ("portfolio_total_return", "backtest portfolio total return", lambda v: fmt.pct(v, 2)),
    ("portfolio_sharpe_ratio", "backtest portfolio Sharpe (annualised)", fmt.fixed),
    ("portfolio_max_drawdown", "backtest portfolio maximum drawdown", lambda v: fmt.pct(v, 2)),
    ("portfolio_dsr", "backtest portfolio DSR", fmt.num),
    ("pbo", "probability of backtest overfitting", fmt.num),
    ("walkforward_oos_trades", "walk-forward out-of-sample trades", fmt.count),
)


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(c) for c in columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)
    return lines


def _backtest_return(blueprint: Mapping[str, Any]) -> str:
    strategies = blueprint.get("backtest") or []
    returns = [s.get("total_return") for s in strategies if s.get("total_return") is not None]
    return fmt.pct(sum(returns), 2) if returns else "n/a"


def render_markdown(summary: Mapping[str, Any]) -> str:
    """The Markdown text of `summary` (the summary.json dict)."""
    lines = [f"# Run report {summary['run_id']}", "",
             f"Generated {summary['generated_at']} from `{summary['warehouse']}` (read-only); every number is read "
             "from the warehouse. Plots: `report.html`.", "", "## Headline", ""]
    head = summary.get("headline") or {}
    rows = [(label, render(head[key]) if head.get(key) is not None else "n/a") for key, label, render in HEADLINE_LABELS]
    lines += _table(("measure", "value"), rows)
    windows = summary.get("windows") or {}
    if windows.get("discovery_start"):
        lines += ["", "## Evaluation windows (UTC, half-open)", ""]
        lines += _table(("window", "from", "to"), [
            ("data", windows.get("data_start"), windows.get("data_end")),
            ("discovery", windows.get("discovery_start"), windows.get("discovery_end")),
            ("embargo", windows.get("discovery_end"), windows.get("holdout_start")),
            ("holdout", windows.get("holdout_start"), windows.get("holdout_end")),
        ])
    blueprints = summary.get("top_blueprints") or []
    lines += ["", "## Blueprints", ""]
    if blueprints:
        lines += [f"Top {len(blueprints)} by holdout t-statistic (after-cost returns per trade; DSR of the holdout trades).", ""]
        lines += _table(
            ("blueprint", "side", "template", "discovery mean", "q (BH)", "holdout n", "holdout mean", "hit rate", "t",
             "DSR", "max cost x", "backtest return"),
            [(b.get("label"), b.get("side"), b.get("rule_template"), fmt.bps(b.get("discovery_mean_bps")),
              fmt.num(b.get("q_value_bh")), fmt.count(b.get("holdout_n")), fmt.bps(b.get("holdout_mean_bps")),
              fmt.pct(b.get("holdout_hit_rate")), fmt.fixed(b.get("holdout_t_stat")),
              fmt.fixed(b.get("deflated_sharpe_ratio"), 3), fmt.fixed(b.get("max_stress_multiplier_passed"), 1),
              _backtest_return(b)) for b in blueprints])
    else:
        lines.append("No blueprints in this warehouse.")
    lines += ["", "## Sections", ""]
    lines += _table(("section", "status", "figures"),
                    [(s["title"], s["status"], s["figures"]) for s in summary.get("sections") or []])
    lines += ["", "## Files", ""]
    lines += [f"- `{name}`" for name in summary.get("files") or []]
    return "\n".join(lines) + "\n"
