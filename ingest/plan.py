"""Which archives cover a window: monthly archives for complete months, daily archives for the
rest, and daily archives for the days a monthly archive turns out to lack."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from ingest.kinds import DAILY_INTERVALS, INTERVALS, KINDS, MARKETS, SYMBOL_RE, archive_path


class RequestError(ValueError):
    """The user's request cannot be served as asked; the message says what to change."""


@dataclass(frozen=True, order=True)
class ArchiveRef:
    """One archive file: the unit of download, verification and ledger bookkeeping."""

    market: str
    kind: str
    symbol: str
    interval: str | None
    period: str

    @property
    def path(self) -> str:
        return archive_path(self.market, self.kind, self.symbol, self.period, self.interval)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def is_monthly(self) -> bool:
        return len(self.period) == 7


@dataclass(frozen=True)
class IngestRequest:
    markets: tuple[str, ...]
    kinds: tuple[str, ...]
    symbols: tuple[str, ...]
    start: date
    end: date
    interval: str | None = None

    def validate(self) -> None:
        """Reject unknown names and unsafe symbols before anything is fetched or written."""
        for market in self.markets:
            if market not in MARKETS:
                raise RequestError(f"unknown market '{market}': use one of {', '.join(MARKETS)}")
        for kind in self.kinds:
            if kind not in KINDS:
                raise RequestError(f"unknown kind '{kind}': use one of {', '.join(KINDS)}")
            for market in self.markets:
                if market not in KINDS[kind].markets:
                    raise RequestError(f"kind '{kind}' is not published for market '{market}'")
        needs_interval = [kind for kind in self.kinds if KINDS[kind].has_interval]
        if needs_interval and self.interval is None:
            raise RequestError(f"kind(s) {', '.join(needs_interval)} need --interval (e.g. 5m)")
        if self.interval is not None and self.interval not in INTERVALS:
            raise RequestError(f"unknown interval '{self.interval}': use one of {' '.join(INTERVALS)}")
        if not self.symbols:
            raise RequestError("no symbols given: pass --symbols BTCUSDT,ETHUSDT")
        for symbol in self.symbols:
            if not SYMBOL_RE.match(symbol):
                raise RequestError(f"symbol '{symbol}' is not [A-Z0-9]+ (upper-case letters and digits only)")
        if self.start > self.end:
            raise RequestError(f"start {self.start} is after end {self.end}")


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def first_pass(request: IngestRequest) -> list[ArchiveRef]:
    """Monthly archives for months wholly inside the window (where the kind has them), daily
    archives for the edges and for daily-only kinds. Monthly-only kinds take every touched month."""
    refs: list[ArchiveRef] = []
    for market in request.markets:
        for kind in request.kinds:
            spec = KINDS[kind]
            interval = request.interval if spec.has_interval else None
            daily_ok = "daily" in spec.periods and (interval is None or interval in DAILY_INTERVALS)
            month = _month_start(request.start)
            while month <= request.end:
                month_end = _next_month(month) - timedelta(days=1)
                whole = month >= request.start and month_end <= request.end
                for symbol in request.symbols:
                    if "monthly" in spec.periods and (whole or not daily_ok):
                        refs.append(ArchiveRef(market, kind, symbol, interval, month.strftime("%Y-%m")))
                    elif daily_ok:
                        first, last = max(month, request.start), min(month_end, request.end)
                        refs.extend(
                            ArchiveRef(market, kind, symbol, interval, day.isoformat())
                            for day in days_between(first, last)
                        )
                month = _next_month(month)
    return sorted(refs)


def daily_fallback(ref: ArchiveRef, missing_days: list[str], request: IngestRequest) -> list[ArchiveRef]:
    """Daily archives replacing a monthly one that is unpublished (all days) or lacks days."""
    spec = KINDS[ref.kind]
    if not ref.is_monthly or "daily" not in spec.periods:
        return []
    if ref.interval is not None and ref.interval not in DAILY_INTERVALS:
        return []
    window = {d.isoformat() for d in days_between(request.start, request.end)}
    return [
        ArchiveRef(ref.market, ref.kind, ref.symbol, ref.interval, day)
        for day in sorted(missing_days) if day in window
    ]


def month_days(period: str) -> list[str]:
    first = date.fromisoformat(period + "-01")
    return [d.isoformat() for d in days_between(first, _next_month(first) - timedelta(days=1))]
