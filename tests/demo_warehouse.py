"""One demo-market warehouse built once per test session and shared by the event and discovery
suites (tests/conftest.py exposes it as the `demo_warehouse` fixture): 4 symbols x 4 months of the
demo market (seed 7, planted effects on), ingested through the real ingester and `dbt build`."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tests.features.test_feature_build import run_dbt

DEMO_SYMBOLS, DEMO_MONTHS, DEMO_SEED, DEMO_START = 4, 4, 7, date(2024, 3, 1)


def build_demo_warehouse(base: Path, symbols: int = DEMO_SYMBOLS, months: int = DEMO_MONTHS, seed: int = DEMO_SEED,
                         effects: Path | None = None, spec_dir: Path | None = None) -> Path:
    from ingest.demo_market import DemoConfig, generate
    from ingest.pipeline import ingest_archive

    archive = generate(DemoConfig(out=base / "archive", symbols=symbols, months=months, seed=seed, start=DEMO_START,
                                  effects=effects))
    root = base / "warehouse"
    ingest_archive(archive, root, say=lambda line: None)
    done = run_dbt(["build"], root, spec_dir=spec_dir)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    return root
