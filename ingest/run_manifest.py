"""The run manifest: what a run did, on which data, with which code and spec, and how long each
stage took. Written to `reports/<run_id>/run_manifest.json`; `fct_run_manifest` and
`fct_run_stages` read every manifest under reports/ so runs can be compared with SQL.

Why a file first: the manifest records the dbt build itself (its invocation id, test results and
the row counts it left behind), so it can only be complete after dbt has finished; a JSON file
next to the report is what a researcher opens first, and the warehouse tables are built from it."""

from __future__ import annotations

import json
import os
import platform
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from python_udfs.code_version import code_version

MANIFEST_NAME = "run_manifest.json"
MANIFEST_VERSION = 1
TEST_STATUSES = ("pass", "fail", "warn", "error", "skipped")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class StageRecord:
    """One timed stage of a run; `detail` holds the stage's own counts (files ingested, rows, ...)."""

    name: str
    started_at: str
    seconds: float
    status: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DbtOutcome:
    """What one dbt invocation did, read from its run_results.json."""

    command: str
    invocation_id: str
    dbt_version: str
    elapsed_seconds: float
    models: dict[str, int]
    tests: dict[str, int]
    failed_nodes: tuple[str, ...]


def dbt_outcome(run_results: Path, command: str) -> DbtOutcome:
    """Summarise `target/run_results.json` of the invocation that just ran."""
    results = json.loads(run_results.read_text(encoding="utf-8"))
    models: Counter[str] = Counter()
    tests: Counter[str] = Counter({status: 0 for status in TEST_STATUSES})
    failed = []
    for node in results["results"]:
        kind = node["unique_id"].split(".", 1)[0]
        status = str(node["status"])
        if kind in ("test", "unit_test"):
            tests[status] += 1
        elif kind in ("model", "seed", "snapshot"):
            models[status] += 1
        if status in ("fail", "error"):
            failed.append(node["unique_id"])
    metadata = results["metadata"]
    return DbtOutcome(command=command, invocation_id=str(metadata["invocation_id"]),
                      dbt_version=str(metadata["dbt_version"]), elapsed_seconds=float(results["elapsed_time"]),
                      models=dict(models), tests=dict(tests), failed_nodes=tuple(sorted(failed)))


def _one_row(conn: duckdb.DuckDBPyConnection, sql: str) -> dict[str, Any] | None:
    try:
        cursor = conn.execute(sql)
    except duckdb.CatalogException:
        return None
    row = cursor.fetchone()
    return dict(zip([d[0] for d in cursor.description], row)) if row else None


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else (None if value is None else str(value))


def warehouse_facts(warehouse: Path) -> dict[str, Any]:
    """Row counts of every table, the data window and symbols of fct_bars, and the spec and cost
    digests of the discovery run, read from the warehouse as the run left it."""
    if not warehouse.exists():
        return {"row_counts": {}, "symbols": [], "data_window": None,
                "ontology_spec_hash": None, "cost_config_digest": None, "phase2_run_id": None}
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = [name for (name,) in conn.execute(
            "select table_name from duckdb_tables() where schema_name = 'main' and not temporary "
            "order by table_name").fetchall()]
        row_counts = {name: conn.execute(f'select count(*) from main."{name}"').fetchone()[0] for name in tables}
        bars = _one_row(conn, "select min(ts) as first_bar, max(ts) as last_bar, "
                              "list(distinct symbol order by symbol) as symbols from fct_bars") or {}
        digests = _one_row(conn, "select phase2_run_id, ontology_spec_hash, cost_config_digest "
                                 "from fct_phase2_run_summary") or {}
    finally:
        conn.close()
    window = ({"start": _iso(bars.get("first_bar")), "end": _iso(bars.get("last_bar"))}
              if bars.get("first_bar") is not None else None)
    return {"row_counts": row_counts, "symbols": list(bars.get("symbols") or []), "data_window": window,
            "ontology_spec_hash": digests.get("ontology_spec_hash"),
            "cost_config_digest": digests.get("cost_config_digest"),
            "phase2_run_id": digests.get("phase2_run_id")}


def total_tests(outcomes: Sequence[DbtOutcome]) -> dict[str, int]:
    totals: Counter[str] = Counter({status: 0 for status in TEST_STATUSES})
    for outcome in outcomes:
        totals.update(outcome.tests)
    return dict(totals)


def build_manifest(*, run_id: str, command: Sequence[str], started_at: str, status: str, error: str | None,
                   request: Mapping[str, Any], stages: Sequence[StageRecord], dbt_runs: Sequence[DbtOutcome],
                   facts: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest document (plain JSON types only)."""
    finished_at = utc_now()
    seconds = (datetime.fromisoformat(finished_at) - datetime.fromisoformat(started_at)).total_seconds()
    return {
        "manifest_version": MANIFEST_VERSION,
        "run_id": run_id,
        "status": status,
        "error": error,
        "command": list(command),
        "started_at": started_at,
        "finished_at": finished_at,
        "seconds": round(seconds, 3),
        "request": json.loads(json.dumps(dict(request), default=str)),  # plain JSON types, as on disk
        "stages": [asdict(stage) for stage in stages],
        "symbols": list(facts.get("symbols") or []),
        "data_window": facts.get("data_window"),
        "ontology_spec_hash": facts.get("ontology_spec_hash"),
        "cost_config_digest": facts.get("cost_config_digest"),
        "phase2_run_id": facts.get("phase2_run_id"),
        "code_version": code_version(),
        "dbt_invocation_id": dbt_runs[-1].invocation_id if dbt_runs else None,
        "dbt_invocations": [asdict(outcome) | {"failed_nodes": list(outcome.failed_nodes)} for outcome in dbt_runs],
        "dbt_version": dbt_runs[-1].dbt_version if dbt_runs else None,
        "tests": total_tests(dbt_runs),
        "row_counts": dict(facts.get("row_counts") or {}),
        "host": {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()},
    }


def write_manifest(directory: Path, manifest: Mapping[str, Any]) -> Path:
    """Write run_manifest.json atomically (a reader never sees half a manifest)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / MANIFEST_NAME
    temporary = directory / f".{MANIFEST_NAME}.tmp"
    temporary.write_text(json.dumps(manifest, indent=2, default=str, allow_nan=False) + "\n", encoding="utf-8")
    temporary.replace(target)
    return target
