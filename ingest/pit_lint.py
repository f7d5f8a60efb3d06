"""Static point-in-time lint: no model upstream of the labels may look forward in time.

Compiles the dbt project (against a throw-away `$BACKTEST_DATA_ROOT`, so real data is never
touched), parses every compiled SQL model with sqlglot (DuckDB dialect) and reports, per model
not tagged `label`:

* `LEAD(...)`, and `LAG(...)` that reads forward (negative offset, or a descending ORDER BY);
* window frames reaching `FOLLOWING` (`ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING`, ...);
* forward ASOF joins: an inequality that lets the right table's time be at or after the left
  table's (`l.ts <= r.ts`, `r.ts > l.ts`). The backward form `l.ts >= r.ts` (latest right row
  known by the left row's time) and `USING (..., ts)` are the PIT-safe ones.

SQL that cannot be parsed, or an ASOF inequality whose sides cannot be told apart, is reported
too: the lint fails closed. Before compiling, the spec (spec/, or $BACKTEST_SPEC_DIR) is loaded
and validated, so unknown features or functions referenced in spec are rejected with the file, key
and reason. Run as `python -m ingest.pit_lint`; exit 0 when clean, 1 with the findings (or an
invalid spec), 2 when the project does not compile.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

LABEL_TAG = "label"
"""Models with this tag (forward-return labels) may look forward; everything else may not."""

EPHEMERAL_CTE_PREFIX = "__dbt__cte__"
"""dbt inlines ephemeral models as CTEs with this prefix; each is linted as its own model."""

PROJECT_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Finding:
    """One look-ahead construct in one model."""

    model: str
    path: str
    construct: str
    sql: str

    def __str__(self) -> str:
        where = f"{self.model} ({self.path})" if self.path else self.model
        return f"{where}: {self.construct}: {self.sql}"


def _snippet(node: exp.Expression, limit: int = 160) -> str:
    text = " ".join(node.sql(dialect="duckdb").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _without_ephemeral_ctes(tree: exp.Expression) -> exp.Expression:
    """Copy of `tree` without the CTEs dbt injected for ephemeral models."""
    tree = tree.copy()
    for cte in list(tree.find_all(exp.CTE)):
        if cte.alias_or_name.startswith(EPHEMERAL_CTE_PREFIX):
            cte.pop()
    return tree


def _enclosing_window(node: exp.Expression) -> exp.Window | None:
    parent = node.parent
    while parent is not None and not isinstance(parent, exp.Window):
        parent = parent.parent
    return parent


def _is_negative_literal(node: exp.Expression | None) -> bool:
    if isinstance(node, exp.Neg):
        return isinstance(node.this, exp.Literal) and not node.this.is_string
    return isinstance(node, exp.Literal) and not node.is_string and str(node.this).startswith("-")


def _navigation_findings(tree: exp.Expression) -> Iterable[tuple[str, exp.Expression]]:
    for lead in tree.find_all(exp.Lead):
        yield "LEAD reads a later row", _enclosing_window(lead) or lead
    for lag in tree.find_all(exp.Lag):
        window = _enclosing_window(lag)
        if _is_negative_literal(lag.args.get("offset")):
            yield "LAG with a negative offset reads a later row", window or lag
        elif window is not None:
            order = window.args.get("order")
            if order is not None and any(key.args.get("desc") for key in order.expressions):
                yield "LAG over a descending ORDER BY reads a later row", window


def _is_zero(bound: Any) -> bool:
    return isinstance(bound, exp.Literal) and not bound.is_string and str(bound.this).strip() in {"0", "0.0"}


def _frame_findings(tree: exp.Expression) -> Iterable[tuple[str, exp.Expression]]:
    for spec in tree.find_all(exp.WindowSpec):
        for bound_key, side_key in (("start", "start_side"), ("end", "end_side")):
            side = str(spec.args.get(side_key) or "").upper()
            if side == "FOLLOWING" and not _is_zero(spec.args.get(bound_key)):
                yield "window frame reaches FOLLOWING rows", _enclosing_window(spec) or spec
                break


def _qualifiers(node: exp.Expression) -> list[str | None]:
    return [column.table or None for column in node.find_all(exp.Column)]


def _side(node: exp.Expression, right_names: set[str]) -> str:
    """`right`, `left` or `unknown`: which side of an ASOF join an operand's columns belong to."""
    qualifiers = _qualifiers(node)
    if not qualifiers or any(q is None for q in qualifiers):
        return "unknown"
    in_right = {q in right_names for q in qualifiers}
    if in_right == {True}:
        return "right"
    if in_right == {False}:
        return "left"
    return "unknown"


def _asof_findings(tree: exp.Expression) -> Iterable[tuple[str, exp.Expression]]:
    for join in tree.find_all(exp.Join):
        if str(join.args.get("method") or "").upper() != "ASOF":
            continue
        condition = join.args.get("on")
        if condition is None:
            continue  # USING (..., ts): DuckDB reads it as left.ts >= right.ts, i.e. backward
        right = join.this
        right_names = {name for name in (right.alias_or_name, getattr(right, "name", "")) if name}
        for comparison in condition.find_all(exp.GT, exp.GTE, exp.LT, exp.LTE):
            left_side = _side(comparison.this, right_names)
            right_side = _side(comparison.expression, right_names)
            if {left_side, right_side} != {"left", "right"}:
                yield "ASOF join inequality with unqualified or mixed sides (qualify the columns)", comparison
                continue
            greater_on_left = isinstance(comparison, (exp.GT, exp.GTE))
            right_is_greater = (left_side == "right") == greater_on_left
            if right_is_greater:
                yield "forward ASOF join (right time >= left time)", comparison


def check_sql(model: str, tags: Iterable[str], sql: str, path: str = "") -> list[Finding]:
    """All look-ahead constructs in one model's compiled SQL (none for `label`-tagged models).
    Pure: no dbt, no files."""
    if LABEL_TAG in set(tags):
        return []
    try:
        statements = [tree for tree in sqlglot.parse(sql, read="duckdb") if tree is not None]
    except SqlglotError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [Finding(model, path, "SQL could not be parsed (fix it or tag the model)", first_line)]
    findings: list[Finding] = []
    for statement in statements:
        tree = _without_ephemeral_ctes(statement)
        for check in (_navigation_findings, _frame_findings, _asof_findings):
            findings.extend(Finding(model, path, construct, _snippet(node)) for construct, node in check(tree))
    return findings


def lint_manifest(manifest: dict[str, Any]) -> tuple[list[Finding], int, int]:
    """Check every SQL model of a compiled manifest. Returns (findings, models checked, exempt)."""
    findings: list[Finding] = []
    checked = exempt = 0
    for node in sorted(manifest.get("nodes", {}).values(), key=lambda n: n.get("unique_id", "")):
        if node.get("resource_type") != "model" or node.get("language", "sql") != "sql":
            continue
        tags = set(node.get("tags") or []) | set((node.get("config") or {}).get("tags") or [])
        path = node.get("original_file_path", "")
        if LABEL_TAG in tags:
            exempt += 1
            continue
        checked += 1
        sql = node.get("compiled_code")
        if sql is None:
            findings.append(Finding(node["name"], path, "model was not compiled", "-"))
            continue
        findings.extend(check_sql(node["name"], tags, sql, path))
    return findings, checked, exempt


def compile_manifest(project_dir: Path, profiles_dir: Path, work_dir: Path) -> dict[str, Any]:
    """`dbt compile` in-process with BACKTEST_DATA_ROOT and all dbt output under `work_dir`."""
    from dbt.cli.main import dbtRunner

    data_root = work_dir / "data"
    data_root.mkdir(parents=True, exist_ok=True)
    target = work_dir / "target"
    previous = os.environ.get("BACKTEST_DATA_ROOT")
    os.environ["BACKTEST_DATA_ROOT"] = str(data_root)
    try:
        result = dbtRunner().invoke([
            "compile", "--quiet",
            "--project-dir", str(project_dir), "--profiles-dir", str(profiles_dir),
            "--target-path", str(target), "--log-path", str(work_dir / "logs"),
        ])
    finally:
        if previous is None:
            os.environ.pop("BACKTEST_DATA_ROOT", None)
        else:
            os.environ["BACKTEST_DATA_ROOT"] = previous
    if not result.success:
        raise RuntimeError(f"dbt compile failed: {result.exception or 'see the errors above'}")
    return json.loads((target / "manifest.json").read_text(encoding="utf-8"))


def check_spec(root: Path | None = None) -> str | None:
    """The spec validators' error (unknown features, functions or keys; file, key, reason) or None."""
    from python_udfs.spec_registry import SpecError, load_spec

    try:
        load_spec(root)
    except SpecError as exc:
        return str(exc)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: compile, lint, print a summary or the findings."""
    parser = argparse.ArgumentParser(prog="python -m ingest.pit_lint", description=__doc__.splitlines()[0])
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR)
    parser.add_argument("--profiles-dir", type=Path, default=None, help="default: the project dir")
    parser.add_argument("--manifest", type=Path, default=None,
                        help="lint an already compiled target/manifest.json instead of compiling")
    args = parser.parse_args(argv)

    spec_error = check_spec()
    if spec_error is not None:
        print(f"pit_lint: invalid spec: {spec_error}", file=sys.stderr)
        return 1
    if args.manifest is not None:
        manifest = json.loads(args.manifest.read_text(encoding="utf-8"))
    else:
        with tempfile.TemporaryDirectory(prefix="pit_lint_") as tmp:
            try:
                manifest = compile_manifest(args.project_dir, args.profiles_dir or args.project_dir, Path(tmp))
            except RuntimeError as exc:
                print(f"pit_lint: {exc}", file=sys.stderr)
                return 2
    findings, checked, exempt = lint_manifest(manifest)
    if findings:
        print(f"pit_lint: {len(findings)} look-ahead construct(s) in models not tagged '{LABEL_TAG}':",
              file=sys.stderr)
        for finding in findings:
            print(f"  {finding}", file=sys.stderr)
        return 1
    print(f"pit_lint: OK, {checked} models checked, {exempt} exempt ('{LABEL_TAG}' tag), no look-ahead constructs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
