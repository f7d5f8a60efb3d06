"""`backtest run`: one command from raw data to a report a researcher reads.

Stages, each timed and announced: ingest (a Binance archive URL, a local folder laid out like
it, or the embedded demo market), `dbt build` (every model and test; incremental where the models
are), the export (discovery, bridge and backtest tables as Parquet, blueprints validated against
their contract), the report (summary.json, summary.md, report.html) and the run manifest
(`reports/<run_id>/run_manifest.json`, then `fct_run_manifest` and `fct_run_stages` rebuilt from
every manifest under reports/). The whole run holds the warehouse lock, so a second run against the
same data root stops at once with "in use by run X" and changes nothing.

A failed stage still leaves a manifest with status `failed`, the stage that failed and the error,
so a broken run is as inspectable as a good one."""

from __future__ import annotations

import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from ingest.archive_source import LocalFolderSource, open_source
from ingest.discovery_export import (ALPHA_EXPORTED, BACKTEST_EXPORTED, DISCOVERY_SELECTION, EXPORTED,
                                     describe_discovery, export_discovery)
from ingest.ingest_run import IngestReport
from ingest.pipeline import (ArchiveWindow, DemoSettings, PipelineError, archive_window, dbt_failure, dbt_invocation,
                             ingest_window, prepare_demo_archive)
from ingest.run_manifest import (MANIFEST_NAME, DbtOutcome, StageRecord, build_manifest, dbt_outcome, utc_now,
                                 warehouse_facts, write_manifest)
from ingest.warehouse_lock import warehouse_lock

SCOPES = ("all", "discovery")
MANIFEST_TAG = "run_manifest"
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class RunRequestError(ValueError):
    """The run was asked for something it cannot do; nothing was started."""


@dataclass(frozen=True)
class RunRequest:
    """What `backtest run` was asked to do. `source` None means the demo market; `scope`
    'discovery' skips the ingest and rebuilds only the discovery, bridge and backtest models."""

    data_root: Path
    source: str | None = None
    symbols: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None
    run_id: str | None = None
    scope: str = "all"
    full_refresh: bool = False
    demo: DemoSettings = field(default_factory=DemoSettings)


@dataclass(frozen=True)
class RunResult:
    run_id: str
    directory: Path
    manifest: dict[str, Any]


def new_run_id() -> str:
    """A sortable, readable id: the UTC start time to the second."""
    return "run-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def check_request(request: RunRequest) -> None:
    if request.scope not in SCOPES:
        raise RunRequestError(f"scope '{request.scope}' is not one of {', '.join(SCOPES)}")
    if request.run_id is not None and not _RUN_ID.fullmatch(request.run_id):
        raise RunRequestError(f"run id '{request.run_id}' must be 1-128 characters of letters, digits, '.', '_' "
                              f"or '-', starting with a letter or digit")
    if request.start and request.end and request.start > request.end:
        raise RunRequestError(f"--start {request.start} is after --end {request.end}")
    remote = request.source is not None and "://" in request.source
    if remote and not (request.symbols and request.start and request.end):
        raise RunRequestError(f"a URL source ({request.source}) needs --symbols, --start and --end: the archive "
                              f"cannot be listed")


class StageLog:
    """Times and announces each stage and keeps the records the manifest needs."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.records: list[StageRecord] = []

    @contextmanager
    def stage(self, name: str, description: str) -> Iterator[dict[str, Any]]:
        self.say(f"==> {name}: {description}")
        detail: dict[str, Any] = {}
        started_at, started = utc_now(), time.perf_counter()
        try:
            yield detail
        except BaseException:
            self.records.append(StageRecord(name, started_at, round(time.perf_counter() - started, 3), "failed", detail))
            raise
        seconds = time.perf_counter() - started
        self.records.append(StageRecord(name, started_at, round(seconds, 3), "succeeded", detail))
        self.say(f"    {name}: done in {seconds:.1f}s")


def _window(request: RunRequest, archive: Path | None) -> ArchiveWindow:
    """The symbols and days to ingest: what was asked, filled in from a local archive's own layout."""
    if archive is None:
        assert request.start and request.end
        return ArchiveWindow(tuple(request.symbols), request.start, request.end)
    held = archive_window(archive)
    symbols = tuple(request.symbols) or held.symbols
    missing = sorted(set(symbols) - set(held.symbols))
    if missing:
        raise RunRequestError(f"{archive} holds no futures klines for {', '.join(missing)}; it has "
                              f"{', '.join(held.symbols)}")
    return ArchiveWindow(symbols, request.start or held.start, request.end or held.end)


def _ingest_detail(reports: Sequence[IngestReport]) -> dict[str, Any]:
    statuses = ("ingested", "unchanged", "not_published", "quarantined", "failed")
    return {"archives": {status: sum(report.count(status) for report in reports) for status in statuses},
            "rows_written": sum(report.rows_written for report in reports)}


def _period_start(period: str) -> date | None:
    try:
        return date.fromisoformat(period + "-01" if len(period) == 7 else period)
    except ValueError:
        return None


def rewritten_history(reports: Sequence[IngestReport], warehouse: Path) -> list[str]:
    """Archives this ingest wrote for days the warehouse has already built (per symbol, up to its
    last bar in fct_bars): incremental models never look back at those, so the build must be a full
    refresh. A late monthly funding archive is the everyday case."""
    written = [outcome.ref for report in reports for outcome in report.outcomes if outcome.status == "ingested"]
    if not written or not warehouse.exists():
        return []
    import duckdb

    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        last_day = dict(conn.execute("select symbol, cast(max(ts) as date) from fct_bars group by symbol").fetchall())
    except duckdb.CatalogException:
        return []
    finally:
        conn.close()
    return sorted(ref.path for ref in written
                  if ref.symbol in last_day and (start := _period_start(ref.period)) is not None
                  and start <= last_day[ref.symbol])


def _ingest(request: RunRequest, data_root: Path, detail: dict[str, Any], say: Callable[[str], None]) -> list[str]:
    """Ingest the request's window; returns the archives that rewrote already-built history."""
    if request.source is None:
        archive: Path | None = prepare_demo_archive(data_root, request.demo, say)
        source = LocalFolderSource(archive)
        detail["source"] = f"demo market ({archive})"
    elif "://" in request.source:
        archive, source = None, open_source(request.source)
        detail["source"] = request.source
    else:
        archive = Path(request.source).resolve()
        if not archive.is_dir():
            raise RunRequestError(f"source folder {archive} does not exist")
        source = LocalFolderSource(archive)
        detail["source"] = str(archive)
    window = _window(request, archive)
    detail.update(symbols=list(window.symbols), start=window.start.isoformat(), end=window.end.isoformat())
    say(f"    {len(window.symbols)} symbols, {window.start} .. {window.end}")
    reports = ingest_window(source, window, data_root, say)
    detail.update(_ingest_detail(reports))
    rewritten = rewritten_history(reports, data_root / "warehouse.duckdb")
    if rewritten:
        detail["rewrote_built_history"] = rewritten[:20]
        say(f"    {len(rewritten)} archive(s) rewrote days the warehouse already built (e.g. {rewritten[0]}): "
            f"the build will be a full refresh")
    return rewritten


def _dbt(command: list[str], data_root: Path, outcomes: list[DbtOutcome], detail: dict[str, Any]) -> None:
    (data_root / "target" / "run_results.json").unlink(missing_ok=True)  # never read an earlier invocation's
    code, run_results = dbt_invocation(command, data_root)
    if run_results.exists():
        outcome = dbt_outcome(run_results, " ".join(command))
        outcomes.append(outcome)
        detail.update(invocation_id=outcome.invocation_id, models=outcome.models, tests=outcome.tests)
        if outcome.failed_nodes:
            detail["failed_nodes"] = list(outcome.failed_nodes)
    if code != 0:
        raise dbt_failure(command, code, data_root)


def _build_command(request: RunRequest, full_refresh: bool) -> list[str]:
    """Models and their data tests. dbt unit tests prove the SQL on fixed rows, not the data, so a
    run leaves them to `make test` (and to a plain `dbt build`), as dbt's docs advise for production."""
    if request.scope == "discovery":
        command = ["build", "-s", *DISCOVERY_SELECTION, "--exclude", f"tag:{MANIFEST_TAG}"]
    else:
        command = ["build", "--exclude", f"tag:{MANIFEST_TAG}"]
    return command + ["--exclude-resource-type", "unit_test"] + (["--full-refresh"] if full_refresh else [])


def _export(data_root: Path, run_id: str, detail: dict[str, Any], say: Callable[[str], None]) -> None:
    folder, summary = export_discovery(data_root, run_id=run_id, tables=EXPORTED + BACKTEST_EXPORTED + ALPHA_EXPORTED)
    detail.update(blueprints=summary["blueprints"], files=sorted(p.name for p in folder.iterdir() if p.is_file()))
    describe_discovery(summary, folder, say)


def _report(data_root: Path, run_id: str, manifest: dict[str, Any], detail: dict[str, Any],
            say: Callable[[str], None]) -> None:
    from ingest.reporting import write_report

    files = write_report(data_root, run_id, manifest)
    detail.update(files=sorted(path.name for path in files.paths), figures=files.figures)
    say(f"    report: {files.report_html} ({files.figures} figures)")


def _manifest(*, request: RunRequest, run_id: str, argv: Sequence[str], started_at: str, status: str,
              error: str | None, stages: StageLog, outcomes: Sequence[DbtOutcome], data_root: Path) -> dict[str, Any]:
    request_fields = {key: (str(value) if isinstance(value, (Path, date)) else value)
                      for key, value in asdict(request).items() if key not in ("data_root", "demo")}
    request_fields["data_root"] = str(data_root)
    if request.source is None:
        request_fields["demo"] = asdict(request.demo)
    return build_manifest(run_id=run_id, command=argv, started_at=started_at, status=status, error=error,
                          request=request_fields, stages=stages.records, dbt_runs=outcomes,
                          facts=warehouse_facts(data_root / "warehouse.duckdb"))


def run_research(request: RunRequest, say: Callable[[str], None] = print,
                 argv: Sequence[str] | None = None) -> RunResult:
    """Run every stage for `request`; raises RunRequestError (bad request, nothing done),
    WarehouseBusy (another run holds the warehouse, nothing done) or PipelineError (a stage failed;
    the manifest says which)."""
    check_request(request)
    data_root = request.data_root.resolve()
    run_id = request.run_id or new_run_id()
    directory = data_root / "reports" / run_id
    argv = list(argv if argv is not None else sys.argv)
    with warehouse_lock(data_root, run_id):
        if (directory / MANIFEST_NAME).exists():
            raise RunRequestError(f"run {run_id} already exists ({directory / MANIFEST_NAME}); choose another "
                                  f"--run-id (runs are never overwritten)")
        started_at, started = utc_now(), time.perf_counter()
        say(f"run {run_id}: data root {data_root}")
        stages, outcomes = StageLog(say), []
        try:
            rewritten: list[str] = []
            if request.scope == "all":
                with stages.stage("ingest", "archives -> Parquet lake (checksums verified)") as detail:
                    rewritten = _ingest(request, data_root, detail, say)
            full_refresh = request.full_refresh or bool(rewritten)
            with stages.stage("dbt build", "models and their tests" + (" (full refresh)" if full_refresh
                                                                        else "")) as detail:
                detail["full_refresh"] = full_refresh
                _dbt(_build_command(request, full_refresh), data_root, outcomes, detail)
            with stages.stage("export", "tables to Parquet, blueprints validated against blueprint.v1") as detail:
                _export(data_root, run_id, detail, say)
            with stages.stage("report", "summary.json, summary.md, report.html") as detail:
                partial = _manifest(request=request, run_id=run_id, argv=argv, started_at=started_at,
                                    status="running", error=None, stages=stages, outcomes=outcomes, data_root=data_root)
                _report(data_root, run_id, partial, detail, say)
        except (PipelineError, RunRequestError, OSError, ValueError, RuntimeError) as exc:
            manifest = _manifest(request=request, run_id=run_id, argv=argv, started_at=started_at, status="failed",
                                 error=f"{type(exc).__name__}: {exc}", stages=stages, outcomes=outcomes,
                                 data_root=data_root)
            manifest["traceback"] = traceback.format_exc(limit=8)
            path = write_manifest(directory, manifest)
            say(f"run {run_id}: FAILED in stage '{stages.records[-1].name if stages.records else '?'}'; "
                f"manifest {path}")
            raise PipelineError(f"run {run_id} failed: {exc}") from exc
        manifest = _manifest(request=request, run_id=run_id, argv=argv, started_at=started_at, status="succeeded",
                             error=None, stages=stages, outcomes=outcomes, data_root=data_root)
        path = write_manifest(directory, manifest)
        manifest_outcomes: list[DbtOutcome] = []
        _dbt(["build", "-s", f"tag:{MANIFEST_TAG}"], data_root, manifest_outcomes, {})
        say(f"run {run_id}: finished in {time.perf_counter() - started:.0f}s; tests {manifest['tests']}")
        say(f"  manifest:  {path}")
        say(f"  report:    {directory / 'report.html'}")
        say(f"  warehouse: {data_root / 'warehouse.duckdb'}")
    return RunResult(run_id=run_id, directory=directory, manifest=manifest)
