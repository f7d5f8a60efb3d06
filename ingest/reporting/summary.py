"""summary.json: the report's headline numbers as data (counts, windows, top blueprints with their
key statistics, the sections and their status, the report's files).

Why: a later run, a dashboard or a test compares runs from this file without parsing HTML; the
headline block repeats the most looked-at numbers from the sections' facts so nobody has to know
where each lives."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ingest.reporting.document import Section

SUMMARY_VERSION = 1


def jsonable(value: Any) -> Any:
    """`value` with only JSON types: timestamps as ISO text, Decimal as float, NaN/inf as null."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def _get(facts: Mapping[str, Any], *path: str) -> Any:
    node: Any = facts
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def headline(sections: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The most looked-at numbers, taken from the sections' facts (None when a section had no data)."""
    return {
        "symbols": len(_get(sections, "coverage", "symbols") or []) or None,
        "bars": _get(sections, "coverage", "bars"),
        "gap_share": _get(sections, "coverage", "gap_share"),
        "first_bar": _get(sections, "coverage", "first_bar"),
        "last_bar": _get(sections, "coverage", "last_bar"),
        "archives_ingested": _get(sections, "coverage", "ingest_ledger", "ingested"),
        "events": _get(sections, "events", "events"),
        "event_types_fired": _get(sections, "events", "event_types_fired"),
        "hypotheses_tested": _get(sections, "discovery", "hypotheses_tested"),
        "discoveries": _get(sections, "discovery", "discoveries"),
        "promoted": _get(sections, "discovery", "promoted"),
        "bridge_passed": _get(sections, "blueprints", "bridge_passed"),
        "blueprints": _get(sections, "blueprints", "blueprints"),
        "portfolio_total_return": _get(sections, "backtest", "portfolio", "total_return"),
        "portfolio_sharpe_ratio": _get(sections, "backtest", "portfolio", "sharpe_ratio"),
        "portfolio_max_drawdown": _get(sections, "backtest", "portfolio", "max_drawdown"),
        "portfolio_dsr": _get(sections, "backtest", "portfolio", "dsr"),
        "pbo": _get(sections, "backtest", "overfitting", "pbo"),
        "walkforward_oos_trades": _get(sections, "backtest", "walkforward", "oos_trades"),
    }


def build_summary(sections: Sequence[Section], run_id: str, generated_at: datetime, warehouse_name: str,
                  files: Sequence[str]) -> dict[str, Any]:
    """The summary.json document."""
    facts = {section.key: dict(section.facts) for section in sections}
    return jsonable({
        "summary_version": SUMMARY_VERSION,
        "run_id": run_id,
        "generated_at": generated_at,
        "warehouse": warehouse_name,
        "headline": headline(facts),
        "windows": _get(facts, "coverage", "windows"),
        "top_blueprints": _get(facts, "blueprints", "top_blueprints") or [],
        "sections": [{"key": s.key, "title": s.title, "status": s.status, "figures": len(s.plots),
                      "plots": [p.key for p in s.plots]} for s in sections],
        "figures": sum(len(s.plots) for s in sections),
        "facts": facts,
        "files": list(files),
    })
