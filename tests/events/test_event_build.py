"""`dbt build` of the event stage on a demo market: every event's prevalence within its spec
bounds, coverage of events whose inputs are missing, no event on a window touching a gap, and the
spec as the only thing to edit: a changed threshold changes that event only, a new YAML file adds
an event with no code change."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from scipy.stats import binomtest

from python_udfs.event_spec import EventDef, load_event_catalog
from tests.dbt_runner import run_concurrently, run_dbt
from tests.spec_copy import edited_spec_copy

REPO = Path(__file__).resolve().parents[2]
CATALOG = load_event_catalog(REPO / "spec")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(demo_warehouse: Path) -> Path:
    """The shared demo warehouse (tests/demo_warehouse.py: 4 symbols x 4 months, seed 7)."""
    return demo_warehouse


def connect(root: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)


@pytest.mark.parametrize("event", list(CATALOG.events.values()), ids=lambda e: e.name)
def test_prevalence_within_spec_bounds(demo: Path, event: EventDef) -> None:
    """The share of evaluable bars on which the event fires agrees with the spec's bounds: the
    99.9% Clopper-Pearson interval of the observed share overlaps [min, max] (events with few
    evaluable bars, such as book-ticker events, are judged on their sampling error)."""
    [(evaluable, fired)] = connect(demo).execute(
        "select coalesce(sum(n_evaluable_bars), 0), coalesce(sum(n_events), 0) from fct_event_coverage "
        "where event_type = ?", [event.name]).fetchall()
    assert evaluable > 0, f"{event.name} was never evaluable on the demo market"
    interval = binomtest(int(fired), int(evaluable)).proportion_ci(confidence_level=0.999)
    print(f"{event.name}: {fired} events / {evaluable} evaluable bars = {fired / evaluable:.5f} "
          f"(spec {event.prevalence_min}..{event.prevalence_max})")
    assert interval.high >= event.prevalence_min and interval.low <= event.prevalence_max, (
        f"{event.name}: observed {fired}/{evaluable} = {fired / evaluable:.5f}, 99.9% CI "
        f"[{interval.low:.5f}, {interval.high:.5f}] vs spec [{event.prevalence_min}, {event.prevalence_max}]")


def test_tables_agree_with_each_other(demo: Path) -> None:
    conn = connect(demo)
    flag_columns = ", ".join(f"count_if({e.column})" for e in CATALOG.events.values())
    flags = conn.execute(f"select {flag_columns} from fct_event_flags").fetchall()[0]
    by_type = dict(conn.execute("select event_type, count(*) from fct_events group by 1").fetchall())
    coverage = dict(conn.execute("select event_type, sum(n_events) from fct_event_coverage group by 1").fetchall())
    for event, n in zip(CATALOG.events.values(), flags):
        assert by_type.get(event.name, 0) == n == coverage[event.name], event.name
    [(types,)] = conn.execute("select count(*) from dim_event_types").fetchall()
    assert types == len(CATALOG.events)
    [(bars, flag_rows)] = conn.execute("select (select count(*) from fct_features), (select count(*) from fct_event_flags)").fetchall()
    assert bars == flag_rows


def test_no_event_on_gaps_or_windows_touching_a_gap(demo: Path) -> None:
    """Flags are NULL on gap rows and on the own_lookback_bars bars after a gap (the event's own
    lag/rolling windows); features already mask their windows."""
    conn = connect(demo)
    [(gaps,)] = conn.execute("select count(*) from fct_event_flags where is_gap").fetchall()
    assert gaps > 0, "the demo market should have maintenance gaps"
    for event in CATALOG.events.values():
        [(n,)] = conn.execute(f"""
            with flagged as (
                select is_gap, {event.column} as flag,
                    max(case when is_gap then ts end) over (partition by symbol order by ts
                        rows between {event.own_lookback_bars} preceding and current row) as recent_gap
                from fct_event_flags)
            select count(*) from flagged where recent_gap is not null and flag is not null""").fetchall()
        assert n == 0, f"{event.name} is evaluable on {n} bars whose window touches a gap"


def test_coverage_names_missing_inputs(demo: Path) -> None:
    """Book-ticker events are not evaluable in the months without book-ticker archives, and the
    coverage row says which input was never known."""
    conn = connect(demo)
    rows = conn.execute("""
        select c.event_type, c.coverage_status, c.missing_inputs, c.coverage_reason
        from fct_event_coverage c join dim_event_types d using (event_type)
        where list_contains(d.inputs, 'quoted_spread_bps') or list_contains(d.inputs, 'depth_at_touch_quote')
              or list_contains(d.inputs, 'quoted_spread_bps_12')""").fetchall()
    assert rows, "no event reads the book ticker"
    not_evaluable = [r for r in rows if r[1] == "not_evaluable"]
    assert not_evaluable, "book-ticker events should be unevaluable in months without book ticker"
    for event_type, _, missing, reason in not_evaluable:
        assert missing and reason.startswith("inputs never known"), (event_type, missing, reason)
    evaluable_somewhere = {r[0] for r in rows if r[1] != "not_evaluable"}
    assert evaluable_somewhere == {r[0] for r in rows}


def _flags_and_events(root: Path) -> tuple[dict[str, int], set[tuple]]:
    conn = connect(root)
    columns = [e.column for e in load_event_catalog(REPO / "spec").events.values()]
    counts = conn.execute("select " + ", ".join(f"count_if({c})" for c in columns) + " from fct_event_flags").fetchall()[0]
    events = set(conn.execute("select symbol, ts, event_type, direction, severity from fct_events").fetchall())
    return dict(zip(columns, counts)), events


def _lowered_threshold_spec(folder: Path) -> tuple[Path, str, float]:
    """A copy of spec/ with VOL_SHOCK's first threshold lowered: (spec, parameter, new value)."""
    lowered: dict[str, Any] = {}

    def lower(content: dict[str, Any]) -> None:
        parameter = next(iter(content["parameters"]))
        entry = content["parameters"][parameter]
        entry["value"] = round(entry["min"] + 0.8 * (entry["value"] - entry["min"]), 6)  # a lower threshold
        lowered.update(parameter=parameter, value=entry["value"])

    spec = edited_spec_copy(folder / "spec", "events/VOL_SHOCK.yaml", lower)
    return spec, lowered["parameter"], lowered["value"]


def _added_event_spec(folder: Path) -> Path:
    """A copy of spec/ with one new file: RESEARCH_VOL_BURST, VOL_SHOCK's definition under a new name."""
    return edited_spec_copy(folder / "spec", "events/VOL_SHOCK.yaml",
                            lambda content: content.update(name="RESEARCH_VOL_BURST"),
                            save_as="events/RESEARCH_VOL_BURST.yaml")


def _rebuild_events(demo: Path, folder: Path, spec: Path) -> Path:
    root = folder / "warehouse"
    shutil.copytree(demo, root, ignore=shutil.ignore_patterns("target", "logs"))
    done = run_dbt(["build", "-s", "tag:events", "dim_event_types"], root, spec_dir=spec)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    return root


@pytest.fixture(scope="module")
def spec_changes(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The event stage rebuilt on copies of the demo warehouse under two edited specs, side by side."""
    threshold, added = tmp_path_factory.mktemp("threshold"), tmp_path_factory.mktemp("added_event")
    threshold_spec, parameter, value = _lowered_threshold_spec(threshold)
    added_spec = _added_event_spec(added)
    threshold_root, added_root = run_concurrently(lambda: _rebuild_events(demo, threshold, threshold_spec),
                                                  lambda: _rebuild_events(demo, added, added_spec))
    return {"threshold": (threshold_root, parameter, value), "added": added_root}


def test_changing_a_threshold_changes_that_event_only(demo: Path, spec_changes: dict[str, object]) -> None:
    changed, parameter, value = spec_changes["threshold"]
    before_counts, before_events = _flags_and_events(demo)
    after_counts, after_events = _flags_and_events(changed)
    differing = {name for name in before_counts if before_counts[name] != after_counts[name]}
    assert differing == {"vol_shock"}, differing
    assert {row[2] for row in before_events ^ after_events} == {"VOL_SHOCK"}
    params = json.loads(connect(changed).execute(
        "select parameters from dim_event_types where event_type = 'VOL_SHOCK'").fetchall()[0][0])
    assert params[parameter] == value


def test_a_new_yaml_file_adds_an_event(demo: Path, spec_changes: dict[str, object]) -> None:
    changed = spec_changes["added"]
    family = yaml.safe_load((REPO / "spec" / "events" / "VOL_SHOCK.yaml").read_text())["family"]
    conn = connect(changed)
    [(n_flag, n_original)] = conn.execute("select count_if(research_vol_burst), count_if(vol_shock) from fct_event_flags").fetchall()
    assert n_flag == n_original > 0  # same definition, same bars
    [(n_rows,)] = conn.execute("select count(*) from fct_events where event_type = 'RESEARCH_VOL_BURST'").fetchall()
    assert n_rows == n_flag
    [(canonical, event_family)] = conn.execute(
        "select is_canonical, family from dim_event_types where event_type = 'RESEARCH_VOL_BURST'").fetchall()
    assert canonical is False and event_family == family
    before_counts, _ = _flags_and_events(demo)
    after_counts, _ = _flags_and_events(changed)
    assert before_counts == after_counts
