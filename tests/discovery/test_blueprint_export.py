"""blueprint.v1 export (fast, no dbt): a hand-built dim_blueprints exports to JSONL and Parquet that
validate against the contract (checked with jsonschema directly) and equal the table; every kind of
bad row or table fails closed, names the field, writes nothing and leaves an earlier export alone."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator

from ingest import blueprint_export
from ingest.blueprint_export import (BlueprintContractError, BlueprintExport, export_blueprints, load_contract,
                                     validate_blueprint)

REPO = Path(__file__).resolve().parents[2]
CONTRACT_FILE = REPO / "spec" / "contracts" / "blueprint.v1.schema.json"
RUN_ID = hashlib.sha256(b"phase2 run").hexdigest()

# The table as the warehouse builds it: exact names, DuckDB types and column order.
COLUMNS: list[tuple[str, str]] = [
    ("blueprint_id", "VARCHAR"), ("contract_version", "VARCHAR"), ("candidate_id", "VARCHAR"),
    ("event_type", "VARCHAR"), ("family", "VARCHAR"), ("symbol_scope", "VARCHAR[]"),
    ("side", "VARCHAR"), ("rule_template", "VARCHAR"), ("template_verb", "VARCHAR"),
    ("entry_lag_bars", "INTEGER"), ("entry_execution", "VARCHAR"), ("exit_horizon_bars", "INTEGER"),
    ("exit_stop_bps", "DOUBLE"),
    ("sizing_hint_method", "VARCHAR"), ("sizing_hint_fraction", "DOUBLE"),
    ("state_name", "VARCHAR"), ("state_value", "VARCHAR"),
    ("discovery_n", "BIGINT"), ("discovery_n_deoverlapped", "BIGINT"), ("discovery_mean_bps", "DOUBLE"),
    ("discovery_t_stat", "DOUBLE"), ("discovery_p_value", "DOUBLE"), ("q_value_bh", "DOUBLE"),
    ("q_value_by", "DOUBLE"), ("shrunken_mean_bps", "DOUBLE"),
    ("holdout_n", "BIGINT"), ("holdout_n_deoverlapped", "BIGINT"), ("holdout_mean_bps", "DOUBLE"),
    ("holdout_median_bps", "DOUBLE"), ("holdout_hit_rate", "DOUBLE"), ("holdout_t_stat", "DOUBLE"),
    ("holdout_p_value", "DOUBLE"), ("holdout_sharpe_per_trade", "DOUBLE"), ("deflated_sharpe_ratio", "DOUBLE"),
    ("n_trials", "BIGINT"), ("max_stress_multiplier_passed", "DOUBLE"),
    ("promotion_track", "VARCHAR"),
    ("phase2_run_id", "VARCHAR"), ("discovery_start", "TIMESTAMP"), ("discovery_end", "TIMESTAMP"),
    ("holdout_start", "TIMESTAMP"), ("holdout_end", "TIMESTAMP"), ("embargo_bars", "INTEGER"),
    ("ontology_spec_hash", "VARCHAR"), ("cost_config_digest", "VARCHAR"), ("candidate_plan_hash", "VARCHAR"),
    ("code_version", "VARCHAR"),
]
NAMES = [name for name, _ in COLUMNS]


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def valid_row(index: int) -> dict[str, Any]:
    """A plausible promoted blueprint; index varies the id and a few fields."""
    conditioned = index % 2 == 1
    return {
        "blueprint_id": md5(f"blueprint {index}"), "contract_version": "blueprint.v1",
        "candidate_id": md5(f"candidate {index}"),
        "event_type": "VOL_SPIKE", "family": "VOLATILITY_TRANSITION",
        "symbol_scope": ["BTCUSDT", "ETHUSDT"] if index % 3 else ["1000PEPEUSDT"],
        "side": ["event_direction", "against_event_direction", "long", "short"][index % 4],
        "rule_template": "reversal", "template_verb": "reversal",
        "entry_lag_bars": 1, "entry_execution": "taker_at_open", "exit_horizon_bars": 12 * (index + 1),
        "exit_stop_bps": None if conditioned else 85.5,
        "sizing_hint_method": "fixed_fraction", "sizing_hint_fraction": 0.25,
        "state_name": "vol_regime" if conditioned else "all", "state_value": "high" if conditioned else "all",
        "discovery_n": 412 + index, "discovery_n_deoverlapped": 398, "discovery_mean_bps": 7.25 + index,
        "discovery_t_stat": 3.1, "discovery_p_value": 0.001, "q_value_bh": 0.02, "q_value_by": 0.09,
        "shrunken_mean_bps": None if conditioned else 5.5,
        "holdout_n": 120, "holdout_n_deoverlapped": 117, "holdout_mean_bps": 4.0, "holdout_median_bps": 3.0,
        "holdout_hit_rate": 0.56, "holdout_t_stat": 2.2, "holdout_p_value": 0.014,
        "holdout_sharpe_per_trade": 0.11, "deflated_sharpe_ratio": 0.97, "n_trials": 1344,
        "max_stress_multiplier_passed": None if conditioned else 2.0,
        "promotion_track": "fallback_only" if conditioned else "standard",
        "phase2_run_id": RUN_ID,
        "discovery_start": datetime(2023, 1, 1), "discovery_end": datetime(2023, 12, 31, 23, 55),
        "holdout_start": datetime(2024, 1, 1, 2, 0), "holdout_end": datetime(2024, 6, 30, 23, 55, 0, 250000),
        "embargo_bars": 24,
        "ontology_spec_hash": sha256("spec"), "cost_config_digest": sha256("costs"),
        "candidate_plan_hash": sha256("plan"), "code_version": "74a3cd7",
    }


def build_database(folder: Path, rows: list[dict[str, Any]], name: str = "warehouse.duckdb") -> Path:
    """A DuckDB file holding main.dim_blueprints with the contract's exact column types."""
    path = folder / name
    conn = duckdb.connect(str(path))
    conn.execute("create table main.dim_blueprints ("
                 + ", ".join(f"{column} {kind}" for column, kind in COLUMNS) + ")")
    if rows:
        conn.executemany(f"insert into main.dim_blueprints values ({', '.join('?' for _ in NAMES)})",
                         [[row[name] for name in NAMES] for row in rows])
    conn.close()
    return path


def alter(database: Path, *statements: str) -> None:
    conn = duckdb.connect(str(database))
    for statement in statements:
        conn.execute(statement)
    conn.close()


def table_rows(database: Path) -> list[dict[str, Any]]:
    conn = duckdb.connect(str(database), read_only=True)
    cursor = conn.execute("select * from main.dim_blueprints order by blueprint_id")
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, record)) for record in cursor.fetchall()]
    conn.close()
    return rows


def as_json(value: Any) -> Any:
    """The contract's JSON form of a DuckDB value, written independently of the exporter."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S") + (f".{value.microsecond:06d}" if value.microsecond else "") + "Z"
    return value


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under folder (relative path -> bytes), to prove a failed export touched nothing."""
    if not folder.exists():
        return {}
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture
def contract() -> dict[str, Any]:
    return json.loads(CONTRACT_FILE.read_text(encoding="utf-8"))


def test_contract_is_a_strict_draft_2020_12_schema_naming_blueprint_v1(contract: dict[str, Any]) -> None:
    assert contract["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(contract)
    assert "blueprint.v1" in contract["$id"] and contract["version"] == "blueprint.v1"
    assert contract["additionalProperties"] is False
    assert contract["required"] == NAMES == list(contract["properties"])
    assert [(name, contract["properties"][name]["x-duckdb-type"]) for name in NAMES] == COLUMNS
    assert load_contract() == contract


def test_export_writes_jsonl_and_parquet_equal_to_the_table(tmp_path: Path, contract: dict[str, Any]) -> None:
    rows = [valid_row(index) for index in (3, 0, 2, 1)]  # inserted out of blueprint_id order
    database = build_database(tmp_path, rows)
    out_dir = tmp_path / "blueprints"

    export = export_blueprints(database, out_dir)

    assert isinstance(export, BlueprintExport)
    assert export.run_id == RUN_ID and export.row_count == 4
    assert export.directory == out_dir / RUN_ID
    assert export.jsonl_path == out_dir / RUN_ID / "blueprints.jsonl"
    assert export.parquet_path == out_dir / RUN_ID / "blueprints.parquet"
    assert sorted(p.name for p in export.directory.iterdir()) == ["blueprints.jsonl", "blueprints.parquet"]

    expected = table_rows(database)
    assert [row["blueprint_id"] for row in expected] == sorted(row["blueprint_id"] for row in rows)

    text = export.jsonl_path.read_text(encoding="utf-8")
    assert text.endswith("\n") and "NaN" not in text and "Infinity" not in text
    parsed = [json.loads(line) for line in text.splitlines()]
    validator = Draft202012Validator(contract, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for line in parsed:
        assert [error.message for error in validator.iter_errors(line)] == []
        assert list(line) == NAMES
    assert parsed == [{name: as_json(value) for name, value in row.items()} for row in expected]
    assert parsed[0]["holdout_end"] == "2024-06-30T23:55:00.250000Z"
    assert parsed[0]["discovery_start"] == "2023-01-01T00:00:00Z"

    table = pq.read_table(export.parquet_path)
    assert table.schema.names == NAMES
    assert table.to_pylist() == expected
    assert table.schema.metadata[b"blueprint_contract"] == b"blueprint.v1"


def test_explicit_run_id_names_the_folder(tmp_path: Path) -> None:
    database = build_database(tmp_path, [valid_row(0)])
    export = export_blueprints(database, tmp_path / "out", run_id="manual-run.1")
    assert export.directory == tmp_path / "out" / "manual-run.1" and export.jsonl_path.exists()
    with pytest.raises(ValueError, match="cannot name an export folder"):
        export_blueprints(database, tmp_path / "out", run_id="../escape")


def test_zero_rows_is_a_valid_export_but_needs_a_run_id(tmp_path: Path) -> None:
    database = build_database(tmp_path, [])
    out_dir = tmp_path / "out"
    with pytest.raises(ValueError, match="pass run_id explicitly"):
        export_blueprints(database, out_dir)
    assert snapshot(out_dir) == {} and not out_dir.exists()

    export = export_blueprints(database, out_dir, run_id=RUN_ID)
    assert export.row_count == 0
    assert export.jsonl_path.read_bytes() == b""
    table = pq.read_table(export.parquet_path)
    assert table.num_rows == 0 and table.schema.names == NAMES
    symbol_scope = table.schema.field("symbol_scope").type
    assert pa.types.is_list(symbol_scope) and symbol_scope.value_type == pa.string()
    assert table.schema.field("holdout_start").type == pa.timestamp("us")
    assert table.schema.field("entry_lag_bars").type == pa.int32()


Mutation = Callable[[Path], None]
BAD_ID = md5("blueprint 1")


def update(assignment: str, where: str = f"blueprint_id = '{BAD_ID}'") -> Mutation:
    return lambda database: alter(database, f"update main.dim_blueprints set {assignment} where {where}")


FAILURES: dict[str, tuple[Mutation, str, str | None]] = {
    # case: (mutation, field the message must name, blueprint the message must name or None)
    "null cost_config_digest": (update("cost_config_digest = NULL"), "cost_config_digest", BAD_ID),
    "short ontology_spec_hash": (update("ontology_spec_hash = 'abc123'"), "ontology_spec_hash", BAD_ID),
    "bad side": (update("side = 'sideways'"), "side", BAD_ID),
    "NaN mean": (update("discovery_mean_bps = 'nan'::double"), "discovery_mean_bps", BAD_ID),
    "infinite t-stat": (update("holdout_t_stat = 'inf'::double"), "holdout_t_stat", BAD_ID),
    "holdout starts at discovery end": (update("holdout_start = discovery_end"), "holdout_start", BAD_ID),
    "holdout starts before discovery end": (update("holdout_start = discovery_end - interval 1 day"),
                                            "holdout_start", BAD_ID),
    "p-value above one": (update("holdout_p_value = 1.5"), "holdout_p_value", BAD_ID),
    "zero entry lag": (update("entry_lag_bars = 0"), "entry_lag_bars", BAD_ID),
    "empty symbol scope": (update("symbol_scope = []::VARCHAR[]"), "symbol_scope", BAD_ID),
    "wrong contract version": (update("contract_version = 'blueprint.v2'"), "contract_version", BAD_ID),
    "conditioned on state all": (update("state_value = 'all'"), "state_name", BAD_ID),
    "unconditioned with a state value": (update("state_value = 'high'", f"blueprint_id = '{md5('blueprint 0')}'"),
                                         "state_value", md5("blueprint 0")),
    "two phase 2 runs": (update(f"phase2_run_id = '{sha256('other run')}'"), "phase2_run_id", None),
    "duplicate blueprint_id": (update(f"blueprint_id = '{md5('blueprint 0')}'"), "blueprint_id", None),
    "extra column": (lambda db: alter(db, "alter table main.dim_blueprints add column notes VARCHAR"), "notes", None),
    "missing column": (lambda db: alter(db, "alter table main.dim_blueprints drop column embargo_bars"),
                       "embargo_bars", None),
    "wrong column type": (lambda db: alter(db, "alter table main.dim_blueprints alter entry_lag_bars type BIGINT"),
                          "entry_lag_bars", None),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_a_bad_table_fails_closed_and_leaves_earlier_exports_alone(tmp_path: Path, case: str) -> None:
    mutate, field, blueprint = FAILURES[case]
    database = build_database(tmp_path, [valid_row(index) for index in range(3)])
    out_dir = tmp_path / "out"
    earlier = export_blueprints(database, out_dir)  # a good export of the same run
    before = snapshot(out_dir)
    assert sorted(before) == [f"{RUN_ID}/blueprints.jsonl", f"{RUN_ID}/blueprints.parquet"]
    fresh_dir = tmp_path / "fresh"
    fresh_dir.mkdir()

    mutate(database)
    for target in (out_dir, fresh_dir):
        with pytest.raises(BlueprintContractError) as raised:
            export_blueprints(database, target)
        message = str(raised.value)
        assert field in message, message
        assert any(field in violation for violation in raised.value.violations)
        assert "rebuild dim_blueprints" in message
        if blueprint is not None:
            assert f"blueprint {blueprint}" in message, message

    assert snapshot(out_dir) == before
    assert list(fresh_dir.iterdir()) == []
    assert earlier.jsonl_path.exists() and earlier.parquet_path.exists()


def test_a_failed_write_leaves_no_temporaries_and_keeps_the_earlier_export(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = build_database(tmp_path, [valid_row(0), valid_row(1)])
    out_dir = tmp_path / "out"
    export_blueprints(database, out_dir)
    before = snapshot(out_dir)
    alter(database, f"delete from main.dim_blueprints where blueprint_id = '{md5('blueprint 1')}'")

    def broken_write(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(blueprint_export.pq, "write_table", broken_write)
    with pytest.raises(OSError, match="disk full"):
        export_blueprints(database, out_dir)
    assert snapshot(out_dir) == before
    with pytest.raises(OSError, match="disk full"):
        export_blueprints(database, tmp_path / "new" / "nested")
    assert not (tmp_path / "new").exists()


def test_validate_blueprint_lists_every_violation_of_one_row(contract: dict[str, Any]) -> None:
    row = {name: as_json(value) for name, value in valid_row(0).items()}
    assert validate_blueprint(row) == []
    assert validate_blueprint(row, contract) == []

    broken = dict(row, side="sideways", holdout_p_value=float("nan"), sizing_hint_fraction=float("inf"),
                  holdout_start=row["discovery_end"], cost_config_digest=None, code_version="v1\n",
                  discovery_end="2023-02-30T00:00:00Z", symbol_scope=["btcusdt"], unknown_column=1)
    del broken["embargo_bars"]
    messages = validate_blueprint(broken)
    for field in ("side", "holdout_p_value", "sizing_hint_fraction", "cost_config_digest", "code_version",
                  "discovery_end", "symbol_scope[0]", "unknown_column", "embargo_bars"):
        assert any(message.startswith(f"{field}:") for message in messages), (field, messages)
    assert any("finite" in message for message in messages)
    assert any(message.startswith("embargo_bars: missing") for message in messages)

    overlapping = dict(row, holdout_start=row["discovery_end"])
    [message] = validate_blueprint(overlapping)
    assert message.startswith("holdout_start:") and "discovery_end" in message

    too_many = dict(row, holdout_n_deoverlapped=row["holdout_n"] + 1)
    assert [m.split(":")[0] for m in validate_blueprint(too_many)] == ["holdout_n_deoverlapped"]
