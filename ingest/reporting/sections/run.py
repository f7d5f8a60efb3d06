"""The run: what was run, on which data and code, how long each stage took and how the dbt tests
ended, from the run manifest when the caller passes one.

Why: numbers without their provenance cannot be compared across runs; the manifest binds the
report to a spec hash, a cost digest, a code version and a dbt invocation. The manifest is
another component's output, so every field is optional here and odd values are shown, not trusted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.reporting import charts
from ingest.reporting import formatting as fmt
from ingest.reporting.document import OK, Block, KeyValues, Paragraph, Plot, Section, Table

KEY, TITLE = "run", "Run"
STATUS_COLORS = {"ok": charts.PALETTE[2], "success": charts.PALETTE[2], "passed": charts.PALETTE[2],
                 "skipped": "#b0b0b0", "skip": "#b0b0b0", "failed": charts.PALETTE[3], "error": charts.PALETTE[3],
                 "fail": charts.PALETTE[3]}
"""Stage bar colours by status; anything else is drawn in the first palette colour."""


def _number(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def build(manifest: Mapping[str, Any] | None, run_id: str) -> Section:
    """The run section; without a manifest it says there is none."""
    if not manifest:
        text = (f"No run manifest was given for run {run_id}: stage timings, test results and the code version "
                "are not shown.")
        return Section(KEY, TITLE, (Paragraph(text),), "missing", {"status": "missing", "run_id": run_id}, text)
    window = manifest.get("data_window") if isinstance(manifest.get("data_window"), Mapping) else {}
    symbols = manifest.get("symbols") or []
    stages = [s for s in manifest.get("stages") or [] if isinstance(s, Mapping)]
    stage_seconds = [_number(s.get("seconds")) for s in stages]
    total = sum(v for v in stage_seconds if v is not None)
    tests = manifest.get("tests") if isinstance(manifest.get("tests"), Mapping) else {}
    blocks: list[Block] = [KeyValues([
        ("run id", str(manifest.get("run_id", run_id))),
        ("started / finished (UTC)", f"{manifest.get('started_at', 'n/a')} / {manifest.get('finished_at', 'n/a')}"),
        ("stages / their total time", f"{len(stages)} / {fmt.seconds(total) if stages else 'n/a'}"),
        ("symbols", ", ".join(str(s) for s in symbols) if isinstance(symbols, (list, tuple)) else str(symbols)),
        ("data window", f"{window.get('start', 'n/a')} to {window.get('end', 'n/a')}"),
        ("ontology spec hash", fmt.short_id(manifest.get("ontology_spec_hash"), 16)),
        ("cost config digest", fmt.short_id(manifest.get("cost_config_digest"), 16)),
        ("code version", str(manifest.get("code_version", "n/a"))),
        ("dbt invocation", str(manifest.get("dbt_invocation_id", "n/a"))),
        ("dbt tests", ", ".join(f"{k} {v}" for k, v in tests.items()) if tests else "n/a"),
    ])]
    if stages:
        names = [str(s.get("name", f"stage {i + 1}")) for i, s in enumerate(stages)]
        colours = [STATUS_COLORS.get(str(s.get("status", "")).lower(), charts.PALETTE[0]) for s in stages]
        blocks.append(Plot("run-stages", charts.bar_chart(
            names, [charts.BarSeries("seconds", stage_seconds)], value_label="seconds", horizontal=True,
            category_colors=colours, title="Stage timings", value_format=lambda v: fmt.seconds(v), show_values=True),
            "Wall time of each stage of the run (green: ok, red: failed, grey: skipped; other statuses blue)."))
        blocks.append(Table(columns=("stage", "seconds", "status"),
                            rows=[(n, fmt.fixed(v, 1), str(s.get("status", "n/a"))) for n, v, s in zip(names, stage_seconds, stages)],
                            numeric=(False, True, False)))
    row_counts = manifest.get("row_counts") if isinstance(manifest.get("row_counts"), Mapping) else {}
    if row_counts:
        blocks.append(Table(columns=("model", "rows"), rows=[(str(k), fmt.count(_number(v))) for k, v in sorted(row_counts.items())],
                            caption="Rows per model after the run (from the manifest).", numeric=(False, True)))
    facts = {
        "status": OK,
        "run_id": manifest.get("run_id", run_id),
        "started_at": manifest.get("started_at"),
        "finished_at": manifest.get("finished_at"),
        "stages": [{"name": n, "seconds": v, "status": s.get("status")}
                   for n, v, s in zip([str(s.get("name")) for s in stages], stage_seconds, stages)],
        "stage_seconds_total": total if stages else None,
        "tests": dict(tests),
        "code_version": manifest.get("code_version"),
        "dbt_invocation_id": manifest.get("dbt_invocation_id"),
        "ontology_spec_hash": manifest.get("ontology_spec_hash"),
        "cost_config_digest": manifest.get("cost_config_digest"),
    }
    return Section(KEY, TITLE, tuple(blocks), OK, facts)
