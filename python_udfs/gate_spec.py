"""Validation of spec/gates.yaml: the phase 2 promotion thresholds and their per-event overrides,
and the bridge (out-of-sample) thresholds.

Why: the gates decide what is promoted; a misspelt key or a threshold of the wrong type must stop
the build with the file, the key and the reason, not silently fall back to a default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from python_udfs.spec_registry import SpecError, register_validator

GATE_RANGES: dict[str, tuple[float, float]] = {
    "max_q_value": (0.0, 1.0),
    "min_after_cost_expectancy_bps": (-1000.0, 1000.0),
    "conservative_cost_multiplier": (1.0, 10.0),
    "min_information_weight_state": (0.0, 1.0),
    "min_events": (2, 100000),
    "max_hypotheses": (1, 10_000_000),
}
BOOLEAN_GATES = ("require_sign_stability",)
BRIDGE_RANGES: dict[str, tuple[float, float]] = {
    "min_holdout_events": (2, 100000),
    "min_after_cost_expectancy_bps": (-1000.0, 1000.0),
    "min_deflated_sharpe": (0.0, 1.0),
    "required_cost_stress_multiplier": (1.0, 10.0),
}
OVERRIDABLE = ("min_after_cost_expectancy_bps", "min_information_weight_state", "min_events")


def _fail(file: Path, key: str, reason: str) -> SpecError:
    return SpecError(f"{file}: {key}: {reason}")


def _check_value(file: Path, key: str, name: str, value: Any) -> None:
    low, high = GATE_RANGES[name]
    integer = name in ("min_events", "max_hypotheses")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise _fail(file, key, f"must be {'an integer' if integer else 'a number'}, got {value!r}")
    if not low <= value <= high:
        raise _fail(file, key, f"{value} is out of range [{low}, {high}]")


def validate_gates_content(content: Any, file: Path) -> None:
    if not isinstance(content, dict):
        raise _fail(file, "file", "must be a mapping with gate_v1_phase2")
    unknown = sorted(set(content) - {"description", "gate_v1_phase2", "gate_v1_bridge", "overrides"})
    if unknown:
        raise _fail(file, unknown[0], "unknown key (allowed: description, gate_v1_phase2, gate_v1_bridge, overrides)")
    _validate_bridge(content.get("gate_v1_bridge"), file)
    gates = content.get("gate_v1_phase2")
    if not isinstance(gates, dict):
        raise _fail(file, "gate_v1_phase2", "must be a mapping of thresholds")
    for name in (*GATE_RANGES, *BOOLEAN_GATES):
        if name not in gates:
            raise _fail(file, f"gate_v1_phase2.{name}", "is missing")
    for name, value in gates.items():
        key = f"gate_v1_phase2.{name}"
        if name in BOOLEAN_GATES:
            if not isinstance(value, bool):
                raise _fail(file, key, f"must be true or false, got {value!r}")
        elif name in GATE_RANGES:
            _check_value(file, key, name, value)
        else:
            raise _fail(file, key, f"unknown gate (known: {', '.join((*GATE_RANGES, *BOOLEAN_GATES))})")
    overrides = content.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise _fail(file, "overrides", "must be a mapping EVENT -> {gate: value}")
    for event, values in overrides.items():
        if not isinstance(values, dict):
            raise _fail(file, f"overrides.{event}", "must be a mapping gate -> value")
        for name, value in values.items():
            if name not in OVERRIDABLE:
                raise _fail(file, f"overrides.{event}.{name}", f"cannot be overridden per event (allowed: {', '.join(OVERRIDABLE)})")
            _check_value(file, f"overrides.{event}.{name}", name, value)


def _validate_bridge(bridge: Any, file: Path) -> None:
    """gate_v1_bridge: holdout thresholds and the cost-stress ladder (multipliers > 1, increasing,
    the required level one of them)."""
    if not isinstance(bridge, dict):
        raise _fail(file, "gate_v1_bridge", "must be a mapping of bridge thresholds")
    known = (*BRIDGE_RANGES, "cost_stress_multipliers")
    for name in known:
        if name not in bridge:
            raise _fail(file, f"gate_v1_bridge.{name}", "is missing")
    for name, value in bridge.items():
        key = f"gate_v1_bridge.{name}"
        if name == "cost_stress_multipliers":
            if (not isinstance(value, list) or not value
                    or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value)):
                raise _fail(file, key, f"must be a non-empty list of numbers, got {value!r}")
            if any(not 1.0 < v <= 10.0 for v in value) or sorted(set(value)) != list(value):
                raise _fail(file, key, f"{value}: multipliers must be in (1, 10] and strictly increasing")
        elif name in BRIDGE_RANGES:
            low, high = BRIDGE_RANGES[name]
            integer = name == "min_holdout_events"
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
                raise _fail(file, key, f"must be {'an integer' if integer else 'a number'}, got {value!r}")
            if not low <= value <= high:
                raise _fail(file, key, f"{value} is out of range [{low}, {high}]")
        else:
            raise _fail(file, key, f"unknown gate (known: {', '.join(known)})")
    required = bridge["required_cost_stress_multiplier"]
    if required != 1.0 and required not in bridge["cost_stress_multipliers"]:
        raise _fail(file, "gate_v1_bridge.required_cost_stress_multiplier",
                    f"{required} is not 1 or one of cost_stress_multipliers {bridge['cost_stress_multipliers']}")


@register_validator("gates")
def validate_gates(tree: dict[str, Any], folder: Path) -> None:
    """Spec-registry hook: spec/gates.yaml (event names in overrides are checked by the event catalog users)."""
    if tree:
        validate_gates_content(tree, folder.with_suffix(".yaml"))
