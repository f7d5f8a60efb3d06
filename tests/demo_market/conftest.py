"""Shared fixtures for the demo-market tests: one archive generated per session."""

from __future__ import annotations

import json
from datetime import date

import pyarrow.parquet as pq
import pytest
from demo_market_io import Archive

from ingest.demo_market import DemoConfig, generate

# 6 symbols x 4 months: spans the spot microsecond switch (2025-01-01), starts mid-month (short first
# monthly file) and ends mid-month (trailing daily files), and is large enough for the event study.
TEST_CONFIG = dict(symbols=6, start=date(2024, 11, 15), months=4, seed=7)


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    root = generate(DemoConfig(out=tmp_path_factory.mktemp("demo") / "archive", **TEST_CONFIG))
    truth = root / "ground_truth"
    return Archive(root, json.loads((truth / "config.json").read_text()), pq.read_table(truth / "occurrences.parquet"))
