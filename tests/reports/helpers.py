"""Shared helpers of the report tests: a run manifest shaped like the pipeline's, and a parser that
collects the structure of report.html (sections, figures and what each figure holds)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

SAMPLE_MANIFEST: dict[str, Any] = {
    "run_id": "pytest-run",
    "started_at": "2024-07-01T00:00:00+00:00",
    "finished_at": "2024-07-01T00:06:40+00:00",
    "stages": [{"name": "ingest", "seconds": 12.5, "status": "ok"},
               {"name": "dbt build", "seconds": 380.0, "status": "ok"},
               {"name": "export", "seconds": 7.5, "status": "skipped"}],
    "symbols": ["BNBUSDT", "BTCUSDT", "ETHUSDT", "SOLUSDT"],
    "data_window": {"start": "2024-03-01", "end": "2024-07-01"},
    "ontology_spec_hash": "ab" * 32,
    "cost_config_digest": "cd" * 32,
    "code_version": "0.1.0+gtest",
    "dbt_invocation_id": "00000000-0000-0000-0000-000000000000",
    "tests": {"pass": 480, "fail": 0, "warn": 2, "error": 0, "skip": 1},
    "row_counts": {"fct_bars": 140544, "fct_events": 13459},
}

REQUIRED_PLOTS = (
    "gap-heatmap", "event-prevalence-heatmap", "p-value-histogram", "q-value-volcano", "shrinkage",
    "discovery-counts", "holdout-vs-discovery", "cost-stress-passing", "equity-portfolio", "drawdown-portfolio",
    "walkforward-oos", "psr-dsr", "alpha-equity", "alpha-factor-returns", "alpha-correlations",
)
"""The plots the product owner asked for (event-study curves come on top, one per family)."""

SECTIONS = ("run", "coverage", "events", "event_study", "discovery", "blueprints", "backtest", "alpha")


class PageStructure(HTMLParser):
    """Sections, figures (with the number of <svg> and <figcaption> inside each) and the <body> attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, str] = {}
        self.figures: list[dict[str, Any]] = []
        self.body: dict[str, str] = {}
        self._figure: dict[str, Any] | None = None
        self._svg_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body = attributes
        elif tag == "section":
            self.sections[attributes.get("data-section", "")] = attributes.get("data-status", "")
        elif tag == "figure":
            self._figure = {"plot": attributes.get("data-plot"), "rendered": attributes.get("data-rendered"),
                            "svg": 0, "figcaption": 0, "marks": 0}
            self.figures.append(self._figure)
        elif self._figure is not None:
            if tag == "svg":
                self._figure["svg"] += 1
            elif tag == "figcaption":
                self._figure["figcaption"] += 1
            elif tag == "g" and attributes.get("class") == "marks":
                self._figure["marks"] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._figure = None


def page_structure(html: str) -> PageStructure:
    parser = PageStructure()
    parser.feed(html)
    return parser
