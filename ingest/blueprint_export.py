"""Export `main.dim_blueprints` as the `blueprint.v1` contract: JSONL and Parquet for the backtest engine.

The contract is `spec/contracts/blueprint.v1.schema.json` (JSON Schema Draft 2020-12). The export
fails closed: every row is checked against the contract, plus the rules JSON Schema cannot express
(finite numbers, real timestamps, holdout after discovery, provenance digests present, one phase 2
run per export), before anything is written. A bad row raises `BlueprintContractError`, which names
the blueprint, the field and the fix, and leaves the output folder as it was.

    from ingest.blueprint_export import export_blueprints
    export = export_blueprints(data_root / "warehouse.duckdb", data_root / "blueprints")
    # -> <out_dir>/<phase2_run_id>/blueprints.jsonl and blueprints.parquet

Both files are written under temporary names in the target folder and renamed into place only
after both were written, so an interrupted export never leaves a half-written file or replaces an
earlier good export with a partial one.
"""

from __future__ import annotations

import json
import math
import os
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from jsonschema import Draft202012Validator

PROJECT_DIR = Path(__file__).resolve().parents[1]
CONTRACT_PATH = PROJECT_DIR / "spec" / "contracts" / "blueprint.v1.schema.json"
CONTRACT_VERSION = "blueprint.v1"
TABLE = "main.dim_blueprints"
JSONL_NAME = "blueprints.jsonl"
PARQUET_NAME = "blueprints.parquet"
DIGEST_FIELDS = ("ontology_spec_hash", "cost_config_digest", "candidate_plan_hash")
REMEDY = ("Nothing was written. Fix the model that builds main.dim_blueprints, rebuild dim_blueprints "
          "(dbt build -s dim_blueprints) and export again.")
MAX_LISTED = 25
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
_SAFE_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class BlueprintContractError(ValueError):
    """The blueprints (or the table holding them) break the blueprint.v1 contract; nothing was written.

    `violations` holds one readable message per problem; the exception message lists them."""

    def __init__(self, message: str, violations: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.violations = tuple(violations)


@dataclass(frozen=True)
class BlueprintExport:
    """Where an export went and how many blueprints it holds."""

    run_id: str
    directory: Path
    jsonl_path: Path
    parquet_path: Path
    row_count: int


def load_contract(path: Path = CONTRACT_PATH) -> dict[str, Any]:
    """The blueprint.v1 JSON Schema, checked to be a valid Draft 2020-12 schema that is consistent
    with itself (the column order lives in `required`, so it must list exactly the properties, and
    every property must name its DuckDB type), so a broken contract fails before any data is judged."""
    contract: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(contract)
    problems: list[str] = []
    if contract.get("version") != CONTRACT_VERSION:
        problems.append(f"version is {contract.get('version')!r}, expected {CONTRACT_VERSION!r}")
    properties = contract.get("properties", {})
    if list(properties) != list(contract.get("required", [])):
        problems.append("`required` must list every property, in column order")
    if contract.get("additionalProperties") is not False:
        problems.append("additionalProperties must be false")
    problems += [f"property {name} has no x-duckdb-type" for name, sub in properties.items()
                 if not isinstance(sub.get("x-duckdb-type"), str)]
    if problems:
        raise BlueprintContractError(f"{path}: not a usable {CONTRACT_VERSION} contract: " + "; ".join(problems),
                                     problems)
    return contract


def contract_columns(contract: dict[str, Any]) -> list[tuple[str, str]]:
    """(column, DuckDB type) in contract column order: the table's, the JSONL keys' and the Parquet's."""
    return [(name, contract["properties"][name]["x-duckdb-type"]) for name in contract["required"]]


def validate_blueprint(row: dict[str, Any], contract: dict[str, Any] | None = None) -> list[str]:
    """Every way one JSON-ready blueprint (timestamps as 'Z' strings) breaks blueprint.v1, as
    'field: what is wrong' messages in column order; empty when the row is valid.

    Covers the JSON Schema and the rules it cannot express. Pass `contract` to avoid re-reading it."""
    contract = contract if contract is not None else load_contract()
    return _row_violations(row, contract, Draft202012Validator(contract))


def export_blueprints(database: Path, out_dir: Path, run_id: str | None = None) -> BlueprintExport:
    """Validate every row of main.dim_blueprints against blueprint.v1 and only then write
    `<out_dir>/<run_id>/blueprints.jsonl` and `blueprints.parquet` (rows sorted by blueprint_id,
    columns in contract order).

    `run_id` defaults to the rows' phase2_run_id; it must be given when the table is empty (an
    empty export is valid). Raises `BlueprintContractError` (nothing written) when the table or any
    row breaks the contract, a provenance digest is NULL, or the rows span several phase 2 runs."""
    database, out_dir = Path(database), Path(out_dir)
    if run_id is not None:
        _check_run_id(run_id)
    contract = load_contract()
    columns = contract_columns(contract)
    arrow = _read_table(database, columns)
    rows = [{name: _json_ready(value) for name, value in record.items()} for record in arrow.to_pylist()]

    violations = _rows_violations(rows, contract)
    if violations:
        raise _contract_error(database, f"{TABLE} breaks {CONTRACT_VERSION} ({len(violations)} problem(s) "
                                        f"in {len(rows)} row(s))", violations)
    if run_id is None:
        if not rows:
            raise ValueError(f"{database}: {TABLE} is empty, so no phase2_run_id names the export; "
                             f"pass run_id explicitly to write an empty export")
        run_id = str(rows[0]["phase2_run_id"])
        _check_run_id(run_id)
    lines = [json.dumps(row, ensure_ascii=False, allow_nan=False) for row in rows]
    directory = out_dir / run_id
    jsonl_path, parquet_path = _write_atomically(directory, lines, arrow, contract)
    return BlueprintExport(run_id=run_id, directory=directory, jsonl_path=jsonl_path,
                           parquet_path=parquet_path, row_count=len(rows))


def _read_table(database: Path, columns: list[tuple[str, str]]) -> pa.Table:
    """The table as Arrow, columns in contract order, sorted by blueprint_id; the table's columns
    and DuckDB types are checked first (a wrong type would change the Parquet schema silently)."""
    if not database.is_file():
        raise FileNotFoundError(f"{database}: no warehouse file; build the warehouse and dim_blueprints first")
    conn = duckdb.connect(str(database), read_only=True)
    try:
        found = conn.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_catalog = current_database() and table_schema = 'main' and table_name = 'dim_blueprints' "
            "order by ordinal_position").fetchall()
        if not found:
            raise BlueprintContractError(f"{database}: there is no table {TABLE}; build it "
                                         f"(dbt build -s dim_blueprints) before exporting blueprints")
        problems = _table_violations(found, columns)
        if problems:
            raise _contract_error(database, f"the columns of {TABLE} do not match {CONTRACT_VERSION}", problems)
        select_list = ", ".join('"' + name.replace('"', '""') + '"' for name, _ in columns)
        return conn.sql(f"select {select_list} from {TABLE} order by blueprint_id").to_arrow_table()
    finally:
        conn.close()


def _table_violations(found: Iterable[tuple[str, str]], columns: list[tuple[str, str]]) -> list[str]:
    """Missing, extra and wrongly typed columns, each naming the column."""
    actual = dict(found)
    expected = dict(columns)
    problems = [f"{name}: column missing from {TABLE} ({CONTRACT_VERSION} requires it, type {kind})"
                for name, kind in columns if name not in actual]
    problems += [f"{name}: column is not part of {CONTRACT_VERSION} (drop it from the model, or publish a new "
                 f"contract version)" for name in actual if name not in expected]
    problems += [f"{name}: column has DuckDB type {actual[name]}, {CONTRACT_VERSION} requires {kind}"
                 for name, kind in columns if name in actual and actual[name].upper() != kind.upper()]
    return problems


def _rows_violations(rows: list[dict[str, Any]], contract: dict[str, Any]) -> list[str]:
    """Per-row violations labelled with the blueprint, plus the checks across rows (unique
    blueprint_id, a single phase2_run_id)."""
    validator = Draft202012Validator(contract)
    violations: list[str] = []
    for number, row in enumerate(rows, start=1):
        label = _row_label(row, number)
        violations += [f"{label}: {message}" for message in _row_violations(row, contract, validator)]
    counts = Counter(row.get("blueprint_id") for row in rows)
    violations += [f"blueprint {blueprint_id}: blueprint_id: appears {count} times; blueprint_id must be unique"
                   for blueprint_id, count in sorted(counts.items(), key=lambda item: str(item[0])) if count > 1]
    run_ids = sorted({str(row["phase2_run_id"]) for row in rows if row.get("phase2_run_id") is not None})
    if len(run_ids) > 1:
        violations.append(f"all rows: phase2_run_id: the rows carry {len(run_ids)} phase 2 runs ({', '.join(run_ids)}); "
                          f"an export holds the blueprints of exactly one run")
    return violations


def _row_label(row: dict[str, Any], number: int) -> str:
    blueprint_id = row.get("blueprint_id")
    if isinstance(blueprint_id, str) and blueprint_id and not _CONTROL_CHARACTER.search(blueprint_id):
        return f"blueprint {blueprint_id} (row {number})"
    return f"row {number} (blueprint_id {blueprint_id!r})"


def _row_violations(row: Any, contract: dict[str, Any], validator: Draft202012Validator) -> list[str]:
    """Schema violations and the extra rules for one row, 'field: message', in column order."""
    if not isinstance(row, dict):
        return [f"(row): expected an object with the {CONTRACT_VERSION} columns, got {type(row).__name__}"]
    order = {name: index for index, name in enumerate(contract["required"])}
    found: list[tuple[str, str]] = []
    reported: set[str] = set()

    def report(field: str, message: str, suppress_schema: bool = False) -> None:
        found.append((field, message))
        if suppress_schema:
            reported.add(field)

    for name in contract["required"]:
        if name not in row:
            report(name, f"{name}: missing ({CONTRACT_VERSION} requires every column; null where nullable)", True)
    for name in row:
        if name not in order:
            report(str(name), f"{name}: not a {CONTRACT_VERSION} column (no additional properties allowed)", True)
    for name in DIGEST_FIELDS:
        if name in row and row[name] is None:
            report(name, f"{name}: is NULL; every blueprint must carry its provenance digests "
                         f"({', '.join(DIGEST_FIELDS)})", True)
    for name, value in row.items():
        bad_number = _first_non_finite(value)
        if bad_number is not None:
            report(str(name), f"{name}: {bad_number} is not a finite number (JSON cannot carry NaN or Infinity)", True)
        bad_text = _first_with_control_character(value)
        if bad_text is not None:
            report(str(name), f"{name}: {bad_text!r} contains a control character (newline, tab, NUL, ...)", True)

    for error in validator.iter_errors(row):
        if error.validator in ("required", "additionalProperties"):
            continue  # reported above, by name
        path = list(error.absolute_path)
        field = str(path[0]) if path else "(row)"
        if field in reported:
            continue
        where = field + "".join(f"[{part}]" for part in path[1:])
        message = f"{where}: {error.message}"
        if error.schema_path and error.schema_path[0] == "allOf":
            rule = contract["allOf"][error.schema_path[1]].get("description")
            message += f" ({rule})" if rule else ""
        report(field, message)

    for field, message in _cross_field_violations(row, contract):
        if field not in reported:
            report(field, message)

    unique = list(dict.fromkeys(found))
    unique.sort(key=lambda item: order.get(item[0], len(order)))
    return [message for _, message in unique]


def _cross_field_violations(row: dict[str, Any], contract: dict[str, Any]) -> list[tuple[str, str]]:
    """The rules JSON Schema cannot express: real instants, window order, de-overlapped <= raw counts."""
    problems: list[tuple[str, str]] = []
    instants: dict[str, datetime] = {}
    pattern = re.compile(contract["$defs"]["utc_timestamp"]["pattern"])
    for name, sub in contract["properties"].items():
        value = row.get(name)
        if sub.get("x-duckdb-type") != "TIMESTAMP" or not isinstance(value, str) or not pattern.fullmatch(value):
            continue  # wrong shape is the schema's message
        try:
            instants[name] = datetime.fromisoformat(value)
        except ValueError as exc:
            problems.append((name, f"{name}: {value!r} is not a real UTC instant ({exc})"))

    def ordered(earlier: str, later: str, strict: bool, why: str) -> None:
        if earlier in instants and later in instants:
            a, b = instants[earlier], instants[later]
            if a > b or (strict and a == b):
                relation = "after" if strict else "at or after"
                problems.append((later, f"{later}: {row[later]} is not {relation} {earlier} {row[earlier]}; {why}"))

    ordered("discovery_start", "discovery_end", False, "the discovery window is reversed")
    ordered("discovery_end", "holdout_start", True,
            "the holdout must start after the discovery window ends (no overlap)")
    ordered("holdout_start", "holdout_end", False, "the holdout window is reversed")
    for prefix in ("discovery", "holdout"):
        raw, deoverlapped = row.get(f"{prefix}_n"), row.get(f"{prefix}_n_deoverlapped")
        if _is_int(raw) and _is_int(deoverlapped) and deoverlapped > raw:
            problems.append((f"{prefix}_n_deoverlapped",
                             f"{prefix}_n_deoverlapped: {deoverlapped} exceeds {prefix}_n {raw}; de-overlapping "
                             f"can only drop observations"))
    return problems


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _first_non_finite(value: Any) -> float | None:
    if isinstance(value, float):
        return None if math.isfinite(value) else value
    if isinstance(value, list):
        return next((item for item in (_first_non_finite(v) for v in value) if item is not None), None)
    return None


def _first_with_control_character(value: Any) -> str | None:
    if isinstance(value, str):
        return value if _CONTROL_CHARACTER.search(value) else None
    if isinstance(value, list):
        return next((item for item in (_first_with_control_character(v) for v in value) if item is not None), None)
    return None


def _json_ready(value: Any) -> Any:
    """DuckDB/Arrow value -> JSON value: naive-UTC timestamps become ISO-8601 strings with 'Z'."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat() + "Z"
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return value


def _check_run_id(run_id: str) -> None:
    """The run id names a folder: one safe path component, never '..' or a path."""
    if not isinstance(run_id, str) or not _SAFE_RUN_ID.fullmatch(run_id):
        raise ValueError(f"run id {run_id!r} cannot name an export folder: use letters, digits, '.', '_' or '-' "
                         f"(at most 128, starting with a letter or digit)")


def _contract_error(database: Path, headline: str, violations: Sequence[str]) -> BlueprintContractError:
    listed = [f"  - {message}" for message in violations[:MAX_LISTED]]
    if len(violations) > MAX_LISTED:
        listed.append(f"  ... and {len(violations) - MAX_LISTED} more")
    return BlueprintContractError(f"{database}: {headline}:\n" + "\n".join(listed) + f"\n{REMEDY}", violations)


def _write_atomically(directory: Path, lines: list[str], arrow: pa.Table,
                      contract: dict[str, Any]) -> tuple[Path, Path]:
    """Write both files under temporary names in `directory`, fsync them, and rename them into place
    only when both succeeded; on failure remove the temporaries (and any folder this call created)."""
    created = [folder for folder in (directory, *directory.parents) if not folder.exists()]
    directory.mkdir(parents=True, exist_ok=True)
    token = f"{os.getpid()}-{uuid.uuid4().hex}"
    jsonl_path, parquet_path = directory / JSONL_NAME, directory / PARQUET_NAME
    jsonl_tmp = directory / f".{JSONL_NAME}.{token}.tmp"
    parquet_tmp = directory / f".{PARQUET_NAME}.{token}.tmp"
    try:
        with open(jsonl_tmp, "x", encoding="utf-8", newline="\n") as handle:
            handle.writelines(line + "\n" for line in lines)
            handle.flush()
            os.fsync(handle.fileno())
        metadata = {**(arrow.schema.metadata or {}), b"blueprint_contract": contract["version"].encode(),
                    b"blueprint_contract_id": contract["$id"].encode()}
        pq.write_table(arrow.replace_schema_metadata(metadata), parquet_tmp, compression="zstd")
        with open(parquet_tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(parquet_tmp, parquet_path)
        os.replace(jsonl_tmp, jsonl_path)
    except BaseException:
        jsonl_tmp.unlink(missing_ok=True)
        parquet_tmp.unlink(missing_ok=True)
        for folder in created:  # innermost first
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    _fsync_directory(directory)
    return jsonl_path, parquet_path


def _fsync_directory(directory: Path) -> None:
    """Make the renames durable where the platform allows fsync on a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
