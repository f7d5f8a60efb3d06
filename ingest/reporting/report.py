"""write_report: read the warehouse (read-only), build every section and write
`<data_root>/reports/<run_id>/summary.json`, `summary.md` and `report.html`.

Why one entry point: the pipeline calls it at the end of a run with the run manifest, and a
researcher can call it on any warehouse without one; either way a section whose table is missing,
empty or unreadable says so in words instead of stopping the report."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from ingest.reporting.document import ERROR, Paragraph, Section
from ingest.reporting.files import write_atomically
from ingest.reporting.html_page import render_html
from ingest.reporting.markdown import render_markdown
from ingest.reporting.sections import alpha, backtest, blueprints, coverage, discovery, event_study, events, run
from ingest.reporting.summary import build_summary
from ingest.reporting.warehouse import WAREHOUSE_FILE, Warehouse, open_warehouse

REPORTS_DIR = "reports"
SUMMARY_JSON, SUMMARY_MD, REPORT_HTML = "summary.json", "summary.md", "report.html"
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""A run id becomes a folder name: letters, digits, '.', '_' and '-', not starting with a dot."""

WAREHOUSE_SECTIONS: tuple[tuple[str, str, Callable[[Warehouse], Section]], ...] = (
    (coverage.KEY, coverage.TITLE, coverage.build),
    (events.KEY, events.TITLE, events.build),
    (event_study.KEY, event_study.TITLE, event_study.build),
    (discovery.KEY, discovery.TITLE, discovery.build),
    (blueprints.KEY, blueprints.TITLE, blueprints.build),
    (backtest.KEY, backtest.TITLE, backtest.build),
    (alpha.KEY, alpha.TITLE, alpha.build),
)
"""The sections read from the warehouse, in report order (the run section comes first)."""


@dataclass(frozen=True)
class ReportFiles:
    """Where the report was written, and how many figures it holds."""

    directory: Path
    summary_json: Path
    summary_md: Path
    report_html: Path
    figures: int

    @property
    def paths(self) -> tuple[Path, Path, Path]:
        return self.summary_json, self.summary_md, self.report_html


def _guarded(key: str, title: str, build: Callable[[Warehouse], Section], warehouse: Warehouse) -> Section:
    """The section, or one that says why it could not be read (a broken view, an unexpected schema)."""
    try:
        return build(warehouse)
    except (duckdb.Error, KeyError, TypeError, ValueError) as error:
        text = f"This section could not be read from the warehouse: {type(error).__name__}: {error}".strip()
        return Section(key, title, (Paragraph(text),), ERROR, {"status": ERROR, "reason": text}, text)


def build_sections(warehouse: Warehouse, run_id: str, manifest: Mapping[str, Any] | None) -> list[Section]:
    """Every section of the report, in order."""
    return [run.build(manifest, run_id),
            *(_guarded(key, title, build, warehouse) for key, title, build in WAREHOUSE_SECTIONS)]


def write_report(data_root: Path, run_id: str, manifest: Mapping[str, Any] | None = None) -> ReportFiles:
    """Write summary.json, summary.md and report.html under `<data_root>/reports/<run_id>/`.

    Raises FileNotFoundError when `<data_root>/warehouse.duckdb` does not exist and ValueError for a
    run id that is not a plain folder name."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        raise ValueError(f"run id {run_id!r} is not a plain folder name ([A-Za-z0-9._-], not starting with '.')")
    data_root = Path(data_root)
    generated_at = datetime.now(timezone.utc).replace(microsecond=0)
    with open_warehouse(data_root) as warehouse:
        sections = build_sections(warehouse, run_id, manifest)
    directory = data_root / REPORTS_DIR / run_id
    names = (SUMMARY_JSON, SUMMARY_MD, REPORT_HTML)
    summary = build_summary(sections, run_id, generated_at, WAREHOUSE_FILE, names)
    html = render_html(sections, run_id, generated_at, WAREHOUSE_FILE)
    write_atomically({
        directory / SUMMARY_JSON: json.dumps(summary, indent=2, allow_nan=False) + "\n",
        directory / SUMMARY_MD: render_markdown(summary),
        directory / REPORT_HTML: html,
    })
    return ReportFiles(directory, directory / SUMMARY_JSON, directory / SUMMARY_MD, directory / REPORT_HTML,
                       figures=summary["figures"])
