"""Data coverage: which symbols and days the bars cover, where the gaps are (a heatmap of the gap
share per symbol and day), the evaluation windows, and what the ingester fetched (ledger totals).

Why first: every later number is only as good as the bars under it; a researcher should see a
missing week before reading an edge measured across it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from ingest.reporting import charts
from ingest.reporting import formatting as fmt
from ingest.reporting.document import MISSING, OK, Block, KeyValues, Paragraph, Plot, Section, Table, unavailable
from ingest.reporting.warehouse import Warehouse, iso

KEY, TITLE = "coverage", "Data coverage"
MAX_DAILY_COLUMNS = 400
"""Above this many days the heatmap shows weeks, so the page stays small."""


def build(warehouse: Warehouse) -> Section:
    """The coverage section (bars, gaps, windows, ledger); says so when fct_bars is missing or empty."""
    status = warehouse.status("fct_bars")
    if status != OK:
        return unavailable(KEY, TITLE, "fct_bars", status, "Run `make demo` or `dbt build` to build the bars.")
    symbols = warehouse.rows("""
        select
            symbol,
            count(*) as bars,
            count(*) filter (where is_gap) as gap_bars,
            avg(case when is_gap then 1.0 else 0.0 end) as gap_share,
            min(ts) as first_bar,
            max(ts) as last_bar,
            count(distinct cast(ts as date)) as days
        from fct_bars
        group by symbol
        order by symbol""")
    totals = warehouse.one("""
        select count(*) as bars, count(*) filter (where is_gap) as gap_bars,
               avg(case when is_gap then 1.0 else 0.0 end) as gap_share,
               min(ts) as first_bar, max(ts) as last_bar, count(distinct symbol) as symbols
        from fct_bars""") or {}
    blocks: list[Block] = [
        Paragraph(f"{fmt.count(totals.get('bars'))} five-minute bars of {fmt.count(totals.get('symbols'))} symbols "
                  f"from {fmt.when(totals.get('first_bar'))} to {fmt.when(totals.get('last_bar'))} UTC (bar open times); "
                  f"{fmt.count(totals.get('gap_bars'))} of them ({fmt.pct(totals.get('gap_share'), 2)}) are gaps "
                  "(no price: never filled)."),
        Table(columns=("symbol", "bars", "gap bars", "gap share", "first bar", "last bar", "days"),
              rows=[(s["symbol"], fmt.count(s["bars"]), fmt.count(s["gap_bars"]), fmt.pct(s["gap_share"], 2),
                     fmt.when(s["first_bar"]), fmt.when(s["last_bar"]), fmt.count(s["days"])) for s in symbols],
              numeric=(False, True, True, True, False, False, True)),
    ]
    heatmap = _gap_heatmap(warehouse)
    if heatmap is not None:
        blocks.append(heatmap)
    windows, window_facts = _windows(warehouse)
    blocks.extend(windows)
    ledger, ledger_facts = _ledger(warehouse)
    blocks.extend(ledger)
    facts: dict[str, Any] = {
        "status": OK,
        "bars": totals.get("bars"),
        "gap_bars": totals.get("gap_bars"),
        "gap_share": totals.get("gap_share"),
        "first_bar": iso(totals.get("first_bar")),
        "last_bar": iso(totals.get("last_bar")),
        "symbols": [s["symbol"] for s in symbols],
        "per_symbol": [{k: iso(v) for k, v in s.items()} for s in symbols],
        "windows": window_facts,
        "ingest_ledger": ledger_facts,
    }
    return Section(KEY, TITLE, tuple(blocks), OK, facts)


def _gap_heatmap(warehouse: Warehouse) -> Plot | None:
    span = warehouse.one("select min(cast(ts as date)) as first_day, max(cast(ts as date)) as last_day from fct_bars")
    if not span or span["first_day"] is None:
        return None
    first, last = span["first_day"], span["last_day"]
    weekly = (last - first).days + 1 > MAX_DAILY_COLUMNS
    unit = "week" if weekly else "day"
    cells = warehouse.rows(f"""
        select symbol, cast(date_trunc('{unit}', ts) as date) as bucket,
               avg(case when is_gap then 1.0 else 0.0 end) as gap_share
        from fct_bars
        group by all""")
    buckets: list[date] = []
    day = first - timedelta(days=first.weekday()) if weekly else first
    while day <= last:
        buckets.append(day)
        day += timedelta(days=7 if weekly else 1)
    symbols = sorted({c["symbol"] for c in cells})
    share = {(c["symbol"], c["bucket"]): c["gap_share"] for c in cells}
    values = [[share.get((symbol, bucket)) for bucket in buckets] for symbol in symbols]
    labels = [bucket.strftime("%Y-%m-%d") if weekly else bucket.strftime("%m-%d") for bucket in buckets]
    worst = max(((v, s, b) for (s, b), v in share.items() if v is not None), default=None)
    svg = charts.heatmap(symbols, labels, values, x_label=f"{unit} (UTC){' starting' if weekly else ''}",
                         y_label="symbol", value_label="gap share", domain=(0.0, max(0.05, worst[0] if worst else 0.0)),
                         value_format=lambda v: f"{100 * v:.1f}%", title="Gap share per symbol and " + unit,
                         width=charts.WIDE_WIDTH)
    worst_text = (f" The worst {unit} is {worst[1]} on {worst[2].isoformat()} with {100 * worst[0]:.1f}% gap bars."
                  if worst and worst[0] > 0 else " No bar is a gap.")
    caption = (f"Share of gap bars (fct_bars.is_gap) per symbol and {unit}, {buckets[0].isoformat()} to "
               f"{buckets[-1].isoformat()}; grey cells have no bars at all.{worst_text}")
    return Plot("gap-heatmap", svg, caption, wide=True)


def _windows(warehouse: Warehouse) -> tuple[list[Block], dict[str, Any]]:
    status = warehouse.status("dim_evaluation_windows")
    if status != OK:
        text = ("The evaluation windows (dim_evaluation_windows) are "
                + ("not in the warehouse." if status == MISSING else "empty."))
        return [Paragraph(text)], {"status": status}
    window = warehouse.one("select * from dim_evaluation_windows") or {}
    rows = [
        ("data", f"{fmt.when(window.get('data_start'))} to {fmt.when(window.get('data_end'))}"),
        ("discovery", f"{fmt.when(window.get('discovery_start'))} to {fmt.when(window.get('discovery_end'))}"),
        ("embargo", f"{fmt.when(window.get('discovery_end'))} to {fmt.when(window.get('holdout_start'))} "
                    f"({fmt.count(window.get('embargo_bars'))} bars)"),
        ("holdout", f"{fmt.when(window.get('holdout_start'))} to {fmt.when(window.get('holdout_end'))}"),
        ("window source / check", f"{window.get('window_source')} / {window.get('window_check')}"),
    ]
    return ([Paragraph("Evaluation windows (dim_evaluation_windows; half-open, UTC):"), KeyValues(rows)],
            {"status": OK, **{k: iso(v) for k, v in window.items()}})


def _ledger(warehouse: Warehouse) -> tuple[list[Block], dict[str, Any]]:
    status = warehouse.status("stg_ingest__ledger")
    if status != OK:
        text = ("The ingest ledger (stg_ingest__ledger) is "
                + ("not in the warehouse." if status == MISSING else "empty: nothing was ingested."))
        return [Paragraph(text)], {"status": status}
    kinds = warehouse.rows("""
        select
            market,
            kind,
            count(*) as archives,
            count(*) filter (where status = 'ingested') as ingested,
            count(*) filter (where status = 'imported') as imported,
            count(*) filter (where status = 'not_published') as not_published,
            count(*) filter (where status = 'quarantined') as quarantined,
            coalesce(sum(rows_written), 0) as rows_written,
            coalesce(sum(zip_bytes), 0) as zip_bytes
        from stg_ingest__ledger
        group by market, kind
        order by market, kind""")
    totals = warehouse.one("""
        select count(*) as archives,
               count(*) filter (where status = 'ingested') as ingested,
               count(*) filter (where status = 'imported') as imported,
               count(*) filter (where status = 'not_published') as not_published,
               count(*) filter (where status = 'quarantined') as quarantined,
               coalesce(sum(rows_written), 0) as rows_written,
               coalesce(sum(zip_bytes), 0) as zip_bytes,
               max(ingested_at) as last_ingested_at
        from stg_ingest__ledger""") or {}
    blocks: list[Block] = [
        Paragraph(f"Ingest ledger (stg_ingest__ledger): {fmt.count(totals.get('archives'))} archives, "
                  f"{fmt.count(totals.get('ingested'))} ingested, {fmt.count(totals.get('imported'))} imported, "
                  f"{fmt.count(totals.get('not_published'))} not published, "
                  f"{fmt.count(totals.get('quarantined'))} quarantined; {fmt.count(totals.get('rows_written'))} rows "
                  f"written from {fmt.fixed((totals.get('zip_bytes') or 0) / 1e6, 1)} MB of archives."),
        Table(columns=("market", "kind", "archives", "ingested", "imported", "not published", "quarantined",
                       "rows written", "MB"),
              rows=[(k["market"], k["kind"], fmt.count(k["archives"]), fmt.count(k["ingested"]), fmt.count(k["imported"]),
                     fmt.count(k["not_published"]), fmt.count(k["quarantined"]), fmt.count(k["rows_written"]),
                     fmt.fixed(k["zip_bytes"] / 1e6, 2)) for k in kinds],
              numeric=(False, False, True, True, True, True, True, True, True)),
    ]
    return blocks, {"status": OK, **{k: iso(v) for k, v in totals.items()}, "per_kind": kinds}
