"""Text forms of the warehouse's numbers for tables and captions (never used for summary.json,
which keeps full precision). One place, so the HTML and Markdown read the same."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def count(value: Any) -> str:
    """12,345"""
    return "n/a" if _missing(value) else f"{int(value):,}"


def bps(value: Any, decimals: int = 1) -> str:
    """12.3 bps"""
    return "n/a" if _missing(value) else f"{float(value):,.{decimals}f} bps"


def pct(value: Any, decimals: int = 1) -> str:
    """A share as a percentage: 0.123 -> 12.3%"""
    return "n/a" if _missing(value) else f"{100 * float(value):.{decimals}f}%"


def num(value: Any, digits: int = 3) -> str:
    """A ratio or statistic with `digits` significant digits (small values in scientific form)."""
    if _missing(value):
        return "n/a"
    number = float(value)
    if number != 0 and abs(number) < 10 ** -(digits + 1):
        return f"{number:.{max(digits - 1, 0)}e}"
    return f"{number:.{digits}g}" if abs(number) < 10 ** digits else f"{number:,.0f}"


def fixed(value: Any, decimals: int = 2) -> str:
    """A number with fixed decimals."""
    return "n/a" if _missing(value) else f"{float(value):,.{decimals}f}"


def when(value: Any) -> str:
    """A UTC timestamp as 2024-03-01 00:00 (dates as 2024-03-01)."""
    if _missing(value):
        return "n/a"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def short_id(value: Any, length: int = 10) -> str:
    """The first characters of a hash-like id."""
    return "n/a" if _missing(value) else str(value)[:length]


def seconds(value: Any) -> str:
    """A duration: 3.2 s, 4 min 05 s."""
    if _missing(value):
        return "n/a"
    total = float(value)
    if total < 60:
        return f"{total:.1f} s"
    minutes, rest = divmod(int(round(total)), 60)
    return f"{minutes} min {rest:02d} s"
