"""Demo-market warehouses built once per test session (tests/conftest.py fixtures), ingested through
the real ingester and `dbt build`:

- `demo_warehouse`, shared by the event and discovery suites: 4 symbols x 4 months of the demo
  market (seed 7, the default planted effects);
- `planted_warehouse`, shared by the calibration and bridge suites: 4 symbols x 4 months (seed 11)
  whose only planted effects are drifts after the funding-settlement bars (PLANTED_DRIFTS), strong
  enough to be found after costs in the discovery window; one of them is active only in the first
  60% of the timeline, so it must fail out of sample."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tests.dbt_runner import run_dbt

DEMO_SYMBOLS, DEMO_MONTHS, DEMO_SEED, DEMO_START = 4, 4, 7, date(2024, 3, 1)


PLANTED_SEED = 11
FUNDING_BARS = ((23, 55), (7, 55), (15, 55))
"""Open time (UTC hour, minute) of the bars at whose close a funding settlement falls (00:00, 08:00,
16:00), where FUNDING_TIMESTAMP_EVENT fires."""
PLANTED_DRIFTS: dict[str, tuple[float, float]] = {
    # symbol -> (drift in bps over the 12 bars after each funding-settlement bar, end of the active window)
    "ETHUSDT": (40.0, 1.0),
    "SOLUSDT": (80.0, 0.6),
    "BNBUSDT": (100.0, 1.0),
}
"""BTCUSDT carries no planted effect."""


def planted_effects() -> dict[str, object]:
    """The effects file of the planted warehouse (ingest/demo_market/effects.py format)."""
    effects = []
    for symbol, (drift, end) in PLANTED_DRIFTS.items():
        for hour, minute in FUNDING_BARS:
            effect: dict[str, object] = {
                "name": f"funding_drift_{symbol.lower()}_{hour:02d}{minute:02d}",
                "description": f"{drift:+.0f} bps over the hour after the funding settlement.",
                "condition": {"kind": "clock", "hour": hour, "minute": minute},
                "horizon_bars": 12, "drift_bps": drift, "symbols": [symbol], "cooldown_bars": 12}
            if end < 1.0:
                effect["active_window"] = {"end_fraction": end}
            effects.append(effect)
    return {"version": 1, "effects": effects}


def build_planted_warehouse(base: Path) -> Path:
    """The planted warehouse under `base` (its archive, with the generator's ground truth, beside it)."""
    import yaml

    base.mkdir(parents=True, exist_ok=True)
    effects = base / "planted_effects.yaml"
    effects.write_text(yaml.safe_dump(planted_effects()), encoding="utf-8")
    return build_demo_warehouse(base, seed=PLANTED_SEED, effects=effects)


def build_demo_warehouse(base: Path, symbols: int = DEMO_SYMBOLS, months: int = DEMO_MONTHS, seed: int = DEMO_SEED,
                         effects: Path | None = None, spec_dir: Path | None = None,
                         select: tuple[str, ...] = ()) -> Path:
    """Generate, ingest and `dbt build` (only `select` and the tests of what it builds, when given)."""
    from ingest.demo_market import DemoConfig, generate
    from ingest.pipeline import ingest_archive

    archive = generate(DemoConfig(out=base / "archive", symbols=symbols, months=months, seed=seed, start=DEMO_START,
                                  effects=effects))
    root = base / "warehouse"
    ingest_archive(archive, root, say=lambda line: None)
    selection = ["-s", *select, "--indirect-selection", "cautious"] if select else []
    done = run_dbt(["build", *selection], root, spec_dir=spec_dir)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    return root
