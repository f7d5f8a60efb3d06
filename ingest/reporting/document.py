"""The report as data: sections made of paragraphs, key figures, tables and plots, plus the
headline numbers (facts) each section contributes to summary.json.

Why a neutral model: the same sections are written as HTML (with plots) and as Markdown (without),
and the tests can inspect a section without parsing either."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Paragraph:
    """Running text (plain, escaped when written)."""

    text: str


@dataclass(frozen=True)
class KeyValues:
    """A short two-column list of headline numbers."""

    rows: Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Table:
    """A data table of pre-formatted cells; numeric columns are right-aligned."""

    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    caption: str = ""
    numeric: Sequence[bool] = ()


@dataclass(frozen=True)
class Plot:
    """One figure: an inline `<svg>` and its caption; `key` names it for tests and anchors."""

    key: str
    svg: str
    caption: str
    wide: bool = False


Block = Paragraph | KeyValues | Table | Plot

OK, MISSING, EMPTY, ERROR = "ok", "missing", "empty", "error"
"""Section status: drawn from data, its table absent, its table without rows, or unreadable."""


@dataclass(frozen=True)
class Section:
    """One titled part of the report."""

    key: str
    title: str
    blocks: Sequence[Block]
    status: str = OK
    facts: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def plots(self) -> list[Plot]:
        return [block for block in self.blocks if isinstance(block, Plot)]


def unavailable(key: str, title: str, table: str, status: str, hint: str = "") -> Section:
    """A section that has nothing to show, saying why in words."""
    reason = (f"The table {table} is not in the warehouse" if status == MISSING
              else f"The table {table} has no rows")
    text = f"{reason}, so this section is empty." + (f" {hint}" if hint else "")
    return Section(key=key, title=title, blocks=(Paragraph(text),), status=status,
                   facts={"status": status, "reason": text}, note=text)
