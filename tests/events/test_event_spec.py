"""Spec validation of spec/events and spec/multiplicity: every mistake a researcher can make in an
event file fails before any SQL runs, naming the file, the key and the reason; nothing in a spec
can read files, attach databases or write."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from python_udfs.event_compiler import compile_events
from python_udfs.event_spec import load_event_catalog
from python_udfs.spec_registry import SpecError, load_spec

REPO = Path(__file__).resolve().parents[2]

BASE_EVENT: dict[str, Any] = {
    "name": "VOL_SHOCK",
    "family": "VOLATILITY_TRANSITION",
    "rationale": "Realised volatility jumps far above its recent level.",
    "inputs": ["rv_12_z_288", "ret_12"],
    "parameters": {"z_enter": {"value": 3.0, "min": 1.0, "max": 10.0}},
    "detection": "rv_12_z_288 >= ${z_enter} and lag(rv_12_z_288, 1) < ${z_enter}",
    "direction": "sign(ret_12)",
    "severity": {"score": "rv_12_z_288", "buckets": [{"name": "moderate", "min": 3.0}, {"name": "strong", "min": 4.5}]},
    "cooldown_bars": 48,
    "prevalence": {"min": 0.0005, "max": 0.02},
    "attributes": ["rv_12_z_288", "close"],
}


@pytest.fixture()
def spec(tmp_path: Path) -> Path:
    """A copy of the project's spec/ with VOL_SHOCK.yaml replaced by BASE_EVENT."""
    root = tmp_path / "spec"
    shutil.copytree(REPO / "spec", root)
    write_event(root, BASE_EVENT)
    return root


def write_event(root: Path, content: dict[str, Any], stem: str | None = None) -> Path:
    path = root / "events" / f"{stem or content['name']}.yaml"
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path


def mutated(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    event = copy.deepcopy(BASE_EVENT)
    change(event)
    return event


def expect_error(root: Path, *fragments: str) -> str:
    with pytest.raises(SpecError) as info:
        load_event_catalog(root)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    # the same error stops the spec registry (spec_json, ontology_spec_hash, the linter)
    with pytest.raises(SpecError):
        load_spec(root)
    return message


def test_the_project_spec_has_57_events_in_10_families() -> None:
    catalog = load_event_catalog(REPO / "spec")
    assert len(catalog.events) == 57
    assert all(event.canonical for event in catalog.events.values())
    families = {event.family for event in catalog.events.values()}
    assert len(families) == 10
    for family in families:
        assert sum(event.family == family for event in catalog.events.values()) >= 4, family
    seed_named = {"DEPTH_COLLAPSE", "SPREAD_BLOWOUT", "ORDERFLOW_IMBALANCE_SHOCK", "LIQUIDITY_VACUUM", "VOL_SHOCK",
                  "VOL_SPIKE", "VOL_RELAXATION_START", "VOL_CLUSTER_SHIFT", "FUNDING_EXTREME_ONSET",
                  "FUNDING_PERSISTENCE_TRIGGER", "FUNDING_NORMALIZATION_TRIGGER", "FUNDING_FLIP", "OI_SPIKE_POSITIVE",
                  "OI_SPIKE_NEGATIVE", "OI_FLUSH", "DELEVERAGING_WAVE", "LIQUIDATION_CASCADE",
                  "FORCED_FLOW_EXHAUSTION", "TREND_EXHAUSTION_TRIGGER", "MOMENTUM_DIVERGENCE_TRIGGER",
                  "RANGE_BREAKOUT", "FALSE_BREAKOUT", "TREND_ACCELERATION", "PULLBACK_PIVOT",
                  "VOL_REGIME_SHIFT_EVENT", "TREND_TO_CHOP_SHIFT", "CORRELATION_BREAKDOWN_EVENT",
                  "CROSS_VENUE_DESYNC", "INDEX_COMPONENT_DIVERGENCE", "SPOT_PERP_BASIS_SHOCK", "SESSION_OPEN_EVENT",
                  "SESSION_CLOSE_EVENT", "FUNDING_TIMESTAMP_EVENT", "SPREAD_REGIME_WIDENING_EVENT",
                  "SLIPPAGE_SPIKE_EVENT", "FEE_REGIME_CHANGE_EVENT"}
    assert len(seed_named) == 36
    assert seed_named <= set(catalog.events)


def test_a_valid_event_compiles_with_substituted_parameters(spec: Path) -> None:
    event = load_event_catalog(spec).events["VOL_SHOCK"]
    assert event.detection == "rv_12_z_288 >= 3.0 and lag(rv_12_z_288, 1) < 3.0"
    assert event.own_lookback_bars == 1
    assert event.lookback_bars == 300  # rv_12_z_288 reads 299 bars, lag one more


@pytest.mark.parametrize(("change", "fragments"), [
    (lambda e: e.update(threshold=3), ("VOL_SHOCK.yaml", "file", "unknown key(s) threshold")),
    (lambda e: e.pop("cooldown_bars"), ("VOL_SHOCK.yaml", "missing key(s) cooldown_bars")),
    (lambda e: e.update(detection="rv_12_z_999 > 3", inputs=["rv_12_z_999", "ret_12"], parameters={}),
     ("detection", "unknown feature or fct_bars column 'rv_12_z_999'")),
    (lambda e: e.update(detection="rv_12_z_288 + 1"), ("detection", "must be a boolean expression, got number")),
    (lambda e: e.update(cooldown_bars="48"), ("cooldown_bars", "must be an integer")),
    (lambda e: e.update(cooldown_bars=-1), ("cooldown_bars", "between 0 and")),
    (lambda e: e["parameters"]["z_enter"].update(value=12.0), ("parameters.z_enter.value", "out of range [1.0, 10.0]")),
    (lambda e: e["parameters"]["z_enter"].update(value="3; drop table fct_bars"),
     ("parameters.z_enter.value", "must be a number")),
    (lambda e: e.update(detection="rv_12_z_288 >= ${z_exit}"), ("detection", "${z_exit} is not a declared parameter")),
    (lambda e: e["parameters"].update(unused={"value": 1, "min": 0, "max": 2}), ("parameters.unused", "no expression uses it")),
    (lambda e: e.update(inputs=["rv_12_z_288"]), ("inputs", "read ret_12 but inputs does not list it")),
    (lambda e: e.update(inputs=["rv_12_z_288", "ret_12", "ret_1"]), ("inputs", "lists ret_1 but no expression reads it")),
    (lambda e: e.update(inputs=["rv_12_z_288", "ret_12", "ret_12"]), ("inputs", "lists a name twice")),
    (lambda e: e.update(direction="sideways"), ("direction", "sideways")),
    (lambda e: e.update(direction="ret_12 > 0"), ("direction", "must be a number expression")),
    (lambda e: e["severity"]["buckets"].append({"name": "mild", "min": 1.0}), ("severity.buckets[2].min", "greater than")),
    (lambda e: e["severity"]["buckets"].append({"name": "moderate", "min": 9.0}), ("severity.buckets[2].name", "duplicate")),
    (lambda e: e.update(prevalence={"min": 0.2, "max": 0.1}), ("prevalence", "0 <= min < max <= 1")),
    (lambda e: e.update(family="WEATHER"), ("family", "unknown family 'WEATHER'")),
    (lambda e: e.update(name="VolShock"), ("name", "UPPER_SNAKE_CASE")),
    (lambda e: e.update(attributes=["cal_hour_utc"]), ("attributes[0]", "calendar columns are read through")),
])
def test_invalid_event_fails_with_file_key_and_reason(spec: Path, change: Callable[[dict[str, Any]], None],
                                                      fragments: tuple[str, ...]) -> None:
    write_event(spec, mutated(change), stem="VOL_SHOCK")
    expect_error(spec, *fragments)


@pytest.mark.parametrize(("detection", "reason"), [
    ("(select count(*) from fct_bars) > 0", "subqueries are not allowed"),
    ("read_csv('/etc/passwd') is not null", "may not read files"),
    ("rv_12_z_288 > 3; attach 'x.db'", "exactly one expression"),
    ("lead(rv_12_z_288, 1) > 3", "lead() reads later bars"),
    ("sum(rv_12_z_288) over (order by ts rows between current row and 5 following) > 3", "OVER clauses are not allowed"),
    ("getenv('HOME') = 'x'", "may not read files"),
    ("rv_12_z_288 > 3 and query('select 1') is not null", "may not read files"),
])
def test_unsafe_sql_is_refused(spec: Path, detection: str, reason: str) -> None:
    write_event(spec, mutated(lambda e: e.update(detection=detection)), stem="VOL_SHOCK")
    expect_error(spec, "VOL_SHOCK.yaml", "detection", reason)


def test_duplicate_keys_are_refused(spec: Path) -> None:
    path = spec / "events" / "VOL_SHOCK.yaml"
    path.write_text(path.read_text() + "cooldown_bars: 12\n")
    expect_error(spec, "VOL_SHOCK.yaml", "duplicate key 'cooldown_bars'")


def test_registry_and_files_must_agree(spec: Path) -> None:
    registry = spec / "events" / "canonical_event_registry.yaml"
    content = yaml.safe_load(registry.read_text())
    content["events"]["VOL_SHOCK"] = "TREND_STRUCTURE"
    registry.write_text(yaml.safe_dump(content))
    expect_error(spec, "canonical_event_registry.yaml", "events.VOL_SHOCK", "says TREND_STRUCTURE")
    (spec / "events" / "VOL_SHOCK.yaml").unlink()
    expect_error(spec, "canonical_event_registry.yaml", "events.VOL_SHOCK", "does not exist")


def test_a_new_file_adds_a_non_canonical_event(spec: Path) -> None:
    write_event(spec, mutated(lambda e: e.update(name="MY_VOL_BURST")))
    catalog = load_event_catalog(spec)
    assert "MY_VOL_BURST" in catalog.events and not catalog.events["MY_VOL_BURST"].canonical
    plan = compile_events(catalog)
    assert "my_vol_burst" in plan["sql"] and "'MY_VOL_BURST'" in plan["coverage_sql"]


def test_a_directionless_event_cannot_use_directional_templates(spec: Path) -> None:
    write_event(spec, mutated(lambda e: e.update(direction="none", inputs=["rv_12_z_288"])), stem="VOL_SHOCK")
    families = yaml.safe_load((spec / "multiplicity" / "families.yaml").read_text())
    families.setdefault("events", {}).pop("VOL_SHOCK", None)
    families["families"]["VOLATILITY_TRANSITION"]["rule_templates"] = ["continuation"]
    (spec / "multiplicity" / "families.yaml").write_text(yaml.safe_dump(families))
    expect_error(spec, "families.yaml", "trades the event's direction but VOL_SHOCK has direction 'none'")


def test_multiplicity_refers_to_known_templates_and_horizons(spec: Path) -> None:
    path = spec / "multiplicity" / "families.yaml"
    families = yaml.safe_load(path.read_text())
    families["families"]["VOLATILITY_TRANSITION"]["horizons_bars"] = [7]
    path.write_text(yaml.safe_dump(families))
    expect_error(spec, "families.yaml", "families.VOLATILITY_TRANSITION.horizons_bars", "7 is not one of")
    families["families"]["VOLATILITY_TRANSITION"]["horizons_bars"] = [12]
    families["families"]["VOLATILITY_TRANSITION"]["rule_templates"] = ["fade_everything"]
    path.write_text(yaml.safe_dump(families))
    expect_error(spec, "families.yaml", "unknown rule template 'fade_everything'")
