"""The run report (issue 9): `write_report(data_root, run_id, manifest)` reads the warehouse
read-only and writes `reports/<run_id>/summary.json`, `summary.md` and a self-contained
`report.html` with inline SVG plots (see ingest/reporting/report.py)."""

from ingest.reporting.report import ReportFiles, write_report

__all__ = ["ReportFiles", "write_report"]
