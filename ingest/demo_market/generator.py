"""Orchestration: simulate the market once, then per symbol simulate, plant, and write its archives
month by month; finally write the ground truth. Progress: one line per symbol and month."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ingest.demo_market import writers
from ingest.demo_market.archive import ArchiveWriter
from ingest.demo_market.basis import FundingSwitch
from ingest.demo_market.book_ticker import book_day
from ingest.demo_market.cascades import draw_market_cascades
from ingest.demo_market.config import DemoConfig, DemoConfigError
from ingest.demo_market.defects import KLINE_KINDS, DefectPlan, plan_defects
from ingest.demo_market.dynamics import simulate_market
from ingest.demo_market.effects import EffectSpec, load_effects
from ingest.demo_market.ground_truth import OccurrenceLog, file_digest, write_ground_truth
from ingest.demo_market.symbol_model import ModelParams, SymbolData, build_symbol
from ingest.demo_market.timeline import BARS_PER_DAY, Period, Timeline, build_timeline, epoch_ms
from ingest.demo_market.universe import UNIVERSE

INTERVAL = "5m"
GENERATOR_VERSION = 1
SPOT_MICROS_FROM = "2025-01-01"
IN_PROGRESS = ".generating"


def _prepare(out: Path) -> Path:
    """Clear a previous demo archive in `out` (never anything else), mark generation in progress."""
    data, truth = out / "data", out / "ground_truth"
    if data.exists() or truth.exists():
        ours = (truth / "config.json").exists() or (truth / IN_PROGRESS).exists()
        if not ours:
            raise DemoConfigError(f"{out} already holds data/ that is not a demo archive; choose an empty folder")
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(truth, ignore_errors=True)
    truth.mkdir(parents=True)
    (truth / IN_PROGRESS).write_text("", encoding="ascii")
    return out


def _dilate(mask: np.ndarray, bars: int) -> np.ndarray:
    out = mask.copy()
    for shift in range(1, bars + 1):
        out[shift:] |= mask[:-shift]
        out[:-shift] |= mask[shift:]
    return out


def funding_switch(tl: Timeline, symbols: list[str]) -> FundingSwitch:
    """The third symbol (or the last, with fewer) moves from 8h to 4h funding half-way through."""
    days = (tl.end - tl.start).days
    at = tl.start + timedelta(days=max(1, days // 2))
    return FundingSwitch(symbols[min(2, len(symbols) - 1)], epoch_ms(at))


def _with_duplicates(rows: np.ndarray, block: tuple[int, int] | None) -> np.ndarray:
    if block is None:
        return rows
    a, c = block
    return np.r_[rows[: a + c], rows[a: a + c], rows[a + c:]]


class SymbolWriter:
    """Writes every archive of one symbol; keeps the per-file defect decisions in one place."""

    def __init__(self, out: ArchiveWriter, tl: Timeline, defects: DefectPlan, gap: np.ndarray, seed: int,
                 data: SymbolData) -> None:
        self.out, self.tl, self.defects, self.gap, self.seed, self.d = out, tl, defects, gap, seed, data
        self.duplicates: list[dict[str, Any]] = []

    def _rows(self, start: int, stop: int) -> np.ndarray:
        rows = np.arange(start, stop)
        return rows[~self.gap[rows]]

    def _header(self, market: str, period: str) -> bool:
        return market == "um" and period[:7] not in self.defects.headerless_months

    def kline_archive(self, market: str, kind: str, period: str, period_index: int, rows: np.ndarray) -> None:
        d = self.d
        block = self.defects.kline_duplicates(market, kind, d.index, d.name, period_index, period, rows.size) \
            if len(period) == 7 else None
        if block is not None:
            self.duplicates.append({"market": market, "kind": kind, "period": period, "first_row": block[0],
                                    "rows": block[1]})
        rows = _with_duplicates(rows, block)
        header = self._header(market, period)
        if kind == "klines":
            spot = market == "spot"
            unit = "us" if spot and period >= SPOT_MICROS_FROM[: len(period)] else "ms"
            prices, fl = (d.spot, d.spot_flow) if spot else (d.perp, d.perp_flow)
            payload = writers.kline_csv(self.tl.open_ms, prices, fl, rows, unit, header, spot)
        else:
            prices = {"markPriceKlines": d.mark, "indexPriceKlines": d.index_price,
                      "premiumIndexKlines": d.premium}[kind]
            payload = writers.price_kline_csv(kind, self.tl.open_ms, prices, rows, header)
        self.out.write(market, kind, d.name, period, payload, rows.size, INTERVAL)

    def kline_family(self, period: Period, period_index: int, daily: bool) -> None:
        rows = self._rows(period.start_bar, period.stop_bar)
        for market, kind in [("um", k) for k in KLINE_KINDS] + [("spot", "klines")]:
            lacking = None if daily else self.defects.missing_day(market, kind, self.d.name, period.label)
            if lacking is None:
                self.kline_archive(market, kind, period.label, period_index, rows)
                continue
            day = next(x for x in self.tl.days() if x.label == lacking)
            in_day = (rows >= day.start_bar) & (rows < day.stop_bar)
            self.kline_archive(market, kind, period.label, period_index, rows[~in_day])
            self.kline_archive(market, kind, lacking, 0, rows[in_day])

    def funding(self, period: Period) -> None:
        f = self.d.funding
        lo = int(self.tl.open_ms[period.start_bar])
        hi = int(self.tl.open_ms[period.stop_bar - 1]) + 300_000
        rows = np.flatnonzero((f.settle_ms >= lo) & (f.settle_ms < hi))
        if rows.size:
            self.out.write("um", "fundingRate", self.d.name, period.label, writers.funding_csv(self.d, rows), rows.size)

    def day_archives(self, day: Period, day_index: int) -> None:
        d = self.d
        rows = self._rows(day.start_bar, day.stop_bar)
        if rows.size:
            dup, perm = self.defects.metrics_defects(d.index, d.name, day_index, day.label, rows.size)
            if perm is not None:
                rows = rows[perm]
            if dup is not None:
                self.duplicates.append({"market": "um", "kind": "metrics", "period": day.label, "first_row": dup[0],
                                        "rows": dup[1]})
            rows = _with_duplicates(rows, dup)
            self.out.write("um", "metrics", d.name, day.label, writers.metrics_csv(d, self.tl.open_ms, rows), rows.size)
        liq = d.liquidations
        sel = np.flatnonzero((liq.bar >= day.start_bar) & (liq.bar < day.stop_bar))
        if sel.size:
            self.out.write("um", "liquidationSnapshot", d.name, day.label, writers.liquidation_csv(d, liq, sel),
                           2 * sel.size)
        if day.label in self.defects.book_ticker_days:
            typical = 3.0 * d.spec.trade_usd / d.spec.price0
            book = book_day(self.seed, d.index, day_index, day.start_bar, self.tl.start_ms, d.perp_log, self.gap,
                            d.spec.price_decimals, d.spec.qty_decimals, typical)
            order = self.defects.book_interleave(d.index, day_index, book.update_id.size)
            order = np.arange(book.update_id.size) if order is None else order
            self.out.write("um", "bookTicker", d.name, day.label, writers.book_ticker_csv(d, book, order), order.size)


def _write_symbol(w: SymbolWriter, tl: Timeline, say: Callable[[str], None]) -> None:
    days = tl.days()
    day_index = {d.label: i for i, d in enumerate(days)}
    for mi, month in enumerate(tl.monthly_published()):
        before = w.out.files
        w.kline_family(month, mi, daily=False)
        w.funding(month)
        for day in days:
            if day.start_bar >= month.start_bar and day.stop_bar <= month.stop_bar:
                w.day_archives(day, day_index[day.label])
        say(f"{w.d.name} {month.label}: {w.out.files - before} archives")
    trailing = tl.trailing_days()
    if trailing:
        before = w.out.files
        for day in trailing:
            w.kline_family(day, day_index[day.label], daily=True)
            w.day_archives(day, day_index[day.label])
        say(f"{w.d.name} {trailing[0].label[:7]} (open month, daily files): {w.out.files - before} archives")


def _symbol_summary(data: SymbolData, switch: FundingSwitch) -> dict[str, Any]:
    spec = data.spec
    intervals = sorted(set(data.funding.interval_h.tolist()))
    return {
        "index": data.index, "price0": spec.price0, "beta": spec.beta, "leader_corr_range": list(spec.leader_corr),
        "leader_corr_target": spec.target_corr, "idio_scale": round(data.idio_scale, 6),
        "price_decimals": spec.price_decimals, "qty_decimals": spec.qty_decimals,
        "spot_qty_decimals": spec.spot_qty_decimals, "perp_quote_per_bar": spec.perp_quote_per_bar,
        "spot_share": spec.spot_share, "oi_usd": spec.oi_usd,
        "cascades": int(data.cascades.bars.size), "market_wide_cascades": int(data.cascades.market_wide.sum()),
        "funding_intervals_h": intervals, "funding_switch": data.name == switch.symbol,
        "planting_passes": data.planted.iterations,
    }


def generate(config: DemoConfig, progress: Callable[[str], None] | None = None) -> Path:
    """Write the synthetic archive into `config.out` and return that archive root (the folder that
    holds `data/` and `ground_truth/`). Same config, same bytes."""
    say = progress or (lambda _line: None)
    effects: tuple[EffectSpec, ...] = load_effects(config.effects_path)
    root = _prepare(Path(config.out))
    tl = build_timeline(config.start, config.months)
    symbols = config.symbol_names()
    params = ModelParams()
    defects = plan_defects(tl, config.seed, symbols)
    gap = defects.gap_mask(tl.n)
    blocked = _dilate(gap, 3)
    switch = funding_switch(tl, symbols)
    published = tl.monthly_published()
    funding_until = int(tl.open_ms[published[-1].stop_bar - 1]) + 300_000 if published else tl.start_ms
    say(f"simulating {len(symbols)} symbols x {tl.n} bars ({tl.start} .. {tl.end}, seed {config.seed})")
    market = simulate_market(tl, config.seed, params.dynamics)
    market_cascades = draw_market_cascades(tl, config.seed, market, blocked, params.cascades)
    log = OccurrenceLog()
    per_symbol: dict[str, Any] = {}
    duplicates: dict[str, Any] = {}
    with ArchiveWriter(root) as archive:
        for i, name in enumerate(symbols):
            mine = tuple(e for e in effects if e.applies_to(name))
            data = build_symbol(tl, config.seed, i, UNIVERSE[i], market, market_cascades, gap, blocked, mine,
                                switch.at_ms if name == switch.symbol else None, funding_until, params)
            writer = SymbolWriter(archive, tl, defects, gap, config.seed, data)
            _write_symbol(writer, tl, say)
            log.add(name, mine, data.planted, tl.open_ms)
            per_symbol[name] = _symbol_summary(data, switch)
            duplicates[name] = writer.duplicates
        archive.flush()

    effects_file = config.effects_path
    truth = {
        "generator_version": GENERATOR_VERSION,
        "demo_config": {"symbols": config.symbols, "start": config.start, "months": config.months,
                        "seed": config.seed, "effects": "default" if config.effects is None else effects_file.name},
        "effects_sha256": file_digest(effects_file),
        "symbols": symbols,
        "leader": symbols[0],
        "window": {"start": tl.start, "end": tl.end, "bars": tl.n, "interval": INTERVAL},
        "parameters": asdict(params),
        "symbol_parameters": per_symbol,
        "market_cascade_bars_utc_ms": [int(tl.open_ms[b]) for b in market_cascades.bars],
        "funding_interval_switch": {"symbol": switch.symbol, "at_ms": switch.at_ms, "hours_before": switch.hours_before,
                                    "hours_after": switch.hours_after},
        "defects": {
            "maintenance_windows_ms": [[int(tl.open_ms[a]), int(tl.open_ms[b - 1]) + 300_000] for a, b in defects.maintenance],
            "headerless_um_months": sorted(defects.headerless_months),
            "monthly_missing_days": [asdict(m) for m in defects.missing_days],
            "duplicated_rows": duplicates,
            "book_ticker_days": list(defects.book_ticker_days),
            "spot_microseconds_from": SPOT_MICROS_FROM,
            "metrics_labels": "end-of-period (a day's file spans 00:05:00 .. next day 00:00:00)",
            "metrics_shuffle_rate": defects.metrics_shuffle_rate,
            "funding_published": "monthly, only for months closed by the end of the window",
            "funding_published_until_ms": funding_until,
        },
        "archive": {"files": archive.files, "zip_bytes": archive.zip_bytes, "csv_bytes": archive.csv_bytes,
                    "rows": archive.rows},
        "bars_per_day": BARS_PER_DAY,
    }
    write_ground_truth(root / "ground_truth", effects, symbols, log, truth)
    (root / "ground_truth" / IN_PROGRESS).unlink()
    say(f"wrote {archive.files} archives ({archive.zip_bytes / 1e6:.1f} MB zipped) and ground truth to {root}")
    return root
