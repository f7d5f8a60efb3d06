"""Validation of spec/gates.yaml: the phase 2 promotion thresholds and their per-event overrides.

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
    unknown = sorted(set(content) - {"description", "gate_v1_phase2", "overrides"})
    if unknown:
        raise _fail(file, unknown[0], "unknown key (allowed: description, gate_v1_phase2, overrides)")
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


@register_validator("gates")
def validate_gates(tree: dict[str, Any], folder: Path) -> None:
    """Spec-registry hook: spec/gates.yaml (event names in overrides are checked by the event catalog users)."""
    if tree:
        validate_gates_content(tree, folder.with_suffix(".yaml"))
