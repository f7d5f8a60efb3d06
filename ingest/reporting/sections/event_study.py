"""Event-study curves per family (fct_event_study_curves): the mean cumulative return of the
event-direction-signed position around the event, after the round-trip cost from the entry on,
with a 95% confidence band.

Why: one picture says whether a family's move happened before the event (nothing left to trade),
is eaten by the cost at entry, or keeps going after it."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ingest.reporting import charts
from ingest.reporting import formatting as fmt
from ingest.reporting.document import OK, Block, Paragraph, Plot, Section, unavailable
from ingest.reporting.warehouse import Warehouse

KEY, TITLE = "event_study", "Event-study curves"
TABLE = "fct_event_study_curves"


def build(warehouse: Warehouse) -> Section:
    """One curve per family; says so when the curves table is missing or empty."""
    status = warehouse.status(TABLE)
    if status != OK:
        return unavailable(KEY, TITLE, TABLE, status,
                           "Build it with `dbt build -s fct_event_study_curves` (models/marts/reporting).")
    rows = warehouse.rows(f"""
        select family, relative_bar, entry_lag_bars, is_held, n_events, n, mean_return_bps, se_return_bps,
               ci95_low_bps, ci95_high_bps, mean_round_trip_cost_bps
        from {TABLE} order by family, relative_bar""")
    by_family: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_family[row["family"]].append(row)
    first_bar, last_bar = rows[0]["relative_bar"], rows[-1]["relative_bar"]
    lag = rows[0]["entry_lag_bars"]
    blocks: list[Block] = [Paragraph(
        f"Mean cumulative return (bps) of a position signed by the event's direction (long for events without a "
        f"direction), relative to the entry price: the open of the bar {lag} bar(s) after the event bar. The point "
        f"at x is the close of the bar x bars after the event bar (0: the event bar, whose close is when the event "
        f"is known). From the "
        f"entry on, each point is the after-cost return of a trade exited at that bar's close (round-trip execution "
        f"cost deducted, funding not included); before it, where the price stood relative to the entry price. "
        f"Shaded: 95% confidence band (mean +/- 1.96 standard errors, events treated as independent, so "
        f"overlapping events make it too narrow). Relative bars {first_bar} to {last_bar}.")]
    facts: dict[str, Any] = {"status": OK, "entry_lag_bars": lag, "relative_bars": [first_bar, last_bar], "families": {}}
    for family, curve in by_family.items():
        held = [r for r in curve if r["is_held"]]
        last = curve[-1]
        n_events = curve[0]["n_events"]
        cost = next((r["mean_round_trip_cost_bps"] for r in held if r["mean_round_trip_cost_bps"] is not None), None)
        svg = charts.line_chart(
            [charts.Series(family, [r["relative_bar"] for r in curve], [r["mean_return_bps"] for r in curve],
                           low=[r["ci95_low_bps"] for r in curve], high=[r["ci95_high_bps"] for r in curve])],
            x_label="bars after the event bar (5 min)", y_label="cumulative return (bps)",
            title=f"{family}: event-study curve",
            x_guides=_guides(lag),
            width=520, height=280)
        caption = (f"{family}: {fmt.count(n_events)} events; mean after-cost return at +{last['relative_bar']} bars "
                   f"{fmt.bps(last['mean_return_bps'])} (95% band {fmt.bps(last['ci95_low_bps'])} to "
                   f"{fmt.bps(last['ci95_high_bps'])}, n = {fmt.count(last['n'])}); mean round-trip cost "
                   f"{fmt.bps(cost)}.")
        blocks.append(Plot(f"event-study-{family.lower()}", svg, caption))
        facts["families"][family] = {
            "events": n_events,
            "mean_round_trip_cost_bps": cost,
            "last_relative_bar": last["relative_bar"],
            "mean_return_bps_at_last_bar": last["mean_return_bps"],
            "se_return_bps_at_last_bar": last["se_return_bps"],
            "n_at_last_bar": last["n"],
        }
    return Section(KEY, TITLE, tuple(blocks), OK, facts)


def _guides(lag: int) -> list[charts.Guide]:
    """The event bar's close (x = 0) and the entry, the open of bar `lag`, i.e. the close of bar lag - 1:
    one guide when they coincide (lag 1)."""
    if lag <= 1:
        return [charts.Guide(0, "event close = entry")]
    return [charts.Guide(0, "event close"), charts.Guide(lag - 1, "entry")]
