"""The static point-in-time lint (ingest/pit_lint.py) on SQL snippets, a fake manifest and, once,
on the real project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ingest.pit_lint import check_sql, lint_manifest

REPO = Path(__file__).resolve().parents[2]


def constructs(sql: str, tags: tuple[str, ...] = ()) -> list[str]:
    return [finding.construct for finding in check_sql("int_features__x", tags, sql, "models/x.sql")]


@pytest.mark.parametrize("sql", [
    "select lead(close) over (partition by symbol order by ts) as next_close from bars",
    "select lead(close, 3) ignore nulls over (partition by symbol order by ts) from bars",
    "with a as (select symbol, ts, lead(ts) over (order by ts) as t2 from bars) select * from a",
])
def test_lead_is_flagged(sql: str) -> None:
    assert constructs(sql) == ["LEAD reads a later row"]


@pytest.mark.parametrize("sql", [
    "select sum(v) over (partition by symbol order by ts rows between current row and 1 following) from bars",
    "select avg(v) over (order by ts rows between unbounded preceding and unbounded following) from bars",
    "select max(v) over (order by ts range between interval 5 minutes following and interval 1 hour following) from bars",
    "select sum(v) over w from bars window w as (order by ts rows between 2 preceding and 2 following)",
])
def test_frames_reaching_following_are_flagged(sql: str) -> None:
    assert constructs(sql) == ["window frame reaches FOLLOWING rows"]


@pytest.mark.parametrize("sql", [
    "select sum(v) over (partition by symbol order by ts rows between 11 preceding and current row) from bars",
    "select sum(v) over (order by ts range between interval 1 hour preceding and current row) from bars",
    "select sum(v) over (order by ts rows between 3 preceding and 0 following) from bars",
    "select lag(close) over (partition by symbol order by ts) from bars",
    "select * from bars qualify row_number() over (partition by symbol, ts order by source_file desc) = 1",
])
def test_backward_windows_pass(sql: str) -> None:
    assert constructs(sql) == []


@pytest.mark.parametrize("sql", [
    "select lag(close, -1) over (partition by symbol order by ts) from bars",
    "select lag(close) over (partition by symbol order by ts desc) from bars",
])
def test_lag_reading_forward_is_flagged(sql: str) -> None:
    assert len(constructs(sql)) == 1 and constructs(sql)[0].startswith("LAG")


@pytest.mark.parametrize("sql", [
    "select * from bars b asof join funding f on b.symbol = f.symbol and b.ts <= f.available_at",
    "select * from bars b asof left join funding f on f.symbol = b.symbol and f.available_at > b.ts",
    "select * from bars as b asof join (select * from metrics) as m on b.symbol = m.symbol "
    "and b.ts + interval 5 minutes < m.available_at",
])
def test_forward_asof_is_flagged(sql: str) -> None:
    assert constructs(sql) == ["forward ASOF join (right time >= left time)"]


@pytest.mark.parametrize("sql", [
    "select * from bars b asof join funding f on b.symbol = f.symbol and b.ts >= f.available_at",
    "select * from bars b asof left join funding f on f.symbol = b.symbol and f.available_at <= b.ts + interval 5 minutes",
    "select * from bars asof join funding using (symbol, ts)",
    'select * from "wh"."main"."bars" asof join "wh"."main"."funding" '
    "on bars.symbol = funding.symbol and bars.ts > funding.available_at",
])
def test_backward_asof_passes(sql: str) -> None:
    assert constructs(sql) == []


def test_asof_with_unqualified_inequality_fails_closed() -> None:
    sql = "select * from bars b asof join funding f on b.symbol = f.symbol and ts >= available_at"
    assert constructs(sql) == ["ASOF join inequality with unqualified or mixed sides (qualify the columns)"]


def test_label_models_are_exempt() -> None:
    sql = ("select lead(close, 12) over (partition by symbol order by ts) / close - 1 as fwd_ret_1h, "
           "sum(v) over (order by ts rows between 1 following and 12 following) as fwd_vol from bars")
    assert len(constructs(sql)) == 2
    assert constructs(sql, tags=("label",)) == []


def test_unparseable_sql_fails_closed() -> None:
    assert constructs("select from where (") == ["SQL could not be parsed (fix it or tag the model)"]


def test_findings_name_model_file_and_construct() -> None:
    [finding] = check_sql("int_features__x", ["features"], "select lead(a) over (order by ts) from t", "models/x.sql")
    assert str(finding) == "int_features__x (models/x.sql): LEAD reads a later row: LEAD(a) OVER (ORDER BY ts)"


def test_manifest_lint_skips_labels_and_inlined_ephemeral_ctes() -> None:
    label_sql = "select lead(close) over (order by ts) as next_close from bars"
    nodes = {
        "model.p.int_labels__forward_returns": {
            "unique_id": "model.p.int_labels__forward_returns", "resource_type": "model",
            "name": "int_labels__forward_returns", "tags": ["label"], "language": "sql",
            "original_file_path": "models/intermediate/int_labels__forward_returns.sql", "compiled_code": label_sql,
        },
        "model.p.fct_events": {
            "unique_id": "model.p.fct_events", "resource_type": "model", "name": "fct_events", "tags": [],
            "language": "sql", "original_file_path": "models/marts/fct_events.sql",
            "compiled_code": f"with __dbt__cte__int_labels__forward_returns as ({label_sql}) "
                             "select * from __dbt__cte__int_labels__forward_returns",
        },
        "model.p.int_features__bad": {
            "unique_id": "model.p.int_features__bad", "resource_type": "model", "name": "int_features__bad",
            "tags": [], "language": "sql", "original_file_path": "models/intermediate/int_features__bad.sql",
            "compiled_code": "select sum(v) over (order by ts rows between current row and 1 following) from t",
        },
        "test.p.some_test": {"unique_id": "test.p.some_test", "resource_type": "test", "name": "some_test",
                             "compiled_code": label_sql},
    }
    findings, checked, exempt = lint_manifest({"nodes": nodes})
    assert (checked, exempt) == (2, 1)
    assert [(f.model, f.path) for f in findings] == [
        ("int_features__bad", "models/intermediate/int_features__bad.sql")
    ]


@pytest.mark.slow
def test_project_is_clean() -> None:
    done = subprocess.run([sys.executable, "-m", "ingest.pit_lint"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("pit_lint: OK"), done.stdout
