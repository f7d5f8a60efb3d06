"""Event prevalence: how often each event family fired on each symbol (fct_events), against how many
event types each family defines (dim_event_types).

Why: a family that never fires cannot be studied, and one that fires on every other bar is not an
event; the prevalence per symbol shows both before any statistic is read."""

from __future__ import annotations

from typing import Any

from ingest.reporting import charts
from ingest.reporting import formatting as fmt
from ingest.reporting.document import OK, Block, Paragraph, Plot, Section, Table, unavailable
from ingest.reporting.warehouse import Warehouse

KEY, TITLE = "events", "Event prevalence"


def build(warehouse: Warehouse) -> Section:
    """The prevalence section; says so when fct_events is missing or empty."""
    status = warehouse.status("fct_events")
    if status != OK:
        return unavailable(KEY, TITLE, "fct_events", status)
    cells = warehouse.rows("""
        select family, symbol, count(*) as events, count(distinct event_type) as types_fired
        from fct_events group by family, symbol order by family, symbol""")
    per_family = warehouse.rows("""
        select family, count(*) as events, count(distinct event_type) as types_fired,
               count(*) filter (where direction = 'up') as up,
               count(*) filter (where direction = 'down') as down,
               count(*) filter (where direction not in ('up', 'down') or direction is null) as no_direction
        from fct_events group by family order by family""")
    defined = _defined_types(warehouse)
    priced = _priced_bars(warehouse)
    symbols = sorted({c["symbol"] for c in cells} | set(priced))
    families = sorted({f["family"] for f in per_family} | set(defined))
    count = {(c["family"], c["symbol"]): c["events"] for c in cells}
    totals = {f["family"]: f for f in per_family}
    n_events = sum(f["events"] for f in per_family)
    blocks: list[Block] = [Paragraph(
        f"{fmt.count(n_events)} events of {len(totals)} families on {len(symbols)} symbols"
        + (f"; {sum(defined.values())} event types are defined in {len(defined)} families (dim_event_types), "
           f"{_types_fired(warehouse)} of them fired." if defined else ".")
        + (" Prevalence is events per 1,000 priced (non-gap) bars of the symbol." if priced else ""))]
    if priced:
        values = [[(1000.0 * count.get((family, symbol), 0) / priced[symbol]) if priced.get(symbol) else None
                   for symbol in symbols] for family in families]
        svg = charts.heatmap(families, symbols, values, x_label="symbol", y_label="family",
                             value_label="per 1,000 bars", value_format=lambda v: f"{v:.2f}",
                             domain=(0.0, max((v for row in values for v in row if v is not None), default=0.0)),
                             title="Events per 1,000 bars by family and symbol", width=640)
        blocks.append(Plot("event-prevalence-heatmap", svg,
                           "Event prevalence per family and symbol: events (fct_events) per 1,000 priced bars "
                           "(fct_bars, non-gap) of the symbol. A family that fires nowhere is a full row of the "
                           "lightest colour."))
    svg = charts.bar_chart(families, [charts.BarSeries("events", [totals.get(f, {}).get("events", 0) for f in families])],
                           value_label="events", horizontal=True, title="Events per family",
                           value_format=lambda v: f"{v:,.0f}")
    blocks.append(Plot("events-per-family", svg, "Events per family over the whole data window, all symbols."))
    blocks.append(Table(
        columns=("family", "types defined", "types fired", "events", "up", "down", "no direction",
                 *(f"{s}" for s in symbols)),
        rows=[(family, fmt.count(defined.get(family)) if defined else "n/a",
               fmt.count(totals.get(family, {}).get("types_fired", 0)), fmt.count(totals.get(family, {}).get("events", 0)),
               fmt.count(totals.get(family, {}).get("up", 0)), fmt.count(totals.get(family, {}).get("down", 0)),
               fmt.count(totals.get(family, {}).get("no_direction", 0)),
               *(fmt.count(count.get((family, s), 0)) for s in symbols)) for family in families],
        numeric=(False, *([True] * (6 + len(symbols))))))
    facts: dict[str, Any] = {
        "status": OK,
        "events": n_events,
        "families_fired": len(totals),
        "families_defined": len(defined) if defined else None,
        "event_types_defined": sum(defined.values()) if defined else None,
        "event_types_fired": _types_fired(warehouse),
        "per_family": {family: {"events": totals.get(family, {}).get("events", 0),
                                "types_defined": defined.get(family),
                                "types_fired": totals.get(family, {}).get("types_fired", 0),
                                "per_symbol": {s: count.get((family, s), 0) for s in symbols}}
                       for family in families},
    }
    return Section(KEY, TITLE, tuple(blocks), OK, facts)


def _defined_types(warehouse: Warehouse) -> dict[str, int]:
    if warehouse.status("dim_event_types") != OK:
        return {}
    return {r["family"]: r["types"] for r in warehouse.rows(
        "select family, count(*) as types from dim_event_types group by family")}


def _types_fired(warehouse: Warehouse) -> int:
    row = warehouse.one("select count(distinct event_type) as n from fct_events")
    return int(row["n"]) if row else 0


def _priced_bars(warehouse: Warehouse) -> dict[str, int]:
    if warehouse.status("fct_bars") != OK:
        return {}
    return {r["symbol"]: r["bars"] for r in warehouse.rows(
        "select symbol, count(*) filter (where not is_gap) as bars from fct_bars group by symbol")}
