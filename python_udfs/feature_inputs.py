"""The columns a feature formula may read besides other features: the clean bars (`fct_bars`) and
the calendar context of each bar (`int_calendar__bar_context`), each with a vocabulary type.

The bar columns are read from models/marts/fct_bars.yml (the CLEAN stage's contract), so a column
added there is usable in spec/ at once; the calendar columns are declared here because the model
that computes them belongs to the feature stage (tests/features keep the two in step).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

PROJECT_DIR = Path(__file__).resolve().parents[1]
BARS_YML = PROJECT_DIR / "models" / "marts" / "fct_bars.yml"

NUMBER, BOOLEAN, TIMESTAMP, TEXT = "number", "boolean", "timestamp", "text"
BARS, CALENDAR = "bars", "calendar"
KEY_COLUMNS = ("symbol", "ts")
"""Present in every relation of the feature stage; never masked on gap rows."""

UNMASKED_COLUMNS = frozenset({"symbol", "ts", "available_at", "is_gap"})
"""Bar columns that keep their value on gap rows (every other input is NULL there)."""

FALLBACK_BAR_COLUMNS: tuple[str, ...] = (
    "symbol", "ts", "available_at", "open", "high", "low", "close", "volume", "quote_volume", "trade_count",
    "taker_buy_base_volume", "taker_buy_quote_volume", "is_gap", "log_range", "spot_open", "spot_high",
    "spot_low", "spot_close", "spot_volume", "spot_quote_volume", "spot_trade_count", "spot_is_gap", "basis",
    "basis_state", "mark_close", "index_close", "premium_close", "funding_rate", "funding_interval_hours",
    "last_settlement_time", "next_settlement_time", "is_settlement_bar", "open_interest", "open_interest_value",
    "toptrader_long_short_account_ratio", "toptrader_long_short_position_ratio",
    "global_long_short_account_ratio", "taker_buy_sell_volume_ratio", "liquidation_count",
    "liquidation_buy_qty", "liquidation_sell_qty", "liquidation_buy_notional", "liquidation_sell_notional",
    "book_quoted_spread_bps", "book_bid_depth_quote", "book_ask_depth_quote",
)
"""Used only while models/marts/fct_bars.yml does not exist (the CLEAN stage not built yet)."""

TEXT_COLUMNS = frozenset({"symbol", "source_interval", "basis_state"})

CALENDAR_COLUMNS: dict[str, str] = {
    "cal_hour_utc": NUMBER,
    "cal_minute_of_day_utc": NUMBER,
    "cal_isodow_utc": NUMBER,
    "cal_is_weekend_utc": BOOLEAN,
    **{f"cal_{session}_{what}": kind
       for session in ("asia", "europe", "us")
       for what, kind in (("active", BOOLEAN), ("open_bar", BOOLEAN), ("close_bar", BOOLEAN),
                          ("minutes_since_open", NUMBER))},
    **{f"cal_minutes_{direction}_{release}": NUMBER
       for release in ("fomc", "cpi", "macro")
       for direction in ("to_next", "since_last")},
}
"""Columns of models/intermediate/calendar/int_calendar__bar_context.sql (keyed by ts)."""


@dataclass(frozen=True)
class InputColumn:
    """A column formulas may reference: where it comes from and its vocabulary type."""

    name: str
    relation: str
    type: str


def _bar_column_type(name: str, declared: str | None) -> str:
    """Vocabulary type of a fct_bars column: its yml data_type when given, else by naming convention."""
    if declared:
        lowered = declared.lower()
        if lowered.startswith("bool"):
            return BOOLEAN
        if lowered.startswith("timestamp") or lowered == "date":
            return TIMESTAMP
        if lowered.startswith(("varchar", "text", "string")):
            return TEXT
        return NUMBER
    if name in TEXT_COLUMNS or name.endswith("_state"):
        return TEXT
    if name.startswith(("is_", "spot_is_")) or name.endswith("_published"):
        return BOOLEAN
    if name == "ts" or name.endswith(("_at", "_time")):
        return TIMESTAMP
    return NUMBER


@lru_cache(maxsize=4)
def _bar_columns_from(path: Path, mtime: float) -> tuple[tuple[str, str | None], ...]:
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for model in document.get("models") or []:
        if model.get("name") == "fct_bars":
            return tuple((column["name"], column.get("data_type")) for column in model.get("columns") or [])
    return ()


def bar_columns(bars_yml: Path = BARS_YML) -> dict[str, InputColumn]:
    """fct_bars columns by name (from its yml, or the fallback list while it does not exist)."""
    declared: tuple[tuple[str, str | None], ...] = ()
    if bars_yml.is_file():
        declared = _bar_columns_from(bars_yml, bars_yml.stat().st_mtime)
    if not declared:
        declared = tuple((name, None) for name in FALLBACK_BAR_COLUMNS)
    return {name: InputColumn(name, BARS, _bar_column_type(name, data_type)) for name, data_type in declared}


def input_columns(bars_yml: Path = BARS_YML) -> dict[str, InputColumn]:
    """Every non-feature column a formula may reference."""
    columns = bar_columns(bars_yml)
    for name, kind in CALENDAR_COLUMNS.items():
        columns[name] = InputColumn(name, CALENDAR, kind)
    return columns
