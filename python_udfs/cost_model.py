"""The execution cost configuration (spec/costs.yaml): validation, its digest, and the per-leg cost
arithmetic the discovery and bridge stages share.

Why one module: every after-cost number in the warehouse must be traceable to one cost file.
`cost_config_digest` (sha256 of the canonicalised file) is carried on every phase-2 and blueprint row,
and selection refuses a row whose digest is missing or differs from the current file's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from python_udfs.spec_registry import SpecError, canonical_json, load_spec, register_validator, spec_dir

TOP_KEYS = ("execution_mode", "fees", "spread", "impact", "funding", "dynamic")
MODES = ("taker", "maker")


@dataclass(frozen=True)
class CostConfig:
    """Validated spec/costs.yaml; every cost in basis points of traded notional."""

    execution_mode: str
    taker_fee_bps: float
    maker_fee_bps: float
    spread_floor_bps: float
    impact_coefficient_bps: float
    order_notional_usd: float
    include_funding: bool
    volatility_coefficient: float
    participation_coefficient_bps: float

    @property
    def fee_bps(self) -> float:
        """Fee per leg for the configured execution mode."""
        return self.taker_fee_bps if self.execution_mode == "taker" else self.maker_fee_bps

    @property
    def pays_spread(self) -> bool:
        """A taker crosses the spread; a maker is filled at its own quote."""
        return self.execution_mode == "taker"


def _fail(file: Path, key: str, reason: str) -> SpecError:
    return SpecError(f"{file}: {key}: {reason}")


def _section(file: Path, content: dict[str, Any], key: str, fields: tuple[str, ...]) -> dict[str, Any]:
    value = content.get(key)
    if not isinstance(value, dict):
        raise _fail(file, key, f"must be a mapping with {', '.join(fields)}")
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise _fail(file, f"{key}.{unknown[0]}", f"unknown key (allowed: {', '.join(fields)})")
    missing = [name for name in fields if name not in value]
    if missing:
        raise _fail(file, f"{key}.{missing[0]}", "is missing")
    return value


def _non_negative(file: Path, key: str, value: Any, maximum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= maximum:
        raise _fail(file, key, f"must be a number between 0 and {maximum}, got {value!r}")
    return float(value)


def build_cost_config(content: Any, file: Path) -> CostConfig:
    if not isinstance(content, dict) or not content:
        raise _fail(file, "file", "is missing or empty: discovery needs a cost configuration")
    unknown = sorted(set(content) - set(TOP_KEYS) - {"description"})
    if unknown:
        raise _fail(file, unknown[0], f"unknown key (allowed: description, {', '.join(TOP_KEYS)})")
    mode = content.get("execution_mode")
    if mode not in MODES:
        raise _fail(file, "execution_mode", f"must be one of {', '.join(MODES)}, got {mode!r}")
    fees = _section(file, content, "fees", ("taker_bps", "maker_bps"))
    spread = _section(file, content, "spread", ("floor_bps",))
    impact = _section(file, content, "impact", ("coefficient_bps", "order_notional_usd"))
    funding = _section(file, content, "funding", ("include",))
    dynamic = _section(file, content, "dynamic", ("volatility_coefficient", "participation_coefficient_bps"))
    if not isinstance(funding["include"], bool):
        raise _fail(file, "funding.include", "must be true or false")
    return CostConfig(
        execution_mode=mode,
        taker_fee_bps=_non_negative(file, "fees.taker_bps", fees["taker_bps"], 100),
        maker_fee_bps=_non_negative(file, "fees.maker_bps", fees["maker_bps"], 100),
        spread_floor_bps=_non_negative(file, "spread.floor_bps", spread["floor_bps"], 100),
        impact_coefficient_bps=_non_negative(file, "impact.coefficient_bps", impact["coefficient_bps"], 1000),
        order_notional_usd=_non_negative(file, "impact.order_notional_usd", impact["order_notional_usd"], 1e9),
        include_funding=funding["include"],
        volatility_coefficient=_non_negative(file, "dynamic.volatility_coefficient",
                                             dynamic["volatility_coefficient"], 10),
        participation_coefficient_bps=_non_negative(file, "dynamic.participation_coefficient_bps",
                                                    dynamic["participation_coefficient_bps"], 10000),
    )


@register_validator("costs")
def validate_costs(tree: dict[str, Any], folder: Path) -> None:
    """Spec-registry hook: spec/costs.yaml (when present; discovery requires it)."""
    if tree:
        build_cost_config(tree, folder.with_suffix(".yaml"))


def load_cost_config(root: Path | None = None) -> CostConfig:
    root = root or spec_dir()
    return build_cost_config(load_spec(root).get("costs"), root / "costs.yaml")


def cost_config_digest(root: Path | None = None) -> str:
    """sha256 of the canonicalised spec/costs.yaml: comments and formatting do not change it."""
    root = root or spec_dir()
    content = load_spec(root).get("costs")
    build_cost_config(content, root / "costs.yaml")
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def cost_config_json(root: Path | None = None) -> str:
    """SQL entry point: the validated configuration with its digest."""
    config = load_cost_config(root)
    payload = {**config.__dict__, "fee_bps": config.fee_bps, "pays_spread": config.pays_spread,
               "cost_config_digest": cost_config_digest(root)}
    return canonical_json(payload)
